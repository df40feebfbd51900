//! Running scripts/pydicom-reference for a corpus test: into a fresh folder under the target
//! directory, removed afterwards, failing clearly when python3 or its packages are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A folder removed when dropped (the references take hundreds of MB).
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the reference script with `args` before its output folder (`--voi` or nothing) and
/// returns that folder.
pub fn run(name: &str, args: &[&str]) -> TempDir {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let dir = TempDir(out.clone());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pydicom-reference");
    // The python3 on PATH (scripts/test puts .venv's first).
    let run = Command::new("python3").arg(script).args(args).arg(&out).output().unwrap_or_else(|e| {
        panic!("cannot run python3 (python3 with scripts/requirements-test.txt installed is needed): {e}")
    });
    assert!(
        run.status.success(),
        "scripts/pydicom-reference failed (install scripts/requirements-test.txt into the python3 on PATH): {}",
        String::from_utf8_lossy(&run.stderr)
    );
    dir
}
