//! A refusal sent before the body is read reaches clients that write their whole body before
//! they read (Python's `http.client`): the server drains the rest of a refused body for a
//! bounded time, not a bounded number of bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use arterys_gateway::budget::MemoryBudget;
use arterys_gateway::{Gateway, InferenceResponse};
use common::*;

/// Runs `clients` concurrent `http.client` posts of `mb` MB to `path`; what each read.
async fn http_client_posts(addr: SocketAddr, mb: u32, clients: u32, path: &str) -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../test-support/clients/refused_upload.py");
    let args = [script.to_owned(), "127.0.0.1".into(), addr.port().to_string(), mb.to_string(), clients.to_string()];
    let path = path.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3").args(&args).arg(path).output().expect("python3 on PATH")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// 150 MB posts into a budget that is full: each is refused with 503 at its head, and each
/// client reads the 503 and its `Retry-After` after writing the whole body, well past the
/// 64 MiB a byte-bounded drain would read before closing on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_reads_a_503_sent_before_its_150_mb_body() {
    // Room for the body once free (a larger body would be a 413), but none left now.
    let budget = MemoryBudget::from_mib(256).with_wait(Duration::ZERO);
    let _full = budget.try_reserve(budget.total()).expect("an empty budget");
    let gw = Gateway::new().route("/", |_| Ok(InferenceResponse::new())).body_limit(1 << 30).memory_budget(budget);
    let addr = start(gw).await;
    let read = http_client_posts(addr, 150, 3, "/").await;
    assert_eq!(read, vec!["503 5"; 3], "what each client read");
}

/// The same for a 404: the answer goes out at once and the body is drained behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_reads_a_404_sent_before_its_150_mb_body() {
    let addr = start(Gateway::new().route("/", |_| Ok(InferenceResponse::new()))).await;
    let read = http_client_posts(addr, 150, 1, "/nowhere").await;
    assert_eq!(read, vec!["404 None"], "what the client read");
}
