//! `Gateway::healthcheck`: a `/healthcheck` handler that chooses its own status and body (or
//! none: `Gateway::without_healthcheck`),
//! while `/readyz` still follows the readiness callback. Driven through
//! `tower::ServiceExt::oneshot`, no socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arterys_gateway::{Gateway, InferenceResponse, Readiness};
use axum::body::Body;
use http::StatusCode;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn call(app: &axum::Router, method: &str, uri: &str) -> (u16, bytes::Bytes) {
    let req = http::Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    (resp.status().as_u16(), resp.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn healthcheck_handler_chooses_status_and_body() {
    let app = Gateway::new()
        .route("/", |_| Ok(InferenceResponse::new()))
        .readiness(|| Readiness::Ready)
        .healthcheck(|| async { (StatusCode::SERVICE_UNAVAILABLE, "warming up") })
        .into_router();
    for method in ["GET", "POST"] {
        assert_eq!(call(&app, method, "/healthcheck").await, (503, bytes::Bytes::from_static(b"warming up")));
    }
    assert_eq!(call(&app, "PUT", "/healthcheck").await.0, 405);
    assert_eq!(call(&app, "GET", "/readyz").await.0, 200);
}

#[tokio::test]
async fn without_it_healthcheck_is_the_readiness_text() {
    let app = Gateway::new()
        .route("/", |_| Ok(InferenceResponse::new()))
        .readiness(|| Readiness::NotReady("LOADING".into()))
        .into_router();
    assert_eq!(call(&app, "GET", "/healthcheck").await, (200, bytes::Bytes::from_static(b"LOADING")));
}

#[tokio::test]
async fn without_healthcheck_the_path_is_the_404_that_names_every_inference_route() {
    let app = Gateway::new()
        .route("/", |_| Ok(InferenceResponse::new()))
        .without_healthcheck()
        .admitted_inference_routes(["/python"])
        .merge_admitted(|_| axum::Router::new().route("/python", axum::routing::post(|| async { "served" })))
        .into_router();
    for method in ["GET", "POST"] {
        let (status, body) = call(&app, method, "/healthcheck").await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 404, "{body}");
        assert!(body.trim_end().ends_with("the inference routes are /, /python"), "{body}");
    }
    assert_eq!(call(&app, "POST", "/python").await, (200, bytes::Bytes::from_static(b"served")));
    assert_eq!(call(&app, "GET", "/readyz").await.0, 200);
}
