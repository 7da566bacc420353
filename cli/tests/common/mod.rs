//! What the `statestore serve` tests share: a server on free ports and a
//! bare HTTP/1.1 client that shows the answer as it came on the wire.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Sends SIGTERM to the process `pid`, as a service manager stops it.
pub fn sigterm(pid: u32) {
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -TERM {pid}");
}

/// A running `statestore serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// Its HTTP port.
    pub port: u16,
    /// Its gRPC port.
    pub grpc: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SQLite store `statestore` and an in-memory store `memory`.
pub fn manifests(dir: &Path) {
    let db = dir.join("state.db");
    std::fs::write(
        dir.join("stores.yaml"),
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n\
             spec:\n  type: state.sqlite\n  version: v1\n  metadata:\n  \
             - name: connectionString\n    value: \"{}\"\n---\n\
             apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: memory\n\
             spec:\n  type: state.in-memory\n  version: v1\n  metadata:\n  \
             - name: keyPrefix\n    value: none\n",
            db.display()
        ),
    )
    .unwrap();
}

/// The Redis component `redisstore` (127.0.0.1:6379, started by
/// scripts/services.sh), next to the SQLite and in-memory ones: a store
/// without query.
pub fn redis_manifest(dir: &Path) {
    std::fs::write(
        dir.join("redis.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: redisstore\n\
         spec:\n  type: state.redis\n  version: v1\n  metadata:\n  \
         - name: redisHost\n    value: 127.0.0.1:6379\n",
    )
    .unwrap();
}

/// Starts `statestore serve` on the manifests of `dir`, on free ports,
/// and waits for its "serving" line; its standard error goes to
/// `dir/serve.err`.
pub fn serve(dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_statestore"))
        .args(["serve", "--components"])
        .arg(dir)
        .args(["--http-port", "0", "--grpc-port", "0", "--app-id", "app"])
        .args(extra)
        .env_remove("DAPR_API_TOKEN")
        .env_remove("DAPR_HTTP_PORT")
        .env_remove("DAPR_GRPC_PORT")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.err")).unwrap())
        .spawn()
        .expect("the statestore binary runs");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("serving") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve prints its serving line");
    let port_after = |scheme: &str| -> u16 {
        let rest = &line[line.find(scheme).expect("an address") + scheme.len()..];
        let addr: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ')')
            .collect();
        addr.rsplit(':').next().unwrap().parse().unwrap()
    };
    Server {
        port: port_after("http://"),
        grpc: port_after("grpc://"),
        child,
    }
}

/// An answer: status, headers (lower-case names), body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// One HTTP/1.1 request on a new connection.
pub fn call(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    call_bytes(s, method, path, headers, body.as_bytes())
}

/// One HTTP/1.1 request with a body of any bytes, on a new connection.
pub fn call_bytes(
    s: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut raw = req.into_bytes();
    raw.extend_from_slice(body);
    // A server that answers before reading a whole large body may close
    // early; the answer is still read.
    let _ = stream.write_all(&raw);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = unchunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 4 + size..];
    }
}

/// What the server wrote to standard error so far.
pub fn stderr(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serve.err")).unwrap_or_default()
}
