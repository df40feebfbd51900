//! A handler that panics: the client gets a 500, the panic is logged through tracing with the
//! request's input_hash (not as bare text on stderr), and the server goes on serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arterys_gateway::logging::LoggingConfig;
use arterys_gateway::{Gateway, InferenceResponse};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_a_500_logged_with_the_input_hash_and_the_server_keeps_serving() {
    let buf = LogBuf::default();
    let mut config = LoggingConfig::default();
    config.format = arterys_gateway::logging::Format::Arterys;
    config.init_with_writer(buf.clone()).unwrap();

    let gateway = Gateway::new().route("/", |_| Ok(InferenceResponse::new())).route("/boom", |input| {
        let zero = input.dicom.len() - 1;
        // A request-derived division by zero: what a handler bug looks like.
        let mut r = InferenceResponse::new();
        r.set_study_ml_json(serde_json::json!({"x": 1 / zero}));
        Ok(r)
    });
    let addr = start(gateway).await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let body = || {
        multipart(
            "bb",
            &[
                RawPart { headers: "Content-Type: application/json\r\n", body: b"{}" },
                RawPart { headers: "Content-Type: application/dicom\r\n", body: &dcm },
            ],
        )
    };
    let ct = Some("multipart/related; boundary=bb");
    let ok = send(addr, "POST", "/", ct, body()).await;
    let input_hash = parse_response(&ok).hashes.split_once(':').unwrap().0.to_owned();

    let boom = send(addr, "POST", "/boom", ct, body()).await;
    assert_eq!(boom.status, 500, "{}", boom.text());
    assert_eq!(boom.text().trim(), "internal server error: the handler panicked");
    // Served on, on a new connection and the same route table.
    assert_eq!(send(addr, "POST", "/", ct, body()).await.status, 200);

    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let panic_line = log.lines().find(|l| l.contains("panic at ")).unwrap_or_else(|| panic!("no panic line:\n{log}"));
    assert!(panic_line.contains("[ERROR]"), "{panic_line}");
    assert!(panic_line.contains(&format!("{{\"input_hash\": \"{input_hash}\"")), "{panic_line}");
    assert!(panic_line.contains("tests/panics.rs:"), "where it happened: {panic_line}");
    assert!(panic_line.contains("attempt to divide by zero"), "{panic_line}");
}
