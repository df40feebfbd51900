//! `engine: remote`: a model on an Open Inference Protocol (KServe v2) server such as Triton,
//! KServe or MLServer, through `arterys-open-inference` (binary tensors, pooled connections,
//! bounded retries). At start-up the server's metadata is held against the config by the same
//! rules as a local model, then the model's existence and readiness are checked.
//!
//! Every remote engine of the process runs its clients on one runtime ([`runtime`]), built
//! when the first one loads: [`Engine::run`] is called from the service's blocking threads,
//! never from async code, and waits there with `block_on` while the runtime's workers drive
//! the pooled connections.

use std::sync::OnceLock;

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
    runtime: &'static tokio::runtime::Runtime,
    /// A client of its own (own connections, short deadlines) for readiness probes, so a probe
    /// never waits behind (or holds up) an inference.
    probe: Client,
    input_name: String,
    input_shape: Vec<u64>,
    describe: String,
}

fn unavailable(e: &dyn std::fmt::Display) -> LoadError {
    LoadError::Runtime { key: "remote", reason: e.to_string() }
}

/// Worker threads of the remote engines' runtime: they only move bytes (the calling threads
/// wait on their own calls), so two serve any number of models.
const RUNTIME_WORKERS: usize = 2;

/// The process's one runtime for remote engines, built on first use. Callers block on it
/// from their own threads (`block_on` on a multi-thread runtime may be called from several
/// threads at once); connection tasks run on its workers.
fn runtime() -> Result<&'static tokio::runtime::Runtime, LoadError> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_WORKERS)
        .thread_name("remote-engine")
        .enable_all()
        .build()
        .map_err(|e| unavailable(&e))?;
    // Two first loads at once: one runtime is kept, the other dropped unused.
    Ok(RUNTIME.get_or_init(|| built))
}

impl RemoteEngine {
    /// Connects to `remote`, checks its metadata against the config, and checks that server
    /// and model are ready.
    pub fn load(remote: &RemoteConfig, config: &ModelConfig) -> Result<Self, LoadError> {
        let runtime = runtime()?;
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
        let probe = Client::new(&remote.url, probe_options).map_err(|e| unavailable(&e))?;
        Ok(Self {
            model,
            runtime,
            probe,
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
        self.runtime.block_on(self.probe.ready(self.model.name(), self.model.version()))
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
