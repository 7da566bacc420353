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
    /// Each key's position, made at the first row that goes back.
    index: Option<HashMap<&'a [u8], usize>>,
}

impl Found<'_> {
    /// Keeps the item of `key`, made by `item` only for a key a valid
    /// request asked for. Rows may come in any order: the position after
    /// the last one filled is tried first, then the positions after it,
    /// and the first row that goes back makes a map of every key's
    /// position, which answers the rest.
    pub fn put(&mut self, key: impl AsRef<[u8]>, item: impl FnOnce() -> Item) {
        // SQLite, MariaDB and MongoDB hand rows out in key order, with gaps
        // where a key has no row; PostgreSQL in index or storage order, by
        // its plan. A binary search per row over the requests missed the
        // cache at every step (docs/performance.md, "Rows out of key
        // order"). std's hasher, not a faster one with a fixed seed: the
        // keys may be anyone's, chosen to collide.
        let key = key.as_ref();
        let bulk = self.bulk;
        let p = if let Some(index) = &self.index {
            index.get(key).copied()
        } else if bulk.key_at(self.next) == Some(key) {
            Some(self.next)
        } else if self.next == 0 || bulk.key_at(self.next - 1).is_some_and(|last| last < key) {
            // A gap: the key can only be among the positions after.
            bulk.position_in(key, self.next)
        } else {
            let index = self.index.insert(bulk.positions());
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
        self.position_in(key.as_ref(), 0)
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

    /// [`BulkGet::position`] among the positions from `from` on.
    fn position_in(&self, key: &[u8], from: usize) -> Option<usize> {
        let rest = self.distinct.get(from..)?;
        let at = rest.binary_search_by(|&i| self.reqs[i].key.as_bytes().cmp(key));
        at.ok().map(|p| from + p)
    }

    /// Every key's position among [`BulkGet::keys`].
    fn positions(&self) -> HashMap<&[u8], usize> {
        let mut map = HashMap::with_capacity(self.distinct.len());
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
    fn places_rows_in_any_order() {
        let limits = Limits::default();
        let keys: Vec<String> = (0..50).map(|i| format!("k{i:02}")).collect();
        // Requests backwards, one invalid, one asked twice.
        let mut reqs: Vec<GetRequest> = keys.iter().rev().map(GetRequest::new).collect();
        reqs.push(GetRequest::new(""));
        reqs.push(GetRequest::new("k07"));
        let bulk = BulkGet::new(reqs, &limits);
        let with_gaps = |k: &&String| !k.ends_with(['0', '3', '6', '9']);
        let mut shuffled = keys.clone();
        fastrand::Rng::with_seed(7).shuffle(&mut shuffled);
        let mut repeated = keys.clone();
        repeated.insert(5, keys[4].clone());
        // (rows, whether they make the map)
        let orders = [
            (keys.clone(), false),
            (keys.iter().filter(with_gaps).cloned().collect(), false),
            (keys[1..].to_vec(), false),
            (keys.iter().rev().cloned().collect(), true),
            (shuffled, true),
            (repeated, true),
        ];
        for (rows, makes_map) in orders {
            let mut found = bulk.found();
            for k in ["", "a", "k"] {
                found.put(k, || panic!("no valid request asked for {k:?}"));
            }
            for k in &rows {
                found.put(k, || Item::new(k.clone()));
            }
            found.put("zz", || panic!("no valid request asked for zz"));
            assert_eq!(found.index.is_some(), makes_map, "rows {rows:?}");
            let items = found.into_items();
            assert_eq!(items.len(), keys.len());
            for k in &keys {
                let item = items[bulk.position(k).unwrap()].as_ref();
                let want = rows.contains(k).then_some(k.as_bytes());
                assert_eq!(item.map(|i| &i.value[..]), want, "key {k} of rows {rows:?}");
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
