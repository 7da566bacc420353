//! A server on a socket of a temporary folder, on its own thread and
//! runtime, for the client's tests to drive.

#![allow(dead_code)]

use std::path::PathBuf;

use statestore_pluggable::{Component, bind};
use tokio::sync::oneshot;

/// A served socket; dropping it stops the server.
pub struct Served {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<statestore_core::Result<()>>>,
}

impl Served {
    /// Serves `component` on `<tmp>/<name>.sock`, bound when this returns.
    pub fn start(name: &str, component: Component) -> Served {
        let dir = tempfile::tempdir().expect("temporary folder");
        let socket = statestore_pluggable::socket_path(dir.path(), name);
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, bound) = std::sync::mpsc::channel();
        let path = socket.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let socket = bind(&path, component).await?;
                let _ = ready.send(());
                socket
                    .serve(async {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        if bound.recv().is_err() {
            let e = thread.join().expect("server thread").unwrap_err();
            panic!("cannot bind {}: {e:#}", socket.display());
        }
        Served {
            dir,
            socket,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops the server and returns what `serve` returned.
    pub fn stop(mut self) -> statestore_core::Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> statestore_core::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().expect("server thread"),
            None => Ok(()),
        }
    }

    /// The client's properties for this socket.
    pub fn properties(&self) -> statestore_core::Properties {
        statestore_core::Properties::new().with("socket", self.socket.to_string_lossy())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}
