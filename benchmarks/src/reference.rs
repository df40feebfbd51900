//! The reference peer: `benchmarks/reference/app.py`, a Flask service on the Arterys SDK's own
//! stack, installed from PyPI (pinned in `requirements.txt`) into a virtual environment that
//! the benchmark makes and reuses.
//!
//! Environment: `BENCH_PYTHON` (the interpreter to make the venv with; default `python3`),
//! `BENCH_REFERENCE_VENV` (where; default `<temp>/arterys-bench-reference`), `BENCH_WHEELS` (a
//! directory of wheels to install from instead of PyPI, for machines without network access).

use std::path::PathBuf;
use std::process::Command;

use crate::fail;
use crate::server::{pinned, Server};

const APP: &str = include_str!("../reference/app.py");
const REQUIREMENTS: &str = include_str!("../reference/requirements.txt");

fn venv_dir() -> PathBuf {
    std::env::var_os("BENCH_REFERENCE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("arterys-bench-reference"))
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("{what} failed ({s}): {cmd:?}")),
        Err(e) => fail(&format!("{what}: {e}: {cmd:?}")),
    }
}

/// The venv's python, after making the venv and installing the requirements if that was not
/// done yet (a marker holds the requirements it was made from).
pub fn python() -> PathBuf {
    let dir = venv_dir();
    let python = dir.join("bin/python");
    let marker = dir.join("bench-requirements.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(REQUIREMENTS) || !python.exists() {
        let base = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        println!("setting up the reference peer in {} (Flask, requests-toolbelt, pydicom, numpy)", dir.display());
        run(Command::new(&base).args(["-m", "venv"]).arg(&dir), "making the reference venv");
        let reqs = dir.join("requirements.txt");
        std::fs::write(&reqs, REQUIREMENTS).unwrap_or_else(|e| fail(&format!("{}: {e}", reqs.display())));
        let mut pip = Command::new(&python);
        pip.args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r"]).arg(&reqs);
        if let Some(wheels) = std::env::var_os("BENCH_WHEELS") {
            pip.arg("--no-index").arg("--find-links").arg(wheels);
        }
        run(&mut pip, "installing the reference's requirements");
        std::fs::write(&marker, REQUIREMENTS).unwrap_or_else(|e| fail(&format!("{}: {e}", marker.display())));
    }
    python
}

/// Starts the reference service (pinned to `cpus` if given) on a free loopback port.
pub fn start(python: &PathBuf, cpus: Option<&str>) -> Server {
    let app = venv_dir().join("app.py");
    std::fs::write(&app, APP).unwrap_or_else(|e| fail(&format!("{}: {e}", app.display())));
    let mut cmd = pinned(cpus, python);
    cmd.arg(&app).args(["--port", "0"]);
    Server::spawn(cmd)
}
