//! `tessera compile`: shows what compilation makes of a model without running it — the fused
//! graph (Graphviz), the kernel IR of every kernel, and the code a target renders from it.
//! `TESSERA_DUMP=DIR` writes the same files while `tessera run` compiles.

use std::path::Path;
use tessera::runtime::{Lowered, lower_graph};
use tessera::{Error, Graph};
use tessera_ir::kernel::print_kernel;
use tessera_ir::plan::Step;
use tessera_ir::target::TargetDesc;

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// Kernel IR, one `.kir` file per kernel, and `plan.txt` (steps, host fallbacks).
    Kir,
    /// Cranelift IR, one `.clif` file per kernel (target `cpu`).
    Clif,
    /// The fused graph as Graphviz DOT (`fusion.dot`; also `fusion.svg` when `dot` is installed).
    FusionDot,
    /// WGSL compute shaders, one `.wgsl` file per kernel, validated by naga (target `vulkan`).
    Wgsl,
    /// SPIR-V binaries, one `.spv` file per kernel, written by naga (target `vulkan`).
    Spirv,
    /// PTX, one `.ptx` module per kernel (target `cuda`; `--arch` picks the GPU architecture).
    Ptx,
    /// LLVM IR, one `.ll` file per kernel (target `cpu-llvm`; builds with the `llvm` feature).
    Llvm,
}

/// The PTX architecture for `--arch` (`sm_80`, `sm_86`, `sm_89`, `sm_90`); without it, the
/// architecture of GPU 0 when the CUDA driver finds one, else `sm_80`.
pub fn cuda_arch(arch: Option<&str>) -> Result<tessera_cuda::Arch, Error> {
    match arch {
        Some(a) => tessera_cuda::Arch::parse(a).ok_or_else(|| {
            Error::Usage(format!(
                "unknown --arch `{a}` (architectures: sm_80, sm_86, sm_89, sm_90)"
            ))
        }),
        None => Ok(tessera_cuda::CudaDevice::new(0)
            .map(|d| d.arch())
            .unwrap_or(tessera_cuda::Arch::Sm80)),
    }
}

/// The targets `compile` knows, by name, with their descriptions.
fn target_desc(target: &str, arch: Option<&str>) -> Result<TargetDesc, Error> {
    match target {
        "cpu" => Ok(tessera::runtime::Target::desc(&tessera_cpu::CpuTarget::new()).clone()),
        "cuda" => Ok(
            tessera::runtime::Target::desc(&tessera_cuda::CudaTarget::new(cuda_arch(arch)?))
                .clone(),
        ),
        "cpu-llvm" => Ok(
            tessera::runtime::Target::desc(&tessera_cpu::CpuTarget::with_codegen(
                tessera::CpuCodegen::Llvm,
            )?)
            .clone(),
        ),
        "kernel-interp" => Ok(TargetDesc::generic_cpu(1)),
        "gpu-generic" => Ok(TargetDesc::generic_gpu()),
        "vulkan" => {
            Ok(tessera::runtime::Target::desc(&tessera_vulkan::VulkanTarget::offline()).clone())
        }
        other => Err(Error::Usage(format!(
            "unknown target `{other}` (targets: cpu, cpu-llvm, cuda, kernel-interp, gpu-generic, vulkan)"
        ))),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Lowers `graph` for `target` (`arch`: the CUDA architecture, for target `cuda`) and writes
/// what `emit` asks for into `out`.
pub fn emit(
    graph: &Graph,
    target: &str,
    arch: Option<&str>,
    emit: Emit,
    out: &Path,
) -> Result<Vec<String>, Error> {
    if arch.is_some() && target != "cuda" {
        return Err(Error::Usage("--arch needs --target cuda".into()));
    }
    let desc = target_desc(target, arch)?;
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let (g, fused, plan) = match lower_graph(graph, &desc)? {
        Lowered::Planned { graph, fused, plan } => (graph, fused, plan),
        Lowered::Interpreted(_) => {
            return Err(Error::Usage(
                "the graph's shapes depend on data: it runs on the interpreter, there are no kernels to show".into(),
            ));
        }
    };
    let mut written = Vec::new();
    match emit {
        Emit::Wgsl | Emit::Spirv => {
            if target != "vulkan" {
                return Err(Error::Usage(
                    "--emit wgsl and --emit spirv need --target vulkan".into(),
                ));
            }
            let vk = tessera_vulkan::VulkanTarget::offline();
            for (i, step) in plan.steps.iter().enumerate() {
                let Step::Kernel(k) = step else { continue };
                let target_err = |source| tessera::RuntimeError::Target {
                    nodes: k.nodes.join(", "),
                    source,
                };
                let p = out.join(format!(
                    "{i:03}_{}.{}",
                    k.kernel.name,
                    if emit == Emit::Wgsl { "wgsl" } else { "spv" }
                ));
                let bytes = if emit == Emit::Wgsl {
                    vk.wgsl(&k.kernel, &k.info)
                        .map_err(target_err)?
                        .into_bytes()
                } else {
                    let words = vk.spirv(&k.kernel, &k.info).map_err(target_err)?;
                    words.iter().flat_map(|w| w.to_le_bytes()).collect()
                };
                std::fs::write(&p, bytes).map_err(|source| Error::Io {
                    path: p.clone(),
                    source,
                })?;
                written.push(p.display().to_string());
            }
        }
        Emit::FusionDot => {
            let dot_path = out.join("fusion.dot");
            write(&dot_path, &tessera_ir::fusion::to_dot(&g, &fused))?;
            written.push(dot_path.display().to_string());
            let svg = out.join("fusion.svg");
            let ok = std::process::Command::new("dot")
                .args(["-Tsvg", "-o"])
                .arg(&svg)
                .arg(&dot_path)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                written.push(svg.display().to_string());
            }
        }
        Emit::Kir | Emit::Clif | Emit::Llvm | Emit::Ptx => {
            let cpu = match emit {
                Emit::Clif if target == "cpu" => Some(tessera_cpu::CpuTarget::new()),
                Emit::Clif => {
                    return Err(Error::Usage("--emit clif needs --target cpu".into()));
                }
                Emit::Llvm if target == "cpu-llvm" => Some(tessera_cpu::CpuTarget::with_codegen(
                    tessera::CpuCodegen::Llvm,
                )?),
                Emit::Llvm => {
                    return Err(Error::Usage("--emit llvm needs --target cpu-llvm".into()));
                }
                _ => None,
            };
            if emit == Emit::Ptx && target != "cuda" {
                return Err(Error::Usage("--emit ptx needs --target cuda".into()));
            }
            let cuda = match emit {
                Emit::Ptx => Some(tessera_cuda::CudaTarget::new(cuda_arch(arch)?)),
                _ => None,
            };
            let mut summary = String::new();
            for (i, step) in plan.steps.iter().enumerate() {
                match step {
                    Step::Kernel(k) => {
                        summary.push_str(&format!(
                            "step {i}: kernel {} <- nodes {}\n",
                            k.kernel.name,
                            k.nodes.join(", ")
                        ));
                        let target_err = |source| tessera::RuntimeError::Target {
                            nodes: k.nodes.join(", "),
                            source,
                        };
                        let (ext, text) = match (&cpu, &cuda, emit) {
                            (_, Some(t), _) => {
                                ("ptx", t.ptx(&k.kernel, &k.info).map_err(target_err)?)
                            }
                            (Some(t), None, Emit::Clif) => {
                                ("clif", t.clif(&k.kernel, &k.info).map_err(target_err)?)
                            }
                            (Some(t), None, _) => ("ll", llvm_text(t, k).map_err(target_err)?),
                            (None, None, _) => ("kir", print_kernel(&k.kernel)),
                        };
                        let p = out.join(format!("{i:03}_{}.{ext}", k.kernel.name));
                        write(&p, &text)?;
                        written.push(p.display().to_string());
                    }
                    Step::Host(h) => summary.push_str(&format!(
                        "step {i}: host fallback {} ({})\n",
                        h.node,
                        h.op.name()
                    )),
                }
            }
            if emit == Emit::Kir {
                let p = out.join("plan.txt");
                write(&p, &summary)?;
                written.push(p.display().to_string());
            }
        }
    }
    Ok(written)
}

/// The LLVM IR of a kernel step (or the reason it is left to Cranelift, as a comment).
#[cfg(feature = "llvm")]
fn llvm_text(
    t: &tessera_cpu::CpuTarget,
    k: &tessera_ir::plan::KernelStep,
) -> Result<String, tessera::runtime::TargetError> {
    match t.llvm_ir(&k.kernel, &k.info) {
        Ok(text) => Ok(text),
        Err(tessera::runtime::TargetError::Unsupported { what, .. }) => {
            Ok(format!("; compiled by Cranelift instead of LLVM: {what}\n"))
        }
        Err(e) => Err(e),
    }
}

/// Without the `llvm` feature there is no LLVM target (`with_codegen` refused it earlier).
#[cfg(not(feature = "llvm"))]
fn llvm_text(
    _t: &tessera_cpu::CpuTarget,
    k: &tessera_ir::plan::KernelStep,
) -> Result<String, tessera::runtime::TargetError> {
    Err(tessera::runtime::TargetError::Unsupported {
        target: "cpu".into(),
        kernel: k.kernel.name.clone(),
        what: "LLVM IR (this build has no `llvm` feature)".into(),
    })
}
