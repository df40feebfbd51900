//! Loading the study: every file below the input path, DICOM read with dicom-object, JPEG and
//! PNG turned into DICOM first, unreadable files reported and skipped; then the protocol's
//! order (series, position along the slice normal, timepoint).

use std::path::{Path, PathBuf};

use arterys_viewer::capture::{derived_uid, secondary_capture, CaptureIds, CaptureImage};
use arterys_viewer::{sort_study, InstanceInfo, SortedSeries};
use bytes::Bytes;

/// One instance to send.
pub struct Instance {
    /// The file it came from.
    pub path: PathBuf,
    /// The bytes sent (a converted JPEG/PNG's DICOM form).
    pub bytes: Bytes,
    /// Header facts.
    pub info: InstanceInfo,
    /// Whether it was converted (a JPEG/PNG, or a dataset without file meta) before sending.
    pub converted: bool,
}

/// The study in send order.
pub struct Study {
    /// Instances in the order they are sent.
    pub instances: Vec<Instance>,
    /// Series, with indices into `instances`.
    pub series: Vec<SortedSeries>,
    /// Files that could not be used: (path, reason).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Every regular file below `root` (or `root` itself), sorted by path.
fn files_below(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// A JPEG or PNG as a Secondary Capture, its own study and series (UIDs derived from the file's
/// bytes, so a rerun sends the same instance).
fn convert_image(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let img = image::load_from_memory(bytes).map_err(|e| format!("not a readable image: {e}"))?;
    let seed = arterys_protocol::multipart::hex(&sha2_digest(bytes));
    let ids = CaptureIds {
        study_instance_uid: derived_uid(&format!("{seed}/study")),
        series_instance_uid: derived_uid(&format!("{seed}/series")),
        sop_instance_uid: derived_uid(&format!("{seed}/instance")),
    };
    let gray = matches!(
        img.color(),
        image::ColorType::L8 | image::ColorType::L16 | image::ColorType::La8 | image::ColorType::La16
    );
    let (w, h) = (img.width(), img.height());
    let (samples, pixels) = if gray { (1, img.into_luma8().into_raw()) } else { (3, img.into_rgb8().into_raw()) };
    secondary_capture(CaptureImage { width: w, height: h, samples, pixels: &pixels }, &ids, None, "Converted image")
        .map_err(|e| e.to_string())
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Loads and orders the study below `root`. `on_file` is called once per file (progress).
pub fn load(root: &Path, mut on_file: impl FnMut(&Path)) -> std::io::Result<Study> {
    let mut loaded = Vec::new();
    let mut skipped = Vec::new();
    for path in files_below(root)? {
        on_file(&path);
        let raw = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                skipped.push((path, format!("cannot read: {e}")));
                continue;
            }
        };
        let (bytes, converted) = if is_image(&raw) {
            match convert_image(&raw) {
                Ok(b) => (b, true),
                Err(e) => {
                    skipped.push((path, e));
                    continue;
                }
            }
        } else if raw.get(128..132) != Some(b"DICM".as_slice()) {
            // A dataset without preamble or file meta: send it as the Part 10 file it should be.
            match arterys_viewer::open(&raw).map_err(|e| e.to_string()).and_then(|obj| {
                let mut out = Vec::with_capacity(raw.len() + 256);
                obj.write_all(&mut out).map_err(|e| e.to_string())?;
                Ok(out)
            }) {
                Ok(p10) => (p10, true),
                Err(e) => {
                    skipped.push((path, e));
                    continue;
                }
            }
        } else {
            (raw, false)
        };
        match InstanceInfo::read(&bytes) {
            Ok(info) => loaded.push(Instance { path, bytes: Bytes::from(bytes), info, converted }),
            Err(e) => skipped.push((path, e.to_string())),
        }
    }
    let infos: Vec<InstanceInfo> = loaded.iter().map(|i| i.info.clone()).collect();
    let sorted = sort_study(&infos);
    // Put the instances in send order and renumber the series' indices to match.
    let order: Vec<usize> = sorted.iter().flat_map(SortedSeries::send_order).collect();
    let mut new_index = vec![0; loaded.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let series = sorted
        .into_iter()
        .map(|s| SortedSeries {
            series_instance_uid: s.series_instance_uid,
            timepoints: s.timepoints.into_iter().map(|t| t.into_iter().map(|i| new_index[i]).collect()).collect(),
        })
        .collect();
    let mut slots: Vec<Option<Instance>> = loaded.into_iter().map(Some).collect();
    let instances = order.iter().filter_map(|&i| slots[i].take()).collect();
    Ok(Study { instances, series, skipped })
}
