//! The kernel verifier: scoping and single assignment of variables, types of every expression,
//! buffer access modes, launch shape, loop kinds and barrier placement. It returns a
//! [`KernelInfo`] that renderers and the interpreter take along with the kernel.

use super::print::{print_expr, stmt_head, var_name};
use super::{
    BinOp, BufRef, Expr, Kernel, KernelError, LoopKind, MmaOperand, MmaShape, Scalar, Stmt, Ty,
    VarId, valid_lanes,
};
use crate::dtype::DType;
use crate::op::{BinaryOp, UnaryOp};

/// How a variable is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarKind {
    /// An SSA value bound by `let`.
    Let,
    /// A mutable accumulator declared by `local` and changed by `set`.
    Local,
    /// A loop variable.
    LoopIndex,
}

/// How a kernel uses one buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferUse {
    /// Load expressions naming it.
    pub loads: usize,
    /// Store statements naming it.
    pub stores: usize,
    /// The widest access (lanes), 0 when unused.
    pub max_lanes: u8,
}

/// What verification learned about a kernel; renderers take it along with the kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelInfo {
    /// How each variable (by [`VarId`] index) is defined; `None` for unused arena entries.
    pub var_kinds: Vec<Option<VarKind>>,
    /// Use of each param, by position.
    pub params: Vec<BufferUse>,
    /// Use of each shared buffer, by position.
    pub shared: Vec<BufferUse>,
    /// Every dtype some expression or buffer has, sorted.
    pub dtypes: Vec<DType>,
    /// The widest vector in the kernel.
    pub max_lanes: u8,
    /// True when the body has a barrier.
    pub uses_barrier: bool,
    /// True when the body has an `fma`.
    pub uses_fma: bool,
    /// The largest `shuffle_xor` mask of the body, 0 when it has none (a target accepts the
    /// kernel only when this is below its smallest subgroup size).
    pub max_shuffle_mask: u32,
    /// Number of expression nodes in the body.
    pub expr_count: usize,
}

impl KernelInfo {
    /// The type of an expression of the verified kernel `k` (computed from its operands; no
    /// checks, as verification has done them).
    pub fn expr_ty(&self, k: &Kernel, e: &Expr) -> Ty {
        expr_ty(k, e)
    }
}

/// The type of an expression without checking it (unknown parts read as `u32`).
fn expr_ty(k: &Kernel, e: &Expr) -> Ty {
    let u32_ty = Ty::scalar(DType::U32);
    match e {
        Expr::Const { ty, .. } => *ty,
        Expr::Var(v) => k.vars.get(*v).map(|i| i.ty).unwrap_or(u32_ty),
        Expr::GroupId(_) | Expr::LocalId(_) => u32_ty,
        Expr::Load { buf, lanes, .. } => match k.buffer(*buf) {
            Some((_, dtype, _)) => Ty::vector(dtype, *lanes),
            None => u32_ty,
        },
        Expr::Unary { op, x } => {
            let t = expr_ty(k, x);
            if *op == UnaryOp::IsNaN {
                Ty::vector(DType::Bool, t.lanes)
            } else {
                t
            }
        }
        Expr::Binary { op, a, .. } => {
            let t = expr_ty(k, a);
            match op {
                BinOp::Op(b) if b.is_comparison() => Ty::vector(DType::Bool, t.lanes),
                _ => t,
            }
        }
        Expr::Fma { a, .. } | Expr::Select { a, .. } => expr_ty(k, a),
        Expr::Cast { to, x } => Ty::vector(*to, expr_ty(k, x).lanes),
        Expr::Splat { x, lanes } => Ty::vector(expr_ty(k, x).dtype, *lanes),
        Expr::Lane { x, .. } | Expr::ReduceLanes { x, .. } => Ty::scalar(expr_ty(k, x).dtype),
        Expr::ShuffleXor { x, .. } => expr_ty(k, x),
    }
}

/// Verifies a kernel; see the module docs of [`crate::kernel`] for the rules.
pub fn verify_kernel(k: &Kernel) -> Result<KernelInfo, KernelError> {
    let mut v = Verifier::new(k);
    v.check_launch()?;
    v.check_names()?;
    let ctx = Ctx {
        divergent: false,
        parallel: Vec::new(),
        vector: None,
    };
    v.block(&k.body, &ctx)?;
    v.info.dtypes.sort();
    v.info.dtypes.dedup();
    Ok(v.info)
}

/// Where a statement sits: under divergent control flow, inside parallel loops, inside a
/// vectorized loop.
#[derive(Clone)]
struct Ctx {
    /// Under an `if` or loop whose condition or bounds may differ between invocations.
    divergent: bool,
    /// For each enclosing parallel loop: which variables were in scope at its entry.
    parallel: Vec<Vec<bool>>,
    /// The lanes of the innermost vectorized loop.
    vector: Option<u8>,
}

struct Verifier<'k> {
    k: &'k Kernel,
    /// Variables currently in scope.
    in_scope: Vec<bool>,
    /// Variables whose value is the same for every invocation of a workgroup.
    uniform: Vec<bool>,
    info: KernelInfo,
}

impl<'k> Verifier<'k> {
    fn new(k: &'k Kernel) -> Self {
        let n = k.vars.len();
        let info = KernelInfo {
            var_kinds: vec![None; n],
            params: vec![BufferUse::default(); k.params.len()],
            shared: vec![BufferUse::default(); k.shared.len()],
            dtypes: k
                .params
                .iter()
                .map(|p| p.dtype)
                .chain(k.shared.iter().map(|s| s.dtype))
                .collect(),
            max_lanes: 1,
            uses_barrier: false,
            uses_fma: false,
            max_shuffle_mask: 0,
            expr_count: 0,
        };
        Verifier {
            k,
            in_scope: vec![false; n],
            uniform: vec![false; n],
            info,
        }
    }

    fn name(&self) -> String {
        self.k.name.clone()
    }

    fn check_launch(&self) -> Result<(), KernelError> {
        let l = &self.k.launch;
        let bad = |message: String| KernelError::Launch {
            kernel: self.name(),
            message,
        };
        if l.grid.is_empty() || l.grid.len() > 3 || l.grid.len() != l.group.len() {
            return Err(bad(format!(
                "grid {:?} and group {:?} must have the same rank, 1 to 3",
                l.grid, l.group
            )));
        }
        if l.group.contains(&0) {
            return Err(bad(format!(
                "group {:?} has an empty axis (every axis needs at least 1 invocation)",
                l.group
            )));
        }
        let limit = u32::MAX as usize;
        if l.grid.iter().chain(&l.group).any(|&d| d > limit) {
            return Err(bad(format!(
                "grid {:?} / group {:?}: an axis exceeds u32 ids",
                l.grid, l.group
            )));
        }
        Ok(())
    }

    fn check_names(&self) -> Result<(), KernelError> {
        let names = std::iter::once(self.k.name.as_str())
            .chain(self.k.params.iter().map(|p| p.name.as_str()))
            .chain(self.k.shared.iter().map(|s| s.name.as_str()))
            .chain(self.k.vars.iter().map(|(_, v)| v.name.as_str()));
        let mut seen = std::collections::HashSet::new();
        for (i, n) in names.enumerate() {
            let problem = if !is_ident(n) {
                "not an identifier (letters, digits, `_`, `.`)"
            } else if i > 0 && !seen.insert(n) {
                "used twice"
            } else {
                continue;
            };
            return Err(KernelError::Name {
                kernel: self.name(),
                name: n.to_string(),
                problem,
            });
        }
        Ok(())
    }

    fn block(&mut self, body: &[Stmt], ctx: &Ctx) -> Result<(), KernelError> {
        let mut defined = Vec::new();
        for s in body {
            if let Some(v) = self.stmt(s, ctx)? {
                defined.push(v);
            }
        }
        for v in defined {
            self.in_scope[v.index()] = false;
        }
        Ok(())
    }

    /// Checks one statement; returns the variable it defines in the enclosing block.
    fn stmt(&mut self, s: &Stmt, ctx: &Ctx) -> Result<Option<VarId>, KernelError> {
        let head = || stmt_head(self.k, s);
        match s {
            Stmt::Let {
                var,
                value: value @ Expr::ShuffleXor { x, mask },
            } => {
                self.info.expr_count += 1;
                let (t, _) = self.expr(x, ctx)?;
                self.shuffle(value, t, *mask, ctx)?;
                self.define(*var, VarKind::Let, t, &head())?;
                self.uniform[var.index()] = false;
                Ok(Some(*var))
            }
            Stmt::Let { var, value } => {
                let (t, uniform) = self.expr(value, ctx)?;
                self.define(*var, VarKind::Let, t, &head())?;
                self.uniform[var.index()] = uniform;
                Ok(Some(*var))
            }
            Stmt::Local { var, init } => {
                let (t, _) = self.expr(init, ctx)?;
                self.define(*var, VarKind::Local, t, &head())?;
                Ok(Some(*var))
            }
            Stmt::Assign { var, value } => {
                let (t, _) = self.expr(value, ctx)?;
                self.assign(*var, t, ctx, &head())?;
                Ok(None)
            }
            Stmt::Store { buf, index, value } => {
                self.index(index, ctx, &head())?;
                let (t, _) = self.expr(value, ctx)?;
                self.store(*buf, t, &head())?;
                Ok(None)
            }
            Stmt::Loop { .. } => {
                self.loop_stmt(s, ctx, &head())?;
                Ok(None)
            }
            Stmt::If { cond, then, els } => {
                let (t, uniform) = self.expr(cond, ctx)?;
                if t != Ty::scalar(DType::Bool) {
                    return Err(self.ty_err(&head(), "a bool scalar condition", t));
                }
                let inner = Ctx {
                    divergent: ctx.divergent || !uniform,
                    ..ctx.clone()
                };
                self.block(then, &inner)?;
                self.block(els, &inner)?;
                Ok(None)
            }
            Stmt::Barrier => {
                self.barrier(ctx)?;
                Ok(None)
            }
            Stmt::Mma { shape, acc, a, b } => {
                self.mma(*shape, *acc, [a, b], ctx, &head())?;
                Ok(None)
            }
        }
    }

    /// Checks an `mma`: an `f32x4` accumulator, shared operands of a dtype the shape takes,
    /// strides of at least `k`, a launch of whole warps along axis 0 and the placement rules
    /// of a barrier.
    fn mma(
        &mut self,
        shape: MmaShape,
        acc: VarId,
        ops: [&MmaOperand; 2],
        ctx: &Ctx,
        head: &str,
    ) -> Result<(), KernelError> {
        let kernel = self.name();
        let invalid = |message: String| KernelError::Invalid {
            kernel: kernel.clone(),
            context: head.to_string(),
            message,
        };
        let group = &self.k.launch.group;
        if group.first().is_none_or(|g| g % MmaShape::WIDTH != 0)
            || group.iter().skip(1).any(|&g| g != 1)
        {
            return Err(invalid(format!(
                "mma needs a group of whole warps along axis 0 ([{}·w, 1, 1]), got {group:?}",
                MmaShape::WIDTH
            )));
        }
        if ctx.divergent || !ctx.parallel.is_empty() {
            return Err(invalid(
                "mma under control flow that may differ between invocations, or inside a \
                 parallel loop (every invocation of a warp must execute it together)"
                    .into(),
            ));
        }
        self.assign(acc, Ty::vector(DType::F32, 4), ctx, head)?;
        let mut dtypes = Vec::new();
        for op in ops {
            self.index(&op.index, ctx, head)?;
            if !matches!(op.buf, BufRef::Shared(_)) {
                return Err(invalid("mma operands must be shared buffers".into()));
            }
            let d = self.buffer(op.buf, head, "loaded")?;
            if !shape.accepts(d) {
                return Err(invalid(format!(
                    "mma {} does not take {d} operands",
                    shape.name()
                )));
            }
            if (op.stride as usize) < shape.k() {
                return Err(invalid(format!(
                    "stride {} is less than k = {}",
                    op.stride,
                    shape.k()
                )));
            }
            if !(op.stride as usize).is_multiple_of(shape.pair()) {
                return Err(invalid(format!(
                    "stride {} of an mma {} operand is not a multiple of {}",
                    op.stride,
                    shape.name(),
                    shape.pair()
                )));
            }
            let u = self.use_of(op.buf);
            u.loads += 1;
            u.max_lanes = u.max_lanes.max(1);
            dtypes.push(d);
        }
        if dtypes[0] != dtypes[1] {
            return Err(invalid(format!(
                "mma operands of different dtypes ({} and {})",
                dtypes[0], dtypes[1]
            )));
        }
        Ok(())
    }

    /// Checks a loop: an integer scalar variable, bounds of its type, a step and kind that
    /// fit, then the body with the variable in scope.
    fn loop_stmt(&mut self, s: &Stmt, ctx: &Ctx, head: &str) -> Result<(), KernelError> {
        let Stmt::Loop {
            var,
            start,
            end,
            step,
            kind,
            body,
        } = s
        else {
            return Ok(());
        };
        let (var, step, kind) = (*var, *step, *kind);
        let info = self.var_info(var)?;
        let kernel = self.name();
        let loop_err = |message: String| KernelError::Loop {
            kernel: kernel.clone(),
            var: info.name.clone(),
            message,
        };
        if !info.ty.dtype.is_int() || info.ty.lanes != 1 {
            return Err(self.ty_err(head, "an integer scalar loop variable", info.ty));
        }
        let mut uniform = true;
        for b in [start, end] {
            let (t, u) = self.expr(b, ctx)?;
            if t != info.ty {
                return Err(self.ty_err(head, &format!("bounds of type {}", info.ty), t));
            }
            uniform &= u;
        }
        if step == 0 {
            return Err(loop_err("the step must be at least 1".into()));
        }
        let mut inner = Ctx {
            divergent: ctx.divergent || !uniform,
            ..ctx.clone()
        };
        match kind {
            LoopKind::Vectorize(n) if n < 2 || !valid_lanes(n) || u32::from(n) != step => {
                return Err(loop_err(format!(
                    "vectorize({n}) needs 2, 4, 8 or 16 lanes and step {n}, got step {step}"
                )));
            }
            LoopKind::Vectorize(n) => inner.vector = Some(n),
            LoopKind::Parallel => inner.parallel.push(self.in_scope.clone()),
            LoopKind::Serial | LoopKind::Unroll => {}
        }
        self.define(var, VarKind::LoopIndex, info.ty, head)?;
        self.uniform[var.index()] = uniform;
        self.block(body, &inner)?;
        self.in_scope[var.index()] = false;
        Ok(())
    }

    fn barrier(&mut self, ctx: &Ctx) -> Result<(), KernelError> {
        self.info.uses_barrier = true;
        let message = if self.k.launch.group_size() <= 1 {
            format!(
                "barrier in a launch whose group {:?} has one invocation",
                self.k.launch.group
            )
        } else if ctx.divergent {
            "barrier under control flow that may differ between the invocations of a \
             workgroup (condition or loop bounds depend on local_id, loads or accumulators)"
                .to_string()
        } else if !ctx.parallel.is_empty() {
            "barrier inside a parallel loop".to_string()
        } else {
            return Ok(());
        };
        Err(KernelError::Barrier {
            kernel: self.name(),
            message,
        })
    }

    /// Checks a `shuffle_xor<mask>` of a value of type `t` (the whole value of a `let`).
    fn shuffle(&mut self, e: &Expr, t: Ty, mask: u32, ctx: &Ctx) -> Result<(), KernelError> {
        if t.lanes != 1 || !(t.dtype.is_numeric() || t.dtype == DType::Bool) {
            return Err(self.ty_err(&print_expr(self.k, e), "a numeric or bool scalar", t));
        }
        let group = &self.k.launch.group;
        // Every partner `id ^ mask` exists when the group is a multiple of the power of two
        // above the mask.
        let block = u64::from(mask)
            .checked_next_power_of_two()
            .map(|p| if p == u64::from(mask) { p * 2 } else { p });
        let message = if mask == 0 {
            "shuffle_xor needs a mask of at least 1".to_string()
        } else if group.len() != 1 {
            format!("shuffle_xor needs a 1-D workgroup, not group {group:?}")
        } else if block.is_none_or(|b| !(group[0] as u64).is_multiple_of(b)) {
            format!(
                "shuffle_xor<{mask}> needs a group size that is a multiple of {} (group {group:?})",
                block.unwrap_or(0)
            )
        } else if ctx.divergent {
            "shuffle_xor under control flow that may differ between the invocations of a \
             workgroup (condition or loop bounds depend on local_id, loads or accumulators)"
                .to_string()
        } else if !ctx.parallel.is_empty() {
            "shuffle_xor inside a parallel loop".to_string()
        } else {
            self.info.max_shuffle_mask = self.info.max_shuffle_mask.max(mask);
            return Ok(());
        };
        Err(self.invalid(e, message))
    }

    fn var_info(&self, var: VarId) -> Result<&'k super::VarInfo, KernelError> {
        self.k.vars.get(var).ok_or_else(|| KernelError::NoSuchVar {
            kernel: self.name(),
            index: var.index(),
            count: self.k.vars.len(),
        })
    }

    /// Defines `var` (once) with a value of type `t`.
    fn define(&mut self, var: VarId, kind: VarKind, t: Ty, head: &str) -> Result<(), KernelError> {
        let info = self.var_info(var)?;
        if self.info.var_kinds[var.index()].is_some() {
            return Err(KernelError::Redefined {
                kernel: self.name(),
                var: info.name.clone(),
            });
        }
        if info.ty != t {
            return Err(self.ty_err(head, &format!("a value of type {}", info.ty), t));
        }
        self.info.var_kinds[var.index()] = Some(kind);
        self.in_scope[var.index()] = true;
        Ok(())
    }

    fn assign(&mut self, var: VarId, t: Ty, ctx: &Ctx, head: &str) -> Result<(), KernelError> {
        let info = self.var_info(var)?;
        if !self.in_scope[var.index()] {
            return Err(self.undefined(var, head));
        }
        if self.info.var_kinds[var.index()] != Some(VarKind::Local) {
            return Err(KernelError::NotAssignable {
                kernel: self.name(),
                var: info.name.clone(),
            });
        }
        if info.ty != t {
            return Err(self.ty_err(head, &format!("a value of type {}", info.ty), t));
        }
        if ctx.parallel.iter().any(|outer| outer[var.index()]) {
            return Err(KernelError::Invalid {
                kernel: self.name(),
                context: head.to_string(),
                message: format!(
                    "a parallel loop assigns `%{}`, declared outside it (iterations would race)",
                    info.name
                ),
            });
        }
        Ok(())
    }

    fn store(&mut self, buf: BufRef, t: Ty, head: &str) -> Result<(), KernelError> {
        let dtype = self.buffer(buf, head, "stored")?;
        if t.dtype != dtype {
            return Err(self.ty_err(head, &format!("a {dtype} value for this buffer"), t));
        }
        let u = self.use_of(buf);
        u.stores += 1;
        u.max_lanes = u.max_lanes.max(t.lanes);
        Ok(())
    }

    /// Checks that `buf` exists and allows `action`; returns its dtype.
    fn buffer(&self, buf: BufRef, head: &str, action: &'static str) -> Result<DType, KernelError> {
        let Some((name, dtype, _)) = self.k.buffer(buf) else {
            return Err(KernelError::NoSuchBuffer {
                kernel: self.name(),
                context: head.to_string(),
            });
        };
        if let BufRef::Param(i) = buf {
            let access = self.k.params[i].access;
            let ok = if action == "loaded" {
                access.can_load()
            } else {
                access.can_store()
            };
            if !ok {
                return Err(KernelError::Access {
                    kernel: self.name(),
                    buffer: name.to_string(),
                    access,
                    action,
                });
            }
        }
        Ok(dtype)
    }

    fn use_of(&mut self, buf: BufRef) -> &mut BufferUse {
        match buf {
            BufRef::Param(i) => &mut self.info.params[i],
            BufRef::Shared(i) => &mut self.info.shared[i],
        }
    }

    /// Checks an index expression: an integer scalar.
    fn index(&mut self, e: &Expr, ctx: &Ctx, head: &str) -> Result<(), KernelError> {
        let (t, _) = self.expr(e, ctx)?;
        if !t.dtype.is_int() || t.lanes != 1 {
            return Err(self.ty_err(head, "an integer scalar index", t));
        }
        Ok(())
    }

    fn ty_err(&self, context: &str, expected: &str, found: Ty) -> KernelError {
        KernelError::Type {
            kernel: self.name(),
            context: context.to_string(),
            expected: expected.to_string(),
            found,
        }
    }

    fn invalid(&self, e: &Expr, message: String) -> KernelError {
        KernelError::Invalid {
            kernel: self.name(),
            context: print_expr(self.k, e),
            message,
        }
    }

    fn undefined(&self, var: VarId, context: &str) -> KernelError {
        KernelError::Undefined {
            kernel: self.name(),
            var: var_name(self.k, var).trim_start_matches('%').to_string(),
            context: context.to_string(),
        }
    }

    /// Checks an expression; returns its type and whether it is uniform over a workgroup.
    fn expr(&mut self, e: &Expr, ctx: &Ctx) -> Result<(Ty, bool), KernelError> {
        self.info.expr_count += 1;
        let (t, uniform) = self.expr_inner(e, ctx)?;
        if !valid_lanes(t.lanes) {
            return Err(self.invalid(e, format!("{} lanes (1, 2, 4, 8 or 16)", t.lanes)));
        }
        if let Some(n) = ctx.vector
            && t.lanes != 1
            && t.lanes != n
        {
            return Err(self.invalid(
                e,
                format!("a {}-lane value inside a vectorize({n}) loop", t.lanes),
            ));
        }
        if t.dtype.is_low_precision() {
            // float8/float4/int4/int2 are storage formats of the graph level only.
            return Err(self.invalid(
                e,
                format!("{} values are not supported in kernels", t.dtype),
            ));
        }
        self.info.max_lanes = self.info.max_lanes.max(t.lanes);
        self.info.dtypes.push(t.dtype);
        Ok((t, uniform))
    }

    fn expr_inner(&mut self, e: &Expr, ctx: &Ctx) -> Result<(Ty, bool), KernelError> {
        let ctx_str = || print_expr(self.k, e);
        Ok(match e {
            Expr::Const { ty, value } => {
                self.constant(e, *ty, *value)?;
                (*ty, true)
            }
            Expr::Var(v) => {
                let info = self.var_info(*v)?;
                if !self.in_scope[v.index()] {
                    return Err(self.undefined(*v, &ctx_str()));
                }
                (info.ty, self.uniform[v.index()])
            }
            Expr::GroupId(a) | Expr::LocalId(a) => {
                let rank = self.k.launch.grid.len();
                if usize::from(*a) >= rank {
                    return Err(self.invalid(e, format!("axis {a} of a rank-{rank} launch")));
                }
                (Ty::scalar(DType::U32), matches!(e, Expr::GroupId(_)))
            }
            Expr::Load { buf, index, lanes } => {
                self.index(index, ctx, &ctx_str())?;
                let dtype = self.buffer(*buf, &ctx_str(), "loaded")?;
                let u = self.use_of(*buf);
                u.loads += 1;
                u.max_lanes = u.max_lanes.max(*lanes);
                (Ty::vector(dtype, *lanes), false)
            }
            Expr::Unary { op, x } => {
                let (t, u) = self.expr(x, ctx)?;
                if !unary_accepts(*op, t.dtype) {
                    return Err(self.invalid(e, format!("`{}` does not take {t}", op.name())));
                }
                let out = if *op == UnaryOp::IsNaN {
                    Ty::vector(DType::Bool, t.lanes)
                } else {
                    t
                };
                (out, u)
            }
            Expr::Binary { op, a, b } => {
                let (ta, ua) = self.expr(a, ctx)?;
                let (tb, ub) = self.expr(b, ctx)?;
                if ta != tb {
                    return Err(self.ty_err(&ctx_str(), &format!("operands of type {ta}"), tb));
                }
                if let Some(needs) = binary_rejects(*op, ta.dtype) {
                    return Err(self.invalid(e, format!("`{}` needs {needs}", op.name())));
                }
                let out = match op {
                    BinOp::Op(b) if b.is_comparison() => Ty::vector(DType::Bool, ta.lanes),
                    _ => ta,
                };
                (out, ua && ub)
            }
            Expr::Fma { a, b, c } => {
                self.info.uses_fma = true;
                let (ta, ua) = self.expr(a, ctx)?;
                if !ta.dtype.is_float() {
                    return Err(self.ty_err(&ctx_str(), "float operands", ta));
                }
                let mut uniform = ua;
                for x in [b, c] {
                    let (t, u) = self.expr(x, ctx)?;
                    if t != ta {
                        return Err(self.ty_err(&ctx_str(), &format!("operands of type {ta}"), t));
                    }
                    uniform &= u;
                }
                (ta, uniform)
            }
            Expr::Select { cond, a, b } => {
                let (tc, uc) = self.expr(cond, ctx)?;
                let (ta, ua) = self.expr(a, ctx)?;
                let (tb, ub) = self.expr(b, ctx)?;
                if ta != tb {
                    return Err(self.ty_err(&ctx_str(), &format!("operands of type {ta}"), tb));
                }
                if tc.dtype != DType::Bool || (tc.lanes != 1 && tc.lanes != ta.lanes) {
                    let want = format!("a bool or bool x{} condition", ta.lanes);
                    return Err(self.ty_err(&ctx_str(), &want, tc));
                }
                (ta, uc && ua && ub)
            }
            Expr::Cast { to, x } => {
                let (t, u) = self.expr(x, ctx)?;
                (Ty::vector(*to, t.lanes), u)
            }
            Expr::Splat { x, lanes } => {
                let (t, u) = self.expr(x, ctx)?;
                if t.lanes != 1 {
                    return Err(self.ty_err(&ctx_str(), "a scalar operand", t));
                }
                (Ty::vector(t.dtype, *lanes), u)
            }
            Expr::Lane { x, lane } => {
                let (t, u) = self.expr(x, ctx)?;
                if t.lanes < 2 || *lane >= t.lanes {
                    let want = format!("a vector with more than {lane} lanes");
                    return Err(self.ty_err(&ctx_str(), &want, t));
                }
                (Ty::scalar(t.dtype), u)
            }
            Expr::ReduceLanes { x, .. } => {
                let (t, u) = self.expr(x, ctx)?;
                if t.lanes < 2 || !t.dtype.is_numeric() {
                    return Err(self.ty_err(&ctx_str(), "a numeric vector", t));
                }
                (Ty::scalar(t.dtype), u)
            }
            Expr::ShuffleXor { .. } => {
                return Err(self.invalid(
                    e,
                    "shuffle_xor is allowed only as the whole value of a `let`".into(),
                ));
            }
        })
    }

    fn constant(&self, e: &Expr, ty: Ty, value: Scalar) -> Result<(), KernelError> {
        let d = ty.dtype;
        let ok = match value {
            Scalar::Int(i) => d
                .int_range()
                .is_some_and(|(lo, hi)| d != DType::Bool && lo <= i && i <= hi),
            Scalar::Float(_) => d.is_float(),
            Scalar::Bool(_) => d == DType::Bool,
        };
        if ok {
            Ok(())
        } else {
            Err(self.invalid(e, format!("the constant does not fit {ty}")))
        }
    }
}

/// True when a name prints and parses back as `%name` / `@name`.
pub(super) fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// True when a unary operator takes operands of `d` (the graph interpreter's rules).
fn unary_accepts(op: UnaryOp, d: DType) -> bool {
    use UnaryOp as U;
    match op {
        U::Identity => true,
        U::Not => d == DType::Bool,
        U::BitwiseNot => d.is_int(),
        U::Neg | U::Abs | U::Sign | U::Relu | U::Floor | U::Ceil | U::Round => d.is_numeric(),
        _ => d.is_float(),
    }
}

/// What a binary operator needs when it does not take operands of `d`, else `None`.
fn binary_rejects(op: BinOp, d: DType) -> Option<&'static str> {
    use BinaryOp as B;
    let (ok, needs) = match op {
        BinOp::Min | BinOp::Max => (d.is_numeric(), "numeric operands"),
        BinOp::Op(B::PRelu) => (false, "a select (prelu is not a kernel operator)"),
        BinOp::Op(B::BitShiftLeft | B::BitShiftRight) => {
            (d.is_unsigned_int(), "unsigned integer operands")
        }
        BinOp::Op(B::BitwiseAnd | B::BitwiseOr | B::BitwiseXor) => (d.is_int(), "integer operands"),
        BinOp::Op(B::And | B::Or | B::Xor) => (d == DType::Bool, "bool operands"),
        BinOp::Op(B::Equal) => (true, ""),
        BinOp::Op(_) => (d.is_numeric(), "numeric operands"),
    };
    (!ok).then_some(needs)
}
