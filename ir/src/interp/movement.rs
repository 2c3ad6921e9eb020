//! Reference semantics of the movement operators (reshape, transpose, slicing, padding,
//! gathers and scatters, ...) and of the small generators (Range, ConstantOfShape, Shape).
//!
//! Movement ops never compute on values: each one works out, for every output element, the
//! flat index of the input element it copies, and reads them with [`Arr::gather`], so every
//! dtype moves exactly. Scatters and the generators write values in the widened [`Arr`] form.

mod generate;
mod indexing;
mod layout;
mod slice_pad;
#[cfg(test)]
mod tests;

use super::values::{Arr, Data, eval_err, need, read_ints};
use crate::error::{At, IrError, Result};
use crate::op::Op;
use crate::shape::{Shape, checked_product, normalize_axis};
use crate::tensor::Tensor;

/// Evaluates one movement operator on its inputs (`None` = absent optional input), producing
/// `num_outputs` results where the op has a variable output count (Split) or optional
/// outputs (Dropout's mask).
pub fn eval(
    op: &Op,
    at: &At,
    inputs: &[Option<&Tensor>],
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        Op::Reshape { allowzero } => one(layout::reshape(at, inputs, *allowzero)?),
        Op::Transpose { perm } => one(layout::transpose(at, inputs, perm)?),
        Op::Expand {} => one(layout::expand(at, inputs)?),
        Op::Squeeze {} => one(layout::squeeze(at, inputs)?),
        Op::Unsqueeze {} => one(layout::unsqueeze(at, inputs)?),
        Op::Flatten { axis } => one(layout::flatten(at, inputs, *axis)?),
        Op::Concat { axis } => one(layout::concat(at, inputs, *axis)?),
        Op::Split {
            axis,
            num_outputs: parts,
        } => layout::split(at, inputs, *axis, *parts, num_outputs),
        Op::Tile {} => one(layout::tile(at, inputs)?),
        Op::Shape { start, end } => one(layout::shape_of(at, inputs, *start, *end)?),
        Op::Size {} => one(Tensor::scalar(need(inputs, 0, at)?.len() as i64)),
        Op::Slice {} => one(slice_pad::slice(at, inputs)?),
        Op::Pad { mode } => one(slice_pad::pad(at, inputs, *mode)?),
        Op::Gather { axis } => one(indexing::gather(at, inputs, *axis)?),
        Op::GatherElements { axis } => one(indexing::gather_elements(at, inputs, *axis)?),
        Op::GatherND { batch_dims } => one(indexing::gather_nd(at, inputs, *batch_dims)?),
        Op::ScatterND { reduction } => one(indexing::scatter_nd(at, inputs, *reduction)?),
        Op::ScatterElements { axis, reduction } => {
            one(indexing::scatter_elements(at, inputs, *axis, *reduction)?)
        }
        Op::NonZero {} => one(indexing::non_zero(at, inputs)?),
        Op::AsStrided {
            shape,
            strides,
            offset,
        } => one(as_strided(at, inputs, shape, strides, *offset)?),
        Op::Range {} => one(generate::range(at, inputs)?),
        Op::ConstantOfShape { value } => one(generate::constant_of_shape(at, inputs, value)?),
        Op::Trilu { upper } => one(generate::trilu(at, inputs, *upper)?),
        Op::Dropout { .. } => generate::dropout(at, inputs),
        other => Err(eval_err(
            at,
            format!("operator `{}` is not a movement operator", other.name()),
        )),
    }
}

/// An `InputShape` error listing the shapes of the present inputs.
fn shape_err(at: &At, inputs: &[Option<&Tensor>], message: impl Into<String>) -> IrError {
    IrError::InputShape {
        at: at.clone(),
        message: message.into(),
        shapes: inputs.iter().flatten().map(|t| t.ir_shape()).collect(),
    }
}

/// An `Attribute` error for attribute `attr`.
fn attr_err(at: &At, attr: &'static str, message: impl Into<String>) -> IrError {
    IrError::Attribute {
        at: at.clone(),
        attr,
        message: message.into(),
    }
}

/// Normalizes attribute axis `axis` against `rank`, or an attribute error.
fn attr_axis(at: &At, attr: &'static str, axis: i64, rank: usize) -> Result<usize> {
    normalize_axis(axis, rank).ok_or_else(|| {
        attr_err(
            at,
            attr,
            format!("axis {axis} is out of range for rank {rank}"),
        )
    })
}

/// Reads an axes operand: each axis normalized against `rank`, none repeated.
fn axes_operand(at: &At, t: &Tensor, rank: usize, what: &str) -> Result<Vec<usize>> {
    let raw = read_ints(t, at, what)?;
    let mut axes = Vec::with_capacity(raw.len());
    for &a in &raw {
        let n = normalize_axis(a, rank).ok_or_else(|| {
            eval_err(
                at,
                format!("{what} entry {a} is out of range for rank {rank}"),
            )
        })?;
        if axes.contains(&n) {
            return Err(eval_err(at, format!("{what} {raw:?} repeat axis {n}")));
        }
        axes.push(n);
    }
    Ok(axes)
}

/// Converts a non-negative extent read from an operand, or an error naming `what`.
fn extent(at: &At, v: i64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| eval_err(at, format!("{what} {v} must not be negative")))
}

/// The most elements an output sized by operand values (Expand, Tile, Pad, ConstantOfShape)
/// may have: a guard against absurd allocations from bad operands.
const MAX_ELEMENTS: usize = 1 << 36;

/// The element count of `shape`, or an error when it exceeds [`MAX_ELEMENTS`].
fn element_count(at: &At, shape: &[usize]) -> Result<usize> {
    checked_product(shape)
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| {
            eval_err(
                at,
                format!("shape {} has too many elements", Shape::new(shape)),
            )
        })
}

/// Calls `f` with every multi-index of `shape` in row-major order (once for rank 0, never for
/// an empty shape).
fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    loop {
        f(&idx);
        let mut a = shape.len();
        loop {
            if a == 0 {
                return;
            }
            a -= 1;
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

/// Flat source indices of a strided view: output element `i` (multi-index `m`) reads
/// `offset + sum(m[a] * strides[a])`. Callers guarantee the result stays in range.
fn strided(out_shape: &[usize], strides: &[i64], offset: i64) -> Vec<usize> {
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_index(out_shape, |m| {
        let flat: i64 = offset
            + m.iter()
                .zip(strides)
                .map(|(&i, &s)| i as i64 * s)
                .sum::<i64>();
        out.push(flat as usize);
    });
    out
}

/// Row-major strides of `shape` as i64.
fn strides_i64(shape: &[usize]) -> Vec<i64> {
    crate::shape::strides_of(shape)
        .into_iter()
        .map(|s| s as i64)
        .collect()
}

/// Builds the output tensor taking elements of `a` by flat index.
fn take(a: &Arr, shape: Vec<usize>, idx: &[usize]) -> Tensor {
    a.gather(shape, idx).to_tensor()
}

/// Elements of several arrays of one dtype, one after the other.
fn concat_data(parts: &[Arr]) -> Data {
    match parts.first().map(|p| &p.data) {
        Some(Data::F(_)) => Data::F(
            parts
                .iter()
                .flat_map(|p| match &p.data {
                    Data::F(v) => v.clone(),
                    Data::I(v) => v.iter().map(|&x| x as f64).collect(),
                })
                .collect(),
        ),
        _ => Data::I(
            parts
                .iter()
                .flat_map(|p| match &p.data {
                    Data::I(v) => v.clone(),
                    Data::F(v) => v.iter().map(|&x| x as i128).collect(),
                })
                .collect(),
        ),
    }
}

/// `as_strided`: reads `data`'s row-major elements at `offset + sum(i_j * strides[j])`.
fn as_strided(
    at: &At,
    inputs: &[Option<&Tensor>],
    shape: &[i64],
    strides: &[i64],
    offset: i64,
) -> Result<Tensor> {
    let x = need(inputs, 0, at)?;
    let extent =
        crate::shape::strided_extent(shape, strides, offset).map_err(|m| eval_err(at, m))?;
    if let Some((lo, hi)) = extent
        && (lo < 0 || hi >= x.len() as i128)
    {
        return Err(eval_err(
            at,
            format!(
                "view reads flat offsets {lo}..={hi} of an input with {} elements (shape {:?})",
                x.len(),
                x.shape()
            ),
        ));
    }
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let n = checked_product(&dims)
        .ok_or_else(|| eval_err(at, format!("view shape {shape:?} is too large")))?;
    let mut idx = Vec::with_capacity(n);
    let mut pos = vec![0usize; dims.len()];
    for _ in 0..n {
        let flat: i128 = offset as i128
            + pos
                .iter()
                .zip(strides)
                .map(|(&i, &s)| i as i128 * s as i128)
                .sum::<i128>();
        idx.push(flat as usize);
        for a in (0..dims.len()).rev() {
            pos[a] += 1;
            if pos[a] < dims[a] {
                break;
            }
            pos[a] = 0;
        }
    }
    Ok(Arr::from_tensor(x).gather(dims, &idx).to_tensor())
}
