//! Shape and dtype inference: the output types of every operator from its input types and the
//! values of constant operands.

use crate::error::{At, IrError, Result};
use crate::graph::{Graph, NodeId, TensorType};
use crate::op::Op;
use crate::tensor::Tensor;

/// What inference knows about one operand: its type and, when it is a constant, its value.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// Static type (symbolic dims allowed).
    pub ty: &'a TensorType,
    /// The value, when known at compile time.
    pub value: Option<&'a Tensor>,
}

/// Infers the output types of `op` applied to `inputs` (`None` = absent optional operand),
/// for a node with `num_outputs` outputs.
#[allow(unused_variables)]
pub fn infer_op(
    op: &Op,
    at: &At,
    inputs: &[Option<Operand<'_>>],
    num_outputs: usize,
) -> Result<Vec<TensorType>> {
    Err(IrError::Eval {
        at: at.clone(),
        message: "inference not implemented yet".into(),
    })
}

/// Infers the output types of a node of `graph` from its current input types and constants.
pub fn infer_node(graph: &Graph, node: NodeId) -> Result<Vec<TensorType>> {
    let n = graph.node(node);
    let at = At {
        node: graph.node_label(node),
        op: n.op.name(),
    };
    let operands: Vec<Option<Operand<'_>>> = n
        .inputs
        .iter()
        .map(|i| {
            i.map(|v| Operand {
                ty: &graph.value(v).ty,
                value: graph.constant_of(v),
            })
        })
        .collect();
    infer_op(&n.op, &at, &operands, n.outputs.len())
}
