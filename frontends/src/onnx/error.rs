//! The error type of the ONNX importer: every way a model file can fail to import, each naming
//! the node, value or tensor involved.

use std::path::PathBuf;
use tessera_ir::IrError;

/// Errors of importing an ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The bytes are not a valid (or are a truncated) ONNX protobuf message.
    #[error("malformed ONNX protobuf: {0}")]
    Decode(String),
    /// The model file could not be read.
    #[error("cannot read `{}`: {message}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's message.
        message: String,
    },
    /// The model is structurally invalid (no graph, a value defined twice, ...).
    #[error("invalid ONNX model: {0}")]
    InvalidModel(String),
    /// The model imports an opset version this importer does not handle.
    #[error("unsupported opset: domain `{domain}` version {version}")]
    UnsupportedOpset {
        /// The domain ("" is the default domain).
        domain: String,
        /// The version.
        version: i64,
    },
    /// A node uses an operator (or a domain) that has no mapping.
    #[error("node `{node}`: unsupported operator `{op_type}` (domain `{domain}`, opset {opset})")]
    UnsupportedOp {
        /// The node's name (or `#<index>`).
        node: String,
        /// The operator.
        op_type: String,
        /// Its domain.
        domain: String,
        /// The opset version of that domain (0 when the domain is not imported).
        opset: i64,
    },
    /// A tensor or value has an element type Tessera does not have.
    #[error("`{what}`: unsupported element type {dtype} (ONNX code {code})")]
    UnsupportedDType {
        /// The tensor, value or attribute.
        what: String,
        /// The ONNX type's name.
        dtype: String,
        /// The ONNX type code.
        code: i32,
    },
    /// A value has a non-tensor type (sequence, map, optional, sparse tensor) or no type.
    #[error("value `{value}`: unsupported type ({kind})")]
    UnsupportedType {
        /// The value.
        value: String,
        /// What kind of type it has.
        kind: &'static str,
    },
    /// A node reads a value that no graph input, initializer or node defines.
    #[error("node `{node}`: input `{name}` is not a graph input, an initializer or a node output")]
    MissingValue {
        /// The value's name.
        name: String,
        /// The node that reads it (or `graph output`).
        node: String,
    },
    /// The nodes form a cycle (no topological order exists).
    #[error("the graph has a cycle through node `{node}`")]
    GraphCycle {
        /// A node on the cycle.
        node: String,
    },
    /// Tensor dims are negative or their element count overflows `usize`.
    #[error("`{what}`: dims {dims:?} are negative or too large")]
    DimsOverflow {
        /// The tensor or value.
        what: String,
        /// The dims.
        dims: Vec<i64>,
    },
    /// A tensor's data does not fit its dims and type.
    #[error("tensor `{tensor}`: {reason}")]
    BadTensor {
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// An attribute is missing, of the wrong kind, or out of range.
    #[error("node `{node}` ({op_type}): attribute `{attribute}`: {reason}")]
    BadAttribute {
        /// The node.
        node: String,
        /// The operator.
        op_type: String,
        /// The attribute (or input) name.
        attribute: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor's external data could not be loaded.
    #[error("external data of tensor `{tensor}` at `{}`: {reason}", .path.display())]
    ExternalData {
        /// The tensor.
        tensor: String,
        /// The file (as named in the model, or resolved).
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The IR rejected a node (bad types or shapes found by inference, ...).
    #[error("node `{node}`: {source}")]
    Ir {
        /// The ONNX node.
        node: String,
        /// The IR's error (boxed: it is large, and errors are rare).
        #[source]
        source: Box<IrError>,
    },
}
