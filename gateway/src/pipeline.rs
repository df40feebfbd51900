//! [`InferenceService`]: the inference pipeline as a `tower::Service`. Read (through the
//! extractor), run the handler, validate, stream the answer.
//!
//! The handler's concurrency limit and deadline live here rather than in tower's
//! `ConcurrencyLimit`/`Timeout` layers on purpose: the permit moves into the handler's task,
//! so a client that goes away does not free a slot its handler still uses. At the handler
//! deadline (504) an async handler is cancelled (dropped at its next `.await`); a blocking
//! handler cannot be dropped, so its request's [`Cancellation`] is set (also when the client
//! goes away first) and the blocking work stops at its next [`checkpoint`](crate::cancel::checkpoint)
//! (per frame, per segment list, per batch). Its permit is given back at the deadline all the
//! same: it stops counting against new requests. Its memory (the request's budget reservation)
//! stays counted until it really ends.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::FutureExt;
use http::{header, HeaderValue, Method};
use tokio::sync::Semaphore;
use tracing::{error, info, Instrument, Span};

use crate::body::MultipartBody;
use crate::budget::Reservation;
use crate::cancel::Cancellation;
use crate::error::GatewayError;
use crate::extract::{self, RequestLimits};
use crate::handler::Handler;
use crate::multipart::OutgoingPart;
use crate::{InferenceInput, InferenceResponse};

/// The inference pipeline of one route. `POST` only; anything else gets 405.
///
/// Cloning is cheap (it shares the handler, the limits and the concurrency permits).
/// [`Gateway::into_router`](crate::Gateway::into_router) mounts one per route with axum's
/// `route_service`.
#[derive(Clone)]
pub struct InferenceService {
    inner: Arc<Inner>,
}

struct Inner {
    handler: Handler,
    limits: Arc<RequestLimits>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    working_memory: Option<WorkingMemoryFn>,
}

/// Memory a handler will need for an input beyond its body (decoded images, say), in bytes.
pub(crate) type WorkingMemoryFn = Arc<dyn Fn(&InferenceInput) -> u64 + Send + Sync>;

impl InferenceService {
    pub(crate) fn new(
        handler: Handler,
        limits: Arc<RequestLimits>,
        permits: Arc<Semaphore>,
        timeout: Duration,
        working_memory: Option<WorkingMemoryFn>,
    ) -> Self {
        Self { inner: Arc::new(Inner { handler, limits, permits, timeout, working_memory }) }
    }
}

impl tower::Service<Request> for InferenceService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            // A panic anywhere in the pipeline is a 500 for this request, not a dropped
            // connection; the hook has already logged it in the request's span.
            let result = AssertUnwindSafe(infer(&inner, req)).catch_unwind().await;
            Ok(result.unwrap_or(Err(GatewayError::Panicked)).unwrap_or_else(IntoResponse::into_response))
        })
    }
}

async fn infer(inner: &Inner, req: Request) -> Result<Response, GatewayError> {
    if req.method() != Method::POST {
        let path = req.uri().path().to_owned();
        return Err(GatewayError::MethodNotAllowed { method: req.method().clone(), path, allow: "POST" });
    }
    let started = Instant::now();
    let extract::ArterysRequest { input, boundary, memory } = extract::read(req, &inner.limits).await?;
    let span = Span::current();
    span.record("input_hash", input.input_hash.as_str());
    let received: usize = input.parts_in_order().iter().map(|p| p.body.len()).sum();
    info!(
        "start processing: {} DICOM instances, {} attachments, {} bytes on {}",
        input.dicom.len(),
        input.attachments.len(),
        received + input.json.len(),
        input.route
    );
    let input_hash = input.input_hash.clone();
    // What the handler will decode is reserved with the body, before it runs: a small file
    // declaring large images waits for room (503) or is refused (413), never decoded past
    // the budget.
    let (input, memory) = match (&inner.working_memory, &inner.limits.budget) {
        (Some(need), Some(budget)) => {
            let mut held = memory.unwrap_or_else(|| budget.charge(0));
            let (input, bytes) = working_memory(need, input).await?;
            held.grow(bytes, tokio::time::Instant::now() + budget.wait()).await?;
            (input, Some(held))
        }
        _ => (input, memory),
    };
    let response = run_handler(inner, input, memory).await?;
    // The response buffers count against the budget until the last byte is handed over.
    let held = inner.limits.budget.as_ref().map(|b| b.charge(response.buffers().iter().map(|b| b.len() as u64).sum()));
    let response = validate(response).await?;
    let handled = started.elapsed();

    let (json, buffers) = response.into_parts();
    // A ResponseJson is maps, strings and numbers: it always serializes.
    let json_bytes = serde_json::to_vec(&json).map_err(|_| GatewayError::Internal("response JSON"))?;
    let mut parts = Vec::with_capacity(buffers.len() + 1);
    parts.push(OutgoingPart::new("application/json", json_bytes));
    let sent: usize = buffers.iter().map(Bytes::len).sum();
    for (p, b) in json.parts.iter().zip(buffers) {
        parts.push(OutgoingPart::new(p.binary_type.mime_type(), b));
    }
    info!("handler done in {} ms: {} parts, {} buffer bytes", handled.as_millis(), json.parts.len(), sent);
    let done_span = span.clone();
    let body = MultipartBody::new(boundary.clone(), parts).with_hashes(input_hash).on_complete(move |output_hash| {
        drop(held);
        done_span.record("output_hash", output_hash);
        done_span.in_scope(|| info!("response sent in {} ms", started.elapsed().as_millis()));
    });
    let ct = format!("multipart/related; boundary={}", quote_boundary(&boundary));
    let ct = HeaderValue::from_str(&ct).map_err(|_| GatewayError::Internal("boundary cannot be echoed in a header"))?;
    let mut resp = Response::new(Body::new(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    Ok(resp)
}

/// What the handler will need for `input`, worked out on the blocking pool: sizing reads
/// every DICOM file's headers (`reserve_decoded_pixels`), too long for an async thread.
async fn working_memory(need: &WorkingMemoryFn, input: InferenceInput) -> Result<(InferenceInput, u64), GatewayError> {
    let (need, span) = (Arc::clone(need), Span::current());
    tokio::task::spawn_blocking(move || {
        let bytes = span.in_scope(|| need(&input));
        (input, bytes)
    })
    .await
    .map_err(|e| {
        if e.is_panic() {
            GatewayError::Panicked
        } else {
            GatewayError::Internal("working memory task failed")
        }
    })
}

/// A boundary as a Content-Type parameter: quoted unless it is a plain token.
fn quote_boundary(b: &str) -> String {
    let token = b.bytes().all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
    if token {
        b.to_owned()
    } else {
        format!("\"{}\"", b.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

async fn run_handler(
    inner: &Inner,
    input: InferenceInput,
    memory: Option<Reservation>,
) -> Result<InferenceResponse, GatewayError> {
    let permit = crate::metrics::InferencePermit::acquire(Arc::clone(&inner.permits), &input.route)
        .await
        .map_err(|_| GatewayError::ShuttingDown)?;
    // Shared with the task so that the deadline can give it back while a blocking handler runs on.
    let permit = Arc::new(std::sync::Mutex::new(Some(permit)));
    let held = Arc::clone(&permit);
    let span = Span::current();
    // Set when this future is dropped (the client went away) or the deadline passes; the
    // blocking handler's thread has it installed, so its loops stop at their next checkpoint.
    let cancellation = Cancellation::new();
    let _cancel_on_drop = CancelOnDrop(cancellation.clone());
    // The gateway's metrics go along, for what the handler reports (`metrics::model_batch`).
    let metrics = crate::metrics::current();
    let mut task = match inner.handler.clone() {
        Handler::Blocking(f) => tokio::task::spawn_blocking(move || {
            let _held = Held { permit: held, _memory: memory };
            let run = || span.in_scope(|| cancellation.scope(|| f(input)));
            match metrics {
                Some(m) => m.scope(run),
                None => run(),
            }
        }),
        Handler::Async(f) => tokio::spawn(crate::metrics::carried(
            metrics,
            async move {
                let _held = Held { permit: held, _memory: memory };
                f(input).await
            }
            .instrument(span),
        )),
    };
    let limit = inner.timeout;
    let joined = match tokio::time::timeout(limit, &mut task).await {
        Ok(j) => j,
        Err(_) => {
            task.abort();
            release(&permit);
            return Err(GatewayError::Timeout(limit));
        }
    };
    match joined {
        Ok(result) => Ok(result?),
        Err(e) if e.is_panic() => {
            error!("handler panicked: {}", crate::panics::message(&*e.into_panic()));
            Err(GatewayError::Panicked)
        }
        Err(_) => Err(GatewayError::Internal("handler task failed")),
    }
}

/// Sets a request's cancellation when dropped: when the handler is done this changes nothing;
/// when the request future is dropped early (client gone) or returns at the deadline, the
/// handler's blocking work sees it.
struct CancelOnDrop(Cancellation);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

type SharedPermit = Arc<std::sync::Mutex<Option<crate::metrics::InferencePermit>>>;

/// What a handler's task holds until it ends: its permit (unless the deadline gave it back)
/// and the request's memory reservation.
struct Held {
    permit: SharedPermit,
    _memory: Option<Reservation>,
}

impl Drop for Held {
    fn drop(&mut self) {
        release(&self.permit);
    }
}

fn release(permit: &SharedPermit) {
    // A poisoned lock still holds a valid Option: take the permit all the same.
    drop(permit.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
}

/// Checks the response before anything is sent; large responses are checked off the async
/// threads (a label map check reads every voxel).
pub(crate) async fn validate(response: InferenceResponse) -> Result<InferenceResponse, GatewayError> {
    let big = response.buffers().iter().map(Bytes::len).sum::<usize>() > 1 << 20;
    let (response, result) = if big {
        tokio::task::spawn_blocking(move || {
            let r = response.validate();
            (response, r)
        })
        .await
        .map_err(|_| GatewayError::Internal("response validation failed"))?
    } else {
        let r = response.validate();
        (response, r)
    };
    result?;
    Ok(response)
}
