//! `engine: tract`: the pure-Rust runtime, nothing to install.
//!
//! The model is typed with the config's fixed input shape and optimized once (decluttered,
//! constant-folded, kernels chosen for those shapes). `threads:` above 1 gives tract's matrix
//! products a private thread pool (tract-linalg's `multithread-mm`).

use std::path::Path;
use std::sync::Arc;

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{self, type_proto, ValueInfoProto};
use tract_onnx::prelude::*;

use super::{
    batch_is_free, check_signature, one_line, ElementType, Engine, LoadError, OutputTensor, RunError, Signature,
    TensorSpec,
};
use crate::config::{InvalidKey, Layout, ModelConfig};

/// A model typed, optimized and planned by tract.
pub struct TractEngine {
    plan: Arc<TypedRunnableModel>,
    /// The same model with a symbolic batch, for runs of other sizes (the batch dimension is
    /// free): short batches, dynamic batches.
    short: Option<Arc<TypedRunnableModel>>,
    input_shape: Vec<usize>,
    executor: Executor,
    threads: usize,
}

impl TractEngine {
    /// Loads `path`, checks it against the config, fixes its input shape and optimizes it.
    pub fn load(path: &Path, config: &ModelConfig) -> Result<Self, LoadError> {
        if !path.is_file() {
            return Err(LoadError::File { path: path.to_owned(), reason: "the file does not exist".into() });
        }
        let invalid = |e: &dyn std::fmt::Display| LoadError::Invalid { path: path.to_owned(), reason: one_line(&e) };
        let onnx = tract_onnx::onnx();
        let proto = onnx.proto_model_for_path(path).map_err(|e| invalid(&e))?;
        let sig = signature(&proto);
        check_signature(config, &sig)?;
        let dir = path.parent().and_then(Path::to_str);
        let parsed = onnx.parse(&proto, dir).map_err(|e| invalid(&e))?;
        if !parsed.unresolved_inputs.is_empty() {
            return Err(invalid(&format!("unresolved inputs {:?}", parsed.unresolved_inputs)));
        }
        let mut model = parsed.model;
        model.select_outputs_by_name(config.outputs.iter().map(|o| o.name.as_str())).map_err(|e| invalid(&e))?;
        let input_shape = config.input.shape();
        let contradiction = |e: &dyn std::fmt::Display| {
            LoadError::Contradiction(InvalidKey::new(
                "input",
                format!("the input shape {input_shape:?} contradicts the model: {}", one_line(&e)),
            ))
        };
        // A free batch (of slices or windows) gets a second plan whose batch is a symbol: a short batch runs
        // at its size; the full batch keeps the plan optimized for its fixed shape.
        let batches = config.input.layout == Layout::Nchw || config.input.patch.is_some();
        let short = if batch_is_free(&sig) && batches {
            let n = model.symbols.sym("N");
            let dims: Vec<TDim> =
                std::iter::once(TDim::from(n)).chain(input_shape.iter().skip(1).map(|&d| d.to_dim())).collect();
            let typed = model
                .clone()
                .with_input_fact(0, f32::fact(dims).into())
                .and_then(|m| m.into_optimized())
                .map_err(|e| contradiction(&e))?;
            Some(typed.into_runnable().map_err(|e| contradiction(&e))?)
        } else {
            None
        };
        let typed = model
            .with_input_fact(0, f32::fact(&input_shape).into())
            .and_then(|m| m.into_optimized())
            .map_err(|e| contradiction(&e))?;
        let plan = typed.into_runnable().map_err(|e| contradiction(&e))?;
        let threads = config.threads();
        let executor =
            if threads > 1 { Executor::multithread_with_name(threads, "tract") } else { Executor::SingleThread };
        Ok(Self { plan, short, input_shape, executor, threads })
    }
}

impl TractEngine {
    fn run_plan(
        &self,
        plan: &Arc<TypedRunnableModel>,
        shape: &[usize],
        input: &[f32],
    ) -> Result<Vec<OutputTensor>, RunError> {
        let tensor = Tensor::from_shape(shape, input).map_err(|e| RunError::failed(one_line(&e)))?;
        let outputs = multithread_tract_scope(self.executor.clone(), || plan.run(tvec!(tensor.into_tvalue())))
            .map_err(|e| RunError::failed(one_line(&e)))?;
        outputs
            .iter()
            .map(|t| {
                let view = t.to_plain_array_view::<f32>().map_err(|e| RunError::failed(one_line(&e)))?;
                Ok((view.shape().to_vec(), view.iter().copied().collect()))
            })
            .collect()
    }
}

impl Engine for TractEngine {
    fn run(&self, input: &[f32]) -> Result<Vec<OutputTensor>, RunError> {
        self.run_plan(&self.plan, &self.input_shape, input)
    }

    fn free_batch(&self) -> bool {
        self.short.is_some()
    }

    fn run_images(&self, input: &[f32], images: usize) -> Result<Vec<OutputTensor>, RunError> {
        match &self.short {
            Some(short) if self.input_shape.first() != Some(&images) => {
                let shape: Vec<usize> =
                    std::iter::once(images).chain(self.input_shape.iter().skip(1).copied()).collect();
                self.run_plan(short, &shape, input)
            }
            _ => self.run(input),
        }
    }

    fn describe(&self) -> String {
        format!("tract, {} thread{}", self.threads, if self.threads == 1 { "" } else { "s" })
    }
}

/// The model's declared inputs (initializers left out) and outputs.
fn signature(proto: &pb::ModelProto) -> Signature {
    let Some(graph) = &proto.graph else { return Signature::default() };
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    Signature {
        inputs: graph.input.iter().filter(|i| !initializers.contains(&i.name.as_str())).map(spec).collect(),
        outputs: graph.output.iter().map(spec).collect(),
    }
}

fn spec(info: &ValueInfoProto) -> TensorSpec {
    let tensor = info.r#type.as_ref().and_then(|t| t.value.as_ref()).map(|type_proto::Value::TensorType(t)| t);
    let element = match tensor.map(|t| DataType::try_from(t.elem_type)) {
        Some(Ok(DataType::Float)) => ElementType::Float32,
        Some(Ok(DataType::Float16)) => ElementType::Other("float16"),
        Some(Ok(DataType::Bfloat16)) => ElementType::Other("bfloat16"),
        Some(Ok(DataType::Double)) => ElementType::Other("float64"),
        Some(Ok(DataType::Uint8)) => ElementType::Other("uint8"),
        Some(Ok(DataType::Int8)) => ElementType::Other("int8"),
        Some(Ok(DataType::Int32)) => ElementType::Other("int32"),
        Some(Ok(DataType::Int64)) => ElementType::Other("int64"),
        Some(Ok(DataType::Bool)) => ElementType::Other("bool"),
        _ => ElementType::Other("a type other than float32"),
    };
    let shape = tensor.and_then(|t| t.shape.as_ref()).map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => Some(v as u64),
                _ => None,
            })
            .collect()
    });
    TensorSpec { name: info.name.clone(), element, shape }
}
