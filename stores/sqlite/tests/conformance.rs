//! The conformance suite against `state.sqlite` on a file shared by two
//! instances, adopted in one line.

fn main() -> std::process::ExitCode {
    let dir = std::env::temp_dir().join(format!(
        "statestore-sqlite-conformance-{}",
        std::process::id()
    ));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("state.db");
    let code = statestore_conformance::main(
        statestore_sqlite::REGISTRATION,
        statestore_core::Properties::new().with("connectionString", file.to_string_lossy()),
    );
    let _ = std::fs::remove_dir_all(&dir);
    code
}
