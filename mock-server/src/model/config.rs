//! The model configuration (`model.yaml`): how images become the model's input and what its
//! outputs mean.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How the input tensor is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Layout {
    /// Slices: `[N, 1, H, W]`, N slices per run.
    #[serde(rename = "NCHW")]
    Nchw,
    /// Volumes: `[1, 1, D, H, W]`, one series per run.
    #[serde(rename = "NCDHW")]
    Ncdhw,
}

/// The model's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// ONNX input name (default: the first input).
    #[serde(default)]
    pub name: Option<String>,
    /// `NCHW` or `NCDHW`.
    pub layout: Layout,
    /// `[H, W]` (NCHW) or `[D, H, W]` (NCDHW): images are resized to it and results back.
    pub size: Vec<usize>,
    /// Slices per run for NCHW (the model's batch dimension must be free or equal to it).
    #[serde(default = "one")]
    pub batch: usize,
}

fn one() -> usize {
    1
}

/// Intensity preprocessing. The modality rescale (RescaleSlope/Intercept) is always applied
/// first, so values are in the modality's units (Hounsfield for CT).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessConfig {
    /// How values become the model's range.
    #[serde(default)]
    pub normalize: Normalize,
}

/// How rescaled values become the model's input range.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalize {
    /// The file's VOI window to 0..1, or the image's min..max when it has none.
    #[default]
    Auto,
    /// A fixed window to 0..1 (e.g. CT soft tissue: center 40, width 400).
    Window {
        /// Window centre.
        center: f64,
        /// Window width.
        width: f64,
    },
    /// `(v - mean) / std` over each image.
    Zscore,
    /// Values as they are.
    None,
}

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
}

fn half() -> f64 {
    0.5
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The `.onnx` file, relative to the config file.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// The input.
    pub input: InputConfig,
    /// Preprocessing.
    #[serde(default)]
    pub preprocess: PreprocessConfig,
    /// The outputs used, in order.
    pub outputs: Vec<OutputConfig>,
}

impl ModelConfig {
    /// Reads and checks a config file; a relative `model` path is made relative to it.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("model config {}: {e}", path.display()))?;
        let mut c: Self =
            serde_yaml_ng::from_str(&text).map_err(|e| format!("model config {}: {e}", path.display()))?;
        if let Some(m) = &c.model {
            if m.is_relative() {
                c.model = Some(path.parent().unwrap_or(Path::new(".")).join(m));
            }
        }
        c.check().map_err(|e| format!("model config {}: {e}", path.display()))?;
        Ok(c)
    }

    /// The rules a config must follow on its own (the model is checked when loaded).
    pub fn check(&self) -> Result<(), String> {
        let want = match self.input.layout {
            Layout::Nchw => 2,
            Layout::Ncdhw => 3,
        };
        if self.input.size.len() != want || self.input.size.contains(&0) {
            return Err(format!("input.size must be {want} positive numbers for {:?}", self.input.layout));
        }
        if self.input.batch == 0 {
            return Err("input.batch must be at least 1".into());
        }
        if self.outputs.is_empty() {
            return Err("no outputs configured".into());
        }
        for o in &self.outputs {
            if !(0.0..=1.0).contains(&o.threshold) {
                return Err(format!("output {}: threshold {} is outside 0..1", o.name, o.threshold));
            }
            let needs_classes = matches!(o.kind, OutputKind::Classification | OutputKind::NumericLabelMask);
            if needs_classes && o.classes.is_empty() {
                return Err(format!("output {}: {:?} needs classes", o.name, o.kind));
            }
        }
        Ok(())
    }
}
