//! Orchestrator probes: `/livez` (the process answers) and `/readyz` (send it traffic), next
//! to the protocol's own `/healthcheck` and `/ping`, which keep their meaning.
//!
//! `/readyz` answers 200 `ready` only while the gateway's readiness says
//! [`Ready`](crate::Readiness::Ready) and the server is not shutting down; otherwise 503 with
//! the reason (`not ready: LOADING`, `not ready: shutting down`), so a load balancer stops
//! routing to a pod that is loading its models, has lost its remote model server, or drains.
//! [`Readiness`], what a service says of itself, feeds both.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

/// What `/healthcheck` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The model takes requests: the body is `READY`.
    Ready,
    /// Not yet: the body is this text (e.g. `LOADING`). Arterys waits.
    NotReady(String),
}

impl Readiness {
    /// The `/healthcheck` body.
    pub fn text(&self) -> &str {
        match self {
            Self::Ready => "READY",
            Self::NotReady(s) => s,
        }
    }

    /// `LOADING` until `loaded` is set, then `Ready`: a service that listens while its model
    /// loads.
    pub fn loading_until(loaded: &AtomicBool) -> Self {
        if loaded.load(Ordering::Acquire) {
            Self::Ready
        } else {
            Self::NotReady("LOADING".into())
        }
    }
}

/// Set once the server has been told to stop; shared by the server and `/readyz`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draining(Arc<AtomicBool>);

impl Draining {
    pub(crate) fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

fn text(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// `/livez`: the process is up and its runtime answers.
pub(crate) async fn livez() -> Response {
    text(StatusCode::OK, "alive\n".into())
}

/// `/readyz`: 200 when ready and not draining, else 503 with the reason.
pub(crate) fn readyz(readiness: Readiness, draining: &Draining) -> Response {
    if draining.is_set() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down\n".into());
    }
    match readiness {
        Readiness::Ready => text(StatusCode::OK, "ready\n".into()),
        Readiness::NotReady(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
    }
}
