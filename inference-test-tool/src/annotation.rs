//! What a DICOM output draws on an image (a presentation state's graphics, a structured
//! report's measured regions), and the dataset readers the outputs share. Both the readers of
//! each kind of output and the drawing build on this.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

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
    /// What it is drawn in (the presentation states' colour or the reports').
    pub color: [u8; 3],
}

/// The items of a sequence (none when absent).
pub(crate) fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.items()).unwrap_or(&[])
}

/// A string element, trimmed.
pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    arterys_viewer::string(obj, tag)
}

/// A numeric element's values (none when absent or not numbers).
pub(crate) fn floats(obj: &InMemDicomObject, tag: Tag) -> Vec<f64> {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.to_multi_float64().ok()).unwrap_or_default()
}

/// The meaning of a code sequence's first item (its value when it has no meaning).
pub(crate) fn meaning(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    items(obj, tag).first().and_then(|c| text(c, tags::CODE_MEANING).or_else(|| text(c, tags::CODE_VALUE)))
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
