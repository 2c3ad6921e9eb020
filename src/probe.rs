//! The machine's peak, probed in the same process as the benchmark: f32 FMA throughput (many
//! independent vector FMA chains on every worker thread) and stream bandwidth (STREAM's
//! "scale", `y = s·x` over arrays far larger than the caches, counting read + write bytes).

use rayon::prelude::*;
use std::time::Instant;

/// Measured peaks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Peak {
    /// f32 FMA throughput, GFLOP/s (an FMA is two operations).
    pub gflops: f64,
    /// Stream bandwidth, GB/s.
    pub gbps: f64,
}

/// Independent accumulator vectors per thread (enough to hide FMA latency on two pipes).
const CHAINS: usize = 12;

/// `iters` rounds of `CHAINS` AVX-512 FMAs (16 f32 lanes each); returns a checksum (so
/// nothing is optimized away) and the flops done.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_avx512(iters: usize) -> (f32, f64) {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps, _mm512_set1_ps,
    };
    let a = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm512_set1_ps(std::hint::black_box(1.0e-7));
    let mut acc: [__m512; CHAINS] = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    let mut sum = _mm512_set1_ps(0.0);
    for x in acc {
        sum = _mm512_add_ps(sum, x);
    }
    (_mm512_reduce_add_ps(sum), (iters * CHAINS * 16 * 2) as f64)
}

/// As [`fma_avx512`] with AVX2 + FMA (8 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_avx2(iters: usize) -> (f32, f64) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_storeu_ps,
    };
    let a = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm256_set1_ps(std::hint::black_box(1.0e-7));
    let mut acc: [__m256; CHAINS] = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut sum = _mm256_set1_ps(0.0);
    for x in acc {
        sum = _mm256_add_ps(sum, x);
    }
    let mut out = [0.0_f32; 8];
    // SAFETY: `out` holds 8 f32s, what an unaligned 256-bit store writes.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
    (out.iter().sum(), (iters * CHAINS * 8 * 2) as f64)
}

/// FMA work on one thread: `(checksum, flops)`.
fn fma_work(iters: usize) -> (f32, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (and so FMA), the features the function is
            // compiled for; it touches only its own locals.
            return unsafe { fma_avx512(iters) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, the features the function is compiled for.
            return unsafe { fma_avx2(iters) };
        }
    }
    let a = std::hint::black_box(0.999_999_f32);
    let mut acc = [1.0_f32; 4 * CHAINS];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = *x * a + 1.0e-7;
        }
    }
    (acc.iter().sum(), (iters * 4 * CHAINS * 2) as f64)
}

/// FMA throughput of every thread of the global rayon pool together, best of three.
fn fma_gflops() -> f64 {
    let iters = 20_000_000;
    let mut best = 0.0_f64;
    for _ in 0..3 {
        let t = Instant::now();
        let parts = rayon::broadcast(|_| fma_work(iters));
        let secs = t.elapsed().as_secs_f64().max(1e-9);
        let flops: f64 = parts.iter().map(|p| p.1).sum();
        std::hint::black_box(parts.iter().map(|p| p.0).sum::<f32>());
        best = best.max(flops / secs / 1e9);
    }
    best
}

/// Stream ("scale") bandwidth over 2 × 256 MiB, best of five.
fn stream_gbps() -> f64 {
    let n = 64 << 20;
    let x = vec![1.0_f32; n];
    let mut y = vec![0.0_f32; n];
    let chunk = 1 << 16;
    let mut best = 0.0_f64;
    for _ in 0..5 {
        let t = Instant::now();
        y.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(o, i)| {
                for (a, b) in o.iter_mut().zip(i) {
                    *a = 1.000_1 * b;
                }
            });
        let secs = t.elapsed().as_secs_f64().max(1e-9);
        std::hint::black_box(&y);
        best = best.max((2 * n * 4) as f64 / secs / 1e9);
    }
    best
}

/// Probes both peaks on the global rayon pool's threads.
pub fn measure(_threads: usize) -> Peak {
    Peak {
        gflops: fma_gflops(),
        gbps: stream_gbps(),
    }
}
