//! The tool sends its request again after a 503, waiting what the answer's `Retry-After`
//! asks, a bounded number of times (`--retries`, default 3), and says so on stderr.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use arterys_gateway::budget::MemoryBudget;
use arterys_mock_server::Mode;
use common::{mock_gateway, out_dir, serve, test_dicom, text, tool};

/// The mock server in boxes mode with its memory budget all reserved (requests are refused
/// with 503 and `Retry-After: 5` at once) until the returned reservation is dropped.
async fn full_server() -> (std::net::SocketAddr, arterys_gateway::budget::Reservation) {
    let budget = MemoryBudget::from_mib(16).with_wait(Duration::ZERO);
    let held = budget.try_reserve(budget.total()).unwrap();
    (serve(mock_gateway(Mode::Boxes).memory_budget(budget)).await, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_retried_after_its_retry_after_and_the_retry_succeeds() {
    let (addr, held) = full_server().await;
    // The budget frees while the tool waits out its first Retry-After.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(held);
    });
    let dcm = test_dicom("pydicom/CT_small.dcm");
    let o = tool(addr, &["-i", dcm.to_str().unwrap()], &out_dir("retried")).await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    let retries: Vec<&str> = stderr.lines().filter(|l| l.contains("retry")).collect();
    assert_eq!(retries, ["the service answered 503 Service Unavailable; retry 1 of 3 in 5 s"], "{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("answer 200"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_0_reports_the_first_503_with_its_reason() {
    let (addr, _held) = full_server().await;
    let dcm = test_dicom("pydicom/CT_small.dcm");
    let o = tool(addr, &["-i", dcm.to_str().unwrap(), "--retries", "0"], &out_dir("no-retries")).await;
    let t = text(&o);
    assert!(!t.contains("retry"), "{t}");
    assert!(t.contains("the service answered 503 Service Unavailable: "), "{t}");
    assert!(t.contains("memory"), "the budget's reason: {t}");
    assert_ne!(o.status.code(), Some(0), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_after_the_bound_and_report_the_last_503() {
    let (addr, _held) = full_server().await;
    let dcm = test_dicom("pydicom/CT_small.dcm");
    let o = tool(addr, &["-i", dcm.to_str().unwrap(), "--retries", "1"], &out_dir("bounded")).await;
    let t = text(&o);
    assert_eq!(t.matches("; retry ").count(), 1, "{t}");
    assert!(t.contains("the service answered 503 Service Unavailable: "), "{t}");
    assert_ne!(o.status.code(), Some(0), "{t}");
}
