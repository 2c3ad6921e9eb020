//! Data-dependent indexing: Gather, GatherElements, GatherND, ScatterND, ScatterElements and
//! NonZero. Index operands may have any integer dtype; negative indices count back from the
//! end of their axis, and an index outside the axis is an evaluation error naming it.

use super::{attr_axis, attr_err, for_each_index, shape_err, take};
use crate::attr::ScatterReduction;
use crate::error::{At, IrError, Result};
use crate::interp::values::{Arr, Data, eval_err, need, read_ints, round_float, wrap_int};
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// Resolves a possibly negative index on data axis `axis` of extent `dim`.
fn resolve(at: &At, i: i64, axis: usize, dim: usize) -> Result<usize> {
    let d = dim as i64;
    let j = if i < 0 { i + d } else { i };
    if (0..d).contains(&j) {
        Ok(j as usize)
    } else {
        Err(eval_err(
            at,
            format!("index {i} is out of range for data axis {axis} of extent {dim}"),
        ))
    }
}

/// Checks that `indices` has the rank of `data` and fits inside it on every axis but `axis`
/// (GatherElements / ScatterElements).
fn check_elementwise(
    at: &At,
    inputs: &[Option<&Tensor>],
    data: &Tensor,
    indices: &Tensor,
    axis: usize,
) -> Result<()> {
    let fits = indices.rank() == data.rank()
        && (0..data.rank()).all(|a| a == axis || indices.shape()[a] <= data.shape()[a]);
    if fits {
        Ok(())
    } else {
        Err(shape_err(
            at,
            inputs,
            format!("indices must have the data's rank and fit it outside axis {axis}"),
        ))
    }
}

/// Gather: `out[o.., i.., n..] = data[o.., indices[i..], n..]` along `axis`.
pub(super) fn gather(at: &At, inputs: &[Option<&Tensor>], axis: i64) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let indices = need(inputs, 1, at)?;
    let a = attr_axis(at, "axis", axis, data.rank())?;
    let shape = data.shape();
    let dim = shape[a];
    let picks = read_ints(indices, at, "indices")?
        .into_iter()
        .map(|i| resolve(at, i, a, dim))
        .collect::<Result<Vec<_>>>()?;
    let outer: usize = shape[..a].iter().product();
    let inner: usize = shape[a + 1..].iter().product();
    let mut idx = Vec::with_capacity(outer * picks.len() * inner);
    for o in 0..outer {
        for &k in &picks {
            let base = (o * dim + k) * inner;
            idx.extend(base..base + inner);
        }
    }
    let mut out_shape = shape[..a].to_vec();
    out_shape.extend_from_slice(indices.shape());
    out_shape.extend_from_slice(&shape[a + 1..]);
    Ok(take(&Arr::from_tensor(data), out_shape, &idx))
}

/// Flat destinations (or sources) of the elementwise ops: element `m` of `indices` addresses
/// `data[m with m[axis] = indices[m]]`.
fn elementwise_targets(
    at: &At,
    data: &Tensor,
    indices: &Tensor,
    axis: usize,
) -> Result<Vec<usize>> {
    let picks = read_ints(indices, at, "indices")?;
    let strides = strides_of(data.shape());
    let dim = data.shape()[axis];
    let mut out = Vec::with_capacity(picks.len());
    let mut k = 0;
    let mut err = None;
    for_each_index(indices.shape(), |m| {
        let mut flat = 0;
        for (a, &i) in m.iter().enumerate() {
            if a == axis {
                match resolve(at, picks[k], axis, dim) {
                    Ok(j) => flat += j * strides[a],
                    Err(e) => err = err.take().or(Some(e)),
                }
            } else {
                flat += i * strides[a];
            }
        }
        out.push(flat);
        k += 1;
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// GatherElements: `out[m] = data[m with m[axis] = indices[m]]`; the output has the indices'
/// shape.
pub(super) fn gather_elements(at: &At, inputs: &[Option<&Tensor>], axis: i64) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let indices = need(inputs, 1, at)?;
    let a = attr_axis(at, "axis", axis, data.rank())?;
    check_elementwise(at, inputs, data, indices, a)?;
    let idx = elementwise_targets(at, data, indices, a)?;
    Ok(take(
        &Arr::from_tensor(data),
        indices.shape().to_vec(),
        &idx,
    ))
}

/// The index tuples of GatherND/ScatterND: for each tuple (all but the last axis of
/// `indices`), the flat offset in `data` of the slice it addresses, with the leading
/// `batch_dims` axes taken from the tuple's own position.
fn tuple_offsets(
    at: &At,
    inputs: &[Option<&Tensor>],
    data: &Tensor,
    indices: &Tensor,
    batch_dims: usize,
) -> Result<Vec<usize>> {
    let q = indices.rank();
    let shape = data.shape();
    let Some((&k, outer)) = indices.shape().split_last() else {
        return Err(shape_err(at, inputs, "indices must have rank at least 1"));
    };
    let batch_ok = batch_dims < q
        && batch_dims + k <= shape.len()
        && shape[..batch_dims] == indices.shape()[..batch_dims];
    if !batch_ok {
        return Err(shape_err(
            at,
            inputs,
            format!("indices of tuple length {k} with {batch_dims} batch dims do not fit the data"),
        ));
    }
    let raw = read_ints(indices, at, "indices")?;
    let strides = strides_of(shape);
    let mut offsets = Vec::new();
    let mut t = 0;
    let mut err = None;
    for_each_index(outer, |m| {
        let mut flat: usize = (0..batch_dims).map(|a| m[a] * strides[a]).sum();
        for j in 0..k {
            let a = batch_dims + j;
            match resolve(at, raw[t * k + j], a, shape[a]) {
                Ok(i) => flat += i * strides[a],
                Err(e) => err = err.take().or(Some(e)),
            }
        }
        offsets.push(flat);
        t += 1;
    });
    match err {
        Some(e) => Err(e),
        None => Ok(offsets),
    }
}

/// GatherND: gathers the slices addressed by the index tuples in the last axis of `indices`.
pub(super) fn gather_nd(at: &At, inputs: &[Option<&Tensor>], batch_dims: i64) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let indices = need(inputs, 1, at)?;
    let b = usize::try_from(batch_dims).map_err(|_| {
        attr_err(
            at,
            "batch_dims",
            format!("{batch_dims} must not be negative"),
        )
    })?;
    let offsets = tuple_offsets(at, inputs, data, indices, b)?;
    let k = indices.shape().last().copied().unwrap_or(0);
    let tail = &data.shape()[b + k..];
    let size: usize = tail.iter().product();
    let mut idx = Vec::with_capacity(offsets.len() * size);
    for off in offsets {
        idx.extend(off..off + size);
    }
    let mut out_shape = indices.shape()[..indices.rank() - 1].to_vec();
    out_shape.extend_from_slice(tail);
    Ok(take(&Arr::from_tensor(data), out_shape, &idx))
}

/// Combines an existing value with an update under a scatter reduction, in the dtype's
/// precision (floats rounded, integers wrapped after every step, as the dtype would).
fn reduce_into(
    out: &mut Data,
    upd: &Data,
    pairs: &[(usize, usize)],
    red: ScatterReduction,
    dtype: crate::DType,
) {
    match (out, upd) {
        (Data::F(o), Data::F(u)) => {
            for &(d, s) in pairs {
                let (x, y) = (o[d], u[s]);
                let v = match red {
                    ScatterReduction::None => y,
                    ScatterReduction::Add => x + y,
                    ScatterReduction::Mul => x * y,
                    ScatterReduction::Max if x.is_nan() || y.is_nan() => f64::NAN,
                    ScatterReduction::Min if x.is_nan() || y.is_nan() => f64::NAN,
                    ScatterReduction::Max => x.max(y),
                    ScatterReduction::Min => x.min(y),
                };
                o[d] = round_float(v, dtype);
            }
        }
        (Data::I(o), Data::I(u)) => {
            for &(d, s) in pairs {
                let (x, y) = (o[d], u[s]);
                let v = match red {
                    ScatterReduction::None => y,
                    ScatterReduction::Add => x + y,
                    ScatterReduction::Mul => x.wrapping_mul(y),
                    ScatterReduction::Max => x.max(y),
                    ScatterReduction::Min => x.min(y),
                };
                o[d] = wrap_int(v, dtype);
            }
        }
        // Same dtype on both sides is checked by the callers, so the variants agree.
        _ => {}
    }
}

/// Checks that `updates` has the data's dtype.
fn check_updates(at: &At, data: &Tensor, updates: &Tensor) -> Result<()> {
    if updates.dtype() == data.dtype() {
        Ok(())
    } else {
        Err(IrError::InputDType {
            at: at.clone(),
            input: 2,
            dtype: updates.dtype(),
            expected: format!("the dtype of input 0 ({})", data.dtype()),
        })
    }
}

/// ScatterND: a copy of `data` with the slices addressed by `indices` replaced by (or
/// reduced with) `updates`, in order.
pub(super) fn scatter_nd(
    at: &At,
    inputs: &[Option<&Tensor>],
    red: ScatterReduction,
) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let indices = need(inputs, 1, at)?;
    let updates = need(inputs, 2, at)?;
    check_updates(at, data, updates)?;
    let offsets = tuple_offsets(at, inputs, data, indices, 0)?;
    let k = indices.shape().last().copied().unwrap_or(0);
    let tail = &data.shape()[k..];
    let mut want = indices.shape()[..indices.rank() - 1].to_vec();
    want.extend_from_slice(tail);
    if updates.shape() != want.as_slice() {
        return Err(shape_err(
            at,
            inputs,
            format!("updates must have shape {}", crate::Shape::new(&want)),
        ));
    }
    let size: usize = tail.iter().product();
    let pairs: Vec<(usize, usize)> = offsets
        .iter()
        .enumerate()
        .flat_map(|(t, &off)| (0..size).map(move |j| (off + j, t * size + j)))
        .collect();
    let mut out = Arr::from_tensor(data);
    reduce_into(
        &mut out.data,
        &Arr::from_tensor(updates).data,
        &pairs,
        red,
        data.dtype(),
    );
    Ok(out.to_tensor())
}

/// ScatterElements: a copy of `data` where element `m` of `updates` goes to (or is reduced
/// into) `data[m with m[axis] = indices[m]]`, in order.
pub(super) fn scatter_elements(
    at: &At,
    inputs: &[Option<&Tensor>],
    axis: i64,
    red: ScatterReduction,
) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let indices = need(inputs, 1, at)?;
    let updates = need(inputs, 2, at)?;
    check_updates(at, data, updates)?;
    let a = attr_axis(at, "axis", axis, data.rank())?;
    check_elementwise(at, inputs, data, indices, a)?;
    if updates.shape() != indices.shape() {
        return Err(shape_err(
            at,
            inputs,
            "updates must have the shape of indices",
        ));
    }
    let targets = elementwise_targets(at, data, indices, a)?;
    let pairs: Vec<(usize, usize)> = targets
        .into_iter()
        .enumerate()
        .map(|(s, d)| (d, s))
        .collect();
    let mut out = Arr::from_tensor(data);
    reduce_into(
        &mut out.data,
        &Arr::from_tensor(updates).data,
        &pairs,
        red,
        data.dtype(),
    );
    Ok(out.to_tensor())
}

/// NonZero: i64 `[rank, count]` coordinates of the non-zero elements (NaN counts as
/// non-zero) in row-major order.
pub(super) fn non_zero(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let arr = Arr::from_tensor(data);
    let nonzero = |i: usize| match &arr.data {
        Data::F(v) => v[i] != 0.0,
        Data::I(v) => v[i] != 0,
    };
    let rank = data.rank();
    let mut coords: Vec<Vec<i64>> = vec![Vec::new(); rank];
    let mut count = 0;
    let mut flat = 0;
    for_each_index(data.shape(), |m| {
        if nonzero(flat) {
            count += 1;
            for (c, &i) in coords.iter_mut().zip(m) {
                c.push(i as i64);
            }
        }
        flat += 1;
    });
    Ok(Tensor::from_vec(&[rank, count], coords.concat())?)
}
