//! The selecting and accumulating elementwise operators: variadic Min/Max/Sum/Mean, Clip and
//! Where.

use super::{
    arity, broadcast_all, float_tensor, floats_of, int_tensor, ints_of, need, operands, same_dtype,
    shapes_of, unsupported,
};
use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::op::VariadicOp;
use crate::tensor::Tensor;

/// Evaluates Min/Max/Sum/Mean over one or more operands broadcast together.
pub(super) fn variadic(op: VariadicOp, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    arity(at, inputs, 1, usize::MAX)?;
    let ts = (0..inputs.len())
        .map(|i| need(inputs, i, at))
        .collect::<Result<Vec<&Tensor>>>()?;
    let dtype = ts[0].dtype();
    let accepted = match op {
        VariadicOp::Mean => dtype.is_float(),
        _ => dtype.is_numeric(),
    };
    if !accepted {
        return Err(unsupported(
            at,
            dtype,
            format!("`{}` does not take {dtype} operands", op.name()),
        ));
    }
    for (i, t) in ts.iter().enumerate().skip(1) {
        same_dtype(at, t, i, dtype, 0)?;
    }
    let (shape, idx) = broadcast_all(at, &ts)?;
    let n = shape.iter().product::<usize>();
    if dtype.is_float() {
        let vals: Vec<Vec<f64>> = ts.iter().map(|t| floats_of(t)).collect();
        let column = |k: usize| vals.iter().zip(&idx).map(move |(v, ix)| v[ix[k]]);
        let out = (0..n)
            .map(|k| match op {
                VariadicOp::Min => column(k).reduce(min_f).unwrap_or(f64::NAN),
                VariadicOp::Max => column(k).reduce(max_f).unwrap_or(f64::NAN),
                VariadicOp::Sum => column(k).sum(),
                VariadicOp::Mean => column(k).sum::<f64>() / ts.len() as f64,
            })
            .collect();
        return Ok(float_tensor(dtype, shape, out));
    }
    let vals: Vec<Vec<i128>> = ts.iter().map(|t| ints_of(t)).collect();
    let column = |k: usize| vals.iter().zip(&idx).map(move |(v, ix)| v[ix[k]]);
    let out = (0..n)
        .map(|k| match op {
            VariadicOp::Min => column(k).min().unwrap_or(0),
            VariadicOp::Max => column(k).max().unwrap_or(0),
            // Inputs are below 2^64 in magnitude, so wrapping in i128 is exact modulo 2^64.
            _ => column(k).fold(0i128, i128::wrapping_add),
        })
        .collect();
    Ok(int_tensor(dtype, shape, out))
}

/// Minimum that propagates NaN from either side.
fn min_f(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Maximum that propagates NaN from either side.
fn max_f(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Reads Clip's optional bound `i`: absent, or a one-element tensor of x's dtype.
fn bound<'a>(
    at: &At,
    inputs: &[Option<&'a Tensor>],
    i: usize,
    x: &Tensor,
) -> Result<Option<&'a Tensor>> {
    let Some(t) = inputs.get(i).copied().flatten() else {
        return Ok(None);
    };
    same_dtype(at, t, i, x.dtype(), 0)?;
    if t.len() != 1 {
        let present: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
        return Err(IrError::InputShape {
            at: at.clone(),
            message: format!(
                "the {} bound must be a scalar or a one-element tensor",
                if i == 1 { "min" } else { "max" }
            ),
            shapes: shapes_of(&present),
        });
    }
    Ok(Some(t))
}

/// Clip `(x, min?, max?)`: `min(max(x, min), max)` as numpy.clip, so NaN propagates and
/// every element becomes `max` when `min > max`.
pub(super) fn clip(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    arity(at, inputs, 1, 3)?;
    let x = need(inputs, 0, at)?;
    let dtype = x.dtype();
    if !dtype.is_numeric() {
        return Err(unsupported(at, dtype, "`clip` needs a numeric operand"));
    }
    let lo = bound(at, inputs, 1, x)?;
    let hi = bound(at, inputs, 2, x)?;
    let shape = x.shape().to_vec();
    if dtype.is_float() {
        let lo = lo.map(|t| t.get_f64(0));
        let hi = hi.map(|t| t.get_f64(0));
        let f = |v: f64| {
            let v = lo.map_or(v, |l| max_f(v, l));
            hi.map_or(v, |h| min_f(v, h))
        };
        return Ok(float_tensor(
            dtype,
            shape,
            floats_of(x).into_iter().map(f).collect(),
        ));
    }
    let lo = lo.and_then(|t| t.get_i128(0));
    let hi = hi.and_then(|t| t.get_i128(0));
    let f = |v: i128| {
        let v = lo.map_or(v, |l| v.max(l));
        hi.map_or(v, |h| v.min(h))
    };
    Ok(int_tensor(
        dtype,
        shape,
        ints_of(x).into_iter().map(f).collect(),
    ))
}

/// Where `(cond, x, y)`: `cond ? x : y` with all three broadcast together; elements are copied
/// bit for bit.
pub(super) fn where_select(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let [cond, x, y] = operands::<3>(at, inputs)?;
    if cond.dtype() != DType::Bool {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: 0,
            dtype: cond.dtype(),
            expected: "bool".into(),
        });
    }
    same_dtype(at, y, 2, x.dtype(), 1)?;
    let (shape, idx) = broadcast_all(at, &[cond, x, y])?;
    let size = x.dtype().size_bytes();
    let (cb, xb, yb) = (cond.bytes(), x.bytes(), y.bytes());
    let mut bytes = Vec::with_capacity(idx[0].len() * size);
    for k in 0..idx[0].len() {
        let (src, i) = if cb[idx[0][k]] != 0 {
            (xb, idx[1][k])
        } else {
            (yb, idx[2][k])
        };
        bytes.extend_from_slice(&src[i * size..(i + 1) * size]);
    }
    Ok(Tensor::from_bytes(x.dtype(), &shape, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::error::IrError;
    use crate::op::{Op, VariadicOp as V};
    use crate::tensor::Tensor;

    const NAN: f64 = f64::NAN;

    fn var(op: V, ts: &[&Tensor]) -> Tensor {
        run(Op::Variadic(op), ts).unwrap()
    }

    #[test]
    fn variadic_floats_broadcast_and_propagate_nan() {
        let a = f32s(&[2, 1], &[1., f32::NAN]);
        let b = f32s(&[3], &[0., 2., -1.]);
        let c = Tensor::scalar(0.5f32);
        assert_same(
            &as_f64(&var(V::Min, &[&a, &b, &c])),
            &[0., 0.5, -1., NAN, NAN, NAN],
        );
        assert_same(
            &as_f64(&var(V::Max, &[&a, &b, &c])),
            &[1., 2., 1., NAN, NAN, NAN],
        );
        assert_same(
            &as_f64(&var(V::Sum, &[&a, &b, &c])),
            &[1.5, 3.5, 0.5, NAN, NAN, NAN],
        );
        assert_same(&as_f64(&var(V::Mean, &[&b, &c])), &[0.25, 1.25, -0.25]);
        let r = var(V::Max, &[&a]);
        assert_eq!(r.shape(), &[2, 1]);
        assert_same(&as_f64(&r), &[1., NAN]);
        let e = var(V::Sum, &[&f32s(&[0], &[]), &c]);
        assert_eq!((e.shape(), e.len()), (&[0usize][..], 0));
    }

    #[test]
    fn variadic_sum_rounds_once_in_f16() {
        // 2048 + 1 + 2^-14 = 2049.00006...: above the tie, so f16 rounds up to 2050.
        let a = f16s(&[1], &[2048.0]);
        let b = f16s(&[1], &[1.0]);
        let c = f16s(&[1], &[6.1035156e-5]);
        assert_eq!(as_f64(&var(V::Sum, &[&a, &b, &c])), vec![2050.0]);
        let h = bf16s(&[2], &[1.0, 3.0]);
        assert_eq!(
            as_f64(&var(V::Mean, &[&h, &bf16s(&[1], &[0.0])])),
            vec![0.5, 1.5]
        );
    }

    #[test]
    fn variadic_ints_exact_with_wrap() {
        let a = tensor(&[3], &[i32::MAX, -5, 7]);
        let b = tensor(&[3], &[1i32, -6, 7]);
        assert_eq!(
            var(V::Sum, &[&a, &b]).to_vec::<i32>().unwrap(),
            vec![i32::MIN, -11, 14]
        );
        assert_eq!(
            var(V::Min, &[&a, &b]).to_vec::<i32>().unwrap(),
            vec![1, -6, 7]
        );
        assert_eq!(
            var(V::Max, &[&a, &b]).to_vec::<i32>().unwrap(),
            vec![i32::MAX, -5, 7]
        );
        let u = tensor(&[1], &[u64::MAX]);
        assert_eq!(
            var(V::Max, &[&u, &tensor(&[1], &[1u64])])
                .to_vec::<u64>()
                .unwrap(),
            vec![u64::MAX]
        );
    }

    #[test]
    fn variadic_errors() {
        let i = tensor(&[1], &[1i32]);
        let e = run(Op::Variadic(V::Mean), &[&i]).unwrap_err();
        assert!(matches!(e, IrError::Unsupported { .. }), "{e}");
        let b = tensor(&[1], &[true]);
        let e = run(Op::Variadic(V::Max), &[&b]).unwrap_err();
        assert!(matches!(e, IrError::Unsupported { .. }), "{e}");
        let f = f32s(&[2], &[0., 0.]);
        let e = run(Op::Variadic(V::Sum), &[&f, &tensor(&[2], &[0.0f64, 0.])]).unwrap_err();
        assert!(matches!(e, IrError::InputDType { input: 1, .. }), "{e}");
        let e = run(Op::Variadic(V::Sum), &[&f, &f32s(&[3], &[0.; 3])]).unwrap_err();
        assert!(matches!(e, IrError::InputShape { .. }), "{e}");
        let e = run(Op::Variadic(V::Sum), &[]).unwrap_err();
        assert!(matches!(e, IrError::Arity { actual: 0, .. }), "{e}");
    }

    #[test]
    fn clip_bounds() {
        let x = f32s(&[5], &[-2., 0.5, 3., f32::NAN, f32::NEG_INFINITY]);
        let lo = Tensor::scalar(0.0f32);
        let hi = f32s(&[1], &[1.0]);
        let r = run(Op::Clip {}, &[&x, &lo, &hi]).unwrap();
        assert_same(&as_f64(&r), &[0., 0.5, 1., NAN, 0.]);
        // Only max (min absent).
        let args = [Some(&x), None, Some(&hi)];
        let r = super::clip(&at(), &args).unwrap();
        assert_same(&as_f64(&r), &[-2., 0.5, 1., NAN, f64::NEG_INFINITY]);
        // Only x: identity.
        let r = run(Op::Clip {}, &[&x]).unwrap();
        assert_same(&as_f64(&r), &as_f64(&x));
        // min > max: everything becomes max.
        let r = run(Op::Clip {}, &[&x, &f32s(&[], &[4.0]), &hi]).unwrap();
        assert_same(&as_f64(&r), &[1., 1., 1., NAN, 1.]);
        let i = tensor(&[4], &[i64::MIN, -1, 5, i64::MAX]);
        let r = run(
            Op::Clip {},
            &[&i, &tensor(&[], &[-3i64]), &tensor(&[], &[4i64])],
        )
        .unwrap();
        assert_eq!(r.to_vec::<i64>().unwrap(), vec![-3, -1, 4, 4]);
        let e = f32s(&[0], &[]);
        assert_eq!(run(Op::Clip {}, &[&e, &lo]).unwrap().len(), 0);
    }

    #[test]
    fn clip_errors() {
        let x = f32s(&[2], &[0., 1.]);
        let e = run(Op::Clip {}, &[&x, &x]).unwrap_err();
        assert!(matches!(e, IrError::InputShape { .. }), "{e}");
        let e = run(Op::Clip {}, &[&x, &tensor(&[], &[0.0f64])]).unwrap_err();
        assert!(matches!(e, IrError::InputDType { input: 1, .. }), "{e}");
        let b = tensor(&[1], &[true]);
        let e = run(Op::Clip {}, &[&b]).unwrap_err();
        assert!(matches!(e, IrError::Unsupported { .. }), "{e}");
        let e = run(Op::Clip {}, &[&x, &x, &x, &x]).unwrap_err();
        assert!(matches!(e, IrError::Arity { actual: 4, .. }), "{e}");
    }

    #[test]
    fn where_broadcasts_three_ways() {
        let c = tensor(&[2, 1], &[true, false]);
        let x = f32s(&[3], &[1., -0.0, f32::NAN]);
        let y = Tensor::scalar(9.0f32);
        let r = run(Op::Where {}, &[&c, &x, &y]).unwrap();
        assert_eq!(r.shape(), &[2, 3]);
        assert_same(&as_f64(&r), &[1., -0.0, NAN, 9., 9., 9.]);
        let xi = tensor(&[2], &[1u16, 2]);
        let yi = tensor(&[2, 2], &[7u16, 8, 9, 10]);
        let r = run(Op::Where {}, &[&tensor(&[], &[true]), &xi, &yi]).unwrap();
        assert_eq!(r.to_vec::<u16>().unwrap(), vec![1, 2, 1, 2]);
        let empty = tensor(&[0], &[] as &[bool]);
        let r = run(
            Op::Where {},
            &[
                &empty,
                &tensor(&[1], &[1u16]),
                &yi.clone().reshaped(&[4, 1]).unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(r.shape(), &[4, 0]);
        let r = run(
            Op::Where {},
            &[
                &empty,
                &xi.clone().reshaped(&[2, 1]).unwrap(),
                &tensor(&[1], &[0u16]),
            ],
        )
        .unwrap();
        assert_eq!(r.shape(), &[2, 0]);
    }

    #[test]
    fn where_errors() {
        let x = f32s(&[2], &[0., 1.]);
        let e = run(Op::Where {}, &[&x, &x, &x]).unwrap_err();
        assert!(matches!(e, IrError::InputDType { input: 0, .. }), "{e}");
        let c = tensor(&[2], &[true, false]);
        let e = run(Op::Where {}, &[&c, &x, &tensor(&[2], &[0i32, 1])]).unwrap_err();
        assert!(matches!(e, IrError::InputDType { input: 2, .. }), "{e}");
        let e = run(Op::Where {}, &[&c, &x, &f32s(&[3], &[0.; 3])]).unwrap_err();
        assert!(matches!(e, IrError::InputShape { .. }), "{e}");
    }
}
