//! The LLVM code generator (cargo feature `llvm`): kernel IR is printed as LLVM IR text
//! ([`emit`]), parsed by LLVM 19, optimized with the `default<O3>` pipeline for the host's
//! CPU and features (set as `target-cpu`/`target-features` on the function, so AVX-512 is
//! used where the host has it), emitted as a relocatable object file and linked into the
//! process by LLVM's ORC JIT ([`load_object`]); the object file is what the on-disk kernel
//! cache keeps (see `crate::persist`), so a second process links it without compiling. A kernel the printer refuses
//! (f16/bf16 values, ...) is compiled by Cranelift instead; the reason is kept on the
//! [`crate::CompiledKernel`].

mod emit;

use crate::math::helpers;
use crate::target::KernelFn;
use inkwell::OptimizationLevel;
use inkwell::context::Context;
use inkwell::llvm_sys::core::LLVMCreateMemoryBufferWithMemoryRangeCopy;
use inkwell::llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use inkwell::llvm_sys::orc2::lljit::{
    LLVMOrcCreateLLJIT, LLVMOrcCreateLLJITBuilder, LLVMOrcDisposeLLJIT, LLVMOrcLLJITAddObjectFile,
    LLVMOrcLLJITGetGlobalPrefix, LLVMOrcLLJITGetMainJITDylib, LLVMOrcLLJITLookup,
    LLVMOrcLLJITMangleAndIntern, LLVMOrcLLJITRef,
};
use inkwell::llvm_sys::orc2::{
    LLVMJITEvaluatedSymbol, LLVMJITSymbolFlags, LLVMJITSymbolGenericFlags, LLVMOrcAbsoluteSymbols,
    LLVMOrcCSymbolMapPair, LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess,
    LLVMOrcDefinitionGeneratorRef, LLVMOrcDisposeMaterializationUnit, LLVMOrcExecutorAddress,
    LLVMOrcJITDylibAddGenerator, LLVMOrcJITDylibDefine,
};
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine,
};
use std::ffi::{CStr, CString};
use std::ptr;
use std::sync::OnceLock;
use tessera_ir::kernel::Kernel;

/// Machine code made by LLVM: the ORC JIT instance that linked the kernel's object file and
/// owns its memory.
pub(crate) struct LlvmCode {
    jit: LLVMOrcLLJITRef,
}

impl Drop for LlvmCode {
    fn drop(&mut self) {
        // SAFETY: `jit` was made by `LLVMOrcCreateLLJIT` and is disposed once, here; the entry
        // point into its memory is only reachable through the kernel that owns `self`.
        let err = unsafe { LLVMOrcDisposeLLJIT(self.jit) };
        let _ = take_error(err);
    }
}

/// The outcome of compiling one kernel with LLVM.
pub(crate) enum Outcome {
    /// Compiled: the entry point, its owner and the object file (for the on-disk cache).
    Code(KernelFn, LlvmCode, Vec<u8>),
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
    let context = Context::create();
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
            RelocMode::PIC,
            CodeModel::Small,
        )
        .ok_or("no LLVM target machine for the host")?;
    module.set_triple(&triple);
    module.set_data_layout(&tm.get_target_data().get_data_layout());
    module
        .run_passes("default<O3>", &tm, PassBuilderOptions::create())
        .map_err(|e| format!("LLVM passes: {e}"))?;
    let object = tm
        .write_to_memory_buffer(&module, FileType::Object)
        .map_err(|e| format!("LLVM object emission: {e}"))?
        .as_slice()
        .to_vec();
    let (entry, code) = load_object(&object, &k.name)?;
    Ok(Outcome::Code(entry, code, object))
}

/// Links an object file [`compile`] made (in this or an earlier process) into this process
/// with LLVM's ORC JIT: the helpers of [`crate::math`] by name, other symbols (`memset`,
/// `memcpy`, the C math library) from the process. Returns the kernel's entry point.
pub(crate) fn load_object(object: &[u8], name: &str) -> Result<(KernelFn, LlvmCode), String> {
    let _ = Target::initialize_native(&InitializationConfig::default());
    let symbols: Vec<(CString, usize)> = helpers()
        .into_iter()
        .map(|h| {
            CString::new(h.name)
                .map(|n| (n, h.addr as usize))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let object_name = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: every call follows the LLVM C API's ownership rules: the builder is consumed by
    // `LLVMOrcCreateLLJIT`; the absolute-symbols unit by `LLVMOrcJITDylibDefine` (disposed by
    // us only when that fails); the generator by `LLVMOrcJITDylibAddGenerator`; the memory
    // buffer by `LLVMOrcLLJITAddObjectFile`. The JIT moves into `LlvmCode`, which disposes it
    // (also on every early return below).
    unsafe {
        let mut jit: LLVMOrcLLJITRef = ptr::null_mut();
        take_error(LLVMOrcCreateLLJIT(&mut jit, LLVMOrcCreateLLJITBuilder()))?;
        let code = LlvmCode { jit };
        let dylib = LLVMOrcLLJITGetMainJITDylib(jit);
        let mut pairs: Vec<LLVMOrcCSymbolMapPair> = symbols
            .iter()
            .map(|(n, addr)| LLVMOrcCSymbolMapPair {
                Name: LLVMOrcLLJITMangleAndIntern(jit, n.as_ptr()),
                Sym: LLVMJITEvaluatedSymbol {
                    Address: *addr as u64,
                    Flags: LLVMJITSymbolFlags {
                        GenericFlags: LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported
                            as u8
                            | LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8,
                        TargetFlags: 0,
                    },
                },
            })
            .collect();
        let unit = LLVMOrcAbsoluteSymbols(pairs.as_mut_ptr(), pairs.len());
        if let Err(e) = take_error(LLVMOrcJITDylibDefine(dylib, unit)) {
            LLVMOrcDisposeMaterializationUnit(unit);
            return Err(e);
        }
        let mut generator: LLVMOrcDefinitionGeneratorRef = ptr::null_mut();
        take_error(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
            &mut generator,
            LLVMOrcLLJITGetGlobalPrefix(jit),
            None,
            ptr::null_mut(),
        ))?;
        LLVMOrcJITDylibAddGenerator(dylib, generator);
        let buffer = LLVMCreateMemoryBufferWithMemoryRangeCopy(
            object.as_ptr().cast(),
            object.len(),
            object_name.as_ptr(),
        );
        take_error(LLVMOrcLLJITAddObjectFile(jit, dylib, buffer))?;
        let mut addr: LLVMOrcExecutorAddress = 0;
        take_error(LLVMOrcLLJITLookup(
            jit,
            &mut addr,
            c"tessera_kernel".as_ptr(),
        ))?;
        if addr == 0 {
            return Err("LLVM JIT returned a null entry point".into());
        }
        // SAFETY: `addr` is the machine code of `tessera_kernel`, defined by the printer as
        // `i32 (ptr, ptr)` in the host's C calling convention, which is exactly `KernelFn`;
        // the code lives as long as the JIT, which moves into the returned owner.
        let entry = std::mem::transmute::<usize, KernelFn>(addr as usize);
        Ok((entry, code))
    }
}

/// The message of an LLVM error (consuming it), or `Ok` for no error.
fn take_error(err: LLVMErrorRef) -> Result<(), String> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: `err` is a live error the caller handed over; the message is copied, then both
    // are disposed exactly once.
    unsafe {
        let msg = LLVMGetErrorMessage(err);
        let text = CStr::from_ptr(msg).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(msg);
        Err(format!("LLVM JIT: {text}"))
    }
}
