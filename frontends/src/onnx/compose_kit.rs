//! Small node builders shared by the sequence, attention and training compositions
//! (compose_rnn.rs, compose_attention.rs, compose_training.rs): each emits one helper IR node
//! of the node being mapped, named `<label>/<suffix>`.

use super::error::OnnxError;
use super::import::NodeCtx;
use super::ops::scalar_tensor;
use tessera_ir::{At, BinaryOp, DType, IrError, Op, UnaryOp, ValueId};

/// The most steps a recurrence (RNN/GRU/LSTM, LinearAttention, Scan) is unrolled over.
pub(crate) const MAX_UNROLL: usize = 1 << 14;

/// Refuses unrolling more than [`MAX_UNROLL`] steps (a typed `UnsupportedType`).
pub(crate) fn check_unroll(ctx: &NodeCtx<'_, '_>, steps: usize) -> Result<(), OnnxError> {
    if steps > MAX_UNROLL {
        return Err(OnnxError::UnsupportedType {
            value: format!("{}: input 0 ({steps} steps)", ctx.label),
            kind: "sequence too long to unroll",
        });
    }
    Ok(())
}

/// A zero tensor of the static `dims` in `dtype` (a ConstantOfShape: nothing is allocated
/// at import).
pub(crate) fn zeros(ctx: &mut NodeCtx<'_, '_>, dtype: DType, dims: &[usize], s: &str) -> Built {
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let shape = ctx.const_i64(&dims)?;
    ctx.emit_aux(
        Op::ConstantOfShape {
            value: scalar_tensor(dtype, 0.0),
        },
        vec![Some(shape)],
        s,
    )
}

/// The result of one builder.
pub(crate) type Built = Result<ValueId, OnnxError>;

/// A scalar constant of `dtype`.
pub(crate) fn scalar(ctx: &mut NodeCtx<'_, '_>, dtype: DType, v: f64) -> ValueId {
    ctx.constant(scalar_tensor(dtype, v))
}

/// A binary elementwise node.
pub(crate) fn bin(
    ctx: &mut NodeCtx<'_, '_>,
    op: BinaryOp,
    a: ValueId,
    b: ValueId,
    s: &str,
) -> Built {
    ctx.emit_aux(Op::Binary(op), vec![Some(a), Some(b)], s)
}

/// A unary elementwise node.
pub(crate) fn un(ctx: &mut NodeCtx<'_, '_>, op: UnaryOp, a: ValueId, s: &str) -> Built {
    ctx.emit_aux(Op::Unary(op), vec![Some(a)], s)
}

/// A single-operand node of `op`.
pub(crate) fn one(ctx: &mut NodeCtx<'_, '_>, op: Op, a: ValueId, s: &str) -> Built {
    ctx.emit_aux(op, vec![Some(a)], s)
}

/// `x[start:end]` along `axis`.
pub(crate) fn slice(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    axis: i64,
    (start, end): (i64, i64),
    s: &str,
) -> Built {
    let (st, en, ax) = (
        ctx.const_i64(&[start])?,
        ctx.const_i64(&[end])?,
        ctx.const_i64(&[axis])?,
    );
    ctx.emit_aux(Op::Slice {}, vec![Some(x), Some(st), Some(en), Some(ax)], s)
}

/// `x` reshaped to the constant `shape` (0 copies the input's dim, -1 is inferred).
pub(crate) fn reshape(ctx: &mut NodeCtx<'_, '_>, x: ValueId, shape: &[i64], s: &str) -> Built {
    let shape = ctx.const_i64(shape)?;
    ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(x), Some(shape)],
        s,
    )
}

/// `x` with its axes permuted.
pub(crate) fn transpose(ctx: &mut NodeCtx<'_, '_>, x: ValueId, perm: &[i64], s: &str) -> Built {
    one(
        ctx,
        Op::Transpose {
            perm: perm.to_vec(),
        },
        x,
        s,
    )
}

/// `x` with size-1 axes inserted at `axes`.
pub(crate) fn unsqueeze(ctx: &mut NodeCtx<'_, '_>, x: ValueId, axes: &[i64], s: &str) -> Built {
    let axes = ctx.const_i64(axes)?;
    ctx.emit_aux(Op::Unsqueeze {}, vec![Some(x), Some(axes)], s)
}

/// The concatenation of `parts` along `axis`.
pub(crate) fn concat(ctx: &mut NodeCtx<'_, '_>, parts: &[ValueId], axis: i64, s: &str) -> Built {
    let inputs = parts.iter().map(|&p| Some(p)).collect();
    ctx.emit_aux(Op::Concat { axis }, inputs, s)
}

/// A matrix product (batched, broadcasting).
pub(crate) fn matmul(ctx: &mut NodeCtx<'_, '_>, a: ValueId, b: ValueId, s: &str) -> Built {
    ctx.emit_aux(Op::MatMul {}, vec![Some(a), Some(b)], s)
}

/// `v` cast to `to` (no node when it already has that dtype).
pub(crate) fn cast(ctx: &mut NodeCtx<'_, '_>, v: ValueId, to: DType, s: &str) -> Built {
    if ctx.ty(v).dtype == to {
        Ok(v)
    } else {
        one(ctx, Op::Cast { to, saturate: true }, v, s)
    }
}

/// The static dims of operand `x` (operand number `index`); a dynamic shape is a typed
/// `UnsupportedType` (these compositions need static shapes).
pub(crate) fn static_dims(
    ctx: &NodeCtx<'_, '_>,
    x: ValueId,
    index: usize,
) -> Result<Vec<usize>, OnnxError> {
    ctx.ty(x)
        .shape
        .as_static()
        .ok_or_else(|| OnnxError::UnsupportedType {
            value: format!("{}: {} input {index}", ctx.label, ctx.op_type),
            kind: "tensor of dynamic shape (the composition needs static shapes)",
        })
}

/// Refuses operands of a non-float dtype with a typed `UnsupportedDType` error.
pub(crate) fn need_float(
    ctx: &NodeCtx<'_, '_>,
    x: ValueId,
    index: usize,
) -> Result<DType, OnnxError> {
    let dtype = ctx.ty(x).dtype;
    if dtype.is_float() {
        Ok(dtype)
    } else {
        Err(ctx.ir_err(IrError::Unsupported {
            at: At {
                node: ctx.label.to_string(),
                op: "composition",
            },
            dtype,
            detail: Some(format!(
                "{} input {index} must be a float tensor",
                ctx.op_type
            )),
        }))
    }
}

/// `v` as a node output: an Identity of it when it is one of the node's own operands.
pub(crate) fn as_output(ctx: &mut NodeCtx<'_, '_>, v: ValueId, s: &str) -> Built {
    if ctx.inputs.contains(&Some(v)) {
        un(ctx, UnaryOp::Identity, v, s)
    } else {
        Ok(v)
    }
}
