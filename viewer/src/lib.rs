//! # arterys-viewer: DICOM as the viewer shows it
//!
//! Reading an instance from bytes (Part 10 or a bare dataset), the identifiers and geometry
//! a service needs without decoding pixels ([`InstanceInfo`]), the study ordering the
//! protocol's clients use ([`sort`]) and a request's images read once in that order
//! ([`study`]), the display pipeline ([`display`]: decode, modality rescale, VOI window,
//! photometric interpretation, frames) and DICOM Secondary Captures ([`capture`]). Used by
//! the test tool, the mock server and the model server; the gateway re-exports it as
//! `arterys_gateway::dicom` with its `dicom` feature.
//!
//! Every codec is pure Rust: JPEG baseline and lossless, 12-bit JPEG, JPEG-LS, JPEG 2000 and
//! RLE. The `test-fixtures` feature adds `synthetic` (CT slices made up for tests and
//! benchmarks) and `hostile` (files crafted against readers): for tests, not part of the API.
//!
//! **Dependencies**: dicom-rs and the protocol crate. Never HTTP, an async runtime, the
//! gateway or anything built on it: a client (the test tool) reads studies with it as much as
//! a server does.

use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};

pub use dicom_object;

pub mod capture;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod hostile;
pub mod limits;
mod once;
pub mod sort;
pub mod study;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod synthetic;
mod un;

pub mod display;

pub use once::ReadOnce;
pub use sort::{sort_study, SortedSeries};

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why bytes could not be read as DICOM, or a DICOM file could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DicomError {
    /// dicom-rs could not parse the bytes (cut short, or broken).
    #[error("not a readable DICOM file: {0}")]
    Read(#[source] Cause),
    /// Neither a Part 10 file nor a dataset at the start.
    #[error("not a readable DICOM file: no DICM preamble and no dataset at the start")]
    NotDicom,
    /// A required attribute is missing.
    #[error("DICOM attribute {0} is missing")]
    Missing(&'static str),
    /// dicom-rs could not write the file.
    #[error("cannot write the DICOM file: {0}")]
    Write(#[source] Cause),
    /// Capture pixels that do not match their stated size.
    #[error("capture pixels: {len} bytes for {width}x{height}x{samples}")]
    CapturePixels {
        /// Bytes given.
        len: usize,
        /// Columns.
        width: u32,
        /// Rows.
        height: u32,
        /// Samples per pixel.
        samples: u16,
    },
    /// Declared sizes the bytes do not back ([`limits`]).
    #[error("{0}")]
    Limits(#[from] limits::LimitError),
    /// A capture larger than DICOM's 65535 rows or columns.
    #[error("capture of {width}x{height} is too large for DICOM")]
    CaptureTooLarge {
        /// Columns.
        width: u32,
        /// Rows.
        height: u32,
    },
}

fn read_err(e: impl std::error::Error + Send + Sync + 'static) -> DicomError {
    DicomError::Read(Box::new(e))
}

fn write_err(e: impl std::error::Error + Send + Sync + 'static) -> DicomError {
    DicomError::Write(Box::new(e))
}

/// Reads a whole instance (pixel data included) from bytes: a Part 10 file, the same without
/// its 128-byte preamble, or a bare dataset (see `open_bare`: Implicit or Explicit VR Little
/// Endian, after at most a few stray bytes; file meta is then made up from the dataset).
///
/// Declared sizes are checked first ([`limits`]): an element longer than the bytes after it,
/// or an image module the pixel data does not back, is an error before anything is allocated.
pub fn open(bytes: &[u8]) -> Result<DefaultDicomObject, DicomError> {
    let (obj, scan) = open_with(bytes, OpenFileOptions::new(), false)?;
    scan.check(limits::DEFAULT_MAX_DECODED_BYTES)?;
    Ok(obj)
}

/// Like [`open`] but stops before the pixel data: cheap, for headers only. The lengths of the
/// headers read are checked; the pixel data is not looked at.
pub fn open_headers(bytes: &[u8]) -> Result<DefaultDicomObject, DicomError> {
    Ok(open_with(bytes, OpenFileOptions::new().read_until(tags::PIXEL_DATA), true)?.0)
}

/// Walks the file's headers ([`limits`]) and only then lets dicom-rs read it; elements written
/// with VR UN are then re-read with their dictionary VR.
fn open_with(
    bytes: &[u8],
    options: OpenFileOptions,
    headers_only: bool,
) -> Result<(DefaultDicomObject, limits::Scan), DicomError> {
    let (mut obj, scan) = open_any(bytes, options, headers_only)?;
    un::resolve_unknown_vrs(&mut obj);
    Ok((obj, scan))
}

fn open_any(
    bytes: &[u8],
    options: OpenFileOptions,
    headers_only: bool,
) -> Result<(DefaultDicomObject, limits::Scan), DicomError> {
    if let Some(start) = limits::part10_body(bytes) {
        let scan = limits::scan_layout(bytes, limits::Layout::Part10 { body: start }, headers_only)?;
        let body = &bytes[start..];
        // The walk above held every length (meta included) to the bytes, in the syntax the
        // dataset really has: a dataset walked as Implicit VR is only read as Implicit VR
        // (read as its meta says, its lengths would be ones nobody checked).
        if scan.implicit_under_explicit_meta() {
            let unreadable = || read_err(std::io::Error::other("an Implicit VR dataset under an Explicit VR meta"));
            return open_vr_mismatch(body).map(|obj| (obj, scan)).ok_or_else(unreadable);
        }
        return match options.read_preamble(ReadPreamble::Never).from_reader(body) {
            Ok(obj) => Ok((obj, scan)),
            Err(err) => Err(read_err(err)),
        };
    }
    open_bare(bytes)
}

/// A file whose meta names an Explicit VR Little Endian transfer syntax (native or
/// compressed) but whose dataset is Implicit VR (some writers do this; mainstream readers
/// accept it): the dataset read as Implicit VR, the meta kept.
fn open_vr_mismatch(body: &[u8]) -> Option<DefaultDicomObject> {
    use dicom_dictionary_std::uids;
    use dicom_transfer_syntax_registry::{entries, TransferSyntaxIndex, TransferSyntaxRegistry};
    let mut rest = body;
    let meta = dicom_object::FileMetaTable::from_reader(&mut rest).ok()?;
    let ts = TransferSyntaxRegistry.get(meta.transfer_syntax())?;
    let implicit = rest.get(4..6).is_some_and(|vr| !vr.iter().all(u8::is_ascii_uppercase));
    // Every other known transfer syntax is Explicit VR Little Endian without deflate.
    let other = [uids::IMPLICIT_VR_LITTLE_ENDIAN, "1.2.840.10008.1.2.2", uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN];
    if other.contains(&ts.uid()) || !implicit {
        return None;
    }
    let dataset = InMemDicomObject::read_dataset_with_ts(rest, &entries::IMPLICIT_VR_LITTLE_ENDIAN.erased()).ok()?;
    Some(dataset.with_exact_meta(meta))
}

/// Most stray bytes tolerated before a bare dataset.
const MAX_LEADING_JUNK: usize = 8;

/// The candidate starts of a bare dataset: after up to [`MAX_LEADING_JUNK`] stray bytes,
/// where a group 0002 or 0008 element begins, in the syntax its first header suggests.
fn bare_candidates(bytes: &[u8]) -> impl Iterator<Item = limits::Layout> + '_ {
    (0..=MAX_LEADING_JUNK).filter_map(move |skip| {
        let body = bytes.get(skip..)?;
        let group = u16::from_le_bytes([*body.first()?, *body.get(1)?]);
        if group != 0x0002 && group != 0x0008 {
            return None;
        }
        let explicit = body.get(4..6).is_some_and(|vr| vr.iter().all(u8::is_ascii_uppercase));
        let syntax = if explicit { limits::Syntax::ExplicitLe } else { limits::Syntax::ImplicitLe };
        Some(limits::Layout::Bare { start: skip, syntax })
    })
}

/// The first place a bare dataset could start (for [`limits::scan`]).
pub(crate) fn bare_layout(bytes: &[u8]) -> Option<limits::Layout> {
    bare_candidates(bytes).next()
}

/// A dataset without file meta (file meta is then made up from it): Implicit or Explicit VR
/// Little Endian, told apart by the first element's VR letters, after up to
/// [`MAX_LEADING_JUNK`] stray leading bytes. A start is only accepted where a group 0002 or
/// 0008 element begins, so arbitrary bytes are not taken for DICOM. A start whose declared
/// lengths do not fit is not read; if no start reads, the first such error is returned.
fn open_bare(bytes: &[u8]) -> Result<(DefaultDicomObject, limits::Scan), DicomError> {
    use dicom_transfer_syntax_registry::entries;
    let mut refused = None;
    for layout in bare_candidates(bytes) {
        let limits::Layout::Bare { start, syntax } = layout else { continue };
        // dicom-rs reads a bare dataset whole (it has no read-until here): walk all of it.
        let scan = match limits::scan_layout(bytes, limits::Layout::Bare { start, syntax }, false) {
            Ok(scan) => scan,
            Err(e) => {
                refused.get_or_insert(e);
                continue;
            }
        };
        let (ts, uid) = if syntax == limits::Syntax::ExplicitLe {
            (entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(), dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN)
        } else {
            (entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(), dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN)
        };
        let Ok(obj) = InMemDicomObject::read_dataset_with_ts(&bytes[start..], &ts) else { continue };
        let (Some(sop_class), Some(sop_instance)) =
            (string(&obj, tags::SOP_CLASS_UID), string(&obj, tags::SOP_INSTANCE_UID))
        else {
            continue;
        };
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(sop_class)
            .media_storage_sop_instance_uid(sop_instance)
            .transfer_syntax(uid);
        // Only the first start that reads is tried (as before): its meta decides.
        return obj.with_meta(meta).map(|o| (o, scan)).map_err(|_| DicomError::NotDicom);
    }
    Err(refused.map_or(DicomError::NotDicom, DicomError::Limits))
}

/// The Image Pixel module's attributes for unsigned pixels (row-major; colour interleaved).
pub(crate) fn put_pixel_module(
    obj: &mut InMemDicomObject,
    (rows, cols): (u16, u16),
    samples: u16,
    (bits_allocated, bits_stored): (u16, u16),
    photometric: &str,
) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let us = |v: u16| PrimitiveValue::from(v);
    obj.put(DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, us(samples)));
    obj.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from(photometric)));
    if samples > 1 {
        obj.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, us(0)));
    }
    obj.put(DataElement::new(tags::ROWS, VR::US, us(rows)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, us(cols)));
    obj.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, us(bits_allocated)));
    obj.put(DataElement::new(tags::BITS_STORED, VR::US, us(bits_stored)));
    obj.put(DataElement::new(tags::HIGH_BIT, VR::US, us(bits_stored - 1)));
    obj.put(DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, us(0)));
}

/// `obj` as a Part 10 file in Explicit VR Little Endian.
pub(crate) fn to_part10(obj: InMemDicomObject, sop_class: &str, sop_instance: &str) -> Result<Vec<u8>, DicomError> {
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(sop_class)
                .media_storage_sop_instance_uid(sop_instance)
                .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN),
        )
        .map_err(write_err)?;
    let mut out = Vec::new();
    file.write_all(&mut out).map_err(write_err)?;
    Ok(out)
}

/// A text attribute, trimmed of DICOM padding.
pub fn string(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let v = obj.element_opt(tag).ok()??.to_str().ok()?;
    let v = v.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!v.is_empty()).then(|| v.to_owned())
}

fn floats<const N: usize>(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<[f64; N]> {
    obj.element_opt(tag).ok()??.to_multi_float64().ok()?.try_into().ok()
}

fn first_float(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<f64> {
    obj.element_opt(tag).ok()??.to_multi_float64().ok()?.first().copied()
}

fn int(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<i64> {
    obj.element_opt(tag).ok()??.to_int::<i64>().ok()
}

/// What a service needs to know about an instance without decoding its pixels. Holds no
/// patient data.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceInfo {
    /// SOPInstanceUID.
    pub sop_instance_uid: String,
    /// SOPClassUID.
    pub sop_class_uid: Option<String>,
    /// SeriesInstanceUID (empty if the file has none).
    pub series_instance_uid: String,
    /// StudyInstanceUID.
    pub study_instance_uid: Option<String>,
    /// Modality (CT, MR, CR...).
    pub modality: Option<String>,
    /// Rows (0 for instances without pixels).
    pub rows: u32,
    /// Columns.
    pub columns: u32,
    /// NumberOfFrames (1 when absent).
    pub number_of_frames: u32,
    /// ImagePositionPatient.
    pub image_position: Option<[f64; 3]>,
    /// ImageOrientationPatient (row then column direction cosines).
    pub image_orientation: Option<[f64; 6]>,
    /// InstanceNumber.
    pub instance_number: Option<i64>,
    /// TemporalPositionIdentifier, for dynamic series.
    pub temporal_position: Option<i64>,
    /// The first VOI window, `[center, width]`, when the file has one.
    pub window: Option<[f64; 2]>,
}

impl InstanceInfo {
    /// Reads the headers of an instance (stops before the pixel data).
    ///
    /// ```
    /// let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/arterys/test_3d/1.dcm")).unwrap();
    /// let info = arterys_viewer::InstanceInfo::read(&bytes).unwrap();
    /// assert_eq!((info.rows, info.columns), (512, 512));
    /// assert!(info.slice_position().is_some());
    /// ```
    ///
    /// Rows, Columns and NumberOfFrames are only taken when the pixel data backs them
    /// ([`limits::Scan::check`]): whatever is sized from them is sized from real bytes.
    pub fn read(bytes: &[u8]) -> Result<Self, DicomError> {
        let (obj, scan) = open_with(bytes, OpenFileOptions::new().read_until(tags::PIXEL_DATA), false)?;
        scan.check(limits::DEFAULT_MAX_DECODED_BYTES)?;
        Self::from_object(&obj)
    }

    /// The same from an object already read.
    pub fn from_object(obj: &InMemDicomObject) -> Result<Self, DicomError> {
        Ok(Self {
            sop_instance_uid: string(obj, tags::SOP_INSTANCE_UID).ok_or(DicomError::Missing("SOPInstanceUID"))?,
            sop_class_uid: string(obj, tags::SOP_CLASS_UID),
            series_instance_uid: string(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            study_instance_uid: string(obj, tags::STUDY_INSTANCE_UID),
            modality: string(obj, tags::MODALITY),
            rows: int(obj, tags::ROWS).and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            columns: int(obj, tags::COLUMNS).and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            number_of_frames: int(obj, tags::NUMBER_OF_FRAMES).and_then(|v| u32::try_from(v).ok()).unwrap_or(1).max(1),
            image_position: floats(obj, tags::IMAGE_POSITION_PATIENT),
            image_orientation: floats(obj, tags::IMAGE_ORIENTATION_PATIENT),
            instance_number: int(obj, tags::INSTANCE_NUMBER),
            temporal_position: int(obj, tags::TEMPORAL_POSITION_IDENTIFIER),
            window: first_float(obj, tags::WINDOW_CENTER)
                .zip(first_float(obj, tags::WINDOW_WIDTH))
                .filter(|(_, w)| *w > 0.0)
                .map(|(c, w)| [c, w]),
        })
    }

    /// The slice normal: the cross product of the row and column direction cosines.
    pub fn slice_normal(&self) -> Option<[f64; 3]> {
        let o = self.image_orientation?;
        let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
        Some([r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]])
    }

    /// The position along the slice normal (dot product with ImagePositionPatient).
    pub fn slice_position(&self) -> Option<f64> {
        let n = self.slice_normal()?;
        let p = self.image_position?;
        Some(n[0] * p[0] + n[1] * p[1] + n[2] * p[2])
    }

    /// Whether the instance has pixels to show.
    pub fn has_pixels(&self) -> bool {
        self.rows > 0 && self.columns > 0
    }
}

/// This crate's README example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
