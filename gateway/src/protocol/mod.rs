//! The protocol model: what travels in the JSON parts and the binary buffers, with no HTTP in
//! it. Everything here can be built, validated and (de)serialized on its own.
//!
//! - [`request`]: the request's JSON part ([`InferenceRequest`]).
//! - [`response`]: the response JSON and its kinds of results, and [`InferenceResponse`], the
//!   builder that keeps every `parts` element together with its buffer.
//! - [`mask`]: uint8 mask buffers in the protocol's column-row-slice order.
//! - [`palette`]: heatmap palettes and their lookup tables.

pub mod mask;
pub mod palette;
pub mod request;
pub mod response;

pub use mask::{Mask, MaskShape};
pub use palette::{AnchorPoint, Palette};
pub use request::{InferenceCommand, InferenceRequest};
pub use response::{
    BinaryDataShape, BinaryType, BoundingBox, ConformanceCheck, DicomConformance, DicomImageRef, InferenceResponse,
    LinearMeasurement, MaskPart, Part, ResponseJson, ValidationError, PROTOCOL_VERSION,
};
