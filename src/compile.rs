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
    /// LLVM IR, one `.ll` file per kernel (target `cpu-llvm`; builds with the `llvm` feature).
    Llvm,
}

/// The targets `compile` knows, by name, with their descriptions.
fn target_desc(target: &str) -> Result<TargetDesc, Error> {
    match target {
        "cpu" => Ok(tessera::runtime::Target::desc(&tessera_cpu::CpuTarget::new()).clone()),
        "cpu-llvm" => Ok(
            tessera::runtime::Target::desc(&tessera_cpu::CpuTarget::with_codegen(
                tessera::CpuCodegen::Llvm,
            )?)
            .clone(),
        ),
        "kernel-interp" => Ok(TargetDesc::generic_cpu(1)),
        "gpu-generic" => Ok(TargetDesc::generic_gpu()),
        other => Err(Error::Usage(format!(
            "unknown target `{other}` (targets: cpu, cpu-llvm, kernel-interp, gpu-generic)"
        ))),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Lowers `graph` for `target` and writes what `emit` asks for into `out`.
pub fn emit(graph: &Graph, target: &str, emit: Emit, out: &Path) -> Result<Vec<String>, Error> {
    let desc = target_desc(target)?;
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
        Emit::Kir | Emit::Clif | Emit::Llvm => {
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
                        let (ext, text) = match (&cpu, emit) {
                            (Some(t), Emit::Clif) => {
                                ("clif", t.clif(&k.kernel, &k.info).map_err(target_err)?)
                            }
                            (Some(t), _) => ("ll", llvm_text(t, k).map_err(target_err)?),
                            (None, _) => ("kir", print_kernel(&k.kernel)),
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
