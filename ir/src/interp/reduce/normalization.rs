//! The normalizations: BatchNormalization (inference and training), InstanceNormalization and
//! LayerNormalization. Statistics are population mean and variance, computed in f64.

use super::super::values::{Arr, broadcast_index};
use super::{axis_attr, float_input, saturating_product, shape_err};
use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

/// Population mean and variance of `x` at `idx` (two passes). NaN for an empty set.
fn moments(x: &[f64], idx: &[usize]) -> (f64, f64) {
    let n = idx.len() as f64;
    let mean = idx.iter().map(|&i| x[i]).sum::<f64>() / n;
    let var = idx.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

/// Widens a float tensor to f64s.
fn floats(t: &Tensor) -> Vec<f64> {
    (0..t.len()).map(|i| t.get_f64(i)).collect()
}

/// Input `i`: a float tensor of shape `[c]` (a per-channel parameter).
fn channel_param(inputs: &[Option<&Tensor>], i: usize, c: usize, at: &At) -> Result<Vec<f64>> {
    let t = float_input(inputs, i, at)?;
    if t.shape() != [c] {
        return Err(shape_err(
            at,
            inputs,
            format!("input {i} must have shape [{c}] (one value per channel)"),
        ));
    }
    Ok(floats(t))
}

/// `(C, inner)` of an `(N, C, D1, ...)` input: the channel count and the number of elements
/// of one (n, c) block. A rank-1 input `(N)` has one channel.
fn channel_layout(x: &Tensor, at: &At, inputs: &[Option<&Tensor>]) -> Result<(usize, usize)> {
    match x.shape() {
        [] => Err(shape_err(at, inputs, "X must have rank 1 or more")),
        [_] => Ok((1, 1)),
        [_, c, rest @ ..] => Ok((*c, saturating_product(rest))),
    }
}

/// BatchNormalization of inputs `(X, scale, B, input_mean, input_var)` with channels on
/// axis 1.
///
/// Inference: `Y = scale * (X - input_mean) / sqrt(input_var + epsilon) + B`, one output.
/// Training: the same with the batch's own mean and population variance over every axis but
/// 1, plus the outputs `running_mean = input_mean * momentum + mean * (1 - momentum)` and
/// `running_var` likewise, in the dtype of `input_mean`/`input_var` (ONNX's `T2`).
pub(super) fn batch_norm(
    epsilon: f32,
    momentum: f32,
    training: bool,
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Vec<Tensor>> {
    let x = float_input(inputs, 0, at)?;
    let (c, inner) = channel_layout(x, at, inputs)?;
    let scale = channel_param(inputs, 1, c, at)?;
    let bias = channel_param(inputs, 2, c, at)?;
    let in_mean = channel_param(inputs, 3, c, at)?;
    let in_var = channel_param(inputs, 4, c, at)?;
    let xv = floats(x);
    let channel_of = |f: usize| (f / inner) % c;
    let (mean, var) = if training {
        let mut members = vec![Vec::new(); c];
        for f in 0..xv.len() {
            members[channel_of(f)].push(f);
        }
        members.iter().map(|m| moments(&xv, m)).unzip()
    } else {
        (in_mean.clone(), in_var.clone())
    };
    let eps = f64::from(epsilon);
    let y: Vec<f64> = (0..xv.len())
        .map(|f| {
            let ch = channel_of(f);
            scale[ch] * (xv[f] - mean[ch]) / (var[ch] + eps).sqrt() + bias[ch]
        })
        .collect();
    let y = Arr::floats(x.dtype(), x.shape().to_vec(), y).to_tensor();
    if !training {
        return Ok(vec![y]);
    }
    let m = f64::from(momentum);
    let running = |old: &[f64], cur: &[f64], input: usize| {
        let dtype = inputs[input].map_or(x.dtype(), |t| t.dtype());
        let v = old
            .iter()
            .zip(cur)
            .map(|(o, n)| o * m + n * (1.0 - m))
            .collect();
        Arr::floats(dtype, vec![c], v).to_tensor()
    };
    Ok(vec![
        y,
        running(&in_mean, &mean, 3),
        running(&in_var, &var, 4),
    ])
}

/// InstanceNormalization of inputs `(X, scale, B)`: each (n, c) block of an `(N, C, D1, ...)`
/// input is normalized over its spatial elements, then scaled and shifted per channel.
pub(super) fn instance_norm(epsilon: f32, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = float_input(inputs, 0, at)?;
    if x.rank() < 2 {
        return Err(shape_err(
            at,
            inputs,
            "X must have rank 2 or more (N, C, ...)",
        ));
    }
    let (c, inner) = channel_layout(x, at, inputs)?;
    let scale = channel_param(inputs, 1, c, at)?;
    let bias = channel_param(inputs, 2, c, at)?;
    let xv = floats(x);
    let eps = f64::from(epsilon);
    let mut y = vec![0.0; xv.len()];
    for block in 0..xv.len() / inner.max(1) {
        let idx: Vec<usize> = (block * inner..(block + 1) * inner).collect();
        let (mean, var) = moments(&xv, &idx);
        let ch = block % c;
        let inv = 1.0 / (var + eps).sqrt();
        for &i in &idx {
            y[i] = scale[ch] * (xv[i] - mean) * inv + bias[ch];
        }
    }
    Ok(Arr::floats(x.dtype(), x.shape().to_vec(), y).to_tensor())
}

/// The dtype ONNX's `stash_type` (a TensorProto data type number) names.
fn stash_dtype(at: &At, stash_type: i64) -> Result<DType> {
    match stash_type {
        1 => Ok(DType::F32),
        10 => Ok(DType::F16),
        11 => Ok(DType::F64),
        16 => Ok(DType::BF16),
        _ => Err(IrError::Attribute {
            at: at.clone(),
            attr: "stash_type",
            message: format!(
                "{stash_type} is not a float type (1 = f32, 10 = f16, 11 = f64, 16 = bf16)"
            ),
        }),
    }
}

/// Input `i` (a float tensor, unidirectionally broadcast to `shape`) as one f64 per element
/// of `shape`; `None` when the input is absent.
fn broadcast_param(
    inputs: &[Option<&Tensor>],
    i: usize,
    shape: &[usize],
    at: &At,
) -> Result<Option<Vec<f64>>> {
    if inputs.get(i).copied().flatten().is_none() {
        return Ok(None);
    }
    let t = float_input(inputs, i, at)?;
    if t.rank() > shape.len() || broadcast_shapes(t.shape(), shape).as_deref() != Some(shape) {
        return Err(shape_err(
            at,
            inputs,
            format!("input {i} does not broadcast to X's shape"),
        ));
    }
    let v = floats(t);
    Ok(Some(
        broadcast_index(t.shape(), shape)
            .into_iter()
            .map(|k| v[k])
            .collect(),
    ))
}

/// LayerNormalization of inputs `(X, Scale, B?)` over axes `axis..rank`; outputs
/// `(Y, Mean, InvStdDev)`.
///
/// `Scale` and `B` broadcast unidirectionally to X. `Mean` and `InvStdDev` have X's shape with
/// the normalized axes set to 1 and the dtype `stash_type` names (as ONNX's type inference
/// says); the statistics themselves are computed in f64.
pub(super) fn layer_norm(
    axis: i64,
    epsilon: f32,
    stash_type: i64,
    at: &At,
    inputs: &[Option<&Tensor>],
) -> Result<Vec<Tensor>> {
    let x = float_input(inputs, 0, at)?;
    let ax = axis_attr(at, axis, x.rank())?;
    let stash = stash_dtype(at, stash_type)?;
    let shape = x.shape();
    let scale = broadcast_param(inputs, 1, shape, at)?
        .ok_or_else(|| super::eval_err(at, "required input 1 (Scale) is absent"))?;
    let bias = broadcast_param(inputs, 2, shape, at)?;
    // A tensor's leading products always fit (its element count was checked in order); the
    // trailing one may only overflow when `rows` is 0.
    let rows = saturating_product(&shape[..ax]);
    let cols = saturating_product(&shape[ax..]);
    let xv = floats(x);
    let eps = f64::from(epsilon);
    let mut y = vec![0.0; xv.len()];
    let (mut means, mut inv_stds) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for r in 0..rows {
        let idx: Vec<usize> = (r * cols..(r + 1) * cols).collect();
        let (mean, var) = moments(&xv, &idx);
        let inv = 1.0 / (var + eps).sqrt();
        for &i in &idx {
            let b = bias.as_ref().map_or(0.0, |b| b[i]);
            y[i] = (xv[i] - mean) * inv * scale[i] + b;
        }
        means.push(mean);
        inv_stds.push(inv);
    }
    let stat_shape: Vec<usize> = (0..shape.len())
        .map(|a| if a < ax { shape[a] } else { 1 })
        .collect();
    Ok(vec![
        Arr::floats(x.dtype(), shape.to_vec(), y).to_tensor(),
        Arr::floats(stash, stat_shape.clone(), means).to_tensor(),
        Arr::floats(stash, stat_shape, inv_stds).to_tensor(),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::dtype::DType;
    use crate::error::IrError;
    use crate::op::Op;
    use crate::tensor::Tensor;
    use half::f16;

    fn bn(training: bool) -> Op {
        Op::BatchNormalization {
            epsilon: 1e-5,
            momentum: 0.9,
            training_mode: training,
        }
    }

    fn eps() -> f64 {
        f64::from(1e-5f32)
    }

    #[test]
    fn batch_norm_inference() {
        // X (1, 2, 1, 2); per channel y = s * (x - m) / sqrt(v + eps) + b.
        let x = f32t(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = f32t(&[2], &[1.0, 2.0]);
        let b = f32t(&[2], &[0.0, 1.0]);
        let m = f32t(&[2], &[1.0, 3.0]);
        let v = f32t(&[2], &[4.0, 1.0]);
        let out = run_n(
            &bn(false),
            &[Some(&x), Some(&s), Some(&b), Some(&m), Some(&v)],
            1,
        );
        let y = &out.unwrap()[0];
        let d0 = (4.0 + eps()).sqrt();
        let d1 = (1.0 + eps()).sqrt();
        let want = [0.0, 1.0 / d0, 1.0, 2.0 / d1 + 1.0];
        assert_close(y, DType::F32, &[1, 2, 1, 2], &want, 1e-7);
        // Extra outputs do not exist in inference mode.
        let e = run_n(
            &bn(false),
            &[Some(&x), Some(&s), Some(&b), Some(&m), Some(&v)],
            3,
        );
        assert!(matches!(e, Err(IrError::Arity { .. })));
    }

    #[test]
    fn batch_norm_training() {
        // Channel 0: {1, 3, 5, 7} mean 4 var 5; channel 1: {2, 2, 6, 6} mean 4 var 4.
        let x = f32t(&[2, 2, 2], &[1.0, 3.0, 2.0, 2.0, 5.0, 7.0, 6.0, 6.0]);
        let s = f32t(&[2], &[1.0, 1.0]);
        let b = f32t(&[2], &[0.0, 0.5]);
        let m = f64t(&[2], &[0.0, 10.0]);
        let v = f64t(&[2], &[1.0, 1.0]);
        let ins = [Some(&x), Some(&s), Some(&b), Some(&m), Some(&v)];
        let out = run_n(&bn(true), &ins, 3).unwrap();
        let (d0, d1) = ((5.0 + eps()).sqrt(), (4.0 + eps()).sqrt());
        let want = [
            -3.0 / d0,
            -1.0 / d0,
            -2.0 / d1 + 0.5,
            -2.0 / d1 + 0.5,
            1.0 / d0,
            3.0 / d0,
            2.0 / d1 + 0.5,
            2.0 / d1 + 0.5,
        ];
        assert_close(&out[0], DType::F32, &[2, 2, 2], &want, 1e-7);
        let mom = f64::from(0.9f32);
        let rm = [4.0 * (1.0 - mom), 10.0 * mom + 4.0 * (1.0 - mom)];
        assert_close(&out[1], DType::F64, &[2], &rm, 1e-12);
        let rv = [mom + 5.0 * (1.0 - mom), mom + 4.0 * (1.0 - mom)];
        assert_close(&out[2], DType::F64, &[2], &rv, 1e-12);
    }

    #[test]
    fn batch_norm_rank1_and_errors() {
        // Rank 1: one channel, statistics over N.
        let x = f32t(&[2], &[1.0, 3.0]);
        let one = f32t(&[1], &[1.0]);
        let zero = f32t(&[1], &[0.0]);
        let ins = [Some(&x), Some(&one), Some(&zero), Some(&zero), Some(&one)];
        let out = run_n(&bn(true), &ins, 3).unwrap();
        let d = (1.0 + eps()).sqrt();
        assert_close(&out[0], DType::F32, &[2], &[-1.0 / d, 1.0 / d], 1e-7);
        let two = f32t(&[2], &[1.0, 1.0]);
        let bad = [Some(&x), Some(&two), Some(&zero), Some(&zero), Some(&one)];
        let e = run_n(&bn(false), &bad, 1);
        assert!(matches!(e, Err(IrError::InputShape { .. })));
        let e = run_n(
            &bn(false),
            &[Some(&x), Some(&one), Some(&zero), Some(&zero)],
            1,
        );
        assert!(matches!(e, Err(IrError::Eval { .. })));
        let xi = Tensor::from_slice(&[2], &[1i32, 2]).unwrap();
        let e = run_n(
            &bn(false),
            &[Some(&xi), Some(&one), Some(&zero), Some(&zero), Some(&one)],
            1,
        );
        assert!(matches!(e, Err(IrError::InputDType { .. })));
        let s = Tensor::scalar(1.0f32);
        let e = run_n(
            &bn(false),
            &[Some(&s), Some(&one), Some(&zero), Some(&zero), Some(&one)],
            1,
        );
        assert!(matches!(e, Err(IrError::InputShape { .. })));
    }

    #[test]
    fn instance_norm() {
        // (N=2, C=2, 2): each block {a, b} normalizes to -/+ |a-b|/2 / sqrt(((a-b)/2)^2 + eps).
        let x = f32t(&[2, 2, 2], &[1.0, 3.0, 0.0, 0.0, 2.0, 6.0, -1.0, 1.0]);
        let s = f32t(&[2], &[2.0, 1.0]);
        let b = f32t(&[2], &[0.0, 1.0]);
        let y = run1(&Op::InstanceNormalization { epsilon: 1e-5 }, &[&x, &s, &b]).unwrap();
        let (d1, d2) = ((1.0 + eps()).sqrt(), (4.0 + eps()).sqrt());
        let want = [
            -2.0 / d1,
            2.0 / d1,
            1.0,
            1.0,
            -4.0 / d2,
            4.0 / d2,
            1.0 - 1.0 / d1,
            1.0 + 1.0 / d1,
        ];
        assert_close(&y, DType::F32, &[2, 2, 2], &want, 1e-7);
        let e = run1(&Op::InstanceNormalization { epsilon: 1e-5 }, &[&s, &s, &b]);
        assert!(matches!(e, Err(IrError::InputShape { .. })));
        let huge = Tensor::from_bytes(DType::F32, &[0, 2, 1 << 40, 1 << 40], vec![]).unwrap();
        let y = run1(
            &Op::InstanceNormalization { epsilon: 1e-5 },
            &[&huge, &s, &b],
        )
        .unwrap();
        assert_eq!(y.shape(), huge.shape());
        let empty = f32t(&[0, 2, 3], &[]);
        let y = run1(
            &Op::InstanceNormalization { epsilon: 1e-5 },
            &[&empty, &s, &b],
        )
        .unwrap();
        assert_eq!(y.shape(), &[0, 2, 3]);
    }

    fn ln(axis: i64) -> Op {
        Op::LayerNormalization {
            axis,
            epsilon: 1e-5,
            stash_type: 1,
        }
    }

    #[test]
    fn layer_norm_last_axis() {
        let x = f32t(&[2, 2], &[1.0, 3.0, 5.0, 5.0]);
        let s = f32t(&[2], &[1.0, 2.0]);
        let b = f32t(&[2], &[0.5, 0.0]);
        let out = run_n(&ln(-1), &[Some(&x), Some(&s), Some(&b)], 3).unwrap();
        let inv = 1.0 / (1.0 + eps()).sqrt();
        let inv0 = 1.0 / eps().sqrt();
        assert_close(
            &out[0],
            DType::F32,
            &[2, 2],
            &[0.5 - inv, 2.0 * inv, 0.5, 0.0],
            1e-7,
        );
        assert_close(&out[1], DType::F32, &[2, 1], &[2.0, 5.0], 0.0);
        assert_close(&out[2], DType::F32, &[2, 1], &[inv, inv0], 1e-7);
        // An empty X whose normalized extent overflows usize.
        let huge = Tensor::from_bytes(DType::F32, &[0, 1 << 40, 1 << 40], vec![]).unwrap();
        let out = run_n(&ln(1), &[Some(&huge), Some(&f32t(&[1], &[1.0]))], 3).unwrap();
        assert_eq!(
            (out[0].shape(), out[1].shape()),
            (huge.shape(), &[0, 1, 1][..])
        );
        // Without B, and asking for Y only.
        let y = run_n(&ln(1), &[Some(&x), Some(&s), None], 1).unwrap();
        assert_close(
            &y[0],
            DType::F32,
            &[2, 2],
            &[-inv, 2.0 * inv, 0.0, 0.0],
            1e-7,
        );
    }

    #[test]
    fn layer_norm_leading_axis_broadcast_and_stash() {
        // axis 0 normalizes everything; Scale of shape [2, 1] broadcasts to [2, 2].
        let x = f16t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = f32t(&[2, 1], &[1.0, -1.0]);
        let op = Op::LayerNormalization {
            axis: -2,
            epsilon: 1e-5,
            stash_type: 11,
        };
        let out = run_n(&op, &[Some(&x), Some(&s)], 3).unwrap();
        let inv = 1.0 / (1.25 + eps()).sqrt();
        let want = [-1.5 * inv, -0.5 * inv, -0.5 * inv, -1.5 * inv];
        let got: Vec<f64> = out[0]
            .to_vec::<f16>()
            .unwrap()
            .iter()
            .map(|h| h.to_f64())
            .collect();
        let rounded: Vec<f64> = want.iter().map(|&w| f16::from_f64(w).to_f64()).collect();
        assert_eq!(got, rounded);
        assert_close(&out[1], DType::F64, &[1, 1], &[2.5], 0.0);
        assert_close(&out[2], DType::F64, &[1, 1], &[inv], 1e-15);
    }

    #[test]
    fn layer_norm_errors() {
        let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = f32t(&[2], &[1.0, 1.0]);
        let bad_scale = f32t(&[3], &[1.0, 1.0, 1.0]);
        let e = run_n(&ln(-1), &[Some(&x), Some(&bad_scale)], 1);
        assert!(matches!(e, Err(IrError::InputShape { .. })));
        let too_big = f32t(&[1, 2, 2], &[1.0; 4]);
        let e = run_n(&ln(-1), &[Some(&x), Some(&too_big)], 1);
        assert!(matches!(e, Err(IrError::InputShape { .. })));
        let e = run_n(&ln(2), &[Some(&x), Some(&s)], 1);
        assert!(matches!(e, Err(IrError::Attribute { .. })));
        let e = run_n(&ln(-1), &[Some(&x), None], 1);
        assert!(matches!(e, Err(IrError::Eval { .. })));
        let bad_stash = Op::LayerNormalization {
            axis: -1,
            epsilon: 1e-5,
            stash_type: 7,
        };
        let e = run_n(&bad_stash, &[Some(&x), Some(&s)], 1);
        assert!(matches!(
            e,
            Err(IrError::Attribute {
                attr: "stash_type",
                ..
            })
        ));
    }
}
