//! The binary as an operator runs it: per-model metrics after a real study, `RUST_LOG`
//! overriding logging.yaml, and SIGTERM draining with `/readyz` saying 503.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{demo, parse_ok, root, study, ModelServer};

const REQUEST: &str = r#"{"inference_command": "get-probability-mask"}"#;

/// Every sample of a scrape, parsed by the Prometheus Python client (scripts/parse-metrics).
async fn scrape(server: &ModelServer) -> Vec<(String, serde_json::Map<String, serde_json::Value>, f64)> {
    let (status, text) = server.try_get("/metrics").await.expect("/metrics answers");
    assert_eq!(status, 200);
    let mut child = Command::new("python3")
        .arg(root().join("scripts/parse-metrics"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test puts the .venv with prometheus-client on PATH)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn value(
    samples: &[(String, serde_json::Map<String, serde_json::Value>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| n == name && l.len() == labels.len() && labels.iter().all(|(k, v)| l[*k] == *v))
        .map_or(0.0, |s| s.2)
}

async fn wait_ready(server: &ModelServer) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.try_get("/readyz").await.map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "never ready: {}", server.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_count_the_models_batches_after_a_real_study() {
    let (server, _) = ModelServer::start(&demo().join("demo_body.yaml")).await;
    let slices = study("arterys/test_3d");
    let (status, ct, body) = server.infer("/", REQUEST, &slices).await;
    parse_ok(status, ct, &body);
    let m = scrape(&server).await;
    let model = [("model", "/")];
    // demo_body.yaml runs 4 slices a batch; the warm-up batch is not a request's.
    let batches = slices.len().div_ceil(4) as f64;
    assert_eq!(value(&m, "arterys_model_batches_total", &model), batches);
    assert_eq!(value(&m, "arterys_model_images_total", &model), slices.len() as f64);
    assert_eq!(value(&m, "arterys_model_inference_duration_seconds_count", &model), batches);
    assert!(value(&m, "arterys_model_inference_duration_seconds_sum", &model) > 0.0);
    let ok = [("route", "/"), ("method", "POST"), ("status", "200")];
    assert_eq!(value(&m, "arterys_http_requests_total", &ok), 1.0);
    assert_eq!(value(&m, "arterys_handler_duration_seconds_count", &[("route", "/")]), 1.0);
}

#[tokio::test]
async fn rust_log_warn_silences_the_info_lines() {
    let config = demo().join("demo_body.yaml");
    let quiet = ModelServer::spawn_with(&config, &[], &[("RUST_LOG", "warn")]);
    let chatty = ModelServer::spawn_with(&config, &[], &[("RUST_LOG", "")]);
    wait_ready(&quiet).await;
    wait_ready(&chatty).await;
    assert_eq!(quiet.try_get("/nowhere").await.map(|r| r.0), Some(404)); // a WARNING line
    let (quiet_log, chatty_log) = (quiet.log_text(), chatty.log_text());
    assert!(chatty_log.contains("[INFO]"), "{chatty_log}");
    assert!(!quiet_log.contains("[INFO]"), "{quiet_log}");
    assert!(quiet_log.contains("[WARNING]") && quiet_log.contains("no inference route at /nowhere"), "{quiet_log}");
}

#[tokio::test]
async fn sigterm_drains_with_readyz_503_then_exits_cleanly() {
    let config = demo().join("demo_body.yaml");
    let mut server = ModelServer::spawn_with(&config, &["--drain-delay-secs", "2"], &[]);
    wait_ready(&server).await;
    assert_eq!(server.try_get("/livez").await, Some((200, "alive\n".into())));
    let term = Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let r = server.try_get("/readyz").await;
        if r == Some((503, "not ready: shutting down\n".into())) {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz still says {r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still serving while draining, then gone.
    assert_eq!(server.try_get("/healthcheck").await.map(|r| r.0), Some(200));
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0), "{}", server.log_text());
}
