//! The demo ONNX model under tract: equal to onnxruntime's reference output, and clear
//! start-up errors for bad models and configs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use arterys_mock_server::model::config::ModelConfig;
use arterys_mock_server::model::OnnxModel;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn f32s(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn config(yaml: &str) -> ModelConfig {
    let c: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.check().unwrap();
    c
}

const FIXTURE_CONFIG: &str = "input: {layout: NCHW, size: [64, 64], batch: 2}\noutputs:\n  - {name: probability, kind: probability_mask}\n  - {name: class_logits, kind: classification, classes: [a, b]}\n";

#[test]
fn tract_matches_onnxruntime_on_the_fixture() {
    let model = OnnxModel::load(&models().join("demo_body.onnx"), config(FIXTURE_CONFIG)).unwrap();
    let fx = models().join("fixture");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(fx.join("fixture.json")).unwrap()).unwrap();
    let outputs = model.run(f32s(&fx.join("input.f32"))).unwrap();
    for ((shape, got), name) in outputs.iter().zip(["probability", "class_logits"]) {
        let want = f32s(&fx.join(format!("{name}.f32")));
        let want_shape: Vec<usize> = serde_json::from_value(meta[name].clone()).unwrap();
        assert_eq!(shape, &want_shape, "{name}");
        assert_eq!(got.len(), want.len());
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        println!("{name}: largest difference from onnxruntime {worst:e}");
        assert!(worst <= 1e-4, "{name}: largest difference {worst} exceeds 1e-4");
    }
    // The reference itself is meaningful: a body in slice 0 (class 1), little in slice 1.
    let logits = &outputs[1].1;
    assert!(logits[1] > logits[0] && logits[2] > logits[3], "{logits:?}");
}

#[test]
fn bad_models_and_configs_stop_with_a_clear_message() {
    let model = models().join("demo_body.onnx");
    let err = |path: &Path, yaml: &str| OnnxModel::load(path, config(yaml)).err().expect("must fail");
    let e = err(&models().join("missing.onnx"), FIXTURE_CONFIG);
    assert!(e.contains("does not exist"), "{e}");
    let e = err(&models().join("demo_body.yaml"), FIXTURE_CONFIG);
    assert!(e.contains("is not a valid ONNX model"), "{e}");
    let e = err(
        &model,
        "input: {layout: NCDHW, size: [8, 64, 64]}\noutputs: [{name: probability, kind: probability_mask}]\n",
    );
    assert!(e.contains("contradicts the model"), "{e}");
    let e = err(&model, "input: {layout: NCHW, size: [64, 64]}\noutputs: [{name: logits, kind: probability_mask}]\n");
    assert!(e.contains("\"logits\" is not among the model's outputs"), "{e}");
    let e = err(
        &model,
        "input: {layout: NCHW, size: [64, 64], name: pixels}\noutputs: [{name: probability, kind: probability_mask}]\n",
    );
    assert!(e.contains("not the model's input"), "{e}");
    // Config-only mistakes are caught when the file is read.
    let bad: ModelConfig =
        serde_yaml_ng::from_str("input: {layout: NCHW, size: [64]}\noutputs: [{name: p, kind: heatmap}]\n").unwrap();
    assert!(bad.check().unwrap_err().contains("input.size must be 2 positive numbers"));
    let bad: ModelConfig =
        serde_yaml_ng::from_str("input: {layout: NCHW, size: [64, 64]}\noutputs: [{name: p, kind: classification}]\n")
            .unwrap();
    assert!(bad.check().unwrap_err().contains("needs classes"));
    assert!(serde_yaml_ng::from_str::<ModelConfig>("input: {layout: NHWC, size: [1, 1]}\noutputs: []\n").is_err());
    // The shipped config loads and names the model next to it.
    let c = ModelConfig::load(&models().join("demo_body.yaml")).unwrap();
    assert!(c.model.as_ref().unwrap().ends_with("demo_body.onnx"));
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

fn input_of(rel: &str) -> arterys_gateway::InferenceInput {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/dicom").join(rel);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    arterys_gateway::InferenceInput::from_dicom(
        Default::default(),
        files.iter().map(|f| bytes::Bytes::from(std::fs::read(f).unwrap())),
    )
}

fn fraction(buf: &[u8], cut: u8) -> f64 {
    buf.iter().filter(|&&v| v >= cut).count() as f64 / buf.len() as f64
}

#[test]
fn every_output_kind_and_both_layouts_on_real_studies() {
    let slice_model = models().join("demo_body.onnx");
    let run = |model: &Path, yaml: &str, rel: &str| {
        let m = OnnxModel::load(model, config(yaml)).unwrap();
        let r = m.answer(&input_of(rel)).unwrap();
        assert!(r.violations().is_empty(), "{yaml}: {:?}", r.violations());
        r
    };
    let base = "input: {layout: NCHW, size: [128, 128], batch: 2}\noutputs:\n";

    let r = run(
        &slice_model,
        &format!("{base}  - {{name: probability, kind: heatmap, label: Tissue}}\n"),
        "arterys/test_3d",
    );
    let p = &r.json().parts[0];
    assert_eq!((p.binary_type.as_str(), p.binary_data_shape.unwrap().depth), ("heatmap", Some(3)));
    assert!(fraction(&r.buffers()[0], 128) > 0.02);

    let r = run(
        &slice_model,
        &format!("{base}  - {{name: probability, kind: boxes, label: Body, threshold: 0.5}}\n"),
        "arterys/test_3d",
    );
    let boxes = r.json().bounding_boxes_2d.as_ref().unwrap();
    assert!(boxes.len() >= 3, "at least one box per slice: {boxes:?}");
    assert!(boxes.iter().all(|b| b.bottom_right[0] < 512 && b.bottom_right[1] < 512 && b.label == "Body"));

    let yaml = format!("{base}  - {{name: tissue_logits, kind: numeric_label_mask, activation: softmax, classes: [Background, Body]}}\n");
    let r = run(&slice_model, &yaml, "arterys/test_3d");
    let p = &r.json().parts[0];
    assert_eq!(p.label_map.as_ref().unwrap().get("1").map(String::as_str), Some("Body"));
    let values: std::collections::HashSet<u8> = r.buffers()[0].iter().copied().collect();
    assert_eq!(values, [0u8, 1].into_iter().collect());

    // 2D images (X-rays without geometry): one 2D part per image.
    let r = run(&slice_model, &format!("{base}  - {{name: probability, kind: probability_mask}}\n"), "arterys/test_2d");
    assert_eq!(r.json().parts.len(), 3);
    assert!(r.json().parts.iter().all(|p| p.dicom_image.is_some()));
    assert!(r.buffers().iter().all(|b| (0.02..0.98).contains(&fraction(b, 128))));

    // A volume model (NCDHW): the series is resampled to its depth and back.
    let yaml =
        "input: {layout: NCDHW, size: [8, 128, 128]}\noutputs:\n  - {name: probability, kind: probability_mask}\n";
    let r = run(&models().join("demo_volume.onnx"), yaml, "arterys/test_3d");
    let p = &r.json().parts[0];
    assert_eq!(p.binary_data_shape.unwrap().depth, Some(3));
    let f = fraction(&r.buffers()[0], 128);
    assert!((0.02..0.98).contains(&f), "volume mask covers {f}");
}
