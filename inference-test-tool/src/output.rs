//! Rendering every image with its results to PNG, in parallel.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use arterys_protocol::InferenceResponse;
use arterys_viewer::display::DisplayError;
use indicatif::{ProgressBar, ProgressStyle};

use crate::draw::Canvas;
use crate::gallery::GalleryItem;
use crate::input::Study;
use crate::outputs::read_outputs;
use crate::overlay::{draw_scene, Scene, View};
use image::imageops::FilterType;

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

/// A spinner with a count on stderr, for work of unknown length (hidden when stderr is not a
/// terminal).
pub fn spinner(what: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {pos}") {
        pb.set_style(style);
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

/// Longest side of a gallery thumbnail in pixels: it is shown at exactly this size, so what
/// is drawn on it (1-px lines included) is what the browser shows.
pub const THUMBNAIL: u32 = 320;

/// Folder (below the output) of the gallery thumbnails.
pub const THUMBNAIL_DIR: &str = "thumbs";

/// Folder (below the output) of the renderings of image outputs (secondary captures).
pub const OUTPUTS_DIR: &str = "outputs";

/// Folder (below [`THUMBNAIL_DIR`]) of the thumbnails without results, shown when the
/// gallery's results are switched off.
pub const PLAIN_DIR: &str = "plain";

/// A heading per series by SeriesInstanceUID: `Series <number>: <description>`, without the
/// number or description the files lack (the gallery adds what it shows of the series).
pub fn series_titles(study: &Study) -> Vec<(String, String)> {
    use dicom_dictionary_std::tags;
    study
        .series
        .iter()
        .filter_map(|s| {
            let first = s.timepoints.iter().flatten().next()?;
            let obj = arterys_viewer::open_headers(&study.instances[*first].bytes).ok()?;
            let number = arterys_viewer::string(&obj, tags::SERIES_NUMBER);
            let description = arterys_viewer::string(&obj, tags::SERIES_DESCRIPTION);
            let title = match (number, description) {
                (Some(n), Some(d)) => format!("Series {n}: {d}"),
                (Some(n), None) => format!("Series {n}"),
                (None, Some(d)) => format!("Series without a number: {d}"),
                (None, None) => "Series without a number".to_owned(),
            };
            Some((s.series_instance_uid.clone(), title))
        })
        .collect()
}

/// Header facts a caption and a measurement need that the sort does not keep.
struct Header {
    series_number: Option<String>,
    spacing: Option<[f64; 2]>,
}

fn header(bytes: &[u8]) -> Header {
    use dicom_dictionary_std::tags;
    let obj = arterys_viewer::open_headers(bytes).ok();
    let series_number = obj.as_ref().and_then(|o| arterys_viewer::string(o, tags::SERIES_NUMBER));
    let spacing = obj
        .as_ref()
        .and_then(|o| o.element_opt(tags::PIXEL_SPACING).ok().flatten().and_then(|e| e.to_multi_float64().ok()))
        .and_then(|v| <[f64; 2]>::try_from(v).ok())
        .filter(|s| s.iter().all(|v| v.is_finite() && *v > 0.0));
    Header { series_number, spacing }
}

/// The caption of a frame: series and instance numbers, frame, slice position, file.
fn caption(inst: &crate::input::Instance, h: &Header, frame: usize, frames: usize) -> String {
    let mut first = vec![format!("Series {}", h.series_number.as_deref().unwrap_or("?"))];
    first.push(match inst.info.instance_number {
        Some(n) => format!("Image {n}"),
        None => "Image ?".to_owned(),
    });
    if frames > 1 {
        first.push(format!("frame {}/{frames}", frame + 1));
    }
    if let Some(z) = inst.info.slice_position() {
        first.push(format!("slice at {z:.2} mm"));
    }
    format!("{}\n{}", first.join(" \u{b7} "), file_name(&inst.path))
}

/// The gallery's place for an image that could not be drawn: its caption and why.
fn placeholder(inst: &crate::input::Instance, h: &Header, reason: &str) -> GalleryItem {
    let side = THUMBNAIL.min(THUMBNAIL * inst.info.rows.max(1) / inst.info.columns.max(1)).max(THUMBNAIL / 2);
    GalleryItem {
        caption: caption(inst, h, 0, 1),
        file_name: String::new(),
        thumbnail: String::new(),
        plain: String::new(),
        not_drawn: Some(reason.to_owned()),
        size: (THUMBNAIL, side),
        series_instance_uid: inst.info.series_instance_uid.clone(),
        sop_instance_uid: inst.info.sop_instance_uid.clone(),
        frame: 1,
        spacing: h.spacing,
    }
}

/// A frame scaled to the thumbnail size, and the zoom.
fn thumbnail_canvas(frame: &arterys_viewer::display::DisplayFrame) -> (Canvas, f64) {
    let zoom = f64::from(THUMBNAIL) / f64::from(frame.width.max(frame.height).max(1));
    let (w, h) = (
        ((f64::from(frame.width) * zoom).round() as u32).max(1),
        ((f64::from(frame.height) * zoom).round() as u32).max(1),
    );
    // A view of the frame's pixels: the full-size canvas takes them afterwards, uncopied.
    let view = image::ImageBuffer::<image::Rgb<u8>, &[u8]>::from_raw(frame.width, frame.height, frame.rgb.as_slice());
    let Some(img) = view else {
        return (Canvas::new(w, h, Vec::new()), zoom);
    };
    // Area averaging down (a third of the time of a triangle filter, as smooth), blocks up.
    let small = if zoom < 1.0 {
        image::imageops::thumbnail(&img, w, h)
    } else {
        image::imageops::resize(&img, w, h, FilterType::Nearest)
    };
    (Canvas::new(w, h, small.into_raw()), zoom)
}

/// Renders every image (every frame) with its results, in parallel: a full-size PNG each, a
/// thumbnail for the gallery (in [`THUMBNAIL_DIR`]) with the results drawn at its size, and
/// the thumbnail without them (in [`PLAIN_DIR`] below it). An image that cannot be drawn has a
/// placeholder item (with `not_drawn` set) in its place.
///
/// PNGs are named `<index>_<file name>.png` (`..._frame<k>.png` for multi-frame images);
/// images that cannot be displayed are returned as one-line reasons, not errors. The
/// graphics of the answer's presentation states are drawn on the images they reference.
pub fn render_pngs(
    study: &Study,
    response: Option<&InferenceResponse>,
    out: &Path,
    labels: bool,
) -> std::io::Result<(Vec<GalleryItem>, Vec<NotDrawn>)> {
    let empty = InferenceResponse::new();
    let response = response.unwrap_or(&empty);
    let annotations: Vec<_> = read_outputs(response).into_iter().flat_map(|(o, _)| o.annotations).collect();
    let scene = Scene { response, study, annotations: &annotations, labels };
    std::fs::create_dir_all(out.join(THUMBNAIL_DIR).join(PLAIN_DIR))?;
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
                match arterys_viewer::display::render(&inst.bytes) {
                    Err(e) => {
                        let reason = e.to_string();
                        lock(&items).push((i, 0, placeholder(inst, &header(&inst.bytes), &reason)));
                        lock(&failures).push(NotDrawn {
                            path: inst.path.clone(),
                            reason,
                            is_image: !matches!(e, DisplayError::NoPixelData),
                        })
                    }
                    Ok(frames) => {
                        let head = header(&inst.bytes);
                        let count = frames.len() as u32;
                        for (f, frame) in frames.into_iter().enumerate() {
                            let (mut thumb, zoom) = thumbnail_canvas(&frame);
                            let plain_thumb = thumb.clone();
                            let view = View { zoom, spacing: head.spacing, thumbnail: true };
                            draw_scene(&mut thumb, &scene, i, f as u32 + 1, count, &view);
                            let mut canvas = Canvas::new(frame.width, frame.height, frame.rgb);
                            let view = View { spacing: head.spacing, ..View::default() };
                            draw_scene(&mut canvas, &scene, i, f as u32 + 1, count, &view);
                            let file = if count > 1 {
                                format!("{i}_{name}_frame{}.png", f + 1)
                            } else {
                                format!("{i}_{name}.png")
                            };
                            let thumbnail = format!("{THUMBNAIL_DIR}/{file}");
                            let plain = format!("{THUMBNAIL_DIR}/{PLAIN_DIR}/{file}");
                            let written = canvas
                                .to_png()
                                .and_then(|png| Ok((png, thumb.to_png()?, plain_thumb.to_png()?)))
                                .map_err(std::io::Error::other)
                                .and_then(|(png, small, bare)| {
                                    std::fs::write(out.join(&file), png)?;
                                    std::fs::write(out.join(&thumbnail), small)?;
                                    std::fs::write(out.join(&plain), bare)
                                });
                            match written {
                                Ok(()) => lock(&items).push((
                                    i,
                                    f,
                                    GalleryItem {
                                        caption: caption(inst, &head, f, count as usize),
                                        file_name: file,
                                        thumbnail,
                                        plain,
                                        not_drawn: None,
                                        size: (thumb.width, thumb.height),
                                        series_instance_uid: inst.info.series_instance_uid.clone(),
                                        sop_instance_uid: inst.info.sop_instance_uid.clone(),
                                        frame: f as u32 + 1,
                                        spacing: head.spacing,
                                    },
                                )),
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
