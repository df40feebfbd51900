//! Shared by the gateway's integration tests: a real HTTP client, request builders written
//! independently of the crate's encoder, and the test DICOM files in testdata/.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arterys_gateway::{DecodedResponse, Gateway, InferenceResponse, Readiness, ResponseJson};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn test_dicom(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/dicom").join(rel)
}

pub fn read_dicom(rel: &str) -> Vec<u8> {
    std::fs::read(test_dicom(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Starts `gw` on a loopback port; the server stops when the test's runtime ends.
pub async fn start(gw: Gateway) -> SocketAddr {
    let server = gw.bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    addr
}

/// Starts `gw` on a loopback port until the sender is used (or dropped); the handle ends
/// with the server, after its graceful shutdown.
pub async fn start_stoppable(gw: Gateway) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let server = gw.bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    (addr, stop, running)
}

/// Starts a gateway whose route answers nothing and whose `/healthcheck` says `LOADING`
/// until the flag it returns is set.
pub async fn start_loading() -> (SocketAddr, Arc<AtomicBool>) {
    let loaded = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&loaded);
    let gw =
        Gateway::new().route("/", |_| Ok(InferenceResponse::new())).readiness(move || Readiness::loading_until(&flag));
    (start(gw).await, loaded)
}

pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn send(addr: SocketAddr, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(format!("http://{addr}{path}"));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = client.request(req.body(Full::new(Bytes::from(body))).expect("request")).await.expect("send");
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().expect("ascii").to_owned());
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Reply { status, content_type, body }
}

/// A part as the test writes it: raw header lines (may be empty) and a body.
pub struct RawPart<'a> {
    pub headers: &'a str,
    pub body: &'a [u8],
}

/// A multipart body written by hand (not by the crate's encoder).
pub fn multipart(boundary: &str, parts: &[RawPart<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n{}\r\n", p.headers).as_bytes());
        out.extend_from_slice(p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// The boundary of [`request`]'s body.
pub const BOUNDARY: &str = "test-boundary-42";

/// A request: JSON first (labelled text/json, as the reference tool does), then `dicom`.
pub fn request(json: &str, dicom: &[&[u8]]) -> Vec<u8> {
    let mut parts = vec![RawPart { headers: "Content-Type: text/json\r\n", body: json.as_bytes() }];
    parts.extend(dicom.iter().map(|d| RawPart { headers: "Content-Type: application/dicom\r\n", body: d }));
    multipart(BOUNDARY, &parts)
}

/// The content type of [`request`]'s body.
pub fn ct() -> String {
    format!("multipart/related; boundary={BOUNDARY}")
}

pub fn sha256_hex(chunks: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for c in chunks {
        h.update(c);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A 200 response taken apart: JSON, buffers with their content types, the hashes part.
pub struct Parsed {
    pub json_bytes: Bytes,
    pub json: ResponseJson,
    pub buffers: Vec<(String, Bytes)>,
    pub hashes: String,
}

pub fn parse_response(reply: &Reply) -> Parsed {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let ct = reply.content_type.as_deref().expect("content type");
    let decoded = DecodedResponse::decode(ct, &reply.body).expect("well-formed multipart response");
    let report = decoded.check(None);
    assert!(report.problems.is_empty(), "protocol violations: {:?}", report.problems);
    let json_part = decoded.json_part().expect("JSON part");
    Parsed {
        json_bytes: json_part.body.clone(),
        json: serde_json::from_slice(&json_part.body).expect("response JSON"),
        buffers: decoded.buffers().iter().map(|p| (p.headers.essence().unwrap_or_default(), p.body.clone())).collect(),
        hashes: String::from_utf8(decoded.hashes_part().expect("hashes part").body.to_vec()).expect("utf8"),
    }
}

/// Writes a raw HTTP/1.1 request while reading the answer, as a client that keeps reading
/// after the server refuses the body early (413) does. Returns (status, body text).
pub async fn send_raw(addr: SocketAddr, head: String, body: Vec<u8>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
    });
    let mut out = Vec::new();
    let _ = rd.read_to_end(&mut out).await;
    writer.abort();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// A log sink in memory: what a subscriber writes, for a test to read back.
#[derive(Clone, Default)]
pub struct LogBuf(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> LogBuf {
        self.clone()
    }
}
