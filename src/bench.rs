//! `tessera bench`: compile times and the median latency of repeated runs, for a model file or
//! for the built-in workloads (matmul, fused gelu, softmax, layernorm, conv), with the
//! machine's peak (FMA throughput and stream bandwidth, probed in the same run) beside them.
//! Figures for benchmarks, never for timed unit tests.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tessera::frontends::ConvAttrs;
use tessera::ir::attr::GeluApprox;
use tessera::{CpuCodegen, DType, Error, Graph, GraphBuilder, NamedTensors, Tensor, Var};
use tessera_ir::interp::values::Arr;

/// What `tessera bench` was asked to do.
pub struct BenchArgs {
    /// A model file, or `None` for the built-in workloads.
    pub model: Option<PathBuf>,
    /// Built-in workloads to run (`all` or names); ignored with a model.
    pub workloads: Vec<String>,
    /// Backend name.
    pub backend: String,
    /// The CPU code generator.
    pub cpu_codegen: CpuCodegen,
    /// Inputs given on the command line (model runs).
    pub given: NamedTensors,
    /// Untimed runs.
    pub warmup: usize,
    /// Timed runs.
    pub iters: usize,
    /// Worker threads.
    pub threads: Option<usize>,
    /// Where to write the JSON records.
    pub json: Option<PathBuf>,
    /// Time every step on its own too (see [`tessera::Executable::profile`]).
    pub profile: bool,
}

/// One built-in workload: a graph and the work one run does.
struct Workload {
    name: &'static str,
    graph: Graph,
    /// Floating-point operations of one run (0 for bandwidth-bound workloads).
    flops: f64,
    /// Bytes one run must move to and from memory at least.
    bytes: f64,
    /// Nominal operations of one run of a bandwidth-bound workload (one per elementwise
    /// operation or reduction step per element, a transcendental counted as one): where it
    /// sits on a roofline plot. Equal to `flops` for the others.
    nominal_flops: f64,
}

/// One measured line of the report (the `--json` record).
struct Record {
    workload: String,
    backend: String,
    threads: usize,
    median_ms: f64,
    median_e2e_ms: f64,
    gflops: Option<f64>,
    gbps: Option<f64>,
    pct_of_peak: Option<f64>,
    compile_cold_ms: f64,
    compile_warm_ms: f64,
    /// The workload's floating-point operations of one run (nominal for bandwidth-bound ones,
    /// see [`Workload::nominal_flops`]) and the bytes it must move at least: its place on a
    /// roofline plot.
    flops: f64,
    /// See `flops`.
    bytes: f64,
    /// Per-step medians, when profiled.
    steps: Vec<StepMedian>,
}

/// One step's median over the profiled runs.
struct StepMedian {
    step: usize,
    name: String,
    nodes: Vec<String>,
    median: Duration,
}

/// The names of the built-in workloads.
pub const WORKLOADS: [&str; 9] = [
    "matmul-1024",
    "matmul-2048",
    "gelu-16m",
    "softmax-4096",
    "layernorm-4096",
    "conv-64x56x56",
    "mlp",
    "encoder",
    "cnn",
];

/// Encoder block sizes: sequence, model width, heads, feed-forward width.
const ENC: (usize, usize, usize, usize) = (128, 512, 8, 2048);

/// A pre-norm transformer encoder block (one sequence of `ENC.0` tokens): layer norm,
/// 8-head self-attention, residual, layer norm, GELU feed-forward, residual. Weights are graph
/// inputs, as `bench/peers.py` feeds them to ONNX Runtime.
fn encoder(b: &mut GraphBuilder) -> Result<(Var, f64, f64), Error> {
    let (s, d, h, ff) = ENC;
    let f = DType::F32;
    let x = b.input("x", f, &[s, d]);
    let norm = |b: &mut GraphBuilder, x: Var, name: &str| -> Result<Var, Error> {
        let g = b.input(&format!("{name}_g"), f, &[d]);
        let c = b.input(&format!("{name}_b"), f, &[d]);
        built(b.layer_normalization(x, g, Some(c), -1, 1e-5))
    };
    let linear = |b: &mut GraphBuilder, x: Var, k: usize, n: usize, name: &str| {
        let w = b.input(&format!("{name}_w"), f, &[k, n]);
        let c = b.input(&format!("{name}_b"), f, &[n]);
        let y = built(b.matmul(x, w))?;
        built(b.add(y, c))
    };
    let n1 = norm(b, x, "ln1")?;
    let (hs, hd) = (h as i64, (d / h) as i64);
    let mut heads = Vec::new();
    for name in ["q", "k", "v"] {
        let p = linear(b, n1, d, d, name)?;
        let p = built(b.reshape(p, &[s as i64, hs, hd]))?;
        heads.push(built(b.transpose(p, &[1, 0, 2]))?);
    }
    let kt = built(b.transpose(heads[1], &[0, 2, 1]))?;
    let scores = built(b.matmul(heads[0], kt))?;
    let scale = b.constant(
        Tensor::from_vec(&[], vec![1.0f32 / ((d / h) as f32).sqrt()])
            .map_err(|e| Error::Ir(e.into()))?,
    );
    let scores = built(b.mul(scores, scale))?;
    let attn = built(b.softmax(scores, -1))?;
    let ctx = built(b.matmul(attn, heads[2]))?;
    let ctx = built(b.transpose(ctx, &[1, 0, 2]))?;
    let ctx = built(b.reshape(ctx, &[s as i64, d as i64]))?;
    let proj = linear(b, ctx, d, d, "o")?;
    let r1 = built(b.add(x, proj))?;
    let n2 = norm(b, r1, "ln2")?;
    let up = linear(b, n2, d, ff, "ff1")?;
    let act = built(b.gelu(up, GeluApprox::None))?;
    let down = linear(b, act, ff, d, "ff2")?;
    let y = built(b.add(r1, down))?;
    let (s, d, ff) = (s as f64, d as f64, ff as f64);
    let flops = 2.0 * s * d * d * 4.0 + 2.0 * 2.0 * s * d * ff + 2.0 * 2.0 * s * s * d;
    let bytes = (4.0 * d * d + 2.0 * d * ff + 2.0 * s * d) * 4.0;
    Ok((y, flops, bytes))
}

/// A small ResNet-style CNN on a 1×3×64×64 image: a 3×3 stem to 32 channels, one residual
/// block of two 3×3 convolutions, 2×2 max pooling, a 3×3 convolution to 64 channels, global
/// average pooling and a 10-way classifier. Weights are graph inputs.
fn cnn(b: &mut GraphBuilder) -> Result<(Var, f64, f64), Error> {
    let f = DType::F32;
    let x = b.input("x", f, &[1, 3, 64, 64]);
    let conv = |b: &mut GraphBuilder, x: Var, cin: usize, cout: usize, name: &str| {
        let w = b.input(&format!("{name}_w"), f, &[cout, cin, 3, 3]);
        let c = b.input(&format!("{name}_b"), f, &[cout]);
        let attrs = ConvAttrs {
            pads: vec![1, 1, 1, 1],
            ..ConvAttrs::default()
        };
        built(b.conv(x, w, Some(c), attrs))
    };
    let stem = conv(b, x, 3, 32, "stem")?;
    let stem = built(b.relu(stem))?;
    let c1 = conv(b, stem, 32, 32, "block1")?;
    let c1 = built(b.relu(c1))?;
    let c2 = conv(b, c1, 32, 32, "block2")?;
    let res = built(b.add(c2, stem))?;
    let res = built(b.relu(res))?;
    let pooled = built(b.max_pool(res, vec![2, 2], vec![2, 2], vec![0, 0, 0, 0], false))?;
    let c3 = conv(b, pooled, 32, 64, "conv3")?;
    let c3 = built(b.relu(c3))?;
    let gap = built(b.global_average_pool(c3))?;
    let flat = built(b.flatten(gap, 1))?;
    let w = b.input("fc_w", f, &[64, 10]);
    let c = b.input("fc_b", f, &[10]);
    let logits = built(b.matmul(flat, w))?;
    let y = built(b.add(logits, c))?;
    let px = 64.0 * 64.0;
    let flops = 2.0 * px * (32.0 * 27.0 + 2.0 * 32.0 * 288.0) + 2.0 * (px / 4.0) * 64.0 * 288.0;
    let bytes = (3.0 * px + 4.0 * 32.0 * px) * 4.0;
    Ok((y, flops, bytes))
}

fn built(r: tessera::ir::error::Result<Var>) -> Result<Var, Error> {
    r.map_err(Error::from)
}

fn workload(name: &str) -> Result<Workload, Error> {
    let mut b = GraphBuilder::new(name);
    let f = DType::F32;
    let mut nominal = 0.0;
    let (out, flops, bytes) = match name {
        "matmul-1024" | "matmul-2048" => {
            let n = if name == "matmul-1024" { 1024 } else { 2048 };
            let a = b.input("a", f, &[n, n]);
            let w = b.input("b", f, &[n, n]);
            let y = built(b.matmul(a, w))?;
            let n = n as f64;
            (y, 2.0 * n * n * n, 3.0 * n * n * 4.0)
        }
        "gelu-16m" => {
            let x = b.input("x", f, &[4096, 4096]);
            let a = b.input("a", f, &[4096]);
            let c = b.input("b", f, &[4096]);
            let m = built(b.mul(x, a))?;
            let s = built(b.add(m, c))?;
            let y = built(b.gelu(s, GeluApprox::None))?;
            // mul, add; gelu: x / sqrt 2, erf, 1 + e, x · that, · 0.5.
            nominal = 7.0 * 16_777_216.0;
            (y, 0.0, 2.0 * 16_777_216.0 * 4.0)
        }
        "softmax-4096" => {
            let x = b.input("x", f, &[4096, 4096]);
            let y = built(b.softmax(x, -1))?;
            // max, subtract, exp, sum, divide.
            nominal = 5.0 * 16_777_216.0;
            (y, 0.0, 2.0 * 16_777_216.0 * 4.0)
        }
        "layernorm-4096" => {
            let x = b.input("x", f, &[4096, 4096]);
            let s = b.input("scale", f, &[4096]);
            let c = b.input("bias", f, &[4096]);
            let y = built(b.layer_normalization(x, s, Some(c), -1, 1e-5))?;
            // sum, subtract the mean, square, sum, times 1/σ, scale, bias.
            nominal = 7.0 * 16_777_216.0;
            (y, 0.0, 2.0 * 16_777_216.0 * 4.0)
        }
        "conv-64x56x56" => {
            let x = b.input("x", f, &[1, 64, 56, 56]);
            let w = b.input("w", f, &[64, 64, 3, 3]);
            let attrs = ConvAttrs {
                pads: vec![1, 1, 1, 1],
                ..ConvAttrs::default()
            };
            let y = built(b.conv(x, w, None, attrs))?;
            let out = 64.0 * 56.0 * 56.0;
            (
                y,
                2.0 * out * 64.0 * 9.0,
                (2.0 * out + 64.0 * 64.0 * 9.0) * 4.0,
            )
        }
        "mlp" => {
            // 256 rows through 1024 -> 4096 -> 1024 with bias and gelu.
            let x = b.input("x", f, &[256, 1024]);
            let w1 = b.input("w1", f, &[1024, 4096]);
            let b1 = b.input("b1", f, &[4096]);
            let w2 = b.input("w2", f, &[4096, 1024]);
            let b2 = b.input("b2", f, &[1024]);
            let h = built(b.matmul(x, w1))?;
            let h = built(b.add(h, b1))?;
            let h = built(b.gelu(h, GeluApprox::Tanh))?;
            let h = built(b.matmul(h, w2))?;
            let y = built(b.add(h, b2))?;
            let flops = 2.0 * 2.0 * 256.0 * 1024.0 * 4096.0;
            (
                y,
                flops,
                (2.0 * 1024.0 * 4096.0 + 2.0 * 256.0 * 1024.0) * 4.0,
            )
        }
        "encoder" => encoder(&mut b)?,
        "cnn" => cnn(&mut b)?,
        other => {
            return Err(Error::Usage(format!(
                "unknown workload `{other}` (expected one of {})",
                WORKLOADS.join(", ")
            )));
        }
    };
    b.output(out, "y")?;
    Ok(Workload {
        name: WORKLOADS
            .iter()
            .find(|w| **w == name)
            .copied()
            .unwrap_or("workload"),
        graph: b.finish()?,
        flops,
        bytes,
        nominal_flops: if flops > 0.0 { flops } else { nominal },
    })
}

/// Seeded pseudo-random values of `dtype` (floats in [-1, 1), integers in [0, 8)).
fn random_input(dtype: DType, dims: &[usize], seed: u64) -> Tensor {
    let n: usize = dims.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    if dtype == DType::F32 {
        let v: Vec<f32> = (0..n)
            .map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
            .collect();
        if let Ok(t) = Tensor::from_vec(dims, v) {
            return t;
        }
    }
    if dtype.is_float() {
        let v = (0..n)
            .map(|_| (next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
            .collect();
        Arr::floats(dtype, dims.to_vec(), v).to_tensor()
    } else {
        let v = (0..n).map(|_| (next() % 8) as i128).collect();
        Arr::ints(dtype, dims.to_vec(), v).to_tensor()
    }
}

/// Every graph input not in `given`, filled with seeded random values.
fn fill_inputs(graph: &Graph, given: &NamedTensors) -> Result<NamedTensors, Error> {
    let mut inputs = given.clone();
    for (k, &v) in graph.inputs.iter().enumerate() {
        let name = graph.value_label(v);
        if inputs.contains_key(&name) {
            continue;
        }
        let ty = &graph.value(v).ty;
        let dims = ty.shape.as_static().ok_or_else(|| {
            Error::Usage(format!(
                "input `{name}` has symbolic dims ({ty}): give it with --input NAME=FILE.npy"
            ))
        })?;
        inputs.insert(name, random_input(ty.dtype, &dims, k as u64 + 1));
    }
    Ok(inputs)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The timings of one graph on one backend.
struct Timing {
    backend: String,
    compile_cold: Duration,
    compile_warm: Duration,
    first: Duration,
    /// Runs on bound inputs (device-resident; no copies in or out), sorted.
    times: Vec<Duration>,
    /// Ordinary runs: inputs copied in, outputs copied out, sorted.
    e2e: Vec<Duration>,
    /// Per-step medians (with `--profile`).
    steps: Vec<StepMedian>,
}

impl Timing {
    fn median(&self) -> Duration {
        self.times
            .get(self.times.len() / 2)
            .copied()
            .unwrap_or_default()
    }

    fn median_e2e(&self) -> Duration {
        self.e2e
            .get(self.e2e.len() / 2)
            .copied()
            .unwrap_or_default()
    }
}

/// With `TESSERA_DUMP=DIR`, writes the workload's fused graph and kernel IR (for the code
/// generator being measured) to `DIR/<workload>`, as `tessera compile` would.
fn dump_workload(w: &Workload, args: &BenchArgs) -> Result<(), Error> {
    let Some(dir) = std::env::var_os("TESSERA_DUMP") else {
        return Ok(());
    };
    let target = match (args.backend.as_str(), args.cpu_codegen) {
        ("cpu", CpuCodegen::Llvm) => "cpu-llvm",
        ("cpu" | "kernel-interp" | "vulkan" | "cuda", _) => args.backend.as_str(),
        _ => return Ok(()),
    };
    let dir = PathBuf::from(dir).join(w.name);
    crate::compile::emit(
        &w.graph,
        target,
        None,
        crate::compile::Emit::FusionDot,
        &dir,
    )?;
    crate::compile::emit(&w.graph, target, None, crate::compile::Emit::Kir, &dir)?;
    Ok(())
}

/// A cold start and a cache-warm start of `graph` on the cpu backend: compiled first through
/// an empty kernel cache backed by an empty on-disk cache in a temporary directory (nothing
/// reused from earlier workloads), then again through a new in-memory cache over the same
/// directory — what a second process pays when a first one has run the model (machine code
/// read back from disk, no code generation). Returns the cold executable and both times.
fn cpu_start_times(
    graph: &Graph,
    codegen: CpuCodegen,
) -> Result<(Box<dyn tessera::Executable>, Duration, Duration), Error> {
    use std::sync::Arc;
    use tessera_runtime::{Backend, CompileOptions, CompiledBackend, DiskCache, KernelCache};
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tessera-bench-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let backend = |cache: KernelCache| -> Result<CompiledBackend, Error> {
        Ok(CompiledBackend {
            name: "cpu".into(),
            target: Arc::new(tessera_cpu::CpuTarget::with_codegen(codegen)?),
            device: Arc::new(tessera_cpu::CpuDevice::new()),
            options: CompileOptions {
                cache: Some(Arc::new(cache)),
            },
        })
    };
    let timed = || -> Result<_, Error> {
        let t0 = Instant::now();
        let cold = backend(KernelCache::with_disk(Arc::new(DiskCache::new(&dir))))?;
        let exe = cold.compile(graph)?;
        let compile_cold = t0.elapsed();
        let t0 = Instant::now();
        let warm = backend(KernelCache::with_disk(Arc::new(DiskCache::new(&dir))))?;
        drop(warm.compile(graph)?);
        Ok((exe, compile_cold, t0.elapsed()))
    };
    let result = timed();
    // Best effort: the directory is the benchmark's own.
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn time_graph(graph: &Graph, args: &BenchArgs) -> Result<Timing, Error> {
    let inputs = fill_inputs(graph, &args.given)?;
    let b = tessera::registry_with_cpu(args.cpu_codegen)?.get(&args.backend)?;
    let (exe, compile_cold, compile_warm) = if args.backend == "cpu" {
        cpu_start_times(graph, args.cpu_codegen)?
    } else {
        let t0 = Instant::now();
        let exe = b.compile(graph)?;
        let compile_cold = t0.elapsed();
        // The same graph again on the same backend: kernels come from its cache.
        let t0 = Instant::now();
        drop(b.compile(graph)?);
        (exe, compile_cold, t0.elapsed())
    };
    // The first run may still compile (graphs with symbolic dims); it is reported apart.
    let t1 = Instant::now();
    exe.run(&inputs)?;
    let first = t1.elapsed();
    let mut e2e = Vec::with_capacity(args.iters.max(1));
    for _ in 0..args.iters.max(1) {
        let t = Instant::now();
        exe.run(&inputs)?;
        e2e.push(t.elapsed());
    }
    e2e.sort();
    // The headline figure: runs on inputs bound to device memory (ONNX Runtime's I/O
    // binding), which copy nothing in or out.
    let mut bound = exe.bind(&inputs)?;
    for _ in 0..args.warmup {
        bound.run()?;
    }
    let mut times = Vec::with_capacity(args.iters.max(1));
    for _ in 0..args.iters.max(1) {
        let t = Instant::now();
        bound.run()?;
        times.push(t.elapsed());
    }
    times.sort();
    drop(bound);
    let steps = if args.profile {
        profile_steps(exe.as_ref(), &inputs, args.iters.max(1))?
    } else {
        Vec::new()
    };
    Ok(Timing {
        backend: b.name().to_string(),
        compile_cold,
        compile_warm,
        first,
        times,
        e2e,
        steps,
    })
}

/// Each step's median over `iters` profiled runs (see [`tessera::Executable::profile`]).
fn profile_steps(
    exe: &dyn tessera::Executable,
    inputs: &NamedTensors,
    iters: usize,
) -> Result<Vec<StepMedian>, Error> {
    let mut runs = Vec::with_capacity(iters);
    for _ in 0..iters {
        runs.push(exe.profile(inputs)?);
    }
    let Some(first) = runs.first() else {
        return Ok(Vec::new());
    };
    Ok(first
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut t: Vec<Duration> = runs
                .iter()
                .filter_map(|r| r.get(i).map(|x| x.time))
                .collect();
            t.sort();
            StepMedian {
                step: s.step,
                name: s.name.clone(),
                nodes: s.nodes.clone(),
                median: t.get(t.len() / 2).copied().unwrap_or_default(),
            }
        })
        .collect())
}

/// Prints the per-step medians, slowest first, with their share of the sum.
fn print_steps(steps: &[StepMedian]) {
    if steps.is_empty() {
        return;
    }
    let total: f64 = steps.iter().map(|s| ms(s.median)).sum();
    let mut order: Vec<&StepMedian> = steps.iter().collect();
    order.sort_by_key(|s| std::cmp::Reverse(s.median));
    println!("  steps (median of profiled runs, device waited for after each; sum {total:.3} ms):");
    println!(
        "  {:>5} {:>10} {:>6}  {:<28} graph nodes",
        "step", "ms", "%", "kernel"
    );
    for s in order {
        let nodes = s.nodes.join(", ");
        let nodes = if nodes.chars().count() > 60 {
            format!("{}…", nodes.chars().take(59).collect::<String>())
        } else {
            nodes
        };
        println!(
            "  {:>5} {:>10.3} {:>6.1}  {:<28} {nodes}",
            s.step,
            ms(s.median),
            100.0 * ms(s.median) / total.max(1e-12),
            s.name
        );
    }
}

/// Runs the benchmark and prints (and with `--json`, writes) the figures.
pub fn bench(args: &BenchArgs) -> Result<(), Error> {
    if let Some(t) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build_global()
            .map_err(|e| Error::Usage(format!("--threads: {e}")))?;
    }
    let threads = rayon::current_num_threads();
    if let Some(model) = &args.model {
        return bench_model(model, args, threads);
    }
    let names: Vec<&str> = if args.workloads.is_empty() || args.workloads.iter().any(|w| w == "all")
    {
        WORKLOADS.to_vec()
    } else {
        args.workloads.iter().map(String::as_str).collect()
    };
    let workloads = names
        .iter()
        .map(|n| workload(n))
        .collect::<Result<Vec<_>, _>>()?;
    let peak = crate::probe::measure(threads);
    println!(
        "peak ({threads} threads): {:.1} GFLOP/s f32 FMA, {:.1} GB/s stream",
        peak.gflops, peak.gbps
    );
    println!(
        "{:<16} {:<10} {:>10} {:>10} {:>9} {:>8} {:>11} {:>11} {:>10}",
        "workload",
        "codegen",
        "median ms",
        "GFLOP/s",
        "GB/s",
        "% peak",
        "compile ms",
        "warm ms",
        "e2e ms"
    );
    let mut records = Vec::new();
    for w in &workloads {
        dump_workload(w, args)?;
        let mut t = time_graph(&w.graph, args)?;
        let secs = t.median().as_secs_f64().max(1e-12);
        let (gflops, gbps, pct) = if w.flops > 0.0 {
            let g = w.flops / secs / 1e9;
            (Some(g), None, Some(100.0 * g / peak.gflops))
        } else {
            let g = w.bytes / secs / 1e9;
            (None, Some(g), Some(100.0 * g / peak.gbps))
        };
        let r = Record {
            workload: w.name.to_string(),
            backend: format!("{}/{}", t.backend, args.cpu_codegen.name()),
            threads,
            median_ms: ms(t.median()),
            median_e2e_ms: ms(t.median_e2e()),
            gflops,
            gbps,
            pct_of_peak: pct,
            compile_cold_ms: ms(t.compile_cold),
            compile_warm_ms: ms(t.compile_warm),
            flops: w.nominal_flops,
            bytes: w.bytes,
            steps: std::mem::take(&mut t.steps),
        };
        let opt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
        println!(
            "{:<16} {:<10} {:>10.3} {:>10} {:>9} {:>8} {:>11.1} {:>11.1} {:>10.3}",
            r.workload,
            args.cpu_codegen.name(),
            r.median_ms,
            opt(r.gflops),
            opt(r.gbps),
            opt(r.pct_of_peak),
            r.compile_cold_ms,
            r.compile_warm_ms,
            r.median_e2e_ms
        );
        print_steps(&r.steps);
        records.push(r);
    }
    if let Some(path) = &args.json {
        write_json(path, &records, &peak)?;
    }
    Ok(())
}

fn bench_model(model: &Path, args: &BenchArgs, threads: usize) -> Result<(), Error> {
    let graph = tessera::load_graph(model)?;
    let t = time_graph(&graph, args)?;
    println!("model      {}", model.display());
    println!("backend    {} ({})", t.backend, args.cpu_codegen.name());
    println!("threads    {threads}");
    if args.backend == "cpu" {
        println!(
            "compile    {:.2} ms cold; {:.2} ms cache-warm start (a new kernel cache over the \
             on-disk cache the cold compile filled: what a second process pays)",
            ms(t.compile_cold),
            ms(t.compile_warm)
        );
    } else {
        println!(
            "compile    {:.2} ms (warm {:.2} ms, same process)",
            ms(t.compile_cold),
            ms(t.compile_warm)
        );
    }
    let disk = tessera_runtime::KernelCache::global().disk();
    if let Some((d, dir)) = disk.and_then(|d| Some((d, d.dir()?)).filter(|_| d.is_enabled())) {
        let s = d.stats();
        println!(
            "disk cache {} ({} hits, {} misses, {} written, {} corrupt)",
            dir.display(),
            s.hits,
            s.misses,
            s.writes,
            s.corrupt
        );
    }
    println!("first run  {:.3} ms", ms(t.first));
    println!(
        "latency    median {:.3} ms   min {:.3} ms   max {:.3} ms   ({} runs, bound inputs)",
        ms(t.median()),
        ms(t.times.first().copied().unwrap_or_default()),
        ms(t.times.last().copied().unwrap_or_default()),
        t.times.len()
    );
    println!(
        "end to end median {:.3} ms   (inputs copied in, outputs copied out)",
        ms(t.median_e2e())
    );
    print_steps(&t.steps);
    if let Some(path) = &args.json {
        let r = Record {
            workload: model.display().to_string(),
            backend: format!("{}/{}", t.backend, args.cpu_codegen.name()),
            threads,
            median_ms: ms(t.median()),
            median_e2e_ms: ms(t.median_e2e()),
            gflops: None,
            gbps: None,
            pct_of_peak: None,
            compile_cold_ms: ms(t.compile_cold),
            compile_warm_ms: ms(t.compile_warm),
            flops: 0.0,
            bytes: 0.0,
            steps: t.steps,
        };
        write_json(path, &[r], &crate::probe::Peak::default())?;
    }
    Ok(())
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `, "steps": [...]` for profiled records, nothing otherwise.
fn steps_json(steps: &[StepMedian]) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let items: Vec<String> = steps
        .iter()
        .map(|s| {
            let nodes: Vec<String> = s.nodes.iter().map(|n| json_str(n)).collect();
            format!(
                "{{\"step\": {}, \"kernel\": {}, \"nodes\": [{}], \"median_ms\": {}}}",
                s.step,
                json_str(&s.name),
                nodes.join(", "),
                json_num(Some(ms(s.median)))
            )
        })
        .collect();
    format!(", \"steps\": [{}]", items.join(", "))
}

fn json_num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "null".into(),
    }
}

/// Writes `{"peak": {...}, "results": [records]}`.
fn write_json(path: &Path, records: &[Record], peak: &crate::probe::Peak) -> Result<(), Error> {
    let rows: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "    {{\"workload\": {}, \"backend\": {}, \"threads\": {}, \"median_ms\": {}, \"median_e2e_ms\": {}, \"gflops\": {}, \"gbps\": {}, \"pct_of_peak\": {}, \"compile_cold_ms\": {}, \"compile_warm_ms\": {}, \"flops\": {}, \"bytes\": {}{}}}",
                json_str(&r.workload),
                json_str(&r.backend),
                r.threads,
                json_num(Some(r.median_ms)),
                json_num(Some(r.median_e2e_ms)),
                json_num(r.gflops),
                json_num(r.gbps),
                json_num(r.pct_of_peak),
                json_num(Some(r.compile_cold_ms)),
                json_num(Some(r.compile_warm_ms)),
                json_num((r.flops > 0.0).then_some(r.flops)),
                json_num((r.bytes > 0.0).then_some(r.bytes)),
                steps_json(&r.steps),
            )
        })
        .collect();
    let text = format!(
        "{{\n  \"peak\": {{\"gflops\": {}, \"gbps\": {}}},\n  \"results\": [\n{}\n  ]\n}}\n",
        json_num(Some(peak.gflops)),
        json_num(Some(peak.gbps)),
        rows.join(",\n")
    );
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
