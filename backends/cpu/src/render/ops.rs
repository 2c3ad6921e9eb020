//! Operators lane by lane (or on whole vectors where Cranelift has the instruction): unary,
//! binary, fma, select and cast, with the kernel IR's semantics (the graph interpreter's).

use super::{ERR_DIV_ZERO, R, Renderer, Val, internal, scalar_type, unsupported, vector_type};
use crate::math::{binary_helper, unary_helper};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F64, I32, I64};
use cranelift_codegen::ir::{InstBuilder, Value};
use tessera_ir::DType;
use tessera_ir::kernel::BinOp;
use tessera_ir::op::{BinaryOp, UnaryOp};

impl Renderer<'_, '_> {
    // ---- operators --------------------------------------------------------------------

    pub(super) fn unary(&mut self, op: UnaryOp, v: Val) -> R<Val> {
        let d = v.ty.dtype;
        if op == UnaryOp::Identity {
            return Ok(v);
        }
        if d == DType::F32 {
            let mut parts = Vec::with_capacity(v.parts.len());
            for &p in &v.parts {
                match self.vmath_part(op, p) {
                    Some(r) => parts.push(r?),
                    None => break,
                }
            }
            if parts.len() == v.parts.len() {
                return Ok(Val { ty: v.ty, parts });
            }
        }
        let simd = if d.is_float() {
            matches!(op, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt)
        } else {
            matches!(op, UnaryOp::Neg | UnaryOp::BitwiseNot)
        };
        if simd && vector_type(v.ty).is_some() {
            let mut parts = Vec::with_capacity(v.parts.len());
            for &p in &v.parts {
                parts.push(self.unary_lane(op, d, p)?);
            }
            return Ok(Val { ty: v.ty, parts });
        }
        let out = if op == UnaryOp::IsNaN { DType::Bool } else { d };
        self.map(out, &[v], |r, x| r.unary_lane(op, d, x[0]))
    }

    pub(super) fn unary_lane(&mut self, op: UnaryOp, d: DType, x: Value) -> R<Value> {
        if d.is_float() {
            self.float_unary(op, d, x)
        } else if d == DType::Bool {
            match op {
                UnaryOp::Not => Ok(self.b.ins().bxor_imm_u(x, 1)),
                _ => unsupported(format!("`{}` on bool", op.name())),
            }
        } else {
            self.int_unary(op, d, x)
        }
    }

    pub(super) fn float_unary(&mut self, op: UnaryOp, d: DType, x: Value) -> R<Value> {
        use UnaryOp as U;
        let t = self.b.func.dfg.value_type(x);
        Ok(match op {
            U::Identity => x,
            U::Neg => self.b.ins().fneg(x),
            U::Abs => self.b.ins().fabs(x),
            U::Floor => self.b.ins().floor(x),
            U::Ceil => self.b.ins().ceil(x),
            U::Round => self.b.ins().nearest(x),
            U::Sqrt => {
                let s = self.b.ins().sqrt(x);
                self.narrow(d, s)?
            }
            U::Reciprocal => {
                let one = self.fconst(t, 1.0);
                let q = self.b.ins().fdiv(one, x);
                self.narrow(d, q)?
            }
            U::Relu => {
                let zero = self.fconst(t, 0.0);
                let keep = self.b.ins().fcmp(FloatCC::UnorderedOrGreaterThan, x, zero);
                self.b.ins().select(keep, x, zero)
            }
            U::Sign => {
                let (zero, one, minus) = (
                    self.fconst(t, 0.0),
                    self.fconst(t, 1.0),
                    self.fconst(t, -1.0),
                );
                let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let neg = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
                let nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                let z = self.b.ins().select(nan, x, zero);
                let n = self.b.ins().select(neg, minus, z);
                self.b.ins().select(pos, one, n)
            }
            U::IsNaN => self.b.ins().fcmp(FloatCC::Unordered, x, x),
            _ => match unary_helper(op) {
                Some(name) => self.via_f64(name, d, &[x])?,
                None => return unsupported(format!("`{}` on {d}", op.name())),
            },
        })
    }

    pub(super) fn int_unary(&mut self, op: UnaryOp, d: DType, x: Value) -> R<Value> {
        use UnaryOp as U;
        let t = self.b.func.dfg.value_type(x);
        let signed = d.is_signed_int();
        match op {
            U::Identity | U::Floor | U::Ceil | U::Round => return Ok(x),
            U::Neg => return Ok(self.b.ins().ineg(x)),
            U::BitwiseNot => return Ok(self.b.ins().bnot(x)),
            U::Abs | U::Relu if !signed => return Ok(x),
            _ => {}
        }
        let zero = self.iconst(t, 0);
        Ok(match op {
            U::Abs => {
                let neg = self.b.ins().icmp(IntCC::SignedLessThan, x, zero);
                let m = self.b.ins().ineg(x);
                self.b.ins().select(neg, m, x)
            }
            U::Relu => {
                let pos = self.b.ins().icmp(IntCC::SignedGreaterThan, x, zero);
                self.b.ins().select(pos, x, zero)
            }
            U::Sign => {
                let one = self.iconst(t, 1);
                let nonzero = self.b.ins().icmp(IntCC::NotEqual, x, zero);
                let s = self.b.ins().select(nonzero, one, zero);
                if signed {
                    let minus = self.iconst(t, -1);
                    let neg = self.b.ins().icmp(IntCC::SignedLessThan, x, zero);
                    self.b.ins().select(neg, minus, s)
                } else {
                    s
                }
            }
            _ => return unsupported(format!("`{}` on {d}", op.name())),
        })
    }

    pub(super) fn binary(&mut self, op: BinOp, a: Val, b: Val) -> R<Val> {
        let d = a.ty.dtype;
        if a.parts.len() != b.parts.len() {
            return internal("binary operands of different types");
        }
        if vector_type(a.ty).is_some() && simd_binary(op, d) {
            let mut parts = Vec::with_capacity(a.parts.len());
            for (&x, &y) in a.parts.iter().zip(&b.parts) {
                parts.push(self.binary_lane(op, d, x, y)?);
            }
            return Ok(Val { ty: a.ty, parts });
        }
        let out = match op {
            BinOp::Op(o) if o.is_comparison() => DType::Bool,
            _ => d,
        };
        self.map(out, &[a, b], |r, x| r.binary_lane(op, d, x[0], x[1]))
    }

    pub(super) fn binary_lane(&mut self, op: BinOp, d: DType, x: Value, y: Value) -> R<Value> {
        if d.is_float() {
            self.float_binary(op, d, x, y)
        } else {
            self.int_binary(op, d, x, y)
        }
    }

    pub(super) fn float_binary(&mut self, op: BinOp, d: DType, x: Value, y: Value) -> R<Value> {
        use BinaryOp as B;
        let r = match op {
            BinOp::Min => return Ok(self.b.ins().fmin(x, y)),
            BinOp::Max => return Ok(self.b.ins().fmax(x, y)),
            BinOp::Op(B::Add) => self.b.ins().fadd(x, y),
            BinOp::Op(B::Sub) => self.b.ins().fsub(x, y),
            BinOp::Op(B::Mul) => self.b.ins().fmul(x, y),
            BinOp::Op(B::Div) => self.b.ins().fdiv(x, y),
            BinOp::Op(o) if o.is_comparison() => {
                return Ok(self.b.ins().fcmp(float_cc(o), x, y));
            }
            BinOp::Op(o) => match binary_helper(o) {
                Some(name) => return self.via_f64(name, d, &[x, y]),
                None => return unsupported(format!("`{}` on {d}", o.name())),
            },
        };
        self.narrow(d, r)
    }

    pub(super) fn int_binary(&mut self, op: BinOp, d: DType, x: Value, y: Value) -> R<Value> {
        use BinaryOp as B;
        let signed = d.is_signed_int();
        Ok(match op {
            BinOp::Min | BinOp::Max => {
                let cc = match (op == BinOp::Min, signed) {
                    (true, true) => IntCC::SignedLessThan,
                    (true, false) => IntCC::UnsignedLessThan,
                    (false, true) => IntCC::SignedGreaterThan,
                    (false, false) => IntCC::UnsignedGreaterThan,
                };
                let pick = self.b.ins().icmp(cc, x, y);
                self.b.ins().select(pick, x, y)
            }
            BinOp::Op(B::Add) => self.b.ins().iadd(x, y),
            BinOp::Op(B::Sub) => self.b.ins().isub(x, y),
            BinOp::Op(B::Mul) => self.b.ins().imul(x, y),
            BinOp::Op(B::BitwiseAnd | B::And) => self.b.ins().band(x, y),
            BinOp::Op(B::BitwiseOr | B::Or) => self.b.ins().bor(x, y),
            BinOp::Op(B::BitwiseXor | B::Xor) => self.b.ins().bxor(x, y),
            BinOp::Op(o @ (B::Div | B::Mod | B::FMod)) => self.int_divide(o, signed, x, y),
            BinOp::Op(o @ (B::BitShiftLeft | B::BitShiftRight)) => {
                let t = self.b.func.dfg.value_type(x);
                let bits = self.iconst(t, i128::from(t.bits()));
                let zero = self.iconst(t, 0);
                let out = self
                    .b
                    .ins()
                    .icmp(IntCC::UnsignedGreaterThanOrEqual, y, bits);
                let s = if o == B::BitShiftLeft {
                    self.b.ins().ishl(x, y)
                } else {
                    self.b.ins().ushr(x, y)
                };
                self.b.ins().select(out, zero, s)
            }
            BinOp::Op(B::Pow) => {
                let t = self.b.func.dfg.value_type(x);
                let (wx, wy) = (self.extend_i64(x, signed), self.extend_i64(y, signed));
                let flag = self.iconst(I32, i128::from(signed));
                let r = self.call("tessera_pow_int", &[wx, wy, flag])?;
                if t == I64 {
                    r
                } else {
                    self.b.ins().ireduce(t, r)
                }
            }
            BinOp::Op(o) if o.is_comparison() => self.b.ins().icmp(int_cc(o, signed), x, y),
            BinOp::Op(o) => return unsupported(format!("`{}` on {d}", o.name())),
        })
    }

    pub(super) fn extend_i64(&mut self, x: Value, signed: bool) -> Value {
        if self.b.func.dfg.value_type(x) == I64 {
            x
        } else if signed {
            self.b.ins().sextend(I64, x)
        } else {
            self.b.ins().uextend(I64, x)
        }
    }

    /// Integer `div` (truncating), `fmod` (sign of the dividend) or `mod` (sign of the
    /// divisor), wrapping `MIN / -1`; a zero divisor sets [`ERR_DIV_ZERO`] instead of trapping.
    pub(super) fn int_divide(&mut self, op: BinaryOp, signed: bool, x: Value, y: Value) -> Value {
        let t = self.b.func.dfg.value_type(x);
        let (zero, one) = (self.iconst(t, 0), self.iconst(t, 1));
        let by_zero = self.b.ins().icmp(IntCC::Equal, y, zero);
        self.flag(by_zero, ERR_DIV_ZERO);
        let safe = self.b.ins().select(by_zero, one, y);
        if !signed {
            return match op {
                BinaryOp::Div => self.b.ins().udiv(x, safe),
                _ => self.b.ins().urem(x, safe),
            };
        }
        let minus = self.iconst(t, -1);
        let by_minus = self.b.ins().icmp(IntCC::Equal, safe, minus);
        let safe = self.b.ins().select(by_minus, one, safe);
        if op == BinaryOp::Div {
            let q = self.b.ins().sdiv(x, safe);
            let neg = self.b.ins().ineg(x);
            return self.b.ins().select(by_minus, neg, q);
        }
        let r = self.b.ins().srem(x, safe);
        let r = self.b.ins().select(by_minus, zero, r);
        if op == BinaryOp::FMod {
            return r;
        }
        let r_neg = self.b.ins().icmp(IntCC::SignedLessThan, r, zero);
        let y_neg = self.b.ins().icmp(IntCC::SignedLessThan, y, zero);
        let differ = self.b.ins().bxor(r_neg, y_neg);
        let nonzero = self.b.ins().icmp(IntCC::NotEqual, r, zero);
        let fix = self.b.ins().band(differ, nonzero);
        let adjusted = self.b.ins().iadd(r, y);
        self.b.ins().select(fix, adjusted, r)
    }

    pub(super) fn fma(&mut self, a: Val, b: Val, c: Val) -> R<Val> {
        let d = a.ty.dtype;
        if !d.is_float() {
            return unsupported(format!("`fma` on {d}"));
        }
        // f32 and f64 with the host's FMA: one fused instruction per vector, rounded once to
        // the dtype (the kernel IR's meaning of `fma`).
        if self.has_fma && matches!(d, DType::F32 | DType::F64) {
            let parts = a
                .parts
                .iter()
                .zip(&b.parts)
                .zip(&c.parts)
                .map(|((&x, &y), &z)| self.b.ins().fma(x, y, z))
                .collect();
            return Ok(Val { ty: a.ty, parts });
        }
        if d == DType::F32 {
            return self.map(d, &[a, b, c], |r, x| r.call("tessera_fma_f32", x));
        }
        self.map(d, &[a, b, c], |r, x| {
            let w: Vec<Value> = x.iter().map(|&v| r.promote_f64(v)).collect();
            let p = if r.has_fma {
                r.b.ins().fma(w[0], w[1], w[2])
            } else {
                r.call("tessera_fma", &w)?
            };
            r.round_f64(d, p)
        })
    }

    pub(super) fn select(&mut self, c: Val, a: Val, b: Val) -> R<Val> {
        if a.parts.len() != b.parts.len() {
            return internal("select operands of different types");
        }
        if let [cond] = c.parts.as_slice() {
            let parts = a
                .parts
                .iter()
                .zip(&b.parts)
                .map(|(&x, &y)| self.b.ins().select(*cond, x, y))
                .collect();
            return Ok(Val { ty: a.ty, parts });
        }
        let d = a.ty.dtype;
        let c = Val {
            ty: c.ty,
            parts: c.parts,
        };
        // Lane-wise condition: put the condition last so `map` takes the lane count of `a`.
        self.map(d, &[a, b, c], |r, x| Ok(r.b.ins().select(x[2], x[0], x[1])))
    }

    /// Converts one lane with the graph `Cast`'s semantics.
    pub(super) fn cast(&mut self, from: DType, to: DType, v: Value) -> R<Value> {
        let t = scalar_type(to);
        if from.is_float() {
            return self.cast_from_float(from, to, v);
        }
        let signed = from.is_signed_int();
        if to.is_float() {
            let wide = self.extend_i64(v, signed);
            return Ok(match to {
                DType::F16 | DType::BF16 => {
                    let s = self.iconst(I32, i128::from(from != DType::U64));
                    let n = self.iconst(I32, i128::from(to == DType::BF16));
                    self.call("tessera_int_to_narrow", &[wide, s, n])?
                }
                _ if from == DType::U64 => self.b.ins().fcvt_from_uint(t, wide),
                _ => self.b.ins().fcvt_from_sint(t, wide),
            });
        }
        if to == DType::Bool {
            return Ok(self.b.ins().icmp_imm_u(IntCC::NotEqual, v, 0));
        }
        let ft = self.b.func.dfg.value_type(v);
        Ok(if ft.bits() == t.bits() {
            v
        } else if ft.bits() > t.bits() {
            self.b.ins().ireduce(t, v)
        } else if signed {
            self.b.ins().sextend(t, v)
        } else {
            self.b.ins().uextend(t, v)
        })
    }

    pub(super) fn cast_from_float(&mut self, from: DType, to: DType, v: Value) -> R<Value> {
        let t = scalar_type(to);
        if to.is_float() {
            return match (from, to) {
                (_, DType::F64) => Ok(self.b.ins().fpromote(F64, v)),
                (DType::F64, _) => self.round_f64(to, v),
                (_, DType::F32) => Ok(v),
                _ => self.narrow(to, v),
            };
        }
        if to == DType::Bool {
            let zero = self.fconst(self.b.func.dfg.value_type(v), 0.0);
            return Ok(self.b.ins().fcmp(FloatCC::NotEqual, v, zero));
        }
        let Some((lo, hi)) = to.int_range() else {
            return internal(format!("cast to {to}"));
        };
        let wide = if to.is_signed_int() {
            self.b.ins().fcvt_to_sint_sat(I64, v)
        } else {
            self.b.ins().fcvt_to_uint_sat(I64, v)
        };
        if t == I64 {
            return Ok(wide);
        }
        let (lo, hi) = (self.iconst(I64, lo), self.iconst(I64, hi));
        let (below, above) = if to.is_signed_int() {
            (IntCC::SignedLessThan, IntCC::SignedGreaterThan)
        } else {
            (IntCC::UnsignedLessThan, IntCC::UnsignedGreaterThan)
        };
        let under = self.b.ins().icmp(below, wide, lo);
        let clamped = self.b.ins().select(under, lo, wide);
        let over = self.b.ins().icmp(above, clamped, hi);
        let clamped = self.b.ins().select(over, hi, clamped);
        Ok(self.b.ins().ireduce(t, clamped))
    }
}

/// True for binary ops that have a Cranelift vector instruction with the kernel IR's meaning.
fn simd_binary(op: BinOp, d: DType) -> bool {
    use BinaryOp as B;
    match op {
        BinOp::Min | BinOp::Max => d.is_float(),
        BinOp::Op(B::Add | B::Sub) => true,
        // x86 has no 8-bit lane multiply; Cranelift does not lower `imul.i8x16`.
        BinOp::Op(B::Mul) => d.size_bytes() > 1,
        BinOp::Op(B::Div) => d.is_float(),
        BinOp::Op(B::BitwiseAnd | B::BitwiseOr | B::BitwiseXor) => d.is_int(),
        _ => false,
    }
}

fn float_cc(op: BinaryOp) -> FloatCC {
    match op {
        BinaryOp::Equal => FloatCC::Equal,
        BinaryOp::Less => FloatCC::LessThan,
        BinaryOp::LessOrEqual => FloatCC::LessThanOrEqual,
        BinaryOp::Greater => FloatCC::GreaterThan,
        _ => FloatCC::GreaterThanOrEqual,
    }
}

fn int_cc(op: BinaryOp, signed: bool) -> IntCC {
    match (op, signed) {
        (BinaryOp::Equal, _) => IntCC::Equal,
        (BinaryOp::Less, true) => IntCC::SignedLessThan,
        (BinaryOp::Less, false) => IntCC::UnsignedLessThan,
        (BinaryOp::LessOrEqual, true) => IntCC::SignedLessThanOrEqual,
        (BinaryOp::LessOrEqual, false) => IntCC::UnsignedLessThanOrEqual,
        (BinaryOp::Greater, true) => IntCC::SignedGreaterThan,
        (BinaryOp::Greater, false) => IntCC::UnsignedGreaterThan,
        (_, true) => IntCC::SignedGreaterThanOrEqual,
        (_, false) => IntCC::UnsignedGreaterThanOrEqual,
    }
}
