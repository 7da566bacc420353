//! How a transaction becomes one TransactWriteItems request, which takes
//! at most one item per key.
//!
//! The reference store applies operations in order, each against what the
//! operations before it left. So for a key written more than once, only its
//! first operation's condition depends on the server; every later one meets
//! a state the transaction itself made, known before anything is sent:
//!
//! * after a write the key exists with an etag nobody has seen, so an etag
//!   or a first-write condition fails;
//! * after a delete the key is absent, so an etag fails and first-write
//!   holds.
//!
//! A key's item is therefore its first operation's condition with its last
//! operation's effect. When a later operation must fail, the transaction
//! fails there, unless an earlier operation's condition fails first on the
//! server: the request then holds only condition checks of those earlier
//! operations, and changes nothing either way.

use std::collections::HashMap;

use statestore_core::Error;
use statestore_core::check::{Condition, Op};

use crate::layout;

/// One item of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The index of the key's first operation: its condition is checked.
    pub first: usize,
    /// The index of the key's last operation: its effect is applied.
    pub last: usize,
}

/// What to send.
#[derive(Debug)]
pub enum Plan {
    /// Apply these items, in the order of their first operations.
    Apply(Vec<Item>),
    /// Operation `at` fails with `error` whatever the server holds; only the
    /// conditions of the first operations in `checks` (all before `at`)
    /// may fail before it.
    FailsAt {
        /// The failing operation.
        at: usize,
        /// Its error.
        error: Error,
        /// First operations before `at` whose conditions the server checks.
        checks: Vec<usize>,
    },
}

/// The state a key is in after an operation of this transaction.
#[derive(Clone, Copy)]
enum After {
    Written,
    Deleted,
}

/// Plans a checked transaction.
pub fn plan(ops: &[Op]) -> Plan {
    let mut items: Vec<Item> = Vec::new();
    let mut by_key: HashMap<&str, (usize, After)> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let failure = match op.condition() {
            Condition::IfMatch(e) => layout::check_etag(e).err(),
            _ => None,
        };
        let after = match op {
            Op::Write(_) => After::Written,
            Op::Delete(_) => After::Deleted,
        };
        let failure = failure.or_else(|| match by_key.get(op.key()) {
            None => None,
            Some((_, before)) => static_failure(op, *before),
        });
        if let Some(error) = failure {
            let checks = items
                .iter()
                .filter(|it| !matches!(ops[it.first].condition(), Condition::Always))
                .map(|it| it.first)
                .collect();
            return Plan::FailsAt {
                at: i,
                error,
                checks,
            };
        }
        match by_key.get_mut(op.key()) {
            Some((slot, state)) => {
                items[*slot].last = i;
                *state = after;
            }
            None => {
                by_key.insert(op.key(), (items.len(), after));
                items.push(Item { first: i, last: i });
            }
        }
    }
    Plan::Apply(items)
}

/// The error of an operation on a key an earlier operation of the same
/// transaction left in state `before`, if its condition cannot hold.
fn static_failure(op: &Op, before: After) -> Option<Error> {
    let delete = matches!(op, Op::Delete(_));
    match (op.condition(), before) {
        (Condition::Always, _) | (Condition::IfAbsent, After::Deleted) => None,
        (Condition::IfAbsent, After::Written) if delete => Some(Error::etag_mismatch(
            "first-write delete without etag: an earlier operation of the transaction wrote the key",
        )),
        (Condition::IfAbsent, After::Written) => Some(Error::etag_mismatch(
            "first-write without etag: an earlier operation of the transaction wrote the key",
        )),
        (Condition::IfMatch(_), After::Written) => Some(Error::etag_mismatch(
            "the etag is not the current one: an earlier operation of the transaction wrote the key",
        )),
        (Condition::IfMatch(_), After::Deleted) => Some(Error::etag_mismatch(
            "the key does not exist: an earlier operation of the transaction deleted it",
        )),
    }
}

#[cfg(test)]
mod tests {
    use statestore_core::check::{Delete, Write};
    use statestore_core::{Bytes, ETag, ErrorKind};

    use super::*;

    fn w(key: &str, c: Condition) -> Op {
        Op::Write(Write {
            key: key.into(),
            value: Bytes::from_static(b"v"),
            content_type: None,
            condition: c,
            ttl: None,
        })
    }

    fn d(key: &str, c: Condition) -> Op {
        Op::Delete(Delete {
            key: key.into(),
            condition: c,
        })
    }

    fn etag() -> Condition {
        Condition::IfMatch(ETag::new("abc"))
    }

    #[test]
    fn a_key_twice_is_its_first_condition_and_its_last_effect() {
        let ops = [
            w("a", etag()),
            w("b", Condition::Always),
            d("a", Condition::Always),
            w("a", Condition::IfAbsent),
        ];
        match plan(&ops) {
            Plan::Apply(items) => assert_eq!(
                items,
                vec![Item { first: 0, last: 3 }, Item { first: 1, last: 1 }]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn later_conditions_that_cannot_hold_fail_there() {
        let cases = [
            (vec![w("a", Condition::Always), w("a", etag())], 1),
            (
                vec![w("a", Condition::Always), w("a", Condition::IfAbsent)],
                1,
            ),
            (
                vec![w("a", Condition::Always), d("a", Condition::IfAbsent)],
                1,
            ),
            (vec![d("a", Condition::Always), d("a", etag())], 1),
            (
                vec![
                    w("x", etag()),
                    w("b", Condition::Always),
                    d("b", Condition::Always),
                    w("b", etag()),
                ],
                3,
            ),
        ];
        for (ops, at) in cases {
            match plan(&ops) {
                Plan::FailsAt { at: got, error, .. } => {
                    assert_eq!(got, at, "{ops:?}");
                    assert_eq!(error.kind(), ErrorKind::ETagMismatch);
                }
                other => panic!("{ops:?}: {other:?}"),
            }
        }
        match plan(&[
            w("x", etag()),
            w("y", Condition::Always),
            w("x", Condition::IfAbsent),
        ]) {
            Plan::FailsAt { checks, .. } => assert_eq!(checks, vec![0]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_malformed_etag_fails_at_its_place() {
        let ops = [
            w("a", Condition::IfAbsent),
            w("b", Condition::IfMatch(ETag::new("XYZ"))),
        ];
        match plan(&ops) {
            Plan::FailsAt { at, error, checks } => {
                assert_eq!(
                    (at, error.kind(), checks),
                    (1, ErrorKind::ETagInvalid, vec![0])
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
