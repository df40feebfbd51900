//! One model config, every platform: the Arterys test tool's client, the real MONAI Label
//! Python client, the MedPerf MLCube `infer` command (as `mlcube` parses mlcube.yaml and
//! builds its arguments) and a real MD.ai `predict` call, all with `mlcube/model.yaml`, giving
//! the same mask voxels. The Python side is `tests/platforms.py` (nibabel checks the labels'
//! geometry); this test starts the server, takes the Arterys answer and runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use arterys_inference_test_tool::{check, client, input, output};
use common::{root, ModelServer, TempDir};

/// The Arterys answer for a study through the test tool's client and checks: the first
/// part's label, threshold, shape and mask bytes.
async fn arterys(server: &ModelServer, study_dir: &Path) -> (serde_json::Value, Vec<u8>) {
    let study = input::load(study_dir, |_| {}).unwrap();
    let request = client::Request {
        url: format!("http://{}/", server.addr),
        json: serde_json::json!({}),
        attachments: Vec::new(),
        dicom: study.instances.iter().map(|i| (output::file_name(&i.path), i.bytes.clone())).collect(),
        json_only: false,
    };
    let exchange = client::send(request, output::bar(0, "sending", true)).await.unwrap();
    let checked = check::check(&exchange, &study);
    assert!(checked.violations.is_empty(), "Arterys answer: {:?}", checked.violations);
    let response = checked.response.unwrap();
    let part = &response.json().parts[0];
    assert_eq!(part.binary_type.as_str(), "probability_mask");
    let meta = serde_json::to_value(part).unwrap();
    (meta, response.buffers()[0].to_vec())
}

#[tokio::test]
async fn one_config_answers_arterys_monailabel_mlcube_and_mdai_with_the_same_voxels() {
    let python = common::python_with("monailabel.client, nibabel, mlcube, mlcube_docker, pydicom, numpy, requests");
    let dir = TempDir::new("platforms");
    let config = root().join("mlcube/model.yaml");
    let (server, _) = ModelServer::start(&config).await;
    let study = root().join("testdata/dicom/arterys/test_3d");
    let (meta, mask) = arterys(&server, &study).await;
    let positive = mask.iter().filter(|&&v| v >= 128).count();
    assert!(positive > 1000 && positive < mask.len() - 1000, "a mask worth comparing: {positive} of {}", mask.len());
    std::fs::write(dir.0.join("arterys.json"), meta.to_string()).unwrap();
    std::fs::write(dir.0.join("arterys.bin"), &mask).unwrap();
    let out = Command::new(&python)
        .arg(root().join("model-server/tests/platforms.py"))
        .env("MODEL_SERVER_URL", format!("http://{}", server.addr))
        .env("MODEL_SERVER_BIN", env!("CARGO_BIN_EXE_model-server"))
        .env("MODEL_SERVER_CONFIG", &config)
        .env("REPO_ROOT", root())
        .env("WORK_DIR", &dir.0)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tests/platforms.py failed:\n{text}\nserver log:\n{}", server.log_text());
    println!("{text}");
    for platform in ["MONAI Label", "MLCube", "MD.ai"] {
        assert!(text.contains(&format!("{platform}: same voxels")), "{platform} not compared:\n{text}");
    }
}

/// `model-server infer` fails with a non-zero status and a one-line reason.
#[test]
fn mlcube_infer_fails_clearly() {
    let dir = TempDir::new("mlcube-errors");
    let params = dir.write("parameters.yaml", "route: /\n");
    let empty = dir.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_model-server"))
            .args(args)
            .env_remove("MODEL_SERVER_CONFIG")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let config = root().join("mlcube/model.yaml");
    let (p, e, o) = (params.to_str().unwrap(), empty.to_str().unwrap(), dir.0.join("out"));
    let o = o.to_str().unwrap();
    let (code, err) = run(&[
        "infer",
        "--data_path",
        e,
        "--parameters_file",
        p,
        "--output_path",
        o,
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no study in"), "{err}");
    let (code, err) = run(&["infer", "--data_path", e, "--parameters_file", p, "--output_path", o]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no model config"), "{err}");
    let bad = dir.write("bad.yaml", "batch_size: 4\n");
    let (code, err) = run(&["infer", "--data_path", e, "--parameters_file", bad.to_str().unwrap(), "--output_path", o]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("parameters file") && err.contains("batch_size"), "{err}");
    // A kind MLCube cannot express: heatmaps only.
    let model = root().join("mock-server/models/demo_body.onnx");
    let yaml = format!(
        "model: {}\ninput: {{layout: NCHW, size: [64, 64]}}\noutputs: [{{name: probability, kind: heatmap}}]\n",
        model.display()
    );
    let heat = dir.write("heat.yaml", &yaml);
    let data = root().join("testdata/dicom/arterys");
    let (d, h) = (data.to_str().unwrap(), heat.to_str().unwrap());
    let (code, err) = run(&["infer", "--data_path", d, "--parameters_file", p, "--output_path", o, "--config", h]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("gives only heatmaps"), "{err}");
}
