//! What the memory budget counts beyond multipart bodies: `studyPath` studies (reserved from
//! their sizes before a byte is read), parsed JSON parts, and the routes merged with
//! `merge_admitted` (a permit before the body, the budget, the body rate, the deadline).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arterys_gateway::budget::MemoryBudget;
use arterys_gateway::Admission;
use arterys_gateway::{Gateway, GatewayError, InferenceResponse};
use axum::extract::{Request, State};
use common::*;

/// A fresh study root with `study/` holding a real CT slice, removed on drop.
fn study_root(tag: &str) -> tempfile::TempDir {
    let root = tempfile::Builder::new().prefix(&format!("gw-budget-{tag}-")).tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("study")).unwrap();
    std::fs::write(root.path().join("study/a.dcm"), read_dicom("pydicom/CT_small.dcm")).unwrap();
    root
}

/// A sparse file of `bytes`: large to `stat`, nothing on disk.
fn sparse(path: &std::path::Path, bytes: u64) {
    std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

async fn study_path(addr: std::net::SocketAddr, dir: &str) -> Reply {
    send(addr, "POST", "/", Some("application/json"), format!(r#"{{"studyPath": "{dir}"}}"#).into_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn study_path_reads_are_reserved_before_they_are_read() {
    let tmp = study_root("study");
    let root = tmp.path().to_path_buf();
    let budget = MemoryBudget::from_mib(64).with_wait(Duration::from_millis(300));
    let seen = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&seen);
    let b = budget.clone();
    let gw = Gateway::new().memory_budget(budget.clone()).study_root(&root).route("/", move |_| {
        s.store(b.used(), Ordering::SeqCst);
        Ok(InferenceResponse::new())
    });
    let addr = start(gw).await;

    // The study is held in the budget while the handler runs.
    let ok = study_path(addr, "study").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let size = std::fs::metadata(root.join("study/a.dcm")).unwrap().len();
    assert!(seen.load(Ordering::SeqCst) >= size, "{} used while the handler ran", seen.load(Ordering::SeqCst));
    assert_eq!(budget.used(), 0);

    // Larger than the whole budget (a sparse 100 MiB file): 413, without reading it.
    std::fs::create_dir_all(root.join("huge")).unwrap();
    sparse(&root.join("huge/big.dcm"), 100 << 20);
    let r = study_path(addr, "huge").await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("memory budget"), "{}", r.text());

    // Fits the budget but not the room left: 503, then 200 once room is made.
    std::fs::create_dir_all(root.join("mid")).unwrap();
    std::fs::write(root.join("mid/a.dcm"), read_dicom("pydicom/CT_small.dcm")).unwrap();
    sparse(&root.join("mid/pad.bin"), 30 << 20);
    let held = budget.try_reserve(40 << 20).unwrap();
    let r = study_path(addr, "mid").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("memory budget full"), "{}", r.text());
    drop(held);
    let r = study_path(addr, "mid").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(budget.used(), 0);
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parsed_json_parts_count_against_the_budget() {
    let budget = MemoryBudget::from_mib(64).with_wait(Duration::from_millis(300));
    let addr = start(Gateway::new().memory_budget(budget.clone()).route("/", |_| Ok(InferenceResponse::new()))).await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let ct = format!("multipart/related; boundary={BOUNDARY}");
    // A 4 MiB JSON part: its body fits, the tree it parses into may not.
    let big = format!(r#"{{"pad": [{}0]}}"#, "0,".repeat(2 << 20));
    let r = send(addr, "POST", "/", Some(&ct), request(&big, &[&dcm])).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("memory budget"), "{}", r.text());
    // A small JSON part costs little.
    let small = format!(r#"{{"pad": [{}0]}}"#, "0,".repeat(4 << 10));
    assert_eq!(send(addr, "POST", "/", Some(&ct), request(&small, &[&dcm])).await.status, 200);
    assert_eq!(budget.used(), 0);
}

/// A merged route that admits its request, then runs `ms` milliseconds of blocking work.
async fn slow_count(State((adm, ms)): State<(Admission, u64)>, req: Request) -> Result<String, GatewayError> {
    let admitted = adm.admit(req).await?;
    adm.run_blocking(admitted, move |body| {
        std::thread::sleep(Duration::from_millis(ms));
        Ok::<_, GatewayError>(format!("{} bytes", body.len()))
    })
    .await
}

fn admitted_gateway(budget: &MemoryBudget, work_ms: u64) -> Gateway {
    Gateway::new()
        .memory_budget(budget.clone())
        .max_concurrent_inferences(1)
        .min_body_rate(1 << 20, Duration::from_secs(1))
        .handler_timeout(Duration::from_secs(3))
        .route("/", |_| Ok(InferenceResponse::new()))
        .merge_admitted(move |adm| {
            axum::Router::new().route("/count", axum::routing::post(slow_count)).with_state((adm, work_ms))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_routes_take_a_permit_before_reading_their_body() {
    let budget = MemoryBudget::from_mib(64).with_wait(Duration::from_millis(300));
    let addr = start(admitted_gateway(&budget, 1500)).await;
    let body = vec![7u8; 8 << 20];
    let r = send(addr, "POST", "/count", Some("application/octet-stream"), body.clone()).await;
    assert_eq!((r.status, r.text()), (200, format!("{} bytes", 8 << 20)));
    assert_eq!(budget.used(), 0);

    // While one runs (holding its body), a second waits for the permit with its body unread.
    let first = tokio::spawn(send(addr, "POST", "/count", Some("application/octet-stream"), body.clone()));
    let second = {
        while budget.used() < 8 << 20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::spawn(send(addr, "POST", "/count", Some("application/octet-stream"), body.clone()))
    };
    let mut queued = false;
    for _ in 0..100 {
        let m = send(addr, "GET", "/metrics", None, vec![]).await.text();
        let n = m.lines().find_map(|l| l.strip_prefix("arterys_inference_queued ")?.parse::<u64>().ok());
        if n.unwrap_or(0) >= 1 {
            queued = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(queued, "the second request never queued for a permit");
    assert_eq!(budget.used(), 8 << 20, "only the running request's body is held");
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(second.await.unwrap().status, 200);
    assert_eq!(budget.used(), 0);

    // Larger than the whole budget: 413 before a byte is read.
    let head = format!("POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", 100 << 20);
    let (status, text) = send_raw(addr, head, vec![]).await;
    assert_eq!(status, 413, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_routes_have_the_body_rate_and_the_deadline() {
    let budget = MemoryBudget::from_mib(64);
    let addr = start(admitted_gateway(&budget, 5000)).await;
    // A body that stalls after its first bytes is cut after the grace: 408.
    let head = "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".to_owned();
    let stalled = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&[0u8; 100]).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    });
    let answer = stalled.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Work past the handler deadline: 504, and its permit (the only one) serves the next
    // request while the abandoned work still sleeps.
    let r = send(addr, "POST", "/count", Some("application/octet-stream"), vec![1u8; 10]).await;
    assert_eq!(r.status, 504, "{}", r.text());
    let ct = format!("multipart/related; boundary={BOUNDARY}");
    let r = send(addr, "POST", "/", Some(&ct), request("{}", &[&read_dicom("pydicom/CT_small.dcm")])).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `reserve_decoded_pixels` walks and reads each file once and hands what it read to the
/// handler with the part; a file it cannot read reaches the handler without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_pixels_hand_each_file_read_once_to_the_handler() {
    use arterys_gateway::dicom::ReadOnce;
    let budget = MemoryBudget::from_mib(64);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (s, b) = (Arc::clone(&seen), budget.clone());
    let gw = Gateway::new().memory_budget(budget.clone()).reserve_decoded_pixels().route("/", move |input| {
        let kept = input.dicom.iter().map(|p| p.facts.get::<ReadOnce>().map(|o| (o.decoded_bytes(), o.info().ok())));
        s.lock().unwrap().extend(kept.map(|k| (k, b.used())));
        Ok(InferenceResponse::new())
    });
    let addr = start(gw).await;
    let ct = read_dicom("pydicom/CT_small.dcm");
    let cut = ct[..ct.len() - 10].to_vec();
    let r = send(addr, "POST", "/", Some(&common::ct()), common::request("{}", &[&ct, &cut])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let (kept, used) = seen[0].clone();
    let (decoded, info) = kept.expect("the readable file carries what was read");
    assert_eq!(decoded, 128 * 128 * 2);
    assert_eq!(info, arterys_gateway::dicom::InstanceInfo::read(&ct).ok());
    // The decoded pixels and the headers held are reserved on top of the body while it runs.
    assert!(used > (ct.len() + cut.len()) as u64 + decoded, "{used} bytes reserved");
    assert_eq!(seen[1].0, None, "a file cut short reaches the handler as it came");
    assert_eq!(budget.used(), 0);
}
