//! `bench windows`: a 3D U-Net by sliding windows over a CT resampled to its spacing, the whole
//! request through model-server against the same pipeline in Python (pydicom, NumPy
//! resampling and fusion, onnxruntime on the same threads; `models/windows_pipeline.py`),
//! rounds alternated. The two answers are compared voxel by voxel, so the timing is of the
//! same work.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;

use crate::{client, cpus, exchange_answer, fail, request_body, Server};

/// The pipeline both sides run: 1.5 mm voxels, 128³ windows at 0.5 overlap.
const PATCH: usize = 128;
const SPACING: f64 = 1.5;
const BATCH: usize = 1;
const PAD_TO: usize = 32;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/windows_pipeline.py")
}

/// The CT and the U-Net, made once per size into a cache directory.
fn fixtures(slices: u32, size: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arterys-bench-windows-{slices}x{size}"));
    if !dir.join("unet.onnx").is_file() || !dir.join("ct").is_dir() {
        let _ = std::fs::remove_dir_all(&dir);
        let status = Command::new("python3")
            .arg(script())
            .args(["make", &dir.to_string_lossy(), &slices.to_string(), &size.to_string()])
            .status()
            .unwrap_or_else(|e| fail(&format!("python3: {e}")));
        if !status.success() {
            fail("windows_pipeline.py make failed (python3 with onnx, numpy and pydicom)");
        }
    }
    dir
}

fn read_study(dir: &Path) -> Vec<Bytes> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("ct"))
        .unwrap_or_else(|e| fail(&e.to_string()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    names.iter().map(|p| Bytes::from(std::fs::read(p).unwrap_or_else(|e| fail(&e.to_string())))).collect()
}

fn server_config(dir: &Path, threads: usize) -> PathBuf {
    let yaml = format!(
        "model: {}\nengine: onnxruntime\nthreads: {threads}\n\
         input: {{layout: NCDHW, patch: [{PATCH}, {PATCH}, {PATCH}], overlap: 0.5, batch: {BATCH}}}\n\
         preprocess:\n  spacing: [{SPACING}, {SPACING}, {SPACING}]\n  normalize: {{clip: [-200, 400], mean: 50, std: 150}}\n  pad_to_multiple: {PAD_TO}\n\
         outputs: [{{name: logits, kind: probability_mask, activation: softmax, channel: 1, label: Foreground}}]\n",
        dir.join("unet.onnx").display()
    );
    let path = dir.join(format!("windows-{threads}.yaml"));
    std::fs::write(&path, yaml).unwrap_or_else(|e| fail(&e.to_string()));
    path
}

/// One round of the Python pipeline in its own process (its set-up and the file reads not
/// timed): milliseconds, windows, and the mask it made.
fn python_round(dir: &Path, threads: usize) -> (f64, u64, Vec<u8>) {
    let config = serde_json::json!({
        "patch": [PATCH, PATCH, PATCH], "overlap": 0.5, "batch": BATCH, "spacing": [SPACING, SPACING, SPACING],
        "clip": [-200, 400], "mean": 50, "std": 150, "pad_to_multiple": PAD_TO,
    });
    let mask = dir.join("python-mask.u8");
    let out = Command::new("python3")
        .arg(script())
        .args(["run", &dir.to_string_lossy(), &threads.to_string(), "1", &config.to_string()])
        .arg(&mask)
        .output()
        .unwrap_or_else(|e| fail(&format!("python3: {e}")));
    if !out.status.success() {
        fail(&format!("windows_pipeline.py run: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| fail(&format!("windows_pipeline.py printed {text:?}")));
    let ms = v["ms"][0].as_f64().unwrap_or(f64::NAN);
    (ms, v["windows"].as_u64().unwrap_or(0), std::fs::read(&mask).unwrap_or_else(|e| fail(&e.to_string())))
}

/// Largest and mean difference of two masks, in steps of 1/255.
fn difference(a: &[u8], b: &[u8]) -> (u8, f64) {
    if a.len() != b.len() {
        fail(&format!("the masks differ in size: {} and {} bytes", a.len(), b.len()));
    }
    let worst = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
    let sum: u64 = a.iter().zip(b).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    (worst, sum as f64 / a.len().max(1) as f64)
}

/// The table: per round, model-server's whole request against the Python pipeline.
pub async fn windows(rounds: usize, slices: u32, size: u32) {
    println!(
        "\n## 8. Sliding windows: a 3D U-Net over a {slices}-slice {size}² CT (0.7 x 0.7 x 2.5 mm) at {SPACING} mm, {PATCH}³ windows at 0.5 overlap"
    );
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        fail("bench windows needs ORT_DYLIB_PATH: export ORT_DYLIB_PATH=\"$(scripts/fetch-onnxruntime)\"");
    }
    let dir = fixtures(slices, size);
    let study = read_study(&dir);
    let megabytes = study.iter().map(Bytes::len).sum::<usize>() as f64 / 1e6;
    let threads = cpus();
    let config = server_config(&dir, threads);
    let server = Server::start(&["--mode", "auto", "--server-config", &config.to_string_lossy()]);
    let client = client();
    println!("| round | model-server request ms | Python pipeline ms | ratio | largest difference | mean difference |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let (mut ours, mut theirs, mut windows) = (Vec::new(), Vec::new(), 0);
    for round in 1..=rounds {
        let started = Instant::now();
        let (status, answer, _) =
            exchange_answer(&client, server.addr, "/", request_body(&study)).await.unwrap_or_else(|e| fail(&e));
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let mask = match (status, answer.as_ref().and_then(|a| a.buffers().first())) {
            (200, Some(part)) => part.body.clone(),
            _ => fail(&format!("model-server answered {status}")),
        };
        let (py_ms, n, py_mask) = python_round(&dir, threads);
        let (worst, mean) = difference(&mask, &py_mask);
        println!("| {round} | {ms:.0} | {py_ms:.0} | {:.3}x | {worst}/255 | {mean:.3}/255 |", ms / py_ms);
        ours.push(ms);
        theirs.push(py_ms);
        windows = n;
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "RESULT windows ({slices} slices of {size}², {megabytes:.0} MB, {windows} windows of {PATCH}³, onnxruntime on {threads} threads): model-server {:.0} ms upload to response, Python pipeline {:.0} ms, best of {rounds}: {:.3}x (target <= 1.1x)",
        best(&ours),
        best(&theirs),
        best(&ours) / best(&theirs)
    );
}
