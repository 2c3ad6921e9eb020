//! Consistency checks of a [`Plan`] before it is loaded: every buffer reference exists, kernel
//! arguments match their parameters, only temporaries are written, nothing is read before it is
//! written, and every output is produced (an empty buffer needs no writing: schedulers may skip
//! kernels with nothing to compute). A failed check names the step and its graph nodes.

use crate::error::RuntimeError;
use tessera_ir::plan::{BufferKind, Plan, Step};

/// The graph nodes of a step, joined for messages.
pub(crate) fn step_nodes(step: &Step) -> String {
    match step {
        Step::Kernel(k) => k.nodes.join(", "),
        Step::Host(h) => h.node.clone(),
    }
}

/// Checks `plan` (see the module docs).
pub fn check_plan(plan: &Plan) -> Result<(), RuntimeError> {
    let n = plan.buffers.len();
    let plan_err = |step: usize, nodes: String, message: String| RuntimeError::Plan {
        step,
        nodes,
        message,
    };
    let whole = |message: String| plan_err(plan.steps.len(), "-".into(), message);
    for (i, b) in plan.buffers.iter().enumerate() {
        let bytes = b
            .shape
            .iter()
            .try_fold(b.dtype.size_bytes(), |a, &d| a.checked_mul(d));
        if bytes.is_none() {
            return Err(whole(format!(
                "buffer {i} ({}{:?}) is too large",
                b.dtype, b.shape
            )));
        }
        if let BufferKind::Constant(t) = &b.kind
            && (t.dtype() != b.dtype || t.shape() != b.shape.as_slice())
        {
            return Err(whole(format!(
                "constant buffer {i} is declared {}{:?} but holds {}{:?}",
                b.dtype,
                b.shape,
                t.dtype(),
                t.shape()
            )));
        }
    }
    for (name, b) in &plan.inputs {
        match plan.buffers.get(*b).map(|pb| &pb.kind) {
            Some(BufferKind::Input(_)) => {}
            _ => {
                return Err(whole(format!(
                    "graph input `{name}` is not an input buffer"
                )));
            }
        }
    }
    // Inputs, constants and empty buffers (nothing to write) hold their contents from the start.
    let mut written: Vec<bool> = plan
        .buffers
        .iter()
        .map(|b| !matches!(b.kind, BufferKind::Temp) || b.is_empty())
        .collect();
    for (s, step) in plan.steps.iter().enumerate() {
        let err = |message: String| plan_err(s, step_nodes(step), message);
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        match step {
            Step::Kernel(k) => {
                if k.args.len() != k.kernel.params.len() {
                    return Err(err(format!(
                        "kernel `{}` has {} parameters but {} arguments",
                        k.kernel.name,
                        k.kernel.params.len(),
                        k.args.len()
                    )));
                }
                for (p, &a) in k.kernel.params.iter().zip(&k.args) {
                    let b = plan.buffers.get(a).ok_or_else(|| {
                        err(format!(
                            "argument `{}` is buffer {a}, which does not exist",
                            p.name
                        ))
                    })?;
                    if b.dtype != p.dtype || b.len() != p.len {
                        return Err(err(format!(
                            "kernel `{}` parameter `{}` is {}[{}] but buffer {a} is {}{:?}",
                            k.kernel.name, p.name, p.dtype, p.len, b.dtype, b.shape
                        )));
                    }
                    // A read-write buffer may be initialized by the kernel itself.
                    if p.access == tessera_ir::kernel::Access::Read {
                        reads.push(a);
                    }
                    if p.access.can_store() {
                        writes.push(a);
                    }
                }
            }
            Step::Host(h) => {
                reads.extend(h.inputs.iter().flatten().copied());
                writes.extend(h.outputs.iter().copied());
            }
        }
        for &b in reads.iter().chain(&writes) {
            if b >= n {
                return Err(err(format!("buffer {b} does not exist")));
            }
        }
        if let Some(&b) = reads.iter().find(|&&b| !written[b]) {
            return Err(err(format!("buffer {b} is read before any step writes it")));
        }
        if let Some(&b) = writes
            .iter()
            .find(|&&b| !matches!(plan.buffers[b].kind, BufferKind::Temp))
        {
            return Err(err(format!(
                "buffer {b} is a graph input or a constant and may not be written"
            )));
        }
        for b in writes {
            written[b] = true;
        }
    }
    for (name, b) in &plan.outputs {
        if !written.get(*b).copied().unwrap_or(false) {
            return Err(whole(format!(
                "graph output `{name}` (buffer {b}) is never written"
            )));
        }
    }
    Ok(())
}
