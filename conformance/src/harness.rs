//! Runs the cases against one store, gated by its declared capabilities:
//! through libtest (a store crate's `tests/conformance.rs`) or case by case
//! (the `statestore conformance` command).

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use statestore_core::{Feature, Features, Properties, Registration, Store};

use crate::cases::{self, Case};
use crate::context::{Ctx, Failure, Target};
use crate::{Quirks, Settings};

/// A configured run of the suite against one store type.
pub struct Suite {
    registration: Registration,
    properties: Properties,
    quirks: Quirks,
    settings: Option<Settings>,
    version: Option<&'static str>,
}

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held.
    Passed,
    /// A rule is broken; the message names store, case, operation and key.
    Failed(String),
    /// The case does not apply; the message names the missing capability.
    Skipped(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// The case name, `group::rule`.
    pub name: &'static str,
    /// How it ended.
    pub verdict: Verdict,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Suite {
    /// The suite for `registration`, initialised with `properties`.
    pub fn new(registration: Registration, properties: Properties) -> Self {
        Suite {
            registration,
            properties,
            quirks: Quirks::default(),
            settings: None,
            version: None,
        }
    }

    /// Tests this version of the type (one of its registered versions;
    /// the default version otherwise).
    pub fn version(mut self, version: &'static str) -> Self {
        self.version = Some(version);
        self
    }

    /// Declares the store's quirks.
    pub fn quirks(mut self, quirks: Quirks) -> Self {
        self.quirks = quirks;
        self
    }

    /// Sets the sizes of races and model-based runs (otherwise read from
    /// the environment, see [`Settings::from_env`]).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Runs every case, reading libtest's command-line arguments.
    pub fn run(self) -> ExitCode {
        self.run_with(&Arguments::from_args())
    }

    /// Runs every case with the given libtest arguments.
    pub fn run_with(self, args: &Arguments) -> ExitCode {
        let name = self.registration.name;
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => Arc::new(rt),
            Err(e) => {
                eprintln!("{name}: cannot start a tokio runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let run = match rt.block_on(self.open()) {
            Ok(run) => Arc::new(run),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let trials = (0..run.len())
            .map(|i| {
                let (rt, run) = (rt.clone(), run.clone());
                Trial::ignorable_test(run.name(i), move || {
                    match rt.block_on(run.case(i)).verdict {
                        Verdict::Passed => Ok(Completion::Completed),
                        Verdict::Skipped(why) => Ok(Completion::ignored_with(why)),
                        Verdict::Failed(message) => Err(Failed::from(message)),
                    }
                })
            })
            .collect();
        let conclusion = libtest_mimic::run(args, trials);
        rt.block_on(run.close());
        conclusion.exit_code()
    }

    /// Initialises the store and lists the cases, for running them one by
    /// one. The error names the store and says what failed.
    pub async fn open(self) -> Result<Run, String> {
        let name = self.registration.name;
        let settings = match self.settings {
            Some(s) => s,
            None => Settings::from_env().map_err(|e| format!("{name}: {e}"))?,
        };
        settings.check().map_err(|e| format!("{name}: {e}"))?;
        let settings_seed = settings.seed.unwrap_or_else(|| fastrand::u64(..));
        let target = Arc::new(Target {
            version: self
                .version
                .unwrap_or_else(|| self.registration.default_version()),
            registration: self.registration,
            properties: self.properties,
            quirks: self.quirks,
            settings,
            run_prefix: format!("cf{:08x}-", fastrand::u32(..)),
            seed: settings_seed,
        });
        let mut store = (target.registration.factory)(target.version);
        store
            .init(&target.properties)
            .await
            .map_err(|e| format!("{name}: the store could not be initialised: {e:#}"))?;
        let store: Arc<dyn Store> = Arc::from(store);
        let declared = store.capabilities().features;
        let mut list: Vec<Case> = cases::all();
        list.extend(
            Feature::ALL
                .into_iter()
                .filter(|f| !declared.contains(*f))
                .map(cases::refusal),
        );
        Ok(Run {
            turn: tokio::sync::RwLock::new(()),
            store,
            target,
            declared,
            cases: list,
        })
    }
}

/// An initialised store and the cases to run against it.
pub struct Run {
    /// Held shared by every case, and exclusively by a case that stops
    /// the backend.
    turn: tokio::sync::RwLock<()>,
    store: Arc<dyn Store>,
    target: Arc<Target>,
    declared: Features,
    cases: Vec<Case>,
}

impl Run {
    /// How many cases there are.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// Whether there are no cases (never: kept for the usual pairing).
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// The index of the case named `name`, if there is one.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.cases.iter().position(|c| c.name == name)
    }

    /// The name of case `i`.
    pub fn name(&self, i: usize) -> &'static str {
        self.cases[i].name
    }

    /// The capabilities the store declared.
    pub fn declared(&self) -> Features {
        self.declared
    }

    /// The sizes in use.
    pub fn settings(&self) -> &Settings {
        &self.target.settings
    }

    /// Runs case `i` in its own key namespace and deletes its keys after.
    pub async fn case(&self, i: usize) -> Report {
        let case = self.cases[i];
        let name = self.target.registration.name;
        let missing: Features = case
            .needs
            .iter()
            .filter(|f| !self.declared.contains(*f))
            .collect();
        // Only a case that will stop the backend holds the others back.
        let _turn = if case.exclusive && self.target.quirks.restart.is_some() {
            Err(self.turn.write().await)
        } else {
            Ok(self.turn.read().await)
        };
        let started = Instant::now();
        let verdict = if !missing.is_empty() {
            Verdict::Skipped(format!("needs {missing}, which {name} does not declare"))
        } else {
            // A case's keys are the state keys of one actor,
            // `<run><case>||conformance||case||name`: a sharded store keeps
            // an actor in one shard (Redis Cluster: one hash slot), so the
            // transaction cases run there as an application's turns would.
            let prefix = format!("{}{i}||conformance||case||", self.target.run_prefix);
            let cx = Ctx::new(self.store.clone(), self.target.clone(), prefix, case.name);
            // A store that panics fails its case; the run goes on.
            let outcome = AssertUnwindSafe((case.run)(&cx)).catch_unwind().await;
            // Cleanup calls the store too, so it may panic as well.
            let cleaned = AssertUnwindSafe(cx.cleanup()).catch_unwind().await;
            match (outcome, cleaned) {
                (Ok(Ok(())), Err(panic)) => Verdict::Failed(format!(
                    "{name}: {}: panicked while deleting the case's keys: {}",
                    case.name,
                    panic_message(panic.as_ref())
                )),
                (outcome, _) => verdict(name, case.name, outcome),
            }
        };
        let verdict = match verdict {
            Verdict::Failed(m) => Verdict::Failed(format!(
                "{m}\n(run seed 0x{seed:x}: STATESTORE_SEED=0x{seed:x} repeats every random choice of this run)",
                seed = self.target.seed
            )),
            other => other,
        };
        Report {
            name: case.name,
            verdict,
            elapsed: started.elapsed(),
        }
    }

    /// Closes the store.
    pub async fn close(&self) {
        let _ = AssertUnwindSafe(self.store.close()).catch_unwind().await;
    }
}

/// The verdict of a case that ran, or panicked.
fn verdict(store: &str, case: &str, outcome: std::thread::Result<crate::Outcome>) -> Verdict {
    match outcome {
        Ok(Ok(())) => Verdict::Passed,
        Ok(Err(Failure::Skipped(why))) => Verdict::Skipped(why),
        Ok(Err(Failure::Failed(message))) => Verdict::Failed(format!("{store}: {case}: {message}")),
        Err(panic) => Verdict::Failed(format!(
            "{store}: {case}: panicked: {}",
            panic_message(panic.as_ref())
        )),
    }
}

/// The text of a panic, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
