//! Inline f32 approximations of `exp`, `erf`, `tanh` and `sigmoid`, written once as a recipe
//! over a few vector instructions ([`MathOps`]) and printed by both code generators (the
//! Cranelift renderer on `f32x4`, the LLVM printer on `<N x float>`), so that the hot
//! activations of GELU, softmax, SiLU and friends run on whole vectors instead of one helper
//! call per lane.
//!
//! Every recipe uses only IEEE operations with one meaning (add, mul, div, fused multiply-add,
//! bit casts, shifts, compares and selects), so
//! the result is the same bits on every host and in both code generators, and [`Model`] (the
//! recipe run on Rust `f32`s) predicts them exactly. The error bounds below are against the
//! correctly rounded result, measured by this module's tests (max over the sampled inputs, and
//! stated with a margin):
//!
//! | function | method | bound |
//! |---|---|---|
//! | `exp` | `2^n · p(r)`, `n` rounded by adding `1.5 · 2^23`, `r = x − n ln 2` (Cody–Waite), `p = 1 + r q(r)` with `q` of degree 5 (minimax fit), the scale applied in two halves (denormal results rounded once) | 2 ULP |
//! | `sigmoid` | `1 / (1 + e^-x)`, or `e^x / (1 + e^x)` below 0 | 3 ULP |
//! | `tanh` | `|x| < 0.5625`: `x + x³ p(x²)` (degree-4 fit); above: `1 − 2 / (e^{2|x|} + 1)`; sign copied | 3 ULP |
//! | `erf` | `x · P(x²) / Q(x²)` (degree 6 / 5 rational fit on `[0, 4]`) with `x²` clamped to 16, the result clamped to `[-1, 1]` (odd, so the sign needs no masks) | 6 ULP |
//!
//! Polynomials are evaluated by Estrin's scheme (short dependency chains, see [`estrin`]).
//! NaN propagates, `±Inf` give the limits, `-0` keeps its sign where the function is odd.
//! The bounds are within the conformance policy's tier for transcendental functions (8 ULP
//! for f32, `docs/tolerances.md`). [`crate::CpuMath::Precise`] turns the recipes off (f64
//! helpers, correctly rounded in practice, bit-exact with the kernel interpreter).

use tessera_ir::op::UnaryOp;

/// The instructions a recipe is written in. `F` is a float vector (or scalar) of f32 lanes,
/// `I` an i32 vector of the same lanes, `M` a lane mask.
pub(crate) trait MathOps {
    /// A float value.
    type F: Copy;
    /// An i32 value with the lanes of `F`.
    type I: Copy;
    /// A lane mask.
    type M: Copy;
    /// The error type of the code generator.
    type E;

    /// A float constant in every lane.
    fn f(&mut self, c: f32) -> Result<Self::F, Self::E>;
    /// An integer constant in every lane.
    fn i(&mut self, c: i32) -> Result<Self::I, Self::E>;
    /// `a + b`.
    fn add(&mut self, a: Self::F, b: Self::F) -> Result<Self::F, Self::E>;
    /// `a - b`.
    fn sub(&mut self, a: Self::F, b: Self::F) -> Result<Self::F, Self::E>;
    /// `a * b`.
    fn mul(&mut self, a: Self::F, b: Self::F) -> Result<Self::F, Self::E>;
    /// `a / b`.
    fn div(&mut self, a: Self::F, b: Self::F) -> Result<Self::F, Self::E>;
    /// `a * b + c` rounded once.
    fn fma(&mut self, a: Self::F, b: Self::F, c: Self::F) -> Result<Self::F, Self::E>;
    /// `|a|`.
    fn abs(&mut self, a: Self::F) -> Result<Self::F, Self::E>;
    /// `a - b` (wrapping).
    fn isub(&mut self, a: Self::I, b: Self::I) -> Result<Self::I, Self::E>;
    /// `a & b`.
    fn iand(&mut self, a: Self::I, b: Self::I) -> Result<Self::I, Self::E>;
    /// `a | b`.
    fn ior(&mut self, a: Self::I, b: Self::I) -> Result<Self::I, Self::E>;
    /// `a << n`.
    fn shl(&mut self, a: Self::I, n: u8) -> Result<Self::I, Self::E>;
    /// `a >> n`, arithmetic.
    fn sshr(&mut self, a: Self::I, n: u8) -> Result<Self::I, Self::E>;
    /// The bits of `a` as a float.
    fn as_float(&mut self, a: Self::I) -> Result<Self::F, Self::E>;
    /// The bits of `a` as an integer.
    fn as_int(&mut self, a: Self::F) -> Result<Self::I, Self::E>;
    /// `a < b` (false where either is NaN).
    fn lt(&mut self, a: Self::F, b: Self::F) -> Result<Self::M, Self::E>;
    /// `m ? a : b`, lane by lane.
    fn select(&mut self, m: Self::M, a: Self::F, b: Self::F) -> Result<Self::F, Self::E>;
}

/// The unary operators that have a recipe here (f32 only).
pub(crate) fn has_recipe(op: UnaryOp) -> bool {
    matches!(
        op,
        UnaryOp::Exp | UnaryOp::Erf | UnaryOp::Tanh | UnaryOp::Sigmoid
    )
}

/// Prints the recipe of `op` (see [`has_recipe`]) on `x`; `None` for other operators.
pub(crate) fn unary<B: MathOps>(b: &mut B, op: UnaryOp, x: B::F) -> Option<Result<B::F, B::E>> {
    Some(match op {
        UnaryOp::Exp => exp(b, x),
        UnaryOp::Erf => erf(b, x),
        UnaryOp::Tanh => tanh(b, x),
        UnaryOp::Sigmoid => sigmoid(b, x),
        _ => return None,
    })
}

/// `min(x, hi)` keeping NaN.
fn min_c<B: MathOps>(b: &mut B, x: B::F, hi: f32) -> Result<B::F, B::E> {
    let h = b.f(hi)?;
    let above = b.lt(h, x)?;
    b.select(above, h, x)
}

/// `max(x, lo)` keeping NaN.
fn max_c<B: MathOps>(b: &mut B, x: B::F, lo: f32) -> Result<B::F, B::E> {
    let l = b.f(lo)?;
    let below = b.lt(x, l)?;
    b.select(below, l, x)
}

/// `c[0] + c[1] t + c[2] t² + ...` by Estrin's scheme: pairs `c[2i] + c[2i+1] t`, then
/// pairs of those with `t²`, then with `t⁴`, ... (`pows` holds `t, t², t⁴, ...`, computed
/// on first use and shared between polynomials in the same `t`). A few more operations than
/// Horner's rule, but a dependency chain of about log₂(degree) fused multiply-adds instead
/// of one per degree: the hot loops around these recipes are bound by how many iterations
/// the out-of-order window holds, so the chain's length is what costs.
fn estrin<B: MathOps>(b: &mut B, pows: &mut Vec<B::F>, c: &[f32]) -> Result<B::F, B::E> {
    let mut level: Vec<B::F> = Vec::with_capacity(c.len().div_ceil(2));
    for pair in c.chunks(2) {
        let lo = b.f(pair[0])?;
        level.push(match pair.get(1) {
            Some(&hi) => {
                let hi = b.f(hi)?;
                b.fma(hi, pows[0], lo)?
            }
            None => lo,
        });
    }
    let mut k = 1;
    while level.len() > 1 {
        if pows.len() <= k {
            let p = pows[k - 1];
            let sq = b.mul(p, p)?;
            pows.push(sq);
        }
        let t = pows[k];
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            // `chunks` never yields an empty slice.
            next.push(if let [lo, hi] = pair {
                b.fma(*hi, t, *lo)?
            } else {
                pair[0]
            });
        }
        level = next;
        k += 1;
    }
    match level.pop() {
        Some(v) => Ok(v),
        None => b.f(0.0),
    }
}

/// `r` with the sign bit of `x` (`r` is not negative).
fn with_sign_of<B: MathOps>(b: &mut B, r: B::F, x: B::F) -> Result<B::F, B::E> {
    let xi = b.as_int(x)?;
    let mask = b.i(i32::MIN)?;
    let sign = b.iand(xi, mask)?;
    let ri = b.as_int(r)?;
    let out = b.ior(ri, sign)?;
    b.as_float(out)
}

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split so that `n * LN2_HI` is exact for `|n| < 2^15`.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5 · 2^23`: adding it to a float of magnitude below `2^22` rounds that float to an
/// integer (ties to even) held in the low mantissa bits.
const ROUNDER: f32 = 12_582_912.0;
/// `e^r` on `[-ln2/2, ln2/2]`: degree 6, `c0 = 1`, fit toward minimax relative error
/// (3.4e-2 ULP in exact arithmetic).
const EXP_POLY: [f32; 7] = [
    1.0,
    1.0,
    0.499_999_94,
    0.166_664_29,
    0.041_668_016,
    0.008_374_388,
    0.001_384_338_2,
];

/// `e^x`.
pub(crate) fn exp<B: MathOps>(b: &mut B, x: B::F) -> Result<B::F, B::E> {
    // e^89 overflows and e^-104 rounds to 0 in f32: clamping keeps `n` small.
    let x = min_c(b, x, 89.0)?;
    let x = max_c(b, x, -104.0)?;
    // n = round(x log2 e) in one fused operation, as a float and (the low mantissa bits of
    // `x log2 e + ROUNDER`) as an integer. NaN stays NaN through `r`, so the scale's bits
    // do not matter then.
    let l2e = b.f(LOG2_E)?;
    let rounder = b.f(ROUNDER)?;
    let shifted = b.fma(x, l2e, rounder)?;
    let n = b.sub(shifted, rounder)?;
    let hi = b.f(-LN2_HI)?;
    let lo = b.f(-LN2_LO)?;
    let r = b.fma(n, hi, x)?;
    let r = b.fma(n, lo, r)?;
    // p = 1 + r q(r): the last operation adds the leading 1, so only it rounds at that scale.
    let mut pows = vec![r];
    let q = estrin(b, &mut pows, &EXP_POLY[1..])?;
    let one = b.f(1.0)?;
    let p = b.fma(q, r, one)?;
    // 2^n as 2^h · 2^(n-h) with h = n >> 1: both factors are normal for n in [-150, 128],
    // so only the last product rounds (once, also for denormal results). With
    // `nb = n + 254` (read off the rounded bits), `nb >> 1 = h + 127` and
    // `nb - (nb >> 1) = (n - h) + 127` are both exponents already biased.
    let bits = b.as_int(shifted)?;
    let base = b.i(ROUNDER.to_bits() as i32 - 254)?;
    let nb = b.isub(bits, base)?;
    let h = b.sshr(nb, 1)?;
    let rest = b.isub(nb, h)?;
    let h = b.shl(h, 23)?;
    let rest = b.shl(rest, 23)?;
    let s1 = b.as_float(h)?;
    let s2 = b.as_float(rest)?;
    let p = b.mul(p, s1)?;
    b.mul(p, s2)
}

/// `1 / (1 + e^-x)`.
pub(crate) fn sigmoid<B: MathOps>(b: &mut B, x: B::F) -> Result<B::F, B::E> {
    let a = b.abs(x)?;
    let zero = b.f(0.0)?;
    let na = b.sub(zero, a)?;
    let z = exp(b, na)?;
    let one = b.f(1.0)?;
    let d = b.add(one, z)?;
    let pos = b.div(one, d)?;
    let neg = b.div(z, d)?;
    let below = b.lt(x, zero)?;
    b.select(below, neg, pos)
}

/// `tanh(x) / x - 1` over `x²` on `[0, 0.5625]` (least-squares fit toward minimax).
const TANH_SMALL: [f32; 5] = [
    -0.333_333_13,
    0.133_324_61,
    -0.053_838_227,
    0.021_010_265,
    -0.006_183_273,
];

/// `tanh(x)`.
pub(crate) fn tanh<B: MathOps>(b: &mut B, x: B::F) -> Result<B::F, B::E> {
    let a = b.abs(x)?;
    let t = b.mul(a, a)?;
    let p = estrin(b, &mut vec![t], &TANH_SMALL)?;
    let at = b.mul(a, t)?;
    let small = b.fma(at, p, a)?;
    let two = b.f(2.0)?;
    let a2 = b.mul(a, two)?;
    let e = exp(b, a2)?;
    let one = b.f(1.0)?;
    let e1 = b.add(e, one)?;
    let q = b.div(two, e1)?;
    let large = b.sub(one, q)?;
    let cut = b.f(0.5625)?;
    let is_small = b.lt(a, cut)?;
    let r = b.select(is_small, small, large)?;
    with_sign_of(b, r, x)
}

/// Numerator and denominator of `erf(x) / x` in `x²` on `[0, 4]` (rational least-squares fit
/// toward minimax; relative error 2.5e-9 in exact arithmetic).
const ERF_P: [f32; 7] = [
    std::f32::consts::FRAC_2_SQRT_PI,
    0.185_28,
    0.054_354,
    0.003_856_478,
    0.000_380_858_95,
    4.715_109_3e-6,
    -1.336_023_4e-8,
];
const ERF_Q: [f32; 6] = [
    1.0,
    0.497_533_53,
    0.114_014_01,
    0.015_479_843,
    0.001_310_691,
    6.340_348e-5,
];

/// `erf(x)`.
pub(crate) fn erf<B: MathOps>(b: &mut B, x: B::F) -> Result<B::F, B::E> {
    // `x P(x²) / Q(x²)` is odd, so it keeps the sign of `x` (and of -0) without masks. The
    // fit reaches 1 at |x| = 4 (erf rounds to 1 in f32 from 3.92) and P(16)/Q(16) > 1/4:
    // with `x²` clamped to 16 (infinite for huge `x`), `x P / Q` is at least 1 in magnitude
    // from |x| = 4 on (or infinite), and clamping the result to ±1 gives ±1 there.
    let t = b.mul(x, x)?;
    let t = min_c(b, t, 16.0)?;
    let mut pows = vec![t];
    let p = estrin(b, &mut pows, &ERF_P)?;
    let q = estrin(b, &mut pows, &ERF_Q)?;
    let xp = b.mul(x, p)?;
    let r = b.div(xp, q)?;
    let r = min_c(b, r, 1.0)?;
    max_c(b, r, -1.0)
}

/// The recipes run on Rust `f32`s: the exact results the generated code computes (each
/// instruction of [`MathOps`] has one IEEE meaning).
pub struct Model;

impl MathOps for Model {
    type F = f32;
    type I = i32;
    type M = bool;
    type E = std::convert::Infallible;

    fn f(&mut self, c: f32) -> Result<f32, Self::E> {
        Ok(c)
    }
    fn i(&mut self, c: i32) -> Result<i32, Self::E> {
        Ok(c)
    }
    fn add(&mut self, a: f32, b: f32) -> Result<f32, Self::E> {
        Ok(a + b)
    }
    fn sub(&mut self, a: f32, b: f32) -> Result<f32, Self::E> {
        Ok(a - b)
    }
    fn mul(&mut self, a: f32, b: f32) -> Result<f32, Self::E> {
        Ok(a * b)
    }
    fn div(&mut self, a: f32, b: f32) -> Result<f32, Self::E> {
        Ok(a / b)
    }
    fn fma(&mut self, a: f32, b: f32, c: f32) -> Result<f32, Self::E> {
        Ok(a.mul_add(b, c))
    }
    fn abs(&mut self, a: f32) -> Result<f32, Self::E> {
        Ok(a.abs())
    }
    fn isub(&mut self, a: i32, b: i32) -> Result<i32, Self::E> {
        Ok(a.wrapping_sub(b))
    }
    fn iand(&mut self, a: i32, b: i32) -> Result<i32, Self::E> {
        Ok(a & b)
    }
    fn ior(&mut self, a: i32, b: i32) -> Result<i32, Self::E> {
        Ok(a | b)
    }
    fn shl(&mut self, a: i32, n: u8) -> Result<i32, Self::E> {
        Ok(a.wrapping_shl(u32::from(n)))
    }
    fn sshr(&mut self, a: i32, n: u8) -> Result<i32, Self::E> {
        Ok(a >> n)
    }
    fn as_float(&mut self, a: i32) -> Result<f32, Self::E> {
        Ok(f32::from_bits(a as u32))
    }
    fn as_int(&mut self, a: f32) -> Result<i32, Self::E> {
        Ok(a.to_bits() as i32)
    }
    fn lt(&mut self, a: f32, b: f32) -> Result<bool, Self::E> {
        Ok(a < b)
    }
    fn select(&mut self, m: bool, a: f32, b: f32) -> Result<f32, Self::E> {
        Ok(if m { a } else { b })
    }
}

impl Model {
    /// What the generated code computes for `op` on `x`, or `None` when `op` has no recipe.
    pub fn eval(op: UnaryOp, x: f32) -> Option<f32> {
        unary(&mut Model, op, x).map(|r| match r {
            Ok(v) => v,
            Err(e) => match e {},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in representable f32 values (both finite or equal infinities).
    fn ulps(a: f32, b: f32) -> u64 {
        let key = |v: f32| {
            let i = v.to_bits() as i32;
            if i < 0 {
                i64::from(i32::MIN) - i64::from(i)
            } else {
                i64::from(i)
            }
        };
        (key(a) - key(b)).unsigned_abs()
    }

    fn exact(op: UnaryOp, x: f32) -> f32 {
        let x = f64::from(x);
        let v = match op {
            UnaryOp::Exp => x.exp(),
            UnaryOp::Erf => libm::erf(x),
            UnaryOp::Tanh => x.tanh(),
            _ => {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    x.exp() / (1.0 + x.exp())
                }
            }
        };
        v as f32
    }

    /// Inputs: every 997th f32 bit pattern in the interesting range of each function, plus a
    /// dense sweep around the branch points.
    fn inputs(op: UnaryOp) -> Vec<f32> {
        let hi: f32 = match op {
            UnaryOp::Exp => 100.0,
            UnaryOp::Erf => 6.0,
            _ => 20.0,
        };
        let mut v = Vec::new();
        let mut bits = 0u32;
        while f32::from_bits(bits) <= hi {
            let x = f32::from_bits(bits);
            v.push(x);
            v.push(-x);
            bits += 997;
        }
        for i in 0..20_000 {
            let x = 0.5 + i as f32 * 1e-5;
            v.push(x);
            v.push(-x);
        }
        v
    }

    fn max_error(op: UnaryOp) -> (u64, f32) {
        let mut worst = (0, 0.0);
        for x in inputs(op) {
            let got = Model::eval(op, x).unwrap();
            let want = exact(op, x);
            let e = if want == got || (want.is_nan() && got.is_nan()) {
                0
            } else {
                ulps(got, want)
            };
            if e > worst.0 {
                worst = (e, x);
            }
        }
        eprintln!("{op:?}: max {} ulp at {:e}", worst.0, worst.1);
        worst
    }

    #[test]
    fn exp_is_within_2_ulp() {
        let (e, x) = max_error(UnaryOp::Exp);
        assert!(e <= 2, "exp: {e} ulp at {x:e}");
    }

    #[test]
    fn sigmoid_is_within_3_ulp() {
        let (e, x) = max_error(UnaryOp::Sigmoid);
        assert!(e <= 3, "sigmoid: {e} ulp at {x:e}");
    }

    #[test]
    fn tanh_is_within_3_ulp() {
        let (e, x) = max_error(UnaryOp::Tanh);
        assert!(e <= 3, "tanh: {e} ulp at {x:e}");
    }

    #[test]
    fn erf_is_within_6_ulp() {
        let (e, x) = max_error(UnaryOp::Erf);
        assert!(e <= 6, "erf: {e} ulp at {x:e}");
    }

    #[test]
    fn special_values() {
        let m = |op, x| Model::eval(op, x).unwrap();
        assert_eq!(m(UnaryOp::Exp, f32::INFINITY), f32::INFINITY);
        assert_eq!(m(UnaryOp::Exp, f32::NEG_INFINITY), 0.0);
        assert_eq!(m(UnaryOp::Exp, 0.0), 1.0);
        assert_eq!(m(UnaryOp::Exp, 88.8), f32::INFINITY);
        assert!(m(UnaryOp::Exp, -100.0) > 0.0, "denormal results are kept");
        for op in [UnaryOp::Exp, UnaryOp::Erf, UnaryOp::Tanh, UnaryOp::Sigmoid] {
            assert!(m(op, f32::NAN).is_nan(), "{op:?}(NaN)");
        }
        for op in [UnaryOp::Erf, UnaryOp::Tanh] {
            assert_eq!(m(op, f32::INFINITY), 1.0);
            assert_eq!(m(op, f32::NEG_INFINITY), -1.0);
            assert!(m(op, -0.0).is_sign_negative() && m(op, -0.0) == 0.0);
        }
        assert_eq!(m(UnaryOp::Sigmoid, f32::INFINITY), 1.0);
        assert_eq!(m(UnaryOp::Sigmoid, f32::NEG_INFINITY), 0.0);
        assert_eq!(m(UnaryOp::Sigmoid, 0.0), 0.5);
    }
}
