//! `serve(...)`: builds the gateway from the Python layer's routes and options and runs it
//! until SIGTERM or Ctrl-C, with the GIL released.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::route;
use arterys_gateway::{BodyRate, Gateway, RequestLimits};
use axum::extract::Request;
use axum::Router;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::prelude::*;

/// The gateway's options, as the Python layer checked them (`None`: the gateway's default).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct Options {
    body_limit_mib: Option<u64>,
    handler_timeout_secs: Option<u64>,
    memory_budget_mib: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    min_body_rate_kib: Option<u64>,
    body_grace_secs: Option<u64>,
    write_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    max_concurrent: Option<usize>,
    study_root: Option<String>,
    logging_config: Option<String>,
}

/// Serves `routes` (path → dispatch callable) and `health` on `host:port` until SIGTERM or
/// Ctrl-C, then lets in-flight requests finish within the shutdown grace. `on_bound(host,
/// port)` is called once the socket listens (port 0 picks a free one); `release_memory()`
/// hands freed heap memory back to the system while a large input is copied into Python.
#[pyfunction]
#[pyo3(signature = (routes, health, host, port, options, on_bound, release_memory=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn serve(
    py: Python<'_>,
    routes: BTreeMap<String, Py<PyAny>>,
    health: Option<Py<PyAny>>,
    host: String,
    port: u16,
    options: Options,
    on_bound: Py<PyAny>,
    release_memory: Option<Py<PyAny>>,
) -> PyResult<()> {
    if let Some(f) = release_memory {
        // One process, one allocator: the first server's function serves every later one.
        let _ = crate::call::RELEASE.set(f);
    }
    // The gateway's own lines go to stderr, where Python's logging and Flask write theirs.
    let config = match &options.logging_config {
        Some(path) => arterys_gateway::logging::LoggingConfig::load(path)
            .map_err(|e| PyValueError::new_err(format!("logging_config: {e}")))?,
        None => arterys_gateway::logging::LoggingConfig::default(),
    };
    // Another gateway in this process may have installed logging already: keep it.
    let _ = config.init_with_writer(std::io::stderr);
    let gateway = build(routes, health, &options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("arterys-gateway")
        .build()
        .map_err(|e| PyOSError::new_err(format!("cannot start the runtime: {e}")))?;
    let server = py
        .detach(|| runtime.block_on(gateway.bind((host.as_str(), port))))
        .map_err(|e| PyOSError::new_err(format!("cannot listen on {host}:{port}: {e}")))?;
    let addr = server.local_addr();
    on_bound.bind(py).call1((addr.ip().to_string(), addr.port()))?;
    let result = py.detach(|| runtime.block_on(server.run()));
    // Handlers abandoned at the end of the grace may still hold blocking threads: do not wait.
    py.detach(|| runtime.shutdown_timeout(Duration::from_secs(1)));
    result.map_err(|e| PyOSError::new_err(format!("server failed: {e}")))?;
    // Ctrl-C also reached Python's own handler: it asked for this graceful stop, not for an
    // exception after it.
    match py.check_signals() {
        Err(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => Ok(()),
        other => other,
    }
}

fn build(routes: BTreeMap<String, Py<PyAny>>, health: Option<Py<PyAny>>, o: &Options) -> PyResult<Gateway> {
    let args = arterys_gateway::cli::TransportArgs {
        body_limit_mib: o.body_limit_mib.unwrap_or(RequestLimits::default().body_limit >> 20),
        handler_timeout_secs: o.handler_timeout_secs.unwrap_or(arterys_gateway::DEFAULT_HANDLER_TIMEOUT.as_secs()),
        memory_budget_mib: o.memory_budget_mib,
        shutdown_grace_secs: o.shutdown_grace_secs.unwrap_or(arterys_gateway::DEFAULT_SHUTDOWN_GRACE.as_secs()),
        min_body_rate_kib: o.min_body_rate_kib.unwrap_or(BodyRate::default().min_bytes_per_sec >> 10),
        body_grace_secs: o.body_grace_secs.unwrap_or(BodyRate::default().grace.as_secs()),
        write_timeout_secs: o.write_timeout_secs.unwrap_or(60),
        max_connections: o.max_connections,
    };
    let max_concurrent = o.max_concurrent.unwrap_or(1).max(1);
    let mut gw = args.apply(Gateway::new()).max_concurrent_inferences(max_concurrent);
    if let Some(dir) = &o.study_root {
        gw = gw.study_root(dir);
    }
    // As in the SDK, `/healthcheck` exists only once a health check is registered: without
    // one it is an unknown path (the probes `/livez` and `/readyz` are always there).
    gw = match health {
        Some(f) => {
            let f = Arc::new(f);
            gw.healthcheck(move || route::health(Arc::clone(&f)))
        }
        None => gw.without_healthcheck(),
    };
    // The Python routes get the gateway's own admission: its permits, limits, budget and
    // deadline, shared with every other route of this gateway; its 404 names them.
    gw = gw.admitted_inference_routes(routes.keys().cloned());
    Ok(gw.merge_admitted(move |admission| {
        let mut router = Router::new();
        for (path, dispatch) in routes {
            let (dispatch, admission) = (Arc::new(dispatch), admission.clone());
            let svc = move |req: Request| route::handle(Arc::clone(&dispatch), admission.clone(), req);
            router = router.route(&path, axum::routing::any(svc));
        }
        router
    }))
}
