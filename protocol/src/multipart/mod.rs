//! `multipart/related` bodies, both ways, with no I/O in it.
//!
//! - [`content_type`]: the boundary from a `Content-Type` header (quoted, with `charset`, or
//!   in the reference server's `b'…'` notation).
//! - [`decode`]: [`MultipartDecoder`], a push decoder fed the body chunk by chunk as it
//!   arrives. Each body byte is copied once, from the network chunk into its part's buffer, and
//!   hashed (SHA-256, all part bodies in order) in the same pass.
//! - [`encode`]: [`MultipartEncoder`], an iterator of frames written straight from the
//!   parts' buffers, optionally hashing them and appending the protocol's `input:output`
//!   hashes part.

pub mod content_type;
pub mod decode;
pub mod encode;
mod error;
mod headers;

pub use content_type::{boundary_from_content_type, python_bytes_boundary, ContentTypeError};
pub use decode::{DecodedPart, DecoderLimits, MultipartDecoder, MultipartError, PartHeaders};
pub use encode::{MultipartEncoder, OutgoingPart};

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
