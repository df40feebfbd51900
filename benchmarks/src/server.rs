//! The server child processes the benchmarks measure: the real `mock-server` binary (built
//! here, so its allocator, logging and limits are the ones a user gets), `bench serve ...`
//! (ours, in-process variants) or the Python reference; their memory is read from /proc.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use arterys_test_support::{status_kib, ServerProcess};

use crate::fail;

/// A server child process.
pub struct Server {
    process: Process,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// How it was started: a child that printed its port, or the real binary polled until READY
/// (killed by `ServerProcess` itself on drop).
enum Process {
    Listening(Child),
    Ready(ServerProcess),
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
        let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("current exe: {e}")));
        let mut cmd = Command::new(exe);
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
        Self { process: Process::Listening(child), addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    fn pid(&self) -> u32 {
        match &self.process {
            Process::Listening(child) => child.id(),
            Process::Ready(p) => p.pid(),
        }
    }

    /// Resets the child's peak RSS (Linux `clear_refs` 5).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }

    /// Peak resident memory in bytes.
    pub fn peak_rss(&self) -> u64 {
        status_kib(self.pid(), "VmHWM:") * 1024
    }
}

/// The `mock-server` binary of this build (same target folder and profile as `bench`), built
/// first so that it is never stale.
fn mock_server_exe() -> std::path::PathBuf {
    let bench = std::env::current_exe().unwrap_or_else(|e| fail(&format!("current exe: {e}")));
    let profile = match bench.parent().and_then(|d| d.file_name()).and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(p) => p.to_owned(),
        None => fail(&format!("where is {}'s profile?", bench.display())),
    };
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--locked", "-p", "arterys-mock-server", "--bin", "mock-server", "--profile"])
        .arg(&profile)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        fail(&format!("building mock-server ({profile} profile) failed: {status:?}"));
    }
    bench.with_file_name("mock-server")
}

impl Server {
    /// The real `mock-server` binary with `args`, pinned to `cpus` if given, on a free loopback
    /// port, run from the repository root (its `logging.yaml`; its log in a temporary file);
    /// returns once `/healthcheck` says READY.
    pub async fn mock_server(cpus: Option<&str>, args: &[&str]) -> Self {
        let mut cmd = pinned(cpus, mock_server_exe());
        cmd.args(args);
        let process = ServerProcess::spawn("mock-server", cmd, concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        process.wait_ready(std::time::Duration::from_secs(30)).await;
        Self { addr: process.addr, process: Process::Ready(process) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Process::Listening(child) = &mut self.process {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
