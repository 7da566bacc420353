//! `statestore conformance` as a user runs it: from a Dapr manifest, with a
//! summary line, an exit code, JSON output and filters.

use std::path::Path;
use std::process::{Command, Output};

fn statestore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_statestore"))
        .args(args)
        .env_remove("STATESTORE_SEED")
        .output()
        .expect("the statestore binary runs")
}

fn manifest(dir: &Path, connection: &str) -> String {
    let path = dir.join("sqlite.yaml");
    let text = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n\
         spec:\n  type: state.sqlite\n  version: v1\n  metadata:\n  \
         - name: connectionString\n    value: \"{connection}\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_sqlite_manifest_passes_with_a_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let file = manifest(dir.path(), &db.to_string_lossy());
    let out = statestore(&["conformance", "--component", &file, "--sequences", "50"]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap();
    assert!(summary.contains(" 0 failed, 1 skipped"), "{summary}");
    assert!(text.contains("ok       model::random_sequences"), "{text}");
    assert!(text.contains("ok       query::random_queries"), "{text}");
    assert!(
        text.contains("skipped  resilience::restart: state.sqlite declares no restart hooks"),
        "{text}"
    );
}

#[test]
fn json_output_and_filters() {
    let out = statestore(&[
        "conformance",
        "--type",
        "state.in-memory",
        "--filter",
        "first_write::",
        "--skip",
        "race",
        "--format",
        "json",
        "--seed",
        "0x2a",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["failed"], 0);
    assert_eq!(doc["seed"], "0x2a");
    let names: Vec<&str> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("first_write::") && !n.contains("race"))
    );
    assert!(doc["filtered_out"].as_u64().unwrap() > 70);
}

#[test]
fn a_failing_case_exits_1_and_names_the_rule() {
    // Two `:memory:` instances never share data: without --isolated the
    // shared-backend case must fail.
    let out = statestore(&[
        "conformance",
        "--type",
        "state.sqlite",
        "--meta",
        "connectionString=:memory:",
        "--filter",
        "lifecycle::concurrent_init",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED   lifecycle::concurrent_init"),
        "{text}"
    );
    assert!(text.contains("0 passed, 1 failed, 0 skipped"), "{text}");
    assert!(text.contains("--isolated"), "{text}");
}

/// Runs only `resilience::restart` on the in-memory store with these hooks.
fn restart_case(stop: &str, start: &str, more: &[&str]) -> (Output, String) {
    let mut args = vec!["conformance", "--type", "state.in-memory"];
    args.extend(["--filter", "resilience::", "--restart-stop", stop]);
    args.extend(["--restart-start", start]);
    args.extend(more);
    let out = statestore(&args);
    let text = stdout(&out);
    (out, text)
}

#[test]
fn restart_hooks_run_and_a_failing_hook_fails_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let (stopped, started) = (dir.path().join("stopped"), dir.path().join("started"));
    let stop = format!("touch {} && false", stopped.display());
    let start = format!("touch {}", started.display());
    let (out, text) = restart_case(&stop, &start, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(stopped.exists(), "the stop hook did not run");
    assert!(
        started.exists(),
        "a failed stop must still be followed by start"
    );
    assert!(text.contains("the restart hook's stop failed"), "{text}");
    assert!(text.contains("exited with"), "{text}");
}

#[test]
fn an_overrunning_hook_is_killed_and_start_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (finished, started) = (dir.path().join("finished"), dir.path().join("started"));
    let stop = format!("sleep 8; touch {}", finished.display());
    let start = format!("touch {}", started.display());
    let clock = std::time::Instant::now();
    let (out, text) = restart_case(&stop, &start, &["--restart-recover-within", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("did not return within 1s"), "{text}");
    assert!(started.exists(), "start must run after a stop that overran");
    // The command was killed: it neither finished nor held the exit back.
    assert!(
        clock.elapsed() < std::time::Duration::from_secs(7),
        "{:?}",
        clock.elapsed()
    );
    std::thread::sleep(std::time::Duration::from_secs(8).saturating_sub(clock.elapsed()));
    assert!(
        !finished.exists(),
        "the overrunning stop command kept running"
    );
}

#[test]
fn bad_manifests_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "kind: Component\nmetadata: {name: x}\nspec:\n  type: state.nope\n",
    )
    .unwrap();
    let out = statestore(&["conformance", "--component", &file.to_string_lossy()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("state.nope") && err.contains("state.sqlite"),
        "{err}"
    );
    std::fs::write(
        &file,
        "kind: Component\nmetadata: {name: x}\nspec:\n  type: state.sqlite\n  metadata:\n  - {name: tableName, value: t}\n",
    )
    .unwrap();
    let out = statestore(&["conformance", "--component", &file.to_string_lossy()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("connectionString"), "{err}");
}
