//! Decomposition: rewrites every composite graph operator into the primitive set that fusion,
//! scheduling and the code generators understand (see [`is_primitive`]).
//!
//! The pass walks the graph in order and rebuilds it node by node. A composite node is replaced
//! by primitives emitted through an internal emitter (each one's output types inferred as it is
//! appended); a primitive node is copied. A composite that cannot be expressed with primitives
//! here (TopK, NonZero, an operand that must be a constant but is not, symbolic shapes where a
//! rule needs static ones) is copied as well and reported in [`Decomposed::host_nodes`]: it
//! runs on the host fallback.
//!
//! Graph inputs, and the order and names of graph outputs, are kept. Floating-point results
//! may differ from the composite's reference semantics by rounding only (the summation order
//! changes, and intermediate results round to the dtype); integer and movement results are
//! exact, with these known divergences from the reference, all outside ordinary inputs:
//! - integer ReduceMean sums in i64 (u64 for u64), so a sum that overflows 64 bits wraps
//!   before the division, where the reference divides the exact sum;
//! - the zeros Conv/ConvTranspose pad or insert, and the zero-weight taps of a Resize row,
//!   turn an infinite weight (or value) into NaN where the reference skips the term;
//! - where the reference reports an evaluation error (an index out of range, a non-finite
//!   integer result), the decomposed graph may fail elsewhere or produce a value.

mod elementwise;
mod emit;
mod linalg;
mod movement;
mod reduce;
mod resize;
#[cfg(test)]
mod tests;
mod window;

use crate::error::{At, IrError, Result};
use crate::graph::{Graph, NodeId, TensorType, ValueDef, ValueId};
use crate::infer::{Operand, infer_op};
use crate::op::{Op, ReduceOp, UnaryOp};
use emit::Emitter;
use std::collections::HashMap;

/// The result of [`decompose`].
#[derive(Clone, Debug)]
pub struct Decomposed {
    /// The rewritten graph.
    pub graph: Graph,
    /// Nodes of `graph` that are not primitive (or whose operands a primitive needs as
    /// constants are not), in order: they must run on the host fallback.
    pub host_nodes: Vec<NodeId>,
}

/// True for the primitive operators:
///
/// - elementwise: every [`Op::Unary`] and [`Op::Binary`], [`Op::Where`], [`Op::Cast`];
/// - reductions: [`Op::Reduce`] of kind Sum, Max, Min or Prod (its axes must be constant, see
///   [`Decomposed::host_nodes`]), [`Op::ArgMax`], [`Op::ArgMin`];
/// - views (index maps, no arithmetic): [`Op::Reshape`], [`Op::Transpose`], [`Op::Expand`],
///   [`Op::Slice`], [`Op::Pad`] in constant mode, [`Op::Concat`], [`Op::AsStrided`];
/// - contraction: [`Op::MatMul`] (batched);
/// - indexing: [`Op::Gather`], [`Op::GatherElements`], [`Op::ScatterND`],
///   [`Op::ScatterElements`].
///
/// Constants are graph values, not nodes. Every other operator is a composite.
pub fn is_primitive(op: &Op) -> bool {
    match op {
        Op::Unary(_) | Op::Binary(_) | Op::Where {} | Op::Cast { .. } => true,
        Op::Reduce { kind, .. } => matches!(
            kind,
            ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min | ReduceOp::Prod
        ),
        Op::ArgMax { .. } | Op::ArgMin { .. } => true,
        Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Expand {}
        | Op::Slice {}
        | Op::Concat { .. }
        | Op::AsStrided { .. } => true,
        Op::Pad { mode } => *mode == crate::attr::PadMode::Constant,
        Op::MatMul {} => true,
        Op::Gather { .. }
        | Op::GatherElements { .. }
        | Op::ScatterND { .. }
        | Op::ScatterElements { .. } => true,
        _ => false,
    }
}

/// Operand positions whose values a primitive needs at compile time (shapes, axes, pads,
/// slice bounds), from `first` on.
fn static_operands(op: &Op) -> Option<usize> {
    match op {
        Op::Reshape { .. } | Op::Expand {} | Op::Slice {} | Op::Pad { .. } | Op::Reduce { .. } => {
            Some(1)
        }
        _ => None,
    }
}

/// True when node `n` of `g` can run on the devices: a primitive whose compile-time operands
/// are constants and whose output shapes are static.
fn runs_on_device(g: &Graph, n: NodeId) -> bool {
    let node = g.node(n);
    if !is_primitive(&node.op) {
        return false;
    }
    if let Some(first) = static_operands(&node.op) {
        // Pad's constant value (input 2) is data, not geometry.
        let geometry = |i: usize| !(matches!(node.op, Op::Pad { .. }) && i == 2);
        let all_const = node
            .inputs
            .iter()
            .enumerate()
            .skip(first)
            .filter(|&(i, _)| geometry(i))
            .all(|(_, v)| v.is_none_or(|v| g.constant_of(v).is_some()));
        if !all_const {
            return false;
        }
    }
    node.outputs
        .iter()
        .all(|&o| g.value(o).ty.shape.is_static())
}

/// Rewrites every composite operator of `graph` into primitives (see [`is_primitive`]).
///
/// Errors are typed and name the source node: a node whose operands do not fit its operator
/// (the same checks as shape inference), or a decomposition whose result does not have the
/// composite's type (a bug, reported as [`IrError::TypeMismatch`]).
pub fn decompose(graph: &Graph) -> Result<Decomposed> {
    let mut em = Emitter {
        g: Graph::new(graph.name.clone()),
        at: At {
            node: String::new(),
            op: "",
        },
    };
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    for &i in &graph.inputs {
        let v = graph.value(i);
        let n =
            em.g.add_input(v.name.clone().unwrap_or_default(), v.ty.clone());
        map.insert(i, n);
    }
    let mut host_nodes = Vec::new();
    for (id, node) in graph.nodes.iter() {
        em.at = At {
            node: graph.node_label(id),
            op: node.op.name(),
        };
        let mut ins = Vec::with_capacity(node.inputs.len());
        for (k, inp) in node.inputs.iter().enumerate() {
            ins.push(match inp {
                None => None,
                Some(v) => Some(lookup(graph, &mut em, &mut map, *v).ok_or_else(|| {
                    IrError::UndefinedValue {
                        at: em.at.clone(),
                        input: k,
                    }
                })?),
            });
        }
        let tys = infer_here(&em, &node.op, &ins, node.outputs.len())?;
        let outs = match rewrite(&mut em, &node.op, &ins, &tys)? {
            Some(outs) => {
                check_types(&em, &outs, &tys)?;
                outs
            }
            None => {
                let nid = em.g.push_node(node.op.clone(), ins, tys, node.name.clone());
                if !runs_on_device(&em.g, nid) {
                    host_nodes.push(nid);
                }
                em.g.node(nid).outputs.clone()
            }
        };
        for (&o, &n) in node.outputs.iter().zip(&outs) {
            map.insert(o, n);
        }
    }
    name_outputs(graph, &mut em, &mut map)?;
    Ok(Decomposed {
        graph: em.g,
        host_nodes,
    })
}

/// The new value for an old one: mapped, or (for a constant) copied over.
fn lookup(
    graph: &Graph,
    em: &mut Emitter,
    map: &mut HashMap<ValueId, ValueId>,
    v: ValueId,
) -> Option<ValueId> {
    if let Some(&n) = map.get(&v) {
        return Some(n);
    }
    let t = graph.constant_of(v)?.clone();
    let n = match &graph.value(v).name {
        Some(name) => em.g.add_named_constant(Some(name.clone()), t),
        None => em.g.add_constant(t),
    };
    map.insert(v, n);
    Some(n)
}

/// Output types of `op` on the new operands (the checks of shape inference).
fn infer_here(em: &Emitter, op: &Op, ins: &[Option<ValueId>], n: usize) -> Result<Vec<TensorType>> {
    let operands: Vec<Option<Operand<'_>>> = ins
        .iter()
        .map(|i| {
            i.map(|v| Operand {
                ty: &em.g.value(v).ty,
                value: em.g.constant_of(v),
            })
        })
        .collect();
    infer_op(op, &em.at, &operands, n)
}

/// Checks that a rewrite produced the composite's output types (static dims must agree).
fn check_types(em: &Emitter, outs: &[ValueId], tys: &[TensorType]) -> Result<()> {
    if outs.len() != tys.len() {
        return Err(em.internal(&format!("{} results for {} outputs", outs.len(), tys.len())));
    }
    for (k, (&o, want)) in outs.iter().zip(tys).enumerate() {
        let got = em.ty(o);
        let same = got.dtype == want.dtype
            && got.shape.rank() == want.shape.rank()
            && got
                .shape
                .0
                .iter()
                .zip(&want.shape.0)
                .all(|(a, b)| crate::infer::dims_compatible(a, b));
        if !same {
            return Err(IrError::TypeMismatch {
                at: em.at.clone(),
                output: k,
                declared: want.clone(),
                inferred: got.clone(),
            });
        }
    }
    Ok(())
}

/// Gives each graph output its original name. An output computed by a node that became a
/// graph input, a constant, or a value another output already names is passed through an
/// identity node; an output that was a graph input or a constant stays as it is.
fn name_outputs(
    graph: &Graph,
    em: &mut Emitter,
    map: &mut HashMap<ValueId, ValueId>,
) -> Result<()> {
    let mut done: HashMap<ValueId, ValueId> = HashMap::new();
    for &o in &graph.outputs {
        if let Some(&v) = done.get(&o) {
            em.g.add_output(v);
            continue;
        }
        let mut v = lookup(graph, em, map, o).ok_or_else(|| IrError::Structure {
            graph: graph.name.clone(),
            message: format!("output `{}` is never computed", graph.value_label(o)),
        })?;
        let name = graph.value(o).name.clone();
        if name.is_some() && matches!(graph.value(o).def, ValueDef::Node(..)) {
            let is_node = matches!(em.g.value(v).def, ValueDef::Node(..));
            if !is_node || done.values().any(|&d| d == v) {
                em.at = At {
                    node: graph.value_label(o),
                    op: "identity",
                };
                v = em.un(UnaryOp::Identity, v)?;
            }
            em.g.values[v].name = name;
        }
        done.insert(o, v);
        em.g.add_output(v);
    }
    Ok(())
}

/// Rewrites one composite node; `None` keeps it as it is (a primitive, or a composite that
/// cannot be rewritten here).
fn rewrite(
    em: &mut Emitter,
    op: &Op,
    ins: &[Option<ValueId>],
    tys: &[TensorType],
) -> Result<Option<Vec<ValueId>>> {
    // Kernels need equal operand types: a Pow whose exponent has another dtype is rewritten
    // with casts although `pow` itself is a primitive.
    if is_primitive(op) && !matches!(op, Op::Binary(crate::op::BinaryOp::Pow)) {
        return Ok(None);
    }
    if let Some(v) = elementwise::rewrite(em, op, ins)? {
        return Ok(Some(v));
    }
    if let Some(v) = reduce::rewrite(em, op, ins, tys)? {
        return Ok(Some(v));
    }
    if let Some(v) = linalg::rewrite(em, op, ins, tys)? {
        return Ok(Some(v));
    }
    if let Some(v) = window::rewrite(em, op, ins, tys)? {
        return Ok(Some(v));
    }
    if let Some(v) = resize::rewrite(em, op, ins, tys)? {
        return Ok(Some(v));
    }
    movement::rewrite(em, op, ins, tys)
}

/// Operand `i`, which inference has already checked is present.
pub(crate) fn operand(em: &Emitter, ins: &[Option<ValueId>], i: usize) -> Result<ValueId> {
    ins.get(i)
        .copied()
        .flatten()
        .ok_or_else(|| em.internal(&format!("input {i} is absent")))
}

/// The constant integer values of optional operand `i`: `Ok(None)` when it is absent,
/// `Err(())` when it is present but not a constant.
pub(crate) fn const_ints(
    em: &Emitter,
    ins: &[Option<ValueId>],
    i: usize,
) -> std::result::Result<Option<Vec<i64>>, ()> {
    match ins.get(i).copied().flatten() {
        None => Ok(None),
        Some(v) => {
            em.g.constant_of(v)
                .and_then(|t| t.to_i64_vec())
                .map(Some)
                .ok_or(())
        }
    }
}

/// Static dims of every type, when all are known.
pub(crate) fn static_dims(tys: &[TensorType]) -> Option<Vec<Vec<usize>>> {
    tys.iter().map(|t| t.shape.as_static()).collect()
}
