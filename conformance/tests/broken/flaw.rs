//! The flaws a broken store can have, one per rule the suite must defend.

use std::sync::atomic::AtomicBool;

/// How a broken store breaks the contract.
#[derive(Clone, Copy, Debug)]
pub enum Flaw {
    /// Drops every etag and first-write condition: last writer wins.
    IgnoresEtags,
    /// Applies a transaction's operations one by one and stops at the first
    /// failure, keeping what went before (Dapr's Redis MULTI/EXEC).
    PartialTransactions,
    /// Etags count the writes of a key's current life: `1` again after a
    /// delete, so an etag of an earlier life matches the new one.
    EtagsRestartAfterDelete,
    /// Applies a transaction's upserts first, then its deletes.
    TransactionReordered,
    /// Drops the metadata (`ttlInSeconds`, `contentType`) of a
    /// transaction's operations.
    TransactionDropsOpMetadata,
    /// Loses the last byte of values written by bulk_set.
    BulkSetDropsTrailingByte,
    /// Checks a condition with a read, then writes unconditionally: two
    /// steps, with a round trip in between.
    SplitCheckThenWrite,
    /// Ignores etags and first-write in bulk_set only.
    BulkSetIgnoresEtags,
    /// Ignores etags and first-write in bulk_delete only.
    BulkDeleteIgnoresEtags,
    /// Treats a first-write delete without etag as unconditional.
    DeleteIgnoresFirstWrite,
    /// Treats a first-write upsert without etag in a transaction as
    /// unconditional.
    TransactIgnoresFirstWrite,
    /// bulk_get returns keys that expired but are not purged yet.
    ExpiredInBulkGet,
    /// keys_like lists keys that expired but are not purged yet.
    ExpiredInKeysLike,
    /// keys_like with a page size pages over expired keys too and drops
    /// them afterwards, as a limit applied before a filter does.
    ExpiredInPagedKeysLike,
    /// bulk_set without a ttl keeps the key's earlier expiry.
    BulkSetKeepsExpiry,
    /// bulk_set takes a malformed `ttlInSeconds` as none.
    BulkSetIgnoresInvalidTtl,
    /// bulk_set takes first-write with an etag as first-write without one.
    BulkSetFirstWriteIgnoresEtag,
    /// query returns values that expired but are not purged yet.
    ExpiredInQuery,
    /// delete_with_prefix counts children that expired but are not purged.
    ExpiredCountedByDeleteWithPrefix,
    /// A transaction accepts the etag of a key that expired.
    ExpiredEtagMatchesInTransaction,
    /// Parses etags leniently: white space, quotes, case and leading zeros
    /// are ignored, so other spellings match.
    LenientEtagSpelling,
    /// Folds keys as a case-insensitive, PAD SPACE collation does.
    FoldsKeys,
    /// Cuts keys to 1,024 bytes, as a VARCHAR(1024) column would.
    TruncatesLongKeys,
    /// Keeps ttls in 32-bit milliseconds, which wrap for long ttls.
    TtlInMillisOverflows,
    /// Drops the content type of values written by bulk_set.
    BulkSetDropsContentType,
    /// Keeps working after close.
    WorksAfterClose,
    /// Compares and sorts numbers in queries as text.
    QueryNumbersAsText,
    /// Lets NEQ match documents without the path.
    QueryNeqMatchesMissing,
    /// Sorts query results by the JSON text of the sort values.
    QuerySortsByText,
    /// Lets IN match values of another kind with the same text (`1` and
    /// `"1"`).
    QueryInLoose,
    /// Pages query results by offset, so changes between pages shift them.
    QueryPagesByOffset,
    /// Correct: fails fast with `Unavailable` while its switch is off.
    Switched(&'static AtomicBool),
    /// Hangs while its switch is off instead of failing.
    HangsWhenDown(&'static AtomicBool),
    /// Panics in `ping`.
    PanicsOnPing,
    /// Panics in `bulk_delete`, which the suite's cleanup calls.
    PanicsOnBulkDelete,
}

/// Flaws are told apart by kind (the switches of two `Switched` stores
/// are the same flaw).
impl PartialEq for Flaw {
    fn eq(&self, other: &Flaw) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}
