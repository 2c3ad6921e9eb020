//! Graph operators: the typed set of operations a graph node can perform, with ONNX semantics.
//!
//! Operators come in two shapes:
//! - families of attribute-free elementwise and reduction ops ([`UnaryOp`], [`BinaryOp`],
//!   [`VariadicOp`], [`ReduceOp`]), each a small enum;
//! - every other operator as one [`Op`] variant whose fields are its typed attributes.
//!
//! Operands that ONNX passes as tensors (Reshape's shape, Slice's starts, Pad's pads, the axes of
//! Squeeze/Unsqueeze/Reduce*, ...) stay node *inputs*; shape inference reads them when they are
//! constants. Optional operands are `None` inputs of the node.

use crate::attr::{
    Attr, AttrValue, AutoPad, CoordTransform, GeluApprox, KeepAspectRatio, NearestMode, PadMode,
    ResizeMode, ScatterReduction, attr_enum,
};
use crate::dtype::DType;
use crate::tensor::Tensor;

attr_enum!(
    /// Elementwise operators of one operand, without attributes.
    UnaryOp {
        /// `x`.
        Identity = "identity",
        /// `-x` (wrapping for integers).
        Neg = "neg",
        /// `|x|`.
        Abs = "abs",
        /// -1, 0 or 1 (NaN stays NaN).
        Sign = "sign",
        /// Square root.
        Sqrt = "sqrt",
        /// `1 / x`.
        Reciprocal = "reciprocal",
        /// `e^x`.
        Exp = "exp",
        /// Natural logarithm.
        Log = "log",
        /// Sine.
        Sin = "sin",
        /// Cosine.
        Cos = "cos",
        /// Tangent.
        Tan = "tan",
        /// Arcsine.
        Asin = "asin",
        /// Arccosine.
        Acos = "acos",
        /// Arctangent.
        Atan = "atan",
        /// Hyperbolic sine.
        Sinh = "sinh",
        /// Hyperbolic cosine.
        Cosh = "cosh",
        /// Hyperbolic tangent.
        Tanh = "tanh",
        /// Inverse hyperbolic sine.
        Asinh = "asinh",
        /// Inverse hyperbolic cosine.
        Acosh = "acosh",
        /// Inverse hyperbolic tangent.
        Atanh = "atanh",
        /// Error function.
        Erf = "erf",
        /// `1 / (1 + e^-x)`.
        Sigmoid = "sigmoid",
        /// `max(x, 0)`.
        Relu = "relu",
        /// `ln(1 + e^x)`.
        Softplus = "softplus",
        /// `x / (1 + |x|)`.
        Softsign = "softsign",
        /// `x * max(0, min(1, x/6 + 1/2))`.
        HardSwish = "hard_swish",
        /// `x * tanh(softplus(x))`.
        Mish = "mish",
        /// Round toward -inf.
        Floor = "floor",
        /// Round toward +inf.
        Ceil = "ceil",
        /// Round half to even.
        Round = "round",
        /// Logical not (bool).
        Not = "not",
        /// True where NaN.
        IsNaN = "is_nan",
        /// Bitwise complement (integers).
        BitwiseNot = "bitwise_not",
    }
);

attr_enum!(
    /// Elementwise operators of two operands with multidirectional broadcasting.
    BinaryOp {
        /// `a + b` (wrapping for integers).
        Add = "add",
        /// `a - b` (wrapping for integers).
        Sub = "sub",
        /// `a * b` (wrapping for integers).
        Mul = "mul",
        /// `a / b`; integers truncate toward zero.
        Div = "div",
        /// `a ^ b`; the result has `a`'s dtype.
        Pow = "pow",
        /// Integer/float modulo with the sign of the divisor (ONNX Mod, fmod=0).
        Mod = "mod",
        /// C `fmod`: remainder with the sign of the dividend (ONNX Mod, fmod=1).
        FMod = "fmod",
        /// `a << b` (unsigned integers).
        BitShiftLeft = "bit_shift_left",
        /// `a >> b` (unsigned integers).
        BitShiftRight = "bit_shift_right",
        /// Bitwise and.
        BitwiseAnd = "bitwise_and",
        /// Bitwise or.
        BitwiseOr = "bitwise_or",
        /// Bitwise xor.
        BitwiseXor = "bitwise_xor",
        /// Logical and (bool).
        And = "and",
        /// Logical or (bool).
        Or = "or",
        /// Logical xor (bool).
        Xor = "xor",
        /// `a == b` (bool result).
        Equal = "equal",
        /// `a < b` (bool result).
        Less = "less",
        /// `a <= b` (bool result).
        LessOrEqual = "less_or_equal",
        /// `a > b` (bool result).
        Greater = "greater",
        /// `a >= b` (bool result).
        GreaterOrEqual = "greater_or_equal",
        /// `x < 0 ? slope * x : x`, slope broadcast to x.
        PRelu = "prelu",
    }
);

impl BinaryOp {
    /// True for the comparison ops, whose result is bool.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Equal
                | BinaryOp::Less
                | BinaryOp::LessOrEqual
                | BinaryOp::Greater
                | BinaryOp::GreaterOrEqual
        )
    }
}

attr_enum!(
    /// Elementwise operators over one or more operands, broadcast together.
    VariadicOp {
        /// Elementwise minimum (NaN propagates).
        Min = "min",
        /// Elementwise maximum (NaN propagates).
        Max = "max",
        /// Elementwise sum.
        Sum = "sum",
        /// Elementwise mean.
        Mean = "mean",
    }
);

attr_enum!(
    /// Reductions over a set of axes.
    ReduceOp {
        /// Sum.
        Sum = "reduce_sum",
        /// Mean.
        Mean = "reduce_mean",
        /// Maximum.
        Max = "reduce_max",
        /// Minimum.
        Min = "reduce_min",
        /// Product.
        Prod = "reduce_prod",
        /// Sum of absolute values.
        L1 = "reduce_l1",
        /// Square root of the sum of squares.
        L2 = "reduce_l2",
        /// Log of the sum.
        LogSum = "reduce_log_sum",
        /// Log of the sum of exponentials.
        LogSumExp = "reduce_log_sum_exp",
        /// Sum of squares.
        SumSquare = "reduce_sum_square",
    }
);

/// Errors when building an [`Op`] from a name and attributes (text form, importers).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttrError {
    /// No operator has this name.
    #[error("unknown operator `{0}`")]
    UnknownOp(String),
    /// A required attribute is absent.
    #[error("operator `{op}` needs attribute `{attr}`")]
    Missing {
        /// Operator name.
        op: String,
        /// Attribute name.
        attr: &'static str,
    },
    /// An attribute has the wrong kind or an unknown enum value.
    #[error("attribute `{attr}` of `{op}` must be {expected}, got {got}")]
    WrongKind {
        /// Operator name.
        op: String,
        /// Attribute name.
        attr: &'static str,
        /// Kind expected.
        expected: &'static str,
        /// What was given.
        got: String,
    },
    /// An attribute the operator does not have.
    #[error("operator `{op}` has no attribute `{attr}`")]
    Unknown {
        /// Operator name.
        op: String,
        /// Attribute name.
        attr: String,
    },
}

/// Attributes given by name, consumed as an op is built.
pub type AttrList = Vec<(String, Attr)>;

fn take_attr<T: AttrValue>(
    op: &str,
    attrs: &mut AttrList,
    name: &'static str,
    default: Option<T>,
) -> Result<T, AttrError> {
    match attrs.iter().position(|(n, _)| n == name) {
        Some(i) => {
            let (_, a) = attrs.remove(i);
            T::from_attr(&a).ok_or_else(|| AttrError::WrongKind {
                op: op.to_string(),
                attr: name,
                expected: T::KIND,
                got: format!("{a:?}"),
            })
        }
        None => default.ok_or_else(|| AttrError::Missing {
            op: op.to_string(),
            attr: name,
        }),
    }
}

macro_rules! define_ops {
    ($(
        $(#[$m:meta])*
        $v:ident $name:literal { $( $(#[$fm:meta])* $f:ident : $t:ty $(= $def:expr)? ),* $(,)? }
    ),* $(,)?) => {
        /// A graph operator with its attributes.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Op {
            /// An elementwise operator of one operand.
            Unary(UnaryOp),
            /// An elementwise operator of two broadcast operands.
            Binary(BinaryOp),
            /// An elementwise operator of one or more broadcast operands.
            Variadic(VariadicOp),
            /// A reduction; inputs `(data, axes?)`. With no axes, every axis is reduced unless
            /// `noop_with_empty_axes` is set, in which case the op is the identity.
            Reduce {
                /// Which reduction.
                kind: ReduceOp,
                /// Keep reduced axes as size 1.
                keepdims: bool,
                /// With empty axes, pass the input through.
                noop_with_empty_axes: bool,
            },
            $(
                $(#[$m])*
                $v { $( $(#[$fm])* #[doc = concat!("Attribute `", stringify!($f), "`.")] $f: $t ),* },
            )*
        }

        impl Op {
            /// Every operator name the text form accepts.
            pub fn all_names() -> Vec<&'static str> {
                let mut v: Vec<&'static str> = Vec::new();
                v.extend(UnaryOp::ALL.iter().map(|o| o.name()));
                v.extend(BinaryOp::ALL.iter().map(|o| o.name()));
                v.extend(VariadicOp::ALL.iter().map(|o| o.name()));
                v.extend(ReduceOp::ALL.iter().map(|o| o.name()));
                $( v.push($name); )*
                v
            }

            /// The operator's name in the text form (snake_case).
            pub fn name(&self) -> &'static str {
                match self {
                    Op::Unary(u) => u.name(),
                    Op::Binary(b) => b.name(),
                    Op::Variadic(v) => v.name(),
                    Op::Reduce { kind, .. } => kind.name(),
                    $( Op::$v { .. } => $name, )*
                }
            }

            /// Every attribute with its value, in declaration order.
            #[allow(unused_variables)]
            pub fn attributes(&self) -> Vec<(&'static str, Attr)> {
                match self {
                    Op::Unary(_) | Op::Binary(_) | Op::Variadic(_) => Vec::new(),
                    Op::Reduce { keepdims, noop_with_empty_axes, .. } => vec![
                        ("keepdims", keepdims.to_attr()),
                        ("noop_with_empty_axes", noop_with_empty_axes.to_attr()),
                    ],
                    $( Op::$v { $($f),* } => vec![ $( (stringify!($f), AttrValue::to_attr($f)) ),* ], )*
                }
            }

            /// Builds an operator from its name and attributes; absent attributes take their
            /// defaults, unknown ones are an error.
            pub fn from_parts(name: &str, attrs: AttrList) -> Result<Op, AttrError> {
                let mut attrs = attrs;
                let op = if let Some(u) = UnaryOp::ALL.iter().find(|o| o.name() == name) {
                    Op::Unary(*u)
                } else if let Some(b) = BinaryOp::ALL.iter().find(|o| o.name() == name) {
                    Op::Binary(*b)
                } else if let Some(v) = VariadicOp::ALL.iter().find(|o| o.name() == name) {
                    Op::Variadic(*v)
                } else if let Some(r) = ReduceOp::ALL.iter().find(|o| o.name() == name) {
                    Op::Reduce {
                        kind: *r,
                        keepdims: take_attr(name, &mut attrs, "keepdims", Some(true))?,
                        noop_with_empty_axes: take_attr(name, &mut attrs, "noop_with_empty_axes", Some(false))?,
                    }
                } else {
                    match name {
                        $( $name => Op::$v { $( $f: {
                            #[allow(unused_mut, unused_assignments)]
                            let mut d: Option<$t> = None;
                            $( d = Some($def); )?
                            take_attr(name, &mut attrs, stringify!($f), d)?
                        } ),* }, )*
                        _ => return Err(AttrError::UnknownOp(name.to_string())),
                    }
                };
                if let Some((n, _)) = attrs.into_iter().next() {
                    return Err(AttrError::Unknown { op: name.to_string(), attr: n });
                }
                Ok(op)
            }
        }
    };
}

fn zero_f32() -> Tensor {
    Tensor::scalar(0f32)
}

define_ops! {
    /// `alpha * x` for `x < 0`, else `x`.
    LeakyRelu "leaky_relu" { alpha: f32 = 0.01 },
    /// `alpha * (e^x - 1)` for `x < 0`, else `x`.
    Elu "elu" { alpha: f32 = 1.0 },
    /// `gamma * (alpha * (e^x - 1))` for `x <= 0`, else `gamma * x`.
    Selu "selu" { alpha: f32 = 1.673_263_2, gamma: f32 = 1.050_701 },
    /// `max(0, x) + min(0, alpha * (e^(x/alpha) - 1))`.
    Celu "celu" { alpha: f32 = 1.0 },
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid "hard_sigmoid" { alpha: f32 = 0.2, beta: f32 = 0.5 },
    /// `x` for `x > alpha`, else 0.
    ThresholdedRelu "thresholded_relu" { alpha: f32 = 1.0 },
    /// Gaussian error linear unit.
    Gelu "gelu" { approximate: GeluApprox = GeluApprox::None },
    /// `x - bias` for `x > lambd`, `x + bias` for `x < -lambd`, else 0.
    Shrink "shrink" { bias: f32 = 0.0, lambd: f32 = 0.5 },
    /// True where +inf (and/or) -inf.
    IsInf "is_inf" { detect_negative: bool = true, detect_positive: bool = true },
    /// Converts to `to`: floats to ints truncate toward zero (saturating; wrapping for the
    /// sub-byte ints), ints wrap. `saturate` (ONNX opset 19+) applies to float8 results:
    /// out-of-range values and infinities clamp to the largest finite value, or else become
    /// inf/NaN as the format allows.
    Cast "cast" { to: DType, saturate: bool = true },
    /// Inputs `(x, min?, max?)`: `min(max(x, min), max)`.
    Clip "clip" {},
    /// Inputs `(cond, x, y)`: `cond ? x : y`, all broadcast.
    Where "where" {},
    /// NumPy matmul: batched, with 1-D operands promoted and broadcast batch dims.
    MatMul "matmul" {},
    /// Inputs `(A, B, C?)`: `alpha * A' B' + beta * C` on 2-D operands.
    Gemm "gemm" { alpha: f32 = 1.0, beta: f32 = 1.0, trans_a: bool = false, trans_b: bool = false },
    /// Einstein summation over the inputs, e.g. `"bij,bjk->bik"`.
    Einsum "einsum" { equation: String },
    /// Inputs `(X, W, B?)`: N-d convolution, NC... layout.
    Conv "conv" {
        auto_pad: AutoPad = AutoPad::NotSet,
        dilations: Vec<i64> = Vec::new(),
        group: i64 = 1,
        kernel_shape: Vec<i64> = Vec::new(),
        pads: Vec<i64> = Vec::new(),
        strides: Vec<i64> = Vec::new(),
    },
    /// Inputs `(X, W, B?)`: transposed (fractionally strided) convolution.
    ConvTranspose "conv_transpose" {
        auto_pad: AutoPad = AutoPad::NotSet,
        dilations: Vec<i64> = Vec::new(),
        group: i64 = 1,
        kernel_shape: Vec<i64> = Vec::new(),
        output_padding: Vec<i64> = Vec::new(),
        output_shape: Vec<i64> = Vec::new(),
        pads: Vec<i64> = Vec::new(),
        strides: Vec<i64> = Vec::new(),
    },
    /// Max pooling; outputs `(Y, Indices?)`.
    MaxPool "max_pool" {
        auto_pad: AutoPad = AutoPad::NotSet,
        ceil_mode: bool = false,
        dilations: Vec<i64> = Vec::new(),
        kernel_shape: Vec<i64>,
        pads: Vec<i64> = Vec::new(),
        storage_order: i64 = 0,
        strides: Vec<i64> = Vec::new(),
    },
    /// Average pooling.
    AveragePool "average_pool" {
        auto_pad: AutoPad = AutoPad::NotSet,
        ceil_mode: bool = false,
        count_include_pad: bool = false,
        dilations: Vec<i64> = Vec::new(),
        kernel_shape: Vec<i64>,
        pads: Vec<i64> = Vec::new(),
        strides: Vec<i64> = Vec::new(),
    },
    /// Mean over all spatial axes, kept as size 1.
    GlobalAveragePool "global_average_pool" {},
    /// Max over all spatial axes, kept as size 1.
    GlobalMaxPool "global_max_pool" {},
    /// Inputs `(X, scale, B, mean, var)`; outputs `(Y, running_mean?, running_var?)`.
    BatchNormalization "batch_normalization" { epsilon: f32 = 1e-5, momentum: f32 = 0.9, training_mode: bool = false },
    /// Inputs `(X, scale, B)`: normalize each (N, C) over the spatial axes.
    InstanceNormalization "instance_normalization" { epsilon: f32 = 1e-5 },
    /// Inputs `(X, scale, B?)`; outputs `(Y, Mean?, InvStdDev?)`; normalizes over axes `axis..`.
    LayerNormalization "layer_normalization" { axis: i64 = -1, epsilon: f32 = 1e-5, stash_type: i64 = 1 },
    /// Softmax along `axis`.
    Softmax "softmax" { axis: i64 = -1 },
    /// Log of softmax along `axis`.
    LogSoftmax "log_softmax" { axis: i64 = -1 },
    /// One-hot of the first maximum along `axis`.
    Hardmax "hardmax" { axis: i64 = -1 },
    /// Index (i64) of the maximum along `axis`.
    ArgMax "argmax" { axis: i64 = 0, keepdims: bool = true, select_last_index: bool = false },
    /// Index (i64) of the minimum along `axis`.
    ArgMin "argmin" { axis: i64 = 0, keepdims: bool = true, select_last_index: bool = false },
    /// Inputs `(x, axis)`: cumulative sum along a (scalar) axis.
    CumSum "cumsum" { exclusive: bool = false, reverse: bool = false },
    /// Inputs `(X, K)`; outputs `(Values, Indices)` of the K largest (or smallest) along `axis`.
    TopK "top_k" { axis: i64 = -1, largest: bool = true, sorted: bool = true },
    /// Inputs `(data, shape)`: 0 copies the input dim (unless `allowzero`), -1 is inferred.
    Reshape "reshape" { allowzero: bool = false },
    /// Permutes axes (`perm` empty reverses them).
    Transpose "transpose" { perm: Vec<i64> = Vec::new() },
    /// Inputs `(input, shape)`: bidirectional broadcast to `shape`.
    Expand "expand" {},
    /// Inputs `(data, axes?)`: removes size-1 axes (all of them when no axes).
    Squeeze "squeeze" {},
    /// Inputs `(data, axes)`: inserts size-1 axes at positions of the output.
    Unsqueeze "unsqueeze" {},
    /// Reshapes to 2-D at `axis`.
    Flatten "flatten" { axis: i64 = 1 },
    /// Joins the inputs along `axis`.
    Concat "concat" { axis: i64 },
    /// Inputs `(input, split?)`: splits along `axis` into the node's outputs.
    Split "split" { axis: i64 = 0, num_outputs: Option<i64> = None },
    /// Inputs `(data, starts, ends, axes?, steps?)`.
    Slice "slice" {},
    /// Inputs `(data, indices)`: takes entries along `axis` (negative indices count back).
    Gather "gather" { axis: i64 = 0 },
    /// Inputs `(data, indices)`: per-element gather along `axis`.
    GatherElements "gather_elements" { axis: i64 = 0 },
    /// Inputs `(data, indices)`: gathers slices by index tuples.
    GatherND "gather_nd" { batch_dims: i64 = 0 },
    /// Inputs `(data, indices, updates)`: writes updates at index tuples.
    ScatterND "scatter_nd" { reduction: ScatterReduction = ScatterReduction::None },
    /// Inputs `(data, indices, updates)`: per-element scatter along `axis`.
    ScatterElements "scatter_elements" { axis: i64 = 0, reduction: ScatterReduction = ScatterReduction::None },
    /// Inputs `(data, pads, constant_value?, axes?)`.
    Pad "pad" { mode: PadMode = PadMode::Constant },
    /// Inputs `(input, repeats)`.
    Tile "tile" {},
    /// The input's shape as i64, dims `start..end`.
    Shape "shape" { start: i64 = 0, end: Option<i64> = None },
    /// The input's element count as an i64 scalar.
    Size "size" {},
    /// Inputs `(start, limit, delta)` scalars: `start, start + delta, ...` below `limit`.
    Range "range" {},
    /// Input `shape` (1-D i64): a tensor of that shape filled with `value`'s one element.
    ConstantOfShape "constant_of_shape" { value: Tensor = zero_f32() },
    /// Inputs `(input, k?)`: keeps the upper (or lower) triangle of the last two axes.
    Trilu "trilu" { upper: bool = true },
    /// Inputs `(X, roi?, scales?, sizes?)`: resamples by nearest, linear or cubic interpolation.
    Resize "resize" {
        antialias: bool = false,
        axes: Vec<i64> = Vec::new(),
        coordinate_transformation_mode: CoordTransform = CoordTransform::HalfPixel,
        cubic_coeff_a: f32 = -0.75,
        exclude_outside: bool = false,
        extrapolation_value: f32 = 0.0,
        keep_aspect_ratio_policy: KeepAspectRatio = KeepAspectRatio::Stretch,
        mode: ResizeMode = ResizeMode::Nearest,
        nearest_mode: NearestMode = NearestMode::RoundPreferFloor,
    },
    /// Inputs `(data, ratio?, training_mode?)`; outputs `(output, mask?)`. Inference: identity.
    Dropout "dropout" { seed: Option<i64> = None },
    /// Indices (i64, shape `[rank, n]`) of the non-zero elements.
    NonZero "non_zero" {},
    /// A strided view of the input's row-major elements (a primitive, not an ONNX op):
    /// `out[i_0, .., i_k] = data_flat[offset + sum(i_j * strides[j])]`. Strides may be 0
    /// (broadcast) or negative (reversal); every element read must be in range. Sliding windows
    /// (convolution, pooling), diagonals and flips are views of this kind.
    AsStrided "as_strided" { shape: Vec<i64>, strides: Vec<i64>, offset: i64 = 0 },
    /// Inputs `(x, axis)`: the running product of `x` along `axis` (a scalar integer operand);
    /// `exclusive` leaves each element out of its own product, `reverse` runs from the end.
    CumProd "cum_prod" { exclusive: bool = false, reverse: bool = false },
    /// The bits of each element of `x` reinterpreted as dtype `to` of the same byte width.
    BitCast "bit_cast" { to: DType },
    /// The determinant of each square matrix in the last two axes of `X` (`[.., M, M]` → `[..]`).
    Det "det" {},
    /// Inputs `(input, dft_length?, axis?)`: the discrete Fourier transform of `input`
    /// (`[.., 1]` real or `[.., 2]` complex; the last axis holds the real and imaginary parts)
    /// along `axis` (a scalar integer operand, default -2; it may not name the last axis).
    /// `dft_length` pads or truncates the signal; `onesided` keeps `n/2 + 1` frequencies;
    /// `inverse` computes the inverse transform (scaled by `1/n`). Output `[.., 2]`.
    Dft "dft" { inverse: bool = false, onesided: bool = false },
    /// Inputs `(signal [B, L, 1|2], frame_step, window? [W], frame_length?)`: the DFT of each
    /// windowed frame `signal[b, f * frame_step ..][..frame_length]`; output
    /// `[B, frames, bins, 2]` with `frames = 1 + (L - frame_length) / frame_step` and `bins`
    /// `frame_length / 2 + 1` when `onesided`, else `frame_length`.
    Stft "stft" { onesided: bool = true },
    /// Inputs `(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz)`
    /// (scalars): the `[dft_length / 2 + 1, num_mel_bins]` matrix of triangular mel filters, as
    /// `output_datatype`.
    MelWeightMatrix "mel_weight_matrix" { output_datatype: DType = DType::F32 },
    /// Inputs `(X [N, C, D1..Dk], grid [N, H1..Hk, k])`: samples `X` at the normalized
    /// coordinates of `grid` (last axis `(x, y, ..)`, innermost spatial axis first) by `mode`
    /// (`linear`, `nearest` or `cubic`), with `padding_mode` (`zeros`, `border` or
    /// `reflection`) outside; output `[N, C, H1..Hk]`.
    GridSample "grid_sample" {
        align_corners: bool = false,
        mode: String = String::from("linear"),
        padding_mode: String = String::from("zeros"),
    },
    /// Inputs `(boxes [B, n, 4], scores [B, C, n], max_output_boxes_per_class?, iou_threshold?,
    /// score_threshold?)`: greedy non-maximum suppression per batch and class; output
    /// `[selected, 3]` i64 rows `(batch, class, box)`. `center_point_box` 1 reads boxes as
    /// `(x_c, y_c, w, h)`, 0 as two corners `(y1, x1, y2, x2)`.
    NonMaxSuppression "non_max_suppression" { center_point_box: i64 = 0 },
    /// The unique elements (or, with `axis`, the unique slices along `axis`) of `X`, sorted or in
    /// order of first occurrence; outputs `(Y, indices?, inverse_indices?, counts?)`.
    Unique "unique" { axis: Option<i64> = None, sorted: bool = true },
    /// Inputs `(input [N, C * prod(block_shape), L], image_shape, block_shape)`: sums column
    /// blocks back into an image `[N, C, image_shape..]` (the inverse of im2col).
    Col2Im "col2im" {
        dilations: Vec<i64> = Vec::new(),
        pads: Vec<i64> = Vec::new(),
        strides: Vec<i64> = Vec::new(),
    },
    /// Inputs `(X [N, C, H, W], rois [R, 4], batch_indices [R])`: bilinear-sampled average (or
    /// max, `mode` `avg`/`max`) pooling of each region `(x1, y1, x2, y2) * spatial_scale` into
    /// `[R, C, output_height, output_width]`; `half_pixel` shifts coordinates by -0.5
    /// (`output_half_pixel` when false); `sampling_ratio` 0 adapts the samples per bin.
    RoiAlign "roi_align" {
        half_pixel: bool = true,
        mode: String = String::from("avg"),
        output_height: i64 = 1,
        output_width: i64 = 1,
        sampling_ratio: i64 = 0,
        spatial_scale: f32 = 1.0,
    },
    /// Inputs `(X [N, C, D..], W [oC, C / group, k..], offset [N, offset_group * prod(k) * r,
    /// out..], B?, mask? [N, offset_group * prod(k), out..])`: convolution whose kernel taps
    /// sample `X` bilinearly (zeros outside) at their positions moved by `offset`, each tap
    /// scaled by `mask`; output `[N, oC, out..]` (the spatial dims of `offset`).
    DeformConv "deform_conv" {
        dilations: Vec<i64> = Vec::new(),
        group: i64 = 1,
        kernel_shape: Vec<i64> = Vec::new(),
        offset_group: i64 = 1,
        pads: Vec<i64> = Vec::new(),
        strides: Vec<i64> = Vec::new(),
    },
    /// Integer `X` (`[L]` or `[B, L]`) to n-gram statistics `[output_size]` / `[B, output_size]`
    /// (f32): counts of the n-grams of `pool_int64s` (grouped by size from `ngram_counts`, of
    /// sizes `min_gram_length..=max_gram_length`, items up to `max_skip_count` apart), placed at
    /// `ngram_indexes` and weighted by `mode` (`TF`, `IDF` or `TFIDF`) and `weights`.
    TfIdfVectorizer "tf_idf_vectorizer" {
        max_gram_length: i64,
        max_skip_count: i64,
        min_gram_length: i64,
        mode: String,
        ngram_counts: Vec<i64>,
        ngram_indexes: Vec<i64>,
        pool_int64s: Vec<i64>,
        weights: Vec<f32> = Vec::new(),
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names = Op::all_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate operator names");
        for n in names {
            if let Ok(op) = Op::from_parts(n, Vec::new()) {
                assert_eq!(op.name(), n);
                let back = Op::from_parts(
                    n,
                    op.attributes()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
                .unwrap();
                assert_eq!(back, op);
            }
        }
    }

    #[test]
    fn attribute_errors() {
        assert!(matches!(
            Op::from_parts("cast", vec![]),
            Err(AttrError::Missing { .. })
        ));
        assert!(matches!(
            Op::from_parts("nope", vec![]),
            Err(AttrError::UnknownOp(_))
        ));
        assert!(matches!(
            Op::from_parts("relu", vec![("alpha".into(), Attr::Float(1.0))]),
            Err(AttrError::Unknown { .. })
        ));
        assert!(matches!(
            Op::from_parts("softmax", vec![("axis".into(), Attr::Str("x".into()))]),
            Err(AttrError::WrongKind { .. })
        ));
        let op =
            Op::from_parts("pad", vec![("mode".into(), Attr::Ident("reflect".into()))]).unwrap();
        assert_eq!(
            op,
            Op::Pad {
                mode: PadMode::Reflect
            }
        );
    }
}
