//! Fault injection for testing the conformance tools themselves: a [`Device`] wrapper that
//! perturbs what one kernel writes, so that tests (and vendors checking their own setup) can
//! prove that the suites, the random-graph tester and `tessera diff` catch a broken kernel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tessera_ir::kernel::{Kernel, Launch};
use tessera_runtime::{Artifact, Device, DeviceBuffer, DeviceError, LoadedKernel};

/// Wraps a device; after every launch of a kernel whose name satisfies `victim`, adds 1.0 to
/// the first `f32` element of every buffer the kernel writes.
pub struct PerturbDevice {
    inner: Arc<dyn Device>,
    victim: Box<dyn Fn(&str) -> bool + Send + Sync>,
    /// For each loaded kernel name: whether each parameter is written, and is `f32`.
    written: Mutex<HashMap<String, Vec<bool>>>,
}

impl PerturbDevice {
    /// A device that breaks the kernels `victim` selects by name.
    pub fn new(
        inner: Arc<dyn Device>,
        victim: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        PerturbDevice {
            inner,
            victim: Box::new(victim),
            written: Mutex::new(HashMap::new()),
        }
    }
}

impl Device for PerturbDevice {
    fn name(&self) -> String {
        format!("{} (perturbed)", self.inner.name())
    }

    fn memory_bytes(&self) -> Option<u64> {
        self.inner.memory_bytes()
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
        let flags = kernel
            .params
            .iter()
            .map(|p| p.access.can_store() && p.dtype == tessera_ir::DType::F32)
            .collect();
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kernel.name.clone(), flags);
        self.inner.load(kernel, artifact)
    }

    fn launch(
        &self,
        kernel: &LoadedKernel,
        launch: &Launch,
        args: &[DeviceBuffer],
    ) -> Result<(), DeviceError> {
        self.inner.launch(kernel, launch, args)?;
        if !(self.victim)(&kernel.name) {
            return Ok(());
        }
        self.inner.synchronize()?;
        let flags = self
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&kernel.name)
            .cloned()
            .unwrap_or_default();
        for (buf, written) in args.iter().zip(flags) {
            if !written || buf.bytes < 4 {
                continue;
            }
            let mut all = vec![0u8; buf.bytes];
            self.inner.read(buf, &mut all)?;
            let v = f32::from_le_bytes([all[0], all[1], all[2], all[3]]) + 1.0;
            all[..4].copy_from_slice(&v.to_le_bytes());
            self.inner.write(buf, &all)?;
        }
        Ok(())
    }

    fn synchronize(&self) -> Result<(), DeviceError> {
        self.inner.synchronize()
    }
}
