//! The DICOM outputs of an answer, read with dicom-rs: what kind each is (by its SOP Class),
//! the content of a structured report as indented lines, and the graphics of a presentation
//! state (or the measurements of a report) by the image they belong to.

use arterys_protocol::{BinaryType, InferenceResponse};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use crate::annotation::{floats, items, meaning, text, unit, Annotation};

/// What a DICOM output is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    /// A Secondary Capture (or any other image): shown as a picture.
    Image,
    /// A structured report: its content is listed.
    StructuredReport,
    /// A softcopy presentation state: its graphics are drawn on the images it references.
    PresentationState,
    /// Something else (its SOP Class UID).
    Other(String),
}

impl OutputKind {
    /// What it is, in words.
    pub fn name(&self) -> String {
        match self {
            OutputKind::Image => "image (secondary capture)".to_owned(),
            OutputKind::StructuredReport => "structured report".to_owned(),
            OutputKind::PresentationState => "presentation state".to_owned(),
            OutputKind::Other(class) => format!("DICOM object of SOP Class {class}"),
        }
    }
}

/// One DICOM output of the answer.
#[derive(Debug, Clone)]
pub struct DicomOutput {
    /// Position of its part in the answer.
    pub part: usize,
    /// The file it is written to.
    pub file_name: String,
    /// The part's label.
    pub label: String,
    /// Its kind, from the SOP Class UID in the file.
    pub kind: OutputKind,
    /// The input series it belongs to (the part's SeriesInstanceUID).
    pub series_instance_uid: Option<String>,
    /// A structured report's content, one line per item, indented by depth.
    pub report: Vec<String>,
    /// A presentation state's graphics, or a structured report's measurements that name an
    /// image region.
    pub annotations: Vec<Annotation>,
    /// Why the file could not be read, if it could not.
    pub problem: Option<String>,
}

/// The file name an output is saved under.
pub fn output_file_name(part: usize, binary_type: &BinaryType) -> String {
    let prefix = match binary_type {
        BinaryType::DicomSecondaryCapture => "sc",
        BinaryType::DicomGsps => "gsps",
        BinaryType::Dicom | BinaryType::DicomStructuredReport => "sr",
        _ => "dicom",
    };
    format!("{prefix}_{part}.dcm")
}

/// Every DICOM output of `r`, read.
pub fn read_outputs(r: &InferenceResponse) -> Vec<(DicomOutput, bytes::Bytes)> {
    let mut out = Vec::new();
    for (n, (p, buf)) in r.json().parts.iter().zip(r.buffers()).enumerate() {
        if !p.binary_type.is_dicom() {
            continue;
        }
        let mut o = DicomOutput {
            part: n,
            file_name: output_file_name(n, &p.binary_type),
            label: p.label.clone().unwrap_or_default(),
            kind: OutputKind::Other(String::new()),
            series_instance_uid: p.series_instance_uid.clone(),
            report: Vec::new(),
            annotations: Vec::new(),
            problem: None,
        };
        match arterys_viewer::open(buf) {
            Err(e) => o.problem = Some(format!("part {n} ({}) is not readable DICOM: {e}", p.binary_type.as_str())),
            Ok(obj) => {
                let class = arterys_viewer::string(&obj, tags::SOP_CLASS_UID).unwrap_or_default();
                o.kind = kind_of(&class, &obj);
                match o.kind {
                    OutputKind::StructuredReport => {
                        o.report = report_lines(&obj);
                        o.annotations = crate::sr::measurements(&obj);
                    }
                    OutputKind::PresentationState => o.annotations = crate::gsps::annotations(&obj),
                    _ => {}
                }
            }
        }
        out.push((o, buf.clone()));
    }
    out
}

fn kind_of(class: &str, obj: &InMemDicomObject) -> OutputKind {
    const SR: [&str; 5] = [
        uids::BASIC_TEXT_SR_STORAGE,
        uids::ENHANCED_SR_STORAGE,
        uids::COMPREHENSIVE_SR_STORAGE,
        uids::COMPREHENSIVE3_DSR_STORAGE,
        uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE,
    ];
    const PR: [&str; 3] = [
        uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE,
        uids::COLOR_SOFTCOPY_PRESENTATION_STATE_STORAGE,
        uids::PSEUDO_COLOR_SOFTCOPY_PRESENTATION_STATE_STORAGE,
    ];
    if SR.contains(&class) || obj.element_opt(tags::CONTENT_SEQUENCE).ok().flatten().is_some() {
        OutputKind::StructuredReport
    } else if PR.contains(&class) {
        OutputKind::PresentationState
    } else if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_some() {
        OutputKind::Image
    } else {
        OutputKind::Other(class.to_owned())
    }
}

/// `Concept: value` for every content item, depth-first, indented two spaces per level.
pub fn report_lines(obj: &InMemDicomObject) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(title) = meaning(obj, tags::CONCEPT_NAME_CODE_SEQUENCE) {
        out.push(title);
    }
    walk(items(obj, tags::CONTENT_SEQUENCE), 1, &mut out);
    out
}

fn walk(content: &[InMemDicomObject], depth: usize, out: &mut Vec<String>) {
    for it in content {
        let name = meaning(it, tags::CONCEPT_NAME_CODE_SEQUENCE).unwrap_or_else(|| "(unnamed)".into());
        let value = match text(it, tags::VALUE_TYPE).as_deref() {
            Some("TEXT") => text(it, tags::TEXT_VALUE),
            Some("CODE") => meaning(it, tags::CONCEPT_CODE_SEQUENCE),
            Some("UIDREF") => text(it, tags::UID),
            Some("NUM") => items(it, tags::MEASURED_VALUE_SEQUENCE)
                .first()
                .map(|m| format!("{} {}", text(m, tags::NUMERIC_VALUE).unwrap_or_default(), unit(m))),
            Some("SCOORD") => Some(format!(
                "{} of {} points",
                text(it, tags::GRAPHIC_TYPE).unwrap_or_default(),
                floats(it, tags::GRAPHIC_DATA).len() / 2
            )),
            Some("IMAGE") => items(it, tags::REFERENCED_SOP_SEQUENCE)
                .first()
                .and_then(|r| text(r, tags::REFERENCED_SOP_INSTANCE_UID))
                .map(|uid| format!("image {uid}")),
            Some(other @ ("DATE" | "TIME" | "DATETIME" | "PNAME")) => {
                let tag = match other {
                    "DATE" => tags::DATE,
                    "TIME" => tags::TIME,
                    "DATETIME" => tags::DATE_TIME,
                    _ => tags::PERSON_NAME,
                };
                text(it, tag)
            }
            _ => None,
        };
        out.push(match value {
            Some(v) => format!("{}{name}: {v}", "  ".repeat(depth)),
            None => format!("{}{name}", "  ".repeat(depth)),
        });
        walk(items(it, tags::CONTENT_SEQUENCE), depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use arterys_mock_server::Mode;
    use arterys_protocol::InferenceInput;

    fn answer(mode: Mode) -> (InferenceResponse, Vec<String>) {
        let series = "1.2.826.0.1.3680043.10.543.7";
        let slices: Vec<_> = (0..3).map(|i| arterys_viewer::synthetic::ct_slice(series, i, 64, 48).unwrap()).collect();
        let uids = (1..=3).map(|i| format!("{series}.{i}")).collect();
        let input = InferenceInput::from_dicom(Default::default(), slices.into_iter().map(bytes::Bytes::from));
        (arterys_mock_server::answer(mode, input).unwrap(), uids)
    }

    #[test]
    fn a_presentation_state_is_read_per_referenced_image() {
        let (r, uids) = answer(Mode::Gsps);
        let outputs = read_outputs(&r);
        assert_eq!(outputs.len(), 1);
        let o = &outputs[0].0;
        assert_eq!(
            (o.kind.clone(), o.file_name.as_str(), o.problem.as_ref()),
            (OutputKind::PresentationState, "gsps_0.dcm", None)
        );
        let mut annotated: Vec<&str> = o.annotations.iter().map(|a| a.sop_instance_uid.as_str()).collect();
        annotated.sort();
        assert_eq!(annotated, uids.iter().map(String::as_str).collect::<Vec<_>>());
        let a = &o.annotations[0];
        let kinds: Vec<&str> = a.graphics.iter().map(|g| g.kind.as_str()).collect();
        assert_eq!(kinds, ["POLYLINE", "CIRCLE"]);
        // The diamond around the middle quarter of a 48-column, 64-row image, closed.
        assert_eq!(a.graphics[0].points, [[24.0, 16.0], [36.0, 32.0], [24.0, 48.0], [12.0, 32.0], [24.0, 16.0]]);
        assert_eq!(a.texts[0].text, "Mock finding");
    }

    #[test]
    fn a_report_is_listed_item_by_item() {
        let (r, uids) = answer(Mode::StructuredReport);
        let outputs = read_outputs(&r);
        let o = &outputs[0].0;
        assert_eq!(o.kind, OutputKind::StructuredReport);
        assert_eq!(o.report[0], "Imaging Measurement Report");
        assert!(o.report.contains(&"      Finding: Lesion".to_owned()), "{:#?}", o.report);
        // 24 px across the middle slice at the synthetic slices' 0.7 mm Pixel Spacing.
        assert!(o.report.contains(&"      Length: 16.80 mm".to_owned()), "{:#?}", o.report);
        assert!(o.report.iter().any(|l| l.ends_with(&format!("image {}", uids[1]))), "{:#?}", o.report);
    }
}
