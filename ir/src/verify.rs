//! The graph verifier: structure (topological order, defined values, unique names) and types
//! (every declared output type equals the inferred one).

use crate::error::{At, IrError, Result};
use crate::graph::{Graph, NodeId, TensorType, ValueDef, ValueId};
use crate::infer::infer_node;
use crate::shape::Dim;
use std::collections::HashSet;

/// Checks a graph; the first problem found is returned as a typed error.
///
/// Structure comes first (every value's definition is consistent, graph inputs are uniquely
/// named, every node reads only values defined before it, no value is defined twice, graph
/// outputs exist), then types (each node's declared output types agree with inference).
pub fn verify(graph: &Graph) -> Result<()> {
    check_definitions(graph)?;
    check_order(graph)?;
    for (id, _) in graph.nodes.iter() {
        check_node_types(graph, id)?;
    }
    Ok(())
}

fn structure(graph: &Graph, message: String) -> IrError {
    IrError::Structure {
        graph: graph.name.clone(),
        message,
    }
}

fn at(graph: &Graph, id: NodeId) -> At {
    At {
        node: graph.node_label(id),
        op: graph.node(id).op.name(),
    }
}

/// Every value's `def` points back at it: the graph input slot, an existing constant of the
/// same type, or the node output slot.
fn check_definitions(graph: &Graph) -> Result<()> {
    for (v, value) in graph.values.iter() {
        let label = graph.value_label(v);
        match value.def {
            ValueDef::Input(i) => {
                if graph.inputs.get(i) != Some(&v) {
                    return Err(structure(
                        graph,
                        format!("value `{label}` claims to be graph input {i}, which it is not"),
                    ));
                }
            }
            ValueDef::Constant(c) => {
                let Some(t) = graph.constants.get(c) else {
                    return Err(structure(
                        graph,
                        format!("value `{label}` refers to a missing constant"),
                    ));
                };
                let actual = TensorType::of(t);
                if actual != value.ty {
                    return Err(structure(
                        graph,
                        format!(
                            "constant `{label}` is declared {} but its tensor is {actual}",
                            value.ty
                        ),
                    ));
                }
            }
            ValueDef::Node(n, k) => {
                let slot = graph.nodes.get(n).and_then(|node| node.outputs.get(k));
                if slot != Some(&v) {
                    return Err(structure(
                        graph,
                        format!(
                            "value `{label}` claims to be output {k} of node #{}, which it is not",
                            n.index()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Marks `v` defined, failing when it is unknown or already defined.
fn define(graph: &Graph, defined: &mut [bool], v: ValueId, by: &str) -> Result<()> {
    match defined.get_mut(v.index()) {
        None => Err(structure(
            graph,
            format!("{by} refers to value %{}, which does not exist", v.index()),
        )),
        Some(true) => Err(structure(
            graph,
            format!("value `{}` is defined twice ({by})", graph.value_label(v)),
        )),
        Some(flag) => {
            *flag = true;
            Ok(())
        }
    }
}

/// Graph inputs are named uniquely, nodes read only earlier values, outputs exist.
fn check_order(graph: &Graph) -> Result<()> {
    let mut defined = vec![false; graph.values.len()];
    let mut names = HashSet::new();
    for (i, &v) in graph.inputs.iter().enumerate() {
        define(graph, &mut defined, v, &format!("graph input {i}"))?;
        let name = graph.value(v).name.as_deref().unwrap_or("");
        if name.is_empty() {
            return Err(structure(graph, format!("graph input {i} has no name")));
        }
        if !names.insert(name) {
            return Err(structure(
                graph,
                format!("graph input name `{name}` is used twice"),
            ));
        }
    }
    for (v, value) in graph.values.iter() {
        if matches!(value.def, ValueDef::Constant(_)) {
            define(graph, &mut defined, v, "a constant")?;
        }
    }
    for (id, node) in graph.nodes.iter() {
        for (i, input) in node.inputs.iter().enumerate() {
            if let Some(v) = input
                && !defined.get(v.index()).copied().unwrap_or(false)
            {
                return Err(IrError::UndefinedValue {
                    at: at(graph, id),
                    input: i,
                });
            }
        }
        for &o in &node.outputs {
            define(
                graph,
                &mut defined,
                o,
                &format!("node {}", graph.node_label(id)),
            )?;
        }
    }
    for (i, &o) in graph.outputs.iter().enumerate() {
        if !defined.get(o.index()).copied().unwrap_or(false) {
            return Err(structure(
                graph,
                format!("graph output {i} (%{}) is not defined", o.index()),
            ));
        }
    }
    Ok(())
}

/// A declared type agrees with an inferred one: same dtype and rank, and every pair of dims
/// equal unless one of them is symbolic.
fn type_matches(declared: &TensorType, inferred: &TensorType) -> bool {
    declared.dtype == inferred.dtype
        && declared.shape.rank() == inferred.shape.rank()
        && declared
            .shape
            .0
            .iter()
            .zip(&inferred.shape.0)
            .all(|(d, i)| match (d, i) {
                (Dim::Static(a), Dim::Static(b)) => a == b,
                _ => true,
            })
}

fn check_node_types(graph: &Graph, id: NodeId) -> Result<()> {
    let node = graph.node(id);
    let inferred = infer_node(graph, id)?;
    if inferred.len() != node.outputs.len() {
        return Err(IrError::Arity {
            at: at(graph, id),
            what: "outputs",
            expected: inferred.len().to_string(),
            actual: node.outputs.len(),
        });
    }
    for (k, (&o, inf)) in node.outputs.iter().zip(&inferred).enumerate() {
        let declared = &graph.value(o).ty;
        if !type_matches(declared, inf) {
            return Err(IrError::TypeMismatch {
                at: at(graph, id),
                output: k,
                declared: declared.clone(),
                inferred: inf.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::{BinaryOp, Op, UnaryOp};
    use crate::shape::Shape;
    use crate::tensor::Tensor;

    fn f32t(dims: &[usize]) -> TensorType {
        TensorType::new(DType::F32, dims)
    }

    /// x[2,3] + c[3] -> relu, named nodes.
    fn good() -> Graph {
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32t(&[2, 3]));
        let c = g.add_constant(Tensor::from_vec(&[3], vec![1f32, 2.0, 3.0]).unwrap());
        let n = g.push_node(
            Op::Binary(BinaryOp::Add),
            vec![Some(x), Some(c)],
            vec![f32t(&[2, 3])],
            Some("add0".into()),
        );
        let s = g.node(n).outputs[0];
        let r = g.push_node(
            Op::Unary(UnaryOp::Relu),
            vec![Some(s)],
            vec![f32t(&[2, 3])],
            Some("relu0".into()),
        );
        let y = g.node(r).outputs[0];
        g.add_output(y);
        g
    }

    #[test]
    fn accepts_a_valid_graph() {
        assert_eq!(verify(&good()), Ok(()));
    }

    #[test]
    fn symbolic_dims_match_either_way() {
        let mut g = Graph::new("g");
        let x = g.add_input(
            "x",
            TensorType {
                dtype: DType::F32,
                shape: Shape(vec![Dim::Symbolic("n".into()), Dim::Static(3)]),
            },
        );
        // Declared static where inference says symbolic, and symbolic where it says static.
        let declared = TensorType {
            dtype: DType::F32,
            shape: Shape(vec![Dim::Static(7), Dim::Symbolic("m".into())]),
        };
        let n = g.push_node(Op::Unary(UnaryOp::Neg), vec![Some(x)], vec![declared], None);
        let y = g.node(n).outputs[0];
        g.add_output(y);
        assert_eq!(verify(&g), Ok(()));
    }

    #[test]
    fn type_mismatch_names_node_and_op() {
        let mut g = good();
        let last = g.nodes.handles().last().unwrap();
        let o = g.node(last).outputs[0];
        g.values[o].ty = f32t(&[3, 2]);
        let e = verify(&g).unwrap_err();
        assert!(
            matches!(&e, IrError::TypeMismatch { output: 0, inferred, .. } if *inferred == f32t(&[2, 3])),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("relu0") && msg.contains("relu"), "{msg}");
        g.values[o].ty = TensorType::new(DType::F64, &[2, 3]);
        assert!(matches!(verify(&g), Err(IrError::TypeMismatch { .. })));
    }

    #[test]
    fn undefined_value_names_node_and_op() {
        let mut g = good();
        // relu0 reads its own output.
        let last = g.nodes.handles().last().unwrap();
        let o = g.node(last).outputs[0];
        g.nodes.get_mut(last).unwrap().inputs[0] = Some(o);
        let e = verify(&g).unwrap_err();
        assert!(
            matches!(e, IrError::UndefinedValue { input: 0, .. }),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("relu0") && msg.contains("(relu)"), "{msg}");
        // A node reading a later node's output.
        let mut g = good();
        let first = g.nodes.handles().next().unwrap();
        g.nodes.get_mut(first).unwrap().inputs[0] = Some(o);
        assert!(matches!(
            verify(&g),
            Err(IrError::UndefinedValue { input: 0, .. })
        ));
        // A dangling handle.
        let mut g = good();
        g.nodes.get_mut(first).unwrap().inputs[1] = Some(ValueId::from_index(99));
        assert!(matches!(
            verify(&g),
            Err(IrError::UndefinedValue { input: 1, .. })
        ));
    }

    fn structure_message(g: &Graph) -> String {
        match verify(g) {
            Err(IrError::Structure { graph, message }) => {
                assert_eq!(graph, g.name);
                message
            }
            other => panic!("expected a structure error, got {other:?}"),
        }
    }

    #[test]
    fn structure_errors() {
        // Duplicate input names.
        let mut g = good();
        g.add_input("x", f32t(&[1]));
        assert!(structure_message(&g).contains("used twice"));
        // Empty input name.
        let mut g = good();
        g.add_input("", f32t(&[1]));
        assert!(structure_message(&g).contains("no name"));
        // Dangling graph output.
        let mut g = good();
        g.outputs.push(ValueId::from_index(99));
        assert!(structure_message(&g).contains("not defined"));
        // Constant declared with a type its tensor does not have.
        let mut g = good();
        let c = ValueId::from_index(1);
        g.values[c].ty = f32t(&[4]);
        assert!(structure_message(&g).contains("constant"));
        // A value listed as output of two nodes.
        let mut g = good();
        let first = g.nodes.handles().next().unwrap();
        let last = g.nodes.handles().last().unwrap();
        let o = g.node(first).outputs[0];
        g.nodes.get_mut(last).unwrap().outputs[0] = o;
        assert!(structure_message(&g).contains("output 0 of node"));
        // A graph input listed twice.
        let mut g = good();
        let x = g.inputs[0];
        g.inputs.push(x);
        let m = structure_message(&g);
        assert!(m.contains("twice") || m.contains("graph input"), "{m}");
    }

    #[test]
    fn inference_errors_surface() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32t(&[2, 3]));
        let y = g.add_input("y", f32t(&[4]));
        let n = g.push_node(
            Op::Binary(BinaryOp::Mul),
            vec![Some(x), Some(y)],
            vec![f32t(&[2, 3])],
            Some("mul7".into()),
        );
        let o = g.node(n).outputs[0];
        g.add_output(o);
        let e = verify(&g).unwrap_err();
        assert!(matches!(e, IrError::InputShape { .. }), "{e:?}");
        assert!(e.to_string().contains("mul7"));
    }
}
