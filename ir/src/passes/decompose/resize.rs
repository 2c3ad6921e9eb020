//! Decomposition of Resize with constant scales or sizes: separable per resized axis, each
//! axis a sum of Gathers (constant source indices) times constant weights, with the
//! extrapolated rows of tf_crop_and_resize selected to the extrapolation value.
//!
//! The per-axis index and weight tables come from the reference interpreter itself, probed
//! with one-hot inputs along that axis, so every coordinate transformation, nearest mode,
//! cubic coefficient and antialias filter is reproduced by construction.

use super::emit::{Emitter, int_tensor, tensor_of};
use super::operand;
use crate::attr::KeepAspectRatio;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{TensorType, ValueId};
use crate::op::{BinaryOp as B, Op};
use crate::shape::normalize_axis;
use crate::tensor::Tensor;

/// The largest `in * out` table probed per axis.
const MAX_TABLE: usize = 1 << 22;

/// One output row of an axis: its source taps `(index, weight)`, or `None` when extrapolated.
type Row = Option<Vec<(usize, f64)>>;

/// Rewrites Resize when its scales/sizes (and roi) are constants and its shapes static.
pub(super) fn rewrite(
    em: &mut Emitter,
    op: &Op,
    ins: &[Option<ValueId>],
    tys: &[TensorType],
) -> Result<Option<Vec<ValueId>>> {
    let Op::Resize {
        axes,
        keep_aspect_ratio_policy,
        extrapolation_value,
        ..
    } = op
    else {
        return Ok(None);
    };
    let x = operand(em, ins, 0)?;
    let (Some(xd), Some(yd)) = (em.dims(x), tys.first().and_then(|t| t.shape.as_static())) else {
        return Ok(None);
    };
    let consts: Option<Vec<Option<Tensor>>> = ins
        .iter()
        .skip(1)
        .map(|i| match i {
            None => Some(None),
            Some(v) => em.g.constant_of(*v).cloned().map(Some),
        })
        .collect();
    let Some(consts) = consts else {
        return Ok(None);
    };
    let by_sizes = consts.get(2).is_some_and(Option::is_some);
    if by_sizes && *keep_aspect_ratio_policy != KeepAspectRatio::Stretch {
        return Ok(None);
    }
    let rank = xd.len();
    let resized: Option<Vec<usize>> = if axes.is_empty() {
        Some((0..rank).collect())
    } else {
        axes.iter().map(|&a| normalize_axis(a, rank)).collect()
    };
    let Some(resized) = resized else {
        return Ok(None);
    };
    let dtype = em.dtype(x);
    let mut y = x;
    for (k, &a) in resized.iter().enumerate() {
        let (n, m) = (xd[a], yd[a]);
        if n == 0 || m == 0 || n.saturating_mul(m) > MAX_TABLE {
            if n == m {
                continue;
            }
            return Ok(None);
        }
        let rows = probe(em, op, &consts, (k, resized.len()), a, rank, n, m)?;
        let identity = n == m
            && rows
                .iter()
                .enumerate()
                .all(|(o, r)| r.as_deref() == Some(&[(o, 1.0)][..]));
        if identity {
            continue;
        }
        let Some(next) = resample_axis(em, y, a, &rows, f64::from(*extrapolation_value), dtype)?
        else {
            return Ok(None);
        };
        y = next;
    }
    Ok(Some(vec![y]))
}

/// The taps of every output row of axis `a` (extent `n` -> `m`): the op evaluated on one-hot
/// f64 inputs of shape `[1, .., n, .., 1]`, with scales 1 (or sizes 1) on the other resized
/// axes and NaN as the extrapolation value, which marks the extrapolated rows.
#[allow(clippy::too_many_arguments)]
fn probe(
    em: &Emitter,
    op: &Op,
    consts: &[Option<Tensor>],
    (k, count): (usize, usize),
    a: usize,
    rank: usize,
    n: usize,
    m: usize,
) -> Result<Vec<Row>> {
    let mut probe_op = op.clone();
    if let Op::Resize {
        extrapolation_value,
        ..
    } = &mut probe_op
    {
        *extrapolation_value = f32::NAN;
    }
    // Scales (input 2) or sizes (input 3) for the probe: 1 on every other resized axis.
    let mut operands: Vec<Option<Tensor>> = consts.to_vec();
    if let Some(Some(s)) = operands.get(1) {
        let v: Vec<f64> = (0..count)
            .map(|i| if i == k { s.get_f64(i) } else { 1.0 })
            .collect();
        operands[1] = Some(tensor_of(s.dtype(), &[count], v));
    }
    if operands.get(2).is_some_and(Option::is_some) {
        let v: Vec<i128> = (0..count)
            .map(|i| if i == k { m as i128 } else { 1 })
            .collect();
        operands[2] = Some(int_tensor(DType::I64, &[count], v));
    }
    let mut shape = vec![1usize; rank];
    shape[a] = n;
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(n);
    for j in 0..n {
        let hot = tensor_of(
            DType::F64,
            &shape,
            (0..n).map(|i| f64::from(i == j)).collect(),
        );
        let mut args: Vec<Option<&Tensor>> = vec![Some(&hot)];
        args.extend(operands.iter().map(Option::as_ref));
        let out = crate::interp::eval_op(&probe_op, &em.at, &args, 1)?;
        let Some(t) = out.first().filter(|t| t.len() == m) else {
            return Err(em.internal("resize probe has an unexpected shape"));
        };
        cols.push((0..m).map(|o| t.get_f64(o)).collect());
    }
    Ok((0..m)
        .map(|o| {
            if cols.iter().any(|c| c[o].is_nan()) {
                return None;
            }
            Some(
                (0..n)
                    .filter(|&j| cols[j][o] != 0.0)
                    .map(|j| (j, cols[j][o]))
                    .collect(),
            )
        })
        .collect())
}

/// Resamples axis `a` of `y` by `rows`: a single Gather when every row copies one element
/// (any dtype), else (floats only) `sum_t Gather(y, idx_t) * w_t`, then the extrapolated
/// rows set to `extrapolation`.
fn resample_axis(
    em: &mut Emitter,
    y: ValueId,
    a: usize,
    rows: &[Row],
    extrapolation: f64,
    dtype: DType,
) -> Result<Option<ValueId>> {
    let m = rows.len();
    let rank = em.rank(y);
    let taps = rows
        .iter()
        .map(|r| r.as_ref().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    let copies = rows
        .iter()
        .all(|r| r.as_ref().is_none_or(|t| t.len() == 1 && t[0].1 == 1.0));
    if !copies && !dtype.is_float() {
        return Ok(None);
    }
    let mut col = vec![1usize; rank - a];
    col[0] = m;
    let mut acc: Option<ValueId> = None;
    for t in 0..taps.max(1) {
        let tap = |r: &Row| r.as_ref().and_then(|v| v.get(t).copied());
        let idx: Vec<i128> = rows
            .iter()
            .map(|r| tap(r).map_or(0, |p| p.0 as i128))
            .collect();
        let idx = em.konst(int_tensor(DType::I64, &[m], idx));
        let g = em.op1(Op::Gather { axis: a as i64 }, &[y, idx])?;
        let term = if copies {
            g
        } else {
            let w: Vec<f64> = rows.iter().map(|r| tap(r).map_or(0.0, |p| p.1)).collect();
            let w = em.konst(tensor_of(dtype, &col, w));
            em.bin(B::Mul, g, w)?
        };
        acc = Some(match acc {
            None => term,
            Some(s) => em.bin(B::Add, s, term)?,
        });
    }
    let Some(mut out) = acc else { return Ok(None) };
    if rows.iter().any(Option::is_none) {
        let mask: Vec<i128> = rows.iter().map(|r| i128::from(r.is_none())).collect();
        let mask = em.konst(int_tensor(DType::Bool, &col, mask));
        // Integers take the value as the reference narrows it: rounded half to even, saturated.
        let value = match dtype.int_range() {
            Some((lo, hi)) => extrapolation.round_ties_even().clamp(lo as f64, hi as f64),
            None => extrapolation,
        };
        let e = em.scalar(dtype, value);
        out = em.select(mask, e, out)?;
    }
    Ok(Some(out))
}
