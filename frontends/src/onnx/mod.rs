//! The ONNX importer: an `.onnx` protobuf model to a [`tessera_ir::Graph`].
//!
//! ```text
//! bytes --prost--> ModelProto --import--> Graph
//!                  (proto.rs)   opsets, initializers -> named constants (tensor.rs),
//!                               inputs, nodes in topological order, functions inlined
//!                               (import.rs), each node -> IR op(s) by opset version
//!                               (ops.rs, compositions in compose.rs), node output types
//!                               from tessera_ir::infer::infer_op
//! ```
//!
//! - Domains: the default domain (`""` / `"ai.onnx"`), every operator from opset 7 on and the
//!   operators unchanged since their version before that; model-local functions are inlined.
//!   The preview domains `ai.onnx.preview.training` (Momentum, Adagrad, Adam) and
//!   `ai.onnx.preview` (FlexAttention) are composed too (compose_training.rs).
//!   Every other domain or operator is a typed [`OnnxError::UnsupportedOp`].
//! - Operators without an IR variant but a short equivalent are composed of IR ops: Swish,
//!   RMS/Lp/Group/MeanVariance normalization, LRN, Lp pooling, DepthToSpace/SpaceToDepth,
//!   EyeLike, OneHot, Compress, CenterCropPad, the two loss operators, the integer
//!   quantization operators, Attention, RotaryEmbedding, Upsample, and pre-13
//!   Softmax/LogSoftmax/Hardmax (compose.rs); RNN/GRU/LSTM unrolled over the static sequence
//!   length (compose_rnn.rs); LinearAttention, CausalConvWithState and FlexAttention
//!   (compose_attention.rs); DynamicQuantizeLinear and the training optimizers
//!   (compose_training.rs); Scan (opset 9+) unrolled over its static length, its body
//!   imported once per iteration (compose_scan.rs). Subgraph attributes are imported inline
//!   and see the enclosing graph's values.
//!   Softmax/LogSoftmax/Hardmax; the window functions, AffineGrid, ReverseSequence,
//!   TensorScatter and MaxUnpool (compose_vision.rs, which also maps CumProd, BitCast, Det, DFT,
//!   GridSample, NonMaxSuppression, Unique and Col2Im to their IR ops).
//! - Shape arithmetic is folded at import: `Shape`/`Size` of statically shaped values and small
//!   ops whose operands are all small constants become constants, so shapes computed in the
//!   model stay static for inference.
//! - Not imported: control flow (If, Loop; opset-8 Scan), sequence/map/optional values,
//!   sparse tensors, and element types without a Tessera dtype (strings, complex, float8,
//!   float4, 2/4-bit integers).

mod attrs;
mod compose;
mod compose_attention;
mod compose_kit;
mod compose_rnn;
mod compose_scan;
mod compose_training;
mod compose_vision;
mod error;
mod import;
mod ops;
pub mod proto;
mod tensor;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_compose_seq;
#[cfg(test)]
mod tests_vision;

pub use error::OnnxError;
pub use tensor::{onnx_dtype, tensor_from_proto};

use prost::Message;
use std::path::Path;
use tessera_ir::Graph;

/// Decodes the ONNX model in `bytes` and converts it to a graph.
///
/// `model_dir` is the directory that external tensor data files are relative to (the model
/// file's directory); with `None`, a model with external data is an error.
pub fn import_model(bytes: &[u8], model_dir: Option<&Path>) -> Result<Graph, OnnxError> {
    let model = decode_model(bytes)?;
    import::import_proto(&model, model_dir, tessera_ir::infer::infer_op)
}

/// Reads and imports the ONNX model file at `path` (external data next to it).
pub fn load_model(path: &Path) -> Result<Graph, OnnxError> {
    let bytes = std::fs::read(path).map_err(|e| OnnxError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    import_model(&bytes, Some(dir))
}

/// Decodes the protobuf message of a model.
fn decode_model(bytes: &[u8]) -> Result<proto::ModelProto, OnnxError> {
    proto::ModelProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))
}
