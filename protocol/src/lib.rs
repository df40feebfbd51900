//! # arterys-protocol: the Arterys inference protocol, sans I/O
//!
//! What travels between a viewer and a model's inference service, with no sockets, no
//! runtime and no HTTP in it: the request JSON ([`InferenceRequest`]), the response JSON and
//! its builder ([`InferenceResponse`], which keeps every `parts` element with its buffer so an
//! invalid response cannot be built), masks in the protocol's column-row-slice order
//! ([`Mask`]), palettes, validation, and the `multipart/related` codec both ways with the
//! input and output hashes ([`multipart`]). The gateway, the test tool, the tests and the
//! benchmarks all encode and decode through this crate.
//!
//! The wire contract this implements, endpoint by endpoint and result kind by result kind:
//! `docs/PROTOCOL.md` in the repository
//! (<https://github.com/arterys-rs/arterys-inference/blob/main/docs/PROTOCOL.md>).
//!
//! **Dependencies**: serde, serde_json, sha2, bytes, mime, memchr, thiserror. Never tokio,
//! hyper, axum or http-body (a body adapter belongs to the transport, `arterys-gateway`),
//! never dicom-rs (DICOM is the viewer's; this crate only sniffs the magic), and never another
//! crate of the workspace: everything else is built on it.
//!
//! ```
//! use arterys_protocol::{BoundingBox, InferenceResponse, Mask, MaskPart, MaskShape};
//! let mut r = InferenceResponse::new();
//! r.add_bounding_box(BoundingBox::new("Lesion", "1.2.3", [10, 10], [40, 30]));
//! let mask = Mask::from_fn(MaskShape::image(4, 4), |v| (v.x == v.y) as u8)?;
//! r.add_mask(MaskPart::boolean("Diagonal", mask).for_image("1.2.3", None));
//! r.validate()?;
//! # Ok::<(), arterys_protocol::ValidationError>(())
//! ```
//!
//! Modules:
//! - [`request`]: the request's JSON part.
//! - [`response`]: the response JSON, the builder, validation, and [`DecodedResponse`], the
//!   one response decoder.
//! - [`mask`], [`palette`]: mask buffers and heatmap palettes.
//! - [`input`]: [`InferenceInput`], what a handler receives, assembled in one place.
//! - [`multipart`]: the push decoder and the encoder.
//! - [`sniff`]: recognising DICOM bytes ([`looks_like_dicom`]).
//! - [`cancel`]: [`Cancellation`](cancel::Cancellation), how blocking work learns that its
//!   request is gone.

pub mod cancel;
mod facts;
pub mod input;
pub mod mask;
pub mod multipart;
pub mod palette;
pub mod request;
pub mod response;
mod shape;
pub mod sniff;

pub use facts::PartFacts;
pub use input::{parse_request_json, InferenceInput, InputError, RequestPart};
pub use mask::{Mask, MaskShape, Voxel};
pub use multipart::hex;
pub use palette::{AnchorPoint, Palette, PaletteError};
pub use request::{InferenceCommand, InferenceRequest};
pub use response::{
    BinaryDataShape, BinaryType, BoundingBox, ConformanceCheck, CoordinatesType, DecodedResponse, DicomConformance,
    DicomImageRef, InferenceResponse, LinearMeasurement, MaskPart, Part, PartProblem, ResponseError, ResponseJson,
    ResponseReport, ValidationError, PROTOCOL_VERSION,
};
pub use sniff::{is_part10, looks_like_dicom};

/// This crate's README example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
