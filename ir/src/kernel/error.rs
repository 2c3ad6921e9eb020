//! Errors of the kernel IR: verification (each naming the kernel and the offending
//! expression or statement in text form), text parsing and interpretation.

use super::{Access, Ty};
use crate::dtype::DType;
use crate::error::ParseError;

/// Everything that can be wrong with a kernel or go wrong while running it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// The text form could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The launch space is malformed.
    #[error("kernel @{kernel}: bad launch: {message}")]
    Launch {
        /// Kernel name.
        kernel: String,
        /// What is wrong.
        message: String,
    },
    /// Two params, shared buffers or variables share a name, or a name is empty.
    #[error("kernel @{kernel}: name `%{name}` is {problem}")]
    Name {
        /// Kernel name.
        kernel: String,
        /// The name.
        name: String,
        /// "used twice" or "not an identifier".
        problem: &'static str,
    },
    /// A variable handle that is not in the kernel's arena.
    #[error("kernel @{kernel}: variable #{index} does not exist (the kernel has {count})")]
    NoSuchVar {
        /// Kernel name.
        kernel: String,
        /// The handle's index.
        index: usize,
        /// Number of variables.
        count: usize,
    },
    /// A variable is used where it is not defined (before its definition or out of scope).
    #[error("kernel @{kernel}: `%{var}` is used where it is not defined, in `{context}`")]
    Undefined {
        /// Kernel name.
        kernel: String,
        /// Variable name.
        var: String,
        /// The statement or expression.
        context: String,
    },
    /// A variable is defined by more than one statement.
    #[error(
        "kernel @{kernel}: `%{var}` is defined twice (variables are single-assignment and names unique in a kernel)"
    )]
    Redefined {
        /// Kernel name.
        kernel: String,
        /// Variable name.
        var: String,
    },
    /// `set` on a variable that is not an accumulator declared by `local`.
    #[error("kernel @{kernel}: `set %{var}`: only `local` accumulators can be assigned")]
    NotAssignable {
        /// Kernel name.
        kernel: String,
        /// Variable name.
        var: String,
    },
    /// An expression or statement whose operand types do not fit.
    #[error("kernel @{kernel}: in `{context}`: expected {expected}, found {found}")]
    Type {
        /// Kernel name.
        kernel: String,
        /// The expression or statement.
        context: String,
        /// What is required.
        expected: String,
        /// The type given.
        found: Ty,
    },
    /// A malformed expression or statement (bad lanes, bad axis, bad constant, bad op).
    #[error("kernel @{kernel}: in `{context}`: {message}")]
    Invalid {
        /// Kernel name.
        kernel: String,
        /// The expression or statement.
        context: String,
        /// What is wrong.
        message: String,
    },
    /// A load or store names a buffer that does not exist.
    #[error("kernel @{kernel}: in `{context}`: no such buffer")]
    NoSuchBuffer {
        /// Kernel name.
        kernel: String,
        /// The expression or statement.
        context: String,
    },
    /// A load of a write-only param or a store to a read-only one.
    #[error("kernel @{kernel}: `%{buffer}` is {} but is {action}", .access.name())]
    Access {
        /// Kernel name.
        kernel: String,
        /// Buffer name.
        buffer: String,
        /// Its declared access.
        access: Access,
        /// "loaded" or "stored".
        action: &'static str,
    },
    /// A barrier or shared buffer where it is not allowed.
    #[error("kernel @{kernel}: {message}")]
    Barrier {
        /// Kernel name.
        kernel: String,
        /// What is wrong.
        message: String,
    },
    /// A loop whose header or body does not fit its kind.
    #[error("kernel @{kernel}: loop `%{var}`: {message}")]
    Loop {
        /// Kernel name.
        kernel: String,
        /// Loop variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// `run_kernel` got a different number of buffers than the kernel has params.
    #[error("kernel @{kernel}: expects {expected} buffers, got {actual}")]
    BufferCount {
        /// Kernel name.
        kernel: String,
        /// Params.
        expected: usize,
        /// Buffers given.
        actual: usize,
    },
    /// A buffer given to `run_kernel` has the wrong byte size.
    #[error(
        "kernel @{kernel}: buffer `%{buffer}` ({dtype}[{len}]) needs {expected} bytes, got {actual}"
    )]
    BufferSize {
        /// Kernel name.
        kernel: String,
        /// Buffer name.
        buffer: String,
        /// Element type.
        dtype: DType,
        /// Elements.
        len: usize,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// A load or store outside its buffer.
    #[error("kernel @{kernel}: access to `%{buffer}` out of bounds: elements {index}..{} of {len}", .index + i128::from(*.lanes))]
    OutOfBounds {
        /// Kernel name.
        kernel: String,
        /// Buffer name.
        buffer: String,
        /// First element accessed.
        index: i128,
        /// Elements accessed.
        lanes: u8,
        /// Buffer length in elements.
        len: usize,
    },
    /// A load of a shared-memory element that no invocation of the group has stored yet
    /// (typically a missing barrier).
    #[error(
        "kernel @{kernel}: shared `%{buffer}`[{index}] is read before any store in this workgroup (missing barrier?)"
    )]
    Uninitialized {
        /// Kernel name.
        kernel: String,
        /// Buffer name.
        buffer: String,
        /// Element.
        index: usize,
    },
    /// Two invocations of a workgroup touch one shared element between two barriers, and the
    /// first one stored it (a missing barrier).
    #[error(
        "kernel @{kernel}: shared `%{buffer}`[{index}] is stored by invocation {stored_by}, then {action} by invocation {then}, with no barrier in between"
    )]
    SharedRace {
        /// Kernel name.
        kernel: String,
        /// Buffer name.
        buffer: String,
        /// Element.
        index: usize,
        /// Row-major local index of the invocation that stored it.
        stored_by: usize,
        /// Row-major local index of the invocation that touched it next.
        then: usize,
        /// "loaded" or "stored".
        action: &'static str,
    },
    /// Integer division or remainder by zero.
    #[error("kernel @{kernel}: integer {op} by zero ({dtype}) in `{context}`")]
    DivisionByZero {
        /// Kernel name.
        kernel: String,
        /// Operator name.
        op: &'static str,
        /// Operand dtype.
        dtype: DType,
        /// The expression.
        context: String,
    },
    /// Invocations of a workgroup reached different barriers, or some finished while others
    /// wait at a barrier (or a `shuffle_xor`, which every invocation reaches together).
    #[error(
        "kernel @{kernel}: workgroup {group:?}: invocations do not reach the same barrier or shuffle_xor"
    )]
    BarrierDivergence {
        /// Kernel name.
        kernel: String,
        /// The workgroup's coordinates.
        group: Vec<usize>,
    },
    /// An arithmetic failure reported by the shared operator semantics.
    #[error("kernel @{kernel}: in `{context}`: {message}")]
    Eval {
        /// Kernel name.
        kernel: String,
        /// The expression.
        context: String,
        /// What went wrong.
        message: String,
    },
}
