//! The example `axum_app`: the gateway nested in a user's router answers the protocol, and
//! the user's own routes still work. Driven through `tower::ServiceExt::oneshot`, no socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/axum_app.rs"]
mod axum_app;
mod common;

use axum::body::Body;
use common::read_dicom;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn call(method: &str, uri: &str, ct: Option<&str>, body: Vec<u8>) -> (u16, Option<String>, bytes::Bytes) {
    let mut req = http::Request::builder().method(method).uri(uri);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    let resp = axum_app::app().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    (status, ct, resp.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn nested_gateway_answers_the_protocol_beside_the_apps_routes() {
    let (status, _, body) = call("GET", "/version", None, vec![]).await;
    assert_eq!((status, &body[..]), (200, env!("CARGO_PKG_VERSION").as_bytes()));
    let (status, _, body) = call("GET", "/arterys/healthcheck", None, vec![]).await;
    assert_eq!((status, &body[..]), (200, &b"READY"[..]));

    let dcm = read_dicom("pydicom/CT_small.dcm");
    let req = common::request("{}", &[&dcm, &dcm]);
    let (status, ct, body) = call("POST", "/arterys/count", Some(&common::ct()), req).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let decoded = arterys_gateway::DecodedResponse::decode(&ct.unwrap(), &body).unwrap();
    let expected_input = common::sha256_hex(&[b"{}", &dcm, &dcm]);
    let response = decoded.into_response(Some(&expected_input)).unwrap();
    assert_eq!(response.json().study_ml_json, Some(serde_json::json!({ "images": 2 })));

    // The gateway's own refusals keep their status and one-line reason inside the app.
    let (status, _, body) = call("GET", "/arterys/count", None, vec![]).await;
    assert_eq!(status, 405);
    assert!(String::from_utf8_lossy(&body).contains("use POST"));
    let (status, _, _) = call("POST", "/arterys/count", Some("application/xml"), vec![]).await;
    assert_eq!(status, 415);
}

#[test]
#[should_panic(expected = "/count already has a handler")]
fn a_duplicate_route_fails_loudly() {
    let ok = |_| Ok(arterys_gateway::InferenceResponse::new());
    let _ = arterys_gateway::Gateway::new().route("/count", ok).route("count", ok);
}
