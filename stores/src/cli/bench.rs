//! `statestore bench`: throughput and latency of one store, next to the same
//! workload through the raw driver and, for bulk calls, next to loops of
//! single calls, all in one process and one run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::json;
use statestore::baseline::Baseline;
use statestore::{
    Bytes, DeleteRequest, Feature, GetRequest, Registry, Result, SetRequest, Store,
    TransactRequest, TransactionOp,
};

use super::{Format, StoreArgs};

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
    /// Leave out the loop-of-single-calls rows of bulk workloads.
    #[arg(long)]
    no_loops: bool,
    /// Output: a table with ratios, or one JSON document.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
#[value(rename_all = "snake_case")]
enum Workload {
    Get,
    Set,
    BulkGet,
    BulkSet,
    Transact,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::BulkGet => "bulk_get",
            Workload::BulkSet => "bulk_set",
            Workload::Transact => "transact",
        }
    }
}

/// A Go-style duration from 10ms to 24h, e.g. `3s` or `500ms`.
pub fn duration(text: &str) -> std::result::Result<Duration, String> {
    let range = Duration::from_millis(10)..=Duration::from_secs(24 * 3600);
    match statestore::properties::parse_duration(text)? {
        (false, d) if range.contains(&d) => Ok(d),
        _ => Err(format!(
            "expected a duration from 10ms to 24h, such as 3s, got {text:?}"
        )),
    }
}

/// A whole number from `MIN` to `MAX`.
pub fn bounded<const MIN: usize, const MAX: usize>(
    text: &str,
) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (MIN..=MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from {MIN} to {MAX}, got {text:?}"
        )),
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
    /// This SDK, a bulk call done as awaited single calls, one by one.
    SequentialLoop,
    /// The raw driver.
    Raw,
}

impl Via {
    fn label(self, driver: &str) -> String {
        match self {
            Via::Sdk => "statestore".into(),
            Via::ParallelLoop => "statestore, parallel single calls".into(),
            Via::SequentialLoop => "statestore, sequential single calls".into(),
            Via::Raw => format!("raw {driver}"),
        }
    }
}

/// One measured row.
struct Row {
    workload: Workload,
    via: Via,
    label: String,
    calls: u64,
    keys: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Row {
    fn calls_per_s(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn keys_per_s(&self) -> f64 {
        self.keys as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// The two halves of one row as one.
    fn merge(mut self, other: Row) -> Row {
        let _ = self.latency.add(&other.latency);
        self.calls += other.calls;
        self.keys += other.keys;
        self.errors += other.errors;
        self.first_error = self.first_error.or(other.first_error);
        self.elapsed += other.elapsed;
        self
    }

    fn quantile_us(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }
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

    fn picks(&self, rng: &mut fastrand::Rng, n: usize) -> Vec<String> {
        (0..n).map(|_| self.pick(rng)).collect()
    }

    /// The call of `workload` through `via`, or `None` when there is none
    /// (loops of single calls exist only for bulk workloads).
    fn call(self: &Arc<Self>, workload: Workload, via: Via) -> Option<Call> {
        let f = self.clone();
        let call: Call = match (workload, via) {
            (Workload::Get, Via::Sdk) => Arc::new(move |rng| {
                let (s, k) = (f.store.clone(), f.pick(rng));
                Box::pin(async move { s.get(GetRequest::new(k)).await.map(|_| 1) })
            }),
            (Workload::Get, Via::Raw) => {
                let raw = f.raw.clone()?;
                Arc::new(move |rng| {
                    let (r, k) = (raw.clone(), f.pick(rng));
                    Box::pin(async move { r.get(&k).await.map(|_| 1) })
                })
            }
            (Workload::Set, Via::Sdk) => Arc::new(move |rng| {
                let (s, k, v) = (f.store.clone(), f.pick(rng), f.fresh(rng));
                Box::pin(async move { s.set(SetRequest::new(k, v)).await.map(|_| 1) })
            }),
            (Workload::Set, Via::Raw) => {
                let raw = f.raw.clone()?;
                Arc::new(move |rng| {
                    let (r, k, v) = (raw.clone(), f.pick(rng), f.fresh(rng));
                    Box::pin(async move { r.set(&k, v).await.map(|_| 1) })
                })
            }
            (Workload::BulkGet, via) => {
                let raw = f.raw.clone();
                if via == Via::Raw && raw.is_none() {
                    return None;
                }
                Arc::new(move |rng| {
                    let keys = f.picks(rng, f.batch);
                    let (s, raw) = (f.store.clone(), raw.clone());
                    Box::pin(async move {
                        let n = keys.len() as u64;
                        let reqs = || keys.iter().map(GetRequest::new);
                        match via {
                            Via::Sdk => all_ok(
                                s.bulk_get(reqs().collect())
                                    .await?
                                    .into_iter()
                                    .map(|r| r.result),
                            )?,
                            Via::ParallelLoop => {
                                let calls = reqs().map(|r| s.get(r));
                                all_ok(futures::future::join_all(calls).await)?
                            }
                            Via::SequentialLoop => {
                                for r in reqs() {
                                    s.get(r).await?;
                                }
                            }
                            Via::Raw => {
                                if let Some(raw) = raw {
                                    raw.bulk_get(&keys).await?;
                                }
                            }
                        }
                        Ok(n)
                    })
                })
            }
            (Workload::BulkSet, via) => {
                let raw = f.raw.clone();
                if via == Via::Raw && raw.is_none() {
                    return None;
                }
                Arc::new(move |rng| {
                    let keys = f.picks(rng, f.batch);
                    let (s, raw, v) = (f.store.clone(), raw.clone(), f.fresh(rng));
                    Box::pin(async move {
                        let n = keys.len() as u64;
                        let reqs = || keys.iter().map(|k| SetRequest::new(k, v.clone()));
                        match via {
                            Via::Sdk => all_ok(
                                s.bulk_set(reqs().collect())
                                    .await?
                                    .into_iter()
                                    .map(|r| r.result),
                            )?,
                            Via::ParallelLoop => {
                                let calls = reqs().map(|r| s.set(r));
                                all_ok(futures::future::join_all(calls).await)?
                            }
                            Via::SequentialLoop => {
                                for r in reqs() {
                                    s.set(r).await?;
                                }
                            }
                            Via::Raw => {
                                if let Some(raw) = raw {
                                    let items: Vec<(String, Bytes)> =
                                        keys.into_iter().map(|k| (k, v.clone())).collect();
                                    raw.bulk_set(&items).await?;
                                }
                            }
                        }
                        Ok(n)
                    })
                })
            }
            (Workload::Transact, Via::Sdk) => Arc::new(move |rng| {
                let keys = f.picks(rng, f.tx_batch);
                let (s, v) = (f.store.clone(), f.fresh(rng));
                Box::pin(async move {
                    let n = keys.len() as u64;
                    let ops: Vec<TransactionOp> = keys
                        .into_iter()
                        .map(|k| SetRequest::new(k, v.clone()).into())
                        .collect();
                    s.transact(TransactRequest::new(ops)).await.map(|_| n)
                })
            }),
            (Workload::Transact, Via::Raw) => {
                let raw = f.raw.clone()?;
                Arc::new(move |rng| {
                    let keys = f.picks(rng, f.tx_batch);
                    let (r, v) = (raw.clone(), f.fresh(rng));
                    Box::pin(async move {
                        let items: Vec<(String, Bytes)> =
                            keys.into_iter().map(|k| (k, v.clone())).collect();
                        r.transact(&items).await.map(|_| items.len() as u64)
                    })
                })
            }
            _ => return None,
        };
        Some(call)
    }
}

/// The first error of per-key results, if any.
fn all_ok<T>(results: impl IntoIterator<Item = Result<T>>) -> Result<()> {
    results.into_iter().try_for_each(|r| r.map(drop))
}

/// Runs `call` from `tasks` tasks for `length`, recording each call's latency.
/// `draw` picks the random keys and values of the run (see the caller).
async fn measure(call: Call, tasks: usize, length: Duration, draw: u64) -> Row {
    let started = Instant::now();
    let deadline = started + length;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let call = call.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed((draw << 32) | (t as u64 + 1));
            // Microseconds, up to an hour, three significant digits.
            let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds");
            let (mut calls, mut keys, mut errors, mut first_error) = (0, 0, 0, None);
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let result = call(&mut rng).await;
                let us = t0.elapsed().as_micros().max(1) as u64;
                match result {
                    Ok(n) => {
                        // Latency of completed calls only: a fast failure
                        // must not look like a fast call.
                        hist.saturating_record(us);
                        calls += 1;
                        keys += n;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                        if errors > 1_000 && calls == 0 {
                            break;
                        }
                    }
                }
            }
            (hist, calls, keys, errors, first_error)
        }));
    }
    let mut row = Row {
        workload: Workload::Get,
        via: Via::Sdk,
        label: String::new(),
        calls: 0,
        keys: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
    };
    for h in handles {
        match h.await {
            Ok((hist, calls, keys, errors, first_error)) => {
                let _ = row.latency.add(&hist);
                row.calls += calls;
                row.keys += keys;
                row.errors += errors;
                if row.first_error.is_none() {
                    row.first_error = first_error;
                }
            }
            Err(e) => {
                row.errors += 1;
                row.first_error
                    .get_or_insert_with(|| format!("a task panicked: {e}"));
            }
        }
    }
    row.elapsed = started.elapsed();
    row
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
    let chosen = args.store.choose(registry)?;
    let store = chosen.open().await?;
    let caps = store.capabilities();
    let raw: Option<Arc<dyn Baseline>> = if args.no_raw {
        None
    } else {
        match statestore::baseline(chosen.registration.name, &chosen.properties).await {
            Some(b) => Some(Arc::from(b?)),
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
    let keys: Vec<String> = (0..args.keys).map(|i| format!("{run_id}{i}")).collect();
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
    let fixture = Arc::new(Fixture {
        store: store.clone(),
        raw: raw.clone(),
        keys: Arc::new(keys),
        value,
        batch,
        tx_batch,
    });
    let text = args.format == Format::Text;
    args.format.note(&format!(
        "{}: {} tasks, {} keys, {}-byte values, {} keys per bulk call, {} operations per transaction, {:?} per row{}",
        chosen.title(),
        args.concurrency,
        fixture.keys.len(),
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
        eprintln!("writing {} keys through both sides ...", fixture.keys.len());
        populate(&fixture).await?;
        let mut rows: Vec<Row> = Vec::new();
        if text {
            println!(
                "{:<9} {:<38} {:>10} {:>11} {:>9} {:>9} {:>7}",
                "workload", "via", "calls/s", "keys/s", "p50", "p99", "errors"
            );
        }
        for &workload in &args.ops {
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
            }
            vias.push(Via::Raw);
            // Each row runs in two halves, in the order A B C C B A, so drift
            // during the run (a growing WAL, a warming cache) favours no side.
            let calls: Vec<(Via, Call)> = vias
                .into_iter()
                .filter_map(|via| Some((via, fixture.call(workload, via)?)))
                .collect();
            let length = args.duration / 2;
            let mut halves: Vec<Option<Row>> = calls.iter().map(|_| None).collect();
            let order = (0..calls.len()).chain((0..calls.len()).rev());
            for (n, i) in order.enumerate() {
                let (via, call) = &calls[i];
                eprintln!(
                    "running {} via {} for {length:?} ...",
                    workload.name(),
                    via.label(&driver)
                );
                // Each row and half draws its own keys and values, so no
                // row rewrites bytes another row just wrote.
                let draw = ((i as u64) << 1) | u64::from(n >= calls.len());
                let part = measure(call.clone(), args.concurrency, length, draw).await;
                halves[i] = Some(match halves[i].take() {
                    Some(first) => first.merge(part),
                    None => part,
                });
            }
            for ((via, _), row) in calls.iter().zip(halves) {
                let Some(mut row) = row else { continue };
                row.workload = workload;
                row.via = *via;
                row.label = via.label(&driver);
                if text {
                    println!("{}", line(&row));
                    if let Some(e) = &row.first_error {
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
                "keys": fixture.keys.len(),
                "value_size": args.value_size,
                "batch": batch,
                "transaction_ops": tx_batch,
                "seconds_per_row": args.duration.as_secs_f64(),
                "raw_driver": raw.as_ref().map(|_| driver.clone()),
                "rows": rows.iter().map(|r| json!({
                    "workload": r.workload.name(),
                    "via": r.label,
                    "calls": r.calls,
                    "keys": r.keys,
                    "errors": r.errors,
                    "first_error": r.first_error,
                    "seconds": r.elapsed.as_secs_f64(),
                    "calls_per_s": r.calls_per_s(),
                    "keys_per_s": r.keys_per_s(),
                    "p50_us": r.quantile_us(0.5),
                    "p99_us": r.quantile_us(0.99),
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
        eprintln!("warning: the raw baseline did not clean up: {e}");
    }
    let _ = store.close().await;
    let rows = outcome?;
    let failed = rows.iter().any(|r| r.calls == 0);
    Ok(if failed {
        eprintln!("error: a row completed no call; see its first error");
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Writes every key through the SDK and through the raw driver.
async fn populate(f: &Fixture) -> Result<()> {
    for chunk in f.keys.chunks(500) {
        let reqs = chunk
            .iter()
            .map(|k| SetRequest::new(k, f.value.clone()))
            .collect();
        all_ok(f.store.bulk_set(reqs).await?.into_iter().map(|r| r.result))?;
        if let Some(raw) = &f.raw {
            let items: Vec<(String, Bytes)> =
                chunk.iter().map(|k| (k.clone(), f.value.clone())).collect();
            raw.bulk_set(&items).await?;
        }
    }
    Ok(())
}

/// Deletes the SDK's keys (the baseline removes its own on close).
async fn cleanup(f: &Fixture) {
    for chunk in f.keys.chunks(500) {
        let reqs = chunk.iter().map(DeleteRequest::new).collect();
        if let Err(e) = f.store.bulk_delete(reqs).await {
            eprintln!("warning: cleanup failed: {e}");
            return;
        }
    }
}

/// SDK / raw for each workload, and native bulk / loops of single calls.
fn ratios(rows: &[Row]) -> Vec<(String, f64)> {
    let find = |w: Workload, v: Via| {
        rows.iter()
            .find(|r| r.workload == w && r.via == v && r.calls > 0)
    };
    let mut out = Vec::new();
    for w in [
        Workload::Get,
        Workload::Set,
        Workload::BulkGet,
        Workload::BulkSet,
        Workload::Transact,
    ] {
        let Some(sdk) = find(w, Via::Sdk) else {
            continue;
        };
        if let Some(raw) = find(w, Via::Raw) {
            out.push((
                format!("{}: statestore / raw driver (keys/s)", w.name()),
                sdk.keys_per_s() / raw.keys_per_s(),
            ));
        }
        if let Some(par) = find(w, Via::ParallelLoop) {
            out.push((
                format!("{}: native bulk / parallel single calls (keys/s)", w.name()),
                sdk.keys_per_s() / par.keys_per_s(),
            ));
        }
        if let Some(seq) = find(w, Via::SequentialLoop) {
            out.push((
                format!(
                    "{}: native bulk / sequential single calls (keys/s)",
                    w.name()
                ),
                sdk.keys_per_s() / seq.keys_per_s(),
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
        r.calls_per_s(),
        r.keys_per_s(),
        micros(r.quantile_us(0.5)),
        micros(r.quantile_us(0.99)),
        r.errors
    )
}

fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else {
        format!("{:.2} ms", us as f64 / 1_000.0)
    }
}
