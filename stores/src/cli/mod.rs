//! Command-line parsing and dispatch.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use statestore::{Properties, Registry, Store};

mod kv;
mod list;

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

/// Which store to open.
#[derive(Args)]
pub struct StoreArgs {
    /// Store type, e.g. state.sqlite (see `statestore list`).
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: String,
    /// Version of the type; the default version when absent.
    #[arg(long, value_name = "VERSION")]
    pub type_version: Option<String>,
    /// Component metadata, repeatable: --meta connectionString=./data.db
    #[arg(long = "meta", value_name = "NAME=VALUE")]
    pub meta: Vec<String>,
}

impl StoreArgs {
    /// Opens the store through the registry (which warns about unknown
    /// properties on stderr).
    pub async fn open(&self, registry: &Registry) -> statestore::Result<std::sync::Arc<dyn Store>> {
        let mut props = Properties::new();
        for m in &self.meta {
            let (name, value) = Properties::parse_assignment(m)?;
            props.insert(name, value);
        }
        registry
            .open(&self.type_name, self.type_version.as_deref(), &props)
            .await
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.verbose {
        tracing_subscriber::filter::LevelFilter::DEBUG
    } else {
        tracing_subscriber::filter::LevelFilter::WARN
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
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
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
