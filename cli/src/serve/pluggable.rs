//! `statestore serve --pluggable`: stores served to daprd as pluggable
//! components, one Unix socket each (docs/pluggable.md).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use statestore::pluggable::{Component, bind, check_name, socket_path};
use tokio::sync::watch;

use super::ServeArgs;

/// The socket name of a store type: its name without `state.`, so that
/// daprd offers it under the same type name.
fn socket_name(type_name: &str) -> &str {
    type_name.strip_prefix("state.").unwrap_or(type_name)
}

/// Serves every socket until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> statestore::Result<ExitCode> {
    if args.types.is_empty() && args.components.is_none() {
        eprintln!(
            "error: statestore serve --pluggable needs what to serve: --type <TYPE> (e.g. --type state.sqlite), \
             --components <FILE|FOLDER>, or both"
        );
        return Ok(ExitCode::from(2));
    }
    let registry = statestore::registry()?;
    let mut sockets: BTreeMap<String, (String, Component)> = BTreeMap::new();
    for t in &args.types {
        let (reg, _) = registry.resolve(t, None)?;
        let name = socket_name(reg.name).to_owned();
        check_name(&name)?;
        let what = format!(
            "type {}, one store per instance daprd initialises",
            reg.name
        );
        if sockets
            .insert(name.clone(), (what, Component::of_type(reg)))
            .is_some()
        {
            eprintln!("error: --type {t}: a socket named {name}.sock is served already");
            return Ok(ExitCode::from(2));
        }
    }
    let runtime = match &args.components {
        Some(path) => Some(super::load(&args.app_id, path).await?),
        None => None,
    };
    if let Some(rt) = &runtime {
        for note in rt.notes() {
            eprintln!("note: {}", crate::scrub(note));
        }
        for name in rt.names() {
            // daprd prefixes keys itself: the store is served without the
            // component's keyPrefix.
            let store = rt.raw_store(name)?;
            let (typ, _) = rt.store_type(name)?;
            if let Err(e) = check_name(name) {
                eprintln!("error: component {name:?}: {e}");
                let _ = rt.close().await;
                return Ok(ExitCode::from(2));
            }
            let what = format!("component {name} ({typ}), as its manifest configures it");
            if sockets
                .insert(name.to_owned(), (what, Component::ready(store)))
                .is_some()
            {
                eprintln!("error: component {name}: a socket named {name}.sock is served already");
                let _ = rt.close().await;
                return Ok(ExitCode::from(2));
            }
        }
    }
    // Every socket is bound before any serves: one that cannot be bound
    // stops the command, and the others are removed as they drop.
    let mut bound = Vec::new();
    for (name, (what, component)) in sockets {
        let path = socket_path(&args.sockets_folder, &name);
        match bind(&path, component).await {
            Ok(b) => bound.push((b, name, what)),
            Err(e) => {
                eprintln!(
                    "error: {}",
                    crate::scrub(&format!("{}: {e:#}", path.display()))
                );
                drop(bound);
                if let Some(rt) = runtime {
                    let _ = rt.close().await;
                }
                return Ok(ExitCode::from(1));
            }
        }
    }
    // One signal, or one socket failing, stops every socket.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let mut tasks = Vec::new();
    for (socket, name, what) in bound {
        let path = socket.path().to_owned();
        println!(
            "serving {what} on {} (daprd component type state.{name})",
            path.display()
        );
        let mut rx = stop_rx.clone();
        let stop = stop_tx.clone();
        tasks.push(tokio::spawn(async move {
            let stopped = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            let r = socket.serve(stopped).await;
            let _ = stop.send(true);
            r.map_err(|e| format!("{}: {e:#}", path.display()))
        }));
    }
    let signal = stop_tx.clone();
    let watcher = tokio::spawn(async move {
        super::shutdown().await;
        let _ = signal.send(true);
    });
    let results = futures::future::join_all(tasks).await;
    watcher.abort();
    let mut code = ExitCode::SUCCESS;
    for r in results {
        let failed = match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(format!("a socket's task failed: {e}")),
        };
        if let Some(e) = failed {
            eprintln!("error: {}", crate::scrub(&e));
            code = ExitCode::from(1);
        }
    }
    if let Some(rt) = runtime {
        rt.close().await?;
    }
    Ok(code)
}
