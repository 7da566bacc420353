// Drives `statestore serve` with Dapr's unchanged JavaScript SDK over HTTP:
// save, get, bulk get, delete, a transaction and etags, as an application
// would. Usage: node scripts/dapr-js-sdk.cjs <port> <store>
// (run by scripts/test with @dapr/dapr installed in NODE_PATH).
const { DaprClient, CommunicationProtocolEnum } = require("@dapr/dapr");
const assert = require("node:assert/strict");

async function main() {

const [port, store] = process.argv.slice(2);
const client = new DaprClient({
  daprHost: "127.0.0.1",
  daprPort: port,
  communicationProtocol: CommunicationProtocolEnum.HTTP,
});

await client.state.save(store, [
  { key: "js-1", value: { n: 1, list: [1, 2] } },
  { key: "js-2", value: "text" },
]);
assert.deepEqual(await client.state.get(store, "js-1"), { n: 1, list: [1, 2] });
assert.equal(await client.state.get(store, "js-2"), "text");

const bulk = await client.state.getBulk(store, ["js-1", "missing", "js-2"]);
const byKey = Object.fromEntries(bulk.map((r) => [r.key, r.data]));
assert.deepEqual(byKey["js-1"], { n: 1, list: [1, 2] });
assert.equal(byKey["js-2"], "text");
assert.ok(!byKey["missing"], "a missing key has no data");

await client.state.transaction(store, [
  { operation: "upsert", request: { key: "js-3", value: 3 } },
  { operation: "delete", request: { key: "js-2" } },
]);
assert.equal(await client.state.get(store, "js-3"), 3);
assert.equal(await client.state.get(store, "js-2"), "");

// An etag from a bulk read makes a conditional save; a stale one fails.
const etag = bulk.find((r) => r.key === "js-1").etag;
assert.ok(etag, "bulk get returns etags");
await client.state.save(store, [{ key: "js-1", value: 2, etag }]);
// The SDK reports a failed save in its answer (and logs it).
const stale = await client.state.save(store, [{ key: "js-1", value: 3, etag }]);
assert.ok(stale && stale.error, "a stale etag must fail");
assert.match(String(stale.error), /409|ERR_STATE_SAVE/);
assert.equal(await client.state.get(store, "js-1"), 2);

await client.state.delete(store, "js-1");
assert.equal(await client.state.get(store, "js-1"), "");
console.log("Dapr JavaScript SDK: save, get, bulk get, transaction, etags, delete: ok");
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
