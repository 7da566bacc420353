//! Every backend enabled by a cargo feature must reach the registry through
//! its compile-time registration.

#[test]
fn every_enabled_backend_is_registered() {
    let registry = statestore::registry().expect("no duplicate registrations");
    let enabled = statestore::enabled_types();
    assert!(enabled.contains(&"state.in-memory"));
    #[cfg(feature = "sqlite")]
    assert!(enabled.contains(&"state.sqlite"));
    #[cfg(feature = "redis")]
    assert!(enabled.contains(&"state.redis"));
    #[cfg(feature = "postgres")]
    assert!(enabled.contains(&"state.postgresql"));
    #[cfg(feature = "mysql")]
    assert!(enabled.contains(&"state.mysql"));
    for name in enabled {
        let reg = registry
            .find(name)
            .unwrap_or_else(|| panic!("{name} is enabled but not registered"));
        assert_eq!(reg.name, name);
        assert!(!reg.features.is_empty(), "{name} registers no feature");
        registry
            .create(name, None)
            .expect("a registered type can be created");
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_answers_to_its_alias() {
    let registry = statestore::registry().unwrap();
    assert_eq!(
        registry.find("state.sqlite3").map(|r| r.name),
        Some("state.sqlite")
    );
}

#[test]
fn unknown_types_list_every_registered_type() {
    let registry = statestore::registry().unwrap();
    let err = registry
        .create("state.nope", None)
        .err()
        .expect("unknown type");
    assert_eq!(err.kind(), statestore::ErrorKind::Config);
    for name in statestore::enabled_types() {
        assert!(err.to_string().contains(name), "{err} does not list {name}");
    }
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_answers_to_its_alias() {
    let registry = statestore::registry().unwrap();
    assert_eq!(
        registry.find("state.postgres").map(|r| r.name),
        Some("state.postgresql")
    );
}
