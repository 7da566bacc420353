//! `statestore bench`: throughput and latency of one store, next to the same
//! workload through the raw driver and, for bulk calls, next to loops of
//! single calls, all in one process and one run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use futures::future::join_all;
use hdrhistogram::Histogram;
use serde_json::json;
use statestore::baseline::Baseline;
use statestore::response::all_ok;
use statestore::{
    Bytes, DeleteRequest, Feature, Filter, GetRequest, KeyResult, QueryRequest, Registry, Result,
    SetRequest, Store, TransactRequest, TransactionOp,
};

use super::{Format, StoreArgs, bounded, duration};

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Workloads, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "get,set,bulk_get,bulk_set,transact"
    )]
    ops: Vec<Workload>,
    /// Tasks calling the store at once (1 to 10,000).
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = bounded::<1, 10_000>)]
    concurrency: usize,
    /// Distinct keys, written before the reads (1 to 10,000,000).
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = bounded::<1, 10_000_000>)]
    keys: usize,
    /// Bytes per value (up to 16 MiB).
    #[arg(long, default_value_t = 256, value_name = "BYTES", value_parser = bounded::<0, 16_777_216>)]
    value_size: usize,
    /// Keys per bulk call, and operations per transaction (capped by the
    /// store's maximum; 1 to 100,000).
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = bounded::<1, 100_000>)]
    batch: usize,
    /// How long each row runs, e.g. 3s or 500ms.
    #[arg(long, default_value = "3s", value_parser = duration, value_name = "DURATION")]
    duration: Duration,
    /// Leave out the raw-driver rows.
    #[arg(long)]
    no_raw: bool,
    /// Leave out the loop-of-single-calls rows of bulk workloads and
    /// transactions (the sequential loop runs in one task).
    #[arg(long)]
    no_loops: bool,
    /// Also run the raw driver's own loop of single calls, one task, for
    /// bulk workloads and transactions: the ratio of its native call to that
    /// loop is what the backend itself allows.
    #[arg(long)]
    raw_loops: bool,
    /// Output: a table with ratios, or one JSON document.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Measure the pluggable-component socket hop: serve the store on a
    /// socket in this process and drive it through state.pluggable, next to
    /// the same store called directly (instead of the raw driver).
    #[arg(long)]
    through_socket: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
#[value(rename_all = "snake_case")]
enum Workload {
    Get,
    Set,
    BulkGet,
    BulkSet,
    Transact,
    /// A query for one page of 100 documents among `--keys` JSON documents
    /// (`{"run", "group", "n"}`, 100 per group), by an `EQ` on `group`.
    Query,
}

impl Workload {
    fn writes(self) -> bool {
        matches!(self, Workload::Set | Workload::BulkSet | Workload::Transact)
    }

    fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::BulkGet => "bulk_get",
            Workload::BulkSet => "bulk_set",
            Workload::Transact => "transact",
            Workload::Query => "query",
        }
    }
}

/// How a row reaches the backend.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// This SDK, native calls.
    Sdk,
    /// This SDK, a bulk call done as concurrent single calls (Dapr's
    /// default for stores without native bulk).
    ParallelLoop,
    /// This SDK, a bulk call (or a transaction's writes) done as awaited
    /// single calls, one by one, from one task: the loop a user writes by
    /// hand.
    SequentialLoop,
    /// The raw driver.
    Raw,
    /// The raw driver's single calls, awaited one by one from one task.
    RawLoop,
}

impl Via {
    fn label(self, driver: &str) -> String {
        match self {
            Via::Sdk => "statestore".into(),
            Via::ParallelLoop => "statestore, parallel single calls".into(),
            Via::SequentialLoop => "statestore, one task, single calls".into(),
            Via::Raw => format!("raw {driver}"),
            Via::RawLoop => format!("raw {driver}, one task, single calls"),
        }
    }
}

/// What calls of one row did.
struct Sample {
    calls: u64,
    keys: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    /// Latency of completed calls, in microseconds.
    latency: Histogram<u64>,
}

impl Sample {
    fn new() -> Self {
        Sample {
            calls: 0,
            keys: 0,
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            // Up to an hour, three significant digits: valid bounds.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }

    /// Both as one: the tasks of a half, or the two halves of a row.
    fn merge(mut self, other: Sample) -> Sample {
        let _ = self.latency.add(&other.latency);
        self.calls += other.calls;
        self.keys += other.keys;
        self.errors += other.errors;
        self.first_error = self.first_error.or(other.first_error);
        self.elapsed += other.elapsed;
        self
    }

    fn calls_per_s(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn keys_per_s(&self) -> f64 {
        self.keys as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn quantile_us(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }
}

/// One measured row.
struct Row {
    workload: Workload,
    via: Via,
    label: String,
    sample: Sample,
}

type CallFuture = Pin<Box<dyn Future<Output = Result<u64>> + Send>>;
/// One call of a workload: given a task's random source, returns how many
/// keys it touched.
type Call = Arc<dyn Fn(&mut fastrand::Rng) -> CallFuture + Send + Sync>;

/// What the calls share.
struct Fixture {
    store: Arc<dyn Store>,
    raw: Option<Arc<dyn Baseline>>,
    keys: Arc<Vec<String>>,
    value: Bytes,
    batch: usize,
    tx_batch: usize,
    /// The run's key prefix, which the query documents also carry.
    run_id: String,
    /// JSON documents written for the query workload (0 without it).
    query_docs: usize,
}

impl Fixture {
    fn pick(&self, rng: &mut fastrand::Rng) -> String {
        self.keys[rng.usize(..self.keys.len())].clone()
    }
    /// The value with its first bytes made unique: a database may skip
    /// rewriting a row whose bytes did not change, which would flatter
    /// whichever side writes identical rows.
    fn fresh(&self, rng: &mut fastrand::Rng) -> Bytes {
        let mut v = self.value.to_vec();
        let stamp = rng.u64(..).to_le_bytes();
        let n = v.len().min(8);
        v[..n].copy_from_slice(&stamp[..n]);
        Bytes::from(v)
    }

    /// Query documents per `group`, and so results per query.
    const GROUP: usize = 100;

    fn groups(&self) -> usize {
        (self.query_docs / Self::GROUP).max(1)
    }

    fn query_key(&self, i: usize) -> String {
        format!("{}q{i}", self.run_id)
    }

    fn picks(&self, rng: &mut fastrand::Rng, n: usize) -> Vec<String> {
        (0..n).map(|_| self.pick(rng)).collect()
    }

    /// The call of `workload` through `via`, or `None` when there is none
    /// (loops of single calls exist only for bulk workloads, the raw rows
    /// only with a baseline).
    fn call(self: &Arc<Self>, workload: Workload, via: Via) -> Option<Call> {
        let bulk = matches!(workload, Workload::BulkGet | Workload::BulkSet);
        // Sequential loops, the store's and the raw driver's.
        let looped = bulk || workload == Workload::Transact;
        let absent = match via {
            Via::ParallelLoop => !bulk,
            Via::SequentialLoop => !looped,
            Via::RawLoop => self.raw.is_none() || !looped,
            Via::Raw => self.raw.is_none() || workload == Workload::Query,
            Via::Sdk => false,
        };
        if absent {
            return None;
        }
        let f = self.clone();
        Some(Arc::new(move |rng| {
            let n = match workload {
                Workload::Get | Workload::Set => 1,
                Workload::BulkGet | Workload::BulkSet => f.batch,
                Workload::Transact => f.tx_batch,
                Workload::Query => 0,
            };
            // A query's one "key" is the group it asks for.
            let keys = if workload == Workload::Query {
                vec![rng.usize(..f.groups()).to_string()]
            } else {
                f.picks(rng, n)
            };
            let value = if workload.writes() {
                f.fresh(rng)
            } else {
                Bytes::new()
            };
            let f = f.clone();
            Box::pin(async move { f.once(workload, via, keys, value).await })
        }))
    }

    /// One call: `keys` (one for get and set) read, or written with
    /// `value`; returns how many keys it touched. Both sides get the keys
    /// moved in, as a caller owning them would: a copy made here would be
    /// the harness's cost, charged to one side.
    async fn once(
        &self,
        workload: Workload,
        via: Via,
        keys: Vec<String>,
        value: Bytes,
    ) -> Result<u64> {
        use Workload::{BulkGet, BulkSet, Get, Query, Set, Transact};
        let s = &self.store;
        let n = keys.len() as u64;
        let sets = |keys: Vec<String>| {
            let value = value.clone();
            keys.into_iter()
                .map(move |k| SetRequest::new(k, value.clone()))
        };
        let items = |keys: Vec<String>| -> Vec<(String, Bytes)> {
            keys.into_iter().map(|k| (k, value.clone())).collect()
        };
        let one = |keys: Vec<String>| keys.into_iter().next().unwrap_or_default();
        match (workload, via, &self.raw) {
            (Query, Via::Sdk, _) => {
                let group: u64 = keys[0].parse().unwrap_or(0);
                let filter = Filter::And(vec![
                    Filter::Eq("run".into(), json!(self.run_id)),
                    Filter::Eq("group".into(), json!(group)),
                ]);
                let mut q = statestore::Query {
                    filter: Some(filter),
                    ..Default::default()
                };
                q.page.limit = Some(Fixture::GROUP as u32);
                return Ok(s.query(QueryRequest::new(q)).await?.results.len() as u64);
            }
            (Get, Via::Sdk, _) => drop(s.get(GetRequest::new(one(keys))).await?),
            (Set, Via::Sdk, _) => drop(s.set(SetRequest::new(one(keys), value.clone())).await?),
            (BulkGet, Via::Sdk, _) => {
                let reqs = keys.into_iter().map(GetRequest::new).collect();
                check_all(s.bulk_get(reqs).await?)?
            }
            (BulkSet, Via::Sdk, _) => check_all(s.bulk_set(sets(keys).collect()).await?)?,
            (Transact, Via::Sdk, _) => {
                let ops: Vec<TransactionOp> = sets(keys).map(Into::into).collect();
                drop(s.transact(TransactRequest::new(ops)).await?)
            }
            (BulkGet, Via::ParallelLoop, _) => {
                let calls = keys.into_iter().map(|k| s.get(GetRequest::new(k)));
                drop(
                    join_all(calls)
                        .await
                        .into_iter()
                        .collect::<Result<Vec<_>>>()?,
                )
            }
            (BulkSet, Via::ParallelLoop, _) => {
                let calls = sets(keys).map(|r| s.set(r));
                drop(
                    join_all(calls)
                        .await
                        .into_iter()
                        .collect::<Result<Vec<_>>>()?,
                )
            }
            (BulkGet, Via::SequentialLoop, _) => {
                for k in keys {
                    s.get(GetRequest::new(k)).await?;
                }
            }
            (BulkSet | Transact, Via::SequentialLoop, _) => {
                for r in sets(keys) {
                    s.set(r).await?;
                }
            }
            (Get, Via::Raw, Some(r)) => drop(r.get(&keys[0]).await?),
            (Set, Via::Raw, Some(r)) => r.set(&keys[0], value.clone()).await?,
            (BulkGet, Via::Raw, Some(r)) => drop(r.bulk_get(&keys).await?),
            (BulkSet, Via::Raw, Some(r)) => r.bulk_set(&items(keys)).await?,
            (Transact, Via::Raw, Some(r)) => r.transact(&items(keys)).await?,
            (BulkGet, Via::RawLoop, Some(r)) => {
                for k in keys {
                    r.get(&k).await?;
                }
            }
            (BulkSet | Transact, Via::RawLoop, Some(r)) => {
                for k in keys {
                    r.set(&k, value.clone()).await?;
                }
            }
            // `call` makes no other combination.
            _ => return Ok(0),
        }
        Ok(n)
    }
}

/// Runs `call` from `tasks` tasks for `length`, recording each call's latency.
/// `draw` picks the random keys and values of the run (see the caller).
async fn measure(call: Call, tasks: usize, length: Duration, draw: u64) -> Sample {
    let started = Instant::now();
    let deadline = started + length;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let call = call.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed((draw << 32) | (t as u64 + 1));
            let mut sample = Sample::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let result = call(&mut rng).await;
                let us = t0.elapsed().as_micros().max(1) as u64;
                match result {
                    Ok(n) => {
                        // Latency of completed calls only: a fast failure
                        // must not look like a fast call.
                        sample.latency.saturating_record(us);
                        sample.calls += 1;
                        sample.keys += n;
                    }
                    Err(e) => {
                        sample.errors += 1;
                        sample.first_error.get_or_insert_with(|| format!("{e:#}"));
                        if sample.errors > 1_000 && sample.calls == 0 {
                            break;
                        }
                    }
                }
            }
            sample
        }));
    }
    let mut total = Sample::new();
    for h in handles {
        total = match h.await {
            Ok(sample) => total.merge(sample),
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("a task panicked: {e}"));
                total
            }
        };
    }
    total.elapsed = started.elapsed();
    total
}

pub async fn run(registry: &Registry, args: BenchArgs) -> Result<std::process::ExitCode> {
    // Every task may hold a batch of values at once.
    let gib = 1usize << 30;
    for (what, n) in [("--concurrency", args.concurrency), ("--batch", args.batch)] {
        if n.saturating_mul(args.value_size) > gib {
            return Err(statestore::Error::invalid(format!(
                "{what} {n} x --value-size {} is over 1 GiB of values in memory at once",
                args.value_size
            )));
        }
    }
    let chosen = args.store.choose(registry).await?;
    #[cfg(feature = "pluggable")]
    let hop = match args.through_socket {
        true => Some(crate::hop::Hop::start(&chosen).await?),
        false => None,
    };
    #[cfg(not(feature = "pluggable"))]
    if args.through_socket {
        return Err(statestore::Error::invalid(
            "--through-socket needs a build with the cargo feature pluggable",
        ));
    }
    #[cfg(feature = "pluggable")]
    let store = match &hop {
        Some(h) => h.client.clone(),
        None => chosen.open().await?,
    };
    #[cfg(not(feature = "pluggable"))]
    let store = chosen.open().await?;
    let caps = store.capabilities();
    #[cfg(feature = "pluggable")]
    let direct = hop.as_ref().map(|h| h.direct.clone());
    #[cfg(not(feature = "pluggable"))]
    let direct: Option<Arc<dyn Baseline>> = None;
    let raw: Option<Arc<dyn Baseline>> = if args.no_raw {
        None
    } else if direct.is_some() {
        direct
    } else {
        match chosen.registration.baseline {
            Some(open) => Some(Arc::from(open(chosen.properties.clone()).await?)),
            None => {
                eprintln!(
                    "note: {} has no raw-driver baseline in this build",
                    chosen.registration.name
                );
                None
            }
        }
    };
    let driver = raw.as_ref().map(|r| r.driver()).unwrap_or_default();
    let run_id = format!("bench{:08x}-", fastrand::u32(..));
    // Keys for the workloads that read and write them; a query-only run
    // writes its JSON documents alone.
    let key_count = if args.ops.iter().all(|w| *w == Workload::Query) {
        0
    } else {
        args.keys
    };
    let keys: Vec<String> = (0..key_count).map(|i| format!("{run_id}{i}")).collect();
    let value = Bytes::from(
        (0..args.value_size)
            .map(|_| fastrand::u8(..))
            .collect::<Vec<u8>>(),
    );
    let batch = args.batch;
    let tx_batch = caps
        .limits
        .max_transaction_ops
        .map_or(batch, |m| batch.min(m));
    let query = args.ops.contains(&Workload::Query);
    if query && !caps.has(Feature::QueryApi) {
        eprintln!(
            "note: query skipped: {} does not declare QUERY_API",
            chosen.registration.name
        );
    }
    let fixture = Arc::new(Fixture {
        store: store.clone(),
        raw: raw.clone(),
        keys: Arc::new(keys),
        value,
        batch,
        tx_batch,
        query_docs: if query && caps.has(Feature::QueryApi) {
            args.keys
        } else {
            0
        },
        run_id,
    });
    let text = args.format == Format::Text;
    args.format.note(&format!(
        "{}: {} tasks, {} keys, {}-byte values, {} keys per bulk call, {} operations per transaction, {:?} per row{}",
        chosen.title(),
        args.concurrency,
        args.keys,
        args.value_size,
        batch,
        tx_batch,
        args.duration,
        if raw.is_some() {
            format!("; raw driver: {driver}")
        } else {
            String::new()
        },
    ));
    // Whatever happens, Ctrl-C included, the keys and the baseline's table
    // are removed.
    let work = async {
        if !fixture.keys.is_empty() {
            eprintln!("writing {} keys through both sides ...", fixture.keys.len());
            populate(&fixture).await?;
        }
        populate_query(&fixture).await?;
        let mut rows: Vec<Row> = Vec::new();
        if text {
            println!(
                "{:<9} {:<38} {:>10} {:>11} {:>9} {:>9} {:>7}",
                "workload", "via", "calls/s", "keys/s", "p50", "p99", "errors"
            );
        }
        for &workload in &args.ops {
            if workload == Workload::Query && fixture.query_docs == 0 {
                continue;
            }
            if workload == Workload::Transact && !caps.has(Feature::Transactional) {
                eprintln!(
                    "note: transact skipped: {} does not declare TRANSACTIONAL",
                    chosen.registration.name
                );
                continue;
            }
            let bulk = matches!(workload, Workload::BulkGet | Workload::BulkSet);
            let mut vias = vec![Via::Sdk];
            if bulk && !args.no_loops {
                vias.extend([Via::ParallelLoop, Via::SequentialLoop]);
            } else if workload == Workload::Transact && !args.no_loops {
                vias.push(Via::SequentialLoop);
            }
            vias.push(Via::Raw);
            // `call` leaves out the workloads without a loop.
            if args.raw_loops {
                vias.push(Via::RawLoop);
            }
            // Each row runs in two halves, in the order A B C C B A, so drift
            // during the run (a growing WAL, a warming cache) favours no side.
            let calls: Vec<(Via, Call)> = vias
                .into_iter()
                .filter_map(|via| Some((via, fixture.call(workload, via)?)))
                .collect();
            let length = args.duration / 2;
            // Each row and half draws its own keys and values, so no row
            // rewrites bytes another row just wrote.
            let half = async |i: usize, second: bool| {
                let (via, call) = &calls[i];
                eprintln!(
                    "running {} via {} for {length:?} ...",
                    workload.name(),
                    via.label(&driver)
                );
                let draw = ((i as u64) << 1) | u64::from(second);
                // The hand-written loops run in one task.
                let tasks = if matches!(via, Via::SequentialLoop | Via::RawLoop) {
                    1
                } else {
                    args.concurrency
                };
                measure(call.clone(), tasks, length, draw).await
            };
            let mut samples = Vec::new();
            for i in 0..calls.len() {
                samples.push(half(i, false).await);
            }
            for i in (0..calls.len()).rev() {
                let second = half(i, true).await;
                samples[i] = std::mem::replace(&mut samples[i], Sample::new()).merge(second);
            }
            for ((via, _), sample) in calls.iter().zip(samples) {
                let row = Row {
                    workload,
                    via: *via,
                    label: via.label(&driver),
                    sample,
                };
                if text {
                    println!("{}", line(&row));
                    if let Some(e) = &row.sample.first_error {
                        println!("          first error: {e}");
                    }
                }
                rows.push(row);
            }
        }
        let ratios = ratios(&rows);
        if text {
            println!();
            for (what, value) in &ratios {
                println!("{what}: {value:.2}x");
            }
        } else {
            let doc = json!({
                "store": chosen.registration.name,
                "version": chosen.version,
                "target": chosen.label,
                "concurrency": args.concurrency,
                "keys": args.keys,
                "value_size": args.value_size,
                "batch": batch,
                "transaction_ops": tx_batch,
                "seconds_per_row": args.duration.as_secs_f64(),
                "raw_driver": raw.as_ref().map(|_| driver.clone()),
                "rows": rows.iter().map(|r| json!({
                    "workload": r.workload.name(),
                    "via": r.label,
                    "calls": r.sample.calls,
                    "keys": r.sample.keys,
                    "errors": r.sample.errors,
                    "first_error": r.sample.first_error,
                    "seconds": r.sample.elapsed.as_secs_f64(),
                    "calls_per_s": r.sample.calls_per_s(),
                    "keys_per_s": r.sample.keys_per_s(),
                    "p50_us": r.sample.quantile_us(0.5),
                    "p99_us": r.sample.quantile_us(0.99),
                })).collect::<Vec<_>>(),
                "ratios": ratios.iter().map(|(k, v)| json!({"what": k, "ratio": v})).collect::<Vec<_>>(),
            });
            println!("{doc:#}");
        }
        Ok::<_, statestore::Error>(rows)
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = tokio::signal::ctrl_c() => Err(statestore::Error::invalid("interrupted (Ctrl-C)")),
    };
    eprintln!("cleaning up ...");
    cleanup(&fixture).await;
    if let Some(raw) = &raw
        && let Err(e) = raw.close().await
    {
        eprintln!("warning: the raw baseline did not clean up: {e:#}");
    }
    let _ = store.close().await;
    #[cfg(feature = "pluggable")]
    if let Some(h) = hop {
        let direct = h.direct_store.clone();
        h.stop(&fixture.keys, direct.as_ref()).await;
    }
    let rows = outcome?;
    let failed = rows.iter().any(|r| r.sample.calls == 0);
    Ok(if failed {
        eprintln!("error: a row completed no call; see its first error");
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Checks every item of a bulk answer in place, as the raw side looks at
/// its answer, without collecting the values into a new vector (which
/// `all_ok` does, and the raw side has no counterpart of); the failures,
/// when there are any, as `all_ok` reports them.
fn check_all<T>(results: Vec<KeyResult<T>>) -> Result<()> {
    if results.iter().all(|r| r.result.is_ok()) {
        return Ok(());
    }
    all_ok(results).map(drop)
}

/// Writes every key through the SDK and through the raw driver.
async fn populate(f: &Fixture) -> Result<()> {
    for chunk in f.keys.chunks(500) {
        let reqs = chunk
            .iter()
            .map(|k| SetRequest::new(k, f.value.clone()))
            .collect();
        all_ok(f.store.bulk_set(reqs).await?)?;
        if let Some(raw) = &f.raw {
            let items: Vec<(String, Bytes)> =
                chunk.iter().map(|k| (k.clone(), f.value.clone())).collect();
            raw.bulk_set(&items).await?;
        }
    }
    Ok(())
}

/// Writes the query workload's JSON documents, saying how far it got.
async fn populate_query(f: &Fixture) -> Result<()> {
    if f.query_docs == 0 {
        return Ok(());
    }
    eprintln!("writing {} JSON documents for query ...", f.query_docs);
    let groups = f.groups();
    for start in (0..f.query_docs).step_by(500) {
        let reqs = (start..(start + 500).min(f.query_docs))
            .map(|i| {
                let doc = json!({"run": f.run_id, "group": i % groups, "n": i});
                SetRequest::json(f.query_key(i), &doc)
            })
            .collect::<Result<Vec<_>>>()?;
        all_ok(f.store.bulk_set(reqs).await?)?;
        if start > 0 && start % 20_000 == 0 {
            eprintln!("  {start} of {} written", f.query_docs);
        }
    }
    Ok(())
}

/// Deletes the SDK's keys (the baseline removes its own on close).
async fn cleanup(f: &Fixture) {
    let query_keys: Vec<String> = (0..f.query_docs).map(|i| f.query_key(i)).collect();
    for chunk in f.keys.chunks(500).chain(query_keys.chunks(500)) {
        let reqs = chunk.iter().map(DeleteRequest::new).collect();
        if let Err(e) = f.store.bulk_delete(reqs).await {
            eprintln!("warning: cleanup failed: {e:#}");
            return;
        }
    }
}

/// SDK / raw for each workload, native bulk / loops of single calls, and
/// the raw driver's native call / its own loop.
fn ratios(rows: &[Row]) -> Vec<(String, f64)> {
    let find = |w: Workload, v: Via| {
        rows.iter()
            .find(|r| r.workload == w && r.via == v && r.sample.calls > 0)
    };
    let against = [
        (Via::Raw, "statestore / raw driver"),
        (Via::ParallelLoop, "native bulk / parallel single calls"),
        (
            Via::SequentialLoop,
            "native call / one task's loop of single calls",
        ),
    ];
    let mut out = Vec::new();
    for w in [
        Workload::Get,
        Workload::Set,
        Workload::BulkGet,
        Workload::BulkSet,
        Workload::Transact,
    ] {
        if let Some(sdk) = find(w, Via::Sdk) {
            for (via, what) in against {
                if let Some(other) = find(w, via) {
                    out.push((
                        format!("{}: {what} (keys/s)", w.name()),
                        sdk.sample.keys_per_s() / other.sample.keys_per_s(),
                    ));
                }
            }
        }
        // The raw driver's own, whether or not the store's row made calls.
        if let (Some(raw), Some(raw_loop)) = (find(w, Via::Raw), find(w, Via::RawLoop)) {
            out.push((
                format!(
                    "{}: raw driver: native call / one task's loop of single calls (keys/s)",
                    w.name()
                ),
                raw.sample.keys_per_s() / raw_loop.sample.keys_per_s(),
            ));
        }
    }
    out
}

fn line(r: &Row) -> String {
    format!(
        "{:<9} {:<38} {:>10.0} {:>11.0} {:>9} {:>9} {:>7}",
        r.workload.name(),
        r.label,
        r.sample.calls_per_s(),
        r.sample.keys_per_s(),
        micros(r.sample.quantile_us(0.5)),
        micros(r.sample.quantile_us(0.99)),
        r.sample.errors
    )
}

fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else {
        format!("{:.2} ms", us as f64 / 1_000.0)
    }
}
