//! [`CudaTarget`]: the PTX code generator — its [`TargetDesc`] (warp 32, shared memory,
//! block limits, dtypes) and `compile`, which renders verified kernel IR as a PTX module for
//! one [`Arch`]. Needs no GPU and no CUDA installation.

use crate::ptx::{self, RenderError};
use tessera_ir::DType;
use tessera_ir::kernel::{Kernel, KernelInfo};
use tessera_ir::target::{DTypeSupport, MmaDesc, TargetDesc, TargetKind};
use tessera_runtime::{Artifact, Target, TargetError};

/// A GPU architecture that PTX is generated for (`.target sm_XX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Ampere A100 (compute capability 8.0).
    Sm80,
    /// Ampere consumer / A10 / A40 (8.6).
    Sm86,
    /// Ada Lovelace (8.9).
    Sm89,
    /// Hopper H100 / H200 (9.0).
    Sm90,
}

impl Arch {
    /// Every supported architecture, oldest first.
    pub const ALL: [Arch; 4] = [Arch::Sm80, Arch::Sm86, Arch::Sm89, Arch::Sm90];

    /// The `.target` name (`sm_90`).
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Sm80 => "sm_80",
            Arch::Sm86 => "sm_86",
            Arch::Sm89 => "sm_89",
            Arch::Sm90 => "sm_90",
        }
    }

    /// The PTX ISA version the module declares (7.8: the first with `sm_90`).
    pub const fn ptx_version(self) -> &'static str {
        "7.8"
    }

    /// Parses `sm_80`, `sm_86`, `sm_89` or `sm_90`.
    pub fn parse(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == s)
    }

    /// The newest supported architecture that a device of compute capability
    /// `major.minor` runs, or `None` below 8.0.
    pub fn for_compute_capability(major: i32, minor: i32) -> Option<Arch> {
        let cc = major * 10 + minor;
        [
            (90, Arch::Sm90),
            (89, Arch::Sm89),
            (86, Arch::Sm86),
            (80, Arch::Sm80),
        ]
        .into_iter()
        .find(|&(v, _)| cc >= v)
        .map(|(_, a)| a)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The PTX target: renders kernel IR as PTX text for one architecture.
pub struct CudaTarget {
    desc: TargetDesc,
    arch: Arch,
}

impl CudaTarget {
    /// A target for `arch` with the limits every supported architecture has (1024 threads
    /// per block, 48 KiB of static shared memory, warps of 32 with `shfl.sync`).
    pub fn new(arch: Arch) -> Self {
        Self::with_multiprocessors(arch, 1)
    }

    /// A target for `arch` on a device with `sms` streaming multiprocessors.
    pub fn with_multiprocessors(arch: Arch, sms: usize) -> Self {
        let mut desc = TargetDesc::generic_gpu();
        desc.name = format!("cuda-{}", arch.name());
        desc.kind = TargetKind::Gpu;
        desc.cores = sms.max(1);
        desc.max_group_size = 1024;
        desc.max_group_dims = [1024, 1024, 64];
        desc.max_grid_dims = [i32::MAX as usize, 65535, 65535];
        desc.shared_bytes = 48 * 1024;
        desc.subgroup_size = 32;
        desc.subgroup_ops = true;
        desc.max_buffer_bytes = 1 << 40;
        desc.has_fma = true;
        desc.mma = Some(MmaDesc {
            f16: true,
            bf16: true,
            tf32: false,
        });
        for (i, d) in DType::ALL.iter().enumerate() {
            desc.dtypes[i] = if d.is_low_precision() {
                DTypeSupport::Unsupported
            } else if matches!(d, DType::F16 | DType::BF16) {
                DTypeSupport::Widened
            } else {
                DTypeSupport::Native
            };
        }
        CudaTarget { desc, arch }
    }

    /// The same target with f32 contractions on tensor cores in tf32 (`mma.m16n8k8.tf32`)
    /// when `on`: faster, but the operands are rounded to 10 mantissa bits first, so results
    /// change (see `docs/tolerances.md`). Off by default. The target's name gets `-tf32`, so
    /// cached kernels of the two settings never mix.
    pub fn with_tf32(mut self, on: bool) -> Self {
        if let Some(m) = self.desc.mma.as_mut() {
            m.tf32 = on;
        }
        let base = format!("cuda-{}", self.arch.name());
        self.desc.name = if on { format!("{base}-tf32") } else { base };
        self
    }

    /// True when f32 contractions run in tf32 ([`CudaTarget::with_tf32`]).
    pub fn tf32(&self) -> bool {
        self.desc.mma.is_some_and(|m| m.tf32)
    }

    /// The architecture PTX is generated for.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The PTX module of a verified kernel (what [`Target::compile`] wraps in an artifact).
    pub fn ptx(&self, kernel: &Kernel, info: &KernelInfo) -> Result<String, TargetError> {
        if info.params.len() != kernel.params.len() || info.var_kinds.len() != kernel.vars.len() {
            return Err(TargetError::Internal {
                target: self.desc.name.clone(),
                kernel: kernel.name.clone(),
                message: "the KernelInfo was not made by verifying this kernel".into(),
            });
        }
        let group = kernel.launch.group_size();
        if group > self.desc.max_group_size {
            return Err(TargetError::Unsupported {
                target: self.desc.name.clone(),
                kernel: kernel.name.clone(),
                what: format!("blocks of {group} threads (at most 1024)"),
            });
        }
        let shared: usize = kernel
            .shared
            .iter()
            .map(|s| s.len.saturating_mul(s.dtype.size_bytes()))
            .sum();
        if shared > self.desc.shared_bytes {
            return Err(TargetError::Unsupported {
                target: self.desc.name.clone(),
                kernel: kernel.name.clone(),
                what: format!("{shared} bytes of shared memory (at most 48 KiB)"),
            });
        }
        ptx::render(kernel, info, self.arch).map_err(|e| match e {
            RenderError::Unsupported(what) => TargetError::Unsupported {
                target: self.desc.name.clone(),
                kernel: kernel.name.clone(),
                what,
            },
            RenderError::Internal(message) => TargetError::Internal {
                target: self.desc.name.clone(),
                kernel: kernel.name.clone(),
                message,
            },
        })
    }
}

impl Target for CudaTarget {
    fn desc(&self) -> &TargetDesc {
        &self.desc
    }

    fn compile(&self, kernel: &Kernel, info: &KernelInfo) -> Result<Artifact, TargetError> {
        Ok(Artifact::Text {
            language: "ptx",
            code: self.ptx(kernel, info)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_parse_and_follow_compute_capability() {
        assert_eq!(Arch::parse("sm_90"), Some(Arch::Sm90));
        assert_eq!(Arch::parse("sm_70"), None);
        assert_eq!(Arch::for_compute_capability(9, 0), Some(Arch::Sm90));
        assert_eq!(Arch::for_compute_capability(8, 7), Some(Arch::Sm86));
        assert_eq!(Arch::for_compute_capability(12, 0), Some(Arch::Sm90));
        assert_eq!(Arch::for_compute_capability(7, 5), None);
        let t = CudaTarget::new(Arch::Sm80);
        assert_eq!(t.desc().subgroup_size, 32);
        assert_eq!(t.desc().support(DType::BF16), DTypeSupport::Widened);
        assert_eq!(t.desc().support(DType::F8E4M3FN), DTypeSupport::Unsupported);
        assert_ne!(
            t.desc(),
            CudaTarget::new(Arch::Sm90).desc(),
            "cache keys differ by arch"
        );
    }

    #[test]
    fn tensor_cores_are_declared_and_tf32_is_opt_in() {
        let t = CudaTarget::new(Arch::Sm80);
        let mma = t.desc().mma.expect("declares mma");
        assert!(mma.f16 && mma.bf16 && !mma.tf32 && !t.tf32());
        let t32 = CudaTarget::new(Arch::Sm80).with_tf32(true);
        assert!(t32.tf32());
        assert_eq!(t32.desc().name, "cuda-sm_80-tf32");
        assert_ne!(
            t32.desc(),
            t.desc(),
            "cache keys differ by the tf32 setting"
        );
        assert_eq!(t32.with_tf32(false).desc(), t.desc());
    }

    #[test]
    fn oversized_blocks_and_shared_memory_are_typed_refusals() {
        use tessera_ir::kernel::{parse_kernel, verify_kernel};
        let t = CudaTarget::new(Arch::Sm90);
        let k = parse_kernel(
            "kernel @big(%x: f32[4] write) grid [1] group [2048] {\n  store %x[local_id(0)] = 1.0:f32\n}",
        )
        .expect("parses");
        if let Ok(info) = verify_kernel(&k) {
            assert!(matches!(
                t.ptx(&k, &info),
                Err(TargetError::Unsupported { .. })
            ));
        }
        let k = parse_kernel(
            "kernel @smem(%x: f32[4] write) grid [1] group [2] {\n  shared %t: f64[8192]\n  store %t[local_id(0)] = 1.0:f64\n  barrier\n  store %x[local_id(0)] = 1.0:f32\n}",
        )
        .expect("parses");
        let info = verify_kernel(&k).expect("verifies");
        assert!(matches!(
            t.ptx(&k, &info),
            Err(TargetError::Unsupported { what, .. }) if what.contains("shared memory")
        ));
    }

    #[test]
    fn shuffles_name_the_lanes_a_block_has_and_refuse_partial_warps() {
        use tessera_ir::kernel::{parse_kernel, verify_kernel};
        let t = CudaTarget::new(Arch::Sm90);
        assert!(t.desc().subgroup_ops);
        let ptx = |group: usize, mask: u32| {
            let k = parse_kernel(&format!(
                "kernel @s(%x: f32[{group}] read, %y: f32[{group}] write) grid [1] group [{group}] {{\n  let %v: f32 = shuffle_xor<{mask}>(load %x[local_id(0)])\n  store %y[local_id(0)] = %v\n}}"
            ))
            .expect("parses");
            let info = verify_kernel(&k).expect("verifies");
            t.ptx(&k, &info)
        };
        let whole = ptx(64, 16).expect("two whole warps");
        assert!(whole.contains("shfl.sync.bfly.b32") && whole.contains(", 16, 31, -1;"));
        let part = ptx(16, 8).expect("one partial warp");
        assert!(part.contains(", 8, 31, 65535;"), "{part}");
        // 48 threads: the second warp has 16 lanes, so one member mask cannot serve both.
        assert!(matches!(ptx(48, 8), Err(TargetError::Unsupported { .. })));
        // Lanes 32 apart are in another warp.
        assert!(matches!(ptx(64, 32), Err(TargetError::Unsupported { .. })));
    }
}
