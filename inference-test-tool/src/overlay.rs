//! What the viewer would show on each image: the rendered DICOM frame with every result that
//! belongs to it drawn on top.

use arterys_protocol::{BinaryType, InferenceResponse, MaskShape, Palette};

use crate::annotation::Annotation;
use crate::draw::{palette_color, Canvas};
use crate::input::Study;
use crate::labels::{label_px, Labels};
use crate::values::describe;

/// Boxes are red, as in the viewer.
pub const BOX_COLOR: [u8; 3] = [255, 0, 0];
/// Measurement lines.
pub const LINE_COLOR: [u8; 3] = [0, 255, 255];
/// Masks are laid at 50% opacity.
const MASK_ALPHA: f32 = 0.5;

/// Draws every result for `instance` (its index in send order), frame `frame` (1-based) of
/// `frames`, on `canvas`, at the image's own resolution. `labels` adds the study and series
/// `*_ml_json` as text.
pub fn draw_results(
    canvas: &mut Canvas,
    r: &InferenceResponse,
    study: &Study,
    instance: usize,
    frame: u32,
    frames: u32,
    labels: bool,
) {
    let scene = Scene { response: r, study, annotations: &[], labels };
    draw_scene(canvas, &scene, instance, frame, frames, &View::default());
}

/// Everything drawn on the images: the answer, the graphics of its presentation states.
pub struct Scene<'a> {
    /// The answer.
    pub response: &'a InferenceResponse,
    /// The study sent.
    pub study: &'a Study,
    /// The graphics of the answer's presentation states.
    pub annotations: &'a [Annotation],
    /// Draw labels and the study and series `*_ml_json` as text.
    pub labels: bool,
}

/// How an image is shown.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// Canvas pixels per image pixel (below 1 for a thumbnail of a large image).
    pub zoom: f64,
    /// Pixel Spacing (row, column) in mm, for measurement lengths.
    pub spacing: Option<[f64; 2]>,
    /// A gallery thumbnail: lines at least 2 px wide, lengths and label names written.
    pub thumbnail: bool,
}

impl Default for View {
    fn default() -> Self {
        View { zoom: 1.0, spacing: None, thumbnail: false }
    }
}

impl View {
    /// An image pixel index (protocol coordinates) on the canvas.
    fn at(&self, p: [f64; 2]) -> [f64; 2] {
        p.map(|v| (v + 0.5) * self.zoom - 0.5)
    }
}

/// The length of a measurement: in mm with Pixel Spacing, else in pixels.
pub fn length_text(start: [f64; 2], end: [f64; 2], spacing: Option<[f64; 2]>) -> String {
    let (dx, dy) = (end[0] - start[0], end[1] - start[1]);
    match spacing {
        Some([row, col]) => format!("{:.1} mm", (dx * col).hypot(dy * row)),
        None => format!("{:.1} px", dx.hypot(dy)),
    }
}

/// Draws every result for `instance`, frame `frame` of `frames`, as `view` shows it.
pub fn draw_scene(canvas: &mut Canvas, scene: &Scene<'_>, instance: usize, frame: u32, frames: u32, view: &View) {
    let (r, study, labels) = (scene.response, scene.study, scene.labels);
    let info = &study.instances[instance].info;
    let sop = info.sop_instance_uid.as_str();
    let same_frame = |f: Option<u32>| f.unwrap_or(1) == frame || (frames == 1 && f.is_none());
    let j = r.json();
    let thick = if view.thumbnail {
        (canvas.width.max(canvas.height) / 160).max(2)
    } else {
        (canvas.width.max(canvas.height) / 300).max(1)
    };
    let scale = if canvas.width >= 400 { 2 } else { 1 };
    let colors = mask_colors(r);
    for ((part, buf), color) in j.parts.iter().zip(r.buffers()).zip(colors) {
        if !part.binary_type.is_mask() {
            continue;
        }
        let color = color.unwrap_or(BOX_COLOR);
        let Some(shape) = part.binary_data_shape.map(|s| MaskShape::from_binary_data_shape(&s)) else { continue };
        let (tn, dn, h, w) = shape.dims();
        let plane = h as usize * w as usize;
        let slice: Option<&[u8]> = if let Some(img) = &part.dicom_image {
            (img.sop_instance_uid == sop && same_frame(img.frame_number)).then(|| buf.get(..plane)).flatten()
        } else if shape.is_image() {
            None
        } else if frame == 1 {
            // 3D: slice k of the mask on the k-th image of the sorted series; a mask with one
            // timepoint goes on the first timepoint's images only.
            series_position(study, part.series_instance_uid.as_deref(), instance)
                .filter(|&(t, z)| t < tn as usize && z < dn as usize)
                .and_then(|(t, z)| buf.get((t * dn as usize + z) * plane..(t * dn as usize + z + 1) * plane))
        } else {
            None
        };
        let Some(slice) = slice else { continue };
        match &part.binary_type {
            BinaryType::ProbabilityMask => {
                let cut = (part.probability_threshold.unwrap_or(0.5) * 255.0).ceil().clamp(0.0, 255.0) as u8;
                // A threshold of 0 still leaves value 0 untouched: nothing was found there.
                canvas.overlay_mask(slice, w, h, |v| (v > 0 && v >= cut).then_some((color, MASK_ALPHA)));
            }
            BinaryType::BooleanMask => canvas.overlay_mask(slice, w, h, |v| (v != 0).then_some((color, MASK_ALPHA))),
            BinaryType::NumericLabelMask => {
                canvas.overlay_mask(slice, w, h, |v| (v != 0).then(|| (palette_color(usize::from(v) - 1), MASK_ALPHA)));
                if view.thumbnail {
                    label_names(canvas, slice, w, part.label_map.as_ref(), view.zoom);
                }
            }
            BinaryType::Heatmap => {
                let lut = heatmap_lut(r, part.palette.as_deref());
                canvas.overlay_mask(slice, w, h, |v| {
                    let [r, g, b, a] = lut[usize::from(v)];
                    (a > 0).then_some(([r, g, b], f32::from(a) / 255.0))
                })
            }
            _ => {}
        }
    }

    let mut texts = Labels::new(canvas);
    for b in j.bounding_boxes_2d.iter().flatten().filter(|b| b.sop_instance_uid == sop && same_frame(b.frame_number)) {
        let [x0, y0] = view.at(b.top_left.map(|v| v as f64)).map(|v| v.round() as i64);
        let [x1, y1] = view.at(b.bottom_right.map(|v| v as f64)).map(|v| v.round() as i64);
        canvas.rect([x0, y0], [x1, y1], BOX_COLOR, thick);
        if labels {
            // Above the box, else below it, else inside: never on another label.
            let h = i64::from(Canvas::text_size_px(&b.label, label_px(canvas.width, canvas.height)).1);
            let inside = [x0 + i64::from(thick), y0 + i64::from(thick)];
            texts.put(canvas, &b.label, BOX_COLOR, &[[x0, y0 - h - 1], [x0, y1 + 2], inside]);
        }
    }
    for m in
        j.linear_measurements_2d.iter().flatten().filter(|m| m.sop_instance_uid == sop && same_frame(m.frame_number))
    {
        let (from, to) = (view.at(m.start), view.at(m.end));
        canvas.line(from, to, LINE_COLOR, thick);
        let length = length_text(m.start, m.end, view.spacing);
        let text = match (labels, view.thumbnail) {
            (true, _) => format!("{} {length}", m.label),
            (false, true) => length,
            (false, false) => String::new(),
        };
        let at = |p: [f64; 2]| [p[0] as i64 + 4, p[1] as i64 + 4];
        texts.put(canvas, &text, LINE_COLOR, &[at(to), at(from), [at(to)[0], at(to)[1] - 40]]);
    }
    for a in scene
        .annotations
        .iter()
        .filter(|a| a.sop_instance_uid == sop && (a.frames.is_empty() || a.frames.contains(&frame)))
    {
        crate::gsps::draw_annotation(canvas, a, (info.columns, info.rows), view.zoom, thick, scale);
    }
    if labels {
        // Last, so that the darkest corner is judged with every result drawn.
        if let Some(study_json) = &j.study_ml_json {
            texts.put_in_corner(canvas, &format!("study: {}", describe(study_json)), [255, 255, 255]);
        }
        if let Some(series) = j.series_ml_json.as_ref().and_then(|m| m.get(&info.series_instance_uid)) {
            texts.put_in_corner(canvas, &format!("series: {}", describe(series)), [255, 255, 0]);
        }
    }
}

/// Writes each label's name at the top of its region (nested regions such as rings share a
/// centre, their tops differ), centred on the region's pixels in that row.
fn label_names(
    canvas: &mut Canvas,
    slice: &[u8],
    w: u32,
    names: Option<&std::collections::BTreeMap<String, String>>,
    zoom: f64,
) {
    let Some(names) = names else { return };
    let w = w as usize;
    // Per value: (top row, sum of x on that row, count on that row).
    let mut tops: [Option<(usize, usize, usize)>; 256] = [None; 256];
    for (i, &v) in slice.iter().enumerate() {
        let (x, y) = (i % w.max(1), i / w.max(1));
        let t = &mut tops[usize::from(v)];
        match t {
            Some((row, sx, n)) if *row == y => *t = Some((*row, *sx + x, *n + 1)),
            None => *t = Some((y, x, 1)),
            Some(_) => {}
        }
    }
    for (v, top) in tops.iter().enumerate().skip(1) {
        let (Some((row, sx, n)), Some(name)) = (top, names.get(&v.to_string())) else { continue };
        let (x, y) = ((*sx / *n) as f64 * zoom, *row as f64 * zoom);
        let (tw, _) = Canvas::text_size(name, 1);
        canvas.text(x as i64 - i64::from(tw / 2), y as i64, name, [255, 255, 255], 1);
    }
}

/// (timepoint, slice) of an instance within the named series (or the only one).
fn series_position(study: &Study, series_uid: Option<&str>, instance: usize) -> Option<(usize, usize)> {
    let series = match series_uid {
        Some(uid) => study.series.iter().find(|s| s.series_instance_uid == uid)?,
        None if study.series.len() == 1 => study.series.first()?,
        None => return None,
    };
    series
        .timepoints
        .iter()
        .enumerate()
        .find_map(|(t, slices)| slices.iter().position(|&i| i == instance).map(|z| (t, z)))
}

/// The lowest value the JET fallback shows: a model's probabilities are rarely exactly 0, and
/// JET's dark blue would otherwise cover the whole image.
pub const JET_FLOOR: f64 = 0.25;

/// The lookup table of a heatmap: its palette's, or JET; transparent below [`heatmap_floor`].
pub fn heatmap_lut(r: &InferenceResponse, palette: Option<&str>) -> [[u8; 4]; 256] {
    let mut lut = named_palette(r, palette).map_or_else(Palette::jet_lookup_table, Palette::lookup_table);
    let floor = heatmap_floor(r, palette);
    for (v, entry) in lut.iter_mut().enumerate() {
        if (v as f64) / 255.0 < floor {
            entry[3] = 0;
        }
    }
    lut
}

/// Where a heatmap starts to show: its palette's lowest anchor that is not transparent (the
/// palette's own colours below it would tint everything the model gave a little weight), or
/// [`JET_FLOOR`] without a palette.
pub fn heatmap_floor(r: &InferenceResponse, palette: Option<&str>) -> f64 {
    match named_palette(r, palette) {
        Some(p) => p.data.iter().find(|a| a.color[3] > 0).map_or(0.0, |a| a.threshold),
        None => JET_FLOOR,
    }
}

fn named_palette<'a>(r: &'a InferenceResponse, palette: Option<&str>) -> Option<&'a Palette> {
    palette.and_then(|name| r.json().palettes.as_ref()?.get(name)).filter(|p| p.check().is_ok())
}

/// The colour of each part drawn in one colour (probability and boolean masks), `None` for
/// the others: one colour per finding (label), so that a finding's parts on many images share
/// it and the legend names it once.
pub fn mask_colors(r: &InferenceResponse) -> Vec<Option<[u8; 3]>> {
    let mut findings: Vec<&str> = Vec::new();
    r.json()
        .parts
        .iter()
        .map(|p| match p.binary_type {
            BinaryType::ProbabilityMask | BinaryType::BooleanMask => {
                let label = p.label.as_deref().unwrap_or("");
                let k = findings.iter().position(|f| *f == label).unwrap_or_else(|| {
                    findings.push(label);
                    findings.len() - 1
                });
                Some(palette_color(k))
            }
            _ => None,
        })
        .collect()
}
