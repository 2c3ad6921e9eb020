//! The tensor-core matmul schedule, for GPU targets whose [`crate::target::TargetDesc::mma`]
//! declares a warp-level matrix-multiply-accumulate for the operands' dtype.
//!
//! A workgroup of [`WARPS_M`] × [`WARPS_N`] warps computes a [`BLOCK_M`] × [`BLOCK_N`] output
//! tile; each warp a 32 × 32 sub-tile as 2 × 4 `mma` tiles of 16 × 8 (eight `f32x4`
//! accumulators per invocation). Per step of `BK = 2·k` along the reduction axis, every
//! invocation stages its share of the A tile (`BLOCK_M × BK`, row-major) and the B tile
//! (`BLOCK_N × BK`, column by column, read row-major from B so global loads run along `n`) in
//! shared memory, with zeros outside the matrices: ragged `m`, `n` and `k` are zero padding,
//! never out-of-bounds accesses. A barrier, two `mma` steps of `k` per accumulator, a barrier.
//! The epilogue runs per accumulator lane at the element [`MmaShape::acc_element`] names,
//! under a bounds check. The renderer prints each `mma` as fragment loads plus one
//! instruction; tiles are decided here.

use super::index::{Ix, Pos};
use super::{Fail, Job, Kb, Res};
use crate::graph::NodeId;
use crate::kernel::{Expr, LoopKind, MmaOperand, MmaShape, Stmt, Ty};

/// Warps of a workgroup along `m`.
pub const WARPS_M: usize = 2;
/// Warps of a workgroup along `n`.
pub const WARPS_N: usize = 2;
/// `mma` tiles per warp along `m` (16 rows each).
pub const TILES_M: usize = 2;
/// `mma` tiles per warp along `n` (8 columns each).
pub const TILES_N: usize = 4;
/// Output rows per workgroup.
pub const BLOCK_M: usize = WARPS_M * TILES_M * MmaShape::M;
/// Output columns per workgroup.
pub const BLOCK_N: usize = WARPS_N * TILES_N * MmaShape::N;
/// Elements of padding after each staged row (spreads rows over shared-memory banks).
pub const PAD: usize = 8;

impl Kb<'_> {
    /// The tensor-core matmul; `Err(NotVector)` when the target has no `mma` for the dtype or
    /// the shapes do not fit (then the other GPU schedules run).
    pub(super) fn gpu_mma(&mut self, job: &Job, h: NodeId) -> Res<Vec<Stmt>> {
        let m = self.m;
        let (a, b) = (self.input_of(h, 0)?, self.input_of(h, 1)?);
        let (ad, bd) = (self.dims(a), self.dims(b));
        let r = job.dims.len();
        let dt = self.dtype(a);
        let shape = self
            .target
            .mma
            .and_then(|d| d.shape_for(dt))
            .ok_or(Fail::NotVector)?;
        let out_dt = self.dtype(self.g.node(h).outputs[0]);
        if self.dtype(b) != dt || out_dt != dt || ad.len() < 2 || bd.len() < 2 || r < 2 {
            return Err(Fail::NotVector);
        }
        if job.dims.contains(&0) || ad.contains(&0) || bd.contains(&0) {
            return Err(Fail::NotVector);
        }
        let warps = WARPS_M * WARPS_N;
        let group = warps * MmaShape::WIDTH;
        let bk = 2 * shape.k();
        let stride = bk + PAD;
        let shared = (BLOCK_M + BLOCK_N) * stride * dt.size_bytes();
        if group > self.target.max_group_size
            || group > self.target.max_group_dims[0]
            || shared > self.target.shared_bytes
        {
            return Err(Fail::NotVector);
        }
        let (mm, nn, kk) = (job.dims[r - 2], job.dims[r - 1], ad[ad.len() - 1]);
        let batch_dims = job.dims[..r - 2].to_vec();
        let nb: usize = batch_dims.iter().product();
        let grid = vec![nn.div_ceil(BLOCK_N), mm.div_ceil(BLOCK_M), nb];
        self.launch_within_limits(&grid, vec![group, 1, 1])?;
        let sa = self.k.shared_buf("mma_a", dt, BLOCK_M * stride);
        let sb = self.k.shared_buf("mma_b", dt, BLOCK_N * stride);
        let mut body = Vec::new();
        let lid = self.let_var("lid", m.cast(Expr::LocalId(0)), &mut body);
        let lid_ix = m.inv(lid.clone(), 0, group as i128 - 1);
        let m0 = m.mul_c(
            &m.inv(m.cast(Expr::GroupId(1)), 0, grid[1] as i128 - 1),
            BLOCK_M as i128,
        );
        let n0 = m.mul_c(
            &m.inv(m.cast(Expr::GroupId(0)), 0, grid[0] as i128 - 1),
            BLOCK_N as i128,
        );
        let m0 = Ix::within(self.let_var("m0", m0.e, &mut body), Some(0), m0.lo, m0.hi);
        let n0 = Ix::within(self.let_var("n0", n0.e, &mut body), Some(0), n0.lo, n0.hi);
        let bt = m.inv(m.cast(Expr::GroupId(2)), 0, nb as i128 - 1);
        let batch = m.coords(&Pos::Flat(bt), &batch_dims);
        let warp = m.div_c(&lid_ix, MmaShape::WIDTH as i128);
        let wm = m.div_c(&warp, WARPS_N as i128);
        let wn = m.rem_c(&warp, WARPS_N as i128);
        let wm = Ix::within(self.let_var("wm", wm.e, &mut body), Some(0), wm.lo, wm.hi);
        let wn = Ix::within(self.let_var("wn", wn.e, &mut body), Some(0), wn.lo, wn.hi);
        let acc_ty = Ty::vector(crate::dtype::DType::F32, 4);
        let mut accs = Vec::new();
        for _ in 0..TILES_M * TILES_N {
            let v = self.fresh("acc", acc_ty);
            body.push(Stmt::Local {
                var: v,
                init: super::build::zero(acc_ty),
            });
            accs.push(v);
        }
        let kt = self.fresh("kt", m.ty());
        let kt_ix = m.inv(Expr::Var(kt), 0, kk.max(1) as i128 - 1);
        let mut step = Vec::new();
        // Stage A: element e of the tile is row e / bk, column e % bk.
        let zero = super::build::zero(Ty::scalar(dt));
        let per_a = BLOCK_M * bk / group;
        let ea = self.fresh("ea", m.ty());
        let flat = m.add(
            &lid_ix,
            &m.mul_c(&m.inv(Expr::Var(ea), 0, per_a as i128 - 1), group as i128),
        );
        let (row, col) = (m.div_c(&flat, bk as i128), m.rem_c(&flat, bk as i128));
        let mut inner = Vec::new();
        let grow = m.add(&m0, &row);
        let gk = m.add(&kt_ix, &col);
        let mut ac = self.operand_batch(&batch, &ad);
        ac.push(m.clamp(&grow, 0, mm as i128 - 1));
        ac.push(m.clamp(&gk, 0, kk as i128 - 1));
        let x = self.value(a, &Pos::Coords(ac), 1, &mut inner)?;
        let inside = super::matmul::and_opt(
            m.in_range(&grow, 0, mm as i128),
            m.in_range(&gk, 0, kk as i128),
        );
        inner.push(Stmt::Store {
            buf: sa,
            index: m.add(&m.mul_c(&row, stride as i128), &col).e,
            value: super::reduce::select(inside, x, zero.clone()),
        });
        step.push(self.counted(ea, 0, per_a, inner));
        // Stage B: element e is row (k) e / BLOCK_N, column (n) e % BLOCK_N, stored at
        // column-major slot n * stride + k.
        let per_b = BLOCK_N * bk / group;
        let eb = self.fresh("eb", m.ty());
        let flat = m.add(
            &lid_ix,
            &m.mul_c(&m.inv(Expr::Var(eb), 0, per_b as i128 - 1), group as i128),
        );
        let (krow, ncol) = (
            m.div_c(&flat, BLOCK_N as i128),
            m.rem_c(&flat, BLOCK_N as i128),
        );
        let mut inner = Vec::new();
        let gk = m.add(&kt_ix, &krow);
        let gcol = m.add(&n0, &ncol);
        let mut bc = self.operand_batch(&batch, &bd);
        bc.push(m.clamp(&gk, 0, kk as i128 - 1));
        bc.push(m.clamp(&gcol, 0, nn as i128 - 1));
        let x = self.value(b, &Pos::Coords(bc), 1, &mut inner)?;
        let inside = super::matmul::and_opt(
            m.in_range(&gk, 0, kk as i128),
            m.in_range(&gcol, 0, nn as i128),
        );
        inner.push(Stmt::Store {
            buf: sb,
            index: m.add(&m.mul_c(&ncol, stride as i128), &krow).e,
            value: super::reduce::select(inside, x, zero),
        });
        step.push(self.counted(eb, 0, per_b, inner));
        step.push(Stmt::Barrier);
        // Two mma steps of k per accumulator.
        let stride32 = u32::try_from(stride).map_err(|_| Fail::NotVector)?;
        for ks in 0..bk / shape.k() {
            let koff = (ks * shape.k()) as i128;
            for i in 0..TILES_M {
                let arow = m.add_c(
                    &m.mul_c(&wm, (TILES_M * MmaShape::M) as i128),
                    (i * MmaShape::M) as i128,
                );
                let a_at = m.add_c(&m.mul_c(&arow, stride as i128), koff);
                for j in 0..TILES_N {
                    let bcol = m.add_c(
                        &m.mul_c(&wn, (TILES_N * MmaShape::N) as i128),
                        (j * MmaShape::N) as i128,
                    );
                    let b_at = m.add_c(&m.mul_c(&bcol, stride as i128), koff);
                    step.push(Stmt::Mma {
                        shape,
                        acc: accs[i * TILES_N + j],
                        a: MmaOperand {
                            buf: sa,
                            index: a_at.e.clone(),
                            stride: stride32,
                        },
                        b: MmaOperand {
                            buf: sb,
                            index: b_at.e,
                            stride: stride32,
                        },
                    });
                }
            }
        }
        step.push(Stmt::Barrier);
        body.push(Stmt::Loop {
            var: kt,
            start: Expr::int(m.dt, 0),
            end: Expr::int(m.dt, kk as i128),
            step: u32::try_from(bk).map_err(|_| Fail::NotVector)?,
            kind: LoopKind::Serial,
            body: step,
        });
        // Epilogue: lane q of accumulator (i, j) is output element
        // (m0 + 32·wm + 16·i + row(q), n0 + 32·wn + 8·j + col(q)).
        let lane = m.rem_c(&lid_ix, MmaShape::WIDTH as i128);
        let g = m.div_c(&lane, 4);
        let t = m.rem_c(&lane, 4);
        let g = Ix::within(self.let_var("grp", g.e, &mut body), Some(0), g.lo, g.hi);
        let t2 = m.mul_c(&t, 2);
        let t2 = Ix::within(self.let_var("tig2", t2.e, &mut body), Some(0), t2.lo, t2.hi);
        let row_base = m.add(&m0, &m.add(&m.mul_c(&wm, 32), &g));
        let col_base = m.add(&n0, &m.add(&m.mul_c(&wn, 32), &t2));
        let row_base = Ix::within(
            self.let_var("rb", row_base.e, &mut body),
            Some(0),
            row_base.lo,
            row_base.hi,
        );
        let col_base = Ix::within(
            self.let_var("cb", col_base.e, &mut body),
            Some(0),
            col_base.lo,
            col_base.hi,
        );
        let hv = self.g.node(h).outputs[0];
        for i in 0..TILES_M {
            for j in 0..TILES_N {
                for q in 0..4u8 {
                    let (dr, dc) = MmaShape::acc_element(0, usize::from(q));
                    let row = m.add_c(&row_base, (i * MmaShape::M + dr) as i128);
                    let col = m.add_c(&col_base, (j * MmaShape::N + dc) as i128);
                    let mut coords = batch.clone();
                    coords.push(m.clamp(&row, 0, mm as i128 - 1));
                    coords.push(m.clamp(&col, 0, nn as i128 - 1));
                    let pos = Pos::Coords(coords);
                    let lane_v = Expr::Lane {
                        x: Box::new(Expr::Var(accs[i * TILES_N + j])),
                        lane: q,
                    };
                    self.subst.clear();
                    self.subst.insert(
                        hv,
                        super::reduce::convert(lane_v, crate::dtype::DType::F32, dt),
                    );
                    let mut fin = Vec::new();
                    let v = self.value(job.out, &pos, 1, &mut fin)?;
                    self.subst.clear();
                    fin.push(Stmt::Store {
                        buf: job.out_buf,
                        index: m.flat(&pos, &job.dims).e,
                        value: v,
                    });
                    let inside = super::matmul::and_opt(
                        m.in_range(&row, 0, mm as i128),
                        m.in_range(&col, 0, nn as i128),
                    );
                    body.push(Stmt::If {
                        cond: inside,
                        then: fin,
                        els: vec![],
                    });
                }
            }
        }
        Ok(body)
    }
}
