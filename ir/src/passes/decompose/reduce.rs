//! Decomposition of the composite reductions (ReduceMean/L1/L2/LogSum/LogSumExp/SumSquare),
//! Softmax, LogSoftmax, Hardmax, the normalizations and CumSum.

use super::emit::{Emitter, int_tensor};
use super::{const_ints, operand};
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{TensorType, ValueId};
use crate::op::{BinaryOp as B, Op, ReduceOp as R, UnaryOp as U};
use crate::shape::normalize_axis;

/// Rewrites `op` when it is one of this family (and its operands allow it).
pub(super) fn rewrite(
    em: &mut Emitter,
    op: &Op,
    ins: &[Option<ValueId>],
    tys: &[TensorType],
) -> Result<Option<Vec<ValueId>>> {
    match *op {
        Op::Reduce {
            kind,
            keepdims,
            noop_with_empty_axes,
        } => reduce(em, kind, keepdims, noop_with_empty_axes, ins),
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            let x = operand(em, ins, 0)?;
            let Some(ax) = normalize_axis(axis, em.rank(x)) else {
                return Ok(None);
            };
            let log = matches!(op, Op::LogSoftmax { .. });
            Ok(Some(vec![softmax(em, x, ax, log)?]))
        }
        Op::Hardmax { axis } => hardmax(em, operand(em, ins, 0)?, axis),
        Op::BatchNormalization {
            epsilon,
            momentum,
            training_mode,
        } => batch_norm(em, ins, tys.len(), epsilon, momentum, training_mode),
        Op::InstanceNormalization { epsilon } => instance_norm(em, ins, epsilon),
        Op::LayerNormalization {
            axis,
            epsilon,
            stash_type,
        } => layer_norm(em, ins, tys, axis, epsilon, stash_type),
        Op::CumSum { exclusive, reverse } => cumsum(em, ins, exclusive, reverse),
        _ => Ok(None),
    }
}

/// The reduced axes (normalized, sorted) of data of `rank`, from the axes operand, or `None`
/// when they are not constant. Empty axes reduce all (or, with `noop`, none).
fn reduced_axes(
    em: &Emitter,
    ins: &[Option<ValueId>],
    rank: usize,
    noop: bool,
) -> Option<Vec<usize>> {
    let axes = const_ints(em, ins, 1).ok()?.unwrap_or_default();
    if axes.is_empty() {
        return Some(if noop {
            Vec::new()
        } else {
            (0..rank).collect()
        });
    }
    let mut v: Vec<usize> = axes
        .iter()
        .map(|&a| normalize_axis(a, rank))
        .collect::<Option<_>>()?;
    v.sort_unstable();
    Some(v)
}

/// Element count of `axes` of `x` (static dims required).
fn count_of(em: &Emitter, x: ValueId, axes: &[usize]) -> Option<usize> {
    let dims = em.dims(x)?;
    axes.iter()
        .try_fold(1usize, |acc, &a| acc.checked_mul(*dims.get(a)?))
}

/// `Sum(x) / n` over `axes`; narrower integers sum in i64 (exact) and divide truncating, as
/// the reference does; 64-bit integers take [`mean_64`].
fn mean(em: &mut Emitter, x: ValueId, axes: &[usize], keepdims: bool) -> Result<Option<ValueId>> {
    let Some(n) = count_of(em, x, axes) else {
        return Ok(None);
    };
    let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
    let dtype = em.dtype(x);
    if dtype.is_float() {
        let s = em.reduce(R::Sum, x, &ax, keepdims)?;
        return Ok(Some(em.bin_c(B::Div, s, n as f64)?));
    }
    if matches!(dtype, DType::I64 | DType::U64) {
        return Ok(Some(mean_64(em, x, n, &ax, keepdims)?));
    }
    let wide = DType::I64;
    let xw = em.cast(x, wide)?;
    let s = em.reduce(R::Sum, xw, &ax, keepdims)?;
    let m = em.bin_c(B::Div, s, n as f64)?;
    Ok(Some(em.cast(m, dtype)?))
}

/// The mean of 64-bit integers, exactly as the reference (the exact sum divided, truncating
/// toward zero), without a wider type: each `x = q n + r` (truncating division), so the sum is
/// `n (sum q + a) + b` with `sum r = a n + b`, `|b| < n`. `Q = sum q + a` is the quotient up to
/// one step toward zero when `b` and the sum have opposite signs (`b < 0` with `Q >= 1`, or
/// `b > 0` with `Q <= -1`). `sum q` may wrap on the way, but the final `Q` is in range, and
/// wrapping arithmetic is exact modulo 2^64; `sum r` stays below `n^2` in magnitude.
fn mean_64(em: &mut Emitter, x: ValueId, n: usize, ax: &[i64], keepdims: bool) -> Result<ValueId> {
    let nf = n as f64;
    let q = em.bin_c(B::Div, x, nf)?;
    let qn = em.bin_c(B::Mul, q, nf)?;
    let r = em.bin(B::Sub, x, qn)?;
    let sq = em.reduce(R::Sum, q, ax, keepdims)?;
    let sr = em.reduce(R::Sum, r, ax, keepdims)?;
    let a = em.bin_c(B::Div, sr, nf)?;
    let an = em.bin_c(B::Mul, a, nf)?;
    let b = em.bin(B::Sub, sr, an)?;
    let big_q = em.bin(B::Add, sq, a)?;
    if em.dtype(x) == DType::U64 {
        // Nothing is negative: no step.
        return Ok(big_q);
    }
    let b_neg = em.bin_c(B::Less, b, 0.0)?;
    let q_pos = em.bin_c(B::GreaterOrEqual, big_q, 1.0)?;
    let down = em.bin(B::And, b_neg, q_pos)?;
    let b_pos = em.bin_c(B::Greater, b, 0.0)?;
    let q_neg = em.bin_c(B::LessOrEqual, big_q, -1.0)?;
    let up = em.bin(B::And, b_pos, q_neg)?;
    let minus = em.bin_c(B::Sub, big_q, 1.0)?;
    let plus = em.bin_c(B::Add, big_q, 1.0)?;
    let y = em.select(down, minus, big_q)?;
    em.select(up, plus, y)
}

/// The composite `Reduce*` kinds as Sum/Max plus elementwise steps.
fn reduce(
    em: &mut Emitter,
    kind: R,
    keepdims: bool,
    noop: bool,
    ins: &[Option<ValueId>],
) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let Some(axes) = reduced_axes(em, ins, em.rank(x), noop) else {
        return Ok(None);
    };
    let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
    let dtype = em.dtype(x);
    if !dtype.is_float() && matches!(kind, R::L2 | R::LogSum | R::LogSumExp) {
        // The reference computes these in f64, truncates toward zero and wraps to the dtype.
        let xf = em.cast(x, DType::F64)?;
        let y = float_reduce(em, kind, xf, &ax, keepdims)?;
        return Ok(Some(vec![trunc_wrap(em, y, dtype)?]));
    }
    let y = match kind {
        R::Mean => match mean(em, x, &axes, keepdims)? {
            Some(y) => y,
            None => return Ok(None),
        },
        R::L1 => {
            let a = em.un(U::Abs, x)?;
            em.reduce(R::Sum, a, &ax, keepdims)?
        }
        R::SumSquare => {
            let sq = em.bin(B::Mul, x, x)?;
            em.reduce(R::Sum, sq, &ax, keepdims)?
        }
        R::L2 | R::LogSum | R::LogSumExp => float_reduce(em, kind, x, &ax, keepdims)?,
        // Sum/Max/Min/Prod are primitives.
        R::Sum | R::Max | R::Min | R::Prod => return Ok(None),
    };
    Ok(Some(vec![y]))
}

/// An f64 value truncated toward zero and wrapped (not saturated) into the integer `dtype`,
/// as the reference converts its f64 results. Every step is exact: the truncation, `fmod` by
/// 2^bits, and moving a value by 2^bits into the dtype's range. Non-finite values go through
/// the plain cast (the reference has no integer result for them).
fn trunc_wrap(em: &mut Emitter, y: ValueId, dtype: DType) -> Result<ValueId> {
    let bits = 8 * dtype.size_bytes() as i32;
    let m = 2f64.powi(bits);
    let neg = em.bin_c(B::Less, y, 0.0)?;
    let up = em.un(U::Ceil, y)?;
    let down = em.un(U::Floor, y)?;
    let t = em.select(neg, up, down)?;
    // `fmod` keeps the sign of `t`: [0, 2^bits) for t >= 0, (-2^bits, 0] below.
    let r = em.bin_c(B::FMod, t, m)?;
    let below = em.bin_c(B::Less, r, 0.0)?;
    let lifted = em.bin_c(B::Add, r, m)?;
    let r = em.select(below, lifted, r)?;
    let r = if dtype.is_signed_int() {
        let high = em.bin_c(B::GreaterOrEqual, r, m / 2.0)?;
        let lowered = em.bin_c(B::Sub, r, m)?;
        em.select(high, lowered, r)?
    } else {
        r
    };
    em.cast(r, dtype)
}

/// ReduceL2, ReduceLogSum or ReduceLogSumExp of a float value.
fn float_reduce(
    em: &mut Emitter,
    kind: R,
    x: ValueId,
    ax: &[i64],
    keepdims: bool,
) -> Result<ValueId> {
    match kind {
        R::L2 => l2(em, x, ax, keepdims),
        R::LogSum => {
            let s = em.reduce(R::Sum, x, ax, keepdims)?;
            em.un(U::Log, s)
        }
        _ => log_sum_exp(em, x, ax, keepdims),
    }
}

/// ReduceL2 as `d sqrt(sum((x / d)^2))` with `d` the largest `|x|` where it is finite and not
/// zero, else 1 (the scaling of BLAS `nrm2`): squares of values near the top of the range do
/// not overflow the accumulator (f32 for f32, f16 and bf16) when the norm itself is finite, as
/// in the reference, which squares in f64. An infinite operand still gives +inf (its scale is
/// 1), NaN gives NaN, all zeros give 0. f64 squares directly, as the reference (and ONNX
/// Runtime) does: its squares overflow where the reference's do.
fn l2(em: &mut Emitter, x: ValueId, ax: &[i64], keepdims: bool) -> Result<ValueId> {
    if em.dtype(x) == DType::F64 {
        let sq = em.bin(B::Mul, x, x)?;
        let s = em.reduce(R::Sum, sq, ax, keepdims)?;
        return em.un(U::Sqrt, s);
    }
    let a = em.un(U::Abs, x)?;
    let scale = |em: &mut Emitter, keep: bool| -> Result<ValueId> {
        let m = em.reduce(R::Max, a, ax, keep)?;
        let finite = em.bin_c(B::Less, m, f64::INFINITY)?;
        let nonzero = em.bin_c(B::Greater, m, 0.0)?;
        let ok = em.bin(B::And, finite, nonzero)?;
        let one = em.scalar(em.dtype(x), 1.0);
        em.select(ok, m, one)
    };
    let d = scale(em, true)?;
    let xs = em.bin(B::Div, x, d)?;
    let sq = em.bin(B::Mul, xs, xs)?;
    let s = em.reduce(R::Sum, sq, ax, keepdims)?;
    let r = em.un(U::Sqrt, s)?;
    let d_out = if keepdims { d } else { scale(em, false)? };
    em.bin(B::Mul, r, d_out)
}

/// `m + log(sum(exp(x - m)))` with `m` the maximum where it is finite, else 0 (so that
/// all--inf, empty and +inf sets give -inf, -inf and +inf, and NaN stays NaN).
fn log_sum_exp(em: &mut Emitter, x: ValueId, ax: &[i64], keepdims: bool) -> Result<ValueId> {
    let finite_max = |em: &mut Emitter, keep: bool| -> Result<ValueId> {
        let m = em.reduce(R::Max, x, ax, keep)?;
        let a = em.un(U::Abs, m)?;
        let finite = em.bin_c(B::Less, a, f64::INFINITY)?;
        let zero = em.scalar(em.dtype(x), 0.0);
        em.select(finite, m, zero)
    };
    let shift = finite_max(em, true)?;
    let d = em.bin(B::Sub, x, shift)?;
    let e = em.un(U::Exp, d)?;
    let s = em.reduce(R::Sum, e, ax, keepdims)?;
    let l = em.un(U::Log, s)?;
    let m = if keepdims {
        shift
    } else {
        finite_max(em, false)?
    };
    em.bin(B::Add, m, l)
}

/// Softmax (or LogSoftmax) along `ax`, shifted by the lane maximum.
fn softmax(em: &mut Emitter, x: ValueId, ax: usize, log: bool) -> Result<ValueId> {
    let a = [ax as i64];
    let m = em.reduce(R::Max, x, &a, true)?;
    let d = em.bin(B::Sub, x, m)?;
    let e = em.un(U::Exp, d)?;
    let s = em.reduce(R::Sum, e, &a, true)?;
    if log {
        let l = em.un(U::Log, s)?;
        em.bin(B::Sub, d, l)
    } else if matches!(em.dtype(e), DType::F32 | DType::F64) {
        // One reciprocal per row and a product per element (a division per element costs
        // several times more; the result moves by at most an ULP or two). Half-precision
        // dtypes keep the division: rounding the reciprocal to 11 or 8 bits first costs them
        // a whole ULP.
        let r = em.un(U::Reciprocal, s)?;
        em.bin(B::Mul, e, r)
    } else {
        em.bin(B::Div, e, s)
    }
}

/// Hardmax: `ArgMax == iota` along the axis, cast to x's dtype (static extent needed).
fn hardmax(em: &mut Emitter, x: ValueId, axis: i64) -> Result<Option<Vec<ValueId>>> {
    let rank = em.rank(x);
    let (Some(ax), Some(dims)) = (normalize_axis(axis, rank), em.dims(x)) else {
        return Ok(None);
    };
    let idx = em.op1(
        Op::ArgMax {
            axis: ax as i64,
            keepdims: true,
            select_last_index: false,
        },
        &[x],
    )?;
    let n = dims[ax];
    let mut shape = vec![1usize; rank - ax];
    shape[0] = n;
    let iota = em.konst(int_tensor(DType::I64, &shape, (0..n as i128).collect()));
    let hit = em.bin(B::Equal, idx, iota)?;
    Ok(Some(vec![em.cast(hit, em.dtype(x))?]))
}

/// A per-channel parameter of shape `[C]` reshaped to `[C, 1, ...]` for data of `rank`, in
/// `dtype`.
fn channel_param(em: &mut Emitter, p: ValueId, rank: usize, dtype: DType) -> Result<ValueId> {
    let c = em.dims(p).unwrap_or_default();
    let mut dims = c.clone();
    dims.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
    let r = em.reshape(p, &dims)?;
    em.cast(r, dtype)
}

/// Mean and population variance of `x` over `axes`, kept as size 1.
fn moments(em: &mut Emitter, x: ValueId, axes: &[usize]) -> Result<Option<(ValueId, ValueId)>> {
    let Some(m) = mean(em, x, axes, true)? else {
        return Ok(None);
    };
    let d = em.bin(B::Sub, x, m)?;
    let sq = em.bin(B::Mul, d, d)?;
    let Some(v) = mean(em, sq, axes, true)? else {
        return Ok(None);
    };
    Ok(Some((m, v)))
}

/// `scale * (x - mean) / sqrt(var + eps) + bias`, as the reference computes it.
fn normalize(
    em: &mut Emitter,
    x: ValueId,
    [scale, bias, mean, var]: [ValueId; 4],
    epsilon: f32,
) -> Result<ValueId> {
    let d = em.bin(B::Sub, x, mean)?;
    let sd = em.bin(B::Mul, scale, d)?;
    let ve = em.bin_c(B::Add, var, epsilon.into())?;
    let root = em.un(U::Sqrt, ve)?;
    let q = em.bin(B::Div, sd, root)?;
    em.bin(B::Add, q, bias)
}

/// BatchNormalization, inference (given statistics) or training (batch statistics plus the
/// running averages in the statistics' dtype).
fn batch_norm(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    outputs: usize,
    epsilon: f32,
    momentum: f32,
    training: bool,
) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let (rank, dtype) = (em.rank(x), em.dtype(x));
    if rank == 0 || em.dims(x).is_none() {
        return Ok(None);
    }
    let mut p = [x; 4];
    for (k, slot) in p.iter_mut().enumerate() {
        let v = operand(em, ins, k + 1)?;
        if em.dims(v).is_none() {
            return Ok(None);
        }
        *slot = channel_param(em, v, rank, dtype)?;
    }
    if !training {
        return Ok(Some(vec![normalize(em, x, p, epsilon)?]));
    }
    let axes: Vec<usize> = (0..rank).filter(|&a| a != 1).collect();
    let Some((mean, var)) = moments(em, x, &axes)? else {
        return Ok(None);
    };
    let y = normalize(em, x, [p[0], p[1], mean, var], epsilon)?;
    let mut outs = vec![y];
    let m = f64::from(momentum);
    for (k, stat) in [(3, mean), (4, var)] {
        if outs.len() == outputs {
            break;
        }
        let old = operand(em, ins, k)?;
        let c = em.dims(old).unwrap_or_default();
        let flat = em.reshape(stat, &c)?;
        let flat = em.cast(flat, em.dtype(old))?;
        let a = em.bin_c(B::Mul, old, m)?;
        let b = em.bin_c(B::Mul, flat, 1.0 - m)?;
        outs.push(em.bin(B::Add, a, b)?);
    }
    Ok(Some(outs))
}

/// InstanceNormalization: each (n, c) block normalized over the spatial axes.
fn instance_norm(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    epsilon: f32,
) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let (rank, dtype) = (em.rank(x), em.dtype(x));
    if rank < 2 || em.dims(x).is_none() {
        return Ok(None);
    }
    let axes: Vec<usize> = (2..rank).collect();
    let Some((mean, var)) = moments(em, x, &axes)? else {
        return Ok(None);
    };
    let s = operand(em, ins, 1)?;
    let b = operand(em, ins, 2)?;
    if em.dims(s).is_none() || em.dims(b).is_none() {
        return Ok(None);
    }
    let scale = channel_param(em, s, rank, dtype)?;
    let bias = channel_param(em, b, rank, dtype)?;
    let d = em.bin(B::Sub, x, mean)?;
    let ve = em.bin_c(B::Add, var, epsilon.into())?;
    let root = em.un(U::Sqrt, ve)?;
    let inv = em.un(U::Reciprocal, root)?;
    let sd = em.bin(B::Mul, scale, d)?;
    let q = em.bin(B::Mul, sd, inv)?;
    Ok(Some(vec![em.bin(B::Add, q, bias)?]))
}

/// Relative precision of a float dtype (higher is finer).
fn precision(d: DType) -> u8 {
    match d {
        DType::F64 => 3,
        DType::F32 => 2,
        _ => 1,
    }
}

/// LayerNormalization over axes `axis..`: statistics in the finer of X's dtype and the stash
/// dtype; `Mean` and `InvStdDev` in the stash dtype (the types inference gave them).
fn layer_norm(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    tys: &[TensorType],
    axis: i64,
    epsilon: f32,
    stash_type: i64,
) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let (rank, dtype) = (em.rank(x), em.dtype(x));
    let Some(ax) = normalize_axis(axis, rank) else {
        return Ok(None);
    };
    if em.dims(x).is_none() {
        return Ok(None);
    }
    // The ONNX data type numbers of the float dtypes; the statistics outputs' types (when
    // present) are what inference made of it.
    let stash = match (tys.get(1), stash_type) {
        (Some(t), _) => t.dtype,
        (None, 1) => DType::F32,
        (None, 10) => DType::F16,
        (None, 11) => DType::F64,
        (None, 16) => DType::BF16,
        (None, _) => dtype,
    };
    let work = if precision(stash) > precision(dtype) {
        stash
    } else {
        dtype
    };
    let xw = em.cast(x, work)?;
    let axes: Vec<usize> = (ax..rank).collect();
    let Some((mean, var)) = moments(em, xw, &axes)? else {
        return Ok(None);
    };
    let d = em.bin(B::Sub, xw, mean)?;
    let ve = em.bin_c(B::Add, var, epsilon.into())?;
    let root = em.un(U::Sqrt, ve)?;
    let inv = em.un(U::Reciprocal, root)?;
    let normed = em.bin(B::Mul, d, inv)?;
    let normed = em.cast(normed, dtype)?;
    let s = operand(em, ins, 1)?;
    let mut y = em.bin(B::Mul, normed, s)?;
    if let Some(b) = ins.get(2).copied().flatten() {
        y = em.bin(B::Add, y, b)?;
    }
    let mut outs = vec![y];
    for stat in [mean, inv] {
        if outs.len() < tys.len() {
            outs.push(em.cast(stat, stash)?);
        }
    }
    Ok(Some(outs))
}

/// CumSum as a log-depth scan: `y += shift(y, 2^k)` for each power of two below the extent
/// (exact for integers, NaN and infinities propagate as in a serial sum). Exclusive shifts
/// the input by one first; reverse flips before and after.
fn cumsum(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    exclusive: bool,
    reverse: bool,
) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let rank = em.rank(x);
    let axis = match const_ints(em, ins, 1) {
        Ok(Some(v)) if v.len() == 1 => normalize_axis(v[0], rank),
        _ => None,
    };
    let (Some(ax), Some(dims)) = (axis, em.dims(x)) else {
        return Ok(None);
    };
    let n = dims[ax] as i64;
    let flip = |em: &mut Emitter, v: ValueId| -> Result<ValueId> {
        if reverse {
            em.slice(v, ax, -1, i64::MIN, -1)
        } else {
            Ok(v)
        }
    };
    // Shifts `v` by `k` along the axis toward higher indices, filling with zeros.
    let shift = |em: &mut Emitter, v: ValueId, k: i64| -> Result<ValueId> {
        let kept = em.slice(v, ax, 0, n - k, 1)?;
        let mut pads = vec![0i64; 2 * rank];
        pads[ax] = k;
        em.pad(kept, &pads, None)
    };
    let mut y = flip(em, x)?;
    if exclusive && n > 0 {
        y = shift(em, y, 1)?;
    }
    let mut k = 1;
    while k < n {
        let s = shift(em, y, k)?;
        y = em.bin(B::Add, y, s)?;
        k *= 2;
    }
    Ok(Some(vec![flip(em, y)?]))
}
