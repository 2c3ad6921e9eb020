//! tessera-ir: dtypes, shapes, host tensors, the graph IR (arenas, operators, verifier, shape
//! inference, passes, text form) and the reference interpreter that is every backend's oracle.
//!
//! ```text
//! text form / builder / ONNX --> Graph --verify/infer--> passes --> interp::evaluate (oracle)
//! ```

pub mod arena;
pub mod attr;
pub mod dtype;
pub mod error;
pub mod fusion;
pub mod graph;
pub mod infer;
pub mod interp;
pub mod kernel;
pub mod npy;
pub mod op;
pub mod passes;
pub mod plan;
pub mod schedule;
pub mod shape;
pub mod target;
pub mod tensor;
pub mod text;
pub mod verify;

pub use dtype::DType;
pub use error::{At, IrError, ParseError, Result};
pub use graph::{Graph, Node, NodeId, TensorType, Value, ValueDef, ValueId};
pub use op::{BinaryOp, Op, ReduceOp, UnaryOp, VariadicOp};
pub use shape::{Dim, Shape};
pub use tensor::{Element, Tensor, TensorError};
