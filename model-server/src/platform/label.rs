//! A model's mask as a label image with its place in space: what MONAI Label and MLCube get
//! instead of the Arterys mask part. Probability masks become 0/1 at the output's threshold,
//! numeric label masks keep their values; heatmaps, boxes and classification are no label.

use std::collections::BTreeMap;

use arterys_gateway::{BinaryType, InferenceResponse, Part};
use bytes::Bytes;
use dicom_dictionary_std::tags;

use crate::study::Study;

/// A label volume: voxels in the Arterys mask order (timepoint, slice, row, column: x
/// fastest), the voxel-to-RAS affine, and the names of its values.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelImage {
    /// `[width, height, depth, timepoints]`.
    pub dims: [usize; 4],
    /// `dims` product values, x fastest.
    pub voxels: Vec<u8>,
    /// Voxel `(i, j, k)` to RAS millimetres (the NIfTI sform): three rows of four.
    pub affine: [[f64; 4]; 3],
    /// Label name to its voxel value (background 0 is not listed).
    pub names: BTreeMap<String, u8>,
    /// The series it labels (empty for a 2D image outside any volume).
    pub series_instance_uid: String,
    /// The Arterys part it comes from (its label).
    pub source: String,
}

/// The first probability or numeric label mask of an answer, as a label image placed by the
/// study's geometry; `None` when the answer has no such mask.
pub fn label_of(response: &InferenceResponse, study: &Study, files: &[Bytes]) -> Option<LabelImage> {
    let (part, buffer) = response
        .json()
        .parts
        .iter()
        .zip(response.buffers())
        .find(|(p, _)| matches!(p.binary_type, BinaryType::ProbabilityMask | BinaryType::NumericLabelMask))?;
    let shape = part.binary_data_shape?;
    let (w, h) = (shape.width as usize, shape.height as usize);
    let (d, t) = (shape.depth.unwrap_or(1).max(1) as usize, shape.timepoints.unwrap_or(1).max(1) as usize);
    let (voxels, names) = values(part, buffer);
    let source = part.label.clone().unwrap_or_default();
    // The instances in slice order, to place the volume (a 2D part: its one image).
    let (series_instance_uid, order): (String, Vec<usize>) = match (&part.series_instance_uid, &part.dicom_image) {
        (Some(uid), _) => {
            let series = study.series.iter().find(|s| &s.series_instance_uid == uid)?;
            (uid.clone(), series.timepoints.first().cloned().unwrap_or_default())
        }
        (None, Some(image)) => {
            let index = study.instances.iter().position(|i| i.sop_instance_uid == image.sop_instance_uid)?;
            (String::new(), vec![index])
        }
        (None, None) => return None,
    };
    let affine = affine_of(study, files, &order);
    Some(LabelImage { dims: [w, h, d, t], voxels, affine, names, series_instance_uid, source })
}

/// The label values of a mask part and their names.
fn values(part: &Part, buffer: &[u8]) -> (Vec<u8>, BTreeMap<String, u8>) {
    let label = part.label.clone().unwrap_or_else(|| "label".into());
    match (&part.binary_type, &part.label_map) {
        (BinaryType::NumericLabelMask, Some(map)) => {
            let names = map.iter().filter_map(|(k, name)| Some((name.clone(), k.parse().ok()?))).collect();
            (buffer.to_vec(), names)
        }
        _ => {
            let threshold = part.probability_threshold.unwrap_or(0.5);
            (binarize(buffer, threshold), BTreeMap::from([(label, 1)]))
        }
    }
}

/// A probability mask (0..255 for 0..1) as 0/1 at `threshold`.
pub fn binarize(mask: &[u8], threshold: f64) -> Vec<u8> {
    mask.iter().map(|&v| u8::from(f64::from(v) / 255.0 >= threshold)).collect()
}

/// The voxel-to-RAS affine of the instances `order` (slices along the normal), from their
/// ImagePositionPatient, ImageOrientationPatient and PixelSpacing. DICOM is LPS: x and y flip.
/// Without geometry (a 2D image) the spacing alone, in the LPS-to-RAS flip.
fn affine_of(study: &Study, files: &[Bytes], order: &[usize]) -> [[f64; 4]; 3] {
    let first = order.first().copied().unwrap_or(0);
    let (row_spacing, col_spacing) = files.get(first).map_or((1.0, 1.0), |b| pixel_spacing(b));
    let info = study.instances.get(first);
    let geometry = info.and_then(|i| Some((i.image_position?, i.image_orientation?)));
    let Some((origin, iop)) = geometry else {
        return [[-col_spacing, 0.0, 0.0, 0.0], [0.0, -row_spacing, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];
    };
    let (r, c) = ([iop[0], iop[1], iop[2]], [iop[3], iop[4], iop[5]]);
    let last = order.last().and_then(|&i| study.instances.get(i)?.image_position);
    let step = match last {
        Some(p) if order.len() > 1 => {
            let n = (order.len() - 1) as f64;
            [(p[0] - origin[0]) / n, (p[1] - origin[1]) / n, (p[2] - origin[2]) / n]
        }
        // One slice: a unit step along the normal.
        _ => [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]],
    };
    let mut a = [[0.0; 4]; 3];
    for axis in 0..3 {
        let flip = if axis < 2 { -1.0 } else { 1.0 };
        a[axis] = [flip * r[axis] * col_spacing, flip * c[axis] * row_spacing, flip * step[axis], flip * origin[axis]];
    }
    a
}

/// PixelSpacing (or ImagerPixelSpacing) as (between rows, between columns); 1 mm when absent.
fn pixel_spacing(bytes: &[u8]) -> (f64, f64) {
    let Ok(obj) = arterys_viewer::open_headers(bytes) else { return (1.0, 1.0) };
    [tags::PIXEL_SPACING, tags::IMAGER_PIXEL_SPACING]
        .iter()
        .find_map(|&tag| {
            let v = obj.element(tag).ok()?.to_multi_float64().ok()?;
            (v.len() == 2 && v.iter().all(|s| *s > 0.0)).then(|| (v[0], v[1]))
        })
        .unwrap_or((1.0, 1.0))
}
