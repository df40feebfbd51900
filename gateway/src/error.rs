//! Every way a request can fail, and the one place where each becomes an HTTP status.
//!
//! Clients get the status and a one-line reason; 5xx are logged at `error`, 4xx at `warn`,
//! inside the request's span (so with its `input_hash` once known).

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::budget::BudgetError;
use crate::handler::HandlerError;
use crate::multipart::{ContentTypeError, MultipartError};
use crate::study_path::StudyPathError;
use crate::{InputError, ValidationError};

/// Why the gateway refused or failed a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// No inference route at this path.
    #[error("no inference route at {0}")]
    NotFound(String),
    /// A method the route does not take.
    #[error("{method} not allowed on {path}: use {}", .allow.replace(", ", " or "))]
    MethodNotAllowed {
        /// The request's method.
        method: http::Method,
        /// The request's path.
        path: String,
        /// What the route takes, as in `Allow`.
        allow: &'static str,
    },
    /// A Content-Type header that is not ASCII.
    #[error("Content-Type is not ASCII")]
    ContentTypeNotAscii,
    /// The Content-Type cannot carry a request.
    #[error(transparent)]
    ContentType(#[from] ContentTypeError),
    /// The body is larger than the limit.
    #[error("request body{} exceeds the {limit}-byte limit", .declared.map(|n| format!(" of {n} bytes")).unwrap_or_default())]
    BodyTooLarge {
        /// The Content-Length, when the client declared one.
        declared: Option<u64>,
        /// The limit.
        limit: u64,
    },
    /// A `studyPath` JSON body over its limit.
    #[error("JSON request body exceeds {0} bytes")]
    JsonTooLarge(u64),
    /// The connection failed while the body was read.
    #[error("request body could not be read: {0}")]
    BodyRead(axum::Error),
    /// The multipart body is malformed.
    #[error(transparent)]
    Multipart(#[from] MultipartError),
    /// The parts do not make an inference input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A refused `studyPath`.
    #[error(transparent)]
    StudyPath(#[from] StudyPathError),
    /// The handler's own failure, with the status it chose.
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// The handler ran past its deadline.
    #[error("handler did not finish within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The handler panicked.
    #[error("internal server error: the handler panicked")]
    Panicked,
    /// The handler's response breaks the protocol.
    #[error("handler returned an invalid response: {0}")]
    InvalidResponse(#[from] ValidationError),
    /// The service is stopping.
    #[error("service is shutting down")]
    ShuttingDown,
    /// The memory budget has no room for the request (503 with `Retry-After`), or the request
    /// is larger than the whole budget (413).
    #[error(transparent)]
    Budget(#[from] crate::budget::BudgetError),
    /// The body arrived slower than the minimum rate.
    #[error("request body too slow: {received} bytes arrived, below {} bytes/s after {} s", .rate.min_bytes_per_sec, .rate.grace.as_secs())]
    BodyTooSlow {
        /// Bytes received before the cut.
        received: u64,
        /// The minimum.
        rate: crate::rate::BodyRate,
    },
    /// A task of the gateway itself failed.
    #[error("{0}")]
    Internal(&'static str),
}

impl GatewayError {
    /// The HTTP status: the only place where errors meet status codes.
    pub fn status(&self) -> StatusCode {
        use GatewayError as E;
        match self {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            E::ContentTypeNotAscii | E::BodyRead(_) => StatusCode::BAD_REQUEST,
            E::ContentType(ContentTypeError::Missing | ContentTypeError::NotMultipartRelated(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            E::ContentType(_) => StatusCode::BAD_REQUEST,
            E::BodyTooLarge { .. } | E::JsonTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::Multipart(MultipartError::TooManyParts { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            E::Multipart(_) => StatusCode::BAD_REQUEST,
            E::Input(e) if e.is_client_content() => StatusCode::UNPROCESSABLE_ENTITY,
            E::Input(_) => StatusCode::BAD_REQUEST,
            E::StudyPath(e) => match e {
                StudyPathError::OutsideRoot | StudyPathError::HardLinked => StatusCode::FORBIDDEN,
                StudyPathError::NotFound => StatusCode::NOT_FOUND,
                StudyPathError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                StudyPathError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            },
            E::Handler(e) => e.status(),
            E::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            E::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            E::Budget(BudgetError::Full { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            E::Budget(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::BodyTooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            E::Panicked | E::InvalidResponse(_) | E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl GatewayError {
    /// The `reason` label of `arterys_requests_rejected_total` when the gateway refused the
    /// request; `None` for the handler's own failures (they are counted by status).
    fn rejection(&self) -> Option<&'static str> {
        use GatewayError as E;
        let status = self.status();
        Some(match self {
            E::NotFound(_) => "not_found",
            E::MethodNotAllowed { .. } => "method_not_allowed",
            E::Timeout(_) => "timeout",
            E::ShuttingDown => "shutting_down",
            E::Handler(e) if e.status() == StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            E::Handler(_) | E::Panicked | E::InvalidResponse(_) | E::Internal(_) => return None,
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            _ if status == StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ if status == StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
            _ if status == StatusCode::FORBIDDEN => "forbidden",
            _ if status.is_server_error() => return None,
            _ => "bad_request",
        })
    }
}
/// What a 503 tells the client to wait before trying again.
const RETRY_AFTER_SECS: &str = "5";

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Some(reason) = self.rejection() {
            crate::metrics::rejected(reason);
        }
        // Handler errors keep their cause for the log; the client gets the message alone.
        let logged = match &self {
            GatewayError::Handler(e) => e.log_line(),
            other => other.to_string(),
        };
        if status.is_server_error() {
            tracing::error!("{} {logged}", status.as_u16());
        } else {
            tracing::warn!("{} {logged}", status.as_u16());
        }
        let mut resp = (status, format!("{self}\n")).into_response();
        if let GatewayError::MethodNotAllowed { allow, .. } = self {
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of a too-slow body is not worth reading: the connection ends here.
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        resp
    }
}
