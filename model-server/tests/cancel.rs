//! A request whose deadline passes, or whose client hangs up, stops its work: the preprocessing thread and the engine
//! loop both check the request's cancellation, the handler ends and logs so, and the next
//! request is served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use arterys_gateway::cancel::Cancellation;
use arterys_gateway::dicom::synthetic::ct_slice;
use arterys_gateway::multipart::{MultipartEncoder, OutgoingPart};
use arterys_gateway::{InferenceInput, RequestPart};
use arterys_model_server::{Model, ModelConfig};
use common::{demo, parse_ok, ModelServer, TempDir};
use tokio::io::AsyncWriteExt;

const REQUEST: &str = r#"{"inference_command": "get-probability-mask"}"#;
const SERIES: &str = "1.2.826.0.1.3680043.10.9.2";

/// Large model planes, one slice per run: hundreds of slices take far more than a second.
fn slow_model() -> String {
    format!(
        "model: {}\nthreads: 1\ninput: {{layout: NCHW, size: [512, 512], batch: 1}}\noutputs: [{{name: probability, kind: probability_mask}}]\n",
        demo().join("demo_body.onnx").display()
    )
}

fn study(slices: u32) -> Vec<Vec<u8>> {
    (0..slices).map(|i| ct_slice(SERIES, i, 64, 64).unwrap()).collect()
}

/// Waits (at most 30 s) for the log line of a cancelled request of `total` images; checks
/// that it stopped before the end.
async fn cancelled_within_30_s(server: &ModelServer, total: usize) {
    let started = Instant::now();
    let line = loop {
        let log = server.log_text();
        if let Some(line) = log.lines().find(|l| l.contains("the request was cancelled")) {
            break line.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the handler did not stop: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stopped: usize =
        line.split("stopped after ").nth(1).and_then(|s| s.split(' ').next()).unwrap().parse().unwrap();
    assert!(stopped < total, "{line}");
    assert!(line.ends_with(&format!("of {total} images")), "{line}");
}

#[tokio::test]
async fn a_request_past_its_deadline_stops_its_work_and_the_next_is_served() {
    let dir = TempDir::new("cancel");
    let server =
        ModelServer::spawn_with(&dir.write("model.yaml", &slow_model()), &["--handler-timeout-secs", "1"], &[]);
    server.wait_ready(Duration::from_secs(60)).await;
    let slices = study(400);

    let (status, _, body) = server.infer("/", REQUEST, &slices).await;
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));
    // The handler ends soon after, at its next checkpoint, and says how far it got.
    cancelled_within_30_s(&server, slices.len()).await;

    // The permit is free again: a small request is answered.
    let (status, ct, body) = server.infer("/", REQUEST, &slices[..1]).await;
    let r = parse_ok(status, ct, &body);
    assert_eq!(r.json().parts.len(), 1);
}

/// The preprocessing thread carries the request's token: a volume model's series, prepared
/// whole before the engine runs, is not prepared at all once the request is gone.
#[test]
fn the_preprocessing_thread_stops_with_the_request() {
    let yaml = "input: {layout: NCDHW, size: [4, 256, 256]}\noutputs: [{name: probability, kind: probability_mask}]\n";
    let mut config: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
    config.model = Some(demo().join("demo_volume.onnx"));
    let model = Model::load(config).unwrap();
    let dicom = (0..100u32)
        .map(|i| RequestPart::new(i as usize + 1, Default::default(), ct_slice(SERIES, i, 64, 64).unwrap().into()))
        .collect();
    let input = InferenceInput {
        request: Default::default(),
        json: bytes::Bytes::from_static(b"{}"),
        dicom,
        attachments: vec![],
        input_hash: String::new(),
        route: "/".into(),
        study_dir: None,
    };
    // Outside a request scope it runs to the end.
    assert_eq!(model.answer(&input).unwrap().json().parts.len(), 1);
    let token = Cancellation::new();
    token.cancel();
    let e = token.scope(|| model.answer(&input)).expect_err("a cancelled request fails");
    assert_eq!(e.status().as_u16(), 504);
    assert!(e.message().ends_with("stopped after 0 images prepared and 0 run of 100 images"), "{}", e.message());
}

/// A client that hangs up midway: the request's work stops although its deadline is far.
#[tokio::test]
async fn a_client_that_hangs_up_stops_its_request() {
    let dir = TempDir::new("hang-up");
    let (server, _) = ModelServer::start(&dir.write("model.yaml", &slow_model())).await;
    let slices = study(300);
    let mut parts = vec![OutgoingPart::new("application/json", REQUEST.to_owned())];
    parts.extend(slices.iter().map(|d| OutgoingPart::new("application/dicom", d.clone())));
    let body: Vec<u8> = MultipartEncoder::new("hb", parts).flat_map(|b| b.to_vec()).collect();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/related; boundary=hb\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    // Hang up once the model runs.
    let started = Instant::now();
    while !server.log_text().contains("1 series, 300 images") {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(socket);
    cancelled_within_30_s(&server, slices.len()).await;
    let (status, ct, body) = server.infer("/", REQUEST, &slices[..1]).await;
    assert_eq!(parse_ok(status, ct, &body).json().parts.len(), 1);
}
