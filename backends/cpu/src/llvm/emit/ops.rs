//! Operators in LLVM IR text: unary, binary and cast, with the kernel IR's semantics (the
//! same choices as the Cranelift renderer's `render::ops`).

use super::{Conv, Emitter, R, V, bits, elem, float_lit, mangle, splat_lit, ty_str};
use crate::math::{binary_helper, unary_helper};
use crate::render::ERR_DIV_ZERO;
use tessera_ir::DType;
use tessera_ir::kernel::{BinOp, Ty};
use tessera_ir::op::{BinaryOp, UnaryOp};

impl Emitter<'_> {
    fn fconst(&self, ty: Ty, v: f64) -> String {
        splat_lit(ty, &float_lit(ty.dtype, v))
    }

    fn iconst(&self, ty: Ty, v: i128) -> String {
        splat_lit(ty, &super::wrap_int(ty.dtype, v).to_string())
    }

    fn float_intrinsic(&mut self, name: &str, v: &V) -> V {
        let t = ty_str(v.ty);
        let n = format!("llvm.{name}.{}", mangle(v.ty.lanes, elem(v.ty.dtype)));
        let call = self.intrinsic(&n, &t, &[(&t, &v.op)]);
        self.inst(v.ty, call)
    }

    fn bool_ty(ty: Ty) -> Ty {
        Ty::vector(DType::Bool, ty.lanes)
    }

    pub(super) fn unary(&mut self, op: UnaryOp, v: V) -> R<V> {
        use UnaryOp as U;
        let d = v.ty.dtype;
        let t = ty_str(v.ty);
        if op == U::Identity {
            return Ok(v);
        }
        if d == DType::Bool {
            return match op {
                U::Not => {
                    Ok(self.inst(v.ty, format!("xor {t} {}, {}", v.op, self.iconst(v.ty, -1))))
                }
                _ => Err(format!("`{}` on bool", op.name())),
            };
        }
        if d.is_float() {
            let zero = self.fconst(v.ty, 0.0);
            return Ok(match op {
                U::Neg => self.inst(v.ty, format!("fneg {t} {}", v.op)),
                U::Abs => self.float_intrinsic("fabs", &v),
                U::Floor => self.float_intrinsic("floor", &v),
                U::Ceil => self.float_intrinsic("ceil", &v),
                U::Round => self.float_intrinsic("roundeven", &v),
                U::Sqrt => self.float_intrinsic("sqrt", &v),
                U::Reciprocal => {
                    let one = self.fconst(v.ty, 1.0);
                    self.inst(v.ty, format!("fdiv {t} {one}, {}", v.op))
                }
                U::Relu => {
                    let keep = self.inst(
                        Self::bool_ty(v.ty),
                        format!("fcmp ugt {t} {}, {zero}", v.op),
                    );
                    self.inst(
                        v.ty,
                        format!(
                            "select {} {}, {t} {}, {t} {zero}",
                            ty_str(keep.ty),
                            keep.op,
                            v.op
                        ),
                    )
                }
                U::Sign => {
                    let bt = ty_str(Self::bool_ty(v.ty));
                    let (one, minus) = (self.fconst(v.ty, 1.0), self.fconst(v.ty, -1.0));
                    let pos = self.inst(
                        Self::bool_ty(v.ty),
                        format!("fcmp ogt {t} {}, {zero}", v.op),
                    );
                    let neg = self.inst(
                        Self::bool_ty(v.ty),
                        format!("fcmp olt {t} {}, {zero}", v.op),
                    );
                    let nan = self.inst(
                        Self::bool_ty(v.ty),
                        format!("fcmp uno {t} {}, {}", v.op, v.op),
                    );
                    let z = self.inst(
                        v.ty,
                        format!("select {bt} {}, {t} {}, {t} {zero}", nan.op, v.op),
                    );
                    let n = self.inst(
                        v.ty,
                        format!("select {bt} {}, {t} {minus}, {t} {}", neg.op, z.op),
                    );
                    self.inst(
                        v.ty,
                        format!("select {bt} {}, {t} {one}, {t} {}", pos.op, n.op),
                    )
                }
                U::IsNaN => self.inst(
                    Self::bool_ty(v.ty),
                    format!("fcmp uno {t} {}, {}", v.op, v.op),
                ),
                _ => match unary_helper(op) {
                    Some(name) => self.call_lanes(name, v.ty, &[v], Conv::Float)?,
                    None => return Err(format!("`{}` on {d}", op.name())),
                },
            });
        }
        let signed = d.is_signed_int();
        let zero = self.iconst(v.ty, 0);
        Ok(match op {
            U::Floor | U::Ceil | U::Round => v,
            U::Abs | U::Relu if !signed => v,
            U::Neg => self.inst(v.ty, format!("sub {t} {zero}, {}", v.op)),
            U::BitwiseNot => {
                let m = self.iconst(v.ty, -1);
                self.inst(v.ty, format!("xor {t} {}, {m}", v.op))
            }
            U::Abs => {
                let n = format!("llvm.abs.{}", mangle(v.ty.lanes, elem(d)));
                let call = self.intrinsic(&n, &t, &[(&t, &v.op), ("i1", "false")]);
                self.inst(v.ty, call)
            }
            U::Relu => {
                let n = format!("llvm.smax.{}", mangle(v.ty.lanes, elem(d)));
                let call = self.intrinsic(&n, &t, &[(&t, &v.op), (&t, &zero)]);
                self.inst(v.ty, call)
            }
            U::Sign => {
                let bt = ty_str(Self::bool_ty(v.ty));
                let one = self.iconst(v.ty, 1);
                let nz = self.inst(Self::bool_ty(v.ty), format!("icmp ne {t} {}, {zero}", v.op));
                let s = self.inst(
                    v.ty,
                    format!("select {bt} {}, {t} {one}, {t} {zero}", nz.op),
                );
                if signed {
                    let minus = self.iconst(v.ty, -1);
                    let neg = self.inst(
                        Self::bool_ty(v.ty),
                        format!("icmp slt {t} {}, {zero}", v.op),
                    );
                    self.inst(
                        v.ty,
                        format!("select {bt} {}, {t} {minus}, {t} {}", neg.op, s.op),
                    )
                } else {
                    s
                }
            }
            _ => return Err(format!("`{}` on {d}", op.name())),
        })
    }

    pub(super) fn binary(&mut self, op: BinOp, a: V, b: V) -> R<V> {
        let d = a.ty.dtype;
        if a.ty != b.ty {
            return Err("binary operands of different types".into());
        }
        if d.is_float() {
            self.float_binary(op, a, b)
        } else {
            self.int_binary(op, a, b)
        }
    }

    fn float_binary(&mut self, op: BinOp, a: V, b: V) -> R<V> {
        use BinaryOp as B;
        let t = ty_str(a.ty);
        let d = a.ty.dtype;
        let simple = |o: &str| format!("{o} {t} {}, {}", a.op, b.op);
        Ok(match op {
            BinOp::Min | BinOp::Max => {
                let which = if op == BinOp::Min {
                    "minimum"
                } else {
                    "maximum"
                };
                let n = format!("llvm.{which}.{}", mangle(a.ty.lanes, elem(d)));
                let call = self.intrinsic(&n, &t, &[(&t, &a.op), (&t, &b.op)]);
                self.inst(a.ty, call)
            }
            BinOp::Op(B::Add) => self.inst(a.ty, simple("fadd")),
            BinOp::Op(B::Sub) => self.inst(a.ty, simple("fsub")),
            BinOp::Op(B::Mul) => self.inst(a.ty, simple("fmul")),
            BinOp::Op(B::Div) => self.inst(a.ty, simple("fdiv")),
            BinOp::Op(o) if o.is_comparison() => {
                let cc = match o {
                    B::Equal => "oeq",
                    B::Less => "olt",
                    B::LessOrEqual => "ole",
                    B::Greater => "ogt",
                    _ => "oge",
                };
                self.inst(Self::bool_ty(a.ty), simple(&format!("fcmp {cc}")))
            }
            BinOp::Op(o) => match binary_helper(o) {
                Some(name) => self.call_lanes(name, a.ty, &[a, b], Conv::Float)?,
                None => return Err(format!("`{}` on {d}", o.name())),
            },
        })
    }

    fn int_binary(&mut self, op: BinOp, a: V, b: V) -> R<V> {
        use BinaryOp as B;
        let t = ty_str(a.ty);
        let d = a.ty.dtype;
        let signed = d.is_signed_int();
        let bt = ty_str(Self::bool_ty(a.ty));
        let simple = |o: &str| format!("{o} {t} {}, {}", a.op, b.op);
        Ok(match op {
            BinOp::Min | BinOp::Max => {
                let cc = match (op == BinOp::Min, signed) {
                    (true, true) => "slt",
                    (true, false) => "ult",
                    (false, true) => "sgt",
                    (false, false) => "ugt",
                };
                let pick = self.inst(Self::bool_ty(a.ty), simple(&format!("icmp {cc}")));
                self.inst(
                    a.ty,
                    format!("select {bt} {}, {t} {}, {t} {}", pick.op, a.op, b.op),
                )
            }
            BinOp::Op(B::Add) => self.inst(a.ty, simple("add")),
            BinOp::Op(B::Sub) => self.inst(a.ty, simple("sub")),
            BinOp::Op(B::Mul) => self.inst(a.ty, simple("mul")),
            BinOp::Op(B::BitwiseAnd | B::And) => self.inst(a.ty, simple("and")),
            BinOp::Op(B::BitwiseOr | B::Or) => self.inst(a.ty, simple("or")),
            BinOp::Op(B::BitwiseXor | B::Xor) => self.inst(a.ty, simple("xor")),
            BinOp::Op(o @ (B::Div | B::Mod | B::FMod)) => self.int_divide(o, signed, a, b),
            BinOp::Op(o @ (B::BitShiftLeft | B::BitShiftRight)) => {
                let nbits = self.iconst(a.ty, i128::from(bits(d)));
                let zero = self.iconst(a.ty, 0);
                let out = self.inst(
                    Self::bool_ty(a.ty),
                    format!("icmp uge {t} {}, {nbits}", b.op),
                );
                let s = self.inst(
                    a.ty,
                    simple(if o == B::BitShiftLeft { "shl" } else { "lshr" }),
                );
                self.inst(
                    a.ty,
                    format!("select {bt} {}, {t} {zero}, {t} {}", out.op, s.op),
                )
            }
            BinOp::Op(B::Pow) => {
                let flag = V {
                    ty: Ty::vector(DType::I32, a.ty.lanes),
                    op: self.iconst(Ty::vector(DType::I32, a.ty.lanes), i128::from(signed)),
                };
                let conv = if signed { Conv::Signed } else { Conv::Unsigned };
                self.call_lanes("tessera_pow_int", a.ty, &[a, b, flag], conv)?
            }
            BinOp::Op(o) if o.is_comparison() => {
                let cc = match (o, signed) {
                    (B::Equal, _) => "eq",
                    (B::Less, true) => "slt",
                    (B::Less, false) => "ult",
                    (B::LessOrEqual, true) => "sle",
                    (B::LessOrEqual, false) => "ule",
                    (B::Greater, true) => "sgt",
                    (B::Greater, false) => "ugt",
                    (_, true) => "sge",
                    (_, false) => "uge",
                };
                self.inst(Self::bool_ty(a.ty), simple(&format!("icmp {cc}")))
            }
            BinOp::Op(o) => return Err(format!("`{}` on {d}", o.name())),
        })
    }

    /// Integer `div` (truncating), `fmod` (sign of the dividend) or `mod` (sign of the
    /// divisor), wrapping `MIN / -1`; a zero divisor sets [`ERR_DIV_ZERO`].
    fn int_divide(&mut self, op: BinaryOp, signed: bool, x: V, y: V) -> V {
        let ty = x.ty;
        let t = ty_str(ty);
        let bty = Self::bool_ty(ty);
        let bt = ty_str(bty);
        let (zero, one) = (self.iconst(ty, 0), self.iconst(ty, 1));
        let by_zero = self.inst(bty, format!("icmp eq {t} {}, {zero}", y.op));
        let any = self.any(&by_zero);
        self.flag(&any, ERR_DIV_ZERO);
        let safe = self.inst(
            ty,
            format!("select {bt} {}, {t} {one}, {t} {}", by_zero.op, y.op),
        );
        if !signed {
            let o = if op == BinaryOp::Div { "udiv" } else { "urem" };
            return self.inst(ty, format!("{o} {t} {}, {}", x.op, safe.op));
        }
        let minus = self.iconst(ty, -1);
        let by_minus = self.inst(bty, format!("icmp eq {t} {}, {minus}", safe.op));
        let safe = self.inst(
            ty,
            format!("select {bt} {}, {t} {one}, {t} {}", by_minus.op, safe.op),
        );
        if op == BinaryOp::Div {
            let q = self.inst(ty, format!("sdiv {t} {}, {}", x.op, safe.op));
            let neg = self.inst(ty, format!("sub {t} {zero}, {}", x.op));
            return self.inst(
                ty,
                format!("select {bt} {}, {t} {}, {t} {}", by_minus.op, neg.op, q.op),
            );
        }
        let r = self.inst(ty, format!("srem {t} {}, {}", x.op, safe.op));
        let r = self.inst(
            ty,
            format!("select {bt} {}, {t} {zero}, {t} {}", by_minus.op, r.op),
        );
        if op == BinaryOp::FMod {
            return r;
        }
        let r_neg = self.inst(bty, format!("icmp slt {t} {}, {zero}", r.op));
        let y_neg = self.inst(bty, format!("icmp slt {t} {}, {zero}", y.op));
        let differ = self.inst(bty, format!("xor {bt} {}, {}", r_neg.op, y_neg.op));
        let nonzero = self.inst(bty, format!("icmp ne {t} {}, {zero}", r.op));
        let fix = self.inst(bty, format!("and {bt} {}, {}", differ.op, nonzero.op));
        let adj = self.inst(ty, format!("add {t} {}, {}", r.op, y.op));
        self.inst(
            ty,
            format!("select {bt} {}, {t} {}, {t} {}", fix.op, adj.op, r.op),
        )
    }

    /// Converts with the graph `Cast`'s semantics.
    pub(super) fn cast(&mut self, v: V, to: DType) -> R<V> {
        let from = v.ty.dtype;
        if from == to {
            return Ok(v);
        }
        let out = Ty::vector(to, v.ty.lanes);
        let (ft, tt) = (ty_str(v.ty), ty_str(out));
        if from.is_float() {
            if to.is_float() {
                let o = if bits(to) > bits(from) {
                    "fpext"
                } else {
                    "fptrunc"
                };
                return Ok(self.inst(out, format!("{o} {ft} {} to {tt}", v.op)));
            }
            if to == DType::Bool {
                let zero = self.fconst(v.ty, 0.0);
                return Ok(self.inst(out, format!("fcmp une {ft} {}, {zero}", v.op)));
            }
            let Some((lo, hi)) = to.int_range() else {
                return Err(format!("cast to {to}"));
            };
            let w = Ty::vector(DType::I64, v.ty.lanes);
            let wt = ty_str(w);
            let (sat, s) = if to.is_signed_int() {
                ("fptosi", true)
            } else {
                ("fptoui", false)
            };
            let n = format!(
                "llvm.{sat}.sat.{}.{}",
                mangle(v.ty.lanes, "i64"),
                mangle(v.ty.lanes, elem(from))
            );
            let call = self.intrinsic(&n, &wt, &[(&ft, &v.op)]);
            let wide = self.inst(w, call);
            if bits(to) == 64 {
                return Ok(V {
                    ty: out,
                    op: wide.op,
                });
            }
            let (lo_c, hi_c) = (self.iconst(w, lo), self.iconst(w, hi));
            let (mx, mn) = if s {
                ("smax", "smin")
            } else {
                ("umax", "umin")
            };
            let m = mangle(v.ty.lanes, "i64");
            let c1 = self.intrinsic(
                &format!("llvm.{mx}.{m}"),
                &wt,
                &[(&wt, &wide.op), (&wt, &lo_c)],
            );
            let c1 = self.inst(w, c1);
            let c2 = self.intrinsic(
                &format!("llvm.{mn}.{m}"),
                &wt,
                &[(&wt, &c1.op), (&wt, &hi_c)],
            );
            let c2 = self.inst(w, c2);
            return Ok(self.inst(out, format!("trunc {wt} {} to {tt}", c2.op)));
        }
        let signed = from.is_signed_int();
        if to.is_float() {
            let o = if signed { "sitofp" } else { "uitofp" };
            return Ok(self.inst(out, format!("{o} {ft} {} to {tt}", v.op)));
        }
        if to == DType::Bool {
            let zero = self.iconst(v.ty, 0);
            return Ok(self.inst(out, format!("icmp ne {ft} {}, {zero}", v.op)));
        }
        let (fb, tb) = (bits(from), bits(to));
        Ok(if fb == tb {
            V { ty: out, op: v.op }
        } else if fb > tb {
            self.inst(out, format!("trunc {ft} {} to {tt}", v.op))
        } else {
            let o = if signed { "sext" } else { "zext" };
            self.inst(out, format!("{o} {ft} {} to {tt}", v.op))
        })
    }
}
