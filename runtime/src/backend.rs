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

    /// Binds `inputs` for repeated runs, like ONNX Runtime's I/O binding: compiling backends
    /// copy them to device buffers once, and each [`BoundRun::run`] then copies nothing in
    /// and leaves the outputs on the device until [`BoundRun::outputs`]. The inputs are
    /// checked as [`Executable::run`] checks them: here by compiling backends, at the first
    /// run by the default, under which (interpreters) each run is an ordinary run.
    fn bind(&self, inputs: &NamedTensors) -> Result<Box<dyn BoundRun + '_>, RuntimeError> {
        Ok(Box::new(HostBinding {
            exe: self,
            inputs: inputs.clone(),
            outputs: None,
        }))
    }

    /// Runs once and times each step (a kernel launch or a host fallback step), waiting for
    /// the device after every step so each time is that step's alone — like ONNX Runtime's
    /// per-node profiling; the sum is therefore a little above an ordinary run's time. The
    /// default (interpreters) times the whole run as one step named `(whole run)`.
    fn profile(&self, inputs: &NamedTensors) -> Result<Vec<StepTime>, RuntimeError> {
        let t0 = std::time::Instant::now();
        self.run(inputs)?;
        Ok(vec![StepTime {
            step: 0,
            name: "(whole run)".into(),
            nodes: Vec::new(),
            time: t0.elapsed(),
        }])
    }
}

/// How long one step of a run took (see [`Executable::profile`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StepTime {
    /// The step's index in the plan.
    pub step: usize,
    /// The kernel's name, or `host: OP` for a host fallback step.
    pub name: String,
    /// The graph nodes the step computes (fused into the kernel, or the host node).
    pub nodes: Vec<String>,
    /// Wall time from the launch until the device finished it.
    pub time: std::time::Duration,
}

/// A graph's inputs bound for repeated runs (see [`Executable::bind`]).
pub trait BoundRun: Send {
    /// Runs the graph on the bound inputs.
    fn run(&mut self) -> Result<(), RuntimeError>;

    /// The outputs of the last run, in graph output order with their names (an error before
    /// the first run).
    fn outputs(&self) -> Result<Vec<(String, Tensor)>, RuntimeError>;
}

/// [`Executable::bind`]'s default: ordinary runs on host tensors.
struct HostBinding<'a, E: ?Sized> {
    exe: &'a E,
    inputs: NamedTensors,
    outputs: Option<Vec<(String, Tensor)>>,
}

impl<E: Executable + ?Sized> BoundRun for HostBinding<'_, E> {
    fn run(&mut self) -> Result<(), RuntimeError> {
        self.outputs = Some(self.exe.run(&self.inputs)?);
        Ok(())
    }

    fn outputs(&self) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        self.outputs.clone().ok_or_else(|| RuntimeError::Plan {
            step: 0,
            nodes: "-".into(),
            message: "bound run: no run has finished yet".into(),
        })
    }
}
