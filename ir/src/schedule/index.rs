//! Index arithmetic for the scheduler: integer kernel expressions that fold constants and
//! track how they change along the vectorized loop, and element positions (flat or per axis).

use crate::dtype::DType;
use crate::kernel::{BinOp, Expr, Scalar, Ty};
use crate::op::BinaryOp;

/// An integer index expression, its step along the vectorized loop variable (`Some(d)` when
/// lane `t` of a vector sits at `e + d * t`, `None` when unknown) and bounds on its value
/// (for every lane), which let clamps and range checks that always hold be left out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ix {
    /// The index of lane 0.
    pub e: Expr,
    /// Change per lane.
    pub dj: Option<i64>,
    /// Smallest possible value.
    pub lo: i128,
    /// Largest possible value.
    pub hi: i128,
    /// `e` as an affine sum of atoms, when it was built as one (see [`Affine`]).
    pub affine: Option<Affine>,
    /// For a quotient or remainder atom `x / k` or `x % k` (`x >= 0`): `x`, `k` and whether
    /// it is the remainder, so that a sum holding `k·t·(x / k) + t·(x % k)` folds back to
    /// `t·x` (views that split an axis and a flat index that merges it again).
    pub split: Option<Box<Split>>,
}

/// What a quotient or remainder atom divides (see [`Ix::split`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Split {
    /// The dividend.
    pub x: Ix,
    /// The divisor.
    pub k: i128,
    /// True for `x % k`, false for `x / k`.
    pub rem: bool,
}

/// An index as `c + Σ coef · atom`, where each atom is an index that is not itself a sum or
/// a multiple (a loop variable, a quotient, a remainder, a clamp) with its own bounds and
/// lane step. It lets `/` and `%` by a constant see through the sums that views build: with
/// `0 <= r < k`, `(k · q + r) / k` is `q` and `(k · q + r) % k` is `r`. Without it, each view
/// of a chain re-derives coordinates from the previous view's flat index, and the index
/// expressions of deep chains (convolutions lowered through pads, reshapes and slices) grow
/// into trees of thousands of nodes that every backend then evaluates per element.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Affine {
    /// The constant term.
    pub c: i128,
    /// Atoms with their (non-zero) coefficients; no atom twice.
    pub terms: Vec<(Ix, i128)>,
}

/// Bounds standing for "unknown" (far from overflow when added or scaled).
const FAR: i128 = 1 << 100;

impl Ix {
    /// An index with unknown bounds.
    pub fn new(e: Expr, dj: Option<i64>) -> Ix {
        Ix {
            e,
            dj,
            lo: -FAR,
            hi: FAR,
            affine: None,
            split: None,
        }
    }

    /// An index known to lie in `[lo, hi]` (for every lane).
    pub fn within(e: Expr, dj: Option<i64>, lo: i128, hi: i128) -> Ix {
        Ix {
            e,
            dj,
            lo,
            hi,
            affine: None,
            split: None,
        }
    }

    /// The affine form of this index: its own, or itself as one atom (or a constant).
    fn form(&self) -> Affine {
        if let Some(f) = &self.affine {
            return f.clone();
        }
        match as_const(&self.e) {
            Some(v) => Affine {
                c: v,
                terms: Vec::new(),
            },
            None => Affine {
                c: 0,
                terms: vec![(self.clone(), 1)],
            },
        }
    }

    fn with_affine(mut self, f: Affine) -> Ix {
        self.affine = Some(f);
        self
    }

    fn bounded(mut self, lo: i128, hi: i128) -> Ix {
        self.lo = lo.clamp(-FAR, FAR);
        self.hi = hi.clamp(-FAR, FAR);
        self
    }
}

impl Affine {
    /// `self + other`, merging equal atoms.
    fn plus(mut self, other: Affine) -> Affine {
        self.c = self.c.saturating_add(other.c);
        for (atom, k) in other.terms {
            match self.terms.iter_mut().find(|(a, _)| a.e == atom.e) {
                Some((_, k0)) => *k0 = k0.saturating_add(k),
                None => self.terms.push((atom, k)),
            }
        }
        self.terms.retain(|(_, k)| *k != 0);
        self
    }

    /// Folds each pair `k·t·(x / k) + t·(x % k)` of the terms back into `t·x`.
    fn fold_splits(mut self) -> Affine {
        loop {
            let pair = self.terms.iter().enumerate().find_map(|(i, (q, cq))| {
                let sq = q.split.as_deref().filter(|s| !s.rem)?;
                self.terms.iter().enumerate().find_map(|(j, (r, cr))| {
                    let sr = r.split.as_deref().filter(|s| s.rem)?;
                    (sr.k == sq.k && sr.x.e == sq.x.e && cr.checked_mul(sq.k) == Some(*cq))
                        .then(|| (i, j, sq.x.clone(), *cr))
                })
            });
            let Some((i, j, x, t)) = pair else {
                return self;
            };
            let (hi, lo) = (i.max(j), i.min(j));
            self.terms.remove(hi);
            self.terms.remove(lo);
            self = self.plus(x.form().times(t));
        }
    }

    /// `self * k`.
    fn times(mut self, k: i128) -> Affine {
        self.c = self.c.saturating_mul(k);
        for (_, c) in &mut self.terms {
            *c = c.saturating_mul(k);
        }
        self.terms.retain(|(_, c)| *c != 0);
        self
    }

    /// Splits `self` into `(q, r)` with `self = k · q + r`: `q` gathers the terms whose
    /// coefficient `k` divides (and the constant's quotient), `r` the others (and the
    /// constant's remainder, in `0..k`).
    fn split(&self, k: i128) -> (Affine, Affine) {
        let mut q = Affine {
            c: self.c.div_euclid(k),
            terms: Vec::new(),
        };
        let mut r = Affine {
            c: self.c.rem_euclid(k),
            terms: Vec::new(),
        };
        for (atom, c) in &self.terms {
            if c % k == 0 {
                q.terms.push((atom.clone(), c / k));
            } else {
                r.terms.push((atom.clone(), *c));
            }
        }
        (q, r)
    }

    /// Bounds of the value from the atoms' bounds.
    fn bounds(&self) -> (i128, i128) {
        let mut lo = self.c;
        let mut hi = self.c;
        for (a, k) in &self.terms {
            let (x, y) = (a.lo.saturating_mul(*k), a.hi.saturating_mul(*k));
            lo = lo.saturating_add(x.min(y));
            hi = hi.saturating_add(x.max(y));
        }
        (lo.clamp(-FAR, FAR), hi.clamp(-FAR, FAR))
    }
}

/// Where an element of a value is: its flat row-major index or one index per axis.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Pos {
    /// Row-major flat index.
    Flat(Ix),
    /// One index per axis.
    Coords(Vec<Ix>),
}

/// Builds index expressions of one integer dtype.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IxMath {
    /// The index dtype (i32 or i64).
    pub dt: DType,
}

/// The value of an integer constant expression.
pub(crate) fn as_const(e: &Expr) -> Option<i128> {
    match e {
        Expr::Const {
            value: Scalar::Int(v),
            ty,
        } if ty.lanes == 1 => Some(*v),
        _ => None,
    }
}

fn dj_add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a?.checked_add(b?)
}

impl IxMath {
    /// A constant index (the same in every lane).
    pub fn c(self, v: i128) -> Ix {
        Ix::within(Expr::int(self.dt, v), Some(0), v, v)
    }

    /// A lane-invariant index in `[lo, hi]`.
    pub fn inv(self, e: Expr, lo: i128, hi: i128) -> Ix {
        Ix::within(e, Some(0), lo, hi)
    }

    fn bin(self, op: BinaryOp, a: &Ix, b: &Ix, dj: Option<i64>) -> Ix {
        let folded = match (as_const(&a.e), as_const(&b.e)) {
            (Some(x), Some(y)) => match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                BinaryOp::Div if y != 0 => Some(x / y),
                BinaryOp::Mod if y != 0 => Some(x.rem_euclid(y)),
                _ => None,
            },
            _ => None,
        };
        match folded {
            Some(v) => self.c(v),
            None => self.raw(op, a, b, dj),
        }
    }

    fn raw(self, op: BinaryOp, a: &Ix, b: &Ix, dj: Option<i64>) -> Ix {
        Ix::new(Expr::bin(op, a.e.clone(), b.e.clone()), dj)
    }

    /// `a + b`.
    pub fn add(self, a: &Ix, b: &Ix) -> Ix {
        match (as_const(&a.e), as_const(&b.e)) {
            (Some(0), _) => b.clone(),
            (_, Some(0)) => a.clone(),
            _ => {
                let f = a.form().plus(b.form());
                let (lo, hi) = (a.lo + b.lo, a.hi + b.hi);
                // `k·t·(x / k) + t·(x % k)` met again: the sum without them (only sums that
                // hold a quotient or remainder atom are looked at).
                if f.terms
                    .iter()
                    .filter(|(a, _)| a.split.is_some())
                    .nth(1)
                    .is_some()
                {
                    let folded = f.clone().fold_splits();
                    if folded.terms.len() < f.terms.len() {
                        return Self::narrowed(self.build(&folded), lo, hi);
                    }
                }
                self.bin(BinaryOp::Add, a, b, dj_add(a.dj, b.dj))
                    .bounded(lo, hi)
                    .with_affine(f)
            }
        }
    }

    /// The index of an affine form, built from its atoms.
    fn build(self, f: &Affine) -> Ix {
        let mut acc = self.c(0);
        for (atom, k) in &f.terms {
            let term = self.mul_c(atom, *k);
            acc = self.add(&acc, &term);
        }
        self.add_c(&acc, f.c)
    }

    /// Narrows `x`'s bounds to `[lo, hi]` (both known to hold).
    pub(crate) fn narrowed(x: Ix, lo: i128, hi: i128) -> Ix {
        let (l, h) = (x.lo.max(lo), x.hi.min(hi));
        if l > h {
            return x;
        }
        Ix { lo: l, hi: h, ..x }
    }

    /// `a + k`.
    pub fn add_c(self, a: &Ix, k: i128) -> Ix {
        self.add(a, &self.c(k))
    }

    /// `a * k`.
    pub fn mul_c(self, a: &Ix, k: i128) -> Ix {
        match (k, as_const(&a.e)) {
            (0, _) | (_, Some(0)) => self.c(0),
            (1, _) => a.clone(),
            _ => {
                let dj = a.dj.and_then(|d| i64::try_from(k).ok()?.checked_mul(d));
                let (x, y) = (a.lo.saturating_mul(k), a.hi.saturating_mul(k));
                let f = a.form().times(k);
                self.bin(BinaryOp::Mul, a, &self.c(k), dj)
                    .bounded(x.min(y), x.max(y))
                    .with_affine(f)
            }
        }
    }

    /// `a / k` for `a >= 0`, `k >= 1`.
    pub fn div_c(self, a: &Ix, k: i128) -> Ix {
        if k == 1 {
            return a.clone();
        }
        if a.lo >= 0 && a.hi < k {
            return self.c(0);
        }
        // `(k q + r) / k = q` when `0 <= r < k`.
        if let Some(f) = &a.affine {
            let (q, r) = f.split(k);
            let (rlo, rhi) = r.bounds();
            if rlo >= 0 && rhi < k {
                return Self::narrowed(self.build(&q), a.lo.max(0) / k, a.hi / k);
            }
        }
        let dj = (a.dj == Some(0)).then_some(0);
        let mut q = self
            .bin(BinaryOp::Div, a, &self.c(k), dj)
            .bounded(a.lo.max(0) / k, a.hi / k);
        if a.lo >= 0 && q.affine.is_none() {
            q.split = Some(Box::new(Split {
                x: a.clone(),
                k,
                rem: false,
            }));
        }
        q
    }

    /// `a % k` for `a >= 0`, `k >= 1`.
    pub fn rem_c(self, a: &Ix, k: i128) -> Ix {
        if k == 1 {
            return self.c(0);
        }
        if a.lo >= 0 && a.hi < k {
            return a.clone();
        }
        // `(k q + r) % k = r` when `0 <= r < k`; `= r % k` when `r >= 0`.
        if let Some(f) = &a.affine {
            let (q, r) = f.split(k);
            let (rlo, rhi) = r.bounds();
            if rlo >= 0 && rhi < k {
                return Self::narrowed(self.build(&r), 0, k - 1);
            }
            if rlo >= 0 && !q.terms.is_empty() {
                let r = Self::narrowed(self.build(&r), 0, rhi);
                return self.rem_c(&r, k);
            }
        }
        let dj = (a.dj == Some(0)).then_some(0);
        let mut r = self.bin(BinaryOp::Mod, a, &self.c(k), dj).bounded(0, k - 1);
        if a.lo >= 0 && r.affine.is_none() {
            r.split = Some(Box::new(Split {
                x: a.clone(),
                k,
                rem: true,
            }));
        }
        r
    }

    /// `min(max(a, lo), hi)`.
    pub fn clamp(self, a: &Ix, lo: i128, hi: i128) -> Ix {
        let hi = hi.max(lo);
        if let Some(v) = as_const(&a.e) {
            return self.c(v.clamp(lo, hi));
        }
        let dj = if a.lo >= lo && a.hi <= hi {
            return a.clone();
        } else if a.dj == Some(0) {
            Some(0)
        } else {
            None
        };
        let mut e = a.e.clone();
        if a.lo < lo {
            e = Expr::binary(BinOp::Max, e, Expr::int(self.dt, lo));
        }
        if a.hi > hi {
            e = Expr::binary(BinOp::Min, e, Expr::int(self.dt, hi));
        }
        Ix::within(e, dj, a.lo.clamp(lo, hi), a.hi.clamp(lo, hi))
    }

    /// The boolean `lo <= a < hi` (scalar); `None` when the bounds of `a` make it always true.
    pub fn in_range(self, a: &Ix, lo: i128, hi: i128) -> Option<Expr> {
        let ge = (a.lo < lo).then(|| {
            Expr::bin(
                BinaryOp::GreaterOrEqual,
                a.e.clone(),
                Expr::int(self.dt, lo),
            )
        });
        let lt =
            (a.hi >= hi).then(|| Expr::bin(BinaryOp::Less, a.e.clone(), Expr::int(self.dt, hi)));
        match (ge, lt) {
            (Some(x), Some(y)) => Some(Expr::bin(BinaryOp::And, x, y)),
            (x, y) => x.or(y),
        }
    }

    /// The flat row-major index of a position in a tensor of shape `dims`.
    pub fn flat(self, pos: &Pos, dims: &[usize]) -> Ix {
        match pos {
            Pos::Flat(i) => i.clone(),
            Pos::Coords(c) => {
                let strides = crate::shape::strides_of(dims);
                let mut acc = self.c(0);
                for (ci, &s) in c.iter().zip(&strides) {
                    let term = self.mul_c(ci, s as i128);
                    acc = self.add(&acc, &term);
                }
                acc
            }
        }
    }

    /// The per-axis indices of a position in a tensor of shape `dims`.
    pub fn coords(self, pos: &Pos, dims: &[usize]) -> Vec<Ix> {
        match pos {
            Pos::Coords(c) => c.clone(),
            Pos::Flat(i) => {
                let strides = crate::shape::strides_of(dims);
                let mut out = Vec::with_capacity(dims.len());
                for (a, (&d, &s)) in dims.iter().zip(&strides).enumerate() {
                    let q = self.div_c(i, s as i128);
                    // The first axis needs no remainder: the index is in range.
                    out.push(if a == 0 {
                        let top = (d as i128 - 1).max(0);
                        Self::narrowed(q, 0, top)
                    } else {
                        self.rem_c(&q, d as i128)
                    });
                }
                out
            }
        }
    }

    /// The position in an operand of shape `from` broadcast to `to` (multidirectional).
    pub fn broadcast(self, pos: &Pos, to: &[usize], from: &[usize]) -> Pos {
        if to == from {
            return pos.clone();
        }
        let c = self.coords(pos, to);
        let skip = to.len().saturating_sub(from.len());
        Pos::Coords(
            from.iter()
                .enumerate()
                .map(|(a, &d)| {
                    if d == 1 {
                        self.c(0)
                    } else {
                        c.get(a + skip).cloned().unwrap_or_else(|| self.c(0))
                    }
                })
                .collect(),
        )
    }

    /// A scalar index cast to the index dtype.
    pub fn cast(self, e: Expr) -> Expr {
        Expr::Cast {
            to: self.dt,
            x: Box::new(e),
        }
    }

    /// The type of an index.
    pub fn ty(self) -> Ty {
        Ty::scalar(self.dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two distinct variables with bounds: `q` in `[0, 4]` and `k` in `[0, 17]`.
    fn vars() -> (IxMath, Ix, Ix) {
        let mut kernel = crate::kernel::Kernel::new("t");
        let q = kernel.var("q", Ty::scalar(DType::I32));
        let k = kernel.var("k", Ty::scalar(DType::I32));
        let m = IxMath { dt: DType::I32 };
        (m, m.inv(Expr::Var(q), 0, 4), m.inv(Expr::Var(k), 0, 17))
    }

    #[test]
    fn quotients_and_remainders_see_through_sums() {
        let (m, q, k) = vars();
        // i = 18 q + k: i / 18 = q, i % 18 = k, with no division left.
        let i = m.add(&m.mul_c(&q, 18), &k);
        assert_eq!(m.div_c(&i, 18).e, q.e);
        assert_eq!(m.rem_c(&i, 18).e, k.e);
        // (36 q + k + 18) / 18 = 2 q + 1; its remainder is k.
        let j = m.add_c(&m.add(&m.mul_c(&q, 36), &k), 18);
        let d = m.div_c(&j, 18);
        assert_eq!(d.e, m.add_c(&m.mul_c(&q, 2), 1).e);
        assert_eq!((d.lo, d.hi), (1, 9));
        assert_eq!(m.rem_c(&j, 18).e, k.e);
        // (18 q + k) % 9 = k % 9: the multiple of 9 drops out, the remainder stays.
        let r = m.rem_c(&i, 9);
        assert_eq!(
            r.e,
            Expr::bin(BinaryOp::Mod, k.e.clone(), Expr::int(DType::I32, 9))
        );
        // Not simplified when the rest may reach the divisor: (18 q + k) / 10.
        let n = m.div_c(&i, 10);
        assert_eq!(
            n.e,
            Expr::bin(BinaryOp::Div, i.e.clone(), Expr::int(DType::I32, 10))
        );
    }

    #[test]
    fn a_split_axis_merged_again_folds_back() {
        let (m, q, k) = vars();
        // k split by 4 and merged again (a reshape of a split axis read through a flat
        // index): 18 q + 4 (k / 4) + k % 4 = 18 q + k, in either order, with no division.
        let (d, r) = (m.div_c(&k, 4), m.rem_c(&k, 4));
        let base = m.mul_c(&q, 18);
        let want = m.add(&base, &k);
        let a = m.add(&m.add(&base, &m.mul_c(&d, 4)), &r);
        assert_eq!(a.e, want.e);
        let b = m.add(&r, &m.add(&m.mul_c(&d, 4), &base));
        assert_eq!(b.e, want.e);
        assert_eq!((a.lo, a.hi), (0, 89));
        // Scaled: 12 (k / 4) + 3 (k % 4) = 3 k.
        let c = m.add(&m.mul_c(&d, 12), &m.mul_c(&r, 3));
        assert_eq!(c.e, m.mul_c(&k, 3).e);
        // Not folded when the coefficients do not match: 5 (k / 4) + k % 4 keeps both.
        let e = m.add(&m.mul_c(&d, 5), &r);
        assert!(matches!(&e.e, Expr::Binary { .. }) && e.e != k.e);
        assert_eq!(e.affine.as_ref().map(|f| f.terms.len()), Some(2));
    }
}
