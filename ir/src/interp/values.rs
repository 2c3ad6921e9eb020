//! The interpreter's exact value representation and the index helpers every op family shares.
//!
//! Floats of every width are held as `f64` (exact for f16, bf16 and f32, and the oracle's
//! working precision); integers and bools as `i128`, so every integer dtype is exact and
//! overflow is visible before results wrap to their dtype on the way out.

use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::interp::rounding::round_to_dtype;
use crate::tensor::Tensor;
use half::{bf16, f16};

/// Element storage of an [`Arr`].
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Float dtypes, widened to f64.
    F(Vec<f64>),
    /// Integer and bool dtypes, widened to i128 (bools are 0 or 1).
    I(Vec<i128>),
}

impl Data {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F(v) => v.len(),
            Data::I(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Picks elements by flat index, in order (the building block of every movement op).
    pub fn gather(&self, idx: &[usize]) -> Data {
        match self {
            Data::F(v) => Data::F(idx.iter().map(|&i| v[i]).collect()),
            Data::I(v) => Data::I(idx.iter().map(|&i| v[i]).collect()),
        }
    }
}

/// A tensor in the interpreter's working form.
#[derive(Clone, Debug, PartialEq)]
pub struct Arr {
    /// The dtype it came from (and goes back to).
    pub dtype: DType,
    /// Static shape.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: Data,
}

impl Arr {
    /// Widens a tensor.
    pub fn from_tensor(t: &Tensor) -> Arr {
        let n = t.len();
        let data = if t.dtype().is_float() {
            Data::F((0..n).map(|i| t.get_f64(i)).collect())
        } else {
            Data::I((0..n).map(|i| t.get_i128(i).unwrap_or(0)).collect())
        };
        Arr {
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            data,
        }
    }

    /// Builds a float array of `dtype` (values are rounded to the dtype by [`Arr::to_tensor`]).
    pub fn floats(dtype: DType, shape: Vec<usize>, v: Vec<f64>) -> Arr {
        Arr {
            dtype,
            shape,
            data: Data::F(v),
        }
    }

    /// Builds an integer or bool array of `dtype` (values wrap to the dtype in [`Arr::to_tensor`]).
    pub fn ints(dtype: DType, shape: Vec<usize>, v: Vec<i128>) -> Arr {
        Arr {
            dtype,
            shape,
            data: Data::I(v),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Element `i` as f64 (ints converted, possibly inexactly beyond 2^53).
    pub fn f(&self, i: usize) -> f64 {
        match &self.data {
            Data::F(v) => v[i],
            Data::I(v) => v[i] as f64,
        }
    }

    /// Element `i` as i128 (floats truncated toward zero, NaN as 0).
    pub fn i(&self, i: usize) -> i128 {
        match &self.data {
            Data::F(v) => v[i] as i128,
            Data::I(v) => v[i],
        }
    }

    /// A new array with the same dtype taking elements by flat index, with a new shape.
    pub fn gather(&self, shape: Vec<usize>, idx: &[usize]) -> Arr {
        Arr {
            dtype: self.dtype,
            shape,
            data: self.data.gather(idx),
        }
    }

    /// Narrows back to a tensor: floats round to nearest-even in the dtype, integers wrap
    /// (two's complement), bools become `v != 0`.
    pub fn to_tensor(&self) -> Tensor {
        let mut bytes = Vec::with_capacity(self.len() * self.dtype.size_bytes());
        match &self.data {
            Data::F(v) => {
                for &x in v {
                    push_float(&mut bytes, self.dtype, x);
                }
            }
            Data::I(v) => {
                for &x in v {
                    push_int(&mut bytes, self.dtype, x);
                }
            }
        }
        Tensor::from_bytes(self.dtype, &self.shape, bytes)
            .expect("Arr length always matches its shape")
    }
}

fn push_float(out: &mut Vec<u8>, dtype: DType, x: f64) {
    // Round once, exactly, to the dtype's grid; the conversions below are then exact (the
    // `half` crate's own f64 conversion may round through f32 and double-round).
    let r = round_to_dtype(x, dtype);
    match dtype {
        DType::F16 => out.extend_from_slice(&f16::from_f64(r).to_le_bytes()),
        DType::BF16 => out.extend_from_slice(&bf16::from_f64(r).to_le_bytes()),
        DType::F32 => out.extend_from_slice(&(r as f32).to_le_bytes()),
        DType::F64 => out.extend_from_slice(&x.to_le_bytes()),
        // float8/float4 round to nearest-even; overflow becomes inf or NaN as the format
        // allows (like f16), so every decoded value (infinities included) narrows back
        // exactly. `Cast` applies its own `saturate`.
        d if d.is_float() => out.push(crate::dtype::lowbit::encode(x, d, false)),
        // A float array tagged with a non-float dtype converts like a C cast (saturating).
        _ => push_int(out, dtype, x as i128),
    }
}

fn push_int(out: &mut Vec<u8>, dtype: DType, x: i128) {
    match dtype {
        DType::Bool => out.push((x != 0) as u8),
        DType::I8 | DType::U8 => out.push(x as u8),
        DType::I16 | DType::U16 => out.extend_from_slice(&(x as u16).to_le_bytes()),
        DType::I32 | DType::U32 => out.extend_from_slice(&(x as u32).to_le_bytes()),
        DType::I64 | DType::U64 => out.extend_from_slice(&(x as u64).to_le_bytes()),
        // Sub-byte integers: one per byte, wrapped and sign- or zero-extended.
        DType::I4 | DType::U4 | DType::I2 | DType::U2 => out.push(wrap_int(x, dtype) as u8),
        _ => push_float(out, dtype, x as f64),
    }
}

/// Wraps an exact integer to the range of an integer dtype (two's complement), or to 0/1 for
/// bool.
pub fn wrap_int(x: i128, dtype: DType) -> i128 {
    match dtype {
        DType::Bool => (x != 0) as i128,
        DType::I8 => x as i8 as i128,
        DType::U8 => x as u8 as i128,
        DType::I16 => x as i16 as i128,
        DType::U16 => x as u16 as i128,
        DType::I32 => x as i32 as i128,
        DType::U32 => x as u32 as i128,
        DType::I64 => x as i64 as i128,
        DType::U64 => x as u64 as i128,
        DType::I4 => wrap_bits(x, 4, true),
        DType::U4 => wrap_bits(x, 4, false),
        DType::I2 => wrap_bits(x, 2, true),
        DType::U2 => wrap_bits(x, 2, false),
        _ => x,
    }
}

/// The low `bits` bits of `x` (two's complement), sign-extended when `signed`.
fn wrap_bits(x: i128, bits: u32, signed: bool) -> i128 {
    let shift = 128 - bits;
    if signed {
        (x << shift) >> shift
    } else {
        ((x as u128) << shift >> shift) as i128
    }
}

/// Rounds an f64 to the nearest value of a float dtype (identity for f64).
pub fn round_float(x: f64, dtype: DType) -> f64 {
    round_to_dtype(x, dtype)
}

/// Row-major multi-index of flat index `flat` in `shape`.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for a in (0..shape.len()).rev() {
        let d = shape[a].max(1);
        idx[a] = flat % d;
        flat /= d;
    }
    idx
}

/// Flat index of a multi-index under `strides`.
pub fn ravel(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// For each flat index of `out_shape`, the flat index of the element of an input of shape
/// `in_shape` that NumPy broadcasting reads there. `in_shape` must broadcast to `out_shape`.
pub fn broadcast_index(in_shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let n: usize = out_shape.iter().product();
    let off = out_shape.len() - in_shape.len();
    let in_strides = crate::shape::strides_of(in_shape);
    // Stride 0 on broadcast axes.
    let eff: Vec<usize> = (0..out_shape.len())
        .map(|a| {
            if a < off || in_shape[a - off] == 1 {
                0
            } else {
                in_strides[a - off]
            }
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; out_shape.len()];
    for _ in 0..n {
        out.push(ravel(&idx, &eff));
        for a in (0..out_shape.len()).rev() {
            idx[a] += 1;
            if idx[a] < out_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// Reads an integer operand (shape, axes, pads, repeats, k, ...) as i64s, with a typed error
/// naming the node when it is not an integer tensor.
pub fn read_ints(t: &Tensor, at: &At, what: &str) -> Result<Vec<i64>> {
    t.to_i64_vec().ok_or_else(|| IrError::Eval {
        at: at.clone(),
        message: format!("{what} must be an integer tensor, got {}", t.dtype()),
    })
}

/// Operand `i`, or an arity error naming the node when it is absent.
pub fn need<'a>(inputs: &[Option<&'a Tensor>], i: usize, at: &At) -> Result<&'a Tensor> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| IrError::Eval {
            at: at.clone(),
            message: format!("required input {i} is absent"),
        })
}

/// Shorthand for an evaluation error at a node.
pub fn eval_err(at: &At, message: impl Into<String>) -> IrError {
    IrError::Eval {
        at: at.clone(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_indices() {
        assert_eq!(broadcast_index(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_index(&[], &[2]), vec![0, 0]);
        assert!(broadcast_index(&[1], &[0]).is_empty());
    }

    #[test]
    fn narrowing_rounds_and_wraps() {
        let a = Arr::ints(DType::I8, vec![2], vec![127 + 1, -129]);
        assert_eq!(a.to_tensor().to_vec::<i8>().unwrap(), vec![-128, 127]);
        let f = Arr::floats(DType::F16, vec![1], vec![1.0 + 1.0 / 4096.0]);
        assert_eq!(f.to_tensor().to_vec::<f16>().unwrap()[0].to_f64(), 1.0);
        // A tie broken by bits below f32's precision: 2049 + 2^-14 rounds up to 2050 in f16.
        let f = Arr::floats(DType::F16, vec![1], vec![2049.0 + 2f64.powi(-14)]);
        assert_eq!(f.to_tensor().to_vec::<f16>().unwrap()[0].to_f64(), 2050.0);
        assert_eq!(wrap_int(256, DType::U8), 0);
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
    }

    #[test]
    fn low_precision_narrowing() {
        assert_eq!(wrap_int(8, DType::I4), -8);
        assert_eq!(wrap_int(-9, DType::I4), 7);
        assert_eq!(wrap_int(-1, DType::U4), 15);
        assert_eq!(wrap_int(2, DType::I2), -2);
        assert_eq!(wrap_int(-3, DType::U2), 1);
        let a = Arr::ints(DType::I4, vec![3], vec![-9, 8, -1]);
        let t = a.to_tensor();
        assert_eq!((t.dtype(), t.bytes()), (DType::I4, &[7u8, 0xF8, 0xFF][..]));
        assert_eq!(Arr::from_tensor(&t).data, Data::I(vec![7, -8, -1]));
        // Floats round to nearest-even; overflow is NaN where there is no infinity.
        let f = Arr::floats(DType::F8E4M3FN, vec![3], vec![1.0625, 1e9, -0.5]);
        let t = f.to_tensor();
        assert_eq!(t.bytes(), &[0x38, 0x7F, 0xB0]);
        // Every pattern (inf and the smallest E8M0 included) survives widen + narrow.
        for d in [
            DType::F8E5M2,
            DType::F8E8M0,
            DType::F4E2M1,
            DType::F8E4M3FNUZ,
        ] {
            let n = if d == DType::F4E2M1 { 16 } else { 256 };
            let bytes: Vec<u8> = (0..n).map(|b| b as u8).collect();
            let t = Tensor::from_bytes(d, &[n], bytes).unwrap();
            let back = Arr::from_tensor(&t).to_tensor();
            for i in 0..n {
                let (a, b) = (t.get_f64(i), back.get_f64(i));
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{d} {i}"
                );
            }
        }
    }
}
