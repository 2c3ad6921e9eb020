//! The LLVM code generator (cargo feature `llvm`): kernel IR is printed as LLVM IR text
//! ([`emit`]), parsed by LLVM 19, optimized with the `default<O3>` pipeline for the host's
//! CPU and features (set as `target-cpu`/`target-features` on the function, so AVX-512 is
//! used where the host has it) and JIT-compiled by MCJIT. A kernel the printer refuses
//! (f16/bf16 values, ...) is compiled by Cranelift instead; the reason is kept on the
//! [`crate::CompiledKernel`].

mod emit;

use crate::target::KernelFn;
use inkwell::OptimizationLevel;
use inkwell::context::Context;
use inkwell::execution_engine::ExecutionEngine;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{CodeModel, InitializationConfig, RelocMode, Target, TargetMachine};
use std::sync::OnceLock;
use tessera_ir::kernel::Kernel;

/// Machine code made by LLVM: the execution engine owning it and the context it lives in.
pub(crate) struct LlvmCode {
    // Field order is drop order: the engine (and the module it owns) before its context.
    _engine: ExecutionEngine<'static>,
    _context: Box<Context>,
}

/// The outcome of compiling one kernel with LLVM.
pub(crate) enum Outcome {
    /// Compiled: the entry point and its owner.
    Code(KernelFn, LlvmCode),
    /// The printer refused the kernel (the reason); compile it with Cranelift.
    Refused(String),
}

/// The host's CPU name and feature string, as LLVM names them.
pub(crate) fn host() -> &'static (String, String) {
    static HOST: OnceLock<(String, String)> = OnceLock::new();
    HOST.get_or_init(|| {
        let _ = Target::initialize_native(&InitializationConfig::default());
        (
            TargetMachine::get_host_cpu_name().to_string(),
            TargetMachine::get_host_cpu_features().to_string(),
        )
    })
}

/// f32 lanes of the host's widest vector registers LLVM will use: 16 with AVX-512F, 8 with
/// AVX, else 4.
pub(crate) fn host_lanes_f32() -> u8 {
    let (_, features) = host();
    if features.split(',').any(|f| f == "+avx512f") {
        16
    } else if features.split(',').any(|f| f == "+avx") {
        8
    } else {
        4
    }
}

/// The LLVM IR text the printer makes of `k` (before optimization), or why it refuses.
/// With `fast_math` (and a host with FMA), f32 exp/erf/tanh/sigmoid are [`crate::vmath`]'s
/// recipes.
pub(crate) fn ir_text(k: &Kernel, fast_math: bool) -> Result<String, String> {
    let (cpu, features) = host();
    let fma = features.split(',').any(|f| f == "+fma");
    emit::module_text(k, cpu, features, fast_math && fma)
}

/// Compiles `k`: `Err` for an LLVM failure (an internal error), `Ok(Refused)` when the
/// printer does not handle the kernel.
pub(crate) fn compile(k: &Kernel, fast_math: bool) -> Result<Outcome, String> {
    let text = match ir_text(k, fast_math) {
        Ok(t) => t,
        Err(why) => return Ok(Outcome::Refused(why)),
    };
    let (cpu, features) = host();
    let context = Box::new(Context::create());
    let engine = {
        let buf = MemoryBuffer::create_from_memory_range_copy(text.as_bytes(), &k.name);
        let module = context
            .create_module_from_ir(buf)
            .map_err(|e| format!("LLVM rejected the printed IR: {e}"))?;
        let triple = TargetMachine::get_default_triple();
        let target = Target::from_triple(&triple).map_err(|e| e.to_string())?;
        let tm = target
            .create_target_machine(
                &triple,
                cpu,
                features,
                OptimizationLevel::Aggressive,
                RelocMode::Default,
                CodeModel::JITDefault,
            )
            .ok_or("no LLVM target machine for the host")?;
        module.set_triple(&triple);
        module.set_data_layout(&tm.get_target_data().get_data_layout());
        module
            .run_passes("default<O3>", &tm, PassBuilderOptions::create())
            .map_err(|e| format!("LLVM passes: {e}"))?;
        module
            .create_jit_execution_engine(OptimizationLevel::Aggressive)
            .map_err(|e| format!("LLVM JIT: {e}"))?
    };
    let addr = engine
        .get_function_address("tessera_kernel")
        .map_err(|e| format!("LLVM JIT: {e}"))?;
    if addr == 0 {
        return Err("LLVM JIT returned a null entry point".into());
    }
    // SAFETY: `addr` is the machine code of `tessera_kernel`, defined by the printer as
    // `i32 (ptr, ptr)` in the host's C calling convention, which is exactly `KernelFn`; the
    // code lives as long as `engine`, which moves into the returned owner.
    let entry = unsafe { std::mem::transmute::<usize, KernelFn>(addr) };
    // SAFETY: the engine borrows `context`, which is boxed (its address never changes) and
    // moves with it into `LlvmCode`, whose field order drops the engine first.
    let engine =
        unsafe { std::mem::transmute::<ExecutionEngine<'_>, ExecutionEngine<'static>>(engine) };
    Ok(Outcome::Code(
        entry,
        LlvmCode {
            _engine: engine,
            _context: context,
        },
    ))
}
