//! The `Reduce*` operators: a reduction over a set of axes given by the optional `axes` input.

use super::super::values::{Arr, Data, need, read_ints};
use super::shape_err;
use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::op::ReduceOp;
use crate::shape::{checked_product, normalize_axis, strides_of};
use crate::tensor::Tensor;

/// Evaluates `kind` on inputs `(data, axes?)`.
///
/// Absent or empty `axes` reduce every axis, or (with `noop_with_empty_axes`) an empty set of
/// axes: then each output element "reduces" its single input element, so Sum/Mean/Max/Min/Prod
/// are the identity while the composite reductions still apply their elementwise steps
/// (ReduceSumSquare squares, ReduceLogSum takes the log, ...), as the ONNX schema states.
pub(super) fn reduce(
    kind: ReduceOp,
    keepdims: bool,
    noop_with_empty_axes: bool,
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Tensor> {
    let x = need(inputs, 0, at)?;
    check_dtype(kind, x.dtype(), at)?;
    let reduced = reduced_axes(at, inputs, x.rank(), noop_with_empty_axes)?;
    let groups = groups(x.shape(), &reduced).ok_or_else(|| {
        shape_err(
            at,
            inputs,
            "the reduced shape has more elements than fit in memory",
        )
    })?;
    let out_shape: Vec<usize> = x
        .shape()
        .iter()
        .zip(&reduced)
        .filter_map(|(&d, &r)| match (r, keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let a = Arr::from_tensor(x);
    let out = match &a.data {
        Data::F(v) => {
            let r = groups
                .iter()
                .map(|g| reduce_floats(kind, &pick(v, g)))
                .collect();
            Arr::floats(x.dtype(), out_shape, r)
        }
        Data::I(v) => {
            let r = groups
                .iter()
                .map(|g| reduce_ints(kind, x.dtype(), &pick(v, g)))
                .collect::<Option<Vec<i128>>>()
                .ok_or_else(|| {
                    super::eval_err(
                        at,
                        format!(
                            "{} gives a non-finite result, which has no {} value \
                             (the mean of an empty set, the log of 0, ...)",
                            kind.name(),
                            x.dtype()
                        ),
                    )
                })?;
            Arr::ints(x.dtype(), out_shape, r)
        }
    };
    Ok(out.to_tensor())
}

/// Bool is accepted only by ReduceMax and ReduceMin.
fn check_dtype(kind: ReduceOp, dtype: DType, at: &At) -> Result<()> {
    if dtype == DType::Bool && !matches!(kind, ReduceOp::Max | ReduceOp::Min) {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: 0,
            dtype,
            expected: "a numeric dtype (bool only for reduce_max and reduce_min)".into(),
        });
    }
    Ok(())
}

/// Which axes are reduced, one flag per axis of the data.
fn reduced_axes(
    at: &At,
    inputs: &[Option<&Tensor>],
    rank: usize,
    noop_with_empty_axes: bool,
) -> Result<Vec<bool>> {
    let axes = match inputs.get(1).copied().flatten() {
        None => Vec::new(),
        Some(t) if t.rank() > 1 => {
            return Err(shape_err(at, inputs, "axes must be a 1-D tensor"));
        }
        Some(t) => read_ints(t, at, "axes")?,
    };
    if axes.is_empty() {
        return Ok(vec![!noop_with_empty_axes; rank]);
    }
    let mut mask = vec![false; rank];
    for &a in &axes {
        let ax = normalize_axis(a, rank).ok_or_else(|| {
            super::eval_err(
                at,
                format!("axes {axes:?}: axis {a} is out of range for data of rank {rank}"),
            )
        })?;
        if mask[ax] {
            return Err(super::eval_err(
                at,
                format!("axes {axes:?} name axis {ax} more than once"),
            ));
        }
        mask[ax] = true;
    }
    Ok(mask)
}

/// For each output element (row-major over the shape with reduced axes set to 1), the flat
/// indices of the input elements it reduces, in row-major order. `None` when the output's
/// element count overflows (an empty input with huge kept extents).
fn groups(shape: &[usize], reduced: &[bool]) -> Option<Vec<Vec<usize>>> {
    let kept: Vec<usize> = shape
        .iter()
        .zip(reduced)
        .map(|(&d, &r)| if r { 1 } else { d })
        .collect();
    let kept_strides = strides_of(&kept);
    let mut groups = vec![Vec::new(); checked_product(&kept)?];
    let n = super::saturating_product(shape);
    let mut idx = vec![0usize; shape.len()];
    for flat in 0..n {
        let g: usize = (0..shape.len())
            .filter(|&a| !reduced[a])
            .map(|a| idx[a] * kept_strides[a])
            .sum();
        groups[g].push(flat);
        for a in (0..shape.len()).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    Some(groups)
}

/// The elements of `v` at `idx`, in order.
fn pick<T: Copy>(v: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| v[i]).collect()
}

/// One float reduction in f64. An empty set gives the reduction's identity (Max: -inf,
/// Min: +inf, Mean: NaN, LogSum/LogSumExp: -inf). Max and Min propagate NaN.
fn reduce_floats(kind: ReduceOp, v: &[f64]) -> f64 {
    let sum = |f: fn(f64) -> f64| v.iter().map(|&x| f(x)).sum::<f64>();
    match kind {
        ReduceOp::Sum => sum(|x| x),
        ReduceOp::Mean => sum(|x| x) / v.len() as f64,
        ReduceOp::Max => extreme_nan(v, true),
        ReduceOp::Min => extreme_nan(v, false),
        ReduceOp::Prod => v.iter().product(),
        ReduceOp::L1 => sum(f64::abs),
        ReduceOp::L2 => sum(|x| x * x).sqrt(),
        ReduceOp::LogSum => sum(|x| x).ln(),
        ReduceOp::LogSumExp => log_sum_exp(v),
        ReduceOp::SumSquare => sum(|x| x * x),
    }
}

/// Maximum (or minimum) with NaN propagation; -inf (+inf) for an empty set.
fn extreme_nan(v: &[f64], largest: bool) -> f64 {
    let start = if largest {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    v.iter().fold(start, |m, &x| {
        let better = if largest { x > m } else { x < m };
        if x.is_nan() || better { x } else { m }
    })
}

/// `ln(sum(exp(v)))`, shifted by the maximum so that large values do not overflow. An empty
/// set or all -inf gives -inf; any +inf gives +inf; any NaN gives NaN.
fn log_sum_exp(v: &[f64]) -> f64 {
    let m = extreme_nan(v, true);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|&x| (x - m).exp()).sum::<f64>().ln()
}

/// One integer (or bool) reduction, exact where the result is an integer combination
/// (wrapping on i128 agrees with the dtype's wrapping once narrowed). Mean divides exactly and
/// truncates toward zero; L2, LogSum and LogSumExp are computed in f64 and truncated toward
/// zero. `None` when the result has no integer value (Mean of an empty set, the log of 0, ...).
fn reduce_ints(kind: ReduceOp, dtype: DType, v: &[i128]) -> Option<i128> {
    let (lo, hi) = dtype.int_range().unwrap_or((i128::MIN, i128::MAX));
    let sum = |f: fn(i128) -> i128| v.iter().fold(0i128, |s, &x| s.wrapping_add(f(x)));
    let floats = || v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    match kind {
        ReduceOp::Sum => Some(sum(|x| x)),
        ReduceOp::Mean => sum(|x| x).checked_div(v.len() as i128),
        ReduceOp::Max => Some(v.iter().copied().max().unwrap_or(lo)),
        ReduceOp::Min => Some(v.iter().copied().min().unwrap_or(hi)),
        ReduceOp::Prod => Some(v.iter().fold(1i128, |p, &x| p.wrapping_mul(x))),
        ReduceOp::L1 => Some(sum(i128::wrapping_abs)),
        ReduceOp::SumSquare => Some(sum(|x| x.wrapping_mul(x))),
        ReduceOp::L2 | ReduceOp::LogSum | ReduceOp::LogSumExp => {
            let r = reduce_floats(kind, &floats());
            r.is_finite().then(|| r.trunc() as i128)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::dtype::DType;
    use crate::error::IrError;
    use crate::op::{Op, ReduceOp};
    use crate::tensor::Tensor;
    use half::f16;

    fn op(kind: ReduceOp, keepdims: bool, noop: bool) -> Op {
        Op::Reduce {
            kind,
            keepdims,
            noop_with_empty_axes: noop,
        }
    }

    /// x = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]] reduced over `axes`.
    fn cube(kind: ReduceOp, axes: &[i64], keepdims: bool) -> Tensor {
        let x = f32t(&[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        run1(&op(kind, keepdims, false), &[&x, &i64s(axes)]).unwrap()
    }

    #[test]
    fn sum_over_one_axis_both_keepdims() {
        let f = DType::F32;
        assert_close(
            &cube(ReduceOp::Sum, &[1], true),
            f,
            &[2, 1, 2],
            &[4.0, 6.0, 12.0, 14.0],
            0.0,
        );
        assert_close(
            &cube(ReduceOp::Sum, &[1], false),
            f,
            &[2, 2],
            &[4.0, 6.0, 12.0, 14.0],
            0.0,
        );
        // Negative axes, several of them, in any order.
        assert_close(
            &cube(ReduceOp::Sum, &[-1, 0], false),
            f,
            &[2],
            &[14.0, 22.0],
            0.0,
        );
        assert_close(
            &cube(ReduceOp::Sum, &[2, -3], true),
            f,
            &[1, 2, 1],
            &[14.0, 22.0],
            0.0,
        );
    }

    #[test]
    fn every_kind_over_the_last_axis() {
        let f = DType::F32;
        let x = f32t(&[2, 3], &[1.0, -2.0, 3.0, 0.5, 0.25, 4.0]);
        let ax = i64s(&[-1]);
        let r = |k| run1(&op(k, false, false), &[&x, &ax]).unwrap();
        assert_close(&r(ReduceOp::Sum), f, &[2], &[2.0, 4.75], 0.0);
        assert_close(&r(ReduceOp::Mean), f, &[2], &[2.0 / 3.0, 4.75 / 3.0], 1e-7);
        assert_close(&r(ReduceOp::Max), f, &[2], &[3.0, 4.0], 0.0);
        assert_close(&r(ReduceOp::Min), f, &[2], &[-2.0, 0.25], 0.0);
        assert_close(&r(ReduceOp::Prod), f, &[2], &[-6.0, 0.5], 0.0);
        assert_close(&r(ReduceOp::L1), f, &[2], &[6.0, 4.75], 0.0);
        assert_close(
            &r(ReduceOp::L2),
            f,
            &[2],
            &[14f64.sqrt(), 16.3125f64.sqrt()],
            1e-7,
        );
        assert_close(&r(ReduceOp::SumSquare), f, &[2], &[14.0, 16.3125], 0.0);
        assert_close(
            &r(ReduceOp::LogSum),
            f,
            &[2],
            &[2f64.ln(), 4.75f64.ln()],
            1e-7,
        );
        // numpy: np.log(np.exp(x).sum(-1))
        assert_close(
            &r(ReduceOp::LogSumExp),
            f,
            &[2],
            &[3.1328452337, 4.0523221378],
            1e-7,
        );
    }

    #[test]
    fn log_sum_exp_is_stable_for_large_values() {
        let x = f32t(&[3], &[1000.0, 1000.0, -f32::INFINITY]);
        let y = run1(&op(ReduceOp::LogSumExp, false, false), &[&x]).unwrap();
        assert_close(&y, DType::F32, &[], &[1000.0 + 2f64.ln()], 1e-7);
        let all_neg_inf = f32t(&[2], &[-f32::INFINITY; 2]);
        let y = run1(&op(ReduceOp::LogSumExp, false, false), &[&all_neg_inf]).unwrap();
        assert_close(&y, DType::F32, &[], &[f64::NEG_INFINITY], 0.0);
        let pos_inf = f32t(&[2], &[1.0, f32::INFINITY]);
        let y = run1(&op(ReduceOp::LogSumExp, false, false), &[&pos_inf]).unwrap();
        assert_close(&y, DType::F32, &[], &[f64::INFINITY], 0.0);
    }

    #[test]
    fn absent_or_empty_axes_reduce_everything() {
        let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = run1(&op(ReduceOp::Sum, true, false), &[&x]).unwrap();
        assert_close(&y, DType::F32, &[1, 1], &[10.0], 0.0);
        let y = run1(&op(ReduceOp::Sum, false, false), &[&x, &i64s(&[])]).unwrap();
        assert_close(&y, DType::F32, &[], &[10.0], 0.0);
        // Optional input given as None.
        let y = run_n(&op(ReduceOp::Max, false, false), &[Some(&x), None], 1).unwrap();
        assert_close(&y[0], DType::F32, &[], &[4.0], 0.0);
    }

    #[test]
    fn noop_with_empty_axes_keeps_the_shape() {
        let x = f32t(&[2, 2], &[1.0, -2.0, 3.0, 4.0]);
        for axes in [None, Some(i64s(&[]))] {
            let mut ins = vec![Some(&x)];
            ins.push(axes.as_ref());
            let sum = run_n(&op(ReduceOp::Sum, false, true), &ins, 1).unwrap();
            assert_eq!(sum[0], x);
            // Composite reductions still apply their elementwise part (ONNX schema).
            let sq = run_n(&op(ReduceOp::SumSquare, false, true), &ins, 1).unwrap();
            assert_close(&sq[0], DType::F32, &[2, 2], &[1.0, 4.0, 9.0, 16.0], 0.0);
            let l1 = run_n(&op(ReduceOp::L1, true, true), &ins, 1).unwrap();
            assert_close(&l1[0], DType::F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0], 0.0);
        }
        // Non-empty axes are reduced whatever the flag says.
        let y = run1(&op(ReduceOp::Sum, false, true), &[&x, &i64s(&[0])]).unwrap();
        assert_close(&y, DType::F32, &[2], &[4.0, 2.0], 0.0);
    }

    #[test]
    fn rank0_input_reduces_its_single_element() {
        let x = Tensor::scalar(-3.0f32);
        let y = run1(&op(ReduceOp::SumSquare, true, false), &[&x]).unwrap();
        assert_close(&y, DType::F32, &[], &[9.0], 0.0);
        let y = run1(&op(ReduceOp::Mean, false, false), &[&x]).unwrap();
        assert_close(&y, DType::F32, &[], &[-3.0], 0.0);
    }

    #[test]
    fn zero_size_axis_gives_identities() {
        let x = f32t(&[2, 0], &[]);
        let ax = i64s(&[1]);
        let cases = [
            (ReduceOp::Sum, 0.0),
            (ReduceOp::L1, 0.0),
            (ReduceOp::L2, 0.0),
            (ReduceOp::SumSquare, 0.0),
            (ReduceOp::Prod, 1.0),
            (ReduceOp::Max, f64::NEG_INFINITY),
            (ReduceOp::Min, f64::INFINITY),
            (ReduceOp::Mean, f64::NAN),
            (ReduceOp::LogSum, f64::NEG_INFINITY),
            (ReduceOp::LogSumExp, f64::NEG_INFINITY),
        ];
        for (k, want) in cases {
            let y = run1(&op(k, true, false), &[&x, &ax]).unwrap();
            assert_close(&y, DType::F32, &[2, 1], &[want, want], 0.0);
        }
        // An empty input whose reduced shape is too large to build.
        let huge = Tensor::from_bytes(DType::F32, &[1 << 40, 0, 1 << 40], vec![]).unwrap();
        let e = run1(&op(ReduceOp::Sum, true, false), &[&huge, &i64s(&[1])]);
        assert!(matches!(e, Err(IrError::InputShape { .. })));
        // Reducing the non-empty axis of an empty tensor gives an empty result.
        let y = run1(&op(ReduceOp::Sum, false, false), &[&x, &i64s(&[0])]).unwrap();
        assert_close(&y, DType::F32, &[0], &[], 0.0);
        // Integers: Max/Min of nothing are the dtype's extremes.
        let xi = Tensor::from_slice::<i32>(&[0, 3], &[]).unwrap();
        let y = run1(&op(ReduceOp::Max, false, false), &[&xi, &i64s(&[0])]).unwrap();
        assert_eq!(y.to_vec::<i32>().unwrap(), vec![i32::MIN; 3]);
        let y = run1(&op(ReduceOp::Min, false, false), &[&xi, &i64s(&[0])]).unwrap();
        assert_eq!(y.to_vec::<i32>().unwrap(), vec![i32::MAX; 3]);
        let y = run1(&op(ReduceOp::Prod, false, false), &[&xi, &i64s(&[0])]).unwrap();
        assert_eq!(y.to_vec::<i32>().unwrap(), vec![1; 3]);
        // Mean of nothing has no integer value.
        let e = run1(&op(ReduceOp::Mean, false, false), &[&xi, &i64s(&[0])]);
        assert!(matches!(e, Err(IrError::Eval { .. })));
    }

    #[test]
    fn max_and_min_propagate_nan() {
        let x = f32t(&[2, 3], &[1.0, f32::NAN, 3.0, f32::NAN, -1.0, 2.0]);
        for k in [ReduceOp::Max, ReduceOp::Min] {
            let y = run1(&op(k, false, false), &[&x, &i64s(&[1])]).unwrap();
            assert_close(&y, DType::F32, &[2], &[f64::NAN, f64::NAN], 0.0);
        }
        let y = run1(&op(ReduceOp::Sum, false, false), &[&x, &i64s(&[0])]).unwrap();
        assert_close(&y, DType::F32, &[3], &[f64::NAN, f64::NAN, 5.0], 0.0);
    }

    #[test]
    fn integers_are_exact_and_wrap() {
        let x = Tensor::from_slice(&[3], &[i32::MAX, 1, 1]).unwrap();
        let sum = run1(&op(ReduceOp::Sum, false, false), &[&x]).unwrap();
        assert_eq!(sum.to_vec::<i32>().unwrap(), vec![i32::MIN + 1]);
        // i64 values whose f64 sum would be inexact.
        let big = Tensor::from_slice(&[2], &[(1i64 << 60) + 1, 1]).unwrap();
        let s = run1(&op(ReduceOp::Sum, false, false), &[&big]).unwrap();
        assert_eq!(s.to_vec::<i64>().unwrap(), vec![(1i64 << 60) + 2]);
        let p = Tensor::from_slice(&[3], &[1i64 << 40, 1 << 40, 3]).unwrap();
        let prod = run1(&op(ReduceOp::Prod, false, false), &[&p]).unwrap();
        assert_eq!(prod.to_vec::<i64>().unwrap(), vec![0]);
        let sq = Tensor::from_slice(&[2], &[200u8, 3]).unwrap();
        let y = run1(&op(ReduceOp::SumSquare, false, false), &[&sq]).unwrap();
        assert_eq!(y.to_vec::<u8>().unwrap(), vec![(40009u32 % 256) as u8]);
        let neg = Tensor::from_slice(&[2], &[i8::MIN, 1]).unwrap();
        let y = run1(&op(ReduceOp::L1, false, false), &[&neg]).unwrap();
        assert_eq!(y.to_vec::<i8>().unwrap(), vec![-127]);
    }

    #[test]
    fn integer_float_kinds_truncate_toward_zero() {
        let x = Tensor::from_slice(&[2, 2], &[-7i32, 0, 3, 4]).unwrap();
        let r = |k| run1(&op(k, false, false), &[&x, &i64s(&[1])]).unwrap();
        assert_eq!(r(ReduceOp::Mean).to_vec::<i32>().unwrap(), vec![-3, 3]);
        assert_eq!(r(ReduceOp::L2).to_vec::<i32>().unwrap(), vec![7, 5]);
        // log(7) = 1.95; log(exp(3) + exp(4)) = 4.31
        let x = Tensor::from_slice(&[2, 2], &[3i64, 4, 3, 4]).unwrap();
        let ls = run1(&op(ReduceOp::LogSum, false, false), &[&x, &i64s(&[1])]).unwrap();
        assert_eq!(ls.to_vec::<i64>().unwrap(), vec![1, 1]);
        let lse = run1(&op(ReduceOp::LogSumExp, false, false), &[&x, &i64s(&[1])]).unwrap();
        assert_eq!(lse.to_vec::<i64>().unwrap(), vec![4, 4]);
        // log(0) has no integer value.
        let z = Tensor::from_slice(&[2], &[0i32, 0]).unwrap();
        assert!(run1(&op(ReduceOp::LogSum, false, false), &[&z]).is_err());
    }

    #[test]
    fn bool_max_min() {
        let b = Tensor::from_slice(&[2, 2], &[true, false, false, false]).unwrap();
        let mx = run1(&op(ReduceOp::Max, false, false), &[&b, &i64s(&[1])]).unwrap();
        assert_eq!(mx.to_vec::<bool>().unwrap(), vec![true, false]);
        let mn = run1(&op(ReduceOp::Min, true, false), &[&b, &i64s(&[0])]).unwrap();
        assert_eq!(mn.shape(), &[1, 2]);
        assert_eq!(mn.to_vec::<bool>().unwrap(), vec![false, false]);
        let e = run1(&op(ReduceOp::Sum, false, false), &[&b]);
        assert!(matches!(e, Err(IrError::InputDType { .. })));
    }

    #[test]
    fn f16_rounds_the_result() {
        // 2048 + 1 + 1 = 2050 exactly in f64; adding in f16 would stall at 2048.
        let x = f16t(&[3], &[2048.0, 1.0, 1.0]);
        let y = run1(&op(ReduceOp::Sum, false, false), &[&x]).unwrap();
        assert_eq!(y.to_vec::<f16>().unwrap(), vec![f16::from_f32(2050.0)]);
        let m = run1(
            &op(ReduceOp::Mean, false, false),
            &[&f16t(&[3], &[1.0, 1.0, 0.0])],
        )
        .unwrap();
        assert_eq!(m.to_vec::<f16>().unwrap(), vec![f16::from_f64(2.0 / 3.0)]);
    }

    #[test]
    fn bad_axes_are_errors() {
        let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = op(ReduceOp::Sum, true, false);
        let err = |axes: &Tensor| run1(&s, &[&x, axes]).unwrap_err();
        assert!(matches!(err(&i64s(&[2])), IrError::Eval { .. }));
        assert!(matches!(err(&i64s(&[-3])), IrError::Eval { .. }));
        assert!(matches!(err(&i64s(&[1, -1])), IrError::Eval { .. }));
        assert!(matches!(err(&f32t(&[1], &[0.0])), IrError::Eval { .. }));
        let m = Tensor::from_slice(&[1, 1], &[0i64]).unwrap();
        assert!(matches!(err(&m), IrError::InputShape { .. }));
        // A rank-0 input has no axis 0.
        let e = run1(&s, &[&Tensor::scalar(1.0f32), &i64s(&[0])]);
        assert!(matches!(e, Err(IrError::Eval { .. })));
    }
}
