//! The real `model-server` binary on loopback, driven by a real HTTP client: one route per
//! model, READY only after every model is loaded and warmed up, both engines giving the same
//! masks, and images the model cannot take answered with 422.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{demo, ort_library, parse_ok, study, ModelServer, TempDir};

const REQUEST: &str = r#"{"inference_command": "get-probability-mask"}"#;

fn three_models(dir: &TempDir) -> std::path::PathBuf {
    let (body, volume) = (demo().join("demo_body.onnx"), demo().join("demo_volume.onnx"));
    let block = "    input: {layout: NCHW, size: [128, 128], batch: 2}\n    outputs:\n      - {name: probability, kind: probability_mask, label: Body}\n      - {name: class_logits, kind: classification, activation: softmax, classes: [No body, Body]}\n";
    let yaml = format!(
        "models:\n  - route: /body\n    model: {b}\n    threads: 2\n{block}  - route: /body-ort\n    model: {b}\n    engine: onnxruntime\n    library: {lib}\n    threads: 2\n{block}  - route: /volume\n    model: {v}\n    input: {{layout: NCDHW, size: [8, 128, 128]}}\n    outputs: [{{name: probability, kind: heatmap}}]\n",
        b = body.display(),
        v = volume.display(),
        lib = ort_library().display(),
    );
    dir.write("models.yaml", &yaml)
}

#[tokio::test]
async fn every_model_on_its_route_and_ready_only_after_warm_up() {
    let dir = TempDir::new("routes");
    let (server, seen) = ModelServer::start(&three_models(&dir)).await;
    assert!(seen.iter().all(|s| s == "READY" || s.contains("LOADING")), "{seen:?}");
    let log = server.log_text();
    let ready_at = log.find("READY").expect("READY logged");
    for route in ["/body", "/body-ort", "/volume"] {
        let warmed = log.find(&format!("on {route}: ")).unwrap_or_else(|| panic!("{route} not loaded: {log}"));
        assert!(warmed < ready_at, "{route} warmed up after READY: {log}");
        assert!(log[warmed..].lines().next().unwrap().contains("warm-up batch"), "{log}");
    }
    assert!(log.contains("on /body-ort: onnxruntime (libonnxruntime.so"), "{log}");

    let slices = study("arterys/test_3d");
    let tract = parse_ok_of(&server, "/body", &slices).await;
    let ort = parse_ok_of(&server, "/body-ort", &slices).await;
    for r in [&tract, &ort] {
        let part = &r.json().parts[0];
        assert_eq!(part.binary_type.as_str(), "probability_mask");
        assert_eq!(part.binary_data_shape.unwrap().depth, Some(slices.len() as u32));
        let body = r.buffers()[0].iter().filter(|&&v| v >= 128).count() as f64 / r.buffers()[0].len() as f64;
        assert!((0.05..0.95).contains(&body), "body fraction {body}");
        assert_eq!(r.json().study_ml_json.as_ref().unwrap()["label"], "Body");
    }
    // The same model under both engines: the same mask, to a rounding step.
    let worst = tract.buffers()[0].iter().zip(ort.buffers()[0].iter()).map(|(a, b)| a.abs_diff(*b)).max();
    assert!(worst <= Some(1), "masks differ by {worst:?}");

    let volume = parse_ok_of(&server, "/volume", &slices).await;
    assert_eq!(volume.json().parts[0].binary_type.as_str(), "heatmap");
    // A route no model serves.
    let (status, _, _) = server.infer("/nothing", REQUEST, &slices).await;
    assert_eq!(status, 404);
}

async fn parse_ok_of(server: &ModelServer, route: &str, slices: &[Vec<u8>]) -> arterys_gateway::InferenceResponse {
    let (status, ct, body) = server.infer(route, REQUEST, slices).await;
    parse_ok(status, ct, &body)
}

#[tokio::test]
async fn an_image_the_model_cannot_take_is_a_422() {
    let dir = TempDir::new("422");
    let yaml = format!(
        "model: {}\ninput: {{layout: NCHW, size: [64, 64], batch: 4}}\noutputs: [{{name: probability, kind: probability_mask}}]\n",
        demo().join("demo_body.onnx").display()
    );
    let (server, _) = ModelServer::start(&dir.write("m.yaml", &yaml)).await;
    let truncated = std::fs::read(common::root().join("testdata/dicom/pydicom/MR_truncated.dcm")).unwrap();
    let (status, _, body) = server.infer("/", REQUEST, &[truncated]).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 422, "{text}");
    // Refused when its headers are read: the pixel data declares more than the file has.
    assert!(text.contains("truncated"), "{text}");
    // The service goes on answering.
    let (status, ct, body) = server.infer("/", REQUEST, &study("arterys/test_2d")).await;
    assert_eq!(parse_ok(status, ct, &body).json().parts.len(), 3);
}
