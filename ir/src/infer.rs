//! Shape and dtype inference: the output types of every operator from its input types and the
//! values of constant operands.
//!
//! [`infer_op`] dispatches on the operator to one of three families (`elementwise`, `nn`,
//! `movement`), each of which checks arity, dtypes, attributes and shapes and returns typed
//! errors naming the node. Dims that depend on operand values inference cannot see become
//! [`Dim::Symbolic`], named `<node>.<output>.<dim>`.

mod elementwise;
mod movement;
mod nn;
mod signal;
#[cfg(test)]
mod tests;

use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::graph::{Graph, NodeId, TensorType};
use crate::op::Op;
use crate::shape::{Dim, Shape};
use crate::tensor::Tensor;

/// What inference knows about one operand: its type and, when it is a constant, its value.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// Static type (symbolic dims allowed).
    pub ty: &'a TensorType,
    /// The value, when known at compile time.
    pub value: Option<&'a Tensor>,
}

/// Infers the output types of `op` applied to `inputs` (`None` = absent optional operand),
/// for a node with `num_outputs` outputs.
pub fn infer_op(
    op: &Op,
    at: &At,
    inputs: &[Option<Operand<'_>>],
    num_outputs: usize,
) -> Result<Vec<TensorType>> {
    let cx = Ctx {
        at,
        inputs,
        num_outputs,
    };
    if let Some(out) = elementwise::infer(&cx, op)? {
        return Ok(out);
    }
    if let Some(out) = nn::infer(&cx, op)? {
        return Ok(out);
    }
    if let Some(out) = signal::infer(&cx, op)? {
        return Ok(out);
    }
    movement::infer(&cx, op)
}

/// Infers the output types of a node of `graph` from its current input types and constants.
pub fn infer_node(graph: &Graph, node: NodeId) -> Result<Vec<TensorType>> {
    let n = graph.node(node);
    let at = At {
        node: graph.node_label(node),
        op: n.op.name(),
    };
    let operands: Vec<Option<Operand<'_>>> = n
        .inputs
        .iter()
        .map(|i| {
            i.map(|v| Operand {
                ty: &graph.value(v).ty,
                value: graph.constant_of(v),
            })
        })
        .collect();
    infer_op(&n.op, &at, &operands, n.outputs.len())
}

/// A dtype class: a predicate plus how error messages describe it.
#[derive(Clone, Copy)]
pub(crate) struct Class {
    /// True for the dtypes of the class.
    accepts: fn(DType) -> bool,
    /// The class in words, for [`IrError::InputDType`].
    what: &'static str,
    /// Whether the low-precision storage dtypes ([`DType::is_low_precision`]) are accepted:
    /// only for pure data movement and selection, never for arithmetic (like ONNX).
    low_precision: bool,
}

impl Class {
    /// A class of the standard dtypes accepted by `accepts` (no low-precision dtype).
    pub(crate) const fn standard(accepts: fn(DType) -> bool, what: &'static str) -> Class {
        Class {
            accepts,
            what,
            low_precision: false,
        }
    }
}

/// Every dtype (data movement and selection).
pub(crate) const ANY: Class = Class {
    accepts: |_| true,
    what: "any dtype",
    low_precision: true,
};
/// Every dtype but the low-precision storage dtypes (comparisons, interpolation).
pub(crate) const PLAIN: Class = Class::standard(|_| true, "any dtype but float8/float4/int4/int2");
/// f16, bf16, f32, f64.
pub(crate) const FLOAT: Class = Class::standard(DType::is_float, "a float dtype");
/// Everything but bool.
pub(crate) const NUMERIC: Class = Class::standard(DType::is_numeric, "a numeric dtype");
/// Signed integers and floats.
pub(crate) const SIGNED: Class = Class::standard(
    |d| d.is_signed_int() || d.is_float(),
    "a signed integer or float dtype",
);
/// Integers, signed or unsigned.
pub(crate) const INT: Class = Class::standard(DType::is_int, "an integer dtype");
/// Unsigned integers.
pub(crate) const UNSIGNED: Class =
    Class::standard(DType::is_unsigned_int, "an unsigned integer dtype");
/// Bool only.
pub(crate) const BOOL: Class = Class::standard(|d| d == DType::Bool, "bool");
/// i64 only (shape-like operands).
pub(crate) const I64: Class = Class::standard(|d| d == DType::I64, "i64");
/// i32 or i64 (index operands).
pub(crate) const INDEX: Class =
    Class::standard(|d| matches!(d, DType::I32 | DType::I64), "i32 or i64");

/// One inference call: the node, its operands and its output count, with error builders.
pub(crate) struct Ctx<'a, 'b> {
    /// The node, for error messages.
    pub(crate) at: &'a At,
    /// Its operands (`None` = absent optional operand).
    pub(crate) inputs: &'a [Option<Operand<'b>>],
    /// How many outputs the node has.
    pub(crate) num_outputs: usize,
}

/// Describes an allowed count: "2", "1 to 3", "1 or more".
fn count_text(min: usize, max: usize) -> String {
    if min == max {
        min.to_string()
    } else if max == usize::MAX {
        format!("{min} or more")
    } else {
        format!("{min} to {max}")
    }
}

impl<'b> Ctx<'_, 'b> {
    /// Checks the input count is in `min..=max` and the first `min` inputs are present.
    pub(crate) fn arity(&self, min: usize, max: usize) -> Result<()> {
        let n = self.inputs.len();
        if n < min || n > max {
            return Err(IrError::Arity {
                at: self.at.clone(),
                what: "inputs",
                expected: count_text(min, max),
                actual: n,
            });
        }
        if let Some(i) = (0..min).find(|&i| self.inputs[i].is_none()) {
            return Err(IrError::Arity {
                at: self.at.clone(),
                what: "inputs",
                expected: format!("{} (input {i} is required)", count_text(min, max)),
                actual: self.inputs.iter().flatten().count(),
            });
        }
        Ok(())
    }

    /// Checks the output count is in `min..=max`.
    pub(crate) fn outputs(&self, min: usize, max: usize) -> Result<()> {
        if self.num_outputs < min || self.num_outputs > max {
            return Err(IrError::Arity {
                at: self.at.clone(),
                what: "outputs",
                expected: count_text(min, max),
                actual: self.num_outputs,
            });
        }
        Ok(())
    }

    /// Checks `min..=max` inputs and exactly one output.
    pub(crate) fn simple(&self, min: usize, max: usize) -> Result<()> {
        self.arity(min, max)?;
        self.outputs(1, 1)
    }

    /// Operand `i`, when present.
    pub(crate) fn opt(&self, i: usize) -> Option<Operand<'b>> {
        self.inputs.get(i).copied().flatten()
    }

    /// Operand `i`, which must be present (arity checks run first).
    pub(crate) fn input(&self, i: usize) -> Result<Operand<'b>> {
        self.opt(i).ok_or_else(|| IrError::Arity {
            at: self.at.clone(),
            what: "inputs",
            expected: format!("input {i} to be present"),
            actual: self.inputs.iter().flatten().count(),
        })
    }

    /// The shape of required operand `i`.
    pub(crate) fn shape(&self, i: usize) -> Result<&'b Shape> {
        Ok(&self.input(i)?.ty.shape)
    }

    /// The shapes of the present operands.
    pub(crate) fn shapes(&self) -> Vec<Shape> {
        self.inputs
            .iter()
            .flatten()
            .map(|o| o.ty.shape.clone())
            .collect()
    }

    /// An [`IrError::InputShape`] with the node's input shapes.
    pub(crate) fn shape_err(&self, message: impl Into<String>) -> IrError {
        IrError::InputShape {
            at: self.at.clone(),
            message: message.into(),
            shapes: self.shapes(),
        }
    }

    /// An [`IrError::Attribute`].
    pub(crate) fn attr_err(&self, attr: &'static str, message: impl Into<String>) -> IrError {
        IrError::Attribute {
            at: self.at.clone(),
            attr,
            message: message.into(),
        }
    }

    /// An [`IrError::NonConstant`].
    pub(crate) fn non_const(&self, input: usize, what: &'static str) -> IrError {
        IrError::NonConstant {
            at: self.at.clone(),
            input,
            what,
        }
    }

    /// A symbolic dim for output `out`, axis `dim`, named after the node.
    pub(crate) fn sym(&self, out: usize, dim: usize) -> Dim {
        Dim::Symbolic(format!("{}.{out}.{dim}", self.at.node))
    }

    /// A shape of `rank` fresh symbolic dims for output `out`.
    pub(crate) fn sym_shape(&self, out: usize, rank: usize) -> Shape {
        Shape((0..rank).map(|d| self.sym(out, d)).collect())
    }

    /// Checks that operand `i` (if present) has a dtype of `class`; returns the dtype.
    pub(crate) fn dtype(&self, i: usize, class: Class) -> Result<DType> {
        let d = self.input(i)?.ty.dtype;
        if (class.accepts)(d) && (class.low_precision || !d.is_low_precision()) {
            Ok(d)
        } else {
            Err(IrError::InputDType {
                at: self.at.clone(),
                input: i,
                dtype: d,
                expected: class.what.to_string(),
            })
        }
    }

    /// Checks optional operand `i`, when present, has a dtype of `class`.
    pub(crate) fn opt_dtype(&self, i: usize, class: Class) -> Result<()> {
        if self.opt(i).is_some() {
            self.dtype(i, class)?;
        }
        Ok(())
    }

    /// Checks operand `i` (if present) has the same dtype as operand `j`.
    pub(crate) fn same_dtype(&self, i: usize, j: usize) -> Result<()> {
        let (Some(a), Some(b)) = (self.opt(i), self.opt(j)) else {
            return Ok(());
        };
        if a.ty.dtype != b.ty.dtype {
            return Err(IrError::InputDType {
                at: self.at.clone(),
                input: i,
                dtype: a.ty.dtype,
                expected: format!("the dtype of input {j} ({})", b.ty.dtype),
            });
        }
        Ok(())
    }

    /// Checks operand `i` is 1-D; returns its static length when known.
    pub(crate) fn vector_len(&self, i: usize, what: &str) -> Result<Option<usize>> {
        let s = self.shape(i)?;
        if s.rank() != 1 {
            return Err(self.shape_err(format!("{what} (input {i}) must be 1-D, got {s}")));
        }
        Ok(s.0[0].as_static())
    }

    /// Checks operand `i` holds one element (rank 0, or any shape of one element).
    pub(crate) fn scalar_like(&self, i: usize, what: &str) -> Result<()> {
        let s = self.shape(i)?;
        if s.0.iter().any(|d| d.as_static().is_some_and(|n| n != 1)) {
            return Err(self.shape_err(format!(
                "{what} (input {i}) must hold one element, got shape {s}"
            )));
        }
        Ok(())
    }

    /// The value of integer operand `i` when it is a constant.
    pub(crate) fn const_ints(&self, i: usize) -> Result<Option<Vec<i64>>> {
        let Some(op) = self.opt(i) else {
            return Ok(None);
        };
        let Some(t) = op.value else {
            return Ok(None);
        };
        t.to_i64_vec().map(Some).ok_or_else(|| IrError::InputDType {
            at: self.at.clone(),
            input: i,
            dtype: t.dtype(),
            expected: "an integer dtype".into(),
        })
    }

    /// Normalizes attribute `axis` against `rank`.
    pub(crate) fn axis(&self, attr: &'static str, axis: i64, rank: usize) -> Result<usize> {
        crate::shape::normalize_axis(axis, rank).ok_or_else(|| {
            self.attr_err(
                attr,
                format!(
                    "axis {axis} is out of range for rank {rank} (allowed {} to {})",
                    -(rank as i64),
                    rank as i64 - 1
                ),
            )
        })
    }

    /// Broadcasts shapes (ONNX multidirectional), dims named for output `out` when two
    /// different symbols meet.
    pub(crate) fn broadcast(&self, shapes: &[&Shape], out: usize) -> Result<Shape> {
        let rank = shapes.iter().map(|s| s.rank()).max().unwrap_or(0);
        let mut dims = Vec::with_capacity(rank);
        for i in 0..rank {
            let mut acc = Dim::Static(1);
            for s in shapes {
                let Some(d) = (i + s.rank()).checked_sub(rank).map(|k| &s.0[k]) else {
                    continue;
                };
                acc = match broadcast_dim(&acc, d) {
                    Some(Ok(x)) => x,
                    Some(Err(())) => self.sym(out, i),
                    None => {
                        return Err(self.shape_err(format!(
                            "shapes {} cannot be broadcast together (axis {i})",
                            shapes
                                .iter()
                                .map(|s| s.to_string())
                                .collect::<Vec<_>>()
                                .join(" and ")
                        )));
                    }
                };
            }
            dims.push(acc);
        }
        Ok(Shape(dims))
    }
}

/// Broadcast of two dims: `None` when incompatible, `Some(Err(()))` when the result is an
/// unknown symbol (two different symbols meet).
fn broadcast_dim(a: &Dim, b: &Dim) -> Option<std::result::Result<Dim, ()>> {
    match (a, b) {
        (Dim::Static(1), x) | (x, Dim::Static(1)) => Some(Ok(x.clone())),
        (Dim::Static(x), Dim::Static(y)) => (x == y).then_some(Ok(Dim::Static(*x))),
        (Dim::Static(x), Dim::Symbolic(_)) | (Dim::Symbolic(_), Dim::Static(x)) => {
            Some(Ok(Dim::Static(*x)))
        }
        (Dim::Symbolic(x), Dim::Symbolic(y)) if x == y => Some(Ok(a.clone())),
        _ => Some(Err(())),
    }
}

/// True unless both dims are static and differ.
pub(crate) fn dims_compatible(a: &Dim, b: &Dim) -> bool {
    match (a, b) {
        (Dim::Static(x), Dim::Static(y)) => x == y,
        _ => true,
    }
}

/// The more informative of two compatible dims (a static one when there is one).
pub(crate) fn merge_dim(a: &Dim, b: &Dim) -> Dim {
    match a {
        Dim::Static(_) => a.clone(),
        Dim::Symbolic(_) => b.clone(),
    }
}

/// A type of `dtype` and `shape`.
pub(crate) fn ty(dtype: DType, shape: Shape) -> TensorType {
    TensorType { dtype, shape }
}
