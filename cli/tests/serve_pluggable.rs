#![cfg(feature = "pluggable")]
//! `statestore serve --pluggable`: what it refuses, and a socket that
//! answers as daprd expects until SIGTERM removes it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use statestore::pluggable::PluggableStore;
use statestore::{Properties, Store, StoreExt};

fn serve(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_statestore"))
        .args(["serve", "--pluggable"])
        .args(args)
        .output()
        .expect("the statestore binary runs")
}

#[test]
fn bad_input_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_string_lossy().to_string();
    let table: &[(&[&str], &str)] = &[
        (&[], "needs what to serve: --type"),
        (
            &["--type", "state.nope"],
            "unknown store type \"state.nope\"",
        ),
        (
            &["--type", "state.in-memory", "--type", "state.in-memory"],
            "in-memory.sock is served already",
        ),
    ];
    for (args, words) in table {
        let mut all = vec!["--sockets-folder", folder.as_str()];
        all.extend_from_slice(args);
        let out = serve(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
    // A file where the socket goes is not removed.
    let file = dir.path().join("in-memory.sock");
    std::fs::write(&file, "mine").unwrap();
    let out = serve(&["--sockets-folder", &folder, "--type", "state.in-memory"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_string_lossy().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_statestore"))
        .args(["serve", "--pluggable", "--sockets-folder", &folder])
        .args(["--type", "state.in-memory"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = dir.path().join("in-memory.sock");
    for _ in 0..500 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut s = PluggableStore::new();
    s.init(&Properties::new().with("socket", socket.to_string_lossy()))
        .await
        .unwrap();
    let etag = s.put("k", "v").await.unwrap();
    assert!(etag.is_some(), "a statestore server returns the new etag");
    assert_eq!(s.get_item("k").await.unwrap().unwrap().value, "v");
    s.close().await.unwrap();
    common::sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!socket.exists(), "the socket is removed at shutdown");
}
