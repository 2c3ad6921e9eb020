//! The backend interface: a backend compiles a graph into an [`Executable`] that runs it.

use crate::error::RuntimeError;
use crate::placement::Placement;
use std::collections::HashMap;
use tessera_ir::{DType, Graph, Op, Tensor};

/// Tensors by name: graph inputs going in, graph outputs coming out.
pub type NamedTensors = HashMap<String, Tensor>;

/// Whether a backend can run on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Ready; the string describes the device (e.g. "host interpreter", a GPU's name).
    Available(String),
    /// Compiled in but unusable here, with the reason (no driver, no device, ...).
    Unavailable(String),
}

impl Availability {
    /// True when the backend can run.
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available(_))
    }
}

/// How a backend runs one operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpSupport {
    /// Compiled to the backend's own kernels.
    Native,
    /// Runs, but through the host fallback (with copies around it); the reason says why.
    Fallback(String),
    /// Refused with a typed error; the reason says why (a dtype the target lacks, ...).
    Unsupported(String),
}

/// A way to execute graphs: the reference interpreter, or a compiling backend with its device.
pub trait Backend: Send + Sync {
    /// The name used on the command line (`reference`, `cpu`, `vulkan`, `cuda`).
    fn name(&self) -> &str;

    /// Whether, and on what, it can run here. Never panics, even when a driver is missing.
    fn availability(&self) -> Availability;

    /// How this backend handles `op` applied to operands of `input_dtypes` (the dtypes of the
    /// present operands, in order). `tessera inspect` and the conformance reports use it.
    fn op_support(&self, op: &Op, input_dtypes: &[DType]) -> OpSupport;

    /// Compiles (verifies, lowers) a graph once; the result runs many times.
    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError>;

    /// The target and device behind a compiling backend (for tools that need the plan, such
    /// as `tessera diff`); `None` for interpreters.
    fn as_compiled(&self) -> Option<&crate::compiled::CompiledBackend> {
        None
    }

    /// True when the device is a software emulation of an accelerator (a Vulkan driver
    /// running on the CPU, such as lavapipe): `auto` then ranks it after every other backend.
    fn is_software(&self) -> bool {
        false
    }
}

/// A graph compiled for one backend. `run` may be called from many threads at once.
pub trait Executable: Send + Sync {
    /// The graph's outputs for the given inputs, in graph output order, with their names.
    ///
    /// Missing, unknown or mismatched inputs are errors that list the expected names, dtypes
    /// and shapes.
    fn run(&self, inputs: &NamedTensors) -> Result<Vec<(String, Tensor)>, RuntimeError>;

    /// Which steps run natively on the device and which fall back to the host, for compiled
    /// backends (`None` for interpreters, and for a graph with symbolic input dims before its
    /// first run).
    fn placement(&self) -> Option<Placement> {
        None
    }
}
