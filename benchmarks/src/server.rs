//! The server child processes the benchmarks measure: `bench serve ...` (ours) or the Python
//! reference; each prints `LISTENING <port>`, and its memory is read from /proc.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use crate::fail;

/// A server child process.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// `cmd`, or `taskset -c CPUS cmd` when `cpus` is given (pinning the child to those CPUs; its
/// runtime sizes its worker pool from them).
pub fn pinned(cpus: Option<&str>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match cpus {
        Some(list) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(list).arg(program);
            c
        }
        None => Command::new(program),
    }
}

impl Server {
    /// Starts `bench serve ARGS` and waits for its port.
    pub fn start(args: &[&str]) -> Self {
        Self::start_on(None, args)
    }

    /// [`Server::start`] pinned to `cpus` (a `taskset` list such as `0-3`).
    pub fn start_on(cpus: Option<&str>, args: &[&str]) -> Self {
        let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("current exe: {e}")));
        let mut cmd = pinned(cpus, exe);
        cmd.arg("serve").args(args);
        Self::spawn(cmd)
    }

    /// Starts `cmd` and waits for it to print `LISTENING <port>`.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child =
            cmd.stdout(Stdio::piped()).spawn().unwrap_or_else(|e| fail(&format!("starting the server {cmd:?}: {e}")));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let Some(port) = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse::<u16>().ok()) else {
            let _ = child.kill();
            fail(&format!("server {cmd:?} said {line:?}"))
        };
        Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Resets the child's peak RSS (Linux `clear_refs` 5).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// Peak resident memory in bytes.
    pub fn peak_rss(&self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
