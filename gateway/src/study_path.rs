//! `studyPath` requests: the study's files are read from a directory below a root the
//! operator configures; nothing outside it is ever read.
//!
//! Every file and directory is opened relative to the root's descriptor without following
//! any link: `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` (Linux 5.6+), or, where
//! that is missing (older kernels, seccomp filters), one `openat(O_NOFOLLOW)` per path
//! component from the root. There is no window between a check and the open for a link to be
//! swapped in: the open itself refuses links. Hard links cannot be told apart from the file
//! they share, so a file with more than one link is refused (it may be a link to a file
//! outside the root). Sizes come from `stat` before anything is read: a study over the limit
//! is refused without reading it, and no file is read past the size it had when opened.

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
    /// A file with several hard links (it may be one to a file outside the root).
    #[error("a file in the study has several hard links and is refused")]
    HardLinked,
    /// Reading failed.
    #[error("cannot read the study: {0}")]
    Io(#[source] std::io::Error),
}

/// `requested` (absolute, or relative to the root) as a path relative to `root`; `..` is
/// refused outright (even when it stays inside, it says the client is probing).
fn relative(root: &Path, requested: &str) -> Result<PathBuf, StudyPathError> {
    let p = Path::new(requested);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(StudyPathError::OutsideRoot);
    }
    let rel = if p.is_absolute() { p.strip_prefix(root).map_err(|_| StudyPathError::OutsideRoot)? } else { p };
    Ok(rel.components().filter(|c| matches!(c, Component::Normal(_))).collect())
}

/// Resolves `requested` (absolute, or relative to the root) to a directory inside `root`
/// (already canonical). No link is followed: a path through a link is refused.
pub fn resolve(root: &Path, requested: &str) -> Result<PathBuf, StudyPathError> {
    let rel = relative(root, requested)?;
    imp::check_dir(root, &rel)?;
    Ok(root.join(rel))
}

/// The bytes [`read_study`] would read for `dir` (the sum of its files' sizes, from `stat`,
/// nothing read), refused as [`read_study`] refuses: so that the caller can reserve them
/// before reading. A study that grows past it between the two calls is refused by
/// `read_study` when given this size as its limit.
pub fn study_size(root: &Path, dir: &Path, limit: u64) -> Result<u64, StudyPathError> {
    let rel = dir.strip_prefix(root).map_err(|_| StudyPathError::OutsideRoot)?;
    imp::study_size(root, rel, limit)
}

/// Every regular file below `dir` (a directory [`resolve`] returned), recursively, sorted by
/// path. Links are refused, so are files with several hard links; the sum of the sizes is
/// checked against `limit` before any file is read. Returns `(path relative to dir, bytes)`.
pub fn read_study(root: &Path, dir: &Path, limit: u64) -> Result<Vec<(String, Vec<u8>)>, StudyPathError> {
    let rel = dir.strip_prefix(root).map_err(|_| StudyPathError::OutsideRoot)?;
    imp::read_study(root, rel, limit)
}

#[cfg(unix)]
mod imp {
    use std::ffi::OsStr;
    use std::io::Read;
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;

    use super::StudyPathError;

    fn open_root(root: &Path) -> Result<OwnedFd, StudyPathError> {
        rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| StudyPathError::Io(e.into()))
    }

    /// Opens `rel` below `root` without following any link (see the module docs).
    fn open_beneath(root: impl AsFd, rel: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
        // Non-blocking: a FIFO swapped in must not hang the open (regular files ignore it).
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::fs::ResolveFlags;
            let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(root.as_fd(), rel, flags, Mode::empty(), how) {
                // Not there (before 5.6) or filtered (some container seccomp profiles).
                Err(Errno::NOSYS | Errno::PERM) => {}
                other => return other,
            }
        }
        open_by_components(root, rel, flags)
    }

    /// The fallback: one component at a time, each opened with `O_NOFOLLOW` relative to the
    /// last (a link anywhere fails the open; `..` never gets here).
    pub(super) fn open_by_components(root: impl AsFd, rel: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
        let names: Vec<&OsStr> = rel.iter().filter(|c| *c != OsStr::new(".")).collect();
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let Some((last, parents)) = names.split_last() else {
            return rustix::fs::openat(root, ".", flags, Mode::empty());
        };
        let mut at = rustix::fs::openat(root, ".", dir_flags, Mode::empty())?;
        for name in parents {
            at = rustix::fs::openat(&at, *name, dir_flags, Mode::empty())?;
        }
        rustix::fs::openat(&at, *last, flags, Mode::empty())
    }

    fn refusal(e: Errno) -> StudyPathError {
        match e {
            // A link on the way (ELOOP, or ENOTDIR for O_DIRECTORY on a link) or an escape.
            Errno::LOOP | Errno::XDEV => StudyPathError::OutsideRoot,
            Errno::NOENT => StudyPathError::NotFound,
            Errno::NOTDIR => StudyPathError::NotADirectory,
            e => StudyPathError::Io(e.into()),
        }
    }

    pub(super) fn check_dir(root: &Path, rel: &Path) -> Result<(), StudyPathError> {
        let root_fd = open_root(root)?;
        match open_beneath(&root_fd, rel, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(_) => Ok(()),
            // O_DIRECTORY on a link says ENOTDIR: tell a link from a file.
            Err(Errno::NOTDIR) if is_link(&root_fd, rel) => Err(StudyPathError::OutsideRoot),
            Err(e) => Err(refusal(e)),
        }
    }

    fn is_link(root: impl AsFd, rel: &Path) -> bool {
        rustix::fs::statat(root, rel, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
    }

    pub(super) fn study_size(root: &Path, dir: &Path, limit: u64) -> Result<u64, StudyPathError> {
        list(&open_root(root)?, dir, limit).map(|(_, total)| total)
    }

    /// The regular files below `dir` (names and sizes, nothing read) and their total size,
    /// refusing links on the way.
    fn list(root_fd: &OwnedFd, dir: &Path, limit: u64) -> Result<(Vec<PathBuf>, u64), StudyPathError> {
        let mut files: Vec<PathBuf> = Vec::new();
        let mut total = 0u64;
        let mut stack = vec![PathBuf::new()];
        while let Some(sub) = stack.pop() {
            let fd = open_beneath(root_fd, &dir.join(&sub), OFlags::RDONLY | OFlags::DIRECTORY).map_err(refusal)?;
            let entries = rustix::fs::Dir::read_from(&fd).map_err(|e| StudyPathError::Io(e.into()))?;
            for entry in entries {
                let entry = entry.map_err(|e| StudyPathError::Io(e.into()))?;
                let name = OsStr::from_bytes(entry.file_name().to_bytes());
                if name == "." || name == ".." {
                    continue;
                }
                let st = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(refusal)?;
                match FileType::from_raw_mode(st.st_mode) {
                    FileType::Directory => stack.push(sub.join(name)),
                    FileType::RegularFile => {
                        if st.st_nlink > 1 {
                            return Err(StudyPathError::HardLinked);
                        }
                        total = total.saturating_add(st.st_size as u64);
                        if total > limit {
                            return Err(StudyPathError::TooLarge(limit));
                        }
                        files.push(sub.join(name));
                    }
                    FileType::Symlink => return Err(StudyPathError::OutsideRoot),
                    _ => {}
                }
            }
        }
        files.sort();
        Ok((files, total))
    }

    pub(super) fn read_study(root: &Path, dir: &Path, limit: u64) -> Result<Vec<(String, Vec<u8>)>, StudyPathError> {
        let root_fd = open_root(root)?;
        let (files, _) = list(&root_fd, dir, limit)?;
        // Then read: each file opened beneath the root again, its size from the open file.
        let mut read = 0u64;
        let mut out = Vec::with_capacity(files.len());
        for rel in files {
            let fd = open_beneath(&root_fd, &dir.join(&rel), OFlags::RDONLY).map_err(refusal)?;
            let st = rustix::fs::fstat(&fd).map_err(|e| StudyPathError::Io(e.into()))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                return Err(StudyPathError::OutsideRoot);
            }
            if st.st_nlink > 1 {
                return Err(StudyPathError::HardLinked);
            }
            let size = st.st_size as u64;
            read = read.saturating_add(size);
            if read > limit {
                return Err(StudyPathError::TooLarge(limit));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            std::fs::File::from(fd).take(size).read_to_end(&mut bytes).map_err(StudyPathError::Io)?;
            out.push((rel.to_string_lossy().into_owned(), bytes));
        }
        Ok(out)
    }
}

#[cfg(not(unix))]
mod imp {
    use std::path::Path;

    use super::StudyPathError;

    pub(super) fn check_dir(_: &Path, _: &Path) -> Result<(), StudyPathError> {
        Err(StudyPathError::Disabled)
    }

    pub(super) fn read_study(_: &Path, _: &Path, _: u64) -> Result<Vec<(String, Vec<u8>)>, StudyPathError> {
        Err(StudyPathError::Disabled)
    }

    pub(super) fn study_size(_: &Path, _: &Path, _: u64) -> Result<u64, StudyPathError> {
        Err(StudyPathError::Disabled)
    }
}

#[cfg(all(test, unix))]
mod tests;
