//! Decomposition of Gemm into Transpose, MatMul, Mul and Add.

use super::emit::Emitter;
use super::operand;
use crate::error::Result;
use crate::graph::{TensorType, ValueId};
use crate::op::{BinaryOp as B, Op};

/// Rewrites `op` when it is one of this family (and its operands allow it).
pub(super) fn rewrite(
    em: &mut Emitter,
    op: &Op,
    ins: &[Option<ValueId>],
    _tys: &[TensorType],
) -> Result<Option<Vec<ValueId>>> {
    match *op {
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => gemm(em, ins, alpha, beta, trans_a, trans_b),
        _ => Ok(None),
    }
}

/// `alpha * A' B' + beta * C`; the C term is dropped when `beta` is 0 (so a NaN in C does not
/// leak, as the reference says). Integer operands need integral `alpha` and `beta` (otherwise
/// the node stays, and the host reports the error).
fn gemm(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
) -> Result<Option<Vec<ValueId>>> {
    let a = operand(em, ins, 0)?;
    let b = operand(em, ins, 1)?;
    if !em.dtype(a).is_float() && (alpha.fract() != 0.0 || beta.fract() != 0.0) {
        return Ok(None);
    }
    let a = if trans_a {
        em.transpose(a, &[1, 0])?
    } else {
        a
    };
    let b = if trans_b {
        em.transpose(b, &[1, 0])?
    } else {
        b
    };
    let mut y = em.op1(Op::MatMul {}, &[a, b])?;
    if alpha != 1.0 {
        y = em.bin_c(B::Mul, y, alpha.into())?;
    }
    if let Some(c) = ins.get(2).copied().flatten()
        && beta != 0.0
    {
        let c = if beta != 1.0 {
            em.bin_c(B::Mul, c, beta.into())?
        } else {
            c
        };
        y = em.bin(B::Add, y, c)?;
    }
    Ok(Some(vec![y]))
}
