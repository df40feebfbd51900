//! The response: a JSON object describing the results, and one binary buffer per element of
//! its `parts` array, built together so that the two never disagree.

mod decoded;
pub(crate) mod json;
pub(crate) mod validation;

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

pub use decoded::{DecodedResponse, ResponseError, ResponseReport};
pub use json::*;
pub use validation::{PartProblem, ValidationError};

use crate::mask::Mask;
use crate::palette::Palette;

/// A mask and the `parts` element that describes it, built together.
///
/// ```
/// use arterys_protocol::{Mask, MaskPart, MaskShape};
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
/// use arterys_protocol::{BoundingBox, InferenceResponse, Mask, MaskPart, MaskShape};
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
            return Err(ValidationError::NotDicomKind(binary_type.as_str().to_owned()));
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
}

impl From<Mask> for Bytes {
    fn from(m: Mask) -> Self {
        Bytes::from(m.into_data())
    }
}
