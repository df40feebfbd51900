//! Sending the request and reading the answer, as bytes arrive.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arterys_protocol::multipart::{
    boundary_from_content_type, hex, python_bytes_boundary, DecodedPart, DecoderLimits, MultipartDecoder,
    MultipartEncoder, OutgoingPart,
};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Either, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// What to send (cheap to clone: the files are shared, for another try).
#[derive(Clone)]
pub struct Request {
    /// `http://host:port/route`.
    pub url: String,
    /// The first part (or the whole body for `studyPath` requests).
    pub json: serde_json::Value,
    /// Attachments: (file name, bytes).
    pub attachments: Vec<(String, Bytes)>,
    /// DICOM instances in send order: (file name, bytes).
    pub dicom: Vec<(String, Bytes)>,
    /// Send the JSON alone as `application/json` (the `studyPath` variant).
    pub json_only: bool,
}

/// What came back.
pub struct Exchange {
    /// HTTP status.
    pub status: u16,
    /// The response's Content-Type.
    pub content_type: Option<String>,
    /// The response's `Retry-After`, as sent.
    pub retry_after: Option<String>,
    /// The parts, or why the body is not a well-formed multipart body.
    pub parts: Result<Vec<DecodedPart>, String>,
    /// The body when it is not multipart (an error text).
    pub text: Option<String>,
    /// Notes on accepted quirks (e.g. the reference server's `b'…'` boundary).
    pub notes: Vec<String>,
    /// SHA-256 of every part body we sent, JSON included.
    pub input_hash: String,
    /// Bytes sent.
    pub sent_bytes: u64,
    /// Bytes received.
    pub received_bytes: u64,
    /// From the first byte sent to the last byte received.
    pub elapsed: Duration,
}

/// A request body that advances a progress bar as it is written, and turns it into the
/// waiting spinner once the last byte is out.
struct Counted {
    inner: MultipartEncoder,
    bar: ProgressBar,
    waiting: bool,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = this.inner.next();
        if let Some(b) = &next {
            this.bar.inc(b.len() as u64);
        }
        // The client stops polling once `is_end_stream` says so: switch with the last chunk.
        if this.inner.is_done() && !this.waiting {
            this.waiting = true;
            waiting(&this.bar);
        }
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_done()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.inner.remaining())
    }
}

/// The bar as a spinner with the time since the request was all sent: the model may compute
/// for minutes, and something must move meanwhile. Drawn only on a terminal, as every bar.
fn waiting(bar: &ProgressBar) {
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message("waiting for the answer");
    bar.reset_elapsed();
    bar.enable_steady_tick(Duration::from_millis(120));
}

fn boundary_for(body: &[u8]) -> String {
    // Unique enough and never inside a part: derived from the content's hash.
    format!("arterys-test-tool-{}", &hex(&Sha256::digest(body))[..20])
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (nothing listens there, or the host is unknown).
    #[error("cannot reach {url}: {detail}")]
    Unreachable {
        /// Where the request went.
        url: String,
        /// What the system said, with its causes.
        detail: String,
    },
    /// The connection was made but broke before a whole answer came.
    #[error("the connection to {url} failed before an answer came: {detail}")]
    Broken {
        /// Where the request went.
        url: String,
        /// What broke, with its causes.
        detail: String,
    },
    /// The request could not be built (a URL that is not one).
    #[error("invalid request to {url}: {detail}")]
    Invalid {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
}

/// The request's body and its Content-Type, and the SHA-256 of its parts (the input hash).
type Encoded = (String, Either<Counted, Full<Bytes>>, String);

/// Encodes `req` as the protocol's multipart/related body (or the JSON alone for `studyPath`),
/// hashing its parts as the server will.
fn encode(req: &Request, bar: &ProgressBar) -> Encoded {
    // A JSON value always serializes; `Value`'s keys are strings.
    let json_bytes = Bytes::from(serde_json::to_vec(&req.json).unwrap_or_default());
    let mut hasher = Sha256::new();
    hasher.update(&json_bytes);
    if req.json_only {
        return ("application/json".to_owned(), Either::Right(Full::new(json_bytes)), hex(&hasher.finalize()));
    }
    let mut parts = vec![OutgoingPart::new("application/json", json_bytes.clone())
        .header("Content-Disposition", "form-data; name=\"request_json\"")];
    for (name, bytes) in &req.attachments {
        hasher.update(bytes);
        parts.push(
            OutgoingPart::new("application/octet-stream", bytes.clone()).header(
                "Content-Disposition",
                &format!("form-data; name=\"attachment\"; filename=\"{}\"", quote(name)),
            ),
        );
    }
    for (name, bytes) in &req.dicom {
        hasher.update(bytes);
        parts.push(
            OutgoingPart::new("application/dicom", bytes.clone())
                .header("Content-Disposition", &format!("form-data; name=\"file\"; filename=\"{}\"", quote(name))),
        );
    }
    let boundary = boundary_for(&hasher.clone().finalize());
    let body = Counted { inner: MultipartEncoder::new(boundary.clone(), parts), bar: bar.clone(), waiting: false };
    (format!("multipart/related; boundary={boundary}"), Either::Left(body), hex(&hasher.finalize()))
}

/// Sends `req` and reads the whole answer. `Err` is a transport failure (no answer at all).
/// `bar` shows the upload, then a spinner with the time waited, then the bytes read.
pub async fn send(req: Request, bar: ProgressBar) -> Result<Exchange, TransportError> {
    let (content_type, body, input_hash) = encode(&req, &bar);
    let started = Instant::now();
    let sent_bytes = http_body::Body::size_hint(&body).exact().unwrap_or(0);
    bar.set_length(sent_bytes);
    if req.json_only {
        waiting(&bar);
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Either<Counted, Full<Bytes>>>();
    let request = http::Request::post(&req.url)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body)
        .map_err(|e| TransportError::Invalid { url: req.url.clone(), detail: e.to_string() })?;
    let resp = match client.request(request).await {
        Ok(resp) => resp,
        Err(e) => {
            bar.finish_and_clear();
            return Err(describe_transport(&req.url, &e));
        }
    };
    bar.set_message("reading the answer");
    let read = read_answer(resp, input_hash, sent_bytes, started).await;
    bar.finish_and_clear();
    read.map_err(|detail| TransportError::Broken { url: req.url.clone(), detail })
}

/// Reads the answer's status, headers and body (its parts when multipart).
async fn read_answer(
    resp: http::Response<hyper::body::Incoming>,
    input_hash: String,
    sent_bytes: u64,
    started: Instant,
) -> Result<Exchange, String> {
    let status = resp.status().as_u16();
    let header = |name| resp.headers().get(name).and_then(|v: &http::HeaderValue| v.to_str().ok()).map(str::to_owned);
    let content_type = header(http::header::CONTENT_TYPE);
    let retry_after = header(http::header::RETRY_AFTER);
    let mut ex = Exchange {
        status,
        content_type: content_type.clone(),
        retry_after,
        parts: Err("no body".into()),
        text: None,
        notes: Vec::new(),
        input_hash,
        sent_bytes,
        received_bytes: 0,
        elapsed: Duration::ZERO,
    };
    let mut body = resp.into_body();
    let boundary = content_type.as_deref().map(boundary_from_content_type);
    let Some(Ok(boundary)) = boundary else {
        // Not multipart: read it as text (an error message).
        let bytes = body.collect().await.map_err(|e| format!("reading the answer: {e}"))?.to_bytes();
        ex.received_bytes = bytes.len() as u64;
        ex.elapsed = started.elapsed();
        ex.text = Some(String::from_utf8_lossy(&bytes).into_owned());
        ex.parts = Err(match content_type {
            None => "the answer has no Content-Type".into(),
            Some(ct) => format!("the answer's Content-Type {ct:?} is not multipart/related with a boundary"),
        });
        return Ok(ex);
    };
    ex.parts = read_multipart(&mut body, &boundary, &mut ex).await?;
    ex.elapsed = started.elapsed();
    Ok(ex)
}

/// Decodes a multipart answer as its bytes arrive. The reference server wrote `b'abc'` in the
/// header; its body used either that or `abc`: the start of the body tells which.
async fn read_multipart(
    body: &mut hyper::body::Incoming,
    boundary: &str,
    ex: &mut Exchange,
) -> Result<Result<Vec<DecodedPart>, String>, String> {
    // The answer's Content-Length, when it has one: sizes the part buffers once.
    let body_len = hyper::body::Body::size_hint(body).exact();
    let mut head = Vec::new();
    let mut decoder: Option<MultipartDecoder> = None;
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the answer: {e}"))?;
        let Ok(data) = frame.into_data() else { continue };
        ex.received_bytes += data.len() as u64;
        if failure.is_some() {
            continue;
        }
        let d = match decoder.as_mut() {
            Some(d) => d,
            None => {
                head.extend_from_slice(&data);
                if head.len() < 1024 {
                    continue;
                }
                match pick_decoder(boundary, &head, body_len) {
                    Ok((d, note)) => {
                        ex.notes.extend(note);
                        let d = decoder.insert(d);
                        if let Err(e) = d.feed(&std::mem::take(&mut head)) {
                            failure = Some(e.to_string());
                        }
                    }
                    Err(e) => failure = Some(e),
                }
                continue;
            }
        };
        if let Err(e) = d.feed(&data) {
            failure = Some(e.to_string());
        }
    }
    if decoder.is_none() && failure.is_none() {
        match pick_decoder(boundary, &head, body_len) {
            Ok((mut d, note)) => {
                ex.notes.extend(note);
                if let Err(e) = d.feed(&head) {
                    failure = Some(e.to_string());
                }
                decoder = Some(d);
            }
            Err(e) => failure = Some(e),
        }
    }
    Ok(match (failure, decoder) {
        (Some(e), _) => Err(e),
        (None, Some(d)) => d.finish().map(|(p, _)| p).map_err(|e| e.to_string()),
        (None, None) => Err("empty body".into()),
    })
}

/// Longest wait before another try, whatever `Retry-After` asks: a client should not hang
/// for an hour on one header.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// The wait when a 503 has no `Retry-After` in seconds (none, or an HTTP date).
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(5);

/// How long to wait before trying `ex` again: `Some` for a 503 (the service is busy or
/// starting, the request itself was fine), from its `Retry-After` seconds, capped at
/// [`MAX_RETRY_WAIT`]; `None` for any other answer.
pub fn retry_wait(ex: &Exchange) -> Option<Duration> {
    if ex.status != 503 {
        return None;
    }
    let asked = ex.retry_after.as_deref().and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
    Some(asked.unwrap_or(DEFAULT_RETRY_WAIT).min(MAX_RETRY_WAIT))
}

fn pick_decoder(
    boundary: &str,
    head: &[u8],
    body_len: Option<u64>,
) -> Result<(MultipartDecoder, Option<String>), String> {
    let has = |b: &str| memchr_find(head, format!("--{b}").as_bytes());
    let mut chosen = (boundary, None);
    if let Some(bare) = python_bytes_boundary(boundary) {
        let note = format!("the server wrote its boundary in Python bytes notation ({boundary}), as the reference did");
        chosen = (if !has(boundary) && has(bare) { bare } else { boundary }, Some(note));
    }
    // An answer may legally hold a part per output (a capture per slice of a large study):
    // no limit on the count of parts, only a generous one on each part's headers.
    let limits = DecoderLimits { max_parts: usize::MAX, max_header_bytes: 1 << 20 };
    let mut d = MultipartDecoder::new(chosen.0).map_err(|e| e.to_string())?.with_limits(limits);
    if let Some(len) = body_len {
        d = d.with_body_len(len);
    }
    Ok((d, chosen.1))
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len().max(1)).any(|w| w == needle)
}

fn quote(name: &str) -> String {
    name.replace(['"', '\r', '\n'], "_")
}

/// "cannot reach" only when no connection was made; otherwise what broke, and when.
fn describe_transport(url: &str, e: &hyper_util::client::legacy::Error) -> TransportError {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(&format!(": {s}"));
        src = s.source();
    }
    let url = url.to_owned();
    if e.is_connect() {
        TransportError::Unreachable { url, detail }
    } else {
        TransportError::Broken { url, detail }
    }
}
