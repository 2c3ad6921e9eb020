//! Scheduling: turns each fused group into one verified kernel for a [`TargetDesc`] and
//! assembles the [`Plan`] (numbered buffers, steps in topological order, named inputs and
//! outputs). Every scheduling decision lives here, shared by all backends.
//!
//! # Schedules
//!
//! Every kernel writes one materialized value `out` (its group's root). An *element* is the
//! code for one output position: the heavy node's accumulation loop (if any), then the root's
//! expression with views turned into index arithmetic (see [`crate::fusion`]).
//!
//! **CPU** (`group = [1]`): `grid = [chunks]`, each chunk a contiguous range of the output
//! (about [`MIN_CHUNK_ELEMENTS`] elements at least, at most four chunks per core). Inside a
//! chunk the scheduler tries, in order:
//! 1. *flat vector*: one `vectorize(lanes)` loop over the chunk's flat range plus a scalar
//!    tail — when every load is contiguous (or invariant) along the flat index;
//! 2. *row vector*: a serial loop over rows, a `vectorize(lanes)` loop over the last axis,
//!    one vector each of half, a quarter, ... of the lanes (at least 4, for 8 or more lanes)
//!    for what is left of the row, and a scalar tail — when loads are contiguous along the
//!    last axis (broadcasts, transposes of outer axes, reductions over outer axes, matmul's
//!    `n` axis with vector `fma` accumulators);
//! 3. *scalar rows* (kernels without a reduction or contraction, last axis of at least
//!    `ROW_LOOP_MIN`): a serial loop over rows and a serial loop over the last axis, so the
//!    outer coordinates (the `/` and `%` of the flat index) are computed once per row —
//!    im2col copies with padding, gathers;
//! 4. *scalar*: a serial loop over the chunk; a reduction over trailing (contiguous) axes then
//!    runs a vector accumulator with `reduce_*` of its lanes and a scalar tail.
//!
//! In 2 (and wherever a schedule reads a value with vectors, such as the packed matmul's
//! copy of B panels; 1 leaves such kernels to 2, whose rows never cross) a constant pad
//! along the vectorized axis (an im2col copy's `x` padding) does not prevent vectors: its
//! source index steps by 1 per lane, so the in-range test is monotone and the first and
//! last lanes decide it. Likewise a flat index that steps by 1 per lane (a reshape's) may
//! cross a row of the last axis of a window (`as_strided`) or pad it is unravelled into,
//! and a vector that does not has simple coordinates. The value is then `if guard { one
//! vector load } else { lane by lane into a private scratch, one vector load of that }`
//! (`Kb::lanes_under`, on CPU targets); interior vectors take the first branch.
//!
//! Reductions over trailing axes go straight to 4. Argmax/argmin always use 4. A matmul
//! (both operands at least 2-D, `m >= 4`, `n >= 2·lanes`, B contiguous along `n`) first
//! tries the tiled schedule of [`matmul`]: chunks of 4-row tiles, B column panels sized from
//! `l2_bytes`, 4 × 2 vector `fma` accumulators per register block, epilogue per accumulator.
//!
//! **GPU**: a reduction (or argmax/argmin) over `k >= 2` elements — over trailing axes, or
//! with fewer outputs than a workgroup per multiprocessor — gets one workgroup per output (a grid-stride
//! loop over outputs): each invocation accumulates a strided share, partials meet in
//! workgroup-shared memory and are combined by a tree of `barrier`-separated steps; invocation
//! 0 applies the epilogue and stores. A matmul with 2-D (or batched) operands runs 16 × 16
//! output tiles per workgroup (`grid = [n tiles, m tiles, batch]`), staging tiles of A and B in
//! shared memory per step of `k`; on targets that declare a matrix-multiply-accumulate for
//! the operands' dtype ([`crate::target::MmaDesc`]) it runs the tensor-core schedule of
//! [`mma`] instead (64 × 64 tiles, four warps, `mma` statements). Everything else (elementwise kernels, argmax/argmin, matmul
//! with a 1-D operand) runs one output element per invocation (`grid × group` covering the
//! output, a grid-stride loop doing the bounds check) with serial accumulation loops.
//!
//! **Row groups** ([`GroupKind::Rows`]: softmax, log-softmax, layer and RMS normalization)
//! have their own schedules in `rows.rs`: per row, the row reductions one after another and
//! then the root over the row — on CPU one row per iteration of a chunked loop with vector
//! accumulators and a vector epilogue (softmax keeps `exp(x - max)` in the output row between
//! its sum and its normalize passes), on GPU one workgroup per row with the tree (and subgroup
//! butterfly) of `tree.rs` for each reduction and its result broadcast through shared memory.
//!
//! Indices are i32 when every buffer the kernel touches has fewer than 2^31 elements, else
//! i64. Every load is in bounds for every shape: tails are separate loops, pads and concats
//! select between clamped loads, gather indices are normalized and clamped (an index the
//! graph interpreter rejects reads the nearest element instead), and a load of an empty
//! buffer is replaced by a constant.

mod build;
mod index;
pub mod matmul;
pub mod mma;
pub(crate) mod reduce;
mod rows;
#[cfg(test)]
mod tests;
mod tree;

use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::fusion::{Fused, GroupKind};
use crate::graph::{Graph, NodeId, ValueDef, ValueId};
use crate::kernel::{Access, BufRef, Expr, Kernel, LoopKind, Stmt, Ty, VarId, verify_kernel};
use crate::op::BinaryOp;
use crate::plan::{BufferId, BufferKind, HostStep, KernelStep, Plan, PlanBuffer, Step};
use crate::target::{DTypeSupport, TargetDesc, TargetKind};
use index::{Ix, IxMath, Pos};
use reduce::Heavy;
use std::collections::HashMap;

/// The scalar row schedule is used for last axes at least this long (shorter rows gain
/// little over one flat loop).
const ROW_LOOP_MIN: usize = 4;

/// A CPU chunk holds at least this many output elements.
pub const MIN_CHUNK_ELEMENTS: usize = 2048;
/// Chunks per core on CPU targets.
pub const CHUNKS_PER_CORE: usize = 4;
/// Most invocations per workgroup the scheduler uses on GPU targets.
pub const GPU_GROUP: usize = 256;

/// Why building an expression failed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The expression cannot be computed with more than one lane (try a scalar schedule).
    NotVector,
    /// A scheduler bug or an operand the fusion should have rejected.
    Internal(String),
}

pub(crate) type Res<T> = std::result::Result<T, Fail>;

/// The state of one kernel under construction.
pub(crate) struct Kb<'a> {
    g: &'a Graph,
    fused: &'a Fused,
    target: &'a TargetDesc,
    m: IxMath,
    k: Kernel,
    /// Param of each loaded value.
    params: HashMap<ValueId, BufRef>,
    /// Value bound to each param, in order.
    args: Vec<ValueId>,
    /// Heavy node results available in the current scope.
    subst: HashMap<ValueId, Expr>,
    /// Per-row scalars of a row kernel (reduction results and values derived from them),
    /// splat when read by a vector expression.
    rowvals: HashMap<ValueId, Expr>,
    /// A value of a row kernel already stored in the output buffer (read back instead of
    /// recomputed), and whether an expression read it.
    stash: Option<(ValueId, BufRef)>,
    stash_used: bool,
    names: usize,
    /// The value the kernel stores (computed from its node, not loaded).
    root: ValueId,
}

impl Kb<'_> {
    fn dims(&self, v: ValueId) -> Vec<usize> {
        self.g.value(v).ty.shape.as_static().unwrap_or_default()
    }

    fn dtype(&self, v: ValueId) -> DType {
        self.g.value(v).ty.dtype
    }

    fn fresh(&mut self, base: &str, ty: Ty) -> VarId {
        self.names += 1;
        let name = format!("{base}{}", self.names);
        self.k.var(name, ty)
    }

    fn input_of(&self, n: NodeId, i: usize) -> Res<ValueId> {
        self.g
            .node(n)
            .input(i)
            .ok_or_else(|| Fail::Internal(format!("missing operand {i}")))
    }

    fn param_of(&mut self, v: ValueId) -> BufRef {
        if let Some(&b) = self.params.get(&v) {
            return b;
        }
        let name = format!("in{}", self.args.len());
        let len = self.dims(v).iter().product();
        let b = self.k.param(name, self.dtype(v), len, Access::Read);
        self.params.insert(v, b);
        self.args.push(v);
        b
    }

    /// Runs `f`; when it fails, forgets every param and variable it added.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Res<T>) -> Res<T> {
        let saved = (
            self.k.clone(),
            self.params.clone(),
            self.args.clone(),
            self.names,
        );
        let r = f(self);
        if r.is_err() {
            (self.k, self.params, self.args, self.names) = saved;
        }
        r
    }
}

/// Builds the plan of a fused graph for a target (see the module docs).
pub fn plan(graph: &Graph, fused: &Fused, target: &TargetDesc) -> Result<Plan> {
    check_static(graph)?;
    let mut pb = PlanBuilder {
        g: graph,
        plan: Plan::default(),
        bufs: HashMap::new(),
    };
    for &v in &graph.inputs {
        let b = pb.buf(v);
        pb.plan.inputs.push((graph.value_label(v), b));
    }
    for (gi, group) in fused.groups.iter().enumerate() {
        let root = graph.node(group.root);
        let at = At {
            node: graph.node_label(group.root),
            op: root.op.name(),
        };
        if group.kind == GroupKind::Host {
            let inputs = root.inputs.iter().map(|i| i.map(|v| pb.buf(v))).collect();
            let outputs = root.outputs.iter().map(|&o| pb.buf(o)).collect();
            pb.plan.steps.push(Step::Host(HostStep {
                node: at.node.clone(),
                op: root.op.clone(),
                inputs,
                outputs,
            }));
            continue;
        }
        check_support(graph, &group.nodes, target)?;
        check_strided_reads(graph, &group.nodes)?;
        let out = root.outputs[0];
        let out_buf = pb.buf(out);
        let name = format!("k{gi}_{}", root.op.name());
        let ix = index_dtype(graph, &group.nodes);
        if target.support(ix) == DTypeSupport::Unsupported {
            return Err(IrError::Unsupported {
                at,
                dtype: ix,
                detail: Some(format!(
                    "buffers of 2^31 or more elements need {ix} indices, which target `{}` lacks",
                    target.name
                )),
            });
        }
        let rows = (group.kind == GroupKind::Rows).then_some(group.nodes.as_slice());
        let Some((kernel, args)) = schedule_group(
            graph,
            fused,
            target,
            (group.root, group.heavy, ix, rows),
            &name,
        )
        .map_err(|f| internal(&at, f))?
        else {
            continue;
        };
        let info = verify_kernel(&kernel).map_err(|e| IrError::Eval {
            at: at.clone(),
            message: format!("scheduler produced an invalid kernel: {e}"),
        })?;
        let mut ids = vec![out_buf];
        ids.extend(args.iter().map(|&v| pb.buf(v)));
        pb.plan.steps.push(Step::Kernel(KernelStep {
            kernel,
            info,
            args: ids,
            nodes: group.nodes.iter().map(|&n| graph.node_label(n)).collect(),
        }));
    }
    for &o in &graph.outputs {
        let b = pb.buf(o);
        pb.plan.outputs.push((graph.value_label(o), b));
    }
    Ok(pb.plan)
}

fn internal(at: &At, f: Fail) -> IrError {
    IrError::Eval {
        at: at.clone(),
        message: match f {
            Fail::NotVector => "scheduler bug: no scalar schedule".into(),
            Fail::Internal(m) => format!("cannot schedule: {m}"),
        },
    }
}

/// True for `x / k` or `x % k` with a constant `k` of the index dtype.
fn is_index_term(e: &Expr, ix: DType) -> bool {
    matches!(e, Expr::Binary { op: crate::kernel::BinOp::Op(BinaryOp::Div | BinaryOp::Mod), b, .. }
        if matches!(**b, Expr::Const { ty, .. } if ty == Ty::scalar(ix)))
}

/// Counts index terms, outermost first (an inner term is counted inside each copy of an
/// outer one, so after the outer one is shared it may occur once only).
fn count_index_terms(e: &Expr, ix: DType, seen: &mut Vec<(Expr, usize)>) {
    if is_index_term(e, ix) {
        match seen.iter_mut().find(|(t, _)| t == e) {
            Some((_, n)) => *n += 1,
            None => seen.push((e.clone(), 1)),
        }
    }
    for op in e.operands() {
        count_index_terms(op, ix, seen);
    }
}

/// Replaces every occurrence of `term` in `e` by `with`.
fn replace_expr(e: &mut Expr, term: &Expr, with: &Expr) {
    if e == term {
        *e = with.clone();
        return;
    }
    match e {
        Expr::Load { index, .. } => replace_expr(index, term, with),
        Expr::Unary { x, .. }
        | Expr::Cast { x, .. }
        | Expr::Splat { x, .. }
        | Expr::Lane { x, .. }
        | Expr::ReduceLanes { x, .. }
        | Expr::ShuffleXor { x, .. } => replace_expr(x, term, with),
        Expr::Binary { a, b, .. } => {
            replace_expr(a, term, with);
            replace_expr(b, term, with);
        }
        Expr::Fma { a, b, c }
        | Expr::Select {
            cond: a,
            a: b,
            b: c,
        } => {
            replace_expr(a, term, with);
            replace_expr(b, term, with);
            replace_expr(c, term, with);
        }
        Expr::Const { .. } | Expr::Var(_) | Expr::GroupId(_) | Expr::LocalId(_) => {}
    }
}

/// Numbers the plan's buffers, one per value.
struct PlanBuilder<'a> {
    g: &'a Graph,
    plan: Plan,
    bufs: HashMap<ValueId, BufferId>,
}

impl PlanBuilder<'_> {
    fn buf(&mut self, v: ValueId) -> BufferId {
        if let Some(&b) = self.bufs.get(&v) {
            return b;
        }
        let val = self.g.value(v);
        let kind = match val.def {
            ValueDef::Input(i) => BufferKind::Input(i),
            ValueDef::Constant(c) => BufferKind::Constant(self.g.constants[c].clone()),
            ValueDef::Node(..) => BufferKind::Temp,
        };
        self.plan.buffers.push(PlanBuffer {
            dtype: val.ty.dtype,
            shape: val.ty.shape.as_static().unwrap_or_default(),
            kind,
        });
        let b = self.plan.buffers.len() - 1;
        self.bufs.insert(v, b);
        b
    }
}

/// Rejects symbolic dims: plans need static shapes.
fn check_static(graph: &Graph) -> Result<()> {
    for (id, node) in graph.nodes.iter() {
        for &o in &node.outputs {
            if !graph.value(o).ty.shape.is_static() {
                return Err(IrError::InputShape {
                    at: At {
                        node: graph.node_label(id),
                        op: node.op.name(),
                    },
                    message: format!(
                        "output {} has a dynamic shape; scheduling needs static shapes",
                        graph.value(o).ty
                    ),
                    shapes: node
                        .inputs
                        .iter()
                        .flatten()
                        .map(|v| graph.value(*v).ty.shape.clone())
                        .collect(),
                });
            }
        }
    }
    for &i in &graph.inputs {
        if !graph.value(i).ty.shape.is_static() {
            return Err(IrError::Structure {
                graph: graph.name.clone(),
                message: format!(
                    "input `{}` has a dynamic shape {}; scheduling needs static shapes",
                    graph.value_label(i),
                    graph.value(i).ty
                ),
            });
        }
    }
    Ok(())
}

/// Refuses a group that touches a dtype the target marks unsupported.
fn check_support(graph: &Graph, nodes: &[NodeId], target: &TargetDesc) -> Result<()> {
    for &n in nodes {
        let node = graph.node(n);
        for v in node.inputs.iter().flatten().chain(&node.outputs) {
            let dtype = graph.value(*v).ty.dtype;
            if target.support(dtype) == DTypeSupport::Unsupported {
                return Err(IrError::Unsupported {
                    at: At {
                        node: graph.node_label(n),
                        op: node.op.name(),
                    },
                    dtype,
                    detail: Some(format!("target `{}` does not support it", target.name)),
                });
            }
        }
    }
    Ok(())
}

/// Refuses an `as_strided` view that reads outside its input (the graph interpreter reports
/// it at run time; a kernel must never load out of bounds).
fn check_strided_reads(graph: &Graph, nodes: &[NodeId]) -> Result<()> {
    for &n in nodes {
        let node = graph.node(n);
        let crate::op::Op::AsStrided {
            shape,
            strides,
            offset,
        } = &node.op
        else {
            continue;
        };
        let at = At {
            node: graph.node_label(n),
            op: node.op.name(),
        };
        let len = node
            .input(0)
            .and_then(|v| graph.value(v).ty.shape.num_elements())
            .unwrap_or(0);
        let reach = crate::shape::strided_extent(shape, strides, *offset).map_err(|message| {
            IrError::Attribute {
                at: at.clone(),
                attr: "strides",
                message,
            }
        })?;
        if let Some((lo, hi)) = reach
            && (lo < 0 || hi >= len as i128)
        {
            return Err(IrError::Attribute {
                at,
                attr: "offset",
                message: format!(
                    "the view reads flat elements {lo}..={hi} of an input of {len} elements"
                ),
            });
        }
    }
    Ok(())
}

/// The index dtype for a group: i32 when every value it touches has < 2^31 elements.
fn index_dtype(graph: &Graph, nodes: &[NodeId]) -> DType {
    let big = |v: &ValueId| {
        graph
            .value(*v)
            .ty
            .shape
            .num_elements()
            .is_none_or(|n| n >= (1usize << 31))
    };
    let any_big = nodes.iter().any(|&n| {
        let node = graph.node(n);
        node.inputs.iter().flatten().any(big) || node.outputs.iter().any(big)
    });
    if any_big { DType::I64 } else { DType::I32 }
}

/// Builds the kernel of one group; `None` when its output is empty (nothing to launch).
fn schedule_group(
    graph: &Graph,
    fused: &Fused,
    target: &TargetDesc,
    (root, heavy, ix, rows): (NodeId, Option<NodeId>, DType, Option<&[NodeId]>),
    name: &str,
) -> Res<Option<(Kernel, Vec<ValueId>)>> {
    let out = graph.node(root).outputs[0];
    let dims = graph.value(out).ty.shape.as_static().unwrap_or_default();
    let n: usize = dims.iter().product();
    if n == 0 {
        return Ok(None);
    }
    let mut kb = Kb {
        g: graph,
        fused,
        target,
        m: IxMath { dt: ix },
        k: Kernel::new(name),
        params: HashMap::new(),
        args: Vec::new(),
        subst: HashMap::new(),
        rowvals: HashMap::new(),
        stash: None,
        stash_used: false,
        names: 0,
        root: out,
    };
    let out_buf =
        kb.k.param("out", graph.value(out).ty.dtype, n, Access::Write);
    if let Some(nodes) = rows {
        let job = rows::RowJob::new(graph, nodes, out, out_buf)?;
        kb.k.body = match target.kind {
            TargetKind::Cpu => kb.cpu_row_kernel(&job)?,
            TargetKind::Gpu => kb.gpu_row_kernel(&job)?,
        };
        return Ok(Some((kb.k, kb.args)));
    }
    let heavy = match heavy {
        Some(h) => Some((h, kb.heavy_of(h)?)),
        None => None,
    };
    let job = Job {
        out,
        out_buf,
        dims,
        n,
        heavy,
    };
    let body = match target.kind {
        TargetKind::Cpu => kb.cpu(&job)?,
        TargetKind::Gpu => kb.gpu(&job)?,
    };
    kb.k.body = body;
    Ok(Some((kb.k, kb.args)))
}

/// What one kernel computes.
struct Job {
    out: ValueId,
    out_buf: BufRef,
    dims: Vec<usize>,
    n: usize,
    heavy: Option<(NodeId, Heavy)>,
}

/// How an element's heavy node is accumulated.
#[derive(Clone, Copy, PartialEq)]
enum Accum {
    /// Serial loop (vectorized across outputs when lanes > 1).
    Outer,
    /// Vectorized loop over the reduced elements.
    Inner,
}

impl Kb<'_> {
    /// The statements computing and storing `lanes` outputs at `pos`, flat index `flat`.
    fn element(
        &mut self,
        job: &Job,
        pos: &Pos,
        flat: Expr,
        lanes: u8,
        acc: Accum,
    ) -> Res<Vec<Stmt>> {
        let mut stmts = Vec::new();
        self.subst.clear();
        if let Some((h, _)) = &job.heavy {
            let h = *h;
            let hv = self.g.node(h).outputs[0];
            let r = match acc {
                Accum::Inner => {
                    let vl = self.lanes();
                    let tried = self.attempt(|kb| {
                        let mut s = Vec::new();
                        let r = kb.accumulate_inner_vector(h, pos, vl, &mut s)?;
                        Ok((s, r))
                    });
                    match tried {
                        Ok((s, r)) => {
                            stmts.extend(s);
                            r
                        }
                        Err(Fail::NotVector) => self.accumulate(h, pos, lanes, &mut stmts)?,
                        Err(e) => return Err(e),
                    }
                }
                Accum::Outer => self.accumulate(h, pos, lanes, &mut stmts)?,
            };
            self.subst.insert(hv, r);
        }
        let mut v = self.value(job.out, pos, lanes, &mut stmts)?;
        self.subst.clear();
        let mut flat = flat;
        self.share_index_terms(&mut [&mut v, &mut flat], &mut stmts);
        stmts.push(Stmt::Store {
            buf: job.out_buf,
            index: flat,
            value: v,
        });
        Ok(stmts)
    }

    /// Binds every index division or remainder by a constant (an unravelled coordinate) that
    /// occurs more than once in `exprs` to one `let`, appended to `out`.
    fn share_index_terms(&mut self, exprs: &mut [&mut Expr], out: &mut Vec<Stmt>) {
        let mut seen: Vec<(Expr, usize)> = Vec::new();
        for e in exprs.iter() {
            count_index_terms(e, self.m.dt, &mut seen);
        }
        for (term, n) in seen {
            // Count again: sharing an outer term may have removed copies of this one.
            let mut now = Vec::new();
            for e in exprs.iter() {
                count_index_terms(e, self.m.dt, &mut now);
            }
            let left = now.iter().find(|(t, _)| *t == term).map_or(0, |(_, k)| *k);
            if n < 2 || left < 2 {
                continue;
            }
            let var = self.fresh("c", self.m.ty());
            for e in exprs.iter_mut() {
                replace_expr(e, &term, &Expr::Var(var));
            }
            out.push(Stmt::Let { var, value: term });
        }
    }

    fn lanes(&self) -> u8 {
        let l = self.target.vector_lanes_f32.clamp(1, 16);
        [16u8, 8, 4, 2, 1]
            .into_iter()
            .find(|&x| x <= l)
            .unwrap_or(1)
    }

    fn let_var(&mut self, base: &str, value: Expr, out: &mut Vec<Stmt>) -> Expr {
        if matches!(value, Expr::Const { .. }) {
            return value;
        }
        let v = self.fresh(base, self.m.ty());
        out.push(Stmt::Let { var: v, value });
        Expr::Var(v)
    }

    fn loop_stmt(
        &mut self,
        var: VarId,
        start: Expr,
        end: Expr,
        step: u32,
        kind: LoopKind,
        body: Vec<Stmt>,
    ) -> Stmt {
        Stmt::Loop {
            var,
            start,
            end,
            step,
            kind,
            body,
        }
    }

    /// `[start, end)` of chunk `group_id(0)` of `units` split into `chunks` of `per` units.
    fn chunk_range(&mut self, per: usize, units: usize, out: &mut Vec<Stmt>) -> (Expr, Expr) {
        let m = self.m;
        let c = m.cast(Expr::GroupId(0));
        let c = self.let_var("chunk", c, out);
        let s = m.mul_c(&Ix::new(c, Some(0)), per as i128);
        let s = self.let_var("start", s.e, out);
        let e = Expr::binary(
            crate::kernel::BinOp::Min,
            Expr::bin(BinaryOp::Add, s.clone(), Expr::int(m.dt, per as i128)),
            Expr::int(m.dt, units as i128),
        );
        let e = self.let_var("end", e, out);
        (s, e)
    }

    /// The CPU schedule (see the module docs).
    fn cpu(&mut self, job: &Job) -> Res<Vec<Stmt>> {
        let lanes = self.lanes();
        let scalar_first = match &job.heavy {
            Some((_, h @ Heavy::Reduce { .. })) => h.trailing(),
            Some((_, Heavy::Arg { .. })) => true,
            _ => false,
        };
        if let Some((h, Heavy::MatMul)) = &job.heavy
            && let Ok(body) = self.attempt(|kb| kb.cpu_matmul(job, *h))
        {
            return Ok(body);
        }
        if lanes > 1 && !scalar_first {
            if let Ok(body) = self.attempt(|kb| kb.cpu_flat(job, lanes)) {
                return Ok(body);
            }
            if job.dims.last().is_some_and(|&d| d >= usize::from(lanes))
                && let Ok(body) = self.attempt(|kb| kb.cpu_rows(job, lanes))
            {
                return Ok(body);
            }
        }
        // Elementwise and gathering kernels (im2col copies, pads, transposes) whose loads are
        // not contiguous: a row loop with a scalar loop over the last axis still computes the
        // outer coordinates once per row instead of a div/mod chain per element.
        if job.heavy.is_none()
            && job.dims.len() >= 2
            && job.dims.last().is_some_and(|&d| d >= ROW_LOOP_MIN)
            && let Ok(body) = self.attempt(|kb| kb.cpu_rows(job, 1))
        {
            return Ok(body);
        }
        self.cpu_flat(job, 1)
    }

    fn chunks(&self, units: usize, unit_elems: usize, align: usize) -> (usize, usize) {
        let want = units
            .saturating_mul(unit_elems)
            .div_ceil(MIN_CHUNK_ELEMENTS)
            .clamp(1, self.target.cores.max(1) * CHUNKS_PER_CORE);
        let per = units.div_ceil(want).div_ceil(align) * align;
        (units.div_ceil(per.max(1)), per.max(1))
    }

    /// Chunks of the flat output range, a vector loop (when `lanes > 1`) and a scalar tail.
    fn cpu_flat(&mut self, job: &Job, lanes: u8) -> Res<Vec<Stmt>> {
        let m = self.m;
        let (chunks, per) = self.chunks(job.n, 1, usize::from(lanes));
        self.k.launch.grid = vec![chunks];
        let mut body = Vec::new();
        let (s, e) = self.chunk_range(per, job.n, &mut body);
        let mut tail_start = s.clone();
        if lanes > 1 {
            let span = Expr::bin(BinaryOp::Sub, e.clone(), s.clone());
            let rem = Expr::bin(BinaryOp::Mod, span, Expr::int(m.dt, i128::from(lanes)));
            let ve = self.let_var("vend", Expr::bin(BinaryOp::Sub, e.clone(), rem), &mut body);
            let i = self.fresh("i", m.ty());
            let pos = Pos::Flat(Ix::within(Expr::Var(i), Some(1), 0, job.n as i128 - 1));
            let scratch = self.k.shared.len();
            let inner = self.element(job, &pos, Expr::Var(i), lanes, Accum::Outer)?;
            // Guarded vectors (`Kb::lanes_under`) along the flat index would cross rows at
            // every row end; the row schedule computes them per row instead.
            if self.k.shared.len() > scratch {
                return Err(Fail::NotVector);
            }
            let lp = self.loop_stmt(
                i,
                s.clone(),
                ve.clone(),
                u32::from(lanes),
                LoopKind::Vectorize(lanes),
                inner,
            );
            body.push(lp);
            tail_start = ve;
        }
        let t = self.fresh("i", m.ty());
        let pos = Pos::Flat(m.inv(Expr::Var(t), 0, job.n as i128 - 1));
        let inner = self.element(job, &pos, Expr::Var(t), 1, Accum::Inner)?;
        let lp = self.loop_stmt(t, tail_start, e, 1, LoopKind::Serial, inner);
        body.push(lp);
        Ok(body)
    }

    /// Chunks of rows; per row a vector loop over the last axis, then (for 8 or more lanes)
    /// at most one vector each of half, a quarter, ... of the lanes (at least 4) for what
    /// is left, and a scalar tail.
    fn cpu_rows(&mut self, job: &Job, lanes: u8) -> Res<Vec<Stmt>> {
        let m = self.m;
        let d = job.dims.last().copied().unwrap_or(1);
        let rows = job.n / d.max(1);
        let (chunks, per) = self.chunks(rows, d, 1);
        self.k.launch.grid = vec![chunks];
        let mut body = Vec::new();
        let (s, e) = self.chunk_range(per, rows, &mut body);
        let row = self.fresh("row", m.ty());
        let outer = &job.dims[..job.dims.len() - 1];
        let row_ix = m.inv(Expr::Var(row), 0, rows as i128 - 1);
        let base = m.mul_c(&row_ix, d as i128);
        let mut row_body = Vec::new();
        let mk = |kb: &mut Self, lanes: u8, lo: usize, hi: usize| -> Res<Stmt> {
            let j = kb.fresh("j", m.ty());
            let mut coords = m.coords(&Pos::Flat(row_ix.clone()), outer);
            let dj = Some(if lanes > 1 { 1 } else { 0 });
            coords.push(Ix::within(Expr::Var(j), dj, lo as i128, hi as i128 - 1));
            let flat = m
                .add(&base, &m.inv(Expr::Var(j), lo as i128, hi as i128 - 1))
                .e;
            let inner = kb.element(job, &Pos::Coords(coords), flat, lanes, Accum::Outer)?;
            let step = u32::from(lanes);
            Ok(kb.loop_stmt(
                j,
                Expr::int(m.dt, lo as i128),
                Expr::int(m.dt, hi as i128),
                step,
                LoopKind::for_lanes(lanes),
                inner,
            ))
        };
        let mut done = d - d % usize::from(lanes);
        row_body.push(mk(self, lanes, 0, done)?);
        let mut w = lanes / 2;
        while lanes >= 8 && w >= 4 {
            if d - done >= usize::from(w) {
                row_body.push(mk(self, w, done, done + usize::from(w))?);
                done += usize::from(w);
            }
            w /= 2;
        }
        if done < d {
            row_body.push(mk(self, 1, done, d)?);
        }
        let lp = self.loop_stmt(row, s, e, 1, LoopKind::Serial, row_body);
        body.push(lp);
        Ok(body)
    }

    /// The GPU schedule (see the module docs).
    fn gpu(&mut self, job: &Job) -> Res<Vec<Stmt>> {
        if let Some((h, Heavy::MatMul)) = &job.heavy
            && self.target.mma.is_some()
            && let Ok(body) = self.attempt(|kb| kb.gpu_mma(job, *h))
        {
            return Ok(body);
        }
        if let Some((h, Heavy::MatMul)) = &job.heavy
            && let Ok(body) = self.attempt(|kb| kb.gpu_matmul(job, *h))
        {
            return Ok(body);
        }
        if let Some((h, heavy @ (Heavy::Reduce { .. } | Heavy::Arg { .. }))) = &job.heavy
            && let Some(body) = self.gpu_tree(job, *h, heavy)?
        {
            return Ok(body);
        }
        self.gpu_elementwise(job)
    }

    fn group_limit(&self) -> usize {
        let l = GPU_GROUP
            .min(self.target.max_group_size)
            .min(self.target.max_group_dims[0])
            .max(1);
        // A power of two, for the tree reduction.
        1 << (usize::BITS - 1 - l.leading_zeros())
    }

    /// `[grid, group]` and the id expression of a 1-D launch covering `units` items.
    fn gpu_launch(&mut self, units: usize, group: usize) -> usize {
        let groups = units
            .div_ceil(group)
            .clamp(1, self.target.max_grid_dims[0].max(1));
        self.k.launch = crate::kernel::Launch {
            grid: vec![groups],
            group: vec![group],
        };
        groups
    }

    /// One output element per invocation, in a grid-stride loop.
    fn gpu_elementwise(&mut self, job: &Job) -> Res<Vec<Stmt>> {
        let m = self.m;
        let g = job.n.next_power_of_two().min(self.group_limit());
        let groups = self.gpu_launch(job.n, g);
        let mut body = Vec::new();
        let gid = Expr::bin(
            BinaryOp::Add,
            Expr::bin(
                BinaryOp::Mul,
                m.cast(Expr::GroupId(0)),
                Expr::int(m.dt, g as i128),
            ),
            m.cast(Expr::LocalId(0)),
        );
        let gid = self.let_var("gid", gid, &mut body);
        let i = self.fresh("i", m.ty());
        let pos = Pos::Flat(m.inv(Expr::Var(i), 0, job.n as i128 - 1));
        let inner = self.element(job, &pos, Expr::Var(i), 1, Accum::Outer)?;
        let stride =
            u32::try_from(groups * g).map_err(|_| Fail::Internal("launch too large".into()))?;
        let lp = self.loop_stmt(
            i,
            gid,
            Expr::int(m.dt, job.n as i128),
            stride,
            LoopKind::Serial,
            inner,
        );
        body.push(lp);
        Ok(body)
    }
}
