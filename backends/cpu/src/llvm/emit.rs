//! The LLVM printer: one verified kernel IR body → the text of one LLVM IR function
//! `i32 @tessera_kernel(ptr %args, ptr %group)` with the Cranelift renderer's contract (see
//! [`crate::render`]): it runs one invocation and returns its error bits.
//!
//! A kernel value of `lanes` lanes is one LLVM value: a scalar, or one `<lanes x T>` vector
//! (LLVM legalizes any width to the host's registers, so `f32x16` is one AVX-512 register).
//! Bools are `i1` in registers and `i8` in memory. f16/bf16 are not printed here: a kernel
//! that holds them is refused with a reason and the target compiles it with Cranelift.
//! f32 exp/erf/tanh/sigmoid print [`crate::vmath`]'s recipes (unless the target's math mode
//! is precise); other transcendental functions call the helpers of [`crate::math`] lane by
//! lane by name (bound to their addresses when the object is linked), so results match the
//! Cranelift renderer's. Every load and store is
//! bounds-checked like the Cranelift renderer's (LLVM removes the checks it can prove).

use crate::math::{Helper, helpers};
use crate::range::Ranges;
use crate::render::ERR_OUT_OF_BOUNDS;
use cranelift_codegen::ir::types as cl;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;
use tessera_ir::DType;
use tessera_ir::kernel::{BinOp, BufRef, Expr, Kernel, LaneReduce, Scalar, Stmt, Ty, VarId};
use tessera_ir::op::BinaryOp;

/// Why a kernel was not printed (the target then compiles it with Cranelift).
pub(crate) type Refusal = String;

type R<T> = Result<T, Refusal>;

/// A printed value: its kernel type and its operand text (`%t3`, a literal, ...).
#[derive(Clone, Debug)]
struct V {
    ty: Ty,
    op: String,
}

#[derive(Clone)]
enum Bind {
    Ssa(V),
    /// An `alloca` slot (locals, loop counters).
    Slot(Ty, String),
}

/// The printer's state for one kernel.
struct Emitter<'k> {
    k: &'k Kernel,
    body: String,
    allocas: String,
    decls: BTreeSet<String>,
    next: usize,
    env: Vec<Option<Bind>>,
    helpers: HashMap<&'static str, Helper>,
    ranges: Ranges,
    /// Print [`crate::vmath`]'s recipes for f32 exp/erf/tanh/sigmoid.
    fast_math: bool,
}

/// The LLVM module text of `k`, or why it is not printed.
pub(crate) fn module_text(k: &Kernel, cpu: &str, features: &str, fast_math: bool) -> R<String> {
    for p in &k.params {
        check_dtype(p.dtype)?;
    }
    for (_, v) in k.vars.iter() {
        check_dtype(v.ty.dtype)?;
    }
    let mut e = Emitter {
        k,
        body: String::new(),
        allocas: String::new(),
        decls: BTreeSet::new(),
        next: 0,
        env: vec![None; k.vars.len()],
        helpers: helpers().into_iter().map(|h| (h.name, h)).collect(),
        ranges: Ranges::new(k),
        fast_math,
    };
    for i in 0..k.params.len() {
        let slot = e.tmp();
        e.line(format!(
            "{slot} = getelementptr inbounds ptr, ptr %args, i64 {i}"
        ));
        e.line(format!("%base{i} = load ptr, ptr {slot}, align 8"));
    }
    e.allocas
        .push_str("  %err = alloca i32, align 4\n  store i32 0, ptr %err, align 4\n");
    // Shared buffers of the one-invocation group: scratch arrays on the stack.
    for (i, sb) in k.shared.iter().enumerate() {
        check_dtype(sb.dtype)?;
        let _ = writeln!(
            e.allocas,
            "  %scratch{i} = alloca [{} x {}], align 64",
            sb.len,
            mem_elem(sb.dtype)
        );
    }
    e.block(&k.body)?;
    e.line("%status = load i32, ptr %err, align 4".into());
    e.line("ret i32 %status".into());
    let mut out = String::new();
    for d in &e.decls {
        let _ = writeln!(out, "{d}");
    }
    let _ = writeln!(
        out,
        "define i32 @tessera_kernel(ptr noalias nocapture readonly %args, ptr noalias nocapture readonly %group) #0 {{\nentry:\n{}{}}}",
        e.allocas, e.body
    );
    let _ = writeln!(
        out,
        "attributes #0 = {{ nounwind \"probe-stack\"=\"inline-asm\" \"target-cpu\"=\"{cpu}\" \"target-features\"=\"{features}\" }}"
    );
    Ok(out)
}

fn check_dtype(d: DType) -> R<()> {
    match d {
        DType::F16 | DType::BF16 => Err(format!("{d} values (computed by the Cranelift renderer)")),
        d if d.is_float() || d.is_int() || d == DType::Bool => {
            if d.size_bytes() == 0 || d.is_low_precision() {
                Err(format!("{d} values"))
            } else {
                Ok(())
            }
        }
        d => Err(format!("{d} values")),
    }
}

/// The LLVM type of one lane in registers.
fn elem(d: DType) -> &'static str {
    match d {
        DType::Bool => "i1",
        DType::I8 | DType::U8 => "i8",
        DType::I16 | DType::U16 => "i16",
        DType::I32 | DType::U32 => "i32",
        DType::I64 | DType::U64 => "i64",
        DType::F64 => "double",
        _ => "float",
    }
}

/// The LLVM type of one lane in memory.
fn mem_elem(d: DType) -> &'static str {
    if d == DType::Bool { "i8" } else { elem(d) }
}

fn bits(d: DType) -> u32 {
    match d {
        DType::Bool => 1,
        d => (d.size_bytes() * 8) as u32,
    }
}

/// `T` or `<n x T>`.
fn vt(lanes: u8, e: &str) -> String {
    if lanes == 1 {
        e.to_string()
    } else {
        format!("<{lanes} x {e}>")
    }
}

fn ty_str(ty: Ty) -> String {
    vt(ty.lanes, elem(ty.dtype))
}

/// The intrinsic name suffix of a type: `f32`, `v16f32`, `i64`, `v8i32`.
fn mangle(lanes: u8, e: &str) -> String {
    let s = match e {
        "float" => "f32",
        "double" => "f64",
        other => other,
    };
    if lanes == 1 {
        s.to_string()
    } else {
        format!("v{lanes}{s}")
    }
}

/// A float literal of `d` (exact: f32 values are printed as the f64 of the same value).
fn float_lit(d: DType, v: f64) -> String {
    let x = if d == DType::F32 {
        f64::from(v as f32)
    } else {
        v
    };
    format!("0x{:016X}", x.to_bits())
}

fn splat_lit(ty: Ty, scalar: &str) -> String {
    if ty.lanes == 1 {
        return scalar.to_string();
    }
    let e = elem(ty.dtype);
    let items: Vec<String> = (0..ty.lanes).map(|_| format!("{e} {scalar}")).collect();
    format!("<{}>", items.join(", "))
}

fn helper_type(t: cl::Type) -> &'static str {
    if t == cl::F32 {
        "float"
    } else if t == cl::F64 {
        "double"
    } else if t == cl::I32 {
        "i32"
    } else {
        "i64"
    }
}

impl Emitter<'_> {
    fn tmp(&mut self) -> String {
        self.next += 1;
        format!("%t{}", self.next)
    }

    fn label(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{what}{}", self.next)
    }

    fn line(&mut self, s: String) {
        self.body.push_str("  ");
        self.body.push_str(&s);
        self.body.push('\n');
    }

    fn start_block(&mut self, label: &str) {
        let _ = writeln!(self.body, "{label}:");
    }

    /// Emits `rhs` into a fresh temporary and returns it as a value of `ty`.
    fn inst(&mut self, ty: Ty, rhs: String) -> V {
        let t = self.tmp();
        self.line(format!("{t} = {rhs}"));
        V { ty, op: t }
    }

    fn intrinsic(&mut self, name: &str, ret: &str, args: &[(&str, &str)]) -> String {
        let params: Vec<&str> = args.iter().map(|(t, _)| *t).collect();
        self.decls
            .insert(format!("declare {ret} @{name}({})", params.join(", ")));
        let a: Vec<String> = args.iter().map(|(t, v)| format!("{t} {v}")).collect();
        format!("call {ret} @{name}({})", a.join(", "))
    }

    // ---- statements -----------------------------------------------------------------

    fn block(&mut self, stmts: &[Stmt]) -> R<()> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn var_ty(&self, v: VarId) -> R<Ty> {
        self.k
            .vars
            .get(v)
            .map(|i| i.ty)
            .ok_or_else(|| "variable outside the kernel's arena".to_string())
    }

    fn bind(&mut self, v: VarId, b: Bind) -> R<()> {
        match self.env.get_mut(v.index()) {
            Some(s) => {
                *s = Some(b);
                Ok(())
            }
            None => Err("variable outside the kernel's arena".into()),
        }
    }

    fn slot(&mut self, ty: Ty) -> String {
        self.next += 1;
        let s = format!("%slot{}", self.next);
        let _ = writeln!(self.allocas, "  {s} = alloca {}", ty_str(ty));
        s
    }

    fn stmt(&mut self, s: &Stmt) -> R<()> {
        match s {
            Stmt::Let { var, value } => {
                let v = self.eval(value)?;
                let r = self.ranges.of(value);
                self.ranges.set(*var, r);
                self.bind(*var, Bind::Ssa(v))
            }
            Stmt::Local { var, init } => {
                self.ranges.set(*var, None);
                let v = self.eval(init)?;
                let slot = self.slot(v.ty);
                self.line(format!("store {} {}, ptr {slot}", ty_str(v.ty), v.op));
                self.bind(*var, Bind::Slot(v.ty, slot))
            }
            Stmt::Assign { var, value } => {
                let v = self.eval(value)?;
                let Some(Some(Bind::Slot(ty, slot))) = self.env.get(var.index()).cloned() else {
                    return Err("`set` of a variable that is not a `local`".into());
                };
                self.line(format!("store {} {}, ptr {slot}", ty_str(ty), v.op));
                Ok(())
            }
            Stmt::Store { buf, index, value } => self.store(*buf, index, value),
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
                ..
            } => self.counted_loop(*var, start, end, *step, body),
            Stmt::If { cond, then, els } => {
                let c = self.eval(cond)?;
                let (t, e, m) = (self.label("then"), self.label("else"), self.label("endif"));
                self.line(format!("br i1 {}, label %{t}, label %{e}", c.op));
                self.start_block(&t);
                self.block(then)?;
                self.line(format!("br label %{m}"));
                self.start_block(&e);
                self.block(els)?;
                self.line(format!("br label %{m}"));
                self.start_block(&m);
                Ok(())
            }
            Stmt::Barrier => Err("barriers".into()),
            Stmt::Mma { .. } => Err("mma".into()),
        }
    }

    /// `for i = start; i < end; i += step` with the exit test `end - i > step` (no overflow).
    fn counted_loop(
        &mut self,
        var: VarId,
        start: &Expr,
        end: &Expr,
        step: u32,
        body: &[Stmt],
    ) -> R<()> {
        let ty = self.var_ty(var)?;
        let d = ty.dtype;
        let t = elem(d);
        let s = self.eval(start)?;
        let e = self.eval(end)?;
        let counter = self.slot(ty);
        self.line(format!("store {t} {}, ptr {counter}", s.op));
        let (bb, inc, exit) = (self.label("body"), self.label("inc"), self.label("exit"));
        let lt = if d.is_signed_int() { "slt" } else { "ult" };
        let enter = self.inst(
            Ty::scalar(DType::Bool),
            format!("icmp {lt} {t} {}, {}", s.op, e.op),
        );
        self.line(format!("br i1 {}, label %{bb}, label %{exit}", enter.op));
        self.start_block(&bb);
        let r = self.ranges.loop_var(start, end, step);
        self.ranges.set(var, r);
        self.bind(var, Bind::Slot(ty, counter.clone()))?;
        self.block(body)?;
        let i = self.inst(ty, format!("load {t}, ptr {counter}"));
        let left = self.inst(ty, format!("sub {t} {}, {}", e.op, i.op));
        if u128::from(step) < 1u128 << bits(d) {
            let more = self.inst(
                Ty::scalar(DType::Bool),
                format!("icmp ugt {t} {}, {step}", left.op),
            );
            self.line(format!("br i1 {}, label %{inc}, label %{exit}", more.op));
        } else {
            self.line(format!("br label %{exit}"));
        }
        self.start_block(&inc);
        let n = self.inst(ty, format!("add {t} {}, {step}", i.op));
        self.line(format!("store {t} {}, ptr {counter}", n.op));
        self.line(format!("br label %{bb}"));
        self.start_block(&exit);
        Ok(())
    }

    /// Sets error bit `code` where the `i1` `cond` holds.
    fn flag(&mut self, cond: &str, code: u32) {
        let cur = self.inst(Ty::scalar(DType::I32), "load i32, ptr %err".into());
        let z = self.inst(Ty::scalar(DType::I32), format!("zext i1 {cond} to i32"));
        let bit = self.inst(Ty::scalar(DType::I32), format!("mul i32 {}, {code}", z.op));
        let next = self.inst(
            Ty::scalar(DType::I32),
            format!("or i32 {}, {}", cur.op, bit.op),
        );
        self.line(format!("store i32 {}, ptr %err", next.op));
    }

    /// Whether any lane of an `i1` (vector) value holds, as an `i1`.
    fn any(&mut self, c: &V) -> String {
        if c.ty.lanes == 1 {
            return c.op.clone();
        }
        let m = mangle(c.ty.lanes, "i1");
        let call = self.intrinsic(
            &format!("llvm.vector.reduce.or.{m}"),
            "i1",
            &[(&ty_str(c.ty), &c.op)],
        );
        self.inst(Ty::scalar(DType::Bool), call).op
    }

    // ---- memory ---------------------------------------------------------------------

    /// The address of `lanes` elements at `index` of `buf` and the in-bounds `i1`, or `None`
    /// when the buffer is shorter than `lanes` (every access is out of bounds).
    fn address(
        &mut self,
        buf: BufRef,
        index: &Expr,
        lanes: u8,
    ) -> R<(DType, Option<(String, String)>)> {
        let (dtype, len, base) = match buf {
            BufRef::Param(p) => self
                .k
                .params
                .get(p)
                .map(|x| (x.dtype, x.len, format!("%base{p}"))),
            BufRef::Shared(i) => self
                .k
                .shared
                .get(i)
                .map(|x| (x.dtype, x.len, format!("%scratch{i}"))),
        }
        .ok_or("no such buffer")?;
        let idx = self.eval(index)?;
        if idx.ty.lanes != 1 || !idx.ty.dtype.is_int() {
            return Err("a vector or non-integer index".into());
        }
        let wide = match bits(idx.ty.dtype) {
            64 => idx.op,
            _ => {
                let ext = if idx.ty.dtype.is_signed_int() {
                    "sext"
                } else {
                    "zext"
                };
                self.inst(
                    Ty::scalar(DType::I64),
                    format!("{ext} {} {} to i64", elem(idx.ty.dtype), idx.op),
                )
                .op
            }
        };
        if self.ranges.in_bounds(index, lanes, len) {
            // Proven inside the buffer: no check.
            let addr = self.tmp();
            self.line(format!(
                "{addr} = getelementptr inbounds {}, ptr {base}, i64 {wide}",
                mem_elem(dtype)
            ));
            return Ok((dtype, Some((addr, "true".into()))));
        }
        let Some(max) = len.checked_sub(usize::from(lanes)) else {
            self.flag("true", ERR_OUT_OF_BOUNDS);
            return Ok((dtype, None));
        };
        let b = Ty::scalar(DType::Bool);
        let ok = self.inst(b, format!("icmp ule i64 {wide}, {max}"));
        let bad = self.inst(b, format!("xor i1 {}, true", ok.op));
        self.flag(&bad.op, ERR_OUT_OF_BOUNDS);
        let safe = self.inst(
            Ty::scalar(DType::I64),
            format!("select i1 {}, i64 {wide}, i64 0", ok.op),
        );
        let addr = self.tmp();
        self.line(format!(
            "{addr} = getelementptr inbounds {}, ptr {base}, i64 {}",
            mem_elem(dtype),
            safe.op
        ));
        Ok((dtype, Some((addr, ok.op))))
    }

    fn load(&mut self, buf: BufRef, index: &Expr, lanes: u8) -> R<V> {
        let (dtype, at) = self.address(buf, index, lanes)?;
        let ty = Ty::vector(dtype, lanes);
        let Some((addr, _)) = at else {
            return Ok(self.zero(ty));
        };
        let mt = vt(lanes, mem_elem(dtype));
        let align = dtype.size_bytes();
        let raw = self.inst(ty, format!("load {mt}, ptr {addr}, align {align}"));
        if dtype == DType::Bool {
            let zero = splat_lit(Ty::vector(DType::U8, lanes), "0");
            return Ok(self.inst(ty, format!("icmp ne {mt} {}, {zero}", raw.op)));
        }
        Ok(raw)
    }

    fn store(&mut self, buf: BufRef, index: &Expr, value: &Expr) -> R<()> {
        let v = self.eval(value)?;
        let (dtype, at) = self.address(buf, index, v.ty.lanes)?;
        let Some((addr, ok)) = at else {
            return Ok(());
        };
        let (w, done) = (self.label("store"), self.label("stored"));
        self.line(format!("br i1 {ok}, label %{w}, label %{done}"));
        self.start_block(&w);
        let mt = vt(v.ty.lanes, mem_elem(dtype));
        let op = if dtype == DType::Bool {
            self.inst(v.ty, format!("zext {} {} to {mt}", ty_str(v.ty), v.op))
                .op
        } else {
            v.op
        };
        let align = dtype.size_bytes();
        self.line(format!("store {mt} {op}, ptr {addr}, align {align}"));
        self.line(format!("br label %{done}"));
        self.start_block(&done);
        Ok(())
    }

    // ---- expressions ----------------------------------------------------------------

    fn eval(&mut self, e: &Expr) -> R<V> {
        match e {
            Expr::Const { ty, value } => self.constant(*ty, *value),
            Expr::Var(v) => match self.env.get(v.index()).cloned().flatten() {
                Some(Bind::Ssa(x)) => Ok(x),
                Some(Bind::Slot(ty, slot)) => {
                    Ok(self.inst(ty, format!("load {}, ptr {slot}", ty_str(ty))))
                }
                None => Err("variable used before its definition".into()),
            },
            Expr::GroupId(a) if *a < 3 => {
                let p = self.tmp();
                self.line(format!(
                    "{p} = getelementptr inbounds i32, ptr %group, i64 {a}"
                ));
                Ok(self.inst(
                    Ty::scalar(DType::U32),
                    format!("load i32, ptr {p}, align 4"),
                ))
            }
            Expr::GroupId(_) | Expr::LocalId(_) => Ok(V {
                ty: Ty::scalar(DType::U32),
                op: "0".into(),
            }),
            Expr::Load { buf, index, lanes } => self.load(*buf, index, *lanes),
            Expr::Unary { op, x } => {
                let v = self.eval(x)?;
                match self.vmath(*op, &v) {
                    Some(r) => r,
                    None => self.unary(*op, v),
                }
            }
            Expr::Binary { op, a, b } => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                self.binary(*op, a, b)
            }
            Expr::Fma { a, b, c } => {
                let (a, b, c) = (self.eval(a)?, self.eval(b)?, self.eval(c)?);
                if !a.ty.dtype.is_float() {
                    return Err(format!("`fma` on {}", a.ty.dtype));
                }
                let t = ty_str(a.ty);
                let name = format!("llvm.fma.{}", mangle(a.ty.lanes, elem(a.ty.dtype)));
                let call = self.intrinsic(&name, &t, &[(&t, &a.op), (&t, &b.op), (&t, &c.op)]);
                Ok(self.inst(a.ty, call))
            }
            Expr::Select { cond, a, b } => {
                let (c, a, b) = (self.eval(cond)?, self.eval(a)?, self.eval(b)?);
                let t = ty_str(a.ty);
                Ok(self.inst(
                    a.ty,
                    format!(
                        "select {} {}, {t} {}, {t} {}",
                        ty_str(c.ty),
                        c.op,
                        a.op,
                        b.op
                    ),
                ))
            }
            Expr::Cast { to, x } => {
                let v = self.eval(x)?;
                self.cast(v, *to)
            }
            Expr::Splat { x, lanes } => {
                let v = self.eval(x)?;
                let s = self.lane(&v, 0);
                Ok(self.splat(Ty::vector(v.ty.dtype, *lanes), &s))
            }
            Expr::Lane { x, lane } => {
                let v = self.eval(x)?;
                let s = self.lane(&v, *lane);
                Ok(V {
                    ty: Ty::scalar(v.ty.dtype),
                    op: s,
                })
            }
            Expr::ShuffleXor { .. } => Err("shuffle_xor (a GPU subgroup operation)".into()),
            Expr::ReduceLanes { op, x } => {
                let v = self.eval(x)?;
                let d = v.ty.dtype;
                let bop = match op {
                    LaneReduce::Add => BinOp::Op(BinaryOp::Add),
                    LaneReduce::Mul => BinOp::Op(BinaryOp::Mul),
                    LaneReduce::Min => BinOp::Min,
                    LaneReduce::Max => BinOp::Max,
                };
                let mut acc = V {
                    ty: Ty::scalar(d),
                    op: self.lane(&v, 0),
                };
                for l in 1..v.ty.lanes {
                    let x = V {
                        ty: Ty::scalar(d),
                        op: self.lane(&v, l),
                    };
                    acc = self.binary(bop, acc, x)?;
                }
                Ok(acc)
            }
        }
    }

    fn constant(&mut self, ty: Ty, value: Scalar) -> R<V> {
        let d = ty.dtype;
        let s = match (value, d.is_float()) {
            (Scalar::Float(f), true) => float_lit(d, f),
            (Scalar::Int(i), true) => float_lit(d, i as f64),
            (Scalar::Int(i), false) if d == DType::Bool => (i != 0).to_string(),
            (Scalar::Int(i), false) => wrap_int(d, i).to_string(),
            (Scalar::Bool(b), false) => {
                if d == DType::Bool {
                    b.to_string()
                } else {
                    i32::from(b).to_string()
                }
            }
            _ => return Err(format!("constant {value:?} of dtype {d}")),
        };
        Ok(V {
            ty,
            op: splat_lit(ty, &s),
        })
    }

    fn zero(&mut self, ty: Ty) -> V {
        V {
            ty,
            op: if ty.lanes == 1 {
                if ty.dtype.is_float() {
                    "0.0".into()
                } else if ty.dtype == DType::Bool {
                    "false".into()
                } else {
                    "0".into()
                }
            } else {
                "zeroinitializer".into()
            },
        }
    }

    /// Lane `l` of `v` as a scalar operand.
    fn lane(&mut self, v: &V, l: u8) -> String {
        if v.ty.lanes == 1 {
            return v.op.clone();
        }
        self.inst(
            Ty::scalar(v.ty.dtype),
            format!("extractelement {} {}, i32 {l}", ty_str(v.ty), v.op),
        )
        .op
    }

    fn splat(&mut self, ty: Ty, s: &str) -> V {
        if ty.lanes == 1 {
            return V {
                ty,
                op: s.to_string(),
            };
        }
        let t = ty_str(ty);
        let e = elem(ty.dtype);
        let one = self.inst(ty, format!("insertelement {t} poison, {e} {s}, i32 0"));
        self.inst(
            ty,
            format!(
                "shufflevector {t} {}, {t} poison, <{} x i32> zeroinitializer",
                one.op, ty.lanes
            ),
        )
    }

    /// A value from scalar lanes.
    fn pack(&mut self, ty: Ty, lanes: &[String]) -> V {
        if ty.lanes == 1 {
            return V {
                ty,
                op: lanes.first().cloned().unwrap_or_default(),
            };
        }
        let t = ty_str(ty);
        let e = elem(ty.dtype);
        let mut cur = "poison".to_string();
        for (i, l) in lanes.iter().enumerate() {
            cur = self
                .inst(ty, format!("insertelement {t} {cur}, {e} {l}, i32 {i}"))
                .op;
        }
        V { ty, op: cur }
    }

    /// Calls helper `name` lane by lane: each lane converted to the helper's parameter
    /// types (`conv` says how), the results gathered into a value of `out`.
    fn call_lanes(&mut self, name: &'static str, out: Ty, args: &[V], conv: Conv) -> R<V> {
        let Some(h) = self.helpers.get(name) else {
            return Err(format!("no helper `{name}`"));
        };
        let (params, ret) = (h.params, h.ret);
        let ret_t = helper_type(ret);
        let sig: Vec<&str> = params.iter().map(|&p| helper_type(p)).collect();
        // Called by name: the JIT linker binds the name to the helper's address in the process
        // that loads the code, so the object file can be kept on disk.
        self.decls
            .insert(format!("declare {ret_t} @\"{name}\"({})", sig.join(", ")));
        let mut lanes = Vec::with_capacity(usize::from(out.lanes));
        for l in 0..out.lanes {
            let mut ops = Vec::new();
            for (i, a) in args.iter().enumerate() {
                let s = self.lane(a, l);
                let pt = sig.get(i).copied().unwrap_or("double");
                let s = self.param_operand(a.ty.dtype, &s, pt, conv);
                ops.push(format!("{pt} {s}"));
            }
            let r = self.inst(
                Ty::scalar(out.dtype),
                format!("call {ret_t} @\"{name}\"({})", ops.join(", ")),
            );
            lanes.push(self.result_operand(&r.op, ret_t, out.dtype));
        }
        Ok(self.pack(out, &lanes))
    }

    fn param_operand(&mut self, d: DType, s: &str, pt: &str, conv: Conv) -> String {
        let from = elem(d);
        if from == pt {
            return s.to_string();
        }
        let rhs = match (from, pt, conv) {
            ("float", "double", _) => format!("fpext float {s} to double"),
            (_, "i64", Conv::Signed) => format!("sext {from} {s} to i64"),
            (_, "i64", _) => format!("zext {from} {s} to i64"),
            _ => format!("bitcast {from} {s} to {pt}"),
        };
        self.inst(Ty::scalar(d), rhs).op
    }

    fn result_operand(&mut self, r: &str, rt: &str, d: DType) -> String {
        let to = elem(d);
        if to == rt {
            return r.to_string();
        }
        let rhs = match (rt, to) {
            ("double", "float") => format!("fptrunc double {r} to float"),
            ("i64", _) => format!("trunc i64 {r} to {to}"),
            _ => format!("bitcast {rt} {r} to {to}"),
        };
        self.inst(Ty::scalar(d), rhs).op
    }
}

/// How integer lanes widen for a helper.
#[derive(Clone, Copy)]
enum Conv {
    Signed,
    Unsigned,
    Float,
}

/// `i` wrapped to `d`'s width and printed as LLVM reads integer literals (signed).
fn wrap_int(d: DType, i: i128) -> i128 {
    let b = bits(d);
    if b >= 64 {
        i128::from(i as i64)
    } else {
        let m = (i as u64) & ((1u64 << b) - 1);
        // Sign-extend from `b` bits so the literal fits the LLVM type.
        let shift = 64 - b;
        i128::from(((m << shift) as i64) >> shift)
    }
}

mod ops;
mod vmath;
