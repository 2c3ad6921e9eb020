//! How a kernel value is held in Cranelift values: whole 128-bit vectors or one scalar per
//! lane (see [`super`]), and the conversions between the two that operators need.

use super::{R, Renderer, Val, internal, vector_type};
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use tessera_ir::DType;
use tessera_ir::kernel::Ty;

impl Renderer<'_, '_> {
    pub(super) fn single(&self, dtype: DType, v: Value) -> Val {
        Val {
            ty: Ty::scalar(dtype),
            parts: vec![v],
        }
    }

    pub(super) fn part_count(&self, ty: Ty, vt: Type) -> usize {
        usize::from(ty.lanes) / vt.lane_count() as usize
    }

    /// `s` repeated over `ty`'s lanes.
    pub(super) fn splat(&mut self, ty: Ty, s: Value) -> Val {
        let parts = match vector_type(ty) {
            Some(vt) => {
                let v = self.b.ins().splat(vt, s);
                vec![v; self.part_count(ty, vt)]
            }
            None => vec![s; usize::from(ty.lanes)],
        };
        Val { ty, parts }
    }

    /// One lane as a scalar.
    pub(super) fn lane(&mut self, v: &Val, lane: u8) -> R<Value> {
        let l = usize::from(lane);
        match vector_type(v.ty) {
            Some(vt) => {
                let per = vt.lane_count() as usize;
                match v.parts.get(l / per) {
                    Some(&p) => Ok(self.b.ins().extractlane(p, (l % per) as u8)),
                    None => internal("lane out of range"),
                }
            }
            None => match v.parts.get(l) {
                Some(&p) => Ok(p),
                None => internal("lane out of range"),
            },
        }
    }

    /// Every lane as a scalar.
    pub(super) fn lanes_of(&mut self, v: &Val) -> Vec<Value> {
        match vector_type(v.ty) {
            Some(vt) => {
                let per = vt.lane_count() as u8;
                let mut out = Vec::with_capacity(usize::from(v.ty.lanes));
                for &p in &v.parts {
                    for l in 0..per {
                        out.push(self.b.ins().extractlane(p, l));
                    }
                }
                out
            }
            None => v.parts.clone(),
        }
    }

    /// A value of type `ty` from its lanes.
    pub(super) fn pack(&mut self, ty: Ty, lanes: Vec<Value>) -> Val {
        let Some(vt) = vector_type(ty) else {
            return Val { ty, parts: lanes };
        };
        let parts = lanes
            .chunks(vt.lane_count() as usize)
            .map(|chunk| {
                let mut v = self.b.ins().splat(vt, chunk[0]);
                for (l, &x) in chunk.iter().enumerate().skip(1) {
                    v = self.b.ins().insertlane(v, x, l as u8);
                }
                v
            })
            .collect();
        Val { ty, parts }
    }

    /// Applies a scalar function lane by lane to operands of one lane count.
    pub(super) fn map(
        &mut self,
        out: DType,
        args: &[Val],
        mut f: impl FnMut(&mut Self, &[Value]) -> R<Value>,
    ) -> R<Val> {
        let lanes = args.first().map_or(1, |a| a.ty.lanes);
        let cols: Vec<Vec<Value>> = args.iter().map(|a| self.lanes_of(a)).collect();
        let mut res = Vec::with_capacity(usize::from(lanes));
        for l in 0..usize::from(lanes) {
            let row: Vec<Value> = cols.iter().filter_map(|c| c.get(l).copied()).collect();
            if row.len() != args.len() {
                return internal("operands with different lane counts");
            }
            res.push(f(self, &row)?);
        }
        Ok(self.pack(Ty::vector(out, lanes), res))
    }
}
