//! [`host_plan`]: the plan that places every node of a graph on the host — a baseline for tests
//! and for checking the runtime on its own. (The real lowering, fusion and scheduling, is
//! [`crate::compiled::lower_graph`].)

use crate::error::RuntimeError;
use std::collections::HashMap;
use tessera_ir::graph::{Graph, ValueDef, ValueId};
use tessera_ir::plan::{BufferId, BufferKind, HostStep, Plan, PlanBuffer, Step};

/// A plan that runs every node of `graph` on the host, in graph order: one buffer per graph
/// input, per constant that is read, and per node output. Every value must have a static shape
/// (specialize a graph with symbolic dims first).
pub fn host_plan(graph: &Graph) -> Result<Plan, RuntimeError> {
    let mut b = PlanBuilder {
        graph,
        plan: Plan::default(),
        buffer_of: HashMap::new(),
    };
    for (i, &v) in graph.inputs.iter().enumerate() {
        let id = b.buffer(v, BufferKind::Input(i), "graph input")?;
        b.plan.inputs.push((graph.value_label(v), id));
    }
    for (n, node) in graph.nodes.iter() {
        let label = graph.node_label(n);
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for v in &node.inputs {
            inputs.push(match v {
                Some(v) => Some(b.operand(*v, &label)?),
                None => None,
            });
        }
        let mut outputs = Vec::with_capacity(node.outputs.len());
        for &o in &node.outputs {
            outputs.push(b.buffer(o, BufferKind::Temp, &label)?);
        }
        b.plan.steps.push(Step::Host(HostStep {
            node: label,
            op: node.op.clone(),
            inputs,
            outputs,
        }));
    }
    for &o in &graph.outputs {
        let id = b.operand(o, "graph output")?;
        b.plan.outputs.push((graph.value_label(o), id));
    }
    Ok(b.plan)
}

struct PlanBuilder<'g> {
    graph: &'g Graph,
    plan: Plan,
    buffer_of: HashMap<ValueId, BufferId>,
}

impl PlanBuilder<'_> {
    /// A new buffer for value `v`.
    fn buffer(
        &mut self,
        v: ValueId,
        kind: BufferKind,
        user: &str,
    ) -> Result<BufferId, RuntimeError> {
        let ty = &self.graph.value(v).ty;
        let shape = ty.shape.as_static().ok_or_else(|| RuntimeError::Plan {
            step: self.plan.steps.len(),
            nodes: user.to_string(),
            message: format!(
                "value `{}` has the non-static type {ty}; specialize the graph to concrete input shapes first",
                self.graph.value_label(v)
            ),
        })?;
        self.plan.buffers.push(PlanBuffer {
            dtype: ty.dtype,
            shape,
            kind,
        });
        let id = self.plan.buffers.len() - 1;
        self.buffer_of.insert(v, id);
        Ok(id)
    }

    /// The buffer holding `v`, making one for a constant read for the first time.
    fn operand(&mut self, v: ValueId, user: &str) -> Result<BufferId, RuntimeError> {
        if let Some(&id) = self.buffer_of.get(&v) {
            return Ok(id);
        }
        match (
            self.graph.values.get(v).map(|x| x.def),
            self.graph.constant_of(v),
        ) {
            (Some(ValueDef::Constant(_)), Some(t)) => {
                self.buffer(v, BufferKind::Constant(t.clone()), user)
            }
            _ => Err(RuntimeError::Plan {
                step: self.plan.steps.len(),
                nodes: user.to_string(),
                message: format!(
                    "value `{}` is read before it is defined",
                    self.graph.value_label(v)
                ),
            }),
        }
    }
}
