//! tessera-runtime: the graph-level backend interface (`Backend` → `Executable`), the backend
//! registry with discovery and `auto` selection, and the `reference` backend that runs graphs on
//! the IR interpreter.
//!
//! The kernel-level traits (`Target`, `Device`) that compiled backends implement arrive with the
//! compiler proper; every backend, compiled or not, is reached through [`Backend`].

pub mod backend;
pub mod error;
pub mod reference;
pub mod registry;
pub mod target;

pub use backend::{Availability, Backend, Executable, NamedTensors, OpSupport};
pub use error::RuntimeError;
pub use reference::ReferenceBackend;
pub use registry::Registry;
pub use target::{Artifact, Device, DeviceBuffer, DeviceError, LoadedKernel, Target, TargetError};
