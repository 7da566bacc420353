//! The raw `mongodb` side of `statestore bench`: what an application would
//! write against the driver without this SDK, in Dapr's document layout
//! (`{_id, value, _etag}`), in a collection of its own: `find_one` by key,
//! an upserting `update_one`, one `find` with `$in`, one `update` command
//! of many upserts, and the same in a session transaction.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use mongodb::{Client, Collection, Database};
use statestore_core::baseline::Baseline;
use statestore_core::{Bytes, Properties, Result};

use crate::config::Config;
use crate::error::map;
use crate::layout::{ETAG, ID, VALUE, new_etag};

/// Raw `mongodb` against the deployment named by the store's properties.
pub struct MongoBaseline {
    client: Client,
    db: Database,
    coll: Collection<Document>,
}

fn bytes(v: &Bytes) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: v.to_vec(),
    })
}

fn upserts(coll: &str, items: &[(String, Bytes)]) -> Document {
    let updates: Vec<Document> = items
        .iter()
        .map(|(k, v)| doc! { "q": { ID: k }, "u": { "$set": { VALUE: bytes(v), ETAG: new_etag() } }, "upsert": true })
        .collect();
    doc! { "update": coll, "updates": updates, "ordered": false }
}

#[async_trait]
impl Baseline for MongoBaseline {
    /// Connects as the store does, to a collection of the baseline's own.
    async fn open(properties: &Properties) -> Result<Self> {
        let config = Config::from_properties(properties)?;
        let client = Client::with_uri_str(&config.uri).await.map_err(map)?;
        let db = client.database(&config.database);
        let name = format!("statestore_bench_raw_{:08x}", fastrand::u32(..));
        let coll = db.collection::<Document>(&name);
        Ok(MongoBaseline { client, db, coll })
    }

    fn driver(&self) -> String {
        "mongodb 3.9 (find_one, update_one upsert, $in, update command)".into()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let doc = self.coll.find_one(doc! { ID: key }).await.map_err(map)?;
        Ok(doc.and_then(|d| {
            d.get_binary_generic(VALUE)
                .ok()
                .map(|b| Bytes::copy_from_slice(b))
        }))
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        self.coll
            .update_one(
                doc! { ID: key },
                doc! { "$set": { VALUE: bytes(&value), ETAG: new_etag() } },
            )
            .upsert(true)
            .await
            .map(drop)
            .map_err(map)
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        let cursor = self
            .coll
            .find(doc! { ID: { "$in": keys } })
            .await
            .map_err(map)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(map)?;
        Ok(docs.len())
    }

    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        self.db
            .run_command(upserts(self.coll.name(), items))
            .await
            .map(drop)
            .map_err(map)
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        let mut session = self.client.start_session().await.map_err(map)?;
        session.start_transaction().await.map_err(map)?;
        self.db
            .run_command(upserts(self.coll.name(), items))
            .session(&mut session)
            .await
            .map_err(map)?;
        session.commit_transaction().await.map_err(map)
    }

    async fn close(&self) -> Result<()> {
        self.coll.drop().await.map_err(map)?;
        self.client.clone().shutdown().await;
        Ok(())
    }
}
