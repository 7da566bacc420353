//! Dapr component manifests (docs/components.md): the YAML a Dapr user already has.
//!
//! ```yaml
//! apiVersion: dapr.io/v1alpha1
//! kind: Component
//! metadata:
//!   name: statestore
//! spec:
//!   type: state.sqlite
//!   version: v1
//!   metadata:
//!     - name: connectionString
//!       value: "data.db"
//! ```
//!
//! A file may hold several documents separated by `---`, and
//! [`Manifest::load`] also reads a folder (every `.yaml` / `.yml` file in
//! it, in name order). Documents of another kind or `apiVersion`, and
//! components of other building blocks, are skipped with a note, unchecked;
//! secret stores (`secretstores.*`) are kept for the runtime, which resolves
//! `secretKeyRef` values through the one a state component names in
//! `auth.secretStore`.
//!
//! Values are strings. Unquoted numbers and booleans are spelled as YAML
//! read them: `true`, `20`, `1.0`; numbers with leading zeros stay as
//! written; integers too large for 64 bits become floats. Quote a value
//! whose exact spelling matters (passwords, ids). Every error names the source, the
//! component and the field. Values of properties that look secret never
//! appear in `Debug` output or errors.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use statestore_core::error::{Error, Result};
use statestore_core::properties::{Properties, looks_secret, parse_duration};

/// The `apiVersion` of Dapr components.
pub const API_VERSION: &str = "dapr.io/v1alpha1";

/// One `kind: Component` document.
/// `Debug` shows no secret: [`Entry`] hides values whose names look secret,
/// and a secret store's values are all hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct Component {
    /// Where it was read from (a path, or a name given by the caller).
    pub source: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if any.
    pub namespace: Option<String>,
    /// `spec.type`, e.g. `state.sqlite`.
    pub type_name: String,
    /// `spec.version`, e.g. `v1`; the type's default version when absent.
    pub version: Option<String>,
    /// `spec.metadata`, in file order.
    pub metadata: Vec<Entry>,
    /// `spec.initTimeout`, if any.
    pub init_timeout: Option<Duration>,
    /// `spec.ignoreErrors`.
    pub ignore_errors: bool,
    /// `auth.secretStore`: the secret store its `secretKeyRef`s come from.
    pub secret_store: Option<String>,
}

impl fmt::Debug for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A secret store's metadata is its credentials, whatever the names.
        let hide_all = self
            .type_name
            .to_ascii_lowercase()
            .starts_with("secretstores.");
        let metadata: Vec<String> = self
            .metadata
            .iter()
            .map(|e| match &e.value {
                EntryValue::Plain(_) if hide_all => format!("{}: <redacted>", e.name),
                _ => format!("{e:?}"),
            })
            .collect();
        f.debug_struct("Component")
            .field("source", &self.source)
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("type_name", &self.type_name)
            .field("version", &self.version)
            .field("metadata", &metadata)
            .field("init_timeout", &self.init_timeout)
            .field("ignore_errors", &self.ignore_errors)
            .field("secret_store", &self.secret_store)
            .finish()
    }
}

/// One `spec.metadata` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The property name.
    pub name: String,
    /// Its value.
    pub value: EntryValue,
}

/// Where a property's value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum EntryValue {
    /// Written in the manifest.
    Plain(String),
    /// `secretKeyRef: {name, key}`: resolved through a secret store.
    Secret {
        /// The secret's name.
        name: String,
        /// The key inside the secret (the secret's name when absent).
        key: String,
    },
}

/// What a file or folder held.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// Every `state.*` component, in file order.
    pub components: Vec<Component>,
    /// Every `secretstores.*` component, in file order.
    pub secret_stores: Vec<Component>,
    /// Notes about documents that were skipped (other kinds, other
    /// building blocks).
    pub skipped: Vec<String>,
}

impl Manifest {
    /// Reads a manifest file, or every `.yaml` / `.yml` file of a folder (not
    /// its subfolders) in name order; other files are skipped with a note.
    /// A component name used twice is an error naming both places.
    pub fn load(path: impl AsRef<Path>) -> Result<Manifest> {
        let path = path.as_ref();
        let cannot =
            |e: std::io::Error| Error::config(format!("{}: cannot read: {e}", path.display()));
        if !path.is_dir() {
            let text = read_small(path, MAX_MANIFEST_BYTES)?;
            let m = Manifest::parse(&text, &path.display().to_string())?;
            m.check_names()?;
            return Ok(m);
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(cannot)? {
            files.push(entry.map_err(cannot)?.path());
        }
        files.sort();
        let mut all = Manifest::default();
        for file in files {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // Hidden files (editor backups and locks) are not components.
            if name.starts_with('.') {
                continue;
            }
            let yaml = file
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml"));
            if !yaml || file.is_dir() {
                let what = if file.is_dir() {
                    "a folder (folders are not searched)"
                } else {
                    "not a .yaml or .yml file"
                };
                all.skipped
                    .push(format!("{}: {what}; skipped", file.display()));
                continue;
            }
            let text = read_small(&file, MAX_MANIFEST_BYTES)?;
            let m = Manifest::parse(&text, &file.display().to_string())?;
            all.components.extend(m.components);
            all.secret_stores.extend(m.secret_stores);
            all.skipped.extend(m.skipped);
        }
        all.check_names()?;
        Ok(all)
    }

    /// Component names are unique (Dapr refuses a second one too).
    fn check_names(&self) -> Result<()> {
        let all: Vec<&Component> = self.components.iter().chain(&self.secret_stores).collect();
        for (i, c) in all.iter().enumerate() {
            if let Some(first) = all[..i].iter().find(|x| x.name == c.name) {
                return Err(Error::config(format!(
                    "component {:?} is declared twice: in {} ({}) and in {} ({})",
                    c.name, first.source, first.type_name, c.source, c.type_name
                )));
            }
        }
        Ok(())
    }

    /// Parses manifest text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Manifest> {
        // YAML 1.2 booleans (`n`, `no` and `off` stay strings), and numbers
        // with leading zeros kept as written (a password `0123` stays
        // `0123`; Dapr's Go parser would read it as octal 83, so quote
        // such values for both).
        let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, yaml_options())
            .map_err(|e| yaml_error(&e, &format!("{source}: not valid YAML")))?;
        let mut manifest = Manifest::default();
        for (i, doc) in docs.into_iter().enumerate() {
            let at = Place {
                source,
                doc: i + 1,
                component: None,
            };
            if doc.is_null() {
                continue;
            }
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let api = doc.get("apiVersion").and_then(Value::as_str);
            if kind != "Component" || api.is_some_and(|a| a != API_VERSION) {
                manifest.skipped.push(format!(
                    "{source}: document {}: {} {kind:?} is not a {API_VERSION} Component; skipped",
                    i + 1,
                    api.unwrap_or("(no apiVersion)"),
                ));
                continue;
            }
            // Another building block's component is skipped before it is
            // checked: its mistakes are not this program's to report.
            let type_name = doc
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("");
            let secret_store = type_name.starts_with("secretstores.");
            if !type_name.starts_with("state.") && !secret_store && !type_name.trim().is_empty() {
                let name = doc
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                manifest.skipped.push(format!(
                    "{source}: component {name:?}: type {type_name:?} is not a state store; skipped"
                ));
                continue;
            }
            let c = component(&doc, at)?;
            if secret_store {
                manifest.secret_stores.push(c);
            } else {
                manifest.components.push(c);
            }
        }
        Ok(manifest)
    }

    /// The only state component, or an error saying how many there are.
    pub fn single(self, source: &str) -> Result<Component> {
        let n = self.components.len();
        let mut all = self.components.into_iter();
        match (all.next(), n) {
            (Some(c), 1) => Ok(c),
            (None, _) => Err(Error::config(format!(
                "{source}: no state store component (kind: Component, spec.type: state.*)"
            ))),
            (Some(_), n) => Err(Error::config(format!(
                "{source}: {n} state store components; expected exactly one"
            ))),
        }
    }
}

impl Component {
    /// The init properties, for components whose values are all written
    /// in the manifest. A `secretKeyRef` is an error naming the entry.
    pub fn properties(&self) -> Result<Properties> {
        self.properties_with(|entry, _, _| {
            Err(self.error(
                &entry.name,
                "a secretKeyRef needs a secret store: load the manifest with the runtime (statestore::runtime), which resolves it through auth.secretStore",
            ))
        })
    }

    /// The init properties, resolving each `secretKeyRef` with `secret`
    /// (given the entry, the secret's name and key).
    pub fn properties_with(
        &self,
        mut secret: impl FnMut(&Entry, &str, &str) -> Result<String>,
    ) -> Result<Properties> {
        let mut props = Properties::new();
        for entry in &self.metadata {
            match &entry.value {
                EntryValue::Plain(v) => props.insert(entry.name.clone(), v.clone()),
                EntryValue::Secret { name, key } => {
                    props.insert_secret(entry.name.clone(), secret(entry, name, key)?)
                }
            }
        }
        Ok(props)
    }

    /// An error about `field` of this component.
    pub fn error(&self, field: &str, message: impl fmt::Display) -> Error {
        let at = Place {
            source: &self.source,
            doc: 0,
            component: Some(&self.name),
        };
        at.error(field, message)
    }
}

/// Where in the input a field is, for messages.
#[derive(Clone, Copy)]
struct Place<'a> {
    source: &'a str,
    doc: usize,
    component: Option<&'a str>,
}

impl Place<'_> {
    fn error(&self, field: &str, message: impl fmt::Display) -> Error {
        match self.component {
            Some(c) => Error::config(format!(
                "{}: component {c:?}: {field}: {message}",
                self.source
            )),
            None => Error::config(format!(
                "{}: document {}: {field}: {message}",
                self.source, self.doc
            )),
        }
    }
}

/// How manifests and secrets files are read: YAML 1.2 booleans, leading
/// zeros kept, and no snippet of the input in errors (it may hold a secret).
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.with_snippet = false;
    options
}

/// A YAML error saying only where it is: `{what} at line L, column C`.
pub(crate) fn yaml_error(e: &serde_saphyr::Error, what: &str) -> Error {
    Error::config(match e.location() {
        Some(l) => format!("{what} at line {}, column {}", l.line(), l.column()),
        None => what.to_owned(),
    })
}

/// The largest manifest file read, 16 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// Reads a regular file of at most `max` bytes as UTF-8 (a FIFO or a
/// device would block or never end). Errors name the path.
pub fn read_small(path: &Path, max: u64) -> Result<String> {
    use std::io::Read as _;
    let cannot = |why: String| Error::config(format!("{}: cannot read: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| cannot(e.to_string()))?;
    if !meta.is_file() {
        return Err(cannot("not a regular file".into()));
    }
    if meta.len() > max {
        return Err(cannot(format!(
            "{} bytes, more than the {max} read",
            meta.len()
        )));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_string(&mut text))
        .map_err(|e| cannot(e.to_string()))?;
    Ok(text)
}

/// What kind of YAML value `v` is, for messages that must not quote it.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A scalar as Dapr reads it: strings as they are, numbers and booleans
/// spelled out.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The scalar under `key` of `v`, if any; errors name it `field`.
fn text(v: &Value, key: &str, field: &str, at: Place<'_>) -> Result<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => scalar(x)
            .map(Some)
            .ok_or_else(|| at.error(field, "expected a string")),
    }
}

fn component(doc: &Value, at: Place<'_>) -> Result<Component> {
    let meta = doc.get("metadata").unwrap_or(&Value::Null);
    let name = text(meta, "name", "metadata.name", at)?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| at.error("metadata.name", "missing"))?;
    let at = Place {
        component: Some(&name),
        ..at
    };
    let spec = match doc.get("spec") {
        Some(s) if s.is_object() => s,
        _ => return Err(at.error("spec", "missing")),
    };
    let type_name = text(spec, "type", "spec.type", at)?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| at.error("spec.type", "missing"))?;
    let init_timeout = match text(spec, "initTimeout", "spec.initTimeout", at)? {
        None => None,
        Some(t) => match parse_duration(&t) {
            Ok((false, d)) => Some(d),
            Ok((true, _)) => return Err(at.error("spec.initTimeout", "must not be negative")),
            Err(e) => return Err(at.error("spec.initTimeout", e)),
        },
    };
    let ignore_errors = match spec.get("ignoreErrors") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(other) => {
            return Err(at.error(
                "spec.ignoreErrors",
                format!("expected true or false, got {}", kind_of(other)),
            ));
        }
    };
    let metadata = match spec.get("metadata") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let e = entry(item, &format!("spec.metadata[{i}]"), at)?;
                if let Some(j) = entries
                    .iter()
                    .position(|x| x.name.eq_ignore_ascii_case(&e.name))
                {
                    return Err(at.error(
                        &format!("spec.metadata[{i}] ({})", e.name),
                        format!(
                            "repeats spec.metadata[{j}] ({}); names are case-insensitive",
                            entries[j].name
                        ),
                    ));
                }
                entries.push(e);
            }
            entries
        }
        Some(_) => return Err(at.error("spec.metadata", "expected a list of {name, value}")),
    };
    let namespace = text(meta, "namespace", "metadata.namespace", at)?;
    let version = text(spec, "version", "spec.version", at)?.filter(|v| !v.is_empty());
    let secret_store = match doc.get("auth") {
        None | Some(Value::Null) => None,
        Some(auth @ Value::Object(_)) => {
            text(auth, "secretStore", "auth.secretStore", at)?.filter(|s| !s.trim().is_empty())
        }
        Some(other) => {
            return Err(at.error(
                "auth",
                format!(
                    "expected a mapping with secretStore, got {}",
                    kind_of(other)
                ),
            ));
        }
    };
    let source = at.source.to_string();
    Ok(Component {
        source,
        namespace,
        version,
        name,
        type_name,
        metadata,
        init_timeout,
        ignore_errors,
        secret_store,
    })
}

fn entry(item: &Value, field: &str, at: Place<'_>) -> Result<Entry> {
    let name = match item.get("name").and_then(scalar) {
        Some(n) if !n.trim().is_empty() => n,
        _ => return Err(at.error(&format!("{field}.name"), "missing")),
    };
    let field = format!("{field} ({name})");
    // An empty `value:` beside a secretKeyRef is no value, as for Dapr.
    let plain = item
        .get("value")
        .filter(|v| !v.is_null() || item.get("secretKeyRef").is_none());
    let value = match (plain, item.get("secretKeyRef")) {
        (Some(_), Some(_)) => {
            return Err(at.error(&field, "has both value and secretKeyRef"));
        }
        (Some(v), None) => EntryValue::Plain(match v {
            Value::Null => String::new(),
            v => scalar(v).ok_or_else(|| {
                at.error(
                    &format!("{field}.value"),
                    "expected a string, number or boolean",
                )
            })?,
        }),
        (None, Some(r)) => {
            let ref_name = format!("{field}.secretKeyRef.name");
            let secret = text(r, "name", &ref_name, at)?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| at.error(&ref_name, "missing"))?;
            let key = text(r, "key", &format!("{field}.secretKeyRef.key"), at)?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| secret.clone());
            EntryValue::Secret { name: secret, key }
        }
        (None, None) => return Err(at.error(&field, "has neither value nor secretKeyRef")),
    };
    Ok(Entry { name, value })
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            EntryValue::Plain(_) if looks_secret(&self.name) => {
                write!(f, "{}: <redacted>", self.name)
            }
            EntryValue::Plain(v) => write!(f, "{}: {v:?}", self.name),
            EntryValue::Secret { name, key } => {
                write!(f, "{}: secretKeyRef {name}/{key}", self.name)
            }
        }
    }
}

impl fmt::Debug for EntryValue {
    /// Plain values are hidden: only [`Entry`] knows whether its name
    /// looks secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryValue::Plain(_) => write!(f, "Plain(..)"),
            EntryValue::Secret { name, key } => write!(f, "Secret({name}/{key})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQLITE: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
  namespace: prod
spec:
  type: state.sqlite
  version: v1
  initTimeout: 30s
  ignoreErrors: true
  metadata:
    - name: connectionString
      value: "data.db"
    - name: timeoutInSeconds
      value: 20
    - name: disableWAL
      value: false
    - name: password
      value: hunter2
    - name: tableName
      value: no
    - name: dbId
      value: 0123
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.redis
  version: v1
---
kind: Configuration
metadata:
  name: tracing
"#;

    #[test]
    fn reads_a_dapr_manifest() {
        let m = Manifest::parse(SQLITE, "c.yaml").unwrap();
        assert_eq!(m.skipped.len(), 2, "{:?}", m.skipped);
        let c = m.single("c.yaml").unwrap();
        assert_eq!(c.name, "statestore");
        assert_eq!(c.namespace.as_deref(), Some("prod"));
        assert_eq!(c.type_name, "state.sqlite");
        assert_eq!(c.version.as_deref(), Some("v1"));
        assert_eq!(c.init_timeout, Some(Duration::from_secs(30)));
        assert!(c.ignore_errors);
        let p = c.properties().unwrap();
        assert_eq!(p.get("connectionstring"), Some("data.db"));
        assert_eq!(p.get("timeoutInSeconds"), Some("20"));
        assert_eq!(p.get("disableWAL"), Some("false"));
        assert_eq!(p.get("tableName"), Some("no"));
        assert_eq!(p.get("dbId"), Some("0123"));
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn errors_name_source_component_and_field() {
        let cases: &[(&str, &str)] = &[
            (
                "kind: Component\nspec: {type: state.x}",
                "document 1: metadata.name: missing",
            ),
            (
                "kind: Component\nmetadata: {name: a}",
                "component \"a\": spec: missing",
            ),
            (
                "kind: Component\nmetadata: {name: a}\nspec: {version: v1}",
                "spec.type: missing",
            ),
            (
                "kind: Component\nmetadata: {name: a}\nspec: {type: state.x, metadata: [{value: 1}]}",
                "spec.metadata[0].name: missing",
            ),
            (
                "kind: Component\nmetadata: {name: a}\nspec: {type: state.x, metadata: [{name: n}]}",
                "spec.metadata[0] (n): has neither value nor secretKeyRef",
            ),
            (
                "kind: Component\nmetadata: {name: a}\nspec: {type: state.x, metadata: [{name: n, value: [1]}]}",
                "spec.metadata[0] (n).value: expected a string",
            ),
            (
                "kind: Component\nmetadata: {name: a}\nspec: {type: state.x, initTimeout: soon}",
                "spec.initTimeout:",
            ),
            (
                "kind: Component\nmetadata: {name: a}\nspec: {type: state.x, ignoreErrors: 3}",
                "spec.ignoreErrors: expected true or false",
            ),
            ("kind: [unclosed", "f.yaml: not valid YAML at line"),
            (
                "kind: Component\nmetadata: {name: a}\nspec: {type: state.x, metadata: [{name: n, value: 1}, {name: N, value: 2}]}",
                "spec.metadata[1] (N): repeats spec.metadata[0] (n)",
            ),
            (
                "kind: Component\nmetadata: {name: a}\nspec: {type: state.x, metadata: [{name: p, secretKeyRef: {name: [1]}}]}",
                "spec.metadata[0] (p).secretKeyRef.name: expected a string",
            ),
        ];
        for (text, want) in cases {
            let e = Manifest::parse(text, "f.yaml").unwrap_err();
            let s = e.to_string();
            assert!(s.contains("f.yaml") && s.contains(want), "{text:?}: {s}");
        }
    }

    #[test]
    fn yaml_errors_never_quote_the_input() {
        let text = "kind: Component\nmetadata: {name: a}\nspec:\n  type: state.x\n  metadata:\n  - name: password\n    value: \"S3cr3tP@ss\"\n  - name: x\n    value: [unclosed\n";
        let e = Manifest::parse(text, "f.yaml").unwrap_err().to_string();
        assert!(!e.contains("S3cr3t"), "{e}");
        let text = "kind: Component\nspec:\n  metadata:\n  - name: password\n    value: S3cr3tP@ss: oops\n";
        let e = Manifest::parse(text, "f.yaml").unwrap_err().to_string();
        assert!(!e.contains("S3cr3t") && e.contains("line 5"), "{e}");
    }

    #[test]
    fn other_building_blocks_and_api_versions_are_skipped_unchecked() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: bus}\nspec: {type: pubsub.redis, metadata: [{name: broken}]}\n---\napiVersion: example.com/v9\nkind: Component\nmetadata: {name: other}\nspec: {type: state.sqlite}\n";
        let m = Manifest::parse(text, "f.yaml").unwrap();
        assert!(m.components.is_empty());
        assert_eq!(m.skipped.len(), 2, "{:?}", m.skipped);
        assert!(m.skipped[1].contains("example.com/v9"), "{:?}", m.skipped);
    }

    #[test]
    fn secret_references_are_named_not_resolved() {
        let text = "kind: Component\nmetadata: {name: a}\nspec:\n  type: state.x\n  metadata:\n  - name: redisPassword\n    value:\n    secretKeyRef: {name: redis, key: password}\n";
        let c = Manifest::parse(text, "s.yaml")
            .unwrap()
            .single("s.yaml")
            .unwrap();
        assert_eq!(
            c.metadata[0].value,
            EntryValue::Secret {
                name: "redis".into(),
                key: "password".into()
            }
        );
        let e = c.properties().unwrap_err().to_string();
        assert!(e.contains("s.yaml") && e.contains("redisPassword"), "{e}");
        let p = c.properties_with(|_, n, k| Ok(format!("{n}/{k}"))).unwrap();
        assert_eq!(p.get("redisPassword"), Some("redis/password"));
    }

    #[test]
    fn no_or_several_state_components() {
        let e = Manifest::parse("kind: Configuration", "x")
            .unwrap()
            .single("x");
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("no state store component")
        );
        let two = format!(
            "{}\n---\n{}",
            &SQLITE[..SQLITE.find("---").unwrap()],
            &SQLITE[..SQLITE.find("---").unwrap()]
        );
        let e = Manifest::parse(&two, "x").unwrap().single("x");
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("2 state store components")
        );
    }
}
