//! Ops that rearrange a whole tensor: Reshape, Transpose, Expand, Squeeze, Unsqueeze,
//! Flatten, Concat, Split, Tile and Shape.

use super::{
    attr_axis, attr_err, axes_operand, concat_data, element_count, extent, shape_err, strided,
    strides_i64, take,
};
use crate::error::{At, Result};
use crate::interp::values::{Arr, broadcast_index, eval_err, need, read_ints};
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

/// The same elements under a new shape (a copy of the tensor with new dims).
fn reshaped(a: &Arr, shape: Vec<usize>) -> Tensor {
    let idx: Vec<usize> = (0..a.len()).collect();
    a.gather(shape, &idx).to_tensor()
}

/// Reshape: 0 copies the input dim (unless `allowzero`), one -1 is inferred.
pub(super) fn reshape(at: &At, inputs: &[Option<&Tensor>], allowzero: bool) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let spec = read_ints(need(inputs, 1, at)?, at, "shape")?;
    let mut dims = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 if infer.is_some() => {
                return Err(shape_err(
                    at,
                    inputs,
                    format!("shape {spec:?} has two -1 entries"),
                ));
            }
            -1 => {
                infer = Some(i);
                dims.push(1);
            }
            0 if !allowzero => {
                let d = data.shape().get(i).copied().ok_or_else(|| {
                    shape_err(
                        at,
                        inputs,
                        format!("shape {spec:?}: 0 at position {i} has no input dim to copy"),
                    )
                })?;
                dims.push(d);
            }
            _ => dims.push(extent(at, s, "reshape dim")?),
        }
    }
    if allowzero && infer.is_some() && dims.contains(&0) {
        return Err(shape_err(
            at,
            inputs,
            format!("shape {spec:?} has both 0 and -1 under allowzero"),
        ));
    }
    let known = element_count(at, &dims)?;
    if let Some(i) = infer {
        if known == 0 || data.len() % known != 0 {
            return Err(shape_err(
                at,
                inputs,
                format!(
                    "cannot infer the -1 of shape {spec:?} for {} elements",
                    data.len()
                ),
            ));
        }
        dims[i] = data.len() / known;
    } else if known != data.len() {
        return Err(shape_err(
            at,
            inputs,
            format!(
                "shape {spec:?} holds {known} elements, the input {}",
                data.len()
            ),
        ));
    }
    Ok(reshaped(&Arr::from_tensor(data), dims))
}

/// Transpose: output axis `i` is input axis `perm[i]` (empty `perm` reverses the axes).
pub(super) fn transpose(at: &At, inputs: &[Option<&Tensor>], perm: &[i64]) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let rank = data.rank();
    let perm: Vec<usize> = if perm.is_empty() {
        (0..rank).rev().collect()
    } else {
        let mut seen = vec![false; rank];
        let mut p = Vec::with_capacity(rank);
        for &a in perm {
            let ok = usize::try_from(a).ok().filter(|&u| u < rank && !seen[u]);
            let u = ok.ok_or_else(|| {
                attr_err(
                    at,
                    "perm",
                    format!("{perm:?} is not a permutation of 0..{rank}"),
                )
            })?;
            seen[u] = true;
            p.push(u);
        }
        if p.len() != rank {
            return Err(attr_err(
                at,
                "perm",
                format!("{perm:?} is not a permutation of 0..{rank}"),
            ));
        }
        p
    };
    let in_strides = strides_i64(data.shape());
    let out_shape: Vec<usize> = perm.iter().map(|&a| data.shape()[a]).collect();
    let strides: Vec<i64> = perm.iter().map(|&a| in_strides[a]).collect();
    let idx = strided(&out_shape, &strides, 0);
    Ok(take(&Arr::from_tensor(data), out_shape, &idx))
}

/// Expand: bidirectional broadcast of the input with `shape`.
pub(super) fn expand(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let spec = read_ints(need(inputs, 1, at)?, at, "shape")?;
    let dims = spec
        .iter()
        .map(|&d| extent(at, d, "expand dim"))
        .collect::<Result<Vec<_>>>()?;
    let out = broadcast_shapes(data.shape(), &dims).ok_or_else(|| {
        shape_err(
            at,
            inputs,
            format!("input does not broadcast with shape {spec:?}"),
        )
    })?;
    element_count(at, &out)?;
    let idx = broadcast_index(data.shape(), &out);
    Ok(take(&Arr::from_tensor(data), out, &idx))
}

/// Squeeze: removes the listed size-1 axes (every size-1 axis when `axes` is absent).
pub(super) fn squeeze(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let shape = data.shape();
    let axes = match inputs.get(1).copied().flatten() {
        Some(t) => axes_operand(at, t, data.rank(), "axes")?,
        None => (0..shape.len()).filter(|&a| shape[a] == 1).collect(),
    };
    if let Some(&a) = axes.iter().find(|&&a| shape[a] != 1) {
        return Err(shape_err(
            at,
            inputs,
            format!("cannot squeeze axis {a} of extent {}", shape[a]),
        ));
    }
    let dims = (0..shape.len())
        .filter(|a| !axes.contains(a))
        .map(|a| shape[a])
        .collect();
    Ok(reshaped(&Arr::from_tensor(data), dims))
}

/// Unsqueeze: inserts size-1 axes at the listed positions of the output.
pub(super) fn unsqueeze(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let axes_t = need(inputs, 1, at)?;
    let out_rank = data.rank() + axes_t.len();
    let axes = axes_operand(at, axes_t, out_rank, "axes")?;
    let mut rest = data.shape().iter();
    let dims = (0..out_rank)
        .map(|a| {
            if axes.contains(&a) {
                1
            } else {
                rest.next().copied().unwrap_or(1)
            }
        })
        .collect();
    Ok(reshaped(&Arr::from_tensor(data), dims))
}

/// Flatten: 2-D `[prod(dims[..axis]), prod(dims[axis..])]`; `axis` may equal the rank.
pub(super) fn flatten(at: &At, inputs: &[Option<&Tensor>], axis: i64) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let rank = data.rank();
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    let a = usize::try_from(a)
        .ok()
        .filter(|&a| a <= rank)
        .ok_or_else(|| {
            attr_err(
                at,
                "axis",
                format!("{axis} is out of range for rank {rank}"),
            )
        })?;
    let outer: usize = data.shape()[..a].iter().product();
    let inner: usize = data.shape()[a..].iter().product();
    Ok(reshaped(&Arr::from_tensor(data), vec![outer, inner]))
}

/// Concat: joins the inputs along `axis`; every other dim must agree.
pub(super) fn concat(at: &At, inputs: &[Option<&Tensor>], axis: i64) -> Result<Tensor> {
    let parts: Vec<&Tensor> = (0..inputs.len())
        .map(|i| need(inputs, i, at))
        .collect::<Result<_>>()?;
    let first = parts
        .first()
        .ok_or_else(|| eval_err(at, "concat needs at least one input"))?;
    let rank = first.rank();
    let a = attr_axis(at, "axis", axis, rank)?;
    for (i, p) in parts.iter().enumerate() {
        if p.dtype() != first.dtype() {
            return Err(crate::error::IrError::InputDType {
                at: at.clone(),
                input: i,
                dtype: p.dtype(),
                expected: format!("the dtype of input 0 ({})", first.dtype()),
            });
        }
        let same =
            p.rank() == rank && (0..rank).all(|d| d == a || p.shape()[d] == first.shape()[d]);
        if !same {
            return Err(shape_err(
                at,
                inputs,
                format!("input {i} does not match input 0 outside axis {a}"),
            ));
        }
    }
    let outer: usize = first.shape()[..a].iter().product();
    let inner: usize = first.shape()[a + 1..].iter().product();
    let mut out_shape = first.shape().to_vec();
    out_shape[a] = parts.iter().map(|p| p.shape()[a]).sum();
    let arrs: Vec<Arr> = parts.iter().map(|p| Arr::from_tensor(p)).collect();
    let mut bases = Vec::with_capacity(arrs.len());
    let mut base = 0;
    for p in &arrs {
        bases.push(base);
        base += p.len();
    }
    let mut idx = Vec::with_capacity(base);
    for o in 0..outer {
        for (p, &b) in parts.iter().zip(&bases) {
            let chunk = p.shape()[a] * inner;
            idx.extend(b + o * chunk..b + (o + 1) * chunk);
        }
    }
    let all = Arr {
        dtype: first.dtype(),
        shape: vec![base],
        data: concat_data(&arrs),
    };
    Ok(take(&all, out_shape, &idx))
}

/// The part `[start, start + len)` of `a` along `axis`.
fn slab(a: &Arr, axis: usize, start: usize, len: usize) -> Tensor {
    let mut shape = a.shape.clone();
    shape[axis] = len;
    let strides = strides_i64(&a.shape);
    let idx = strided(&shape, &strides, start as i64 * strides[axis]);
    take(a, shape, &idx)
}

/// Split: by the `split` sizes, or into `parts` (else `num_outputs`) chunks of
/// `ceil(dim / n)` with a smaller last one.
pub(super) fn split(
    at: &At,
    inputs: &[Option<&Tensor>],
    axis: i64,
    parts: Option<i64>,
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    let data = need(inputs, 0, at)?;
    let a = attr_axis(at, "axis", axis, data.rank())?;
    let dim = data.shape()[a];
    let sizes: Vec<usize> = match inputs.get(1).copied().flatten() {
        Some(t) => {
            let s = read_ints(t, at, "split")?;
            let sizes = s
                .iter()
                .map(|&v| extent(at, v, "split size"))
                .collect::<Result<Vec<_>>>()?;
            if sizes.iter().sum::<usize>() != dim {
                return Err(shape_err(
                    at,
                    inputs,
                    format!("split sizes {s:?} do not sum to dim {dim} of axis {a}"),
                ));
            }
            sizes
        }
        None => {
            let n = match parts {
                Some(p) => usize::try_from(p)
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| attr_err(at, "num_outputs", format!("{p} must be positive")))?,
                None => num_outputs,
            };
            if n == 0 {
                return Err(eval_err(at, "split into 0 parts"));
            }
            let each = dim.div_ceil(n);
            if each * (n - 1) > dim {
                return Err(shape_err(
                    at,
                    inputs,
                    format!("dim {dim} of axis {a} cannot be split into {n} chunks of {each}"),
                ));
            }
            let mut sizes = vec![each; n];
            sizes[n - 1] = dim - each * (n - 1);
            sizes
        }
    };
    if sizes.len() != num_outputs {
        return Err(eval_err(
            at,
            format!(
                "split gives {} parts but the node has {num_outputs} outputs",
                sizes.len()
            ),
        ));
    }
    let arr = Arr::from_tensor(data);
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for s in sizes {
        out.push(slab(&arr, a, start, s));
        start += s;
    }
    Ok(out)
}

/// Tile: repeats the input `repeats[a]` times along each axis `a`.
pub(super) fn tile(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let reps = read_ints(need(inputs, 1, at)?, at, "repeats")?;
    if reps.len() != data.rank() {
        return Err(shape_err(
            at,
            inputs,
            format!("repeats {reps:?} must have one entry per input axis"),
        ));
    }
    let shape = data.shape();
    let mut out_shape = Vec::with_capacity(shape.len());
    for (&d, &r) in shape.iter().zip(&reps) {
        let r = extent(at, r, "repeat")?;
        out_shape.push(
            d.checked_mul(r)
                .ok_or_else(|| eval_err(at, format!("tiling dim {d} by {r} overflows")))?,
        );
    }
    element_count(at, &out_shape)?;
    let in_strides = strides_i64(shape);
    let mut idx = Vec::new();
    super::for_each_index(&out_shape, |m| {
        let flat: i64 = m
            .iter()
            .zip(shape)
            .zip(&in_strides)
            .map(|((&i, &d), &s)| (i % d) as i64 * s)
            .sum();
        idx.push(flat as usize);
    });
    Ok(take(&Arr::from_tensor(data), out_shape, &idx))
}

/// Shape: the input's dims `start..end` (clamped, negative counting back) as i64.
pub(super) fn shape_of(
    at: &At,
    inputs: &[Option<&Tensor>],
    start: i64,
    end: Option<i64>,
) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let rank = data.rank() as i64;
    let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
    let s = clamp(start);
    let e = clamp(end.unwrap_or(rank));
    let dims: Vec<i64> = data.shape()[s..e.max(s)]
        .iter()
        .map(|&d| d as i64)
        .collect();
    Ok(Tensor::from_vec(&[dims.len()], dims)?)
}
