//! The HTTP service: routes, limits, the request pipeline and shutdown.
//!
//! - [`handler`]: what a handler receives ([`InferenceInput`]) and returns.
//! - [`server`]: the [`Gateway`] builder and the running [`Server`].
//! - [`study_path`]: resolving `studyPath` requests below a configured root.

pub mod handler;
pub mod server;
pub mod study_path;

pub use handler::{HandlerError, HandlerResult, InferenceInput, RequestPart};
pub use server::{Gateway, Readiness, Server};

/// Whether bytes look like DICOM: a Part 10 file (`DICM` after the 128-byte preamble) or a
/// bare little- or big-endian dataset starting in group 0002 or 0008.
///
/// ```
/// let mut p10 = vec![0u8; 132];
/// p10[128..].copy_from_slice(b"DICM");
/// assert!(arterys_gateway::looks_like_dicom(&p10));
/// assert!(!arterys_gateway::looks_like_dicom(b"\x89PNG\r\n\x1a\n...."));
/// ```
pub fn looks_like_dicom(bytes: &[u8]) -> bool {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return true;
    }
    // A dataset without file meta: its first tag is (0008,xxxx), or (0002,xxxx).
    matches!(bytes.get(..2), Some([0x08 | 0x02, 0x00]) | Some([0x00, 0x08 | 0x02])) && bytes.len() >= 8
}
