//! `Cast`: conversion between any two dtypes with one correct rounding.

use super::binary::float_to_int;
use super::{bool_tensor, float_tensor, floats_of, int_tensor, ints_of, operands};
use crate::dtype::DType;
use crate::dtype::lowbit::encode;
use crate::error::{At, Result};
use crate::interp::rounding::int_to_float;
use crate::interp::values::eval_err;
use crate::tensor::Tensor;

/// Converts the single operand to dtype `to`.
///
/// - float → float: round to nearest-even, overflow to ±inf; to float8/float4 the ONNX
///   rules of [`crate::dtype::lowbit::encode`] (`saturate` clamps overflow and infinities to
///   the largest finite value);
/// - float → int: truncate toward zero, saturate to the range, NaN → 0; to the sub-byte
///   integers (int4, uint4, int2, uint2) truncate and then wrap, as ONNX's reference does;
/// - anything → bool: `!= 0` (NaN → true);
/// - int/bool → float: round to nearest-even (once, even beyond 2^53);
/// - int/bool → int: wrap (two's complement).
pub(super) fn eval(
    to: DType,
    saturate: bool,
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Tensor> {
    let [x] = operands::<1>(at, inputs)?;
    let from = x.dtype();
    let shape = x.shape().to_vec();
    if from == to {
        return Ok(x.clone());
    }
    if to.is_float() && to.is_low_precision() {
        // Exact values first (ints convert exactly within every low-precision range that
        // matters, beyond it the f64 rounding cannot change a saturated or NaN result).
        let v = floats_of(x);
        let bytes = v.into_iter().map(|f| encode(f, to, saturate)).collect();
        return Tensor::from_bytes(to, &shape, bytes)
            .map_err(|e| eval_err(at, format!("cast to {to}: {e}")));
    }
    Ok(if from.is_float() {
        let v = floats_of(x);
        if to.is_float() {
            float_tensor(to, shape, v)
        } else if to == DType::Bool {
            bool_tensor(shape, v.into_iter().map(|f| f != 0.0))
        } else if to.is_low_precision() {
            // Truncate (NaN → 0), then wrap like an integer-to-integer cast.
            let full = (i128::MIN, i128::MAX);
            int_tensor(
                to,
                shape,
                v.into_iter().map(|f| float_to_int(f, full)).collect(),
            )
        } else {
            let range = to.int_range().unwrap_or((i128::MIN, i128::MAX));
            int_tensor(
                to,
                shape,
                v.into_iter().map(|f| float_to_int(f, range)).collect(),
            )
        }
    } else {
        let v = ints_of(x);
        if to.is_float() {
            float_tensor(
                to,
                shape,
                v.into_iter().map(|i| int_to_float(i, to)).collect(),
            )
        } else {
            // Arr narrows to bool as `!= 0` and wraps every integer dtype.
            int_tensor(to, shape, v)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::dtype::DType;
    use crate::op::Op;
    use crate::tensor::Tensor;
    use half::{bf16, f16};

    fn cast(to: DType, x: &Tensor) -> Tensor {
        run(Op::Cast { to, saturate: true }, &[x]).unwrap()
    }

    fn cast_nosat(to: DType, x: &Tensor) -> Tensor {
        run(
            Op::Cast {
                to,
                saturate: false,
            },
            &[x],
        )
        .unwrap()
    }

    #[test]
    fn to_float8_saturates_or_not() {
        let x = f32s(
            &[6],
            &[0.47, 1e6, f32::INFINITY, -f32::INFINITY, f32::NAN, -1e-7],
        );
        let r = cast(DType::F8E4M3FN, &x);
        assert_eq!(r.dtype(), DType::F8E4M3FN);
        assert_eq!(r.bytes(), &[0x2F, 0x7E, 0x7E, 0xFE, 0x7F, 0x80]);
        assert_eq!(
            cast_nosat(DType::F8E4M3FN, &x).bytes(),
            &[0x2F, 0x7F, 0x7F, 0xFF, 0x7F, 0x80]
        );
        assert_eq!(
            cast_nosat(DType::F8E5M2, &x).bytes(),
            &[0x38, 0x7C, 0x7C, 0xFC, 0x7E, 0x80]
        );
        assert_eq!(
            cast_nosat(DType::F8E4M3FNUZ, &x).bytes(),
            &[0x37, 0x80, 0x80, 0x80, 0x80, 0x00]
        );
        let e8 = cast(DType::F8E8M0, &f32s(&[3], &[0.0, 0.124, 1.1]));
        assert_eq!(e8.bytes(), &[0x00, 0x7C, 0x80]);
        let f4 = cast(DType::F4E2M1, &tensor(&[4], &[9i32, -3, 1, 0]));
        assert_eq!(f4.bytes(), &[0x7, 0xD, 0x2, 0x0]);
    }

    #[test]
    fn from_float8_and_between_low_types() {
        let x = Tensor::from_bytes(DType::F8E5M2, &[4], vec![0x3C, 0x7C, 0xFE, 0x01]).unwrap();
        assert_same(
            &as_f64(&cast(DType::F32, &x)),
            &[1.0, f64::INFINITY, f64::NAN, 2f64.powi(-16)],
        );
        // E5M2 → E4M3FN: 1 stays, inf saturates to 448, NaN stays NaN.
        assert_eq!(cast(DType::F8E4M3FN, &x).bytes(), &[0x38, 0x7E, 0xFF, 0x00]);
        let i4 = Tensor::from_bytes(DType::I4, &[2], vec![0xF9, 0x07]).unwrap();
        assert_eq!(cast(DType::I8, &i4).to_vec::<i8>().unwrap(), vec![-7, 7]);
        assert_eq!(as_f64(&cast(DType::F16, &i4)), vec![-7.0, 7.0]);
        assert_eq!(cast(DType::U4, &i4).bytes(), &[9, 7]);
    }

    #[test]
    fn to_sub_byte_ints_wraps() {
        let x = f32s(&[6], &[-9.0, 8.0, 7.9, -2.7, f32::NAN, 1e10]);
        assert_eq!(
            cast(DType::I4, &x).to_i64_vec(),
            Some(vec![7, -8, 7, -2, 0, 0])
        );
        assert_eq!(
            cast(DType::U2, &f32s(&[3], &[-3.0, 3.0, 6.0])).to_i64_vec(),
            Some(vec![1, 3, 2])
        );
        assert_eq!(
            cast(DType::I2, &tensor(&[3], &[2i32, -3, 1])).to_i64_vec(),
            Some(vec![-2, 1, 1])
        );
    }

    #[test]
    fn float_to_int_truncates_and_saturates() {
        let x = f32s(
            &[8],
            &[
                2.9,
                -2.9,
                1e10,
                -1e10,
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                -0.5,
            ],
        );
        assert_eq!(
            cast(DType::I8, &x).to_vec::<i8>().unwrap(),
            vec![2, -2, 127, -128, 0, 127, -128, 0]
        );
        assert_eq!(
            cast(DType::U16, &x).to_vec::<u16>().unwrap(),
            vec![2, 0, u16::MAX, 0, 0, u16::MAX, 0, 0]
        );
        let y = tensor(&[2], &[1.8446744073709552e19f64, 9.3e18]);
        assert_eq!(
            cast(DType::U64, &y).to_vec::<u64>().unwrap(),
            vec![u64::MAX, 9300000000000000000]
        );
        assert_eq!(
            cast(DType::I64, &y).to_vec::<i64>().unwrap(),
            vec![i64::MAX, i64::MAX]
        );
    }

    #[test]
    fn to_bool() {
        let x = f32s(&[5], &[0.0, -0.0, f32::NAN, 0.1, -f32::INFINITY]);
        assert_eq!(
            cast(DType::Bool, &x).to_vec::<bool>().unwrap(),
            vec![false, false, true, true, true]
        );
        let i = tensor(&[3], &[0i64, 256, -1]);
        assert_eq!(
            cast(DType::Bool, &i).to_vec::<bool>().unwrap(),
            vec![false, true, true]
        );
    }

    #[test]
    fn from_bool() {
        let b = tensor(&[2], &[true, false]);
        assert_eq!(
            cast(DType::F16, &b).to_vec::<f16>().unwrap(),
            vec![f16::ONE, f16::ZERO]
        );
        assert_eq!(cast(DType::I32, &b).to_vec::<i32>().unwrap(), vec![1, 0]);
        assert_eq!(cast(DType::U8, &b).to_vec::<u8>().unwrap(), vec![1, 0]);
    }

    #[test]
    fn int_to_int_wraps() {
        let x = tensor(&[4], &[300i32, -1, 128, -129]);
        assert_eq!(
            cast(DType::I8, &x).to_vec::<i8>().unwrap(),
            vec![44, -1, -128, 127]
        );
        assert_eq!(
            cast(DType::U8, &x).to_vec::<u8>().unwrap(),
            vec![44, 255, 128, 127]
        );
        let u = tensor(&[1], &[u64::MAX]);
        assert_eq!(cast(DType::I64, &u).to_vec::<i64>().unwrap(), vec![-1]);
        let n = tensor(&[1], &[-1i8]);
        assert_eq!(
            cast(DType::U64, &n).to_vec::<u64>().unwrap(),
            vec![u64::MAX]
        );
    }

    #[test]
    fn int_to_float_rounds_to_nearest_even() {
        let x = tensor(&[4], &[16777217i64, 16777219, i64::MAX, -3]);
        assert_eq!(
            cast(DType::F32, &x).to_vec::<f32>().unwrap(),
            vec![16777216.0, 16777220.0, 9.223372e18, -3.0]
        );
        let h = tensor(&[3], &[2049i32, 2051, 70000]);
        assert_eq!(
            as_f64(&cast(DType::F16, &h)),
            vec![2048.0, 2052.0, f64::INFINITY]
        );
        let v = (1i64 << 60) + (1i64 << 52) + 1;
        let b = cast(DType::BF16, &tensor(&[1], &[v]));
        assert_eq!(
            b.to_vec::<bf16>().unwrap()[0].to_f64(),
            2f64.powi(60) + 2f64.powi(53)
        );
    }

    #[test]
    fn float_to_float_rounds_to_nearest_even() {
        let x = tensor(
            &[5],
            &[
                1.0 + 2f64.powi(-11),
                1.0 + 3.0 * 2f64.powi(-11),
                65520.0,
                -1e300,
                f64::NAN,
            ],
        );
        assert_same(
            &as_f64(&cast(DType::F16, &x)),
            &[
                1.0,
                1.0 + 2f64.powi(-9),
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
            ],
        );
        // Just above a bf16 tie in the low bits an f32 would drop.
        let y = tensor(&[1], &[1.0 + 2f64.powi(-8) + 2f64.powi(-40)]);
        assert_eq!(as_f64(&cast(DType::BF16, &y)), vec![1.0 + 2f64.powi(-7)]);
        let z = tensor(&[2], &[0.1f64, -0.0]);
        assert_same(&as_f64(&cast(DType::F32, &z)), &[0.1f32 as f64, -0.0]);
        let w = f16s(&[1], &[0.333_251_95]);
        assert_eq!(
            cast(DType::F64, &w).to_vec::<f64>().unwrap(),
            vec![0.333251953125]
        );
    }

    #[test]
    fn identity_and_empty() {
        let x = f32s(&[0, 2], &[]);
        let r = cast(DType::I8, &x);
        assert_eq!((r.dtype(), r.shape()), (DType::I8, &[0usize, 2][..]));
        let s = Tensor::scalar(7u16);
        assert_eq!(cast(DType::U16, &s), s);
        assert_eq!(cast(DType::F32, &s).to_vec::<f32>().unwrap(), vec![7.0]);
    }
}
