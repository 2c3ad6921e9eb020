//! The execution plan: a graph after decomposition, fusion and scheduling — numbered buffers
//! and an ordered list of steps (verified kernels, and host nodes for operators no kernel can
//! express). The shared scheduler produces it; the runtime allocates the buffers on a device,
//! compiles each kernel for its target and runs the steps in order.

use crate::dtype::DType;
use crate::kernel::{Kernel, KernelInfo};
use crate::op::Op;
use crate::tensor::Tensor;

/// Index of a buffer in [`Plan::buffers`].
pub type BufferId = usize;

/// What a plan buffer holds.
#[derive(Clone, Debug, PartialEq)]
pub enum BufferKind {
    /// Graph input `i` (copied in before the first step).
    Input(usize),
    /// A constant, uploaded once when the plan is loaded.
    Constant(Tensor),
    /// An intermediate value or a graph output (written by a step).
    Temp,
}

/// One buffer: a dense row-major tensor of a static shape.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanBuffer {
    /// Element type.
    pub dtype: DType,
    /// Static shape.
    pub shape: Vec<usize>,
    /// Where its contents come from.
    pub kind: BufferKind,
}

impl PlanBuffer {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the buffer has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A kernel launch: `args[i]` is bound to `kernel.params[i]`.
#[derive(Clone, Debug)]
pub struct KernelStep {
    /// The kernel, verified.
    pub kernel: Kernel,
    /// Its verification info.
    pub info: KernelInfo,
    /// The buffer bound to each kernel parameter.
    pub args: Vec<BufferId>,
    /// Labels of the graph nodes fused into this kernel (for reports and `tessera diff`).
    pub nodes: Vec<String>,
}

/// A graph node run on the host by the reference interpreter (the declared fallback for
/// operators that no kernel expresses: data-dependent shapes, sorting, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct HostStep {
    /// The node's label.
    pub node: String,
    /// The operator.
    pub op: Op,
    /// Operand buffers (`None` = absent optional operand).
    pub inputs: Vec<Option<BufferId>>,
    /// Result buffers.
    pub outputs: Vec<BufferId>,
}

/// One step of a plan.
#[derive(Clone, Debug)]
pub enum Step {
    /// Launch a kernel on the device.
    Kernel(KernelStep),
    /// Run a node on the host (copies to and from the device around it).
    Host(HostStep),
}

/// A compiled graph: buffers, steps in execution order, and where the graph's inputs and
/// outputs live.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Every buffer.
    pub buffers: Vec<PlanBuffer>,
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// Graph inputs by name, in graph order.
    pub inputs: Vec<(String, BufferId)>,
    /// Graph outputs by name, in graph order (any buffer: a temp, an input or a constant).
    pub outputs: Vec<(String, BufferId)>,
}
