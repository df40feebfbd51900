//! # arterys-gateway: the Arterys inference protocol over HTTP
//!
//! A vendor writes one handler function; this crate does the transport: it reads the
//! `multipart/related` request as it streams in (through [`arterys_protocol`]'s push decoder,
//! hashing every byte once), hands the handler the request JSON, the DICOM instances and the
//! attachments as separate lists, checks the handler's response against the protocol before
//! anything is sent, and streams it back with the `input:output` hashes part.
//! `/healthcheck`, `/ping`, `/livez`, `/readyz`, `/metrics`, limits, a memory budget, a
//! concurrency cap, `studyPath` requests, tracing spans and graceful shutdown come with it.
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
//! ## The API
//!
//! - [`Gateway`]: the builder a service starts from (routes, [`Readiness`], limits);
//!   [`Gateway::serve`] or [`Gateway::bind`] run the stand-alone [`Server`],
//!   [`Gateway::into_router`] gives an `axum::Router` to mount in your own application
//!   (`examples/axum_app.rs`).
//! - A handler is `Fn(InferenceInput) -> HandlerResult`; [`HandlerError`] is how it chooses
//!   its status. [`GatewayError`] is every refusal of the transport, mapped to a status in one
//!   place.
//! - Pieces for an axum application of your own: [`InferenceService`] (one route, a
//!   `tower::Service`), [`ArterysRequest`] (the extractor) with its [`RequestLimits`], and
//!   [`Admission`] (the gateway's permits, budget and deadline for routes of another
//!   platform).
//! - The protocol's model, from [`arterys_protocol`]: what a handler receives
//!   ([`InferenceInput`], [`InferenceRequest`]) and builds ([`InferenceResponse`],
//!   [`BoundingBox`], [`Mask`], [`MaskPart`], [`Palette`], ...), at the root.
//!
//! Modules: [`multipart`] (the codec and the response body), [`budget`] (the process's
//! [`MemoryBudget`](budget::MemoryBudget)), [`metrics`] (`/metrics` and counters for code
//! elsewhere), [`cancel`] (how blocking work learns that its request is gone), [`panics`].
//!
//! Features (none by default; the default build has no HTTP client, no YAML, no subscriber,
//! no DICOM or image codecs):
//! - `logging`: `logging.yaml` and the Arterys line format (`logging`).
//! - `dicom`: `arterys_gateway::dicom`, the `arterys-viewer` crate (headers, study sorting,
//!   display images).
//! - `cli`: `cli::TransportArgs`, the transport flags for a `clap` parser.
//! - `jemalloc`: `allocator::return_memory_promptly`, for servers whose global allocator is
//!   jemalloc.
//! - `otel`: OpenTelemetry trace export over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//!   set (implies `logging`); each request's span carries its `input_hash`.
//!
//! ## One path per type
//!
//! As axum does with `axum-core` (it re-exports `FromRequest`, `Body`, ... one by one where a
//! user looks for them, never `axum_core::*` or an alias of the crate), the protocol's items
//! are re-exported here by name: each at the root, the multipart codec's under [`multipart`]
//! beside the body built on it, [`cancel`] as the module it is. There is no
//! `arterys_gateway::protocol` alias and no glob, so each type has one path in this crate and
//! rustdoc lists it once; the same types are `arterys_protocol`'s, for code that needs the
//! protocol without the transport. The transport's own modules are private; what an embedder
//! uses of them is re-exported at the root.
//!
//! **Dependencies**: the protocol crate, tokio, hyper, axum, tower. Never a model engine
//! (tract, onnxruntime), an HTTP client or image codecs in the default build, and never the
//! crates built on it (model-server, mock-server, the test tool).

mod admission;
#[cfg(feature = "jemalloc")]
pub mod allocator;
mod body;
pub mod budget;
#[cfg(feature = "cli")]
pub mod cli;
mod connections;
mod error;
mod extract;
mod handler;
mod linger;
pub mod metrics;
pub mod panics;
mod pipeline;
mod probes;
mod rate;
mod router;
mod server;
mod study_path;
mod tcp;

/// DICOM reading and display: the [`arterys_viewer`] crate (feature `dicom`).
#[cfg(feature = "dicom")]
pub use arterys_viewer as dicom;
#[cfg(feature = "logging")]
pub mod logging;

/// The multipart codec of [`arterys_protocol`] and the response body built on it.
pub mod multipart {
    pub use crate::body::MultipartBody;
    pub use arterys_protocol::multipart::{
        boundary_from_content_type, hex, python_bytes_boundary, ContentTypeError, DecodedPart, DecoderLimits,
        MultipartDecoder, MultipartEncoder, MultipartError, OutgoingPart, PartHeaders,
    };
}

pub use arterys_protocol::cancel;
pub use arterys_protocol::{
    is_part10, looks_like_dicom, parse_request_json, AnchorPoint, BinaryDataShape, BinaryType, BoundingBox,
    ConformanceCheck, CoordinatesType, DecodedResponse, DicomConformance, DicomImageRef, InferenceCommand,
    InferenceInput, InferenceRequest, InferenceResponse, InputError, LinearMeasurement, Mask, MaskPart, MaskShape,
    Palette, PaletteError, Part, PartProblem, RequestPart, ResponseError, ResponseJson, ResponseReport,
    ValidationError, Voxel, PROTOCOL_VERSION,
};

pub use admission::{Admission, Admitted};
pub use error::GatewayError;
pub use extract::{ArterysRequest, RequestLimits};
pub use handler::{HandlerError, HandlerResult};
pub use pipeline::InferenceService;
pub use probes::Readiness;
pub use rate::BodyRate;
pub use router::{Gateway, DEFAULT_HANDLER_TIMEOUT};
pub use server::{Server, DEFAULT_SHUTDOWN_GRACE};
pub use study_path::StudyPathError;

/// The repository README's library example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct RepositoryReadme;

/// This crate's README example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
