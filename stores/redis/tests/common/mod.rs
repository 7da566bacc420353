//! Redis servers for the tests: a private, durable server the tests may
//! stop and start, and the shared cluster started by `scripts/services.sh`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A private `redis-server` on `port` that writes every command to its
/// append-only file before answering, so a restart loses nothing that was
/// acknowledged.
pub struct Server {
    pub port: u16,
    dir: PathBuf,
}

/// Runs a shell command; its stdout, or an error with its stderr.
pub fn try_sh(command: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .map_err(|e| format!("sh could not run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{command}: {} (redis-server and redis-cli come from scripts/services.sh install)",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs a shell command that must succeed; its stdout.
pub fn sh(command: &str) -> String {
    try_sh(command).unwrap_or_else(|e| panic!("{e}"))
}

impl Server {
    /// Starts it (stopping a leftover of an earlier run on that port first).
    pub fn start(port: u16) -> Server {
        let dir = std::env::temp_dir().join(format!("statestore-redis-{port}"));
        let _ = std::fs::create_dir_all(&dir);
        let s = Server { port, dir };
        let _ = try_sh(&s.stop_command());
        // The start command returns once the server answers.
        sh(&s.start_command());
        s
    }

    /// The shell command that starts it again with the same data.
    pub fn start_command(&self) -> String {
        let d = self.dir.display();
        let p = self.port;
        format!(
            "redis-server --bind 127.0.0.1 --port {p} --save '' --appendonly yes \
             --appendfsync always --dir {d} --daemonize yes --pidfile {d}/redis.pid \
             --logfile {d}/redis.log && \
             for i in $(seq 100); do redis-cli -p {p} ping >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1"
        )
    }

    /// The shell command that stops it (the append-only file is complete).
    pub fn stop_command(&self) -> String {
        format!(
            "redis-cli -p {p} shutdown >/dev/null 2>&1; \
             for i in $(seq 100); do redis-cli -p {p} ping >/dev/null 2>&1 || exit 0; sleep 0.1; done; exit 1",
            p = self.port
        )
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        let path = self.dir.join("redis.pid");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `redisHost` of it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = try_sh(&self.stop_command());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the local cluster (127.0.0.1:7000-7005) unless it runs; panics
/// with the script's message when it cannot.
pub fn cluster() -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("start")
        .output()
        .unwrap_or_else(|e| panic!("{} could not run: {e}", script.display()));
    assert!(
        out.status.success(),
        "the Redis cluster is not available: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (7000..7006)
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}
