//! The renderer: one verified kernel IR body → one Cranelift function
//! `extern "C" fn(args: *const *mut u8, group_id: *const u32) -> u32` that runs one
//! invocation and returns its error bits ([`ERR_DIV_ZERO`], [`ERR_OUT_OF_BOUNDS`]).
//!
//! A value of type `T` is a list of Cranelift values ("parts"): 128-bit vectors when `T`'s
//! lanes fill whole 128-bit registers and the dtype has a SIMD form (`f32x4`, `i32x8` as two
//! `i32x4`, ...), else one scalar per lane (bool, f16 and bf16 are always scalarized). Ops with
//! a vector instruction run per part; every other op runs lane by lane. Integer lanes use
//! Cranelift integers of the dtype's width (bool is `i8` 0/1); f16 and bf16 live in `f32`
//! registers holding their exact value and are rounded back (nearest-even) after every
//! operation, as the kernel IR's semantics narrow every expression to its dtype. Every load and
//! store is bounds-checked: an out-of-bounds access sets an error bit and reads zero / writes
//! nothing, so generated code never touches memory outside its buffers.

use crate::math::{binary_helper, unary_helper};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F64, I8, I16, I32, I64};
use cranelift_codegen::ir::{FuncRef, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_module::{FuncId, Module};
use std::collections::HashMap;
use tessera_ir::DType;
use tessera_ir::kernel::{BinOp, BufRef, Expr, Kernel, LaneReduce, Scalar, Stmt, Ty, VarId};
use tessera_ir::op::{BinaryOp, UnaryOp};

/// Error bit: an integer division or modulo by zero.
pub const ERR_DIV_ZERO: u32 = 1;
/// Error bit: a load or store outside its buffer.
pub const ERR_OUT_OF_BOUNDS: u32 = 2;

/// Why rendering failed: something the CPU target does not support, or an internal error.
#[derive(Debug)]
pub(crate) enum RenderError {
    /// Not supported on this target (the message says what).
    Unsupported(String),
    /// A kernel that should have been rejected by the verifier.
    Internal(String),
}

type R<T> = Result<T, RenderError>;

fn unsupported<T>(what: impl Into<String>) -> R<T> {
    Err(RenderError::Unsupported(what.into()))
}

fn internal<T>(what: impl Into<String>) -> R<T> {
    Err(RenderError::Internal(what.into()))
}

/// The Cranelift type of one lane of `dtype` in registers.
pub(crate) fn scalar_type(dtype: DType) -> Type {
    match dtype {
        DType::Bool | DType::I8 | DType::U8 => I8,
        DType::I16 | DType::U16 => I16,
        DType::I32 | DType::U32 => I32,
        DType::I64 | DType::U64 => I64,
        DType::F16 | DType::BF16 | DType::F32 => F32,
        DType::F64 => F64,
    }
}

/// The Cranelift type of one lane of `dtype` in memory.
fn memory_type(dtype: DType) -> Type {
    match dtype {
        DType::F16 | DType::BF16 => I16,
        d => scalar_type(d),
    }
}

/// The 128-bit vector type that holds parts of `ty`, when `ty` is kept in vector registers.
fn vector_type(ty: Ty) -> Option<Type> {
    let d = ty.dtype;
    let simd = !matches!(d, DType::Bool | DType::F16 | DType::BF16);
    let bytes = d.size_bytes() * usize::from(ty.lanes);
    if !simd || bytes < 16 || !bytes.is_multiple_of(16) {
        return None;
    }
    scalar_type(d).by((16 / d.size_bytes()) as u32)
}

/// A rendered value: its kernel type and its parts (see the module docs).
#[derive(Clone, Debug)]
struct Val {
    ty: Ty,
    parts: Vec<Value>,
}

/// How a variable is held: an SSA value, or Cranelift variables (accumulators, loop counters).
#[derive(Clone)]
enum Binding {
    Ssa(Val),
    Mutable(Ty, Vec<Variable>),
}

/// Renders one kernel into the function that `b` builds.
pub(crate) struct Renderer<'a, 'f> {
    k: &'a Kernel,
    b: FunctionBuilder<'f>,
    module: &'a mut dyn Module,
    helper_ids: &'a HashMap<&'static str, FuncId>,
    helper_refs: HashMap<&'static str, FuncRef>,
    env: Vec<Option<Binding>>,
    bases: Vec<Value>,
    group_ptr: Value,
    err: Variable,
    has_fma: bool,
}

impl<'a, 'f> Renderer<'a, 'f> {
    /// Renders `k` into `b`, whose function has the signature in the module docs.
    pub(crate) fn render(
        k: &'a Kernel,
        mut b: FunctionBuilder<'f>,
        module: &'a mut dyn Module,
        helper_ids: &'a HashMap<&'static str, FuncId>,
        has_fma: bool,
    ) -> R<()> {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (args, group_ptr) = match b.block_params(entry) {
            [a, g] => (*a, *g),
            _ => return internal("entry block without (args, group_id) parameters"),
        };
        let ptr = module.target_config().pointer_type();
        let bases = (0..k.params.len())
            .map(|i| {
                b.ins().load(
                    ptr,
                    MemFlagsData::trusted(),
                    args,
                    (i * ptr.bytes() as usize) as i32,
                )
            })
            .collect();
        let err = b.declare_var(I32);
        let zero = b.ins().iconst(I32, 0);
        b.def_var(err, zero);
        let mut r = Renderer {
            k,
            b,
            module,
            helper_ids,
            helper_refs: HashMap::new(),
            env: vec![None; k.vars.len()],
            bases,
            group_ptr,
            err,
            has_fma,
        };
        r.block(&k.body)?;
        let status = r.b.use_var(r.err);
        r.b.ins().return_(&[status]);
        r.b.seal_all_blocks();
        let config = r.module.target_config();
        r.b.finalize(config);
        Ok(())
    }

    // ---- statements -------------------------------------------------------------------

    fn block(&mut self, stmts: &[Stmt]) -> R<()> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, s: &Stmt) -> R<()> {
        match s {
            Stmt::Let { var, value } => {
                let v = self.eval(value)?;
                self.bind(*var, Binding::Ssa(v))
            }
            Stmt::Local { var, init } => {
                let v = self.eval(init)?;
                let mut vars = Vec::with_capacity(v.parts.len());
                for &p in &v.parts {
                    let t = self.b.func.dfg.value_type(p);
                    let var = self.b.declare_var(t);
                    self.b.def_var(var, p);
                    vars.push(var);
                }
                self.bind(*var, Binding::Mutable(v.ty, vars))
            }
            Stmt::Assign { var, value } => {
                let v = self.eval(value)?;
                let Some(Some(Binding::Mutable(_, vars))) = self.env.get(var.index()).cloned()
                else {
                    return internal("`set` of a variable that is not a `local`");
                };
                for (var, p) in vars.into_iter().zip(v.parts) {
                    self.b.def_var(var, p);
                }
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
                let c = self.scalar(cond)?;
                let (t, e, merge) = (
                    self.b.create_block(),
                    self.b.create_block(),
                    self.b.create_block(),
                );
                self.b.ins().brif(c, t, &[], e, &[]);
                for (blk, body) in [(t, then), (e, els)] {
                    self.b.switch_to_block(blk);
                    self.block(body)?;
                    self.b.ins().jump(merge, &[]);
                }
                self.b.switch_to_block(merge);
                Ok(())
            }
            Stmt::Barrier => unsupported("barriers (CPU launches have one invocation per group)"),
        }
    }

    fn bind(&mut self, var: VarId, b: Binding) -> R<()> {
        match self.env.get_mut(var.index()) {
            Some(slot) => {
                *slot = Some(b);
                Ok(())
            }
            None => internal("variable outside the kernel's arena"),
        }
    }

    /// `for i = start; i < end; i += step`, with the exit test `end - i > step` so the
    /// counter never overflows.
    fn counted_loop(
        &mut self,
        var: VarId,
        start: &Expr,
        end: &Expr,
        step: u32,
        body: &[Stmt],
    ) -> R<()> {
        let Some(info) = self.k.vars.get(var) else {
            return internal("loop variable outside the kernel's arena");
        };
        let dtype = info.ty.dtype;
        let t = scalar_type(dtype);
        let s = self.scalar(start)?;
        let e = self.scalar(end)?;
        let counter = self.b.declare_var(t);
        self.b.def_var(counter, s);
        let (body_b, inc_b, exit_b) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        let lt = if dtype.is_signed_int() {
            IntCC::SignedLessThan
        } else {
            IntCC::UnsignedLessThan
        };
        let enter = self.b.ins().icmp(lt, s, e);
        self.b.ins().brif(enter, body_b, &[], exit_b, &[]);
        self.b.switch_to_block(body_b);
        self.bind(var, Binding::Mutable(info.ty, vec![counter]))?;
        self.block(body)?;
        let i = self.b.use_var(counter);
        let left = self.b.ins().isub(e, i);
        let more = if u128::from(step) < 1u128 << t.bits() {
            let st = self.iconst(t, i128::from(step));
            self.b.ins().icmp(IntCC::UnsignedGreaterThan, left, st)
        } else {
            self.b.ins().iconst(I8, 0)
        };
        self.b.ins().brif(more, inc_b, &[], exit_b, &[]);
        self.b.switch_to_block(inc_b);
        let st = self.iconst(t, i128::from(step));
        let next = self.b.ins().iadd(i, st);
        self.b.def_var(counter, next);
        self.b.ins().jump(body_b, &[]);
        self.b.switch_to_block(exit_b);
        Ok(())
    }

    // ---- memory -----------------------------------------------------------------------

    /// The address of `lanes` elements at `index` of `buf`, with the in-bounds flag (`None`
    /// when the buffer is shorter than `lanes`, so every access is out of bounds). An
    /// out-of-bounds access sets the error bit and is redirected to element 0.
    fn address(
        &mut self,
        buf: BufRef,
        index: &Expr,
        lanes: u8,
    ) -> R<(DType, Option<(Value, Value)>)> {
        let BufRef::Param(p) = buf else {
            return unsupported("workgroup-shared buffers");
        };
        let (Some(param), Some(&base)) = (self.k.params.get(p), self.bases.get(p)) else {
            return internal("no such buffer");
        };
        let (dtype, len) = (param.dtype, param.len);
        let idx = self.eval(index)?;
        let idx = self.widen_index(&idx)?;
        let Some(max) = len.checked_sub(usize::from(lanes)) else {
            let bad = self.b.ins().iconst(I8, 1);
            self.flag(bad, ERR_OUT_OF_BOUNDS);
            return Ok((dtype, None));
        };
        let max = self.iconst(I64, max as i128);
        let ok = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, idx, max);
        let bad = self.b.ins().icmp(IntCC::UnsignedGreaterThan, idx, max);
        self.flag(bad, ERR_OUT_OF_BOUNDS);
        let zero = self.b.ins().iconst(I64, 0);
        let safe = self.b.ins().select(ok, idx, zero);
        let offset = self.b.ins().imul_imm_s(safe, dtype.size_bytes() as i64);
        let addr = self.b.ins().iadd(base, offset);
        Ok((dtype, Some((addr, ok))))
    }

    /// An integer index as i64 (sign- or zero-extended by its dtype).
    fn widen_index(&mut self, v: &Val) -> R<Value> {
        let (&[x], d) = (v.parts.as_slice(), v.ty.dtype) else {
            return internal("vector index");
        };
        let t = self.b.func.dfg.value_type(x);
        if t == I64 {
            return Ok(x);
        }
        if !t.is_int() {
            return internal("non-integer index");
        }
        Ok(if d.is_signed_int() {
            self.b.ins().sextend(I64, x)
        } else {
            self.b.ins().uextend(I64, x)
        })
    }

    fn load(&mut self, buf: BufRef, index: &Expr, lanes: u8) -> R<Val> {
        let (dtype, at) = self.address(buf, index, lanes)?;
        let ty = Ty::vector(dtype, lanes);
        let Some((addr, _)) = at else {
            let zero = self.zero(dtype);
            return Ok(self.splat(ty, zero));
        };
        let flags = MemFlagsData::new();
        if let Some(vt) = vector_type(ty) {
            let parts = (0..self.part_count(ty, vt))
                .map(|i| self.b.ins().load(vt, flags, addr, (i * 16) as i32))
                .collect();
            return Ok(Val { ty, parts });
        }
        let size = dtype.size_bytes();
        let mut parts = Vec::with_capacity(usize::from(lanes));
        for l in 0..usize::from(lanes) {
            let raw = self
                .b
                .ins()
                .load(memory_type(dtype), flags, addr, (l * size) as i32);
            parts.push(self.widen_loaded(dtype, raw)?);
        }
        Ok(Val { ty, parts })
    }

    /// A lane read from memory in its register form.
    fn widen_loaded(&mut self, dtype: DType, raw: Value) -> R<Value> {
        Ok(match dtype {
            DType::Bool => self.b.ins().icmp_imm_u(IntCC::NotEqual, raw, 0),
            DType::F16 => {
                let bits = self.b.ins().uextend(I32, raw);
                self.call("tessera_f16_bits_to_f32", &[bits])?
            }
            DType::BF16 => {
                let bits = self.b.ins().uextend(I32, raw);
                let high = self.b.ins().ishl_imm_u(bits, 16);
                self.b.ins().bitcast(F32, MemFlagsData::new(), high)
            }
            _ => raw,
        })
    }

    /// A lane in register form to its memory form.
    fn narrow_for_store(&mut self, dtype: DType, v: Value) -> R<Value> {
        Ok(match dtype {
            DType::F16 => {
                let bits = self.call("tessera_f32_to_f16_bits", &[v])?;
                self.b.ins().ireduce(I16, bits)
            }
            DType::BF16 => {
                let bits = self.b.ins().bitcast(I32, MemFlagsData::new(), v);
                let high = self.b.ins().ushr_imm_u(bits, 16);
                self.b.ins().ireduce(I16, high)
            }
            _ => v,
        })
    }

    fn store(&mut self, buf: BufRef, index: &Expr, value: &Expr) -> R<()> {
        let lanes = self.ty_lanes(value)?;
        let (dtype, at) = self.address(buf, index, lanes)?;
        let v = self.eval(value)?;
        let Some((addr, ok)) = at else {
            return Ok(());
        };
        let (write, done) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(ok, write, &[], done, &[]);
        self.b.switch_to_block(write);
        let flags = MemFlagsData::new();
        if vector_type(v.ty).is_some() {
            for (i, &p) in v.parts.iter().enumerate() {
                self.b.ins().store(flags, p, addr, (i * 16) as i32);
            }
        } else {
            let size = dtype.size_bytes();
            for (l, &p) in v.parts.iter().enumerate() {
                let m = self.narrow_for_store(dtype, p)?;
                self.b.ins().store(flags, m, addr, (l * size) as i32);
            }
        }
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        Ok(())
    }

    /// The lane count of a stored value, from its expression (before rendering it, so the
    /// bounds check sees the store's width).
    fn ty_lanes(&self, e: &Expr) -> R<u8> {
        Ok(match e {
            Expr::Const { ty, .. } => ty.lanes,
            Expr::Var(v) => match self.k.vars.get(*v) {
                Some(i) => i.ty.lanes,
                None => return internal("variable outside the kernel's arena"),
            },
            Expr::GroupId(_) | Expr::LocalId(_) | Expr::Lane { .. } | Expr::ReduceLanes { .. } => 1,
            Expr::Load { lanes, .. } | Expr::Splat { lanes, .. } => *lanes,
            Expr::Unary { x, .. } | Expr::Cast { x, .. } => self.ty_lanes(x)?,
            Expr::Binary { a, .. } | Expr::Fma { a, .. } | Expr::Select { a, .. } => {
                self.ty_lanes(a)?
            }
        })
    }

    // ---- expressions ------------------------------------------------------------------

    fn scalar(&mut self, e: &Expr) -> R<Value> {
        match self.eval(e)?.parts.as_slice() {
            [x] => Ok(*x),
            _ => internal("expected a scalar"),
        }
    }

    fn eval(&mut self, e: &Expr) -> R<Val> {
        match e {
            Expr::Const { ty, value } => {
                let c = self.constant(ty.dtype, *value)?;
                Ok(self.splat(*ty, c))
            }
            Expr::Var(v) => self.read_var(*v),
            Expr::GroupId(a) if *a >= 3 => {
                let zero = self.b.ins().iconst(I32, 0);
                Ok(self.single(DType::U32, zero))
            }
            Expr::GroupId(a) => {
                let offset = i32::from(*a) * 4;
                let id = self
                    .b
                    .ins()
                    .load(I32, MemFlagsData::trusted(), self.group_ptr, offset);
                Ok(self.single(DType::U32, id))
            }
            Expr::LocalId(_) => {
                let zero = self.b.ins().iconst(I32, 0);
                Ok(self.single(DType::U32, zero))
            }
            Expr::Load { buf, index, lanes } => self.load(*buf, index, *lanes),
            Expr::Unary { op, x } => {
                let v = self.eval(x)?;
                self.unary(*op, v)
            }
            Expr::Binary { op, a, b } => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                self.binary(*op, a, b)
            }
            Expr::Fma { a, b, c } => {
                let (a, b, c) = (self.eval(a)?, self.eval(b)?, self.eval(c)?);
                self.fma(a, b, c)
            }
            Expr::Select { cond, a, b } => {
                let (c, a, b) = (self.eval(cond)?, self.eval(a)?, self.eval(b)?);
                self.select(c, a, b)
            }
            Expr::Cast { to, x } => {
                let v = self.eval(x)?;
                let from = v.ty.dtype;
                if from == *to {
                    return Ok(v);
                }
                self.map(*to, &[v], |r, x| r.cast(from, *to, x[0]))
            }
            Expr::Splat { x, lanes } => {
                let v = self.eval(x)?;
                let s = self.lane(&v, 0)?;
                Ok(self.splat(v.ty.with_lanes(*lanes), s))
            }
            Expr::Lane { x, lane } => {
                let v = self.eval(x)?;
                let s = self.lane(&v, *lane)?;
                Ok(self.single(v.ty.dtype, s))
            }
            Expr::ReduceLanes { op, x } => {
                let v = self.eval(x)?;
                let d = v.ty.dtype;
                let bop = match op {
                    LaneReduce::Add => BinOp::Op(BinaryOp::Add),
                    LaneReduce::Mul => BinOp::Op(BinaryOp::Mul),
                    LaneReduce::Min => BinOp::Min,
                    LaneReduce::Max => BinOp::Max,
                };
                let lanes = self.lanes_of(&v);
                let Some((&first, rest)) = lanes.split_first() else {
                    return internal("lane reduction of an empty value");
                };
                let mut acc = first;
                for &l in rest {
                    acc = self.binary_lane(bop, d, acc, l)?;
                }
                Ok(self.single(d, acc))
            }
        }
    }

    fn read_var(&mut self, v: VarId) -> R<Val> {
        match self.env.get(v.index()).cloned().flatten() {
            Some(Binding::Ssa(val)) => Ok(val),
            Some(Binding::Mutable(ty, vars)) => {
                let parts = vars.iter().map(|&var| self.b.use_var(var)).collect();
                Ok(Val { ty, parts })
            }
            None => internal("variable used before its definition"),
        }
    }

    fn single(&self, dtype: DType, v: Value) -> Val {
        Val {
            ty: Ty::scalar(dtype),
            parts: vec![v],
        }
    }

    fn part_count(&self, ty: Ty, vt: Type) -> usize {
        usize::from(ty.lanes) / vt.lane_count() as usize
    }

    /// `s` repeated over `ty`'s lanes.
    fn splat(&mut self, ty: Ty, s: Value) -> Val {
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
    fn lane(&mut self, v: &Val, lane: u8) -> R<Value> {
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
    fn lanes_of(&mut self, v: &Val) -> Vec<Value> {
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
    fn pack(&mut self, ty: Ty, lanes: Vec<Value>) -> Val {
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
    fn map(
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

    // ---- constants and helpers ------------------------------------------------------

    /// An integer constant of type `t`, wrapped to its width.
    fn iconst(&mut self, t: Type, v: i128) -> Value {
        let bits = t.bits();
        let masked = if bits >= 64 {
            v as u64
        } else {
            (v as u64) & ((1u64 << bits) - 1)
        };
        self.b.ins().iconst(t, masked as i64)
    }

    fn fconst(&mut self, t: Type, v: f64) -> Value {
        if t == F64 {
            self.b.ins().f64const(v)
        } else {
            self.b.ins().f32const(v as f32)
        }
    }

    fn zero(&mut self, dtype: DType) -> Value {
        let t = scalar_type(dtype);
        if dtype.is_float() {
            self.fconst(t, 0.0)
        } else {
            self.iconst(t, 0)
        }
    }

    fn constant(&mut self, dtype: DType, value: Scalar) -> R<Value> {
        let t = scalar_type(dtype);
        Ok(match (value, dtype.is_float()) {
            (Scalar::Float(f), true) => {
                let r = tessera_ir::interp::rounding::round_to_dtype(f, dtype);
                self.fconst(t, r)
            }
            (Scalar::Int(i), false) => self.iconst(t, i),
            (Scalar::Bool(b), false) => self.iconst(t, i128::from(b)),
            (Scalar::Int(i), true) => {
                let r = tessera_ir::interp::rounding::int_to_float(i, dtype);
                self.fconst(t, r)
            }
            _ => return internal(format!("constant {value:?} of dtype {dtype}")),
        })
    }

    /// Calls a helper from [`crate::math`] and returns its result.
    fn call(&mut self, name: &'static str, args: &[Value]) -> R<Value> {
        let f = match self.helper_refs.get(name) {
            Some(&f) => f,
            None => {
                let Some(&id) = self.helper_ids.get(name) else {
                    return internal(format!("no helper `{name}`"));
                };
                let f = self.module.declare_func_in_func(id, self.b.func);
                self.helper_refs.insert(name, f);
                f
            }
        };
        let call = self.b.ins().call(f, args);
        match self.b.inst_results(call) {
            [r] => Ok(*r),
            _ => internal(format!("helper `{name}` returned no value")),
        }
    }

    /// Sets error bit `code` where `cond` (an i8 0/1) holds.
    fn flag(&mut self, cond: Value, code: u32) {
        let cur = self.b.use_var(self.err);
        let c = self.b.ins().uextend(I32, cond);
        let bit = self.b.ins().imul_imm_s(c, i64::from(code));
        let next = self.b.ins().bor(cur, bit);
        self.b.def_var(self.err, next);
    }

    /// Rounds an f32 register holding a `dtype` result to `dtype` (f16/bf16 only).
    fn narrow(&mut self, dtype: DType, v: Value) -> R<Value> {
        match dtype {
            DType::F16 => self.call("tessera_f32_to_f16", &[v]),
            DType::BF16 => self.call("tessera_f32_to_bf16", &[v]),
            _ => Ok(v),
        }
    }

    /// An f64 result rounded once to float dtype `dtype`'s register form.
    fn round_f64(&mut self, dtype: DType, v: Value) -> R<Value> {
        match dtype {
            DType::F64 => Ok(v),
            DType::F32 => Ok(self.b.ins().fdemote(F32, v)),
            DType::F16 => self.call("tessera_f64_to_f16", &[v]),
            _ => self.call("tessera_f64_to_bf16", &[v]),
        }
    }

    fn promote_f64(&mut self, v: Value) -> Value {
        if self.b.func.dfg.value_type(v) == F64 {
            v
        } else {
            self.b.ins().fpromote(F64, v)
        }
    }

    /// A float function computed in f64 by a helper, rounded once to `dtype`.
    fn via_f64(&mut self, name: &'static str, dtype: DType, args: &[Value]) -> R<Value> {
        let wide: Vec<Value> = args.iter().map(|&a| self.promote_f64(a)).collect();
        let r = self.call(name, &wide)?;
        self.round_f64(dtype, r)
    }

    // ---- operators --------------------------------------------------------------------

    fn unary(&mut self, op: UnaryOp, v: Val) -> R<Val> {
        let d = v.ty.dtype;
        if op == UnaryOp::Identity {
            return Ok(v);
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

    fn unary_lane(&mut self, op: UnaryOp, d: DType, x: Value) -> R<Value> {
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

    fn float_unary(&mut self, op: UnaryOp, d: DType, x: Value) -> R<Value> {
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

    fn int_unary(&mut self, op: UnaryOp, d: DType, x: Value) -> R<Value> {
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

    fn binary(&mut self, op: BinOp, a: Val, b: Val) -> R<Val> {
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

    fn binary_lane(&mut self, op: BinOp, d: DType, x: Value, y: Value) -> R<Value> {
        if d.is_float() {
            self.float_binary(op, d, x, y)
        } else {
            self.int_binary(op, d, x, y)
        }
    }

    fn float_binary(&mut self, op: BinOp, d: DType, x: Value, y: Value) -> R<Value> {
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

    fn int_binary(&mut self, op: BinOp, d: DType, x: Value, y: Value) -> R<Value> {
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

    fn extend_i64(&mut self, x: Value, signed: bool) -> Value {
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
    fn int_divide(&mut self, op: BinaryOp, signed: bool, x: Value, y: Value) -> Value {
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

    fn fma(&mut self, a: Val, b: Val, c: Val) -> R<Val> {
        let d = a.ty.dtype;
        if !d.is_float() {
            return unsupported(format!("`fma` on {d}"));
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

    fn select(&mut self, c: Val, a: Val, b: Val) -> R<Val> {
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
    fn cast(&mut self, from: DType, to: DType, v: Value) -> R<Value> {
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

    fn cast_from_float(&mut self, from: DType, to: DType, v: Value) -> R<Value> {
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
