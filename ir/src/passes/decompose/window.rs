//! Decomposition of the sliding-window operators: Conv and ConvTranspose (im2col as an
//! `as_strided` view + MatMul), MaxPool and AveragePool (padded `as_strided` windows + a
//! reduction), GlobalAveragePool and GlobalMaxPool.

use super::emit::{Emitter, int_tensor, tensor_of};
use super::operand;
use crate::attr::AutoPad;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{TensorType, ValueId};
use crate::op::{BinaryOp as B, Op, ReduceOp as R};
use crate::shape::{WindowAxis, WindowPad, checked_product, strides_of, window_geometry};

/// Rewrites `op` when it is one of this family (and its shapes are static).
pub(super) fn rewrite(
    em: &mut Emitter,
    op: &Op,
    ins: &[Option<ValueId>],
    tys: &[TensorType],
) -> Result<Option<Vec<ValueId>>> {
    let x = match op {
        Op::Conv { .. }
        | Op::ConvTranspose { .. }
        | Op::MaxPool { .. }
        | Op::AveragePool { .. }
        | Op::GlobalAveragePool {}
        | Op::GlobalMaxPool {} => operand(em, ins, 0)?,
        _ => return Ok(None),
    };
    let (Some(xd), Some(outs)) = (em.dims(x), super::static_dims(tys)) else {
        return Ok(None);
    };
    if xd.len() < 2 || checked_product(&xd).is_none() {
        return Ok(None);
    }
    match op {
        Op::Conv {
            auto_pad,
            dilations,
            group,
            pads,
            strides,
            ..
        } => {
            let n = xd.len() - 2;
            let w = Win {
                strides: list(strides, n, 1),
                dilations: list(dilations, n, 1),
            };
            conv(em, ins, &xd, &w, window_pad(*auto_pad, pads), *group)
        }
        Op::ConvTranspose {
            auto_pad,
            dilations,
            group,
            pads,
            strides,
            output_padding,
            ..
        } => {
            let Some(out) = outs.first() else {
                return Ok(None);
            };
            let n = xd.len() - 2;
            let w = Win {
                strides: list(strides, n, 1),
                dilations: list(dilations, n, 1),
            };
            let t = Trans {
                auto_pad: *auto_pad,
                pads,
                output_padding: list(output_padding, n, 0),
                group: *group,
            };
            conv_transpose(em, ins, &xd, out, &w, &t)
        }
        Op::MaxPool {
            auto_pad,
            ceil_mode,
            dilations,
            kernel_shape,
            pads,
            storage_order,
            strides,
        } => {
            let n = xd.len() - 2;
            let p = Pool {
                kernel: list(kernel_shape, n, 1),
                win: Win {
                    strides: list(strides, n, 1),
                    dilations: list(dilations, n, 1),
                },
                pad: window_pad(*auto_pad, pads),
                ceil_mode: *ceil_mode,
            };
            max_pool(em, x, &xd, &p, *storage_order != 0, tys.len())
        }
        Op::AveragePool {
            auto_pad,
            ceil_mode,
            count_include_pad,
            dilations,
            kernel_shape,
            pads,
            strides,
        } => {
            let n = xd.len() - 2;
            let p = Pool {
                kernel: list(kernel_shape, n, 1),
                win: Win {
                    strides: list(strides, n, 1),
                    dilations: list(dilations, n, 1),
                },
                pad: window_pad(*auto_pad, pads),
                ceil_mode: *ceil_mode,
            };
            average_pool(em, x, &xd, &p, *count_include_pad)
        }
        Op::GlobalAveragePool {} | Op::GlobalMaxPool {} => {
            let axes: Vec<i64> = (2..xd.len() as i64).collect();
            let y = if matches!(op, Op::GlobalMaxPool {}) {
                em.reduce(R::Max, x, &axes, true)?
            } else {
                let count = checked_product(&xd[2..]).unwrap_or(0);
                let s = em.reduce(R::Sum, x, &axes, true)?;
                em.bin_c(B::Div, s, count as f64)?
            };
            Ok(Some(vec![y]))
        }
        _ => Ok(None),
    }
}

/// Strides and dilations of a window, one per spatial axis.
struct Win {
    strides: Vec<usize>,
    dilations: Vec<usize>,
}

/// The ConvTranspose attributes that place the output.
struct Trans<'a> {
    auto_pad: AutoPad,
    pads: &'a [i64],
    output_padding: Vec<usize>,
    group: i64,
}

/// A pooling window.
struct Pool<'a> {
    kernel: Vec<usize>,
    win: Win,
    pad: WindowPad<'a>,
    ceil_mode: bool,
}

/// A per-axis attribute list, `default` everywhere when empty (inference validated it).
fn list(v: &[i64], n: usize, default: usize) -> Vec<usize> {
    if v.len() == n {
        v.iter().map(|&x| x.max(0) as usize).collect()
    } else {
        vec![default; n]
    }
}

/// The padding rule of `auto_pad` with explicit `pads`.
fn window_pad(auto_pad: AutoPad, pads: &[i64]) -> WindowPad<'_> {
    match auto_pad {
        AutoPad::NotSet => WindowPad::Explicit(pads),
        AutoPad::SameUpper => WindowPad::SameUpper,
        AutoPad::SameLower => WindowPad::SameLower,
        AutoPad::Valid => WindowPad::Valid,
    }
}

/// The geometry of a window over the spatial dims of `xd`, or `None` when it does not fit.
fn geometry(
    xd: &[usize],
    kernel: &[usize],
    w: &Win,
    pad: WindowPad<'_>,
    ceil: bool,
) -> Option<Vec<WindowAxis>> {
    window_geometry(&xd[2..], kernel, &w.strides, &w.dilations, pad, ceil).ok()
}

/// Pads the spatial axes of `x` (dims `xd`) so that every window of `geom` lies inside
/// (ceil mode may need more at the end than the pads give); returns the padded value and dims.
fn pad_for_windows(
    em: &mut Emitter,
    x: ValueId,
    xd: &[usize],
    kernel: &[usize],
    w: &Win,
    geom: &[WindowAxis],
    value: Option<ValueId>,
) -> Result<(ValueId, Vec<usize>)> {
    let r = xd.len();
    let mut pads = vec![0i64; 2 * r];
    let mut pd = xd.to_vec();
    for (i, g) in geom.iter().enumerate() {
        let reach = (g.out.max(1) - 1) * w.strides[i] + (kernel[i] - 1) * w.dilations[i] + 1;
        let have = xd[i + 2] + g.pad_begin + g.pad_end;
        let end = g.pad_end + reach.saturating_sub(have);
        pads[i + 2] = g.pad_begin as i64;
        pads[i + 2 + r] = end as i64;
        pd[i + 2] = xd[i + 2] + g.pad_begin + end;
    }
    Ok((em.pad(x, &pads, value)?, pd))
}

/// The element stride of a view axis of `extent` positions, `step` input positions apart on
/// an input axis of element stride `st`: 0 for a single position (its stride is never used,
/// however large the attribute), saturating otherwise (the view's own check then refuses it).
fn view_stride(extent: usize, step: usize, st: usize) -> i64 {
    if extent <= 1 {
        return 0;
    }
    i64::try_from(step.saturating_mul(st)).unwrap_or(i64::MAX)
}

/// The `[N, C, O..., K...]` windows of a padded `[N, C, P...]` input (an `as_strided` view).
fn windows(
    em: &mut Emitter,
    xp: ValueId,
    pd: &[usize],
    kernel: &[usize],
    w: &Win,
    out: &[usize],
) -> Result<ValueId> {
    let st = strides_of(pd);
    let mut shape = vec![pd[0], pd[1]];
    let mut strides = vec![st[0] as i64, st[1] as i64];
    shape.extend(out);
    strides.extend((0..out.len()).map(|i| view_stride(out[i], w.strides[i], st[i + 2])));
    shape.extend(kernel);
    strides.extend((0..kernel.len()).map(|i| view_stride(kernel[i], w.dilations[i], st[i + 2])));
    em.as_strided(xp, &shape, &strides, 0)
}

/// The convolution of a padded `[N, C, P...]` input with `[M, C/group, K...]` weights `wd`,
/// strides and dilations `w`, output extents `out`: im2col as an `as_strided` view of shape
/// `[N, G, C/G, K..., O...]`, reshaped to `[N, G, C/G * prod K, prod O]` and multiplied by
/// the weights as `[G, M/G, C/G * prod K]`. Returns `[N, M, O...]`, without bias.
fn conv_core(
    em: &mut Emitter,
    (xp, pd): (ValueId, &[usize]),
    (wv, wd): (ValueId, &[usize]),
    w: &Win,
    out: &[usize],
    group: usize,
) -> Result<Option<ValueId>> {
    let (n, c, m) = (pd[0], pd[1], wd[0]);
    if group == 0 || c % group != 0 || m % group != 0 {
        return Ok(None);
    }
    let (cg, mg) = (c / group, m / group);
    let kernel = &wd[2..];
    let st = strides_of(pd);
    let mut shape = vec![n, group, cg];
    let mut strides = vec![st[0] as i64, view_stride(group, cg, st[1]), st[1] as i64];
    shape.extend(kernel);
    strides.extend((0..kernel.len()).map(|i| view_stride(kernel[i], w.dilations[i], st[i + 2])));
    shape.extend(out);
    strides.extend((0..out.len()).map(|i| view_stride(out[i], w.strides[i], st[i + 2])));
    let (Some(pk), Some(po)) = (checked_product(kernel), checked_product(out)) else {
        return Ok(None);
    };
    let cols = em.as_strided(xp, &shape, &strides, 0)?;
    let cols = em.reshape(cols, &[n, group, cg * pk, po])?;
    let wr = em.reshape(wv, &[group, mg, cg * pk])?;
    let y = em.op1(Op::MatMul {}, &[wr, cols])?;
    let mut yd = vec![n, m];
    yd.extend(out);
    Ok(Some(em.reshape(y, &yd)?))
}

/// Adds the optional bias `[M]` over axis 1 of `y` (rank `rank`).
fn add_bias(em: &mut Emitter, y: ValueId, bias: Option<ValueId>, rank: usize) -> Result<ValueId> {
    let Some(b) = bias else { return Ok(y) };
    let Some(bd) = em.dims(b) else {
        return Err(em.internal("bias shape is not static"));
    };
    let mut dims = bd;
    dims.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
    let b = em.reshape(b, &dims)?;
    em.bin(B::Add, y, b)
}

/// Conv: zero padding, then [`conv_core`], then the bias.
fn conv(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    xd: &[usize],
    w: &Win,
    pad: WindowPad<'_>,
    group: i64,
) -> Result<Option<Vec<ValueId>>> {
    let (x, wv) = (operand(em, ins, 0)?, operand(em, ins, 1)?);
    let Some(wd) = em.dims(wv).filter(|d| d.len() == xd.len()) else {
        return Ok(None);
    };
    let Some(geom) = geometry(xd, &wd[2..], w, pad, false) else {
        return Ok(None);
    };
    let (xp, pd) = pad_for_windows(em, x, xd, &wd[2..], w, &geom, None)?;
    let out: Vec<usize> = geom.iter().map(|g| g.out).collect();
    let Some(y) = conv_core(em, (xp, &pd), (wv, &wd), w, &out, group as usize)? else {
        return Ok(None);
    };
    let y = add_bias(em, y, ins.get(2).copied().flatten(), xd.len())?;
    Ok(Some(vec![y]))
}

/// ConvTranspose as a convolution: the input is dilated by the strides (zeros inserted with a
/// reshape/pad/reshape per axis), padded (or cropped) by `(k-1)*d - begin` at the start and
/// whatever the output extent needs at the end, then convolved (stride 1) with the kernel
/// flipped and its two channel axes swapped per group.
fn conv_transpose(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    xd: &[usize],
    yd: &[usize],
    w: &Win,
    t: &Trans<'_>,
) -> Result<Option<Vec<ValueId>>> {
    let (x, wv) = (operand(em, ins, 0)?, operand(em, ins, 1)?);
    let Some(wd) = em.dims(wv) else {
        return Ok(None);
    };
    let n = xd.len() - 2;
    let g = t.group.max(1) as usize;
    if xd[2..].contains(&0) || !xd[1].is_multiple_of(g) || yd.len() != n + 2 || wd.len() != n + 2 {
        return Ok(None);
    }
    let (c, mg) = (xd[1], wd[1]);
    let kernel = &wd[2..];
    // Dilate: [.., S, ..] -> [.., S, 1, ..] -> pad to [.., S, s, ..] -> [.., S*s, ..].
    let mut cur = x;
    let mut cd = xd.to_vec();
    for a in 0..n {
        let s = w.strides[a];
        if s == 1 {
            continue;
        }
        let ax = a + 2;
        let mut split = cd.clone();
        split.insert(ax + 1, 1);
        let r = em.reshape(cur, &split)?;
        let mut p = vec![0i64; 2 * split.len()];
        p[split.len() + ax + 1] = (s - 1) as i64;
        let padded = em.pad(r, &p, None)?;
        let Some(len) = cd[ax].checked_mul(s) else {
            return Ok(None);
        };
        cd[ax] = len;
        cur = em.reshape(padded, &cd)?;
    }
    // Per axis: start offset (pad > 0, crop < 0) and end offset, relative to the S*s extent.
    let mut begin = vec![0i64; n];
    let mut end = vec![0i64; n];
    for a in 0..n {
        // Exact in i128: attribute values may be as large as i64 allows.
        let wide = |v: usize| v as i128;
        let (sx, k, s, d) = (
            wide(xd[a + 2]),
            wide(kernel[a]),
            wide(w.strides[a]),
            wide(w.dilations[a]),
        );
        let o = wide(yd[a + 2]);
        let full = s * (sx - 1) + (k - 1) * d + 1 + wide(t.output_padding[a]);
        let b = trans_begin(t.auto_pad, t.pads, a, full, o);
        let start = (k - 1) * d - b;
        let needed = (o - 1) + (k - 1) * d + 1;
        let (Ok(bs), Ok(es)) = (i64::try_from(start), i64::try_from(needed - start - s * sx))
        else {
            return Ok(None);
        };
        begin[a] = bs;
        end[a] = es;
    }
    let (cur, pd) = pad_or_crop(em, cur, &cd, &begin, &end)?;
    // Weights [C, M/G, K...] -> [G, C/G, M/G, K...] -> [G, M/G, C/G, K...] -> [M, C/G, K...],
    // flipped along every spatial axis.
    let cg = c / g;
    let mut wg = vec![g, cg, mg];
    wg.extend(kernel);
    let wr = em.reshape(wv, &wg)?;
    let mut perm = vec![0, 2, 1];
    perm.extend(3..n + 3);
    let wt = em.transpose(wr, &perm)?;
    let mut wcd = vec![g * mg, cg];
    wcd.extend(kernel);
    let mut wc = em.reshape(wt, &wcd)?;
    for a in 0..n {
        wc = em.slice(wc, a + 2, -1, i64::MIN, -1)?;
    }
    let unit = Win {
        strides: vec![1; n],
        dilations: w.dilations.clone(),
    };
    let Some(y) = conv_core(em, (cur, &pd), (wc, &wcd), &unit, &yd[2..], g)? else {
        return Ok(None);
    };
    let y = add_bias(em, y, ins.get(2).copied().flatten(), xd.len())?;
    Ok(Some(vec![y]))
}

/// The crop at the start of ConvTranspose's full extent on `axis` (the reference's rule):
/// SAME_* split `full - out` (floor half first for SAME_UPPER), VALID none, NOTSET the
/// explicit begin pad.
fn trans_begin(auto_pad: AutoPad, pads: &[i64], axis: usize, full: i128, out: i128) -> i128 {
    match auto_pad {
        AutoPad::SameUpper | AutoPad::SameLower => {
            let total = full - out;
            let small = total.div_euclid(2);
            if auto_pad == AutoPad::SameUpper {
                small
            } else {
                total - small
            }
        }
        AutoPad::Valid => 0,
        AutoPad::NotSet => pads.get(axis).copied().unwrap_or(0).into(),
    }
}

/// Pads (positive) or crops (negative) each spatial axis by `begin`/`end`.
fn pad_or_crop(
    em: &mut Emitter,
    x: ValueId,
    xd: &[usize],
    begin: &[i64],
    end: &[i64],
) -> Result<(ValueId, Vec<usize>)> {
    let r = xd.len();
    let mut cur = x;
    let mut dims = xd.to_vec();
    for (a, (&b, &e)) in begin.iter().zip(end).enumerate() {
        let ax = a + 2;
        let (cb, ce) = ((-b).max(0), (-e).max(0));
        if cb > 0 || ce > 0 {
            let len = dims[ax] as i64;
            cur = em.slice(cur, ax, cb, (len - ce).max(cb), 1)?;
            dims[ax] = (len - ce - cb).max(0) as usize;
        }
    }
    let mut pads = vec![0i64; 2 * r];
    for a in 0..begin.len() {
        pads[a + 2] = begin[a].max(0);
        pads[a + 2 + r] = end[a].max(0);
        dims[a + 2] += (begin[a].max(0) + end[a].max(0)) as usize;
    }
    Ok((em.pad(cur, &pads, None)?, dims))
}

/// The lowest value of a dtype (the identity of max): -inf, or the integer minimum.
fn lowest(dtype: DType) -> f64 {
    match dtype.int_range() {
        Some((lo, _)) => lo as f64,
        None => f64::NEG_INFINITY,
    }
}

/// MaxPool: windows over the input padded with the dtype's lowest value, reduced by Max;
/// Indices via ArgMax over the flattened window, mapped to flat input indices with constant
/// tables (row-major, or column-major over the spatial axes for `storage_order` 1).
fn max_pool(
    em: &mut Emitter,
    x: ValueId,
    xd: &[usize],
    p: &Pool<'_>,
    column_major: bool,
    outputs: usize,
) -> Result<Option<Vec<ValueId>>> {
    let Some(geom) = geometry(xd, &p.kernel, &p.win, p.pad, p.ceil_mode) else {
        return Ok(None);
    };
    let dtype = em.dtype(x);
    let low = if dtype.is_int() {
        let (lo, _) = dtype.int_range().unwrap_or((0, 0));
        em.konst(int_tensor(dtype, &[], vec![lo]))
    } else {
        em.scalar(dtype, lowest(dtype))
    };
    let (xp, pd) = pad_for_windows(em, x, xd, &p.kernel, &p.win, &geom, Some(low))?;
    let out: Vec<usize> = geom.iter().map(|g| g.out).collect();
    let win = windows(em, xp, &pd, &p.kernel, &p.win, &out)?;
    let r = xd.len();
    let kaxes: Vec<i64> = (r..r + p.kernel.len()).map(|a| a as i64).collect();
    let y = em.reduce(R::Max, win, &kaxes, false)?;
    if outputs < 2 {
        return Ok(Some(vec![y]));
    }
    let Some(pk) = checked_product(&p.kernel) else {
        return Ok(None);
    };
    let mut flat_dims = vec![xd[0], xd[1]];
    flat_dims.extend(&out);
    let mut wd = flat_dims.clone();
    wd.push(pk);
    let wf = em.reshape(win, &wd)?;
    let k = em.op1(
        Op::ArgMax {
            axis: -1,
            keepdims: false,
            select_last_index: false,
        },
        &[wf],
    )?;
    let idx = pool_indices(em, k, xd, p, &geom, column_major)?;
    // A window whose maximum is the padding value itself holds only that value inside: the
    // reference names its first inside position, which ArgMax may not (padding can precede).
    let first = first_inside(em, xd, p, &geom, column_major)?;
    let at_low = em.bin(B::Equal, y, low)?;
    let idx = em.select(at_low, first, idx)?;
    Ok(Some(vec![y, idx]))
}

/// Strides of the spatial input positions in the Indices storage order (row-major, or
/// column-major over the spatial axes).
fn spatial_strides(spatial: &[usize], column_major: bool) -> Vec<i128> {
    if column_major {
        let mut v = vec![1i128; spatial.len()];
        for i in 1..spatial.len() {
            v[i] = v[i - 1] * spatial[i - 1] as i128;
        }
        v
    } else {
        strides_of(spatial).iter().map(|&s| s as i128).collect()
    }
}

/// Block offsets `(n C + c) * prod(spatial)` of an `[N, C, S...]` input, shaped `[N, C, 1...]`.
fn block_offsets(em: &mut Emitter, xd: &[usize]) -> ValueId {
    let (bn, bc) = (xd[0], xd[1]);
    let ps = checked_product(&xd[2..]).unwrap_or(0) as i128;
    let mut bd = vec![bn, bc];
    bd.extend(std::iter::repeat_n(1, xd.len() - 2));
    em.konst(int_tensor(
        DType::I64,
        &bd,
        (0..(bn * bc) as i128).map(|b| b * ps).collect(),
    ))
}

/// For every window, the flat input index of its first tap inside the input (row-major over
/// the kernel: per axis the smallest inside tap), shaped `[N, C, O...]`.
fn first_inside(
    em: &mut Emitter,
    xd: &[usize],
    p: &Pool<'_>,
    geom: &[WindowAxis],
    column_major: bool,
) -> Result<ValueId> {
    let spatial = &xd[2..];
    let sst = spatial_strides(spatial, column_major);
    let out: Vec<usize> = geom.iter().map(|g| g.out).collect();
    // Per axis and output position, the input position of the first inside tap (0 if none).
    let firsts: Vec<Vec<i128>> = geom
        .iter()
        .enumerate()
        .map(|(i, g)| {
            (0..g.out)
                .map(|o| {
                    (0..p.kernel[i])
                        .map(|k| {
                            (o * p.win.strides[i] + k * p.win.dilations[i]) as i128
                                - g.pad_begin as i128
                        })
                        .find(|&pos| (0..spatial[i] as i128).contains(&pos))
                        .unwrap_or(0)
                })
                .collect()
        })
        .collect();
    let ost = strides_of(&out);
    let po = checked_product(&out).unwrap_or(0);
    let table: Vec<i128> = (0..po)
        .map(|f| {
            (0..out.len())
                .map(|i| firsts[i][(f / ost[i]) % out[i].max(1)] * sst[i])
                .sum()
        })
        .collect();
    let t = em.konst(int_tensor(DType::I64, &out, table));
    let blocks = block_offsets(em, xd);
    em.bin(B::Add, t, blocks)
}

/// Flat input indices of window taps `k` (flattened kernel positions, shape `[N, C, O...]`).
fn pool_indices(
    em: &mut Emitter,
    k: ValueId,
    xd: &[usize],
    p: &Pool<'_>,
    geom: &[WindowAxis],
    column_major: bool,
) -> Result<ValueId> {
    let spatial = &xd[2..];
    let n = spatial.len();
    let sst = spatial_strides(spatial, column_major);
    // Tap table: kernel position -> offset `sum k_i d_i st_i`.
    let kst = strides_of(&p.kernel);
    let pk = checked_product(&p.kernel).unwrap_or(0);
    let taps: Vec<i128> = (0..pk)
        .map(|f| {
            (0..n)
                .map(|i| {
                    ((f / kst[i]) % p.kernel[i].max(1)) as i128
                        * p.win.dilations[i] as i128
                        * sst[i]
                })
                .sum()
        })
        .collect();
    let table = em.konst(int_tensor(DType::I64, &[pk], taps));
    let tap = em.op1(Op::Gather { axis: 0 }, &[table, k])?;
    // Window origin: `sum (o_i s_i - pad_begin_i) st_i`, over the output grid.
    let out: Vec<usize> = geom.iter().map(|g| g.out).collect();
    let ost = strides_of(&out);
    let po = checked_product(&out).unwrap_or(0);
    let origin: Vec<i128> = (0..po)
        .map(|f| {
            (0..n)
                .map(|i| {
                    let o = ((f / ost[i]) % out[i].max(1)) as i128;
                    (o * p.win.strides[i] as i128 - geom[i].pad_begin as i128) * sst[i]
                })
                .sum()
        })
        .collect();
    let origin = em.konst(int_tensor(DType::I64, &out, origin));
    let blocks = block_offsets(em, xd);
    let t = em.bin(B::Add, tap, origin)?;
    em.bin(B::Add, t, blocks)
}

/// AveragePool: windows over the zero-padded input, summed, divided by a constant count per
/// output position (padding counted with `count_include_pad`, positions beyond the pads never).
fn average_pool(
    em: &mut Emitter,
    x: ValueId,
    xd: &[usize],
    p: &Pool<'_>,
    count_include_pad: bool,
) -> Result<Option<Vec<ValueId>>> {
    let Some(geom) = geometry(xd, &p.kernel, &p.win, p.pad, p.ceil_mode) else {
        return Ok(None);
    };
    let (xp, pd) = pad_for_windows(em, x, xd, &p.kernel, &p.win, &geom, None)?;
    let out: Vec<usize> = geom.iter().map(|g| g.out).collect();
    let win = windows(em, xp, &pd, &p.kernel, &p.win, &out)?;
    let r = xd.len();
    let kaxes: Vec<i64> = (r..r + p.kernel.len()).map(|a| a as i64).collect();
    let s = em.reduce(R::Sum, win, &kaxes, false)?;
    // Per axis, how many taps of each output position count.
    let per_axis: Vec<Vec<f64>> = geom
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let (lo, hi) = if count_include_pad {
                (-(g.pad_begin as i64), (xd[i + 2] + g.pad_end) as i64)
            } else {
                (0, xd[i + 2] as i64)
            };
            (0..g.out)
                .map(|o| {
                    (0..p.kernel[i])
                        .filter(|&k| {
                            let pos = (o * p.win.strides[i] + k * p.win.dilations[i]) as i64
                                - g.pad_begin as i64;
                            (lo..hi).contains(&pos)
                        })
                        .count() as f64
                })
                .collect()
        })
        .collect();
    let ost = strides_of(&out);
    let po = checked_product(&out).unwrap_or(0);
    let counts: Vec<f64> = (0..po)
        .map(|f| {
            (0..out.len())
                .map(|i| per_axis[i][(f / ost[i]) % out[i].max(1)])
                .product()
        })
        .collect();
    let c = em.konst(tensor_of(em.dtype(x), &out, counts));
    Ok(Some(vec![em.bin(B::Div, s, c)?]))
}
