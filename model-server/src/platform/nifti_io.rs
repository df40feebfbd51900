//! NIfTI-1 in and out: a label image written as `.nii.gz`, and an uploaded NIfTI volume turned
//! into a DICOM series (one instance per slice, its geometry from the affine) so the model runs
//! on it exactly as on DICOM.

use arterys_gateway::budget::{BudgetError, Reservation};
use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use ndarray::{Array, IxDyn};
use nifti::writer::WriterOptions;
use nifti::{InMemNiftiObject, IntoNdArray, NiftiHeader, NiftiObject};

use super::label::LabelImage;

/// A NIfTI file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NiftiError {
    /// The upload is not a NIfTI-1 volume we can read.
    #[error("not a readable NIfTI-1 volume: {0}")]
    Read(String),
    /// The volume's shape is not a 2D or 3D image.
    #[error("NIfTI volume of shape {0:?}: expected 2 or 3 dimensions (a 4th of size 1 is fine)")]
    Shape(Vec<usize>),
    /// No room in the memory budget for the decoded volume.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// Writing failed.
    #[error("cannot write the NIfTI label: {0}")]
    Write(String),
}

/// An uploaded NIfTI volume: its header (the label is written on it, so it lies exactly on
/// the image) and one DICOM instance per slice, slice `k` at index `k`.
pub struct NiftiInput {
    /// The input's header.
    pub header: NiftiHeader,
    /// `(x, y, z)` sizes.
    pub dims: [usize; 3],
    /// Part 10 files, one per slice.
    pub slices: Vec<Bytes>,
}

/// Bytes per voxel the conversion holds at its peak: the volume as `f32` and the slices as
/// 16-bit pixels.
const BYTES_PER_VOXEL: u64 = 4 + 2;

/// Reads an uncompressed `.nii` volume (see [`Upload::read`](super::upload::Upload::read) for
/// `.nii.gz`). The memory the conversion takes (a copy of the volume, the volume as `f32`,
/// the slices), from the header's dimensions, is reserved in `memory` (when given) before
/// any of it is allocated.
pub fn read_raw(raw: Vec<u8>, memory: Option<&mut Reservation>) -> Result<NiftiInput, NiftiError> {
    let header = NiftiHeader::from_reader(raw.as_slice()).map_err(|e| NiftiError::Read(e.to_string()))?;
    let rank = usize::from(header.dim[0]).clamp(1, 7);
    let voxels = header.dim[1..=rank].iter().fold(1u64, |n, &d| n.saturating_mul(u64::from(d)));
    if let Some(m) = memory {
        m.try_grow((raw.len() as u64).saturating_add(voxels.saturating_mul(BYTES_PER_VOXEL)))?;
    }
    let obj = InMemNiftiObject::from_reader(raw.as_slice()).map_err(|e| NiftiError::Read(e.to_string()))?;
    drop(raw);
    let header = obj.header().clone();
    let data: Array<f32, IxDyn> =
        obj.into_volume().into_ndarray::<f32>().map_err(|e| NiftiError::Read(e.to_string()))?;
    let shape = data.shape().to_vec();
    let dims = match shape.as_slice() {
        [x, y] => [*x, *y, 1],
        [x, y, z] | [x, y, z, 1] => [*x, *y, *z],
        _ => return Err(NiftiError::Shape(shape)),
    };
    let rank = shape.len();
    let at = |i: usize, j: usize, k: usize| match rank {
        2 => data[[i, j].as_slice()],
        3 => data[[i, j, k].as_slice()],
        _ => data[[i, j, k, 0].as_slice()],
    };
    let affine = sform(&header);
    let (min, max) = data.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let slope = if max > min { f64::from(max - min) / 65535.0 } else { 1.0 };
    let series = uid("2");
    let study = uid("1");
    let mut slices = Vec::with_capacity(dims[2]);
    for k in 0..dims[2] {
        let mut pixels = Vec::with_capacity(dims[0] * dims[1]);
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                let v = f64::from(at(i, j, k) - min) / slope;
                pixels.push(v.round().clamp(0.0, 65535.0) as u16);
            }
        }
        let slice = Slice { dims, k, affine, slope, intercept: f64::from(min), pixels };
        slices.push(slice.dicom(&study, &series).map_err(NiftiError::Read)?);
    }
    Ok(NiftiInput { header, dims, slices })
}

/// The voxel-to-RAS affine of a header: its sform, else the pixel sizes.
fn sform(h: &NiftiHeader) -> [[f64; 4]; 3] {
    if h.sform_code > 0 {
        let row = |r: [f32; 4]| r.map(f64::from);
        return [row(h.srow_x), row(h.srow_y), row(h.srow_z)];
    }
    let p = |i: usize| f64::from(h.pixdim[i]).abs().max(f64::MIN_POSITIVE);
    [[p(1), 0.0, 0.0, 0.0], [0.0, p(2), 0.0, 0.0], [0.0, 0.0, p(3), 0.0]]
}

/// One slice of a NIfTI volume, to become a DICOM instance.
struct Slice {
    dims: [usize; 3],
    k: usize,
    affine: [[f64; 4]; 3],
    slope: f64,
    intercept: f64,
    pixels: Vec<u16>,
}

impl Slice {
    /// The slice as a Part 10 file: geometry from the affine (RAS to DICOM's LPS).
    fn dicom(&self, study: &str, series: &str) -> Result<Bytes, String> {
        let a = &self.affine;
        let lps = |v: [f64; 3]| [-v[0], -v[1], v[2]];
        let column = |c: usize| lps([a[0][c], a[1][c], a[2][c]]);
        let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(f64::MIN_POSITIVE);
        let (di, dj) = (column(0), column(1));
        let (si, sj) = (norm(di), norm(dj));
        let k = self.k as f64;
        let origin = lps([a[0][3] + k * a[0][2], a[1][3] + k * a[1][2], a[2][3] + k * a[2][2]]);
        let iop = [di[0] / si, di[1] / si, di[2] / si, dj[0] / sj, dj[1] / sj, dj[2] / sj];
        let sop = format!("{series}.{}", self.k + 1);
        let mut obj = InMemDicomObject::new_empty();
        let s = |v: &str| PrimitiveValue::from(v.to_owned());
        let ds = |values: &[f64]| PrimitiveValue::Strs(values.iter().map(|v| decimal(*v)).collect());
        obj.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, s(SECONDARY_CAPTURE)));
        obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, s(&sop)));
        obj.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, s(study)));
        obj.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, s(series)));
        obj.put(DataElement::new(tags::MODALITY, VR::CS, s("OT")));
        obj.put(DataElement::new(tags::INSTANCE_NUMBER, VR::IS, s(&(self.k + 1).to_string())));
        obj.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&origin)));
        obj.put(DataElement::new(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&iop)));
        obj.put(DataElement::new(tags::PIXEL_SPACING, VR::DS, ds(&[sj, si])));
        obj.put(DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)));
        obj.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, s("MONOCHROME2")));
        obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(self.dims[1] as u16)));
        obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(self.dims[0] as u16)));
        obj.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)));
        obj.put(DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)));
        obj.put(DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)));
        obj.put(DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16)));
        obj.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, ds(&[self.intercept])));
        obj.put(DataElement::new(tags::RESCALE_SLOPE, VR::DS, ds(&[self.slope])));
        obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(self.pixels.clone().into())));
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(EXPLICIT_VR_LE)
            .media_storage_sop_class_uid(SECONDARY_CAPTURE)
            .media_storage_sop_instance_uid(sop.as_str());
        let file = obj.with_meta(meta).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        file.write_all(&mut out).map_err(|e| e.to_string())?;
        Ok(Bytes::from(out))
    }
}

const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// A UID under the UUID-derived root (2.25), unique per call.
fn uid(kind: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("2.25.{nanos}{n}.{kind}")
}

/// A DS value (at most 16 characters).
fn decimal(v: f64) -> String {
    (0..=10)
        .rev()
        .map(|p| {
            let s = format!("{v:.p$}");
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_owned()
            } else {
                s
            }
        })
        .find(|s| s.len() <= 16)
        .unwrap_or_else(|| format!("{v:.3e}"))
}

/// The label as `.nii.gz` bytes: on `reference` (the input's header, for NIfTI input) or on
/// its own affine (DICOM input). A single timepoint is written as a 3D volume.
pub fn write_label(label: &LabelImage, reference: Option<&NiftiHeader>) -> Result<Vec<u8>, NiftiError> {
    let [w, h, d, t] = label.dims;
    let shape: Vec<usize> = if t > 1 { vec![t, d, h, w] } else { vec![d, h, w] };
    // The voxels are C order over (t, z, y, x); NIfTI axes are (x, y, z, t).
    let data = Array::from_shape_vec(IxDyn(&shape), label.voxels.clone())
        .map_err(|e| NiftiError::Write(e.to_string()))?
        .reversed_axes();
    let header = reference.cloned().unwrap_or_else(|| header_of(label));
    let dir = std::env::temp_dir();
    let path = dir.join(format!("model-server-label-{}-{}.nii.gz", std::process::id(), uid("0")));
    let written = WriterOptions::new(&path)
        .reference_header(&header)
        .write_nifti(&data)
        .map_err(|e| NiftiError::Write(e.to_string()))
        .and_then(|()| std::fs::read(&path).map_err(|e| NiftiError::Write(e.to_string())));
    let _ = std::fs::remove_file(&path);
    written
}

/// A header placing the label by its affine (sform, scanner space, millimetres).
fn header_of(label: &LabelImage) -> NiftiHeader {
    let a = &label.affine;
    let row = |r: [f64; 4]| r.map(|v| v as f32);
    let size = |c: usize| (a[0][c].powi(2) + a[1][c].powi(2) + a[2][c].powi(2)).sqrt() as f32;
    let mut header = NiftiHeader {
        srow_x: row(a[0]),
        srow_y: row(a[1]),
        srow_z: row(a[2]),
        sform_code: 1,
        qform_code: 0,
        xyzt_units: 2,
        ..NiftiHeader::default()
    };
    header.pixdim[1..4].copy_from_slice(&[size(0), size(1), size(2)]);
    header
}
