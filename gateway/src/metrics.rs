//! Prometheus metrics, served on `GET /metrics` in the OpenMetrics text format
//! (`prometheus-client`), which Prometheus scrapes as is.
//!
//! One set of metrics per [`Gateway`](crate::Gateway) ([`Gateway::metrics`](crate::Gateway::metrics)),
//! served by its own `/metrics`: two gateways in one process count apart. Code that reports
//! from elsewhere ([`rejected`], [`model_batch`]: a limit, a handler, a model) adds to the
//! gateway of the request it runs for: the gateway makes its metrics current while it
//! serves a request, on the request's task and on the thread of a blocking handler
//! ([`current`], [`Metrics::scope`] to carry them to another thread). Outside a request they
//! record nothing; call the gateway's [`Metrics`] itself there.
//!
//! | Name | Type | Labels | What |
//! |---|---|---|---|
//! | `arterys_http_requests_total` | counter | `route`, `method`, `status` | Answered requests. `route` is the registered path (`unmatched` for unknown paths), never the raw URI. |
//! | `arterys_http_request_duration_seconds` | histogram | `route` | From the request's arrival to the last byte of its response. |
//! | `arterys_http_request_bytes_total` | counter | `route` | Request body bytes read. |
//! | `arterys_http_response_bytes_total` | counter | `route` | Response body bytes sent. |
//! | `arterys_http_requests_in_flight` | gauge | | Requests whose response is not yet complete. |
//! | `arterys_inference_permits` | gauge | | Handler calls that may run at once (`max_concurrent_inferences`). |
//! | `arterys_inference_permits_in_use` | gauge | | Handler calls running now. |
//! | `arterys_inference_queued` | gauge | | Requests waiting for a permit. |
//! | `arterys_inference_queue_wait_seconds` | histogram | `route` | Time a request waited for its permit. |
//! | `arterys_handler_duration_seconds` | histogram | `route` | Time a handler held its permit (its run time, also past a timeout). |
//! | `arterys_requests_rejected_total` | counter | `reason` | Requests refused by the gateway ([`rejected`]). |
//! | `arterys_model_inference_duration_seconds` | histogram | `model` | One engine run of one batch ([`model_batch`]). |
//! | `arterys_model_batches_total` | counter | `model` | Engine runs. |
//! | `arterys_model_images_total` | counter | `model` | Images in those runs (padding excluded). |
//!
//! Recording takes no global lock: counters are atomics, and a labelled family takes a
//! shared read lock to find an existing label set (a write lock only the first time one is
//! seen).
//!
//! ```
//! use arterys_gateway::{metrics, Gateway};
//! let gw = Gateway::new();
//! let m = gw.metrics();
//! m.scope(|| metrics::rejected("budget"));
//! assert!(m.encode().contains("arterys_requests_rejected_total{reason=\"budget\"} 1"));
//! metrics::rejected("budget"); // outside a request: no gateway's
//! assert!(m.encode().contains("arterys_requests_rejected_total{reason=\"budget\"} 1"));
//! ```

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// The `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to about 9 min: a ping to a large CT study on a CPU.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

/// A gateway's metrics: what its `/metrics` serves.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Histograms<RouteLabel>,
    request_bytes: Family<RouteLabel, Counter>,
    response_bytes: Family<RouteLabel, Counter>,
    in_flight: Gauge,
    permits: Gauge,
    permits_in_use: Gauge,
    queued: Gauge,
    queue_wait: Histograms<RouteLabel>,
    handler_duration: Histograms<RouteLabel>,
    rejected: Family<ReasonLabel, Counter>,
    model_inference: Histograms<ModelLabel>,
    model_batches: Family<ModelLabel, Counter>,
    model_images: Family<ModelLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A new set, every metric at zero.
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("arterys"),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            in_flight: Gauge::default(),
            permits: Gauge::default(),
            permits_in_use: Gauge::default(),
            queued: Gauge::default(),
            queue_wait: Family::new_with_constructor(latency),
            handler_duration: Family::new_with_constructor(latency),
            rejected: Family::default(),
            model_inference: Family::new_with_constructor(latency),
            model_batches: Family::default(),
            model_images: Family::default(),
        };
        let r = &mut m.registry;
        r.register("http_requests", "Answered HTTP requests", m.requests.clone());
        r.register_with_unit(
            "http_request_duration",
            "From a request's arrival to the last byte of its response",
            Unit::Seconds,
            m.request_duration.clone(),
        );
        r.register_with_unit("http_request", "Request body bytes read", Unit::Bytes, m.request_bytes.clone());
        r.register_with_unit("http_response", "Response body bytes sent", Unit::Bytes, m.response_bytes.clone());
        r.register("http_requests_in_flight", "Requests whose response is not complete", m.in_flight.clone());
        r.register("inference_permits", "Handler calls that may run at once", m.permits.clone());
        r.register("inference_permits_in_use", "Handler calls running now", m.permits_in_use.clone());
        r.register("inference_queued", "Requests waiting for an inference permit", m.queued.clone());
        r.register_with_unit(
            "inference_queue_wait",
            "Time a request waited for its inference permit",
            Unit::Seconds,
            m.queue_wait.clone(),
        );
        r.register_with_unit(
            "handler_duration",
            "Time a handler held its inference permit",
            Unit::Seconds,
            m.handler_duration.clone(),
        );
        r.register("requests_rejected", "Requests refused by the gateway, by reason", m.rejected.clone());
        r.register_with_unit(
            "model_inference_duration",
            "One engine run of one batch",
            Unit::Seconds,
            m.model_inference.clone(),
        );
        r.register("model_batches", "Engine runs (batches)", m.model_batches.clone());
        r.register("model_images", "Images in the engine runs, padding excluded", m.model_images.clone());
        m
    }

    /// Every metric in the OpenMetrics text format (what `/metrics` answers).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a request refused, by `reason` (see [`rejected`]).
    pub fn rejected(&self, reason: &str) {
        self.rejected.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }

    /// Records one engine run of `model` on a batch of `images` images that took `elapsed`.
    pub fn model_batch(&self, model: &str, images: usize, elapsed: Duration) {
        let label = ModelLabel { model: model.to_owned() };
        self.model_inference.get_or_create(&label).observe(elapsed.as_secs_f64());
        self.model_batches.get_or_create(&label).inc();
        self.model_images.get_or_create(&label).inc_by(images as u64);
    }

    /// Runs `f` with these metrics current on this thread (for work a request hands to
    /// another thread: take [`current`] there first).
    pub fn scope<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        let before = THREAD.with(|t| t.replace(Some(Arc::clone(self))));
        // Put back even if `f` panics, so a pooled thread does not keep a stale gateway.
        struct Restore(Option<Arc<Metrics>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let before = self.0.take();
                THREAD.with(|t| *t.borrow_mut() = before);
            }
        }
        let _restore = Restore(before);
        f()
    }

    /// Sets `arterys_inference_permits`.
    pub(crate) fn set_permits(&self, n: usize) {
        self.permits.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

tokio::task_local! {
    /// The metrics of the request a task serves.
    static TASK: Arc<Metrics>;
}

thread_local! {
    /// The metrics of the request a thread works for (a blocking handler's).
    static THREAD: RefCell<Option<Arc<Metrics>>> = const { RefCell::new(None) };
}

/// The metrics of the gateway whose request the caller serves; `None` outside a request.
pub fn current() -> Option<Arc<Metrics>> {
    TASK.try_with(Arc::clone).ok().or_else(|| THREAD.with(|t| t.borrow().clone()))
}

/// `fut` with `metrics` current while it runs (a task spawned for a request).
pub(crate) async fn carried<F: Future>(metrics: Option<Arc<Metrics>>, fut: F) -> F::Output {
    match metrics {
        Some(m) => TASK.scope(m, fut).await,
        None => fut.await,
    }
}

/// Counts a request the gateway refused, by `reason` (a short snake_case word: the gateway
/// uses `not_found`, `method_not_allowed`, `unsupported_media_type`, `bad_request`,
/// `unprocessable`, `too_large`, `forbidden`, `timeout`, `unavailable`, `shutting_down`),
/// in the [`current`] gateway's metrics. Keep the set of reasons small and fixed: each is a
/// time series.
pub fn rejected(reason: &str) {
    if let Some(m) = current() {
        m.rejected(reason);
    }
}

/// Records one engine run of `model` on a batch of `images` images that took `elapsed`, in
/// the [`current`] gateway's metrics.
pub fn model_batch(model: &str, images: usize, elapsed: Duration) {
    if let Some(m) = current() {
        m.model_batch(model, images, elapsed);
    }
}

/// An inference permit that keeps the permit gauges and histograms: acquiring it records the
/// queue wait; dropping it (when the handler really ends) records the handler's run time.
pub(crate) struct InferencePermit {
    metrics: Option<Arc<Metrics>>,
    _permit: OwnedSemaphorePermit,
    route: String,
    acquired: Instant,
}

impl InferencePermit {
    /// Waits for a permit of `permits` for a request on `route`.
    pub(crate) async fn acquire(permits: Arc<Semaphore>, route: &str) -> Result<Self, AcquireError> {
        let metrics = current();
        let started = Instant::now();
        if let Some(m) = &metrics {
            m.queued.inc();
        }
        let permit = permits.acquire_owned().await;
        if let Some(m) = &metrics {
            m.queued.dec();
        }
        let permit = permit?;
        let route = route.to_owned();
        if let Some(m) = &metrics {
            m.queue_wait.get_or_create(&RouteLabel { route: route.clone() }).observe(started.elapsed().as_secs_f64());
            m.permits_in_use.inc();
        }
        Ok(Self { metrics, _permit: permit, route, acquired: Instant::now() })
    }
}

impl Drop for InferencePermit {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.permits_in_use.dec();
            let label = RouteLabel { route: std::mem::take(&mut self.route) };
            m.handler_duration.get_or_create(&label).observe(self.acquired.elapsed().as_secs_f64());
        }
    }
}

/// A request until its response body is done (or dropped): the in-flight gauge, the
/// duration histogram and the bytes sent.
struct InFlight {
    metrics: Arc<Metrics>,
    route: RouteLabel,
    started: Instant,
    sent: Counter,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let m = &self.metrics;
        m.in_flight.dec();
        m.request_duration.get_or_create(&self.route).observe(self.started.elapsed().as_secs_f64());
    }
}

/// A method as a label: the standard ones by name, anything else `other` (a client cannot
/// make new time series).
fn method_label(m: &http::Method) -> &'static str {
    use http::Method as M;
    match *m {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        M::PATCH => "PATCH",
        _ => "other",
    }
}

/// The middleware of every route: counts, sizes and times each request, with `m` current
/// while it is served.
pub(crate) async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = method_label(req.method());
    let label = RouteLabel { route };
    let read = m.request_bytes.get_or_create(&label).clone();
    let req = req.map(|b| Body::new(Counted { inner: b, bytes: read, _guard: () }));
    m.in_flight.inc();
    let guard = InFlight {
        metrics: Arc::clone(&m),
        route: label.clone(),
        started: Instant::now(),
        sent: m.response_bytes.get_or_create(&label).clone(),
    };
    let resp = TASK.scope(Arc::clone(&m), next.run(req)).await;
    let status = resp.status().as_u16();
    m.requests.get_or_create(&RequestLabels { route: label.route, method: method.to_owned(), status }).inc();
    resp.map(|b| {
        let bytes = guard.sent.clone();
        Body::new(Counted { inner: b, bytes, _guard: guard })
    })
}

/// A body that counts its data bytes into `bytes` and keeps everything else of the body it
/// wraps: above all its exact size, from which hyper writes `Content-Length` (without it an
/// HTTP/1.0 keep-alive client cannot tell where an answer ends) and a handler pre-sizes its
/// buffers. `http_body_util`'s `MapFrame` would drop the size. `_guard` lives as long as the
/// body is being sent.
struct Counted<G> {
    inner: Body,
    bytes: Counter,
    _guard: G,
}

impl<G: Unpin> http_body::Body for Counted<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(d) = frame.as_ref().and_then(|f| f.as_ref().ok()).and_then(http_body::Frame::data_ref) {
            this.bytes.inc_by(d.len() as u64);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `GET /metrics` of `m`.
pub(crate) async fn scrape(State(m): State<Arc<Metrics>>) -> Response {
    let mut resp = m.encode().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}
