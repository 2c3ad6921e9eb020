//! Literals of the text form shared by the printer and the parser: tensor elements (floats in
//! the shortest form that round-trips for their dtype, exact integers, booleans), strings with
//! escapes, and the raw `hex"..."` form of large tensors.

use crate::dtype::{DType, lowbit};
use crate::tensor::Tensor;
use half::{bf16, f16};

/// Tensors with more elements than this are printed as `hex"..."` bytes.
pub(crate) const HEX_THRESHOLD: usize = 64;

/// Formats an f64 that is known to be the exact value of a float of some dtype: `nan`, `inf`,
/// `-inf`, or Rust's shortest round-trip form (always with `.` or an exponent).
fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        "nan".to_string()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{x:?}")
    }
}

/// Formats an f32 in its shortest round-trip form.
pub(crate) fn fmt_f32(x: f32) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else {
        fmt_f64(f64::from(x))
    }
}

/// The shortest decimal that parses back (through f64, as the parser reads it) to the same
/// value of a narrow float type, given its exact value `x` and a conversion from f64.
fn fmt_narrow(x: f64, same: impl Fn(f64) -> bool) -> String {
    if !x.is_finite() {
        return fmt_f64(x);
    }
    for digits in 0..17 {
        if let Ok(y) = format!("{x:.digits$e}").parse::<f64>()
            && same(y)
        {
            return fmt_f64(y);
        }
    }
    fmt_f64(x)
}

/// The text of element `i` of a tensor (which must be in range).
pub(crate) fn fmt_element(t: &Tensor, i: usize) -> String {
    let sz = t.dtype().size_bytes();
    let Some(b) = t.bytes().get(i * sz..(i + 1) * sz) else {
        return "nan".to_string();
    };
    match t.dtype() {
        DType::Bool => if b[0] != 0 { "true" } else { "false" }.to_string(),
        DType::F16 => {
            let bits = u16::from_le_bytes([b[0], b[1]]);
            let v = f16::from_bits(bits);
            fmt_narrow(v.to_f64(), |y| f16::from_f64(y).to_bits() == bits)
        }
        DType::BF16 => {
            let bits = u16::from_le_bytes([b[0], b[1]]);
            let v = bf16::from_bits(bits);
            fmt_narrow(v.to_f64(), |y| bf16::from_f64(y).to_bits() == bits)
        }
        DType::F32 => fmt_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        DType::F64 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            fmt_f64(f64::from_le_bytes(a))
        }
        // float8/float4: the shortest decimal of the exact value that encodes back to the
        // same bits.
        d if d.is_float() => fmt_narrow(lowbit::decode(b[0], d), |y| {
            lowbit::encode(y, d, false) == b[0]
        }),
        _ => t.get_i128(i).unwrap_or_default().to_string(),
    }
}

/// True when element `i` is a NaN other than the one `nan` parses to (sign or payload bits
/// that only the hex form keeps).
fn is_odd_nan(t: &Tensor, i: usize) -> bool {
    let sz = t.dtype().size_bytes();
    let Some(b) = t.bytes().get(i * sz..(i + 1) * sz) else {
        return false;
    };
    match t.dtype() {
        DType::F16 => {
            let bits = u16::from_le_bytes([b[0], b[1]]);
            f16::from_bits(bits).is_nan() && bits != f16::NAN.to_bits()
        }
        DType::BF16 => {
            let bits = u16::from_le_bytes([b[0], b[1]]);
            bf16::from_bits(bits).is_nan() && bits != bf16::NAN.to_bits()
        }
        DType::F32 => {
            let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            v.is_nan() && v.to_bits() != f32::NAN.to_bits()
        }
        DType::F64 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            let v = f64::from_le_bytes(a);
            v.is_nan() && v.to_bits() != f64::NAN.to_bits()
        }
        d if d.is_float() => {
            lowbit::decode(b[0], d).is_nan() && b[0] != lowbit::encode(f64::NAN, d, false)
        }
        _ => false,
    }
}

/// The literal part of a tensor: `[e0, e1, ...]` in row-major order, or `hex"..."` of its
/// bytes when it is large or holds NaNs that `nan` would not reproduce bit for bit.
pub(crate) fn fmt_tensor_data(t: &Tensor) -> String {
    let n = t.len();
    if n > HEX_THRESHOLD || (0..n).any(|i| is_odd_nan(t, i)) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(t.bytes().len() * 2 + 5);
        s.push_str("hex\"");
        for &b in t.bytes() {
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        s.push('"');
        return s;
    }
    let items: Vec<String> = (0..n).map(|i| fmt_element(t, i)).collect();
    format!("[{}]", items.join(", "))
}

/// Writes `s` as a quoted string literal with escapes.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One literal as written: an optional sign and a number, `nan`/`inf`, or `true`/`false`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    /// A number with its sign; `text` is e.g. `-1.5e3` or `42`.
    Num {
        /// The number's text including a leading `-`.
        text: String,
        /// True when it has a `.` or an exponent.
        is_float: bool,
    },
    /// `nan` (`negative` for `-nan`).
    Nan {
        /// Sign bit.
        negative: bool,
    },
    /// `inf` or `-inf`.
    Inf {
        /// Sign.
        negative: bool,
    },
    /// `true` or `false`.
    Bool(bool),
}

impl Lit {
    /// The literal as written, for messages.
    pub(crate) fn text(&self) -> String {
        match self {
            Lit::Num { text, .. } => text.clone(),
            Lit::Nan { negative } => if *negative { "-nan" } else { "nan" }.to_string(),
            Lit::Inf { negative } => if *negative { "-inf" } else { "inf" }.to_string(),
            Lit::Bool(b) => b.to_string(),
        }
    }

    /// The value as an f64 parsed from the text, with `inf`/`nan`; `None` for booleans.
    fn as_f64(&self) -> Option<f64> {
        match self {
            Lit::Num { text, .. } => text.parse::<f64>().ok(),
            Lit::Nan { negative } => Some(if *negative { -f64::NAN } else { f64::NAN }),
            Lit::Inf { negative } => Some(if *negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }),
            Lit::Bool(_) => None,
        }
    }

    /// The literal as an f32 (parsed directly, so rounding happens once).
    pub(crate) fn to_f32(&self) -> Result<f32, String> {
        let v = match self {
            Lit::Num { text, .. } => text.parse::<f32>().ok(),
            _ => self.as_f64().map(|x| x as f32),
        };
        let v = v.ok_or_else(|| format!("expected a number, found `{}`", self.text()))?;
        check_finite(self, v.is_infinite(), "f32")?;
        Ok(v)
    }

    /// The literal as an integer (no `.` or exponent).
    pub(crate) fn to_int(&self) -> Result<i128, String> {
        match self {
            Lit::Num {
                text,
                is_float: false,
            } => text
                .parse::<i128>()
                .map_err(|_| format!("integer `{text}` is out of range")),
            _ => Err(format!(
                "expected an integer literal, found `{}`",
                self.text()
            )),
        }
    }
}

fn check_finite(lit: &Lit, infinite: bool, dtype: &str) -> Result<(), String> {
    if infinite && !matches!(lit, Lit::Inf { .. }) {
        return Err(format!(
            "float literal `{}` is too large for {dtype}",
            lit.text()
        ));
    }
    Ok(())
}

/// Appends the little-endian bytes of one literal as an element of `dtype`.
pub(crate) fn push_element(dtype: DType, lit: &Lit, out: &mut Vec<u8>) -> Result<(), String> {
    if dtype.is_float() {
        let as_f64 = || {
            lit.as_f64()
                .ok_or_else(|| format!("expected a number for {dtype}, found `{}`", lit.text()))
        };
        match dtype {
            DType::F16 => {
                let v = f16::from_f64(as_f64()?);
                check_finite(lit, v.is_infinite(), "f16")?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            DType::BF16 => {
                let v = bf16::from_f64(as_f64()?);
                check_finite(lit, v.is_infinite(), "bf16")?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            DType::F32 => out.extend_from_slice(&lit.to_f32()?.to_le_bytes()),
            d if d.is_low_precision() => {
                let v = as_f64()?;
                // Round to nearest-even; a finite value beyond the format's range is an error
                // (not silently saturated), except for float4 which always saturates.
                let bits = lowbit::encode(v, d, false);
                let overflow = v.is_finite() && bits != lowbit::encode(v, d, true);
                check_finite(lit, overflow, d.name())?;
                if v.is_infinite() && !lowbit::decode(bits, d).is_infinite() {
                    return Err(format!("{d} has no infinity (literal `{}`)", lit.text()));
                }
                out.push(bits);
            }
            _ => {
                let v = as_f64()?;
                check_finite(lit, v.is_infinite(), "f64")?;
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        return Ok(());
    }
    if dtype == DType::Bool {
        let b = match lit {
            Lit::Bool(b) => *b,
            Lit::Num { text, .. } if text == "0" => false,
            Lit::Num { text, .. } if text == "1" => true,
            _ => {
                return Err(format!(
                    "expected `true` or `false` for bool, found `{}`",
                    lit.text()
                ));
            }
        };
        out.push(b as u8);
        return Ok(());
    }
    let v = lit
        .to_int()
        .map_err(|e| format!("{e} (for dtype {dtype})"))?;
    let (lo, hi) = dtype.int_range().unwrap_or((0, 0));
    if v < lo || v > hi {
        return Err(format!(
            "integer `{v}` is out of range for {dtype} ({lo} to {hi})"
        ));
    }
    // Two's complement little-endian: the low bytes of the i128.
    out.extend_from_slice(&v.to_le_bytes()[..dtype.size_bytes()]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one<T: crate::tensor::Element>(v: T) -> String {
        fmt_element(&Tensor::scalar(v), 0)
    }

    #[test]
    fn floats_are_shortest_and_read_as_floats() {
        assert_eq!(one(1.0f32), "1.0");
        assert_eq!(one(0.1f32), "0.1");
        assert_eq!(one(-0.0f32), "-0.0");
        assert_eq!(one(1e-7f32), "1e-7");
        assert_eq!(one(f32::MAX), "3.4028235e38");
        assert_eq!(one(f32::NAN), "nan");
        assert_eq!(one(f32::NEG_INFINITY), "-inf");
        assert_eq!(one(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        // f16 0.1 is 0.0999755859375; "0.1" is the shortest text that reads back to it.
        assert_eq!(one(f16::from_f32(0.1)), "0.1");
        assert_eq!(one(f16::MAX), "65500.0");
        assert_eq!(one(f16::from_bits(1)), "6e-8");
        assert_eq!(one(bf16::from_bits(0x4049)), "3.14"); // 3.140625
        assert_eq!(one(bf16::from_f32(-0.0)), "-0.0");
    }

    #[test]
    fn ints_are_exact() {
        assert_eq!(one(u64::MAX), "18446744073709551615");
        assert_eq!(one(i64::MIN), "-9223372036854775808");
        assert_eq!(one(true), "true");
        let mut b = Vec::new();
        let lit = |t: &str| Lit::Num {
            text: t.into(),
            is_float: false,
        };
        push_element(DType::U64, &lit("18446744073709551615"), &mut b).unwrap();
        push_element(DType::I8, &lit("-128"), &mut b).unwrap();
        assert_eq!(b, [255, 255, 255, 255, 255, 255, 255, 255, 128]);
        assert!(push_element(DType::U8, &lit("256"), &mut b).is_err());
        assert!(push_element(DType::I8, &lit("-129"), &mut b).is_err());
    }

    #[test]
    fn odd_nans_and_big_tensors_use_hex() {
        let t = Tensor::from_vec(&[2], vec![f32::from_bits(0x7fc0_0001), 1.0]).unwrap();
        assert_eq!(fmt_tensor_data(&t), "hex\"0100c07f0000803f\"");
        let t = Tensor::from_vec(&[2], vec![-f32::NAN, 1.0]).unwrap();
        assert!(fmt_tensor_data(&t).starts_with("hex"));
        let t = Tensor::zeros(DType::U8, &[65]).unwrap();
        assert_eq!(fmt_tensor_data(&t), format!("hex\"{}\"", "00".repeat(65)));
        let t = Tensor::zeros(DType::U8, &[64]).unwrap();
        assert!(fmt_tensor_data(&t).starts_with('['));
    }

    #[test]
    fn low_precision_literals() {
        let low = |d: DType, b: &[u8]| Tensor::from_bytes(d, &[b.len()], b.to_vec()).unwrap();
        let num = |t: &str| Lit::Num {
            text: t.into(),
            is_float: t.contains('.') || t.contains('e'),
        };
        // Printed as the shortest decimal of the exact value.
        let t = low(DType::F8E4M3FN, &[0x38, 0x7E, 0x01, 0x80, 0x7F]);
        assert_eq!(fmt_tensor_data(&t), "[1.0, 450.0, 0.002, -0.0, nan]");
        let t = low(DType::F8E5M2, &[0x7C, 0xFC]);
        assert_eq!(fmt_tensor_data(&t), "[inf, -inf]");
        assert_eq!(
            fmt_tensor_data(&low(DType::F8E8M0, &[0x00, 0x7F])),
            "[5.877e-39, 1.0]"
        );
        assert_eq!(fmt_tensor_data(&low(DType::I4, &[0xF8, 0x07])), "[-8, 7]");
        // A NaN other than the canonical one keeps its bits through the hex form.
        assert!(fmt_tensor_data(&low(DType::F8E4M3FN, &[0xFF])).starts_with("hex"));
        // Parsing rounds to nearest-even; overflow and missing infinities are errors.
        let mut b = Vec::new();
        push_element(DType::F8E4M3FN, &num("1.0625"), &mut b).unwrap();
        push_element(DType::F8E4M3FN, &num("0.002"), &mut b).unwrap();
        push_element(DType::F8E5M2, &Lit::Inf { negative: true }, &mut b).unwrap();
        push_element(DType::F8E8M0, &num("5.877e-39"), &mut b).unwrap();
        push_element(DType::I2, &num("-2"), &mut b).unwrap();
        assert_eq!(b, [0x38, 0x01, 0xFC, 0x00, 0xFE]);
        assert!(push_element(DType::F8E4M3FN, &num("500.0"), &mut b).is_err());
        let e = push_element(DType::F8E4M3FN, &Lit::Inf { negative: false }, &mut b);
        assert!(e.unwrap_err().contains("no infinity"));
        assert!(push_element(DType::U4, &num("16"), &mut b).is_err());
        assert!(push_element(DType::I2, &num("2"), &mut b).is_err());
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u{1}é\"");
    }
}
