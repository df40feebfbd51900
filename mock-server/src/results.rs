//! What each mode answers. Every result is visible: a box on every image, a disc on every
//! image, a region that grows from the centre slice of every series, and so on.

use arterys_gateway::dicom::SortedSeries;
use arterys_gateway::{
    AnchorPoint, BoundingBox, HandlerError, InferenceResponse, LinearMeasurement, Mask, MaskPart, MaskShape, Palette,
};
use serde_json::json;

use arterys_viewer::study::{FrameRef, Study};

/// The mask kinds a mode can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// `probability_mask`, shown above 0.5.
    Probability,
    /// `boolean_mask`.
    Boolean,
    /// `heatmap` through the `heat` palette.
    Heatmap,
    /// `numeric_label_mask` with Core, Rim and Halo.
    NumericLabels,
}

/// A box in the middle quarter of every image (and frame).
pub fn boxes(study: &Study, r: &mut InferenceResponse) {
    for f in study.frames() {
        let (w, h) = (i64::from(f.info.columns), i64::from(f.info.rows));
        let mut b =
            BoundingBox::new("Mock finding", &f.info.sop_instance_uid, [w * 3 / 8, h * 3 / 8], [w * 5 / 8, h * 5 / 8]);
        b.frame_number = f.frame;
        r.add_bounding_box(b);
    }
}

/// A horizontal line across the middle half of every image.
pub fn measurements(study: &Study, r: &mut InferenceResponse) {
    for f in study.frames() {
        let (w, h) = (f64::from(f.info.columns), f64::from(f.info.rows));
        r.add_measurement(LinearMeasurement {
            sop_instance_uid: f.info.sop_instance_uid.clone(),
            frame_number: f.frame,
            label: "Mock length".into(),
            coordinates_type: arterys_gateway::CoordinatesType::Pixel,
            start: [w * 0.25, h * 0.5],
            end: [w * 0.75, h * 0.5],
            extra: Default::default(),
        });
    }
}

/// Study and series labels.
pub fn classification(study: &Study, r: &mut InferenceResponse) {
    let images = study.frames().count();
    r.set_study_ml_json(json!({
        "label": "Mock classification: no acute finding",
        "score": 0.87,
        "images": images,
    }));
    for s in &study.series {
        r.add_series_ml_json(
            &s.series_instance_uid,
            json!({"label": "Series looks fine", "slices": s.depth(), "timepoints": s.timepoints.len()}),
        );
    }
}

/// The palette the heatmap mode names.
pub fn heat_palette() -> Palette {
    Palette {
        kind: "anchorpoints".into(),
        data: vec![
            AnchorPoint { threshold: 0.0, color: [0, 0, 0, 0] },
            AnchorPoint { threshold: 0.3, color: [0, 0, 255, 96] },
            AnchorPoint { threshold: 0.6, color: [255, 255, 0, 160] },
            AnchorPoint { threshold: 1.0, color: [255, 0, 0, 224] },
        ],
    }
}

const LABELS: [(u8, &str); 3] = [(1, "Core"), (2, "Rim"), (3, "Halo")];

/// The value of a voxel at normalised distance `d` from the region's centre (1.0 = edge).
fn value(kind: MaskKind, d: f32) -> u8 {
    if d > 1.0 {
        return 0;
    }
    match kind {
        // 255 at the centre down to 128 at the edge: above the 0.5 threshold everywhere inside.
        MaskKind::Probability => (255.0 - 127.0 * d) as u8,
        MaskKind::Boolean => 1,
        MaskKind::Heatmap => (255.0 * (1.0 - d)).max(1.0) as u8,
        MaskKind::NumericLabels => match d {
            d if d < 0.4 => 1,
            d if d < 0.75 => 2,
            _ => 3,
        },
    }
}

/// Fills one `h x w` slice with a disc of `radius` pixels around the centre.
fn disc(kind: MaskKind, out: &mut [u8], w: usize, h: usize, radius: f32) {
    if radius <= 0.0 {
        return;
    }
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    for (y, row) in out.chunks_exact_mut(w).enumerate().take(h) {
        let dy = y as f32 + 0.5 - cy;
        if dy.abs() > radius {
            continue;
        }
        // Only the span of the row inside the disc is touched.
        let half = (radius * radius - dy * dy).sqrt();
        let (x0, x1) = (((cx - half).floor().max(0.0)) as usize, ((cx + half).ceil() as usize).min(w));
        for (x, v) in row.iter_mut().enumerate().take(x1).skip(x0) {
            let dx = x as f32 + 0.5 - cx;
            *v = value(kind, (dx * dx + dy * dy).sqrt() / radius);
        }
    }
}

fn part(kind: MaskKind, label: &str, mask: Mask) -> MaskPart {
    match kind {
        MaskKind::Probability => MaskPart::probability(label, mask).threshold(0.5),
        MaskKind::Boolean => MaskPart::boolean(label, mask),
        MaskKind::Heatmap => MaskPart::heatmap(label, mask).palette("heat"),
        MaskKind::NumericLabels => MaskPart::numeric_labels(label, mask, LABELS),
    }
}

fn label(kind: MaskKind) -> &'static str {
    match kind {
        MaskKind::Probability => "Mock segmentation",
        MaskKind::Boolean => "Mock region",
        MaskKind::Heatmap => "Mock attention",
        MaskKind::NumericLabels => "Mock organs",
    }
}

fn add_palette_if_needed(kind: MaskKind, r: &mut InferenceResponse) {
    if kind == MaskKind::Heatmap && r.json().palettes.as_ref().is_none_or(|p| !p.contains_key("heat")) {
        r.add_palette("heat", heat_palette());
    }
}

fn add_2d(kind: MaskKind, f: FrameRef<'_>, r: &mut InferenceResponse) -> Result<(), HandlerError> {
    let (w, h) = (f.info.columns, f.info.rows);
    let mut mask = Mask::zeros(MaskShape::image(w, h))?;
    disc(kind, mask.data_mut(), w as usize, h as usize, w.min(h) as f32 / 6.0);
    r.add_mask(part(kind, label(kind), mask).for_image(&f.info.sop_instance_uid, f.frame));
    Ok(())
}

/// One 2D part per image (and frame): a disc of a sixth of the image.
pub fn masks_2d(kind: MaskKind, study: &Study, r: &mut InferenceResponse) -> Result<(), HandlerError> {
    add_palette_if_needed(kind, r);
    study.frames().try_for_each(|f| add_2d(kind, f, r))
}

/// One 3D part per series: a ball centred on the middle slice, its radius shrinking towards
/// the first and last slices (every slice has some of it).
pub fn mask_3d(
    kind: MaskKind,
    study: &Study,
    series: &SortedSeries,
    r: &mut InferenceResponse,
) -> Result<(), HandlerError> {
    add_palette_if_needed(kind, r);
    // Sized from the first image with pixels: a series may hold instances without any.
    let Some(info) = series.timepoints.iter().flatten().map(|&i| &study.instances[i]).find(|i| i.has_pixels()) else {
        return Ok(());
    };
    let (w, h, depth) = (info.columns as usize, info.rows as usize, series.depth());
    let timepoints = series.timepoints.len();
    let shape =
        MaskShape::Volume { timepoints: timepoints as u32, depth: depth as u32, height: h as u32, width: w as u32 };
    let mut mask = Mask::zeros(shape)?;
    let max_r = w.min(h) as f32 / 4.0;
    let mid = (depth as f32 - 1.0) / 2.0;
    for (z, slice) in mask.data_mut().chunks_exact_mut(w * h).enumerate() {
        let z = z % depth.max(1);
        let t = (z as f32 - mid) / (mid + 1.0);
        disc(kind, slice, w, h, max_r * (1.0 - t * t).sqrt());
    }
    r.add_mask(part(kind, label(kind), mask).for_series(&series.series_instance_uid));
    Ok(())
}

/// Masks the way `get-probability-mask` wants them: 3D for series with geometry, 2D per image
/// for the rest.
pub fn masks_by_geometry(kind: MaskKind, study: &Study, r: &mut InferenceResponse) -> Result<(), HandlerError> {
    add_palette_if_needed(kind, r);
    for s in study.image_series() {
        if study.has_geometry(s) {
            mask_3d(kind, study, s, r)?;
        } else {
            let images: Vec<usize> = s.timepoints.iter().flatten().copied().collect();
            for f in study.frames().filter(|f| images.contains(&f.index)) {
                add_2d(kind, f, r)?;
            }
        }
    }
    Ok(())
}

/// 3D masks for every series.
pub fn masks_3d(kind: MaskKind, study: &Study, r: &mut InferenceResponse) -> Result<(), HandlerError> {
    for s in study.image_series() {
        mask_3d(kind, study, s, r)?;
    }
    Ok(())
}
