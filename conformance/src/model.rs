//! Model-based testing (docs/conformance.md, *Model-based testing*): seeded
//! random sequences of operations run against the store under test and
//! against the in-memory reference store, step by step; every result must
//! agree. A failing sequence is shrunk and printed with the seed that
//! reproduces it.
//!
//! Etags differ between stores, so sequences name them symbolically ("the
//! latest etag seen for key 2", "an older one") and each side resolves the
//! symbol against the etags it has seen itself. Expiry times are compared by
//! presence only; ttls are long, so nothing expires during a run.

use std::fmt;

use statestore_core::memory::MemoryStore;
use statestore_core::{
    Bytes, DeleteRequest, ETag, Error, ErrorKind, Feature, Features, GetRequest, KeyResult,
    Properties, SetRequest, Store, TransactRequest, TransactionOp, Ttl,
};

use crate::context::{Ctx, Outcome, fail, skip};

/// Keys one sequence touches; few, so operations collide often.
const KEYS: usize = 4;
/// The longest bulk call or transaction a sequence makes.
const MAX_BATCH: usize = 5;
/// Reruns the shrinker may spend on one failure.
const SHRINK_BUDGET: usize = 400;
/// An etag the reference store never issues (it issues decimal numbers).
const REFERENCE_MALFORMED: &str = "not an etag!";
/// Sequences run at once (each in its own key namespace).
const PARALLEL: usize = 4;

/// Which etag an operation carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    None,
    Empty,
    /// The latest etag seen for this key (of any key if it has none yet).
    Latest(usize),
    /// An etag seen for this key before its latest one.
    Older(usize),
    Malformed,
}

/// How a write asks for a ttl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TtlAsk {
    None,
    Hour,
    Never,
    /// `ttlInSeconds` metadata of one hour.
    Metadata,
    /// `ttlInSeconds` metadata that is not a number.
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Put {
    key: usize,
    value: Vec<u8>,
    tag: Tag,
    first_write: bool,
    ttl: TtlAsk,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Del {
    key: usize,
    tag: Tag,
    first_write: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TxOp {
    Put(Put),
    Del(Del),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Get(usize),
    Put(Put),
    Del(Del),
    BulkGet(Vec<usize>),
    BulkPut(Vec<Put>),
    BulkDel(Vec<Del>),
    Transact(Vec<TxOp>),
}

/// What one side saw for one step, comparable across stores.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Value(Option<Found>),
    Done,
    Failed(ErrorKind),
    Each(Vec<(usize, Seen)>),
    /// A transaction applied; whether each operation returned an etag.
    Etags(Vec<bool>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    value: Bytes,
    expires: bool,
    etag: bool,
}

/// What the generator may use, from the store's declared capabilities.
#[derive(Clone, Copy)]
struct Gen {
    etag: bool,
    ttl: bool,
    tx: bool,
    max_tx: usize,
}

impl Gen {
    fn new(features: Features, max_tx: usize) -> Self {
        Gen {
            etag: features.contains(Feature::ETag),
            ttl: features.contains(Feature::Ttl),
            tx: features.contains(Feature::Transactional),
            max_tx: max_tx.clamp(1, MAX_BATCH),
        }
    }

    fn sequence(&self, seed: u64, steps: usize) -> Vec<Step> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..steps).map(|_| self.step(&mut rng)).collect()
    }

    fn step(&self, rng: &mut fastrand::Rng) -> Step {
        let kinds = if self.tx { 7 } else { 6 };
        let key = rng.usize(..KEYS);
        match rng.usize(..kinds) {
            0 => Step::Get(key),
            1 | 2 => Step::Put(self.put(rng, key)),
            3 => Step::Del(self.del(rng, key)),
            4 => Step::BulkGet(
                (0..rng.usize(1..=MAX_BATCH))
                    .map(|_| rng.usize(..KEYS))
                    .collect(),
            ),
            5 => {
                // Distinct keys: a bulk call's order between repeated keys is
                // not part of the contract when conditions are involved.
                let n = rng.usize(1..=KEYS);
                let keys = distinct(rng, n);
                if rng.bool() {
                    Step::BulkPut(keys.into_iter().map(|k| self.put(rng, k)).collect())
                } else {
                    Step::BulkDel(keys.into_iter().map(|k| self.del(rng, k)).collect())
                }
            }
            _ => Step::Transact(
                (0..rng.usize(1..=self.max_tx))
                    .map(|_| {
                        let k = rng.usize(..KEYS);
                        if rng.usize(..3) == 0 {
                            TxOp::Del(self.del(rng, k))
                        } else {
                            TxOp::Put(self.put(rng, k))
                        }
                    })
                    .collect(),
            ),
        }
    }

    fn tag(&self, rng: &mut fastrand::Rng, key: usize) -> Tag {
        if !self.etag {
            return Tag::None;
        }
        match rng.usize(..10) {
            0..=2 => Tag::None,
            3 => Tag::Empty,
            4..=6 => Tag::Latest(key),
            7 => Tag::Latest(rng.usize(..KEYS)),
            8 => Tag::Older(key),
            _ => Tag::Malformed,
        }
    }

    fn put(&self, rng: &mut fastrand::Rng, key: usize) -> Put {
        let value = match rng.usize(..8) {
            0 => (0..rng.usize(..16)).map(|_| rng.u8(..)).collect(),
            1 => Vec::new(),
            _ => format!("v{}", rng.u16(..)).into_bytes(),
        };
        let ttl = if !self.ttl {
            TtlAsk::None
        } else {
            match rng.usize(..12) {
                0 | 1 => TtlAsk::Hour,
                2 => TtlAsk::Never,
                3 => TtlAsk::Metadata,
                4 => TtlAsk::Malformed,
                _ => TtlAsk::None,
            }
        };
        Put {
            key,
            value,
            tag: self.tag(rng, key),
            first_write: self.etag && rng.usize(..5) == 0,
            ttl,
        }
    }

    fn del(&self, rng: &mut fastrand::Rng, key: usize) -> Del {
        Del {
            key,
            tag: self.tag(rng, key),
            first_write: self.etag && rng.usize(..5) == 0,
        }
    }
}

fn distinct(rng: &mut fastrand::Rng, n: usize) -> Vec<usize> {
    let mut keys: Vec<usize> = (0..KEYS).collect();
    rng.shuffle(&mut keys);
    keys.truncate(n);
    keys
}

/// One store's view of a sequence: its keys and the etags it has seen.
struct Side<'a> {
    store: &'a dyn Store,
    /// An etag this store can never produce (its quirk).
    malformed: &'a str,
    keys: Vec<String>,
    etags: Vec<Vec<ETag>>,
    last_seen: Option<ETag>,
}

impl<'a> Side<'a> {
    fn new(store: &'a dyn Store, malformed: &'a str, keys: Vec<String>) -> Self {
        Side {
            store,
            malformed,
            etags: vec![Vec::new(); keys.len()],
            keys,
            last_seen: None,
        }
    }

    fn saw(&mut self, key: usize, etag: Option<&ETag>) {
        if let Some(e) = etag.filter(|e| !e.is_empty()) {
            if self.etags[key].last() != Some(e) {
                self.etags[key].push(e.clone());
            }
            self.last_seen = Some(e.clone());
        }
    }

    fn resolve(&self, tag: Tag) -> Option<ETag> {
        match tag {
            Tag::None => None,
            Tag::Empty => Some(ETag::new("")),
            Tag::Malformed => Some(ETag::new(self.malformed)),
            Tag::Latest(k) => self.etags[k].last().or(self.last_seen.as_ref()).cloned(),
            Tag::Older(k) => match self.etags[k].len() {
                n if n >= 2 => Some(self.etags[k][n - 2].clone()),
                _ => self.resolve(Tag::Latest(k)),
            },
        }
    }

    fn key_index(&self, key: &str) -> usize {
        self.keys
            .iter()
            .position(|k| k == key)
            .unwrap_or(usize::MAX)
    }

    fn set_request(&self, p: &Put) -> SetRequest {
        let mut req = SetRequest::new(&self.keys[p.key], p.value.clone());
        req.etag = self.resolve(p.tag);
        if p.first_write {
            req = req.first_write();
        }
        match p.ttl {
            TtlAsk::None => req,
            TtlAsk::Hour => req.ttl(Ttl::Seconds(3600)),
            TtlAsk::Never => req.ttl(Ttl::Never),
            TtlAsk::Metadata => req.metadata("ttlInSeconds", "3600"),
            TtlAsk::Malformed => req.metadata("ttlInSeconds", "soon"),
        }
    }

    fn delete_request(&self, d: &Del) -> DeleteRequest {
        let mut req = DeleteRequest::new(&self.keys[d.key]);
        req.etag = self.resolve(d.tag);
        if d.first_write {
            req = req.first_write();
        }
        req
    }

    fn found(&mut self, key: usize, item: Option<statestore_core::Item>) -> Seen {
        Seen::Value(item.map(|i| {
            self.saw(key, i.etag.as_ref());
            Found {
                value: i.value,
                expires: i.expires_at.is_some(),
                etag: i.etag.is_some(),
            }
        }))
    }

    async fn run(&mut self, step: &Step) -> Seen {
        match step {
            Step::Get(k) => match self.store.get(GetRequest::new(&self.keys[*k])).await {
                Ok(item) => self.found(*k, item),
                Err(e) => failed(&e),
            },
            Step::Put(p) => match self.store.set(self.set_request(p)).await {
                Ok(etag) => {
                    self.saw(p.key, etag.as_ref());
                    Seen::Done
                }
                Err(e) => failed(&e),
            },
            Step::Del(d) => match self.store.delete(self.delete_request(d)).await {
                Ok(()) => Seen::Done,
                Err(e) => failed(&e),
            },
            Step::BulkGet(keys) => {
                let reqs = keys
                    .iter()
                    .map(|k| GetRequest::new(&self.keys[*k]))
                    .collect();
                let results = self.store.bulk_get(reqs).await;
                self.each(results, |side, k, item| side.found(k, item))
            }
            Step::BulkPut(puts) => {
                let reqs = puts.iter().map(|p| self.set_request(p)).collect();
                let results = self.store.bulk_set(reqs).await;
                self.each(results, |side, k, etag| {
                    side.saw(k, etag.as_ref());
                    Seen::Done
                })
            }
            Step::BulkDel(dels) => {
                let reqs = dels.iter().map(|d| self.delete_request(d)).collect();
                let results = self.store.bulk_delete(reqs).await;
                self.each(results, |_, _, ()| Seen::Done)
            }
            Step::Transact(ops) => {
                let reqs: Vec<TransactionOp> = ops
                    .iter()
                    .map(|op| match op {
                        TxOp::Put(p) => self.set_request(p).into(),
                        TxOp::Del(d) => self.delete_request(d).into(),
                    })
                    .collect();
                match self.store.transact(TransactRequest::new(reqs)).await {
                    // One entry per operation: an upsert's etag, `None` for
                    // a delete.
                    Ok(etags) => {
                        for (op, etag) in ops.iter().zip(&etags) {
                            if let TxOp::Put(p) = op {
                                self.saw(p.key, etag.as_ref());
                            }
                        }
                        Seen::Etags(etags.iter().map(Option::is_some).collect())
                    }
                    Err(e) => failed(&e),
                }
            }
        }
    }

    /// What a bulk call saw, key by key; `seen` handles a success on one
    /// of this sequence's keys.
    fn each<T>(
        &mut self,
        results: statestore_core::Result<Vec<KeyResult<T>>>,
        mut seen: impl FnMut(&mut Self, usize, T) -> Seen,
    ) -> Seen {
        match results {
            Ok(results) => Seen::Each(
                results
                    .into_iter()
                    .map(|r| {
                        let k = self.key_index(&r.key);
                        let outcome = match r.result {
                            Ok(v) if k < KEYS => seen(self, k, v),
                            Ok(_) => Seen::Done,
                            Err(e) => failed(&e),
                        };
                        (k, outcome)
                    })
                    .collect(),
            ),
            Err(e) => failed(&e),
        }
    }

    /// Every key's final value, to catch a divergence no result showed.
    async fn state(&mut self) -> Seen {
        let mut all = Vec::new();
        for k in 0..self.keys.len() {
            all.push((k, self.run(&Step::Get(k)).await));
        }
        Seen::Each(all)
    }
}

fn failed(e: &Error) -> Seen {
    Seen::Failed(e.kind())
}

/// Makes what the two sides saw comparable under the store's quirks.
fn normalise(seen: Seen, detects_invalid: bool, etags: bool) -> Seen {
    match seen {
        Seen::Failed(ErrorKind::ETagInvalid) if !detects_invalid => {
            Seen::Failed(ErrorKind::ETagMismatch)
        }
        Seen::Value(Some(mut f)) if !etags => {
            f.etag = true;
            Seen::Value(Some(f))
        }
        Seen::Etags(v) if !etags => Seen::Etags(vec![false; v.len()]),
        Seen::Each(all) => Seen::Each(
            all.into_iter()
                .map(|(k, s)| (k, normalise(s, detects_invalid, etags)))
                .collect(),
        ),
        other => other,
    }
}

/// How a sequence diverged: the step (its length for the final state
/// check) and both results.
struct Divergence {
    step: usize,
    expected: Seen,
    got: Seen,
}

/// Runs one sequence in a fresh key namespace against the store and a fresh
/// reference store.
async fn replay(cx: &Ctx, ns: &str, steps: &[Step]) -> Result<Option<Divergence>, String> {
    let mut reference = MemoryStore::new();
    reference
        .init(&Properties::new())
        .await
        .map_err(|e| format!("the reference store failed to start: {e}"))?;
    let ref_keys = (0..KEYS).map(|k| format!("k{k}")).collect();
    let sut_keys = (0..KEYS).map(|k| cx.key(&format!("{ns}k{k}"))).collect();
    let mut model = Side::new(&reference, REFERENCE_MALFORMED, ref_keys);
    let malformed = cx.target.quirks.malformed_etag.as_str();
    let mut sut = Side::new(cx.store.as_ref(), malformed, sut_keys);
    let (detects, etags) = (
        cx.target.quirks.detects_invalid_etags,
        cx.has(Feature::ETag),
    );
    let compare = |step, expected, got| {
        let (expected, got) = (
            normalise(expected, detects, etags),
            normalise(got, detects, etags),
        );
        (expected != got).then_some(Divergence {
            step,
            expected,
            got,
        })
    };
    for (i, step) in steps.iter().enumerate() {
        if let Some(d) = compare(i, model.run(step).await, sut.run(step).await) {
            return Ok(Some(d));
        }
    }
    Ok(compare(steps.len(), model.state().await, sut.state().await))
}

/// Removes steps and batch entries while the sequence still diverges.
async fn shrink(cx: &Ctx, tag: &str, mut steps: Vec<Step>) -> (Vec<Step>, usize) {
    let mut runs = 0;
    let still_fails = async |candidate: &[Step], runs: &mut usize| {
        *runs += 1;
        matches!(
            replay(cx, &format!("{tag}s{runs}-"), candidate).await,
            Ok(Some(_))
        )
    };
    // Halving chunk sizes down to single steps.
    let mut chunk = steps.len().div_ceil(2).max(1);
    loop {
        let mut i = 0;
        while i < steps.len() && runs < SHRINK_BUDGET {
            let mut candidate = steps.clone();
            candidate.drain(i..(i + chunk).min(steps.len()));
            if still_fails(&candidate, &mut runs).await {
                steps = candidate;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 || runs >= SHRINK_BUDGET {
            break;
        }
        chunk /= 2;
    }
    for i in 0..steps.len() {
        let mut j = 0;
        while j < batch_len(&steps[i]) && runs < SHRINK_BUDGET {
            let mut candidate = steps.clone();
            remove_entry(&mut candidate[i], j);
            if batch_len(&candidate[i]) > 0 && still_fails(&candidate, &mut runs).await {
                steps = candidate;
            } else {
                j += 1;
            }
        }
    }
    (steps, runs)
}

fn batch_len(step: &Step) -> usize {
    match step {
        Step::BulkGet(v) => v.len(),
        Step::BulkPut(v) => v.len(),
        Step::BulkDel(v) => v.len(),
        Step::Transact(v) => v.len(),
        _ => 0,
    }
}

fn remove_entry(step: &mut Step, j: usize) {
    match step {
        Step::BulkGet(v) => drop(v.remove(j)),
        Step::BulkPut(v) => drop(v.remove(j)),
        Step::BulkDel(v) => drop(v.remove(j)),
        Step::Transact(v) => drop(v.remove(j)),
        _ => {}
    }
}

/// Random sequences agree with the in-memory reference store.
pub async fn random_sequences(cx: &Ctx) -> Outcome {
    let settings = &cx.target.settings;
    if settings.model_sequences == 0 || settings.model_steps == 0 {
        return skip(format!(
            "the run asks for {} random sequences of {} steps",
            settings.model_sequences, settings.model_steps
        ));
    }
    let base = cx.target.seed;
    let generator = Gen::new(
        cx.caps().features,
        cx.caps().limits.max_transaction_ops.unwrap_or(MAX_BATCH),
    );
    let steps = settings.model_steps;
    let mut first_failure = None;
    let total = settings.model_sequences as u64;
    let mut next = 0u64;
    while next < total && first_failure.is_none() {
        let group = next..(next + PARALLEL as u64).min(total);
        next = group.end;
        let runs = group.map(|i| {
            let seed = base.wrapping_add(i);
            let sequence = generator.sequence(seed, steps);
            async move {
                let outcome = replay(cx, &format!("m{seed:x}-"), &sequence).await;
                (seed, sequence, outcome)
            }
        });
        for (seed, sequence, outcome) in futures::future::join_all(runs).await {
            match outcome {
                Err(e) => return Err(fail(e)),
                Ok(Some(d)) if first_failure.is_none() => first_failure = Some((seed, sequence, d)),
                _ => {}
            }
        }
    }
    let Some((seed, sequence, original)) = first_failure else {
        return Ok(());
    };
    let (shrunk, runs) = shrink(cx, &format!("m{seed:x}-"), sequence.clone()).await;
    let (shown, d, how) = match replay(cx, &format!("m{seed:x}-final-"), &shrunk).await {
        Ok(Some(d)) => {
            let how = format!(
                "shrunk from {} to {} steps in {runs} reruns",
                sequence.len(),
                shrunk.len()
            );
            (shrunk, d, how)
        }
        Err(e) => return Err(fail(e)),
        // The shrunk sequence no longer diverges (a flaky store): show the
        // original, whose divergence was seen.
        Ok(None) => {
            let how = "the shrunk sequence did not diverge again (is the store flaky?), \
                       so this is the original"
                .to_string();
            (sequence, original, how)
        }
    };
    Err(fail(format!(
        "diverged from the in-memory reference store; seed 0x{seed:x} \
         (rerun with STATESTORE_SEED=0x{seed:x} STATESTORE_MODEL_SEQUENCES=1 \
         STATESTORE_MODEL_STEPS={steps}); {how}:\n{}at {}: expected {}, got {}",
        listing(&shown, d.step),
        if d.step >= shown.len() {
            "the final read of every key".to_string()
        } else {
            format!("step {}", d.step + 1)
        },
        d.expected,
        d.got,
    )))
}

fn listing(steps: &[Step], failing: usize) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        let mark = if i == failing { "  <- diverges" } else { "" };
        out.push_str(&format!("  {:>3}. {s}{mark}\n", i + 1));
    }
    if failing >= steps.len() {
        out.push_str("       then get every key  <- diverges\n");
    }
    out
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Value(None) => write!(f, "no value"),
            Seen::Value(Some(found)) => {
                write!(f, "{}", crate::show(&found.value))?;
                if found.expires {
                    write!(f, " with an expiry")?;
                }
                if !found.etag {
                    write!(f, " without an etag")?;
                }
                Ok(())
            }
            Seen::Done => write!(f, "ok"),
            Seen::Etags(v) => {
                let each: Vec<&str> = v.iter().map(|e| if *e { "etag" } else { "none" }).collect();
                write!(f, "ok, returning [{}]", each.join(", "))
            }
            Seen::Failed(kind) => write!(f, "{kind:?}"),
            Seen::Each(all) => {
                let parts: Vec<String> = all
                    .iter()
                    .map(|(k, s)| match k {
                        k if *k < KEYS => format!("k{k}: {s}"),
                        _ => format!("(a key the request did not name): {s}"),
                    })
                    .collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tag::None => Ok(()),
            Tag::Empty => write!(f, " etag=\"\""),
            Tag::Latest(k) => write!(f, " etag=latest(k{k})"),
            Tag::Older(k) => write!(f, " etag=older(k{k})"),
            Tag::Malformed => write!(f, " etag=malformed"),
        }
    }
}

impl fmt::Display for Put {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "set k{} = {}{}",
            self.key,
            crate::show(&self.value),
            self.tag
        )?;
        if self.first_write {
            write!(f, " first-write")?;
        }
        match self.ttl {
            TtlAsk::None => Ok(()),
            TtlAsk::Hour => write!(f, " ttl=3600"),
            TtlAsk::Never => write!(f, " ttl=-1"),
            TtlAsk::Metadata => write!(f, " ttlInSeconds=3600"),
            TtlAsk::Malformed => write!(f, " ttlInSeconds=\"soon\""),
        }
    }
}

impl fmt::Display for Del {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "delete k{}{}", self.key, self.tag)?;
        if self.first_write {
            write!(f, " first-write")?;
        }
        Ok(())
    }
}

fn joined<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for TxOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxOp::Put(p) => p.fmt(f),
            TxOp::Del(d) => d.fmt(f),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Get(k) => write!(f, "get k{k}"),
            Step::Put(p) => p.fmt(f),
            Step::Del(d) => d.fmt(f),
            Step::BulkGet(keys) => {
                let keys: Vec<String> = keys.iter().map(|k| format!("k{k}")).collect();
                write!(f, "bulk_get [{}]", keys.join(", "))
            }
            Step::BulkPut(v) => write!(f, "bulk_set [{}]", joined(v)),
            Step::BulkDel(v) => write!(f, "bulk_delete [{}]", joined(v)),
            Step::Transact(v) => write!(f, "transact [{}]", joined(v)),
        }
    }
}

/// The generator is a pure function of the seed, so a printed seed
/// reproduces its sequence.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let g = Gen::new(Features::ALL, 10);
        assert_eq!(g.sequence(7, 50), g.sequence(7, 50));
        assert_ne!(g.sequence(7, 50), g.sequence(8, 50));
    }

    #[test]
    fn undeclared_features_are_not_generated() {
        let g = Gen::new(Features::NONE, 10);
        for step in g.sequence(1, 500) {
            let text = step.to_string();
            assert!(!text.contains("etag") && !text.contains("ttl") && !text.contains("first"));
            assert!(!matches!(step, Step::Transact(_)), "{step}");
        }
    }
}
