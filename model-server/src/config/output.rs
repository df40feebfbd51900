//! The outputs' part of the schema: what each model output becomes, and the cuts that decide
//! which results are kept.

use serde::Deserialize;

/// Boxes under this many pixels are dropped unless `min_box_pixels` says otherwise.
pub const DEFAULT_MIN_BOX_PIXELS: usize = 16;

/// What an output becomes in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// Per-pixel probability of one channel → `probability_mask`.
    ProbabilityMask,
    /// Per-pixel intensity of one channel → `heatmap` (JET colours).
    Heatmap,
    /// Argmax over channels → `numeric_label_mask` named by `classes` (channel 0 = background).
    NumericLabelMask,
    /// Connected components of one channel above the threshold → `bounding_boxes_2d`.
    Boxes,
    /// `[N, K]` scores → study and series classification JSON named by `classes`.
    Classification,
}

impl OutputKind {
    /// Whether the output is per pixel (`[N, C, H, W]` or `[1, C, D, H, W]`).
    pub fn per_pixel(self) -> bool {
        self != Self::Classification
    }
}

/// An activation applied to an output before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Values are already probabilities (or labels).
    #[default]
    None,
    /// Elementwise logistic.
    Sigmoid,
    /// Over the channel axis.
    Softmax,
}

/// One model output and its meaning.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// ONNX output name.
    pub name: String,
    /// What it becomes.
    pub kind: OutputKind,
    /// Applied first.
    #[serde(default)]
    pub activation: Activation,
    /// The channel read for per-pixel kinds.
    #[serde(default)]
    pub channel: usize,
    /// Shown with the result.
    #[serde(default)]
    pub label: Option<String>,
    /// Display threshold (probability masks) or cut (boxes), 0..1.
    #[serde(default = "half")]
    pub threshold: f64,
    /// Class names (classification; label masks from channel 1 on).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Boxes only: components with fewer pixels (at the image's size) are dropped, and the
    /// log says how many; default [`DEFAULT_MIN_BOX_PIXELS`], 1 keeps every component.
    #[serde(default)]
    pub min_box_pixels: Option<usize>,
}

impl OutputConfig {
    /// The smallest box kept, in pixels.
    pub fn min_box_pixels(&self) -> usize {
        self.min_box_pixels.unwrap_or(DEFAULT_MIN_BOX_PIXELS)
    }
}

fn half() -> f64 {
    0.5
}
