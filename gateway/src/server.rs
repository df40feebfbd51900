//! The stand-alone server: an accept loop serving the gateway's router over HTTP/1.1, with a
//! header-read deadline (which also closes idle keep-alive connections), a head size limit,
//! a response write timeout, a cap on open connections below the open-files limit,
//! socket settings from `tcp`, graceful shutdown bounded by a grace period (a second signal ends it at
//! once).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures_util::future::{select, Either};
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::connections;
use crate::probes::Draining;

/// Connection-level settings; the request-level ones are in the router.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub shutdown_grace: Duration,
    /// Accepting on after the shutdown signal, `/readyz` saying 503.
    pub drain_delay: Duration,
    /// Set on the shutdown signal; `/readyz` reads it.
    pub draining: Draining,
    /// Longest a write to a client may make no progress.
    pub write_timeout: Duration,
    /// Open connections at most; `None`: from the open-files limit.
    pub max_connections: Option<usize>,
}

/// How long in-flight requests may still take after SIGTERM by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            write_timeout: Duration::from_secs(60),
            max_connections: None,
            drain_delay: Duration::ZERO,
            draining: Draining::default(),
        }
    }
}

/// A bound gateway, ready to run.
pub struct Server {
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
}

impl Server {
    pub(crate) fn new(listener: TcpListener, router: Router, config: ServerConfig) -> Self {
        Self { listener, router, config }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until SIGTERM or Ctrl-C; a second one ends the grace period at once.
    ///
    /// When it returns, handlers that were abandoned at the end of the grace period may still
    /// run on the blocking pool: a binary should exit the process rather than wait for the
    /// runtime to finish them (`std::process::exit`).
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until_with(shutdown_signal(), shutdown_signal()).await
    }

    /// Serves until `shutdown` completes; then stops accepting, lets in-flight requests
    /// finish (up to the shutdown grace) and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        self.run_until_with(shutdown, std::future::pending()).await
    }

    async fn run_until_with(
        self,
        shutdown: impl Future<Output = ()>,
        again: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let graceful = GracefulShutdown::new();
        let addr = self.local_addr();
        let nofile = connections::raise_nofile_limit();
        let cap = self.config.max_connections.unwrap_or_else(|| connections::default_max_connections(nofile));
        let slots = Arc::new(Semaphore::new(cap));
        info!("listening on http://{addr} (at most {cap} connections)");
        let (draining, delay) = (self.config.draining.clone(), self.config.drain_delay);
        let mut shutdown = pin!(async move {
            shutdown.await;
            draining.start();
            if !delay.is_zero() {
                info!("draining: /readyz says 503, still accepting for {} ms", delay.as_millis());
                tokio::time::sleep(delay).await;
            }
        });
        let mut backoff = connections::AcceptBackoff::new();
        let mut full_logged: Option<std::time::Instant> = None;
        loop {
            // At the cap, wait for a connection to end: new clients queue in the backlog.
            let slot = match Arc::clone(&slots).try_acquire_owned() {
                Ok(s) => s,
                Err(_) => {
                    if full_logged.is_none_or(|t| t.elapsed() >= connections::LOG_INTERVAL) {
                        warn!("{cap} connections open: new ones wait until one ends");
                        full_logged = Some(std::time::Instant::now());
                    }
                    match select(pin!(Arc::clone(&slots).acquire_owned()), shutdown.as_mut()).await {
                        Either::Left((Ok(s), _)) => s,
                        _ => break,
                    }
                }
            };
            let accepted = match select(pin!(self.listener.accept()), shutdown.as_mut()).await {
                Either::Left((accepted, _)) => accepted,
                Either::Right(((), _)) => break,
            };
            let (stream, _peer) = match accepted {
                Ok(a) => {
                    backoff.succeeded();
                    a
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tokio::time::sleep(backoff.failed(&e)).await;
                    continue;
                }
            };
            // TCP_NODELAY and TCP_QUICKACK (`tcp`); a client that stops reading its answer is
            // cut after the write timeout, and the answer's memory is freed.
            let mut stream = tokio_io_timeout::TimeoutStream::new(crate::tcp::Connection::new(stream));
            stream.set_write_timeout(Some(self.config.write_timeout));
            let stream = Box::pin(stream);
            let router = self.router.clone();
            // The span of the connection's latest request, to tag a cut response's log line.
            let latest = Arc::new(std::sync::Mutex::new(tracing::Span::none()));
            let seen = Arc::clone(&latest);
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let seen = Arc::clone(&seen);
                router.clone().oneshot(req).map(move |resp| {
                    let span = resp.as_ref().ok().and_then(|r| r.extensions().get::<RequestSpan>());
                    if let (Some(span), Ok(mut s)) = (span, seen.lock()) {
                        *s = span.0.clone();
                    }
                    resp
                })
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.config.header_read_timeout)
                .max_header_size(self.config.max_header_bytes)
                .serve_connection(TokioIo::new(stream), svc);
            let conn = graceful.watch(conn);
            let write_timeout = self.config.write_timeout;
            tokio::spawn(async move {
                let _slot = slot;
                match conn.await {
                    Err(e) if write_timed_out(&e) => {
                        let span = latest.lock().map(|s| s.clone()).unwrap_or_else(|_| tracing::Span::none());
                        span.in_scope(|| {
                            warn!(
                                "response cut: the client took nothing for {} s (write timeout)",
                                write_timeout.as_secs_f32()
                            )
                        });
                    }
                    Err(e) => debug!("connection ended: {e}"),
                    Ok(()) => {}
                }
            });
        }
        drop(self.listener);
        let grace = self.config.shutdown_grace;
        info!(
            "shutting down: no new connections, finishing {} open ones within {} s",
            graceful.count(),
            grace.as_secs()
        );
        let finished = tokio::time::timeout(grace, graceful.shutdown());
        match select(pin!(finished), pin!(again)).await {
            Either::Left((Ok(()), _)) => info!("shutdown complete"),
            Either::Left((Err(_), _)) => warn!("shutdown grace over, closing open connections"),
            Either::Right(_) => warn!("second signal: closing open connections now"),
        }
        Ok(())
    }
}

/// A response's request span, in its extensions: what the connection logs about it later
/// (a cut by the write timeout) carries the request's tags.
#[derive(Clone)]
pub(crate) struct RequestSpan(pub tracing::Span);

/// Puts the current (request) span into `resp`'s extensions.
pub(crate) async fn tag_response(mut resp: axum::response::Response) -> axum::response::Response {
    resp.extensions_mut().insert(RequestSpan(tracing::Span::current()));
    resp
}

/// Whether a connection ended because a write to the client made no progress for the write
/// timeout (`tokio_io_timeout` reports it as `TimedOut`).
fn write_timed_out(e: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
            return true;
        }
        source = s.source();
    }
    false
}

/// SIGTERM (what `docker stop` sends) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                let _ = select(pin!(term.recv()), pin!(tokio::signal::ctrl_c())).await;
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
