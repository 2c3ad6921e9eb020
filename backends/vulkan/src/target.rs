//! [`VulkanTarget`]: describes a wgpu adapter to the shared scheduler and renders kernel IR to
//! WGSL, validated by naga before it is returned (also to SPIR-V, through naga's writer). It
//! needs no adapter: [`VulkanTarget::offline`] assumes a typical desktop GPU.

use crate::wgsl::{RenderError, WgslFeatures, render};
use std::sync::OnceLock;
use tessera_ir::DType;
use tessera_ir::kernel::{Kernel, KernelInfo};
use tessera_ir::target::{DTypeSupport, TargetDesc, TargetKind};
use tessera_runtime::{Artifact, Target, TargetError};

/// The limits of an adapter that shape kernels (a subset of `wgpu::Limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuLimits {
    /// Most invocations per workgroup.
    pub max_invocations: u32,
    /// Most invocations per workgroup axis.
    pub max_group_dims: [u32; 3],
    /// Most workgroups per dispatch axis.
    pub max_groups_per_dim: u32,
    /// Workgroup-shared memory per workgroup, bytes.
    pub shared_bytes: u32,
    /// Largest storage buffer binding, bytes.
    pub max_binding_bytes: u64,
    /// Most storage buffers one shader may bind.
    pub max_storage_buffers: u32,
    /// The adapter's smallest subgroup width (0 when unknown or without subgroup operations).
    pub subgroup_size: u32,
}

impl GpuLimits {
    /// WebGPU's default limits: what any adapter offers.
    pub const WEBGPU_DEFAULT: GpuLimits = GpuLimits {
        max_invocations: 256,
        max_group_dims: [256, 256, 64],
        max_groups_per_dim: 65535,
        shared_bytes: 16384,
        max_binding_bytes: 128 << 20,
        max_storage_buffers: 8,
        subgroup_size: 0,
    };
}

/// The WGSL code generator for one adapter's features and limits.
pub struct VulkanTarget {
    desc: TargetDesc,
    features: WgslFeatures,
    limits: GpuLimits,
}

impl VulkanTarget {
    /// A target for an adapter with these WGSL features and limits.
    pub fn new(features: WgslFeatures, limits: GpuLimits) -> Self {
        let mut desc = TargetDesc::generic_gpu();
        desc.name = "vulkan".into();
        desc.kind = TargetKind::Gpu;
        desc.max_group_size = limits.max_invocations as usize;
        desc.max_group_dims = limits.max_group_dims.map(|d| d as usize);
        desc.max_grid_dims = [limits.max_groups_per_dim as usize; 3];
        desc.shared_bytes = limits.shared_bytes as usize;
        desc.subgroup_size = limits.subgroup_size as usize;
        // Butterflies with masks below the smallest width find every partner, whatever width
        // the driver picks between the adapter's minimum and maximum.
        desc.subgroup_ops = features.subgroups
            && limits.subgroup_size >= 2
            && limits.subgroup_size.is_power_of_two();
        desc.max_buffer_bytes = usize::try_from(limits.max_binding_bytes).unwrap_or(usize::MAX);
        desc.has_fma = true;
        desc.dtypes = DType::ALL.map(|d| dtype_support(d, &features));
        VulkanTarget {
            desc,
            features,
            limits,
        }
    }

    /// A target without an adapter (for `tessera compile --target vulkan`): every optional
    /// WGSL feature on and WebGPU's default limits.
    pub fn offline() -> Self {
        Self::new(WgslFeatures::ALL, GpuLimits::WEBGPU_DEFAULT)
    }

    /// The WGSL features kernels may use.
    pub fn features(&self) -> WgslFeatures {
        self.features
    }

    /// The WGSL text of a verified kernel, validated by naga.
    pub fn wgsl(&self, kernel: &Kernel, info: &KernelInfo) -> Result<String, TargetError> {
        if kernel.params.len() > self.limits.max_storage_buffers as usize {
            return Err(self.unsupported(
                kernel,
                format!(
                    "{} storage buffers in one kernel (the adapter binds at most {})",
                    kernel.params.len(),
                    self.limits.max_storage_buffers
                ),
            ));
        }
        let sg = self.limits.subgroup_size;
        if info.max_shuffle_mask > 0 && sg > 0 && info.max_shuffle_mask >= sg {
            return Err(self.unsupported(
                kernel,
                format!(
                    "shuffle_xor<{}> on an adapter whose subgroups may have only {sg} invocations",
                    info.max_shuffle_mask
                ),
            ));
        }
        let code = render(kernel, info, &self.features).map_err(|e| match e {
            RenderError::Unsupported(what) => self.unsupported(kernel, what),
            RenderError::Internal(m) => self.internal(kernel, m),
        })?;
        if crate::wgsl::uses_status(&code)
            && kernel.params.len() >= self.limits.max_storage_buffers as usize
        {
            return Err(self.unsupported(
                kernel,
                format!(
                    "{} storage buffers and the division status word in one kernel (the adapter binds at most {})",
                    kernel.params.len(),
                    self.limits.max_storage_buffers
                ),
            ));
        }
        self.validate(kernel, &code)?;
        Ok(code)
    }

    /// The SPIR-V words of a verified kernel (naga's SPIR-V writer over the validated WGSL).
    pub fn spirv(&self, kernel: &Kernel, info: &KernelInfo) -> Result<Vec<u32>, TargetError> {
        let code = self.wgsl(kernel, info)?;
        let (module, module_info) = self.validate(kernel, &code)?;
        let pipeline = naga::back::spv::PipelineOptions {
            shader_stage: naga::ShaderStage::Compute,
            entry_point: "main".into(),
        };
        naga::back::spv::write_vec(
            &module,
            &module_info,
            &naga::back::spv::Options::default(),
            Some(&pipeline),
        )
        .map_err(|e| self.internal(kernel, format!("naga's SPIR-V writer: {e}")))
    }

    /// Parses and validates WGSL with naga; a failure is an internal error carrying the code.
    fn validate(
        &self,
        kernel: &Kernel,
        code: &str,
    ) -> Result<(naga::Module, naga::valid::ModuleInfo), TargetError> {
        let module = naga::front::wgsl::parse_str(code).map_err(|e| {
            self.internal(
                kernel,
                format!(
                    "naga rejected the generated WGSL:\n{}\n--- WGSL ---\n{code}",
                    e.emit_to_string(code)
                ),
            )
        })?;
        // pack2x16float / unpack2x16float are core WGSL (only downlevel GL lacks them).
        let mut caps = naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32;
        if self.features.f16 {
            caps |= naga::valid::Capabilities::SHADER_FLOAT16;
        }
        if self.features.f64 {
            caps |= naga::valid::Capabilities::FLOAT64;
        }
        if self.features.int64 {
            caps |= naga::valid::Capabilities::SHADER_INT64;
        }
        if self.features.subgroups {
            caps |= naga::valid::Capabilities::SUBGROUP;
        }
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .validate(&module)
            .map_err(|e| {
                self.internal(
                    kernel,
                    format!(
                        "naga rejected the generated WGSL:\n{}\n--- WGSL ---\n{code}",
                        e.emit_to_string(code)
                    ),
                )
            })?;
        Ok((module, info))
    }

    fn unsupported(&self, k: &Kernel, what: String) -> TargetError {
        TargetError::Unsupported {
            target: self.desc.name.clone(),
            kernel: k.name.clone(),
            what,
        }
    }

    fn internal(&self, k: &Kernel, message: String) -> TargetError {
        TargetError::Internal {
            target: self.desc.name.clone(),
            kernel: k.name.clone(),
            message,
        }
    }
}

/// How WGSL with `features` handles a dtype (see the table in [`crate::wgsl`]).
pub fn dtype_support(d: DType, f: &WgslFeatures) -> DTypeSupport {
    match d {
        DType::F32 | DType::I32 | DType::U32 => DTypeSupport::Native,
        DType::F16 if f.f16 => DTypeSupport::Native,
        // Packed in u32 words, converted with pack2x16float / unpack2x16float.
        DType::F16 => DTypeSupport::Emulated,
        DType::F64 if f.f64 => DTypeSupport::Native,
        DType::I64 | DType::U64 if f.int64 => DTypeSupport::Native,
        // Packed in u32 words, computed in i32/u32/f32 and narrowed after each operation.
        DType::Bool | DType::I8 | DType::U8 | DType::I16 | DType::U16 => DTypeSupport::Emulated,
        DType::BF16 => DTypeSupport::Widened,
        _ => DTypeSupport::Unsupported,
    }
}

/// FNV-1a of `wgsl.rs` as compiled into this build (computed once).
fn renderer_hash() -> u64 {
    static HASH: OnceLock<u64> = OnceLock::new();
    *HASH.get_or_init(|| tessera_runtime::cache::fnv1a(include_str!("wgsl.rs").as_bytes()))
}

impl Target for VulkanTarget {
    fn desc(&self) -> &TargetDesc {
        &self.desc
    }

    /// The optional WGSL features the renderer may use (they change the generated WGSL), and
    /// a hash of the renderer's source: the crate version alone does not change when the
    /// renderer does, and a disk-cached shader from another renderer must never be reused.
    fn fingerprint(&self) -> String {
        format!("{:?} renderer {:016x}", self.features, renderer_hash())
    }

    fn compile(&self, kernel: &Kernel, info: &KernelInfo) -> Result<Artifact, TargetError> {
        if info.params.len() != kernel.params.len() || info.var_kinds.len() != kernel.vars.len() {
            return Err(self.internal(
                kernel,
                "the KernelInfo was not made by verifying this kernel".into(),
            ));
        }
        Ok(Artifact::Text {
            language: "wgsl",
            code: self.wgsl(kernel, info)?,
        })
    }
}
