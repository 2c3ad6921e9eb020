//! The two traits a compiling backend implements: [`Target`] (describe itself, compile kernel
//! IR to an artifact — possible without the hardware) and [`Device`] (memory, copies, loading
//! and launching artifacts).

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use tessera_ir::kernel::{Kernel, KernelInfo};
use tessera_ir::target::TargetDesc;

/// A kernel compiled by a [`Target`]: text for drivers that compile it further (PTX, WGSL), or
/// native code already in memory (a JIT-compiled function).
#[derive(Clone)]
pub enum Artifact {
    /// Source text for a driver: `language` is `"ptx"`, `"wgsl"`, ...
    Text {
        /// The language of `code`.
        language: &'static str,
        /// The kernel's source.
        code: String,
    },
    /// Target-specific compiled code (e.g. a Cranelift-compiled function), opaque to the
    /// runtime and understood by the matching [`Device`].
    Native(Arc<dyn Any + Send + Sync>),
}

impl fmt::Debug for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Artifact::Text { language, code } => {
                write!(f, "Artifact::Text({language}, {} bytes)", code.len())
            }
            Artifact::Native(_) => f.write_str("Artifact::Native"),
        }
    }
}

/// Why a target could not compile a kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The kernel uses something this target does not support (a dtype, an operation); the
    /// conformance report shows it as unsupported.
    #[error("target `{target}` does not support {what} (kernel `{kernel}`)")]
    Unsupported {
        /// Target name.
        target: String,
        /// Kernel name.
        kernel: String,
        /// What is missing, e.g. "dtype f64".
        what: String,
    },
    /// The code generator failed: an internal error, carrying the generated code when there is
    /// any and the tool's message.
    #[error("target `{target}` failed to compile kernel `{kernel}`: {message}")]
    Internal {
        /// Target name.
        target: String,
        /// Kernel name.
        kernel: String,
        /// The validator's or code generator's message (and the code, where useful).
        message: String,
    },
}

/// A code generator: kernel IR in, artifact out. Must not need the hardware.
pub trait Target: Send + Sync {
    /// What the shared scheduler needs to know (vector width, limits, dtype support, ...).
    fn desc(&self) -> &TargetDesc;

    /// Code-generator settings that change the generated code but are not in [`Target::desc`]
    /// (optional features, a codegen choice, CPU features): part of every kernel-cache key, so
    /// two targets with equal descriptions but different fingerprints never share artifacts.
    /// Empty by default.
    fn fingerprint(&self) -> String {
        String::new()
    }

    /// Compiles one verified kernel.
    fn compile(&self, kernel: &Kernel, info: &KernelInfo) -> Result<Artifact, TargetError>;

    /// Bytes that [`Target::restore`] turns back into `artifact` in another process, so the
    /// on-disk cache can keep native artifacts (machine code) too; `None` (the default) when
    /// this artifact cannot be kept. Text artifacts are stored by the cache itself.
    fn persist(&self, artifact: &Artifact) -> Option<Vec<u8>> {
        let _ = artifact;
        None
    }

    /// The native artifact of `kernel` from bytes [`Target::persist`] made (read back from the
    /// on-disk cache); `None` when they are unusable (another format, damaged, another
    /// machine), in which case the cache compiles the kernel again and replaces the entry.
    /// Must never trust the bytes further than its own format checks allow.
    fn restore(&self, kernel: &Kernel, bytes: &[u8]) -> Option<Artifact> {
        let _ = (kernel, bytes);
        None
    }
}

/// A device buffer, owned by the device that made it.
#[derive(Clone)]
pub struct DeviceBuffer {
    /// Size in bytes.
    pub bytes: usize,
    /// The device's own handle.
    pub handle: Arc<dyn Any + Send + Sync>,
}

impl fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceBuffer({} bytes)", self.bytes)
    }
}

/// A kernel loaded on a device, ready to launch.
#[derive(Clone)]
pub struct LoadedKernel {
    /// The kernel's name.
    pub name: String,
    /// The device's own handle (a function pointer, a pipeline, a CUDA function).
    pub handle: Arc<dyn Any + Send + Sync>,
}

impl fmt::Debug for LoadedKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoadedKernel({})", self.name)
    }
}

/// Why a device operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// Not enough device memory.
    #[error("device `{device}` is out of memory allocating {bytes} bytes")]
    OutOfMemory {
        /// Device name.
        device: String,
        /// Requested size.
        bytes: usize,
    },
    /// A buffer larger than the device allows in one binding.
    #[error("device `{device}` cannot hold a {bytes}-byte buffer (limit {limit})")]
    TooLarge {
        /// Device name.
        device: String,
        /// Requested size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Loading or launching failed.
    #[error("device `{device}`: {message}")]
    Failed {
        /// Device name.
        device: String,
        /// The driver's message.
        message: String,
    },
}

/// Memory, copies, loading and launching on one device. Methods may be called from several
/// threads.
pub trait Device: Send + Sync {
    /// The device's name (e.g. "host (2 cores, Cranelift)", a GPU's name).
    fn name(&self) -> String;

    /// Total memory in bytes, when known.
    fn memory_bytes(&self) -> Option<u64>;

    /// Allocates an uninitialized (or zeroed) buffer. A 0-byte allocation (an empty tensor)
    /// must succeed; such a buffer is bound to kernels that never touch it.
    fn alloc(&self, bytes: usize) -> Result<DeviceBuffer, DeviceError>;

    /// Copies host bytes into a buffer (`data.len() <= buf.bytes`).
    fn write(&self, buf: &DeviceBuffer, data: &[u8]) -> Result<(), DeviceError>;

    /// Copies a buffer's bytes out (`out.len() <= buf.bytes`).
    fn read(&self, buf: &DeviceBuffer, out: &mut [u8]) -> Result<(), DeviceError>;

    /// Loads an artifact compiled for this device's target.
    fn load(&self, kernel: &Kernel, artifact: &Artifact) -> Result<LoadedKernel, DeviceError>;

    /// Launches a loaded kernel over its launch space with `args[i]` bound to parameter `i`.
    /// May return before the kernel finishes; [`Device::synchronize`] waits.
    fn launch(
        &self,
        kernel: &LoadedKernel,
        launch: &tessera_ir::kernel::Launch,
        args: &[DeviceBuffer],
    ) -> Result<(), DeviceError>;

    /// Waits for every launched kernel and copy to finish.
    fn synchronize(&self) -> Result<(), DeviceError>;
}
