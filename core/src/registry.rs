//! The registry of store types: a type name (`state.sqlite`), its versions
//! (the first is the default), aliases, declared features and properties, and
//! a factory.
//!
//! Backend crates register at compile time with [`crate::register_store!`]
//! (an `inventory::submit!`); users add their own at run time with
//! [`Registry::register`]. A registration only survives linking if its crate
//! is linked: the `statestore` facade names every enabled backend crate for
//! that reason, and its tests check each one is found.

use std::fmt;
use std::sync::Arc;

use crate::baseline::BaselineFuture;
use crate::capabilities::Features;
use crate::error::{Error, Operation, Result};
use crate::properties::{Properties, Property};
use crate::store::Store;

/// Makes an empty, uninitialised store for a version of its type.
pub type Factory = fn(version: &str) -> Box<dyn Store>;

/// Opens a type's raw-driver [`Baseline`](crate::baseline::Baseline) from
/// the same properties its stores take, for `statestore bench`; usually
/// [`crate::baseline::open`].
pub type BaselineFactory = fn(properties: Properties) -> BaselineFuture;

/// One store type.
#[derive(Clone, Copy)]
pub struct Registration {
    /// Type name, e.g. `state.sqlite`.
    pub name: &'static str,
    /// Other names for the same type, e.g. `state.sqlite3`.
    pub aliases: &'static [&'static str],
    /// Supported versions; the first is the default.
    pub versions: &'static [&'static str],
    /// The most this type can offer (an instance may offer less, see
    /// [`Store::capabilities`]).
    pub features: Features,
    /// The properties it understands.
    pub properties: &'static [Property],
    /// One line about it.
    pub summary: &'static str,
    /// Makes an empty store.
    pub factory: Factory,
    /// Opens the raw-driver baseline `statestore bench` compares the store
    /// with; `None` when the type has none.
    pub baseline: Option<BaselineFactory>,
}

impl Registration {
    /// A type with version `v1`, no aliases, features or properties.
    pub const fn new(name: &'static str, factory: Factory) -> Self {
        Registration {
            name,
            aliases: &[],
            versions: &["v1"],
            features: Features::NONE,
            properties: &[],
            summary: "",
            factory,
            baseline: None,
        }
    }

    /// Sets the aliases.
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Sets the versions; the first is the default.
    pub const fn versions(mut self, versions: &'static [&'static str]) -> Self {
        self.versions = versions;
        self
    }

    /// Sets the declared features.
    pub const fn features(mut self, features: Features) -> Self {
        self.features = features;
        self
    }

    /// Sets the properties.
    pub const fn properties(mut self, properties: &'static [Property]) -> Self {
        self.properties = properties;
        self
    }

    /// Sets the one-line summary.
    pub const fn summary(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }

    /// Sets the raw-driver baseline.
    pub const fn baseline(mut self, baseline: BaselineFactory) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// The default version.
    pub fn default_version(&self) -> &'static str {
        self.versions.first().copied().unwrap_or("v1")
    }

    /// Whether `name` is this type's name or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.names().any(|n| n.eq_ignore_ascii_case(name))
    }

    fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name).chain(self.aliases.iter().copied())
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .field("versions", &self.versions)
            .field("features", &self.features)
            .field("baseline", &self.baseline.is_some())
            .finish_non_exhaustive()
    }
}

inventory::collect!(Registration);

/// Registers a store type at compile time, from any module of a linked crate:
///
/// ```
/// use statestore_core::{MemoryStore, Registration, Registry, register_store};
///
/// register_store!(Registration::new("state.doc-example", |_| Box::new(MemoryStore::new())));
///
/// let registry = Registry::from_inventory().unwrap();
/// assert!(registry.find("state.doc-example").is_some());
/// ```
#[macro_export]
macro_rules! register_store {
    ($registration:expr) => {
        $crate::inventory::submit! { $registration }
    };
}

/// A set of store types to create stores from.
#[derive(Clone, Default, Debug)]
pub struct Registry {
    entries: Vec<Registration>,
}

impl Registry {
    /// A registry without any type.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// Every type registered at compile time by a linked crate. Two
    /// registrations answering to one name are an error.
    pub fn from_inventory() -> Result<Self> {
        let mut r = Registry::empty();
        for reg in inventory::iter::<Registration> {
            r.register(*reg)?;
        }
        Ok(r)
    }

    /// Adds a type. A name or alias that is already taken is an error.
    pub fn register(&mut self, reg: Registration) -> Result<()> {
        if let Some(clash) = reg.names().find_map(|n| {
            self.entries
                .iter()
                .find(|e| e.answers_to(n))
                .map(|e| (n, e.name))
        }) {
            return Err(Error::config(format!(
                "cannot register {}: the name {:?} is already taken by {}",
                reg.name, clash.0, clash.1
            )));
        }
        if reg.versions.is_empty() {
            return Err(Error::config(format!(
                "cannot register {}: it names no version",
                reg.name
            )));
        }
        let at = self.entries.partition_point(|e| e.name < reg.name);
        self.entries.insert(at, reg);
        Ok(())
    }

    /// Every type, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.entries.iter()
    }

    /// The type answering to `name` (a name or alias, any case).
    pub fn find(&self, name: &str) -> Option<&Registration> {
        self.entries.iter().find(|e| e.answers_to(name))
    }

    fn listing(&self) -> String {
        if self.entries.is_empty() {
            return "none".into();
        }
        let names: Vec<String> = self
            .entries
            .iter()
            .map(|e| match e.aliases {
                [] => e.name.to_owned(),
                a => format!("{} (alias {})", e.name, a.join(", ")),
            })
            .collect();
        names.join(", ")
    }

    /// Finds the type and version; no version (or an empty one) means the
    /// default. Unknown types and versions are `Config` errors that list
    /// what exists.
    pub fn resolve(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(&Registration, &'static str)> {
        let reg = self.find(name).ok_or_else(|| {
            Error::config(format!(
                "unknown store type {name:?}; registered types: {}",
                self.listing()
            ))
        })?;
        let version = match version.map(str::trim).filter(|v| !v.is_empty()) {
            None => reg.default_version(),
            Some(v) => reg
                .versions
                .iter()
                .copied()
                .find(|known| known.eq_ignore_ascii_case(v))
                .ok_or_else(|| {
                    Error::config(format!(
                        "{} has no version {v:?}; versions: {}",
                        reg.name,
                        reg.versions.join(", ")
                    ))
                })?,
        };
        Ok((reg, version))
    }

    /// An empty, uninitialised store of a type.
    pub fn create(&self, name: &str, version: Option<&str>) -> Result<Box<dyn Store>> {
        let (reg, version) = self.resolve(name, version)?;
        Ok((reg.factory)(version))
    }

    /// The properties the type does not know (reported, never fatal).
    pub fn unknown_properties(&self, name: &str, properties: &Properties) -> Result<Vec<String>> {
        let (reg, _) = self.resolve(name, None)?;
        Ok(properties.unknown(reg.properties))
    }

    /// Creates and initialises a store, warning (through `tracing`) about
    /// properties the type does not know.
    pub async fn open(
        &self,
        name: &str,
        version: Option<&str>,
        properties: &Properties,
    ) -> Result<Arc<dyn Store>> {
        let (reg, _) = self.resolve(name, version)?;
        for unknown in properties.unknown(reg.properties) {
            tracing::warn!(store = reg.name, property = %unknown, "unknown property is ignored");
        }
        let mut store = self.create(name, version)?;
        store
            .init(properties)
            .await
            .map_err(|e| e.context(reg.name, Operation::Init))?;
        Ok(Arc::from(store))
    }
}
