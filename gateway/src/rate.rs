//! [`BodyRate`]: the slowest request body the gateway accepts. Below both the extractor that
//! enforces it and the error that reports it.

use std::time::Duration;

/// The minimum body rate: after `grace`, a body must have averaged at least
/// `min_bytes_per_sec` since its first byte was awaited, or the request gets 408 and the
/// connection is closed (a client trickling bytes cannot hold memory and a connection
/// forever). Time spent waiting for memory budget does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRate {
    /// Bytes per second the body must average (0: no minimum).
    pub min_bytes_per_sec: u64,
    /// Time before the rate is enforced (also the longest a body may stall at its start).
    pub grace: Duration,
}

impl Default for BodyRate {
    /// 16 KiB/s after 10 s: a 150 MB study must arrive within about 2.5 hours, a stalled or
    /// 1 KB/s upload is cut after 10 s.
    fn default() -> Self {
        Self { min_bytes_per_sec: 16 << 10, grace: Duration::from_secs(10) }
    }
}

impl BodyRate {
    /// When the body must have reached `received` bytes, counting from `start`.
    pub(crate) fn deadline(&self, start: tokio::time::Instant, received: u64) -> Option<tokio::time::Instant> {
        if self.min_bytes_per_sec == 0 {
            return None;
        }
        let secs = received as f64 / self.min_bytes_per_sec as f64;
        Some(start + self.grace + Duration::from_secs_f64(secs.min(1e9)))
    }
}
