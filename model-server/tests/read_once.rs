//! A part that carries what the gateway read of it (`ReadOnce`, set by
//! `reserve_decoded_pixels`) is not walked or parsed again: the study is ordered from its
//! headers and its pixels are taken from where the walk found them. The answer is the one the
//! model gives for the bytes read afresh.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arterys_gateway::dicom::ReadOnce;
use arterys_model_server::{Model, ModelConfig};
use common::{input_of, study, test_models};

fn model() -> Model {
    let yaml = "engine: tract\ninput: {layout: NCHW, size: [32, 32], batch: 1}\n\
                outputs: [{name: probability, kind: probability_mask, label: Body, threshold: 0.5}]\n";
    let mut c: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.model = Some(test_models().join("fixed.onnx"));
    c.check().unwrap();
    Model::load(c).unwrap()
}

fn answer(model: &Model, input: &arterys_gateway::InferenceInput) -> Result<(String, Vec<bytes::Bytes>), String> {
    let r = model.answer(input).map_err(|e| format!("{e:?}"))?;
    assert!(r.violations().is_empty(), "{:?}", r.violations());
    let (json, buffers) = r.into_parts();
    Ok((serde_json::to_string(&json).unwrap(), buffers))
}

#[test]
fn a_part_read_by_the_gateway_is_answered_from_what_it_read() {
    let model = model();
    let files = study("arterys/test_3d");
    let fresh = answer(&model, &input_of(files.clone())).unwrap();

    // The same files with their Part 10 magic broken: not DICOM when read afresh...
    let broken: Vec<Vec<u8>> = files
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f[128..132].copy_from_slice(b"XXXX");
            f
        })
        .collect();
    assert!(answer(&model, &input_of(broken.clone())).is_err());

    // ...but each part carrying what was read of the intact file is answered from that alone,
    // the pixel data (where the walk found it) aside, and the answer is the same.
    let input = input_of(broken);
    for (part, f) in input.dicom.iter().zip(&files) {
        assert!(part.facts.set(ReadOnce::read(f).expect("the test files are read")));
    }
    assert_eq!(answer(&model, &input).unwrap(), fresh);
}
