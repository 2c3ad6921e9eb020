//! The error type of tessera-ir: every user-caused problem a graph can have, each naming the
//! node, operator, dtypes and shapes involved.

use crate::dtype::DType;
use crate::graph::TensorType;
use crate::op::AttrError;
use crate::shape::Shape;
use crate::tensor::TensorError;
use std::fmt;

/// Where in a graph an error happened: a node's label and its operator's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    /// The node's name, or `#<index>` when it has none.
    pub node: String,
    /// The operator's text-form name.
    pub op: &'static str,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node `{}` ({})", self.node, self.op)
    }
}

/// Formats a list of shapes as `[2, 3], [3]`.
pub fn fmt_shapes(shapes: &[Shape]) -> String {
    shapes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A syntax or meaning error in the text form, at a line and column (both 1-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// Errors of graph construction, verification, inference and interpretation.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum IrError {
    /// A node has the wrong number of inputs or outputs.
    #[error("{at}: expects {expected} {what}, got {actual}")]
    Arity {
        /// The node.
        at: At,
        /// "inputs" or "outputs".
        what: &'static str,
        /// What is allowed, e.g. "2" or "1 to 3".
        expected: String,
        /// What was given.
        actual: usize,
    },
    /// An input has a dtype the operator does not accept.
    #[error("{at}: input {input} has dtype {dtype}, expected {expected}")]
    InputDType {
        /// The node.
        at: At,
        /// Input position.
        input: usize,
        /// The dtype given.
        dtype: DType,
        /// What is accepted, e.g. "a float dtype" or "the dtype of input 0 (f32)".
        expected: String,
    },
    /// Input shapes that do not fit together (or do not fit the attributes).
    #[error("{at}: {message} (input shapes: {})", fmt_shapes(.shapes))]
    InputShape {
        /// The node.
        at: At,
        /// What is wrong.
        message: String,
        /// Shapes of the node's inputs (absent ones left out).
        shapes: Vec<Shape>,
    },
    /// An attribute value that is out of range or inconsistent.
    #[error("{at}: attribute `{attr}`: {message}")]
    Attribute {
        /// The node.
        at: At,
        /// Attribute name.
        attr: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An operand whose value shape inference needs is not a constant.
    #[error("{at}: input {input} ({what}) must be a constant for the output shape to be known")]
    NonConstant {
        /// The node.
        at: At,
        /// Input position.
        input: usize,
        /// What the operand is, e.g. "axes".
        what: &'static str,
    },
    /// A node reads a value that is not defined before it.
    #[error("{at}: input {input} refers to a value that is not defined before this node")]
    UndefinedValue {
        /// The node.
        at: At,
        /// Input position.
        input: usize,
    },
    /// A declared value type differs from the inferred one.
    #[error("{at}: output {output} is declared {declared} but the operator yields {inferred}")]
    TypeMismatch {
        /// The node.
        at: At,
        /// Output position.
        output: usize,
        /// Declared type.
        declared: TensorType,
        /// Inferred type.
        inferred: TensorType,
    },
    /// Graph-level structural problem (duplicate names, dangling outputs, ...).
    #[error("graph `{graph}`: {message}")]
    Structure {
        /// Graph name.
        graph: String,
        /// What is wrong.
        message: String,
    },
    /// A graph input was not supplied.
    #[error("missing input `{name}` (expected {expected})")]
    MissingInput {
        /// Input name.
        name: String,
        /// Its type.
        expected: TensorType,
    },
    /// A supplied input's name is not a graph input.
    #[error("unknown input `{name}`; the graph's inputs are: {expected}")]
    UnknownInput {
        /// The name given.
        name: String,
        /// The graph's inputs, with types.
        expected: String,
    },
    /// A supplied input has the wrong dtype or shape.
    #[error("input `{name}` is {actual}, expected {expected}")]
    InputMismatch {
        /// Input name.
        name: String,
        /// Type the graph declares.
        expected: TensorType,
        /// Type given.
        actual: TensorType,
    },
    /// A data-dependent failure while evaluating (index out of range, bad shape operand, ...).
    #[error("{at}: {message}")]
    Eval {
        /// The node.
        at: At,
        /// What went wrong.
        message: String,
    },
    /// The operator does not accept this dtype on this path.
    #[error("{at}: dtype {dtype} is not supported{}", .detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Unsupported {
        /// The node.
        at: At,
        /// The dtype.
        dtype: DType,
        /// Extra context.
        detail: Option<String>,
    },
    /// The operator is random here (training-mode dropout, ...): it has no single correct
    /// result to compute or compare, so Tessera declares it unsupported.
    #[error("{at}: {message}")]
    Nondeterministic {
        /// The node.
        at: At,
        /// What makes it random.
        message: String,
    },
    /// A bad attribute list (unknown op or attribute, wrong kind).
    #[error(transparent)]
    Attr(#[from] AttrError),
    /// A tensor could not be built.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// The text form could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Result alias for tessera-ir.
pub type Result<T, E = IrError> = std::result::Result<T, E>;
