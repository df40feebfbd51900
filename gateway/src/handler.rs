//! What a handler returns, and how a registered handler runs.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::StatusCode;

use crate::{InferenceInput, InferenceResponse};

type Cause = Box<dyn StdError + Send + Sync>;

/// A handler's failure: the status it chooses and its cause.
///
/// The handler says whose fault it is: [`bad_request`](Self::bad_request) (400) or
/// [`unprocessable`](Self::unprocessable) (422) when the input is, [`unavailable`](Self::unavailable)
/// (503) when the service cannot take it now, [`bad_gateway`](Self::bad_gateway) (502) or
/// [`gateway_timeout`](Self::gateway_timeout) (504) when a server it relies on fails,
/// [`internal`](Self::internal) (500) when the service failed. There is no blanket conversion from other errors: `?` on a foreign error
/// does not compile until the handler picks one (the protocol's own `ValidationError`, a
/// response the handler built wrong, converts to 500; no room in the memory budget,
/// `BudgetError`, to 503 or 413; with the `dicom` feature a part that is
/// not usable DICOM, `arterys_viewer::study::StudyError`, converts to 422). Each takes a message or an error, kept as
/// the [`source`](std::error::Error::source) for the log.
///
/// ```
/// use arterys_gateway::HandlerError;
/// fn slices(n: &str) -> Result<u32, HandlerError> {
///     let v: u32 = n.parse().map_err(HandlerError::internal)?; // our own config: 500
///     if v == 0 {
///         return Err(HandlerError::unprocessable("zero slices"));
///     }
///     Ok(v)
/// }
/// assert_eq!(slices("x").unwrap_err().status(), 500);
/// assert_eq!(slices("0").unwrap_err().status(), 422);
/// assert_eq!(HandlerError::bad_gateway("the model server answered 500").status(), 502);
/// assert_eq!(HandlerError::gateway_timeout("no answer in 30 s").status(), 504);
/// ```
#[derive(Debug)]
pub struct HandlerError {
    status: StatusCode,
    cause: Cause,
}

impl HandlerError {
    fn new(status: StatusCode, cause: impl Into<Cause>) -> Self {
        Self { status, cause: cause.into() }
    }

    /// 400: the request is malformed.
    pub fn bad_request(cause: impl Into<Cause>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, cause)
    }

    /// 422: the request is well-formed but its content cannot be processed (e.g. a part that
    /// is not DICOM, an image the model cannot take).
    pub fn unprocessable(cause: impl Into<Cause>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, cause)
    }

    /// 503: the service cannot take the request now (e.g. its model is still loading).
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, cause)
    }

    /// 502: a server the service relies on (e.g. a remote model) answered badly.
    pub fn bad_gateway(cause: impl Into<Cause>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, cause)
    }

    /// 504: a server the service relies on did not answer in time.
    pub fn gateway_timeout(cause: impl Into<Cause>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, cause)
    }

    /// 500: the service failed.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, cause)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The one-line reason the client gets.
    pub fn message(&self) -> String {
        self.cause.to_string()
    }

    /// The reason with its chain of causes, for the log.
    pub(crate) fn log_line(&self) -> String {
        let mut line = self.cause.to_string();
        let mut src = self.cause.source();
        while let Some(s) = src {
            line.push_str(": ");
            line.push_str(&s.to_string());
            src = s.source();
        }
        line
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cause.fmt(f)
    }
}

impl StdError for HandlerError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.cause.as_ref())
    }
}

/// A mask or response the handler built breaks the protocol: the service's fault, 500. This
/// one conversion exists so that `?` works on the protocol's builders; foreign errors need
/// an explicit constructor.
impl From<crate::ValidationError> for HandlerError {
    fn from(e: crate::ValidationError) -> Self {
        Self::internal(e)
    }
}

/// No room in the memory budget for what the handler is about to make (a handler counting
/// what it decodes with [`Reservation::try_grow`](crate::budget::Reservation::try_grow)): 503
/// while the budget is full, 413 when it needs more than the whole budget, as the gateway
/// answers for what it reserves itself.
///
/// ```
/// use arterys_gateway::{budget::MemoryBudget, HandlerError};
/// let budget = MemoryBudget::from_mib(1);
/// let mut held = budget.charge(0);
/// let e = HandlerError::from(held.try_grow(2 << 20).unwrap_err());
/// assert_eq!(e.status(), 413);
/// ```
impl From<crate::budget::BudgetError> for HandlerError {
    fn from(e: crate::budget::BudgetError) -> Self {
        match e {
            crate::budget::BudgetError::Full { .. } => Self::unavailable(e),
            crate::budget::BudgetError::TooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, e),
        }
    }
}

/// A request part the handler cannot read as DICOM: the input's fault, 422 with the part's
/// number and the reason.
#[cfg(feature = "dicom")]
impl From<arterys_viewer::study::StudyError> for HandlerError {
    fn from(e: arterys_viewer::study::StudyError) -> Self {
        Self::unprocessable(e)
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
