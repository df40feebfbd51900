//! Hostile and broken clients: every limit answers with its status, and the service keeps
//! serving everyone else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use arterys_gateway::multipart::DecoderLimits;
use arterys_gateway::{Gateway, InferenceResponse};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CT: &str = "multipart/related; boundary=lim";

fn one_image() -> Vec<u8> {
    let dcm = read_dicom("pydicom/CT_small.dcm");
    multipart(
        "lim",
        &[RawPart { headers: "", body: b"{}" }, RawPart { headers: "Content-Type: application/dicom\r\n", body: &dcm }],
    )
}

async fn healthy(addr: std::net::SocketAddr) {
    let r = send(addr, "POST", "/", Some(CT), one_image()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

fn noop() -> Gateway {
    Gateway::new().route("/", |_| Ok(InferenceResponse::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_count_and_header_size_limits() {
    let addr = start(noop()).await;
    // Tens of thousands of empty parts: 413 at the default limit, as soon as it is passed.
    let mut body = b"--lim\r\n\r\n{}".to_vec();
    for _ in 0..30_000 {
        body.extend_from_slice(b"\r\n--lim\r\n\r\n");
    }
    body.extend_from_slice(b"\r\n--lim--\r\n");
    let r = send(addr, "POST", "/", Some(CT), body).await;
    assert_eq!((r.status, r.text().trim()), (413, "more than 20000 parts"));
    healthy(addr).await;

    // A configurable limit.
    let small = start(noop().decoder_limits(DecoderLimits { max_parts: 3, ..DecoderLimits::default() })).await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let four = multipart(
        "lim",
        &[
            RawPart { headers: "", body: b"{}" },
            RawPart { headers: "", body: &dcm },
            RawPart { headers: "", body: &dcm },
            RawPart { headers: "", body: &dcm },
        ],
    );
    assert_eq!(send(small, "POST", "/", Some(CT), four).await.status, 413);

    // A 64 KiB header line: 431, by the default head limit (32 KiB) and a configured one.
    let head = format!("POST / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\nContent-Length: 0\r\n\r\n", "a".repeat(64 * 1024));
    let (status, _) = send_raw(addr, head, vec![]).await;
    assert_eq!(status, 431);
    let tight = start(noop().max_header_bytes(2048)).await;
    let head = format!("GET /ping HTTP/1.1\r\nHost: x\r\nX-Medium: {}\r\n\r\n", "a".repeat(4096));
    assert_eq!(send_raw(tight, head, vec![]).await.0, 431);
    healthy(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_cannot_hold_the_service() {
    let addr = start(noop().header_read_timeout(Duration::from_secs(2))).await;
    // 64 clients that start a request and never finish its headers.
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(s);
    }
    // Everyone else is served meanwhile: while all 64 are still open and unanswered.
    healthy(addr).await;
    for s in &slow {
        let mut buf = [0u8; 1];
        let still = matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        assert!(still, "a slow client was cut or answered before the others were served");
    }
    // The slow ones are cut off after the header timeout.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for s in &mut slow {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("closed, not hanging")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "slow client got {text:?}");
    }
    // An idle keep-alive connection is closed by the same clock.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let n = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf)).await.expect("closed").unwrap_or(0);
    assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"), "idle connection still open");
    healthy(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanishing_clients_and_slow_handlers() {
    let addr = start(
        noop()
            .route("/slow", |_| {
                std::thread::sleep(Duration::from_millis(600));
                Ok(InferenceResponse::new())
            })
            .handler_timeout(Duration::from_millis(200))
            .max_concurrent_inferences(2),
    )
    .await;
    // A client that announces 10 MB, sends 1 MB and vanishes.
    for _ in 0..5 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: 10000000\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        s.write_all(b"--lim\r\n\r\n{}\r\n--lim\r\n\r\n").await.unwrap();
        s.write_all(&vec![7u8; 1 << 20]).await.unwrap();
        drop(s);
    }
    healthy(addr).await;
    // A handler past its deadline: 504, and the next request is served normally.
    let r = send(addr, "POST", "/slow", Some(CT), one_image()).await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(r.text().contains("did not finish within 200 ms"));
    healthy(addr).await;
}
