//! Decomposition of the composite movement and indexing operators (Squeeze, Unsqueeze,
//! Flatten, Split, Tile, Pad in edge/reflect/wrap mode, Trilu, GatherND, Dropout) and folding
//! of Shape, Size, Range and ConstantOfShape when their operands are known.

use super::emit::{Emitter, int_tensor};
use super::{const_ints, operand};
use crate::attr::PadMode;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{TensorType, ValueId};
use crate::op::{BinaryOp as B, Op};
use crate::shape::{checked_product, normalize_axis, strides_of};

/// Rewrites `op` when it is one of this family (and its operands allow it).
pub(super) fn rewrite(
    em: &mut Emitter,
    op: &Op,
    ins: &[Option<ValueId>],
    tys: &[TensorType],
) -> Result<Option<Vec<ValueId>>> {
    let out = tys.first().and_then(|t| t.shape.as_static());
    match op {
        Op::Squeeze {} | Op::Unsqueeze {} | Op::Flatten { .. } => {
            let x = operand(em, ins, 0)?;
            match out {
                Some(d) => one(em.reshape(x, &d)),
                None => Ok(None),
            }
        }
        Op::Split { axis, .. } => split(em, operand(em, ins, 0)?, *axis, tys),
        Op::Tile {} => tile(em, ins),
        Op::Pad { mode } if *mode != PadMode::Constant => pad(em, ins, *mode),
        Op::Trilu { upper } => trilu(em, ins, *upper),
        Op::GatherND { batch_dims } => gather_nd(em, ins, *batch_dims),
        Op::Dropout { .. } => dropout(em, ins, tys.len()),
        Op::Shape { start, end } => {
            let x = operand(em, ins, 0)?;
            let Some(d) = em.dims(x) else { return Ok(None) };
            let (s, e) = (
                clamp_dim(*start, d.len()),
                clamp_dim(end.unwrap_or(i64::MAX), d.len()),
            );
            let v: Vec<i128> = d[s..e.max(s)].iter().map(|&x| x as i128).collect();
            Ok(Some(vec![em.konst(int_tensor(DType::I64, &[v.len()], v))]))
        }
        Op::Size {} => {
            let x = operand(em, ins, 0)?;
            match em.dims(x).and_then(|d| checked_product(&d)) {
                Some(n) => Ok(Some(vec![em.konst(int_tensor(
                    DType::I64,
                    &[],
                    vec![n as i128],
                ))])),
                None => Ok(None),
            }
        }
        Op::ConstantOfShape { value } => {
            let Some(d) = out else { return Ok(None) };
            // Small results become constants; large ones a broadcast view of the value.
            if checked_product(&d).is_some_and(|n| n <= crate::passes::SIMPLIFY_MAX_FOLD_ELEMENTS) {
                return fold(em, op, ins);
            }
            let v = em.konst(value.clone());
            let s = em.reshape(v, &[])?;
            one(em.expand(s, &d))
        }
        Op::Range {} => fold(em, op, ins),
        _ => Ok(None),
    }
}

/// One result.
fn one(v: Result<ValueId>) -> Result<Option<Vec<ValueId>>> {
    Ok(Some(vec![v?]))
}

/// A Shape start/end clamped to `0..=rank` (negative counts back).
fn clamp_dim(v: i64, rank: usize) -> usize {
    let r = rank as i128;
    let v = v as i128;
    let v = if v < 0 { v + r } else { v };
    v.clamp(0, r) as usize
}

/// Evaluates a node whose operands are all constants into a constant.
fn fold(em: &mut Emitter, op: &Op, ins: &[Option<ValueId>]) -> Result<Option<Vec<ValueId>>> {
    let mut ts = Vec::with_capacity(ins.len());
    for i in ins {
        match i {
            None => ts.push(None),
            Some(v) => match em.g.constant_of(*v) {
                Some(t) => ts.push(Some(t.clone())),
                None => return Ok(None),
            },
        }
    }
    let refs: Vec<Option<&crate::tensor::Tensor>> = ts.iter().map(|t| t.as_ref()).collect();
    let outs = crate::interp::eval_op(op, &em.at, &refs, 1)?;
    Ok(Some(outs.into_iter().map(|t| em.konst(t)).collect()))
}

/// Split into slices along `axis` of the extents inference gave the outputs.
fn split(
    em: &mut Emitter,
    x: ValueId,
    axis: i64,
    tys: &[TensorType],
) -> Result<Option<Vec<ValueId>>> {
    let Some(ax) = normalize_axis(axis, em.rank(x)) else {
        return Ok(None);
    };
    let Some(outs) = super::static_dims(tys) else {
        return Ok(None);
    };
    let mut start = 0i64;
    let mut vals = Vec::with_capacity(outs.len());
    for d in outs {
        let len = d.get(ax).copied().unwrap_or(0) as i64;
        vals.push(em.slice(x, ax, start, start + len, 1)?);
        start += len;
    }
    Ok(Some(vals))
}

/// Tile: `[d_0, ..]` reshaped to `[1, d_0, 1, d_1, ..]`, expanded to `[r_0, d_0, r_1, d_1, ..]`
/// and merged to `[r_0 d_0, ..]`.
fn tile(em: &mut Emitter, ins: &[Option<ValueId>]) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let (Some(d), Ok(Some(r))) = (em.dims(x), const_ints(em, ins, 1)) else {
        return Ok(None);
    };
    if r.len() != d.len() || r.iter().any(|&v| v < 0) {
        return Ok(None);
    }
    let r: Vec<usize> = r.iter().map(|&v| v as usize).collect();
    let inter: Vec<usize> = d.iter().flat_map(|&n| [1, n]).collect();
    let big: Vec<usize> = d.iter().zip(&r).flat_map(|(&n, &k)| [k, n]).collect();
    let merged: Vec<usize> = d.iter().zip(&r).map(|(&n, &k)| n * k).collect();
    let v = em.reshape(x, &inter)?;
    let v = em.expand(v, &big)?;
    let v = em.reshape(v, &merged)?;
    one(Ok(v))
}

/// Pad in edge, reflect or wrap mode, axis by axis: a Concat of borrowed slices and the data
/// where the pads are non-negative and within one reflection/wrap of the axis (a view), else
/// a Gather with the constant source positions (periodic pads, or one end cropping).
fn pad(em: &mut Emitter, ins: &[Option<ValueId>], mode: PadMode) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let rank = em.rank(x);
    let (Some(dims), Ok(Some(pads))) = (em.dims(x), const_ints(em, ins, 1)) else {
        return Ok(None);
    };
    let axes: Vec<usize> = match const_ints(em, ins, 3) {
        Ok(None) => (0..rank).collect(),
        Ok(Some(a)) => match a.iter().map(|&v| normalize_axis(v, rank)).collect() {
            Some(v) => v,
            None => return Ok(None),
        },
        Err(()) => return Ok(None),
    };
    if pads.len() != 2 * axes.len() {
        return Ok(None);
    }
    let mut y = x;
    for (i, &ax) in axes.iter().enumerate() {
        let (b, e) = (pads[i], pads[i + axes.len()]);
        let d = dims[ax] as i64;
        if (b <= 0 && e <= 0) || d < 1 + i64::from(mode == PadMode::Reflect) {
            if b > 0 || e > 0 {
                // The reference refuses to pad an axis this short.
                return Ok(None);
            }
            if b == 0 && e == 0 {
                continue;
            }
        }
        let view = b >= 0
            && e >= 0
            && match mode {
                PadMode::Reflect => b < d && e < d,
                PadMode::Wrap => b <= d && e <= d,
                _ => true,
            };
        y = if view {
            pad_view(em, y, ax, (b, e), d, mode)?
        } else {
            let Some(n) = usize::try_from(d + b + e).ok().filter(|&n| n <= 1 << 24) else {
                return Ok(None);
            };
            let idx: Vec<i128> = (0..n as i64).map(|o| pad_source(mode, o - b, d)).collect();
            let idx = em.konst(int_tensor(DType::I64, &[n], idx));
            em.op1(Op::Gather { axis: ax as i64 }, &[y, idx])?
        };
    }
    one(Ok(y))
}

/// The source position along an axis of extent `d` (>= 1, >= 2 for reflect) for padded
/// position `s` (relative to the data's start).
fn pad_source(mode: PadMode, s: i64, d: i64) -> i128 {
    if (0..d).contains(&s) {
        return s.into();
    }
    let v = match mode {
        PadMode::Edge => s.clamp(0, d - 1),
        PadMode::Reflect => {
            let period = 2 * (d - 1);
            let m = s.rem_euclid(period);
            if m >= d { period - m } else { m }
        }
        _ => s.rem_euclid(d),
    };
    v.into()
}

/// Pads axis `ax` (extent `d`) by `(b, e)` with slices of the data and a Concat.
fn pad_view(
    em: &mut Emitter,
    y: ValueId,
    ax: usize,
    (b, e): (i64, i64),
    d: i64,
    mode: PadMode,
) -> Result<ValueId> {
    let mut parts = Vec::new();
    if b > 0 {
        parts.push(match mode {
            PadMode::Edge => {
                let s = em.slice(y, ax, 0, 1, 1)?;
                broadcast_axis(em, s, ax, b as usize)?
            }
            PadMode::Reflect => em.slice(y, ax, b, 0, -1)?,
            _ => em.slice(y, ax, d - b, d, 1)?,
        });
    }
    parts.push(y);
    if e > 0 {
        parts.push(match mode {
            PadMode::Edge => {
                let s = em.slice(y, ax, d - 1, d, 1)?;
                broadcast_axis(em, s, ax, e as usize)?
            }
            PadMode::Reflect => {
                let end = d - 2 - e;
                em.slice(y, ax, d - 2, if end < 0 { i64::MIN } else { end }, -1)?
            }
            _ => em.slice(y, ax, 0, e, 1)?,
        });
    }
    em.concat(&parts, ax)
}

/// Expands a value whose axis `ax` has extent 1 to extent `n` on that axis.
fn broadcast_axis(em: &mut Emitter, v: ValueId, ax: usize, n: usize) -> Result<ValueId> {
    let mut d = em.dims(v).unwrap_or_default();
    if let Some(x) = d.get_mut(ax) {
        *x = n;
    }
    em.expand(v, &d)
}

/// Trilu: a select against a constant `[rows, cols]` mask of the kept triangle.
fn trilu(em: &mut Emitter, ins: &[Option<ValueId>], upper: bool) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let (Some(d), Ok(k)) = (em.dims(x), const_ints(em, ins, 1)) else {
        return Ok(None);
    };
    let k = match k.as_deref() {
        None => 0i128,
        Some([k]) => *k as i128,
        Some(_) => return Ok(None),
    };
    let [.., rows, cols] = d[..] else {
        return Ok(None);
    };
    let mask: Vec<i128> = (0..rows * cols)
        .map(|f| {
            let (i, j) = ((f / cols.max(1)) as i128, (f % cols.max(1)) as i128);
            i128::from(if upper { j - i >= k } else { j - i <= k })
        })
        .collect();
    let m = em.konst(int_tensor(DType::Bool, &[rows, cols], mask));
    let zero = em.scalar(em.dtype(x), 0.0);
    one(em.select(m, x, zero))
}

/// GatherND: the index tuples become flat indices into the data reshaped to
/// `[prod(batch) * prod(indexed dims), rest...]` (negative indices count back), then Gather.
fn gather_nd(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    batch_dims: i64,
) -> Result<Option<Vec<ValueId>>> {
    let data = operand(em, ins, 0)?;
    let indices = operand(em, ins, 1)?;
    let (Some(dd), Some(id)) = (em.dims(data), em.dims(indices)) else {
        return Ok(None);
    };
    let b = batch_dims.max(0) as usize;
    let Some((&k, lead)) = id.split_last() else {
        return Ok(None);
    };
    if b + k > dd.len() || lead.len() < b {
        return Ok(None);
    }
    let inner = &dd[b..b + k];
    let (Some(pb), Some(pi)) = (checked_product(&dd[..b]), checked_product(inner)) else {
        return Ok(None);
    };
    let mut flat_dims = vec![pb * pi];
    flat_dims.extend(&dd[b + k..]);
    let flat = em.reshape(data, &flat_dims)?;
    let idx = em.cast(indices, DType::I64)?;
    let st = strides_of(inner);
    let q = id.len();
    // Batch offsets, shaped [B..., 1...] over the index grid.
    let mut boff_dims = dd[..b].to_vec();
    boff_dims.extend(std::iter::repeat_n(1, lead.len() - b));
    let boff = em.konst(int_tensor(
        DType::I64,
        &boff_dims,
        (0..pb as i128).map(|v| v * pi as i128).collect(),
    ));
    let mut lin = em.expand(boff, lead)?;
    for (j, (&dj, &sj)) in inner.iter().zip(&st).enumerate() {
        let c = em.slice(idx, q - 1, j as i64, j as i64 + 1, 1)?;
        let c = em.reshape(c, lead)?;
        let neg = em.bin_c(B::Less, c, 0.0)?;
        let wrapped = em.bin_c(B::Add, c, dj as f64)?;
        let c = em.select(neg, wrapped, c)?;
        let c = em.bin_c(B::Mul, c, sj as f64)?;
        lin = em.bin(B::Add, lin, c)?;
    }
    one(em.op1(Op::Gather { axis: 0 }, &[flat, lin]))
}

/// Dropout in inference (no `training_mode`, or a constant false one): the identity, with an
/// all-true mask.
fn dropout(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    outputs: usize,
) -> Result<Option<Vec<ValueId>>> {
    let x = operand(em, ins, 0)?;
    let training = match ins.get(2).copied().flatten() {
        None => false,
        Some(t) => match em.g.constant_of(t) {
            Some(t) if t.len() == 1 => t.get_i128(0) != Some(0),
            _ => return Ok(None),
        },
    };
    if training {
        return Ok(None);
    }
    let mut outs = vec![x];
    if outputs > 1 {
        let Some(d) = em.dims(x) else { return Ok(None) };
        let t = em.konst(int_tensor(DType::Bool, &[], vec![1]));
        outs.push(em.expand(t, &d)?);
    }
    Ok(Some(outs))
}
