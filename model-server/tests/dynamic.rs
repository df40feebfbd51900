//! Dynamic batching: one-slice requests from concurrent clients are gathered into one engine
//! run, and each client gets exactly the answer it gets alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use arterys_model_server::{Model, ModelConfig};
use common::{demo, input_of, parse_ok, root, ModelServer, TempDir};

const BLOCK: &str = "input: {layout: NCHW, size: [64, 64], batch: 1}\noutputs:\n  - {name: probability, kind: probability_mask, label: Body}\n  - {name: class_logits, kind: classification, activation: softmax, classes: [No body, Body]}\n";

fn slices() -> Vec<Vec<u8>> {
    let mut files = common::study("arterys/test_3d");
    files.push(std::fs::read(root().join("testdata/dicom/pydicom/CT_small.dcm")).unwrap());
    files
}

#[tokio::test]
async fn concurrent_one_slice_requests_share_engine_runs_and_get_their_own_answers() {
    let dir = TempDir::new("dynamic");
    let model = demo().join("demo_body.onnx");
    let config = dir.write(
        "dynamic.yaml",
        &format!("model: {}\ndynamic_batching: {{max_batch: 8, max_delay_ms: 1500}}\n{BLOCK}", model.display()),
    );
    let logging =
        dir.write("logging.yaml", "version: 1\nroot:\n  level: INFO\nloggers:\n  arterys_model_server: DEBUG\n");
    let logging = logging.display().to_string();
    // No --max-concurrent: with dynamic_batching the server lets max_batch requests run at once.
    let server = ModelServer::spawn_with(&config, &["--logging-config", &logging], &[]);
    server.wait_ready(Duration::from_secs(60)).await;

    // What each slice gets alone, without dynamic batching.
    let mut alone: ModelConfig = serde_yaml_ng::from_str(BLOCK).unwrap();
    alone.model = Some(model);
    let alone = Model::load(alone).unwrap();

    let files = slices();
    let request = r#"{"inference_command": "get-probability-mask"}"#;
    // Four clients at once (on one task: their requests are in flight together).
    let (a, b, c, d) = tokio::join!(
        server.infer("/", request, &files[0..1]),
        server.infer("/", request, &files[1..2]),
        server.infer("/", request, &files[2..3]),
        server.infer("/", request, &files[3..4]),
    );
    let answers = [a, b, c, d];
    for (file, (status, ct, body)) in files.iter().zip(answers) {
        let got = parse_ok(status, ct, &body);
        let want = alone.answer(&input_of(vec![file.clone()])).unwrap();
        assert_eq!(got.json().study_ml_json, want.json().study_ml_json);
        assert_eq!(got.buffers().len(), 1);
        let worst = got.buffers()[0].iter().zip(want.buffers()[0].iter()).map(|(a, b)| a.abs_diff(*b)).max();
        assert!(worst <= Some(1), "a request got another's mask or a different one: {worst:?}");
    }
    let log = server.log_text();
    let gathered: Vec<usize> = log
        .lines()
        .filter_map(|l| l.split("dynamic batch: ").nth(1))
        .filter_map(|rest| rest.split(" from ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(gathered.iter().sum::<usize>(), files.len(), "{log}");
    assert!(gathered.iter().any(|&k| k >= 2), "no run gathered two requests: {gathered:?}");
}
