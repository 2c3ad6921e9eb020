//! The memory plan: which device buffer ("slot") holds each device temporary of a plan (a
//! temporary bound to some kernel; one that only host steps use lives in host memory).
//! Temporaries reuse slots by liveness: once the last step that reads a temporary has run, its slot is
//! free for a temporary defined later that needs the same or fewer bytes (first fit, in slot
//! order). Graph outputs stay live to the end. Inputs and constants have buffers of their own.

use tessera_ir::plan::{BufferKind, Plan, Step};

/// Where each plan buffer lives during a run, and what reuse saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// For each plan buffer, the slot of a device temporary (`None` for inputs, constants and
    /// host-only temporaries).
    pub slot_of: Vec<Option<usize>>,
    /// Each slot's size in bytes.
    pub slot_bytes: Vec<usize>,
    /// Bytes of all slots: the temporary memory one run needs.
    pub peak_bytes: usize,
    /// Bytes the device temporaries would take with a buffer each.
    pub no_reuse_bytes: usize,
}

/// The steps (by index) reading and writing each buffer.
fn uses(plan: &Plan) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
    let n = plan.buffers.len();
    let mut first_write = vec![None; n];
    let mut last_read = vec![None; n];
    for (s, step) in plan.steps.iter().enumerate() {
        let (reads, writes): (Vec<usize>, Vec<usize>) = match step {
            Step::Kernel(k) => {
                let params = k.kernel.params.iter().map(|p| p.access);
                let mut r = Vec::new();
                let mut w = Vec::new();
                for (&b, access) in k.args.iter().zip(params) {
                    if access.can_load() {
                        r.push(b);
                    }
                    if access.can_store() {
                        w.push(b);
                    }
                }
                (r, w)
            }
            Step::Host(h) => (
                h.inputs.iter().flatten().copied().collect(),
                h.outputs.clone(),
            ),
        };
        for b in reads.into_iter().filter(|&b| b < n) {
            last_read[b] = Some(s);
        }
        for b in writes.into_iter().filter(|&b| b < n) {
            first_write[b].get_or_insert(s);
            // A read-write buffer is also live while written.
            last_read[b] = Some(last_read[b].map_or(s, |r: usize| r.max(s)));
        }
    }
    (first_write, last_read)
}

/// Byte size of a plan buffer (saturating; the plan checker rejects absurd sizes first).
pub(crate) fn buffer_bytes(plan: &Plan, b: usize) -> usize {
    plan.buffers
        .get(b)
        .map_or(0, |pb| pb.len().saturating_mul(pb.dtype.size_bytes()))
}

/// For each plan buffer, whether some kernel step binds it (so it needs device memory).
pub fn kernel_bound(plan: &Plan) -> Vec<bool> {
    let mut bound = vec![false; plan.buffers.len()];
    for step in &plan.steps {
        if let Step::Kernel(k) = step {
            for &b in &k.args {
                if let Some(x) = bound.get_mut(b) {
                    *x = true;
                }
            }
        }
    }
    bound
}

/// Plans the device temporaries of `plan` (see the module docs).
pub fn plan_memory(plan: &Plan) -> MemoryPlan {
    let (first_write, last_read) = uses(plan);
    let on_device = kernel_bound(plan);
    let n = plan.buffers.len();
    let mut is_output = vec![false; n];
    for &(_, b) in &plan.outputs {
        if let Some(o) = is_output.get_mut(b) {
            *o = true;
        }
    }
    // Temporaries in the order they are first written; never-written ones last.
    let mut temps: Vec<usize> = (0..n)
        .filter(|&b| on_device[b] && matches!(plan.buffers[b].kind, BufferKind::Temp))
        .collect();
    temps.sort_by_key(|&b| (first_write[b].unwrap_or(usize::MAX), b));
    let mut slot_of = vec![None; n];
    let mut slot_bytes: Vec<usize> = Vec::new();
    // The step after which each slot is free again (`None`: live to the end).
    let mut slot_free_after: Vec<Option<usize>> = Vec::new();
    let mut no_reuse_bytes = 0usize;
    for b in temps {
        let bytes = buffer_bytes(plan, b);
        no_reuse_bytes = no_reuse_bytes.saturating_add(bytes);
        let born = first_write[b].unwrap_or(0);
        let dies = if is_output[b] || first_write[b].is_none() {
            None
        } else {
            Some(last_read[b].unwrap_or(born).max(born))
        };
        let free = (0..slot_bytes.len()).find(|&s| {
            slot_bytes[s] >= bytes && slot_free_after[s].is_some_and(|after| after < born)
        });
        let s = match free {
            Some(s) => s,
            None => {
                slot_bytes.push(bytes);
                slot_free_after.push(Some(0));
                slot_bytes.len() - 1
            }
        };
        slot_free_after[s] = dies;
        slot_of[b] = Some(s);
    }
    MemoryPlan {
        slot_of,
        peak_bytes: slot_bytes.iter().fold(0, |a, &b| a.saturating_add(b)),
        slot_bytes,
        no_reuse_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::DType;
    use tessera_ir::kernel::{Access, Kernel};
    use tessera_ir::plan::{KernelStep, PlanBuffer};

    /// A kernel step binding `args`, reading all but the last and writing the last (the kernel
    /// body is irrelevant to the memory plan).
    fn step(plan: &Plan, reads: &[usize], write: usize) -> Step {
        let mut k = Kernel::new("k");
        for (i, &b) in reads.iter().chain([&write]).enumerate() {
            let access = if i == reads.len() {
                Access::Write
            } else {
                Access::Read
            };
            k.param(format!("p{i}"), DType::F32, plan.buffers[b].len(), access);
        }
        let info = tessera_ir::kernel::verify_kernel(&k).unwrap();
        Step::Kernel(KernelStep {
            kernel: k,
            info,
            args: reads.iter().copied().chain([write]).collect(),
            nodes: vec![],
        })
    }

    /// Random plans (a fixed linear congruential sequence): temporaries sharing a slot are
    /// never live at once, every slot is big enough, and reuse never costs more than no reuse.
    #[test]
    fn shared_slots_never_overlap_in_time() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for _ in 0..200 {
            let mut plan = Plan::default();
            plan.buffers.push(PlanBuffer {
                dtype: DType::F32,
                shape: vec![4],
                kind: BufferKind::Input(0),
            });
            let steps = 1 + next(12);
            for _ in 0..steps {
                let reads: Vec<usize> =
                    (0..1 + next(3)).map(|_| next(plan.buffers.len())).collect();
                plan.buffers.push(PlanBuffer {
                    dtype: DType::F32,
                    shape: vec![next(9)],
                    kind: BufferKind::Temp,
                });
                let w = plan.buffers.len() - 1;
                let s = step(&plan, &reads, w);
                plan.steps.push(s);
            }
            let last = plan.buffers.len() - 1;
            plan.outputs.push(("y".into(), last));
            if next(2) == 1 {
                plan.outputs.push(("z".into(), 1));
            }
            check_memory(&plan, &plan_memory(&plan));
        }
    }

    fn check_memory(plan: &Plan, m: &MemoryPlan) {
        let (first_write, last_read) = uses(plan);
        let end = plan.steps.len();
        let live = |b: usize| {
            let born = first_write[b].unwrap_or(0);
            let out = plan.outputs.iter().any(|&(_, o)| o == b);
            (
                born,
                if out {
                    end
                } else {
                    last_read[b].unwrap_or(born).max(born)
                },
            )
        };
        let temps: Vec<usize> = (0..plan.buffers.len())
            .filter(|&b| m.slot_of[b].is_some())
            .collect();
        for &a in &temps {
            let sa = m.slot_of[a].unwrap();
            assert!(m.slot_bytes[sa] >= buffer_bytes(plan, a));
            for &b in temps.iter().filter(|&&b| b > a && m.slot_of[b] == Some(sa)) {
                let ((a0, a1), (b0, b1)) = (live(a), live(b));
                assert!(
                    a1 < b0 || b1 < a0,
                    "buffers {a} and {b} share slot {sa} while live"
                );
            }
        }
        assert!(m.peak_bytes <= m.no_reuse_bytes);
        assert_eq!(m.peak_bytes, m.slot_bytes.iter().sum::<usize>());
    }
}
