//! Runs the real `model-server` binary on a free loopback port and talks to it over HTTP;
//! finds the onnxruntime library the tests need; loads the demo models' fixtures.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arterys_gateway::multipart::{boundary_from_content_type, MultipartDecoder};
use arterys_gateway::{InferenceResponse, ResponseJson};
use arterys_test_support::{study_files, ServerProcess};
use bytes::Bytes;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python the tests run (scripts/test's `.venv`, else `python3`), checked to import
/// `modules` (a comma-separated list); a clear panic saying what to install when it cannot.
pub fn python_with(modules: &str) -> String {
    let venv = root().join(".venv/bin/python");
    let python = if venv.is_file() { venv.display().to_string() } else { "python3".into() };
    match Command::new(&python).args(["-c", &format!("import {modules}")]).output() {
        Ok(o) if o.status.success() => python,
        other => panic!(
            "this test needs Python with {modules}: run scripts/test, or pip install -r \
             scripts/requirements-test.txt and pip install --no-deps -r scripts/requirements-test-nodeps.txt ({other:?})"
        ),
    }
}

/// The demo models (`mock-server/models`).
pub fn demo() -> PathBuf {
    root().join("mock-server/models")
}

/// The small models of the start-up checks.
pub fn test_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models")
}

/// The onnxruntime library: `ORT_DYLIB_PATH`, which `scripts/test` sets. A test that needs it
/// fails without it, saying how to get it.
pub fn ort_library() -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) if Path::new(&p).is_file() => PathBuf::from(p),
        other => panic!(
            "these tests need the onnxruntime library: run scripts/test, or \
             export ORT_DYLIB_PATH=\"$(scripts/fetch-onnxruntime)\" (ORT_DYLIB_PATH is {other:?})"
        ),
    }
}

/// Little-endian float32 values of a file.
pub fn f32s(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// The largest absolute difference.
pub fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

/// Every file of a testdata folder, sorted by name.
pub fn study(rel: &str) -> Vec<Vec<u8>> {
    study_files(&root().join("testdata/dicom").join(rel))
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("model-server-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `text` to `name` in it; the path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The model-server binary, killed on drop; [`ServerProcess`]'s methods through `Deref`.
pub struct ModelServer(ServerProcess);

impl Deref for ModelServer {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl DerefMut for ModelServer {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.0
    }
}

impl ModelServer {
    /// Starts the binary on `config` without waiting for READY.
    pub fn spawn(config: &Path) -> Self {
        Self::spawn_with(config, &[], &[])
    }

    /// Starts the binary on `config` with more arguments and environment variables.
    pub fn spawn_with(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_model-server"));
        cmd.arg("--config").arg(config).args(args).envs(env.iter().copied());
        Self(ServerProcess::spawn("model-server", cmd, root()))
    }

    /// Starts it and waits until `/healthcheck` says READY; every healthcheck answer seen.
    pub async fn start(config: &Path) -> (Self, Vec<String>) {
        let s = Self::spawn(config);
        let seen = s.wait_ready(Duration::from_secs(60)).await;
        (s, seen)
    }
}

/// A 200 response taken apart by the gateway's decoder and checked: one buffer per part and
/// no protocol violation.
pub fn parse_ok(status: u16, ct: Option<String>, body: &Bytes) -> InferenceResponse {
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(body));
    let boundary = boundary_from_content_type(&ct.expect("content type")).unwrap();
    let (parts, _) = MultipartDecoder::decode(&boundary, body).expect("multipart");
    let json: ResponseJson = serde_json::from_slice(&parts[0].body).expect("JSON");
    let buffers: Vec<Bytes> = parts[1..parts.len() - 1].iter().map(|p| p.body.clone()).collect();
    let r = InferenceResponse::from_parts(json, buffers).expect("one buffer per part");
    let v = r.violations();
    assert!(v.is_empty(), "protocol violations: {v:?}");
    r
}

/// A request of `files` as the gateway hands it to a handler.
pub fn input_of(files: Vec<Vec<u8>>) -> arterys_gateway::InferenceInput {
    arterys_gateway::InferenceInput {
        request: Default::default(),
        json: Bytes::from_static(b"{}"),
        dicom: files
            .into_iter()
            .enumerate()
            .map(|(i, body)| arterys_gateway::RequestPart::new(i + 1, Default::default(), body.into()))
            .collect(),
        attachments: vec![],
        input_hash: String::new(),
        route: "/".into(),
        study_dir: None,
    }
}

/// Every file of a folder, sorted by name.
pub fn study_files_in(dir: &Path) -> Vec<Vec<u8>> {
    study_files(dir)
}
