//! `statestore bench --through-socket`: the store served on a pluggable
//! component socket in this process and driven through `state.pluggable`,
//! next to the same store called directly, so the ratio is the cost of the
//! socket hop (docs/performance.md, *The socket hop*).

use std::sync::Arc;

use statestore::baseline::Baseline;
use statestore::pluggable::{Component, PluggableStore, bind, socket_path};
use statestore::{
    Bytes, GetRequest, Result, SetRequest, Store, TransactRequest, TransactionOp, async_trait,
};
use tokio::sync::oneshot;

use crate::Chosen;

/// The served socket, the client through it, and the direct store.
pub struct Hop {
    /// `state.pluggable` on the socket: the SDK side of the rows.
    pub client: Arc<dyn Store>,
    /// The same type, called directly: the raw side of the rows.
    pub direct: Arc<dyn Baseline>,
    /// The direct store itself, to clean up after.
    pub direct_store: Arc<dyn Store>,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<()>>,
    _dir: tempfile::TempDir,
}

impl Hop {
    /// Serves the chosen store's type on a socket of a temporary folder.
    pub async fn start(chosen: &Chosen) -> Result<Hop> {
        let dir = tempfile::tempdir()
            .map_err(|e| statestore::Error::config("no temporary folder").with_source(e))?;
        let socket = socket_path(dir.path(), "bench");
        let (stop, stopped) = oneshot::channel::<()>();
        let bound = bind(&socket, Component::of_type(&chosen.registration)).await?;
        let server = tokio::spawn(bound.serve(async {
            let _ = stopped.await;
        }));
        let mut properties = chosen.properties.clone();
        properties.insert("socket", socket.to_string_lossy());
        let mut client = PluggableStore::new();
        client.init(&properties).await?;
        let direct_store = chosen.open().await?;
        let direct = Direct {
            store: direct_store.clone(),
            name: chosen.registration.name,
        };
        Ok(Hop {
            client: Arc::new(client),
            direct: Arc::new(direct),
            direct_store,
            stop,
            server,
            _dir: dir,
        })
    }

    /// Deletes the direct side's copies of `keys`, closes the direct store
    /// and stops the server, which closes the stores it made.
    pub async fn stop(self, keys: &[String], direct: &dyn Store) {
        for chunk in keys.chunks(500) {
            let reqs = chunk
                .iter()
                .map(|k| statestore::DeleteRequest::new(own(k)))
                .collect();
            let _ = direct.bulk_delete(reqs).await;
        }
        let _ = direct.close().await;
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

/// A store called directly, as the raw side of a row; its keys carry a
/// prefix of their own, apart from the socket side's.
struct Direct {
    store: Arc<dyn Store>,
    name: &'static str,
}

fn own(key: &str) -> String {
    format!("direct-{key}")
}

#[async_trait]
impl Baseline for Direct {
    async fn open(_properties: &statestore::Properties) -> Result<Self> {
        Err(statestore::Error::invalid(
            "the direct side is opened by Hop::start",
        ))
    }

    fn driver(&self) -> String {
        format!("{} called directly, no socket", self.name)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self
            .store
            .get(GetRequest::new(own(key)))
            .await?
            .map(|i| i.value))
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        self.store
            .set(SetRequest::new(own(key), value))
            .await
            .map(drop)
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        let reqs = keys.iter().map(|k| GetRequest::new(own(k))).collect();
        let found = self.store.bulk_get(reqs).await?;
        Ok(found
            .iter()
            .filter(|r| matches!(r.result, Ok(Some(_))))
            .count())
    }

    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        let reqs = items
            .iter()
            .map(|(k, v)| SetRequest::new(own(k), v.clone()))
            .collect();
        statestore::response::all_ok(self.store.bulk_set(reqs).await?).map(drop)
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        let ops: Vec<TransactionOp> = items
            .iter()
            .map(|(k, v)| SetRequest::new(own(k), v.clone()).into())
            .collect();
        self.store
            .transact(TransactRequest::new(ops))
            .await
            .map(drop)
    }

    /// Hop::stop deletes its keys and closes it.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
