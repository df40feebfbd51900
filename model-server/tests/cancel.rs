//! A request whose deadline passes stops its work: the preprocessing thread and the engine
//! loop both check the request's cancellation, the handler ends and logs so, and the next
//! request is served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use arterys_gateway::cancel::Cancellation;
use arterys_gateway::dicom::synthetic::ct_slice;
use arterys_gateway::{InferenceInput, RequestPart};
use arterys_model_server::{Model, ModelConfig};
use common::{demo, parse_ok, ModelServer, TempDir};

const REQUEST: &str = r#"{"inference_command": "get-probability-mask"}"#;
const SERIES: &str = "1.2.826.0.1.3680043.10.9.2";

#[tokio::test]
async fn a_request_past_its_deadline_stops_its_work_and_the_next_is_served() {
    let dir = TempDir::new("cancel");
    // Large model planes, one slice per run: hundreds of slices take far more than a second.
    let yaml = format!(
        "model: {}\nthreads: 1\ninput: {{layout: NCHW, size: [512, 512], batch: 1}}\noutputs: [{{name: probability, kind: probability_mask}}]\n",
        demo().join("demo_body.onnx").display()
    );
    let server = ModelServer::spawn_with(&dir.write("model.yaml", &yaml), &["--handler-timeout-secs", "1"], &[]);
    server.wait_ready(Duration::from_secs(60)).await;
    let slices: Vec<Vec<u8>> = (0..400).map(|i| ct_slice(SERIES, i, 64, 64).unwrap()).collect();

    let (status, _, body) = server.infer("/", REQUEST, &slices).await;
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));
    // The handler ends soon after, at its next checkpoint, and says how far it got.
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
    assert!(stopped < slices.len(), "{line}");
    assert!(line.ends_with(&format!("of {} images", slices.len())), "{line}");

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
        .map(|i| RequestPart {
            index: i as usize + 1,
            headers: Default::default(),
            body: ct_slice(SERIES, i, 64, 64).unwrap().into(),
        })
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
