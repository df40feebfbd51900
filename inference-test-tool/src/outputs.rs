//! The DICOM outputs of an answer, read with dicom-rs: what kind each is (by its SOP Class),
//! the content of a structured report as indented lines, and the graphics of a presentation
//! state (or the measurements of a report) by the image they belong to.

use arterys_gateway::{BinaryType, InferenceResponse};
use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

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

/// A graphic of a presentation state, in image pixel coordinates (or fractions of the image
/// when `display` is set).
#[derive(Debug, Clone, PartialEq)]
pub struct Graphic {
    /// POLYLINE, INTERPOLATED, CIRCLE, ELLIPSE, POINT.
    pub kind: String,
    /// (column, row) points.
    pub points: Vec<[f64; 2]>,
    /// DISPLAY units: fractions of the displayed area.
    pub display: bool,
}

/// Text of a presentation state, anchored at its top-left corner.
#[derive(Debug, Clone, PartialEq)]
pub struct TextObject {
    /// The text.
    pub text: String,
    /// Top-left (column, row).
    pub at: [f64; 2],
    /// DISPLAY units.
    pub display: bool,
}

/// The graphics a presentation state, or the measurements a structured report, put on one
/// image.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// The image.
    pub sop_instance_uid: String,
    /// Frames it applies to (empty: all).
    pub frames: Vec<u32>,
    /// Its graphics.
    pub graphics: Vec<Graphic>,
    /// Its text.
    pub texts: Vec<TextObject>,
    /// What it is drawn in: [`crate::gsps::GSPS_COLOR`] or [`crate::sr::SR_COLOR`].
    pub color: [u8; 3],
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
        match arterys_gateway::dicom::open(buf) {
            Err(e) => o.problem = Some(format!("part {n} ({}) is not readable DICOM: {e}", p.binary_type.as_str())),
            Ok(obj) => {
                let class = arterys_gateway::dicom::string(&obj, tags::SOP_CLASS_UID).unwrap_or_default();
                o.kind = kind_of(&class, &obj);
                match o.kind {
                    OutputKind::StructuredReport => {
                        o.report = report_lines(&obj);
                        o.annotations = crate::sr::measurements(&obj);
                    }
                    OutputKind::PresentationState => o.annotations = annotations(&obj),
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

pub(crate) fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.items()).unwrap_or(&[])
}

pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    arterys_gateway::dicom::string(obj, tag)
}

pub(crate) fn floats(obj: &InMemDicomObject, tag: Tag) -> Vec<f64> {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.to_multi_float64().ok()).unwrap_or_default()
}

pub(crate) fn meaning(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    items(obj, tag).first().and_then(|c| text(c, tags::CODE_MEANING).or_else(|| text(c, tags::CODE_VALUE)))
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

/// The unit of a measured value item (its UCUM code, `{pixels}` as `pixels`).
pub(crate) fn unit(measured: &InMemDicomObject) -> String {
    let code = items(measured, tags::MEASUREMENT_UNITS_CODE_SEQUENCE).first().and_then(|u| text(u, tags::CODE_VALUE));
    code.unwrap_or_default().trim_matches(['{', '}']).to_owned()
}

/// (column, row) pairs of Graphic Data.
pub(crate) fn points(data: &[f64]) -> Vec<[f64; 2]> {
    data.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
}

/// The graphics of a presentation state by referenced image.
pub fn annotations(obj: &InMemDicomObject) -> Vec<Annotation> {
    // Images the state applies to when an annotation names none: every referenced image.
    let all: Vec<(String, Vec<u32>)> = items(obj, tags::REFERENCED_SERIES_SEQUENCE)
        .iter()
        .flat_map(|s| items(s, tags::REFERENCED_IMAGE_SEQUENCE))
        .filter_map(image_ref)
        .collect();
    let mut out = Vec::new();
    for a in items(obj, tags::GRAPHIC_ANNOTATION_SEQUENCE) {
        let graphics: Vec<Graphic> = items(a, tags::GRAPHIC_OBJECT_SEQUENCE)
            .iter()
            .map(|g| Graphic {
                kind: text(g, tags::GRAPHIC_TYPE).unwrap_or_default(),
                points: points(&floats(g, tags::GRAPHIC_DATA)),
                display: text(g, tags::GRAPHIC_ANNOTATION_UNITS).as_deref() == Some("DISPLAY"),
            })
            .collect();
        let texts: Vec<TextObject> = items(a, tags::TEXT_OBJECT_SEQUENCE)
            .iter()
            .filter_map(|t| {
                let value = text(t, tags::UNFORMATTED_TEXT_VALUE)?;
                let (at, units) = match floats(t, tags::BOUNDING_BOX_TOP_LEFT_HAND_CORNER).as_slice() {
                    [x, y, ..] => ([*x, *y], tags::BOUNDING_BOX_ANNOTATION_UNITS),
                    _ => match floats(t, tags::ANCHOR_POINT).as_slice() {
                        [x, y, ..] => ([*x, *y], tags::ANCHOR_POINT_ANNOTATION_UNITS),
                        _ => return None,
                    },
                };
                Some(TextObject { text: value, at, display: text(t, units).as_deref() == Some("DISPLAY") })
            })
            .collect();
        let images: Vec<(String, Vec<u32>)> =
            items(a, tags::REFERENCED_IMAGE_SEQUENCE).iter().filter_map(image_ref).collect();
        for (uid, frames) in if images.is_empty() { all.clone() } else { images } {
            out.push(Annotation {
                sop_instance_uid: uid,
                frames,
                graphics: graphics.clone(),
                texts: texts.clone(),
                color: crate::gsps::GSPS_COLOR,
            });
        }
    }
    out
}

fn image_ref(r: &InMemDicomObject) -> Option<(String, Vec<u32>)> {
    let uid = text(r, tags::REFERENCED_SOP_INSTANCE_UID)?;
    let frames = floats(r, tags::REFERENCED_FRAME_NUMBER).into_iter().filter(|f| *f >= 1.0).map(|f| f as u32).collect();
    Some((uid, frames))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use arterys_gateway::InferenceInput;
    use arterys_mock_server::Mode;

    fn answer(mode: Mode) -> (InferenceResponse, Vec<String>) {
        let series = "1.2.826.0.1.3680043.10.543.7";
        let slices: Vec<_> =
            (0..3).map(|i| arterys_gateway::dicom::synthetic::ct_slice(series, i, 64, 48).unwrap()).collect();
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

    #[test]
    fn graphics_in_display_units_and_ellipses_are_drawn() {
        use crate::draw::Canvas;
        let a = Annotation {
            sop_instance_uid: "1".into(),
            frames: vec![],
            graphics: vec![
                Graphic { kind: "POLYLINE".into(), points: vec![[0.1, 0.5], [0.9, 0.5]], display: true },
                Graphic {
                    kind: "ELLIPSE".into(),
                    points: vec![[10.0, 30.0], [30.0, 30.0], [20.0, 25.0], [20.0, 35.0]],
                    display: false,
                },
            ],
            texts: vec![],
            color: crate::gsps::GSPS_COLOR,
        };
        let mut c = Canvas::new(100, 60, vec![0; 100 * 60 * 3]);
        crate::gsps::draw_annotation(&mut c, &a, (100, 60), 1.0, 1, 1);
        let orange = crate::gsps::GSPS_COLOR;
        // DISPLAY: a line across 10%..90% of the width at half the height.
        assert_eq!(c.get(50, 30), orange);
        assert_eq!(c.get(5, 30), [0, 0, 0]);
        assert_eq!(c.get(95, 30), [0, 0, 0]);
        // The ellipse: the top and bottom of its minor axis, not its centre or beyond.
        assert_eq!(c.get(20, 25), orange);
        assert_eq!(c.get(20, 35), orange);
        assert_eq!(c.get(20, 22), [0, 0, 0]);
        assert_eq!(c.get(20, 38), [0, 0, 0]);
    }
}
