//! The bookkeeping of a bulk read that asks the backend for each distinct
//! valid key once and answers every request in its order.

use std::collections::HashMap;

use crate::capabilities::Limits;
use crate::check;
use crate::error::{Operation, Result};
use crate::request::GetRequest;
use crate::response::{Item, KeyResult};

/// The items a backend reads for a [`BulkGet`], each at its key's position
/// among [`BulkGet::keys`]: placed from the key's bytes as the backend
/// hands them out, without a copy of each key
/// (docs/performance.md, "Bulk reads without copies").
pub struct Found<'a> {
    bulk: &'a BulkGet,
    items: Vec<Option<Item>>,
    /// The position after the last one filled.
    next: usize,
    /// Each key's position, made at the first key out of order.
    index: Option<Positions<'a>>,
}

/// Positions by key bytes, hashed fast with a fixed seed: the keys are the
/// caller's own and the map lives for one call.
type Positions<'a> = HashMap<&'a [u8], usize, foldhash::fast::FixedState>;

impl Found<'_> {
    /// Keeps the item of `key`, made by `item` only for a key a valid
    /// request asked for. SQLite, MariaDB and MongoDB hand rows out in key
    /// order, so the position after the last one is tried first, and the
    /// items fill in order. PostgreSQL may hand them out in storage order,
    /// where a binary search for each missed the cache at every step, so
    /// the first key out of order makes a map of positions
    /// (docs/performance.md, "Rows out of key order").
    pub fn put(&mut self, key: impl AsRef<[u8]>, item: impl FnOnce() -> Item) {
        let key = key.as_ref();
        let p = if self.bulk.key_at(self.next) == Some(key) {
            Some(self.next)
        } else {
            let bulk = self.bulk;
            let index = self.index.get_or_insert_with(|| bulk.positions());
            index.get(key).copied()
        };
        if let Some(p) = p {
            self.items[p] = Some(item());
            self.next = p + 1;
        }
    }

    /// The items by position, for [`BulkGet::answer_found`].
    pub fn into_items(self) -> Vec<Option<Item>> {
        self.items
    }
}

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

    /// Where the item read for `key` (its bytes, as a backend may hand
    /// them out) goes among [`BulkGet::keys`]; `None` for a key no valid
    /// request asked for.
    pub fn position(&self, key: impl AsRef<[u8]>) -> Option<usize> {
        let key = key.as_ref();
        self.distinct
            .binary_search_by(|&i| self.reqs[i].key.as_bytes().cmp(key))
            .ok()
    }

    /// Where a backend puts the items it reads, as they come.
    pub fn found(&self) -> Found<'_> {
        Found {
            bulk: self,
            items: vec![None; self.distinct.len()],
            next: 0,
            index: None,
        }
    }

    /// The key at position `p` among [`BulkGet::keys`].
    fn key_at(&self, p: usize) -> Option<&[u8]> {
        self.distinct.get(p).map(|&i| self.reqs[i].key.as_bytes())
    }

    /// Every key's position among [`BulkGet::keys`].
    fn positions(&self) -> Positions<'_> {
        let mut map = Positions::with_capacity_and_hasher(self.distinct.len(), Default::default());
        for (p, &i) in self.distinct.iter().enumerate() {
            map.insert(self.reqs[i].key.as_bytes(), p);
        }
        map
    }

    /// One answer per request, in request order: the item found under its
    /// key, or its check's error in the context of `store`. Items move to
    /// their request; a key asked twice is copied for all but its last.
    pub fn answer(
        self,
        mut found: HashMap<String, Item>,
        store: &'static str,
        op: Operation,
    ) -> Vec<KeyResult<Option<Item>>> {
        let found = self
            .distinct
            .iter()
            .map(|&i| found.remove(&self.reqs[i].key))
            .collect();
        self.answer_found(found, store, op)
    }

    /// Like [`BulkGet::answer`], from the items found at the positions of
    /// [`BulkGet::keys`] (`found[i]` belongs to `keys()[i]`), as
    /// [`Found::into_items`] gives them.
    pub fn answer_found(
        self,
        mut found: Vec<Option<Item>>,
        store: &'static str,
        op: Operation,
    ) -> Vec<KeyResult<Option<Item>>> {
        found.resize_with(self.distinct.len(), || None);
        // Each valid request's position: the first of its key is in
        // `distinct`, a key asked again is looked up.
        let mut slot = vec![None; self.reqs.len()];
        for (s, &i) in self.distinct.iter().enumerate() {
            slot[i] = Some(s);
        }
        if self.repeated {
            for (i, r) in self.reqs.iter().enumerate() {
                if slot[i].is_none() && self.checks[i].is_ok() {
                    slot[i] = self.position(&r.key);
                }
            }
        }
        // Requests still to answer per position: the last one takes the
        // item, any before it gets a copy.
        let mut left = vec![0u32; found.len()];
        for &s in slot.iter().flatten() {
            left[s] += 1;
        }
        self.reqs
            .into_iter()
            .zip(self.checks)
            .zip(slot)
            .map(|((r, c), s)| match (c, s) {
                (Err(e), _) => KeyResult::err(r.key, e.context(store, op)),
                (Ok(()), Some(s)) => {
                    left[s] -= 1;
                    let item = if left[s] == 0 {
                        found[s].take()
                    } else {
                        found[s].clone()
                    };
                    KeyResult::ok(r.key, item)
                }
                (Ok(()), None) => KeyResult::ok(r.key, None),
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

    #[test]
    fn places_rows_in_key_order_and_out_of_it() {
        let limits = Limits::default();
        let keys: Vec<String> = (0..50).map(|i| format!("k{i:02}")).collect();
        let reqs = keys.iter().rev().map(GetRequest::new).collect();
        let bulk = BulkGet::new(reqs, &limits);
        let value = |k: &str| Item::new(k.to_owned());
        // In key order (the guess), backwards and shuffled (the map), and
        // in order after a miss (the guess again).
        let mut shuffled = keys.clone();
        fastrand::Rng::with_seed(7).shuffle(&mut shuffled);
        let mut late = keys.clone();
        late.swap(0, 1);
        let orders = [
            keys.clone(),
            keys.iter().rev().cloned().collect(),
            shuffled,
            late,
        ];
        for order in orders {
            let mut found = bulk.found();
            for k in &order {
                found.put(k, || value(k));
            }
            found.put("nobody asked", || value("nobody asked"));
            let items = found.into_items();
            assert_eq!(items.len(), keys.len());
            for k in bulk.keys() {
                let item = &items[bulk.position(k).unwrap()];
                assert_eq!(item.as_ref().map(|i| &i.value[..]), Some(k.as_bytes()));
            }
        }
    }

    #[test]
    fn answers_from_positions_as_from_a_map() {
        let limits = Limits::default();
        let reqs = ["b", "a", "", "b", "c"].map(GetRequest::new).to_vec();
        let bulk = BulkGet::new(reqs.clone(), &limits);
        assert_eq!(bulk.position("b"), Some(1));
        assert_eq!(bulk.position("c"), Some(2));
        assert_eq!(bulk.position(""), None, "an invalid key has no position");
        assert_eq!(bulk.position("z"), None);
        let mut found = vec![None; 3];
        found[bulk.position("a").unwrap()] = Some(Item::new("1"));
        found[bulk.position("b").unwrap()] = Some(Item::new("2"));
        let by_position = bulk.answer_found(found, "test", Operation::BulkGet);
        let map = HashMap::from([("a".into(), Item::new("1")), ("b".into(), Item::new("2"))]);
        let by_map = BulkGet::new(reqs, &limits).answer(map, "test", Operation::BulkGet);
        let show = |out: &[KeyResult<Option<Item>>]| -> Vec<String> {
            out.iter()
                .map(|r| {
                    format!(
                        "{} {:?}",
                        r.key,
                        r.result
                            .as_ref()
                            .map(|i| i.as_ref().map(|i| i.value.clone()))
                            .map_err(|e| e.kind())
                    )
                })
                .collect()
        };
        assert_eq!(show(&by_position), show(&by_map));
        assert_eq!(
            show(&by_position)[3],
            show(&by_position)[0],
            "a repeated key gets a copy"
        );
    }
}
