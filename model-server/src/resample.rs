//! A series' geometry and its resampling to the model's spacing.
//!
//! The grid at the model's spacing has `round(n * spacing / target)` voxels along each axis, and
//! voxel centres are mapped by the ratio of the sizes (half-pixel aligned, clamped at the
//! edges), as nnU-Net's resampling does. Images are interpolated linearly; results come back to
//! the original grid linearly (probabilities) or by the nearest voxel (labels).

use arterys_gateway::dicom::InstanceInfo;

/// How far (mm) consecutive slices may be offset across the slice plane before the series
/// counts as gantry-tilted.
const TILT_TOLERANCE: f64 = 1e-3;

/// A resampled grid may hold at most this many times the voxels of the original: a file that
/// declares a huge pixel spacing cannot make the server allocate without bound.
pub(crate) const MAX_UPSAMPLING: usize = 8;

/// The spacing `[z, y, x]` (mm) of a series of single-frame slices from its slices' headers
/// (sorted along the normal) and the pixel spacing `[row, column]`. The slice spacing is the mean
/// distance between consecutive slices along the normal; `1` for a single slice.
pub(crate) fn series_spacing(slices: &[&InstanceInfo], pixel: [f64; 2]) -> Result<[f64; 3], String> {
    let mut positions = Vec::with_capacity(slices.len());
    for s in slices {
        positions.push(s.slice_position().ok_or("a slice has no position (ImagePositionPatient)")?);
    }
    if let [first, .., last] = positions.as_slice() {
        check_tilt(slices)?;
        let z = (last - first).abs() / (positions.len() - 1) as f64;
        if !(z.is_finite() && z > 0.0) {
            return Err("its slices share one position".into());
        }
        Ok([z, pixel[0], pixel[1]])
    } else {
        Ok([1.0, pixel[0], pixel[1]])
    }
}

/// Refuses a series whose slices are offset across the slice plane (a gantry tilt): the grid
/// is then not a box, and resampling it as one would shear the anatomy.
fn check_tilt(slices: &[&InstanceInfo]) -> Result<(), String> {
    let (Some(o), Some(p0)) = (slices[0].image_orientation, slices[0].image_position) else {
        return Err("a slice has no orientation or position".into());
    };
    let n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
    for s in &slices[1..] {
        let Some(p) = s.image_position else { return Err("a slice has no position".into()) };
        let d = [p[0] - p0[0], p[1] - p0[1], p[2] - p0[2]];
        let along = d[0] * n[0] + d[1] * n[1] + d[2] * n[2];
        let across =
            ((d[0] - along * n[0]).powi(2) + (d[1] - along * n[1]).powi(2) + (d[2] - along * n[2]).powi(2)).sqrt();
        if across > TILT_TOLERANCE + 1e-3 * along.abs() {
            return Err(format!(
                "the series is gantry-tilted (its slices are offset by {across:.2} mm across the slice plane); \
                 resample it to an orthogonal grid first"
            ));
        }
    }
    Ok(())
}

/// The pixel spacing `[row, column]` (mm) an image declares: PixelSpacing, else the shared or
/// first per-frame Pixel Measures.
pub(crate) fn pixel_spacing(obj: &dicom_object::InMemDicomObject) -> Option<[f64; 2]> {
    use dicom_dictionary_std::tags;
    let direct = || obj.element_opt(tags::PIXEL_SPACING).ok()??.to_multi_float64().ok();
    let grouped = |sequence| {
        let group = obj.element_opt(sequence).ok()??.items()?.first()?.clone();
        let measures = group.element_opt(tags::PIXEL_MEASURES_SEQUENCE).ok()??.items()?.first()?.clone();
        measures.element_opt(tags::PIXEL_SPACING).ok()??.to_multi_float64().ok()
    };
    let v = direct()
        .or_else(|| grouped(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE))
        .or_else(|| grouped(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE))?;
    let s: [f64; 2] = v.get(..2)?.try_into().ok()?;
    s.iter().all(|v| v.is_finite() && *v > 0.0).then_some(s)
}

/// The size along one axis at the target spacing (at least 1).
pub(crate) fn target_len(n: usize, spacing: f64, target: f64) -> usize {
    ((n as f64 * spacing / target).round() as usize).max(1)
}

/// The source coordinate of voxel `i` of `to` voxels mapped onto `from` voxels (half-pixel
/// aligned, clamped): the lower neighbour and the weight of the upper one.
pub(crate) fn source(i: usize, from: usize, to: usize) -> (usize, usize, f32) {
    let pos = ((i as f64 + 0.5) * from as f64 / to as f64 - 0.5).clamp(0.0, (from.max(1) - 1) as f64);
    let lo = pos.floor() as usize;
    (lo, (lo + 1).min(from.saturating_sub(1)), (pos - pos.floor()) as f32)
}

/// The nearest source voxel of voxel `i` of `to` mapped onto `from`.
pub(crate) fn nearest(i: usize, from: usize, to: usize) -> usize {
    let (lo, hi, f) = source(i, from, to);
    if f >= 0.5 {
        hi
    } else {
        lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(z: f64, x: f64) -> InstanceInfo {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/arterys/test_3d/1.dcm"))
            .unwrap_or_default();
        let mut info = InstanceInfo::read(&bytes).unwrap_or_else(|e| panic!("{e}"));
        info.image_orientation = Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        info.image_position = Some([x, 0.0, z]);
        info
    }

    #[test]
    fn spacing_comes_from_positions_and_a_tilt_is_refused() {
        let straight = [slice(0.0, 0.0), slice(2.5, 0.0), slice(5.0, 0.0)];
        let refs: Vec<&InstanceInfo> = straight.iter().collect();
        assert_eq!(series_spacing(&refs, [0.7, 0.7]), Ok([2.5, 0.7, 0.7]));
        let tilted = [slice(0.0, 0.0), slice(2.5, 0.4), slice(5.0, 0.8)];
        let refs: Vec<&InstanceInfo> = tilted.iter().collect();
        let e = series_spacing(&refs, [0.7, 0.7]).err().unwrap_or_default();
        assert!(e.starts_with("the series is gantry-tilted"), "{e}");
    }

    #[test]
    fn grids_map_by_their_size_ratio() {
        assert_eq!(target_len(40, 2.5, 1.5), 67);
        assert_eq!(source(0, 4, 8), (0, 1, 0.0));
        assert_eq!(source(3, 4, 8), (1, 2, 0.25));
        assert_eq!(nearest(7, 4, 8), 3);
    }
}
