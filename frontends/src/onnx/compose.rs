//! ONNX operators without an IR variant that are short compositions of IR ops:
//! RMSNormalization, LpNormalization, MeanVarianceNormalization, GroupNormalization,
//! DepthToSpace, SpaceToDepth, EyeLike, LpPool, GlobalLpPool, OneHot,
//! NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss, QuantizeLinear, DequantizeLinear, LRN,
//! Compress, CenterCropPad, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv,
//! Attention and RotaryEmbedding.

use super::error::OnnxError;
use super::import::NodeCtx;
use super::ops::{emit1, scalar_tensor};
use super::tensor::dtype_of;
use tessera_ir::{BinaryOp, DType, Op, ReduceOp, Tensor, UnaryOp, ValueId};

type Outs = Result<Vec<ValueId>, OnnxError>;

/// The largest side of an EyeLike the importer builds index constants for.
const MAX_EYE: usize = 1 << 24;

/// `axis` of a rank-`rank` value as a position in `0..rank`, or a `BadAttribute` error.
fn axis_in(ctx: &NodeCtx<'_, '_>, name: &str, axis: i64, rank: usize) -> Result<usize, OnnxError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(ctx
            .attrs
            .err(name, format!("{axis} is out of range for rank {rank}")))
    }
}

/// A scalar constant of `dtype`.
fn scalar(ctx: &mut NodeCtx<'_, '_>, dtype: DType, v: f64) -> ValueId {
    ctx.constant(scalar_tensor(dtype, v))
}

/// A binary helper node.
fn bin(
    ctx: &mut NodeCtx<'_, '_>,
    op: BinaryOp,
    a: ValueId,
    b: ValueId,
    s: &str,
) -> Result<ValueId, OnnxError> {
    ctx.emit_aux(Op::Binary(op), vec![Some(a), Some(b)], s)
}

/// A reduction helper node over constant `axes`, keeping dims.
fn reduce(
    ctx: &mut NodeCtx<'_, '_>,
    kind: ReduceOp,
    x: ValueId,
    axes: &[i64],
    s: &str,
) -> Result<ValueId, OnnxError> {
    let axes = ctx.const_i64(axes)?;
    let op = Op::Reduce {
        kind,
        keepdims: true,
        noop_with_empty_axes: false,
    };
    ctx.emit_aux(op, vec![Some(x), Some(axes)], s)
}

/// The static dims of operand `x`, or a `BadAttribute` error saying the composition needs them.
fn static_dims(ctx: &NodeCtx<'_, '_>, x: ValueId) -> Result<Vec<usize>, OnnxError> {
    ctx.ty(x).shape.as_static().ok_or_else(|| {
        ctx.attrs.err(
            "input 0",
            "this operator is imported for static input shapes only",
        )
    })
}

fn dims_i64(dims: &[usize]) -> Vec<i64> {
    dims.iter().map(|&d| d as i64).collect()
}

/// RMSNormalization (opset 23): `x / sqrt(mean(x^2 over axis..) + epsilon) * scale`.
pub(crate) fn rms_normalization(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, scale) = (ctx.required(0)?, ctx.required(1)?);
    let ty = ctx.ty(x).clone();
    let axis = axis_in(ctx, "axis", ctx.attrs.int_or("axis", -1)?, ty.shape.rank())?;
    let epsilon = ctx.attrs.float_or("epsilon", 1e-5)?;
    let axes: Vec<i64> = (axis..ty.shape.rank()).map(|a| a as i64).collect();
    let sq = bin(ctx, BinaryOp::Mul, x, x, "square")?;
    let ms = reduce(ctx, ReduceOp::Mean, sq, &axes, "mean_square")?;
    let eps = scalar(ctx, ty.dtype, epsilon as f64);
    let shifted = bin(ctx, BinaryOp::Add, ms, eps, "add_epsilon")?;
    let rms = ctx.emit_aux(Op::Unary(UnaryOp::Sqrt), vec![Some(shifted)], "rms")?;
    let normed = bin(ctx, BinaryOp::Div, x, rms, "normalize")?;
    emit1(
        ctx,
        Op::Binary(BinaryOp::Mul),
        vec![Some(normed), Some(scale)],
    )
}

/// LpNormalization: `x / norm_p(x along axis)`, 0 where the norm is 0 (p is 1 or 2).
pub(crate) fn lp_normalization(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let ty = ctx.ty(x).clone();
    let axis = axis_in(ctx, "axis", ctx.attrs.int_or("axis", -1)?, ty.shape.rank())?;
    let kind = match ctx.attrs.int_or("p", 2)? {
        1 => ReduceOp::L1,
        2 => ReduceOp::L2,
        p => return Err(ctx.attrs.err("p", format!("must be 1 or 2, got {p}"))),
    };
    let norm = reduce(ctx, kind, x, &[axis as i64], "norm")?;
    let zero = scalar(ctx, ty.dtype, 0.0);
    let is_zero = bin(ctx, BinaryOp::Equal, norm, zero, "norm_is_zero")?;
    let q = bin(ctx, BinaryOp::Div, x, norm, "divide")?;
    emit1(ctx, Op::Where {}, vec![Some(is_zero), Some(zero), Some(q)])
}

/// MeanVarianceNormalization: `(x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9)` over `axes`.
pub(crate) fn mean_variance_normalization(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let dtype = ctx.ty(x).dtype;
    let axes = ctx.attrs.ints("axes")?.unwrap_or_else(|| vec![0, 2, 3]);
    let mean = reduce(ctx, ReduceOp::Mean, x, &axes, "mean")?;
    let sq = bin(ctx, BinaryOp::Mul, x, x, "square")?;
    let mean_sq = reduce(ctx, ReduceOp::Mean, sq, &axes, "mean_square")?;
    let sq_mean = bin(ctx, BinaryOp::Mul, mean, mean, "square_mean")?;
    let var = bin(ctx, BinaryOp::Sub, mean_sq, sq_mean, "variance")?;
    let std = ctx.emit_aux(Op::Unary(UnaryOp::Sqrt), vec![Some(var)], "std")?;
    let eps = scalar(ctx, dtype, 1e-9);
    let denom = bin(ctx, BinaryOp::Add, std, eps, "add_epsilon")?;
    let centered = bin(ctx, BinaryOp::Sub, x, mean, "center")?;
    emit1(
        ctx,
        Op::Binary(BinaryOp::Div),
        vec![Some(centered), Some(denom)],
    )
}

/// GroupNormalization (opset 21: per-channel scale and bias): instance normalization of
/// `[N, groups, -1]`, reshaped back, then `* scale + bias` per channel.
pub(crate) fn group_normalization(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.opset < 21 {
        return Err(ctx.attrs.err(
            "scale",
            "per-group scale and bias (opsets 18-20) are not supported; use opset 21",
        ));
    }
    let (x, scale, bias) = (ctx.required(0)?, ctx.required(1)?, ctx.required(2)?);
    let dims = static_dims(ctx, x)?;
    let dtype = ctx.ty(x).dtype;
    let groups = ctx
        .attrs
        .int("num_groups")?
        .ok_or_else(|| ctx.attrs.err("num_groups", "required"))?;
    let channels = dims.get(1).copied().unwrap_or(0);
    if groups <= 0 || groups as usize > channels.max(1) || channels % (groups as usize) != 0 {
        return Err(ctx.attrs.err(
            "num_groups",
            format!("{groups} does not divide the {channels} channels"),
        ));
    }
    let n = dims.first().copied().unwrap_or(0) as i64;
    let grouped_shape = ctx.const_i64(&[n, groups, -1])?;
    let grouped = ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(x), Some(grouped_shape)],
        "group",
    )?;
    let ones = filled(ctx, dtype, groups as usize, 1.0)?;
    let zeros = filled(ctx, dtype, groups as usize, 0.0)?;
    let op = Op::InstanceNormalization {
        epsilon: ctx.attrs.float_or("epsilon", 1e-5)?,
    };
    let normed = ctx.emit_aux(
        op,
        vec![Some(grouped), Some(ones), Some(zeros)],
        "normalize",
    )?;
    let shape = ctx.const_i64(&dims_i64(&dims))?;
    let back = ctx.emit_aux(
        Op::Reshape { allowzero: true },
        vec![Some(normed), Some(shape)],
        "ungroup",
    )?;
    // scale and bias are [C]: broadcast them as [C, 1, ..., 1].
    let mut per_channel = vec![channels as i64];
    per_channel.extend(std::iter::repeat_n(1, dims.len().saturating_sub(2)));
    let pc = ctx.const_i64(&per_channel)?;
    let scale = ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(scale), Some(pc)],
        "scale",
    )?;
    let bias = ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(bias), Some(pc)],
        "bias",
    )?;
    let scaled = bin(ctx, BinaryOp::Mul, back, scale, "apply_scale")?;
    emit1(
        ctx,
        Op::Binary(BinaryOp::Add),
        vec![Some(scaled), Some(bias)],
    )
}

/// A 1-D constant of `n` copies of `v` in `dtype`.
fn filled(ctx: &mut NodeCtx<'_, '_>, dtype: DType, n: usize, v: f64) -> Result<ValueId, OnnxError> {
    let bytes = scalar_tensor(dtype, v).bytes().repeat(n);
    let t = Tensor::from_bytes(dtype, &[n], bytes).map_err(|e| ctx.ir_err(e.into()))?;
    Ok(ctx.constant(t))
}

/// Reshape, transpose, reshape: the movement DepthToSpace and SpaceToDepth are made of.
fn shuffle(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    split: &[i64],
    perm: Vec<i64>,
    out: &[i64],
) -> Outs {
    let split = ctx.const_i64(split)?;
    let a = ctx.emit_aux(
        Op::Reshape { allowzero: true },
        vec![Some(x), Some(split)],
        "split",
    )?;
    let b = ctx.emit_aux(Op::Transpose { perm }, vec![Some(a)], "permute")?;
    let out = ctx.const_i64(out)?;
    emit1(
        ctx,
        Op::Reshape { allowzero: true },
        vec![Some(b), Some(out)],
    )
}

/// The static `[N, C, H, W]` of operand 0 and the `blocksize` attribute.
fn nchw_and_block(ctx: &NodeCtx<'_, '_>) -> Result<(ValueId, [i64; 4], i64), OnnxError> {
    let x = ctx.required(0)?;
    let dims = static_dims(ctx, x)?;
    let [n, c, h, w] = dims_i64(&dims)[..] else {
        return Err(ctx.attrs.err(
            "input 0",
            format!("expected a 4-D input, got rank {}", dims.len()),
        ));
    };
    let bs = ctx
        .attrs
        .int("blocksize")?
        .ok_or_else(|| ctx.attrs.err("blocksize", "required"))?;
    if bs <= 0 {
        return Err(ctx
            .attrs
            .err("blocksize", format!("must be positive, got {bs}")));
    }
    Ok((x, [n, c, h, w], bs))
}

/// DepthToSpace (modes DCR and CRD) on a static 4-D input.
pub(crate) fn depth_to_space(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, [n, c, h, w], bs) = nchw_and_block(ctx)?;
    let c_out = c / (bs * bs);
    if c % (bs * bs) != 0 {
        return Err(ctx
            .attrs
            .err("blocksize", format!("{bs}^2 does not divide {c} channels")));
    }
    let out = [n, c_out, h * bs, w * bs];
    match ctx.attrs.string_or("mode", "DCR")?.as_str() {
        "DCR" => shuffle(
            ctx,
            x,
            &[n, bs, bs, c_out, h, w],
            vec![0, 3, 4, 1, 5, 2],
            &out,
        ),
        "CRD" => shuffle(
            ctx,
            x,
            &[n, c_out, bs, bs, h, w],
            vec![0, 1, 4, 2, 5, 3],
            &out,
        ),
        other => Err(ctx
            .attrs
            .err("mode", format!("expected DCR or CRD, got {other}"))),
    }
}

/// SpaceToDepth on a static 4-D input.
pub(crate) fn space_to_depth(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, [n, c, h, w], bs) = nchw_and_block(ctx)?;
    if h % bs != 0 || w % bs != 0 {
        return Err(ctx
            .attrs
            .err("blocksize", format!("{bs} does not divide {h}x{w}")));
    }
    let split = [n, c, h / bs, bs, w / bs, bs];
    shuffle(
        ctx,
        x,
        &split,
        vec![0, 3, 5, 1, 2, 4],
        &[n, c * bs * bs, h / bs, w / bs],
    )
}

/// EyeLike on a static 2-D input: `row + k == column`, cast to `dtype` (default: the input's).
pub(crate) fn eye_like(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let dims = static_dims(ctx, x)?;
    let [rows, cols] = dims[..] else {
        return Err(ctx.attrs.err(
            "input 0",
            format!("expected a 2-D input, got rank {}", dims.len()),
        ));
    };
    if rows.max(cols) > MAX_EYE {
        return Err(ctx.attrs.err(
            "input 0",
            format!("{rows}x{cols} is too large to build (at most {MAX_EYE} per side)"),
        ));
    }
    let dtype = match ctx.attrs.int("dtype")? {
        Some(code) => dtype_of(
            i32::try_from(code).unwrap_or(-1),
            &format!("{}: EyeLike dtype", ctx.label),
        )?,
        None => ctx.ty(x).dtype,
    };
    let k = ctx.attrs.int_or("k", 0)?;
    let shifted: Vec<i64> = (0..rows as i64).map(|r| r.saturating_add(k)).collect();
    let shifted = Tensor::from_slice(&[rows, 1], &shifted).map_err(|e| ctx.ir_err(e.into()))?;
    let row = ctx.constant(shifted);
    let columns: Vec<i64> = (0..cols as i64).collect();
    let col = ctx.const_i64(&columns)?;
    let eq = bin(ctx, BinaryOp::Equal, row, col, "diagonal")?;
    emit1(
        ctx,
        Op::Cast {
            to: dtype,
            saturate: true,
        },
        vec![Some(eq)],
    )
}

/// `|x|^p` for the Lp ops (p = 1 and 2 without Pow).
fn abs_pow(ctx: &mut NodeCtx<'_, '_>, x: ValueId, p: i64) -> Result<ValueId, OnnxError> {
    match p {
        1 => ctx.emit_aux(Op::Unary(UnaryOp::Abs), vec![Some(x)], "abs"),
        2 => bin(ctx, BinaryOp::Mul, x, x, "square"),
        _ => {
            let a = ctx.emit_aux(Op::Unary(UnaryOp::Abs), vec![Some(x)], "abs")?;
            let e = scalar(ctx, ctx.ty(x).dtype, p as f64);
            bin(ctx, BinaryOp::Pow, a, e, "power")
        }
    }
}

/// `s^(1/p)` as the node's result (p = 1 and 2 without Pow).
fn root(ctx: &mut NodeCtx<'_, '_>, s: ValueId, p: i64) -> Outs {
    match p {
        1 => emit1(ctx, Op::Unary(UnaryOp::Identity), vec![Some(s)]),
        2 => emit1(ctx, Op::Unary(UnaryOp::Sqrt), vec![Some(s)]),
        _ => {
            let e = scalar(ctx, ctx.ty(s).dtype, 1.0 / p as f64);
            emit1(ctx, Op::Binary(BinaryOp::Pow), vec![Some(s), Some(e)])
        }
    }
}

/// The `p` attribute of the Lp ops (a positive int, default 2).
fn lp_p(ctx: &NodeCtx<'_, '_>) -> Result<i64, OnnxError> {
    match ctx.attrs.int_or("p", 2)? {
        p if p > 0 => Ok(p),
        p => Err(ctx.attrs.err("p", format!("must be positive, got {p}"))),
    }
}

/// LpPool: the window sum of `|x|^p` (an average pool counting pads, times the window size),
/// then its p-th root.
pub(crate) fn lp_pool(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let p = lp_p(ctx)?;
    let a = ctx.attrs;
    let kernel_shape = a
        .ints("kernel_shape")?
        .ok_or_else(|| a.err("kernel_shape", "required"))?;
    let window = kernel_shape
        .iter()
        .try_fold(1i64, |acc, &k| acc.checked_mul(k))
        .ok_or_else(|| a.err("kernel_shape", "the window size overflows"))?;
    let pool = Op::AveragePool {
        auto_pad: super::ops::auto_pad(ctx)?,
        ceil_mode: a.bool_or("ceil_mode", false)?,
        count_include_pad: true,
        dilations: a.ints_or_empty("dilations")?,
        kernel_shape,
        pads: a.ints_or_empty("pads")?,
        strides: a.ints_or_empty("strides")?,
    };
    let powered = abs_pow(ctx, x, p)?;
    let mean = ctx.emit_aux(pool, vec![Some(powered)], "window_mean")?;
    let n = scalar(ctx, ctx.ty(x).dtype, window as f64);
    let sum = bin(ctx, BinaryOp::Mul, mean, n, "window_sum")?;
    root(ctx, sum, p)
}

/// GlobalLpPool: the Lp norm over all spatial axes, kept as size 1.
pub(crate) fn global_lp_pool(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let p = lp_p(ctx)?;
    let axes: Vec<i64> = (2..ctx.ty(x).shape.rank() as i64).collect();
    let kind = match p {
        1 => ReduceOp::L1,
        2 => ReduceOp::L2,
        _ => {
            let powered = abs_pow(ctx, x, p)?;
            let sum = reduce(ctx, ReduceOp::Sum, powered, &axes, "sum")?;
            return root(ctx, sum, p);
        }
    };
    let axes = ctx.const_i64(&axes)?;
    let op = Op::Reduce {
        kind,
        keepdims: true,
        noop_with_empty_axes: false,
    };
    emit1(ctx, op, vec![Some(x), Some(axes)])
}

/// OneHot: `values[1]` where `indices` (negative ones wrapped by `depth`) equals the position
/// along the new `axis`, else `values[0]`.
pub(crate) fn one_hot(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (indices, depth, values) = (ctx.required(0)?, ctx.required(1)?, ctx.required(2)?);
    let rank = ctx.ty(indices).shape.rank();
    let axis = axis_in(ctx, "axis", ctx.attrs.int_or("axis", -1)?, rank + 1)?;
    let to_i64 = |ctx: &mut NodeCtx<'_, '_>, v: ValueId, s: &str| {
        if ctx.ty(v).dtype == DType::I64 {
            Ok(v)
        } else {
            ctx.emit_aux(
                Op::Cast {
                    to: DType::I64,
                    saturate: true,
                },
                vec![Some(v)],
                s,
            )
        }
    };
    let idx = to_i64(ctx, indices, "indices")?;
    let d = to_i64(ctx, depth, "depth")?;
    let scalar_shape = ctx.const_i64(&[])?;
    let d = ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(d), Some(scalar_shape)],
        "depth_scalar",
    )?;
    let zero = ctx.constant(Tensor::scalar(0i64));
    let one = ctx.constant(Tensor::scalar(1i64));
    let negative = bin(ctx, BinaryOp::Less, idx, zero, "negative")?;
    let wrapped = bin(ctx, BinaryOp::Add, idx, d, "wrapped")?;
    let idx = ctx.emit_aux(
        Op::Where {},
        vec![Some(negative), Some(wrapped), Some(idx)],
        "index",
    )?;
    let at = ctx.const_i64(&[axis as i64])?;
    let idx = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(idx), Some(at)], "expand_index")?;
    let positions = ctx.emit_aux(
        Op::Range {},
        vec![Some(zero), Some(d), Some(one)],
        "positions",
    )?;
    let mut shape = vec![1i64; rank + 1];
    if let Some(s) = shape.get_mut(axis) {
        *s = -1;
    }
    let shape = ctx.const_i64(&shape)?;
    let positions = ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(positions), Some(shape)],
        "place_positions",
    )?;
    let hot = bin(ctx, BinaryOp::Equal, idx, positions, "hot")?;
    let gather = |ctx: &mut NodeCtx<'_, '_>, i: ValueId, s: &str| {
        ctx.emit_aux(Op::Gather { axis: 0 }, vec![Some(values), Some(i)], s)
    };
    let off = gather(ctx, zero, "off_value")?;
    let on = gather(ctx, one, "on_value")?;
    emit1(ctx, Op::Where {}, vec![Some(hot), Some(on), Some(off)])
}

/// The loss of NegativeLogLikelihoodLoss over log-probabilities `input` ([N, C, d...]) and
/// class indices `target` ([N, d...]): `-input[n, target[n, d], d] * weight[target]`, zero
/// where the target is `ignore_index`, then reduced (`none`, `sum`, or the weighted `mean`).
fn nll(
    ctx: &mut NodeCtx<'_, '_>,
    input: ValueId,
    target: ValueId,
    weight: Option<ValueId>,
) -> Result<ValueId, OnnxError> {
    let a = ctx.attrs;
    let reduction = a.string_or("reduction", "mean")?;
    if !matches!(reduction.as_str(), "none" | "sum" | "mean") {
        return Err(a.err(
            "reduction",
            format!("expected none, sum or mean, got {reduction}"),
        ));
    }
    let dtype = ctx.ty(input).dtype;
    let tdtype = ctx.ty(target).dtype;
    let ignored = match a.int("ignore_index")? {
        Some(i) => {
            let i = scalar(ctx, tdtype, i as f64);
            Some(bin(ctx, BinaryOp::Equal, target, i, "ignored")?)
        }
        None => None,
    };
    let zero_t = scalar(ctx, tdtype, 0.0);
    let safe = match ignored {
        Some(m) => ctx.emit_aux(
            Op::Where {},
            vec![Some(m), Some(zero_t), Some(target)],
            "safe_target",
        )?,
        None => target,
    };
    let axis1 = ctx.const_i64(&[1])?;
    let idx = ctx.emit_aux(
        Op::Unsqueeze {},
        vec![Some(safe), Some(axis1)],
        "class_index",
    )?;
    let picked = ctx.emit_aux(
        Op::GatherElements { axis: 1 },
        vec![Some(input), Some(idx)],
        "pick",
    )?;
    let picked = ctx.emit_aux(Op::Squeeze {}, vec![Some(picked), Some(axis1)], "picked")?;
    let neg = ctx.emit_aux(Op::Unary(UnaryOp::Neg), vec![Some(picked)], "negate")?;
    let zero = scalar(ctx, dtype, 0.0);
    let w = match (weight, ignored) {
        (Some(w), m) => {
            let w = ctx.emit_aux(Op::Gather { axis: 0 }, vec![Some(w), Some(safe)], "weight")?;
            match m {
                Some(m) => Some(ctx.emit_aux(
                    Op::Where {},
                    vec![Some(m), Some(zero), Some(w)],
                    "kept_weight",
                )?),
                None => Some(w),
            }
        }
        (None, Some(m)) => {
            let one = scalar(ctx, dtype, 1.0);
            Some(ctx.emit_aux(Op::Where {}, vec![Some(m), Some(zero), Some(one)], "kept")?)
        }
        (None, None) => None,
    };
    let loss = match w {
        Some(w) => bin(ctx, BinaryOp::Mul, neg, w, "weighted")?,
        None => neg,
    };
    let total = |kind| Op::Reduce {
        kind,
        keepdims: false,
        noop_with_empty_axes: false,
    };
    Ok(match (reduction.as_str(), w) {
        ("none", _) => loss,
        ("sum", _) => ctx.emit_aux(total(ReduceOp::Sum), vec![Some(loss)], "sum")?,
        (_, Some(w)) => {
            let s = ctx.emit_aux(total(ReduceOp::Sum), vec![Some(loss)], "sum")?;
            let ws = ctx.emit_aux(total(ReduceOp::Sum), vec![Some(w)], "weight_sum")?;
            bin(ctx, BinaryOp::Div, s, ws, "mean")?
        }
        (_, None) => ctx.emit_aux(total(ReduceOp::Mean), vec![Some(loss)], "mean")?,
    })
}

/// The value `v` as the node's (named) result: an Identity when `v` is an input of the node.
fn finish(ctx: &mut NodeCtx<'_, '_>, v: ValueId) -> Result<ValueId, OnnxError> {
    if ctx.inputs.contains(&Some(v)) {
        let out = ctx.emit(Op::Unary(UnaryOp::Identity), vec![Some(v)], 1)?;
        return out
            .first()
            .copied()
            .ok_or_else(|| ctx.attrs.err("outputs", "no output"));
    }
    Ok(v)
}

/// NegativeLogLikelihoodLoss.
pub(crate) fn negative_log_likelihood_loss(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.num_outputs > 1 {
        return Err(ctx.attrs.err("outputs", "the operator has 1 output"));
    }
    let (input, target) = (ctx.required(0)?, ctx.required(1)?);
    let loss = nll(ctx, input, target, ctx.input(2))?;
    Ok(vec![finish(ctx, loss)?])
}

/// SoftmaxCrossEntropyLoss: NegativeLogLikelihoodLoss of LogSoftmax over axis 1; the
/// log-probabilities are the optional second output.
pub(crate) fn softmax_cross_entropy_loss(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (scores, labels) = (ctx.required(0)?, ctx.required(1)?);
    let log_prob = ctx.emit_aux(Op::LogSoftmax { axis: 1 }, vec![Some(scores)], "log_prob")?;
    let loss = nll(ctx, log_prob, labels, ctx.input(2))?;
    let loss = finish(ctx, loss)?;
    Ok(if ctx.num_outputs > 1 {
        vec![loss, log_prob]
    } else {
        vec![loss]
    })
}

/// A quantization parameter (scale or zero point) made to broadcast against `x`: scalars pass
/// through; per-axis (1-D along `axis`) ones are reshaped; blocked ones (`block_size` > 0,
/// opset 21+: the same rank as `x`, `ceil(dim / block_size)` along `axis`) are repeated
/// `block_size` times along `axis` by a Gather of constant indices `i / block_size`.
fn per_axis(
    ctx: &mut NodeCtx<'_, '_>,
    p: ValueId,
    x: ValueId,
    s: &str,
) -> Result<ValueId, OnnxError> {
    let rank = ctx.ty(x).shape.rank();
    let block_size = ctx.attrs.int_or("block_size", 0)?;
    if block_size < 0 {
        return Err(ctx
            .attrs
            .err("block_size", format!("{block_size} is negative")));
    }
    if block_size > 0 {
        return blocked(ctx, p, x, block_size as usize, s);
    }
    if ctx.ty(p).shape.rank() != 1 || rank <= 1 {
        return Ok(p);
    }
    let axis = axis_in(ctx, "axis", ctx.attrs.int_or("axis", 1)?, rank)?;
    let mut shape = vec![-1i64];
    shape.extend(std::iter::repeat_n(1, rank - axis - 1));
    let shape = ctx.const_i64(&shape)?;
    ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(p), Some(shape)],
        s,
    )
}

/// Blocked quantization: parameter `p` repeated `block_size` times along `axis` of `x` and cut
/// to `x`'s extent there.
fn blocked(
    ctx: &mut NodeCtx<'_, '_>,
    p: ValueId,
    x: ValueId,
    block_size: usize,
    s: &str,
) -> Result<ValueId, OnnxError> {
    let dims = static_dims(ctx, x)?;
    let axis = axis_in(ctx, "axis", ctx.attrs.int_or("axis", 1)?, dims.len())?;
    let p_shape = ctx.ty(p).shape.clone();
    let blocks = dims[axis].div_ceil(block_size);
    let fits = p_shape.rank() == dims.len()
        && p_shape.as_static().is_none_or(|pd| {
            pd.iter()
                .zip(&dims)
                .enumerate()
                .all(|(a, (&pd, &xd))| if a == axis { pd == blocks } else { pd == xd })
        });
    if !fits {
        return Err(ctx.attrs.err(
            "block_size",
            format!(
                "{s} of shape {p_shape} does not block input shape {dims:?} by {block_size} along axis {axis}"
            ),
        ));
    }
    let idx: Vec<i64> = (0..dims[axis]).map(|i| (i / block_size) as i64).collect();
    let idx = ctx.const_i64(&idx)?;
    ctx.emit_aux(
        Op::Gather { axis: axis as i64 },
        vec![Some(p), Some(idx)],
        s,
    )
}

/// `v` cast to `to` (no node when it already has that dtype).
fn cast_to(
    ctx: &mut NodeCtx<'_, '_>,
    v: ValueId,
    to: DType,
    s: &str,
) -> Result<ValueId, OnnxError> {
    if ctx.ty(v).dtype == to {
        Ok(v)
    } else {
        ctx.emit_aux(Op::Cast { to, saturate: true }, vec![Some(v)], s)
    }
}

/// An `output_dtype` attribute (0 or absent: `None`).
fn output_dtype(ctx: &NodeCtx<'_, '_>) -> Result<Option<DType>, OnnxError> {
    match ctx.attrs.int_or("output_dtype", 0)? {
        0 => Ok(None),
        code => dtype_of(
            i32::try_from(code).unwrap_or(-1),
            &format!("{}: output_dtype", ctx.label),
        )
        .map(Some),
    }
}

/// DequantizeLinear (integer, float8 or float4 inputs; per-tensor, per-axis or blocked):
/// `(x - zero_point) * scale`, computed in the scale's dtype (the conversions of the
/// quantized values to it are exact).
pub(crate) fn dequantize_linear(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, scale) = (ctx.required(0)?, ctx.required(1)?);
    let sd = ctx.ty(scale).dtype;
    let out = output_dtype(ctx)?.unwrap_or(sd);
    let scale = per_axis(ctx, scale, x, "scale")?;
    let xf = cast_to(ctx, x, sd, "widen")?;
    let centered = match ctx.input(2) {
        Some(zp) => {
            let zp = per_axis(ctx, zp, x, "zero_point")?;
            let zf = cast_to(ctx, zp, sd, "widen_zero_point")?;
            bin(ctx, BinaryOp::Sub, xf, zf, "center")?
        }
        None => xf,
    };
    if out == sd {
        return emit1(
            ctx,
            Op::Binary(BinaryOp::Mul),
            vec![Some(centered), Some(scale)],
        );
    }
    let y = bin(ctx, BinaryOp::Mul, centered, scale, "scale")?;
    emit1(
        ctx,
        Op::Cast {
            to: out,
            saturate: true,
        },
        vec![Some(y)],
    )
}

/// QuantizeLinear (per-tensor, per-axis or blocked), with `x / scale` computed in the
/// `precision` dtype (opset 23+; default: `x`'s dtype):
/// - integer outputs: `clip(round_half_even(x / scale) + zero_point)` to the output range;
/// - float8 outputs: `cast(x / scale + zero_point)` (round to nearest-even; `saturate`
///   clamps out-of-range values, else they become inf/NaN; the zero point is 0 by spec);
/// - float4 outputs: the same cast, which always saturates.
pub(crate) fn quantize_linear(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, scale) = (ctx.required(0)?, ctx.required(1)?);
    let zp = ctx.input(2);
    let declared = output_dtype(ctx)?;
    let out = match zp {
        Some(z) => {
            let zd = ctx.ty(z).dtype;
            if declared.is_some_and(|d| d != zd) {
                return Err(ctx.attrs.err(
                    "output_dtype",
                    format!(
                        "{} differs from the zero point's {zd}",
                        declared.unwrap_or(zd)
                    ),
                ));
            }
            zd
        }
        None => declared.unwrap_or(DType::U8),
    };
    let range = out.int_range().filter(|_| out != DType::Bool);
    if range.is_none() && !(out.is_float() && out.is_low_precision() && out != DType::F8E8M0) {
        return Err(ctx.attrs.err(
            "output_dtype",
            format!("quantizing to {out} is not supported (integer, float8 or float4 outputs)"),
        ));
    }
    let pd = match ctx.attrs.int_or("precision", 0)? {
        0 => ctx.ty(x).dtype,
        code => dtype_of(
            i32::try_from(code).unwrap_or(-1),
            &format!("{}: precision", ctx.label),
        )?,
    };
    let saturate = ctx.attrs.bool_or("saturate", true)?;
    let scale = per_axis(ctx, scale, x, "scale")?;
    let scale = cast_to(ctx, scale, pd, "scale_as_input")?;
    let xp = cast_to(ctx, x, pd, "x_in_precision")?;
    let q = bin(ctx, BinaryOp::Div, xp, scale, "divide")?;
    let mut r = match range {
        Some(_) => ctx.emit_aux(Op::Unary(UnaryOp::Round), vec![Some(q)], "round")?,
        None => q,
    };
    if let Some(zp) = zp {
        let zp = per_axis(ctx, zp, x, "zero_point")?;
        let zf = cast_to(ctx, zp, pd, "widen_zero_point")?;
        r = bin(ctx, BinaryOp::Add, r, zf, "shift")?;
    }
    let Some((lo, hi)) = range else {
        return emit1(ctx, Op::Cast { to: out, saturate }, vec![Some(r)]);
    };
    let (lo, hi) = (scalar(ctx, pd, lo as f64), scalar(ctx, pd, hi as f64));
    let clipped = ctx.emit_aux(Op::Clip {}, vec![Some(r), Some(lo), Some(hi)], "saturate")?;
    emit1(
        ctx,
        Op::Cast {
            to: out,
            saturate: true,
        },
        vec![Some(clipped)],
    )
}

/// LRN: `x / (bias + alpha / size * square_sum)^beta`, the square sum over a window of `size`
/// channels computed as an average pool (counting pads) over `x^2` with a channel axis
/// inserted as the pooled "spatial" axis.
pub(crate) fn lrn(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let a = ctx.attrs;
    let size = a.int("size")?.ok_or_else(|| a.err("size", "required"))?;
    if size <= 0 {
        return Err(a.err("size", format!("must be positive, got {size}")));
    }
    let (alpha, beta, bias) = (
        a.float_or("alpha", 1e-4)?,
        a.float_or("beta", 0.75)?,
        a.float_or("bias", 1.0)?,
    );
    let ty = ctx.ty(x).clone();
    let rank = ty.shape.rank();
    if rank < 3 {
        return Err(a.err("input 0", format!("expected rank 3 or more, got {rank}")));
    }
    let sq = bin(ctx, BinaryOp::Mul, x, x, "square")?;
    let at1 = ctx.const_i64(&[1])?;
    let lifted = ctx.emit_aux(
        Op::Unsqueeze {},
        vec![Some(sq), Some(at1)],
        "channels_as_space",
    )?;
    let mut kernel_shape = vec![1i64; rank - 1];
    let mut pads = vec![0i64; 2 * (rank - 1)];
    if let (Some(k), Some(lo)) = (kernel_shape.first_mut(), pads.first_mut()) {
        *k = size;
        *lo = (size - 1) / 2;
    }
    if let Some(hi) = pads.get_mut(rank - 1) {
        *hi = size - 1 - (size - 1) / 2;
    }
    let pool = Op::AveragePool {
        auto_pad: tessera_ir::attr::AutoPad::NotSet,
        ceil_mode: false,
        count_include_pad: true,
        dilations: Vec::new(),
        kernel_shape,
        pads,
        strides: Vec::new(),
    };
    let mean = ctx.emit_aux(pool, vec![Some(lifted)], "window_mean")?;
    let mean = ctx.emit_aux(Op::Squeeze {}, vec![Some(mean), Some(at1)], "square_mean")?;
    // alpha / size * sum == alpha * mean.
    let alpha = scalar(ctx, ty.dtype, alpha as f64);
    let scaled = bin(ctx, BinaryOp::Mul, mean, alpha, "scale")?;
    let bias = scalar(ctx, ty.dtype, bias as f64);
    let base = bin(ctx, BinaryOp::Add, scaled, bias, "bias")?;
    let beta = scalar(ctx, ty.dtype, beta as f64);
    let denom = bin(ctx, BinaryOp::Pow, base, beta, "power")?;
    emit1(ctx, Op::Binary(BinaryOp::Div), vec![Some(x), Some(denom)])
}

/// Compress: the slices along `axis` (of the flattened input without one) where `condition`
/// is true, as a Gather of the NonZero positions.
pub(crate) fn compress(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, cond) = (ctx.required(0)?, ctx.required(1)?);
    let flat = ctx.const_i64(&[-1])?;
    let nz = ctx.emit_aux(Op::NonZero {}, vec![Some(cond)], "positions")?;
    let idx = ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(nz), Some(flat)],
        "indices",
    )?;
    let (data, axis) = match ctx.attrs.int("axis")? {
        Some(axis) => (x, axis),
        None => {
            let f = ctx.emit_aux(
                Op::Reshape { allowzero: false },
                vec![Some(x), Some(flat)],
                "flatten",
            )?;
            (f, 0)
        }
    };
    emit1(ctx, Op::Gather { axis }, vec![Some(data), Some(idx)])
}

/// CenterCropPad: a Slice for the axes that shrink, then a zero Pad (over the same axes) for
/// the axes that grow; crop starts round down, the odd padding pixel goes right. The window
/// arithmetic runs on `Shape` of the input, and folds to constants for static shapes.
pub(crate) fn center_crop_pad(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, target) = (ctx.required(0)?, ctx.required(1)?);
    let rank = ctx.ty(x).shape.rank();
    let axes = match ctx.attrs.ints("axes")? {
        Some(list) => list
            .iter()
            .map(|&a| axis_in(ctx, "axes", a, rank).map(|a| a as i64))
            .collect::<Result<Vec<_>, _>>()?,
        None => (0..rank as i64).collect(),
    };
    let axes = ctx.const_i64(&axes)?;
    let target = cast_to(ctx, target, DType::I64, "target")?;
    let shape = ctx.emit_aux(
        Op::Shape {
            start: 0,
            end: None,
        },
        vec![Some(x)],
        "shape",
    )?;
    let dims = ctx.emit_aux(
        Op::Gather { axis: 0 },
        vec![Some(shape), Some(axes)],
        "dims",
    )?;
    let zero = ctx.constant(Tensor::scalar(0i64));
    let two = ctx.constant(Tensor::scalar(2i64));
    let max = |ctx: &mut NodeCtx<'_, '_>, a: ValueId, b: ValueId, s: &str| {
        ctx.emit_aux(
            Op::Variadic(tessera_ir::VariadicOp::Max),
            vec![Some(a), Some(b)],
            s,
        )
    };
    // Crop: start = max(dims - target, 0) / 2, end = start + min(dims, target).
    let shrink = bin(ctx, BinaryOp::Sub, dims, target, "shrink")?;
    let shrink = max(ctx, shrink, zero, "crop")?;
    let start = bin(ctx, BinaryOp::Div, shrink, two, "crop_start")?;
    let kept = ctx.emit_aux(
        Op::Variadic(tessera_ir::VariadicOp::Min),
        vec![Some(dims), Some(target)],
        "kept",
    )?;
    let end = bin(ctx, BinaryOp::Add, start, kept, "crop_end")?;
    let cropped = ctx.emit_aux(
        Op::Slice {},
        vec![Some(x), Some(start), Some(end), Some(axes)],
        "crop_slice",
    )?;
    // Pad: before = max(target - dims, 0) / 2, after = the rest.
    let grow = bin(ctx, BinaryOp::Sub, target, dims, "grow")?;
    let grow = max(ctx, grow, zero, "pad")?;
    let before = bin(ctx, BinaryOp::Div, grow, two, "pad_before")?;
    let after = bin(ctx, BinaryOp::Sub, grow, before, "pad_after")?;
    let pads = ctx.emit_aux(
        Op::Concat { axis: 0 },
        vec![Some(before), Some(after)],
        "pads",
    )?;
    emit1(
        ctx,
        Op::Pad {
            mode: tessera_ir::attr::PadMode::Constant,
        },
        vec![Some(cropped), Some(pads), None, Some(axes)],
    )
}

/// `x - zero_point`, both cast to `to`; a 1-D zero point of a rank-2+ operand is per leading
/// index (rows of a matrix, output channels of a kernel) when `leading` is set.
fn centered(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    zp: Option<ValueId>,
    to: DType,
    leading: bool,
    s: &str,
) -> Result<ValueId, OnnxError> {
    let xc = cast_to(ctx, x, to, &format!("{s}_wide"))?;
    let Some(zp) = zp else {
        return Ok(xc);
    };
    let zp = if leading {
        along_leading(ctx, zp, ctx.ty(x).shape.rank(), &format!("{s}_zero_point"))?
    } else {
        zp
    };
    let zc = cast_to(ctx, zp, to, &format!("{s}_zero_point_wide"))?;
    bin(ctx, BinaryOp::Sub, xc, zc, &format!("{s}_centered"))
}

/// A 1-D parameter reshaped to `[-1, 1, ...]` (rank `rank`) so that it runs along axis 0 of a
/// rank-`rank` tensor; scalars and rank-1 targets pass through.
fn along_leading(
    ctx: &mut NodeCtx<'_, '_>,
    p: ValueId,
    rank: usize,
    s: &str,
) -> Result<ValueId, OnnxError> {
    if ctx.ty(p).shape.rank() != 1 || rank < 2 {
        return Ok(p);
    }
    let mut shape = vec![-1i64];
    shape.extend(std::iter::repeat_n(1, rank - 1));
    let shape = ctx.const_i64(&shape)?;
    ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(p), Some(shape)],
        s,
    )
}

/// `saturate_out(round_half_even(acc * factor + zero_point))`, in f64.
fn requantize(
    ctx: &mut NodeCtx<'_, '_>,
    acc: ValueId,
    factor: ValueId,
    zp: Option<ValueId>,
    out: DType,
) -> Outs {
    let Some((lo, hi)) = out.int_range() else {
        return Err(ctx.attrs.err(
            "outputs",
            format!("quantized output {out} is not an integer type"),
        ));
    };
    let acc = cast_to(ctx, acc, DType::F64, "acc_f64")?;
    let factor = cast_to(ctx, factor, DType::F64, "factor_f64")?;
    let mut d = bin(ctx, BinaryOp::Mul, acc, factor, "rescale")?;
    if let Some(zp) = zp {
        let z = cast_to(ctx, zp, DType::F64, "y_zero_point_f64")?;
        d = bin(ctx, BinaryOp::Add, d, z, "shift")?;
    }
    let r = ctx.emit_aux(Op::Unary(UnaryOp::Round), vec![Some(d)], "round")?;
    let (lo, hi) = (
        scalar(ctx, DType::F64, lo as f64),
        scalar(ctx, DType::F64, hi as f64),
    );
    let c = ctx.emit_aux(Op::Clip {}, vec![Some(r), Some(lo), Some(hi)], "saturate")?;
    emit1(
        ctx,
        Op::Cast {
            to: out,
            saturate: true,
        },
        vec![Some(c)],
    )
}

/// MatMulInteger: the int32 matrix product of the zero-point-centered operands.
pub(crate) fn matmul_integer(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (a, b) = (ctx.required(0)?, ctx.required(1)?);
    let ac = centered(ctx, a, ctx.input(2), DType::I32, true, "a")?;
    let bc = centered(ctx, b, ctx.input(3), DType::I32, false, "b")?;
    emit1(ctx, Op::MatMul {}, vec![Some(ac), Some(bc)])
}

/// QLinearMatMul: the int32 product of the centered operands, requantized by
/// `a_scale * b_scale / y_scale`.
pub(crate) fn qlinear_matmul(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (a, a_s, b, b_s, y_s) = (
        ctx.required(0)?,
        ctx.required(1)?,
        ctx.required(3)?,
        ctx.required(4)?,
        ctx.required(6)?,
    );
    let y_zp = ctx.input(7);
    let out = y_zp.map_or(ctx.ty(a).dtype, |z| ctx.ty(z).dtype);
    let ac = centered(ctx, a, ctx.input(2), DType::I32, true, "a")?;
    let bc = centered(ctx, b, ctx.input(5), DType::I32, false, "b")?;
    let acc = ctx.emit_aux(Op::MatMul {}, vec![Some(ac), Some(bc)], "matmul")?;
    let a_s = along_leading(ctx, a_s, ctx.ty(a).shape.rank(), "a_scale")?;
    let ab = bin(ctx, BinaryOp::Mul, a_s, b_s, "ab_scale")?;
    let factor = bin(ctx, BinaryOp::Div, ab, y_s, "factor")?;
    requantize(ctx, acc, factor, y_zp, out)
}

/// An integer convolution, exact in f64 (products and sums of 8/16-bit values), with an
/// optional int32 bias.
fn conv_f64(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    x_zp: Option<ValueId>,
    w: ValueId,
    w_zp: Option<ValueId>,
    bias: Option<ValueId>,
) -> Result<ValueId, OnnxError> {
    let op = super::ops::conv_op(ctx)?;
    let xc = centered(ctx, x, x_zp, DType::F64, false, "x")?;
    let wc = centered(ctx, w, w_zp, DType::F64, true, "w")?;
    let bias = match bias {
        Some(b) => Some(cast_to(ctx, b, DType::F64, "bias_f64")?),
        None => None,
    };
    ctx.emit_aux(op, vec![Some(xc), Some(wc), bias], "conv")
}

/// ConvInteger: the int32 convolution of the zero-point-centered operands.
pub(crate) fn conv_integer(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, w) = (ctx.required(0)?, ctx.required(1)?);
    let acc = conv_f64(ctx, x, ctx.input(2), w, ctx.input(3), None)?;
    emit1(
        ctx,
        Op::Cast {
            to: DType::I32,
            saturate: true,
        },
        vec![Some(acc)],
    )
}

/// QLinearConv: the integer convolution (plus int32 bias), requantized by
/// `x_scale * w_scale / y_scale` (w_scale per output channel or scalar).
pub(crate) fn qlinear_conv(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, x_s, w, w_s, y_s) = (
        ctx.required(0)?,
        ctx.required(1)?,
        ctx.required(3)?,
        ctx.required(4)?,
        ctx.required(6)?,
    );
    let y_zp = ctx.input(7);
    let out = y_zp.map_or(ctx.ty(x).dtype, |z| ctx.ty(z).dtype);
    let acc = conv_f64(ctx, x, ctx.input(2), w, ctx.input(5), ctx.input(8))?;
    // A per-channel scale runs along axis 1 of the output [N, M, ...].
    let rank = ctx.ty(x).shape.rank();
    let w_s = along_leading(ctx, w_s, rank.saturating_sub(1), "w_scale")?;
    let xw = bin(ctx, BinaryOp::Mul, x_s, w_s, "xw_scale")?;
    let factor = bin(ctx, BinaryOp::Div, xw, y_s, "factor")?;
    requantize(ctx, acc, factor, y_zp, out)
}

/// Dims `idx` of `x`'s shape as a 1-D i64 value (folds to a constant for static shapes).
fn dims_of(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    idx: &[i64],
    s: &str,
) -> Result<ValueId, OnnxError> {
    let shape = ctx.emit_aux(
        Op::Shape {
            start: 0,
            end: None,
        },
        vec![Some(x)],
        &format!("{s}_shape"),
    )?;
    let idx = ctx.const_i64(idx)?;
    ctx.emit_aux(Op::Gather { axis: 0 }, vec![Some(shape), Some(idx)], s)
}

/// A one-element 1-D i64 value as a scalar.
fn to_scalar(ctx: &mut NodeCtx<'_, '_>, v: ValueId, s: &str) -> Result<ValueId, OnnxError> {
    let empty = ctx.const_i64(&[])?;
    ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(v), Some(empty)],
        s,
    )
}

/// `[B, S, heads * D]` to `[B, heads, S, D]`.
fn split_heads(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    heads: i64,
    s: &str,
) -> Result<ValueId, OnnxError> {
    let shape = ctx.const_i64(&[0, 0, heads, -1])?;
    let r = ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(x), Some(shape)],
        &format!("{s}_heads"),
    )?;
    ctx.emit_aux(
        Op::Transpose {
            perm: vec![0, 2, 1, 3],
        },
        vec![Some(r)],
        s,
    )
}

/// `[B, H, S, D]` with each head repeated `reps` times in place: `[B, H * reps, S, D]`.
fn repeat_heads(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    reps: i64,
    s: &str,
) -> Result<ValueId, OnnxError> {
    let at2 = ctx.const_i64(&[2])?;
    let u = ctx.emit_aux(
        Op::Unsqueeze {},
        vec![Some(x), Some(at2)],
        &format!("{s}_lift"),
    )?;
    let grid = ctx.const_i64(&[1, 1, reps, 1, 1])?;
    let e = ctx.emit_aux(
        Op::Expand {},
        vec![Some(u), Some(grid)],
        &format!("{s}_expand"),
    )?;
    let b = dims_of(ctx, x, &[0], &format!("{s}_batch"))?;
    let h = dims_of(ctx, x, &[1], &format!("{s}_heads"))?;
    let r = ctx.const_i64(&[reps])?;
    let h = bin(ctx, BinaryOp::Mul, h, r, &format!("{s}_all_heads"))?;
    let sd = dims_of(ctx, x, &[2, 3], &format!("{s}_seq_dim"))?;
    let shape = ctx.emit_aux(
        Op::Concat { axis: 0 },
        vec![Some(b), Some(h), Some(sd)],
        &format!("{s}_shape"),
    )?;
    ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(e), Some(shape)],
        s,
    )
}

/// Attention (opsets 23-24): scaled dot-product attention with optional mask, causal mask,
/// KV cache (past/present), grouped heads, softcap and non-padding lengths; outputs
/// `(Y, present_key?, present_value?, qk_matmul_output?)`. `softmax_precision` is ignored (the
/// softmax runs in the input dtype).
pub(crate) fn attention(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (q, k, v) = (ctx.required(0)?, ctx.required(1)?, ctx.required(2)?);
    let (mask, past_k, past_v, nonpad) = (ctx.input(3), ctx.input(4), ctx.input(5), ctx.input(6));
    let a = ctx.attrs;
    if past_k.is_some() != past_v.is_some() {
        return Err(a.err("past_key", "past_key and past_value must be given together"));
    }
    let dtype = ctx.ty(q).dtype;
    let rank = ctx.ty(q).shape.rank();
    let (q_heads, kv_heads) = (a.int("q_num_heads")?, a.int("kv_num_heads")?);
    let (q4, k4, v4) = match rank {
        3 => {
            let need = |h: Option<i64>, name: &str| {
                h.filter(|&h| h > 0)
                    .ok_or_else(|| a.err(name, "a positive value is required for 3-D inputs"))
            };
            let (qh, kvh) = (
                need(q_heads, "q_num_heads")?,
                need(kv_heads, "kv_num_heads")?,
            );
            (
                split_heads(ctx, q, qh, "q")?,
                split_heads(ctx, k, kvh, "k")?,
                split_heads(ctx, v, kvh, "v")?,
            )
        }
        4 => (q, k, v),
        r => {
            return Err(a.err(
                "input 0",
                format!("expected a 3-D or 4-D query, got rank {r}"),
            ));
        }
    };
    let heads = |ctx: &NodeCtx<'_, '_>, x: ValueId, attr: Option<i64>| {
        attr.or_else(|| {
            ctx.ty(x)
                .shape
                .0
                .get(1)
                .and_then(|d| d.as_static())
                .map(|d| d as i64)
        })
    };
    let (qh, kvh) = (heads(ctx, q4, q_heads), heads(ctx, k4, kv_heads));
    let concat2 = |ctx: &mut NodeCtx<'_, '_>, p: Option<ValueId>, x: ValueId, s: &str| match p {
        Some(p) => ctx.emit_aux(Op::Concat { axis: 2 }, vec![Some(p), Some(x)], s),
        None => Ok(x),
    };
    let present_k = concat2(ctx, past_k, k4, "present_key")?;
    let present_v = concat2(ctx, past_v, v4, "present_value")?;
    // Q and K are each scaled by sqrt(scale); the default scale is 1/sqrt(head size).
    let root_scale = match a.float("scale")? {
        Some(s) => scalar(ctx, dtype, (s as f64).sqrt()),
        None => {
            let d = dims_of(ctx, q4, &[3], "head_size")?;
            let d = cast_to(ctx, d, dtype, "head_size_float")?;
            let e = scalar(ctx, dtype, -0.25);
            bin(ctx, BinaryOp::Pow, d, e, "root_scale")?
        }
    };
    let qs = bin(ctx, BinaryOp::Mul, q4, root_scale, "q_scaled")?;
    let mut ks = bin(ctx, BinaryOp::Mul, present_k, root_scale, "k_scaled")?;
    let mut vs = present_v;
    if let (Some(qh), Some(kvh)) = (qh, kvh)
        && qh != kvh
        && kvh > 0
        && qh % kvh == 0
    {
        ks = repeat_heads(ctx, ks, qh / kvh, "k_groups")?;
        vs = repeat_heads(ctx, vs, qh / kvh, "v_groups")?;
    }
    let kt = ctx.emit_aux(
        Op::Transpose {
            perm: vec![0, 1, 3, 2],
        },
        vec![Some(ks)],
        "k_t",
    )?;
    let mut qk = ctx.emit_aux(Op::MatMul {}, vec![Some(qs), Some(kt)], "qk")?;
    let softcap = a.float_or("softcap", 0.0)?;
    if softcap > 0.0 {
        let c = scalar(ctx, dtype, softcap as f64);
        let d = bin(ctx, BinaryOp::Div, qk, c, "softcap_in")?;
        let t = ctx.emit_aux(Op::Unary(UnaryOp::Tanh), vec![Some(d)], "softcap_tanh")?;
        qk = bin(ctx, BinaryOp::Mul, t, c, "softcap")?;
    }
    let bias = attention_bias(ctx, mask, q4, present_k, past_k, nonpad, dtype)?;
    let qkb = match bias {
        Some(b) => bin(ctx, BinaryOp::Add, qk, b, "qk_bias")?,
        None => qk,
    };
    let probs = ctx.emit_aux(Op::Softmax { axis: -1 }, vec![Some(qkb)], "softmax")?;
    let y4 = ctx.emit_aux(Op::MatMul {}, vec![Some(probs), Some(vs)], "attend")?;
    let y = if rank == 3 {
        let t = ctx.emit_aux(
            Op::Transpose {
                perm: vec![0, 2, 1, 3],
            },
            vec![Some(y4)],
            "merge",
        )?;
        let shape = ctx.const_i64(&[0, 0, -1])?;
        let out = ctx.emit(
            Op::Reshape { allowzero: false },
            vec![Some(t), Some(shape)],
            1,
        )?;
        out.first()
            .copied()
            .ok_or_else(|| a.err("outputs", "no output"))?
    } else {
        y4
    };
    let qk_out = match a.int_or("qk_matmul_output_mode", 0)? {
        0 | 1 => qk,
        2 => qkb,
        3 => probs,
        m => return Err(a.err("qk_matmul_output_mode", format!("expected 0 to 3, got {m}"))),
    };
    Ok([y, present_k, present_v, qk_out]
        .into_iter()
        .take(ctx.num_outputs)
        .collect())
}

/// The additive bias of Attention: the (padded, bool-converted) mask, the causal mask and the
/// non-padding lengths, summed; `None` when there is none.
fn attention_bias(
    ctx: &mut NodeCtx<'_, '_>,
    mask: Option<ValueId>,
    q4: ValueId,
    present_k: ValueId,
    past_k: Option<ValueId>,
    nonpad: Option<ValueId>,
    dtype: DType,
) -> Result<Option<ValueId>, OnnxError> {
    let zero = scalar(ctx, dtype, 0.0);
    let ninf = scalar(ctx, dtype, f64::NEG_INFINITY);
    let kv_len = dims_of(ctx, present_k, &[2], "kv_len")?;
    let mut bias = None;
    if let Some(m) = mask {
        // A mask shorter than the keys is padded with "masked out".
        let m_len = dims_of(ctx, m, &[-1], "mask_len")?;
        let missing = bin(ctx, BinaryOp::Sub, kv_len, m_len, "mask_missing")?;
        let none = ctx.const_i64(&[0])?;
        let pads = ctx.emit_aux(
            Op::Concat { axis: 0 },
            vec![Some(none), Some(missing)],
            "mask_pads",
        )?;
        let is_bool = ctx.ty(m).dtype == DType::Bool;
        let fill = if is_bool {
            ctx.constant(Tensor::scalar(false))
        } else {
            scalar(ctx, ctx.ty(m).dtype, f64::NEG_INFINITY)
        };
        let last = ctx.const_i64(&[-1])?;
        let pad = Op::Pad {
            mode: tessera_ir::attr::PadMode::Constant,
        };
        let m = ctx.emit_aux(
            pad,
            vec![Some(m), Some(pads), Some(fill), Some(last)],
            "mask_padded",
        )?;
        let m = if is_bool {
            ctx.emit_aux(
                Op::Where {},
                vec![Some(m), Some(zero), Some(ninf)],
                "mask_bias",
            )?
        } else {
            m
        };
        bias = Some(m);
    }
    let mut add = |ctx: &mut NodeCtx<'_, '_>, b: ValueId, s: &str| -> Result<(), OnnxError> {
        bias = Some(match bias {
            Some(prev) => bin(ctx, BinaryOp::Add, prev, b, s)?,
            None => b,
        });
        Ok(())
    };
    let zero_i = ctx.constant(Tensor::scalar(0i64));
    let one_i = ctx.constant(Tensor::scalar(1i64));
    let kv_s = to_scalar(ctx, kv_len, "kv_len_scalar")?;
    let cols = ctx.emit_aux(
        Op::Range {},
        vec![Some(zero_i), Some(kv_s), Some(one_i)],
        "kv_positions",
    )?;
    if ctx.attrs.bool_or("is_causal", false)? {
        // Key j is masked for query i when j > past_len + i.
        let q_len = dims_of(ctx, q4, &[2], "q_len")?;
        let q_s = to_scalar(ctx, q_len, "q_len_scalar")?;
        let rows = ctx.emit_aux(
            Op::Range {},
            vec![Some(zero_i), Some(q_s), Some(one_i)],
            "q_positions",
        )?;
        let at1 = ctx.const_i64(&[1])?;
        let rows = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(rows), Some(at1)], "q_column")?;
        let rows = match past_k {
            Some(p) => {
                let past = dims_of(ctx, p, &[2], "past_len")?;
                bin(ctx, BinaryOp::Add, rows, past, "q_absolute")?
            }
            None => rows,
        };
        let future = bin(ctx, BinaryOp::Greater, cols, rows, "future")?;
        let cb = ctx.emit_aux(
            Op::Where {},
            vec![Some(future), Some(ninf), Some(zero)],
            "causal_bias",
        )?;
        add(ctx, cb, "with_causal")?;
    }
    if let Some(n) = nonpad {
        let at1 = ctx.const_i64(&[1])?;
        let n = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(n), Some(at1)], "nonpad_column")?;
        let keep = bin(ctx, BinaryOp::Less, cols, n, "nonpad_keep")?;
        let pb = ctx.emit_aux(
            Op::Where {},
            vec![Some(keep), Some(zero), Some(ninf)],
            "nonpad_bias",
        )?;
        let at12 = ctx.const_i64(&[1, 2])?;
        let pb = ctx.emit_aux(
            Op::Unsqueeze {},
            vec![Some(pb), Some(at12)],
            "nonpad_bias_4d",
        )?;
        add(ctx, pb, "with_nonpad")?;
    }
    Ok(bias)
}

/// `x[..., start:end:step]` on the last axis of a 4-D value.
fn last_axis_slice(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    (start, end, step): (i64, i64, i64),
    s: &str,
) -> Result<ValueId, OnnxError> {
    let (st, en, ax, sp) = (
        ctx.const_i64(&[start])?,
        ctx.const_i64(&[end])?,
        ctx.const_i64(&[-1])?,
        ctx.const_i64(&[step])?,
    );
    ctx.emit_aux(
        Op::Slice {},
        vec![Some(x), Some(st), Some(en), Some(ax), Some(sp)],
        s,
    )
}

/// RotaryEmbedding (opset 23): rotates the first `rotary_embedding_dim` features of each head
/// by the cached cos/sin (gathered by `position_ids` when given), halves or interleaved pairs.
/// Needs a static head size.
pub(crate) fn rotary_embedding(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, cos, sin) = (ctx.required(0)?, ctx.required(1)?, ctx.required(2)?);
    let a = ctx.attrs;
    let rank = ctx.ty(x).shape.rank();
    let last = ctx.ty(x).shape.0.last().and_then(|d| d.as_static());
    let (x4, head) = match rank {
        4 => {
            let t = ctx.emit_aux(
                Op::Transpose {
                    perm: vec![0, 2, 1, 3],
                },
                vec![Some(x)],
                "bshd",
            )?;
            (t, last)
        }
        3 => {
            let heads = a.int_or("num_heads", 0)?;
            if heads <= 0 {
                return Err(a.err("num_heads", "a positive value is required for 3-D inputs"));
            }
            let shape = ctx.const_i64(&[0, 0, heads, -1])?;
            let r = ctx.emit_aux(
                Op::Reshape { allowzero: false },
                vec![Some(x), Some(shape)],
                "bshd",
            )?;
            (r, last.map(|h| h / heads as usize))
        }
        r => {
            return Err(a.err(
                "input 0",
                format!("expected a 3-D or 4-D input, got rank {r}"),
            ));
        }
    };
    let head = head.ok_or_else(|| a.err("input 0", "the head size must be static"))? as i64;
    let rot = match a.int_or("rotary_embedding_dim", 0)? {
        0 => head,
        r if r > 0 && r <= head && r % 2 == 0 => r,
        r => {
            return Err(a.err(
                "rotary_embedding_dim",
                format!("{r} does not fit head size {head}"),
            ));
        }
    };
    let half = rot / 2;
    let (cos, sin) = match ctx.input(3) {
        Some(pos) => (
            ctx.emit_aux(Op::Gather { axis: 0 }, vec![Some(cos), Some(pos)], "cos_at")?,
            ctx.emit_aux(Op::Gather { axis: 0 }, vec![Some(sin), Some(pos)], "sin_at")?,
        ),
        None => (cos, sin),
    };
    let at2 = ctx.const_i64(&[2])?;
    let cos = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(cos), Some(at2)], "cos_heads")?;
    let sin = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(sin), Some(at2)], "sin_heads")?;
    let interleaved = a.bool_or("interleaved", false)?;
    let (x1, x2) = if interleaved {
        (
            last_axis_slice(ctx, x4, (0, rot, 2), "x_even")?,
            last_axis_slice(ctx, x4, (1, rot, 2), "x_odd")?,
        )
    } else {
        (
            last_axis_slice(ctx, x4, (0, half, 1), "x_first")?,
            last_axis_slice(ctx, x4, (half, rot, 1), "x_second")?,
        )
    };
    let cx1 = bin(ctx, BinaryOp::Mul, cos, x1, "cos_x1")?;
    let sx2 = bin(ctx, BinaryOp::Mul, sin, x2, "sin_x2")?;
    let real = bin(ctx, BinaryOp::Sub, cx1, sx2, "real")?;
    let sx1 = bin(ctx, BinaryOp::Mul, sin, x1, "sin_x1")?;
    let cx2 = bin(ctx, BinaryOp::Mul, cos, x2, "cos_x2")?;
    let imag = bin(ctx, BinaryOp::Add, sx1, cx2, "imag")?;
    let rotated = if interleaved {
        let end = ctx.const_i64(&[-1])?;
        let r = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(real), Some(end)], "real_pair")?;
        let i = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(imag), Some(end)], "imag_pair")?;
        let pairs = ctx.emit_aux(Op::Concat { axis: -1 }, vec![Some(r), Some(i)], "pairs")?;
        let shape = ctx.const_i64(&[0, 0, 0, rot])?;
        ctx.emit_aux(
            Op::Reshape { allowzero: false },
            vec![Some(pairs), Some(shape)],
            "rotated",
        )?
    } else {
        ctx.emit_aux(
            Op::Concat { axis: -1 },
            vec![Some(real), Some(imag)],
            "rotated",
        )?
    };
    let full = if rot < head {
        let rest = last_axis_slice(ctx, x4, (rot, head, 1), "x_rest")?;
        ctx.emit_aux(
            Op::Concat { axis: -1 },
            vec![Some(rotated), Some(rest)],
            "joined",
        )?
    } else {
        rotated
    };
    if rank == 3 {
        let shape = ctx.const_i64(&[0, 0, -1])?;
        emit1(
            ctx,
            Op::Reshape { allowzero: false },
            vec![Some(full), Some(shape)],
        )
    } else {
        emit1(
            ctx,
            Op::Transpose {
                perm: vec![0, 2, 1, 3],
            },
            vec![Some(full)],
        )
    }
}
