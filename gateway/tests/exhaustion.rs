//! Clients that try to exhaust or stall the service: a 413 whose body is still coming, uploads
//! at 1 KB/s, clients that never read their answer, a handler past its deadline. Each gets a
//! readable answer or is cut, and the service keeps serving everyone else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arterys_gateway::budget::MemoryBudget;
use arterys_gateway::{Gateway, InferenceResponse, Mask, MaskPart, MaskShape};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CT: &str = "multipart/related; boundary=ex";

fn one_image() -> Vec<u8> {
    let dcm = read_dicom("pydicom/CT_small.dcm");
    multipart(
        "ex",
        &[RawPart { headers: "", body: b"{}" }, RawPart { headers: "Content-Type: application/dicom\r\n", body: &dcm }],
    )
}

fn noop() -> Gateway {
    Gateway::new().route("/", |_| Ok(InferenceResponse::new()))
}

/// Writes the whole request first, then reads the answer (as Python's `http.client` does).
async fn write_then_read(addr: std::net::SocketAddr, head: String, body: &[u8]) -> Result<String, std::io::Error> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut out = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut out)).await.map_err(std::io::Error::other)??;
    Ok(String::from_utf8_lossy(&out[..n]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_with_a_50_mb_body_still_coming_is_read_by_the_client() {
    let addr = start(noop().body_limit(1 << 20)).await;
    let body = vec![b'x'; 50 << 20];
    for declared in [true, false] {
        let head = if declared {
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: {}\r\n\r\n", body.len())
        } else {
            // No length: the limit is found mid-body. Sent as one chunk.
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nTransfer-Encoding: chunked\r\n\r\n")
        };
        let payload = if declared {
            body.clone()
        } else {
            let mut p = format!("{:x}\r\n", body.len()).into_bytes();
            p.extend_from_slice(&body);
            p.extend_from_slice(b"\r\n0\r\n\r\n");
            p
        };
        let answer = write_then_read(addr, head, &payload).await.expect("the client reads the answer");
        assert!(answer.starts_with("HTTP/1.1 413"), "declared={declared}: {answer:?}");
        assert!(answer.contains("exceeds the 1048576-byte limit"), "{answer}");
    }
    let r = send(addr, "POST", "/", Some(CT), one_image()).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_at_1_kb_per_second_are_cut() {
    let addr = start(noop().min_body_rate(16 << 10, Duration::from_secs(1))).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: 1000000\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let t = Instant::now();
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..20 {
            if wr.write_all(&[b'a'; 100]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut out)).await;
    trickle.abort();
    assert!(read.is_ok(), "a 1 KB/s upload still open after 5 s");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.contains("request body too slow"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(3), "cut after {:?}", t.elapsed());
    assert_eq!(send(addr, "POST", "/", Some(CT), one_image()).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_are_cut_and_their_answers_freed() {
    let budget = MemoryBudget::from_mib(512);
    let gw = Gateway::new()
        .memory_budget(budget.clone())
        .write_timeout(Duration::from_millis(500))
        .max_concurrent_inferences(4)
        .route("/", |_| {
            let mut r = InferenceResponse::new();
            r.add_mask(MaskPart::probability("m", Mask::zeros(MaskShape::volume(32, 1024, 1024))?).for_series("1"));
            Ok(r)
        });
    let addr = start(gw).await;
    let req = one_image();
    let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: {}\r\n\r\n", req.len());
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&req).await.unwrap();
        clients.push(s);
    }
    // The answers are built and counted, then the writes stall.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while budget.used() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(budget.used(), 0, "answers of clients that never read are still held");
    // Each connection was cut short of its 32 MiB answer.
    for mut s in clients {
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got += n,
                Err(_) => panic!("connection still open after the write timeout"),
            }
        }
        assert!(got < 32 << 20, "read {got} bytes: the whole answer");
    }
    assert_eq!(send(addr, "GET", "/ping", None, vec![]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_past_its_deadline_stops_counting_against_new_requests() {
    let done = Arc::new(AtomicBool::new(false));
    let slow_done = Arc::clone(&done);
    let addr = start(
        noop()
            .route("/slow", move |_| {
                std::thread::sleep(Duration::from_secs(3));
                slow_done.store(true, Ordering::SeqCst);
                Ok(InferenceResponse::new())
            })
            .handler_timeout(Duration::from_millis(300))
            .max_concurrent_inferences(1),
    )
    .await;
    let r = send(addr, "POST", "/slow", Some(CT), one_image()).await;
    assert_eq!(r.status, 504, "{}", r.text());
    // The only permit went back at the deadline: the next request is served while the
    // timed-out handler still runs.
    let r = send(addr, "POST", "/", Some(CT), one_image()).await;
    assert_eq!(r.status, 200);
    assert!(!done.load(Ordering::SeqCst), "the next request waited for the timed-out handler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_budget_answers_503_with_retry_after() {
    let budget = MemoryBudget::from_mib(64).with_wait(Duration::from_millis(300));
    let addr = start(noop().memory_budget(budget.clone())).await;
    let held = budget.try_reserve(60 << 20).unwrap();
    let body = one_image();
    let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: {}\r\n\r\n", 8 << 20);
    let mut padded = body.clone();
    padded.resize(8 << 20, b'\n');
    let answer = write_then_read(addr, head, &padded).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 5"), "{answer}");
    assert!(answer.contains("memory budget full"), "{answer}");
    // More than the whole budget can never fit: 413.
    let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: {}\r\n\r\n", 100 << 20);
    let (status, text) = send_raw(addr, head, vec![]).await;
    assert_eq!(status, 413, "{text}");
    drop(held);
    assert_eq!(send(addr, "POST", "/", Some(CT), body).await.status, 200);
    assert_eq!(budget.used(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_memory_is_reserved_before_the_handler_runs() {
    // Each DICOM file "decodes" to 40 MiB: one fits a 64 MiB budget, two do not.
    let budget = MemoryBudget::from_mib(64).with_wait(Duration::from_millis(300));
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (b, s) = (budget.clone(), std::sync::Arc::clone(&seen));
    let gw = Gateway::new()
        .memory_budget(budget.clone())
        .working_memory(|input| input.dicom.len() as u64 * (40 << 20))
        .route("/", move |_| {
            // What the handler sees held: body and working memory together.
            s.store(b.used(), std::sync::atomic::Ordering::SeqCst);
            Ok(InferenceResponse::new())
        });
    let addr = start(gw).await;
    let body = one_image();
    assert_eq!(send(addr, "POST", "/", Some(CT), body.clone()).await.status, 200);
    let used = seen.load(std::sync::atomic::Ordering::SeqCst);
    assert!((40 << 20..48 << 20).contains(&used), "held while the handler ran: {used}");
    assert_eq!(budget.used(), 0, "released after the answer");
    // With 30 MiB taken elsewhere, the 40 MiB do not fit within the wait: 503.
    let held = budget.try_reserve(30 << 20).unwrap();
    let r = send(addr, "POST", "/", Some(CT), body.clone()).await;
    assert_eq!(r.status, 503, "{}", r.text());
    drop(held);
    assert_eq!(send(addr, "POST", "/", Some(CT), body).await.status, 200);
}

/// A blocking handler that would run for ever unless its request's cancellation stops it;
/// it reports on `ended` that it saw the cancellation.
fn endless(ended: std::sync::mpsc::Sender<&'static str>) -> Gateway {
    let ended = std::sync::Mutex::new(ended);
    noop().route("/endless", move |_| {
        let _ = ended.lock().unwrap().send("started");
        loop {
            if arterys_gateway::cancel::checkpoint().is_err() {
                let _ = ended.lock().unwrap().send("cancelled");
                return Err(arterys_gateway::HandlerError::internal("cancelled"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_work_past_its_deadline_is_cancelled() {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = start(endless(tx).handler_timeout(Duration::from_millis(300))).await;
    let r = send(addr, "POST", "/endless", Some(CT), one_image()).await;
    assert_eq!(r.status, 504, "{}", r.text());
    // Before cancellation existed the loop ran for ever: nothing would ever arrive.
    let seen =
        tokio::task::spawn_blocking(move || (rx.recv(), rx.recv_timeout(Duration::from_secs(30)))).await.unwrap();
    assert_eq!(seen, (Ok("started"), Ok("cancelled")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_work_whose_client_hung_up_is_cancelled() {
    let (tx, rx) = std::sync::mpsc::channel();
    // No deadline in sight: only the client's going away can stop the handler.
    let addr = start(endless(tx).handler_timeout(Duration::from_secs(3600)).max_concurrent_inferences(1)).await;
    let body = one_image();
    let head =
        format!("POST /endless HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    // Once the handler runs, the client hangs up.
    let rx = tokio::task::spawn_blocking(move || {
        assert_eq!(rx.recv(), Ok("started"));
        rx
    })
    .await
    .unwrap();
    drop(s);
    let seen = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30))).await.unwrap();
    assert_eq!(seen, Ok("cancelled"));
    // The permit is back: the next request is served.
    assert_eq!(send(addr, "POST", "/", Some(CT), one_image()).await.status, 200);
}
