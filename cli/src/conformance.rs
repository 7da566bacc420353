//! `statestore conformance`: the shared suite against a live store.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use serde_json::json;
use statestore::Registry;
use statestore_conformance::{Quirks, Report, Restart, Settings, Suite, Verdict, parse_seed};

use super::{Format, StoreArgs};

#[derive(Args)]
pub struct ConformanceArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Run only cases whose name contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    filter: Vec<String>,
    /// Leave out cases whose name contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    skip: Vec<String>,
    /// Cases run at once (results are printed in case order).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = super::bounded::<1, 64>)]
    jobs: usize,
    /// Print the case names and exit.
    #[arg(long)]
    list: bool,
    /// Output: one line per case and a summary, or one JSON document.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Random sequences of the model-based case [default: 200, or
    /// $STATESTORE_MODEL_SEQUENCES].
    #[arg(long, value_name = "N")]
    sequences: Option<usize>,
    /// Operations per random sequence [default: 30, or $STATESTORE_MODEL_STEPS].
    #[arg(long, value_name = "N")]
    steps: Option<usize>,
    /// Seed of the first random sequence, as printed by a failure
    /// [default: random, or $STATESTORE_SEED].
    #[arg(long, value_name = "SEED", value_parser = parse_seed)]
    seed: Option<u64>,
    /// Concurrent tasks per race [default: 8, or $STATESTORE_RACE_WORKERS].
    #[arg(long, value_name = "N")]
    race_workers: Option<usize>,
    /// Successful writes per racing task [default: 10, or $STATESTORE_RACE_ROUNDS].
    #[arg(long, value_name = "N")]
    race_rounds: Option<usize>,
    /// Quirk: the store answers ETagMismatch, not ETagInvalid, for a
    /// malformed etag.
    #[arg(long)]
    no_invalid_etags: bool,
    /// Quirk: arrays and objects sort among themselves in the backend's
    /// own order, where the contract makes them tie.
    #[arg(long)]
    native_container_order: bool,
    /// Quirk: two instances with these properties do not share data (set
    /// by itself for state.in-memory; use it for SQLite's :memory:).
    #[arg(long)]
    isolated: bool,
    /// Shell command that stops the backend, for resilience::restart
    /// (with --restart-start), e.g. "redis-cli shutdown nosave".
    #[arg(long, value_name = "COMMAND", requires = "restart_start")]
    restart_stop: Option<String>,
    /// Shell command that starts the backend again and returns once it
    /// accepts connections.
    #[arg(long, value_name = "COMMAND", requires = "restart_stop")]
    restart_start: Option<String>,
    /// How fast calls must fail while the backend is down.
    #[arg(long, default_value = "30s", value_parser = super::duration, value_name = "DURATION")]
    restart_fail_within: Duration,
    /// How fast the same store instance must work again after the start.
    #[arg(long, default_value = "60s", value_parser = super::duration, value_name = "DURATION")]
    restart_recover_within: Duration,
    /// The backend may lose acknowledged writes on a restart (a cache
    /// without persistence).
    #[arg(long)]
    not_durable: bool,
}

pub async fn run(registry: &Registry, args: ConformanceArgs) -> statestore::Result<ExitCode> {
    let chosen = args.store.choose(registry).await?;
    let mut settings = Settings::from_env().map_err(statestore::Error::config)?;
    let s = &mut settings;
    s.model_sequences = args.sequences.unwrap_or(s.model_sequences);
    s.model_steps = args.steps.unwrap_or(s.model_steps);
    s.race_workers = args.race_workers.unwrap_or(s.race_workers);
    s.race_rounds = args.race_rounds.unwrap_or(s.race_rounds);
    // Chosen now, so the header can print it and a rerun can reuse it.
    let seed = args.seed.or(s.seed).unwrap_or_else(|| fastrand::u64(..));
    s.seed = Some(seed);
    let restart = match (&args.restart_stop, &args.restart_start) {
        (Some(stop), Some(start)) => Some(Restart {
            fail_within: args.restart_fail_within,
            recover_within: args.restart_recover_within,
            durable: !args.not_durable,
            ..Restart::commands(stop, start)
        }),
        _ => None,
    };
    let quirks = Quirks {
        detects_invalid_etags: !args.no_invalid_etags,
        shared_backend: !args.isolated && chosen.registration.name != statestore::memory::NAME,
        restart,
        native_container_order: args.native_container_order,
        ..Quirks::default()
    };
    let suite = Suite::new(chosen.registration, chosen.properties.clone())
        .version(chosen.version)
        .quirks(quirks)
        // Listing needs no sizes: do not refuse it over one.
        .settings(if args.list {
            Settings::default()
        } else {
            settings.clone()
        });
    let run = match chosen
        .within_init_timeout(suite.open())
        .await
        .and_then(|r| r)
    {
        Ok(run) => run,
        Err(e) => {
            // The suite's error starts with the type name already.
            match chosen.label == chosen.registration.name {
                true => eprintln!("error: {e:#}"),
                false => eprintln!("error: {e:#} ({})", chosen.label),
            }
            return Ok(ExitCode::from(2));
        }
    };
    let selected: Vec<usize> = (0..run.len())
        .filter(|&i| {
            let name = run.name(i);
            (args.filter.is_empty() || args.filter.iter().any(|f| name.contains(f.as_str())))
                && !args.skip.iter().any(|f| name.contains(f.as_str()))
        })
        .collect();
    if args.list {
        for &i in &selected {
            println!("{}", run.name(i));
        }
        run.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let filtered_out = run.len() - selected.len();
    let text = args.format == Format::Text;
    args.format.note(&format!(
        "{}: {} cases; model: {} sequences x {} steps, seed 0x{seed:x}; races: {} tasks x {} writes",
        chosen.title(),
        selected.len(),
        settings.model_sequences,
        settings.model_steps,
        settings.race_workers,
        settings.race_rounds,
    ));
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut results = futures::stream::iter(selected.iter())
        .map(|&i| with_progress(run.name(i), run.case(i)))
        .buffered(args.jobs);
    while let Some(report) = results.next().await {
        let line = line(&report, reports.len() + 1, selected.len());
        if text {
            println!("{line}");
            let _ = std::io::stdout().flush();
        } else {
            eprintln!("{line}");
        }
        reports.push(report);
    }
    drop(results);
    run.close().await;
    let count = |f: fn(&Verdict) -> bool| reports.iter().filter(|r| f(&r.verdict)).count();
    let passed = count(|v| matches!(v, Verdict::Passed));
    let failed = count(|v| matches!(v, Verdict::Failed(_)));
    let skipped = count(|v| matches!(v, Verdict::Skipped(_)));
    let elapsed = started.elapsed();
    if text {
        let mut summary = format!("{passed} passed, {failed} failed, {skipped} skipped");
        if filtered_out > 0 {
            summary.push_str(&format!(" ({filtered_out} filtered out)"));
        }
        println!("{summary} in {:.1} s", elapsed.as_secs_f64());
        if failed > 0 {
            println!(
                "rerun the random sequences with --seed 0x{seed:x}; one case with --filter NAME"
            );
        }
    } else {
        let doc = json!({
            "store": chosen.registration.name,
            "version": chosen.version,
            "target": chosen.label,
            "seed": format!("0x{seed:x}"),
            "passed": passed,
            "failed": failed,
            "skipped": skipped,
            "filtered_out": filtered_out,
            "seconds": elapsed.as_secs_f64(),
            "cases": reports.iter().map(|r| {
                let (result, message) = match &r.verdict {
                    Verdict::Passed => ("passed", None),
                    Verdict::Failed(m) => ("failed", Some(m)),
                    Verdict::Skipped(m) => ("skipped", Some(m)),
                };
                json!({
                    "name": r.name,
                    "result": result,
                    "message": message,
                    "ms": r.elapsed.as_millis() as u64,
                })
            }).collect::<Vec<_>>(),
        });
        println!("{doc:#}");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs a case, saying on stderr every ten seconds that it still runs.
async fn with_progress(name: &str, case: impl Future<Output = Report>) -> Report {
    let started = Instant::now();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(10),
        Duration::from_secs(10),
    );
    tokio::pin!(case);
    loop {
        tokio::select! {
            report = &mut case => return report,
            _ = tick.tick() => eprintln!(
                "  ... {name} still running ({} s)",
                started.elapsed().as_secs()
            ),
        }
    }
}

fn line(report: &Report, n: usize, total: usize) -> String {
    let ms = report.elapsed.as_millis();
    let at = format!("[{n:>w$}/{total}]", w = total.to_string().len());
    match &report.verdict {
        Verdict::Passed => format!("{at} ok       {} ({ms} ms)", report.name),
        Verdict::Skipped(why) => format!("{at} skipped  {}: {why}", report.name),
        Verdict::Failed(message) => {
            let indented = message.replace('\n', "\n        ");
            format!(
                "{at} FAILED   {} ({ms} ms)\n        {indented}",
                report.name
            )
        }
    }
}
