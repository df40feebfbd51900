//! The shipped configs and the documented snippets: every file of `model-server/configs/`
//! loads and answers a study, `demo.yaml` runs on tract with no onnxruntime library, every
//! YAML snippet of the READMEs is a config the server accepts, and config errors name the
//! file, line and column.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use arterys_model_server::config::EngineKind;
use arterys_model_server::{Model, ServerConfig};
use common::{input_of, parse_ok, root, study, ModelServer, TempDir};

fn configs() -> Vec<PathBuf> {
    let dir = root().join("model-server/configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    files
}

#[test]
fn every_shipped_config_loads_its_model_and_answers_a_study() {
    let files = configs();
    assert!(files.len() >= 2, "{files:?}");
    for file in files {
        let config = ServerConfig::load(&file).unwrap_or_else(|e| panic!("{e}"));
        for m in config.models {
            if m.engine == EngineKind::Onnxruntime {
                common::ort_library();
            }
            let model = Model::load(m).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let r = model.answer(&input_of(study("arterys/test_3d"))).unwrap();
            assert!(r.violations().is_empty(), "{}: {:?}", file.display(), r.violations());
            assert!(!r.json().parts.is_empty(), "{}: no masks", file.display());
        }
    }
}

#[tokio::test]
async fn the_demo_config_runs_on_tract_with_no_onnxruntime_library() {
    let demo = root().join("model-server/configs/demo.yaml");
    let config = ServerConfig::load(&demo).unwrap();
    assert_eq!(config.models[0].engine, EngineKind::Tract);
    let server = ModelServer::spawn_with(&demo, &[], &[("ORT_DYLIB_PATH", "")]);
    let seen = server.wait_ready(Duration::from_secs(60)).await;
    assert_eq!(seen.last().map(String::as_str), Some("READY"), "{}", server.log_text());
    let slices = study("arterys/test_3d");
    let (status, ct, body) = server.infer("/", r#"{"inference_command": "get-probability-mask"}"#, &slices).await;
    let r = parse_ok(status, ct, &body);
    assert_eq!(r.json().parts[0].binary_type.as_str(), "probability_mask");
    assert_eq!(r.json().study_ml_json.as_ref().unwrap()["label"], "Body");
}

/// The fenced YAML blocks of a Markdown file.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn every_yaml_snippet_of_the_readmes_is_an_accepted_config() {
    let dir = TempDir::new("snippets");
    let mut loaded = 0;
    for readme in ["model-server/README.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(readme)).unwrap();
        for (i, block) in yaml_blocks(&text).iter().enumerate() {
            let file = dir.write(&format!("snippet{i}.yaml"), block);
            ServerConfig::load(&file).unwrap_or_else(|e| panic!("{readme}, YAML block {}: {e}\n{block}", i + 1));
            loaded += 1;
        }
    }
    assert!(loaded >= 2, "only {loaded} snippets found");
}

#[test]
fn config_errors_name_the_file_line_and_column() {
    let dir = TempDir::new("config-errors");
    let unknown = dir.write("unknown.yaml", "model: m.onnx\ninput:\n  layout: NCHW\n  sise: [64, 64]\noutputs: []\n");
    let e = ServerConfig::load(&unknown).err().unwrap().to_string();
    assert!(e.starts_with(&format!("model config {}:4:3: input: unknown field `sise`", unknown.display())), "{e}");
    let wrong = dir.write(
        "rule.yaml",
        "model: m.onnx\ninput: {layout: NCHW, size: [64, 0]}\noutputs: [{name: p, kind: heatmap}]\n",
    );
    let e = ServerConfig::load(&wrong).err().unwrap().to_string();
    assert_eq!(e, format!("model config {}:2:23: input.size: must be 2 positive numbers for Nchw", wrong.display()));
    let listed = dir.write(
        "list.yaml",
        "models:\n  - route: /a\n    model: a.onnx\n    input: {layout: NCHW, size: [8, 8]}\n    outputs: [{name: p, kind: heatmap}]\n  - route: /b\n    model: b.onnx\n    input: {layout: NCHW, size: [8, 8], batch: 0}\n    outputs: [{name: p, kind: heatmap}]\n",
    );
    let e = ServerConfig::load(&listed).err().unwrap().to_string();
    assert_eq!(e, format!("model config {}:8:41: models[1].input.batch: must be at least 1", listed.display()));
}
