//! Serving ONNX models over the Arterys inference protocol with no code: a config file says
//! which engine runs each model (tract, onnxruntime), how images become its input and what its
//! outputs mean; [`Model`] answers requests, [`service`] puts models on routes of a gateway.
//!
//! **Dependencies**: the gateway, the viewer, the protocol, open-inference and the engines
//! (tract, onnxruntime loaded at run time). Never the mock server or the test tool, and
//! nothing downloaded at build time.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use arterys_model_server::{config::ModelConfig, Model};
//! let model = Model::load(ModelConfig::load("model.yaml".as_ref())?)?;
//! model.warm_up()?;
//! # Ok(()) }
//! ```

mod batcher;
pub mod config;
pub mod engine;
mod failure;
mod frames;
mod image_ops;
pub mod model;
mod native_frames;
pub mod platform;
mod postprocess;
mod preprocess;
mod resample;
mod results;
pub mod service;
mod sliding;
/// Study assembly lives in the viewer crate (the mock server answers on the same view).
use arterys_gateway::dicom::study;

pub use config::{ConfigError, ModelConfig, ServerConfig};
pub use engine::{Engine, LoadError, OutputTensor, RunError, RunErrorKind};
pub use model::Model;
