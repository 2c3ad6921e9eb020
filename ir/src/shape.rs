//! Tensor shapes: a list of dimensions, static today and open to symbolic dimensions.

use std::fmt;

/// One dimension of a shape.
///
/// Graphs are compiled for static shapes; `Symbolic` dims appear where a shape depends on data
/// that shape inference cannot see (for example a `Reshape` whose target shape is a graph
/// input). They are resolved when the graph is specialized to concrete inputs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A known extent.
    Static(usize),
    /// An extent known only by name until run time.
    Symbolic(String),
}

impl Dim {
    /// The static extent, if known.
    pub fn as_static(&self) -> Option<usize> {
        match self {
            Dim::Static(n) => Some(*n),
            Dim::Symbolic(_) => None,
        }
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Self {
        Dim::Static(n)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Static(n) => write!(f, "{n}"),
            Dim::Symbolic(s) => write!(f, "?{s}"),
        }
    }
}

/// The shape of a tensor: one [`Dim`] per axis; rank 0 is a scalar.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// A shape of static dims.
    pub fn new(dims: &[usize]) -> Self {
        Shape(dims.iter().map(|&d| Dim::Static(d)).collect())
    }

    /// The rank-0 shape.
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The dims as `usize`s, if every dim is static.
    pub fn as_static(&self) -> Option<Vec<usize>> {
        self.0.iter().map(Dim::as_static).collect()
    }

    /// True when every dim is static.
    pub fn is_static(&self) -> bool {
        self.0.iter().all(|d| d.as_static().is_some())
    }

    /// Element count, if static and it fits in `usize`.
    pub fn num_elements(&self) -> Option<usize> {
        self.as_static().and_then(|d| checked_product(&d))
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape::new(dims)
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape::new(&dims)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// Product of dims, `None` on overflow.
pub fn checked_product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major (C-order) strides, in elements, of a static shape.
pub fn strides_of(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1].max(1);
    }
    strides
}

/// ONNX multidirectional (NumPy) broadcasting of two static shapes.
///
/// Returns `None` when some aligned pair of dims differs and neither is 1.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        *o = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            return None;
        };
    }
    Some(out)
}

/// Normalizes a possibly negative axis against `rank` (ONNX convention: `-1` is the last axis).
///
/// Returns `None` when the axis is outside `[-rank, rank)`.
pub fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shapes(&[0, 3], &[1, 3]), Some(vec![0, 3]));
        assert_eq!(broadcast_shapes(&[2], &[3]), None);
    }

    #[test]
    fn axes_and_strides() {
        assert_eq!(normalize_axis(-1, 3), Some(2));
        assert_eq!(normalize_axis(3, 3), None);
        assert_eq!(normalize_axis(-4, 3), None);
        assert_eq!(strides_of(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(checked_product(&[usize::MAX, 2]), None);
        assert_eq!(Shape::new(&[2, 3]).to_string(), "[2, 3]");
    }
}

/// Padding rule of a sliding window (convolution and pooling), mirroring ONNX `auto_pad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowPad<'a> {
    /// Explicit pads `[b_0, b_1, ..., e_0, e_1, ...]` (empty = all zero).
    Explicit(&'a [i64]),
    /// Output `ceil(in / stride)`, odd padding at the end.
    SameUpper,
    /// Output `ceil(in / stride)`, odd padding at the start.
    SameLower,
    /// No padding.
    Valid,
}

/// The geometry of one spatial axis of a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowAxis {
    /// Output extent.
    pub out: usize,
    /// Padding before the first element.
    pub pad_begin: usize,
    /// Padding after the last element.
    pub pad_end: usize,
}

/// Output extents and resolved pads of a sliding window over the spatial axes `input`, with
/// `kernel`, `strides` and `dilations` (each one entry per spatial axis), following ONNX
/// Conv/MaxPool/AveragePool. With `ceil_mode`, the output rounds up, but a window that would
/// start inside the end padding is dropped.
///
/// Returns a message when pads are negative or of the wrong length, when a stride or dilation
/// is zero, or when the (dilated) kernel does not fit the padded input.
pub fn window_geometry(
    input: &[usize],
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    pad: WindowPad<'_>,
    ceil_mode: bool,
) -> Result<Vec<WindowAxis>, String> {
    let n = input.len();
    if kernel.len() != n || strides.len() != n || dilations.len() != n {
        return Err(format!(
            "kernel {kernel:?}, strides {strides:?} and dilations {dilations:?} must each have {n} entries"
        ));
    }
    if let WindowPad::Explicit(p) = pad {
        if !p.is_empty() && p.len() != 2 * n {
            return Err(format!("pads {p:?} must have {} entries", 2 * n));
        }
        if p.iter().any(|&x| x < 0) {
            return Err(format!("pads {p:?} must not be negative"));
        }
    }
    let mut axes = Vec::with_capacity(n);
    for i in 0..n {
        let (k, s, d, x) = (kernel[i], strides[i], dilations[i], input[i]);
        if s == 0 || d == 0 || k == 0 {
            return Err(format!(
                "axis {i}: kernel, stride and dilation must be positive"
            ));
        }
        let overflow = || {
            format!("axis {i}: window arithmetic overflows (kernel {k}, dilation {d}, input {x})")
        };
        let ek = (k - 1)
            .checked_mul(d)
            .and_then(|e| e.checked_add(1))
            .ok_or_else(overflow)?;
        let (pb, pe) = match pad {
            WindowPad::Explicit([]) => (0, 0),
            WindowPad::Explicit(p) => (
                usize::try_from(p[i]).map_err(|_| overflow())?,
                usize::try_from(p[i + n]).map_err(|_| overflow())?,
            ),
            WindowPad::Valid => (0, 0),
            WindowPad::SameUpper | WindowPad::SameLower => {
                let out = x.div_ceil(s);
                let total = (out.max(1) - 1)
                    .checked_mul(s)
                    .and_then(|v| v.checked_add(ek))
                    .ok_or_else(overflow)?
                    .saturating_sub(x);
                let small = total / 2;
                if pad == WindowPad::SameUpper {
                    (small, total - small)
                } else {
                    (total - small, small)
                }
            }
        };
        let padded = x
            .checked_add(pb)
            .and_then(|v| v.checked_add(pe))
            .ok_or_else(overflow)?;
        if padded < ek {
            return Err(format!(
                "axis {i}: dilated kernel {ek} is larger than the padded input {padded}"
            ));
        }
        let span = padded - ek;
        let mut out = if ceil_mode {
            span.div_ceil(s) + 1
        } else {
            span / s + 1
        };
        if ceil_mode && out > 1 && (out - 1).saturating_mul(s) >= x + pb {
            out -= 1;
        }
        axes.push(WindowAxis {
            out,
            pad_begin: pb,
            pad_end: pe,
        });
    }
    Ok(axes)
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    fn geometry() {
        let g =
            window_geometry(&[5], &[3], &[1], &[1], WindowPad::Explicit(&[1, 1]), false).unwrap();
        assert_eq!(
            g[0],
            WindowAxis {
                out: 5,
                pad_begin: 1,
                pad_end: 1
            }
        );
        let g = window_geometry(&[5], &[2], &[2], &[1], WindowPad::SameUpper, false).unwrap();
        assert_eq!(
            g[0],
            WindowAxis {
                out: 3,
                pad_begin: 0,
                pad_end: 1
            }
        );
        let g = window_geometry(&[5], &[2], &[2], &[1], WindowPad::SameLower, false).unwrap();
        assert_eq!(
            g[0],
            WindowAxis {
                out: 3,
                pad_begin: 1,
                pad_end: 0
            }
        );
        let g = window_geometry(&[32], &[5], &[1], &[1], WindowPad::Valid, false).unwrap();
        assert_eq!(g[0].out, 28);
        // ceil_mode: 4x4 input, kernel 3, stride 2 -> 2 (not 1).
        let g = window_geometry(&[4], &[3], &[2], &[1], WindowPad::Explicit(&[]), true).unwrap();
        assert_eq!(g[0].out, 2);
        // dilation 2, kernel 3 -> effective 5.
        let g = window_geometry(&[7], &[3], &[1], &[2], WindowPad::Valid, false).unwrap();
        assert_eq!(g[0].out, 3);
        assert!(window_geometry(&[2], &[3], &[1], &[1], WindowPad::Valid, false).is_err());
        assert!(window_geometry(&[4], &[3], &[0], &[1], WindowPad::Valid, false).is_err());
        assert!(window_geometry(&[4], &[3], &[1], &[usize::MAX], WindowPad::Valid, false).is_err());
        let huge = [i64::MAX, i64::MAX];
        assert!(
            window_geometry(&[4], &[3], &[1], &[1], WindowPad::Explicit(&huge), false).is_err()
        );
    }
}

/// The smallest and largest flat offsets an `as_strided` view reads: `None` when the view is
/// empty; an error message when the arithmetic overflows or a dim is negative.
pub fn strided_extent(
    shape: &[i64],
    strides: &[i64],
    offset: i64,
) -> Result<Option<(i128, i128)>, String> {
    if shape.len() != strides.len() {
        return Err(format!(
            "shape {shape:?} and strides {strides:?} differ in length"
        ));
    }
    if let Some(d) = shape.iter().find(|&&d| d < 0) {
        return Err(format!("shape {shape:?} has a negative dim {d}"));
    }
    if shape.contains(&0) {
        return Ok(None);
    }
    let (mut lo, mut hi) = (offset as i128, offset as i128);
    for (&d, &s) in shape.iter().zip(strides) {
        let reach = (d as i128 - 1) * s as i128;
        if reach < 0 { lo += reach } else { hi += reach }
    }
    Ok(Some((lo, hi)))
}
