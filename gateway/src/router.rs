//! [`Gateway`]: routes, readiness and limits, made into an `axum::Router`
//! ([`Gateway::into_router`]) or a stand-alone server ([`Gateway::bind`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{get, MethodRouter};
use axum::Router;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;
use tracing::field::Empty;
use tracing::info;

use crate::admission::Admission;
use crate::budget::MemoryBudget;
use crate::error::GatewayError;
use crate::extract::RequestLimits;
use crate::handler::{BoxFuture, Handler, HandlerResult};
use crate::metrics::Metrics;
use crate::multipart::DecoderLimits;
use crate::pipeline::InferenceService;
use crate::probes::{self, Readiness};
use crate::rate::BodyRate;
use crate::server::{Server, ServerConfig};
use crate::InferenceInput;

type ReadinessFn = Arc<dyn Fn() -> Readiness + Send + Sync>;
type AdmittedRoutes = Box<dyn FnOnce(Admission) -> Router + Send>;

const PROBES: [&str; 5] = ["/healthcheck", "/ping", "/livez", "/readyz", "/metrics"];

/// How long a handler may run before its request gets 504 and its work is cancelled, unless
/// [`Gateway::handler_timeout`] says otherwise: long enough for a large study on a CPU model,
/// short enough that a request whose work never ends gives its core and permit back.
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(300);

/// An inference service under construction: routes with their handlers, readiness and
/// limits.
///
/// Every route answers `POST` with the protocol's multipart/related request (or, with a
/// [`study_root`](Gateway::study_root), the `application/json` `studyPath` variant);
/// `/healthcheck`, `/ping`, `/livez` and `/readyz` answer `GET` and `POST`, `/metrics`
/// `GET` ([`crate::metrics`]). [`Gateway::into_router`] gives an
/// `axum::Router` to mount in an application; [`Gateway::serve`] runs it alone.
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
    routes: BTreeMap<String, Handler>,
    readiness: ReadinessFn,
    limits: RequestLimits,
    max_concurrent: usize,
    handler_timeout: Duration,
    server: ServerConfig,
    extra: Option<Router>,
    admitted: Vec<AdmittedRoutes>,
    working_memory: Option<crate::pipeline::WorkingMemoryFn>,
    metrics: Arc<Metrics>,
    healthcheck: HealthRoute,
    /// Inference routes served through [`Gateway::merge_admitted`], named by the 404.
    admitted_paths: Vec<String>,
}

/// What `/healthcheck` is.
enum HealthRoute {
    /// [`Gateway::readiness`]'s text.
    Readiness,
    /// A handler of the host framework's ([`Gateway::healthcheck`]).
    Handler(Box<MethodRouter>),
    /// No route: an unknown path ([`Gateway::without_healthcheck`]).
    Absent,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Gateway {
    /// A gateway with no routes, always ready, one inference at a time, a 4 GiB body limit,
    /// the process's memory budget ([`MemoryBudget::process`]).
    pub fn new() -> Self {
        Self {
            routes: BTreeMap::new(),
            readiness: Arc::new(|| Readiness::Ready),
            limits: RequestLimits::default(),
            max_concurrent: 1,
            handler_timeout: DEFAULT_HANDLER_TIMEOUT,
            server: ServerConfig::default(),
            extra: None,
            admitted: Vec::new(),
            working_memory: None,
            metrics: Arc::new(Metrics::new()),
            healthcheck: HealthRoute::Readiness,
            admitted_paths: Vec::new(),
        }
    }

    /// This gateway's metrics (what its `/metrics` serves), for code that reports outside a
    /// request ([`crate::metrics`]).
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Registers a blocking handler on `path` (it runs on tokio's blocking pool, never on
    /// the async threads).
    ///
    /// # Panics
    ///
    /// When `path` already has a handler, or is `/healthcheck` or `/ping`: a service with two
    /// meanings for one path is a programming error, found at start-up.
    pub fn route<F>(self, path: &str, handler: F) -> Self
    where
        F: Fn(InferenceInput) -> HandlerResult + Send + Sync + 'static,
    {
        self.add(path, Handler::Blocking(Arc::new(handler)))
    }

    /// Registers an async handler on `path`.
    ///
    /// # Panics
    ///
    /// As [`Gateway::route`].
    pub fn async_route<F, Fut>(self, path: &str, handler: F) -> Self
    where
        F: Fn(InferenceInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let h = move |input| -> BoxFuture { Box::pin(handler(input)) };
        self.add(path, Handler::Async(Arc::new(h)))
    }

    fn add(mut self, path: &str, handler: Handler) -> Self {
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        if PROBES.contains(&path.as_str()) {
            panic!("Gateway::route: {path} is the gateway's own probe and cannot take a handler");
        }
        if self.routes.insert(path.clone(), handler).is_some() {
            panic!("Gateway::route: {path} already has a handler (each path takes exactly one)");
        }
        self
    }

    /// What `/healthcheck` reports; called on every health check.
    pub fn readiness<F: Fn() -> Readiness + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.readiness = Arc::new(f);
        self
    }

    /// Answers `/healthcheck` (`GET` and `POST`) with `handler`, an axum handler that chooses
    /// its own status and body, instead of [`Gateway::readiness`]'s text; `/readyz` still
    /// follows the readiness callback. For a host framework whose health checks return a
    /// status of their own (the Python package's Flask-style health checks).
    pub fn healthcheck<H, T>(mut self, handler: H) -> Self
    where
        H: axum::handler::Handler<T, ()>,
        T: 'static,
    {
        self.healthcheck = HealthRoute::Handler(Box::new(probe(handler)));
        self
    }

    /// No `/healthcheck` route: the path gets the gateway's 404, as in the Python SDK, where
    /// it exists only once a health check is registered. `/livez` and `/readyz` stay.
    pub fn without_healthcheck(mut self) -> Self {
        self.healthcheck = HealthRoute::Absent;
        self
    }

    /// Largest request body accepted; larger gets 413 (default 4 GiB).
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.limits.body_limit = bytes;
        self
    }

    /// The memory budget this gateway counts against (default: the process's one,
    /// [`MemoryBudget::process`], shared with every other gateway in the process). Request
    /// bodies, `studyPath` studies and parsed JSON are read only into reserved room and
    /// response buffers are counted until sent; a request that finds no room within the
    /// budget's wait gets 503 with `Retry-After`. Give handlers a clone to count what they
    /// decode (see [`MemoryBudget`]).
    pub fn memory_budget(mut self, budget: MemoryBudget) -> Self {
        self.limits.budget = Some(budget);
        self
    }

    /// The memory budget in use (the process's unless [`Gateway::memory_budget`] set
    /// another); a clone of it counts against the same bytes.
    pub fn budget(&self) -> MemoryBudget {
        self.limits.budget.clone().unwrap_or_else(MemoryBudget::process)
    }

    /// The slowest request body accepted (default 16 KiB/s after 10 s); slower gets 408 and
    /// the connection is closed.
    pub fn min_body_rate(mut self, bytes_per_sec: u64, grace: Duration) -> Self {
        self.limits.body_rate = BodyRate { min_bytes_per_sec: bytes_per_sec, grace };
        self
    }

    /// Longest a response write may make no progress before the connection is closed
    /// (default 60 s): a client that stops reading does not pin its answer in memory.
    /// Stand-alone server only.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.server.write_timeout = timeout;
        self
    }

    /// Most connections open at once; further clients wait in the listen backlog (default:
    /// the open-files limit, raised to its hard limit at start, less an eighth and 64).
    /// Stand-alone server only.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.server.max_connections = Some(n.max(1));
        self
    }

    /// How many handler calls may run at once; later requests wait (default 1).
    pub fn max_concurrent_inferences(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// Enables `studyPath` requests, reading studies only from below `dir`.
    pub fn study_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.limits.study_root = Some(dir.into());
        self
    }

    /// A handler running longer gets the request a 504 (default
    /// [`DEFAULT_HANDLER_TIMEOUT`], 300 s). At the deadline the request's
    /// [`Cancellation`](crate::cancel::Cancellation) is set, so blocking work that checks it stops.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// Limits on parts and part headers.
    pub fn decoder_limits(mut self, limits: DecoderLimits) -> Self {
        self.limits.decoder = limits;
        self
    }

    /// Time a client has to send its request headers (default 30 s). The same clock closes
    /// idle keep-alive connections. Stand-alone server only.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.server.header_read_timeout = timeout;
        self
    }

    /// Largest request head in bytes; larger gets 431 (default 32 KiB). Stand-alone server
    /// only.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.server.max_header_bytes = bytes.max(1024);
        self
    }

    /// On shutdown, how long in-flight requests may still take (default 25 s, below the 30 s
    /// that Kubernetes and the repository's docker-compose.yml give before they kill); a
    /// second SIGTERM or Ctrl-C ends it at once. Stand-alone server only.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.server.shutdown_grace = grace;
        self
    }

    /// After the shutdown signal, how long the stand-alone server keeps accepting requests
    /// while `/readyz` answers 503, so that load balancers stop sending traffic before the
    /// listener closes (default 0: stop accepting at once). In-flight requests then get the
    /// shutdown grace.
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.server.drain_delay = delay;
        self
    }

    /// Memory a handler will need for an input beyond its body (decoded images, masks), in
    /// bytes: reserved from the memory budget with the body before the handler runs and held
    /// until it ends; a request that finds no room within the budget's wait gets 503, one
    /// larger than the whole budget 413. Without it only bodies and answers are counted.
    ///
    /// ```
    /// use arterys_gateway::{Gateway, InferenceResponse};
    /// // Each DICOM file decodes to at most 512 x 512 16-bit pixels here.
    /// let gw = Gateway::new()
    ///     .working_memory(|input| input.dicom.len() as u64 * 512 * 512 * 2)
    ///     .route("/", |_| Ok(InferenceResponse::new()));
    /// # let _ = gw;
    /// ```
    pub fn working_memory<F>(mut self, need: F) -> Self
    where
        F: Fn(&InferenceInput) -> u64 + Send + Sync + 'static,
    {
        self.working_memory = Some(Arc::new(need));
        self
    }

    /// [`Gateway::working_memory`] for handlers that decode every DICOM file they get: the
    /// decoded size of each file's pixel data, from its checked headers (a file that fails
    /// the check costs nothing here; the handler refuses it).
    ///
    /// Each file is walked and its headers read once, here: what was learned travels with the
    /// part as a [`crate::dicom::ReadOnce`] in [`RequestPart::facts`](crate::RequestPart),
    /// and is counted with the reservation while it is held. The viewer's `Study::read` and
    /// a decoder that takes [`crate::dicom::ReadOnce::whole`] then read nothing again.
    #[cfg(feature = "dicom")]
    pub fn reserve_decoded_pixels(self) -> Self {
        use crate::dicom::{limits::decoded_size, ReadOnce};
        self.working_memory(|input| {
            let need = |p: &crate::RequestPart| match ReadOnce::read(&p.body) {
                Some(once) => {
                    let bytes = once.working_bytes();
                    p.facts.set(once);
                    bytes
                }
                // Not kept (a bare dataset, or a file that fails): sized as before.
                None => decoded_size(&p.body).unwrap_or(0),
            };
            input.dicom.iter().map(need).sum()
        })
    }

    /// Serves `router`'s routes beside the protocol's, under the same tracing and metrics
    /// layers and, in the stand-alone server, the same connection limits, timeouts and
    /// graceful shutdown (another platform's API on the same port, say). The gateway's
    /// memory budget and inference permits cover only its own routes: a route that runs a
    /// model belongs in [`Gateway::merge_admitted`]. Its paths must not
    /// clash with the gateway's, and it must not have a fallback of its own (axum panics on
    /// both at start-up).
    ///
    /// ```
    /// use arterys_gateway::{Gateway, InferenceResponse};
    /// let gw = Gateway::new()
    ///     .route("/", |_| Ok(InferenceResponse::new()))
    ///     .merge(axum::Router::new().route("/info/", axum::routing::get(|| async { "{}" })));
    /// let _app: axum::Router = gw.into_router();
    /// ```
    pub fn merge(mut self, router: Router) -> Self {
        self.extra = Some(match self.extra.take() {
            Some(r) => r.merge(router),
            None => router,
        });
        self
    }

    /// Serves the routes `make` builds beside the protocol's, admitted as the protocol's are:
    /// `make` gets an [`Admission`] carrying this gateway's inference permits, memory budget,
    /// body limit, minimum body rate and handler deadline, which its handlers use to read and
    /// run each request (see [`Admission`]). For another platform's API that runs a
    /// model (MONAI Label's `/infer/{model}`, say). The paths must not clash, as with
    /// [`Gateway::merge`].
    pub fn merge_admitted<F>(mut self, make: F) -> Self
    where
        F: FnOnce(Admission) -> Router + Send + 'static,
    {
        self.admitted.push(Box::new(make));
        self
    }

    /// Names `paths` as inference routes in the 404's list of routes: for Arterys inference
    /// routes that [`Gateway::merge_admitted`] serves (a host framework's handlers), which the
    /// gateway does not see otherwise.
    pub fn admitted_inference_routes<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.admitted_paths.extend(paths.into_iter().map(Into::into));
        self
    }

    /// The gateway as an `axum::Router`: `/healthcheck`, `/ping`, the probes, `/metrics` and one
    /// [`InferenceService`] per route, under a tracing layer that opens each request's span
    /// (`input_hash`, `output_hash`). Mount it with `nest` or `merge`; unknown paths get the
    /// gateway's 404. The study root is used as given (see [`Gateway::bind`]).
    ///
    /// ```
    /// use arterys_gateway::{Gateway, InferenceResponse};
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/version", axum::routing::get(|| async { "1.0" }))
    ///     .nest("/arterys", Gateway::new().route("/", |_| Ok(InferenceResponse::new())).into_router());
    /// ```
    pub fn into_router(mut self) -> Router {
        if self.limits.budget.is_none() {
            self.limits.budget = Some(MemoryBudget::process());
        }
        let limits = Arc::new(self.limits);
        let permits = Arc::new(Semaphore::new(self.max_concurrent));
        let metrics = self.metrics;
        metrics.set_permits(self.max_concurrent);
        let readiness = self.readiness;
        let health = {
            let readiness = Arc::clone(&readiness);
            move || {
                let readiness = Arc::clone(&readiness);
                async move { readiness().text().to_owned() }
            }
        };
        let draining = self.server.draining.clone();
        let ready = move || {
            let (readiness, draining) = (Arc::clone(&readiness), draining.clone());
            async move { probes::readyz(readiness(), &draining) }
        };
        let mut router = match self.healthcheck {
            HealthRoute::Readiness => Router::new().route("/healthcheck", probe(health)),
            HealthRoute::Handler(handler) => Router::new().route("/healthcheck", *handler),
            HealthRoute::Absent => Router::new(),
        };
        router = router
            .route("/ping", probe(|| async { "pong: up and accepting connections" }))
            .route("/livez", probe(probes::livez))
            .route("/readyz", probe(ready))
            .route("/metrics", get(crate::metrics::scrape).with_state(Arc::clone(&metrics)));
        let mut inference_routes: Vec<String> = self.routes.keys().cloned().chain(self.admitted_paths).collect();
        inference_routes.sort();
        inference_routes.dedup();
        let inference_routes: Arc<[String]> = inference_routes.into();
        for (path, handler) in self.routes {
            let svc = InferenceService::new(
                handler,
                Arc::clone(&limits),
                Arc::clone(&permits),
                self.handler_timeout,
                self.working_memory.clone(),
            );
            router = router.route_service(&path, svc);
        }
        for make in self.admitted {
            router =
                router.merge(make(Admission::new(Arc::clone(&limits), Arc::clone(&permits), self.handler_timeout)));
        }
        if let Some(extra) = self.extra {
            router = router.merge(extra);
        }
        router
            .fallback(move |req: Request| async move {
                let path = req.uri().path().to_owned();
                let (head, body) = req.into_parts();
                crate::linger::drain_after_answer(&head.headers, body);
                GatewayError::NotFound(path, inference_routes)
            })
            // Inside the request's span: the connection tags its later lines with it.
            .layer(axum::middleware::map_response(crate::server::tag_response))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|_: &Request| {
                        tracing::info_span!("request", input_hash = Empty, output_hash = Empty)
                    })
                    .on_request(())
                    .on_response(())
                    .on_failure(()),
            )
            .layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::track))
    }

    /// Binds the listening socket (port 0 picks a free one); the study root must exist.
    pub async fn bind(mut self, addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        if let Some(root) = &self.limits.study_root {
            let canonical = root
                .canonicalize()
                .map_err(|e| std::io::Error::new(e.kind(), format!("study root {}: {e}", root.display())))?;
            self.limits.study_root = Some(canonical);
        }
        let listener = TcpListener::bind(addr).await?;
        info!("memory budget {} MiB", self.budget().total() >> 20);
        let config = self.server.clone();
        Ok(Server::new(listener, self.into_router(), config))
    }

    /// Binds `addr` and serves until SIGTERM or Ctrl-C, then finishes in-flight requests.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> std::io::Result<()> {
        self.bind(addr).await?.run().await
    }
}

/// `GET` and `POST` answer; other methods get 405 with the reason.
fn probe<H, T>(handler: H) -> MethodRouter
where
    H: axum::handler::Handler<T, ()>,
    T: 'static,
{
    get(handler.clone()).post(handler).fallback(|req: Request| async move {
        let path = req.uri().path().to_owned();
        GatewayError::MethodNotAllowed { method: req.method().clone(), path, allow: "GET, POST" }.into_response()
    })
}
