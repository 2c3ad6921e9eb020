//! An example vendor backend for Tessera: the two traits a vendor implements, [`Target`]
//! (describe the hardware, compile kernel IR into an artifact) and [`Device`] (memory, copies,
//! loading and launching), made a backend by [`CompiledBackend`].
//!
//! A real backend renders kernel IR to its own code (PTX, WGSL, machine code) in
//! [`Target::compile`] and runs it in [`Device::launch`]. This one keeps the example short by
//! delegating both to the kernel-IR interpreter, while declaring capabilities of its own: a
//! GPU-style execution model (workgroups, shared memory) and no `f64`, so that the suite shows
//! `f64` cases as *unsupported* rather than passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tessera_ir::DType;
use tessera_ir::kernel::{Kernel, KernelInfo, Launch};
use tessera_ir::target::{DTypeSupport, TargetDesc};
use tessera_runtime::{
    Artifact, CompiledBackend, Device, DeviceBuffer, DeviceError, InterpDevice, InterpTarget,
    LoadedKernel, Target, TargetError,
};

/// The backend's name on the command line.
pub const NAME: &str = "example";

/// The example target: a GPU-style description without `f64`; kernels are "compiled" by the
/// kernel interpreter's target.
pub struct ExampleTarget {
    inner: InterpTarget,
}

impl ExampleTarget {
    /// The target, with its capabilities.
    pub fn new() -> Self {
        let mut desc = TargetDesc::generic_gpu();
        desc.name = NAME.into();
        if let Some(i) = DType::ALL.iter().position(|&d| d == DType::F64) {
            desc.dtypes[i] = DTypeSupport::Unsupported;
        }
        ExampleTarget {
            inner: InterpTarget::with_desc(desc),
        }
    }
}

impl Default for ExampleTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for ExampleTarget {
    fn desc(&self) -> &TargetDesc {
        self.inner.desc()
    }

    fn compile(&self, kernel: &Kernel, info: &KernelInfo) -> Result<Artifact, TargetError> {
        // A kernel that uses a dtype the target declared unsupported is refused with a typed
        // error (the scheduler already refuses most; this guards the rest).
        if let Some(p) = kernel
            .params
            .iter()
            .find(|p| self.desc().support(p.dtype) == DTypeSupport::Unsupported)
        {
            return Err(TargetError::Unsupported {
                target: NAME.into(),
                kernel: kernel.name.clone(),
                what: format!("dtype {}", p.dtype),
            });
        }
        self.inner.compile(kernel, info)
    }
}

/// The example device: host memory and the kernel interpreter, counting launches.
#[derive(Default)]
pub struct ExampleDevice {
    inner: InterpDevice,
    launches: AtomicUsize,
}

impl ExampleDevice {
    /// A new device.
    pub fn new() -> Self {
        Self::default()
    }

    /// Kernels launched so far.
    pub fn launches(&self) -> usize {
        self.launches.load(Ordering::Relaxed)
    }
}

impl Device for ExampleDevice {
    fn name(&self) -> String {
        "example device (kernel interpreter)".into()
    }

    fn memory_bytes(&self) -> Option<u64> {
        None
    }

    fn alloc(&self, bytes: usize) -> Result<DeviceBuffer, DeviceError> {
        self.inner.alloc(bytes)
    }

    fn write(&self, buf: &DeviceBuffer, data: &[u8]) -> Result<(), DeviceError> {
        self.inner.write(buf, data)
    }

    fn read(&self, buf: &DeviceBuffer, out: &mut [u8]) -> Result<(), DeviceError> {
        self.inner.read(buf, out)
    }

    fn load(&self, kernel: &Kernel, artifact: &Artifact) -> Result<LoadedKernel, DeviceError> {
        self.inner.load(kernel, artifact)
    }

    fn launch(
        &self,
        kernel: &LoadedKernel,
        launch: &Launch,
        args: &[DeviceBuffer],
    ) -> Result<(), DeviceError> {
        self.launches.fetch_add(1, Ordering::Relaxed);
        self.inner.launch(kernel, launch, args)
    }

    fn synchronize(&self) -> Result<(), DeviceError> {
        self.inner.synchronize()
    }
}

/// The backend: [`ExampleTarget`] + [`ExampleDevice`] under the name [`NAME`].
pub fn backend() -> CompiledBackend {
    CompiledBackend::new(
        NAME,
        Arc::new(ExampleTarget::new()),
        Arc::new(ExampleDevice::new()),
    )
}

// The plugin hook: built as a `cdylib`, this crate is a library that the `tessera` command
// loads with `tessera --plugin PATH ...` (or `TESSERA_PLUGINS=PATH`), so that `example` answers
// to `tessera devices`, `tessera run --backend example` and `tessera conformance --backend
// example`.
tessera_runtime::export_backend!(backend());

/// The registry of the reference and built-in interpreters plus this backend — the
/// registration hook through which it answers to `--backend example`.
pub fn registry() -> tessera_runtime::Registry {
    let mut r = tessera_runtime::Registry::with_builtin();
    r.register(Arc::new(backend()));
    r
}
