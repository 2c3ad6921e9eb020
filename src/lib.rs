//! Tessera: a cross-accelerator tensor compiler and portability layer.
//!
//! A model is written (with [`GraphBuilder`]) or loaded (text form `.tir`) once as a tensor
//! graph, then run on any backend compiled in. This facade re-exports the library crates and
//! offers the few entry points most users need:
//!
//! ```
//! use tessera::{GraphBuilder, DType, Tensor};
//! let mut b = GraphBuilder::new("double");
//! let x = b.input("x", DType::F32, &[3]);
//! let y = b.add(x, x).unwrap();
//! b.output(y, "y").unwrap();
//! let graph = b.finish().unwrap();
//!
//! let exe = tessera::compile(&graph, "auto").unwrap();
//! let x = Tensor::from_vec(&[3], vec![1f32, 2.0, 3.0]).unwrap();
//! let out = exe.run(&[("x".to_string(), x)].into()).unwrap();
//! assert_eq!(out[0].0, "y");
//! assert_eq!(out[0].1.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0]);
//! ```

pub use tessera_conformance as conformance;
pub use tessera_cpu::{CodegenError, CpuCodegen};
pub use tessera_frontends as frontends;
pub use tessera_frontends::{GraphBuilder, Var};
pub use tessera_ir as ir;
pub use tessera_ir::{DType, Graph, Tensor, TensorType};
pub use tessera_runtime as runtime;
pub use tessera_runtime::{
    Availability, Backend, Executable, NamedTensors, Registry, RuntimeError,
};

use std::path::{Path, PathBuf};

/// The README's examples, compiled and run as doc-tests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Errors of the facade and the CLI: each wraps the layer it came from and says which file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A text-form graph did not parse.
    #[error("{}:{source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what.
        source: tessera_ir::ParseError,
    },
    /// A `.npy` file could not be read or written.
    #[error("{}", npy_message(path, source))]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: tessera_ir::npy::NpyError,
    },
    /// The file's extension names no format Tessera reads.
    #[error("{}: unknown graph format (expected `.onnx` or a `.tir` text-form graph)", .0.display())]
    UnknownFormat(PathBuf),
    /// An ONNX model could not be imported.
    #[error("{}: {source}", path.display())]
    Onnx {
        /// The model file.
        path: PathBuf,
        /// What the importer found.
        source: tessera_frontends::onnx::OnnxError,
    },
    /// A conformance run could not start (no data folder, unreadable files).
    #[error(transparent)]
    Conformance(#[from] tessera_conformance::ConformanceError),
    /// The graph is invalid.
    #[error(transparent)]
    Ir(#[from] tessera_ir::IrError),
    /// Backend selection, compilation or execution failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The CPU code generator asked for is unknown or not built in.
    #[error(transparent)]
    Codegen(#[from] tessera_cpu::CodegenError),
    /// A command-line argument is malformed.
    #[error("{0}")]
    Usage(String),
}

fn npy_message(path: &Path, e: &tessera_ir::npy::NpyError) -> String {
    match e {
        // I/O errors already name the file.
        tessera_ir::npy::NpyError::Io { .. } => e.to_string(),
        _ => format!("{}: {e}", path.display()),
    }
}

/// Backends loaded from plugins ([`load_plugins`]), added to every registry this crate builds.
static PLUGIN_BACKENDS: std::sync::Mutex<Vec<std::sync::Arc<dyn Backend>>> =
    std::sync::Mutex::new(Vec::new());

/// The environment variable that names backend plugins to load (paths separated by `:`,
/// `;` on Windows), as `--plugin` does.
pub const PLUGINS_ENV: &str = "TESSERA_PLUGINS";

/// Loads backend plugins (shared libraries made with `tessera_runtime::export_backend!`, see
/// `docs/adding-a-backend.md`): from here on, [`registry`] and [`registry_with_cpu`] include
/// their backends (a plugin backend replaces a built-in one of the same name). Returns the
/// names of the backends loaded. A library built for another Tessera or rustc is refused with
/// [`RuntimeError::PluginAbi`] before any of its code runs.
pub fn load_plugins(paths: &[PathBuf]) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    for path in paths {
        let backends = tessera_runtime::load_plugin(path)?;
        let mut loaded = PLUGIN_BACKENDS.lock().unwrap_or_else(|p| p.into_inner());
        for b in backends {
            names.push(b.name().to_string());
            loaded.retain(|old| old.name() != b.name());
            loaded.push(b);
        }
    }
    Ok(names)
}

/// The plugin paths named by [`PLUGINS_ENV`] (none when it is unset or empty).
pub fn plugins_from_env() -> Vec<PathBuf> {
    std::env::var_os(PLUGINS_ENV)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Every backend compiled into this build, available or not: `reference` (the interpreter),
/// `kernel-interp` (the compiler's kernels run by the kernel-IR interpreter), `cpu`
/// (Cranelift JIT + rayon), `vulkan` (WGSL through wgpu; it opens its adapter when first
/// asked whether it is available) and `cuda` (PTX through the CUDA driver; listed as
/// unavailable, with the reason, where the driver or a GPU is missing); then the backends of
/// the plugins loaded with [`load_plugins`].
pub fn registry() -> Registry {
    registry_for_cpu(tessera_cpu::CpuTarget::new())
}

/// [`registry`] with the `cpu` backend generating code with `codegen` (`llvm` needs the
/// `llvm` cargo feature).
pub fn registry_with_cpu(codegen: CpuCodegen) -> Result<Registry, Error> {
    Ok(registry_for_cpu(tessera_cpu::CpuTarget::with_codegen(
        codegen,
    )?))
}

fn registry_for_cpu(cpu: tessera_cpu::CpuTarget) -> Registry {
    let mut r = Registry::with_builtin();
    r.register(std::sync::Arc::new(tessera_runtime::CompiledBackend::new(
        "cpu",
        std::sync::Arc::new(cpu),
        std::sync::Arc::new(tessera_cpu::CpuDevice::new()),
    )));
    r.register(std::sync::Arc::new(tessera_vulkan::VulkanBackend::new()));
    r.register(tessera_cuda::backend());
    for b in PLUGIN_BACKENDS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        r.register(b.clone());
    }
    r
}

/// Loads a graph from a file, by extension: `.onnx` (ONNX model) or `.tir` (text form). The
/// graph is verified.
pub fn load_graph(path: &Path) -> Result<Graph, Error> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "onnx" => {
            let graph =
                tessera_frontends::onnx::load_model(path).map_err(|source| Error::Onnx {
                    path: path.to_path_buf(),
                    source,
                })?;
            tessera_ir::verify::verify(&graph)?;
            Ok(graph)
        }
        "tir" => {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let graph = tessera_ir::text::parse_graph(&text).map_err(|source| Error::Parse {
                path: path.to_path_buf(),
                source,
            })?;
            tessera_ir::verify::verify(&graph)?;
            Ok(graph)
        }
        _ => Err(Error::UnknownFormat(path.to_path_buf())),
    }
}

/// Compiles a graph for the backend called `backend` (`auto` picks the best available).
pub fn compile(graph: &Graph, backend: &str) -> Result<Box<dyn Executable>, Error> {
    let b = registry().get(backend)?;
    Ok(b.compile(graph)?)
}

/// Compiles and runs a graph once.
pub fn run(
    graph: &Graph,
    backend: &str,
    inputs: &NamedTensors,
) -> Result<Vec<(String, Tensor)>, Error> {
    Ok(compile(graph, backend)?.run(inputs)?)
}

/// A file name for an output called `name`: characters other than ASCII letters, digits, `.`,
/// `-` and `_` become `_`; an empty or dot-only name becomes `_`.
pub fn output_file_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "_".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_are_file_safe() {
        assert_eq!(output_file_name("logits"), "logits");
        assert_eq!(output_file_name("a/b:0"), "a_b_0");
        assert_eq!(output_file_name(".."), "_");
        assert_eq!(output_file_name(""), "_");
        assert_eq!(output_file_name("é"), "_");
    }
}
