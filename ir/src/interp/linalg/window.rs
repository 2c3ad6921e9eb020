//! Sliding-window attributes shared by convolution and pooling: per-axis lists with their
//! defaults, auto_pad resolution and multi-index iteration.

use super::{attr_err, shape_err};
use crate::attr::AutoPad;
use crate::error::{At, Result};
use crate::shape::{WindowAxis, WindowPad, window_geometry};
use crate::tensor::Tensor;

/// A per-spatial-axis attribute list (`strides`, `dilations`, `output_padding`, ...): empty
/// means `default` on every axis; otherwise it needs one entry per axis, each `>= min`.
pub(crate) fn axis_list(
    at: &At,
    attr: &'static str,
    values: &[i64],
    axes: usize,
    default: usize,
    min: i64,
) -> Result<Vec<usize>> {
    if values.is_empty() {
        return Ok(vec![default; axes]);
    }
    if values.len() != axes {
        return Err(attr_err(
            at,
            attr,
            format!("{values:?} must have one entry per spatial axis ({axes})"),
        ));
    }
    if let Some(bad) = values.iter().find(|&&v| v < min) {
        return Err(attr_err(
            at,
            attr,
            format!("{values:?}: entry {bad} is below {min}"),
        ));
    }
    Ok(values.iter().map(|&v| v as usize).collect())
}

/// Explicit pads `[b_0.., e_0..]` validated: empty (all zero) or `2 * axes` non-negative
/// entries.
pub(crate) fn check_pads(at: &At, pads: &[i64], axes: usize) -> Result<()> {
    if !pads.is_empty() && pads.len() != 2 * axes {
        return Err(attr_err(
            at,
            "pads",
            format!(
                "{pads:?} must have 2 entries per spatial axis ({})",
                2 * axes
            ),
        ));
    }
    if pads.iter().any(|&p| p < 0) {
        return Err(attr_err(
            at,
            "pads",
            format!("{pads:?} must not be negative"),
        ));
    }
    Ok(())
}

/// The kernel shape: taken from `from_weights` when given, else from the attribute, which must
/// then agree with it. Pooling passes no weights and needs the attribute.
pub(crate) fn kernel_shape(
    at: &At,
    attr: &[i64],
    from_weights: Option<&[usize]>,
    axes: usize,
) -> Result<Vec<usize>> {
    match from_weights {
        Some(w) => {
            if !attr.is_empty()
                && (attr.len() != w.len() || attr.iter().zip(w).any(|(&a, &k)| a != k as i64))
            {
                return Err(attr_err(
                    at,
                    "kernel_shape",
                    format!("{attr:?} differs from the weights' spatial dims {w:?}"),
                ));
            }
            Ok(w.to_vec())
        }
        None if attr.is_empty() => Err(attr_err(at, "kernel_shape", "is required")),
        None => axis_list(at, "kernel_shape", attr, axes, 0, 1),
    }
}

/// The resolved geometry of a sliding window over the spatial axes of an input.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// Input spatial extents.
    pub input: Vec<usize>,
    /// Kernel extents.
    pub kernel: Vec<usize>,
    /// Strides.
    pub strides: Vec<usize>,
    /// Dilations.
    pub dilations: Vec<usize>,
    /// Output extent and pads per axis.
    pub axes: Vec<WindowAxis>,
}

impl Window {
    /// Output spatial extents.
    pub fn out(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.out).collect()
    }
}

/// Attributes of a sliding window, before resolution against an input.
pub(crate) struct WindowAttrs<'a> {
    /// `auto_pad`.
    pub auto_pad: AutoPad,
    /// `pads`.
    pub pads: &'a [i64],
    /// `strides`.
    pub strides: &'a [i64],
    /// `dilations`.
    pub dilations: &'a [i64],
    /// `ceil_mode` (false for convolution).
    pub ceil_mode: bool,
}

/// Resolves window attributes for `input` (spatial extents) and `kernel`, with output sizes
/// and pads from [`window_geometry`]. Bad attributes are attribute errors; a kernel that does
/// not fit the padded input is a shape error naming `inputs`.
pub(crate) fn resolve(
    at: &At,
    inputs: &[Option<&Tensor>],
    input: &[usize],
    kernel: Vec<usize>,
    w: &WindowAttrs<'_>,
) -> Result<Window> {
    let n = input.len();
    let strides = axis_list(at, "strides", w.strides, n, 1, 1)?;
    let dilations = axis_list(at, "dilations", w.dilations, n, 1, 1)?;
    check_pads(at, w.pads, n)?;
    let pad = match w.auto_pad {
        AutoPad::NotSet => WindowPad::Explicit(w.pads),
        AutoPad::SameUpper => WindowPad::SameUpper,
        AutoPad::SameLower => WindowPad::SameLower,
        AutoPad::Valid => WindowPad::Valid,
    };
    let axes = window_geometry(input, &kernel, &strides, &dilations, pad, w.ceil_mode)
        .map_err(|m| shape_err(at, inputs, format!("sliding window: {m}")))?;
    Ok(Window {
        input: input.to_vec(),
        kernel,
        strides,
        dilations,
        axes,
    })
}

/// Advances a row-major multi-index over `shape`; false once every index has been visited.
pub(crate) fn next_index(idx: &mut [usize], shape: &[usize]) -> bool {
    for a in (0..shape.len()).rev() {
        idx[a] += 1;
        if idx[a] < shape[a] {
            return true;
        }
        idx[a] = 0;
    }
    false
}

/// Every multi-index of `shape` in row-major order (none when an extent is 0; one, empty, for
/// rank 0).
pub(crate) fn all_indices(shape: &[usize]) -> Vec<Vec<usize>> {
    if shape.contains(&0) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut idx = vec![0; shape.len()];
    loop {
        out.push(idx.clone());
        if !next_index(&mut idx, shape) {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::at;
    use super::*;
    use crate::error::IrError;

    #[test]
    fn lists_and_indices() {
        assert_eq!(
            axis_list(&at(), "strides", &[], 2, 1, 1).unwrap(),
            vec![1, 1]
        );
        assert!(matches!(
            axis_list(&at(), "strides", &[1], 2, 1, 1),
            Err(IrError::Attribute {
                attr: "strides",
                ..
            })
        ));
        assert!(matches!(
            axis_list(&at(), "dilations", &[0, 1], 2, 1, 1),
            Err(IrError::Attribute {
                attr: "dilations",
                ..
            })
        ));
        assert!(check_pads(&at(), &[1, -1], 1).is_err());
        assert!(check_pads(&at(), &[1, 1, 1], 2).is_err());
        assert_eq!(
            all_indices(&[2, 2]),
            vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]
        );
        assert_eq!(all_indices(&[]), vec![Vec::<usize>::new()]);
        assert!(all_indices(&[3, 0]).is_empty());
        assert!(kernel_shape(&at(), &[], None, 2).is_err());
        assert!(kernel_shape(&at(), &[3], Some(&[2]), 1).is_err());
        assert_eq!(kernel_shape(&at(), &[], Some(&[2]), 1).unwrap(), vec![2]);
    }
}
