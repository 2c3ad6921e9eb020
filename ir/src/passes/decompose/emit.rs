//! The emitter the decomposition rules build with: appends primitive nodes to the new graph,
//! inferring each node's output types, plus small builders for the primitives used most.

use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::graph::{Graph, TensorType, ValueId};
use crate::infer::{Operand, infer_op};
use crate::interp::values::Arr;
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::tensor::Tensor;

/// Builds the decomposed graph; `at` names the source node being rewritten, for errors and
/// for the names of the nodes emitted for it (`<source>/<op>`).
pub(crate) struct Emitter {
    /// The graph under construction.
    pub(crate) g: Graph,
    /// The source node being rewritten.
    pub(crate) at: At,
}

/// A tensor of `dtype` and `shape` from f64 values (floats round, integers truncate then wrap,
/// bools are `v != 0`).
pub(crate) fn tensor_of(dtype: DType, shape: &[usize], v: Vec<f64>) -> Tensor {
    if dtype.is_float() {
        Arr::floats(dtype, shape.to_vec(), v).to_tensor()
    } else {
        Arr::ints(
            dtype,
            shape.to_vec(),
            v.into_iter().map(|x| x as i128).collect(),
        )
        .to_tensor()
    }
}

/// A tensor of `dtype` and `shape` from exact integers (wrapping to the dtype).
pub(crate) fn int_tensor(dtype: DType, shape: &[usize], v: Vec<i128>) -> Tensor {
    Arr::ints(dtype, shape.to_vec(), v).to_tensor()
}

impl Emitter {
    /// Appends `op` applied to `inputs` with `n` outputs; returns the outputs.
    pub(crate) fn emit(
        &mut self,
        op: Op,
        inputs: &[Option<ValueId>],
        n: usize,
    ) -> Result<Vec<ValueId>> {
        let at = At {
            node: self.at.node.clone(),
            op: op.name(),
        };
        let tys = {
            let operands: Vec<Option<Operand<'_>>> = inputs
                .iter()
                .map(|i| {
                    i.map(|v| Operand {
                        ty: &self.g.value(v).ty,
                        value: self.g.constant_of(v),
                    })
                })
                .collect();
            infer_op(&op, &at, &operands, n)?
        };
        // Named after the source node, so that errors and dumps trace back to it.
        let name = format!("{}/{}", self.at.node, op.name());
        let id = self.g.push_node(op, inputs.to_vec(), tys, Some(name));
        Ok(self.g.node(id).outputs.clone())
    }

    /// Appends a one-output `op` on present operands; returns its output.
    pub(crate) fn op1(&mut self, op: Op, inputs: &[ValueId]) -> Result<ValueId> {
        let ins: Vec<Option<ValueId>> = inputs.iter().map(|&v| Some(v)).collect();
        let outs = self.emit(op, &ins, 1)?;
        outs.first()
            .copied()
            .ok_or_else(|| self.internal("no output"))
    }

    /// An error for a rule that went wrong (a bug, reported rather than panicking).
    pub(crate) fn internal(&self, what: &str) -> IrError {
        IrError::Eval {
            at: self.at.clone(),
            message: format!("decomposition failed: {what}"),
        }
    }

    /// The type of a value.
    pub(crate) fn ty(&self, v: ValueId) -> &TensorType {
        &self.g.value(v).ty
    }

    /// The dtype of a value.
    pub(crate) fn dtype(&self, v: ValueId) -> DType {
        self.ty(v).dtype
    }

    /// The rank of a value.
    pub(crate) fn rank(&self, v: ValueId) -> usize {
        self.ty(v).shape.rank()
    }

    /// The static dims of a value, when all are known.
    pub(crate) fn dims(&self, v: ValueId) -> Option<Vec<usize>> {
        self.ty(v).shape.as_static()
    }

    /// A constant.
    pub(crate) fn konst(&mut self, t: Tensor) -> ValueId {
        self.g.add_constant(t)
    }

    /// A rank-0 constant of `dtype` holding `x`.
    pub(crate) fn scalar(&mut self, dtype: DType, x: f64) -> ValueId {
        self.konst(tensor_of(dtype, &[], vec![x]))
    }

    /// A 1-D i64 constant.
    pub(crate) fn i64s(&mut self, v: &[i64]) -> ValueId {
        self.konst(int_tensor(
            DType::I64,
            &[v.len()],
            v.iter().map(|&x| x as i128).collect(),
        ))
    }

    /// A unary primitive.
    pub(crate) fn un(&mut self, op: UnaryOp, x: ValueId) -> Result<ValueId> {
        self.op1(Op::Unary(op), &[x])
    }

    /// A binary primitive.
    pub(crate) fn bin(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.op1(Op::Binary(op), &[a, b])
    }

    /// `x op c` for a scalar constant `c` in `x`'s dtype.
    pub(crate) fn bin_c(&mut self, op: BinaryOp, x: ValueId, c: f64) -> Result<ValueId> {
        let k = self.scalar(self.dtype(x), c);
        self.bin(op, x, k)
    }

    /// `cond ? a : b`.
    pub(crate) fn select(&mut self, cond: ValueId, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.op1(Op::Where {}, &[cond, a, b])
    }

    /// Converts to `to` (no node when the dtype already matches).
    pub(crate) fn cast(&mut self, x: ValueId, to: DType) -> Result<ValueId> {
        if self.dtype(x) == to {
            return Ok(x);
        }
        self.op1(Op::Cast { to, saturate: true }, &[x])
    }

    /// Reshapes to static `dims` (`allowzero`, so 0 means an empty axis); no node when the shape
    /// already matches.
    pub(crate) fn reshape(&mut self, x: ValueId, dims: &[usize]) -> Result<ValueId> {
        if self.dims(x).as_deref() == Some(dims) {
            return Ok(x);
        }
        let s = self.i64s(&dims.iter().map(|&d| d as i64).collect::<Vec<_>>());
        self.op1(Op::Reshape { allowzero: true }, &[x, s])
    }

    /// Permutes axes (no node for the identity permutation).
    pub(crate) fn transpose(&mut self, x: ValueId, perm: &[usize]) -> Result<ValueId> {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(x);
        }
        let perm = perm.iter().map(|&p| p as i64).collect();
        self.op1(Op::Transpose { perm }, &[x])
    }

    /// `x[start:end:step]` along `axis` (ONNX clamping rules apply).
    pub(crate) fn slice(
        &mut self,
        x: ValueId,
        axis: usize,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<ValueId> {
        let s = self.i64s(&[start]);
        let e = self.i64s(&[end]);
        let a = self.i64s(&[axis as i64]);
        let st = self.i64s(&[step]);
        self.op1(Op::Slice {}, &[x, s, e, a, st])
    }

    /// A primitive reduction over `axes` (empty axes reduce nothing).
    pub(crate) fn reduce(
        &mut self,
        kind: ReduceOp,
        x: ValueId,
        axes: &[i64],
        keepdims: bool,
    ) -> Result<ValueId> {
        let a = self.i64s(axes);
        self.op1(
            Op::Reduce {
                kind,
                keepdims,
                noop_with_empty_axes: true,
            },
            &[x, a],
        )
    }

    /// Joins along `axis` (no node for one operand).
    pub(crate) fn concat(&mut self, xs: &[ValueId], axis: usize) -> Result<ValueId> {
        match xs {
            [one] => Ok(*one),
            _ => self.op1(Op::Concat { axis: axis as i64 }, xs),
        }
    }

    /// Constant padding by `pads` (`[b_0.., e_0..]`) with the scalar `value` (0 when `None`).
    pub(crate) fn pad(
        &mut self,
        x: ValueId,
        pads: &[i64],
        value: Option<ValueId>,
    ) -> Result<ValueId> {
        if pads.iter().all(|&p| p == 0) {
            return Ok(x);
        }
        let p = self.i64s(pads);
        let mut ins = vec![Some(x), Some(p)];
        if value.is_some() {
            ins.push(value);
        }
        let outs = self.emit(
            Op::Pad {
                mode: crate::attr::PadMode::Constant,
            },
            &ins,
            1,
        )?;
        outs.first()
            .copied()
            .ok_or_else(|| self.internal("no output"))
    }

    /// Broadcasts to static `dims`.
    pub(crate) fn expand(&mut self, x: ValueId, dims: &[usize]) -> Result<ValueId> {
        if self.dims(x).as_deref() == Some(dims) {
            return Ok(x);
        }
        let s = self.i64s(&dims.iter().map(|&d| d as i64).collect::<Vec<_>>());
        self.op1(Op::Expand {}, &[x, s])
    }

    /// A strided view of `x`'s row-major elements.
    pub(crate) fn as_strided(
        &mut self,
        x: ValueId,
        shape: &[usize],
        strides: &[i64],
        offset: i64,
    ) -> Result<ValueId> {
        self.op1(
            Op::AsStrided {
                shape: shape.iter().map(|&d| d as i64).collect(),
                strides: strides.to_vec(),
                offset,
            },
            &[x],
        )
    }

    /// True where `x` is NaN (all false for non-float dtypes, without a node).
    fn nan_mask(&mut self, x: ValueId) -> Result<Option<ValueId>> {
        if self.dtype(x).is_float() {
            Ok(Some(self.un(UnaryOp::IsNaN, x)?))
        } else {
            Ok(None)
        }
    }

    /// Elementwise maximum (`greater`) or minimum of two broadcast operands, NaN propagating.
    pub(crate) fn extreme2(&mut self, a: ValueId, b: ValueId, greater: bool) -> Result<ValueId> {
        let cmp = if greater {
            BinaryOp::Greater
        } else {
            BinaryOp::Less
        };
        let mut take_a = self.bin(cmp, a, b)?;
        // `a > b` is false when either is NaN: choosing `a` when it is NaN, and `b` otherwise,
        // propagates a NaN from either side.
        if let Some(nan) = self.nan_mask(a)? {
            take_a = self.bin(BinaryOp::Or, take_a, nan)?;
        }
        self.select(take_a, a, b)
    }
}
