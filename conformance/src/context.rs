//! What a case gets: the store under test, its declared capabilities and
//! quirks, a key namespace of its own, and checks that turn surprises into
//! failure messages naming the operation, the key, what was expected and
//! what happened.

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use statestore_core::{
    Bytes, Capabilities, DeleteRequest, ETag, Error, ErrorKind, Feature, GetRequest, Item,
    Properties, Registration, SetRequest, Store,
};

use crate::{Quirks, Settings};

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A rule is broken; the message says which and how.
    Failed(String),
    /// The case does not apply to this store; the message says why.
    Skipped(String),
}

/// The result of a case.
pub type Outcome = Result<(), Failure>;

/// Fails the case with a formatted message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::Failure::Failed(format!($($fmt)+)));
        }
    };
}

/// Fails the case with a formatted message.
pub fn fail(message: impl Into<String>) -> Failure {
    Failure::Failed(message.into())
}

/// Skips the case with a reason.
pub fn skip(reason: impl Into<String>) -> Outcome {
    Err(Failure::Skipped(reason.into()))
}

/// Expects success.
pub fn ok<T>(r: statestore_core::Result<T>, what: impl Display) -> Result<T, Failure> {
    r.map_err(|e| fail(format!("{what}: expected success, got error: {e:#}")))
}

/// Expects an error of `kind` that names the store and the operation.
pub fn fails<T: Debug>(
    r: statestore_core::Result<T>,
    kind: ErrorKind,
    what: impl Display,
) -> Result<Error, Failure> {
    match r {
        Ok(v) => Err(fail(format!(
            "{what}: expected {kind:?}, got success: {v:?}"
        ))),
        Err(e) if e.kind() != kind => Err(fail(format!(
            "{what}: expected {kind:?}, got {:?}: {e:#}",
            e.kind()
        ))),
        Err(e) if e.store().is_none() || e.operation().is_none() => Err(fail(format!(
            "{what}: the {kind:?} error does not name the store and the operation (docs/contract.md, *Errors*): {e}"
        ))),
        Err(e) => Ok(e),
    }
}

/// Whether an optimistic write applied (`true`) or lost a race to another
/// writer (`false`, from `ETagMismatch`); any other error fails the case.
pub fn applied<T>(r: statestore_core::Result<T>, what: impl Display) -> Result<bool, Failure> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::ETagMismatch => Ok(false),
        Err(e) => Err(fail(format!("{what}: {e:#}"))),
    }
}

/// Repeats an optimistic read-modify-write until it applied `times` times
/// (see [`applied`]), giving up when it makes no progress.
pub async fn until_applied<F, Fut>(what: &str, times: usize, mut attempt: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, Failure>>,
{
    let (mut done, mut tries) = (0, 0);
    while done < times {
        tries += 1;
        if tries > times.saturating_mul(1000) {
            return Err(fail(format!("{what}: no progress after {tries} attempts")));
        }
        if attempt().await? {
            done += 1;
        }
    }
    Ok(())
}

/// What the suite knows about the target, shared by every case.
pub struct Target {
    /// The registration (name, factory, declared features and properties).
    pub registration: Registration,
    /// The version under test.
    pub version: &'static str,
    /// The properties the store was initialised with.
    pub properties: Properties,
    /// Declared quirks.
    pub quirks: Quirks,
    /// Sizes of races and model-based runs.
    pub settings: Settings,
    /// The prefix of every key of this run.
    pub run_prefix: String,
    /// The run's seed: the settings' seed, or a random one. Every random
    /// choice of a case derives from it ([`Ctx::rng`]), and every failure
    /// prints it, so a failure found once is found again with
    /// `STATESTORE_SEED`.
    pub seed: u64,
}

/// One case's view of the store.
pub struct Ctx {
    /// The store under test, initialised and shared by every case.
    pub store: Arc<dyn Store>,
    /// The target.
    pub target: Arc<Target>,
    prefix: String,
    seed: u64,
    keys: Mutex<BTreeSet<String>>,
}

impl Ctx {
    /// A context whose keys start with `prefix`, for the case named `case`.
    pub fn new(store: Arc<dyn Store>, target: Arc<Target>, prefix: String, case: &str) -> Self {
        // Each case draws its own numbers from the run's seed, whatever
        // other cases run and in which order.
        let seed = case.bytes().fold(target.seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Ctx {
            store,
            target,
            prefix,
            seed,
            keys: Mutex::new(BTreeSet::new()),
        }
    }

    /// A random number generator for this case, seeded from the run's seed.
    pub fn rng(&self) -> fastrand::Rng {
        fastrand::Rng::with_seed(self.seed)
    }

    /// This case's key for `name` (remembered, and deleted after the case).
    pub fn key(&self, name: &str) -> String {
        let key = format!("{}{name}", self.prefix);
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        key
    }

    /// The prefix of every key of this case (not remembered for cleanup).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The store's capabilities.
    pub fn caps(&self) -> Capabilities {
        self.store.capabilities()
    }

    /// Whether the store declares `feature`.
    pub fn has(&self, feature: Feature) -> bool {
        self.caps().has(feature)
    }

    /// The store's type name.
    pub fn name(&self) -> &'static str {
        self.target.registration.name
    }

    /// Tasks per race and successful writes per task, at least one each
    /// (the one place that reads the race settings).
    pub fn race_size(&self) -> (usize, usize) {
        let s = &self.target.settings;
        (s.race_workers.max(1), s.race_rounds.max(1))
    }

    /// A new, uninitialised instance of the store's type.
    pub fn fresh_instance(&self) -> Box<dyn Store> {
        (self.target.registration.factory)(self.target.version)
    }

    /// Deletes every key this case used (errors are ignored: the case's
    /// outcome is what matters).
    pub async fn cleanup(&self) {
        let keys: Vec<String> =
            std::mem::take(&mut *self.keys.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .collect();
        for chunk in keys.chunks(500) {
            let reqs = chunk.iter().map(DeleteRequest::new).collect();
            let _ = self.store.bulk_delete(reqs).await;
        }
    }

    /// `set` expecting success; returns the new etag.
    pub async fn put(&self, key: &str, value: impl Into<Bytes>) -> Result<Option<ETag>, Failure> {
        ok(
            self.store.set(SetRequest::new(key, value)).await,
            format!("set {key:?}"),
        )
    }

    /// `set` of any request expecting success; failures describe the request.
    pub async fn write(&self, req: SetRequest) -> Result<Option<ETag>, Failure> {
        let mut what = format!("set {:?}", req.key);
        if req.etag.is_some() {
            what.push_str(" with an etag");
        }
        if req.concurrency == statestore_core::Concurrency::FirstWrite {
            what.push_str(" first-write");
        }
        if let Some(ttl) = req.ttl {
            what.push_str(&format!(" with ttl {}", ttl.as_seconds()));
        }
        if let Some(ttl) = req.metadata.get("ttlInSeconds") {
            what.push_str(&format!(" with ttlInSeconds {ttl}"));
        }
        ok(self.store.set(req).await, what)
    }

    /// `get` expecting success.
    pub async fn read(&self, key: &str) -> Result<Option<Item>, Failure> {
        ok(
            self.store.get(GetRequest::new(key)).await,
            format!("get {key:?}"),
        )
    }

    /// `get` expecting a value; returns it.
    pub async fn read_some(&self, key: &str) -> Result<Item, Failure> {
        self.read(key)
            .await?
            .ok_or_else(|| fail(format!("get {key:?}: expected a value, got none")))
    }

    /// `get` expecting no value.
    pub async fn read_none(&self, key: &str, why: &str) -> Outcome {
        match self.read(key).await? {
            None => Ok(()),
            Some(item) => Err(fail(format!(
                "get {key:?} ({why}): expected no value, got {} bytes with etag {:?}",
                item.value.len(),
                item.etag
            ))),
        }
    }

    /// `get` expecting exactly `value`; returns the item.
    pub async fn read_eq(&self, key: &str, value: &[u8]) -> Result<Item, Failure> {
        let item = self.read_some(key).await?;
        ensure!(
            item.value == value,
            "get {key:?}: expected {}, got {}",
            show(value),
            show(&item.value)
        );
        Ok(item)
    }

    /// The etag of a write that must have returned one.
    pub fn etag_of(&self, etag: Option<ETag>, what: &str) -> Result<ETag, Failure> {
        match etag {
            Some(e) if !e.is_empty() => Ok(e),
            _ => Err(fail(format!(
                "{what}: expected a non-empty etag (store declares ETAG), got {etag:?}"
            ))),
        }
    }
}

/// `text` as a LIKE pattern that matches it literally (wildcards escaped).
pub fn like_escape(text: &str) -> String {
    statestore_core::like::escape(text)
}

/// The moments around a write, to check the expiry it set.
pub struct Around {
    before: SystemTime,
    after: SystemTime,
}

impl Around {
    /// Runs `write`, noting the time before and after it.
    pub async fn write<T>(write: impl std::future::Future<Output = T>) -> (T, Around) {
        let before = SystemTime::now();
        let out = write.await;
        (
            out,
            Around {
                before,
                after: SystemTime::now(),
            },
        )
    }

    /// Whether `at` is the write's time plus `secs`, within 2 s either way
    /// (clocks of client and server differ a little).
    pub fn expires(&self, at: Option<SystemTime>, secs: u64) -> bool {
        at.is_some_and(|t| {
            t >= self.before + Duration::from_secs(secs.saturating_sub(2))
                && t <= self.after + Duration::from_secs(secs + 2)
        })
    }
}

/// A short, safe rendering of value bytes for failure messages of the
/// suite's own test values.
pub fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.len() <= 64 => format!("{s:?}"),
        _ => format!("<{} bytes>", bytes.len()),
    }
}
