//! `model-server --config` on the demo model's own config (`mock-server/models/demo_body.yaml`,
//! the one the README starts from): it answers on `/` once warmed up, and a model file that is
//! not there stops it before it serves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{demo, parse_ok, study, ModelServer, TempDir};

#[tokio::test]
async fn the_demo_model_answers_on_its_route() {
    let (server, _) = ModelServer::start(&demo().join("demo_body.yaml")).await;
    let slices = study("arterys/test_3d");
    let (status, ct, body) = server.infer("/", r#"{"inference_command": "get-probability-mask"}"#, &slices).await;
    let r = parse_ok(status, ct, &body);
    let part = &r.json().parts[0];
    assert_eq!((part.binary_type.as_str(), part.binary_data_shape.unwrap().depth), ("probability_mask", Some(3)));
    assert_eq!(r.json().study_ml_json.as_ref().unwrap()["label"], "Body");
    assert!(server.log_text().contains("warm-up batch"), "{}", server.log_text());
}

#[test]
fn the_server_refuses_to_start_on_a_bad_model() {
    let dir = TempDir::new("demo-bad-model");
    let yaml = std::fs::read_to_string(demo().join("demo_body.yaml")).unwrap();
    let yaml = yaml.replace("model: demo_body.onnx", "model: no/such/model.onnx");
    let mut server = ModelServer::spawn(&dir.write("demo_body.yaml", &yaml));
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(2), "{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("no/such/model.onnx") && log.contains("does not exist"), "{log}");
}
