//! The elementwise activations with attributes (LeakyRelu, Elu, Selu, Celu, HardSigmoid,
//! ThresholdedRelu, Gelu, Shrink) and IsInf.

use super::{bool_tensor, float_tensor, floats_of, int_tensor, ints_of, operands, unsupported};
use crate::attr::GeluApprox;
use crate::error::{At, Result};
use crate::op::Op;
use crate::tensor::Tensor;

/// Evaluates one of the attribute-carrying activations (or IsInf) on its single operand.
pub(super) fn eval(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let [x] = operands::<1>(at, inputs)?;
    let dtype = x.dtype();
    let shape = x.shape().to_vec();
    if let Op::Shrink { bias, lambd } = *op
        && dtype.is_int()
    {
        let v = ints_of(x);
        let out = v
            .into_iter()
            .map(|v| shrink_int(v, bias.into(), lambd.into()));
        return Ok(int_tensor(dtype, shape, out.collect()));
    }
    if !dtype.is_float() {
        return Err(unsupported(
            at,
            dtype,
            format!("`{}` needs a float operand", op.name()),
        ));
    }
    let v = floats_of(x);
    if let Op::IsInf {
        detect_negative,
        detect_positive,
    } = *op
    {
        let hit = move |x: f64| {
            x.is_infinite()
                && if x > 0.0 {
                    detect_positive
                } else {
                    detect_negative
                }
        };
        return Ok(bool_tensor(shape, v.into_iter().map(hit)));
    }
    let f = activation_fn(op)
        .ok_or_else(|| super::eval_err(at, format!("`{}` is not an activation", op.name())))?;
    Ok(float_tensor(dtype, shape, v.into_iter().map(f).collect()))
}

/// The f64 function of an activation, with its attributes widened from f32.
fn activation_fn(op: &Op) -> Option<Box<dyn Fn(f64) -> f64>> {
    Some(match *op {
        Op::LeakyRelu { alpha } => {
            let a = f64::from(alpha);
            Box::new(move |x| if x < 0.0 { a * x } else { x })
        }
        Op::Elu { alpha } => {
            let a = f64::from(alpha);
            Box::new(move |x| if x < 0.0 { a * x.exp_m1() } else { x })
        }
        Op::Selu { alpha, gamma } => {
            let (a, g) = (f64::from(alpha), f64::from(gamma));
            Box::new(move |x| if x <= 0.0 { g * a * x.exp_m1() } else { g * x })
        }
        Op::Celu { alpha } => {
            let a = f64::from(alpha);
            Box::new(move |x| x.max(0.0) + (a * (x / a).exp_m1()).min(0.0) + nan_of(x))
        }
        Op::HardSigmoid { alpha, beta } => {
            let (a, b) = (f64::from(alpha), f64::from(beta));
            Box::new(move |x| (a * x + b).clamp(0.0, 1.0))
        }
        Op::ThresholdedRelu { alpha } => {
            let a = f64::from(alpha);
            // As ONNX's reference and ONNX Runtime: NaN fails `x > alpha`, giving 0.
            Box::new(move |x| if x > a { x } else { 0.0 })
        }
        Op::Gelu { approximate } => Box::new(move |x| gelu(x, approximate)),
        Op::Shrink { bias, lambd } => {
            let (b, l) = (f64::from(bias), f64::from(lambd));
            Box::new(move |x| shrink(x, b, l))
        }
        _ => return None,
    })
}

/// `0` for numbers and NaN for NaN: `max`/`min` drop NaN, so Celu adds this to keep it.
fn nan_of(x: f64) -> f64 {
    if x.is_nan() { x } else { 0.0 }
}

/// Gelu, exact (`0.5 x (1 + erf(x / sqrt 2))`) or with the tanh approximation.
fn gelu(x: f64, approximate: GeluApprox) -> f64 {
    match approximate {
        GeluApprox::None => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        GeluApprox::Tanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
        }
    }
}

/// Shrink on floats: `x - bias` above `lambd`, `x + bias` below `-lambd`, else 0 (NaN stays).
fn shrink(x: f64, bias: f64, lambd: f64) -> f64 {
    if x < -lambd {
        x + bias
    } else if x > lambd {
        x - bias
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

/// Shrink on integers: the comparison is made in f64; the shifted value is `trunc(x + shift)`
/// computed exactly (wrapping afterwards), never rounded through f64, which would lose the low
/// bits of 64-bit values.
fn shrink_int(x: i128, bias: f64, lambd: f64) -> i128 {
    let xf = x as f64;
    let shift = if xf < -lambd {
        bias
    } else if xf > lambd {
        -bias
    } else {
        return 0;
    };
    if !shift.is_finite() {
        return (xf + shift) as i128;
    }
    let si = shift.trunc();
    let sf = shift - si;
    // `x + trunc(shift)` exactly, or (for a shift beyond any 64-bit value) its value modulo
    // 2^64 with the sign of the shift; the wrap to the dtype comes afterwards.
    let (y, sign) = if si.abs() < 2f64.powi(100) {
        let y = x + si as i128;
        (y, y.signum())
    } else {
        (x + (si % 2f64.powi(64)) as i128, si.signum() as i128)
    };
    if sf < 0.0 && sign > 0 {
        y - 1
    } else if sf > 0.0 && sign < 0 {
        y + 1
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::attr::GeluApprox;
    use crate::error::IrError;
    use crate::op::Op;

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    fn act(op: Op, v: &[f64]) -> Vec<f64> {
        as_f64(&run(op, &[&tensor(&[v.len()], v)]).unwrap())
    }

    #[test]
    fn relu_family() {
        let v = [-2.0, -0.0, 0.5, NAN, -INF];
        assert_same(
            &act(Op::LeakyRelu { alpha: 0.5 }, &v),
            &[-1.0, -0.0, 0.5, NAN, -INF],
        );
        assert_close(
            &act(Op::Elu { alpha: 2.0 }, &v),
            &[2.0 * ((-2f64).exp() - 1.0), -0.0, 0.5, NAN, -2.0],
            1e-15,
        );
        let (a, g) = (1.6732632f32 as f64, 1.050701f32 as f64);
        assert_close(
            &act(
                Op::Selu {
                    alpha: 1.6732632,
                    gamma: 1.050701,
                },
                &[-1.0, 0.0, 2.0, -INF],
            ),
            &[g * a * ((-1f64).exp() - 1.0), 0.0, 2.0 * g, -g * a],
            1e-15,
        );
        assert_close(
            &act(Op::Celu { alpha: 2.0 }, &[-2.0, 3.0, NAN]),
            &[2.0 * ((-1f64).exp() - 1.0), 3.0, NAN],
            1e-15,
        );
        assert_same(
            &act(Op::ThresholdedRelu { alpha: 1.0 }, &[1.0, 1.5, -3.0, NAN]),
            &[0.0, 1.5, 0.0, 0.0],
        );
        assert_close(
            &act(
                Op::HardSigmoid {
                    alpha: 0.2,
                    beta: 0.5,
                },
                &[-3.0, 0.0, 1.0, 3.0, NAN],
            ),
            &[0.0, 0.5, 0.2f32 as f64 + 0.5, 1.0, NAN],
            1e-15,
        );
    }

    #[test]
    fn gelu_both_forms() {
        // numpy: 0.5*x*(1+erf(x/sqrt(2))) and the tanh form.
        assert_close(
            &act(
                Op::Gelu {
                    approximate: GeluApprox::None,
                },
                &[-1.0, 0.0, 1.0, 10.0, -INF],
            ),
            &[-0.15865525393145707, 0.0, 0.8413447460685429, 10.0, NAN],
            1e-15,
        );
        assert_close(
            &act(
                Op::Gelu {
                    approximate: GeluApprox::Tanh,
                },
                &[-1.0, 1.0],
            ),
            &[-0.15880800939172324, 0.8411919906082768],
            1e-15,
        );
    }

    #[test]
    fn shrink_floats_and_ints() {
        let op = Op::Shrink {
            bias: 1.5,
            lambd: 1.0,
        };
        assert_same(
            &act(op.clone(), &[-2.0, -1.0, 0.5, 1.0, 3.0, NAN]),
            &[-0.5, 0.0, 0.0, 0.0, 1.5, NAN],
        );
        let x = tensor(&[4], &[-3i32, 0, 2, 5]);
        let r = run(op, &[&x]).unwrap().to_vec::<i32>().unwrap();
        // -3 + 1.5 = -1.5 -> -1; 2 - 1.5 = 0.5 -> 0; 5 - 1.5 = 3.5 -> 3.
        assert_eq!(r, vec![-1, 0, 0, 3]);
        let x = tensor(&[2], &[i8::MIN, i8::MAX]);
        let op = Op::Shrink {
            bias: 2.0,
            lambd: 0.0,
        };
        let r = run(op, &[&x]).unwrap().to_vec::<i8>().unwrap();
        assert_eq!(r, vec![i8::MIN + 2, i8::MAX - 2]);
        // 64-bit extremes shift exactly (through f64, MAX - 0.5 would round to 2^63).
        let op = Op::Shrink {
            bias: 0.5,
            lambd: 1.0,
        };
        let x = tensor(&[3], &[i64::MIN, i64::MAX, 2]);
        let r = run(op.clone(), &[&x]).unwrap().to_vec::<i64>().unwrap();
        assert_eq!(r, vec![i64::MIN + 1, i64::MAX - 1, 1]);
        let x = tensor(&[2], &[u64::MAX, 3]);
        let r = run(op, &[&x]).unwrap().to_vec::<u64>().unwrap();
        assert_eq!(r, vec![u64::MAX - 1, 2]);
    }

    #[test]
    fn is_inf_flags() {
        let x = f32s(&[4], &[f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1.0]);
        let flags = |n, p| {
            let op = Op::IsInf {
                detect_negative: n,
                detect_positive: p,
            };
            run(op, &[&x]).unwrap().to_vec::<bool>().unwrap()
        };
        assert_eq!(flags(true, true), vec![true, true, false, false]);
        assert_eq!(flags(false, true), vec![true, false, false, false]);
        assert_eq!(flags(true, false), vec![false, true, false, false]);
        assert_eq!(flags(false, false), vec![false; 4]);
    }

    #[test]
    fn narrow_dtypes_round() {
        let x = bf16s(&[2], &[-3.0, 1.0]);
        let r = run(Op::LeakyRelu { alpha: 0.1 }, &[&x]).unwrap();
        // 0.1f32 * -3 = -0.3000000044703484 -> bf16 -0.30078125.
        assert_eq!(as_f64(&r), vec![-0.30078125, 1.0]);
    }

    #[test]
    fn rejects_non_float_operands() {
        let i = tensor(&[1], &[1i32]);
        for op in [
            Op::Elu { alpha: 1.0 },
            Op::Gelu {
                approximate: GeluApprox::None,
            },
            Op::IsInf {
                detect_negative: true,
                detect_positive: true,
            },
        ] {
            let e = run(op, &[&i]).unwrap_err();
            assert!(matches!(e, IrError::Unsupported { .. }), "{e}");
        }
        let b = tensor(&[1], &[true]);
        let e = run(
            Op::Shrink {
                bias: 0.0,
                lambd: 0.5,
            },
            &[&b],
        )
        .unwrap_err();
        assert!(matches!(e, IrError::Unsupported { .. }), "{e}");
    }
}
