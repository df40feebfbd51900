//! The transport against a client that sends the way `ab`, Python `requests` and many HTTP
//! stacks do: a new connection per request, Nagle's algorithm on, head and body in one write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use arterys_gateway::{Gateway, InferenceResponse};
use common::*;

const B: &str = "transport-boundary";

/// One request on a fresh connection (HTTP/1.0, no keep-alive, as `ab` sends it); the time
/// until the whole answer is read, and the status line.
fn one_request(addr: SocketAddr, request: &[u8]) -> (Duration, String) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    assert!(!s.nodelay().unwrap(), "the client keeps Nagle's algorithm on");
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let status = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    (t.elapsed(), status)
}

/// A JSON part and one 512x512 16-bit slice (~525 kB), as the transport figures measure.
fn one_slice_body() -> Vec<u8> {
    let dcm = read_dicom("arterys/test_3d/1.dcm");
    multipart(
        B,
        &[
            RawPart { headers: "Content-Type: application/json\r\n", body: b"{}" },
            RawPart { headers: "Content-Type: application/dicom\r\n", body: &dcm },
        ],
    )
}

/// A gateway on a loopback port that answers a one-slice request with no findings.
async fn one_slice_server() -> SocketAddr {
    start(Gateway::new().route("/", |input| {
        assert_eq!(input.dicom.len(), 1);
        Ok(InferenceResponse::new())
    }))
    .await
}

/// A body that ends in a partial TCP segment waits for the server's acknowledgement of the
/// segments before it (Nagle); with delayed acknowledgements that was ~40 ms on about every
/// other request. The server acknowledges at once while it reads, so none waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_do_not_wait_on_delayed_acknowledgements() {
    let addr = one_slice_server().await;
    let body = one_slice_body();
    let mut request = format!(
        "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: multipart/related; boundary={B}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let times = tokio::task::spawn_blocking(move || {
        (0..30)
            .map(|_| {
                let (t, status) = one_request(addr, &request);
                assert_eq!(&status[9..12], "200", "{status}");
                t
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    // A stall is the delayed-ACK timer (40 ms); the work itself takes a few milliseconds.
    let stalled = times.iter().filter(|t| **t >= Duration::from_millis(38)).count();
    assert!(stalled <= 3, "{stalled} of 30 requests took >= 38 ms: {times:?}");
}

/// Reads one HTTP/1.x answer whose length its `Content-Length` gives; returns the head and
/// the body, and leaves the connection open for the next request.
fn read_answer(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "connection closed in the head: {buf:?}");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap().to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"))
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    (head, body)
}

/// A keep-alive client on HTTP/1.0 (`ab -k`) cannot use chunked encoding: the answer must
/// carry its length, or the client cannot tell where it ends and the next one starts. Every
/// layer between the handler and hyper keeps the body's exact size, so answers on HTTP/1.1
/// carry it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_their_length_so_keep_alive_works_on_http_1_0() {
    let addr = one_slice_server().await;
    let body = one_slice_body();
    tokio::task::spawn_blocking(move || {
        for version in ["1.0", "1.1"] {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut hashes = Vec::new();
            for _ in 0..3 {
                let mut request = format!(
                    "POST / HTTP/{version}\r\nHost: {addr}\r\nConnection: keep-alive\r\nContent-Type: multipart/related; boundary={B}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                request.extend_from_slice(&body);
                s.write_all(&request).unwrap();
                let (head, answer) = read_answer(&mut s);
                assert!(head.starts_with(&format!("http/{version} 200")), "{head}");
                assert!(!head.contains("transfer-encoding"), "{head}");
                let text = String::from_utf8_lossy(&answer);
                assert!(text.trim_end().ends_with(&format!("--{B}--")), "a whole multipart answer: {text}");
                hashes.push(text.lines().rev().find(|l| l.len() == 129).unwrap_or_default().to_owned());
            }
            assert!(hashes.iter().all(|h| h.len() == 129 && *h == hashes[0]), "{version}: {hashes:?}");
        }
    })
    .await
    .unwrap();
}

/// A keep-alive client with Nagle on that writes each request's head and body separately (as
/// `requests` and `http.client` do): the body waits for the acknowledgement of the head. Once
/// the connection has carried an answer, Linux delays that acknowledgement (up to 40 ms)
/// unless the server re-arms `TCP_QUICKACK` after its reads; without it nearly every request
/// after the first stalls by the delayed-ACK timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_written_in_two_parts_do_not_stall_on_delayed_acknowledgements() {
    let addr = one_slice_server().await;
    let body = request("{}", &[&read_dicom("pydicom/CT_small.dcm")]);
    let head =
        format!("POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n", ct(), body.len());
    const N: usize = 40;
    let times = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        assert!(!s.nodelay().unwrap(), "the client keeps Nagle's algorithm on");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (0..N)
            .map(|_| {
                let t = Instant::now();
                s.write_all(head.as_bytes()).unwrap();
                s.write_all(&body).unwrap();
                let (answer, _) = read_answer(&mut s);
                assert!(answer.starts_with("http/1.1 200"), "{answer}");
                t.elapsed()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    // The delayed-ACK timer is 40 ms; an exchange takes a few. Without quick acknowledgements
    // nearly all N stall; a generous bound leaves room for a loaded machine.
    let stalled = times.iter().filter(|t| **t >= Duration::from_millis(38)).count();
    assert!(stalled <= N / 5, "{stalled} of {N} requests took >= 38 ms: {times:?}");
}
