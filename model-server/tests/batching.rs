//! How images reach the engine: a short batch runs at its true size when the model's batch
//! dimension is free (padded with zeros only where the shape is fixed), with the same results.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use arterys_model_server::engine::onnxruntime::OrtEngine;
use arterys_model_server::engine::tract::TractEngine;
use arterys_model_server::{Engine, Model, ModelConfig, OutputTensor, RunError};
use common::{demo, input_of, ort_library, root};

/// An engine that records the number of values of every run, and can hide a free batch.
struct Recording {
    inner: Box<dyn Engine>,
    runs: Arc<Mutex<Vec<usize>>>,
    hide_free_batch: bool,
}

impl Engine for Recording {
    fn run(&self, input: &[f32]) -> Result<Vec<OutputTensor>, RunError> {
        self.runs.lock().unwrap().push(input.len());
        self.inner.run(input)
    }
    fn free_batch(&self) -> bool {
        !self.hide_free_batch && self.inner.free_batch()
    }
    fn run_images(&self, input: &[f32], images: usize) -> Result<Vec<OutputTensor>, RunError> {
        self.runs.lock().unwrap().push(input.len());
        self.inner.run_images(input, images)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

const CONFIG: &str = "input: {layout: NCHW, size: [64, 64], batch: 1}\noutputs:\n  - {name: probability, kind: probability_mask}\n  - {name: class_logits, kind: classification, activation: softmax, classes: [No body, Body]}\n";

fn config(engine: &str, batch: usize) -> ModelConfig {
    let mut c: ModelConfig = serde_yaml_ng::from_str(&format!("engine: {engine}\n{CONFIG}")).unwrap();
    c.input.batch = batch;
    c.model = Some(demo().join("demo_body.onnx"));
    c.check().unwrap();
    c
}

/// The values of every engine run and the answer's buffers and JSON, for `files`.
fn answer(
    engine: &str,
    batch: usize,
    hide_free_batch: bool,
    files: Vec<Vec<u8>>,
) -> (Vec<usize>, Vec<Vec<u8>>, String) {
    let c = config(engine, batch);
    let path = c.model.clone().unwrap();
    let inner: Box<dyn Engine> = match engine {
        "tract" => Box::new(TractEngine::load(&path, &c).unwrap()),
        _ => Box::new(OrtEngine::load(&path, &c).unwrap()),
    };
    let runs = Arc::new(Mutex::new(Vec::new()));
    let recording = Recording { inner, runs: Arc::clone(&runs), hide_free_batch };
    let r = Model::with_engine(Box::new(recording), c).answer(&input_of(files)).unwrap();
    assert!(r.violations().is_empty(), "{:?}", r.violations());
    let buffers = r.buffers().iter().map(|b| b.to_vec()).collect();
    let json =
        serde_json::to_string(&r.json().parts).unwrap() + &serde_json::to_string(&r.json().study_ml_json).unwrap();
    let runs = runs.lock().unwrap().clone();
    (runs, buffers, json)
}

#[test]
fn a_one_slice_request_runs_one_slice_when_the_batch_is_free() {
    ort_library();
    let plane = 64 * 64;
    let one = || vec![std::fs::read(root().join("testdata/dicom/pydicom/CT_small.dcm")).unwrap()];
    for engine in ["tract", "onnxruntime"] {
        let (runs, buffers, json) = answer(engine, 4, false, one());
        assert_eq!(runs, vec![plane], "{engine}: a one-slice request ran {runs:?} values");
        // The same request padded to the batch of 4 gives the same answer.
        let (padded, padded_buffers, padded_json) = answer(engine, 4, true, one());
        assert_eq!(padded, vec![4 * plane], "{engine}");
        assert_eq!(json, padded_json, "{engine}");
        assert_eq!(buffers.len(), padded_buffers.len());
        for (a, b) in buffers.iter().zip(&padded_buffers) {
            assert!(a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= 1), "{engine}: short and padded runs disagree");
        }
    }
}

#[test]
fn the_last_short_batch_of_a_study_runs_at_its_size_and_a_fixed_batch_is_padded() {
    // Three slices, batch 2 on the demo model (its N is free): runs of 2 and 1 slices.
    let (runs, _, _) = answer("tract", 2, false, common::study("arterys/test_3d"));
    assert_eq!(runs, vec![2 * 64 * 64, 64 * 64]);
    // fixed.onnx fixes [1, 1, 32, 32]: the engine says its batch is not free.
    let mut c: ModelConfig = serde_yaml_ng::from_str(
        "input: {layout: NCHW, size: [32, 32], batch: 1}\noutputs: [{name: probability, kind: heatmap}]\n",
    )
    .unwrap();
    c.model = Some(common::test_models().join("fixed.onnx"));
    assert!(!TractEngine::load(c.model.as_deref().unwrap(), &c).unwrap().free_batch());
    ort_library();
    assert!(!OrtEngine::load(c.model.as_deref().unwrap(), &c).unwrap().free_batch());
}
