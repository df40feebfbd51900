//! `engine: onnxruntime`: ONNX Runtime's shared library, loaded at start-up through `ort`'s
//! `load-dynamic` (nothing is downloaded at build time). The library comes from `library:` or
//! `ORT_DYLIB_PATH`; `scripts/fetch-onnxruntime` puts one in a cache directory.
//!
//! One library per process: ONNX Runtime keeps global state, so every onnxruntime model of a
//! config must use the same file.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::ep;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::{
    batch_is_free, check_signature, one_line, ElementType, Engine, LoadError, OutputTensor, RunError, Signature,
    TensorSpec,
};
use crate::config::{Device, Fallback, ModelConfig};

/// A model in an onnxruntime session.
pub struct OrtEngine {
    // `Session::run` takes `&mut`: one run at a time per model, each using `threads` cores.
    session: Mutex<Session>,
    input_name: String,
    input_shape: Vec<usize>,
    /// The model's batch dimension is free: a short batch runs at its size.
    free_batch: bool,
    outputs: Vec<String>,
    describe: String,
}

/// The library loaded into this process, and the environment built on it.
static RUNTIME: OnceLock<(PathBuf, Environment)> = OnceLock::new();
static RUNTIME_INIT: Mutex<()> = Mutex::new(());

fn runtime(library: &Path) -> Result<&'static Environment, LoadError> {
    if !library.is_file() {
        return Err(LoadError::Runtime {
            key: "library",
            reason: format!("{} does not exist (scripts/fetch-onnxruntime downloads the library)", library.display()),
        });
    }
    let _once = RUNTIME_INIT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((loaded, env)) = RUNTIME.get() {
        return if loaded == library {
            Ok(env)
        } else {
            Err(LoadError::Runtime {
                key: "library",
                reason: format!(
                    "{} was asked for, but {} is already loaded (one onnxruntime library per process)",
                    library.display(),
                    loaded.display()
                ),
            })
        };
    }
    let unusable = |e: &dyn std::fmt::Display| LoadError::Runtime {
        key: "library",
        reason: format!("cannot use the onnxruntime library: {}", one_line(&e)),
    };
    let env = ort::init_from(library)
        .map_err(|e| unusable(&e))?
        .with_name("model-server")
        .build()
        .map_err(|e| unusable(&e))?;
    Ok(&RUNTIME.get_or_init(|| (library.to_owned(), env)).1)
}

/// The library a config asks for: `library:`, else `ORT_DYLIB_PATH`.
pub fn library_path(config: &ModelConfig) -> Result<PathBuf, LoadError> {
    if let Some(path) = &config.library {
        return Ok(path.clone());
    }
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(LoadError::Runtime {
            key: "library",
            reason: "engine onnxruntime needs its shared library: set `library:` in the config or ORT_DYLIB_PATH \
                     (scripts/fetch-onnxruntime downloads it and prints the path)"
                .into(),
        }),
    }
}

impl OrtEngine {
    /// Loads the library (once per process), builds a session for `path` on the configured
    /// device with `threads` intra-op threads, and checks the model against the config.
    pub fn load(path: &Path, config: &ModelConfig) -> Result<Self, LoadError> {
        let library = library_path(config)?;
        let env = runtime(&library)?;
        if !path.is_file() {
            return Err(LoadError::File { path: path.to_owned(), reason: "the file does not exist".into() });
        }
        let threads = config.threads();
        let build = |device: Device| -> Result<Session, LoadError> {
            let invalid =
                |e: &dyn std::fmt::Display| LoadError::Invalid { path: path.to_owned(), reason: one_line(&e) };
            let session_error = |e: &dyn std::fmt::Display| LoadError::Runtime {
                key: "engine",
                reason: format!("cannot configure an onnxruntime session: {}", one_line(&e)),
            };
            let mut builder: SessionBuilder = Session::builder(env)
                .map_err(|e| session_error(&e))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| session_error(&e))?
                .with_intra_threads(threads)
                .map_err(|e| session_error(&e))?
                .with_inter_threads(1)
                .map_err(|e| session_error(&e))?;
            if let Device::Cuda(id) = device {
                let cuda = ep::CUDA::default().with_device_id(id as i32).build().error_on_failure();
                builder = builder.with_execution_providers([cuda]).map_err(|e| LoadError::Runtime {
                    key: "device",
                    reason: format!("CUDA device {id} is not usable with this onnxruntime library: {}", one_line(&e)),
                })?;
            }
            builder.commit_from_file(path).map_err(|e| invalid(&e))
        };
        let device = config.device.unwrap_or_default();
        let (session, on) = match (build(device), config.fallback) {
            (Ok(s), _) => (s, device),
            (Err(LoadError::Runtime { key: "device", reason }), Some(Fallback::Cpu)) => {
                tracing::warn!("{reason}; running on the CPU (fallback: cpu)");
                (build(Device::Cpu)?, Device::Cpu)
            }
            (Err(LoadError::Runtime { key: "device", reason }), None) => {
                return Err(LoadError::Runtime {
                    key: "device",
                    reason: format!("{reason} (add `fallback: cpu` to run on the CPU instead)"),
                })
            }
            (Err(e), _) => return Err(e),
        };
        let signature = Signature {
            inputs: session.inputs().iter().map(|o| spec(o.name(), o.dtype())).collect(),
            outputs: session.outputs().iter().map(|o| spec(o.name(), o.dtype())).collect(),
        };
        check_signature(config, &signature)?;
        let device = match on {
            Device::Cpu => "CPU".to_owned(),
            Device::Cuda(id) => format!("CUDA device {id}"),
        };
        Ok(Self {
            input_name: signature.inputs.first().map(|i| i.name.clone()).unwrap_or_default(),
            session: Mutex::new(session),
            input_shape: config.input.shape(),
            free_batch: batch_is_free(&signature),
            outputs: config.outputs.iter().map(|o| o.name.clone()).collect(),
            describe: format!(
                "onnxruntime ({}), {device}, {threads} intra-op thread{}",
                library.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
                if threads == 1 { "" } else { "s" }
            ),
        })
    }
}

impl Engine for OrtEngine {
    fn run(&self, input: &[f32]) -> Result<Vec<OutputTensor>, RunError> {
        self.run_shaped(&self.input_shape, input)
    }

    fn free_batch(&self) -> bool {
        self.free_batch
    }

    fn run_images(&self, input: &[f32], images: usize) -> Result<Vec<OutputTensor>, RunError> {
        let shape: Vec<usize> = std::iter::once(images).chain(self.input_shape.iter().skip(1).copied()).collect();
        self.run_shaped(&shape, input)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

impl OrtEngine {
    fn run_shaped(&self, shape: &[usize], input: &[f32]) -> Result<Vec<OutputTensor>, RunError> {
        let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| RunError::failed(one_line(&e)))?;
        let mut session = self.session.lock().map_err(|_| RunError::failed("an earlier run panicked"))?;
        let outputs = session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| RunError::failed(one_line(&e)))?;
        self.outputs
            .iter()
            .map(|name| {
                let value = outputs.get(name).ok_or_else(|| RunError::failed(format!("no output {name:?}")))?;
                let (shape, values) = value.try_extract_tensor::<f32>().map_err(|e| RunError::failed(one_line(&e)))?;
                Ok((shape.iter().map(|&d| d.max(0) as usize).collect(), values.to_vec()))
            })
            .collect()
    }
}

fn spec(name: &str, dtype: &ValueType) -> TensorSpec {
    let element = match dtype.tensor_type() {
        Some(TensorElementType::Float32) => ElementType::Float32,
        Some(TensorElementType::Float16) => ElementType::Other("float16"),
        Some(TensorElementType::Bfloat16) => ElementType::Other("bfloat16"),
        Some(TensorElementType::Float64) => ElementType::Other("float64"),
        Some(TensorElementType::Uint8) => ElementType::Other("uint8"),
        Some(TensorElementType::Int8) => ElementType::Other("int8"),
        Some(TensorElementType::Int32) => ElementType::Other("int32"),
        Some(TensorElementType::Int64) => ElementType::Other("int64"),
        Some(TensorElementType::Bool) => ElementType::Other("bool"),
        _ => ElementType::Other("a type other than float32"),
    };
    let shape = dtype.tensor_shape().map(|s| s.iter().map(|&d| (d > 0).then_some(d as u64)).collect());
    TensorSpec { name: name.to_owned(), element, shape }
}
