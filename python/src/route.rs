//! One Python inference route as an axum handler: read (the gateway's extractor), call the
//! Python dispatch on a blocking thread under the route's concurrency permits and deadline,
//! validate the answer against the protocol, stream it with the JSON text exactly as Python
//! wrote it (so the output hash is the SDK's).

use std::sync::Arc;
use std::time::Duration;

use arterys_gateway::budget::Reservation;
use arterys_gateway::multipart::{MultipartBody, OutgoingPart};
use arterys_gateway::{ArterysRequest, RequestLimits};
use arterys_gateway::{GatewayError, HandlerError, InferenceResponse, ResponseJson};
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use tokio::sync::Semaphore;
use tracing::{info, Span};

use crate::call::{self, Answer, Callable};

/// What every Python route shares: request limits, the handler permits, the deadline.
pub(crate) struct Shared {
    pub limits: Arc<RequestLimits>,
    pub permits: Arc<Semaphore>,
    pub timeout: Duration,
}

/// Serves one request on a Python route.
pub(crate) async fn handle(dispatch: Callable, shared: Arc<Shared>, mut req: Request) -> Response {
    if req.method() != Method::POST {
        let path = req.uri().path().to_owned();
        return GatewayError::MethodNotAllowed { method: req.method().clone(), path, allow: "POST" }.into_response();
    }
    req.extensions_mut().insert(Arc::clone(&shared.limits));
    match infer(dispatch, &shared, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn infer(dispatch: Callable, shared: &Shared, req: Request) -> Result<Response, GatewayError> {
    let started = std::time::Instant::now();
    let ArterysRequest { input, boundary, memory } = ArterysRequest::from_request(req, &()).await?;
    let span = Span::current();
    span.record("input_hash", input.input_hash.as_str());
    let input_hash = input.input_hash.clone();
    info!("start processing: {} DICOM instances, {} attachments", input.dicom.len(), input.attachments.len());
    let answer = run(dispatch, shared, input, memory).await?;
    let (json_text, buffers) = match answer {
        Answer::Protocol { json, parts } => (json, parts),
        Answer::Plain { status, body, content_type } => return Ok(plain(status, body, &content_type)),
    };
    let held = shared.limits.budget.as_ref().map(|b| b.charge(buffers.iter().map(|b| b.len() as u64).sum()));
    let json: ResponseJson = serde_json::from_slice(&json_text)
        .map_err(|e| HandlerError::internal(format!("the handler's response JSON breaks the protocol: {e}")))?;
    let response = InferenceResponse::from_parts(json, buffers)?;
    let response = tokio::task::spawn_blocking(move || response.validate().map(|()| response))
        .await
        .map_err(|_| GatewayError::Internal("response validation failed"))??;
    let (json, buffers) = response.into_parts();
    let mut parts = Vec::with_capacity(buffers.len() + 1);
    parts.push(OutgoingPart::new("application/json", json_text));
    for (p, b) in json.parts.iter().zip(buffers) {
        parts.push(OutgoingPart::new(p.binary_type.mime_type(), b));
    }
    info!("handler done in {} ms: {} parts", started.elapsed().as_millis(), json.parts.len());
    let done = span.clone();
    let body = MultipartBody::new(boundary.clone(), parts).with_hashes(input_hash).on_complete(move |output_hash| {
        drop(held);
        done.record("output_hash", output_hash);
        done.in_scope(|| info!("response sent in {} ms", started.elapsed().as_millis()));
    });
    let ct = HeaderValue::from_str(&format!("multipart/related; boundary=\"{boundary}\""))
        .map_err(|_| GatewayError::Internal("boundary cannot be echoed in a header"))?;
    let mut resp = Response::new(Body::new(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    Ok(resp)
}

/// Runs dispatch on a blocking thread once a permit is free; the request's memory stays
/// reserved until the call returns, even past the deadline.
async fn run(
    dispatch: Callable,
    shared: &Shared,
    input: arterys_gateway::InferenceInput,
    memory: Option<Reservation>,
) -> Result<Answer, GatewayError> {
    let permit = Arc::clone(&shared.permits).acquire_owned().await.map_err(|_| GatewayError::ShuttingDown)?;
    let span = Span::current();
    let task = tokio::task::spawn_blocking(move || {
        let _held = (permit, memory);
        span.in_scope(|| call::dispatch(&dispatch, input))
    });
    match tokio::time::timeout(shared.timeout, task).await {
        Err(_) => Err(GatewayError::Timeout(shared.timeout)),
        Ok(Err(_)) => Err(GatewayError::Internal("handler thread failed")),
        Ok(Ok(Err(reason))) => Err(HandlerError::internal(format!("dispatch failed: {reason}")).into()),
        Ok(Ok(Ok(answer))) => Ok(answer),
    }
}

/// Serves `/healthcheck` from the Python health check.
pub(crate) async fn health(f: Callable) -> Response {
    match tokio::task::spawn_blocking(move || call::health(&f)).await {
        Ok(Ok(Answer::Plain { status, body, content_type })) => plain(status, body, &content_type),
        Ok(Ok(Answer::Protocol { .. })) => {
            GatewayError::Internal("health check answered a protocol response").into_response()
        }
        Ok(Err(reason)) => {
            tracing::error!("health check failed: {reason}");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("health check failed: {reason}\n")).into_response()
        }
        Err(_) => GatewayError::Internal("health check thread failed").into_response(),
    }
}

/// A status, a body and its content type, as Python chose them.
fn plain(status: u16, body: Bytes, content_type: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    resp
}
