//! `engine: remote` against a real Triton Inference Server started by the test (the PyPI wheel
//! nvidia-pytriton, CPU-only, serving the demo model through onnxruntime in a Python-backend
//! model; `open-inference/tests/triton/start_triton.py` lays it out): the same outputs as the
//! committed onnxruntime fixture, start-up errors naming the key, and whole requests through
//! the model-server binary, with 502/503 once the remote goes away.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arterys_model_server::{Model, ModelConfig};
use common::{demo, f32s, parse_ok, root, study, worst, ModelServer, TempDir};

struct Triton {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Triton {
    fn start() -> Self {
        let python = std::env::var_os("ARTERYS_TRITON_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".venv-triton/bin/python"));
        let check = Command::new(&python).args(["-c", "import pytriton, onnxruntime, numpy"]).status();
        assert!(
            matches!(check, Ok(s) if s.success()),
            "these tests need a Triton server from nvidia-pytriton in {} (set ARTERYS_TRITON_PYTHON): run scripts/test",
            python.display()
        );
        let dir = TempDir::new("triton");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(dir.0.join("triton.log")).unwrap();
        let child = Command::new(&python)
            .arg(root().join("open-inference/tests/triton/start_triton.py"))
            .arg("serve")
            .arg(format!("--workdir={}", dir.0.display()))
            .arg(format!("--http-port={port}"))
            .arg(format!("--model=demo_body={}", demo().join("demo_body.onnx").display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start Triton");
        let mut triton = Self { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(180);
        while !triton.ready() {
            if let Ok(Some(status)) = triton.child.try_wait() {
                panic!(
                    "Triton exited ({status}): {}",
                    std::fs::read_to_string(triton._dir.0.join("triton.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "Triton not ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        triton
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /v2/health/ready` answers 200.
    fn ready(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(b"GET /v2/health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
    }
}

impl Drop for Triton {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The Python backend's shared memory is named after the server's process.
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&format!("arterys{pid}")) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// The epoll instances a process holds: one per tokio runtime (its I/O driver).
fn event_loops(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == "anon_inode:[eventpoll]"))
        .count()
}

const FIXTURE: &str = "input: {layout: NCHW, size: [64, 64], batch: 2}\noutputs:\n  - {name: probability, kind: probability_mask}\n  - {name: class_logits, kind: classification, classes: [a, b]}\n";

fn remote_config(url: &str, model: &str, rest: &str) -> ModelConfig {
    let c: ModelConfig =
        serde_yaml_ng::from_str(&format!("engine: remote\nremote: {{url: '{url}', model: {model}}}\n{rest}")).unwrap();
    c.check().unwrap();
    c
}

#[test]
fn a_remote_model_matches_the_fixture_and_serves_requests() {
    let triton = Triton::start();
    let fx = demo().join("fixture");
    let model = Model::load(remote_config(&triton.url(), "demo_body", FIXTURE)).unwrap();
    let outputs = model.run(&f32s(&fx.join("input.f32"))).unwrap();
    for ((_, got), name) in outputs.iter().zip(["probability", "class_logits"]) {
        let d = worst(got, &f32s(&fx.join(format!("{name}.f32"))));
        println!("{}: {name} differs from the fixture by {d:e}", model.describe());
        assert!(d <= 1e-4, "{name}: {d}");
    }

    // Start-up checks name the key, as for local models.
    let e =
        Model::load(remote_config(&triton.url(), "demo_body", &FIXTURE.replace("name: probability", "name: logits")))
            .err()
            .unwrap()
            .to_string();
    assert!(e.starts_with("outputs[0].name: \"logits\" is not among the model's outputs"), "{e}");
    let e = Model::load(remote_config(&triton.url(), "no_such_model", FIXTURE)).err().unwrap().to_string();
    assert!(e.starts_with("remote: ") && e.contains("no_such_model"), "{e}");

    // Whole requests through the binary: the remote model beside the same model under tract.
    let dir = TempDir::new("remote-server");
    let block = "    input: {layout: NCHW, size: [128, 128], batch: 2}\n    outputs: [{name: probability, kind: probability_mask}]\n";
    let yaml = format!(
        "models:\n  - route: /remote\n    engine: remote\n    remote: {{url: '{}', model: demo_body}}\n{block}  - route: /local\n    model: {}\n{block}",
        triton.url(),
        demo().join("demo_body.onnx").display()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let (server, _) = ModelServer::start(&dir.write("m.yaml", &yaml)).await;
        let slices = study("arterys/test_3d");
        let request = r#"{"inference_command": "get-probability-mask"}"#;
        let (s, ct, b) = server.infer("/remote", request, &slices).await;
        let remote = parse_ok(s, ct, &b);
        let (s, ct, b) = server.infer("/local", request, &slices).await;
        let local = parse_ok(s, ct, &b);
        let d = remote.buffers()[0].iter().zip(local.buffers()[0].iter()).map(|(a, b)| a.abs_diff(*b)).max();
        assert!(d <= Some(1), "remote and local masks differ by {d:?}");
        // The remote goes away: a pooled connection that drops gives 502 (an inference is never
        // sent twice), a refused one 503; never a hang. The local model goes on.
        assert_eq!(server.try_get("/readyz").await, Some((200, "ready\n".to_owned())));
        // The remote engines share the process's one runtime: three remote routes hold no
        // more event loops (epoll instances) than one.
        let three: String = ["/a", "/b", "/c"]
            .iter()
            .map(|r| {
                format!(
                    "  - route: {r}\n    engine: remote\n    remote: {{url: '{}', model: demo_body}}\n{block}",
                    triton.url()
                )
            })
            .collect();
        let (server3, _) = ModelServer::start(&dir.write("three.yaml", &format!("models:\n{three}"))).await;
        assert_eq!(event_loops(server3.pid()), event_loops(server.pid()), "three remote models, one remote model");
        drop(server3);
        drop(triton);
        let (s, _, b) = server.infer("/remote", request, &slices).await;
        assert!(s == 502 || s == 503, "{s}: {}", String::from_utf8_lossy(&b));
        let (s, _, b) = server.infer("/remote", request, &slices).await;
        assert_eq!(s, 503, "{}", String::from_utf8_lossy(&b));
        // Readiness follows the remote server: /healthcheck stops saying READY.
        let mut said = Vec::new();
        for _ in 0..40 {
            let body = server.try_get("/healthcheck").await.map(|(_, b)| b).unwrap_or_default();
            if body != "READY" {
                said.push(body);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        assert_eq!(said, vec!["UNAVAILABLE".to_owned()], "/healthcheck after the remote went away");
        // The orchestrator's probe says so too: 503 with the reason, while the process lives.
        assert_eq!(server.try_get("/readyz").await, Some((503, "not ready: UNAVAILABLE\n".to_owned())));
        assert_eq!(server.try_get("/livez").await.map(|r| r.0), Some(200));
        let (s, ct, b) = server.infer("/local", request, &slices).await;
        parse_ok(s, ct, &b);
    });
}
