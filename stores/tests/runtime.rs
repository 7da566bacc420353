//! The components runtime through the facade: the Dapr manifests under
//! `tests/components/<scenario>/` loaded with `statestore::registry()`:
//! keyPrefix views, secrets, placeholders, load errors, and actor turns on
//! every backend. The networked servers must be running
//! (`scripts/services.sh start`); a test whose server is down fails.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use statestore::{
    ActorState, ActorStateStore, Capabilities, DeleteRequest, DeleteWithPrefixRequest, ETag, Error,
    ErrorKind, Feature, Features, GetRequest, Item, KeyResult, KeysLikeRequest, KeysPage,
    MemoryStore, Operation, Properties, QueryRequest, QueryResponse, Registration, Registry,
    Result, Runtime, RuntimeBuilder, SetRequest, Store, StoreExt, TransactRequest, TransactionOp,
};
use tempfile::TempDir;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/components");
const APP: &str = "shop";
/// What the environment secret store hands out for `TABLE`, `TIMEOUT` and
/// `SQLITE` (variables `STATESTORE_RT_<name>`). "Zq7" marks the values
/// that init refuses: no error may show them, nor a piece of them.
const ENV_TABLE: &str = "tbl_from_env";
const ENV_TIMEOUT: &str = "soon-Zq7-not-a-duration";
const ENV_SQLITE: &str = "file:orders.db?_pragma=key(Zq7-cipher-key";

// ------------------------------------------------------------------ helpers

/// Every enabled backend. Every test starts here, so the secret variables
/// are set before any test reads the environment.
fn registry() -> Registry {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        // SAFETY: runs once, and every other test waits for it here before
        // it does anything that could read the environment.
        unsafe {
            std::env::set_var("STATESTORE_RT_TABLE", ENV_TABLE);
            std::env::set_var("STATESTORE_RT_TIMEOUT", ENV_TIMEOUT);
            std::env::set_var("STATESTORE_RT_SQLITE", ENV_SQLITE);
        }
    });
    statestore::registry().expect("registry")
}

/// A runtime builder without namespace, whatever `NAMESPACE` says.
fn builder(registry: Registry, app: &str) -> RuntimeBuilder {
    Runtime::builder(registry, app).namespace("")
}

fn fixture(scenario: &str) -> PathBuf {
    Path::new(FIXTURES).join(scenario)
}

/// A copy of a scenario folder in a temporary folder, `__TMP__` replaced by
/// that folder's path, then each `(from, to)` applied to every file.
fn copy(scenario: &str, replace: &[(&str, &str)]) -> (TempDir, PathBuf) {
    fn walk(from: &Path, to: &Path, replace: &[(&str, &str)]) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                walk(&path, &target, replace);
                continue;
            }
            let mut text = std::fs::read_to_string(&path).unwrap();
            for (a, b) in replace {
                text = text.replace(a, b);
            }
            std::fs::write(target, text).unwrap();
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut all = vec![("__TMP__", dir.to_str().unwrap())];
    all.extend_from_slice(replace);
    walk(&fixture(scenario), &dir, &all);
    (tmp, dir)
}

async fn load_err(builder: RuntimeBuilder, path: &Path) -> Error {
    builder.load(path).await.expect_err("the load must fail")
}

fn assert_has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "{p:?} is missing from: {text}");
    }
}

async fn value(store: &Arc<dyn Store>, key: &str) -> Option<String> {
    let item = store.get_item(key).await.unwrap();
    item.map(|i| String::from_utf8(i.value.to_vec()).unwrap())
}

async fn sorted_keys(store: &Arc<dyn Store>) -> Vec<String> {
    let page = store.keys_like(KeysLikeRequest::new("%")).await.unwrap();
    assert!(page.token.is_none(), "one page");
    let mut keys = page.keys;
    keys.sort();
    keys
}

/// A table of an SQLite file opened directly, to see where writes landed.
async fn sqlite_table(file: &Path, table: &str) -> Arc<dyn Store> {
    let props = Properties::new()
        .with("connectionString", file.to_str().unwrap())
        .with("tableName", table);
    registry().open("state.sqlite", None, &props).await.unwrap()
}

/// The in-memory store with what no landed backend has: no transactions
/// (in its capabilities, and refused), or an init that takes 30 s.
struct Odd {
    inner: MemoryStore,
    flaw: Flaw,
}

#[derive(Clone, Copy, PartialEq)]
enum Flaw {
    NoTransactions,
    SlowInit,
}

/// [`registry`] plus `state.no-tx` (declares no TRANSACTIONAL),
/// `state.no-tx-deployed` (declares it, lacks it once initialised) and
/// `state.slow`.
fn odd_registry() -> Registry {
    fn no_tx(_: &str) -> Box<dyn Store> {
        Box::new(Odd {
            inner: MemoryStore::new(),
            flaw: Flaw::NoTransactions,
        })
    }
    fn slow(_: &str) -> Box<dyn Store> {
        Box::new(Odd {
            inner: MemoryStore::new(),
            flaw: Flaw::SlowInit,
        })
    }
    let mut r = registry();
    let lacking = Features::ALL.without(Feature::Transactional);
    r.register(Registration::new("state.no-tx", no_tx).features(lacking))
        .unwrap();
    r.register(Registration::new("state.no-tx-deployed", no_tx).features(Features::ALL))
        .unwrap();
    r.register(Registration::new("state.slow", slow).features(Features::ALL))
        .unwrap();
    r
}

#[statestore::async_trait]
impl Store for Odd {
    async fn init(&mut self, properties: &Properties) -> Result<()> {
        if self.flaw == Flaw::SlowInit {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        self.inner.init(properties).await
    }
    fn capabilities(&self) -> Capabilities {
        let mut c = self.inner.capabilities();
        if self.flaw == Flaw::NoTransactions {
            c.features = c.features.without(Feature::Transactional);
        }
        c
    }
    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        if self.flaw == Flaw::NoTransactions {
            return Err(Error::not_supported("state.no-tx", Operation::Transact));
        }
        self.inner.transact(req).await
    }
    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        self.inner.get(req).await
    }
    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.inner.set(req).await
    }
    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.inner.delete(req).await
    }
    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.inner.bulk_get(reqs).await
    }
    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        self.inner.bulk_set(reqs).await
    }
    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        self.inner.bulk_delete(reqs).await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        self.inner.delete_with_prefix(req).await
    }
    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        self.inner.keys_like(req).await
    }
    async fn query(&self, req: QueryRequest) -> Result<QueryResponse> {
        self.inner.query(req).await
    }
}

/// One actor turn: `count += 1`, with `last = who` when given (a turn of
/// two keys), run again on ETagMismatch (another activation committed first).
async fn increment(state: &mut ActorState, last: Option<usize>) {
    for _ in 0..1000 {
        let n: u64 = state.get_json("count").await.unwrap().unwrap_or(0);
        state.set_json("count", &(n + 1)).unwrap();
        if let Some(who) = last {
            state.set_json("last", &who).unwrap();
        }
        match state.commit().await {
            Ok(()) => return,
            Err(e) if e.kind() == ErrorKind::ETagMismatch => continue,
            Err(e) => panic!("{}: turn failed: {e}", state.partition()),
        }
    }
    panic!("{}: no turn committed in 1000 tries", state.partition());
}

async fn count(actors: &ActorStateStore, id: &str) -> u64 {
    let mut state = actors.actor("Counter", id).unwrap();
    state.get_json("count").await.unwrap().unwrap_or(0)
}

/// 8 actors with 20 two-key turns each, all at once; then one actor turned
/// by 8 activations at once, 10 one-key turns each: no update may be lost.
async fn actor_turns(manifest: &str) {
    let registry = registry();
    let (_tmp, dir) = copy("actors", &[]);
    let app = format!("rt{:016x}", fastrand::u64(..));
    let runtime = builder(registry, &app)
        .load(dir.join(manifest))
        .await
        .unwrap_or_else(|e| panic!("{manifest}: {e} (servers: scripts/services.sh start)"));
    let actors = runtime.actors().unwrap().clone();

    let run = |id: String, last: Option<usize>, turns: usize| {
        let actors = actors.clone();
        tokio::spawn(async move {
            let mut state = actors.actor("Counter", &id).unwrap();
            for _ in 0..turns {
                increment(&mut state, last).await;
            }
        })
    };
    let many: Vec<_> = (0..8).map(|i| run(format!("a{i}"), Some(i), 20)).collect();
    for t in many {
        t.await.unwrap();
    }
    // Two keys per turn, `count` read and `last` not: warm and cold
    // activations then send different kinds of statement for the same keys.
    let one: Vec<_> = (0..8).map(|i| run("hot".into(), Some(i), 10)).collect();
    for t in one {
        t.await.unwrap();
    }

    let ids: Vec<String> = (0..8)
        .map(|i| format!("a{i}"))
        .chain(["hot".into()])
        .collect();
    for id in &ids {
        let want = if id == "hot" { 80 } else { 20 };
        let keys = 2;
        assert_eq!(count(&actors, id).await, want, "{manifest}: actor {id}");
        let raw = value(actors.store(), &format!("{app}||Counter||{id}||count")).await;
        assert_eq!(
            raw,
            Some(want.to_string()),
            "{manifest}: stored count of {id}"
        );
        assert_eq!(actors.remove_all("Counter", id).await.unwrap(), keys);
        assert_eq!(count(&actors, id).await, 0, "{manifest}: {id} removed");
    }
    runtime.close().await.unwrap();
}

// -------------------------------------------------------------------- tests

/// 1. Each keyPrefix strategy, on single, bulk and transactional writes,
///    keys_like, and `||` refused; a multi-document file and other building
///    blocks in the folder.
#[tokio::test]
async fn key_prefix_strategies_on_every_operation() {
    let registry = registry();
    let (_tmp, dir) = copy("prefixes", &[]);
    let runtime = builder(registry, APP)
        .namespace("prod")
        .load(&dir)
        .await
        .unwrap();
    let names: Vec<&str> = runtime.names().collect();
    assert_eq!(names, ["orders", "cache", "shared", "legacy", "tenant"]);

    let strategies = [
        ("orders", Some("shop")),
        ("cache", Some("cache")),
        ("shared", None),
        ("legacy", Some("legacy-v1")),
        ("tenant", Some("prod.shop")),
    ];
    for (name, prefix) in strategies {
        assert_eq!(runtime.key_prefix(name).unwrap(), prefix, "{name}");
        let stored = |k: &str| prefix.map_or(k.to_owned(), |p| format!("{p}||{k}"));
        let (view, raw) = (
            runtime.store(name).unwrap(),
            runtime.raw_store(name).unwrap(),
        );

        view.put("k", name).await.unwrap();
        let outcomes = view
            .bulk_set(vec![SetRequest::new("b1", "1"), SetRequest::new("b2", "2")])
            .await
            .unwrap();
        assert!(outcomes.iter().all(|o| o.result.is_ok()), "{name}");
        let ops: Vec<TransactionOp> = vec![
            SetRequest::new("t1", "t").into(),
            DeleteRequest::new("b2").into(),
        ];
        view.transact(TransactRequest::new(ops)).await.unwrap();

        let want: Vec<String> = ["b1", "k", "t1"].map(stored).into();
        assert_eq!(sorted_keys(&raw).await, want, "{name}: stored keys");
        assert_eq!(value(&raw, &stored("k")).await.as_deref(), Some(name));
        assert_eq!(value(&raw, &stored("t1")).await.as_deref(), Some("t"));
        assert_eq!(sorted_keys(&view).await, ["b1", "k", "t1"], "{name}: view");
        assert_eq!(value(&view, "b1").await.as_deref(), Some("1"));

        let e = view.put("a||b", "x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{name}: {e}");
        let outcomes = view
            .bulk_set(vec![
                SetRequest::new("c1", "1"),
                SetRequest::new("x||y", "2"),
            ])
            .await
            .unwrap();
        assert!(outcomes[0].result.is_ok(), "{name}");
        let e = outcomes[1].result.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{name}: {e}");
        assert_eq!(value(&raw, &stored("c1")).await.as_deref(), Some("1"));
        let ops: Vec<TransactionOp> = vec![
            SetRequest::new("t2", "t").into(),
            SetRequest::new("x||y", "t").into(),
        ];
        let e = view.transact(TransactRequest::new(ops)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{name}: {e}");
        assert_eq!(
            value(&raw, &stored("t2")).await,
            None,
            "{name}: no partial tx"
        );
    }

    let notes = runtime.notes().join("\n");
    assert_has(
        &notes,
        &[
            "01-orders-and-cache.yaml",
            "\"Configuration\"",
            "03-pubsub.yaml",
        ],
    );
    assert_has(&notes, &["\"pubsub\"", "pubsub.redis", "not a state store"]);
    assert!(runtime.store("pubsub").is_err());
    runtime.close().await.unwrap();
}

/// 2. Secrets from the environment, a JSON file and a multi-valued YAML
///    file land in the properties they are for.
#[tokio::test]
async fn secrets_from_env_and_files_are_used() {
    let registry = registry();
    let (_tmp, dir) = copy("secrets", &[]);
    let runtime = builder(registry, APP).load(&dir).await.unwrap();
    for name in ["env-store", "json-store", "yaml-store"] {
        runtime.store(name).unwrap().put("k", name).await.unwrap();
    }
    let shown = format!("{runtime:?}");
    let secrets: Vec<String> = runtime.secret_values().map(str::to_owned).collect();
    runtime.close().await.unwrap();

    let json_db = dir.join("db-from-json-secret.db");
    let landed = [
        (dir.join("env.db"), ENV_TABLE, "env-store"),
        (json_db.clone(), "state", "json-store"),
        (dir.join("yaml.db"), "tbl_from_yaml", "yaml-store"),
        (dir.join("env.db"), "state", ""),
    ];
    for (file, table, want) in landed {
        let store = sqlite_table(&file, table).await;
        let got = value(&store, "shop||k").await.unwrap_or_default();
        assert_eq!(got, want, "{} table {table}", file.display());
        store.close().await.unwrap();
    }
    for secret in [ENV_TABLE, json_db.to_str().unwrap(), "tbl_from_yaml"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
        // A tool that prints messages can mask them (statestore serve does).
        assert!(
            secrets.iter().any(|s| s == secret),
            "{secret} not in {secrets:?}"
        );
    }
}

/// 2. Secret errors name the file, component and field, never the value.
#[tokio::test]
async fn secret_errors_name_the_place_never_the_value() {
    let dir = fixture("secrets-bad");
    let e = load_err(builder(registry(), APP), &dir.join("missing-secret.yaml")).await;
    let at = "spec.metadata (tableName).secretKeyRef";
    let e = e.to_string();
    assert_has(
        &e,
        &["missing-secret.yaml", "\"orders\"", at, "NOT_SET_ANYWHERE"],
    );

    let e = load_err(builder(registry(), APP), &dir.join("no-secret-store.yaml")).await;
    let at = "spec.metadata (connectionString).secretKeyRef";
    assert_has(&e.to_string(), &["no-secret-store.yaml", "\"orders\"", at]);
    assert_has(&e.to_string(), &["auth.secretStore"]);

    // The store's init refuses the secret's value, or a piece of it: the
    // property is named, the value is not shown.
    let refused = [
        ("bad-timeout.yaml", "property timeout"),
        ("bad-pragma.yaml", "property connectionString"),
    ];
    for (file, property) in refused {
        let e = load_err(builder(registry(), APP), &dir.join(file)).await;
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        let text = format!("{e}\n{e:?}");
        assert_has(&text, &[file, "\"orders\"", property]);
        assert!(!text.contains("Zq7"), "the secret value is shown: {text}");
    }

    let (_tmp, dir) = copy(
        "secrets-bad",
        &[("ignoreErrors: false", "ignoreErrors: true")],
    );
    let runtime = builder(registry(), APP)
        .load(dir.join("bad-timeout.yaml"))
        .await
        .unwrap();
    assert_eq!(runtime.names().collect::<Vec<_>>(), ["cache"]);
    let shown = format!("{runtime:?}");
    assert_has(&shown, &["\\\"orders\\\"", "property timeout", "left out"]);
    assert!(!shown.contains("Zq7"), "the secret value is shown: {shown}");
    runtime.close().await.unwrap();
}

/// 3. `{appID}`, `{namespace}` and `{uuid}` are substituted; `{namespace}`
///    without a namespace is an error naming the field.
#[tokio::test]
async fn placeholders_are_substituted() {
    let registry = registry();
    let (_tmp, dir) = copy("placeholders", &[]);
    let load = || builder(registry.clone(), APP).namespace("prod").load(&dir);
    let runtime = load().await.unwrap();
    let a = runtime.key_prefix("scratch-a").unwrap().unwrap().to_owned();
    let b = runtime.key_prefix("scratch-b").unwrap().unwrap();
    let b = b.strip_prefix("run-").expect("run-{uuid}").to_owned();
    for uuid in [&a, &b] {
        assert_eq!((uuid.len(), uuid.matches('-').count()), (36, 4), "{uuid}");
    }
    assert_ne!(a, b);
    assert_eq!(runtime.key_prefix("tenant").unwrap(), Some("prod-shop"));
    runtime
        .store("orders")
        .unwrap()
        .put("k", "v")
        .await
        .unwrap();
    runtime.close().await.unwrap();

    let table = sqlite_table(&dir.join("placeholders.db"), "orders_shop").await;
    assert_eq!(value(&table, "shop||k").await.as_deref(), Some("v"));
    table.close().await.unwrap();

    let again = load().await.unwrap();
    assert_ne!(again.key_prefix("scratch-a").unwrap(), Some(a.as_str()));
    again.close().await.unwrap();

    let e = load_err(builder(registry, APP), &dir).await.to_string();
    assert_has(
        &e,
        &["stores.yaml", "\"tenant\"", "spec.metadata (keyPrefix)"],
    );
    assert_has(&e, &["{namespace}"]);
}

/// 4. An unknown type: the error lists the registered types and names the
///    file and component.
#[tokio::test]
async fn unknown_type_lists_registered_types() {
    let file = fixture("bad-type").join("stores.yaml");
    let e = load_err(builder(registry(), APP), &file).await;
    assert_eq!(e.kind(), ErrorKind::Config);
    let e = e.to_string();
    assert_has(
        &e,
        &[
            "stores.yaml",
            "\"orders\"",
            "spec.type",
            "state.cassandra-typo",
        ],
    );
    assert_has(&e, &statestore::enabled_types().unwrap());
}

/// 5. A missing required property is named.
#[tokio::test]
async fn missing_required_property_is_named() {
    let dir = fixture("missing-property");
    for (file, component) in [
        ("sqlite.yaml", "\"orders\""),
        ("postgres.yaml", "\"ledger\""),
    ] {
        let e = load_err(builder(registry(), APP), &dir.join(file)).await;
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        let e = e.to_string();
        assert_has(&e, &[file, component, "connectionString", "is required"]);
    }
}

/// 6. Two actor state stores: an error naming both.
#[tokio::test]
async fn two_actor_state_stores_are_refused() {
    let e = load_err(builder(registry(), APP), &fixture("two-actor-stores")).await;
    assert_eq!(e.kind(), ErrorKind::Config);
    let e = e.to_string();
    assert_has(&e, &["\"actors-a\"", "a.yaml", "\"actors-b\"", "b.yaml"]);
    assert_has(&e, &["actorStateStore"]);
}

/// 7. An actor state store without transactions, declared or deployed.
#[tokio::test]
async fn actor_store_without_transactions_is_refused() {
    let dir = fixture("no-transactions");
    for file in ["declared.yaml", "deployed.yaml"] {
        let e = load_err(builder(odd_registry(), APP), &dir.join(file)).await;
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        let e = e.to_string();
        let at = "spec.metadata (actorStateStore)";
        assert_has(&e, &[file, "\"actors\"", at, "lacks TRANSACTIONAL"]);
        assert!(!e.contains("lacks ETAG"), "{e}");
    }
}

/// 8. `ignoreErrors` leaves a store whose server is down out with a note;
///    without it the load fails.
#[tokio::test]
async fn ignore_errors_leaves_a_broken_store_out() {
    let started = Instant::now();
    let runtime = builder(registry(), APP)
        .load(fixture("ignore-errors"))
        .await
        .unwrap();
    assert_eq!(runtime.names().collect::<Vec<_>>(), ["cache"]);
    assert!(runtime.store("sessions").is_err());
    runtime.store("cache").unwrap().put("k", "v").await.unwrap();
    let notes = runtime.notes().join("\n");
    assert_has(
        &notes,
        &["stores.yaml", "\"sessions\"", "left out: spec.ignoreErrors"],
    );
    runtime.close().await.unwrap();

    let (_tmp, dir) = copy(
        "ignore-errors",
        &[("ignoreErrors: true", "ignoreErrors: false")],
    );
    let e = load_err(builder(registry(), APP), &dir).await;
    let retryable = matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout);
    assert!(retryable, "{e}");
    // Masking secrets in the message keeps what callers act on.
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.store(), Some("state.redis"), "{e}");
    assert_eq!(e.operation(), Some(statestore::Operation::Init), "{e}");
    // Nothing secret in it: the driver's error stays the source.
    assert!(std::error::Error::source(&e).is_some(), "{e:#}");
    assert_has(
        &e.to_string(),
        &["stores.yaml", "\"sessions\"", "state.redis"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "initTimeout 3s"
    );
}

/// 8. An init that outlasts `spec.initTimeout` is a Timeout naming it.
#[tokio::test]
async fn init_timeout_expires() {
    let started = Instant::now();
    let e = load_err(builder(odd_registry(), APP), &fixture("init-timeout")).await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let e = e.to_string();
    assert_has(
        &e,
        &["stores.yaml", "\"archive\"", "spec.initTimeout", "50ms"],
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// 9. One component name in two files: an error naming both files.
#[tokio::test]
async fn duplicate_component_names_are_refused() {
    let e = load_err(builder(registry(), APP), &fixture("duplicate-names")).await;
    assert_eq!(e.kind(), ErrorKind::Config);
    let e = e.to_string();
    assert_has(
        &e,
        &["\"statestore\"", "a.yaml", "b.yaml", "declared twice"],
    );
}

/// 10. Concurrent actor turns lose no update, on every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actor_turns_in_memory() {
    actor_turns("memory.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actor_turns_sqlite() {
    actor_turns("sqlite.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actor_turns_redis() {
    actor_turns("redis.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actor_turns_redis_cluster() {
    actor_turns("redis-cluster.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actor_turns_postgres() {
    actor_turns("postgres.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actor_turns_mysql() {
    actor_turns("mysql.yaml").await;
}

/// 11. A turn writes Dapr's `app||Type||id||key`, and what is stored there is
///     read by the actor API.
#[tokio::test]
async fn actor_keys_follow_the_dapr_layout() {
    let registry = registry();
    for manifest in ["memory.yaml", "sqlite.yaml"] {
        let (_tmp, dir) = copy("actors", &[]);
        let runtime = builder(registry.clone(), "bank")
            .load(dir.join(manifest))
            .await
            .unwrap();
        let raw = runtime.raw_store("actors").unwrap();
        let mut alice = runtime.actors().unwrap().actor("Account", "alice").unwrap();
        alice.set("balance", "10").unwrap();
        let key = "bank||Account||alice||balance";
        assert_eq!(value(&raw, key).await, None, "{manifest}: staged only");
        alice.commit().await.unwrap();
        assert_eq!(sorted_keys(&raw).await, [key], "{manifest}");
        assert_eq!(value(&raw, key).await.as_deref(), Some("10"));

        raw.put("bank||Account||alice||owner", "Alice")
            .await
            .unwrap();
        let mut again = runtime.actors().unwrap().actor("Account", "alice").unwrap();
        let owner = again.get("owner").await.unwrap();
        assert_eq!(owner.as_deref(), Some(&b"Alice"[..]), "{manifest}");
        runtime.close().await.unwrap();
    }
}
