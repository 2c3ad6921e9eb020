//! Common-subexpression elimination: merges nodes that compute the same operator on the same
//! operands, and constants with the same contents.

use super::restore_output_names;
use crate::attr::Attr;
use crate::dtype::DType;
use crate::graph::{Graph, NodeId, TensorType, ValueDef, ValueId};
use std::collections::{HashMap, HashSet};

/// Merges duplicate computations:
/// - nodes with the same operator, exactly equal attributes (floats compared by bit pattern, so
///   NaN attributes match and `0.0` differs from `-0.0`), the same operands (after earlier
///   merges) and the same output types: later ones are replaced by the first;
/// - constants with the same dtype, shape and bytes, named ones included.
///
/// Two values that are graph outputs under different names are never merged (one value cannot
/// carry both names); every output keeps its name.
pub fn cse(graph: &Graph) -> Graph {
    cse_tracked(graph).0
}

/// [`cse`], also saying whether anything was merged.
pub(super) fn cse_tracked(graph: &Graph) -> (Graph, bool) {
    let mut merger = Merger::new(graph);
    merger.merge_constants();
    let removed = merger.merge_nodes();
    let changed = !merger.replace.is_empty();
    let mut out = graph.rebuilt(|n| !removed.contains(&n), &merger.replace);
    restore_output_names(graph, &mut out);
    (out, changed)
}

/// An attribute in a form that can be hashed and compared exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum AttrKey {
    Int(i64),
    Float(u32),
    Bool(bool),
    Ints(Vec<i64>),
    Floats(Vec<u32>),
    Text(String),
    Ident(String),
    DType(DType),
    Tensor(DType, Vec<usize>, Vec<u8>),
}

impl From<Attr> for AttrKey {
    fn from(a: Attr) -> Self {
        match a {
            Attr::Int(i) => AttrKey::Int(i),
            Attr::Float(f) => AttrKey::Float(f.to_bits()),
            Attr::Bool(b) => AttrKey::Bool(b),
            Attr::Ints(v) => AttrKey::Ints(v),
            Attr::Floats(v) => AttrKey::Floats(v.into_iter().map(f32::to_bits).collect()),
            Attr::Str(s) => AttrKey::Text(s),
            Attr::Ident(s) => AttrKey::Ident(s),
            Attr::DType(d) => AttrKey::DType(d),
            Attr::Tensor(t) => AttrKey::Tensor(t.dtype(), t.shape().to_vec(), t.into_bytes()),
        }
    }
}

/// Everything that makes two nodes compute the same results.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NodeKey {
    op: &'static str,
    attrs: Vec<(&'static str, AttrKey)>,
    inputs: Vec<Option<ValueId>>,
    outputs: Vec<TensorType>,
}

/// The merging state: which values stand in for which, and which output names stand-ins carry.
struct Merger<'g> {
    graph: &'g Graph,
    /// Removed value -> the value that replaces it.
    replace: HashMap<ValueId, ValueId>,
    /// Graph outputs with their names.
    output_names: HashMap<ValueId, &'g str>,
    /// Stand-ins that have taken over a graph output's name.
    claimed: HashMap<ValueId, &'g str>,
}

impl<'g> Merger<'g> {
    fn new(graph: &'g Graph) -> Self {
        let output_names = graph
            .outputs
            .iter()
            .filter_map(|&o| Some((o, graph.values.get(o)?.name.as_deref()?)))
            .collect();
        Merger {
            graph,
            replace: HashMap::new(),
            output_names,
            claimed: HashMap::new(),
        }
    }

    /// The output name a value will carry: its own, or one it took over.
    fn carried_name(&self, v: ValueId) -> Option<&'g str> {
        self.claimed
            .get(&v)
            .or_else(|| self.output_names.get(&v))
            .copied()
    }

    /// Replaces each of `dups` by the value at the same position of `keep`, unless that would
    /// give one value two output names; returns whether it did.
    fn try_merge(&mut self, dups: &[ValueId], keep: &[ValueId]) -> bool {
        let conflict = dups.iter().zip(keep).any(|(d, k)| {
            matches!(
                (self.output_names.get(d), self.carried_name(*k)),
                (Some(a), Some(b)) if *a != b
            )
        });
        if conflict || dups.len() != keep.len() {
            return false;
        }
        for (&d, &k) in dups.iter().zip(keep) {
            if let Some(&name) = self.output_names.get(&d) {
                self.claimed.insert(k, name);
            }
            self.replace.insert(d, k);
        }
        true
    }

    /// Merges constant values with equal dtype, shape and bytes into the first of them.
    fn merge_constants(&mut self) {
        let mut first: HashMap<(DType, &[usize], &[u8]), ValueId> = HashMap::new();
        let graph = self.graph;
        for (v, value) in graph.values.iter() {
            let ValueDef::Constant(c) = value.def else {
                continue;
            };
            let Some(t) = graph.constants.get(c) else {
                continue;
            };
            match first.get(&(t.dtype(), t.shape(), t.bytes())) {
                Some(&keep) => {
                    self.try_merge(&[v], &[keep]);
                }
                None => {
                    first.insert((t.dtype(), t.shape(), t.bytes()), v);
                }
            }
        }
    }

    /// Merges each node into the first earlier node with the same key; returns the merged ones.
    fn merge_nodes(&mut self) -> HashSet<NodeId> {
        let graph = self.graph;
        let mut first: HashMap<NodeKey, NodeId> = HashMap::new();
        let mut removed = HashSet::new();
        for (id, node) in graph.nodes.iter() {
            let key = NodeKey {
                op: node.op.name(),
                attrs: node
                    .op
                    .attributes()
                    .into_iter()
                    .map(|(name, a)| (name, AttrKey::from(a)))
                    .collect(),
                inputs: node
                    .inputs
                    .iter()
                    .map(|i| i.map(|v| self.resolve(v)))
                    .collect(),
                outputs: node
                    .outputs
                    .iter()
                    .filter_map(|&o| graph.values.get(o).map(|v| v.ty.clone()))
                    .collect(),
            };
            match first.get(&key) {
                Some(&keep) => {
                    if self.try_merge(&node.outputs, &graph.nodes[keep].outputs) {
                        removed.insert(id);
                    }
                }
                None => {
                    first.insert(key, id);
                }
            }
        }
        removed
    }

    /// The value that finally stands in for `v`.
    fn resolve(&self, mut v: ValueId) -> ValueId {
        while let Some(&r) = self.replace.get(&v) {
            v = r;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::op::{BinaryOp, Op, UnaryOp};
    use crate::tensor::Tensor;

    fn ty() -> TensorType {
        TensorType::new(DType::F32, &[3])
    }

    fn graph_with_input() -> (Graph, ValueId) {
        let mut g = Graph::new("g");
        let x = g.add_input("x", ty());
        (g, x)
    }

    fn leaky(alpha: f32) -> Op {
        Op::LeakyRelu { alpha }
    }

    #[test]
    fn merges_equal_nodes_and_then_their_users() {
        let (mut g, x) = graph_with_input();
        let r1 = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &ty());
        let r2 = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &ty());
        let a1 = node(&mut g, Op::Binary(BinaryOp::Add), &[r1, x], &ty());
        let a2 = node(&mut g, Op::Binary(BinaryOp::Add), &[r2, x], &ty());
        let y = node(&mut g, Op::Binary(BinaryOp::Mul), &[a1, a2], &ty());
        output(&mut g, y, "y");
        let (h, changed) = cse_tracked(&g);
        assert!(changed);
        assert_eq!(h.nodes.len(), 3, "relu, add, mul");
        let mul = h.node(def_node(&h, h.outputs[0]).unwrap());
        assert_eq!(mul.inputs[0], mul.inputs[1]);
        assert_eq!(output_names(&h), ["y"]);
        assert!(!cse_tracked(&h).1, "a second run merges nothing");
    }

    #[test]
    fn operand_order_and_absent_inputs_matter() {
        let (mut g, x) = graph_with_input();
        let c = g.add_constant(Tensor::from_vec(&[3], vec![1f32, 2.0, 3.0]).unwrap());
        let s1 = node(&mut g, Op::Binary(BinaryOp::Sub), &[x, c], &ty());
        let s2 = node(&mut g, Op::Binary(BinaryOp::Sub), &[c, x], &ty());
        let c1 = g.push_node(Op::Clip {}, vec![Some(x), None, Some(c)], vec![ty()], None);
        let c2 = g.push_node(Op::Clip {}, vec![Some(x), Some(c), None], vec![ty()], None);
        let (c1, c2) = (g.nodes[c1].outputs[0], g.nodes[c2].outputs[0]);
        let y = node(
            &mut g,
            Op::Variadic(crate::op::VariadicOp::Sum),
            &[s1, s2, c1, c2],
            &ty(),
        );
        output(&mut g, y, "y");
        let (h, changed) = cse_tracked(&g);
        assert!(!changed);
        assert_eq!(h.nodes.len(), 5);
    }

    #[test]
    fn attributes_compare_exactly_with_nan_by_bits() {
        let (mut g, x) = graph_with_input();
        let ops = [
            leaky(0.1),
            leaky(0.2),
            leaky(f32::NAN),
            leaky(f32::NAN),
            leaky(0.0),
            leaky(-0.0),
            leaky(0.1),
        ];
        let outs: Vec<ValueId> = ops
            .into_iter()
            .map(|op| node(&mut g, op, &[x], &ty()))
            .collect();
        let y = node(
            &mut g,
            Op::Variadic(crate::op::VariadicOp::Sum),
            &outs,
            &ty(),
        );
        output(&mut g, y, "y");
        let h = cse(&g);
        // 0.1 (twice), 0.2, NaN (twice), 0.0, -0.0: five distinct nodes plus the sum.
        assert_eq!(h.nodes.len(), 6);
        let sum = h.node(def_node(&h, h.outputs[0]).unwrap());
        let ins: Vec<_> = sum.inputs.iter().map(|i| i.unwrap()).collect();
        assert_eq!(ins[0], ins[6]);
        assert_eq!(ins[2], ins[3]);
        assert_ne!(ins[4], ins[5]);
        assert_ne!(ins[0], ins[1]);
    }

    #[test]
    fn tensor_attributes_and_output_types_are_part_of_the_key() {
        let mut g = Graph::new("g");
        let shape = g.add_input("shape", TensorType::new(DType::I64, &[1]));
        let fill = |v: f32| Op::ConstantOfShape {
            value: Tensor::scalar(v),
        };
        let ty3 = TensorType::new(DType::F32, &[3]);
        let a = node(&mut g, fill(1.0), &[shape], &ty3);
        let b = node(&mut g, fill(1.0), &[shape], &ty3);
        let c = node(&mut g, fill(2.0), &[shape], &ty3);
        let d = node(
            &mut g,
            fill(1.0),
            &[shape],
            &TensorType::new(DType::F32, &[4]),
        );
        for (v, n) in [(a, "a"), (b, "b"), (c, "c"), (d, "d")] {
            g.values[v].name = Some(n.into());
        }
        let y = node(
            &mut g,
            Op::Variadic(crate::op::VariadicOp::Sum),
            &[a, b, c],
            &ty3,
        );
        output(&mut g, y, "y");
        output(&mut g, d, "d");
        let h = cse(&g);
        assert_eq!(h.nodes.len(), 4, "a and b merge; c and d differ");
    }

    #[test]
    fn named_constants_with_equal_contents_merge() {
        let (mut g, x) = graph_with_input();
        let data = || Tensor::from_vec(&[3], vec![1f32, 2.0, 3.0]).unwrap();
        let w1 = g.add_named_constant(Some("w1".into()), data());
        let w2 = g.add_named_constant(Some("w2".into()), data());
        let other_dtype = g.add_named_constant(
            Some("w3".into()),
            Tensor::from_vec(&[3], vec![1i32, 2, 3]).unwrap(),
        );
        let a1 = node(&mut g, Op::Binary(BinaryOp::Add), &[x, w1], &ty());
        let a2 = node(&mut g, Op::Binary(BinaryOp::Add), &[x, w2], &ty());
        let cast = node(
            &mut g,
            Op::Cast {
                to: DType::F32,
                saturate: true,
            },
            &[other_dtype],
            &ty(),
        );
        let y = node(
            &mut g,
            Op::Variadic(crate::op::VariadicOp::Sum),
            &[a1, a2, cast],
            &ty(),
        );
        output(&mut g, y, "y");
        let h = cse(&g);
        assert_eq!(h.constants.len(), 2, "w1 and w2 merge, the i32 one stays");
        assert_eq!(
            h.nodes.len(),
            3,
            "after the constants merge, so do the adds"
        );
    }

    #[test]
    fn outputs_with_different_names_stay_apart() {
        let (mut g, x) = graph_with_input();
        let r1 = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &ty());
        let r2 = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &ty());
        let r3 = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &ty());
        let c1 = g.add_named_constant(Some("c1".into()), Tensor::scalar(1f32));
        let c2 = g.add_named_constant(Some("c2".into()), Tensor::scalar(1f32));
        output(&mut g, r1, "r1");
        output(&mut g, r2, "r2");
        output(&mut g, c1, "c1");
        output(&mut g, c2, "c2");
        let n = node(&mut g, Op::Unary(UnaryOp::Neg), &[r3], &ty());
        output(&mut g, n, "n");
        let h = cse(&g);
        // r3 (not an output) merges into r1; r2 keeps its own node.
        assert_eq!(h.nodes.len(), 3);
        assert_eq!(h.constants.len(), 2);
        assert_eq!(output_names(&h), ["r1", "r2", "c1", "c2", "n"]);
        let neg = h.node(def_node(&h, h.outputs[4]).unwrap());
        assert_eq!(neg.inputs[0], Some(h.outputs[0]));
    }

    #[test]
    fn a_later_output_name_moves_to_the_surviving_node() {
        let (mut g, x) = graph_with_input();
        let t1 = node(&mut g, Op::Unary(UnaryOp::Tanh), &[x], &ty());
        g.values[t1].name = Some("intermediate".into());
        let t2 = node(&mut g, Op::Unary(UnaryOp::Tanh), &[x], &ty());
        let n = node(&mut g, Op::Unary(UnaryOp::Neg), &[t1], &ty());
        output(&mut g, t2, "t2");
        output(&mut g, n, "n");
        output(&mut g, t2, "t2");
        let h = cse(&g);
        assert_eq!(h.nodes.len(), 2);
        assert_eq!(output_names(&h), ["t2", "n", "t2"]);
        assert_eq!(h.outputs[0], h.outputs[2]);
        let neg = h.node(def_node(&h, h.outputs[1]).unwrap());
        assert_eq!(neg.inputs[0], Some(h.outputs[0]));
    }
}
