//! Writing DICOM Secondary Capture files: results burned into an image (the
//! `dicom_secondary_capture` output), or a plain JPEG/PNG turned into DICOM.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use sha2::{Digest, Sha256};

use crate::DicomError;

/// 8-bit pixels for a capture: 1 sample (MONOCHROME2) or 3 (RGB, interleaved), row-major.
#[derive(Debug, Clone, Copy)]
pub struct CaptureImage<'a> {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// 1 (gray) or 3 (RGB).
    pub samples: u16,
    /// `width * height * samples` bytes.
    pub pixels: &'a [u8],
}

/// The identifiers of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureIds {
    /// The study it belongs to.
    pub study_instance_uid: String,
    /// Its own series.
    pub series_instance_uid: String,
    /// Its own instance.
    pub sop_instance_uid: String,
}

/// Patient and study attributes a capture (or any output) takes from its source so that the
/// viewer files it with the study (copied, never logged).
pub const COPIED: [Tag; 10] = [
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::STUDY_INSTANCE_UID,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::STUDY_ID,
    tags::ACCESSION_NUMBER,
    tags::REFERRING_PHYSICIAN_NAME,
];

/// A UID under the `2.25` root derived from `seed`: the same seed always gives the same UID.
///
/// ```
/// let a = arterys_viewer::capture::derived_uid("x");
/// assert!(a.starts_with("2.25.") && a.len() <= 64);
/// assert_eq!(a, arterys_viewer::capture::derived_uid("x"));
/// ```
pub fn derived_uid(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    let mut n = [0u8; 16];
    n.copy_from_slice(&d[..16]);
    format!("2.25.{}", u128::from_be_bytes(n))
}

/// A Secondary Capture Part 10 file (Explicit VR Little Endian) of `image`. With `source`,
/// the patient and study attributes are copied from it.
pub fn secondary_capture(
    image: CaptureImage<'_>,
    ids: &CaptureIds,
    source: Option<&InMemDicomObject>,
    description: &str,
) -> Result<Vec<u8>, DicomError> {
    let expected = image.width as usize * image.height as usize * usize::from(image.samples);
    if !matches!(image.samples, 1 | 3) || image.pixels.len() != expected {
        let (len, width, height, samples) = (image.pixels.len(), image.width, image.height, image.samples);
        return Err(DicomError::CapturePixels { len, width, height, samples });
    }
    let too_big = |_| DicomError::CaptureTooLarge { width: image.width, height: image.height };
    let (rows, cols) = (u16::try_from(image.height).map_err(too_big)?, u16::try_from(image.width).map_err(too_big)?);
    let mut obj = InMemDicomObject::new_empty();
    for tag in COPIED {
        if let Some(e) = source.and_then(|s| s.element_opt(tag).ok().flatten()) {
            obj.put(e.clone());
        }
    }
    let mut put = |tag, vr, v: PrimitiveValue| obj.put(DataElement::new(tag, vr, v));
    put(tags::SOP_CLASS_UID, VR::UI, uids::SECONDARY_CAPTURE_IMAGE_STORAGE.into());
    put(tags::SOP_INSTANCE_UID, VR::UI, ids.sop_instance_uid.as_str().into());
    put(tags::SERIES_INSTANCE_UID, VR::UI, ids.series_instance_uid.as_str().into());
    put(tags::STUDY_INSTANCE_UID, VR::UI, ids.study_instance_uid.as_str().into());
    put(tags::MODALITY, VR::CS, "OT".into());
    put(tags::CONVERSION_TYPE, VR::CS, "WSD".into());
    put(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs((&["DERIVED".to_owned(), "SECONDARY".to_owned()][..]).into()));
    put(tags::SERIES_DESCRIPTION, VR::LO, description.into());
    put(tags::SERIES_NUMBER, VR::IS, "999".into());
    put(tags::INSTANCE_NUMBER, VR::IS, "1".into());
    let photometric = if image.samples == 3 { "RGB" } else { "MONOCHROME2" };
    crate::put_pixel_module(&mut obj, (rows, cols), image.samples, (8, 8), photometric);
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(image.pixels.into())));
    crate::to_part10(obj, uids::SECONDARY_CAPTURE_IMAGE_STORAGE, &ids.sop_instance_uid)
}
