//! [`CudaDevice`]: one NVIDIA GPU through the CUDA driver API, loaded at run time by
//! `cudarc` (nothing CUDA is needed to build). Buffers are device allocations, copies go
//! through one stream, PTX modules are loaded with `cuModuleLoadData` (the driver's own PTX
//! JIT; NVRTC is never called), launches go on the same stream.
//!
//! Every kernel gets one extra argument: a device status word that generated code sets bits
//! of ([`crate::ERR_OUT_OF_BOUNDS`], [`crate::ERR_DIV_ZERO`]); [`CudaDevice::synchronize`]
//! reads it, clears it and turns set bits into a [`DeviceError::Failed`].

use crate::ptx::{ERR_DIV_ZERO, ERR_OUT_OF_BOUNDS, entry_name};
use crate::target::Arch;
use cudarc::driver::sys::CUresult;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DriverError, LaunchConfig,
    PushKernelArg,
};
use std::sync::{Arc, Mutex, PoisonError};
use tessera_ir::kernel::{Kernel, Launch};
use tessera_runtime::{Artifact, Device, DeviceBuffer, DeviceError, LoadedKernel};

/// Whether the CUDA driver library can be loaded here. cudarc panics on first use when it
/// cannot, so nothing else in this crate touches the driver before this says yes.
pub fn driver_present() -> bool {
    // SAFETY: only tries to open the driver library with `dlopen`; no driver call is made.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// A device allocation (`None` for a 0-byte buffer, which kernels never touch).
struct CudaBuffer {
    slice: Mutex<Option<CudaSlice<u8>>>,
}

/// A loaded kernel: its function and how many buffers it takes.
struct CudaKernel {
    func: CudaFunction,
    params: usize,
}

/// One CUDA GPU.
pub struct CudaDevice {
    name: String,
    arch: Arch,
    sms: usize,
    total: u64,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    status: Mutex<CudaSlice<u32>>,
}

impl CudaDevice {
    /// Opens GPU `ordinal`. Fails (with the driver's reason) when the driver is missing,
    /// there is no such GPU, or its compute capability is below 8.0.
    pub fn new(ordinal: usize) -> Result<Self, String> {
        if !driver_present() {
            return Err("the CUDA driver library (libcuda.so) was not found".into());
        }
        // cudarc panics when a driver symbol is missing (an old driver): contain it.
        std::panic::catch_unwind(|| Self::open(ordinal))
            .unwrap_or_else(|_| Err("the CUDA driver library is unusable (missing symbols)".into()))
    }

    fn open(ordinal: usize) -> Result<Self, String> {
        let count = CudaContext::device_count().map_err(|e| format!("cuInit: {e:?}"))?;
        if count <= 0 {
            return Err("the CUDA driver reports no GPU".into());
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| format!("GPU {ordinal}: {e:?}"))?;
        let name = ctx.name().map_err(|e| format!("{e:?}"))?;
        let (major, minor) = ctx.compute_capability().map_err(|e| format!("{e:?}"))?;
        let arch = Arch::for_compute_capability(major, minor).ok_or_else(|| {
            format!("{name} has compute capability {major}.{minor}; tessera needs 8.0 or newer")
        })?;
        let sms = ctx
            .attribute(
                cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
            )
            .map_or(1, |v| usize::try_from(v).unwrap_or(1));
        let total = ctx.total_mem().map_or(0, |b| b as u64);
        // One stream orders every copy and launch: no cross-stream events are needed.
        // SAFETY: this device uses a single stream, so no access needs event tracking.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        let status = stream
            .alloc_zeros::<u32>(1)
            .map_err(|e| format!("allocating the status word: {e:?}"))?;
        Ok(CudaDevice {
            name: format!("{name} ({arch}, {sms} SMs)"),
            arch,
            sms,
            total,
            ctx,
            stream,
            status: Mutex::new(status),
        })
    }

    /// The architecture PTX should be generated for.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Streaming multiprocessors.
    pub fn multiprocessors(&self) -> usize {
        self.sms
    }

    fn failed(&self, message: impl Into<String>) -> DeviceError {
        DeviceError::Failed {
            device: self.name.clone(),
            message: message.into(),
        }
    }

    fn driver(&self, what: &str, e: DriverError) -> DeviceError {
        self.failed(format!("{what}: {e:?}"))
    }

    fn buffer<'b>(&self, buf: &'b DeviceBuffer) -> Result<&'b CudaBuffer, DeviceError> {
        buf.handle
            .downcast_ref::<CudaBuffer>()
            .ok_or_else(|| self.failed("a buffer of another device"))
    }
}

impl Device for CudaDevice {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn memory_bytes(&self) -> Option<u64> {
        Some(self.total)
    }

    fn alloc(&self, bytes: usize) -> Result<DeviceBuffer, DeviceError> {
        let slice = if bytes == 0 {
            None
        } else {
            match self.stream.alloc_zeros::<u8>(bytes) {
                Ok(s) => Some(s),
                Err(DriverError(CUresult::CUDA_ERROR_OUT_OF_MEMORY)) => {
                    return Err(DeviceError::OutOfMemory {
                        device: self.name.clone(),
                        bytes,
                    });
                }
                Err(e) => return Err(self.driver("cuMemAlloc", e)),
            }
        };
        Ok(DeviceBuffer {
            bytes,
            handle: Arc::new(CudaBuffer {
                slice: Mutex::new(slice),
            }),
        })
    }

    fn write(&self, buf: &DeviceBuffer, data: &[u8]) -> Result<(), DeviceError> {
        if data.len() > buf.bytes {
            return Err(self.failed(format!(
                "writing {} bytes into a {}-byte buffer",
                data.len(),
                buf.bytes
            )));
        }
        if data.is_empty() {
            return Ok(());
        }
        let b = self.buffer(buf)?;
        let mut guard = b.slice.lock().unwrap_or_else(PoisonError::into_inner);
        let slice = guard
            .as_mut()
            .ok_or_else(|| self.failed("writing into an empty buffer"))?;
        let mut view = slice.slice_mut(..data.len());
        self.stream
            .memcpy_htod(data, &mut view)
            .map_err(|e| self.driver("copy to device", e))
    }

    fn read(&self, buf: &DeviceBuffer, out: &mut [u8]) -> Result<(), DeviceError> {
        if out.len() > buf.bytes {
            return Err(self.failed(format!(
                "reading {} bytes from a {}-byte buffer",
                out.len(),
                buf.bytes
            )));
        }
        if out.is_empty() {
            return Ok(());
        }
        let b = self.buffer(buf)?;
        let guard = b.slice.lock().unwrap_or_else(PoisonError::into_inner);
        let slice = guard
            .as_ref()
            .ok_or_else(|| self.failed("reading from an empty buffer"))?;
        let view = slice.slice(..out.len());
        self.stream
            .memcpy_dtoh(&view, out)
            .map_err(|e| self.driver("copy from device", e))?;
        self.stream
            .synchronize()
            .map_err(|e| self.driver("synchronize", e))
    }

    fn load(&self, kernel: &Kernel, artifact: &Artifact) -> Result<LoadedKernel, DeviceError> {
        let Artifact::Text {
            language: "ptx",
            code,
        } = artifact
        else {
            return Err(self.failed(format!(
                "kernel `{}`: the CUDA device loads PTX, not {artifact:?}",
                kernel.name
            )));
        };
        let module = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(code.clone()))
            .map_err(|e| self.driver(&format!("loading the PTX of kernel `{}`", kernel.name), e))?;
        let func = module
            .load_function(&entry_name(kernel))
            .map_err(|e| self.driver(&format!("kernel `{}`", kernel.name), e))?;
        Ok(LoadedKernel {
            name: kernel.name.clone(),
            handle: Arc::new(CudaKernel {
                func,
                params: kernel.params.len(),
            }),
        })
    }

    fn launch(
        &self,
        kernel: &LoadedKernel,
        launch: &Launch,
        args: &[DeviceBuffer],
    ) -> Result<(), DeviceError> {
        let k = kernel.handle.downcast_ref::<CudaKernel>().ok_or_else(|| {
            self.failed(format!(
                "kernel `{}` was not loaded by this device",
                kernel.name
            ))
        })?;
        if args.len() != k.params {
            return Err(self.failed(format!(
                "kernel `{}` takes {} buffers, got {}",
                kernel.name,
                k.params,
                args.len()
            )));
        }
        let dims = |v: &[usize], limits: [usize; 3]| -> Result<(u32, u32, u32), DeviceError> {
            let mut d = [1u32; 3];
            if v.is_empty() || v.len() > 3 {
                return Err(self.failed(format!(
                    "kernel `{}`: launch rank {}",
                    kernel.name,
                    v.len()
                )));
            }
            for (i, &x) in v.iter().enumerate() {
                if x > limits[i] {
                    return Err(self.failed(format!(
                        "kernel `{}`: launch {v:?} exceeds the device limits {limits:?}",
                        kernel.name
                    )));
                }
                d[i] = x as u32;
            }
            Ok((d[0], d[1], d[2]))
        };
        let grid = dims(&launch.grid, [i32::MAX as usize, 65535, 65535])?;
        let block = dims(&launch.group, [1024, 1024, 64])?;
        if grid.0 == 0 || grid.1 == 0 || grid.2 == 0 {
            return Ok(());
        }
        // Raw device pointers, kept alive (with the locks) until the launch is queued.
        let guards: Vec<_> = args
            .iter()
            .map(|a| {
                self.buffer(a)
                    .map(|b| b.slice.lock().unwrap_or_else(PoisonError::into_inner))
            })
            .collect::<Result<_, _>>()?;
        let mut ptrs: Vec<u64> = Vec::with_capacity(args.len() + 1);
        for g in &guards {
            ptrs.push(match g.as_ref() {
                Some(s) => s.device_ptr(&self.stream).0,
                None => 0,
            });
        }
        let status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        ptrs.push(status.device_ptr(&self.stream).0);
        let cfg = LaunchConfig {
            grid_dim: grid,
            block_dim: block,
            shared_mem_bytes: 0,
        };
        let mut builder = self.stream.launch_builder(&k.func);
        for p in &ptrs {
            builder.arg(p);
        }
        // SAFETY: the function was loaded from PTX rendered for this kernel, whose
        // parameters are exactly `params.len()` global pointers and the status word, passed
        // here in order; every access in the generated code is bounds-checked against the
        // parameter lengths, and the runtime binds buffers at least that long.
        unsafe { builder.launch(cfg) }
            .map(|_| ())
            .map_err(|e| self.driver(&format!("launching kernel `{}`", kernel.name), e))
    }

    fn synchronize(&self) -> Result<(), DeviceError> {
        self.stream
            .synchronize()
            .map_err(|e| self.driver("synchronize", e))?;
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let mut word = [0u32; 1];
        self.stream
            .memcpy_dtoh(&*status, &mut word)
            .map_err(|e| self.driver("reading the status word", e))?;
        if word[0] == 0 {
            return Ok(());
        }
        self.stream
            .memset_zeros(&mut *status)
            .map_err(|e| self.driver("clearing the status word", e))?;
        self.stream
            .synchronize()
            .map_err(|e| self.driver("synchronize", e))?;
        let mut what = Vec::new();
        if word[0] & ERR_DIV_ZERO != 0 {
            what.push("integer division by zero");
        }
        if word[0] & ERR_OUT_OF_BOUNDS != 0 {
            what.push("out-of-bounds buffer access (suppressed)");
        }
        Err(self.failed(format!("a kernel reported: {}", what.join(", "))))
    }
}
