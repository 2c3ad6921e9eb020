//! `tessera bench`: compile time and the median latency of repeated runs of a model on a
//! backend (figures for benchmarks, never for timed unit tests).

use std::path::Path;
use std::time::{Duration, Instant};
use tessera::{Error, NamedTensors, Tensor};
use tessera_ir::interp::values::Arr;

/// Seeded pseudo-random values of `ty` (floats in [-1, 1), integers in [0, 8), bools).
fn random_input(dtype: tessera::DType, dims: &[usize], seed: u64) -> Tensor {
    let n: usize = dims.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the benchmark and prints compile time and latency statistics.
pub fn bench(
    model: &Path,
    backend: &str,
    given: &NamedTensors,
    warmup: usize,
    iters: usize,
    threads: Option<usize>,
) -> Result<(), Error> {
    if let Some(t) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build_global()
            .map_err(|e| Error::Usage(format!("--threads: {e}")))?;
    }
    let graph = tessera::load_graph(model)?;
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
    let b = tessera::registry().get(backend)?;
    let t0 = Instant::now();
    let exe = b.compile(&graph).map_err(Error::from)?;
    let compile = t0.elapsed();
    // The first run may still compile (graphs with symbolic dims); it is reported apart.
    let t1 = Instant::now();
    exe.run(&inputs)?;
    let first = t1.elapsed();
    for _ in 0..warmup {
        exe.run(&inputs)?;
    }
    let mut times = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        exe.run(&inputs)?;
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!("model      {}", model.display());
    println!("backend    {}", b.name());
    println!("threads    {}", rayon::current_num_threads());
    println!("compile    {:.2} ms", ms(compile));
    println!("first run  {:.3} ms", ms(first));
    println!(
        "latency    median {:.3} ms   min {:.3} ms   max {:.3} ms   ({} runs)",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
    Ok(())
}
