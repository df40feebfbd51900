//! Load from ApacheBench (`ab`, Debian package `apache2-utils`): the client the transport figures
//! came from. Its defaults are those of most clients: Nagle on, a new connection per request
//! (HTTP/1.0) unless `-k`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use crate::fail;
use crate::server::pinned;

/// What one `ab` run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct AbResult {
    pub requests_per_s: f64,
    /// Mean time per request as one client sees it, in ms.
    pub mean_ms: f64,
    /// Percentiles (whole ms, as `ab` prints them).
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub complete: u64,
    /// Failed requests plus non-2xx answers.
    pub errors: u64,
}

/// A load to run.
pub struct Load<'a> {
    pub addr: SocketAddr,
    /// The request path (e.g. `/`).
    pub path: &'a str,
    pub body: &'a Path,
    pub content_type: &'a str,
    pub concurrency: usize,
    pub seconds: u64,
    pub keep_alive: bool,
    /// `ab` processes side by side (one `ab` is single-threaded), sharing the concurrency.
    pub processes: usize,
    /// CPUs to pin them to (`taskset` list).
    pub cpus: Option<&'a str>,
}

/// Fails with a clear message when `ab` is missing.
pub fn check() {
    if Command::new("ab").arg("-V").output().is_err() {
        fail("`ab` (ApacheBench) is needed: apt-get install apache2-utils");
    }
}

fn field(out: &str, name: &str) -> Option<f64> {
    out.lines().find(|l| l.trim_start().starts_with(name))?.split(':').nth(1)?.split_whitespace().next()?.parse().ok()
}

fn percentile(out: &str, pct: &str) -> f64 {
    out.lines()
        .find(|l| l.trim_start().starts_with(pct))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn parse(out: &Output) -> AbResult {
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(rps) = field(&text, "Requests per second") else {
        fail(&format!("ab said: {}{}", text, String::from_utf8_lossy(&out.stderr)))
    };
    AbResult {
        requests_per_s: rps,
        mean_ms: field(&text, "Time per request").unwrap_or(f64::NAN),
        p50_ms: percentile(&text, "50%"),
        p99_ms: percentile(&text, "99%"),
        complete: field(&text, "Complete requests").unwrap_or(0.0) as u64,
        errors: (field(&text, "Failed requests").unwrap_or(0.0) + field(&text, "Non-2xx responses").unwrap_or(0.0))
            as u64,
    }
}

/// Runs the load; with several processes, rates and counts add up and the percentiles are the
/// worst process's.
pub fn run(load: &Load<'_>) -> AbResult {
    let procs = load.processes.clamp(1, load.concurrency.max(1));
    let children: Vec<_> = (0..procs)
        .map(|i| {
            let c = load.concurrency / procs + usize::from(i < load.concurrency % procs);
            let mut cmd = pinned(load.cpus, "ab");
            // `-t` resets the request count to 50,000: `-n` goes after it.
            cmd.args(["-q", "-r", "-s", "60", "-t"])
                .arg(load.seconds.to_string())
                .args(["-n", "100000000"])
                .arg("-c")
                .arg(c.to_string())
                .arg("-p")
                .arg(load.body)
                .arg("-T")
                .arg(load.content_type);
            if load.keep_alive {
                cmd.arg("-k");
            }
            cmd.arg(format!("http://{}{}", load.addr, load.path));
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap_or_else(|e| fail(&format!("ab: {e} (apt-get install apache2-utils)")))
        })
        .collect();
    let results: Vec<AbResult> = children
        .into_iter()
        .map(|c| parse(&c.wait_with_output().unwrap_or_else(|e| fail(&format!("ab: {e}")))))
        .collect();
    let mut total = AbResult::default();
    for r in &results {
        total.requests_per_s += r.requests_per_s;
        total.complete += r.complete;
        total.errors += r.errors;
        total.p50_ms = total.p50_ms.max(r.p50_ms);
        total.p99_ms = total.p99_ms.max(r.p99_ms);
        total.mean_ms = total.mean_ms.max(r.mean_ms);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    /// What `ab -q -t 3 -c 8 -p ...` printed in one of this benchmark's runs (trimmed).
    const OUTPUT: &str = "This is ApacheBench, Version 2.3 <$Revision: 1903618 $>
Server Hostname:        127.0.0.1
Document Length:        1062 bytes
Concurrency Level:      8
Time taken for tests:   3.000 seconds
Complete requests:      2608
Failed requests:        3
   (Connect: 0, Receive: 0, Length: 3, Exceptions: 0)
Non-2xx responses:      2
Total transferred:      3089632 bytes
Requests per second:    869.32 [#/sec] (mean)
Time per request:       9.203 [ms] (mean)
Time per request:       1.150 [ms] (mean, across all concurrent requests)
Transfer rate:          1005.73 [Kbytes/sec] received

Percentage of the requests served within a certain time (ms)
  50%      9
  66%     10
  99%     19
 100%     41 (longest request)
";

    #[test]
    fn reads_rates_latencies_and_errors_from_ab_output() {
        let out = Output {
            status: std::process::ExitStatus::from_raw(0),
            stdout: OUTPUT.as_bytes().to_vec(),
            stderr: Vec::new(),
        };
        let r = parse(&out);
        assert_eq!(r.requests_per_s, 869.32);
        assert_eq!(r.mean_ms, 9.203, "the per-client mean, not the one across clients");
        assert_eq!((r.p50_ms, r.p99_ms), (9.0, 19.0));
        assert_eq!((r.complete, r.errors), (2608, 5));
    }
}
