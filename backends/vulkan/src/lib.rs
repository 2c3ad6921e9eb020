//! tessera-vulkan: the Vulkan / WebGPU backend. [`VulkanTarget`] renders verified kernel IR
//! to WGSL (checked by naga before use; SPIR-V through naga's writer) and needs no GPU;
//! [`VulkanDevice`] runs it through wgpu on a Vulkan driver (Metal and DX12 where wgpu has
//! them), including Mesa's lavapipe in CI. [`VulkanBackend`] ties them together as the
//! `vulkan` backend, opening the adapter on first use.
//!
//! See `docs/vulkan.md` for the dtype choices, limits and how to run it.

mod device;
mod target;
pub mod wgsl;

pub use device::{AdapterSummary, VulkanDevice, list_adapters};
pub use target::{GpuLimits, VulkanTarget, dtype_support};

use std::sync::{Arc, OnceLock};
use tessera_ir::{DType, Graph, Op};
use tessera_runtime::{
    Availability, Backend, CompiledBackend, Executable, OpSupport, RuntimeError,
};

/// The `vulkan` backend: a [`CompiledBackend`] over [`VulkanTarget`] and [`VulkanDevice`],
/// made when first asked for (opening an adapter costs time, and most runs never need it).
#[derive(Default)]
pub struct VulkanBackend {
    inner: OnceLock<Result<(CompiledBackend, bool), String>>,
}

impl VulkanBackend {
    /// A backend that opens its adapter on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// The compiled backend and whether its adapter is a software one.
    fn opened(&self) -> &Result<(CompiledBackend, bool), String> {
        self.inner.get_or_init(|| {
            let device = VulkanDevice::open()?;
            let software = device.is_software();
            let target = VulkanTarget::new(device.features(), device.limits());
            let backend = CompiledBackend::new("vulkan", Arc::new(target), Arc::new(device));
            Ok((backend, software))
        })
    }

    fn inner(&self) -> Result<&CompiledBackend, &String> {
        self.opened().as_ref().map(|(b, _)| b)
    }
}

impl Backend for VulkanBackend {
    fn name(&self) -> &str {
        "vulkan"
    }

    fn availability(&self) -> Availability {
        match self.inner() {
            Ok(b) => b.availability(),
            Err(why) => Availability::Unavailable(why.clone()),
        }
    }

    fn op_support(&self, op: &Op, input_dtypes: &[DType]) -> OpSupport {
        match self.inner() {
            Ok(b) => b.op_support(op, input_dtypes),
            Err(why) => OpSupport::Unsupported(format!("backend `vulkan` is unavailable: {why}")),
        }
    }

    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        match self.inner() {
            Ok(b) => b.compile(graph),
            Err(why) => Err(RuntimeError::Unavailable {
                name: "vulkan".into(),
                reason: why.clone(),
            }),
        }
    }

    /// The compiled backend behind this one once its adapter is open (`tessera diff` compares
    /// its kernels); `None` when no adapter could be opened.
    fn as_compiled(&self) -> Option<&CompiledBackend> {
        self.inner().ok()
    }

    /// True when the adapter is a software rasterizer (lavapipe): `auto` then prefers the
    /// native CPU backend.
    fn is_software(&self) -> bool {
        self.opened().as_ref().is_ok_and(|(_, sw)| *sw)
    }
}
