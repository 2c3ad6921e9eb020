//! tessera-cpu: the CPU backend. [`CpuTarget`] renders verified kernel IR into one Cranelift
//! function per kernel and JIT-compiles it for the host; [`CpuDevice`] keeps buffers in host
//! memory and launches a kernel by running every grid point of its launch space on a rayon
//! thread pool.
//!
//! [`CpuTarget::clif`] returns the Cranelift IR the renderer emits for a kernel (before
//! Cranelift's own optimizations), for reading and for tests.
//!
//! # What Cranelift limits
//!
//! - **Vectors are 128 bits.** Cranelift's SIMD types stop at 128 bits (`f32x4`, `f64x2`,
//!   `i32x4`, `i8x16`, ...), so [`CpuTarget`] reports `vector_lanes_f32 = 4`, and a kernel value
//!   wider than 128 bits (`f32x8`, `i64x4`) is held as several 128-bit vectors. Values narrower
//!   than 128 bits (`f32x2`), and every bool, f16 and bf16 vector, are held one scalar per lane.
//!   Ops with a vector instruction of the same meaning (float add/sub/mul/div/min/max/neg/abs/
//!   sqrt, integer add/sub/mul/and/or/xor/neg/not) run on whole vectors; the rest run lane by
//!   lane. Wider vectors (AVX-512) need the optional LLVM backend.
//! - **No transcendental instructions.** exp, log, sin, cos, tan, erf, pow, the inverse and
//!   hyperbolic functions, sigmoid, softplus, ... are calls to `extern "C"` helpers in this
//!   crate, registered as JIT symbols, that compute in f64 with the same formulas and functions
//!   as the kernel interpreter and round once to the dtype.
//! - **No f16/bf16 arithmetic.** They are loaded as bits, widened exactly to f32, computed in
//!   f32 (or in f64 through the helpers) and rounded to nearest-even after every operation,
//!   as the kernel IR narrows every expression; [`CpuTarget`] reports them as `Widened`.
//!
//! # FMA
//!
//! The ISA comes from `cranelift_native::builder()`, which detects the host's features and
//! enables the matching Cranelift flags (`has_sse41`, `has_avx`, `has_avx2`, `has_fma`, ...);
//! code is compiled with `opt_level = speed`. `fma` in kernel IR means the interpreter's
//! "f64 fused multiply-add, rounded once to the dtype": f64 operands use Cranelift's `fma`
//! instruction directly when the host has FMA (`TargetDesc::has_fma`), else a helper that calls
//! `f64::mul_add`; narrower floats are widened to f64 first and rounded back afterwards.
//!
//! # Loops and launches
//!
//! Loop kinds are hints with one meaning, so the renderer emits every loop as the same counted
//! loop (its exit test `end - i > step` cannot overflow the counter); `vectorize(n)` bodies
//! already compute on vectors. Parallelism comes from the launch: [`CpuDevice`] runs the grid
//! points on rayon's thread pool.
//!
//! # Scratch arrays
//!
//! CPU workgroups are one invocation, so a kernel's shared buffers are that invocation's
//! private scratch arrays (the packed matmul keeps its panels of B there). Both code
//! generators place them in the invocation's stack frame (64-byte aligned), with stack probes
//! so a large frame can never step over a guard page; [`CpuTarget`] refuses kernels whose
//! scratch arrays exceed `TargetDesc::shared_bytes` (256 KiB, far below the 2 MiB stacks of
//! rayon's workers). Barriers, and workgroups of more than one invocation, are refused.
//!
//! # LLVM
//!
//! With the cargo feature `llvm`, [`CpuTarget::with_codegen`]`(`[`CpuCodegen::Llvm`]`)` prints
//! kernel IR as LLVM IR (one `<N x T>` value per kernel value), optimizes it with LLVM 19's
//! O3 pipeline for the host's `target-cpu`/`target-features` and JIT-compiles it; the scheduler
//! is then told the host's widest vectors (16 f32 lanes with AVX-512). Kernels the LLVM printer
//! does not handle (f16/bf16 values) are compiled by Cranelift, and the reason is kept
//! ([`CompiledKernel::fallback`], [`CpuTarget::llvm_fallbacks`]). Both code generators have the
//! same contract: the same entry signature, bounds checks and error bits.
//!
//! # Machine code on disk
//!
//! [`CpuTarget`] implements `Target::persist`/`restore`, so the runtime's on-disk kernel cache
//! keeps its machine code: a second process that runs the same model links the stored code
//! instead of compiling it (`persist` module: Cranelift code with its relocations, LLVM object
//! files linked by ORC).
//!
//! # Errors at run time
//!
//! Integer division or modulo by zero never traps: the divisor is replaced and an error bit is
//! set; every load and store is bounds-checked (an out-of-bounds access reads zero or writes
//! nothing, and sets another bit). The compiled function returns the bits and
//! [`CpuDevice::launch`](tessera_runtime::Device::launch) turns them into a
//! [`DeviceError::Failed`](tessera_runtime::DeviceError) naming the kernel.

mod device;
#[cfg(feature = "llvm")]
mod llvm;
mod math;
mod persist;
mod range;
mod render;
mod target;
pub mod vmath;

pub use device::CpuDevice;
pub use render::{ERR_DIV_ZERO, ERR_OUT_OF_BOUNDS};
pub use target::{CodegenError, CompiledKernel, CpuCodegen, CpuMath, CpuTarget, KernelFn};
