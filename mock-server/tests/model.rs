//! `mock-server --model-config` serves an ONNX model through the model server's library
//! (whose own tests cover engines, configs and answers in depth).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{parse_ok, study, MockServer};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

#[tokio::test]
async fn the_demo_model_answers_on_its_route() {
    let config = models().join("demo_body.yaml");
    let server = MockServer::start(&["--model-config", config.to_str().unwrap()]).await;
    let slices = study("arterys/test_3d");
    let (status, ct, body) = server.infer("/model", r#"{"inference_command": "get-probability-mask"}"#, &slices).await;
    let r = parse_ok(status, ct, &body);
    let part = &r.json().parts[0];
    assert_eq!((part.binary_type.as_str(), part.binary_data_shape.unwrap().depth), ("probability_mask", Some(3)));
    assert_eq!(r.json().study_ml_json.as_ref().unwrap()["label"], "Body");
    assert!(server.log_text().contains("warm-up batch"), "{}", server.log_text());
}

#[test]
fn the_server_refuses_to_start_on_a_bad_model() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--port", "0", "--model", "no/such/model.onnx", "--model-config"])
        .arg(models().join("demo_body.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("start-up failed") && err.contains("does not exist"), "{err}");
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_mock-server")).args(["--model", "x.onnx"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--model needs --model-config"));
}
