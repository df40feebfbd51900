//! Rendering every image with its results to PNG, in parallel.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use arterys_gateway::dicom::display::DisplayError;
use arterys_gateway::InferenceResponse;
use indicatif::{ProgressBar, ProgressStyle};

use crate::draw::Canvas;
use crate::gallery::GalleryItem;
use crate::input::Study;
use crate::overlay::draw_results;

/// A file's name for display and output names.
pub fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn bar(len: u64, what: &str, bytes: bool) -> ProgressBar {
    let template =
        if bytes { "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}" } else { "{msg} [{bar:30}] {pos}/{len}" };
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_owned());
    pb
}

/// An instance that was not drawn: its path and the one-line reason (`path: reason`).
#[derive(Debug, Clone)]
pub struct NotDrawn {
    /// The input file.
    pub path: std::path::PathBuf,
    /// Why, in one line.
    pub reason: String,
    /// False for instances that have no image to draw (structured reports, key objects...);
    /// true for an image that could not be shown, which makes the run fail.
    pub is_image: bool,
}

impl std::fmt::Display for NotDrawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Renders every image (every frame) with its results, in parallel, one PNG each.
///
/// PNGs are named `<index>_<file name>.png` (`..._frame<k>.png` for multi-frame images);
/// instances that cannot be displayed are returned with their one-line reasons, not errors.
pub fn render_pngs(
    study: &Study,
    response: Option<&InferenceResponse>,
    out: &Path,
    labels: bool,
) -> std::io::Result<(Vec<GalleryItem>, Vec<NotDrawn>)> {
    let empty = InferenceResponse::new();
    let response = response.unwrap_or(&empty);
    let next = AtomicUsize::new(0);
    let items = Mutex::new(Vec::new());
    let failures = Mutex::new(Vec::new());
    let io_error = Mutex::new(None);
    let pb = bar(study.instances.len() as u64, "drawing", false);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(study.instances.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(inst) = study.instances.get(i) else { break };
                let name = file_name(&inst.path);
                match arterys_gateway::dicom::display::render(&inst.bytes) {
                    Err(e) => lock(&failures).push(NotDrawn {
                        path: inst.path.clone(),
                        reason: e.to_string(),
                        is_image: !matches!(e, DisplayError::NoPixelData),
                    }),
                    Ok(frames) => {
                        let count = frames.len() as u32;
                        for (f, frame) in frames.into_iter().enumerate() {
                            let mut canvas = Canvas::new(frame.width, frame.height, frame.rgb);
                            draw_results(&mut canvas, response, study, i, f as u32 + 1, count, labels);
                            let file = if count > 1 {
                                format!("{i}_{name}_frame{}.png", f + 1)
                            } else {
                                format!("{i}_{name}.png")
                            };
                            let written = canvas
                                .to_png()
                                .map_err(std::io::Error::other)
                                .and_then(|png| std::fs::write(out.join(&file), png));
                            match written {
                                Ok(()) => {
                                    lock(&items).push((i, f, GalleryItem { caption: file.clone(), file_name: file }))
                                }
                                Err(e) => *lock(&io_error) = Some(e),
                            }
                        }
                    }
                }
                pb.inc(1);
            });
        }
    });
    pb.finish_and_clear();
    if let Some(e) = io_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut items = items.into_inner().unwrap_or_else(|p| p.into_inner());
    items.sort_by_key(|(i, f, _)| (*i, *f));
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((items.into_iter().map(|(_, _, g)| g).collect(), failures))
}

/// A poisoned lock still holds usable data: a panicking worker must not lose the others' work.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
