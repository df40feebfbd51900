//! The `send-inference-request` command: its flags ([`Cli`]) and [`main`], which runs them
//! (in the library so that a test crate can build the same binary next to the servers it runs).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::output::{bar, file_name, spinner};
use crate::words::{count, tally};
use crate::{check, client, input, manifest, write};
use arterys_protocol::{BinaryType, InferenceResponse, MaskShape};
use bytes::Bytes;
use clap::Parser;

/// Sends DICOM studies to an Arterys inference service and draws what the viewer would show.
///
/// Every file below INPUT is loaded (JPEG and PNG images are turned into DICOM first),
/// grouped by series and sorted along the slice normal, and sent as one multipart/related
/// request. The answer is checked against the protocol (any violation is reported and the exit
/// status is 1) and written to OUTPUT: response.json, one PNG per image and frame with the
/// results drawn on it (thumbnails in thumbs/), the masks as .npy, DICOM outputs as .dcm, and
/// index.html to browse it all. Conformance warnings and structured reports are printed too.
#[derive(Debug, Parser)]
#[command(name = "send-inference-request", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// A DICOM file or a folder of them (searched recursively)
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Draw the study and series labels (study_ml_json, series_ml_json) and box labels as text
    #[arg(short = 'l', long = "include_label_plots", alias = "include-label-plots")]
    include_label_plots: bool,
    /// Host of the inference service
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port of the inference service (mock-server and model-server listen on 8000 by default)
    #[arg(short, long, default_value_t = SERVERS_PORT)]
    port: u16,
    /// Folder for the results (created if needed); an earlier run's files in it are replaced,
    /// other files are left alone
    #[arg(short, long, default_value = "output")]
    output: PathBuf,
    /// Files sent as attachments before the images (e.g. a license file)
    #[arg(short, long, num_args = 1..)]
    attachments: Vec<PathBuf>,
    /// Send the study's size (depth, height, width) in the request JSON
    #[arg(short = 'S', long = "send_study_size", alias = "send-study-size")]
    send_study_size: bool,
    /// The request's inference_command (get-bounding-box-2d, get-probability-mask, or another)
    #[arg(short = 'c', long = "inference_command", alias = "inference-command")]
    inference_command: Option<String>,
    /// The route of the inference service to call
    #[arg(short, long, default_value = "/")]
    route: String,
    /// Ask the service to read the study from this path on its side instead of sending the
    /// images (the JSON-only studyPath request); -i is then only used for drawing
    #[arg(long = "request_study_path", alias = "request-study-path", value_name = "PATH")]
    request_study_path: Option<String>,
    /// Seconds to wait for the whole exchange (sending the study and reading the answer);
    /// no limit when not set
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Tries again after a 503 (the service busy or starting) at most this many times, each
    /// after the answer's Retry-After (at most 60 s); 0: report the first 503
    #[arg(long, default_value_t = 3, value_name = "N")]
    retries: u32,
    /// Extra key=value pairs for the request JSON (values are strings)
    #[arg(short = 'R', long = "request_options", alias = "request-options", num_args = 1.., value_parser = key_value, value_name = "K=V")]
    request_options: Vec<(String, String)>,
}

const EXIT_CODES: &str = "Exit status: 0 the answer follows the protocol and every image was drawn; 1 it does not \
follow the protocol (each violation is printed); 2 bad arguments, nothing to send, or an output folder holding files \
like the tool's that no run wrote (checked before sending); 3 no answer: the service could not be reached, the \
connection broke before an answer, or --timeout passed; 4 an input image could not be drawn (each is printed with its \
reason); 5 the service refused or failed the request (a 4xx or 5xx status, printed with the service's reason).";

/// The port mock-server and model-server listen on by default.
const SERVERS_PORT: u16 = 8000;

fn key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("{s:?} is not key=value"))?;
    if k.is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// Sends `request`, each try bounded by `timeout` seconds, and sends it again after a 503 up
/// to `retries` times, waiting what the answer's `Retry-After` asks (capped); one stderr line
/// per retry.
async fn send_with_retries(
    request: client::Request,
    timeout: Option<u64>,
    retries: u32,
) -> Result<client::Exchange, Failure> {
    let url = request.url.clone();
    let mut tried = 0;
    loop {
        let exchange = client::send(request.clone(), bar(0, "sending", true));
        let ex = match timeout {
            Some(secs) => tokio::time::timeout(std::time::Duration::from_secs(secs), exchange)
                .await
                .map_err(|_| (3, format!("no complete answer from {url} within {secs} s (--timeout)")))?,
            None => exchange.await,
        }
        .map_err(|e| (3, transport_failure(&e)))?;
        match client::retry_wait(&ex) {
            Some(wait) if tried < retries => {
                tried += 1;
                eprintln!(
                    "the service answered {} {}; retry {tried} of {retries} in {} s",
                    ex.status,
                    reason(ex.status),
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
            }
            _ => return Ok(ex),
        }
    }
}

/// A transport failure in one line; when nothing listened, where the servers listen by default.
fn transport_failure(e: &client::TransportError) -> String {
    match e {
        client::TransportError::Unreachable { .. } => format!(
            "{e}\n  is the service running? mock-server and model-server listen on port {SERVERS_PORT} by default \
             (docker compose publishes it on 8900); give the service's address with --host and -p"
        ),
        _ => e.to_string(),
    }
}

/// The status's reason phrase ("" for an unknown status).
fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Parses the command line, runs it and prints why it failed; the exit status (the end of
/// `--help` says what each means).
#[tokio::main]
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("send-inference-request: {msg}");
            ExitCode::from(code)
        }
    }
}

type Failure = (u8, String);

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let study = load_study(&cli)?;
    // Before anything is sent: a refused folder must not cost a whole exchange.
    manifest::check(&cli.output).map_err(|e| (2, format!("output folder: {e}")))?;
    let request = build_request(&cli, &study)?;
    let url = request.url.clone();
    let ex = send_with_retries(request, cli.timeout, cli.retries).await?;
    let what = match &cli.request_study_path {
        Some(p) => format!("a studyPath request for {p:?}"),
        None => {
            [count(study.instances.len(), "image", "images"), count(cli.attachments.len(), "attachment", "attachments")]
                .join(" and ")
        }
    };
    println!(
        "sent {what} ({}) to {url}; answer {} ({}) after {:.2} s",
        mb(ex.sent_bytes),
        ex.status,
        mb(ex.received_bytes),
        ex.elapsed.as_secs_f64()
    );
    if ex.status >= 400 {
        return Err((5, service_error(&ex, &cli.route)));
    }
    for note in &ex.notes {
        println!("note: {note}");
    }
    let checked = check::check(&ex, &study);
    let replaced = manifest::prepare(&cli.output).map_err(|e| (2, format!("output folder: {e}")))?;
    if replaced > 0 {
        println!("replacing the {} of an earlier run in {}", count(replaced, "file", "files"), cli.output.display());
    }
    let target = format!("http://{}:{}{}", cli.host, cli.port, cli.route);
    let written = write::write_outputs(&cli.output, &target, &study, &checked, &ex, cli.include_label_plots)
        .and_then(|w| manifest::record(&cli.output).map(|_| w))
        .map_err(|e| (2, format!("writing {}: {e}", cli.output.display())))?;
    Ok(report(&cli, &checked, &written))
}

/// Every file below `-i`, read and sorted (nothing for a `studyPath` request without `-i`).
fn load_study(cli: &Cli) -> Result<input::Study, Failure> {
    let study = match &cli.input {
        Some(path) => {
            if !path.exists() {
                return Err((2, format!("input {} does not exist", path.display())));
            }
            let pb = spinner("reading");
            let s = input::load(path, |_| pb.inc(1)).map_err(|e| (2, format!("reading {}: {e}", path.display())))?;
            pb.finish_and_clear();
            s
        }
        None if cli.request_study_path.is_some() => input::Study { instances: vec![], series: vec![], skipped: vec![] },
        None => return Err((2, "nothing to send: give -i/--input (or --request_study_path)".into())),
    };
    for (path, reason) in &study.skipped {
        eprintln!("skipped {}: {reason}", path.display());
    }
    for i in study.instances.iter().filter(|i| i.converted) {
        println!("converted {} to a DICOM Part 10 file before sending", i.path.display());
    }
    if study.instances.is_empty() && cli.request_study_path.is_none() {
        return Err((
            2,
            format!(
                "no DICOM or image files to send below {}",
                cli.input.as_deref().unwrap_or(Path::new("")).display()
            ),
        ));
    }
    Ok(study)
}

/// The request the flags ask for: its JSON, attachments and images.
fn build_request(cli: &Cli, study: &input::Study) -> Result<client::Request, Failure> {
    let mut json = serde_json::Map::new();
    if let Some(uid) = study.instances.first().and_then(|i| i.info.study_instance_uid.clone()) {
        json.insert("studyUID".into(), uid.into());
    }
    if let Some(c) = &cli.inference_command {
        json.insert("inference_command".into(), c.clone().into());
    }
    if cli.send_study_size {
        if let Some(first) = study.instances.first() {
            json.insert("depth".into(), study.instances.len().into());
            json.insert("height".into(), first.info.rows.into());
            json.insert("width".into(), first.info.columns.into());
        }
    }
    if let Some(p) = &cli.request_study_path {
        json.insert("studyPath".into(), p.clone().into());
    }
    for (k, v) in &cli.request_options {
        json.insert(k.clone(), v.clone().into());
    }
    let mut attachments = Vec::new();
    for a in &cli.attachments {
        let bytes = std::fs::read(a).map_err(|e| (2, format!("attachment {}: {e}", a.display())))?;
        attachments.push((file_name(a), Bytes::from(bytes)));
    }
    let route = if cli.route.starts_with('/') { cli.route.clone() } else { format!("/{}", cli.route) };
    Ok(client::Request {
        url: format!("http://{}:{}{route}", cli.host, cli.port),
        json: serde_json::Value::Object(json),
        attachments,
        dicom: study.instances.iter().map(|i| (file_name(&i.path), i.bytes.clone())).collect(),
        json_only: cli.request_study_path.is_some(),
    })
}

/// A 4xx or 5xx: the service's own refusal or failure, with its reason (not a protocol
/// violation: the service said what went wrong, as the protocol asks).
fn service_error(ex: &client::Exchange, route: &str) -> String {
    let text = ex.text.as_deref().map(str::trim).unwrap_or_default();
    let mut msg = format!(
        "the service answered {} {}: {}",
        ex.status,
        reason(ex.status),
        if text.is_empty() { "(no reason given)" } else { text }
    );
    if ex.status == 404 {
        msg.push_str(&format!("\n  -r chooses the route ({route:?} was asked for)"));
    }
    msg
}

/// Prints what came back and was written; the exit status.
fn report(cli: &Cli, checked: &check::Checked, written: &write::Written) -> ExitCode {
    if let Some(r) = &checked.response {
        println!("received: {}", describe_response(r));
    }
    for w in &written.warnings {
        println!("DICOM conformance warning: {w}");
    }
    for (heading, lines) in &written.outputs {
        println!("DICOM output: {heading}");
        for line in lines {
            println!("    {line}");
        }
    }
    for f in &written.failures {
        eprintln!("not drawn: {f}");
    }
    println!("wrote {} to {}", written.description, cli.output.display());
    let not_drawn = written.failures.iter().filter(|f| f.is_image).count();
    if not_drawn > 0 {
        let (one, many) = ("image could not be drawn", "images could not be drawn");
        eprintln!("{}", count(not_drawn, one, many));
    }
    let violations: Vec<&String> = checked.violations.iter().chain(&written.violations).collect();
    if violations.is_empty() {
        return if not_drawn > 0 { ExitCode::from(4) } else { ExitCode::SUCCESS };
    }
    for v in &violations {
        eprintln!("protocol violation: {v}");
    }
    eprintln!("{}", count(violations.len(), "protocol violation", "protocol violations"));
    ExitCode::from(1)
}

/// `2 bounding boxes, 1 probability mask (3D), ...`: each kind of result once, counted.
fn describe_response(r: &InferenceResponse) -> String {
    let j = r.json();
    let mut out = Vec::new();
    let n = j.bounding_boxes_2d.as_ref().map_or(0, Vec::len);
    if n > 0 {
        out.push(count(n, "bounding box", "bounding boxes"));
    }
    let n = j.linear_measurements_2d.as_ref().map_or(0, Vec::len);
    if n > 0 {
        out.push(count(n, "measurement", "measurements"));
    }
    if j.study_ml_json.is_some() {
        out.push("study_ml_json".into());
    }
    if let Some(s) = &j.series_ml_json {
        out.push(format!("series_ml_json for {}", count(s.len(), "series", "series")));
    }
    // Parts by kind, in order of first appearance.
    let kinds = tally(j.parts.iter().map(|p| {
        let dims = match p.binary_data_shape.map(|s| MaskShape::from_binary_data_shape(&s)) {
            Some(s) if s.is_image() => " (2D)",
            Some(_) => " (3D)",
            None => "",
        };
        let (one, many) = part_nouns(&p.binary_type);
        (one, many, dims)
    }));
    out.extend(kinds.into_iter().map(|((one, many, dims), n)| format!("{}{dims}", count(n, one, many))));
    if out.is_empty() {
        "no results".into()
    } else {
        out.join(", ")
    }
}

/// A part's kind in words, singular and plural.
fn part_nouns(b: &BinaryType) -> (&'static str, &'static str) {
    match b {
        BinaryType::ProbabilityMask => ("probability mask", "probability masks"),
        BinaryType::BooleanMask => ("boolean mask", "boolean masks"),
        BinaryType::Heatmap => ("heatmap", "heatmaps"),
        BinaryType::NumericLabelMask => ("numeric label mask", "numeric label masks"),
        BinaryType::DicomSecondaryCapture => ("DICOM secondary capture", "DICOM secondary captures"),
        BinaryType::Dicom | BinaryType::DicomStructuredReport => {
            ("DICOM structured report", "DICOM structured reports")
        }
        BinaryType::DicomGsps => ("DICOM presentation state", "DICOM presentation states"),
        _ => ("part of a type protocol 1.0 does not define", "parts of types protocol 1.0 does not define"),
    }
}
