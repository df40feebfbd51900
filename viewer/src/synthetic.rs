//! Synthetic studies for tests and benchmarks: real Part 10 files written with dicom-object,
//! so nothing large is ever committed.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use crate::DicomError;

/// One slice of a synthetic CT series: `rows x cols`, 16-bit, Explicit VR Little Endian, with
/// geometry (slice `index` at z = index mm) and a bright disc whose radius changes along z,
/// so that every slice differs. The patient is made up (name `Synthetic^Phantom`, ID
/// `SYNTH-0001`, born 1947-03-12), so that tests can check none of it reaches a log.
///
/// ```
/// let s = arterys_viewer::synthetic::ct_slice("1.2.826.0.1.3680043.10.1", 3, 64, 64).unwrap();
/// let info = arterys_viewer::InstanceInfo::read(&s).unwrap();
/// assert_eq!((info.rows, info.slice_position()), (64, Some(3.0)));
/// ```
pub fn ct_slice(series_uid: &str, index: u32, rows: u16, cols: u16) -> Result<Vec<u8>, DicomError> {
    let sop_uid = format!("{series_uid}.{}", index + 1);
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: PrimitiveValue| obj.put(DataElement::new(tag, vr, v));
    put(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE.into());
    put(tags::SOP_INSTANCE_UID, VR::UI, sop_uid.as_str().into());
    put(tags::STUDY_INSTANCE_UID, VR::UI, format!("{series_uid}.0").as_str().into());
    put(tags::SERIES_INSTANCE_UID, VR::UI, series_uid.into());
    put(tags::MODALITY, VR::CS, "CT".into());
    put(tags::PATIENT_NAME, VR::PN, "Synthetic^Phantom".into());
    put(tags::PATIENT_ID, VR::LO, "SYNTH-0001".into());
    put(tags::PATIENT_BIRTH_DATE, VR::DA, "19470312".into());
    put(tags::INSTANCE_NUMBER, VR::IS, (index + 1).to_string().as_str().into());
    put(tags::IMAGE_POSITION_PATIENT, VR::DS, strs(&["0".into(), "0".into(), index.to_string()]));
    put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, strs(&["1", "0", "0", "0", "1", "0"].map(String::from)));
    put(tags::PIXEL_SPACING, VR::DS, strs(&["0.7".into(), "0.7".into()]));
    put(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into());
    put(tags::RESCALE_SLOPE, VR::DS, "1".into());
    put(tags::WINDOW_CENTER, VR::DS, "40".into());
    put(tags::WINDOW_WIDTH, VR::DS, "400".into());
    crate::put_pixel_module(&mut obj, (rows, cols), 1, (16, 12), "MONOCHROME2");
    let (cy, cx) = (f32::from(rows) / 2.0, f32::from(cols) / 2.0);
    let radius = f32::from(rows.min(cols)) * (0.2 + 0.15 * ((index as f32) / 40.0).sin().abs());
    let mut pixels = Vec::with_capacity(usize::from(rows) * usize::from(cols));
    for y in 0..rows {
        for x in 0..cols {
            let d = ((f32::from(y) - cy).powi(2) + (f32::from(x) - cx).powi(2)).sqrt();
            // Air outside the body (0 = -1024 HU), soft tissue inside, a brighter core.
            let v: u16 = if d < radius * 0.5 {
                1300
            } else if d < radius {
                1064
            } else {
                24
            };
            pixels.push(v + ((x ^ y) & 7));
        }
    }
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())));
    crate::to_part10(obj, uids::CT_IMAGE_STORAGE, &sop_uid)
}

fn strs(values: &[String]) -> PrimitiveValue {
    PrimitiveValue::Strs(values.into())
}
