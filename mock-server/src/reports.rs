//! The structured-report and presentation-state modes: per series, a DICOM Comprehensive SR
//! laid out as TID 1500 (Measurement Report: one measurement group with a finding and a
//! length on the middle slice) and a Grayscale Softcopy Presentation State with a graphic
//! annotation on every image. Both reference the input's study, series and instance UIDs.

use arterys_gateway::{BinaryType, HandlerError, InferenceInput, InferenceResponse};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use crate::dicom_out::{code, item, new_output, part10, seq, series_images, sop_ref, text, Code, Identity, Referenced};
use arterys_viewer::study::Study;

/// The finding the report and the annotations name.
pub const FINDING: &str = "Mock finding";

const MEASUREMENT_REPORT: Code = ("126000", "DCM", "Imaging Measurement Report");
const IMAGING_MEASUREMENTS: Code = ("126010", "DCM", "Imaging Measurements");
const MEASUREMENT_GROUP: Code = ("125007", "DCM", "Measurement Group");
const TRACKING_ID: Code = ("112039", "DCM", "Tracking Identifier");
const TRACKING_UID: Code = ("112040", "DCM", "Tracking Unique Identifier");
const FINDING_CODE: Code = ("121071", "DCM", "Finding");
const LESION: Code = ("52988006", "SCT", "Lesion");
const LENGTH: Code = ("410668003", "SCT", "Length");
const MM: Code = ("mm", "UCUM", "millimeter");
const PIXELS: Code = ("{pixels}", "UCUM", "pixels");
const LANGUAGE: Code = ("121049", "DCM", "Language of Content Item and Descendants");
const ENGLISH: Code = ("en-US", "RFC5646", "English (United States)");
const IMPRESSION: Code = ("121073", "DCM", "Impression");

/// A content item: relationship, value type, concept name, then its value elements.
fn content(
    relationship: &str,
    value_type: &str,
    concept: Code,
    value: impl IntoIterator<Item = DataElement<InMemDicomObject>>,
) -> InMemDicomObject {
    let mut it = item([
        text(tags::RELATIONSHIP_TYPE, VR::CS, relationship),
        text(tags::VALUE_TYPE, VR::CS, value_type),
        code(tags::CONCEPT_NAME_CODE_SEQUENCE, concept),
    ]);
    for e in value {
        it.put(e);
    }
    it
}

/// A TEXT content item.
fn text_item(relationship: &str, concept: Code, value: impl Into<String>) -> InMemDicomObject {
    content(relationship, "TEXT", concept, [text(tags::TEXT_VALUE, VR::UT, value)])
}

/// A CODE content item.
fn code_item(relationship: &str, concept: Code, value: Code) -> InMemDicomObject {
    content(relationship, "CODE", concept, [code(tags::CONCEPT_CODE_SEQUENCE, value)])
}

/// A CONTAINER content item (separate items) holding `children`.
fn container(concept: Code, children: Vec<InMemDicomObject>) -> InMemDicomObject {
    content(
        "CONTAINS",
        "CONTAINER",
        concept,
        [text(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"), seq(tags::CONTENT_SEQUENCE, children)],
    )
}

/// Current Requested Procedure Evidence (SR) / Referenced Series (GSPS) for one series.
fn evidence(study_uid: &str, series_uid: &str, images: &[Referenced], image_seq: dicom_core::Tag) -> InMemDicomObject {
    let series = item([
        text(tags::SERIES_INSTANCE_UID, VR::UI, series_uid),
        seq(image_seq, images.iter().map(sop_ref).collect()),
    ]);
    item([text(tags::STUDY_INSTANCE_UID, VR::UI, study_uid), seq(tags::REFERENCED_SERIES_SEQUENCE, vec![series])])
}

fn study_uid(obj: &InMemDicomObject) -> String {
    arterys_gateway::dicom::string(obj, tags::STUDY_INSTANCE_UID).unwrap_or_default()
}

/// The line the report measures: across the middle half of the image, in pixel coordinates.
pub fn measured_line(size: (u32, u32)) -> [f32; 4] {
    let (w, h) = (size.0 as f32, size.1 as f32);
    [w * 0.25, h * 0.5, w * 0.75, h * 0.5]
}

/// A TID 1500 Measurement Report for one series.
fn structured_report(
    input: &InferenceInput,
    study: &Study,
    slices: &[usize],
    series_uid: &str,
) -> Result<Option<Vec<u8>>, HandlerError> {
    let images = series_images(input, study, slices);
    let Some(mid) = images.get(images.len() / 2) else { return Ok(None) };
    let id = Identity {
        class: uids::COMPREHENSIVE_SR_STORAGE,
        modality: "SR",
        kind: "structured-report",
        description: "Mock measurement report",
        series_number: 997,
    };
    let (mut obj, sop) = new_output(&id, series_uid, &input.dicom[slices[0]])?;
    let line = measured_line(mid.size);
    let px = f64::from(line[2] - line[0]);
    let (length, unit) = match mid.spacing {
        Some([_, col]) => (px * col, MM),
        None => (px, PIXELS),
    };
    let scoord = content(
        "INFERRED FROM",
        "SCOORD",
        ("111030", "DCM", "Image Region"),
        [
            text(tags::GRAPHIC_TYPE, VR::CS, "POLYLINE"),
            DataElement::new(tags::GRAPHIC_DATA, VR::FL, PrimitiveValue::F32(line.to_vec().into())),
        ],
    );
    let mut scoord = scoord;
    scoord.put(seq(
        tags::CONTENT_SEQUENCE,
        vec![content(
            "SELECTED FROM",
            "IMAGE",
            ("121112", "DCM", "Source of Measurement"),
            [seq(tags::REFERENCED_SOP_SEQUENCE, vec![sop_ref(mid)])],
        )],
    ));
    let mut num = content(
        "CONTAINS",
        "NUM",
        LENGTH,
        [seq(
            tags::MEASURED_VALUE_SEQUENCE,
            vec![item([
                text(tags::NUMERIC_VALUE, VR::DS, format!("{length:.2}")),
                code(tags::MEASUREMENT_UNITS_CODE_SEQUENCE, unit),
            ])],
        )],
    );
    num.put(seq(tags::CONTENT_SEQUENCE, vec![scoord]));
    let group = container(
        MEASUREMENT_GROUP,
        vec![
            text_item("HAS OBS CONTEXT", TRACKING_ID, FINDING),
            content(
                "HAS OBS CONTEXT",
                "UIDREF",
                TRACKING_UID,
                [text(
                    tags::UID,
                    VR::UI,
                    arterys_gateway::dicom::capture::derived_uid(&format!("{series_uid}/finding")),
                )],
            ),
            code_item("CONTAINS", FINDING_CODE, LESION),
            num,
        ],
    );
    let measurements = container(IMAGING_MEASUREMENTS, vec![group]);
    let impression = text_item(
        "CONTAINS",
        IMPRESSION,
        format!("{FINDING}: a lesion {length:.1} {} long on the middle slice", unit.0.trim_matches(['{', '}'])),
    );
    let language = code_item("HAS CONCEPT MOD", LANGUAGE, ENGLISH);
    let study = study_uid(&obj);
    for e in [
        text(tags::VALUE_TYPE, VR::CS, "CONTAINER"),
        code(tags::CONCEPT_NAME_CODE_SEQUENCE, MEASUREMENT_REPORT),
        text(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"),
        seq(
            tags::CONTENT_TEMPLATE_SEQUENCE,
            vec![item([text(tags::MAPPING_RESOURCE, VR::CS, "DCMR"), text(tags::TEMPLATE_IDENTIFIER, VR::CS, "1500")])],
        ),
        text(tags::COMPLETION_FLAG, VR::CS, "COMPLETE"),
        text(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"),
        seq(
            tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
            vec![evidence(&study, series_uid, &images, tags::REFERENCED_SOP_SEQUENCE)],
        ),
        seq(tags::CONTENT_SEQUENCE, vec![language, measurements, impression]),
    ] {
        obj.put(e);
    }
    part10(obj, uids::COMPREHENSIVE_SR_STORAGE, &sop).map(Some)
}

/// The graphics a presentation state draws on an image of `size`: a closed diamond around the
/// middle quarter, a circle at the centre and a text label above the diamond.
pub fn annotation(image: &Referenced) -> InMemDicomObject {
    let (w, h) = (image.size.0 as f32, image.size.1 as f32);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (rx, ry) = (w / 4.0, h / 4.0);
    let diamond = [cx, cy - ry, cx + rx, cy, cx, cy + ry, cx - rx, cy, cx, cy - ry];
    let circle = [cx, cy, cx + w.min(h) / 16.0, cy];
    let graphic = |kind: &str, points: &[f32]| {
        item([
            text(tags::GRAPHIC_ANNOTATION_UNITS, VR::CS, "PIXEL"),
            DataElement::new(tags::GRAPHIC_DIMENSIONS, VR::US, PrimitiveValue::from(2u16)),
            DataElement::new(tags::NUMBER_OF_GRAPHIC_POINTS, VR::US, PrimitiveValue::from((points.len() / 2) as u16)),
            DataElement::new(tags::GRAPHIC_DATA, VR::FL, PrimitiveValue::F32(points.to_vec().into())),
            text(tags::GRAPHIC_TYPE, VR::CS, kind),
            text(tags::GRAPHIC_FILLED, VR::CS, "N"),
        ])
    };
    let label = item([
        text(tags::BOUNDING_BOX_ANNOTATION_UNITS, VR::CS, "PIXEL"),
        text(tags::UNFORMATTED_TEXT_VALUE, VR::ST, FINDING),
        DataElement::new(
            tags::BOUNDING_BOX_TOP_LEFT_HAND_CORNER,
            VR::FL,
            PrimitiveValue::F32(vec![cx - rx, (cy - ry - h / 10.0).max(0.0)].into()),
        ),
        DataElement::new(
            tags::BOUNDING_BOX_BOTTOM_RIGHT_HAND_CORNER,
            VR::FL,
            PrimitiveValue::F32(vec![cx + rx, cy - ry].into()),
        ),
        text(tags::BOUNDING_BOX_TEXT_HORIZONTAL_JUSTIFICATION, VR::CS, "LEFT"),
    ]);
    item([
        seq(tags::REFERENCED_IMAGE_SEQUENCE, vec![sop_ref(image)]),
        text(tags::GRAPHIC_LAYER, VR::CS, "FINDINGS"),
        seq(tags::TEXT_OBJECT_SEQUENCE, vec![label]),
        seq(tags::GRAPHIC_OBJECT_SEQUENCE, vec![graphic("POLYLINE", &diamond), graphic("CIRCLE", &circle)]),
    ])
}

/// A Grayscale Softcopy Presentation State annotating every image of one series.
fn presentation_state(
    input: &InferenceInput,
    study: &Study,
    slices: &[usize],
    series_uid: &str,
) -> Result<Option<Vec<u8>>, HandlerError> {
    let images = series_images(input, study, slices);
    let Some(first) = images.first() else { return Ok(None) };
    let id = Identity {
        class: uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE,
        modality: "PR",
        kind: "presentation-state",
        description: "Mock annotations",
        series_number: 998,
    };
    let (mut obj, sop) = new_output(&id, series_uid, &input.dicom[slices[0]])?;
    let study = study_uid(&obj);
    let series = evidence(&study, series_uid, &images, tags::REFERENCED_IMAGE_SEQUENCE);
    let referenced_series =
        series.element(tags::REFERENCED_SERIES_SEQUENCE).map_err(|e| HandlerError::internal(e.to_string()))?.clone();
    for e in [
        text(tags::CONTENT_LABEL, VR::CS, "MOCK_FINDINGS"),
        text(tags::CONTENT_DESCRIPTION, VR::LO, "Mock finding outlined on every image"),
        text(tags::PRESENTATION_CREATION_DATE, VR::DA, "20240101"),
        text(tags::PRESENTATION_CREATION_TIME, VR::TM, "000000"),
        text(tags::CONTENT_CREATOR_NAME, VR::PN, "MOCK^SERVER"),
        referenced_series,
        seq(
            tags::GRAPHIC_LAYER_SEQUENCE,
            vec![item([
                text(tags::GRAPHIC_LAYER, VR::CS, "FINDINGS"),
                DataElement::new(tags::GRAPHIC_LAYER_ORDER, VR::IS, PrimitiveValue::from("1")),
                DataElement::new(
                    tags::GRAPHIC_LAYER_RECOMMENDED_DISPLAY_GRAYSCALE_VALUE,
                    VR::US,
                    PrimitiveValue::from(0xFFFFu16),
                ),
                text(tags::GRAPHIC_LAYER_DESCRIPTION, VR::LO, "Findings"),
            ])],
        ),
        seq(tags::GRAPHIC_ANNOTATION_SEQUENCE, images.iter().map(annotation).collect()),
        seq(
            tags::DISPLAYED_AREA_SELECTION_SEQUENCE,
            vec![item([
                DataElement::new(
                    tags::DISPLAYED_AREA_TOP_LEFT_HAND_CORNER,
                    VR::SL,
                    PrimitiveValue::I32(vec![1, 1].into()),
                ),
                DataElement::new(
                    tags::DISPLAYED_AREA_BOTTOM_RIGHT_HAND_CORNER,
                    VR::SL,
                    PrimitiveValue::I32(vec![first.size.0 as i32, first.size.1 as i32].into()),
                ),
                text(tags::PRESENTATION_SIZE_MODE, VR::CS, "SCALE TO FIT"),
                DataElement::new(
                    tags::PRESENTATION_PIXEL_ASPECT_RATIO,
                    VR::IS,
                    PrimitiveValue::Strs(vec!["1".to_owned(), "1".to_owned()].into()),
                ),
            ])],
        ),
        text(tags::PRESENTATION_LUT_SHAPE, VR::CS, "IDENTITY"),
    ] {
        obj.put(e);
    }
    part10(obj, uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE, &sop).map(Some)
}

/// Makes one series' output from the request, the study, the series' slices and its UID
/// (`None` when the series has no image).
type Builder = fn(&InferenceInput, &Study, &[usize], &str) -> Result<Option<Vec<u8>>, HandlerError>;

/// One DICOM output per series with images, made by `build` and sent as `kind`.
fn per_series(
    input: &InferenceInput,
    study: &Study,
    r: &mut InferenceResponse,
    kind: BinaryType,
    label: &str,
    build: Builder,
) -> Result<(), HandlerError> {
    for s in study.image_series() {
        let Some(slices) = s.timepoints.first() else { continue };
        if let Some(file) = build(input, study, slices, &s.series_instance_uid)? {
            r.add_dicom_output(kind.clone(), label, Some(s.series_instance_uid.clone()), file)
                .map_err(HandlerError::internal)?;
        }
    }
    Ok(())
}

/// A TID 1500 measurement report per series (`dicom_structured_report`).
pub fn structured_reports(
    input: &InferenceInput,
    study: &Study,
    r: &mut InferenceResponse,
) -> Result<(), HandlerError> {
    per_series(input, study, r, BinaryType::DicomStructuredReport, "Mock measurement report", structured_report)
}

/// A presentation state per series annotating each of its images (`dicom_gsps`).
pub fn presentation_states(
    input: &InferenceInput,
    study: &Study,
    r: &mut InferenceResponse,
) -> Result<(), HandlerError> {
    per_series(input, study, r, BinaryType::DicomGsps, "Mock annotations", presentation_state)
}
