//! What a handler receives and returns.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::multipart::PartHeaders;
use crate::protocol::{InferenceRequest, InferenceResponse};

/// One part of the request after the JSON: a DICOM instance or an attachment.
#[derive(Debug, Clone)]
pub struct RequestPart {
    /// Position in the request (0 is the JSON part), so the original order can be rebuilt.
    pub index: usize,
    /// The part's headers (for `studyPath` requests, `filename` is the file's path below the
    /// study directory).
    pub headers: PartHeaders,
    /// The part's bytes, exactly as received (shared, never copied).
    pub body: Bytes,
}

/// Everything a handler gets for one request.
#[derive(Debug, Clone)]
pub struct InferenceInput {
    /// The parsed JSON part.
    pub request: InferenceRequest,
    /// The JSON part's bytes, as sent.
    pub json: Bytes,
    /// The DICOM instances, in request order (the client sorted them by series and position).
    pub dicom: Vec<RequestPart>,
    /// Other parts (e.g. a license file), in request order.
    pub attachments: Vec<RequestPart>,
    /// SHA-256 (lowercase hex) of every part body in order, JSON included (for `studyPath`
    /// requests, of the JSON body the client sent).
    pub input_hash: String,
    /// The route that received the request.
    pub route: String,
    /// For `studyPath` requests, the resolved directory the DICOM files were read from.
    pub study_dir: Option<PathBuf>,
}

impl InferenceInput {
    /// The DICOM instances and attachments interleaved in their original request order.
    pub fn parts_in_order(&self) -> Vec<&RequestPart> {
        let mut all: Vec<&RequestPart> = self.dicom.iter().chain(&self.attachments).collect();
        all.sort_by_key(|p| p.index);
        all
    }
}

/// A handler's failure, turned into an HTTP status with a one-line reason.
///
/// Any `std::error::Error` converts into an internal error (500), so `?` works in handlers;
/// use [`HandlerError::bad_request`] or [`HandlerError::unprocessable`] when the input is at
/// fault.
///
/// ```
/// use arterys_gateway::HandlerError;
/// fn parse(n: &str) -> Result<u32, HandlerError> {
///     let v: u32 = n.parse()?; // ParseIntError -> 500
///     if v == 0 { return Err(HandlerError::unprocessable("zero slices")); }
///     Ok(v)
/// }
/// assert_eq!(parse("x").unwrap_err().status(), 500);
/// assert_eq!(parse("0").unwrap_err().status(), 422);
/// ```
#[derive(Debug)]
pub struct HandlerError {
    status: u16,
    message: String,
}

impl HandlerError {
    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: 400, message: message.into() }
    }

    /// 422: the request is well-formed but its content cannot be processed (e.g. a part that
    /// is not DICOM, an image the model cannot take).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self { status: 422, message: message.into() }
    }

    /// 503: the service cannot take the request now (e.g. its model is still loading).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { status: 503, message: message.into() }
    }

    /// 502: a server the service relies on (e.g. a remote model) answered badly.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self { status: 502, message: message.into() }
    }

    /// 504: a server the service relies on did not answer in time.
    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self { status: 504, message: message.into() }
    }

    /// 500: the service failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self { status: 500, message: message.into() }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        Self::internal(e.to_string())
    }
}

/// What a handler returns.
pub type HandlerResult = Result<InferenceResponse, HandlerError>;

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

/// A registered handler: blocking ones run on the blocking pool, async ones on the runtime.
#[derive(Clone)]
pub(crate) enum Handler {
    Blocking(Arc<dyn Fn(InferenceInput) -> HandlerResult + Send + Sync>),
    Async(Arc<dyn Fn(InferenceInput) -> BoxFuture + Send + Sync>),
}
