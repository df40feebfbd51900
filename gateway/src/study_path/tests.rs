//! Races, links and sizes, on a real directory tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

const LIMIT: u64 = 100 << 20;

/// A fresh temporary folder (removed when the first item drops) with `root/` (canonical)
/// and `outside/secret.dcm`.
fn tree(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::Builder::new().prefix(&format!("study-path-{name}-")).tempdir().unwrap();
    let base = tmp.path();
    std::fs::create_dir_all(base.join("root/study")).unwrap();
    std::fs::create_dir_all(base.join("outside")).unwrap();
    std::fs::write(base.join("outside/secret.dcm"), b"SECRET").unwrap();
    let (root, outside) = (base.join("root").canonicalize().unwrap(), base.join("outside").canonicalize().unwrap());
    (tmp, root, outside)
}

fn read(root: &Path, requested: &str) -> Result<Vec<(String, Vec<u8>)>, StudyPathError> {
    let dir = resolve(root, requested)?;
    read_study(root, &dir, LIMIT)
}

#[test]
fn a_link_swapped_in_during_reads_never_leaks_the_file_outside() {
    let (_tmp, root, outside) = tree("swap");
    let study = root.join("study");
    std::fs::write(study.join("a.dcm"), b"inside").unwrap();
    // Many files: a wide window between listing a.dcm and reading it.
    for i in 0..200 {
        std::fs::write(study.join(format!("f{i:03}.dcm")), b"filler").unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, study, outside) = (Arc::clone(&stop), study.clone(), outside.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // Atomic renames: a.dcm is always there, a file one moment, a link the next.
                let _ = std::os::unix::fs::symlink(outside.join("secret.dcm"), study.join(".link"));
                let _ = std::fs::rename(study.join(".link"), study.join("a.dcm"));
                let _ = std::fs::write(study.join(".file"), b"inside");
                let _ = std::fs::rename(study.join(".file"), study.join("a.dcm"));
            }
        })
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..1000 {
        match read(&root, "study") {
            Ok(files) => {
                // The swapper's temporaries may be listed too; none may be the secret.
                assert!(files.iter().all(|(_, b)| b != b"SECRET"), "read outside the root: {files:?}");
                ok += 1;
            }
            Err(StudyPathError::OutsideRoot | StudyPathError::NotFound) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    // Both states were seen: the race was really run.
    assert!(ok > 0 && refused > 0, "ok {ok}, refused {refused}");
}

#[test]
fn a_directory_link_swapped_in_is_refused() {
    let (_tmp, root, outside) = tree("dirswap");
    std::fs::write(root.join("study/a.dcm"), b"inside").unwrap();
    // `study` itself becomes a link to the outside directory between resolve and read.
    let dir = resolve(&root, "study").unwrap();
    std::fs::rename(root.join("study"), root.join("moved")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("study")).unwrap();
    assert!(matches!(read_study(&root, &dir, LIMIT), Err(StudyPathError::OutsideRoot)));
    assert!(matches!(read(&root, "study"), Err(StudyPathError::OutsideRoot)));
}

#[test]
fn a_hard_link_to_a_file_outside_is_refused() {
    let (_tmp, root, outside) = tree("hardlink");
    std::fs::hard_link(outside.join("secret.dcm"), root.join("study/a.dcm")).unwrap();
    assert!(matches!(read(&root, "study"), Err(StudyPathError::HardLinked)));
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_3_gb_file_is_refused_without_being_read() {
    let (_tmp, root, _) = tree("big");
    std::fs::write(root.join("study/a.dcm"), b"small").unwrap();
    // Sparse: 3 GB long, no disk used.
    std::fs::File::create(root.join("study/b.dcm")).unwrap().set_len(3 << 30).unwrap();
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    assert!(matches!(read(&root, "study"), Err(StudyPathError::TooLarge(LIMIT))));
    // Refused by its size: reading 3 GB would take seconds; the bound only catches that.
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(peak_rss_kib() - before < 64 << 10, "peak RSS grew by {} KiB", peak_rss_kib() - before);
}

#[test]
fn the_fallback_refuses_links_on_every_component() {
    let (_tmp, root, outside) = tree("fallback");
    std::fs::write(root.join("study/a.dcm"), b"inside").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.dcm"), root.join("study/b.dcm")).unwrap();
    let root_fd = std::fs::File::open(&root).unwrap();
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW;
    assert!(imp::open_by_components(&root_fd, Path::new("study/a.dcm"), flags).is_ok());
    for rel in ["escape/secret.dcm", "study/b.dcm"] {
        assert!(imp::open_by_components(&root_fd, Path::new(rel), flags).is_err(), "{rel}");
    }
}

#[test]
fn links_inside_the_study_are_refused_and_plain_files_read() {
    let (_tmp, root, _) = tree("plain");
    std::fs::create_dir_all(root.join("study/sub")).unwrap();
    std::fs::write(root.join("study/a.dcm"), b"one").unwrap();
    std::fs::write(root.join("study/sub/b.dcm"), b"two").unwrap();
    let files = read(&root, "study").unwrap();
    assert_eq!(files, vec![("a.dcm".to_owned(), b"one".to_vec()), ("sub/b.dcm".to_owned(), b"two".to_vec())]);
    let abs = root.join("study");
    assert_eq!(read(&root, abs.to_str().unwrap()).unwrap().len(), 2);
    std::os::unix::fs::symlink(root.join("study/a.dcm"), root.join("study/c.dcm")).unwrap();
    assert!(matches!(read(&root, "study"), Err(StudyPathError::OutsideRoot)));
    assert!(matches!(read(&root, "study/a.dcm"), Err(StudyPathError::NotADirectory)));
    assert!(matches!(read(&root, "nothing"), Err(StudyPathError::NotFound)));
}
