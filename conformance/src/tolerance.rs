//! The tolerance policy of the operator suite: one place that says how close a backend's result
//! must be to the reference's, per operator class and dtype (`docs/tolerances.md` states the
//! same rules in prose), and the element-by-element check that applies it.
//!
//! - integer, bool and movement/selection results must match exactly;
//! - elementwise floating-point math has a ULP bound per class and dtype, with a small absolute
//!   floor for results near zero, and periodic functions an absolute bound that grows with the
//!   argument's magnitude (argument reduction);
//! - sums, contractions and norms have an absolute bound that grows with the reduction length
//!   and the operands' magnitude (`c * eps * n * scale`, the classic `gamma_n` bound);
//! - `f16` and `bf16` have tiers of their own (results are computed wider and rounded once, so
//!   bounds are stated in their own ULPs and epsilons).
//!
//! NaN matches any NaN, infinities must match exactly, and `-0` equals `+0`. An infinity
//! against a finite value is never a rounding difference, so no bound excuses it: where an
//! overflow would depend on a choice ONNX leaves open (the order of a sum's terms, the width
//! of its accumulator), the catalogue keeps its inputs out of that range instead
//! (`catalogue::Domain::Summand`), and tests the overflow that every order agrees on
//! separately (`docs/tolerances.md`, "Overflow").

use tessera_ir::{DType, Tensor};

/// How an operator's results are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpClass {
    /// Movement, selection, comparison, rounding, sign and bit ops: bit-exact.
    Exact,
    /// Correctly rounded IEEE arithmetic (add, mul, div, sqrt, ...): within a couple of ULPs
    /// (a fused multiply-add may round once instead of twice).
    Arithmetic,
    /// Transcendental functions (exp, log, tanh, erf, ...).
    Transcendental,
    /// Compositions of transcendentals (gelu, mish, softplus, selu, ...).
    Composite,
    /// sin, cos, tan: argument reduction error grows with `|x|`.
    Periodic,
    /// Sums, means, norms, contractions, normalizations and pooling: error grows with the
    /// number of terms.
    Accumulation,
    /// Products of many terms: relative error grows with the number of factors.
    Product,
}

impl OpClass {
    /// The class's name in reports and docs.
    pub fn name(self) -> &'static str {
        match self {
            OpClass::Exact => "exact",
            OpClass::Arithmetic => "arithmetic",
            OpClass::Transcendental => "transcendental",
            OpClass::Composite => "composite",
            OpClass::Periodic => "periodic",
            OpClass::Accumulation => "accumulation",
            OpClass::Product => "product",
        }
    }
}

/// The class of a graph operator, by its text-form name.
pub fn op_class(op: &str) -> OpClass {
    match op {
        "add" | "sub" | "mul" | "div" | "sqrt" | "reciprocal" | "mod" | "fmod" | "pow"
        | "leaky_relu" | "prelu" | "hard_sigmoid" | "shrink" | "hard_swish" | "softsign"
        | "resize" | "grid_sample" | "roi_align" | "tf_idf_vectorizer" => OpClass::Arithmetic,
        "exp" | "log" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh" | "acosh"
        | "atanh" | "erf" | "sigmoid" => OpClass::Transcendental,
        "softplus" | "mish" | "gelu" | "elu" | "selu" | "celu" | "thresholded_relu" => {
            OpClass::Composite
        }
        "sin" | "cos" | "tan" => OpClass::Periodic,
        "sum"
        | "mean"
        | "reduce_sum"
        | "reduce_mean"
        | "reduce_l1"
        | "reduce_l2"
        | "reduce_log_sum"
        | "reduce_log_sum_exp"
        | "reduce_sum_square"
        | "matmul"
        | "gemm"
        | "einsum"
        | "conv"
        | "conv_transpose"
        | "average_pool"
        | "global_average_pool"
        | "batch_normalization"
        | "instance_normalization"
        | "layer_normalization"
        | "softmax"
        | "log_softmax"
        | "cumsum"
        | "det"
        | "dft"
        | "stft"
        | "col2im"
        | "deform_conv"
        | "mel_weight_matrix" => OpClass::Accumulation,
        "reduce_prod" | "cum_prod" => OpClass::Product,
        _ => OpClass::Exact,
    }
}

/// Machine epsilon (spacing of 1.0) of a floating-point dtype; 0 for the others.
pub fn epsilon(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::EPSILON,
        DType::F32 => f32::EPSILON as f64,
        DType::F16 => 2f64.powi(-10),
        DType::BF16 => 2f64.powi(-7),
        _ => 0.0,
    }
}

/// What a case needs beyond op and dtype to set its bound.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CaseScale {
    /// Number of terms accumulated into one result (reduction length, contraction depth).
    pub terms: usize,
    /// The largest finite `|x|` over the inputs (for contractions, the product of the two
    /// operands' largest magnitudes).
    pub magnitude: f64,
}

/// An element passes when its ULP distance is at most `ulp`, or its absolute error is at most
/// `abs + rel * |expected|`. `exact` demands identical values (NaN matching NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    /// Bit-exact comparison.
    pub exact: bool,
    /// ULP bound, in the output dtype's ULPs.
    pub ulp: f64,
    /// Absolute bound.
    pub abs: f64,
    /// Relative bound.
    pub rel: f64,
}

impl Bound {
    /// Exact equality.
    pub const EXACT: Bound = Bound {
        exact: true,
        ulp: 0.0,
        abs: 0.0,
        rel: 0.0,
    };
}

/// The bound for an operator's results of `dtype` (the output's dtype) at `scale`: the policy.
pub fn bound(op: &str, dtype: DType, scale: CaseScale) -> Bound {
    if !dtype.is_float() || dtype.is_low_precision() {
        return Bound::EXACT;
    }
    let eps = epsilon(dtype);
    // The half-precision tiers: computed in f32 and rounded once, so a result is within one
    // of its own ULPs except where a wider intermediate changes a tie.
    let half = matches!(dtype, DType::F16 | DType::BF16);
    let mag = scale.magnitude.max(1.0);
    // The terms of a sum of squares are the squared operands: the `gamma_n` bound scales with
    // them, not with the operands.
    let mag = if op == "reduce_sum_square" {
        mag * mag
    } else {
        mag
    };
    let n = scale.terms.max(1) as f64;
    // A backend may compute in the narrow type itself (rounding each intermediate step), so
    // half-precision results also pass within a few epsilons of the operands' magnitude.
    let half_floor = if half { 2.0 * eps * mag } else { 0.0 };
    let b = |ulp: f64, abs: f64, rel: f64| Bound {
        exact: false,
        ulp,
        abs: abs.max(half_floor),
        rel,
    };
    match op_class(op) {
        OpClass::Exact => Bound::EXACT,
        OpClass::Arithmetic => b(if half { 1.0 } else { 2.0 }, 2.0 * eps * mag, 0.0),
        OpClass::Transcendental => b(if half { 2.0 } else { 8.0 }, 4.0 * eps, 0.0),
        OpClass::Composite => b(if half { 2.0 } else { 16.0 }, 8.0 * eps, 0.0),
        OpClass::Periodic => b(if half { 2.0 } else { 8.0 }, 8.0 * eps * mag, 0.0),
        OpClass::Accumulation => b(4.0, 2.0 * eps * n * mag, 4.0 * eps),
        OpClass::Product => b(4.0, 0.0, 2.0 * eps * n),
    }
}

/// The bound for the result of several fused operators: the loosest of their bounds (exact
/// only when every one is exact).
pub fn bound_for_all<'a>(
    ops: impl IntoIterator<Item = &'a str>,
    dtype: DType,
    scale: CaseScale,
) -> Bound {
    ops.into_iter()
        .map(|op| bound(op, dtype, scale))
        .fold(Bound::EXACT, |a, b| Bound {
            exact: a.exact && b.exact,
            ulp: a.ulp.max(b.ulp),
            abs: a.abs.max(b.abs),
            rel: a.rel.max(b.rel),
        })
}

/// What comparing two tensors found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// Why they differ (dtype, shape, or the count of elements out of bounds), `None` when
    /// they match.
    pub mismatch: Option<String>,
    /// Largest absolute error over elements where both values are finite.
    pub max_abs: f64,
    /// Largest relative error `|a - e| / |e|` over finite, non-zero expected values.
    pub max_rel: f64,
    /// Largest ULP distance over finite values (floats only).
    pub max_ulp: f64,
    /// Index (row-major) of the first element out of bounds.
    pub first_index: Option<usize>,
}

/// The ordered integer position of a float on its dtype's number line, so that the ULP
/// distance is a difference (`-0` and `+0` share position 0).
fn ordinal(dtype: DType, v: f64) -> i128 {
    let (bits, sign): (u64, u64) = match dtype {
        DType::F64 => (v.to_bits(), 1 << 63),
        DType::F32 => ((v as f32).to_bits() as u64, 1 << 31),
        DType::F16 => (half::f16::from_f64(v).to_bits() as u64, 1 << 15),
        DType::BF16 => (half::bf16::from_f64(v).to_bits() as u64, 1 << 15),
        _ => return v as i128,
    };
    if bits & sign != 0 {
        -((bits & !sign) as i128)
    } else {
        bits as i128
    }
}

/// Compares `actual` with `expected` under `bound`.
pub fn check(expected: &Tensor, actual: &Tensor, bound: Bound) -> Verdict {
    let mut v = Verdict::default();
    if expected.dtype() != actual.dtype() {
        v.mismatch = Some(format!(
            "dtype {} differs from the expected {}",
            actual.dtype(),
            expected.dtype()
        ));
        return v;
    }
    if expected.shape() != actual.shape() {
        v.mismatch = Some(format!(
            "shape {:?} differs from the expected {:?}",
            actual.shape(),
            expected.shape()
        ));
        return v;
    }
    let dtype = expected.dtype();
    let float = dtype.is_float();
    let mut bad = 0usize;
    let mut first: Option<(usize, String, String)> = None;
    for i in 0..expected.len() {
        let ok = if !float {
            let (e, a) = (expected.get_i128(i), actual.get_i128(i));
            if let (Some(e), Some(a)) = (e, a) {
                let d = (e - a).unsigned_abs() as f64;
                v.max_abs = v.max_abs.max(d);
                if e != 0 {
                    v.max_rel = v.max_rel.max(d / (e as f64).abs());
                }
            }
            e == a
        } else {
            let (e, a) = (expected.get_f64(i), actual.get_f64(i));
            float_ok(dtype, e, a, bound, &mut v)
        };
        if !ok {
            bad += 1;
            if first.is_none() {
                let show = |t: &Tensor| {
                    if float {
                        format!("{:e}", t.get_f64(i))
                    } else {
                        t.get_i128(i).map_or_else(String::new, |x| x.to_string())
                    }
                };
                first = Some((i, show(actual), show(expected)));
            }
        }
    }
    if let Some((i, got, want)) = first {
        v.first_index = Some(i);
        v.mismatch = Some(format!(
            "{bad} of {} elements out of bounds; first at index {i}: got {got}, expected {want} \
             (max abs {:.3e}, max rel {:.3e}, max ulp {})",
            expected.len(),
            v.max_abs,
            v.max_rel,
            v.max_ulp
        ));
    }
    v
}

/// Whether one float element is within bounds; updates the error maxima.
fn float_ok(dtype: DType, e: f64, a: f64, bound: Bound, v: &mut Verdict) -> bool {
    if e.is_nan() || a.is_nan() {
        return e.is_nan() && a.is_nan();
    }
    if e.is_infinite() || a.is_infinite() {
        return e == a;
    }
    let abs = (a - e).abs();
    let ulp = (ordinal(dtype, a) - ordinal(dtype, e)).unsigned_abs() as f64;
    v.max_abs = v.max_abs.max(abs);
    v.max_ulp = v.max_ulp.max(ulp);
    if e != 0.0 {
        v.max_rel = v.max_rel.max(abs / e.abs());
    }
    if bound.exact || dtype.is_low_precision() {
        return ulp == 0.0;
    }
    ulp <= bound.ulp || abs <= bound.abs + bound.rel * e.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t32(v: &[f32]) -> Tensor {
        Tensor::from_slice(&[v.len()], v).unwrap()
    }

    #[test]
    fn classes_and_tiers() {
        assert_eq!(op_class("transpose"), OpClass::Exact);
        assert_eq!(op_class("exp"), OpClass::Transcendental);
        assert_eq!(op_class("mean"), OpClass::Accumulation);
        assert_eq!(op_class("sum"), OpClass::Accumulation);
        assert!(bound("add", DType::I32, CaseScale::default()).exact);
        let s = CaseScale {
            terms: 1000,
            magnitude: 2.0,
        };
        let small = bound("reduce_sum", DType::F32, CaseScale { terms: 10, ..s });
        assert!(bound("reduce_sum", DType::F32, s).abs > small.abs);
        assert!(bound("exp", DType::F16, s).ulp < bound("exp", DType::F32, s).ulp);
        // A sum of squares scales with the squared magnitude (its terms).
        let sq = bound("reduce_sum_square", DType::F64, s);
        assert_eq!(sq.abs, 2.0 * bound("reduce_sum", DType::F64, s).abs);
    }

    #[test]
    fn ulps_nan_and_signed_zero() {
        let one_up = f32::from_bits(1f32.to_bits() + 1);
        let tight = Bound {
            exact: false,
            ulp: 1.0,
            abs: 0.0,
            rel: 0.0,
        };
        assert!(
            check(&t32(&[1.0]), &t32(&[one_up]), tight)
                .mismatch
                .is_none()
        );
        let two_up = f32::from_bits(1f32.to_bits() + 2);
        let v = check(&t32(&[0.0, 1.0]), &t32(&[-0.0, two_up]), tight);
        assert_eq!(v.first_index, Some(1));
        assert_eq!(v.max_ulp, 2.0);
        assert!(
            check(&t32(&[f32::NAN]), &t32(&[f32::NAN]), Bound::EXACT)
                .mismatch
                .is_none()
        );
        assert!(
            check(&t32(&[f32::INFINITY]), &t32(&[f32::MAX]), tight)
                .mismatch
                .is_some()
        );
        let i = Tensor::from_slice(&[2], &[1i32, 5]).unwrap();
        let j = Tensor::from_slice(&[2], &[1i32, 6]).unwrap();
        assert_eq!(check(&i, &j, Bound::EXACT).first_index, Some(1));
    }
}
