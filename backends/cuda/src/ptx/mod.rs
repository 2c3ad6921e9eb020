//! The PTX writer: one verified kernel in, one PTX module (text) out. This file holds the
//! registers, the module frame, statements and memory access; `arith.rs` prints the
//! arithmetic of every operator and dtype, `math.rs` the transcendental functions, `mma.rs`
//! the tensor-core `mma` statement (fragment loads and `mma.sync`).
//!
//! Every kernel value is held as one virtual register per lane (ptxas allocates the real
//! ones), in a register class chosen by dtype: `bool` in predicates, the integers up to 32
//! bits in `.b32` registers kept sign- or zero-extended (so comparisons and conversions read
//! them as they are), 64-bit integers in `.b64`, f16/bf16/f32 in `.f32` (f16 and bf16 values
//! are rounded to their dtype after every operation) and f64 in `.f64`.
//!
//! Every load and store is predicated on a bounds check against the buffer's length: an
//! out-of-bounds load reads zero, an out-of-bounds store writes nothing, and both set bit
//! [`ERR_OUT_OF_BOUNDS`] of the status word that the last kernel parameter points at.
//! Integer division by zero divides by 1 instead and sets [`ERR_DIV_ZERO`].

mod arith;
mod math;
mod mma;
mod packed;

use crate::target::Arch;
use std::collections::HashMap;
use std::fmt::Write as _;
use tessera_ir::DType;
use tessera_ir::kernel::{BufRef, Expr, Kernel, KernelInfo, Scalar, Stmt, Ty, VarKind};

/// Status bit: some invocation divided an integer by zero.
pub const ERR_DIV_ZERO: u32 = 1;
/// Status bit: some invocation accessed a buffer out of bounds.
pub const ERR_OUT_OF_BOUNDS: u32 = 2;

/// Why a kernel could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// The kernel needs something this target does not provide.
    Unsupported(String),
    /// A bug: the kernel IR was not what verification promised.
    Internal(String),
}

type Res<T> = Result<T, RenderError>;

/// A register class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Pred,
    B16,
    B32,
    B64,
    F32,
    F64,
}

impl Class {
    const ALL: [Class; 6] = [
        Class::Pred,
        Class::B16,
        Class::B32,
        Class::B64,
        Class::F32,
        Class::F64,
    ];

    fn prefix(self) -> &'static str {
        match self {
            Class::Pred => "%p",
            Class::B16 => "%h",
            Class::B32 => "%r",
            Class::B64 => "%rd",
            Class::F32 => "%f",
            Class::F64 => "%fd",
        }
    }

    fn decl(self) -> &'static str {
        match self {
            Class::Pred => ".pred",
            Class::B16 => ".b16",
            Class::B32 => ".b32",
            Class::B64 => ".b64",
            Class::F32 => ".f32",
            Class::F64 => ".f64",
        }
    }

    /// The suffix of `mov` for this class.
    fn mov(self) -> &'static str {
        match self {
            Class::Pred => "pred",
            Class::B16 => "b16",
            Class::B32 => "b32",
            Class::B64 => "b64",
            Class::F32 => "f32",
            Class::F64 => "f64",
        }
    }
}

/// The register class that holds values of `d`.
pub(crate) fn class(d: DType) -> Res<Class> {
    Ok(match d {
        DType::Bool => Class::Pred,
        DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32 | DType::U32 => Class::B32,
        DType::I64 | DType::U64 => Class::B64,
        DType::F16 | DType::BF16 | DType::F32 => Class::F32,
        DType::F64 => Class::F64,
        other => return Err(RenderError::Unsupported(format!("dtype {other}"))),
    })
}

/// The instruction type of arithmetic on `d` values as held in registers.
pub(crate) fn ity(d: DType) -> &'static str {
    match d {
        DType::I8 | DType::I16 | DType::I32 => "s32",
        DType::U8 | DType::U16 | DType::U32 | DType::Bool => "u32",
        DType::I64 => "s64",
        DType::U64 => "u64",
        DType::F64 => "f64",
        _ => "f32",
    }
}

/// A rendered value: its kernel type and one register per lane.
#[derive(Clone, Debug)]
pub(crate) struct Val {
    pub ty: Ty,
    pub regs: Vec<String>,
    /// The lanes two by two as `f16x2`/`bf16x2` registers, when made (see `packed.rs`).
    pub packed: Option<Vec<String>>,
}

/// Renders a verified kernel as a PTX module for `arch`.
pub fn render(k: &Kernel, info: &KernelInfo, arch: Arch) -> Result<String, RenderError> {
    let mut w = Writer {
        k,
        info,
        arch,
        packed_vars: HashMap::new(),
        out: String::new(),
        counts: [0; 6],
        labels: 0,
        vars: HashMap::new(),
        params: Vec::new(),
        shared: Vec::new(),
        err: String::new(),
        zero16: String::new(),
    };
    w.prologue()?;
    w.block(&k.body)?;
    Ok(w.module(arch))
}

/// The `.entry` name of a kernel: its name with every character PTX does not allow in an
/// identifier replaced by `_`, prefixed so that it never starts with a digit or `%`.
pub fn entry_name(k: &Kernel) -> String {
    let clean: String = k
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("tessera_{clean}")
}

pub(crate) struct Writer<'k> {
    k: &'k Kernel,
    info: &'k KernelInfo,
    arch: Arch,
    /// Packed registers of `let` variables that have them.
    packed_vars: HashMap<usize, Vec<String>>,
    out: String,
    counts: [u32; 6],
    labels: u32,
    vars: HashMap<usize, Vec<String>>,
    /// The global address of each parameter (a `.b64` register).
    params: Vec<String>,
    /// The shared-window address of each shared buffer (a `.b64` register).
    shared: Vec<String>,
    /// The global address of the status word.
    err: String,
    /// A `.b16` register holding 0 (for widening bf16).
    zero16: String,
}

impl Writer<'_> {
    /// A fresh virtual register.
    pub(crate) fn reg(&mut self, c: Class) -> String {
        let i = Class::ALL.iter().position(|&x| x == c).unwrap_or(0);
        self.counts[i] += 1;
        format!("{}{}", c.prefix(), self.counts[i])
    }

    /// Emits one instruction (without the `;`).
    pub(crate) fn ins(&mut self, s: impl AsRef<str>) {
        let _ = writeln!(self.out, "\t{};", s.as_ref());
    }

    /// A fresh label name.
    pub(crate) fn label(&mut self) -> String {
        self.labels += 1;
        format!("$L{}", self.labels)
    }

    pub(crate) fn place(&mut self, l: &str) {
        let _ = writeln!(self.out, "{l}:");
    }

    /// `op.ty d, args...` into a fresh register of class `c`.
    pub(crate) fn op(&mut self, c: Class, op: &str, args: &[&str]) -> String {
        let d = self.reg(c);
        self.ins(format!("{op} {d}, {}", args.join(", ")));
        d
    }

    pub(crate) fn mov(&mut self, c: Class, src: &str) -> String {
        self.op(c, &format!("mov.{}", c.mov()), &[src])
    }

    pub(crate) fn ty(&self, e: &Expr) -> Ty {
        self.info.expr_ty(self.k, e)
    }

    /// The `.b16` zero register.
    pub(crate) fn zero16(&mut self) -> String {
        self.zero16.clone()
    }

    fn prologue(&mut self) -> Res<()> {
        self.zero16 = self.reg(Class::B16);
        let z = self.zero16.clone();
        self.ins(format!("mov.b16 {z}, 0"));
        for i in 0..self.k.params.len() {
            let raw = self.reg(Class::B64);
            self.ins(format!("ld.param.u64 {raw}, [param_{i}]"));
            let g = self.reg(Class::B64);
            self.ins(format!("cvta.to.global.u64 {g}, {raw}"));
            self.params.push(g);
        }
        let raw = self.reg(Class::B64);
        self.ins(format!("ld.param.u64 {raw}, [param_status]"));
        self.err = self.reg(Class::B64);
        let e = self.err.clone();
        self.ins(format!("cvta.to.global.u64 {e}, {raw}"));
        for i in 0..self.k.shared.len() {
            let a = self.reg(Class::B64);
            self.ins(format!("mov.u64 {a}, shared_{i}"));
            self.shared.push(a);
        }
        for p in &self.k.params {
            class(p.dtype)?;
        }
        for s in &self.k.shared {
            class(s.dtype)?;
        }
        Ok(())
    }

    fn module(&self, arch: Arch) -> String {
        let k = self.k;
        let mut m = String::new();
        let _ = writeln!(m, "//");
        let _ = writeln!(m, "// Generated by tessera-cuda from kernel @{}", k.name);
        let _ = writeln!(
            m,
            "// launch: grid {:?} group {:?}",
            k.launch.grid, k.launch.group
        );
        let _ = writeln!(m, "//");
        let _ = writeln!(m, ".version {}", arch.ptx_version());
        let _ = writeln!(m, ".target {}", arch.name());
        let _ = writeln!(m, ".address_size 64");
        let _ = writeln!(m);
        let _ = writeln!(m, ".visible .entry {}(", entry_name(k));
        for (i, p) in k.params.iter().enumerate() {
            let _ = writeln!(
                m,
                "\t.param .u64 .ptr .global .align 16 param_{i}, // %{}: {}[{}] {}",
                p.name,
                p.dtype,
                p.len,
                p.access.name()
            );
        }
        let _ = writeln!(m, "\t.param .u64 .ptr .global .align 4 param_status");
        let _ = writeln!(m, ")");
        let mut dims = k.launch.group.clone();
        dims.resize(3, 1);
        let _ = writeln!(m, ".reqntid {}, {}, {}", dims[0], dims[1], dims[2]);
        let _ = writeln!(m, "{{");
        for (i, c) in Class::ALL.iter().enumerate() {
            if self.counts[i] > 0 {
                let _ = writeln!(
                    m,
                    "\t.reg {} {}<{}>;",
                    c.decl(),
                    c.prefix(),
                    self.counts[i] + 1
                );
            }
        }
        for (i, s) in k.shared.iter().enumerate() {
            let bytes = (s.len * s.dtype.size_bytes()).max(16);
            let _ = writeln!(
                m,
                "\t.shared .align 16 .b8 shared_{i}[{bytes}]; // %{}: {}[{}]",
                s.name, s.dtype, s.len
            );
        }
        m.push_str(&self.out);
        let _ = writeln!(m, "\tret;");
        let _ = writeln!(m, "}}");
        m
    }

    fn block(&mut self, stmts: &[Stmt]) -> Res<()> {
        for s in stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn var_kind(&self, v: usize) -> Option<VarKind> {
        self.info.var_kinds.get(v).copied().flatten()
    }

    fn stmt(&mut self, s: &Stmt) -> Res<()> {
        match s {
            Stmt::Let { var, value } => {
                let v = self.expr(value)?;
                if let Some(p) = v.packed {
                    self.packed_vars.insert(var.index(), p);
                }
                self.vars.insert(var.index(), v.regs);
            }
            Stmt::Local { var, init } => {
                let v = self.expr(init)?;
                let c = class(v.ty.dtype)?;
                let regs: Vec<String> = v.regs.iter().map(|r| self.mov(c, r)).collect();
                self.vars.insert(var.index(), regs);
            }
            Stmt::Assign { var, value } => {
                let v = self.expr(value)?;
                let c = class(v.ty.dtype)?;
                let dst = self.var_regs(var.index())?;
                for (d, s) in dst.iter().zip(&v.regs) {
                    self.ins(format!("mov.{} {d}, {s}", c.mov()));
                }
            }
            Stmt::Store { buf, index, value } => {
                let v = self.expr(value)?;
                self.store(*buf, index, &v)?;
            }
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
                ..
            } => {
                let s = self.expr(start)?;
                let e = self.expr(end)?;
                let dt = s.ty.dtype;
                let c = class(dt)?;
                let t = ity(dt);
                let u = if c == Class::B64 { "u64" } else { "u32" };
                let i = self.mov(c, &s.regs[0]);
                let end_r = self.mov(c, &e.regs[0]);
                self.vars.insert(var.index(), vec![i.clone()]);
                let (top, exit) = (self.label(), self.label());
                let p = self.op(Class::Pred, &format!("setp.ge.{t}"), &[&i, &end_r]);
                self.ins(format!("@{p} bra {exit}"));
                self.place(&top);
                self.block(body)?;
                // `end - i` is positive here: exit when it is at most the step, so the
                // counter never wraps.
                let left = self.op(c, &format!("sub.{u}"), &[&end_r, &i]);
                let done = self.op(
                    Class::Pred,
                    &format!("setp.le.{u}"),
                    &[&left, &step.to_string()],
                );
                self.ins(format!("@{done} bra {exit}"));
                self.ins(format!("add.{u} {i}, {i}, {step}"));
                self.ins(format!("bra {top}"));
                self.place(&exit);
            }
            Stmt::If { cond, then, els } => {
                let c = self.expr(cond)?;
                let (else_l, end_l) = (self.label(), self.label());
                self.ins(format!("@!{} bra {else_l}", c.regs[0]));
                self.block(then)?;
                self.ins(format!("bra {end_l}"));
                self.place(&else_l);
                self.block(els)?;
                self.place(&end_l);
            }
            Stmt::Barrier => self.ins("bar.sync 0"),
            Stmt::Mma { shape, acc, a, b } => self.mma(*shape, *acc, a, b)?,
        }
        Ok(())
    }

    fn var_regs(&self, v: usize) -> Res<Vec<String>> {
        self.vars
            .get(&v)
            .cloned()
            .ok_or_else(|| RenderError::Internal(format!("variable #{v} used before definition")))
    }

    /// Renders an expression into registers.
    pub(crate) fn expr(&mut self, e: &Expr) -> Res<Val> {
        let ty = self.ty(e);
        let mut packed = None;
        let regs = match e {
            Expr::Const { ty, value } => {
                let r = self.konst(ty.dtype, *value)?;
                vec![r; usize::from(ty.lanes)]
            }
            Expr::Var(v) => {
                let regs = self.var_regs(v.index())?;
                if self.var_kind(v.index()) == Some(VarKind::Let) {
                    packed = self.packed_var(v.index());
                    regs
                } else {
                    // Accumulators and loop counters change: read a copy.
                    let c = class(ty.dtype)?;
                    regs.iter().map(|r| self.mov(c, r)).collect()
                }
            }
            Expr::GroupId(a) | Expr::LocalId(a) => {
                let axis = ["x", "y", "z"].get(usize::from(*a)).copied().unwrap_or("x");
                let sreg = if matches!(e, Expr::GroupId(_)) {
                    "%ctaid"
                } else {
                    "%tid"
                };
                vec![self.op(Class::B32, "mov.u32", &[&format!("{sreg}.{axis}")])]
            }
            Expr::Load { buf, index, lanes } => {
                let (regs, p) = self.load(*buf, index, *lanes)?;
                packed = p;
                regs
            }
            Expr::Unary { op, x } => {
                let x = self.expr(x)?;
                self.unary(*op, &x)?
            }
            Expr::Binary { op, a, b } => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                match self.packed_binary(*op, &a, &b) {
                    Some((regs, p)) => {
                        packed = Some(p);
                        regs
                    }
                    None => self.binary(*op, &a, &b)?,
                }
            }
            Expr::Fma { a, b, c } => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                let c = self.expr(c)?;
                match self.packed_fma(&a, &b, &c) {
                    Some((regs, p)) => {
                        packed = Some(p);
                        regs
                    }
                    None => self.fma(&a, &b, &c)?,
                }
            }
            Expr::Select { cond, a, b } => {
                let c = self.expr(cond)?;
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                self.select(&c, &a, &b)?
            }
            Expr::Cast { to, x } => {
                let x = self.expr(x)?;
                let mut out = Vec::new();
                for r in &x.regs {
                    out.push(self.cast(x.ty.dtype, *to, r)?);
                }
                out
            }
            Expr::Splat { x, lanes } => {
                let x = self.expr(x)?;
                vec![x.regs[0].clone(); usize::from(*lanes)]
            }
            Expr::Lane { x, lane } => {
                let x = self.expr(x)?;
                let r = x.regs.get(usize::from(*lane)).cloned().ok_or_else(|| {
                    RenderError::Internal(format!("lane {lane} of a {} value", x.ty))
                })?;
                vec![r]
            }
            Expr::ReduceLanes { op, x } => {
                let x = self.expr(x)?;
                vec![self.reduce_lanes(*op, &x)?]
            }
            Expr::ShuffleXor { x, mask } => {
                let x = self.expr(x)?;
                vec![self.shuffle_xor(x.ty.dtype, &x.regs[0], *mask)?]
            }
        };
        Ok(Val { ty, regs, packed })
    }

    /// `shfl.sync.bfly` of one value with every thread of the warp taking part (the verifier
    /// keeps shuffles under workgroup-uniform control flow): 32-bit registers directly,
    /// predicates as 0/1, 64-bit values as two halves. The member mask names every lane a
    /// block has: all 32 when the block is a whole number of warps, the first `n` of a block
    /// of `n < 32` threads; other block sizes would leave a warp partly filled and are refused.
    fn shuffle_xor(&mut self, d: DType, r: &str, mask: u32) -> Res<String> {
        let n = self.k.launch.group_size();
        let members = match n {
            _ if mask >= 32 => {
                return Err(RenderError::Unsupported(format!(
                    "shuffle_xor<{mask}> (warps have 32 lanes)"
                )));
            }
            _ if n.is_multiple_of(32) => "-1".to_string(),
            1..32 => ((1u64 << n) - 1).to_string(),
            _ => {
                return Err(RenderError::Unsupported(format!(
                    "shuffle_xor in a block of {n} threads (neither below 32 nor a multiple of 32)"
                )));
            }
        };
        let bfly = |w: &mut Self, c: Class, src: &str| {
            w.op(
                c,
                "shfl.sync.bfly.b32",
                &[src, &mask.to_string(), "31", &members],
            )
        };
        Ok(match class(d)? {
            Class::B32 => bfly(self, Class::B32, r),
            Class::F32 => bfly(self, Class::F32, r),
            Class::Pred => {
                let bits = self.op(Class::B32, "selp.u32", &["1", "0", r]);
                let got = bfly(self, Class::B32, &bits);
                self.op(Class::Pred, "setp.ne.u32", &[&got, "0"])
            }
            c @ (Class::B64 | Class::F64) => {
                let (lo, hi) = (self.reg(Class::B32), self.reg(Class::B32));
                self.ins(format!("mov.b64 {{{lo}, {hi}}}, {r}"));
                let (lo2, hi2) = (bfly(self, Class::B32, &lo), bfly(self, Class::B32, &hi));
                let out = self.reg(c);
                self.ins(format!("mov.b64 {out}, {{{lo2}, {hi2}}}"));
                out
            }
            Class::B16 => return Err(RenderError::Internal("a b16 shuffle".into())),
        })
    }

    /// A register holding a constant of dtype `d`.
    fn konst(&mut self, d: DType, v: Scalar) -> Res<String> {
        let as_f64 = match v {
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
            Scalar::Bool(b) => f64::from(u8::from(b)),
        };
        let as_int = match v {
            Scalar::Int(i) => i,
            Scalar::Float(f) => f as i128,
            Scalar::Bool(b) => i128::from(b),
        };
        Ok(match class(d)? {
            Class::Pred => {
                let r = self.mov(Class::B32, &u32::from(as_int != 0).to_string());
                self.op(Class::Pred, "setp.ne.u32", &[&r, "0"])
            }
            Class::B32 => {
                let bits = wrap_int(d, as_int) as u32;
                self.mov(Class::B32, &bits.to_string())
            }
            Class::B64 => {
                let bits = as_int as u64;
                self.mov(Class::B64, &bits.to_string())
            }
            Class::F32 => {
                let f = match d {
                    DType::F16 => half::f16::from_f64(as_f64).to_f32(),
                    DType::BF16 => half::bf16::from_f64(as_f64).to_f32(),
                    _ => as_f64 as f32,
                };
                self.mov(Class::F32, &f32_imm(f))
            }
            Class::F64 => self.mov(Class::F64, &f64_imm(as_f64)),
            Class::B16 => return Err(RenderError::Internal("a b16 constant".into())),
        })
    }

    /// The 64-bit element index of an integer index expression.
    fn index64(&mut self, index: &Expr) -> Res<String> {
        let v = self.expr(index)?;
        let d = v.ty.dtype;
        let r = &v.regs[0];
        Ok(match class(d)? {
            Class::B64 => r.clone(),
            Class::B32 if d.is_signed_int() => self.op(Class::B64, "cvt.s64.s32", &[r]),
            Class::B32 => self.op(Class::B64, "cvt.u64.u32", &[r]),
            _ => {
                return Err(RenderError::Internal(format!("an index of dtype {d}")));
            }
        })
    }

    /// The buffer's state space, base address register, dtype and length.
    fn buffer(&self, buf: BufRef) -> Res<(&'static str, String, DType, usize)> {
        let missing = || RenderError::Internal(format!("unknown buffer {buf:?}"));
        Ok(match buf {
            BufRef::Param(i) => {
                let p = self.k.params.get(i).ok_or_else(missing)?;
                (
                    "global",
                    self.params.get(i).cloned().ok_or_else(missing)?,
                    p.dtype,
                    p.len,
                )
            }
            BufRef::Shared(i) => {
                let s = self.k.shared.get(i).ok_or_else(missing)?;
                (
                    "shared",
                    self.shared.get(i).cloned().ok_or_else(missing)?,
                    s.dtype,
                    s.len,
                )
            }
        })
    }

    /// A predicate: `idx + first + count <= len` (as unsigned 64-bit, so negative indices fail).
    fn in_bounds(&mut self, idx: &str, first: usize, count: usize, len: usize) -> String {
        match len.checked_sub(first + count) {
            Some(limit) => self.op(Class::Pred, "setp.le.u64", &[idx, &limit.to_string()]),
            None => self.op(Class::Pred, "setp.ne.u64", &[idx, idx]),
        }
    }

    /// A predicate `a && !b`.
    pub(crate) fn and_not(&mut self, a: &str, b: &str) -> String {
        let nb = self.op(Class::Pred, "not.pred", &[b]);
        self.op(Class::Pred, "and.pred", &[a, &nb])
    }

    /// Sets status bits when `ok` is false.
    pub(crate) fn flag_unless(&mut self, ok: &str, bits: u32) {
        let e = self.err.clone();
        self.ins(format!("@!{ok} red.global.or.b32 [{e}], {bits}"));
    }

    /// Element address `base + idx * size`.
    fn address(&mut self, base: &str, idx: &str, size: usize) -> String {
        let shift = size.trailing_zeros();
        let off = self.op(Class::B64, "shl.b64", &[idx, &shift.to_string()]);
        self.op(Class::B64, "add.s64", &[base, &off])
    }

    /// A load's value registers, and packed registers for f16/bf16 vectors that pack.
    fn load(
        &mut self,
        buf: BufRef,
        index: &Expr,
        lanes: u8,
    ) -> Res<(Vec<String>, Option<Vec<String>>)> {
        let (space, base, d, len) = self.buffer(buf)?;
        let n = usize::from(lanes);
        let idx = self.index64(index)?;
        let all = self.in_bounds(&idx, 0, n, len);
        self.flag_unless(&all, ERR_OUT_OF_BOUNDS);
        let size = d.size_bytes();
        let addr = self.address(&base, &idx, size);
        let c = class(d)?;
        // Raw registers as loaded (booleans as bytes, f16/bf16 as 16 bits).
        let raw_class = match c {
            Class::Pred => Class::B32,
            Class::F32 if d != DType::F32 => Class::B16,
            other => other,
        };
        let raw: Vec<String> = (0..n)
            .map(|_| {
                let zero = match raw_class {
                    Class::F32 => f32_imm(0.0),
                    Class::F64 => f64_imm(0.0),
                    _ => "0".to_string(),
                };
                self.mov(raw_class, &zero)
            })
            .collect();
        let ty = mem_ty(d);
        self.lane_accesses(&idx, &addr, &all, &raw, d, space, len, |p, v, regs, off| {
            format!("@{p} ld.{space}{v}.{ty} {regs}, [{addr}+{off}]")
        });
        let packed = self.pack_raw(d, &raw);
        let regs = raw
            .iter()
            .map(|r| self.widen_loaded(d, r))
            .collect::<Res<_>>()?;
        Ok((regs, packed))
    }

    /// Emits the accesses of one load or store of `regs.len()` lanes at `addr`: a `.v{chunk}`
    /// access under a run-time fast-path predicate (all lanes in bounds, address aligned) where
    /// the chunk fits, and per-lane accesses predicated on their own bounds (and on the fast
    /// path not having been taken) otherwise. `access(pred, vector_suffix, registers, offset)`
    /// prints one instruction.
    #[allow(clippy::too_many_arguments)]
    fn lane_accesses(
        &mut self,
        idx: &str,
        addr: &str,
        all: &str,
        regs: &[String],
        d: DType,
        space: &str,
        len: usize,
        access: impl Fn(&str, &str, &str, usize) -> String,
    ) {
        let n = regs.len();
        let size = d.size_bytes();
        let chunk = vector_chunk(d, space, n);
        let mut lane = 0;
        while lane < n {
            let fast = if chunk > 1 && lane + chunk <= n {
                Some(self.vector_access(idx, addr, lane, chunk, len, size))
            } else {
                None
            };
            let count = if fast.is_some() { chunk } else { 1 };
            if let Some(f) = &fast {
                let list = format!("{{{}}}", regs[lane..lane + chunk].join(", "));
                let line = access(f, &format!(".v{chunk}"), &list, lane * size);
                self.ins(line);
            }
            for (l, r) in regs.iter().enumerate().skip(lane).take(count) {
                let mut p = if n == 1 {
                    all.to_string()
                } else {
                    self.in_bounds(idx, l, 1, len)
                };
                if let Some(f) = &fast {
                    p = self.and_not(&p, f);
                }
                let line = access(&p, "", r, l * size);
                self.ins(line);
            }
            lane += count;
        }
    }

    /// A predicate for the fast path of lanes `first..first + chunk`: all in bounds and the
    /// address aligned to the chunk's size.
    fn vector_access(
        &mut self,
        idx: &str,
        addr: &str,
        first: usize,
        chunk: usize,
        len: usize,
        size: usize,
    ) -> String {
        let inb = self.in_bounds(idx, first, chunk, len);
        let mask = (chunk * size - 1).to_string();
        let low = self.op(Class::B64, "and.b64", &[addr, &mask]);
        let aligned = self.op(Class::Pred, "setp.eq.u64", &[&low, "0"]);
        self.op(Class::Pred, "and.pred", &[&inb, &aligned])
    }

    /// A loaded raw register as a value register of `d`.
    fn widen_loaded(&mut self, d: DType, raw: &str) -> Res<String> {
        Ok(match d {
            DType::Bool => self.op(Class::Pred, "setp.ne.u32", &[raw, "0"]),
            DType::F16 => self.op(Class::F32, "cvt.f32.f16", &[raw]),
            DType::BF16 => self.bf16_to_f32(raw),
            _ => raw.to_string(),
        })
    }

    /// Widens bf16 bits (a `.b16` register) to f32 exactly.
    pub(crate) fn bf16_to_f32(&mut self, h: &str) -> String {
        let z = self.zero16();
        self.op(Class::F32, "mov.b32", &[&format!("{{{z}, {h}}}")])
    }

    /// A value register of `d` as the raw register to store.
    fn narrow_for_store(&mut self, d: DType, r: &str) -> String {
        match d {
            DType::Bool => self.op(Class::B32, "selp.u32", &["1", "0", r]),
            DType::F16 => self.op(Class::B16, "cvt.rn.f16.f32", &[r]),
            DType::BF16 => self.op(Class::B16, "cvt.rn.bf16.f32", &[r]),
            _ => r.to_string(),
        }
    }

    fn store(&mut self, buf: BufRef, index: &Expr, v: &Val) -> Res<()> {
        let (space, base, d, len) = self.buffer(buf)?;
        let n = v.regs.len();
        let idx = self.index64(index)?;
        let all = self.in_bounds(&idx, 0, n, len);
        self.flag_unless(&all, ERR_OUT_OF_BOUNDS);
        let size = d.size_bytes();
        let addr = self.address(&base, &idx, size);
        let raw: Vec<String> = match &v.packed {
            Some(p) if matches!(d, DType::F16 | DType::BF16) => self.unpack_raw(p),
            _ => v.regs.iter().map(|r| self.narrow_for_store(d, r)).collect(),
        };
        let ty = mem_ty(d);
        self.lane_accesses(&idx, &addr, &all, &raw, d, space, len, |p, v, regs, off| {
            format!("@{p} st.{space}{v}.{ty} [{addr}+{off}], {regs}")
        });
        Ok(())
    }
}

/// Lanes per vector access (`ld/st.v2`, `.v4`, at most 16 bytes): for global 4- and 8-byte
/// elements only; 1 means scalar accesses.
fn vector_chunk(d: DType, space: &str, lanes: usize) -> usize {
    if space != "global" || lanes < 2 || matches!(d, DType::Bool) {
        return 1;
    }
    match d.size_bytes() {
        4 => lanes.min(4),
        8 => 2,
        _ => 1,
    }
}

/// The type of `ld`/`st` for elements of `d`.
fn mem_ty(d: DType) -> &'static str {
    match d {
        DType::Bool | DType::U8 => "u8",
        DType::I8 => "s8",
        DType::I16 => "s16",
        DType::U16 => "u16",
        DType::F16 | DType::BF16 => "b16",
        DType::I32 => "s32",
        DType::U32 => "u32",
        DType::I64 => "s64",
        DType::U64 => "u64",
        DType::F32 => "f32",
        _ => "f64",
    }
}

/// An integer wrapped to `d` (two's complement) and extended to 64 bits the way registers
/// hold it (sign-extended for signed dtypes).
pub(crate) fn wrap_int(d: DType, v: i128) -> i64 {
    let bits = 8 * d.size_bytes() as u32;
    let raw = v as u64;
    if bits >= 64 {
        return raw as i64;
    }
    let mask = (1u64 << bits) - 1;
    let low = raw & mask;
    if d.is_signed_int() && low >> (bits - 1) == 1 {
        (low | !mask) as i64
    } else {
        low as i64
    }
}

/// A PTX f32 immediate (exact bits).
pub(crate) fn f32_imm(f: f32) -> String {
    format!("0f{:08X}", f.to_bits())
}

/// A PTX f64 immediate (exact bits).
pub(crate) fn f64_imm(f: f64) -> String {
    format!("0d{:016X}", f.to_bits())
}
