//! # gateway: the Arterys inference protocol as a library
//!
//! A vendor writes one handler function; this crate does the rest of the protocol: it reads
//! the `multipart/related` request as it streams in (hashing every byte once), hands the
//! handler the request JSON, the DICOM instances and the attachments as separate lists,
//! checks the handler's response against the protocol before anything is sent, and streams
//! it back with the `input:output` hashes part. `/healthcheck`, `/ping`, limits, a
//! concurrency cap, `studyPath` requests, tagged logging and graceful shutdown come with it.
//!
//! ```no_run
//! use arterys_gateway::dicom::InstanceInfo;
//! use arterys_gateway::{BoundingBox, Gateway, HandlerError, InferenceInput, InferenceResponse};
//!
//! /// Puts a box on the first image, as the reference SDK's README does.
//! fn handler(input: InferenceInput) -> Result<InferenceResponse, HandlerError> {
//!     tracing::info!("got {} images", input.dicom.len()); // logged with the input_hash
//!     let first = InstanceInfo::read(&input.dicom[0].body)
//!         .map_err(|e| HandlerError::unprocessable(e.to_string()))?;
//!     let mut response = InferenceResponse::new();
//!     response.add_bounding_box(BoundingBox::new("super bbox", first.sop_instance_uid, [5, 5], [10, 10]));
//!     Ok(response)
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     arterys_gateway::logging::init_from_file("logging.yaml").ok();
//!     Gateway::new().route("/", handler).serve("0.0.0.0:8000").await
//! }
//! ```
//!
//! Where things are:
//! - [`protocol`]: the wire model with no HTTP in it: request JSON, every response kind,
//!   masks in column-row-slice order, palettes, validation.
//! - [`multipart`]: the streaming `multipart/related` decoder and encoder.
//! - [`service`]: the HTTP server ([`Gateway`]).
//! - [`logging`]: `logging.yaml`, tagged lines.
//! - [`dicom`] (feature `dicom`, on by default): header reading and study sorting;
//!   with feature `pixeldata`, decoding to display images.

pub mod logging;
pub mod multipart;
pub mod protocol;
pub mod service;

#[cfg(feature = "dicom")]
pub mod dicom;

pub use protocol::*;
pub use service::{
    looks_like_dicom, Gateway, HandlerError, HandlerResult, InferenceInput, Readiness, RequestPart, Server,
};

/// The repository README's library example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct RepositoryReadme;

/// This crate's README example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
