//! What the loop through the conformance suite cannot see: sockets at start
//! and shutdown, instances, discovery, daprd's error details, and a broken
//! component caught by the suite through `state.pluggable`.

mod common;

use common::Served;
use statestore_core::{ErrorKind, GetRequest, MemoryStore, Properties, SetRequest, Store};
use statestore_pluggable::{Component, PluggableStore, proto as pb};
use tonic::Code;

fn memory() -> Component {
    Component::of_type(&statestore_core::memory::REGISTRATION)
}

async fn client(
    served: &Served,
    extra: &[(&str, &str)],
) -> statestore_core::Result<PluggableStore> {
    let mut p = served.properties();
    for (k, v) in extra {
        p.insert(*k, *v);
    }
    let mut s = PluggableStore::new();
    s.init(&p).await?;
    Ok(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_socket_is_replaced_and_the_socket_removed_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    // A socket file nobody answers on: what a killed server leaves.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let bound = statestore_pluggable::bind(&path, memory()).await.unwrap();
    let server = tokio::spawn(bound.serve(async {
        let _ = rx.await;
    }));
    // A second server on the live socket is refused, and leaves it alone.
    let again = statestore_pluggable::serve(&path, memory(), async {}).await;
    let e = again.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("in use"), "{e}");
    assert!(tokio::net::UnixStream::connect(&path).await.is_ok());
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(!path.exists(), "the socket is removed at shutdown");
    // A file that is no socket is never removed.
    std::fs::write(&path, "data").unwrap();
    let e = statestore_pluggable::serve(&path, memory(), async {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_are_apart_and_need_init() {
    let served = Served::start("memory", memory());
    let a = client(&served, &[("instance", "a")]).await.unwrap();
    let b = client(&served, &[("instance", "b")]).await.unwrap();
    a.set(SetRequest::new("k", "from a")).await.unwrap();
    assert!(b.get(GetRequest::new("k")).await.unwrap().is_none());
    assert_eq!(
        a.get(GetRequest::new("k")).await.unwrap().unwrap().value,
        "from a"
    );
    // A call for an instance never initialised names it.
    let mut raw = raw_client(&served).await;
    let mut req = tonic::Request::new(pb::GetRequest {
        key: "k".into(),
        ..Default::default()
    });
    req.metadata_mut()
        .insert("x-component-instance", "never".parse().unwrap());
    let s = raw.get(req).await.unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(s.message().contains("\"never\""), "{}", s.message());
}

/// daprd's answers stay Dapr's: no outcomes unless asked, as daprd never
/// does; and the client's close frees its instance on the server.
#[tokio::test(flavor = "multi_thread")]
async fn answers_stay_daprs_and_close_frees_the_instance() {
    let served = Served::start("memory", memory());
    let s = client(&served, &[("instance", "mine")]).await.unwrap();
    let mut raw = raw_client(&served).await;
    fn with<T>(msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut()
            .insert("x-component-instance", "mine".parse().unwrap());
        r
    }
    let set = pb::SetRequest {
        key: "k".into(),
        value: b"v".to_vec(),
        ..Default::default()
    };
    let answer = raw.set(with(set)).await.unwrap().into_inner();
    assert!(answer.statestore_outcomes.is_empty());
    assert!(s.get(GetRequest::new("k")).await.unwrap().is_some());
    s.close().await.unwrap();
    let get = pb::GetRequest {
        key: "k".into(),
        ..Default::default()
    };
    let e = raw.get(with(get)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(statestore_pluggable::check_name("../x").is_err());
    assert!(statestore_pluggable::check_name("a/b").is_err());
    assert!(statestore_pluggable::check_name("aws.dynamodb").is_ok());
}

async fn raw_client(
    served: &Served,
) -> pb::state_store_client::StateStoreClient<tonic::transport::Channel> {
    let channel = statestore_pluggable::connect(&served.socket).await.unwrap();
    pb::state_store_client::StateStoreClient::new(channel)
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_reach_the_client_by_kind() {
    let served = Served::start("memory", memory());
    let s = client(&served, &[]).await.unwrap();
    let etag = s.set(SetRequest::new("k", "v")).await.unwrap().unwrap();
    let stale = s
        .set(SetRequest::new("k", "w").etag("not-the-etag"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale.kind(),
            ErrorKind::ETagMismatch | ErrorKind::ETagInvalid
        ),
        "{stale}"
    );
    s.set(SetRequest::new("k", "w").etag(etag)).await.unwrap();
    let e = s.set(SetRequest::new("", "v")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    // keys_like travels in statestore's extension service.
    let page = s
        .keys_like(statestore_core::KeysLikeRequest::new("%"))
        .await
        .unwrap();
    assert_eq!(page.keys, ["k"]);
    let e = s
        .keys_like(statestore_core::KeysLikeRequest::new("%").page_size(0))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_says_what_is_wrong_with_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock");
    let mut s = PluggableStore::new();
    let e = s
        .init(&Properties::new().with("socket", missing.to_string_lossy()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(format!("{e:#}").contains("none.sock"), "{e:#}");
    // Init's error from the component comes back by kind and message.
    let served = Served::start("memory", Flawed::component(Flaw::NeedsProperty));
    let e = client(&served, &[("needed", "")]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("needed"), "{e}");
    assert!(client(&served, &[("needed", "yes")]).await.is_ok());
}

/// A component that ignores etags, served and driven through
/// `state.pluggable`, fails the suite's etag case with the rule's words.
#[test]
fn a_component_that_ignores_etags_fails_the_suite_by_name() {
    let served = Served::start("broken", Flawed::component(Flaw::IgnoresEtags));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let suite =
        statestore_conformance::Suite::new(statestore_pluggable::REGISTRATION, served.properties())
            .quirks(statestore_conformance::Quirks {
                shared_backend: false,
                ..Default::default()
            });
    let run = rt.block_on(suite.open()).unwrap();
    let case = run
        .index("etag::stale_set_refused")
        .expect("the case exists");
    let report = rt.block_on(run.case(case));
    match report.verdict {
        statestore_conformance::Verdict::Failed(message) => {
            assert!(message.contains("expected ETagMismatch"), "{message}");
        }
        other => panic!("the broken component was not caught: {other:?}"),
    }
    rt.block_on(run.close());
}

/// The in-memory store with one flaw.
#[derive(Clone, Copy)]
enum Flaw {
    /// init refuses an empty or missing `needed` property.
    NeedsProperty,
    /// Every etag of a set or delete is dropped.
    IgnoresEtags,
}

struct Flawed(MemoryStore, Flaw);

impl Flawed {
    fn component(flaw: Flaw) -> Component {
        Component::new(move || Box::new(Flawed(MemoryStore::new(), flaw)) as Box<dyn Store>)
    }
}

#[async_trait::async_trait]
impl Store for Flawed {
    async fn init(&mut self, p: &Properties) -> statestore_core::Result<()> {
        if matches!(self.1, Flaw::NeedsProperty) && p.get("needed").is_none_or(str::is_empty) {
            return Err(statestore_core::Error::config(
                "property \"needed\" is required",
            ));
        }
        self.0.init(p).await
    }
    fn capabilities(&self) -> statestore_core::Capabilities {
        self.0.capabilities()
    }
    async fn get(&self, r: GetRequest) -> statestore_core::Result<Option<statestore_core::Item>> {
        self.0.get(r).await
    }
    async fn set(
        &self,
        mut r: SetRequest,
    ) -> statestore_core::Result<Option<statestore_core::ETag>> {
        if matches!(self.1, Flaw::IgnoresEtags) {
            r.etag = None;
        }
        self.0.set(r).await
    }
    async fn delete(&self, mut r: statestore_core::DeleteRequest) -> statestore_core::Result<()> {
        if matches!(self.1, Flaw::IgnoresEtags) {
            r.etag = None;
        }
        self.0.delete(r).await
    }
    async fn bulk_get(
        &self,
        r: Vec<GetRequest>,
    ) -> statestore_core::Result<Vec<statestore_core::KeyResult<Option<statestore_core::Item>>>>
    {
        self.0.bulk_get(r).await
    }
    async fn bulk_set(
        &self,
        r: Vec<SetRequest>,
    ) -> statestore_core::Result<Vec<statestore_core::KeyResult<Option<statestore_core::ETag>>>>
    {
        self.0.bulk_set(r).await
    }
    async fn bulk_delete(
        &self,
        r: Vec<statestore_core::DeleteRequest>,
    ) -> statestore_core::Result<Vec<statestore_core::KeyResult<()>>> {
        self.0.bulk_delete(r).await
    }
    async fn ping(&self) -> statestore_core::Result<()> {
        self.0.ping().await
    }
    async fn close(&self) -> statestore_core::Result<()> {
        self.0.close().await
    }
    async fn transact(
        &self,
        r: statestore_core::TransactRequest,
    ) -> statestore_core::Result<Vec<Option<statestore_core::ETag>>> {
        self.0.transact(r).await
    }
    async fn delete_with_prefix(
        &self,
        r: statestore_core::DeleteWithPrefixRequest,
    ) -> statestore_core::Result<u64> {
        self.0.delete_with_prefix(r).await
    }
    async fn keys_like(
        &self,
        r: statestore_core::KeysLikeRequest,
    ) -> statestore_core::Result<statestore_core::KeysPage> {
        self.0.keys_like(r).await
    }
    async fn query(
        &self,
        r: statestore_core::QueryRequest,
    ) -> statestore_core::Result<statestore_core::QueryResponse> {
        self.0.query(r).await
    }
}
