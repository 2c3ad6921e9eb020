//! Inference for data movement and shape operators: reshape-like ops, slicing, gathers and
//! scatters, padding, tiling, shape queries, generators, `Resize`, `Dropout` and `NonZero`.

use super::nn::operand_axes;
use super::{ANY, BOOL, Ctx, FLOAT, I64, INDEX, dims_compatible, merge_dim, ty};
use crate::attr::KeepAspectRatio;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::TensorType;
use crate::op::Op;
use crate::shape::{Dim, Shape};

/// Output types of a movement / shape `op` (every op the other families do not handle).
pub(super) fn infer(cx: &Ctx<'_, '_>, op: &Op) -> Result<Vec<TensorType>> {
    match op {
        Op::Reshape { allowzero } => reshape(cx, *allowzero),
        Op::Transpose { perm } => transpose(cx, perm),
        Op::Expand {} => expand(cx),
        Op::Squeeze {} => squeeze(cx),
        Op::Unsqueeze {} => unsqueeze(cx),
        Op::Flatten { axis } => flatten(cx, *axis),
        Op::Concat { axis } => concat(cx, *axis),
        Op::Split { axis, num_outputs } => split(cx, *axis, *num_outputs),
        Op::Slice {} => slice(cx),
        Op::Gather { axis } => gather(cx, *axis),
        Op::GatherElements { axis } => gather_elements(cx, *axis),
        Op::GatherND { batch_dims } => gather_nd(cx, *batch_dims),
        Op::ScatterND { .. } => scatter_nd(cx),
        Op::ScatterElements { axis, .. } => scatter_elements(cx, *axis),
        Op::Pad { .. } => pad(cx),
        Op::Tile {} => tile(cx),
        Op::Shape { start, end } => shape_op(cx, *start, *end),
        Op::Size {} => {
            cx.simple(1, 1)?;
            cx.input(0)?;
            Ok(vec![ty(DType::I64, Shape::scalar())])
        }
        Op::Range {} => range(cx),
        Op::ConstantOfShape { value } => constant_of_shape(cx, value),
        Op::Trilu { .. } => trilu(cx),
        Op::Resize {
            axes,
            keep_aspect_ratio_policy,
            ..
        } => resize(cx, axes, *keep_aspect_ratio_policy),
        Op::Dropout { .. } => dropout(cx),
        Op::NonZero {} => non_zero(cx),
        Op::AsStrided {
            shape,
            strides,
            offset,
        } => as_strided(cx, shape, strides, *offset),
        _ => Err(cx.shape_err("no shape inference rule for this operator")),
    }
}

/// Reads a 1-D i64 shape-like operand `i`: `Ok(Err(len))` when its value is unknown (with its
/// static length, if any).
fn shape_operand(
    cx: &Ctx<'_, '_>,
    i: usize,
    what: &str,
) -> Result<std::result::Result<Vec<i64>, Option<usize>>> {
    cx.dtype(i, I64)?;
    let len = cx.vector_len(i, what)?;
    Ok(cx.const_ints(i)?.ok_or(len))
}

/// A non-negative extent from an operand value.
fn extent(cx: &Ctx<'_, '_>, v: i64, what: &str) -> Result<Dim> {
    usize::try_from(v)
        .map(Dim::Static)
        .map_err(|_| cx.shape_err(format!("{what} {v} must not be negative")))
}

/// Product of dims, symbolic (named for output 0 axis `axis`) unless all static or one is 0.
fn product(cx: &Ctx<'_, '_>, dims: &[Dim], axis: usize) -> Result<Dim> {
    if dims.iter().any(|d| d.as_static() == Some(0)) {
        return Ok(Dim::Static(0));
    }
    let mut p: usize = 1;
    for d in dims {
        let Some(v) = d.as_static() else {
            return Ok(cx.sym(0, axis));
        };
        p = p
            .checked_mul(v)
            .ok_or_else(|| cx.shape_err("element count overflows"))?;
    }
    Ok(Dim::Static(p))
}

fn reshape(cx: &Ctx<'_, '_>, allowzero: bool) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let target = match shape_operand(cx, 1, "shape")? {
        Ok(v) => v,
        Err(Some(n)) => return Ok(vec![ty(d, cx.sym_shape(0, n))]),
        Err(None) => return Err(cx.non_const(1, "shape")),
    };
    let mut dims = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        dims.push(match t {
            0 if !allowzero => x.0.get(i).cloned().ok_or_else(|| {
                cx.shape_err(format!(
                    "shape {target:?}: 0 at position {i} copies a dim the input does not have"
                ))
            })?,
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                Dim::Static(1)
            }
            _ => extent(cx, t, "target dim")?,
        });
    }
    if allowzero && infer_at.is_some() && target.contains(&0) {
        return Err(cx.shape_err(format!(
            "shape {target:?}: -1 and 0 cannot be combined with allowzero"
        )));
    }
    let total = product(cx, &x.0, 0)?;
    let known = product(cx, &dims, 0)?;
    match (infer_at, total.as_static(), known.as_static()) {
        (Some(i), Some(t), Some(k)) => {
            if k == 0 || t % k != 0 {
                return Err(
                    cx.shape_err(format!("cannot reshape {x} ({t} elements) to {target:?}"))
                );
            }
            dims[i] = Dim::Static(t / k);
        }
        (Some(i), _, _) => dims[i] = cx.sym(0, i),
        (None, Some(t), Some(k)) if t != k => {
            return Err(cx.shape_err(format!(
                "cannot reshape {x} ({t} elements) to {target:?} ({k} elements)"
            )));
        }
        (None, _, _) => {}
    }
    Ok(vec![ty(d, Shape(dims))])
}

fn transpose(cx: &Ctx<'_, '_>, perm: &[i64]) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let r = x.rank();
    if perm.is_empty() {
        return Ok(vec![ty(d, Shape(x.0.iter().rev().cloned().collect()))]);
    }
    let mut seen = vec![false; r];
    let mut dims = Vec::with_capacity(r);
    for &p in perm {
        let a = usize::try_from(p).ok().filter(|&a| a < r && !seen[a]);
        let Some(a) = a.filter(|_| perm.len() == r) else {
            return Err(cx.attr_err("perm", format!("{perm:?} is not a permutation of 0..{r}")));
        };
        seen[a] = true;
        dims.push(x.0[a].clone());
    }
    Ok(vec![ty(d, Shape(dims))])
}

fn expand(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let target = match shape_operand(cx, 1, "shape")? {
        Ok(v) => Shape(
            v.iter()
                .map(|&t| extent(cx, t, "shape entry"))
                .collect::<Result<_>>()?,
        ),
        Err(Some(n)) => {
            // Unknown target: a dim is the input's when it is static and not 1.
            let rank = n.max(x.rank());
            let dims = (0..rank)
                .map(
                    |i| match (i + x.rank()).checked_sub(rank).map(|k| &x.0[k]) {
                        Some(Dim::Static(v)) if *v != 1 => Dim::Static(*v),
                        _ => cx.sym(0, i),
                    },
                )
                .collect();
            return Ok(vec![ty(d, Shape(dims))]);
        }
        Err(None) => return Err(cx.non_const(1, "shape")),
    };
    Ok(vec![ty(d, cx.broadcast(&[x, &target], 0)?)])
}

fn squeeze(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(1, 2)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let axes = if cx.opt(1).is_some() {
        match shape_operand(cx, 1, "axes")? {
            Ok(v) => Some(operand_axes(cx, 1, &v, x.rank())?),
            Err(Some(n)) if n <= x.rank() => {
                return Ok(vec![ty(d, cx.sym_shape(0, x.rank() - n))]);
            }
            Err(_) => return Err(cx.non_const(1, "axes")),
        }
    } else {
        None
    };
    let mut dims = Vec::new();
    for (i, dim) in x.0.iter().enumerate() {
        let listed = axes.as_ref().is_none_or(|a| a.contains(&i));
        match (listed, dim) {
            (false, _) => dims.push(dim.clone()),
            (true, Dim::Static(1)) => {}
            (true, Dim::Static(_)) if axes.is_none() => dims.push(dim.clone()),
            (true, Dim::Static(v)) => {
                return Err(cx.shape_err(format!("cannot squeeze axis {i} of extent {v}")));
            }
            (true, Dim::Symbolic(_)) if axes.is_none() => {
                return Err(cx.non_const(1, "axes"));
            }
            (true, Dim::Symbolic(_)) => {}
        }
    }
    Ok(vec![ty(d, Shape(dims))])
}

fn unsqueeze(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let v = match shape_operand(cx, 1, "axes")? {
        Ok(v) => v,
        Err(_) => return Err(cx.non_const(1, "axes")),
    };
    let rank = x.rank() + v.len();
    let axes = operand_axes(cx, 1, &v, rank)?;
    let mut rest = x.0.iter();
    let dims = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                Dim::Static(1)
            } else {
                rest.next().cloned().unwrap_or(Dim::Static(1))
            }
        })
        .collect();
    Ok(vec![ty(d, Shape(dims))])
}

fn flatten(cx: &Ctx<'_, '_>, axis: i64) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let r = x.rank() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&a) {
        return Err(cx.attr_err(
            "axis",
            format!(
                "{axis} is out of range for rank {r} (allowed {} to {r})",
                -r
            ),
        ));
    }
    let a = a as usize;
    let outer = product(cx, &x.0[..a], 0)?;
    let inner = product(cx, &x.0[a..], 1)?;
    let inner = match inner {
        Dim::Symbolic(_) => cx.sym(0, 1),
        s => s,
    };
    Ok(vec![ty(d, Shape(vec![outer, inner]))])
}

fn concat(cx: &Ctx<'_, '_>, axis: i64) -> Result<Vec<TensorType>> {
    cx.simple(1, usize::MAX)?;
    let d = cx.dtype(0, ANY)?;
    let first = cx.shape(0)?;
    let a = cx.axis("axis", axis, first.rank())?;
    let mut dims = first.0.clone();
    let mut sum = Some(0usize);
    for i in 0..cx.inputs.len() {
        cx.same_dtype(i, 0)?;
        let s = cx.shape(i)?;
        let fits = s.rank() == first.rank()
            && s.0
                .iter()
                .zip(&dims)
                .enumerate()
                .all(|(k, (p, q))| k == a || dims_compatible(p, q));
        if !fits {
            return Err(cx.shape_err(format!(
                "input {i} {s} does not match input 0 {first} outside axis {a}"
            )));
        }
        for (k, dim) in s.0.iter().enumerate() {
            if k != a {
                dims[k] = merge_dim(&dims[k], dim);
            }
        }
        sum = sum
            .zip(s.0[a].as_static())
            .and_then(|(x, y)| x.checked_add(y));
    }
    dims[a] = sum.map_or_else(|| cx.sym(0, a), Dim::Static);
    Ok(vec![ty(d, Shape(dims))])
}

fn split(cx: &Ctx<'_, '_>, axis: i64, num_outputs: Option<i64>) -> Result<Vec<TensorType>> {
    cx.arity(1, 2)?;
    cx.outputs(1, usize::MAX)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let a = cx.axis("axis", axis, x.rank())?;
    let n = cx.num_outputs;
    if let Some(k) = num_outputs {
        if cx.opt(1).is_some() {
            return Err(cx.attr_err("num_outputs", "cannot be combined with the split input"));
        }
        if k < 1 || k as u64 != n as u64 {
            return Err(cx.attr_err(
                "num_outputs",
                format!("{k} must equal the node's output count {n}"),
            ));
        }
    }
    let sizes: Vec<Dim> = if cx.opt(1).is_some() {
        match shape_operand(cx, 1, "split")? {
            Ok(v) => {
                if v.len() != n {
                    return Err(cx.shape_err(format!(
                        "split {v:?} has {} entries for {n} outputs",
                        v.len()
                    )));
                }
                let sizes = v
                    .iter()
                    .map(|&s| extent(cx, s, "split size"))
                    .collect::<Result<Vec<_>>>()?;
                let total: i128 = v.iter().map(|&s| s as i128).sum();
                if x.0[a].as_static().is_some_and(|e| e as i128 != total) {
                    return Err(cx.shape_err(format!(
                        "split {v:?} sums to {total}, axis {a} has extent {}",
                        x.0[a]
                    )));
                }
                sizes
            }
            Err(_) => (0..n).map(|i| cx.sym(i, a)).collect(),
        }
    } else {
        match x.0[a].as_static() {
            None => (0..n).map(|i| cx.sym(i, a)).collect(),
            Some(e) => even_split(cx, e, n, num_outputs.is_some())?,
        }
    };
    Ok(sizes
        .into_iter()
        .map(|s| {
            let mut shape = x.clone();
            shape.0[a] = s;
            ty(d, shape)
        })
        .collect())
}

/// Sizes of an unspecified split of `e` into `n` parts: equal parts, or (with `num_outputs`)
/// parts of `ceil(e / n)` with a smaller last one.
fn even_split(cx: &Ctx<'_, '_>, e: usize, n: usize, ceil: bool) -> Result<Vec<Dim>> {
    if e.is_multiple_of(n) {
        return Ok(vec![Dim::Static(e / n); n]);
    }
    let part = e / n + 1;
    match e.checked_sub(part * (n - 1)) {
        Some(last) if ceil => {
            let mut v = vec![Dim::Static(part); n];
            v[n - 1] = Dim::Static(last);
            Ok(v)
        }
        _ => Err(cx.shape_err(format!("extent {e} cannot be split into {n} parts"))),
    }
}

/// ONNX Slice extent of one axis of extent `d`.
fn slice_len(start: i64, end: i64, step: i64, d: usize) -> usize {
    if d == 0 {
        return 0;
    }
    let d = d as i128;
    let (mut s, mut e, st) = (start as i128, end as i128, step as i128);
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    if st > 0 {
        s = s.clamp(0, d);
        e = e.clamp(0, d);
    } else {
        s = s.clamp(0, d - 1);
        e = e.clamp(-1, d - 1);
    }
    ceil_div(e - s, st).max(0) as usize
}

/// `ceil(a / b)` for `b != 0`.
fn ceil_div(a: i128, b: i128) -> i128 {
    // `div_euclid` rounds toward -inf for b > 0 and toward +inf for b < 0.
    if b > 0 {
        (a + b - 1).div_euclid(b)
    } else {
        a.div_euclid(b)
    }
}

fn slice(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(3, 5)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let r = x.rank();
    cx.dtype(1, INDEX)?;
    for i in 2..5 {
        cx.opt_dtype(i, INDEX)?;
        cx.same_dtype(i, 1)?;
    }
    let mut lens = Vec::new();
    for (i, what) in [(1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")] {
        if cx.opt(i).is_some() {
            lens.push((i, cx.vector_len(i, what)?));
        }
    }
    if let Some(w) = lens
        .windows(2)
        .find(|w| matches!((w[0].1, w[1].1), (Some(p), Some(q)) if p != q))
    {
        return Err(cx.shape_err(format!(
            "inputs {} and {} must have the same length",
            w[0].0, w[1].0
        )));
    }
    let axes = match (cx.opt(3).is_some(), cx.const_ints(3)?) {
        (false, _) => None,
        (true, Some(v)) => Some(operand_axes(cx, 3, &v, r)?),
        (true, None) => return Ok(vec![ty(d, cx.sym_shape(0, r))]),
    };
    let (starts, ends) = match (cx.const_ints(1)?, cx.const_ints(2)?) {
        (Some(s), Some(e)) => (s, e),
        _ => {
            let mut dims = x.0.clone();
            for (k, dim) in dims.iter_mut().enumerate() {
                if axes.as_ref().is_none_or(|a| a.contains(&k)) {
                    *dim = cx.sym(0, k);
                }
            }
            return Ok(vec![ty(d, Shape(dims))]);
        }
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len()).collect());
    if axes.len() > r {
        return Err(cx.shape_err(format!("{} axes sliced for rank {r}", axes.len())));
    }
    let steps = match (cx.opt(4).is_some(), cx.const_ints(4)?) {
        (false, _) => vec![1; starts.len()],
        (true, Some(v)) => v,
        (true, None) => {
            let mut dims = x.0.clone();
            for &a in &axes {
                dims[a] = cx.sym(0, a);
            }
            return Ok(vec![ty(d, Shape(dims))]);
        }
    };
    let mut dims = x.0.clone();
    for (k, &a) in axes.iter().enumerate() {
        let (Some(&s), Some(&e), Some(&st)) = (starts.get(k), ends.get(k), steps.get(k)) else {
            return Err(cx.shape_err("starts, ends, axes and steps must have equal lengths"));
        };
        if st == 0 {
            return Err(cx.shape_err(format!("step for axis {a} is 0")));
        }
        dims[a] = match x.0[a].as_static() {
            Some(ext) => Dim::Static(slice_len(s, e, st, ext)),
            None => cx.sym(0, a),
        };
    }
    Ok(vec![ty(d, Shape(dims))])
}

fn gather(cx: &Ctx<'_, '_>, axis: i64) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, ANY)?;
    cx.dtype(1, INDEX)?;
    let (x, idx) = (cx.shape(0)?, cx.shape(1)?);
    let a = cx.axis("axis", axis, x.rank())?;
    if let (Some(v), Some(e)) = (cx.const_ints(1)?, x.0[a].as_static()) {
        let e = e as i128;
        if let Some(bad) = v.iter().find(|&&i| !(-e..e).contains(&(i as i128))) {
            return Err(cx.shape_err(format!(
                "index {bad} is out of range for axis {a} of extent {e}"
            )));
        }
    }
    let mut dims = x.0[..a].to_vec();
    dims.extend(idx.0.iter().cloned());
    dims.extend(x.0[a + 1..].iter().cloned());
    Ok(vec![ty(d, Shape(dims))])
}

fn gather_elements(cx: &Ctx<'_, '_>, axis: i64) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, ANY)?;
    cx.dtype(1, INDEX)?;
    let (x, idx) = (cx.shape(0)?, cx.shape(1)?);
    cx.axis("axis", axis, x.rank())?;
    if idx.rank() != x.rank() {
        return Err(cx.shape_err("indices must have the rank of data"));
    }
    Ok(vec![ty(d, idx.clone())])
}

/// The static last dim of an index-tuple operand (GatherND / ScatterND).
fn tuple_len(cx: &Ctx<'_, '_>, idx: &Shape) -> Result<usize> {
    idx.0
        .last()
        .ok_or_else(|| cx.shape_err("indices must have rank at least 1"))?
        .as_static()
        .ok_or_else(|| cx.shape_err("the last dim of indices must be static"))
}

fn gather_nd(cx: &Ctx<'_, '_>, batch_dims: i64) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, ANY)?;
    cx.dtype(1, I64)?;
    let (x, idx) = (cx.shape(0)?, cx.shape(1)?);
    let (r, q) = (x.rank(), idx.rank());
    let b = usize::try_from(batch_dims)
        .ok()
        .filter(|&b| b < r.min(q))
        .ok_or_else(|| {
            cx.attr_err(
                "batch_dims",
                format!(
                    "{batch_dims} must be in 0..min(rank(data), rank(indices)) = 0..{}",
                    r.min(q)
                ),
            )
        })?;
    let k = tuple_len(cx, idx)?;
    if b + k > r || (0..b).any(|i| !dims_compatible(&x.0[i], &idx.0[i])) {
        return Err(cx.shape_err(format!(
            "index tuples of length {k} with {b} batch dims do not fit data {x}"
        )));
    }
    let mut dims = idx.0[..q - 1].to_vec();
    dims.extend(x.0[b + k..].iter().cloned());
    Ok(vec![ty(d, Shape(dims))])
}

fn scatter_nd(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(3, 3)?;
    let d = cx.dtype(0, ANY)?;
    cx.dtype(1, I64)?;
    cx.same_dtype(2, 0)?;
    let (x, idx, upd) = (cx.shape(0)?, cx.shape(1)?, cx.shape(2)?);
    let k = tuple_len(cx, idx)?;
    if k > x.rank() {
        return Err(cx.shape_err(format!(
            "index tuples of length {k} exceed the rank of data"
        )));
    }
    let mut want = idx.0[..idx.rank() - 1].to_vec();
    want.extend(x.0[k..].iter().cloned());
    let want = Shape(want);
    if upd.rank() != want.rank()
        || upd
            .0
            .iter()
            .zip(&want.0)
            .any(|(p, q)| !dims_compatible(p, q))
    {
        return Err(cx.shape_err(format!("updates must have shape {want}")));
    }
    Ok(vec![ty(d, x.clone())])
}

fn scatter_elements(cx: &Ctx<'_, '_>, axis: i64) -> Result<Vec<TensorType>> {
    cx.simple(3, 3)?;
    let d = cx.dtype(0, ANY)?;
    cx.dtype(1, INDEX)?;
    cx.same_dtype(2, 0)?;
    let (x, idx, upd) = (cx.shape(0)?, cx.shape(1)?, cx.shape(2)?);
    cx.axis("axis", axis, x.rank())?;
    let same =
        idx.rank() == upd.rank() && idx.0.iter().zip(&upd.0).all(|(p, q)| dims_compatible(p, q));
    if idx.rank() != x.rank() || !same {
        return Err(cx.shape_err("indices and updates must have one shape, of the rank of data"));
    }
    Ok(vec![ty(d, x.clone())])
}

fn pad(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(2, 4)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let r = x.rank();
    if cx.opt(2).is_some() {
        cx.same_dtype(2, 0)?;
        cx.scalar_like(2, "constant_value")?;
    }
    let axes = if cx.opt(3).is_some() {
        cx.dtype(3, INDEX)?;
        cx.vector_len(3, "axes")?;
        match cx.const_ints(3)? {
            Some(v) => Some(operand_axes(cx, 3, &v, r)?),
            None => None,
        }
    } else {
        Some((0..r).collect())
    };
    let pads = match shape_operand(cx, 1, "pads")? {
        Ok(p) => p,
        Err(_) => {
            // Unknown pads: every padded axis (all of them when axes are unknown) is symbolic.
            let mut dims = x.0.clone();
            for (k, dim) in dims.iter_mut().enumerate() {
                if axes.as_ref().is_none_or(|a| a.contains(&k)) {
                    *dim = cx.sym(0, k);
                }
            }
            return Ok(vec![ty(d, Shape(dims))]);
        }
    };
    let Some(axes) = axes else {
        return Ok(vec![ty(d, cx.sym_shape(0, r))]);
    };
    if pads.len() != 2 * axes.len() {
        return Err(cx.shape_err(format!(
            "pads {pads:?} must have {} entries (2 per padded axis)",
            2 * axes.len()
        )));
    }
    let mut dims = x.0.clone();
    for (k, &a) in axes.iter().enumerate() {
        let Some(e) = x.0[a].as_static() else {
            dims[a] = cx.sym(0, a);
            continue;
        };
        let size = e as i128 + pads[k] as i128 + pads[k + axes.len()] as i128;
        dims[a] =
            Dim::Static(usize::try_from(size).map_err(|_| {
                cx.shape_err(format!("pads {pads:?} make axis {a} negative ({size})"))
            })?);
    }
    Ok(vec![ty(d, Shape(dims))])
}

fn tile(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let reps = shape_operand(cx, 1, "repeats")?;
    let len = match &reps {
        Ok(v) => Some(v.len()),
        Err(n) => *n,
    };
    if len.is_some_and(|n| n != x.rank()) {
        return Err(cx.shape_err(format!("repeats must have {} entries", x.rank())));
    }
    let Ok(reps) = reps else {
        return Ok(vec![ty(d, cx.sym_shape(0, x.rank()))]);
    };
    let mut dims = Vec::with_capacity(x.rank());
    for (k, (dim, &rep)) in x.0.iter().zip(&reps).enumerate() {
        let Dim::Static(rep) = extent(cx, rep, "repeat")? else {
            continue;
        };
        dims.push(match dim.as_static() {
            Some(e) => Dim::Static(
                e.checked_mul(rep)
                    .ok_or_else(|| cx.shape_err("tiled extent overflows"))?,
            ),
            None if rep == 1 => dim.clone(),
            None => cx.sym(0, k),
        });
    }
    Ok(vec![ty(d, Shape(dims))])
}

fn shape_op(cx: &Ctx<'_, '_>, start: i64, end: Option<i64>) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let r = cx.shape(0)?.rank() as i64;
    let clamp = |v: i64| if v < 0 { v + r } else { v }.clamp(0, r);
    let (s, e) = (clamp(start), clamp(end.unwrap_or(r)));
    Ok(vec![ty(DType::I64, Shape::new(&[(e - s).max(0) as usize]))])
}

fn range(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(3, 3)?;
    let class = super::Class::standard(
        |d| d.is_float() || d.is_signed_int(),
        "a float or signed integer dtype",
    );
    let d = cx.dtype(0, class)?;
    for (i, what) in [(0, "start"), (1, "limit"), (2, "delta")] {
        cx.same_dtype(i, 0)?;
        cx.scalar_like(i, what)?;
    }
    let vals: Option<Vec<&crate::tensor::Tensor>> = (0..3)
        .map(|i| cx.opt(i).and_then(|o| o.value).filter(|t| t.len() == 1))
        .collect();
    let Some(v) = vals else {
        return Ok(vec![ty(d, cx.sym_shape(0, 1))]);
    };
    let n = if d.is_float() {
        let (s, l, dl) = (v[0].get_f64(0), v[1].get_f64(0), v[2].get_f64(0));
        if dl == 0.0 || !(s.is_finite() && l.is_finite() && dl.is_finite()) {
            return Err(cx.shape_err("start, limit and delta must be finite, delta non-zero"));
        }
        let n = ((l - s) / dl).ceil().max(0.0);
        if n >= usize::MAX as f64 {
            return Err(cx.shape_err("range is too long"));
        }
        n as usize
    } else {
        let get = |t: &crate::tensor::Tensor| t.get_i128(0).unwrap_or(0);
        let (s, l, dl) = (get(v[0]), get(v[1]), get(v[2]));
        if dl == 0 {
            return Err(cx.shape_err("delta must not be 0"));
        }
        usize::try_from(ceil_div(l - s, dl).max(0))
            .map_err(|_| cx.shape_err("range is too long"))?
    };
    Ok(vec![ty(d, Shape::new(&[n]))])
}

fn constant_of_shape(cx: &Ctx<'_, '_>, value: &crate::tensor::Tensor) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    if value.len() != 1 {
        return Err(cx.attr_err(
            "value",
            format!("must hold one element, got shape {:?}", value.shape()),
        ));
    }
    let dims = match shape_operand(cx, 0, "shape")? {
        Ok(v) => Shape(
            v.iter()
                .map(|&t| extent(cx, t, "shape entry"))
                .collect::<Result<_>>()?,
        ),
        Err(Some(n)) => cx.sym_shape(0, n),
        Err(None) => return Err(cx.non_const(0, "shape")),
    };
    Ok(vec![ty(value.dtype(), dims)])
}

fn trilu(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(1, 2)?;
    let d = cx.dtype(0, ANY)?;
    if cx.opt(1).is_some() {
        cx.dtype(1, I64)?;
        cx.scalar_like(1, "k")?;
    }
    let x = cx.shape(0)?;
    if x.rank() < 2 {
        return Err(cx.shape_err("input must have rank at least 2"));
    }
    Ok(vec![ty(d, x.clone())])
}

/// True when optional operand `i` is present and not an empty placeholder.
fn given(cx: &Ctx<'_, '_>, i: usize) -> bool {
    cx.opt(i)
        .is_some_and(|o| o.ty.shape.num_elements() != Some(0))
}

fn resize(cx: &Ctx<'_, '_>, axes_attr: &[i64], policy: KeepAspectRatio) -> Result<Vec<TensorType>> {
    cx.simple(1, 4)?;
    let d = cx.dtype(0, super::PLAIN)?;
    cx.opt_dtype(1, FLOAT)?;
    cx.opt_dtype(2, super::Class::standard(|d| d == DType::F32, "f32"))?;
    cx.opt_dtype(3, I64)?;
    let x = cx.shape(0)?;
    let r = x.rank();
    let axes = {
        let mut out: Vec<usize> = Vec::new();
        for &a in axes_attr {
            let n = cx.axis("axes", a, r)?;
            if out.contains(&n) {
                return Err(cx.attr_err("axes", format!("{axes_attr:?} repeats axis {a}")));
            }
            out.push(n);
        }
        if axes_attr.is_empty() {
            (0..r).collect()
        } else {
            out
        }
    };
    let (scales, sizes) = (given(cx, 2), given(cx, 3));
    if scales == sizes {
        return Err(cx.shape_err("exactly one of scales and sizes must be given"));
    }
    let input = if scales { 2 } else { 3 };
    let len = cx.vector_len(input, if scales { "scales" } else { "sizes" })?;
    if len.is_some_and(|n| n != axes.len()) {
        return Err(cx.shape_err(format!(
            "input {input} must have {} entries (one per resized axis)",
            axes.len()
        )));
    }
    let mut dims = x.0.clone();
    let Some(t) = cx.opt(input).and_then(|o| o.value) else {
        for &a in &axes {
            dims[a] = cx.sym(0, a);
        }
        return Ok(vec![ty(d, Shape(dims))]);
    };
    let vals: Vec<f64> = (0..t.len()).map(|i| t.get_f64(i)).collect();
    let bad = |v: f64| {
        if scales {
            v.is_nan() || v <= 0.0
        } else {
            v < 0.0
        }
    };
    if vals.iter().any(|&v| bad(v)) {
        return Err(cx.shape_err(format!("scales or sizes {vals:?} must be positive")));
    }
    if scales {
        for (&a, &s) in axes.iter().zip(&vals) {
            if let Some(e) = x.0[a].as_static() {
                dims[a] = Dim::Static((e as f64 * s).floor() as usize);
            } else {
                dims[a] = cx.sym(0, a);
            }
        }
        return Ok(vec![ty(d, Shape(dims))]);
    }
    if policy == KeepAspectRatio::Stretch {
        for (&a, &s) in axes.iter().zip(&vals) {
            dims[a] = Dim::Static(s as usize);
        }
        return Ok(vec![ty(d, Shape(dims))]);
    }
    let ratios: Option<Vec<f64>> = axes
        .iter()
        .zip(&vals)
        .map(|(&a, &s)| x.0[a].as_static().map(|e| s / e as f64))
        .collect();
    let Some(ratios) = ratios else {
        for &a in &axes {
            dims[a] = cx.sym(0, a);
        }
        return Ok(vec![ty(d, Shape(dims))]);
    };
    let pick = if policy == KeepAspectRatio::NotLarger {
        f64::min
    } else {
        f64::max
    };
    let scale = ratios.iter().copied().reduce(pick).unwrap_or(1.0);
    for &a in &axes {
        if let Some(e) = x.0[a].as_static() {
            dims[a] = Dim::Static((scale * e as f64 + 0.5).floor() as usize);
        }
    }
    Ok(vec![ty(d, Shape(dims))])
}

fn dropout(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.arity(1, 3)?;
    cx.outputs(1, 2)?;
    let d = cx.dtype(0, FLOAT)?;
    if cx.opt(1).is_some() {
        cx.dtype(1, FLOAT)?;
        cx.scalar_like(1, "ratio")?;
    }
    if cx.opt(2).is_some() {
        cx.dtype(2, BOOL)?;
        cx.scalar_like(2, "training_mode")?;
    }
    let x = cx.shape(0)?;
    let mut out = vec![ty(d, x.clone()), ty(DType::Bool, x.clone())];
    out.truncate(cx.num_outputs);
    Ok(out)
}

fn non_zero(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let x = cx.input(0)?;
    let n = match x.value {
        Some(t) => Dim::Static((0..t.len()).filter(|&i| t.get_f64(i) != 0.0).count()),
        None => cx.sym(0, 1),
    };
    Ok(vec![ty(
        DType::I64,
        Shape(vec![Dim::Static(x.ty.shape.rank()), n]),
    )])
}

/// `as_strided`: the view's shape, checked to stay inside a statically sized input.
fn as_strided(
    cx: &Ctx<'_, '_>,
    shape: &[i64],
    strides: &[i64],
    offset: i64,
) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let x = cx.input(0)?;
    let extent = crate::shape::strided_extent(shape, strides, offset)
        .map_err(|m| cx.attr_err("strides", m))?;
    if let (Some((lo, hi)), Some(n)) = (extent, x.ty.shape.num_elements())
        && (lo < 0 || hi >= n as i128)
    {
        return Err(cx.attr_err(
            "strides",
            format!("the view reads flat offsets {lo}..={hi} of an input with {n} elements"),
        ));
    }
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    Ok(vec![ty(x.ty.dtype, Shape::new(&dims))])
}
