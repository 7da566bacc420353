//! The row of the error table no manifest can reach: a store without
//! transactions (every store of the registry has them). A store type that
//! hides the in-memory store's transactions is registered here, loaded from
//! a manifest, and asked for a transaction over HTTP and gRPC.

use std::sync::Arc;

use statestore::{
    Capabilities, DeleteRequest, DeleteWithPrefixRequest, ETag, Feature, GetRequest, Item,
    KeyResult, KeysLikeRequest, KeysPage, MemoryStore, Properties, QueryRequest, QueryResponse,
    Registration, Result, SetRequest, Store, TransactRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::App;
use super::grpc::Api;
use super::proto::dapr::proto::runtime::v1 as pb;

/// The in-memory store without `TRANSACTIONAL`.
#[derive(Default)]
struct NoTransactions(MemoryStore);

#[statestore::async_trait]
impl Store for NoTransactions {
    async fn init(&mut self, p: &Properties) -> Result<()> {
        self.0.init(p).await
    }
    fn capabilities(&self) -> Capabilities {
        let mut c = self.0.capabilities();
        c.features = c.features.without(Feature::Transactional);
        c
    }
    async fn get(&self, r: GetRequest) -> Result<Option<Item>> {
        self.0.get(r).await
    }
    async fn set(&self, r: SetRequest) -> Result<Option<ETag>> {
        self.0.set(r).await
    }
    async fn delete(&self, r: DeleteRequest) -> Result<()> {
        self.0.delete(r).await
    }
    async fn bulk_get(&self, r: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.0.bulk_get(r).await
    }
    async fn bulk_set(&self, r: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        self.0.bulk_set(r).await
    }
    async fn bulk_delete(&self, r: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        self.0.bulk_delete(r).await
    }
    async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }
    async fn close(&self) -> Result<()> {
        self.0.close().await
    }
    async fn transact(&self, r: TransactRequest) -> Result<Vec<Option<ETag>>> {
        self.0.transact(r).await
    }
    async fn delete_with_prefix(&self, r: DeleteWithPrefixRequest) -> Result<u64> {
        self.0.delete_with_prefix(r).await
    }
    async fn keys_like(&self, r: KeysLikeRequest) -> Result<KeysPage> {
        self.0.keys_like(r).await
    }
    async fn query(&self, r: QueryRequest) -> Result<QueryResponse> {
        self.0.query(r).await
    }
}

async fn app() -> Arc<App> {
    let mut registry = statestore::registry().unwrap();
    registry
        .register(Registration::new("state.notx", |_| {
            Box::new(NoTransactions::default())
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("notx.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: notx\n\
         spec:\n  type: state.notx\n  version: v1\n",
    )
    .unwrap();
    let runtime = statestore::runtime::Runtime::builder(registry, "app")
        .load(&manifest)
        .await
        .unwrap();
    Arc::new(App {
        runtime,
        token: None,
    })
}

#[tokio::test]
async fn a_store_without_transactions_is_refused_before_the_body_is_read() {
    let app = app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, super::http::router(app.clone())).into_future());
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The body is not even JSON: Dapr answers before it reads it.
    conn.write_all(
        b"POST /v1.0/state/notx/transaction HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\n{bad}",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(
        answer.contains(r#""errorCode":"ERR_STATE_STORE_NOT_SUPPORTED""#),
        "{answer}"
    );
    assert!(
        answer.contains("DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED"),
        "{answer}"
    );

    let api = Api { app: app.clone() };
    let request = pb::ExecuteStateTransactionRequest {
        store_name: "notx".into(),
        ..Default::default()
    };
    let status = api.transact(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
}
