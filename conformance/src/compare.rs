//! Comparing a backend's outputs with expected tensors the way ONNX's backend test runner does:
//! same output count, dtypes and shapes; floats within `atol + rtol * |expected|` with NaN
//! matching NaN and infinities matching exactly; integers and bools exactly; the float8/float4
//! formats bit for bit (any NaN matching any NaN).

use tessera_ir::{DType, Tensor};

/// Tolerances for floating-point outputs: an element passes when
/// `|actual - expected| <= atol + rtol * |expected|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

impl Tolerance {
    /// ONNX's backend-test defaults: `rtol 1e-3`, `atol 1e-7`.
    pub const ONNX: Tolerance = Tolerance {
        rtol: 1e-3,
        atol: 1e-7,
    };
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance::ONNX
    }
}

/// The outcome of comparing one set of outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// `None` when everything matched; otherwise what differs first (count, dtype, shape or
    /// values of the first mismatching output).
    pub mismatch: Option<String>,
    /// The largest `|actual - expected|` over elements where both are finite, across every
    /// output whose dtype and shape matched; `None` when no element was compared.
    pub max_abs_err: Option<f64>,
}

impl Comparison {
    /// True when every output matched.
    pub fn passed(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// Compares `actual` outputs (in graph output order, with their names) with `expected` ones.
pub fn compare_outputs(
    expected: &[Tensor],
    actual: &[(String, Tensor)],
    tol: Tolerance,
) -> Comparison {
    if expected.len() != actual.len() {
        return Comparison {
            mismatch: Some(format!(
                "expected {} outputs, the backend returned {}",
                expected.len(),
                actual.len()
            )),
            max_abs_err: None,
        };
    }
    let mut max_abs_err: Option<f64> = None;
    let mut mismatch = None;
    for (k, (e, (name, a))) in expected.iter().zip(actual).enumerate() {
        let r = compare_tensor(e, a, tol);
        max_abs_err = max_opt(max_abs_err, r.max_abs_err);
        if mismatch.is_none() {
            mismatch = r.mismatch.map(|m| format!("output {k} (`{name}`): {m}"));
        }
    }
    Comparison {
        mismatch,
        max_abs_err,
    }
}

/// Compares one tensor with its expected value.
pub fn compare_tensor(expected: &Tensor, actual: &Tensor, tol: Tolerance) -> Comparison {
    let fail = |m: String| Comparison {
        mismatch: Some(m),
        max_abs_err: None,
    };
    if expected.dtype() != actual.dtype() {
        return fail(format!(
            "dtype {} differs from the expected {}",
            actual.dtype(),
            expected.dtype()
        ));
    }
    if expected.shape() != actual.shape() {
        return fail(format!(
            "shape {:?} differs from the expected {:?}",
            actual.shape(),
            expected.shape()
        ));
    }
    if expected.dtype().is_float() && expected.dtype().is_low_precision() {
        compare_bits(expected, actual)
    } else if expected.dtype().is_float() {
        compare_floats(expected, actual, tol)
    } else {
        compare_exact(expected, actual)
    }
}

/// Tracks the first differing element and the count of differing ones.
#[derive(Default)]
struct Diffs {
    first: Option<(usize, String, String)>,
    count: usize,
}

impl Diffs {
    fn note(&mut self, i: usize, got: impl ToString, want: impl ToString) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((i, got.to_string(), want.to_string()));
        }
    }

    fn message(
        self,
        shape: &[usize],
        total: usize,
        rule: &str,
        max: Option<f64>,
    ) -> Option<String> {
        let (i, got, want) = self.first?;
        let max = max
            .map(|m| format!("; max abs error {m:e}"))
            .unwrap_or_default();
        Some(format!(
            "{} of {total} elements differ ({rule}){max}; first at index {:?}: got {got}, expected {want}",
            self.count,
            unravel(i, shape)
        ))
    }
}

fn compare_floats(expected: &Tensor, actual: &Tensor, tol: Tolerance) -> Comparison {
    let mut diffs = Diffs::default();
    let mut max_abs_err: Option<f64> = None;
    for i in 0..expected.len() {
        let (e, a) = (expected.get_f64(i), actual.get_f64(i));
        if e.is_finite() && a.is_finite() {
            max_abs_err = max_opt(max_abs_err, Some((a - e).abs()));
        }
        if !float_close(e, a, tol) {
            diffs.note(i, a, e);
        }
    }
    let rule = format!("rtol {:e}, atol {:e}", tol.rtol, tol.atol);
    Comparison {
        mismatch: diffs.message(expected.shape(), expected.len(), &rule, max_abs_err),
        max_abs_err,
    }
}

/// Low-precision floats: the same bit pattern (so -0 differs from 0), or NaN for NaN.
fn compare_bits(expected: &Tensor, actual: &Tensor) -> Comparison {
    let mut diffs = Diffs::default();
    let mut max_abs_err: Option<f64> = None;
    for (i, (eb, ab)) in expected.bytes().iter().zip(actual.bytes()).enumerate() {
        let (e, a) = (expected.get_f64(i), actual.get_f64(i));
        if e.is_finite() && a.is_finite() {
            max_abs_err = max_opt(max_abs_err, Some((a - e).abs()));
        }
        if eb != ab && !(e.is_nan() && a.is_nan()) {
            diffs.note(
                i,
                format!("{a:?} ({ab:#04x})"),
                format!("{e:?} ({eb:#04x})"),
            );
        }
    }
    Comparison {
        mismatch: diffs.message(expected.shape(), expected.len(), "bit-exact", max_abs_err),
        max_abs_err,
    }
}

fn compare_exact(expected: &Tensor, actual: &Tensor) -> Comparison {
    let mut diffs = Diffs::default();
    let mut max_abs_err: Option<f64> = None;
    for i in 0..expected.len() {
        // Both are bool or integer tensors of the same dtype here, so both reads succeed.
        let (Some(e), Some(a)) = (expected.get_i128(i), actual.get_i128(i)) else {
            continue;
        };
        max_abs_err = max_opt(max_abs_err, Some((a - e).unsigned_abs() as f64));
        if a != e {
            if expected.dtype() == DType::Bool {
                diffs.note(i, a != 0, e != 0);
            } else {
                diffs.note(i, a, e);
            }
        }
    }
    Comparison {
        mismatch: diffs.message(expected.shape(), expected.len(), "exact", max_abs_err),
        max_abs_err,
    }
}

/// Whether `actual` matches `expected` under ONNX's rule: NaN only matches NaN, an infinity
/// only the same infinity, finite values within `atol + rtol * |expected|`.
pub fn float_close(expected: f64, actual: f64, tol: Tolerance) -> bool {
    if expected.is_nan() || actual.is_nan() {
        return expected.is_nan() && actual.is_nan();
    }
    if expected.is_infinite() || actual.is_infinite() {
        return expected == actual;
    }
    (actual - expected).abs() <= tol.atol + tol.rtol * expected.abs()
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The multi-index of row-major element `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (slot, &d) in idx.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    fn named(t: Tensor) -> Vec<(String, Tensor)> {
        vec![("y".to_string(), t)]
    }

    fn cmp(e: &Tensor, a: &Tensor) -> Comparison {
        compare_tensor(e, a, Tolerance::ONNX)
    }

    #[test]
    fn tolerance_edges() {
        let t = Tolerance::ONNX;
        // Exactly at atol + rtol * |e| passes, just beyond fails.
        assert!(float_close(1000.0, 1001.0 - 1e-7 * 0.5, t));
        assert!(float_close(0.0, 1e-7, t));
        assert!(!float_close(0.0, 1.1e-7, t));
        assert!(float_close(-2.0, -2.002, t));
        assert!(!float_close(-2.0, -2.0021, t));
        // rtol is relative to the expected value, not the actual one.
        assert!(!float_close(
            1.0,
            2.0,
            Tolerance {
                rtol: 0.6,
                atol: 0.0
            }
        ));
        assert!(float_close(
            2.0,
            1.0,
            Tolerance {
                rtol: 0.6,
                atol: 0.0
            }
        ));
    }

    #[test]
    fn nan_and_infinities() {
        let t = Tolerance::ONNX;
        assert!(float_close(f64::NAN, f64::NAN, t));
        assert!(!float_close(f64::NAN, 0.0, t));
        assert!(!float_close(0.0, f64::NAN, t));
        assert!(float_close(f64::INFINITY, f64::INFINITY, t));
        assert!(!float_close(f64::INFINITY, f64::NEG_INFINITY, t));
        assert!(!float_close(f64::INFINITY, f64::MAX, t));
        assert!(!float_close(1e30, f64::INFINITY, t));

        let e = f32s(&[3], &[f32::NAN, f32::INFINITY, 1.0]);
        let ok = cmp(&e, &f32s(&[3], &[f32::NAN, f32::INFINITY, 1.0005]));
        assert!(ok.passed(), "{ok:?}");
        // Only the finite pair counts towards the max error.
        assert!((ok.max_abs_err.unwrap() - 0.0005).abs() < 1e-6);
        let bad = cmp(&e, &f32s(&[3], &[0.0, f32::INFINITY, 1.0]));
        let m = bad.mismatch.unwrap();
        assert!(m.contains("1 of 3") && m.contains("index [0]"), "{m}");
        assert!(m.contains("got 0") && m.contains("expected NaN"), "{m}");
    }

    #[test]
    fn first_index_and_max_error() {
        let e = f32s(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let a = f32s(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.5, 7.0]);
        let c = cmp(&e, &a);
        let m = c.mismatch.unwrap();
        assert!(m.contains("2 of 6") && m.contains("index [1, 1]"), "{m}");
        assert!(m.contains("got 4.5, expected 4"), "{m}");
        assert_eq!(c.max_abs_err, Some(2.0));
    }

    #[test]
    fn half_precision_uses_the_same_rule() {
        // f16 bit patterns: 1.0 and 2.0, then one and two f16 steps (2^-10 each) above 1.0:
        // one step is within rtol 1e-3 of 1.0, two are not.
        let f16s = |bits: [u16; 2]| {
            let bytes = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
            Tensor::from_bytes(DType::F16, &[2], bytes).unwrap()
        };
        let e = f16s([0x3C00, 0x4000]);
        assert!(cmp(&e, &e).passed());
        assert!(cmp(&e, &f16s([0x3C01, 0x4000])).passed());
        let c = cmp(&e, &f16s([0x3C02, 0x4000]));
        assert!(c.mismatch.unwrap().contains("index [0]"));
        assert_eq!(c.max_abs_err, Some(2.0f64.powi(-9)));
    }

    #[test]
    fn integers_and_bools_are_exact() {
        let e = Tensor::from_slice(&[3], &[i64::MAX, -1, 7]).unwrap();
        assert!(cmp(&e, &e).passed());
        assert_eq!(cmp(&e, &e).max_abs_err, Some(0.0));
        let a = Tensor::from_slice(&[3], &[i64::MAX, 1, 7]).unwrap();
        let c = cmp(&e, &a);
        assert!(c.mismatch.unwrap().contains("got 1, expected -1"));
        assert_eq!(c.max_abs_err, Some(2.0));

        let e = Tensor::from_slice(&[2], &[true, false]).unwrap();
        let a = Tensor::from_slice(&[2], &[true, true]).unwrap();
        let m = cmp(&e, &a).mismatch.unwrap();
        assert!(
            m.contains("got true, expected false") && m.contains("[1]"),
            "{m}"
        );
    }

    #[test]
    fn dtype_shape_and_count_mismatches() {
        let e = f32s(&[2], &[1.0, 2.0]);
        let m = cmp(&e, &Tensor::from_slice(&[2], &[1.0f64, 2.0]).unwrap())
            .mismatch
            .unwrap();
        assert!(m.contains("dtype f64") && m.contains("f32"), "{m}");
        let m = cmp(&e, &f32s(&[1, 2], &[1.0, 2.0])).mismatch.unwrap();
        assert!(m.contains("[1, 2]") && m.contains("[2]"), "{m}");
        // A scalar is not a one-element vector.
        let s = Tensor::scalar(1.0f32);
        assert!(!cmp(&f32s(&[1], &[1.0]), &s).passed());

        let c = compare_outputs(&[e.clone(), e.clone()], &named(e.clone()), Tolerance::ONNX);
        assert!(c.mismatch.unwrap().contains("expected 2 outputs"));
        let c = compare_outputs(
            std::slice::from_ref(&e),
            &named(f32s(&[2], &[1.0, 3.0])),
            Tolerance::ONNX,
        );
        assert!(c.mismatch.unwrap().starts_with("output 0 (`y`)"));
        assert!(
            compare_outputs(std::slice::from_ref(&e), &named(e.clone()), Tolerance::ONNX).passed()
        );
    }

    #[test]
    fn empty_tensors_match() {
        let e = f32s(&[0, 3], &[]);
        let c = cmp(&e, &e);
        assert!(c.passed());
        assert_eq!(c.max_abs_err, None);
        assert!(!cmp(&e, &f32s(&[3, 0], &[])).passed());
    }

    #[test]
    fn low_precision_floats_compare_bit_exactly() {
        let t = |b: Vec<u8>| Tensor::from_bytes(DType::F8E4M3FN, &[b.len()], b).unwrap();
        // 0x7F and 0xFF are both NaN: they match.
        assert!(cmp(&t(vec![0x38, 0x7F]), &t(vec![0x38, 0xFF])).passed());
        // -0 (0x80) is not 0; the neighbour 0x39 (1.125) is not 1.0 despite rtol.
        let c = cmp(&t(vec![0x80]), &t(vec![0x00]));
        assert!(c.mismatch.unwrap().contains("bit-exact"));
        assert!(!cmp(&t(vec![0x38]), &t(vec![0x39])).passed());
        let i4 = |v: Vec<u8>| Tensor::from_bytes(DType::I4, &[v.len()], v).unwrap();
        assert!(cmp(&i4(vec![0xF]), &i4(vec![0xFF])).passed());
        assert!(!cmp(&i4(vec![7]), &i4(vec![8])).passed());
    }
}
