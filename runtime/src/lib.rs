//! tessera-runtime: the graph-level backend interface (`Backend` → `Executable`), the backend
//! registry with discovery and `auto` selection, the `reference` backend that runs graphs on the
//! IR interpreter, and the machinery of compiling backends: the [`Target`] and [`Device`]
//! traits a backend implements, [`CompiledBackend`] with its compile pipeline, the kernel cache,
//! the memory plan, the placement report, and the `kernel-interp` software device that runs
//! kernel IR on the kernel interpreter.
//!
//! ```text
//! Graph --compile_graph--> CompiledGraph (Plan + loaded kernels + constants) --run--> outputs
//! ```

pub mod backend;
pub mod cache;
pub mod compiled;
pub mod disk_cache;
pub mod error;
pub mod interp_device;
pub mod lower;
pub mod memory;
pub mod placement;
pub mod plan_check;
pub mod plugin;
pub mod prepared;
pub mod reference;
pub mod registry;
pub mod target;

#[cfg(test)]
mod tests;

pub use backend::{Availability, Backend, BoundRun, Executable, NamedTensors, OpSupport, StepTime};
pub use cache::{CacheKey, CacheStats, KernelCache};
pub use compiled::{
    CompileOptions, CompiledBackend, CompiledGraph, Lowered, UnavailableBackend, compile_graph,
    lower_graph,
};
pub use disk_cache::{DiskCache, DiskCacheStats, Entry as DiskEntry};
pub use error::RuntimeError;
pub use interp_device::{InterpDevice, InterpTarget, KERNEL_INTERP, kernel_interp_backend};
pub use memory::{MemoryPlan, plan_memory};
pub use placement::{Placement, Where};
pub use plugin::{Guarded, load_plugin};
pub use prepared::{Binding, CompileStats, Prepared};
pub use reference::ReferenceBackend;
pub use registry::Registry;
pub use target::{Artifact, Device, DeviceBuffer, DeviceError, LoadedKernel, Target, TargetError};
