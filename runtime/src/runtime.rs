//! The components runtime: loads Dapr component manifests (a file or a
//! folder), resolves secrets and placeholders, initialises every state
//! store, and hands them out by component name behind their `keyPrefix`,
//! with the one flagged `actorStateStore` serving actor state.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> statestore_core::Result<()> {
//! use statestore_core::{Registry, StoreExt};
//! use statestore_runtime::runtime::Runtime;
//! # let dir = std::env::temp_dir().join(format!("rt-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # let path = dir.join("components.yaml");
//! std::fs::write(&path, r#"
//! apiVersion: dapr.io/v1alpha1
//! kind: Component
//! metadata: {name: statestore}
//! spec:
//!   type: state.in-memory
//!   version: v1
//!   metadata:
//!   - {name: actorStateStore, value: "true"}
//! "#).unwrap();
//!
//! let runtime = Runtime::builder(Registry::from_inventory()?, "bank").load(&path).await?;
//! runtime.store("statestore")?.put("greeting", "hi").await?; // stored as bank||greeting
//! let mut alice = runtime.actors()?.actor("Account", "alice")?;
//! alice.set("balance", "10")?;
//! alice.commit().await?;
//! runtime.close().await?;
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```
//!
//! Loading follows Dapr: `spec.initTimeout` bounds each init (default
//! [`DEFAULT_INIT_TIMEOUT`]); a component with `spec.ignoreErrors: true` that
//! fails to load is left out with a note instead of failing the whole load.
//! Every error names the file, the component and the field, and no secret
//! value appears in an error, a note or a log line.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::actor::{self, ActorStateStore};
use crate::manifest::{Component, EntryValue, Manifest};
use crate::prefix::{KEY_PREFIX, KeyPrefix, PrefixedStore};
use crate::secrets::{self, EnvSecretStore, FileSecretStore, SecretStore};
use statestore_core::capabilities::Capabilities;
use statestore_core::error::{Error, Operation, Result};
use statestore_core::properties::{BUILTIN_PROPERTIES, Properties};
use statestore_core::registry::{Registration, Registry};
use statestore_core::store::Store;

/// The `initTimeout` of components that set none (Dapr's default).
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The name of the property flagging the actor state store.
pub const ACTOR_STATE_STORE: &str = "actorStateStore";

/// Sets up a [`Runtime`].
pub struct RuntimeBuilder {
    registry: Registry,
    app_id: String,
    namespace: Option<String>,
    secret_stores: BTreeMap<String, Arc<dyn SecretStore>>,
    init_timeout: Duration,
}

/// One loaded state store.
struct Loaded {
    name: String,
    type_name: &'static str,
    version: &'static str,
    source: String,
    prefix: Option<String>,
    raw: Arc<dyn Store>,
    view: Arc<dyn Store>,
    /// The secret values of its properties, for tools that print messages.
    secrets: Vec<String>,
}

/// Initialised state stores by component name. Close it with
/// [`Runtime::close`] on shutdown.
pub struct Runtime {
    app_id: String,
    stores: Vec<Loaded>,
    /// The actor state store and its component's name.
    actors: Option<(String, ActorStateStore)>,
    notes: Vec<String>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("app_id", &self.app_id)
            .field("stores", &self.names().collect::<Vec<_>>())
            .field("notes", &self.notes)
            .finish()
    }
}

impl Runtime {
    /// A builder for app `app_id` creating stores from `registry`.
    pub fn builder(registry: Registry, app_id: impl Into<String>) -> RuntimeBuilder {
        RuntimeBuilder {
            registry,
            app_id: app_id.into(),
            namespace: std::env::var("NAMESPACE").ok().filter(|n| !n.is_empty()),
            secret_stores: BTreeMap::new(),
            init_timeout: DEFAULT_INIT_TIMEOUT,
        }
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The store of a component, behind its key prefix. An unknown name is
    /// an error listing the loaded ones.
    pub fn store(&self, name: &str) -> Result<Arc<dyn Store>> {
        self.find(name).map(|l| l.view.clone())
    }

    /// The store of a component without its key prefix (keys as stored).
    pub fn raw_store(&self, name: &str) -> Result<Arc<dyn Store>> {
        self.find(name).map(|l| l.raw.clone())
    }

    /// The resolved key prefix of a component (`None` for `keyPrefix: none`).
    pub fn key_prefix(&self, name: &str) -> Result<Option<&str>> {
        self.find(name).map(|l| l.prefix.as_deref())
    }

    /// The type (e.g. `state.sqlite`) and version of a component's store.
    pub fn store_type(&self, name: &str) -> Result<(&'static str, &'static str)> {
        self.find(name).map(|l| (l.type_name, l.version))
    }

    /// The capabilities of a component's store.
    pub fn capabilities(&self, name: &str) -> Result<Capabilities> {
        self.find(name).map(|l| l.raw.capabilities())
    }

    /// The secret values of the loaded components' properties (from a
    /// secret store, or of a property the type declares secret), so that a
    /// tool can mask them in what it prints.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.stores
            .iter()
            .flat_map(|l| l.secrets.iter().map(String::as_str))
    }

    /// The names of the loaded state stores, in load order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.stores.iter().map(|l| l.name.as_str())
    }

    /// The name of the component serving actor state, if any.
    pub fn actor_store_name(&self) -> Option<&str> {
        self.actors.as_ref().map(|(name, _)| name.as_str())
    }

    /// The actor state store: the component flagged `actorStateStore`.
    pub fn actors(&self) -> Result<&ActorStateStore> {
        self.actors.as_ref().map(|(_, a)| a).ok_or_else(|| {
            Error::config(format!(
                "no actor state store: no loaded component sets {ACTOR_STATE_STORE}: \"true\""
            ))
        })
    }

    /// What loading left out or ignored: skipped documents and files,
    /// unknown properties, components whose errors were ignored.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Closes every store; the first error is returned after all were tried.
    pub async fn close(&self) -> Result<()> {
        let mut first = None;
        for l in &self.stores {
            if let Err(e) = l.raw.close().await {
                first.get_or_insert(
                    e.map_message(|m| format!("{}: component {:?}: {m}", l.source, l.name)),
                );
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn find(&self, name: &str) -> Result<&Loaded> {
        self.stores.iter().find(|l| l.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.names().collect();
            Error::config(format!(
                "no state store component named {name:?}; loaded: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ))
        })
    }
}

/// Secret stores by component name.
type Vault = BTreeMap<String, Arc<dyn SecretStore>>;

/// A state component ready to initialise.
struct Prepared {
    component: Component,
    registration: Registration,
    version: &'static str,
    properties: Properties,
    prefix: Option<String>,
    actor: bool,
}

impl RuntimeBuilder {
    /// The namespace for `{namespace}` and `keyPrefix: namespace` (default:
    /// the `NAMESPACE` environment variable, as in Dapr).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into()).filter(|n| !n.is_empty());
        self
    }

    /// Adds a secret store that `auth.secretStore` can name, beside the
    /// ones declared in the manifests.
    pub fn secret_store(mut self, name: impl Into<String>, store: Arc<dyn SecretStore>) -> Self {
        self.secret_stores.insert(name.into(), store);
        self
    }

    /// The init timeout of components without `spec.initTimeout`.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// Loads the components of a manifest file or folder.
    pub async fn load(self, path: impl AsRef<std::path::Path>) -> Result<Runtime> {
        let manifest = Manifest::load(path)?;
        self.start(manifest).await
    }

    /// Loads the components of a parsed manifest.
    pub async fn start(self, manifest: Manifest) -> Result<Runtime> {
        self.check_app_id()?;
        // Two flagged components are an error even when one of them would
        // be left out later: the manifests say two, and that is refused.
        let flagged: Vec<&Component> = manifest
            .components
            .iter()
            .filter(|c| {
                c.metadata.iter().any(|e| {
                    e.name.eq_ignore_ascii_case(ACTOR_STATE_STORE)
                        && matches!(&e.value, EntryValue::Plain(v) if v.trim().eq_ignore_ascii_case("true"))
                })
            })
            .collect();
        if let [a, b, ..] = flagged[..] {
            return Err(two_actor_stores(&a.name, &a.source, &b.name, &b.source));
        }
        let mut notes = manifest.skipped.clone();
        let vault = self.secret_stores(&manifest, &mut notes)?;

        // Everything that needs no server is checked first, so a mistake in
        // the last file does not leave connections behind.
        let mut prepared = Vec::new();
        for c in &manifest.components {
            match self.prepare(c, &manifest, &vault).await {
                Ok(p) => prepared.push(p),
                Err(e) if c.ignore_errors => notes.push(ignored(&e)),
                Err(e) => return Err(e),
            }
        }
        let flagged: Vec<&Prepared> = prepared.iter().filter(|p| p.actor).collect();
        if let [a, b, ..] = flagged[..] {
            let (a, b) = (&a.component, &b.component);
            return Err(two_actor_stores(&a.name, &a.source, &b.name, &b.source));
        }

        let mut runtime = Runtime {
            app_id: self.app_id.clone(),
            stores: Vec::new(),
            actors: None,
            notes,
        };
        for p in prepared {
            match self.init(&p, &mut runtime.notes).await {
                Ok((loaded, actors)) => {
                    if let Some(a) = actors {
                        runtime.actors = Some((loaded.name.clone(), a));
                    }
                    runtime.stores.push(loaded);
                }
                Err(e) if p.component.ignore_errors => runtime.notes.push(ignored(&e)),
                Err(e) => {
                    let _ = runtime.close().await;
                    return Err(e);
                }
            }
        }
        for n in &runtime.notes {
            tracing::warn!("{n}");
        }
        Ok(runtime)
    }

    /// The init properties of one state component of `manifest`, as
    /// [`RuntimeBuilder::load`] would give them: `secretKeyRef`s resolved
    /// through the secret stores of the manifest and of this builder
    /// (marked secret), placeholders substituted. For tools that open one
    /// component without a runtime, such as `statestore conformance`.
    pub async fn properties_of(&self, manifest: &Manifest, c: &Component) -> Result<Properties> {
        self.check_app_id()?;
        let vault = self.secret_stores(manifest, &mut Vec::new())?;
        self.properties(c, manifest, &vault).await
    }

    /// The app id is a key part (actor keys start with it).
    fn check_app_id(&self) -> Result<()> {
        statestore_core::check::key_part("app id", &self.app_id)
            .map_err(|e| Error::config(e.message().to_owned()))
    }

    /// The builder's secret stores and those the manifest declares.
    fn secret_stores(&self, manifest: &Manifest, notes: &mut Vec<String>) -> Result<Vault> {
        let mut vault = self.secret_stores.clone();
        for c in &manifest.secret_stores {
            if let Some(store) = secret_store(c, notes)? {
                vault.entry(c.name.clone()).or_insert(store);
            }
        }
        Ok(vault)
    }

    async fn properties(
        &self,
        c: &Component,
        manifest: &Manifest,
        vault: &Vault,
    ) -> Result<Properties> {
        let mut secrets = BTreeMap::new();
        for entry in &c.metadata {
            if let EntryValue::Secret { name, key } = &entry.value {
                let value = self
                    .secret(c, &manifest.secret_stores, vault, &entry.name, name, key)
                    .await?;
                secrets.insert(entry.name.clone(), value);
            }
        }
        let mut properties = c.properties_with(|entry, _, _| Ok(secrets[&entry.name].clone()))?;
        // Placeholders in written values only: a secret is taken as it is.
        let plain: Vec<(String, String)> = c
            .metadata
            .iter()
            .filter_map(|e| match &e.value {
                EntryValue::Plain(v) if v.contains('{') => Some((e.name.clone(), v.clone())),
                _ => None,
            })
            .collect();
        for (name, value) in plain {
            let value = self
                .placeholders(&value)
                .map_err(|m| c.error(&field(&name), m))?;
            properties.insert(name, value);
        }
        Ok(properties)
    }

    async fn prepare(&self, c: &Component, manifest: &Manifest, vault: &Vault) -> Result<Prepared> {
        let (reg, version) = self
            .registry
            .resolve(&c.type_name, c.version.as_deref())
            .map_err(|e| c.error("spec.type", e.message()))?;
        let properties = self.properties(c, manifest, vault).await?;
        let reader = properties.reader(reg.name);
        let prefix_text = properties.get(KEY_PREFIX).unwrap_or("").to_owned();
        let strategy = KeyPrefix::parse(&prefix_text).map_err(|e| {
            if properties.is_secret(KEY_PREFIX) {
                c.error(
                    &field(KEY_PREFIX),
                    "the custom prefix must not contain \"||\" or NUL",
                )
            } else {
                c.error(&field(KEY_PREFIX), e.message())
            }
        })?;
        let prefix = strategy.resolve(&self.app_id, &c.name, self.namespace.as_deref());
        let actor = reader
            .bool(&BUILTIN_PROPERTIES[1])
            .map_err(|_| c.error(&field(ACTOR_STATE_STORE), "expected true or false"))?;
        if actor {
            let lacks = actor::lacking(reg.features);
            if !lacks.is_empty() {
                return Err(c.error(
                    &field(ACTOR_STATE_STORE),
                    format!("{} cannot hold actor state: it lacks {lacks} (an actor state store needs ETAG and TRANSACTIONAL)", reg.name),
                ));
            }
        }
        Ok(Prepared {
            component: c.clone(),
            registration: *reg,
            version,
            properties,
            prefix,
            actor,
        })
    }

    async fn secret(
        &self,
        c: &Component,
        declared: &[Component],
        vault: &Vault,
        entry: &str,
        name: &str,
        key: &str,
    ) -> Result<String> {
        let at = format!("{}.secretKeyRef", field(entry));
        let Some(store_name) = &c.secret_store else {
            return Err(c.error(
                &at,
                "needs a secret store: name one in auth.secretStore (e.g. a secretstores.local.env component)",
            ));
        };
        let Some(store) = vault.get(store_name) else {
            let built_in = |t: &str| {
                t.eq_ignore_ascii_case(secrets::ENV) || t.eq_ignore_ascii_case(secrets::FILE)
            };
            let why = match declared.iter().find(|d| &d.name == store_name) {
                Some(d) if built_in(&d.type_name) => format!(
                    "secret store {store_name:?} ({}, {}) failed to load and was left out (spec.ignoreErrors); the runtime's notes say why",
                    d.type_name, d.source
                ),
                Some(d) => format!(
                    "secret store {store_name:?} ({}, {}) is of a type this runtime lacks; built in: {}, {}; add others with RuntimeBuilder::secret_store",
                    d.type_name,
                    d.source,
                    secrets::ENV,
                    secrets::FILE
                ),
                None => format!(
                    "auth.secretStore names {store_name:?}, which is not declared (declare a component of type {} or {})",
                    secrets::ENV,
                    secrets::FILE
                ),
            };
            return Err(c.error(&at, why));
        };
        match store.get(name, key).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(c.error(
                &at,
                format!("secret {name:?} key {key:?} not found in secret store {store_name:?}"),
            )),
            Err(e) => Err(c.error(&at, format!("secret store {store_name:?}: {}", e.message()))),
        }
    }

    fn placeholders(&self, value: &str) -> std::result::Result<String, String> {
        let mut out = value.to_owned();
        if out.contains("{appID}") {
            out = out.replace("{appID}", &self.app_id);
        }
        if out.contains("{namespace}") {
            let ns = self.namespace.as_deref().ok_or(
                "{namespace} needs a namespace: set NAMESPACE or RuntimeBuilder::namespace",
            )?;
            out = out.replace("{namespace}", ns);
        }
        while out.contains("{uuid}") {
            out = out.replacen("{uuid}", &uuid(), 1);
        }
        Ok(out)
    }

    /// Initialises one store (notes about properties its type does not
    /// know go to `notes`), with the actor state store on it when flagged.
    async fn init(
        &self,
        p: &Prepared,
        notes: &mut Vec<String>,
    ) -> Result<(Loaded, Option<ActorStateStore>)> {
        let c = &p.component;
        let reg = &p.registration;
        for u in p.properties.unknown(reg.properties) {
            notes.push(format!(
                "{}: component {:?}: {} has no property {u:?}; it is ignored",
                c.source, c.name, reg.name
            ));
        }
        let limit = c.init_timeout.unwrap_or(self.init_timeout);
        let mut store = (reg.factory)(p.version);
        let result = tokio::time::timeout(limit, store.init(&p.properties)).await;
        // Init errors may quote a property's value; the store's own message
        // does not know which values are secret, so they are masked here.
        let scrub = |e: Error| -> Error {
            let hidden = p.properties.hidden_values(reg.properties);
            secrets::redact_error(e.context(reg.name, Operation::Init), &hidden)
                .map_message(|m| format!("{}: component {:?}: {m}", c.source, c.name))
        };
        match result {
            Err(_) => {
                let _ = store.close().await;
                return Err(Error::timeout(format!(
                    "{}: component {:?}: spec.initTimeout: {} did not finish init within {limit:?}",
                    c.source, c.name, reg.name
                ))
                .context(reg.name, Operation::Init));
            }
            Ok(Err(e)) => {
                let _ = store.close().await;
                return Err(scrub(e));
            }
            Ok(Ok(())) => {}
        }
        let raw: Arc<dyn Store> = Arc::from(store);
        let actors = if p.actor {
            match ActorStateStore::new(raw.clone(), &self.app_id) {
                Ok(a) => Some(a),
                Err(e) => {
                    let _ = raw.close().await;
                    return Err(c.error(
                        &field(ACTOR_STATE_STORE),
                        format!(
                            "this {} deployment cannot hold actor state: {}",
                            reg.name,
                            e.message()
                        ),
                    ));
                }
            }
        } else {
            None
        };
        let view: Arc<dyn Store> =
            Arc::new(PrefixedStore::new(raw.clone(), reg.name, p.prefix.clone()));
        let loaded = Loaded {
            name: c.name.clone(),
            type_name: reg.name,
            version: p.version,
            source: c.source.clone(),
            prefix: p.prefix.clone(),
            raw,
            view,
            secrets: p
                .properties
                .hidden_values(reg.properties)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        Ok((loaded, actors))
    }
}

fn two_actor_stores(a: &str, a_file: &str, b: &str, b_file: &str) -> Error {
    Error::config(format!(
        "two components set {ACTOR_STATE_STORE}: \"true\": {a:?} ({a_file}) and {b:?} ({b_file}); exactly one may"
    ))
}

/// `spec.metadata (name)`, as errors name a property.
fn field(name: &str) -> String {
    format!("spec.metadata ({name})")
}

/// The note of a component left out. Its errors already name the file
/// and the component.
fn ignored(e: &Error) -> String {
    format!("{e:#} (left out: spec.ignoreErrors is true)")
}

/// Builds a declared secret store; `None` (with a note) for types not
/// built in, which only fail when a component uses them.
fn secret_store(c: &Component, notes: &mut Vec<String>) -> Result<Option<Arc<dyn SecretStore>>> {
    let known = if c.type_name.eq_ignore_ascii_case(secrets::ENV) {
        secrets::ENV_PROPERTIES
    } else if c.type_name.eq_ignore_ascii_case(secrets::FILE) {
        secrets::FILE_PROPERTIES
    } else {
        notes.push(format!(
            "{}: component {:?}: secret store type {} is not built in ({}, {} are); skipped",
            c.source,
            c.name,
            c.type_name,
            secrets::ENV,
            secrets::FILE
        ));
        return Ok(None);
    };
    let made = if c
        .metadata
        .iter()
        .any(|e| matches!(e.value, EntryValue::Secret { .. }))
    {
        Err(c.error(
            "spec.metadata",
            "a secret store's own metadata cannot use secretKeyRef",
        ))
    } else {
        c.properties()
    };
    let made = made.and_then(|props| {
        for u in props.unknown(known) {
            notes.push(format!(
                "{}: component {:?}: {} has no property {u:?}; it is ignored",
                c.source, c.name, c.type_name
            ));
        }
        if known == secrets::ENV_PROPERTIES {
            EnvSecretStore::from_properties(&props).map(|s| Arc::new(s) as Arc<dyn SecretStore>)
        } else {
            FileSecretStore::from_properties(&props).map(|s| Arc::new(s) as Arc<dyn SecretStore>)
        }
        .map_err(|e| c.error("spec.metadata", e.message()))
    });
    match made {
        Ok(s) => Ok(Some(s)),
        Err(e) if c.ignore_errors => {
            notes.push(ignored(&e));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A random (version 4) UUID.
fn uuid() -> String {
    let mut b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4() {
        let (a, b) = (uuid(), uuid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }
}
