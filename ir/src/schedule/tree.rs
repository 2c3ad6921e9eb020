//! The GPU reduction: one workgroup per output (a grid-stride loop over outputs), each
//! invocation accumulating a strided share of the reduced elements, then a tree over
//! workgroup-shared memory, one `barrier` per level; invocation 0 applies the epilogue.
//! On targets with subgroup operations (`TargetDesc::subgroup_ops`), when the workgroup is a
//! multiple of the subgroup size and the partials are 32-bit, each subgroup first combines
//! its partials with a `shuffle_xor` butterfly (masks `S/2, ..., 1`, no shared memory, no
//! barrier); the shared-memory tree then runs over one partial per subgroup (none at all
//! when the workgroup is one subgroup).
//! Reductions keep one partial per invocation, argmax/argmin a (value, index) pair whose
//! combination is order-independent, so the result is the serial one. Reductions over outer
//! axes with at least a workgroup of outputs per multiprocessor skip the tree: one output per
//! invocation reads memory coalesced.

use super::build::zero;
use super::index::Pos;
use super::reduce::{Heavy, acc_dtype, arg_wins, combine, convert, init, select};
use super::{Fail, Job, Kb, Res};
use crate::dtype::DType;
use crate::graph::NodeId;
use crate::kernel::{BinOp, BufRef, Expr, LoopKind, Stmt, Ty, VarId};
use crate::op::BinaryOp;

/// True for the accumulator dtypes the scheduler exchanges with `shuffle_xor`: those every
/// GPU renderer holds in one 32-bit register.
pub(super) fn shuffles(d: DType) -> bool {
    matches!(
        d,
        DType::F32 | DType::I32 | DType::U32 | DType::I16 | DType::U16 | DType::I8 | DType::U8
    )
}

/// How a workgroup combines its invocations' partial accumulators: `group` invocations;
/// with `shuffle`, each subgroup of `subgroup` first combines in registers; `slots` partials
/// then meet in workgroup-shared memory (one per subgroup, or one per invocation).
pub(super) struct WorkgroupCombine {
    /// Invocations per workgroup (a power of two).
    pub group: usize,
    /// Subgroups combine with a `shuffle_xor` butterfly first.
    pub shuffle: bool,
    /// The subgroup size.
    pub subgroup: usize,
    /// Partials in shared memory (1: none needed).
    pub slots: usize,
}

/// A component-wise combination of two partial accumulators (`a ⊕ b`), with any helper
/// statements pushed onto the given list.
type Combine<'c, 'k> =
    dyn FnMut(&mut Kb<'k>, Vec<Expr>, Vec<Expr>, &mut Vec<Stmt>) -> Vec<Expr> + 'c;

impl<'k> Kb<'k> {
    /// The workgroup for reducing `k` elements with accumulators of dtypes `comps`: the
    /// next power of two of `k`, within the target's workgroup limit and with one slot per
    /// invocation fitting its shared memory; subgroup shuffles where the target has them,
    /// the group is a multiple of the subgroup and every component is 32-bit.
    pub(super) fn workgroup_combine(&self, k: usize, comps: &[DType]) -> WorkgroupCombine {
        let bytes: usize = comps.iter().map(|d| d.size_bytes()).sum();
        let mut g = k.next_power_of_two().min(self.group_limit());
        while g > 1 && g * bytes > self.target.shared_bytes {
            g /= 2;
        }
        let sg = self.target.subgroup_size;
        let shuffle = self.target.subgroup_ops
            && sg >= 2
            && sg.is_power_of_two()
            && g.is_multiple_of(sg)
            && comps.iter().all(|&d| shuffles(d));
        WorkgroupCombine {
            group: g,
            shuffle,
            subgroup: sg,
            slots: if shuffle { g / sg } else { g },
        }
    }

    /// Combines the partial accumulators `accs` (components of dtypes `comps`) of every
    /// invocation `lid` of the workgroup: the subgroup butterfly (masks `S/2, ..., 1`), then,
    /// where `bufs` holds shared slots (`wc.slots > 1`), one store per subgroup (or per
    /// invocation), a barrier and a halving tree with a barrier per level. Afterwards slot 0
    /// of `bufs` (or, without slots, every invocation's `accs`) holds the total.
    pub(super) fn combine_in_workgroup(
        &mut self,
        wc: &WorkgroupCombine,
        lid: &Expr,
        (accs, comps, bufs): (&[VarId], &[DType], &[BufRef]),
        combine: &mut Combine<'_, 'k>,
        per: &mut Vec<Stmt>,
    ) {
        let m = self.m;
        let sg = wc.subgroup;
        if wc.shuffle {
            // The butterfly: after masks sg/2, ..., 1 every invocation holds its subgroup's
            // combination, in the same order on every target.
            let mut mask = sg / 2;
            while mask >= 1 {
                let other: Vec<Expr> = accs
                    .iter()
                    .zip(comps)
                    .map(|(&v, &d)| {
                        let o = self.fresh("sh", Ty::scalar(d));
                        per.push(Stmt::Let {
                            var: o,
                            value: Expr::ShuffleXor {
                                x: Box::new(Expr::Var(v)),
                                mask: mask as u32,
                            },
                        });
                        Expr::Var(o)
                    })
                    .collect();
                let cur = accs.iter().map(|&v| Expr::Var(v)).collect();
                let merged = combine(self, cur, other, per);
                for (&v, e) in accs.iter().zip(merged) {
                    per.push(Stmt::Assign { var: v, value: e });
                }
                mask /= 2;
            }
        }
        if wc.slots <= 1 || bufs.is_empty() {
            return;
        }
        let slot = if wc.shuffle {
            Expr::bin(BinaryOp::Div, lid.clone(), Expr::int(m.dt, sg as i128))
        } else {
            lid.clone()
        };
        let stores: Vec<Stmt> = bufs
            .iter()
            .zip(accs)
            .map(|(&b, &v)| Stmt::Store {
                buf: b,
                index: slot.clone(),
                value: Expr::Var(v),
            })
            .collect();
        if wc.shuffle {
            // One store per subgroup, by its first invocation.
            per.push(Stmt::If {
                cond: Expr::bin(
                    BinaryOp::Equal,
                    Expr::bin(BinaryOp::Mod, lid.clone(), Expr::int(m.dt, sg as i128)),
                    Expr::int(m.dt, 0),
                ),
                then: stores,
                els: vec![],
            });
        } else {
            per.extend(stores);
        }
        per.push(Stmt::Barrier);
        // The tree: slot lid absorbs slot lid + s.
        let mut s = wc.slots / 2;
        while s >= 1 {
            let other = Expr::bin(BinaryOp::Add, lid.clone(), Expr::int(m.dt, s as i128));
            let mut then = Vec::new();
            let a = bufs.iter().map(|&b| Expr::load(b, lid.clone())).collect();
            let bv = bufs.iter().map(|&b| Expr::load(b, other.clone())).collect();
            let merged = combine(self, a, bv, &mut then);
            for (&b, e) in bufs.iter().zip(merged) {
                then.push(Stmt::Store {
                    buf: b,
                    index: lid.clone(),
                    value: e,
                });
            }
            per.push(Stmt::If {
                cond: Expr::bin(BinaryOp::Less, lid.clone(), Expr::int(m.dt, s as i128)),
                then,
                els: vec![],
            });
            per.push(Stmt::Barrier);
            s /= 2;
        }
    }
}

impl Kb<'_> {
    /// Partial accumulators of every component combined: `a ⊕ b`, with helper statements.
    fn tree_combine(
        &mut self,
        heavy: &Heavy,
        dt: DType,
        a: Vec<Expr>,
        b: Vec<Expr>,
        out: &mut Vec<Stmt>,
    ) -> Vec<Expr> {
        match (heavy, a.as_slice(), b.as_slice()) {
            (Heavy::Reduce { kind, .. }, [x], [y]) => vec![combine(*kind, x.clone(), y.clone())],
            (Heavy::Arg { largest, last, .. }, [av, ai], [bv, bi]) => {
                let w = arg_wins(
                    dt,
                    (av.clone(), ai.clone()),
                    (bv.clone(), bi.clone()),
                    *largest,
                    *last,
                );
                let w = self.bind(w, Ty::scalar(DType::Bool), out);
                vec![
                    select(w.clone(), bv.clone(), av.clone()),
                    select(w, bi.clone(), ai.clone()),
                ]
            }
            _ => a,
        }
    }

    /// The tree-reduction kernel body, or `None` when the reduction is too short for a
    /// workgroup (or the target has no room for one).
    pub(super) fn gpu_tree(
        &mut self,
        job: &Job,
        h: NodeId,
        heavy: &Heavy,
    ) -> Res<Option<Vec<Stmt>>> {
        let m = self.m;
        let x = self.input_of(h, 0)?;
        let xd = self.dims(x);
        let dt = self.dtype(x);
        let mask = match heavy {
            Heavy::Reduce { mask, .. } => mask.clone(),
            Heavy::Arg { axis, .. } => (0..xd.len()).map(|a| a == *axis).collect(),
            Heavy::MatMul => return Ok(None),
        };
        // Sums and products of f16/bf16 keep f32 partials; argmax/argmin compare exactly.
        let acc_dt = match heavy {
            Heavy::Arg { .. } => dt,
            _ => acc_dtype(dt),
        };
        let comps: Vec<DType> = match heavy {
            Heavy::Arg { .. } => vec![dt, DType::I64],
            _ => vec![acc_dt],
        };
        // A reduction over outer axes with many outputs reads coalesced when each
        // invocation owns one output (neighbours read neighbouring elements): no tree.
        let first = mask.iter().position(|&m| m).unwrap_or(0);
        let trailing = mask[first..].iter().all(|&m| m);
        if !trailing && job.n >= self.group_limit() * self.target.cores.max(1) {
            return Ok(None);
        }
        let red: Vec<usize> = xd
            .iter()
            .zip(&mask)
            .filter(|(_, m)| **m)
            .map(|(d, _)| *d)
            .collect();
        let k_total: usize = red.iter().product();
        let wc = self.workgroup_combine(k_total, &comps);
        let g = wc.group;
        if g < 2 {
            return Ok(None);
        }
        let groups = self.gpu_launch(job.n, 1);
        self.k.launch.group = vec![g];
        let slots = wc.slots;
        let bufs: Vec<BufRef> = if slots > 1 {
            comps
                .iter()
                .enumerate()
                .map(|(i, &d)| {
                    self.k.shared_buf(
                        if i == 0 {
                            "partial".to_string()
                        } else {
                            format!("partial{i}")
                        },
                        d,
                        slots,
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut body = Vec::new();
        let lid = self.let_var("lid", m.cast(Expr::LocalId(0)), &mut body);
        let o = self.fresh("o", m.ty());
        let pos = Pos::Flat(m.inv(Expr::Var(o), 0, job.n as i128 - 1));
        let mut per = Vec::new();
        // This invocation's share: k = lid, lid + g, ...
        let accs: Vec<_> = comps
            .iter()
            .map(|&d| self.fresh("acc", Ty::scalar(d)))
            .collect();
        let inits = match heavy {
            Heavy::Reduce { kind, .. } => vec![init(*kind, Ty::scalar(acc_dt))],
            _ => vec![zero(Ty::scalar(dt)), Expr::int(DType::I64, -1)],
        };
        for (&v, i) in accs.iter().zip(inits) {
            per.push(Stmt::Local { var: v, init: i });
        }
        let k = self.fresh("k", m.ty());
        let rc = m.coords(
            &Pos::Flat(m.inv(Expr::Var(k), 0, k_total as i128 - 1)),
            &red,
        );
        let ic = self.reduce_input_coords(h, &mask, &pos, &rc);
        let mut kbody = Vec::new();
        let xv = self.value(x, &Pos::Coords(ic), 1, &mut kbody)?;
        let mut cand = vec![convert(xv, dt, acc_dt)];
        if comps.len() > 1 {
            // The value is compared and selected: compute it once.
            cand[0] = self.bind(cand[0].clone(), Ty::scalar(dt), &mut kbody);
            cand.push(Expr::Cast {
                to: DType::I64,
                x: Box::new(Expr::Var(k)),
            });
        }
        let cur = accs.iter().map(|&v| Expr::Var(v)).collect();
        let next = self.tree_combine(heavy, dt, cur, cand, &mut kbody);
        for (&v, e) in accs.iter().zip(next) {
            kbody.push(Stmt::Assign { var: v, value: e });
        }
        per.push(Stmt::Loop {
            var: k,
            start: lid.clone(),
            end: Expr::int(m.dt, k_total as i128),
            step: u32::try_from(g).map_err(|_| Fail::Internal("group too large".into()))?,
            kind: LoopKind::Serial,
            body: kbody,
        });
        let mut comb =
            |kb: &mut Self, a, b, out: &mut Vec<Stmt>| kb.tree_combine(heavy, dt, a, b, out);
        self.combine_in_workgroup(&wc, &lid, (&accs, &comps, &bufs), &mut comb, &mut per);
        // The combined value: slot 0, or (one subgroup) every invocation's accumulator.
        let total = |c: usize| match bufs.get(c) {
            Some(&b) => Expr::load(b, Expr::int(m.dt, 0)),
            None => Expr::Var(accs[c]),
        };
        let result = match heavy {
            Heavy::Arg { .. } => Expr::binary(BinOp::Max, total(1), Expr::int(DType::I64, 0)),
            _ => convert(total(0), acc_dt, dt),
        };
        let hv = self.g.node(h).outputs[0];
        self.subst.clear();
        self.subst.insert(hv, result);
        let mut fin = Vec::new();
        let v = self.value(job.out, &pos, 1, &mut fin)?;
        self.subst.clear();
        fin.push(Stmt::Store {
            buf: job.out_buf,
            index: Expr::Var(o),
            value: v,
        });
        per.push(Stmt::If {
            cond: Expr::bin(BinaryOp::Equal, lid, Expr::int(m.dt, 0)),
            then: fin,
            els: vec![],
        });
        if slots > 1 {
            // Slot 0 is read above before the next output overwrites it.
            per.push(Stmt::Barrier);
        }
        let stride =
            u32::try_from(groups).map_err(|_| Fail::Internal("launch too large".into()))?;
        body.push(Stmt::Loop {
            var: o,
            start: m.cast(Expr::GroupId(0)),
            end: Expr::int(m.dt, job.n as i128),
            step: stride,
            kind: LoopKind::Serial,
            body: per,
        });
        Ok(Some(body))
    }
}
