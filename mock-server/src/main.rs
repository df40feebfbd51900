//! `mock-server`: an Arterys inference service that answers every kind of result the viewer
//! understands, on real studies, through the `arterys-gateway` crate. Start here, then copy the mode
//! closest to your model (see the `mock_server` library).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arterys_gateway::allocator::return_memory_promptly;
use arterys_gateway::cli::TransportArgs;
use arterys_mock_server::{service, warm_up, Mode};
use clap::Parser;
use tracing::{error, info};

/// jemalloc, set to hand freed memory back to the OS within 200 ms (`return_memory_promptly`); glibc's
/// malloc kept most of a burst of large studies in its per-thread arenas.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// An Arterys inference service that answers with every kind of result, for trying the
/// protocol end to end before your own model is wired in.
///
/// Every mode is also served on its own route (`/boxes`, `/seg3d`, ...); `/` answers in the
/// startup mode. The reference server's flags still work as the first argument: `-b`,
/// `-s2D`, `-s3D`, `-cl`.
#[derive(Debug, Parser)]
#[command(name = "mock-server", version)]
#[command(mut_arg("memory_budget_mib", |a| a.env("MOCK_SERVER_MEMORY_BUDGET_MIB")))]
#[command(mut_arg("shutdown_grace_secs", |a| a.env("MOCK_SERVER_SHUTDOWN_GRACE_SECS")))]
struct Cli {
    /// What `/` answers when the request's inference_command does not say
    #[arg(long, value_enum, default_value_t = Mode::Auto, env = "MOCK_SERVER_MODE")]
    mode: Mode,
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0", env = "MOCK_SERVER_HOST")]
    host: String,
    /// Port to listen on (0: a free one, which the READY log line names)
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
    #[command(flatten)]
    transport: TransportArgs,
    /// Extra start-up time before /healthcheck says READY, to rehearse a slow model load
    #[arg(long, default_value_t = 0)]
    startup_delay_ms: u64,
    /// Serving an ONNX model moved to `model-server --config FILE`: this flag only says so
    #[arg(long, hide = true, env = "MOCK_SERVER_MODEL")]
    model: Option<PathBuf>,
    /// Serving an ONNX model moved to `model-server --config FILE`: this flag only says so
    #[arg(long, hide = true, env = "MOCK_SERVER_MODEL_CONFIG")]
    model_config: Option<PathBuf>,
}

/// What `--model-config` and `--model` answer: the mock server has no model engines.
const MODELS_MOVED: &str = "--model-config moved to model-server: run `model-server --config FILE` with the same \
     YAML (its model is served on `/`; see model-server/README.md). mock-server links no model engine";

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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse_from(legacy_args(std::env::args()));
    if cli.model.is_some() || cli.model_config.is_some() {
        eprintln!("mock-server: {MODELS_MOVED}");
        return std::process::ExitCode::from(2);
    }
    let background_purge = return_memory_promptly();
    if let Err(e) = arterys_gateway::logging::init_from_flag(&cli.logging_config) {
        eprintln!("mock-server: {e}");
        return std::process::ExitCode::from(2);
    }

    let ready = Arc::new(AtomicBool::new(false));
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut gw = service(cli.mode, Arc::clone(&ready)).max_concurrent_inferences(cli.max_concurrent.unwrap_or(cpus));
    gw = cli.transport.apply(gw).reserve_decoded_pixels();
    if let Some(root) = &cli.study_root {
        gw = gw.study_root(root);
    }
    let server = match gw.bind((cli.host.as_str(), cli.port)).await {
        Ok(s) => s,
        Err(e) => {
            error!("cannot listen on {}:{}: {e}", cli.host, cli.port);
            eprintln!("mock-server: cannot listen on {}:{}: {e}", cli.host, cli.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    // With `--port 0` the system picks the port: the READY line says which.
    let addr = server.local_addr();
    info!("mock-server in {} mode", cli.mode.name());
    if let Err(e) = background_purge {
        tracing::warn!("freed memory may return to the OS late: {e}");
    }
    let delay = Duration::from_millis(cli.startup_delay_ms);
    let startup = tokio::task::spawn_blocking(move || warm_up(delay));
    let serving = server.run();
    tokio::pin!(serving);
    tokio::select! {
        started = startup => match started.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(()) => {
                ready.store(true, Ordering::Release);
                info!("READY on http://{addr}");
            }
            Err(e) => {
                error!("start-up failed: {e}");
                eprintln!("mock-server: start-up failed: {e}");
                return std::process::ExitCode::from(2);
            }
        },
        result = &mut serving => arterys_gateway::cli::exit(result),
    }
    arterys_gateway::cli::exit(serving.await)
}
