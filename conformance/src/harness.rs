//! Turns the cases into libtest trials, gated by declared capabilities.

use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use statestore_core::{Feature, Features, Properties, Registration, Store};

use crate::Quirks;
use crate::cases::{self, Case};
use crate::context::{Ctx, Failure, Target};

/// A configured run of the suite against one store type.
pub struct Suite {
    registration: Registration,
    properties: Properties,
    quirks: Quirks,
}

impl Suite {
    /// The suite for `registration`, initialised with `properties`.
    pub fn new(registration: Registration, properties: Properties) -> Self {
        Suite {
            registration,
            properties,
            quirks: Quirks::default(),
        }
    }

    /// Declares the store's quirks.
    pub fn quirks(mut self, quirks: Quirks) -> Self {
        self.quirks = quirks;
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
        let target = Arc::new(Target {
            registration: self.registration,
            properties: self.properties,
            quirks: self.quirks,
            run_prefix: format!("cf{:08x}-", fastrand::u32(..)),
        });
        let store: Arc<dyn Store> = match rt.block_on(open(&target)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{name}: the store could not be initialised: {e}");
                return ExitCode::FAILURE;
            }
        };
        let declared = store.capabilities().features;
        let mut trials = Vec::new();
        for (i, case) in cases::all().into_iter().enumerate() {
            trials.push(trial(case, i, declared, &rt, &store, &target));
        }
        for (i, feature) in Feature::ALL.into_iter().enumerate() {
            if !declared.contains(feature) {
                let case = cases::refusal(feature);
                trials.push(trial(case, 1000 + i, declared, &rt, &store, &target));
            }
        }
        let conclusion = libtest_mimic::run(args, trials);
        let _ = rt.block_on(store.close());
        conclusion.exit_code()
    }
}

async fn open(target: &Target) -> statestore_core::Result<Arc<dyn Store>> {
    let reg = &target.registration;
    let mut store = (reg.factory)(reg.default_version());
    store.init(&target.properties).await?;
    Ok(Arc::from(store))
}

fn trial(
    case: Case,
    index: usize,
    declared: Features,
    rt: &Arc<tokio::runtime::Runtime>,
    store: &Arc<dyn Store>,
    target: &Arc<Target>,
) -> Trial {
    let (rt, store, target) = (rt.clone(), store.clone(), target.clone());
    Trial::ignorable_test(case.name, move || {
        let missing: Features = case
            .needs
            .iter()
            .filter(|f| !declared.contains(*f))
            .collect();
        if !missing.is_empty() {
            return Ok(Completion::ignored_with(format!(
                "needs {missing}, which {} does not declare",
                target.registration.name
            )));
        }
        let name = target.registration.name;
        let prefix = format!("{}{index}-", target.run_prefix);
        let cx = Ctx::new(store, target, prefix);
        let outcome = rt.block_on(async {
            let outcome = (case.run)(&cx).await;
            cx.cleanup().await;
            outcome
        });
        match outcome {
            Ok(()) => Ok(Completion::Completed),
            Err(Failure::Skipped(why)) => Ok(Completion::ignored_with(why)),
            Err(Failure::Failed(message)) => {
                Err(Failed::from(format!("{name}: {}: {message}", case.name)))
            }
        }
    })
}
