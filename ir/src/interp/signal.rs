//! Interpreter for CumProd, BitCast, Det, DFT, STFT and MelWeightMatrix (the signal and linear-algebra operators that
//! the ONNX importer cannot compose of other IR ops).

use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::interp::values::{Arr, Data, eval_err, need, read_ints, wrap_int};
use crate::op::Op;
use crate::tensor::Tensor;

/// Evaluates one of this file's operators.
pub fn eval(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let out = match op {
        Op::CumProd { exclusive, reverse } => cumprod(*exclusive, *reverse, at, inputs)?,
        Op::BitCast { to } => bitcast(*to, at, inputs)?,
        Op::Det {} => det(at, inputs)?,
        Op::Dft { inverse, onesided } => dft(*inverse, *onesided, at, inputs)?,
        Op::Stft { onesided } => stft(*onesided, at, inputs)?,
        Op::MelWeightMatrix { output_datatype } => mel_weight_matrix(*output_datatype, at, inputs)?,
        _ => return Err(eval_err(at, "not a signal operator")),
    };
    Ok(vec![out])
}

/// A rank-0 or one-element integer operand.
fn scalar_int(t: &Tensor, at: &At, what: &str) -> Result<i64> {
    match read_ints(t, at, what)?.as_slice() {
        [x] if t.rank() <= 1 => Ok(*x),
        _ => Err(eval_err(
            at,
            format!(
                "{what} must hold exactly one value, got shape {}",
                t.ir_shape()
            ),
        )),
    }
}

/// `axis` of a rank-`rank` input as a position, or an evaluation error.
fn axis_of(axis: i64, rank: usize, at: &At) -> Result<usize> {
    crate::shape::normalize_axis(axis, rank).ok_or_else(|| {
        eval_err(
            at,
            format!("axis {axis} is out of range for an input of rank {rank}"),
        )
    })
}

/// `(outer, n, inner)`: the row-major layout of `shape` around `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// The flat indices of every lane along `axis`, in order.
fn lanes(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
    let (outer, n, inner) = split_at_axis(shape, axis);
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            out.push((0..n).map(|k| (o * n + k) * inner + i).collect());
        }
    }
    out
}

/// CumProd of input 0 along the axis in input 1; floats in f64, integers wrapping per step.
fn cumprod(exclusive: bool, reverse: bool, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = need(inputs, 0, at)?;
    if !x.dtype().is_numeric() {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: 0,
            dtype: x.dtype(),
            expected: "a numeric dtype".into(),
        });
    }
    let axis = scalar_int(need(inputs, 1, at)?, at, "axis")?;
    let ax = axis_of(axis, x.rank(), at)?;
    let mut a = Arr::from_tensor(x);
    let dtype = a.dtype;
    for mut lane in lanes(x.shape(), ax) {
        if reverse {
            lane.reverse();
        }
        match &mut a.data {
            Data::F(v) => scan(v, &lane, exclusive, 1.0, |p, x| p * x),
            Data::I(v) => scan(v, &lane, exclusive, 1, |p, x| {
                wrap_int(p.wrapping_mul(x), dtype)
            }),
        }
    }
    Ok(a.to_tensor())
}

/// In-place running product over the elements `lane` of `v`, in that order.
fn scan<T: Copy>(v: &mut [T], lane: &[usize], exclusive: bool, one: T, mul: impl Fn(T, T) -> T) {
    let mut acc = one;
    for &i in lane {
        let next = mul(acc, v[i]);
        v[i] = if exclusive { acc } else { next };
        acc = next;
    }
}

/// Reinterprets the bytes of input 0 as dtype `to` (same byte width).
fn bitcast(to: DType, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = need(inputs, 0, at)?;
    if x.dtype().size_bytes() != to.size_bytes() {
        return Err(IrError::Unsupported {
            at: at.clone(),
            dtype: x.dtype(),
            detail: Some(format!(
                "BitCast needs dtypes of one width, {} is {} bytes and {to} is {}",
                x.dtype(),
                x.dtype().size_bytes(),
                to.size_bytes()
            )),
        });
    }
    Ok(Tensor::from_bytes(to, x.shape(), x.bytes().to_vec())?)
}

/// Determinants of the square matrices in the last two axes of input 0.
fn det(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = need(inputs, 0, at)?;
    if !x.dtype().is_float() {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: 0,
            dtype: x.dtype(),
            expected: "a float dtype".into(),
        });
    }
    let s = x.shape();
    let r = s.len();
    if r < 2 || s[r - 1] != s[r - 2] {
        return Err(eval_err(
            at,
            format!(
                "Det needs square matrices in the last two axes, got shape {}",
                x.ir_shape()
            ),
        ));
    }
    let m = s[r - 1];
    let a = Arr::from_tensor(x);
    let batch: usize = s[..r - 2].iter().product();
    let out: Vec<f64> = (0..batch)
        .map(|b| {
            let mat: Vec<f64> = (0..m * m).map(|k| a.f(b * m * m + k)).collect();
            lu_det(mat, m)
        })
        .collect();
    Ok(Arr::floats(x.dtype(), s[..r - 2].to_vec(), out).to_tensor())
}

/// The determinant of the row-major `m`x`m` matrix `a`, by LU with partial pivoting.
fn lu_det(mut a: Vec<f64>, m: usize) -> f64 {
    let mut det = 1.0;
    for c in 0..m {
        let pivot = (c..m)
            .max_by(|&i, &j| a[i * m + c].abs().total_cmp(&a[j * m + c].abs()))
            .unwrap_or(c);
        if a[pivot * m + c] == 0.0 {
            return 0.0;
        }
        if pivot != c {
            for k in 0..m {
                a.swap(pivot * m + k, c * m + k);
            }
            det = -det;
        }
        let p = a[c * m + c];
        det *= p;
        for i in c + 1..m {
            let f = a[i * m + c] / p;
            for k in c..m {
                a[i * m + k] -= f * a[c * m + k];
            }
        }
    }
    det
}

/// DFT of input 0 (`[.., 1]` real or `[.., 2]` complex) along the axis in input 2 (default
/// -2), with the transform length in input 1 (default: the axis extent, or `2 (n - 1)` for a
/// one-sided inverse).
fn dft(inverse: bool, onesided: bool, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = need(inputs, 0, at)?;
    if !x.dtype().is_float() {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: 0,
            dtype: x.dtype(),
            expected: "a float dtype".into(),
        });
    }
    let s = x.shape();
    let r = s.len();
    let parts = s.last().copied().unwrap_or(0);
    if r < 2 || !(parts == 1 || parts == 2) {
        return Err(eval_err(
            at,
            format!(
                "DFT input must end in an axis of 1 or 2, got shape {}",
                x.ir_shape()
            ),
        ));
    }
    let axis = match inputs.get(2).copied().flatten() {
        Some(t) => scalar_int(t, at, "axis")?,
        None => -2,
    };
    let ax = axis_of(axis, r, at)?;
    if ax == r - 1 {
        return Err(eval_err(
            at,
            "DFT axis may not be the last (real/imaginary) axis",
        ));
    }
    let m = s[ax];
    let n = match inputs.get(1).copied().flatten() {
        Some(t) => {
            let v = scalar_int(t, at, "dft_length")?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| eval_err(at, format!("dft_length must be positive, got {v}")))?
        }
        None if inverse && onesided => 2 * m.saturating_sub(1),
        None => m,
    };
    if n == 0 {
        return Err(eval_err(at, "DFT length is 0"));
    }
    let (k_out, parts_out) = match (inverse, onesided) {
        (false, true) => (n / 2 + 1, 2),
        (true, true) => (n, 1),
        _ => (n, 2),
    };
    let mut out_shape = s.to_vec();
    out_shape[ax] = k_out;
    out_shape[r - 1] = parts_out;
    let a = Arr::from_tensor(x);
    let mut out = vec![0.0; out_shape.iter().product()];
    // Lanes along `ax` over the shape without the trailing parts axis.
    let (outer, _, inner) = split_at_axis(&s[..r - 1], ax);
    for o in 0..outer {
        for i in 0..inner {
            let read = |k: usize| -> (f64, f64) {
                if k >= m {
                    return (0.0, 0.0);
                }
                let base = ((o * m + k) * inner + i) * parts;
                let im = if parts == 2 { a.f(base + 1) } else { 0.0 };
                (a.f(base), im)
            };
            let signal: Vec<(f64, f64)> = if inverse && onesided {
                hermitian_full(n, read)
            } else {
                (0..n).map(read).collect()
            };
            for k in 0..k_out {
                let (re, im) = dft_at(&signal, k, inverse);
                let base = ((o * k_out + k) * inner + i) * parts_out;
                out[base] = re;
                if parts_out == 2 {
                    out[base + 1] = im;
                }
            }
        }
    }
    Ok(Arr::floats(x.dtype(), out_shape, out).to_tensor())
}

/// STFT of input 0 (`[B, L, 1|2]`): frames every `frame_step` (input 1), weighted by the window
/// (input 2, default ones), transformed at length `frame_length` (input 3, default the window
/// length, else `L`).
fn stft(onesided: bool, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = need(inputs, 0, at)?;
    if !x.dtype().is_float() {
        return Err(IrError::InputDType {
            at: at.clone(),
            input: 0,
            dtype: x.dtype(),
            expected: "a float dtype".into(),
        });
    }
    let s = x.shape();
    if s.len() != 3 || !(s[2] == 1 || s[2] == 2) {
        return Err(eval_err(
            at,
            format!("STFT signal must be [B, L, 1 or 2], got {}", x.ir_shape()),
        ));
    }
    let (nb, len, parts) = (s[0], s[1], s[2]);
    let step = scalar_int(need(inputs, 1, at)?, at, "frame_step")?;
    let window = inputs.get(2).copied().flatten();
    if let Some(w) = window
        && w.rank() != 1
    {
        return Err(eval_err(
            at,
            format!("window must be 1-D, got {}", w.ir_shape()),
        ));
    }
    let frame = match inputs.get(3).copied().flatten() {
        Some(t) => scalar_int(t, at, "frame_length")?,
        None => window.map_or(len, Tensor::len) as i64,
    };
    let positive = |v: i64| usize::try_from(v).ok().filter(|&v| v > 0);
    let (Some(step), Some(frame)) = (positive(step), positive(frame)) else {
        return Err(eval_err(
            at,
            format!("frame_step ({step}) and frame_length ({frame}) must be positive"),
        ));
    };
    if frame > len || window.is_some_and(|w| w.len() != frame) {
        return Err(eval_err(
            at,
            format!(
                "frame_length {frame} must be at most the signal length {len} and equal the window length"
            ),
        ));
    }
    let frames = 1 + (len - frame) / step;
    let bins = if onesided { frame / 2 + 1 } else { frame };
    let a = Arr::from_tensor(x);
    let w: Vec<f64> = match window {
        Some(w) => {
            let wa = Arr::from_tensor(w);
            (0..frame).map(|t| wa.f(t)).collect()
        }
        None => vec![1.0; frame],
    };
    let mut out = Vec::with_capacity(nb * frames * bins * 2);
    for b in 0..nb {
        for f in 0..frames {
            let sig: Vec<(f64, f64)> = (0..frame)
                .map(|t| {
                    let base = (b * len + f * step + t) * parts;
                    let im = if parts == 2 { a.f(base + 1) } else { 0.0 };
                    (a.f(base) * w[t], im * w[t])
                })
                .collect();
            for k in 0..bins {
                let (re, im) = dft_at(&sig, k, false);
                out.extend([re, im]);
            }
        }
    }
    Ok(Arr::floats(x.dtype(), vec![nb, frames, bins, 2], out).to_tensor())
}

/// Mel filter banks: `num_mel_bins + 2` points evenly spaced on the mel scale between the edge
/// frequencies (ONNX divides the range by the point count), mapped to DFT bins, each filter a
/// triangle from point `i` up to `i + 1` and down to `i + 2`.
fn mel_weight_matrix(dtype: DType, at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let int = |i: usize, what: &str| scalar_int(need(inputs, i, at)?, at, what);
    let real = |i: usize| -> Result<f64> {
        let t = need(inputs, i, at)?;
        if t.len() != 1 {
            return Err(eval_err(at, format!("input {i} must be a scalar")));
        }
        Ok(t.get_f64(0))
    };
    let (mels, dft, rate) = (
        int(0, "num_mel_bins")?,
        int(1, "dft_length")?,
        int(2, "sample_rate")?,
    );
    let (lo, hi) = (real(3)?, real(4)?);
    if mels < 0 || dft < 0 || rate <= 0 {
        return Err(eval_err(
            at,
            format!(
                "num_mel_bins ({mels}) and dft_length ({dft}) must be non-negative, sample_rate ({rate}) positive"
            ),
        ));
    }
    let (m, bins) = (mels as usize, dft as usize / 2 + 1);
    let to_mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let (lo_mel, hi_mel) = (to_mel(lo), to_mel(hi));
    let step = (hi_mel - lo_mel) / (m + 2) as f64;
    let points: Vec<i64> = (0..m + 2)
        .map(|i| {
            let hz = 700.0 * (10f64.powf((i as f64 * step + lo_mel) / 2595.0) - 1.0);
            ((dft + 1) as f64 * hz / rate as f64).floor() as i64
        })
        .collect();
    let mut out = vec![0.0; bins * m];
    let mut set = |j: i64, i: usize, v: f64| -> Result<()> {
        let j = usize::try_from(j)
            .ok()
            .filter(|&j| j < bins)
            .ok_or_else(|| {
                eval_err(
                    at,
                    format!("mel filter {i} reaches bin {j}, outside 0..{bins}"),
                )
            })?;
        out[j * m + i] = v;
        Ok(())
    };
    for i in 0..m {
        let (l, c, h) = (points[i], points[i + 1], points[i + 2]);
        if c == l {
            set(c, i, 1.0)?;
        } else {
            for j in l..=c {
                set(j, i, (j - l) as f64 / (c - l) as f64)?;
            }
        }
        for j in c..h {
            set(j, i, (h - j) as f64 / (h - c) as f64)?;
        }
    }
    Ok(Arr::floats(dtype, vec![bins, m], out).to_tensor())
}

/// The full length-`n` spectrum of a real signal from its one-sided half (`read(k)` for
/// `k <= n/2`; the rest are the conjugates).
fn hermitian_full(n: usize, read: impl Fn(usize) -> (f64, f64)) -> Vec<(f64, f64)> {
    (0..n)
        .map(|k| {
            if k <= n / 2 {
                read(k)
            } else {
                let (re, im) = read(n - k);
                (re, -im)
            }
        })
        .collect()
}

/// Frequency (or, inverse, time) `k` of the transform of `x`; the inverse is scaled by `1/n`.
fn dft_at(x: &[(f64, f64)], k: usize, inverse: bool) -> (f64, f64) {
    let n = x.len();
    let sign = if inverse { 1.0 } else { -1.0 };
    let (mut re, mut im) = (0.0, 0.0);
    for (t, &(xr, xi)) in x.iter().enumerate() {
        // Reduce k*t mod n exactly before the angle, for accuracy on long transforms.
        let phase = ((k as u128 * t as u128) % n as u128) as f64;
        let ang = sign * 2.0 * std::f64::consts::PI * phase / n as f64;
        let (sn, cs) = ang.sin_cos();
        re += xr * cs - xi * sn;
        im += xr * sn + xi * cs;
    }
    if inverse {
        (re / n as f64, im / n as f64)
    } else {
        (re, im)
    }
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

    fn run(op: &Op, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
        eval(op, &at(), inputs).map(|mut v| v.remove(0))
    }

    fn f64s(t: &Tensor) -> Vec<f64> {
        (0..t.len()).map(|i| t.get_f64(i)).collect()
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-9 * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }

    const CP: Op = Op::CumProd {
        exclusive: false,
        reverse: false,
    };

    #[test]
    fn cumprod_modes_and_axes() {
        let x = Tensor::from_vec(&[5], vec![1.0f64, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let ax = Tensor::scalar(0i32);
        let cases = [
            (false, false, [1.0, 2.0, 6.0, 24.0, 120.0]),
            (true, false, [1.0, 1.0, 2.0, 6.0, 24.0]),
            (false, true, [120.0, 120.0, 60.0, 20.0, 5.0]),
            (true, true, [120.0, 60.0, 20.0, 5.0, 1.0]),
        ];
        for (exclusive, reverse, want) in cases {
            let op = Op::CumProd { exclusive, reverse };
            close(&f64s(&run(&op, &[Some(&x), Some(&ax)]).unwrap()), &want);
        }
        let m = Tensor::from_vec(&[2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let neg = Tensor::from_vec(&[1], vec![-1i64]).unwrap();
        let out = run(&CP, &[Some(&m), Some(&neg)]).unwrap();
        close(&f64s(&out), &[1.0, 2.0, 6.0, 4.0, 20.0, 120.0]);
        let out = run(&CP, &[Some(&m), Some(&Tensor::scalar(0i64))]).unwrap();
        close(&f64s(&out), &[1.0, 2.0, 3.0, 4.0, 10.0, 18.0]);
    }

    #[test]
    fn cumprod_ints_wrap_nan_and_empty() {
        let x = Tensor::from_vec(&[3], vec![100i8, 2, 3]).unwrap();
        let out = run(&CP, &[Some(&x), Some(&Tensor::scalar(0i32))]).unwrap();
        // 200 wraps to -56; -56 * 3 = -168 wraps to 88.
        assert_eq!(out.to_i64_vec().unwrap(), vec![100, -56, 88]);
        let x = Tensor::from_vec(&[3], vec![2.0f32, f32::NAN, 1.0]).unwrap();
        let out = f64s(&run(&CP, &[Some(&x), Some(&Tensor::scalar(0i32))]).unwrap());
        assert_eq!(out[0], 2.0);
        assert!(out[1].is_nan() && out[2].is_nan());
        let e = Tensor::from_vec::<f32>(&[0, 3], vec![]).unwrap();
        let out = run(&CP, &[Some(&e), Some(&Tensor::scalar(1i32))]).unwrap();
        assert_eq!(out.shape(), &[0, 3]);
    }

    #[test]
    fn cumprod_errors() {
        let x = Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap();
        let bad = run(&CP, &[Some(&x), Some(&Tensor::scalar(1i32))]);
        assert!(matches!(bad, Err(IrError::Eval { .. })), "{bad:?}");
        let two = Tensor::from_vec(&[2], vec![0i64, 0]).unwrap();
        assert!(run(&CP, &[Some(&x), Some(&two)]).is_err());
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        let r = run(&CP, &[Some(&b), Some(&Tensor::scalar(0i32))]);
        assert!(matches!(r, Err(IrError::InputDType { .. })), "{r:?}");
        assert!(run(&CP, &[Some(&x), None]).is_err());
    }

    #[test]
    fn bitcast_same_width() {
        let x = Tensor::from_vec(&[2], vec![1.0f32, -2.0]).unwrap();
        let out = run(&Op::BitCast { to: DType::I32 }, &[Some(&x)]).unwrap();
        assert_eq!(out.to_i64_vec().unwrap(), vec![0x3f80_0000, -0x4000_0000]);
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        let out = run(&Op::BitCast { to: DType::U8 }, &[Some(&b)]).unwrap();
        assert_eq!(out.to_i64_vec().unwrap(), vec![1, 0]);
        let s = Tensor::scalar(-1i16);
        let out = run(&Op::BitCast { to: DType::U16 }, &[Some(&s)]).unwrap();
        assert_eq!((out.rank(), out.to_i64_vec().unwrap()), (0, vec![65535]));
        let r = run(&Op::BitCast { to: DType::I64 }, &[Some(&x)]);
        assert!(matches!(r, Err(IrError::Unsupported { .. })), "{r:?}");
    }

    #[test]
    fn det_batches_and_edges() {
        let x = Tensor::from_vec(
            &[3, 2, 2],
            vec![
                1.0f32, 2.0, 3.0, 4.0, 0.0, 1.0, 1.0, 0.0, 2.0, 4.0, 1.0, 2.0,
            ],
        )
        .unwrap();
        close(
            &f64s(&run(&Op::Det {}, &[Some(&x)]).unwrap()),
            &[-2.0, -1.0, 0.0],
        );
        let m = Tensor::from_vec(&[3, 3], vec![2.0f64, -3., 1., 2., 0., -1., 1., 4., 5.]).unwrap();
        close(&f64s(&run(&Op::Det {}, &[Some(&m)]).unwrap()), &[49.0]);
        let e = Tensor::from_vec::<f32>(&[2, 0, 0], vec![]).unwrap();
        close(&f64s(&run(&Op::Det {}, &[Some(&e)]).unwrap()), &[1.0, 1.0]);
        let nan = Tensor::from_vec(&[1, 1], vec![f32::NAN]).unwrap();
        assert!(f64s(&run(&Op::Det {}, &[Some(&nan)]).unwrap())[0].is_nan());
        let rect = Tensor::from_vec(&[1, 2], vec![1.0f32, 2.0]).unwrap();
        assert!(matches!(
            run(&Op::Det {}, &[Some(&rect)]),
            Err(IrError::Eval { .. })
        ));
        let i = Tensor::from_vec(&[1, 1], vec![1i32]).unwrap();
        assert!(matches!(
            run(&Op::Det {}, &[Some(&i)]),
            Err(IrError::InputDType { .. })
        ));
    }

    fn dft_op(inverse: bool, onesided: bool) -> Op {
        Op::Dft { inverse, onesided }
    }

    #[test]
    fn dft_real_forward_and_onesided() {
        // [1, 4, 1]: x = [1, 2, 3, 4] → [10, -2+2i, -2, -2-2i].
        let x = Tensor::from_vec(&[1, 4, 1], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let out = run(&dft_op(false, false), &[Some(&x)]).unwrap();
        assert_eq!(out.shape(), &[1, 4, 2]);
        close(&f64s(&out), &[10., 0., -2., 2., -2., 0., -2., -2.]);
        let out = run(&dft_op(false, true), &[Some(&x)]).unwrap();
        assert_eq!(out.shape(), &[1, 3, 2]);
        close(&f64s(&out), &[10., 0., -2., 2., -2., 0.]);
        // dft_length 2 truncates to [1, 2]; 5 pads with zeros.
        let two = Tensor::scalar(2i64);
        let out = run(&dft_op(false, false), &[Some(&x), Some(&two)]).unwrap();
        close(&f64s(&out), &[3., 0., -1., 0.]);
        let five = Tensor::scalar(5i32);
        let out = run(&dft_op(false, false), &[Some(&x), Some(&five)]).unwrap();
        assert_eq!(out.shape(), &[1, 5, 2]);
        assert!((out.get_f64(0) - 10.0).abs() < 1e-6);
    }

    #[test]
    fn dft_axis_and_inverse_round_trip() {
        // [2, 1, 2]: transform along axis 0 (a negative axis names the same).
        let x = Tensor::from_vec(&[2, 1, 2], vec![1.0f64, 1.0, 3.0, -1.0]).unwrap();
        let ax = Tensor::scalar(-3i64);
        let out = run(&dft_op(false, false), &[Some(&x), None, Some(&ax)]).unwrap();
        close(&f64s(&out), &[4., 0., -2., 2.]);
        let back = run(&dft_op(true, false), &[Some(&out), None, Some(&ax)]).unwrap();
        close(&f64s(&back), &[1., 1., 3., -1.]);
    }

    #[test]
    fn dft_irfft() {
        // Onesided spectrum of [1, 2, 3, 4] → the real signal of length 2 * (3 - 1) = 4.
        let spec = Tensor::from_vec(&[3, 2], vec![10.0f32, 0., -2., 2., -2., 0.]).unwrap();
        let ax = Tensor::scalar(0i64);
        let out = run(&dft_op(true, true), &[Some(&spec), None, Some(&ax)]).unwrap();
        assert_eq!(out.shape(), &[4, 1]);
        close(&f64s(&out), &[1., 2., 3., 4.]);
    }

    #[test]
    fn stft_frames_and_window() {
        // Signal [1, 2, 3, 4, 5], frames of 2 every 2: [1, 2] and [3, 4]; onesided bins 2.
        let x = Tensor::from_vec(&[1, 5, 1], vec![1.0f32, 2., 3., 4., 5.]).unwrap();
        let step = Tensor::scalar(2i64);
        let len = Tensor::scalar(2i64);
        let op = Op::Stft { onesided: true };
        let out = run(&op, &[Some(&x), Some(&step), None, Some(&len)]).unwrap();
        assert_eq!(out.shape(), &[1, 2, 2, 2]);
        close(&f64s(&out), &[3., 0., -1., 0., 7., 0., -1., 0.]);
        // A window [1, 0] keeps the first sample of each frame; two-sided bins.
        let w = Tensor::from_vec(&[2], vec![1.0f32, 0.0]).unwrap();
        let out = run(
            &Op::Stft { onesided: false },
            &[Some(&x), Some(&step), Some(&w)],
        )
        .unwrap();
        close(&f64s(&out), &[1., 0., 1., 0., 3., 0., 3., 0.]);
        let zero = Tensor::scalar(0i64);
        assert!(run(&op, &[Some(&x), Some(&zero), None, Some(&len)]).is_err());
        let long = Tensor::scalar(6i64);
        assert!(run(&op, &[Some(&x), Some(&step), None, Some(&long)]).is_err());
        let w3 = Tensor::from_vec(&[3], vec![1.0f32; 3]).unwrap();
        assert!(run(&op, &[Some(&x), Some(&step), Some(&w3), Some(&len)]).is_err());
    }

    #[test]
    fn mel_weight_matrix_small() {
        // 2 mel bins over 0..4000 Hz, dft 8 at 8000 Hz: points at bins 0, 0, 1, 2 (floor of
        // 9 * hz / 8000 for hz = 0, 600.5, 1414.5, 2504.6) — filter 0 peaks at bin 0 and falls
        // to bin 1; filter 1 rises from 0 to 1 at bin 1 and falls to 2.
        let op = Op::MelWeightMatrix {
            output_datatype: DType::F32,
        };
        let (m, d, r) = (
            Tensor::scalar(2i64),
            Tensor::scalar(8i64),
            Tensor::scalar(8000i64),
        );
        let (lo, hi) = (Tensor::scalar(0.0f32), Tensor::scalar(4000.0f32));
        let ins = [Some(&m), Some(&d), Some(&r), Some(&lo), Some(&hi)];
        let out = run(&op, &ins).unwrap();
        assert_eq!(out.shape(), &[5, 2]);
        close(&f64s(&out), &[1., 0., 0., 1., 0., 0., 0., 0., 0., 0.]);
        let zero = Tensor::scalar(0i64);
        assert!(
            run(
                &op,
                &[Some(&m), Some(&d), Some(&zero), Some(&lo), Some(&hi)]
            )
            .is_err()
        );
    }

    #[test]
    fn dft_errors() {
        let x = Tensor::from_vec(&[4, 3], vec![0.0f32; 12]).unwrap();
        assert!(matches!(
            run(&dft_op(false, false), &[Some(&x)]),
            Err(IrError::Eval { .. })
        ));
        let x = Tensor::from_vec(&[4, 1], vec![0.0f32; 4]).unwrap();
        let last = Tensor::scalar(-1i64);
        assert!(run(&dft_op(false, false), &[Some(&x), None, Some(&last)]).is_err());
        let zero = Tensor::scalar(0i64);
        assert!(run(&dft_op(false, false), &[Some(&x), Some(&zero)]).is_err());
        let i = Tensor::from_vec(&[4, 1], vec![0i32; 4]).unwrap();
        assert!(matches!(
            run(&dft_op(false, false), &[Some(&i)]),
            Err(IrError::InputDType { .. })
        ));
    }
}
