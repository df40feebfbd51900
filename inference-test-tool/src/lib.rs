//! The pieces of `send-inference-request`, usable on their own (the benchmarks time them):
//! loading and ordering a study ([`input`]), the streaming client ([`client`]), the protocol
//! checks ([`check`]), drawing results ([`draw`], [`overlay`]) and writing them ([`output`],
//! [`npy`], [`gallery`]).

pub mod check;
pub mod client;
pub mod draw;
pub mod gallery;
pub mod input;
pub mod npy;
pub mod output;
pub mod overlay;
