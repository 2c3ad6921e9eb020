//! [`CpuDevice`]: host memory buffers and launches that run a [`CompiledKernel`] once per grid
//! point, spread over the cores with rayon.
//!
//! Buffers are `RwLock<Vec<u8>>`s. A launch takes the write lock of every distinct buffer it
//! binds (in address order, so concurrent launches cannot deadlock), hands raw pointers to the
//! compiled code and releases the locks when every grid point has run; copies in and out take
//! the same locks, so no copy overlaps a launch that uses the buffer. Generated code checks
//! every access against the parameter's length, and a launch checks that every buffer is at
//! least that long, so no access leaves its buffer. Grid points run concurrently; the
//! scheduler guarantees they store disjoint elements. Alignment is not assumed: loads and
//! stores are emitted without the `aligned` flag.

use crate::render::{ERR_DIV_ZERO, ERR_OUT_OF_BOUNDS};
use crate::target::CompiledKernel;
use rayon::prelude::*;
use std::sync::{Arc, RwLock};
use tessera_ir::kernel::{Kernel, Launch};
use tessera_runtime::{Artifact, Device, DeviceBuffer, DeviceError, LoadedKernel};

/// A buffer in host memory.
struct HostBuffer {
    bytes: RwLock<Vec<u8>>,
}

/// The host as a device: memory is RAM, kernels are Cranelift-compiled functions.
pub struct CpuDevice {
    name: String,
}

impl Default for CpuDevice {
    fn default() -> Self {
        Self::new()
    }
}

/// The argument pointers of one launch, shared by the rayon workers.
struct ArgPointers(Vec<*mut u8>);

// SAFETY: the pointers address buffers whose write locks the launching thread holds until
// every worker has finished; workers only pass them to the compiled kernel.
unsafe impl Sync for ArgPointers {}

impl CpuDevice {
    /// The host device.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuDevice {
            name: format!("host ({cores} cores, Cranelift)"),
        }
    }

    fn failed(&self, message: impl Into<String>) -> DeviceError {
        DeviceError::Failed {
            device: self.name.clone(),
            message: message.into(),
        }
    }

    fn host<'b>(&self, buf: &'b DeviceBuffer) -> Result<&'b HostBuffer, DeviceError> {
        buf.handle
            .downcast_ref::<HostBuffer>()
            .ok_or_else(|| self.failed("a buffer of another device"))
    }

    fn compiled<'k>(&self, k: &'k LoadedKernel) -> Result<&'k CompiledKernel, DeviceError> {
        k.handle.downcast_ref::<CompiledKernel>().ok_or_else(|| {
            self.failed(format!("kernel `{}` was not loaded by this device", k.name))
        })
    }

    /// Checks the launch space: 1 to 3 axes, groups of one invocation; returns the grid
    /// padded to three axes and the number of grid points.
    fn grid(&self, name: &str, launch: &Launch) -> Result<([usize; 3], usize), DeviceError> {
        let rank = launch.grid.len();
        if !(1..=3).contains(&rank) || launch.group.len() != rank {
            return Err(self.failed(format!("kernel `{name}`: launch of rank {rank}")));
        }
        if launch.group.iter().any(|&g| g != 1) {
            return Err(self.failed(format!(
                "kernel `{name}`: workgroups of {:?} invocations (CPU groups are all 1s)",
                launch.group
            )));
        }
        let mut dims = [1usize; 3];
        let mut total = 1usize;
        for (d, &g) in dims.iter_mut().zip(&launch.grid) {
            if u32::try_from(g).is_err() {
                return Err(self.failed(format!("kernel `{name}`: grid {:?}", launch.grid)));
            }
            *d = g;
            total = total
                .checked_mul(g)
                .ok_or_else(|| self.failed(format!("kernel `{name}`: grid {:?}", launch.grid)))?;
        }
        Ok((dims, total))
    }
}

/// Total RAM from `/proc/meminfo`, when readable.
fn meminfo_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

impl Device for CpuDevice {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn memory_bytes(&self) -> Option<u64> {
        meminfo_total()
    }

    fn alloc(&self, bytes: usize) -> Result<DeviceBuffer, DeviceError> {
        let mut v = Vec::new();
        v.try_reserve_exact(bytes)
            .map_err(|_| DeviceError::OutOfMemory {
                device: self.name.clone(),
                bytes,
            })?;
        v.resize(bytes, 0);
        Ok(DeviceBuffer {
            bytes,
            handle: Arc::new(HostBuffer {
                bytes: RwLock::new(v),
            }),
        })
    }

    fn write(&self, buf: &DeviceBuffer, data: &[u8]) -> Result<(), DeviceError> {
        let host = self.host(buf)?;
        let mut bytes = host
            .bytes
            .write()
            .map_err(|_| self.failed("a poisoned buffer"))?;
        let dst = bytes.get_mut(..data.len()).ok_or_else(|| {
            self.failed(format!(
                "writing {} bytes into a {}-byte buffer",
                data.len(),
                buf.bytes
            ))
        })?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn read(&self, buf: &DeviceBuffer, out: &mut [u8]) -> Result<(), DeviceError> {
        let host = self.host(buf)?;
        let bytes = host
            .bytes
            .read()
            .map_err(|_| self.failed("a poisoned buffer"))?;
        let src = bytes.get(..out.len()).ok_or_else(|| {
            self.failed(format!(
                "reading {} bytes from a {}-byte buffer",
                out.len(),
                buf.bytes
            ))
        })?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn load(&self, kernel: &Kernel, artifact: &Artifact) -> Result<LoadedKernel, DeviceError> {
        let Artifact::Native(code) = artifact else {
            return Err(self.failed(format!(
                "kernel `{}`: the CPU device runs native artifacts, not {artifact:?}",
                kernel.name
            )));
        };
        let compiled = Arc::clone(code).downcast::<CompiledKernel>().map_err(|_| {
            self.failed(format!(
                "kernel `{}`: not a Cranelift artifact",
                kernel.name
            ))
        })?;
        if compiled.name != kernel.name || compiled.param_bytes.len() != kernel.params.len() {
            return Err(self.failed(format!(
                "artifact of kernel `{}` loaded as kernel `{}`",
                compiled.name, kernel.name
            )));
        }
        Ok(LoadedKernel {
            name: kernel.name.clone(),
            handle: compiled,
        })
    }

    fn launch(
        &self,
        kernel: &LoadedKernel,
        launch: &Launch,
        args: &[DeviceBuffer],
    ) -> Result<(), DeviceError> {
        let compiled = self.compiled(kernel)?;
        let name = &compiled.name;
        let (dims, total) = self.grid(name, launch)?;
        if args.len() != compiled.param_bytes.len() {
            return Err(self.failed(format!(
                "kernel `{name}` takes {} buffers, got {}",
                compiled.param_bytes.len(),
                args.len()
            )));
        }
        let mut hosts = Vec::with_capacity(args.len());
        for (i, (arg, &need)) in args.iter().zip(&compiled.param_bytes).enumerate() {
            if arg.bytes < need {
                return Err(self.failed(format!(
                    "kernel `{name}`: parameter {i} needs {need} bytes, the buffer has {}",
                    arg.bytes
                )));
            }
            hosts.push(self.host(arg)?);
        }
        // Lock each distinct buffer once, in address order.
        let mut distinct: Vec<&HostBuffer> = hosts.clone();
        distinct.sort_by_key(|h| std::ptr::from_ref(*h) as usize);
        distinct.dedup_by_key(|h| std::ptr::from_ref(*h) as usize);
        let mut guards = Vec::with_capacity(distinct.len());
        for h in &distinct {
            guards.push(
                h.bytes
                    .write()
                    .map_err(|_| self.failed("a poisoned buffer"))?,
            );
        }
        let pointers: Vec<*mut u8> = hosts
            .iter()
            .map(|h| {
                let i = distinct
                    .iter()
                    .position(|d| std::ptr::eq(*d, *h))
                    .unwrap_or(0);
                guards
                    .get_mut(i)
                    .map_or(std::ptr::null_mut(), |g| g.as_mut_ptr())
            })
            .collect();
        let ptrs = ArgPointers(pointers);
        let entry = compiled.entry();
        let status = (0..total)
            .into_par_iter()
            .map(|g| {
                let ids = [
                    (g / (dims[1] * dims[2])) as u32,
                    ((g / dims[2]) % dims[1]) as u32,
                    (g % dims[2]) as u32,
                ];
                let ptrs = &ptrs;
                // SAFETY: `entry` is the compiled kernel (kept alive by `kernel`), called with
                // one pointer per parameter, each into a locked buffer at least as long as the
                // parameter (checked above; generated code bounds-checks every access), and
                // three grid coordinates; grid points store disjoint elements.
                unsafe { entry(ptrs.0.as_ptr(), ids.as_ptr()) }
            })
            .reduce(|| 0, |a, b| a | b);
        drop(guards);
        if status & ERR_DIV_ZERO != 0 {
            return Err(self.failed(format!("kernel `{name}`: integer division by zero")));
        }
        if status & ERR_OUT_OF_BOUNDS != 0 {
            return Err(self.failed(format!("kernel `{name}`: out-of-bounds buffer access")));
        }
        Ok(())
    }

    fn synchronize(&self) -> Result<(), DeviceError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_check_sizes_and_round_trip() {
        let dev = CpuDevice::new();
        let buf = dev.alloc(5).unwrap();
        dev.write(&buf, &[1, 2, 3]).unwrap();
        let mut out = [9u8; 5];
        dev.read(&buf, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 0, 0]);
        assert!(dev.write(&buf, &[0; 6]).is_err());
        assert!(dev.read(&buf, &mut [0; 6]).is_err());
        let foreign = DeviceBuffer {
            bytes: 4,
            handle: Arc::new(7u32),
        };
        assert!(matches!(
            dev.read(&foreign, &mut [0; 4]),
            Err(DeviceError::Failed { .. })
        ));
        assert!(dev.alloc(0).is_ok());
        assert!(dev.synchronize().is_ok());
        assert!(dev.name().contains("Cranelift"));
    }

    #[test]
    fn launch_spaces_are_checked() {
        let dev = CpuDevice::new();
        let ok = Launch {
            grid: vec![2, 3],
            group: vec![1, 1],
        };
        assert_eq!(dev.grid("k", &ok).unwrap(), ([2, 3, 1], 6));
        let groups = Launch {
            grid: vec![2],
            group: vec![4],
        };
        assert!(dev.grid("k", &groups).is_err());
        let rank4 = Launch {
            grid: vec![1; 4],
            group: vec![1; 4],
        };
        assert!(dev.grid("k", &rank4).is_err());
        let empty = Launch {
            grid: vec![0],
            group: vec![1],
        };
        assert_eq!(dev.grid("k", &empty).unwrap().1, 0);
    }
}
