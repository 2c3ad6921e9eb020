//! The `tessera` command-line tool: list backends, run graphs on `.npy` inputs.

mod bench;
mod compile;
mod conformance;
mod diff;
mod inspect;
mod probe;

use clap::{Parser, Subcommand};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tessera::{Availability, Error, output_file_name};
use tessera_ir::npy;

/// Tessera: compile a tensor graph once, run it on any backend.
#[derive(Parser)]
#[command(name = "tessera", version, about, long_about = None)]
struct Cli {
    /// Load a backend plugin (a shared library made with `tessera_runtime::export_backend!`;
    /// see docs/adding-a-backend.md) so that its backends answer to `--backend NAME`; repeat
    /// for several. `TESSERA_PLUGINS=PATH[:PATH..]` names plugins too.
    #[arg(long = "plugin", value_name = "PATH", global = true)]
    plugins: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every backend compiled into this build (and loaded from plugins), whether it can
    /// run here, and why not.
    Devices,
    /// Run a graph on .npy inputs and write one .npy file per output.
    ///
    /// Example: tessera run examples/mlp.tir --input x=examples/mlp_x.npy --output-dir out
    Run {
        /// The graph: a `.tir` text-form file.
        graph: PathBuf,
        /// Backend to run on: `auto` (the best available), `reference`, ... (see `tessera devices`).
        #[arg(long, short, default_value = "auto")]
        backend: String,
        /// Code generator of the `cpu` backend: `cranelift` (default) or `llvm` (builds with
        /// the `llvm` feature).
        #[arg(long, default_value = "cranelift")]
        cpu_codegen: String,
        /// A graph input as NAME=FILE.npy; repeat for each input.
        #[arg(long = "input", short, value_name = "NAME=FILE.npy")]
        inputs: Vec<String>,
        /// Directory for the outputs (created if missing): DIR/<output-name>.npy, with characters
        /// not valid in file names replaced by `_`.
        #[arg(long, short, default_value = "out")]
        output_dir: PathBuf,
    },
    /// Compile a model without running it and write what compilation makes of it: the fused
    /// graph, the kernel IR of each kernel, or the code a target renders.
    ///
    /// Example: tessera compile model.onnx --target cpu --emit kir --out build/
    /// (or --target vulkan --emit wgsl|spirv)
    Compile {
        /// The model: `.onnx` or `.tir` (static input shapes).
        model: PathBuf,
        /// Target to schedule for: cpu, cuda, kernel-interp, gpu-generic, vulkan (needs no GPU).
        #[arg(long, short, default_value = "cpu")]
        target: String,
        /// What to write.
        #[arg(long, value_enum, default_value = "kir")]
        emit: compile::Emit,
        /// CUDA architecture for `--target cuda`: sm_80, sm_86, sm_89 or sm_90 (default: the
        /// GPU's, else sm_80).
        #[arg(long)]
        arch: Option<String>,
        /// Output directory (created if missing).
        #[arg(long, short, default_value = "build")]
        out: PathBuf,
    },
    /// Benchmark a model, or the built-in workloads: compile times, then the median latency
    /// of repeated runs, with GFLOP/s or GB/s against the machine's peak probed in the same run.
    ///
    /// Inputs not given with --input are filled with seeded random values of their type.
    /// Example: tessera bench --workload matmul-1024 --threads 2 --json bench.json
    Bench {
        /// The model: `.onnx` or `.tir` (none: the built-in workloads).
        model: Option<PathBuf>,
        /// A built-in workload (repeat; `all` for every one): matmul-1024, matmul-2048,
        /// gelu-16m, softmax-4096, layernorm-4096, conv-64x56x56, mlp.
        #[arg(long = "workload", short)]
        workloads: Vec<String>,
        /// Backend to run on (see `tessera devices`).
        #[arg(long, short, default_value = "cpu")]
        backend: String,
        /// Code generator of the `cpu` backend: `cranelift` (default) or `llvm`.
        #[arg(long, default_value = "cranelift")]
        cpu_codegen: String,
        /// Write the figures as JSON here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// A graph input as NAME=FILE.npy; repeat for each input.
        #[arg(long = "input", short, value_name = "NAME=FILE.npy")]
        inputs: Vec<String>,
        /// Untimed runs before measuring.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Timed runs.
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// Worker threads for CPU backends (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Also time every step (kernel or host fallback) on its own, waiting for the device
        /// after each, and print each step's median with the graph nodes it computes
        /// (JSON: `steps` per record).
        #[arg(long)]
        profile: bool,
    },
    /// Describe a model: inputs, outputs, opsets, an operator histogram, and how each
    /// compiled-in backend handles each operator.
    Inspect {
        /// The model: `.onnx` or `.tir`.
        model: PathBuf,
    },
    /// Run a conformance suite (the operator catalogue, ONNX's node tests, or both) against
    /// one or every backend: a matrix of operator × backend, JSON / JUnit / Markdown / HTML
    /// reports, and expectations files that gate CI.
    ///
    /// Example: tessera conformance --suite ops --backend cpu --quick --junit report.xml
    Conformance(conformance::Args),
    /// Find the first fused kernel whose results diverge from the reference beyond the
    /// tolerance policy, and print it with the graph nodes fused into it and its kernel IR.
    ///
    /// Inputs not given with --input are filled with seeded random values. Exits 1 when a
    /// kernel diverges.
    ///
    /// Example: tessera diff model.onnx --backend cpu
    Diff {
        /// The model: `.onnx` or `.tir` (static input shapes, or give the inputs).
        model: PathBuf,
        /// The compiling backend to check (see `tessera devices`).
        #[arg(long, short, default_value = "cpu")]
        backend: String,
        /// The oracle: `reference` (the graph interpreter).
        #[arg(long, default_value = "reference")]
        against: String,
        /// A graph input as NAME=FILE.npy; repeat for each input.
        #[arg(long = "input", short, value_name = "NAME=FILE.npy")]
        inputs: Vec<String>,
    },
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let mut plugins = tessera::plugins_from_env();
    plugins.extend(cli.plugins);
    if let Err(e) = tessera::load_plugins(&plugins) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Lets a closed pipe end the process quietly (`tessera devices | head -1`), as Unix tools do,
/// instead of the Rust runtime's panic on a failed `println!`.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; resetting a signal's
    // disposition to the default has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn dispatch(cmd: Command) -> Result<(), Error> {
    match cmd {
        Command::Devices => {
            devices();
            Ok(())
        }
        Command::Run {
            graph,
            backend,
            cpu_codegen,
            inputs,
            output_dir,
        } => run(&graph, &backend, &cpu_codegen, &inputs, &output_dir),
        Command::Inspect { model } => inspect::inspect(&model),
        Command::Compile {
            model,
            target,
            emit,
            arch,
            out,
        } => {
            let graph = tessera::load_graph(&model)?;
            for f in compile::emit(&graph, &target, arch.as_deref(), emit, &out)? {
                println!("wrote {f}");
            }
            Ok(())
        }
        Command::Bench {
            model,
            workloads,
            backend,
            cpu_codegen,
            json,
            inputs,
            warmup,
            iters,
            threads,
            profile,
        } => bench::bench(&bench::BenchArgs {
            model,
            workloads,
            backend,
            cpu_codegen: cpu_codegen.parse()?,
            given: parse_inputs(&inputs)?,
            warmup,
            iters,
            threads,
            json,
            profile,
        }),
        Command::Conformance(args) => conformance::run(args),
        Command::Diff {
            model,
            backend,
            against,
            inputs,
        } => diff::run(&model, &backend, &against, &parse_inputs(&inputs)?),
    }
}

fn devices() {
    for (name, avail) in tessera::registry().list() {
        match avail {
            Availability::Available(what) => println!("{name:<10} available    {what}"),
            Availability::Unavailable(why) => println!("{name:<10} unavailable  {why}"),
        }
    }
    let adapters = tessera_vulkan::list_adapters();
    if adapters.is_empty() {
        println!("\nwgpu adapters: none found");
    } else {
        println!("\nwgpu adapters (TESSERA_VULKAN_ADAPTER=N picks one for `vulkan`):");
    }
    for a in adapters {
        println!(
            "  [{}] {} — backend {}, type {}, driver {}",
            a.index, a.name, a.backend, a.device_type, a.driver
        );
        println!(
            "      max storage binding {} bytes, {} invocations/workgroup, {} bytes shared, features: {}",
            a.max_binding_bytes,
            a.max_invocations,
            a.shared_bytes,
            if a.features.is_empty() {
                "none".to_string()
            } else {
                a.features.join(", ")
            }
        );
    }
}

fn parse_inputs(specs: &[String]) -> Result<HashMap<String, tessera::Tensor>, Error> {
    let mut out = HashMap::new();
    for spec in specs {
        let (name, file) = spec
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--input `{spec}` must be NAME=FILE.npy")))?;
        let path = Path::new(file);
        let t = npy::load_npy(path).map_err(|source| Error::Npy {
            path: path.to_path_buf(),
            source,
        })?;
        if out.insert(name.to_string(), t).is_some() {
            return Err(Error::Usage(format!("input `{name}` is given twice")));
        }
    }
    Ok(out)
}

fn run(
    graph: &Path,
    backend: &str,
    cpu_codegen: &str,
    inputs: &[String],
    output_dir: &Path,
) -> Result<(), Error> {
    let codegen: tessera::CpuCodegen = cpu_codegen.parse()?;
    let g = tessera::load_graph(graph)?;
    dump_if_asked(&g, backend)?;
    let inputs = parse_inputs(inputs)?;
    let outputs = tessera::registry_with_cpu(codegen)?
        .get(backend)?
        .compile(&g)?
        .run(&inputs)?;
    std::fs::create_dir_all(output_dir).map_err(|source| Error::Io {
        path: output_dir.to_path_buf(),
        source,
    })?;
    // Distinct outputs must not overwrite each other after name sanitizing.
    let mut used = HashSet::new();
    for (name, t) in &outputs {
        let base = output_file_name(name);
        let mut file = format!("{base}.npy");
        let mut k = 1;
        while !used.insert(file.clone()) {
            file = format!("{base}_{k}.npy");
            k += 1;
        }
        let path = output_dir.join(&file);
        npy::save_npy(&path, t).map_err(|source| Error::Npy {
            path: path.clone(),
            source,
        })?;
        println!("{name}: {}{:?} -> {}", t.dtype(), t.shape(), path.display());
    }
    Ok(())
}

/// With `TESSERA_DUMP=DIR`, writes the fused graph, kernel IR and (for cpu) Cranelift IR of the
/// graph as `tessera compile` would, before running it on a compiled backend.
fn dump_if_asked(graph: &tessera::Graph, backend: &str) -> Result<(), Error> {
    let Some(dir) = std::env::var_os("TESSERA_DUMP") else {
        return Ok(());
    };
    let name = match backend {
        "auto" => tessera::registry().get("auto")?.name().to_string(),
        b => b.to_string(),
    };
    let target = match name.as_str() {
        "cpu" | "kernel-interp" | "vulkan" | "cuda" => name,
        _ => return Ok(()),
    };
    let dir = PathBuf::from(dir);
    compile::emit(graph, &target, None, compile::Emit::FusionDot, &dir)?;
    compile::emit(graph, &target, None, compile::Emit::Kir, &dir)?;
    if target == "cpu" {
        compile::emit(graph, &target, None, compile::Emit::Clif, &dir)?;
    }
    if target == "cuda" {
        compile::emit(graph, &target, None, compile::Emit::Ptx, &dir)?;
    }
    if target == "vulkan" {
        compile::emit(graph, &target, None, compile::Emit::Wgsl, &dir)?;
    }
    eprintln!(
        "TESSERA_DUMP: wrote fusion, kernel IR and code to {}",
        dir.display()
    );
    Ok(())
}
