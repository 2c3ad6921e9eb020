//! Bit-exact decoding and encoding of the low-precision float formats (ONNX's float8 family,
//! float8 E8M0 and float4 E2M1), following the ONNX `Cast` specification's tables.
//!
//! Every value of these formats is exactly an f64, so [`decode`] is exact. [`encode`] rounds
//! an f64 once, to nearest with ties to even, and then handles overflow, infinities and NaN
//! per format: with `saturate` out-of-range values (and infinities) clamp to the largest
//! finite value; without it they become infinity (E5M2) or NaN (the formats without
//! infinities). E8M0 follows its own power-of-two rounding ([`encode_e8m0`]).

use super::DType;

/// How a format spends its top exponent and its sign on special values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Specials {
    /// IEEE-like: the all-ones exponent holds ±inf (mantissa 0) and NaN.
    Ieee,
    /// "Finite": no infinities; only all-ones exponent and mantissa is NaN (either sign).
    Fn,
    /// "Finite, unsigned zero": no infinities, no -0; `0x80` is the single NaN.
    Fnuz,
    /// No infinities and no NaN at all (float4 E2M1).
    None,
}

/// The layout of a small sign-exponent-mantissa float format.
#[derive(Clone, Copy, Debug)]
struct Format {
    exp_bits: u32,
    man_bits: u32,
    bias: i32,
    specials: Specials,
}

impl Format {
    fn of(dtype: DType) -> Option<Format> {
        let (exp_bits, man_bits, bias, specials) = match dtype {
            DType::F8E4M3FN => (4, 3, 7, Specials::Fn),
            DType::F8E4M3FNUZ => (4, 3, 8, Specials::Fnuz),
            DType::F8E5M2 => (5, 2, 15, Specials::Ieee),
            DType::F8E5M2FNUZ => (5, 2, 16, Specials::Fnuz),
            DType::F4E2M1 => (2, 1, 1, Specials::None),
            _ => return None,
        };
        Some(Format {
            exp_bits,
            man_bits,
            bias,
            specials,
        })
    }

    fn sign_bit(self) -> u8 {
        1 << (self.exp_bits + self.man_bits)
    }

    fn max_exp_field(self) -> u32 {
        (1 << self.exp_bits) - 1
    }

    fn man_mask(self) -> u32 {
        (1 << self.man_bits) - 1
    }

    /// Smallest normal exponent.
    fn emin(self) -> i32 {
        1 - self.bias
    }

    /// The bit pattern (sign clear) of the largest finite value.
    fn max_bits(self) -> u8 {
        let top = self.max_exp_field();
        let (e, m) = match self.specials {
            // The all-ones exponent is taken by inf/NaN.
            Specials::Ieee => (top - 1, self.man_mask()),
            // All ones is NaN, one below it is the maximum.
            Specials::Fn => (top, self.man_mask() - 1),
            Specials::Fnuz | Specials::None => (top, self.man_mask()),
        };
        ((e << self.man_bits) | m) as u8
    }

    /// The bit pattern of NaN with the given sign (ignored where NaN is unsigned).
    fn nan_bits(self, negative: bool) -> u8 {
        let sign = if negative { self.sign_bit() } else { 0 };
        match self.specials {
            Specials::Ieee => sign | ((self.max_exp_field() << self.man_bits) as u8) | 2,
            Specials::Fn => sign | ((self.max_exp_field() << self.man_bits) as u8) | 7,
            Specials::Fnuz => 0x80,
            // float4 holds no NaN; the ONNX reference (ml_dtypes) produces a zero whose sign
            // is the opposite of the NaN's.
            Specials::None => {
                if negative {
                    0
                } else {
                    self.sign_bit()
                }
            }
        }
    }

    fn decode(self, bits: u8) -> f64 {
        let bits = u32::from(bits) & ((1 << (1 + self.exp_bits + self.man_bits)) - 1);
        if self.specials == Specials::Fnuz && bits == 0x80 {
            return f64::NAN;
        }
        let negative = bits & u32::from(self.sign_bit()) != 0;
        let e = (bits >> self.man_bits) & self.max_exp_field();
        let m = bits & self.man_mask();
        let top = e == self.max_exp_field();
        let magnitude = match self.specials {
            Specials::Ieee if top && m == 0 => f64::INFINITY,
            Specials::Ieee if top => f64::NAN,
            Specials::Fn if top && m == self.man_mask() => f64::NAN,
            _ if e == 0 => f64::from(m) * pow2(self.emin() - self.man_bits as i32),
            _ => {
                f64::from(m + (1 << self.man_bits))
                    * pow2(e as i32 - self.bias - self.man_bits as i32)
            }
        };
        if negative { -magnitude } else { magnitude }
    }

    fn encode(self, x: f64, saturate: bool) -> u8 {
        let negative = x.is_sign_negative();
        let sign = if negative { self.sign_bit() } else { 0 };
        if x.is_nan() {
            return self.nan_bits(negative);
        }
        let max = self.decode(self.max_bits());
        // Round once, to nearest-even on the format's grid with an unbounded exponent range.
        let r = if x.is_infinite() {
            f64::INFINITY
        } else {
            round_to_grid(x.abs(), self.emin(), self.man_bits)
        };
        if r > max {
            return if saturate || self.specials == Specials::None {
                sign | self.max_bits()
            } else if self.specials == Specials::Ieee {
                sign | ((self.max_exp_field() << self.man_bits) as u8)
            } else {
                self.nan_bits(negative)
            };
        }
        if r == 0.0 {
            // FNUZ formats have no -0: `0x80` is their NaN.
            return if self.specials == Specials::Fnuz {
                0
            } else {
                sign
            };
        }
        let e = exponent_of(r);
        let field = if e < self.emin() {
            // Subnormal: the exact count of smallest steps.
            (r / pow2(self.emin() - self.man_bits as i32)) as u32
        } else {
            let m = (r / pow2(e - self.man_bits as i32)) as u32 - (1 << self.man_bits);
            (((e + self.bias) as u32) << self.man_bits) | m
        };
        sign | field as u8
    }
}

/// `2^k` as an f64, for `k` in f64's normal range.
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `floor(log2 x)` of a finite positive f64 (very negative for f64 subnormals).
fn exponent_of(x: f64) -> i32 {
    let biased = ((x.to_bits() >> 52) & 0x7ff) as i32;
    if biased == 0 { -1074 } else { biased - 1023 }
}

/// Rounds a finite nonnegative `x` to the grid of a format with `man_bits` fraction bits and
/// smallest normal exponent `emin` (subnormals below it), ties to even, no upper bound.
fn round_to_grid(x: f64, emin: i32, man_bits: u32) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let ulp = pow2(exponent_of(x).max(emin) - man_bits as i32);
    (x / ulp).round_ties_even() * ulp
}

/// How a value rounds to float8 E8M0's powers of two (ONNX `Cast`'s `round_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E8M0Rounding {
    /// Up to the next power of two when any fraction bit is set (the default).
    Up,
    /// Down: drop the fraction.
    Down,
    /// To nearest (ties up), by the guard, round and sticky bits of the f32 input.
    Nearest,
}

/// Decodes the bit pattern of a low-precision float dtype to its exact f64 value.
/// Non-float or non-low-precision dtypes decode as NaN.
pub fn decode(bits: u8, dtype: DType) -> f64 {
    if dtype == DType::F8E8M0 {
        return if bits == 0xFF {
            f64::NAN
        } else {
            pow2(i32::from(bits) - 127)
        };
    }
    match Format::of(dtype) {
        Some(f) => f.decode(bits),
        None => f64::NAN,
    }
}

/// Encodes `x` into the bit pattern of a low-precision float dtype: round to nearest-even,
/// then out-of-range values saturate to ±max (`saturate`) or become inf/NaN per the format.
/// float4 E2M1 always saturates (it has neither inf nor NaN); E8M0 rounds up
/// ([`encode_e8m0`] offers the other modes). Returns 0 for dtypes that are not low-precision
/// floats.
pub fn encode(x: f64, dtype: DType, saturate: bool) -> u8 {
    if dtype == DType::F8E8M0 {
        return encode_e8m0(x, saturate, E8M0Rounding::Up);
    }
    match Format::of(dtype) {
        Some(f) => f.encode(x, saturate),
        None => 0,
    }
}

/// Encodes `x` as float8 E8M0 the way ONNX does: `x` is first rounded to f32 and its sign
/// is ignored; its power of two `2^e` (`e = floor(log2 |x|)`) becomes the result, moved one
/// up per `mode` (`Up`: when `|x|` is not exactly `2^e`; `Nearest`: when `|x| >= 1.5 * 2^e`).
/// Values below the smallest `2^-127` (zero included) become it. NaN becomes `0xFF`;
/// infinity and results past `2^127` become `2^127` when `saturate` (the specification's
/// table), else NaN.
///
/// For normal f32 inputs this is bit for bit the reference's guard/round/sticky computation;
/// for f32 subnormals it follows the specification's "up"/"down"/"nearest" wording (the
/// reference rounds every nonzero subnormal up to `2^-126`, even `2^-127` itself).
pub fn encode_e8m0(x: f64, saturate: bool, mode: E8M0Rounding) -> u8 {
    let overflow = if saturate { 0xFE } else { 0xFF };
    let v = f64::from((x as f32).abs());
    if v.is_nan() {
        return 0xFF;
    }
    if v.is_infinite() {
        return overflow;
    }
    if v == 0.0 {
        return 0;
    }
    let e = exponent_of(v);
    let round_up = match mode {
        E8M0Rounding::Up => v != pow2(e),
        E8M0Rounding::Down => false,
        E8M0Rounding::Nearest => v >= 1.5 * pow2(e),
    };
    let k = e + 127 + i32::from(round_up);
    if k >= 0xFF { overflow } else { k.max(0) as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOATS: [DType; 6] = [
        DType::F8E4M3FN,
        DType::F8E4M3FNUZ,
        DType::F8E5M2,
        DType::F8E5M2FNUZ,
        DType::F8E8M0,
        DType::F4E2M1,
    ];

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
    }

    #[test]
    fn maxima_and_smallest_subnormals() {
        // (dtype, max bits, max value, smallest subnormal bits, its value)
        let cases = [
            (DType::F8E4M3FN, 0x7E, 448.0, 0x01, 2f64.powi(-9)),
            (DType::F8E4M3FNUZ, 0x7F, 240.0, 0x01, 2f64.powi(-10)),
            (DType::F8E5M2, 0x7B, 57344.0, 0x01, 2f64.powi(-16)),
            (DType::F8E5M2FNUZ, 0x7F, 57344.0, 0x01, 2f64.powi(-17)),
            (DType::F4E2M1, 0x7, 6.0, 0x1, 0.5),
        ];
        for (d, max_bits, max, sub_bits, sub) in cases {
            assert_eq!(decode(max_bits, d), max, "{d}");
            assert_eq!(encode(max, d, false), max_bits, "{d}");
            assert_eq!(decode(sub_bits, d), sub, "{d}");
            assert_eq!(encode(sub, d, false), sub_bits, "{d}");
            // Half the smallest subnormal ties to even (zero); a bit more rounds up.
            assert_eq!(encode(sub / 2.0, d, true), 0, "{d}");
            assert_eq!(encode(sub * 0.75, d, true), sub_bits, "{d}");
        }
        assert_eq!(decode(0xFE, DType::F8E8M0), 2f64.powi(127));
        assert_eq!(decode(0x00, DType::F8E8M0), 2f64.powi(-127));
        assert_eq!(decode(0x7F, DType::F8E8M0), 1.0);
    }

    #[test]
    fn every_pattern_round_trips() {
        for d in FLOATS {
            let width = if d == DType::F4E2M1 { 16 } else { 256 };
            for b in 0..width {
                let b = b as u8;
                let v = decode(b, d);
                let back = encode(v, d, false);
                if v.is_nan() {
                    assert!(decode(back, d).is_nan(), "{d} {b:#x}");
                } else {
                    assert_eq!(back, b, "{d} {b:#x} = {v}");
                }
            }
        }
    }

    #[test]
    fn ties_round_to_even() {
        // E4M3FN around 1: the grid step is 1/8; 1 + 1/16 ties down to 1, 1 + 3/16 up.
        assert_eq!(
            decode(encode(1.0625, DType::F8E4M3FN, true), DType::F8E4M3FN),
            1.0
        );
        assert_eq!(
            decode(encode(1.1875, DType::F8E4M3FN, true), DType::F8E4M3FN),
            1.25
        );
        // E5M2 between 1.25 and 1.5 (step 1/4): 1.375 ties up to the even 1.5.
        assert_eq!(
            decode(encode(1.375, DType::F8E5M2, true), DType::F8E5M2),
            1.5
        );
        // float4: 0.25 ties to 0, 0.75 ties to 1, -3.5 ties to -4, 5 ties to 4.
        let f4 = |x: f64| decode(encode(x, DType::F4E2M1, true), DType::F4E2M1);
        assert_eq!(
            [f4(0.25), f4(0.75), f4(-3.5), f4(5.0), f4(1.05)],
            [0.0, 1.0, -4.0, 4.0, 1.0]
        );
    }

    #[test]
    fn overflow_with_and_without_saturation() {
        // E4M3FN: 464 ties back to 448; 470 rounds to the NaN slot 480.
        assert_eq!(encode(464.0, DType::F8E4M3FN, false), 0x7E);
        assert_eq!(encode(470.0, DType::F8E4M3FN, false), 0x7F);
        assert_eq!(encode(-470.0, DType::F8E4M3FN, false), 0xFF);
        assert_eq!(encode(-470.0, DType::F8E4M3FN, true), 0xFE);
        assert_eq!(encode(f64::INFINITY, DType::F8E4M3FN, true), 0x7E);
        assert_eq!(encode(f64::NEG_INFINITY, DType::F8E4M3FN, false), 0xFF);
        // E5M2: 61439 rounds to the max, 61440 ties to infinity.
        assert_eq!(encode(61439.0, DType::F8E5M2, false), 0x7B);
        assert_eq!(encode(61440.0, DType::F8E5M2, false), 0x7C);
        assert_eq!(encode(-1e6, DType::F8E5M2, false), 0xFC);
        assert_eq!(encode(-1e6, DType::F8E5M2, true), 0xFB);
        assert_eq!(encode(f64::INFINITY, DType::F8E5M2, false), 0x7C);
        assert!(decode(0x7C, DType::F8E5M2).is_infinite());
        // FNUZ: overflow and infinities are the single NaN without saturation.
        for d in [DType::F8E4M3FNUZ, DType::F8E5M2FNUZ] {
            assert_eq!(encode(1e6, d, false), 0x80);
            assert_eq!(encode(f64::NEG_INFINITY, d, false), 0x80);
            assert_eq!(encode(-1e6, d, true), 0xFF);
        }
        // float4 always saturates.
        assert_eq!(encode(1e6, DType::F4E2M1, false), 0x7);
        assert_eq!(encode(f64::NEG_INFINITY, DType::F4E2M1, false), 0xF);
    }

    #[test]
    fn nan_and_signed_zero() {
        assert_eq!(encode(f64::NAN, DType::F8E4M3FN, true), 0x7F);
        assert_eq!(encode(-f64::NAN, DType::F8E4M3FN, true), 0xFF);
        assert_eq!(encode(f64::NAN, DType::F8E5M2, true), 0x7E);
        assert_eq!(encode(f64::NAN, DType::F8E4M3FNUZ, true), 0x80);
        assert_eq!(encode(f64::NAN, DType::F8E8M0, true), 0xFF);
        // float4 has no NaN: it becomes a zero of the opposite sign, like the reference.
        assert_eq!(encode(f64::NAN, DType::F4E2M1, true), 0x8);
        assert_eq!(encode(-f64::NAN, DType::F4E2M1, true), 0x0);
        assert_eq!(encode(-0.0, DType::F8E4M3FN, true), 0x80);
        assert_eq!(encode(-1e-9, DType::F8E5M2, true), 0x80);
        assert_eq!(encode(-0.0, DType::F8E4M3FNUZ, true), 0x00);
        assert_eq!(encode(-1e-9, DType::F8E5M2FNUZ, true), 0x00);
        assert_eq!(encode(-0.0, DType::F4E2M1, true), 0x8);
        assert!(decode(0x80, DType::F8E5M2FNUZ).is_nan());
        assert!(same(decode(0x80, DType::F8E4M3FN), -0.0));
        assert!(decode(0x7D, DType::F8E5M2).is_nan());
        assert!(decode(0x7F, DType::F8E4M3FN).is_nan());
        assert_eq!(decode(0x7F, DType::F8E4M3FNUZ), 240.0);
        assert!(decode(0, DType::F32).is_nan());
        assert_eq!(encode(1.0, DType::F32, true), 0);
    }

    #[test]
    fn e8m0_rounding_modes() {
        let up = |x: f64| decode(encode_e8m0(x, true, E8M0Rounding::Up), DType::F8E8M0);
        assert_eq!(
            [up(0.0), up(0.124), up(0.25), up(1.1), up(2.0), up(-4.0)],
            [2f64.powi(-127), 0.125, 0.25, 2.0, 2.0, 4.0]
        );
        assert_eq!(encode_e8m0(1.5, true, E8M0Rounding::Down), 0x7F);
        // Nearest: 1.5 (guard set) rounds up, 1.25 (guard clear) down, 3.0 up.
        assert_eq!(encode_e8m0(1.5, true, E8M0Rounding::Nearest), 0x80);
        assert_eq!(encode_e8m0(1.25, true, E8M0Rounding::Nearest), 0x7F);
        assert_eq!(encode_e8m0(3.0, true, E8M0Rounding::Nearest), 0x81);
        // Past 2^127: saturate to it, or NaN.
        let big = 2f64.powi(127) * 1.5;
        assert_eq!(encode_e8m0(big, true, E8M0Rounding::Up), 0xFE);
        assert_eq!(encode_e8m0(big, false, E8M0Rounding::Up), 0xFF);
        assert_eq!(encode_e8m0(f64::INFINITY, true, E8M0Rounding::Up), 0xFE);
        assert_eq!(encode_e8m0(f64::INFINITY, false, E8M0Rounding::Up), 0xFF);
        assert_eq!(encode_e8m0(f64::NAN, true, E8M0Rounding::Up), 0xFF);
        // Below 2^-127 (f32 subnormals) everything becomes 2^-127, except up-rounding of
        // values above it.
        assert_eq!(encode(1e-40, DType::F8E8M0, true), 0x00);
        assert_eq!(encode(2f64.powi(-127), DType::F8E8M0, true), 0x00);
        assert_eq!(encode(1.5 * 2f64.powi(-127), DType::F8E8M0, true), 0x01);
        assert_eq!(
            encode_e8m0(1.5 * 2f64.powi(-127), true, E8M0Rounding::Down),
            0x00
        );
        // The input is an f32 first: 2^128 (beyond f32) is infinity.
        assert_eq!(encode(2f64.powi(128), DType::F8E8M0, false), 0xFF);
        assert_eq!(encode(-0.5, DType::F8E8M0, true), 0x7E);
    }
}
