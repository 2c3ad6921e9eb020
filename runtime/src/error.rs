//! The runtime's error type.

use crate::target::{DeviceError, TargetError};
use tessera_ir::IrError;

/// Errors from choosing a backend, compiling a graph for it, or running it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No backend with this name is compiled in.
    #[error("unknown backend `{name}`; compiled-in backends: {known}")]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// The backend exists but cannot run here.
    #[error("backend `{name}` is unavailable: {reason}")]
    Unavailable {
        /// Backend name.
        name: String,
        /// Why (missing driver, no device, ...).
        reason: String,
    },
    /// No backend at all can run (only possible when every backend is unavailable).
    #[error("no available backend for `auto`: {0}")]
    NoBackend(String),
    /// The graph is invalid or failed while running.
    #[error(transparent)]
    Ir(#[from] IrError),
    /// The target could not compile a kernel (unsupported dtype or operation, code generator
    /// failure).
    #[error("{source} (graph nodes: {nodes})")]
    Target {
        /// The graph nodes fused into the kernel.
        nodes: String,
        /// The target's error.
        source: TargetError,
    },
    /// A device operation (allocation, copy, load, launch, synchronization) failed.
    #[error("{what}: {source}")]
    Device {
        /// What the runtime was doing, naming the kernel and graph nodes where there are any.
        what: String,
        /// The device's error.
        source: DeviceError,
    },
    /// A backend plugin could not be opened, or is not one (it lacks the exported symbols
    /// that [`export_backend!`](crate::export_backend) writes).
    #[error("backend plugin `{}`: {message}", path.display())]
    PluginLoad {
        /// The library's path.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A backend plugin was built against another Tessera source, rustc or target than this
    /// program: its types could be laid out differently, so it is not called.
    #[error(
        "backend plugin `{}` was built for `{plugin}`, but this program is `{host}`: rebuild \
         the plugin against this Tessera with the same rustc",
        path.display()
    )]
    PluginAbi {
        /// The library's path.
        path: std::path::PathBuf,
        /// The plugin's ABI tag.
        plugin: String,
        /// This program's ABI tag.
        host: String,
    },
    /// A backend plugin's registration failed (it panicked, or registered nothing).
    #[error("backend plugin `{}` registered no backend: {message}", path.display())]
    PluginInit {
        /// The library's path.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// A backend panicked; the panic was caught at the plugin boundary.
    #[error("backend `{backend}` panicked in `{call}`: {message}")]
    BackendPanic {
        /// The backend's name.
        backend: String,
        /// The trait method that panicked (`compile`, `run`, ...).
        call: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The execution plan is inconsistent (a bug of the scheduler, or a hand-built plan):
    /// a kernel argument that does not match its parameter, a write to an input, ...
    #[error("invalid plan at step {step} (graph nodes: {nodes}): {message}")]
    Plan {
        /// Index of the step in the plan (the number of steps for plan-wide problems).
        step: usize,
        /// The graph nodes of that step.
        nodes: String,
        /// What is wrong.
        message: String,
    },
}

impl RuntimeError {
    /// A device error with a description of the operation that failed.
    pub(crate) fn device(what: impl Into<String>, source: DeviceError) -> Self {
        RuntimeError::Device {
            what: what.into(),
            source,
        }
    }
}
