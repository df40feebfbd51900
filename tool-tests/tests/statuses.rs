//! The tool reports every status the server sends, even one sent before the study was all
//! written; "cannot reach" only when nothing connected; `--timeout` bounds the exchange.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use arterys_mock_server::Mode;
use common::{mock_gateway, out_dir, serve, test_dicom, text, tool, OutDir};

/// A folder of `n` synthetic 512x512 slices (about 0.5 MB each), removed on drop.
fn large_study(n: u32) -> OutDir {
    let dir = out_dir(&format!("study-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let s = arterys_gateway::dicom::synthetic::ct_slice("1.2.826.0.1.3680043.10.999.31", i, 512, 512).unwrap();
        std::fs::write(dir.join(format!("{i:03}.dcm")), s).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_of_a_50_mb_study_are_reported_with_their_status() {
    let addr = serve(mock_gateway(Mode::Boxes).body_limit(1 << 20)).await;
    let study = large_study(100);
    for (route, status) in
        [("/", "413 Payload Too Large: request body of"), ("/nowhere", "404 Not Found: no inference route at /nowhere")]
    {
        let out = out_dir(&format!("refused{}", route.replace('/', "-")));
        let o = tool(addr, &["-i", study.to_str().unwrap(), "-r", route], &out).await;
        let t = text(&o);
        assert!(t.contains(&format!("the service answered {status}")), "{route}: {t}");
        assert!(!t.contains("cannot reach"), "{t}");
        assert!(!t.contains("wrote response.json"), "{t}");
        assert!(!out.join("response.json").exists());
        assert_ne!(o.status.code(), Some(0), "{t}");
        assert_ne!(o.status.code(), Some(3), "an answer came: {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_bounds_a_server_that_never_answers() {
    // Accepts, reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let dcm = test_dicom("pydicom/CT_small.dcm");
    let t = Instant::now();
    let o = tool(addr, &["-i", dcm.to_str().unwrap(), "--timeout", "1"], &out_dir("silent")).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("no complete answer from") && text(&o).contains("within 1 s"), "{}", text(&o));
    assert!(!text(&o).contains("cannot reach"));
    assert!(t.elapsed() < Duration::from_secs(10));
}
