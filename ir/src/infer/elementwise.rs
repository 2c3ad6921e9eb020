//! Inference for elementwise operators: unary, binary and variadic families, activations with
//! attributes, `Cast`, `Clip`, `IsInf` and `Where`.

use super::{ANY, BOOL, Class, Ctx, FLOAT, INT, NUMERIC, PLAIN, SIGNED, UNSIGNED, ty};
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::TensorType;
use crate::op::{BinaryOp, Op, UnaryOp, VariadicOp};

/// Output types of an elementwise `op`, or `None` when `op` is not elementwise.
pub(super) fn infer(cx: &Ctx<'_, '_>, op: &Op) -> Result<Option<Vec<TensorType>>> {
    let out = match op {
        Op::Unary(u) => unary(cx, *u)?,
        Op::Binary(b) => binary(cx, *b)?,
        Op::Variadic(v) => variadic(cx, *v)?,
        Op::LeakyRelu { .. }
        | Op::Elu { .. }
        | Op::Selu { .. }
        | Op::Celu { .. }
        | Op::HardSigmoid { .. }
        | Op::ThresholdedRelu { .. }
        | Op::Gelu { .. } => same_as_input(cx, FLOAT, None)?,
        Op::Shrink { .. } => same_as_input(cx, NUMERIC, None)?,
        Op::IsInf { .. } => same_as_input(cx, FLOAT, Some(DType::Bool))?,
        Op::Cast { to, .. } => same_as_input(cx, ANY, Some(*to))?,
        Op::Clip {} => clip(cx)?,
        Op::Where {} => where_(cx)?,
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// One input of `class`, one output of its shape and `dtype` (or the input's dtype).
fn same_as_input(cx: &Ctx<'_, '_>, class: Class, dtype: Option<DType>) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let d = cx.dtype(0, class)?;
    Ok(vec![ty(dtype.unwrap_or(d), cx.shape(0)?.clone())])
}

fn unary(cx: &Ctx<'_, '_>, u: UnaryOp) -> Result<Vec<TensorType>> {
    use UnaryOp::*;
    let (class, result) = match u {
        Identity => (ANY, None),
        Neg => (SIGNED, None),
        Abs | Sign => (NUMERIC, None),
        Relu => (SIGNED, None),
        Sqrt | Reciprocal | Exp | Log | Sin | Cos | Tan | Asin | Acos | Atan | Sinh | Cosh
        | Tanh | Asinh | Acosh | Atanh | Erf | Sigmoid | Softplus | Softsign | HardSwish | Mish
        | Floor | Ceil | Round => (FLOAT, None),
        Not => (BOOL, None),
        IsNaN => (FLOAT, Some(DType::Bool)),
        BitwiseNot => (INT, None),
    };
    same_as_input(cx, class, result)
}

/// Pow's base: floats, i32 or i64 (its exponent may be any numeric dtype).
const POW_BASE: Class = Class::standard(
    |d| d.is_float() || matches!(d, DType::I32 | DType::I64),
    "a float dtype, i32 or i64",
);

fn binary(cx: &Ctx<'_, '_>, b: BinaryOp) -> Result<Vec<TensorType>> {
    use BinaryOp::*;
    cx.simple(2, 2)?;
    let (class, same) = match b {
        Add | Sub | Mul | Div | Mod | FMod | PRelu => (NUMERIC, true),
        Pow => (POW_BASE, false),
        BitShiftLeft | BitShiftRight => (UNSIGNED, true),
        BitwiseAnd | BitwiseOr | BitwiseXor => (INT, true),
        And | Or | Xor => (BOOL, true),
        Equal => (PLAIN, true),
        Less | LessOrEqual | Greater | GreaterOrEqual => (NUMERIC, true),
    };
    let a = cx.dtype(0, class)?;
    cx.dtype(1, if b == Pow { NUMERIC } else { class })?;
    if same {
        cx.same_dtype(1, 0)?;
    }
    let (sa, sb) = (cx.shape(0)?, cx.shape(1)?);
    let shape = cx.broadcast(&[sa, sb], 0)?;
    if b == PRelu {
        if shape.rank() != sa.rank() || !same_static(&shape, sa) {
            return Err(cx.shape_err(format!("slope {sb} must broadcast to the shape of x {sa}")));
        }
        return Ok(vec![ty(a, sa.clone())]);
    }
    let dtype = if b.is_comparison() { DType::Bool } else { a };
    Ok(vec![ty(dtype, shape)])
}

/// True when no static dim of `a` differs from `b`'s.
fn same_static(a: &crate::shape::Shape, b: &crate::shape::Shape) -> bool {
    a.0.iter()
        .zip(&b.0)
        .all(|(x, y)| super::dims_compatible(x, y))
}

fn variadic(cx: &Ctx<'_, '_>, v: VariadicOp) -> Result<Vec<TensorType>> {
    cx.simple(1, usize::MAX)?;
    let class = match v {
        VariadicOp::Min | VariadicOp::Max => NUMERIC,
        VariadicOp::Sum | VariadicOp::Mean => FLOAT,
    };
    let d = cx.dtype(0, class)?;
    for i in 1..cx.inputs.len() {
        cx.dtype(i, class)?;
        cx.same_dtype(i, 0)?;
    }
    let shapes = (0..cx.inputs.len())
        .map(|i| cx.shape(i))
        .collect::<Result<Vec<_>>>()?;
    Ok(vec![ty(d, cx.broadcast(&shapes, 0)?)])
}

/// `(x, min?, max?)`: bounds are one-element tensors of x's dtype.
fn clip(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(1, 3)?;
    let d = cx.dtype(0, NUMERIC)?;
    for (i, what) in [(1, "min"), (2, "max")] {
        if cx.opt(i).is_some() {
            cx.same_dtype(i, 0)?;
            cx.scalar_like(i, what)?;
        }
    }
    Ok(vec![ty(d, cx.shape(0)?.clone())])
}

/// `(cond, x, y)`: bool condition, x and y of one dtype, all broadcast.
fn where_(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(3, 3)?;
    cx.dtype(0, BOOL)?;
    let d = cx.dtype(1, ANY)?;
    cx.same_dtype(2, 1)?;
    let shape = cx.broadcast(&[cx.shape(0)?, cx.shape(1)?, cx.shape(2)?], 0)?;
    Ok(vec![ty(d, shape)])
}
