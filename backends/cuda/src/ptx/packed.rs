//! Packed half-precision arithmetic: an f16 (or, on sm_90, bf16) vector value of an even
//! number of lanes also gets `.b32` registers holding its lanes two by two (`f16x2` /
//! `bf16x2`, the lower lane in the low half), and `add sub mul` (and `fma` on f16) of such
//! values run as one `add.rn.f16x2` / ... per pair instead of two f32 operations plus
//! rounding. Loads make the packed form from the loaded halves with one `mov`; stores of a
//! value that has it write its halves without converting. The f32 registers of every result
//! are still produced (unpacked and widened); ptxas removes whichever form is unused.
//!
//! Same results as the kernel IR's per-operation rounding: the interpreter rounds the exact
//! result once to the dtype, and so do these instructions (IEEE round-to-nearest-even).
//! The f32 route used elsewhere agrees for `add sub mul` (f32 has at least `2p + 2` bits for
//! p = 11 and 8, so rounding twice is innocuous), but **not** for f16 `fma` — e.g.
//! `fma(3, 1 + 2^-10, -2^-24)` is `3 + 2^-9` correctly rounded, while rounding the f32 result
//! gives `3 + 2^-8` — so the packed `fma.rn.f16x2` is also more accurate. bf16 `fma` keeps the
//! f32 route: the interpreter's f64 intermediate can double-round it when the addend is
//! many binades below the product, so a native bf16 `fma` could differ from it.

use super::{Class, Val, Writer};
use crate::target::Arch;
use tessera_ir::DType;
use tessera_ir::kernel::BinOp;
use tessera_ir::op::BinaryOp;

impl Writer<'_> {
    /// The packed type suffix for `d` values of `lanes` lanes, when they can be packed here.
    fn packed_ty(&self, d: DType, lanes: u8) -> Option<&'static str> {
        if lanes < 2 || !lanes.is_multiple_of(2) {
            return None;
        }
        match d {
            DType::F16 => Some("f16x2"),
            DType::BF16 if self.arch == Arch::Sm90 => Some("bf16x2"),
            _ => None,
        }
    }

    /// Packed registers of the raw 16-bit halves `raw` (as loaded), when `d` packs.
    pub(crate) fn pack_raw(&mut self, d: DType, raw: &[String]) -> Option<Vec<String>> {
        self.packed_ty(d, u8::try_from(raw.len()).ok()?)?;
        Some(
            raw.chunks(2)
                .map(|p| {
                    let pair = format!("{{{}, {}}}", p[0], p[1]);
                    self.op(Class::B32, "mov.b32", &[&pair])
                })
                .collect(),
        )
    }

    /// The packed registers of a value, made from its f32 registers when it has none.
    fn packed_of(&mut self, v: &Val) -> Vec<String> {
        if let Some(p) = &v.packed {
            return p.clone();
        }
        let cvt = match v.ty.dtype {
            DType::BF16 => "cvt.rn.bf16.f32",
            _ => "cvt.rn.f16.f32",
        };
        let halves: Vec<String> = v
            .regs
            .iter()
            .map(|r| self.op(Class::B16, cvt, &[r]))
            .collect();
        self.pack_raw(v.ty.dtype, &halves).unwrap_or_default()
    }

    /// The raw 16-bit halves of packed registers (for stores).
    pub(crate) fn unpack_raw(&mut self, packed: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(2 * packed.len());
        for p in packed {
            let (lo, hi) = (self.reg(Class::B16), self.reg(Class::B16));
            self.ins(format!("mov.b32 {{{lo}, {hi}}}, {p}"));
            out.push(lo);
            out.push(hi);
        }
        out
    }

    /// `ins` on every pair of lanes of `operands` (of one f16/bf16 type); the f32 registers
    /// and the packed registers of the result.
    fn packed_op(&mut self, ins: &str, ty: &str, operands: &[&Val]) -> (Vec<String>, Vec<String>) {
        let d = operands[0].ty.dtype;
        let ops: Vec<Vec<String>> = operands.iter().map(|v| self.packed_of(v)).collect();
        let mut packed = Vec::new();
        for i in 0..ops[0].len() {
            let args: Vec<&str> = ops.iter().map(|o| o[i].as_str()).collect();
            packed.push(self.op(Class::B32, &format!("{ins}.{ty}"), &args));
        }
        let raw = self.unpack_raw(&packed);
        let regs = raw
            .iter()
            .map(|h| match d {
                DType::BF16 => self.bf16_to_f32(h),
                _ => self.op(Class::F32, "cvt.f32.f16", &[h]),
            })
            .collect();
        (regs, packed)
    }

    /// `a op b` as packed instructions, when the type and operator allow it.
    pub(crate) fn packed_binary(
        &mut self,
        op: BinOp,
        a: &Val,
        b: &Val,
    ) -> Option<(Vec<String>, Vec<String>)> {
        let ty = self.packed_ty(a.ty.dtype, a.ty.lanes)?;
        let ins = match op {
            BinOp::Op(BinaryOp::Add) => "add.rn",
            BinOp::Op(BinaryOp::Sub) => "sub.rn",
            BinOp::Op(BinaryOp::Mul) => "mul.rn",
            _ => return None,
        };
        Some(self.packed_op(ins, ty, &[a, b]))
    }

    /// `fma(a, b, c)` as packed instructions (f16 only).
    pub(crate) fn packed_fma(
        &mut self,
        a: &Val,
        b: &Val,
        c: &Val,
    ) -> Option<(Vec<String>, Vec<String>)> {
        if a.ty.dtype != DType::F16 {
            return None;
        }
        let ty = self.packed_ty(a.ty.dtype, a.ty.lanes)?;
        Some(self.packed_op("fma.rn", ty, &[a, b, c]))
    }

    /// The packed registers a `let` variable was bound with, if any.
    pub(crate) fn packed_var(&self, v: usize) -> Option<Vec<String>> {
        self.packed_vars.get(&v).cloned()
    }
}
