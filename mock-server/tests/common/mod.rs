//! Runs the real `mock-server` binary on a free loopback port and talks to it over HTTP.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use arterys_gateway::{DecodedResponse, InferenceResponse};
use arterys_test_support::{study_files, ServerProcess};
use bytes::Bytes;

pub fn test_dicom(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/dicom").join(rel)
}

/// Every file of a testdata folder, sorted by name.
pub fn study(rel: &str) -> Vec<Vec<u8>> {
    study_files(&test_dicom(rel))
}

/// The mock-server binary, killed on drop; [`ServerProcess`]'s methods through `Deref`.
pub struct MockServer(ServerProcess);

impl Deref for MockServer {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl DerefMut for MockServer {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.0
    }
}

impl MockServer {
    /// Starts the binary with `args` (plus host and port) without waiting for READY.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_in(args, concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    /// Starts the binary from `dir` (where it finds its `logging.yaml`).
    pub fn spawn_in(args: &[&str], dir: &str) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-server"));
        cmd.args(args);
        Self(ServerProcess::spawn("mock-server", cmd, dir))
    }

    /// Starts the binary with its open-files limit (soft and hard) set to `nofile`.
    pub fn spawn_with_nofile(args: &[&str], nofile: u32) -> Self {
        let mut sh = Command::new("sh");
        sh.args(["-c", &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_mock-server")]);
        sh.args(args);
        Self(ServerProcess::spawn("mock-server", sh, concat!(env!("CARGO_MANIFEST_DIR"), "/..")))
    }

    /// Starts it and waits until `/healthcheck` says READY.
    pub async fn start(args: &[&str]) -> Self {
        Self::ready(Self::spawn(args)).await
    }

    /// Starts it from `dir` and waits until READY.
    pub async fn start_in(args: &[&str], dir: &str) -> Self {
        Self::ready(Self::spawn_in(args, dir)).await
    }

    pub async fn ready(s: Self) -> Self {
        s.wait_ready(Duration::from_secs(30)).await;
        s
    }
}

/// A 200 response taken apart and checked: one buffer per part and no protocol violation.
pub fn parse_ok(status: u16, ct: Option<String>, body: &Bytes) -> InferenceResponse {
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(body));
    let decoded = DecodedResponse::decode(&ct.expect("content type"), body).expect("multipart");
    decoded.into_response(None).unwrap_or_else(|e| panic!("protocol violation: {e}"))
}
