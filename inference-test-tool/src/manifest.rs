//! The output folder across runs: every file a run writes is listed in a manifest, so the
//! next run into the same folder removes exactly those (no stale PNG of an earlier study is
//! mixed in) and never a file the tool did not write.

use std::path::{Path, PathBuf};

/// The manifest's name inside the output folder.
pub const MANIFEST: &str = ".send-inference-request-files";

/// Why an output folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputDirError {
    /// Files that look like the tool's outputs but are not in its manifest.
    #[error(
        "{dir} holds {} like this tool's outputs that no earlier run recorded writing \
         (e.g. {example}); they are left alone: give -o an empty or new folder, or move them away",
        crate::words::count(*count, "file", "files")
    )]
    Unknown {
        /// The folder.
        dir: String,
        /// How many.
        count: usize,
        /// One of them.
        example: String,
    },
    /// Reading or removing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Whether `rel` (relative to the output folder) is a name the tool writes.
fn is_tool_output(rel: &str) -> bool {
    if rel.starts_with('/') {
        return false;
    }
    let top = !rel.contains('/');
    let ext = |e: &str| rel.ends_with(e);
    rel == "response.json"
        || rel == "index.html"
        || (top && (ext(".png") || ext(".npy") || ext(".dcm")))
        || (rel.starts_with(crate::output::THUMBNAIL_DIR) || rel.starts_with(crate::output::OUTPUTS_DIR)) && ext(".png")
}

/// Every file below `dir` as a '/'-separated relative path (the manifest excluded).
fn files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel != MANIFEST {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn recorded(dir: &Path) -> std::io::Result<Vec<String>> {
    match std::fs::read_to_string(dir.join(MANIFEST)) {
        // Only names the tool writes, inside the folder: an edited manifest removes nothing else.
        Ok(text) => Ok(text.lines().filter(|l| is_tool_output(l) && !l.contains("..")).map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Whether `dir` can take a run's files, changing nothing: it is new, or every file in it like
/// the tool's outputs was recorded by an earlier run. A folder that is a file is refused.
pub fn check(dir: &Path) -> Result<(), OutputDirError> {
    checked(dir).map(|_| ())
}

/// [`check`], and the files an earlier run recorded (none for a new folder).
fn checked(dir: &Path) -> Result<Vec<String>, OutputDirError> {
    if dir.exists() && !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} is not a folder", dir.display()),
        )
        .into());
    }
    let earlier = recorded(dir)?;
    let unknown: Vec<String> = files(dir)?.into_iter().filter(|f| is_tool_output(f) && !earlier.contains(f)).collect();
    match unknown.first() {
        Some(example) => Err(OutputDirError::Unknown {
            dir: dir.display().to_string(),
            count: unknown.len(),
            example: example.clone(),
        }),
        None => Ok(earlier),
    }
}

/// Makes `dir` ready for a run: creates it, or removes the files an earlier run recorded
/// (returning how many). Refuses a folder with files like the tool's outputs that are not
/// recorded (another tool's, or a user's); any other file is left as it is.
pub fn prepare(dir: &Path) -> Result<usize, OutputDirError> {
    let earlier = checked(dir)?;
    std::fs::create_dir_all(dir)?;
    let mut removed = 0;
    for f in &earlier {
        match std::fs::remove_file(dir.join(f)) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    let plain = format!("{}/{}", crate::output::THUMBNAIL_DIR, crate::output::PLAIN_DIR);
    for sub in [plain.as_str(), crate::output::THUMBNAIL_DIR, crate::output::OUTPUTS_DIR] {
        // Only when empty: a user's file in it stays.
        let _ = std::fs::remove_dir(dir.join(sub));
    }
    let _ = std::fs::remove_file(dir.join(MANIFEST));
    Ok(removed)
}

/// Records every file of the tool's kinds now in `dir` (after a run wrote them).
pub fn record(dir: &Path) -> std::io::Result<usize> {
    let written: Vec<String> = files(dir)?.into_iter().filter(|f| is_tool_output(f)).collect();
    std::fs::write(dir.join(MANIFEST), written.join("\n") + "\n")?;
    Ok(written.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_edited_manifest_removes_nothing_outside_the_folder_or_not_the_tools() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let out = root.join("out");
        std::fs::create_dir_all(out.join("thumbs")).unwrap();
        for f in ["victim.png", "out/notes.txt", "out/0_a.dcm.png", "out/thumbs/0_a.dcm.png"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let victim = root.join("victim.png");
        let lines = format!(
            "../victim.png\n{}\nnotes.txt\nthumbs/../../victim.png\n0_a.dcm.png\nthumbs/0_a.dcm.png\n",
            victim.display()
        );
        std::fs::write(out.join(MANIFEST), lines).unwrap();
        assert_eq!(prepare(&out).unwrap(), 2);
        assert!(victim.exists() && out.join("notes.txt").exists());
        assert!(!out.join("0_a.dcm.png").exists() && !out.join("thumbs").exists());
    }
}
