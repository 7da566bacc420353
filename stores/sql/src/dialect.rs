//! What differs between SQL databases: the text of each statement. A
//! [`Dialect`] renders statements with their parameters; the shared logic in
//! this crate decides which statements to run and what their results mean.
//!
//! Every statement that reads state rows returns the columns
//! `key, value, etag, content_type, expires_at`, in that order ([`Row`]),
//! and a sixth, whether the row is live, when it is marked
//! [`Stmt::live_in_column`].
//! Times are milliseconds since the Unix epoch, computed by the database
//! server's clock so that every instance agrees on what has expired.

use std::sync::Arc;

use bytes::Bytes;
use statestore_core::like::LikePattern;

/// One bound parameter.
#[derive(Clone, PartialEq)]
pub enum Param {
    /// Text.
    Text(String),
    /// Nullable text.
    OptText(Option<String>),
    /// Bytes.
    Bytes(Bytes),
    /// A 64-bit integer.
    I64(i64),
    /// A nullable 64-bit integer.
    OptI64(Option<i64>),
    /// A double (the query's numbers).
    F64(f64),
    /// An array of text (PostgreSQL only, like every array).
    TextArray(Texts),
    /// An array of nullable text.
    OptTextArray(Vec<Option<String>>),
    /// An array of byte strings.
    BytesArray(Vec<Bytes>),
    /// An array of 64-bit integers.
    I64Array(Vec<i64>),
    /// An array of nullable 64-bit integers.
    OptI64Array(Vec<Option<i64>>),
}

impl std::fmt::Debug for Param {
    /// Values are never printed, only their kind and size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Text(s) => write!(f, "Text({} bytes)", s.len()),
            Param::OptText(s) => write!(f, "OptText({:?})", s.as_ref().map(String::len)),
            Param::Bytes(b) => write!(f, "Bytes({})", b.len()),
            Param::I64(_) => f.write_str("I64"),
            Param::OptI64(_) => f.write_str("OptI64"),
            Param::F64(_) => f.write_str("F64"),
            Param::TextArray(v) => write!(f, "TextArray[{}]", v.len()),
            Param::OptTextArray(v) => write!(f, "OptTextArray[{}]", v.len()),
            Param::BytesArray(v) => write!(f, "BytesArray[{}]", v.len()),
            Param::I64Array(v) => write!(f, "I64Array[{}]", v.len()),
            Param::OptI64Array(v) => write!(f, "OptI64Array[{}]", v.len()),
        }
    }
}

/// Texts packed in one string: an array of keys costs two allocations
/// rather than one per key (docs/performance.md, "bulk_get under
/// callgrind").
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Texts {
    text: String,
    ends: Vec<usize>,
}

impl Texts {
    /// The number of texts.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The texts, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.text[a..b])
    }
}

impl<'a> FromIterator<&'a str> for Texts {
    fn from_iter<I: IntoIterator<Item = &'a str>>(items: I) -> Self {
        let mut t = Texts::default();
        for s in items {
            t.text.push_str(s);
            t.ends.push(t.text.len());
        }
        t
    }
}

/// A statement ready to run.
#[derive(Debug, Clone)]
pub struct Stmt {
    /// The SQL text (identifiers validated and quoted, values bound).
    pub sql: Arc<str>,
    /// Parameters in placeholder order.
    pub params: Vec<Param>,
    /// Whether it returns the keys it changed (`RETURNING key`).
    pub returns_keys: bool,
    /// Whether its row count says nothing about which rows it changed
    /// (MySQL counts a row an upsert left alone as found), so the caller
    /// reads the new etags back.
    pub count_unreliable: bool,
    /// Whether it reads state rows with liveness as a sixth column (an
    /// integer, true when live) instead of filtering in `WHERE`; the
    /// connection drops the rows that are not live, so the result is the
    /// same. (Cheaper for MySQL's reads.)
    pub live_column: bool,
    /// Whether the connection keeps it prepared for the next time; `false`
    /// for a text unlikely to come again (a query), which would only push
    /// statements that do out of the driver's bounded cache.
    pub persistent: bool,
}

impl Stmt {
    /// A fixed statement. Drivers keep every statement prepared.
    pub fn fixed(sql: &Arc<str>, params: Vec<Param>) -> Self {
        Stmt {
            sql: sql.clone(),
            params,
            returns_keys: false,
            count_unreliable: false,
            live_column: false,
            persistent: true,
        }
    }

    /// A statement whose text depends on the number of rows. Kept prepared
    /// too: a program's bulk calls tend to repeat a few sizes, and the
    /// driver's per-connection cache is bounded (LRU).
    pub fn built(sql: String, params: Vec<Param>) -> Self {
        Stmt {
            sql: sql.into(),
            params,
            returns_keys: false,
            count_unreliable: false,
            live_column: false,
            persistent: true,
        }
    }

    /// Marks its row count as meaningless for which rows changed.
    pub fn count_unreliable(mut self) -> Self {
        self.count_unreliable = true;
        self
    }

    /// Marks it as selecting liveness as a sixth column (see
    /// [`Stmt::live_column`]).
    pub fn live_in_column(mut self) -> Self {
        self.live_column = true;
        self
    }

    /// Marks it as run once: prepared, run and closed, not kept.
    pub fn once(mut self) -> Self {
        self.persistent = false;
        self
    }

    /// Marks it as returning the keys it changed.
    pub fn returning_keys(mut self) -> Self {
        self.returns_keys = true;
        self
    }
}

/// A state row as read back; its key owned, or borrowed from the driver's
/// answer (`Row<&str>`, [`crate::backend::Conn::each_row`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Row<K = String> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: Vec<u8>,
    /// The etag, as stored.
    pub etag: i64,
    /// The content type.
    pub content_type: Option<String>,
    /// Expiry in Unix milliseconds.
    pub expires_at: Option<i64>,
}

impl<K: std::fmt::Debug> std::fmt::Debug for Row<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("etag", &self.etag)
            .field("content_type", &self.content_type)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// One row to write.
#[derive(Debug, Clone, Copy)]
pub struct WriteRow<'a> {
    /// The key.
    pub key: &'a str,
    /// The value.
    pub value: &'a Bytes,
    /// The content type.
    pub content_type: Option<&'a str>,
    /// The new etag.
    pub etag: i64,
    /// Seconds to live, or `None` for no expiry.
    pub ttl: Option<u32>,
    /// For conditional updates: the etag that must be current.
    pub expected: i64,
}

impl<'a> WriteRow<'a> {
    /// The row of a checked write, with a fresh etag; `expected` is the etag
    /// a conditional update requires (ignored otherwise).
    pub fn new(w: &'a statestore_core::check::Write, expected: i64) -> Self {
        WriteRow {
            key: &w.key,
            value: &w.value,
            content_type: w.content_type.as_deref(),
            etag: crate::etag::fresh(),
            ttl: w.ttl_seconds(),
            expected,
        }
    }
}

/// Deepest nesting of arrays and objects copied to a JSON column: MariaDB's
/// `JSON_VALID` refuses 32 levels (MySQL 100, PostgreSQL far more).
pub const MAX_JSON_DEPTH: usize = 31;

/// Largest decimal exponent of a number copied to a JSON column:
/// PostgreSQL's `numeric` refuses `1e-20000`.
pub const MAX_JSON_EXPONENT: i64 = 1000;

/// The JSON copy of a value, when it is a JSON document that every
/// database's JSON column accepts, so that JSON state stays queryable;
/// `None` otherwise, and the value is stored as bytes only. Refused besides
/// invalid JSON: nesting deeper than [`MAX_JSON_DEPTH`], exponents beyond
/// [`MAX_JSON_EXPONENT`]. (PostgreSQL's `jsonb` also refuses `\u0000`:
/// see [`without_nul`].)
///
/// The copy is the document as the query's reference reads it (serde,
/// docs/contract.md, *Query*), written back out: of two members with one
/// name the last, numbers as the doubles or integers they are read as,
/// names and strings without escapes but the ones JSON needs. The database
/// then sees what the reference sees, whatever its own parser would make of
/// the original text.
pub fn json_text(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    if !within_json_limits(text) {
        return None;
    }
    let doc = serde_json::from_str::<serde_json::Value>(text).ok()?;
    serde_json::to_string(&doc).ok()
}

/// JSON text with every `\u0000` escape (a NUL in a string, which
/// PostgreSQL's `jsonb` cannot hold) written as `\ufffd`, the replacement
/// character; an escaped backslash followed by `u0000` is left alone.
pub fn without_nul(text: String) -> String {
    if !text.contains("\\u0000") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let escape = &rest[i..];
        if let Some(after) = escape.strip_prefix("\\u0000") {
            out.push_str("\\ufffd");
            rest = after;
        } else {
            // A two-character escape (`\\` included) is copied whole.
            let n = escape.chars().nth(1).map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&escape[..n]);
            rest = &escape[n..];
        }
    }
    out.push_str(rest);
    out
}

/// Nesting depth and number exponents, outside strings; the text need not
/// be valid JSON (serde checks that).
fn within_json_limits(text: &str) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_JSON_DEPTH {
                        return false;
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                // Outside strings, `e` after a digit is a number's exponent.
                b'e' | b'E' if i > 0 && bytes[i - 1].is_ascii_digit() => {
                    let digits: String = text[i + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '-' || *c == '+')
                        .collect();
                    match digits.parse::<i64>() {
                        Ok(e) if e.abs() <= MAX_JSON_EXPONENT => {}
                        _ => return false,
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    true
}

/// Pushes a row's common parameters: key, value, content type, new etag,
/// ttl in seconds.
pub fn push_row(p: &mut Vec<Param>, r: &WriteRow<'_>) {
    p.push(Param::Text(r.key.to_owned()));
    p.push(Param::Bytes(r.value.clone()));
    p.push(Param::OptText(r.content_type.map(str::to_owned)));
    p.push(Param::I64(r.etag));
    p.push(Param::OptI64(r.ttl.map(i64::from)));
}

/// Keys as text parameters.
pub fn key_params(keys: &[&str]) -> Vec<Param> {
    keys.iter().map(|k| Param::Text((*k).to_owned())).collect()
}

/// The placeholders of an `IN` list of `n` keys: `n` rounded up to one of
/// eight sizes per power of two (at most an eighth more). The text of such
/// a statement depends on its size, and each text is prepared once per
/// connection and kept in the driver's bounded cache: bulk calls whose key
/// count varies by a few (1,000 random picks out of 10,000 give about 925 to 975
/// distinct keys) would otherwise prepare a new text on most calls
/// (docs/performance.md, "IN lists in a few sizes").
pub fn in_size(n: usize) -> usize {
    let step = (n.next_power_of_two() / 16).max(1);
    n.div_ceil(step) * step
}

/// Keys as text parameters, the last repeated up to [`in_size`]: a key
/// listed twice in `IN` still matches its row once.
pub fn in_params(keys: &[&str]) -> Vec<Param> {
    let mut p = key_params(keys);
    if let Some(last) = keys.last() {
        p.resize(in_size(keys.len()), Param::Text((*last).to_owned()));
    }
    p
}

/// `item, item, ...`, `n` times.
pub fn repeat(n: usize, item: &str) -> String {
    vec![item; n].join(", ")
}

/// A statement on distinct keys: the prepared single-key form `one` for one
/// key, or the text `many(n)` built for `n` placeholders, `n` the keys'
/// [`in_size`]; the keys are the parameters (see [`in_params`]).
pub fn on_keys(keys: &[&str], one: &Arc<str>, many: impl FnOnce(usize) -> String) -> Stmt {
    match keys.len() {
        1 => Stmt::fixed(one, key_params(keys)),
        _ => padded(keys, many),
    }
}

/// The text `many(n)` built for `n` placeholders, `n` the keys'
/// [`in_size`], with the keys as parameters (see [`in_params`]): the one
/// place that sizes both alike.
pub fn padded(keys: &[&str], many: impl FnOnce(usize) -> String) -> Stmt {
    Stmt::built(many(in_size(keys.len())), in_params(keys))
}

/// `{head} WHERE {key} IN (?, ...)` for `n` keys, with `?` placeholders.
pub fn where_in(head: &str, key: &str, n: usize) -> String {
    format!("{head} WHERE {key} IN ({})", repeat(n, "?"))
}

/// Key and etag of each row, in that order.
pub fn key_etag_params(rows: &[KeyEtag<'_>]) -> Vec<Param> {
    let mut p = Vec::with_capacity(rows.len() * 2);
    for r in rows {
        p.push(Param::Text(r.key.to_owned()));
        p.push(Param::I64(r.etag));
    }
    p
}

/// A key range `[from, to)` and a third number, in that order.
pub fn range_params(from: &str, to: &str, n: usize) -> Vec<Param> {
    vec![
        Param::Text(from.to_owned()),
        Param::Text(to.to_owned()),
        Param::I64(n as i64),
    ]
}

/// One key with the etag it must have.
#[derive(Debug, Clone, Copy)]
pub struct KeyEtag<'a> {
    /// The key.
    pub key: &'a str,
    /// The etag that must be current.
    pub etag: i64,
}

/// The statements every dialect has in the same shape, as text of its own
/// SQL, each kept prepared.
#[derive(Debug)]
pub struct Bookkeeping {
    /// A cheap round trip (no parameters).
    pub ping: Arc<str>,
    /// The metadata value of a key (parameter: key).
    pub metadata_get: Arc<str>,
    /// Upserts a metadata value (parameters: key, value).
    pub metadata_set: Arc<str>,
    /// Claims the cleanup turn (parameters: key, interval in ms).
    pub claim: Arc<str>,
    /// Deletes expired rows (no parameters).
    pub delete_expired: Arc<str>,
}

/// The statements of one SQL database, for one state table and one metadata
/// table. "Live" below means "not expired by the server's clock". The query
/// API's statements come from its [`JsonSql`](crate::JsonSql) half.
pub trait Dialect: crate::JsonSql + Send + Sync + 'static {
    /// Most rows one statement may carry (from the parameter limit).
    fn max_rows(&self) -> usize;

    /// Most rows one statement of a bulk write carries. Bulk calls are not
    /// atomic, so one made only of unconditional writes goes as statements
    /// of this many rows, each committed on its own: rows locked by a
    /// shorter statement wait less for one another. The default is
    /// [`Dialect::max_rows`].
    fn bulk_rows(&self) -> usize {
        self.max_rows()
    }

    /// Most value bytes one statement may carry (from the packet limit);
    /// a single row is always sent.
    fn max_statement_bytes(&self) -> usize {
        usize::MAX
    }

    /// What one row counts against [`Dialect::max_statement_bytes`].
    fn row_bytes(&self, row: &WriteRow<'_>) -> usize {
        row.key.len() + row.value.len()
    }

    /// Live rows of these keys (no duplicates among them): filtered in the
    /// statement, or marked [`Stmt::live_in_column`] and filtered by the
    /// connection.
    fn get(&self, keys: &[&str]) -> Stmt;

    /// Locks the rows of these keys (distinct, sorted, at least two) that
    /// exist, in key order, for the rest of the transaction; `None` when the
    /// database needs no row locks (SQLite has one writer). A transaction's
    /// statements go out by kind (upserts, then conditional updates, ...),
    /// so two transactions writing the same keys with different kinds would
    /// otherwise take their locks in different orders and deadlock.
    fn lock(&self, keys: &[&str]) -> Option<Stmt> {
        let _ = keys;
        None
    }

    /// Unconditional upserts; every row is applied.
    fn upsert(&self, rows: &[WriteRow<'_>]) -> Stmt;

    /// Updates of live rows whose etag is `expected`. With several rows the
    /// statement returns the keys it changed, or the caller reads the etags
    /// back.
    fn update_if_match(&self, rows: &[WriteRow<'_>]) -> Stmt;

    /// Inserts of keys that are absent or expired. With several rows the
    /// statement returns the keys it changed, or the caller reads the etags
    /// back.
    fn insert_if_absent(&self, rows: &[WriteRow<'_>]) -> Stmt;

    /// Unconditional deletes.
    fn delete(&self, keys: &[&str]) -> Stmt;

    /// Deletes of live rows with these etags. With several rows the
    /// statement must return the keys it deleted.
    fn delete_if_match(&self, rows: &[KeyEtag<'_>]) -> Stmt;

    /// The keys among these that are live (returns one text column).
    fn live_keys(&self, keys: &[&str]) -> Stmt;

    /// Deletes the live keys in `[from, to)` whose rest after `prefix_chars`
    /// characters holds no `||`; the count is the statement's row count.
    fn delete_with_prefix(&self, from: &str, to: &str, prefix_chars: usize) -> Stmt;

    /// Live keys matching `pattern` and greater than `after`, in key order,
    /// at most `limit` (returns one text column).
    fn keys_like(&self, pattern: &LikePattern, after: &str, limit: Option<u64>) -> Stmt;

    /// The fixed bookkeeping statements in this dialect's text.
    fn bookkeeping(&self) -> &Bookkeeping;

    /// Creates the metadata table (and what it needs) when missing.
    fn create_metadata_table(&self) -> Vec<Stmt>;

    /// A cheap round trip.
    fn ping(&self) -> Stmt {
        Stmt::fixed(&self.bookkeeping().ping, Vec::new())
    }

    /// Reads a metadata value (one text column).
    fn metadata_get(&self, key: &str) -> Stmt {
        let b = self.bookkeeping();
        Stmt::fixed(&b.metadata_get, vec![Param::Text(key.to_owned())])
    }

    /// Writes a metadata value.
    fn metadata_set(&self, key: &str, value: &str) -> Stmt {
        let params = vec![Param::Text(key.to_owned()), Param::Text(value.to_owned())];
        Stmt::fixed(&self.bookkeeping().metadata_set, params)
    }

    /// Claims the cleanup turn: sets `key` to the server's time when the
    /// previous claim is at least `interval_ms` old; the row count is 1 for
    /// the instance that got the turn. (The migration creates the row.)
    fn claim_cleanup(&self, key: &str, interval_ms: i64) -> Stmt {
        let params = vec![Param::Text(key.to_owned()), Param::I64(interval_ms)];
        Stmt::fixed(&self.bookkeeping().claim, params)
    }

    /// Deletes expired rows.
    fn delete_expired(&self) -> Stmt {
        Stmt::fixed(&self.bookkeeping().delete_expired, Vec::new())
    }

    /// The schema migrations; migration `n + 1` is `migrations()[n]`.
    fn migrations(&self) -> Vec<Vec<Stmt>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_lists_come_in_a_few_sizes() {
        for (n, size) in [
            (1, 1),
            (2, 2),
            (16, 16),
            (17, 18),
            (95, 96),
            (100, 104),
            (930, 960),
            (975, 1024),
            (1000, 1024),
            (1024, 1024),
        ] {
            assert_eq!(in_size(n), size, "{n} keys");
        }
        // At most an eighth more, and a handful of sizes where a count varies.
        for n in 1..5000 {
            assert!(in_size(n) >= n && in_size(n) - n <= n / 8, "{n} keys");
        }
        let sizes: std::collections::BTreeSet<_> = (900..=1000).map(in_size).collect();
        assert_eq!(sizes.len(), 2);
        let keys: Vec<String> = (0..17).map(|i| format!("k{i:02}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let p = in_params(&keys[..3]);
        assert_eq!(p.len(), 3);
        let p = in_params(&keys);
        assert_eq!(p.len(), 18);
        assert!(matches!(&p[16], Param::Text(k) if k == "k16"));
        assert!(matches!(&p[17], Param::Text(k) if k == "k16"));
        assert!(in_params(&[]).is_empty());
    }

    /// Every `?` of a padded statement has its parameter (SQLite would read
    /// a missing one as NULL rather than fail; the dialects test theirs).
    #[test]
    fn padded_statements_bind_every_placeholder() {
        let one: Arc<str> = "SELECT v FROM t WHERE k = ?".into();
        let all: Vec<String> = (0..1000).map(|i| format!("k{i:03}")).collect();
        for n in 1..=all.len() {
            let keys: Vec<&str> = all[..n].iter().map(String::as_str).collect();
            let stmt = on_keys(&keys, &one, |n| where_in("SELECT v FROM t", "k", n));
            assert_eq!(stmt.sql.matches('?').count(), stmt.params.len(), "{n} keys");
        }
    }

    #[test]
    fn texts_give_back_what_was_packed() {
        let items = ["b", "", "ключ", "a\0b", ""];
        let t: Texts = items.iter().copied().collect();
        assert_eq!(t.len(), 5);
        assert_eq!(t.iter().collect::<Vec<_>>(), items);
        let none: Texts = std::iter::empty().collect();
        assert!(none.is_empty());
        assert_eq!(none.iter().count(), 0);
    }

    #[test]
    fn json_copies_only_what_every_json_column_takes() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        for ok in [
            r#"{"a":[1,2,{"b":null}]}"#.to_owned(),
            "1e300".into(),
            "-2.5E-12".into(),
            r#""[[[[ not nesting e99999 ""#.into(),
            r#"{"k":"\"e-20000"}"#.into(),
            r#"{"a":"x\u0000"}"#.into(),
            "true".into(),
            deep(MAX_JSON_DEPTH),
        ] {
            let copy = json_text(ok.as_bytes()).unwrap_or_else(|| panic!("{ok}"));
            let read = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
            assert_eq!(read(&copy), read(&ok), "{ok}");
        }
        for refused in [
            "1e-20000".to_owned(),
            "[1E+1001]".into(),
            "1e99999999999999999999".into(),
            deep(MAX_JSON_DEPTH + 1),
            "not json".into(),
            "{".into(),
        ] {
            assert_eq!(json_text(refused.as_bytes()), None, "{refused}");
        }
        assert_eq!(json_text(&[0xff, b'1']), None);
    }

    #[test]
    fn json_copies_are_what_the_reference_reads() {
        let copy = json_text(br#"{"a":2,"a":1,"caf\u00e9":1e3,"f":9.158478740507359,"z":1e-400}"#)
            .unwrap();
        assert!(copy.contains("\"café\""), "{copy}");
        let read: serde_json::Value = serde_json::from_str(&copy).unwrap();
        assert_eq!(read["a"], 1, "the last of two members");
        assert_eq!(read["café"], 1000.0);
        assert_eq!(read["f"], 9.158478740507359);
        assert_eq!(read["z"], 0.0, "a number below the doubles is 0");
    }

    #[test]
    fn nul_escapes_become_replacement_characters() {
        for (text, want) in [
            (r#"{"a":"x\u0000y"}"#, r#"{"a":"x\ufffdy"}"#),
            (r#"["\\u0000","\\\u0000"]"#, r#"["\\u0000","\\\ufffd"]"#),
            (r#"{"\u0000":"é\"\u0000"}"#, r#"{"\ufffd":"é\"\ufffd"}"#),
            (r#"{"plain":1}"#, r#"{"plain":1}"#),
        ] {
            assert_eq!(without_nul(text.to_owned()), want, "{text}");
        }
    }
}
