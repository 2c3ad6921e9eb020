//! Value expressions: the element of a fused value at a position, built through elementwise
//! ops, views (index arithmetic) and gathers down to loads of materialized buffers.

use super::index::{Ix, IxMath, Pos};
use super::{Fail, Kb, Res};
use crate::dtype::DType;
use crate::graph::{ValueDef, ValueId};
use crate::kernel::{BinOp, Expr, Scalar, Stmt, Ty};
use crate::op::{BinaryOp, Op, VariadicOp};
use crate::shape::normalize_axis;
use crate::tensor::Tensor;

/// A constant of `ty` holding element 0 of `t` (converted to `ty`'s kind of value).
pub(super) fn const_of(t: &Tensor, ty: Ty) -> Expr {
    let value = if ty.dtype.is_float() {
        Scalar::Float(if t.is_empty() { 0.0 } else { t.get_f64(0) })
    } else if ty.dtype == DType::Bool {
        Scalar::Bool(t.get_i128(0).unwrap_or(0) != 0)
    } else {
        Scalar::Int(t.get_i128(0).unwrap_or(0))
    };
    Expr::Const { ty, value }
}

/// The zero of a type.
pub(super) fn zero(ty: Ty) -> Expr {
    let value = if ty.dtype.is_float() {
        Scalar::Float(0.0)
    } else if ty.dtype == DType::Bool {
        Scalar::Bool(false)
    } else {
        Scalar::Int(0)
    };
    Expr::Const { ty, value }
}

/// `a && b`, or `b` alone when there is no `a`.
fn and_opt(a: Option<Expr>, b: Expr) -> Expr {
    match a {
        None => b,
        Some(a) => Expr::bin(BinaryOp::And, a, b),
    }
}

/// Matching runs of axes of a reshape: `(out start, out end)` and `(from start, from end)`.
type AxisRuns = ((usize, usize), (usize, usize));

/// The runs of axes `(out range, from range)` with equal products that a reshape from
/// `from` to `out` maps onto each other, covering both shapes in order;
/// `None` when the shapes hold a 0.
fn reshape_groups(out: &[usize], from: &[usize]) -> Option<Vec<AxisRuns>> {
    if out.contains(&0) || from.contains(&0) {
        return None;
    }
    let (mut i, mut j) = (0, 0);
    let mut groups = Vec::new();
    while i < out.len() || j < from.len() {
        let (i0, j0) = (i, j);
        let (mut po, mut pf) = (1usize, 1usize);
        // At least one axis of each shape (while there are any), then the smaller product
        // grows until they meet.
        loop {
            if i < out.len() && (i == i0 || (po < pf)) {
                po = po.checked_mul(out[i])?;
                i += 1;
            } else if j < from.len() && (j == j0 || pf < po) {
                pf = pf.checked_mul(from[j])?;
                j += 1;
            } else {
                break;
            }
        }
        if po != pf {
            return None;
        }
        groups.push(((i0, i), (j0, j)));
    }
    Some(groups)
}

/// `cond ? a : b`, or `a` when there is no condition.
fn select_opt(cond: Option<Expr>, a: Expr, b: Expr) -> Expr {
    match cond {
        None => a,
        Some(c) => Expr::Select {
            cond: Box::new(c),
            a: Box::new(a),
            b: Box::new(b),
        },
    }
}

fn un(op: crate::op::UnaryOp, x: Expr) -> Expr {
    Expr::Unary { op, x: Box::new(x) }
}

impl Kb<'_> {
    /// The element(s) of `v` at `pos`, with `lanes` lanes (consecutive positions along the
    /// vectorized loop). Statements the expression needs (shared subexpressions) go to `pre`.
    pub(super) fn value(
        &mut self,
        v: ValueId,
        pos: &Pos,
        lanes: u8,
        pre: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        let ty = Ty::vector(self.dtype(v), lanes);
        if let Some(e) = self.subst.get(&v) {
            return Ok(e.clone());
        }
        if let Some((sv, buf)) = self.stash
            && sv == v
        {
            self.stash_used = true;
            let dims = self.dims(v);
            return self.load_from(buf, &dims, pos, lanes);
        }
        if let Some(e) = self.rowvals.get(&v) {
            return Ok(if lanes > 1 {
                Expr::Splat {
                    x: Box::new(e.clone()),
                    lanes,
                }
            } else {
                e.clone()
            });
        }
        if let Some(t) = self.g.constant_of(v)
            && t.len() == 1
        {
            return Ok(const_of(t, ty));
        }
        let node_id = match self.g.value(v).def {
            ValueDef::Node(n, _) if v == self.root || !self.fused.is_materialized(v) => n,
            _ => return self.load(v, pos, lanes),
        };
        let node = self.g.node(node_id);
        let out = self.dims(v);
        if let Pos::Coords(c) = pos
            && c.len() != out.len()
        {
            return Err(Fail::Internal(format!(
                "a position of rank {} for a value of shape {out:?} (declared types disagree)",
                c.len()
            )));
        }
        let input = |i: usize| -> Res<ValueId> {
            node.input(i)
                .ok_or_else(|| Fail::Internal(format!("missing operand {i}")))
        };
        let m = self.m;
        match &node.op {
            Op::Unary(op) => {
                let x = input(0)?;
                let p = m.broadcast(pos, &out, &self.dims(x));
                Ok(un(*op, self.value(x, &p, lanes, pre)?))
            }
            Op::Cast { to, .. } => {
                let x = input(0)?;
                Ok(Expr::Cast {
                    to: *to,
                    x: Box::new(self.value(x, pos, lanes, pre)?),
                })
            }
            Op::Binary(BinaryOp::PRelu) => {
                let (a, b) = self.operands2(node_id, pos, lanes, pre)?;
                // `x > 0 ? x : slope * x`, as the reference and ONNX Runtime: a NaN `x`, and
                // a zero or negative `x` against a NaN or infinite slope, take the product,
                // which carries the NaN (`inf * 0` is NaN).
                let x = self.bind(a, ty, pre);
                let pos = Expr::bin(BinaryOp::Greater, x.clone(), zero(ty));
                let scaled = Expr::bin(BinaryOp::Mul, b, x.clone());
                Ok(Expr::Select {
                    cond: Box::new(pos),
                    a: Box::new(x),
                    b: Box::new(scaled),
                })
            }
            Op::Binary(op) => {
                let (a, b) = self.operands2(node_id, pos, lanes, pre)?;
                Ok(Expr::bin(*op, a, b))
            }
            Op::Variadic(op) => {
                let bop = if *op == VariadicOp::Min {
                    BinOp::Min
                } else {
                    BinOp::Max
                };
                let mut acc: Option<Expr> = None;
                for x in node.inputs.iter().flatten() {
                    let p = m.broadcast(pos, &out, &self.dims(*x));
                    let e = self.value(*x, &p, lanes, pre)?;
                    acc = Some(match acc {
                        None => e,
                        Some(a) => Expr::binary(bop, a, e),
                    });
                }
                acc.ok_or_else(|| Fail::Internal("variadic op without operands".into()))
            }
            Op::Where {} => {
                let mut parts = Vec::new();
                for i in 0..3 {
                    let x = input(i)?;
                    let p = m.broadcast(pos, &out, &self.dims(x));
                    parts.push(self.value(x, &p, lanes, pre)?);
                }
                let (b, a, c) = (parts.pop(), parts.pop(), parts.pop());
                match (c, a, b) {
                    (Some(c), Some(a), Some(b)) => Ok(Expr::Select {
                        cond: Box::new(c),
                        a: Box::new(a),
                        b: Box::new(b),
                    }),
                    _ => Err(Fail::Internal("where needs three operands".into())),
                }
            }
            Op::Reshape { .. } | Op::Squeeze {} | Op::Unsqueeze {} | Op::Flatten { .. } => {
                let x = input(0)?;
                let (p, guard) = self.reshape_pos(pos, &out, &self.dims(x), lanes)?;
                let Some(guard) = guard else {
                    return self.value(x, &p, lanes, pre);
                };
                let mut vpre = Vec::new();
                let vector = self.value(x, &p, lanes, &mut vpre)?;
                self.lanes_under(v, pos, lanes, guard, (vpre, vector), pre)
            }
            Op::Transpose { perm } => {
                let x = input(0)?;
                let c = m.coords(pos, &out);
                let r = c.len();
                let perm: Vec<usize> = if perm.is_empty() {
                    (0..r).rev().collect()
                } else {
                    perm.iter().filter_map(|&p| normalize_axis(p, r)).collect()
                };
                let mut ic = vec![m.c(0); r];
                for (i, &p) in perm.iter().enumerate() {
                    if let (Some(slot), Some(ci)) = (ic.get_mut(p), c.get(i)) {
                        *slot = ci.clone();
                    }
                }
                self.value(x, &Pos::Coords(ic), lanes, pre)
            }
            Op::Expand {} => {
                let x = input(0)?;
                let p = m.broadcast(pos, &out, &self.dims(x));
                self.value(x, &p, lanes, pre)
            }
            Op::Slice {} => {
                let x = input(0)?;
                let xd = self.dims(x);
                let (starts, steps) = self.slice_params(node_id, &xd)?;
                let c = m.coords(pos, &out);
                let ic = c
                    .iter()
                    .enumerate()
                    .zip(starts.iter().zip(&steps))
                    .map(|((_, ci), (&st, &sp))| m.add_c(&m.mul_c(ci, sp), st))
                    .collect();
                self.value(x, &Pos::Coords(ic), lanes, pre)
            }
            Op::Pad { .. } => self.pad(node_id, pos, lanes, pre),
            Op::Concat { axis } => self.concat(node_id, *axis, pos, lanes, pre),
            Op::AsStrided {
                strides, offset, ..
            } => {
                let x = input(0)?;
                let (c, guard) = self.lane_coords(pos, &out, lanes)?;
                let mut lin = m.c(i128::from(*offset));
                for (ci, &s) in c.iter().zip(strides) {
                    lin = m.add(&lin, &m.mul_c(ci, i128::from(s)));
                }
                let Some(guard) = guard else {
                    return self.value(x, &Pos::Flat(lin), lanes, pre);
                };
                let mut vpre = Vec::new();
                let vector = self.value(x, &Pos::Flat(lin), lanes, &mut vpre)?;
                self.lanes_under(v, pos, lanes, guard, (vpre, vector), pre)
            }
            Op::Gather { axis } => self.gather(node_id, *axis, pos, lanes, pre),
            Op::GatherElements { axis } => self.gather_elements(node_id, *axis, pos, lanes, pre),
            other => Err(Fail::Internal(format!(
                "operator `{}` is not fused into kernels",
                other.name()
            ))),
        }
    }

    /// Binds an expression to a `let` variable (when it is not already a leaf) so it can be
    /// used twice.
    pub(super) fn bind(&mut self, e: Expr, ty: Ty, pre: &mut Vec<Stmt>) -> Expr {
        if matches!(e, Expr::Var(_) | Expr::Const { .. }) {
            return e;
        }
        let var = self.fresh("t", ty);
        pre.push(Stmt::Let { var, value: e });
        Expr::Var(var)
    }

    fn operands2(
        &mut self,
        node: crate::graph::NodeId,
        pos: &Pos,
        lanes: u8,
        pre: &mut Vec<Stmt>,
    ) -> Res<(Expr, Expr)> {
        let n = self.g.node(node);
        let out = self.dims(n.outputs[0]);
        let (Some(a), Some(b)) = (n.input(0), n.input(1)) else {
            return Err(Fail::Internal("binary op needs two operands".into()));
        };
        let pa = self.m.broadcast(pos, &out, &self.dims(a));
        let pb = self.m.broadcast(pos, &out, &self.dims(b));
        Ok((
            self.value(a, &pa, lanes, pre)?,
            self.value(b, &pb, lanes, pre)?,
        ))
    }

    /// A load of a materialized value (a constant zero when the buffer is empty: such a
    /// load is never selected, and must not be out of bounds).
    pub(super) fn load(&mut self, v: ValueId, pos: &Pos, lanes: u8) -> Res<Expr> {
        let dims = self.dims(v);
        let ty = Ty::vector(self.dtype(v), lanes);
        if dims.contains(&0) {
            return Ok(zero(ty));
        }
        let buf = self.param_of(v);
        self.load_from(buf, &dims, pos, lanes)
    }

    /// A load of buffer `buf`, holding a value of shape `dims`, at `pos`.
    pub(super) fn load_from(
        &mut self,
        buf: crate::kernel::BufRef,
        dims: &[usize],
        pos: &Pos,
        lanes: u8,
    ) -> Res<Expr> {
        let idx = self.m.flat(pos, dims);
        let scalar = Expr::load(buf, idx.e.clone());
        match (lanes, idx.dj) {
            (1, _) => Ok(scalar),
            (_, Some(1)) => Ok(Expr::Load {
                buf,
                index: Box::new(idx.e),
                lanes,
            }),
            (_, Some(0)) => Ok(Expr::Splat {
                x: Box::new(scalar),
                lanes,
            }),
            _ => Err(Fail::NotVector),
        }
    }

    /// Position in a reshape's input: the same flat index, keeping the last axis when both
    /// shapes end with the same extent (so a vectorized last axis stays contiguous), else,
    /// for a position given per axis, unravelled group by group where the shapes split
    /// into runs of axes with equal products (`[576, 3136]` from `[1, 64, 3, 3, 56, 56]`:
    /// `576 ↔ 1·64·3·3` and `3136 ↔ 56·56`), so each input coordinate depends on one output
    /// coordinate only. A vector along a group that does not stay in one row of its last
    /// input axis gets the guard of [`Kb::lane_coords`].
    fn reshape_pos(
        &self,
        pos: &Pos,
        out: &[usize],
        from: &[usize],
        lanes: u8,
    ) -> Res<(Pos, Option<Expr>)> {
        let m = self.m;
        if out == from {
            return Ok((pos.clone(), None));
        }
        let c = match (pos, out.last(), from.last()) {
            (Pos::Coords(c), Some(&lo), Some(&li)) if lo == li && !c.is_empty() => {
                let rows = Pos::Coords(c[..c.len() - 1].to_vec());
                let row = m.flat(&rows, &out[..out.len() - 1]);
                let mut ic = m.coords(&Pos::Flat(row), &from[..from.len() - 1]);
                ic.push(c[c.len() - 1].clone());
                return Ok((Pos::Coords(ic), None));
            }
            (Pos::Coords(c), _, _) if c.len() == out.len() => c,
            _ => return Ok((Pos::Flat(m.flat(pos, out)), None)),
        };
        let Some(groups) = reshape_groups(out, from) else {
            return Ok((Pos::Flat(m.flat(pos, out)), None));
        };
        let mut ic = Vec::with_capacity(from.len());
        let mut guard: Option<Expr> = None;
        for ((o0, o1), (f0, f1)) in groups {
            let g = m.flat(&Pos::Coords(c[o0..o1].to_vec()), &out[o0..o1]);
            let (gc, g) = self.lane_coords(&Pos::Flat(g), &from[f0..f1], lanes)?;
            ic.extend(gc);
            if let Some(g) = g {
                guard = Some(and_opt(guard, g));
            }
        }
        Ok((Pos::Coords(ic), guard))
    }

    /// First index and step per axis of a slice's input.
    fn slice_params(
        &self,
        node: crate::graph::NodeId,
        xd: &[usize],
    ) -> Res<(Vec<i128>, Vec<i128>)> {
        let n = self.g.node(node);
        let ints = |i: usize| -> Option<Vec<i64>> {
            n.input(i)
                .and_then(|v| self.g.constant_of(v))
                .and_then(|t| t.to_i64_vec())
        };
        let bad = || Fail::Internal("slice operands must be integer constants".into());
        let starts = ints(1).ok_or_else(bad)?;
        let r = xd.len();
        let axes: Vec<usize> = match ints(3) {
            Some(a) => a
                .iter()
                .map(|&a| normalize_axis(a, r).ok_or_else(bad))
                .collect::<Res<_>>()?,
            None => (0..starts.len()).collect(),
        };
        let steps = ints(4).unwrap_or_else(|| vec![1; starts.len()]);
        let mut first = vec![0i128; r];
        let mut step = vec![1i128; r];
        for (k, &a) in axes.iter().enumerate() {
            let (Some(&s0), Some(&st), Some(&d)) = (starts.get(k), steps.get(k), xd.get(a)) else {
                return Err(bad());
            };
            let d = d as i128;
            let (s, st) = (i128::from(s0), i128::from(st));
            let s = if s < 0 { s + d } else { s };
            first[a] = if st > 0 {
                s.clamp(0, d)
            } else {
                s.clamp(0, (d - 1).max(0))
            };
            step[a] = st;
        }
        Ok((first, step))
    }

    fn pad(
        &mut self,
        node: crate::graph::NodeId,
        pos: &Pos,
        lanes: u8,
        pre: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        let m = self.m;
        let n = self.g.node(node);
        let out = self.dims(n.outputs[0]);
        let x = n
            .input(0)
            .ok_or_else(|| Fail::Internal("pad needs data".into()))?;
        let xd = self.dims(x);
        let r = xd.len();
        let ty = Ty::vector(self.dtype(x), lanes);
        let ints = |i: usize| -> Option<Vec<i64>> {
            n.input(i)
                .and_then(|v| self.g.constant_of(v))
                .and_then(|t| t.to_i64_vec())
        };
        let bad = || Fail::Internal("pad operands must be constants".into());
        let pads = ints(1).ok_or_else(bad)?;
        let axes: Vec<usize> = match ints(3) {
            Some(a) => a
                .iter()
                .map(|&a| normalize_axis(a, r).ok_or_else(bad))
                .collect::<Res<_>>()?,
            None => (0..r).collect(),
        };
        let fill = match n.input(2).and_then(|v| self.g.constant_of(v)) {
            Some(t) => const_of(t, ty),
            None => zero(ty),
        };
        if xd.contains(&0) {
            return Ok(fill);
        }
        let mut begin = vec![0i128; r];
        for (k, &a) in axes.iter().enumerate() {
            begin[a] = i128::from(pads.get(k).copied().ok_or_else(bad)?);
        }
        let (c, mut guard) = self.lane_coords(pos, &out, lanes)?;
        if c.len() != r {
            return Err(Fail::Internal("pad changes the rank".into()));
        }
        let mut cond: Option<Expr> = None;
        let mut ic = Vec::with_capacity(r);
        for a in 0..r {
            let d = xd[a] as i128;
            let shifted = m.add_c(&c[a], -begin[a]);
            let Some(inside) = m.in_range(&shifted, 0, d) else {
                ic.push(shifted);
                continue;
            };
            if shifted.dj != Some(0) && lanes > 1 {
                let (x, g) = self.lane_range(shifted, d, lanes)?;
                guard = g.into_iter().fold(guard, |acc, g| Some(and_opt(acc, g)));
                ic.push(x);
                continue;
            }
            cond = Some(match cond {
                None => inside,
                Some(prev) => Expr::bin(BinaryOp::And, prev, inside),
            });
            ic.push(m.clamp(&shifted, 0, d - 1));
        }
        let Some(guard) = guard else {
            let inner = self.value(x, &Pos::Coords(ic), lanes, pre)?;
            return Ok(select_opt(cond, inner, fill));
        };
        let mut vpre = Vec::new();
        let inner = self.value(x, &Pos::Coords(ic), lanes, &mut vpre)?;
        let vector = select_opt(cond, inner, fill);
        let out_v = n.outputs[0];
        self.lanes_under(out_v, pos, lanes, guard, (vpre, vector), pre)
    }

    /// The index `x` of an axis of extent `d` that a vector of `lanes` reads with a range
    /// check (a pad), `x` stepping by 1 per lane: the in-range test is monotone along the
    /// lanes, so the first lane at or above 0 and the last below `d` put every lane inside.
    /// Returns `x` with its bounds narrowed to the axis (for one unclamped vector load) and
    /// that test as a guard, for [`Kb::lanes_under`]. `Err(NotVector)` for other lane steps,
    /// on targets without per-invocation scratch (GPUs) and when no vector fits the axis.
    fn lane_range(&mut self, x: Ix, d: i128, lanes: u8) -> Res<(Ix, Option<Expr>)> {
        let last = i128::from(lanes) - 1;
        let fits = x.lo.max(0) <= x.hi.min(d - 1) && d > last;
        if x.dj != Some(1) || !fits || !self.lane_scratch_ok(lanes) {
            return Err(Fail::NotVector);
        }
        let dt = self.m.dt;
        let ge =
            (x.lo < 0).then(|| Expr::bin(BinaryOp::GreaterOrEqual, x.e.clone(), Expr::int(dt, 0)));
        let lt =
            (x.hi >= d).then(|| Expr::bin(BinaryOp::Less, x.e.clone(), Expr::int(dt, d - last)));
        let guard = match (ge, lt) {
            (Some(a), Some(b)) => Some(Expr::bin(BinaryOp::And, a, b)),
            (a, b) => a.or(b),
        };
        Ok((IxMath::narrowed(x, 0, d - 1), guard))
    }

    /// Per-axis coordinates of `pos` in a value of shape `dims`, read by a vector of `lanes`.
    /// When `pos` is a flat index stepping by 1 per lane and the vector may cross a row of
    /// the last axis (so the coordinates lose their lane steps), the coordinates are those
    /// of a vector inside one row (the last axis stepping by 1, the others the same for
    /// every lane) and the second result is the guard that makes it so, for
    /// [`Kb::lanes_under`]: the first lane's last coordinate at most `d - lanes`.
    pub(super) fn lane_coords(
        &self,
        pos: &Pos,
        dims: &[usize],
        lanes: u8,
    ) -> Res<(Vec<Ix>, Option<Expr>)> {
        let m = self.m;
        let c = m.coords(pos, dims);
        let steps = c.iter().all(|x| x.dj.is_some());
        let (Pos::Flat(f), Some((&d, outer))) = (pos, dims.split_last()) else {
            return Ok((c, None));
        };
        if lanes < 2 || steps || f.dj != Some(1) {
            return Ok((c, None));
        }
        let d = d as i128;
        if d < i128::from(lanes) || !self.lane_scratch_ok(lanes) {
            return Err(Fail::NotVector);
        }
        let last = m.rem_c(f, d);
        let row = m.div_c(f, d);
        let guard = Expr::bin(
            BinaryOp::Less,
            last.e.clone(),
            Expr::int(m.dt, d - i128::from(lanes) + 1),
        );
        // Under the guard: the row is the same for every lane, the last coordinate steps by 1.
        let row = Ix::within(row.e, Some(0), row.lo, row.hi);
        let last = Ix::within(last.e, Some(1), last.lo.max(0), last.hi.min(d - 1));
        let mut out = m.coords(&Pos::Flat(row), outer);
        out.push(last);
        Ok((out, Some(guard)))
    }

    /// True when a vector of `lanes` may be assembled lane by lane in a scratch buffer: on
    /// CPU targets (one invocation per group, so the scratch is private), within the
    /// target's scratch bytes.
    fn lane_scratch_ok(&self, lanes: u8) -> bool {
        let used: usize = self
            .k
            .shared
            .iter()
            .map(|b| b.len * b.dtype.size_bytes())
            .sum();
        self.target.kind == crate::target::TargetKind::Cpu
            && used + usize::from(lanes) * 8 <= self.target.shared_bytes
    }

    /// The `lanes` elements of `v` at `pos` as `vector` (after its statements `vpre`) when
    /// `guard` holds, else one lane at a time: statements appended to `pre` declare a local,
    /// set it to the vector under the guard, and otherwise compute `v` at each lane's
    /// position (lane `t` of `pos` moved by its lane step times `t`) into a private scratch
    /// buffer that one vector load then reads. Returns the local.
    fn lanes_under(
        &mut self,
        v: ValueId,
        pos: &Pos,
        lanes: u8,
        guard: Expr,
        (vpre, vector): (Vec<Stmt>, Expr),
        pre: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        let m = self.m;
        let dt = self.dtype(v);
        if dt == DType::Bool {
            return Err(Fail::NotVector);
        }
        let ty = Ty::vector(dt, lanes);
        let t = self.fresh("lane", m.ty());
        let tix = m.inv(Expr::Var(t), 0, i128::from(lanes) - 1);
        let at = |x: &Ix| -> Res<Ix> {
            let d = x.dj.ok_or(Fail::NotVector)?;
            if d == 0 {
                return Ok(x.clone());
            }
            let moved = Expr::bin(BinaryOp::Add, x.e.clone(), m.mul_c(&tix, i128::from(d)).e);
            let reach = i128::from(d) * (i128::from(lanes) - 1);
            let (lo, hi) = (x.lo.min(x.lo + reach), x.hi.max(x.hi + reach));
            Ok(Ix::within(moved, Some(0), lo, hi))
        };
        let scalar_pos = match pos {
            Pos::Flat(f) => Pos::Flat(at(f)?),
            Pos::Coords(c) => Pos::Coords(c.iter().map(at).collect::<Res<_>>()?),
        };
        let mut lane = Vec::new();
        let s = self.value(v, &scalar_pos, 1, &mut lane)?;
        let name = format!("lanes{}", self.names);
        let scratch = self.k.shared_buf(name, dt, usize::from(lanes));
        lane.push(Stmt::Store {
            buf: scratch,
            index: Expr::Var(t),
            value: s,
        });
        let acc = self.fresh("v", ty);
        pre.push(Stmt::Local {
            var: acc,
            init: super::build::zero(ty),
        });
        let mut then = vpre;
        then.push(Stmt::Assign {
            var: acc,
            value: vector,
        });
        let els = vec![
            self.counted(t, 0, usize::from(lanes), lane),
            Stmt::Assign {
                var: acc,
                value: Expr::Load {
                    buf: scratch,
                    index: Box::new(Expr::int(m.dt, 0)),
                    lanes,
                },
            },
        ];
        pre.push(Stmt::If {
            cond: guard,
            then,
            els,
        });
        Ok(Expr::Var(acc))
    }

    fn concat(
        &mut self,
        node: crate::graph::NodeId,
        axis: i64,
        pos: &Pos,
        lanes: u8,
        pre: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        let m = self.m;
        let n = self.g.node(node);
        let out = self.dims(n.outputs[0]);
        let a = normalize_axis(axis, out.len())
            .ok_or_else(|| Fail::Internal("concat axis out of range".into()))?;
        let c = m.coords(pos, &out);
        // Non-empty sources with their offsets along the axis.
        let mut parts = Vec::new();
        let mut off = 0i128;
        for v in n.inputs.iter().flatten() {
            let e = self.dims(*v).get(a).copied().unwrap_or(0) as i128;
            if e > 0 && !self.dims(*v).contains(&0) {
                parts.push((*v, off, e));
            }
            off += e;
        }
        if parts.len() > 1 && c[a].dj != Some(0) && lanes > 1 {
            return Err(Fail::NotVector);
        }
        let mut acc: Option<Expr> = None;
        for &(v, o, e) in parts.iter().rev() {
            let mut ic = c.clone();
            let shifted = m.add_c(&c[a], -o);
            ic[a] = if parts.len() == 1 {
                shifted
            } else {
                m.clamp(&shifted, 0, e - 1)
            };
            let x = self.value(v, &Pos::Coords(ic), lanes, pre)?;
            acc = Some(match acc {
                None => x,
                Some(rest) => Expr::Select {
                    cond: Box::new(Expr::bin(
                        BinaryOp::Less,
                        c[a].e.clone(),
                        Expr::int(m.dt, o + e),
                    )),
                    a: Box::new(x),
                    b: Box::new(rest),
                },
            });
        }
        acc.ok_or_else(|| Fail::Internal("concat of empty sources".into()))
    }

    /// A data-dependent index (from `idx`, any integer dtype) normalized (negative counts
    /// back) and clamped into `[0, n)`, so the load it feeds is always in bounds.
    fn data_index(&mut self, idx: Expr, n: usize) -> Ix {
        let m = self.m;
        let i = m.cast(idx);
        let wrapped = Expr::Select {
            cond: Box::new(Expr::bin(BinaryOp::Less, i.clone(), Expr::int(m.dt, 0))),
            a: Box::new(Expr::bin(
                BinaryOp::Add,
                i.clone(),
                Expr::int(m.dt, n as i128),
            )),
            b: Box::new(i),
        };
        m.clamp(&Ix::new(wrapped, Some(0)), 0, n as i128 - 1)
    }

    fn gather(
        &mut self,
        node: crate::graph::NodeId,
        axis: i64,
        pos: &Pos,
        lanes: u8,
        pre: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        let m = self.m;
        let n = self.g.node(node);
        let out = self.dims(n.outputs[0]);
        let (Some(data), Some(idx)) = (n.input(0), n.input(1)) else {
            return Err(Fail::Internal("gather needs data and indices".into()));
        };
        let dd = self.dims(data);
        let q = self.dims(idx).len();
        let a = normalize_axis(axis, dd.len())
            .ok_or_else(|| Fail::Internal("gather axis out of range".into()))?;
        let c = m.coords(pos, &out);
        let ipos: Vec<Ix> = c
            .get(a..a + q)
            .ok_or_else(|| Fail::Internal("gather output rank does not fit its operands".into()))?
            .to_vec();
        if lanes > 1 && ipos.iter().any(|i| i.dj != Some(0)) {
            return Err(Fail::NotVector);
        }
        let iv = self.value(idx, &Pos::Coords(ipos), 1, pre)?;
        let t = self.data_index(iv, dd[a]);
        let mut dc: Vec<Ix> = c[..a].to_vec();
        dc.push(t);
        dc.extend_from_slice(&c[a + q..]);
        self.value(data, &Pos::Coords(dc), lanes, pre)
    }

    fn gather_elements(
        &mut self,
        node: crate::graph::NodeId,
        axis: i64,
        pos: &Pos,
        lanes: u8,
        pre: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        if lanes > 1 {
            return Err(Fail::NotVector);
        }
        let m = self.m;
        let n = self.g.node(node);
        let out = self.dims(n.outputs[0]);
        let (Some(data), Some(idx)) = (n.input(0), n.input(1)) else {
            return Err(Fail::Internal(
                "gather_elements needs data and indices".into(),
            ));
        };
        let dd = self.dims(data);
        let a = normalize_axis(axis, dd.len())
            .ok_or_else(|| Fail::Internal("gather_elements axis out of range".into()))?;
        let iv = self.value(idx, pos, 1, pre)?;
        let mut dc = m.coords(pos, &out);
        let t = self.data_index(iv, dd[a]);
        let slot = dc
            .get_mut(a)
            .ok_or_else(|| Fail::Internal("gather_elements ranks differ".into()))?;
        *slot = t;
        self.value(data, &Pos::Coords(dc), 1, pre)
    }
}
