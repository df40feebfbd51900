//! `engine: remote`: a model on an Open Inference Protocol (KServe v2) server such as Triton,
//! KServe or MLServer, through `arterys-open-inference` (binary tensors, pooled connections,
//! bounded retries). At start-up the server's metadata is held against the config by the same
//! rules as a local model, then the model's existence and readiness are checked.
//!
//! The engine owns a small runtime for the client: [`Engine::run`] is called from the
//! service's blocking threads, never from async code.

use arterys_open_inference::{
    Client, ClientOptions, Datatype, Error as RemoteError, ErrorKind, InputTensor, ModelMetadata, RemoteModel,
    TensorMetadata, TensorSpec as WireSpec,
};

use super::{
    check_signature, ElementType, Engine, LoadError, OutputTensor, RunError, RunErrorKind, Signature, TensorSpec,
};
use crate::config::{ModelConfig, RemoteConfig};

/// A remote model, connected and checked.
pub struct RemoteEngine {
    model: RemoteModel,
    runtime: tokio::runtime::Runtime,
    /// A client and runtime of their own for readiness probes, with short deadlines, so a
    /// probe never waits behind (or holds up) an inference.
    probe: std::sync::Mutex<(tokio::runtime::Runtime, Client)>,
    input_name: String,
    input_shape: Vec<u64>,
    describe: String,
}

fn unavailable(e: &dyn std::fmt::Display) -> LoadError {
    LoadError::Runtime { key: "remote", reason: e.to_string() }
}

impl RemoteEngine {
    /// Connects to `remote`, checks its metadata against the config, and checks that server
    /// and model are ready.
    pub fn load(remote: &RemoteConfig, config: &ModelConfig) -> Result<Self, LoadError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| unavailable(&e))?;
        let client = Client::new(&remote.url, ClientOptions::default()).map_err(|e| unavailable(&e))?;
        let version = remote.version.as_deref();
        let metadata = runtime.block_on(client.model_metadata(&remote.model, version)).map_err(|e| unavailable(&e))?;
        check_signature(config, &signature(&metadata))?;
        let input = metadata.inputs.first().map(|i| i.name.clone()).unwrap_or_default();
        let shape: Vec<i64> = config.input.shape().iter().map(|&d| d as i64).collect();
        let inputs = [WireSpec::new(input.clone(), Datatype::Fp32, shape)];
        let outputs: Vec<WireSpec> = config
            .outputs
            .iter()
            .map(|o| {
                let shape = metadata.outputs.iter().find(|m| m.name == o.name).map(|m| m.shape.clone());
                WireSpec::new(o.name.clone(), Datatype::Fp32, shape.unwrap_or_default())
            })
            .collect();
        let model = runtime
            .block_on(RemoteModel::connect(client, &remote.model, version, &inputs, &outputs))
            .map_err(|e| unavailable(&e))?;
        let probe_options = ClientOptions {
            timeout: std::time::Duration::from_secs(2),
            connect_timeout: std::time::Duration::from_secs(1),
            retries: 0,
            ..ClientOptions::default()
        };
        let probe_client = Client::new(&remote.url, probe_options).map_err(|e| unavailable(&e))?;
        let probe_runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| unavailable(&e))?;
        Ok(Self {
            model,
            runtime,
            probe: std::sync::Mutex::new((probe_runtime, probe_client)),
            input_name: input,
            input_shape: config.input.shape().iter().map(|&d| d as u64).collect(),
            describe: format!("remote {} at {}", remote.model, remote.url),
        })
    }
}

impl Engine for RemoteEngine {
    fn run(&self, input: &[f32]) -> Result<Vec<OutputTensor>, RunError> {
        let tensor = InputTensor::f32(&self.input_name, &self.input_shape, input);
        let outputs = self.runtime.block_on(self.model.infer(&[tensor])).map_err(|e| run_error(&e))?;
        outputs
            .iter()
            .map(|o| {
                let values = o.to_f32().map_err(|e| run_error(&e))?;
                Ok((o.shape.iter().map(|&d| d as usize).collect(), values))
            })
            .collect()
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn ready(&self) -> bool {
        let Ok(probe) = self.probe.lock() else { return false };
        let (runtime, client) = &*probe;
        runtime.block_on(client.ready(self.model.name(), self.model.version()))
    }
}

fn signature(metadata: &ModelMetadata) -> Signature {
    let spec = |t: &TensorMetadata| TensorSpec {
        name: t.name.clone(),
        element: if t.datatype == Datatype::Fp32 {
            ElementType::Float32
        } else {
            ElementType::Other(t.datatype.as_str())
        },
        shape: Some(t.shape.iter().map(|&d| u64::try_from(d).ok().filter(|&d| d > 0)).collect()),
    };
    Signature {
        inputs: metadata.inputs.iter().map(spec).collect(),
        outputs: metadata.outputs.iter().map(spec).collect(),
    }
}

/// The remote's failure as the request should see it (502, 503, 504).
fn run_error(e: &RemoteError) -> RunError {
    let kind = match e.kind() {
        ErrorKind::Unavailable => RunErrorKind::Unavailable,
        ErrorKind::BadGateway => RunErrorKind::BadGateway,
        ErrorKind::Timeout => RunErrorKind::Timeout,
        _ => RunErrorKind::Failed,
    };
    RunError { kind, message: e.to_string() }
}
