//! Element types of tensors: the closed set of dtypes every Tessera level understands.

pub mod lowbit;

use std::fmt;
use std::str::FromStr;

/// The element type of a tensor.
///
/// `Bool` is stored as one byte (0 or 1). `F16` and `BF16` use the `half` crate's types.
///
/// The low-precision dtypes (ONNX's float8, float4, int4 and int2 families, see
/// [`DType::is_low_precision`]) are stored unpacked, one element per byte: the float formats
/// as their bit pattern in the low bits of the byte (high bits zero), the sub-byte integers
/// sign-extended (`I4`, `I2`) or zero-extended (`U4`, `U2`) to the whole byte. Packing (two
/// or four elements per byte) happens only at file-format boundaries such as ONNX
/// `raw_data`. [`lowbit`] decodes and encodes the float formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// Boolean, one byte per element (0 = false, 1 = true).
    Bool,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 16-bit integer.
    U16,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 32-bit integer.
    U32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16 (8-bit exponent, 7-bit mantissa).
    BF16,
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
    /// OCP float8 E4M3FN: 4 exponent bits (bias 7), 3 mantissa bits, no infinities, NaN is
    /// `S.1111.111`; max 448.
    F8E4M3FN,
    /// float8 E4M3FNUZ: bias 8, no infinities, no negative zero, the single NaN is `0x80`;
    /// max 240.
    F8E4M3FNUZ,
    /// OCP float8 E5M2: IEEE-like, 5 exponent bits (bias 15), 2 mantissa bits; max 57344.
    F8E5M2,
    /// float8 E5M2FNUZ: bias 16, no infinities, no negative zero, the single NaN is `0x80`;
    /// max 57344.
    F8E5M2FNUZ,
    /// OCP MX scale float8 E8M0: an unsigned power of two `2^(e - 127)`, `0xFF` is NaN.
    F8E8M0,
    /// OCP MX float4 E2M1: 2 exponent bits (bias 1), 1 mantissa bit, no inf or NaN; max 6.
    F4E2M1,
    /// Signed 4-bit integer (-8..=7).
    I4,
    /// Unsigned 4-bit integer (0..=15).
    U4,
    /// Signed 2-bit integer (-2..=1).
    I2,
    /// Unsigned 2-bit integer (0..=3).
    U2,
}

impl DType {
    /// The number of dtypes (the length of [`DType::ALL`]).
    pub const COUNT: usize = 23;

    /// Every dtype, in a fixed order.
    pub const ALL: [DType; DType::COUNT] = [
        DType::Bool,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::F8E4M3FN,
        DType::F8E4M3FNUZ,
        DType::F8E5M2,
        DType::F8E5M2FNUZ,
        DType::F8E8M0,
        DType::F4E2M1,
        DType::I4,
        DType::U4,
        DType::I2,
        DType::U2,
    ];

    /// The position of `self` in [`DType::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Size of one element in bytes.
    pub const fn size_bytes(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            // Low-precision dtypes are stored unpacked, one element per byte.
            DType::F8E4M3FN
            | DType::F8E4M3FNUZ
            | DType::F8E5M2
            | DType::F8E5M2FNUZ
            | DType::F8E8M0
            | DType::F4E2M1
            | DType::I4
            | DType::U4
            | DType::I2
            | DType::U2 => 1,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// True for the floating-point dtypes (f16, bf16, f32, f64 and the float8/float4 formats).
    pub const fn is_float(self) -> bool {
        matches!(
            self,
            DType::F16
                | DType::BF16
                | DType::F32
                | DType::F64
                | DType::F8E4M3FN
                | DType::F8E4M3FNUZ
                | DType::F8E5M2
                | DType::F8E5M2FNUZ
                | DType::F8E8M0
                | DType::F4E2M1
        )
    }

    /// True for the low-precision storage dtypes (float8, float4, int4, int2): only
    /// conversions (`Cast`), quantization and data movement accept them, not arithmetic.
    pub const fn is_low_precision(self) -> bool {
        matches!(
            self,
            DType::F8E4M3FN
                | DType::F8E4M3FNUZ
                | DType::F8E5M2
                | DType::F8E5M2FNUZ
                | DType::F8E8M0
                | DType::F4E2M1
                | DType::I4
                | DType::U4
                | DType::I2
                | DType::U2
        )
    }

    /// True for the integer dtypes, signed or unsigned (not bool).
    pub const fn is_int(self) -> bool {
        matches!(
            self,
            DType::I8
                | DType::U8
                | DType::I16
                | DType::U16
                | DType::I32
                | DType::U32
                | DType::I64
                | DType::U64
                | DType::I4
                | DType::U4
                | DType::I2
                | DType::U2
        )
    }

    /// True for signed integers.
    pub const fn is_signed_int(self) -> bool {
        matches!(
            self,
            DType::I8 | DType::I16 | DType::I32 | DType::I64 | DType::I4 | DType::I2
        )
    }

    /// True for unsigned integers.
    pub const fn is_unsigned_int(self) -> bool {
        matches!(
            self,
            DType::U8 | DType::U16 | DType::U32 | DType::U64 | DType::U4 | DType::U2
        )
    }

    /// True for numeric dtypes (everything but bool).
    pub const fn is_numeric(self) -> bool {
        !matches!(self, DType::Bool)
    }

    /// The inclusive integer range of an integer or bool dtype, as i128.
    pub const fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            DType::Bool => (0, 1),
            DType::I8 => (i8::MIN as i128, i8::MAX as i128),
            DType::U8 => (0, u8::MAX as i128),
            DType::I16 => (i16::MIN as i128, i16::MAX as i128),
            DType::U16 => (0, u16::MAX as i128),
            DType::I32 => (i32::MIN as i128, i32::MAX as i128),
            DType::U32 => (0, u32::MAX as i128),
            DType::I64 => (i64::MIN as i128, i64::MAX as i128),
            DType::U64 => (0, u64::MAX as i128),
            DType::I4 => (-8, 7),
            DType::U4 => (0, 15),
            DType::I2 => (-2, 1),
            DType::U2 => (0, 3),
            _ => return None,
        })
    }

    /// The short lowercase name used in the text form (`f32`, `i64`, `bool`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F8E4M3FN => "f8e4m3fn",
            DType::F8E4M3FNUZ => "f8e4m3fnuz",
            DType::F8E5M2 => "f8e5m2",
            DType::F8E5M2FNUZ => "f8e5m2fnuz",
            DType::F8E8M0 => "f8e8m0",
            DType::F4E2M1 => "f4e2m1",
            DType::I4 => "i4",
            DType::U4 => "u4",
            DType::I2 => "i2",
            DType::U2 => "u2",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error returned when a string names no dtype.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown dtype `{0}` (expected one of bool, i8, u8, i16, u16, i32, u32, i64, u64, f16, bf16, f32, f64, f8e4m3fn, f8e4m3fnuz, f8e5m2, f8e5m2fnuz, f8e8m0, f4e2m1, i4, u4, i2, u2)"
)]
pub struct UnknownDType(pub String);

impl FromStr for DType {
    type Err = UnknownDType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DType::ALL
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| UnknownDType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
        }
        assert!("float".parse::<DType>().is_err());
    }

    #[test]
    fn classes() {
        assert!(DType::BF16.is_float());
        assert!(!DType::Bool.is_int());
        assert!(DType::U64.is_unsigned_int());
        assert_eq!(DType::U64.int_range(), Some((0, u64::MAX as i128)));
        assert_eq!(DType::F16.size_bytes(), 2);
        assert_eq!(DType::ALL.len(), DType::COUNT);
        for (i, d) in DType::ALL.iter().enumerate() {
            assert_eq!(d.index(), i);
        }
        assert!(DType::F8E4M3FN.is_float() && DType::F8E4M3FN.is_low_precision());
        assert!(!DType::F8E8M0.is_int() && DType::F4E2M1.is_float());
        assert!(DType::I4.is_signed_int() && DType::U2.is_unsigned_int());
        assert!(!DType::F32.is_low_precision() && DType::U2.is_low_precision());
        assert_eq!(DType::I4.int_range(), Some((-8, 7)));
        assert_eq!(DType::I2.int_range(), Some((-2, 1)));
        assert_eq!(DType::U4.size_bytes(), 1);
        assert_eq!(DType::F8E8M0.int_range(), None);
        assert_eq!("f8e5m2fnuz".parse::<DType>(), Ok(DType::F8E5M2FNUZ));
    }
}
