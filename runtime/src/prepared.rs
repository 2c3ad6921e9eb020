//! A plan loaded on a device (which it keeps) — kernels compiled (through the kernel cache) and loaded,
//! constants uploaded once, temporaries laid out by the memory plan — and how it runs.
//!
//! A run takes a *workspace* (the input buffers and the temporary slots) from a pool, or
//! allocates one when every workspace is in use by another thread, so runs on many threads
//! never share temporaries; constants and loaded kernels are shared.

use crate::backend::StepTime;
use crate::cache::KernelCache;
use crate::error::RuntimeError;
use crate::memory::{MemoryPlan, buffer_bytes, kernel_bound, plan_memory};
use crate::placement::{Partition, Placement, Where};
use crate::plan_check::{check_plan, step_nodes};
use crate::target::{Device, DeviceBuffer, DeviceError, LoadedKernel, Target};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tessera_ir::error::At;
use tessera_ir::interp::{eval_op, evaluate};
use tessera_ir::plan::{BufferKind, HostStep, KernelStep, Plan, Step};
use tessera_ir::{Graph, IrError, Tensor};

/// What compiling one plan did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Kernel steps in the plan.
    pub kernels: usize,
    /// Kernels found in the kernel cache.
    pub cache_hits: usize,
    /// Kernels the target compiled.
    pub cache_misses: usize,
}

/// Where a plan buffer lives during a run.
#[derive(Clone, Copy, Debug)]
enum Home {
    /// The k-th input buffer of the workspace.
    Input(usize),
    /// The k-th uploaded constant.
    Constant(usize),
    /// A temporary slot of the workspace.
    Slot(usize),
    /// Host memory only: no kernel binds the buffer.
    Host,
}

/// Per-run device buffers.
struct Workspace {
    inputs: Vec<DeviceBuffer>,
    slots: Vec<DeviceBuffer>,
}

/// Inputs bound to device buffers of their own (see [`Prepared::bind`]).
pub struct Binding {
    /// The plan that made it (its address): a binding runs only on its own plan.
    owner: usize,
    ws: Option<Workspace>,
    inputs: Vec<Tensor>,
    /// Host copies of results of host steps in the last run.
    host: HashMap<usize, Tensor>,
    /// Outputs of a plan run whole on the interpreter.
    results: Option<Vec<Tensor>>,
}

fn binding_error(message: &str) -> RuntimeError {
    RuntimeError::Plan {
        step: 0,
        nodes: "-".into(),
        message: format!("bound run: {message}"),
    }
}

/// A plan ready to run on one device.
pub struct Prepared {
    device: Arc<dyn Device>,
    plan: Plan,
    homes: Vec<Home>,
    /// Plan buffer of each workspace input buffer.
    input_buffers: Vec<usize>,
    constants: Vec<DeviceBuffer>,
    kernels: Vec<Option<LoadedKernel>>,
    memory: MemoryPlan,
    placement: Placement,
    stats: CompileStats,
    pool: Mutex<Vec<Workspace>>,
    /// A graph whose shapes depend on data and so has no plan: it runs on the reference
    /// interpreter as a whole.
    interpreted: Option<Graph>,
}

fn dev_err(what: String) -> impl FnOnce(DeviceError) -> RuntimeError {
    move |e| RuntimeError::device(what, e)
}

impl Prepared {
    /// Checks `plan`, compiles its kernels for `target` through `cache`, loads them on
    /// `device`, uploads its constants and plans its memory.
    pub fn new(
        plan: Plan,
        target: &dyn Target,
        device: Arc<dyn Device>,
        cache: &KernelCache,
    ) -> Result<Self, RuntimeError> {
        check_plan(&plan)?;
        let memory = plan_memory(&plan);
        let mut stats = CompileStats::default();
        let mut kernels = Vec::with_capacity(plan.steps.len());
        for step in &plan.steps {
            kernels.push(match step {
                Step::Kernel(k) => Some(load_kernel(k, target, &*device, cache, &mut stats)?),
                Step::Host(_) => None,
            });
        }
        let mut homes = Vec::with_capacity(plan.buffers.len());
        let mut input_buffers = Vec::new();
        let mut constants = Vec::new();
        let on_device = kernel_bound(&plan);
        for (b, pb) in plan.buffers.iter().enumerate() {
            homes.push(match &pb.kind {
                _ if !on_device[b] => Home::Host,
                BufferKind::Input(_) => {
                    input_buffers.push(b);
                    Home::Input(input_buffers.len() - 1)
                }
                BufferKind::Constant(t) => {
                    let what = format!("uploading constant buffer {b} ({} bytes)", t.bytes().len());
                    let buf = device
                        .alloc(t.bytes().len())
                        .map_err(dev_err(what.clone()))?;
                    device.write(&buf, t.bytes()).map_err(dev_err(what))?;
                    constants.push(buf);
                    Home::Constant(constants.len() - 1)
                }
                BufferKind::Temp => match memory.slot_of[b] {
                    Some(s) => Home::Slot(s),
                    None => Home::Host,
                },
            });
        }
        let placement = Placement::of(&plan);
        Ok(Prepared {
            device,
            plan,
            homes,
            input_buffers,
            constants,
            kernels,
            memory,
            placement,
            stats,
            pool: Mutex::new(Vec::new()),
            interpreted: None,
        })
    }

    /// A graph with data-dependent shapes (values whose dims stay symbolic after
    /// specialization, such as the result of `NonZero`): no plan can be made, so the whole
    /// graph runs on the host interpreter and is reported as one fallback partition. Its
    /// [`Prepared::plan`] is empty.
    pub fn interpreted(graph: Graph, device: Arc<dyn Device>) -> Self {
        let placement = Placement {
            partitions: vec![Partition {
                place: Where::Fallback,
                steps: Vec::new(),
                nodes: graph.nodes.handles().map(|n| graph.node_label(n)).collect(),
            }],
            copies: Vec::new(),
        };
        Prepared {
            device,
            plan: Plan::default(),
            homes: Vec::new(),
            input_buffers: Vec::new(),
            constants: Vec::new(),
            kernels: Vec::new(),
            memory: plan_memory(&Plan::default()),
            placement,
            stats: CompileStats::default(),
            pool: Mutex::new(Vec::new()),
            interpreted: Some(graph),
        }
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The memory plan of its temporaries.
    pub fn memory(&self) -> &MemoryPlan {
        &self.memory
    }

    /// Where its steps run.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// What compiling it did.
    pub fn stats(&self) -> CompileStats {
        self.stats
    }

    /// Runs the plan; `inputs[i]` is the tensor of graph input `i` (the buffers of kind
    /// `Input(i)`). Returns the tensors of `plan.outputs`, in order.
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RuntimeError> {
        if let Some(g) = &self.interpreted {
            let named = g
                .inputs
                .iter()
                .zip(inputs)
                .map(|(&v, &t)| (g.value_label(v), t.clone()))
                .collect();
            return Ok(evaluate(g, &named)?);
        }
        self.run_with(inputs, None)
    }

    /// [`Prepared::run`], calling `observer(step, written)` after each step with the buffers
    /// the step wrote (plan buffer ids and their contents, read back after synchronizing).
    /// `tessera diff` uses it to compare every kernel's results with the reference. A plan
    /// run whole on the interpreter has no steps to observe.
    pub fn run_observed(
        &self,
        inputs: &[&Tensor],
        observer: &mut StepObserver<'_>,
    ) -> Result<Vec<Tensor>, RuntimeError> {
        self.run_with(inputs, Some(observer))
    }

    fn run_with<'x>(
        &self,
        inputs: &[&Tensor],
        observer: Option<&'x mut StepObserver<'x>>,
    ) -> Result<Vec<Tensor>, RuntimeError> {
        if let Some(g) = &self.interpreted {
            let named = g
                .inputs
                .iter()
                .zip(inputs)
                .map(|(&v, &t)| (g.value_label(v), t.clone()))
                .collect();
            return Ok(evaluate(g, &named)?);
        }
        self.with_workspace(|ws| Run::new(self, ws, inputs, HashMap::new(), observer).go())
    }

    /// Runs `f` on a workspace from the pool and returns the workspace afterwards, whatever
    /// `f` returned.
    fn with_workspace<T>(
        &self,
        f: impl FnOnce(&Workspace) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        let ws = self.take_workspace()?;
        let result = f(&ws);
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ws);
        result
    }

    /// Runs the plan once, timing every step (see [`crate::Executable::profile`]): the device
    /// is waited for after each step. A plan run whole on the interpreter is one step.
    pub fn run_profiled(&self, inputs: &[&Tensor]) -> Result<Vec<StepTime>, RuntimeError> {
        if self.interpreted.is_some() {
            let t0 = Instant::now();
            self.run(inputs)?;
            return Ok(vec![StepTime {
                step: 0,
                name: "(whole run: interpreter)".into(),
                nodes: Vec::new(),
                time: t0.elapsed(),
            }]);
        }
        self.with_workspace(|ws| {
            let mut run = Run::new(self, ws, inputs, HashMap::new(), None);
            run.times = Some(Vec::new());
            run.upload()?;
            run.steps()?;
            Ok(run.times.take().unwrap_or_default())
        })
    }

    /// Binds `inputs` (in plan input order) to device buffers that stay on the device between
    /// runs, like ONNX Runtime's I/O binding: [`Prepared::run_bound`] then copies nothing in
    /// and nothing out, and [`Prepared::bound_outputs`] reads the results when asked. The
    /// binding owns a workspace of its own, so bound runs and ordinary runs never share
    /// temporaries.
    pub fn bind(&self, inputs: &[&Tensor]) -> Result<Binding, RuntimeError> {
        let tensors: Vec<Tensor> = inputs.iter().map(|&t| t.clone()).collect();
        let mut binding = Binding {
            owner: self as *const Prepared as usize,
            ws: None,
            inputs: tensors,
            host: HashMap::new(),
            results: None,
        };
        if self.interpreted.is_some() {
            return Ok(binding);
        }
        let ws = self.take_workspace()?;
        {
            let refs: Vec<&Tensor> = binding.inputs.iter().collect();
            let mut run = Run::new(self, &ws, &refs, HashMap::new(), None);
            run.upload()?;
        }
        binding.ws = Some(ws);
        Ok(binding)
    }

    /// Runs the plan on a binding's device buffers: no input copies, no output reads (the
    /// outputs stay on the device until [`Prepared::bound_outputs`]).
    pub fn run_bound(&self, binding: &mut Binding) -> Result<(), RuntimeError> {
        self.check_binding(binding)?;
        if let Some(g) = &self.interpreted {
            let refs: Vec<&Tensor> = binding.inputs.iter().collect();
            let named = g
                .inputs
                .iter()
                .zip(refs)
                .map(|(&v, t)| (g.value_label(v), t.clone()))
                .collect();
            binding.results = Some(evaluate(g, &named)?);
            return Ok(());
        }
        let Some(ws) = &binding.ws else {
            return Err(binding_error("a binding without device buffers"));
        };
        let refs: Vec<&Tensor> = binding.inputs.iter().collect();
        let mut run = Run::new(self, ws, &refs, HashMap::new(), None);
        run.steps()?;
        binding.host = run.host;
        binding.results = None;
        Ok(())
    }

    /// The outputs of the last [`Prepared::run_bound`] on `binding`, read back from the
    /// device (an error before the first run).
    pub fn bound_outputs(&self, binding: &Binding) -> Result<Vec<Tensor>, RuntimeError> {
        self.check_binding(binding)?;
        if let Some(r) = &binding.results {
            return Ok(r.clone());
        }
        let Some(ws) = &binding.ws else {
            return Err(binding_error("no bound run has finished yet"));
        };
        let refs: Vec<&Tensor> = binding.inputs.iter().collect();
        Run::new(self, ws, &refs, binding.host.clone(), None).outputs()
    }

    fn check_binding(&self, binding: &Binding) -> Result<(), RuntimeError> {
        if binding.owner != self as *const Prepared as usize {
            return Err(binding_error("a binding made by another plan"));
        }
        Ok(())
    }

    fn take_workspace(&self) -> Result<Workspace, RuntimeError> {
        if let Some(ws) = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Ok(ws);
        }
        let alloc = |bytes: usize, what: String| self.device.alloc(bytes).map_err(dev_err(what));
        let inputs = self
            .input_buffers
            .iter()
            .map(|&b| {
                alloc(
                    buffer_bytes(&self.plan, b),
                    format!("allocating input buffer {b}"),
                )
            })
            .collect::<Result<_, _>>()?;
        let slots = self
            .memory
            .slot_bytes
            .iter()
            .enumerate()
            .map(|(s, &bytes)| alloc(bytes, format!("allocating temporary slot {s}")))
            .collect::<Result<_, _>>()?;
        Ok(Workspace { inputs, slots })
    }
}

/// Called after each step of an observed run with the step's index and the buffers it wrote
/// (plan buffer id and contents).
pub type StepObserver<'a> = dyn FnMut(usize, Vec<(usize, Tensor)>) + 'a;

fn load_kernel(
    k: &KernelStep,
    target: &dyn Target,
    device: &dyn Device,
    cache: &KernelCache,
    stats: &mut CompileStats,
) -> Result<LoadedKernel, RuntimeError> {
    let (artifact, hit) = cache
        .get_or_compile(target, &k.kernel, &k.info)
        .map_err(|source| RuntimeError::Target {
            nodes: k.nodes.join(", "),
            source,
        })?;
    stats.kernels += 1;
    if hit {
        stats.cache_hits += 1;
    } else {
        stats.cache_misses += 1;
    }
    device.load(&k.kernel, &artifact).map_err(dev_err(format!(
        "loading kernel `{}` (graph nodes: {})",
        k.kernel.name,
        k.nodes.join(", ")
    )))
}

/// One run's state.
struct Run<'a, 'o> {
    p: &'a Prepared,
    device: &'a dyn Device,
    ws: &'a Workspace,
    inputs: &'a [&'a Tensor],
    /// Kernels were launched since the last synchronization.
    dirty: bool,
    /// Results of host steps by plan buffer, while no kernel has overwritten them.
    host: HashMap<usize, Tensor>,
    /// Called after each step with the buffers it wrote.
    observer: Option<&'o mut StepObserver<'o>>,
    /// When profiling: each step's time (the device is waited for after every step).
    times: Option<Vec<StepTime>>,
}

impl<'a, 'o> Run<'a, 'o> {
    /// A run of `p` on workspace `ws` (nothing launched yet), starting from host copies `host`.
    fn new(
        p: &'a Prepared,
        ws: &'a Workspace,
        inputs: &'a [&'a Tensor],
        host: HashMap<usize, Tensor>,
        observer: Option<&'o mut StepObserver<'o>>,
    ) -> Self {
        Run {
            p,
            device: &*p.device,
            ws,
            inputs,
            dirty: false,
            host,
            observer,
            times: None,
        }
    }

    fn go(mut self) -> Result<Vec<Tensor>, RuntimeError> {
        self.upload()?;
        self.steps()?;
        self.outputs()
    }

    /// Copies the input tensors into the workspace's input buffers.
    fn upload(&mut self) -> Result<(), RuntimeError> {
        for (k, &b) in self.p.input_buffers.iter().enumerate() {
            let t = self.input_tensor(b)?;
            let what = format!("copying input buffer {b} to the device");
            self.device
                .write(&self.ws.inputs[k], t.bytes())
                .map_err(dev_err(what))?;
        }
        Ok(())
    }

    /// Runs every step and waits for the device.
    fn steps(&mut self) -> Result<(), RuntimeError> {
        for (s, step) in self.p.plan.steps.iter().enumerate() {
            let start = Instant::now();
            match step {
                Step::Kernel(k) => self.launch(s, k)?,
                Step::Host(h) => self.host(s, h)?,
            }
            if self.times.is_some() {
                self.sync(&format!("waiting for step {s} to time it"))?;
                let (name, nodes) = match step {
                    Step::Kernel(k) => (k.kernel.name.clone(), k.nodes.clone()),
                    Step::Host(h) => (format!("host: {}", h.op.name()), vec![h.node.clone()]),
                };
                if let Some(times) = self.times.as_mut() {
                    times.push(StepTime {
                        step: s,
                        name,
                        nodes,
                        time: start.elapsed(),
                    });
                }
            }
            if self.observer.is_some() {
                self.observe(s, step)?;
            }
        }
        self.sync("waiting for the last kernels")
    }

    /// The graph outputs, read back.
    fn outputs(&self) -> Result<Vec<Tensor>, RuntimeError> {
        self.p
            .plan
            .outputs
            .iter()
            .map(|&(_, b)| self.read(b))
            .collect()
    }

    fn sync(&mut self, what: &str) -> Result<(), RuntimeError> {
        if self.dirty {
            self.device
                .synchronize()
                .map_err(dev_err(what.to_string()))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// The device buffer of plan buffer `b` (an error for a host-only one: a bug).
    fn device_buffer(&self, b: usize) -> Result<&DeviceBuffer, RuntimeError> {
        let found = match self.p.homes.get(b) {
            Some(Home::Input(k)) => self.ws.inputs.get(*k),
            Some(Home::Constant(k)) => self.p.constants.get(*k),
            Some(Home::Slot(s)) => self.ws.slots.get(*s),
            Some(Home::Host) | None => None,
        };
        found.ok_or_else(|| RuntimeError::Plan {
            step: 0,
            nodes: "-".into(),
            message: format!("buffer {b} has no device memory"),
        })
    }

    /// The host tensor given for input buffer `b`.
    fn input_tensor(&self, b: usize) -> Result<&Tensor, RuntimeError> {
        let pb = &self.p.plan.buffers[b];
        let t = match pb.kind {
            BufferKind::Input(i) => self.inputs.get(i).copied(),
            _ => None,
        };
        match t {
            Some(t) if t.dtype() == pb.dtype && t.shape() == pb.shape.as_slice() => Ok(t),
            _ => Err(RuntimeError::Plan {
                step: 0,
                nodes: "-".into(),
                message: format!(
                    "input buffer {b} ({}{:?}) does not match the input given",
                    pb.dtype, pb.shape
                ),
            }),
        }
    }

    fn launch(&mut self, s: usize, k: &KernelStep) -> Result<(), RuntimeError> {
        let args = k
            .args
            .iter()
            .map(|&b| self.device_buffer(b).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        // Host copies of what the kernel writes are stale from now on.
        for (p, b) in k.kernel.params.iter().zip(&k.args) {
            if p.access.can_store() {
                self.host.remove(b);
            }
        }
        let Some(loaded) = &self.p.kernels[s] else {
            return Err(RuntimeError::Plan {
                step: s,
                nodes: k.nodes.join(", "),
                message: format!("kernel `{}` was never loaded", k.kernel.name),
            });
        };
        let what = format!(
            "launching kernel `{}` (graph nodes: {})",
            k.kernel.name,
            k.nodes.join(", ")
        );
        self.device
            .launch(loaded, &k.kernel.launch, &args)
            .map_err(dev_err(what))?;
        self.dirty = true;
        Ok(())
    }

    /// Reads back what step `s` wrote and hands it to the observer.
    fn observe(&mut self, s: usize, step: &Step) -> Result<(), RuntimeError> {
        self.sync(&format!("waiting for step {s} to observe its results"))?;
        let written: Vec<usize> = match step {
            Step::Kernel(k) => k
                .kernel
                .params
                .iter()
                .zip(&k.args)
                .filter(|(p, _)| p.access.can_store())
                .map(|(_, &b)| b)
                .collect(),
            Step::Host(h) => h.outputs.clone(),
        };
        let tensors = written
            .into_iter()
            .map(|b| self.read(b).map(|t| (b, t)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(observer) = self.observer.as_mut() {
            observer(s, tensors);
        }
        Ok(())
    }

    /// Reads a buffer's current contents as a tensor: inputs, constants and results of host
    /// steps from the host, the rest from the device.
    fn read(&self, b: usize) -> Result<Tensor, RuntimeError> {
        let pb = &self.p.plan.buffers[b];
        if let Some(t) = self.host.get(&b) {
            return Ok(t.clone());
        }
        if pb.is_empty() {
            return Ok(Tensor::zeros(pb.dtype, &pb.shape).map_err(IrError::from)?);
        }
        match &pb.kind {
            BufferKind::Input(_) => self.input_tensor(b).cloned(),
            BufferKind::Constant(t) => Ok(t.clone()),
            BufferKind::Temp => {
                let mut bytes = vec![0u8; buffer_bytes(&self.p.plan, b)];
                let what = format!("reading buffer {b} back from the device");
                self.device
                    .read(self.device_buffer(b)?, &mut bytes)
                    .map_err(dev_err(what))?;
                Ok(Tensor::from_bytes(pb.dtype, &pb.shape, bytes).map_err(IrError::from)?)
            }
        }
    }

    /// [`Run::read`], keeping a host copy of a temporary read from the device so that later
    /// host steps need no copy (a kernel that writes it again drops the copy).
    fn read_to_host(&mut self, b: usize) -> Result<Tensor, RuntimeError> {
        let t = self.read(b)?;
        if matches!(self.p.plan.buffers[b].kind, BufferKind::Temp) {
            self.host.insert(b, t.clone());
        }
        Ok(t)
    }

    fn host(&mut self, s: usize, h: &HostStep) -> Result<(), RuntimeError> {
        self.sync(&format!(
            "waiting for kernels before host node `{}`",
            h.node
        ))?;
        let mut args = Vec::with_capacity(h.inputs.len());
        for &b in &h.inputs {
            args.push(match b {
                Some(b) => Some(self.read_to_host(b)?),
                None => None,
            });
        }
        let refs: Vec<Option<&Tensor>> = args.iter().map(Option::as_ref).collect();
        let at = At {
            node: h.node.clone(),
            op: h.op.name(),
        };
        let outs = eval_op(&h.op, &at, &refs, h.outputs.len())?;
        for (t, &b) in outs.into_iter().zip(&h.outputs) {
            let pb = &self.p.plan.buffers[b];
            if t.dtype() != pb.dtype || t.shape() != pb.shape.as_slice() {
                return Err(RuntimeError::Plan {
                    step: s,
                    nodes: step_nodes(&self.p.plan.steps[s]),
                    message: format!(
                        "host node `{}` produced {}{:?} for buffer {b}, which is {}{:?}",
                        h.node,
                        t.dtype(),
                        t.shape(),
                        pb.dtype,
                        pb.shape
                    ),
                });
            }
            if matches!(self.p.homes[b], Home::Slot(_)) {
                let what = format!("writing the result of host node `{}` to the device", h.node);
                self.device
                    .write(self.device_buffer(b)?, t.bytes())
                    .map_err(dev_err(what))?;
            }
            self.host.insert(b, t);
        }
        Ok(())
    }
}
