//! Ensembles: the files of `ensemble:` run on the same input and their probabilities are
//! averaged; both engines agree with the average Python's onnxruntime computes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use arterys_model_server::{Model, ModelConfig};
use common::{f32s, input_of, ort_library, study, worst, TempDir};

const AVERAGE: &str = "import sys, numpy as np, onnxruntime as ort
models, folder, shape = sys.argv[1].split(','), sys.argv[2], [int(v) for v in sys.argv[3].split(',')]
x = np.fromfile(folder + '/in.f32', dtype='<f4').reshape(shape)
acc = 0
for m in models:
    y = ort.InferenceSession(m, providers=['CPUExecutionProvider']).run(['logits'], {'image': x})[0].astype(np.float64)
    e = np.exp(y - y.max(axis=1, keepdims=True))
    acc = acc + e / e.sum(axis=1, keepdims=True)
(acc / len(models)).astype('<f4').tofile(folder + '/out.f32')
";

#[test]
fn an_ensemble_averages_its_members_probabilities_as_onnxruntime_does() {
    ort_library();
    let dir = TempDir::new("ensemble");
    let made = Command::new(common::python_with("numpy, onnx, onnxruntime"))
        .arg(common::root().join("model-server/tests/windows_reference.py"))
        .arg("make")
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let folds: Vec<String> = (0..3).map(|f| dir.0.join(format!("fold{f}.onnx")).display().to_string()).collect();
    let yaml = format!(
        "ensemble: [{}]\nthreads: 1\ninput: {{layout: NCHW, size: [32, 32], batch: 2}}\noutputs:\n  - {{name: logits, kind: probability_mask, activation: softmax, channel: 1}}\n",
        folds.join(", ")
    );
    // A deterministic input in -1..1.
    let mut state = 0x2545_f491_u32;
    let input: Vec<f32> = (0..2 * 32 * 32)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    std::fs::write(dir.0.join("in.f32"), input.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let out = Command::new(common::python_with("numpy, onnx, onnxruntime"))
        .args(["-c", AVERAGE, &folds.join(","), &dir.0.display().to_string(), "2,1,32,32"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = f32s(&dir.0.join("out.f32"));
    for engine in ["tract", "onnxruntime"] {
        let c: ModelConfig = serde_yaml_ng::from_str(&format!("engine: {engine}\n{yaml}")).unwrap();
        c.check().unwrap();
        let model = Model::load(c).unwrap();
        assert!(model.describe().starts_with("ensemble of 3 models"), "{}", model.describe());
        let got = model.run(&input).unwrap();
        assert_eq!(got[0].0, vec![2, 2, 32, 32]);
        let d = worst(&got[0].1, &want);
        println!("{engine}: largest difference from onnxruntime's average {d:e}");
        assert!(d <= 1e-5, "{engine}: {d}");
        // One member alone differs from the average: the members really are averaged.
        let mut single: ModelConfig = serde_yaml_ng::from_str(&format!("engine: {engine}\n{yaml}")).unwrap();
        single.model = Some(single.ensemble[0].clone());
        single.ensemble.clear();
        let alone = Model::load(single).unwrap().run(&input).unwrap();
        assert!(worst(&alone[0].1, &got[0].1) > 0.05);
        // Through a request: the mask is the averaged probability, with no second softmax.
        let r = model.answer(&input_of(study("arterys/test_3d"))).unwrap();
        assert!(r.violations().is_empty());
        let mask = &r.buffers()[0];
        assert!(mask.iter().any(|&v| v > 20) && mask.iter().any(|&v| v < 235), "probabilities spread over 0..1");
    }
}

#[test]
fn an_ensemble_replaces_model() {
    let base = "input: {layout: NCHW, size: [8, 8]}\noutputs: [{name: p, kind: heatmap}]\n";
    let check = |yaml: String| {
        let c: ModelConfig = serde_yaml_ng::from_str(&yaml).unwrap();
        c.check().err().map(|e| e.to_string())
    };
    assert_eq!(
        check(format!("model: a.onnx\nensemble: [b.onnx, c.onnx]\n{base}")),
        Some("ensemble: replaces model: give one of them".into())
    );
    assert_eq!(
        check(format!("ensemble: [b.onnx]\n{base}")),
        Some("ensemble: lists at least two files (one is `model:`)".into())
    );
    assert_eq!(check(format!("ensemble: [b.onnx, c.onnx]\n{base}")), None);
}
