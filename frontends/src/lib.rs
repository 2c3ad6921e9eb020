//! tessera-frontends: ways to get a graph into Tessera — the Rust [`GraphBuilder`] and the
//! ONNX importer.

pub mod builder;
pub mod onnx;

pub use builder::{ConvAttrs, GraphBuilder, Var};
