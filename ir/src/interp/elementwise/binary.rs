//! The broadcast binary operators ([`BinaryOp`]): arithmetic (wrapping on integers, typed
//! errors for integer division by zero), Pow with its mixed dtypes, shifts, bitwise and logical
//! ops, comparisons and PRelu.

use super::{
    bool_tensor, broadcast_all, float_tensor, floats_of, int_tensor, ints_of, operands, same_dtype,
    shapes_of, unsupported,
};
use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::op::BinaryOp;
use crate::tensor::Tensor;

/// Evaluates a binary operator on its two operands.
pub(super) fn eval(op: BinaryOp, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let [a, b] = operands::<2>(at, inputs)?;
    if op == BinaryOp::Pow {
        return pow(at, a, b);
    }
    check_dtype(op, at, a.dtype())?;
    same_dtype(at, b, 1, a.dtype(), 0)?;
    let (shape, idx) = broadcast_all(at, &[a, b])?;
    if op == BinaryOp::PRelu && shape != a.shape() {
        return Err(IrError::InputShape {
            at: at.clone(),
            message: "the slope must broadcast to the shape of x".into(),
            shapes: shapes_of(&[a, b]),
        });
    }
    let dtype = a.dtype();
    if dtype.is_float() {
        let (x, y) = (floats_of(a), floats_of(b));
        let pairs = idx[0].iter().zip(&idx[1]).map(|(&i, &j)| (x[i], y[j]));
        if op.is_comparison() {
            return Ok(bool_tensor(shape, pairs.map(|(p, q)| compare_f(op, p, q))));
        }
        let out = pairs.map(|(p, q)| float_op(op, p, q)).collect();
        return Ok(float_tensor(dtype, shape, out));
    }
    let (x, y) = (ints_of(a), ints_of(b));
    let pairs = idx[0].iter().zip(&idx[1]).map(|(&i, &j)| (x[i], y[j]));
    if op.is_comparison() {
        return Ok(bool_tensor(shape, pairs.map(|(p, q)| compare_i(op, p, q))));
    }
    let out = pairs
        .map(|(p, q)| int_op(op, dtype, p, q).ok_or_else(|| div_by_zero(op, at, dtype)))
        .collect::<Result<Vec<i128>>>()?;
    Ok(int_tensor(dtype, shape, out))
}

/// Fails unless `op` accepts operands of `dtype`.
fn check_dtype(op: BinaryOp, at: &At, dtype: DType) -> Result<()> {
    use BinaryOp as B;
    let (ok, needs) = match op {
        B::BitShiftLeft | B::BitShiftRight => (dtype.is_unsigned_int(), "unsigned integer"),
        B::BitwiseAnd | B::BitwiseOr | B::BitwiseXor => (dtype.is_int(), "integer"),
        B::And | B::Or | B::Xor => (dtype == DType::Bool, "bool"),
        B::Equal => (true, "any"),
        _ => (dtype.is_numeric(), "numeric"),
    };
    if ok {
        Ok(())
    } else {
        Err(unsupported(
            at,
            dtype,
            format!("`{}` needs {needs} operands", op.name()),
        ))
    }
}

/// The error for an integer division or modulo by zero.
fn div_by_zero(op: BinaryOp, at: &At, dtype: DType) -> IrError {
    super::eval_err(
        at,
        format!("integer {} by zero ({dtype} operands)", op.name()),
    )
}

/// IEEE comparisons: every comparison with NaN is false.
fn compare_f(op: BinaryOp, a: f64, b: f64) -> bool {
    match op {
        BinaryOp::Equal => a == b,
        BinaryOp::Less => a < b,
        BinaryOp::LessOrEqual => a <= b,
        BinaryOp::Greater => a > b,
        _ => a >= b,
    }
}

/// Exact integer (and bool) comparisons.
fn compare_i(op: BinaryOp, a: i128, b: i128) -> bool {
    match op {
        BinaryOp::Equal => a == b,
        BinaryOp::Less => a < b,
        BinaryOp::LessOrEqual => a <= b,
        BinaryOp::Greater => a > b,
        _ => a >= b,
    }
}

/// A float arithmetic op in f64 (the caller has checked the op takes floats).
fn float_op(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => python_mod_f(a, b),
        BinaryOp::FMod => a % b,
        _ => prelu(a, b, |s, x| s * x),
    }
}

/// An integer op on exact values; `None` for division or modulo by zero. Results are exact or
/// correct modulo 2^128, and wrap to `dtype` afterwards.
fn int_op(op: BinaryOp, dtype: DType, a: i128, b: i128) -> Option<i128> {
    use BinaryOp as B;
    Some(match op {
        B::Add => a.wrapping_add(b),
        B::Sub => a.wrapping_sub(b),
        B::Mul => a.wrapping_mul(b),
        // Truncates toward zero, like C and ONNX Runtime.
        B::Div => a.checked_div(b)?,
        B::FMod => a.checked_rem(b)?,
        B::Mod => {
            let r = a.checked_rem(b)?;
            if r != 0 && (r < 0) != (b < 0) {
                r + b
            } else {
                r
            }
        }
        B::BitShiftLeft | B::BitShiftRight => shift(op, dtype, a, b),
        B::BitwiseAnd | B::And => a & b,
        B::BitwiseOr | B::Or => a | b,
        B::BitwiseXor | B::Xor => a ^ b,
        _ => prelu(a, b, i128::wrapping_mul),
    })
}

/// PRelu: `x` where `x > 0`, else `slope * x` (NaN x stays NaN through the product).
fn prelu<T: PartialOrd + Default + Copy>(x: T, slope: T, mul: impl Fn(T, T) -> T) -> T {
    if x > T::default() { x } else { mul(slope, x) }
}

/// Logical shift of an unsigned value; shifting by the bit width or more gives 0.
fn shift(op: BinaryOp, dtype: DType, a: i128, by: i128) -> i128 {
    let bits = 8 * dtype.size_bytes() as i128;
    if by >= bits {
        return 0;
    }
    // Unsigned operands are non-negative and below 2^64, and `by` is below 64.
    let (a, by) = (a as u128, by as u32);
    let r = if op == BinaryOp::BitShiftLeft {
        a << by
    } else {
        a >> by
    };
    r as i128
}

/// Float modulo with the sign of the divisor (Python's `%`, NumPy's `mod`).
fn python_mod_f(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && (r < 0.0) != (b < 0.0) {
        r + b
    } else if r == 0.0 {
        0f64.copysign(b)
    } else {
        r
    }
}

/// Pow: the result has the base's dtype; the exponent may be any numeric dtype.
fn pow(at: &At, base: &Tensor, exp: &Tensor) -> Result<Tensor> {
    let dtype = base.dtype();
    if !dtype.is_numeric() {
        return Err(unsupported(at, dtype, "`pow` needs a numeric base"));
    }
    if !exp.dtype().is_numeric() {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: 1,
            dtype: exp.dtype(),
            expected: "a numeric dtype".into(),
        });
    }
    let (shape, idx) = broadcast_all(at, &[base, exp])?;
    let pairs = |k: usize| (idx[0][k], idx[1][k]);
    let n = idx[0].len();
    match (dtype.is_float(), exp.dtype().is_float()) {
        (true, true) => {
            let (x, y) = (floats_of(base), floats_of(exp));
            let out = (0..n).map(pairs).map(|(i, j)| x[i].powf(y[j])).collect();
            Ok(float_tensor(dtype, shape, out))
        }
        (true, false) => {
            let (x, y) = (floats_of(base), ints_of(exp));
            let out = (0..n)
                .map(pairs)
                .map(|(i, j)| powf_int(x[i], y[j]))
                .collect();
            Ok(float_tensor(dtype, shape, out))
        }
        (false, true) => {
            let (x, y) = (ints_of(base), floats_of(exp));
            let range = dtype.int_range().unwrap_or((i128::MIN, i128::MAX));
            let out = (0..n)
                .map(pairs)
                .map(|(i, j)| float_to_int((x[i] as f64).powf(y[j]), range))
                .collect();
            Ok(int_tensor(dtype, shape, out))
        }
        (false, false) => {
            let (x, y) = (ints_of(base), ints_of(exp));
            let out = (0..n)
                .map(pairs)
                .map(|(i, j)| pow_int(x[i], y[j]))
                .collect();
            Ok(int_tensor(dtype, shape, out))
        }
    }
}

/// A float to the power of an exact integer; the sign follows the integer's parity even where
/// the exponent is not exact in f64.
fn powf_int(x: f64, e: i128) -> f64 {
    let m = x.abs().powf(e as f64);
    if x.is_sign_negative() && e % 2 != 0 {
        -m
    } else {
        m
    }
}

/// Truncates toward zero and saturates to `range` (NaN gives 0), as Cast does.
pub(super) fn float_to_int(x: f64, (lo, hi): (i128, i128)) -> i128 {
    if x.is_nan() {
        0
    } else {
        (x.trunc() as i128).clamp(lo, hi)
    }
}

/// Exact integer power, correct modulo 2^128 (so it wraps to any dtype). Negative exponents:
/// 1 for base 1, ±1 for base -1 by parity, 0 otherwise.
fn pow_int(base: i128, e: i128) -> i128 {
    if e < 0 {
        return match base {
            1 => 1,
            -1 if e % 2 != 0 => -1,
            -1 => 1,
            _ => 0,
        };
    }
    let (mut acc, mut sq, mut e) = (1i128, base, e);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wrapping_mul(sq);
        }
        sq = sq.wrapping_mul(sq);
        e >>= 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::error::IrError;
    use crate::op::{BinaryOp as B, Op};
    use crate::tensor::Tensor;

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    fn bin(op: B, a: &Tensor, b: &Tensor) -> Tensor {
        run(Op::Binary(op), &[a, b]).unwrap()
    }

    fn bin_err(op: B, a: &Tensor, b: &Tensor) -> IrError {
        run(Op::Binary(op), &[a, b]).unwrap_err()
    }

    fn ff(op: B, a: &[f64], b: &[f64]) -> Vec<f64> {
        as_f64(&bin(op, &tensor(&[a.len()], a), &tensor(&[b.len()], b)))
    }

    #[test]
    fn broadcasting_both_directions_and_rank0() {
        let a = f32s(&[2, 1], &[1., 2.]);
        let b = f32s(&[3], &[10., 20., 30.]);
        let r = bin(B::Add, &a, &b);
        assert_eq!(r.shape(), &[2, 3]);
        assert_eq!(
            r.to_vec::<f32>().unwrap(),
            vec![11., 21., 31., 12., 22., 32.]
        );
        let r = bin(B::Sub, &b, &a);
        assert_eq!(r.to_vec::<f32>().unwrap(), vec![9., 19., 29., 8., 18., 28.]);
        let s = Tensor::scalar(2.0f32);
        let r = bin(B::Div, &s, &a);
        assert_eq!(r.shape(), &[2, 1]);
        assert_eq!(r.to_vec::<f32>().unwrap(), vec![2., 1.]);
        let r = bin(B::Mul, &s, &s);
        assert_eq!(
            (r.shape(), r.to_vec::<f32>().unwrap()),
            (&[][..], vec![4.0])
        );
        // Size-1 dims against size-0 dims give empty results.
        let e = f32s(&[0, 1], &[]);
        let r = bin(B::Add, &e, &b);
        assert_eq!((r.shape(), r.len()), (&[0usize, 3][..], 0));
    }

    #[test]
    fn shape_mismatch_is_typed() {
        let a = f32s(&[2, 3], &[0.; 6]);
        let b = f32s(&[2], &[0.; 2]);
        let e = bin_err(B::Add, &a, &b);
        assert!(
            matches!(e, IrError::InputShape { ref shapes, .. } if shapes.len() == 2),
            "{e}"
        );
    }

    #[test]
    fn float_arithmetic_specials() {
        assert_same(
            &ff(B::Div, &[1., -1., 0., 1.], &[0., 0., 0., -0.]),
            &[INF, -INF, NAN, -INF],
        );
        assert_same(
            &ff(B::Add, &[INF, -0.0, NAN], &[-INF, -0.0, 1.]),
            &[NAN, -0.0, NAN],
        );
        assert_same(&ff(B::Mul, &[0., -2.], &[INF, 0.]), &[NAN, -0.0]);
    }

    #[test]
    fn modulo_signs() {
        let a = [-7., 7., -7., 7., 6., 5.5];
        let b = [3., -3., -3., 3., 3., 0.];
        assert_same(&ff(B::Mod, &a, &b), &[2., -2., -1., 1., 0., NAN]);
        assert_same(&ff(B::FMod, &a, &b), &[-1., 1., -1., 1., 0., NAN]);
        assert_same(&ff(B::Mod, &[-6.0], &[3.0]), &[0.0]);
        assert_same(&ff(B::Mod, &[6.0], &[-3.0]), &[-0.0]);
        let x = tensor(&[4], &[-7i32, 7, -7, i32::MIN]);
        let y = tensor(&[4], &[3i32, -3, -3, -1]);
        assert_eq!(
            bin(B::Mod, &x, &y).to_vec::<i32>().unwrap(),
            vec![2, -2, -1, 0]
        );
        assert_eq!(
            bin(B::FMod, &x, &y).to_vec::<i32>().unwrap(),
            vec![-1, 1, -1, 0]
        );
        assert_eq!(
            bin(B::Div, &x, &y).to_vec::<i32>().unwrap(),
            vec![-2, -2, 2, i32::MIN]
        );
    }

    #[test]
    fn integer_division_by_zero_is_an_error() {
        let x = tensor(&[2], &[1u8, 2]);
        let z = tensor(&[2], &[1u8, 0]);
        for op in [B::Div, B::Mod, B::FMod] {
            let e = bin_err(op, &x, &z);
            assert!(matches!(e, IrError::Eval { .. }), "{op:?}: {e}");
        }
    }

    #[test]
    fn integer_overflow_wraps() {
        let a = tensor(&[3], &[i8::MAX, i8::MIN, 100]);
        let b = tensor(&[3], &[1i8, 1, 3]);
        assert_eq!(
            bin(B::Add, &a, &b).to_vec::<i8>().unwrap(),
            vec![i8::MIN, -127, 103]
        );
        assert_eq!(
            bin(B::Sub, &a, &b).to_vec::<i8>().unwrap(),
            vec![126, i8::MAX, 97]
        );
        assert_eq!(
            bin(B::Mul, &a, &b).to_vec::<i8>().unwrap(),
            vec![i8::MAX, i8::MIN, 44]
        );
        let u = tensor(&[1], &[u64::MAX]);
        assert_eq!(bin(B::Mul, &u, &u).to_vec::<u64>().unwrap(), vec![1]);
        assert_eq!(
            bin(B::Add, &u, &u).to_vec::<u64>().unwrap(),
            vec![u64::MAX - 1]
        );
        let z = tensor(&[1], &[0u32]);
        let one = tensor(&[1], &[1u32]);
        assert_eq!(
            bin(B::Sub, &z, &one).to_vec::<u32>().unwrap(),
            vec![u32::MAX]
        );
    }

    #[test]
    fn shifts_and_bitwise() {
        let a = tensor(&[4], &[1u8, 0x81, 0xff, 16]);
        let s = tensor(&[4], &[7u8, 1, 8, 200]);
        assert_eq!(
            bin(B::BitShiftLeft, &a, &s).to_vec::<u8>().unwrap(),
            vec![128, 2, 0, 0]
        );
        assert_eq!(
            bin(B::BitShiftRight, &a, &s).to_vec::<u8>().unwrap(),
            vec![0, 0x40, 0, 0]
        );
        let big = tensor(&[2], &[u64::MAX, 1]);
        let by = tensor(&[2], &[63u64, 64]);
        let r = bin(B::BitShiftLeft, &big, &by).to_vec::<u64>().unwrap();
        assert_eq!(r, vec![1 << 63, 0]);
        let x = tensor(&[3], &[-1i16, 0x0f0f, 6]);
        let y = tensor(&[3], &[0x00ffi16, 0x00ff, 3]);
        assert_eq!(
            bin(B::BitwiseAnd, &x, &y).to_vec::<i16>().unwrap(),
            vec![0xff, 0x0f, 2]
        );
        assert_eq!(
            bin(B::BitwiseOr, &x, &y).to_vec::<i16>().unwrap(),
            vec![-1, 0x0fff, 7]
        );
        assert_eq!(
            bin(B::BitwiseXor, &x, &y).to_vec::<i16>().unwrap(),
            vec![-256, 0x0ff0, 5]
        );
    }

    #[test]
    fn logic_ops() {
        let p = tensor(&[2, 2], &[true, true, false, false]);
        let q = tensor(&[2], &[true, false]);
        assert_eq!(
            bin(B::And, &p, &q).to_vec::<bool>().unwrap(),
            vec![true, false, false, false]
        );
        assert_eq!(
            bin(B::Or, &p, &q).to_vec::<bool>().unwrap(),
            vec![true, true, true, false]
        );
        assert_eq!(
            bin(B::Xor, &p, &q).to_vec::<bool>().unwrap(),
            vec![false, true, true, false]
        );
        assert_eq!(
            bin(B::Equal, &p, &q).to_vec::<bool>().unwrap(),
            vec![true, false, false, true]
        );
    }

    #[test]
    fn comparisons_follow_ieee() {
        let a = tensor(&[4], &[1.0f64, NAN, -0.0, INF]);
        let b = tensor(&[4], &[2.0f64, NAN, 0.0, INF]);
        let cmp = |op| bin(op, &a, &b).to_vec::<bool>().unwrap();
        assert_eq!(cmp(B::Equal), vec![false, false, true, true]);
        assert_eq!(cmp(B::Less), vec![true, false, false, false]);
        assert_eq!(cmp(B::LessOrEqual), vec![true, false, true, true]);
        assert_eq!(cmp(B::Greater), vec![false, false, false, false]);
        assert_eq!(cmp(B::GreaterOrEqual), vec![false, false, true, true]);
        let i = tensor(&[2], &[u64::MAX, 3]);
        let j = tensor(&[2], &[u64::MAX - 1, 3]);
        assert_eq!(
            bin(B::Greater, &i, &j).to_vec::<bool>().unwrap(),
            vec![true, false]
        );
    }

    #[test]
    fn narrow_float_results_round() {
        // f16: 1 + 2^-11 ties to 1; 2048 + 1 ties to 2048; bf16: 256 + 1 -> 256.
        let a = f16s(&[2], &[1.0, 2048.0]);
        let b = f16s(&[2], &[0.00048828125, 1.0]);
        assert_eq!(as_f64(&bin(B::Add, &a, &b)), vec![1.0, 2048.0]);
        let c = f16s(&[1], &[60000.0]);
        assert_eq!(as_f64(&bin(B::Add, &c, &c)), vec![INF]);
        let x = bf16s(&[2], &[256.0, 1.0]);
        let y = bf16s(&[2], &[1.0, 3.0]);
        assert_eq!(as_f64(&bin(B::Add, &x, &y)), vec![256.0, 4.0]);
        assert_eq!(as_f64(&bin(B::Div, &y, &x)), vec![0.00390625, 3.0]);
    }

    #[test]
    fn prelu_broadcasts_slope_to_x() {
        let x = f32s(&[2, 2], &[-1., 2., -3., f32::NAN]);
        let s = f32s(&[2], &[0.5, 2.0]);
        let r = bin(B::PRelu, &x, &s);
        assert_same(&as_f64(&r), &[-0.5, 2., -1.5, NAN]);
        let xi = tensor(&[3], &[-100i8, 5, -1]);
        let si = tensor(&[], &[3i8]);
        assert_eq!(
            bin(B::PRelu, &xi, &si).to_vec::<i8>().unwrap(),
            vec![-44, 5, -3]
        );
        let wide = f32s(&[2, 2], &[0.; 4]);
        let e = bin_err(B::PRelu, &s, &wide);
        assert!(matches!(e, IrError::InputShape { .. }), "{e}");
    }

    #[test]
    fn pow_dtype_combinations() {
        assert_same(
            &ff(
                B::Pow,
                &[2., -8., -2., 0., NAN, 1.],
                &[0.5, 1. / 3., 3., -1., 0., NAN],
            ),
            &[std::f64::consts::SQRT_2, NAN, -8., INF, 1., 1.],
        );
        // Float base, integer exponent.
        let x = f32s(&[3], &[-2., 2., -0.0]);
        let e = tensor(&[3], &[3i64, -2, -1]);
        assert_same(&as_f64(&bin(B::Pow, &x, &e)), &[-8., 0.25, -INF]);
        // Integer base, integer exponent: exact with wrap; negative exponents.
        let b = tensor(&[6], &[3i32, 2, 1, -1, -1, 5]);
        let p = tensor(&[6], &[4i32, 31, -5, -3, -2, -1]);
        let r = bin(B::Pow, &b, &p).to_vec::<i32>().unwrap();
        assert_eq!(r, vec![81, i32::MIN, 1, -1, 1, 0]);
        let big = tensor(&[1], &[3i64]);
        let e = tensor(&[1], &[u64::MAX]);
        // 3^(2^64-1) mod 2^64 (two's complement), computed with Python's pow(3, 2**64-1, 2**64).
        let r = bin(B::Pow, &big, &e).to_vec::<i64>().unwrap();
        assert_eq!(r, vec![POW3_EXPECTED]);
        // Integer base, float exponent: f64 then truncate (saturating).
        let b = tensor(&[3], &[9u8, 2, 2]);
        let p = f32s(&[3], &[0.5, 9.0, -1.0]);
        assert_eq!(bin(B::Pow, &b, &p).to_vec::<u8>().unwrap(), vec![3, 255, 0]);
        // Exponent dtype may differ, but must be numeric.
        let bools = tensor(&[1], &[true]);
        let e = bin_err(B::Pow, &x, &bools);
        assert!(matches!(e, IrError::InputDType { input: 1, .. }), "{e}");
        let e = bin_err(B::Pow, &bools, &x);
        assert!(matches!(e, IrError::Unsupported { .. }), "{e}");
    }

    const POW3_EXPECTED: i64 = -6148914691236517205;

    #[test]
    fn dtype_errors() {
        let f = f32s(&[1], &[1.0]);
        let d = tensor(&[1], &[1.0f64]);
        let e = bin_err(B::Add, &f, &d);
        assert!(matches!(e, IrError::InputDType { input: 1, .. }), "{e}");
        let i = tensor(&[1], &[1i32]);
        let b = tensor(&[1], &[true]);
        let cases = [
            (B::BitShiftLeft, &i),
            (B::BitwiseAnd, &f),
            (B::And, &i),
            (B::Add, &b),
            (B::Less, &b),
            (B::BitwiseOr, &b),
        ];
        for (op, t) in cases {
            let e = bin_err(op, t, t);
            assert!(matches!(e, IrError::Unsupported { .. }), "{op:?}: {e}");
        }
    }
}
