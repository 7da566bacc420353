//! Applying many writes and deletes with few statements.
//!
//! Operations are split into rounds: round `r` holds each key's `r`-th
//! operation, so one statement never touches a key twice and each key's
//! operations still apply in request order. (Operations on different keys do
//! not see each other, so their relative order does not matter.) Within a
//! round, operations of one kind go out as one multi-row statement per
//! [`Dialect::max_rows`] rows, and the conditional ones report which keys
//! they changed; the others failed their condition.

use std::collections::{HashMap, HashSet};

use statestore_core::check::{Condition, Op};
use statestore_core::{ETag, Error, Result};

use crate::backend::Conn;
use crate::dialect::{Dialect, KeyEtag, Stmt, WriteRow};
use crate::etag;

/// The outcome of one operation: its new etag (writes) or `None` (deletes).
pub type Outcome = Result<Option<ETag>>;

const STALE: &str = "the etag is not the current one, or the key does not exist";
const EXISTS: &str = "first-write without etag: the key already exists";

/// Up to this many distinct keys, operations go one statement each.
const ONE_BY_ONE: usize = 16;

/// Splits indexed operations into rounds of distinct keys.
pub fn rounds<T>(ops: Vec<(usize, T)>, key: impl Fn(&T) -> &str) -> Vec<Vec<(usize, T)>> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut rounds: Vec<Vec<(usize, T)>> = Vec::new();
    for (i, op) in ops {
        let n = seen.entry(key(&op).to_owned()).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push((i, op));
        *n += 1;
    }
    rounds
}

/// Applies operations in rounds; outcomes come back sorted by index.
///
/// Every round runs even after a failure. That makes the lowest failing
/// index exactly the operation a one-by-one run would have failed first:
/// each operation only sees its own key's earlier operations, and those
/// behave the same in both runs up to that point. Transactions report that
/// operation, like the in-memory reference store.
pub async fn apply<D: Dialect, C: Conn>(
    d: &D,
    conn: &mut C,
    ops: &[(usize, Op)],
) -> Result<Vec<(usize, Outcome)>> {
    let mut out = Vec::with_capacity(ops.len());
    let mut keys: Vec<&str> = ops.iter().map(|(_, op)| op.key()).collect();
    keys.sort_unstable();
    keys.dedup();
    // Locks must be taken in one order (key order) by every transaction,
    // or two writing the same keys deadlock. Statements go out by kind
    // (upserts, then conditional updates, ...), so a few keys (an actor's
    // turn) go one statement each, in key order; many keys lock the rows
    // that exist up front, in key order, and leave only keys created
    // meanwhile to chance (a deadlock there is retried).
    let one_by_one = keys.len() <= ONE_BY_ONE;
    if !one_by_one {
        for chunk in keys.chunks(d.max_rows().max(1)) {
            if let Some(stmt) = d.lock(chunk) {
                conn.texts(stmt).await?;
            }
        }
    }
    let ops = ops.iter().map(|(i, op)| (*i, op)).collect();
    for mut round in rounds(ops, |op: &&Op| op.key()) {
        // A round's keys are distinct and independent, and outcomes are
        // sorted back by index.
        round.sort_unstable_by(|a, b| a.1.key().cmp(b.1.key()));
        if one_by_one {
            for op in round.chunks(1) {
                apply_round(d, conn, op, &mut out).await?;
            }
        } else {
            apply_round(d, conn, &round, &mut out).await?;
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// A call made only of unconditional writes: each operation's row (for its
/// outcome), and the rows to write, one per key (the last write of a key
/// wins, as applying them in order would leave it), in key order.
pub struct Upserts<'a> {
    /// Every operation's index and row.
    pub ops: Vec<(usize, WriteRow<'a>)>,
    /// The rows to write.
    pub rows: Vec<WriteRow<'a>>,
}

impl<'a> Upserts<'a> {
    /// The call as upserts, when it is made only of unconditional writes.
    pub fn of(ops: &'a [(usize, Op)]) -> Option<Self> {
        let mut all = Vec::with_capacity(ops.len());
        for (i, op) in ops {
            match op {
                Op::Write(w) if w.condition == Condition::Always => {
                    all.push((*i, WriteRow::new(w, 0)));
                }
                _ => return None,
            }
        }
        let mut rows: Vec<(usize, WriteRow)> = all.clone();
        // By key, and within a key by index, so the last of a key wins.
        rows.sort_unstable_by(|a, b| a.1.key.cmp(b.1.key).then(a.0.cmp(&b.0)));
        let mut last: Vec<WriteRow> = Vec::with_capacity(rows.len());
        for (_, r) in rows {
            match last.last_mut() {
                Some(prev) if prev.key == r.key => *prev = r,
                _ => last.push(r),
            }
        }
        Some(Upserts {
            ops: all,
            rows: last,
        })
    }

    /// The rows split into statements of at most `max_rows` rows and the
    /// dialect's bytes per statement, in key order.
    pub fn statements<D: Dialect>(&self, d: &D, max_rows: usize) -> Vec<&[WriteRow<'a>]> {
        chunks(&self.rows, max_rows.max(1), d.max_statement_bytes(), |r| {
            d.row_bytes(r)
        })
    }
}

/// A transaction as one multi-row upsert, when it is made only of
/// unconditional writes that fit one statement ([`Dialect::max_rows`]).
/// (Bulk calls of such writes go in statements of [`Dialect::bulk_rows`]
/// rows, each committed on its own.) That statement then does the whole
/// transaction outside a database transaction: it is atomic by itself,
/// and its rows go in key order, so two such statements never deadlock
/// each other. One can still deadlock with a checked transaction that
/// inserts new keys (those lock out of key order, see [`apply`]); the
/// server then rolls one back and the caller runs it again, as for any
/// deadlock. (Before, such a call began a transaction, locked its existing
/// rows or went one statement per key, and committed; docs/performance.md.)
pub fn single_upsert<'a, D: Dialect>(d: &D, ops: &'a [(usize, Op)]) -> Option<Upserts<'a>> {
    let up = Upserts::of(ops)?;
    (up.statements(d, d.max_rows()).len() <= 1).then_some(up)
}

/// Runs `stmt` changing `rows` and returns the keys it changed: by row count
/// for one row, from `RETURNING` when the dialect has it, else by reading
/// the etags back (writes only: each row's new etag is unique).
pub(crate) async fn changed<D: Dialect, C: Conn>(
    d: &D,
    conn: &mut C,
    stmt: Stmt,
    rows: &[(&str, Option<i64>)],
) -> Result<HashSet<String>> {
    if let [(key, _)] = rows
        && !stmt.count_unreliable
    {
        let n = conn.execute(stmt).await?;
        return Ok(if n > 0 {
            HashSet::from([key.to_string()])
        } else {
            HashSet::new()
        });
    }
    if stmt.returns_keys {
        return Ok(conn.texts(stmt).await?.into_iter().collect());
    }
    if rows.iter().any(|(_, e)| e.is_none()) {
        return Err(Error::backend(
            "internal: a multi-row conditional delete must return its keys",
        ));
    }
    conn.execute(stmt).await?;
    let keys: Vec<&str> = rows.iter().map(|(k, _)| *k).collect();
    let wanted: HashMap<&str, i64> = rows.iter().map(|(k, e)| (*k, e.unwrap_or(0))).collect();
    let back = conn.rows(d.get(&keys)).await?;
    Ok(back
        .into_iter()
        .filter(|r| wanted.get(r.key.as_str()) == Some(&r.etag))
        .map(|r| r.key)
        .collect())
}

/// Splits rows into statements of at most `max_rows` rows and
/// `max_bytes` value bytes (a single larger row still goes alone).
fn chunks<T>(
    items: &[T],
    max_rows: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && (i - start == max_rows || bytes.saturating_add(n) > max_bytes) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(n);
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

async fn apply_round<D: Dialect, C: Conn>(
    d: &D,
    conn: &mut C,
    round: &[(usize, &Op)],
    out: &mut Vec<(usize, Outcome)>,
) -> Result<()> {
    let mut upserts = Vec::new();
    let mut updates = Vec::new();
    let mut inserts = Vec::new();
    let mut deletes = Vec::new();
    let mut deletes_if_match = Vec::new();
    let mut deletes_if_absent = Vec::new();
    for (i, op) in round {
        match op {
            Op::Write(w) => {
                let expected = match &w.condition {
                    Condition::IfMatch(e) => match etag::parse(e) {
                        Ok(v) => v,
                        Err(err) => {
                            out.push((*i, Err(err.with_key(w.key.clone()))));
                            continue;
                        }
                    },
                    _ => 0,
                };
                let row = WriteRow::new(w, expected);
                match w.condition {
                    Condition::Always => upserts.push((*i, row)),
                    Condition::IfMatch(_) => updates.push((*i, row)),
                    Condition::IfAbsent => inserts.push((*i, row)),
                }
            }
            Op::Delete(del) => match &del.condition {
                Condition::Always => deletes.push((*i, del.key.as_str())),
                Condition::IfAbsent => deletes_if_absent.push((*i, del.key.as_str())),
                Condition::IfMatch(e) => match etag::parse(e) {
                    Ok(etag) => deletes_if_match.push((
                        *i,
                        KeyEtag {
                            key: &del.key,
                            etag,
                        },
                    )),
                    Err(err) => out.push((*i, Err(err.with_key(del.key.clone())))),
                },
            },
        }
    }
    let max = d.max_rows().max(1);
    let bytes = d.max_statement_bytes();
    let size = |(_, r): &(usize, WriteRow)| d.row_bytes(r);

    for chunk in chunks(&upserts, max, bytes, size) {
        let rows: Vec<WriteRow> = chunk.iter().map(|(_, r)| *r).collect();
        conn.execute(d.upsert(&rows)).await?;
        out.extend(
            chunk
                .iter()
                .map(|(i, r)| (*i, Ok(Some(etag::format(r.etag))))),
        );
    }
    for (batch, conditional) in [(&updates, true), (&inserts, false)] {
        for chunk in chunks(batch, max, bytes, size) {
            let rows: Vec<WriteRow> = chunk.iter().map(|(_, r)| *r).collect();
            let stmt = if conditional {
                d.update_if_match(&rows)
            } else {
                d.insert_if_absent(&rows)
            };
            let keys: Vec<(&str, Option<i64>)> =
                rows.iter().map(|r| (r.key, Some(r.etag))).collect();
            let ok = changed(d, conn, stmt, &keys).await?;
            let why = if conditional { STALE } else { EXISTS };
            out.extend(chunk.iter().map(|(i, r)| {
                let outcome = if ok.contains(r.key) {
                    Ok(Some(etag::format(r.etag)))
                } else {
                    Err(Error::etag_mismatch(why).with_key(r.key))
                };
                (*i, outcome)
            }));
        }
    }
    for chunk in deletes.chunks(max) {
        let keys: Vec<&str> = chunk.iter().map(|(_, k)| *k).collect();
        conn.execute(d.delete(&keys)).await?;
        out.extend(chunk.iter().map(|(i, _)| (*i, Ok(None))));
    }
    for chunk in deletes_if_match.chunks(max) {
        let rows: Vec<KeyEtag> = chunk.iter().map(|(_, r)| *r).collect();
        let mut ok = HashSet::new();
        let stmt = d.delete_if_match(&rows);
        if stmt.returns_keys || rows.len() == 1 {
            let keys: Vec<(&str, Option<i64>)> = rows.iter().map(|r| (r.key, None)).collect();
            ok = changed(d, conn, stmt, &keys).await?;
        } else {
            // A database that cannot say which rows a multi-row delete
            // removed (MySQL has no DELETE ... RETURNING) deletes one by one.
            for r in &rows {
                if conn.execute(d.delete_if_match(&[*r])).await? > 0 {
                    ok.insert(r.key.to_owned());
                }
            }
        }
        out.extend(chunk.iter().map(|(i, r)| {
            let outcome = if ok.contains(r.key) {
                Ok(None)
            } else {
                Err(Error::etag_mismatch(STALE).with_key(r.key))
            };
            (*i, outcome)
        }));
    }
    for chunk in deletes_if_absent.chunks(max) {
        let keys: Vec<&str> = chunk.iter().map(|(_, k)| *k).collect();
        let live: HashSet<String> = conn.texts(d.live_keys(&keys)).await?.into_iter().collect();
        out.extend(chunk.iter().map(|(i, k)| {
            let outcome = if live.contains(*k) {
                Err(
                    Error::etag_mismatch("first-write delete without etag: the key exists")
                        .with_key(*k),
                )
            } else {
                Ok(None)
            };
            (*i, outcome)
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_keep_each_keys_order_and_distinct_keys_per_round() {
        let ops: Vec<(usize, &str)> = ["a", "b", "a", "c", "a", "b"]
            .into_iter()
            .enumerate()
            .collect();
        let r = rounds(ops, |k| k);
        let idx: Vec<Vec<usize>> = r
            .iter()
            .map(|round| round.iter().map(|(i, _)| *i).collect())
            .collect();
        assert_eq!(idx, vec![vec![0, 1, 3], vec![2, 5], vec![4]]);
        for round in &r {
            let keys: HashSet<&str> = round.iter().map(|(_, k)| *k).collect();
            assert_eq!(keys.len(), round.len());
        }
        assert!(rounds(Vec::<(usize, &str)>::new(), |k| k).is_empty());
    }

    #[test]
    fn chunks_respect_rows_and_bytes() {
        let sizes = [3, 3, 3, 10, 1, 1];
        let lens = |max_rows, max_bytes| -> Vec<usize> {
            chunks(&sizes, max_rows, max_bytes, |n| *n)
                .iter()
                .map(|c| c.len())
                .collect()
        };
        assert_eq!(lens(1000, usize::MAX), vec![6]);
        assert_eq!(lens(2, usize::MAX), vec![2, 2, 2]);
        assert_eq!(lens(1000, 6), vec![2, 1, 1, 2]);
        assert_eq!(lens(1000, 1), vec![1, 1, 1, 1, 1, 1]);
        assert!(chunks(&[] as &[usize], 5, 5, |n| *n).is_empty());
    }
}
