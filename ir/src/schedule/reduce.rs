//! Heavy nodes inside a kernel: the accumulation loops of reductions, argmax/argmin and
//! matmul for one output position (or a vector of consecutive ones), and how partial
//! accumulators combine.

use super::build::zero;
use super::index::{Ix, Pos};
use super::{Fail, Kb, Res};
use crate::dtype::DType;
use crate::graph::NodeId;
use crate::kernel::{BinOp, Expr, LaneReduce, LoopKind, Scalar, Stmt, Ty};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::shape::normalize_axis;

/// What a heavy node computes, with its resolved axes.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Heavy {
    /// Sum/max/min/prod over the axes flagged in `mask`.
    Reduce {
        /// Which reduction.
        kind: ReduceOp,
        /// One flag per input axis.
        mask: Vec<bool>,
    },
    /// Index of the extreme along `axis`.
    Arg {
        /// The axis.
        axis: usize,
        /// Maximum (true) or minimum.
        largest: bool,
        /// Ties go to the last index.
        last: bool,
    },
    /// NumPy matmul.
    MatMul,
}

impl Heavy {
    /// True when the reduced axes are the input's trailing axes (contiguous in memory).
    pub(super) fn trailing(&self) -> bool {
        match self {
            Heavy::Reduce { mask, .. } => {
                let first = mask.iter().position(|&m| m).unwrap_or(mask.len());
                mask[first..].iter().all(|&m| m) && first < mask.len()
            }
            _ => false,
        }
    }
}

/// The identity of a reduction for a dtype.
pub(super) fn init(kind: ReduceOp, ty: Ty) -> Expr {
    let f = ty.dtype.is_float();
    let (lo, hi) = ty.dtype.int_range().unwrap_or((0, 1));
    let value = match kind {
        ReduceOp::Max if f => Scalar::Float(f64::NEG_INFINITY),
        ReduceOp::Min if f => Scalar::Float(f64::INFINITY),
        ReduceOp::Max => Scalar::Int(lo),
        ReduceOp::Min => Scalar::Int(hi),
        ReduceOp::Prod if f => Scalar::Float(1.0),
        ReduceOp::Prod => Scalar::Int(1),
        _ => return zero(ty),
    };
    Expr::Const { ty, value }
}

/// The dtype an accumulator of `dt` values is kept in: f16 and bf16 sums, products and
/// contractions accumulate in f32 (rounding every partial sum to 11 or 8 bits loses the
/// result); every other dtype accumulates in itself.
pub(crate) fn acc_dtype(dt: DType) -> DType {
    match dt {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

/// `x` converted from `from` to `to` (no conversion when they are equal).
pub(super) fn convert(x: Expr, from: DType, to: DType) -> Expr {
    if from == to {
        x
    } else {
        Expr::Cast { to, x: Box::new(x) }
    }
}

/// `acc ⊕ x` for a reduction.
pub(super) fn combine(kind: ReduceOp, acc: Expr, x: Expr) -> Expr {
    match kind {
        ReduceOp::Max => Expr::binary(BinOp::Max, acc, x),
        ReduceOp::Min => Expr::binary(BinOp::Min, acc, x),
        ReduceOp::Prod => Expr::bin(BinaryOp::Mul, acc, x),
        _ => Expr::bin(BinaryOp::Add, acc, x),
    }
}

/// The lane reduction matching a reduction.
pub(super) fn lane_op(kind: ReduceOp) -> LaneReduce {
    match kind {
        ReduceOp::Max => LaneReduce::Max,
        ReduceOp::Min => LaneReduce::Min,
        ReduceOp::Prod => LaneReduce::Mul,
        _ => LaneReduce::Add,
    }
}

/// True when candidate `(bv, bi)` beats accumulator `(av, ai)` of an argmax/argmin: an
/// empty accumulator (`ai < 0`) always loses; NaN is the extreme; ties (and NaN against NaN)
/// go to the lower index, or the higher one with `last`. Associative and commutative, so
/// serial scans and tree reductions agree.
pub(super) fn arg_wins(
    dt: DType,
    (av, ai): (Expr, Expr),
    (bv, bi): (Expr, Expr),
    largest: bool,
    last: bool,
) -> Expr {
    let and = |a, b| Expr::bin(BinaryOp::And, a, b);
    let or = |a, b| Expr::bin(BinaryOp::Or, a, b);
    let not = |a| Expr::Unary {
        op: UnaryOp::Not,
        x: Box::new(a),
    };
    let cmp = if largest {
        BinaryOp::Greater
    } else {
        BinaryOp::Less
    };
    let strictly = Expr::bin(cmp, bv.clone(), av.clone());
    let equal = Expr::bin(BinaryOp::Equal, bv.clone(), av.clone());
    let (better, tie) = if dt.is_float() {
        let an = Expr::Unary {
            op: UnaryOp::IsNaN,
            x: Box::new(av),
        };
        let bn = Expr::Unary {
            op: UnaryOp::IsNaN,
            x: Box::new(bv),
        };
        let better = or(and(bn.clone(), not(an.clone())), strictly);
        (better, or(equal, and(an, bn)))
    } else {
        (strictly, equal)
    };
    let order = Expr::bin(
        if last {
            BinaryOp::Greater
        } else {
            BinaryOp::Less
        },
        bi.clone(),
        ai.clone(),
    );
    let empty = Expr::bin(BinaryOp::Less, ai, Expr::int(DType::I64, 0));
    let has = Expr::bin(BinaryOp::GreaterOrEqual, bi, Expr::int(DType::I64, 0));
    or(empty, and(has, or(better, and(tie, order))))
}

impl Kb<'_> {
    /// Reads a heavy node's resolved parameters.
    pub(super) fn heavy_of(&self, h: NodeId) -> Res<Heavy> {
        let n = self.g.node(h);
        let x = n
            .input(0)
            .ok_or_else(|| Fail::Internal("heavy node without input".into()))?;
        let r = self.dims(x).len();
        match &n.op {
            Op::Reduce { kind, .. } => {
                let axes = n
                    .input(1)
                    .and_then(|v| self.g.constant_of(v))
                    .map(|t| t.to_i64_vec().unwrap_or_default())
                    .unwrap_or_default();
                let mut mask = vec![axes.is_empty(); r];
                for a in axes {
                    let a = normalize_axis(a, r)
                        .ok_or_else(|| Fail::Internal("axis out of range".into()))?;
                    mask[a] = true;
                }
                Ok(Heavy::Reduce { kind: *kind, mask })
            }
            Op::ArgMax {
                axis,
                select_last_index,
                ..
            }
            | Op::ArgMin {
                axis,
                select_last_index,
                ..
            } => Ok(Heavy::Arg {
                axis: normalize_axis(*axis, r)
                    .ok_or_else(|| Fail::Internal("axis out of range".into()))?,
                largest: matches!(n.op, Op::ArgMax { .. }),
                last: *select_last_index,
            }),
            Op::MatMul {} => Ok(Heavy::MatMul),
            other => Err(Fail::Internal(format!(
                "`{}` is not a heavy node",
                other.name()
            ))),
        }
    }

    /// The input coordinates of an output position of a reduction, with `red` (one index per
    /// reduced axis) filling the reduced axes.
    pub(super) fn reduce_input_coords(
        &self,
        h: NodeId,
        mask: &[bool],
        pos: &Pos,
        red: &[Ix],
    ) -> Vec<Ix> {
        let n = self.g.node(h);
        let out = self.dims(n.outputs[0]);
        let oc = self.m.coords(pos, &out);
        let keep = oc.len() == mask.len();
        let (mut ko, mut kr) = (0, 0);
        let mut ic = Vec::with_capacity(mask.len());
        for (a, &m) in mask.iter().enumerate() {
            if m {
                ic.push(red.get(kr).cloned().unwrap_or_else(|| self.m.c(0)));
                kr += 1;
            } else {
                let i = if keep { a } else { ko };
                ic.push(oc.get(i).cloned().unwrap_or_else(|| self.m.c(0)));
                ko += 1;
            }
        }
        ic
    }

    /// Emits the accumulation of heavy node `h` for the output(s) at `pos` into `out` and
    /// returns the result (with `lanes` lanes).
    pub(super) fn accumulate(
        &mut self,
        h: NodeId,
        pos: &Pos,
        lanes: u8,
        out: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        match self.heavy_of(h)? {
            Heavy::Reduce { kind, mask } => {
                let x = self.input_of(h, 0)?;
                let xd = self.dims(x);
                let dt = self.dtype(x);
                let acc_dt = acc_dtype(dt);
                let ty = Ty::vector(acc_dt, lanes);
                let red: Vec<usize> = xd
                    .iter()
                    .zip(&mask)
                    .filter(|(_, m)| **m)
                    .map(|(d, _)| *d)
                    .collect();
                let k_total: usize = red.iter().product();
                let acc = self.fresh("acc", ty);
                out.push(Stmt::Local {
                    var: acc,
                    init: init(kind, ty),
                });
                let mut body = Vec::new();
                let k = self.fresh("k", self.m.ty());
                let rc = self.m.coords(
                    &Pos::Flat(self.m.inv(Expr::Var(k), 0, k_total as i128 - 1)),
                    &red,
                );
                let ic = self.reduce_input_coords(h, &mask, pos, &rc);
                let xv = self.value(x, &Pos::Coords(ic), lanes, &mut body)?;
                body.push(Stmt::Assign {
                    var: acc,
                    value: combine(kind, Expr::Var(acc), convert(xv, dt, acc_dt)),
                });
                out.push(self.counted(k, 0, k_total, body));
                Ok(convert(Expr::Var(acc), acc_dt, dt))
            }
            Heavy::Arg {
                axis,
                largest,
                last,
            } => {
                if lanes > 1 {
                    return Err(Fail::NotVector);
                }
                let x = self.input_of(h, 0)?;
                let dt = self.dtype(x);
                let kn = self.dims(x).get(axis).copied().unwrap_or(0);
                let best = self.fresh("best", Ty::scalar(dt));
                let bi = self.fresh("besti", Ty::scalar(DType::I64));
                out.push(Stmt::Local {
                    var: best,
                    init: zero(Ty::scalar(dt)),
                });
                out.push(Stmt::Local {
                    var: bi,
                    init: Expr::int(DType::I64, -1),
                });
                let k = self.fresh("k", self.m.ty());
                let mut mask = vec![false; self.dims(x).len()];
                mask[axis] = true;
                let ic = self.reduce_input_coords(
                    h,
                    &mask,
                    pos,
                    &[self.m.inv(Expr::Var(k), 0, kn as i128 - 1)],
                );
                let mut body = Vec::new();
                let xv = self.value(x, &Pos::Coords(ic), 1, &mut body)?;
                let xv = self.bind(xv, Ty::scalar(dt), &mut body);
                let ki = Expr::Cast {
                    to: DType::I64,
                    x: Box::new(Expr::Var(k)),
                };
                let wins = arg_wins(
                    dt,
                    (Expr::Var(best), Expr::Var(bi)),
                    (xv.clone(), ki.clone()),
                    largest,
                    last,
                );
                let w = self.bind(wins, Ty::scalar(DType::Bool), &mut body);
                body.push(Stmt::Assign {
                    var: best,
                    value: select(w.clone(), xv, Expr::Var(best)),
                });
                body.push(Stmt::Assign {
                    var: bi,
                    value: select(w, ki, Expr::Var(bi)),
                });
                out.push(self.counted(k, 0, kn, body));
                Ok(Expr::binary(
                    BinOp::Max,
                    Expr::Var(bi),
                    Expr::int(DType::I64, 0),
                ))
            }
            Heavy::MatMul => self.matmul(h, pos, lanes, out),
        }
    }

    /// A scalar-output reduction over trailing axes with a vectorized inner loop (vector
    /// accumulator, lane reduction, scalar tail). `Err(NotVector)` when the prologue cannot
    /// be vectorized.
    pub(super) fn accumulate_inner_vector(
        &mut self,
        h: NodeId,
        pos: &Pos,
        lanes: u8,
        out: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        let heavy = self.heavy_of(h)?;
        let trailing = heavy.trailing();
        let Heavy::Reduce { kind, mask } = heavy else {
            return Err(Fail::NotVector);
        };
        if !trailing {
            return Err(Fail::NotVector);
        }
        let x = self.input_of(h, 0)?;
        let xd = self.dims(x);
        let dt = self.dtype(x);
        let k_total: usize = xd
            .iter()
            .zip(&mask)
            .filter(|(_, m)| **m)
            .map(|(d, _)| *d)
            .product();
        let kv = k_total - k_total % usize::from(lanes);
        if kv == 0 || lanes < 2 {
            return Err(Fail::NotVector);
        }
        let outd = self.dims(self.g.node(h).outputs[0]);
        let base = self.m.mul_c(&self.m.flat(pos, &outd), k_total as i128);
        let acc_dt = acc_dtype(dt);
        let vty = Ty::vector(acc_dt, lanes);
        let vacc = self.fresh("vacc", vty);
        out.push(Stmt::Local {
            var: vacc,
            init: init(kind, vty),
        });
        let k = self.fresh("k", self.m.ty());
        let mut body = Vec::new();
        let at = self.inner_pos(
            h,
            &mask,
            pos,
            &base,
            Ix::within(Expr::Var(k), Some(1), 0, kv as i128 - 1),
        );
        let xv = self.value(x, &at, lanes, &mut body)?;
        body.push(Stmt::Assign {
            var: vacc,
            value: combine(kind, Expr::Var(vacc), convert(xv, dt, acc_dt)),
        });
        out.push(Stmt::Loop {
            var: k,
            start: Expr::int(self.m.dt, 0),
            end: Expr::int(self.m.dt, kv as i128),
            step: u32::from(lanes),
            kind: LoopKind::Vectorize(lanes),
            body,
        });
        let acc = self.fresh("acc", Ty::scalar(acc_dt));
        out.push(Stmt::Local {
            var: acc,
            init: Expr::ReduceLanes {
                op: lane_op(kind),
                x: Box::new(Expr::Var(vacc)),
            },
        });
        let kt = self.fresh("k", self.m.ty());
        let mut tail = Vec::new();
        let at = self.inner_pos(
            h,
            &mask,
            pos,
            &base,
            self.m.inv(Expr::Var(kt), kv as i128, k_total as i128 - 1),
        );
        let xv = self.value(x, &at, 1, &mut tail)?;
        tail.push(Stmt::Assign {
            var: acc,
            value: combine(kind, Expr::Var(acc), convert(xv, dt, acc_dt)),
        });
        out.push(self.counted(kt, kv, k_total, tail));
        Ok(convert(Expr::Var(acc), acc_dt, dt))
    }

    /// The input position of reduced element `k` of a trailing reduction: per-axis indices
    /// when one axis is reduced (so broadcast operands keep their lane step), else the flat
    /// index `base + k`.
    fn inner_pos(&self, h: NodeId, mask: &[bool], pos: &Pos, base: &Ix, k: Ix) -> Pos {
        if mask.iter().filter(|&&m| m).count() == 1 {
            Pos::Coords(self.reduce_input_coords(h, mask, pos, &[k]))
        } else {
            Pos::Flat(self.m.add(base, &k))
        }
    }

    fn matmul(&mut self, h: NodeId, pos: &Pos, lanes: u8, out: &mut Vec<Stmt>) -> Res<Expr> {
        let m = self.m;
        let (a, b) = (self.input_of(h, 0)?, self.input_of(h, 1)?);
        let (ad, bd) = (self.dims(a), self.dims(b));
        let outd = self.dims(self.g.node(h).outputs[0]);
        let mut oc = m.coords(pos, &outd);
        let col = if bd.len() > 1 { oc.pop() } else { None };
        let row = if ad.len() > 1 { oc.pop() } else { None };
        let batch = oc;
        let kn = ad.last().copied().unwrap_or(0);
        let dt = self.dtype(a);
        let acc_dt = acc_dtype(dt);
        let ty = Ty::vector(acc_dt, lanes);
        let acc = self.fresh("acc", ty);
        out.push(Stmt::Local {
            var: acc,
            init: zero(ty),
        });
        let k = self.fresh("k", m.ty());
        let kix = m.inv(Expr::Var(k), 0, kn as i128 - 1);
        let mut ac = self.operand_batch(&batch, &ad);
        ac.extend(row);
        ac.push(kix.clone());
        let mut bc = self.operand_batch(&batch, &bd);
        bc.push(kix);
        bc.extend(col);
        let mut body = Vec::new();
        let av = convert(
            self.value(a, &Pos::Coords(ac), lanes, &mut body)?,
            dt,
            acc_dt,
        );
        let bv = convert(
            self.value(b, &Pos::Coords(bc), lanes, &mut body)?,
            dt,
            acc_dt,
        );
        let next = if dt.is_float() && self.target.has_fma {
            Expr::Fma {
                a: Box::new(av),
                b: Box::new(bv),
                c: Box::new(Expr::Var(acc)),
            }
        } else {
            Expr::bin(
                BinaryOp::Add,
                Expr::Var(acc),
                Expr::bin(BinaryOp::Mul, av, bv),
            )
        };
        body.push(Stmt::Assign {
            var: acc,
            value: next,
        });
        out.push(self.counted(k, 0, kn, body));
        Ok(convert(Expr::Var(acc), acc_dt, dt))
    }

    /// The batch indices of a matmul operand of shape `d` for output batch indices `batch`
    /// (right-aligned broadcasting; size-1 dims read index 0).
    pub(super) fn operand_batch(&self, batch: &[Ix], d: &[usize]) -> Vec<Ix> {
        let nb = d.len().saturating_sub(2);
        let skip = batch.len().saturating_sub(nb);
        (0..nb)
            .map(|i| {
                if d[i] == 1 {
                    self.m.c(0)
                } else {
                    batch.get(i + skip).cloned().unwrap_or_else(|| self.m.c(0))
                }
            })
            .collect()
    }

    /// A serial loop `var = start to end` with constant bounds.
    pub(super) fn counted(
        &self,
        var: crate::kernel::VarId,
        start: usize,
        end: usize,
        body: Vec<Stmt>,
    ) -> Stmt {
        Stmt::Loop {
            var,
            start: Expr::int(self.m.dt, start as i128),
            end: Expr::int(self.m.dt, end as i128),
            step: 1,
            kind: LoopKind::Serial,
            body,
        }
    }
}

/// `cond ? a : b`.
pub(super) fn select(cond: Expr, a: Expr, b: Expr) -> Expr {
    Expr::Select {
        cond: Box::new(cond),
        a: Box::new(a),
        b: Box::new(b),
    }
}
