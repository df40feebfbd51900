//! `bench models`: nnU-Net-like U-Nets (benchmarks/models/make_unet.py, random weights) under
//! each engine and thread count against Python onnxruntime on the same model, input and
//! threads, measured in the same run; then a whole request through model-server against
//! Python onnxruntime's bare inference of the same batches.
//!
//! Each engine configuration runs in its own child process (`bench run-model`), so its peak
//! RSS is its own. Needs python3 with onnx, onnxruntime and numpy, and ORT_DYLIB_PATH
//! (scripts/fetch-onnxruntime).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use arterys_model_server::{Model, ModelConfig};
use bytes::Bytes;

use crate::{client, cpus, exchange, fail, input_of, request_body, Server, SERIES};

/// One U-Net of the benchmark.
struct Net {
    name: &'static str,
    file: PathBuf,
    /// `[N, 1, H, W]` or `[1, 1, D, H, W]`.
    shape: Vec<usize>,
    /// Images per run: slices (2D) or volumes (3D).
    per_run: usize,
    unit: &'static str,
}

impl Net {
    fn config(&self, engine: &str, threads: usize) -> String {
        let (layout, size, batch) = match self.shape.len() {
            4 => ("NCHW", &self.shape[2..], self.shape[0]),
            _ => ("NCDHW", &self.shape[2..], 1),
        };
        let size: Vec<String> = size.iter().map(usize::to_string).collect();
        format!(
            "model: {}\nengine: {engine}\nthreads: {threads}\ninput: {{layout: {layout}, size: [{}], batch: {batch}}}\npreprocess: {{normalize: auto}}\noutputs: [{{name: logits, kind: probability_mask, activation: softmax, channel: 1, label: Foreground}}]\n",
            self.file.display(),
            size.join(", ")
        )
    }
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// A U-Net of make_unet.py's `kind`, generated once into a cache directory (20 to 30 MB each).
pub(crate) fn net_file(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("arterys-bench-unets");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("unet{kind}.onnx"));
    if !file.is_file() {
        let status = Command::new("python3")
            .arg(scripts().join("make_unet.py"))
            .args([kind, &file.to_string_lossy()])
            .status()
            .unwrap_or_else(|e| fail(&format!("python3: {e}")));
        if !status.success() {
            fail("make_unet.py failed (python3 -m pip install onnx numpy)");
        }
    }
    file
}

/// The benchmark's U-Nets.
fn nets() -> Vec<Net> {
    [("2D U-Net", "2d", vec![4, 1, 256, 256], "slice"), ("3D U-Net", "3d", vec![1, 1, 32, 128, 128], "volume")]
        .into_iter()
        .map(|(name, kind, shape, unit)| {
            let per_run = if shape.len() == 4 { shape[0] } else { 1 };
            Net { name, file: net_file(kind), shape, per_run, unit }
        })
        .collect()
}

/// Median milliseconds per run and peak RSS (MiB) of one measurement.
struct Figure {
    ms: f64,
    rss_mib: f64,
}

fn parse_figure(stdout: &[u8], what: &str) -> Figure {
    let line = String::from_utf8_lossy(stdout);
    let v: serde_json::Value = line
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| fail(&format!("{what} printed {line:?}")));
    Figure { ms: v["ms"].as_f64().unwrap_or(f64::NAN), rss_mib: v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN) }
}

/// Python onnxruntime's bare inference: `batches` runs of `shape` per repetition.
fn python(net: &Net, threads: usize, runs: usize, batches: usize) -> Figure {
    let shape: Vec<String> = net.shape.iter().map(usize::to_string).collect();
    let out = Command::new("python3")
        .arg(scripts().join("ort_bench.py"))
        .arg(&net.file)
        .args(["--shape", &shape.join(","), "--threads", &threads.to_string()])
        .args(["--runs", &runs.to_string(), "--batches", &batches.to_string()])
        .output()
        .unwrap_or_else(|e| fail(&format!("python3: {e}")));
    if !out.status.success() {
        fail(&format!("ort_bench.py: {}", String::from_utf8_lossy(&out.stderr)));
    }
    parse_figure(&out.stdout, "ort_bench.py")
}

/// One engine configuration in a child process.
fn engine(net: &Net, engine: &str, threads: usize, runs: usize) -> Figure {
    let dir = std::env::temp_dir().join("arterys-bench-unets");
    let config =
        dir.join(format!("{}-{engine}-{threads}.yaml", net.file.file_stem().unwrap_or_default().to_string_lossy()));
    std::fs::write(&config, net.config(engine, threads)).unwrap_or_else(|e| fail(&e.to_string()));
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
    let out = Command::new(exe)
        .args(["run-model", "--config"])
        .arg(&config)
        .args(["--runs", &runs.to_string()])
        .output()
        .unwrap_or_else(|e| fail(&e.to_string()));
    if !out.status.success() {
        fail(&format!("run-model {engine}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    parse_figure(&out.stdout, "run-model")
}

/// The child: loads the model, warms it up, times `runs` runs on a seeded input, prints JSON.
pub fn run_model(config: &Path, runs: usize) {
    let config = ModelConfig::load(config).unwrap_or_else(|e| fail(&e.to_string()));
    let n: usize = config.input.shape().iter().product();
    let model = Model::load(config).unwrap_or_else(|e| fail(&e.to_string()));
    model.warm_up().unwrap_or_else(|e| fail(&e.to_string()));
    let input: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(model.run(&input).unwrap_or_else(|e| fail(&e.to_string())));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let rss = crate::self_status_kib("VmHWM:") as f64 / 1024.0;
    println!("{}", serde_json::json!({"ms": times[times.len() / 2], "peak_rss_mib": rss, "engine": model.describe()}));
}

/// The table: per net, engine and thread count, against Python onnxruntime; then a request.
pub async fn models(rounds: usize) {
    println!("\n## 6. Models: nnU-Net-like U-Nets, engines against Python onnxruntime");
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        fail("bench models needs ORT_DYLIB_PATH: export ORT_DYLIB_PATH=\"$(scripts/fetch-onnxruntime)\"");
    }
    let nets = nets();
    let mut threads = vec![1, 2, cpus()];
    threads.dedup();
    println!("| model | threads | engine | ms per image | peak RSS MiB | Python onnxruntime ms | ratio |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for net in &nets {
        for &t in &threads {
            let py = python(net, t, rounds, 1);
            for name in ["onnxruntime", "tract"] {
                let f = engine(net, name, t, rounds);
                println!(
                    "| {} ({}) | {t} | {name} | {:.1} per {} | {:.0} | {:.1} (RSS {:.0}) | {:.2}x |",
                    net.name,
                    net.shape.iter().map(usize::to_string).collect::<Vec<_>>().join("x"),
                    f.ms / net.per_run as f64,
                    net.unit,
                    f.rss_mib,
                    py.ms / net.per_run as f64,
                    py.rss_mib,
                    f.ms / py.ms
                );
            }
        }
    }
    request(&nets[0], &threads, rounds).await;
}

/// 16 slices of 256x256, batch 4, upload to response through model-server (onnxruntime),
/// against Python onnxruntime's bare inference of the same 4 batches.
async fn request(net: &Net, threads: &[usize], rounds: usize) {
    let slices: Vec<Bytes> = (0..16)
        .map(|i| Bytes::from(arterys_gateway::dicom::synthetic::ct_slice(SERIES, i, 256, 256).unwrap_or_default()))
        .collect();
    for &t in threads {
        let dir = std::env::temp_dir().join("arterys-bench-unets");
        let config = dir.join(format!("request-{t}.yaml"));
        std::fs::write(&config, net.config("onnxruntime", t)).unwrap_or_else(|e| fail(&e.to_string()));
        let server = Server::start(&["--mode", "auto", "--server-config", &config.to_string_lossy()]);
        let client = client();
        let mut times = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let (status, parts, _) =
                exchange(&client, server.addr, "/", request_body(&slices)).await.unwrap_or_else(|e| fail(&e));
            if status != 200 || parts < 2 {
                fail(&format!("model request: status {status}, {parts} parts"));
            }
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let ms = times[times.len() / 2];
        let py = python(net, t, rounds, 4);
        println!(
            "RESULT model-server request (16 slices 256x256, batch 4, onnxruntime, {t} thread{}): {ms:.0} ms upload to response; Python onnxruntime bare inference of the 4 batches {:.0} ms: {:.3}x (target <= 1.15x)",
            if t == 1 { "" } else { "s" },
            py.ms,
            ms / py.ms
        );
    }
}

/// The demo model: tract against Python onnxruntime per slice, and the gateway's share of a
/// request through the model server's service (what `model-server --config` serves).
pub async fn demo() {
    println!("\n## 5. The demo ONNX model (256x256, batches of 4)");
    let config_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mock-server/models/demo_body.yaml");
    let config = arterys_model_server::ModelConfig::load(&config_path).unwrap_or_else(|e| fail(&e.to_string()));
    let model_path = config.model.clone().unwrap_or_default();
    let batch = config.input.batch;
    let model = arterys_model_server::Model::load(config).unwrap_or_else(|e| fail(&e.to_string()));
    let input: Vec<f32> = (0..batch * 256 * 256).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let _ = model.run(&input);
    let runs = 20;
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(model.run(&input).unwrap_or_else(|e| fail(&e.to_string())));
    }
    let tract_ms = t.elapsed().as_secs_f64() * 1e3 / (runs * batch) as f64;
    let ort = onnxruntime_ms(&model_path, batch, runs);
    match ort {
        Some(ort_ms) => println!("RESULT model: tract {tract_ms:.2} ms/slice, onnxruntime {ort_ms:.2} ms/slice: tract/onnxruntime = {:.2}x", tract_ms / ort_ms),
        None => println!("RESULT model: tract {tract_ms:.2} ms/slice (onnxruntime not installed: python3 -m pip install onnxruntime numpy)"),
    }

    // The gateway's share of a request: HTTP round-trip against the handler alone.
    let slices: Vec<Bytes> = (0..60)
        .map(|i| Bytes::from(arterys_gateway::dicom::synthetic::ct_slice(SERIES, i, 512, 512).unwrap_or_default()))
        .collect();
    let t = Instant::now();
    let r = model.answer(&input_of(&slices)).unwrap_or_else(|e| fail(&e.to_string()));
    let handler = t.elapsed();
    std::hint::black_box(r);
    let server = Server::start(&["--mode", "auto", "--server-config", config_path.to_str().unwrap_or_default()]);
    let client = client();
    let _ = exchange(&client, server.addr, "/", request_body(&slices[..1])).await;
    let t = Instant::now();
    let (status, parts, _) =
        exchange(&client, server.addr, "/", request_body(&slices)).await.unwrap_or_else(|e| fail(&e));
    let wall = t.elapsed();
    if status != 200 || parts < 2 {
        fail(&format!("model request: status {status}, {parts} parts"));
    }
    println!(
        "RESULT model request ({} slices): {:.0} ms round trip, handler {:.0} ms: the gateway and transport take {:.1}%",
        slices.len(),
        wall.as_secs_f64() * 1e3,
        handler.as_secs_f64() * 1e3,
        (1.0 - handler.as_secs_f64() / wall.as_secs_f64()).max(0.0) * 100.0
    );
}

/// onnxruntime's time per slice on the same model and input shape, through Python.
fn onnxruntime_ms(model: &Path, batch: usize, runs: usize) -> Option<f64> {
    let script = format!(
        "import time, numpy as np, onnxruntime as ort\n\
         o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1\n\
         s = ort.InferenceSession({model:?}, o, providers=['CPUExecutionProvider'])\n\
         x = (np.arange({n}) * 7919 % 1000).astype(np.float32).reshape({batch}, 1, 256, 256) / 1000\n\
         s.run(None, {{'image': x}})\n\
         t = time.perf_counter()\n\
         for _ in range({runs}): s.run(None, {{'image': x}})\n\
         print((time.perf_counter() - t) * 1000 / ({runs} * {batch}))\n",
        model = model.display().to_string(),
        n = batch * 256 * 256,
    );
    let out = Command::new("python3").args(["-c", &script]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// A one-slice request (256x256) to the 2D U-Net at batch 4: its batch dimension fixed (the
/// slice is padded with three empty ones) against free (it runs alone), per engine; median of
/// `rounds` (at least 10) requests each, after one to warm up.
pub async fn padding(rounds: usize) {
    println!("\n## 9. A one-slice request to a 2D U-Net at batch 4: padded against its true size");
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        fail("bench padding needs ORT_DYLIB_PATH: export ORT_DYLIB_PATH=\"$(scripts/fetch-onnxruntime)\"");
    }
    let slice = [Bytes::from(arterys_gateway::dicom::synthetic::ct_slice(SERIES, 0, 256, 256).unwrap_or_default())];
    let threads = cpus();
    println!("| engine | batch dimension | images per engine run | request median ms |");
    println!("| --- | --- | --- | --- |");
    for engine in ["onnxruntime", "tract"] {
        let mut medians = Vec::new();
        for (kind, label, images) in [("2d-batch4", "fixed at 4", 4), ("2d", "free", 1)] {
            let net =
                Net { name: "2D U-Net", file: net_file(kind), shape: vec![4, 1, 256, 256], per_run: 4, unit: "slice" };
            let config = std::env::temp_dir().join(format!("arterys-bench-unets/padding-{kind}-{engine}.yaml"));
            std::fs::write(&config, net.config(engine, threads)).unwrap_or_else(|e| fail(&e.to_string()));
            let server = Server::start(&["--mode", "auto", "--server-config", &config.to_string_lossy()]);
            let client = client();
            let mut times = Vec::new();
            for k in 0..=rounds.max(10) {
                let started = Instant::now();
                let (status, parts, _) =
                    exchange(&client, server.addr, "/", request_body(&slice)).await.unwrap_or_else(|e| fail(&e));
                if status != 200 || parts < 2 {
                    fail(&format!("padding request: status {status}, {parts} parts"));
                }
                if k > 0 {
                    times.push(started.elapsed().as_secs_f64() * 1e3);
                }
            }
            times.sort_by(f64::total_cmp);
            let ms = times[times.len() / 2];
            println!("| {engine} | {label} | {images} | {ms:.1} |");
            medians.push(ms);
        }
        println!(
            "RESULT padding ({engine}, {threads} threads): one slice {:.1} ms padded to 4, {:.1} ms at its true size: {:.2}x faster",
            medians[0],
            medians[1],
            medians[0] / medians[1]
        );
    }
}
