//! Small builders shared by the elementwise tests.

use crate::error::{At, Result};
use crate::op::Op;
use crate::tensor::{Element, Tensor};
use half::{bf16, f16};

/// The location every test error names.
pub fn at() -> At {
    At {
        node: "n".into(),
        op: "test",
    }
}

/// Evaluates `op` on present operands and returns its single result.
pub fn run(op: Op, inputs: &[&Tensor]) -> Result<Tensor> {
    let args: Vec<Option<&Tensor>> = inputs.iter().map(|&t| Some(t)).collect();
    let mut out = super::eval(&op, &at(), &args)?;
    assert_eq!(out.len(), 1);
    Ok(out.remove(0))
}

/// A tensor of any element type.
pub fn tensor<T: Element>(shape: &[usize], v: &[T]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}

/// An f32 tensor.
pub fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    tensor(shape, v)
}

/// An f16 tensor from f32 literals (each must be exact in f16).
pub fn f16s(shape: &[usize], v: &[f32]) -> Tensor {
    let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
    tensor(shape, &h)
}

/// A bf16 tensor from f32 literals (each must be exact in bf16).
pub fn bf16s(shape: &[usize], v: &[f32]) -> Tensor {
    let h: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
    tensor(shape, &h)
}

/// The elements of a float tensor of any width as f64.
pub fn as_f64(t: &Tensor) -> Vec<f64> {
    (0..t.len()).map(|i| t.get_f64(i)).collect()
}

/// Asserts float results equal, bit for bit up to NaN payloads (so -0.0 != 0.0, NaN == NaN).
pub fn assert_same(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        let same = (a.is_nan() && e.is_nan()) || a.to_bits() == e.to_bits();
        assert!(same, "{actual:?} vs {expected:?}");
    }
}

/// Asserts float results agree to a relative tolerance (NaN matches NaN, infinities exactly).
pub fn assert_close(actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        let ok = if e.is_nan() {
            a.is_nan()
        } else if e.is_infinite() {
            a == e
        } else {
            (a - e).abs() <= tol * e.abs().max(1.0)
        };
        assert!(ok, "{actual:?} vs {expected:?}");
    }
}
