//! # arterys-gateway: the Arterys inference protocol over HTTP
//!
//! A vendor writes one handler function; this crate does the transport: it reads the
//! `multipart/related` request as it streams in (through [`arterys_protocol`]'s push decoder,
//! hashing every byte once), hands the handler the request JSON, the DICOM instances and the
//! attachments as separate lists, checks the handler's response against the protocol before
//! anything is sent, and streams it back with the `input:output` hashes part.
//! `/healthcheck`, `/ping`, `/livez`, `/readyz`, `/metrics`, limits, a concurrency cap,
//! `studyPath` requests, tracing spans and graceful shutdown come with it.
//!
//! The wire contract this implements, endpoint by endpoint and result kind by result kind:
//! `docs/PROTOCOL.md` in the repository
//! (<https://github.com/arterys-rs/arterys-inference/blob/main/docs/PROTOCOL.md>).
//!
//! ```no_run
//! use arterys_gateway::{BoundingBox, Gateway, HandlerError, InferenceInput, InferenceResponse};
//!
//! fn handler(input: InferenceInput) -> Result<InferenceResponse, HandlerError> {
//!     tracing::info!("got {} images", input.dicom.len()); // logged with the input_hash
//!     let mut response = InferenceResponse::new();
//!     response.add_bounding_box(BoundingBox::new("finding", "1.2.3", [5, 5], [10, 10]));
//!     Ok(response)
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     Gateway::new().route("/", handler).serve("0.0.0.0:8000").await
//! }
//! ```
//!
//! The same gateway mounts inside an axum application with [`Gateway::into_router`]
//! (`examples/axum_app.rs`); each route is an [`InferenceService`], a `tower::Service`.
//!
//! Where things are:
//! - [`router`]: the [`Gateway`] builder and [`Readiness`].
//! - [`pipeline`]: [`InferenceService`], read → handler → validate → stream.
//! - [`extract`]: [`ArterysRequest`](extract::ArterysRequest), the axum extractor.
//! - [`error`]: [`GatewayError`] and the one mapping of errors to HTTP status.
//! - [`handler`]: [`HandlerError`], how a handler chooses its status.
//! - [`metrics`]: `/metrics` (Prometheus) and the names it serves; [`probes`]: `/livez`,
//!   `/readyz`.
//! - [`server`]: the stand-alone [`Server`] (timeouts, connection cap, graceful shutdown).
//! - [`budget`]: the process's [`MemoryBudget`](budget::MemoryBudget).
//! - The protocol model (re-exported from [`arterys_protocol`]) and [`multipart`].
//!
//! Features (none by default; the default build has no HTTP client, no YAML, no subscriber,
//! no DICOM or image codecs):
//! - `logging`: `logging.yaml` and the Arterys line format ([`logging`]).
//! - `dicom`: `arterys_gateway::dicom`, the `arterys-viewer` crate (headers, study sorting,
//!   display images).
//! - `cli`: [`cli::TransportArgs`], the transport flags for a `clap` parser.
//! - `jemalloc`: `allocator::return_memory_promptly`, for servers whose global allocator is
//!   jemalloc.
//! - `otel`: OpenTelemetry trace export over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//!   set (implies `logging`); each request's span carries its `input_hash`.

pub mod admission;
#[cfg(feature = "jemalloc")]
pub mod allocator;
pub mod body;
pub mod budget;
#[cfg(feature = "cli")]
pub mod cli;
mod connections;
pub mod error;
pub mod extract;
pub mod handler;
mod linger;
pub mod metrics;
pub mod panics;
pub mod pipeline;
pub mod probes;
pub mod router;
pub mod server;
pub mod study_path;
mod tcp;

/// DICOM reading and display: the [`arterys_viewer`] crate (feature `dicom`).
#[cfg(feature = "dicom")]
pub use arterys_viewer as dicom;
#[cfg(feature = "logging")]
pub mod logging;

/// The protocol model, re-exported: `arterys_gateway::protocol` is [`arterys_protocol`].
pub use arterys_protocol as protocol;
pub use arterys_protocol::*;

/// The multipart codec of [`arterys_protocol`] and the response body built on it.
pub mod multipart {
    pub use crate::body::MultipartBody;
    pub use arterys_protocol::multipart::*;
}

pub use error::GatewayError;
pub use handler::{HandlerError, HandlerResult};
pub use pipeline::InferenceService;
pub use router::{Gateway, Readiness, DEFAULT_HANDLER_TIMEOUT};
pub use server::Server;

/// The repository README's library example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct RepositoryReadme;

/// This crate's README example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
