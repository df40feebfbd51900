//! The real mock-server against clients that try to exhaust it: 1,100 stalled uploads under a
//! 1,024 open-files limit, SIGTERM with a slow uploader (and a second SIGTERM), and 32
//! concurrent large uploads under a memory budget.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod load;

use std::time::{Duration, Instant};

use common::*;
use load::{upload, Outcome};
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_cannot_exhaust_file_descriptors() {
    // 1,024 files at most and no way to raise it: 1,100 uploads that stall after their headers.
    let server = MockServer::spawn_with_nofile(&["--mode", "boxes", "--body-grace-secs", "5"], 1024);
    let server = MockServer::ready(server).await;
    let addr = server.addr;
    let mut stalled = Vec::new();
    for _ in 0..1100 {
        let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { continue };
        let _ = s
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\n")
            .await;
        stalled.push(s);
    }
    assert!(stalled.len() > 1024, "only {} connections opened", stalled.len());
    // The health check is answered once the stalled bodies are cut (5 s grace), not after minutes.
    let t = Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(15), server.try_get("/healthcheck")).await;
    assert_eq!(
        health.ok().flatten().map(|r| r.1),
        Some("READY".to_owned()),
        "/healthcheck dark for {:?}; log: {}",
        t.elapsed(),
        tail(&server.log_text())
    );
    let log = server.log_text();
    let failures = log.lines().filter(|l| l.contains("accept failed")).count();
    assert!(failures <= 3, "{failures} accept-failure lines");
    assert!(log.contains("connections open: new ones wait"), "{}", tail(&log));
    drop(stalled);
}

fn tail(log: &str) -> String {
    log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Starts a slow uploader: headers, then 1 KiB every 100 ms.
async fn slow_uploader(addr: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; boundary=b\r\nContent-Length: 100000000\r\n\r\n--b\r\n\r\n{}")
        .await
        .unwrap();
    tokio::spawn(async move {
        while s.write_all(&[b' '; 1024]).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_slow_uploader_exits_within_the_grace_and_a_second_one_at_once() {
    // The grace bounds the exit.
    let mut server =
        MockServer::start(&["--mode", "boxes", "--shutdown-grace-secs", "2", "--min-body-rate-kib", "0"]).await;
    let uploader = slow_uploader(server.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap().success());
    assert_eq!(server.wait_exit(Duration::from_secs(6)), Some(0), "still running: {}", tail(&server.log_text()));
    assert!(t.elapsed() >= Duration::from_millis(1800), "exited before the grace: {:?}", t.elapsed());
    assert!(server.log_text().contains("shutdown grace over"), "{}", tail(&server.log_text()));
    uploader.abort();

    // A second SIGTERM ends the default 25 s grace at once.
    let mut server = MockServer::start(&["--mode", "boxes", "--min-body-rate-kib", "0"]).await;
    let uploader = slow_uploader(server.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.wait_exit(Duration::ZERO), None, "the first SIGTERM waits for the uploader");
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(server.wait_exit(Duration::from_secs(3)), Some(0), "{}", tail(&server.log_text()));
    assert!(server.log_text().contains("second signal"));
    uploader.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_uploads_stay_within_the_memory_budget() {
    // 32 uploads of 48 slices (about 25 MB each, 800 MB in all) under a 192 MiB budget;
    // `ARTERYS_UPLOADS=CLIENTSxSLICES@BUDGET_MIB` for another size (16x300@1024: 16 uploads
    // of 150 MB under 1 GiB).
    let spec = std::env::var("ARTERYS_UPLOADS").unwrap_or_else(|_| "32x48@192".into());
    let parse = || -> Option<(u32, u32, u64)> {
        let (n, rest) = spec.split_once('x')?;
        let (slices, mib) = rest.split_once('@')?;
        Some((n.parse().ok()?, slices.parse().ok()?, mib.parse().ok()?))
    };
    let (clients, slices, budget_mib) = parse().expect("ARTERYS_UPLOADS is CLIENTSxSLICES@BUDGET_MIB");
    let server = MockServer::start(&["--mode", "boxes", "--memory-budget-mib", &budget_mib.to_string()]).await;
    assert!(server.log_text().contains(&format!("memory budget {budget_mib} MiB")));
    let baseline = server.rss_kib();
    let addr = server.addr;
    let tasks: Vec<_> = (0..clients).map(|i| tokio::spawn(upload(addr, i, slices, None))).collect();
    let (mut ok, mut busy) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Answered { status: 200, hash_ok: true } => ok += 1,
            Outcome::Answered { status: 503, .. } => busy += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let peak = server.peak_rss_kib();
    println!(
        "{clients} uploads of ~{} MB under a {budget_mib} MiB budget: {ok} answered, {busy} told 503; \
         RSS {} MiB at rest, peak {} MiB, after {} MiB",
        u64::from(slices) * 525 / 1000,
        baseline >> 10,
        peak >> 10,
        server.rss_kib() >> 10
    );
    // How many fit within the 10 s wait depends on the machine's speed and load (a quarter
    // on a quiet 2-core machine); some must, and none may be lost.
    assert!(ok >= 2, "only {ok} of {clients} were served");
    // Beyond the budget: per-connection read buffers and the runtime, not bodies.
    assert!(peak <= (budget_mib << 10) + baseline + (64 << 10), "peak RSS {} MiB over the budget", peak >> 10);
}
