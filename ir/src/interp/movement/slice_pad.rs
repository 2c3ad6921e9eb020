//! Slice (strided windows with ONNX clamping) and Pad (constant, reflect, edge, wrap; negative
//! pads crop).

use super::{axes_operand, concat_data, element_count, for_each_index, shape_err, strided, take};
use crate::attr::PadMode;
use crate::error::{At, IrError, Result};
use crate::interp::values::{Arr, eval_err, need, read_ints};
use crate::tensor::Tensor;

/// One sliced axis: first index, element count and step.
struct Window {
    start: i128,
    count: usize,
    step: i128,
}

/// Resolves `start:end:step` on an axis of extent `dim` with ONNX's clamping rules: negative
/// bounds count back from the end, then starts clamp to `[0, dim]` (`[0, dim - 1]` for negative
/// steps) and ends to `[0, dim]` (`[-1, dim - 1]` for negative steps).
fn window(start: i64, end: i64, step: i64, dim: usize) -> Window {
    let d = dim as i128;
    let (s, e, st) = (start as i128, end as i128, step as i128);
    let s = if s < 0 { s + d } else { s };
    let e = if e < 0 { e + d } else { e };
    let (s, e) = if st > 0 {
        (s.clamp(0, d), e.clamp(0, d))
    } else {
        (s.clamp(0, (d - 1).max(0)), e.clamp(-1, d - 1))
    };
    let count = if dim == 0 {
        0
    } else if st > 0 {
        ((e - s).max(0) + st - 1) / st
    } else {
        ((s - e).max(0) + (-st) - 1) / (-st)
    };
    Window {
        start: s,
        count: count as usize,
        step: st,
    }
}

/// Reads optional operand `i` as i64s, or `default` when it is absent.
fn ints_or(
    at: &At,
    inputs: &[Option<&Tensor>],
    i: usize,
    what: &str,
    default: impl FnOnce() -> Vec<i64>,
) -> Result<Vec<i64>> {
    match inputs.get(i).copied().flatten() {
        Some(t) => read_ints(t, at, what),
        None => Ok(default()),
    }
}

/// Slice: `data[starts:ends:steps]` along `axes` (default: the first `len(starts)` axes).
pub(super) fn slice(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let starts = read_ints(need(inputs, 1, at)?, at, "starts")?;
    let ends = read_ints(need(inputs, 2, at)?, at, "ends")?;
    let n = starts.len();
    let axes = match inputs.get(3).copied().flatten() {
        Some(t) => axes_operand(at, t, data.rank(), "axes")?,
        None => (0..n).collect(),
    };
    let steps = ints_or(at, inputs, 4, "steps", || vec![1; n])?;
    if ends.len() != n || axes.len() != n || steps.len() != n {
        return Err(shape_err(
            at,
            inputs,
            "starts, ends, axes and steps must have the same length",
        ));
    }
    if n > data.rank() {
        return Err(shape_err(
            at,
            inputs,
            format!("{n} slice bounds for rank {}", data.rank()),
        ));
    }
    let in_strides = super::strides_i64(data.shape());
    let mut out_shape = data.shape().to_vec();
    let mut strides = in_strides.clone();
    let mut offset = 0i128;
    for k in 0..n {
        let a = axes[k];
        if steps[k] == 0 {
            return Err(eval_err(at, format!("slice step on axis {a} is 0")));
        }
        let w = window(starts[k], ends[k], steps[k], data.shape()[a]);
        out_shape[a] = w.count;
        if w.count > 0 {
            offset += w.start * in_strides[a] as i128;
        }
        strides[a] = (w.step * in_strides[a] as i128) as i64;
    }
    let empty = out_shape.contains(&0);
    let idx = if empty {
        Vec::new()
    } else {
        strided(&out_shape, &strides, offset as i64)
    };
    Ok(take(&Arr::from_tensor(data), out_shape, &idx))
}

/// The source position along one padded axis for output position `s + begin`, or `None`
/// where the constant fills in.
fn pad_source(mode: PadMode, s: i64, dim: usize) -> Option<usize> {
    let d = dim as i64;
    if (0..d).contains(&s) {
        return Some(s as usize);
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Edge => Some(s.clamp(0, d - 1) as usize),
        PadMode::Wrap => Some(s.rem_euclid(d) as usize),
        PadMode::Reflect => {
            let period = 2 * (d - 1);
            let m = s.rem_euclid(period);
            Some(if m >= d { period - m } else { m } as usize)
        }
    }
}

/// The constant of a constant-mode pad, as a one-element array of the data's dtype.
fn pad_constant(at: &At, data: &Tensor, value: Option<&Tensor>) -> Result<Arr> {
    let zero = Tensor::zeros(data.dtype(), &[1])?;
    let t = match value {
        Some(v) if v.dtype() != data.dtype() => {
            return Err(IrError::InputDType {
                at: at.clone(),
                input: 2,
                dtype: v.dtype(),
                expected: format!("the dtype of input 0 ({})", data.dtype()),
            });
        }
        Some(v) if v.len() > 1 => {
            return Err(eval_err(
                at,
                format!("constant_value must hold one element, got {}", v.len()),
            ));
        }
        Some(v) if v.len() == 1 => v,
        _ => &zero,
    };
    Ok(Arr::from_tensor(t))
}

/// Pad: `pads` = `[begin_0, ..., end_0, ...]` over `axes` (default all); negative pads crop.
/// Reflect mirrors about the edges without repeating them (periodically for pads longer than
/// the axis), edge repeats the border, wrap is circular; those three need a non-empty axis
/// and reflect needs two elements where it pads. Where one end of an axis crops and the other
/// pads, the padding is taken relative to the input's own edges.
pub(super) fn pad(at: &At, inputs: &[Option<&Tensor>], mode: PadMode) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let pads = read_ints(need(inputs, 1, at)?, at, "pads")?;
    let rank = data.rank();
    let axes = match inputs.get(3).copied().flatten() {
        Some(t) => axes_operand(at, t, rank, "axes")?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(shape_err(
            at,
            inputs,
            format!(
                "pads {pads:?} must have 2 entries per padded axis ({})",
                axes.len()
            ),
        ));
    }
    let mut begin = vec![0i64; rank];
    let mut end = vec![0i64; rank];
    for (k, &a) in axes.iter().enumerate() {
        begin[a] = pads[k];
        end[a] = pads[k + axes.len()];
    }
    let mut maps: Vec<Vec<Option<usize>>> = Vec::with_capacity(rank);
    let mut out_shape = Vec::with_capacity(rank);
    for a in 0..rank {
        let d = data.shape()[a];
        let out = d as i128 + begin[a] as i128 + end[a] as i128;
        let out = usize::try_from(out).map_err(|_| {
            shape_err(
                at,
                inputs,
                format!(
                    "pads {} and {} leave axis {a} of extent {d} negative",
                    begin[a], end[a]
                ),
            )
        })?;
        let pads_here = begin[a] > 0 || end[a] > 0;
        if mode != PadMode::Constant && pads_here && d < 1 + (mode == PadMode::Reflect) as usize {
            return Err(shape_err(
                at,
                inputs,
                format!(
                    "{} padding of axis {a} needs more than its {d} elements",
                    mode.name()
                ),
            ));
        }
        out_shape.push(out);
    }
    // Checked before the per-axis maps are built, so absurd pads cannot allocate.
    if element_count(at, &out_shape)? > 0 {
        for (a, &out) in out_shape.iter().enumerate() {
            let d = data.shape()[a];
            maps.push(
                (0..out)
                    .map(|o| pad_source(mode, o as i64 - begin[a], d))
                    .collect(),
            );
        }
    }
    let arr = Arr::from_tensor(data);
    let fill = pad_constant(at, data, inputs.get(2).copied().flatten())?;
    let fill_at = arr.len();
    let strides = crate::shape::strides_of(data.shape());
    let mut idx = Vec::new();
    for_each_index(&out_shape, |m| {
        let mut flat = 0;
        for (a, &o) in m.iter().enumerate() {
            match maps[a][o] {
                Some(s) => flat += s * strides[a],
                None => {
                    flat = fill_at;
                    break;
                }
            }
        }
        idx.push(flat);
    });
    let all = Arr {
        dtype: arr.dtype,
        shape: vec![fill_at + 1],
        data: concat_data(&[arr, fill]),
    };
    Ok(take(&all, out_shape, &idx))
}
