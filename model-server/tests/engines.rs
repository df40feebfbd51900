//! tract and onnxruntime give the same outputs as Python's onnxruntime on the demo models:
//! the committed fixture, and a live Python run in the same test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use arterys_model_server::{Model, ModelConfig};
use common::{demo, f32s, ort_library, worst, TempDir};

/// A config for `model` (the YAML gives everything else).
fn config(model: &Path, yaml: &str) -> ModelConfig {
    let mut c: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.model = Some(model.to_owned());
    c.check().unwrap();
    c
}

const FIXTURE: &str = "input: {layout: NCHW, size: [64, 64], batch: 2}\noutputs:\n  - {name: probability, kind: probability_mask}\n  - {name: class_logits, kind: classification, classes: [a, b]}\n";

fn engines() -> [&'static str; 2] {
    ort_library();
    ["engine: tract\n", "engine: onnxruntime\n"]
}

#[test]
fn both_engines_match_the_onnxruntime_fixture() {
    let fx = demo().join("fixture");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(fx.join("fixture.json")).unwrap()).unwrap();
    let input = f32s(&fx.join("input.f32"));
    let mut results = Vec::new();
    for engine in engines() {
        for threads in ["threads: 1\n", "threads: 2\n"] {
            let model =
                Model::load(config(&demo().join("demo_body.onnx"), &format!("{engine}{threads}{FIXTURE}"))).unwrap();
            let outputs = model.run(&input).unwrap();
            for ((shape, got), name) in outputs.iter().zip(["probability", "class_logits"]) {
                let want_shape: Vec<usize> = serde_json::from_value(meta[name].clone()).unwrap();
                assert_eq!(shape, &want_shape, "{engine}{name}");
                let d = worst(got, &f32s(&fx.join(format!("{name}.f32"))));
                println!("{} {threads} {name}: largest difference from the fixture {d:e}", model.describe());
                assert!(d <= 1e-4, "{engine}{name}: {d} exceeds 1e-4");
            }
            // The reference itself is meaningful: a body in slice 0 (class 1), little in slice 1.
            let logits = &outputs[1].1;
            assert!(logits[1] > logits[0] && logits[2] > logits[3], "{logits:?}");
            results.push(outputs);
        }
    }
    for other in &results[1..] {
        for (a, b) in results[0].iter().zip(other) {
            assert!(worst(&a.1, &b.1) <= 1e-4);
        }
    }
}

/// Deterministic input in 0..1 (a xorshift sequence).
fn input(n: usize) -> Vec<f32> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Python's onnxruntime on `model` with `input` of `shape`: the first output.
fn python_onnxruntime(model: &Path, shape: &[usize], input: &[f32]) -> Vec<f32> {
    let dir = TempDir::new("python-ort");
    let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.0.join("in.f32"), bytes).unwrap();
    let script = "import sys, numpy as np, onnxruntime as ort\n\
        m, d, shape = sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3].split(',')]\n\
        s = ort.InferenceSession(m, providers=['CPUExecutionProvider'])\n\
        x = np.fromfile(d + '/in.f32', dtype='<f4').reshape(shape)\n\
        s.run(None, {s.get_inputs()[0].name: x})[0].astype('<f4').tofile(d + '/out.f32')\n";
    let shape: Vec<String> = shape.iter().map(usize::to_string).collect();
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(model)
        .arg(&dir.0)
        .arg(shape.join(","))
        .output()
        .expect("python3 must be on PATH (scripts/test puts .venv's first)");
    assert!(
        out.status.success(),
        "Python onnxruntime failed (scripts/test installs it into .venv): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    f32s(&dir.0.join("out.f32"))
}

#[test]
fn both_engines_match_live_python_onnxruntime_on_the_volume_model() {
    let model = demo().join("demo_volume.onnx");
    let yaml = "input: {layout: NCDHW, size: [6, 24, 40]}\noutputs: [{name: probability, kind: probability_mask}]\n";
    let shape = [1, 1, 6, 24, 40];
    let x = input(shape.iter().product());
    let want = python_onnxruntime(&model, &shape, &x);
    for engine in engines() {
        let m = Model::load(config(&model, &format!("{engine}{yaml}"))).unwrap();
        let got = m.run(&x).unwrap();
        assert_eq!(got[0].0, shape.to_vec());
        let d = worst(&got[0].1, &want);
        println!("{}: largest difference from Python onnxruntime {d:e}", m.describe());
        assert!(d <= 1e-4, "{engine}: {d} exceeds 1e-4");
    }
}
