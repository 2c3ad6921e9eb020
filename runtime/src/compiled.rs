//! [`CompiledBackend`]: the one [`Backend`] through which every compiling backend (CPU,
//! Vulkan, CUDA, a vendor's) is exposed — a name, a [`Target`] and a [`Device`] — and the
//! compile pipeline that turns a graph into a [`CompiledGraph`]:
//!
//! ```text
//! verify -> simplify -> decompose -> simplify -> lower (fuse + schedule) -> Plan
//!        -> compile kernels (kernel cache) -> load -> upload constants -> memory plan
//! ```
//!
//! A graph whose inputs all have static shapes is compiled at once. One with symbolic dims is
//! compiled at `run`, once per concrete input-shape signature: the graph is specialized to the
//! given shapes and then goes through the same pipeline; the result is kept per signature.
//! A graph that keeps data-dependent shapes after that (the result of `NonZero`, ...) has no
//! plan and runs whole on the host interpreter, reported as one fallback partition.

use crate::backend::{Availability, Backend, BoundRun, Executable, NamedTensors, OpSupport};
use crate::cache::KernelCache;
use crate::error::RuntimeError;
use crate::placement::Placement;
use crate::prepared::{CompileStats, Prepared};
use crate::target::{Device, Target};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tessera_ir::graph::TensorType;
use tessera_ir::passes::decompose::decompose;
use tessera_ir::passes::simplify;
use tessera_ir::passes::specialize::specialize;
use tessera_ir::target::DTypeSupport;
use tessera_ir::{DType, Graph, Op, Tensor, interp, verify};

/// Options of the compile pipeline.
#[derive(Clone, Default)]
pub struct CompileOptions {
    /// The kernel cache to use; `None` is the process-wide [`KernelCache::global`].
    pub cache: Option<Arc<KernelCache>>,
}

impl CompileOptions {
    fn cache(&self) -> &KernelCache {
        self.cache
            .as_deref()
            .unwrap_or_else(|| KernelCache::global())
    }
}

/// A compiling backend: a target that generates code and the device that runs it. Vendors
/// implement [`Target`] and [`Device`]; this struct makes them a [`Backend`].
#[derive(Clone)]
pub struct CompiledBackend {
    /// The name used on the command line.
    pub name: String,
    /// The code generator.
    pub target: Arc<dyn Target>,
    /// The device.
    pub device: Arc<dyn Device>,
    /// Pipeline options.
    pub options: CompileOptions,
}

impl CompiledBackend {
    /// A backend with default options.
    pub fn new(name: impl Into<String>, target: Arc<dyn Target>, device: Arc<dyn Device>) -> Self {
        CompiledBackend {
            name: name.into(),
            target,
            device,
            options: CompileOptions::default(),
        }
    }

    /// Compiles a graph into a [`CompiledGraph`] (the concrete type behind
    /// [`Backend::compile`], with its reports).
    pub fn compile_graph(&self, graph: &Graph) -> Result<CompiledGraph, RuntimeError> {
        compile_graph(
            graph,
            Arc::clone(&self.target),
            Arc::clone(&self.device),
            &self.options,
        )
    }
}

impl Backend for CompiledBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn availability(&self) -> Availability {
        Availability::Available(self.device.name())
    }

    /// Judged by operator and dtypes alone (no shapes): a dtype the target lacks is
    /// unsupported; an operator whose results no kernel produces (data-dependent shapes,
    /// sorting, scatters) falls back to the host; every other operator is native, as a
    /// primitive or through its decomposition. In a given graph an operator may still fall
    /// back (an operand that must be a constant is not, a reduction of bools, ...): the
    /// placement report of the compiled graph ([`CompiledGraph::placement`]) is exact.
    fn op_support(&self, op: &Op, input_dtypes: &[DType]) -> OpSupport {
        let desc = self.target.desc();
        if let Some(d) = input_dtypes
            .iter()
            .find(|&&d| desc.support(d) == DTypeSupport::Unsupported)
        {
            return OpSupport::Unsupported(format!("target `{}` has no {d}", desc.name));
        }
        match host_only_reason(op) {
            Some(why) => OpSupport::Fallback(why.into()),
            None => OpSupport::Native,
        }
    }

    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        Ok(Box::new(self.compile_graph(graph)?))
    }

    fn as_compiled(&self) -> Option<&CompiledBackend> {
        Some(self)
    }
}

/// A backend that is compiled in but cannot run here (its driver or device is missing):
/// listed with the reason, and every compile is an [`RuntimeError::Unavailable`] error.
#[derive(Clone, Debug)]
pub struct UnavailableBackend {
    /// The backend's name.
    pub name: String,
    /// Why it cannot run.
    pub reason: String,
}

/// Why no kernel ever computes `op`, for the operators that always run on the host.
fn host_only_reason(op: &Op) -> Option<&'static str> {
    match op {
        Op::NonZero {} => Some("its output shape depends on the data"),
        Op::TopK { .. } => Some("sorting runs on the host"),
        Op::ScatterND { .. } | Op::ScatterElements { .. } => Some("scatters run on the host"),
        _ => None,
    }
}

impl Backend for UnavailableBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn availability(&self) -> Availability {
        Availability::Unavailable(self.reason.clone())
    }

    fn op_support(&self, _op: &Op, _input_dtypes: &[DType]) -> OpSupport {
        OpSupport::Unsupported(format!(
            "backend `{}` is unavailable: {}",
            self.name, self.reason
        ))
    }

    fn compile(&self, _graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        Err(RuntimeError::Unavailable {
            name: self.name.clone(),
            reason: self.reason.clone(),
        })
    }
}

/// Input shapes in graph input order: what a lazily compiled plan is specialized to.
type Signature = Vec<Vec<usize>>;

enum Compiled {
    /// Every input is static: compiled once.
    Static(Arc<Prepared>),
    /// Some input has symbolic dims: compiled per signature at `run`.
    Lazy {
        plans: Mutex<HashMap<Signature, Arc<Prepared>>>,
        last: Mutex<Option<Arc<Prepared>>>,
    },
}

/// A graph compiled for a target and loaded on a device. `run` may be called from many
/// threads at once.
pub struct CompiledGraph {
    graph: Graph,
    target: Arc<dyn Target>,
    device: Arc<dyn Device>,
    options: CompileOptions,
    compiled: Compiled,
}

/// Compiles `graph` for `target` and loads it on `device` (see the module docs).
pub fn compile_graph(
    graph: &Graph,
    target: Arc<dyn Target>,
    device: Arc<dyn Device>,
    options: &CompileOptions,
) -> Result<CompiledGraph, RuntimeError> {
    verify::verify(graph)?;
    let all_static = graph
        .inputs
        .iter()
        .all(|&v| graph.value(v).ty.shape.is_static());
    let compiled = if all_static {
        Compiled::Static(Arc::new(prepare(graph, &*target, &device, options)?))
    } else {
        Compiled::Lazy {
            plans: Mutex::new(HashMap::new()),
            last: Mutex::new(None),
        }
    };
    Ok(CompiledGraph {
        graph: graph.clone(),
        target,
        device,
        options: options.clone(),
        compiled,
    })
}

/// The pipeline for a graph whose inputs are static.
fn prepare(
    graph: &Graph,
    target: &dyn Target,
    device: &Arc<dyn Device>,
    options: &CompileOptions,
) -> Result<Prepared, RuntimeError> {
    match lower_graph(graph, target.desc())? {
        Lowered::Interpreted(g) => Ok(Prepared::interpreted(g, Arc::clone(device))),
        Lowered::Planned { plan, .. } => {
            Prepared::new(plan, target, Arc::clone(device), options.cache())
        }
    }
}

/// What the target-independent half of compilation makes of a graph.
#[derive(Debug)]
pub enum Lowered {
    /// Shapes still depend on data after simplification: the graph runs on the interpreter.
    Interpreted(Graph),
    /// The decomposed, simplified graph, its fusion groups and the scheduled plan.
    Planned {
        /// The graph the plan was made from (primitives and host nodes).
        graph: Graph,
        /// Its fusion groups.
        fused: tessera_ir::fusion::Fused,
        /// The plan: kernels and host steps.
        plan: tessera_ir::plan::Plan,
    },
}

/// simplify → decompose → simplify → fuse → schedule for `desc`: every step of compilation
/// before a target renders kernels. `tessera compile --emit ...` shows its products.
pub fn lower_graph(
    graph: &Graph,
    desc: &tessera_ir::target::TargetDesc,
) -> Result<Lowered, RuntimeError> {
    let decomposed = decompose(&simplify(graph)?)?;
    let g = simplify(&decomposed.graph)?;
    if g.values.iter().any(|(_, v)| !v.ty.shape.is_static()) {
        return Ok(Lowered::Interpreted(g));
    }
    let fused = tessera_ir::fusion::fuse_for(&g, desc)?;
    let plan = tessera_ir::schedule::plan(&g, &fused, desc)?;
    Ok(Lowered::Planned {
        graph: g,
        fused,
        plan,
    })
}

impl CompiledGraph {
    /// The graph as given (before any pass).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// True when the graph has symbolic input dims and is compiled per input-shape signature.
    pub fn is_lazy(&self) -> bool {
        matches!(self.compiled, Compiled::Lazy { .. })
    }

    /// The plan compiled last: the only one of a static graph; for a lazy graph the one of the
    /// latest new signature (`None` before the first run).
    pub fn prepared(&self) -> Option<Arc<Prepared>> {
        match &self.compiled {
            Compiled::Static(p) => Some(Arc::clone(p)),
            Compiled::Lazy { last, .. } => {
                last.lock().unwrap_or_else(PoisonError::into_inner).clone()
            }
        }
    }

    /// Where the steps of [`CompiledGraph::prepared`] run.
    pub fn placement(&self) -> Option<Placement> {
        self.prepared().map(|p| p.placement().clone())
    }

    /// What compiling [`CompiledGraph::prepared`] did (kernels, cache hits and misses).
    pub fn stats(&self) -> Option<CompileStats> {
        self.prepared().map(|p| p.stats())
    }

    /// Number of input-shape signatures compiled so far (1 for a static graph).
    pub fn signatures(&self) -> usize {
        match &self.compiled {
            Compiled::Static(_) => 1,
            Compiled::Lazy { plans, .. } => {
                plans.lock().unwrap_or_else(PoisonError::into_inner).len()
            }
        }
    }

    /// The plan for these (checked) inputs, compiling it for a new signature.
    fn plan_for(&self, inputs: &NamedTensors) -> Result<Arc<Prepared>, RuntimeError> {
        let (plans, last) = match &self.compiled {
            Compiled::Static(p) => return Ok(Arc::clone(p)),
            Compiled::Lazy { plans, last } => (plans, last),
        };
        let given: Vec<(String, &Tensor)> = self
            .graph
            .inputs
            .iter()
            .map(|&v| self.graph.value_label(v))
            .filter_map(|name| inputs.get(&name).map(|t| (name, t)))
            .collect();
        let signature: Signature = given.iter().map(|(_, t)| t.shape().to_vec()).collect();
        if let Some(p) = plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&signature)
        {
            return Ok(Arc::clone(p));
        }
        // Compile without holding the lock: runs of known signatures go on meanwhile.
        let types: Vec<(String, TensorType)> = given
            .iter()
            .map(|(name, t)| (name.clone(), TensorType::of(t)))
            .collect();
        let special = specialize(&self.graph, &types, &HashMap::new())?;
        let fresh = Arc::new(prepare(
            &special,
            &*self.target,
            &self.device,
            &self.options,
        )?);
        let p = Arc::clone(
            plans
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(signature)
                .or_insert(fresh),
        );
        *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&p));
        Ok(p)
    }
}

impl CompiledGraph {
    /// Checks `inputs` against the graph and returns the prepared plan for their shapes with
    /// the input tensors in graph input order (what `run`, `bind` and `profile` start from).
    fn checked<'t>(
        &self,
        inputs: &'t NamedTensors,
    ) -> Result<(Arc<Prepared>, Vec<&'t Tensor>), RuntimeError> {
        interp::check_inputs(&self.graph, inputs)?;
        let prepared = self.plan_for(inputs)?;
        let given = self
            .graph
            .inputs
            .iter()
            .filter_map(|&v| inputs.get(&self.graph.value_label(v)))
            .collect();
        Ok((prepared, given))
    }
}

impl Executable for CompiledGraph {
    fn profile(&self, inputs: &NamedTensors) -> Result<Vec<crate::StepTime>, RuntimeError> {
        let (p, given) = self.checked(inputs)?;
        p.run_profiled(&given)
    }

    fn run(&self, inputs: &NamedTensors) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        let (p, given) = self.checked(inputs)?;
        let plan = p.plan();
        let outs = p.run(&given)?;
        if outs.len() != self.graph.outputs.len() {
            return Err(RuntimeError::Plan {
                step: plan.steps.len(),
                nodes: "-".into(),
                message: format!(
                    "the plan has {} outputs, the graph {}",
                    outs.len(),
                    self.graph.outputs.len()
                ),
            });
        }
        Ok(self
            .graph
            .outputs
            .iter()
            .map(|&v| self.graph.value_label(v))
            .zip(outs)
            .collect())
    }

    fn placement(&self) -> Option<Placement> {
        CompiledGraph::placement(self)
    }

    fn bind(&self, inputs: &NamedTensors) -> Result<Box<dyn BoundRun + '_>, RuntimeError> {
        let (prepared, given) = self.checked(inputs)?;
        let binding = prepared.bind(&given)?;
        let names = self
            .graph
            .outputs
            .iter()
            .map(|&v| self.graph.value_label(v))
            .collect();
        Ok(Box::new(DeviceBinding {
            prepared,
            binding,
            names,
            ran: false,
        }))
    }
}

/// [`CompiledGraph`]'s binding: inputs in device buffers of their own.
struct DeviceBinding {
    prepared: Arc<Prepared>,
    binding: crate::prepared::Binding,
    names: Vec<String>,
    ran: bool,
}

impl BoundRun for DeviceBinding {
    fn run(&mut self) -> Result<(), RuntimeError> {
        self.prepared.run_bound(&mut self.binding)?;
        self.ran = true;
        Ok(())
    }

    fn outputs(&self) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        if !self.ran {
            return Err(RuntimeError::Plan {
                step: 0,
                nodes: "-".into(),
                message: "bound run: no run has finished yet".into(),
            });
        }
        let outs = self.prepared.bound_outputs(&self.binding)?;
        Ok(self.names.iter().cloned().zip(outs).collect())
    }
}
