//! The mock server links no model engine: `--model-config` (and `--model`) only say that
//! serving a model is `model-server --config FILE`'s job, and nothing starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn demo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/demo_body.yaml")
}

/// Runs the binary; a server that started instead of refusing is killed after 30 s and
/// reported as such (`None`).
fn refusal(args: &[&str], env: Option<(&str, &PathBuf)>) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--port", "0"])
        .args(args)
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (code, out, err)
}

#[test]
fn model_flags_point_to_model_server_and_start_nothing() {
    let config = demo_config();
    let cases = [
        (vec!["--model-config", config.to_str().unwrap()], None),
        (vec!["--model", "x.onnx"], None),
        (vec![], Some(("MOCK_SERVER_MODEL_CONFIG", &config))),
    ];
    for (args, env) in cases {
        let (code, out, err) = refusal(&args, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: stdout {out} stderr {err}");
        assert!(err.contains("model-server --config FILE") && err.contains("links no model engine"), "{err}");
        // Refused before logging was set up or a port was bound: no log line at all.
        assert!(out.is_empty() && err.lines().count() == 1, "stdout {out} stderr {err}");
    }
}
