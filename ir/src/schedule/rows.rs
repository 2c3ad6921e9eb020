//! Row kernels ([`GroupKind::Rows`](crate::fusion::GroupKind::Rows)): per row (the reduced
//! trailing axes of the group's row reductions), the reductions one after another, the
//! per-row values derived from them, then the root over the row's elements.
//!
//! **CPU**: chunks of rows; per row each reduction runs [`ROW_ACCUMULATORS`] vector
//! accumulators over the row, a lane reduction and a scalar tail (a serial loop when its
//! prologue does not vectorize), its result a scalar `let` that later code splats; the root
//! is a vector loop over the row plus a scalar tail, so the row is read again from L1/L2.
//! When the last reduction's input is also read by the root (softmax's `exp(x - max)`), its
//! pass stores that value into the output row and the root's pass reads it back; and when
//! the first reduction is a max or min (softmax's max), that same pass also reduces the
//! *next* row's input (row `min(row + 1, rows - 1)`), so each row is read from memory once,
//! by the pass that also does its heavy arithmetic, instead of by a max pass that leaves the
//! core idle while it waits on memory (only each chunk's first row gets a max pass of its own).
//! **GPU**: one workgroup per row (a grid-stride loop over rows): each reduction accumulates
//! a strided share per invocation, combines in registers with a `shuffle_xor` butterfly
//! where the target has subgroup operations, then through a workgroup-shared tree; every
//! invocation reads the result back (a broadcast through shared memory) and the root's
//! elements are again split across the workgroup.

use super::index::{Ix, Pos};
use super::reduce::{acc_dtype, combine, convert, init, lane_op};
use super::{Fail, Kb, Res};
use crate::dtype::DType;
use crate::fusion::{NodeClass, classify, row_reduction};
use crate::graph::{NodeId, ValueDef, ValueId};
use crate::kernel::{Access, BufRef, Expr, LoopKind, Stmt, Ty};
use crate::op::{BinaryOp, Op, ReduceOp};
use std::collections::{HashMap, HashSet};

/// Vector accumulators per row reduction on CPU targets.
pub(super) const ROW_ACCUMULATORS: usize = 4;

/// What one row kernel computes.
pub(super) struct RowJob {
    /// The stored value (shape `S` or `P`).
    pub out: ValueId,
    /// Its buffer.
    pub out_buf: BufRef,
    /// The rows' shape `S` (the reductions' input shape).
    pub s: Vec<usize>,
    /// The first reduced axis.
    pub first: usize,
    /// Number of rows.
    pub rows: usize,
    /// Elements per row.
    pub k: usize,
    /// True when the root has shape `S` (stored per element), false for `P` (once per row).
    pub per_element: bool,
    /// The reductions and the elementwise `P`-shaped nodes that depend on them, in
    /// topological order: each is computed once per row.
    pub stages: Vec<NodeId>,
    /// Every node that depends on a reduction (each reads values at its own row).
    pub dep: HashSet<NodeId>,
}

impl RowJob {
    /// The job of a rows group, or an internal failure when the group is not one.
    pub(super) fn new(
        g: &crate::graph::Graph,
        nodes: &[NodeId],
        out: ValueId,
        out_buf: BufRef,
    ) -> Res<RowJob> {
        let bad = |m: &str| Fail::Internal(format!("rows group: {m}"));
        let inside: HashSet<NodeId> = nodes.iter().copied().collect();
        let mut dep: HashSet<NodeId> = HashSet::new();
        let mut shapes = None;
        let mut stages = Vec::new();
        let root = match g.value(out).def {
            ValueDef::Node(n, _) => n,
            _ => return Err(bad("root is not a node")),
        };
        for &n in nodes {
            let node = g.node(n);
            let reads_dep = node.inputs.iter().flatten().any(|v| {
                matches!(g.value(*v).def, ValueDef::Node(p, _) if inside.contains(&p) && dep.contains(&p))
            });
            if classify(g, n) == NodeClass::Reduce {
                let sp = row_reduction(g, n).ok_or_else(|| bad("not a row reduction"))?;
                if shapes.get_or_insert_with(|| sp.clone()) != &sp {
                    return Err(bad("reductions of different shapes"));
                }
                dep.insert(n);
                // Every reduction is a stage, the root too (a chain of row reductions whose
                // last one is the group's result): the root's store then reads its row value.
                stages.push(n);
            } else if reads_dep {
                dep.insert(n);
                let shape = g.value(node.outputs[0]).ty.shape.as_static();
                let p = shapes.as_ref().map(|(_, p)| p);
                if n != root && shape.as_ref() == p {
                    stages.push(n);
                }
            }
        }
        let (s, p) = shapes.ok_or_else(|| bad("no reduction"))?;
        // The first reduced axis of extent above 1 (earlier size-1 axes change nothing).
        let first = p
            .iter()
            .zip(&s)
            .position(|(a, b)| a != b)
            .unwrap_or(s.len());
        let rows: usize = s[..first].iter().product();
        let k: usize = s[first..].iter().product();
        let od = g.value(out).ty.shape.as_static().unwrap_or_default();
        let per_element = od == s;
        if !per_element && od != p {
            return Err(bad("root shape is neither the rows' nor the reductions'"));
        }
        Ok(RowJob {
            out,
            out_buf,
            s,
            first,
            rows,
            k,
            per_element,
            stages,
            dep,
        })
    }
}

impl Kb<'_> {
    /// The position of row `row` in a `P`-shaped value: the outer coordinates, zeros after.
    fn row_pos(&self, job: &RowJob, row: &Ix) -> Pos {
        let m = self.m;
        let mut c = m.coords(&Pos::Flat(row.clone()), &job.s[..job.first]);
        c.extend((job.first..job.s.len()).map(|_| m.c(0)));
        Pos::Coords(c)
    }

    /// The position of element `j` of row `row` in an `S`-shaped value: per-axis indices
    /// when one axis is reduced (so broadcast operands keep their lane step), else flat.
    fn row_elem(&self, job: &RowJob, row: &Ix, j: Ix) -> Pos {
        let m = self.m;
        if job.first + 1 == job.s.len() {
            let mut c = m.coords(&Pos::Flat(row.clone()), &job.s[..job.first]);
            c.push(j);
            Pos::Coords(c)
        } else {
            Pos::Flat(m.add(&m.mul_c(row, job.k as i128), &j))
        }
    }

    /// Reduction `h` over a row with [`ROW_ACCUMULATORS`] vector accumulators (independent
    /// add or max chains, so the loop is not bound by one chain's latency), combined
    /// pairwise, then a one-vector loop, the lane reduction and a scalar tail.
    /// `Err(NotVector)` when the row is shorter than one unrolled step or the prologue does
    /// not vectorize.
    fn row_reduce_unrolled(
        &mut self,
        job: &RowJob,
        h: NodeId,
        row: &Ix,
        lanes: u8,
        out: &mut Vec<Stmt>,
    ) -> Res<Expr> {
        let m = self.m;
        let kind = self.row_kind(h)?;
        let x = self.input_of(h, 0)?;
        let dt = self.dtype(x);
        let acc_dt = acc_dtype(dt);
        let vty = Ty::vector(acc_dt, lanes);
        let l = usize::from(lanes);
        let step = l * ROW_ACCUMULATORS;
        let ku = job.k - job.k % step;
        let kv = job.k - job.k % l;
        if ku == 0 || lanes < 2 {
            return Err(Fail::NotVector);
        }
        let vaccs: Vec<_> = (0..ROW_ACCUMULATORS)
            .map(|_| self.fresh("vacc", vty))
            .collect();
        for &v in &vaccs {
            out.push(Stmt::Local {
                var: v,
                init: init(kind, vty),
            });
        }
        let j = self.fresh("k", m.ty());
        let jx = Ix::within(Expr::Var(j), Some(1), 0, (ku - step + l - 1) as i128);
        let mut body = Vec::new();
        for (u, &v) in vaccs.iter().enumerate() {
            let pos = self.row_elem(job, row, m.add_c(&jx, (u * l) as i128));
            let xv = self.value(x, &pos, lanes, &mut body)?;
            body.push(Stmt::Assign {
                var: v,
                value: combine(kind, Expr::Var(v), convert(xv, dt, acc_dt)),
            });
        }
        out.push(Stmt::Loop {
            var: j,
            start: Expr::int(m.dt, 0),
            end: Expr::int(m.dt, ku as i128),
            step: u32::try_from(step).map_err(|_| Fail::Internal("step too large".into()))?,
            kind: LoopKind::Serial,
            body,
        });
        // Pairwise: (v0 ⊕ v1) ⊕ (v2 ⊕ v3).
        let mut live: Vec<Expr> = vaccs.iter().map(|&v| Expr::Var(v)).collect();
        while live.len() > 1 {
            live = live
                .chunks(2)
                .filter_map(|p| p.iter().cloned().reduce(|a, b| combine(kind, a, b)))
                .collect();
        }
        let v = self.fresh("vacc", vty);
        out.push(Stmt::Local {
            var: v,
            init: live.pop().unwrap_or_else(|| init(kind, vty)),
        });
        if ku < kv {
            let j = self.fresh("k", m.ty());
            let pos = self.row_elem(
                job,
                row,
                Ix::within(Expr::Var(j), Some(1), ku as i128, kv as i128 - 1),
            );
            let mut body = Vec::new();
            let xv = self.value(x, &pos, lanes, &mut body)?;
            body.push(Stmt::Assign {
                var: v,
                value: combine(kind, Expr::Var(v), convert(xv, dt, acc_dt)),
            });
            out.push(self.loop_stmt(
                j,
                Expr::int(m.dt, ku as i128),
                Expr::int(m.dt, kv as i128),
                u32::from(lanes),
                LoopKind::Vectorize(lanes),
                body,
            ));
        }
        let acc = self.fresh("acc", Ty::scalar(acc_dt));
        out.push(Stmt::Local {
            var: acc,
            init: Expr::ReduceLanes {
                op: lane_op(kind),
                x: Box::new(Expr::Var(v)),
            },
        });
        if kv < job.k {
            let j = self.fresh("k", m.ty());
            let pos = self.row_elem(job, row, m.inv(Expr::Var(j), kv as i128, job.k as i128 - 1));
            let mut body = Vec::new();
            let xv = self.value(x, &pos, 1, &mut body)?;
            body.push(Stmt::Assign {
                var: acc,
                value: combine(kind, Expr::Var(acc), convert(xv, dt, acc_dt)),
            });
            out.push(self.counted(j, kv, job.k, body));
        }
        Ok(convert(Expr::Var(acc), acc_dt, dt))
    }

    /// The reduction kind of a row reduction node.
    fn row_kind(&self, h: NodeId) -> Res<ReduceOp> {
        match &self.g.node(h).op {
            Op::Reduce { kind, .. } => Ok(*kind),
            other => Err(Fail::Internal(format!(
                "`{}` is not a row reduction",
                other.name()
            ))),
        }
    }

    /// Binds the per-row value of stage `n` (already computed as `e`) for later reads.
    fn set_row_value(&mut self, n: NodeId, e: Expr, out: &mut Vec<Stmt>) {
        let v = self.g.node(n).outputs[0];
        let e = self.bind(e, Ty::scalar(self.dtype(v)), out);
        self.rowvals.insert(v, e);
    }

    /// The CPU row kernel (see the module docs). When the last reduction's input is a value
    /// computed from earlier reductions (softmax's `exp(x - max)`) of the output's dtype and
    /// the root reads it too, the reduction's pass stores it into the output row and the
    /// root's pass reads it back from there (still in cache) instead of computing it again.
    pub(super) fn cpu_row_kernel(&mut self, job: &RowJob) -> Res<Vec<Stmt>> {
        if let Ok(body) = self.attempt(|kb| kb.cpu_row_body(job, true)) {
            return Ok(body);
        }
        self.stash = None;
        self.rowvals.clear();
        self.cpu_row_body(job, false)
    }

    /// The value the last reduction accumulates when it can be kept in the output row.
    fn stash_candidate(&self, job: &RowJob) -> Option<(NodeId, ValueId)> {
        let h = *job
            .stages
            .iter()
            .rev()
            .find(|&&n| classify(self.g, n) == NodeClass::Reduce)?;
        let e = self.g.node(h).input(0)?;
        let ValueDef::Node(p, _) = self.g.value(e).def else {
            return None;
        };
        let ok = job.per_element
            && job.dep.contains(&p)
            && !self.fused.is_materialized(e)
            && self.dtype(e) == self.dtype(job.out)
            && self.dims(e) == job.s;
        ok.then_some((h, e))
    }

    /// Reduction `h` of value `e` over the row, storing each `e` into the output row. With
    /// `ahead` (a reduction kind, its input and the row to read), the same sweep also
    /// reduces that input over that row (the first reduction of the next row, see
    /// [`Self::lookahead_candidate`]): its result is the second value returned.
    fn stash_stage(
        &mut self,
        job: &RowJob,
        (h, e): (NodeId, ValueId),
        row: &Ix,
        lanes: u8,
        ahead: Option<(ReduceOp, ValueId, &Ix)>,
        out: &mut Vec<Stmt>,
    ) -> Res<(Expr, Option<Expr>)> {
        let m = self.m;
        let kind = self.row_kind(h)?;
        let dt = self.dtype(e);
        let acc_dt = acc_dtype(dt);
        let base = m.mul_c(row, job.k as i128);
        let kv = if lanes > 1 {
            job.k - job.k % usize::from(lanes)
        } else {
            0
        };
        let pass = |kb: &mut Self, lanes: u8, lo: usize, hi: usize, acc, next| -> Res<Stmt> {
            let j = kb.fresh("j", m.ty());
            let dj = Some(if lanes > 1 { 1 } else { 0 });
            let jx = Ix::within(Expr::Var(j), dj, lo as i128, hi as i128 - 1);
            let pos = kb.row_elem(job, row, jx.clone());
            let mut body = Vec::new();
            let t = kb.value(e, &pos, lanes, &mut body)?;
            let t = kb.bind(t, Ty::vector(dt, lanes), &mut body);
            let flat = m
                .add(&base, &m.inv(Expr::Var(j), lo as i128, hi as i128 - 1))
                .e;
            body.push(Stmt::Store {
                buf: job.out_buf,
                index: flat,
                value: t.clone(),
            });
            body.push(Stmt::Assign {
                var: acc,
                value: combine(kind, Expr::Var(acc), convert(t, dt, acc_dt)),
            });
            if let (Some((nk, x, nrow)), Some(nacc)) = (ahead, next) {
                let npos = kb.row_elem(job, nrow, jx);
                let xd = kb.dtype(x);
                let xv = kb.value(x, &npos, lanes, &mut body)?;
                body.push(Stmt::Assign {
                    var: nacc,
                    value: combine(nk, Expr::Var(nacc), convert(xv, xd, acc_dtype(xd))),
                });
            }
            let kind = LoopKind::for_lanes(lanes);
            Ok(kb.loop_stmt(
                j,
                Expr::int(m.dt, lo as i128),
                Expr::int(m.dt, hi as i128),
                u32::from(lanes),
                kind,
                body,
            ))
        };
        // The accumulator type of the look-ahead reduction.
        let ahead_dt = ahead.map(|(nk, x, _)| (nk, self.dtype(x), acc_dtype(self.dtype(x))));
        let acc = self.fresh("acc", Ty::scalar(acc_dt));
        let nacc = ahead_dt.map(|(_, _, d)| self.fresh("acc", Ty::scalar(d)));
        if kv > 0 {
            let vty = Ty::vector(acc_dt, lanes);
            let vacc = self.fresh("vacc", vty);
            out.push(Stmt::Local {
                var: vacc,
                init: init(kind, vty),
            });
            let nvacc = ahead_dt.map(|(nk, _, d)| {
                let t = Ty::vector(d, lanes);
                let v = self.fresh("vacc", t);
                out.push(Stmt::Local {
                    var: v,
                    init: init(nk, t),
                });
                (nk, v)
            });
            out.push(pass(self, lanes, 0, kv, vacc, nvacc.map(|(_, v)| v))?);
            out.push(Stmt::Local {
                var: acc,
                init: Expr::ReduceLanes {
                    op: lane_op(kind),
                    x: Box::new(Expr::Var(vacc)),
                },
            });
            if let (Some((nk, v)), Some(na)) = (nvacc, nacc) {
                out.push(Stmt::Local {
                    var: na,
                    init: Expr::ReduceLanes {
                        op: lane_op(nk),
                        x: Box::new(Expr::Var(v)),
                    },
                });
            }
        } else {
            out.push(Stmt::Local {
                var: acc,
                init: init(kind, Ty::scalar(acc_dt)),
            });
            if let (Some((nk, _, d)), Some(na)) = (ahead_dt, nacc) {
                out.push(Stmt::Local {
                    var: na,
                    init: init(nk, Ty::scalar(d)),
                });
            }
        }
        if kv < job.k {
            out.push(pass(self, 1, kv, job.k, acc, nacc)?);
        }
        let next = ahead_dt
            .zip(nacc)
            .map(|((_, xd, d), na)| convert(Expr::Var(na), d, xd));
        Ok((convert(Expr::Var(acc), acc_dt, dt), next))
    }

    /// The first stage when its reduction can be computed one row ahead, inside the stash
    /// pass of the row before (see [`Self::cpu_row_kernel`]): a max or min (exact in any
    /// order, so the first row of a chunk, reduced by [`Self::row_reduce_unrolled`], and the
    /// others agree bit for bit) that is not the stashed reduction, with its kind and input.
    fn lookahead_candidate(
        &self,
        job: &RowJob,
        stash: NodeId,
    ) -> Option<(NodeId, ReduceOp, ValueId)> {
        let &first = job.stages.first()?;
        if first == stash || classify(self.g, first) != NodeClass::Reduce {
            return None;
        }
        let kind = self.row_kind(first).ok()?;
        let x = self.input_of(first, 0).ok()?;
        matches!(kind, ReduceOp::Max | ReduceOp::Min).then_some((first, kind, x))
    }

    /// The CPU row kernel, keeping the last reduction's input in the output row (`stash`,
    /// failing when that does not apply or the root does not read it) or not.
    fn cpu_row_body(&mut self, job: &RowJob, stash: bool) -> Res<Vec<Stmt>> {
        let stashed = if stash {
            Some(self.stash_candidate(job).ok_or(Fail::NotVector)?)
        } else {
            None
        };
        let m = self.m;
        let lanes = self.lanes();
        let (chunks, per) = self.chunks(job.rows, job.k, 1);
        self.k.launch.grid = vec![chunks];
        let mut body = Vec::new();
        let (s, e) = self.chunk_range(per, job.rows, &mut body);
        let row = self.fresh("row", m.ty());
        let row_ix = m.inv(Expr::Var(row), 0, job.rows as i128 - 1);
        let pos = self.row_pos(job, &row_ix);
        // The first reduction one row ahead: reduced for the chunk's first row here, then
        // for each next row inside the stash pass of the row before, so that the pass that
        // reads a row from memory also does the row's heavy arithmetic (softmax's `exp`).
        let mut ahead = None;
        if let Some((h, _)) = stashed
            && lanes > 1
            && let Some((first, kind, x)) = self.lookahead_candidate(job, h)
        {
            let first_row = m.inv(s.clone(), 0, job.rows as i128 - 1);
            let tried = self.attempt(|kb| {
                let mut st = Vec::new();
                let r = kb.row_reduce_unrolled(job, first, &first_row, lanes, &mut st)?;
                Ok((st, r))
            });
            if let Ok((st, r)) = tried {
                body.extend(st);
                let v = self.g.node(first).outputs[0];
                let carried = self.fresh("ahead", Ty::scalar(self.dtype(v)));
                body.push(Stmt::Local {
                    var: carried,
                    init: r,
                });
                ahead = Some((first, kind, x, carried));
            }
        }
        let next_row = m.clamp(&m.add_c(&row_ix, 1), 0, job.rows as i128 - 1);
        let mut next = None;
        let mut rb = Vec::new();
        self.rowvals.clear();
        for &n in &job.stages {
            if let Some((first, _, _, carried)) = ahead
                && first == n
            {
                self.set_row_value(n, Expr::Var(carried), &mut rb);
            } else if let Some((h, e)) = stashed
                && h == n
            {
                let look = ahead.map(|(_, kind, x, _)| (kind, x, &next_row));
                let (r, nx) = self.stash_stage(job, (h, e), &row_ix, lanes, look, &mut rb)?;
                next = nx;
                self.set_row_value(n, r, &mut rb);
            } else if classify(self.g, n) == NodeClass::Reduce {
                let tried = if lanes > 1 {
                    self.attempt(|kb| {
                        let mut s = Vec::new();
                        let r = kb.row_reduce_unrolled(job, n, &row_ix, lanes, &mut s)?;
                        Ok((s, r))
                    })
                    .or_else(|_| {
                        self.attempt(|kb| {
                            let mut s = Vec::new();
                            let r = kb.accumulate_inner_vector(n, &pos, lanes, &mut s)?;
                            Ok((s, r))
                        })
                    })
                } else {
                    Err(Fail::NotVector)
                };
                let r = match tried {
                    Ok((s, r)) => {
                        rb.extend(s);
                        r
                    }
                    Err(Fail::NotVector) => self.accumulate(n, &pos, 1, &mut rb)?,
                    Err(e) => return Err(e),
                };
                self.set_row_value(n, r, &mut rb);
            } else {
                let v = self.g.node(n).outputs[0];
                let r = self.value(v, &pos, 1, &mut rb)?;
                self.set_row_value(n, r, &mut rb);
            }
        }
        self.stash = stashed.map(|(_, e)| (e, job.out_buf));
        self.stash_used = false;
        if job.per_element {
            let base = m.mul_c(&row_ix, job.k as i128);
            let kv = if lanes > 1 {
                job.k - job.k % usize::from(lanes)
            } else {
                0
            };
            let mut tail_from = 0;
            if kv > 0 {
                let tried = self.attempt(|kb| kb.row_loop(job, &row_ix, &base, lanes, 0, kv));
                if let Ok(lp) = tried {
                    rb.push(lp);
                    tail_from = kv;
                }
            }
            if tail_from < job.k {
                rb.push(self.row_loop(job, &row_ix, &base, 1, tail_from, job.k)?);
            }
        } else {
            let v = self.value(job.out, &pos, 1, &mut rb)?;
            rb.push(Stmt::Store {
                buf: job.out_buf,
                index: row_ix.e.clone(),
                value: v,
            });
        }
        if let Some((_, _, _, carried)) = ahead {
            let value = next.ok_or_else(|| Fail::Internal("look-ahead without a pass".into()))?;
            rb.push(Stmt::Assign {
                var: carried,
                value,
            });
        }
        self.rowvals.clear();
        self.stash = None;
        if stashed.is_some() {
            if !self.stash_used {
                return Err(Fail::NotVector);
            }
            if let BufRef::Param(i) = job.out_buf {
                self.k.params[i].access = Access::ReadWrite;
            }
        }
        body.push(self.loop_stmt(row, s, e, 1, LoopKind::Serial, rb));
        Ok(body)
    }

    /// A loop over elements `lo..hi` of a row storing the root (`lanes` at a time).
    fn row_loop(
        &mut self,
        job: &RowJob,
        row: &Ix,
        base: &Ix,
        lanes: u8,
        lo: usize,
        hi: usize,
    ) -> Res<Stmt> {
        let m = self.m;
        let j = self.fresh("j", m.ty());
        let dj = Some(if lanes > 1 { 1 } else { 0 });
        let jx = Ix::within(Expr::Var(j), dj, lo as i128, hi as i128 - 1);
        let pos = self.row_elem(job, row, jx);
        let mut inner = Vec::new();
        let mut v = self.value(job.out, &pos, lanes, &mut inner)?;
        let mut flat = m
            .add(base, &m.inv(Expr::Var(j), lo as i128, hi as i128 - 1))
            .e;
        self.share_index_terms(&mut [&mut v, &mut flat], &mut inner);
        inner.push(Stmt::Store {
            buf: job.out_buf,
            index: flat,
            value: v,
        });
        let kind = LoopKind::for_lanes(lanes);
        Ok(self.loop_stmt(
            j,
            Expr::int(m.dt, lo as i128),
            Expr::int(m.dt, hi as i128),
            u32::from(lanes),
            kind,
            inner,
        ))
    }

    /// The GPU row kernel (see the module docs).
    pub(super) fn gpu_row_kernel(&mut self, job: &RowJob) -> Res<Vec<Stmt>> {
        let m = self.m;
        // Accumulator dtypes of the reductions (f16/bf16 sums keep f32 partials).
        let mut acc_dts: Vec<DType> = Vec::new();
        for &n in &job.stages {
            if classify(self.g, n) == NodeClass::Reduce {
                let x = self.input_of(n, 0)?;
                let d = acc_dtype(self.dtype(x));
                if !acc_dts.contains(&d) {
                    acc_dts.push(d);
                }
            }
        }
        let wc = self.workgroup_combine(job.k, &acc_dts);
        let g = wc.group;
        let groups = self.gpu_launch(job.rows, 1);
        self.k.launch.group = vec![g];
        let slots = wc.slots;
        let mut bufs: HashMap<DType, BufRef> = HashMap::new();
        if slots > 1 {
            for (i, &d) in acc_dts.iter().enumerate() {
                let name = if i == 0 {
                    "partial".to_string()
                } else {
                    format!("partial{i}")
                };
                bufs.insert(d, self.k.shared_buf(name, d, slots));
            }
        }
        let mut body = Vec::new();
        let lid = self.let_var("lid", m.cast(Expr::LocalId(0)), &mut body);
        let o = self.fresh("o", m.ty());
        let row_ix = m.inv(Expr::Var(o), 0, job.rows as i128 - 1);
        let pos = self.row_pos(job, &row_ix);
        let step = u32::try_from(g).map_err(|_| Fail::Internal("group too large".into()))?;
        let mut per = Vec::new();
        self.rowvals.clear();
        for &n in &job.stages {
            if classify(self.g, n) != NodeClass::Reduce {
                let v = self.g.node(n).outputs[0];
                let r = self.value(v, &pos, 1, &mut per)?;
                self.set_row_value(n, r, &mut per);
                continue;
            }
            let kind = self.row_kind(n)?;
            let x = self.input_of(n, 0)?;
            let dt = self.dtype(x);
            let acc_dt = acc_dtype(dt);
            let acc = self.fresh("acc", Ty::scalar(acc_dt));
            per.push(Stmt::Local {
                var: acc,
                init: init(kind, Ty::scalar(acc_dt)),
            });
            let kk = self.fresh("k", m.ty());
            let at = self.row_elem(job, &row_ix, m.inv(Expr::Var(kk), 0, job.k as i128 - 1));
            let mut kbody = Vec::new();
            let xv = self.value(x, &at, 1, &mut kbody)?;
            kbody.push(Stmt::Assign {
                var: acc,
                value: combine(kind, Expr::Var(acc), convert(xv, dt, acc_dt)),
            });
            per.push(Stmt::Loop {
                var: kk,
                start: lid.clone(),
                end: Expr::int(m.dt, job.k as i128),
                step,
                kind: LoopKind::Serial,
                body: kbody,
            });
            let buf: Vec<BufRef> = bufs.get(&acc_dt).into_iter().copied().collect();
            let mut comb = |_: &mut Self, a: Vec<Expr>, b: Vec<Expr>, _: &mut Vec<Stmt>| {
                vec![combine(kind, a[0].clone(), b[0].clone())]
            };
            self.combine_in_workgroup(&wc, &lid, (&[acc], &[acc_dt], &buf), &mut comb, &mut per);
            let total = match buf.first() {
                Some(&b) => {
                    // Every invocation reads the total, then waits before the slots are
                    // reused.
                    let t = self.fresh("total", Ty::scalar(acc_dt));
                    per.push(Stmt::Let {
                        var: t,
                        value: Expr::load(b, Expr::int(m.dt, 0)),
                    });
                    per.push(Stmt::Barrier);
                    Expr::Var(t)
                }
                // One subgroup (every invocation holds the total) or one invocation.
                None => Expr::Var(acc),
            };
            self.set_row_value(n, convert(total, acc_dt, dt), &mut per);
        }
        if job.per_element {
            let j = self.fresh("j", m.ty());
            let jx = m.inv(Expr::Var(j), 0, job.k as i128 - 1);
            let at = self.row_elem(job, &row_ix, jx.clone());
            let mut inner = Vec::new();
            let mut v = self.value(job.out, &at, 1, &mut inner)?;
            let mut flat = m.add(&m.mul_c(&row_ix, job.k as i128), &jx).e;
            self.share_index_terms(&mut [&mut v, &mut flat], &mut inner);
            inner.push(Stmt::Store {
                buf: job.out_buf,
                index: flat,
                value: v,
            });
            per.push(Stmt::Loop {
                var: j,
                start: lid.clone(),
                end: Expr::int(m.dt, job.k as i128),
                step,
                kind: LoopKind::Serial,
                body: inner,
            });
        } else {
            let mut fin = Vec::new();
            let v = self.value(job.out, &pos, 1, &mut fin)?;
            fin.push(Stmt::Store {
                buf: job.out_buf,
                index: row_ix.e.clone(),
                value: v,
            });
            per.push(Stmt::If {
                cond: Expr::bin(BinaryOp::Equal, lid, Expr::int(m.dt, 0)),
                then: fin,
                els: vec![],
            });
        }
        self.rowvals.clear();
        let stride =
            u32::try_from(groups).map_err(|_| Fail::Internal("launch too large".into()))?;
        body.push(Stmt::Loop {
            var: o,
            start: m.cast(Expr::GroupId(0)),
            end: Expr::int(m.dt, job.rows as i128),
            step: stride,
            kind: LoopKind::Serial,
            body: per,
        });
        Ok(body)
    }
}
