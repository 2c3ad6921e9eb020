//! Specialization: fixes a graph's input types to static ones and binds chosen inputs to
//! constant values, then re-infers every node's output types, so that symbolic dims become
//! static (run [`crate::passes::simplify`] afterwards to fold what became constant).

use crate::error::{IrError, Result};
use crate::graph::{Graph, TensorType, ValueId};
use crate::infer::infer_node;
use crate::tensor::Tensor;
use std::collections::HashMap;

/// True when `concrete` may stand for `declared`: same dtype and rank, and every static dim of
/// `declared` equal.
fn fits(declared: &TensorType, concrete: &TensorType) -> bool {
    declared.dtype == concrete.dtype
        && declared.shape.rank() == concrete.shape.rank()
        && declared
            .shape
            .0
            .iter()
            .zip(&concrete.shape.0)
            .all(|(d, c)| crate::infer::dims_compatible(d, c))
}

/// The graph's inputs in words, for [`IrError::UnknownInput`].
fn input_list(graph: &Graph) -> String {
    graph
        .inputs
        .iter()
        .map(|&v| format!("{}: {}", graph.value_label(v), graph.value(v).ty))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A copy of `graph` with the types of the inputs named in `input_types` replaced, the inputs
/// named in `bind` turned into constants (they stop being graph inputs), and every node's
/// output types re-inferred.
///
/// Errors: a name that is no graph input ([`IrError::UnknownInput`]); a type or tensor that
/// does not fit the declared input type ([`IrError::InputMismatch`]); and any inference error
/// of a node under the new types.
pub fn specialize(
    graph: &Graph,
    input_types: &[(String, TensorType)],
    bind: &HashMap<String, Tensor>,
) -> Result<Graph> {
    let names: Vec<&str> = input_types
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(bind.keys().map(String::as_str))
        .collect();
    if let Some(bad) = names.iter().find(|n| graph.input_named(n).is_none()) {
        return Err(IrError::UnknownInput {
            name: bad.to_string(),
            expected: input_list(graph),
        });
    }
    let mut out = Graph::new(graph.name.clone());
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    for &i in &graph.inputs {
        let v = graph.value(i);
        let name = v.name.clone().unwrap_or_default();
        let mismatch = |actual: TensorType| IrError::InputMismatch {
            name: name.clone(),
            expected: v.ty.clone(),
            actual,
        };
        let nv = if let Some(t) = bind.get(&name) {
            if !fits(&v.ty, &TensorType::of(t)) {
                return Err(mismatch(TensorType::of(t)));
            }
            out.add_named_constant(Some(name.clone()), t.clone())
        } else {
            let ty = match input_types.iter().rev().find(|(n, _)| *n == name) {
                Some((_, ty)) if !fits(&v.ty, ty) => return Err(mismatch(ty.clone())),
                Some((_, ty)) => ty.clone(),
                None => v.ty.clone(),
            };
            out.add_input(name.clone(), ty)
        };
        map.insert(i, nv);
    }
    for (_, node) in graph.nodes.iter() {
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for inp in &node.inputs {
            inputs.push(match inp {
                None => None,
                Some(v) => Some(value_in(graph, &mut out, &mut map, *v)?),
            });
        }
        let tys: Vec<TensorType> = node
            .outputs
            .iter()
            .map(|&o| graph.value(o).ty.clone())
            .collect();
        let nid = out.push_node(node.op.clone(), inputs, tys, node.name.clone());
        let inferred = infer_node(&out, nid)?;
        let outs = out.node(nid).outputs.clone();
        for (k, (&o, &n)) in node.outputs.iter().zip(&outs).enumerate() {
            if let Some(t) = inferred.get(k) {
                out.values[n].ty = t.clone();
            }
            out.values[n].name = graph.value(o).name.clone();
            map.insert(o, n);
        }
    }
    for &o in &graph.outputs {
        let v = value_in(graph, &mut out, &mut map, o)?;
        out.add_output(v);
    }
    Ok(out)
}

/// The value of `out` standing for `v` of `graph` (constants are copied on first use).
fn value_in(
    graph: &Graph,
    out: &mut Graph,
    map: &mut HashMap<ValueId, ValueId>,
    v: ValueId,
) -> Result<ValueId> {
    if let Some(&n) = map.get(&v) {
        return Ok(n);
    }
    let Some(t) = graph.constant_of(v) else {
        return Err(IrError::Structure {
            graph: graph.name.clone(),
            message: format!(
                "value `{}` is used before it is defined",
                graph.value_label(v)
            ),
        });
    };
    let n = match &graph.value(v).name {
        Some(name) => out.add_named_constant(Some(name.clone()), t.clone()),
        None => out.add_constant(t.clone()),
    };
    map.insert(v, n);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::{Op, UnaryOp};
    use crate::passes::test_util::{node, output};
    use crate::shape::{Dim, Shape};

    /// `y = reshape(relu(x), s)` with `x: f32[?n, 3]` and `s` a graph input.
    fn symbolic() -> Graph {
        let mut g = Graph::new("g");
        let xt = TensorType {
            dtype: DType::F32,
            shape: Shape(vec![Dim::Symbolic("n".into()), Dim::Static(3)]),
        };
        let x = g.add_input("x", xt.clone());
        let s = g.add_input("s", TensorType::new(DType::I64, &[2]));
        let r = node(&mut g, Op::Unary(UnaryOp::Relu), &[x], &xt);
        let yt = TensorType {
            dtype: DType::F32,
            shape: Shape(vec![Dim::Symbolic("a".into()), Dim::Symbolic("b".into())]),
        };
        let y = node(&mut g, Op::Reshape { allowzero: false }, &[r, s], &yt);
        output(&mut g, y, "y");
        g
    }

    #[test]
    fn static_types_and_bound_shapes_propagate() {
        let g = symbolic();
        let bind = HashMap::from([(
            "s".to_string(),
            Tensor::from_vec(&[2], vec![3i64, 4]).unwrap(),
        )]);
        let h = specialize(
            &g,
            &[("x".into(), TensorType::new(DType::F32, &[4, 3]))],
            &bind,
        )
        .unwrap();
        assert_eq!(h.inputs.len(), 1);
        assert_eq!(
            h.value(h.inputs[0]).ty,
            TensorType::new(DType::F32, &[4, 3])
        );
        assert_eq!(
            h.value(h.outputs[0]).ty,
            TensorType::new(DType::F32, &[3, 4])
        );
        assert_eq!(h.value_label(h.outputs[0]), "y");
        let x = Tensor::from_vec(&[4, 3], (0..12).map(|v| v as f32 - 6.0).collect()).unwrap();
        let got = crate::interp::evaluate(&h, &HashMap::from([("x".to_string(), x)])).unwrap();
        assert_eq!(got[0].shape(), &[3, 4]);
        assert_eq!(got[0].get_f64(11), 5.0);
    }

    #[test]
    fn errors_are_typed() {
        let g = symbolic();
        let none = HashMap::new();
        let bad_name = specialize(
            &g,
            &[("z".into(), TensorType::new(DType::F32, &[4, 3]))],
            &none,
        );
        assert!(matches!(bad_name, Err(IrError::UnknownInput { .. })));
        let bad_dim = specialize(
            &g,
            &[("x".into(), TensorType::new(DType::F32, &[4, 2]))],
            &none,
        );
        assert!(matches!(bad_dim, Err(IrError::InputMismatch { .. })));
        let bad_dtype = specialize(
            &g,
            &[("x".into(), TensorType::new(DType::F64, &[4, 3]))],
            &none,
        );
        assert!(matches!(bad_dtype, Err(IrError::InputMismatch { .. })));
        // A bound shape that does not fit the element count fails inference.
        let bind = HashMap::from([(
            "s".to_string(),
            Tensor::from_vec(&[2], vec![5i64, 5]).unwrap(),
        )]);
        let r = specialize(
            &g,
            &[("x".into(), TensorType::new(DType::F32, &[4, 3]))],
            &bind,
        );
        assert!(r.is_err());
        let wrong = HashMap::from([("s".to_string(), Tensor::scalar(1i64))]);
        assert!(matches!(
            specialize(&g, &[], &wrong),
            Err(IrError::InputMismatch { .. })
        ));
    }
}
