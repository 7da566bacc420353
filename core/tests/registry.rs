//! The registry through its public API: names, aliases, versions, clashes,
//! compile-time registrations and opening a store.

use statestore_core::{ErrorKind, MemoryStore, Properties, Registration, Registry, Store};

fn mem(_: &str) -> Box<dyn Store> {
    Box::new(MemoryStore::new())
}

#[test]
fn versions_aliases_and_errors() {
    let mut r = Registry::empty();
    r.register(
        Registration::new("state.b", mem)
            .aliases(&["state.bee"])
            .versions(&["v2", "v1"]),
    )
    .unwrap();
    r.register(Registration::new("state.a", mem)).unwrap();
    assert_eq!(
        r.iter().map(|e| e.name).collect::<Vec<_>>(),
        ["state.a", "state.b"]
    );
    assert_eq!(r.resolve("STATE.BEE", None).unwrap().1, "v2");
    assert_eq!(r.resolve("state.b", Some("v1")).unwrap().1, "v1");
    assert_eq!(r.resolve("state.b", Some("")).unwrap().1, "v2");

    let e = r.resolve("state.c", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.message().contains("state.a, state.b (alias state.bee)"),
        "{e}"
    );
    let e = r.resolve("state.b", Some("v9")).unwrap_err();
    assert!(e.message().contains("v2, v1"), "{e}");
}

#[test]
fn a_name_cannot_be_registered_twice() {
    let mut r = Registry::empty();
    r.register(Registration::new("state.x", mem).aliases(&["state.y"]))
        .unwrap();
    assert!(r.register(Registration::new("state.x", mem)).is_err());
    let e = r.register(Registration::new("state.y", mem)).unwrap_err();
    assert!(e.message().contains("already taken by state.x"), "{e}");
    assert!(
        r.register(Registration::new("state.z", mem).aliases(&["STATE.X"]))
            .is_err()
    );
    assert!(
        r.register(Registration::new("state.v", mem).versions(&[]))
            .is_err()
    );
}

#[test]
fn inventory_has_the_in_memory_store() {
    let r = Registry::from_inventory().unwrap();
    assert!(r.find("state.in-memory").is_some());
}

#[tokio::test]
async fn open_initialises() {
    let r = Registry::from_inventory().unwrap();
    let s = r
        .open(
            "state.in-memory",
            None,
            &Properties::new().with("bogus", "1"),
        )
        .await
        .unwrap();
    s.ping().await.unwrap();
    assert_eq!(
        r.unknown_properties("state.in-memory", &Properties::new().with("bogus", "1"))
            .unwrap(),
        vec!["bogus".to_owned()]
    );
}
