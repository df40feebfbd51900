//! Runs the real `mock-server` binary on a free loopback port and talks to it over HTTP.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arterys_gateway::multipart::{MultipartEncoder, OutgoingPart};
use arterys_gateway::{DecodedResponse, InferenceResponse};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub fn test_dicom(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/dicom").join(rel)
}

/// Every file of a testdata folder, sorted by name.
pub fn study(rel: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(test_dicom(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

pub struct MockServer {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl MockServer {
    /// Starts the binary with `args` (plus host and port) without waiting for READY.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_in(args, concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    /// Starts the binary from `dir` (where it finds its `logging.yaml`).
    pub fn spawn_in(args: &[&str], dir: &str) -> Self {
        Self::spawn_with(Command::new(env!("CARGO_BIN_EXE_mock-server")), args, dir)
    }

    /// Starts the binary with its open-files limit (soft and hard) set to `nofile`.
    pub fn spawn_with_nofile(args: &[&str], nofile: u32) -> Self {
        let mut sh = Command::new("sh");
        sh.args(["-c", &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_mock-server")]);
        Self::spawn_with(sh, args, concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    fn spawn_with(mut cmd: Command, args: &[&str], dir: &str) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("mock-server-{}-{port}.log", std::process::id()));
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start mock-server");
        Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log }
    }

    /// Starts it and waits until `/healthcheck` says READY.
    pub async fn start(args: &[&str]) -> Self {
        Self::ready(Self::spawn(args)).await
    }

    /// Starts it from `dir` and waits until READY.
    pub async fn start_in(args: &[&str], dir: &str) -> Self {
        Self::ready(Self::spawn_in(args, dir)).await
    }

    pub async fn ready(s: Self) -> Self {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(r) = s.try_get("/healthcheck").await {
                if r.1 == "READY" {
                    return s;
                }
            }
            assert!(Instant::now() < deadline, "mock-server not READY: {}", s.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident memory in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Waits for the process to exit; its status code.
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

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

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
        let body: Vec<u8> = MultipartEncoder::new("mockb", parts).flat_map(|b| b.to_vec()).collect();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let req = http::Request::post(format!("http://{}{route}", self.addr))
            .header("content-type", "multipart/related; boundary=mockb")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = client.request(req).await.expect("request");
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        (status, ct, resp.into_body().collect().await.unwrap().to_bytes())
    }
}

/// A 200 response taken apart and checked: one buffer per part and no protocol violation.
pub fn parse_ok(status: u16, ct: Option<String>, body: &Bytes) -> InferenceResponse {
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(body));
    let decoded = DecodedResponse::decode(&ct.expect("content type"), body).expect("multipart");
    decoded.into_response(None).unwrap_or_else(|e| panic!("protocol violation: {e}"))
}
