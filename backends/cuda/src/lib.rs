//! tessera-cuda: the CUDA backend. [`CudaTarget`] renders verified kernel IR as PTX text that
//! we print ourselves (ISA 7.8, `.target sm_80 | sm_86 | sm_89 | sm_90`; no nvcc, no NVRTC),
//! so PTX can be produced and checked with `ptxas` on a machine without a GPU.
//! [`CudaDevice`] runs it through the CUDA driver, loaded at run time: where `libcuda` is
//! absent, [`backend`] returns an unavailable backend with the reason instead of failing.
//!
//! # What the PTX looks like
//!
//! - One `.entry` per kernel (`tessera_<name>`), one `.u64` global pointer per buffer plus a
//!   trailing pointer to a status word, `.reqntid` = the kernel's workgroup; `group_id` and
//!   `local_id` are `%ctaid` and `%tid`.
//! - SSA values become virtual registers, one per lane; ptxas allocates the real ones.
//!   `bool` lives in predicates; 8/16/32-bit integers in `.b32` registers kept sign- or
//!   zero-extended; f16/bf16 values in `.f32` registers, widened on load with `cvt`,
//!   rounded to their dtype (`cvt.rn.f16.f32` / `cvt.rn.bf16.f32`) after every operation
//!   and narrowed on store (so the target reports them as `Widened`).
//! - **Bounds:** every load and store is predicated on `index + lanes <= len` (an unsigned
//!   64-bit compare, so negative indices fail too): out of bounds, a load reads 0 and a
//!   store writes nothing, and [`ERR_OUT_OF_BOUNDS`] is set in the status word. No kernel
//!   reads or writes outside its buffers, whatever the shapes.
//! - **Vector access:** a load or store of 2 to 16 lanes of a 4- or 8-byte dtype uses
//!   `ld/st.global.v4` (`.v2` for 8-byte elements) when, at run time, the address is
//!   aligned to the vector and the whole vector is in bounds; otherwise each lane is a
//!   predicated scalar access.
//! - Workgroup-shared buffers are `.shared .align 16` arrays; `barrier` is `bar.sync 0`.
//!   Reductions use the tree the scheduler emits: shared memory down to one partial per warp,
//!   then a butterfly of the kernel IR's `shuffle_xor`, printed as `shfl.sync.bfly.b32`
//!   (64-bit values as two shuffles).
//! - `fma` is `fma.rn`; `add/sub/mul/div` are the `.rn` forms (never contracted).
//! - Integer division or modulo by zero divides by 1 and sets [`ERR_DIV_ZERO`];
//!   `MIN / -1` wraps as the interpreter does.
//!
//! # Accuracy (ULP bounds)
//!
//! - Exact or correctly rounded (0.5 ULP): `add sub mul div sqrt reciprocal fma` on f32 and
//!   f64, `floor ceil round abs neg sign relu min max`, comparisons, every cast (float →
//!   int truncates and saturates, NaN → 0, as `cvt.rzi` does), `mod`/`fmod` on f16/bf16/f32
//!   (exact). On f16 and bf16, arithmetic is computed in f32 and rounded once to the dtype:
//!   correctly rounded for `add sub mul div sqrt` on f16, at most 1 ULP for `fma` and for
//!   bf16 `add`/`sub` (two roundings).
//! - Transcendentals on f16, bf16 and f32 (`exp log sin cos tan asin acos atan sinh cosh
//!   tanh asinh acosh atanh erf sigmoid softplus softsign hard_swish mish pow`): evaluated in
//!   f64 with correctly rounded operations, reduced arguments and Taylor polynomials whose
//!   truncation error is below 2^-55, then rounded once: **at most 1 ULP** of the dtype
//!   (correctly rounded except within about 2^-40 ULP of a rounding boundary). For `sin`,
//!   `cos` and `tan` the bound holds for |x| < 2^20; beyond that the three-part Cody-Waite
//!   reduction loses accuracy (no Payne-Hanek reduction yet). No `.approx` instruction is
//!   used.
//! - f64: transcendental functions, `pow`, `mod` and `fmod` are declared unsupported (a
//!   typed `TargetError::Unsupported`); `softsign` and `hard_swish` are computed in f64
//!   (at most 2 ULP).
//!
//! These bounds are derived from the algorithms, not yet measured on a GPU; the conformance
//! tolerance policy's per-dtype bounds (1 ULP or wider for these functions) cover them.
//!
//! # Device
//!
//! [`CudaDevice`] queues every copy and launch on a stream of its own; copies go through
//! page-locked staging buffers (`cuMemHostAlloc`) with asynchronous uploads (see
//! `docs/cuda.md`), falling back to pageable copies when page-locked memory is unavailable.
//!
//! # Tensor cores
//!
//! The target declares `TargetDesc::mma` (f16 and bf16; tf32 only with
//! [`CudaTarget::with_tf32`] — or `TESSERA_CUDA_TF32=1` for [`backend`] — off by default
//! because it rounds f32 operands to 10 mantissa bits), so the shared scheduler turns f16/bf16 contractions into the kernel IR's warp-level
//! `mma` statements over zero-padded shared-memory tiles; the renderer prints each as
//! per-lane fragment loads in the PTX ISA's layout and one
//! `mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}...` (`m16n8k8...tf32` for tf32).
//! Products are exact in f32 and accumulation is f32; see `docs/cuda.md` for the tolerance.
//!
//! # Packed half precision
//!
//! `add sub mul fma` of f16 vectors with an even lane count print as `*.rn.f16x2` per pair
//! (`add sub mul` of bf16 vectors as `.bf16x2` on sm_90), each rounded once like the kernel
//! IR's per-operation rounding; f16 `fma` is then correctly rounded (see `docs/cuda.md`).
//!
//! # Not done yet
//!
//! `ldmatrix` / `cp.async` / `wgmma` for faster tensor-core kernels; 32-bit loads of f16
//! pairs.

mod device;
mod ptx;
pub mod ptxas;
mod target;

pub use device::{CudaDevice, driver_present};
pub use ptx::{ERR_DIV_ZERO, ERR_OUT_OF_BOUNDS, RenderError, entry_name};
pub use target::{Arch, CudaTarget};

use std::sync::Arc;
use tessera_runtime::{Backend, CompiledBackend, UnavailableBackend};

/// The `cuda` backend for GPU 0: a [`CompiledBackend`] of [`CudaTarget`] (for the device's
/// architecture) and [`CudaDevice`] when the driver and a GPU are present, else an
/// unavailable backend that says why.
/// The driver is probed once per process; later calls return the same backend.
pub fn backend() -> Arc<dyn Backend> {
    static BACKEND: std::sync::OnceLock<Arc<dyn Backend>> = std::sync::OnceLock::new();
    Arc::clone(BACKEND.get_or_init(open_backend))
}

/// True when `TESSERA_CUDA_TF32=1` asks for f32 contractions in tf32 on the `cuda` backend.
pub fn tf32_requested() -> bool {
    std::env::var("TESSERA_CUDA_TF32").is_ok_and(|v| v == "1")
}

fn open_backend() -> Arc<dyn Backend> {
    match CudaDevice::new(0) {
        Ok(dev) => {
            let target = CudaTarget::with_multiprocessors(dev.arch(), dev.multiprocessors())
                .with_tf32(tf32_requested());
            Arc::new(CompiledBackend::new(
                "cuda",
                Arc::new(target),
                Arc::new(dev),
            ))
        }
        Err(reason) => Arc::new(UnavailableBackend {
            name: "cuda".into(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_driver_the_backend_is_unavailable_with_the_reason() {
        let b = backend();
        assert_eq!(b.name(), "cuda");
        if !driver_present() {
            match b.availability() {
                tessera_runtime::Availability::Unavailable(reason) => {
                    assert!(reason.contains("libcuda"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
