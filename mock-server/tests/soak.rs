//! Soak: 32 concurrent clients against the real mock-server under a 1 GiB memory budget for a
//! fixed time (20 s; `ARTERYS_SOAK_SECS` for a longer run), mixing single slices, 150 MB
//! studies, slow uploaders and clients that disconnect mid-upload. Every answer is a 200 for
//! its own request (input hash checked) or a budget 503, the server's RSS stays within the
//! budget throughout, and the memory goes back to the OS after the burst.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod load;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use load::{upload_paced, Outcome};

const BUDGET_MIB: u64 = 1024;

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    busy: AtomicU64,
    dropped: AtomicU64,
    bytes: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_32_mixed_clients_under_a_1_gib_budget() {
    let secs: u64 = std::env::var("ARTERYS_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let server =
        Arc::new(MockServer::start(&["--mode", "boxes", "--memory-budget-mib", &BUDGET_MIB.to_string()]).await);
    let addr = server.addr;
    let until = Instant::now() + Duration::from_secs(secs);
    let tally = Arc::new(Tally::default());
    let peak_sampled = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (server, peak) = (Arc::clone(&server), Arc::clone(&peak_sampled));
        tokio::spawn(async move {
            while Instant::now() < until + Duration::from_secs(30) {
                peak.fetch_max(server.rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let clients: Vec<_> = (0..32u32)
        .map(|c| {
            let tally = Arc::clone(&tally);
            tokio::spawn(async move {
                let mut round = 0u32;
                while Instant::now() < until {
                    let seed = c * 100_000 + round;
                    round += 1;
                    // (slices, give up after, pause before each slice)
                    let (slices, give_up, pace) = match c % 8 {
                        0 => (300, None, Duration::ZERO),                           // a 150 MB study
                        1 | 2 => (4, None, Duration::from_millis(300)),             // a slow uploader
                        3 => (40, Some(10 + round % 20), Duration::from_millis(5)), // goes away mid-upload
                        _ => (1, None, Duration::ZERO),                             // a single slice
                    };
                    match upload_paced(addr, seed, slices, give_up, pace).await {
                        Outcome::Answered { status: 200, hash_ok } => {
                            assert!(hash_ok, "client {c} round {round}: an answer for another request");
                            assert!(give_up.is_none(), "client {c}: answered a request it abandoned");
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                            tally.bytes.fetch_add(u64::from(slices) * 525_000, Ordering::Relaxed);
                        }
                        Outcome::Answered { status: 503, .. } => {
                            tally.busy.fetch_add(1, Ordering::Relaxed);
                        }
                        Outcome::Answered { status, .. } => panic!("client {c} round {round}: status {status}"),
                        Outcome::Failed(e) => {
                            assert!(give_up.is_some(), "client {c} round {round}: {e}");
                            tally.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let (ok, busy, dropped) =
        (tally.ok.load(Ordering::Relaxed), tally.busy.load(Ordering::Relaxed), tally.dropped.load(Ordering::Relaxed));
    // Memory goes back to the OS once the burst is over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sampler.abort();
    let peak = server.peak_rss_kib().max(peak_sampled.load(Ordering::Relaxed));
    println!(
        "soak {secs} s, 32 clients, {BUDGET_MIB} MiB budget: {ok} answered 200 (hashes checked, ~{:.0} MB of studies), \
         {busy} budget 503s, {dropped} uploads abandoned by their clients; server peak RSS {} MiB, 2 s after {} MiB",
        tally.bytes.load(Ordering::Relaxed) as f64 / 1e6,
        peak >> 10,
        server.rss_kib() >> 10
    );
    assert!(ok > 32, "only {ok} requests served");
    assert!(peak <= BUDGET_MIB << 10, "peak RSS {} MiB over the {BUDGET_MIB} MiB budget", peak >> 10);
    let after = server.rss_kib();
    assert!(after <= 128 << 10, "{} MiB still resident 2 s after the burst", after >> 10);
    assert_eq!(server.try_get("/healthcheck").await.unwrap().1, "READY");
}
