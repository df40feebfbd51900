//! The same configured model behind other platforms' interfaces: a MONAI Label REST subset
//! ([`monailabel`]), the MedPerf Model MLCube `infer` task ([`mlcube`]) and, through the
//! `mdai/` adapter, MD.ai's interface (which speaks the Arterys protocol to this server).
//! Every path runs the model exactly as the Arterys route does ([`Model::answer`]) and converts
//! its answer, so a mask has the same voxels whichever platform asks.

pub mod form;
pub mod label;
pub mod mlcube;
pub mod monailabel;
pub mod nifti_io;
pub mod upload;

use arterys_gateway::{HandlerError, InferenceInput, InferenceResponse, RequestPart};
use bytes::Bytes;

use crate::model::Model;
use crate::study::Study;

/// Runs `model` on DICOM files as the Arterys route would: the answer and the study it read.
pub fn answer_files(model: &Model, files: Vec<Bytes>) -> Result<(InferenceResponse, Study), HandlerError> {
    let input = InferenceInput {
        request: Default::default(),
        json: Bytes::from_static(b"{}"),
        dicom: files
            .into_iter()
            .enumerate()
            .map(|(i, body)| RequestPart::new(i + 1, Default::default(), body))
            .collect(),
        attachments: Vec::new(),
        input_hash: String::new(),
        route: String::new(),
        study_dir: None,
    };
    let study = Study::read(&input)?;
    let response = model.answer(&input)?;
    Ok((response, study))
}

/// A running server's future.
pub type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;

/// Binds `addr` and serves the gateway's routes, with another platform's routes merged into
/// it ([`Gateway::merge_admitted`](arterys_gateway::Gateway::merge_admitted)), on the
/// gateway's own server (its timeouts, connection cap and graceful shutdown apply to all)
/// until SIGTERM or Ctrl-C. Returns the bound address and the server's future. The study
/// root, when set, must exist.
pub async fn serve_with(
    gw: arterys_gateway::Gateway,
    addr: impl tokio::net::ToSocketAddrs,
) -> std::io::Result<(std::net::SocketAddr, Serving)> {
    let server = gw.bind(addr).await?;
    let local = server.local_addr();
    Ok((local, Box::pin(server.run())))
}
