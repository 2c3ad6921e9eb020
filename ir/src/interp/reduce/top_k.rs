//! TopK: the `k` largest (or smallest) elements along one axis, with their indices.

use super::super::values::{Arr, Data, need};
use super::{Lanes, axis_attr, cmp_elems, eval_err, numeric_input, scalar_operand};
use crate::dtype::DType;
use crate::error::{At, Result};
use crate::tensor::Tensor;

/// TopK of inputs `(X, K)` along `axis`; outputs `(Values, Indices)` (indices i64), both with
/// the axis shrunk to `k`.
///
/// Results are always sorted (largest first, or smallest first when `largest` is false), which
/// ONNX allows for `sorted = false` too. Equal values keep the lower index first; NaN sorts
/// above every number, as in NumPy.
pub(super) fn top_k(
    axis: i64,
    largest: bool,
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Vec<Tensor>> {
    let x = numeric_input(inputs, 0, at)?;
    let ax = axis_attr(at, axis, x.rank())?;
    let k = scalar_operand(need(inputs, 1, at)?, at, "k")?;
    let lanes = Lanes::new(x.shape(), ax);
    let k = usize::try_from(k)
        .ok()
        .filter(|&k| k <= lanes.len)
        .ok_or_else(|| {
            eval_err(
                at,
                format!(
                    "k = {k} must be between 0 and the extent {} of axis {ax} (input shape {})",
                    lanes.len,
                    x.ir_shape()
                ),
            )
        })?;
    let a = Arr::from_tensor(x);
    let mut out_shape = x.shape().to_vec();
    out_shape[ax] = k;
    let n_out = lanes.count() * k;
    let mut picks = vec![0usize; n_out];
    let mut indices = vec![0i128; n_out];
    for l in 0..lanes.count() {
        let lane = lanes.lane(l);
        for (j, pos) in ranked(&a.data, &lane, largest)
            .into_iter()
            .take(k)
            .enumerate()
        {
            let o = lanes.flat(l, j, k);
            picks[o] = lane[pos];
            indices[o] = pos as i128;
        }
    }
    let values = Arr {
        dtype: a.dtype,
        shape: out_shape.clone(),
        data: a.data.gather(&picks),
    };
    let indices = Arr::ints(DType::I64, out_shape, indices);
    Ok(vec![values.to_tensor(), indices.to_tensor()])
}

/// Positions within `lane` ordered best first (descending when `largest`, else ascending),
/// ties by position.
fn ranked(data: &Data, lane: &[usize], largest: bool) -> Vec<usize> {
    let mut pos: Vec<usize> = (0..lane.len()).collect();
    pos.sort_by(|&p, &q| {
        let o = cmp_elems(data, lane[p], lane[q]);
        let o = if largest { o.reverse() } else { o };
        o.then(p.cmp(&q))
    });
    pos
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::dtype::DType;
    use crate::error::IrError;
    use crate::op::Op;
    use crate::tensor::Tensor;
    use half::f16;

    fn topk(axis: i64, largest: bool) -> Op {
        Op::TopK {
            axis,
            largest,
            sorted: true,
        }
    }

    fn run2(op: &Op, x: &Tensor, k: &Tensor) -> (Tensor, Vec<i64>) {
        let mut out = run_n(op, &[Some(x), Some(k)], 2).unwrap();
        let idx = out.pop().unwrap();
        assert_eq!(idx.dtype(), DType::I64);
        (out.pop().unwrap(), idx.to_vec::<i64>().unwrap())
    }

    #[test]
    fn largest_and_smallest_along_last_axis() {
        let x = f32t(&[2, 4], &[0.0, 3.0, 1.0, 3.0, 4.0, -1.0, 2.0, 8.0]);
        let (v, i) = run2(&topk(-1, true), &x, &i64s(&[3]));
        assert_close(
            &v,
            DType::F32,
            &[2, 3],
            &[3.0, 3.0, 1.0, 8.0, 4.0, 2.0],
            0.0,
        );
        assert_eq!(i, vec![1, 3, 2, 3, 0, 2]);
        let (v, i) = run2(&topk(1, false), &x, &i64s(&[2]));
        assert_close(&v, DType::F32, &[2, 2], &[0.0, 1.0, -1.0, 2.0], 0.0);
        assert_eq!(i, vec![0, 2, 1, 2]);
        // sorted = false may still sort.
        let unsorted = Op::TopK {
            axis: 1,
            largest: true,
            sorted: false,
        };
        let (_, i) = run2(&unsorted, &x, &i64s(&[1]));
        assert_eq!(i, vec![1, 3]);
    }

    #[test]
    fn along_axis_zero_with_ties_and_nan() {
        let x = f32t(&[4, 1], &[2.0, f32::NAN, 2.0, 5.0]);
        let (v, i) = run2(&topk(0, true), &x, &Tensor::scalar(4i64));
        assert_close(&v, DType::F32, &[4, 1], &[f64::NAN, 5.0, 2.0, 2.0], 0.0);
        assert_eq!(i, vec![1, 3, 0, 2]);
        let (v, i) = run2(&topk(-2, false), &x, &i64s(&[3]));
        assert_close(&v, DType::F32, &[3, 1], &[2.0, 2.0, 5.0], 0.0);
        assert_eq!(i, vec![0, 2, 3]);
    }

    #[test]
    fn integers_f16_and_k_zero() {
        let x = Tensor::from_slice(&[3], &[u64::MAX, 7, u64::MAX - 1]).unwrap();
        let (v, i) = run2(&topk(0, true), &x, &i64s(&[2]));
        assert_eq!(v.to_vec::<u64>().unwrap(), vec![u64::MAX, u64::MAX - 1]);
        assert_eq!(i, vec![0, 2]);
        let h = f16t(&[3], &[0.5, -2.0, 1.5]);
        let (v, i) = run2(&topk(0, false), &h, &i64s(&[1]));
        assert_eq!(v.to_vec::<f16>().unwrap(), vec![f16::from_f32(-2.0)]);
        assert_eq!(i, vec![1]);
        let (v, i) = run2(&topk(0, true), &h, &i64s(&[0]));
        assert_eq!((v.shape(), i.len()), (&[0][..], 0));
    }

    #[test]
    fn errors() {
        let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let err = |op: &Op, k: &Tensor| run_n(op, &[Some(&x), Some(k)], 2).unwrap_err();
        assert!(matches!(
            err(&topk(1, true), &i64s(&[3])),
            IrError::Eval { .. }
        ));
        assert!(matches!(
            err(&topk(1, true), &i64s(&[-1])),
            IrError::Eval { .. }
        ));
        assert!(matches!(
            err(&topk(1, true), &i64s(&[1, 1])),
            IrError::Eval { .. }
        ));
        assert!(matches!(
            err(&topk(2, true), &i64s(&[1])),
            IrError::Attribute { .. }
        ));
        let e = run_n(&topk(0, true), &[Some(&x), None], 2);
        assert!(matches!(e, Err(IrError::Eval { .. })));
    }
}
