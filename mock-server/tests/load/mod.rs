//! A synthetic CT study generated slice by slice as it is sent (the client holds one slice at
//! a time), with its input hash computed on the way, for the load tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arterys_gateway::multipart::hex;
use arterys_gateway::DecodedResponse;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    /// An answer: its status and, for a 200, whether it names our input hash.
    Answered { status: u16, hash_ok: bool },
    /// The connection failed (a client that gave up on purpose, or a reset).
    Failed(String),
}

/// The body: `slices` slices of 512x512, tagged by `seed`.
pub struct StudyBody {
    next: u32,
    slices: u32,
    seed: u32,
    template: Vec<u8>,
    hasher: Arc<Mutex<Sha256>>,
    /// Stops (an error) after this many slices, to play a client that goes away.
    give_up_after: Option<u32>,
    /// Pause before each slice, to play a slow client.
    pace: Option<Pin<Box<tokio::time::Sleep>>>,
    pace_every: Duration,
}

impl StudyBody {
    pub fn new(seed: u32, slices: u32, give_up_after: Option<u32>, pace: Duration) -> Self {
        let template =
            arterys_gateway::dicom::synthetic::ct_slice("1.2.826.0.1.3680043.10.999.7", 0, 512, 512).unwrap();
        Self {
            next: 0,
            slices,
            seed,
            template,
            hasher: Arc::new(Mutex::new(Sha256::new())),
            give_up_after,
            pace: None,
            pace_every: pace,
        }
    }
}

impl http_body::Body for StudyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if !this.pace_every.is_zero() {
            let sleep = this.pace.get_or_insert_with(|| Box::pin(tokio::time::sleep(this.pace_every)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pace = None;
        }
        let i = this.next;
        this.next += 1;
        if this.give_up_after == Some(i) {
            return Poll::Ready(Some(Err(std::io::Error::other("the client gives up"))));
        }
        let mut out = Vec::new();
        if i == 0 {
            let json = format!("{{\"seed\": {}}}", this.seed);
            this.hasher.lock().unwrap().update(json.as_bytes());
            out.extend_from_slice(b"--soak\r\nContent-Type: application/json\r\n\r\n");
            out.extend_from_slice(json.as_bytes());
        }
        if i < this.slices {
            out.extend_from_slice(b"\r\n--soak\r\nContent-Type: application/dicom\r\n\r\n");
            let mut slice = this.template.clone();
            let n = slice.len();
            slice[n - 8..n - 4].copy_from_slice(&this.seed.to_le_bytes());
            slice[n - 4..].copy_from_slice(&i.to_le_bytes());
            this.hasher.lock().unwrap().update(&slice);
            out.extend_from_slice(&slice);
        } else if i == this.slices {
            out.extend_from_slice(b"\r\n--soak--\r\n");
        } else {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
    }
}

/// Uploads a study of `slices` slices (chunked), reads the answer and checks its input hash.
pub async fn upload(addr: SocketAddr, seed: u32, slices: u32, give_up_after: Option<u32>) -> Outcome {
    upload_paced(addr, seed, slices, give_up_after, Duration::ZERO).await
}

/// As [`upload`], pausing `pace` before each slice.
pub async fn upload_paced(
    addr: SocketAddr,
    seed: u32,
    slices: u32,
    give_up_after: Option<u32>,
    pace: Duration,
) -> Outcome {
    let body = StudyBody::new(seed, slices, give_up_after, pace);
    let hasher = Arc::clone(&body.hasher);
    let client = Client::builder(TokioExecutor::new()).build_http::<StudyBody>();
    let req = http::Request::post(format!("http://{addr}/"))
        .header("content-type", "multipart/related; boundary=soak")
        .body(body)
        .unwrap();
    let resp = match client.request(req).await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if status != 200 {
        return Outcome::Answered { status, hash_ok: false };
    }
    let expected = hex(&hasher.lock().unwrap().clone().finalize());
    let stated =
        ct.and_then(|ct| DecodedResponse::decode(&ct, &body).ok()).and_then(|d| d.stated_hashes().ok().map(|(i, _)| i));
    Outcome::Answered { status, hash_ok: stated.as_deref() == Some(expected.as_str()) }
}
