//! Decomposition of the composite elementwise operators: variadic Min/Max/Sum/Mean, Clip, the
//! activations with attributes, IsInf.

use super::emit::{Emitter, int_tensor};
use super::operand;
use crate::attr::GeluApprox;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::ValueId;
use crate::op::{BinaryOp as B, Op, UnaryOp as U, VariadicOp};

/// Rewrites `op` when it is one of this family.
pub(super) fn rewrite(
    em: &mut Emitter,
    op: &Op,
    ins: &[Option<ValueId>],
) -> Result<Option<Vec<ValueId>>> {
    let v = match *op {
        Op::Variadic(kind) => variadic(em, kind, ins)?,
        Op::Binary(B::Pow) => {
            let (base, exp) = (operand(em, ins, 0)?, operand(em, ins, 1)?);
            if em.dtype(base) == em.dtype(exp) {
                return Ok(None);
            }
            pow_mixed(em, base, exp)?
        }
        Op::Clip {} => clip(em, ins)?,
        Op::Shrink { bias, lambd } => shrink(em, operand(em, ins, 0)?, bias.into(), lambd.into())?,
        Op::IsInf {
            detect_negative,
            detect_positive,
        } => is_inf(em, operand(em, ins, 0)?, detect_negative, detect_positive)?,
        Op::LeakyRelu { .. }
        | Op::Elu { .. }
        | Op::Selu { .. }
        | Op::Celu { .. }
        | Op::HardSigmoid { .. }
        | Op::ThresholdedRelu { .. }
        | Op::Gelu { .. } => activation(em, op, operand(em, ins, 0)?)?,
        _ => return Ok(None),
    };
    Ok(Some(vec![v]))
}

/// `Pow` whose exponent has another dtype than the base (kernels need equal operand types):
/// with a float on either side, both operands go to f64, the power is taken there and the
/// result is cast to the base's dtype (for an integer base, truncating and saturating — the
/// interpreter's rule); with two integer dtypes, both go to i64, where wrapping powers agree
/// with the base's own width (an unsigned exponent of 2^63 or more would wrap: not supported).
fn pow_mixed(em: &mut Emitter, base: ValueId, exp: ValueId) -> Result<ValueId> {
    let (bt, et) = (em.dtype(base), em.dtype(exp));
    let wide = if bt.is_float() || et.is_float() {
        DType::F64
    } else {
        DType::I64
    };
    let b = em.cast(base, wide)?;
    let e = em.cast(exp, wide)?;
    let p = em.bin(B::Pow, b, e)?;
    em.cast(p, bt)
}

/// Min/Max/Sum/Mean as a chain of binary steps over the operands, left to right.
fn variadic(em: &mut Emitter, kind: VariadicOp, ins: &[Option<ValueId>]) -> Result<ValueId> {
    let xs: Vec<ValueId> = ins.iter().flatten().copied().collect();
    let (&first, rest) = xs.split_first().ok_or_else(|| em.internal("no operands"))?;
    let mut acc = first;
    for &x in rest {
        acc = match kind {
            VariadicOp::Min => em.extreme2(acc, x, false)?,
            VariadicOp::Max => em.extreme2(acc, x, true)?,
            VariadicOp::Sum | VariadicOp::Mean => em.bin(B::Add, acc, x)?,
        };
    }
    if kind == VariadicOp::Mean {
        acc = em.bin_c(B::Div, acc, xs.len() as f64)?;
    }
    Ok(acc)
}

/// A scalar bound of Clip as a rank-0 value (inference accepts one-element tensors).
fn bound(em: &mut Emitter, ins: &[Option<ValueId>], i: usize) -> Result<Option<ValueId>> {
    match ins.get(i).copied().flatten() {
        None => Ok(None),
        Some(b) => Ok(Some(em.reshape(b, &[])?)),
    }
}

/// `min(max(x, lo), hi)`: NaN stays NaN, and `lo > hi` gives `hi`, as ONNX says.
fn clip(em: &mut Emitter, ins: &[Option<ValueId>]) -> Result<ValueId> {
    let mut y = operand(em, ins, 0)?;
    let (lo, hi) = (bound(em, ins, 1)?, bound(em, ins, 2)?);
    if let Some(lo) = lo {
        y = em.extreme2(y, lo, true)?;
    }
    if let Some(hi) = hi {
        y = em.extreme2(y, hi, false)?;
    }
    Ok(y)
}

/// `e^x - 1`.
fn exp_m1(em: &mut Emitter, x: ValueId) -> Result<ValueId> {
    let e = em.un(U::Exp, x)?;
    em.bin_c(B::Sub, e, 1.0)
}

/// The float activations, as selects over elementwise arithmetic (attributes widened from f32
/// exactly, as the reference does).
fn activation(em: &mut Emitter, op: &Op, x: ValueId) -> Result<ValueId> {
    match *op {
        Op::LeakyRelu { alpha } => {
            let neg = em.bin_c(B::Less, x, 0.0)?;
            let ax = em.bin_c(B::Mul, x, alpha.into())?;
            em.select(neg, ax, x)
        }
        Op::Elu { alpha } => {
            let neg = em.bin_c(B::Less, x, 0.0)?;
            let e = exp_m1(em, x)?;
            let ae = em.bin_c(B::Mul, e, alpha.into())?;
            em.select(neg, ae, x)
        }
        Op::Selu { alpha, gamma } => {
            let (a, g) = (f64::from(alpha), f64::from(gamma));
            let le = em.bin_c(B::LessOrEqual, x, 0.0)?;
            let e = exp_m1(em, x)?;
            let neg = em.bin_c(B::Mul, e, g * a)?;
            let pos = em.bin_c(B::Mul, x, g)?;
            em.select(le, neg, pos)
        }
        Op::Celu { alpha } => {
            // x > 0: x; otherwise alpha (e^(x/alpha) - 1), which is <= 0 (NaN falls here too).
            let a = f64::from(alpha);
            let pos = em.bin_c(B::Greater, x, 0.0)?;
            let xa = em.bin_c(B::Div, x, a)?;
            let e = exp_m1(em, xa)?;
            let neg = em.bin_c(B::Mul, e, a)?;
            em.select(pos, x, neg)
        }
        Op::HardSigmoid { alpha, beta } => {
            let ax = em.bin_c(B::Mul, x, alpha.into())?;
            let y = em.bin_c(B::Add, ax, beta.into())?;
            let zero = em.scalar(em.dtype(x), 0.0);
            let one = em.scalar(em.dtype(x), 1.0);
            let y = em.extreme2(y, zero, true)?;
            em.extreme2(y, one, false)
        }
        Op::ThresholdedRelu { alpha } => {
            let above = em.bin_c(B::Greater, x, alpha.into())?;
            let zero = em.scalar(em.dtype(x), 0.0);
            em.select(above, x, zero)
        }
        Op::Gelu { approximate } => gelu(em, x, approximate),
        _ => Err(em.internal("not an activation")),
    }
}

/// `0.5 x (1 + erf(x · (1/sqrt 2)))` (a product, not a division, per element), or `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
fn gelu(em: &mut Emitter, x: ValueId, approximate: GeluApprox) -> Result<ValueId> {
    let inner = match approximate {
        GeluApprox::None => {
            let s = em.bin_c(B::Mul, x, std::f64::consts::FRAC_1_SQRT_2)?;
            em.un(U::Erf, s)?
        }
        GeluApprox::Tanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            let x2 = em.bin(B::Mul, x, x)?;
            let x3 = em.bin(B::Mul, x2, x)?;
            let c = em.bin_c(B::Mul, x3, 0.044715)?;
            let s = em.bin(B::Add, x, c)?;
            let s = em.bin_c(B::Mul, s, k)?;
            em.un(U::Tanh, s)?
        }
    };
    let one_plus = em.bin_c(B::Add, inner, 1.0)?;
    let half_x = em.bin_c(B::Mul, x, 0.5)?;
    em.bin(B::Mul, half_x, one_plus)
}

/// Shrink: `x - bias` above `lambd`, `x + bias` below `-lambd`, else 0 (NaN stays NaN).
///
/// Integers compare in f64 as the reference does; the shifted value is `trunc(x + shift)`
/// computed exactly in the dtype (wrapping), never through floating point, which would round
/// 64-bit values.
fn shrink(em: &mut Emitter, x: ValueId, bias: f64, lambd: f64) -> Result<ValueId> {
    let dtype = em.dtype(x);
    let probe = if dtype.is_float() {
        x
    } else {
        em.cast(x, DType::F64)?
    };
    let below = em.bin_c(B::Less, probe, -lambd)?;
    let above = em.bin_c(B::Greater, probe, lambd)?;
    let shifted = |em: &mut Emitter, b: f64| -> Result<ValueId> {
        if dtype.is_float() {
            em.bin_c(B::Add, x, b)
        } else {
            int_shift(em, x, b)
        }
    };
    let lo = shifted(em, bias)?;
    let hi = shifted(em, -bias)?;
    // NaN is in neither band and stays NaN: an explicit test, not `x * 0`, which drivers
    // that assume finite math (Mesa's lavapipe) fold to 0.
    let middle = if dtype.is_float() {
        let nan = em.un(U::IsNaN, x)?;
        let zero = em.scalar(dtype, 0.0);
        em.select(nan, x, zero)?
    } else {
        em.scalar(dtype, 0.0)
    };
    let y = em.select(above, hi, middle)?;
    em.select(below, lo, y)
}

/// `trunc(x + s)` for an integer `x` and a finite f64 `s`, exactly, wrapped to `x`'s dtype:
/// `y = x + trunc(s)` added in the dtype (wrapping; `trunc(s)` wrapped into the dtype first), then a fractional part moves `y` one step toward zero when it points that
/// way. The sign of the exact `x + trunc(s)` is an exact comparison of `x` with `-trunc(s)`.
fn int_shift(em: &mut Emitter, x: ValueId, s: f64) -> Result<ValueId> {
    let dtype = em.dtype(x);
    let (lo, hi) = dtype
        .int_range()
        .ok_or_else(|| em.internal("shrink of a non-integer as an integer"))?;
    let si = s.trunc();
    let sf = s - si;
    let k = em.konst(int_tensor(dtype, &[], vec![wrap_to(dtype, si)]));
    let y = em.bin(B::Add, x, k)?;
    if sf == 0.0 || !sf.is_finite() {
        return Ok(y);
    }
    let c = -si;
    let int_const = |em: &mut Emitter, v: i128| em.konst(int_tensor(dtype, &[], vec![v]));
    // `x > c` (the exact sum is positive) for a fractional part below 0, `x < c` above it;
    // against a `c` outside the dtype's range the comparison is constant, written as one
    // against the range's end.
    let (cond, step) = if sf < 0.0 {
        let cond = if c < lo as f64 {
            let l = int_const(em, lo);
            em.bin(B::GreaterOrEqual, x, l)?
        } else if c >= (hi + 1) as f64 {
            let h = int_const(em, hi);
            em.bin(B::Greater, x, h)?
        } else {
            let cv = int_const(em, c as i128);
            em.bin(B::Greater, x, cv)?
        };
        (cond, B::Sub)
    } else {
        let cond = if c >= (hi + 1) as f64 {
            let h = int_const(em, hi);
            em.bin(B::LessOrEqual, x, h)?
        } else if c <= lo as f64 {
            let l = int_const(em, lo);
            em.bin(B::Less, x, l)?
        } else {
            let cv = int_const(em, c as i128);
            em.bin(B::Less, x, cv)?
        };
        (cond, B::Add)
    };
    let one = int_const(em, 1);
    let moved = em.bin(step, y, one)?;
    em.select(cond, moved, y)
}

/// An integral f64 wrapped into the range of the integer `dtype`, exactly: `%` by a power of
/// two is exact in f64 and leaves a value below 2^64 in magnitude, which i128 finishes.
fn wrap_to(dtype: DType, v: f64) -> i128 {
    let bits = 8 * dtype.size_bytes() as u32;
    let m = 1i128 << bits;
    let r = ((v % 2f64.powi(bits as i32)) as i128).rem_euclid(m);
    if dtype.is_signed_int() && r >= m / 2 {
        r - m
    } else {
        r
    }
}

/// IsInf as comparisons against the infinities.
fn is_inf(em: &mut Emitter, x: ValueId, neg: bool, pos: bool) -> Result<ValueId> {
    let inf = f64::INFINITY;
    match (neg, pos) {
        (true, true) => {
            let a = em.un(U::Abs, x)?;
            em.bin_c(B::Equal, a, inf)
        }
        (false, true) => em.bin_c(B::Equal, x, inf),
        (true, false) => em.bin_c(B::Equal, x, -inf),
        // NaN equals nothing: an all-false mask of x's shape.
        (false, false) => em.bin_c(B::Equal, x, f64::NAN),
    }
}
