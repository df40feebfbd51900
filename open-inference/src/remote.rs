//! One model on a remote server, checked at start-up against what the caller
//! was configured for: what an engine holds.

use crate::client::Client;
use crate::error::{Error, Mismatch, Result};
use crate::tensor::{InputTensor, ModelMetadata, OutputTensor, TensorSpec};

/// A model on an Open Inference Protocol server whose inputs and outputs were
/// checked against the caller's expectations when it was connected.
///
/// Cheap to clone (clones share the client's connections).
#[derive(Clone, Debug)]
pub struct RemoteModel {
    client: Client,
    name: String,
    version: Option<String>,
    metadata: ModelMetadata,
    outputs: Vec<TensorSpec>,
}

impl RemoteModel {
    /// Checks, in this order, that the model exists ([`Error::ModelNotFound`]),
    /// that the server and the model are ready ([`Error::NotReady`]), and that the
    /// model's metadata agrees with `inputs` and `outputs` ([`Error::Mismatch`]).
    /// [`RemoteModel::infer`] asks for `outputs`, in their order.
    pub async fn connect(
        client: Client,
        name: &str,
        version: Option<&str>,
        inputs: &[TensorSpec],
        outputs: &[TensorSpec],
    ) -> Result<RemoteModel> {
        let metadata = client.model_metadata(name, version).await?;
        if !client.server_ready().await? {
            return Err(Error::NotReady { what: format!("the server at {}", client.base_url()) });
        }
        if !client.model_ready(name, version).await? {
            return Err(Error::NotReady { what: format!("model {name:?}") });
        }
        metadata.check(inputs, outputs)?;
        Ok(RemoteModel {
            client,
            name: name.to_owned(),
            version: version.map(str::to_owned),
            metadata,
            outputs: outputs.to_vec(),
        })
    }

    /// The model's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's version, if one was named.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The metadata read when connecting.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Server and model ready (for a readiness endpoint); any error counts as not ready.
    pub async fn ready(&self) -> bool {
        self.client.ready(&self.name, self.version.as_deref()).await
    }

    /// Runs the model. Returns the outputs given to [`RemoteModel::connect`], in
    /// that order, each checked against its expected datatype, rank and fixed
    /// dimensions ([`Error::Mismatch`] if the server answers otherwise).
    pub async fn infer(&self, inputs: &[InputTensor<'_>]) -> Result<Vec<OutputTensor>> {
        let names: Vec<&str> = self.outputs.iter().map(|spec| spec.name.as_str()).collect();
        let outputs = self.client.infer(&self.name, self.version.as_deref(), inputs, &names).await?;
        for (output, spec) in outputs.iter().zip(&self.outputs) {
            self.check_output(output, spec)?;
        }
        Ok(outputs)
    }

    fn check_output(&self, output: &OutputTensor, spec: &TensorSpec) -> Result<()> {
        let error = |mismatch| Error::Mismatch {
            model: self.name.clone(),
            tensor_kind: "output",
            tensor: spec.name.clone(),
            mismatch,
        };
        if output.datatype != spec.datatype {
            return Err(error(Mismatch::Datatype { expected: spec.datatype, actual: output.datatype }));
        }
        let actual: Vec<i64> = output.shape.iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect();
        if actual.len() != spec.shape.len() {
            return Err(error(Mismatch::Rank { expected: spec.shape.clone(), actual }));
        }
        for (axis, (&expected, &actual)) in spec.shape.iter().zip(&actual).enumerate() {
            if expected >= 0 && expected != actual {
                return Err(error(Mismatch::Dimension { axis, expected, actual }));
            }
        }
        Ok(())
    }
}
