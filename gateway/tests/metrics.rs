//! `/metrics` after real requests: scraped over HTTP, parsed by the Prometheus Python
//! client's parsers (scripts/parse-metrics), the counts checked against what was sent.
//! Each gateway has its own metrics: two in one process count apart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use arterys_gateway::{Gateway, InferenceResponse};
use common::*;

struct Samples(Vec<(String, serde_json::Map<String, serde_json::Value>, f64)>);

impl Samples {
    /// The sample `name` whose labels are exactly `labels`; 0 when absent.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels.iter().all(|(k, v)| l.get(*k).and_then(|x| x.as_str()) == Some(v))
            })
            .map_or(0.0, |s| s.2)
    }
}

async fn scrape(addr: SocketAddr) -> (Reply, Samples) {
    let reply = send(addr, "GET", "/metrics", None, Vec::new()).await;
    assert_eq!(reply.status, 200);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/parse-metrics");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test puts the .venv with prometheus-client on PATH)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &reply.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parsers refused the scrape: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        reply.text()
    );
    let samples: Vec<(String, serde_json::Map<String, serde_json::Value>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    (reply, Samples(samples))
}

fn inference_body() -> Vec<u8> {
    let dcm = read_dicom("pydicom/CT_small.dcm");
    multipart(
        "bb",
        &[
            RawPart { headers: "Content-Type: application/json\r\n", body: br#"{"studyUID": "1.2.3"}"# },
            RawPart { headers: "Content-Type: application/dicom\r\n", body: &dcm },
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_what_was_served() {
    let gw = Gateway::new()
        .route("/count", |_| {
            std::thread::sleep(Duration::from_millis(60));
            Ok(InferenceResponse::new())
        })
        .max_concurrent_inferences(1);
    let metrics = gw.metrics();
    let addr = start(gw).await;
    let ct = "multipart/related; boundary=bb";
    let body = inference_body();

    // Three at once through one permit: two of them queue.
    let replies =
        futures_util::future::join_all((0..3).map(|_| send(addr, "POST", "/count", Some(ct), body.clone()))).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let wrong_method = send(addr, "GET", "/count", None, Vec::new()).await;
    assert_eq!(wrong_method.status, 405);
    let wrong_type = send(addr, "POST", "/count", Some("text/plain"), Vec::new()).await;
    assert_eq!(wrong_type.status, 415);
    let unknown = send(addr, "POST", "/nowhere", None, Vec::new()).await;
    assert_eq!(unknown.status, 404);
    let sent_back: usize = replies.iter().chain([&wrong_method, &wrong_type]).map(|r| r.body.len()).sum();

    let (reply, m) = scrape(addr).await;
    assert_eq!(reply.content_type.as_deref(), Some(arterys_gateway::metrics::CONTENT_TYPE));
    let req = |method: &str, status: &str| {
        m.get("arterys_http_requests_total", &[("route", "/count"), ("method", method), ("status", status)])
    };
    assert_eq!(req("POST", "200"), 3.0);
    assert_eq!(req("GET", "405"), 1.0);
    assert_eq!(req("POST", "415"), 1.0);
    assert_eq!(
        m.get("arterys_http_requests_total", &[("route", "unmatched"), ("method", "POST"), ("status", "404")]),
        1.0
    );
    let route = [("route", "/count")];
    assert_eq!(m.get("arterys_http_request_duration_seconds_count", &route), 5.0);
    assert_eq!(m.get("arterys_http_request_bytes_total", &route), (3 * body.len()) as f64);
    assert_eq!(m.get("arterys_http_response_bytes_total", &route), sent_back as f64);

    // The handler held its permit three times, 60 ms each; the queue waited for at least one.
    assert_eq!(m.get("arterys_handler_duration_seconds_count", &route), 3.0);
    assert!(m.get("arterys_handler_duration_seconds_sum", &route) >= 0.18);
    assert_eq!(m.get("arterys_inference_queue_wait_seconds_count", &route), 3.0);
    assert!(m.get("arterys_inference_queue_wait_seconds_sum", &route) >= 0.05);
    assert_eq!(m.get("arterys_inference_permits", &[]), 1.0);
    assert_eq!(m.get("arterys_inference_permits_in_use", &[]), 0.0);
    assert_eq!(m.get("arterys_inference_queued", &[]), 0.0);
    // The scrape itself is the one request in flight.
    assert_eq!(m.get("arterys_http_requests_in_flight", &[]), 1.0);

    for (reason, n) in [("method_not_allowed", 1.0), ("unsupported_media_type", 1.0), ("not_found", 1.0)] {
        assert_eq!(m.get("arterys_requests_rejected_total", &[("reason", reason)]), n, "{reason}");
    }
    // The public API for code outside a request: the gateway's own metrics.
    metrics.rejected("budget");
    metrics.model_batch("demo", 4, Duration::from_millis(30));
    let (_, m) = scrape(addr).await;
    assert_eq!(m.get("arterys_requests_rejected_total", &[("reason", "budget")]), 1.0);
    assert_eq!(m.get("arterys_model_batches_total", &[("model", "demo")]), 1.0);
    assert_eq!(m.get("arterys_model_images_total", &[("model", "demo")]), 4.0);
    assert_eq!(m.get("arterys_model_inference_duration_seconds_count", &[("model", "demo")]), 1.0);
    // The first scrape is counted once it has been sent.
    assert_eq!(
        m.get("arterys_http_requests_total", &[("route", "/metrics"), ("method", "GET"), ("status", "200")]),
        1.0
    );
}

/// A gateway whose blocking route reports a model batch and whose async route a refusal, both
/// through the free functions, naming `name`.
fn reporting(name: &'static str) -> Gateway {
    Gateway::new()
        .route("/", move |_| {
            arterys_gateway::metrics::model_batch(name, 2, Duration::from_millis(5));
            Ok(InferenceResponse::new())
        })
        .async_route("/async", move |_| async move {
            arterys_gateway::metrics::rejected(name);
            Ok(InferenceResponse::new())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_in_one_process_count_apart() {
    let (a, b) = (start(reporting("a")).await, start(reporting("b")).await);
    let ct = "multipart/related; boundary=bb";
    for (addr, n) in [(a, 1), (b, 2)] {
        for _ in 0..n {
            assert_eq!(send(addr, "POST", "/", Some(ct), inference_body()).await.status, 200);
            assert_eq!(send(addr, "POST", "/async", Some(ct), inference_body()).await.status, 200);
        }
        assert_eq!(send(addr, "GET", "/nowhere", None, Vec::new()).await.status, 404);
    }
    for (addr, mine, other, n) in [(a, "a", "b", 1.0), (b, "b", "a", 2.0)] {
        let (_, m) = scrape(addr).await;
        assert_eq!(m.get("arterys_model_batches_total", &[("model", mine)]), n, "{mine}");
        assert_eq!(m.get("arterys_model_images_total", &[("model", mine)]), 2.0 * n, "{mine}");
        assert_eq!(m.get("arterys_model_batches_total", &[("model", other)]), 0.0, "{mine} has {other}'s");
        assert_eq!(m.get("arterys_requests_rejected_total", &[("reason", mine)]), n, "{mine}");
        assert_eq!(m.get("arterys_requests_rejected_total", &[("reason", other)]), 0.0, "{mine} has {other}'s");
        assert_eq!(m.get("arterys_requests_rejected_total", &[("reason", "not_found")]), 1.0, "{mine}");
        let ok = [("route", "/"), ("method", "POST"), ("status", "200")];
        assert_eq!(m.get("arterys_http_requests_total", &ok), n, "{mine}");
        assert_eq!(m.get("arterys_handler_duration_seconds_count", &[("route", "/")]), n, "{mine}");
    }
}
