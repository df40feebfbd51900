//! `bench batching`: model-server's dynamic batcher against Triton Inference Server's, on the
//! 2D U-Net of `bench models` (benchmarks/models/make_unet.py, batch dimension free), with
//! one-slice requests from concurrent clients for a fixed time after a warm-up.
//!
//! Three runs, one server at a time so that none takes the others' cores:
//! - model-server (`bench serve --server-config`, onnxruntime) with `dynamic_batching`;
//! - the same without it: each request runs alone, as the server runs by default;
//! - Triton from the `nvidia-pytriton` wheel, started by open-inference's
//!   `tests/triton/start_triton.py serve --dynamic-batching`, serving the same ONNX file through
//!   its Python backend (onnxruntime, one run per gathered batch), called over KServe v2 with
//!   binary tensor data by `arterys-open-inference`'s client.
//!
//! Needs ORT_DYLIB_PATH, python3 with onnx and numpy (to generate the U-Net), and the Python
//! with nvidia-pytriton, onnxruntime and numpy 1 (`$ARTERYS_TRITON_PYTHON`, else the
//! repository's `.venv-triton/bin/python`, which scripts/test creates).

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arterys_open_inference::{Client as OipClient, ClientOptions, InputTensor};
use bytes::Bytes;

use crate::{client, cpus, exchange, fail, request_body, Server, SERIES};

/// Images one gathered run holds at most, on both servers.
const MAX_BATCH: usize = 8;
/// How long a run waits for others, on both servers.
const DELAY_MS: u64 = 5;
/// Warm-up before each measurement: connections, the engines' first runs, Triton's stub.
const WARM_UP: Duration = Duration::from_secs(3);
/// The model's name on Triton.
const TRITON_MODEL: &str = "unet2d";
/// How long Triton may take to load (its Python backend and onnxruntime, on a loaded machine).
const TRITON_READY: Duration = Duration::from_secs(180);

/// What `bench batching` is asked for.
pub struct Opts {
    pub seconds: u64,
    pub clients: usize,
}

/// Throughput and latency of one measured run.
struct Stats {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: usize,
    errors: u64,
}

/// The three runs and their table.
pub async fn batching(opts: &Opts) {
    let (clients, seconds, threads) = (opts.clients.max(1), opts.seconds.max(1), cpus());
    println!(
        "\n## 7. Dynamic batching: one 256x256 slice per request, {clients} concurrent clients, {seconds} s after a {} s warm-up; 2D U-Net, onnxruntime, {threads} threads",
        WARM_UP.as_secs()
    );
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        fail("bench batching needs ORT_DYLIB_PATH: export ORT_DYLIB_PATH=\"$(scripts/fetch-onnxruntime)\"");
    }
    let net = crate::models::net_file("2d");
    let python = triton_python();
    let batched = model_server(&net, threads, true, clients, seconds).await;
    let alone = model_server(&net, threads, false, clients, seconds).await;
    let triton = triton(&python, &net, threads, clients, seconds).await;

    println!("| server | batching | requests/s | p50 ms | p99 ms | requests | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let rows = [
        ("model-server", format!("max_batch {MAX_BATCH}, max_delay_ms {DELAY_MS}"), &batched),
        ("model-server", "none (one request at a time)".to_owned(), &alone),
        ("Triton", format!("max_batch_size {MAX_BATCH}, max_queue_delay {}us", DELAY_MS * 1000), &triton),
    ];
    for (server, how, s) in rows {
        println!(
            "| {server} | {how} | {:.1} | {:.1} | {:.1} | {} | {} |",
            s.rps, s.p50_ms, s.p99_ms, s.requests, s.errors
        );
    }
    println!(
        "note: model-server's requests carry a DICOM slice in and a mask out (decode, preprocess, softmax, encode); \
         Triton's a bare [1,1,256,256] FP32 tensor in and the raw logits out"
    );
    for (name, s) in [("model-server batched", &batched), ("model-server alone", &alone), ("triton batched", &triton)] {
        println!(
            "RESULT batching {name}: {:.1} requests/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            s.rps, s.p50_ms, s.p99_ms, s.errors
        );
    }
    println!(
        "RESULT batching: model-server/Triton throughput {:.2}x (target >= 1), p99 {:.2}x (target <= 1); \
         model-server's batching gain {:.2}x throughput over one request at a time",
        batched.rps / triton.rps,
        batched.p99_ms / triton.p99_ms,
        batched.rps / alone.rps
    );
}

/// The model-server config: the U-Net on onnxruntime, batch dimension free (a one-slice run is
/// not padded to `batch`), with or without the batcher.
fn config(net: &Path, threads: usize, batched: bool) -> String {
    let batching = if batched {
        format!("dynamic_batching: {{max_batch: {MAX_BATCH}, max_delay_ms: {DELAY_MS}}}\n")
    } else {
        String::new()
    };
    format!(
        "model: {}\nengine: onnxruntime\nthreads: {threads}\ninput: {{layout: NCHW, size: [256, 256], batch: {MAX_BATCH}}}\npreprocess: {{normalize: auto}}\noutputs: [{{name: logits, kind: probability_mask, activation: softmax, channel: 1, label: Foreground}}]\n{batching}",
        net.display()
    )
}

/// model-server as `bench serve`'s child; with the batcher it must let the clients' requests
/// run at once (else there is nothing to gather), without it each runs alone.
async fn model_server(net: &Path, threads: usize, batched: bool, clients: usize, seconds: u64) -> Stats {
    let dir = std::env::temp_dir().join("arterys-bench-unets");
    let path = dir.join(format!("batching-{}-{threads}.yaml", if batched { "on" } else { "off" }));
    std::fs::write(&path, config(net, threads, batched)).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    let concurrent = if batched { clients } else { 1 };
    let server = Server::start(&[
        "--mode",
        "auto",
        "--server-config",
        &path.to_string_lossy(),
        "--max-concurrent",
        &concurrent.to_string(),
    ]);
    // Each client its own slice, so that a mixed-up answer would not go unnoticed in size.
    let slices: Arc<Vec<Bytes>> = Arc::new(
        (0..clients)
            .map(|i| {
                let slice = arterys_gateway::dicom::synthetic::ct_slice(SERIES, i as u32, 256, 256);
                Bytes::from(slice.unwrap_or_else(|e| fail(&e.to_string())))
            })
            .collect(),
    );
    let (http, addr) = (client(), server.addr);
    measure(clients, seconds, move |i| {
        let (http, slices) = (http.clone(), Arc::clone(&slices));
        async move {
            match exchange(&http, addr, "/", request_body(&slices[i..=i])).await? {
                (200, parts, _) if parts >= 3 => Ok(()),
                (status, parts, _) => Err(format!("status {status}, {parts} parts")),
            }
        }
    })
    .await
}

/// Triton with its dynamic batcher on the same ONNX file and threads.
async fn triton(python: &Path, net: &Path, threads: usize, clients: usize, seconds: u64) -> Stats {
    let triton = Triton::start(python, net, threads).await;
    let options = ClientOptions { timeout: Duration::from_secs(60), retries: 0, ..ClientOptions::default() };
    let oip = OipClient::new(&triton.url(), options).unwrap_or_else(|e| fail(&format!("Triton client: {e}")));
    // The same values for every client: the model's speed does not depend on them.
    let pixels: Arc<Vec<f32>> = Arc::new((0..256 * 256).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect());
    measure(clients, seconds, move |_| {
        let (oip, pixels) = (oip.clone(), Arc::clone(&pixels));
        async move {
            let shape = [1u64, 1, 256, 256];
            let input = [InputTensor::f32("image", &shape, &pixels)];
            let outputs = oip.infer(TRITON_MODEL, None, &input, &["logits"]).await.map_err(|e| e.to_string())?;
            match outputs.first().map(|o| o.shape.as_slice()) {
                Some([1, 2, 256, 256]) => Ok(()),
                other => Err(format!("logits of shape {other:?}")),
            }
        }
    })
    .await
}

/// `clients` tasks sending `request(client index)` back to back: first for the warm-up, then
/// for `seconds`; throughput counts the requests answered well over the time until the last.
async fn measure<F, Fut>(clients: usize, seconds: u64, request: F) -> Stats
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let (_, warm_errors) = drive(clients, WARM_UP, request.clone()).await;
    if warm_errors > 0 {
        eprintln!("{warm_errors} errors during the warm-up");
    }
    let started = Instant::now();
    let (mut lat, errors) = drive(clients, Duration::from_secs(seconds), request).await;
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    Stats { rps: lat.len() as f64 / elapsed, p50_ms: pct(0.50), p99_ms: pct(0.99), requests: lat.len(), errors }
}

/// Runs the clients until `time` has passed (each sends at least one request); the latencies
/// of the requests answered well and the number of errors (the first one printed).
async fn drive<F, Fut>(clients: usize, time: Duration, request: F) -> (Vec<Duration>, u64)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let deadline = Instant::now() + time;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let request = request.clone();
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                loop {
                    let t = Instant::now();
                    match request(i).await {
                        Ok(()) => lat.push(t.elapsed()),
                        Err(e) => {
                            if errors == 0 {
                                eprintln!("client {i}: first error: {e}");
                            }
                            errors += 1;
                        }
                    }
                    if Instant::now() >= deadline {
                        return (lat, errors);
                    }
                }
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.unwrap_or_else(|e| fail(&format!("client task: {e}")));
        lat.extend(l);
        errors += e;
    }
    (lat, errors)
}

/// The Python with nvidia-pytriton, onnxruntime and numpy 1, checked before anything runs.
fn triton_python() -> PathBuf {
    let python = std::env::var_os("ARTERYS_TRITON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-triton/bin/python"));
    let check = Command::new(&python)
        .args(["-c", "import importlib.util, numpy, onnxruntime; assert importlib.util.find_spec('pytriton')"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(check, Ok(s) if s.success()) {
        fail(&format!(
            "bench batching needs Triton from the PyPI wheel nvidia-pytriton, with onnxruntime and numpy 1, in \
             the Python at {} (set ARTERYS_TRITON_PYTHON to use another one; scripts/test creates .venv-triton)",
            python.display()
        ));
    }
    python
}

/// A running `tritonserver` (start_triton.py execs it); stopped and cleaned up on drop.
struct Triton {
    child: Child,
    port: u16,
    workdir: PathBuf,
}

impl Triton {
    async fn start(python: &Path, net: &Path, threads: usize) -> Self {
        let workdir = std::env::temp_dir().join(format!("arterys-bench-triton-{}", std::process::id()));
        std::fs::create_dir_all(&workdir).unwrap_or_else(|e| fail(&format!("{}: {e}", workdir.display())));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| fail(&format!("a free port: {e}")))
            .port();
        let log = std::fs::File::create(workdir.join("tritonserver.log"))
            .and_then(|f| Ok((f.try_clone()?, f)))
            .unwrap_or_else(|e| fail(&format!("Triton's log: {e}")));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../open-inference/tests/triton/start_triton.py");
        let child = Command::new(python)
            .arg(script)
            .arg("serve")
            .arg(format!("--workdir={}", workdir.display()))
            .arg(format!("--http-port={port}"))
            .arg(format!("--model={TRITON_MODEL}={}", net.display()))
            .arg(format!("--threads={threads}"))
            .arg(format!("--dynamic-batching={MAX_BATCH},{}", DELAY_MS * 1000))
            .stdin(Stdio::null())
            .stdout(log.0)
            .stderr(log.1)
            .spawn()
            .unwrap_or_else(|e| fail(&format!("starting start_triton.py: {e}")));
        let mut triton = Triton { child, port, workdir };
        triton.wait_ready().await;
        triton
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.workdir.join("tritonserver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Polls `/v2/health/ready` (every model loaded); fails with the server's log.
    async fn wait_ready(&mut self) {
        let options = ClientOptions { timeout: Duration::from_secs(2), retries: 0, ..ClientOptions::default() };
        let probe = OipClient::new(&self.url(), options).unwrap_or_else(|e| fail(&e.to_string()));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                fail(&format!("tritonserver exited ({status}) before it was ready:\n{}", self.log_tail()));
            }
            if matches!(probe.server_ready().await, Ok(true)) {
                return;
            }
            if started.elapsed() > TRITON_READY {
                fail(&format!("tritonserver not ready after {TRITON_READY:?}:\n{}", self.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Triton {
    /// SIGTERM first (Triton then stops its backend stubs), SIGKILL if it takes too long; then
    /// the Python backend's shared memory, named after the server's process id.
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let prefix = format!("arterys{pid}");
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}
