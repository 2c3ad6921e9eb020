//! Ops that produce new values from operands rather than move elements: Range,
//! ConstantOfShape, Trilu and (inference-mode) Dropout.

use super::{MAX_ELEMENTS, element_count, extent, shape_err};
use crate::error::{At, IrError, Result};
use crate::interp::values::{Arr, Data, eval_err, need, read_ints};
use crate::tensor::Tensor;

/// The single element of a scalar operand, widened.
fn scalar_of(at: &At, t: &Tensor, what: &str) -> Result<Arr> {
    if t.len() != 1 {
        return Err(eval_err(
            at,
            format!("{what} must hold one element, got shape {}", t.ir_shape()),
        ));
    }
    Ok(Arr::from_tensor(t))
}

/// `ceil(diff / delta)` clamped at 0, exactly, for a non-zero `delta`.
fn ceil_count(diff: i128, delta: i128) -> i128 {
    let (d, s) = if delta > 0 {
        (diff, delta)
    } else {
        (-diff, -delta)
    };
    if d <= 0 { 0 } else { (d + s - 1) / s }
}

/// Range: `start + i * delta` for `i < max(ceil((limit - start) / delta), 0)`; exact for
/// integers, in f64 (then rounded to the dtype) for floats.
pub(super) fn range(at: &At, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let start = need(inputs, 0, at)?;
    let limit = need(inputs, 1, at)?;
    let delta = need(inputs, 2, at)?;
    let dtype = start.dtype();
    if limit.dtype() != dtype || delta.dtype() != dtype {
        return Err(shape_err(
            at,
            inputs,
            format!(
                "start, limit and delta must share one dtype, got {}, {} and {}",
                dtype,
                limit.dtype(),
                delta.dtype()
            ),
        ));
    }
    let (s, l, d) = (
        scalar_of(at, start, "start")?,
        scalar_of(at, limit, "limit")?,
        scalar_of(at, delta, "delta")?,
    );
    let too_long = |n: f64| eval_err(at, format!("range of {n} elements is too long"));
    match (&s.data, &l.data, &d.data) {
        (Data::I(s), Data::I(l), Data::I(d)) => {
            let (s, l, d) = (s[0], l[0], d[0]);
            if d == 0 {
                return Err(eval_err(at, "range delta is 0"));
            }
            let n = ceil_count(l - s, d);
            if n > MAX_ELEMENTS as i128 {
                return Err(too_long(n as f64));
            }
            let n = n as usize;
            let v = (0..n as i128).map(|i| s + i * d).collect();
            Ok(Arr::ints(dtype, vec![n], v).to_tensor())
        }
        (Data::F(s), Data::F(l), Data::F(d)) => {
            let (s, l, d) = (s[0], l[0], d[0]);
            if d == 0.0 {
                return Err(eval_err(at, "range delta is 0"));
            }
            let n = ((l - s) / d).ceil().max(0.0);
            if !n.is_finite() || n > MAX_ELEMENTS as f64 {
                return Err(too_long(n));
            }
            let n = n as usize;
            let v = (0..n).map(|i| s + i as f64 * d).collect();
            Ok(Arr::floats(dtype, vec![n], v).to_tensor())
        }
        _ => Err(eval_err(at, "range operands have mixed kinds")),
    }
}

/// ConstantOfShape: a tensor of the given shape (rank 0 for an empty shape) filled with
/// `value`'s single element, in `value`'s dtype.
pub(super) fn constant_of_shape(
    at: &At,
    inputs: &[Option<&Tensor>],
    value: &Tensor,
) -> Result<Tensor> {
    let spec = read_ints(need(inputs, 0, at)?, at, "shape")?;
    let dims = spec
        .iter()
        .map(|&d| extent(at, d, "dim"))
        .collect::<Result<Vec<_>>>()?;
    let n = element_count(at, &dims)?;
    let v = scalar_of(at, value, "attribute `value`")?;
    Ok(v.gather(dims, &vec![0; n]).to_tensor())
}

/// Trilu: keeps elements with `j - i >= k` (upper) or `j - i <= k` (lower) on the last two
/// axes and zeroes the rest.
pub(super) fn trilu(at: &At, inputs: &[Option<&Tensor>], upper: bool) -> Result<Tensor> {
    let data = need(inputs, 0, at)?;
    let k = match inputs.get(1).copied().flatten() {
        Some(t) => read_ints(t, at, "k")?
            .first()
            .copied()
            .ok_or_else(|| eval_err(at, "k must hold one element"))?,
        None => 0,
    };
    let rank = data.rank();
    if rank < 2 {
        return Err(shape_err(at, inputs, "trilu needs rank at least 2"));
    }
    let (rows, cols) = (data.shape()[rank - 2], data.shape()[rank - 1]);
    let mut arr = Arr::from_tensor(data);
    let zero_at = |f: usize| {
        let (i, j) = ((f / cols.max(1)) % rows.max(1), f % cols.max(1));
        let diff = j as i128 - i as i128;
        let keep = if upper {
            diff >= k as i128
        } else {
            diff <= k as i128
        };
        !keep
    };
    match &mut arr.data {
        Data::F(v) => (0..v.len())
            .filter(|&f| zero_at(f))
            .for_each(|f| v[f] = 0.0),
        Data::I(v) => (0..v.len()).filter(|&f| zero_at(f)).for_each(|f| v[f] = 0),
    }
    Ok(arr.to_tensor())
}

/// Dropout in inference: `(data, mask of all true)`. Training with a positive ratio is random,
/// so it is refused rather than answered with one arbitrary draw.
pub(super) fn dropout(at: &At, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let data = need(inputs, 0, at)?;
    let ratio = match inputs.get(1).copied().flatten() {
        Some(t) => scalar_of(at, t, "ratio")?.f(0),
        None => 0.5,
    };
    let training = match inputs.get(2).copied().flatten() {
        Some(t) => scalar_of(at, t, "training_mode")?.f(0) != 0.0,
        None => false,
    };
    if training && ratio != 0.0 {
        return Err(IrError::Nondeterministic {
            at: at.clone(),
            message: format!(
                "training-mode dropout with ratio {ratio} is random and has no reference value"
            ),
        });
    }
    let mask = Tensor::from_vec(data.shape(), vec![true; data.len()])?;
    Ok(vec![data.clone(), mask])
}
