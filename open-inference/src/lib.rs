//! An async client for the Open Inference Protocol (the KServe v2 REST API),
//! as Triton Inference Server, KServe and MLServer speak it: readiness, model
//! metadata and inference, with tensors sent and received through the binary
//! tensor data extension (JSON number arrays are far too slow for image
//! batches).
//!
//! - [`Client`] is the transport: pooled keep-alive HTTP/1.1 connections, a
//!   deadline per call, bounded retries, bounded response bodies.
//! - [`codec`] is the wire format without I/O, usable on its own.
//! - [`Error::kind`] tells what a gateway answers when a call fails: 502, 503
//!   or 504 ([`ErrorKind::http_status`]).
//! - [`ModelMetadata::check`] compares the server's model with what the caller
//!   was configured for, naming the tensor and the difference; [`RemoteModel`]
//!   does that at start-up and checks every answer's outputs as well.
//!
//! **Dependencies**: hyper, hyper-util, tokio, serde. Never a crate of the Arterys side of the
//! workspace (protocol, viewer, gateway): it knows tensors, not studies, and a model server
//! of any protocol can use it.
//!
//! # Examples
//!
//! The client, call by call:
//!
//! ```no_run
//! use std::time::Duration;
//! use arterys_open_inference::{Client, ClientOptions, Datatype, InputTensor, TensorSpec};
//!
//! # async fn run() -> Result<(), arterys_open_inference::Error> {
//! let options = ClientOptions { timeout: Duration::from_secs(30), ..ClientOptions::default() };
//! let client = Client::new("http://127.0.0.1:8000", options)?;
//!
//! // At start-up: is the model there, and is it the model we were configured for?
//! assert!(client.ready("demo_body", None).await);
//! let metadata = client.model_metadata("demo_body", None).await?;
//! metadata.check(
//!     &[TensorSpec::new("image", Datatype::Fp32, [4, 1, 256, 256])],
//!     &[TensorSpec::new("probability", Datatype::Fp32, [-1, 1, -1, -1])],
//! )?;
//!
//! // Per request: four 256x256 slices in, one probability map per slice out.
//! let pixels = vec![0.0f32; 4 * 256 * 256];
//! let shape = [4, 1, 256, 256];
//! let outputs = client
//!     .infer("demo_body", None, &[InputTensor::f32("image", &shape, &pixels)], &["probability"])
//!     .await?;
//! let probability: Vec<f32> = outputs[0].to_f32()?;
//! assert_eq!(outputs[0].shape, [4, 1, 256, 256]);
//! assert_eq!(probability.len(), 4 * 256 * 256);
//! # Ok(())
//! # }
//! ```
//!
//! A [`RemoteModel`], as an engine holds one:
//!
//! ```no_run
//! use arterys_open_inference::{Client, ClientOptions, Datatype, InputTensor, RemoteModel, TensorSpec};
//!
//! # async fn run() -> Result<(), arterys_open_inference::Error> {
//! let client = Client::new("http://127.0.0.1:8000", ClientOptions::default())?;
//! // Start-up: fails with ModelNotFound, NotReady or Mismatch, naming what is wrong.
//! let model = RemoteModel::connect(
//!     client,
//!     "demo_body",
//!     Some("1"),
//!     &[TensorSpec::new("image", Datatype::Fp32, [-1, 1, 256, 256])],
//!     &[TensorSpec::new("probability", Datatype::Fp32, [-1, 1, 256, 256])],
//! )
//! .await?;
//! let pixels = vec![0.0f32; 2 * 256 * 256];
//! let outputs = model.infer(&[InputTensor::f32("image", &[2, 1, 256, 256], &pixels)]).await?;
//! assert_eq!(outputs[0].shape, [2, 1, 256, 256]);
//! // Readiness endpoint:
//! let ready: bool = model.ready().await;
//! # let _ = ready;
//! # Ok(())
//! # }
//! ```

mod client;
pub mod codec;
mod datatype;
mod error;
mod remote;
mod tensor;

pub use client::{Client, ClientOptions};
pub use datatype::Datatype;
pub use error::{Error, ErrorKind, Mismatch, Result};
pub use remote::RemoteModel;
pub use tensor::{InputTensor, ModelMetadata, OutputTensor, TensorData, TensorMetadata, TensorSpec};
