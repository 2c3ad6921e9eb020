//! The placement report: which steps of a plan run natively (kernels on the device) and which
//! fall back to the host interpreter, grouped into partitions of consecutive steps, with the
//! copies between partitions — like ONNX Runtime's report of execution-provider fallback.

use std::fmt;
use tessera_ir::plan::{Plan, Step};

/// Where a step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Where {
    /// A kernel on the device.
    Native,
    /// A graph node on the host (the reference interpreter).
    Fallback,
}

impl Where {
    /// `"native"` or `"fallback"`.
    pub const fn name(self) -> &'static str {
        match self {
            Where::Native => "native",
            Where::Fallback => "fallback",
        }
    }
}

/// Consecutive steps that run in the same place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Native or fallback.
    pub place: Where,
    /// Indices of its steps in the plan.
    pub steps: Vec<usize>,
    /// Labels of the graph nodes it runs.
    pub nodes: Vec<String>,
}

/// A buffer that crosses between the device and the host, from one partition to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The plan buffer.
    pub buffer: usize,
    /// The partition that writes it.
    pub from: usize,
    /// The partition that reads it.
    pub to: usize,
    /// Its size in bytes.
    pub bytes: usize,
}

/// How a plan's steps are placed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Partitions in execution order.
    pub partitions: Vec<Partition>,
    /// Device-to-host and host-to-device copies between partitions.
    pub copies: Vec<Transfer>,
}

impl Placement {
    /// The placement of a plan's steps.
    pub fn of(plan: &Plan) -> Self {
        let mut partitions: Vec<Partition> = Vec::new();
        let mut part_of_step = Vec::with_capacity(plan.steps.len());
        for (i, step) in plan.steps.iter().enumerate() {
            let (place, nodes) = match step {
                Step::Kernel(k) => (Where::Native, k.nodes.clone()),
                Step::Host(h) => (Where::Fallback, vec![h.node.clone()]),
            };
            match partitions.last_mut() {
                Some(p) if p.place == place => {
                    p.steps.push(i);
                    p.nodes.extend(nodes);
                }
                _ => partitions.push(Partition {
                    place,
                    steps: vec![i],
                    nodes,
                }),
            }
            part_of_step.push(partitions.len() - 1);
        }
        let copies = copies(plan, &partitions, &part_of_step);
        Placement { partitions, copies }
    }

    /// Number of steps placed `place`.
    pub fn steps(&self, place: Where) -> usize {
        self.count(place, |p| p.steps.len())
    }

    /// Number of graph nodes placed `place`.
    pub fn nodes(&self, place: Where) -> usize {
        self.count(place, |p| p.nodes.len())
    }

    fn count(&self, place: Where, f: impl Fn(&Partition) -> usize) -> usize {
        self.partitions
            .iter()
            .filter(|p| p.place == place)
            .map(f)
            .sum()
    }

    /// `"native"` when everything runs on the device (or there is nothing to run), else
    /// `"fallback"`.
    pub fn summary(&self) -> &'static str {
        if self.partitions.iter().any(|p| p.place == Where::Fallback) {
            Where::Fallback.name()
        } else {
            Where::Native.name()
        }
    }
}

/// Temporaries written in one place (device or host) and read in the other: each crosses once,
/// from the partition that writes it to the first partition elsewhere that reads it (the
/// runtime keeps the host copy, and a host result stays on the device once uploaded).
fn copies(plan: &Plan, partitions: &[Partition], part_of_step: &[usize]) -> Vec<Transfer> {
    let mut writer: Vec<Option<usize>> = vec![None; plan.buffers.len()];
    let mut out: Vec<Transfer> = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let (reads, writes): (Vec<usize>, Vec<usize>) = match step {
            Step::Kernel(k) => {
                let access = k.kernel.params.iter().map(|p| p.access);
                let r = k
                    .args
                    .iter()
                    .zip(access.clone())
                    .filter(|(_, a)| a.can_load());
                let w = k.args.iter().zip(access).filter(|(_, a)| a.can_store());
                (r.map(|(&b, _)| b).collect(), w.map(|(&b, _)| b).collect())
            }
            Step::Host(h) => (
                h.inputs.iter().flatten().copied().collect(),
                h.outputs.clone(),
            ),
        };
        let here = part_of_step[i];
        for b in reads {
            let Some(from) = writer.get(b).copied().flatten() else {
                continue;
            };
            let crosses = partitions[from].place != partitions[here].place;
            if crosses && !out.iter().any(|c| c.buffer == b) {
                out.push(Transfer {
                    buffer: b,
                    from,
                    to: here,
                    bytes: crate::memory::buffer_bytes(plan, b),
                });
            }
        }
        for b in writes {
            if let Some(w) = writer.get_mut(b) {
                *w = Some(here);
            }
        }
    }
    out
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.partitions.iter().enumerate() {
            writeln!(
                f,
                "partition {i} ({}): {} step(s): {}",
                p.place.name(),
                p.steps.len(),
                p.nodes.join(", ")
            )?;
        }
        for c in &self.copies {
            writeln!(
                f,
                "copy buffer {} ({} bytes): partition {} -> partition {}",
                c.buffer, c.bytes, c.from, c.to
            )?;
        }
        Ok(())
    }
}
