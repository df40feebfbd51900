//! The inference pipeline mounted inside an application's own axum router: the app keeps its
//! routes and middleware, the gateway answers under `/arterys`.
//!
//! ```sh
//! cargo run -p arterys-gateway --example axum_app     # listens on 127.0.0.1:8000
//! curl localhost:8000/version                         # the app's own route
//! curl localhost:8000/arterys/healthcheck             # READY
//! ```

use arterys_gateway::{Gateway, HandlerError, InferenceInput, InferenceResponse};
use axum::routing::get;
use axum::Router;

/// Counts the images; a study without any is the client's fault (422).
fn count(input: InferenceInput) -> Result<InferenceResponse, HandlerError> {
    if input.dicom.is_empty() {
        return Err(HandlerError::unprocessable("no images"));
    }
    let mut response = InferenceResponse::new();
    response.set_study_ml_json(serde_json::json!({ "images": input.dicom.len() }));
    Ok(response)
}

/// The application: its own route, and the gateway nested at `/arterys`.
pub fn app() -> Router {
    let arterys = Gateway::new().route("/count", count).max_concurrent_inferences(2).into_router();
    Router::new().route("/version", get(|| async { env!("CARGO_PKG_VERSION") })).nest("/arterys", arterys)
}

#[allow(dead_code)] // the test includes this file for `app` alone
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    let app = app();
    let svc = hyper::service::service_fn(move |req| tower::ServiceExt::oneshot(app.clone(), req));
    loop {
        let (stream, _) = listener.accept().await?;
        let svc = svc.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
        });
    }
}
