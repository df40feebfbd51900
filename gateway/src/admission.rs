//! [`Admission`]: the gateway's rules for routes that run a model but speak another
//! platform's API (MONAI Label's `/infer/{model}`, say), mounted with
//! [`Gateway::merge_admitted`](crate::Gateway::merge_admitted).
//!
//! Such a route gets what the protocol's routes get: one of the gateway's inference permits,
//! taken before its body is read (so queued uploads wait before they hold memory), the body
//! read into room reserved from the process's memory budget under the body limit and the
//! minimum body rate (408 when too slow), the handler deadline with its request's
//! [`crate::cancel::Cancellation`] set when the deadline passes or the client
//! goes away, and the request log lines tagged with the body's SHA-256 as `input_hash`.
//! A route that speaks the protocol but calls a handler the gateway cannot call itself (a
//! Python function, say) reads with [`Admission::admit_request`] instead: the protocol's
//! reading and `input_hash`, then the permit, in the protocol routes' order.
//!
//! ```
//! use arterys_gateway::Admission;
//! use arterys_gateway::{Gateway, GatewayError};
//! use axum::extract::{Request, State};
//!
//! async fn count(State(adm): State<Admission>, req: Request) -> Result<String, GatewayError> {
//!     let admitted = adm.admit(req).await?;
//!     let n = admitted.body.len();
//!     adm.run_blocking(admitted, move |_body| Ok::<_, GatewayError>(format!("{n} bytes"))).await
//! }
//! let gw = Gateway::new().merge_admitted(|adm| {
//!     axum::Router::new().route("/count", axum::routing::post(count)).with_state(adm)
//! });
//! let _app: axum::Router = gw.into_router();
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tracing::{info, Span};

use crate::budget::{MemoryBudget, Reservation};
use crate::cancel::Cancellation;
use crate::error::GatewayError;
use crate::extract::{self, ArterysRequest, RequestLimits};
use crate::metrics::InferencePermit;
use crate::{InferenceInput, InferenceResponse};

/// The gateway's permits, limits and handler deadline, for routes it does not decode itself.
/// Cloning is cheap (all clones share the permits and the budget).
#[derive(Clone)]
pub struct Admission {
    limits: Arc<RequestLimits>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission").field("limits", &self.limits).field("timeout", &self.timeout).finish()
    }
}

/// A request admitted by [`Admission::admit`]: it holds an inference permit and its body's
/// share of the memory budget until it is dropped or run.
pub struct Admitted {
    /// The request's head.
    pub head: http::request::Parts,
    /// The whole body.
    pub body: Bytes,
    /// The body's reservation (when a budget is configured); grow it for what the work
    /// decodes, so that it is counted until the work ends.
    pub memory: Option<Reservation>,
    permit: InferencePermit,
    started: Instant,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted").field("uri", &self.head.uri).field("body", &self.body.len()).finish()
    }
}

/// A protocol request admitted by [`Admission::admit_request`]: it holds an inference permit,
/// and its input its share of the memory budget, until it is dropped or run.
pub struct AdmittedRequest {
    /// The request as read: the handler's input, the boundary to answer with, the memory
    /// reservation (run with [`Admission::run_request`], or hold it while the input lives).
    pub request: ArterysRequest,
    permit: InferencePermit,
    started: Instant,
}

impl std::fmt::Debug for AdmittedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdmittedRequest").field("route", &self.request.input.route).finish()
    }
}

impl Admission {
    pub(crate) fn new(limits: Arc<RequestLimits>, permits: Arc<Semaphore>, timeout: Duration) -> Self {
        Self { limits, permits, timeout }
    }

    /// The memory budget requests count against (`None`: not accounted).
    pub fn budget(&self) -> Option<&MemoryBudget> {
        self.limits.budget.as_ref()
    }

    /// The largest body accepted.
    pub fn body_limit(&self) -> u64 {
        self.limits.body_limit
    }

    /// Waits for an inference permit, then reads the body whole into reserved room (413 over
    /// the body limit or the whole budget, 503 with `Retry-After` when the budget has no room
    /// within its wait, 408 when slower than the minimum rate). The request's span gets the
    /// body's SHA-256 as `input_hash`.
    pub async fn admit(&self, req: Request) -> Result<Admitted, GatewayError> {
        let started = Instant::now();
        let route = req.uri().path().to_owned();
        let permit = InferencePermit::acquire(Arc::clone(&self.permits), &route)
            .await
            .map_err(|_| GatewayError::ShuttingDown)?;
        let (head, mut body) = req.into_parts();
        let declared = extract::declared_length(&head.headers);
        let mut buf = BytesMut::new();
        let mut hash = Sha256::new();
        let budgeted = self.limits.budget.is_some();
        let read = extract::read_reserved(&mut body, declared, &self.limits, |data| {
            hash.update(&data);
            if buf.capacity() == 0 && budgeted {
                // The declared length is reserved by now: one buffer of that size, not a
                // doubling one (whose copies would hold twice the body).
                buf.reserve(declared.unwrap_or(0).try_into().unwrap_or(0));
            }
            buf.extend_from_slice(&data);
            Ok(false)
        })
        .await;
        let memory = match read {
            Ok((_, memory)) => memory,
            Err(e) => {
                if !matches!(e, GatewayError::BodyTooSlow { .. } | GatewayError::BodyRead(_)) {
                    crate::linger::drain_after_answer(&head.headers, body);
                }
                return Err(e);
            }
        };
        let input_hash = crate::multipart::hex(&hash.finalize());
        Span::current().record("input_hash", input_hash.as_str());
        info!("start processing: {} bytes on {route}", buf.len());
        Ok(Admitted { head, body: buf.freeze(), memory, permit, started })
    }

    /// Reads a protocol request as the protocol's routes do ([`ArterysRequest`]: the multipart
    /// body decoded and hashed as it streams in, or a `studyPath` study read from below the
    /// study root, under the same limits, memory budget and minimum body rate), then waits for
    /// an inference permit, as they do (a queued request's body is already counted against the
    /// budget, so the handler's next input is ready when a permit frees). For a route that
    /// answers the protocol with a handler the gateway does not call itself (one in another
    /// language, say). The request's span gets the protocol's `input_hash`.
    pub async fn admit_request(&self, req: Request) -> Result<AdmittedRequest, GatewayError> {
        let started = Instant::now();
        let request = extract::read(req, &self.limits).await?;
        let input = &request.input;
        Span::current().record("input_hash", input.input_hash.as_str());
        info!(
            "start processing: {} DICOM instances, {} attachments on {}",
            input.dicom.len(),
            input.attachments.len(),
            input.route
        );
        let permit = InferencePermit::acquire(Arc::clone(&self.permits), &input.route)
            .await
            .map_err(|_| GatewayError::ShuttingDown)?;
        Ok(AdmittedRequest { request, permit, started })
    }

    /// Runs `work` on the blocking pool with the admitted body, under the handler deadline
    /// (504 past it; the work's [`Cancellation`] is set then, and when the client goes away,
    /// so its checkpoints stop it). The permit is given back when the work ends or at the
    /// deadline; the memory reservation when the work really ends.
    pub async fn run_blocking<T, E, F>(&self, admitted: Admitted, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<GatewayError> + Send + 'static,
        F: FnOnce(Bytes) -> Result<T, E> + Send + 'static,
    {
        let Admitted { body, memory, permit, started, .. } = admitted;
        self.run(body, memory, permit, started, work).await
    }

    /// [`Admission::run_blocking`] for a request admitted by [`Admission::admit_request`]:
    /// `work` gets its input.
    pub async fn run_request<T, E, F>(&self, admitted: AdmittedRequest, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<GatewayError> + Send + 'static,
        F: FnOnce(InferenceInput) -> Result<T, E> + Send + 'static,
    {
        let AdmittedRequest { request, permit, started } = admitted;
        self.run(request.input, request.memory, permit, started, work).await
    }

    /// Checks an answer against the protocol before anything is sent, as the gateway's own
    /// routes do; a large one off the async threads (a label map's check reads every voxel).
    /// A broken answer is the service's fault: 500 naming the part.
    pub async fn validate(&self, response: InferenceResponse) -> Result<InferenceResponse, GatewayError> {
        crate::pipeline::validate(response).await
    }

    async fn run<I, T, E, F>(
        &self,
        input: I,
        memory: Option<Reservation>,
        permit: InferencePermit,
        started: Instant,
        work: F,
    ) -> Result<T, E>
    where
        I: Send + 'static,
        T: Send + 'static,
        E: From<GatewayError> + Send + 'static,
        F: FnOnce(I) -> Result<T, E> + Send + 'static,
    {
        let permit = Arc::new(std::sync::Mutex::new(Some(permit)));
        let held = Arc::clone(&permit);
        let span = Span::current();
        let cancellation = Cancellation::new();
        let _cancel_on_drop = CancelOnDrop(cancellation.clone());
        let mut task = tokio::task::spawn_blocking(move || {
            let _held = (Release(held), memory);
            span.in_scope(|| cancellation.scope(|| work(input)))
        });
        let joined = match tokio::time::timeout(self.timeout, &mut task).await {
            Ok(j) => j,
            Err(_) => {
                drop(Release(permit));
                return Err(GatewayError::Timeout(self.timeout).into());
            }
        };
        let result = match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => {
                tracing::error!("handler panicked: {}", crate::panics::message(&*e.into_panic()));
                return Err(GatewayError::Panicked.into());
            }
            Err(_) => return Err(GatewayError::Internal("handler task failed").into()),
        };
        info!("handler done in {} ms", started.elapsed().as_millis());
        result
    }
}

/// Sets the work's cancellation when the request future ends, early (client gone, deadline)
/// or not (then it changes nothing).
struct CancelOnDrop(Cancellation);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Gives the permit back when dropped, whichever of the deadline and the work comes first.
struct Release(Arc<std::sync::Mutex<Option<InferencePermit>>>);

impl Drop for Release {
    fn drop(&mut self) {
        // A poisoned lock still holds a valid Option: take the permit all the same.
        drop(self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
    }
}
