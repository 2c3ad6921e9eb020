//! The attribute-free unary operators ([`UnaryOp`]): float math in f64, exact integer forms
//! for the ops that have one, logic on bools.

use super::{bool_tensor, float_tensor, floats_of, int_tensor, ints_of, operands, unsupported};
use crate::dtype::DType;
use crate::error::{At, Result};
use crate::op::UnaryOp;
use crate::tensor::Tensor;

/// Evaluates a unary operator on its single operand.
pub(super) fn eval(op: UnaryOp, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let [x] = operands::<1>(at, inputs)?;
    let dtype = x.dtype();
    let shape = x.shape().to_vec();
    if op == UnaryOp::Identity {
        return Ok(x.clone());
    }
    if dtype.is_float() {
        if op == UnaryOp::IsNaN {
            return Ok(bool_tensor(
                shape,
                floats_of(x).into_iter().map(f64::is_nan),
            ));
        }
        let f = float_fn(op).ok_or_else(|| {
            unsupported(
                at,
                dtype,
                format!("`{}` needs an integer or bool operand", op.name()),
            )
        })?;
        return Ok(float_tensor(
            dtype,
            shape,
            floats_of(x).into_iter().map(f).collect(),
        ));
    }
    if dtype == DType::Bool {
        if op != UnaryOp::Not {
            return Err(unsupported(
                at,
                dtype,
                format!("`{}` does not take bool", op.name()),
            ));
        }
        return Ok(int_tensor(
            dtype,
            shape,
            ints_of(x).into_iter().map(|v| 1 - v).collect(),
        ));
    }
    let f = int_fn(op)
        .ok_or_else(|| unsupported(at, dtype, format!("`{}` needs a float operand", op.name())))?;
    Ok(int_tensor(
        dtype,
        shape,
        ints_of(x).into_iter().map(f).collect(),
    ))
}

/// The f64 function of a float unary op; `None` for ops without a float form.
pub(super) fn float_fn(op: UnaryOp) -> Option<fn(f64) -> f64> {
    use UnaryOp as U;
    let f: fn(f64) -> f64 = match op {
        U::Identity => |x| x,
        U::Floor => f64::floor,
        U::Ceil => f64::ceil,
        U::Round => f64::round_ties_even,
        U::Neg => |x: f64| -x,
        U::Abs => f64::abs,
        U::Sign => sign,
        U::Sqrt => f64::sqrt,
        U::Reciprocal => f64::recip,
        U::Exp => f64::exp,
        U::Log => f64::ln,
        U::Sin => f64::sin,
        U::Cos => f64::cos,
        U::Tan => f64::tan,
        U::Asin => f64::asin,
        U::Acos => f64::acos,
        U::Atan => f64::atan,
        U::Sinh => f64::sinh,
        U::Cosh => f64::cosh,
        U::Tanh => f64::tanh,
        U::Asinh => f64::asinh,
        U::Acosh => f64::acosh,
        U::Atanh => f64::atanh,
        U::Erf => libm::erf,
        U::Sigmoid => sigmoid,
        U::Relu => |x: f64| if x > 0.0 || x.is_nan() { x } else { 0.0 },
        U::Softplus => softplus,
        U::Softsign => |x: f64| x / (1.0 + x.abs()),
        U::HardSwish => |x: f64| x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        U::Mish => |x: f64| x * softplus(x).tanh(),
        U::Not | U::IsNaN | U::BitwiseNot => return None,
    };
    Some(f)
}

/// The exact integer function of a unary op on signed or unsigned integers (results wrap to
/// the dtype afterwards); `None` for ops that need floats.
fn int_fn(op: UnaryOp) -> Option<fn(i128) -> i128> {
    use UnaryOp as U;
    let f: fn(i128) -> i128 = match op {
        U::Identity | U::Floor | U::Ceil | U::Round => |v| v,
        U::Neg => |v: i128| -v,
        U::Abs => i128::abs,
        U::Sign => i128::signum,
        U::Relu => |v: i128| v.max(0),
        U::BitwiseNot => |v: i128| !v,
        _ => return None,
    };
    Some(f)
}

/// -1, 0 or 1; NaN stays NaN and both zeros give +0.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

/// `1 / (1 + e^-x)` without overflow for large |x|.
pub(super) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)` in a form that neither overflows for large x nor loses small results.
pub(super) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::error::IrError;
    use crate::op::{Op, UnaryOp as U};
    use crate::tensor::Tensor;

    fn un(op: U, x: &Tensor) -> Tensor {
        run(Op::Unary(op), &[x]).unwrap()
    }

    fn un_f64(op: U, v: &[f64]) -> Vec<f64> {
        as_f64(&un(op, &tensor(&[v.len()], v)))
    }

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    #[test]
    fn sign_abs_neg_relu_on_special_floats() {
        let v = [-2.5, -0.0, 0.0, 3.0, NAN, -INF];
        assert_same(&un_f64(U::Sign, &v), &[-1., 0., 0., 1., NAN, -1.]);
        assert_same(&un_f64(U::Abs, &v), &[2.5, 0., 0., 3., NAN, INF]);
        assert_same(&un_f64(U::Neg, &v), &[2.5, 0., -0., -3., NAN, INF]);
        assert_same(&un_f64(U::Relu, &v), &[0., 0., 0., 3., NAN, 0.]);
        assert_same(&un_f64(U::Identity, &v), &v);
    }

    #[test]
    fn rounding_ops() {
        let v = [0.5, 1.5, 2.5, -0.5, -1.5, -2.7, 2.7, NAN, -INF];
        assert_same(
            &un_f64(U::Round, &v),
            &[0., 2., 2., -0., -2., -3., 3., NAN, -INF],
        );
        assert_same(
            &un_f64(U::Floor, &v),
            &[0., 1., 2., -1., -2., -3., 2., NAN, -INF],
        );
        assert_same(
            &un_f64(U::Ceil, &v),
            &[1., 2., 3., -0., -1., -2., 3., NAN, -INF],
        );
    }

    #[test]
    fn transcendental_values() {
        let r = un_f64(U::Sqrt, &[4.0, -1.0, INF, -0.0]);
        assert_same(&r, &[2.0, NAN, INF, -0.0]);
        assert_same(
            &un_f64(U::Reciprocal, &[4.0, 0.0, -0.0]),
            &[0.25, INF, -INF],
        );
        assert_same(&un_f64(U::Log, &[1.0, 0.0, -1.0]), &[0.0, -INF, NAN]);
        assert_same(&un_f64(U::Exp, &[0.0, -INF, 1000.0]), &[1.0, 0.0, INF]);
        assert_close(
            &un_f64(U::Erf, &[0.0, 0.5, -1.0, 3.0]),
            &[
                0.0,
                0.5204998778130465,
                -0.8427007929497149,
                0.9999779095030014,
            ],
            1e-15,
        );
        assert_close(
            &un_f64(U::Sigmoid, &[0.0, 2.0, -800.0, 800.0]),
            &[0.5, 0.8807970779778823, 0.0, 1.0],
            1e-15,
        );
        assert_close(
            &un_f64(U::Tanh, &[0.5, -INF]),
            &[0.46211715726000974, -1.0],
            1e-15,
        );
        assert_close(
            &un_f64(U::Atanh, &[0.5, 1.0, 2.0]),
            &[0.5493061443340549, INF, NAN],
            1e-15,
        );
        assert_close(
            &un_f64(U::Acosh, &[1.0, 2.0, 0.5]),
            &[0.0, 1.3169578969248166, NAN],
            1e-15,
        );
        let trig = un_f64(U::Sin, &[0.5]);
        assert_close(&trig, &[0.479425538604203], 1e-15);
        assert_close(&un_f64(U::Cos, &[0.5]), &[0.8775825618903728], 1e-15);
        assert_close(&un_f64(U::Tan, &[0.5]), &[0.5463024898437905], 1e-15);
        assert_close(
            &un_f64(U::Asin, &[0.5, 2.0]),
            &[std::f64::consts::FRAC_PI_6, NAN],
            1e-15,
        );
        assert_close(
            &un_f64(U::Acos, &[0.5]),
            &[std::f64::consts::FRAC_PI_3],
            1e-15,
        );
        assert_close(
            &un_f64(U::Atan, &[INF]),
            &[std::f64::consts::FRAC_PI_2],
            1e-15,
        );
        assert_close(&un_f64(U::Sinh, &[1.0]), &[1.1752011936438014], 1e-15);
        assert_close(&un_f64(U::Cosh, &[1.0]), &[1.5430806348152437], 1e-15);
        assert_close(&un_f64(U::Asinh, &[1.0]), &[0.881373587019543], 1e-15);
    }

    #[test]
    fn activations_are_stable() {
        assert_close(
            &un_f64(U::Softplus, &[0.0, 1.0, -50.0, 1000.0, -INF]),
            &[
                std::f64::consts::LN_2,
                1.3132616875182228,
                1.9287498479639178e-22,
                1000.0,
                0.0,
            ],
            1e-15,
        );
        assert_close(
            &un_f64(U::Softsign, &[3.0, -1.0, INF]),
            &[0.75, -0.5, NAN],
            1e-15,
        );
        assert_close(
            &un_f64(U::HardSwish, &[-4.0, -1.5, 0.0, 1.5, 4.0]),
            &[0.0, -0.375, 0.0, 1.125, 4.0],
            1e-15,
        );
        assert_close(
            &un_f64(U::Mish, &[1.0, -1.0, 1000.0, -1000.0]),
            &[0.8650983882673103, -0.30340146137410895, 1000.0, -0.0],
            1e-14,
        );
    }

    #[test]
    fn narrow_floats_round_once() {
        // sqrt(2) in f16 is 1.4140625; sqrt(65504) = 255.9374... is just below the tie at
        // 255.9375, so it rounds down to 255.875; exp(1) in bf16 is 2.71875.
        let h = un(U::Sqrt, &f16s(&[2], &[2.0, 65504.0]));
        assert_eq!(as_f64(&h), vec![1.4140625, 255.875]);
        let b = un(U::Exp, &bf16s(&[1], &[1.0]));
        assert_eq!(as_f64(&b), vec![2.71875]);
        // The reciprocal of the smallest f16 normal is exact; exp(12) overflows f16.
        let r = un(U::Reciprocal, &f16s(&[1], &[6.1035156e-5]));
        assert_eq!(as_f64(&r), vec![16384.0]);
        let o = un(U::Exp, &f16s(&[1], &[12.0]));
        assert_eq!(as_f64(&o), vec![INF]);
    }

    #[test]
    fn integer_forms_are_exact_and_wrap() {
        let x = tensor(&[5], &[i8::MIN, -3, 0, 5, i8::MAX]);
        let get = |op| un(op, &x).to_vec::<i8>().unwrap();
        assert_eq!(get(U::Neg), vec![i8::MIN, 3, 0, -5, -i8::MAX]);
        assert_eq!(get(U::Abs), vec![i8::MIN, 3, 0, 5, i8::MAX]);
        assert_eq!(get(U::Sign), vec![-1, -1, 0, 1, 1]);
        assert_eq!(get(U::Relu), vec![0, 0, 0, 5, i8::MAX]);
        assert_eq!(get(U::BitwiseNot), vec![i8::MAX, 2, -1, -6, i8::MIN]);
        assert_eq!(get(U::Round), vec![i8::MIN, -3, 0, 5, i8::MAX]);
        let u = tensor(&[3], &[0u64, 1, u64::MAX]);
        let n = un(U::BitwiseNot, &u).to_vec::<u64>().unwrap();
        assert_eq!(n, vec![u64::MAX, u64::MAX - 1, 0]);
        let neg = un(U::Neg, &u).to_vec::<u64>().unwrap();
        assert_eq!(neg, vec![0, u64::MAX, 1]);
        let big = tensor(&[1], &[i64::MIN]);
        assert_eq!(un(U::Abs, &big).to_vec::<i64>().unwrap(), vec![i64::MIN]);
    }

    #[test]
    fn logic_and_nan_tests() {
        let b = tensor(&[3], &[true, false, true]);
        assert_eq!(
            un(U::Not, &b).to_vec::<bool>().unwrap(),
            vec![false, true, false]
        );
        let x = f16s(&[2, 2], &[1.0, f32::NAN, f32::INFINITY, -0.0]);
        let r = un(U::IsNaN, &x);
        assert_eq!(r.shape(), &[2, 2]);
        assert_eq!(r.to_vec::<bool>().unwrap(), vec![false, true, false, false]);
    }

    #[test]
    fn empty_and_scalar_shapes() {
        let e = f32s(&[0, 3], &[]);
        let r = un(U::Exp, &e);
        assert_eq!((r.shape(), r.len()), (&[0usize, 3][..], 0));
        let s = Tensor::scalar(-2.0f32);
        let r = un(U::Abs, &s);
        assert_eq!(r.shape(), &[] as &[usize]);
        assert_eq!(r.to_vec::<f32>().unwrap(), vec![2.0]);
    }

    #[test]
    fn rejects_dtypes_the_op_does_not_take() {
        let i = tensor(&[1], &[4i32]);
        for op in [
            U::Sqrt,
            U::Exp,
            U::Erf,
            U::Sigmoid,
            U::IsNaN,
            U::Not,
            U::Reciprocal,
        ] {
            let e = run(Op::Unary(op), &[&i]).unwrap_err();
            assert!(matches!(e, IrError::Unsupported { .. }), "{op:?}: {e}");
        }
        let f = f32s(&[1], &[1.0]);
        for op in [U::Not, U::BitwiseNot] {
            let e = run(Op::Unary(op), &[&f]).unwrap_err();
            assert!(matches!(e, IrError::Unsupported { .. }), "{op:?}: {e}");
        }
        let b = tensor(&[1], &[true]);
        for op in [U::Neg, U::Abs, U::BitwiseNot, U::Exp] {
            let e = run(Op::Unary(op), &[&b]).unwrap_err();
            assert!(matches!(e, IrError::Unsupported { .. }), "{op:?}: {e}");
        }
        assert_eq!(un(U::Identity, &b), b);
    }
}
