//! Divergence bisection (`tessera diff`): runs a graph on a compiling backend step by step,
//! reading back what every kernel wrote, evaluates the same lowered graph on the reference
//! interpreter, and finds the first fused kernel whose results differ beyond the tolerance
//! policy — with the graph nodes fused into it and its kernel IR.

use crate::tolerance::{self, CaseScale, Verdict};
use std::collections::HashMap;
use tessera_ir::plan::Step;
use tessera_ir::{Graph, NodeId, Tensor, ValueId};
use tessera_runtime::compiled::{CompiledBackend, Lowered, lower_graph};
use tessera_runtime::{KernelCache, NamedTensors, Prepared, RuntimeError};

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Lowering, compiling or running failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The graph is invalid, or the reference failed on it.
    #[error(transparent)]
    Ir(#[from] tessera_ir::IrError),
    /// Nothing to compare kernel by kernel.
    #[error("{0}")]
    NotComparable(String),
}

/// The first kernel whose results diverge.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// Index of the step in the plan.
    pub step: usize,
    /// The kernel's name.
    pub kernel: String,
    /// The graph nodes fused into it: `(label, operator)`, in order (the root last).
    pub nodes: Vec<(String, String)>,
    /// The kernel IR, printed.
    pub kernel_ir: String,
    /// The root node's output that differs.
    pub value: String,
    /// How it differs.
    pub verdict: Verdict,
}

/// What a diff found.
#[derive(Clone, Debug)]
pub struct DiffReport {
    /// The backend compared.
    pub backend: String,
    /// Kernel steps in the plan.
    pub kernels: usize,
    /// Kernel results compared with the reference.
    pub compared: usize,
    /// The first divergent kernel, if any.
    pub first: Option<Divergence>,
}

impl DiffReport {
    /// A human-readable account: either "no divergence" or the kernel, its nodes, the error
    /// and the kernel IR.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "backend {}: {} kernels, {} kernel results compared with the reference\n",
            self.backend, self.kernels, self.compared
        );
        match &self.first {
            None => s.push_str("no kernel diverges beyond tolerance\n"),
            Some(d) => {
                s.push_str(&format!(
                    "first divergent kernel: step {} `{}` (result `{}`)\n  {}\n  max abs {:.3e}, max rel {:.3e}, max ulp {}\nfused graph nodes:\n",
                    d.step,
                    d.kernel,
                    d.value,
                    d.verdict.mismatch.as_deref().unwrap_or(""),
                    d.verdict.max_abs,
                    d.verdict.max_rel,
                    d.verdict.max_ulp
                ));
                for (label, op) in &d.nodes {
                    s.push_str(&format!("  {label} ({op})\n"));
                }
                s.push_str("kernel IR:\n");
                s.push_str(&d.kernel_ir);
                if !d.kernel_ir.ends_with('\n') {
                    s.push('\n');
                }
            }
        }
        s
    }
}

/// Runs `graph` on `backend` kernel by kernel against the reference interpreter.
pub fn diff(
    graph: &Graph,
    inputs: &NamedTensors,
    backend: &CompiledBackend,
) -> Result<DiffReport, DiffError> {
    tessera_ir::verify::verify(graph)?;
    let (g, plan) = match lower_graph(graph, backend.target.desc())? {
        Lowered::Planned { graph, plan, .. } => (graph, plan),
        Lowered::Interpreted(_) => {
            return Err(DiffError::NotComparable(
                "the graph's shapes depend on its data: it runs whole on the interpreter, with no kernels to compare".into(),
            ));
        }
    };
    // The reference value of every node output of the lowered graph.
    let mut all = g.clone();
    let mut produced: Vec<ValueId> = Vec::new();
    for (_, node) in g.nodes.iter() {
        produced.extend(node.outputs.iter().copied());
    }
    all.outputs = produced.clone();
    let ordered: Vec<Tensor> = g
        .inputs
        .iter()
        .map(|&v| {
            let name = g.value_label(v);
            inputs
                .get(&name)
                .cloned()
                .ok_or_else(|| DiffError::NotComparable(format!("input `{name}` is not given")))
        })
        .collect::<Result<_, _>>()?;
    let reference: HashMap<ValueId, Tensor> = produced
        .iter()
        .copied()
        .zip(tessera_ir::interp::evaluate(&all, inputs)?)
        .collect();
    let kernels = plan
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Kernel(_)))
        .count();
    let prepared = Prepared::new(
        plan,
        &*backend.target,
        backend.device.clone(),
        KernelCache::global(),
    )?;
    let mut observed: Vec<(usize, Vec<(usize, Tensor)>)> = Vec::new();
    let refs: Vec<&Tensor> = ordered.iter().collect();
    prepared.run_observed(&refs, &mut |s, written| observed.push((s, written)))?;
    let by_label: HashMap<String, NodeId> = g
        .nodes
        .iter()
        .map(|(id, _)| (g.node_label(id), id))
        .collect();
    let mut report = DiffReport {
        backend: backend.name.clone(),
        kernels,
        compared: 0,
        first: None,
    };
    for (s, written) in observed {
        let Step::Kernel(k) = &prepared.plan().steps[s] else {
            continue;
        };
        let Some(&root) = k.nodes.last().and_then(|l| by_label.get(l)) else {
            continue;
        };
        let node = g.node(root);
        let mut unused: Vec<ValueId> = node.outputs.clone();
        let terms = node
            .inputs
            .iter()
            .flatten()
            .filter_map(|&v| g.value(v).ty.shape.num_elements())
            .max()
            .unwrap_or(1);
        let magnitude = node
            .inputs
            .iter()
            .flatten()
            .filter_map(|v| reference.get(v).or_else(|| inputs.get(&g.value_label(*v))))
            .map(max_abs)
            .fold(0.0, f64::max);
        for (_, got) in written {
            let Some(pos) = unused.iter().position(|&v| {
                reference
                    .get(&v)
                    .is_some_and(|t| t.dtype() == got.dtype() && t.shape() == got.shape())
            }) else {
                continue;
            };
            let v = unused.remove(pos);
            let want = &reference[&v];
            let fused_ops = k
                .nodes
                .iter()
                .filter_map(|l| by_label.get(l).map(|&n| g.node(n).op.name()));
            let bound =
                tolerance::bound_for_all(fused_ops, want.dtype(), CaseScale { terms, magnitude });
            let verdict = tolerance::check(want, &got, bound);
            report.compared += 1;
            if verdict.mismatch.is_some() {
                report.first = Some(Divergence {
                    step: s,
                    kernel: k.kernel.name.clone(),
                    nodes: k
                        .nodes
                        .iter()
                        .map(|l| {
                            let op = by_label.get(l).map_or("?", |&n| g.node(n).op.name());
                            (l.clone(), op.to_string())
                        })
                        .collect(),
                    kernel_ir: tessera_ir::kernel::print_kernel(&k.kernel),
                    value: g.value_label(v),
                    verdict,
                });
                return Ok(report);
            }
        }
    }
    Ok(report)
}

fn max_abs(t: &Tensor) -> f64 {
    if !t.dtype().is_float() {
        return 0.0;
    }
    (0..t.len())
        .map(|i| t.get_f64(i).abs())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}
