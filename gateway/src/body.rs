//! The response body: the protocol's encoder as an `http_body::Body`.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::multipart::{MultipartEncoder, OutgoingPart};

/// A `multipart/related` body streamed from its parts' buffers without copying them; the
/// frames come from [`MultipartEncoder`]. The exact length is known up front, so the response
/// carries a `Content-Length`.
///
/// ```
/// use arterys_gateway::multipart::{MultipartBody, OutgoingPart};
/// use http_body::Body;
/// let body = MultipartBody::new("b0", vec![OutgoingPart::new("application/json", "{}")]);
/// let len = Body::size_hint(&body).exact();
/// assert_eq!(len, Some(body.map(|b| b.len() as u64).sum()));
/// ```
#[derive(Debug)]
pub struct MultipartBody(MultipartEncoder);

impl MultipartBody {
    /// A body of `parts`, in order, delimited by `boundary`.
    pub fn new(boundary: impl Into<String>, parts: Vec<OutgoingPart>) -> Self {
        Self(MultipartEncoder::new(boundary, parts))
    }

    /// Hash the part bodies as they go and end with the `<input_hash>:<output hash>` part.
    pub fn with_hashes(self, input_hash: impl Into<String>) -> Self {
        Self(self.0.with_hashes(input_hash))
    }

    /// Called once with the output hash when the last part is written.
    pub fn on_complete(self, f: impl FnOnce(&str) + Send + Sync + 'static) -> Self {
        Self(self.0.on_complete(f))
    }
}

impl From<MultipartEncoder> for MultipartBody {
    fn from(e: MultipartEncoder) -> Self {
        Self(e)
    }
}

impl Iterator for MultipartBody {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        self.0.next()
    }
}

impl http_body::Body for MultipartBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.next().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.remaining())
    }
}
