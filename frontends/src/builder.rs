//! `GraphBuilder`: build a graph from Rust, one method per operator, with dtype and shape
//! errors reported when a node is added rather than when the graph runs.
//!
//! ```
//! use tessera_frontends::GraphBuilder;
//! use tessera_ir::{DType, Tensor, interp};
//! use std::collections::HashMap;
//!
//! let mut b = GraphBuilder::new("mlp");
//! let x = b.input("x", DType::F32, &[2, 3]);
//! let w = b.constant(Tensor::from_vec(&[3, 2], vec![1f32, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap());
//! let bias = b.constant(Tensor::from_vec(&[2], vec![0.5f32, -10.0]).unwrap());
//! let h = b.matmul(x, w).unwrap();
//! let h = b.add(h, bias).unwrap();
//! let y = b.relu(h).unwrap();
//! b.output(y, "y").unwrap();
//! let graph = b.finish().unwrap();
//!
//! let x = Tensor::from_vec(&[2, 3], vec![1f32, 2.0, 3.0, -1.0, -2.0, -3.0]).unwrap();
//! let out = interp::evaluate(&graph, &HashMap::from([("x".to_string(), x)])).unwrap();
//! assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![4.5, 0.0, 0.0, 0.0]);
//! ```
//!
//! A shape mismatch is an error at build time:
//!
//! ```
//! use tessera_frontends::GraphBuilder;
//! use tessera_ir::DType;
//! let mut b = GraphBuilder::new("bad");
//! let x = b.input("x", DType::F32, &[2, 3]);
//! let y = b.input("y", DType::F32, &[4, 3]);
//! let err = b.matmul(x, y).unwrap_err();
//! assert!(err.to_string().contains("matmul"));
//! ```

use tessera_ir::attr::{
    AutoPad, CoordTransform, GeluApprox, KeepAspectRatio, NearestMode, PadMode, ResizeMode,
    ScatterReduction,
};
use tessera_ir::error::{IrError, Result};
use tessera_ir::infer::{Operand, infer_op};
use tessera_ir::op::{BinaryOp, Op, ReduceOp, UnaryOp, VariadicOp};
use tessera_ir::{At, DType, Graph, Tensor, TensorType, ValueId, verify};

/// A value under construction: a handle into the builder's graph.
pub type Var = ValueId;

/// Builds a [`Graph`] node by node, inferring and checking types as it goes.
#[derive(Debug)]
pub struct GraphBuilder {
    graph: Graph,
    counter: usize,
}

macro_rules! unary_methods {
    ($($(#[$m:meta])* $fn:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        pub fn $fn(&mut self, x: Var) -> Result<Var> {
            self.op1(Op::Unary(UnaryOp::$op), &[Some(x)])
        }
    )*};
}

macro_rules! binary_methods {
    ($($(#[$m:meta])* $fn:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        pub fn $fn(&mut self, a: Var, b: Var) -> Result<Var> {
            self.op1(Op::Binary(BinaryOp::$op), &[Some(a), Some(b)])
        }
    )*};
}

macro_rules! variadic_methods {
    ($($(#[$m:meta])* $fn:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        pub fn $fn(&mut self, xs: &[Var]) -> Result<Var> {
            let ins: Vec<Option<Var>> = xs.iter().map(|&x| Some(x)).collect();
            self.op1(Op::Variadic(VariadicOp::$op), &ins)
        }
    )*};
}

macro_rules! reduce_methods {
    ($($(#[$m:meta])* $fn:ident => $op:ident),* $(,)?) => {$(
        $(#[$m])*
        pub fn $fn(&mut self, x: Var, axes: &[i64], keepdims: bool) -> Result<Var> {
            self.reduce(ReduceOp::$op, x, axes, keepdims)
        }
    )*};
}

impl GraphBuilder {
    /// A builder for an empty graph called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        GraphBuilder {
            graph: Graph::new(name),
            counter: 0,
        }
    }

    /// Adds a graph input with static dims.
    pub fn input(&mut self, name: &str, dtype: DType, dims: &[usize]) -> Var {
        self.graph.add_input(name, TensorType::new(dtype, dims))
    }

    /// Adds a graph input of any type (symbolic dims allowed).
    pub fn input_typed(&mut self, name: &str, ty: TensorType) -> Var {
        self.graph.add_input(name, ty)
    }

    /// Adds a constant (identical constants are stored once).
    pub fn constant(&mut self, t: Tensor) -> Var {
        self.graph.add_constant(t)
    }

    /// Adds a named constant (an initializer / weight).
    pub fn weight(&mut self, name: &str, t: Tensor) -> Var {
        self.graph.add_named_constant(Some(name.to_string()), t)
    }

    /// Adds a 1-D i64 constant (shapes, axes, pads, ...).
    pub fn ints(&mut self, v: &[i64]) -> Var {
        self.constant(Tensor::from_slice(&[v.len()], v).expect("1-D length matches"))
    }

    /// The type of a value.
    pub fn ty(&self, v: Var) -> &TensorType {
        &self.graph.value(v).ty
    }

    /// The graph built so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Adds a node of any operator with `num_outputs` results and returns them. Output types
    /// are inferred; a dtype, shape or attribute problem is returned as an error naming the
    /// node and the operator, and leaves the graph unchanged.
    pub fn node(&mut self, op: Op, inputs: &[Option<Var>], num_outputs: usize) -> Result<Vec<Var>> {
        let name = format!("{}_{}", op.name(), self.counter);
        let at = At {
            node: name.clone(),
            op: op.name(),
        };
        for (i, v) in inputs.iter().enumerate() {
            if let Some(v) = v
                && self.graph.values.get(*v).is_none()
            {
                return Err(IrError::UndefinedValue {
                    at: at.clone(),
                    input: i,
                });
            }
        }
        let operands: Vec<Option<Operand<'_>>> = inputs
            .iter()
            .map(|i| {
                i.map(|v| Operand {
                    ty: &self.graph.value(v).ty,
                    value: self.graph.constant_of(v),
                })
            })
            .collect();
        let types = infer_op(&op, &at, &operands, num_outputs)?;
        self.counter += 1;
        let id = self.graph.push_node(op, inputs.to_vec(), types, Some(name));
        Ok(self.graph.node(id).outputs.clone())
    }

    fn op1(&mut self, op: Op, inputs: &[Option<Var>]) -> Result<Var> {
        Ok(self.node(op, inputs, 1)?[0])
    }

    /// Marks `v` as a graph output called `name`. A value that already has another name (a
    /// graph input, a weight, another output) gets an `identity` node so both names exist.
    pub fn output(&mut self, v: Var, name: &str) -> Result<()> {
        let v = match &self.graph.value(v).name {
            Some(n) if n != name => self.identity(v)?,
            _ => v,
        };
        if self
            .graph
            .values
            .iter()
            .any(|(h, val)| h != v && val.name.as_deref() == Some(name))
        {
            return Err(IrError::Structure {
                graph: self.graph.name.clone(),
                message: format!("output name `{name}` is already used by another value"),
            });
        }
        self.graph.values[v].name = Some(name.to_string());
        self.graph.add_output(v);
        Ok(())
    }

    /// Verifies and returns the graph.
    pub fn finish(self) -> Result<Graph> {
        verify::verify(&self.graph)?;
        Ok(self.graph)
    }

    unary_methods! {
        /// `x` (a copy).
        identity => Identity,
        /// `-x`.
        neg => Neg,
        /// `|x|`.
        abs => Abs,
        /// Sign of `x`.
        sign => Sign,
        /// Square root.
        sqrt => Sqrt,
        /// `1 / x`.
        reciprocal => Reciprocal,
        /// `e^x`.
        exp => Exp,
        /// Natural log.
        log => Log,
        /// Sine.
        sin => Sin,
        /// Cosine.
        cos => Cos,
        /// Tangent.
        tan => Tan,
        /// Arcsine.
        asin => Asin,
        /// Arccosine.
        acos => Acos,
        /// Arctangent.
        atan => Atan,
        /// Hyperbolic sine.
        sinh => Sinh,
        /// Hyperbolic cosine.
        cosh => Cosh,
        /// Hyperbolic tangent.
        tanh => Tanh,
        /// Inverse hyperbolic sine.
        asinh => Asinh,
        /// Inverse hyperbolic cosine.
        acosh => Acosh,
        /// Inverse hyperbolic tangent.
        atanh => Atanh,
        /// Error function.
        erf => Erf,
        /// Logistic sigmoid.
        sigmoid => Sigmoid,
        /// `max(x, 0)`.
        relu => Relu,
        /// `ln(1 + e^x)`.
        softplus => Softplus,
        /// `x / (1 + |x|)`.
        softsign => Softsign,
        /// Hard swish.
        hard_swish => HardSwish,
        /// Mish.
        mish => Mish,
        /// Floor.
        floor => Floor,
        /// Ceil.
        ceil => Ceil,
        /// Round half to even.
        round => Round,
        /// Logical not.
        not => Not,
        /// NaN test.
        is_nan => IsNaN,
        /// Bitwise complement.
        bitwise_not => BitwiseNot,
    }

    binary_methods! {
        /// `a + b`.
        add => Add,
        /// `a - b`.
        sub => Sub,
        /// `a * b`.
        mul => Mul,
        /// `a / b`.
        div => Div,
        /// `a ^ b`.
        pow => Pow,
        /// Modulo with the divisor's sign.
        modulo => Mod,
        /// Remainder with the dividend's sign.
        fmod => FMod,
        /// `a << b`.
        bit_shift_left => BitShiftLeft,
        /// `a >> b`.
        bit_shift_right => BitShiftRight,
        /// Bitwise and.
        bitwise_and => BitwiseAnd,
        /// Bitwise or.
        bitwise_or => BitwiseOr,
        /// Bitwise xor.
        bitwise_xor => BitwiseXor,
        /// Logical and.
        and => And,
        /// Logical or.
        or => Or,
        /// Logical xor.
        xor => Xor,
        /// `a == b`.
        equal => Equal,
        /// `a < b`.
        less => Less,
        /// `a <= b`.
        less_or_equal => LessOrEqual,
        /// `a > b`.
        greater => Greater,
        /// `a >= b`.
        greater_or_equal => GreaterOrEqual,
        /// Parametric ReLU with slope `b`.
        prelu => PRelu,
    }

    variadic_methods! {
        /// Elementwise minimum of all operands.
        min => Min,
        /// Elementwise maximum of all operands.
        max => Max,
        /// Elementwise sum of all operands.
        sum => Sum,
        /// Elementwise mean of all operands.
        mean => Mean,
    }

    fn reduce(&mut self, kind: ReduceOp, x: Var, axes: &[i64], keepdims: bool) -> Result<Var> {
        let axes = (!axes.is_empty()).then(|| self.ints(axes));
        self.op1(
            Op::Reduce {
                kind,
                keepdims,
                noop_with_empty_axes: false,
            },
            &[Some(x), axes],
        )
    }

    reduce_methods! {
        /// Sum over `axes` (all when empty).
        reduce_sum => Sum,
        /// Mean over `axes`.
        reduce_mean => Mean,
        /// Maximum over `axes`.
        reduce_max => Max,
        /// Minimum over `axes`.
        reduce_min => Min,
        /// Product over `axes`.
        reduce_prod => Prod,
        /// Sum of absolute values.
        reduce_l1 => L1,
        /// Euclidean norm.
        reduce_l2 => L2,
        /// Log of the sum.
        reduce_log_sum => LogSum,
        /// Log-sum-exp.
        reduce_log_sum_exp => LogSumExp,
        /// Sum of squares.
        reduce_sum_square => SumSquare,
    }

    /// Leaky ReLU.
    pub fn leaky_relu(&mut self, x: Var, alpha: f32) -> Result<Var> {
        self.op1(Op::LeakyRelu { alpha }, &[Some(x)])
    }
    /// ELU.
    pub fn elu(&mut self, x: Var, alpha: f32) -> Result<Var> {
        self.op1(Op::Elu { alpha }, &[Some(x)])
    }
    /// SELU.
    pub fn selu(&mut self, x: Var, alpha: f32, gamma: f32) -> Result<Var> {
        self.op1(Op::Selu { alpha, gamma }, &[Some(x)])
    }
    /// CELU.
    pub fn celu(&mut self, x: Var, alpha: f32) -> Result<Var> {
        self.op1(Op::Celu { alpha }, &[Some(x)])
    }
    /// Hard sigmoid.
    pub fn hard_sigmoid(&mut self, x: Var, alpha: f32, beta: f32) -> Result<Var> {
        self.op1(Op::HardSigmoid { alpha, beta }, &[Some(x)])
    }
    /// Thresholded ReLU.
    pub fn thresholded_relu(&mut self, x: Var, alpha: f32) -> Result<Var> {
        self.op1(Op::ThresholdedRelu { alpha }, &[Some(x)])
    }
    /// GELU, exact or tanh-approximated.
    pub fn gelu(&mut self, x: Var, approximate: GeluApprox) -> Result<Var> {
        self.op1(Op::Gelu { approximate }, &[Some(x)])
    }
    /// Shrink.
    pub fn shrink(&mut self, x: Var, bias: f32, lambd: f32) -> Result<Var> {
        self.op1(Op::Shrink { bias, lambd }, &[Some(x)])
    }
    /// Infinity test.
    pub fn is_inf(&mut self, x: Var, detect_negative: bool, detect_positive: bool) -> Result<Var> {
        self.op1(
            Op::IsInf {
                detect_negative,
                detect_positive,
            },
            &[Some(x)],
        )
    }
    /// Converts to `to`.
    pub fn cast(&mut self, x: Var, to: DType) -> Result<Var> {
        self.op1(Op::Cast { to, saturate: true }, &[Some(x)])
    }
    /// Clamps to `[min, max]` (either bound optional; scalars of x's dtype).
    pub fn clip(&mut self, x: Var, min: Option<Var>, max: Option<Var>) -> Result<Var> {
        self.op1(Op::Clip {}, &[Some(x), min, max])
    }
    /// `cond ? x : y`.
    pub fn where_(&mut self, cond: Var, x: Var, y: Var) -> Result<Var> {
        self.op1(Op::Where {}, &[Some(cond), Some(x), Some(y)])
    }
    /// NumPy matmul.
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.op1(Op::MatMul {}, &[Some(a), Some(b)])
    }
    /// `alpha * op(A) op(B) + beta * C`.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &mut self,
        a: Var,
        b: Var,
        c: Option<Var>,
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    ) -> Result<Var> {
        self.op1(
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            },
            &[Some(a), Some(b), c],
        )
    }
    /// Einstein summation.
    pub fn einsum(&mut self, equation: &str, xs: &[Var]) -> Result<Var> {
        let ins: Vec<Option<Var>> = xs.iter().map(|&x| Some(x)).collect();
        self.op1(
            Op::Einsum {
                equation: equation.to_string(),
            },
            &ins,
        )
    }
    /// N-d convolution with explicit attributes (use `Default`-like empty vectors for defaults).
    pub fn conv(&mut self, x: Var, w: Var, bias: Option<Var>, attrs: ConvAttrs) -> Result<Var> {
        let ConvAttrs {
            auto_pad,
            dilations,
            group,
            kernel_shape,
            pads,
            strides,
        } = attrs;
        self.op1(
            Op::Conv {
                auto_pad,
                dilations,
                group,
                kernel_shape,
                pads,
                strides,
            },
            &[Some(x), Some(w), bias],
        )
    }
    /// Transposed convolution.
    pub fn conv_transpose(
        &mut self,
        x: Var,
        w: Var,
        bias: Option<Var>,
        attrs: ConvAttrs,
        output_padding: Vec<i64>,
        output_shape: Vec<i64>,
    ) -> Result<Var> {
        let ConvAttrs {
            auto_pad,
            dilations,
            group,
            kernel_shape,
            pads,
            strides,
        } = attrs;
        self.op1(
            Op::ConvTranspose {
                auto_pad,
                dilations,
                group,
                kernel_shape,
                output_padding,
                output_shape,
                pads,
                strides,
            },
            &[Some(x), Some(w), bias],
        )
    }
    /// Max pooling (values only).
    pub fn max_pool(
        &mut self,
        x: Var,
        kernel_shape: Vec<i64>,
        strides: Vec<i64>,
        pads: Vec<i64>,
        ceil_mode: bool,
    ) -> Result<Var> {
        self.op1(
            Op::MaxPool {
                auto_pad: AutoPad::NotSet,
                ceil_mode,
                dilations: Vec::new(),
                kernel_shape,
                pads,
                storage_order: 0,
                strides,
            },
            &[Some(x)],
        )
    }
    /// Average pooling.
    pub fn average_pool(
        &mut self,
        x: Var,
        kernel_shape: Vec<i64>,
        strides: Vec<i64>,
        pads: Vec<i64>,
        count_include_pad: bool,
    ) -> Result<Var> {
        self.op1(
            Op::AveragePool {
                auto_pad: AutoPad::NotSet,
                ceil_mode: false,
                count_include_pad,
                dilations: Vec::new(),
                kernel_shape,
                pads,
                strides,
            },
            &[Some(x)],
        )
    }
    /// Global average pooling.
    pub fn global_average_pool(&mut self, x: Var) -> Result<Var> {
        self.op1(Op::GlobalAveragePool {}, &[Some(x)])
    }
    /// Global max pooling.
    pub fn global_max_pool(&mut self, x: Var) -> Result<Var> {
        self.op1(Op::GlobalMaxPool {}, &[Some(x)])
    }
    /// Inference-mode batch normalization.
    pub fn batch_normalization(
        &mut self,
        x: Var,
        scale: Var,
        bias: Var,
        mean: Var,
        var: Var,
        epsilon: f32,
    ) -> Result<Var> {
        self.op1(
            Op::BatchNormalization {
                epsilon,
                momentum: 0.9,
                training_mode: false,
            },
            &[Some(x), Some(scale), Some(bias), Some(mean), Some(var)],
        )
    }
    /// Instance normalization.
    pub fn instance_normalization(
        &mut self,
        x: Var,
        scale: Var,
        bias: Var,
        epsilon: f32,
    ) -> Result<Var> {
        self.op1(
            Op::InstanceNormalization { epsilon },
            &[Some(x), Some(scale), Some(bias)],
        )
    }
    /// Layer normalization over axes `axis..`.
    pub fn layer_normalization(
        &mut self,
        x: Var,
        scale: Var,
        bias: Option<Var>,
        axis: i64,
        epsilon: f32,
    ) -> Result<Var> {
        self.op1(
            Op::LayerNormalization {
                axis,
                epsilon,
                stash_type: 1,
            },
            &[Some(x), Some(scale), bias],
        )
    }
    /// Softmax along `axis`.
    pub fn softmax(&mut self, x: Var, axis: i64) -> Result<Var> {
        self.op1(Op::Softmax { axis }, &[Some(x)])
    }
    /// Log-softmax along `axis`.
    pub fn log_softmax(&mut self, x: Var, axis: i64) -> Result<Var> {
        self.op1(Op::LogSoftmax { axis }, &[Some(x)])
    }
    /// Hardmax along `axis`.
    pub fn hardmax(&mut self, x: Var, axis: i64) -> Result<Var> {
        self.op1(Op::Hardmax { axis }, &[Some(x)])
    }
    /// Index of the maximum along `axis`.
    pub fn argmax(&mut self, x: Var, axis: i64, keepdims: bool) -> Result<Var> {
        self.op1(
            Op::ArgMax {
                axis,
                keepdims,
                select_last_index: false,
            },
            &[Some(x)],
        )
    }
    /// Index of the minimum along `axis`.
    pub fn argmin(&mut self, x: Var, axis: i64, keepdims: bool) -> Result<Var> {
        self.op1(
            Op::ArgMin {
                axis,
                keepdims,
                select_last_index: false,
            },
            &[Some(x)],
        )
    }
    /// Cumulative sum along `axis`.
    pub fn cumsum(&mut self, x: Var, axis: i64, exclusive: bool, reverse: bool) -> Result<Var> {
        let a = self.constant(Tensor::scalar(axis));
        self.op1(Op::CumSum { exclusive, reverse }, &[Some(x), Some(a)])
    }
    /// The `k` largest (or smallest) entries along `axis`: `(values, indices)`.
    pub fn top_k(&mut self, x: Var, k: i64, axis: i64, largest: bool) -> Result<(Var, Var)> {
        let k = self.ints(&[k]);
        let o = self.node(
            Op::TopK {
                axis,
                largest,
                sorted: true,
            },
            &[Some(x), Some(k)],
            2,
        )?;
        Ok((o[0], o[1]))
    }
    /// Reshape (0 copies a dim, -1 is inferred).
    pub fn reshape(&mut self, x: Var, shape: &[i64]) -> Result<Var> {
        let s = self.ints(shape);
        self.op1(Op::Reshape { allowzero: false }, &[Some(x), Some(s)])
    }
    /// Axis permutation.
    pub fn transpose(&mut self, x: Var, perm: &[i64]) -> Result<Var> {
        self.op1(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            &[Some(x)],
        )
    }
    /// Broadcast to `shape`.
    pub fn expand(&mut self, x: Var, shape: &[i64]) -> Result<Var> {
        let s = self.ints(shape);
        self.op1(Op::Expand {}, &[Some(x), Some(s)])
    }
    /// Removes size-1 axes (all when `axes` is empty).
    pub fn squeeze(&mut self, x: Var, axes: &[i64]) -> Result<Var> {
        let a = (!axes.is_empty()).then(|| self.ints(axes));
        self.op1(Op::Squeeze {}, &[Some(x), a])
    }
    /// Inserts size-1 axes.
    pub fn unsqueeze(&mut self, x: Var, axes: &[i64]) -> Result<Var> {
        let a = self.ints(axes);
        self.op1(Op::Unsqueeze {}, &[Some(x), Some(a)])
    }
    /// Flattens to 2-D at `axis`.
    pub fn flatten(&mut self, x: Var, axis: i64) -> Result<Var> {
        self.op1(Op::Flatten { axis }, &[Some(x)])
    }
    /// Joins along `axis`.
    pub fn concat(&mut self, xs: &[Var], axis: i64) -> Result<Var> {
        let ins: Vec<Option<Var>> = xs.iter().map(|&x| Some(x)).collect();
        self.op1(Op::Concat { axis }, &ins)
    }
    /// Splits along `axis` into pieces of the given sizes.
    pub fn split(&mut self, x: Var, axis: i64, sizes: &[i64]) -> Result<Vec<Var>> {
        let s = self.ints(sizes);
        self.node(
            Op::Split {
                axis,
                num_outputs: None,
            },
            &[Some(x), Some(s)],
            sizes.len(),
        )
    }
    /// Slices `starts..ends` by `steps` on `axes`.
    pub fn slice(
        &mut self,
        x: Var,
        starts: &[i64],
        ends: &[i64],
        axes: &[i64],
        steps: &[i64],
    ) -> Result<Var> {
        let (s, e) = (self.ints(starts), self.ints(ends));
        let a = (!axes.is_empty()).then(|| self.ints(axes));
        let st = (!steps.is_empty()).then(|| self.ints(steps));
        self.op1(Op::Slice {}, &[Some(x), Some(s), Some(e), a, st])
    }
    /// Takes entries along `axis`.
    pub fn gather(&mut self, x: Var, indices: Var, axis: i64) -> Result<Var> {
        self.op1(Op::Gather { axis }, &[Some(x), Some(indices)])
    }
    /// Per-element gather along `axis`.
    pub fn gather_elements(&mut self, x: Var, indices: Var, axis: i64) -> Result<Var> {
        self.op1(Op::GatherElements { axis }, &[Some(x), Some(indices)])
    }
    /// Gathers slices by index tuples.
    pub fn gather_nd(&mut self, x: Var, indices: Var, batch_dims: i64) -> Result<Var> {
        self.op1(Op::GatherND { batch_dims }, &[Some(x), Some(indices)])
    }
    /// Writes updates at index tuples.
    pub fn scatter_nd(
        &mut self,
        x: Var,
        indices: Var,
        updates: Var,
        reduction: ScatterReduction,
    ) -> Result<Var> {
        self.op1(
            Op::ScatterND { reduction },
            &[Some(x), Some(indices), Some(updates)],
        )
    }
    /// Per-element scatter along `axis`.
    pub fn scatter_elements(
        &mut self,
        x: Var,
        indices: Var,
        updates: Var,
        axis: i64,
        reduction: ScatterReduction,
    ) -> Result<Var> {
        self.op1(
            Op::ScatterElements { axis, reduction },
            &[Some(x), Some(indices), Some(updates)],
        )
    }
    /// Pads with `pads = [begins..., ends...]`.
    pub fn pad(&mut self, x: Var, pads: &[i64], mode: PadMode, value: Option<Var>) -> Result<Var> {
        let p = self.ints(pads);
        self.op1(Op::Pad { mode }, &[Some(x), Some(p), value])
    }
    /// Repeats the tensor `repeats` times per axis.
    pub fn tile(&mut self, x: Var, repeats: &[i64]) -> Result<Var> {
        let r = self.ints(repeats);
        self.op1(Op::Tile {}, &[Some(x), Some(r)])
    }
    /// The shape of `x` as a 1-D i64 tensor.
    pub fn shape(&mut self, x: Var) -> Result<Var> {
        self.op1(
            Op::Shape {
                start: 0,
                end: None,
            },
            &[Some(x)],
        )
    }
    /// The element count of `x`.
    pub fn size(&mut self, x: Var) -> Result<Var> {
        self.op1(Op::Size {}, &[Some(x)])
    }
    /// `start, start + delta, ...` below `limit` (scalars of one dtype).
    pub fn range(&mut self, start: Var, limit: Var, delta: Var) -> Result<Var> {
        self.op1(Op::Range {}, &[Some(start), Some(limit), Some(delta)])
    }
    /// A tensor of `shape` filled with the one element of `value`.
    pub fn constant_of_shape(&mut self, shape: Var, value: Tensor) -> Result<Var> {
        self.op1(Op::ConstantOfShape { value }, &[Some(shape)])
    }
    /// Upper or lower triangle of the last two axes, shifted by `k`.
    pub fn trilu(&mut self, x: Var, upper: bool, k: i64) -> Result<Var> {
        let k = self.constant(Tensor::scalar(k));
        self.op1(Op::Trilu { upper }, &[Some(x), Some(k)])
    }
    /// Resize by per-axis `scales`.
    pub fn resize(
        &mut self,
        x: Var,
        scales: &[f32],
        mode: ResizeMode,
        coordinate_transformation_mode: CoordTransform,
    ) -> Result<Var> {
        let s =
            self.constant(Tensor::from_slice(&[scales.len()], scales).expect("1-D length matches"));
        self.op1(
            Op::Resize {
                antialias: false,
                axes: Vec::new(),
                coordinate_transformation_mode,
                cubic_coeff_a: -0.75,
                exclude_outside: false,
                extrapolation_value: 0.0,
                keep_aspect_ratio_policy: KeepAspectRatio::Stretch,
                mode,
                nearest_mode: NearestMode::RoundPreferFloor,
            },
            &[Some(x), None, Some(s)],
        )
    }
    /// Inference-mode dropout (the identity).
    pub fn dropout(&mut self, x: Var) -> Result<Var> {
        self.op1(Op::Dropout { seed: None }, &[Some(x)])
    }
    /// Indices of the non-zero elements.
    pub fn non_zero(&mut self, x: Var) -> Result<Var> {
        self.op1(Op::NonZero {}, &[Some(x)])
    }
}

/// Attributes shared by [`GraphBuilder::conv`] and [`GraphBuilder::conv_transpose`]; empty
/// vectors mean the ONNX defaults (unit strides and dilations, zero pads, kernel from W).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvAttrs {
    /// Padding rule.
    pub auto_pad: AutoPad,
    /// Dilations per spatial axis.
    pub dilations: Vec<i64>,
    /// Channel groups.
    pub group: i64,
    /// Kernel extents (taken from W when empty).
    pub kernel_shape: Vec<i64>,
    /// Pads `[begins..., ends...]`.
    pub pads: Vec<i64>,
    /// Strides per spatial axis.
    pub strides: Vec<i64>,
}

impl Default for ConvAttrs {
    fn default() -> Self {
        ConvAttrs {
            auto_pad: AutoPad::NotSet,
            dilations: Vec::new(),
            group: 1,
            kernel_shape: Vec::new(),
            pads: Vec::new(),
            strides: Vec::new(),
        }
    }
}
