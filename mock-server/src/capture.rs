//! The secondary-capture mode: a real DICOM Secondary Capture per series, made from the
//! series' middle image with the result burned in.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use gateway::dicom::display::{render, DisplayFrame};
use gateway::dicom::InstanceInfo;
use gateway::{BinaryType, HandlerError, InferenceInput, InferenceResponse};
use sha2::{Digest, Sha256};

use crate::study::Study;

/// Attributes copied from the source so that the viewer files the capture in the same study
/// and patient (they are copied, never logged).
const COPIED: [dicom_core::Tag; 10] = [
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

/// A UID under the `2.25` root derived from `seed` (stable: the same input gives the same
/// capture).
pub fn derived_uid(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    let mut n = [0u8; 16];
    n.copy_from_slice(&d[..16]);
    format!("2.25.{}", u128::from_be_bytes(n))
}

/// Draws the mock result: a 3-pixel red frame around the middle quarter and a yellow cross
/// at the centre.
fn burn_in(f: &mut DisplayFrame) {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        if x < w && y < h {
            let i = (y * w + x) * 3;
            f.rgb[i..i + 3].copy_from_slice(&c);
        }
    };
    let (x0, x1, y0, y1) = (w * 3 / 8, w * 5 / 8, h * 3 / 8, h * 5 / 8);
    for t in 0..3 {
        for x in x0..=x1 {
            put(x, y0 + t, [255, 0, 0]);
            put(x, y1 - t, [255, 0, 0]);
        }
        for y in y0..=y1 {
            put(x0 + t, y, [255, 0, 0]);
            put(x1 - t, y, [255, 0, 0]);
        }
    }
    let (cx, cy, arm) = (w / 2, h / 2, w.min(h) / 20);
    for d in 0..=2 * arm {
        put(cx + d - arm, cy, [255, 255, 0]);
        put(cx, cy + d - arm, [255, 255, 0]);
    }
}

/// A Secondary Capture Part 10 file of `frame`, in the study of `source`.
pub fn secondary_capture(
    source: &InMemDicomObject,
    info: &InstanceInfo,
    frame: &DisplayFrame,
) -> Result<Vec<u8>, HandlerError> {
    let mut obj = InMemDicomObject::new_empty();
    for tag in COPIED {
        if let Ok(Some(e)) = source.element_opt(tag) {
            obj.put(e.clone());
        }
    }
    let sop = derived_uid(&format!("{}/secondary-capture", info.sop_instance_uid));
    let series = derived_uid(&format!("{}/secondary-capture", info.series_instance_uid));
    let mut put = |tag, vr, v: PrimitiveValue| obj.put(DataElement::new(tag, vr, v));
    put(tags::SOP_CLASS_UID, VR::UI, uids::SECONDARY_CAPTURE_IMAGE_STORAGE.into());
    put(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str().into());
    put(tags::SERIES_INSTANCE_UID, VR::UI, series.as_str().into());
    if let Some(study) = &info.study_instance_uid {
        put(tags::STUDY_INSTANCE_UID, VR::UI, study.as_str().into());
    }
    put(tags::MODALITY, VR::CS, "OT".into());
    put(tags::CONVERSION_TYPE, VR::CS, "WSD".into());
    put(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs((&["DERIVED".to_owned(), "SECONDARY".to_owned()][..]).into()));
    put(tags::SERIES_DESCRIPTION, VR::LO, "Mock secondary capture".into());
    put(tags::SERIES_NUMBER, VR::IS, "999".into());
    put(tags::INSTANCE_NUMBER, VR::IS, "1".into());
    put(tags::DERIVATION_DESCRIPTION, VR::ST, "Mock result burned into the source image".into());
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(3u16));
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB".into());
    put(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(0u16));
    put(tags::ROWS, VR::US, PrimitiveValue::from(u16::try_from(frame.height).map_err(HandlerError::from)?));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(u16::try_from(frame.width).map_err(HandlerError::from)?));
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(7u16));
    put(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16));
    put(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(frame.rgb.as_slice().into()));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop)
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN),
        )
        .map_err(|e| HandlerError::internal(format!("secondary capture meta: {e}")))?;
    let mut out = Vec::with_capacity(frame.rgb.len() + 4096);
    file.write_all(&mut out).map_err(|e| HandlerError::internal(format!("writing the secondary capture: {e}")))?;
    Ok(out)
}

/// One capture per series, from its middle image.
pub fn secondary_captures(
    input: &InferenceInput,
    study: &Study,
    r: &mut InferenceResponse,
) -> Result<(), HandlerError> {
    for s in study.image_series() {
        let slices = &s.timepoints[0];
        let Some(&index) = slices.get(slices.len() / 2) else { continue };
        let bytes = &input.dicom[index].body;
        let mut frames = render(bytes)
            .map_err(|e| HandlerError::unprocessable(format!("part {}: {e}", input.dicom[index].index)))?;
        if frames.is_empty() {
            continue;
        }
        let mut frame = frames.swap_remove(0);
        burn_in(&mut frame);
        let source = gateway::dicom::open_headers(bytes).map_err(|e| HandlerError::unprocessable(e.to_string()))?;
        let file = secondary_capture(&source, &study.instances[index], &frame)?;
        r.add_dicom_output(
            BinaryType::DicomSecondaryCapture,
            "Mock secondary capture",
            Some(s.series_instance_uid.clone()),
            file,
        )?;
    }
    Ok(())
}
