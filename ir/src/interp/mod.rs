//! The reference interpreter: executes every graph operator on the host, for clarity and
//! exactness rather than speed. It is the oracle every backend is compared with.
//!
//! Values are widened to [`values::Arr`] (f64 for floats, i128 for integers), computed exactly
//! or in f64, and narrowed to the output dtype with round-to-nearest-even (floats) or
//! two's-complement wrapping (integers).

pub mod elementwise;
pub mod grid_sample;
pub mod linalg;
pub mod movement;
pub mod reduce;
pub mod resize;
pub mod rounding;
pub mod signal;
pub mod tfidf;
pub mod values;
pub mod vision;

use crate::error::{At, IrError, Result};
use crate::graph::{Graph, TensorType, ValueDef, ValueId};
use crate::op::Op;
use crate::tensor::Tensor;
use std::collections::HashMap;

/// Evaluates one operator on concrete inputs (`None` = absent optional input), producing
/// `num_outputs` results (the node's output count; optional trailing outputs may be asked for).
pub fn eval_op(
    op: &Op,
    at: &At,
    inputs: &[Option<&Tensor>],
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    let out = match op {
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Variadic(_)
        | Op::LeakyRelu { .. }
        | Op::Elu { .. }
        | Op::Selu { .. }
        | Op::Celu { .. }
        | Op::HardSigmoid { .. }
        | Op::ThresholdedRelu { .. }
        | Op::Gelu { .. }
        | Op::Shrink { .. }
        | Op::IsInf { .. }
        | Op::Cast { .. }
        | Op::Clip {}
        | Op::Where {} => elementwise::eval(op, at, inputs)?,
        Op::Reduce { .. }
        | Op::ArgMax { .. }
        | Op::ArgMin { .. }
        | Op::Softmax { .. }
        | Op::LogSoftmax { .. }
        | Op::Hardmax { .. }
        | Op::CumSum { .. }
        | Op::TopK { .. }
        | Op::BatchNormalization { .. }
        | Op::InstanceNormalization { .. }
        | Op::LayerNormalization { .. } => reduce::eval(op, at, inputs, num_outputs)?,
        Op::MatMul {}
        | Op::Gemm { .. }
        | Op::Einsum { .. }
        | Op::Conv { .. }
        | Op::ConvTranspose { .. }
        | Op::MaxPool { .. }
        | Op::AveragePool { .. }
        | Op::GlobalAveragePool {}
        | Op::GlobalMaxPool {} => linalg::eval(op, at, inputs, num_outputs)?,
        Op::Resize { .. } => resize::eval(op, at, inputs)?,
        Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Expand {}
        | Op::Squeeze {}
        | Op::Unsqueeze {}
        | Op::Flatten { .. }
        | Op::Concat { .. }
        | Op::Split { .. }
        | Op::Slice {}
        | Op::Gather { .. }
        | Op::GatherElements { .. }
        | Op::GatherND { .. }
        | Op::ScatterND { .. }
        | Op::ScatterElements { .. }
        | Op::Pad { .. }
        | Op::Tile {}
        | Op::Shape { .. }
        | Op::Size {}
        | Op::Range {}
        | Op::ConstantOfShape { .. }
        | Op::Trilu { .. }
        | Op::Dropout { .. }
        | Op::NonZero {}
        | Op::AsStrided { .. } => movement::eval(op, at, inputs, num_outputs)?,
        Op::CumProd { .. }
        | Op::BitCast { .. }
        | Op::Det {}
        | Op::Dft { .. }
        | Op::Stft { .. }
        | Op::MelWeightMatrix { .. } => signal::eval(op, at, inputs)?,
        Op::GridSample { .. } => grid_sample::eval(op, at, inputs)?,
        Op::TfIdfVectorizer { .. } => tfidf::eval(op, at, inputs)?,
        Op::NonMaxSuppression { .. }
        | Op::Unique { .. }
        | Op::Col2Im { .. }
        | Op::RoiAlign { .. }
        | Op::DeformConv { .. } => vision::eval(op, at, inputs, num_outputs)?,
    };
    if out.len() < num_outputs {
        return Err(IrError::Arity {
            at: at.clone(),
            what: "outputs",
            expected: format!("at most {}", out.len()),
            actual: num_outputs,
        });
    }
    Ok(out.into_iter().take(num_outputs).collect())
}

/// Checks supplied inputs against the graph's declared inputs: every input present, none
/// unknown, dtypes equal and static dims equal (symbolic dims accept any extent).
pub fn check_inputs(graph: &Graph, inputs: &HashMap<String, Tensor>) -> Result<()> {
    let listing = || {
        graph
            .inputs
            .iter()
            .map(|&v| format!("{}: {}", graph.value_label(v), graph.value(v).ty))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in inputs.keys() {
        if graph.input_named(name).is_none() {
            return Err(IrError::UnknownInput {
                name: name.clone(),
                expected: listing(),
            });
        }
    }
    for &v in &graph.inputs {
        let val = graph.value(v);
        let name = graph.value_label(v);
        let t = inputs.get(&name).ok_or_else(|| IrError::MissingInput {
            name: name.clone(),
            expected: val.ty.clone(),
        })?;
        let actual = TensorType::of(t);
        let dims_ok = val.ty.shape.rank() == t.rank()
            && val
                .ty
                .shape
                .0
                .iter()
                .zip(t.shape())
                .all(|(d, &n)| d.as_static().is_none_or(|s| s == n));
        if val.ty.dtype != t.dtype() || !dims_ok {
            return Err(IrError::InputMismatch {
                name,
                expected: val.ty.clone(),
                actual,
            });
        }
    }
    Ok(())
}

/// Runs a whole graph on named inputs; returns the outputs in graph order.
///
/// Each node's results are checked against the node's declared output types (static dims),
/// so an inference bug cannot pass silently.
pub fn evaluate(graph: &Graph, inputs: &HashMap<String, Tensor>) -> Result<Vec<Tensor>> {
    check_inputs(graph, inputs)?;
    let mut env: HashMap<ValueId, Tensor> = HashMap::new();
    let lookup = |env: &HashMap<ValueId, Tensor>, v: ValueId| -> Option<Tensor> {
        match graph.value(v).def {
            ValueDef::Input(_) => inputs.get(&graph.value_label(v)).cloned(),
            ValueDef::Constant(c) => Some(graph.constants[c].clone()),
            ValueDef::Node(..) => env.get(&v).cloned(),
        }
    };
    let users = graph.users();
    let mut remaining: Vec<usize> = users.iter().map(|u| u.len()).collect();
    for &o in &graph.outputs {
        remaining[o.index()] += 1;
    }
    for (id, node) in graph.nodes.iter() {
        let at = At {
            node: graph.node_label(id),
            op: node.op.name(),
        };
        let mut args = Vec::with_capacity(node.inputs.len());
        for (k, inp) in node.inputs.iter().enumerate() {
            match inp {
                None => args.push(None),
                Some(v) => args.push(Some(lookup(&env, *v).ok_or(IrError::UndefinedValue {
                    at: at.clone(),
                    input: k,
                })?)),
            }
        }
        let refs: Vec<Option<&Tensor>> = args.iter().map(|a| a.as_ref()).collect();
        let outs = eval_op(&node.op, &at, &refs, node.outputs.len())?;
        for (k, (t, &ov)) in outs.into_iter().zip(&node.outputs).enumerate() {
            let declared = &graph.value(ov).ty;
            let ok = declared.dtype == t.dtype()
                && declared.shape.rank() == t.rank()
                && declared
                    .shape
                    .0
                    .iter()
                    .zip(t.shape())
                    .all(|(d, &n)| d.as_static().is_none_or(|s| s == n));
            if !ok {
                return Err(IrError::TypeMismatch {
                    at: at.clone(),
                    output: k,
                    declared: declared.clone(),
                    inferred: TensorType::of(&t),
                });
            }
            env.insert(ov, t);
        }
        // Free values nobody reads any more.
        let mut read: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        read.sort();
        read.dedup();
        for v in &read {
            let r = &mut remaining[v.index()];
            *r = r.saturating_sub(1);
            if *r == 0 {
                env.remove(v);
            }
        }
    }
    graph
        .outputs
        .iter()
        .map(|&o| {
            lookup(&env, o).ok_or_else(|| IrError::Structure {
                graph: graph.name.clone(),
                message: format!("output `{}` is never computed", graph.value_label(o)),
            })
        })
        .collect()
}
