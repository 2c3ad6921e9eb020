//! The [`crate::vmath`] recipes printed as LLVM IR on `float` or `<N x float>` values.

use super::{Emitter, R, V, float_lit, mangle, splat_lit, ty_str};
use crate::vmath::MathOps;
use tessera_ir::DType;
use tessera_ir::kernel::Ty;
use tessera_ir::op::UnaryOp;

/// The printer, printing recipe instructions on values of `lanes` f32 lanes. Recipe values
/// are indices into `vals` (the recipes copy their operands).
struct LlvmMath<'e, 'k> {
    e: &'e mut Emitter<'k>,
    lanes: u8,
    vals: Vec<V>,
}

/// A recipe value: an index into [`LlvmMath::vals`].
type H = usize;

impl LlvmMath<'_, '_> {
    fn put(&mut self, v: V) -> H {
        self.vals.push(v);
        self.vals.len() - 1
    }

    fn op(&self, h: H) -> String {
        self.vals.get(h).map_or_else(String::new, |v| v.op.clone())
    }

    fn fty(&self) -> Ty {
        Ty::vector(DType::F32, self.lanes)
    }

    fn ity(&self) -> Ty {
        Ty::vector(DType::I32, self.lanes)
    }

    fn mty(&self) -> Ty {
        Ty::vector(DType::Bool, self.lanes)
    }

    /// `op ty a, b` into a fresh value of `ty`.
    fn two(&mut self, ty: Ty, op: &str, a: H, b: H) -> R<H> {
        let t = ty_str(ty);
        let (a, b) = (self.op(a), self.op(b));
        let v = self.e.inst(ty, format!("{op} {t} {a}, {b}"));
        Ok(self.put(v))
    }

    /// `llvm.<name>` on float operands.
    fn intrinsic(&mut self, name: &str, args: &[H]) -> R<H> {
        let ty = self.fty();
        let t = ty_str(ty);
        let n = format!("llvm.{name}.{}", mangle(self.lanes, "float"));
        let ops: Vec<String> = args.iter().map(|&h| self.op(h)).collect();
        let a: Vec<(&str, &str)> = ops.iter().map(|o| (t.as_str(), o.as_str())).collect();
        let call = self.e.intrinsic(&n, &t, &a);
        let v = self.e.inst(ty, call);
        Ok(self.put(v))
    }
}

impl MathOps for LlvmMath<'_, '_> {
    type F = H;
    type I = H;
    type M = H;
    type E = String;

    fn f(&mut self, c: f32) -> R<H> {
        let ty = self.fty();
        let op = splat_lit(ty, &float_lit(DType::F32, f64::from(c)));
        Ok(self.put(V { ty, op }))
    }
    fn i(&mut self, c: i32) -> R<H> {
        let ty = self.ity();
        let op = splat_lit(ty, &c.to_string());
        Ok(self.put(V { ty, op }))
    }
    fn add(&mut self, a: H, b: H) -> R<H> {
        self.two(self.fty(), "fadd", a, b)
    }
    fn sub(&mut self, a: H, b: H) -> R<H> {
        self.two(self.fty(), "fsub", a, b)
    }
    fn mul(&mut self, a: H, b: H) -> R<H> {
        self.two(self.fty(), "fmul", a, b)
    }
    fn div(&mut self, a: H, b: H) -> R<H> {
        self.two(self.fty(), "fdiv", a, b)
    }
    fn fma(&mut self, a: H, b: H, c: H) -> R<H> {
        self.intrinsic("fma", &[a, b, c])
    }
    fn abs(&mut self, a: H) -> R<H> {
        self.intrinsic("fabs", &[a])
    }
    fn isub(&mut self, a: H, b: H) -> R<H> {
        self.two(self.ity(), "sub", a, b)
    }
    fn iand(&mut self, a: H, b: H) -> R<H> {
        self.two(self.ity(), "and", a, b)
    }
    fn ior(&mut self, a: H, b: H) -> R<H> {
        self.two(self.ity(), "or", a, b)
    }
    fn shl(&mut self, a: H, n: u8) -> R<H> {
        let k = self.i(i32::from(n))?;
        self.two(self.ity(), "shl", a, k)
    }
    fn sshr(&mut self, a: H, n: u8) -> R<H> {
        let k = self.i(i32::from(n))?;
        self.two(self.ity(), "ashr", a, k)
    }
    fn as_float(&mut self, a: H) -> R<H> {
        let (ity, fty) = (self.ity(), self.fty());
        let a = self.op(a);
        let v = self.e.inst(
            fty,
            format!("bitcast {} {a} to {}", ty_str(ity), ty_str(fty)),
        );
        Ok(self.put(v))
    }
    fn as_int(&mut self, a: H) -> R<H> {
        let (ity, fty) = (self.ity(), self.fty());
        let a = self.op(a);
        let v = self.e.inst(
            ity,
            format!("bitcast {} {a} to {}", ty_str(fty), ty_str(ity)),
        );
        Ok(self.put(v))
    }
    fn lt(&mut self, a: H, b: H) -> R<H> {
        let t = ty_str(self.fty());
        let m = self.mty();
        let (a, b) = (self.op(a), self.op(b));
        let v = self.e.inst(m, format!("fcmp olt {t} {a}, {b}"));
        Ok(self.put(v))
    }
    fn select(&mut self, m: H, a: H, b: H) -> R<H> {
        let (mt, t) = (ty_str(self.mty()), ty_str(self.fty()));
        let ty = self.fty();
        let (m, a, b) = (self.op(m), self.op(a), self.op(b));
        let v = self
            .e
            .inst(ty, format!("select {mt} {m}, {t} {a}, {t} {b}"));
        Ok(self.put(v))
    }
}

impl Emitter<'_> {
    /// `op`'s recipe on an f32 value, or `None` when the recipes are off, the value is not
    /// f32 or `op` has none.
    pub(super) fn vmath(&mut self, op: UnaryOp, v: &V) -> Option<R<V>> {
        if !self.fast_math || v.ty.dtype != DType::F32 || !crate::vmath::has_recipe(op) {
            return None;
        }
        let mut m = LlvmMath {
            e: self,
            lanes: v.ty.lanes,
            vals: vec![v.clone()],
        };
        let r = crate::vmath::unary(&mut m, op, 0)?;
        Some(r.map(|h| m.vals.get(h).cloned().unwrap_or_else(|| v.clone())))
    }
}
