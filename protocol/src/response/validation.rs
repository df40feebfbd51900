//! What makes a response break the protocol, checked before anything is sent (and by clients
//! on what they receive).

use std::collections::{BTreeMap, HashSet};

use super::json::{BinaryType, Part, ResponseJson, PROTOCOL_VERSION};
use super::InferenceResponse;
use crate::palette::PaletteError;
use crate::shape::MaskShape;

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
    /// Something wrong with one part.
    #[error("part {part}: {problem}")]
    Part {
        /// Index in `parts`.
        part: usize,
        /// What is wrong.
        problem: PartProblem,
    },
    /// A palette breaks the rules.
    #[error("palette {name:?}: {problem}")]
    Palette {
        /// Its key in `palettes`.
        name: String,
        /// What is wrong.
        problem: PaletteError,
    },
    /// A DICOM output added under a mask's `binary_type`.
    #[error("{0} is not a DICOM output kind")]
    NotDicomKind(String),
    /// `protocol_version` is not `"1.0"`.
    #[error("protocol_version is {0:?}, expected \"1.0\"")]
    ProtocolVersion(String),
    /// A box whose corners are swapped.
    #[error("bounding box {index} ({label:?}): top_left {top_left:?} is not above and left of bottom_right {bottom_right:?}")]
    InvertedBox {
        /// Index in `bounding_boxes_2d`.
        index: usize,
        /// Its label.
        label: String,
        /// `[col, row]` of the top left corner.
        top_left: [i64; 2],
        /// `[col, row]` of the bottom right corner.
        bottom_right: [i64; 2],
    },
}

/// What is wrong with one `parts` element and its buffer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PartProblem {
    /// A DICOM output that is not a Part 10 file.
    #[error("{0} buffer is not a DICOM Part 10 file (no DICM preamble)")]
    NotPart10(String),
    /// A `binary_type` the protocol does not know.
    #[error("unknown binary_type {0:?}")]
    UnknownBinaryType(String),
    /// A mask without `binary_data_shape`.
    #[error("{0} has no binary_data_shape")]
    NoShape(String),
    /// A shape whose voxel count overflows.
    #[error("shape {0:?} is too large")]
    ShapeTooLarge(MaskShape),
    /// A 2D mask that does not name its input image.
    #[error("2D mask has no dicom_image naming its input image")]
    NoImage,
    /// A probability threshold outside 0..1.
    #[error("probability_threshold {0} is outside 0..1")]
    Threshold(f64),
    /// A heatmap naming a palette the response does not define.
    #[error("palette {0:?} is not in the response's palettes")]
    UnknownPalette(String),
    /// A numeric label mask without `label_map`.
    #[error("numeric_label_mask has no label_map")]
    NoLabelMap,
    /// A `label_map` key that is not 0..255.
    #[error("label_map key {0:?} is not an integer 0..255")]
    LabelKey(String),
    /// A `label_map` entry with an empty name.
    #[error("label_map[{0:?}] has an empty name")]
    EmptyLabel(String),
    /// Two classes with one name.
    #[error("label_map name {0:?} is used twice")]
    DuplicateLabel(String),
    /// A voxel value the label map does not name.
    #[error("mask value {0} has no name in label_map")]
    UnnamedValue(u8),
}

fn part_name(part: Option<usize>) -> String {
    part.map_or_else(|| "mask".to_owned(), |p| format!("part {p}"))
}

impl InferenceResponse {
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
            errs.push(ValidationError::ProtocolVersion(j.protocol_version.clone()));
        }
        if j.parts.len() != self.buffers.len() {
            errs.push(ValidationError::PartCount { parts: j.parts.len(), buffers: self.buffers.len() });
        }
        for (name, p) in j.palettes.iter().flatten() {
            if let Err(problem) = p.check() {
                errs.push(ValidationError::Palette { name: name.clone(), problem });
            }
        }
        for (index, b) in j.bounding_boxes_2d.iter().flatten().enumerate() {
            if b.top_left[0] > b.bottom_right[0] || b.top_left[1] > b.bottom_right[1] {
                errs.push(ValidationError::InvertedBox {
                    index,
                    label: b.label.clone(),
                    top_left: b.top_left,
                    bottom_right: b.bottom_right,
                });
            }
        }
        for (i, (part, buf)) in j.parts.iter().zip(&self.buffers).enumerate() {
            if let Err(e) = check_part(j, part, buf, i) {
                errs.push(e);
            }
        }
        errs
    }
}

fn check_part(j: &ResponseJson, part: &Part, buf: &[u8], i: usize) -> Result<(), ValidationError> {
    let p = |problem| ValidationError::Part { part: i, problem };
    let ty = &part.binary_type;
    if ty.is_dicom() {
        if !crate::sniff::is_part10(buf) {
            return Err(p(PartProblem::NotPart10(ty.as_str().to_owned())));
        }
        return Ok(());
    }
    if !ty.is_mask() {
        return Err(p(PartProblem::UnknownBinaryType(ty.as_str().to_owned())));
    }
    let shape = part.binary_data_shape.ok_or_else(|| p(PartProblem::NoShape(ty.as_str().to_owned())))?;
    let shape = MaskShape::from_binary_data_shape(&shape);
    let expected = shape.voxel_count().ok_or_else(|| p(PartProblem::ShapeTooLarge(shape)))?;
    if buf.len() != expected {
        return Err(ValidationError::MaskLength { part: Some(i), expected, actual: buf.len() });
    }
    if shape.is_image() && part.dicom_image.is_none() {
        return Err(p(PartProblem::NoImage));
    }
    if let Some(t) = part.probability_threshold {
        if !(0.0..=1.0).contains(&t) {
            return Err(p(PartProblem::Threshold(t)));
        }
    }
    match ty {
        BinaryType::Heatmap => {
            if let Some(name) = &part.palette {
                if !j.palettes.as_ref().is_some_and(|p| p.contains_key(name)) {
                    return Err(p(PartProblem::UnknownPalette(name.clone())));
                }
            }
        }
        BinaryType::NumericLabelMask => check_label_map(part.label_map.as_ref(), buf).map_err(p)?,
        _ => {}
    }
    Ok(())
}

fn check_label_map(map: Option<&BTreeMap<String, String>>, buf: &[u8]) -> Result<(), PartProblem> {
    let map = map.ok_or(PartProblem::NoLabelMap)?;
    let mut named = [false; 256];
    let mut names = HashSet::new();
    for (k, v) in map {
        let idx: u8 = k.parse().map_err(|_| PartProblem::LabelKey(k.clone()))?;
        if v.trim().is_empty() {
            return Err(PartProblem::EmptyLabel(k.clone()));
        }
        if !names.insert(v.as_str()) {
            return Err(PartProblem::DuplicateLabel(v.clone()));
        }
        named[idx as usize] = true;
    }
    let mut present = [false; 256];
    for &v in buf {
        present[v as usize] = true;
    }
    if let Some(v) = (1..=255u8).find(|&v| present[v as usize] && !named[v as usize]) {
        return Err(PartProblem::UnnamedValue(v));
    }
    Ok(())
}
