//! The driver calls: connecting, reading, and the `update` and `delete`
//! commands that carry every write.
//!
//! Every write is one statement of an `update` command, so that a batch
//! gets one outcome per statement (the `delete` command reports only a
//! total). A statement's query matches the key (and the etag it is
//! conditional on), and its update pipeline checks the rest with the
//! server's clock: when the condition fails, the pipeline converts
//! [`MISMATCH`] to a number, which fails the statement with a write error
//! at its index and writes nothing (upserts may not filter with `$expr`).
//! A delete expires the document (its `_ttl` becomes the epoch, its etag a
//! new one), which makes it invisible at once, and one `delete` command
//! then removes what the batch expired, by key and new etag.

use std::time::Duration;

use mongodb::bson::raw::cstr;
use mongodb::bson::{Bson, DateTime, Document, RawArrayBuf, RawDocumentBuf, doc};
use mongodb::options::{
    Acknowledgment, ClientOptions, CollectionOptions, ReadConcern, TransactionOptions, WriteConcern,
};
use mongodb::{Client, ClientSession, Collection, Database};
use statestore_core::check::Condition;
use statestore_core::{Error, Item, Result};

use crate::config::{self, Config};
use crate::error::{self, CONVERSION_FAILURE, DUPLICATE_KEY};
use crate::layout::{self, ETAG, EXTRA, Fields, ID, TTL, VALUE};

/// The text the guard of a conditional write fails to convert: a write
/// error carrying it means the condition did not hold.
pub const MISMATCH: &str = "statestore: the condition of this write does not hold";

/// The text a statement with a malformed etag fails to convert: it fails
/// in its place among the others (a transaction reports its first failing
/// operation in request order).
pub const MALFORMED: &str = "statestore: malformed etag";

/// A connected store.
pub struct Core {
    client: Client,
    db: Database,
    coll: Collection<Document>,
    /// The collection, read as raw documents.
    raw: Collection<RawDocumentBuf>,
    config: Config,
    /// Whether the deployment runs transactions (a replica set or a
    /// sharded cluster, as the server's `hello` says).
    pub transactions: bool,
}

/// The projection of reads by key: the stored fields, and the server's
/// `$$NOW` to compare the expiry with (a projection, unlike a filter, keeps
/// the server on its point lookup by `_id`).
fn by_key_projection() -> Document {
    doc! { VALUE: 1, ETAG: 1, TTL: 1, EXTRA: 1, layout::NOW: "$$NOW" }
}

/// How near its expiry, by this process's clock, a document read by key is
/// read again with the server's clock: the clocks of this process and of the
/// server must differ by less (NTP keeps them within milliseconds).
pub const CLOSE_CALL: Duration = Duration::from_secs(60);

/// Whether a document read by key with [`layout::NOW`] had not expired
/// when the server read it.
fn alive(doc: &Fields) -> bool {
    match (doc.ttl, doc.now) {
        (Some(t), Some(now)) => t > now,
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// What this process's clock can tell of a document read without `$$NOW`.
enum Verdict {
    Live,
    Expired,
    /// It expires within [`CLOSE_CALL`]: only the server's clock may judge.
    Ask,
}

fn judge(doc: &Fields) -> Verdict {
    let Some(at) = doc.ttl else {
        return Verdict::Live;
    };
    let now = DateTime::now().timestamp_millis();
    let at = at.timestamp_millis();
    let close = CLOSE_CALL.as_millis() as i64;
    if at > now.saturating_add(close) {
        Verdict::Live
    } else if at < now.saturating_sub(close) {
        Verdict::Expired
    } else {
        Verdict::Ask
    }
}

/// One write of a batch, as a statement.
pub struct Statement {
    /// The key.
    pub key: String,
    /// The statement of the `update` command, as BSON: serialized once,
    /// it is sized and copied into its command without another pass.
    pub update: RawDocumentBuf,
    /// The etag a delete leaves on the expired document, for the cleanup.
    pub expired_etag: Option<String>,
}

impl Statement {
    fn new(key: &str, update: &Document, expired_etag: Option<String>) -> Result<Statement> {
        let update = RawDocumentBuf::try_from(update)
            .map_err(|e| Error::invalid("the write cannot be written as BSON").with_source(e))?;
        Ok(Statement {
            key: key.to_owned(),
            update,
            expired_etag,
        })
    }
}

/// Most statements in one command.
pub const MAX_STATEMENTS: usize = 1000;
/// Most bytes of statements in one command: a command is one document of
/// at most 16 MiB.
pub const MAX_COMMAND_BYTES: usize = 15 * 1024 * 1024;

/// The size of a statement as BSON.
fn size(s: &&Statement) -> usize {
    s.update.as_bytes().len()
}

/// `items` in runs of at most `max_items` whose `size`s add up to at most
/// `max_bytes` (a longer item makes a run of its own). Sizes are asked for
/// only when a run could hold two items, so a lone item costs nothing.
pub fn runs<T>(
    items: &[T],
    max_items: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let mut n = 1;
        let mut bytes = None;
        while n < rest.len().min(max_items) {
            let used = *bytes.get_or_insert_with(|| size(&rest[0]));
            let more = used.saturating_add(size(&rest[n]));
            if more > max_bytes {
                break;
            }
            bytes = Some(more);
            n += 1;
        }
        let (run, later) = rest.split_at(n);
        out.push(run);
        rest = later;
    }
    out
}

/// The filter of documents that have not expired (the server purges
/// expired ones only about every 60 s), by the server's clock. Only an
/// expression: a plain `_ttl` predicate would let the planner scan the TTL
/// index for every document without expiry.
pub fn live() -> Document {
    doc! { "$expr": unexpired() }
}

/// Whether a document has not expired: no `_ttl`, or one still ahead.
fn unexpired() -> Bson {
    let ttl = format!("${TTL}");
    Bson::Document(doc! { "$or": [
        { "$in": [ { "$type": &ttl }, ["missing", "null"] ] },
        { "$gt": [ &ttl, "$$NOW" ] },
    ] })
}

/// Whether the document an update pipeline sees is live: it has a value
/// (an upsert that matched nothing sees none) and has not expired, by the
/// server's clock. Upserts may not filter with `$expr`, so conditions on
/// expiry are checked here, in the pipeline.
fn is_live() -> Bson {
    Bson::Document(doc! { "$and": [
        { "$ne": [ { "$type": format!("${VALUE}") }, "missing" ] },
        unexpired(),
    ] })
}

/// `then` when `fails` holds for the document the pipeline sees, else
/// `value`: the failing branch converts [`MISMATCH`] to a number, which
/// fails the statement with a write error at its index.
fn unless(fails: Bson, value: Bson) -> Bson {
    Bson::Document(doc! { "$cond": [ fails, { "$toInt": MISMATCH }, value ] })
}

fn not(b: Bson) -> Bson {
    Bson::Document(doc! { "$not": [ b ] })
}

/// The statement of an upsert of `key` under `condition`, with `stored`
/// bytes, a ttl in seconds and a content type; returns it with its etag.
///
/// * always, without a ttl: matches the key, upserts, and replaces the
///   document with one whose `_ttl` is null, as Dapr writes it: no
///   pipeline to evaluate;
/// * always, with a ttl: matches the key, upserts, and sets the fields in a
///   pipeline, which computes the expiry with the server's `$$NOW`;
/// * first-write: matches the key, upserts, and fails when the document
///   it sees is live;
/// * an etag: matches the key with that etag, upserts, and fails when the
///   document it sees is not live (the upsert's empty document when the
///   etag matched nothing, or an expired one).
pub fn set_statement(
    key: &str,
    condition: &Condition,
    stored: layout::Stored,
    ttl_seconds: Option<u32>,
    content_type: Option<&str>,
) -> Result<(Statement, String)> {
    let etag = layout::new_etag();
    let extra = layout::extra_doc(&etag, &stored, content_type);
    if matches!(condition, Condition::Always) && ttl_seconds.is_none() {
        let update = doc! {
            "q": { ID: key },
            "u": { VALUE: stored.value, ETAG: &etag, TTL: Bson::Null, EXTRA: extra },
            "upsert": true,
        };
        return Ok((Statement::new(key, &update, None)?, etag));
    }
    let value = Bson::Document(doc! { "$literal": stored.value });
    let ttl = match ttl_seconds {
        Some(n) => Bson::Document(doc! { "$add": [ "$$NOW", i64::from(n) * 1000 ] }),
        None => Bson::Null,
    };
    let (q, value) = match condition {
        Condition::Always => (doc! { ID: key }, value),
        Condition::IfAbsent => (doc! { ID: key }, unless(is_live(), value)),
        Condition::IfMatch(e) => (
            doc! { ID: key, ETAG: e.as_str() },
            unless(not(is_live()), value),
        ),
    };
    let extra = Bson::Document(doc! { "$literal": extra });
    let update = doc! {
        "q": q,
        "u": [ { "$set": { VALUE: value, ETAG: &etag, TTL: ttl, EXTRA: extra } } ],
        "upsert": true,
    };
    Ok((Statement::new(key, &update, None)?, etag))
}

/// The statement of a delete of `key` under `condition`: the document is
/// expired now (its `_ttl` the epoch, its etag a new one), to be removed by
/// the batch's cleanup.
pub fn delete_statement(key: &str, condition: &Condition) -> Result<Statement> {
    let etag = layout::new_etag();
    let keep = Bson::String(format!("${VALUE}"));
    let expire =
        |value: Bson| doc! { "$set": { VALUE: value, ETAG: &etag, TTL: DateTime::from_millis(0) } };
    let (q, u, upsert, expired_etag) = match condition {
        Condition::Always => (doc! { ID: key }, expire(keep), false, Some(etag.clone())),
        Condition::IfMatch(e) => (
            doc! { ID: key, ETAG: e.as_str() },
            expire(unless(not(is_live()), keep)),
            true,
            Some(etag.clone()),
        ),
        // Only a check: a live document fails it, nothing is written.
        Condition::IfAbsent => (
            doc! { ID: key },
            doc! { "$set": { VALUE: unless(is_live(), keep) } },
            false,
            None,
        ),
    };
    let update = doc! { "q": q, "u": [ u ], "upsert": upsert };
    Statement::new(key, &update, expired_etag)
}

/// The statement of an operation on `key` whose etag is malformed: it
/// always fails, with [`MALFORMED`], and writes nothing.
pub fn malformed_statement(key: &str) -> Result<Statement> {
    let update = doc! { "q": { ID: key }, "u": [ { "$set": { VALUE: { "$toInt": MALFORMED } } } ], "upsert": true };
    Statement::new(key, &update, None)
}

/// Whether a write error at a statement means its condition failed.
fn is_mismatch(code: i32, message: &str) -> bool {
    code == DUPLICATE_KEY || (code == CONVERSION_FAILURE && message.contains(MISMATCH))
}

impl Core {
    /// Connects, learns whether the deployment runs transactions, and
    /// creates the TTL index (creating an existing, identical index is a
    /// no-op, so instances may start together).
    pub async fn connect(config: &Config) -> Result<Core> {
        let mut options = ClientOptions::parse(&config.uri).await.map_err(|e| {
            // The driver's message may quote the URI, which may hold a password.
            let kind = error::map(e).kind();
            Error::new(
                kind,
                format!(
                    "cannot use the connection URI {} (is a password holding @ : / ? or % percent-encoded?)",
                    config::redacted_uri(&config.uri)
                ),
            )
        })?;
        options.server_selection_timeout = Some(config.timeout);
        options.connect_timeout = Some(config.timeout);
        options
            .app_name
            .get_or_insert_with(|| "statestore".to_owned());
        let client = Client::with_options(options).map_err(error::map)?;
        let db = client.database(&config.database);
        let mut coll_options = CollectionOptions::default();
        coll_options.write_concern = write_concern(config);
        coll_options.read_concern = config.read_concern.as_deref().map(ReadConcern::custom);
        let coll = db.collection_with_options::<Document>(&config.collection, coll_options);
        let hello = client
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(error::map)?;
        let transactions =
            hello.get_str("setName").is_ok() || hello.get_str("msg").ok() == Some("isdbgrid");
        coll.create_index(ttl_index()).await.map_err(error::map)?;
        Ok(Core {
            client,
            db,
            raw: coll.clone_with_type(),
            coll,
            config: config.clone(),
            transactions,
        })
    }

    /// The configured bound of every call.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// The collection, for the query and the baseline.
    pub fn collection(&self) -> &Collection<Document> {
        &self.coll
    }

    /// Asks the server whether it is there.
    pub async fn ping(&self) -> Result<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(drop)
            .map_err(error::map)
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.client.clone().shutdown().immediate(true).await;
    }

    /// Calls `each` with the live documents of `keys`. As in
    /// [`Core::find_one`], only the documents whose expiry is within
    /// [`CLOSE_CALL`] of this process's clock are read a second time,
    /// together, with the server's clock.
    pub async fn find(&self, keys: &[String], mut each: impl FnMut(&Fields)) -> Result<()> {
        let mut ask = Vec::new();
        self.find_docs(keys, false, |doc| match judge(doc) {
            Verdict::Live => each(doc),
            Verdict::Expired => {}
            Verdict::Ask => ask.extend(doc.id.map(str::to_owned)),
        })
        .await?;
        if !ask.is_empty() {
            self.find_docs(&ask, true, |doc| {
                if alive(doc) {
                    each(doc)
                }
            })
            .await?;
        }
        Ok(())
    }

    /// Calls `each` with the stored documents of `keys`, with the server's
    /// `$$NOW` when `with_now`, read where the cursor holds them.
    async fn find_docs(
        &self,
        keys: &[String],
        with_now: bool,
        mut each: impl FnMut(&Fields),
    ) -> Result<()> {
        let find = self.coll.find(doc! { ID: { "$in": keys } });
        let find = if with_now {
            find.projection(by_key_projection())
        } else {
            find
        };
        let mut cursor = find.await.map_err(error::map)?;
        while cursor.advance().await.map_err(error::map)? {
            each(&Fields::read(cursor.current())?);
        }
        Ok(())
    }

    /// The live document of `key`, as an item. A plain `find_one` is the
    /// server's point lookup; a projection of `$$NOW` nearly halves its
    /// speed, so it is asked for only when the document expires within
    /// [`CLOSE_CALL`] of this process's clock, where only the server's clock
    /// may judge.
    pub async fn find_one(&self, key: &str) -> Result<Option<Item>> {
        let doc = self
            .raw
            .find_one(doc! { ID: key })
            .await
            .map_err(error::map)?;
        let Some(doc) = doc else { return Ok(None) };
        let fields = Fields::read(&doc)?;
        match judge(&fields) {
            Verdict::Live => Ok(Some(fields.item())),
            Verdict::Expired => Ok(None),
            Verdict::Ask => {
                let doc = self
                    .raw
                    .find_one(doc! { ID: key })
                    .projection(by_key_projection())
                    .await
                    .map_err(error::map)?;
                let Some(doc) = doc else { return Ok(None) };
                let fields = Fields::read(&doc)?;
                Ok(alive(&fields).then(|| fields.item()))
            }
        }
    }

    /// Runs `statements` as `update` commands of at most
    /// [`MAX_STATEMENTS`] statements and [`MAX_COMMAND_BYTES`] (ordered:
    /// stops at the first failure, as a transaction needs) and removes what
    /// they expired. One outcome per statement: `Ok`, the condition failed,
    /// or the server's error; statements after a failure in an ordered batch
    /// are reported as not run (`None`).
    pub async fn write(
        &self,
        statements: &[&Statement],
        ordered: bool,
        mut session: Option<&mut ClientSession>,
    ) -> Result<Vec<Option<Result<()>>>> {
        let mut outcomes = Vec::with_capacity(statements.len());
        for chunk in runs(statements, MAX_STATEMENTS, MAX_COMMAND_BYTES, size) {
            // An ordered batch stops at its first failure.
            if ordered && outcomes.iter().any(|o| !matches!(o, Some(Ok(())))) {
                outcomes.extend(chunk.iter().map(|_| None));
                continue;
            }
            let done = self
                .write_command(chunk, ordered, session.as_deref_mut())
                .await?;
            outcomes.extend(done);
        }
        Ok(outcomes)
    }

    /// Runs `statements` as one `update` command, as [`Core::write`] says.
    async fn write_command(
        &self,
        statements: &[&Statement],
        ordered: bool,
        mut session: Option<&mut ClientSession>,
    ) -> Result<Vec<Option<Result<()>>>> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let mut updates = RawArrayBuf::new();
        for s in statements {
            updates.push(s.update.as_ref());
        }
        let mut command = RawDocumentBuf::new();
        command.append(cstr!("update"), self.coll.name());
        command.append(cstr!("updates"), updates);
        command.append(cstr!("ordered"), ordered);
        if session.is_none()
            && let Some(wc) = self.write_concern_doc()
        {
            let wc = RawDocumentBuf::try_from(&wc).map_err(|e| {
                Error::config("the write concern cannot be written as BSON").with_source(e)
            })?;
            command.append(cstr!("writeConcern"), wc);
        }
        let reply = match session.as_deref_mut() {
            Some(s) => self.db.run_raw_command(command).session(s).await,
            None => self.db.run_raw_command(command).await,
        }
        .map_err(error::map)?;
        if let Ok(wce) = reply.get_document("writeConcernError") {
            let code = wce.get_i32("code").unwrap_or(0);
            return Err(error::kind_of(code)
                .unwrap_or_else(|| Error::backend("the write concern was not satisfied"))
                .map_message(|m| format!("{m}: {}", wce.get_str("errmsg").unwrap_or(""))));
        }
        let mut outcomes: Vec<Option<Result<()>>> =
            statements.iter().map(|_| Some(Ok(()))).collect();
        if let Ok(errors) = reply.get_array("writeErrors") {
            for e in errors.iter().filter_map(Bson::as_document) {
                let index = e.get_i32("index").unwrap_or(0) as usize;
                let code = e.get_i32("code").unwrap_or(0);
                let message = e.get_str("errmsg").unwrap_or("");
                let outcome = if is_mismatch(code, message) {
                    Err(Error::etag_mismatch(
                        "the etag does not match, the key is missing, or a first-write found it",
                    ))
                } else if code == CONVERSION_FAILURE && message.contains(MALFORMED) {
                    Err(Error::etag_invalid(
                        "the etag is not one of this store (a UUID in lower case)",
                    ))
                } else {
                    Err(error::kind_of(code)
                        .unwrap_or_else(|| Error::backend("MongoDB refused the write"))
                        .map_message(|m| format!("{m}: {message}")))
                };
                if let Some(slot) = outcomes.get_mut(index) {
                    *slot = Some(outcome);
                }
                if ordered {
                    for later in outcomes.iter_mut().skip(index + 1) {
                        *later = None;
                    }
                }
            }
        }
        // A failed statement aborts a transaction: nothing to clean up.
        if session.is_some() && outcomes.iter().any(|o| !matches!(o, Some(Ok(())))) {
            return Ok(outcomes);
        }
        let expired: Vec<(&str, &str)> = statements
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Some(Ok(()))))
            .filter_map(|(s, _)| s.expired_etag.as_deref().map(|e| (s.key.as_str(), e)))
            .collect();
        if !expired.is_empty() {
            self.remove_expired(&expired, session).await?;
        }
        Ok(outcomes)
    }

    /// Removes documents a batch expired, by key and the etag it left.
    async fn remove_expired(
        &self,
        done: &[(&str, &str)],
        session: Option<&mut ClientSession>,
    ) -> Result<()> {
        let keys: Vec<&str> = done.iter().map(|(k, _)| *k).collect();
        let etags: Vec<&str> = done.iter().map(|(_, e)| *e).collect();
        let mut command = doc! {
            "delete": self.coll.name(),
            "deletes": [ { "q": { ID: { "$in": keys }, ETAG: { "$in": etags } }, "limit": 0 } ],
        };
        if session.is_none()
            && let Some(wc) = self.write_concern_doc()
        {
            command.insert("writeConcern", wc);
        }
        match session {
            Some(s) => self.db.run_command(command).session(s).await,
            None => self.db.run_command(command).await,
        }
        .map(drop)
        .map_err(error::map)
    }

    /// Runs `statements` in a transaction: all apply, or none. The outcome
    /// of each statement, as [`Core::write`] gives them; the transaction
    /// commits only when every statement applied, and is tried again after
    /// a transient error (a conflict with another transaction, an election).
    pub async fn transact(&self, statements: &[Statement]) -> Result<Vec<Option<Result<()>>>> {
        let mut session = self.client.start_session().await.map_err(error::map)?;
        let mut options = TransactionOptions::default();
        options.read_concern = Some(ReadConcern::snapshot());
        options.write_concern = write_concern(&self.config)
            .or_else(|| Some(WriteConcern::builder().w(Acknowledgment::Majority).build()));
        // Conflicting transactions are tried again for half the
        // operationTimeout, so a caller sees the conflict itself rather
        // than the call's timeout.
        let deadline = tokio::time::Instant::now() + self.config.timeout / 2;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let again = |attempt| {
                let pause = backoff(attempt);
                (tokio::time::Instant::now() + pause < deadline).then_some(pause)
            };
            session
                .start_transaction()
                .with_options(options.clone())
                .await
                .map_err(error::map)?;
            let refs: Vec<&Statement> = statements.iter().collect();
            let outcomes = match self.write(&refs, true, Some(&mut session)).await {
                Ok(o) => o,
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    // Nothing was committed: trying again is safe.
                    match again(attempt) {
                        Some(pause) if e.is_retryable() => tokio::time::sleep(pause).await,
                        _ => return Err(e),
                    }
                    continue;
                }
            };
            if outcomes.iter().any(|o| !matches!(o, Some(Ok(())))) {
                let _ = session.abort_transaction().await;
                return Ok(outcomes);
            }
            match commit(&mut session).await {
                Ok(()) => return Ok(outcomes),
                // Only a transient error says the commit did not happen.
                Err((e, true)) => match again(attempt) {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => return Err(e),
                },
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Deletes the live direct children of `prefix` (which ends in `||`);
    /// returns how many.
    pub async fn delete_children(&self, prefix: &str) -> Result<u64> {
        let mut q = live();
        q.insert(
            ID,
            doc! { "$regex": children_regex(prefix), "$options": "s" },
        );
        let mut command =
            doc! { "delete": self.coll.name(), "deletes": [ { "q": q, "limit": 0 } ] };
        if let Some(wc) = self.write_concern_doc() {
            command.insert("writeConcern", wc);
        }
        let reply = self.db.run_command(command).await.map_err(error::map)?;
        if let Ok(errors) = reply.get_array("writeErrors")
            && let Some(e) = errors.iter().filter_map(Bson::as_document).next()
        {
            let message = e.get_str("errmsg").unwrap_or("");
            return Err(Error::backend(format!(
                "MongoDB refused the delete: {message}"
            )));
        }
        Ok(reply.get_i32("n").map(|n| n as u64).unwrap_or(0))
    }

    /// Live keys matching `regex` after `after`, in key order, at most
    /// `limit`.
    pub async fn keys(&self, regex: &str, after: &str, limit: Option<i64>) -> Result<Vec<String>> {
        let mut filter = live();
        let mut id = doc! { "$regex": regex, "$options": "s" };
        if !after.is_empty() {
            id.insert("$gt", after);
        }
        filter.insert(ID, id);
        let mut find = self
            .coll
            .find(filter)
            .projection(doc! { ID: 1 })
            .sort(doc! { ID: 1 });
        if let Some(n) = limit {
            find = find.limit(n);
        }
        let mut cursor = find.await.map_err(error::map)?;
        let mut keys = Vec::new();
        while cursor.advance().await.map_err(error::map)? {
            let id = cursor
                .current()
                .get_str(ID)
                .map_err(|e| Error::backend("a stored _id is not a string").with_source(e))?;
            keys.push(id.to_owned());
        }
        Ok(keys)
    }

    /// The write concern of a command outside a transaction, if one is set.
    fn write_concern_doc(&self) -> Option<Document> {
        match self.config.write_concern.as_ref()? {
            config::WriteConcern::Majority => Some(doc! { "w": "majority", "j": true }),
            config::WriteConcern::Nodes(n) => Some(doc! { "w": i64::from(*n), "j": true }),
        }
    }
}

/// The driver's form of the configured write concern.
fn write_concern(config: &Config) -> Option<WriteConcern> {
    let w = match config.write_concern.as_ref()? {
        config::WriteConcern::Majority => Acknowledgment::Majority,
        config::WriteConcern::Nodes(n) => Acknowledgment::Nodes(*n),
    };
    Some(WriteConcern::builder().w(w).journal(true).build())
}

/// Commits, retrying a commit whose result is unknown (as the driver
/// documents: it is safe). An error comes with whether it is transient,
/// which means the transaction did not commit and may be run again.
async fn commit(session: &mut ClientSession) -> std::result::Result<(), (Error, bool)> {
    let mut tries = 0;
    loop {
        tries += 1;
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(e)
                if e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    && tries < 3 => {}
            Err(e) => {
                let transient = e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR);
                return Err((error::map(e), transient));
            }
        }
    }
}

/// The TTL index on `_ttl`, which lets the server remove expired documents
/// (the bench's baseline builds the same on its own collection).
pub(crate) fn ttl_index() -> mongodb::IndexModel {
    let expire = mongodb::options::IndexOptions::builder()
        .expire_after(Duration::ZERO)
        .build();
    mongodb::IndexModel::builder()
        .keys(doc! { TTL: 1 })
        .options(expire)
        .build()
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(5u64 << attempt.min(6)) + Duration::from_millis(fastrand::u64(..10))
}

/// `text` with every character that a regular expression could read as an
/// operator escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The anchored expression of the direct children of `prefix`: the prefix,
/// then anything without `||`.
pub fn children_regex(prefix: &str) -> String {
    format!(r"^{}(?:[^|]|\|(?!\|))*\z", escape(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_bounded_by_count_and_bytes() {
        let lens = |runs: Vec<&[usize]>| runs.iter().map(|r| r.len()).collect::<Vec<_>>();
        let asked = std::cell::Cell::new(0);
        let size = |n: &usize| {
            asked.set(asked.get() + 1);
            *n
        };
        assert_eq!(lens(runs(&[5], 10, 1, size)), [1]);
        assert_eq!(asked.get(), 0, "a lone item is never sized");
        assert_eq!(lens(runs(&[1, 1, 1, 1, 1], 2, 100, size)), [2, 2, 1]);
        assert_eq!(lens(runs(&[4, 4, 4, 20, 1], 10, 10, size)), [2, 1, 1, 1]);
        assert!(runs::<usize>(&[], 10, 10, size).is_empty());
    }

    #[test]
    fn regexes_are_anchored_and_escaped() {
        assert_eq!(escape("a.b*c|d||é"), r"a\.b\*c\|d\|\|é");
        assert_eq!(children_regex("p||"), r"^p\|\|(?:[^|]|\|(?!\|))*\z");
    }
}
