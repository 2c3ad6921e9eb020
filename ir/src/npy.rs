//! Reading and writing NumPy `.npy` files for every dtype `.npy` can hold, and conversions
//! between [`Tensor`](crate::tensor::Tensor) and `ndarray` arrays.
//!
//! The format (NEP 1): the magic `\x93NUMPY`, a major and minor version byte, the header length
//! (u16 in version 1.0, u32 in 2.0 and 3.0), then a Python dict literal
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a final
//! newline so that the data starts at a multiple of 64 bytes. Version 3.0 headers are UTF-8, the
//! older ones Latin-1. Reading accepts all three versions, every byte order and Fortran order;
//! writing produces little-endian C-order data with the same header bytes `np.save` writes.

use crate::dtype::DType;
use crate::shape::checked_product;
use crate::tensor::{Element, Tensor, TensorError};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The first six bytes of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// The data of a `.npy` file starts at a multiple of this many bytes.
const ALIGN: usize = 64;
/// NumPy leaves room after the dict for the growing axis to reach this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Deepest nesting of brackets the header parser accepts.
const MAX_HEADER_DEPTH: usize = 16;

/// Errors from reading or writing `.npy` data.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// A file could not be read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The data does not start with `\x93NUMPY`.
    #[error("not a .npy file: expected the magic bytes \\x93NUMPY, found {}", escape(.found))]
    BadMagic {
        /// The first bytes found (at most six).
        found: Vec<u8>,
    },
    /// A format version other than 1.0, 2.0 or 3.0.
    #[error("unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)")]
    UnsupportedVersion {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The header is cut short or is not the dict NumPy writes; the message says what is wrong.
    #[error("malformed .npy header: {0}")]
    MalformedHeader(String),
    /// A header `descr` naming an element type that no tensor dtype holds.
    #[error("unsupported .npy dtype `{descr}`: {reason}")]
    UnsupportedDescr {
        /// The descriptor as written in the header.
        descr: String,
        /// Why it cannot be read.
        reason: &'static str,
    },
    /// A tensor dtype that NumPy has no dtype for.
    #[error("cannot write a {dtype} tensor as .npy: {reason}")]
    UnsupportedDType {
        /// The tensor's dtype.
        dtype: DType,
        /// Why it cannot be written.
        reason: &'static str,
    },
    /// The data after the header is shorter or longer than dtype and shape require.
    #[error(
        ".npy data for dtype {dtype} and shape {shape:?} needs {expected} bytes, found {actual}"
    )]
    DataLength {
        /// Element type from the header.
        dtype: DType,
        /// Shape from the header.
        shape: Vec<usize>,
        /// Bytes required.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A shape whose dims or byte size do not fit in `usize`.
    #[error(".npy shape {shape} is too large: its byte size does not fit in usize")]
    ShapeOverflow {
        /// The shape, as written in the header.
        shape: String,
    },
    /// A header longer than a version 2.0 length field can express.
    #[error(".npy header of {len} bytes is too long even for format version 2.0")]
    HeaderTooLarge {
        /// Header length in bytes.
        len: usize,
    },
}

/// Shows bytes as a byte-string literal, e.g. `b"PK\x03\x04"`.
fn escape(bytes: &[u8]) -> String {
    let body: String = bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    format!("b\"{body}\"")
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Parses a complete `.npy` file held in memory into a row-major little-endian tensor.
///
/// Big-endian data is byte-swapped and Fortran-order data is transposed into C order.
pub fn read_npy(bytes: &[u8]) -> Result<Tensor, NpyError> {
    let (header_text, data) = split_header(bytes)?;
    let header = parse_header(&header_text)?;
    let shape_overflow = || NpyError::ShapeOverflow {
        shape: shape_repr(&header.shape),
    };
    let expected = checked_product(&header.shape)
        .and_then(|n| n.checked_mul(header.dtype.size_bytes()))
        .ok_or_else(shape_overflow)?;
    if data.len() != expected {
        return Err(NpyError::DataLength {
            dtype: header.dtype,
            shape: header.shape,
            expected,
            actual: data.len(),
        });
    }
    let mut data = data.to_vec();
    if header.swap_bytes {
        let size = header.dtype.size_bytes();
        data.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
    if header.fortran_order {
        data = fortran_to_c_order(&data, &header.shape, header.dtype.size_bytes());
    }
    Tensor::from_bytes(header.dtype, &header.shape, data).map_err(|e| match e {
        TensorError::LengthMismatch {
            dtype,
            shape,
            expected,
            actual,
        } => NpyError::DataLength {
            dtype,
            shape,
            expected,
            actual,
        },
        _ => shape_overflow(),
    })
}

/// Reads a `.npy` file.
pub fn load_npy(path: &Path) -> Result<Tensor, NpyError> {
    let bytes = fs::read(path).map_err(|source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_npy(&bytes)
}

/// What a header says about the data that follows it.
#[derive(Debug, PartialEq)]
struct Header {
    dtype: DType,
    /// True when the stored elements are big-endian.
    swap_bytes: bool,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Checks magic and version and returns the header text and the data after it.
fn split_header(bytes: &[u8]) -> Result<(String, &[u8]), NpyError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(NpyError::BadMagic {
            found: bytes.iter().take(MAGIC.len()).copied().collect(),
        });
    }
    let truncated = |what: &str| {
        NpyError::MalformedHeader(format!(
            "the file ends after {} bytes, inside the {what}",
            bytes.len()
        ))
    };
    let (major, minor) = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err(truncated("version")),
    };
    let len_size = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => return Err(NpyError::UnsupportedVersion { major, minor }),
    };
    let len_bytes = bytes
        .get(8..8 + len_size)
        .ok_or_else(|| truncated("header length"))?;
    let header_len = len_bytes
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let start = 8 + len_size;
    let header = start
        .checked_add(header_len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| {
            NpyError::MalformedHeader(format!(
                "the header length field says {header_len} bytes, but only {} follow it",
                bytes.len() - start
            ))
        })?;
    let text = if major == 3 {
        String::from_utf8(header.to_vec())
            .map_err(|_| NpyError::MalformedHeader("a version 3.0 header is not UTF-8".into()))?
    } else {
        // Latin-1: every byte is the code point of the same value.
        header.iter().map(|&b| char::from(b)).collect()
    };
    Ok((text, &bytes[start + header_len..]))
}

/// Interprets the header dict: exactly the keys `descr`, `fortran_order` and `shape`.
fn parse_header(text: &str) -> Result<Header, NpyError> {
    let dict = match PyLiteral::parse(text)? {
        PyLiteral::Dict(entries) => entries,
        other => {
            return Err(NpyError::MalformedHeader(format!(
                "the header is a {}, not a dict",
                other.kind()
            )));
        }
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in dict {
        match key {
            PyLiteral::Str(k) if k == "descr" => descr = Some(value),
            PyLiteral::Str(k) if k == "fortran_order" => fortran = Some(value),
            PyLiteral::Str(k) if k == "shape" => shape = Some(value),
            other => {
                return Err(NpyError::MalformedHeader(format!(
                    "unexpected key {other} (the keys must be 'descr', 'fortran_order' and 'shape')"
                )));
            }
        }
    }
    let missing = |key: &str| NpyError::MalformedHeader(format!("the key '{key}' is missing"));
    let (dtype, swap_bytes) = match descr.ok_or_else(|| missing("descr"))? {
        PyLiteral::Str(s) => parse_descr(&s)?,
        PyLiteral::List(_) => {
            return Err(NpyError::UnsupportedDescr {
                descr: "a list of fields".into(),
                reason: "structured (record) dtypes are not supported",
            });
        }
        other => {
            return Err(NpyError::MalformedHeader(format!(
                "'descr' must be a string, found {other}"
            )));
        }
    };
    let fortran_order = match fortran.ok_or_else(|| missing("fortran_order"))? {
        PyLiteral::Bool(b) => b,
        other => {
            return Err(NpyError::MalformedHeader(format!(
                "'fortran_order' must be True or False, found {other}"
            )));
        }
    };
    let shape = parse_shape(shape.ok_or_else(|| missing("shape"))?)?;
    Ok(Header {
        dtype,
        swap_bytes,
        fortran_order,
        shape,
    })
}

/// Reads the `shape` tuple: non-negative integers that each fit in `usize`.
fn parse_shape(value: PyLiteral) -> Result<Vec<usize>, NpyError> {
    let PyLiteral::Tuple(items) = &value else {
        return Err(NpyError::MalformedHeader(format!(
            "'shape' must be a tuple of integers, found {value}"
        )));
    };
    items
        .iter()
        .map(|item| match item {
            PyLiteral::Int(digits) if digits.starts_with('-') => Err(NpyError::MalformedHeader(
                format!("'shape' {value} has a negative dimension"),
            )),
            PyLiteral::Int(digits) => {
                digits
                    .trim_start_matches('+')
                    .parse::<usize>()
                    .map_err(|_| NpyError::ShapeOverflow {
                        shape: value.to_string(),
                    })
            }
            other => Err(NpyError::MalformedHeader(format!(
                "'shape' must be a tuple of integers, but it holds {other}"
            ))),
        })
        .collect()
}

/// Maps a descriptor such as `<f4`, `>i8` or `|b1` to a dtype and whether its bytes need
/// swapping to become little-endian.
fn parse_descr(descr: &str) -> Result<(DType, bool), NpyError> {
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let big_endian = match order {
        '>' => true,
        '<' => false,
        // `=` is the writer's native order; `|` ("not applicable") numpy reads as native too.
        _ => cfg!(target_endian = "big"),
    };
    let dtype = match code {
        "b1" | "?" => DType::Bool,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "i2" => DType::I16,
        "u2" => DType::U16,
        "i4" => DType::I32,
        "u4" => DType::U32,
        "i8" => DType::I64,
        "u8" => DType::U64,
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => {
            return Err(NpyError::UnsupportedDescr {
                descr: descr.to_string(),
                reason: unsupported_reason(code),
            });
        }
    };
    Ok((dtype, big_endian && dtype.size_bytes() > 1))
}

/// Says why a NumPy type code has no tensor dtype.
fn unsupported_reason(code: &str) -> &'static str {
    let mut chars = code.chars();
    let kind = chars.next();
    let sized = !chars.as_str().is_empty() && chars.all(|c| c.is_ascii_digit());
    match kind {
        Some('U') => "unicode strings have no tensor dtype",
        Some('S' | 'a') => "byte strings have no tensor dtype",
        Some('O') => "Python objects (pickled data) cannot be read",
        Some('c') => "complex numbers have no tensor dtype",
        Some('V') => {
            "raw void records have no tensor dtype (bfloat16 arrays saved through ml_dtypes \
             look like this; NumPy itself has no bfloat16)"
        }
        Some('M' | 'm') => "datetimes and timedeltas have no tensor dtype",
        Some('f') if sized => "only 2-, 4- and 8-byte floats are supported",
        Some('i' | 'u') if sized => "only 1-, 2-, 4- and 8-byte integers are supported",
        Some('b') if sized => "booleans must be one byte",
        _ => "not a NumPy type code this reader knows",
    }
}

/// Rearranges column-major element data into row-major order.
fn fortran_to_c_order(data: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    if shape.len() < 2 || data.is_empty() {
        return data.to_vec();
    }
    // Column-major strides, in elements: the first axis varies fastest.
    let mut f_strides = Vec::with_capacity(shape.len());
    let mut stride = 1usize;
    for &d in shape {
        f_strides.push(stride);
        stride *= d;
    }
    let mut out = Vec::with_capacity(data.len());
    let mut index = vec![0usize; shape.len()];
    for _ in 0..data.len() / size {
        let offset: usize = index.iter().zip(&f_strides).map(|(i, s)| i * s).sum();
        out.extend_from_slice(&data[offset * size..(offset + 1) * size]);
        // Advance the row-major multi-index (last axis fastest).
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The header's Python literal
// ---------------------------------------------------------------------------------------------

/// The subset of Python literals a `.npy` header uses.
#[derive(Debug, PartialEq)]
enum PyLiteral {
    Str(String),
    Bool(bool),
    None,
    /// An integer's digits, with its sign (arbitrarily long, as in Python).
    Int(String),
    Tuple(Vec<PyLiteral>),
    List(Vec<PyLiteral>),
    Dict(Vec<(PyLiteral, PyLiteral)>),
}

impl PyLiteral {
    /// Parses a whole header: one literal surrounded by whitespace.
    fn parse(text: &str) -> Result<PyLiteral, NpyError> {
        let mut p = LiteralParser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let value = p.value(0)?;
        p.skip_ws();
        if p.pos < p.chars.len() {
            return Err(p.error("unexpected text after the dict"));
        }
        Ok(value)
    }

    /// What kind of value this is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            PyLiteral::Str(_) => "string",
            PyLiteral::Bool(_) => "bool",
            PyLiteral::None => "None",
            PyLiteral::Int(_) => "integer",
            PyLiteral::Tuple(_) => "tuple",
            PyLiteral::List(_) => "list",
            PyLiteral::Dict(_) => "dict",
        }
    }
}

impl fmt::Display for PyLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |items: &[PyLiteral]| {
            items
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            PyLiteral::Str(s) => write!(f, "'{s}'"),
            PyLiteral::Bool(true) => f.write_str("True"),
            PyLiteral::Bool(false) => f.write_str("False"),
            PyLiteral::None => f.write_str("None"),
            PyLiteral::Int(digits) => f.write_str(digits),
            PyLiteral::Tuple(items) if items.len() == 1 => write!(f, "({},)", items[0]),
            PyLiteral::Tuple(items) => write!(f, "({})", join(items)),
            PyLiteral::List(items) => write!(f, "[{}]", join(items)),
            PyLiteral::Dict(entries) => {
                let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                write!(f, "{{{}}}", body.join(", "))
            }
        }
    }
}

/// A recursive-descent parser over the header's characters.
struct LiteralParser {
    chars: Vec<char>,
    pos: usize,
}

impl LiteralParser {
    fn error(&self, what: &str) -> NpyError {
        NpyError::MalformedHeader(format!("{what} at character {}", self.pos))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyLiteral, NpyError> {
        if depth > MAX_HEADER_DEPTH {
            return Err(self.error("brackets nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            Some(q @ ('\'' | '"')) => self.string(q),
            Some('(') => {
                let (items, trailing_comma) = self.sequence(')', depth)?;
                // `(x)` is just `x` in Python; only a comma makes a one-element tuple.
                if items.len() == 1 && !trailing_comma {
                    Ok(items.into_iter().next().unwrap_or(PyLiteral::None))
                } else {
                    Ok(PyLiteral::Tuple(items))
                }
            }
            Some('[') => Ok(PyLiteral::List(self.sequence(']', depth)?.0)),
            Some('{') => self.dict(depth),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.int(),
            Some(c) if c.is_alphabetic() => self.word(),
            Some(c) => Err(self.error(&format!("unexpected character {c:?}"))),
            None => Err(self.error("the header ends where a value should be")),
        }
    }

    fn string(&mut self, quote: char) -> Result<PyLiteral, NpyError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(PyLiteral::Str(s));
                }
                Some('\\') => {
                    self.pos += 1;
                    let c = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated string"))?;
                    s.push(c);
                    self.pos += 1;
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// An integer, with an optional sign and Python 2's `L` suffix.
    fn int(&mut self) -> Result<PyLiteral, NpyError> {
        let mut s = String::new();
        if let Some(sign @ ('-' | '+')) = self.peek() {
            s.push(sign);
            self.pos += 1;
        }
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            s.push(c);
            self.pos += 1;
        }
        if !s.ends_with(|c: char| c.is_ascii_digit()) {
            return Err(self.error("a sign without digits"));
        }
        if self.peek() == Some('L') {
            self.pos += 1;
        }
        if self.peek().is_some_and(|c| c.is_alphanumeric() || c == '.') {
            return Err(self.error("only integers are allowed as numbers"));
        }
        Ok(PyLiteral::Int(s))
    }

    fn word(&mut self) -> Result<PyLiteral, NpyError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "True" => Ok(PyLiteral::Bool(true)),
            "False" => Ok(PyLiteral::Bool(false)),
            "None" => Ok(PyLiteral::None),
            _ => {
                self.pos = start;
                Err(self.error(&format!("unknown name `{word}`")))
            }
        }
    }

    /// Comma-separated values up to `close`; also says whether a comma followed the last one.
    fn sequence(&mut self, close: char, depth: usize) -> Result<(Vec<PyLiteral>, bool), NpyError> {
        self.pos += 1;
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, trailing_comma));
            }
            if !items.is_empty() && !trailing_comma {
                return Err(self.error(&format!("expected `,` or `{close}`")));
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            trailing_comma = self.peek() == Some(',');
            if trailing_comma {
                self.pos += 1;
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<PyLiteral, NpyError> {
        self.pos += 1;
        let mut entries = Vec::new();
        let mut comma = true;
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(PyLiteral::Dict(entries));
            }
            if !comma {
                return Err(self.error("expected `,` or `}`"));
            }
            let key = self.value(depth + 1)?;
            self.skip_ws();
            if self.peek() != Some(':') {
                return Err(self.error("expected `:` after a dict key"));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_ws();
            comma = self.peek() == Some(',');
            if comma {
                self.pos += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Serializes a tensor as a `.npy` file: little-endian, C order, format version 1.0 unless the
/// header needs 2.0, with the header padded exactly as `np.save` pads it.
///
/// bf16 tensors are an error: NumPy has no bfloat16 dtype.
pub fn write_npy(t: &Tensor) -> Result<Vec<u8>, NpyError> {
    let descr = descr_of(t.dtype())?;
    let shape = t.shape();
    let mut dict = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}",
        shape_repr(shape)
    );
    // Room for the first axis to grow in place, as NumPy leaves it.
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let mut out = wrap_header(dict.as_bytes())?;
    out.extend_from_slice(t.bytes());
    Ok(out)
}

/// Writes a tensor to a `.npy` file: the bytes go to a temporary file in the same directory,
/// which then replaces `path` in one rename, so readers never see a half-written file.
pub fn save_npy(path: &Path, t: &Tensor) -> Result<(), NpyError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let bytes = write_npy(t)?;
    let file_name = path.file_name().ok_or_else(|| {
        io_error(path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path names no file",
        ))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    // `create_new`: never clobber a file that is not ours.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_error(&tmp))?;
    let written = file
        .write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error(&tmp));
    drop(file);
    let result = written.and_then(|()| fs::rename(&tmp, path).map_err(io_error(path)));
    if result.is_err() {
        // Best effort: the error worth reporting is the one that stopped the save.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Wraps an I/O error with the path it concerns.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> NpyError + use<> {
    let path = path.to_path_buf();
    move |source| NpyError::Io { path, source }
}

/// The NumPy descriptor of a dtype, little-endian.
fn descr_of(dtype: DType) -> Result<&'static str, NpyError> {
    Ok(match dtype {
        DType::Bool => "|b1",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I16 => "<i2",
        DType::U16 => "<u2",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::I64 => "<i8",
        DType::U64 => "<u8",
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::BF16 => {
            return Err(NpyError::UnsupportedDType {
                dtype,
                reason: "NumPy has no bfloat16 dtype; cast to f32 first",
            });
        }
        DType::F8E4M3FN
        | DType::F8E4M3FNUZ
        | DType::F8E5M2
        | DType::F8E5M2FNUZ
        | DType::F8E8M0
        | DType::F4E2M1
        | DType::I4
        | DType::U4
        | DType::I2
        | DType::U2 => {
            return Err(NpyError::UnsupportedDType {
                dtype,
                reason: "NumPy has no float8/float4/int4/int2 dtype; cast to a standard dtype first",
            });
        }
    })
}

/// A shape as Python writes a tuple: `()`, `(3,)`, `(2, 3)`.
fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// Prefixes magic, version and length, and pads with spaces and a newline to [`ALIGN`] bytes
/// (a full extra block when already aligned, as NumPy does). Version 1.0 when the length fits
/// in a u16, else 2.0.
fn wrap_header(dict: &[u8]) -> Result<Vec<u8>, NpyError> {
    let with_newline = dict.len() + 1;
    let padded_len = |len_size: usize| {
        let prefix = MAGIC.len() + 2 + len_size;
        with_newline + ALIGN - (prefix + with_newline) % ALIGN
    };
    let (version, len_field) = match u16::try_from(padded_len(2)) {
        Ok(len) => (1u8, len.to_le_bytes().to_vec()),
        Err(_) => {
            let len = padded_len(4);
            let len = u32::try_from(len).map_err(|_| NpyError::HeaderTooLarge { len })?;
            (2u8, len.to_le_bytes().to_vec())
        }
    };
    let total = padded_len(len_field.len());
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + len_field.len() + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    out.extend_from_slice(&len_field);
    out.extend_from_slice(dict);
    out.resize(out.len() + total - with_newline, b' ');
    out.push(b'\n');
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// ndarray conversions
// ---------------------------------------------------------------------------------------------

impl<T: Element> TryFrom<&Tensor> for ndarray::ArrayD<T> {
    type Error = TensorError;

    /// Copies the tensor into a row-major array; `T` must be the tensor's element type.
    fn try_from(t: &Tensor) -> Result<Self, TensorError> {
        let values = t.to_vec::<T>()?;
        let len = values.len();
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(t.shape()), values).map_err(|_| {
            TensorError::LengthMismatch {
                dtype: T::DTYPE,
                shape: t.shape().to_vec(),
                expected: checked_product(t.shape()).unwrap_or(usize::MAX),
                actual: len,
            }
        })
    }
}

impl<T: Element> From<ndarray::ArrayD<T>> for Tensor {
    /// Copies an array of any memory layout (transposed, sliced, Fortran order) into a
    /// row-major tensor.
    fn from(a: ndarray::ArrayD<T>) -> Self {
        let shape = a.shape().to_vec();
        // `iter` visits elements in logical row-major order whatever the strides are.
        let values: Vec<T> = a.iter().copied().collect();
        Tensor::from_vec(&shape, values)
            .expect("an ndarray holds exactly the product of its shape's elements")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    // Files written by NumPy 2.4 (`np.save`, or `numpy.lib.format.write_array` with an explicit
    // version), embedded byte for byte.

    /// `np.array([[1.5, -2, 3], [4, 5, 6.25]], dtype='<f4')`.
    const F32_2X3: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                          \x0a\x00\x00\xc0?\x00\x00\x00\xc0\x00\x00@@\x00\x00\x80@\x00\x00\xa0@\x00\x00\xc8@";
    /// `np.array([1, -2, 0x01020304], dtype='>i4')`.
    const BE_I32: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }                                                            \x0a\x00\x00\x00\x01\xff\xff\xff\xfe\x01\x02\x03\x04";
    /// `np.asfortranarray([[1., 2, 3], [4, 5, 6]])`.
    const FORTRAN_F64: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }                                                           \x0a\x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\x10@\x00\x00\x00\x00\x00\x00\x00@\x00\x00\x00\x00\x00\x00\x14@\x00\x00\x00\x00\x00\x00\x08@\x00\x00\x00\x00\x00\x00\x18@";
    /// `np.array(-7, dtype='<i8')`.
    const SCALAR_I64: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (), }                                                              \x0a\xf9\xff\xff\xff\xff\xff\xff\xff";
    /// `np.zeros((2, 0), dtype='<f4')`.
    const EMPTY_2X0: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0), }                                                          \x0a";
    /// `np.array([True, False, True])`.
    const BOOL: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }                                                            \x0a\x01\x00\x01";
    /// `np.array([1.0, -0.5], dtype='>f2')`.
    const BE_F16: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '>f2', 'fortran_order': False, 'shape': (2,), }                                                            \x0a<\x00\xb8\x00";
    /// `np.asfortranarray(np.arange(24, dtype='>i2').reshape(2, 3, 4))`.
    const BE_FORTRAN_I16: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3, 4), }                                                        \x0a\x00\x00\x00\x0c\x00\x04\x00\x10\x00\x08\x00\x14\x00\x01\x00\x0d\x00\x05\x00\x11\x00\x09\x00\x15\x00\x02\x00\x0e\x00\x06\x00\x12\x00\x0a\x00\x16\x00\x03\x00\x0f\x00\x07\x00\x13\x00\x0b\x00\x17";
    /// `np.array([1, 2**64 - 1], dtype='>u8')`.
    const BE_U64: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '>u8', 'fortran_order': False, 'shape': (2,), }                                                            \x0a\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff";
    /// `np.array([1, 2, 3], dtype='<u2')` in format 2.0.
    const V2_U16: &[u8] = b"\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }                                                          \x0a\x01\x00\x02\x00\x03\x00";
    /// `np.array([[-1, 2]], dtype='i1')` in format 3.0.
    const V3_I8: &[u8] = b"\x93NUMPY\x03\x00t\x00\x00\x00{'descr': '|i1', 'fortran_order': False, 'shape': (1, 2), }                                                        \x0a\xff\x02";

    /// A version 1.0 file with an arbitrary header text (not padded) followed by `data`.
    fn npy_with_header(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn header_error(header: &str) -> NpyError {
        read_npy(&npy_with_header(header, &[])).unwrap_err()
    }

    /// A tensor of `dtype` whose bytes are all distinct-ish, valid for every dtype.
    fn sample(dtype: DType, shape: &[usize]) -> Tensor {
        let n = checked_product(shape).unwrap() * dtype.size_bytes();
        let bytes = (0..n)
            .map(|i| match dtype {
                DType::Bool => (i % 3 == 0) as u8,
                _ => (i * 37 + 11) as u8,
            })
            .collect();
        Tensor::from_bytes(dtype, shape, bytes).unwrap()
    }

    #[test]
    fn round_trips_every_writable_dtype_and_shape() {
        for dtype in DType::ALL
            .into_iter()
            .filter(|&d| d != DType::BF16 && !d.is_low_precision())
        {
            for shape in [&[2, 3][..], &[], &[0], &[2, 0, 3], &[1, 1, 5], &[4]] {
                let t = sample(dtype, shape);
                let bytes = write_npy(&t).unwrap();
                assert_eq!(read_npy(&bytes).unwrap(), t, "{dtype} {shape:?}");
            }
        }
    }

    #[test]
    fn writes_the_same_bytes_as_numpy() {
        let f32s = Tensor::from_vec(&[2, 3], vec![1.5f32, -2.0, 3.0, 4.0, 5.0, 6.25]).unwrap();
        assert_eq!(write_npy(&f32s).unwrap(), F32_2X3);
        assert_eq!(write_npy(&Tensor::scalar(-7i64)).unwrap(), SCALAR_I64);
        let empty = Tensor::zeros(DType::F32, &[2, 0]).unwrap();
        assert_eq!(write_npy(&empty).unwrap(), EMPTY_2X0);
        let bools = Tensor::from_vec(&[3], vec![true, false, true]).unwrap();
        assert_eq!(write_npy(&bools).unwrap(), BOOL);
    }

    #[test]
    fn headers_are_padded_to_64_bytes() {
        for rank in 0..12 {
            let shape = vec![1usize; rank];
            let bytes = write_npy(&Tensor::zeros(DType::U8, &shape).unwrap()).unwrap();
            let header_end = bytes.len() - 1;
            assert_eq!(header_end % ALIGN, 0, "rank {rank}");
            assert_eq!(bytes[header_end - 1], b'\n');
            assert_eq!(&bytes[6..8], &[1, 0]);
        }
    }

    #[test]
    fn long_headers_use_version_2() {
        // 30 000 dims of size 0: the dict alone is about 90 000 bytes.
        let t = Tensor::zeros(DType::F32, &[0; 30_000]).unwrap();
        let bytes = write_npy(&t).unwrap();
        assert_eq!(&bytes[6..8], &[2, 0]);
        assert_eq!(bytes.len() % ALIGN, 0);
        let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert_eq!(12 + len, bytes.len());
        assert_eq!(read_npy(&bytes).unwrap(), t);
    }

    #[test]
    fn reads_numpy_files() {
        let t = read_npy(F32_2X3).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.to_vec::<f32>().unwrap(), [1.5, -2.0, 3.0, 4.0, 5.0, 6.25]);

        let t = read_npy(BE_I32).unwrap();
        assert_eq!(t.to_vec::<i32>().unwrap(), [1, -2, 0x0102_0304]);

        let t = read_npy(FORTRAN_F64).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.to_vec::<f64>().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

        let t = read_npy(SCALAR_I64).unwrap();
        assert_eq!(t.shape(), &[] as &[usize]);
        assert_eq!(t.to_vec::<i64>().unwrap(), [-7]);

        let t = read_npy(EMPTY_2X0).unwrap();
        assert_eq!(
            (t.dtype(), t.shape(), t.len()),
            (DType::F32, &[2, 0][..], 0)
        );

        let t = read_npy(BOOL).unwrap();
        assert_eq!(t.to_vec::<bool>().unwrap(), [true, false, true]);

        let t = read_npy(BE_F16).unwrap();
        assert_eq!(
            t.to_vec::<f16>().unwrap(),
            [f16::from_f32(1.0), f16::from_f32(-0.5)]
        );

        let t = read_npy(BE_U64).unwrap();
        assert_eq!(t.to_vec::<u64>().unwrap(), [1, u64::MAX]);
    }

    #[test]
    fn reads_big_endian_fortran_order_rank_3() {
        let t = read_npy(BE_FORTRAN_I16).unwrap();
        assert_eq!(t.shape(), &[2, 3, 4]);
        assert_eq!(t.to_vec::<i16>().unwrap(), (0..24).collect::<Vec<i16>>());
    }

    #[test]
    fn reads_versions_2_and_3() {
        let t = read_npy(V2_U16).unwrap();
        assert_eq!(t.to_vec::<u16>().unwrap(), [1, 2, 3]);
        let t = read_npy(V3_I8).unwrap();
        assert_eq!(t.shape(), &[1, 2]);
        assert_eq!(t.to_vec::<i8>().unwrap(), [-1, 2]);
    }

    #[test]
    fn accepts_header_variants_numpy_accepts() {
        // Double quotes, other key order, no trailing comma, Python 2 longs, native order.
        let header = "{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"=u2\"}\n";
        let t = read_npy(&npy_with_header(header, &[1, 0, 2, 0])).unwrap();
        assert_eq!(t.to_vec::<u16>().unwrap(), [1, 2]);
        // `|` on a multi-byte type reads as native order; fortran_order on rank 1 changes nothing.
        let t = read_npy(&npy_with_header(
            "{'descr': '|i2', 'fortran_order': True, 'shape': (1,)}",
            &[5, 0],
        ))
        .unwrap();
        assert_eq!(t.to_vec::<i16>().unwrap(), [5]);
    }

    #[test]
    fn bad_magic() {
        for bytes in [&b"PK\x03\x04zip"[..], b"", b"\x93NUMP"] {
            let e = read_npy(bytes).unwrap_err();
            assert!(matches!(e, NpyError::BadMagic { .. }), "{e}");
        }
        let e = read_npy(b"PK\x03\x04zip").unwrap_err();
        assert!(e.to_string().contains(r#"b"PK\x03\x04zi""#), "{e}");
    }

    #[test]
    fn unsupported_version() {
        let mut bytes = F32_2X3.to_vec();
        bytes[6] = 4;
        let e = read_npy(&bytes).unwrap_err();
        assert!(
            matches!(e, NpyError::UnsupportedVersion { major: 4, minor: 0 }),
            "{e}"
        );
        bytes[6] = 1;
        bytes[7] = 1;
        assert!(matches!(
            read_npy(&bytes).unwrap_err(),
            NpyError::UnsupportedVersion { major: 1, minor: 1 }
        ));
    }

    #[test]
    fn malformed_headers() {
        let cases = [
            (
                "{'descr': '<f4', 'shape': ()}",
                "'fortran_order' is missing",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}",
                "unexpected key 'x'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
                "'shape' must be a tuple of integers, found [2]",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3)}",
                "found 3",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1)}",
                "negative dimension",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}",
                "only integers",
            ),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': ()}",
                "'fortran_order' must be True or False, found 0",
            ),
            (
                "{'descr': 4, 'fortran_order': False, 'shape': ()}",
                "'descr' must be a string",
            ),
            ("['descr']", "the header is a list, not a dict"),
            ("{'descr': '<f4'", "expected `,` or `}`"),
            (
                "{'descr': '<f4', 'fortran_order': Flase}",
                "unknown name `Flase`",
            ),
            ("{'descr': '<f4} ", "unterminated string"),
            ("{} {}", "unexpected text after the dict"),
            (
                &format!("{}1{}", "(".repeat(40), ")".repeat(40)),
                "nested too deeply",
            ),
        ];
        for (header, expected) in cases {
            let e = header_error(header);
            assert!(matches!(e, NpyError::MalformedHeader(_)), "{header}: {e}");
            assert!(e.to_string().contains(expected), "{header}: {e}");
        }
    }

    #[test]
    fn truncated_headers() {
        let e = read_npy(b"\x93NUMPY\x01").unwrap_err();
        assert!(e.to_string().contains("inside the version"), "{e}");
        let e = read_npy(b"\x93NUMPY\x02\x00\x10\x00").unwrap_err();
        assert!(e.to_string().contains("inside the header length"), "{e}");
        let e = read_npy(&F32_2X3[..60]).unwrap_err();
        assert!(matches!(e, NpyError::MalformedHeader(_)), "{e}");
        assert!(e.to_string().contains("says 118 bytes"), "{e}");
        let mut v3 = V3_I8.to_vec();
        v3[20] = 0xff;
        let e = read_npy(&v3).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    #[test]
    fn unsupported_descrs() {
        let cases = [
            ("<U3", "unicode"),
            ("|S4", "byte strings"),
            ("|O", "Python objects"),
            ("<c8", "complex"),
            ("<V2", "bfloat16"),
            ("<M8[ns]", "datetimes"),
            ("<f16", "2-, 4- and 8-byte floats"),
            ("<i16", "integers"),
            ("float32", "not a NumPy type code"),
        ];
        for (descr, reason) in cases {
            let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,)}}");
            let e = header_error(&header);
            assert!(
                matches!(&e, NpyError::UnsupportedDescr { descr: d, .. } if d == descr),
                "{e}"
            );
            assert!(e.to_string().contains(reason), "{descr}: {e}");
        }
        let e = header_error("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}");
        assert!(e.to_string().contains("structured"), "{e}");
    }

    #[test]
    fn bf16_cannot_be_written() {
        let t = Tensor::from_vec(&[1], vec![half::bf16::from_f32(1.0)]).unwrap();
        let e = write_npy(&t).unwrap_err();
        assert!(
            matches!(
                e,
                NpyError::UnsupportedDType {
                    dtype: DType::BF16,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("no bfloat16"), "{e}");
    }

    #[test]
    fn low_precision_dtypes_cannot_be_written() {
        for dtype in DType::ALL.into_iter().filter(|d| d.is_low_precision()) {
            let t = Tensor::zeros(dtype, &[2]).unwrap();
            let e = write_npy(&t).unwrap_err();
            assert!(
                matches!(e, NpyError::UnsupportedDType { dtype: d, .. } if d == dtype),
                "{e}"
            );
            assert!(e.to_string().contains(dtype.name()), "{e}");
        }
    }

    #[test]
    fn data_length_mismatch() {
        let e = read_npy(&F32_2X3[..F32_2X3.len() - 1]).unwrap_err();
        assert!(
            matches!(
                e,
                NpyError::DataLength {
                    expected: 24,
                    actual: 23,
                    ..
                }
            ),
            "{e}"
        );
        let mut longer = SCALAR_I64.to_vec();
        longer.push(0);
        assert!(matches!(
            read_npy(&longer).unwrap_err(),
            NpyError::DataLength {
                expected: 8,
                actual: 9,
                ..
            }
        ));
    }

    #[test]
    fn shape_overflow() {
        for shape in ["(4294967296, 4294967296, 4)", "(99999999999999999999999,)"] {
            let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}}}");
            let e = header_error(&header);
            assert!(
                matches!(&e, NpyError::ShapeOverflow { shape: s } if s == shape),
                "{e}"
            );
        }
    }

    #[test]
    fn save_and_load_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let t = sample(DType::I32, &[3, 2]);
        save_npy(&path, &t).unwrap();
        assert_eq!(load_npy(&path).unwrap(), t);
        // Overwrites in place and leaves no temporary file behind.
        let u = sample(DType::F64, &[]);
        save_npy(&path, &u).unwrap();
        assert_eq!(load_npy(&path).unwrap(), u);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.npy"]);
    }

    #[test]
    fn io_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.npy");
        let e = load_npy(&missing).unwrap_err();
        assert!(
            matches!(&e, NpyError::Io { path, .. } if path == &missing),
            "{e}"
        );
        assert!(e.to_string().contains("missing.npy"), "{e}");
        let in_missing_dir = dir.path().join("no_dir").join("x.npy");
        let e = save_npy(&in_missing_dir, &Tensor::scalar(1u8)).unwrap_err();
        assert!(matches!(e, NpyError::Io { .. }), "{e}");
        let e = save_npy(Path::new("/"), &Tensor::scalar(1u8)).unwrap_err();
        assert!(e.to_string().contains("names no file"), "{e}");
        // A failed save writes nothing, not even a partial file.
        let bf16 = Tensor::from_vec(&[1], vec![half::bf16::ONE]).unwrap();
        assert!(save_npy(&dir.path().join("b.npy"), &bf16).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn tensor_to_ndarray() {
        let t = Tensor::from_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
        let a = ndarray::ArrayD::<i32>::try_from(&t).unwrap();
        assert_eq!(a.shape(), &[2, 3]);
        assert_eq!(a[[1, 0]], 4);
        let e = ndarray::ArrayD::<f32>::try_from(&t).unwrap_err();
        assert_eq!(
            e,
            TensorError::DTypeMismatch {
                expected: DType::F32,
                actual: DType::I32
            }
        );
        let s = ndarray::ArrayD::<bool>::try_from(&Tensor::scalar(true)).unwrap();
        assert_eq!((s.ndim(), s.first().copied()), (0, Some(true)));
        let empty = Tensor::zeros(DType::U8, &[2, 0]).unwrap();
        assert_eq!(
            ndarray::ArrayD::<u8>::try_from(&empty).unwrap().shape(),
            &[2, 0]
        );
    }

    #[test]
    fn ndarray_to_tensor_in_any_layout() {
        let a = ndarray::Array::from_shape_vec((2, 3), vec![1f64, 2., 3., 4., 5., 6.]).unwrap();
        let transposed = a.t().to_owned().into_dyn();
        let t = Tensor::from(transposed);
        assert_eq!(t.shape(), &[3, 2]);
        assert_eq!(t.to_vec::<f64>().unwrap(), [1., 4., 2., 5., 3., 6.]);

        // Fortran-order storage and a negative-stride view.
        let f =
            ndarray::Array::from_shape_vec(ndarray::ShapeBuilder::f((2, 2)), vec![1u16, 2, 3, 4])
                .unwrap();
        let t = Tensor::from(f.into_dyn());
        assert_eq!(t.to_vec::<u16>().unwrap(), [1, 3, 2, 4]);
        let mut reversed = a.clone().into_dyn();
        reversed.invert_axis(ndarray::Axis(1));
        assert_eq!(
            Tensor::from(reversed).to_vec::<f64>().unwrap(),
            [3., 2., 1., 6., 5., 4.]
        );

        let scalar = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), 7i8);
        assert_eq!(Tensor::from(scalar), Tensor::scalar(7i8));
        let round =
            Tensor::from(ndarray::ArrayD::<f32>::try_from(&read_npy(F32_2X3).unwrap()).unwrap());
        assert_eq!(round, read_npy(F32_2X3).unwrap());
    }
}
