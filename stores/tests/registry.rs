//! Every backend enabled by a cargo feature must reach the registry through
//! its compile-time registration.

#[test]
fn every_enabled_backend_is_registered() {
    let registry = statestore::registry().expect("no duplicate registrations");
    let enabled = statestore::enabled_types().unwrap();
    assert!(enabled.contains(&"state.in-memory"));
    for (feature, name) in statestore::backend_features() {
        let Some(name) = name else { continue };
        assert!(
            enabled.contains(&name),
            "feature {feature} is on, but its type {name} is not registered"
        );
    }
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
    for name in statestore::enabled_types().unwrap() {
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

/// Every backend of Cargo.toml (an optional dependency, which is its
/// feature) has its line in `backends!` (so it is linked and re-exported),
/// `full` names it, and the command line forwards it.
#[test]
fn every_backend_feature_has_its_line() {
    let manifest = include_str!("../Cargo.toml");
    let declared: Vec<&str> = manifest
        .lines()
        .filter(|l| l.contains("optional = true"))
        .filter_map(|l| l.split_once(" = ").map(|(f, _)| f.trim()))
        .collect();
    let full = manifest
        .lines()
        .find(|l| l.starts_with("full = "))
        .expect("a full feature");
    for feature in &declared {
        assert!(
            full.contains(&format!("\"{feature}\"")),
            "full lacks {feature}"
        );
    }
    let listed: Vec<&str> = statestore::backend_features()
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert!(!declared.is_empty());
    assert_eq!(
        declared, listed,
        "features of stores/Cargo.toml vs backends! in stores/src/lib.rs"
    );
}
