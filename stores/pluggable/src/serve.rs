//! Serving a store to daprd: one Unix socket per component, named as daprd
//! expects, with reflection v1alpha for its discovery (docs/pluggable.md).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use statestore_core::{Error, Feature, Features, Registration, Result, Store};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::UnixListenerStream;

use crate::proto::{self as pb, services};
use crate::service::{Handlers, Instances};

/// How long calls in flight may take to finish once serving is to stop.
pub const GRACE: Duration = Duration::from_secs(5);

/// Largest message a socket reads or writes.
pub const MAX_MESSAGE: usize = 16 << 20;

/// The environment variable daprd reads its sockets folder from.
pub const SOCKETS_FOLDER_ENV: &str = "DAPR_COMPONENTS_SOCKETS_FOLDER";

/// daprd's sockets folder when the variable is not set.
pub const DEFAULT_SOCKETS_FOLDER: &str = "/tmp/dapr-components-sockets";

/// The folder daprd looks for sockets in: `DAPR_COMPONENTS_SOCKETS_FOLDER`,
/// or `/tmp/dapr-components-sockets`.
pub fn sockets_folder() -> PathBuf {
    std::env::var_os(SOCKETS_FOLDER_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_SOCKETS_FOLDER), PathBuf::from)
}

/// The socket of component type `state.<name>` in `folder`: daprd names
/// the type after the file, without its extension. See [`check_name`].
pub fn socket_path(folder: &Path, name: &str) -> PathBuf {
    folder.join(format!("{name}.sock"))
}

/// Refuses a socket name that is empty, holds `/` or NUL, or starts with
/// `.`: the socket would not be a file of the folder daprd reads.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\0']) {
        return Err(Error::config(format!(
            "{name:?} cannot name a socket: use a name without '/', NUL or a leading '.'"
        )));
    }
    Ok(())
}

type Make = Arc<dyn Fn() -> Box<dyn Store> + Send + Sync>;

/// What one socket serves.
#[derive(Clone)]
pub struct Component {
    source: Source,
    /// The most its stores offer: what decides the services listed.
    features: Features,
}

#[derive(Clone)]
enum Source {
    /// Each Init makes a store and initialises it with Init's properties.
    Make(Make),
    /// One store, initialised already, for every instance.
    Ready(Arc<dyn Store>),
}

impl Component {
    /// Each component instance daprd initialises gets a new store from
    /// `make`, initialised with the instance's metadata. The services listed
    /// follow what an uninitialised store's capabilities say; a store that
    /// learns its features at init names the most it can offer with
    /// [`features`](Self::features).
    pub fn new(make: impl Fn() -> Box<dyn Store> + Send + Sync + 'static) -> Self {
        let features = make().capabilities().features;
        Component {
            source: Source::Make(Arc::new(make)),
            features,
        }
    }

    /// Each instance gets a new store of a registered type, at its default
    /// version; the services listed follow the features it registers.
    pub fn of_type(registration: &Registration) -> Self {
        let factory = registration.factory;
        let version = registration.default_version();
        Component::new(move || factory(version)).features(registration.features)
    }

    /// Every instance shares `store`, initialised already; Init's
    /// properties are not used (a warning names them).
    pub fn ready(store: Arc<dyn Store>) -> Self {
        let features = store.capabilities().features;
        Component {
            source: Source::Ready(store),
            features,
        }
    }

    /// Sets the most its stores can offer, which decides the services the
    /// socket lists; each instance's `Features` answer stays its own.
    pub fn features(mut self, features: Features) -> Self {
        self.features = features;
        self
    }

    pub(crate) fn make(&self) -> Option<Box<dyn Store>> {
        match &self.source {
            Source::Make(make) => Some(make()),
            Source::Ready(_) => None,
        }
    }

    pub(crate) fn ready_store(&self) -> Option<Arc<dyn Store>> {
        match &self.source {
            Source::Ready(s) => Some(s.clone()),
            Source::Make(_) => None,
        }
    }
}

/// The services a socket serving stores with `features` lists: each only
/// when its stores can do it, and MultiMaxSize always (daprd always asks).
pub fn services_for(features: Features) -> Vec<&'static str> {
    let mut list = vec![services::STATE];
    if features.contains(Feature::Transactional) {
        list.push(services::TRANSACTIONAL);
    }
    if features.contains(Feature::QueryApi) {
        list.push(services::QUERIABLE);
    }
    if features.contains(Feature::DeleteWithPrefix) || features.contains(Feature::KeysLike) {
        list.push(services::EXTENSIONS);
    }
    list.push(services::MULTI_MAX_SIZE);
    list
}

/// Removes a socket file no server answers on; refuses a live socket or a
/// file that is no socket.
async fn clear_stale(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::config(format!("cannot read {}", path.display())).with_source(e));
        }
    };
    if !meta.file_type().is_socket() {
        return Err(Error::config(format!(
            "{} exists and is not a socket: not removed",
            path.display()
        )));
    }
    // Only a refused connection proves nobody serves it: a server that is
    // busy (a full backlog) must keep its socket.
    match UnixStream::connect(path).await {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
        Ok(_) => {
            return Err(Error::config(format!(
                "{} is in use: another server answers on it",
                path.display()
            )));
        }
        Err(e) => {
            return Err(Error::config(format!(
                "{} may be in use (connecting to it failed: {e}): not removed",
                path.display()
            )));
        }
    }
    std::fs::remove_file(path).map_err(|e| {
        Error::config(format!("cannot remove the stale socket {}", path.display())).with_source(e)
    })
}

/// Removes the socket when serving ends, however it ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A socket bound and answering connections, not yet serving calls: what
/// [`bind`] returns. Dropping it removes the socket.
pub struct Bound {
    listener: UnixListener,
    component: Component,
    cleanup: Cleanup,
}

/// Binds the Unix socket `path` for `component`: once this returns, daprd
/// may connect (its calls wait for [`Bound::serve`]). A stale socket at
/// `path` is removed first; a live one, or a file that is no socket, is an
/// error.
pub async fn bind(path: impl AsRef<Path>, component: Component) -> Result<Bound> {
    let path = path.as_ref();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::config(format!("cannot create the folder {}", parent.display())).with_source(e)
        })?;
    }
    clear_stale(path).await?;
    let listener = UnixListener::bind(path).map_err(|e| {
        Error::config(format!("cannot listen on {}", path.display())).with_source(e)
    })?;
    Ok(Bound {
        listener,
        component,
        cleanup: Cleanup(path.to_owned()),
    })
}

impl Bound {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.cleanup.0
    }

    /// Serves until `shutdown` completes, then closes the stores it made
    /// and removes the socket.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let Bound {
            listener,
            component,
            cleanup,
        } = self;
        let listed = services_for(component.features);
        let instances = Arc::new(Instances::new(component));
        let routes = routes(Handlers(instances.clone()), &listed)?;
        // After `shutdown`, calls in flight get GRACE to finish; a client
        // that keeps its connection open (daprd does) must not keep the
        // socket up.
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                shutdown.await;
                let _ = stopping.send(());
            });
        let served = tokio::select! {
            r = server => r,
            () = async {
                if stopped.await.is_ok() {
                    tokio::time::sleep(GRACE).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => Ok(()),
        };
        instances.close_all().await;
        served.map_err(|e| {
            Error::unavailable(format!("serving {} failed", cleanup.0.display())).with_source(e)
        })
    }
}

/// Serves `component` on the Unix socket `path` until `shutdown` completes:
/// [`bind`], then [`Bound::serve`].
///
/// ```no_run
/// # async fn run() -> statestore_core::Result<()> {
/// use statestore_pluggable::{Component, serve, socket_path, sockets_folder};
/// let socket = socket_path(&sockets_folder(), "my-store");
/// let component = Component::new(|| Box::new(statestore_core::MemoryStore::new()));
/// serve(&socket, component, async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve(
    path: impl AsRef<Path>,
    component: Component,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    bind(path, component).await?.serve(shutdown).await
}

fn routes(h: Handlers, listed: &[&'static str]) -> Result<tonic::service::Routes> {
    use pb::queriable_state_store_server::QueriableStateStoreServer;
    use pb::state_store_server::StateStoreServer;
    use pb::transactional_state_store_server::TransactionalStateStoreServer;
    use pb::transactional_store_multi_max_size_server::TransactionalStoreMultiMaxSizeServer;
    let mut reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::DESCRIPTOR_SET);
    for name in listed {
        reflection = reflection.with_service_name(*name);
    }
    let v1alpha = reflection
        .build_v1alpha()
        .map_err(|e| Error::backend("gRPC reflection").with_source(e))?;
    let mut routes = tonic::service::Routes::new(
        StateStoreServer::new(h.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
    .add_service(v1alpha)
    .add_service(
        TransactionalStoreMultiMaxSizeServer::new(h.clone()).max_decoding_message_size(MAX_MESSAGE),
    );
    if listed.contains(&services::TRANSACTIONAL) {
        routes = routes.add_service(
            TransactionalStateStoreServer::new(h.clone()).max_decoding_message_size(MAX_MESSAGE),
        );
    }
    if listed.contains(&services::EXTENSIONS) {
        routes = routes.add_service(
            pb::statestore::v1::state_store_extensions_server::StateStoreExtensionsServer::new(
                h.clone(),
            )
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
        );
    }
    if listed.contains(&services::QUERIABLE) {
        routes = routes.add_service(
            QueriableStateStoreServer::new(h)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        );
    }
    Ok(routes)
}
