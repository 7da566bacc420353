//! The driver calls: the client, the table check, and one function per
//! DynamoDB request the store makes.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest,
    KeySchemaElement, KeyType, KeysAndAttributes, Put, PutRequest, ReturnValue,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use futures::{StreamExt, TryStreamExt};
use statestore_core::check::Condition;
use statestore_core::{Error, Result};

use crate::config::Config;
use crate::error::{self, TRANSACTION_CANCELED, map};
use crate::layout::{self, Attributes, CONTENT_TYPE, ETAG, VALUE};

/// Keys in one BatchGetItem request (DynamoDB's limit).
pub const GET_BATCH: usize = 100;
/// Items in one BatchWriteItem request (DynamoDB's limit).
pub const WRITE_BATCH: usize = 25;
/// Single requests in flight at once for one bulk call.
const IN_FLIGHT: usize = 32;

/// A condition expression with its names and values.
#[derive(Debug, Clone, Default)]
pub struct Cond {
    expr: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// A condition as the SDK's builders take it: expression, names and
/// values, each `None` for no condition (DynamoDB refuses empty ones).
type Parts = (
    Option<String>,
    Option<HashMap<String, String>>,
    Option<HashMap<String, AttributeValue>>,
);

fn parts(cond: Option<Cond>) -> Parts {
    match cond {
        None => (None, None, None),
        Some(c) => (
            Some(c.expr),
            Some(c.names),
            Some(c.values).filter(|v| !v.is_empty()),
        ),
    }
}

/// What a transaction item is to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Replace the item.
    Put(Attributes),
    /// Delete it.
    Delete,
    /// Only check the condition.
    Check,
}

/// Why a transaction was refused: the position of the item whose
/// condition failed, an item DynamoDB refused for another reason, or an
/// error of the whole request.
pub enum TxFailure {
    /// The item at this position failed its condition.
    Condition(usize),
    /// The item at this position was refused (throttled, too large, ...).
    Item(usize, Error),
    /// Anything else.
    Other(Error),
}

/// The client and the table's names.
pub struct Core {
    client: Client,
    /// The table.
    pub table: String,
    /// The hash-key attribute.
    pub key_attr: String,
    /// The TTL attribute, when TTL is offered.
    pub ttl_attr: Option<String>,
    /// The bound of every operation.
    pub timeout: Duration,
}

fn built(e: BuildError) -> Error {
    Error::backend(format!("could not build the request: {e}"))
}

impl Core {
    /// Builds the client (rustls on ring; static keys or the default chain),
    /// then creates the table if asked and checks its key schema.
    pub async fn connect(config: &Config) -> Result<Core> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(k) = &config.keys {
            loader = loader.credentials_provider(Credentials::new(
                &k.access_key,
                &k.secret_key,
                k.session_token.clone(),
                None,
                "statestore",
            ));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(Error::config(
                "no region: set the property region, or AWS_REGION, or a region in the AWS profile",
            ));
        }
        let core = Core {
            client: Client::new(&sdk),
            table: config.table.clone(),
            key_attr: config.partition_key.clone(),
            ttl_attr: config.ttl_attribute.clone(),
            timeout: config.timeout,
        };
        if config.create_table {
            core.create_table().await?;
        }
        core.check_table().await?;
        Ok(core)
    }

    /// Creates the table on demand and enables TTL; another instance doing
    /// the same at once is no error.
    async fn create_table(&self) -> Result<()> {
        let key = KeySchemaElement::builder()
            .attribute_name(&self.key_attr)
            .key_type(KeyType::Hash)
            .build()
            .map_err(built)?;
        let attr = AttributeDefinition::builder()
            .attribute_name(&self.key_attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(built)?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .key_schema(key)
            .attribute_definitions(attr)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        if let Err(e) = created
            && error::code(&e) != Some("ResourceInUseException")
        {
            return Err(map(e).map_message(|m| format!("creating table {:?}: {m}", self.table)));
        }
        for _ in 0..600 {
            let status = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(map)?
                .table
                .and_then(|t| t.table_status);
            if status == Some(TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(ttl) = &self.ttl_attr {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(ttl)
                .enabled(true)
                .build()
                .map_err(built)?;
            let enabled = self
                .client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(spec)
                .send()
                .await;
            // Already enabled (by us or another instance) is a
            // ValidationException; so is another attribute already chosen,
            // which is the user's to settle: say so, do not fail.
            if let Err(e) = enabled {
                if error::code(&e) != Some("ValidationException") {
                    return Err(map(e).map_message(|m| format!("enabling TTL: {m}")));
                }
                tracing::debug!(store = crate::NAME, table = %self.table, "TTL was already enabled");
            }
        }
        Ok(())
    }

    /// Checks that the table exists with the hash key `partitionKey` of
    /// type S and no sort key. Without DescribeTable permission, a read of
    /// one item checks what can be checked.
    async fn check_table(&self) -> Result<()> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        let table = match described {
            Ok(out) => out.table,
            Err(e) if error::code(&e) == Some("AccessDeniedException") => {
                return self
                    .get(&format!("statestore-probe-{:x}", fastrand::u64(..)))
                    .await
                    .map(drop);
            }
            Err(e) => {
                let e = map(e);
                return Err(match e.kind() {
                    statestore_core::ErrorKind::Config => e.map_message(|_| {
                        format!(
                            "table {:?} does not exist: create it (hash key {:?}, type S) or set createTable to true for development",
                            self.table, self.key_attr
                        )
                    }),
                    _ => e,
                });
            }
        };
        let schema = table.as_ref().map(|t| t.key_schema()).unwrap_or_default();
        let hash = schema.iter().find(|k| k.key_type == KeyType::Hash);
        let typ = table
            .as_ref()
            .map(|t| t.attribute_definitions())
            .unwrap_or_default()
            .iter()
            .find(|a| Some(a.attribute_name.as_str()) == hash.map(|h| h.attribute_name.as_str()))
            .map(|a| a.attribute_type.clone());
        let ok = schema.len() == 1
            && hash.is_some_and(|h| h.attribute_name == self.key_attr)
            && typ == Some(ScalarAttributeType::S);
        if !ok {
            let found: Vec<String> = schema
                .iter()
                .map(|k| format!("{} ({})", k.attribute_name, k.key_type.as_str()))
                .collect();
            return Err(Error::config(format!(
                "table {:?} has the key {}; the store needs one hash key named {:?} (property partitionKey) of type S",
                self.table,
                found.join(", "),
                self.key_attr
            )));
        }
        Ok(())
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The key of an item.
    pub fn key(&self, key: &str) -> Attributes {
        HashMap::from([(self.key_attr.clone(), AttributeValue::S(key.to_owned()))])
    }

    /// The item of a write.
    pub fn item(
        &self,
        key: &str,
        value: &statestore_core::Bytes,
        etag: &str,
        expiry: Option<i64>,
        content_type: Option<&str>,
    ) -> Attributes {
        let mut item = self.key(key);
        item.insert(VALUE.to_owned(), layout::encode(value));
        item.insert(ETAG.to_owned(), AttributeValue::S(etag.to_owned()));
        if let (Some(attr), Some(at)) = (&self.ttl_attr, expiry) {
            item.insert(attr.clone(), AttributeValue::N(at.to_string()));
        }
        if let Some(ct) = content_type {
            item.insert(CONTENT_TYPE.to_owned(), AttributeValue::S(ct.to_owned()));
        }
        item
    }

    /// The condition expression of a [`Condition`] at `now` (epoch
    /// seconds): an expired item counts as absent.
    pub fn condition(&self, c: &Condition, now: i64) -> Option<Cond> {
        let mut cond = Cond::default();
        cond.names.insert("#k".into(), self.key_attr.clone());
        let live_ttl = self.ttl_attr.as_ref().map(|ttl| {
            cond.names.insert("#t".into(), ttl.clone());
            cond.values
                .insert(":now".into(), AttributeValue::N(now.to_string()));
            cond.values
                .insert(":n".into(), AttributeValue::S("N".into()));
        });
        match c {
            Condition::Always => return None,
            Condition::IfAbsent => {
                cond.expr = match live_ttl {
                    Some(()) => {
                        "attribute_not_exists(#k) OR (attribute_type(#t, :n) AND #t <= :now)".into()
                    }
                    None => "attribute_not_exists(#k)".into(),
                };
            }
            Condition::IfMatch(e) => {
                cond.names.remove("#k");
                cond.names.insert("#e".into(), ETAG.into());
                cond.values
                    .insert(":e".into(), AttributeValue::S(e.as_str().to_owned()));
                cond.expr = match live_ttl {
                    Some(()) => "#e = :e AND (attribute_not_exists(#t) OR NOT attribute_type(#t, :n) OR #t > :now)".into(),
                    None => "#e = :e".into(),
                };
            }
        }
        Some(cond)
    }

    /// Reads one item, strongly consistent (see the crate docs: an eventual
    /// read may miss a write just made, which the contract does not allow).
    pub async fn get(&self, key: &str) -> Result<Option<Attributes>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map)?;
        Ok(out.item)
    }

    /// Reads many items by BatchGetItem, 100 distinct keys a request, and
    /// asks again for unprocessed keys, backing off, until the caller's
    /// deadline.
    pub async fn batch_get(&self, keys: &[String]) -> Result<HashMap<String, Attributes>> {
        let mut distinct: Vec<&String> = keys.iter().collect();
        distinct.sort();
        distinct.dedup();
        let chunks: Vec<Vec<Attributes>> = distinct
            .chunks(GET_BATCH)
            .map(|c| c.iter().map(|k| self.key(k)).collect())
            .collect();
        let found: Vec<Vec<Attributes>> = futures::stream::iter(chunks)
            .map(|chunk| self.batch_get_chunk(chunk))
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await?;
        let mut out = HashMap::new();
        for item in found.into_iter().flatten() {
            if let Some(AttributeValue::S(k)) = item.get(&self.key_attr) {
                out.insert(k.clone(), item);
            }
        }
        Ok(out)
    }

    async fn batch_get_chunk(&self, mut keys: Vec<Attributes>) -> Result<Vec<Attributes>> {
        let mut found = Vec::with_capacity(keys.len());
        let mut pause = Duration::from_millis(10);
        while !keys.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
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
            if let Some(items) = out.responses.as_mut().and_then(|r| r.remove(&self.table)) {
                found.extend(items);
            }
            if let Some(left) = out
                .unprocessed_keys
                .as_mut()
                .and_then(|u| u.remove(&self.table))
            {
                keys = left.keys;
                if !keys.is_empty() {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        }
        Ok(found)
    }

    /// One conditional or unconditional put.
    pub async fn put(&self, item: Attributes, cond: Option<Cond>) -> Result<()> {
        let (expr, names, values) = parts(cond);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map(drop)
            .map_err(map)
    }

    /// One conditional or unconditional delete; returns the deleted item.
    pub async fn delete(&self, key: &str, cond: Option<Cond>) -> Result<Option<Attributes>> {
        let (expr, names, values) = parts(cond);
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(map)?;
        Ok(out.attributes)
    }

    /// Unconditional puts and deletes of distinct keys by BatchWriteItem,
    /// 25 a request, several requests at once; unprocessed items are sent
    /// again, backing off, until the caller's deadline. One outcome per
    /// request, in order.
    pub async fn batch_write(&self, writes: Vec<(String, Option<Attributes>)>) -> Vec<Result<()>> {
        let chunks: Vec<Vec<(String, Option<Attributes>)>> =
            writes.chunks(WRITE_BATCH).map(<[_]>::to_vec).collect();
        let done: Vec<Vec<Result<()>>> = futures::stream::iter(chunks)
            .map(|chunk| self.batch_write_chunk(chunk))
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        done.into_iter().flatten().collect()
    }

    async fn batch_write_chunk(&self, chunk: Vec<(String, Option<Attributes>)>) -> Vec<Result<()>> {
        let n = chunk.len();
        let requests: Result<Vec<WriteRequest>> = chunk
            .iter()
            .map(|(key, item)| {
                Ok(match item {
                    Some(item) => WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .map_err(built)?,
                        )
                        .build(),
                    None => WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(self.key(key)))
                                .build()
                                .map_err(built)?,
                        )
                        .build(),
                })
            })
            .collect();
        let mut requests = match requests {
            Ok(r) => r,
            Err(e) => return (0..n).map(|_| Err(e.copied())).collect(),
        };
        let mut pause = Duration::from_millis(10);
        while !requests.is_empty() {
            let sent = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut requests))
                .send()
                .await;
            match sent {
                Ok(mut out) => {
                    if let Some(left) = out
                        .unprocessed_items
                        .as_mut()
                        .and_then(|u| u.remove(&self.table))
                    {
                        requests = left;
                        if !requests.is_empty() {
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_millis(500));
                        }
                    }
                }
                // One item DynamoDB refuses (too large, say) fails the whole
                // request: send each alone, so that each gets its own answer.
                Err(e) if error::code(&e) == Some("ValidationException") && n > 1 => {
                    return futures::stream::iter(chunk)
                        .map(|(key, item)| async move {
                            match item {
                                Some(item) => self.put(item, None).await,
                                None => self.delete(&key, None).await.map(drop),
                            }
                        })
                        .buffered(IN_FLIGHT)
                        .collect()
                        .await;
                }
                Err(e) => {
                    let e = map(e);
                    return (0..n).map(|_| Err(e.copied())).collect();
                }
            }
        }
        (0..n).map(|_| Ok(())).collect()
    }

    /// One TransactWriteItems of items on distinct keys, with an idempotency
    /// token so that the SDK's own retries never apply it twice.
    pub async fn transact(
        &self,
        items: Vec<(String, Action, Option<Cond>)>,
    ) -> std::result::Result<(), TxFailure> {
        let mut request = Vec::with_capacity(items.len());
        for (key, action, cond) in items {
            let (expr, names, values) = parts(cond);
            let item = match action {
                Action::Put(item) => TransactWriteItem::builder().put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .set_condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(|e| TxFailure::Other(built(e)))?,
                ),
                Action::Delete => TransactWriteItem::builder().delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(self.key(&key)))
                        .set_condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(|e| TxFailure::Other(built(e)))?,
                ),
                Action::Check => TransactWriteItem::builder().condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(self.key(&key)))
                        .set_condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(|e| TxFailure::Other(built(e)))?,
                ),
            };
            request.push(item.build());
        }
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(request))
            .client_request_token(token)
            .send()
            .await;
        let e = match sent {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error()
        {
            let reasons = c.cancellation_reasons();
            if let Some(i) = reasons
                .iter()
                .position(|r| r.code() == Some("ConditionalCheckFailed"))
            {
                return Err(TxFailure::Condition(i));
            }
            if let Some((i, r)) = reasons
                .iter()
                .enumerate()
                .find(|(_, r)| r.code().is_some_and(|c| c != "None"))
            {
                let code = r.code().unwrap_or(TRANSACTION_CANCELED);
                return Err(TxFailure::Item(i, error::service(code, r.message())));
            }
        }
        Err(TxFailure::Other(map(e)))
    }

    /// Every key of the table that starts with `prefix` and has not
    /// expired, by a scan of the whole table (a page at a time).
    pub async fn scan_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut names = HashMap::from([("#k".to_owned(), self.key_attr.clone())]);
        let mut projection = "#k".to_owned();
        if let Some(ttl) = &self.ttl_attr {
            names.insert("#t".into(), ttl.clone());
            projection.push_str(", #t");
        }
        let mut values = HashMap::new();
        let filter = (!prefix.is_empty()).then(|| {
            values.insert(":p".to_owned(), AttributeValue::S(prefix.to_owned()));
            "begins_with(#k, :p)".to_owned()
        });
        let mut keys = Vec::new();
        let mut start: Option<Attributes> = None;
        let now = SystemTime::now();
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .projection_expression(&projection)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()).filter(|v| !v.is_empty()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(map)?;
            for item in out.items() {
                if layout::expired(item, self.ttl_attr.as_deref(), now) {
                    continue;
                }
                if let Some(AttributeValue::S(k)) = item.get(&self.key_attr) {
                    keys.push(k.clone());
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(keys)
    }

    /// Checks the table can be reached.
    pub async fn ping(&self) -> Result<()> {
        self.get("statestore-ping").await.map(drop)
    }
}
