//! Pooling: MaxPool (with ONNX flat Indices), AveragePool and the global pools.
//!
//! A window position is *inside* the input, in the *explicit padding* (within `pads`, or the
//! auto_pad pads), or *beyond* it (only ceil_mode windows reach there). Max pools read inside
//! positions only; AveragePool divides by the inside count, plus the explicit-padding count
//! with `count_include_pad`; positions beyond the pads never count (as the ONNX reference).
//! NaN propagates through max pooling (the first NaN wins, with its index).

use super::window::{self, Window, WindowAttrs, all_indices};
use super::{Accept, Num, Slices, attr_err, check_output, pack, shape_err, slices, widen_same};
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
    let win = window::resolve(at, &inputs, spatial, kernel, attrs)?;
    check_output(at, &inputs, &[&x.shape()[..2], &win.out()[..]].concat())?;
    Ok(win)
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

#[cfg(test)]
mod tests {
    use super::super::eval;
    use super::super::tests::{f, iota, run1};
    use super::*;
    use crate::attr::AutoPad;
    use crate::error::IrError;

    fn max_op(kernel: &[i64], pads: &[i64], strides: &[i64], ceil_mode: bool) -> Op {
        Op::MaxPool {
            auto_pad: AutoPad::NotSet,
            ceil_mode,
            dilations: vec![],
            kernel_shape: kernel.to_vec(),
            pads: pads.to_vec(),
            storage_order: 0,
            strides: strides.to_vec(),
        }
    }

    fn avg_op(kernel: &[i64], pads: &[i64], strides: &[i64], ceil_mode: bool, cip: bool) -> Op {
        Op::AveragePool {
            auto_pad: AutoPad::NotSet,
            ceil_mode,
            count_include_pad: cip,
            dilations: vec![],
            kernel_shape: kernel.to_vec(),
            pads: pads.to_vec(),
            strides: strides.to_vec(),
        }
    }

    fn both(op: Op, x: &Tensor) -> Result<(Tensor, Vec<i64>)> {
        let mut out = eval(&op, &super::super::tests::at(), &[Some(x)], 2)?;
        let idx = out.remove(1).to_vec::<i64>().unwrap_or_default();
        Ok((out.remove(0), idx))
    }

    fn vals(t: &Tensor) -> Vec<f32> {
        t.to_vec::<f32>().unwrap()
    }

    /// A 4x4 image: rows [1 5 2 0], [3 -1 4 8], [7 6 9 2], [0 1 3 4].
    fn img() -> Tensor {
        f(
            &[1, 1, 4, 4],
            &[
                1., 5., 2., 0., 3., -1., 4., 8., 7., 6., 9., 2., 0., 1., 3., 4.,
            ],
        )
    }

    // Expected values below come from the ONNX reference implementation (onnx 1.22).

    #[test]
    fn max_pool_ceil_pads_indices() {
        // ceil_mode: kernel 3, stride 2 on 4 -> 2 windows per axis (the last one clipped).
        let (y, i) = both(max_op(&[3, 3], &[], &[2, 2], true), &img()).unwrap();
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(vals(&y), vec![9., 9., 9., 9.]);
        assert_eq!(i, vec![10, 10, 10, 10]);
        // Without ceil_mode only one window fits.
        let (y, _) = both(max_op(&[3, 3], &[], &[2, 2], false), &img()).unwrap();
        assert_eq!(y.shape(), &[1, 1, 1, 1]);
        // Padding never wins (all values negative), column-major indices.
        let neg = f(&[1, 1, 2, 2], &[-4., -3., -2., -1.]);
        let op = max_op(&[2, 2], &[1, 1, 1, 1], &[1, 1], false);
        let (y, i) = both(op, &neg).unwrap();
        assert_eq!(vals(&y), vec![-4., -3., -3., -2., -1., -1., -2., -1., -1.]);
        assert_eq!(i, vec![0, 1, 1, 2, 3, 3, 2, 3, 3]);
        let op = Op::MaxPool {
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
            dilations: vec![],
            kernel_shape: vec![2, 2],
            pads: vec![1, 1, 1, 1],
            storage_order: 1,
            strides: vec![2, 2],
        };
        let (y, i) = both(op, &img()).unwrap();
        assert_eq!(vals(&y), vec![1., 5., 0., 7., 9., 8., 0., 3., 4.]);
        assert_eq!(i, vec![0, 4, 12, 2, 10, 13, 3, 11, 15]);
    }

    #[test]
    fn max_pool_dilations_batches_ints_nan() {
        let op = Op::MaxPool {
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
            dilations: vec![2, 2],
            kernel_shape: vec![2, 2],
            pads: vec![],
            storage_order: 0,
            strides: vec![],
        };
        let (y, i) = both(op, &img()).unwrap();
        assert_eq!(vals(&y), vec![9., 6., 4., 8.]);
        assert_eq!(i, vec![10, 9, 6, 7]);
        // Indices count the batch and channel blocks: second channel starts at 3.
        let x = Tensor::from_vec(&[1, 2, 3], vec![1u8, 200, 3, 255, 0, 7]).unwrap();
        let (y, i) = both(max_op(&[2], &[], &[], false), &x).unwrap();
        assert_eq!(y.to_vec::<u8>().unwrap(), vec![200, 200, 255, 7]);
        assert_eq!(i, vec![1, 1, 3, 5]);
        // NaN wins over later values and keeps its index; one output asked for.
        let x = f(&[1, 1, 3], &[1., f32::NAN, 5.]);
        let y = run1(max_op(&[2], &[], &[], false), &[Some(&x)]).unwrap();
        let y = vals(&y);
        assert!(y[0].is_nan() && y[1].is_nan());
        let (_, i) = both(max_op(&[2], &[], &[], false), &x).unwrap();
        assert_eq!(i, vec![1, 1]);
        let inf = f(&[1, 1, 2], &[f32::NEG_INFINITY, f32::NEG_INFINITY]);
        assert_eq!(
            vals(&run1(max_op(&[2], &[1, 0], &[], false), &[Some(&inf)]).unwrap()),
            vec![f32::NEG_INFINITY, f32::NEG_INFINITY]
        );
    }

    #[test]
    fn max_pool_auto_pad_and_errors() {
        let x = f(&[1, 1, 5], &[3., 1., 4., 1., 5.]);
        let op = |p| Op::MaxPool {
            auto_pad: p,
            ceil_mode: false,
            dilations: vec![],
            kernel_shape: vec![2],
            pads: vec![],
            storage_order: 0,
            strides: vec![2],
        };
        assert_eq!(
            vals(&run1(op(AutoPad::SameUpper), &[Some(&x)]).unwrap()),
            vec![3., 4., 5.]
        );
        assert_eq!(
            vals(&run1(op(AutoPad::SameLower), &[Some(&x)]).unwrap()),
            vec![3., 4., 5.]
        );
        let (_, i) = both(op(AutoPad::SameLower), &x).unwrap();
        assert_eq!(i, vec![0, 2, 4]);
        assert_eq!(
            vals(&run1(op(AutoPad::Valid), &[Some(&x)]).unwrap()),
            vec![3., 4.]
        );
        // A window entirely in the padding.
        assert!(matches!(
            run1(max_op(&[1], &[1, 0], &[], false), &[Some(&x)]),
            Err(IrError::Attribute { attr: "pads", .. })
        ));
        assert!(matches!(
            run1(max_op(&[], &[], &[], false), &[Some(&x)]),
            Err(IrError::Attribute {
                attr: "kernel_shape",
                ..
            })
        ));
        assert!(matches!(
            run1(max_op(&[6], &[], &[], false), &[Some(&x)]),
            Err(IrError::InputShape { .. })
        ));
        assert!(matches!(
            run1(max_op(&[2], &[], &[], false), &[Some(&iota(&[1, 5]))]),
            Err(IrError::InputShape { .. })
        ));
        let bools = Tensor::from_vec(&[1, 1, 2], vec![true, false]).unwrap();
        assert!(matches!(
            run1(max_op(&[1], &[], &[], false), &[Some(&bools)]),
            Err(IrError::Unsupported { .. })
        ));
        let mut so = max_op(&[2], &[], &[], false);
        if let Op::MaxPool { storage_order, .. } = &mut so {
            *storage_order = 2;
        }
        assert!(matches!(
            run1(so, &[Some(&x)]),
            Err(IrError::Attribute {
                attr: "storage_order",
                ..
            })
        ));
    }

    #[test]
    fn average_pool_count_include_pad() {
        let op = |cip| avg_op(&[3, 3], &[1, 1, 1, 1], &[2, 2], false, cip);
        let y = run1(op(false), &[Some(&img())]).unwrap();
        assert_eq!(vals(&y), vec![2., 3., 8. / 3., 4.]);
        let y = run1(op(true), &[Some(&img())]).unwrap();
        assert_eq!(vals(&y), vec![8. / 9., 2., 16. / 9., 4.]);
    }

    #[test]
    fn average_pool_ceil_mode_never_counts_beyond_pads() {
        // 5 elements, kernel 3, stride 3, pads 1: ceil gives 2 windows; the second one
        // ([2, 3, 4]) ends exactly at the end pad, so it stays a full window of 3.
        let x = iota(&[1, 1, 5]);
        let y = run1(avg_op(&[3], &[1, 1], &[3], true, true), &[Some(&x)]).unwrap();
        assert_eq!(vals(&y), vec![1. / 3., 3.]);
        let y = run1(avg_op(&[3], &[1, 1], &[3], true, false), &[Some(&x)]).unwrap();
        assert_eq!(vals(&y), vec![0.5, 3.]);
        // Dilation 3, stride 2, end pad 1, ceil: the last window {4, 7} has 7 beyond the pads,
        // so its divisor is 1 even with count_include_pad.
        let mut op = avg_op(&[2], &[0, 1], &[2], true, true);
        if let Op::AveragePool { dilations, .. } = &mut op {
            *dilations = vec![3];
        }
        let y = run1(op, &[Some(&iota(&[1, 1, 6]))]).unwrap();
        assert_eq!(vals(&y), vec![1.5, 3.5, 4.]);
    }

    #[test]
    fn average_pool_auto_pad_f16_and_errors() {
        let x = iota(&[1, 1, 5]);
        let op = |p, cip| Op::AveragePool {
            auto_pad: p,
            ceil_mode: false,
            count_include_pad: cip,
            dilations: vec![],
            kernel_shape: vec![2],
            pads: vec![],
            strides: vec![2],
        };
        let y = run1(op(AutoPad::SameLower, true), &[Some(&x)]).unwrap();
        assert_eq!(vals(&y), vec![0., 1.5, 3.5]);
        let y = run1(op(AutoPad::SameUpper, false), &[Some(&x)]).unwrap();
        assert_eq!(vals(&y), vec![0.5, 2.5, 4.]);
        // f16 sums in f64: 60000 + 60000 overflows f16, their mean does not.
        let big = half::f16::from_f32(60000.);
        let h = Tensor::from_vec(&[1, 1, 2], vec![big, big]).unwrap();
        let y = run1(avg_op(&[2], &[], &[], false, false), &[Some(&h)]).unwrap();
        assert_eq!(y.to_vec::<half::f16>().unwrap(), vec![big]);
        // Window in padding only, without count_include_pad: 0 / 0 = NaN.
        let y = run1(avg_op(&[1], &[1, 0], &[], false, false), &[Some(&x)]).unwrap();
        assert!(vals(&y)[0].is_nan());
        let ints = Tensor::from_vec(&[1, 1, 2], vec![1i32, 2]).unwrap();
        assert!(matches!(
            run1(avg_op(&[2], &[], &[], false, false), &[Some(&ints)]),
            Err(IrError::Unsupported { .. })
        ));
        assert!(matches!(
            run1(avg_op(&[2], &[1, 1, 1], &[], false, false), &[Some(&x)]),
            Err(IrError::Attribute { attr: "pads", .. })
        ));
    }

    #[test]
    fn global_pools() {
        let x = f(&[1, 2, 2, 2], &[1., 2., 3., 6., -1., f32::NAN, 0., 0.]);
        let y = run1(Op::GlobalAveragePool {}, &[Some(&x)]).unwrap();
        assert_eq!(y.shape(), &[1, 2, 1, 1]);
        let v = vals(&y);
        assert!(v[0] == 3.0 && v[1].is_nan());
        let y = run1(Op::GlobalMaxPool {}, &[Some(&x)]).unwrap();
        let v = vals(&y);
        assert!(v[0] == 6.0 && v[1].is_nan());
        let i = Tensor::from_vec(&[2, 1, 3], vec![-5i64, -2, -9, 4, 4, 1]).unwrap();
        let y = run1(Op::GlobalMaxPool {}, &[Some(&i)]).unwrap();
        assert_eq!(y.shape(), &[2, 1, 1]);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![-2, 4]);
        // Rank 2: no spatial axes, identity.
        let y = run1(Op::GlobalAveragePool {}, &[Some(&iota(&[2, 3]))]).unwrap();
        assert_eq!(y, iota(&[2, 3]));
        // Empty spatial axes: mean NaN, max error.
        let e = f(&[1, 1, 0], &[]);
        assert!(vals(&run1(Op::GlobalAveragePool {}, &[Some(&e)]).unwrap())[0].is_nan());
        assert!(matches!(
            run1(Op::GlobalMaxPool {}, &[Some(&e)]),
            Err(IrError::Eval { .. })
        ));
        assert!(matches!(
            run1(Op::GlobalAveragePool {}, &[Some(&i)]),
            Err(IrError::Unsupported { .. })
        ));
        assert!(matches!(
            run1(Op::GlobalMaxPool {}, &[Some(&iota(&[3]))]),
            Err(IrError::InputShape { .. })
        ));
    }
}
