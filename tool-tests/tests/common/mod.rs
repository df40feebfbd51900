//! The real `send-inference-request` binary against the workspace's mock server, started
//! in-process on a loopback port.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arterys_gateway::Gateway;
use arterys_mock_server::Mode;

pub fn test_dicom(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/dicom").join(rel)
}

/// The mock server's routes in `mode`, ready (to be changed before [`serve`]).
pub fn mock_gateway(mode: Mode) -> Gateway {
    arterys_mock_server::service(mode, Arc::new(AtomicBool::new(true)))
}

/// Serves `gateway` on a free loopback port until the test ends.
pub async fn serve(gateway: Gateway) -> SocketAddr {
    let server = gateway.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    addr
}

/// The mock server in `mode`, ready, on a free loopback port.
pub async fn mock(mode: Mode) -> SocketAddr {
    serve(mock_gateway(mode)).await
}

/// An output folder `name`, not there yet, in a fresh temporary folder that is removed, with
/// everything the tool wrote, when this is dropped.
pub fn out_dir(name: &str) -> OutDir {
    let base = tempfile::Builder::new().prefix("tool-test-").tempdir().unwrap();
    let path = base.path().join(name);
    OutDir { _base: base, path }
}

/// See [`out_dir`]; derefs to the output folder's path.
pub struct OutDir {
    _base: tempfile::TempDir,
    path: PathBuf,
}

impl std::ops::Deref for OutDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for OutDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Runs the tool against `addr`, writing to `out`.
pub async fn tool(addr: SocketAddr, args: &[&str], out: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_send-inference-request-under-test"));
    cmd.args(["--host", "127.0.0.1", "-p", &addr.port().to_string(), "-o", out.to_str().unwrap()]).args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

/// The tool's stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The full-size PNG the tool drew from input `file` (`<index>_<file>.png` in `out`).
pub fn png_of(out: &Path, file: &str) -> image::RgbImage {
    let suffix = format!("_{file}.png");
    let name = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(&suffix))
        .unwrap_or_else(|| panic!("no PNG for {file} in {}", out.display()));
    image::open(out.join(name)).unwrap().to_rgb8()
}
