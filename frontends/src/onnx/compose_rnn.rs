//! RNN, GRU and LSTM as compositions of IR ops, unrolled over the (static) sequence length.
//!
//! Per direction: one MatMul projects every step's input (plus the folded biases), then each
//! step adds the recurrent MatMul of the previous hidden state, applies the gate activations
//! (clipped first when `clip` is set; LSTM's output activation `h` is not clipped) and updates
//! the state. `sequence_lens` masks finished sequences (their state is kept, their outputs are
//! 0); the reverse direction then runs over each sequence reversed within its own length (a
//! GatherElements) and reverses the outputs back. Every attribute is honoured: direction,
//! activations with their alpha/beta (consumed in order by the activations that take them, with
//! ONNX's defaults otherwise), clip, linear_before_reset, input_forget, layout, peepholes,
//! initial states and the optional outputs `Y`, `Y_h`, `Y_c`.

use super::compose_kit::{
    Built, bin, cast, check_unroll, concat, matmul, need_float, one, reshape, scalar, slice,
    static_dims, transpose, un, unsqueeze, zeros,
};
use super::error::OnnxError;
use super::import::NodeCtx;
use tessera_ir::{BinaryOp, DType, Op, Tensor, UnaryOp, ValueId};

type Outs = Result<Vec<ValueId>, OnnxError>;

/// The recurrent cell kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    Rnn,
    Gru,
    Lstm,
}

impl Cell {
    /// Gates stacked in W/R/B.
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }

    /// The default activations of one direction (f, g, h as the cell uses them).
    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Cell::Rnn => &["Tanh"],
            Cell::Gru => &["Sigmoid", "Tanh"],
            Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
        }
    }
}

/// One activation function of the recurrent operators, with its alpha/beta.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    Relu,
    Tanh,
    Sigmoid,
    Affine(f32, f32),
    LeakyRelu(f32),
    ThresholdedRelu(f32),
    ScaledTanh(f32, f32),
    HardSigmoid(f32, f32),
    Elu(f32),
    Softsign,
    Softplus,
}

/// Parses an activation name (case-insensitive), taking its alpha/beta from the iterators
/// when it uses them (defaults otherwise).
fn parse_act(
    name: &str,
    alphas: &mut impl Iterator<Item = f32>,
    betas: &mut impl Iterator<Item = f32>,
) -> Option<Act> {
    let mut a = |d: f32| alphas.next().unwrap_or(d);
    Some(match name.to_ascii_lowercase().as_str() {
        "relu" => Act::Relu,
        "tanh" => Act::Tanh,
        "sigmoid" => Act::Sigmoid,
        "affine" => {
            let alpha = a(1.0);
            Act::Affine(alpha, betas.next().unwrap_or(0.0))
        }
        "leakyrelu" => Act::LeakyRelu(a(0.01)),
        "thresholdedrelu" => Act::ThresholdedRelu(a(1.0)),
        "scaledtanh" => {
            let alpha = a(1.0);
            Act::ScaledTanh(alpha, betas.next().unwrap_or(1.0))
        }
        "hardsigmoid" => {
            let alpha = a(0.2);
            Act::HardSigmoid(alpha, betas.next().unwrap_or(0.5))
        }
        "elu" => Act::Elu(a(1.0)),
        "softsign" => Act::Softsign,
        "softplus" => Act::Softplus,
        _ => return None,
    })
}

/// The activations of each direction (`dirs` lists of the cell's count).
fn activations(ctx: &NodeCtx<'_, '_>, cell: Cell, dirs: usize) -> Result<Vec<Vec<Act>>, OnnxError> {
    let a = ctx.attrs;
    let per = cell.default_activations().len();
    let mut names: Vec<String> = match a.get("activations") {
        Some(attr) if !attr.strings.is_empty() => attr
            .strings
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
        _ => cell
            .default_activations()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    if names.len() == per && dirs == 2 {
        names.extend_from_within(..);
    }
    if names.len() != per * dirs {
        return Err(a.err(
            "activations",
            format!(
                "expected {} names ({per} per direction), got {}",
                per * dirs,
                names.len()
            ),
        ));
    }
    let mut alphas = a
        .floats("activation_alpha")?
        .unwrap_or_default()
        .into_iter();
    let mut betas = a.floats("activation_beta")?.unwrap_or_default().into_iter();
    let mut acts = Vec::with_capacity(names.len());
    for n in &names {
        let act = parse_act(n, &mut alphas, &mut betas)
            .ok_or_else(|| a.err("activations", format!("unsupported activation `{n}`")))?;
        acts.push(act);
    }
    Ok(acts.chunks(per).map(<[Act]>::to_vec).collect())
}

/// `act(clip(x))`.
fn activate(ctx: &mut NodeCtx<'_, '_>, act: Act, x: ValueId, clip: Option<f32>, s: &str) -> Built {
    let dtype = ctx.ty(x).dtype;
    let x = match clip {
        Some(c) => {
            let (lo, hi) = (scalar(ctx, dtype, -c as f64), scalar(ctx, dtype, c as f64));
            ctx.emit_aux(
                Op::Clip {},
                vec![Some(x), Some(lo), Some(hi)],
                &format!("{s}_clip"),
            )?
        }
        None => x,
    };
    let affine = |ctx: &mut NodeCtx<'_, '_>, x: ValueId, alpha: f32, beta: f32, s: &str| {
        let al = scalar(ctx, dtype, alpha as f64);
        let m = bin(ctx, BinaryOp::Mul, x, al, &format!("{s}_scale"))?;
        let be = scalar(ctx, dtype, beta as f64);
        bin(ctx, BinaryOp::Add, m, be, s)
    };
    match act {
        Act::Relu => un(ctx, UnaryOp::Relu, x, s),
        Act::Tanh => un(ctx, UnaryOp::Tanh, x, s),
        Act::Sigmoid => un(ctx, UnaryOp::Sigmoid, x, s),
        Act::Softsign => un(ctx, UnaryOp::Softsign, x, s),
        Act::Softplus => un(ctx, UnaryOp::Softplus, x, s),
        Act::Affine(alpha, beta) => affine(ctx, x, alpha, beta, s),
        Act::LeakyRelu(alpha) => one(ctx, Op::LeakyRelu { alpha }, x, s),
        Act::ThresholdedRelu(alpha) => one(ctx, Op::ThresholdedRelu { alpha }, x, s),
        Act::HardSigmoid(alpha, beta) => one(ctx, Op::HardSigmoid { alpha, beta }, x, s),
        Act::Elu(alpha) => one(ctx, Op::Elu { alpha }, x, s),
        Act::ScaledTanh(alpha, beta) => {
            let b = scalar(ctx, dtype, beta as f64);
            let inner = bin(ctx, BinaryOp::Mul, x, b, &format!("{s}_in"))?;
            let t = un(ctx, UnaryOp::Tanh, inner, &format!("{s}_tanh"))?;
            let a = scalar(ctx, dtype, alpha as f64);
            bin(ctx, BinaryOp::Mul, t, a, s)
        }
    }
}

/// What every direction of one node shares.
struct Spec {
    cell: Cell,
    dtype: DType,
    seq: usize,
    batch: usize,
    hidden: usize,
    clip: Option<f32>,
    linear_before_reset: bool,
    input_forget: bool,
    /// The input as `[seq, batch, input]`.
    x: ValueId,
    w: ValueId,
    r: ValueId,
    b: Option<ValueId>,
    /// `sequence_lens` as i64 `[1, batch, 1]`, clamped to `0..=seq`.
    lens: Option<ValueId>,
    /// Initial states as `[dirs, batch, hidden]`.
    h0: Option<ValueId>,
    c0: Option<ValueId>,
    p: Option<ValueId>,
}

/// The per-step outputs (`[seq, batch, hidden]`) and the last hidden (and cell) state of one
/// direction.
struct DirOut {
    y: ValueId,
    h: ValueId,
    c: Option<ValueId>,
}

/// RNN, GRU and LSTM.
pub(crate) fn recurrent(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    let cell = match ctx.op_type {
        "RNN" => Cell::Rnn,
        "GRU" => Cell::Gru,
        _ => Cell::Lstm,
    };
    let a = ctx.attrs;
    let (x, w, r) = (ctx.required(0)?, ctx.required(1)?, ctx.required(2)?);
    let dtype = need_float(ctx, x, 0)?;
    let direction = a.string_or("direction", "forward")?;
    let dirs = match direction.as_str() {
        "forward" | "reverse" => 1,
        "bidirectional" => 2,
        d => {
            return Err(a.err(
                "direction",
                format!("expected forward, reverse or bidirectional, got {d}"),
            ));
        }
    };
    let layout = if ctx.opset >= 14 {
        a.int_or("layout", 0)?
    } else {
        0
    };
    if layout != 0 && layout != 1 {
        return Err(a.err("layout", format!("expected 0 or 1, got {layout}")));
    }
    let clip = match a.float("clip")? {
        Some(c) if c > 0.0 && !c.is_nan() => Some(c),
        Some(c) => return Err(a.err("clip", format!("must be positive, got {c}"))),
        None => None,
    };
    let acts = activations(ctx, cell, dirs)?;
    let [s0, s1, _] = static_dims(ctx, x, 0)?[..] else {
        return Err(a.err("input 0", "X must be 3-D"));
    };
    let (seq, batch) = if layout == 0 { (s0, s1) } else { (s1, s0) };
    check_unroll(ctx, seq)?;
    let wd = static_dims(ctx, w, 1)?;
    let rd = static_dims(ctx, r, 2)?;
    let gates = cell.gates();
    let hidden = rd.last().copied().unwrap_or(0);
    if wd.len() != 3
        || rd.len() != 3
        || wd.first() != Some(&dirs)
        || rd.first() != Some(&dirs)
        || wd.get(1) != Some(&(gates * hidden))
        || rd.get(1) != Some(&(gates * hidden))
    {
        return Err(a.err(
            "input 1",
            format!("W {wd:?} and R {rd:?} do not fit {dirs} direction(s) of {gates} gate(s)"),
        ));
    }
    if let Some(hs) = a.int("hidden_size")?
        && hs != hidden as i64
    {
        return Err(a.err(
            "hidden_size",
            format!("{hs} does not match R's hidden size {hidden}"),
        ));
    }
    let x = if layout == 1 {
        transpose(ctx, x, &[1, 0, 2], "x_seq_major")?
    } else {
        x
    };
    let lens = match ctx.input(4) {
        Some(l) => {
            let l = cast(ctx, l, DType::I64, "lens_i64")?;
            let (lo, hi) = (
                ctx.constant(Tensor::scalar(0i64)),
                ctx.constant(Tensor::scalar(seq as i64)),
            );
            let l = ctx.emit_aux(
                Op::Clip {},
                vec![Some(l), Some(lo), Some(hi)],
                "lens_clamped",
            )?;
            Some(reshape(ctx, l, &[1, -1, 1], "lens_column")?)
        }
        None => None,
    };
    let state = |ctx: &mut NodeCtx<'_, '_>, i: usize, s: &str| match ctx.input(i) {
        Some(v) if layout == 1 => transpose(ctx, v, &[1, 0, 2], s).map(Some),
        other => Ok(other),
    };
    let h0 = state(ctx, 5, "initial_h")?;
    let (c0, p) = if cell == Cell::Lstm {
        (state(ctx, 6, "initial_c")?, ctx.input(7))
    } else {
        (None, None)
    };
    let spec = Spec {
        cell,
        dtype,
        seq,
        batch,
        hidden,
        clip,
        linear_before_reset: cell == Cell::Gru && a.int_or("linear_before_reset", 0)? != 0,
        input_forget: cell == Cell::Lstm && a.int_or("input_forget", 0)? != 0,
        x,
        w,
        r,
        b: ctx.input(3),
        lens,
        h0,
        c0,
        p,
    };
    let mut outs = Vec::with_capacity(dirs);
    for (d, acts) in acts.iter().enumerate() {
        let reverse = direction == "reverse" || d == 1;
        outs.push(direction_pass(ctx, &spec, d, reverse, acts)?);
    }
    finish(ctx, &spec, &outs, layout)
}

/// Stacks the directions' results into `Y`, `Y_h`, `Y_c` (in the node's layout).
fn finish(ctx: &mut NodeCtx<'_, '_>, spec: &Spec, outs: &[DirOut], layout: i64) -> Outs {
    let ys = outs
        .iter()
        .enumerate()
        .map(|(d, o)| unsqueeze(ctx, o.y, &[1], &format!("d{d}_y_4d")))
        .collect::<Result<Vec<_>, _>>()?;
    let join = |ctx: &mut NodeCtx<'_, '_>, parts: &[ValueId], axis: i64, s: &str| match parts {
        [single] => Ok(*single),
        _ => concat(ctx, parts, axis, s),
    };
    let mut y = join(ctx, &ys, 1, "y")?;
    let hs: Vec<ValueId> = outs.iter().map(|o| o.h).collect();
    let mut y_h = join(ctx, &hs, 0, "y_h")?;
    let cs: Vec<ValueId> = outs.iter().filter_map(|o| o.c).collect();
    let mut y_c = if cs.len() == outs.len() && !cs.is_empty() {
        Some(join(ctx, &cs, 0, "y_c")?)
    } else {
        None
    };
    if layout == 1 {
        y = transpose(ctx, y, &[2, 0, 1, 3], "y_batch_major")?;
        y_h = transpose(ctx, y_h, &[1, 0, 2], "y_h_batch_major")?;
        y_c = match y_c {
            Some(c) => Some(transpose(ctx, c, &[1, 0, 2], "y_c_batch_major")?),
            None => None,
        };
    }
    let mut result = vec![y, y_h];
    if spec.cell == Cell::Lstm
        && let Some(c) = y_c
    {
        result.push(c);
    }
    if ctx.num_outputs > result.len() {
        return Err(ctx.attrs.err(
            "outputs",
            format!(
                "the operator has {} outputs, the node names {}",
                result.len(),
                ctx.num_outputs
            ),
        ));
    }
    result.truncate(ctx.num_outputs);
    for v in result.iter_mut() {
        *v = super::compose_kit::as_output(ctx, *v, "output")?;
    }
    Ok(result)
}

/// Row `d` of a `[dirs, n...]` operand as `[n...]` with the given shape.
fn direction_row(ctx: &mut NodeCtx<'_, '_>, v: ValueId, d: usize, shape: &[i64], s: &str) -> Built {
    let row = slice(ctx, v, 0, (d as i64, d as i64 + 1), &format!("{s}_row"))?;
    reshape(ctx, row, shape, s)
}

/// The per-position source index that reverses each batch row within its length:
/// `t < len ? len - 1 - t : t`, as i64 `[seq, batch, 1]`.
fn reversal_index(ctx: &mut NodeCtx<'_, '_>, lens: ValueId, seq: usize, s: &str) -> Built {
    let t: Vec<i64> = (0..seq as i64).collect();
    let t = Tensor::from_slice(&[seq, 1, 1], &t).map_err(|e| ctx.ir_err(e.into()))?;
    let t = ctx.constant(t);
    let one = ctx.constant(Tensor::scalar(1i64));
    let last = bin(ctx, BinaryOp::Sub, lens, one, &format!("{s}_last"))?;
    let rev = bin(ctx, BinaryOp::Sub, last, t, &format!("{s}_mirror"))?;
    let inside = bin(ctx, BinaryOp::Less, t, lens, &format!("{s}_inside"))?;
    ctx.emit_aux(Op::Where {}, vec![Some(inside), Some(rev), Some(t)], s)
}

/// `x` (`[seq, batch, width]`) with each batch row reversed within its length.
fn reverse_rows(
    ctx: &mut NodeCtx<'_, '_>,
    x: ValueId,
    index: ValueId,
    dims: [usize; 3],
    s: &str,
) -> Built {
    let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let shape = ctx.const_i64(&shape)?;
    let idx = ctx.emit_aux(
        Op::Expand {},
        vec![Some(index), Some(shape)],
        &format!("{s}_index"),
    )?;
    ctx.emit_aux(Op::GatherElements { axis: 0 }, vec![Some(x), Some(idx)], s)
}

/// The recurrent weights, biases and peepholes of one direction.
struct Weights {
    /// `R^T`: `[hidden, gates * hidden]`.
    rt: ValueId,
    /// GRU with linear_before_reset: the `Rb` of the hidden gate, added inside the reset.
    rbh: Option<ValueId>,
    /// LSTM peepholes `(p_i, p_o, p_f)`, each `[hidden]`.
    peep: Option<(ValueId, ValueId, ValueId)>,
}

/// The input projection `X W^T + Wb (+ Rb)` of every step: `[seq, batch, gates * hidden]`;
/// and the recurrent weights.
fn project(
    ctx: &mut NodeCtx<'_, '_>,
    spec: &Spec,
    d: usize,
) -> Result<(ValueId, Weights), OnnxError> {
    let p = format!("d{d}");
    let gh = (spec.cell.gates() * spec.hidden) as i64;
    let h = spec.hidden as i64;
    let w = direction_row(ctx, spec.w, d, &[gh, -1], &format!("{p}_w"))?;
    let wt = transpose(ctx, w, &[1, 0], &format!("{p}_w_t"))?;
    let r = direction_row(ctx, spec.r, d, &[gh, h], &format!("{p}_r"))?;
    let rt = transpose(ctx, r, &[1, 0], &format!("{p}_r_t"))?;
    let mut xw = matmul(ctx, spec.x, wt, &format!("{p}_x_proj"))?;
    let mut rbh = None;
    if let Some(b) = spec.b {
        let b = direction_row(ctx, b, d, &[2 * gh], &format!("{p}_b"))?;
        let wb = slice(ctx, b, 0, (0, gh), &format!("{p}_wb"))?;
        let rb = slice(ctx, b, 0, (gh, 2 * gh), &format!("{p}_rb"))?;
        let bias = if spec.linear_before_reset {
            let wzr = slice(ctx, wb, 0, (0, 2 * h), &format!("{p}_wb_zr"))?;
            let rzr = slice(ctx, rb, 0, (0, 2 * h), &format!("{p}_rb_zr"))?;
            let zr = bin(ctx, BinaryOp::Add, wzr, rzr, &format!("{p}_b_zr"))?;
            let wbh = slice(ctx, wb, 0, (2 * h, 3 * h), &format!("{p}_wb_h"))?;
            rbh = Some(slice(ctx, rb, 0, (2 * h, 3 * h), &format!("{p}_rb_h"))?);
            concat(ctx, &[zr, wbh], 0, &format!("{p}_b_x"))?
        } else {
            bin(ctx, BinaryOp::Add, wb, rb, &format!("{p}_b_x"))?
        };
        xw = bin(ctx, BinaryOp::Add, xw, bias, &format!("{p}_x_proj_b"))?;
    }
    let peep = match spec.p {
        Some(pp) => {
            let pp = direction_row(ctx, pp, d, &[3 * h], &format!("{p}_p"))?;
            Some((
                slice(ctx, pp, 0, (0, h), &format!("{p}_p_i"))?,
                slice(ctx, pp, 0, (h, 2 * h), &format!("{p}_p_o"))?,
                slice(ctx, pp, 0, (2 * h, 3 * h), &format!("{p}_p_f"))?,
            ))
        }
        None => None,
    };
    Ok((xw, Weights { rt, rbh, peep }))
}

/// The initial state `v` (h or c; zeros when absent) of direction `d` as `[1, batch, hidden]`.
fn initial(ctx: &mut NodeCtx<'_, '_>, spec: &Spec, v: Option<ValueId>, d: usize, s: &str) -> Built {
    let (b, h) = (spec.batch as i64, spec.hidden as i64);
    match v {
        Some(v) => direction_row(ctx, v, d, &[1, b, h], s),
        None => zeros(ctx, spec.dtype, &[1, spec.batch, spec.hidden], s),
    }
}

/// One direction over the whole sequence.
fn direction_pass(
    ctx: &mut NodeCtx<'_, '_>,
    spec: &Spec,
    d: usize,
    reverse: bool,
    acts: &[Act],
) -> Result<DirOut, OnnxError> {
    let (mut xw, wts) = project(ctx, spec, d)?;
    let gh = spec.cell.gates() * spec.hidden;
    // With lengths, a reverse pass runs forward over rows reversed within their lengths.
    let reversal = match (reverse, spec.lens) {
        (true, Some(lens)) => {
            let idx = reversal_index(ctx, lens, spec.seq, &format!("d{d}_reversal"))?;
            xw = reverse_rows(
                ctx,
                xw,
                idx,
                [spec.seq, spec.batch, gh],
                &format!("d{d}_x_reversed"),
            )?;
            Some(idx)
        }
        _ => None,
    };
    let walk_backwards = reverse && reversal.is_none();
    let mut h = initial(ctx, spec, spec.h0, d, &format!("d{d}_h0"))?;
    let mut c = match spec.cell {
        Cell::Lstm => Some(initial(ctx, spec, spec.c0, d, &format!("d{d}_c0"))?),
        _ => None,
    };
    let zero = scalar(ctx, spec.dtype, 0.0);
    let mut ys: Vec<Option<ValueId>> = vec![None; spec.seq];
    for k in 0..spec.seq {
        let t = if walk_backwards { spec.seq - 1 - k } else { k };
        let p = format!("d{d}_t{t}");
        let xt = slice(ctx, xw, 0, (t as i64, t as i64 + 1), &format!("{p}_x"))?;
        let (h_new, c_new) = step(ctx, spec, &wts, acts, xt, h, c, &p)?;
        let (y, h_next, c_next) = match spec.lens {
            Some(lens) => {
                let tc = ctx.constant(Tensor::scalar(t as i64));
                let live = bin(ctx, BinaryOp::Less, tc, lens, &format!("{p}_live"))?;
                let pick = |ctx: &mut NodeCtx<'_, '_>, a: ValueId, b: ValueId, s: &str| {
                    ctx.emit_aux(Op::Where {}, vec![Some(live), Some(a), Some(b)], s)
                };
                let y = pick(ctx, h_new, zero, &format!("{p}_y"))?;
                let hn = pick(ctx, h_new, h, &format!("{p}_h_kept"))?;
                let cn = match (c_new, c) {
                    (Some(cn), Some(cp)) => Some(pick(ctx, cn, cp, &format!("{p}_c_kept"))?),
                    _ => None,
                };
                (y, hn, cn)
            }
            None => (h_new, h_new, c_new),
        };
        if let Some(slot) = ys.get_mut(t) {
            *slot = Some(y);
        }
        h = h_next;
        c = c_next;
    }
    let ys: Vec<ValueId> = ys.into_iter().flatten().collect();
    let mut y = match ys.as_slice() {
        [] => zeros(
            ctx,
            spec.dtype,
            &[0, spec.batch, spec.hidden],
            &format!("d{d}_y"),
        )?,
        [single] => *single,
        _ => concat(ctx, &ys, 0, &format!("d{d}_y"))?,
    };
    if let Some(idx) = reversal
        && spec.seq > 0
    {
        y = reverse_rows(
            ctx,
            y,
            idx,
            [spec.seq, spec.batch, spec.hidden],
            &format!("d{d}_y_restored"),
        )?;
    }
    Ok(DirOut { y, h, c })
}

/// The activation `i` of a direction (the list has the cell's count).
fn act(acts: &[Act], i: usize) -> Act {
    acts.get(i).copied().unwrap_or(Act::Tanh)
}

/// One cell step: the new hidden (and cell) state, each `[1, batch, hidden]`.
#[allow(clippy::too_many_arguments)]
fn step(
    ctx: &mut NodeCtx<'_, '_>,
    spec: &Spec,
    wts: &Weights,
    acts: &[Act],
    xt: ValueId,
    h: ValueId,
    c: Option<ValueId>,
    p: &str,
) -> Result<(ValueId, Option<ValueId>), OnnxError> {
    let hs = spec.hidden as i64;
    let part = |ctx: &mut NodeCtx<'_, '_>, v: ValueId, i: i64, s: &str| {
        slice(ctx, v, -1, (i * hs, (i + 1) * hs), &format!("{p}_{s}"))
    };
    let clip = spec.clip;
    match spec.cell {
        Cell::Rnn => {
            let hr = matmul(ctx, h, wts.rt, &format!("{p}_h_proj"))?;
            let g = bin(ctx, BinaryOp::Add, xt, hr, &format!("{p}_pre"))?;
            Ok((
                activate(ctx, act(acts, 0), g, clip, &format!("{p}_h"))?,
                None,
            ))
        }
        Cell::Gru => {
            let r_zr = slice(ctx, wts.rt, 1, (0, 2 * hs), &format!("{p}_r_zr"))?;
            let r_h = slice(ctx, wts.rt, 1, (2 * hs, 3 * hs), &format!("{p}_r_h"))?;
            let hzr = matmul(ctx, h, r_zr, &format!("{p}_h_proj_zr"))?;
            let xzr = slice(ctx, xt, -1, (0, 2 * hs), &format!("{p}_x_zr"))?;
            let zr = bin(ctx, BinaryOp::Add, xzr, hzr, &format!("{p}_pre_zr"))?;
            let zp = part(ctx, zr, 0, "pre_z")?;
            let rp = part(ctx, zr, 1, "pre_r")?;
            let z = activate(ctx, act(acts, 0), zp, clip, &format!("{p}_z"))?;
            let rg = activate(ctx, act(acts, 0), rp, clip, &format!("{p}_r"))?;
            let xh = part(ctx, xt, 2, "x_h")?;
            let inner = if spec.linear_before_reset {
                let hh = matmul(ctx, h, r_h, &format!("{p}_h_proj_h"))?;
                let hh = match wts.rbh {
                    Some(b) => bin(ctx, BinaryOp::Add, hh, b, &format!("{p}_h_proj_hb"))?,
                    None => hh,
                };
                bin(ctx, BinaryOp::Mul, rg, hh, &format!("{p}_reset"))?
            } else {
                let rh = bin(ctx, BinaryOp::Mul, rg, h, &format!("{p}_reset"))?;
                matmul(ctx, rh, r_h, &format!("{p}_h_proj_h"))?
            };
            let pre_h = bin(ctx, BinaryOp::Add, xh, inner, &format!("{p}_pre_h"))?;
            let cand = activate(ctx, act(acts, 1), pre_h, clip, &format!("{p}_cand"))?;
            let one = scalar(ctx, spec.dtype, 1.0);
            let keep = bin(ctx, BinaryOp::Sub, one, z, &format!("{p}_one_minus_z"))?;
            let a = bin(ctx, BinaryOp::Mul, keep, cand, &format!("{p}_new_part"))?;
            let b = bin(ctx, BinaryOp::Mul, z, h, &format!("{p}_old_part"))?;
            Ok((bin(ctx, BinaryOp::Add, a, b, &format!("{p}_h"))?, None))
        }
        Cell::Lstm => {
            let c = c.ok_or_else(|| ctx.attrs.err("initial_c", "missing cell state"))?;
            let hr = matmul(ctx, h, wts.rt, &format!("{p}_h_proj"))?;
            let g = bin(ctx, BinaryOp::Add, xt, hr, &format!("{p}_pre"))?;
            let (gi, go, gf, gc) = (
                part(ctx, g, 0, "pre_i")?,
                part(ctx, g, 1, "pre_o")?,
                part(ctx, g, 2, "pre_f")?,
                part(ctx, g, 3, "pre_c")?,
            );
            let peep = |ctx: &mut NodeCtx<'_, '_>,
                        pre: ValueId,
                        pv: Option<ValueId>,
                        st: ValueId,
                        s: &str| {
                match pv {
                    Some(pv) => {
                        let m = bin(ctx, BinaryOp::Mul, pv, st, &format!("{p}_{s}_peep"))?;
                        bin(ctx, BinaryOp::Add, pre, m, &format!("{p}_{s}_peeped"))
                    }
                    None => Ok(pre),
                }
            };
            let (pi, po, pf) = match wts.peep {
                Some((a, b, c)) => (Some(a), Some(b), Some(c)),
                None => (None, None, None),
            };
            let gi = peep(ctx, gi, pi, c, "i")?;
            let i = activate(ctx, act(acts, 0), gi, clip, &format!("{p}_i"))?;
            let f = if spec.input_forget {
                let one = scalar(ctx, spec.dtype, 1.0);
                bin(ctx, BinaryOp::Sub, one, i, &format!("{p}_f"))?
            } else {
                let gf = peep(ctx, gf, pf, c, "f")?;
                activate(ctx, act(acts, 0), gf, clip, &format!("{p}_f"))?
            };
            let cand = activate(ctx, act(acts, 1), gc, clip, &format!("{p}_cand"))?;
            let kept = bin(ctx, BinaryOp::Mul, f, c, &format!("{p}_c_kept_part"))?;
            let added = bin(ctx, BinaryOp::Mul, i, cand, &format!("{p}_c_new_part"))?;
            let c_new = bin(ctx, BinaryOp::Add, kept, added, &format!("{p}_c"))?;
            let go = peep(ctx, go, po, c_new, "o")?;
            let o = activate(ctx, act(acts, 0), go, clip, &format!("{p}_o"))?;
            let hc = activate(ctx, act(acts, 2), c_new, None, &format!("{p}_c_act"))?;
            let h_new = bin(ctx, BinaryOp::Mul, o, hc, &format!("{p}_h"))?;
            Ok((h_new, Some(c_new)))
        }
    }
}
