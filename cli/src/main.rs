//! `statestore`: list the store types of this build, poke at a store by
//! hand, run the conformance suite against it, benchmark it, and serve
//! Dapr's state API on it.

use std::process::ExitCode;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use statestore::manifest::{Component, Manifest};
use statestore::runtime::Runtime;
use statestore::{Error, Properties, Registration, Registry, Store};

mod bench;
mod conformance;
#[cfg(feature = "pluggable")]
mod hop;
mod kv;
mod list;
mod serve;

/// Pluggable state stores: list the store types of this build, and get, set,
/// delete or list keys of a store given by type and metadata.
#[derive(Parser)]
#[command(name = "statestore", version, about)]
struct Cli {
    /// Log at debug level (to stderr).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every registered store type with its versions, aliases and capabilities.
    List(list::ListArgs),
    /// Read one key: the value goes to stdout, etag and expiry to stderr.
    Get(kv::GetArgs),
    /// Write one key.
    Set(kv::SetArgs),
    /// Delete one key.
    Delete(kv::DeleteArgs),
    /// List keys matching an SQL LIKE pattern.
    Keys(kv::KeysArgs),
    /// Run the conformance suite against a store: one line per case and a
    /// summary; exits 0 only when no case failed.
    Conformance(conformance::ConformanceArgs),
    /// Measure throughput and p50/p99 latency of get, set, bulk calls and
    /// transactions, next to the raw driver and to loops of single calls.
    Bench(bench::BenchArgs),
    /// Serve Dapr's state API over HTTP and gRPC on the stores of a components file
    /// or folder, for Dapr SDKs pointed at it.
    Serve(serve::ServeArgs),
}

/// Output format.
#[derive(Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For machines.
    Json,
}

impl Format {
    /// Prints a line meant for people: on stdout in text, on stderr when
    /// stdout carries JSON.
    pub fn note(self, line: &str) {
        match self {
            Format::Text => println!("{line}"),
            Format::Json => eprintln!("{line}"),
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

/// Which store to open: a Dapr component manifest, or a type and metadata.
#[derive(Args)]
pub struct StoreArgs {
    /// A Dapr component manifest (kind: Component, spec.type: state.*).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["type_name", "type_version", "meta"])]
    pub component: Option<PathBuf>,
    /// Store type, e.g. state.sqlite (see `statestore list`).
    #[arg(
        long = "type",
        value_name = "TYPE",
        required_unless_present = "component"
    )]
    pub type_name: Option<String>,
    /// Version of the type; the default version when absent.
    #[arg(long, value_name = "VERSION")]
    pub type_version: Option<String>,
    /// Component metadata, repeatable: --meta connectionString=./data.db
    #[arg(long = "meta", value_name = "NAME=VALUE")]
    pub meta: Vec<String>,
    /// The app id of a --component manifest: the value of {appID} in its
    /// metadata, as Dapr's app id is.
    #[arg(long, value_name = "ID", default_value = "statestore")]
    pub app_id: String,
}

/// A store type resolved from the command line, not yet initialised.
pub struct Chosen {
    /// The registered type.
    pub registration: Registration,
    /// The version to create.
    pub version: &'static str,
    /// Init metadata.
    pub properties: Properties,
    /// How to name it to the user, e.g. `component "cache" (cache.yaml)`.
    pub label: String,
    /// The manifest's `spec.initTimeout`, if any.
    pub init_timeout: Option<Duration>,
}

/// Secret values of the component in use: masked in every message this
/// program prints itself.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers the values of `properties` that must not be shown, given the
/// properties its type declares (see [`scrub`]).
fn remember_secrets(properties: &Properties, declared: &[statestore::Property]) {
    let mut secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    secrets.extend(
        properties
            .hidden_values(declared)
            .into_iter()
            .map(str::to_owned),
    );
}

/// Masks `secret` in everything printed from now on.
pub fn remember_secret(secret: &str) {
    SECRETS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(secret.to_owned());
}

/// `text` with every secret value of the component in use (from a
/// `secretKeyRef`, of a secret-looking or secret-declared property) masked
/// by [`statestore::secrets::redact`], for messages that may quote one.
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    statestore::secrets::redact(text, &refs)
}

/// Standard error with every secret value masked ([`scrub`]): the log's
/// writer, since drivers log what they send (a statement may hold a key).
/// The log formats each event whole and writes it in one call.
struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = scrub(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A result whose error may quote a secret value.
pub trait Scrub {
    /// The result with secret values masked in its error ([`scrub`]).
    fn scrubbed(self) -> Self;
}

impl<T> Scrub for std::result::Result<T, String> {
    fn scrubbed(self) -> Self {
        self.map_err(|e| scrub(&e))
    }
}

impl<T> Scrub for statestore::Result<T> {
    fn scrubbed(self) -> Self {
        self.map_err(|e| {
            let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            statestore::secrets::redact_error(e, &refs)
        })
    }
}

impl StoreArgs {
    /// Resolves the type, version and metadata, and warns (on stderr) about
    /// properties the type does not know. A manifest's `secretKeyRef`s are
    /// resolved through its `auth.secretStore` (a `secretstores.local.env`
    /// or `secretstores.local.file` component of the same file or folder)
    /// and its placeholders (`{appID}` is `--app-id`) substituted, as the
    /// components runtime does; what the manifest skipped is noted on stderr.
    pub async fn choose(&self, registry: &Registry) -> statestore::Result<Chosen> {
        let (type_name, version, properties, label, init_timeout) = match &self.component {
            Some(path) => {
                let manifest = Manifest::load(path)?;
                for note in &manifest.skipped {
                    eprintln!("note: {note}");
                }
                let c = manifest.clone().single(&path.display().to_string())?;
                let label = format!("component {:?} ({})", c.name, path.display());
                let props = self.resolve(registry, &manifest, &c).await?;
                (c.type_name, c.version, props, label, c.init_timeout)
            }
            None => {
                let mut props = Properties::new();
                for m in &self.meta {
                    let (name, value) = Properties::parse_assignment(m)?;
                    props.insert(name, value);
                }
                let name = self.type_name.clone().unwrap_or_default();
                (name.clone(), self.type_version.clone(), props, name, None)
            }
        };
        let (registration, version) = registry.resolve(&type_name, version.as_deref())?;
        remember_secrets(&properties, registration.properties);
        for unknown in properties.unknown(registration.properties) {
            eprintln!(
                "warning: {label}: {} has no property {unknown:?}; it is ignored",
                registration.name
            );
        }
        Ok(Chosen {
            registration: *registration,
            version,
            properties,
            label,
            init_timeout,
        })
    }

    /// The properties of one component of `manifest`, as the components
    /// runtime of app `--app-id` would give them (secrets marked secret).
    async fn resolve(
        &self,
        registry: &Registry,
        manifest: &Manifest,
        c: &Component,
    ) -> statestore::Result<Properties> {
        statestore::check::key_part("app id", &self.app_id)
            .map_err(|e| Error::config(format!("--app-id: {}", e.message())))?;
        Runtime::builder(registry.clone(), &self.app_id)
            .properties_of(manifest, c)
            .await
    }

    /// Opens the store through the registry.
    pub async fn open(&self, registry: &Registry) -> statestore::Result<Arc<dyn Store>> {
        self.choose(registry).await?.open().await
    }
}

impl Chosen {
    /// `type version from label`, the start of every report's header.
    pub fn title(&self) -> String {
        format!(
            "{} {} from {}",
            self.registration.name, self.version, self.label
        )
    }

    /// Creates and initialises the store, within `initTimeout` if the
    /// manifest sets one. An init error names the component and never
    /// quotes a secret value.
    pub async fn open(&self) -> statestore::Result<Arc<dyn Store>> {
        let mut store = (self.registration.factory)(self.version);
        match self.within_init_timeout(store.init(&self.properties)).await {
            Ok(Ok(())) => Ok(Arc::from(store)),
            Ok(Err(e)) => Err(self.labelled(e)),
            Err(e) => Err(Error::timeout(format!("{e} ({})", self.label))),
        }
    }

    /// An init error with the label after its message, unless the label is
    /// only the type name the error starts with already.
    fn labelled(&self, e: Error) -> Error {
        if self.label == self.registration.name {
            return e;
        }
        e.map_message(|m| format!("{m} ({})", self.label))
    }

    /// Runs `init` (whatever initialises the store) within the manifest's
    /// `initTimeout`, if it sets one; the error says it did not finish.
    /// Secret values are masked in its error ([`scrub`]).
    pub async fn within_init_timeout<T: Scrub>(
        &self,
        init: impl std::future::Future<Output = T>,
    ) -> Result<T, String> {
        match self.init_timeout {
            Some(limit) => tokio::time::timeout(limit, init)
                .await
                .map(Scrub::scrubbed)
                .map_err(|_| {
                    format!(
                        "{}: init did not finish within the initTimeout of {limit:?}",
                        self.registration.name
                    )
                }),
            None => Ok(init.await.scrubbed()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.verbose {
        tracing_subscriber::filter::LevelFilter::DEBUG
    } else {
        tracing_subscriber::filter::LevelFilter::WARN
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(|| ScrubbedStderr)
        .with_max_level(level)
        .without_time()
        .with_target(false)
        .with_ansi(false)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let registry = statestore::registry()?;
        match cli.command {
            Command::List(args) => list::run(&registry, &args),
            Command::Get(args) => kv::get(&registry, args).await,
            Command::Set(args) => kv::set(&registry, args).await,
            Command::Delete(args) => kv::delete(&registry, args).await,
            Command::Keys(args) => kv::keys(&registry, args).await,
            Command::Conformance(args) => conformance::run(&registry, args).await,
            Command::Bench(args) => bench::run(&registry, args).await,
            Command::Serve(args) => serve::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", scrub(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}
