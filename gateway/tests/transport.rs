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

/// A body that ends in a partial TCP segment waits for the server's acknowledgement of the
/// segments before it (Nagle); with delayed acknowledgements that was ~40 ms on about every
/// other request. The server acknowledges at once while it reads, so none waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_do_not_wait_on_delayed_acknowledgements() {
    let addr = start(Gateway::new().route("/", |input| {
        assert_eq!(input.dicom.len(), 1);
        Ok(InferenceResponse::new())
    }))
    .await;
    // A 512x512 16-bit slice (~525 kB), as the figures measured.
    let dcm = read_dicom("arterys/test_3d/1.dcm");
    let body = multipart(
        B,
        &[
            RawPart { headers: "Content-Type: application/json\r\n", body: b"{}" },
            RawPart { headers: "Content-Type: application/dicom\r\n", body: &dcm },
        ],
    );
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
    let mut sorted = times.clone();
    sorted.sort();
    assert!(stalled <= 3, "{stalled} of 30 requests took >= 38 ms: {times:?}");
    assert!(sorted[15] < Duration::from_millis(20), "median {:?}: {times:?}", sorted[15]);
}
