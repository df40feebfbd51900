//! The model configuration: which engine runs the model, how images become its input and what
//! its outputs mean. A file holds one model (served on `/`) or a list under `models:`, each
//! with its own `route`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod check;
mod locate;
mod normalize;
mod output;
pub use output::{Activation, OutputConfig, OutputKind, DEFAULT_MIN_BOX_PIXELS};

/// A configuration that cannot be used; start-up stops with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("model config {}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML for the schema (an unknown key, a wrong type, a missing key).
    #[error("model config {}{}: {}", path.display(), locate::at(source), locate::without_location(source))]
    Parse {
        /// The config file.
        path: PathBuf,
        /// Where and why, as the YAML reader says.
        source: serde_yaml_ng::Error,
    },
    /// A value breaks a rule of the schema.
    #[error("model config {}{}: {key}: {reason}", path.display(), place.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The key's 1-based line and column in the file, when found.
        place: Option<(usize, usize)>,
        /// The offending key, e.g. `models[1].input.size`.
        key: String,
        /// Why.
        reason: String,
    },
}

/// A rule broken by one model's configuration: the key and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidKey {
    /// The offending key, relative to the model's block (e.g. `input.size`).
    pub key: String,
    /// Why.
    pub reason: String,
}

impl InvalidKey {
    /// A broken rule at `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { key: key.into(), reason: reason.into() }
    }
}

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

impl Layout {
    /// The input tensor's rank.
    pub fn rank(self) -> usize {
        match self {
            Self::Nchw => 4,
            Self::Ncdhw => 5,
        }
    }
}

/// The model's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// ONNX input name (default: the model's only input).
    #[serde(default)]
    pub name: Option<String>,
    /// `NCHW` or `NCDHW`.
    pub layout: Layout,
    /// `[H, W]` (NCHW) or `[D, H, W]` (NCDHW): images are resized to it and results back.
    /// Not set with `patch`.
    #[serde(default)]
    pub size: Vec<usize>,
    /// Slices per run for NCHW, windows per run with `patch` (the model's batch dimension must
    /// be free or equal to it).
    #[serde(default = "one")]
    pub batch: usize,
    /// `[H, W]` or `[D, H, W]`: the model runs on windows of this size slid over each image or
    /// volume (at `preprocess.spacing` when set), their outputs fused with Gaussian weights.
    #[serde(default)]
    pub patch: Option<Vec<usize>>,
    /// How much neighbouring windows overlap, 0 to 0.9 of the patch (default 0.5).
    #[serde(default = "half_overlap")]
    pub overlap: f64,
    /// Test-time augmentation of windows: `mirror` also runs each window mirrored along every
    /// combination of its axes and averages the outputs mirrored back.
    #[serde(default)]
    pub tta: Option<Tta>,
}

/// Test-time augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tta {
    /// Every combination of mirrorings along the patch's axes (4 in 2D, 8 in 3D).
    Mirror,
}

fn half_overlap() -> f64 {
    0.5
}

impl InputConfig {
    /// The input tensor's shape: `[batch, 1, H, W]` or `[1, 1, D, H, W]`; the patch's with
    /// `patch` (`[batch, 1, ...patch]`).
    pub fn shape(&self) -> Vec<usize> {
        let batch = if self.layout == Layout::Nchw || self.patch.is_some() { self.batch } else { 1 };
        [batch, 1].iter().chain(self.dims()).copied().collect()
    }

    /// The spatial size the model runs: `patch`, else `size`.
    pub fn dims(&self) -> &[usize] {
        self.patch.as_deref().unwrap_or(&self.size)
    }

    /// The model's plane size `(H, W)`.
    pub fn plane(&self) -> (usize, usize) {
        let d = self.dims();
        let n = d.len();
        (d.get(n.wrapping_sub(2)).copied().unwrap_or(1), d.last().copied().unwrap_or(1))
    }
}

fn one() -> usize {
    1
}

/// Images (frames included) a request may hold unless `max_images` says otherwise: far above
/// any real study, far below what a file of a million one-pixel frames declares.
pub const DEFAULT_MAX_IMAGES: usize = 20_000;

fn default_max_images() -> usize {
    DEFAULT_MAX_IMAGES
}

/// Intensity preprocessing. The modality rescale (RescaleSlope/Intercept) is always applied
/// first, so values are in the modality's units (Hounsfield for CT).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessConfig {
    /// How values become the model's range: a name (`auto`), or a one-key map for a variant
    /// with values (`{window: {center: 40, width: 400}}`).
    #[serde(default)]
    pub normalize: Normalize,
    /// `[z, y, x]` (NCDHW) or `[y, x]` (NCHW) in mm: each series is resampled from its DICOM
    /// geometry to this spacing before the model (linear), and outputs come back to the
    /// original grid (linear for probabilities, nearest for labels). Needs `input.patch`.
    #[serde(default)]
    pub spacing: Option<Vec<f64>>,
    /// Pads the (resampled) image or volume with zeros at its far end to a multiple of this
    /// along each axis before the windows slide; results are cropped back. Needs `input.patch`.
    #[serde(default)]
    pub pad_to_multiple: Option<usize>,
}

/// How rescaled values become the model's input range.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "normalize::Written")]
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
    /// The dataset's statistics (nnU-Net's CT normalisation): values clipped to `clip` when
    /// given, then `(v - mean) / std`.
    Dataset {
        /// `[lo, hi]`, in the modality's units.
        clip: Option<[f64; 2]>,
        /// The dataset's mean.
        mean: f64,
        /// The dataset's standard deviation.
        std: f64,
    },
}

/// `dynamic_batching:`: how runs of concurrent requests are gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicBatching {
    /// Images one gathered run holds at most.
    pub max_batch: usize,
    /// How long the first run waits for others (milliseconds).
    #[serde(default)]
    pub max_delay_ms: u64,
}

/// Which runtime runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// tract, in-process and pure Rust: nothing to install.
    #[default]
    Tract,
    /// ONNX Runtime's shared library, loaded at start-up (`library:` or `ORT_DYLIB_PATH`).
    Onnxruntime,
    /// A server speaking the Open Inference Protocol (KServe v2), configured by `remote:`.
    Remote,
}

/// Where onnxruntime runs the model: `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider on GPU N.
    Cuda(u32),
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| serde::de::Error::custom(format!("device {s:?}: expected cpu, cuda or cuda:N"))),
        }
    }
}

/// What to do when the configured device cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Run on the CPU instead (with a warning in the log).
    Cpu,
}

/// A remote Open Inference Protocol (KServe v2) model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// The server's base URL, e.g. `http://triton:8000`.
    pub url: String,
    /// The model's name on the server.
    pub model: String,
    /// The model's version (the server's default when absent).
    #[serde(default)]
    pub version: Option<String>,
}

/// One model: its file or remote, its engine, its input, preprocessing and outputs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The route serving it (`/` when the file holds one model).
    #[serde(default)]
    pub route: Option<String>,
    /// The `.onnx` file, relative to the config file.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// Several `.onnx` files (an ensemble, e.g. nnU-Net's folds) in place of `model`: each runs
    /// on the input, one after another on the same engine and threads, and their activated
    /// outputs (probabilities) are averaged. Relative to the config file.
    #[serde(default)]
    pub ensemble: Vec<PathBuf>,
    /// The runtime (default `tract`).
    #[serde(default)]
    pub engine: EngineKind,
    /// Threads one inference uses (default: the available cores).
    #[serde(default)]
    pub threads: Option<usize>,
    /// onnxruntime only: `cpu` (default), `cuda` or `cuda:N`.
    #[serde(default)]
    pub device: Option<Device>,
    /// onnxruntime only: `cpu` to run there when the device is unavailable.
    #[serde(default)]
    pub fallback: Option<Fallback>,
    /// onnxruntime only: the `libonnxruntime` shared library (default: `ORT_DYLIB_PATH`),
    /// relative to the config file.
    #[serde(default)]
    pub library: Option<PathBuf>,
    /// remote only: the server and model.
    #[serde(default)]
    pub remote: Option<RemoteConfig>,
    /// The input.
    pub input: InputConfig,
    /// Preprocessing.
    #[serde(default)]
    pub preprocess: PreprocessConfig,
    /// The outputs used, in order.
    pub outputs: Vec<OutputConfig>,
    /// Images one request may hold, every frame of a multi-frame instance counted (default
    /// [`DEFAULT_MAX_IMAGES`]); a study with more is refused with 422 before any is decoded.
    #[serde(default = "default_max_images")]
    pub max_images: usize,
    /// Gathers the runs of concurrent requests into one engine run (NCHW, the model's batch
    /// free); `--max-concurrent` must let the requests run at once.
    #[serde(default)]
    pub dynamic_batching: Option<DynamicBatching>,
    /// Also serve it to MONAI Label clients (`GET /info/`, `POST /infer/{name}`, see
    /// [`ModelConfig::name`]); off by default.
    #[serde(default)]
    pub monailabel: bool,
}

impl ModelConfig {
    /// Reads a file holding one model; a relative `model` or `library` path is made relative
    /// to it.
    /// `model` may be absent (given elsewhere, e.g. `mock-server --model`).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut models = ServerConfig::read(path, false)?.models;
        match (models.pop(), models.is_empty()) {
            (Some(m), true) => Ok(m),
            _ => Err(ConfigError::Invalid {
                path: path.to_owned(),
                place: None,
                key: "models".into(),
                reason: "this command serves one model; the file lists several".into(),
            }),
        }
    }

    /// The model's name on other platforms (MONAI Label's model, MLCube and MD.ai logs): its
    /// route without slashes (`/ct/liver` is `ct_liver`), or the file's stem on `/`.
    pub fn name(&self) -> String {
        let route = self.route.as_deref().unwrap_or("/").trim_matches('/').replace('/', "_");
        if !route.is_empty() {
            return route;
        }
        let stem = self.model.as_deref().and_then(|m| m.file_stem()).map(|s| s.to_string_lossy().into_owned());
        stem.unwrap_or_else(|| "model".into())
    }

    /// Threads one inference uses: `threads:` or the available cores.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    fn resolve_paths(&mut self, dir: &Path) {
        for p in [&mut self.model, &mut self.library].into_iter().flatten().chain(&mut self.ensemble) {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

/// A config file: the models it serves, each on its route.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The models, in file order; every one has its route set.
    pub models: Vec<ModelConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelList {
    models: Vec<ModelConfig>,
}

impl ServerConfig {
    /// Reads and checks a config file: one model (served on `/`), or `models:` with a distinct
    /// `route` each. Relative paths are made relative to the file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::read(path, true)
    }

    fn read(path: &Path, require_model: bool) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")), require_model).map_err(|e| match e {
            ParseError::Yaml(source) => ConfigError::Parse { path: path.to_owned(), source },
            ParseError::Key(InvalidKey { key, reason }) => {
                ConfigError::Invalid { path: path.to_owned(), place: locate::locate(&text, &key), key, reason }
            }
        })
    }

    fn parse(text: &str, dir: &Path, require_model: bool) -> Result<Self, ParseError> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(ParseError::Yaml)?;
        let listed = value.get("models").is_some();
        // Read from the text, not the value, so that errors keep their line and column.
        let mut models = if listed {
            serde_yaml_ng::from_str::<ModelList>(text).map_err(ParseError::Yaml)?.models
        } else {
            vec![serde_yaml_ng::from_str::<ModelConfig>(text).map_err(ParseError::Yaml)?]
        };
        if models.is_empty() {
            return Err(ParseError::Key(InvalidKey::new("models", "the list is empty")));
        }
        let mut routes: Vec<String> = Vec::new();
        for (i, m) in models.iter_mut().enumerate() {
            let prefix = if listed { format!("models[{i}].") } else { String::new() };
            let at = |e: InvalidKey| ParseError::Key(InvalidKey::new(format!("{prefix}{}", e.key), e.reason));
            if listed && m.route.is_none() {
                return Err(at(InvalidKey::new("route", "every model of a list needs its route")));
            }
            let route = m.route.get_or_insert_with(|| "/".into()).clone();
            if routes.contains(&route) {
                return Err(at(InvalidKey::new("route", format!("{route} is used by an earlier model"))));
            }
            m.check().map_err(at)?;
            if require_model && m.engine != EngineKind::Remote && m.model.is_none() && m.ensemble.is_empty() {
                return Err(at(InvalidKey::new("model", "missing: the .onnx file to serve")));
            }
            m.resolve_paths(dir);
            routes.push(route);
        }
        Ok(Self { models })
    }
}

enum ParseError {
    Yaml(serde_yaml_ng::Error),
    Key(InvalidKey),
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
