//! `statestore serve`: Dapr's state API over HTTP and gRPC on the stores
//! of a components folder, for Dapr SDKs pointed at it (docs/serve.md).

mod dapr;
mod grpc;
mod http;
#[cfg(feature = "pluggable")]
mod pluggable;
mod proto;
#[cfg(test)]
mod tests;

use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use statestore::runtime::Runtime;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body or message, as Dapr's (4 MiB).
const MAX_MESSAGE: usize = 4 << 20;

/// What the HTTP and gRPC handlers share.
pub struct App {
    /// The loaded components.
    pub runtime: statestore::runtime::Runtime,
    /// The API token every call but healthz needs, when set.
    pub token: Option<String>,
}

impl App {
    /// Whether a call carrying `given` as its `dapr-api-token` (empty when
    /// absent) may go on: always without a token, else when it matches,
    /// compared in a time that depends on the lengths only.
    pub fn admits(&self, given: &[u8]) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let token = token.as_bytes();
        given.len() == token.len()
            && given
                .iter()
                .zip(token)
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    }
}

/// The runtime version `GetMetadata` and `/v1.0/metadata` report.
const RUNTIME_VERSION: &str = concat!("statestore ", env!("CARGO_PKG_VERSION"));

/// Arguments of `statestore serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// A Dapr component manifest, or a folder of them (daprd's
    /// --resources-path).
    #[arg(long, value_name = "FILE|FOLDER", visible_alias = "resources-path")]
    pub components: Option<PathBuf>,
    /// The app id: the value of {appID} and of the appid key prefix.
    #[arg(long, value_name = "ID", default_value = "statestore")]
    pub app_id: String,
    /// HTTP port (or DAPR_HTTP_PORT); 0 picks a free one.
    #[arg(
        long,
        value_name = "PORT",
        env = "DAPR_HTTP_PORT",
        default_value_t = 3500
    )]
    pub http_port: u16,
    /// gRPC port (or DAPR_GRPC_PORT); 0 picks a free one.
    #[arg(
        long,
        value_name = "PORT",
        env = "DAPR_GRPC_PORT",
        default_value_t = 50001
    )]
    pub grpc_port: u16,
    /// Address to listen on, for HTTP and gRPC. Only loopback addresses
    /// unless --allow-remote is given: the API has no transport security.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// Allow --listen on an address other than loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// API token every call but healthz must carry, in the dapr-api-token
    /// HTTP header or gRPC metadata (or DAPR_API_TOKEN); never printed.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "DAPR_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// Serve Dapr's pluggable-component protocol on Unix sockets for daprd,
    /// instead of the HTTP and gRPC API: one socket per --type and per
    /// component of --components (docs/pluggable.md).
    #[arg(long)]
    pub pluggable: bool,
    /// With --pluggable: the folder of the sockets, where daprd looks (or
    /// DAPR_COMPONENTS_SOCKETS_FOLDER).
    #[arg(
        long,
        value_name = "DIR",
        env = "DAPR_COMPONENTS_SOCKETS_FOLDER",
        default_value = "/tmp/dapr-components-sockets"
    )]
    pub sockets_folder: PathBuf,
    /// With --pluggable: a store type to serve on a socket named after it
    /// (state.redis on redis.sock), each component instance initialised
    /// with the metadata daprd sends; may be repeated.
    #[arg(long = "type", value_name = "TYPE", requires = "pluggable")]
    pub types: Vec<String>,
}

/// How long calls in flight may take to finish after Ctrl-C or SIGTERM.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds `addr`, or says which address and why not.
async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for {what} on {addr}: {e}"))
}

/// Loads the components and serves until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> statestore::Result<ExitCode> {
    if args.pluggable {
        #[cfg(feature = "pluggable")]
        return pluggable::run(args).await;
        #[cfg(not(feature = "pluggable"))]
        {
            eprintln!(
                "error: this build has no --pluggable: build with the cargo feature pluggable"
            );
            return Ok(ExitCode::from(2));
        }
    }
    let Some(components) = &args.components else {
        eprintln!(
            "error: statestore serve needs the state stores to serve: pass --components <FILE|FOLDER>, \
             a Dapr component manifest (YAML) or a folder of them, e.g. --components examples/components/sqlite.yaml"
        );
        return Ok(ExitCode::from(2));
    };
    if !args.listen.is_loopback() && !args.allow_remote {
        eprintln!(
            "error: --listen {} is not a loopback address: add --allow-remote to serve other hosts (the API has no TLS)",
            args.listen
        );
        return Ok(ExitCode::from(2));
    }
    if let Some(t) = &args.api_token {
        crate::remember_secret(t);
    }
    // The ports first: a busy one fails before any store is opened.
    let listeners = async {
        let h = bind(SocketAddr::new(args.listen, args.http_port), "HTTP").await?;
        let g = bind(SocketAddr::new(args.listen, args.grpc_port), "gRPC").await?;
        Ok::<_, String>((h, g))
    };
    let (http_listener, grpc_listener) = match listeners.await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let runtime = load(&args.app_id, components).await?;
    for note in runtime.notes() {
        eprintln!("note: {}", crate::scrub(note));
    }
    let names: Vec<String> = runtime.names().map(str::to_owned).collect();
    if names.is_empty() {
        eprintln!(
            "note: no state store in {}: every state call will answer ERR_STATE_STORE_NOT_CONFIGURED",
            components.display()
        );
    }
    for name in &names {
        if let Some((typ, version, features)) = dapr::component(&runtime, name) {
            println!(
                "component {name}: {typ} {version} ({})",
                features.join(", ")
            );
        }
    }
    let app = Arc::new(App {
        runtime,
        token: args.api_token.filter(|t| !t.is_empty()),
    });
    let routes = match grpc::routes(app.clone()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: gRPC reflection: {e}");
            let _ = app.runtime.close().await;
            return Ok(ExitCode::from(1));
        }
    };
    let http_addr = http_listener.local_addr().ok();
    let grpc_addr = grpc_listener.local_addr().ok();
    let shown = |a: Option<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    println!(
        "serving Dapr's state API for app {:?} on http://{} and grpc://{} (stores: {})",
        args.app_id,
        shown(http_addr),
        shown(grpc_addr),
        names.join(", ")
    );
    // One signal stops both servers; calls in flight then get GRACE to
    // finish, and a client that never finishes its request must not keep
    // the server up.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let http_server = axum::serve(http_listener, http::router(app.clone()))
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future();
    let grpc_server = tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(grpc_listener),
            stopped(stop_rx.clone()),
        );
    let servers = async {
        let (h, g) = tokio::join!(http_server, grpc_server);
        h.map_err(|e| format!("the HTTP server failed: {e}"))?;
        g.map_err(|e| format!("the gRPC server failed: {e}"))
    };
    let signal = async {
        shutdown().await;
        let _ = stop_tx.send(true);
        tokio::time::sleep(GRACE).await;
    };
    let served = tokio::select! {
        r = servers => r,
        () = signal => {
            eprintln!("note: stopped with requests still open after {GRACE:?}");
            Ok(())
        }
    };
    let closed = app.runtime.close().await;
    if let Err(e) = served {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(1));
    }
    closed.map(|()| ExitCode::SUCCESS)
}

/// Loads the components of `path` and remembers the secret values of
/// every one, so that no message or log line prints them.
pub(crate) async fn load(app_id: &str, path: &std::path::Path) -> statestore::Result<Runtime> {
    let runtime = statestore::runtime(app_id)?.load(path).await?;
    for secret in runtime.secret_values() {
        crate::remember_secret(secret);
    }
    Ok(runtime)
}

/// Ctrl-C, or SIGTERM on Unix.
pub(crate) async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
