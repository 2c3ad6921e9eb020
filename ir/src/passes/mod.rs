//! Graph passes: dead-code elimination, common-subexpression elimination and constant folding.
//!
//! Every pass takes a graph and returns a new, compacted one (built with [`Graph::rebuilt`]);
//! graph inputs, and the order and names of graph outputs, never change.

mod cse;
mod dce;
pub mod decompose;
mod fold;
pub mod specialize;

pub use cse::cse;
pub use dce::dce;
pub use fold::fold_constants;

use crate::error::Result;
use crate::graph::{Graph, ValueDef};

/// The largest result (in elements) [`simplify`] turns into a constant.
pub const SIMPLIFY_MAX_FOLD_ELEMENTS: usize = 1 << 16;

/// At most this many fold → CSE → DCE rounds run in [`simplify`].
const MAX_SIMPLIFY_ROUNDS: usize = 32;

/// Runs constant folding, CSE and DCE, round after round, until a round changes nothing (or
/// [`MAX_SIMPLIFY_ROUNDS`] rounds have run). Folding keeps results of up to
/// [`SIMPLIFY_MAX_FOLD_ELEMENTS`] elements. Dead code is removed once before the first round,
/// so that it is never evaluated.
///
/// Errors are those of [`fold_constants`]: a node with constant inputs that fails to evaluate.
pub fn simplify(graph: &Graph) -> Result<Graph> {
    let mut g = dce(graph);
    for _ in 0..MAX_SIMPLIFY_ROUNDS {
        let (folded, f) = fold::fold_with(&g, SIMPLIFY_MAX_FOLD_ELEMENTS, &crate::interp::eval_op)?;
        let (merged, c) = cse::cse_tracked(&folded);
        let (live, d) = dce::dce_tracked(&merged);
        g = live;
        if !(f || c || d) {
            break;
        }
    }
    Ok(g)
}

/// Gives each graph output of `new` the name the same output has in `orig`, where `orig`'s had
/// one. Passes call it after forwarding an output to a stand-in value (a folded constant, the
/// surviving duplicate of a node), which may carry another name or none. Graph inputs are never
/// renamed.
fn restore_output_names(orig: &Graph, new: &mut Graph) {
    for (&o, &n) in orig.outputs.iter().zip(&new.outputs) {
        let Some(name) = orig.values.get(o).and_then(|v| v.name.clone()) else {
            continue;
        };
        if let Some(v) = new.values.get_mut(n)
            && !matches!(v.def, ValueDef::Input(_))
        {
            v.name = Some(name);
        }
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Small graph builders shared by the pass tests.

    use crate::graph::{Graph, NodeId, TensorType, ValueId};
    use crate::op::Op;

    /// Appends a node with one output of type `ty`; returns that output.
    pub fn node(g: &mut Graph, op: Op, inputs: &[ValueId], ty: &TensorType) -> ValueId {
        let n = g.push_node(
            op,
            inputs.iter().map(|&v| Some(v)).collect(),
            vec![ty.clone()],
            None,
        );
        g.nodes[n].outputs[0]
    }

    /// Names `v` and marks it as a graph output.
    pub fn output(g: &mut Graph, v: ValueId, name: &str) {
        g.values[v].name = Some(name.to_string());
        g.add_output(v);
    }

    /// The node defining a value.
    pub fn def_node(g: &Graph, v: ValueId) -> Option<NodeId> {
        match g.value(v).def {
            crate::graph::ValueDef::Node(n, _) => Some(n),
            _ => None,
        }
    }

    /// The names of the graph outputs, in order.
    pub fn output_names(g: &Graph) -> Vec<String> {
        g.outputs.iter().map(|&o| g.value_label(o)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::dtype::DType;
    use crate::graph::TensorType;
    use crate::op::{BinaryOp, Op, UnaryOp};
    use crate::tensor::Tensor;

    /// Shape folding, CSE and DCE need no interpreter: simplify runs them to a fixpoint.
    #[test]
    fn simplify_without_evaluation() {
        let mut g = Graph::new("g");
        let t = TensorType::new(DType::F32, &[2, 3]);
        let x = g.add_input("x", t.clone());
        let shape_ty = TensorType::new(DType::I64, &[2]);
        let s1 = node(
            &mut g,
            Op::Shape {
                start: 0,
                end: None,
            },
            &[x],
            &shape_ty,
        );
        let s2 = node(
            &mut g,
            Op::Shape {
                start: 0,
                end: None,
            },
            &[x],
            &shape_ty,
        );
        let r1 = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &t);
        let r2 = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &t);
        let sum = node(&mut g, Op::Binary(BinaryOp::Add), &[r1, r2], &t);
        let _dead = node(&mut g, Op::Unary(UnaryOp::Neg), &[sum], &t);
        output(&mut g, sum, "sum");
        output(&mut g, s1, "s1");
        output(&mut g, s2, "s2");
        let h = simplify(&g).unwrap();
        assert_eq!(h.nodes.len(), 2, "one relu and the add remain");
        assert_eq!(output_names(&h), ["sum", "s1", "s2"]);
        let want = Tensor::from_vec(&[2], vec![2i64, 3]).unwrap();
        assert_eq!(h.constant_of(h.outputs[1]), Some(&want));
        assert_eq!(h.constant_of(h.outputs[2]), Some(&want));
        let add = def_node(&h, h.outputs[0]).unwrap();
        let ins = &h.node(add).inputs;
        assert_eq!(ins[0], ins[1], "both add operands are the one relu");
        // A second run finds nothing left to do.
        assert_eq!(simplify(&h).unwrap().nodes.len(), 2);
    }

    #[test]

    fn simplify_folds_through_the_interpreter() {
        let mut g = Graph::new("g");
        let t = TensorType::new(DType::F32, &[2]);
        let x = g.add_input("x", t.clone());
        let a = g.add_constant(Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap());
        let b = g.add_constant(Tensor::from_vec(&[2], vec![10f32, 20.0]).unwrap());
        let ab1 = node(&mut g, Op::Binary(BinaryOp::Add), &[a, b], &t);
        let ab2 = node(&mut g, Op::Binary(BinaryOp::Add), &[b, a], &t);
        let y1 = node(&mut g, Op::Binary(BinaryOp::Mul), &[x, ab1], &t);
        let y2 = node(&mut g, Op::Binary(BinaryOp::Mul), &[x, ab2], &t);
        let y = node(&mut g, Op::Binary(BinaryOp::Sub), &[y1, y2], &t);
        output(&mut g, y, "y");
        let h = simplify(&g).unwrap();
        // a+b and b+a fold to the same constant, so the two muls merge.
        assert_eq!(h.nodes.len(), 2);
        assert_eq!(h.constants.len(), 1);
        assert_eq!(
            h.constants.iter().next().map(|(_, t)| t.clone()),
            Some(Tensor::from_vec(&[2], vec![11f32, 22.0]).unwrap())
        );
        assert_eq!(output_names(&h), ["y"]);
    }
}
