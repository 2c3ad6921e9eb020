//! The [`crate::vmath`] recipes printed as Cranelift instructions, on `f32x4` parts or on
//! scalar `f32` lanes.

use super::{R, Renderer};
use crate::vmath::MathOps;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32, F32X4, I32, I32X4};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};

/// A renderer printing recipe instructions on values of one type (`f32` or `f32x4`).
pub(super) struct ClifMath<'r, 'a, 'f> {
    r: &'r mut Renderer<'a, 'f>,
    vector: bool,
}

impl<'r, 'a, 'f> ClifMath<'r, 'a, 'f> {
    /// Instructions on `f32x4` values when `vector`, else on `f32` scalars.
    pub(super) fn new(r: &'r mut Renderer<'a, 'f>, vector: bool) -> Self {
        ClifMath { r, vector }
    }

    fn float_type(&self) -> Type {
        if self.vector { F32X4 } else { F32 }
    }

    fn int_type(&self) -> Type {
        if self.vector { I32X4 } else { I32 }
    }
}

impl MathOps for ClifMath<'_, '_, '_> {
    type F = Value;
    type I = Value;
    type M = Value;
    type E = super::RenderError;

    fn f(&mut self, c: f32) -> R<Value> {
        let s = self.r.b.ins().f32const(c);
        Ok(if self.vector {
            self.r.b.ins().splat(F32X4, s)
        } else {
            s
        })
    }
    fn i(&mut self, c: i32) -> R<Value> {
        let s = self.r.b.ins().iconst(I32, i64::from(c));
        Ok(if self.vector {
            self.r.b.ins().splat(I32X4, s)
        } else {
            s
        })
    }
    fn add(&mut self, a: Value, b: Value) -> R<Value> {
        Ok(self.r.b.ins().fadd(a, b))
    }
    fn sub(&mut self, a: Value, b: Value) -> R<Value> {
        Ok(self.r.b.ins().fsub(a, b))
    }
    fn mul(&mut self, a: Value, b: Value) -> R<Value> {
        Ok(self.r.b.ins().fmul(a, b))
    }
    fn div(&mut self, a: Value, b: Value) -> R<Value> {
        Ok(self.r.b.ins().fdiv(a, b))
    }
    fn fma(&mut self, a: Value, b: Value, c: Value) -> R<Value> {
        Ok(self.r.b.ins().fma(a, b, c))
    }
    fn abs(&mut self, a: Value) -> R<Value> {
        Ok(self.r.b.ins().fabs(a))
    }
    fn isub(&mut self, a: Value, b: Value) -> R<Value> {
        Ok(self.r.b.ins().isub(a, b))
    }
    fn iand(&mut self, a: Value, b: Value) -> R<Value> {
        Ok(self.r.b.ins().band(a, b))
    }
    fn ior(&mut self, a: Value, b: Value) -> R<Value> {
        Ok(self.r.b.ins().bor(a, b))
    }
    fn shl(&mut self, a: Value, n: u8) -> R<Value> {
        Ok(self.r.b.ins().ishl_imm_u(a, i64::from(n)))
    }
    fn sshr(&mut self, a: Value, n: u8) -> R<Value> {
        Ok(self.r.b.ins().sshr_imm_u(a, i64::from(n)))
    }
    fn as_float(&mut self, a: Value) -> R<Value> {
        let t = self.float_type();
        Ok(self.r.b.ins().bitcast(t, MemFlagsData::new(), a))
    }
    fn as_int(&mut self, a: Value) -> R<Value> {
        let t = self.int_type();
        Ok(self.r.b.ins().bitcast(t, MemFlagsData::new(), a))
    }
    fn lt(&mut self, a: Value, b: Value) -> R<Value> {
        Ok(self.r.b.ins().fcmp(FloatCC::LessThan, a, b))
    }
    fn select(&mut self, m: Value, a: Value, b: Value) -> R<Value> {
        Ok(if self.vector {
            // A vector compare gives all-ones / all-zeros lanes of the operands' width.
            let mask = self.r.b.ins().bitcast(F32X4, MemFlagsData::new(), m);
            self.r.b.ins().bitselect(mask, a, b)
        } else {
            self.r.b.ins().select(m, a, b)
        })
    }
}

impl Renderer<'_, '_> {
    /// `op`'s recipe on one part of an f32 value (an `f32x4` vector or an `f32` lane), or
    /// `None` when the recipes are off or `op` has none.
    pub(super) fn vmath_part(
        &mut self,
        op: tessera_ir::op::UnaryOp,
        part: Value,
    ) -> Option<R<Value>> {
        if !self.fast_math || !crate::vmath::has_recipe(op) {
            return None;
        }
        let t = self.b.func.dfg.value_type(part);
        if t != F32 && t != F32X4 {
            return None;
        }
        let mut m = ClifMath::new(self, t == F32X4);
        crate::vmath::unary(&mut m, op, part)
    }
}
