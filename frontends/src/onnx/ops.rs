//! Operator mapping: one ONNX node (op_type, attributes, opset version) to Tessera IR nodes,
//! including the opset-dependent forms (attributes that became inputs, old Softmax's 2-D
//! coercion, Resize-10/Upsample) and small compositions for ops without an IR variant.

use super::compose;
use super::error::OnnxError;
use super::import::{MIN_OPSET, NodeCtx};
use super::tensor::dtype_of;
use half::{bf16, f16};
use tessera_ir::attr::{
    AutoPad, CoordTransform, GeluApprox, KeepAspectRatio, NearestMode, PadMode, ResizeMode,
    ScatterReduction,
};
use tessera_ir::{BinaryOp, DType, Op, ReduceOp, Tensor, UnaryOp, ValueId, VariadicOp};

type Outs = Result<Vec<ValueId>, OnnxError>;

/// The unary IR op of an attribute-free elementwise ONNX op.
fn unary_op(op_type: &str) -> Option<UnaryOp> {
    use UnaryOp::*;
    Some(match op_type {
        "Identity" => Identity,
        "Neg" => Neg,
        "Abs" => Abs,
        "Sign" => Sign,
        "Sqrt" => Sqrt,
        "Reciprocal" => Reciprocal,
        "Exp" => Exp,
        "Log" => Log,
        "Sin" => Sin,
        "Cos" => Cos,
        "Tan" => Tan,
        "Asin" => Asin,
        "Acos" => Acos,
        "Atan" => Atan,
        "Sinh" => Sinh,
        "Cosh" => Cosh,
        "Tanh" => Tanh,
        "Asinh" => Asinh,
        "Acosh" => Acosh,
        "Atanh" => Atanh,
        "Erf" => Erf,
        "Sigmoid" => Sigmoid,
        "Relu" => Relu,
        "Softplus" => Softplus,
        "Softsign" => Softsign,
        "HardSwish" => HardSwish,
        "Mish" => Mish,
        "Floor" => Floor,
        "Ceil" => Ceil,
        "Round" => Round,
        "Not" => Not,
        "IsNaN" => IsNaN,
        "BitwiseNot" => BitwiseNot,
        _ => return None,
    })
}

/// The binary IR op of an attribute-free broadcasting ONNX op.
fn binary_op(op_type: &str) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match op_type {
        "Add" => Add,
        "Sub" => Sub,
        "Mul" => Mul,
        "Div" => Div,
        "Pow" => Pow,
        "BitwiseAnd" => BitwiseAnd,
        "BitwiseOr" => BitwiseOr,
        "BitwiseXor" => BitwiseXor,
        "And" => And,
        "Or" => Or,
        "Xor" => Xor,
        "Equal" => Equal,
        "Less" => Less,
        "LessOrEqual" => LessOrEqual,
        "Greater" => Greater,
        "GreaterOrEqual" => GreaterOrEqual,
        "PRelu" => PRelu,
        _ => return None,
    })
}

/// The reduction of a `Reduce*` op.
fn reduce_op(op_type: &str) -> Option<ReduceOp> {
    use ReduceOp::*;
    Some(match op_type {
        "ReduceSum" => Sum,
        "ReduceMean" => Mean,
        "ReduceMax" => Max,
        "ReduceMin" => Min,
        "ReduceProd" => Prod,
        "ReduceL1" => L1,
        "ReduceL2" => L2,
        "ReduceLogSum" => LogSum,
        "ReduceLogSumExp" => LogSumExp,
        "ReduceSumSquare" => SumSquare,
        _ => return None,
    })
}

/// Maps one ONNX node in the default domain; returns the values of its used outputs.
pub(crate) fn map_node(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.num_outputs == 0 {
        // Nothing reads the node: it has no effect.
        return Ok(Vec::new());
    }
    let op_type = ctx.op_type;
    if ctx.opset < MIN_OPSET && unchanged_since(op_type).is_none_or(|v| v > ctx.opset) {
        return Err(unsupported(ctx));
    }
    if let Some(u) = unary_op(op_type) {
        return unary_with(ctx, Op::Unary(u));
    }
    if let Some(b) = binary_op(op_type) {
        at_most(ctx, 2)?;
        let (a, b2) = (ctx.required(0)?, ctx.required(1)?);
        return emit1(ctx, Op::Binary(b), vec![Some(a), Some(b2)]);
    }
    if let Some(r) = reduce_op(op_type) {
        return reduce(ctx, r);
    }
    let a = ctx.attrs;
    match op_type {
        "Sum" => variadic(ctx, VariadicOp::Sum),
        "Min" => variadic(ctx, VariadicOp::Min),
        "Max" => variadic(ctx, VariadicOp::Max),
        "Mean" => variadic(ctx, VariadicOp::Mean),
        "Mod" => {
            let kind = if a.bool_or("fmod", false)? {
                BinaryOp::FMod
            } else {
                BinaryOp::Mod
            };
            let (x, y) = (ctx.required(0)?, ctx.required(1)?);
            emit1(ctx, Op::Binary(kind), vec![Some(x), Some(y)])
        }
        "BitShift" => {
            let dir = a
                .string("direction")?
                .ok_or_else(|| a.err("direction", "required"))?;
            let kind = match dir.as_str() {
                "LEFT" => BinaryOp::BitShiftLeft,
                "RIGHT" => BinaryOp::BitShiftRight,
                _ => return Err(a.err("direction", format!("expected LEFT or RIGHT, got {dir}"))),
            };
            let (x, y) = (ctx.required(0)?, ctx.required(1)?);
            emit1(ctx, Op::Binary(kind), vec![Some(x), Some(y)])
        }
        "LeakyRelu" => unary_with(
            ctx,
            Op::LeakyRelu {
                alpha: a.float_or("alpha", 0.01)?,
            },
        ),
        "Elu" => unary_with(
            ctx,
            Op::Elu {
                alpha: a.float_or("alpha", 1.0)?,
            },
        ),
        "Selu" => unary_with(
            ctx,
            Op::Selu {
                alpha: a.float_or("alpha", 1.673_263_2)?,
                gamma: a.float_or("gamma", 1.050_701)?,
            },
        ),
        "Celu" => unary_with(
            ctx,
            Op::Celu {
                alpha: a.float_or("alpha", 1.0)?,
            },
        ),
        "HardSigmoid" => unary_with(
            ctx,
            Op::HardSigmoid {
                alpha: a.float_or("alpha", 0.2)?,
                beta: a.float_or("beta", 0.5)?,
            },
        ),
        "ThresholdedRelu" => unary_with(
            ctx,
            Op::ThresholdedRelu {
                alpha: a.float_or("alpha", 1.0)?,
            },
        ),
        "Gelu" => {
            let approximate = enum_attr(ctx, "approximate", GeluApprox::None, GeluApprox::parse)?;
            unary_with(ctx, Op::Gelu { approximate })
        }
        "Shrink" => unary_with(
            ctx,
            Op::Shrink {
                bias: a.float_or("bias", 0.0)?,
                lambd: a.float_or("lambd", 0.5)?,
            },
        ),
        "IsInf" => unary_with(
            ctx,
            Op::IsInf {
                detect_negative: a.bool_or("detect_negative", true)?,
                detect_positive: a.bool_or("detect_positive", true)?,
            },
        ),
        "Swish" => swish(ctx),
        "Cast" => {
            let code = a.int("to")?.ok_or_else(|| a.err("to", "required"))?;
            let to = dtype_of(
                i32::try_from(code).unwrap_or(-1),
                &format!("{}: Cast `to`", ctx.label),
            )?;
            let saturate = cast_saturate(ctx, to)?;
            unary_with(ctx, Op::Cast { to, saturate })
        }
        "CastLike" => {
            let x = ctx.required(0)?;
            let to = ctx.ty(ctx.required(1)?).dtype;
            let saturate = cast_saturate(ctx, to)?;
            emit1(ctx, Op::Cast { to, saturate }, vec![Some(x)])
        }
        "Clip" => clip(ctx),
        "Where" => pass_through(ctx, Op::Where {}, 3),
        "MatMul" => pass_through(ctx, Op::MatMul {}, 2),
        "Gemm" => {
            let op = Op::Gemm {
                alpha: a.float_or("alpha", 1.0)?,
                beta: a.float_or("beta", 1.0)?,
                trans_a: a.bool_or("transA", false)?,
                trans_b: a.bool_or("transB", false)?,
            };
            pass_through(ctx, op, 2)
        }
        "Einsum" => {
            let equation = a
                .string("equation")?
                .ok_or_else(|| a.err("equation", "required"))?;
            pass_through(ctx, Op::Einsum { equation }, 1)
        }
        "Conv" => {
            let op = conv_op(ctx)?;
            pass_through(ctx, op, 2)
        }
        "ConvTranspose" => {
            let op = Op::ConvTranspose {
                auto_pad: auto_pad(ctx)?,
                dilations: a.ints_or_empty("dilations")?,
                group: a.int_or("group", 1)?,
                kernel_shape: a.ints_or_empty("kernel_shape")?,
                output_padding: a.ints_or_empty("output_padding")?,
                output_shape: a.ints_or_empty("output_shape")?,
                pads: a.ints_or_empty("pads")?,
                strides: a.ints_or_empty("strides")?,
            };
            pass_through(ctx, op, 2)
        }
        "MaxPool" => {
            let op = Op::MaxPool {
                auto_pad: auto_pad(ctx)?,
                ceil_mode: a.bool_or("ceil_mode", false)?,
                dilations: a.ints_or_empty("dilations")?,
                kernel_shape: required_ints(ctx, "kernel_shape")?,
                pads: a.ints_or_empty("pads")?,
                storage_order: a.int_or("storage_order", 0)?,
                strides: a.ints_or_empty("strides")?,
            };
            let x = ctx.required(0)?;
            let n = ctx.num_outputs;
            ctx.emit(op, vec![Some(x)], n)
        }
        "AveragePool" => {
            let op = Op::AveragePool {
                auto_pad: auto_pad(ctx)?,
                ceil_mode: a.bool_or("ceil_mode", false)?,
                count_include_pad: a.bool_or("count_include_pad", false)?,
                dilations: a.ints_or_empty("dilations")?,
                kernel_shape: required_ints(ctx, "kernel_shape")?,
                pads: a.ints_or_empty("pads")?,
                strides: a.ints_or_empty("strides")?,
            };
            unary_with(ctx, op)
        }
        "GlobalAveragePool" => unary_with(ctx, Op::GlobalAveragePool {}),
        "GlobalMaxPool" => unary_with(ctx, Op::GlobalMaxPool {}),
        "BatchNormalization" => batch_norm(ctx),
        "InstanceNormalization" => pass_through(
            ctx,
            Op::InstanceNormalization {
                epsilon: a.float_or("epsilon", 1e-5)?,
            },
            3,
        ),
        "LayerNormalization" => {
            let op = Op::LayerNormalization {
                axis: a.int_or("axis", -1)?,
                epsilon: a.float_or("epsilon", 1e-5)?,
                stash_type: a.int_or("stash_type", 1)?,
            };
            let inputs = operands(ctx, 2)?;
            let n = ctx.num_outputs;
            ctx.emit(op, inputs, n)
        }
        "Softmax" => softmax_like(ctx, |axis| Op::Softmax { axis }),
        "LogSoftmax" => softmax_like(ctx, |axis| Op::LogSoftmax { axis }),
        "Hardmax" => softmax_like(ctx, |axis| Op::Hardmax { axis }),
        "ArgMax" => unary_with(
            ctx,
            Op::ArgMax {
                axis: a.int_or("axis", 0)?,
                keepdims: a.bool_or("keepdims", true)?,
                select_last_index: a.bool_or("select_last_index", false)?,
            },
        ),
        "ArgMin" => unary_with(
            ctx,
            Op::ArgMin {
                axis: a.int_or("axis", 0)?,
                keepdims: a.bool_or("keepdims", true)?,
                select_last_index: a.bool_or("select_last_index", false)?,
            },
        ),
        "CumSum" => pass_through(
            ctx,
            Op::CumSum {
                exclusive: a.bool_or("exclusive", false)?,
                reverse: a.bool_or("reverse", false)?,
            },
            2,
        ),
        "TopK" => top_k(ctx),
        "Reshape" => pass_through(
            ctx,
            Op::Reshape {
                allowzero: a.bool_or("allowzero", false)?,
            },
            2,
        ),
        "Transpose" => unary_with(
            ctx,
            Op::Transpose {
                perm: a.ints_or_empty("perm")?,
            },
        ),
        "Expand" => pass_through(ctx, Op::Expand {}, 2),
        "Squeeze" => axes_attr_or_input(ctx, Op::Squeeze {}, 13, false),
        "Unsqueeze" => axes_attr_or_input(ctx, Op::Unsqueeze {}, 13, true),
        "Flatten" => unary_with(
            ctx,
            Op::Flatten {
                axis: a.int_or("axis", 1)?,
            },
        ),
        "Concat" => {
            let axis = a.int("axis")?.ok_or_else(|| a.err("axis", "required"))?;
            let inputs = operands(ctx, 1)?;
            emit1(ctx, Op::Concat { axis }, inputs)
        }
        "Split" => split(ctx),
        "Slice" => slice(ctx),
        "Gather" => pass_through(
            ctx,
            Op::Gather {
                axis: a.int_or("axis", 0)?,
            },
            2,
        ),
        "GatherElements" => pass_through(
            ctx,
            Op::GatherElements {
                axis: a.int_or("axis", 0)?,
            },
            2,
        ),
        "GatherND" => pass_through(
            ctx,
            Op::GatherND {
                batch_dims: a.int_or("batch_dims", 0)?,
            },
            2,
        ),
        "ScatterND" => {
            let reduction = scatter_reduction(ctx)?;
            pass_through(ctx, Op::ScatterND { reduction }, 3)
        }
        "ScatterElements" | "Scatter" => {
            let op = Op::ScatterElements {
                axis: a.int_or("axis", 0)?,
                reduction: scatter_reduction(ctx)?,
            };
            pass_through(ctx, op, 3)
        }
        "Pad" => pad(ctx),
        "Tile" => pass_through(ctx, Op::Tile {}, 2),
        "Shape" => {
            let (start, end) = if ctx.opset >= 15 {
                (a.int_or("start", 0)?, a.int("end")?)
            } else {
                (0, None)
            };
            unary_with(ctx, Op::Shape { start, end })
        }
        "Size" => unary_with(ctx, Op::Size {}),
        "Range" => pass_through(ctx, Op::Range {}, 3),
        "ConstantOfShape" => {
            let value = match a.tensor("value", ctx.model_dir())? {
                Some(t) => t,
                None => Tensor::scalar(0f32),
            };
            unary_with(ctx, Op::ConstantOfShape { value })
        }
        "Trilu" => pass_through(
            ctx,
            Op::Trilu {
                upper: a.bool_or("upper", true)?,
            },
            1,
        ),
        "Resize" => resize(ctx),
        "Upsample" => upsample(ctx),
        "Dropout" => dropout(ctx),
        "NonZero" => unary_with(ctx, Op::NonZero {}),
        "Constant" => constant(ctx),
        "RMSNormalization" => compose::rms_normalization(ctx),
        "LpNormalization" => compose::lp_normalization(ctx),
        "MeanVarianceNormalization" => compose::mean_variance_normalization(ctx),
        "GroupNormalization" => compose::group_normalization(ctx),
        "DepthToSpace" => compose::depth_to_space(ctx),
        "SpaceToDepth" => compose::space_to_depth(ctx),
        "EyeLike" => compose::eye_like(ctx),
        "LpPool" => compose::lp_pool(ctx),
        "GlobalLpPool" => compose::global_lp_pool(ctx),
        "OneHot" => compose::one_hot(ctx),
        "Attention" => compose::attention(ctx),
        "RotaryEmbedding" => compose::rotary_embedding(ctx),
        "LRN" => compose::lrn(ctx),
        "Compress" => compose::compress(ctx),
        "CenterCropPad" => compose::center_crop_pad(ctx),
        "QuantizeLinear" => compose::quantize_linear(ctx),
        "MatMulInteger" => compose::matmul_integer(ctx),
        "QLinearMatMul" => compose::qlinear_matmul(ctx),
        "ConvInteger" => compose::conv_integer(ctx),
        "QLinearConv" => compose::qlinear_conv(ctx),
        "DequantizeLinear" => compose::dequantize_linear(ctx),
        "NegativeLogLikelihoodLoss" => compose::negative_log_likelihood_loss(ctx),
        "SoftmaxCrossEntropyLoss" => compose::softmax_cross_entropy_loss(ctx),
        "RNN" | "GRU" | "LSTM" => super::compose_rnn::recurrent(ctx),
        "LinearAttention" => super::compose_attention::linear_attention(ctx),
        "CausalConvWithState" => super::compose_attention::causal_conv_with_state(ctx),
        "DynamicQuantizeLinear" => super::compose_training::dynamic_quantize_linear(ctx),
        "Scan" => super::compose_scan::scan(ctx),
        _ => super::compose_vision::map(ctx).unwrap_or_else(|| Err(unsupported(ctx))),
    }
}

/// The `UnsupportedOp` error for this node.
fn unsupported(ctx: &NodeCtx<'_, '_>) -> OnnxError {
    OnnxError::UnsupportedOp {
        node: ctx.label.to_string(),
        op_type: ctx.op_type.to_string(),
        domain: String::new(),
        opset: ctx.opset,
    }
}

/// For opsets before [`MIN_OPSET`]: the opset from which an operator means what it means at
/// `MIN_OPSET` (its schema did not change in between). `None` for operators that changed.
fn unchanged_since(op_type: &str) -> Option<i64> {
    Some(match op_type {
        "ArgMax" | "ArgMin" | "Constant" | "DepthToSpace" | "Flatten" | "Gather"
        | "GlobalAveragePool" | "GlobalMaxPool" | "Hardmax" | "Identity" | "LogSoftmax"
        | "MatMul" | "Not" | "ReduceL1" | "ReduceL2" | "ReduceLogSum" | "ReduceLogSumExp"
        | "ReduceMax" | "ReduceMean" | "ReduceMin" | "ReduceProd" | "ReduceSum"
        | "ReduceSumSquare" | "Shape" | "Size" | "Slice" | "Softmax" | "Softplus" | "Softsign"
        | "SpaceToDepth" | "Squeeze" | "Transpose" | "Unsqueeze" => 1,
        "Split" | "Pad" => 2,
        "Concat" => 4,
        "Reshape" => 5,
        "Abs"
        | "Ceil"
        | "Exp"
        | "Floor"
        | "Log"
        | "Neg"
        | "Reciprocal"
        | "Relu"
        | "Sigmoid"
        | "Sqrt"
        | "Tanh"
        | "Cast"
        | "Clip"
        | "Elu"
        | "HardSigmoid"
        | "LeakyRelu"
        | "Selu"
        | "InstanceNormalization"
        | "Tile"
        | "Max"
        | "Min"
        | "Mean"
        | "Sum" => 6,
        _ => return None,
    })
}

/// The Conv op of this node's attributes (also used by the quantized convolutions).
pub(crate) fn conv_op(ctx: &NodeCtx<'_, '_>) -> Result<Op, OnnxError> {
    let a = ctx.attrs;
    Ok(Op::Conv {
        auto_pad: auto_pad(ctx)?,
        dilations: a.ints_or_empty("dilations")?,
        group: a.int_or("group", 1)?,
        kernel_shape: a.ints_or_empty("kernel_shape")?,
        pads: a.ints_or_empty("pads")?,
        strides: a.ints_or_empty("strides")?,
    })
}

/// Emits a single-output op, refusing nodes that name more outputs.
pub(crate) fn emit1(ctx: &mut NodeCtx<'_, '_>, op: Op, inputs: Vec<Option<ValueId>>) -> Outs {
    if ctx.num_outputs > 1 {
        return Err(ctx.attrs.err(
            "outputs",
            format!(
                "the operator has 1 output, the node names {}",
                ctx.num_outputs
            ),
        ));
    }
    ctx.emit(op, inputs, 1)
}

/// The node's operands with trailing absent ones dropped; the first `required` must be present.
fn operands(ctx: &NodeCtx<'_, '_>, required: usize) -> Result<Vec<Option<ValueId>>, OnnxError> {
    for i in 0..required {
        ctx.required(i)?;
    }
    Ok(trim(ctx.inputs.clone()))
}

/// Drops trailing absent operands.
fn trim(mut inputs: Vec<Option<ValueId>>) -> Vec<Option<ValueId>> {
    while inputs.last() == Some(&None) {
        inputs.pop();
    }
    inputs
}

/// Refuses nodes with more than `max` operands.
fn at_most(ctx: &NodeCtx<'_, '_>, max: usize) -> Result<(), OnnxError> {
    if ctx.inputs.len() > max {
        return Err(ctx.attrs.err(
            "inputs",
            format!(
                "the operator takes {max} operand(s), the node has {}",
                ctx.inputs.len()
            ),
        ));
    }
    Ok(())
}

/// An op of one operand plus attributes.
fn unary_with(ctx: &mut NodeCtx<'_, '_>, op: Op) -> Outs {
    at_most(ctx, 1)?;
    let x = ctx.required(0)?;
    emit1(ctx, op, vec![Some(x)])
}

/// An op whose ONNX operands are its IR operands, the first `required` mandatory.
fn pass_through(ctx: &mut NodeCtx<'_, '_>, op: Op, required: usize) -> Outs {
    let inputs = operands(ctx, required)?;
    emit1(ctx, op, inputs)
}

/// An ints attribute the operator requires.
fn required_ints(ctx: &NodeCtx<'_, '_>, name: &str) -> Result<Vec<i64>, OnnxError> {
    ctx.attrs
        .ints(name)?
        .ok_or_else(|| ctx.attrs.err(name, "required"))
}

/// An enum-valued string attribute.
fn enum_attr<T>(
    ctx: &NodeCtx<'_, '_>,
    name: &str,
    default: T,
    parse: fn(&str) -> Option<T>,
) -> Result<T, OnnxError> {
    match ctx.attrs.string(name)? {
        None => Ok(default),
        Some(s) => parse(&s).ok_or_else(|| ctx.attrs.err(name, format!("unsupported value `{s}`"))),
    }
}

pub(crate) fn auto_pad(ctx: &NodeCtx<'_, '_>) -> Result<AutoPad, OnnxError> {
    enum_attr(ctx, "auto_pad", AutoPad::NotSet, AutoPad::parse)
}

/// Cast/CastLike's `saturate` (opset 19+, default true). `round_mode` (opset 25+) matters
/// only for float8 E8M0 results, where the IR implements the default `up`.
fn cast_saturate(ctx: &NodeCtx<'_, '_>, to: DType) -> Result<bool, OnnxError> {
    let a = ctx.attrs;
    let round_mode = a.string_or("round_mode", "up")?;
    if !matches!(round_mode.as_str(), "up" | "down" | "nearest") {
        return Err(a.err(
            "round_mode",
            format!("`{round_mode}` is not up, down or nearest"),
        ));
    }
    if to == DType::F8E8M0 && round_mode != "up" {
        return Err(a.err(
            "round_mode",
            format!("only `up` rounding to f8e8m0 is supported, got `{round_mode}`"),
        ));
    }
    a.bool_or("saturate", true)
}

fn scatter_reduction(ctx: &NodeCtx<'_, '_>) -> Result<ScatterReduction, OnnxError> {
    enum_attr(
        ctx,
        "reduction",
        ScatterReduction::None,
        ScatterReduction::parse,
    )
}

/// A rank-0 tensor of `dtype` holding `v` (converted as `as` casts do).
pub(crate) fn scalar_tensor(dtype: DType, v: f64) -> Tensor {
    match dtype {
        DType::Bool => Tensor::scalar(v != 0.0),
        DType::I8 => Tensor::scalar(v as i8),
        DType::U8 => Tensor::scalar(v as u8),
        DType::I16 => Tensor::scalar(v as i16),
        DType::U16 => Tensor::scalar(v as u16),
        DType::I32 => Tensor::scalar(v as i32),
        DType::U32 => Tensor::scalar(v as u32),
        DType::I64 => Tensor::scalar(v as i64),
        DType::U64 => Tensor::scalar(v as u64),
        DType::F16 => Tensor::scalar(f16::from_f64(v)),
        DType::BF16 => Tensor::scalar(bf16::from_f64(v)),
        DType::F32 => Tensor::scalar(v as f32),
        DType::F64 => Tensor::scalar(v),
        // One byte per element: float formats encode (saturating), sub-byte ints keep their
        // low bits (`from_bytes` sign-extends them), like a wrapping cast.
        d if d.is_float() => low_precision_scalar(d, tessera_ir::dtype::lowbit::encode(v, d, true)),
        d => low_precision_scalar(d, v as i64 as u8),
    }
}

/// A rank-0 low-precision tensor from its one stored byte.
fn low_precision_scalar(dtype: DType, byte: u8) -> Tensor {
    Tensor::from_bytes(dtype, &[], vec![byte]).unwrap_or_else(|_| Tensor::scalar(0u8))
}

/// Sum/Min/Max/Mean; one operand is the identity.
fn variadic(ctx: &mut NodeCtx<'_, '_>, kind: VariadicOp) -> Outs {
    let inputs = operands(ctx, 1)?;
    if inputs.iter().any(Option::is_none) {
        return Err(ctx
            .attrs
            .err("inputs", "variadic operands cannot be absent"));
    }
    let op = if inputs.len() == 1 {
        Op::Unary(UnaryOp::Identity)
    } else {
        Op::Variadic(kind)
    };
    emit1(ctx, op, inputs)
}

/// `Reduce*`: axes are an attribute before opset 18 (ReduceSum: 13), an input after.
fn reduce(ctx: &mut NodeCtx<'_, '_>, kind: ReduceOp) -> Outs {
    let x = ctx.required(0)?;
    let keepdims = ctx.attrs.bool_or("keepdims", true)?;
    let axes_are_input = ctx.opset >= if kind == ReduceOp::Sum { 13 } else { 18 };
    let (axes, noop_with_empty_axes) = if axes_are_input {
        (
            ctx.input(1),
            ctx.attrs.bool_or("noop_with_empty_axes", false)?,
        )
    } else {
        let axes = match ctx.attrs.ints("axes")? {
            Some(list) => Some(ctx.const_i64(&list)?),
            None => None,
        };
        (axes, false)
    };
    let op = Op::Reduce {
        kind,
        keepdims,
        noop_with_empty_axes,
    };
    emit1(ctx, op, trim(vec![Some(x), axes]))
}

/// Squeeze/Unsqueeze: `axes` is an attribute before `since`, an input from then on.
fn axes_attr_or_input(ctx: &mut NodeCtx<'_, '_>, op: Op, since: i64, required: bool) -> Outs {
    let x = ctx.required(0)?;
    let axes = if ctx.opset >= since {
        ctx.input(1)
    } else {
        match ctx.attrs.ints("axes")? {
            Some(list) => Some(ctx.const_i64(&list)?),
            None => None,
        }
    };
    if required && axes.is_none() {
        return Err(ctx.attrs.err("axes", "required"));
    }
    emit1(ctx, op, trim(vec![Some(x), axes]))
}

/// Clip: `min`/`max` attributes before opset 11, optional inputs from then on.
fn clip(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let inputs = if ctx.opset >= 11 {
        trim(ctx.inputs.clone())
    } else {
        let dtype = ctx.ty(x).dtype;
        let mut bound = |name: &str| -> Result<Option<ValueId>, OnnxError> {
            Ok(ctx
                .attrs
                .float(name)?
                .map(|v| ctx.constant(scalar_tensor(dtype, v as f64))))
        };
        let (lo, hi) = (bound("min")?, bound("max")?);
        trim(vec![Some(x), lo, hi])
    };
    emit1(ctx, Op::Clip {}, inputs)
}

/// Swish (opset 24): `x * sigmoid(alpha * x)`.
fn swish(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let alpha = ctx.attrs.float_or("alpha", 1.0)?;
    let scaled = if alpha == 1.0 {
        x
    } else {
        let a = ctx.constant(scalar_tensor(ctx.ty(x).dtype, alpha as f64));
        ctx.emit_aux(Op::Binary(BinaryOp::Mul), vec![Some(x), Some(a)], "scale")?
    };
    let s = ctx.emit_aux(Op::Unary(UnaryOp::Sigmoid), vec![Some(scaled)], "sigmoid")?;
    emit1(ctx, Op::Binary(BinaryOp::Mul), vec![Some(x), Some(s)])
}

/// Softmax/LogSoftmax/Hardmax. Before opset 13 the input is coerced to 2-D at `axis`
/// (default 1): Flatten, the op on axis 1, then Reshape back to the input's shape.
fn softmax_like(ctx: &mut NodeCtx<'_, '_>, make: fn(i64) -> Op) -> Outs {
    let x = ctx.required(0)?;
    if ctx.opset >= 13 {
        let axis = ctx.attrs.int_or("axis", -1)?;
        return emit1(ctx, make(axis), vec![Some(x)]);
    }
    let axis = ctx.attrs.int_or("axis", 1)?;
    let shape = ctx.ty(x).shape.clone();
    let rank = shape.rank() as i64;
    let a = if axis < 0 { axis + rank } else { axis };
    if !(0..=rank).contains(&a) {
        return Err(ctx
            .attrs
            .err("axis", format!("{axis} is out of range for rank {rank}")));
    }
    if a == rank - 1 {
        // Flattening at the last axis changes nothing: the op runs on that axis.
        return emit1(ctx, make(-1), vec![Some(x)]);
    }
    let flat = ctx.emit_aux(Op::Flatten { axis: a }, vec![Some(x)], "flatten")?;
    let y = ctx.emit_aux(make(1), vec![Some(flat)], "2d")?;
    let target = match shape.as_static() {
        Some(dims) => {
            let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            ctx.const_i64(&dims)?
        }
        None => ctx.emit_aux(
            Op::Shape {
                start: 0,
                end: None,
            },
            vec![Some(x)],
            "shape",
        )?,
    };
    emit1(
        ctx,
        Op::Reshape { allowzero: true },
        vec![Some(y), Some(target)],
    )
}

/// TopK: `k` is an attribute before opset 10, an input from then on.
fn top_k(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let a = ctx.attrs;
    let x = ctx.required(0)?;
    let k = if ctx.opset >= 10 {
        ctx.required(1)?
    } else {
        let k = a.int("k")?.ok_or_else(|| a.err("k", "required"))?;
        ctx.const_i64(&[k])?
    };
    let op = Op::TopK {
        axis: a.int_or("axis", -1)?,
        largest: a.bool_or("largest", true)?,
        sorted: a.bool_or("sorted", true)?,
    };
    let n = ctx.num_outputs;
    ctx.emit(op, vec![Some(x), Some(k)], n)
}

/// Split: `split` is an attribute before opset 13, an input from then on; opset 18 adds
/// `num_outputs`.
fn split(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let a = ctx.attrs;
    let x = ctx.required(0)?;
    let sizes = if ctx.opset >= 13 {
        ctx.input(1)
    } else {
        match a.ints("split")? {
            Some(list) => Some(ctx.const_i64(&list)?),
            None => None,
        }
    };
    let num_outputs = if ctx.opset >= 18 {
        a.int("num_outputs")?
    } else {
        None
    };
    let op = Op::Split {
        axis: a.int_or("axis", 0)?,
        num_outputs,
    };
    // The number of parts is the number of listed outputs, used or not.
    let n = ctx.declared_outputs;
    ctx.emit(op, trim(vec![Some(x), sizes]), n)
}

/// Slice: `starts`/`ends`/`axes` are attributes before opset 10, inputs from then on.
fn slice(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.opset >= 10 {
        return pass_through(ctx, Op::Slice {}, 3);
    }
    let x = ctx.required(0)?;
    let starts = required_ints(ctx, "starts")?;
    let ends = required_ints(ctx, "ends")?;
    let starts = ctx.const_i64(&starts)?;
    let ends = ctx.const_i64(&ends)?;
    let axes = match ctx.attrs.ints("axes")? {
        Some(list) => Some(ctx.const_i64(&list)?),
        None => None,
    };
    emit1(
        ctx,
        Op::Slice {},
        trim(vec![Some(x), Some(starts), Some(ends), axes]),
    )
}

/// Pad: `pads`/`value` are attributes before opset 11, inputs from then on.
fn pad(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let mode = enum_attr(ctx, "mode", PadMode::Constant, PadMode::parse)?;
    let x = ctx.required(0)?;
    let inputs = if ctx.opset >= 11 {
        operands(ctx, 2)?
    } else {
        let pads = required_ints(ctx, "pads")?;
        let pads = ctx.const_i64(&pads)?;
        let value = ctx.attrs.float_or("value", 0.0)?;
        let value = ctx.constant(scalar_tensor(ctx.ty(x).dtype, value as f64));
        vec![Some(x), Some(pads), Some(value)]
    };
    emit1(ctx, Op::Pad { mode }, inputs)
}

/// BatchNormalization. Opset 7-8's `spatial = 0` (per-activation) is not supported; before
/// opset 14, naming the running mean/var outputs means training mode.
fn batch_norm(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let a = ctx.attrs;
    if ctx.opset < 9 && !a.bool_or("spatial", true)? {
        return Err(a.err(
            "spatial",
            "per-activation normalization (spatial = 0) is not supported",
        ));
    }
    let n = ctx.num_outputs;
    let training_mode = if ctx.opset >= 14 {
        a.bool_or("training_mode", false)?
    } else if n > 3 {
        return Err(a.err(
            "outputs",
            "the saved_mean/saved_var training outputs are not supported",
        ));
    } else {
        n > 1
    };
    let op = Op::BatchNormalization {
        epsilon: a.float_or("epsilon", 1e-5)?,
        momentum: a.float_or("momentum", 0.9)?,
        training_mode,
    };
    let inputs = operands(ctx, 5)?;
    ctx.emit(op, inputs, n)
}

/// Dropout: before opset 12 the ratio is an attribute (irrelevant at inference) and before
/// opset 10 the mask has the data's dtype.
fn dropout(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let n = ctx.num_outputs;
    if ctx.opset >= 12 {
        let seed = ctx.attrs.int("seed")?;
        let inputs = trim(ctx.inputs.clone());
        return ctx.emit(Op::Dropout { seed }, inputs, n);
    }
    if n < 2 || ctx.opset >= 10 {
        return ctx.emit(Op::Dropout { seed: None }, vec![Some(x)], n);
    }
    // Opsets 7-9 give the mask the data's dtype: cast the boolean mask.
    let dtype = ctx.ty(x).dtype;
    let outs = ctx.emit(Op::Dropout { seed: None }, vec![Some(x)], 2)?;
    let (Some(&y), Some(&mask)) = (outs.first(), outs.get(1)) else {
        return Err(ctx
            .attrs
            .err("outputs", "Dropout yields fewer than 2 outputs"));
    };
    let cast = ctx.emit_aux(
        Op::Cast {
            to: dtype,
            saturate: true,
        },
        vec![Some(mask)],
        "mask",
    )?;
    Ok(vec![y, cast])
}

/// Resize (opset 10: `scales` only, asymmetric; 11+: roi/scales/sizes; 18+: antialias, axes,
/// keep_aspect_ratio_policy).
fn resize(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let mode = enum_attr(ctx, "mode", ResizeMode::Nearest, ResizeMode::parse)?;
    if ctx.opset < 11 {
        let (x, scales) = (ctx.required(0)?, ctx.required(1)?);
        return emit1(ctx, legacy_resize(mode), vec![Some(x), None, Some(scales)]);
    }
    let a = ctx.attrs;
    let x = ctx.required(0)?;
    let newer = ctx.opset >= 18;
    let op = Op::Resize {
        antialias: newer && a.bool_or("antialias", false)?,
        axes: if newer {
            a.ints_or_empty("axes")?
        } else {
            Vec::new()
        },
        coordinate_transformation_mode: enum_attr(
            ctx,
            "coordinate_transformation_mode",
            CoordTransform::HalfPixel,
            CoordTransform::parse,
        )?,
        cubic_coeff_a: a.float_or("cubic_coeff_a", -0.75)?,
        exclude_outside: a.bool_or("exclude_outside", false)?,
        extrapolation_value: a.float_or("extrapolation_value", 0.0)?,
        keep_aspect_ratio_policy: if newer {
            enum_attr(
                ctx,
                "keep_aspect_ratio_policy",
                KeepAspectRatio::Stretch,
                KeepAspectRatio::parse,
            )?
        } else {
            KeepAspectRatio::Stretch
        },
        mode,
        nearest_mode: enum_attr(
            ctx,
            "nearest_mode",
            NearestMode::RoundPreferFloor,
            NearestMode::parse,
        )?,
    };
    // Opset 11 requires roi and scales; an empty constant stands for "not given".
    let mut inputs = vec![Some(x)];
    for i in 1..4 {
        let v = ctx
            .input(i)
            .filter(|&v| ctx.constant_of(v).is_none_or(|t| !t.is_empty()));
        inputs.push(v);
    }
    emit1(ctx, op, trim(inputs))
}

/// The Resize that Resize-10 and Upsample mean: asymmetric coordinates, nearest rounds down.
fn legacy_resize(mode: ResizeMode) -> Op {
    Op::Resize {
        antialias: false,
        axes: Vec::new(),
        coordinate_transformation_mode: CoordTransform::Asymmetric,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        keep_aspect_ratio_policy: KeepAspectRatio::Stretch,
        mode,
        nearest_mode: NearestMode::Floor,
    }
}

/// Upsample (opsets 7-10): `scales` attribute (7-8) or input (9+), as a legacy Resize.
fn upsample(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let mode = match ctx.attrs.string_or("mode", "nearest")?.as_str() {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" => ResizeMode::Linear,
        other => {
            return Err(ctx
                .attrs
                .err("mode", format!("unsupported value `{other}`")));
        }
    };
    let x = ctx.required(0)?;
    let scales = if ctx.opset >= 9 {
        ctx.required(1)?
    } else {
        let s = ctx
            .attrs
            .floats("scales")?
            .ok_or_else(|| ctx.attrs.err("scales", "required"))?;
        let t = Tensor::from_slice(&[s.len()], &s).map_err(|e| ctx.ir_err(e.into()))?;
        ctx.constant(t)
    };
    emit1(ctx, legacy_resize(mode), vec![Some(x), None, Some(scales)])
}

/// Constant: the value becomes a graph constant (no node).
fn constant(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let a = ctx.attrs;
    let names: Vec<&str> = a.names().collect();
    let [name] = names.as_slice() else {
        return Err(a.err(
            "value",
            format!("expected exactly one value attribute, got {names:?}"),
        ));
    };
    let shaped = |r: Result<Tensor, tessera_ir::TensorError>| r.map_err(|e| ctx.ir_err(e.into()));
    let t = match *name {
        "value" => a
            .tensor("value", ctx.model_dir())?
            .unwrap_or_else(|| Tensor::scalar(0f32)),
        "value_float" => Tensor::scalar(a.float_or(name, 0.0)?),
        "value_int" => Tensor::scalar(a.int_or(name, 0)?),
        "value_floats" => {
            let v = a.floats(name)?.unwrap_or_default();
            shaped(Tensor::from_slice(&[v.len()], &v))?
        }
        "value_ints" => {
            let v = a.ints_or_empty(name)?;
            shaped(Tensor::from_slice(&[v.len()], &v))?
        }
        "value_string" | "value_strings" => {
            return Err(OnnxError::UnsupportedDType {
                what: format!("{}.{name}", ctx.label),
                dtype: "STRING".into(),
                code: 8,
            });
        }
        other => return Err(a.err(other, "unsupported Constant attribute")),
    };
    if ctx.num_outputs > 1 {
        return Err(a.err("outputs", "Constant has one output"));
    }
    Ok(vec![ctx.fresh_constant(t)])
}
