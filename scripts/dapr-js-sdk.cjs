// Drives `statestore serve` with Dapr's unchanged JavaScript SDK over HTTP,
// as an application would: save and get, etags (round trip, stale,
// first-write), delete with an etag, bulk get with a missing key,
// transactions (one that commits, one with a stale etag that changes
// nothing), query, and the API token (a wrong one refused, the right one
// accepted).
// Usage: DAPR_API_TOKEN=.. node scripts/dapr-js-sdk.cjs <port> <store> <query store>
// (run by scripts/test with @dapr/dapr installed in NODE_PATH).
const { DaprClient, CommunicationProtocolEnum, StateConcurrencyEnum } = require("@dapr/dapr");
const assert = require("node:assert/strict");

async function main() {

const [port, store, queryStore] = process.argv.slice(2);
const token = process.env.DAPR_API_TOKEN;
assert.ok(token, "run with DAPR_API_TOKEN set");
const connect = (daprApiToken) =>
  new DaprClient({
    daprHost: "127.0.0.1",
    daprPort: port,
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    daprApiToken,
  });
const client = connect(token);

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

// First write: refused where the key exists.
const firstWrite = { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE };
assert.deepEqual(await client.state.save(store, [{ key: "js-new", value: "x", options: firstWrite }]), {});
const again = await client.state.save(store, [{ key: "js-new", value: "y", options: firstWrite }]);
assert.ok(again && again.error, "a first write on an existing key must fail");
assert.equal(await client.state.get(store, "js-new"), "x");

// Delete with an etag: a stale one is refused, the current one deletes.
const [{ etag: old }] = await client.state.getBulk(store, ["js-new"]);
await client.state.save(store, [{ key: "js-new", value: "z", etag: old }]);
const staleDelete = await client.state.delete(store, "js-new", { etag: old });
assert.ok(staleDelete && staleDelete.error, "a delete with a stale etag must fail");
const [{ etag: current }] = await client.state.getBulk(store, ["js-new"]);
assert.deepEqual(await client.state.delete(store, "js-new", { etag: current }), {});
assert.equal(await client.state.get(store, "js-new"), "");

// A transaction with a stale etag changes nothing.
await assert.rejects(
  client.state.transaction(store, [
    { operation: "upsert", request: { key: "js-3", value: "lost" } },
    { operation: "upsert", request: { key: "js-1", value: 9, etag } },
  ]),
);
assert.equal(await client.state.get(store, "js-3"), 3);
assert.equal(await client.state.get(store, "js-1"), 2);

await client.state.delete(store, "js-1");
assert.equal(await client.state.get(store, "js-1"), "");

// Query, on a store that supports it.
await client.state.save(queryStore, [
  { key: "p0", value: { city: "Oslo", age: 30 } },
  { key: "p1", value: { city: "Lima", age: 31 } },
  { key: "p2", value: { city: "Oslo", age: 32 } },
]);
const found = await client.state.query(queryStore, {
  filter: { EQ: { city: "Oslo" } },
  sort: [{ key: "age", order: "DESC" }],
});
assert.deepEqual(found.results.map((r) => r.key), ["p2", "p0"]);
assert.equal(found.results[0].data.age, 32);

// The token: a wrong one is refused. The SDK waits up to a minute for a
// sidecar that answers its metadata call; the server is up (the calls
// above went through), so that wait is skipped with the SDK's own setter.
const wrong = connect("wrong-" + token);
wrong.daprClient.setIsInitialized(true);
await assert.rejects(wrong.state.get(store, "js-3"), /401|invalid api token|Unauthorized/i);
assert.equal(await client.state.get(store, "js-3"), 3);
console.log(`Dapr JavaScript SDK over HTTP on ${store}: etags, first-write, delete, bulk get, ` +
  `transactions, query on ${queryStore}, token: ok`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
