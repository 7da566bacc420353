//! The local database server, stopped and started by shell commands.

use std::process::Command;

/// Runs `command` with `sh -c`; the error names it, its exit status and its
/// standard error.
pub fn sh(command: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .map_err(|e| format!("{command}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{command}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// A local database server that the restart tests stop and start, by shell
/// commands (run as root).
#[derive(Debug, Clone)]
pub struct Server {
    /// Its name in messages, e.g. `MariaDB`.
    pub name: &'static str,
    /// Succeeds when the server answers.
    pub up: String,
    /// Stops it.
    pub stop: String,
    /// Starts it; returns once it answers.
    pub start: String,
    /// Restarts it in one command, where the server has one (PostgreSQL's
    /// `pg_ctlcluster ... restart`); otherwise `stop` then `start`.
    pub restart: Option<String>,
}

impl Server {
    /// Stops the server and starts it again; returns once it answers.
    pub async fn restart(&self) -> Result<(), String> {
        let (stop, start) = (self.stop.clone(), self.start.clone());
        let restart = self.restart.clone();
        tokio::task::spawn_blocking(move || match restart {
            Some(restart) => sh(&restart),
            None => sh(&stop).and_then(|_| sh(&start)),
        })
        .await
        .expect("restart task")
    }

    /// A guard that starts the server again when it is dropped (also by a
    /// panic) and the server does not answer, so that a failed restart
    /// leaves no test without a server.
    pub fn guard(&self) -> ServerGuard<'_> {
        ServerGuard(self)
    }
}

/// See [`Server::guard`].
pub struct ServerGuard<'a>(&'a Server);

impl Drop for ServerGuard<'_> {
    fn drop(&mut self) {
        let server = self.0;
        if sh(&server.up).is_err() {
            eprintln!("{} does not answer; starting it again", server.name);
            if let Err(why) = sh(&server.start) {
                eprintln!("{why}");
            }
        }
    }
}
