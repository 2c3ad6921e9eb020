//! [`CudaDevice`]: one NVIDIA GPU through the CUDA driver API, loaded at run time by
//! `cudarc` (nothing CUDA is needed to build). Buffers are device allocations, PTX modules
//! are loaded with `cuModuleLoadData` (the driver's own PTX JIT; NVRTC is never called).
//!
//! Every copy and launch goes on one stream the device creates for itself (not the legacy
//! default stream), so they run in order without host synchronization. Host↔device copies go
//! through page-locked staging buffers (`cuMemHostAlloc`: write-combined for uploads, plain
//! for downloads), at most [`STAGING_MAX`] bytes each, in chunks: an upload copies the data
//! into the staging buffer and queues an asynchronous `cuMemcpyHtoDAsync` (the call returns
//! without waiting for the GPU; an event says when the staging buffer may be refilled); a
//! download queues `cuMemcpyDtoHAsync` and waits for the stream. Where page-locked memory
//! cannot be had, copies fall back to the driver's pageable copies.
//!
//! Every kernel gets one extra argument: a device status word that generated code sets bits
//! of ([`crate::ERR_OUT_OF_BOUNDS`], [`crate::ERR_DIV_ZERO`]); [`CudaDevice::synchronize`]
//! reads it, clears it and turns set bits into a [`DeviceError::Failed`].

use crate::ptx::{ERR_DIV_ZERO, ERR_OUT_OF_BOUNDS, entry_name};
use crate::target::Arch;
use cudarc::driver::sys::CUresult;
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtr, DriverError,
    LaunchConfig, PinnedHostSlice, PushKernelArg,
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

/// The largest page-locked staging buffer per direction, bytes; longer copies go in chunks.
pub const STAGING_MAX: usize = 64 << 20;
/// The smallest staging buffer allocated, bytes.
pub const STAGING_MIN: usize = 1 << 20;

/// The staging buffer size for a copy of `bytes`: the next power of two, within
/// [`STAGING_MIN`] and [`STAGING_MAX`].
pub fn staging_size(bytes: usize) -> usize {
    bytes
        .checked_next_power_of_two()
        .unwrap_or(STAGING_MAX)
        .clamp(STAGING_MIN, STAGING_MAX)
}

/// The byte ranges a copy of `bytes` goes in through a staging buffer of `cap` bytes.
pub fn staging_chunks(bytes: usize, cap: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let cap = cap.max(1);
    (0..bytes.div_ceil(cap)).map(move |i| i * cap..((i + 1) * cap).min(bytes))
}

/// Page-locked host memory that copies go through, and an event recorded after the last
/// copy queued from or into it.
struct Staging {
    mem: PinnedHostSlice<u8>,
    done: CudaEvent,
}

impl Drop for Staging {
    fn drop(&mut self) {
        // The host memory is freed right after: no queued copy may still use it.
        let _ = self.done.synchronize();
    }
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
    /// Staging for uploads (write-combined) and downloads.
    upload: Mutex<Option<Staging>>,
    download: Mutex<Option<Staging>>,
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
        let stream = ctx
            .new_stream()
            .map_err(|e| format!("creating a stream: {e:?}"))?;
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
            upload: Mutex::new(None),
            download: Mutex::new(None),
        })
    }

    /// Makes `slot` hold a staging buffer of at least `staging_size(bytes)` bytes (or the
    /// largest one); `false` when page-locked memory cannot be allocated.
    fn ensure_staging(&self, slot: &mut Option<Staging>, bytes: usize, upload: bool) -> bool {
        let want = staging_size(bytes);
        if slot.as_ref().is_some_and(|s| s.mem.len() >= want) {
            return true;
        }
        // Free the old buffer first (its drop waits for copies still using it).
        *slot = None;
        let flags = if upload {
            cudarc::driver::sys::CU_MEMHOSTALLOC_WRITECOMBINED
        } else {
            0
        };
        // SAFETY: the memory is zeroed below before any slice of it is made.
        let Ok(mut mem) = (unsafe { self.ctx.alloc_pinned_with_flags::<u8>(want, flags) }) else {
            return false;
        };
        let Ok(ptr) = mem.as_mut_ptr() else {
            return false;
        };
        // SAFETY: `ptr` points at `want` bytes of page-locked memory just allocated and
        // owned by `mem`; no copy uses it yet.
        unsafe { std::ptr::write_bytes(ptr, 0, want) };
        let Ok(done) = self.ctx.new_event(None) else {
            return false;
        };
        *slot = Some(Staging { mem, done });
        true
    }

    /// Uploads `data` to device address `dst` through the staging buffer; `Ok(false)` when
    /// there is none (then the caller copies from pageable memory).
    fn staged_upload(&self, dst: u64, data: &[u8]) -> Result<bool, DeviceError> {
        let mut slot = self.upload.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.ensure_staging(&mut slot, data.len(), true) {
            return Ok(false);
        }
        let Some(st) = slot.as_mut() else {
            return Ok(false);
        };
        let cap = st.mem.len();
        for r in staging_chunks(data.len(), cap) {
            // The previous chunk's copy must have left the staging buffer.
            st.done
                .synchronize()
                .map_err(|e| self.driver("waiting for a staged copy", e))?;
            let host = st
                .mem
                .as_mut_slice()
                .map_err(|e| self.driver("staging buffer", e))?;
            let n = r.len();
            host[..n].copy_from_slice(&data[r.clone()]);
            // SAFETY: `dst + r.start .. dst + r.end` lies inside the destination allocation
            // (the caller checked `data.len()` against it); `host[..n]` is page-locked and
            // is not touched again before `done` (recorded right after) has completed.
            unsafe {
                cudarc::driver::result::memcpy_htod_async(
                    dst + r.start as u64,
                    &host[..n],
                    self.stream.cu_stream(),
                )
            }
            .map_err(|e| self.driver("copy to device", e))?;
            st.done
                .record(&self.stream)
                .map_err(|e| self.driver("recording a copy event", e))?;
        }
        Ok(true)
    }

    /// Downloads `out.len()` bytes from device address `src` through the staging buffer;
    /// `Ok(false)` when there is none.
    fn staged_download(&self, src: u64, out: &mut [u8]) -> Result<bool, DeviceError> {
        let mut slot = self.download.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.ensure_staging(&mut slot, out.len(), false) {
            return Ok(false);
        }
        let Some(st) = slot.as_mut() else {
            return Ok(false);
        };
        let cap = st.mem.len();
        for r in staging_chunks(out.len(), cap) {
            let host = st
                .mem
                .as_mut_slice()
                .map_err(|e| self.driver("staging buffer", e))?;
            let n = r.len();
            // SAFETY: `src + r.start .. src + r.end` lies inside the source allocation;
            // `host[..n]` is page-locked and only read after the stream has synchronized.
            unsafe {
                cudarc::driver::result::memcpy_dtoh_async(
                    &mut host[..n],
                    src + r.start as u64,
                    self.stream.cu_stream(),
                )
            }
            .map_err(|e| self.driver("copy from device", e))?;
            self.stream
                .synchronize()
                .map_err(|e| self.driver("synchronize", e))?;
            out[r].copy_from_slice(&host[..n]);
        }
        Ok(true)
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
        let dst = slice.device_ptr(&self.stream).0;
        if self.staged_upload(dst, data)? {
            return Ok(());
        }
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
        let src = slice.device_ptr(&self.stream).0;
        if self.staged_download(src, out)? {
            return Ok(());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_sizes_are_powers_of_two_within_the_limits() {
        assert_eq!(staging_size(0), STAGING_MIN);
        assert_eq!(staging_size(1), STAGING_MIN);
        assert_eq!(staging_size(STAGING_MIN + 1), 2 * STAGING_MIN);
        assert_eq!(staging_size(3 << 20), 4 << 20);
        assert_eq!(staging_size(STAGING_MAX * 5), STAGING_MAX);
        assert_eq!(staging_size(usize::MAX), STAGING_MAX);
    }

    #[test]
    fn staged_copies_cover_every_byte_once_in_order() {
        for (bytes, cap) in [(0, 8), (1, 8), (8, 8), (9, 8), (100, 7), (64, 1)] {
            let chunks: Vec<_> = staging_chunks(bytes, cap).collect();
            let mut next = 0;
            for r in &chunks {
                assert_eq!(r.start, next, "{bytes} bytes by {cap}");
                assert!(!r.is_empty() && r.len() <= cap, "{r:?}");
                next = r.end;
            }
            assert_eq!(next, bytes);
            assert_eq!(chunks.len(), bytes.div_ceil(cap));
        }
    }

    #[test]
    fn without_a_driver_opening_a_device_is_an_error_not_a_panic() {
        if driver_present() {
            eprintln!("SKIP: a CUDA driver is present here");
            return;
        }
        let err = CudaDevice::new(0)
            .err()
            .expect("no device without a driver");
        assert!(err.contains("libcuda"), "{err}");
    }
}
