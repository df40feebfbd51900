//! A response cut because its client stopped reading is logged: one line, tagged with the
//! request's `input_hash` like every other line about the request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use arterys_gateway::logging::{Format, LoggingConfig};
use arterys_gateway::{Gateway, Mask, MaskPart, MaskShape};
use common::*;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_cut_by_the_write_timeout_is_logged_with_the_request_tag() {
    let buf = LogBuf::default();
    let config = LoggingConfig::from_yaml("format: arterys").unwrap();
    assert_eq!(config.format, Format::Arterys);
    config.init_with_writer(buf.clone()).unwrap();
    let gw = Gateway::new().write_timeout(Duration::from_millis(500)).route("/", |_| {
        // 32 MiB: more than the socket buffers take from a client that reads nothing.
        let mut r = arterys_gateway::InferenceResponse::new();
        r.add_mask(MaskPart::probability("m", Mask::zeros(MaskShape::volume(32, 1024, 1024))?).for_series("1"));
        Ok(r)
    });
    let addr = start(gw).await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let body = request("{}", &[&dcm]);
    let head =
        format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n", ct(), body.len());
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client.write_all(head.as_bytes()).await.unwrap();
    client.write_all(&body).await.unwrap();
    // Never read; the line comes once the write timeout passes.
    let log = || String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log().contains("response cut") {
        assert!(Instant::now() < deadline, "no line about the cut response:\n{}", log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cut: Vec<String> = log().lines().filter(|l| l.contains("response cut")).map(str::to_owned).collect();
    assert_eq!(cut.len(), 1, "{cut:?}");
    let tag = format!("{{\"input_hash\": \"{}\"", sha256_hex(&[b"{}", &dcm]));
    assert!(cut[0].contains("[WARNING]") && cut[0].contains(&tag), "{}", cut[0]);
    assert!(cut[0].contains("write timeout"), "{}", cut[0]);
    drop(client);
}
