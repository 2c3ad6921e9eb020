//! The CPU matmul schedules.
//!
//! The packed schedule (used when a `k × nr` panel of B fits the target's scratch bytes,
//! `TargetDesc::shared_bytes`, or else with `k` blocked, below): the output's columns are cut into strips of `nr` (two vectors)
//! columns, and the launch's chunks share out the (batch, strip) units. For each unit, the
//! invocation first copies the strip of B — whatever view or fused prologue produces it —
//! into a contiguous `k × nr` scratch panel (a shared buffer of its one-invocation group,
//! kept on its stack; vector loads where B is contiguous along its rows, row by row of B
//! across all the unit's strips so that each row reads its `strips · nr` elements in one
//! run of cache lines; one element at a time and strip by strip along `k` otherwise, e.g. a
//! transposed B), then runs register blocks of `rows × 2` vector accumulators down all
//! the rows of the strip, each over the whole `k` range, reading B from the panel (two
//! aligned, consecutive vector loads per `k` step, instead of rows of B that are a whole
//! matrix row apart) and A as broadcasts. The block has 6 rows when the target's vectors are
//! at most 256 bits wide (12 accumulators, two B vectors and a broadcast in 16 registers)
//! and 8 rows for 512-bit vectors (32 registers). The rows left below a multiple of the
//! block run as one shorter register block; of the columns left beyond the last whole strip,
//! one vector's worth runs as a strip of one vector, the rest one element at a time. The
//! epilogue is applied to each accumulator vector before its store.
//!
//! **`k` blocks**: where a whole-`k` panel would not fit the scratch bytes (e.g. `k > 4096`
//! with 16-column strips and 256 KiB), and the output's dtype is the accumulator's (so it
//! can hold partial sums), the unit packs and runs one block of `kc` rows of B at a time
//! ([`k_block`]: a panel of at most half the L1 cache, blocks as equal as `k` allows). A
//! register block then starts from the partial sums the earlier blocks stored in the output
//! (zero in the first block) and stores partial sums again, except in the last block, which
//! applies the epilogue (an output buffer is never one of the kernel's inputs: the memory
//! planner gives a kernel's output a slot no input of that kernel holds). Where the whole
//! panel fits, `k` is not blocked: blocking measured no faster there (docs/performance.md).
//!
//! The in-place schedule (when no panel fits, or an output of another dtype than the
//! accumulator's would need `k` blocks): cache-tiled over columns (a
//! `k × nc` panel of B sized from the L2 cache is reused by every row tile of a chunk) and
//! register-blocked (4 or, with 512-bit vectors, 8 rows × 2 vectors of accumulators updated
//! with `fma`), reading B where it lies. Partial row tiles and leftover columns fall back to
//! one element at a time.

use super::index::{Ix, Pos};
use super::{Accum, Fail, Job, Kb, Res};
use crate::graph::NodeId;
use crate::kernel::{BinOp, BufRef, Expr, LoopKind, Stmt, Ty};
use crate::op::BinaryOp;

/// Rows of the register block for targets with 128- or 256-bit vectors (16 vector registers).
pub const MICRO_ROWS: usize = 4;
/// Vectors (of the target's lanes) per row of the register block.
pub const MICRO_VECTORS: usize = 2;
/// Rows of the register block for 512-bit vectors (AVX-512 has 32 registers: 16 accumulators,
/// two B vectors and one broadcast A value fit).
pub const MICRO_ROWS_WIDE: usize = 8;
/// Rows of the packed schedule's register block for targets with 128- or 256-bit vectors:
/// 12 accumulators, two B vectors and one broadcast A value in 16 registers.
pub const PACKED_ROWS: usize = 6;
/// Most strips of B one unit of the packed schedule packs at once.
pub const STRIPS_PER_UNIT: usize = 4;

/// The in-place schedule's register block `(rows, vectors per row)` for a vector of
/// `lanes` f32 lanes.
pub fn micro_shape(lanes: u8) -> (usize, usize) {
    if lanes >= 16 {
        (MICRO_ROWS_WIDE, MICRO_VECTORS)
    } else {
        (MICRO_ROWS, MICRO_VECTORS)
    }
}

/// The packed schedule's register block `(rows, vectors per row)` for a vector of `lanes`
/// f32 lanes.
pub fn packed_shape(lanes: u8) -> (usize, usize) {
    if lanes >= 16 {
        (MICRO_ROWS_WIDE, MICRO_VECTORS)
    } else {
        (PACKED_ROWS, MICRO_VECTORS)
    }
}

/// Where a register block reads B from.
#[derive(Clone)]
enum BSource {
    /// The operand itself, at its own coordinates.
    InPlace,
    /// A packed `k × nr` panel (row `k` at `base + k · nr`).
    Panel(BufRef, usize, Ix),
}

/// One register block's place: its rows `m0 .. m0 + rows` and columns `n0 .. n0 + vecs · lanes`.
struct Block<'a> {
    batch: &'a [Ix],
    m0: &'a Ix,
    n0: &'a Ix,
    rows: usize,
    b: BSource,
    /// The block of the `k` range this register block covers (`None`: all of it).
    kblk: Option<&'a KBlock>,
}

/// One block of the `k` range of the k-blocked packed schedule: its register blocks start
/// from the partial sums the earlier blocks left in the output (zero in the first block) and
/// store partial sums again, except in the last block, which applies the epilogue.
struct KBlock {
    /// First `k` of the block.
    k0: Ix,
    /// Rows of the panel: the length of every block but perhaps the last.
    len: usize,
    /// The block's length (`len`, or `min(len, k - k0)` when the last block is shorter).
    count: Expr,
    /// True in the first block.
    first: Expr,
    /// True in the last block.
    last: Expr,
    /// The whole `k` range.
    k: usize,
}

/// The loop-invariant facts of one tiled matmul.
struct Tiling {
    lanes: u8,
    rows: usize,
    vecs: usize,
    m: usize,
    n: usize,
    n_full: usize,
    nc: usize,
    mtiles: usize,
    batch: Vec<usize>,
}

impl Kb<'_> {
    /// Sets the kernel's launch to `grid` × `group`, or `Err(NotVector)` when the grid exceeds
    /// the target's grid limits (the caller's schedule does not apply).
    pub(super) fn launch_within_limits(&mut self, grid: &[usize], group: Vec<usize>) -> Res<()> {
        if grid
            .iter()
            .zip(&self.target.max_grid_dims)
            .any(|(g, l)| g > l)
        {
            return Err(Fail::NotVector);
        }
        self.k.launch = crate::kernel::Launch {
            grid: grid.to_vec(),
            group,
        };
        Ok(())
    }

    /// The tiled schedule; `Err(NotVector)` when the shapes or operand views do not fit it
    /// (then the generic schedule runs).
    pub(super) fn cpu_matmul(&mut self, job: &Job, h: NodeId) -> Res<Vec<Stmt>> {
        if let Ok(body) = self.attempt(|kb| kb.cpu_matmul_packed(job, h)) {
            return Ok(body);
        }
        let lanes = self.lanes();
        let (a, b) = (self.input_of(h, 0)?, self.input_of(h, 1)?);
        let (ad, bd) = (self.dims(a), self.dims(b));
        let r = job.dims.len();
        if lanes < 2 || ad.len() < 2 || bd.len() < 2 || r < 2 {
            return Err(Fail::NotVector);
        }
        let (m, n) = (job.dims[r - 2], job.dims[r - 1]);
        let (rows, vecs) = micro_shape(lanes);
        let nr = vecs * usize::from(lanes);
        if m < rows || n < nr {
            return Err(Fail::NotVector);
        }
        let k = ad[ad.len() - 1];
        let n_full = n - n % nr;
        let bytes = k.max(1) * self.dtype(b).size_bytes();
        let nc = ((self.target.l2_bytes / 2 / bytes) / nr * nr).clamp(nr, n_full);
        let t = Tiling {
            lanes,
            rows,
            vecs,
            m,
            n,
            n_full,
            nc,
            mtiles: m.div_ceil(rows),
            batch: job.dims[..r - 2].to_vec(),
        };
        let tiles = t.batch.iter().product::<usize>() * t.mtiles;
        let (chunks, per) = self.chunks(tiles, rows * n, 1);
        self.k.launch.grid = vec![chunks];
        let mut body = Vec::new();
        let (s, e) = self.chunk_range(per, tiles, &mut body);
        // Column panels of B, then the chunk's row tiles, then register blocks.
        let nc0 = self.fresh("nc", self.m.ty());
        let tile = self.tile_loop(job, h, &t, &s, &e, Some(nc0))?;
        let panels = Stmt::Loop {
            var: nc0,
            start: Expr::int(self.m.dt, 0),
            end: Expr::int(self.m.dt, t.n_full as i128),
            step: u32::try_from(t.nc).map_err(|_| Fail::NotVector)?,
            kind: LoopKind::Serial,
            body: vec![tile],
        };
        body.push(panels);
        if t.n_full < t.n {
            body.push(self.tile_loop(job, h, &t, &s, &e, None)?);
        }
        Ok(body)
    }

    /// A loop over the chunk's row tiles: with `panel`, the register blocks of that column
    /// panel (one element at a time for a partial row tile); without, the leftover columns.
    fn tile_loop(
        &mut self,
        job: &Job,
        h: NodeId,
        t: &Tiling,
        s: &Expr,
        e: &Expr,
        panel: Option<crate::kernel::VarId>,
    ) -> Res<Stmt> {
        let m = self.m;
        let ntiles = t.batch.iter().product::<usize>() * t.mtiles;
        let tv = self.fresh("tile", m.ty());
        let tix = m.inv(Expr::Var(tv), 0, ntiles as i128 - 1);
        let mut body = Vec::new();
        let bt = m.div_c(&tix, t.mtiles as i128);
        let batch = m.coords(&Pos::Flat(bt), &t.batch);
        let m0 = m.mul_c(&m.rem_c(&tix, t.mtiles as i128), t.rows as i128);
        let m0e = self.let_var("m0", m0.e.clone(), &mut body);
        let m0 = Ix::within(m0e, Some(0), 0, t.m as i128 - 1);
        let cols = match panel {
            Some(nc0) => {
                let lo = Expr::Var(nc0);
                let hi = Expr::binary(
                    BinOp::Min,
                    Expr::bin(BinaryOp::Add, Expr::Var(nc0), Expr::int(m.dt, t.nc as i128)),
                    Expr::int(m.dt, t.n_full as i128),
                );
                (lo, hi, t.n_full)
            }
            None => (
                Expr::int(m.dt, t.n_full as i128),
                Expr::int(m.dt, t.n as i128),
                t.n,
            ),
        };
        let rows_end = Expr::binary(
            BinOp::Min,
            Expr::bin(BinaryOp::Add, m0.e.clone(), Expr::int(m.dt, t.rows as i128)),
            Expr::int(m.dt, t.m as i128),
        );
        let scalar = self.scalar_block(
            job,
            t.m,
            &batch,
            (m0.e.clone(), rows_end),
            (cols.0.clone(), cols.1.clone(), cols.2),
        )?;
        match panel {
            Some(_) => {
                let n0 = self.fresh("n0", m.ty());
                let n0ix = m.inv(Expr::Var(n0), 0, t.n_full as i128 - 1);
                let block = Block {
                    batch: &batch,
                    m0: &m0,
                    n0: &n0ix,
                    rows: t.rows,
                    b: BSource::InPlace,
                    kblk: None,
                };
                let micro = self.micro(job, h, t.lanes, t.vecs, &block)?;
                let block = Stmt::Loop {
                    var: n0,
                    start: cols.0,
                    end: cols.1,
                    step: u32::try_from(t.vecs * usize::from(t.lanes))
                        .map_err(|_| Fail::NotVector)?,
                    kind: LoopKind::Serial,
                    body: micro,
                };
                body.push(Stmt::If {
                    cond: Expr::bin(
                        BinaryOp::LessOrEqual,
                        m0.e.clone(),
                        Expr::int(m.dt, (t.m - t.rows) as i128),
                    ),
                    then: vec![block],
                    els: vec![scalar],
                });
            }
            None => body.push(scalar),
        }
        Ok(Stmt::Loop {
            var: tv,
            start: s.clone(),
            end: e.clone(),
            step: 1,
            kind: LoopKind::Serial,
            body,
        })
    }

    /// Rows `[rows.0, rows.1)` × columns `[cols.0, cols.1)`, one element at a time.
    fn scalar_block(
        &mut self,
        job: &Job,
        rows_total: usize,
        batch: &[Ix],
        rows: (Expr, Expr),
        cols: (Expr, Expr, usize),
    ) -> Res<Stmt> {
        let m = self.m;
        let (mm, jj) = (self.fresh("m", m.ty()), self.fresh("n", m.ty()));
        let mut coords = batch.to_vec();
        coords.push(m.inv(Expr::Var(mm), 0, rows_total as i128 - 1));
        coords.push(m.inv(Expr::Var(jj), 0, cols.2 as i128 - 1));
        let pos = Pos::Coords(coords);
        let flat = m.flat(&pos, &job.dims).e;
        let inner = self.element(job, &pos, flat, 1, Accum::Outer)?;
        let cols_loop = Stmt::Loop {
            var: jj,
            start: cols.0,
            end: cols.1,
            step: 1,
            kind: LoopKind::Serial,
            body: inner,
        };
        Ok(Stmt::Loop {
            var: mm,
            start: rows.0,
            end: rows.1,
            step: 1,
            kind: LoopKind::Serial,
            body: vec![cols_loop],
        })
    }

    /// One register block: `rows × vecs` vector accumulators over the whole `k` range, then
    /// the epilogue and a store per accumulator.
    fn micro(
        &mut self,
        job: &Job,
        h: NodeId,
        lanes: u8,
        vecs: usize,
        at: &Block,
    ) -> Res<Vec<Stmt>> {
        let m = self.m;
        let (a, b) = (self.input_of(h, 0)?, self.input_of(h, 1)?);
        let (ad, bd) = (self.dims(a), self.dims(b));
        let kk = ad[ad.len() - 1];
        let dt = self.dtype(a);
        let acc_dt = super::reduce::acc_dtype(dt);
        let vty = Ty::vector(acc_dt, lanes);
        let l = usize::from(lanes);
        let (batch, m0, n0, rows) = (at.batch, at.m0, at.n0, at.rows);
        let mut out = Vec::new();
        let mut accs = Vec::new();
        for _ in 0..rows * vecs {
            let v = self.fresh("acc", vty);
            out.push(Stmt::Local {
                var: v,
                init: super::build::zero(vty),
            });
            accs.push(v);
        }
        let kv = self.fresh("k", m.ty());
        // `kl` counts along the panel's rows, `kix` is the matching `k` of A.
        let (kl, kix) = match at.kblk {
            None => {
                let kix = m.inv(Expr::Var(kv), 0, kk as i128 - 1);
                (kix.clone(), kix)
            }
            Some(kb) => {
                let kl = m.inv(Expr::Var(kv), 0, kb.len as i128 - 1);
                let mut kix = m.add(&kb.k0, &kl);
                kix.hi = kix.hi.min(kk as i128 - 1);
                (kl, kix)
            }
        };
        let cols = Ix::within(n0.e.clone(), Some(1), n0.lo, n0.hi + (vecs * l) as i128 - 1);
        let mut body = Vec::new();
        let mut bvals = Vec::new();
        for c in 0..vecs {
            let v = match at.b {
                BSource::InPlace => {
                    let mut bc = self.operand_batch(batch, &bd);
                    bc.push(kix.clone());
                    bc.push(m.add_c(&cols, (c * l) as i128));
                    let v = self.value(b, &Pos::Coords(bc), lanes, &mut body)?;
                    super::reduce::convert(v, dt, acc_dt)
                }
                BSource::Panel(buf, nr, ref base) => {
                    let row = m.add(base, &m.mul_c(&kl, nr as i128));
                    Expr::Load {
                        buf,
                        index: Box::new(m.add_c(&row, (c * l) as i128).e),
                        lanes,
                    }
                }
            };
            bvals.push(self.bind(v, vty, &mut body));
        }
        for r in 0..rows {
            let mut ac = self.operand_batch(batch, &ad);
            ac.push(m.add_c(m0, r as i128));
            ac.push(kix.clone());
            let v = self.value(a, &Pos::Coords(ac), lanes, &mut body)?;
            let v = super::reduce::convert(v, dt, acc_dt);
            let av = self.bind(v, vty, &mut body);
            for (c, bv) in bvals.iter().enumerate() {
                let acc = accs[r * vecs + c];
                let next = if dt.is_float() && self.target.has_fma {
                    Expr::Fma {
                        a: Box::new(av.clone()),
                        b: Box::new(bv.clone()),
                        c: Box::new(Expr::Var(acc)),
                    }
                } else {
                    Expr::bin(
                        BinaryOp::Add,
                        Expr::Var(acc),
                        Expr::bin(BinaryOp::Mul, av.clone(), bv.clone()),
                    )
                };
                body.push(Stmt::Assign {
                    var: acc,
                    value: next,
                });
            }
        }
        let hv = self.g.node(h).outputs[0];
        let flat = |r: usize, c: usize| {
            let mut coords = batch.to_vec();
            coords.push(m.add_c(m0, r as i128));
            coords.push(m.add_c(&cols, (c * l) as i128));
            let pos = Pos::Coords(coords);
            let index = m.flat(&pos, &job.dims).e;
            (pos, index)
        };
        let mut fin = Vec::new();
        for r in 0..rows {
            for c in 0..vecs {
                let (pos, index) = flat(r, c);
                self.subst.clear();
                self.subst.insert(
                    hv,
                    super::reduce::convert(Expr::Var(accs[r * vecs + c]), acc_dt, dt),
                );
                let v = self.value(job.out, &pos, lanes, &mut fin)?;
                self.subst.clear();
                fin.push(Stmt::Store {
                    buf: job.out_buf,
                    index,
                    value: v,
                });
            }
        }
        let Some(kb) = at.kblk else {
            out.push(self.counted(kv, 0, kk, body));
            out.extend(fin);
            return Ok(out);
        };
        // A block of `k`: start from the partial sums in the output after the first block,
        // store partial sums before the last.
        let (mut resume, mut partial) = (Vec::new(), Vec::new());
        for r in 0..rows {
            for c in 0..vecs {
                let (_, index) = flat(r, c);
                let acc = accs[r * vecs + c];
                resume.push(Stmt::Assign {
                    var: acc,
                    value: Expr::Load {
                        buf: job.out_buf,
                        index: Box::new(index.clone()),
                        lanes,
                    },
                });
                partial.push(Stmt::Store {
                    buf: job.out_buf,
                    index,
                    value: Expr::Var(acc),
                });
            }
        }
        out.push(Stmt::If {
            cond: kb.first.clone(),
            then: Vec::new(),
            els: resume,
        });
        out.push(Stmt::Loop {
            var: kv,
            start: Expr::int(m.dt, 0),
            end: kb.count.clone(),
            step: 1,
            kind: LoopKind::Serial,
            body,
        });
        out.push(Stmt::If {
            cond: kb.last.clone(),
            then: fin,
            els: partial,
        });
        Ok(out)
    }

    /// The packed schedule (see the module docs); `Err(NotVector)` when the shapes do not fit
    /// it or the panel would exceed the target's scratch bytes.
    fn cpu_matmul_packed(&mut self, job: &Job, h: NodeId) -> Res<Vec<Stmt>> {
        let ix = self.m;
        let lanes = self.lanes();
        let (a, b) = (self.input_of(h, 0)?, self.input_of(h, 1)?);
        let (ad, bd) = (self.dims(a), self.dims(b));
        let r = job.dims.len();
        if lanes < 2 || ad.len() < 2 || bd.len() < 2 || r < 2 {
            return Err(Fail::NotVector);
        }
        let (m, n, k) = (job.dims[r - 2], job.dims[r - 1], ad[ad.len() - 1]);
        let nr = packed_shape(lanes).1 * usize::from(lanes);
        let acc_dt = super::reduce::acc_dtype(self.dtype(a));
        // Blocks of `k` (see the module docs) where a whole-`k` panel would not fit and the
        // output holds the accumulator type, so that it can keep the partial sums.
        let row_bytes = nr * acc_dt.size_bytes();
        let kc = k_block(self.target.l1_bytes, row_bytes, k, self.target.shared_bytes)
            .filter(|_| self.dtype(job.out) == acc_dt);
        let panel = kc.unwrap_or(k).checked_mul(nr).ok_or(Fail::NotVector)?;
        let bytes = panel
            .checked_mul(acc_dt.size_bytes())
            .ok_or(Fail::NotVector)?;
        if m == 0 || n < nr || k == 0 || bytes > self.target.shared_bytes {
            return Err(Fail::NotVector);
        }
        let batch: Vec<usize> = job.dims[..r - 2].to_vec();
        let nb: usize = batch.iter().product();
        let full = n / nr;
        // Strips per unit: as many panels as the scratch bytes hold (each row block of A is
        // then read from memory once for all of them), while every core keeps a few units.
        let enough = self.target.cores.max(1) * super::CHUNKS_PER_CORE;
        let group = [STRIPS_PER_UNIT, 2, 1]
            .into_iter()
            .find(|&g| {
                g == 1
                    || (g * bytes <= self.target.shared_bytes
                        && full.is_multiple_of(g)
                        && nb * (full / g) >= enough)
            })
            .unwrap_or(1);
        let groups = full / group;
        let per_batch = groups + usize::from(n % nr != 0);
        let units = nb * per_batch;
        let (chunks, per) = self.chunks(units, m * nr * group, 1);
        self.k.launch.grid = vec![chunks];
        let bp = self
            .k
            .shared_buf(format!("bpanel{}", self.names), acc_dt, group * panel);
        let mut body = Vec::new();
        let (s, e) = self.chunk_range(per, units, &mut body);
        let uv = self.fresh("unit", ix.ty());
        let uix = ix.inv(Expr::Var(uv), 0, units as i128 - 1);
        let mut ub = Vec::new();
        let bt = ix.div_c(&uix, per_batch as i128);
        let bix = ix.coords(&Pos::Flat(bt), &batch);
        let q = ix.rem_c(&uix, per_batch as i128);
        let qe = self.let_var("group", q.e.clone(), &mut ub);
        let q = ix.inv(qe.clone(), 0, groups as i128 - 1);
        let n0 = ix.mul_c(&q, (group * nr) as i128);
        let last = ((full - 1) * nr) as i128;
        if let (Some(_), BufRef::Param(i)) = (kc, job.out_buf) {
            self.k.params[i].access = crate::kernel::Access::ReadWrite;
        }
        let strips = self.packed_strips(job, h, &bix, (&n0, last), (m, k, kc), (bp, group, 2))?;
        if n % nr == 0 {
            ub.extend(strips);
        } else {
            // The columns beyond the last whole strip: one vector wide where they reach it,
            // then one element at a time.
            let l = usize::from(lanes);
            let mut tail = full * nr;
            let mut rest = Vec::new();
            if n - tail >= l {
                let n0 = ix.c(tail as i128);
                let at = (&n0, tail as i128);
                rest = self.packed_strips(job, h, &bix, at, (m, k, kc), (bp, 1, 1))?;
                tail += l;
            }
            if tail < n {
                let cols = (
                    Expr::int(ix.dt, tail as i128),
                    Expr::int(ix.dt, n as i128),
                    n,
                );
                let rows = (Expr::int(ix.dt, 0), Expr::int(ix.dt, m as i128));
                rest.push(self.scalar_block(job, m, &bix, rows, cols)?);
            }
            ub.push(Stmt::If {
                cond: Expr::bin(BinaryOp::Less, qe, Expr::int(ix.dt, groups as i128)),
                then: strips,
                els: rest,
            });
        }
        body.push(Stmt::Loop {
            var: uv,
            start: s,
            end: e,
            step: 1,
            kind: LoopKind::Serial,
            body: ub,
        });
        Ok(body)
    }

    /// `group` whole strips of `nr = vecs · lanes` columns from `n0` (the last one starting
    /// at most at column `last`): B's `k × nr` blocks copied into the panels of `bp` (strip
    /// `s` at `s · k · nr`), then, for each row block, the register blocks of every strip.
    /// With a block length `kc`, all of that once per block of `kc` rows of B.
    fn packed_strips(
        &mut self,
        job: &Job,
        h: NodeId,
        batch: &[Ix],
        (n0, last): (&Ix, i128),
        (m, k, kc): (usize, usize, Option<usize>),
        (bp, group, vecs): (BufRef, usize, usize),
    ) -> Res<Vec<Stmt>> {
        let ix = self.m;
        let Some(len) = kc else {
            return self.packed_block(job, h, batch, (n0, last), (m, k, None), (bp, group, vecs));
        };
        let blocks = k.div_ceil(len);
        let kv = self.fresh("kb", ix.ty());
        let k0 = ix.mul_c(&ix.inv(Expr::Var(kv), 0, blocks as i128 - 1), len as i128);
        let mut out = Vec::new();
        let k0e = self.let_var("k0", k0.e.clone(), &mut out);
        let k0 = Ix { e: k0e, ..k0 };
        let count = if k.is_multiple_of(len) {
            Expr::int(ix.dt, len as i128)
        } else {
            Expr::binary(
                BinOp::Min,
                Expr::int(ix.dt, len as i128),
                Expr::bin(BinaryOp::Sub, Expr::int(ix.dt, k as i128), k0.e.clone()),
            )
        };
        let kb = KBlock {
            first: Expr::bin(BinaryOp::Equal, Expr::Var(kv), Expr::int(ix.dt, 0)),
            last: Expr::bin(
                BinaryOp::Equal,
                Expr::Var(kv),
                Expr::int(ix.dt, blocks as i128 - 1),
            ),
            k0,
            len,
            count,
            k,
        };
        out.extend(self.packed_block(
            job,
            h,
            batch,
            (n0, last),
            (m, k, Some(&kb)),
            (bp, group, vecs),
        )?);
        Ok(vec![self.counted(kv, 0, blocks, out)])
    }

    /// [`Self::packed_strips`] for all of `k` or for one block of it.
    fn packed_block(
        &mut self,
        job: &Job,
        h: NodeId,
        batch: &[Ix],
        (n0, last): (&Ix, i128),
        (m, k, kblk): (usize, usize, Option<&KBlock>),
        (bp, group, vecs): (BufRef, usize, usize),
    ) -> Res<Vec<Stmt>> {
        let ix = self.m;
        let lanes = self.lanes();
        let rows = packed_shape(lanes).0;
        let l = usize::from(lanes);
        let nr = vecs * l;
        let b = self.input_of(h, 1)?;
        let bd = self.dims(b);
        let (dt, acc_dt) = (self.dtype(b), super::reduce::acc_dtype(self.dtype(b)));
        // The first column of strip `sv`, always a variable: the columns' lane step rides on
        // it (constants fold it away).
        let strip_start = |kb: &mut Self, out: &mut Vec<Stmt>| {
            let sv = kb.fresh("s", ix.ty());
            let six = ix.inv(Expr::Var(sv), 0, group as i128 - 1);
            let c0 = ix.add(n0, &ix.mul_c(&six, nr as i128));
            let cv = kb.fresh("n0", ix.ty());
            out.push(Stmt::Let {
                var: cv,
                value: c0.e,
            });
            (sv, six, Expr::Var(cv))
        };
        let mut out = Vec::new();
        // Pack: panel[(s · k + kk) · nr + j] = B[batch, kk, n0 + s · nr + j].
        let mut per_strip = Vec::new();
        let (sv, six, c0) = strip_start(self, &mut per_strip);
        let kv = self.fresh("kp", ix.ty());
        // Rows of the panel: all of `k`, or the block's.
        let rows_k = kblk.map_or(k, |kb| kb.len);
        let kl = ix.inv(Expr::Var(kv), 0, rows_k as i128 - 1);
        let kix = match kblk {
            None => kl.clone(),
            Some(kb) => {
                let mut kix = ix.add(&kb.k0, &kl);
                kix.hi = kix.hi.min(kb.k as i128 - 1);
                kix
            }
        };
        let cols = Ix::within(c0.clone(), Some(1), 0, last + nr as i128 - 1);
        let n0s = ix.inv(c0, 0, last);
        let row = ix.mul_c(&ix.add(&ix.mul_c(&six, rows_k as i128), &kl), nr as i128);
        let mut pk = Vec::new();
        let mut contiguous = true;
        for c in 0..vecs {
            let mut bc = self.operand_batch(batch, &bd);
            bc.push(kix.clone());
            bc.push(ix.add_c(&cols, (c * l) as i128));
            let mut pre = Vec::new();
            match self.attempt(|kb| kb.value(b, &Pos::Coords(bc), lanes, &mut pre)) {
                Ok(v) => {
                    pk.extend(pre);
                    pk.push(Stmt::Store {
                        buf: bp,
                        index: ix.add_c(&row, (c * l) as i128).e,
                        value: super::reduce::convert(v, dt, acc_dt),
                    });
                }
                // Not contiguous along the columns (a transposed view): one element at a time.
                Err(Fail::NotVector) => {
                    contiguous = false;
                    for j in c * l..(c + 1) * l {
                        let mut bc = self.operand_batch(batch, &bd);
                        bc.push(kix.clone());
                        bc.push(ix.add_c(&n0s, j as i128));
                        let v = self.value(b, &Pos::Coords(bc), 1, &mut pk)?;
                        pk.push(Stmt::Store {
                            buf: bp,
                            index: ix.add_c(&row, j as i128).e,
                            value: super::reduce::convert(v, dt, acc_dt),
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // The loop over the panel's rows: all of `k`, or the block's rows.
        let k_loop = |kb: &Self, body: Vec<Stmt>| match kblk {
            None => kb.counted(kv, 0, k, body),
            Some(blk) => Stmt::Loop {
                var: kv,
                start: Expr::int(ix.dt, 0),
                end: blk.count.clone(),
                step: 1,
                kind: LoopKind::Serial,
                body,
            },
        };
        if contiguous {
            // Rows of B outermost: each reads `group · nr` consecutive elements of B, several
            // cache lines in a row, instead of one line per row a whole row of B apart.
            per_strip.extend(pk);
            let strips = self.counted(sv, 0, group, per_strip);
            out.push(k_loop(self, vec![strips]));
        } else {
            // A transposed B is contiguous along `k`: strips outermost.
            per_strip.push(k_loop(self, pk));
            out.push(self.counted(sv, 0, group, per_strip));
        }
        // Register blocks: whole blocks of `rows`, then one block of the rows left.
        let whole = m / rows * rows;
        let blocks = |kb: &mut Self, m0: &Ix, rows: usize| -> Res<Stmt> {
            let mut per_strip = Vec::new();
            let (sv, six, c0) = strip_start(kb, &mut per_strip);
            let n0s = ix.inv(c0, 0, last);
            let base = ix.mul_c(&six, (rows_k * nr) as i128);
            let at = Block {
                batch,
                m0,
                n0: &n0s,
                rows,
                b: BSource::Panel(bp, nr, base),
                kblk,
            };
            per_strip.extend(kb.micro(job, h, lanes, vecs, &at)?);
            Ok(kb.counted(sv, 0, group, per_strip))
        };
        if whole > 0 {
            let mv = self.fresh("m0", ix.ty());
            let m0 = ix.inv(Expr::Var(mv), 0, (whole - rows) as i128);
            let strips = blocks(self, &m0, rows)?;
            out.push(Stmt::Loop {
                var: mv,
                start: Expr::int(ix.dt, 0),
                end: Expr::int(ix.dt, whole as i128),
                step: u32::try_from(rows).map_err(|_| Fail::NotVector)?,
                kind: LoopKind::Serial,
                body: vec![strips],
            });
        }
        if whole < m {
            out.push(blocks(self, &ix.c(whole as i128), m - whole)?);
        }
        Ok(out)
    }
}

/// The length of the blocks the packed schedule cuts `k` into, `None` for one block: `k` is
/// blocked only where a whole-`k` panel (`row_bytes` per row) would not fit the `scratch`
/// bytes — where it fits, the unblocked schedule measured as fast or faster (see
/// docs/performance.md) — and then a `kc × nr` panel takes at most half of the L1 data cache
/// (16 KiB when its size is unknown), the blocks made as equal as `k` allows.
pub fn k_block(l1_bytes: usize, row_bytes: usize, k: usize, scratch: usize) -> Option<usize> {
    if k.saturating_mul(row_bytes) <= scratch {
        return None;
    }
    let budget = match l1_bytes {
        0 => 16 << 10,
        b => b / 2,
    };
    let kc = (budget / row_bytes.max(1)).max(MIN_K_BLOCK);
    Some(k.div_ceil(k.div_ceil(kc)))
}

/// The shortest block of `k` worth the partial sums' loads and stores.
pub const MIN_K_BLOCK: usize = 64;

/// Side of the square output tile of the GPU matmul (one invocation per output element).
pub const GPU_TILE: usize = 16;

impl Kb<'_> {
    /// The GPU matmul: a workgroup computes a `T × T` output tile; per step of `T` along `k`,
    /// every invocation stages one element of A and one of B in shared memory (zero outside
    /// the matrices), a barrier, `T` `fma`s from shared memory, a barrier. The epilogue runs on
    /// each invocation's accumulator under a bounds check. `Err(NotVector)` when the target's
    /// limits or the operand ranks do not fit (then the generic schedule runs).
    pub(super) fn gpu_matmul(&mut self, job: &Job, h: NodeId) -> Res<Vec<Stmt>> {
        let m = self.m;
        let (a, b) = (self.input_of(h, 0)?, self.input_of(h, 1)?);
        let (ad, bd) = (self.dims(a), self.dims(b));
        let r = job.dims.len();
        let dt = self.dtype(a);
        let tile = [GPU_TILE, GPU_TILE / 2]
            .into_iter()
            .find(|&t| {
                t * t <= self.group_limit()
                    && t <= self.target.max_group_dims[1]
                    && 2 * t * t * dt.size_bytes() <= self.target.shared_bytes
            })
            .ok_or(Fail::NotVector)?;
        if ad.len() < 2 || bd.len() < 2 || r < 2 {
            return Err(Fail::NotVector);
        }
        let (mm, nn, kk) = (job.dims[r - 2], job.dims[r - 1], ad[ad.len() - 1]);
        let batch_dims = job.dims[..r - 2].to_vec();
        let nb: usize = batch_dims.iter().product();
        let grid = vec![nn.div_ceil(tile), mm.div_ceil(tile), nb];
        self.launch_within_limits(&grid, vec![tile, tile, 1])?;
        let t = tile as i128;
        let sa = self.k.shared_buf("tile_a", dt, tile * tile);
        let sb = self.k.shared_buf("tile_b", dt, tile * tile);
        let mut body = Vec::new();
        let lx = self.let_var("lx", m.cast(Expr::LocalId(0)), &mut body);
        let ly = self.let_var("ly", m.cast(Expr::LocalId(1)), &mut body);
        let row_e = Expr::bin(
            BinaryOp::Add,
            Expr::bin(BinaryOp::Mul, m.cast(Expr::GroupId(1)), Expr::int(m.dt, t)),
            ly.clone(),
        );
        let col_e = Expr::bin(
            BinaryOp::Add,
            Expr::bin(BinaryOp::Mul, m.cast(Expr::GroupId(0)), Expr::int(m.dt, t)),
            lx.clone(),
        );
        let row = self.let_var("row", row_e, &mut body);
        let col = self.let_var("col", col_e, &mut body);
        let row_ix = m.inv(row.clone(), 0, (grid[1] * tile) as i128 - 1);
        let col_ix = m.inv(col.clone(), 0, (grid[0] * tile) as i128 - 1);
        let bt = m.inv(m.cast(Expr::GroupId(2)), 0, nb as i128 - 1);
        let batch = m.coords(&Pos::Flat(bt), &batch_dims);
        let acc_dt = super::reduce::acc_dtype(dt);
        let acc = self.fresh("acc", Ty::scalar(acc_dt));
        body.push(Stmt::Local {
            var: acc,
            init: super::build::zero(Ty::scalar(acc_dt)),
        });
        let kt = self.fresh("kt", m.ty());
        let kt_ix = m.inv(Expr::Var(kt), 0, kk as i128 - 1);
        let mut step = Vec::new();
        // Stage A[row, kt + lx] and B[kt + ly, col], zero outside.
        let ka = m.add(&kt_ix, &m.inv(lx.clone(), 0, t - 1));
        let kb = m.add(&kt_ix, &m.inv(ly.clone(), 0, t - 1));
        let stage =
            |kb_: &mut Self, v, coords: Vec<Ix>, inside: Expr, step: &mut Vec<Stmt>| -> Res<Expr> {
                let x = kb_.value(v, &Pos::Coords(coords), 1, step)?;
                Ok(super::reduce::select(
                    inside,
                    x,
                    super::build::zero(Ty::scalar(dt)),
                ))
            };
        let mut ac = self.operand_batch(&batch, &ad);
        ac.push(m.clamp(&row_ix, 0, mm as i128 - 1));
        ac.push(m.clamp(&ka, 0, kk as i128 - 1));
        let in_a = and_opt(
            m.in_range(&row_ix, 0, mm as i128),
            m.in_range(&ka, 0, kk as i128),
        );
        let av = stage(self, a, ac, in_a, &mut step)?;
        let mut bc = self.operand_batch(&batch, &bd);
        bc.push(m.clamp(&kb, 0, kk as i128 - 1));
        bc.push(m.clamp(&col_ix, 0, nn as i128 - 1));
        let in_b = and_opt(
            m.in_range(&kb, 0, kk as i128),
            m.in_range(&col_ix, 0, nn as i128),
        );
        let bv = stage(self, b, bc, in_b, &mut step)?;
        let slot = Expr::bin(
            BinaryOp::Add,
            Expr::bin(BinaryOp::Mul, ly.clone(), Expr::int(m.dt, t)),
            lx.clone(),
        );
        step.push(Stmt::Store {
            buf: sa,
            index: slot.clone(),
            value: av,
        });
        step.push(Stmt::Store {
            buf: sb,
            index: slot,
            value: bv,
        });
        step.push(Stmt::Barrier);
        let q = self.fresh("kk", m.ty());
        let a_at = Expr::bin(
            BinaryOp::Add,
            Expr::bin(BinaryOp::Mul, ly, Expr::int(m.dt, t)),
            Expr::Var(q),
        );
        let b_at = Expr::bin(
            BinaryOp::Add,
            Expr::bin(BinaryOp::Mul, Expr::Var(q), Expr::int(m.dt, t)),
            lx,
        );
        let (x, y) = (
            super::reduce::convert(Expr::load(sa, a_at), dt, acc_dt),
            super::reduce::convert(Expr::load(sb, b_at), dt, acc_dt),
        );
        let next = if dt.is_float() && self.target.has_fma {
            Expr::Fma {
                a: Box::new(x),
                b: Box::new(y),
                c: Box::new(Expr::Var(acc)),
            }
        } else {
            Expr::bin(
                BinaryOp::Add,
                Expr::Var(acc),
                Expr::bin(BinaryOp::Mul, x, y),
            )
        };
        step.push(self.counted(
            q,
            0,
            tile,
            vec![Stmt::Assign {
                var: acc,
                value: next,
            }],
        ));
        step.push(Stmt::Barrier);
        body.push(Stmt::Loop {
            var: kt,
            start: Expr::int(m.dt, 0),
            end: Expr::int(m.dt, kk as i128),
            step: tile as u32,
            kind: LoopKind::Serial,
            body: step,
        });
        let mut coords = batch;
        coords.push(m.inv(row.clone(), 0, mm as i128 - 1));
        coords.push(m.inv(col.clone(), 0, nn as i128 - 1));
        let pos = Pos::Coords(coords);
        let hv = self.g.node(h).outputs[0];
        self.subst.clear();
        self.subst
            .insert(hv, super::reduce::convert(Expr::Var(acc), acc_dt, dt));
        let mut fin = Vec::new();
        let v = self.value(job.out, &pos, 1, &mut fin)?;
        self.subst.clear();
        fin.push(Stmt::Store {
            buf: job.out_buf,
            index: m.flat(&pos, &job.dims).e,
            value: v,
        });
        let inside = Expr::bin(
            BinaryOp::And,
            Expr::bin(BinaryOp::Less, row, Expr::int(m.dt, mm as i128)),
            Expr::bin(BinaryOp::Less, col, Expr::int(m.dt, nn as i128)),
        );
        body.push(Stmt::If {
            cond: inside,
            then: fin,
            els: vec![],
        });
        Ok(body)
    }
}

/// `a && b`, either side possibly always true (`None`).
pub(super) fn and_opt(a: Option<Expr>, b: Option<Expr>) -> Expr {
    match (a, b) {
        (Some(x), Some(y)) => Expr::bin(BinaryOp::And, x, y),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => Expr::Const {
            ty: Ty::scalar(crate::dtype::DType::Bool),
            value: crate::kernel::Scalar::Bool(true),
        },
    }
}
