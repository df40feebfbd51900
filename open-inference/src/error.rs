//! Errors, and how a gateway should answer each of them.

use std::time::Duration;

use crate::datatype::Datatype;

/// Everything that can go wrong talking to an Open Inference Protocol server.
///
/// [`Error::kind`] sorts them into what a gateway answers its own caller
/// (502, 503 or 504); the variants keep the details for logs and messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The base URL given to [`Client::new`](crate::Client::new) cannot be used.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No connection could be made to the server (refused, unreachable, connect timeout).
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The URL of the request.
        url: String,
        /// The underlying error, as text.
        reason: String,
    },
    /// The connection failed after it was made (reset, closed mid-response).
    #[error("connection to {url} failed: {reason}")]
    Transport {
        /// The URL of the request.
        url: String,
        /// The underlying error, as text.
        reason: String,
    },
    /// The server did not answer within the client's timeout.
    #[error("{url} did not answer within {after:?}")]
    Timeout {
        /// The URL of the request.
        url: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The server knows no model of that name (and version).
    #[error("the server has no model {model:?}{}: {message}", version_suffix(version))]
    ModelNotFound {
        /// The model asked for.
        model: String,
        /// The version asked for, if any.
        version: Option<String>,
        /// The server's own message.
        message: String,
    },
    /// The server answers, but says that it or the model is not ready.
    #[error("{what} is not ready")]
    NotReady {
        /// The server or the model.
        what: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered {status}: {message}")]
    Status {
        /// The URL of the request.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's `error` message, or the start of its body.
        message: String,
    },
    /// The server's answer does not follow the protocol.
    #[error("malformed answer from the server: {0}")]
    Protocol(String),
    /// The server declared or sent more bytes than the client accepts.
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size, as declared or as read so far.
        size: u64,
        /// The limit ([`ClientOptions::max_response_bytes`](crate::ClientOptions::max_response_bytes)
        /// or [`ClientOptions::max_json_bytes`](crate::ClientOptions::max_json_bytes)).
        limit: u64,
    },
    /// The model on the server differs from what the caller expects.
    #[error("model {model:?}: {tensor_kind} {tensor:?}: {mismatch}")]
    Mismatch {
        /// The model.
        model: String,
        /// `"input"` or `"output"`.
        tensor_kind: &'static str,
        /// The tensor's name.
        tensor: String,
        /// What differs.
        mismatch: Mismatch,
    },
    /// The caller's own request is inconsistent (e.g. data length against shape).
    #[error("invalid request: tensor {tensor:?}: {reason}")]
    InvalidInput {
        /// The tensor's name.
        tensor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An output tensor was read as a type it does not have.
    #[error("output {tensor:?} has datatype {actual}, not {expected}")]
    OutputType {
        /// The tensor's name.
        tensor: String,
        /// The datatype asked for.
        expected: Datatype,
        /// The datatype the server sent.
        actual: Datatype,
    },
}

fn version_suffix(version: &Option<String>) -> String {
    version.as_ref().map(|v| format!(" version {v:?}")).unwrap_or_default()
}

/// How a remote model differs from the caller's expectation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// The server's model has no tensor of that name.
    #[error("missing on the server (it has {available:?})")]
    Missing {
        /// The names the server lists.
        available: Vec<String>,
    },
    /// Datatypes differ.
    #[error("datatype is {actual} on the server, expected {expected}")]
    Datatype {
        /// Expected by the caller.
        expected: Datatype,
        /// Declared by the server.
        actual: Datatype,
    },
    /// Ranks differ.
    #[error("shape {actual:?} on the server has rank {}, expected rank {} ({expected:?})", actual.len(), expected.len())]
    Rank {
        /// Expected by the caller (-1: any size).
        expected: Vec<i64>,
        /// Declared by the server (-1: any size).
        actual: Vec<i64>,
    },
    /// A fixed dimension differs.
    #[error("dimension {axis} is {actual} on the server, expected {expected}")]
    Dimension {
        /// The axis.
        axis: usize,
        /// Expected by the caller.
        expected: i64,
        /// Declared by the server.
        actual: i64,
    },
}

/// What a gateway answers its own caller when a remote call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The remote answered badly (error status, malformed or oversized answer,
    /// dropped connection, a model that differs from the configuration): 502.
    BadGateway,
    /// The remote cannot be reached, says it is unavailable, or lacks the model: 503.
    Unavailable,
    /// The remote did not answer in time: 504.
    Timeout,
    /// The caller's own request or configuration is wrong (a bug on this side): 500.
    Internal,
}

impl ErrorKind {
    /// The HTTP status a gateway answers for this kind: 502, 503, 504 or 500.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Internal => 500,
        }
    }
}

impl Error {
    /// Sorts the error into what a gateway answers (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connect { .. } | Error::ModelNotFound { .. } | Error::NotReady { .. } => ErrorKind::Unavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Status { status: 503, .. } => ErrorKind::Unavailable,
            Error::Status { status: 504, .. } => ErrorKind::Timeout,
            Error::Status { .. }
            | Error::Transport { .. }
            | Error::Protocol(_)
            | Error::TooLarge { .. }
            | Error::Mismatch { .. } => ErrorKind::BadGateway,
            Error::InvalidUrl { .. } | Error::InvalidInput { .. } | Error::OutputType { .. } => ErrorKind::Internal,
        }
    }

    /// True when the remote did not answer in time (504).
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// True when the remote is unreachable, not ready or lacks the model (503).
    pub fn is_unavailable(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
