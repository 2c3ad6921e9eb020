//! Host tensors: a dtype, a static shape and contiguous little-endian bytes.

use crate::dtype::DType;
use crate::shape::{Shape, checked_product};
use half::{bf16, f16};

/// Errors from building or reading a [`Tensor`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// The byte or element count does not match the shape.
    #[error("tensor of dtype {dtype} and shape {shape:?} needs {expected} elements, got {actual}")]
    LengthMismatch {
        /// Element type.
        dtype: DType,
        /// The shape asked for.
        shape: Vec<usize>,
        /// Elements (or bytes, for raw data) the shape needs.
        expected: usize,
        /// Elements (or bytes) given.
        actual: usize,
    },
    /// The shape's element count overflows `usize`.
    #[error("shape {0:?} has more elements than fit in usize")]
    TooLarge(Vec<usize>),
    /// A typed read asked for another dtype than the tensor holds.
    #[error("tensor holds {actual}, but {expected} was requested")]
    DTypeMismatch {
        /// The dtype asked for.
        expected: DType,
        /// The dtype held.
        actual: DType,
    },
}

/// A Rust type that is the element type of one [`DType`].
pub trait Element: Copy + Send + Sync + 'static {
    /// The dtype this Rust type stores.
    const DTYPE: DType;
    /// Appends the little-endian bytes of `self`.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads one element from exactly `size_bytes` little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! element_num {
    ($($t:ty => $d:ident),* $(,)?) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
element_num!(i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, u64 => U64, f16 => F16, bf16 => BF16, f32 => F32, f64 => F64);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn read_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}

/// A dense host tensor in row-major order.
///
/// Every dtype takes [`DType::size_bytes`] bytes per element; the low-precision dtypes are
/// unpacked, one element per byte (see [`DType`]): [`Tensor::from_bytes`] normalizes their
/// bytes (sub-byte integers sign- or zero-extended from their low bits, float formats masked
/// to their width), so equal values compare equal byte-wise.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Tensor {
    /// Builds a tensor from raw little-endian bytes.
    pub fn from_bytes(dtype: DType, shape: &[usize], data: Vec<u8>) -> Result<Self, TensorError> {
        let n = checked_product(shape).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
        let expected = n
            .checked_mul(dtype.size_bytes())
            .ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
        if data.len() != expected {
            return Err(TensorError::LengthMismatch {
                dtype,
                shape: shape.to_vec(),
                expected,
                actual: data.len(),
            });
        }
        let mut t = Tensor {
            dtype,
            shape: shape.to_vec(),
            data,
        };
        if dtype == DType::Bool {
            // Normalize so that equal booleans compare equal byte-wise.
            t.data.iter_mut().for_each(|b| *b = (*b != 0) as u8);
        } else if let Some(bits) = sub_byte_width(dtype) {
            let signed = dtype.is_signed_int();
            t.data
                .iter_mut()
                .for_each(|b| *b = extend_low_bits(*b, bits, signed));
        }
        Ok(t)
    }

    /// Builds a tensor from typed elements.
    pub fn from_vec<T: Element>(shape: &[usize], values: Vec<T>) -> Result<Self, TensorError> {
        Self::from_slice(shape, &values)
    }

    /// Builds a tensor from a typed slice.
    pub fn from_slice<T: Element>(shape: &[usize], values: &[T]) -> Result<Self, TensorError> {
        let n = checked_product(shape).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
        if n != values.len() {
            return Err(TensorError::LengthMismatch {
                dtype: T::DTYPE,
                shape: shape.to_vec(),
                expected: n,
                actual: values.len(),
            });
        }
        let mut data = Vec::with_capacity(n * T::DTYPE.size_bytes());
        for &v in values {
            v.write_le(&mut data);
        }
        Ok(Tensor {
            dtype: T::DTYPE,
            shape: shape.to_vec(),
            data,
        })
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar<T: Element>(value: T) -> Self {
        let mut data = Vec::new();
        value.write_le(&mut data);
        Tensor {
            dtype: T::DTYPE,
            shape: Vec::new(),
            data,
        }
    }

    /// A tensor of zeros (false for bool).
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Self, TensorError> {
        let n = checked_product(shape)
            .and_then(|n| n.checked_mul(dtype.size_bytes()))
            .ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
        Ok(Tensor {
            dtype,
            shape: shape.to_vec(),
            data: vec![0; n],
        })
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Static shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The shape as an IR [`Shape`].
    pub fn ir_shape(&self) -> Shape {
        Shape::new(&self.shape)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size_bytes()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Rank (number of axes).
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The raw little-endian bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Consumes the tensor and returns its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// The same data under a new shape with the same element count.
    pub fn reshaped(mut self, shape: &[usize]) -> Result<Self, TensorError> {
        let n = checked_product(shape).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
        if n != self.len() {
            return Err(TensorError::LengthMismatch {
                dtype: self.dtype,
                shape: shape.to_vec(),
                expected: n,
                actual: self.len(),
            });
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    /// Copies the elements out as `Vec<T>`; `T` must match the dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, TensorError> {
        if T::DTYPE != self.dtype {
            return Err(TensorError::DTypeMismatch {
                expected: T::DTYPE,
                actual: self.dtype,
            });
        }
        let sz = self.dtype.size_bytes();
        Ok(self.data.chunks_exact(sz).map(T::read_le).collect())
    }

    /// Element `i` (row-major) widened to f64: exact for every dtype but i64/u64 beyond 2^53.
    pub fn get_f64(&self, i: usize) -> f64 {
        let sz = self.dtype.size_bytes();
        let b = &self.data[i * sz..(i + 1) * sz];
        match self.dtype {
            DType::Bool => (b[0] != 0) as u8 as f64,
            DType::I8 => i8::read_le(b) as f64,
            DType::U8 => b[0] as f64,
            DType::I16 => i16::read_le(b) as f64,
            DType::U16 => u16::read_le(b) as f64,
            DType::I32 => i32::read_le(b) as f64,
            DType::U32 => u32::read_le(b) as f64,
            DType::I64 => i64::read_le(b) as f64,
            DType::U64 => u64::read_le(b) as f64,
            DType::F16 => f16::read_le(b).to_f64(),
            DType::BF16 => bf16::read_le(b).to_f64(),
            DType::F32 => f32::read_le(b) as f64,
            DType::F64 => f64::read_le(b),
            DType::I4 | DType::I2 => b[0] as i8 as f64,
            DType::U4 | DType::U2 => b[0] as f64,
            d => crate::dtype::lowbit::decode(b[0], d),
        }
    }

    /// Element `i` of a bool or integer tensor, exactly, as i128. `None` for floats.
    pub fn get_i128(&self, i: usize) -> Option<i128> {
        let sz = self.dtype.size_bytes();
        let b = &self.data[i * sz..(i + 1) * sz];
        Some(match self.dtype {
            DType::Bool => (b[0] != 0) as i128,
            DType::I8 => i8::read_le(b) as i128,
            DType::U8 => b[0] as i128,
            DType::I16 => i16::read_le(b) as i128,
            DType::U16 => u16::read_le(b) as i128,
            DType::I32 => i32::read_le(b) as i128,
            DType::U32 => u32::read_le(b) as i128,
            DType::I64 => i64::read_le(b) as i128,
            DType::U64 => u64::read_le(b) as i128,
            DType::I4 | DType::I2 => b[0] as i8 as i128,
            DType::U4 | DType::U2 => b[0] as i128,
            _ => return None,
        })
    }

    /// The elements of an integer or bool tensor as i64 (u64 values above i64::MAX saturate).
    /// `None` for floating-point tensors.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        (0..self.len())
            .map(|i| {
                self.get_i128(i)
                    .map(|v| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
            })
            .collect()
    }
}

/// Bits per element of the dtypes stored in less than their byte, `None` for the others.
fn sub_byte_width(dtype: DType) -> Option<u32> {
    match dtype {
        DType::I4 | DType::U4 | DType::F4E2M1 => Some(4),
        DType::I2 | DType::U2 => Some(2),
        _ => None,
    }
}

/// Keeps the low `bits` bits of `b`, sign-extending them to the byte when `signed`.
fn extend_low_bits(b: u8, bits: u32, signed: bool) -> u8 {
    let shift = 8 - bits;
    if signed {
        (((b << shift) as i8) >> shift) as u8
    } else {
        (b << shift) >> shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_round_trip() {
        let t = Tensor::from_vec(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(t.dtype(), DType::F32);
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
        assert!(t.to_vec::<i32>().is_err());
        assert!(Tensor::from_vec(&[3], vec![1i64, 2]).is_err());
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        assert_eq!(b.bytes(), &[1, 0]);
        let h = Tensor::from_vec(&[1], vec![f16::from_f32(1.5)]).unwrap();
        assert_eq!(h.get_f64(0), 1.5);
        assert_eq!(Tensor::scalar(-3i8).get_i128(0), Some(-3));
        assert!(Tensor::zeros(DType::F32, &[usize::MAX, 2]).is_err());
    }

    #[test]
    fn low_precision_storage() {
        // Sub-byte integers keep their low bits, sign- or zero-extended.
        let i4 = Tensor::from_bytes(DType::I4, &[3], vec![0x0F, 0x07, 0xF8]).unwrap();
        assert_eq!(i4.bytes(), &[0xFF, 0x07, 0xF8]);
        assert_eq!(i4.to_i64_vec(), Some(vec![-1, 7, -8]));
        assert_eq!(i4.get_f64(2), -8.0);
        let u2 = Tensor::from_bytes(DType::U2, &[2], vec![0xFF, 0x02]).unwrap();
        assert_eq!(u2.to_i64_vec(), Some(vec![3, 2]));
        let i2 = Tensor::from_bytes(DType::I2, &[2], vec![0x02, 0x01]).unwrap();
        assert_eq!(i2.to_i64_vec(), Some(vec![-2, 1]));
        // Float formats decode their bit pattern; float4 is masked to its nibble.
        let f8 = Tensor::from_bytes(DType::F8E4M3FN, &[2], vec![0x38, 0xC0]).unwrap();
        assert_eq!((f8.get_f64(0), f8.get_f64(1)), (1.0, -2.0));
        assert_eq!(f8.get_i128(0), None);
        let f4 = Tensor::from_bytes(DType::F4E2M1, &[1], vec![0xF7]).unwrap();
        assert_eq!((f4.bytes(), f4.get_f64(0)), (&[0x07][..], 6.0));
        assert_eq!(f4.len(), 1);
    }
}
