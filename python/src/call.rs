//! Calls into Python: the only code that holds the GIL. Each call runs on a blocking thread,
//! takes the GIL for the call and the conversions of its arguments and results, and nothing
//! else.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arterys_gateway::InferenceInput;
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use tracing::debug;

/// What a Python dispatch or health-check call answered.
pub(crate) enum Answer {
    /// A protocol answer: the response JSON's text (as `json.dumps` wrote it) and the buffers.
    Protocol { json: Bytes, parts: Vec<Bytes> },
    /// A plain HTTP answer (a health check, an error handler's answer, a refusal).
    Plain { status: u16, body: Bytes, content_type: String },
}

/// A Python callable shared by every request of a route.
pub(crate) type Callable = Arc<Py<PyAny>>;

/// Calls `dispatch(json, parts, attachments, input_hash)`: `json` is the request JSON's text,
/// `parts` the request's parts after the JSON, in request order, as `bytes`; `attachments` the
/// indices (into `parts`) of those that are not DICOM. `queued` is when the request was handed
/// to the blocking pool (for the boundary's timing line).
pub(crate) fn dispatch(f: &Callable, input: InferenceInput, queued: Instant) -> Result<Answer, String> {
    let started = Instant::now();
    Python::attach(|py| {
        let attached = Instant::now();
        // As `str` (the gateway parsed it, so it is UTF-8): `json.loads` skips its encoding
        // detection.
        let json = match std::str::from_utf8(&input.json) {
            Ok(text) => PyString::new(py, text).into_any(),
            Err(_) => PyBytes::new(py, &input.json).into_any(),
        };
        let mut ordered: Vec<_> = (input.dicom.into_iter().map(|p| (false, p)))
            .chain(input.attachments.into_iter().map(|p| (true, p)))
            .collect();
        ordered.sort_by_key(|(_, p)| p.index);
        let attachments: Vec<usize> = ordered.iter().enumerate().filter(|(_, (a, _))| *a).map(|(i, _)| i).collect();
        // Each part's Rust copy is dropped as soon as Python has its own: one copy at a time.
        // Freed parts of a large study go back to the system as Python's copies are made:
        // glibc keeps freed heap memory in the arena that made it, and Python's copies come
        // from another, so without this a study would be resident twice.
        let parts = PyList::empty(py);
        let mut freed = 0;
        for (_, p) in ordered {
            parts.append(PyBytes::new(py, &p.body)).map_err(|e| describe(py, e))?;
            freed += p.body.len();
            drop(p);
            if freed >= RELEASE_EVERY {
                freed = 0;
                release_memory(py);
            }
        }
        let args = (json, parts, attachments, input.input_hash.as_str());
        let called = Instant::now();
        let out = f.bind(py).call1(args).map_err(|e| describe(py, e))?;
        let returned = Instant::now();
        let answer = answer(&out).map_err(|e| describe(py, e));
        // The Python boundary's cost, step by step (`loggers: {_native: DEBUG}`).
        debug!(
            "python call: handoff {} µs, GIL {} µs, inputs {} µs, dispatch and handler {} µs, answer {} µs",
            (started - queued).as_micros(),
            (attached - started).as_micros(),
            (called - attached).as_micros(),
            (returned - called).as_micros(),
            returned.elapsed().as_micros()
        );
        answer
    })
}

/// How much of a request's input is copied into Python between two returns of freed memory.
const RELEASE_EVERY: usize = 32 << 20;

/// The Python layer's `malloc_trim`: hands freed heap pages back to the system.
pub(crate) static RELEASE: OnceLock<Py<PyAny>> = OnceLock::new();

fn release_memory(py: Python<'_>) {
    if let Some(f) = RELEASE.get() {
        // Returning memory early is an optimisation: a failure changes nothing else.
        let _ = f.bind(py).call0();
    }
}

/// Calls a health check: `f()` returns `(status, body, content_type)`.
pub(crate) fn health(f: &Callable) -> Result<Answer, String> {
    Python::attach(|py| {
        let out = f.bind(py).call0().map_err(|e| describe(py, e))?;
        answer(&out).map_err(|e| describe(py, e))
    })
}

/// Reads dispatch's tuple: `(0, json_text: str, parts: list[bytes], "")` for a protocol
/// answer, `(status, body: bytes, [], content_type)` for a plain one.
fn answer(out: &Bound<'_, PyAny>) -> PyResult<Answer> {
    let t = out.cast::<PyTuple>()?;
    let status: u16 = t.get_item(0)?.extract()?;
    let body = t.get_item(1)?;
    if status == 0 {
        let json = Bytes::from(body.extract::<String>()?.into_bytes());
        let mut parts = Vec::new();
        for p in t.get_item(2)?.try_iter()? {
            parts.push(shared(p?.cast_into::<PyBytes>()?));
        }
        return Ok(Answer::Protocol { json, parts });
    }
    let body = Bytes::copy_from_slice(body.cast::<PyBytes>()?.as_bytes());
    Ok(Answer::Plain { status, body, content_type: t.get_item(3)?.extract()? })
}

/// Parts at least this large are sent from Python's own `bytes`, without a copy.
const SHARE_FROM: usize = 64 << 10;

/// A Python `bytes` as `Bytes`: large ones shared (immutable, so safe to read without the
/// GIL), small ones copied (cheaper than taking the GIL again to free them).
fn shared(b: Bound<'_, PyBytes>) -> Bytes {
    if b.as_bytes().len() < SHARE_FROM {
        return Bytes::copy_from_slice(b.as_bytes());
    }
    Bytes::from_owner(Shared(Some(PyBackedBytes::from(b))))
}

/// A Python `bytes` held for the transport; freed with the GIL when the transport is done.
struct Shared(Option<PyBackedBytes>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let Some(b) = self.0.take() else { return };
        // Dropped without the GIL, pyo3 only queues the release until a thread next takes
        // it: the buffer would outlive its request. Free it now, on the blocking pool (an
        // async thread never waits for the GIL).
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || Python::attach(|_| drop(b)))),
            Err(_) => Python::attach(|_| drop(b)),
        }
    }
}

/// A Python exception as one line for the log and the client.
fn describe(py: Python<'_>, e: PyErr) -> String {
    let kind = e.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "exception".into());
    format!("{kind}: {}", e.value(py))
}
