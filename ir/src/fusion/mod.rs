//! Fusion: groups the primitive nodes of a decomposed graph into kernels (and host steps).
//!
//! # What fuses with what
//!
//! Every node falls in one [`NodeClass`]. The pass walks the nodes backwards and decides, for
//! each node, whether its result is *materialized* (written to a buffer by a kernel or a host
//! step of its own) or *inlined* into the index and value expressions of its consumers:
//!
//! - **views** (reshape, squeeze, unsqueeze, flatten, transpose, expand, slice, constant pad,
//!   concat, as_strided) and **index ops** (gather, gather_elements) never materialize on their
//!   own: they become index arithmetic in every consumer. Only when a view is a graph output,
//!   feeds a host step, or would be expanded into more than [`MAX_VIEW_COPIES`] expression
//!   instances does it get a copy kernel — and for contractions: a gathering view (im2col)
//!   re-read by one, and a transpose that a contraction's left operand is read through, are
//!   copied so the matmul schedules read plain row-major buffers (except, with [`fuse_for`]
//!   on a CPU target, a stride-1 window read only as a packed matmul's `B`: its pack reads
//!   the window directly).
//! - **elementwise** nodes (unary, binary, where, cast, variadic min/max) are inlined into their
//!   consumer when their result is used once, or when it is cheap — at most
//!   [`MAX_RECOMPUTE_OPS`] elementwise ops up its chain — and used by at most
//!   [`MAX_RECOMPUTE_USES`] expression instances (so softmax's `exp(x - max)` is recomputed in
//!   the sum and in the divide rather than stored). A value read many times per element by a
//!   contraction or as gather data is never recomputed: elementwise producers there
//!   materialize, views still inline.
//! - **reductions** (sum/max/min/prod over constant axes, argmax/argmin) and **matmul** are
//!   *heavy*: each kernel holds at most one (row groups, below, excepted). The heavy node's
//!   input chain is its prologue; its result may flow, used once, through elementwise ops of
//!   the same shape (its epilogue: mean's scale, bias + activation) into the kernel's root.
//!   Otherwise it is the root itself.
//! - everything else is a **host** node (its own step, run by the reference interpreter);
//!   its inputs and every graph output are materialized.
//!
//! # Row groups
//!
//! After that walk, `fuse_rows` merges *row reductions* into the kernel that reads them: a
//! reduction group whose heavy node reduces the trailing (contiguous) axes of an input of
//! shape `S` with `keepdims` (result shape `P`: `S` with those axes set to 1), and whose
//! result is read by one other group only, joins that group when every node there that
//! depends on a row reduction is elementwise with output shape `S` or `P` (so it reads each
//! reduction result at its own row, through broadcasting) or is itself such a reduction. The
//! merged group is a [`GroupKind::Rows`] kernel: per row it runs the reductions one after
//! another (each reading the earlier ones' results), the per-row values derived from them,
//! then the root over the row's elements (or once, when the root has shape `P`). Softmax
//! (max, sum of exps, normalize), log-softmax and layer normalization (mean, variance,
//! normalize) each become one kernel; the row is read again while it is still in cache. Rows
//! of more than [`MAX_ROW_BYTES`] are left as separate kernels: they would not stay in cache.
//!
//! The result lists one [`Group`] per materialized node, in topological order.

use crate::graph::{Graph, NodeId, ValueDef, ValueId};
use crate::op::{Op, ReduceOp, VariadicOp};
use std::fmt::Write;

/// A view used by more expression instances than this is copied into a buffer.
pub const MAX_VIEW_COPIES: u64 = 64;
/// An elementwise chain of at most this many ops may be recomputed by several consumers.
pub const MAX_RECOMPUTE_OPS: u64 = 8;
/// ... by at most this many expression instances.
pub const MAX_RECOMPUTE_USES: u64 = 4;
/// The largest gathering view (im2col) copied into a buffer for a contraction (see
/// `gathers`): 64 MiB, half of the smallest storage-buffer binding limit Vulkan drivers have.
pub const MAX_GATHER_COPY_BYTES: usize = 64 << 20;

/// A row (the reduced trailing axes of a row reduction) larger than this is not merged into
/// a [`GroupKind::Rows`] kernel (see the module docs): 1 MiB, about a core's L2 cache.
pub const MAX_ROW_BYTES: usize = 1 << 20;

/// How a node takes part in fusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeClass {
    /// Lane-wise arithmetic on broadcast operands.
    Elementwise,
    /// Index arithmetic only (a movement op).
    View,
    /// A load at a data-dependent index (gather).
    Index,
    /// A reduction over constant axes, or argmax/argmin.
    Reduce,
    /// A (batched) matrix product.
    Contraction,
    /// Run on the host by the reference interpreter.
    Host,
}

/// What a group computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// Elementwise ops and views only.
    Elementwise,
    /// One reduction with its prologue and epilogue.
    Reduction,
    /// One matmul with its prologue views and epilogue.
    Contraction,
    /// Row reductions over the trailing axes of one shape, run one after another per row,
    /// and the elementwise nodes that read them (see the module docs). Its heavy nodes are
    /// the reductions among its nodes; `heavy` is `None`.
    Rows,
    /// One host node.
    Host,
}

/// One kernel (or host step): the root node whose results it materializes and every node it
/// computes.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// What the group computes.
    pub kind: GroupKind,
    /// The node whose results the group writes.
    pub root: NodeId,
    /// The heavy node (reduction or matmul), when there is one.
    pub heavy: Option<NodeId>,
    /// Every node the group computes, in topological order (the root last). A recomputed node
    /// may belong to several groups.
    pub nodes: Vec<NodeId>,
}

/// The fusion of a graph: groups in execution order and which values live in buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    /// Groups in topological order.
    pub groups: Vec<Group>,
    /// Per value (by `ValueId::index()`): true when it is stored in a buffer (graph inputs,
    /// constants and results of group roots).
    pub materialized: Vec<bool>,
}

impl Fused {
    /// True when `v` lives in a buffer.
    pub fn is_materialized(&self, v: ValueId) -> bool {
        self.materialized.get(v.index()).copied().unwrap_or(true)
    }
}

/// Classifies a node: which kind of fusion it allows.
pub fn classify(graph: &Graph, node: NodeId) -> NodeClass {
    let n = graph.node(node);
    let constant = |i: usize| n.input(i).is_none_or(|v| graph.constant_of(v).is_some());
    let single = n.outputs.len() == 1;
    if !single {
        return NodeClass::Host;
    }
    // Kernel IR has no fp8/fp4/int4/int2 values: nodes that read or write them (casts,
    // quantization steps, movement of packed weights) run on the host.
    let low_precision = n
        .inputs
        .iter()
        .flatten()
        .chain(&n.outputs)
        .any(|&v| graph.value(v).ty.dtype.is_low_precision());
    if low_precision {
        return NodeClass::Host;
    }
    match &n.op {
        Op::Unary(_) | Op::Binary(_) | Op::Where {} | Op::Cast { .. } => NodeClass::Elementwise,
        Op::Variadic(VariadicOp::Min | VariadicOp::Max) => NodeClass::Elementwise,
        Op::Reshape { .. }
        | Op::Squeeze {}
        | Op::Unsqueeze {}
        | Op::Flatten { .. }
        | Op::Transpose { .. }
        | Op::Expand {}
        | Op::Concat { .. }
        | Op::AsStrided { .. } => NodeClass::View,
        Op::Slice {} if (1..5).all(constant) && n.input(1).is_some() && n.input(2).is_some() => {
            NodeClass::View
        }
        Op::Pad {
            mode: crate::attr::PadMode::Constant,
        } if (1..4).all(constant) && n.input(1).is_some() => NodeClass::View,
        Op::Gather { .. } | Op::GatherElements { .. } => NodeClass::Index,
        // `noop_with_empty_axes` only matters for empty axes (the decomposer's reductions set
        // it and always name their axes): with axes given, both flags reduce the same way.
        Op::Reduce {
            kind: ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min | ReduceOp::Prod,
            noop_with_empty_axes,
            ..
        } if constant(1)
            && reducible(graph, n.input(0))
            && (!noop_with_empty_axes || has_axes(graph, n.input(1))) =>
        {
            NodeClass::Reduce
        }
        Op::ArgMax { .. } | Op::ArgMin { .. } if reducible(graph, n.input(0)) => NodeClass::Reduce,
        Op::MatMul {} if reducible(graph, n.input(0)) => NodeClass::Contraction,
        _ => NodeClass::Host,
    }
}

/// Reductions and contractions run in kernels for numeric dtypes (bool goes to the host).
/// True when `axes` is a constant naming at least one axis.
fn has_axes(graph: &Graph, axes: Option<ValueId>) -> bool {
    axes.and_then(|v| graph.constant_of(v))
        .is_some_and(|t| t.to_i64_vec().is_some_and(|a| !a.is_empty()))
}

fn reducible(graph: &Graph, v: Option<ValueId>) -> bool {
    v.is_some_and(|v| graph.value(v).ty.dtype.is_numeric())
}

/// Per-value bookkeeping of the backward walk.
#[derive(Clone, Copy, Default)]
struct Uses {
    /// Expression instances that read the value (saturating).
    instances: u64,
    /// Must live in a buffer (graph output, host operand).
    forced: bool,
    /// Read many times per element (contraction operand, gather data).
    reread: bool,
    /// Read (through views) as a contraction's left operand `A`.
    lhs: bool,
    /// Read many times per element by something other than a contraction's `B` operand
    /// that the packed CPU schedule copies panel by panel (see [`fuse_for`]).
    unpacked: bool,
}

/// Groups the primitive nodes of `graph` into kernels and host steps (see the module docs),
/// for any target: a gathering view that a contraction re-reads is always copied.
pub fn fuse(graph: &Graph) -> crate::Result<Fused> {
    fuse_with(graph, None)
}

/// [`fuse`] for one target. On a CPU target, a gathering view (an `as_strided` window whose
/// last axis is contiguous in its input, and the constant pad under it: convolution's
/// im2col) that is re-read only as the right operand `B` of contractions whose packed
/// schedule applies (`schedule::matmul`: a `k × 2·lanes` panel fits the target's scratch
/// bytes, or `k` is blocked) is not copied: that schedule copies each strip of B into its panel once, straight
/// from the padded input, with vector loads away from the padding.
pub fn fuse_for(graph: &Graph, target: &crate::target::TargetDesc) -> crate::Result<Fused> {
    let pack = (target.kind == crate::target::TargetKind::Cpu).then(|| Pack {
        lanes: [16usize, 8, 4, 2, 1]
            .into_iter()
            .find(|&x| x <= usize::from(target.vector_lanes_f32.clamp(1, 16)))
            .unwrap_or(1),
        scratch: target.shared_bytes,
        l1: target.l1_bytes,
    });
    fuse_with(graph, pack)
}

/// What the packed CPU matmul schedule of a target can hold.
#[derive(Clone, Copy)]
struct Pack {
    /// f32 vector lanes.
    lanes: usize,
    /// Scratch bytes for the B panels.
    scratch: usize,
    /// L1 data cache bytes (the `k` block length).
    l1: usize,
}

impl Pack {
    /// True when the packed schedule applies to contraction `id` (see `schedule::matmul`).
    fn applies(self, graph: &Graph, id: NodeId) -> bool {
        let n = graph.node(id);
        let dims = |v: Option<ValueId>| {
            v.and_then(|v| graph.value(v).ty.shape.as_static())
                .unwrap_or_default()
        };
        let (a, b, out) = (
            dims(n.input(0)),
            dims(n.input(1)),
            dims(n.outputs.first().copied()),
        );
        let nr = crate::schedule::matmul::packed_shape(self.lanes as u8).1 * self.lanes;
        let dtype = |v: Option<ValueId>| v.map(|v| graph.value(v).ty.dtype);
        let acc = dtype(n.input(0)).map(crate::schedule::reduce::acc_dtype);
        let acc_bytes = acc.map_or(4, |d| d.size_bytes().max(4));
        let (Some(&k), Some(&cols)) = (a.last(), out.last()) else {
            return false;
        };
        let row = nr.saturating_mul(acc_bytes);
        // A whole-`k` panel fits, or `k` is blocked: the output must then hold the
        // accumulator type (an epilogue that changes it later only costs speed: the in-place
        // schedule reads the window where it lies).
        let fits = match crate::schedule::matmul::k_block(self.l1, row, k, self.scratch) {
            None => true,
            Some(kc) => {
                acc == dtype(n.outputs.first().copied()) && kc.saturating_mul(row) <= self.scratch
            }
        };
        self.lanes >= 2
            && a.len() >= 2
            && b.len() >= 2
            && out.len() >= 2
            && k > 0
            && cols >= nr
            && fits
    }
}

fn fuse_with(graph: &Graph, pack: Option<Pack>) -> crate::Result<Fused> {
    let classes: Vec<NodeClass> = graph.nodes.handles().map(|n| classify(graph, n)).collect();
    let cost = chain_costs(graph, &classes);
    let mut uses = vec![Uses::default(); graph.values.len()];
    for &o in &graph.outputs {
        uses[o.index()].forced = true;
    }
    let mut materialized = vec![false; graph.values.len()];
    for (v, val) in graph.values.iter() {
        if !matches!(val.def, ValueDef::Node(..)) {
            materialized[v.index()] = true;
        }
    }
    let users = graph.users();
    // For each root, the heavy node fused into it (at most one per kernel).
    let mut heavy_of: Vec<Option<NodeId>> = vec![None; graph.nodes.len()];
    let mut roots = vec![false; graph.nodes.len()];
    for id in (0..graph.nodes.len()).rev().map(NodeId::from_index) {
        let node = graph.node(id);
        let class = classes[id.index()];
        let out_uses: Vec<Uses> = node.outputs.iter().map(|o| uses[o.index()]).collect();
        let live = out_uses.iter().any(|u| u.forced || u.instances > 0);
        if !live {
            continue;
        }
        let u = out_uses.first().copied().unwrap_or_default();
        let out_cost = node.outputs.first().map_or(0, |o| cost[o.index()]);
        let root = match class {
            NodeClass::Host => true,
            NodeClass::Elementwise => {
                u.forced
                    || u.reread
                    || !(u.instances == 1
                        || (u.instances <= MAX_RECOMPUTE_USES && out_cost <= MAX_RECOMPUTE_OPS))
            }
            NodeClass::View | NodeClass::Index => {
                u.forced
                    || u.instances > MAX_VIEW_COPIES
                    || (u.reread
                        && gathers(graph, id)
                        && (u.unpacked || !contiguous_window(graph, id, pack)))
                    || (u.lhs && transposes(graph, id))
            }
            NodeClass::Reduce | NodeClass::Contraction => {
                u.forced
                    || u.reread
                    || !claim_epilogue(graph, id, &users, &uses, &roots, &mut heavy_of)
            }
        };
        if root {
            roots[id.index()] = true;
            for o in &node.outputs {
                materialized[o.index()] = true;
            }
            if matches!(class, NodeClass::Reduce | NodeClass::Contraction) {
                heavy_of[id.index()] = Some(id);
            }
        }
        let instances = if root { 1 } else { u.instances };
        for (slot, input) in node.inputs.iter().enumerate() {
            let Some(w) = input else { continue };
            let wu = &mut uses[w.index()];
            match class {
                NodeClass::Host => wu.forced = true,
                _ => {
                    wu.instances = wu.instances.saturating_add(instances);
                    let rereads = matches!(class, NodeClass::Contraction)
                        || (class == NodeClass::Index && slot == 0)
                        || (matches!(class, NodeClass::View | NodeClass::Index)
                            && u.reread
                            && !root);
                    wu.reread |= rereads;
                    let packed_b = class == NodeClass::Contraction
                        && slot == 1
                        && pack.is_some_and(|p| p.applies(graph, id));
                    wu.unpacked |= (class == NodeClass::Contraction && !packed_b)
                        || (class == NodeClass::Index && slot == 0)
                        || (matches!(class, NodeClass::View | NodeClass::Index)
                            && u.unpacked
                            && !root);
                    wu.lhs |= (class == NodeClass::Contraction && slot == 0)
                        || (class == NodeClass::View && u.lhs && !root);
                }
            }
        }
    }
    let mut groups = graph
        .nodes
        .handles()
        .filter(|n| roots[n.index()])
        .map(|root| make_group(graph, root, &classes, &materialized, heavy_of[root.index()]))
        .collect();
    fuse_rows(graph, &classes, &mut groups, &mut materialized);
    Ok(Fused {
        groups,
        materialized,
    })
}

/// A view that a contraction reads many times per element is copied into a buffer when it
/// gathers (as_strided windows, constant padding: convolution's im2col) and its copy holds at
/// most [`MAX_GATHER_COPY_BYTES`]: the contraction then reads a plain row-major buffer, which
/// the register-blocked schedules vectorize, instead of re-evaluating the window and padding
/// arithmetic in its inner loop.
fn gathers(graph: &Graph, id: NodeId) -> bool {
    let n = graph.node(id);
    let windowed = matches!(n.op, Op::AsStrided { .. } | Op::Pad { .. });
    windowed
        && n.outputs.first().is_some_and(|&o| {
            let ty = &graph.value(o).ty;
            ty.shape
                .num_elements()
                .is_some_and(|e| e.saturating_mul(ty.dtype.size_bytes()) <= MAX_GATHER_COPY_BYTES)
        })
}

/// True on a CPU target (`pack`) for a gathering view the packed matmul may read in place
/// (see [`fuse_for`]): an `as_strided` window whose last stride is 1, or a constant pad.
fn contiguous_window(graph: &Graph, id: NodeId, pack: Option<Pack>) -> bool {
    pack.is_some()
        && match &graph.node(id).op {
            Op::AsStrided { strides, .. } => strides.last() == Some(&1),
            Op::Pad { .. } => true,
            _ => false,
        }
}

/// A transpose that a contraction's left operand `A` is read through is copied into a buffer
/// (up to [`MAX_GATHER_COPY_BYTES`]): the register-blocked schedules read `A` once per `k`
/// step of every row block and every column strip, and through a transpose (often followed
/// by a reshape that merges the permuted axes: attention's heads) each such read would carry
/// the permutation's `/` and `%` arithmetic and lose contiguity along `k`. The copy is one
/// pass over `A`. (`B` needs no copy: the packed schedules copy its panels through any view.)
fn transposes(graph: &Graph, id: NodeId) -> bool {
    let n = graph.node(id);
    let Op::Transpose { perm } = &n.op else {
        return false;
    };
    let identity = perm.iter().enumerate().all(|(i, &p)| p == i as i64);
    !identity
        && n.outputs.first().is_some_and(|&o| {
            let ty = &graph.value(o).ty;
            ty.shape
                .num_elements()
                .is_some_and(|e| e.saturating_mul(ty.dtype.size_bytes()) <= MAX_GATHER_COPY_BYTES)
        })
}

/// Number of elementwise ops up each value's chain, assuming every producer inlines (an upper
/// bound on what recomputing the value costs).
fn chain_costs(graph: &Graph, classes: &[NodeClass]) -> Vec<u64> {
    let mut cost = vec![0u64; graph.values.len()];
    for (id, node) in graph.nodes.iter() {
        let own = match classes[id.index()] {
            NodeClass::Elementwise => 1,
            NodeClass::View | NodeClass::Index => 0,
            _ => continue,
        };
        let c = node
            .inputs
            .iter()
            .flatten()
            .map(|v| cost[v.index()])
            .fold(own, u64::saturating_add);
        for o in &node.outputs {
            cost[o.index()] = c;
        }
    }
    cost
}

/// True (and records the claim) when heavy node `h` can be computed inside the kernel of the
/// root its result flows into: used once, through elementwise ops of its own shape, by a root
/// that holds no other heavy node.
fn claim_epilogue(
    graph: &Graph,
    h: NodeId,
    users: &[Vec<NodeId>],
    uses: &[Uses],
    roots: &[bool],
    heavy_of: &mut [Option<NodeId>],
) -> bool {
    let Some(&out) = graph.node(h).outputs.first() else {
        return false;
    };
    let shape = &graph.value(out).ty.shape;
    let mut v = out;
    loop {
        let u = uses[v.index()];
        if u.forced || u.reread || u.instances != 1 {
            return false;
        }
        let [user] = users[v.index()].as_slice() else {
            return false;
        };
        let un = graph.node(*user);
        let reads = un.inputs.iter().filter(|i| **i == Some(v)).count();
        if reads != 1
            || classify(graph, *user) != NodeClass::Elementwise
            || un.outputs.len() != 1
            || graph.value(un.outputs[0]).ty.shape != *shape
        {
            return false;
        }
        if roots[user.index()] {
            if heavy_of[user.index()].is_some() {
                return false;
            }
            heavy_of[user.index()] = Some(h);
            return true;
        }
        v = un.outputs[0];
    }
}

/// The nodes a root's kernel computes: the root and every producer reached through inlined
/// values, in topological order.
fn make_group(
    graph: &Graph,
    root: NodeId,
    classes: &[NodeClass],
    materialized: &[bool],
    heavy: Option<NodeId>,
) -> Group {
    let mut seen = vec![false; graph.nodes.len()];
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n.index()], true) {
            continue;
        }
        if classes[n.index()] == NodeClass::Host && n != root {
            continue;
        }
        if n != root && materialized[graph.node(n).outputs[0].index()] {
            continue;
        }
        if classes[root.index()] == NodeClass::Host && n != root {
            continue;
        }
        for v in graph.node(n).inputs.iter().flatten() {
            if let ValueDef::Node(p, _) = graph.value(*v).def
                && !materialized[v.index()]
            {
                stack.push(p);
            }
        }
    }
    let nodes: Vec<NodeId> = graph.nodes.handles().filter(|n| seen[n.index()]).collect();
    let kind = match (classes[root.index()], heavy) {
        (NodeClass::Host, _) => GroupKind::Host,
        (_, Some(h)) if classes[h.index()] == NodeClass::Contraction => GroupKind::Contraction,
        (_, Some(_)) => GroupKind::Reduction,
        _ => GroupKind::Elementwise,
    };
    Group {
        kind,
        root,
        heavy,
        nodes,
    }
}

/// The shapes `(S, P)` of a row reduction: its input shape and its result shape (the input's
/// trailing reduced axes set to 1). `None` for anything else: not a sum/max/min/prod, axes
/// not a non-empty trailing run, no `keepdims`, or a row over [`MAX_ROW_BYTES`].
pub fn row_reduction(graph: &Graph, n: NodeId) -> Option<(Vec<usize>, Vec<usize>)> {
    let node = graph.node(n);
    let Op::Reduce { kind, .. } = &node.op else {
        return None;
    };
    if !matches!(
        kind,
        ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min | ReduceOp::Prod
    ) || classify(graph, n) != NodeClass::Reduce
    {
        return None;
    }
    let x = node.input(0)?;
    let s = graph.value(x).ty.shape.as_static()?;
    let p = graph.value(*node.outputs.first()?).ty.shape.as_static()?;
    let axes = graph.constant_of(node.input(1)?)?.to_i64_vec()?;
    let mut mask = vec![false; s.len()];
    for a in axes {
        *mask.get_mut(crate::shape::normalize_axis(a, s.len())?)? = true;
    }
    let first = mask.iter().position(|&m| m)?;
    if !mask[first..].iter().all(|&m| m) {
        return None;
    }
    let mut want = s.clone();
    want[first..].iter_mut().for_each(|d| *d = 1);
    let row: usize = s[first..].iter().product();
    let bytes = row.saturating_mul(graph.value(x).ty.dtype.size_bytes());
    (p == want && bytes <= MAX_ROW_BYTES).then_some((s, p))
}

/// True when `nodes` (a candidate [`GroupKind::Rows`] group with root `root`) holds at least
/// one row reduction, all of one shape pair `(S, P)`, and every node that depends on one
/// (inside the group) is such a reduction or elementwise with output shape `S` or `P`, the
/// root included: each then reads every reduction result at its own row.
pub fn rows_aligned(graph: &Graph, nodes: &[NodeId], root: NodeId) -> bool {
    let inside: std::collections::HashSet<NodeId> = nodes.iter().copied().collect();
    let mut shapes: Option<(Vec<usize>, Vec<usize>)> = None;
    let mut dep = std::collections::HashSet::new();
    for &n in nodes {
        let node = graph.node(n);
        let reads_dep = node.inputs.iter().flatten().any(|v| {
            matches!(graph.value(*v).def, ValueDef::Node(p, _) if inside.contains(&p) && dep.contains(&p))
        });
        if classify(graph, n) == NodeClass::Reduce {
            let Some(sp) = row_reduction(graph, n) else {
                return false;
            };
            if shapes.get_or_insert_with(|| sp.clone()) != &sp {
                return false;
            }
            dep.insert(n);
        } else if reads_dep {
            dep.insert(n);
        }
    }
    let Some((s, p)) = shapes else {
        return false;
    };
    dep.contains(&root)
        && dep.iter().all(|&n| {
            let node = graph.node(n);
            let shape = node
                .outputs
                .first()
                .and_then(|&o| graph.value(o).ty.shape.as_static());
            node.outputs.len() == 1
                && (classify(graph, n) == NodeClass::Reduce
                    || (classify(graph, n) == NodeClass::Elementwise
                        && shape.is_some_and(|d| d == s || d == p)))
        })
}

/// Merges row-reduction groups into the group that reads them (see the module docs).
fn fuse_rows(
    graph: &Graph,
    classes: &[NodeClass],
    groups: &mut Vec<Group>,
    materialized: &mut [bool],
) {
    let outputs: std::collections::HashSet<ValueId> = graph.outputs.iter().copied().collect();
    let mut gi = groups.len();
    while gi > 0 {
        gi -= 1;
        if !matches!(
            groups[gi].kind,
            GroupKind::Elementwise | GroupKind::Reduction | GroupKind::Rows
        ) {
            continue;
        }
        // Absorb, one at a time, a reduction group read by this group only.
        while let Some(ri) =
            (0..gi).find(|&ri| absorbs(graph, classes, groups, gi, ri, &outputs, materialized))
        {
            let v = graph.node(groups[ri].root).outputs[0];
            materialized[v.index()] = false;
            let root = groups[gi].root;
            groups[gi] = Group {
                kind: GroupKind::Rows,
                root,
                heavy: None,
                nodes: make_group(graph, root, classes, materialized, None).nodes,
            };
            groups.remove(ri);
            gi -= 1;
        }
    }
}

/// True when group `gi` can absorb reduction group `ri` (see [`fuse_rows`]).
fn absorbs(
    graph: &Graph,
    classes: &[NodeClass],
    groups: &[Group],
    gi: usize,
    ri: usize,
    outputs: &std::collections::HashSet<ValueId>,
    materialized: &mut [bool],
) -> bool {
    let r = &groups[ri];
    if r.kind != GroupKind::Reduction || r.heavy.is_none_or(|h| row_reduction(graph, h).is_none()) {
        return false;
    }
    let v = graph.node(r.root).outputs[0];
    if outputs.contains(&v) {
        return false;
    }
    let reads = |g: &Group| {
        g.nodes
            .iter()
            .any(|&n| graph.node(n).inputs.iter().flatten().any(|&i| i == v))
    };
    let mut readers = groups.iter().enumerate().filter(|(_, g)| reads(g));
    if !matches!((readers.next(), readers.next()), (Some((i, _)), None) if i == gi) {
        return false;
    }
    // The merged group, with `v` computed in it rather than loaded.
    materialized[v.index()] = false;
    let root = groups[gi].root;
    let merged = make_group(graph, root, classes, materialized, None);
    materialized[v.index()] = true;
    rows_aligned(graph, &merged.nodes, root)
}

/// Graphviz text of a fusion: one cluster per group, nodes labelled by operator name, edges
/// along the graph's values (a node recomputed by several groups appears in each).
pub fn to_dot(graph: &Graph, fused: &Fused) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", escape(&graph.name));
    let _ = writeln!(s, "  node [shape=box];");
    for (i, &v) in graph.inputs.iter().enumerate() {
        let _ = writeln!(
            s,
            "  in{i} [shape=ellipse, label=\"{}\"];",
            escape(&graph.value_label(v))
        );
    }
    for (g, group) in fused.groups.iter().enumerate() {
        let _ = writeln!(s, "  subgraph cluster_{g} {{");
        let _ = writeln!(
            s,
            "    label=\"{} {g}\";",
            match group.kind {
                GroupKind::Elementwise => "elementwise",
                GroupKind::Reduction => "reduction",
                GroupKind::Contraction => "contraction",
                GroupKind::Rows => "rows",
                GroupKind::Host => "host",
            }
        );
        for &n in &group.nodes {
            let _ = writeln!(
                s,
                "    g{g}_n{} [label=\"{}\"];",
                n.index(),
                escape(graph.node(n).op.name())
            );
        }
        let _ = writeln!(s, "  }}");
    }
    // Edges: inside a group from producer to consumer; across groups from the producing root.
    let mut root_group = vec![None; graph.nodes.len()];
    for (g, group) in fused.groups.iter().enumerate() {
        root_group[group.root.index()] = Some(g);
    }
    for (g, group) in fused.groups.iter().enumerate() {
        for &n in &group.nodes {
            for v in graph.node(n).inputs.iter().flatten() {
                let from = match graph.value(*v).def {
                    ValueDef::Input(i) => format!("in{i}"),
                    ValueDef::Constant(_) => continue,
                    ValueDef::Node(p, _) if group.nodes.contains(&p) && p != n => {
                        format!("g{g}_n{}", p.index())
                    }
                    ValueDef::Node(p, _) => match root_group[p.index()] {
                        Some(pg) => format!("g{pg}_n{}", p.index()),
                        None => continue,
                    },
                };
                let _ = writeln!(s, "  {from} -> g{g}_n{};", n.index());
            }
        }
    }
    let _ = writeln!(s, "}}");
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::graph::TensorType;
    use crate::op::{BinaryOp, UnaryOp};
    use crate::tensor::Tensor;

    fn push(g: &mut Graph, op: Op, ins: &[ValueId], dims: &[usize]) -> ValueId {
        let n = g.push_node(
            op,
            ins.iter().map(|&v| Some(v)).collect(),
            vec![TensorType::new(DType::F32, dims)],
            None,
        );
        g.node(n).outputs[0]
    }

    fn unary(g: &mut Graph, op: UnaryOp, x: ValueId) -> ValueId {
        let dims = g.value(x).ty.shape.as_static().unwrap();
        push(g, Op::Unary(op), &[x], &dims)
    }

    fn add(g: &mut Graph, a: ValueId, b: ValueId) -> ValueId {
        let dims = g.value(a).ty.shape.as_static().unwrap();
        push(g, Op::Binary(BinaryOp::Add), &[a, b], &dims)
    }

    fn sum_last(g: &mut Graph, x: ValueId, dims: &[usize]) -> ValueId {
        let axes = g.add_constant(Tensor::from_vec(&[1], vec![-1i64]).unwrap());
        let op = Op::Reduce {
            kind: ReduceOp::Sum,
            keepdims: true,
            noop_with_empty_axes: false,
        };
        push(g, op, &[x, axes], dims)
    }

    #[test]
    fn low_precision_values_stay_on_the_host() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[4]));
        let n = g.push_node(
            Op::Cast {
                to: DType::F8E4M3FN,
                saturate: true,
            },
            vec![Some(x)],
            vec![TensorType::new(DType::F8E4M3FN, &[4])],
            None,
        );
        let y = g.node(n).outputs[0];
        g.add_output(y);
        assert_eq!(classify(&g, n), NodeClass::Host);
        let c = g.push_node(
            Op::Cast {
                to: DType::F32,
                saturate: true,
            },
            vec![Some(y)],
            vec![TensorType::new(DType::F32, &[4])],
            None,
        );
        assert_eq!(classify(&g, c), NodeClass::Host);
    }

    #[test]
    fn single_use_chains_fuse_and_cheap_shared_values_are_recomputed() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[4]));
        let e = unary(&mut g, UnaryOp::Exp, x);
        let a = unary(&mut g, UnaryOp::Neg, e);
        let b = unary(&mut g, UnaryOp::Abs, e);
        let y = add(&mut g, a, b);
        g.add_output(y);
        let f = fuse(&g).unwrap();
        assert_eq!(f.groups.len(), 1, "exp is cheap and used twice: recomputed");
        assert_eq!(f.groups[0].nodes.len(), 4);
        assert!(!f.is_materialized(e) && f.is_materialized(y) && f.is_materialized(x));
    }

    #[test]
    fn values_used_too_often_or_too_costly_are_materialized() {
        // Used by 5 consumers.
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[4]));
        let e = unary(&mut g, UnaryOp::Exp, x);
        let mut acc = e;
        for _ in 0..4 {
            acc = add(&mut g, acc, e);
        }
        g.add_output(acc);
        let f = fuse(&g).unwrap();
        assert!(f.is_materialized(e));
        // A long chain used twice.
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[4]));
        let mut c = x;
        for _ in 0..(MAX_RECOMPUTE_OPS + 1) {
            c = unary(&mut g, UnaryOp::Tanh, c);
        }
        let y = add(&mut g, c, c);
        let z = unary(&mut g, UnaryOp::Neg, c);
        g.add_output(y);
        g.add_output(z);
        let f = fuse(&g).unwrap();
        assert!(f.is_materialized(c));
        assert_eq!(f.groups.len(), 3);
    }

    #[test]
    fn reductions_take_prologue_and_epilogue() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[3, 5]));
        let sq = unary(&mut g, UnaryOp::Abs, x);
        let s = sum_last(&mut g, sq, &[3, 1]);
        let r = unary(&mut g, UnaryOp::Sqrt, s);
        g.add_output(r);
        let f = fuse(&g).unwrap();
        assert_eq!(f.groups.len(), 1);
        assert_eq!(f.groups[0].kind, GroupKind::Reduction);
        assert_eq!(f.groups[0].nodes.len(), 3);
        // A row reduction whose result is broadcast back over its rows joins its reader.
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[3, 5]));
        let s = sum_last(&mut g, x, &[3, 1]);
        let y = add(&mut g, x, s);
        g.add_output(y);
        let f = fuse(&g).unwrap();
        let kinds: Vec<GroupKind> = f.groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [GroupKind::Rows]);
        assert!(!f.is_materialized(s));
        assert!(to_dot(&g, &f).contains("label=\"rows 0\""));
        // ... unless the result is also a graph output.
        g.add_output(s);
        let f = fuse(&g).unwrap();
        let kinds: Vec<GroupKind> = f.groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [GroupKind::Reduction, GroupKind::Elementwise]);
        // Two row reductions over the same rows share a row kernel.
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[3, 5]));
        let s1 = sum_last(&mut g, x, &[3, 1]);
        let s2 = sum_last(&mut g, x, &[3, 1]);
        let y = add(&mut g, s1, s2);
        g.add_output(y);
        let f = fuse(&g).unwrap();
        let kinds: Vec<GroupKind> = f.groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [GroupKind::Rows]);
        // A reduction over another axis keeps its own kernel; the row reduction still joins.
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[3, 5]));
        let s1 = sum_last(&mut g, x, &[3, 1]);
        let axes = g.add_constant(Tensor::from_vec(&[1], vec![0i64]).unwrap());
        let op = Op::Reduce {
            kind: ReduceOp::Sum,
            keepdims: true,
            noop_with_empty_axes: false,
        };
        let s2 = push(&mut g, op, &[x, axes], &[1, 5]);
        let y = push(&mut g, Op::Binary(BinaryOp::Add), &[s1, s2], &[3, 5]);
        g.add_output(y);
        let f = fuse(&g).unwrap();
        let kinds: Vec<GroupKind> = f.groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [GroupKind::Reduction, GroupKind::Rows]);
        assert!(f.is_materialized(s2) && !f.is_materialized(s1));
    }

    #[test]
    fn rows_over_the_cache_bound_keep_separate_kernels() {
        let cols = MAX_ROW_BYTES / 4 + 1;
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[2, cols]));
        let s = sum_last(&mut g, x, &[2, 1]);
        let y = add(&mut g, x, s);
        g.add_output(y);
        let f = fuse(&g).unwrap();
        let kinds: Vec<GroupKind> = f.groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [GroupKind::Reduction, GroupKind::Elementwise]);
        // One element less fits.
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[2, cols - 1]));
        let s = sum_last(&mut g, x, &[2, 1]);
        let y = add(&mut g, x, s);
        g.add_output(y);
        let kinds: Vec<GroupKind> = fuse(&g).unwrap().groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [GroupKind::Rows]);
    }

    #[test]
    fn views_inline_host_operands_and_outputs_materialize_and_dead_nodes_vanish() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[2, 3]));
        let t = push(&mut g, Op::Transpose { perm: vec![1, 0] }, &[x], &[3, 2]);
        let n = unary(&mut g, UnaryOp::Neg, t);
        let _dead = unary(&mut g, UnaryOp::Exp, x);
        let c = push(&mut g, Op::NonZero {}, &[n], &[2, 6]);
        g.add_output(c);
        g.add_output(t);
        let f = fuse(&g).unwrap();
        let kinds: Vec<GroupKind> = f.groups.iter().map(|g| g.kind).collect();
        assert_eq!(
            kinds,
            [
                GroupKind::Elementwise,
                GroupKind::Elementwise,
                GroupKind::Host
            ]
        );
        assert!(f.is_materialized(t) && f.is_materialized(n));
        // The transpose is an output, so the neg kernel reads its buffer.
        assert_eq!(f.groups[1].nodes.len(), 1);
        let dot = to_dot(&g, &f);
        assert!(dot.starts_with("digraph \"g\""));
        assert_eq!(dot.matches("subgraph cluster_").count(), 3);
        assert!(
            dot.contains("label=\"non_zero\"") && dot.contains("in0 -> g0_n0"),
            "{dot}"
        );
        assert!(!dot.contains("exp"));
    }

    #[test]
    fn matmul_takes_views_but_not_elementwise_prologues() {
        let mut g = Graph::new("g");
        let a = g.add_input("a", TensorType::new(DType::F32, &[2, 3]));
        let b = g.add_input("b", TensorType::new(DType::F32, &[4, 3]));
        let bt = push(&mut g, Op::Transpose { perm: vec![1, 0] }, &[b], &[3, 4]);
        let ea = unary(&mut g, UnaryOp::Exp, a);
        let y = push(&mut g, Op::MatMul {}, &[ea, bt], &[2, 4]);
        let r = unary(&mut g, UnaryOp::Relu, y);
        g.add_output(r);
        let f = fuse(&g).unwrap();
        assert!(
            f.is_materialized(ea),
            "recomputing exp per use of the operand is too costly"
        );
        let mm = f.groups.last().unwrap();
        assert_eq!(mm.kind, GroupKind::Contraction);
        assert_eq!(mm.nodes.len(), 3, "transpose, matmul, relu");
    }
}
