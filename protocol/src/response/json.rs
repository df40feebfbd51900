//! The response JSON as it travels: results, `parts` elements and their binary types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::palette::Palette;

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
    pub(crate) fn new(label: String, binary_type: BinaryType) -> Self {
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
/// [`InferenceResponse`](crate::InferenceResponse), which keeps `parts` and the buffers together.
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
