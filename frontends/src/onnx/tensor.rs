//! Decoding ONNX tensors (`TensorProto`) into Tessera tensors: element types, raw little-endian
//! data, the typed data fields, and external data files next to the model.

use super::error::OnnxError;
use super::proto::{DataLocation, DataType, TensorProto};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use tessera_ir::{DType, Tensor};

/// The Tessera dtype of an ONNX element type code (`TensorProto.DataType`), when there is one.
///
/// Strings and complex numbers have none.
pub fn onnx_dtype(code: i32) -> Option<DType> {
    Some(match DataType::try_from(code).ok()? {
        DataType::Float => DType::F32,
        DataType::Uint8 => DType::U8,
        DataType::Int8 => DType::I8,
        DataType::Uint16 => DType::U16,
        DataType::Int16 => DType::I16,
        DataType::Int32 => DType::I32,
        DataType::Int64 => DType::I64,
        DataType::Bool => DType::Bool,
        DataType::Float16 => DType::F16,
        DataType::Double => DType::F64,
        DataType::Uint32 => DType::U32,
        DataType::Uint64 => DType::U64,
        DataType::Bfloat16 => DType::BF16,
        DataType::Float8e4m3fn => DType::F8E4M3FN,
        DataType::Float8e4m3fnuz => DType::F8E4M3FNUZ,
        DataType::Float8e5m2 => DType::F8E5M2,
        DataType::Float8e5m2fnuz => DType::F8E5M2FNUZ,
        DataType::Uint4 => DType::U4,
        DataType::Int4 => DType::I4,
        DataType::Float4e2m1 => DType::F4E2M1,
        DataType::Float8e8m0 => DType::F8E8M0,
        DataType::Uint2 => DType::U2,
        DataType::Int2 => DType::I2,
        _ => return None,
    })
}

/// The ONNX name of an element type code (`FLOAT8E4M3FN`, ...), or `UNKNOWN` for a bad code.
pub(crate) fn onnx_type_name(code: i32) -> String {
    match DataType::try_from(code) {
        Ok(d) => format!("{d:?}").to_ascii_uppercase(),
        Err(_) => "UNKNOWN".to_string(),
    }
}

/// The dtype of an ONNX type code, or an `UnsupportedDType` error naming `what`.
pub(crate) fn dtype_of(code: i32, what: &str) -> Result<DType, OnnxError> {
    onnx_dtype(code).ok_or_else(|| OnnxError::UnsupportedDType {
        what: what.to_string(),
        dtype: onnx_type_name(code),
        code,
    })
}

/// ONNX dims as `usize`s whose element count fits in `usize`; also returns that count.
pub(crate) fn static_dims(dims: &[i64], what: &str) -> Result<(Vec<usize>, usize), OnnxError> {
    let overflow = || OnnxError::DimsOverflow {
        what: what.to_string(),
        dims: dims.to_vec(),
    };
    let mut out = Vec::with_capacity(dims.len());
    let mut count = 1usize;
    for &d in dims {
        let d = usize::try_from(d).map_err(|_| overflow())?;
        count = count.checked_mul(d).ok_or_else(overflow)?;
        out.push(d);
    }
    Ok((out, count))
}

/// Decodes a tensor; `what` names it in errors, `model_dir` resolves external data files.
pub fn tensor_from_proto(
    t: &TensorProto,
    what: &str,
    model_dir: Option<&Path>,
) -> Result<Tensor, OnnxError> {
    let code = t.data_type.unwrap_or(0);
    let dtype = dtype_of(code, what)?;
    let bad = |reason: String| OnnxError::BadTensor {
        tensor: what.to_string(),
        reason,
    };
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    let (dims, count) = static_dims(&t.dims, what)?;
    // Sub-byte elements are stored packed; everything else at its full width.
    let nbytes = match packed_bits(dtype) {
        Some(bits) => count.div_ceil(8 / bits),
        None => count
            .checked_mul(dtype.size_bytes())
            .ok_or_else(|| OnnxError::DimsOverflow {
                what: what.to_string(),
                dims: t.dims.clone(),
            })?,
    };
    let bytes = if t.data_location == Some(DataLocation::External as i32) {
        read_external(t, what, model_dir, nbytes)?
    } else if let Some(raw) = &t.raw_data {
        raw.clone()
    } else {
        typed_bytes(t, dtype, count).map_err(bad)?
    };
    if bytes.len() != nbytes {
        return Err(bad(format!(
            "{} data bytes, but {count} elements of {dtype} need {nbytes}",
            bytes.len()
        )));
    }
    let bytes = match packed_bits(dtype) {
        Some(bits) => unpack(&bytes, bits, count),
        None => bytes,
    };
    Tensor::from_bytes(dtype, &dims, bytes).map_err(|e| bad(e.to_string()))
}

/// Bits per element of the dtypes ONNX stores packed (int4, uint4, float4: 4; int2, uint2:
/// 2), `None` for the dtypes stored whole.
pub(crate) fn packed_bits(dtype: DType) -> Option<usize> {
    match dtype {
        DType::I4 | DType::U4 | DType::F4E2M1 => Some(4),
        DType::I2 | DType::U2 => Some(2),
        _ => None,
    }
}

/// Unpacks `count` elements of `bits` bits each, lowest bits first in every byte, into one
/// byte per element (its low bits; [`Tensor::from_bytes`] sign-extends the signed ints).
pub(crate) fn unpack(packed: &[u8], bits: usize, count: usize) -> Vec<u8> {
    let per_byte = 8 / bits;
    let mask = (1u8 << bits) - 1;
    (0..count)
        .map(|i| {
            let byte = packed.get(i / per_byte).copied().unwrap_or(0);
            (byte >> ((i % per_byte) * bits)) & mask
        })
        .collect()
}

/// Little-endian bytes from the typed field that holds `dtype`'s elements.
fn typed_bytes(t: &TensorProto, dtype: DType, count: usize) -> Result<Vec<u8>, String> {
    fn check(field: &str, len: usize, count: usize) -> Result<(), String> {
        if len == count {
            Ok(())
        } else {
            Err(format!(
                "{field} has {len} elements, but the dims need {count}"
            ))
        }
    }
    // Sub-byte dtypes: each int32 holds one packed byte (two 4-bit or four 2-bit elements).
    if let Some(bits) = packed_bits(dtype) {
        let n = count.div_ceil(8 / bits);
        check("int32_data", t.int32_data.len(), n)?;
        return Ok(t.int32_data.iter().map(|&v| v as u8).collect());
    }
    // Check the element count before allocating: dims alone may claim any size.
    let (field, len) = match dtype {
        DType::I64 => ("int64_data", t.int64_data.len()),
        DType::U32 | DType::U64 => ("uint64_data", t.uint64_data.len()),
        DType::F32 => ("float_data", t.float_data.len()),
        DType::F64 => ("double_data", t.double_data.len()),
        _ => ("int32_data", t.int32_data.len()),
    };
    check(field, len, count)?;
    let mut out = Vec::with_capacity(count.saturating_mul(dtype.size_bytes()));
    match dtype {
        DType::Bool
        | DType::I8
        | DType::U8
        | DType::F8E4M3FN
        | DType::F8E4M3FNUZ
        | DType::F8E5M2
        | DType::F8E5M2FNUZ
        | DType::F8E8M0
        | DType::I4
        | DType::U4
        | DType::I2
        | DType::U2
        | DType::F4E2M1 => {
            for &v in &t.int32_data {
                out.push(if dtype == DType::Bool {
                    (v != 0) as u8
                } else {
                    v as u8
                });
            }
        }
        DType::I16 | DType::U16 | DType::F16 | DType::BF16 => {
            for &v in &t.int32_data {
                out.extend_from_slice(&(v as u16).to_le_bytes());
            }
        }
        DType::I32 => {
            for &v in &t.int32_data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        DType::I64 => {
            for &v in &t.int64_data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        DType::U32 => {
            for &v in &t.uint64_data {
                out.extend_from_slice(&(v as u32).to_le_bytes());
            }
        }
        DType::U64 => {
            for &v in &t.uint64_data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        DType::F32 => {
            for &v in &t.float_data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        DType::F64 => {
            for &v in &t.double_data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// Reads `nbytes` of external data for `t` from the file its `location` names.
fn read_external(
    t: &TensorProto,
    what: &str,
    model_dir: Option<&Path>,
    nbytes: usize,
) -> Result<Vec<u8>, OnnxError> {
    let entry = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key.as_deref() == Some(key))
            .and_then(|e| e.value.clone())
    };
    let location = entry("location").unwrap_or_default();
    let fail = |path: PathBuf, reason: String| OnnxError::ExternalData {
        tensor: what.to_string(),
        path,
        reason,
    };
    let named = PathBuf::from(&location);
    if location.is_empty() {
        return Err(fail(named, "no `location` key".into()));
    }
    let number = |key: &str| -> Result<Option<u64>, OnnxError> {
        match entry(key) {
            None => Ok(None),
            Some(s) => s
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| fail(named.clone(), format!("`{key}` is not a number: `{s}`"))),
        }
    };
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?;
    let dir = model_dir.ok_or_else(|| {
        fail(
            named.clone(),
            "the model was loaded from bytes without a directory to resolve it against".into(),
        )
    })?;
    let path = resolve_inside(dir, &named).map_err(|r| fail(named.clone(), r))?;
    let io = |e: std::io::Error| fail(path.clone(), e.to_string());
    let mut file = File::open(&path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let want = length.unwrap_or_else(|| file_len.saturating_sub(offset));
    if want != nbytes as u64 {
        return Err(fail(
            path.clone(),
            format!("holds {want} bytes for the tensor, but its dims and type need {nbytes}"),
        ));
    }
    if offset.checked_add(want).is_none_or(|end| end > file_len) {
        return Err(fail(
            path.clone(),
            format!(
                "offset {offset} + length {want} is past the end of the file ({file_len} bytes)"
            ),
        ));
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = vec![0u8; nbytes];
    file.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}

/// `dir/rel`, refusing absolute paths and paths that leave `dir` (`..`, symlinks out of it).
fn resolve_inside(dir: &Path, rel: &Path) -> Result<PathBuf, String> {
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err("the location must be a relative path inside the model's directory".into());
    }
    let base = dir
        .canonicalize()
        .map_err(|e| format!("model directory `{}`: {e}", dir.display()))?;
    let full = base
        .join(rel)
        .canonicalize()
        .map_err(|e| format!("cannot open: {e}"))?;
    if !full.starts_with(&base) {
        return Err("the location resolves outside the model's directory".into());
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::StringStringEntryProto;
    use half::{bf16, f16};

    fn proto(code: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: Some("t".into()),
            data_type: Some(code as i32),
            dims: dims.to_vec(),
            ..Default::default()
        }
    }

    fn decode(t: &TensorProto) -> Result<Tensor, OnnxError> {
        tensor_from_proto(t, "t", None)
    }

    #[test]
    fn dtype_codes() {
        assert_eq!(onnx_dtype(1), Some(DType::F32));
        assert_eq!(onnx_dtype(16), Some(DType::BF16));
        assert_eq!(onnx_dtype(13), Some(DType::U64));
        for code in [0, 8, 14, 15, 27, 99, -1] {
            assert_eq!(onnx_dtype(code), None, "code {code}");
        }
        let low = [
            (17, DType::F8E4M3FN),
            (18, DType::F8E4M3FNUZ),
            (19, DType::F8E5M2),
            (20, DType::F8E5M2FNUZ),
            (21, DType::U4),
            (22, DType::I4),
            (23, DType::F4E2M1),
            (24, DType::F8E8M0),
            (25, DType::U2),
            (26, DType::I2),
        ];
        for (code, d) in low {
            assert_eq!(onnx_dtype(code), Some(d), "code {code}");
        }
        assert_eq!(onnx_type_name(17), "FLOAT8E4M3FN");
        assert_eq!(onnx_type_name(1234), "UNKNOWN");
    }

    /// Every supported dtype decodes identically from raw_data and from its typed field.
    #[test]
    fn raw_and_typed_fields_agree_for_every_dtype() {
        type Fill = Box<dyn Fn(&mut TensorProto)>;
        let cases: Vec<(DataType, Tensor, Fill)> = vec![
            (
                DataType::Bool,
                Tensor::from_vec(&[3], vec![true, false, true]).unwrap(),
                Box::new(|t| t.int32_data = vec![1, 0, 7]),
            ),
            (
                DataType::Int8,
                Tensor::from_vec(&[3], vec![-128i8, 0, 127]).unwrap(),
                Box::new(|t| t.int32_data = vec![-128, 0, 127]),
            ),
            (
                DataType::Uint8,
                Tensor::from_vec(&[3], vec![0u8, 1, 255]).unwrap(),
                Box::new(|t| t.int32_data = vec![0, 1, 255]),
            ),
            (
                DataType::Int16,
                Tensor::from_vec(&[3], vec![-32768i16, 5, 32767]).unwrap(),
                Box::new(|t| t.int32_data = vec![-32768, 5, 32767]),
            ),
            (
                DataType::Uint16,
                Tensor::from_vec(&[3], vec![0u16, 7, 65535]).unwrap(),
                Box::new(|t| t.int32_data = vec![0, 7, 65535]),
            ),
            (
                DataType::Int32,
                Tensor::from_vec(&[3], vec![i32::MIN, -1, i32::MAX]).unwrap(),
                Box::new(|t| t.int32_data = vec![i32::MIN, -1, i32::MAX]),
            ),
            (
                DataType::Uint32,
                Tensor::from_vec(&[3], vec![0u32, 9, u32::MAX]).unwrap(),
                Box::new(|t| t.uint64_data = vec![0, 9, u32::MAX as u64]),
            ),
            (
                DataType::Int64,
                Tensor::from_vec(&[3], vec![i64::MIN, 0, i64::MAX]).unwrap(),
                Box::new(|t| t.int64_data = vec![i64::MIN, 0, i64::MAX]),
            ),
            (
                DataType::Uint64,
                Tensor::from_vec(&[3], vec![0u64, 3, u64::MAX]).unwrap(),
                Box::new(|t| t.uint64_data = vec![0, 3, u64::MAX]),
            ),
            (
                DataType::Float16,
                Tensor::from_vec(
                    &[3],
                    vec![f16::from_f32(1.5), f16::NEG_INFINITY, f16::from_f32(-0.0)],
                )
                .unwrap(),
                Box::new(|t| {
                    t.int32_data = [f16::from_f32(1.5), f16::NEG_INFINITY, f16::from_f32(-0.0)]
                        .iter()
                        .map(|h| h.to_bits() as i32)
                        .collect()
                }),
            ),
            (
                DataType::Bfloat16,
                Tensor::from_vec(&[3], vec![bf16::from_f32(-2.0), bf16::NAN, bf16::ONE]).unwrap(),
                Box::new(|t| {
                    t.int32_data = [bf16::from_f32(-2.0), bf16::NAN, bf16::ONE]
                        .iter()
                        .map(|h| h.to_bits() as i32)
                        .collect()
                }),
            ),
            (
                DataType::Float,
                Tensor::from_vec(&[3], vec![1.0f32, f32::INFINITY, -3.25]).unwrap(),
                Box::new(|t| t.float_data = vec![1.0, f32::INFINITY, -3.25]),
            ),
            (
                DataType::Double,
                Tensor::from_vec(&[3], vec![1e300f64, -0.5, 2.0]).unwrap(),
                Box::new(|t| t.double_data = vec![1e300, -0.5, 2.0]),
            ),
        ];
        for (code, expected, fill) in cases {
            let mut typed = proto(code, &[3]);
            fill(&mut typed);
            assert_eq!(decode(&typed).unwrap(), expected, "typed {code:?}");
            let mut raw = proto(code, &[3]);
            raw.raw_data = Some(expected.bytes().to_vec());
            assert_eq!(decode(&raw).unwrap(), expected, "raw {code:?}");
            assert_eq!(onnx_dtype(code as i32), Some(expected.dtype()));
        }
    }

    fn low(dtype: DType, shape: &[usize], bytes: &[u8]) -> Tensor {
        Tensor::from_bytes(dtype, shape, bytes.to_vec()).unwrap()
    }

    /// float8: one byte per element in raw_data, one element per int32 in int32_data.
    #[test]
    fn float8_raw_and_typed() {
        let expected = low(DType::F8E4M3FN, &[3], &[0x38, 0xFF, 0x01]);
        let mut raw = proto(DataType::Float8e4m3fn, &[3]);
        raw.raw_data = Some(vec![0x38, 0xFF, 0x01]);
        assert_eq!(decode(&raw).unwrap(), expected);
        let mut typed = proto(DataType::Float8e4m3fn, &[3]);
        typed.int32_data = vec![0x38, 0xFF, 0x01];
        let t = decode(&typed).unwrap();
        assert_eq!(t, expected);
        assert_eq!(t.get_f64(0), 1.0);
        assert!(t.get_f64(1).is_nan());
        let mut short = proto(DataType::Float8e5m2, &[3]);
        short.raw_data = Some(vec![0; 2]);
        assert!(matches!(decode(&short), Err(OnnxError::BadTensor { .. })));
    }

    /// 4-bit types: two per byte, low nibble first, odd counts padded; int4 sign-extends.
    #[test]
    fn four_bit_packing() {
        let mut raw = proto(DataType::Int4, &[3]);
        raw.raw_data = Some(vec![0x8F, 0x07]);
        let t = decode(&raw).unwrap();
        assert_eq!(t, low(DType::I4, &[3], &[0xFF, 0xF8, 0x07]));
        assert_eq!(t.to_i64_vec(), Some(vec![-1, -8, 7]));
        let mut typed = proto(DataType::Int4, &[3]);
        typed.int32_data = vec![0x8F, 0x07];
        assert_eq!(decode(&typed).unwrap(), t);
        let mut u = proto(DataType::Uint4, &[2, 2]);
        u.raw_data = Some(vec![0x21, 0xF0]);
        assert_eq!(decode(&u).unwrap().to_i64_vec(), Some(vec![1, 2, 0, 15]));
        let mut f4 = proto(DataType::Float4e2m1, &[2]);
        f4.raw_data = Some(vec![0xF7]);
        let f = decode(&f4).unwrap();
        assert_eq!((f.get_f64(0), f.get_f64(1)), (6.0, -6.0));
        // Three elements need two bytes, not three.
        let mut long = proto(DataType::Uint4, &[3]);
        long.raw_data = Some(vec![0; 3]);
        assert!(matches!(decode(&long), Err(OnnxError::BadTensor { .. })));
        let mut few = proto(DataType::Int4, &[3]);
        few.int32_data = vec![0x11];
        assert!(matches!(decode(&few), Err(OnnxError::BadTensor { .. })));
    }

    /// 2-bit types: four per byte, lowest bits first.
    #[test]
    fn two_bit_packing() {
        let mut raw = proto(DataType::Int2, &[5]);
        // Elements 1, -2, -1, 0 | -2.
        raw.raw_data = Some(vec![0b00_11_10_01, 0b10]);
        let t = decode(&raw).unwrap();
        assert_eq!(t.to_i64_vec(), Some(vec![1, -2, -1, 0, -2]));
        let mut typed = proto(DataType::Int2, &[5]);
        typed.int32_data = vec![0b00_11_10_01, 0b10];
        assert_eq!(decode(&typed).unwrap(), t);
        let mut u = proto(DataType::Uint2, &[4]);
        u.raw_data = Some(vec![0b11_10_01_00]);
        assert_eq!(decode(&u).unwrap().to_i64_vec(), Some(vec![0, 1, 2, 3]));
        let mut e = proto(DataType::Uint2, &[0]);
        e.raw_data = Some(Vec::new());
        assert!(decode(&e).unwrap().is_empty());
    }

    #[test]
    fn unpacking() {
        assert_eq!(unpack(&[0xAB, 0x0C], 4, 3), vec![0xB, 0xA, 0xC]);
        assert_eq!(unpack(&[0b11_10_01_00], 2, 3), vec![0, 1, 2]);
        assert_eq!(packed_bits(DType::F4E2M1), Some(4));
        assert_eq!(packed_bits(DType::F8E8M0), None);
    }

    #[test]
    fn scalars_and_empty_tensors() {
        let mut s = proto(DataType::Int64, &[]);
        s.int64_data = vec![42];
        assert_eq!(decode(&s).unwrap(), Tensor::scalar(42i64));
        let e = proto(DataType::Float, &[2, 0]);
        let t = decode(&e).unwrap();
        assert_eq!(t.shape(), &[2, 0]);
        assert!(t.is_empty());
        let mut raw_empty = proto(DataType::Float, &[0]);
        raw_empty.raw_data = Some(Vec::new());
        assert_eq!(decode(&raw_empty).unwrap().shape(), &[0]);
    }

    #[test]
    fn length_mismatches_are_errors() {
        let mut t = proto(DataType::Float, &[2, 2]);
        t.float_data = vec![1.0; 3];
        assert!(matches!(decode(&t), Err(OnnxError::BadTensor { .. })));
        let mut r = proto(DataType::Int32, &[2]);
        r.raw_data = Some(vec![0; 7]);
        let err = decode(&r).unwrap_err();
        assert!(matches!(&err, OnnxError::BadTensor { tensor, .. } if tensor == "t"));
        let mut s = proto(DataType::Float, &[1]);
        s.float_data = vec![1.0];
        s.segment = Some(Default::default());
        assert!(matches!(decode(&s), Err(OnnxError::BadTensor { .. })));
    }

    #[test]
    fn unsupported_dtypes_name_the_tensor() {
        for code in [
            DataType::String,
            DataType::Complex64,
            DataType::Complex128,
            DataType::Undefined,
        ] {
            let t = proto(code, &[1]);
            match tensor_from_proto(&t, "weights", None) {
                Err(OnnxError::UnsupportedDType { what, code: c, .. }) => {
                    assert_eq!(what, "weights");
                    assert_eq!(c, code as i32);
                }
                other => panic!("{code:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_dims_are_errors() {
        let neg = proto(DataType::Float, &[2, -1]);
        assert!(matches!(decode(&neg), Err(OnnxError::DimsOverflow { .. })));
        let huge = proto(DataType::Float, &[i64::MAX, i64::MAX]);
        assert!(matches!(decode(&huge), Err(OnnxError::DimsOverflow { .. })));
        // Fits as an element count but not as a byte count.
        let bytes = proto(DataType::Double, &[1 << 62]);
        assert!(matches!(
            decode(&bytes),
            Err(OnnxError::DimsOverflow { .. })
        ));
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "tessera-onnx-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn external(location: &str, offset: Option<u64>, length: Option<u64>) -> TensorProto {
        let mut t = proto(DataType::Float, &[2]);
        t.data_location = Some(DataLocation::External as i32);
        let kv = |k: &str, v: String| StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v),
        };
        t.external_data.push(kv("location", location.into()));
        if let Some(o) = offset {
            t.external_data.push(kv("offset", o.to_string()));
        }
        if let Some(l) = length {
            t.external_data.push(kv("length", l.to_string()));
        }
        t
    }

    #[test]
    fn external_data_is_read_from_the_model_directory() {
        let dir = temp_dir("ext");
        let mut data = vec![0xAAu8; 4];
        data.extend_from_slice(&1.5f32.to_le_bytes());
        data.extend_from_slice(&(-2.0f32).to_le_bytes());
        std::fs::write(dir.join("w.bin"), &data).unwrap();
        let t = external("w.bin", Some(4), Some(8));
        let got = tensor_from_proto(&t, "w", Some(&dir)).unwrap();
        assert_eq!(got.to_vec::<f32>().unwrap(), vec![1.5, -2.0]);
        // Without a length, the rest of the file from the offset.
        let t = external("./w.bin", Some(4), None);
        assert!(tensor_from_proto(&t, "w", Some(&dir)).is_ok());

        let err = |t: &TensorProto, dir: Option<&Path>| match tensor_from_proto(t, "w", dir) {
            Err(OnnxError::ExternalData { tensor, reason, .. }) => {
                assert_eq!(tensor, "w");
                reason
            }
            other => panic!("{other:?}"),
        };
        // Wrong length, past the end, missing file, no directory, escaping paths.
        err(&external("w.bin", Some(0), Some(4)), Some(&dir));
        err(&external("w.bin", Some(8), Some(8)), Some(&dir));
        err(&external("w.bin", Some(u64::MAX), Some(8)), Some(&dir));
        err(&external("nope.bin", None, None), Some(&dir));
        err(&external("w.bin", Some(4), Some(8)), None);
        err(&external("../w.bin", None, None), Some(&dir));
        err(&external("/etc/passwd", None, None), Some(&dir));
        err(&external("", None, None), Some(&dir));
        let mut bad_offset = external("w.bin", None, None);
        bad_offset.external_data.push(StringStringEntryProto {
            key: Some("offset".into()),
            value: Some("x".into()),
        });
        err(&bad_offset, Some(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
