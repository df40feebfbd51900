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
