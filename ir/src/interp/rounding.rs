//! Correct round-to-nearest-even of exact values (f64 or i128) to a float dtype's grid, done
//! once, so narrow results do not depend on how a conversion library rounds f64 (some paths
//! go through f32 first or drop low bits, which double-rounds).

use crate::dtype::DType;

/// Precision (significand bits, hidden bit included), minimum normal exponent and maximum
/// exponent of a narrow float dtype; `None` for f64 and non-float dtypes.
fn format_of(dtype: DType) -> Option<(i32, i32, i32)> {
    match dtype {
        DType::F16 => Some((11, -14, 15)),
        DType::BF16 => Some((8, -126, 127)),
        DType::F32 => Some((24, -126, 127)),
        _ => None,
    }
}

/// `2^k` for `k` in f64's normal exponent range.
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// The binary exponent of a finite nonzero f64 (`floor(log2 |x|)`), very negative for
/// subnormals (which every narrower format flushes to its own subnormal grid anyway).
fn exponent_of(x: f64) -> i32 {
    let biased = ((x.to_bits() >> 52) & 0x7ff) as i32;
    if biased == 0 { -1074 } else { biased - 1023 }
}

/// Rounds `x` to the nearest value of float dtype `dtype` (ties to even, subnormals kept,
/// overflow to ±inf), returned as the exact f64 of that value. Identity for f64, NaN, ±inf
/// and zeros.
pub fn round_to_dtype(x: f64, dtype: DType) -> f64 {
    let Some((precision, emin, emax)) = format_of(dtype) else {
        return x;
    };
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let e = exponent_of(x).max(emin);
    let ulp = pow2(e - precision + 1);
    // Division and multiplication by a power of two are exact here.
    let r = (x / ulp).round_ties_even() * ulp;
    if r.abs() >= pow2(emax + 1) {
        f64::INFINITY.copysign(x)
    } else {
        r
    }
}

/// Significand bits of a float dtype (hidden bit included).
fn precision_of(dtype: DType) -> u32 {
    match format_of(dtype) {
        Some((p, _, _)) => p as u32,
        None => 53,
    }
}

/// Converts an exact integer to float dtype `dtype` with one round-to-nearest-even (overflow
/// to ±inf), returned as the exact f64 of the result.
pub fn int_to_float(v: i128, dtype: DType) -> f64 {
    let p = precision_of(dtype);
    let m = v.unsigned_abs();
    let bits = 128 - m.leading_zeros();
    let rounded = if bits <= p {
        m
    } else {
        let shift = bits - p;
        let q = m >> shift;
        let rem = m & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let up = rem > half || (rem == half && q & 1 == 1);
        (q + u128::from(up)) << shift
    };
    // `rounded` has at most p + 1 <= 54 significant bits, so this conversion is exact.
    let f = rounded as f64;
    round_to_dtype(if v < 0 { -f } else { f }, dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_f16_once() {
        // 2049 + 2^-14 lies above the tie 2049 between 2048 and 2050: rounds up.
        assert_eq!(round_to_dtype(2049.0 + 2f64.powi(-14), DType::F16), 2050.0);
        assert_eq!(round_to_dtype(2049.0, DType::F16), 2048.0);
        assert_eq!(round_to_dtype(2051.0, DType::F16), 2052.0);
        assert_eq!(round_to_dtype(65519.0, DType::F16), 65504.0);
        assert_eq!(round_to_dtype(65520.0, DType::F16), f64::INFINITY);
        assert_eq!(round_to_dtype(-1e9, DType::F16), f64::NEG_INFINITY);
        // Subnormals: the smallest is 2^-24; half of it ties to zero, a bit more rounds up.
        assert_eq!(round_to_dtype(2f64.powi(-25), DType::F16), 0.0);
        assert_eq!(
            round_to_dtype(2f64.powi(-25) * 1.5, DType::F16),
            2f64.powi(-24)
        );
        let neg = round_to_dtype(-(2f64.powi(-26)), DType::F16);
        assert!(neg == 0.0 && neg.is_sign_negative());
    }

    #[test]
    fn rounds_bf16_and_f32() {
        // bf16 has 8 significant bits: 1 + 2^-8 ties to 1, 1 + 3 * 2^-8 ties up to 1 + 2^-6.
        assert_eq!(round_to_dtype(1.0 + 2f64.powi(-8), DType::BF16), 1.0);
        assert_eq!(
            round_to_dtype(1.0 + 3.0 * 2f64.powi(-8), DType::BF16),
            1.0 + 2f64.powi(-6)
        );
        assert_eq!(round_to_dtype(1e39, DType::BF16), f64::INFINITY);
        for x in [0.1, -1.0 / 3.0, 1e-40, 3.4028235677973366e38, 123456789.0] {
            assert_eq!(round_to_dtype(x, DType::F32), x as f32 as f64);
        }
        assert_eq!(round_to_dtype(0.1, DType::F64), 0.1);
        assert!(round_to_dtype(f64::NAN, DType::F16).is_nan());
    }

    #[test]
    fn integers_round_once() {
        // 2^60 + 2^52 + 1 is just above a bf16 tie; through f64 it would tie to even (2^60).
        let v = (1i128 << 60) + (1i128 << 52) + 1;
        assert_eq!(int_to_float(v, DType::BF16), 2f64.powi(60) + 2f64.powi(53));
        assert_eq!(
            int_to_float(-v, DType::BF16),
            -(2f64.powi(60) + 2f64.powi(53))
        );
        assert_eq!(int_to_float((1 << 53) + 1, DType::F64), 2f64.powi(53));
        assert_eq!(int_to_float(u64::MAX as i128, DType::F32), 2f64.powi(64));
        assert_eq!(int_to_float(65520, DType::F16), f64::INFINITY);
        assert_eq!(int_to_float(2049, DType::F16), 2048.0);
        assert_eq!(int_to_float(-7, DType::F16), -7.0);
        assert_eq!(int_to_float(0, DType::F32), 0.0);
    }
}
