//! Operators that work lane by lane along one axis: ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax
//! and CumSum.

use super::super::values::{Arr, Data, need};
use super::{Lanes, axis_attr, cmp_elems, eval_err, float_input, is_nan, numeric_input};
use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::tensor::Tensor;
use std::cmp::Ordering;

/// Which member of the softmax family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SoftmaxKind {
    /// `exp(x - max) / sum(exp(x - max))`.
    Soft,
    /// `x - max - ln(sum(exp(x - max)))`.
    Log,
    /// 1 at the first maximum of the lane, 0 elsewhere.
    Hard,
}

/// ArgMax (`largest`) or ArgMin of input 0 along `axis`, as i64.
///
/// NaN counts as the extreme for both (the first NaN wins, or the last with
/// `select_last_index`), like NumPy. An empty axis has no extreme and is an error.
pub(super) fn arg_extreme(
    largest: bool,
    axis: i64,
    keepdims: bool,
    select_last: bool,
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Tensor> {
    let x = numeric_input(inputs, 0, at)?;
    let ax = axis_attr(at, axis, x.rank())?;
    let lanes = Lanes::new(x.shape(), ax);
    if lanes.len == 0 && !lanes.is_empty() {
        return Err(eval_err(
            at,
            format!(
                "cannot take the arg{} of an empty axis {ax} (input shape {})",
                if largest { "max" } else { "min" },
                x.ir_shape()
            ),
        ));
    }
    let a = Arr::from_tensor(x);
    let out: Vec<i128> = (0..lanes.count())
        .map(|l| arg_of_lane(&a.data, &lanes.lane(l), largest, select_last) as i128)
        .collect();
    let mut shape = x.shape().to_vec();
    if keepdims {
        shape[ax] = 1;
    } else {
        shape.remove(ax);
    }
    Ok(Arr::ints(DType::I64, shape, out).to_tensor())
}

/// Position within `lane` (flat indices into `data`) of its maximum (`largest`) or minimum.
/// Ties and NaNs go to the first occurrence, or the last with `last`. 0 for an empty lane.
fn arg_of_lane(data: &Data, lane: &[usize], largest: bool, last: bool) -> usize {
    let mut best = 0;
    for (k, &i) in lane.iter().enumerate().skip(1) {
        let b = lane[best];
        let wins = match (is_nan(data, i), is_nan(data, b)) {
            (cand_nan, true) => last && cand_nan,
            (true, false) => true,
            (false, false) => {
                let o = cmp_elems(data, i, b);
                let o = if largest { o } else { o.reverse() };
                o == Ordering::Greater || (last && o == Ordering::Equal)
            }
        };
        if wins {
            best = k;
        }
    }
    best
}

/// Softmax, LogSoftmax or Hardmax of input 0 along `axis` (opset-13 semantics: one axis).
///
/// Softmax and LogSoftmax subtract the lane's maximum first, so large inputs do not
/// overflow; a lane of all -inf (or holding +inf) gives NaN, as NumPy does. Hardmax puts
/// its 1 at the first maximum, NaN counting as the maximum.
pub(super) fn softmax(
    kind: SoftmaxKind,
    axis: i64,
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Tensor> {
    let x = float_input(inputs, 0, at)?;
    let ax = axis_attr(at, axis, x.rank())?;
    let lanes = Lanes::new(x.shape(), ax);
    let a = Arr::from_tensor(x);
    let Data::F(v) = &a.data else {
        return Err(IrError::Unsupported {
            at: at.clone(),
            dtype: x.dtype(),
            detail: None,
        });
    };
    let mut out = vec![0.0; v.len()];
    for l in 0..lanes.count() {
        let lane = lanes.lane(l);
        if kind == SoftmaxKind::Hard {
            if !lane.is_empty() {
                out[lane[arg_of_lane(&a.data, &lane, true, false)]] = 1.0;
            }
            continue;
        }
        let m = lane
            .iter()
            .fold(f64::NEG_INFINITY, |m, &i| if v[i] > m { v[i] } else { m });
        let sum: f64 = lane.iter().map(|&i| (v[i] - m).exp()).sum();
        for &i in &lane {
            out[i] = match kind {
                SoftmaxKind::Log => v[i] - m - sum.ln(),
                _ => (v[i] - m).exp() / sum,
            };
        }
    }
    Ok(Arr::floats(x.dtype(), a.shape, out).to_tensor())
}

/// CumSum of input 0 along the axis given by input 1 (a rank-0 or one-element integer tensor).
///
/// `exclusive` leaves each element out of its own sum; `reverse` sums from the end. Floats
/// accumulate in f64; integers exactly, wrapping to the dtype.
pub(super) fn cumsum(
    exclusive: bool,
    reverse: bool,
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Tensor> {
    let x = numeric_input(inputs, 0, at)?;
    let axis = super::scalar_operand(need(inputs, 1, at)?, at, "axis")?;
    let ax = crate::shape::normalize_axis(axis, x.rank()).ok_or_else(|| {
        eval_err(
            at,
            format!(
                "axis {axis} is out of range for an input of rank {}",
                x.rank()
            ),
        )
    })?;
    let lanes = Lanes::new(x.shape(), ax);
    let mut a = Arr::from_tensor(x);
    for l in 0..lanes.count() {
        let mut lane = lanes.lane(l);
        if reverse {
            lane.reverse();
        }
        match &mut a.data {
            Data::F(v) => scan(v, &lane, exclusive, 0.0, |s, x| s + x),
            Data::I(v) => scan(v, &lane, exclusive, 0, i128::wrapping_add),
        }
    }
    Ok(a.to_tensor())
}

/// In-place running sum over the elements `lane` of `v`, in that order.
fn scan<T: Copy>(v: &mut [T], lane: &[usize], exclusive: bool, zero: T, add: fn(T, T) -> T) {
    let mut acc = zero;
    for &i in lane {
        let x = v[i];
        let next = add(acc, x);
        v[i] = if exclusive { acc } else { next };
        acc = next;
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::dtype::DType;
    use crate::error::IrError;
    use crate::op::Op;
    use crate::tensor::Tensor;
    use half::f16;

    fn argmax(axis: i64, keepdims: bool, last: bool) -> Op {
        Op::ArgMax {
            axis,
            keepdims,
            select_last_index: last,
        }
    }

    fn argmin(axis: i64, keepdims: bool, last: bool) -> Op {
        Op::ArgMin {
            axis,
            keepdims,
            select_last_index: last,
        }
    }

    #[test]
    fn argmax_argmin_axes_and_keepdims() {
        let x = f32t(&[2, 3], &[1.0, 5.0, 5.0, 7.0, -1.0, 7.0]);
        let y = run1(&argmax(1, true, false), &[&x]).unwrap();
        assert_eq!(y.shape(), &[2, 1]);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![1, 0]);
        let y = run1(&argmax(-1, false, true), &[&x]).unwrap();
        assert_eq!(y.shape(), &[2]);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![2, 2]);
        let y = run1(&argmin(0, false, false), &[&x]).unwrap();
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 1, 0]);
        let y = run1(&argmin(-2, true, false), &[&x]).unwrap();
        assert_eq!(y.shape(), &[1, 3]);
    }

    #[test]
    fn arg_nan_is_the_extreme() {
        let x = f32t(&[5], &[1.0, f32::NAN, 9.0, f32::NAN, -9.0]);
        for (op, want) in [
            (argmax(0, false, false), 1),
            (argmax(0, false, true), 3),
            (argmin(0, false, false), 1),
            (argmin(0, false, true), 3),
        ] {
            let y = run1(&op, &[&x]).unwrap();
            assert_eq!(y.to_vec::<i64>().unwrap(), vec![want], "{op:?}");
        }
    }

    #[test]
    fn arg_of_integers_is_exact() {
        // Differ by 1 beyond 2^53: only exact comparison tells them apart.
        let x = Tensor::from_slice(&[3], &[(1i64 << 60) + 1, 1 << 60, i64::MIN]).unwrap();
        let y = run1(&argmax(0, true, false), &[&x]).unwrap();
        assert_eq!((y.shape(), y.to_vec::<i64>().unwrap()), (&[1][..], vec![0]));
        let y = run1(&argmin(0, true, false), &[&x]).unwrap();
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![2]);
    }

    #[test]
    fn arg_errors_and_empty_outputs() {
        let empty_axis = f32t(&[2, 0], &[]);
        let e = run1(&argmax(1, true, false), &[&empty_axis]);
        assert!(matches!(e, Err(IrError::Eval { .. })));
        // No lanes at all: an empty result, not an error.
        let y = run1(&argmax(1, true, false), &[&f32t(&[0, 3], &[])]).unwrap();
        assert_eq!(y.shape(), &[0, 1]);
        // Empty tensors whose other extents multiply past usize.
        let huge = Tensor::from_bytes(DType::F32, &[1 << 40, 0, 1 << 40], vec![]).unwrap();
        let e = run1(&argmin(1, false, false), &[&huge]);
        assert!(matches!(e, Err(IrError::Eval { .. })));
        let y = run1(&argmin(0, false, false), &[&huge]).unwrap();
        assert_eq!(y.shape(), &[0, 1 << 40]);
        let y = run1(&Op::Softmax { axis: 1 }, &[&huge]).unwrap();
        assert_eq!(y.shape(), huge.shape());
        let y = run1(&cumsum(false, true), &[&huge, &Tensor::scalar(-1i64)]).unwrap();
        assert_eq!(y.shape(), huge.shape());
        let e = run1(&argmax(2, true, false), &[&f32t(&[2, 2], &[0.0; 4])]);
        assert!(matches!(e, Err(IrError::Attribute { .. })));
        let e = run1(&argmin(0, true, false), &[&Tensor::scalar(1.0f32)]);
        assert!(matches!(e, Err(IrError::Attribute { .. })));
        let b = Tensor::from_slice(&[1], &[true]).unwrap();
        let e = run1(&argmax(0, true, false), &[&b]);
        assert!(matches!(e, Err(IrError::InputDType { .. })));
    }

    #[test]
    fn softmax_and_log_softmax() {
        // numpy: e = np.exp(x - x.max(1, keepdims=True)); e / e.sum(1, keepdims=True)
        let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0]);
        let y = run1(&Op::Softmax { axis: -1 }, &[&x]).unwrap();
        let t = 1.0 / 3.0;
        let want = [0.0900305732, 0.2447284711, 0.6652409558, t, t, t];
        assert_close(&y, DType::F32, &[2, 3], &want, 1e-7);
        let y = run1(&Op::LogSoftmax { axis: 1 }, &[&x]).unwrap();
        let lt = -(3f64.ln());
        let want = [-2.4076059644, -1.4076059644, -0.4076059644, lt, lt, lt];
        assert_close(&y, DType::F32, &[2, 3], &want, 1e-7);
        // Along axis 0.
        let y = run1(&Op::Softmax { axis: 0 }, &[&f32t(&[2, 1], &[0.0, 0.0])]).unwrap();
        assert_close(&y, DType::F32, &[2, 1], &[0.5, 0.5], 0.0);
    }

    #[test]
    fn softmax_special_values() {
        let ninf = f32::NEG_INFINITY;
        let x = f32t(&[3, 2], &[ninf, ninf, ninf, 0.0, f32::NAN, 1.0]);
        let y = run1(&Op::Softmax { axis: 1 }, &[&x]).unwrap();
        let n = f64::NAN;
        assert_close(&y, DType::F32, &[3, 2], &[n, n, 0.0, 1.0, n, n], 0.0);
        let y = run1(&Op::LogSoftmax { axis: 1 }, &[&x]).unwrap();
        assert_close(
            &y,
            DType::F32,
            &[3, 2],
            &[n, n, f64::NEG_INFINITY, 0.0, n, n],
            0.0,
        );
        // Empty lanes and empty tensors pass through.
        let y = run1(&Op::Softmax { axis: 1 }, &[&f32t(&[2, 0], &[])]).unwrap();
        assert_eq!(y.shape(), &[2, 0]);
    }

    #[test]
    fn softmax_f16_and_errors() {
        let x = f16t(&[2], &[0.0, 0.0]);
        let y = run1(&Op::Softmax { axis: 0 }, &[&x]).unwrap();
        assert_eq!(y.to_vec::<f16>().unwrap(), vec![f16::from_f32(0.5); 2]);
        let i = Tensor::from_slice(&[2], &[1i32, 2]).unwrap();
        let e = run1(&Op::Softmax { axis: 0 }, &[&i]);
        assert!(matches!(e, Err(IrError::InputDType { .. })));
        let e = run1(&Op::LogSoftmax { axis: -2 }, &[&x]);
        assert!(matches!(e, Err(IrError::Attribute { .. })));
    }

    #[test]
    fn hardmax_marks_the_first_maximum() {
        let x = f32t(
            &[3, 3],
            &[1.0, 3.0, 3.0, f32::NAN, 5.0, f32::NAN, -1.0, -2.0, -3.0],
        );
        let y = run1(&Op::Hardmax { axis: -1 }, &[&x]).unwrap();
        let want = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        assert_close(&y, DType::F32, &[3, 3], &want, 0.0);
        let y = run1(&Op::Hardmax { axis: 0 }, &[&x]).unwrap();
        let want = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        assert_close(&y, DType::F32, &[3, 3], &want, 0.0);
    }

    fn cumsum(exclusive: bool, reverse: bool) -> Op {
        Op::CumSum { exclusive, reverse }
    }

    #[test]
    fn cumsum_modes() {
        let x = f64t(&[5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let ax = Tensor::scalar(0i32);
        let r = |op| vals(&run1(&op, &[&x, &ax]).unwrap());
        assert_eq!(r(cumsum(false, false)), vec![1.0, 3.0, 6.0, 10.0, 15.0]);
        assert_eq!(r(cumsum(true, false)), vec![0.0, 1.0, 3.0, 6.0, 10.0]);
        assert_eq!(r(cumsum(false, true)), vec![15.0, 14.0, 12.0, 9.0, 5.0]);
        assert_eq!(r(cumsum(true, true)), vec![14.0, 12.0, 9.0, 5.0, 0.0]);
    }

    #[test]
    fn cumsum_axes_and_ints() {
        let x = Tensor::from_slice(&[2, 3], &[1i32, 2, 3, 4, 5, 6]).unwrap();
        let y = run1(&cumsum(false, false), &[&x, &i64s(&[0])]).unwrap();
        assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 2, 3, 5, 7, 9]);
        let y = run1(&cumsum(false, false), &[&x, &i64s(&[-1])]).unwrap();
        assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 3, 6, 4, 9, 15]);
        let w = Tensor::from_slice(&[3], &[i8::MAX, 1, 1]).unwrap();
        let y = run1(&cumsum(false, false), &[&w, &Tensor::scalar(0i64)]).unwrap();
        assert_eq!(y.to_vec::<i8>().unwrap(), vec![127, -128, -127]);
        let n = f32t(&[3], &[1.0, f32::NAN, 1.0]);
        let y = run1(&cumsum(false, false), &[&n, &Tensor::scalar(0i64)]).unwrap();
        assert_close(&y, DType::F32, &[3], &[1.0, f64::NAN, f64::NAN], 0.0);
        let e = f32t(&[0, 2], &[]);
        let y = run1(&cumsum(true, true), &[&e, &Tensor::scalar(1i64)]).unwrap();
        assert_eq!(y.shape(), &[0, 2]);
    }

    #[test]
    fn cumsum_errors() {
        let x = f32t(&[2], &[1.0, 2.0]);
        let err = |axis: &Tensor| run1(&cumsum(false, false), &[&x, axis]).unwrap_err();
        assert!(matches!(err(&Tensor::scalar(1i64)), IrError::Eval { .. }));
        assert!(matches!(err(&i64s(&[0, 0])), IrError::Eval { .. }));
        assert!(matches!(err(&Tensor::scalar(0.0f32)), IrError::Eval { .. }));
        let e = run_n(&cumsum(false, false), &[Some(&x), None], 1);
        assert!(matches!(e, Err(IrError::Eval { .. })));
        let b = Tensor::from_slice(&[1], &[true]).unwrap();
        let e = run1(&cumsum(false, false), &[&b, &Tensor::scalar(0i64)]);
        assert!(matches!(e, Err(IrError::InputDType { .. })));
    }
}
