//! What the workspace's server tests share: a real server binary started on a loopback port
//! it picks itself (`--port 0`, so no other process can take the port between a test choosing
//! it and the server binding it) with its output in a log file, polled until `/healthcheck` says READY, and plain HTTP
//! requests to it. Test code: it panics (with the server's log) where a test should fail.
//!
//! **Dependencies**: a dev-dependency only, never a normal dependency of a library or server;
//! it speaks HTTP through hyper and the protocol's codec, never through the gateway.
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//! use arterys_test_support::ServerProcess;
//!
//! # async fn run() {
//! let mut cmd = Command::new("mock-server");
//! cmd.args(["--mode", "boxes"]);
//! let server = ServerProcess::spawn("mock-server", cmd, ".");
//! server.wait_ready(Duration::from_secs(30)).await;
//! let (status, body) = server.try_get("/healthcheck").await.unwrap();
//! assert_eq!((status, body.as_str()), (200, "READY"));
//! # }
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arterys_protocol::multipart::{MultipartEncoder, OutgoingPart};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The TCP port process `pid` listens on (its first listening socket), from `/proc`: its
/// socket inodes, then the kernel's tables of sockets. `None` while it listens on none.
pub fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| Some(l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned()))
        .collect();
    ["tcp", "tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
        text.lines().skip(1).find_map(|line| {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let f: Vec<&str> = line.split_whitespace().collect();
            let listening = f.get(3) == Some(&"0A") && f.get(9).is_some_and(|i| inodes.iter().any(|n| n == i));
            let port = f.get(1)?.rsplit(':').next()?;
            listening.then(|| u16::from_str_radix(port, 16).ok()).flatten()
        })
    })
}

/// A KiB field of process `pid`'s `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`); 0 where `/proc`
/// does not say.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Every file of a folder, sorted by name: a study as the tests send it.
pub fn study_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// A server process on a loopback port; killed (and its log removed) on drop.
pub struct ServerProcess {
    name: String,
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its stdout and stderr.
    pub log: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl ServerProcess {
    /// Starts `cmd` with `--host 127.0.0.1 --port 0` added, from `dir`, its output to a log
    /// file, and waits (up to a minute) until it listens, to learn its port; does not wait for
    /// READY. A process that exits first (bad arguments) gets port 0. `name` names the log
    /// and the panics.
    pub fn spawn(name: &str, mut cmd: Command, dir: impl AsRef<Path>) -> Self {
        static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!("{name}-{}-{n}.log", std::process::id()));
        let out = std::fs::File::create(&log).unwrap();
        let mut child = cmd
            .args(["--host", "127.0.0.1", "--port", "0"])
            .current_dir(dir)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Some(port) = listening_port(child.id()) {
                break port;
            }
            if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() >= deadline {
                break 0;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Self { name: name.to_owned(), child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log }
    }

    /// Polls `/healthcheck` until it says READY; every answer seen. Panics, with the log,
    /// when it has not said READY `within` that time.
    pub async fn wait_ready(&self, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            if let Some((_, body)) = self.try_get("/healthcheck").await {
                seen.push(body);
                if seen.last().is_some_and(|b| b == "READY") {
                    return seen;
                }
            }
            assert!(Instant::now() < deadline, "{} not READY: {}", self.name, self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (0 where `/proc` does not say).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident memory in KiB (0 where `/proc` does not say).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        status_kib(self.child.id(), field)
    }

    /// Waits for the process to exit; its status code (`None`: still running, or killed by a
    /// signal).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// What it wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`: status and body, `None` when it did not answer.
    pub async fn try_get(&self, path: &str) -> Option<(u16, String)> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let resp = client.get(format!("http://{}{path}", self.addr).parse().ok()?).await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// Sends `json` and the DICOM files to `route`; returns status, content type, body.
    pub async fn infer(&self, route: &str, json: &str, dicom: &[Vec<u8>]) -> (u16, Option<String>, Bytes) {
        let mut parts = vec![OutgoingPart::new("application/json", json.to_owned())];
        parts.extend(dicom.iter().map(|d| OutgoingPart::new("application/dicom", d.clone())));
        let body: Vec<u8> = MultipartEncoder::new("testb", parts).flat_map(|b| b.to_vec()).collect();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let req = http::Request::post(format!("http://{}{route}", self.addr))
            .header("content-type", "multipart/related; boundary=testb")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = client.request(req).await.expect("request");
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        (status, ct, resp.into_body().collect().await.unwrap().to_bytes())
    }
}
