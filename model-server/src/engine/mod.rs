//! The runtimes that run a model, behind one small interface: [`Engine::run`] takes the
//! input tensor of the configured shape and gives the configured outputs, in config order.
//!
//! Every engine describes the model it loaded as a [`Signature`] (names, element types and
//! shapes of inputs and outputs); [`check_signature`] holds the config against it, so the
//! same mistakes get the same start-up message whichever engine runs the model.

pub mod ensemble;
pub mod onnxruntime;
pub mod remote;
pub mod tract;

use crate::config::{InvalidKey, Layout, ModelConfig, OutputKind};

/// One output of one run: its shape and its values in C order.
pub type OutputTensor = (Vec<usize>, Vec<f32>);

/// A model loaded by a runtime, ready to run.
pub trait Engine: Send + Sync {
    /// Runs the model on `input` (the configured input shape, C order); the configured
    /// outputs, in config order.
    fn run(&self, input: &[f32]) -> Result<Vec<OutputTensor>, RunError>;

    /// Whether a run may hold fewer images than `input.batch` (the model's batch dimension is
    /// free and the engine can run any size up to it), so a short batch is not padded.
    fn free_batch(&self) -> bool {
        false
    }

    /// Runs `images` images (C order, one after another) at their true size; called only
    /// when [`Engine::free_batch`] says so. The default runs `input` as the
    /// configured shape.
    fn run_images(&self, input: &[f32], images: usize) -> Result<Vec<OutputTensor>, RunError> {
        let _ = images;
        self.run(input)
    }

    /// What runs the model, for the log (e.g. `tract, 2 threads`).
    fn describe(&self) -> String;

    /// Whether the engine can take requests now. Local engines always can; a remote engine
    /// asks its server (`/v2/health/ready` and `/v2/models/{name}/ready`). Blocking.
    fn ready(&self) -> bool {
        true
    }
}

/// A run that failed: the engine's message, and how a request should see it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the model run failed: {message}")]
pub struct RunError {
    /// What the request gets.
    pub kind: RunErrorKind,
    /// The engine's message, on one line.
    pub message: String,
}

/// How a failed run reaches the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunErrorKind {
    /// The engine failed: 500.
    Failed,
    /// A remote server cannot be reached or is not ready: 503.
    Unavailable,
    /// A remote server answered badly: 502.
    BadGateway,
    /// A remote server did not answer in time: 504.
    Timeout,
}

impl RunError {
    /// A local engine's failure.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { kind: RunErrorKind::Failed, message: message.into() }
    }
}

/// Why a model could not be loaded; start-up stops with it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The model file is missing or unreadable.
    #[error("model: {}: {reason}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not a model the engine can load.
    #[error("model: {} is not a valid ONNX model: {reason}", path.display())]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// The engine's message.
        reason: String,
    },
    /// The config contradicts the model.
    #[error("{0}")]
    Contradiction(#[from] InvalidKey),
    /// The runtime itself cannot be used (library missing or of the wrong version, device
    /// unavailable).
    #[error("{key}: {reason}")]
    Runtime {
        /// The key that chose it (`library`, `device`, `engine`).
        key: &'static str,
        /// Why, and what to do.
        reason: String,
    },
    /// The warm-up run failed.
    #[error("warm-up: {0}")]
    WarmUp(RunError),
}

/// A tensor element type, as ONNX names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// 32-bit float, the only type model-server feeds and reads.
    Float32,
    /// Anything else, by its ONNX name (`float16`, `uint8`, ...).
    Other(&'static str),
}

impl std::fmt::Display for ElementType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Float32 => "float32",
            Self::Other(name) => name,
        })
    }
}

/// One input or output as the model declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub element: ElementType,
    /// Its dimensions; `None` where the model leaves one free (or `None` for the whole shape
    /// when the model does not say).
    pub shape: Option<Vec<Option<u64>>>,
}

/// A model's inputs and outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signature {
    /// Inputs fed at run time (initializers left out).
    pub inputs: Vec<TensorSpec>,
    /// Outputs.
    pub outputs: Vec<TensorSpec>,
}

fn dims(spec: &TensorSpec) -> String {
    match &spec.shape {
        None => "unknown".into(),
        Some(d) => {
            let d: Vec<String> = d.iter().map(|v| v.map_or("?".into(), |v| v.to_string())).collect();
            format!("[{}]", d.join(", "))
        }
    }
}

/// Holds the config against the model's signature: one float32 input of the layout's rank
/// whose fixed dimensions agree with `input.batch` and `input.size`, and every configured
/// output present, float32, of a rank and channel count its kind can read.
pub fn check_signature(config: &ModelConfig, sig: &Signature) -> Result<(), InvalidKey> {
    let input = match sig.inputs.as_slice() {
        [one] => one,
        many => {
            let names: Vec<&str> = many.iter().map(|i| i.name.as_str()).collect();
            return Err(InvalidKey::new(
                "input",
                format!("the model has {} inputs {names:?}; model-server feeds one image input", many.len()),
            ));
        }
    };
    if let Some(name) = &config.input.name {
        if name != &input.name {
            return Err(InvalidKey::new("input.name", format!("{name:?} is not the model's input ({:?})", input.name)));
        }
    }
    if input.element != ElementType::Float32 {
        return Err(InvalidKey::new(
            "input",
            format!(
                "the model's input {:?} is {}; model-server feeds float32 (export the model with a float32 input)",
                input.name, input.element
            ),
        ));
    }
    let want = config.input.shape();
    if let Some(shape) = &input.shape {
        if shape.len() != want.len() {
            return Err(InvalidKey::new(
                "input.layout",
                format!(
                    "{:?} feeds rank {}, but the model's input {:?} has rank {} {}",
                    config.input.layout,
                    want.len(),
                    input.name,
                    shape.len(),
                    dims(input)
                ),
            ));
        }
        for (axis, (have, want)) in shape.iter().zip(&want).enumerate() {
            let Some(have) = *have else { continue };
            if have == *want as u64 {
                continue;
            }
            let (key, what) = match (axis, config.input.layout) {
                (0, Layout::Nchw) => ("input.batch", "its batch dimension"),
                (0, Layout::Ncdhw) => ("input.layout", "its batch dimension (NCDHW runs one volume)"),
                (1, _) => ("input", "its channel dimension (model-server feeds one channel)"),
                _ => ("input.size", "a spatial dimension"),
            };
            return Err(InvalidKey::new(
                key,
                format!(
                    "the model's input {:?} {} fixes {what} to {have}, the config gives {want}",
                    input.name,
                    dims(input)
                ),
            ));
        }
    }
    for (i, out) in config.outputs.iter().enumerate() {
        let Some(spec) = sig.outputs.iter().find(|o| o.name == out.name) else {
            let names: Vec<&str> = sig.outputs.iter().map(|o| o.name.as_str()).collect();
            return Err(InvalidKey::new(
                format!("outputs[{i}].name"),
                format!("{:?} is not among the model's outputs {names:?}", out.name),
            ));
        };
        if spec.element != ElementType::Float32 {
            return Err(InvalidKey::new(
                format!("outputs[{i}].name"),
                format!("the model's output {:?} is {}; model-server reads float32", out.name, spec.element),
            ));
        }
        let Some(shape) = &spec.shape else { continue };
        let rank = if out.kind.per_pixel() { config.input.layout.rank() } else { 2 };
        if shape.len() != rank {
            return Err(InvalidKey::new(
                format!("outputs[{i}].kind"),
                format!("{:?} reads rank-{rank} outputs, the model's {:?} is {}", out.kind, out.name, dims(spec)),
            ));
        }
        let Some(channels) = shape.get(1).copied().flatten() else { continue };
        if out.kind.per_pixel() && out.kind != OutputKind::NumericLabelMask && out.channel as u64 >= channels {
            return Err(InvalidKey::new(
                format!("outputs[{i}].channel"),
                format!("channel {} does not exist: {:?} has {channels}", out.channel, out.name),
            ));
        }
        let classes_name = matches!(out.kind, OutputKind::Classification | OutputKind::NumericLabelMask);
        if classes_name && out.classes.len() as u64 != channels {
            return Err(InvalidKey::new(
                format!("outputs[{i}].classes"),
                format!("{} classes named, but {:?} has {channels}", out.classes.len(), out.name),
            ));
        }
    }
    Ok(())
}

/// Whether the model leaves the batch dimension of its only input free.
pub(crate) fn batch_is_free(sig: &Signature) -> bool {
    matches!(sig.inputs.as_slice(), [one] if one.shape.as_ref().is_some_and(|s| s.first() == Some(&None)))
}

/// The error's message on one line (runtimes write several).
pub(crate) fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}
