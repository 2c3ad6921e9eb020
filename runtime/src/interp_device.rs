//! A software target and device that run kernel IR on the kernel interpreter: the `kernel-interp`
//! backend. With no code generator involved, it checks decomposition, fusion, scheduling and
//! the runtime's memory plan on their own (every load and store is bounds-checked).

use crate::compiled::CompiledBackend;
use crate::target::{
    Artifact, Device, DeviceBuffer, DeviceError, LoadedKernel, Target, TargetError,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tessera_ir::kernel::{Kernel, KernelInfo, Launch, run_kernel, verify_kernel};
use tessera_ir::target::TargetDesc;

/// The name of the backend, its target and its device.
pub const KERNEL_INTERP: &str = "kernel-interp";

/// A kernel "compiled" for [`InterpDevice`]: the kernel itself with its verification info.
#[derive(Clone, Debug)]
pub struct InterpKernel {
    /// The verified kernel.
    pub kernel: Kernel,
    /// Its verification info.
    pub info: KernelInfo,
}

/// The target of the kernel interpreter: compiling verifies the kernel and wraps it.
#[derive(Clone, Debug)]
pub struct InterpTarget {
    desc: TargetDesc,
}

impl InterpTarget {
    /// A CPU-style target (one invocation per workgroup, 4-lane vectors) named `kernel-interp`.
    pub fn new() -> Self {
        let mut desc = TargetDesc::generic_cpu(1);
        desc.name = KERNEL_INTERP.into();
        InterpTarget { desc }
    }

    /// A target with any description, e.g. a GPU-style one to check workgroup kernels. Its
    /// name gets the prefix `kernel-interp/` (unless it has it), so that its artifacts never
    /// meet another target's in the kernel cache.
    pub fn with_desc(mut desc: TargetDesc) -> Self {
        if !desc.name.starts_with(KERNEL_INTERP) {
            desc.name = format!("{KERNEL_INTERP}/{}", desc.name);
        }
        InterpTarget { desc }
    }
}

impl Default for InterpTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for InterpTarget {
    fn desc(&self) -> &TargetDesc {
        &self.desc
    }

    fn compile(&self, kernel: &Kernel, _info: &KernelInfo) -> Result<Artifact, TargetError> {
        // Verify again rather than trust the caller's info: the interpreter needs the info of
        // exactly this kernel.
        let info = verify_kernel(kernel).map_err(|e| TargetError::Internal {
            target: self.desc.name.clone(),
            kernel: kernel.name.clone(),
            message: e.to_string(),
        })?;
        Ok(Artifact::Native(Arc::new(InterpKernel {
            kernel: kernel.clone(),
            info,
        })))
    }
}

/// Host memory standing in for device memory: each buffer is a byte vector behind a lock.
/// Launches run to completion on the calling thread, so `synchronize` has nothing to wait
/// for; it still counts calls, as do `launch` and `alloc`, so tests can check how the runtime
/// uses a device.
#[derive(Debug, Default)]
pub struct InterpDevice {
    allocs: AtomicUsize,
    launches: AtomicUsize,
    syncs: AtomicUsize,
}

type HostBytes = Mutex<Vec<u8>>;

impl InterpDevice {
    /// A new device.
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffers allocated so far.
    pub fn allocs(&self) -> usize {
        self.allocs.load(Ordering::Relaxed)
    }

    /// Kernels launched so far.
    pub fn launches(&self) -> usize {
        self.launches.load(Ordering::Relaxed)
    }

    /// `synchronize` calls so far.
    pub fn syncs(&self) -> usize {
        self.syncs.load(Ordering::Relaxed)
    }

    fn failed(&self, message: String) -> DeviceError {
        DeviceError::Failed {
            device: KERNEL_INTERP.into(),
            message,
        }
    }

    fn bytes_of<'a>(&self, buf: &'a DeviceBuffer) -> Result<&'a HostBytes, DeviceError> {
        buf.handle
            .downcast_ref::<HostBytes>()
            .ok_or_else(|| self.failed("a buffer of another device was passed".into()))
    }

    /// A copy of the first `len` bytes of a buffer.
    fn snapshot(&self, buf: &DeviceBuffer, len: usize) -> Result<Vec<u8>, DeviceError> {
        let bytes = self
            .bytes_of(buf)?
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        bytes.get(..len).map(<[u8]>::to_vec).ok_or_else(|| {
            self.failed(format!(
                "a {}-byte buffer is bound to a {len}-byte parameter",
                bytes.len()
            ))
        })
    }
}

impl Device for InterpDevice {
    fn name(&self) -> String {
        "host kernel interpreter (bounds-checked)".into()
    }

    fn memory_bytes(&self) -> Option<u64> {
        None
    }

    fn alloc(&self, bytes: usize) -> Result<DeviceBuffer, DeviceError> {
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(bytes)
            .map_err(|_| DeviceError::OutOfMemory {
                device: KERNEL_INTERP.into(),
                bytes,
            })?;
        v.resize(bytes, 0);
        self.allocs.fetch_add(1, Ordering::Relaxed);
        Ok(DeviceBuffer {
            bytes,
            handle: Arc::new(Mutex::new(v)),
        })
    }

    fn write(&self, buf: &DeviceBuffer, data: &[u8]) -> Result<(), DeviceError> {
        let mut bytes = self
            .bytes_of(buf)?
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let len = bytes.len();
        let dst = bytes.get_mut(..data.len()).ok_or_else(|| {
            self.failed(format!(
                "writing {} bytes into a {len}-byte buffer",
                data.len()
            ))
        })?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn read(&self, buf: &DeviceBuffer, out: &mut [u8]) -> Result<(), DeviceError> {
        let src = self.snapshot(buf, out.len())?;
        out.copy_from_slice(&src);
        Ok(())
    }

    fn load(&self, _kernel: &Kernel, artifact: &Artifact) -> Result<LoadedKernel, DeviceError> {
        match artifact {
            Artifact::Native(a) => {
                let k = Arc::clone(a)
                    .downcast::<InterpKernel>()
                    .map_err(|_| self.failed("the artifact was not made by InterpTarget".into()))?;
                Ok(LoadedKernel {
                    name: k.kernel.name.clone(),
                    handle: k,
                })
            }
            Artifact::Text { language, .. } => Err(self.failed(format!(
                "cannot load {language} text; only InterpTarget artifacts"
            ))),
        }
    }

    fn launch(
        &self,
        kernel: &LoadedKernel,
        launch: &Launch,
        args: &[DeviceBuffer],
    ) -> Result<(), DeviceError> {
        let k = kernel
            .handle
            .downcast_ref::<InterpKernel>()
            .ok_or_else(|| self.failed(format!("kernel `{}` was not loaded here", kernel.name)))?;
        if *launch != k.kernel.launch {
            return Err(self.failed(format!(
                "kernel `{}` is launched over {launch:?}, not its own {:?}",
                kernel.name, k.kernel.launch
            )));
        }
        if args.len() != k.kernel.params.len() {
            return Err(self.failed(format!(
                "kernel `{}` takes {} buffers, {} were bound",
                kernel.name,
                k.kernel.params.len(),
                args.len()
            )));
        }
        // Snapshot every argument first (the same buffer may be bound twice), run, then write
        // the results back.
        let mut host = Vec::with_capacity(args.len());
        for (p, buf) in k.kernel.params.iter().zip(args) {
            host.push(self.snapshot(buf, p.len.saturating_mul(p.dtype.size_bytes()))?);
        }
        run_kernel(&k.kernel, &k.info, &mut host).map_err(|e| self.failed(e.to_string()))?;
        for ((p, buf), bytes) in k.kernel.params.iter().zip(args).zip(&host) {
            if p.access.can_store() {
                self.write(buf, bytes)?;
            }
        }
        self.launches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn synchronize(&self) -> Result<(), DeviceError> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The `kernel-interp` backend: [`InterpTarget`] and a fresh [`InterpDevice`]. Always available.
pub fn kernel_interp_backend() -> CompiledBackend {
    CompiledBackend::new(
        KERNEL_INTERP,
        Arc::new(InterpTarget::new()),
        Arc::new(InterpDevice::new()),
    )
}
