//! `arterys_gateway._native`: the Rust transport under the Python package `arterys_gateway`.
//!
//! The Python layer (`arterys_gateway/__init__.py`) keeps the SDK's Flask-shaped API and turns
//! each handler call into one call of a *dispatch* function; this module serves HTTP, reads and
//! hashes requests, validates and streams answers, all with the GIL released, and takes the GIL
//! only to call dispatch (a route) or the health check.
//!
//! **Dependencies**: the gateway and pyo3. Never the model server, the mock server or a model
//! engine: Python handlers bring their own.

mod call;
mod route;
mod serve;

use pyo3::prelude::*;

/// The native half of `arterys_gateway`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serve::serve, m)?)?;
    m.add("DEFAULT_BODY_LIMIT_MIB", arterys_gateway::RequestLimits::default().body_limit >> 20)?;
    m.add("DEFAULT_HANDLER_TIMEOUT_SECS", arterys_gateway::DEFAULT_HANDLER_TIMEOUT.as_secs())?;
    m.add("DEFAULT_SHUTDOWN_GRACE_SECS", arterys_gateway::DEFAULT_SHUTDOWN_GRACE.as_secs())?;
    Ok(())
}
