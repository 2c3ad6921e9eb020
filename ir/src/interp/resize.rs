//! Reference semantics of Resize: nearest, linear and cubic resampling (optionally
//! antialiased), separable over the resized axes, following ONNX's reference implementation.
//!
//! Each resized axis is resampled on its own, in f64: every output position `y` maps to a
//! source coordinate `x` by the coordinate transformation, and the output is a weighted sum of
//! the `n` input elements nearest `x` (clamped to the axis, as edge padding), with weights from
//! the interpolation kernel. Integer outputs round half to even and saturate.

use super::values::{Arr, eval_err, need, read_ints, round_float};
use crate::attr::{CoordTransform, KeepAspectRatio, NearestMode, ResizeMode};
use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::op::Op;
use crate::shape::{checked_product, normalize_axis};
use crate::tensor::Tensor;

/// The attributes of a Resize node that shape the sampling.
struct Params {
    mode: ResizeMode,
    antialias: bool,
    transform: CoordTransform,
    cubic_a: f64,
    exclude_outside: bool,
    extrapolation: f64,
    nearest: NearestMode,
}

/// The region of interest of one axis (tf_crop_and_resize), with the dtype its arithmetic
/// happens in.
#[derive(Clone, Copy)]
struct Roi {
    start: f64,
    end: f64,
    dtype: DType,
}

/// How one resized axis is resampled.
struct AxisPlan {
    axis: usize,
    scale: f64,
    out: usize,
    roi: Option<Roi>,
}

/// The input elements and weights one output position reads, or `None` where
/// tf_crop_and_resize extrapolates.
type Taps = Option<Vec<(usize, f64)>>;

/// Evaluates Resize on `(X, roi?, scales?, sizes?)`.
pub fn eval(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let Op::Resize {
        antialias,
        axes,
        coordinate_transformation_mode,
        cubic_coeff_a,
        exclude_outside,
        extrapolation_value,
        keep_aspect_ratio_policy,
        mode,
        nearest_mode,
    } = op
    else {
        return Err(eval_err(
            at,
            format!("operator `{}` is not Resize", op.name()),
        ));
    };
    let p = Params {
        mode: *mode,
        antialias: *antialias,
        transform: *coordinate_transformation_mode,
        cubic_a: *cubic_coeff_a as f64,
        exclude_outside: *exclude_outside,
        extrapolation: *extrapolation_value as f64,
        nearest: *nearest_mode,
    };
    if p.antialias && p.mode == ResizeMode::Nearest {
        return Err(attr_err(at, "antialias", "is not defined for nearest mode"));
    }
    let x = need(inputs, 0, at)?;
    let axes = resize_axes(at, axes, x.rank())?;
    let plans = plan(at, inputs, x.shape(), &axes, *keep_aspect_ratio_policy, &p)?;
    let mut shape = x.shape().to_vec();
    for pl in &plans {
        shape[pl.axis] = pl.out;
    }
    // A guard against absurd allocations from bad scales or sizes.
    let n = checked_product(&shape)
        .filter(|&n| n <= 1 << 36)
        .ok_or_else(|| shape_err(at, inputs, "the output has too many elements"))?;
    let mut data: Vec<f64> = (0..x.len()).map(|i| x.get_f64(i)).collect();
    let mut cur = x.shape().to_vec();
    if n > 0 {
        for pl in &plans {
            if is_identity(pl, cur[pl.axis]) {
                continue;
            }
            if cur[pl.axis] == 0 {
                return Err(shape_err(
                    at,
                    inputs,
                    format!("cannot resample empty axis {} to {}", pl.axis, pl.out),
                ));
            }
            let taps = axis_taps(pl, cur[pl.axis], &p);
            data = resample(&data, &cur, pl.axis, &taps, p.extrapolation);
            cur[pl.axis] = pl.out;
        }
    } else {
        data.clear();
    }
    Ok(vec![narrow(x.dtype(), shape, data)])
}

/// An `Attribute` error.
fn attr_err(at: &At, attr: &'static str, message: impl Into<String>) -> IrError {
    IrError::Attribute {
        at: at.clone(),
        attr,
        message: message.into(),
    }
}

/// An `InputShape` error listing the present inputs' shapes.
fn shape_err(at: &At, inputs: &[Option<&Tensor>], message: impl Into<String>) -> IrError {
    IrError::InputShape {
        at: at.clone(),
        message: message.into(),
        shapes: inputs.iter().flatten().map(|t| t.ir_shape()).collect(),
    }
}

/// The resized axes: the `axes` attribute normalized (every axis when empty), none repeated.
fn resize_axes(at: &At, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    if axes.is_empty() {
        return Ok((0..rank).collect());
    }
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = normalize_axis(a, rank)
            .ok_or_else(|| attr_err(at, "axes", format!("{a} is out of range for rank {rank}")))?;
        if out.contains(&n) {
            return Err(attr_err(at, "axes", format!("{axes:?} repeat axis {n}")));
        }
        out.push(n);
    }
    Ok(out)
}

/// A present, non-empty optional operand.
fn operand<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Option<&'a Tensor> {
    inputs.get(i).copied().flatten().filter(|t| !t.is_empty())
}

/// Works out the scale, output extent and roi of each resized axis from `scales` or
/// `sizes` (exactly one of them), `keep_aspect_ratio_policy` and `roi`.
fn plan(
    at: &At,
    inputs: &[Option<&Tensor>],
    shape: &[usize],
    axes: &[usize],
    policy: KeepAspectRatio,
    p: &Params,
) -> Result<Vec<AxisPlan>> {
    let k = axes.len();
    let rois = read_roi(at, inputs, k, p)?;
    let roi_of = |i: usize| rois.as_ref().map(|r| r[i]);
    match (operand(inputs, 2), operand(inputs, 3)) {
        (Some(scales), None) => {
            if !scales.dtype().is_float() || scales.len() != k {
                return Err(shape_err(
                    at,
                    inputs,
                    format!("scales must be {k} floats, one per resized axis"),
                ));
            }
            let s = Arr::from_tensor(scales);
            (0..k)
                .map(|i| {
                    let scale = s.f(i);
                    let out = scale * shape[axes[i]] as f64;
                    // Also refuses NaN scales and outputs too large to index.
                    let valid = scale > 0.0 && out < (usize::MAX >> 8) as f64;
                    if !valid {
                        return Err(eval_err(at, format!("scale {scale} must be positive")));
                    }
                    Ok(AxisPlan {
                        axis: axes[i],
                        scale,
                        out: out.floor() as usize,
                        roi: roi_of(i),
                    })
                })
                .collect()
        }
        (None, Some(sizes)) => {
            let sizes = read_ints(sizes, at, "sizes")?;
            if sizes.len() != k {
                return Err(shape_err(
                    at,
                    inputs,
                    format!("sizes must have {k} entries, one per resized axis"),
                ));
            }
            let mut outs = Vec::with_capacity(k);
            for &s in &sizes {
                outs.push(
                    usize::try_from(s)
                        .map_err(|_| eval_err(at, format!("size {s} must not be negative")))?,
                );
            }
            let mut scales: Vec<f64> = (0..k)
                .map(|i| outs[i] as f64 / shape[axes[i]] as f64)
                .collect();
            if policy != KeepAspectRatio::Stretch {
                let pick = if policy == KeepAspectRatio::NotLarger {
                    f64::min
                } else {
                    f64::max
                };
                let common = scales.iter().copied().reduce(pick).unwrap_or(1.0);
                for i in 0..k {
                    scales[i] = common;
                    outs[i] = (common * shape[axes[i]] as f64 + 0.5) as usize;
                }
            }
            Ok((0..k)
                .map(|i| AxisPlan {
                    axis: axes[i],
                    scale: scales[i],
                    out: outs[i],
                    roi: roi_of(i),
                })
                .collect())
        }
        (Some(_), Some(_)) => Err(shape_err(
            at,
            inputs,
            "only one of scales and sizes may be given",
        )),
        (None, None) => Err(shape_err(at, inputs, "one of scales and sizes is required")),
    }
}

/// The roi `[starts..., ends...]` per resized axis, read only for tf_crop_and_resize (which
/// requires it).
fn read_roi(at: &At, inputs: &[Option<&Tensor>], k: usize, p: &Params) -> Result<Option<Vec<Roi>>> {
    if p.transform != CoordTransform::TfCropAndResize {
        return Ok(None);
    }
    let t = operand(inputs, 1)
        .ok_or_else(|| shape_err(at, inputs, "tf_crop_and_resize needs the roi input"))?;
    if !t.dtype().is_float() || t.len() != 2 * k {
        return Err(shape_err(
            at,
            inputs,
            format!(
                "roi must be {} floats: starts then ends of the resized axes",
                2 * k
            ),
        ));
    }
    let r = Arr::from_tensor(t);
    Ok(Some(
        (0..k)
            .map(|i| Roi {
                start: r.f(i),
                end: r.f(k + i),
                dtype: t.dtype(),
            })
            .collect(),
    ))
}

/// True when resampling the axis would copy it unchanged (the reference skips such axes).
fn is_identity(pl: &AxisPlan, len: usize) -> bool {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    close(pl.scale, 1.0)
        && pl.out == len
        && pl.roi.is_none_or(|r| r.start == 0.0 && close(r.end, 1.0))
}

/// The source coordinate of output position `y`, and whether it lies outside the input
/// (only tf_crop_and_resize extrapolates).
fn source_coord(p: &Params, pl: &AxisPlan, y: f64, len: usize) -> (f64, bool) {
    let (scale, in_w) = (pl.scale, len as f64);
    let out_w = scale * in_w;
    match p.transform {
        CoordTransform::AlignCorners if out_w == 1.0 => (0.0, false),
        CoordTransform::AlignCorners => (y * (in_w - 1.0) / (out_w - 1.0), false),
        CoordTransform::Asymmetric => (y / scale, false),
        CoordTransform::PytorchHalfPixel if out_w == 1.0 => (-0.5, false),
        CoordTransform::PytorchHalfPixel | CoordTransform::HalfPixel => {
            ((y + 0.5) / scale - 0.5, false)
        }
        CoordTransform::HalfPixelSymmetric => {
            let adjustment = pl.out as f64 / out_w;
            let offset = in_w / 2.0 * (1.0 - adjustment);
            (offset + (y + 0.5) / scale - 0.5, false)
        }
        CoordTransform::TfCropAndResize => {
            let roi = pl.roi.unwrap_or(Roi {
                start: 0.0,
                end: 1.0,
                dtype: DType::F64,
            });
            // The roi's own arithmetic happens in its dtype, as in the reference.
            let r = |v: f64| round_float(v, roi.dtype);
            let span = r(roi.end - roi.start);
            let x = if out_w == 1.0 {
                r(r(span * (in_w - 1.0)) / 2.0)
            } else {
                y * span * (in_w - 1.0) / (out_w - 1.0)
            };
            let x = x + r(roi.start * (in_w - 1.0));
            (x, x < 0.0 || x > in_w - 1.0)
        }
    }
}

/// The interpolation weights for fractional position `ratio` in `(0, 1]` (1 at an exact
/// input position) of the pixel left of the source coordinate.
fn kernel(p: &Params, ratio: f64, scale: f64) -> Vec<f64> {
    let a = p.cubic_a;
    match (p.mode, p.antialias) {
        (ResizeMode::Nearest, _) => {
            let up = match p.nearest {
                _ if ratio == 1.0 => true,
                NearestMode::RoundPreferFloor => ratio > 0.5,
                NearestMode::RoundPreferCeil => ratio >= 0.5,
                NearestMode::Floor => false,
                NearestMode::Ceil => true,
            };
            vec![(!up) as u8 as f64, up as u8 as f64]
        }
        (ResizeMode::Linear, false) => vec![1.0 - ratio, ratio],
        (ResizeMode::Cubic, false) => {
            let (r1, q) = (ratio + 1.0, 1.0 - ratio);
            let q1 = q + 1.0;
            vec![
                ((a * r1 - 5.0 * a) * r1 + 8.0 * a) * r1 - 4.0 * a,
                ((a + 2.0) * ratio - (a + 3.0)) * ratio * ratio + 1.0,
                ((a + 2.0) * q - (a + 3.0)) * q * q + 1.0,
                ((a * q1 - 5.0 * a) * q1 + 8.0 * a) * q1 - 4.0 * a,
            ]
        }
        (ResizeMode::Linear, true) => {
            let s = scale.min(1.0);
            let start = (-1.0 / s).floor() as i64 + 1;
            let taps = (start..start + 2 - 2 * start)
                .map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0))
                .collect();
            normalized(taps)
        }
        (ResizeMode::Cubic, true) => {
            let s = scale.min(1.0);
            let start = (-2.0 / s).floor() as i64 + 1;
            let taps = (start..2 - start)
                .map(|i| cubic_weight(a, s * (i as f64 - ratio)))
                .collect();
            normalized(taps)
        }
    }
}

/// Keys' cubic convolution weight at distance `x` with coefficient `a`.
fn cubic_weight(a: f64, x: f64) -> f64 {
    let x = x.abs();
    let (x2, x3) = (x * x, x * x * x);
    if x <= 1.0 {
        (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
    } else if x < 2.0 {
        a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
    } else {
        0.0
    }
}

/// Weights divided by their sum (left alone when the sum is 0).
fn normalized(w: Vec<f64>) -> Vec<f64> {
    let sum: f64 = w.iter().sum();
    if sum == 0.0 {
        return w;
    }
    w.into_iter().map(|c| c / sum).collect()
}

/// For each output position of the axis, the input positions and weights it reads: the `n`
/// positions nearest the source coordinate (ties to the left), clamped into the axis; with
/// `exclude_outside`, positions outside the axis get weight 0 and the rest renormalize.
fn axis_taps(pl: &AxisPlan, len: usize, p: &Params) -> Vec<Taps> {
    (0..pl.out)
        .map(|y| {
            let (x, outside) = source_coord(p, pl, y as f64, len);
            if outside {
                return None;
            }
            let xi = x.floor();
            let ratio = if x == xi { 1.0 } else { x - xi };
            let mut w = kernel(p, ratio, pl.scale);
            let n = w.len() as i64;
            let pad = (n + 1) / 2;
            let xp = x + pad as f64;
            let pp = xp.floor();
            let frac = xp - pp;
            let offset = if n % 2 == 0 {
                if frac == 0.0 { -(n / 2) } else { -(n / 2) + 1 }
            } else if frac <= 0.5 {
                -((n - 1) / 2)
            } else {
                -((n - 1) / 2) + 1
            };
            let first = pp as i64 + offset - pad;
            let last = len as i64 - 1;
            if p.exclude_outside {
                for (k, c) in w.iter_mut().enumerate() {
                    let i = first + k as i64;
                    if i < 0 || i > last {
                        *c = 0.0;
                    }
                }
                let sum: f64 = w.iter().sum();
                let sum = if sum == 0.0 { 1.0 } else { sum };
                w.iter_mut().for_each(|c| *c /= sum);
            }
            Some(
                w.into_iter()
                    .enumerate()
                    .map(|(k, c)| ((first + k as i64).clamp(0, last) as usize, c))
                    .collect(),
            )
        })
        .collect()
}

/// Resamples `data` (of `shape`) along `axis` with the given taps per output position.
///
/// Zero weights are skipped, so an infinite or NaN neighbour the kernel does not use leaves
/// the result alone (the reference multiplies it by 0 and gets NaN).
fn resample(
    data: &[f64],
    shape: &[usize],
    axis: usize,
    taps: &[Taps],
    extrapolation: f64,
) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = Vec::with_capacity(outer * taps.len() * inner);
    for o in 0..outer {
        for t in taps {
            for i in 0..inner {
                let v = match t {
                    None => extrapolation,
                    Some(t) => t
                        .iter()
                        .filter(|(_, c)| *c != 0.0)
                        .map(|&(k, c)| c * data[(o * len + k) * inner + i])
                        .reduce(|a, b| a + b)
                        .unwrap_or(0.0),
                };
                out.push(v);
            }
        }
    }
    out
}

/// Narrows the f64 result to the input dtype: floats round to nearest, integers round half to
/// even and saturate (NaN becomes 0).
fn narrow(dtype: DType, shape: Vec<usize>, data: Vec<f64>) -> Tensor {
    match dtype.int_range() {
        None => Arr::floats(dtype, shape, data).to_tensor(),
        Some((lo, hi)) => {
            let v = data
                .into_iter()
                .map(|x| {
                    if x.is_nan() {
                        0
                    } else {
                        (x.round_ties_even() as i128).clamp(lo, hi)
                    }
                })
                .collect();
            Arr::ints(dtype, shape, v).to_tensor()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::AttrList;

    fn at() -> At {
        At {
            node: "r".into(),
            op: "resize",
        }
    }

    /// A Resize op from text-form attributes.
    fn op(attrs: &[(&str, crate::attr::Attr)]) -> Op {
        let list: AttrList = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Op::from_parts("resize", list).unwrap()
    }

    fn ident(s: &str) -> crate::attr::Attr {
        crate::attr::Attr::Ident(s.into())
    }

    fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    fn scales(v: &[f32]) -> Tensor {
        f32t(&[v.len()], v)
    }

    fn sizes(v: &[i64]) -> Tensor {
        Tensor::from_slice(&[v.len()], v).unwrap()
    }

    /// Runs Resize and returns the output shape and values as f64.
    fn run(op: &Op, inputs: &[Option<&Tensor>]) -> (Vec<usize>, Vec<f64>) {
        let out = eval(op, &at(), inputs).unwrap().remove(0);
        let v = (0..out.len()).map(|i| out.get_f64(i)).collect();
        (out.shape().to_vec(), v)
    }

    fn close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn nearest_upsample_by_scales() {
        let x = f32t(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = scales(&[1.0, 1.0, 2.0, 3.0]);
        let (shape, v) = run(&op(&[]), &[Some(&x), None, Some(&s)]);
        assert_eq!(shape, vec![1, 1, 4, 6]);
        let row1 = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0];
        let row2 = [3.0, 3.0, 3.0, 4.0, 4.0, 4.0];
        let want: Vec<f64> = [row1, row1, row2, row2].concat();
        assert_eq!(v, want);
    }

    #[test]
    fn nearest_modes_and_symmetric_transform() {
        let x = f32t(&[5], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        let s = scales(&[0.6]);
        let o = op(&[
            (
                "coordinate_transformation_mode",
                ident("half_pixel_symmetric"),
            ),
            ("nearest_mode", ident("round_prefer_ceil")),
        ]);
        assert_eq!(run(&o, &[Some(&x), None, Some(&s)]).1, vec![0.0, 2.0, 4.0]);
        // asymmetric + floor: x = y / 2.5 -> 0, 0.4, 0.8, 1.2, 1.6, 2, ...
        let s = scales(&[2.5]);
        let o = op(&[
            ("coordinate_transformation_mode", ident("asymmetric")),
            ("nearest_mode", ident("floor")),
        ]);
        let (shape, v) = run(&o, &[Some(&x), None, Some(&s)]);
        assert_eq!(shape, vec![12]);
        assert_eq!(&v[..6], &[0.0, 0.0, 0.0, 1.0, 1.0, 2.0]);
    }

    #[test]
    fn linear_half_pixel_and_align_corners() {
        let x = f32t(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = scales(&[1.0, 1.0, 2.0, 2.0]);
        let lin = op(&[("mode", ident("linear"))]);
        let (shape, v) = run(&lin, &[Some(&x), None, Some(&s)]);
        assert_eq!(shape, vec![1, 1, 4, 4]);
        #[rustfmt::skip]
        let want = [
            1.0, 1.25, 1.75, 2.0,
            1.5, 1.75, 2.25, 2.5,
            2.5, 2.75, 3.25, 3.5,
            3.0, 3.25, 3.75, 4.0,
        ];
        close(&v, &want);
        let ac = op(&[
            ("mode", ident("linear")),
            ("coordinate_transformation_mode", ident("align_corners")),
        ]);
        let (_, v) = run(&ac, &[Some(&x), None, Some(&s)]);
        close(&v[..4], &[1.0, 4.0 / 3.0, 5.0 / 3.0, 2.0]);
        close(&v[12..], &[3.0, 10.0 / 3.0, 11.0 / 3.0, 4.0]);
    }

    #[test]
    fn pytorch_half_pixel_by_sizes() {
        let x = f32t(&[5], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        let o = op(&[
            ("mode", ident("linear")),
            (
                "coordinate_transformation_mode",
                ident("pytorch_half_pixel"),
            ),
        ]);
        let (shape, v) = run(&o, &[Some(&x), None, None, Some(&sizes(&[3]))]);
        assert_eq!(shape, vec![3]);
        close(&v, &[1.0 / 3.0, 2.0, 11.0 / 3.0]);
        // A length-1 output samples coordinate -0.5, i.e. the first element.
        assert_eq!(
            run(&o, &[Some(&x), None, None, Some(&sizes(&[1]))]).1,
            vec![0.0]
        );
    }

    #[test]
    fn cubic_kernels() {
        // ONNX's resize_downsample_scales_cubic example.
        let v: Vec<f32> = (1..=16).map(|i| i as f32).collect();
        let x = f32t(&[1, 1, 4, 4], &v);
        let s = scales(&[1.0, 1.0, 0.8, 0.8]);
        let cubic = op(&[("mode", ident("cubic"))]);
        let (shape, v) = run(&cubic, &[Some(&x), None, Some(&s)]);
        assert_eq!(shape, vec![1, 1, 3, 3]);
        #[rustfmt::skip]
        let want = [
            1.47119141, 2.78125, 4.08251953,
            6.71142578, 8.02148438, 9.32275391,
            11.91650391, 13.2265625, 14.52783203,
        ];
        close(&v, &want);
        // asymmetric upsampling by 1.5 (values from the reference implementation).
        let x = f32t(&[4], &[1.0, 4.0, 2.0, 8.0]);
        let o = op(&[
            ("mode", ident("cubic")),
            ("coordinate_transformation_mode", ident("asymmetric")),
        ]);
        let (_, v) = run(&o, &[Some(&x), None, Some(&scales(&[1.5]))]);
        close(&v, &[1.0, 3.27777778, 3.37037037, 2.0, 6.0, 8.66666667]);
        // a = -0.5 with exclude_outside renormalizes the weights inside the axis.
        let o = op(&[
            ("mode", ident("cubic")),
            ("cubic_coeff_a", crate::attr::Attr::Float(-0.5)),
            ("exclude_outside", crate::attr::Attr::Int(1)),
        ]);
        let (_, v) = run(&o, &[Some(&x), None, Some(&scales(&[1.5]))]);
        close(
            &v,
            &[
                0.80263158, 2.52941176, 3.86342593, 1.92824074, 5.05882353, 8.39473684,
            ],
        );
    }

    #[test]
    fn antialias_downsampling() {
        let x = f32t(&[8], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let s = scales(&[0.5]);
        let lin = op(&[
            ("mode", ident("linear")),
            ("antialias", crate::attr::Attr::Int(1)),
        ]);
        close(
            &run(&lin, &[Some(&x), None, Some(&s)]).1,
            &[0.625, 2.5, 4.5, 6.375],
        );
        let cub = op(&[
            ("mode", ident("cubic")),
            ("antialias", crate::attr::Attr::Int(1)),
        ]);
        close(
            &run(&cub, &[Some(&x), None, Some(&s)]).1,
            &[0.47265625, 2.48242188, 4.51757812, 6.52734375],
        );
    }

    #[test]
    fn tf_crop_and_resize_extrapolates() {
        let v: Vec<f32> = (1..=16).map(|i| i as f32).collect();
        let x = f32t(&[1, 1, 4, 4], &v);
        let roi = f32t(&[8], &[0.0, 0.0, 0.4, 0.6, 1.0, 1.0, 1.2, 1.7]);
        let o = op(&[
            ("mode", ident("linear")),
            (
                "coordinate_transformation_mode",
                ident("tf_crop_and_resize"),
            ),
            ("extrapolation_value", crate::attr::Attr::Float(10.0)),
        ]);
        let sz = sizes(&[1, 1, 3, 3]);
        let (shape, v) = run(&o, &[Some(&x), Some(&roi), None, Some(&sz)]);
        assert_eq!(shape, vec![1, 1, 3, 3]);
        close(
            &v,
            &[
                7.6000004, 10.0, 10.0, 12.400001, 10.0, 10.0, 10.0, 10.0, 10.0,
            ],
        );
        // The same crop through `axes` (negative) and a 4-entry roi.
        let o = op(&[
            ("mode", ident("linear")),
            (
                "coordinate_transformation_mode",
                ident("tf_crop_and_resize"),
            ),
            ("extrapolation_value", crate::attr::Attr::Float(10.0)),
            ("axes", crate::attr::Attr::Ints(vec![-2, 3])),
        ]);
        let roi = f32t(&[4], &[0.4, 0.6, 1.2, 1.7]);
        let (_, v2) = run(&o, &[Some(&x), Some(&roi), None, Some(&sizes(&[3, 3]))]);
        assert_eq!(v, v2);
    }

    #[test]
    fn keep_aspect_ratio_policies() {
        let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let sz = sizes(&[7, 8]);
        let smaller = op(&[("keep_aspect_ratio_policy", ident("not_larger"))]);
        assert_eq!(
            run(&smaller, &[Some(&x), None, None, Some(&sz)]).0,
            vec![7, 7]
        );
        let larger = op(&[("keep_aspect_ratio_policy", ident("not_smaller"))]);
        assert_eq!(
            run(&larger, &[Some(&x), None, None, Some(&sz)]).0,
            vec![8, 8]
        );
        let stretch = op(&[]);
        assert_eq!(
            run(&stretch, &[Some(&x), None, None, Some(&sz)]).0,
            vec![7, 8]
        );
    }

    #[test]
    fn integer_outputs_round_half_even_and_saturate() {
        let x = Tensor::from_slice(&[2], &[0u8, 2]).unwrap();
        let lin = op(&[("mode", ident("linear"))]);
        let out = eval(&lin, &at(), &[Some(&x), None, Some(&scales(&[2.0]))])
            .unwrap()
            .remove(0);
        // 0, 0.5, 1.5, 2 round half to even.
        assert_eq!(out.to_vec::<u8>().unwrap(), vec![0, 0, 2, 2]);
        // Cubic overshoot past 255 saturates instead of wrapping.
        let x = Tensor::from_slice(&[4], &[0u8, 255, 255, 0]).unwrap();
        let cub = op(&[("mode", ident("cubic"))]);
        let out = eval(&cub, &at(), &[Some(&x), None, Some(&scales(&[2.0]))])
            .unwrap()
            .remove(0);
        let v = out.to_vec::<u8>().unwrap();
        assert!(v.contains(&255) && v.contains(&0), "{v:?}");
    }

    #[test]
    fn nan_and_inf_propagation() {
        let x = f32t(&[3], &[1.0, f32::NAN, f32::INFINITY]);
        let lin = op(&[("mode", ident("linear"))]);
        let (_, v) = run(&lin, &[Some(&x), None, Some(&scales(&[2.0]))]);
        assert_eq!(v[0], 1.0);
        assert!(v[1].is_nan() && v[2].is_nan());
        assert_eq!(v[5], f64::INFINITY);
        // Nearest only reads the chosen element: an infinite neighbour stays out of it.
        let x = f32t(&[2], &[1.0, f32::INFINITY]);
        let (_, v) = run(&op(&[]), &[Some(&x), None, Some(&scales(&[2.0]))]);
        assert_eq!(v, vec![1.0, 1.0, f64::INFINITY, f64::INFINITY]);
    }

    #[test]
    fn empty_and_identity() {
        let x = f32t(&[0, 3], &[]);
        let (shape, v) = run(&op(&[]), &[Some(&x), None, Some(&scales(&[1.0, 2.0]))]);
        assert_eq!(shape, vec![0, 6]);
        assert!(v.is_empty());
        let x = f32t(&[2], &[5.0, 6.0]);
        let (shape, v) = run(&op(&[]), &[Some(&x), None, Some(&scales(&[1.0]))]);
        assert_eq!((shape, v), (vec![2], vec![5.0, 6.0]));
        // An empty scales tensor counts as absent (opset-11 style), sizes then rule.
        let none = f32t(&[0], &[]);
        let (shape, _) = run(
            &op(&[]),
            &[Some(&x), Some(&none), Some(&none), Some(&sizes(&[3]))],
        );
        assert_eq!(shape, vec![3]);
    }

    #[test]
    fn errors() {
        let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = scales(&[2.0, 2.0]);
        let sz = sizes(&[4, 4]);
        let e = |o: &Op, inputs: &[Option<&Tensor>]| eval(o, &at(), inputs).unwrap_err();
        let plain = op(&[]);
        assert!(matches!(
            e(&plain, &[Some(&x), None, Some(&s), Some(&sz)]),
            IrError::InputShape { .. }
        ));
        assert!(matches!(e(&plain, &[Some(&x)]), IrError::InputShape { .. }));
        assert!(matches!(
            e(&plain, &[Some(&x), None, Some(&scales(&[2.0]))]),
            IrError::InputShape { .. }
        ));
        assert!(matches!(
            e(&plain, &[Some(&x), None, Some(&scales(&[2.0, 0.0]))]),
            IrError::Eval { .. }
        ));
        assert!(matches!(
            e(&plain, &[Some(&x), None, None, Some(&sizes(&[2, -1]))]),
            IrError::Eval { .. }
        ));
        let aa = op(&[("antialias", crate::attr::Attr::Int(1))]);
        assert!(matches!(
            e(&aa, &[Some(&x), None, Some(&s)]),
            IrError::Attribute { .. }
        ));
        let tf = op(&[(
            "coordinate_transformation_mode",
            ident("tf_crop_and_resize"),
        )]);
        assert!(matches!(
            e(&tf, &[Some(&x), None, Some(&s)]),
            IrError::InputShape { .. }
        ));
        let dup = op(&[("axes", crate::attr::Attr::Ints(vec![1, -1]))]);
        assert!(matches!(
            e(&dup, &[Some(&x), None, Some(&s)]),
            IrError::Attribute { .. }
        ));
        let far = op(&[("axes", crate::attr::Attr::Ints(vec![2]))]);
        assert!(matches!(
            e(&far, &[Some(&x), None, Some(&scales(&[2.0]))]),
            IrError::Attribute { .. }
        ));
        // Growing an empty axis has nothing to sample.
        let empty = f32t(&[2, 0], &[]);
        assert!(
            e(&plain, &[Some(&empty), None, None, Some(&sizes(&[2, 3]))])
                .to_string()
                .contains("empty axis")
        );
    }
}
