//! The runtime's error type.

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
}
