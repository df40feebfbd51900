//! The server child processes the benchmarks measure: the real `mock-server` binary (built
//! here, so its allocator, logging and limits are the ones a user gets), `bench serve ...`
//! (ours, in-process variants) or the Python reference; their memory is read from /proc.

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
    /// port, run from the repository root (its `logging.yaml`, logs to /dev/null); returns once
    /// `/healthcheck` says READY.
    pub fn mock_server(cpus: Option<&str>, args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| fail(&format!("free port: {e}")))
            .port();
        let mut cmd = pinned(cpus, mock_server_exe());
        cmd.args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| fail(&format!("starting {cmd:?}: {e}")));
        let server = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !server.ready() {
            if std::time::Instant::now() > deadline {
                fail(&format!("{cmd:?} not READY after 30 s"));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        server
    }

    /// Whether `GET /healthcheck` answers READY.
    fn ready(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(self.addr) else { return false };
        let mut answer = String::new();
        s.write_all(b"GET /healthcheck HTTP/1.0\r\n\r\n").is_ok()
            && s.read_to_string(&mut answer).is_ok()
            && answer.ends_with("READY")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
