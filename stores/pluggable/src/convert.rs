//! Between the protocol's messages and the contract's requests and answers,
//! both ways: the client writes what the server reads (docs/pluggable.md,
//! *How the contract travels*).

use std::collections::HashMap;

use serde_json::{Map, Value};
use statestore_core::check::{self, TTL_IN_SECONDS};
use statestore_core::query::{Filter, Order, Page, Query, QueryItem, QueryResponse, Sort};
use statestore_core::response::TTL_EXPIRE_TIME;
use statestore_core::{
    Concurrency, Consistency, DeleteRequest, ETag, Error, GetRequest, Item, Metadata, Result,
    SetRequest, TransactionOp,
};

use crate::proto as pb;
use pb::state_options::{StateConcurrency, StateConsistency};

fn metadata_in(m: HashMap<String, String>) -> Metadata {
    m.into_iter().collect()
}

fn metadata_out(m: Metadata) -> HashMap<String, String> {
    m.into_iter().collect()
}

/// An empty etag is no etag, as in the contract.
fn etag_in(e: Option<pb::Etag>) -> Option<ETag> {
    e.map(|e| e.value).filter(|v| !v.is_empty()).map(ETag::from)
}

fn etag_out(e: Option<ETag>) -> Option<pb::Etag> {
    e.map(|e| pb::Etag {
        value: e.into_string(),
    })
}

fn consistency_in(v: i32) -> Result<Consistency> {
    match StateConsistency::try_from(v) {
        Ok(StateConsistency::ConsistencyStrong) => Ok(Consistency::Strong),
        Ok(_) => Ok(Consistency::Eventual),
        Err(_) => Err(Error::invalid(format!(
            "consistency {v} is not a StateConsistency value (0, 1 or 2)"
        ))),
    }
}

fn consistency_out(c: Consistency) -> i32 {
    match c {
        Consistency::Eventual => StateConsistency::ConsistencyEventual as i32,
        Consistency::Strong => StateConsistency::ConsistencyStrong as i32,
    }
}

fn options_in(o: Option<pb::StateOptions>) -> Result<(Concurrency, Consistency)> {
    let o = o.unwrap_or_default();
    let concurrency = match StateConcurrency::try_from(o.concurrency) {
        Ok(StateConcurrency::ConcurrencyFirstWrite) => Concurrency::FirstWrite,
        Ok(_) => Concurrency::LastWrite,
        Err(_) => {
            return Err(Error::invalid(format!(
                "options.concurrency {} is not a StateConcurrency value (0, 1 or 2)",
                o.concurrency
            )));
        }
    };
    Ok((concurrency, consistency_in(o.consistency)?))
}

fn options_out(concurrency: Concurrency, consistency: Consistency) -> Option<pb::StateOptions> {
    let concurrency = match concurrency {
        Concurrency::LastWrite => StateConcurrency::ConcurrencyLastWrite,
        Concurrency::FirstWrite => StateConcurrency::ConcurrencyFirstWrite,
    };
    Some(pb::StateOptions {
        concurrency: concurrency as i32,
        consistency: consistency_out(consistency),
    })
}

fn text_in(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

/// A `GetRequest` as the server reads it.
pub fn get_in(r: pb::GetRequest) -> Result<GetRequest> {
    Ok(GetRequest {
        consistency: consistency_in(r.consistency)?,
        metadata: metadata_in(r.metadata),
        key: r.key,
    })
}

/// A `GetRequest` as the client sends it.
pub fn get_out(r: GetRequest) -> pb::GetRequest {
    pb::GetRequest {
        key: r.key,
        metadata: metadata_out(r.metadata),
        consistency: consistency_out(r.consistency),
    }
}

/// A `SetRequest` as the server reads it; a ttl travels as `ttlInSeconds`.
pub fn set_in(r: pb::SetRequest) -> Result<SetRequest> {
    let (concurrency, consistency) = options_in(r.options)?;
    Ok(SetRequest {
        key: r.key,
        value: r.value.into(),
        content_type: text_in(r.content_type),
        etag: etag_in(r.etag),
        concurrency,
        consistency,
        ttl: None,
        metadata: metadata_in(r.metadata),
    })
}

/// A `SetRequest` as the client sends it: the typed ttl becomes Dapr's
/// `ttlInSeconds`, after the contract's check that the two agree when both
/// are given (the metadata alone is the component's to check).
pub fn set_out(r: SetRequest) -> Result<pb::SetRequest> {
    let mut metadata = r.metadata;
    if r.ttl.is_some()
        && let Some(ttl) = check::ttl(r.ttl, &metadata)?
    {
        metadata.insert(TTL_IN_SECONDS.to_owned(), ttl.as_seconds().to_string());
    }
    Ok(pb::SetRequest {
        key: r.key,
        value: r.value.to_vec(),
        etag: etag_out(r.etag),
        metadata: metadata_out(metadata),
        options: options_out(r.concurrency, r.consistency),
        content_type: r.content_type.unwrap_or_default(),
    })
}

/// A `DeleteRequest` as the server reads it.
pub fn delete_in(r: pb::DeleteRequest) -> Result<DeleteRequest> {
    let (concurrency, consistency) = options_in(r.options)?;
    Ok(DeleteRequest {
        key: r.key,
        etag: etag_in(r.etag),
        concurrency,
        consistency,
        metadata: metadata_in(r.metadata),
    })
}

/// A `DeleteRequest` as the client sends it.
pub fn delete_out(r: DeleteRequest) -> pb::DeleteRequest {
    pb::DeleteRequest {
        key: r.key,
        etag: etag_out(r.etag),
        metadata: metadata_out(r.metadata),
        options: options_out(r.concurrency, r.consistency),
    }
}

/// A transaction's operation as the server reads it.
pub fn op_in(index: usize, op: pb::TransactionalStateOperation) -> Result<TransactionOp> {
    use pb::transactional_state_operation::Request;
    match op.request {
        Some(Request::Set(r)) => Ok(TransactionOp::Set(set_in(r)?)),
        Some(Request::Delete(r)) => Ok(TransactionOp::Delete(delete_in(r)?)),
        None => Err(Error::invalid(format!(
            "operations[{index}] has neither set nor delete"
        ))),
    }
}

/// A transaction's operation as the client sends it.
pub fn op_out(op: TransactionOp) -> Result<pb::TransactionalStateOperation> {
    use pb::transactional_state_operation::Request;
    let request = match op {
        TransactionOp::Set(r) => Request::Set(set_out(r)?),
        TransactionOp::Delete(r) => Request::Delete(delete_out(r)),
    };
    Ok(pb::TransactionalStateOperation {
        request: Some(request),
    })
}

/// A found item as the server answers it: the expiry travels as Dapr's
/// `ttlExpireTime` metadata.
pub fn item_out(item: Option<Item>) -> pb::GetResponse {
    let Some(item) = item else {
        return pb::GetResponse::default();
    };
    pb::GetResponse {
        metadata: metadata_out(item.dapr_metadata()),
        data: item.value.to_vec(),
        etag: etag_out(item.etag),
        content_type: item.content_type.unwrap_or_default(),
    }
}

/// An answer as the client reads it: no data and no etag is a missing key,
/// as daprd reads it.
pub fn item_in(
    data: Vec<u8>,
    etag: Option<pb::Etag>,
    metadata: HashMap<String, String>,
    content_type: String,
) -> Option<Item> {
    let etag = etag_in(etag);
    if data.is_empty() && etag.is_none() {
        return None;
    }
    let mut metadata = metadata_in(metadata);
    let expires_at = metadata
        .get(TTL_EXPIRE_TIME)
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
    if expires_at.is_some() {
        metadata.remove(TTL_EXPIRE_TIME);
    }
    Some(Item {
        value: data.into(),
        etag,
        content_type: text_in(content_type),
        expires_at,
        metadata,
    })
}

/// One key of a bulk get as the server answers it.
pub fn bulk_item_out(key: String, item: Result<Option<Item>>) -> pb::BulkStateItem {
    match item {
        Ok(item) => {
            let r = item_out(item);
            pb::BulkStateItem {
                key,
                data: r.data,
                etag: r.etag,
                error: String::new(),
                metadata: r.metadata,
                content_type: r.content_type,
            }
        }
        Err(e) => pb::BulkStateItem {
            key,
            error: format!("{e:#}"),
            ..Default::default()
        },
    }
}

/// The query as the server reads it: each filter entry's `Any` holds its
/// operand as JSON text, as daprd writes it.
pub fn query_in(q: Option<pb::Query>) -> Result<Query> {
    let q = q.unwrap_or_default();
    let mut filter = Map::new();
    for (op, any) in q.filter {
        let operand: Value = serde_json::from_slice(&any.value).map_err(|e| {
            Error::invalid(format!("query: filter {op:?}: its Any value is not JSON"))
                .with_source(e)
        })?;
        filter.insert(op, operand);
    }
    let filter = if filter.is_empty() {
        None
    } else {
        Some(Filter::from_value(&Value::Object(filter))?)
    };
    let sort = q
        .sort
        .into_iter()
        .map(|s| {
            let order = match pb::sorting::Order::try_from(s.order) {
                Ok(pb::sorting::Order::Asc) => Order::Asc,
                Ok(pb::sorting::Order::Desc) => Order::Desc,
                Err(_) => {
                    return Err(Error::invalid(format!(
                        "query: sort {:?}: order {} is neither ASC (0) nor DESC (1)",
                        s.key, s.order
                    )));
                }
            };
            Ok(Sort { key: s.key, order })
        })
        .collect::<Result<_>>()?;
    let p = q.pagination.unwrap_or_default();
    let limit = match p.limit {
        0 => None,
        n => Some(u32::try_from(n).map_err(|_| {
            Error::invalid(format!(
                "query: pagination.limit {n} is out of range (0 to {})",
                u32::MAX
            ))
        })?),
    };
    let query = Query {
        filter,
        sort,
        page: Page {
            limit,
            token: text_in(p.token),
        },
    };
    query.check()?;
    Ok(query)
}

/// A filter as Dapr's query language writes it.
fn filter_json(f: &Filter) -> (&'static str, Value) {
    let leaf = |path: &str, v: Value| Value::Object(Map::from_iter([(path.to_owned(), v)]));
    let list = |fs: &[Filter]| {
        Value::Array(
            fs.iter()
                .map(|f| {
                    let (op, v) = filter_json(f);
                    Value::Object(Map::from_iter([(op.to_owned(), v)]))
                })
                .collect(),
        )
    };
    match f {
        Filter::Eq(p, v) => ("EQ", leaf(p, v.clone())),
        Filter::Neq(p, v) => ("NEQ", leaf(p, v.clone())),
        Filter::Gt(p, v) => ("GT", leaf(p, v.clone())),
        Filter::Gte(p, v) => ("GTE", leaf(p, v.clone())),
        Filter::Lt(p, v) => ("LT", leaf(p, v.clone())),
        Filter::Lte(p, v) => ("LTE", leaf(p, v.clone())),
        Filter::In(p, vs) => ("IN", leaf(p, Value::Array(vs.clone()))),
        Filter::And(fs) => ("AND", list(fs)),
        Filter::Or(fs) => ("OR", list(fs)),
    }
}

/// The query as the client sends it.
pub fn query_out(q: Query) -> pb::Query {
    let filter = q
        .filter
        .iter()
        .map(|f| {
            let (op, v) = filter_json(f);
            let any = prost_types::Any {
                type_url: String::new(),
                value: v.to_string().into_bytes(),
            };
            (op.to_owned(), any)
        })
        .collect();
    let sort = q
        .sort
        .into_iter()
        .map(|s| pb::Sorting {
            key: s.key,
            order: match s.order {
                Order::Asc => pb::sorting::Order::Asc as i32,
                Order::Desc => pb::sorting::Order::Desc as i32,
            },
        })
        .collect();
    pb::Query {
        filter,
        sort,
        pagination: Some(pb::Pagination {
            limit: q.page.limit.map(i64::from).unwrap_or(0),
            token: q.page.token.unwrap_or_default(),
        }),
    }
}

/// A query's answer as the server sends it.
pub fn query_response_out(r: QueryResponse) -> pb::QueryResponse {
    pb::QueryResponse {
        items: r
            .results
            .into_iter()
            .map(|i| pb::QueryItem {
                key: i.key,
                data: i.value.to_vec(),
                etag: etag_out(i.etag),
                error: i.error.unwrap_or_default(),
                content_type: String::new(),
            })
            .collect(),
        token: r.token.unwrap_or_default(),
        metadata: metadata_out(r.metadata),
    }
}

/// A query's answer as the client reads it.
pub fn query_response_in(r: pb::QueryResponse) -> QueryResponse {
    QueryResponse {
        results: r
            .items
            .into_iter()
            .map(|i| QueryItem {
                key: i.key,
                value: i.data.into(),
                etag: etag_in(i.etag),
                error: text_in(i.error),
            })
            .collect(),
        token: text_in(r.token),
        metadata: metadata_in(r.metadata),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::Ttl;

    #[test]
    fn a_set_travels_whole() {
        let req = SetRequest::new("k", "v")
            .etag("e1")
            .first_write()
            .consistency(Consistency::Strong)
            .content_type("application/json")
            .ttl(Ttl::Seconds(5))
            .metadata("partitionKey", "p");
        let back = set_in(set_out(req.clone()).unwrap()).unwrap();
        assert_eq!(back.key, "k");
        assert_eq!(back.value, req.value);
        assert_eq!(back.etag, req.etag);
        assert_eq!(back.concurrency, Concurrency::FirstWrite);
        assert_eq!(back.consistency, Consistency::Strong);
        assert_eq!(back.content_type.as_deref(), Some("application/json"));
        assert_eq!(back.metadata.get("ttlInSeconds").unwrap(), "5");
        assert_eq!(back.metadata.get("partitionKey").unwrap(), "p");
        // Two ttls that disagree are the contract's error, before sending.
        let twice = SetRequest::new("k", "v")
            .ttl(Ttl::Seconds(5))
            .metadata("ttlInSeconds", "6");
        assert!(set_out(twice).is_err());
    }

    #[test]
    fn unknown_enum_values_are_refused_by_name() {
        let mut r = set_out(SetRequest::new("k", "v")).unwrap();
        r.options.as_mut().unwrap().concurrency = 7;
        let e = set_in(r).unwrap_err();
        assert!(e.message().contains("options.concurrency 7"), "{e}");
        let g = pb::GetRequest {
            consistency: 9,
            ..Default::default()
        };
        assert!(get_in(g).unwrap_err().message().contains("consistency 9"));
    }

    #[test]
    fn missing_and_empty_items() {
        assert_eq!(item_in(vec![], None, HashMap::new(), String::new()), None);
        let empty = item_in(
            vec![],
            Some(pb::Etag { value: "1".into() }),
            HashMap::new(),
            String::new(),
        )
        .unwrap();
        assert!(empty.value.is_empty());
        let mut item = Item::new("v");
        item.expires_at =
            Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000));
        item.etag = Some("e".into());
        let r = item_out(Some(item.clone()));
        let back = item_in(r.data, r.etag, r.metadata, r.content_type).unwrap();
        assert_eq!(back, item);
    }

    #[test]
    fn queries_travel_as_daprd_writes_them() {
        let text = r#"{"filter":{"OR":[{"EQ":{"a.b":1}},{"AND":[{"IN":{"c":["x",2]}},{"NEQ":{"d":null}}]}]},
            "sort":[{"key":"a.b","order":"DESC"},{"key":"c"}],"page":{"limit":3,"token":"t"}}"#;
        let q = Query::from_json(text).unwrap();
        let wire = query_out(q.clone());
        assert_eq!(wire.filter.len(), 1);
        assert_eq!(query_in(Some(wire)).unwrap(), q);
        assert_eq!(query_in(None).unwrap(), Query::default());
        let bad = pb::Query {
            filter: HashMap::from([(
                "EQ".to_owned(),
                prost_types::Any {
                    type_url: String::new(),
                    value: b"{not json".to_vec(),
                },
            )]),
            ..Default::default()
        };
        assert!(
            query_in(Some(bad))
                .unwrap_err()
                .message()
                .contains("\"EQ\"")
        );
        let neg = pb::Query {
            pagination: Some(pb::Pagination {
                limit: -1,
                token: String::new(),
            }),
            ..Default::default()
        };
        assert!(
            query_in(Some(neg))
                .unwrap_err()
                .message()
                .contains("pagination.limit -1")
        );
    }
}
