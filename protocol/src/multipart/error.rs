//! Why a multipart body cannot be decoded.

/// Why a body is not a well-formed multipart body. Each message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultipartError {
    /// The body was empty.
    #[error("empty body")]
    Empty,
    /// The boundary never appeared.
    #[error("no multipart boundary found in the body")]
    NoBoundary,
    /// The body ended before the closing boundary.
    #[error("multipart body ends before its closing boundary (in part {part})")]
    Unterminated {
        /// The part that was being read (0-based).
        part: usize,
    },
    /// Something other than a line break after a boundary.
    #[error("malformed multipart boundary line before part {part}")]
    MalformedBoundaryLine {
        /// The part that follows (0-based).
        part: usize,
    },
    /// A header line without a colon.
    #[error("malformed header line in part {part}: {line:?}")]
    MalformedHeader {
        /// The part (0-based).
        part: usize,
        /// The line, cut to 80 characters.
        line: String,
    },
    /// A part's headers over [`DecoderLimits::max_header_bytes`](super::DecoderLimits::max_header_bytes).
    #[error("headers of part {part} exceed {limit} bytes")]
    HeadersTooLarge {
        /// The part (0-based).
        part: usize,
        /// The limit.
        limit: usize,
    },
    /// More parts than [`DecoderLimits::max_parts`](super::DecoderLimits::max_parts).
    #[error("more than {limit} parts")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// The boundary itself is unusable.
    #[error("invalid boundary {0:?}")]
    BadBoundary(String),
}
