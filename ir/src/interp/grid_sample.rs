//! Interpreter for GridSample: N-d nearest, linear and cubic sampling of `X` at the normalized
//! coordinates of `grid`, with zeros, border or reflection padding.

use crate::error::{At, IrError, Result};
use crate::interp::values::{Arr, eval_err, need, unravel};
use crate::op::Op;
use crate::tensor::Tensor;

/// Interpolation mode.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

/// What an out-of-range position reads.
#[derive(Clone, Copy, PartialEq)]
enum Padding {
    Zeros,
    Border,
    Reflection,
}

/// Parses GridSample's string attributes (also used by inference).
pub(crate) fn check_modes(mode: &str, padding_mode: &str) -> std::result::Result<(), String> {
    parse_modes(mode, padding_mode).map(|_| ())
}

fn parse_modes(mode: &str, padding_mode: &str) -> std::result::Result<(Mode, Padding), String> {
    let m = match mode {
        "nearest" => Mode::Nearest,
        "linear" | "bilinear" => Mode::Linear,
        "cubic" | "bicubic" => Mode::Cubic,
        _ => {
            return Err(format!(
                "mode must be nearest, linear or cubic, got `{mode}`"
            ));
        }
    };
    let p = match padding_mode {
        "zeros" => Padding::Zeros,
        "border" => Padding::Border,
        "reflection" => Padding::Reflection,
        _ => {
            return Err(format!(
                "padding_mode must be zeros, border or reflection, got `{padding_mode}`"
            ));
        }
    };
    Ok((m, p))
}

/// The sampling geometry of one spatial axis.
#[derive(Clone, Copy)]
struct Axis {
    len: usize,
    lo: f64,
    hi: f64,
    padding: Padding,
}

impl Axis {
    /// Reflects `x` into `[lo, hi]` by the nearer border, repeatedly.
    fn reflect(&self, x: f64) -> f64 {
        let range = self.hi - self.lo;
        if range <= 0.0 {
            return self.lo;
        }
        let (dx, from_lo) = if x < self.lo {
            (self.lo - x, true)
        } else if x > self.hi {
            (x - self.hi, false)
        } else {
            return x;
        };
        let n = (dx / range).floor();
        let r = dx - n * range;
        let even = n % 2.0 == 0.0;
        match (from_lo, even) {
            (true, true) | (false, false) => self.lo + r,
            _ => self.hi - r,
        }
    }

    /// The coordinate after out-of-range handling (border clamps, reflection reflects).
    fn fold(&self, x: f64) -> f64 {
        if x >= self.lo && x <= self.hi {
            return x;
        }
        match self.padding {
            Padding::Zeros => x,
            Padding::Border => x.clamp(0.0, self.len as f64 - 1.0),
            Padding::Reflection => self.reflect(x),
        }
    }

    /// The element an integer position reads, or `None` for a zero.
    fn pixel(&self, i: i64) -> Option<usize> {
        let last = self.len as i64 - 1;
        if (0..=last).contains(&i) {
            return Some(i as usize);
        }
        match self.padding {
            Padding::Zeros => None,
            Padding::Border => Some(i.clamp(0, last.max(0)) as usize),
            Padding::Reflection => {
                Some((self.reflect(i as f64).trunc() as i64).clamp(0, last.max(0)) as usize)
            }
        }
    }
}

/// Keys' cubic convolution weights (a = -0.75) of the four taps around fraction `t`.
fn cubic_weights(t: f64) -> [f64; 4] {
    let a = -0.75;
    let far = |x: f64| ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    let near = |x: f64| ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// The `(position, weight)` taps of coordinate `x` on one axis.
fn taps(mode: Mode, x: f64) -> Vec<(i64, f64)> {
    match mode {
        Mode::Nearest => vec![(x.trunc() as i64, 1.0)],
        Mode::Linear => {
            let x0 = x.floor();
            let t = x - x0;
            vec![(x0 as i64, 1.0 - t), (x0 as i64 + 1, t)]
        }
        Mode::Cubic => {
            let x0 = x.floor();
            let w = cubic_weights(x - x0);
            (0..4).map(|k| (x0 as i64 - 1 + k, w[k as usize])).collect()
        }
    }
}

/// Evaluates GridSample.
pub fn eval(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let Op::GridSample {
        align_corners,
        mode,
        padding_mode,
    } = op
    else {
        return Err(eval_err(at, "not GridSample"));
    };
    let (mode, padding) = parse_modes(mode, padding_mode).map_err(|m| eval_err(at, m))?;
    let (x, grid) = (need(inputs, 0, at)?, need(inputs, 1, at)?);
    for (i, t) in [(0, x), (1, grid)] {
        if !t.dtype().is_float() {
            return Err(IrError::InputDType {
                at: at.clone(),
                input: i,
                dtype: t.dtype(),
                expected: "a float dtype".into(),
            });
        }
    }
    let (xs, gs) = (x.shape(), grid.shape());
    let k = xs.len().saturating_sub(2);
    if xs.len() < 3 || gs.len() != k + 2 || gs[0] != xs[0] || gs[k + 1] != k {
        return Err(eval_err(
            at,
            format!(
                "GridSample needs X [N, C, D1..Dk] and grid [N, H1..Hk, k], got {} and {}",
                x.ir_shape(),
                grid.ir_shape()
            ),
        ));
    }
    let (n, c) = (xs[0], xs[1]);
    let dims = &xs[2..];
    let axes: Vec<Axis> = dims
        .iter()
        .map(|&len| {
            let (lo, hi) = if *align_corners {
                (0.0, len as f64 - 1.0)
            } else {
                (-0.5, len as f64 - 0.5)
            };
            Axis {
                len,
                lo,
                hi,
                padding,
            }
        })
        .collect();
    let out_sp = &gs[1..=k];
    let per_n: usize = out_sp.iter().product();
    let plane: usize = dims.iter().product();
    let xa = Arr::from_tensor(x);
    let ga = Arr::from_tensor(grid);
    let mut out = vec![0.0; n * c * per_n];
    for b in 0..n {
        for p in 0..per_n {
            let g = (b * per_n + p) * k;
            let coords: Vec<Vec<(i64, f64)>> = (0..k)
                .map(|d| {
                    // grid's last axis lists x (the innermost spatial axis) first.
                    let v = ga.f(g + (k - 1 - d));
                    let len = dims[d] as f64;
                    let pos = if *align_corners {
                        (v + 1.0) / 2.0 * (len - 1.0)
                    } else {
                        ((v + 1.0) * len - 1.0) / 2.0
                    };
                    let pos = if mode == Mode::Nearest {
                        pos.round_ties_even()
                    } else {
                        pos
                    };
                    taps(mode, axes[d].fold(pos))
                })
                .collect();
            let terms = combine(&coords, &axes, dims);
            for ch in 0..c {
                let base = (b * c + ch) * plane;
                let s: f64 = terms
                    .iter()
                    .map(|&(flat, w)| match flat {
                        Some(f) => w * xa.f(base + f),
                        None => 0.0,
                    })
                    .sum();
                out[(b * c + ch) * per_n + p] = s;
            }
        }
    }
    let mut shape = vec![n, c];
    shape.extend_from_slice(out_sp);
    Ok(vec![Arr::floats(x.dtype(), shape, out).to_tensor()])
}

/// Every combination of one tap per axis: the flat element it reads (`None`: a zero) and the
/// product of the weights.
fn combine(coords: &[Vec<(i64, f64)>], axes: &[Axis], dims: &[usize]) -> Vec<(Option<usize>, f64)> {
    let counts: Vec<usize> = coords.iter().map(Vec::len).collect();
    let total: usize = counts.iter().product();
    (0..total)
        .map(|t| {
            let pick = unravel(t, &counts);
            let mut flat = Some(0usize);
            let mut w = 1.0;
            for (d, &j) in pick.iter().enumerate() {
                let (pos, wd) = coords[d][j];
                w *= wd;
                flat = match (flat, axes[d].pixel(pos)) {
                    (Some(f), Some(i)) => Some(f * dims[d] + i),
                    _ => None,
                };
            }
            (flat, w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gs(align: bool, mode: &str, pad: &str) -> Op {
        Op::GridSample {
            align_corners: align,
            mode: mode.into(),
            padding_mode: pad.into(),
        }
    }

    fn at() -> At {
        At {
            node: "n".into(),
            op: "grid_sample",
        }
    }

    fn run(op: &Op, x: &Tensor, g: &Tensor) -> Result<Vec<f64>> {
        let out = eval(op, &at(), &[Some(x), Some(g)])?;
        Ok((0..out[0].len()).map(|i| out[0].get_f64(i)).collect())
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    /// X = [[0, 1], [2, 3]] as [1, 1, 2, 2].
    fn x22() -> Tensor {
        Tensor::from_vec(&[1, 1, 2, 2], vec![0.0f32, 1.0, 2.0, 3.0]).unwrap()
    }

    fn grid(points: &[(f32, f32)]) -> Tensor {
        let v: Vec<f32> = points.iter().flat_map(|&(a, b)| [a, b]).collect();
        Tensor::from_vec(&[1, 1, points.len(), 2], v).unwrap()
    }

    #[test]
    fn linear_align_corners_and_not() {
        // Align corners: (-1, -1) is pixel (0, 0), (1, 1) pixel (1, 1), (0, 0) the centre.
        let g = grid(&[(-1.0, -1.0), (1.0, 1.0), (0.0, 0.0), (1.0, -1.0)]);
        close(
            &run(&gs(true, "linear", "zeros"), &x22(), &g).unwrap(),
            &[0., 3., 1.5, 1.],
        );
        // Without: (-1, -1) is the corner point (-0.5, -0.5): a quarter of pixel (0, 0)... all
        // four taps but one read zeros.
        close(
            &run(&gs(false, "linear", "zeros"), &x22(), &g).unwrap(),
            &[0., 0.75, 1.5, 0.25],
        );
        // Border padding clamps the corner to pixel (1, 1).
        close(
            &run(&gs(false, "linear", "border"), &x22(), &g).unwrap(),
            &[0., 3., 1.5, 1.],
        );
    }

    #[test]
    fn nearest_and_reflection() {
        // Align corners: x = 0.25 rounds to 0; x = 1.5 rounds to even 2, which reflects off the
        // far border to 0 (zeros: reads 0; border: clamps to 1); x = -0.5 rounds to -0.
        let g = grid(&[(-0.5, -1.0), (2.0, -1.0), (-2.0, 1.0)]);
        close(
            &run(&gs(true, "nearest", "reflection"), &x22(), &g).unwrap(),
            &[0., 0., 2.],
        );
        close(
            &run(&gs(true, "nearest", "zeros"), &x22(), &g).unwrap(),
            &[0., 0., 2.],
        );
        close(
            &run(&gs(true, "nearest", "border"), &x22(), &g).unwrap(),
            &[0., 1., 2.],
        );
    }

    #[test]
    fn cubic_keys_weights() {
        // Positions 1.0 (an exact pixel) and 2.75; values from ONNX's reference implementation.
        let x = Tensor::from_vec(&[1, 1, 1, 6], vec![0.0f64, 1., 2., 3., 4., 5.]).unwrap();
        let g = grid(&[(-0.6, 0.0), (0.1, 0.0)]);
        let out = run(&gs(true, "cubic", "border"), &x, &g).unwrap();
        close(&out, &[1.0, 2.703125]);
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn volumetric_and_empty() {
        let x = Tensor::from_vec(&[1, 1, 2, 1, 1], vec![1.0f32, 5.0]).unwrap();
        // (x, y, z): z = 1 is the second depth slice.
        let g = Tensor::from_vec(&[1, 1, 1, 2, 3], vec![0.0f32, 0., -1., 0., 0., 0.]).unwrap();
        close(
            &run(&gs(true, "linear", "zeros"), &x, &g).unwrap(),
            &[1.0, 3.0],
        );
        let g = Tensor::from_vec::<f32>(&[1, 0, 1, 1, 3], vec![]).unwrap();
        assert!(
            run(&gs(true, "linear", "zeros"), &x, &g)
                .unwrap()
                .is_empty()
        );
        let nan = Tensor::from_vec(&[1, 1, 1, 2], vec![f32::NAN, 0.0]).unwrap();
        let out = run(&gs(true, "linear", "border"), &x22(), &nan);
        assert!(out.is_ok());
    }

    #[test]
    fn errors() {
        let g = grid(&[(0.0, 0.0)]);
        assert!(run(&gs(true, "area", "zeros"), &x22(), &g).is_err());
        assert!(run(&gs(true, "linear", "wrap"), &x22(), &g).is_err());
        let bad = Tensor::from_vec(&[1, 1, 1, 3], vec![0.0f32; 3]).unwrap();
        assert!(matches!(
            run(&gs(true, "linear", "zeros"), &x22(), &bad),
            Err(IrError::Eval { .. })
        ));
        let xi = Tensor::from_vec(&[1, 1, 2, 2], vec![0i32; 4]).unwrap();
        assert!(matches!(
            run(&gs(true, "linear", "zeros"), &xi, &g),
            Err(IrError::InputDType { .. })
        ));
    }
}
