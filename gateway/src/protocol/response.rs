//! The response: a JSON object describing the results, and one binary buffer per element of
//! its `parts` array.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::mask::{Mask, MaskShape};
use super::palette::Palette;

/// The only protocol version there is.
pub const PROTOCOL_VERSION: &str = "1.0";

/// A 2D bounding box on one image, in pixel coordinates `[col, row]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Shown next to the box.
    pub label: String,
    /// The image the box is on.
    #[serde(rename = "SOPInstanceUID")]
    pub sop_instance_uid: String,
    /// `[col, row]` of the top left corner.
    pub top_left: [i64; 2],
    /// `[col, row]` of the bottom right corner.
    pub bottom_right: [i64; 2],
    /// The frame, for multi-frame instances (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_number: Option<u32>,
    /// Any other keys, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BoundingBox {
    /// A box on a single-frame image.
    pub fn new(
        label: impl Into<String>,
        sop_instance_uid: impl Into<String>,
        top_left: [i64; 2],
        bottom_right: [i64; 2],
    ) -> Self {
        Self {
            label: label.into(),
            sop_instance_uid: sop_instance_uid.into(),
            top_left,
            bottom_right,
            frame_number: None,
            extra: Map::new(),
        }
    }
}

/// Whether a measurement's coordinates are pixels or patient (world) millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoordinatesType {
    /// `[col, row]` pixel coordinates.
    Pixel,
    /// Patient coordinates.
    World,
}

/// A line measured on one image (`linear_measurements_2d`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearMeasurement {
    /// The image.
    #[serde(rename = "SOPInstanceUID")]
    pub sop_instance_uid: String,
    /// The frame, for multi-frame instances (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_number: Option<u32>,
    /// Shown with the line.
    pub label: String,
    /// Pixel or world coordinates.
    pub coordinates_type: CoordinatesType,
    /// `[x, y]` of one end.
    pub start: [f64; 2],
    /// `[x, y]` of the other end.
    pub end: [f64; 2],
    /// Any other keys, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a binary buffer holds (`binary_type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BinaryType {
    /// uint8, 0 = probability 0, 255 = probability 1.
    ProbabilityMask,
    /// Any non-zero voxel is positive.
    BooleanMask,
    /// uint8 intensities shown through a palette.
    Heatmap,
    /// uint8 class index per voxel, named by a `label_map`.
    NumericLabelMask,
    /// A DICOM Secondary Capture (Part 10 file).
    DicomSecondaryCapture,
    /// A DICOM structured report (`dicom`).
    Dicom,
    /// A DICOM structured report.
    DicomStructuredReport,
    /// A DICOM grayscale softcopy presentation state.
    DicomGsps,
    /// Not defined by protocol 1.0; kept to report it.
    Other(String),
}

impl BinaryType {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ProbabilityMask => "probability_mask",
            Self::BooleanMask => "boolean_mask",
            Self::Heatmap => "heatmap",
            Self::NumericLabelMask => "numeric_label_mask",
            Self::DicomSecondaryCapture => "dicom_secondary_capture",
            Self::Dicom => "dicom",
            Self::DicomStructuredReport => "dicom_structured_report",
            Self::DicomGsps => "dicom_gsps",
            Self::Other(s) => s,
        }
    }

    /// Whether the buffer is a uint8 mask with a `binary_data_shape`.
    pub fn is_mask(&self) -> bool {
        matches!(self, Self::ProbabilityMask | Self::BooleanMask | Self::Heatmap | Self::NumericLabelMask)
    }

    /// Whether the buffer is a DICOM Part 10 file.
    pub fn is_dicom(&self) -> bool {
        matches!(self, Self::DicomSecondaryCapture | Self::Dicom | Self::DicomStructuredReport | Self::DicomGsps)
    }

    /// The Content-Type of the buffer's part in the response.
    pub fn mime_type(&self) -> &'static str {
        if self.is_dicom() {
            "application/dicom"
        } else {
            "application/binary"
        }
    }
}

impl From<&str> for BinaryType {
    fn from(s: &str) -> Self {
        match s {
            "probability_mask" => Self::ProbabilityMask,
            "boolean_mask" => Self::BooleanMask,
            "heatmap" => Self::Heatmap,
            "numeric_label_mask" => Self::NumericLabelMask,
            "dicom_secondary_capture" => Self::DicomSecondaryCapture,
            "dicom" => Self::Dicom,
            "dicom_structured_report" => Self::DicomStructuredReport,
            "dicom_gsps" => Self::DicomGsps,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl Serialize for BinaryType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BinaryType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from(String::deserialize(d)?.as_str()))
    }
}

/// `binary_data_shape`: `{width, height}` for 2D, plus `timepoints` and `depth` for 3D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryDataShape {
    /// Timepoints (3D only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timepoints: Option<u32>,
    /// Slices (3D only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

/// `dicom_image`: the input image a 2D part belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DicomImageRef {
    /// The image.
    #[serde(rename = "SOPInstanceUID")]
    pub sop_instance_uid: String,
    /// The frame, for multi-frame instances (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_number: Option<u32>,
}

/// One input check for `dicomConformance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConformanceCheck {
    /// What was checked.
    pub description: String,
    /// Whether the input passed it.
    pub compliant: bool,
}

/// `dicomConformance`: tells the viewer which input checks failed (results then carry a
/// warning).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DicomConformance {
    /// Recommended checks and their outcome.
    #[serde(default)]
    pub recommended: Vec<ConformanceCheck>,
    /// Any other keys, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One element of the response's `parts` array: describes the binary buffer at the same
/// position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Shown for the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What the buffer holds.
    pub binary_type: BinaryType,
    /// The mask's shape (mask kinds only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_data_shape: Option<BinaryDataShape>,
    /// The input series the result belongs to.
    #[serde(rename = "SeriesInstanceUID", skip_serializing_if = "Option::is_none")]
    pub series_instance_uid: Option<String>,
    /// The input image a 2D mask belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dicom_image: Option<DicomImageRef>,
    /// Display threshold of a probability mask, 0..=1 (the viewer's default is 0.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_threshold: Option<f64>,
    /// A heatmap's palette: a key of the response's `palettes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub palette: Option<String>,
    /// A numeric label mask's class names: `{"1": "Liver", ...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_map: Option<BTreeMap<String, String>>,
    /// Input checks that failed.
    #[serde(rename = "dicomConformance", skip_serializing_if = "Option::is_none")]
    pub dicom_conformance: Option<DicomConformance>,
    /// Any other keys, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Part {
    fn new(label: String, binary_type: BinaryType) -> Self {
        Self {
            label: Some(label),
            binary_type,
            binary_data_shape: None,
            series_instance_uid: None,
            dicom_image: None,
            probability_threshold: None,
            palette: None,
            label_map: None,
            dicom_conformance: None,
            extra: Map::new(),
        }
    }
}

/// The response's JSON part, as it travels. Read it with serde; build it through
/// [`InferenceResponse`], which keeps `parts` and the buffers together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseJson {
    /// Always `"1.0"`.
    pub protocol_version: String,
    /// One element per binary buffer, same order.
    #[serde(default)]
    pub parts: Vec<Part>,
    /// 2D boxes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounding_boxes_2d: Option<Vec<BoundingBox>>,
    /// Free-form study results, shown as they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study_ml_json: Option<Value>,
    /// Free-form results per SeriesInstanceUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series_ml_json: Option<BTreeMap<String, Value>>,
    /// Lines measured on images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear_measurements_2d: Option<Vec<LinearMeasurement>>,
    /// Heatmap palettes by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub palettes: Option<BTreeMap<String, Palette>>,
    /// Any other keys, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ResponseJson {
    fn default() -> Self {
        Self {
            protocol_version: PROTOCOL_VERSION.into(),
            parts: Vec::new(),
            bounding_boxes_2d: None,
            study_ml_json: None,
            series_ml_json: None,
            linear_measurements_2d: None,
            palettes: None,
            extra: Map::new(),
        }
    }
}

/// Why a response breaks the protocol. Each message is one line naming the part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A mask's buffer does not hold `timepoints x depth x height x width` bytes.
    #[error("{} buffer has {actual} bytes, its shape needs {expected}", part_name(*.part))]
    MaskLength {
        /// Index in `parts`, when known.
        part: Option<usize>,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes there are.
        actual: usize,
    },
    /// The shape's voxel count overflows.
    #[error("mask shape {0:?} is too large")]
    ShapeTooLarge(MaskShape),
    /// `parts` and the buffers differ in number.
    #[error("{parts} parts but {buffers} binary buffers")]
    PartCount {
        /// Elements of `parts`.
        parts: usize,
        /// Buffers.
        buffers: usize,
    },
    /// Anything else wrong with one part.
    #[error("part {part}: {reason}")]
    Part {
        /// Index in `parts`.
        part: usize,
        /// What is wrong.
        reason: String,
    },
    /// A palette breaks the rules.
    #[error("palette {name:?}: {reason}")]
    Palette {
        /// Its key in `palettes`.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Something outside the parts (version, a box, a measurement).
    #[error("{0}")]
    Other(String),
}

fn part_name(part: Option<usize>) -> String {
    part.map_or_else(|| "mask".to_owned(), |p| format!("part {p}"))
}

/// A mask and the `parts` element that describes it, built together.
///
/// ```
/// use arterys_gateway::{Mask, MaskPart, MaskShape};
/// let mask = Mask::zeros(MaskShape::image(512, 512)).unwrap();
/// let part = MaskPart::probability("Nodule", mask).threshold(0.3).for_image("1.2.3.4", None);
/// assert_eq!(part.part().probability_threshold, Some(0.3));
/// ```
#[derive(Debug, Clone)]
pub struct MaskPart {
    part: Part,
    mask: Mask,
}

impl MaskPart {
    fn new(label: impl Into<String>, binary_type: BinaryType, mask: Mask) -> Self {
        let mut part = Part::new(label.into(), binary_type);
        part.binary_data_shape = Some(mask.shape().to_binary_data_shape());
        Self { part, mask }
    }

    /// A `probability_mask` (0 = 0.0, 255 = 1.0).
    pub fn probability(label: impl Into<String>, mask: Mask) -> Self {
        Self::new(label, BinaryType::ProbabilityMask, mask)
    }

    /// A `boolean_mask` (non-zero = positive).
    pub fn boolean(label: impl Into<String>, mask: Mask) -> Self {
        Self::new(label, BinaryType::BooleanMask, mask)
    }

    /// A `heatmap`; name a palette with [`MaskPart::palette`], or the viewer uses JET.
    pub fn heatmap(label: impl Into<String>, mask: Mask) -> Self {
        Self::new(label, BinaryType::Heatmap, mask)
    }

    /// A `numeric_label_mask`: class index per voxel, names from `labels` (index 0 is the
    /// background and needs no name).
    pub fn numeric_labels<S: Into<String>>(
        label: impl Into<String>,
        mask: Mask,
        labels: impl IntoIterator<Item = (u8, S)>,
    ) -> Self {
        let mut p = Self::new(label, BinaryType::NumericLabelMask, mask);
        p.part.label_map = Some(labels.into_iter().map(|(k, v)| (k.to_string(), v.into())).collect());
        p
    }

    /// Display threshold of a probability mask (0..=1).
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.part.probability_threshold = Some(threshold);
        self
    }

    /// The heatmap palette: a name added with [`InferenceResponse::add_palette`].
    pub fn palette(mut self, name: impl Into<String>) -> Self {
        self.part.palette = Some(name.into());
        self
    }

    /// The input series a 3D mask covers.
    pub fn for_series(mut self, series_instance_uid: impl Into<String>) -> Self {
        self.part.series_instance_uid = Some(series_instance_uid.into());
        self
    }

    /// The input image a 2D mask belongs to.
    pub fn for_image(mut self, sop_instance_uid: impl Into<String>, frame_number: Option<u32>) -> Self {
        self.part.dicom_image = Some(DicomImageRef { sop_instance_uid: sop_instance_uid.into(), frame_number });
        self
    }

    /// Input checks that failed, shown as a warning with the result.
    pub fn conformance(mut self, conformance: DicomConformance) -> Self {
        self.part.dicom_conformance = Some(conformance);
        self
    }

    /// The `parts` element as it stands.
    pub fn part(&self) -> &Part {
        &self.part
    }

    /// The mask.
    pub fn mask(&self) -> &Mask {
        &self.mask
    }
}

/// A complete response: the JSON and one buffer per `parts` element. Parts can only be added
/// together with their buffer, so the two never differ in number.
///
/// ```
/// use arterys_gateway::{BoundingBox, InferenceResponse, Mask, MaskPart, MaskShape};
/// let mut r = InferenceResponse::new();
/// r.add_bounding_box(BoundingBox::new("Lesion", "1.2.3", [10, 10], [40, 30]));
/// let mask = Mask::from_fn(MaskShape::volume(3, 8, 8), |v| (v.x == v.y) as u8 * 255).unwrap();
/// r.add_mask(MaskPart::probability("Diagonal", mask).for_series("1.2.3.9"));
/// r.validate().unwrap();
/// assert_eq!((r.json().parts.len(), r.buffers().len()), (1, 1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct InferenceResponse {
    json: ResponseJson,
    buffers: Vec<Bytes>,
}

impl InferenceResponse {
    /// An empty response (`{"protocol_version": "1.0", "parts": []}`).
    pub fn new() -> Self {
        Self::default()
    }

    /// A response from a JSON and buffers that came from elsewhere (e.g. a response read off
    /// the wire); fails if their numbers differ. Call [`InferenceResponse::violations`] for the
    /// rest.
    pub fn from_parts(json: ResponseJson, buffers: Vec<Bytes>) -> Result<Self, ValidationError> {
        if json.parts.len() != buffers.len() {
            return Err(ValidationError::PartCount { parts: json.parts.len(), buffers: buffers.len() });
        }
        Ok(Self { json, buffers })
    }

    /// The JSON.
    pub fn json(&self) -> &ResponseJson {
        &self.json
    }

    /// The buffers, one per `parts` element.
    pub fn buffers(&self) -> &[Bytes] {
        &self.buffers
    }

    /// The JSON and the buffers, taken apart.
    pub fn into_parts(self) -> (ResponseJson, Vec<Bytes>) {
        (self.json, self.buffers)
    }

    /// Adds a box.
    pub fn add_bounding_box(&mut self, b: BoundingBox) -> &mut Self {
        self.json.bounding_boxes_2d.get_or_insert_with(Vec::new).push(b);
        self
    }

    /// Adds a line measurement.
    pub fn add_measurement(&mut self, m: LinearMeasurement) -> &mut Self {
        self.json.linear_measurements_2d.get_or_insert_with(Vec::new).push(m);
        self
    }

    /// Sets the study-level free-form results (`study_ml_json`).
    pub fn set_study_ml_json(&mut self, value: Value) -> &mut Self {
        self.json.study_ml_json = Some(value);
        self
    }

    /// Sets one series' free-form results (`series_ml_json[uid]`).
    pub fn add_series_ml_json(&mut self, series_instance_uid: impl Into<String>, value: Value) -> &mut Self {
        self.json.series_ml_json.get_or_insert_with(BTreeMap::new).insert(series_instance_uid.into(), value);
        self
    }

    /// Adds a named heatmap palette.
    pub fn add_palette(&mut self, name: impl Into<String>, palette: Palette) -> &mut Self {
        self.json.palettes.get_or_insert_with(BTreeMap::new).insert(name.into(), palette);
        self
    }

    /// Sets a top-level key the protocol does not name.
    pub fn set_extra(&mut self, key: impl Into<String>, value: Value) -> &mut Self {
        self.json.extra.insert(key.into(), value);
        self
    }

    /// Adds a mask and its part.
    pub fn add_mask(&mut self, mask_part: MaskPart) -> &mut Self {
        self.json.parts.push(mask_part.part);
        self.buffers.push(Bytes::from(mask_part.mask));
        self
    }

    /// Adds a DICOM output (a complete Part 10 file) of a DICOM `binary_type`.
    pub fn add_dicom_output(
        &mut self,
        binary_type: BinaryType,
        label: impl Into<String>,
        series_instance_uid: Option<String>,
        file: impl Into<Bytes>,
    ) -> Result<&mut Self, ValidationError> {
        if !binary_type.is_dicom() {
            return Err(ValidationError::Other(format!("{} is not a DICOM output kind", binary_type.as_str())));
        }
        let mut part = Part::new(label.into(), binary_type);
        part.series_instance_uid = series_instance_uid;
        self.json.parts.push(part);
        self.buffers.push(file.into());
        Ok(self)
    }

    /// The last part added, to set keys the builders do not cover.
    pub fn last_part_mut(&mut self) -> Option<&mut Part> {
        self.json.parts.last_mut()
    }

    /// The first protocol violation, if any.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self.violations().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every protocol violation: versions, counts, mask lengths, 2D parts without an image,
    /// thresholds, palettes, label maps (including values without a name), DICOM outputs
    /// that are not Part 10 files, inverted boxes.
    pub fn violations(&self) -> Vec<ValidationError> {
        let mut errs = Vec::new();
        let j = &self.json;
        if j.protocol_version != PROTOCOL_VERSION {
            errs.push(ValidationError::Other(format!(
                "protocol_version is {:?}, expected \"1.0\"",
                j.protocol_version
            )));
        }
        if j.parts.len() != self.buffers.len() {
            errs.push(ValidationError::PartCount { parts: j.parts.len(), buffers: self.buffers.len() });
        }
        for (name, p) in j.palettes.iter().flatten() {
            if let Err(reason) = p.check() {
                errs.push(ValidationError::Palette { name: name.clone(), reason });
            }
        }
        for (i, b) in j.bounding_boxes_2d.iter().flatten().enumerate() {
            if b.top_left[0] > b.bottom_right[0] || b.top_left[1] > b.bottom_right[1] {
                errs.push(ValidationError::Other(format!(
                    "bounding box {i} ({:?}): top_left {:?} is not above and left of bottom_right {:?}",
                    b.label, b.top_left, b.bottom_right
                )));
            }
        }
        for (i, (part, buf)) in j.parts.iter().zip(&self.buffers).enumerate() {
            if let Err(reason) = check_part(j, part, buf) {
                errs.push(match reason {
                    PartProblem::Length { expected, actual } => {
                        ValidationError::MaskLength { part: Some(i), expected, actual }
                    }
                    PartProblem::Other(reason) => ValidationError::Part { part: i, reason },
                });
            }
        }
        errs
    }
}

enum PartProblem {
    Length { expected: usize, actual: usize },
    Other(String),
}

impl From<String> for PartProblem {
    fn from(s: String) -> Self {
        Self::Other(s)
    }
}

fn check_part(j: &ResponseJson, part: &Part, buf: &[u8]) -> Result<(), PartProblem> {
    let ty = &part.binary_type;
    if ty.is_dicom() {
        if buf.len() < 132 || &buf[128..132] != b"DICM" {
            return Err(format!("{} buffer is not a DICOM Part 10 file (no DICM preamble)", ty.as_str()).into());
        }
        return Ok(());
    }
    if !ty.is_mask() {
        return Err(format!("unknown binary_type {:?}", ty.as_str()).into());
    }
    let shape = part.binary_data_shape.ok_or_else(|| format!("{} has no binary_data_shape", ty.as_str()))?;
    let shape = MaskShape::from_binary_data_shape(&shape);
    let expected = shape.voxel_count().ok_or_else(|| format!("shape {shape:?} is too large"))?;
    if buf.len() != expected {
        return Err(PartProblem::Length { expected, actual: buf.len() });
    }
    if shape.is_image() && part.dicom_image.is_none() {
        return Err("2D mask has no dicom_image naming its input image".to_owned().into());
    }
    if let Some(t) = part.probability_threshold {
        if !(0.0..=1.0).contains(&t) {
            return Err(format!("probability_threshold {t} is outside 0..1").into());
        }
    }
    match ty {
        BinaryType::Heatmap => {
            if let Some(name) = &part.palette {
                if !j.palettes.as_ref().is_some_and(|p| p.contains_key(name)) {
                    return Err(format!("palette {name:?} is not in the response's palettes").into());
                }
            }
        }
        BinaryType::NumericLabelMask => check_label_map(part.label_map.as_ref(), buf)?,
        _ => {}
    }
    Ok(())
}

fn check_label_map(map: Option<&BTreeMap<String, String>>, buf: &[u8]) -> Result<(), String> {
    let map = map.ok_or("numeric_label_mask has no label_map")?;
    let mut named = [false; 256];
    let mut names = HashSet::new();
    for (k, v) in map {
        let idx: u8 = k.parse().map_err(|_| format!("label_map key {k:?} is not an integer 0..255"))?;
        if v.trim().is_empty() {
            return Err(format!("label_map[{k:?}] has an empty name"));
        }
        if !names.insert(v.as_str()) {
            return Err(format!("label_map name {v:?} is used twice"));
        }
        named[idx as usize] = true;
    }
    let mut present = [false; 256];
    for &v in buf {
        present[v as usize] = true;
    }
    if let Some(v) = (1..256).find(|&v| present[v] && !named[v]) {
        return Err(format!("mask value {v} has no name in label_map"));
    }
    Ok(())
}

impl From<Mask> for Bytes {
    fn from(m: Mask) -> Self {
        Bytes::from(m.into_data())
    }
}
