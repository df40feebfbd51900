//! `bench transport`: our server against the reference peer (Flask on the Arterys SDK's stack,
//! see `reference`), both started here, in one run: one-slice requests from `ab` (a new
//! connection per request, and keep-alive), a large study through our HTTP client, and
//! throughput against concurrency and cores. Writes a table, `transport.json` and
//! `transport.svg` (the plot) to `--out`.

use super::*;
use crate::ab::{self, AbResult, Load};
use crate::plot::{Panel, Series};
use serde_json::json;

/// What `bench transport` is asked for.
pub(crate) struct Opts {
    pub slices: u32,
    pub seconds: u64,
    pub rounds: usize,
    pub out: PathBuf,
    /// Core counts to pin the servers to (those above this machine's are skipped).
    pub cores: Vec<usize>,
    pub concurrency: Vec<usize>,
}

const CT: &str = "multipart/related; boundary=bench-boundary-7f3a";
const OURS: &str = "#1f77b4";
const THEIRS: &str = "#d62728";

pub(crate) fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu_list(from: usize, n: usize) -> String {
    if n == 1 {
        from.to_string()
    } else {
        format!("{from}-{}", from + n - 1)
    }
}

/// `ab` against `addr`, `c` clients; with `server_cpus` cores of this machine given to the
/// server, the client is pinned to the others when there are any.
pub(crate) fn ab_run(
    addr: SocketAddr,
    body: &Path,
    c: usize,
    seconds: u64,
    keep_alive: bool,
    server_cores: Option<usize>,
) -> AbResult {
    let total = cpus();
    let client_cpus = server_cores.filter(|&n| n < total).map(|n| cpu_list(n, total - n));
    // One `ab` is one thread: give it company on machines with cores to spare.
    let processes = match server_cores.filter(|&n| n < total) {
        Some(n) => ((total - n) / 2).max(1),
        None => (total / 4).max(1),
    };
    ab::run(&Load {
        addr,
        path: "/",
        body,
        content_type: CT,
        concurrency: c,
        seconds,
        keep_alive,
        processes,
        cpus: client_cpus.as_deref(),
    })
}

pub(crate) fn fmt_ab(r: &AbResult) -> String {
    format!(
        "{:.0} req/s, mean {:.2} ms, p50 {:.0} ms, p99 {:.0} ms, {} errors",
        r.requests_per_s, r.mean_ms, r.p50_ms, r.p99_ms, r.errors
    )
}

pub(crate) fn ab_json(r: &AbResult) -> serde_json::Value {
    json!({"requests_per_s": r.requests_per_s, "mean_ms": r.mean_ms, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "complete": r.complete, "errors": r.errors})
}

/// `rounds` large-study exchanges on `route`: (best wall time, the server's peak RSS over all
/// rounds, response bytes). The peak is the largest round's: what the process needed.
pub(crate) async fn large_rounds(
    server: &Server,
    route: &str,
    slices: &[Bytes],
    rounds: usize,
    who: &str,
) -> (Duration, u64, u64) {
    let client = client();
    let mut best: Option<(Duration, u64, u64)> = None;
    let mut highest = 0;
    for round in 1..=rounds.max(1) {
        server.reset_peak();
        let t = Instant::now();
        let (status, parts, resp_bytes) = exchange(&client, server.addr, route, request_body(slices))
            .await
            .unwrap_or_else(|e| fail(&format!("{who}: {e}")));
        let wall = t.elapsed();
        if status != 200 || parts != 3 {
            fail(&format!("{who}, large study: status {status}, {parts} parts"));
        }
        let peak = server.peak_rss();
        println!(
            "  {who} round {round}: {:.1} ms, peak RSS {:.0} MB, answer {:.1} MB",
            wall.as_secs_f64() * 1e3,
            peak as f64 / MB,
            resp_bytes as f64 / MB
        );
        highest = highest.max(peak);
        if best.is_none_or(|b| wall < b.0) {
            best = Some((wall, peak, resp_bytes));
        }
    }
    best.map(|(wall, _, resp)| (wall, highest, resp)).unwrap_or_default()
}

/// One-slice requests against concurrency: (clients, ours, reference).
type Sweep = Vec<(usize, AbResult, AbResult)>;
/// Against cores: (cores, ours, reference, our large-study wall time).
type Scaling = Vec<(usize, AbResult, AbResult, Duration)>;

/// The large study through both servers.
struct Large {
    slices: usize,
    /// Request part bytes (hashed) and answer bytes.
    request_bytes: usize,
    response_bytes: u64,
    /// Best wall time and peak RSS (highest round) of each server.
    ours: (Duration, u64),
    reference: (Duration, u64),
    /// SHA-256 over request and answer, in seconds: the floor ours is held to.
    floor_s: f64,
}

pub(crate) async fn transport(o: &Opts) {
    ab::check();
    println!("\n## Transport: ours against the reference (Flask on the SDK's stack), load average {}", load_avg());
    let python = reference::python();
    let _ = std::fs::create_dir_all(&o.out);
    let body_file = one_slice_request(&o.out);
    println!("{} s per load", o.seconds);
    let (sweep, keep_alive) = one_slice_loads(&python, &body_file, o).await;
    let study = synthetic_study(o.slices);
    let large = large_study(&python, &study, o.rounds).await;
    let scaling = against_cores(&python, &body_file, &study, o).await;
    let json_path = o.out.join("transport.json");
    let _ = std::fs::write(&json_path, report(o, &sweep, &keep_alive, &large, &scaling));
    let svg_path = o.out.join("transport.svg");
    let _ = std::fs::write(&svg_path, plot::svg(&panels(&sweep, &scaling, study.len())));
    let _ = std::fs::remove_file(&body_file);
    println!("wrote {} and {}", json_path.display(), svg_path.display());
}

/// Writes the one-slice request `ab` sends to `out`; its path.
fn one_slice_request(out: &Path) -> PathBuf {
    let slice = vec![Bytes::from(
        arterys_gateway::dicom::synthetic::ct_slice(SERIES, 7, 512, 512).unwrap_or_else(|e| fail(&e.to_string())),
    )];
    let body: Vec<u8> = request_with("{}", &slice).flat_map(|b| b.to_vec()).collect();
    let body_file = out.join("one-slice-request.bin");
    std::fs::write(&body_file, &body).unwrap_or_else(|e| fail(&format!("{}: {e}", body_file.display())));
    print!("one-slice request: {:.0} kB; ", body.len() as f64 / 1e3);
    body_file
}

/// One-slice requests against concurrency, a new connection per request; then keep-alive
/// with 8 clients (ours, reference).
async fn one_slice_loads(python: &PathBuf, body_file: &Path, o: &Opts) -> (Sweep, [AbResult; 2]) {
    let (ours, theirs) = (Server::mock_server(None, &["--mode", "boxes"]).await, reference::start(python, None));
    let mut sweep = Vec::new();
    for &c in &o.concurrency {
        let (a, b) = (
            ab_run(ours.addr, body_file, c, o.seconds, false, None),
            ab_run(theirs.addr, body_file, c, o.seconds, false, None),
        );
        println!(
            "new connection per request, {c} clients: ours {} | reference {} | {:.1}x",
            fmt_ab(&a),
            fmt_ab(&b),
            a.requests_per_s / b.requests_per_s
        );
        sweep.push((c, a, b));
    }
    let ka = [
        ab_run(ours.addr, body_file, 8, o.seconds, true, None),
        ab_run(theirs.addr, body_file, 8, o.seconds, true, None),
    ];
    println!(
        "keep-alive, 8 clients: ours {} | reference {} | {:.1}x",
        fmt_ab(&ka[0]),
        fmt_ab(&ka[1]),
        ka[0].requests_per_s / ka[1].requests_per_s
    );
    (sweep, ka)
}

/// The large study through each server in turn (one at a time on the machine).
async fn large_study(python: &PathBuf, study: &[Bytes], rounds: usize) -> Large {
    let (floor, hashed) = hash_floor(study);
    let ours = Server::mock_server(None, &["--mode", "seg3d"]).await;
    let (ow, orss, resp) = large_rounds(&ours, "/", study, rounds, "ours").await;
    drop(ours);
    let theirs = reference::start(python, None);
    let (tw, trss, _) = large_rounds(&theirs, "/", study, rounds, "reference").await;
    drop(theirs);
    let floor_s = floor.as_secs_f64() * (hashed as f64 + resp as f64) / hashed as f64;
    println!(
        "large study ({} slices, {:.1} MB in, {:.1} MB out): ours {:.1} ms, {:.0} MB RSS | reference {:.1} ms, {:.0} MB RSS | {:.2}x faster; ours = {:.2}x the SHA-256 floor of request + answer ({:.1} ms)",
        study.len(), hashed as f64 / MB, resp as f64 / MB, ow.as_secs_f64() * 1e3, orss as f64 / MB, tw.as_secs_f64() * 1e3, trss as f64 / MB,
        tw.as_secs_f64() / ow.as_secs_f64(), ow.as_secs_f64() / floor_s, floor_s * 1e3
    );
    Large {
        slices: study.len(),
        request_bytes: hashed,
        response_bytes: resp,
        ours: (ow, orss),
        reference: (tw, trss),
        floor_s,
    }
}

/// Against cores: each server pinned to n cores (its runtime sizes itself from them).
async fn against_cores(python: &PathBuf, body_file: &Path, study: &[Bytes], o: &Opts) -> Scaling {
    let mut scaling = Vec::new();
    for &n in o.cores.iter().filter(|&&n| n <= cpus()) {
        let list = cpu_list(0, n);
        let c = (2 * n).max(8);
        let ours = Server::mock_server(Some(&list), &["--mode", "boxes"]).await;
        let a = ab_run(ours.addr, body_file, c, o.seconds, false, Some(n));
        drop(ours);
        let theirs = reference::start(python, Some(&list));
        let b = ab_run(theirs.addr, body_file, c, o.seconds, false, Some(n));
        drop(theirs);
        let ours = Server::mock_server(Some(&list), &["--mode", "seg3d"]).await;
        let (lw, _, _) = large_rounds(&ours, "/", study, 1, "ours").await;
        drop(ours);
        println!(
            "{n} cores, {c} clients: ours {} | reference {} | {:.1}x; large study {:.1} ms",
            fmt_ab(&a),
            fmt_ab(&b),
            a.requests_per_s / b.requests_per_s,
            lw.as_secs_f64() * 1e3
        );
        scaling.push((n, a, b, lw));
    }
    scaling
}

/// `transport.json`.
fn report(o: &Opts, sweep: &Sweep, ka: &[AbResult; 2], large: &Large, scaling: &Scaling) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let result = json!({
        "machine": {"cpus": cpus(), "load_average": load_avg()},
        "seconds_per_load": o.seconds,
        "concurrency": sweep.iter().map(|(c, a, b)| json!({"clients": c, "ours": ab_json(a), "reference": ab_json(b)})).collect::<Vec<_>>(),
        "keep_alive_8": {"ours": ab_json(&ka[0]), "reference": ab_json(&ka[1])},
        "large": {"slices": large.slices, "request_mb": large.request_bytes as f64 / MB, "response_mb": large.response_bytes as f64 / MB,
            "ours_ms": ms(large.ours.0), "ours_peak_rss_mb": large.ours.1 as f64 / MB,
            "reference_ms": ms(large.reference.0), "reference_peak_rss_mb": large.reference.1 as f64 / MB,
            "sha256_floor_ms": large.floor_s * 1e3},
        "cores": scaling.iter().map(|(n, a, b, l)| json!({"cores": n, "ours": ab_json(a), "reference": ab_json(b), "ours_large_ms": ms(*l)})).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&result).unwrap_or_default()
}

/// The plot's panels: throughput against clients, and against cores when measured.
fn panels(sweep: &Sweep, scaling: &Scaling, slices: usize) -> Vec<Panel> {
    let line = |name: &str, color: &'static str, points: Vec<(f64, f64)>| Series { name: name.into(), color, points };
    let mut panels = vec![Panel {
        title: "One slice per request, new connections".into(),
        x_label: format!("concurrent clients (all {} cores)", cpus()),
        y_label: "requests/s".into(),
        series: vec![
            line("ours", OURS, sweep.iter().map(|(c, a, _)| (*c as f64, a.requests_per_s)).collect()),
            line("reference (Flask)", THEIRS, sweep.iter().map(|(c, _, b)| (*c as f64, b.requests_per_s)).collect()),
        ],
    }];
    if !scaling.is_empty() {
        panels.push(Panel {
            title: "One slice per request, against cores".into(),
            x_label: "server cores".into(),
            y_label: "requests/s".into(),
            series: vec![
                line("ours", OURS, scaling.iter().map(|(n, a, _, _)| (*n as f64, a.requests_per_s)).collect()),
                line(
                    "reference (Flask)",
                    THEIRS,
                    scaling.iter().map(|(n, _, b, _)| (*n as f64, b.requests_per_s)).collect(),
                ),
            ],
        });
        panels.push(Panel {
            title: format!("{slices}-slice study, against cores"),
            x_label: "server cores".into(),
            y_label: "studies/min".into(),
            series: vec![line(
                "ours",
                OURS,
                scaling.iter().map(|(n, _, _, l)| (*n as f64, 60.0 / l.as_secs_f64())).collect(),
            )],
        });
    }
    panels
}
