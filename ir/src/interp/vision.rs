//! Interpreter for NonMaxSuppression, Unique, Col2Im, RoiAlign and DeformConv.

use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::interp::values::{Arr, Data, eval_err, need, read_ints, unravel};
use crate::op::Op;
use crate::tensor::Tensor;
use std::cmp::Ordering;

/// Evaluates one of this file's operators.
pub fn eval(
    op: &Op,
    at: &At,
    inputs: &[Option<&Tensor>],
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    match op {
        Op::NonMaxSuppression { center_point_box } => Ok(vec![nms(*center_point_box, at, inputs)?]),
        Op::Unique { axis, sorted } => unique(*axis, *sorted, at, inputs, num_outputs),
        Op::Col2Im {
            dilations,
            pads,
            strides,
        } => Ok(vec![col2im(dilations, pads, strides, at, inputs)?]),
        Op::RoiAlign { .. } => Ok(vec![roi_align(op, at, inputs)?]),
        Op::DeformConv { .. } => Ok(vec![deform_conv(op, at, inputs)?]),
        _ => Err(eval_err(at, "not a vision operator")),
    }
}

fn float_input<'a>(inputs: &[Option<&'a Tensor>], i: usize, at: &At) -> Result<&'a Tensor> {
    let t = need(inputs, i, at)?;
    if !t.dtype().is_float() {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: i,
            dtype: t.dtype(),
            expected: "a float dtype".into(),
        });
    }
    Ok(t)
}

/// The first element of optional operand `i` as f64, or `None` when absent or empty.
fn first_f64(inputs: &[Option<&Tensor>], i: usize) -> Option<f64> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .filter(|t| !t.is_empty())
        .map(|t| t.get_f64(0))
}

/// A box as `(x_min, y_min, x_max, y_max)`.
fn corners(b: [f64; 4], center: bool) -> [f64; 4] {
    if center {
        let (hw, hh) = (b[2] / 2.0, b[3] / 2.0);
        [b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh]
    } else {
        [
            b[1].min(b[3]),
            b[0].min(b[2]),
            b[1].max(b[3]),
            b[0].max(b[2]),
        ]
    }
}

/// True when the intersection over union of `a` and `b` exceeds `threshold`.
fn overlaps(a: [f64; 4], b: [f64; 4], threshold: f64) -> bool {
    let iw = a[2].min(b[2]) - a[0].max(b[0]);
    let ih = a[3].min(b[3]) - a[1].max(b[1]);
    if iw <= 0.0 || ih <= 0.0 {
        return false;
    }
    let inter = iw * ih;
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    let union = area_a + area_b - inter;
    if area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
        return false;
    }
    inter / union > threshold
}

/// NonMaxSuppression: per batch and class, boxes by descending score (ties: lower index first),
/// each kept unless it overlaps a kept box by more than the IoU threshold.
fn nms(center_point_box: i64, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let (boxes, scores) = (float_input(inputs, 0, at)?, float_input(inputs, 1, at)?);
    let (bs, ss) = (boxes.shape(), scores.shape());
    if bs.len() != 3 || bs[2] != 4 || ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
        return Err(eval_err(
            at,
            format!(
                "NonMaxSuppression needs boxes [B, n, 4] and scores [B, C, n], got {} and {}",
                boxes.ir_shape(),
                scores.ir_shape()
            ),
        ));
    }
    let max_out = match inputs.get(2).copied().flatten().filter(|t| !t.is_empty()) {
        Some(t) => read_ints(t, at, "max_output_boxes_per_class")?[0].max(0) as usize,
        None => 0,
    };
    let iou = first_f64(inputs, 3).unwrap_or(0.0);
    let score_min = first_f64(inputs, 4);
    let center = center_point_box != 0;
    let (nb, nc, n) = (ss[0], ss[1], ss[2]);
    let (ba, sa) = (Arr::from_tensor(boxes), Arr::from_tensor(scores));
    let mut rows: Vec<i64> = Vec::new();
    for b in 0..nb {
        let bx = |i: usize| {
            let o = (b * n + i) * 4;
            corners([ba.f(o), ba.f(o + 1), ba.f(o + 2), ba.f(o + 3)], center)
        };
        for c in 0..nc {
            let score = |i: usize| sa.f((b * nc + c) * n + i);
            let mut cand: Vec<usize> = (0..n)
                .filter(|&i| score_min.is_none_or(|m| score(i) > m))
                .collect();
            cand.sort_by(|&i, &j| score(j).total_cmp(&score(i)).then(i.cmp(&j)));
            let mut kept: Vec<usize> = Vec::new();
            for i in cand {
                if kept.len() >= max_out {
                    break;
                }
                if kept.iter().all(|&k| !overlaps(bx(i), bx(k), iou)) {
                    kept.push(i);
                    rows.extend([b as i64, c as i64, i as i64]);
                }
            }
        }
    }
    Ok(Tensor::from_vec(&[rows.len() / 3, 3], rows)?)
}

/// Orders two values: NaN above every number and equal to another NaN, -0 equal to +0.
fn cmp_value(data: &Data, i: usize, j: usize) -> Ordering {
    match data {
        Data::I(v) => v[i].cmp(&v[j]),
        Data::F(v) => match (v[i].is_nan(), v[j].is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => v[i].partial_cmp(&v[j]).unwrap_or(Ordering::Equal),
        },
    }
}

/// Unique elements or slices; outputs `(Y, indices, inverse_indices, counts)`.
fn unique(
    axis: Option<i64>,
    sorted: bool,
    at: &At,
    inputs: &[Option<&Tensor>],
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    let x = need(inputs, 0, at)?;
    let a = Arr::from_tensor(x);
    // Slices: (outer, n, inner) around the axis; without an axis, the flat elements.
    let (shape, ax) = match axis {
        None => (vec![x.len()], 0),
        Some(v) => {
            let ax = crate::shape::normalize_axis(v, x.rank()).ok_or_else(|| {
                eval_err(
                    at,
                    format!("axis {v} is out of range for rank {}", x.rank()),
                )
            })?;
            (x.shape().to_vec(), ax)
        }
    };
    let outer: usize = shape[..ax].iter().product();
    let n = shape[ax];
    let inner: usize = shape[ax + 1..].iter().product();
    let elems = |s: usize| -> Vec<usize> {
        (0..outer)
            .flat_map(|o| (0..inner).map(move |i| (o * n + s) * inner + i))
            .collect()
    };
    let slices: Vec<Vec<usize>> = (0..n).map(elems).collect();
    let cmp = |p: usize, q: usize| -> Ordering {
        slices[p]
            .iter()
            .zip(&slices[q])
            .map(|(&i, &j)| cmp_value(&a.data, i, j))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    };
    // First occurrences in input order, then (sorted) in ascending order.
    let mut firsts: Vec<usize> = Vec::new();
    let mut inverse_first = Vec::with_capacity(n);
    for s in 0..n {
        match firsts.iter().position(|&f| cmp(f, s) == Ordering::Equal) {
            Some(k) => inverse_first.push(k),
            None => {
                inverse_first.push(firsts.len());
                firsts.push(s);
            }
        }
    }
    let mut order: Vec<usize> = (0..firsts.len()).collect();
    if sorted {
        order.sort_by(|&p, &q| cmp(firsts[p], firsts[q]));
    }
    let mut rank = vec![0usize; firsts.len()];
    for (r, &k) in order.iter().enumerate() {
        rank[k] = r;
    }
    let u = order.len();
    let mut counts = vec![0i64; u];
    let inverse: Vec<i64> = inverse_first
        .iter()
        .map(|&k| {
            counts[rank[k]] += 1;
            rank[k] as i64
        })
        .collect();
    let indices: Vec<i64> = order.iter().map(|&k| firsts[k] as i64).collect();
    let mut y_shape = shape.clone();
    y_shape[ax] = u;
    let picks: Vec<usize> = (0..outer)
        .flat_map(|o| {
            let (order, firsts) = (&order, &firsts);
            order
                .iter()
                .flat_map(move |&k| (0..inner).map(move |i| (o * n + firsts[k]) * inner + i))
        })
        .collect();
    let y = a.gather(y_shape, &picks).to_tensor();
    let mut out = vec![y];
    for v in [indices, inverse, counts]
        .into_iter()
        .take(num_outputs.saturating_sub(1))
    {
        out.push(Tensor::from_vec(&[v.len()], v)?);
    }
    Ok(out)
}

/// A per-axis attribute: `values` of length `k` (or `2k` for pads), or `default` when empty.
fn per_axis(values: &[i64], k: usize, default: i64, name: &str, at: &At) -> Result<Vec<i64>> {
    if values.is_empty() {
        return Ok(vec![default; k]);
    }
    if values.len() != k {
        return Err(eval_err(
            at,
            format!("{name} has {} values, expected {k}", values.len()),
        ));
    }
    Ok(values.to_vec())
}

/// Col2Im: sums each column of `input` into the image positions its block covers.
fn col2im(
    dilations: &[i64],
    pads: &[i64],
    strides: &[i64],
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Tensor> {
    let x = need(inputs, 0, at)?;
    let image = read_ints(need(inputs, 1, at)?, at, "image_shape")?;
    let block = read_ints(need(inputs, 2, at)?, at, "block_shape")?;
    let k = image.len();
    let xs = x.shape();
    let bad = |m: String| eval_err(at, m);
    if block.len() != k || k == 0 || xs.len() != 3 {
        return Err(bad(format!(
            "Col2Im needs input [N, C*prod(block), L] and image/block shapes of one length, got {}, {image:?}, {block:?}",
            x.ir_shape()
        )));
    }
    let dil = per_axis(dilations, k, 1, "dilations", at)?;
    let st = per_axis(strides, k, 1, "strides", at)?;
    let pd = per_axis(pads, 2 * k, 0, "pads", at)?;
    if image.iter().chain(&block).any(|&v| v <= 0)
        || dil.iter().chain(&st).any(|&v| v <= 0)
        || pd.iter().any(|&v| v < 0)
    {
        return Err(bad(
            "Col2Im shapes, strides and dilations must be positive, pads non-negative".into(),
        ));
    }
    let mut grid = Vec::with_capacity(k);
    for d in 0..k {
        let span = image[d] + pd[d] + pd[d + k] - dil[d] * (block[d] - 1) - 1;
        if span < 0 {
            return Err(bad(format!("block {d} does not fit the padded image")));
        }
        grid.push((span / st[d] + 1) as usize);
    }
    let kb: usize = block.iter().map(|&b| b as usize).product();
    let l: usize = grid.iter().product();
    if xs[1] % kb != 0 || xs[2] != l {
        return Err(bad(format!(
            "Col2Im input {} needs axis 1 a multiple of {kb} and axis 2 = {l}",
            x.ir_shape()
        )));
    }
    let (n, c) = (xs[0], xs[1] / kb);
    let img: Vec<usize> = image.iter().map(|&v| v as usize).collect();
    let bs: Vec<usize> = block.iter().map(|&v| v as usize).collect();
    let plane: usize = img.iter().product();
    let a = Arr::from_tensor(x);
    let mut out = vec![0.0; n * c * plane];
    let mut acc_i = vec![
        0i128;
        if matches!(a.data, Data::I(_)) {
            n * c * plane
        } else {
            0
        }
    ];
    for b in 0..n {
        for ch in 0..c {
            for kk in 0..kb {
                let koff = unravel(kk, &bs);
                for pos in 0..l {
                    let loff = unravel(pos, &grid);
                    let mut flat = 0usize;
                    let mut inside = true;
                    for d in 0..k {
                        let p = loff[d] as i64 * st[d] - pd[d] + koff[d] as i64 * dil[d];
                        if p < 0 || p >= image[d] {
                            inside = false;
                            break;
                        }
                        flat = flat * img[d] + p as usize;
                    }
                    if !inside {
                        continue;
                    }
                    let src = ((b * xs[1]) + ch * kb + kk) * l + pos;
                    let dst = (b * c + ch) * plane + flat;
                    match &a.data {
                        Data::F(v) => out[dst] += v[src],
                        Data::I(v) => acc_i[dst] = acc_i[dst].wrapping_add(v[src]),
                    }
                }
            }
        }
    }
    let mut shape = vec![n, c];
    shape.extend_from_slice(&img);
    let arr = match a.data {
        Data::F(_) => Arr::floats(x.dtype(), shape, out),
        Data::I(_) if x.dtype() != DType::Bool => Arr::ints(x.dtype(), shape, acc_i),
        Data::I(_) => {
            return Err(IrError::InputDType {
                at: at.clone(),
                input: 0,
                dtype: DType::Bool,
                expected: "a numeric dtype".into(),
            });
        }
    };
    Ok(arr.to_tensor())
}

/// One bilinear sample: four `(flat position, weight)` taps, or none outside the map.
fn bilinear_taps(y: f64, x: f64, h: usize, w: usize) -> Vec<(usize, f64)> {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 || y.is_nan() || x.is_nan() {
        return Vec::new();
    }
    let axis = |v: f64, n: usize| -> (usize, usize, f64) {
        let v = v.max(0.0);
        let lo = v as usize;
        if lo + 1 >= n {
            (n - 1, n - 1, 0.0)
        } else {
            (lo, lo + 1, v - lo as f64)
        }
    };
    let (y0, y1, ly) = axis(y, h);
    let (x0, x1, lx) = axis(x, w);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    vec![
        (y0 * w + x0, hy * hx),
        (y0 * w + x1, hy * lx),
        (y1 * w + x0, ly * hx),
        (y1 * w + x1, ly * lx),
    ]
}

/// RoiAlign: per region, bin and channel, the mean (or max of weighted taps) of a grid of
/// bilinear samples.
fn roi_align(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let Op::RoiAlign {
        half_pixel,
        mode,
        output_height,
        output_width,
        sampling_ratio,
        spatial_scale,
    } = op
    else {
        return Err(eval_err(at, "not RoiAlign"));
    };
    let is_max = match mode.as_str() {
        "avg" => false,
        "max" => true,
        m => return Err(eval_err(at, format!("mode must be avg or max, got `{m}`"))),
    };
    let (x, rois) = (float_input(inputs, 0, at)?, float_input(inputs, 1, at)?);
    let bidx = read_ints(need(inputs, 2, at)?, at, "batch_indices")?;
    let (xs, rs) = (x.shape(), rois.shape());
    if xs.len() != 4 || rs.len() != 2 || rs[1] != 4 || rs[0] != bidx.len() {
        return Err(eval_err(
            at,
            format!(
                "RoiAlign needs X [N, C, H, W], rois [R, 4] and batch_indices [R], got {}, {} and {} indices",
                x.ir_shape(),
                rois.ir_shape(),
                bidx.len()
            ),
        ));
    }
    let (ph, pw) = match (
        usize::try_from(*output_height),
        usize::try_from(*output_width),
    ) {
        (Ok(h), Ok(w)) if h > 0 && w > 0 => (h, w),
        _ => {
            return Err(eval_err(
                at,
                "output_height and output_width must be positive",
            ));
        }
    };
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let (xa, ra) = (Arr::from_tensor(x), Arr::from_tensor(rois));
    let scale = f64::from(*spatial_scale);
    let offset = if *half_pixel { 0.5 } else { 0.0 };
    let mut out = Vec::with_capacity(rs[0] * c * ph * pw);
    for (r, &b) in bidx.iter().enumerate() {
        let b = usize::try_from(b)
            .ok()
            .filter(|&b| b < n)
            .ok_or_else(|| eval_err(at, format!("batch index {b} is out of range for {n}")))?;
        let coord = |k: usize| ra.f(r * 4 + k) * scale - offset;
        let (x1, y1, x2, y2) = (coord(0), coord(1), coord(2), coord(3));
        let (mut rw, mut rh) = (x2 - x1, y2 - y1);
        if !*half_pixel {
            rw = rw.max(1.0);
            rh = rh.max(1.0);
        }
        let (bh, bw) = (rh / ph as f64, rw / pw as f64);
        let grid = |bin: f64| -> usize {
            if *sampling_ratio > 0 {
                *sampling_ratio as usize
            } else {
                bin.ceil().max(0.0) as usize
            }
        };
        let (gh, gw) = (grid(bh), grid(bw));
        let count = (gh * gw).max(1) as f64;
        // The taps of every sample of every bin, shared by all channels.
        let mut bins: Vec<Vec<Vec<(usize, f64)>>> = Vec::with_capacity(ph * pw);
        for py in 0..ph {
            for px in 0..pw {
                let mut samples = Vec::with_capacity(gh * gw);
                for iy in 0..gh {
                    let yy = y1 + py as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                    for ix in 0..gw {
                        let xx = x1 + px as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                        samples.push(bilinear_taps(yy, xx, h, w));
                    }
                }
                bins.push(samples);
            }
        }
        for ch in 0..c {
            let base = (b * c + ch) * h * w;
            for samples in &bins {
                let vals = samples.iter().map(|taps| {
                    let terms = taps.iter().map(|&(p, wt)| wt * xa.f(base + p));
                    if taps.is_empty() {
                        0.0
                    } else if is_max {
                        terms.fold(f64::NEG_INFINITY, f64::max)
                    } else {
                        terms.sum()
                    }
                });
                let v = if is_max {
                    vals.fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                        .unwrap_or(0.0)
                } else {
                    vals.sum::<f64>() / count
                };
                out.push(v);
            }
        }
    }
    Ok(Arr::floats(x.dtype(), vec![rs[0], c, ph, pw], out).to_tensor())
}

/// `X` (one image plane of extents `dims`, at `base`) sampled at real position `pos` by
/// multilinear interpolation, taps outside the plane reading zero.
fn sample_zeros(xa: &Arr, base: usize, dims: &[usize], pos: &[f64]) -> f64 {
    let k = dims.len();
    let mut total = 0.0;
    for corner in 0..(1usize << k) {
        let mut flat = 0usize;
        let mut w = 1.0;
        let mut inside = true;
        for d in 0..k {
            let lo = pos[d].floor();
            let t = pos[d] - lo;
            let up = (corner >> (k - 1 - d)) & 1 == 1;
            let i = if up { lo + 1.0 } else { lo };
            w *= if up { t } else { 1.0 - t };
            if !(i >= 0.0 && i < dims[d] as f64) {
                inside = false;
                break;
            }
            flat = flat * dims[d] + i as usize;
        }
        if inside && w != 0.0 {
            total += w * xa.f(base + flat);
        }
    }
    total
}

/// DeformConv: for each output position and kernel tap, `X` sampled at the tap's position plus
/// its learned offset, times the weight and the mask, summed over the group's input channels.
fn deform_conv(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let Op::DeformConv {
        dilations,
        group,
        kernel_shape: _,
        offset_group,
        pads,
        strides,
    } = op
    else {
        return Err(eval_err(at, "not DeformConv"));
    };
    let (x, w, off) = (
        float_input(inputs, 0, at)?,
        float_input(inputs, 1, at)?,
        float_input(inputs, 2, at)?,
    );
    let bias = inputs.get(3).copied().flatten();
    let mask = inputs.get(4).copied().flatten();
    let (xs, ws, os) = (x.shape(), w.shape(), off.shape());
    let r = xs.len().saturating_sub(2);
    let bad = |m: String| eval_err(at, m);
    let groups = usize::try_from(*group).ok().filter(|&g| g > 0);
    let ogroups = usize::try_from(*offset_group).ok().filter(|&g| g > 0);
    let (Some(g), Some(og)) = (groups, ogroups) else {
        return Err(bad("group and offset_group must be positive".into()));
    };
    if r == 0 || ws.len() != r + 2 || os.len() != r + 2 || os[0] != xs[0] {
        return Err(bad(format!(
            "DeformConv needs X [N, C, D..], W [oC, C/group, k..] and offset [N, .., out..], got {}, {} and {}",
            x.ir_shape(),
            w.ir_shape(),
            off.ir_shape()
        )));
    }
    let (n, ic, oc) = (xs[0], xs[1], ws[0]);
    let kdims = &ws[2..];
    let kn: usize = kdims.iter().product();
    let out_dims = &os[2..];
    let on: usize = out_dims.iter().product();
    if ic != ws[1] * g || oc % g != 0 || ic % og != 0 || os[1] != og * kn * r {
        return Err(bad(format!(
            "DeformConv channels do not fit: X {}, W {}, offset {}, group {g}, offset_group {og}",
            x.ir_shape(),
            w.ir_shape(),
            off.ir_shape()
        )));
    }
    if let Some(m) = mask
        && m.shape() != [&[n, og * kn][..], out_dims].concat().as_slice()
    {
        return Err(bad(format!("mask shape {} does not fit", m.ir_shape())));
    }
    if let Some(b) = bias
        && b.len() != oc
    {
        return Err(bad(format!("bias has {} values, expected {oc}", b.len())));
    }
    let dil = per_axis(dilations, r, 1, "dilations", at)?;
    let st = per_axis(strides, r, 1, "strides", at)?;
    let pd = per_axis(pads, 2 * r, 0, "pads", at)?;
    let in_dims = &xs[2..];
    let plane: usize = in_dims.iter().product();
    let (icg, ocg, ico) = (ws[1], oc / g, ic / og);
    let (xa, wa, oa) = (
        Arr::from_tensor(x),
        Arr::from_tensor(w),
        Arr::from_tensor(off),
    );
    let ma = mask.map(Arr::from_tensor);
    let ba = bias.map(Arr::from_tensor);
    let mut out = vec![0.0; n * oc * on];
    for b in 0..n {
        for o in 0..on {
            let opos = unravel(o, out_dims);
            for ci in 0..ic {
                let ogi = ci / ico;
                let xbase = (b * ic + ci) * plane;
                for kk in 0..kn {
                    let kpos = unravel(kk, kdims);
                    let pos: Vec<f64> = (0..r)
                        .map(|d| {
                            let ch = (ogi * kn + kk) * r + d;
                            let shift = oa.f((b * os[1] + ch) * on + o);
                            (opos[d] as i64 * st[d] - pd[d] + kpos[d] as i64 * dil[d]) as f64
                                + shift
                        })
                        .collect();
                    let mut v = sample_zeros(&xa, xbase, in_dims, &pos);
                    if let Some(m) = &ma {
                        v *= m.f((b * og * kn + ogi * kn + kk) * on + o);
                    }
                    let grp = ci / icg;
                    for oci in grp * ocg..(grp + 1) * ocg {
                        let wv = wa.f((oci * icg + ci % icg) * kn + kk);
                        out[(b * oc + oci) * on + o] += wv * v;
                    }
                }
            }
        }
    }
    if let Some(ba) = &ba {
        for b in 0..n {
            for oci in 0..oc {
                for o in 0..on {
                    out[(b * oc + oci) * on + o] += ba.f(oci);
                }
            }
        }
    }
    let mut shape = vec![n, oc];
    shape.extend_from_slice(out_dims);
    Ok(Arr::floats(x.dtype(), shape, out).to_tensor())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> At {
        At {
            node: "n".into(),
            op: "test",
        }
    }

    fn fl(t: &Tensor) -> Vec<f64> {
        (0..t.len()).map(|i| t.get_f64(i)).collect()
    }

    fn ints(t: &Tensor) -> Vec<i64> {
        t.to_i64_vec().unwrap()
    }

    #[test]
    fn nms_suppresses_overlaps() {
        // Three corner boxes: 0 and 1 overlap (IoU 0.81), 2 is apart.
        let boxes = Tensor::from_vec(
            &[1, 3, 4],
            vec![0.0f32, 0., 1., 1., 0., 0.1, 1., 1., 0., 10., 1., 11.],
        )
        .unwrap();
        let scores = Tensor::from_vec(&[1, 1, 3], vec![0.9f32, 0.95, 0.3]).unwrap();
        let max = Tensor::from_vec(&[1], vec![3i64]).unwrap();
        let iou = Tensor::from_vec(&[1], vec![0.5f32]).unwrap();
        let op = Op::NonMaxSuppression {
            center_point_box: 0,
        };
        let run = |inputs: &[Option<&Tensor>]| eval(&op, &at(), inputs, 1).map(|mut v| v.remove(0));
        let out = run(&[Some(&boxes), Some(&scores), Some(&max), Some(&iou)]).unwrap();
        assert_eq!(out.shape(), &[2, 3]);
        assert_eq!(ints(&out), vec![0, 0, 1, 0, 0, 2]);
        // A score threshold drops box 2; no max_output selects nothing.
        let thr = Tensor::from_vec(&[1], vec![0.5f32]).unwrap();
        let out = run(&[
            Some(&boxes),
            Some(&scores),
            Some(&max),
            Some(&iou),
            Some(&thr),
        ])
        .unwrap();
        assert_eq!(ints(&out), vec![0, 0, 1]);
        let out = run(&[Some(&boxes), Some(&scores)]).unwrap();
        assert_eq!(out.shape(), &[0, 3]);
        let bad = Tensor::from_vec(&[1, 1, 2], vec![0.9f32, 0.1]).unwrap();
        assert!(run(&[Some(&boxes), Some(&bad)]).is_err());
    }

    #[test]
    fn nms_center_format_and_ties() {
        // Equal scores: the lower index comes first; centre boxes far apart both stay.
        let boxes =
            Tensor::from_vec(&[1, 2, 4], vec![0.5f32, 0.5, 1., 1., 5., 5., 1., 1.]).unwrap();
        let scores = Tensor::from_vec(&[1, 1, 2], vec![0.5f32, 0.5]).unwrap();
        let max = Tensor::scalar(5i64);
        let op = Op::NonMaxSuppression {
            center_point_box: 1,
        };
        let out = eval(&op, &at(), &[Some(&boxes), Some(&scores), Some(&max)], 1).unwrap();
        assert_eq!(ints(&out[0]), vec![0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn unique_flat_sorted_and_unsorted() {
        let x = Tensor::from_vec(&[6], vec![2.0f32, 1., 1., 3., 4., 3.]).unwrap();
        let op = |sorted| Op::Unique { axis: None, sorted };
        let out = eval(&op(false), &at(), &[Some(&x)], 4).unwrap();
        assert_eq!(fl(&out[0]), vec![2., 1., 3., 4.]);
        assert_eq!(ints(&out[1]), vec![0, 1, 3, 4]);
        assert_eq!(ints(&out[2]), vec![0, 1, 1, 2, 3, 2]);
        assert_eq!(ints(&out[3]), vec![1, 2, 2, 1]);
        let m = Tensor::from_vec(&[2, 2], vec![1i32, 3, 2, 3]).unwrap();
        let out = eval(&op(true), &at(), &[Some(&m)], 4).unwrap();
        assert_eq!(ints(&out[0]), vec![1, 2, 3]);
        assert_eq!(ints(&out[1]), vec![0, 2, 1]);
        assert_eq!(ints(&out[2]), vec![0, 2, 1, 2]);
        assert_eq!(ints(&out[3]), vec![1, 1, 2]);
        let e = Tensor::from_vec::<f32>(&[0], vec![]).unwrap();
        let out = eval(&op(true), &at(), &[Some(&e)], 1).unwrap();
        assert_eq!(out[0].shape(), &[0]);
        let nan = Tensor::from_vec(&[3], vec![f32::NAN, 1.0, f32::NAN]).unwrap();
        let out = eval(&op(true), &at(), &[Some(&nan)], 4).unwrap();
        assert_eq!(ints(&out[3]), vec![1, 2]);
    }

    #[test]
    fn unique_along_axis() {
        let x = Tensor::from_vec(
            &[2, 4, 2],
            vec![
                1.0f32, 1., 0., 1., 2., 1., 0., 1., 1., 1., 0., 1., 2., 1., 0., 1.,
            ],
        )
        .unwrap();
        let op = Op::Unique {
            axis: Some(-2),
            sorted: true,
        };
        let out = eval(&op, &at(), &[Some(&x)], 4).unwrap();
        assert_eq!(out[0].shape(), &[2, 3, 2]);
        assert_eq!(
            fl(&out[0]),
            vec![0., 1., 1., 1., 2., 1., 0., 1., 1., 1., 2., 1.]
        );
        assert_eq!(ints(&out[1]), vec![1, 0, 2]);
        assert_eq!(ints(&out[2]), vec![1, 0, 2, 0]);
        assert_eq!(ints(&out[3]), vec![2, 1, 1]);
        let bad = Op::Unique {
            axis: Some(3),
            sorted: true,
        };
        assert!(eval(&bad, &at(), &[Some(&x)], 1).is_err());
    }

    fn roi(mode: &str, half_pixel: bool, ratio: i64) -> Op {
        Op::RoiAlign {
            half_pixel,
            mode: mode.into(),
            output_height: 1,
            output_width: 2,
            sampling_ratio: ratio,
            spatial_scale: 1.0,
        }
    }

    #[test]
    fn roi_align_avg_and_max() {
        // X = 0..16 as 4x4 (value = 4y + x); region (0, 0)-(2, 2), output 1x2, one sample per
        // bin: half_pixel shifts to (-0.5, -0.5)-(1.5, 1.5); samples at (y, x) = (0.5, 0) and
        // (0.5, 1): (0 + 4) / 2 and (1 + 5) / 2.
        let x = Tensor::from_vec(&[1, 1, 4, 4], (0..16).map(|v| v as f32).collect()).unwrap();
        let rois = Tensor::from_vec(&[1, 4], vec![0.0f32, 0., 2., 2.]).unwrap();
        let bi = Tensor::from_vec(&[1], vec![0i64]).unwrap();
        let ins = [Some(&x), Some(&rois), Some(&bi)];
        let out = eval(&roi("avg", true, 1), &at(), &ins, 1).unwrap();
        assert_eq!(out[0].shape(), &[1, 1, 1, 2]);
        assert_eq!(fl(&out[0]), vec![2.0, 3.0]);
        // output_half_pixel: bins centred at (1, 0.5) and (1, 1.5): 4.5 and 5.5.
        let out = eval(&roi("avg", false, 1), &at(), &ins, 1).unwrap();
        assert_eq!(fl(&out[0]), vec![4.5, 5.5]);
        // Max mode takes the largest weighted tap: at (1, 0.5) the taps are 0.5*4 and 0.5*5.
        let out = eval(&roi("max", false, 1), &at(), &ins, 1).unwrap();
        assert_eq!(fl(&out[0]), vec![2.5, 3.0]);
        let bad = Tensor::from_vec(&[1], vec![1i64]).unwrap();
        assert!(
            eval(
                &roi("avg", true, 1),
                &at(),
                &[Some(&x), Some(&rois), Some(&bad)],
                1
            )
            .is_err()
        );
        assert!(eval(&roi("sum", true, 1), &at(), &ins, 1).is_err());
    }

    #[test]
    fn deform_conv_offsets_mask_bias() {
        // X 1x1x2x2 = [[1, 2], [3, 4]], a 1x1 kernel of weight 2: zero offsets give 2X; an
        // offset of +0.5 along x samples halfway to the right neighbour (zeros outside).
        let x = Tensor::from_vec(&[1, 1, 2, 2], vec![1.0f32, 2., 3., 4.]).unwrap();
        let w = Tensor::from_vec(&[1, 1, 1, 1], vec![2.0f32]).unwrap();
        let op = Op::DeformConv {
            dilations: vec![],
            group: 1,
            kernel_shape: vec![],
            offset_group: 1,
            pads: vec![],
            strides: vec![],
        };
        let zero = Tensor::from_vec(&[1, 2, 2, 2], vec![0.0f32; 8]).unwrap();
        let out = eval(&op, &at(), &[Some(&x), Some(&w), Some(&zero)], 1).unwrap();
        assert_eq!(fl(&out[0]), vec![2., 4., 6., 8.]);
        let shift =
            Tensor::from_vec(&[1, 2, 2, 2], vec![0.0f32, 0., 0., 0., 0.5, 0.5, 0.5, 0.5]).unwrap();
        let b = Tensor::from_vec(&[1], vec![1.0f32]).unwrap();
        let m = Tensor::from_vec(&[1, 1, 2, 2], vec![1.0f32, 1., 0.5, 0.]).unwrap();
        let out = eval(
            &op,
            &at(),
            &[Some(&x), Some(&w), Some(&shift), Some(&b), Some(&m)],
            1,
        )
        .unwrap();
        // Samples 1.5, 1 (half of 2), 3.5, 2; times 2 and the mask, plus 1.
        assert_eq!(fl(&out[0]), vec![4., 3., 4.5, 1.]);
        let wrong = Tensor::from_vec(&[1, 3, 2, 2], vec![0.0f32; 12]).unwrap();
        assert!(eval(&op, &at(), &[Some(&x), Some(&w), Some(&wrong)], 1).is_err());
    }

    fn c2i(dil: &[i64], pads: &[i64], strides: &[i64]) -> Op {
        Op::Col2Im {
            dilations: dil.to_vec(),
            pads: pads.to_vec(),
            strides: strides.to_vec(),
        }
    }

    #[test]
    fn col2im_sums_overlaps() {
        // 1-D image of 3, block 2, stride 1: two columns [a, b] at positions 0..2 and 1..3.
        let x = Tensor::from_vec(&[1, 2, 2], vec![1.0f32, 10., 2., 20.]).unwrap();
        let img = Tensor::from_vec(&[1], vec![3i64]).unwrap();
        let blk = Tensor::from_vec(&[1], vec![2i64]).unwrap();
        let out = eval(
            &c2i(&[], &[], &[]),
            &at(),
            &[Some(&x), Some(&img), Some(&blk)],
            1,
        )
        .unwrap();
        assert_eq!(out[0].shape(), &[1, 1, 3]);
        assert_eq!(fl(&out[0]), vec![1., 12., 20.]);
        // Pads 1/1 and stride 2: L = (3 + 2 - 2) / 2 + 1 = 2, columns at -1..1 and 1..3.
        let out = eval(
            &c2i(&[], &[1, 1], &[2]),
            &at(),
            &[Some(&x), Some(&img), Some(&blk)],
            1,
        )
        .unwrap();
        assert_eq!(fl(&out[0]), vec![2., 10., 20.]);
        let xi = Tensor::from_vec(&[1, 2, 2], vec![0i8, i8::MAX, 1, 0]).unwrap();
        let out = eval(
            &c2i(&[], &[], &[]),
            &at(),
            &[Some(&xi), Some(&img), Some(&blk)],
            1,
        )
        .unwrap();
        assert_eq!(ints(&out[0]), vec![0, -128, 0]);
        let wrong = Tensor::from_vec(&[1, 2, 3], vec![0.0f32; 6]).unwrap();
        assert!(
            eval(
                &c2i(&[], &[], &[]),
                &at(),
                &[Some(&wrong), Some(&img), Some(&blk)],
                1
            )
            .is_err()
        );
        assert!(
            eval(
                &c2i(&[0], &[], &[]),
                &at(),
                &[Some(&x), Some(&img), Some(&blk)],
                1
            )
            .is_err()
        );
    }
}
