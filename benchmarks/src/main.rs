//! `bench`: the project's benchmarks in one binary. It generates its own data (a synthetic CT
//! series written with dicom-object), starts the mock server as a child process (so its memory
//! is measured alone), and prints each figure as a ratio to a floor measured in the same run.
//! It sits on top of everything (servers, the tool's client, the model server's engines);
//! nothing depends on it.
//!
//! ```sh
//! cargo run --release -p benchmarks -- all
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arterys_gateway::multipart::{hex, MultipartBody, MultipartDecoder, OutgoingPart};
use arterys_gateway::{DecodedResponse, InferenceInput, Mask, MaskShape};
use arterys_mock_server::Mode;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

mod ab;
mod batching;
mod inprocess;
mod models;
mod plot;
mod python;
mod reference;
mod server;
mod transport;
mod windows;

use inprocess::{codec, input_of, render};
use server::Server;

/// Benchmarks of the gateway, the mock server, the test tool and the ONNX model path.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    /// What to measure (default: all)
    #[command(subcommand)]
    what: Option<What>,
    /// Slices of the large study (512x512, 16-bit)
    #[arg(long, default_value_t = 300, global = true)]
    slices: u32,
    /// Seconds of the small-request runs (default 5; `batching`: 20)
    #[arg(long, global = true)]
    seconds: Option<u64>,
    /// Concurrent clients of the small-request run
    #[arg(long, default_value_t = 8, global = true)]
    clients: usize,
    /// Rounds of the large-study run (the best is reported, every one printed)
    #[arg(long, default_value_t = 3, global = true)]
    rounds: usize,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Everything below
    All,
    /// A large study through the mock server in seg3d mode
    Large,
    /// One-slice requests from concurrent clients
    Small,
    /// Multipart decode, encode and mask building alone
    Codec,
    /// The test tool drawing the large study's PNGs
    Render,
    /// The demo ONNX model: tract against onnxruntime, and the gateway's share of a request
    Model,
    /// nnU-Net-like U-Nets per engine and thread count against Python onnxruntime, and a whole
    /// model-server request (needs ORT_DYLIB_PATH and python3 with onnx, onnxruntime, numpy)
    Models,
    /// A 3D U-Net by 128³ sliding windows over the large study resampled to 1.5 mm: a whole
    /// model-server request against the same pipeline in Python (pydicom, NumPy, onnxruntime
    /// on the same threads), answers compared (needs ORT_DYLIB_PATH and python3 with onnx,
    /// onnxruntime, numpy, pydicom)
    Windows {
        /// Rows and columns of the study's slices
        #[arg(long, default_value_t = 512)]
        size: u32,
    },
    /// A one-slice request to a 2D U-Net whose batch dimension is fixed at 4 (padded) and to
    /// the same U-Net with a free batch dimension (run at its true size)
    Padding,
    /// The same SDK-style Python handlers under the SDK's Flask gateway and under the
    /// `arterys_gateway` package (built from python/ into the reference's venv): one-slice
    /// requests from `ab` at 1 and 8 clients, the large study with a 3D mask, peak RSS, and
    /// the Python boundary's cost per request
    Python,
    /// Ours against the reference peer (Flask on the Arterys SDK's stack, installed from PyPI
    /// into a venv and started here): one-slice requests from `ab` (apt-get install
    /// apache2-utils) against concurrency and cores, and the large study; writes the table's
    /// figures, transport.json and transport.svg to --out
    Transport {
        /// Where the JSON figures and the SVG plot go
        #[arg(long, default_value = "target/bench-transport")]
        out: PathBuf,
        /// Core counts to pin each server to (taskset); those above this machine's are skipped
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
        cores: Vec<usize>,
        /// Concurrent `ab` clients of the concurrency sweep
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
        concurrency: Vec<usize>,
    },
    /// model-server's dynamic batching against Triton Inference Server's on the 2D U-Net of
    /// `models`: one-slice requests from --clients for --seconds, with and without model-server's
    /// batcher, and Triton (nvidia-pytriton, its Python backend running onnxruntime) with its
    /// own (needs ORT_DYLIB_PATH, python3 with onnx and numpy, and ARTERYS_TRITON_PYTHON or
    /// .venv-triton)
    Batching,
    /// (internal) one engine configuration timed in its own process
    #[command(hide = true)]
    RunModel {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// (internal) the server child process
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        mode: String,
        /// A model-server config: serve its models instead of the mock service
        #[arg(long)]
        server_config: Option<PathBuf>,
        /// With --server-config: requests answered at once (model-server's --max-concurrent)
        #[arg(long, default_value_t = 1)]
        max_concurrent: usize,
    },
}

const SERIES: &str = "1.2.826.0.1.3680043.10.1137.1";
const MB: f64 = 1e6;

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| fail(&format!("tokio: {e}")));
    let what = cli.what.as_ref().unwrap_or(&What::All);
    if let What::Serve { mode, server_config, max_concurrent } = what {
        rt.block_on(serve(mode, server_config.as_deref(), *max_concurrent));
        return;
    }
    if let What::RunModel { config, runs } = what {
        models::run_model(config, *runs);
        return;
    }
    println!("machine: {} CPUs; figures from one run, each against its floor measured just before", cpus());
    let study = || synthetic_study(cli.slices);
    let seconds = cli.seconds.unwrap_or(5);
    match what {
        What::All => {
            let s = study();
            codec(&s);
            rt.block_on(large(&s, cli.rounds));
            rt.block_on(small(cli.clients, seconds));
            render(&s);
            rt.block_on(models::demo());
        }
        What::Large => rt.block_on(large(&study(), cli.rounds)),
        What::Small => rt.block_on(small(cli.clients, seconds)),
        What::Codec => codec(&study()),
        What::Render => render(&study()),
        What::Model => rt.block_on(models::demo()),
        What::Models => rt.block_on(models::models(cli.rounds)),
        What::Windows { size } => rt.block_on(windows::windows(cli.rounds, cli.slices, *size)),
        What::Padding => rt.block_on(models::padding(cli.rounds)),
        What::Python => rt.block_on(python::python(&python::Opts { slices: cli.slices, seconds, rounds: cli.rounds })),
        What::Transport { out, cores, concurrency } => rt.block_on(transport::transport(&transport::Opts {
            slices: cli.slices,
            seconds,
            rounds: cli.rounds,
            out: out.clone(),
            cores: cores.clone(),
            concurrency: concurrency.clone(),
        })),
        What::Batching => rt
            .block_on(batching::batching(&batching::Opts { seconds: cli.seconds.unwrap_or(20), clients: cli.clients })),
        What::Serve { .. } | What::RunModel { .. } => {}
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(1)
}

/// A field of this process's /proc status, in KiB.
fn self_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The server child: the mock server's service on a free loopback port; prints the port.
async fn serve(mode: &str, server_config: Option<&Path>, max_concurrent: usize) {
    use clap::ValueEnum;
    if std::env::var_os("BENCH_LOG").is_some() {
        let _ = arterys_gateway::logging::LoggingConfig::default().init_with_writer(std::io::stderr);
    }
    if let Some(path) = server_config {
        use arterys_model_server::service;
        let config = arterys_model_server::ServerConfig::load(path).unwrap_or_else(|e| fail(&e.to_string()));
        let slots = service::slots(&config);
        service::load_all(config, &slots).unwrap_or_else(|e| fail(&e.to_string()));
        let gw = service::routes(arterys_gateway::Gateway::new().max_concurrent_inferences(max_concurrent), &slots);
        let server = gw.bind("127.0.0.1:0").await.unwrap_or_else(|e| fail(&format!("bind: {e}")));
        println!("LISTENING {}", server.local_addr().port());
        let _ = std::io::stdout().flush();
        let _ = server.run().await;
        return;
    }
    if mode == "constant" {
        // The transport alone: a Rust handler that answers a constant (`bench python`'s
        // baseline for the Python boundary).
        let gw = arterys_gateway::Gateway::new().route("/", |_| Ok(arterys_gateway::InferenceResponse::new()));
        let server = gw.bind("127.0.0.1:0").await.unwrap_or_else(|e| fail(&format!("bind: {e}")));
        println!("LISTENING {}", server.local_addr().port());
        let _ = std::io::stdout().flush();
        let _ = server.run().await;
        return;
    }
    let mode = Mode::from_str(mode, true).unwrap_or_else(|e| fail(&e));
    let ready = Arc::new(AtomicBool::new(true));
    let gw = arterys_mock_server::service(mode, ready).max_concurrent_inferences(cpus());
    let server = gw.bind("127.0.0.1:0").await.unwrap_or_else(|e| fail(&format!("bind: {e}")));
    println!("LISTENING {}", server.local_addr().port());
    let _ = std::io::stdout().flush();
    let _ = server.run().await;
}

/// The synthetic study: `n` slices of 512x512 16-bit CT.
fn synthetic_study(n: u32) -> Vec<Bytes> {
    let t = Instant::now();
    let s: Vec<Bytes> = (0..n)
        .map(|i| {
            Bytes::from(
                arterys_gateway::dicom::synthetic::ct_slice(SERIES, i, 512, 512)
                    .unwrap_or_else(|e| fail(&e.to_string())),
            )
        })
        .collect();
    let bytes: usize = s.iter().map(Bytes::len).sum();
    println!("generated {n} slices, {:.1} MB, in {} ms", bytes as f64 / MB, t.elapsed().as_millis());
    s
}

fn request_body(slices: &[Bytes]) -> MultipartBody {
    request_with(r#"{"inference_command": "get-probability-mask"}"#, slices)
}

fn request_with(json: &'static str, slices: &[Bytes]) -> MultipartBody {
    let mut parts = vec![OutgoingPart::new("application/json", json)];
    parts.extend(slices.iter().map(|s| OutgoingPart::new("application/dicom", s.clone())));
    MultipartBody::new("bench-boundary-7f3a", parts)
}

/// SHA-256 of the request's part bodies, in-process: the protocol's floor.
fn hash_floor(slices: &[Bytes]) -> (Duration, usize) {
    let t = Instant::now();
    let mut h = Sha256::new();
    h.update(br#"{"inference_command": "get-probability-mask"}"#);
    let mut n = 0;
    for s in slices {
        h.update(s);
        n += s.len();
    }
    std::hint::black_box(h.finalize());
    (t.elapsed(), n)
}

type HttpClient = Client<HttpConnector, MultipartBody>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends one request and parses the whole answer; (status, parts, response bytes).
async fn exchange(
    client: &HttpClient,
    addr: SocketAddr,
    route: &str,
    body: MultipartBody,
) -> Result<(u16, usize, u64), String> {
    let (status, answer, n) = exchange_answer(client, addr, route, body).await?;
    Ok((status, answer.map_or(0, |a| a.buffers().len() + 2), n))
}

/// Sends one request and decodes the whole answer as it arrives; (status, the answer when it
/// is multipart, response bytes).
async fn exchange_answer(
    client: &HttpClient,
    addr: SocketAddr,
    route: &str,
    body: MultipartBody,
) -> Result<(u16, Option<DecodedResponse>, u64), String> {
    let req = http::Request::post(format!("http://{addr}{route}"))
        .header("content-type", "multipart/related; boundary=bench-boundary-7f3a")
        .body(body)
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut body = resp.into_body();
    let mut n = 0u64;
    let mut decoder =
        arterys_gateway::multipart::boundary_from_content_type(&ct).ok().and_then(|b| MultipartDecoder::new(&b).ok());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(d) = frame.into_data() {
            n += d.len() as u64;
            if let Some(dec) = decoder.as_mut() {
                dec.feed(&d).map_err(|e| e.to_string())?;
            }
        }
    }
    let answer = match decoder {
        Some(d) => Some(DecodedResponse::from_parts(d.finish().map_err(|e| e.to_string())?.0)),
        None => None,
    };
    Ok((status, answer, n))
}

async fn large(slices: &[Bytes], rounds: usize) {
    println!("\n## 1. Large study: {} slices through mock-server seg3d over loopback", slices.len());
    let (floor, hashed) = hash_floor(slices);
    let sha_rate = hashed as f64 / floor.as_secs_f64();
    println!(
        "floor: SHA-256 of the {:.1} MB in-process: {:.1} ms ({:.0} MB/s on one core)",
        hashed as f64 / MB,
        floor.as_secs_f64() * 1e3,
        sha_rate / MB
    );
    let server = Server::mock_server(None, &["--mode", "seg3d"]).await;
    let client = client();
    let req_bytes = http_body::Body::size_hint(&request_body(slices)).exact().unwrap_or(0);
    let mut best: Option<(Duration, u64, u64)> = None;
    for round in 1..=rounds.max(1) {
        server.reset_peak();
        let t = Instant::now();
        let (status, parts, resp_bytes) =
            exchange(&client, server.addr, "/", request_body(slices)).await.unwrap_or_else(|e| fail(&e));
        let wall = t.elapsed();
        let peak = server.peak_rss();
        if status != 200 || parts != 3 {
            fail(&format!("large study: status {status}, {parts} parts"));
        }
        let moved = req_bytes + resp_bytes;
        println!(
            "round {round}: wall {:.1} ms = {:.2}x the floor; server peak RSS {:.1} MB = {:.2}x request + response ({:.1} + {:.1} MB)",
            wall.as_secs_f64() * 1e3,
            wall.as_secs_f64() / floor.as_secs_f64(),
            peak as f64 / MB,
            peak as f64 / moved as f64,
            req_bytes as f64 / MB,
            resp_bytes as f64 / MB
        );
        if best.is_none_or(|b| wall < b.0) {
            best = Some((wall, peak, moved));
        }
    }
    if let Some((wall, peak, moved)) = best {
        println!(
            "RESULT large: wall/floor {:.2}x (target <= 2x); peak RSS/(request+response) {:.2}x (target <= 1.3x)",
            wall.as_secs_f64() / floor.as_secs_f64(),
            peak as f64 / moved as f64
        );
    }
}

async fn small(clients: usize, seconds: u64) {
    println!("\n## 2. Small requests: one 512x512 slice per request, {clients} concurrent clients, {seconds} s");
    let slice = vec![Bytes::from(
        arterys_gateway::dicom::synthetic::ct_slice(SERIES, 7, 512, 512).unwrap_or_else(|e| fail(&e.to_string())),
    )];
    let (floor, hashed) = {
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed() < Duration::from_millis(300) {
            let (_, b) = hash_floor(&slice);
            n += b;
        }
        (t.elapsed(), n)
    };
    let sha_rate = hashed as f64 / floor.as_secs_f64();
    let server = Server::mock_server(None, &["--mode", "boxes"]).await;
    let client = client();
    let req_bytes = http_body::Body::size_hint(&request_with("{}", &slice)).exact().unwrap_or(0);
    // Warm the connections.
    for _ in 0..clients {
        let _ = exchange(&client, server.addr, "/", request_with("{}", &slice)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, slice, addr) = (client.clone(), slice.clone(), server.addr);
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match exchange(&client, addr, "/", request_with("{}", &slice)).await {
                        Ok((200, 2, _)) => lat.push(t.elapsed()),
                        other => {
                            if errors == 0 {
                                eprintln!("first error: {other:?}");
                            }
                            errors += 1
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((l, e)) = t.await {
            lat.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let rps = lat.len() as f64 / elapsed;
    let hashed_rate = rps * req_bytes as f64;
    println!(
        "RESULT small: {:.0} requests/s (target >= 2500), p50 {:.2} ms, p99 {:.2} ms (target <= 20), {errors} errors; server hashed {:.0} MB/s = {:.2}x single-core SHA-256 ({:.0} MB/s)",
        rps,
        pct(0.50),
        pct(0.99),
        hashed_rate / MB,
        hashed_rate / sha_rate,
        sha_rate / MB
    );
}
