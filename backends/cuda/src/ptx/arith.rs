//! Arithmetic: unary and binary operators, `fma`, `select`, casts and lane reductions, per
//! register class. Integer results are brought back to their dtype's canonical form
//! (sign- or zero-extended), f16/bf16 results are rounded to their dtype ([`Writer::fix`]).

use super::{Class, ERR_DIV_ZERO, RenderError, Res, Val, Writer, class, f32_imm, f64_imm, ity};
use tessera_ir::DType;
use tessera_ir::kernel::{BinOp, LaneReduce};
use tessera_ir::op::{BinaryOp, UnaryOp};

fn unsupported(what: String) -> RenderError {
    RenderError::Unsupported(what)
}

/// The bit type (`b32`/`b64`) of an integer register class.
fn bits(c: Class) -> &'static str {
    if c == Class::B64 { "b64" } else { "b32" }
}

impl Writer<'_> {
    /// Brings a freshly computed register of dtype `d` into canonical form: integers of 8
    /// and 16 bits wrapped and extended, f16/bf16 rounded to nearest-even.
    pub(crate) fn fix(&mut self, d: DType, r: String) -> String {
        match d {
            DType::I8 => self.op(Class::B32, "cvt.s32.s8", &[&r]),
            DType::I16 => self.op(Class::B32, "cvt.s32.s16", &[&r]),
            DType::U8 => self.op(Class::B32, "and.b32", &[&r, "255"]),
            DType::U16 => self.op(Class::B32, "and.b32", &[&r, "65535"]),
            DType::F16 => {
                let h = self.op(Class::B16, "cvt.rn.f16.f32", &[&r]);
                self.op(Class::F32, "cvt.f32.f16", &[&h])
            }
            DType::BF16 => {
                let h = self.op(Class::B16, "cvt.rn.bf16.f32", &[&r]);
                self.bf16_to_f32(&h)
            }
            _ => r,
        }
    }

    /// An f64 register rounded once to float dtype `d` (held as its register class). To
    /// f16/bf16 it goes through f32 with round-to-odd, so the result is rounded only once.
    pub(crate) fn narrow_f64(&mut self, d: DType, x: &str) -> String {
        match d {
            DType::F64 => x.to_string(),
            DType::F32 => self.op(Class::F32, "cvt.rn.f32.f64", &[x]),
            _ => {
                let t = self.op(Class::F32, "cvt.rz.f32.f64", &[x]);
                let back = self.op(Class::F64, "cvt.f64.f32", &[&t]);
                let exact = self.op(Class::Pred, "setp.eq.f64", &[&back, x]);
                let tb = self.op(Class::B32, "mov.b32", &[&t]);
                let odd = self.op(Class::B32, "or.b32", &[&tb, "1"]);
                let sel = self.op(Class::B32, "selp.b32", &[&tb, &odd, &exact]);
                let f = self.op(Class::F32, "mov.b32", &[&sel]);
                self.fix(d, f)
            }
        }
    }

    /// A float register widened to f64 (exact).
    pub(crate) fn widen_f64(&mut self, d: DType, r: &str) -> String {
        if d == DType::F64 {
            r.to_string()
        } else {
            self.op(Class::F64, "cvt.f64.f32", &[r])
        }
    }

    fn fzero(d: DType) -> String {
        if d == DType::F64 {
            f64_imm(0.0)
        } else {
            f32_imm(0.0)
        }
    }

    fn fimm(d: DType, v: f64) -> String {
        if d == DType::F64 {
            f64_imm(v)
        } else {
            f32_imm(v as f32)
        }
    }

    pub(crate) fn unary(&mut self, op: UnaryOp, x: &Val) -> Res<Vec<String>> {
        let d = x.ty.dtype;
        x.regs.iter().map(|r| self.unary1(op, d, r)).collect()
    }

    fn unary1(&mut self, op: UnaryOp, d: DType, r: &str) -> Res<String> {
        use UnaryOp as U;
        let c = class(d)?;
        let bad = || unsupported(format!("`{}` on {d}", op.name()));
        if op == U::Identity {
            return Ok(r.to_string());
        }
        match c {
            Class::Pred => match op {
                U::Not => Ok(self.op(Class::Pred, "not.pred", &[r])),
                _ => Err(bad()),
            },
            Class::B32 | Class::B64 => {
                let t = ity(d);
                let signed = d.is_signed_int();
                let w = if c == Class::B64 { "64" } else { "32" };
                Ok(match op {
                    U::Floor | U::Ceil | U::Round => r.to_string(),
                    U::Neg => {
                        let n = self.op(c, &format!("neg.s{w}"), &[r]);
                        self.fix(d, n)
                    }
                    U::Abs if signed => {
                        let n = self.op(c, &format!("abs.s{w}"), &[r]);
                        self.fix(d, n)
                    }
                    U::Abs => r.to_string(),
                    U::Sign => {
                        let gt = self.op(Class::Pred, &format!("setp.gt.{t}"), &[r, "0"]);
                        let one = self.op(c, &format!("selp.{t}"), &["1", "0", &gt]);
                        if signed {
                            let lt = self.op(Class::Pred, &format!("setp.lt.{t}"), &[r, "0"]);
                            self.op(c, &format!("selp.{t}"), &["-1", &one, &lt])
                        } else {
                            one
                        }
                    }
                    U::Relu if signed => self.op(c, &format!("max.{t}"), &[r, "0"]),
                    U::Relu => r.to_string(),
                    U::BitwiseNot => {
                        let n = self.op(c, &format!("not.{}", bits(c)), &[r]);
                        self.fix(d, n)
                    }
                    _ => return Err(bad()),
                })
            }
            Class::F32 | Class::F64 => {
                let t = ity(d);
                Ok(match op {
                    U::Neg => self.op(c, &format!("neg.{t}"), &[r]),
                    U::Abs => self.op(c, &format!("abs.{t}"), &[r]),
                    U::Sign => {
                        let z = Self::fzero(d);
                        let pos = self.op(Class::Pred, &format!("setp.gt.{t}"), &[r, &z]);
                        let neg = self.op(Class::Pred, &format!("setp.lt.{t}"), &[r, &z]);
                        let one =
                            self.op(c, &format!("selp.{t}"), &[&Self::fimm(d, 1.0), &z, &pos]);
                        let s =
                            self.op(c, &format!("selp.{t}"), &[&Self::fimm(d, -1.0), &one, &neg]);
                        let nan = self.op(Class::Pred, &format!("setp.nan.{t}"), &[r, r]);
                        self.op(c, &format!("selp.{t}"), &[r, &s, &nan])
                    }
                    U::Sqrt => {
                        let s = self.op(c, &format!("sqrt.rn.{t}"), &[r]);
                        self.fix(d, s)
                    }
                    U::Reciprocal => {
                        let s = self.op(c, &format!("rcp.rn.{t}"), &[r]);
                        self.fix(d, s)
                    }
                    U::Floor => self.op(c, &format!("cvt.rmi.{t}.{t}"), &[r]),
                    U::Ceil => self.op(c, &format!("cvt.rpi.{t}.{t}"), &[r]),
                    U::Round => self.op(c, &format!("cvt.rni.{t}.{t}"), &[r]),
                    U::Relu => {
                        let z = Self::fzero(d);
                        let keep = self.op(Class::Pred, &format!("setp.gtu.{t}"), &[r, &z]);
                        self.op(c, &format!("selp.{t}"), &[r, &z, &keep])
                    }
                    U::IsNaN => self.op(Class::Pred, &format!("setp.nan.{t}"), &[r, r]),
                    U::Not | U::BitwiseNot | U::Identity => return Err(bad()),
                    _ => {
                        let x = self.widen_f64(d, r);
                        let y = self.math_f64(op, d, &x)?;
                        self.narrow_f64(d, &y)
                    }
                })
            }
            Class::B16 => Err(bad()),
        }
    }

    pub(crate) fn binary(&mut self, op: BinOp, a: &Val, b: &Val) -> Res<Vec<String>> {
        let d = a.ty.dtype;
        a.regs
            .iter()
            .zip(&b.regs)
            .map(|(x, y)| self.bin1(op, d, x, y))
            .collect()
    }

    pub(crate) fn bin1(&mut self, op: BinOp, d: DType, a: &str, b: &str) -> Res<String> {
        use BinaryOp as B;
        let c = class(d)?;
        let t = ity(d);
        let bad = || unsupported(format!("`{}` on {d}", op.name()));
        if let BinOp::Op(bop) = op
            && bop.is_comparison()
        {
            let cmp = match bop {
                B::Equal => "eq",
                B::Less => "lt",
                B::LessOrEqual => "le",
                B::Greater => "gt",
                _ => "ge",
            };
            if c == Class::Pred {
                let x = self.op(Class::B32, "selp.u32", &["1", "0", a]);
                let y = self.op(Class::B32, "selp.u32", &["1", "0", b]);
                return Ok(self.op(Class::Pred, &format!("setp.{cmp}.u32"), &[&x, &y]));
            }
            return Ok(self.op(Class::Pred, &format!("setp.{cmp}.{t}"), &[a, b]));
        }
        match c {
            Class::Pred => {
                let ins = match op {
                    BinOp::Op(B::And) | BinOp::Min => "and.pred",
                    BinOp::Op(B::Or) | BinOp::Max => "or.pred",
                    BinOp::Op(B::Xor) => "xor.pred",
                    _ => return Err(bad()),
                };
                Ok(self.op(Class::Pred, ins, &[a, b]))
            }
            Class::B32 | Class::B64 => self.int_bin(op, d, a, b),
            Class::F32 | Class::F64 => {
                let r = match op {
                    BinOp::Op(B::Add) => self.op(c, &format!("add.rn.{t}"), &[a, b]),
                    BinOp::Op(B::Sub) => self.op(c, &format!("sub.rn.{t}"), &[a, b]),
                    BinOp::Op(B::Mul) => self.op(c, &format!("mul.rn.{t}"), &[a, b]),
                    BinOp::Op(B::Div) => self.op(c, &format!("div.rn.{t}"), &[a, b]),
                    BinOp::Min | BinOp::Max => {
                        let m = if op == BinOp::Min { "min" } else { "max" };
                        if c == Class::F32 {
                            self.op(c, &format!("{m}.NaN.f32"), &[a, b])
                        } else {
                            let v = self.op(c, &format!("{m}.f64"), &[a, b]);
                            let nan = self.op(Class::Pred, "setp.nan.f64", &[a, b]);
                            let s = self.op(c, "add.rn.f64", &[a, b]);
                            self.op(c, "selp.f64", &[&s, &v, &nan])
                        }
                    }
                    BinOp::Op(B::Pow | B::Mod | B::FMod) if c == Class::F32 => {
                        let x = self.widen_f64(d, a);
                        let y = self.widen_f64(d, b);
                        let r = match op {
                            BinOp::Op(B::Pow) => self.pow_f64(&x, &y),
                            BinOp::Op(B::Mod) => self.py_mod_f64(&x, &y),
                            _ => self.fmod_f64(&x, &y),
                        };
                        return Ok(self.narrow_f64(d, &r));
                    }
                    _ => return Err(bad()),
                };
                Ok(self.fix(d, r))
            }
            Class::B16 => Err(bad()),
        }
    }

    fn int_bin(&mut self, op: BinOp, d: DType, a: &str, b: &str) -> Res<String> {
        use BinaryOp as B;
        let c = class(d)?;
        let t = ity(d);
        let w = if c == Class::B64 { "64" } else { "32" };
        let signed = d.is_signed_int();
        let r = match op {
            BinOp::Op(B::Add) => self.op(c, &format!("add.{t}"), &[a, b]),
            BinOp::Op(B::Sub) => self.op(c, &format!("sub.{t}"), &[a, b]),
            BinOp::Op(B::Mul) => self.op(c, &format!("mul.lo.{t}"), &[a, b]),
            BinOp::Min => self.op(c, &format!("min.{t}"), &[a, b]),
            BinOp::Max => self.op(c, &format!("max.{t}"), &[a, b]),
            BinOp::Op(B::BitwiseAnd) => self.op(c, &format!("and.{}", bits(c)), &[a, b]),
            BinOp::Op(B::BitwiseOr) => self.op(c, &format!("or.{}", bits(c)), &[a, b]),
            BinOp::Op(B::BitwiseXor) => self.op(c, &format!("xor.{}", bits(c)), &[a, b]),
            BinOp::Op(op @ (B::BitShiftLeft | B::BitShiftRight)) => {
                let amount = if c == Class::B64 {
                    let m = self.op(Class::B64, "min.u64", &[b, "64"]);
                    self.op(Class::B32, "cvt.u32.u64", &[&m])
                } else {
                    b.to_string()
                };
                let ins = if op == B::BitShiftLeft { "shl" } else { "shr" };
                let ins = if ins == "shr" {
                    format!("shr.u{w}")
                } else {
                    format!("shl.b{w}")
                };
                self.op(c, &ins, &[a, &amount])
            }
            BinOp::Op(op @ (B::Div | B::Mod | B::FMod)) => {
                let nz = self.op(Class::Pred, &format!("setp.ne.{t}"), &[b, "0"]);
                self.flag_unless(&nz, ERR_DIV_ZERO);
                let bb = self.op(c, &format!("selp.{t}"), &[b, "1", &nz]);
                if op == B::Div {
                    let q = self.op(c, &format!("div.{t}"), &[a, &bb]);
                    if signed {
                        let m1 = self.op(Class::Pred, &format!("setp.eq.{t}"), &[&bb, "-1"]);
                        let n = self.op(c, &format!("neg.s{w}"), &[a]);
                        self.op(c, &format!("selp.{t}"), &[&n, &q, &m1])
                    } else {
                        q
                    }
                } else {
                    let mut rem = self.op(c, &format!("rem.{t}"), &[a, &bb]);
                    if signed {
                        let m1 = self.op(Class::Pred, &format!("setp.eq.{t}"), &[&bb, "-1"]);
                        rem = self.op(c, &format!("selp.{t}"), &["0", &rem, &m1]);
                        if op == B::Mod {
                            let rnz = self.op(Class::Pred, &format!("setp.ne.{t}"), &[&rem, "0"]);
                            let rneg = self.op(Class::Pred, &format!("setp.lt.{t}"), &[&rem, "0"]);
                            let bneg = self.op(Class::Pred, &format!("setp.lt.{t}"), &[&bb, "0"]);
                            let differ = self.op(Class::Pred, "xor.pred", &[&rneg, &bneg]);
                            let adj = self.op(Class::Pred, "and.pred", &[&rnz, &differ]);
                            let sum = self.op(c, &format!("add.{t}"), &[&rem, &bb]);
                            rem = self.op(c, &format!("selp.{t}"), &[&sum, &rem, &adj]);
                        }
                    }
                    rem
                }
            }
            BinOp::Op(B::Pow) => self.int_pow(d, a, b)?,
            _ => return Err(unsupported(format!("`{}` on {d}", op.name()))),
        };
        Ok(self.fix(d, r))
    }

    /// `a ^ b` on integers by squaring (wrapping); a negative exponent gives 1 for base 1,
    /// ±1 for base -1 and 0 otherwise.
    fn int_pow(&mut self, d: DType, a: &str, b: &str) -> Res<String> {
        let c = class(d)?;
        let t = ity(d);
        let w = if c == Class::B64 { "64" } else { "32" };
        let signed = d.is_signed_int();
        let acc = self.mov(c, "1");
        let sq = self.mov(c, a);
        let e = self.mov(c, b);
        let neg = if signed {
            let n = self.op(Class::Pred, &format!("setp.lt.{t}"), &[b, "0"]);
            self.ins(format!("@{n} mov.b{w} {e}, 0"));
            Some(n)
        } else {
            None
        };
        let (top, end) = (self.label(), self.label());
        self.place(&top);
        let done = self.op(Class::Pred, &format!("setp.eq.{t}"), &[&e, "0"]);
        self.ins(format!("@{done} bra {end}"));
        let bit = self.op(c, &format!("and.b{w}"), &[&e, "1"]);
        let odd = self.op(Class::Pred, &format!("setp.ne.{t}"), &[&bit, "0"]);
        self.ins(format!("@{odd} mul.lo.{t} {acc}, {acc}, {sq}"));
        self.ins(format!("mul.lo.{t} {sq}, {sq}, {sq}"));
        self.ins(format!("shr.u{w} {e}, {e}, 1"));
        self.ins(format!("bra {top}"));
        self.place(&end);
        let Some(neg) = neg else {
            return Ok(acc);
        };
        // Negative exponent.
        let is1 = self.op(Class::Pred, &format!("setp.eq.{t}"), &[a, "1"]);
        let ism1 = self.op(Class::Pred, &format!("setp.eq.{t}"), &[a, "-1"]);
        let bbit = self.op(c, &format!("and.b{w}"), &[b, "1"]);
        let bodd = self.op(Class::Pred, &format!("setp.ne.{t}"), &[&bbit, "0"]);
        let m1 = self.op(c, &format!("selp.{t}"), &["-1", "1", &bodd]);
        let r = self.op(c, &format!("selp.{t}"), &[&m1, "0", &ism1]);
        let r = self.op(c, &format!("selp.{t}"), &["1", &r, &is1]);
        Ok(self.op(c, &format!("selp.{t}"), &[&r, &acc, &neg]))
    }

    pub(crate) fn fma(&mut self, a: &Val, b: &Val, c: &Val) -> Res<Vec<String>> {
        let d = a.ty.dtype;
        let cl = class(d)?;
        if !matches!(cl, Class::F32 | Class::F64) {
            return Err(unsupported(format!("`fma` on {d}")));
        }
        let t = ity(d);
        let mut out = Vec::new();
        for ((x, y), z) in a.regs.iter().zip(&b.regs).zip(&c.regs) {
            let r = self.op(cl, &format!("fma.rn.{t}"), &[x, y, z]);
            out.push(self.fix(d, r));
        }
        Ok(out)
    }

    pub(crate) fn select(&mut self, cond: &Val, a: &Val, b: &Val) -> Res<Vec<String>> {
        let d = a.ty.dtype;
        let c = class(d)?;
        let mut out = Vec::new();
        for (i, (x, y)) in a.regs.iter().zip(&b.regs).enumerate() {
            let p = cond.regs.get(i).unwrap_or(&cond.regs[0]).clone();
            out.push(if c == Class::Pred {
                let np = self.op(Class::Pred, "not.pred", &[&p]);
                let l = self.op(Class::Pred, "and.pred", &[&p, x]);
                let r = self.op(Class::Pred, "and.pred", &[&np, y]);
                self.op(Class::Pred, "or.pred", &[&l, &r])
            } else {
                self.op(c, &format!("selp.{}", c.mov()), &[x, y, &p])
            });
        }
        Ok(out)
    }

    /// Converts one register from dtype `from` to dtype `to`, with the graph `Cast`'s
    /// semantics (see the crate docs).
    pub(crate) fn cast(&mut self, from: DType, to: DType, r: &str) -> Res<String> {
        if from == to {
            return Ok(r.to_string());
        }
        let (fc, tc) = (class(from)?, class(to)?);
        let (ft, tt) = (ity(from), ity(to));
        let is_float = |c: Class| matches!(c, Class::F32 | Class::F64);
        Ok(match (fc, tc) {
            (Class::Pred, _) => {
                let (one, zero) = match tc {
                    Class::F32 | Class::F64 => (Self::fimm(to, 1.0), Self::fzero(to)),
                    _ => ("1".to_string(), "0".to_string()),
                };
                self.op(tc, &format!("selp.{}", tc.mov()), &[&one, &zero, r])
            }
            (_, Class::Pred) if is_float(fc) => self.op(
                Class::Pred,
                &format!("setp.neu.{ft}"),
                &[r, &Self::fzero(from)],
            ),
            (_, Class::Pred) => self.op(Class::Pred, &format!("setp.ne.{ft}"), &[r, "0"]),
            (Class::B32, Class::B32) => self.fix(to, r.to_string()),
            (Class::B64, Class::B32) => {
                let low = self.op(Class::B32, "cvt.u32.u64", &[r]);
                self.fix(to, low)
            }
            (Class::B32, Class::B64) => {
                let ins = if from.is_signed_int() {
                    "cvt.s64.s32"
                } else {
                    "cvt.u64.u32"
                };
                self.op(Class::B64, ins, &[r])
            }
            (Class::B64, Class::B64) => r.to_string(),
            (Class::B32 | Class::B64, Class::F32) if to != DType::F32 => {
                let x = self.op(Class::F64, &format!("cvt.rn.f64.{ft}"), &[r]);
                self.narrow_f64(to, &x)
            }
            (Class::B32 | Class::B64, Class::F32 | Class::F64) => {
                self.op(tc, &format!("cvt.rn.{tt}.{ft}"), &[r])
            }
            (Class::F32 | Class::F64, Class::B32) => {
                let w = if to.is_signed_int() { "s32" } else { "u32" };
                let v = self.op(Class::B32, &format!("cvt.rzi.{w}.{ft}"), &[r]);
                match to {
                    DType::I8 => self.clamp_s32(&v, -128, 127),
                    DType::I16 => self.clamp_s32(&v, -32768, 32767),
                    DType::U8 => self.op(Class::B32, "min.u32", &[&v, "255"]),
                    DType::U16 => self.op(Class::B32, "min.u32", &[&v, "65535"]),
                    _ => v,
                }
            }
            (Class::F32 | Class::F64, Class::B64) => {
                self.op(Class::B64, &format!("cvt.rzi.{tt}.{ft}"), &[r])
            }
            (Class::F32, Class::F32) => self.fix(to, r.to_string()),
            (Class::F32, Class::F64) => self.op(Class::F64, "cvt.f64.f32", &[r]),
            (Class::F64, Class::F32) => self.narrow_f64(to, r),
            _ => {
                return Err(RenderError::Internal(format!("cast from {from} to {to}")));
            }
        })
    }

    fn clamp_s32(&mut self, v: &str, lo: i32, hi: i32) -> String {
        let a = self.op(Class::B32, "max.s32", &[v, &lo.to_string()]);
        self.op(Class::B32, "min.s32", &[&a, &hi.to_string()])
    }

    pub(crate) fn reduce_lanes(&mut self, op: LaneReduce, x: &Val) -> Res<String> {
        let d = x.ty.dtype;
        let bop = match op {
            LaneReduce::Add => BinOp::Op(BinaryOp::Add),
            LaneReduce::Mul => BinOp::Op(BinaryOp::Mul),
            LaneReduce::Min => BinOp::Min,
            LaneReduce::Max => BinOp::Max,
        };
        let mut acc = x.regs[0].clone();
        for r in &x.regs[1..] {
            acc = self.bin1(bop, d, &acc, r)?;
        }
        Ok(acc)
    }
}
