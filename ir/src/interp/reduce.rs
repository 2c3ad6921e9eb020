//! Reference semantics of the reductions and of the operators that work along one axis:
//! `Reduce*`, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax, CumSum, TopK, and the batch, instance
//! and layer normalizations (ONNX semantics, latest opsets).
//!
//! Floats are computed in f64 and rounded to the output dtype on the way out; integers are
//! computed exactly (wrapping arithmetic on i128, which agrees with the dtype's own wrapping
//! once narrowed).

mod along_axis;
mod normalization;
mod reduction;
mod top_k;

use super::values::{Data, eval_err, need};
use crate::error::{At, IrError, Result};
use crate::op::Op;
use crate::shape::{Shape, normalize_axis};
use crate::tensor::Tensor;
use std::cmp::Ordering;

/// Evaluates one operator of the reduce family. Every output an operator has is produced
/// (optional trailing ones included); the dispatcher keeps the first `num_outputs`.
pub fn eval(
    op: &Op,
    at: &At,
    inputs: &[Option<&Tensor>],
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    // Every output is cheap to produce, so the count asked for does not change the work.
    let _ = num_outputs;
    match *op {
        Op::Reduce {
            kind,
            keepdims,
            noop_with_empty_axes,
        } => reduction::reduce(kind, keepdims, noop_with_empty_axes, at, inputs).map(one),
        Op::ArgMax {
            axis,
            keepdims,
            select_last_index,
        } => along_axis::arg_extreme(true, axis, keepdims, select_last_index, at, inputs).map(one),
        Op::ArgMin {
            axis,
            keepdims,
            select_last_index,
        } => along_axis::arg_extreme(false, axis, keepdims, select_last_index, at, inputs).map(one),
        Op::Softmax { axis } => {
            along_axis::softmax(along_axis::SoftmaxKind::Soft, axis, at, inputs).map(one)
        }
        Op::LogSoftmax { axis } => {
            along_axis::softmax(along_axis::SoftmaxKind::Log, axis, at, inputs).map(one)
        }
        Op::Hardmax { axis } => {
            along_axis::softmax(along_axis::SoftmaxKind::Hard, axis, at, inputs).map(one)
        }
        Op::CumSum { exclusive, reverse } => {
            along_axis::cumsum(exclusive, reverse, at, inputs).map(one)
        }
        Op::TopK {
            axis,
            largest,
            sorted: _,
        } => top_k::top_k(axis, largest, at, inputs),
        Op::BatchNormalization {
            epsilon,
            momentum,
            training_mode,
        } => normalization::batch_norm(epsilon, momentum, training_mode, at, inputs),
        Op::InstanceNormalization { epsilon } => {
            normalization::instance_norm(epsilon, at, inputs).map(one)
        }
        Op::LayerNormalization {
            axis,
            epsilon,
            stash_type,
        } => normalization::layer_norm(axis, epsilon, stash_type, at, inputs),
        _ => Err(eval_err(
            at,
            format!("`{}` is not an operator of the reduce family", op.name()),
        )),
    }
}

fn one(t: Tensor) -> Vec<Tensor> {
    vec![t]
}

/// The lines of a tensor along one axis: `outer * inner` lanes of `len` elements each, lane
/// `l` being the elements whose index differs only on the axis.
///
/// When the axis is empty there are no elements to visit, so [`Lanes::count`] is 0 (and never
/// overflows, however large the other extents of an empty tensor are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lanes {
    /// Product of the extents before the axis.
    outer: usize,
    /// Extent of the axis.
    len: usize,
    /// Product of the extents after the axis.
    inner: usize,
}

impl Lanes {
    /// The lanes of `shape` along `axis` (`axis < shape.len()`).
    fn new(shape: &[usize], axis: usize) -> Lanes {
        // Saturating: a product can only overflow when another extent is 0, and then no
        // lane is visited.
        Lanes {
            outer: saturating_product(&shape[..axis]),
            len: shape[axis],
            inner: saturating_product(&shape[axis + 1..]),
        }
    }

    /// Number of lanes that hold elements (0 when the axis is empty).
    fn count(&self) -> usize {
        if self.len == 0 {
            0
        } else {
            self.outer * self.inner
        }
    }

    /// True when there are no lanes at all (an extent before or after the axis is 0).
    fn is_empty(&self) -> bool {
        self.outer == 0 || self.inner == 0
    }

    /// Flat index of element `k` of lane `l` in a tensor whose axis has extent `len` (the
    /// input's own extent, or another one for outputs such as TopK's or ArgMax's).
    fn flat(&self, l: usize, k: usize, len: usize) -> usize {
        let (o, i) = (l / self.inner, l % self.inner);
        (o * len + k) * self.inner + i
    }

    /// Flat indices of the elements of lane `l` of the input, in axis order.
    fn lane(&self, l: usize) -> Vec<usize> {
        (0..self.len).map(|k| self.flat(l, k, self.len)).collect()
    }
}

/// Product of `dims`, saturating at `usize::MAX`. A part of a valid tensor's shape can only
/// overflow when another extent is 0, so callers that visit elements never see the cap.
fn saturating_product(dims: &[usize]) -> usize {
    dims.iter().fold(1usize, |p, &d| p.saturating_mul(d))
}

/// Resolves the `axis` attribute of a single-axis operator against `rank`.
fn axis_attr(at: &At, axis: i64, rank: usize) -> Result<usize> {
    normalize_axis(axis, rank).ok_or_else(|| IrError::Attribute {
        at: at.clone(),
        attr: "axis",
        message: format!("axis {axis} is out of range for an input of rank {rank}"),
    })
}

/// The shapes of the present inputs, for [`IrError::InputShape`].
fn input_shapes(inputs: &[Option<&Tensor>]) -> Vec<Shape> {
    inputs.iter().flatten().map(|t| t.ir_shape()).collect()
}

/// An [`IrError::InputShape`] at `at` listing the shapes of `inputs`.
fn shape_err(at: &At, inputs: &[Option<&Tensor>], message: impl Into<String>) -> IrError {
    IrError::InputShape {
        at: at.clone(),
        message: message.into(),
        shapes: input_shapes(inputs),
    }
}

/// Required input `i`, which must have a float dtype.
fn float_input<'a>(inputs: &[Option<&'a Tensor>], i: usize, at: &At) -> Result<&'a Tensor> {
    let t = need(inputs, i, at)?;
    if !t.dtype().is_float() {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: i,
            dtype: t.dtype(),
            expected: "a float dtype".into(),
        });
    }
    Ok(t)
}

/// Required input `i`, which must have a numeric (not bool) dtype.
fn numeric_input<'a>(inputs: &[Option<&'a Tensor>], i: usize, at: &At) -> Result<&'a Tensor> {
    let t = need(inputs, i, at)?;
    if !t.dtype().is_numeric() {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: i,
            dtype: t.dtype(),
            expected: "a numeric dtype".into(),
        });
    }
    Ok(t)
}

/// Reads a scalar integer operand (CumSum's axis, TopK's k): a rank-0 or rank-1 integer tensor
/// with exactly one element.
fn scalar_operand(t: &Tensor, at: &At, what: &str) -> Result<i64> {
    let v = super::values::read_ints(t, at, what)?;
    match v.as_slice() {
        [x] if t.rank() <= 1 => Ok(*x),
        _ => Err(eval_err(
            at,
            format!(
                "{what} must hold exactly one value (rank 0 or 1), got shape {}",
                t.ir_shape()
            ),
        )),
    }
}

/// True when element `i` is a float NaN.
fn is_nan(data: &Data, i: usize) -> bool {
    matches!(data, Data::F(v) if v[i].is_nan())
}

/// Orders elements `i` and `j` of `data`: NaN above every number and equal to another NaN
/// (NumPy's sort order), -0 equal to +0, integers exactly.
fn cmp_elems(data: &Data, i: usize, j: usize) -> Ordering {
    match data {
        Data::I(v) => v[i].cmp(&v[j]),
        Data::F(v) => {
            let (a, b) = (v[i], v[j]);
            match (a.is_nan(), b.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            }
        }
    }
}

#[cfg(test)]
mod test_util {
    //! Builders and readers shared by the tests of the reduce family.

    use crate::dtype::DType;
    use crate::error::{At, Result};
    use crate::op::Op;
    use crate::tensor::Tensor;
    use half::f16;

    /// Runs `op` on present inputs, asking for `n` outputs.
    pub fn run_n(op: &Op, inputs: &[Option<&Tensor>], n: usize) -> Result<Vec<Tensor>> {
        let at = At {
            node: "n".into(),
            op: op.name(),
        };
        crate::interp::eval_op(op, &at, inputs, n)
    }

    /// Runs `op` on present inputs and returns its first output.
    pub fn run1(op: &Op, inputs: &[&Tensor]) -> Result<Tensor> {
        let ins: Vec<Option<&Tensor>> = inputs.iter().map(|&t| Some(t)).collect();
        Ok(run_n(op, &ins, 1)?.remove(0))
    }

    /// An f32 tensor.
    pub fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    /// An f64 tensor.
    pub fn f64t(shape: &[usize], v: &[f64]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    /// An f16 tensor from f32 values.
    pub fn f16t(shape: &[usize], v: &[f32]) -> Tensor {
        let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
        Tensor::from_slice(shape, &h).unwrap()
    }

    /// A 1-D i64 tensor.
    pub fn i64s(v: &[i64]) -> Tensor {
        Tensor::from_slice(&[v.len()], v).unwrap()
    }

    /// Elements as f64, whatever the float dtype.
    pub fn vals(t: &Tensor) -> Vec<f64> {
        assert!(t.dtype().is_float(), "expected floats, got {}", t.dtype());
        (0..t.len()).map(|i| t.get_f64(i)).collect()
    }

    /// Asserts `t` is `dtype` with `shape` and elements within `tol` of `want` (NaN equal to
    /// NaN, infinities exactly).
    pub fn assert_close(t: &Tensor, dtype: DType, shape: &[usize], want: &[f64], tol: f64) {
        assert_eq!(t.dtype(), dtype);
        assert_eq!(t.shape(), shape);
        let got = vals(t);
        assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
        for (g, w) in got.iter().zip(want) {
            let ok = if w.is_nan() {
                g.is_nan()
            } else if w.is_infinite() {
                g == w
            } else {
                (g - w).abs() <= tol * w.abs().max(1.0)
            };
            assert!(ok, "got {got:?}, want {want:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::op::ReduceOp;

    #[test]
    fn lanes_index_middle_axis() {
        let l = Lanes::new(&[2, 3, 4], 1);
        assert_eq!((l.outer, l.len, l.inner, l.count()), (2, 3, 4, 8));
        assert_eq!(l.lane(0), vec![0, 4, 8]);
        assert_eq!(l.lane(5), vec![13, 17, 21]);
        // Output with the axis shrunk to 1 (ArgMax with keepdims).
        assert_eq!(l.flat(5, 0, 1), 5);
        let empty_axis = Lanes::new(&[2, 0, 4], 1);
        assert_eq!((empty_axis.count(), empty_axis.is_empty()), (0, false));
        let no_lanes = Lanes::new(&[0, 3], 1);
        assert_eq!((no_lanes.count(), no_lanes.is_empty()), (0, true));
        // Extents whose product overflows, around an empty axis.
        let huge = Lanes::new(&[1 << 40, 0, 1 << 40], 1);
        assert_eq!((huge.count(), huge.is_empty()), (0, false));
        let huge = Lanes::new(&[1 << 40, 1 << 40, 0], 2);
        assert_eq!((huge.count(), huge.is_empty()), (0, false));
    }

    #[test]
    fn ordering_puts_nan_last() {
        let d = Data::F(vec![f64::NAN, 1.0, -0.0, 0.0, f64::NAN]);
        assert_eq!(cmp_elems(&d, 0, 1), Ordering::Greater);
        assert_eq!(cmp_elems(&d, 1, 0), Ordering::Less);
        assert_eq!(cmp_elems(&d, 0, 4), Ordering::Equal);
        assert_eq!(cmp_elems(&d, 2, 3), Ordering::Equal);
        assert!(is_nan(&d, 4) && !is_nan(&d, 1));
        assert!(!is_nan(&Data::I(vec![3]), 0));
    }

    #[test]
    fn non_family_op_is_an_error() {
        let at = At {
            node: "n".into(),
            op: "matmul",
        };
        let x = f32t(&[1], &[1.0]);
        assert!(matches!(
            eval(&Op::MatMul {}, &at, &[Some(&x), Some(&x)], 1),
            Err(IrError::Eval { .. })
        ));
    }

    #[test]
    fn scalar_operands() {
        let at = At {
            node: "n".into(),
            op: "cumsum",
        };
        assert_eq!(
            scalar_operand(&Tensor::scalar(-2i32), &at, "axis").unwrap(),
            -2
        );
        assert_eq!(scalar_operand(&i64s(&[3]), &at, "k").unwrap(), 3);
        assert!(scalar_operand(&i64s(&[1, 2]), &at, "k").is_err());
        assert!(scalar_operand(&i64s(&[]), &at, "k").is_err());
        let m = Tensor::from_slice(&[1, 1], &[1i64]).unwrap();
        assert!(scalar_operand(&m, &at, "k").is_err());
        assert!(scalar_operand(&Tensor::scalar(1.0f32), &at, "k").is_err());
    }

    #[test]
    fn missing_input_is_an_error() {
        let op = Op::Reduce {
            kind: ReduceOp::Sum,
            keepdims: true,
            noop_with_empty_axes: false,
        };
        assert!(matches!(run_n(&op, &[None], 1), Err(IrError::Eval { .. })));
    }
}
