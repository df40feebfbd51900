//! Connection-level limits of the stand-alone server: the open-files limit, a cap on open
//! connections below it, and an `accept` that backs off on errors and logs once per interval.

use std::time::{Duration, Instant};

use tracing::{info, warn};

/// File descriptors kept free for everything else (logs, model files, `studyPath` reads).
const FD_RESERVE: u64 = 64;
/// Most connections by default, however high the open-files limit.
const MAX_CONNECTIONS: u64 = 16_384;
/// Longest pause after repeated `accept` errors.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// At most one log line per this interval about `accept` errors or the connection cap.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Raises the soft `nofile` limit to the hard one (where the platform has one) and returns
/// the soft limit then in force.
pub(crate) fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let mut lim = getrlimit(Resource::Nofile);
        if lim.current < lim.maximum {
            let before = lim.current;
            lim.current = lim.maximum;
            match setrlimit(Resource::Nofile, lim) {
                Ok(()) => info!("open-files limit raised from {} to {}", fmt(before), fmt(lim.maximum)),
                Err(e) => warn!("open-files limit stays {}: cannot raise it: {e}", fmt(before)),
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn fmt(n: Option<u64>) -> String {
    n.map_or_else(|| "unlimited".into(), |n| n.to_string())
}

/// The default cap on open connections: the open-files limit less an eighth and a reserve.
pub(crate) fn default_max_connections(nofile: Option<u64>) -> usize {
    let cap = nofile.map_or(MAX_CONNECTIONS, |n| n.saturating_sub(n / 8).saturating_sub(FD_RESERVE));
    usize::try_from(cap.clamp(1, MAX_CONNECTIONS)).unwrap_or(1)
}

/// Pauses after `accept` errors (doubling up to a second) and logs them once per interval
/// with how many there were, not once per try.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    delay: Duration,
    failures: u64,
    logged: Option<Instant>,
}

impl AcceptBackoff {
    pub(crate) fn new() -> Self {
        Self { delay: Duration::ZERO, failures: 0, logged: None }
    }

    /// An `accept` failed: how long to wait before the next.
    pub(crate) fn failed(&mut self, e: &std::io::Error) -> Duration {
        self.failures += 1;
        if self.logged.is_none_or(|t| t.elapsed() >= LOG_INTERVAL) {
            warn!(
                "accept failed ({} time(s) since the last report): {e}; backing off up to {} ms",
                self.failures,
                MAX_BACKOFF.as_millis()
            );
            self.logged = Some(Instant::now());
            self.failures = 0;
        }
        self.delay = (self.delay * 2).clamp(Duration::from_millis(5), MAX_BACKOFF);
        self.delay
    }

    /// An `accept` succeeded.
    pub(crate) fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_files_limit() {
        assert_eq!(default_max_connections(Some(1024)), 832);
        assert_eq!(default_max_connections(Some(1 << 20)), 16_384);
        assert_eq!(default_max_connections(Some(10)), 1);
    }

    #[test]
    fn accept_errors_back_off_to_a_second() {
        let mut b = AcceptBackoff::new();
        let e = std::io::Error::other("too many open files");
        let delays: Vec<_> = (0..12).map(|_| b.failed(&e)).collect();
        assert_eq!(delays[0], Duration::from_millis(5));
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(delays[11], MAX_BACKOFF);
        b.succeeded();
        assert_eq!(b.failed(&e), Duration::from_millis(5));
    }
}
