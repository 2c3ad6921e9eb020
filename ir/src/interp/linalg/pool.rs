//! Pooling: MaxPool (with ONNX flat Indices), AveragePool and the global pools.
//!
//! A window position is *inside* the input, in the *explicit padding* (within `pads`, or the
//! auto_pad pads), or *beyond* it (only ceil_mode windows reach there). Max pools read inside
//! positions only; AveragePool divides by the inside count, plus the explicit-padding count
//! with `count_include_pad`; positions beyond the pads never count (as the ONNX reference).
//! NaN propagates through max pooling (the first NaN wins, with its index).

use super::window::{self, Window, WindowAttrs, all_indices};
use super::{Accept, Num, Slices, attr_err, pack, shape_err, slices, widen_same};
use crate::dtype::DType;
use crate::error::{At, Result};
use crate::interp::values::{Arr, Data, eval_err, unravel};
use crate::op::Op;
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// The positions one window covers: flat row-major spatial offsets of the inside positions,
/// and how many positions fall into the explicit padding.
#[derive(Clone, Debug, Default)]
struct Cells {
    inside: Vec<usize>,
    padding: usize,
}

/// The cells of every output position, in row-major output order.
fn window_cells(win: &Window) -> Vec<Cells> {
    let taps = all_indices(&win.kernel);
    let in_strides = strides_of(&win.input);
    all_indices(&win.out())
        .iter()
        .map(|o| {
            let mut cells = Cells::default();
            for tap in &taps {
                let mut off = Some(0);
                let mut counted = true;
                for a in 0..o.len() {
                    let ax = win.axes[a];
                    let p = (o[a] * win.strides[a] + tap[a] * win.dilations[a]) as i64
                        - ax.pad_begin as i64;
                    if p >= 0 && (p as usize) < win.input[a] {
                        off = off.map(|f| f + p as usize * in_strides[a]);
                    } else {
                        off = None;
                        counted &= p < (win.input[a] + ax.pad_end) as i64;
                    }
                }
                match off {
                    Some(f) => cells.inside.push(f),
                    None if counted => cells.padding += 1,
                    None => {}
                }
            }
            cells
        })
        .collect()
}

/// Resolves the window of MaxPool/AveragePool for input `x` (rank >= 3).
fn pool_window(
    at: &At,
    x: &Tensor,
    kernel_shape: &[i64],
    attrs: &WindowAttrs<'_>,
) -> Result<Window> {
    let inputs = [Some(x)];
    if x.rank() < 3 {
        return Err(shape_err(
            at,
            &inputs,
            "X must be (N, C, D1, ...) with at least one spatial axis",
        ));
    }
    let spatial = &x.shape()[2..];
    let kernel = window::kernel_shape(at, kernel_shape, None, spatial.len())?;
    window::resolve(at, &inputs, spatial, kernel, attrs)
}

/// True when `v` should replace the running maximum `best` (strictly greater, or the first NaN).
fn beats<T: Num>(v: T, best: T) -> bool {
    v > best || (v.is_nan() && !best.is_nan())
}

/// Flat index of a spatial offset in the ONNX storage order: 0 row-major, 1 column-major over
/// the spatial axes (the batch and channel part stays row-major).
fn storage_index(off: usize, input: &[usize], storage_order: i64) -> usize {
    if storage_order == 0 {
        return off;
    }
    let idx = unravel(off, input);
    let mut flat = 0;
    let mut scale = 1;
    for (i, d) in idx.iter().zip(input) {
        flat += i * scale;
        scale *= d;
    }
    flat
}

/// The maxima and their flat input indices per (N*C block, window); `Err(k)` names the first
/// output whose window lies entirely in padding.
fn max_kernel<T: Num>(
    x: &[T],
    blocks: usize,
    win: &Window,
    cells: &[Cells],
    storage_order: i64,
) -> Result<(Vec<T>, Vec<i128>), usize> {
    let in_size: usize = win.input.iter().product();
    let mut ys = Vec::with_capacity(blocks * cells.len());
    let mut idx = Vec::with_capacity(blocks * cells.len());
    for blk in 0..blocks {
        for c in cells {
            let mut best: Option<(T, usize)> = None;
            for &off in &c.inside {
                let v = x[blk * in_size + off];
                if best.is_none_or(|(b, _)| beats(v, b)) {
                    best = Some((v, off));
                }
            }
            let (v, off) = best.ok_or(ys.len())?;
            ys.push(v);
            idx.push((blk * in_size + storage_index(off, &win.input, storage_order)) as i128);
        }
    }
    Ok((ys, idx))
}

/// ONNX MaxPool; returns `(Y, Indices)` (Indices are i64 flat indices into X).
pub(super) fn max_pool(op: &Op, at: &At, x: &Tensor, num_outputs: usize) -> Result<Vec<Tensor>> {
    let Op::MaxPool {
        auto_pad,
        ceil_mode,
        dilations,
        kernel_shape,
        pads,
        storage_order,
        strides,
    } = op
    else {
        return Err(eval_err(at, "max_pool called on another operator"));
    };
    if !matches!(storage_order, 0 | 1) {
        return Err(attr_err(
            at,
            "storage_order",
            format!("{storage_order} must be 0 (row-major) or 1 (column-major)"),
        ));
    }
    let attrs = WindowAttrs {
        auto_pad: *auto_pad,
        pads,
        strides,
        dilations,
        ceil_mode: *ceil_mode,
    };
    let win = pool_window(at, x, kernel_shape, &attrs)?;
    let arrs = widen_same(at, &[Some(x)], Accept::Numeric)?;
    let cells = window_cells(&win);
    let blocks = x.shape()[0] * x.shape()[1];
    let result = match slices(at, &arrs)? {
        Slices::F(v) => {
            max_kernel(v[0], blocks, &win, &cells, *storage_order).map(|(y, i)| (Data::F(y), i))
        }
        Slices::I(v) => {
            max_kernel(v[0], blocks, &win, &cells, *storage_order).map(|(y, i)| (Data::I(y), i))
        }
    };
    let (y, indices) = result.map_err(|k| {
        attr_err(
            at,
            "pads",
            format!(
                "output element {k} pools a window that lies entirely in the padding of X {:?}",
                x.shape()
            ),
        )
    })?;
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(win.out());
    let mut outs = vec![pack(x.dtype(), shape.clone(), y)];
    if num_outputs > 1 {
        outs.push(Arr::ints(DType::I64, shape, indices).to_tensor());
    }
    Ok(outs)
}

/// ONNX AveragePool (floating-point dtypes).
pub(super) fn average_pool(op: &Op, at: &At, x: &Tensor) -> Result<Tensor> {
    let Op::AveragePool {
        auto_pad,
        ceil_mode,
        count_include_pad,
        dilations,
        kernel_shape,
        pads,
        strides,
    } = op
    else {
        return Err(eval_err(at, "average_pool called on another operator"));
    };
    let attrs = WindowAttrs {
        auto_pad: *auto_pad,
        pads,
        strides,
        dilations,
        ceil_mode: *ceil_mode,
    };
    let win = pool_window(at, x, kernel_shape, &attrs)?;
    let arr = widen_same(at, &[Some(x)], Accept::Float)?.remove(0);
    let cells = window_cells(&win);
    let in_size: usize = win.input.iter().product();
    let blocks = x.shape()[0] * x.shape()[1];
    let mut ys = Vec::with_capacity(blocks * cells.len());
    for blk in 0..blocks {
        for c in &cells {
            let sum: f64 = c.inside.iter().map(|&off| arr.f(blk * in_size + off)).sum();
            let count = c.inside.len() + if *count_include_pad { c.padding } else { 0 };
            ys.push(sum / count as f64);
        }
    }
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(win.out());
    Ok(pack(x.dtype(), shape, Data::F(ys)))
}

/// GlobalAveragePool (`max == false`, floats) or GlobalMaxPool (`max == true`, numeric): one
/// value per (N, C) over every spatial axis, kept as size 1. A rank-2 input has no spatial axes
/// and passes through. The mean of an empty block is NaN; the max of one is an error.
pub(super) fn global_pool(at: &At, x: &Tensor, max: bool) -> Result<Tensor> {
    let inputs = [Some(x)];
    if x.rank() < 2 {
        return Err(shape_err(at, &inputs, "X must be (N, C, D1, ...)"));
    }
    let accept = if max { Accept::Numeric } else { Accept::Float };
    let arr = widen_same(at, &inputs, accept)?.remove(0);
    let blocks = x.shape()[0] * x.shape()[1];
    let size: usize = x.shape()[2..].iter().product();
    let data = match (&arr.data, max) {
        (Data::F(v), false) => Data::F(
            (0..blocks)
                .map(|b| v[b * size..(b + 1) * size].iter().sum::<f64>() / size as f64)
                .collect(),
        ),
        (Data::F(v), true) => Data::F(block_max(at, v, blocks, size)?),
        (Data::I(v), true) => Data::I(block_max(at, v, blocks, size)?),
        (Data::I(_), false) => {
            return Err(eval_err(at, "global average pooling needs a float dtype"));
        }
    };
    let mut shape = x.shape().to_vec();
    shape[2..].iter_mut().for_each(|d| *d = 1);
    Ok(pack(x.dtype(), shape, data))
}

/// The maximum of each contiguous block of `size` elements (NaN propagates).
fn block_max<T: Num>(at: &At, v: &[T], blocks: usize, size: usize) -> Result<Vec<T>> {
    (0..blocks)
        .map(|b| {
            v[b * size..(b + 1) * size]
                .iter()
                .copied()
                .reduce(|best, x| if beats(x, best) { x } else { best })
                .ok_or_else(|| eval_err(at, "global max pooling over empty spatial axes"))
        })
        .collect()
}
