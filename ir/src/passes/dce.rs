//! Dead-code elimination: drops every node none of whose outputs reaches a graph output.

use crate::graph::Graph;
use std::collections::HashMap;

/// Removes the nodes none of whose outputs a graph output depends on. Constants nothing reads
/// any more disappear with them; graph inputs all stay, used or not.
pub fn dce(graph: &Graph) -> Graph {
    dce_tracked(graph).0
}

/// [`dce`], also saying whether anything was removed.
pub(super) fn dce_tracked(graph: &Graph) -> (Graph, bool) {
    let live = live_nodes(graph);
    let out = graph.rebuilt(
        |n| live.get(n.index()).copied().unwrap_or(false),
        &HashMap::new(),
    );
    let changed =
        out.nodes.len() != graph.nodes.len() || out.constants.len() != graph.constants.len();
    (out, changed)
}

/// For each node (by index), whether a graph output depends on it. One backward sweep suffices
/// because nodes are stored in topological order.
fn live_nodes(graph: &Graph) -> Vec<bool> {
    let mut live_values = vec![false; graph.values.len()];
    for o in &graph.outputs {
        if let Some(l) = live_values.get_mut(o.index()) {
            *l = true;
        }
    }
    let mut live = vec![false; graph.nodes.len()];
    let nodes: Vec<_> = graph.nodes.iter().collect();
    for (id, node) in nodes.into_iter().rev() {
        let reaches_output = node
            .outputs
            .iter()
            .any(|o| live_values.get(o.index()).copied().unwrap_or(false));
        if !reaches_output {
            continue;
        }
        live[id.index()] = true;
        for v in node.inputs.iter().flatten() {
            if let Some(l) = live_values.get_mut(v.index()) {
                *l = true;
            }
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::dtype::DType;
    use crate::graph::TensorType;
    use crate::op::{BinaryOp, Op, UnaryOp};
    use crate::tensor::Tensor;

    fn f32s(n: usize) -> TensorType {
        TensorType::new(DType::F32, &[n])
    }

    #[test]
    fn removes_dead_chains_and_their_constants() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32s(2));
        let unused_input = g.add_input("unused", f32s(2));
        let c = g.add_constant(Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap());
        let live = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &f32s(2));
        let dead1 = node(&mut g, Op::Binary(BinaryOp::Add), &[x, c], &f32s(2));
        let _dead2 = node(&mut g, Op::Unary(UnaryOp::Exp), &[dead1], &f32s(2));
        let _dead3 = node(&mut g, Op::Unary(UnaryOp::Neg), &[unused_input], &f32s(2));
        output(&mut g, live, "y");
        let (h, changed) = dce_tracked(&g);
        assert!(changed);
        assert_eq!(h.nodes.len(), 1);
        assert_eq!(
            h.node(def_node(&h, h.outputs[0]).unwrap()).op.name(),
            "relu"
        );
        assert_eq!(
            h.constants.len(),
            0,
            "the constant only the dead add read is gone"
        );
        assert_eq!(h.inputs.len(), 2, "inputs stay even when unused");
        assert_eq!(output_names(&h), ["y"]);
        // Nothing more to remove.
        let (h2, changed) = dce_tracked(&h);
        assert!(!changed);
        assert_eq!(h2.nodes.len(), 1);
    }

    #[test]
    fn keeps_nodes_feeding_outputs_through_other_nodes_and_constants() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32s(2));
        let c = g.add_constant(Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap());
        let a = node(&mut g, Op::Binary(BinaryOp::Mul), &[x, c], &f32s(2));
        let b = node(&mut g, Op::Unary(UnaryOp::Abs), &[a], &f32s(2));
        output(&mut g, b, "b");
        output(&mut g, c, "c");
        output(&mut g, x, "x");
        let h = dce(&g);
        assert_eq!(h.nodes.len(), 2);
        assert_eq!(h.constants.len(), 1);
        assert_eq!(output_names(&h), ["b", "c", "x"]);
    }

    #[test]
    fn a_multi_output_node_stays_when_one_output_is_used() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32s(4));
        let split = g.push_node(
            Op::Split {
                axis: 0,
                num_outputs: Some(2),
            },
            vec![Some(x), None],
            vec![f32s(2), f32s(2)],
            None,
        );
        let second = g.nodes[split].outputs[1];
        output(&mut g, second, "second");
        let h = dce(&g);
        assert_eq!(h.nodes.len(), 1);
        assert_eq!(h.nodes.iter().next().unwrap().1.outputs.len(), 2);
        assert_eq!(h.nodes.iter().next().unwrap().1.inputs[1], None);
    }

    #[test]
    fn a_graph_without_outputs_loses_every_node() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32s(1));
        node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &f32s(1));
        assert_eq!(dce(&g).nodes.len(), 0);
    }
}
