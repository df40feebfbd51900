//! `/livez` and `/readyz` next to the protocol's `/healthcheck` and `/ping`: readiness
//! follows the service's own, and draining after the shutdown signal says 503.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arterys_gateway::{Gateway, InferenceResponse};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_readiness_while_healthcheck_and_ping_keep_their_answers() {
    let (addr, loaded) = start_loading().await;

    let r = send(addr, "GET", "/readyz", None, Vec::new()).await;
    assert_eq!((r.status, r.text().as_str()), (503, "not ready: LOADING\n"));
    let r = send(addr, "GET", "/livez", None, Vec::new()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "alive\n"));
    // The protocol's endpoints are unchanged: 200 with the state as the body.
    let r = send(addr, "GET", "/healthcheck", None, Vec::new()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "LOADING"));
    let r = send(addr, "GET", "/ping", None, Vec::new()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "pong: up and accepting connections"));

    loaded.store(true, Ordering::Release);
    let r = send(addr, "GET", "/readyz", None, Vec::new()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "ready\n"));
    let r = send(addr, "POST", "/readyz", None, Vec::new()).await;
    assert_eq!(r.status, 200);
    let r = send(addr, "PUT", "/livez", None, Vec::new()).await;
    assert_eq!(r.status, 405);
    let r = send(addr, "GET", "/healthcheck", None, Vec::new()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "READY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn draining_says_503_keeps_serving_for_the_delay_then_stops() {
    let gw = Gateway::new()
        .route("/", |_| {
            std::thread::sleep(Duration::from_millis(1500));
            Ok(InferenceResponse::new())
        })
        .drain_delay(Duration::from_millis(1000));
    let (addr, stop, running) = start_stoppable(gw).await;
    assert_eq!(send(addr, "GET", "/readyz", None, Vec::new()).await.status, 200);

    let dcm = read_dicom("pydicom/CT_small.dcm");
    let body = multipart(
        "bb",
        &[
            RawPart { headers: "Content-Type: application/json\r\n", body: b"{}" },
            RawPart { headers: "Content-Type: application/dicom\r\n", body: &dcm },
        ],
    );
    let slow = tokio::spawn(send(addr, "POST", "/", Some("multipart/related; boundary=bb"), body));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = Instant::now();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Draining: a new connection is still accepted, and told not to send traffic.
    let r = send(addr, "GET", "/readyz", None, Vec::new()).await;
    assert_eq!((r.status, r.text().as_str()), (503, "not ready: shutting down\n"));
    assert_eq!(send(addr, "GET", "/livez", None, Vec::new()).await.status, 200);
    // The request in flight when the signal came still gets its answer.
    assert_eq!(slow.await.unwrap().status, 200);
    running.await.unwrap().unwrap();
    assert!(signalled.elapsed() >= Duration::from_millis(1000), "stopped before the drain delay");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}

#[test]
#[should_panic(expected = "/readyz is the gateway's own probe")]
fn a_handler_cannot_take_a_probe_path() {
    let _ = Gateway::new().route("/readyz", |_| Ok(InferenceResponse::new()));
}
