//! The bookkeeping of a bulk read that asks the backend for each distinct
//! valid key once and answers every request in its order.

use std::collections::HashMap;

use crate::capabilities::Limits;
use crate::check;
use crate::error::{Operation, Result};
use crate::request::GetRequest;
use crate::response::{Item, KeyResult};

/// A bulk read's requests with their checks.
pub struct BulkGet {
    reqs: Vec<GetRequest>,
    checks: Vec<Result<()>>,
    /// One valid request per distinct key, by index, in key order.
    distinct: Vec<usize>,
    /// Whether some valid key was asked twice.
    repeated: bool,
}

impl BulkGet {
    /// Checks each request against `limits`.
    pub fn new(reqs: Vec<GetRequest>, limits: &Limits) -> Self {
        let checks: Vec<Result<()>> = reqs.iter().map(|r| check::get(r, limits)).collect();
        let mut distinct: Vec<usize> = (0..reqs.len()).filter(|&i| checks[i].is_ok()).collect();
        let valid = distinct.len();
        distinct.sort_unstable_by(|&a, &b| reqs[a].key.cmp(&reqs[b].key));
        distinct.dedup_by(|a, b| reqs[*a].key == reqs[*b].key);
        BulkGet {
            repeated: distinct.len() < valid,
            reqs,
            checks,
            distinct,
        }
    }

    /// The distinct keys of the valid requests, in byte order.
    pub fn keys(&self) -> Vec<&str> {
        self.distinct
            .iter()
            .map(|&i| self.reqs[i].key.as_str())
            .collect()
    }

    /// One answer per request, in request order: the item found under its
    /// key, or its check's error in the context of `store`. Items move to
    /// their request; only a key asked twice is copied.
    pub fn answer(
        self,
        mut found: HashMap<String, Item>,
        store: &'static str,
        op: Operation,
    ) -> Vec<KeyResult<Option<Item>>> {
        let repeated = self.repeated;
        self.reqs
            .into_iter()
            .zip(self.checks)
            .map(|(r, c)| match c {
                Err(e) => KeyResult::err(r.key, e.context(store, op)),
                Ok(()) => {
                    let item = if repeated {
                        found.get(&r.key).cloned()
                    } else {
                        found.remove(&r.key)
                    };
                    KeyResult::ok(r.key, item)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_request_order_with_copies_for_repeated_keys() {
        let limits = Limits::default();
        let reqs = ["b", "a", "", "b", "c"].map(GetRequest::new).to_vec();
        let bulk = BulkGet::new(reqs, &limits);
        assert_eq!(bulk.keys(), ["a", "b", "c"]);
        let found = HashMap::from([("a".into(), Item::new("1")), ("b".into(), Item::new("2"))]);
        let out = bulk.answer(found, "test", Operation::BulkGet);
        let keys: Vec<&str> = out.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "", "b", "c"]);
        let values: Vec<Option<&[u8]>> = out
            .iter()
            .map(|r| {
                r.result
                    .as_ref()
                    .ok()
                    .and_then(|i| i.as_ref())
                    .map(|i| &i.value[..])
            })
            .collect();
        assert_eq!(
            values,
            [Some(&b"2"[..]), Some(b"1"), None, Some(b"2"), None]
        );
        let e = out[2].result.as_ref().unwrap_err();
        assert_eq!(e.store(), Some("test"));
    }
}
