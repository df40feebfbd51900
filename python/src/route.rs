//! One Python inference route, on the gateway's admission path ([`Admission`]): an inference
//! permit before the body, the protocol's reading under the gateway's limits, budget and body
//! rate, the handler deadline and its cancellation, the permit and queue metrics; then the
//! Python dispatch on the blocking pool, the answer validated against the protocol and
//! streamed with the JSON text exactly as Python wrote it (so the output hash is the SDK's).

use arterys_gateway::multipart::{MultipartBody, OutgoingPart};
use arterys_gateway::Admission;
use arterys_gateway::{GatewayError, HandlerError, InferenceResponse, ResponseJson};
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use tracing::{info, Span};

use crate::call::{self, Answer, Callable};

/// Serves one request on a Python route.
pub(crate) async fn handle(dispatch: Callable, admission: Admission, req: Request) -> Response {
    if req.method() != Method::POST {
        let path = req.uri().path().to_owned();
        return GatewayError::MethodNotAllowed { method: req.method().clone(), path, allow: "POST" }.into_response();
    }
    match infer(dispatch, &admission, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn infer(dispatch: Callable, admission: &Admission, req: Request) -> Result<Response, GatewayError> {
    let started = std::time::Instant::now();
    let admitted = admission.admit_request(req).await?;
    let boundary = admitted.request.boundary.clone();
    let input_hash = admitted.request.input.input_hash.clone();
    let queued = std::time::Instant::now();
    let answer = admission
        .run_request(admitted, move |input| {
            call::dispatch(&dispatch, input, queued).map_err(|reason| GatewayError::from(dispatch_failed(reason)))
        })
        .await?;
    let (json_text, buffers) = match answer {
        Answer::Protocol { json, parts } => (json, parts),
        Answer::Plain { status, body, content_type } => return Ok(plain(status, body, &content_type)),
    };
    // The answer's buffers count against the budget until the last byte is handed over.
    let held = admission.budget().map(|b| b.charge(buffers.iter().map(|b| b.len() as u64).sum()));
    let json: ResponseJson = serde_json::from_slice(&json_text)
        .map_err(|e| HandlerError::internal(format!("the handler's response JSON breaks the protocol: {e}")))?;
    let response = InferenceResponse::from_parts(json, buffers)?;
    let response = admission.validate(response).await?;
    let (json, buffers) = response.into_parts();
    let mut parts = Vec::with_capacity(buffers.len() + 1);
    parts.push(OutgoingPart::new("application/json", json_text));
    for (p, b) in json.parts.iter().zip(buffers) {
        parts.push(OutgoingPart::new(p.binary_type.mime_type(), b));
    }
    let done = Span::current();
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

fn dispatch_failed(reason: String) -> HandlerError {
    HandlerError::internal(format!("dispatch failed: {reason}"))
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
