//! A 300-slice 512x512 16-bit study (about 157 MB) through a no-op handler: the process's peak
//! RSS stays under 1.3x the request size. This is the only test in its binary, so the process
//! is the server plus a client that generates each slice as it sends it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use arterys_gateway::{Gateway, InferenceResponse};
use bytes::Bytes;
use common::*;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const SLICES: u32 = 300;
const SERIES: &str = "1.2.826.0.1.3680043.10.999.1";

/// The request body, one slice generated per frame.
struct StudyBody {
    next: u32,
    template: Vec<u8>,
    sent: u64,
}

impl StudyBody {
    fn frame(&mut self) -> Option<Bytes> {
        let i = self.next;
        self.next += 1;
        let mut out = Vec::new();
        if i == 0 {
            out.extend_from_slice(b"--mem\r\nContent-Type: text/json\r\n\r\n{}");
        }
        if i < SLICES {
            out.extend_from_slice(b"\r\n--mem\r\nContent-Type: application/dicom\r\n\r\n");
            let mut slice = self.template.clone();
            // Vary the last pixels so every slice differs (the hash sees it).
            let n = slice.len();
            slice[n - 4..].copy_from_slice(&i.to_le_bytes());
            out.extend_from_slice(&slice);
        } else if i == SLICES {
            out.extend_from_slice(b"\r\n--mem--\r\n");
        } else {
            return None;
        }
        self.sent += out.len() as u64;
        Some(Bytes::from(out))
    }
}

impl http_body::Body for StudyBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().frame().map(|b| Ok(Frame::data(b))))
    }
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_study_peak_rss_stays_under_1_3x_request() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: skipping the RSS measurement");
        return;
    }
    let template = arterys_gateway::dicom::synthetic::ct_slice(SERIES, 0, 512, 512).unwrap();
    let addr = start(Gateway::new().route("/", |input| {
        assert_eq!(input.dicom.len(), SLICES as usize);
        Ok(InferenceResponse::new())
    }))
    .await;
    let baseline = status_kib("VmRSS:");
    // Reset the peak so VmHWM covers this request only (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let client = Client::builder(TokioExecutor::new()).build_http::<StudyBody>();
    let req = http::Request::post(format!("http://{addr}/"))
        .header("content-type", "multipart/related; boundary=mem")
        .body(StudyBody { next: 0, template, sent: 0 })
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await.unwrap();
    let peak = status_kib("VmHWM:");
    let request_bytes = u64::from(SLICES) * (512 * 512 * 2 + 1000); // close enough for the ratio's denominator
    let ratio = (peak * 1024) as f64 / request_bytes as f64;
    println!(
        "study of {} slices, ~{:.1} MB: baseline RSS {:.1} MB, peak RSS {:.1} MB = {:.2}x the request",
        SLICES,
        request_bytes as f64 / 1e6,
        baseline as f64 / 1024.0,
        peak as f64 / 1024.0,
        ratio
    );
    assert!(ratio < 1.3, "peak RSS {:.2}x the request size", ratio);
}
