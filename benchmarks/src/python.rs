//! `bench python`: the same SDK-style Python handlers (`reference/sdk_app.py`: the README's
//! boxes example, a 3D mask built with numpy, a constant answer) under the SDK's Flask gateway
//! (`reference/sdk_gateway.py`, Flask + requests-toolbelt) and under `arterys_gateway` (the
//! package in `python/`, built in release mode into the reference's venv, or the wheel
//! `BENCH_PYTHON_WHEEL` names).

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;

use crate::ab::AbResult;
use crate::server::Server;
use crate::transport::{ab_run, fmt_ab, large_rounds};
use crate::{fail, request_with, synthetic_study};

const MB: f64 = 1e6;
const APP: &str = include_str!("../reference/sdk_app.py");
const SDK_GATEWAY: &str = include_str!("../reference/sdk_gateway.py");

/// What the run measures.
pub(crate) struct Opts {
    pub slices: u32,
    pub seconds: u64,
    pub rounds: usize,
}

/// Installs `python/` (release build through maturin, pip's build backend) into the venv, or
/// the wheel `BENCH_PYTHON_WHEEL` names (one built before, say, to compare two versions).
fn install_package(python: &Path) {
    let package = std::env::var("BENCH_PYTHON_WHEEL")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../python").to_owned());
    println!("building and installing arterys_gateway (release) from {package}");
    let status = Command::new(python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--force-reinstall", "--no-deps"])
        .arg(&package)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        fail(&format!("installing arterys_gateway into {} failed: {status:?}", python.display()));
    }
}

fn start(python: &Path, dir: &Path, gateway: &str) -> Server {
    let mut cmd = Command::new(python);
    cmd.arg(dir.join("sdk_app.py")).args(["--gateway", gateway]).current_dir(dir);
    Server::spawn(cmd)
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
}

pub(crate) async fn python(o: &Opts) {
    crate::ab::check();
    println!(
        "\n## Python handlers: arterys_gateway against the SDK's Flask gateway, load average {}",
        crate::transport::load_avg()
    );
    let python = crate::reference::python();
    install_package(&python);
    let dir: PathBuf = std::env::temp_dir().join("arterys-bench-python");
    let _ = std::fs::create_dir_all(&dir);
    write(&dir, "sdk_app.py", APP);
    write(&dir, "sdk_gateway.py", SDK_GATEWAY);
    let slice = vec![Bytes::from(
        arterys_gateway::dicom::synthetic::ct_slice("1.2.826.0.1.3680043.8.498.7", 7, 512, 512)
            .unwrap_or_else(|e| fail(&e.to_string())),
    )];
    let body: Vec<u8> = request_with("{}", &slice).flat_map(|b| b.to_vec()).collect();
    let body_file = dir.join("one-slice-request.bin");
    std::fs::write(&body_file, &body).unwrap_or_else(|e| fail(&format!("{}: {e}", body_file.display())));
    println!("one-slice request: {:.0} kB; {} s per load", body.len() as f64 / 1e3, o.seconds);

    let (ours, theirs) = (start(&python, &dir, "arterys"), start(&python, &dir, "flask"));
    let mut small: Vec<(usize, AbResult, AbResult)> = Vec::new();
    for c in [1, 8] {
        let a = ab_run(ours.addr, &body_file, c, o.seconds, false, None);
        let b = ab_run(theirs.addr, &body_file, c, o.seconds, false, None);
        println!(
            "boxes, new connection per request, {c} clients: arterys_gateway {} | Flask {} | {:.1}x",
            fmt_ab(&a),
            fmt_ab(&b),
            a.requests_per_s / b.requests_per_s
        );
        small.push((c, a, b));
    }
    let (small_rss_ours, small_rss_theirs) = (ours.peak_rss(), theirs.peak_rss());
    // The Python boundary: a Python handler that answers a constant against a Rust handler
    // that answers one (`bench serve --mode constant`), the same request, one keep-alive
    // client: the difference is the dispatch (GIL, the parts as Python objects, json).
    let noop_py = noop_ab(&ours, &dir, "/noop", o.seconds);
    drop((ours, theirs));
    let rust = Server::start(&["--mode", "constant"]);
    let noop_rust = noop_ab(&rust, &dir, "/", o.seconds);
    drop(rust);
    let boundary_us = (noop_py.mean_ms - noop_rust.mean_ms) * 1e3;
    println!(
        "constant answer, keep-alive, 1 client: Python handler {:.3} ms, Rust handler {:.3} ms: the Python boundary costs {:.0} µs per request",
        noop_py.mean_ms, noop_rust.mean_ms, boundary_us
    );

    let study = synthetic_study(o.slices);
    let ours = start(&python, &dir, "arterys");
    let (ow, orss, resp) = large_rounds(&ours, "/mask", &study, o.rounds, "arterys_gateway").await;
    drop(ours);
    let theirs = start(&python, &dir, "flask");
    let (tw, trss, _) = large_rounds(&theirs, "/mask", &study, o.rounds, "Flask").await;
    drop(theirs);
    let size: usize = study.iter().map(Bytes::len).sum();
    println!(
        "{}-slice study ({:.0} MB in, {:.0} MB out), 3D mask: arterys_gateway {:.0} ms, {:.0} MB RSS | Flask {:.0} ms, {:.0} MB RSS | {:.2}x faster, {:.2} of the RSS",
        study.len(),
        size as f64 / MB,
        resp as f64 / MB,
        ow.as_secs_f64() * 1e3,
        orss as f64 / MB,
        tw.as_secs_f64() * 1e3,
        trss as f64 / MB,
        tw.as_secs_f64() / ow.as_secs_f64(),
        orss as f64 / trss as f64
    );
    println!("\n| | arterys_gateway | Flask + requests-toolbelt | ratio |\n|---|---|---|---|");
    for (c, a, b) in &small {
        println!(
            "| boxes, one slice, new connections, {c} client(s) | {:.0} req/s | {:.0} req/s | {:.1}x |",
            a.requests_per_s,
            b.requests_per_s,
            a.requests_per_s / b.requests_per_s
        );
    }
    println!(
        "| peak RSS after the small runs | {:.0} MB | {:.0} MB | {:.2} |",
        small_rss_ours as f64 / MB,
        small_rss_theirs as f64 / MB,
        small_rss_ours as f64 / small_rss_theirs as f64
    );
    println!(
        "| {}-slice study, 3D mask (best of {}) | {:.0} ms | {:.0} ms | {:.2}x |",
        study.len(),
        o.rounds,
        ow.as_secs_f64() * 1e3,
        tw.as_secs_f64() * 1e3,
        tw.as_secs_f64() / ow.as_secs_f64()
    );
    println!(
        "| peak RSS, large study (highest of the {} rounds) | {:.0} MB | {:.0} MB | {:.2} |",
        o.rounds,
        orss as f64 / MB,
        trss as f64 / MB,
        orss as f64 / trss as f64
    );
    println!("| Python boundary per request | {boundary_us:.0} µs | | |");
}

fn noop_ab(server: &Server, dir: &Path, route: &str, seconds: u64) -> AbResult {
    crate::ab::run(&crate::ab::Load {
        addr: server.addr,
        path: route,
        body: &dir.join("one-slice-request.bin"),
        content_type: "multipart/related; boundary=bench-boundary-7f3a",
        concurrency: 1,
        seconds,
        keep_alive: true,
        processes: 1,
        cpus: None,
    })
}
