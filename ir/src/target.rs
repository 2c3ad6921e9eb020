//! `TargetDesc`: what the shared scheduler needs to know about a code generator and its
//! hardware (vector width, cores, caches, workgroup limits, shared memory, subgroups, dtypes,
//! FMA). Pure data: tessera-ir holds no target-specific code; each backend fills one in.

use crate::dtype::DType;

/// Whether a target runs invocations as CPU tasks or as GPU threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// Host cores: `group` is always 1; `grid` points are spread over cores; loops are
    /// vectorized with SIMD lanes.
    Cpu,
    /// A GPU: many invocations per workgroup, workgroup-shared memory and barriers.
    Gpu,
}

/// How a target handles one dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DTypeSupport {
    /// Computed and stored natively.
    Native,
    /// Stored natively, computed in a wider type (e.g. f16 computed in f32).
    Widened,
    /// Emulated with other types (e.g. i64 as two u32 on WGSL).
    Emulated,
    /// Not available: kernels that need it are refused with a typed error.
    Unsupported,
}

/// A description of a target, read by the scheduler. Backends build one per device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetDesc {
    /// Short name (`cpu`, `vulkan`, `cuda`), part of kernel cache keys.
    pub name: String,
    /// CPU or GPU execution model.
    pub kind: TargetKind,
    /// SIMD lanes for f32 the code generator emits (4 for 128-bit vectors, 16 for AVX-512).
    pub vector_lanes_f32: u8,
    /// Hardware threads the backend may use (CPU), or multiprocessors (GPU).
    pub cores: usize,
    /// L1 data cache per core, bytes (CPU; 0 when unknown).
    pub l1_bytes: usize,
    /// L2 cache per core, bytes (CPU; 0 when unknown).
    pub l2_bytes: usize,
    /// Most invocations in one workgroup (1 on CPU).
    pub max_group_size: usize,
    /// Most invocations per workgroup axis (x, y, z).
    pub max_group_dims: [usize; 3],
    /// Most workgroups per grid axis.
    pub max_grid_dims: [usize; 3],
    /// Workgroup-shared memory per workgroup, bytes. On CPU targets (one invocation per
    /// group) the shared buffers are that invocation's scratch arrays, kept on its stack: this
    /// is how many bytes of them a kernel may have.
    pub shared_bytes: usize,
    /// Subgroup / warp width (0 when unknown). Where the hardware's width varies, the
    /// smallest one: `shuffle_xor` with masks below it finds every partner whatever the width.
    pub subgroup_size: usize,
    /// The renderer prints `shuffle_xor` (subgroup shuffles) for masks below
    /// `subgroup_size`: the scheduler then finishes workgroup reductions inside subgroups.
    pub subgroup_ops: bool,
    /// Largest single buffer, bytes (`usize::MAX` when unbounded).
    pub max_buffer_bytes: usize,
    /// Fused multiply-add is a single rounding instruction.
    pub has_fma: bool,
    /// Support per dtype, indexed like [`DType::ALL`].
    pub dtypes: [DTypeSupport; DType::COUNT],
    /// Warp-level matrix-multiply-accumulate (tensor cores), when the target has it.
    pub mma: Option<MmaDesc>,
}

/// Which warp-level matrix-multiply-accumulate tiles a target executes (the kernel IR's
/// `mma` statement, 16 × 8 tiles over warps of 32 invocations, f32 accumulators).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MmaDesc {
    /// `m16n8k16` with f16 operands.
    pub f16: bool,
    /// `m16n8k16` with bf16 operands.
    pub bf16: bool,
    /// `m16n8k8.tf32` for f32 contractions: operands are rounded to tf32 (10 mantissa bits)
    /// first, which changes results, so targets leave it off unless asked.
    pub tf32: bool,
}

impl MmaDesc {
    /// The `mma` shape for contractions of `d` operands, if this target has one.
    pub fn shape_for(&self, d: DType) -> Option<crate::kernel::MmaShape> {
        use crate::kernel::MmaShape;
        match d {
            DType::F16 if self.f16 => Some(MmaShape::M16n8k16),
            DType::BF16 if self.bf16 => Some(MmaShape::M16n8k16),
            DType::F32 if self.tf32 => Some(MmaShape::M16n8k8Tf32),
            _ => None,
        }
    }
}

/// Scratch-array bytes per invocation that [`TargetDesc::generic_cpu`] allows: far below the
/// 2 MiB stacks of worker threads, and half a typical 512 KiB L2 cache.
pub const CPU_SCRATCH_BYTES: usize = 256 * 1024;

impl TargetDesc {
    /// How this target handles `dtype`.
    pub fn support(&self, dtype: DType) -> DTypeSupport {
        self.dtypes[dtype.index()]
    }

    /// A plain CPU description (128-bit vectors, no cache facts), for tests and as a base.
    pub fn generic_cpu(cores: usize) -> Self {
        TargetDesc {
            name: "cpu".into(),
            kind: TargetKind::Cpu,
            vector_lanes_f32: 4,
            cores: cores.max(1),
            l1_bytes: 32 * 1024,
            l2_bytes: 512 * 1024,
            max_group_size: 1,
            max_group_dims: [1, 1, 1],
            max_grid_dims: [usize::MAX, usize::MAX, usize::MAX],
            shared_bytes: CPU_SCRATCH_BYTES,
            subgroup_size: 0,
            subgroup_ops: false,
            max_buffer_bytes: usize::MAX,
            has_fma: true,
            dtypes: standard_dtypes(),
            mma: None,
        }
    }

    /// A plain GPU description (256 invocations per group, 48 KiB shared, warp 32 without
    /// subgroup operations), for tests and as a base.
    pub fn generic_gpu() -> Self {
        TargetDesc {
            name: "gpu".into(),
            kind: TargetKind::Gpu,
            vector_lanes_f32: 4,
            cores: 1,
            l1_bytes: 0,
            l2_bytes: 0,
            max_group_size: 256,
            max_group_dims: [256, 256, 64],
            max_grid_dims: [65535, 65535, 65535],
            shared_bytes: 48 * 1024,
            subgroup_size: 32,
            subgroup_ops: false,
            max_buffer_bytes: 128 << 20,
            has_fma: true,
            dtypes: standard_dtypes(),
            mma: None,
        }
    }
}

/// `Native` for the standard dtypes, `Unsupported` for the low-precision storage dtypes.
fn standard_dtypes() -> [DTypeSupport; DType::COUNT] {
    DType::ALL.map(|d| {
        if d.is_low_precision() {
            DTypeSupport::Unsupported
        } else {
            DTypeSupport::Native
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_lookup() {
        let mut t = TargetDesc::generic_gpu();
        t.dtypes[DType::ALL.iter().position(|&d| d == DType::F64).unwrap()] =
            DTypeSupport::Emulated;
        assert_eq!(t.support(DType::F64), DTypeSupport::Emulated);
        assert_eq!(t.support(DType::F32), DTypeSupport::Native);
        assert_eq!(TargetDesc::generic_cpu(0).cores, 1);
        assert_eq!(t.support(DType::U2), DTypeSupport::Unsupported);
        assert_eq!(
            TargetDesc::generic_cpu(1).support(DType::F8E4M3FN),
            DTypeSupport::Unsupported
        );
        assert_eq!(
            TargetDesc::generic_cpu(1).support(DType::Bool),
            DTypeSupport::Native
        );
    }
}
