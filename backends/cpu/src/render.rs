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
//! nothing, so generated code never touches memory outside its buffers. Accesses whose index
//! range analysis ([`crate::range`]) proves inside the buffer skip the check.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F32, F64, I8, I16, I32, I64};
use cranelift_codegen::ir::{
    FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Type, Value,
};
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_module::{FuncId, Module};
use std::collections::HashMap;
use tessera_ir::DType;
use tessera_ir::kernel::{BinOp, BufRef, Expr, Kernel, LaneReduce, Scalar, Stmt, Ty, VarId};
use tessera_ir::op::BinaryOp;

mod lanes;
mod ops;
mod vmath;

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
        // Storage-only float8/float4/int4/int2: kernel verification refuses them, so no
        // kernel reaches here with one; a byte is their memory form.
        _ => I8,
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
    /// The address of each shared buffer: a stack array private to the invocation.
    scratch: Vec<Value>,
    group_ptr: Value,
    err: Variable,
    has_fma: bool,
    /// Print [`crate::vmath`]'s recipes for f32 exp/erf/tanh/sigmoid (needs FMA).
    fast_math: bool,
    ranges: crate::range::Ranges,
}

impl<'a, 'f> Renderer<'a, 'f> {
    /// Renders `k` into `b`, whose function has the signature in the module docs.
    pub(crate) fn render(
        k: &'a Kernel,
        mut b: FunctionBuilder<'f>,
        module: &'a mut dyn Module,
        helper_ids: &'a HashMap<&'static str, FuncId>,
        has_fma: bool,
        fast_math: bool,
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
        let scratch = k
            .shared
            .iter()
            .map(|sb| {
                let bytes = sb.len.saturating_mul(sb.dtype.size_bytes());
                let bytes = u32::try_from(bytes).map_err(|_| {
                    RenderError::Unsupported(format!(
                        "a scratch array `%{}` of {bytes} bytes",
                        sb.name
                    ))
                })?;
                let slot = b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    bytes,
                    6,
                ));
                Ok(b.ins().stack_addr(ptr, slot, 0))
            })
            .collect::<R<Vec<Value>>>()?;
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
            scratch,
            group_ptr,
            err,
            has_fma,
            fast_math: fast_math && has_fma,
            ranges: crate::range::Ranges::new(k),
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
                let r = self.ranges.of(value);
                self.ranges.set(*var, r);
                self.bind(*var, Binding::Ssa(v))
            }
            Stmt::Local { var, init } => {
                self.ranges.set(*var, None);
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
            Stmt::Mma { .. } => {
                unsupported("mma (the CPU target declares no matrix-multiply-accumulate)")
            }
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
        let r = self.ranges.loop_var(start, end, step);
        self.ranges.set(var, r);
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
        let found = match buf {
            BufRef::Param(p) => self
                .k
                .params
                .get(p)
                .map(|x| (x.dtype, x.len))
                .zip(self.bases.get(p)),
            BufRef::Shared(i) => self
                .k
                .shared
                .get(i)
                .map(|x| (x.dtype, x.len))
                .zip(self.scratch.get(i)),
        };
        let Some(((dtype, len), &base)) = found else {
            return internal("no such buffer");
        };
        let idx = self.eval(index)?;
        let idx = self.widen_index(&idx)?;
        if self.ranges.in_bounds(index, lanes, len) {
            // Proven inside the buffer (range analysis): no check.
            let offset = self.b.ins().imul_imm_s(idx, dtype.size_bytes() as i64);
            let addr = self.b.ins().iadd(base, offset);
            let ok = self.b.ins().iconst(I8, 1);
            return Ok((dtype, Some((addr, ok))));
        }
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
            Expr::GroupId(_)
            | Expr::LocalId(_)
            | Expr::Lane { .. }
            | Expr::ReduceLanes { .. }
            | Expr::ShuffleXor { .. } => 1,
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
            // Subgroup exchanges need a GPU launch (the verifier refuses one-invocation groups).
            Expr::ShuffleXor { .. } => unsupported("shuffle_xor (a GPU subgroup operation)"),
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
}
