//! How failures inside a request become its HTTP status.

use arterys_gateway::cancel::Cancelled;
use arterys_gateway::HandlerError;

use crate::engine::{RunError, RunErrorKind};

/// A cancelled request as an error (its client is gone or has had its 504 already).
pub(crate) fn cancelled(e: Cancelled) -> HandlerError {
    HandlerError::gateway_timeout(e.to_string())
}

/// A failed run as the request's status: 503, 502 or 504 for a remote, 500 otherwise.
pub(crate) fn handler_error(e: &RunError) -> HandlerError {
    match e.kind {
        RunErrorKind::Unavailable => HandlerError::unavailable(e.to_string()),
        RunErrorKind::BadGateway => HandlerError::bad_gateway(e.to_string()),
        RunErrorKind::Timeout => HandlerError::gateway_timeout(e.to_string()),
        RunErrorKind::Failed => HandlerError::internal(e.to_string()),
    }
}
