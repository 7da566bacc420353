//! `--component` manifests whose values come from `secretKeyRef`s, as the
//! command line resolves them: through the component's `auth.secretStore`
//! (`secretstores.local.env` or `secretstores.local.file`), with `{appID}`
//! from `--app-id`, and never printing a secret's value.

use std::path::Path;
use std::process::{Command, Output};

/// The environment variables the manifests below read secrets from.
const CONNECTION: &str = "STATESTORE_CLI_TEST_CONNECTION";
const TIMEOUT: &str = "STATESTORE_CLI_TEST_TIMEOUT";
const TABLE: &str = "STATESTORE_CLI_TEST_TABLE";

/// A folder holding an env secret store, a file secret store and a SQLite
/// state component reading `connectionString`, and the properties of
/// `more` (name, secret), from the secret store `secret_store`;
/// `tableName`, unless in `more`, is `state_{appID}`.
fn components(dir: &Path, secret_store: &str, more: &[(&str, &str)]) -> String {
    let folder = dir.join("components");
    std::fs::create_dir_all(&folder).unwrap();
    let secrets_file = dir.join("secrets.json");
    let db = dir.join("from-file.db");
    std::fs::write(
        &secrets_file,
        serde_json::json!({ CONNECTION: db.to_string_lossy() }).to_string(),
    )
    .unwrap();
    std::fs::write(
        folder.join("secret-stores.yaml"),
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: env-secrets\n\
             spec:\n  type: secretstores.local.env\n  version: v1\n---\n\
             apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: file-secrets\n\
             spec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n  \
             - name: secretsFile\n    value: {:?}\n",
            secrets_file.to_string_lossy()
        ),
    )
    .unwrap();
    let mut entries = String::new();
    if !more.iter().any(|(name, _)| *name == "tableName") {
        entries.push_str("  - name: tableName\n    value: \"state_{appID}\"\n");
    }
    for (name, secret) in more {
        entries.push_str(&format!(
            "  - name: {name}\n    secretKeyRef:\n      name: {secret}\n      key: {secret}\n"
        ));
    }
    std::fs::write(
        folder.join("state.yaml"),
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n\
             spec:\n  type: state.sqlite\n  version: v1\n  metadata:\n  \
             - name: connectionString\n    secretKeyRef:\n      name: {CONNECTION}\n      key: {CONNECTION}\n\
             {entries}auth:\n  secretStore: {secret_store}\n"
        ),
    )
    .unwrap();
    folder.to_string_lossy().into_owned()
}

/// Runs the binary with `env` set and every test variable else removed.
fn statestore(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_statestore"));
    cmd.args(args)
        .env_remove(CONNECTION)
        .env_remove(TIMEOUT)
        .env_remove(TABLE)
        .env_remove("STATESTORE_SEED");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the statestore binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Fails when `secret` appears in what the command printed.
fn never_printed(o: &Output, secret: &str) {
    let (out, err) = text(o);
    assert!(
        !out.contains(secret) && !err.contains(secret),
        "the secret value was printed:\nstdout: {out}\nstderr: {err}"
    );
}

#[test]
fn an_env_secret_serves_set_and_get() {
    let dir = tempfile::tempdir().unwrap();
    let folder = components(dir.path(), "env-secrets", &[]);
    let db = dir.path().join("from-env.db");
    let secret = db.to_string_lossy().into_owned();
    let env = [(CONNECTION, secret.as_str())];

    let set = statestore(
        &["set", "greeting", "hello", "--component", &folder, "-v"],
        &env,
    );
    let (out, err) = text(&set);
    assert!(set.status.success(), "{out}\n{err}");
    assert!(!out.trim().is_empty(), "set prints the new etag: {out}");
    never_printed(&set, &secret);
    assert!(db.exists(), "the store did not open the secret's database");

    let get = statestore(&["get", "greeting", "--component", &folder], &env);
    let (out, err) = text(&get);
    assert!(get.status.success(), "{out}\n{err}");
    assert_eq!(out, "hello");
    never_printed(&get, &secret);

    // `{appID}` is --app-id: another app id is another table.
    let other = statestore(
        &[
            "get",
            "greeting",
            "--component",
            &folder,
            "--app-id",
            "other",
        ],
        &env,
    );
    let (out, err) = text(&other);
    assert_eq!(other.status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("not found"), "{err}");
    let bad = statestore(
        &[
            "get",
            "greeting",
            "--component",
            &folder,
            "--app-id",
            "a||b",
        ],
        &env,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).1.contains("--app-id"), "{}", text(&bad).1);
}

#[test]
fn a_file_secret_serves_get() {
    let dir = tempfile::tempdir().unwrap();
    let folder = components(dir.path(), "file-secrets", &[]);
    let set = statestore(&["set", "k", "from-file", "--component", &folder], &[]);
    assert!(set.status.success(), "{}", text(&set).1);
    let get = statestore(&["get", "k", "--component", &folder], &[]);
    assert_eq!(text(&get).0, "from-file", "{}", text(&get).1);
    assert!(dir.path().join("from-file.db").exists());
    never_printed(&get, &dir.path().join("from-file.db").to_string_lossy());
}

#[test]
fn a_missing_secret_names_the_file_the_component_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let folder = components(dir.path(), "env-secrets", &[]);
    for args in [
        vec!["get", "k", "--component", &folder],
        vec!["set", "k", "v", "--component", &folder],
        vec!["conformance", "--component", &folder],
    ] {
        let out = statestore(&args, &[]);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for word in [
            "state.yaml",
            "component \"statestore\"",
            "spec.metadata (connectionString).secretKeyRef",
            CONNECTION,
            "env-secrets",
        ] {
            assert!(err.contains(word), "{args:?}: {word:?} missing from: {err}");
        }
    }
}

#[test]
fn a_secret_is_never_printed_even_when_init_fails() {
    let dir = tempfile::tempdir().unwrap();
    let more = [("timeout", TIMEOUT), ("tableName", TABLE)];
    let folder = components(dir.path(), "env-secrets", &more);
    let db = dir.path().join("state.db");
    let connection = db.to_string_lossy().into_owned();
    // A secret-supplied timeout the store refuses, then a table name the
    // store refuses (its message would quote the name were it not masked).
    let bad_timeout = "zz-secret-timeout-value";
    let bad_table = "zz secret; table";
    for (field, env) in [
        (
            "timeout",
            [
                (CONNECTION, connection.as_str()),
                (TIMEOUT, bad_timeout),
                (TABLE, "valid_table"),
            ],
        ),
        (
            "tableName",
            [
                (CONNECTION, connection.as_str()),
                (TIMEOUT, "7s"),
                (TABLE, bad_table),
            ],
        ),
    ] {
        for args in [
            vec!["get", "k", "--component", &folder, "-v"],
            vec!["set", "k", "v", "--component", &folder],
            vec!["conformance", "--component", &folder, "--format", "json"],
            vec!["bench", "--component", &folder, "--duration", "100ms"],
        ] {
            let out = statestore(&args, &env);
            let (_, err) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(field), "{args:?}: {field} not named: {err}");
            assert!(err.contains("component \"statestore\""), "{args:?}: {err}");
            never_printed(&out, bad_timeout);
            never_printed(&out, bad_table);
            never_printed(&out, &connection);
        }
    }

    // With valid values the same folder works, and prints none of them.
    let env = [
        (CONNECTION, connection.as_str()),
        (TIMEOUT, "7s"),
        (TABLE, "secret_table"),
    ];
    let out = statestore(
        &["conformance", "--component", &folder, "--filter", "crud::"],
        &env,
    );
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    never_printed(&out, &connection);
    never_printed(&out, "secret_table");
}
