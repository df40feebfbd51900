//! `model-server`: serves the ONNX models of a config file over the Arterys inference
//! protocol, one route per model, READY once every model is loaded and warmed up; with
//! `monailabel: true` also to MONAI Label clients; `model-server infer` is the MedPerf Model
//! MLCube task.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arterys_gateway::allocator::return_memory_promptly;
use arterys_gateway::cli::TransportArgs;
use arterys_gateway::Gateway;
use arterys_model_server::platform::{self, mlcube, monailabel};
use arterys_model_server::{service, ServerConfig};
use clap::{Parser, Subcommand};
use tracing::{error, info};

/// jemalloc, set to hand freed memory back to the OS within 200 ms (`return_memory_promptly`); glibc's
/// malloc kept most of a burst of large studies in its per-thread arenas.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Serves the ONNX models of a config file over the Arterys inference protocol.
///
/// The config holds one model (served on `/`) or a list under `models:`, each with its
/// `route`. A model with `monailabel: true` also answers MONAI Label clients (`GET /info/`,
/// `POST /infer/{model}`). `model-server infer` runs the MedPerf Model MLCube task instead of
/// serving. See model-server/README.md.
#[derive(Debug, Parser)]
#[command(name = "model-server", version, subcommand_negates_reqs = true)]
#[command(mut_arg("memory_budget_mib", |a| a.env("MODEL_SERVER_MEMORY_BUDGET_MIB")))]
#[command(mut_arg("shutdown_grace_secs", |a| a.env("MODEL_SERVER_SHUTDOWN_GRACE_SECS")))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The model config (YAML)
    #[arg(long, env = "MODEL_SERVER_CONFIG", required = true)]
    config: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0", env = "MODEL_SERVER_HOST")]
    host: String,
    /// Port to listen on (0: a free one, which the READY log line names)
    #[arg(short, long, default_value_t = 8000, env = "MODEL_SERVER_PORT")]
    port: u16,
    /// Logging configuration (level, per-target levels, format); defaults apply if the
    /// default file is absent
    #[arg(long, default_value = "logging.yaml", env = "LOGGING_CONFIG")]
    logging_config: PathBuf,
    /// Requests answered at once; others wait (default 1: one inference already uses the
    /// configured threads; with `dynamic_batching`, the largest `max_batch`, so that
    /// requests can wait together for one run)
    #[arg(long)]
    max_concurrent: Option<usize>,
    #[command(flatten)]
    transport: TransportArgs,
    /// Directory below which `studyPath` requests may read studies (off when not set)
    #[arg(long, env = "MODEL_SERVER_STUDY_ROOT")]
    study_root: Option<PathBuf>,
    /// Seconds to keep accepting requests after SIGTERM while /readyz answers 503, so load
    /// balancers stop sending traffic first (then in-flight requests get the shutdown grace)
    #[arg(long, default_value_t = 0)]
    drain_delay_secs: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The MedPerf Model MLCube `infer` task: runs the model over every study of DATA_PATH
    /// (folders of DICOM files, DICOM files, .nii/.nii.gz volumes) and writes STUDY.nii.gz
    /// labels and predictions.json to OUTPUT_PATH. Exits non-zero, saying why, on any failure.
    Infer {
        /// Folder of studies (read only)
        #[arg(long = "data_path", alias = "data-path", value_name = "DIR")]
        data_path: PathBuf,
        /// MLCube parameters (YAML; optional keys: config, route)
        #[arg(long = "parameters_file", alias = "parameters-file", value_name = "FILE")]
        parameters_file: PathBuf,
        /// Folder for the predictions (created if needed)
        #[arg(long = "output_path", alias = "output-path", value_name = "DIR")]
        output_path: PathBuf,
        /// The model config (else `config:` of the parameters file)
        #[arg(long, env = "MODEL_SERVER_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Runs the MLCube `infer` task; the exit status says how it went.
fn run_infer(args: mlcube::InferArgs) -> ExitCode {
    match mlcube::infer(&args) {
        Ok(predictions) => {
            let labels = predictions.values().filter(|p| p.get("label").is_some()).count();
            println!(
                "model-server infer: {} studies, {labels} labels, predictions in {}",
                predictions.len(),
                args.output_path.join("predictions.json").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("model-server infer: {e}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Infer { data_path, parameters_file, output_path, config }) = cli.command {
        let args = mlcube::InferArgs { data_path, parameters_file, output_path, config: config.or(cli.config) };
        return tokio::task::spawn_blocking(move || run_infer(args)).await.unwrap_or(ExitCode::FAILURE);
    }
    let Some(config_path) = cli.config.clone() else {
        eprintln!("model-server: --config is required");
        return ExitCode::from(2);
    };
    let background_purge = return_memory_promptly();
    if let Err(e) = arterys_gateway::logging::init_from_flag(&cli.logging_config) {
        eprintln!("model-server: {e}");
        return ExitCode::from(2);
    }
    let config = match ServerConfig::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("model-server: {e}");
            return ExitCode::from(2);
        }
    };
    let ready = Arc::new(AtomicBool::new(false));
    let slots = service::slots(&config);
    let healthy = Arc::new(AtomicBool::new(true));
    let mut gw = service::readiness(Gateway::new(), Arc::clone(&ready), Arc::clone(&healthy))
        .max_concurrent_inferences(cli.max_concurrent.unwrap_or_else(|| default_concurrency(&config)).max(1));
    gw = service::routes(gw, &slots);
    gw = cli.transport.apply(gw).reserve_decoded_pixels();
    if let Some(root) = &cli.study_root {
        gw = gw.study_root(root);
    }
    gw = gw.drain_delay(Duration::from_secs(cli.drain_delay_secs));
    let monai: Vec<monailabel::MonaiModel> = config
        .models
        .iter()
        .zip(&slots)
        .filter(|(m, _)| m.monailabel)
        .map(|(m, slot)| monailabel::MonaiModel { name: m.name(), config: m.clone(), slot: slot.clone() })
        .collect();
    let (addr, serving): (std::net::SocketAddr, platform::Serving) = if monai.is_empty() {
        let server = match gw.bind((cli.host.as_str(), cli.port)).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("model-server: cannot listen on {}:{}: {e}", cli.host, cli.port);
                return ExitCode::FAILURE;
            }
        };
        let addr = server.local_addr();
        info!("model-server listening on {addr}");
        (addr, Box::pin(server.run()))
    } else {
        let names: Vec<String> = monai.iter().map(|m| m.name.clone()).collect();
        let gw = gw.merge_admitted(move |admission| monailabel::router(monai, admission));
        match platform::serve_with(gw, (cli.host.as_str(), cli.port)).await {
            Ok((addr, serving)) => {
                info!("model-server listening on {addr}; MONAI Label models: {}", names.join(", "));
                (addr, serving)
            }
            Err(e) => {
                eprintln!("model-server: cannot listen on {}:{}: {e}", cli.host, cli.port);
                return ExitCode::FAILURE;
            }
        }
    };
    if let Err(e) = background_purge {
        tracing::warn!("freed memory may return to the OS late: {e}");
    }
    let watched = slots.clone();
    let startup = tokio::task::spawn_blocking(move || service::load_all(config, &slots));
    tokio::pin!(serving);
    tokio::select! {
        started = startup => match started {
            Ok(Ok(())) => {
                // Logged first: whoever sees READY on /healthcheck finds it in the log too.
                // With `--port 0` the system picks the port: the READY line says which.
                info!("READY on http://{addr}");
                ready.store(true, Ordering::Release);
                service::watch(watched, healthy, Duration::from_secs(2));
            }
            Ok(Err(e)) => {
                error!("start-up failed: {e}");
                eprintln!("model-server: start-up failed: {e}");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("model-server: start-up failed: {e}");
                return ExitCode::from(2);
            }
        },
        result = &mut serving => arterys_gateway::cli::exit(result),
    }
    arterys_gateway::cli::exit(serving.await)
}

/// Requests run at once when `--max-concurrent` is not given: one, as one inference already
/// uses the configured threads; a model with `dynamic_batching` needs its requests to wait
/// together, so then its largest `max_batch`.
fn default_concurrency(config: &ServerConfig) -> usize {
    config.models.iter().filter_map(|m| m.dynamic_batching.map(|d| d.max_batch)).max().unwrap_or(1)
}
