//! Reference semantics of the elementwise operators (unary math and activations, broadcast
//! binary and variadic arithmetic, comparisons, logic, Cast, Clip and Where), following ONNX.
//!
//! Every operator widens its operands to f64 (floats) or i128 (integers and bools), computes
//! each element exactly or in f64, and narrows once: integers wrap to their dtype, floats are
//! rounded from that f64 value to the output dtype with one correct round-to-nearest-even
//! (`rounding::round_to_dtype`), never through an intermediate f32.

mod activation;
mod binary;
mod cast;

mod select;
mod unary;

use super::values::{Arr, Data, broadcast_index, eval_err, need};
use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::op::Op;
use crate::shape::{Shape, broadcast_shapes, checked_product};
use crate::tensor::Tensor;

/// Evaluates one elementwise operator; the result is always exactly one tensor.
pub fn eval(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let out = match op {
        Op::Unary(u) => unary::eval(*u, at, inputs)?,
        Op::Binary(b) => binary::eval(*b, at, inputs)?,
        Op::Variadic(v) => select::variadic(*v, at, inputs)?,
        Op::Cast { to, saturate } => cast::eval(*to, *saturate, at, inputs)?,
        Op::Clip {} => select::clip(at, inputs)?,
        Op::Where {} => select::where_select(at, inputs)?,
        Op::LeakyRelu { .. }
        | Op::Elu { .. }
        | Op::Selu { .. }
        | Op::Celu { .. }
        | Op::HardSigmoid { .. }
        | Op::ThresholdedRelu { .. }
        | Op::Gelu { .. }
        | Op::Shrink { .. }
        | Op::IsInf { .. } => activation::eval(op, at, inputs)?,
        other => {
            return Err(eval_err(
                at,
                format!("`{}` is not an elementwise operator", other.name()),
            ));
        }
    };
    Ok(vec![out])
}

/// Checks that the node has between `min` and `max` operand slots.
fn arity(at: &At, inputs: &[Option<&Tensor>], min: usize, max: usize) -> Result<()> {
    if inputs.len() < min || inputs.len() > max {
        let expected = if min == max {
            min.to_string()
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(IrError::Arity {
            at: at.clone(),
            what: "inputs",
            expected,
            actual: inputs.len(),
        });
    }
    Ok(())
}

/// Exactly `N` operands, all present.
fn operands<'a, const N: usize>(at: &At, inputs: &[Option<&'a Tensor>]) -> Result<[&'a Tensor; N]> {
    arity(at, inputs, N, N)?;
    let mut out = Vec::with_capacity(N);
    for i in 0..N {
        out.push(need(inputs, i, at)?);
    }
    out.try_into()
        .map_err(|_| eval_err(at, "operand count changed while reading"))
}

/// The broadcast output shape of `ts` and, per operand, the flat index read at each output
/// element; incompatible shapes are an [`IrError::InputShape`].
fn broadcast_all(at: &At, ts: &[&Tensor]) -> Result<(Vec<usize>, Vec<Vec<usize>>)> {
    let mut shape: Vec<usize> = Vec::new();
    for t in ts {
        shape = broadcast_shapes(&shape, t.shape()).ok_or_else(|| IrError::InputShape {
            at: at.clone(),
            message: "operand shapes do not broadcast together".into(),
            shapes: shapes_of(ts),
        })?;
    }
    if checked_product(&shape).is_none() {
        return Err(IrError::InputShape {
            at: at.clone(),
            message: "the broadcast result has more elements than fit in memory".into(),
            shapes: shapes_of(ts),
        });
    }
    let idx = ts
        .iter()
        .map(|t| broadcast_index(t.shape(), &shape))
        .collect();
    Ok((shape, idx))
}

/// The IR shapes of some operands, for error messages.
fn shapes_of(ts: &[&Tensor]) -> Vec<Shape> {
    ts.iter().map(|t| t.ir_shape()).collect()
}

/// The error for an operand dtype the operator does not accept.
fn unsupported(at: &At, dtype: DType, detail: impl Into<String>) -> IrError {
    IrError::Unsupported {
        at: at.clone(),
        dtype,
        detail: Some(detail.into()),
    }
}

/// Fails unless operand `input` (`t`) has dtype `want` (the dtype of operand `of`).
fn same_dtype(at: &At, t: &Tensor, input: usize, want: DType, of: usize) -> Result<()> {
    if t.dtype() == want {
        return Ok(());
    }
    Err(IrError::InputDType {
        at: at.clone(),
        input,
        dtype: t.dtype(),
        expected: format!("the dtype of input {of} ({want})"),
    })
}

/// The elements of a float tensor as f64 (integers are converted, possibly inexactly).
fn floats_of(t: &Tensor) -> Vec<f64> {
    match Arr::from_tensor(t).data {
        Data::F(v) => v,
        Data::I(v) => v.into_iter().map(|x| x as f64).collect(),
    }
}

/// The elements of an integer or bool tensor as i128 (floats truncate toward zero).
fn ints_of(t: &Tensor) -> Vec<i128> {
    match Arr::from_tensor(t).data {
        Data::I(v) => v,
        Data::F(v) => v.into_iter().map(|x| x as i128).collect(),
    }
}

/// A float tensor of `dtype`, each value rounded once, correctly, to the dtype.
fn float_tensor(dtype: DType, shape: Vec<usize>, values: Vec<f64>) -> Tensor {
    let rounded = values
        .into_iter()
        .map(|x| super::rounding::round_to_dtype(x, dtype))
        .collect();
    Arr::floats(dtype, shape, rounded).to_tensor()
}

/// An integer tensor of `dtype`; values wrap to the dtype (two's complement).
fn int_tensor(dtype: DType, shape: Vec<usize>, values: Vec<i128>) -> Tensor {
    Arr::ints(dtype, shape, values).to_tensor()
}

/// A bool tensor.
fn bool_tensor(shape: Vec<usize>, values: impl IntoIterator<Item = bool>) -> Tensor {
    let v = values.into_iter().map(i128::from).collect();
    Arr::ints(DType::Bool, shape, v).to_tensor()
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::graph::{Graph, TensorType};
    use crate::op::{BinaryOp, UnaryOp};
    use std::collections::HashMap;

    #[test]
    fn evaluates_a_graph_through_the_interpreter() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[2, 3]));
        let y = g.add_input("y", TensorType::new(DType::F32, &[3]));
        let add = g.push_node(
            Op::Binary(BinaryOp::Sub),
            vec![Some(x), Some(y)],
            vec![TensorType::new(DType::F32, &[2, 3])],
            Some("sub".into()),
        );
        let s = g.node(add).outputs[0];
        let relu = g.push_node(
            Op::Unary(UnaryOp::Relu),
            vec![Some(s)],
            vec![TensorType::new(DType::F32, &[2, 3])],
            None,
        );
        let r = g.node(relu).outputs[0];
        let cmp = g.push_node(
            Op::Binary(BinaryOp::Greater),
            vec![Some(r), Some(y)],
            vec![TensorType::new(DType::Bool, &[2, 3])],
            None,
        );
        let c = g.node(cmp).outputs[0];
        g.add_output(r);
        g.add_output(c);
        let mut inputs = HashMap::new();
        inputs.insert("x".to_string(), f32s(&[2, 3], &[1., 2., 3., 4., 5., 6.]));
        inputs.insert("y".to_string(), f32s(&[3], &[2., 2., 2.]));
        let out = crate::interp::evaluate(&g, &inputs).unwrap();
        assert_eq!(
            out[0].to_vec::<f32>().unwrap(),
            vec![0., 0., 1., 2., 3., 4.]
        );
        assert_eq!(
            out[1].to_vec::<bool>().unwrap(),
            vec![false, false, false, false, true, true]
        );
    }

    #[test]
    fn empty_operands_with_huge_dims_stay_empty() {
        let big = 1usize << 40;
        let a = Tensor::zeros(DType::Bool, &[0, big]).unwrap();
        let b = Tensor::zeros(DType::Bool, &[1]).unwrap();
        let r = run(Op::Binary(BinaryOp::Equal), &[&a, &b]).unwrap();
        assert_eq!((r.shape(), r.len()), (&[0, big][..], 0));
    }

    #[test]
    fn rejects_non_elementwise_ops() {
        let e = eval(&Op::MatMul {}, &at(), &[]).unwrap_err();
        assert!(matches!(e, IrError::Eval { .. }), "{e}");
    }

    #[test]
    fn arity_is_checked() {
        let x = f32s(&[1], &[1.0]);
        let e = run(Op::Binary(BinaryOp::Add), &[&x]).unwrap_err();
        assert!(matches!(e, IrError::Arity { actual: 1, .. }), "{e}");
        let e = run(Op::Unary(UnaryOp::Abs), &[&x, &x]).unwrap_err();
        assert!(matches!(e, IrError::Arity { actual: 2, .. }), "{e}");
        let e = eval(&Op::Unary(UnaryOp::Abs), &at(), &[None]).unwrap_err();
        assert!(matches!(e, IrError::Eval { .. }), "{e}");
    }
}
