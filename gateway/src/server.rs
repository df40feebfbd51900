//! The stand-alone server: an accept loop serving the gateway's router over HTTP/1.1, with a
//! header-read deadline, a head size limit, socket settings from `tcp` and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use futures_util::future::{select, Either};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::{debug, info, warn};

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            shutdown_grace: Duration::from_secs(300),
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
        let (draining, delay) = (self.config.draining.clone(), self.config.drain_delay);
        let mut shutdown = pin!(async move {
            shutdown.await;
            draining.start();
            if !delay.is_zero() {
                info!("draining: /readyz says 503, still accepting for {} ms", delay.as_millis());
                tokio::time::sleep(delay).await;
            }
        });
        loop {
            let accepted = match select(pin!(self.listener.accept()), shutdown.as_mut()).await {
                Either::Left((accepted, _)) => accepted,
                Either::Right(((), _)) => break,
            };
            let (stream, _peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let router = self.router.clone();
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| router.clone().oneshot(req));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.config.header_read_timeout)
                .max_header_size(self.config.max_header_bytes)
                .serve_connection(TokioIo::new(crate::tcp::Connection::new(stream)), svc);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    debug!("connection ended: {e}");
                }
            });
        }
        drop(self.listener);
        info!("shutting down: no new connections, finishing {} open ones", graceful.count());
        match tokio::time::timeout(self.config.shutdown_grace, graceful.shutdown()).await {
            Ok(()) => info!("shutdown complete"),
            Err(_) => warn!("shutdown grace over, closing open connections"),
        }
        Ok(())
    }
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
