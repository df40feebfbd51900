//! `mock-server`: an Arterys inference service that answers every kind of result the viewer
//! understands, on real studies, through the `gateway` crate. Start here, then copy the mode
//! closest to your model.

mod capture;
mod results;
mod study;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use gateway::{Gateway, HandlerResult, InferenceCommand, InferenceInput, InferenceResponse, Readiness};
use results::MaskKind;
use study::Study;
use tracing::{error, info};

/// What the server answers when the request's `inference_command` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// By inference_command (get-bounding-box-2d: boxes; get-probability-mask: masks); boxes otherwise
    Auto,
    /// A bounding box on every image (`-b`)
    Boxes,
    /// A 2D probability mask per image: a disc in the middle (`-s2D`)
    Seg2d,
    /// A 3D probability mask per series: a ball growing from the centre slice (`-s3D`)
    Seg3d,
    /// Boolean masks: 3D per series with geometry, 2D per image otherwise
    Boolean,
    /// Heatmaps through an anchorpoint palette: 3D per series with geometry, 2D otherwise
    Heatmap,
    /// Numeric label masks (Core, Rim, Halo) with their label map
    NumericLabels,
    /// Study and series classification JSON (`-cl`)
    Classification,
    /// A linear measurement across every image
    Measurements,
    /// A DICOM Secondary Capture per series with the result burned in
    SecondaryCapture,
}

impl Mode {
    fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// An Arterys inference service that answers with every kind of result, for trying the
/// protocol end to end before your own model is wired in.
///
/// Every mode is also served on its own route (`/boxes`, `/seg3d`, ...); `/` answers in the
/// startup mode. The reference server's flags still work as the first argument: `-b`,
/// `-s2D`, `-s3D`, `-cl`.
#[derive(Debug, Parser)]
#[command(name = "mock-server", version)]
struct Cli {
    /// What `/` answers when the request's inference_command does not say
    #[arg(long, value_enum, default_value_t = Mode::Auto, env = "MOCK_SERVER_MODE")]
    mode: Mode,
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0", env = "MOCK_SERVER_HOST")]
    host: String,
    /// Port to listen on
    #[arg(short, long, default_value_t = 8000, env = "MOCK_SERVER_PORT")]
    port: u16,
    /// Logging configuration (level, per-target levels, format); defaults apply if the
    /// default file is absent
    #[arg(long, default_value = "logging.yaml", env = "LOGGING_CONFIG")]
    logging_config: PathBuf,
    /// Directory below which `studyPath` requests may read studies (off when not set)
    #[arg(long, env = "MOCK_SERVER_STUDY_ROOT")]
    study_root: Option<PathBuf>,
    /// Requests handled at once; others wait (default: one per CPU)
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// Largest request body in MiB (larger gets 413)
    #[arg(long, default_value_t = 4096)]
    body_limit_mib: u64,
    /// Seconds a request may take before it gets 504 (no limit when not set)
    #[arg(long)]
    handler_timeout_secs: Option<u64>,
    /// Extra start-up time before /healthcheck says READY, to rehearse a slow model load
    #[arg(long, default_value_t = 0)]
    startup_delay_ms: u64,
}

/// The reference's single-dash flags, accepted anywhere so existing start scripts work.
fn legacy_args(args: impl Iterator<Item = String>) -> Vec<String> {
    args.map(|a| match a.as_str() {
        "-b" => "--mode=boxes".to_owned(),
        "-s2D" => "--mode=seg2d".to_owned(),
        "-s3D" => "--mode=seg3d".to_owned(),
        "-cl" => "--mode=classification".to_owned(),
        _ => a,
    })
    .collect()
}

/// Answers one request in `mode`, unless its inference_command says otherwise.
fn answer(mode: Mode, input: InferenceInput) -> HandlerResult {
    let study = Study::read(&input)?;
    let mode = match (&input.request.inference_command, mode) {
        (Some(InferenceCommand::BoundingBox2d), _) => Mode::Boxes,
        (Some(InferenceCommand::ProbabilityMask), _) => {
            let mut r = InferenceResponse::new();
            results::masks_by_geometry(MaskKind::Probability, &study, &mut r)?;
            info!("get-probability-mask: {} mask parts for {} series", r.json().parts.len(), study.series.len());
            return Ok(r);
        }
        (_, Mode::Auto) => Mode::Boxes,
        (_, m) => m,
    };
    info!("answering {} for {} images in {} series", mode.name(), study.instances.len(), study.series.len());
    let mut r = InferenceResponse::new();
    match mode {
        Mode::Auto | Mode::Boxes => results::boxes(&study, &mut r),
        Mode::Seg2d => results::masks_2d(MaskKind::Probability, &study, &mut r)?,
        Mode::Seg3d => results::masks_3d(MaskKind::Probability, &study, &mut r)?,
        Mode::Boolean => results::masks_by_geometry(MaskKind::Boolean, &study, &mut r)?,
        Mode::Heatmap => results::masks_by_geometry(MaskKind::Heatmap, &study, &mut r)?,
        Mode::NumericLabels => results::masks_by_geometry(MaskKind::NumericLabels, &study, &mut r)?,
        Mode::Classification => results::classification(&study, &mut r),
        Mode::Measurements => results::measurements(&study, &mut r),
        Mode::SecondaryCapture => capture::secondary_captures(&input, &study, &mut r)?,
    }
    Ok(r)
}

/// Start-up work: every mode answers a synthetic slice with a valid response. `/healthcheck`
/// says READY only after it.
fn warm_up(delay: Duration) -> Result<(), String> {
    let slice =
        gateway::dicom::synthetic::ct_slice("1.2.826.0.1.3680043.10.543.1", 0, 64, 64).map_err(|e| e.to_string())?;
    for mode in Mode::value_variants() {
        let input = InferenceInput {
            request: Default::default(),
            json: Default::default(),
            dicom: vec![gateway::RequestPart { index: 1, headers: Default::default(), body: slice.clone().into() }],
            attachments: vec![],
            input_hash: String::new(),
            route: "/".into(),
            study_dir: None,
        };
        // Quietly: these are not requests.
        let r =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || answer(*mode, input))
                .map_err(|e| format!("{}: {e}", mode.name()))?;
        r.validate().map_err(|e| format!("{}: {e}", mode.name()))?;
    }
    std::thread::sleep(delay);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse_from(legacy_args(std::env::args()));
    let log_result = if cli.logging_config.exists() {
        gateway::logging::init_from_file(&cli.logging_config)
    } else if cli.logging_config.as_os_str() == "logging.yaml" {
        gateway::logging::LoggingConfig::default().init()
    } else {
        eprintln!("mock-server: logging config {} not found", cli.logging_config.display());
        return std::process::ExitCode::from(2);
    };
    if let Err(e) = log_result {
        eprintln!("mock-server: {e}");
        return std::process::ExitCode::from(2);
    }

    let ready = Arc::new(AtomicBool::new(false));
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut gw = Gateway::new()
        .readiness({
            let ready = Arc::clone(&ready);
            move || if ready.load(Ordering::Acquire) { Readiness::Ready } else { Readiness::NotReady("LOADING".into()) }
        })
        .max_concurrent_inferences(cli.max_concurrent.unwrap_or(cpus))
        .body_limit(cli.body_limit_mib << 20);
    let startup = cli.mode;
    gw = gw.route("/", move |input| answer(startup, input));
    for mode in Mode::value_variants().iter().copied() {
        gw = gw.route(&format!("/{}", mode.name()), move |input| answer(mode, input));
    }
    if let Some(root) = &cli.study_root {
        gw = gw.study_root(root);
    }
    if let Some(secs) = cli.handler_timeout_secs {
        gw = gw.handler_timeout(Duration::from_secs(secs));
    }
    let server = match gw.bind((cli.host.as_str(), cli.port)).await {
        Ok(s) => s,
        Err(e) => {
            error!("cannot listen on {}:{}: {e}", cli.host, cli.port);
            eprintln!("mock-server: cannot listen on {}:{}: {e}", cli.host, cli.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    info!("mock-server in {} mode", cli.mode.name());
    let delay = Duration::from_millis(cli.startup_delay_ms);
    tokio::task::spawn_blocking(move || match warm_up(delay) {
        Ok(()) => {
            ready.store(true, Ordering::Release);
            info!("READY");
        }
        Err(e) => error!("start-up check failed, staying not ready: {e}"),
    });
    match server.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            error!("server failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
