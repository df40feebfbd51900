//! Building DICOM outputs with dicom-rs: the attributes every output shares (patient and study
//! copied from the input, its own series and instance), sequences and codes, and the Part 10
//! file around it.

use arterys_gateway::dicom::capture::{derived_uid, COPIED};
use arterys_gateway::{HandlerError, RequestPart};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

use arterys_viewer::study::{part_headers, Study};

/// A text (or other string-valued) element.
pub fn text(tag: Tag, vr: VR, value: impl Into<String>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value.into()))
}

/// A sequence of `items`.
pub fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

/// An item made of `elements`.
pub fn item(elements: impl IntoIterator<Item = DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

/// A coded concept: (code value, coding scheme, meaning).
pub type Code = (&'static str, &'static str, &'static str);

/// A code sequence item (`tag` is e.g. Concept Name Code Sequence).
pub fn code(tag: Tag, (value, scheme, meaning): Code) -> DataElement<InMemDicomObject> {
    seq(
        tag,
        vec![item([
            text(tags::CODE_VALUE, VR::SH, value),
            text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme),
            text(tags::CODE_MEANING, VR::LO, meaning),
        ])],
    )
}

/// The input images an output refers to: (SOP Class, SOP Instance, frame count).
pub struct Referenced {
    /// Referenced SOP Class UID.
    pub class: String,
    /// Referenced SOP Instance UID.
    pub instance: String,
    /// Columns and rows.
    pub size: (u32, u32),
    /// Pixel Spacing (row, column) in mm, when the image has it.
    pub spacing: Option<[f64; 2]>,
}

/// Every image of a series in slice order (first timepoint).
pub fn series_images(input: &arterys_gateway::InferenceInput, study: &Study, slices: &[usize]) -> Vec<Referenced> {
    slices
        .iter()
        .filter(|&&i| study.instances[i].has_pixels())
        .map(|&i| {
            let info = &study.instances[i];
            let spacing = part_headers(&input.dicom[i])
                .ok()
                .and_then(|o| o.element_opt(tags::PIXEL_SPACING).ok().flatten().and_then(|e| e.to_multi_float64().ok()))
                .and_then(|v| <[f64; 2]>::try_from(v).ok())
                .filter(|s| s.iter().all(|v| v.is_finite() && *v > 0.0));
            Referenced {
                class: info.sop_class_uid.clone().unwrap_or_else(|| uids::CT_IMAGE_STORAGE.to_owned()),
                instance: info.sop_instance_uid.clone(),
                size: (info.columns, info.rows),
                spacing,
            }
        })
        .collect()
}

/// A Referenced SOP (or Image) Sequence item.
pub fn sop_ref(r: &Referenced) -> InMemDicomObject {
    item([
        text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, r.class.as_str()),
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, r.instance.as_str()),
    ])
}

/// The identity of an output: its SOP class and modality, derived series and instance UIDs
/// (the same input gives the same UIDs), patient and study copied from `source`.
pub struct Identity<'a> {
    /// SOP Class UID.
    pub class: &'a str,
    /// Modality (SR, PR).
    pub modality: &'a str,
    /// What kind of output, to derive distinct UIDs.
    pub kind: &'a str,
    /// Series Description.
    pub description: &'a str,
    /// Series Number.
    pub series_number: u32,
}

/// A new dataset with the identity and shared modules of an output derived from the input
/// series `series_uid`, whose first image is `source`.
pub fn new_output(
    id: &Identity<'_>,
    series_uid: &str,
    source: &RequestPart,
) -> Result<(InMemDicomObject, String), HandlerError> {
    let src = part_headers(source).map_err(|e| HandlerError::unprocessable(format!("series {series_uid}: {e}")))?;
    let mut obj = InMemDicomObject::new_empty();
    for tag in COPIED {
        if let Some(e) = src.element_opt(tag).ok().flatten() {
            obj.put(e.clone());
        }
    }
    if obj.element_opt(tags::STUDY_INSTANCE_UID).ok().flatten().is_none() {
        obj.put(text(tags::STUDY_INSTANCE_UID, VR::UI, derived_uid(series_uid)));
    }
    let sop = derived_uid(&format!("{series_uid}/{}/instance", id.kind));
    for e in [
        text(tags::SOP_CLASS_UID, VR::UI, id.class),
        text(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str()),
        text(tags::SERIES_INSTANCE_UID, VR::UI, derived_uid(&format!("{series_uid}/{}", id.kind))),
        text(tags::MODALITY, VR::CS, id.modality),
        text(tags::SERIES_DESCRIPTION, VR::LO, id.description),
        text(tags::SERIES_NUMBER, VR::IS, id.series_number.to_string()),
        text(tags::INSTANCE_NUMBER, VR::IS, "1"),
        text(tags::MANUFACTURER, VR::LO, "arterys-inference mock-server"),
        text(tags::CONTENT_DATE, VR::DA, "20240101"),
        text(tags::CONTENT_TIME, VR::TM, "000000"),
    ] {
        obj.put(e);
    }
    Ok((obj, sop))
}

/// The Part 10 file (Explicit VR Little Endian) of `obj`.
pub fn part10(obj: InMemDicomObject, class: &str, sop: &str) -> Result<Vec<u8>, HandlerError> {
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(class)
                .media_storage_sop_instance_uid(sop)
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN),
        )
        .map_err(|e| HandlerError::internal(format!("DICOM output meta: {e}")))?;
    let mut out = Vec::new();
    file.write_all(&mut out).map_err(|e| HandlerError::internal(format!("writing a DICOM output: {e}")))?;
    Ok(out)
}
