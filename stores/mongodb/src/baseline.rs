//! The raw `mongodb` side of `statestore bench`: what an application would
//! write against the driver without this SDK, in Dapr's document layout
//! (`{_id, value, _etag}`), in a collection of its own: `find_one` by key,
//! an upserting `update_one`, one `find` with `$in`, one `update` command
//! of many upserts, and the same in a session transaction, tried again
//! while the server calls its error transient (a write conflict), as
//! MongoDB's documentation asks of an application and as the store does.
//!
//! With `STATESTORE_BENCH_RAW_ROW=store` ([`store_row`]) each write is the
//! store's document for a value without a ttl or content type (`_ttl` null
//! and the `_statestore` field with the etag), on a collection with the
//! store's TTL index on `_ttl`.

use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use mongodb::error::TRANSIENT_TRANSACTION_ERROR;
use mongodb::{Client, Collection, Database};
use statestore_core::baseline::{Baseline, store_row};
use statestore_core::{Bytes, Properties, Result};
use tokio::time::Instant;

use crate::config::Config;
use crate::core::{backoff, ttl_index};
use crate::error::map;
use crate::layout::{ETAG, EXTRA, ID, TTL, VALUE, new_etag};

/// Raw `mongodb` against the deployment named by the store's properties.
pub struct MongoBaseline {
    client: Client,
    db: Database,
    coll: Collection<Document>,
    /// The store's operation timeout: a transaction is tried again for
    /// half of it, as the store's are.
    timeout: Duration,
    /// Whether writes are the store's documents ([`store_row`]).
    store_doc: bool,
}

fn bytes(v: &Bytes) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: v.to_vec(),
    })
}

/// The update of one key: a `$set` of value and etag, or the store's whole
/// document.
fn update(value: &Bytes, store_doc: bool) -> Document {
    let etag = new_etag();
    if store_doc {
        doc! { VALUE: bytes(value), ETAG: &etag, TTL: Bson::Null, EXTRA: { "etag": &etag } }
    } else {
        doc! { "$set": { VALUE: bytes(value), ETAG: etag } }
    }
}

fn upserts(coll: &str, items: &[(String, Bytes)], store_doc: bool) -> Document {
    let updates: Vec<Document> = items
        .iter()
        .map(|(k, v)| doc! { "q": { ID: k }, "u": update(v, store_doc), "upsert": true })
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
        let store_doc = store_row();
        if store_doc {
            coll.create_index(ttl_index()).await.map_err(map)?;
        }
        Ok(MongoBaseline {
            client,
            db,
            coll,
            timeout: config.timeout,
            store_doc,
        })
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
        let (filter, update) = (doc! { ID: key }, update(&value, self.store_doc));
        if self.store_doc {
            // A whole document is a replacement, not an update.
            return self
                .coll
                .replace_one(filter, update)
                .upsert(true)
                .await
                .map(drop)
                .map_err(map);
        }
        self.coll
            .update_one(filter, update)
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
            .run_command(upserts(self.coll.name(), items, self.store_doc))
            .await
            .map(drop)
            .map_err(map)
    }

    // Without trying again, 50 tasks writing 100 of the same 10,000 keys
    // lost about 94% of their transactions to write conflicts, and the
    // ratio compared the store's committed work with the few that passed.
    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        let deadline = Instant::now() + self.timeout / 2;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.transact_once(items).await {
                Err(e) if e.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
                    let pause = backoff(attempt);
                    if Instant::now() + pause >= deadline {
                        return Err(map(e));
                    }
                    tokio::time::sleep(pause).await;
                }
                other => return other.map_err(map),
            }
        }
    }

    async fn close(&self) -> Result<()> {
        self.coll.drop().await.map_err(map)?;
        self.client.clone().shutdown().await;
        Ok(())
    }
}

impl MongoBaseline {
    async fn transact_once(&self, items: &[(String, Bytes)]) -> mongodb::error::Result<()> {
        let mut session = self.client.start_session().await?;
        session.start_transaction().await?;
        let written = self
            .db
            .run_command(upserts(self.coll.name(), items, self.store_doc))
            .session(&mut session)
            .await;
        if let Err(e) = written {
            let _ = session.abort_transaction().await;
            return Err(e);
        }
        session.commit_transaction().await
    }
}
