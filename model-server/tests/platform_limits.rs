//! MONAI Label's `/infer/{model}` within the gateway's limits: compression bombs and volumes
//! past the memory budget refused with a one-line 4xx, the shared inference permit taken
//! before the body is read, the minimum body rate, and the request log lines tagged with the
//! upload's hash. The client side is `tests/platform_limits.py` (Python's `requests`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{root, ModelServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monai_label_uploads_are_admitted_within_the_limits() {
    let python = common::python_with("nibabel, numpy, requests");
    let config = root().join("mlcube/model.yaml");
    let args = [
        "--memory-budget-mib",
        "128",
        "--body-limit-mib",
        "32",
        "--max-concurrent",
        "1",
        "--min-body-rate-kib",
        "64",
        "--body-grace-secs",
        "2",
    ];
    let server = ModelServer::spawn_with(&config, &args, &[]);
    server.wait_ready(Duration::from_secs(60)).await;
    let out = Command::new(&python)
        .arg(root().join("model-server/tests/platform_limits.py"))
        .env("MODEL_SERVER_URL", format!("http://{}", server.addr))
        .env("REPO_ROOT", root())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let log = server.log_text();
    assert!(out.status.success(), "tests/platform_limits.py failed:\n{text}\nserver log:\n{log}");
    assert!(text.contains("platform limits: all checked"), "{text}");
    let hash = text.lines().find_map(|l| l.strip_prefix("HASH ")).expect("the upload's hash").trim();
    assert!(
        log.lines().any(|l| l.contains(hash) && l.contains("start processing") && l.contains("/infer/demo_body")),
        "no request log line tagged {hash}:\n{log}"
    );
    println!("{text}");
}
