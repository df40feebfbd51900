//! Every line logged while serving a request carries its input_hash (and the last its
//! output_hash), in the reference's line format; no patient data reaches the log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arterys_gateway::logging::LoggingConfig;
use arterys_gateway::{Gateway, HandlerError, InferenceResponse};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_lines_are_tagged_and_free_of_patient_data() {
    let buf = LogBuf::default();
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../logging.yaml")).unwrap();
    let mut config = LoggingConfig::from_yaml(&yaml).unwrap();
    config.format = arterys_gateway::logging::Format::Arterys;
    config.init_with_writer(buf.clone()).unwrap();

    let addr = start(Gateway::new().route("/", |input| {
        let info =
            arterys_gateway::dicom::InstanceInfo::read(&input.dicom[0].body).map_err(HandlerError::unprocessable)?;
        tracing::info!("model saw a {}x{} image", info.rows, info.columns);
        tracing::warn!(slices = input.dicom.len(), "a warning with a field");
        Ok(InferenceResponse::new())
    }))
    .await;
    // CT_small's patient is "CompressedSamples^CT1", ID "1CT1".
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let json = r#"{"studyUID": "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"}"#;
    let reply = send(addr, "POST", "/", Some(&ct()), request(json, &[&dcm])).await;
    let parsed = parse_response(&reply);
    let (input_hash, output_hash) = parsed.hashes.split_once(':').unwrap();
    // The last line is written as the body finishes; give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    // Start-up lines are not about a request.
    let startup = ["listening on", "memory budget", "open-files limit"];
    let request_lines: Vec<&str> = log.lines().filter(|l| !startup.iter().any(|s| l.contains(s))).collect();
    assert!(request_lines.len() >= 5, "{log}");
    let tag = format!("{{\"input_hash\": \"{input_hash}\"");
    for line in &request_lines {
        assert!(line.starts_with('['), "{line}");
        assert_eq!(&line[11..12], " ", "{line}");
        assert_eq!(&line[20..21], ",", "asctime with milliseconds: {line}");
        assert!(line.contains(&tag), "untagged line: {line}");
    }
    assert!(log.contains("] [INFO] logging {\"input_hash\""), "handler lines name their target: {log}");
    assert!(log.contains("] [WARNING] logging "), "{log}");
    assert!(log.contains("a warning with a field slices=1"), "{log}");
    let last = request_lines.iter().find(|l| l.contains("response sent")).expect("response sent line");
    assert!(
        last.contains(&format!("{{\"input_hash\": \"{input_hash}\", \"output_hash\": \"{output_hash}\"}} - ")),
        "{last}"
    );
    for secret in ["CompressedSamples", "1CT1", "CT1"] {
        assert!(!log.contains(secret), "patient data {secret:?} in the log:\n{log}");
    }
}
