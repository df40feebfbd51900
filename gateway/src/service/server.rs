//! The [`Gateway`] builder and the running [`Server`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Semaphore;
use tracing::{debug, error, field::Empty, info, warn, Instrument, Span};

use super::handler::{BoxFuture, Handler, HandlerResult, InferenceInput, RequestPart};
use super::looks_like_dicom;
use super::study_path::{self, StudyPathError};
use crate::multipart::{
    boundary_from_content_type, hex, ContentTypeError, DecodedPart, DecoderLimits, MultipartBody, MultipartDecoder,
    MultipartError, OutgoingPart, PartHeaders,
};
use crate::protocol::{InferenceRequest, InferenceResponse};

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
}

type ReadinessFn = Arc<dyn Fn() -> Readiness + Send + Sync>;

#[derive(Clone)]
struct Config {
    body_limit: u64,
    json_limit: u64,
    max_concurrent: usize,
    study_root: Option<PathBuf>,
    handler_timeout: Option<Duration>,
    decoder_limits: DecoderLimits,
    header_read_timeout: Duration,
    max_header_bytes: usize,
    shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            body_limit: 4 << 30,
            json_limit: 1 << 20,
            max_concurrent: 1,
            study_root: None,
            handler_timeout: None,
            decoder_limits: DecoderLimits::default(),
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            shutdown_grace: Duration::from_secs(300),
        }
    }
}

/// An inference service under construction: routes with their handlers, readiness and
/// limits. [`Gateway::bind`] makes it a [`Server`].
///
/// Every route answers `POST` with the protocol's multipart/related request (or, with a
/// [`study_root`](Gateway::study_root), the `application/json` `studyPath` variant);
/// `/healthcheck` and `/ping` answer `GET` and `POST`.
///
/// ```no_run
/// use arterys_gateway::{Gateway, InferenceResponse, Readiness};
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// Gateway::new()
///     .route("/", |_input| Ok(InferenceResponse::new()))
///     .readiness(|| Readiness::Ready)
///     .max_concurrent_inferences(1) // one at a time: a single GPU
///     .serve("0.0.0.0:8000")
///     .await
/// # }
/// ```
pub struct Gateway {
    routes: HashMap<String, Handler>,
    readiness: ReadinessFn,
    cfg: Config,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Gateway {
    /// A gateway with no routes, always ready, one inference at a time, a 4 GiB body limit.
    pub fn new() -> Self {
        Self { routes: HashMap::new(), readiness: Arc::new(|| Readiness::Ready), cfg: Config::default() }
    }

    /// Registers a blocking handler on `path` (it runs on tokio's blocking pool, never on
    /// the async threads).
    pub fn route<F>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(InferenceInput) -> HandlerResult + Send + Sync + 'static,
    {
        self.routes.insert(normalize(path), Handler::Blocking(Arc::new(handler)));
        self
    }

    /// Registers an async handler on `path`.
    pub fn async_route<F, Fut>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(InferenceInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let h = move |input| -> BoxFuture { Box::pin(handler(input)) };
        self.routes.insert(normalize(path), Handler::Async(Arc::new(h)));
        self
    }

    /// What `/healthcheck` reports; called on every health check.
    pub fn readiness<F: Fn() -> Readiness + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.readiness = Arc::new(f);
        self
    }

    /// Largest request body accepted; larger gets 413 (default 4 GiB).
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.cfg.body_limit = bytes;
        self
    }

    /// How many handler calls may run at once; later requests wait (default 1).
    pub fn max_concurrent_inferences(mut self, n: usize) -> Self {
        self.cfg.max_concurrent = n.max(1);
        self
    }

    /// Enables `studyPath` requests, reading studies only from below `dir`.
    pub fn study_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cfg.study_root = Some(dir.into());
        self
    }

    /// A handler running longer gets the request a 504 (default: no deadline).
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.handler_timeout = Some(timeout);
        self
    }

    /// Limits on parts and part headers.
    pub fn decoder_limits(mut self, limits: DecoderLimits) -> Self {
        self.cfg.decoder_limits = limits;
        self
    }

    /// Time a client has to send its request headers (default 30 s). The same clock closes
    /// idle keep-alive connections: a connection waiting this long for its next request is
    /// closed, so slow or silent clients cannot hold connections.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.header_read_timeout = timeout;
        self
    }

    /// Largest request head (request line and headers) in bytes; larger gets 431 (default
    /// 32 KiB).
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.cfg.max_header_bytes = bytes.max(1024);
        self
    }

    /// On shutdown, how long in-flight requests may still take (default 300 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.cfg.shutdown_grace = grace;
        self
    }

    /// Binds the listening socket (port 0 picks a free one).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        let mut cfg = self.cfg;
        if let Some(root) = &cfg.study_root {
            cfg.study_root = Some(
                root.canonicalize()
                    .map_err(|e| std::io::Error::new(e.kind(), format!("study root {}: {e}", root.display())))?,
            );
        }
        let listener = TcpListener::bind(addr).await?;
        let shared = Shared {
            permits: Arc::new(Semaphore::new(cfg.max_concurrent)),
            routes: self.routes,
            readiness: self.readiness,
            cfg,
        };
        Ok(Server { listener, shared: Arc::new(shared) })
    }

    /// Binds `addr` and serves until SIGTERM or Ctrl-C, then finishes in-flight requests.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> std::io::Result<()> {
        self.bind(addr).await?.run().await
    }
}

fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

struct Shared {
    routes: HashMap<String, Handler>,
    readiness: ReadinessFn,
    cfg: Config,
    permits: Arc<Semaphore>,
}

/// A bound gateway, ready to run.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes; then stops accepting, lets in-flight requests
    /// finish (up to the shutdown grace) and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let graceful = GracefulShutdown::new();
        let addr = self.local_addr();
        info!("listening on http://{addr}");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, _peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: wait, do not spin.
                            warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&self.shared);
                    let svc = service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(handle(shared, req).await) }
                    });
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(self.shared.cfg.header_read_timeout)
                        .max_header_size(self.shared.cfg.max_header_bytes)
                        .serve_connection(TokioIo::new(stream), svc);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            debug!("connection ended: {e}");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(self.listener);
        info!("shutting down: no new connections, finishing {} open ones", graceful.count());
        tokio::select! {
            () = graceful.shutdown() => info!("shutdown complete"),
            () = tokio::time::sleep(self.shared.cfg.shutdown_grace) => warn!("shutdown grace over, closing open connections"),
        }
        Ok(())
    }
}

/// SIGTERM (what `docker stop` sends) or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

type ResponseBody = Either<Full<Bytes>, MultipartBody>;

/// A refused or failed request: status and a one-line reason.
struct Reject {
    status: StatusCode,
    reason: String,
}

fn reject(status: u16, reason: impl Into<String>) -> Reject {
    Reject { status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), reason: reason.into() }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut r = Response::new(Either::Left(Full::new(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let span = tracing::info_span!("request", input_hash = Empty, output_hash = Empty);
    route(shared, req).instrument(span).await
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let get_or_post = method == Method::GET || method == Method::POST;
    let result = match path.as_str() {
        "/healthcheck" | "/ping" if !get_or_post => {
            Err(reject(405, format!("{method} not allowed on {path}: use GET or POST")))
        }
        "/healthcheck" => return text(StatusCode::OK, (shared.readiness)().text().to_owned()),
        "/ping" => return text(StatusCode::OK, "pong: up and accepting connections"),
        _ => match shared.routes.get(&path) {
            None => Err(reject(404, format!("no inference route at {path}"))),
            Some(_) if method != Method::POST => Err(reject(405, format!("{method} not allowed on {path}: use POST"))),
            Some(h) => infer(&shared, h.clone(), path.clone(), req).await,
        },
    };
    result.unwrap_or_else(|r| {
        if r.status.is_server_error() {
            error!("{} {}", r.status.as_u16(), r.reason);
        } else {
            warn!("{} {}", r.status.as_u16(), r.reason);
        }
        let mut resp = text(r.status, format!("{}\n", r.reason));
        if r.status == StatusCode::METHOD_NOT_ALLOWED {
            let allow = if path == "/healthcheck" || path == "/ping" { "GET, POST" } else { "POST" };
            resp.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        resp
    })
}

/// The inference pipeline: read, run the handler, validate, stream the answer.
async fn infer(
    shared: &Shared,
    handler: Handler,
    route: String,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Reject> {
    let started = Instant::now();
    let (input, boundary) = read_request(shared, route, req).await?;
    let span = Span::current();
    span.record("input_hash", input.input_hash.as_str());
    let received: usize = input.dicom.iter().chain(&input.attachments).map(|p| p.body.len()).sum();
    info!(
        "start processing: {} DICOM instances, {} attachments, {} bytes on {}",
        input.dicom.len(),
        input.attachments.len(),
        received + input.json.len(),
        input.route
    );
    let input_hash = input.input_hash.clone();
    let response = run_handler(shared, handler, input).await?;
    let response = validate(response).await?;
    let handled = started.elapsed();

    let (json, buffers) = response.into_parts();
    let json_bytes =
        serde_json::to_vec(&json).map_err(|e| reject(500, format!("cannot serialize the response JSON: {e}")))?;
    let mut parts = Vec::with_capacity(buffers.len() + 1);
    parts.push(OutgoingPart::new("application/json", json_bytes));
    let sent: usize = buffers.iter().map(Bytes::len).sum();
    for (p, b) in json.parts.iter().zip(buffers) {
        parts.push(OutgoingPart::new(p.binary_type.mime_type(), b));
    }
    info!("handler done in {} ms: {} parts, {} buffer bytes", handled.as_millis(), json.parts.len(), sent);
    let done_span = span.clone();
    let body = MultipartBody::new(boundary.clone(), parts).with_hashes(input_hash).on_complete(move |output_hash| {
        done_span.record("output_hash", output_hash);
        done_span.in_scope(|| info!("response sent in {} ms", started.elapsed().as_millis()));
    });
    let mut resp = Response::new(Either::Right(body));
    let ct = format!("multipart/related; boundary={}", quote_boundary(&boundary));
    let ct = header::HeaderValue::from_str(&ct).map_err(|_| reject(500, "boundary cannot be echoed in a header"))?;
    resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    Ok(resp)
}

/// A boundary as a Content-Type parameter: quoted unless it is a plain token.
fn quote_boundary(b: &str) -> String {
    let token = b.bytes().all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
    if token {
        b.to_owned()
    } else {
        format!("\"{}\"", b.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

async fn read_request(
    shared: &Shared,
    route: String,
    req: Request<Incoming>,
) -> Result<(InferenceInput, String), Reject> {
    let limit = shared.cfg.body_limit;
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
        if len > limit {
            return Err(reject(413, format!("request body of {len} bytes exceeds the {limit}-byte limit")));
        }
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().map(str::to_owned).map_err(|_| reject(400, "Content-Type is not ASCII")))
        .transpose()?
        .ok_or_else(|| reject(415, ContentTypeError::Missing.to_string()))?;
    if content_type.split(';').next().is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json")) {
        let body = read_limited(req.into_body(), shared.cfg.json_limit).await?;
        return study_path_request(shared, route, body).await;
    }
    let boundary = boundary_from_content_type(&content_type).map_err(|e| match e {
        ContentTypeError::Missing | ContentTypeError::NotMultipartRelated(_) => reject(415, e.to_string()),
        ContentTypeError::NoBoundary | ContentTypeError::BadBoundary(_) => reject(400, e.to_string()),
    })?;
    let mut decoder = MultipartDecoder::new(&boundary)
        .map_err(|e| reject(400, e.to_string()))?
        .with_limits(shared.cfg.decoder_limits);
    let mut body = req.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| reject(400, format!("request body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        received += data.len() as u64;
        if received > limit {
            return Err(reject(413, format!("request body exceeds the {limit}-byte limit")));
        }
        decoder.feed(&data).map_err(|e| match e {
            MultipartError::TooManyParts { .. } => reject(413, e.to_string()),
            _ => reject(400, e.to_string()),
        })?;
        if decoder.is_complete() {
            break;
        }
    }
    let (parts, digest) = decoder.finish().map_err(|e| reject(400, e.to_string()))?;
    let input = assemble(parts, hex(&digest), route)?;
    Ok((input, boundary))
}

async fn read_limited(body: Incoming, limit: u64) -> Result<Bytes, Reject> {
    let collected = http_body_util::Limited::new(body, limit as usize).collect().await.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            reject(413, format!("JSON request body exceeds {limit} bytes"))
        } else {
            reject(400, format!("request body could not be read: {e}"))
        }
    })?;
    Ok(collected.to_bytes())
}

fn parse_request_json(bytes: &[u8], what: &str) -> Result<InferenceRequest, Reject> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| reject(400, format!("{what} is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(reject(400, format!("{what} is not a JSON object")));
    }
    serde_json::from_value(value).map_err(|e| reject(400, format!("{what}: {e}")))
}

/// The first part is the JSON; `application/dicom` parts (or unlabelled ones that look like
/// DICOM) are the images; the rest are attachments.
fn assemble(parts: Vec<DecodedPart>, input_hash: String, route: String) -> Result<InferenceInput, Reject> {
    let mut parts = parts.into_iter();
    let first = parts.next().ok_or_else(|| reject(400, "multipart body has no parts"))?;
    let request = parse_request_json(&first.body, "first part")?;
    let (mut dicom, mut attachments) = (Vec::new(), Vec::new());
    for (i, p) in parts.enumerate() {
        let index = i + 1;
        let essence = p.headers.essence();
        let is_dicom = match essence.as_deref() {
            Some("application/dicom") => {
                if !looks_like_dicom(&p.body) {
                    return Err(reject(422, format!("part {index} is labelled application/dicom but is not DICOM")));
                }
                true
            }
            Some("application/octet-stream") => false,
            _ => looks_like_dicom(&p.body),
        };
        let part = RequestPart { index, headers: p.headers, body: p.body };
        if is_dicom {
            dicom.push(part);
        } else {
            attachments.push(part);
        }
    }
    if dicom.is_empty() {
        return Err(reject(400, "request has no DICOM images"));
    }
    Ok(InferenceInput { request, json: first.body, dicom, attachments, input_hash, route, study_dir: None })
}

/// `{"studyPath": ...}`: the images are read from below the study root. The input hash is that
/// of what the client sent, the JSON body, so that the client can check it.
async fn study_path_request(shared: &Shared, route: String, json: Bytes) -> Result<(InferenceInput, String), Reject> {
    let request = parse_request_json(&json, "request body")?;
    let requested =
        request.study_path.clone().ok_or_else(|| reject(400, "application/json request without studyPath"))?;
    let sp = |e: StudyPathError| reject(e.status(), e.to_string());
    let root = shared.cfg.study_root.clone().ok_or_else(|| sp(StudyPathError::Disabled))?;
    let limit = shared.cfg.body_limit;
    let (dir, files) = tokio::task::spawn_blocking(move || {
        let dir = study_path::resolve(&root, &requested)?;
        let files = study_path::read_study(&root, &dir, limit)?;
        Ok::<_, StudyPathError>((dir, files))
    })
    .await
    .map_err(|e| reject(500, format!("reading the study failed: {e}")))?
    .map_err(sp)?;
    let (mut dicom, mut attachments) = (Vec::new(), Vec::new());
    for (i, (name, bytes)) in files.into_iter().enumerate() {
        let headers = PartHeaders { filename: Some(name), ..PartHeaders::default() };
        let is_dicom = looks_like_dicom(&bytes);
        let part = RequestPart { index: i + 1, headers, body: Bytes::from(bytes) };
        if is_dicom {
            dicom.push(part);
        } else {
            attachments.push(part);
        }
    }
    if dicom.is_empty() {
        return Err(reject(422, "studyPath holds no DICOM files"));
    }
    let input_hash = hex(&Sha256::digest(&json));
    let boundary = format!("arterys-{}", &input_hash[..24]);
    let input = InferenceInput { request, json, dicom, attachments, input_hash, route, study_dir: Some(dir) };
    Ok((input, boundary))
}

async fn run_handler(shared: &Shared, handler: Handler, input: InferenceInput) -> Result<InferenceResponse, Reject> {
    let permit =
        Arc::clone(&shared.permits).acquire_owned().await.map_err(|_| reject(503, "service is shutting down"))?;
    let span = Span::current();
    // The permit moves into the task: a handler past its deadline still holds its slot
    // until it really ends, so the concurrency limit stays true.
    let mut task = match handler {
        Handler::Blocking(f) => tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| f(input))
        }),
        Handler::Async(f) => tokio::spawn(
            async move {
                let _permit = permit;
                f(input).await
            }
            .instrument(span),
        ),
    };
    let joined = match shared.cfg.handler_timeout {
        None => (&mut task).await,
        Some(limit) => match tokio::time::timeout(limit, &mut task).await {
            Ok(j) => j,
            Err(_) => {
                task.abort();
                return Err(reject(504, format!("handler did not finish within {} ms", limit.as_millis())));
            }
        },
    };
    match joined {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(e)) => Err(Reject {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reason: e.message().to_owned(),
        }),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            error!("handler panicked: {msg}");
            Err(reject(500, "internal server error: the handler panicked"))
        }
        Err(e) => Err(reject(500, format!("handler task failed: {e}"))),
    }
}

/// Checks the response before anything is sent; large responses are checked off the async
/// threads (a label map check reads every voxel).
async fn validate(response: InferenceResponse) -> Result<InferenceResponse, Reject> {
    let big = response.buffers().iter().map(Bytes::len).sum::<usize>() > 1 << 20;
    let (response, result) = if big {
        tokio::task::spawn_blocking(move || {
            let r = response.validate();
            (response, r)
        })
        .await
        .map_err(|e| reject(500, format!("response validation failed: {e}")))?
    } else {
        let r = response.validate();
        (response, r)
    };
    match result {
        Ok(()) => Ok(response),
        Err(e) => Err(reject(500, format!("handler returned an invalid response: {e}"))),
    }
}
