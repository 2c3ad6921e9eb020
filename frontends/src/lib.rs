//! tessera-frontends: ways to get a graph into Tessera — the Rust `GraphBuilder` and (next) the
//! ONNX importer.

pub mod onnx;
