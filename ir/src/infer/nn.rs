//! Inference for reductions, normalizations, softmax-like ops, matrix products, convolution and
//! pooling.

use super::{Class, Ctx, FLOAT, I64, INDEX, NUMERIC, dims_compatible, merge_dim, ty};
use crate::attr::AutoPad;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::TensorType;
use crate::op::{Op, ReduceOp};
use crate::shape::{Dim, Shape, WindowPad, window_geometry};
use std::collections::BTreeMap;

/// Output types of a reduction / linear-algebra / window `op`, or `None` for other ops.
pub(super) fn infer(cx: &Ctx<'_, '_>, op: &Op) -> Result<Option<Vec<TensorType>>> {
    let out = match op {
        Op::Reduce {
            kind,
            keepdims,
            noop_with_empty_axes,
        } => reduce(cx, *kind, *keepdims, *noop_with_empty_axes)?,
        Op::ArgMax { axis, keepdims, .. } | Op::ArgMin { axis, keepdims, .. } => {
            arg_reduce(cx, *axis, *keepdims)?
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } | Op::Hardmax { axis } => {
            cx.simple(1, 1)?;
            let d = cx.dtype(0, FLOAT)?;
            let x = cx.shape(0)?;
            cx.axis("axis", *axis, x.rank())?;
            vec![ty(d, x.clone())]
        }
        Op::CumSum { .. } => cumsum(cx)?,
        Op::TopK { axis, .. } => top_k(cx, *axis)?,
        Op::BatchNormalization { training_mode, .. } => batch_norm(cx, *training_mode)?,
        Op::InstanceNormalization { .. } => instance_norm(cx)?,
        Op::LayerNormalization {
            axis, stash_type, ..
        } => layer_norm(cx, *axis, *stash_type)?,
        Op::MatMul {} => matmul(cx)?,
        Op::Gemm {
            trans_a, trans_b, ..
        } => gemm(cx, *trans_a, *trans_b)?,
        Op::Einsum { equation } => einsum(cx, equation)?,
        Op::Conv {
            auto_pad,
            dilations,
            group,
            kernel_shape,
            pads,
            strides,
        } => conv(
            cx,
            &WindowAttrs {
                auto_pad: *auto_pad,
                dilations,
                kernel_shape,
                pads,
                strides,
                ceil_mode: false,
            },
            *group,
        )?,
        Op::ConvTranspose {
            auto_pad,
            dilations,
            group,
            kernel_shape,
            output_padding,
            output_shape,
            pads,
            strides,
        } => conv_transpose(
            cx,
            &WindowAttrs {
                auto_pad: *auto_pad,
                dilations,
                kernel_shape,
                pads,
                strides,
                ceil_mode: false,
            },
            *group,
            output_padding,
            output_shape,
        )?,
        Op::MaxPool {
            auto_pad,
            ceil_mode,
            dilations,
            kernel_shape,
            pads,
            storage_order,
            strides,
        } => {
            if !matches!(storage_order, 0 | 1) {
                return Err(cx.attr_err("storage_order", "must be 0 or 1"));
            }
            let w = WindowAttrs {
                auto_pad: *auto_pad,
                dilations,
                kernel_shape,
                pads,
                strides,
                ceil_mode: *ceil_mode,
            };
            pool(cx, &w, MAX_POOL_DTYPES, 2)?
        }
        Op::AveragePool {
            auto_pad,
            ceil_mode,
            dilations,
            kernel_shape,
            pads,
            strides,
            ..
        } => {
            let w = WindowAttrs {
                auto_pad: *auto_pad,
                dilations,
                kernel_shape,
                pads,
                strides,
                ceil_mode: *ceil_mode,
            };
            pool(cx, &w, FLOAT, 1)?
        }
        Op::GlobalAveragePool {} | Op::GlobalMaxPool {} => global_pool(cx)?,
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// MaxPool accepts floats and 8-bit integers.
const MAX_POOL_DTYPES: Class = Class::standard(
    |d| d.is_float() || matches!(d, DType::I8 | DType::U8),
    "a float dtype, i8 or u8",
);

/// Normalizes axis values read from operand `input`, rejecting out-of-range and repeated axes.
pub(super) fn operand_axes(
    cx: &Ctx<'_, '_>,
    input: usize,
    axes: &[i64],
    rank: usize,
) -> Result<Vec<usize>> {
    let mut out: Vec<usize> = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = crate::shape::normalize_axis(a, rank).ok_or_else(|| {
            cx.shape_err(format!(
                "axis {a} (input {input}) is out of range for rank {rank}"
            ))
        })?;
        if out.contains(&n) {
            return Err(cx.shape_err(format!("axis {a} (input {input}) is repeated")));
        }
        out.push(n);
    }
    Ok(out)
}

/// `(data, axes?)`; reduced axes become 1 (keepdims) or disappear.
fn reduce(cx: &Ctx<'_, '_>, kind: ReduceOp, keepdims: bool, noop: bool) -> Result<Vec<TensorType>> {
    cx.simple(1, 2)?;
    let class = match kind {
        ReduceOp::Max | ReduceOp::Min => super::PLAIN,
        _ => NUMERIC,
    };
    let d = cx.dtype(0, class)?;
    let x = cx.shape(0)?;
    let r = x.rank();
    let mut axes = Some(Vec::new());
    if cx.opt(1).is_some() {
        cx.dtype(1, I64)?;
        let len = cx.vector_len(1, "axes")?;
        axes = match cx.const_ints(1)? {
            Some(v) => Some(operand_axes(cx, 1, &v, r)?),
            None if len == Some(0) => Some(Vec::new()),
            None if keepdims => return Ok(vec![ty(d, cx.sym_shape(0, r))]),
            None => match len {
                Some(n) if n <= r => return Ok(vec![ty(d, cx.sym_shape(0, r - n))]),
                Some(n) => {
                    return Err(cx.shape_err(format!("{n} axes given for rank {r}")));
                }
                None => return Err(cx.non_const(1, "axes")),
            },
        };
    }
    let axes = axes.unwrap_or_default();
    if axes.is_empty() && noop {
        return Ok(vec![ty(d, x.clone())]);
    }
    let reduced = |i: usize| axes.is_empty() || axes.contains(&i);
    Ok(vec![ty(d, reduce_shape(x, reduced, keepdims))])
}

/// `x` with the axes for which `reduced` holds set to 1 or dropped.
fn reduce_shape(x: &Shape, reduced: impl Fn(usize) -> bool, keepdims: bool) -> Shape {
    let mut dims = Vec::with_capacity(x.rank());
    for (i, dim) in x.0.iter().enumerate() {
        if !reduced(i) {
            dims.push(dim.clone());
        } else if keepdims {
            dims.push(Dim::Static(1));
        }
    }
    Shape(dims)
}

/// ArgMax / ArgMin: i64 indices along `axis`.
fn arg_reduce(cx: &Ctx<'_, '_>, axis: i64, keepdims: bool) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    cx.dtype(0, NUMERIC)?;
    let x = cx.shape(0)?;
    let a = cx.axis("axis", axis, x.rank())?;
    Ok(vec![ty(DType::I64, reduce_shape(x, |i| i == a, keepdims))])
}

/// `(x, axis)`: same type as x; a constant axis must be in range.
fn cumsum(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, NUMERIC)?;
    cx.dtype(1, INDEX)?;
    cx.scalar_like(1, "axis")?;
    let x = cx.shape(0)?;
    if let Some(v) = cx.const_ints(1)? {
        operand_axes(cx, 1, &v, x.rank())?;
    }
    Ok(vec![ty(d, x.clone())])
}

/// `(X, K)` → `(values, indices)` with `K` entries along `axis`.
fn top_k(cx: &Ctx<'_, '_>, axis: i64) -> Result<Vec<TensorType>> {
    cx.arity(2, 2)?;
    cx.outputs(1, 2)?;
    let d = cx.dtype(0, NUMERIC)?;
    cx.dtype(1, I64)?;
    cx.scalar_like(1, "K")?;
    let x = cx.shape(0)?;
    let a = cx.axis("axis", axis, x.rank())?;
    let k = match cx.const_ints(1)?.as_deref() {
        Some(&[k]) => {
            let extent = x.0[a].as_static();
            if k < 0 || extent.is_some_and(|e| k as u64 > e as u64) {
                return Err(cx.shape_err(format!(
                    "K = {k} must be in 0..={} (the extent of axis {a})",
                    x.0[a]
                )));
            }
            Dim::Static(k as usize)
        }
        _ => cx.sym(0, a),
    };
    let mut shape = x.clone();
    shape.0[a] = k;
    let mut out = vec![ty(d, shape.clone()), ty(DType::I64, shape)];
    out.truncate(cx.num_outputs);
    Ok(out)
}

/// Checks operand `i` is 1-D with extent compatible with `c`.
fn channel_vector(cx: &Ctx<'_, '_>, i: usize, what: &str, c: &Dim) -> Result<()> {
    let s = cx.shape(i)?;
    if s.rank() != 1 || !dims_compatible(&s.0[0], c) {
        return Err(cx.shape_err(format!("{what} (input {i}) must have shape [{c}], got {s}")));
    }
    Ok(())
}

/// Checks operand 0 has rank at least `min`.
fn min_rank<'b>(cx: &Ctx<'_, 'b>, i: usize, min: usize) -> Result<&'b Shape> {
    let s = cx.shape(i)?;
    if s.rank() < min {
        return Err(cx.shape_err(format!("input {i} must have rank at least {min}, got {s}")));
    }
    Ok(s)
}

/// `(X, scale, B, mean, var)` → `(Y, running_mean?, running_var?)`.
fn batch_norm(cx: &Ctx<'_, '_>, training: bool) -> Result<Vec<TensorType>> {
    cx.arity(5, 5)?;
    cx.outputs(1, if training { 3 } else { 1 })?;
    let d = cx.dtype(0, FLOAT)?;
    for i in 1..5 {
        cx.dtype(i, FLOAT)?;
    }
    cx.same_dtype(2, 1)?;
    cx.same_dtype(4, 3)?;
    let x = min_rank(cx, 0, 2)?;
    let c = &x.0[1];
    for (i, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
        channel_vector(cx, i, what, c)?;
    }
    let stat = ty(cx.input(3)?.ty.dtype, Shape(vec![c.clone()]));
    let mut out = vec![ty(d, x.clone()), stat.clone(), stat];
    out.truncate(cx.num_outputs);
    Ok(out)
}

/// `(X, scale, B)`: per-channel scale and bias of X's dtype.
fn instance_norm(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(3, 3)?;
    let d = cx.dtype(0, FLOAT)?;
    cx.same_dtype(1, 0)?;
    cx.same_dtype(2, 0)?;
    let x = min_rank(cx, 0, 2)?;
    channel_vector(cx, 1, "scale", &x.0[1])?;
    channel_vector(cx, 2, "B", &x.0[1])?;
    Ok(vec![ty(d, x.clone())])
}

/// `(X, scale, B?)` → `(Y, Mean?, InvStdDev?)`; statistics have dtype `stash_type` and X's
/// shape with the normalized axes set to 1.
fn layer_norm(cx: &Ctx<'_, '_>, axis: i64, stash_type: i64) -> Result<Vec<TensorType>> {
    cx.arity(2, 3)?;
    cx.outputs(1, 3)?;
    let d = cx.dtype(0, FLOAT)?;
    cx.same_dtype(1, 0)?;
    cx.same_dtype(2, 0)?;
    let x = cx.shape(0)?;
    let a = cx.axis("axis", axis, x.rank())?;
    let normalized = Shape(x.0[a..].to_vec());
    for i in 1..3 {
        if let Some(o) = cx.opt(i) {
            let b = cx.broadcast(&[&o.ty.shape, &normalized], 0)?;
            if b.rank() != normalized.rank() || !same_static(&b, &normalized) {
                return Err(cx.shape_err(format!(
                    "input {i} ({}) must broadcast to the normalized shape {normalized}",
                    o.ty.shape
                )));
            }
        }
    }
    let stash = match stash_type {
        1 => DType::F32,
        16 => DType::BF16,
        _ => {
            return Err(cx.attr_err(
                "stash_type",
                format!("{stash_type} is not 1 (f32) or 16 (bf16)"),
            ));
        }
    };
    let mut stat = x.0[..a].to_vec();
    stat.resize(x.rank(), Dim::Static(1));
    let mut out = vec![
        ty(d, x.clone()),
        ty(stash, Shape(stat.clone())),
        ty(stash, Shape(stat)),
    ];
    out.truncate(cx.num_outputs);
    Ok(out)
}

/// True when no static dim of `a` differs from `b`'s (same rank assumed).
fn same_static(a: &Shape, b: &Shape) -> bool {
    a.0.iter().zip(&b.0).all(|(x, y)| dims_compatible(x, y))
}

/// Checks two contracted dims agree.
fn check_inner(cx: &Ctx<'_, '_>, k1: &Dim, k2: &Dim) -> Result<()> {
    if !dims_compatible(k1, k2) {
        return Err(cx.shape_err(format!("inner dimensions differ: {k1} vs {k2}")));
    }
    Ok(())
}

/// NumPy matmul: 1-D operands promoted, batch dims broadcast.
fn matmul(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, NUMERIC)?;
    cx.same_dtype(1, 0)?;
    let (a, b) = (cx.shape(0)?, cx.shape(1)?);
    if a.rank() == 0 || b.rank() == 0 {
        return Err(cx.shape_err("matmul operands must have rank at least 1"));
    }
    let one = Dim::Static(1);
    let a2 = if a.rank() == 1 {
        vec![one.clone(), a.0[0].clone()]
    } else {
        a.0.clone()
    };
    let b2 = if b.rank() == 1 {
        vec![b.0[0].clone(), one]
    } else {
        b.0.clone()
    };
    let (ra, rb) = (a2.len(), b2.len());
    check_inner(cx, &a2[ra - 1], &b2[rb - 2])?;
    let batch = cx.broadcast(
        &[&Shape(a2[..ra - 2].to_vec()), &Shape(b2[..rb - 2].to_vec())],
        0,
    )?;
    let mut dims = batch.0;
    if a.rank() > 1 {
        dims.push(a2[ra - 2].clone());
    }
    if b.rank() > 1 {
        dims.push(b2[rb - 1].clone());
    }
    Ok(vec![ty(d, Shape(dims))])
}

/// `(A, B, C?)` on 2-D operands; C broadcasts to `[M, N]`.
fn gemm(cx: &Ctx<'_, '_>, trans_a: bool, trans_b: bool) -> Result<Vec<TensorType>> {
    cx.simple(2, 3)?;
    let d = cx.dtype(0, NUMERIC)?;
    cx.same_dtype(1, 0)?;
    cx.same_dtype(2, 0)?;
    let (a, b) = (cx.shape(0)?, cx.shape(1)?);
    if a.rank() != 2 || b.rank() != 2 {
        return Err(cx.shape_err("A and B must be 2-D"));
    }
    let (m, k1) = if trans_a { (1, 0) } else { (0, 1) };
    let (k2, n) = if trans_b { (1, 0) } else { (0, 1) };
    check_inner(cx, &a.0[k1], &b.0[k2])?;
    let out = Shape(vec![a.0[m].clone(), b.0[n].clone()]);
    if let Some(c) = cx.opt(2) {
        let bc = cx.broadcast(&[&c.ty.shape, &out], 0)?;
        if bc.rank() != 2 || !same_static(&bc, &out) {
            return Err(cx.shape_err(format!("C {} must broadcast to {out}", c.ty.shape)));
        }
    }
    Ok(vec![ty(d, out)])
}

/// One term of an einsum equation: labels before and after an optional ellipsis.
struct Term {
    before: Vec<char>,
    ellipsis: bool,
    after: Vec<char>,
}

fn parse_term(cx: &Ctx<'_, '_>, s: &str) -> Result<Term> {
    let bad = |m: String| cx.attr_err("equation", m);
    let (head, tail, ellipsis) = match s.find("...") {
        Some(p) => (&s[..p], &s[p + 3..], true),
        None => (s, "", false),
    };
    let letters = |t: &str| -> Result<Vec<char>> {
        t.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    Ok(c)
                } else {
                    Err(bad(format!("unexpected character `{c}` in term `{s}`")))
                }
            })
            .collect()
    };
    Ok(Term {
        before: letters(head)?,
        ellipsis,
        after: letters(tail)?,
    })
}

/// Einstein summation: ellipsis dims broadcast; the implicit output is the ellipsis followed by
/// the labels used once, in alphabetical (ASCII) order.
fn einsum(cx: &Ctx<'_, '_>, equation: &str) -> Result<Vec<TensorType>> {
    cx.simple(1, usize::MAX)?;
    let d = cx.dtype(0, NUMERIC)?;
    for i in 1..cx.inputs.len() {
        cx.same_dtype(i, 0)?;
    }
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let terms = lhs
        .split(',')
        .map(|t| parse_term(cx, t))
        .collect::<Result<Vec<_>>>()?;
    if terms.len() != cx.inputs.len() {
        return Err(cx.attr_err(
            "equation",
            format!(
                "`{equation}` has {} operand terms but the node has {} inputs",
                terms.len(),
                cx.inputs.len()
            ),
        ));
    }
    let mut labels: BTreeMap<char, (Dim, usize)> = BTreeMap::new();
    let mut ell_shapes = Vec::new();
    for (i, t) in terms.iter().enumerate() {
        let s = cx.shape(i)?;
        let n = t.before.len() + t.after.len();
        if s.rank() < n || (!t.ellipsis && s.rank() != n) {
            return Err(cx.shape_err(format!(
                "input {i} has rank {} but its einsum term has {n} labels",
                s.rank()
            )));
        }
        let ell = s.rank() - n;
        let dims = t
            .before
            .iter()
            .zip(&s.0)
            .chain(t.after.iter().zip(&s.0[t.before.len() + ell..]));
        let mut local: BTreeMap<char, &Dim> = BTreeMap::new();
        for (&c, dim) in dims {
            // A label repeated within one operand (a diagonal) needs equal extents; across
            // operands, extent 1 broadcasts.
            if let Some(prev) = local.insert(c, dim)
                && !dims_compatible(prev, dim)
            {
                return Err(cx.shape_err(format!(
                    "label `{c}` is repeated in input {i} with extents {prev} and {dim}"
                )));
            }
            let e = labels.entry(c).or_insert((Dim::Static(1), 0));
            e.0 = match (&e.0, dim) {
                (Dim::Static(1), x) | (x, Dim::Static(1)) => x.clone(),
                (x, y) if dims_compatible(x, y) => merge_dim(x, y),
                (x, y) => {
                    return Err(cx.shape_err(format!("label `{c}` has extents {x} and {y}")));
                }
            };
            e.1 += 1;
        }
        ell_shapes.push(Shape(s.0[t.before.len()..t.before.len() + ell].to_vec()));
    }
    let ell = cx.broadcast(&ell_shapes.iter().collect::<Vec<_>>(), 0)?;
    let out_term = match rhs {
        Some(r) => parse_term(cx, r)?,
        None => Term {
            before: Vec::new(),
            ellipsis: true,
            after: labels
                .iter()
                .filter(|(_, (_, n))| *n == 1)
                .map(|(&c, _)| c)
                .collect(),
        },
    };
    if !out_term.ellipsis && ell.rank() > 0 {
        return Err(cx.attr_err(
            "equation",
            format!("`{equation}`: the output needs `...` for the broadcast dims"),
        ));
    }
    let mut dims = Vec::new();
    let mut seen = Vec::new();
    let label_dim = |c: char, seen: &mut Vec<char>| -> Result<Dim> {
        if seen.contains(&c) {
            return Err(cx.attr_err("equation", format!("output label `{c}` is repeated")));
        }
        seen.push(c);
        labels.get(&c).map(|(d, _)| d.clone()).ok_or_else(|| {
            cx.attr_err(
                "equation",
                format!("output label `{c}` does not appear in the inputs"),
            )
        })
    };
    for &c in &out_term.before {
        dims.push(label_dim(c, &mut seen)?);
    }
    if out_term.ellipsis {
        dims.extend(ell.0.iter().cloned());
    }
    for &c in &out_term.after {
        dims.push(label_dim(c, &mut seen)?);
    }
    Ok(vec![ty(d, Shape(dims))])
}

/// The window attributes shared by Conv, ConvTranspose and pooling.
struct WindowAttrs<'a> {
    auto_pad: AutoPad,
    dilations: &'a [i64],
    kernel_shape: &'a [i64],
    pads: &'a [i64],
    strides: &'a [i64],
    ceil_mode: bool,
}

/// A per-spatial-axis attribute of positive values, defaulting to 1s when empty.
fn positive_list(cx: &Ctx<'_, '_>, attr: &'static str, v: &[i64], n: usize) -> Result<Vec<usize>> {
    if v.is_empty() {
        return Ok(vec![1; n]);
    }
    if v.len() != n {
        return Err(cx.attr_err(
            attr,
            format!("{v:?} must have {n} entries (one per spatial axis)"),
        ));
    }
    v.iter()
        .map(|&x| {
            usize::try_from(x)
                .ok()
                .filter(|&x| x > 0)
                .ok_or_else(|| cx.attr_err(attr, format!("{v:?} must be positive")))
        })
        .collect()
}

/// Validated strides, dilations and explicit pads for `n` spatial axes.
struct Window {
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pads: Vec<i64>,
}

fn window(cx: &Ctx<'_, '_>, w: &WindowAttrs<'_>, n: usize) -> Result<Window> {
    let strides = positive_list(cx, "strides", w.strides, n)?;
    let dilations = positive_list(cx, "dilations", w.dilations, n)?;
    let pads = if w.pads.is_empty() {
        vec![0; 2 * n]
    } else {
        w.pads.to_vec()
    };
    if pads.len() != 2 * n {
        return Err(cx.attr_err("pads", format!("{:?} must have {} entries", w.pads, 2 * n)));
    }
    if pads.iter().any(|&p| p < 0) {
        return Err(cx.attr_err("pads", format!("{:?} must not be negative", w.pads)));
    }
    Ok(Window {
        strides,
        dilations,
        pads,
    })
}

/// Kernel extents: the `kernel_shape` attribute, else the weight's spatial dims.
fn kernel(cx: &Ctx<'_, '_>, attr: &[i64], weight: &[Dim]) -> Result<Vec<Option<usize>>> {
    if attr.is_empty() {
        return Ok(weight.iter().map(Dim::as_static).collect());
    }
    let k = positive_list(cx, "kernel_shape", attr, weight.len())?;
    for (i, (&a, w)) in k.iter().zip(weight).enumerate() {
        if !dims_compatible(&Dim::Static(a), w) {
            return Err(cx.shape_err(format!(
                "kernel_shape {attr:?} differs from the weight's spatial dim {i} ({w})"
            )));
        }
    }
    Ok(k.into_iter().map(Some).collect())
}

/// Output spatial dims of a sliding window over `x`'s spatial axes.
fn window_out(
    cx: &Ctx<'_, '_>,
    w: &WindowAttrs<'_>,
    win: &Window,
    x: &[Dim],
    kernel: &[Option<usize>],
) -> Result<Vec<Dim>> {
    let n = x.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (Some(xi), Some(k)) = (x[i].as_static(), kernel[i]) else {
            out.push(cx.sym(0, i + 2));
            continue;
        };
        let p = [win.pads[i], win.pads[i + n]];
        let pad = match w.auto_pad {
            AutoPad::NotSet => WindowPad::Explicit(&p),
            AutoPad::SameUpper => WindowPad::SameUpper,
            AutoPad::SameLower => WindowPad::SameLower,
            AutoPad::Valid => WindowPad::Valid,
        };
        let g = window_geometry(
            &[xi],
            &[k],
            &[win.strides[i]],
            &[win.dilations[i]],
            pad,
            w.ceil_mode,
        )
        .map_err(|m| {
            let m = m.strip_prefix("axis 0: ").unwrap_or(&m).to_string();
            cx.shape_err(format!("spatial axis {i}: {m}"))
        })?;
        out.push(g.first().map_or(Dim::Static(0), |a| Dim::Static(a.out)));
    }
    Ok(out)
}

/// Checks X and W are float, of one dtype and rank >= 3; returns their shapes.
fn conv_operands<'b>(cx: &Ctx<'_, 'b>, group: i64) -> Result<(DType, &'b Shape, &'b Shape)> {
    cx.simple(2, 3)?;
    let d = cx.dtype(0, FLOAT)?;
    cx.same_dtype(1, 0)?;
    cx.same_dtype(2, 0)?;
    let x = min_rank(cx, 0, 3)?;
    let w = cx.shape(1)?;
    if w.rank() != x.rank() {
        return Err(cx.shape_err(format!("W must have the rank of X ({})", x.rank())));
    }
    if group < 1 {
        return Err(cx.attr_err("group", format!("{group} must be positive")));
    }
    Ok((d, x, w))
}

/// Whether static dim `d` is a multiple of `g` (symbolic dims pass).
fn divisible(d: &Dim, g: usize) -> bool {
    d.as_static().is_none_or(|v| v % g == 0)
}

/// `(X, W, B?)`: X `[N, C, ...]`, W `[M, C/group, k...]`, B `[M]`.
fn conv(cx: &Ctx<'_, '_>, w_attrs: &WindowAttrs<'_>, group: i64) -> Result<Vec<TensorType>> {
    let (d, x, w) = conv_operands(cx, group)?;
    let g = group as usize;
    let (c, wc, m) = (&x.0[1], &w.0[1], &w.0[0]);
    let channels_ok = match (c.as_static(), wc.as_static()) {
        (Some(c), Some(wc)) => wc.checked_mul(g) == Some(c),
        _ => divisible(c, g),
    };
    if !channels_ok || !divisible(m, g) {
        return Err(cx.shape_err(format!(
            "X has {c} channels and W {m} x {wc}: with group {group}, channels must be W[1] * \
             group and W[0] a multiple of group"
        )));
    }
    if cx.opt(2).is_some() {
        channel_vector(cx, 2, "B", m)?;
    }
    let n = x.rank() - 2;
    let k = kernel(cx, w_attrs.kernel_shape, &w.0[2..])?;
    let win = window(cx, w_attrs, n)?;
    let mut dims = vec![x.0[0].clone(), m.clone()];
    dims.extend(window_out(cx, w_attrs, &win, &x.0[2..], &k)?);
    Ok(vec![ty(d, Shape(dims))])
}

/// A per-spatial-axis list of non-negative values, zeros when empty.
fn non_negative_list(
    cx: &Ctx<'_, '_>,
    attr: &'static str,
    v: &[i64],
    n: usize,
) -> Result<Vec<i64>> {
    if v.is_empty() {
        return Ok(vec![0; n]);
    }
    if v.len() != n || v.iter().any(|&x| x < 0) {
        return Err(cx.attr_err(attr, format!("{v:?} must have {n} non-negative entries")));
    }
    Ok(v.to_vec())
}

/// `(X, W, B?)`: X `[N, C, ...]`, W `[C, M/group, k...]`, output `[N, M, ...]`.
///
/// Spatial extents: `output_shape` when given; with SAME auto_pad `in * stride` (the ONNX
/// operator text and reference implementation); else
/// `stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - pads`.
fn conv_transpose(
    cx: &Ctx<'_, '_>,
    w_attrs: &WindowAttrs<'_>,
    group: i64,
    output_padding: &[i64],
    output_shape: &[i64],
) -> Result<Vec<TensorType>> {
    let (d, x, w) = conv_operands(cx, group)?;
    let g = group as usize;
    let (c, wc) = (&x.0[1], &w.0[0]);
    if !dims_compatible(c, wc) || !divisible(c, g) {
        return Err(cx.shape_err(format!(
            "X has {c} channels but W[0] is {wc} (group {group})"
        )));
    }
    let m = match w.0[1].as_static() {
        Some(v) => Dim::Static(
            v.checked_mul(g)
                .ok_or_else(|| cx.shape_err("output channel count overflows"))?,
        ),
        None => cx.sym(0, 1),
    };
    if cx.opt(2).is_some() {
        channel_vector(cx, 2, "B", &m)?;
    }
    let n = x.rank() - 2;
    let k = kernel(cx, w_attrs.kernel_shape, &w.0[2..])?;
    let win = window(cx, w_attrs, n)?;
    let out_pad = non_negative_list(cx, "output_padding", output_padding, n)?;
    let explicit = match output_shape.len() {
        0 => None,
        l if l == n => Some(output_shape),
        l if l == n + 2 => Some(&output_shape[2..]),
        _ => {
            return Err(cx.attr_err(
                "output_shape",
                format!("{output_shape:?} must have {n} entries"),
            ));
        }
    };
    let mut dims = vec![x.0[0].clone(), m];
    for i in 0..n {
        if let Some(os) = explicit {
            let v = usize::try_from(os[i])
                .map_err(|_| cx.attr_err("output_shape", format!("{os:?} is negative")))?;
            dims.push(Dim::Static(v));
            continue;
        }
        let (Some(xi), Some(ki)) = (x.0[i + 2].as_static(), k[i]) else {
            dims.push(cx.sym(0, i + 2));
            continue;
        };
        let (xi, s) = (xi as i128, win.strides[i] as i128);
        let size = match w_attrs.auto_pad {
            AutoPad::SameUpper | AutoPad::SameLower => xi * s,
            AutoPad::Valid | AutoPad::NotSet => {
                let pads = if w_attrs.auto_pad == AutoPad::Valid {
                    0
                } else {
                    win.pads[i] as i128 + win.pads[i + n] as i128
                };
                let ek = (ki as i128 - 1) * win.dilations[i] as i128 + 1;
                s * (xi - 1) + out_pad[i] as i128 + ek - pads
            }
        };
        let size = usize::try_from(size).map_err(|_| {
            cx.shape_err(format!(
                "spatial axis {i}: output extent {size} is negative"
            ))
        })?;
        dims.push(Dim::Static(size));
    }
    Ok(vec![ty(d, Shape(dims))])
}

/// MaxPool / AveragePool: `[N, C, ...]` → `[N, C, windows...]` (and i64 indices for MaxPool).
fn pool(
    cx: &Ctx<'_, '_>,
    w: &WindowAttrs<'_>,
    class: Class,
    max_outputs: usize,
) -> Result<Vec<TensorType>> {
    cx.arity(1, 1)?;
    cx.outputs(1, max_outputs)?;
    let d = cx.dtype(0, class)?;
    let x = min_rank(cx, 0, 3)?;
    let n = x.rank() - 2;
    if w.kernel_shape.is_empty() {
        return Err(cx.attr_err("kernel_shape", "is required"));
    }
    let k: Vec<Option<usize>> = positive_list(cx, "kernel_shape", w.kernel_shape, n)?
        .into_iter()
        .map(Some)
        .collect();
    let win = window(cx, w, n)?;
    let mut dims = x.0[..2].to_vec();
    dims.extend(window_out(cx, w, &win, &x.0[2..], &k)?);
    let shape = Shape(dims);
    let mut out = vec![ty(d, shape.clone()), ty(DType::I64, shape)];
    out.truncate(cx.num_outputs);
    Ok(out)
}

/// `[N, C, ...]` → `[N, C, 1, ...]`.
fn global_pool(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let d = cx.dtype(0, FLOAT)?;
    let x = min_rank(cx, 0, 2)?;
    let mut dims = x.0[..2].to_vec();
    dims.resize(x.rank(), Dim::Static(1));
    Ok(vec![ty(d, Shape(dims))])
}
