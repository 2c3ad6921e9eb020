//! Prints the kernel IR's `mma` statement: per-lane fragment loads from shared memory in the
//! layout the PTX ISA gives for `mma.m16n8k16` (f16/bf16) and `mma.m16n8k8` (tf32), then one
//! `mma.sync.aligned` that accumulates into the statement's `f32x4` accumulator registers.
//!
//! With `g = lane / 4` and `t = lane % 4`, the fragments are (element `(row, col)` of A, of B):
//! - m16n8k16 A: `a_i` at row `g + 8·[i ∈ {2,3,6,7}]`, column `2t + (i & 1) + 8·[i ≥ 4]`,
//!   packed two per `.b32` register (`{a0,a1}`, `{a2,a3}`, ...; the lower index in the low
//!   half); B: `b_i` at row `2t + (i & 1) + 8·[i ≥ 2]`, column `g`. The two elements of a
//!   register are adjacent along `k` in shared memory, so each register is one `ld.shared.b32`
//!   (aligned: the IR makes the index and stride even, and the index is checked at run time);
//! - m16n8k8 tf32 A: `a0 (g, t)`, `a1 (g+8, t)`, `a2 (g, t+4)`, `a3 (g+8, t+4)`; B: `b0 (t, g)`,
//!   `b1 (t+4, g)`, each converted with `cvt.rna.tf32.f32`;
//! - the accumulator: `c_q` at row `g + 8·[q ≥ 2]`, column `2t + (q & 1)` — the element
//!   [`tessera_ir::kernel::MmaShape::acc_element`] defines, so the IR's registers are the
//!   instruction's as they are.
//!
//! A is stored row-major and B column by column (both contiguous along `k`), so every lane's
//! elements sit at `index + g·stride + (2t or t)` plus constant offsets. All loads of a tile
//! are predicated on one bounds check of the whole tile (`index + (lines - 1)·stride + k <=
//! len`, 16 rows of A or 8 columns of B): a tile out of bounds reads zeros and sets the
//! status word's out-of-bounds bit.

use super::{Class, ERR_OUT_OF_BOUNDS, Res, Writer};
use tessera_ir::DType;
use tessera_ir::kernel::{MmaOperand, MmaShape, VarId};

/// Element offsets `(rows or columns, k)` of each fragment element, relative to the lane's
/// first element, in register order.
fn a_offsets(shape: MmaShape) -> &'static [(usize, usize)] {
    match shape {
        MmaShape::M16n8k16 => &[
            (0, 0),
            (0, 1),
            (8, 0),
            (8, 1),
            (0, 8),
            (0, 9),
            (8, 8),
            (8, 9),
        ],
        MmaShape::M16n8k8Tf32 => &[(0, 0), (8, 0), (0, 4), (8, 4)],
    }
}

/// The same for B (stored column by column: the first coordinate is the column).
fn b_offsets(shape: MmaShape) -> &'static [(usize, usize)] {
    match shape {
        MmaShape::M16n8k16 => &[(0, 0), (0, 1), (0, 8), (0, 9)],
        MmaShape::M16n8k8Tf32 => &[(0, 0), (0, 4)],
    }
}

impl Writer<'_> {
    /// Prints one `mma` statement.
    pub(crate) fn mma(
        &mut self,
        shape: MmaShape,
        acc: VarId,
        a: &MmaOperand,
        b: &MmaOperand,
    ) -> Res<()> {
        let tid = self.op(Class::B32, "mov.u32", &["%tid.x"]);
        let lane = self.op(Class::B32, "and.b32", &[&tid, "31"]);
        let g = self.op(Class::B32, "shr.u32", &[&lane, "2"]);
        let t = self.op(Class::B32, "and.b32", &[&lane, "3"]);
        // The lane's first element: g·stride + 2t (f16/bf16) or g·stride + t (tf32).
        let (ta, ka) = match shape {
            MmaShape::M16n8k16 => (self.op(Class::B32, "shl.b32", &[&t, "1"]), 16),
            MmaShape::M16n8k8Tf32 => (t, 8),
        };
        let (g64, t64) = (
            self.op(Class::B64, "cvt.u64.u32", &[&g]),
            self.op(Class::B64, "cvt.u64.u32", &[&ta]),
        );
        let a_regs = self.fragment(shape, a, (&g64, &t64), a_offsets(shape), (MmaShape::M, ka))?;
        let b_regs = self.fragment(shape, b, (&g64, &t64), b_offsets(shape), (MmaShape::N, ka))?;
        let c = self.var_regs(acc.index())?;
        let kind = match shape {
            MmaShape::M16n8k16 => {
                let d = self.buffer(a.buf)?.2;
                if d == DType::BF16 {
                    "m16n8k16.row.col.f32.bf16.bf16.f32"
                } else {
                    "m16n8k16.row.col.f32.f16.f16.f32"
                }
            }
            MmaShape::M16n8k8Tf32 => "m16n8k8.row.col.f32.tf32.tf32.f32",
        };
        let list = |r: &[String]| format!("{{{}}}", r.join(", "));
        self.ins(format!(
            "mma.sync.aligned.{kind} {}, {}, {}, {}",
            list(&c),
            list(&a_regs),
            list(&b_regs),
            list(&c)
        ));
        Ok(())
    }

    /// Loads one operand's fragment into `.b32` registers (pairs of 16-bit elements packed,
    /// or tf32 values). `(g64, t64)` are the lane's group and (scaled) thread-in-group;
    /// `offsets` are `(row or column, k)` per element; `(lines, k)` is the tile's size in
    /// rows (A) or columns (B) and depth.
    fn fragment(
        &mut self,
        shape: MmaShape,
        op: &MmaOperand,
        (g64, t64): (&str, &str),
        offsets: &[(usize, usize)],
        (lines, k): (usize, usize),
    ) -> Res<Vec<String>> {
        let (space, base, d, len) = self.buffer(op.buf)?;
        let stride = op.stride as usize;
        let idx = self.index64(&op.index)?;
        let inb = self.in_bounds(&idx, (lines - 1) * stride, k, len);
        // 16-bit operands are read in pairs: the index must be even (the verifier makes the
        // stride even), or nothing is read and the error bit is set.
        let ok = if shape.pair() > 1 {
            let low = self.op(Class::B64, "and.b64", &[&idx, "1"]);
            let even = self.op(Class::Pred, "setp.eq.u64", &[&low, "0"]);
            self.op(Class::Pred, "and.pred", &[&inb, &even])
        } else {
            inb
        };
        self.flag_unless(&ok, ERR_OUT_OF_BOUNDS);
        let row = self.op(Class::B64, "mul.lo.u64", &[g64, &stride.to_string()]);
        let first = self.op(Class::B64, "add.u64", &[&idx, &row]);
        let first = self.op(Class::B64, "add.u64", &[&first, t64]);
        let size = d.size_bytes();
        let addr = self.address(&base, &first, size);
        let mut regs = Vec::new();
        match shape {
            MmaShape::M16n8k16 => {
                // Elements 2i and 2i + 1 are adjacent along k: one aligned 32-bit load.
                for pair in offsets.chunks(2) {
                    let (rc, kk) = pair[0];
                    let r = self.mov(Class::B32, "0");
                    let off = (rc * stride + kk) * size;
                    self.ins(format!("@{ok} ld.{space}.b32 {r}, [{addr}+{off}]"));
                    regs.push(r);
                }
            }
            MmaShape::M16n8k8Tf32 => {
                for &(rc, kk) in offsets {
                    let f = self.mov(Class::F32, &super::f32_imm(0.0));
                    let off = (rc * stride + kk) * size;
                    self.ins(format!("@{ok} ld.{space}.f32 {f}, [{addr}+{off}]"));
                    regs.push(self.op(Class::B32, "cvt.rna.tf32.f32", &[&f]));
                }
            }
        }
        Ok(regs)
    }
}
