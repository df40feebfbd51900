//! `studyPath` requests: the study's files are read from a directory below a root the
//! operator configures; nothing outside it is ever read.

use std::path::{Component, Path, PathBuf};

/// Why a `studyPath` is refused (its status: `GatewayError::status`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyPathError {
    /// The service has no study root.
    #[error("studyPath requests are not enabled on this service")]
    Disabled,
    /// The path (or a link in it) leads outside the root.
    #[error("studyPath is outside the study root")]
    OutsideRoot,
    /// Nothing there.
    #[error("studyPath does not exist")]
    NotFound,
    /// A file, not a directory.
    #[error("studyPath is not a directory")]
    NotADirectory,
    /// The study is larger than the body limit.
    #[error("study at studyPath exceeds the {0}-byte limit")]
    TooLarge(u64),
    /// Reading failed.
    #[error("cannot read the study: {0}")]
    Io(#[source] std::io::Error),
}

/// Resolves `requested` (absolute, or relative to the root) to a directory inside `root`
/// (already canonical), following links, and refuses anything that leaves it.
pub fn resolve(root: &Path, requested: &str) -> Result<PathBuf, StudyPathError> {
    let p = Path::new(requested);
    // Refuse `..` outright: even when it stays inside, it says the client is probing.
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(StudyPathError::OutsideRoot);
    }
    let joined = if p.is_absolute() { p.to_path_buf() } else { root.join(p) };
    if !joined.starts_with(root) {
        return Err(StudyPathError::OutsideRoot);
    }
    let canon = joined.canonicalize().map_err(|_| StudyPathError::NotFound)?;
    if !canon.starts_with(root) {
        return Err(StudyPathError::OutsideRoot);
    }
    if !canon.is_dir() {
        return Err(StudyPathError::NotADirectory);
    }
    Ok(canon)
}

/// Every regular file below `dir`, recursively, sorted by path; links that lead out of
/// `root` are refused. Returns `(path relative to dir, bytes)`.
pub fn read_study(root: &Path, dir: &Path, limit: u64) -> Result<Vec<(String, Vec<u8>)>, StudyPathError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(StudyPathError::Io)?;
        for e in entries {
            let path = e.map_err(StudyPathError::Io)?.path();
            let canon = path.canonicalize().map_err(StudyPathError::Io)?;
            if !canon.starts_with(root) {
                return Err(StudyPathError::OutsideRoot);
            }
            if canon.is_dir() {
                stack.push(path);
            } else if canon.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut total = 0u64;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let bytes = std::fs::read(&f).map_err(StudyPathError::Io)?;
        total += bytes.len() as u64;
        if total > limit {
            return Err(StudyPathError::TooLarge(limit));
        }
        let rel = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().into_owned();
        out.push((rel, bytes));
    }
    Ok(out)
}
