//! Secret stores: where `secretKeyRef` values of component manifests come
//! from (docs/components.md, *Secrets*). A state component names its secret
//! store in `auth.secretStore`; the runtime asks that store for
//! the secret's `name` and `key`.
//!
//! Two stores are built in, declared as components like Dapr's local ones:
//!
//! * `secretstores.local.env` ([`EnvSecretStore`]): the environment
//!   variable named by the secret (after an optional `prefix`);
//! * `secretstores.local.file` ([`FileSecretStore`]): a JSON or YAML file
//!   (`secretsFile`), nested names joined by `nestedSeparator` (`:`), or, with
//!   `multiValued: true`, one secret per top-level name with several keys.
//!
//! Implement [`SecretStore`] for anything else and hand it to
//! `RuntimeBuilder::secret_store`. Secret values never go
//! into errors, logs or `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use serde_json::Value;

use statestore_core::error::{Error, Result};
use statestore_core::properties::{Properties, Property};

/// Type name of the environment-variable secret store.
pub const ENV: &str = "secretstores.local.env";
/// Type name of the file secret store.
pub const FILE: &str = "secretstores.local.file";

/// A source of secrets.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The value of `key` in the secret `name`; `Ok(None)` when there is no
    /// such secret or key.
    async fn get(&self, name: &str, key: &str) -> Result<Option<String>>;
}

/// Properties of [`EnvSecretStore`].
pub const ENV_PROPERTIES: &[Property] = &[Property::new(
    "prefix",
    "Only variables starting with this text are secrets; a secret's name is the variable's name without it.",
)];

/// Secrets from environment variables: secret `name` is variable
/// `<prefix>name`, and its only key is its name (a `secretKeyRef` without
/// `key` asks for it).
#[derive(Debug, Clone, Default)]
pub struct EnvSecretStore {
    prefix: String,
}

impl EnvSecretStore {
    /// Every variable is a secret.
    pub fn new() -> Self {
        EnvSecretStore::default()
    }

    /// From a component's properties (`prefix`).
    pub fn from_properties(p: &Properties) -> Result<Self> {
        let prefix = p
            .reader(ENV)
            .string(&ENV_PROPERTIES[0])?
            .unwrap_or_default();
        Ok(EnvSecretStore { prefix })
    }
}

#[async_trait]
impl SecretStore for EnvSecretStore {
    async fn get(&self, name: &str, key: &str) -> Result<Option<String>> {
        if key != name {
            return Err(Error::config(format!(
                "{ENV} holds one value per secret: secretKeyRef.key must be the secret's name ({name:?}) or be left out, not {key:?}"
            )));
        }
        Ok(std::env::var(format!("{}{name}", self.prefix)).ok())
    }
}

/// The largest secrets file read, 1 MiB.
pub const MAX_SECRETS_BYTES: u64 = 1 << 20;

/// Properties of [`FileSecretStore`].
pub const FILE_PROPERTIES: &[Property] = &[
    Property::new(
        "secretsFile",
        "The JSON or YAML file of secrets; a relative path is resolved from the current directory, as Dapr does.",
    )
    .required(),
    Property::new(
        "nestedSeparator",
        "Joins the names of nested entries into one secret name (`redis:password`).",
    )
    .with_default(":"),
    Property::new(
        "multiValued",
        "Each top-level entry is one secret whose nested entries are its keys.",
    )
    .with_default("false"),
];

/// Secrets from a JSON or YAML file, read once when the store is made.
///
/// ```json
/// {"redis": {"password": "s3cret"}, "pg": "host=... password=..."}
/// ```
///
/// By default nested names are joined (`redis:password`, `pg`) and each
/// secret's only key is its name. With `multiValued: true`, `redis` is a
/// secret with the key `password`, and `pg` a secret with the key `pg`.
#[derive(Clone)]
pub struct FileSecretStore {
    path: PathBuf,
    secrets: BTreeMap<String, BTreeMap<String, String>>,
}

impl fmt::Debug for FileSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSecretStore")
            .field("path", &self.path)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl FileSecretStore {
    /// From a component's properties (`secretsFile`, `nestedSeparator`,
    /// `multiValued`).
    pub fn from_properties(p: &Properties) -> Result<Self> {
        let r = p.reader(FILE);
        let path = PathBuf::from(r.require(&FILE_PROPERTIES[0])?);
        let separator = r.string(&FILE_PROPERTIES[1])?.unwrap_or_default();
        let multi = r.bool(&FILE_PROPERTIES[2])?;
        let shown = match std::env::current_dir() {
            Ok(cwd) if path.is_relative() => {
                format!("{} (from {})", path.display(), cwd.display())
            }
            _ => path.display().to_string(),
        };
        let text = crate::manifest::read_small(&path, MAX_SECRETS_BYTES).map_err(|e| {
            let why = e.message().rsplit("cannot read: ").next().unwrap_or("");
            Error::config(format!("property secretsFile: cannot read {shown}: {why}"))
        })?;
        // JSON is YAML; the YAML reader says only where an error is, never
        // what the text there was.
        let doc: Value = if path.extension().is_some_and(|x| x == "json") {
            serde_json::from_str(&text).map_err(|e| {
                Error::config(format!(
                    "property secretsFile: {shown} is not valid JSON at line {}, column {}",
                    e.line(),
                    e.column()
                ))
            })?
        } else {
            serde_saphyr::from_str_with_options(&text, crate::manifest::yaml_options()).map_err(
                |e| {
                    crate::manifest::yaml_error(
                        &e,
                        &format!("property secretsFile: {shown} is not valid YAML"),
                    )
                },
            )?
        };
        let Value::Object(top) = doc else {
            return Err(Error::config(format!(
                "property secretsFile: {shown} must hold a mapping of secret names"
            )));
        };
        let mut secrets = BTreeMap::new();
        for (name, value) in top {
            if multi && value.is_object() {
                let mut keys = BTreeMap::new();
                flatten(&name, &value, &separator, &mut keys, false);
                secrets.insert(name, keys);
            } else {
                let mut flat = BTreeMap::new();
                flatten(&name, &value, &separator, &mut flat, true);
                for (n, v) in flat {
                    secrets.insert(n.clone(), BTreeMap::from([(n, v)]));
                }
            }
        }
        Ok(FileSecretStore { path, secrets })
    }
}

/// Leaves of `v` as `name<sep>child...` (with `keep_root`) or `child...`.
fn flatten(name: &str, v: &Value, sep: &str, out: &mut BTreeMap<String, String>, keep_root: bool) {
    let join = |child: &str| {
        if keep_root {
            format!("{name}{sep}{child}")
        } else {
            child.to_owned()
        }
    };
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                flatten(&join(k), child, sep, out, true);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), child, sep, out, true);
            }
        }
        Value::String(s) => {
            out.insert(name.to_owned(), s.clone());
        }
        Value::Null => {
            out.insert(name.to_owned(), String::new());
        }
        other => {
            out.insert(name.to_owned(), other.to_string());
        }
    }
}

#[async_trait]
impl SecretStore for FileSecretStore {
    async fn get(&self, name: &str, key: &str) -> Result<Option<String>> {
        Ok(self.secrets.get(name).and_then(|s| s.get(key)).cloned())
    }
}

/// `text` with every secret in it replaced by `***`: every occurrence of
/// each value, and every quoted piece (as `{:?}` prints) of three or more
/// characters that is part of one. For messages built by code that does
/// not know which values are secret (a store's init error, a command's
/// last line).
pub fn redact(text: &str, secrets: &[&str]) -> String {
    // Quoted pieces first, then whole values found on the same text:
    // masking a short secret first would hide a longer one containing it.
    mask(&scrub_quoted(text, secrets), secrets)
}

/// `e` with every secret masked as [`redact`] masks text, in its message,
/// its source's text and its key; its kind, store, operation and
/// retryability stay. An error that shows no secret comes back as it was,
/// its source included; one that does has its source folded into the
/// message, the only form in which it can be masked.
pub fn redact_error(e: Error, secrets: &[&str]) -> Error {
    let key = e.key().map(|k| {
        // A key is printed quoted, like the pieces `redact` looks for.
        if k.chars().count() >= 3 && secrets.iter().any(|s| s.contains(k)) {
            "***".to_owned()
        } else {
            mask(k, secrets)
        }
    });
    let text = format!("{e:#}");
    if redact(&text, secrets) == text && key.as_deref() == e.key() {
        return e;
    }
    let e = e.fold_source().map_message(|m| redact(&m, secrets));
    match key {
        Some(k) => e.with_key(k),
        None => e,
    }
}

/// `text` with every quoted piece (`"..."`, as `{:?}` prints) that is part
/// of a secret value replaced by `***`: stores quote the part of a value
/// they refuse (`mode="..."`, `_pragma="key(..."`), which replacing whole
/// values misses. Pieces shorter than 3 characters are kept.
fn scrub_quoted(text: &str, secrets: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' {
            continue;
        }
        // A quoted piece: as printed (escapes kept) and as meant.
        let (mut printed, mut meant, mut closed) = (String::new(), String::new(), false);
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    closed = true;
                    break;
                }
                '\\' => {
                    printed.push(c);
                    if let Some(n) = chars.next() {
                        printed.push(n);
                        meant.push(match n {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '0' => '\0',
                            // `\u{ad}`, as `{:?}` prints characters it escapes.
                            'u' => {
                                let mut code = String::new();
                                for c in chars.by_ref() {
                                    printed.push(c);
                                    if c == '}' {
                                        break;
                                    }
                                    code.push(c);
                                }
                                u32::from_str_radix(code.trim_start_matches('{'), 16)
                                    .ok()
                                    .and_then(char::from_u32)
                                    .unwrap_or('\u{fffd}')
                            }
                            other => other,
                        });
                    }
                }
                c => {
                    printed.push(c);
                    meant.push(c);
                }
            }
        }
        let secret = meant.chars().count() >= 3 && secrets.iter().any(|s| s.contains(&meant));
        out.push_str(if secret { "***" } else { &printed });
        if closed {
            out.push('"');
        }
    }
    out
}

/// `text` with every occurrence of every secret replaced by `***`; the
/// occurrences are found first and overlapping ones merged.
fn mask(text: &str, secrets: &[&str]) -> String {
    let mut ranges: Vec<(usize, usize)> = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| text.match_indices(s).map(|(i, m)| (i, i + m.len())))
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in merged {
        out.push_str(&text[at..start]);
        out.push_str("***");
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_pieces_of_secrets_are_scrubbed() {
        let secrets = ["file:db?_pragma=key(S3cr3t", "a\"b\"c"];
        let text = r#"at "s": _pragma="key(S3cr3t": expected name(value); "db" "a\"b" "S3cr"#;
        assert_eq!(
            scrub_quoted(text, &secrets),
            r#"at "s": _pragma="***": expected name(value); "db" "***" "***"#
        );
    }

    #[test]
    fn quoted_pieces_are_masked_as_meant() {
        let secret = "password=hunter2 pw\u{ad}xyz \"q\" tab\there";
        for piece in ["pw\u{ad}xyz", "\"q\"", "tab\there"] {
            let text = format!("refused {piece:?} here");
            assert_eq!(redact(&text, &[secret]), "refused \"***\" here", "{text}");
        }
        assert_eq!(redact("kept \"nope\"", &[secret]), "kept \"nope\"");
    }

    #[test]
    fn masking_finds_every_secret_before_replacing() {
        let text = "host=db user=admin password=Hunter2Secret; admin";
        let out = mask(text, &["admin", "password=Hunter2Secret", "Hunter2"]);
        assert_eq!(out, "host=db user=*** ***; ***");
        assert_eq!(mask("abcabc", &["bca", "ab"]), "***c");
        assert_eq!(mask("plain", &[]), "plain");
    }

    fn file(name: &str, text: &str) -> (tempdir::Dir, Properties) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join(name);
        std::fs::write(&path, text).unwrap();
        let p = Properties::new().with("secretsFile", path.display().to_string());
        (dir, p)
    }

    /// A folder removed on drop (core has no tempfile dependency).
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!(
                    "statestore-secrets-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[tokio::test]
    async fn file_store_flattens_or_keeps_keys() {
        let text = r#"{"redis": {"password": "s3", "tls": {"ca": "x"}}, "pg": "conn", "n": 7, "l": ["a"]}"#;
        let (_d, p) = file("s.json", text);
        let s = FileSecretStore::from_properties(&p).unwrap();
        assert_eq!(
            s.get("redis:password", "redis:password")
                .await
                .unwrap()
                .as_deref(),
            Some("s3")
        );
        assert_eq!(
            s.get("redis:tls:ca", "redis:tls:ca")
                .await
                .unwrap()
                .as_deref(),
            Some("x")
        );
        assert_eq!(s.get("pg", "pg").await.unwrap().as_deref(), Some("conn"));
        assert_eq!(s.get("n", "n").await.unwrap().as_deref(), Some("7"));
        assert_eq!(s.get("l:0", "l:0").await.unwrap().as_deref(), Some("a"));
        assert_eq!(s.get("redis", "password").await.unwrap(), None);
        assert!(!format!("{s:?}").contains("s3"));

        let (_d, p) = file(
            "s.yaml",
            "redis:\n  password: s3\n  tls: {ca: x}\npg: conn\n",
        );
        let p = p.with("multiValued", "true").with("nestedSeparator", ".");
        let s = FileSecretStore::from_properties(&p).unwrap();
        assert_eq!(
            s.get("redis", "password").await.unwrap().as_deref(),
            Some("s3")
        );
        assert_eq!(
            s.get("redis", "tls.ca").await.unwrap().as_deref(),
            Some("x")
        );
        assert_eq!(s.get("pg", "pg").await.unwrap().as_deref(), Some("conn"));
    }

    #[test]
    fn file_errors_say_where_not_what() {
        let (_d, p) = file("s.json", "{\"password\": \"hunter2\" oops}");
        let e = FileSecretStore::from_properties(&p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not valid JSON at line 1") && !e.contains("hunter2"),
            "{e}"
        );
        let (_d, p) = file("s.yaml", "password: hunter2: oops\n");
        let e = FileSecretStore::from_properties(&p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not valid YAML") && !e.contains("hunter2"),
            "{e}"
        );
        let (_d, p) = file("s.yaml", "- a\n- b\n");
        let e = FileSecretStore::from_properties(&p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mapping of secret names"), "{e}");
        let p = Properties::new().with("secretsFile", "/nonexistent/s.json");
        let e = FileSecretStore::from_properties(&p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("secretsFile: cannot read /nonexistent/s.json"),
            "{e}"
        );
        let e = FileSecretStore::from_properties(&Properties::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("secretsFile: is required"), "{e}");
    }

    #[tokio::test]
    async fn env_store_reads_variables() {
        // SAFETY: the only test of this crate touching these variables.
        unsafe { std::env::set_var("STATESTORE_TEST_SECRET_A", "v1") };
        let s = EnvSecretStore::new();
        let got = s
            .get("STATESTORE_TEST_SECRET_A", "STATESTORE_TEST_SECRET_A")
            .await;
        assert_eq!(got.unwrap().as_deref(), Some("v1"));
        assert_eq!(
            s.get("STATESTORE_TEST_SECRET_NONE", "STATESTORE_TEST_SECRET_NONE")
                .await
                .unwrap(),
            None
        );
        let e = s
            .get("STATESTORE_TEST_SECRET_A", "other")
            .await
            .unwrap_err();
        assert!(e.message().contains("secretKeyRef.key"), "{e}");
        let s =
            EnvSecretStore::from_properties(&Properties::new().with("prefix", "STATESTORE_TEST_"))
                .unwrap();
        assert_eq!(
            s.get("SECRET_A", "SECRET_A").await.unwrap().as_deref(),
            Some("v1")
        );
    }
}
