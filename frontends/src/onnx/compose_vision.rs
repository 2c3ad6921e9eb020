//! Signal and vision operators: CumProd, BitCast, Det, DFT, STFT, MelWeightMatrix, GridSample, NonMaxSuppression,
//! Unique, Col2Im, RoiAlign, DeformConv and TfIdfVectorizer map to their IR ops;
//! the window functions (HannWindow, HammingWindow, BlackmanWindow) are composed of `Range`,
//! `Cast`, `Cos` and arithmetic, AffineGrid of `Range`, `Concat` and `MatMul`, and
//! ReverseSequence, TensorScatter and MaxUnpool of index arithmetic with
//! `GatherElements`/`ScatterElements`; from `ai.onnx.ml`, Binarizer and ArrayFeatureExtractor
//! are a comparison and a Gather.

use super::error::OnnxError;
use super::import::NodeCtx;
use super::ops::{emit1, scalar_tensor};
use super::tensor::dtype_of;
use tessera_ir::{BinaryOp, DType, Op, UnaryOp, ValueId};

type Outs = Result<Vec<ValueId>, OnnxError>;

/// Maps the operators of this file; `None` for any other `op_type`.
pub(crate) fn map(ctx: &mut NodeCtx<'_, '_>) -> Option<Outs> {
    Some(match ctx.op_type {
        "CumProd" => cumprod(ctx),
        "BitCast" => bitcast(ctx),
        "Det" => single(ctx, Op::Det {}, 1, 1),
        "DFT" => dft(ctx),
        "STFT" => stft(ctx),
        "MelWeightMatrix" => mel_weight_matrix(ctx),
        "GridSample" => grid_sample(ctx),
        "AffineGrid" => affine_grid(ctx),
        "NonMaxSuppression" => nms(ctx),
        "Col2Im" => col2im(ctx),
        "RoiAlign" => roi_align(ctx),
        "DeformConv" => deform_conv(ctx),
        "TfIdfVectorizer" => tfidf(ctx),
        "Unique" => unique(ctx),
        "ReverseSequence" => reverse_sequence(ctx),
        "TensorScatter" => tensor_scatter(ctx),
        "MaxUnpool" => max_unpool(ctx),
        "HannWindow" => window(ctx, [0.5, 0.5, 0.0]),
        "HammingWindow" => window(ctx, [25.0 / 46.0, 21.0 / 46.0, 0.0]),
        "BlackmanWindow" => window(ctx, [0.42, 0.5, 0.08]),
        _ => return None,
    })
}

/// True for the `ai.onnx.ml` operators [`map_ml`] imports.
pub(crate) fn is_ml_op(op_type: &str) -> bool {
    matches!(op_type, "Binarizer" | "ArrayFeatureExtractor")
}

/// Maps an `ai.onnx.ml` operator (see [`is_ml_op`]).
pub(crate) fn map_ml(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    match ctx.op_type {
        "Binarizer" => binarizer(ctx),
        "ArrayFeatureExtractor" => array_feature_extractor(ctx),
        _ => Err(OnnxError::UnsupportedOp {
            node: ctx.label.to_string(),
            op_type: ctx.op_type.to_string(),
            domain: "ai.onnx.ml".into(),
            opset: ctx.opset,
        }),
    }
}

/// Binarizer (ai.onnx.ml 1): `x > threshold` as 1 or 0 in `x`'s dtype.
fn binarizer(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.inputs.len() > 1 {
        return Err(ctx.attrs.err("inputs", "the operator takes 1 operand"));
    }
    let x = ctx.required(0)?;
    let dtype = ctx.ty(x).dtype;
    let t = ctx.attrs.float_or("threshold", 0.0)?;
    let t = ctx.constant(scalar_tensor(dtype, f64::from(t)));
    let above = bin(ctx, BinaryOp::Greater, x, t, "above")?;
    emit1(
        ctx,
        Op::Cast {
            to: dtype,
            saturate: true,
        },
        vec![Some(above)],
    )
}

/// ArrayFeatureExtractor (ai.onnx.ml 1): the elements of the last axis of `X` at the (flattened)
/// indices `Y`; a 1-D `X` gives a `[1, n]` result.
fn array_feature_extractor(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.inputs.len() > 2 {
        return Err(ctx.attrs.err("inputs", "the operator takes 2 operands"));
    }
    let (x, y) = (ctx.required(0)?, ctx.required(1)?);
    let idx = reshape(ctx, y, &[-1], "indices_flat")?;
    let picked = Op::Gather { axis: -1 };
    if ctx.ty(x).shape.rank() == 1 {
        let g = ctx.emit_aux(picked, vec![Some(x), Some(idx)], "picked")?;
        let shape = ctx.const_i64(&[1, -1])?;
        return emit1(
            ctx,
            Op::Reshape { allowzero: false },
            vec![Some(g), Some(shape)],
        );
    }
    emit1(ctx, picked, vec![Some(x), Some(idx)])
}

/// Checks `required..=max` operands and emits `op` on them.
fn single(ctx: &mut NodeCtx<'_, '_>, op: Op, required: usize, max: usize) -> Outs {
    if ctx.inputs.len() > max {
        return Err(ctx.attrs.err(
            "inputs",
            format!(
                "the operator takes at most {max} operand(s), the node has {}",
                ctx.inputs.len()
            ),
        ));
    }
    for i in 0..required {
        ctx.required(i)?;
    }
    let mut inputs = ctx.inputs.clone();
    while inputs.last() == Some(&None) {
        inputs.pop();
    }
    emit1(ctx, op, inputs)
}

/// CumProd (opset 26): `(x, axis)`.
fn cumprod(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let op = Op::CumProd {
        exclusive: ctx.attrs.bool_or("exclusive", false)?,
        reverse: ctx.attrs.bool_or("reverse", false)?,
    };
    single(ctx, op, 2, 2)
}

/// BitCast (opset 26): the `to` dtype must exist in Tessera and have the input's width.
fn bitcast(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let code = ctx
        .attrs
        .int("to")?
        .ok_or_else(|| ctx.attrs.err("to", "required"))?;
    let to = dtype_of(
        i32::try_from(code).unwrap_or(-1),
        &format!("{}: BitCast `to`", ctx.label),
    )?;
    single(ctx, Op::BitCast { to }, 1, 1)
}

/// DFT: opset 17/19 take `axis` as an attribute (default 1), opset 20 as the optional third
/// operand (default -2).
fn dft(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let op = Op::Dft {
        inverse: ctx.attrs.bool_or("inverse", false)?,
        onesided: ctx.attrs.bool_or("onesided", false)?,
    };
    if ctx.opset >= 20 {
        return single(ctx, op, 1, 3);
    }
    if ctx.inputs.len() > 2 {
        return Err(ctx
            .attrs
            .err("inputs", "DFT before opset 20 takes at most 2 operands"));
    }
    let x = ctx.required(0)?;
    let len = ctx.input(1);
    let axis = ctx.attrs.int_or("axis", 1)?;
    let axis = ctx.constant(tessera_ir::Tensor::scalar(axis));
    emit1(ctx, op, vec![Some(x), len, Some(axis)])
}

/// `Shape(x)[axis]` as an i64 scalar.
fn extent(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    axis: usize,
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
    let idx = ctx.constant(tessera_ir::Tensor::scalar(axis as i64));
    ctx.emit_aux(Op::Gather { axis: 0 }, vec![Some(shape), Some(idx)], s)
}

/// `0..n` (i64) for an i64 scalar `n`.
fn arange(ctx: &mut NodeCtx<'_, '_>, n: ValueId, s: &str) -> Result<ValueId, OnnxError> {
    let zero = ctx.constant(tessera_ir::Tensor::scalar(0i64));
    let one = ctx.constant(tessera_ir::Tensor::scalar(1i64));
    ctx.emit_aux(Op::Range {}, vec![Some(zero), Some(n), Some(one)], s)
}

/// `x` reshaped to the constant `shape`.
fn reshape(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    shape: &[i64],
    s: &str,
) -> Result<ValueId, OnnxError> {
    let shape = ctx.const_i64(shape)?;
    ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(x), Some(shape)],
        s,
    )
}

/// `x` with size-1 axes inserted at the constant `axes` (nothing when empty).
fn unsqueeze(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    axes: &[i64],
    s: &str,
) -> Result<ValueId, OnnxError> {
    if axes.is_empty() {
        return Ok(x);
    }
    let axes = ctx.const_i64(axes)?;
    ctx.emit_aux(Op::Unsqueeze {}, vec![Some(x), Some(axes)], s)
}

/// ReverseSequence (opset 10): reverses the first `sequence_lens[b]` steps along `time_axis` of
/// each batch entry `b` (along `batch_axis`), by GatherElements of the positions
/// `t < len ? len - 1 - t : t`.
fn reverse_sequence(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.inputs.len() > 2 {
        return Err(ctx.attrs.err("inputs", "the operator takes 2 operands"));
    }
    let (x, lens) = (ctx.required(0)?, ctx.required(1)?);
    let batch_axis = ctx.attrs.int_or("batch_axis", 1)?;
    let time_axis = ctx.attrs.int_or("time_axis", 0)?;
    let rank = ctx.ty(x).shape.rank();
    let ok = rank >= 2 && matches!((batch_axis, time_axis), (0, 1) | (1, 0));
    if !ok {
        return Err(ctx.attrs.err(
            "time_axis",
            format!("batch_axis and time_axis must be 0 and 1 in some order for rank {rank}, got {batch_axis} and {time_axis}"),
        ));
    }
    let col = |axis: i64| if axis == 0 { [-1i64, 1] } else { [1, -1] };
    let t_len = extent(ctx, x, time_axis as usize, "time_extent")?;
    let t = arange(ctx, t_len, "time")?;
    let t = reshape(ctx, t, &col(time_axis), "time_column")?;
    let lens = cast(ctx, lens, DType::I64, "lens_i64")?;
    let lens = reshape(ctx, lens, &col(batch_axis), "lens_column")?;
    let inside = bin(ctx, BinaryOp::Less, t, lens, "inside")?;
    let one = ctx.constant(tessera_ir::Tensor::scalar(1i64));
    let last = bin(ctx, BinaryOp::Sub, lens, one, "last")?;
    let rev = bin(ctx, BinaryOp::Sub, last, t, "reversed")?;
    let src = ctx.emit_aux(
        Op::Where {},
        vec![Some(inside), Some(rev), Some(t)],
        "source",
    )?;
    let trailing: Vec<i64> = (2..rank as i64).collect();
    let src = unsqueeze(ctx, src, &trailing, "source_trailing")?;
    let shape = ctx.emit_aux(
        Op::Shape {
            start: 0,
            end: None,
        },
        vec![Some(x)],
        "shape",
    )?;
    let src = ctx.emit_aux(Op::Expand {}, vec![Some(src), Some(shape)], "source_full")?;
    emit1(
        ctx,
        Op::GatherElements { axis: time_axis },
        vec![Some(x), Some(src)],
    )
}

/// TensorScatter (opset 24): `update` written into `past_cache` along `axis` from
/// `write_indices[b]` (default 0) on, modulo the cache length in `circular` mode; a
/// ScatterElements of the positions `write_indices[b] + s`.
fn tensor_scatter(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.inputs.len() > 3 {
        return Err(ctx
            .attrs
            .err("inputs", "the operator takes at most 3 operands"));
    }
    let (past, update) = (ctx.required(0)?, ctx.required(1)?);
    let rank = ctx.ty(past).shape.rank();
    let a = ctx.attrs.int_or("axis", -2)?;
    let axis = match tessera_ir::shape::normalize_axis(a, rank) {
        Some(ax) if ax > 0 => ax,
        _ => {
            return Err(ctx.attrs.err(
                "axis",
                format!("{a} must name a non-batch axis of rank {rank}"),
            ));
        }
    };
    let circular = match ctx.attrs.string_or("mode", "linear")?.as_str() {
        "linear" => false,
        "circular" => true,
        m => {
            return Err(ctx
                .attrs
                .err("mode", format!("must be linear or circular, got `{m}`")));
        }
    };
    let seq = extent(ctx, update, axis, "update_extent")?;
    let steps = arange(ctx, seq, "steps")?;
    let steps = reshape(ctx, steps, &[1, -1], "steps_row")?;
    let mut pos = match ctx.input(2) {
        Some(w) => {
            let w = cast(ctx, w, DType::I64, "write_i64")?;
            let w = reshape(ctx, w, &[-1, 1], "write_column")?;
            bin(ctx, BinaryOp::Add, w, steps, "positions")?
        }
        None => steps,
    };
    if circular {
        let len = extent(ctx, past, axis, "cache_extent")?;
        pos = bin(ctx, BinaryOp::Mod, pos, len, "wrapped")?;
    }
    let others: Vec<i64> = (1..rank as i64).filter(|&d| d != axis as i64).collect();
    let pos = unsqueeze(ctx, pos, &others, "positions_full_rank")?;
    let shape = ctx.emit_aux(
        Op::Shape {
            start: 0,
            end: None,
        },
        vec![Some(update)],
        "update_shape",
    )?;
    let pos = ctx.emit_aux(Op::Expand {}, vec![Some(pos), Some(shape)], "indices")?;
    let op = Op::ScatterElements {
        axis: axis as i64,
        reduction: tessera_ir::attr::ScatterReduction::None,
    };
    emit1(ctx, op, vec![Some(past), Some(pos), Some(update)])
}

/// MaxUnpool (opset 9+): `X` scattered to the flat positions `I` of zeros of the unpooled
/// shape (`(in - 1) * stride - pads + kernel` per spatial axis); with an `output_shape` operand,
/// that result is zero-padded at the end of each axis to it (ONNX's reference semantics).
fn max_unpool(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.inputs.len() > 3 {
        return Err(ctx
            .attrs
            .err("inputs", "the operator takes at most 3 operands"));
    }
    let (x, idx) = (ctx.required(0)?, ctx.required(1)?);
    let dtype = ctx.ty(x).dtype;
    let dims = unpooled_dims(ctx, x)?;
    let shape = ctx.const_i64(&dims)?;
    let zeros = ctx.emit_aux(
        Op::ConstantOfShape {
            value: scalar_tensor(dtype, 0.0),
        },
        vec![Some(shape)],
        "zeros",
    )?;
    let flat = reshape(ctx, zeros, &[-1], "zeros_flat")?;
    let xf = reshape(ctx, x, &[-1], "values_flat")?;
    let idx = cast(ctx, idx, DType::I64, "indices_i64")?;
    let idf = reshape(ctx, idx, &[-1], "indices_flat")?;
    let op = Op::ScatterElements {
        axis: 0,
        reduction: tessera_ir::attr::ScatterReduction::None,
    };
    let sc = ctx.emit_aux(op, vec![Some(flat), Some(idf), Some(xf)], "scatter")?;
    let Some(out_shape) = ctx.input(2) else {
        return emit1(
            ctx,
            Op::Reshape { allowzero: false },
            vec![Some(sc), Some(shape)],
        );
    };
    let y = ctx.emit_aux(
        Op::Reshape { allowzero: false },
        vec![Some(sc), Some(shape)],
        "unpooled",
    )?;
    let out_shape = cast(ctx, out_shape, DType::I64, "output_shape_i64")?;
    let end = bin(ctx, BinaryOp::Sub, out_shape, shape, "pads_end")?;
    let begin = ctx.const_i64(&vec![0; dims.len()])?;
    let pads = ctx.emit_aux(Op::Concat { axis: 0 }, vec![Some(begin), Some(end)], "pads")?;
    let op = Op::Pad {
        mode: tessera_ir::attr::PadMode::Constant,
    };
    emit1(ctx, op, vec![Some(y), Some(pads)])
}

/// MaxUnpool's default output dims from the static input dims and the attributes.
fn unpooled_dims(ctx: &NodeCtx<'_, '_>, x: ValueId) -> Result<Vec<i64>, OnnxError> {
    let dims = ctx.ty(x).shape.as_static().ok_or_else(|| {
        ctx.attrs.err(
            "input 0",
            "without output_shape, MaxUnpool needs a static input shape",
        )
    })?;
    let k = dims.len().saturating_sub(2);
    let kernel = ctx.attrs.ints_or_empty("kernel_shape")?;
    if kernel.len() != k || k == 0 {
        return Err(ctx
            .attrs
            .err("kernel_shape", format!("needs {k} values, got {kernel:?}")));
    }
    let strides = ctx.attrs.ints("strides")?.unwrap_or_else(|| vec![1; k]);
    let pads = ctx.attrs.ints("pads")?.unwrap_or_else(|| vec![0; 2 * k]);
    if strides.len() != k || pads.len() != 2 * k {
        return Err(ctx.attrs.err(
            "strides",
            "strides need one value and pads two per spatial axis",
        ));
    }
    let mut out = vec![dims[0] as i64, dims[1] as i64];
    for d in 0..k {
        let v = (dims[2 + d] as i64 - 1) * strides[d] - pads[d] - pads[d + k] + kernel[d];
        if v < 0 {
            return Err(ctx
                .attrs
                .err("pads", format!("spatial axis {d} would have extent {v}")));
        }
        out.push(v);
    }
    Ok(out)
}

/// NonMaxSuppression (opset 11).
fn nms(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let op = Op::NonMaxSuppression {
        center_point_box: ctx.attrs.int_or("center_point_box", 0)?,
    };
    single(ctx, op, 2, 5)
}

/// Col2Im (opset 18).
fn col2im(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let op = Op::Col2Im {
        dilations: ctx.attrs.ints_or_empty("dilations")?,
        pads: ctx.attrs.ints_or_empty("pads")?,
        strides: ctx.attrs.ints_or_empty("strides")?,
    };
    single(ctx, op, 3, 3)
}

/// RoiAlign (opset 10, 16, 22): before opset 16 there is no `coordinate_transformation_mode`
/// and coordinates are `output_half_pixel`.
fn roi_align(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let default = if ctx.opset >= 16 {
        "half_pixel"
    } else {
        "output_half_pixel"
    };
    let half_pixel = match ctx
        .attrs
        .string_or("coordinate_transformation_mode", default)?
        .as_str()
    {
        "half_pixel" => true,
        "output_half_pixel" => false,
        m => {
            return Err(ctx.attrs.err(
                "coordinate_transformation_mode",
                format!("must be half_pixel or output_half_pixel, got `{m}`"),
            ));
        }
    };
    let op = Op::RoiAlign {
        half_pixel,
        mode: ctx.attrs.string_or("mode", "avg")?,
        output_height: ctx.attrs.int_or("output_height", 1)?,
        output_width: ctx.attrs.int_or("output_width", 1)?,
        sampling_ratio: ctx.attrs.int_or("sampling_ratio", 0)?,
        spatial_scale: ctx.attrs.float_or("spatial_scale", 1.0)?,
    };
    single(ctx, op, 3, 3)
}

/// DeformConv (opset 19, 22).
fn deform_conv(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let a = ctx.attrs;
    let op = Op::DeformConv {
        dilations: a.ints_or_empty("dilations")?,
        group: a.int_or("group", 1)?,
        kernel_shape: a.ints_or_empty("kernel_shape")?,
        offset_group: a.int_or("offset_group", 1)?,
        pads: a.ints_or_empty("pads")?,
        strides: a.ints_or_empty("strides")?,
    };
    single(ctx, op, 3, 5)
}

/// TfIdfVectorizer (opset 9): integer pools only; `pool_strings` is a typed unsupported.
fn tfidf(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let a = ctx.attrs;
    if a.get("pool_strings").is_some() {
        return Err(OnnxError::UnsupportedDType {
            what: format!("{}: TfIdfVectorizer `pool_strings`", ctx.label),
            dtype: "STRING".into(),
            code: 8,
        });
    }
    let required = |name: &str| a.int(name)?.ok_or_else(|| a.err(name, "required"));
    let op = Op::TfIdfVectorizer {
        max_gram_length: required("max_gram_length")?,
        max_skip_count: required("max_skip_count")?,
        min_gram_length: required("min_gram_length")?,
        mode: a.string("mode")?.ok_or_else(|| a.err("mode", "required"))?,
        ngram_counts: a.ints_or_empty("ngram_counts")?,
        ngram_indexes: a.ints_or_empty("ngram_indexes")?,
        pool_int64s: a.ints_or_empty("pool_int64s")?,
        weights: a.floats("weights")?.unwrap_or_default(),
    };
    single(ctx, op, 1, 1)
}

/// Unique (opset 11): up to four outputs.
fn unique(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.inputs.len() > 1 {
        return Err(ctx.attrs.err("inputs", "the operator takes 1 operand"));
    }
    let x = ctx.required(0)?;
    let op = Op::Unique {
        axis: ctx.attrs.int("axis")?,
        sorted: ctx.attrs.bool_or("sorted", true)?,
    };
    let n = ctx.num_outputs;
    ctx.emit(op, vec![Some(x)], n)
}

/// STFT (opset 17): `(signal, frame_step, window?, frame_length?)`.
fn stft(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let op = Op::Stft {
        onesided: ctx.attrs.bool_or("onesided", true)?,
    };
    single(ctx, op, 2, 4)
}

/// MelWeightMatrix (opset 17): `output_datatype` defaults to float.
fn mel_weight_matrix(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let code = ctx.attrs.int_or("output_datatype", 1)?;
    let output_datatype = dtype_of(
        i32::try_from(code).unwrap_or(-1),
        &format!("{}: `output_datatype`", ctx.label),
    )?;
    single(ctx, Op::MelWeightMatrix { output_datatype }, 5, 5)
}

/// GridSample: opset 16's `bilinear`/`bicubic` are opset 20's `linear`/`cubic`.
fn grid_sample(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let default = if ctx.opset >= 20 {
        "linear"
    } else {
        "bilinear"
    };
    let mode = match ctx.attrs.string_or("mode", default)?.as_str() {
        "bilinear" if ctx.opset < 20 => "linear".to_string(),
        "bicubic" if ctx.opset < 20 => "cubic".to_string(),
        "linear" | "cubic" if ctx.opset < 20 => {
            return Err(ctx
                .attrs
                .err("mode", "before opset 20 use bilinear or bicubic"));
        }
        m => m.to_string(),
    };
    let op = Op::GridSample {
        align_corners: ctx.attrs.bool_or("align_corners", false)?,
        mode,
        padding_mode: ctx.attrs.string_or("padding_mode", "zeros")?,
    };
    single(ctx, op, 2, 2)
}

/// AffineGrid (opset 20): `theta [N, k, k + 1]` applied to the homogeneous positions of a
/// `size = [N, C, (D,) H, W]` grid evenly spaced in `[-1, 1]`; output `[N, (D,) H, W, k]`.
/// Positions are computed in f64, the result is cast to theta's dtype.
fn affine_grid(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.inputs.len() > 2 {
        return Err(ctx.attrs.err("inputs", "the operator takes 2 operands"));
    }
    let (theta, size) = (ctx.required(0)?, ctx.required(1)?);
    let align = ctx.attrs.bool_or("align_corners", false)?;
    let dtype = ctx.ty(theta).dtype;
    let k = match ctx.ty(size).shape.as_static().as_deref() {
        Some([4]) => 2usize,
        Some([5]) => 3,
        _ => {
            return Err(ctx.attrs.err(
                "input 1",
                format!("size must have 4 or 5 elements, got {}", ctx.ty(size)),
            ));
        }
    };
    // One coordinate vector per spatial axis (outermost first), each broadcast to the grid.
    let mut coords = Vec::with_capacity(k);
    for d in 0..k {
        let v = axis_positions(ctx, size, 2 + d as i64, align)?;
        let mut shape = vec![1i64; k + 1];
        shape[d] = -1;
        let shape = ctx.const_i64(&shape)?;
        let r = ctx.emit_aux(
            Op::Reshape { allowzero: false },
            vec![Some(v), Some(shape)],
            &format!("axis{d}_column"),
        )?;
        coords.push(r);
    }
    // Broadcast every coordinate to the full grid by adding zeros of the other axes.
    let zero = f64_scalar(ctx, 0.0);
    let mut full = coords[0];
    for (d, &c) in coords.iter().enumerate().skip(1) {
        let z = bin(ctx, BinaryOp::Mul, c, zero, &format!("axis{d}_zeros"))?;
        full = bin(ctx, BinaryOp::Add, full, z, &format!("axis{d}_span"))?;
    }
    let zeros = bin(ctx, BinaryOp::Mul, full, zero, "grid_zeros")?;
    let mut channels = Vec::with_capacity(k + 1);
    for (d, &c) in coords.iter().enumerate().rev() {
        channels.push(Some(bin(
            ctx,
            BinaryOp::Add,
            c,
            zeros,
            &format!("axis{d}_grid"),
        )?));
    }
    let one = f64_scalar(ctx, 1.0);
    channels.push(Some(bin(ctx, BinaryOp::Add, zeros, one, "ones")?));
    // [(D,) H, W, k + 1] homogeneous positions, x (the innermost axis) first.
    let base = ctx.emit_aux(Op::Concat { axis: -1 }, channels, "homogeneous")?;
    let lead = ctx.const_i64(&[0])?;
    let base = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(base), Some(lead)], "batch_axis")?;
    let theta64 = cast(ctx, theta, DType::F64, "theta_f64")?;
    let tt = ctx.emit_aux(
        Op::Transpose {
            perm: vec![0, 2, 1],
        },
        vec![Some(theta64)],
        "theta_t",
    )?;
    let mid: Vec<i64> = (1..=k as i64 - 1).collect();
    let mid = ctx.const_i64(&mid)?;
    let tt = ctx.emit_aux(Op::Unsqueeze {}, vec![Some(tt), Some(mid)], "theta_spatial")?;
    let grid = ctx.emit_aux(Op::MatMul {}, vec![Some(base), Some(tt)], "transform")?;
    emit1(
        ctx,
        Op::Cast {
            to: dtype,
            saturate: true,
        },
        vec![Some(grid)],
    )
}

/// The `size[index]` positions of one axis in `[-1, 1]` (f64): `-1 + 2i / max(s - 1, 1)` with
/// aligned corners, else `(2i + 1) / s - 1`.
fn axis_positions(
    ctx: &mut NodeCtx<'_, '_>,
    size: ValueId,
    index: i64,
    align: bool,
) -> Result<ValueId, OnnxError> {
    let sd = ctx.ty(size).dtype;
    let idx = ctx.constant(tessera_ir::Tensor::scalar(index));
    let s = ctx.emit_aux(
        Op::Gather { axis: 0 },
        vec![Some(size), Some(idx)],
        "extent",
    )?;
    let zero = ctx.constant(scalar_tensor(sd, 0.0));
    let step = ctx.constant(scalar_tensor(sd, 1.0));
    let i = ctx.emit_aux(Op::Range {}, vec![Some(zero), Some(s), Some(step)], "index")?;
    let i = cast(ctx, i, DType::F64, "index_f64")?;
    let s = cast(ctx, s, DType::F64, "extent_f64")?;
    let (one, two) = (f64_scalar(ctx, 1.0), f64_scalar(ctx, 2.0));
    let twice = bin(ctx, BinaryOp::Mul, i, two, "twice_index")?;
    if align {
        let s1 = bin(ctx, BinaryOp::Sub, s, one, "extent_minus_1")?;
        let s1 = ctx.emit_aux(
            Op::Variadic(tessera_ir::VariadicOp::Max),
            vec![Some(s1), Some(one)],
            "spacing",
        )?;
        let q = bin(ctx, BinaryOp::Div, twice, s1, "scaled")?;
        bin(ctx, BinaryOp::Sub, q, one, "position")
    } else {
        let odd = bin(ctx, BinaryOp::Add, twice, one, "odd_index")?;
        let q = bin(ctx, BinaryOp::Div, odd, s, "scaled")?;
        bin(ctx, BinaryOp::Sub, q, one, "position")
    }
}

/// A cosine-sum window `a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N)` for `n` in `0..size`,
/// where `N` is `size` (periodic) or `size - 1` (symmetric); computed in f64, then cast to
/// `output_datatype` (default float).
fn window(ctx: &mut NodeCtx<'_, '_>, a: [f64; 3]) -> Outs {
    if ctx.inputs.len() > 1 {
        return Err(ctx.attrs.err("inputs", "the operator takes 1 operand"));
    }
    let size = ctx.required(0)?;
    let code = ctx.attrs.int_or("output_datatype", 1)?;
    let out = dtype_of(
        i32::try_from(code).unwrap_or(-1),
        &format!("{}: `output_datatype`", ctx.label),
    )?;
    let periodic = ctx.attrs.bool_or("periodic", true)?;
    let sd = ctx.ty(size).dtype;
    let sdims = ctx.ty(size).shape.rank();
    if !sd.is_int() || sdims != 0 {
        return Err(ctx.attrs.err(
            "input 0",
            format!("size must be an integer scalar, got {}", ctx.ty(size)),
        ));
    }
    let zero = ctx.constant(scalar_tensor(sd, 0.0));
    let one = ctx.constant(scalar_tensor(sd, 1.0));
    let n = ctx.emit_aux(Op::Range {}, vec![Some(zero), Some(size), Some(one)], "n")?;
    let nf = cast(ctx, n, DType::F64, "n_f64")?;
    let sf = cast(ctx, size, DType::F64, "size_f64")?;
    let denom = if periodic {
        sf
    } else {
        let c1 = f64_scalar(ctx, 1.0);
        bin(ctx, BinaryOp::Sub, sf, c1, "size_minus_1")?
    };
    let two_pi = f64_scalar(ctx, 2.0 * std::f64::consts::PI);
    let scaled = bin(ctx, BinaryOp::Mul, nf, two_pi, "two_pi_n")?;
    let theta = bin(ctx, BinaryOp::Div, scaled, denom, "theta")?;
    let cos1 = ctx.emit_aux(Op::Unary(UnaryOp::Cos), vec![Some(theta)], "cos_theta")?;
    let a0 = f64_scalar(ctx, a[0]);
    let a1 = f64_scalar(ctx, a[1]);
    let t1 = bin(ctx, BinaryOp::Mul, cos1, a1, "term1")?;
    let mut w = bin(ctx, BinaryOp::Sub, a0, t1, "w1")?;
    if a[2] != 0.0 {
        let two = f64_scalar(ctx, 2.0);
        let theta2 = bin(ctx, BinaryOp::Mul, theta, two, "theta2")?;
        let cos2 = ctx.emit_aux(Op::Unary(UnaryOp::Cos), vec![Some(theta2)], "cos_theta2")?;
        let a2 = f64_scalar(ctx, a[2]);
        let t2 = bin(ctx, BinaryOp::Mul, cos2, a2, "term2")?;
        w = bin(ctx, BinaryOp::Add, w, t2, "w2")?;
    }
    emit1(
        ctx,
        Op::Cast {
            to: out,
            saturate: true,
        },
        vec![Some(w)],
    )
}

fn f64_scalar(ctx: &mut NodeCtx<'_, '_>, v: f64) -> ValueId {
    ctx.constant(tessera_ir::Tensor::scalar(v))
}

fn cast(ctx: &mut NodeCtx<'_, '_>, x: ValueId, to: DType, s: &str) -> Result<ValueId, OnnxError> {
    ctx.emit_aux(Op::Cast { to, saturate: true }, vec![Some(x)], s)
}

fn bin(
    ctx: &mut NodeCtx<'_, '_>,
    op: BinaryOp,
    a: ValueId,
    b: ValueId,
    s: &str,
) -> Result<ValueId, OnnxError> {
    ctx.emit_aux(Op::Binary(op), vec![Some(a), Some(b)], s)
}
