//! The preview domains: `ai.onnx.preview.training` (Momentum, Adagrad, Adam: one optimizer
//! step over any number of tensors, each a composition of elementwise ops) and
//! `ai.onnx.preview` (FlexAttention, in compose_attention.rs).
//!
//! The optimizers' operands are `R` (learning rate, scalar), `T` (update count, i64 scalar)
//! and then `n` tensors of each group (`X`s, `G`s, then `V`s and/or `H`s); the outputs are the
//! `n` new `X`s followed by the `n` new values of each state group.

use super::compose_attention::flex_attention;
use super::compose_kit::{Built, bin, cast, need_float, scalar, un};
use super::error::OnnxError;
use super::import::NodeCtx;
use tessera_ir::{BinaryOp, DType, Op, ReduceOp, UnaryOp, ValueId, VariadicOp};

type Outs = Result<Vec<ValueId>, OnnxError>;

/// The training preview domain.
const TRAINING: &str = "ai.onnx.preview.training";
/// The preview domain.
const PREVIEW: &str = "ai.onnx.preview";

/// Whether `domain` is one of the preview domains this module maps.
pub(crate) fn is_preview_domain(domain: &str) -> bool {
    domain == TRAINING || domain == PREVIEW
}

/// Maps one node of a preview domain; other operators are `UnsupportedOp`.
pub(crate) fn map_preview_node(ctx: &mut NodeCtx<'_, '_>, domain: &str) -> Outs {
    if ctx.num_outputs == 0 {
        return Ok(Vec::new());
    }
    match (domain, ctx.op_type) {
        (TRAINING, "Momentum") => optimizer(ctx, Optimizer::Momentum),
        (TRAINING, "Adagrad") => optimizer(ctx, Optimizer::Adagrad),
        (TRAINING, "Adam") => optimizer(ctx, Optimizer::Adam),
        (PREVIEW, "FlexAttention") => flex_attention(ctx),
        _ => Err(OnnxError::UnsupportedOp {
            node: ctx.label.to_string(),
            op_type: ctx.op_type.to_string(),
            domain: domain.to_string(),
            opset: ctx.opset,
        }),
    }
}

/// The optimizer an op runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Optimizer {
    Momentum,
    Adagrad,
    Adam,
}

impl Optimizer {
    /// Operand groups after `R` and `T` (X, G, then the states).
    fn groups(self) -> usize {
        match self {
            Optimizer::Momentum | Optimizer::Adagrad => 3,
            Optimizer::Adam => 4,
        }
    }
}

/// The scalars every tensor's update shares.
struct Common {
    /// `R` as the tensors' dtype.
    r: ValueId,
    /// `T > 0`.
    started: ValueId,
    /// `T` as the tensors' dtype.
    t: ValueId,
}

/// A required float attribute (`default` when the schema has one).
fn float_attr(ctx: &NodeCtx<'_, '_>, name: &str, default: Option<f32>) -> Result<f64, OnnxError> {
    match (ctx.attrs.float(name)?, default) {
        (Some(v), _) => Ok(v as f64),
        (None, Some(d)) => Ok(d as f64),
        (None, None) => Err(ctx.attrs.err(name, "required")),
    }
}

/// Momentum, Adagrad and Adam over every `(X, G, state...)` tuple of the node.
fn optimizer(ctx: &mut NodeCtx<'_, '_>, kind: Optimizer) -> Outs {
    let (r, t) = (ctx.required(0)?, ctx.required(1)?);
    let groups = kind.groups();
    let rest = ctx.inputs.len().saturating_sub(2);
    if rest == 0 || !rest.is_multiple_of(groups) {
        return Err(ctx.attrs.err(
            "inputs",
            format!(
                "expected R, T and {groups} groups of equally many tensors, got {rest} tensors"
            ),
        ));
    }
    let n = rest / groups;
    let mut outs: Vec<Vec<ValueId>> = vec![Vec::with_capacity(n); groups - 1];
    for i in 0..n {
        let tensors = (0..groups)
            .map(|g| ctx.required(2 + g * n + i))
            .collect::<Result<Vec<_>, _>>()?;
        let x = tensors.first().copied().unwrap_or(r);
        let dtype = need_float(ctx, x, 2 + i)?;
        let common = common(ctx, r, t, dtype, i)?;
        let updated = match kind {
            Optimizer::Momentum => momentum(ctx, &common, &tensors, dtype, i)?,
            Optimizer::Adagrad => adagrad(ctx, &common, &tensors, dtype, i)?,
            Optimizer::Adam => adam(ctx, &common, &tensors, dtype, i)?,
        };
        for (slot, v) in outs.iter_mut().zip(updated) {
            slot.push(v);
        }
    }
    let all: Vec<ValueId> = outs.into_iter().flatten().collect();
    if ctx.num_outputs > all.len() {
        return Err(ctx.attrs.err(
            "outputs",
            format!(
                "the node names {} outputs, the operator yields {}",
                ctx.num_outputs,
                all.len()
            ),
        ));
    }
    Ok(all.into_iter().take(ctx.num_outputs).collect())
}

/// `R` and `T` in the tensors' dtype, and `T > 0`.
fn common(
    ctx: &mut NodeCtx<'_, '_>,
    r: ValueId,
    t: ValueId,
    dtype: DType,
    i: usize,
) -> Result<Common, OnnxError> {
    let rd = cast(ctx, r, dtype, &format!("r{i}"))?;
    let tz = scalar(ctx, ctx.ty(t).dtype, 0.0);
    let started = bin(ctx, BinaryOp::Greater, t, tz, &format!("started{i}"))?;
    let tf = cast(ctx, t, dtype, &format!("t{i}"))?;
    Ok(Common {
        r: rd,
        started,
        t: tf,
    })
}

/// `norm_coefficient * X + G`.
fn regularized(ctx: &mut NodeCtx<'_, '_>, x: ValueId, g: ValueId, dtype: DType, p: &str) -> Built {
    let norm = float_attr(ctx, "norm_coefficient", Some(0.0))?;
    let nc = scalar(ctx, dtype, norm);
    let nx = bin(ctx, BinaryOp::Mul, nc, x, &format!("{p}_norm_x"))?;
    bin(ctx, BinaryOp::Add, nx, g, &format!("{p}_g_reg"))
}

/// Operand `k` of one tuple.
fn part(ctx: &NodeCtx<'_, '_>, tensors: &[ValueId], k: usize) -> Built {
    tensors
        .get(k)
        .copied()
        .ok_or_else(|| ctx.attrs.err("inputs", "a tensor group is missing"))
}

/// Momentum: `V' = alpha V + (T > 0 ? beta : 1) G_reg`; standard `X' = X - R V'`, Nesterov
/// `X' = X - R (G_reg + alpha V')`.
fn momentum(
    ctx: &mut NodeCtx<'_, '_>,
    c: &Common,
    tensors: &[ValueId],
    dtype: DType,
    i: usize,
) -> Result<Vec<ValueId>, OnnxError> {
    let p = format!("m{i}");
    let (x, g, v) = (
        part(ctx, tensors, 0)?,
        part(ctx, tensors, 1)?,
        part(ctx, tensors, 2)?,
    );
    let alpha = float_attr(ctx, "alpha", None)?;
    let beta = float_attr(ctx, "beta", None)?;
    let nesterov = match ctx.attrs.string("mode")?.as_deref() {
        Some("standard") => false,
        Some("nesterov") => true,
        Some(m) => {
            return Err(ctx
                .attrs
                .err("mode", format!("expected standard or nesterov, got {m}")));
        }
        None => return Err(ctx.attrs.err("mode", "required")),
    };
    let g_reg = regularized(ctx, x, g, dtype, &p)?;
    let (b, one) = (scalar(ctx, dtype, beta), scalar(ctx, dtype, 1.0));
    let b_adj = ctx.emit_aux(
        Op::Where {},
        vec![Some(c.started), Some(b), Some(one)],
        &format!("{p}_beta"),
    )?;
    let a = scalar(ctx, dtype, alpha);
    let av = bin(ctx, BinaryOp::Mul, a, v, &format!("{p}_alpha_v"))?;
    let bg = bin(ctx, BinaryOp::Mul, b_adj, g_reg, &format!("{p}_beta_g"))?;
    let v_new = bin(ctx, BinaryOp::Add, av, bg, &format!("{p}_v_new"))?;
    let dir = if nesterov {
        let av2 = bin(ctx, BinaryOp::Mul, a, v_new, &format!("{p}_alpha_v_new"))?;
        bin(ctx, BinaryOp::Add, g_reg, av2, &format!("{p}_direction"))?
    } else {
        v_new
    };
    let step = bin(ctx, BinaryOp::Mul, c.r, dir, &format!("{p}_step"))?;
    let x_new = bin(ctx, BinaryOp::Sub, x, step, &format!("{p}_x_new"))?;
    Ok(vec![x_new, v_new])
}

/// Adagrad: `r = R / (1 + T decay)`, `H' = H + G_reg^2`, `X' = X - r G_reg / (sqrt(H') + eps)`.
fn adagrad(
    ctx: &mut NodeCtx<'_, '_>,
    c: &Common,
    tensors: &[ValueId],
    dtype: DType,
    i: usize,
) -> Result<Vec<ValueId>, OnnxError> {
    let p = format!("a{i}");
    let (x, g, h) = (
        part(ctx, tensors, 0)?,
        part(ctx, tensors, 1)?,
        part(ctx, tensors, 2)?,
    );
    let decay = float_attr(ctx, "decay_factor", Some(0.0))?;
    let eps = float_attr(ctx, "epsilon", Some(1e-6))?;
    let d = scalar(ctx, dtype, decay);
    let td = bin(ctx, BinaryOp::Mul, c.t, d, &format!("{p}_t_decay"))?;
    let one = scalar(ctx, dtype, 1.0);
    let denom = bin(ctx, BinaryOp::Add, one, td, &format!("{p}_lr_denom"))?;
    let lr = bin(ctx, BinaryOp::Div, c.r, denom, &format!("{p}_lr"))?;
    let g_reg = regularized(ctx, x, g, dtype, &p)?;
    let sq = bin(ctx, BinaryOp::Mul, g_reg, g_reg, &format!("{p}_g_sq"))?;
    let h_new = bin(ctx, BinaryOp::Add, h, sq, &format!("{p}_h_new"))?;
    let root = un(ctx, UnaryOp::Sqrt, h_new, &format!("{p}_h_sqrt"))?;
    let e = scalar(ctx, dtype, eps);
    let adaptive = bin(ctx, BinaryOp::Add, root, e, &format!("{p}_h_adaptive"))?;
    let num = bin(ctx, BinaryOp::Mul, lr, g_reg, &format!("{p}_lr_g"))?;
    let step = bin(ctx, BinaryOp::Div, num, adaptive, &format!("{p}_step"))?;
    let x_new = bin(ctx, BinaryOp::Sub, x, step, &format!("{p}_x_new"))?;
    Ok(vec![x_new, h_new])
}

/// Adam: `V' = a V + (1 - a) G_reg`, `H' = b H + (1 - b) G_reg^2`,
/// `R' = T > 0 ? R sqrt(1 - b^T) / (1 - a^T) : R`, `X' = (1 - post) (X - R' V' / (sqrt(H') + eps))`.
fn adam(
    ctx: &mut NodeCtx<'_, '_>,
    c: &Common,
    tensors: &[ValueId],
    dtype: DType,
    i: usize,
) -> Result<Vec<ValueId>, OnnxError> {
    let p = format!("adam{i}");
    let x = part(ctx, tensors, 0)?;
    let g = part(ctx, tensors, 1)?;
    let v = part(ctx, tensors, 2)?;
    let h = part(ctx, tensors, 3)?;
    let alpha = float_attr(ctx, "alpha", Some(0.9))?;
    let beta = float_attr(ctx, "beta", Some(0.999))?;
    let eps = float_attr(ctx, "epsilon", Some(1e-6))?;
    let post = float_attr(ctx, "norm_coefficient_post", Some(0.0))?;
    let g_reg = regularized(ctx, x, g, dtype, &p)?;
    let (a, a1) = (scalar(ctx, dtype, alpha), scalar(ctx, dtype, 1.0 - alpha));
    let av = bin(ctx, BinaryOp::Mul, a, v, &format!("{p}_alpha_v"))?;
    let ag = bin(ctx, BinaryOp::Mul, a1, g_reg, &format!("{p}_alpha_g"))?;
    let v_new = bin(ctx, BinaryOp::Add, av, ag, &format!("{p}_v_new"))?;
    let (b, b1) = (scalar(ctx, dtype, beta), scalar(ctx, dtype, 1.0 - beta));
    let bh = bin(ctx, BinaryOp::Mul, b, h, &format!("{p}_beta_h"))?;
    let sq = bin(ctx, BinaryOp::Mul, g_reg, g_reg, &format!("{p}_g_sq"))?;
    let bg = bin(ctx, BinaryOp::Mul, b1, sq, &format!("{p}_beta_g"))?;
    let h_new = bin(ctx, BinaryOp::Add, bh, bg, &format!("{p}_h_new"))?;
    let root = un(ctx, UnaryOp::Sqrt, h_new, &format!("{p}_h_sqrt"))?;
    let e = scalar(ctx, dtype, eps);
    let h_sqrt = bin(ctx, BinaryOp::Add, root, e, &format!("{p}_h_adaptive"))?;
    // Bias correction: R * sqrt(1 - beta^T) / (1 - alpha^T) once T > 0.
    let one = scalar(ctx, dtype, 1.0);
    let bt = bin(ctx, BinaryOp::Pow, b, c.t, &format!("{p}_beta_t"))?;
    let bc = bin(
        ctx,
        BinaryOp::Sub,
        one,
        bt,
        &format!("{p}_one_minus_beta_t"),
    )?;
    let bc = un(ctx, UnaryOp::Sqrt, bc, &format!("{p}_sqrt_beta_t"))?;
    let at = bin(ctx, BinaryOp::Pow, a, c.t, &format!("{p}_alpha_t"))?;
    let ac = bin(
        ctx,
        BinaryOp::Sub,
        one,
        at,
        &format!("{p}_one_minus_alpha_t"),
    )?;
    let rb = bin(ctx, BinaryOp::Mul, c.r, bc, &format!("{p}_r_beta"))?;
    let corrected = bin(ctx, BinaryOp::Div, rb, ac, &format!("{p}_r_corrected"))?;
    let r_adj = ctx.emit_aux(
        Op::Where {},
        vec![Some(c.started), Some(corrected), Some(c.r)],
        &format!("{p}_r_adjusted"),
    )?;
    let ratio = bin(ctx, BinaryOp::Div, v_new, h_sqrt, &format!("{p}_ratio"))?;
    let step = bin(ctx, BinaryOp::Mul, r_adj, ratio, &format!("{p}_step"))?;
    let x_new = bin(ctx, BinaryOp::Sub, x, step, &format!("{p}_x_stepped"))?;
    let x_final = if post == 0.0 {
        x_new
    } else {
        let k = scalar(ctx, dtype, 1.0 - post);
        bin(ctx, BinaryOp::Mul, k, x_new, &format!("{p}_x_new"))?
    };
    Ok(vec![x_final, v_new, h_new])
}

/// DynamicQuantizeLinear (opset 11): uint8 `y`, the f32 scale and the uint8 zero point of the
/// range `[min(0, min x), max(0, max x)]`; rounding is half-to-even, results saturate.
pub(crate) fn dynamic_quantize_linear(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let x = ctx.required(0)?;
    let dtype = need_float(ctx, x, 0)?;
    let whole = |kind| Op::Reduce {
        kind,
        keepdims: false,
        noop_with_empty_axes: false,
    };
    let zero = scalar(ctx, dtype, 0.0);
    let hi = ctx.emit_aux(whole(ReduceOp::Max), vec![Some(x)], "max")?;
    let lo = ctx.emit_aux(whole(ReduceOp::Min), vec![Some(x)], "min")?;
    let max_op = Op::Variadic(VariadicOp::Max);
    let min_op = Op::Variadic(VariadicOp::Min);
    let hi = ctx.emit_aux(max_op, vec![Some(hi), Some(zero)], "max0")?;
    let lo = ctx.emit_aux(min_op, vec![Some(lo), Some(zero)], "min0")?;
    let range = bin(ctx, BinaryOp::Sub, hi, lo, "range")?;
    let flat = bin(ctx, BinaryOp::Equal, hi, lo, "flat")?;
    let one = scalar(ctx, dtype, 1.0);
    let range = ctx.emit_aux(
        Op::Where {},
        vec![Some(flat), Some(one), Some(range)],
        "range_or_one",
    )?;
    let levels = scalar(ctx, dtype, 255.0);
    let scale = bin(ctx, BinaryOp::Div, range, levels, "scale")?;
    let (qlo, qhi) = (zero, levels);
    let shifted = bin(ctx, BinaryOp::Div, lo, scale, "min_scaled")?;
    let zp = un(ctx, UnaryOp::Neg, shifted, "zero_point_exact")?;
    let zp = ctx.emit_aux(
        Op::Clip {},
        vec![Some(zp), Some(qlo), Some(qhi)],
        "zero_point_clipped",
    )?;
    let zp = un(ctx, UnaryOp::Round, zp, "zero_point_rounded")?;
    let q = bin(ctx, BinaryOp::Div, x, scale, "divide")?;
    let q = un(ctx, UnaryOp::Round, q, "round")?;
    let q = bin(ctx, BinaryOp::Add, q, zp, "shift")?;
    let q = ctx.emit_aux(Op::Clip {}, vec![Some(q), Some(qlo), Some(qhi)], "saturate")?;
    let y = ctx.emit_aux(
        Op::Cast {
            to: DType::U8,
            saturate: true,
        },
        vec![Some(q)],
        "y",
    )?;
    let scale_out = cast(ctx, scale, dtype, "y_scale")?;
    let zp_out = ctx.emit_aux(
        Op::Cast {
            to: DType::U8,
            saturate: true,
        },
        vec![Some(zp)],
        "y_zero_point",
    )?;
    let all = [y, scale_out, zp_out];
    if ctx.num_outputs > all.len() {
        return Err(ctx.attrs.err("outputs", "the operator has 3 outputs"));
    }
    Ok(all.into_iter().take(ctx.num_outputs).collect())
}
