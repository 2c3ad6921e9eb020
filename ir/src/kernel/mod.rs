//! The kernel IR: what one launch of a fused kernel does — global buffers, a launch space, an
//! optional workgroup-shared scratch space and a small structured body of loops, SSA
//! expressions, loads and stores. Renderers (Cranelift/LLVM, WGSL, PTX) print it; the
//! interpreter here executes it with every access bounds-checked.
//!
//! # Model
//!
//! - A [`Kernel`] has global buffer [`Param`]s (dtype, length in elements, access mode),
//!   workgroup-shared buffers ([`SharedBuf`]; in a group of one invocation, as on CPU
//!   targets, a private scratch array of that invocation), a [`Launch`] and a body.
//! - The body runs once per *invocation*: every (group id, local id) point of
//!   `grid × group`, like a CUDA thread or a WGSL invocation. `group_id(a)` and `local_id(a)`
//!   read the coordinates (type `u32`). On CPU targets `group` is all 1s.
//! - Values have a [`Ty`]: a dtype and 1, 2, 4, 8 or 16 lanes. Expressions are trees;
//!   `let` binds a subtree to an SSA variable so it can be shared. `local` declares the only
//!   mutable kind of variable (an accumulator), changed with `set`.
//! - `load<n> %buf[i]` reads `n` contiguous elements starting at element `i`; a store of an
//!   `n`-lane value writes `n` contiguous elements. Indices are integer scalars of any integer
//!   dtype (the scheduler picks i32/i64/u32); an index is out of bounds when `i < 0` or
//!   `i + n > len`.
//! - `loop %i: T = start to end step s kind { ... }` runs the body for `i = start,
//!   start + s, ...` while `i < end`; `start` and `end` are evaluated once. The kinds are
//!   hints with the same meaning: `serial`, `unroll`, `vectorize(n)` (the body already
//!   computes with `n` lanes and `s = n`) and `parallel` (iterations are independent: no
//!   barrier inside and no `set` of an accumulator declared outside).
//! - `barrier` synchronizes the invocations of one workgroup; it needs `group` with more than
//!   one invocation and may not sit under control flow that depends on `local_id`.
//! - `let %v: T = shuffle_xor<m>(x)` is the subgroup exchange: every invocation of the
//!   (1-D) workgroup contributes the scalar `x` and receives the `x` of the invocation whose
//!   `local_id(0)` is its own xor `m`. Its result does not depend on the subgroup size: a
//!   subgroup of `S` invocations (a power of two, `local_id(0) / S` numbering subgroups and
//!   `local_id(0) % S` the lanes, as on every GPU for 1-D groups whose size is a multiple of
//!   `S`) holds every partner as soon as `m < S`, so a target accepts the kernel when `m` is
//!   below its smallest subgroup size. Reductions built from it (a butterfly: masks
//!   `S/2, ..., 2, 1`, each step `acc = acc ⊕ shuffle_xor<m>(acc)`) combine values in one fixed
//!   order, the same on the interpreter and on every renderer.
//!
//! # Arithmetic
//!
//! Unary and binary operators reuse the graph's [`UnaryOp`] and [`BinaryOp`] with the same
//! meaning (applied lane by lane; both operands of a binary op have the same [`Ty`]), plus the
//! kernel-level `min`, `max` ([`BinOp`]) and `fma`. Every expression's value is exact or
//! computed in f64 and then rounded to its dtype (floats, nearest-even) or wrapped (integers),
//! exactly as the graph interpreter narrows every node's result; `fma` rounds once.
//!
//! # Text form
//!
//! ```text
//! kernel @add_relu(%a: f32[10] read, %b: f32[10] read, %out: f32[10] write) grid [1] group [1] {
//!   loop %i: i32 = 0:i32 to 8:i32 step 4 vectorize(4) {
//!     let %s: f32x4 = add(load<4> %a[%i], load<4> %b[%i])
//!     store %out[%i] = max(%s, 0.0:f32x4)
//!   }
//!   loop %j: i32 = 8:i32 to 10:i32 step 1 serial {
//!     store %out[%j] = relu(add(load %a[%j], load %b[%j]))
//!   }
//! }
//! ```
//!
//! A workgroup kernel with shared memory (one group of 4 invocations reverses 4 elements):
//!
//! ```text
//! kernel @reverse(%x: i32[4] read, %y: i32[4] write) grid [1] group [4] {
//!   shared %tile: i32[4]
//!   let %l: u32 = local_id(0)
//!   store %tile[%l] = load %x[%l]
//!   barrier
//!   store %y[%l] = load %tile[sub(3:u32, %l)]
//! }
//! ```
//!
//! Statements: `let %v: T = e`, `local %v: T = e`, `set %v = e`, `store %buf[i] = e`,
//! `loop ...`, `if c { ... } else { ... }`, `barrier` and
//! `mma m16n8k16 %acc, %sa[i] stride 24, %sb[j] stride 24` (see below). Expressions: `%var`, constants
//! `value:type` (`3:i32`, `-0.5:f32`, `inf:f64`, `nan:f16`, `true:bool`, `1.0:f32x4` for a
//! splat), `group_id(a)`, `local_id(a)`, `load %b[i]`, `load<n> %b[i]`, `op(x)` for a
//! [`UnaryOp`], `op(a, b)` for a [`BinOp`], `fma(a, b, c)`, `select(c, a, b)`,
//! `cast<dtype>(x)`, `splat<n>(x)`, `lane<k>(x)`, `reduce_add(x)` / `reduce_mul` /
//! `reduce_min` / `reduce_max`, `shuffle_xor<m>(x)` (only as a `let` value). `;` starts a
//! comment. Names (`%a`, letters, digits, `_` and `.`) are unique within a kernel, across params, shared buffers and variables, so renderers
//! can use them as identifiers as they are.
//!
//! # Tile matrix-multiply-accumulate (`mma`)
//!
//! `mma SHAPE %acc, %a[i] stride sa, %b[j] stride sb` ([`Stmt::Mma`]) is a warp-level
//! operation for targets whose [`crate::target::TargetDesc::mma`] declares it: the
//! invocations of a workgroup form warps of [`MmaShape::WIDTH`] consecutive `local_id(0)`
//! values (the group must be `[32·w, 1, 1]`), and each warp multiplies a `16 × k` tile of A by
//! a `k × 8` tile of B (both in shared memory; A row-major with row stride `sa`, B column by
//! column with column stride `sb`, so both are contiguous along `k`) and adds the product to
//! a `16 × 8` f32 tile spread over the warp's accumulators: the invocation at warp lane `l`
//! holds in lane `q` of its `f32x4` accumulator the element [`MmaShape::acc_element`]`(l, q)`.
//! Its meaning for one invocation, as the interpreter runs it: for each of its four elements
//! `(r, c)`, `acc[q] = fma(a[r][κ], b[κ][c], acc[q])` for `κ = 0, 1, ..., k-1` in that order,
//! every `fma` in f32 with one rounding (the products of f16, bf16 or tf32 values are exact
//! in f32). Tensor cores add the `k` products in another order and with other intermediate
//! rounding, so a device result differs by at most the contraction tolerance of
//! `docs/tolerances.md`. Shapes: `m16n8k16` (f16 or bf16 operands) and `m16n8k8.tf32` (f32
//! operands rounded to tf32 first). Every invocation of the warp must execute it together:
//! it follows the placement rules of `barrier`. For `m16n8k16` the index and stride are even
//! (an odd index at run time is an error), so elements are read in aligned pairs.
//!
//! # Verification
//!
//! [`verify_kernel`] checks: launch ranks (1 to 3, grid and group alike, group axes ≥ 1);
//! unique identifier names; every variable defined once, before use and in scope; every
//! expression's types (binary operands of one type, comparisons give bool, integer scalar
//! indices, store values of the buffer's dtype, operators only on dtypes they take, constants
//! that fit); params loaded only when readable and stored only when writable; `set` only on
//! `local`s; loop steps ≥ 1, `vectorize(n)` with step `n` and only 1- or `n`-lane values
//! inside; no `set` of an outer accumulator and no barrier inside a `parallel` loop; barriers
//! only in launches whose group has more than one invocation, and barriers only under control flow that is conservatively uniform (no `local_id`, load or accumulator
//! in an enclosing condition or loop bound); `shuffle_xor` only as the whole value of a `let`
//! of a scalar numeric or bool value, in a 1-D launch whose group size is a multiple of the
//! next power of two above the mask, under the same uniform control flow as barriers and
//! outside parallel loops. It returns a [`KernelInfo`]: how each variable is
//! defined, per-buffer load/store counts and widths, dtypes and widest vector used, and
//! [`KernelInfo::expr_ty`] for the type of any expression of the verified kernel.
//!
//! # Flow
//!
//! ```text
//! text --parse_kernel--> Kernel --verify_kernel--> (Kernel, KernelInfo) --> run_kernel / renderers
//! ```

mod error;
mod parse;
mod print;
mod run;
mod verify;

#[cfg(test)]
mod tests;

pub use error::KernelError;
pub use parse::parse_kernel;
pub use print::{print_expr, print_kernel};
pub use run::run_kernel;
pub use run::tf32_round;
pub use verify::{BufferUse, KernelInfo, VarKind, verify_kernel};

use crate::arena::{Arena, Handle};
use crate::dtype::DType;
use crate::op::{BinaryOp, UnaryOp};
use std::fmt;

/// One launch of a fused kernel: buffers, launch space and body.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The kernel's name (printed as `@name`).
    pub name: String,
    /// Global buffers, in binding order.
    pub params: Vec<Param>,
    /// Workgroup-shared buffers (GPU only).
    pub shared: Vec<SharedBuf>,
    /// The launch space.
    pub launch: Launch,
    /// The statements every invocation runs.
    pub body: Vec<Stmt>,
    /// Every variable of the body, named by [`VarId`].
    pub vars: Arena<VarInfo>,
}

impl Kernel {
    /// An empty kernel with a one-invocation launch.
    pub fn new(name: impl Into<String>) -> Self {
        Kernel {
            name: name.into(),
            params: Vec::new(),
            shared: Vec::new(),
            launch: Launch {
                grid: vec![1],
                group: vec![1],
            },
            body: Vec::new(),
            vars: Arena::new(),
        }
    }

    /// Adds a global buffer and returns its reference.
    pub fn param(
        &mut self,
        name: impl Into<String>,
        dtype: DType,
        len: usize,
        access: Access,
    ) -> BufRef {
        self.params.push(Param {
            name: name.into(),
            dtype,
            len,
            access,
        });
        BufRef::Param(self.params.len() - 1)
    }

    /// Adds a workgroup-shared buffer and returns its reference.
    pub fn shared_buf(&mut self, name: impl Into<String>, dtype: DType, len: usize) -> BufRef {
        self.shared.push(SharedBuf {
            name: name.into(),
            dtype,
            len,
        });
        BufRef::Shared(self.shared.len() - 1)
    }

    /// Adds a variable (to be defined by one `let`, `local` or `loop`).
    pub fn var(&mut self, name: impl Into<String>, ty: Ty) -> VarId {
        self.vars.push(VarInfo {
            name: name.into(),
            ty,
        })
    }

    /// The name, dtype and length of a buffer, if it exists.
    pub fn buffer(&self, buf: BufRef) -> Option<(&str, DType, usize)> {
        match buf {
            BufRef::Param(i) => self
                .params
                .get(i)
                .map(|p| (p.name.as_str(), p.dtype, p.len)),
            BufRef::Shared(i) => self
                .shared
                .get(i)
                .map(|s| (s.name.as_str(), s.dtype, s.len)),
        }
    }
}

/// How a kernel may use a global buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Only loaded.
    Read,
    /// Only stored.
    Write,
    /// Loaded and stored.
    ReadWrite,
}

impl Access {
    /// The spelling in the text form.
    pub const fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::ReadWrite => "read_write",
        }
    }

    /// True when loads are allowed.
    pub const fn can_load(self) -> bool {
        !matches!(self, Access::Write)
    }

    /// True when stores are allowed.
    pub const fn can_store(self) -> bool {
        !matches!(self, Access::Read)
    }
}

/// A global buffer parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Name (printed as `%name`).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Length in elements.
    pub len: usize,
    /// Allowed access.
    pub access: Access,
}

/// A workgroup-shared buffer: one instance per workgroup, uninitialized at launch.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedBuf {
    /// Name (printed as `%name`).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Length in elements.
    pub len: usize,
}

/// The launch space: `grid` workgroups of `group` invocations each (1 to 3 axes, same rank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// Workgroups per axis.
    pub grid: Vec<usize>,
    /// Invocations per workgroup per axis (all 1 on CPU).
    pub group: Vec<usize>,
}

impl Launch {
    /// Invocations per workgroup (saturating).
    pub fn group_size(&self) -> usize {
        self.group.iter().fold(1usize, |a, &d| a.saturating_mul(d))
    }
}

/// A buffer that loads and stores name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufRef {
    /// `Kernel::params[i]`.
    Param(usize),
    /// `Kernel::shared[i]`.
    Shared(usize),
}

/// The type of a kernel value: a dtype and a lane count (1 = scalar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ty {
    /// Element type.
    pub dtype: DType,
    /// Lanes: 1, 2, 4, 8 or 16.
    pub lanes: u8,
}

impl Ty {
    /// A scalar type.
    pub const fn scalar(dtype: DType) -> Self {
        Ty { dtype, lanes: 1 }
    }

    /// A vector type.
    pub const fn vector(dtype: DType, lanes: u8) -> Self {
        Ty { dtype, lanes }
    }

    /// The same dtype with other lanes.
    pub const fn with_lanes(self, lanes: u8) -> Self {
        Ty {
            dtype: self.dtype,
            lanes,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lanes == 1 {
            write!(f, "{}", self.dtype)
        } else {
            write!(f, "{}x{}", self.dtype, self.lanes)
        }
    }
}

/// True for a lane count a vector may have.
pub const fn valid_lanes(lanes: u8) -> bool {
    matches!(lanes, 1 | 2 | 4 | 8 | 16)
}

/// A variable: a printed name and a type.
#[derive(Clone, Debug, PartialEq)]
pub struct VarInfo {
    /// Name (printed as `%name`); unique among params, shared buffers and variables.
    pub name: String,
    /// Type.
    pub ty: Ty,
}

/// Names a variable of [`Kernel::vars`].
pub type VarId = Handle<VarInfo>;

/// A constant's value, held exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// An integer (for integer dtypes).
    Int(i128),
    /// A float (for float dtypes; rounded to the dtype when used).
    Float(f64),
    /// A boolean (for bool).
    Bool(bool),
}

/// A binary operator: a graph [`BinaryOp`] (same meaning) or a kernel-level one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// A graph binary operator (`PRelu` is not a kernel operator).
    Op(BinaryOp),
    /// Lane-wise minimum (NaN propagates).
    Min,
    /// Lane-wise maximum (NaN propagates).
    Max,
}

impl BinOp {
    /// The spelling in the text form.
    pub const fn name(self) -> &'static str {
        match self {
            BinOp::Op(op) => op.name(),
            BinOp::Min => "min",
            BinOp::Max => "max",
        }
    }

    /// Parses the spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "min" => Some(BinOp::Min),
            "max" => Some(BinOp::Max),
            _ => BinaryOp::ALL
                .iter()
                .copied()
                .find(|op| op.name() == s)
                .map(BinOp::Op),
        }
    }
}

/// How `ReduceLanes` combines the lanes of a vector (in lane order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LaneReduce {
    /// Sum.
    Add,
    /// Product.
    Mul,
    /// Minimum (NaN propagates).
    Min,
    /// Maximum (NaN propagates).
    Max,
}

impl LaneReduce {
    /// Every reduction.
    pub const ALL: [LaneReduce; 4] = [
        LaneReduce::Add,
        LaneReduce::Mul,
        LaneReduce::Min,
        LaneReduce::Max,
    ];

    /// The spelling in the text form.
    pub const fn name(self) -> &'static str {
        match self {
            LaneReduce::Add => "reduce_add",
            LaneReduce::Mul => "reduce_mul",
            LaneReduce::Min => "reduce_min",
            LaneReduce::Max => "reduce_max",
        }
    }
}

/// An expression: a tree whose leaves are constants, variables, launch ids and loads.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant (a splat when `ty.lanes > 1`).
    Const {
        /// Type.
        ty: Ty,
        /// Value.
        value: Scalar,
    },
    /// A variable's value.
    Var(VarId),
    /// The workgroup coordinate along an axis (`u32`).
    GroupId(u8),
    /// The invocation's coordinate inside its workgroup along an axis (`u32`).
    LocalId(u8),
    /// `lanes` contiguous elements of a buffer starting at element `index`.
    Load {
        /// The buffer.
        buf: BufRef,
        /// First element (an integer scalar).
        index: Box<Expr>,
        /// Elements read (1 = scalar).
        lanes: u8,
    },
    /// A graph unary operator, lane-wise.
    Unary {
        /// Operator.
        op: UnaryOp,
        /// Operand.
        x: Box<Expr>,
    },
    /// A binary operator on two operands of one type, lane-wise.
    Binary {
        /// Operator.
        op: BinOp,
        /// Left operand.
        a: Box<Expr>,
        /// Right operand.
        b: Box<Expr>,
    },
    /// `a * b + c` with one rounding (floats only).
    Fma {
        /// Factor.
        a: Box<Expr>,
        /// Factor.
        b: Box<Expr>,
        /// Addend.
        c: Box<Expr>,
    },
    /// `cond ? a : b`, lane-wise (`cond` is bool, scalar or with the lanes of `a`).
    Select {
        /// Condition.
        cond: Box<Expr>,
        /// Value where true.
        a: Box<Expr>,
        /// Value where false.
        b: Box<Expr>,
    },
    /// Conversion to another dtype, with the graph `Cast`'s semantics.
    Cast {
        /// Target dtype.
        to: DType,
        /// Operand.
        x: Box<Expr>,
    },
    /// A scalar repeated over `lanes` lanes.
    Splat {
        /// The scalar.
        x: Box<Expr>,
        /// Lanes of the result.
        lanes: u8,
    },
    /// One lane of a vector.
    Lane {
        /// The vector.
        x: Box<Expr>,
        /// Lane index.
        lane: u8,
    },
    /// All lanes of a vector combined into a scalar.
    ReduceLanes {
        /// How lanes combine.
        op: LaneReduce,
        /// The vector.
        x: Box<Expr>,
    },
    /// A subgroup exchange: the value of scalar `x` in the invocation of the same workgroup
    /// whose local id is this invocation's `local_id(0) ^ mask` (1-D groups only). Allowed
    /// only as the whole value of a `let` under workgroup-uniform control flow; a target
    /// renders it as a subgroup shuffle and accepts it only when `mask` is below its
    /// subgroup size.
    ShuffleXor {
        /// The value every invocation contributes (a scalar).
        x: Box<Expr>,
        /// The lane distance (xor), at least 1.
        mask: u32,
    },
}

impl Expr {
    /// A scalar integer constant.
    pub fn int(dtype: DType, v: i128) -> Expr {
        Expr::Const {
            ty: Ty::scalar(dtype),
            value: Scalar::Int(v),
        }
    }

    /// A float constant of a type.
    pub fn float(ty: Ty, v: f64) -> Expr {
        Expr::Const {
            ty,
            value: Scalar::Float(v),
        }
    }

    /// A scalar load.
    pub fn load(buf: BufRef, index: Expr) -> Expr {
        Expr::Load {
            buf,
            index: Box::new(index),
            lanes: 1,
        }
    }

    /// A binary expression.
    pub fn binary(op: BinOp, a: Expr, b: Expr) -> Expr {
        Expr::Binary {
            op,
            a: Box::new(a),
            b: Box::new(b),
        }
    }

    /// A graph binary operator applied to two expressions.
    pub fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
        Expr::binary(BinOp::Op(op), a, b)
    }

    /// The direct operands, in order.
    pub fn operands(&self) -> Vec<&Expr> {
        match self {
            Expr::Const { .. } | Expr::Var(_) | Expr::GroupId(_) | Expr::LocalId(_) => vec![],
            Expr::Load { index, .. } => vec![index],
            Expr::Unary { x, .. }
            | Expr::Cast { x, .. }
            | Expr::Splat { x, .. }
            | Expr::Lane { x, .. }
            | Expr::ReduceLanes { x, .. }
            | Expr::ShuffleXor { x, .. } => vec![x],
            Expr::Binary { a, b, .. } => vec![a, b],
            Expr::Fma { a, b, c } => vec![a, b, c],
            Expr::Select { cond, a, b } => vec![cond, a, b],
        }
    }
}

/// How a loop's iterations may be run; every kind means the same serial iteration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoopKind {
    /// One after another.
    Serial,
    /// Unroll when the trip count allows.
    Unroll,
    /// The body computes on vectors of this many lanes; the step equals it.
    Vectorize(u8),
    /// Independent iterations (CPU renderers spread them over threads).
    Parallel,
}

impl LoopKind {
    /// The loop over `lanes`-wide steps: `Vectorize(lanes)`, or `Serial` for one lane.
    pub fn for_lanes(lanes: u8) -> Self {
        if lanes > 1 {
            LoopKind::Vectorize(lanes)
        } else {
            LoopKind::Serial
        }
    }
}

/// A statement of a kernel body.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// Defines an SSA variable (once).
    Let {
        /// The variable.
        var: VarId,
        /// Its value.
        value: Expr,
    },
    /// Declares a mutable accumulator with an initial value.
    Local {
        /// The variable.
        var: VarId,
        /// Initial value.
        init: Expr,
    },
    /// Changes an accumulator declared by `Local`.
    Assign {
        /// The accumulator.
        var: VarId,
        /// New value.
        value: Expr,
    },
    /// Writes a value (contiguous lanes for a vector) starting at element `index`.
    Store {
        /// The buffer.
        buf: BufRef,
        /// First element.
        index: Expr,
        /// The value; its dtype is the buffer's.
        value: Expr,
    },
    /// A counted loop; `var` is an SSA variable scoped to `body`.
    Loop {
        /// The loop variable (an integer scalar).
        var: VarId,
        /// First value.
        start: Expr,
        /// Exclusive bound.
        end: Expr,
        /// Increment (at least 1).
        step: u32,
        /// How iterations may be run.
        kind: LoopKind,
        /// The body.
        body: Vec<Stmt>,
    },
    /// Runs `then` when `cond` (a bool scalar) holds, else `els`.
    If {
        /// Condition.
        cond: Expr,
        /// Taken branch.
        then: Vec<Stmt>,
        /// Other branch (may be empty).
        els: Vec<Stmt>,
    },
    /// Workgroup barrier: waits for every invocation of the group; makes shared stores visible.
    Barrier,
    /// A warp-level tile matrix-multiply-accumulate (see [`MmaShape`] and the module docs).
    Mma {
        /// Tile shape and input kind.
        shape: MmaShape,
        /// The invocation's accumulator fragment: a `local` of type `f32x4`.
        acc: VarId,
        /// The `16 × k` A tile: row `r`, column `k` at element `index + r * stride + k`.
        a: MmaOperand,
        /// The `k × 8` B tile stored column by column: row `k`, column `n` at element
        /// `index + n * stride + k`.
        b: MmaOperand,
    },
}

/// The shape of a warp-level matrix-multiply-accumulate: `m × n × k` with f32 accumulators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MmaShape {
    /// 16 × 8 × 16 with f16 or bf16 inputs (both operands of one dtype).
    M16n8k16,
    /// 16 × 8 × 8 with f32 inputs rounded to tf32 (10 mantissa bits, nearest, ties away from
    /// zero) before multiplying.
    M16n8k8Tf32,
}

impl MmaShape {
    /// Invocations that execute one MMA together (a warp).
    pub const WIDTH: usize = 32;
    /// Rows of the A and accumulator tiles.
    pub const M: usize = 16;
    /// Columns of the B and accumulator tiles.
    pub const N: usize = 8;

    /// The reduction depth `k`.
    pub const fn k(self) -> usize {
        match self {
            MmaShape::M16n8k16 => 16,
            MmaShape::M16n8k8Tf32 => 8,
        }
    }

    /// The spelling in the text form.
    pub const fn name(self) -> &'static str {
        match self {
            MmaShape::M16n8k16 => "m16n8k16",
            MmaShape::M16n8k8Tf32 => "m16n8k8.tf32",
        }
    }

    /// Parses the spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [MmaShape::M16n8k16, MmaShape::M16n8k8Tf32]
            .into_iter()
            .find(|m| m.name() == s)
    }

    /// Operand elements read as one aligned pair (2 for 16-bit operands, else 1): an
    /// operand's index and stride must be multiples of it.
    pub const fn pair(self) -> usize {
        match self {
            MmaShape::M16n8k16 => 2,
            MmaShape::M16n8k8Tf32 => 1,
        }
    }

    /// True when both operands may have dtype `d`.
    pub const fn accepts(self, d: DType) -> bool {
        match self {
            MmaShape::M16n8k16 => matches!(d, DType::F16 | DType::BF16),
            MmaShape::M16n8k8Tf32 => matches!(d, DType::F32),
        }
    }

    /// The tile element `(row, column)` that lane `j` (0 to 3) of the accumulator of the
    /// invocation at warp lane `lane` (0 to 31) holds: row `lane / 4 + 8 * (j / 2)`, column
    /// `2 * (lane % 4) + j % 2`.
    pub const fn acc_element(lane: usize, j: usize) -> (usize, usize) {
        (lane / 4 + 8 * (j / 2), 2 * (lane % 4) + j % 2)
    }
}

/// One MMA operand: a tile in a workgroup-shared buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct MmaOperand {
    /// The shared buffer.
    pub buf: BufRef,
    /// The element of the tile's first row (A) or column (B); an integer scalar.
    pub index: Expr,
    /// Elements between consecutive rows (A) or columns (B); at least `k`, and like `index` a
    /// multiple of [`MmaShape::pair`] (so 16-bit elements are read in aligned pairs).
    pub stride: u32,
}
