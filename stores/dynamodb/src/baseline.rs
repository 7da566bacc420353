//! The raw `aws-sdk-dynamodb` side of `statestore bench`: what an
//! application would write against the SDK without this one, in Dapr's item
//! layout (`{key, value, etag}`), on the same table and client settings:
//! GetItem and BatchGetItem (100 keys a request) with consistent reads, as
//! the store's; PutItem; BatchWriteItem (25 items a request), several
//! requests at once; TransactWriteItems.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use statestore_core::baseline::Baseline;
use statestore_core::{Bytes, Error, Properties, Result};

use crate::config::Config;
use crate::core::{Core, GET_BATCH, WRITE_BATCH};
use crate::error::map;
use crate::layout::{ETAG, VALUE, decode, new_etag};

/// Raw `aws-sdk-dynamodb` against the table named by the store's
/// properties.
pub struct DynamoBaseline {
    client: Client,
    table: String,
    key: String,
}

/// The last write of each key: BatchWriteItem and TransactWriteItems
/// refuse a key twice in one request.
fn last_of_each(items: &[(String, Bytes)]) -> Vec<(String, Bytes)> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (k, _)) in items.iter().enumerate() {
        last.insert(k, i);
    }
    items
        .iter()
        .enumerate()
        .filter(|(i, (k, _))| last[k.as_str()] == *i)
        .map(|(_, item)| item.clone())
        .collect()
}

fn built(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::backend(e.to_string())
}

impl DynamoBaseline {
    fn item(&self, k: &str, v: &Bytes) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (self.key.clone(), AttributeValue::S(k.to_owned())),
            (VALUE.to_owned(), AttributeValue::B(v.to_vec().into())),
            (ETAG.to_owned(), AttributeValue::S(new_etag())),
        ])
    }

    fn key_of(&self, k: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(self.key.clone(), AttributeValue::S(k.to_owned()))])
    }
}

impl DynamoBaseline {
    async fn get_chunk(&self, chunk: Vec<String>) -> Result<usize> {
        let mut left: Vec<_> = chunk.iter().map(|k| self.key_of(k)).collect();
        let mut n = 0;
        while !left.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut left)))
                .consistent_read(true)
                .build()
                .map_err(built)?;
            let mut out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(map)?;
            n += out
                .responses
                .as_ref()
                .and_then(|r| r.get(&self.table))
                .map_or(0, Vec::len);
            if let Some(u) = out
                .unprocessed_keys
                .as_mut()
                .and_then(|u| u.remove(&self.table))
            {
                left = u.keys;
            }
        }
        Ok(n)
    }

    async fn set_chunk(&self, chunk: Vec<(String, Bytes)>) -> Result<()> {
        let mut left: Vec<WriteRequest> = chunk
            .iter()
            .map(|(k, v)| {
                let put = PutRequest::builder()
                    .set_item(Some(self.item(k, v)))
                    .build();
                put.map(|p| WriteRequest::builder().put_request(p).build())
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(built)?;
        while !left.is_empty() {
            let mut out = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut left))
                .send()
                .await
                .map_err(map)?;
            if let Some(u) = out
                .unprocessed_items
                .as_mut()
                .and_then(|u| u.remove(&self.table))
            {
                left = u;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Baseline for DynamoBaseline {
    /// Connects as the store does.
    async fn open(properties: &Properties) -> Result<Self> {
        let config = Config::from_properties(properties)?;
        let core = Core::connect(&config).await?;
        Ok(DynamoBaseline {
            client: core.client().clone(),
            table: config.table,
            key: config.partition_key,
        })
    }

    fn driver(&self) -> String {
        "aws-sdk-dynamodb 1 (GetItem, PutItem, BatchGetItem, BatchWriteItem, TransactWriteItems)"
            .into()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key_of(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map)?;
        Ok(out.item.map(|i| decode(&i)))
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(key, &value)))
            .send()
            .await
            .map(drop)
            .map_err(map)
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        // BatchGetItem refuses a key twice in one request.
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let chunks: Vec<Vec<String>> = keys.chunks(GET_BATCH).map(<[_]>::to_vec).collect();
        let counts: Vec<usize> = futures::stream::iter(chunks)
            .map(|chunk| self.get_chunk(chunk))
            .buffer_unordered(32)
            .try_collect()
            .await?;
        Ok(counts.into_iter().sum())
    }

    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        let items = last_of_each(items);
        let chunks: Vec<Vec<(String, Bytes)>> =
            items.chunks(WRITE_BATCH).map(<[_]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.set_chunk(chunk))
            .buffer_unordered(32)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        let items = last_of_each(items);
        for chunk in items.chunks(100) {
            let writes = chunk
                .iter()
                .map(|(k, v)| {
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(self.item(k, v)))
                        .build()
                        .map(|p| TransactWriteItem::builder().put(p).build())
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(built)?;
            self.client
                .transact_write_items()
                .set_transact_items(Some(writes))
                .send()
                .await
                .map_err(map)?;
        }
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
