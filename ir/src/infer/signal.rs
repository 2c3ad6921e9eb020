//! Inference for CumProd, BitCast, Det, DFT, STFT, GridSample, NonMaxSuppression, Unique, Col2Im,
//! RoiAlign, DeformConv and TfIdfVectorizer.

use super::{ANY, Ctx, FLOAT, INDEX, NUMERIC, ty};
use crate::error::{IrError, Result};
use crate::graph::TensorType;
use crate::op::Op;
use crate::shape::{Dim, Shape, normalize_axis};

/// Output types of one of this file's operators, or `None` for any other operator.
pub(super) fn infer(cx: &Ctx<'_, '_>, op: &Op) -> Result<Option<Vec<TensorType>>> {
    let out = match op {
        Op::CumProd { .. } => cumprod(cx)?,
        Op::BitCast { to } => bitcast(cx, *to)?,
        Op::Det {} => det(cx)?,
        Op::Dft { inverse, onesided } => dft(cx, *inverse, *onesided)?,
        Op::GridSample {
            mode, padding_mode, ..
        } => grid_sample(cx, mode, padding_mode)?,
        Op::Stft { onesided } => stft(cx, *onesided)?,
        Op::MelWeightMatrix { output_datatype } => mel(cx, *output_datatype)?,
        Op::NonMaxSuppression { .. } => nms(cx)?,
        Op::Unique { axis, .. } => unique(cx, *axis)?,
        Op::Col2Im { .. } => col2im(cx)?,
        Op::RoiAlign {
            mode,
            output_height,
            output_width,
            ..
        } => roi_align(cx, mode, *output_height, *output_width)?,
        Op::DeformConv { .. } => deform_conv(cx)?,
        Op::TfIdfVectorizer { .. } => tfidf(cx, op)?,
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// A constant scalar operand `i` (one value), or `None` when it is not constant.
fn const_scalar(cx: &Ctx<'_, '_>, i: usize, what: &str) -> Result<Option<i64>> {
    cx.scalar_like(i, what)?;
    Ok(cx.const_ints(i)?.and_then(|v| v.first().copied()))
}

/// `(x, axis)` → the shape and dtype of `x`.
fn cumprod(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    let d = cx.dtype(0, NUMERIC)?;
    cx.dtype(1, INDEX)?;
    let x = cx.shape(0)?;
    if let Some(a) = const_scalar(cx, 1, "axis")?
        && normalize_axis(a, x.rank()).is_none()
    {
        return Err(cx.shape_err(format!("axis {a} is out of range for rank {}", x.rank())));
    }
    Ok(vec![ty(d, x.clone())])
}

/// `x` → the same shape as dtype `to`, which must have `x`'s byte width.
fn bitcast(cx: &Ctx<'_, '_>, to: crate::dtype::DType) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let d = cx.dtype(0, ANY)?;
    if d.size_bytes() != to.size_bytes() {
        return Err(IrError::Unsupported {
            at: cx.at.clone(),
            dtype: d,
            detail: Some(format!(
                "BitCast needs dtypes of one width; {d} is {} bytes, {to} is {}",
                d.size_bytes(),
                to.size_bytes()
            )),
        });
    }
    Ok(vec![ty(to, cx.shape(0)?.clone())])
}

/// `X [.., M, M]` → `[..]`.
fn det(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let d = cx.dtype(0, FLOAT)?;
    let x = cx.shape(0)?;
    let r = x.rank();
    if r < 2 {
        return Err(cx.shape_err("Det needs an input of rank 2 or more"));
    }
    if let (Some(a), Some(b)) = (x.0[r - 2].as_static(), x.0[r - 1].as_static())
        && a != b
    {
        return Err(cx.shape_err(format!("Det needs square matrices, got {a}x{b}")));
    }
    Ok(vec![ty(d, Shape(x.0[..r - 2].to_vec()))])
}

/// `(input [.., 1|2], dft_length?, axis?)` → `[..]` with the transformed axis resized and a
/// trailing 2 (1 for a one-sided inverse).
fn dft(cx: &Ctx<'_, '_>, inverse: bool, onesided: bool) -> Result<Vec<TensorType>> {
    cx.simple(1, 3)?;
    let d = cx.dtype(0, FLOAT)?;
    let x = cx.shape(0)?;
    let r = x.rank();
    let parts = x.0.last().and_then(Dim::as_static);
    if r < 2 || parts.is_some_and(|p| p != 1 && p != 2) {
        return Err(cx.shape_err("DFT input must have rank 2 or more and end in an axis of 1 or 2"));
    }
    let mut len = None;
    if cx.opt(1).is_some() {
        cx.dtype(1, INDEX)?;
        len = const_scalar(cx, 1, "dft_length")?;
        if let Some(n) = len
            && n <= 0
        {
            return Err(cx.shape_err(format!("dft_length must be positive, got {n}")));
        }
    }
    let axis = if cx.opt(2).is_some() {
        cx.dtype(2, INDEX)?;
        const_scalar(cx, 2, "axis")?
    } else {
        Some(-2)
    };
    let mut out = x.0.clone();
    out[r - 1] = Dim::Static(if inverse && onesided { 1 } else { 2 });
    let Some(axis) = axis else {
        // The transformed axis is unknown: every dim but the last may change.
        for (k, dim) in out.iter_mut().enumerate().take(r - 1) {
            *dim = cx.sym(0, k);
        }
        return Ok(vec![ty(d, Shape(out))]);
    };
    let ax = match normalize_axis(axis, r) {
        Some(a) if a + 1 < r => a,
        _ => {
            return Err(cx.shape_err(format!(
                "DFT axis {axis} must name an axis of rank {r} other than the last"
            )));
        }
    };
    let m = x.0[ax].as_static();
    let n = match (len, inverse && onesided) {
        (Some(n), _) => Some(n as usize),
        (None, true) => m.map(|m| 2 * m.saturating_sub(1)),
        (None, false) => m,
    };
    out[ax] = match n {
        Some(n) if !inverse && onesided => Dim::Static(n / 2 + 1),
        Some(n) => Dim::Static(n),
        None => cx.sym(0, ax),
    };
    Ok(vec![ty(d, Shape(out))])
}

/// `(X [N, C, D1..Dk], grid [N, H1..Hk, k])` → `[N, C, H1..Hk]`.
fn grid_sample(cx: &Ctx<'_, '_>, mode: &str, padding_mode: &str) -> Result<Vec<TensorType>> {
    cx.simple(2, 2)?;
    crate::interp::grid_sample::check_modes(mode, padding_mode)
        .map_err(|m| cx.attr_err("mode", m))?;
    let d = cx.dtype(0, FLOAT)?;
    cx.dtype(1, FLOAT)?;
    let (x, g) = (cx.shape(0)?, cx.shape(1)?);
    let r = x.rank();
    let k = r.saturating_sub(2);
    let fits = r >= 3
        && g.rank() == r
        && super::dims_compatible(&x.0[0], &g.0[0])
        && super::dims_compatible(&g.0[r - 1], &Dim::Static(k));
    if !fits {
        return Err(cx.shape_err("GridSample needs X [N, C, D1..Dk] and grid [N, H1..Hk, k]"));
    }
    let mut out = vec![x.0[0].clone(), x.0[1].clone()];
    out.extend_from_slice(&g.0[1..r - 1]);
    Ok(vec![ty(d, Shape(out))])
}

/// `(signal [B, L, 1|2], frame_step, window?, frame_length?)` → `[B, frames, bins, 2]`.
fn stft(cx: &Ctx<'_, '_>, onesided: bool) -> Result<Vec<TensorType>> {
    cx.simple(2, 4)?;
    let d = cx.dtype(0, FLOAT)?;
    let x = cx.shape(0)?;
    let parts = x.0.get(2).and_then(Dim::as_static);
    if x.rank() != 3 || parts.is_some_and(|p| p != 1 && p != 2) {
        return Err(cx.shape_err("STFT signal must be [B, L, 1 or 2]"));
    }
    cx.dtype(1, INDEX)?;
    let step = const_scalar(cx, 1, "frame_step")?;
    let mut frame = None;
    if cx.opt(2).is_some() {
        cx.dtype(2, FLOAT)?;
        frame = cx.vector_len(2, "window")?.map(|n| n as i64);
    }
    if cx.opt(3).is_some() {
        cx.dtype(3, INDEX)?;
        frame = const_scalar(cx, 3, "frame_length")?;
    } else if cx.opt(2).is_none() {
        frame = x.0[1].as_static().map(|n| n as i64);
    }
    let len = x.0[1].as_static();
    let frames = match (step, frame, len) {
        (Some(s), Some(f), Some(l)) if s > 0 && f > 0 && f as usize <= l => {
            Dim::Static(1 + (l - f as usize) / s as usize)
        }
        (Some(s), Some(f), _) if s <= 0 || f <= 0 => {
            return Err(cx.shape_err(format!(
                "frame_step {s} and frame_length {f} must be positive"
            )));
        }
        _ => cx.sym(0, 1),
    };
    let bins = match frame {
        Some(f) if f > 0 => Dim::Static(if onesided {
            f as usize / 2 + 1
        } else {
            f as usize
        }),
        _ => cx.sym(0, 2),
    };
    Ok(vec![ty(
        d,
        Shape(vec![x.0[0].clone(), frames, bins, Dim::Static(2)]),
    )])
}

/// `(boxes [B, n, 4], scores [B, C, n], ..)` → `[selected, 3]` i64.
fn nms(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(2, 5)?;
    cx.dtype(0, FLOAT)?;
    cx.dtype(1, FLOAT)?;
    if cx.opt(2).is_some() {
        cx.dtype(2, INDEX)?;
    }
    for i in 3..5 {
        if cx.opt(i).is_some() {
            cx.dtype(i, FLOAT)?;
        }
    }
    let (b, s) = (cx.shape(0)?, cx.shape(1)?);
    let fits = b.rank() == 3
        && s.rank() == 3
        && super::dims_compatible(&b.0[2], &Dim::Static(4))
        && super::dims_compatible(&b.0[0], &s.0[0])
        && super::dims_compatible(&b.0[1], &s.0[2]);
    if !fits {
        return Err(cx.shape_err("NonMaxSuppression needs boxes [B, n, 4] and scores [B, C, n]"));
    }
    Ok(vec![ty(
        crate::dtype::DType::I64,
        Shape(vec![cx.sym(0, 0), Dim::Static(3)]),
    )])
}

/// `X` → `(Y, indices, inverse_indices, counts)`; the unique count is symbolic.
fn unique(cx: &Ctx<'_, '_>, axis: Option<i64>) -> Result<Vec<TensorType>> {
    cx.arity(1, 1)?;
    cx.outputs(1, 4)?;
    let d = cx.dtype(0, ANY)?;
    let x = cx.shape(0)?;
    let i64 = crate::dtype::DType::I64;
    let (y, n, u) = match axis {
        None => (
            Shape(vec![cx.sym(0, 0)]),
            x.0.iter()
                .try_fold(1usize, |acc, d| {
                    d.as_static().and_then(|v| acc.checked_mul(v))
                })
                .map_or_else(|| cx.sym(2, 0), Dim::Static),
            cx.sym(0, 0),
        ),
        Some(a) => {
            let ax = cx.axis("axis", a, x.rank())?;
            let mut y = x.0.clone();
            y[ax] = cx.sym(0, ax);
            (Shape(y), x.0[ax].clone(), cx.sym(0, ax))
        }
    };
    let outs = [
        ty(d, y),
        ty(i64, Shape(vec![u.clone()])),
        ty(i64, Shape(vec![n])),
        ty(i64, Shape(vec![u])),
    ];
    Ok(outs.into_iter().take(cx.num_outputs).collect())
}

/// `(input [N, C * prod(block), L], image_shape, block_shape)` → `[N, C, image_shape..]`.
fn col2im(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(3, 3)?;
    let d = cx.dtype(0, NUMERIC)?;
    cx.dtype(1, INDEX)?;
    cx.dtype(2, INDEX)?;
    let x = cx.shape(0)?;
    if x.rank() != 3 {
        return Err(cx.shape_err("Col2Im needs an input of rank 3"));
    }
    let k = cx.vector_len(1, "image_shape")?;
    let image = cx.const_ints(1)?;
    let block = cx.const_ints(2)?;
    let Some(k) = k.or(image.as_ref().map(Vec::len)) else {
        return Err(cx.shape_err("Col2Im needs image_shape of static length"));
    };
    let c = match (&block, x.0[1].as_static()) {
        (Some(b), Some(cb)) => {
            let kb = b.iter().try_fold(1usize, |a, &v| {
                usize::try_from(v)
                    .ok()
                    .filter(|&v| v > 0)
                    .and_then(|v| a.checked_mul(v))
            });
            match kb {
                Some(kb) if cb % kb == 0 => Dim::Static(cb / kb),
                _ => {
                    return Err(cx.shape_err(format!(
                        "axis 1 ({cb}) is not a multiple of the block size {b:?}"
                    )));
                }
            }
        }
        _ => cx.sym(0, 1),
    };
    let mut out = vec![x.0[0].clone(), c];
    for j in 0..k {
        out.push(match image.as_ref().and_then(|v| v.get(j)) {
            Some(&v) if v > 0 => Dim::Static(v as usize),
            Some(&v) => return Err(cx.shape_err(format!("image_shape value {v} must be positive"))),
            None => cx.sym(0, 2 + j),
        });
    }
    Ok(vec![ty(d, Shape(out))])
}

/// `(X [N, C, H, W], rois [R, 4], batch_indices [R])` → `[R, C, output_height, output_width]`.
fn roi_align(cx: &Ctx<'_, '_>, mode: &str, oh: i64, ow: i64) -> Result<Vec<TensorType>> {
    cx.simple(3, 3)?;
    if mode != "avg" && mode != "max" {
        return Err(cx.attr_err("mode", format!("must be avg or max, got `{mode}`")));
    }
    let (Ok(oh), Ok(ow)) = (usize::try_from(oh), usize::try_from(ow)) else {
        return Err(cx.attr_err("output_height", "output sizes must be positive"));
    };
    if oh == 0 || ow == 0 {
        return Err(cx.attr_err("output_height", "output sizes must be positive"));
    }
    let d = cx.dtype(0, FLOAT)?;
    cx.dtype(1, FLOAT)?;
    cx.dtype(2, INDEX)?;
    let (x, r, b) = (cx.shape(0)?, cx.shape(1)?, cx.shape(2)?);
    let fits = x.rank() == 4
        && r.rank() == 2
        && b.rank() == 1
        && super::dims_compatible(&r.0[1], &Dim::Static(4))
        && super::dims_compatible(&r.0[0], &b.0[0]);
    if !fits {
        return Err(
            cx.shape_err("RoiAlign needs X [N, C, H, W], rois [R, 4] and batch_indices [R]")
        );
    }
    let shape = vec![
        r.0[0].clone(),
        x.0[1].clone(),
        Dim::Static(oh),
        Dim::Static(ow),
    ];
    Ok(vec![ty(d, Shape(shape))])
}

/// `(X [N, C, D..], W [oC, ..], offset [N, .., out..], B?, mask?)` → `[N, oC, out..]`.
fn deform_conv(cx: &Ctx<'_, '_>) -> Result<Vec<TensorType>> {
    cx.simple(3, 5)?;
    let d = cx.dtype(0, FLOAT)?;
    for i in 1..5 {
        if cx.opt(i).is_some() {
            cx.dtype(i, FLOAT)?;
        }
    }
    let (x, w, off) = (cx.shape(0)?, cx.shape(1)?, cx.shape(2)?);
    let r = x.rank();
    if r < 3 || w.rank() != r || off.rank() != r || !super::dims_compatible(&x.0[0], &off.0[0]) {
        return Err(cx.shape_err("DeformConv needs X [N, C, D..], W [oC, C/group, k..] and offset [N, .., out..] of one rank"));
    }
    let mut out = vec![x.0[0].clone(), w.0[0].clone()];
    out.extend_from_slice(&off.0[2..]);
    Ok(vec![ty(d, Shape(out))])
}

/// Integer `X [L]` or `[B, L]` → f32 `[output_size]` or `[B, output_size]`.
fn tfidf(cx: &Ctx<'_, '_>, op: &Op) -> Result<Vec<TensorType>> {
    cx.simple(1, 1)?;
    let cfg = crate::interp::tfidf::config(op).map_err(|m| cx.attr_err("mode", m))?;
    let dtype = cx.input(0)?.ty.dtype;
    if !dtype.is_int() {
        return Err(IrError::Unsupported {
            at: cx.at.clone(),
            dtype,
            detail: Some("TfIdfVectorizer reads integer n-grams".into()),
        });
    }
    let x = cx.shape(0)?;
    let o = Dim::Static(cfg.output_size);
    let shape = match x.rank() {
        1 => vec![o],
        2 => vec![x.0[0].clone(), o],
        _ => return Err(cx.shape_err("TfIdfVectorizer needs X of rank 1 or 2")),
    };
    Ok(vec![ty(crate::dtype::DType::F32, Shape(shape))])
}

/// Five scalars → `[dft_length / 2 + 1, num_mel_bins]` of `dtype`.
fn mel(cx: &Ctx<'_, '_>, dtype: crate::dtype::DType) -> Result<Vec<TensorType>> {
    cx.simple(5, 5)?;
    if !dtype.is_float() {
        return Err(cx.attr_err(
            "output_datatype",
            format!("must be a float dtype, got {dtype}"),
        ));
    }
    for i in 0..3 {
        cx.dtype(i, INDEX)?;
    }
    cx.dtype(3, FLOAT)?;
    cx.dtype(4, FLOAT)?;
    let dim = |v: Option<i64>, k: usize, f: fn(i64) -> i64| match v {
        Some(v) if v >= 0 => Dim::Static(f(v) as usize),
        _ => cx.sym(0, k),
    };
    let bins = dim(const_scalar(cx, 1, "dft_length")?, 0, |d| d / 2 + 1);
    let mels = dim(const_scalar(cx, 0, "num_mel_bins")?, 1, |m| m);
    Ok(vec![ty(dtype, Shape(vec![bins, mels]))])
}

#[cfg(test)]
mod tests {
    use crate::dtype::DType;
    use crate::error::{At, IrError};
    use crate::graph::TensorType;
    use crate::infer::{Operand, infer_op};
    use crate::op::Op;
    use crate::shape::{Dim, Shape};
    use crate::tensor::Tensor;

    fn tt(d: DType, dims: &[usize]) -> TensorType {
        TensorType {
            dtype: d,
            shape: Shape(dims.iter().map(|&n| Dim::Static(n)).collect()),
        }
    }

    fn run(
        op: Op,
        inputs: &[Option<(TensorType, Option<Tensor>)>],
    ) -> crate::error::Result<Vec<TensorType>> {
        let at = At {
            node: "n".into(),
            op: op.name(),
        };
        let ops: Vec<Option<Operand<'_>>> = inputs
            .iter()
            .map(|i| {
                i.as_ref().map(|(t, v)| Operand {
                    ty: t,
                    value: v.as_ref(),
                })
            })
            .collect();
        infer_op(&op, &at, &ops, 1)
    }

    fn scalar_i64(v: i64) -> Option<(TensorType, Option<Tensor>)> {
        Some((tt(DType::I64, &[]), Some(Tensor::scalar(v))))
    }

    #[test]
    fn cumprod_types() {
        let op = Op::CumProd {
            exclusive: true,
            reverse: false,
        };
        let x = Some((tt(DType::I32, &[2, 3]), None));
        let out = run(op.clone(), &[x.clone(), scalar_i64(-1)]).unwrap();
        assert_eq!(out, vec![tt(DType::I32, &[2, 3])]);
        let bad = run(op.clone(), &[x.clone(), scalar_i64(2)]);
        assert!(matches!(bad, Err(IrError::InputShape { .. })), "{bad:?}");
        let b = Some((tt(DType::Bool, &[2]), None));
        assert!(matches!(
            run(op.clone(), &[b, scalar_i64(0)]),
            Err(IrError::InputDType { .. })
        ));
        let runtime_axis = Some((tt(DType::I32, &[]), None));
        assert!(run(op, &[x, runtime_axis]).is_ok());
    }

    #[test]
    fn bitcast_types() {
        let x = Some((tt(DType::F32, &[4]), None));
        let out = run(Op::BitCast { to: DType::U32 }, std::slice::from_ref(&x)).unwrap();
        assert_eq!(out, vec![tt(DType::U32, &[4])]);
        let r = run(Op::BitCast { to: DType::F16 }, &[x]);
        assert!(matches!(r, Err(IrError::Unsupported { .. })), "{r:?}");
    }

    #[test]
    fn det_types() {
        let out = run(Op::Det {}, &[Some((tt(DType::F32, &[5, 3, 3]), None))]).unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[5])]);
        let out = run(Op::Det {}, &[Some((tt(DType::F64, &[2, 2]), None))]).unwrap();
        assert_eq!(out, vec![tt(DType::F64, &[])]);
        assert!(run(Op::Det {}, &[Some((tt(DType::F32, &[2, 3]), None))]).is_err());
        assert!(run(Op::Det {}, &[Some((tt(DType::F32, &[2]), None))]).is_err());
        assert!(run(Op::Det {}, &[Some((tt(DType::I32, &[2, 2]), None))]).is_err());
    }

    #[test]
    fn grid_sample_types() {
        let op = |mode: &str| Op::GridSample {
            align_corners: false,
            mode: mode.into(),
            padding_mode: "zeros".into(),
        };
        let x = Some((tt(DType::F32, &[2, 3, 4, 5]), None));
        let g = Some((tt(DType::F32, &[2, 6, 7, 2]), None));
        let out = run(op("linear"), &[x.clone(), g.clone()]).unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[2, 3, 6, 7])]);
        assert!(matches!(
            run(op("area"), &[x.clone(), g.clone()]),
            Err(IrError::Attribute { .. })
        ));
        let g3 = Some((tt(DType::F32, &[2, 6, 7, 3]), None));
        assert!(run(op("cubic"), &[x.clone(), g3]).is_err());
        let gn = Some((tt(DType::F32, &[1, 6, 7, 2]), None));
        assert!(run(op("nearest"), &[x.clone(), gn]).is_err());
        let xi = Some((tt(DType::I32, &[2, 3, 4, 5]), None));
        assert!(run(op("linear"), &[xi, g]).is_err());
    }

    #[test]
    fn nms_unique_col2im_types() {
        let nms = Op::NonMaxSuppression {
            center_point_box: 0,
        };
        let b = Some((tt(DType::F32, &[2, 6, 4]), None));
        let s = Some((tt(DType::F32, &[2, 3, 6]), None));
        let out = run(nms.clone(), &[b.clone(), s]).unwrap();
        assert_eq!(out[0].shape.0[1], Dim::Static(3));
        assert!(matches!(out[0].shape.0[0], Dim::Symbolic(_)));
        let s5 = Some((tt(DType::F32, &[2, 3, 5]), None));
        assert!(run(nms, &[b, s5]).is_err());
        let x: Option<(TensorType, Option<Tensor>)> = Some((tt(DType::F32, &[2, 3]), None));
        let at = At {
            node: "u".into(),
            op: "unique",
        };
        let operands = [x.as_ref().map(|(t, _)| Operand { ty: t, value: None })];
        let u = Op::Unique {
            axis: None,
            sorted: true,
        };
        let out = infer_op(&u, &at, &operands, 4).unwrap();
        assert_eq!(out[2], tt(DType::I64, &[6]));
        assert_eq!(out[0].shape.0[0], out[1].shape.0[0]);
        let ua = Op::Unique {
            axis: Some(-1),
            sorted: false,
        };
        let out = infer_op(&ua, &at, &operands, 3).unwrap();
        assert_eq!(out[0].shape.0[0], Dim::Static(2));
        assert_eq!(out[2], tt(DType::I64, &[3]));
        let bad = Op::Unique {
            axis: Some(2),
            sorted: true,
        };
        assert!(infer_op(&bad, &at, &operands, 1).is_err());
        let c2i = Op::Col2Im {
            dilations: vec![],
            pads: vec![],
            strides: vec![],
        };
        let ints = |v: &[i64]| {
            Some((
                tt(DType::I64, &[v.len()]),
                Some(Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()),
            ))
        };
        let col = Some((tt(DType::F32, &[1, 10, 12]), None));
        let out = run(
            c2i.clone(),
            &[col.clone(), ints(&[3, 4, 5]), ints(&[1, 1, 5])],
        )
        .unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[1, 2, 3, 4, 5])]);
        assert!(
            run(
                c2i.clone(),
                &[col.clone(), ints(&[3, 4, 5]), ints(&[1, 3, 1])]
            )
            .is_err()
        );
        let rt = Some((tt(DType::I64, &[2]), None));
        let out = run(c2i, &[col, rt.clone(), rt]).unwrap();
        assert!(matches!(out[0].shape.0[1], Dim::Symbolic(_)));
        assert_eq!(out[0].shape.rank(), 4);
    }

    /// The new operators are no primitives: decomposition keeps them as host nodes.
    #[test]
    fn decompose_keeps_them_on_the_host() {
        use crate::graph::Graph;
        use crate::infer::infer_node;
        let mut g = Graph::new("h");
        let x = g.add_input("x", tt(DType::F32, &[1, 2, 4, 4]));
        let grid = g.add_input("grid", tt(DType::F32, &[1, 3, 3, 2]));
        let axis = g.add_constant(Tensor::scalar(-1i64));
        let ops: Vec<(Op, Vec<Option<crate::graph::ValueId>>, usize)> = vec![
            (
                Op::CumProd {
                    exclusive: false,
                    reverse: false,
                },
                vec![Some(x), Some(axis)],
                1,
            ),
            (Op::BitCast { to: DType::I32 }, vec![Some(x)], 1),
            (Op::Det {}, vec![Some(x)], 1),
            (
                Op::Dft {
                    inverse: false,
                    onesided: false,
                },
                vec![Some(grid)],
                1,
            ),
            (
                Op::GridSample {
                    align_corners: false,
                    mode: "linear".into(),
                    padding_mode: "zeros".into(),
                },
                vec![Some(x), Some(grid)],
                1,
            ),
            (
                Op::Unique {
                    axis: None,
                    sorted: true,
                },
                vec![Some(x)],
                4,
            ),
        ];
        let count = ops.len();
        for (op, ins, n) in ops {
            let placeholder = vec![tt(DType::F32, &[]); n];
            let id = g.push_node(op, ins, placeholder, None);
            let tys = infer_node(&g, id).unwrap();
            for (k, t) in tys.into_iter().enumerate() {
                let v = g.node(id).outputs[k];
                g.values[v].ty = t;
            }
            let out = g.node(id).outputs[0];
            g.add_output(out);
        }
        let d = crate::passes::decompose::decompose(&g).unwrap();
        assert_eq!(d.host_nodes.len(), count);
    }

    #[test]
    fn stft_types() {
        let x = Some((tt(DType::F32, &[2, 128, 1]), None));
        let out = run(
            Op::Stft { onesided: true },
            &[x.clone(), scalar_i64(8), None, scalar_i64(16)],
        )
        .unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[2, 15, 9, 2])]);
        let w = Some((tt(DType::F32, &[16]), None));
        let step = Some((tt(DType::I64, &[]), None));
        let out = run(Op::Stft { onesided: false }, &[x.clone(), step, w]).unwrap();
        assert!(matches!(out[0].shape.0[1], Dim::Symbolic(_)));
        assert_eq!(out[0].shape.0[2], Dim::Static(16));
        assert!(
            run(
                Op::Stft { onesided: true },
                &[x, scalar_i64(0), None, scalar_i64(4)]
            )
            .is_err()
        );
    }

    #[test]
    fn roi_align_types() {
        let op = |mode: &str, oh| Op::RoiAlign {
            half_pixel: true,
            mode: mode.into(),
            output_height: oh,
            output_width: 5,
            sampling_ratio: 2,
            spatial_scale: 1.0,
        };
        let ins = [
            Some((tt(DType::F32, &[1, 3, 10, 10]), None)),
            Some((tt(DType::F32, &[4, 4]), None)),
            Some((tt(DType::I64, &[4]), None)),
        ];
        let out = run(op("avg", 2), &ins).unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[4, 3, 2, 5])]);
        assert!(run(op("sum", 2), &ins).is_err());
        assert!(run(op("max", 0), &ins).is_err());
        let mut bad = ins.clone();
        bad[2] = Some((tt(DType::I64, &[3]), None));
        assert!(run(op("avg", 2), &bad).is_err());
    }

    #[test]
    fn deform_conv_types() {
        let op = Op::DeformConv {
            dilations: vec![],
            group: 1,
            kernel_shape: vec![],
            offset_group: 1,
            pads: vec![],
            strides: vec![],
        };
        let x = Some((tt(DType::F32, &[1, 2, 3, 3]), None));
        let w = Some((tt(DType::F32, &[4, 2, 2, 2]), None));
        let off = Some((tt(DType::F32, &[1, 8, 2, 2]), None));
        let out = run(op.clone(), &[x.clone(), w.clone(), off]).unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[1, 4, 2, 2])]);
        let off3 = Some((tt(DType::F32, &[1, 8, 2]), None));
        assert!(run(op, &[x, w, off3]).is_err());
    }

    #[test]
    fn tfidf_types() {
        let op = |mode: &str| Op::TfIdfVectorizer {
            max_gram_length: 2,
            max_skip_count: 0,
            min_gram_length: 1,
            mode: mode.into(),
            ngram_counts: vec![0, 2],
            ngram_indexes: vec![0, 1, 4],
            pool_int64s: vec![1, 2, 1, 2],
            weights: vec![],
        };
        let x = Some((tt(DType::I32, &[3, 6]), None));
        let out = run(op("TF"), std::slice::from_ref(&x)).unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[3, 5])]);
        assert!(run(op("XX"), std::slice::from_ref(&x)).is_err());
        let s = Some((tt(DType::F32, &[6]), None));
        assert!(matches!(
            run(op("TF"), &[s]),
            Err(IrError::Unsupported { .. })
        ));
    }

    #[test]
    fn mel_types() {
        let op = |d| Op::MelWeightMatrix { output_datatype: d };
        let f = || Some((tt(DType::F32, &[]), None));
        let runtime = Some((tt(DType::I32, &[]), None));
        let ins = [scalar_i64(8), scalar_i64(256), runtime, f(), f()];
        let out = run(op(DType::F64), &ins).unwrap();
        assert_eq!(out, vec![tt(DType::F64, &[129, 8])]);
        assert!(run(op(DType::I32), &ins).is_err());
    }

    #[test]
    fn dft_types() {
        let dft = |inverse, onesided| Op::Dft { inverse, onesided };
        let x = Some((tt(DType::F32, &[1, 10, 7, 1]), None));
        let out = run(dft(false, false), std::slice::from_ref(&x)).unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[1, 10, 7, 2])]);
        let out = run(dft(false, true), &[x.clone(), None, scalar_i64(1)]).unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[1, 6, 7, 2])]);
        let out = run(
            dft(false, false),
            &[x.clone(), scalar_i64(4), scalar_i64(-3)],
        )
        .unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[1, 4, 7, 2])]);
        let c = Some((tt(DType::F32, &[6, 3, 2]), None));
        let out = run(dft(true, true), &[c.clone(), None, scalar_i64(0)]).unwrap();
        assert_eq!(out, vec![tt(DType::F32, &[10, 3, 1])]);
        // A runtime axis leaves the leading dims symbolic.
        let axis = Some((tt(DType::I64, &[]), None));
        let out = run(dft(false, false), &[c.clone(), None, axis]).unwrap();
        assert!(matches!(out[0].shape.0[0], Dim::Symbolic(_)));
        assert_eq!(out[0].shape.0[2], Dim::Static(2));
        assert!(run(dft(false, false), &[c.clone(), None, scalar_i64(-1)]).is_err());
        assert!(run(dft(false, false), &[c.clone(), scalar_i64(0)]).is_err());
        let bad = Some((tt(DType::F32, &[4, 3]), None));
        assert!(run(dft(false, false), &[bad]).is_err());
    }
}
