//! Conv and ConvTranspose: N-d grouped convolution and its transpose, NC... layout.

use super::window::{self, Window, WindowAttrs, all_indices, axis_list, check_pads};
use super::{Accept, Num, Slices, attr_err, check_output, pack, shape_err, slices, widen_same};
use crate::attr::AutoPad;
use crate::error::{At, Result};
use crate::interp::values::{Data, eval_err, need};
use crate::op::Op;
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// The operands of a convolution: `X`, `W`, optional `B`, with ranks checked.
struct Operands<'a> {
    x: &'a Tensor,
    w: &'a Tensor,
    b: Option<&'a Tensor>,
}

/// Reads `(X, W, B?)`, checking that X has a spatial axis and W has X's rank.
fn operands<'a>(at: &At, inputs: &[Option<&'a Tensor>]) -> Result<Operands<'a>> {
    let x = need(inputs, 0, at)?;
    let w = need(inputs, 1, at)?;
    let b = inputs.get(2).copied().flatten();
    if x.rank() < 3 {
        return Err(shape_err(
            at,
            inputs,
            "X must be (N, C, D1, ...) with at least one spatial axis",
        ));
    }
    if w.rank() != x.rank() {
        return Err(shape_err(at, inputs, "W must have the rank of X"));
    }
    Ok(Operands { x, w, b })
}

/// Checks `group >= 1` and returns it.
fn group_of(at: &At, group: i64) -> Result<usize> {
    if group < 1 {
        return Err(attr_err(at, "group", format!("{group} must be at least 1")));
    }
    Ok(group as usize)
}

/// Checks that the bias, when present, is `(m)`.
fn check_bias(at: &At, inputs: &[Option<&Tensor>], b: Option<&Tensor>, m: usize) -> Result<()> {
    match b {
        Some(b) if b.shape() != [m] => Err(shape_err(
            at,
            inputs,
            format!("B must be 1-D with one entry per output channel ({m})"),
        )),
        _ => Ok(()),
    }
}

/// Batch, channel and group extents shared by both kernels.
#[derive(Clone, Copy, Debug)]
struct Channels {
    batch: usize,
    c_in: usize,
    m: usize,
    group: usize,
}

/// ONNX Conv: `Y[n, m, o] = B[m] + sum_{c in group(m), k} X[n, c, o*s + k*d - pad] * W[m, c, k]`,
/// where taps that fall into the padding read zero.
pub(super) fn conv(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let Op::Conv {
        auto_pad,
        dilations,
        group,
        kernel_shape,
        pads,
        strides,
    } = op
    else {
        return Err(eval_err(at, "conv called on another operator"));
    };
    let Operands { x, w, b } = operands(at, inputs)?;
    let arrs = widen_same(at, &[Some(x), Some(w), b], Accept::Numeric)?;
    let group = group_of(at, *group)?;
    let (c_in, m, cg) = (x.shape()[1], w.shape()[0], w.shape()[1]);
    if cg.checked_mul(group) != Some(c_in) {
        return Err(shape_err(
            at,
            inputs,
            format!("X has {c_in} channels but W expects {cg} per group x {group} groups"),
        ));
    }
    if m % group != 0 {
        return Err(attr_err(
            at,
            "group",
            format!("{group} does not divide the {m} output channels of W"),
        ));
    }
    check_bias(at, inputs, b, m)?;
    let spatial = x.rank() - 2;
    let kernel = window::kernel_shape(at, kernel_shape, Some(&w.shape()[2..]), spatial)?;
    let win = window::resolve(
        at,
        inputs,
        &x.shape()[2..],
        kernel,
        &WindowAttrs {
            auto_pad: *auto_pad,
            pads,
            strides,
            dilations,
            ceil_mode: false,
        },
    )?;
    let ch = Channels {
        batch: x.shape()[0],
        c_in,
        m,
        group,
    };
    let mut shape = vec![ch.batch, m];
    shape.extend(win.out());
    check_output(at, inputs, &shape)?;
    let data = match slices(at, &arrs)? {
        Slices::F(v) => Data::F(conv_kernel(v[0], v[1], v.get(2).copied(), ch, &win)),
        Slices::I(v) => Data::I(conv_kernel(v[0], v[1], v.get(2).copied(), ch, &win)),
    };
    Ok(pack(x.dtype(), shape, data))
}

/// Flat offset in the input's spatial block read by kernel tap `tap` at output position `o`,
/// or `None` when it falls into the padding.
fn tap_offset(o: &[usize], tap: &[usize], win: &Window, in_strides: &[usize]) -> Option<usize> {
    let mut off = 0;
    for a in 0..o.len() {
        let p = (o[a] * win.strides[a] + tap[a] * win.dilations[a])
            .checked_sub(win.axes[a].pad_begin)?;
        if p >= win.input[a] {
            return None;
        }
        off += p * in_strides[a];
    }
    Some(off)
}

fn conv_kernel<T: Num>(x: &[T], w: &[T], b: Option<&[T]>, ch: Channels, win: &Window) -> Vec<T> {
    let out_sp = win.out();
    let in_size: usize = win.input.iter().product();
    let k_size: usize = win.kernel.iter().product();
    let in_strides = strides_of(&win.input);
    let taps = all_indices(&win.kernel);
    let positions = all_indices(&out_sp);
    let (cg, mg) = (ch.c_in / ch.group, ch.m / ch.group);
    let mut out = Vec::with_capacity(ch.batch * ch.m * positions.len());
    for n in 0..ch.batch {
        for oc in 0..ch.m {
            let g = oc / mg;
            for o in &positions {
                let mut acc = T::ZERO;
                for (t, tap) in taps.iter().enumerate() {
                    let Some(off) = tap_offset(o, tap, win, &in_strides) else {
                        continue;
                    };
                    for ci in 0..cg {
                        let xv = x[(n * ch.c_in + g * cg + ci) * in_size + off];
                        acc = acc.add(xv.mul(w[(oc * cg + ci) * k_size + t]));
                    }
                }
                if let Some(b) = b {
                    acc = acc.add(b[oc]);
                }
                out.push(acc);
            }
        }
    }
    out
}

/// Output geometry of a transposed convolution: per axis, where output index 0 sits in the
/// full (unpadded) result, and the output extent.
#[derive(Clone, Debug)]
struct TransGeom {
    input: Vec<usize>,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    begin: Vec<i64>,
    out: Vec<usize>,
}

/// The attributes of ConvTranspose that shape its output.
struct TransAttrs<'a> {
    auto_pad: AutoPad,
    dilations: &'a [i64],
    output_padding: &'a [i64],
    output_shape: &'a [i64],
    pads: &'a [i64],
    strides: &'a [i64],
}

/// Resolves the output geometry following the ONNX reference: the full extent is
/// `s*(in-1) + output_padding + (k-1)*d + 1`; explicit pads crop it; with `output_shape` (or
/// SAME_*, whose default target is `in*s`) the crop is derived from the target: SAME_UPPER puts
/// `floor(total/2)` at the start, SAME_LOWER the rest, NOTSET keeps the explicit start pads
/// (zero by default) so the surplus lands at the end.
fn trans_geometry(
    at: &At,
    inputs: &[Option<&Tensor>],
    input: &[usize],
    kernel: Vec<usize>,
    t: &TransAttrs<'_>,
) -> Result<TransGeom> {
    let n = input.len();
    let strides = axis_list(at, "strides", t.strides, n, 1, 1)?;
    let dilations = axis_list(at, "dilations", t.dilations, n, 1, 1)?;
    let output_padding = axis_list(at, "output_padding", t.output_padding, n, 0, 0)?;
    check_pads(at, t.pads, n)?;
    let target = match t.output_shape.len() {
        0 => None,
        l if l == n || l == n + 2 => Some(&t.output_shape[l - n..]),
        _ => {
            return Err(attr_err(
                at,
                "output_shape",
                format!(
                    "{:?} must have one entry per spatial axis ({n})",
                    t.output_shape
                ),
            ));
        }
    };
    if let Some(bad) = target.and_then(|s| s.iter().find(|&&v| v < 0)) {
        return Err(attr_err(
            at,
            "output_shape",
            format!("entry {bad} is negative"),
        ));
    }
    let mut begin = Vec::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    for a in 0..n {
        // Exact in i128: attribute values may be as large as i64 allows.
        let wide = |v: usize| v as i128;
        let (x, k, s, d) = (
            wide(input[a]),
            wide(kernel[a]),
            wide(strides[a]),
            wide(dilations[a]),
        );
        let full = s * (x - 1) + wide(output_padding[a]) + (k - 1) * d + 1;
        let given = target.map(|s| s[a] as i128);
        let explicit = |i: usize| t.pads.get(i).copied().unwrap_or(0) as i128;
        let (b, o) = match t.auto_pad {
            AutoPad::SameUpper | AutoPad::SameLower => {
                let o = given.unwrap_or(x * s);
                let total = full - o;
                let small = total.div_euclid(2);
                let b = if t.auto_pad == AutoPad::SameUpper {
                    small
                } else {
                    total - small
                };
                (b, o)
            }
            AutoPad::Valid => (0, given.unwrap_or(full)),
            AutoPad::NotSet => (
                explicit(a),
                given.unwrap_or(full - explicit(a) - explicit(a + n)),
            ),
        };
        if o < 0 {
            return Err(shape_err(
                at,
                inputs,
                format!("spatial axis {a}: the output extent {o} is negative"),
            ));
        }
        let (Ok(b), Ok(o), Ok(_)) = (i64::try_from(b), usize::try_from(o), i64::try_from(full))
        else {
            return Err(shape_err(
                at,
                inputs,
                format!("spatial axis {a}: the output geometry overflows (extent {o}, offset {b})"),
            ));
        };
        begin.push(b);
        out.push(o);
    }
    Ok(TransGeom {
        input: input.to_vec(),
        kernel,
        strides,
        dilations,
        begin,
        out,
    })
}

/// ONNX ConvTranspose: every input element scatters `X[n, c, i] * W[c, j, k]` to output
/// channel `group(c) * M/group + j` at `i*s + k*d - pad_begin` (dropped outside the output),
/// then `B` is added. W is `(C, M/group, k...)`.
pub(super) fn conv_transpose(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let Op::ConvTranspose {
        auto_pad,
        dilations,
        group,
        kernel_shape,
        output_padding,
        output_shape,
        pads,
        strides,
    } = op
    else {
        return Err(eval_err(at, "conv_transpose called on another operator"));
    };
    let Operands { x, w, b } = operands(at, inputs)?;
    let arrs = widen_same(at, &[Some(x), Some(w), b], Accept::Numeric)?;
    let group = group_of(at, *group)?;
    let (c_in, wc, mg) = (x.shape()[1], w.shape()[0], w.shape()[1]);
    if wc != c_in {
        return Err(shape_err(
            at,
            inputs,
            format!("X has {c_in} channels but W has {wc} input channels"),
        ));
    }
    if c_in % group != 0 {
        return Err(attr_err(
            at,
            "group",
            format!("{group} does not divide the {c_in} input channels"),
        ));
    }
    let m = mg * group;
    check_bias(at, inputs, b, m)?;
    let spatial = x.rank() - 2;
    let kernel = window::kernel_shape(at, kernel_shape, Some(&w.shape()[2..]), spatial)?;
    let geom = trans_geometry(
        at,
        inputs,
        &x.shape()[2..],
        kernel,
        &TransAttrs {
            auto_pad: *auto_pad,
            dilations,
            output_padding,
            output_shape,
            pads,
            strides,
        },
    )?;
    let ch = Channels {
        batch: x.shape()[0],
        c_in,
        m,
        group,
    };
    let mut shape = vec![ch.batch, m];
    shape.extend(&geom.out);
    check_output(at, inputs, &shape)?;
    let data = match slices(at, &arrs)? {
        Slices::F(v) => Data::F(transpose_kernel(v[0], v[1], v.get(2).copied(), ch, &geom)),
        Slices::I(v) => Data::I(transpose_kernel(v[0], v[1], v.get(2).copied(), ch, &geom)),
    };
    Ok(pack(x.dtype(), shape, data))
}

/// Flat output offset that input position `i` with kernel tap `tap` writes, if inside.
fn scatter_offset(
    i: &[usize],
    tap: &[usize],
    g: &TransGeom,
    out_strides: &[usize],
) -> Option<usize> {
    let mut off = 0;
    for a in 0..i.len() {
        let p = (i[a] * g.strides[a] + tap[a] * g.dilations[a]) as i64 - g.begin[a];
        if p < 0 || p >= g.out[a] as i64 {
            return None;
        }
        off += p as usize * out_strides[a];
    }
    Some(off)
}

fn transpose_kernel<T: Num>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    ch: Channels,
    g: &TransGeom,
) -> Vec<T> {
    let out_size: usize = g.out.iter().product();
    let in_size: usize = g.input.iter().product();
    let k_size: usize = g.kernel.iter().product();
    let out_strides = strides_of(&g.out);
    let taps = all_indices(&g.kernel);
    let positions = all_indices(&g.input);
    let (cg, mg) = (ch.c_in / ch.group, ch.m / ch.group);
    let mut out = vec![T::ZERO; ch.batch * ch.m * out_size];
    for n in 0..ch.batch {
        for ci in 0..ch.c_in {
            let grp = ci / cg;
            for (i_flat, i) in positions.iter().enumerate() {
                let xv = x[(n * ch.c_in + ci) * in_size + i_flat];
                for (t, tap) in taps.iter().enumerate() {
                    let Some(off) = scatter_offset(i, tap, g, &out_strides) else {
                        continue;
                    };
                    for j in 0..mg {
                        let oc = grp * mg + j;
                        let y = &mut out[(n * ch.m + oc) * out_size + off];
                        *y = y.add(xv.mul(w[(ci * mg + j) * k_size + t]));
                    }
                }
            }
        }
    }
    if let Some(b) = b {
        for (k, y) in out.iter_mut().enumerate() {
            // Element k is in channel (k / out_size) % m; when out has elements, both are >= 1.
            *y = y.add(b[(k / out_size) % ch.m]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{f, iota, run1};
    use super::*;
    use crate::error::IrError;

    #[allow(clippy::too_many_arguments)]
    fn conv_op(
        auto_pad: AutoPad,
        dilations: &[i64],
        group: i64,
        pads: &[i64],
        strides: &[i64],
    ) -> Op {
        Op::Conv {
            auto_pad,
            dilations: dilations.to_vec(),
            group,
            kernel_shape: Vec::new(),
            pads: pads.to_vec(),
            strides: strides.to_vec(),
        }
    }

    fn plain(pads: &[i64], strides: &[i64]) -> Op {
        conv_op(AutoPad::NotSet, &[], 1, pads, strides)
    }

    fn vals(t: &Tensor) -> Vec<f32> {
        t.to_vec::<f32>().unwrap()
    }

    // Expected values below come from the ONNX reference implementation (onnx 1.22).

    #[test]
    fn conv_2d_pads_and_strides() {
        let w = f(&[1, 1, 3, 3], &[1.0; 9]);
        let y = run1(
            plain(&[1, 1, 1, 1], &[]),
            &[Some(&iota(&[1, 1, 5, 5])), Some(&w)],
        )
        .unwrap();
        assert_eq!(y.shape(), &[1, 1, 5, 5]);
        assert_eq!(
            vals(&y),
            vec![
                12., 21., 27., 33., 24., 33., 54., 63., 72., 51., 63., 99., 108., 117., 81., 93.,
                144., 153., 162., 111., 72., 111., 117., 123., 84.
            ]
        );
        // Asymmetric pads (1 at the top and bottom only), stride 2.
        let y = run1(
            plain(&[1, 0, 1, 0], &[2, 2]),
            &[Some(&iota(&[1, 1, 7, 5])), Some(&w)],
        )
        .unwrap();
        assert_eq!(y.shape(), &[1, 1, 4, 2]);
        assert_eq!(vals(&y), vec![21., 33., 99., 117., 189., 207., 171., 183.]);
    }

    #[test]
    fn conv_1d_dilation_bias_and_3d() {
        let w = f(&[2, 1, 3], &[1., 2., -1., 0., 1., 1.]);
        let b = f(&[2], &[1., -1.]);
        let op = conv_op(AutoPad::NotSet, &[2], 1, &[1, 2], &[2]);
        let y = run1(op, &[Some(&iota(&[1, 1, 9])), Some(&w), Some(&b)]).unwrap();
        assert_eq!(y.shape(), &[1, 2, 4]);
        assert_eq!(vals(&y), vec![0., 3., 7., 20., 3., 7., 11., 6.]);
        let w = f(&[1, 1, 2, 2, 2], &[1.0; 8]);
        let op = plain(&[0, 0, 0, 1, 1, 1], &[2, 2, 2]);
        let y = run1(op, &[Some(&iota(&[1, 1, 3, 3, 3])), Some(&w)]).unwrap();
        assert_eq!(y.shape(), &[1, 1, 2, 2, 2]);
        assert_eq!(vals(&y), vec![52., 32., 44., 25., 80., 43., 49., 26.]);
    }

    #[test]
    fn conv_groups() {
        // Depthwise, batch 2.
        let w = f(&[2, 1, 2], &[1., 1., 1., -1.]);
        let op = conv_op(AutoPad::NotSet, &[], 2, &[], &[]);
        let y = run1(op, &[Some(&iota(&[2, 2, 4])), Some(&w)]).unwrap();
        assert_eq!(
            vals(&y),
            vec![1., 3., 5., -1., -1., -1., 17., 19., 21., -1., -1., -1.]
        );
        // Two groups of two channels each.
        let w = f(
            &[4, 2, 2],
            &(0..16).map(|i| i as f32 - 3.0).collect::<Vec<_>>(),
        );
        let op = conv_op(AutoPad::NotSet, &[], 2, &[0, 1], &[]);
        let y = run1(op, &[Some(&iota(&[1, 4, 3])), Some(&w)]).unwrap();
        assert_eq!(
            vals(&y),
            vec![
                -5., -11., -11., 27., 37., 17., 215., 241., 117., 343., 385., 193.
            ]
        );
    }

    #[test]
    fn conv_auto_pad() {
        let x = iota(&[1, 1, 5]);
        let w = f(&[1, 1, 2], &[1., 10.]);
        let run = |p| run1(conv_op(p, &[], 1, &[], &[2]), &[Some(&x), Some(&w)]).unwrap();
        assert_eq!(vals(&run(AutoPad::SameUpper)), vec![10., 32., 4.]);
        assert_eq!(vals(&run(AutoPad::SameLower)), vec![0., 21., 43.]);
        assert_eq!(vals(&run(AutoPad::Valid)), vec![10., 32.]);
    }

    #[test]
    fn conv_ints_nan_and_empty() {
        // i8 wraps: 100 * 2 + 100 * 1 = 300 -> 44.
        let x = Tensor::from_vec(&[1, 1, 2], vec![100i8, 100]).unwrap();
        let w = Tensor::from_vec(&[1, 1, 2], vec![2i8, 1]).unwrap();
        let y = run1(plain(&[], &[]), &[Some(&x), Some(&w)]).unwrap();
        assert_eq!(y.to_vec::<i8>().unwrap(), vec![44]);
        let x = f(&[1, 1, 3], &[f32::NAN, 1., 1.]);
        let w = f(&[1, 1, 2], &[1., 1.]);
        let y = vals(&run1(plain(&[], &[]), &[Some(&x), Some(&w)]).unwrap());
        assert!(y[0].is_nan() && y[1] == 2.0);
        // Empty batch and zero input channels (bias only).
        let y = run1(plain(&[], &[]), &[Some(&iota(&[0, 1, 3])), Some(&w)]).unwrap();
        assert_eq!(y.shape(), &[0, 1, 2]);
        let y = run1(
            plain(&[], &[]),
            &[
                Some(&f(&[1, 0, 3], &[])),
                Some(&f(&[1, 0, 2], &[])),
                Some(&f(&[1], &[7.])),
            ],
        )
        .unwrap();
        assert_eq!(vals(&y), vec![7., 7.]);
    }

    #[test]
    fn conv_errors() {
        let x = iota(&[1, 4, 5]);
        let shape_err = |op: Op, w: &Tensor| {
            matches!(
                run1(op, &[Some(&x), Some(w)]),
                Err(IrError::InputShape { .. })
            )
        };
        let attr_err = |op: Op, w: &Tensor, name: &str| matches!(run1(op, &[Some(&x), Some(w)]), Err(IrError::Attribute { attr, .. }) if attr == name);
        // C_in (4) != W.shape[1] (3) * group (1).
        assert!(shape_err(plain(&[], &[]), &iota(&[2, 3, 2])));
        // M (3) not divisible by group 2.
        assert!(attr_err(
            conv_op(AutoPad::NotSet, &[], 2, &[], &[]),
            &iota(&[3, 2, 2]),
            "group"
        ));
        assert!(attr_err(
            conv_op(AutoPad::NotSet, &[], 0, &[], &[]),
            &iota(&[2, 4, 2]),
            "group"
        ));
        let w = iota(&[2, 4, 2]);
        assert!(attr_err(plain(&[1], &[]), &w, "pads"));
        assert!(attr_err(plain(&[-1, 0], &[]), &w, "pads"));
        assert!(attr_err(plain(&[], &[0]), &w, "strides"));
        assert!(attr_err(
            conv_op(AutoPad::NotSet, &[1, 1], 1, &[], &[]),
            &w,
            "dilations"
        ));
        let ks = Op::Conv {
            auto_pad: AutoPad::NotSet,
            dilations: vec![],
            group: 1,
            kernel_shape: vec![3],
            pads: vec![],
            strides: vec![],
        };
        assert!(attr_err(ks, &w, "kernel_shape"));
        // Kernel larger than the input; W of the wrong rank; X without spatial axes; bad bias.
        assert!(shape_err(plain(&[], &[]), &iota(&[1, 4, 6])));
        assert!(shape_err(plain(&[], &[]), &iota(&[1, 4])));
        assert!(matches!(
            run1(
                plain(&[], &[]),
                &[Some(&iota(&[1, 4])), Some(&iota(&[1, 4]))]
            ),
            Err(IrError::InputShape { .. })
        ));
        assert!(matches!(
            run1(plain(&[], &[]), &[Some(&x), Some(&w), Some(&iota(&[3]))]),
            Err(IrError::InputShape { .. })
        ));
        let wi = Tensor::from_vec(&[1, 4, 1], vec![1i32; 4]).unwrap();
        assert!(matches!(
            run1(plain(&[], &[]), &[Some(&x), Some(&wi)]),
            Err(IrError::InputDType { input: 1, .. })
        ));
    }

    fn ct_op(group: i64, strides: &[i64], pads: &[i64]) -> Op {
        Op::ConvTranspose {
            auto_pad: AutoPad::NotSet,
            dilations: vec![],
            group,
            kernel_shape: vec![],
            output_padding: vec![],
            output_shape: vec![],
            pads: pads.to_vec(),
            strides: strides.to_vec(),
        }
    }

    fn with(op: Op, edit: impl FnOnce(&mut Op)) -> Op {
        let mut op = op;
        edit(&mut op);
        op
    }

    #[test]
    fn conv_transpose_basic_and_output_size() {
        let x = iota(&[1, 1, 3]);
        let y = run1(
            ct_op(1, &[], &[]),
            &[Some(&x), Some(&f(&[1, 2, 3], &[1.0; 6]))],
        )
        .unwrap();
        assert_eq!(y.shape(), &[1, 2, 5]);
        assert_eq!(vals(&y), vec![0., 1., 3., 3., 2., 0., 1., 3., 3., 2.]);
        // output_shape 10 with stride 3 (full extent 9): the extra element goes at the end;
        // output_padding 1 gives the same result.
        let w = f(&[1, 1, 3], &[1.0; 3]);
        let expect = vec![0., 0., 0., 1., 1., 1., 2., 2., 2., 0.];
        let os = with(ct_op(1, &[3], &[]), |o| {
            if let Op::ConvTranspose { output_shape, .. } = o {
                *output_shape = vec![10];
            }
        });
        assert_eq!(vals(&run1(os, &[Some(&x), Some(&w)]).unwrap()), expect);
        let op = with(ct_op(1, &[3], &[]), |o| {
            if let Op::ConvTranspose { output_padding, .. } = o {
                *output_padding = vec![1];
            }
        });
        assert_eq!(vals(&run1(op, &[Some(&x), Some(&w)]).unwrap()), expect);
        // output_shape given with batch and channel dims too.
        let op = with(ct_op(1, &[3], &[]), |o| {
            if let Op::ConvTranspose { output_shape, .. } = o {
                *output_shape = vec![1, 1, 10];
            }
        });
        assert_eq!(vals(&run1(op, &[Some(&x), Some(&w)]).unwrap()), expect);
    }

    #[test]
    fn conv_transpose_pads_dilations_auto_pad() {
        let w = f(&[1, 1, 3], &[1., 2., 3.]);
        let op = with(ct_op(1, &[2], &[1, 2]), |o| {
            if let Op::ConvTranspose { dilations, .. } = o {
                *dilations = vec![2];
            }
        });
        let y = run1(
            op,
            &[Some(&iota(&[1, 1, 4])), Some(&w), Some(&f(&[1], &[0.5]))],
        )
        .unwrap();
        assert_eq!(vals(&y), vec![0.5, 1.5, 0.5, 4.5, 0.5, 10.5, 0.5, 12.5]);
        let x = iota(&[1, 1, 3]);
        let same = |p| {
            with(ct_op(1, &[2], &[]), |o| {
                if let Op::ConvTranspose { auto_pad, .. } = o {
                    *auto_pad = p;
                }
            })
        };
        let y = run1(same(AutoPad::SameUpper), &[Some(&x), Some(&w)]).unwrap();
        assert_eq!(vals(&y), vec![0., 0., 1., 2., 5., 4.]);
        let y = run1(same(AutoPad::SameLower), &[Some(&x), Some(&w)]).unwrap();
        assert_eq!(vals(&y), vec![0., 1., 2., 5., 4., 6.]);
        // 2-D, strides (2, 1), pads begin (0, 1) end (1, 0).
        let w = f(&[1, 1, 2, 2], &[1., 2., 3., 4.]);
        let y = run1(
            ct_op(1, &[2, 1], &[0, 1, 1, 0]),
            &[Some(&iota(&[1, 1, 2, 2])), Some(&w)],
        )
        .unwrap();
        assert_eq!(y.shape(), &[1, 1, 3, 2]);
        assert_eq!(vals(&y), vec![1., 2., 3., 4., 7., 6.]);
    }

    #[test]
    fn conv_transpose_groups_and_errors() {
        let b = f(&[4], &[0., 1., 2., 3.]);
        let y = run1(
            ct_op(2, &[], &[]),
            &[Some(&iota(&[1, 2, 2])), Some(&iota(&[2, 2, 2])), Some(&b)],
        )
        .unwrap();
        assert_eq!(y.shape(), &[1, 4, 3]);
        assert_eq!(
            vals(&y),
            vec![0., 0., 1., 1., 3., 4., 10., 24., 17., 15., 35., 24.]
        );
        let x = iota(&[1, 2, 2]);
        // W's first dim must be C_in.
        assert!(matches!(
            run1(ct_op(1, &[], &[]), &[Some(&x), Some(&iota(&[3, 1, 2]))]),
            Err(IrError::InputShape { .. })
        ));
        assert!(matches!(
            run1(ct_op(3, &[], &[]), &[Some(&x), Some(&iota(&[2, 1, 2]))]),
            Err(IrError::Attribute { attr: "group", .. })
        ));
        // Pads larger than the full extent.
        assert!(matches!(
            run1(ct_op(1, &[], &[2, 2]), &[Some(&x), Some(&iota(&[2, 1, 2]))]),
            Err(IrError::InputShape { .. })
        ));
        let bad = with(ct_op(1, &[], &[]), |o| {
            if let Op::ConvTranspose { output_shape, .. } = o {
                *output_shape = vec![1, 2];
            }
        });
        assert!(matches!(
            run1(bad, &[Some(&x), Some(&iota(&[2, 1, 2]))]),
            Err(IrError::Attribute {
                attr: "output_shape",
                ..
            })
        ));
        // A stride whose output extent overflows.
        assert!(matches!(
            run1(
                ct_op(1, &[i64::MAX], &[]),
                &[Some(&x), Some(&iota(&[2, 1, 2]))]
            ),
            Err(IrError::InputShape { .. })
        ));
        // Bias of the wrong length (M = 1 * group 1).
        assert!(matches!(
            run1(
                ct_op(1, &[], &[]),
                &[Some(&x), Some(&iota(&[2, 1, 2])), Some(&b)]
            ),
            Err(IrError::InputShape { .. })
        ));
    }
}
