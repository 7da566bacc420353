//! A server on a socket of a temporary folder, on its own thread and
//! runtime, for the client's tests to drive.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use statestore_pluggable::{Component, serve};
use tokio::sync::oneshot;

/// A served socket; dropping it stops the server.
pub struct Served {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<statestore_core::Result<()>>>,
}

impl Served {
    /// Serves `component` on `<tmp>/<name>.sock` and waits for the socket.
    pub fn start(name: &str, component: Component) -> Served {
        let dir = tempfile::tempdir().expect("temporary folder");
        let socket = statestore_pluggable::socket_path(dir.path(), name);
        let (stop, stopped) = oneshot::channel::<()>();
        let path = socket.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(serve(&path, component, async {
                let _ = stopped.await;
            }))
        });
        wait_for(&socket);
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

fn wait_for(socket: &Path) {
    for _ in 0..500 {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nothing answers on {} after 5 s", socket.display());
}
