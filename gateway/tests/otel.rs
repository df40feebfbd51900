//! Feature `otel`: a request's span reaches an OTLP/HTTP collector with its `input_hash`.
//! Runs only with the feature: `cargo test -p arterys-gateway --features otel --test otel`.
#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arterys_gateway::logging::LoggingConfig;
use arterys_gateway::{Gateway, InferenceResponse};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A collector that keeps every request body it gets (OTLP protobuf) and answers 200.
async fn collector() -> (std::net::SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if buf.len() >= end + 4 + len {
                        kept.lock().unwrap().push(buf[end + 4..end + 4 + len].to_vec());
                        buf.drain(..end + 4 + len);
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
                    }
                }
            });
        }
    });
    (addr, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_span_goes_to_the_collector_with_its_input_hash() {
    let (addr, bodies) = collector().await;
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    LoggingConfig::default().init_with_writer(std::io::sink).unwrap();

    let gw = start(Gateway::new().route("/", |_| Ok(InferenceResponse::new()))).await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let json = r#"{"studyUID": "1.2.3"}"#;
    let input_hash = sha256_hex(&[json.as_bytes(), &dcm]);
    let reply = send(gw, "POST", "/", Some(&ct()), request(json, &[&dcm])).await;
    assert_eq!(reply.status, 200);

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = bodies.lock().unwrap().iter().any(|b| {
            b.windows(input_hash.len()).any(|w| w == input_hash.as_bytes())
                && b.windows(b"input_hash".len()).any(|w| w == b"input_hash")
        });
        if found {
            break;
        }
        assert!(Instant::now() < deadline, "no span with input_hash {input_hash} reached the collector");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
