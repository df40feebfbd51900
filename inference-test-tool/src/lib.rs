//! The pieces of `send-inference-request`, usable on their own (the benchmarks time them):
//! loading and ordering a study ([`input`]), the streaming client ([`client`]), the protocol
//! checks ([`check`]), reading DICOM outputs ([`outputs`]), drawing results ([`draw`], [`overlay`],
//! [`gsps`], [`sr`]) and writing them ([`output`], [`npy`], [`gallery`], [`manifest`]).
//!
//! **Dependencies**: the protocol and the viewer, hyper's client. Never the gateway or a
//! server crate: it plays the viewer against any service, so it must not share the server's
//! code (its tests start servers through dev-dependencies).

pub mod check;
pub mod client;
pub mod draw;
pub mod gallery;
pub mod gsps;
pub mod input;
pub mod manifest;
pub mod npy;
pub mod output;
pub mod outputs;
pub mod overlay;
pub mod sr;
pub mod write;
