//! Typed configuration of `state.pluggable`: the socket, the instance name,
//! and every other property, passed on to the component's Init.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use statestore_core::{Properties, Property, Result};
use tonic::metadata::{Ascii, MetadataValue};

use crate::NAME;

/// `socket` (required).
pub const SOCKET: Property = Property::new(
    "socket",
    "Path of the component's Unix socket, e.g. /tmp/dapr-components-sockets/my-store.sock.",
)
.required();
/// `instance`.
pub const INSTANCE: Property = Property::new(
    "instance",
    "Component instance name sent as x-component-instance, as daprd sends the component's name; when left out, each store sends a name of its own.",
);
/// Every other property.
pub const FORWARDED: Property = Property::new(
    Property::FORWARDED,
    "Every other property is passed to the component's Init, as daprd passes a manifest's metadata.",
);

/// The properties `state.pluggable` reads.
pub const PROPERTIES: &[Property] = &[SOCKET, INSTANCE, FORWARDED];

/// The configuration of one store.
pub struct Config {
    /// The component's socket.
    pub socket: PathBuf,
    /// The name sent as `x-component-instance`.
    pub instance: MetadataValue<Ascii>,
    /// What Init gets: every property but `socket` and `instance`.
    pub init: Properties,
}

/// Numbers the instance names of stores given none.
static NEXT: AtomicU64 = AtomicU64::new(0);

impl Config {
    /// Reads the properties.
    pub fn from_properties(p: &Properties) -> Result<Config> {
        let r = p.reader(NAME);
        let socket = PathBuf::from(r.require(&SOCKET)?);
        let instance = match r.string(&INSTANCE)? {
            Some(name) => name,
            None => format!(
                "statestore-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        };
        let instance = MetadataValue::try_from(instance.as_str()).map_err(|_| {
            r.error(
                &INSTANCE,
                "must be visible ASCII (it travels as gRPC metadata)",
            )
        })?;
        let mut init = Properties::new();
        for (name, value) in p.iter() {
            if SOCKET.matches(name) || INSTANCE.matches(name) {
                continue;
            }
            if p.is_secret(name) {
                init.insert_secret(name, value);
            } else {
                init.insert(name, value);
            }
        }
        Ok(Config {
            socket,
            instance,
            init,
        })
    }
}

impl fmt::Debug for Config {
    /// Init's values may be secrets: only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.init.iter().map(|(n, _)| n).collect();
        f.debug_struct("Config")
            .field("socket", &self.socket)
            .field("instance", &self.instance)
            .field("init", &names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_forwards() {
        let p = Properties::new()
            .with("Socket", "/tmp/x.sock")
            .with("redisHost", "localhost:6379")
            .with("redisPassword", "hunter2");
        let c = Config::from_properties(&p).unwrap();
        assert_eq!(c.socket, PathBuf::from("/tmp/x.sock"));
        assert!(c.instance.to_str().unwrap().starts_with("statestore-"));
        let names: Vec<&str> = c.init.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["redisHost", "redisPassword"]);
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("redisPassword"),
            "{shown}"
        );
        let other = Config::from_properties(&p).unwrap();
        assert_ne!(other.instance, c.instance);
    }

    #[test]
    fn bad_input_names_the_property() {
        let e = Config::from_properties(&Properties::new()).unwrap_err();
        assert!(e.to_string().contains("socket"), "{e}");
        let p = Properties::new()
            .with("socket", "/tmp/x.sock")
            .with("instance", "bad\nname");
        let e = Config::from_properties(&p).unwrap_err();
        assert!(e.to_string().contains("instance"), "{e}");
        assert!(p.unknown(PROPERTIES).is_empty());
    }
}
