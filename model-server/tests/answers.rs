//! Every output kind and both layouts on real studies, under both engines: what the viewer
//! gets from a model (masks of the images' size, boxes, label maps, classification).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use arterys_gateway::{InferenceInput, InferenceResponse, RequestPart};
use arterys_model_server::{Model, ModelConfig};
use common::{demo, ort_library, root};

fn input_of(rel: &str) -> InferenceInput {
    let dir = root().join("testdata/dicom").join(rel);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    InferenceInput {
        request: Default::default(),
        json: bytes::Bytes::from_static(b"{}"),
        dicom: files
            .iter()
            .enumerate()
            .map(|(i, f)| RequestPart::new(i + 1, Default::default(), std::fs::read(f).unwrap().into()))
            .collect(),
        attachments: vec![],
        input_hash: String::new(),
        route: "/".into(),
        study_dir: None,
    }
}

fn fraction(buf: &[u8], cut: u8) -> f64 {
    buf.iter().filter(|&&v| v >= cut).count() as f64 / buf.len() as f64
}

/// Answers the study with `model` under `yaml`, with each engine; the answers agree to a
/// rounding step of the mask bytes, and have no protocol violation.
fn run(model: &Path, yaml: &str, rel: &str) -> InferenceResponse {
    ort_library();
    let answers: Vec<InferenceResponse> = ["engine: tract\n", "engine: onnxruntime\n"]
        .iter()
        .map(|engine| {
            let mut c: ModelConfig = serde_yaml_ng::from_str(&format!("{engine}{yaml}")).unwrap();
            c.model = Some(model.to_owned());
            c.check().unwrap();
            let r = Model::load(c).unwrap().answer(&input_of(rel)).unwrap();
            assert!(r.violations().is_empty(), "{yaml}: {:?}", r.violations());
            r
        })
        .collect();
    let (a, b) = (&answers[0], &answers[1]);
    assert_eq!(a.json().parts.len(), b.json().parts.len());
    for (x, y) in a.buffers().iter().zip(b.buffers()) {
        assert!(x.iter().zip(y.iter()).all(|(p, q)| p.abs_diff(*q) <= 1), "{yaml}: engines disagree");
    }
    answers.into_iter().next().unwrap()
}

#[test]
fn every_output_kind_and_both_layouts_on_real_studies() {
    let slice_model = demo().join("demo_body.onnx");
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

    let yaml = format!(
        "{base}  - {{name: class_logits, kind: classification, activation: softmax, classes: [No body, Body]}}\n"
    );
    let r = run(&slice_model, &yaml, "arterys/test_3d");
    assert_eq!(r.json().study_ml_json.as_ref().unwrap()["label"], "Body");
    assert_eq!(r.json().series_ml_json.as_ref().unwrap().len(), 1);

    // 2D images (X-rays without geometry): one 2D part per image.
    let r = run(&slice_model, &format!("{base}  - {{name: probability, kind: probability_mask}}\n"), "arterys/test_2d");
    assert_eq!(r.json().parts.len(), 3);
    assert!(r.json().parts.iter().all(|p| p.dicom_image.is_some()));
    assert!(r.buffers().iter().all(|b| (0.02..0.98).contains(&fraction(b, 128))));

    // A volume model (NCDHW): the series is resampled to its depth and back.
    let yaml =
        "input: {layout: NCDHW, size: [8, 128, 128]}\noutputs:\n  - {name: probability, kind: probability_mask}\n";
    let r = run(&demo().join("demo_volume.onnx"), yaml, "arterys/test_3d");
    let p = &r.json().parts[0];
    assert_eq!(p.binary_data_shape.unwrap().depth, Some(3));
    let f = fraction(&r.buffers()[0], 128);
    assert!((0.02..0.98).contains(&f), "volume mask covers {f}");
}

#[test]
fn batches_shorter_than_the_batch_size_and_longer_series_give_the_same_masks() {
    // 3 slices in batches of 1, 2 and 4 (the last batch padded): the same answer.
    let model = demo().join("demo_body.onnx");
    let answers: Vec<Vec<u8>> = [1, 2, 4]
        .iter()
        .map(|batch| {
            let yaml = format!("input: {{layout: NCHW, size: [96, 96], batch: {batch}}}\noutputs: [{{name: probability, kind: probability_mask}}]\n");
            run(&model, &yaml, "arterys/test_3d").buffers()[0].to_vec()
        })
        .collect();
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
}
