//! Windowed inference against a NumPy reference written apart from the Rust code
//! (`windows_reference.py`): a synthetic anisotropic CT (0.7 x 0.7 x 2.5 mm, pydicom) through
//! generated convolution models, resampled to the model's spacing, normalized with the
//! dataset's statistics, padded, slid over with Gaussian-weighted windows (mirrored too), and
//! brought back to the original grid. Both engines agree with the reference within 0.01 of a
//! probability per voxel (the mask bytes are probabilities rounded to 1/255).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use arterys_gateway::InferenceResponse;
use arterys_model_server::{Model, ModelConfig};
use common::{f32s, input_of, ort_library, study_files_in, TempDir};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

/// Runs the reference script; panics with its output when it fails.
fn script(args: &[&str]) {
    let out = Command::new(common::python_with("numpy, onnx, onnxruntime, pydicom"))
        .arg(common::root().join("model-server/tests/windows_reference.py"))
        .args(args)
        .output()
        .expect("python3 with numpy, onnx, onnxruntime and pydicom (scripts/test's .venv)");
    assert!(out.status.success(), "windows_reference.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The test's models and CT, made by the script.
fn fixtures(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    script(&["make", &dir.0.display().to_string()]);
    dir
}

fn answer(dir: &Path, yaml: &str, files: Vec<Vec<u8>>) -> Result<InferenceResponse, String> {
    let mut c: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
    let name = if c.input.dims().len() == 3 { "model3d.onnx" } else { "model2d.onnx" };
    c.model = Some(dir.join(name));
    c.check().unwrap_or_else(|e| panic!("{e}"));
    let r = Model::load(c).unwrap().answer(&input_of(files)).map_err(|e| e.to_string())?;
    assert!(r.violations().is_empty(), "{:?}", r.violations());
    Ok(r)
}

/// The reference's probabilities for `config` (JSON), on the original grid.
fn reference(dir: &Path, config: &str) -> Vec<f32> {
    let out = dir.join("reference.f32");
    script(&["reference", &dir.display().to_string(), config, &out.display().to_string()]);
    f32s(&out)
}

/// Largest and mean absolute difference between a mask's bytes (as probabilities) and `want`.
fn compare(mask: &[u8], want: &[f32]) -> (f32, f32) {
    assert_eq!(mask.len(), want.len());
    let d: Vec<f32> = mask.iter().zip(want).map(|(&b, &p)| (f32::from(b) / 255.0 - p).abs()).collect();
    (d.iter().copied().fold(0.0, f32::max), d.iter().sum::<f32>() / d.len() as f32)
}

const VOLUME: &str = "input: {layout: NCDHW, patch: [16, 32, 32], overlap: 0.5, batch: 2, tta: mirror}
preprocess:
  spacing: [1.5, 1.5, 1.5]
  normalize: {clip: [-200, 400], mean: 50, std: 150}
  pad_to_multiple: 8
outputs:
  - {name: logits, kind: probability_mask, activation: softmax, channel: 1}
  - {name: logits, kind: numeric_label_mask, activation: softmax, classes: [Background, Tissue]}
";
const VOLUME_JSON: &str = r#"{"patch": [16, 32, 32], "spacing": [1.5, 1.5, 1.5], "clip": [-200, 400], "mean": 50, "std": 150, "overlap": 0.5, "tta": "mirror", "pad_to_multiple": 8}"#;

#[test]
fn a_volume_model_at_its_spacing_matches_the_numpy_reference() {
    ort_library();
    let dir = fixtures("windows3d");
    let files = study_files_in(&dir.0.join("ct"));
    let want = reference(&dir.0, VOLUME_JSON);
    for engine in ["engine: tract\n", "engine: onnxruntime\n"] {
        let r = answer(&dir.0, &format!("{engine}{VOLUME}"), files.clone()).unwrap();
        let parts = &r.json().parts;
        assert_eq!(parts.len(), 2, "one 3D part per output");
        let shape = parts[0].binary_data_shape.unwrap();
        assert_eq!((shape.depth, shape.height, shape.width), (Some(40), 96, 96), "the original grid");
        let (worst, mean) = compare(&r.buffers()[0], &want);
        println!("{}: largest difference from the reference {worst:.4}, mean {mean:.5}", engine.trim());
        assert!(worst <= 0.01 && mean <= 0.003, "{engine}: {worst} / {mean}");
        // Labels come back by the nearest voxel: they agree with the probability's half.
        let labels = &r.buffers()[1];
        let agree = labels.iter().zip(&want).filter(|(&l, &p)| (l == 1) == (p >= 0.5)).count();
        assert!(agree as f64 >= 0.97 * want.len() as f64, "{engine}: labels agree on {agree} of {}", want.len());
        assert!(labels.contains(&1) && labels.contains(&0));
    }
}

#[test]
fn a_slice_model_on_large_images_matches_the_numpy_reference() {
    let dir = fixtures("windows2d");
    let files = study_files_in(&dir.0.join("ct"));
    let yaml = "input: {layout: NCHW, patch: [32, 32], overlap: 0.25, batch: 3}\npreprocess:\n  spacing: [1.0, 1.0]\n  normalize: {clip: [-200, 400], mean: 50, std: 150}\noutputs:\n  - {name: logits, kind: probability_mask, activation: softmax, channel: 1}\n";
    let r = answer(&dir.0, yaml, files).unwrap();
    let want = reference(
        &dir.0,
        r#"{"patch": [32, 32], "spacing": [2.5, 1.0, 1.0], "clip": [-200, 400], "mean": 50, "std": 150, "overlap": 0.25}"#,
    );
    let (worst, mean) = compare(&r.buffers()[0], &want);
    println!("2D windows: largest difference from the reference {worst:.4}, mean {mean:.5}");
    assert!(worst <= 0.01 && mean <= 0.003, "{worst} / {mean}");
}

#[test]
fn a_gantry_tilted_series_is_refused_with_its_reason() {
    let dir = fixtures("windows-tilt");
    let files: Vec<Vec<u8>> = study_files_in(&dir.0.join("ct"))
        .into_iter()
        .enumerate()
        .map(|(k, bytes)| {
            let mut obj = dicom_object::from_reader(&bytes[128..]).unwrap();
            let position = [0.3 * k as f64, 0.0, -2.5 * k as f64];
            let ds: Vec<String> = position.iter().map(f64::to_string).collect();
            obj.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, PrimitiveValue::Strs(ds.into())));
            let mut out = Vec::new();
            obj.write_all(&mut out).unwrap();
            out
        })
        .collect();
    let e = answer(&dir.0, VOLUME, files).err().unwrap();
    assert!(e.contains("gantry-tilted") && e.contains("resample it to an orthogonal grid first"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn windowed_keys_are_checked() {
    let parse = |yaml: &str| {
        let c: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
        c.check().err().map(|e| e.to_string())
    };
    let base = "model: m.onnx\noutputs: [{name: p, kind: heatmap}]\n";
    assert_eq!(
        parse(&format!("{base}input: {{layout: NCDHW, size: [8, 8, 8]}}\npreprocess: {{spacing: [1, 1, 1]}}\n")),
        Some("preprocess.spacing: needs input.patch (the window the model runs)".into())
    );
    assert_eq!(
        parse(&format!("{base}input: {{layout: NCDHW, patch: [8, 8, 8], overlap: 0.95}}\n")),
        Some("input.overlap: 0.95 is outside 0..0.9".into())
    );
    assert_eq!(
        parse(&format!("{base}input: {{layout: NCHW, patch: [8, 8]}}\npreprocess: {{spacing: [1, 1, 1]}}\n")),
        Some("preprocess.spacing: must be 2 positive numbers (mm) for Nchw".into())
    );
    assert_eq!(
        parse(&format!("{base}input: {{layout: NCDHW, patch: [8, 8, 8]}}\npreprocess: {{normalize: {{clip: [5, 1], mean: 0, std: 1}}}}\n")),
        Some("preprocess.normalize.clip: must be [lo, hi] with lo < hi".into())
    );
    assert_eq!(parse(&format!("{base}input: {{layout: NCDHW, patch: [8, 8, 8], batch: 4, tta: mirror}}\n")), None);
}

/// Resampling to a finer spacing multiplies the voxels the handler holds as floats (the
/// planes, the volume, the fused sums): they count against the memory budget before they are
/// made. A 0.7 MB study and its floats at its own spacing fit a 16 MiB budget; at 0.35 mm
/// in-plane its fused sums do not: 413 with the reason, and the server serves the same study at its own spacing next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_float_volume_at_a_finer_spacing_counts_against_the_memory_budget() {
    let dir = fixtures("windows-budget");
    let files = study_files_in(&dir.0.join("ct"));
    let config = |name: &str, spacing: &str| {
        let yaml =
            VOLUME.replace("spacing: [1.5, 1.5, 1.5]", &format!("spacing: {spacing}")).replace(", tta: mirror", "");
        let model = dir.0.join("model3d.onnx");
        dir.write(name, &format!("model: {}\nengine: tract\n{yaml}", model.display()))
    };
    for (name, spacing, want) in [("fine.yaml", "[2.5, 0.35, 0.35]", 413), ("own.yaml", "[2.5, 0.7, 0.7]", 200)] {
        let server = common::ModelServer::spawn_with(&config(name, spacing), &["--memory-budget-mib", "16"], &[]);
        server.wait_ready(std::time::Duration::from_secs(60)).await;
        let (status, _, body) = server.infer("/", "{}", &files).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, want, "{spacing}: {text}");
        if want == 413 {
            assert!(text.contains("memory budget") && !text.trim().contains('\n'), "{text}");
        }
    }
}
