//! Your own `Store` as a Dapr pluggable state component: serve it on a Unix
//! socket, where daprd discovers it (docs/pluggable.md).
//!
//! `cargo run -p statestore-examples --example pluggable_component -- --serve`
//! serves the `notes` store of `notes.rs` on
//! `$DAPR_COMPONENTS_SOCKETS_FOLDER/notes.sock` (default
//! `/tmp/dapr-components-sockets`) until Ctrl-C; daprd then offers the
//! component type `state.notes`. Without `--serve` it serves on a temporary
//! socket and drives it once the way daprd does, through `state.pluggable`.

use std::error::Error;

use statestore::pluggable::{Component, PluggableStore, bind, serve, socket_path, sockets_folder};
use statestore::{Properties, Store, StoreExt};
use statestore_examples::notes;

/// The component manifest daprd needs for the socket `notes.sock`.
const MANIFEST: &str = "apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: notes
spec:
  type: state.notes
  version: v1
  metadata: []";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Each component instance daprd initialises gets a store of its own.
    let component = Component::of_type(&notes::REGISTRATION);

    if std::env::args().any(|a| a == "--serve") {
        let socket = socket_path(&sockets_folder(), "notes");
        println!(
            "serving {} on {}; daprd needs:\n{MANIFEST}",
            notes::NAME,
            socket.display()
        );
        serve(&socket, component, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        return Ok(());
    }

    // The same, on a temporary socket, driven once as daprd drives it.
    let dir = std::env::temp_dir().join(format!("pluggable-example-{}", std::process::id()));
    let socket = socket_path(&dir, "notes");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Once bound, the socket takes connections; serving runs in a task.
    let bound = bind(&socket, component).await?;
    let server = tokio::spawn(bound.serve(async {
        let _ = stopped.await;
    }));
    println!("serving {} on {}", notes::NAME, socket.display());

    // What daprd does: reflection, Init with the manifest's metadata,
    // Features, MultiMaxSize, then the calls, all as instance "notes".
    let mut daprd = PluggableStore::new();
    let props = Properties::new()
        .with("socket", socket.to_string_lossy())
        .with("instance", "notes");
    daprd.init(&props).await?;
    println!("daprd sees: [{}]", daprd.capabilities());
    let etag = daprd.put("order||1", "two coffees").await?;
    println!("set order||1, etag {etag:?}");
    let item = daprd
        .get_item("order||1")
        .await?
        .ok_or("order||1 missing")?;
    println!("order||1 = {:?}", String::from_utf8_lossy(&item.value));
    let refused = daprd.put("", "no key").await.unwrap_err();
    println!("an empty key comes back by kind: {}", refused.kind());

    daprd.close().await?;
    let _ = stop.send(());
    server.await??;
    println!("stopped; socket removed: {}", !socket.exists());
    let _ = std::fs::remove_dir(&dir);
    Ok(())
}
