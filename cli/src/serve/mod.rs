//! `statestore serve`: Dapr's state API over HTTP on the stores of a
//! components folder, for Dapr SDKs pointed at it (docs/serve.md).

mod dapr;
mod http;

use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

/// Arguments of `statestore serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// A Dapr component manifest, or a folder of them.
    #[arg(long, value_name = "FILE|FOLDER")]
    pub components: PathBuf,
    /// The app id: the value of {appID} and of the appid key prefix.
    #[arg(long, value_name = "ID", default_value = "statestore")]
    pub app_id: String,
    /// HTTP port (or DAPR_HTTP_PORT).
    #[arg(
        long,
        value_name = "PORT",
        env = "DAPR_HTTP_PORT",
        default_value_t = 3500
    )]
    pub http_port: u16,
    /// Address to listen on. Only loopback addresses unless
    /// --allow-remote is given: the API has no transport security.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// Allow --listen on an address other than loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// API token every call but healthz must carry in the dapr-api-token
    /// header (or DAPR_API_TOKEN); never printed.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "DAPR_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
}

/// How long calls in flight may take to finish after Ctrl-C or SIGTERM.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Loads the components and serves until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> statestore::Result<ExitCode> {
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
    let runtime = statestore::runtime(args.app_id.clone())?
        .load(&args.components)
        .await?;
    for note in runtime.notes() {
        eprintln!("note: {}", crate::scrub(note));
    }
    let names: Vec<String> = runtime.names().map(str::to_owned).collect();
    let app = Arc::new(http::App {
        runtime,
        token: args.api_token.filter(|t| !t.is_empty()),
    });
    let addr = SocketAddr::new(args.listen, args.http_port);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    println!(
        "serving Dapr's state API for app {:?} on http://{bound} (stores: {})",
        args.app_id,
        names.join(", ")
    );
    // After the signal, calls in flight get GRACE to finish; a client that
    // never finishes its request must not keep the server up.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let server =
        axum::serve(listener, http::router(app.clone())).with_graceful_shutdown(async move {
            shutdown().await;
            signalled.notify_one();
        });
    let served = tokio::select! {
        r = server.into_future() => r,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(GRACE).await;
        } => {
            eprintln!("note: stopped with requests still open after {GRACE:?}");
            Ok(())
        }
    };
    let closed = app.runtime.close().await;
    if let Err(e) = served {
        eprintln!("error: the HTTP server failed: {e}");
        return Ok(ExitCode::from(1));
    }
    closed.map(|()| ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown() {
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
