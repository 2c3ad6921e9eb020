//! LinearAttention (opset 27), CausalConvWithState (opset 27) and FlexAttention
//! (`ai.onnx.preview` 1) as compositions of IR ops.
//!
//! - LinearAttention unrolls its recurrence over the (static) sequence length on a
//!   `[B, H_kv, d_k, d_v]` state, in float32 for 16-bit inputs (as ONNX's reference does);
//!   grouped query heads read their KV head's state through a `[B, H_kv, group, d_k]` view of
//!   the query, so the state is never repeated.
//! - CausalConvWithState is a Concat (or a zero Pad) of the carried state, a depthwise Conv
//!   and an optional SiLU; the present state is the last `k - 1` positions.
//! - FlexAttention is scaled `Q K^T`, the optional `score_mod` subgraph, Softmax in the
//!   softmax precision, the optional `prob_mod` subgraph and `P V`; grouped heads again use a
//!   grouped view of Q (and of the probabilities).

use super::compose_kit::{
    Built, as_output, bin, cast, check_unroll, concat, matmul, need_float, one, reshape, scalar,
    slice, static_dims, transpose, un, zeros,
};
use super::error::OnnxError;
use super::import::NodeCtx;
use super::tensor::dtype_of;
use tessera_ir::attr::{AutoPad, PadMode};
use tessera_ir::{BinaryOp, DType, Op, Tensor, UnaryOp, ValueId};

type Outs = Result<Vec<ValueId>, OnnxError>;

/// The dtype 16-bit float inputs are computed in.
fn widened(dtype: DType) -> DType {
    match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

/// A required positive int attribute.
fn positive(ctx: &NodeCtx<'_, '_>, name: &str) -> Result<usize, OnnxError> {
    match ctx.attrs.int(name)? {
        Some(v) if v > 0 => Ok(v as usize),
        Some(v) => Err(ctx.attrs.err(name, format!("must be positive, got {v}"))),
        None => Err(ctx.attrs.err(name, "required")),
    }
}

/// The static `[B, T, last]` of a rank-3 operand.
fn dims3(ctx: &NodeCtx<'_, '_>, x: ValueId, index: usize) -> Result<[usize; 3], OnnxError> {
    match static_dims(ctx, x, index)?[..] {
        [a, b, c] => Ok([a, b, c]),
        ref d => Err(ctx.attrs.err(
            &format!("input {index}"),
            format!("expected a rank-3 tensor, got shape {d:?}"),
        )),
    }
}

/// `[B, T, heads * D]` to `[B, heads, T, D]` (cast to `dtype`).
fn heads_first(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    heads: usize,
    dtype: DType,
    s: &str,
) -> Built {
    let x = cast(ctx, x, dtype, &format!("{s}_wide"))?;
    let r = reshape(ctx, x, &[0, 0, heads as i64, -1], &format!("{s}_split"))?;
    transpose(ctx, r, &[0, 2, 1, 3], s)
}

/// The update rule of LinearAttention: (gated, delta-corrected).
fn update_rule(ctx: &NodeCtx<'_, '_>) -> Result<(bool, bool), OnnxError> {
    let rule = ctx.attrs.string_or("update_rule", "gated_delta")?;
    match rule.as_str() {
        "linear" => Ok((false, false)),
        "gated" => Ok((true, false)),
        "delta" => Ok((false, true)),
        "gated_delta" => Ok((true, true)),
        r => Err(ctx.attrs.err(
            "update_rule",
            format!("expected linear, gated, delta or gated_delta, got {r}"),
        )),
    }
}

/// The sizes LinearAttention works with.
struct LinearDims {
    b: usize,
    t: usize,
    hq: usize,
    hkv: usize,
    dk: usize,
    dv: usize,
}

/// Checks LinearAttention's operand shapes against its head counts.
fn linear_dims(ctx: &NodeCtx<'_, '_>) -> Result<LinearDims, OnnxError> {
    let a = ctx.attrs;
    let (hq, hkv) = (
        positive(ctx, "q_num_heads")?,
        positive(ctx, "kv_num_heads")?,
    );
    if hq % hkv != 0 {
        return Err(a.err(
            "q_num_heads",
            format!("{hq} is not a multiple of kv_num_heads {hkv}"),
        ));
    }
    let [b, t, qw] = dims3(ctx, ctx.required(0)?, 0)?;
    let [kb, kt, kw] = dims3(ctx, ctx.required(1)?, 1)?;
    let [vb, vt, vw] = dims3(ctx, ctx.required(2)?, 2)?;
    let dk = qw / hq;
    let dv = vw / hkv;
    if qw % hq != 0 || vw % hkv != 0 || kw != hkv * dk || (kb, kt, vb, vt) != (b, t, b, t) {
        return Err(a.err(
            "input 0",
            format!(
                "query [{b}, {t}, {qw}], key [{kb}, {kt}, {kw}] and value [{vb}, {vt}, {vw}] \
                 do not fit {hq} query and {hkv} key/value heads"
            ),
        ));
    }
    if let Some(ps) = ctx.input(3) {
        let pd = static_dims(ctx, ps, 3)?;
        if pd != [b, hkv, dk, dv] {
            return Err(a.err(
                "input 3",
                format!("past_state {pd:?} is not [{b}, {hkv}, {dk}, {dv}]"),
            ));
        }
    }
    Ok(LinearDims {
        b,
        t,
        hq,
        hkv,
        dk,
        dv,
    })
}

/// `decay` (`[B, T, H_kv]` or `[B, T, H_kv * d_k]`) as `exp(decay)` laid out
/// `[B, H_kv, d_k or 1, T]` (so that step `t` is a `[.., d_k or 1, 1]` column).
fn decay_columns(ctx: &mut NodeCtx<'_, '_>, dims: &LinearDims, dtype: DType) -> Built {
    let g = ctx.required(4)?;
    let [gb, gt, gw] = dims3(ctx, g, 4)?;
    if (gb, gt) != (dims.b, dims.t) || (gw != dims.hkv && gw != dims.hkv * dims.dk) {
        return Err(ctx.attrs.err(
            "input 4",
            format!(
                "decay [{gb}, {gt}, {gw}] must be [B, T, kv_num_heads] or \
                 [B, T, kv_num_heads * d_k]"
            ),
        ));
    }
    let g4 = heads_first(ctx, g, dims.hkv, dtype, "decay")?;
    let e = un(ctx, UnaryOp::Exp, g4, "decay_exp")?;
    transpose(ctx, e, &[0, 1, 3, 2], "decay_columns")
}

/// `beta` (`[B, T, H_kv]` or `[B, T, 1]`) as `[B, H_kv or 1, T, 1]`.
fn beta_rows(ctx: &mut NodeCtx<'_, '_>, dims: &LinearDims, dtype: DType) -> Built {
    let be = ctx.required(5)?;
    let [bb, bt, bw] = dims3(ctx, be, 5)?;
    if (bb, bt) != (dims.b, dims.t) || (bw != dims.hkv && bw != 1) {
        return Err(ctx.attrs.err(
            "input 5",
            format!("beta [{bb}, {bt}, {bw}] must be [B, T, kv_num_heads] or [B, T, 1]"),
        ));
    }
    let be = cast(ctx, be, dtype, "beta_wide")?;
    let r = reshape(ctx, be, &[0, 0, -1, 1], "beta_split")?;
    transpose(ctx, r, &[0, 2, 1, 3], "beta_rows")
}

/// LinearAttention (opset 27): the linear / gated / delta / gated-delta recurrence, unrolled.
pub(crate) fn linear_attention(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (q, k, v) = (ctx.required(0)?, ctx.required(1)?, ctx.required(2)?);
    let out_dtype = need_float(ctx, q, 0)?;
    let dtype = widened(out_dtype);
    let (gated, delta) = update_rule(ctx)?;
    let a = ctx.attrs;
    for (i, name, wanted) in [(4, "decay", gated), (5, "beta", delta)] {
        if ctx.input(i).is_some() != wanted {
            let verb = if wanted { "requires" } else { "forbids" };
            return Err(a.err(name, format!("this update_rule {verb} the `{name}` input")));
        }
    }
    let dims = linear_dims(ctx)?;
    check_unroll(ctx, dims.t)?;
    let scale = match a.float_or("scale", 0.0)? {
        0.0 => 1.0 / (dims.dk as f64).sqrt(),
        s => s as f64,
    };
    let group = dims.hq / dims.hkv;
    let q4 = heads_first(ctx, q, dims.hq, dtype, "q")?;
    let k4 = heads_first(ctx, k, dims.hkv, dtype, "k")?;
    let v4 = heads_first(ctx, v, dims.hkv, dtype, "v")?;
    let decay = if gated {
        Some(decay_columns(ctx, &dims, dtype)?)
    } else {
        None
    };
    let beta = if delta {
        Some(beta_rows(ctx, &dims, dtype)?)
    } else {
        None
    };
    let state_dtype = match ctx.input(3) {
        Some(ps) => ctx.ty(ps).dtype,
        None => out_dtype,
    };
    let mut state = match ctx.input(3) {
        Some(ps) => cast(ctx, ps, dtype, "state_wide")?,
        None => zeros(
            ctx,
            dtype,
            &[dims.b, dims.hkv, dims.dk, dims.dv],
            "state_zero",
        )?,
    };
    let scale = scalar(ctx, dtype, scale);
    let (b, hkv, g, dk) = (dims.b as i64, dims.hkv as i64, group as i64, dims.dk as i64);
    let mut outs = Vec::with_capacity(dims.t);
    for t in 0..dims.t as i64 {
        let p = format!("t{t}");
        let at = |ctx: &mut NodeCtx<'_, '_>, x: ValueId, axis: i64, s: &str| {
            slice(ctx, x, axis, (t, t + 1), &format!("{p}_{s}"))
        };
        let kt = at(ctx, k4, 2, "k")?; // [B, Hkv, 1, dk]
        let mut vt = at(ctx, v4, 2, "v")?; // [B, Hkv, 1, dv]
        if let Some(dc) = decay {
            let gt = at(ctx, dc, 3, "decay")?; // [B, Hkv, dk or 1, 1]
            state = bin(ctx, BinaryOp::Mul, state, gt, &format!("{p}_decayed"))?;
        }
        if let Some(br) = beta {
            let read = matmul(ctx, kt, state, &format!("{p}_retrieved"))?;
            let diff = bin(ctx, BinaryOp::Sub, vt, read, &format!("{p}_residual"))?;
            let bt = at(ctx, br, 2, "beta")?; // [B, Hkv or 1, 1, 1]
            vt = bin(ctx, BinaryOp::Mul, bt, diff, &format!("{p}_v_delta"))?;
        }
        let kcol = transpose(ctx, kt, &[0, 1, 3, 2], &format!("{p}_k_column"))?;
        let outer = bin(ctx, BinaryOp::Mul, kcol, vt, &format!("{p}_outer"))?;
        state = bin(ctx, BinaryOp::Add, state, outer, &format!("{p}_state"))?;
        let qt = at(ctx, q4, 2, "q")?; // [B, Hq, 1, dk]
        let qg = reshape(ctx, qt, &[b, hkv, g, dk], &format!("{p}_q_groups"))?;
        let o = matmul(ctx, qg, state, &format!("{p}_read"))?; // [B, Hkv, G, dv]
        let o = bin(ctx, BinaryOp::Mul, o, scale, &format!("{p}_scaled"))?;
        outs.push(reshape(
            ctx,
            o,
            &[b, (dims.hq) as i64, 1, -1],
            &format!("{p}_out"),
        )?);
    }
    let width = (dims.hq * dims.dv) as i64;
    let output = match outs.as_slice() {
        [] => {
            let t = Tensor::from_bytes(out_dtype, &[dims.b, 0, dims.hq * dims.dv], Vec::new())
                .map_err(|e| ctx.ir_err(e.into()))?;
            ctx.constant(t)
        }
        parts => {
            let all = match parts {
                [single] => *single,
                _ => concat(ctx, parts, 2, "outputs")?,
            };
            let bt = transpose(ctx, all, &[0, 2, 1, 3], "outputs_bthd")?;
            let packed = reshape(ctx, bt, &[b, dims.t as i64, width], "outputs_packed")?;
            cast(ctx, packed, out_dtype, "output")?
        }
    };
    let present = cast(ctx, state, state_dtype, "present_state")?;
    let output = as_output(ctx, output, "output_copy")?;
    let present = as_output(ctx, present, "present_state_copy")?;
    take_outputs(ctx, vec![output, present])
}

/// The first `num_outputs` of `all`, refusing nodes that name more.
fn take_outputs(ctx: &NodeCtx<'_, '_>, mut all: Vec<ValueId>) -> Outs {
    if ctx.num_outputs > all.len() {
        return Err(ctx.attrs.err(
            "outputs",
            format!(
                "the operator has {} outputs, the node names {}",
                all.len(),
                ctx.num_outputs
            ),
        ));
    }
    all.truncate(ctx.num_outputs);
    Ok(all)
}

/// CausalConvWithState (opset 27): depthwise causal Conv1d over `[past_state, input]`.
pub(crate) fn causal_conv_with_state(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (x, w) = (ctx.required(0)?, ctx.required(1)?);
    let dtype = need_float(ctx, x, 0)?;
    let a = ctx.attrs;
    let silu = match a.string_or("activation", "none")?.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        other => {
            return Err(a.err(
                "activation",
                format!("expected silu, swish or none, got {other}"),
            ));
        }
    };
    let [_, channels, len] = dims3(ctx, x, 0)?;
    let [wc, wone, kernel] = dims3(ctx, w, 1)?;
    if wc != channels || wone != 1 || kernel == 0 {
        return Err(a.err(
            "input 1",
            format!("weight [{wc}, {wone}, {kernel}] is not [{channels}, 1, k >= 1]"),
        ));
    }
    let carry = (kernel - 1) as i64;
    let padded = match ctx.input(3) {
        Some(past) => concat(ctx, &[past, x], 2, "padded")?,
        None => {
            let pads = ctx.const_i64(&[0, 0, carry, 0, 0, 0])?;
            let zero = scalar(ctx, dtype, 0.0);
            ctx.emit_aux(
                Op::Pad {
                    mode: PadMode::Constant,
                },
                vec![Some(x), Some(pads), Some(zero)],
                "padded",
            )?
        }
    };
    let conv = Op::Conv {
        auto_pad: AutoPad::NotSet,
        dilations: vec![1],
        group: channels as i64,
        kernel_shape: vec![kernel as i64],
        pads: vec![0, 0],
        strides: vec![1],
    };
    let mut inputs = vec![Some(padded), Some(w)];
    if let Some(bias) = ctx.input(2) {
        inputs.push(Some(bias));
    }
    let y = ctx.emit_aux(conv, inputs, "conv")?;
    let y = if silu {
        let wide = widened(dtype);
        let yw = cast(ctx, y, wide, "conv_wide")?;
        let s = un(ctx, UnaryOp::Sigmoid, yw, "sigmoid")?;
        let m = bin(ctx, BinaryOp::Mul, yw, s, "silu")?;
        cast(ctx, m, dtype, "silu_narrow")?
    } else {
        y
    };
    // The padded input is `len + k - 1` long: its last `k - 1` positions start at `len`.
    let present = slice(ctx, padded, 2, (len as i64, i64::MAX), "present_state")?;
    let y = as_output(ctx, y, "output_copy")?;
    let present = as_output(ctx, present, "present_state_copy")?;
    take_outputs(ctx, vec![y, present])
}

/// The softmax dtype of FlexAttention: `softmax_precision`, else float32 for 16-bit inputs.
fn softmax_dtype(ctx: &NodeCtx<'_, '_>, dtype: DType) -> Result<DType, OnnxError> {
    match ctx.attrs.int("softmax_precision")? {
        Some(code) => {
            let d = dtype_of(
                i32::try_from(code).unwrap_or(-1),
                &format!("{}: softmax_precision", ctx.label),
            )?;
            if d.is_float() {
                Ok(d)
            } else {
                Err(ctx
                    .attrs
                    .err("softmax_precision", format!("{d} is not a float type")))
            }
        }
        None => Ok(widened(dtype)),
    }
}

/// FlexAttention (`ai.onnx.preview` 1).
pub(crate) fn flex_attention(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let (q, k, v) = (ctx.required(0)?, ctx.required(1)?, ctx.required(2)?);
    let dtype = need_float(ctx, q, 0)?;
    let a = ctx.attrs;
    let (qd, kd, vd) = (
        static_dims(ctx, q, 0)?,
        static_dims(ctx, k, 1)?,
        static_dims(ctx, v, 2)?,
    );
    let four = |d: &[usize], i: usize| {
        <[usize; 4]>::try_from(d).map_err(|_| a.err(&format!("input {i}"), "must be 4-D"))
    };
    let ([b, hq, l, e], [kb, hkv, s, ke], [vb, vh, vs, ev]) =
        (four(&qd, 0)?, four(&kd, 1)?, four(&vd, 2)?);
    if kb != b || vb != b || vh != hkv || vs != s || ke != e || hkv == 0 || hq % hkv != 0 {
        return Err(a.err(
            "input 1",
            format!("Q {qd:?}, K {kd:?} and V {vd:?} do not fit (grouped) attention"),
        ));
    }
    let group = hq / hkv;
    let scale = match a.float("scale")? {
        Some(sc) => sc,
        None => (1.0 / (e as f64).sqrt()) as f32,
    };
    let root = scalar(ctx, dtype, scale.sqrt() as f64);
    let qs = bin(ctx, BinaryOp::Mul, q, root, "q_scaled")?;
    let ks = bin(ctx, BinaryOp::Mul, k, root, "k_scaled")?;
    let kt = transpose(ctx, ks, &[0, 1, 3, 2], "k_t")?;
    let (b, hq, hkv, g, l, s, ev) = (
        b as i64,
        hq as i64,
        hkv as i64,
        group as i64,
        l as i64,
        s as i64,
        ev as i64,
    );
    // Grouped view: query head h reads key/value head h / group.
    let qg = reshape(ctx, qs, &[b, hkv, g * l, e as i64], "q_groups")?;
    let scores = matmul(ctx, qg, kt, "scores_grouped")?;
    let scores = reshape(ctx, scores, &[b, hq, l, s], "scores_raw")?;
    let sdt = softmax_dtype(ctx, dtype)?;
    let mut scores = cast(ctx, scores, sdt, "scores")?;
    scores = modifier(ctx, "score_mod", scores)?;
    let probs = one(ctx, Op::Softmax { axis: -1 }, scores, "softmax")?;
    let probs = modifier(ctx, "prob_mod", probs)?;
    let vw = cast(ctx, v, sdt, "v_wide")?;
    let pg = reshape(ctx, probs, &[b, hkv, g * l, s], "probs_groups")?;
    let y = matmul(ctx, pg, vw, "attend")?;
    let y = reshape(ctx, y, &[b, hq, l, ev], "attend_heads")?;
    let vdt = ctx.ty(v).dtype;
    let y = cast(ctx, y, vdt, "output")?;
    let y = as_output(ctx, y, "output_copy")?;
    take_outputs(ctx, vec![y])
}

/// `x` through FlexAttention's modifier subgraph `name` (one input, one output), if given.
fn modifier(ctx: &mut NodeCtx<'_, '_>, name: &str, x: ValueId) -> Built {
    let Some(g) = ctx.graph_attr(name)? else {
        return Ok(x);
    };
    match ctx.inline_graph(g, &[x], name)?[..] {
        [y] => Ok(y),
        ref outs => Err(ctx.attrs.err(
            name,
            format!("the subgraph must yield 1 output, it yields {}", outs.len()),
        )),
    }
}
