//! Range analysis of integer index expressions, for bounds-check elimination: every integer
//! value gets an interval `[lo, hi]` and a known divisor (`value ≡ 0 mod align`), from
//! constants, the launch grid (`group_id`), loop bounds and steps, and interval arithmetic.
//! A load or store whose index interval lies inside its buffer needs no check. The analysis
//! is conservative: anything it cannot bound is "unknown" and keeps its check.

use tessera_ir::DType;
use tessera_ir::kernel::{BinOp, Expr, Kernel, VarId};
use tessera_ir::op::BinaryOp;

/// What is known of an integer value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    /// Smallest possible value.
    pub lo: i128,
    /// Largest possible value.
    pub hi: i128,
    /// Every value is a multiple of this (1 when nothing is known).
    pub align: i128,
}

/// Values beyond this magnitude are treated as unknown (no overflow in the arithmetic).
const LIMIT: i128 = 1 << 62;

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Range {
    fn new(lo: i128, hi: i128, align: i128) -> Option<Range> {
        (lo <= hi && lo > -LIMIT && hi < LIMIT).then_some(Range {
            lo,
            hi,
            align: align.max(1),
        })
    }

    fn constant(v: i128) -> Option<Range> {
        Range::new(v, v, if v == 0 { LIMIT } else { v.abs() })
    }
}

/// Range facts of the variables in scope, indexed by variable.
pub(crate) struct Ranges {
    vars: Vec<Option<Range>>,
    var_dtypes: Vec<DType>,
    grid: Vec<usize>,
}

impl Ranges {
    /// No variable known yet; `group_id(a)` ranges over the kernel's launch grid.
    pub(crate) fn new(k: &Kernel) -> Ranges {
        Ranges {
            vars: vec![None; k.vars.len()],
            var_dtypes: k.vars.iter().map(|(_, v)| v.ty.dtype).collect(),
            grid: k.launch.grid.clone(),
        }
    }

    /// Records the range of an immutable variable (`let`), or forgets it.
    pub(crate) fn set(&mut self, v: VarId, r: Option<Range>) {
        if let Some(slot) = self.vars.get_mut(v.index()) {
            *slot = r;
        }
    }

    /// The range of a loop counter `start..end step step`, inside the body.
    pub(crate) fn loop_var(&self, start: &Expr, end: &Expr, step: u32) -> Option<Range> {
        let (s, e) = (self.of(start)?, self.of(end)?);
        let align = gcd(s.align, i128::from(step)).max(1);
        // The last value is below `end`; when the start is a multiple of `align`, so is
        // every value, so round the bound down.
        let top = e.hi - 1;
        let hi = if s.lo >= 0 && top >= 0 {
            top - top % align
        } else {
            top
        };
        Range::new(s.lo, hi, align)
    }

    /// The dtype of an integer expression, when it is plain to see.
    fn dtype(&self, e: &Expr) -> Option<DType> {
        match e {
            Expr::Const { ty, .. } => Some(ty.dtype),
            Expr::Var(v) => self.var_dtypes.get(v.index()).copied(),
            Expr::GroupId(_) | Expr::LocalId(_) => Some(DType::U32),
            Expr::Cast { to, .. } => Some(*to),
            Expr::Binary { a, .. } => self.dtype(a),
            _ => None,
        }
    }

    /// The range of an integer expression, when it can be bounded (and its arithmetic never
    /// wraps in its dtype).
    pub(crate) fn of(&self, e: &Expr) -> Option<Range> {
        let r = self.of_unchecked(e)?;
        let (lo, hi) = self.dtype(e)?.int_range()?;
        (r.lo >= lo && r.hi <= hi).then_some(r)
    }

    fn of_unchecked(&self, e: &Expr) -> Option<Range> {
        match e {
            Expr::Const {
                ty,
                value: tessera_ir::kernel::Scalar::Int(i),
            } if ty.lanes == 1 => Range::constant(*i),
            Expr::GroupId(a) => {
                let n = self.grid.get(usize::from(*a)).copied().unwrap_or(1);
                Range::new(0, n as i128 - 1, 1)
            }
            Expr::LocalId(_) => Range::constant(0),
            Expr::Var(v) => self.vars.get(v.index()).copied().flatten(),
            Expr::Cast { to, x } => {
                let r = self.of(x)?;
                let (lo, hi) = to.int_range()?;
                (r.lo >= lo && r.hi <= hi && *to != DType::Bool).then_some(r)
            }
            Expr::Binary { op, a, b } => {
                let (x, y) = (self.of(a)?, self.of(b)?);
                match op {
                    BinOp::Op(BinaryOp::Add) => {
                        Range::new(x.lo + y.lo, x.hi + y.hi, gcd(x.align, y.align))
                    }
                    BinOp::Op(BinaryOp::Sub) => {
                        Range::new(x.lo - y.hi, x.hi - y.lo, gcd(x.align, y.align))
                    }
                    BinOp::Op(BinaryOp::Mul) => {
                        let c = [x.lo * y.lo, x.lo * y.hi, x.hi * y.lo, x.hi * y.hi];
                        let lo = c.iter().copied().min()?;
                        let hi = c.iter().copied().max()?;
                        let align = x.align.min(LIMIT) * y.align.min(LIMIT);
                        Range::new(lo, hi, if align >= LIMIT { 1 } else { align })
                    }
                    BinOp::Op(BinaryOp::Div) if y.lo == y.hi && y.lo > 0 && x.lo >= 0 => {
                        Range::new(x.lo / y.lo, x.hi / y.lo, 1)
                    }
                    BinOp::Op(BinaryOp::Mod) if y.lo == y.hi && y.lo > 0 && x.lo >= 0 => {
                        Range::new(0, (y.lo - 1).min(x.hi), 1)
                    }
                    BinOp::Min => Range::new(x.lo.min(y.lo), x.hi.min(y.hi), gcd(x.align, y.align)),
                    BinOp::Max => Range::new(x.lo.max(y.lo), x.hi.max(y.hi), gcd(x.align, y.align)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// True when `index .. index + lanes` is always inside a buffer of `len` elements.
    pub(crate) fn in_bounds(&self, index: &Expr, lanes: u8, len: usize) -> bool {
        self.of(index)
            .is_some_and(|r| r.lo >= 0 && r.hi.saturating_add(i128::from(lanes)) <= len as i128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::kernel::parse_kernel;

    #[test]
    fn loop_ranges_round_to_the_step() {
        let k = parse_kernel(
            "kernel @k(%y: f32[1024] write) grid [8] group [1] {\n  store %y[0:i32] = 1.0:f32\n}",
        )
        .unwrap();
        let r = Ranges::new(&k);
        let i = |v| Expr::int(DType::I32, v);
        // 0..1024 step 32: at most 992, a multiple of 32.
        let l = r.loop_var(&i(0), &i(1024), 32).unwrap();
        assert_eq!((l.lo, l.hi, l.align), (0, 992, 32));
        let g = r.of(&Expr::GroupId(0)).unwrap();
        assert_eq!((g.lo, g.hi), (0, 7));
        let idx = Expr::bin(BinaryOp::Mul, Expr::GroupId(0), i(128));
        assert!(r.in_bounds(&idx, 16, 1024));
        assert!(!r.in_bounds(&idx, 16, 900));
        assert!(
            r.of(&Expr::bin(BinaryOp::Div, i(4), Expr::GroupId(0)))
                .is_none()
        );
    }
}
