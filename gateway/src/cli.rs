//! Command-line flags shared by the servers built on the gateway (feature `cli`): one
//! definition of the transport flags, flattened into each binary's `clap` parser, and how a
//! server binary exits.

use std::time::Duration;

use crate::budget::MemoryBudget;
use crate::extract::RequestLimits;
use crate::rate::BodyRate;
use crate::server::ServerConfig;
use crate::Gateway;

use crate::DEFAULT_SHUTDOWN_GRACE;

/// The request-limit and transport flags: body limit, handler timeout, memory budget,
/// shutdown grace, body rate, write timeout, connections.
///
/// A binary flattens it into its parser and names the environment variables it reads for the
/// budget and the grace:
///
/// ```
/// use arterys_gateway::cli::TransportArgs;
/// use clap::Parser;
///
/// #[derive(Parser)]
/// #[command(mut_arg("memory_budget_mib", |a| a.env("MY_SERVER_MEMORY_BUDGET_MIB")))]
/// struct Cli {
///     #[command(flatten)]
///     transport: TransportArgs,
/// }
///
/// let cli = Cli::parse_from(["my-server", "--write-timeout-secs", "5"]);
/// assert_eq!(cli.transport.write_timeout_secs, 5);
/// let _gateway = cli.transport.apply(arterys_gateway::Gateway::new());
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct TransportArgs {
    /// Largest request body in MiB (larger gets 413)
    #[arg(long, default_value_t = RequestLimits::default().body_limit >> 20)]
    pub body_limit_mib: u64,
    /// Seconds a handler may run before its request gets 504 and its work is cancelled
    #[arg(long, default_value_t = crate::DEFAULT_HANDLER_TIMEOUT.as_secs())]
    pub handler_timeout_secs: u64,
    /// The process's memory budget in MiB: request bodies, studies, decoded images and answers
    /// of all requests and routes together; a request that finds no room within 10 s gets 503
    /// with Retry-After (default: half of the machine's or container's memory)
    #[arg(long)]
    pub memory_budget_mib: Option<u64>,
    /// Seconds in-flight requests may still take after SIGTERM; a second SIGTERM or Ctrl-C
    /// stops at once (keep below the orchestrator's grace, e.g. compose's stop_grace_period)
    #[arg(long, default_value_t = DEFAULT_SHUTDOWN_GRACE.as_secs())]
    pub shutdown_grace_secs: u64,
    /// Slowest request body accepted, in KiB/s averaged after --body-grace-secs (0: no
    /// minimum); slower gets 408
    #[arg(long, default_value_t = BodyRate::default().min_bytes_per_sec >> 10)]
    pub min_body_rate_kib: u64,
    /// Seconds before the minimum body rate applies
    #[arg(long, default_value_t = BodyRate::default().grace.as_secs())]
    pub body_grace_secs: u64,
    /// Seconds a response write may make no progress before the connection is closed
    #[arg(long, default_value_t = ServerConfig::default().write_timeout.as_secs())]
    pub write_timeout_secs: u64,
    /// Most open connections (default: from the open-files limit, which is raised at start)
    #[arg(long)]
    pub max_connections: Option<usize>,
}

impl TransportArgs {
    /// Sets these limits on `gw` (the write timeout is at least 1 s).
    pub fn apply(&self, mut gw: Gateway) -> Gateway {
        gw = gw.body_limit(self.body_limit_mib << 20);
        gw = gw.handler_timeout(Duration::from_secs(self.handler_timeout_secs.max(1)));
        if let Some(mib) = self.memory_budget_mib {
            gw = gw.memory_budget(MemoryBudget::init_process(MemoryBudget::from_mib(mib)));
        }
        if let Some(n) = self.max_connections {
            gw = gw.max_connections(n);
        }
        gw.shutdown_grace(Duration::from_secs(self.shutdown_grace_secs))
            .min_body_rate(self.min_body_rate_kib << 10, Duration::from_secs(self.body_grace_secs))
            .write_timeout(Duration::from_secs(self.write_timeout_secs.max(1)))
    }
}

/// Exits the process with the server's result (0, or 1 after logging the error). Returning
/// from `main` instead would wait for handlers abandoned at the end of the shutdown grace,
/// which may still run on the blocking pool.
pub fn exit(result: std::io::Result<()>) -> ! {
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            tracing::error!("server failed: {e}");
            std::process::exit(1)
        }
    }
}
