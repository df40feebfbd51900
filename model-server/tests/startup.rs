//! Start-up stops, naming the key and the reason, on every model or config that cannot work:
//! missing and corrupt files, dtypes, input counts, ranks, fixed batch and sizes, outputs,
//! classes, the onnxruntime library and device. Each with real (small, generated) models and
//! both engines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use arterys_model_server::{LoadError, Model, ModelConfig, ServerConfig};
use common::{demo, ort_library, test_models, ModelServer, TempDir};

fn config(model: &Path, yaml: &str) -> ModelConfig {
    let mut c: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.model = Some(model.to_owned());
    c.check().unwrap();
    c
}

const PLAIN: &str =
    "input: {layout: NCHW, size: [32, 32], batch: 2}\noutputs: [{name: probability, kind: probability_mask}]\n";

/// The load error under each engine; both must fail, and with the same key.
fn fails(model: &Path, yaml: &str) -> Vec<String> {
    ort_library();
    ["engine: tract\n", "engine: onnxruntime\n"]
        .iter()
        .map(|engine| match Model::load(config(model, &format!("{engine}{yaml}"))) {
            Ok(_) => panic!("{engine}{yaml}: must not load"),
            Err(e) => e.to_string(),
        })
        .collect()
}

fn assert_all(errors: &[String], want: &[&str]) {
    for e in errors {
        assert!(want.iter().all(|w| e.contains(w)), "{e:?} lacks {want:?}");
    }
}

#[test]
fn missing_and_corrupt_model_files() {
    let e = fails(&test_models().join("missing.onnx"), PLAIN);
    assert_all(&e, &["model:", "missing.onnx", "does not exist"]);
    let dir = TempDir::new("corrupt");
    let corrupt = dir.write("corrupt.onnx", "this is not a protobuf model\n");
    assert_all(&fails(&corrupt, PLAIN), &["model:", "corrupt.onnx is not a valid ONNX model"]);
}

#[test]
fn dtypes_model_server_cannot_feed_or_read() {
    for (file, want) in [("float16.onnx", "is float16"), ("uint8.onnx", "is uint8")] {
        assert_all(
            &fails(&test_models().join(file), PLAIN),
            &["input: the model's input \"image\"", want, "feeds float32"],
        );
    }
    let yaml = PLAIN.replace("probability, kind", "labels, kind");
    assert_all(&fails(&test_models().join("int_output.onnx"), &yaml), &["outputs[0].name", "\"labels\" is int64"]);
}

#[test]
fn inputs_ranks_batches_and_sizes_that_contradict_the_model() {
    let e = fails(&test_models().join("two_inputs.onnx"), PLAIN);
    assert_all(&e, &["input: the model has 2 inputs [\"image\", \"spacing\"]"]);
    let fixed = test_models().join("fixed.onnx");
    assert_all(&fails(&fixed, PLAIN), &["input.batch:", "fixes its batch dimension to 1, the config gives 2"]);
    let e = fails(&fixed, &PLAIN.replace("batch: 2", "batch: 1").replace("[32, 32]", "[64, 32]"));
    assert_all(&e, &["input.size:", "fixes a spatial dimension to 32, the config gives 64"]);
    // The same model with the config it was made for loads under both engines.
    for engine in ["engine: tract\n", "engine: onnxruntime\n"] {
        Model::load(config(&fixed, &format!("{engine}{}", PLAIN.replace("batch: 2", "batch: 1")))).unwrap();
    }
    let body = demo().join("demo_body.onnx");
    let e = fails(
        &body,
        "input: {layout: NCDHW, size: [8, 64, 64]}\noutputs: [{name: probability, kind: probability_mask}]\n",
    );
    assert_all(&e, &["input.layout:", "Ncdhw feeds rank 5", "has rank 4"]);
    let e = fails(&body, &PLAIN.replace("name: probability", "name: logits"));
    assert_all(&e, &["outputs[0].name:", "\"logits\" is not among the model's outputs"]);
    let e = fails(&body, &PLAIN.replace("input: {", "input: {name: pixels, "));
    assert_all(&e, &["input.name:", "\"pixels\" is not the model's input (\"image\")"]);
    let e = fails(&body, &PLAIN.replace("probability_mask}", "probability_mask, channel: 1}"));
    assert_all(&e, &["outputs[0].channel:", "channel 1 does not exist"]);
    let e = fails(
        &body,
        &PLAIN.replace("probability, kind: probability_mask", "class_logits, kind: classification, classes: [a, b, c]"),
    );
    assert_all(&e, &["outputs[0].classes:", "3 classes named, but \"class_logits\" has 2"]);
    let e = fails(&body, &PLAIN.replace("kind: probability_mask", "kind: classification, classes: [a]"));
    assert_all(&e, &["outputs[0].kind:", "reads rank-2 outputs"]);
}

#[test]
fn the_onnxruntime_library_and_device() {
    let body = demo().join("demo_body.onnx");
    let ort = format!("engine: onnxruntime\n{PLAIN}");
    let dir = TempDir::new("library");
    let missing = config(&body, &format!("library: {}\n{ort}", dir.0.join("libonnxruntime.so").display()));
    let e = Model::load(missing).err().expect("no library").to_string();
    assert!(
        e.starts_with("library: ") && e.contains("does not exist") && e.contains("scripts/fetch-onnxruntime"),
        "{e}"
    );
    // CUDA on a CPU-only library: an error naming the device, unless the config allows the CPU.
    let library = ort_library();
    if library.to_string_lossy().contains("onnxruntime-gpu") {
        return; // a CUDA build: the device may well be there
    }
    let cuda = config(&body, &format!("device: cuda:0\n{ort}"));
    match Model::load(cuda) {
        Err(LoadError::Runtime { key: "device", reason }) => {
            assert!(reason.contains("CUDA device 0 is not usable") && reason.contains("fallback: cpu"), "{reason}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a CPU-only library cannot run CUDA"),
    }
    let fallback = Model::load(config(&body, &format!("device: cuda:0\nfallback: cpu\n{ort}"))).unwrap();
    assert!(fallback.describe().contains("CPU"), "{}", fallback.describe());
}

#[test]
fn a_file_that_is_not_the_library() {
    // Its own process: the library is loaded once per process.
    let dir = TempDir::new("not-a-library");
    let fake = dir.write("libonnxruntime.so.1.32.0", "not a shared library");
    let cfg = dir.write(
        "m.yaml",
        &format!(
            "model: {}\nengine: onnxruntime\nlibrary: {}\n{PLAIN}",
            demo().join("demo_body.onnx").display(),
            fake.display()
        ),
    );
    let mut server = ModelServer::spawn(&cfg);
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(2), "{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("start-up failed: model for /: library: cannot use the onnxruntime library"), "{log}");
}

#[test]
fn the_binary_names_the_file_and_key_of_a_bad_config() {
    let dir = TempDir::new("bad-config");
    let model = demo().join("demo_body.onnx");
    let cases = [
        (format!("model: {}\nthreds: 2\n{PLAIN}", model.display()), "unknown field `threds`"),
        (format!("model: {}\nengine: tract\ndevice: cuda\n{PLAIN}", model.display()), "device: applies to engine onnxruntime"),
        (format!("models:\n  - model: {}\n    input: {{layout: NCHW, size: [8, 8]}}\n    outputs: [{{name: probability, kind: heatmap}}]\n", model.display()), "models[0].route: every model of a list needs its route"),
        (format!("model: {}\n{}", model.display(), PLAIN.replace("batch: 2", "batch: 2, size2: 1")), "unknown field `size2`"),
    ];
    for (i, (yaml, want)) in cases.iter().enumerate() {
        let cfg = dir.write(&format!("c{i}.yaml"), yaml);
        let err = ServerConfig::load(&cfg).expect_err("must fail").to_string();
        assert!(err.contains(&format!("model config {}", cfg.display())) && err.contains(want), "{err}");
        let mut server = ModelServer::spawn(&cfg);
        assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(2));
        assert!(server.log_text().contains(want), "{}", server.log_text());
    }
    // A model error found at load time also stops the binary, naming route, key and reason.
    let cfg = dir.write("bad-batch.yaml", &format!("model: {}\n{PLAIN}", test_models().join("fixed.onnx").display()));
    let mut server = ModelServer::spawn(&cfg);
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(2));
    assert!(server.log_text().contains("start-up failed: model for /: input.batch:"), "{}", server.log_text());
}

/// A `--logging-config` that is not there stops the binary, naming it (only the default
/// name may be absent).
#[test]
fn the_binary_names_a_missing_logging_config() {
    let args = ["--logging-config", "no/such/logging.yaml"];
    let mut server = ModelServer::spawn_with(&demo().join("demo_body.yaml"), &args, &[]);
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(2), "{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("model-server: logging config no/such/logging.yaml not found"), "{log}");
}

/// The README's walk-through config loads and its model runs under tract (the engine it
/// names), with no library.
#[test]
fn the_readme_demo_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/demo.yaml");
    let config = ServerConfig::load(&path).unwrap();
    assert_eq!(config.models.len(), 1);
    let model = config.models.into_iter().next().unwrap();
    assert!(model.model.as_ref().unwrap().is_file(), "{:?}", model.model);
    assert!(model.library.is_none());
    let loaded = Model::load(model).unwrap();
    loaded.warm_up().unwrap();
    assert!(loaded.describe().starts_with("tract"), "{}", loaded.describe());
}
