//! Constant folding: evaluates nodes whose operands are all known and replaces their results
//! with constants; `Shape` and `Size` of statically shaped values fold from the type alone.

use super::restore_output_names;
use crate::error::{At, IrError, Result};
use crate::graph::{Graph, Node, TensorType, ValueId};
use crate::op::Op;
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};

/// Evaluates one operator, as [`crate::interp::eval_op`] does.
pub(super) type Evaluator<'a> =
    dyn Fn(&Op, &At, &[Option<&Tensor>], usize) -> Result<Vec<Tensor>> + 'a;

/// Evaluates every node whose operands are all constants (absent optional operands are fine)
/// with the reference interpreter and replaces its results with constants. `Shape` and `Size`
/// fold whenever their operand's shape is fully static, constant or not.
///
/// Results with more than `max_elements` elements are left computed by their node (and nodes
/// reading them are not folded). Nodes whose results nobody reads are skipped (see
/// [`super::dce`]). Graph outputs keep their names.
///
/// # Errors
/// An evaluation error of a node with constant operands is a real error of the graph and is
/// returned; so is a result whose type differs from the node's declared output type
/// ([`IrError::TypeMismatch`]).
pub fn fold_constants(graph: &Graph, max_elements: usize) -> Result<Graph> {
    Ok(fold_with(graph, max_elements, &crate::interp::eval_op)?.0)
}

/// [`fold_constants`] with the evaluator given; also says whether any value was replaced.
pub(super) fn fold_with(
    graph: &Graph,
    max_elements: usize,
    eval: &Evaluator<'_>,
) -> Result<(Graph, bool)> {
    let users = graph.users();
    let outputs: HashSet<ValueId> = graph.outputs.iter().copied().collect();
    let used =
        |v: ValueId| outputs.contains(&v) || users.get(v.index()).is_some_and(|u| !u.is_empty());
    let mut work = graph.clone();
    // Values computed so far (results of folded nodes), keyed by their ids in `graph`.
    let mut known: HashMap<ValueId, Tensor> = HashMap::new();
    let mut replace: HashMap<ValueId, ValueId> = HashMap::new();
    let mut dropped = HashSet::new();
    for (id, node) in graph.nodes.iter() {
        if !node.outputs.iter().any(|&o| used(o)) || all_too_large(graph, node, max_elements) {
            continue;
        }
        let at = At {
            node: graph.node_label(id),
            op: node.op.name(),
        };
        let results = match static_shape_fold(graph, node) {
            Some(t) => vec![t],
            None => match constant_operands(graph, node, &known) {
                Some(args) => eval(&node.op, &at, &args, node.outputs.len())?,
                None => continue,
            },
        };
        let mut all_gone = results.len() == node.outputs.len();
        for (k, (t, &o)) in results.into_iter().zip(&node.outputs).enumerate() {
            check_type(graph, &at, k, o, &t)?;
            if t.len() > max_elements {
                all_gone &= !used(o);
                continue;
            }
            if used(o) {
                let c = add_result_constant(&mut work, o, outputs.contains(&o), t.clone());
                replace.insert(o, c);
            }
            known.insert(o, t);
        }
        if all_gone {
            dropped.insert(id);
        }
    }
    let changed = !replace.is_empty();
    let mut out = work.rebuilt(|n| !dropped.contains(&n), &replace);
    restore_output_names(graph, &mut out);
    Ok((out, changed))
}

/// True when every result of the node has a static type with more than `max_elements`
/// elements, so evaluating it would be wasted work.
fn all_too_large(graph: &Graph, node: &Node, max_elements: usize) -> bool {
    !node.outputs.is_empty()
        && node.outputs.iter().all(|&o| {
            graph
                .values
                .get(o)
                .and_then(|v| v.ty.shape.num_elements())
                .is_some_and(|n| n > max_elements)
        })
}

/// The operands of a node when each present one is a constant or a folded value.
fn constant_operands<'a>(
    graph: &'a Graph,
    node: &Node,
    known: &'a HashMap<ValueId, Tensor>,
) -> Option<Vec<Option<&'a Tensor>>> {
    node.inputs
        .iter()
        .map(|input| match input {
            None => Some(None),
            Some(v) => graph.constant_of(*v).or_else(|| known.get(v)).map(Some),
        })
        .collect()
}

/// The result of a `Shape` or `Size` node whose operand has a fully static shape, computed
/// from the type alone (ONNX semantics: `start`/`end` count from the back when negative and
/// are clamped to `[0, rank]`). `None` for other nodes.
fn static_shape_fold(graph: &Graph, node: &Node) -> Option<Tensor> {
    if node.outputs.len() != 1 {
        return None;
    }
    let dims = graph.values.get(node.input(0)?)?.ty.shape.as_static()?;
    match node.op {
        Op::Shape { start, end } => {
            let rank = dims.len();
            let clamp = |i: i64| {
                let i = if i < 0 {
                    i.saturating_add(i64::try_from(rank).ok()?)
                } else {
                    i
                };
                usize::try_from(i.max(0)).ok().map(|i| i.min(rank))
            };
            let (lo, hi) = (clamp(start)?, clamp(end.unwrap_or(i64::MAX))?);
            let picked = dims.get(lo..hi.max(lo))?;
            let values = picked
                .iter()
                .map(|&d| i64::try_from(d).ok())
                .collect::<Option<Vec<i64>>>()?;
            Tensor::from_vec(&[values.len()], values).ok()
        }
        Op::Size {} => {
            let n = crate::shape::checked_product(&dims)?;
            Some(Tensor::scalar(i64::try_from(n).ok()?))
        }
        _ => None,
    }
}

/// Checks a computed result against the node's declared output type (dtype, rank, static
/// dims), as the interpreter does.
fn check_type(graph: &Graph, at: &At, k: usize, o: ValueId, t: &Tensor) -> Result<()> {
    let Some(declared) = graph.values.get(o).map(|v| &v.ty) else {
        return Ok(());
    };
    let fits = declared.dtype == t.dtype()
        && declared.shape.rank() == t.rank()
        && declared
            .shape
            .0
            .iter()
            .zip(t.shape())
            .all(|(d, &n)| d.as_static().is_none_or(|s| s == n));
    if fits {
        Ok(())
    } else {
        Err(IrError::TypeMismatch {
            at: at.clone(),
            output: k,
            declared: declared.clone(),
            inferred: TensorType::of(t),
        })
    }
}

/// Adds the constant that replaces `o`. A named graph output gets a named constant of its own,
/// so that two outputs folding to equal tensors keep their two names; `o` gives its name up.
fn add_result_constant(work: &mut Graph, o: ValueId, is_output: bool, t: Tensor) -> ValueId {
    let name = if is_output {
        work.values.get_mut(o).and_then(|v| v.name.take())
    } else {
        None
    };
    match name {
        Some(name) => work.add_named_constant(Some(name), t),
        None => work.add_constant(t),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::dtype::DType;
    use crate::graph::ValueDef;
    use crate::op::{BinaryOp, UnaryOp};
    use crate::shape::{Dim, Shape};

    /// A stand-in interpreter: f32 `add` and `neg`, `split` of a 1-D f32 tensor in halves, and
    /// an error for everything else. Records which ops it was asked to evaluate.
    fn mock_eval<'a>(
        calls: &'a std::cell::RefCell<Vec<&'static str>>,
    ) -> impl Fn(&Op, &At, &[Option<&Tensor>], usize) -> Result<Vec<Tensor>> + 'a {
        move |op, at, inputs, _n| {
            calls.borrow_mut().push(op.name());
            let f = |i: usize| -> Vec<f32> { inputs[i].unwrap().to_vec::<f32>().unwrap() };
            let shape = inputs[0].unwrap().shape().to_vec();
            let out = match op {
                Op::Binary(BinaryOp::Add) => {
                    let v = f(0).iter().zip(f(1)).map(|(a, b)| a + b).collect();
                    vec![Tensor::from_vec(&shape, v).unwrap()]
                }
                Op::Unary(UnaryOp::Neg) => {
                    vec![Tensor::from_vec(&shape, f(0).iter().map(|a| -a).collect()).unwrap()]
                }
                Op::Split { .. } => {
                    let v = f(0);
                    let (a, b) = v.split_at(v.len() / 2);
                    vec![
                        Tensor::from_slice(&[a.len()], a).unwrap(),
                        Tensor::from_slice(&[b.len()], b).unwrap(),
                    ]
                }
                _ => {
                    return Err(IrError::Eval {
                        at: at.clone(),
                        message: "mock cannot evaluate this".into(),
                    });
                }
            };
            Ok(out)
        }
    }

    /// Folds with no size limit.
    fn fold_constants_with_mock(g: &Graph, eval: &Evaluator<'_>) -> Graph {
        fold_with(g, usize::MAX, eval).unwrap().0
    }

    fn f32s(n: usize) -> TensorType {
        TensorType::new(DType::F32, &[n])
    }

    fn vec_f32(v: &[f32]) -> Tensor {
        Tensor::from_slice(&[v.len()], v).unwrap()
    }

    #[test]
    fn folds_chains_of_constant_nodes_and_keeps_output_names() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32s(2));
        let a = g.add_constant(vec_f32(&[1.0, 2.0]));
        let b = g.add_constant(vec_f32(&[10.0, 20.0]));
        let s = node(&mut g, Op::Binary(BinaryOp::Add), &[a, b], &f32s(2));
        let n = node(&mut g, Op::Unary(UnaryOp::Neg), &[s], &f32s(2));
        let y = node(&mut g, Op::Binary(BinaryOp::Add), &[x, n], &f32s(2));
        output(&mut g, y, "y");
        output(&mut g, n, "negated");
        let (h, changed) = fold_with(&g, 100, &eval).unwrap();
        assert!(changed);
        assert_eq!(
            *calls.borrow(),
            ["add", "neg"],
            "the add reading x is not evaluated"
        );
        assert_eq!(h.nodes.len(), 1);
        assert_eq!(output_names(&h), ["y", "negated"]);
        let folded = vec_f32(&[-11.0, -22.0]);
        assert_eq!(h.constant_of(h.outputs[1]), Some(&folded));
        let add = h.node(def_node(&h, h.outputs[0]).unwrap());
        assert_eq!(add.inputs[1], Some(h.outputs[1]));
        // Nothing is left to fold.
        assert!(!fold_with(&h, 100, &eval).unwrap().1);
    }

    #[test]
    fn outputs_folding_to_equal_tensors_keep_both_names() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let mut g = Graph::new("g");
        let a = g.add_constant(vec_f32(&[1.0]));
        let p = node(&mut g, Op::Binary(BinaryOp::Add), &[a, a], &f32s(1));
        let q = node(&mut g, Op::Binary(BinaryOp::Add), &[a, a], &f32s(1));
        output(&mut g, p, "p");
        output(&mut g, q, "q");
        let h = fold_constants_with_mock(&g, &eval);
        assert_eq!(h.nodes.len(), 0);
        assert_eq!(output_names(&h), ["p", "q"]);
        assert_ne!(h.outputs[0], h.outputs[1]);
        assert_eq!(h.constant_of(h.outputs[0]), Some(&vec_f32(&[2.0])));
    }

    #[test]
    fn results_above_max_elements_stay_computed() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let mut g = Graph::new("g");
        let a = g.add_constant(vec_f32(&[1.0, 2.0, 3.0]));
        let big = node(&mut g, Op::Binary(BinaryOp::Add), &[a, a], &f32s(3));
        let from_big = node(&mut g, Op::Unary(UnaryOp::Neg), &[big], &f32s(3));
        output(&mut g, from_big, "y");
        let (h, changed) = fold_with(&g, 2, &eval).unwrap();
        assert!(!changed);
        assert_eq!(h.nodes.len(), 2);
        assert!(
            calls.borrow().is_empty(),
            "static types > 2 elements: nothing evaluated"
        );
        // With room for 3 elements both fold.
        let (h, _) = fold_with(&g, 3, &eval).unwrap();
        assert_eq!(h.nodes.len(), 0);
        assert_eq!(
            h.constant_of(h.outputs[0]),
            Some(&vec_f32(&[-2.0, -4.0, -6.0]))
        );
    }

    #[test]
    fn multi_output_nodes_fold_output_by_output() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32s(4));
        let a = g.add_constant(vec_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        // Declared with a symbolic dim: evaluation is what tells the size.
        let sym = TensorType {
            dtype: DType::F32,
            shape: Shape(vec![Dim::Symbolic("n".into())]),
        };
        let split = g.push_node(
            Op::Split {
                axis: 0,
                num_outputs: Some(2),
            },
            vec![Some(a), None],
            vec![sym.clone(), sym],
            None,
        );
        let (lo, hi) = (g.nodes[split].outputs[0], g.nodes[split].outputs[1]);
        let y = node(&mut g, Op::Binary(BinaryOp::Add), &[x, lo], &f32s(4));
        let z = node(&mut g, Op::Binary(BinaryOp::Add), &[x, hi], &f32s(4));
        output(&mut g, y, "y");
        output(&mut g, z, "z");
        // Three elements each: both fold, the split goes.
        let (h, _) = fold_with(&g, 3, &eval).unwrap();
        assert_eq!(h.nodes.len(), 2);
        assert!(h.nodes.iter().all(|(_, n)| n.op.name() == "add"));
        // Absent optional operand: the mock was still called, with None for `split`.
        assert_eq!(calls.borrow()[0], "split");
        // Two elements at most: nothing folds, the split stays.
        let (h, changed) = fold_with(&g, 2, &eval).unwrap();
        assert!(!changed);
        assert_eq!(h.nodes.len(), 3);
    }

    #[test]
    fn evaluation_errors_propagate() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let mut g = Graph::new("g");
        let a = g.add_constant(vec_f32(&[1.0]));
        let n = g.push_node(
            Op::Unary(UnaryOp::Exp),
            vec![Some(a)],
            vec![f32s(1)],
            Some("e".into()),
        );
        let y = g.nodes[n].outputs[0];
        output(&mut g, y, "y");
        let e = fold_with(&g, 10, &eval).unwrap_err();
        assert!(
            matches!(&e, IrError::Eval { at, .. } if at.node == "e" && at.op == "exp"),
            "{e}"
        );
    }

    #[test]
    fn a_result_of_the_wrong_type_is_an_error() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let mut g = Graph::new("g");
        let a = g.add_constant(vec_f32(&[1.0, 2.0]));
        let y = node(&mut g, Op::Unary(UnaryOp::Neg), &[a], &f32s(3));
        output(&mut g, y, "y");
        let e = fold_with(&g, 10, &eval).unwrap_err();
        assert!(matches!(e, IrError::TypeMismatch { output: 0, .. }), "{e}");
    }

    #[test]
    fn unused_results_are_not_evaluated() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32s(1));
        let a = g.add_constant(vec_f32(&[1.0]));
        node(&mut g, Op::Unary(UnaryOp::Exp), &[a], &f32s(1));
        output(&mut g, x, "x");
        let (h, changed) = fold_with(&g, 10, &eval).unwrap();
        assert!(!changed);
        assert!(calls.borrow().is_empty());
        assert_eq!(h.nodes.len(), 1, "left for dce");
    }

    fn shape_graph(op: Op, input: TensorType, out: TensorType) -> Graph {
        let mut g = Graph::new("g");
        let x = g.add_input("x", input);
        let s = node(&mut g, op, &[x], &out);
        output(&mut g, s, "s");
        g
    }

    fn i64s(v: &[i64]) -> Tensor {
        Tensor::from_slice(&[v.len()], v).unwrap()
    }

    /// Shape and Size of static shapes fold without any evaluator: the mock fails on them.
    #[test]
    fn shape_and_size_fold_from_static_types() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let x_ty = TensorType::new(DType::F32, &[2, 3, 4]);
        let cases: [(Option<i64>, i64, &[i64]); 7] = [
            (None, 0, &[2, 3, 4]),
            (None, 1, &[3, 4]),
            (None, -1, &[4]),
            (Some(-1), 0, &[2, 3]),
            (Some(2), 2, &[]),
            (Some(1), 2, &[]),
            (Some(100), -100, &[2, 3, 4]),
        ];
        for (end, start, want) in cases {
            let out = TensorType::new(DType::I64, &[want.len()]);
            let g = shape_graph(Op::Shape { start, end }, x_ty.clone(), out);
            let (h, changed) = fold_with(&g, 8, &eval).unwrap();
            assert!(changed);
            assert_eq!(h.nodes.len(), 0);
            assert_eq!(
                h.constant_of(h.outputs[0]),
                Some(&i64s(want)),
                "{start} {end:?}"
            );
            assert_eq!(output_names(&h), ["s"]);
        }
        let g = shape_graph(Op::Size {}, x_ty.clone(), TensorType::new(DType::I64, &[]));
        let h = fold_with(&g, 8, &eval).unwrap().0;
        assert_eq!(h.constant_of(h.outputs[0]), Some(&Tensor::scalar(24i64)));
        let empty = TensorType::new(DType::U8, &[5, 0]);
        let g = shape_graph(Op::Size {}, empty, TensorType::new(DType::I64, &[]));
        let h = fold_with(&g, 8, &eval).unwrap().0;
        assert_eq!(h.constant_of(h.outputs[0]), Some(&Tensor::scalar(0i64)));
        let scalar = TensorType::new(DType::F64, &[]);
        let g = shape_graph(
            Op::Shape {
                start: 0,
                end: None,
            },
            scalar,
            TensorType::new(DType::I64, &[0]),
        );
        let h = fold_with(&g, 8, &eval).unwrap().0;
        assert_eq!(h.constant_of(h.outputs[0]), Some(&i64s(&[])));
        assert!(calls.borrow().is_empty());
    }

    #[test]
    fn shapes_with_symbolic_dims_or_too_many_dims_do_not_fold() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let sym = TensorType {
            dtype: DType::F32,
            shape: Shape(vec![Dim::Static(2), Dim::Symbolic("n".into())]),
        };
        let g = shape_graph(
            Op::Shape {
                start: 0,
                end: None,
            },
            sym,
            TensorType::new(DType::I64, &[2]),
        );
        let (h, changed) = fold_with(&g, 8, &eval).unwrap();
        assert!(!changed);
        assert_eq!(h.nodes.len(), 1);
        assert!(matches!(h.value(h.outputs[0]).def, ValueDef::Node(..)));
        let g = shape_graph(
            Op::Shape {
                start: 0,
                end: None,
            },
            TensorType::new(DType::F32, &[1, 1, 1]),
            TensorType::new(DType::I64, &[3]),
        );
        assert!(!fold_with(&g, 2, &eval).unwrap().1);
    }

    #[test]
    fn a_declared_shape_type_that_disagrees_is_an_error() {
        let calls = Default::default();
        let eval = mock_eval(&calls);
        let g = shape_graph(
            Op::Shape {
                start: 0,
                end: None,
            },
            TensorType::new(DType::F32, &[2, 3]),
            TensorType::new(DType::I32, &[2]),
        );
        let e = fold_with(&g, 8, &eval).unwrap_err();
        assert!(matches!(e, IrError::TypeMismatch { .. }), "{e}");
    }

    // These need the interpreter's op families, which are implemented on other branches.

    fn interp_graph(build: impl FnOnce(&mut Graph) -> ValueId) -> Graph {
        let mut g = Graph::new("g");
        let y = build(&mut g);
        output(&mut g, y, "y");
        g
    }

    #[test]

    fn folds_add_through_the_interpreter() {
        let g = interp_graph(|g| {
            let a = g.add_constant(Tensor::from_vec(&[2, 1], vec![1i32, 2]).unwrap());
            let b = g.add_constant(Tensor::from_vec(&[3], vec![10i32, 20, 30]).unwrap());
            node(
                g,
                Op::Binary(BinaryOp::Add),
                &[a, b],
                &TensorType::new(DType::I32, &[2, 3]),
            )
        });
        let h = fold_constants(&g, 100).unwrap();
        assert_eq!(h.nodes.len(), 0);
        let want = Tensor::from_vec(&[2, 3], vec![11i32, 21, 31, 12, 22, 32]).unwrap();
        assert_eq!(h.constant_of(h.outputs[0]), Some(&want));
    }

    #[test]

    fn folds_shape_reshape_concat_through_the_interpreter() {
        let g = interp_graph(|g| {
            let data =
                g.add_constant(Tensor::from_vec(&[2, 3], vec![1f32, 2., 3., 4., 5., 6.]).unwrap());
            let s = node(
                g,
                Op::Shape {
                    start: 0,
                    end: None,
                },
                &[data],
                &TensorType::new(DType::I64, &[2]),
            );
            let tail = g.add_constant(Tensor::from_vec(&[1], vec![1i64]).unwrap());
            let target = node(
                g,
                Op::Concat { axis: 0 },
                &[tail, s],
                &TensorType::new(DType::I64, &[3]),
            );
            node(
                g,
                Op::Reshape { allowzero: false },
                &[data, target],
                &TensorType::new(DType::F32, &[1, 2, 3]),
            )
        });
        let h = fold_constants(&g, 100).unwrap();
        assert_eq!(h.nodes.len(), 0);
        let want = Tensor::from_vec(&[1, 2, 3], vec![1f32, 2., 3., 4., 5., 6.]).unwrap();
        assert_eq!(h.constant_of(h.outputs[0]), Some(&want));
    }

    #[test]

    fn interpreter_errors_propagate() {
        let g = interp_graph(|g| {
            let data = g.add_constant(Tensor::from_vec(&[3], vec![1f32, 2., 3.]).unwrap());
            let idx = g.add_constant(Tensor::from_vec(&[1], vec![5i64]).unwrap());
            node(
                g,
                Op::Gather { axis: 0 },
                &[data, idx],
                &TensorType::new(DType::F32, &[1]),
            )
        });
        assert!(matches!(fold_constants(&g, 100), Err(IrError::Eval { .. })));
    }
}
