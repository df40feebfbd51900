//! A real Triton Inference Server for the tests, started from the `nvidia-pytriton`
//! wheel by `tests/triton/start_triton.py`.
//!
//! The Python interpreter that has the wheel (and onnxruntime, numpy) is
//! `$ARTERYS_TRITON_PYTHON`, else the repository's `.venv-triton/bin/python`,
//! which `scripts/test` creates and fills from `scripts/requirements-triton.txt`
//! (a venv of its own: Triton's Python backend needs numpy 1, the other tests numpy 2).

#![allow(dead_code)] // Each test binary uses its own part of the helper.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arterys_open_inference::{Client, ClientOptions};

/// How long a server may take to become ready (a loaded 2-core CI machine included).
const READY_DEADLINE: Duration = Duration::from_secs(180);

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The demo model of the repository: `image` [N,1,H,W] in; `probability`,
/// `class_logits`, `tissue_logits` out.
pub fn demo_model() -> PathBuf {
    manifest_dir().join("../mock-server/models/demo_body.onnx")
}

fn script() -> PathBuf {
    manifest_dir().join("tests/triton/start_triton.py")
}

/// The interpreter with nvidia-pytriton, or a failure that says how to get one.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let python = std::env::var_os("ARTERYS_TRITON_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest_dir().join("../.venv-triton/bin/python"));
        let check = Command::new(&python)
            .args(["-c", "import importlib.util, numpy, onnxruntime; assert importlib.util.find_spec('pytriton')"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(check, Ok(status) if status.success()) {
            panic!(
                "these tests need a real Triton server from the PyPI wheel nvidia-pytriton, with onnxruntime \
                 and numpy, in the Python at {} (set ARTERYS_TRITON_PYTHON to use another one): \
                 run scripts/test, which installs scripts/requirements-triton.txt into .venv-triton",
                python.display()
            );
        }
        python
    })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// A running `tritonserver`; stopped and cleaned up on drop.
pub struct Triton {
    child: Option<Child>,
    pub port: u16,
    workdir: PathBuf,
    args: Vec<String>,
}

impl Triton {
    /// Serves `demo_body` (the demo model) and, with `slow_seconds`, a model `slow`
    /// (`x` FP32 [-1] → `y`, the same values) that sleeps that long per request.
    pub async fn start(slow_seconds: Option<f64>) -> Triton {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let workdir = std::env::temp_dir().join(format!(
            "arterys-triton-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&workdir).expect("create the server's directory");
        let port = free_port();
        let mut args = vec![
            script().display().to_string(),
            "serve".to_owned(),
            format!("--workdir={}", workdir.display()),
            format!("--http-port={port}"),
            format!("--model=demo_body={}", demo_model().display()),
        ];
        if let Some(seconds) = slow_seconds {
            args.push(format!("--slow-seconds={seconds}"));
        }
        let mut server = Triton { child: None, port, workdir, args };
        server.spawn();
        server.wait_ready().await;
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client with short deadlines, for the tests.
    pub fn client(&self) -> Client {
        let options = ClientOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(2),
            ..ClientOptions::default()
        };
        Client::new(&self.url(), options).expect("client")
    }

    fn log_path(&self) -> PathBuf {
        self.workdir.join("tritonserver.log")
    }

    fn spawn(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("open the server log");
        let child = Command::new(python())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start start_triton.py");
        self.child = Some(child);
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits for `/v2/health/ready` (all models loaded); fails with the server's log.
    pub async fn wait_ready(&mut self) {
        let client = Client::new(
            &self.url(),
            ClientOptions { timeout: Duration::from_secs(2), retries: 0, ..ClientOptions::default() },
        )
        .expect("client");
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("tritonserver exited ({status}) before it was ready:\n{}", self.log_tail());
                }
            }
            if matches!(client.server_ready().await, Ok(true)) {
                return;
            }
            if start.elapsed() > READY_DEADLINE {
                panic!("tritonserver not ready after {READY_DEADLINE:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.remove_shared_memory(child.id());
        }
    }

    /// Starts the server again on the same port and waits until it is ready.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready().await;
    }

    /// The Python backend's shared-memory regions are named after the server's
    /// process id (start_triton.py execs tritonserver, so it is the child's).
    fn remove_shared_memory(&self, pid: u32) {
        let prefix = format!("arterys{pid}");
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Asks the server to stop (SIGTERM), then kills it if it takes too long.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.remove_shared_memory(child.id());
    }
}

impl Drop for Triton {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

/// Deterministic test data in [-1, 1).
pub fn test_image(len: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// The outputs of `model` on `input` of `shape`, from onnxruntime in Python directly.
pub fn onnxruntime_reference(model: &Path, input: &[f32], shape: &[u64]) -> Vec<(String, Vec<u64>, Vec<f32>)> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "arterys-reference-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("reference directory");
    let input_path = dir.join("input.f32");
    let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&input_path, bytes).expect("write the input");
    let shape_arg = shape.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let output = Command::new(python())
        .arg(script())
        .args(["reference", "--onnx"])
        .arg(model)
        .arg("--input")
        .arg(&input_path)
        .args(["--shape", &shape_arg, "--out"])
        .arg(&dir)
        .output()
        .expect("run the reference");
    assert!(output.status.success(), "reference failed: {}", String::from_utf8_lossy(&output.stderr));
    let shapes: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("shapes.json")).expect("shapes.json")).expect("shapes");
    let mut outputs = Vec::new();
    for (name, shape) in shapes {
        let shape: Vec<u64> = serde_json::from_value(shape).expect("shape");
        let data = std::fs::read(dir.join(format!("{name}.f32"))).expect("output file");
        let values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        outputs.push((name, shape, values));
    }
    let _ = std::fs::remove_dir_all(&dir);
    outputs
}
