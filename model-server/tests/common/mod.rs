//! Runs the real `model-server` binary on a free loopback port and talks to it over HTTP;
//! finds the onnxruntime library the tests need; loads the demo models' fixtures.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arterys_gateway::multipart::{boundary_from_content_type, MultipartBody, MultipartDecoder, OutgoingPart};
use arterys_gateway::{InferenceResponse, ResponseJson};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The demo models (`mock-server/models`).
pub fn demo() -> PathBuf {
    root().join("mock-server/models")
}

/// The small models of the start-up checks.
pub fn test_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models")
}

/// The onnxruntime library: `ORT_DYLIB_PATH`, which `scripts/test` sets. A test that needs it
/// fails without it, saying how to get it.
pub fn ort_library() -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) if Path::new(&p).is_file() => PathBuf::from(p),
        other => panic!(
            "these tests need the onnxruntime library: run scripts/test, or \
             export ORT_DYLIB_PATH=\"$(scripts/fetch-onnxruntime)\" (ORT_DYLIB_PATH is {other:?})"
        ),
    }
}

/// Little-endian float32 values of a file.
pub fn f32s(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// The largest absolute difference.
pub fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

/// Every file of a testdata folder, sorted by name.
pub fn study(rel: &str) -> Vec<Vec<u8>> {
    let dir = root().join("testdata/dicom").join(rel);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("model-server-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `text` to `name` in it; the path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct ModelServer {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ModelServer {
    /// Starts the binary on `config` without waiting for READY.
    pub fn spawn(config: &Path) -> Self {
        Self::spawn_with(config, &[], &[])
    }

    /// Starts the binary on `config` with more arguments and environment variables.
    pub fn spawn_with(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("model-server-{}-{port}.log", std::process::id()));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_model-server"))
            .arg("--config")
            .arg(config)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(root())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start model-server");
        Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log }
    }

    /// Starts it and waits until `/healthcheck` says READY; every healthcheck answer seen.
    pub async fn start(config: &Path) -> (Self, Vec<String>) {
        let s = Self::spawn(config);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            if let Some((_, body)) = s.try_get("/healthcheck").await {
                seen.push(body.clone());
                if body == "READY" {
                    return (s, seen);
                }
            }
            assert!(Instant::now() < deadline, "model-server not READY: {}", s.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
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
        let body: Vec<u8> = MultipartBody::new("msb", parts).flat_map(|b| b.to_vec()).collect();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let req = http::Request::post(format!("http://{}{route}", self.addr))
            .header("content-type", "multipart/related; boundary=msb")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = client.request(req).await.expect("request");
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        (status, ct, resp.into_body().collect().await.unwrap().to_bytes())
    }
}

/// A 200 response taken apart by the gateway's decoder and checked: one buffer per part and
/// no protocol violation.
pub fn parse_ok(status: u16, ct: Option<String>, body: &Bytes) -> InferenceResponse {
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(body));
    let boundary = boundary_from_content_type(&ct.expect("content type")).unwrap();
    let (parts, _) = MultipartDecoder::decode(&boundary, body).expect("multipart");
    let json: ResponseJson = serde_json::from_slice(&parts[0].body).expect("JSON");
    let buffers: Vec<Bytes> = parts[1..parts.len() - 1].iter().map(|p| p.body.clone()).collect();
    let r = InferenceResponse::from_parts(json, buffers).expect("one buffer per part");
    let v = r.violations();
    assert!(v.is_empty(), "protocol violations: {v:?}");
    r
}
