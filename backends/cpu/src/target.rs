//! [`CpuTarget`]: describes the host and JIT-compiles kernel IR with Cranelift (or, with the
//! `llvm` feature and [`CpuCodegen::Llvm`], with LLVM) into a [`CompiledKernel`] (an
//! `Artifact::Native`).

use crate::math::helpers;
use crate::render::{RenderError, Renderer};
use cranelift_codegen::Context;
use cranelift_codegen::ir::AbiParam;
use cranelift_codegen::ir::types::I32;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tessera_ir::DType;
use tessera_ir::kernel::{Kernel, KernelInfo, Stmt};
use tessera_ir::target::{DTypeSupport, TargetDesc};
use tessera_runtime::{Artifact, Target, TargetError};

/// The compiled entry point: runs one invocation with `args[i]` pointing at parameter `i`'s
/// bytes and `group_id` at three `u32` coordinates; returns the error bits of
/// [`crate::ERR_DIV_ZERO`] and [`crate::ERR_OUT_OF_BOUNDS`] (0 when the invocation succeeded).
pub type KernelFn = unsafe extern "C" fn(args: *const *mut u8, group_id: *const u32) -> u32;

/// Which code generator turns kernel IR into machine code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CpuCodegen {
    /// Cranelift: fast compiles, 128-bit vectors (always built).
    #[default]
    Cranelift,
    /// LLVM 19 at O3 for the host CPU (cargo feature `llvm`): the widest vectors.
    Llvm,
}

impl CpuCodegen {
    /// `cranelift` or `llvm`.
    pub fn name(self) -> &'static str {
        match self {
            CpuCodegen::Cranelift => "cranelift",
            CpuCodegen::Llvm => "llvm",
        }
    }

    /// True when this build can generate code with it (`llvm` needs the cargo feature).
    pub fn is_built(self) -> bool {
        match self {
            CpuCodegen::Cranelift => true,
            CpuCodegen::Llvm => cfg!(feature = "llvm"),
        }
    }
}

impl std::str::FromStr for CpuCodegen {
    type Err = CodegenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cranelift" => Ok(CpuCodegen::Cranelift),
            "llvm" => Ok(CpuCodegen::Llvm),
            other => Err(CodegenError::Unknown(other.to_string())),
        }
    }
}

/// How the CPU target computes f32 `exp`, `erf`, `tanh` and `sigmoid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CpuMath {
    /// Inline vector polynomials ([`crate::vmath`]: at most 2–6 ULP from the correctly rounded
    /// result, within the conformance policy's bounds) on hosts with FMA; elsewhere, and for
    /// every other dtype and function, as [`CpuMath::Precise`].
    #[default]
    Fast,
    /// A call per lane into f64 helpers, rounded once: bit-exact with the kernel interpreter.
    Precise,
}

impl CpuMath {
    /// `fast` or `precise`.
    pub fn name(self) -> &'static str {
        match self {
            CpuMath::Fast => "fast",
            CpuMath::Precise => "precise",
        }
    }

    /// The mode named by `TESSERA_CPU_MATH` (`fast` or `precise`), else [`CpuMath::Fast`].
    /// Another value is ignored with a warning on stderr.
    pub fn from_env() -> Self {
        match std::env::var("TESSERA_CPU_MATH").as_deref() {
            Ok("precise") => CpuMath::Precise,
            Ok("fast") | Err(_) => CpuMath::Fast,
            Ok(other) => {
                eprintln!(
                    "warning: TESSERA_CPU_MATH={other} is neither `fast` nor `precise`; using fast"
                );
                CpuMath::Fast
            }
        }
    }
}

/// A code generator that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// Not a code generator's name.
    #[error("unknown CPU code generator `{0}` (expected `cranelift` or `llvm`)")]
    Unknown(String),
    /// Named, but not compiled into this build.
    #[error(
        "this build has no LLVM code generator (rebuild with `--features llvm`, LLVM 19 needed)"
    )]
    NotBuilt,
}

/// Who owns a kernel's machine code.
enum CodeOwner {
    Cranelift(Box<JITModule>),
    /// Cranelift code read back from the on-disk cache.
    Loaded {
        /// Dropped with the kernel: unmaps the code.
        _code: crate::persist::LoadedCode,
    },
    #[cfg(feature = "llvm")]
    Llvm {
        /// Dropped with the kernel: frees the machine code.
        _code: crate::llvm::LlvmCode,
    },
}

/// A JIT-compiled kernel: the machine code (owned by its JIT module) and what a launch needs
/// to check its buffers.
pub struct CompiledKernel {
    /// The kernel's name.
    pub name: String,
    /// Bytes each parameter needs (`len × dtype size`), in parameter order.
    pub param_bytes: Vec<usize>,
    /// The code generator that made the machine code.
    pub codegen: CpuCodegen,
    /// Why LLVM was asked but Cranelift compiled this kernel (`None` otherwise).
    pub fallback: Option<String>,
    entry: KernelFn,
    owner: Option<CodeOwner>,
    /// The machine code as the on-disk cache keeps it (see [`crate::persist`]), when it can be
    /// kept.
    persisted: Option<Vec<u8>>,
}

// SAFETY: the JIT module is only touched again by `Drop` (which has exclusive access); the
// finalized code it owns is immutable, and the entry function keeps no state of its own (it
// reads and writes only the buffers passed to each call), so sharing and sending it between
// threads is sound.
unsafe impl Send for CompiledKernel {}
// SAFETY: see `Send` above; `&CompiledKernel` only exposes the immutable entry pointer.
unsafe impl Sync for CompiledKernel {}

impl CompiledKernel {
    /// The compiled entry point (see [`KernelFn`]).
    pub fn entry(&self) -> KernelFn {
        self.entry
    }
}

impl Drop for CompiledKernel {
    fn drop(&mut self) {
        if let Some(CodeOwner::Cranelift(module)) = self.owner.take() {
            let module = *module;
            // SAFETY: `entry` points into this module's memory; it is reachable only through
            // `self`, which is being dropped, so no call can be running or start later.
            unsafe { module.free_memory() };
        }
    }
}

/// The CPU target: Cranelift (vectors of 128 bits) or LLVM (the host's widest vectors), FMA
/// when the host has it, every dtype (f16 and bf16 computed in f32/f64 and rounded back).
pub struct CpuTarget {
    desc: TargetDesc,
    codegen: CpuCodegen,
    math: CpuMath,
    fallbacks: Mutex<Vec<(String, String)>>,
}

impl Default for CpuTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuTarget {
    /// A target for the host: its core count and FMA support; math mode from
    /// [`CpuMath::from_env`].
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut desc = TargetDesc::generic_cpu(cores);
        desc.vector_lanes_f32 = 4;
        desc.has_fma = host_has_fma();
        for (i, d) in DType::ALL.iter().enumerate() {
            if let Some(s) = desc.dtypes.get_mut(i) {
                *s = if matches!(d, DType::F16 | DType::BF16) {
                    DTypeSupport::Widened
                } else {
                    DTypeSupport::Native
                };
            }
        }
        CpuTarget {
            desc,
            codegen: CpuCodegen::Cranelift,
            math: CpuMath::from_env(),
            fallbacks: Mutex::new(Vec::new()),
        }
    }

    /// A target for the host that generates code with `codegen`. With LLVM the scheduler is
    /// told the host's widest vectors (16 f32 lanes with AVX-512).
    pub fn with_codegen(codegen: CpuCodegen) -> Result<Self, CodegenError> {
        #[cfg_attr(not(feature = "llvm"), allow(unused_mut))]
        let mut t = Self::new();
        match codegen {
            CpuCodegen::Cranelift => {}
            #[cfg(feature = "llvm")]
            CpuCodegen::Llvm => {
                t.desc.vector_lanes_f32 = crate::llvm::host_lanes_f32();
                t.codegen = codegen;
            }
            #[cfg(not(feature = "llvm"))]
            CpuCodegen::Llvm => return Err(CodegenError::NotBuilt),
        }
        Ok(t)
    }

    /// This target computing f32 transcendental functions as `math` says.
    pub fn with_math(mut self, math: CpuMath) -> Self {
        self.math = math;
        self
    }

    /// How this target computes f32 `exp`, `erf`, `tanh` and `sigmoid`.
    pub fn math(&self) -> CpuMath {
        self.math
    }

    /// The code generator this target asks for.
    pub fn codegen(&self) -> CpuCodegen {
        self.codegen
    }

    /// Kernels that LLVM was asked for but Cranelift compiled, with the reason: `(kernel,
    /// why)`, in compile order.
    pub fn llvm_fallbacks(&self) -> Vec<(String, String)> {
        self.fallbacks.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// The LLVM IR that the LLVM printer makes of a verified kernel (before optimization), or
    /// the reason it leaves the kernel to Cranelift.
    #[cfg(feature = "llvm")]
    pub fn llvm_ir(&self, kernel: &Kernel, info: &KernelInfo) -> Result<String, TargetError> {
        self.check_info(kernel, info)?;
        self.check_launch(kernel)
            .map_err(|e| self.error(kernel, e))?;
        crate::llvm::ir_text(kernel, self.math == CpuMath::Fast).map_err(|what| {
            TargetError::Unsupported {
                target: self.desc.name.clone(),
                kernel: kernel.name.clone(),
                what,
            }
        })
    }

    fn error(&self, k: &Kernel, e: RenderError) -> TargetError {
        match e {
            RenderError::Unsupported(what) => TargetError::Unsupported {
                target: self.desc.name.clone(),
                kernel: k.name.clone(),
                what,
            },
            RenderError::Internal(message) => self.internal(k, message),
        }
    }

    fn internal(&self, k: &Kernel, message: impl Into<String>) -> TargetError {
        TargetError::Internal {
            target: self.desc.name.clone(),
            kernel: k.name.clone(),
            message: message.into(),
        }
    }

    /// Refuses what a CPU launch cannot do: workgroups of more than one invocation, barriers
    /// and scratch arrays (shared buffers of the one-invocation group, kept on the stack)
    /// beyond `shared_bytes`.
    fn check_launch(&self, k: &Kernel) -> Result<(), RenderError> {
        if k.launch.group.iter().any(|&g| g != 1) {
            return Err(RenderError::Unsupported(format!(
                "workgroups of {:?} invocations (CPU groups are all 1s)",
                k.launch.group
            )));
        }
        if has_barrier(&k.body) {
            return Err(RenderError::Unsupported("barriers".into()));
        }
        let scratch: usize = k
            .shared
            .iter()
            .map(|s| s.len.saturating_mul(s.dtype.size_bytes()))
            .fold(0, usize::saturating_add);
        if scratch > self.desc.shared_bytes {
            return Err(RenderError::Unsupported(format!(
                "{scratch} bytes of scratch arrays (at most {} per invocation)",
                self.desc.shared_bytes
            )));
        }
        if usize::BITS != 64 {
            return Err(RenderError::Unsupported(
                "hosts with 32-bit pointers".into(),
            ));
        }
        Ok(())
    }

    /// A JIT module for the host ISA (features detected by `cranelift_native`), with every
    /// helper of [`crate::math`] registered as a symbol.
    fn module(&self) -> Result<JITModule, String> {
        let mut flags = settings::builder();
        // Scratch arrays make large frames: probe the stack so a guard page is never skipped.
        for (name, value) in [
            ("opt_level", "speed"),
            ("is_pic", "false"),
            ("enable_probestack", "true"),
            ("probestack_strategy", "inline"),
        ] {
            flags.set(name, value).map_err(|e| e.to_string())?;
        }
        let isa = cranelift_native::builder()
            .map_err(|e| format!("host ISA: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())?;
        let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        for h in helpers() {
            jb.symbol(h.name, h.addr);
        }
        Ok(JITModule::new(jb))
    }

    /// A JIT module holding the helper declarations, and a context whose function is `k`
    /// rendered (not yet compiled), declared in the module as `id`.
    fn rendered(&self, k: &Kernel) -> Result<(JITModule, Context, FuncId), RenderError> {
        self.check_launch(k)?;
        let internal = |e: String| RenderError::Internal(e);
        let mut module = self.module().map_err(internal)?;
        let call_conv = module.isa().default_call_conv();
        let mut helper_ids = HashMap::new();
        for h in helpers() {
            let id = module
                .declare_function(h.name, Linkage::Import, &h.signature(call_conv))
                .map_err(|e| internal(e.to_string()))?;
            helper_ids.insert(h.name, id);
        }
        let ptr = module.target_config().pointer_type();
        let mut ctx = module.make_context();
        ctx.func.signature.params.push(AbiParam::new(ptr));
        ctx.func.signature.params.push(AbiParam::new(ptr));
        ctx.func.signature.returns.push(AbiParam::new(I32));
        let id = module
            .declare_function("tessera_kernel", Linkage::Export, &ctx.func.signature)
            .map_err(|e| internal(e.to_string()))?;
        let mut fbc = FunctionBuilderContext::new();
        let b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
        let fast = self.math == CpuMath::Fast;
        Renderer::render(k, b, &mut module, &helper_ids, self.desc.has_fma, fast)?;
        Ok((module, ctx, id))
    }

    /// The Cranelift IR text of a verified kernel's function, before Cranelift optimizes it:
    /// for reading and for snapshot tests of what the renderer emits.
    pub fn clif(&self, kernel: &Kernel, info: &KernelInfo) -> Result<String, TargetError> {
        self.check_info(kernel, info)?;
        let (_, ctx, _) = self.rendered(kernel).map_err(|e| self.error(kernel, e))?;
        Ok(ctx.func.display().to_string())
    }

    fn check_info(&self, kernel: &Kernel, info: &KernelInfo) -> Result<(), TargetError> {
        if info.params.len() != kernel.params.len() || info.var_kinds.len() != kernel.vars.len() {
            return Err(self.internal(
                kernel,
                "the KernelInfo was not made by verifying this kernel",
            ));
        }
        Ok(())
    }

    /// Compiles with the chosen code generator; a kernel LLVM's printer refuses is compiled
    /// by Cranelift, with the reason recorded.
    fn build(&self, k: &Kernel) -> Result<CompiledKernel, RenderError> {
        #[cfg(feature = "llvm")]
        if self.codegen == CpuCodegen::Llvm {
            self.check_launch(k)?;
            let why = match crate::llvm::compile(k, self.math == CpuMath::Fast)
                .map_err(RenderError::Internal)?
            {
                crate::llvm::Outcome::Code(entry, code, object) => {
                    return Ok(CompiledKernel {
                        name: k.name.clone(),
                        param_bytes: param_bytes(k),
                        codegen: CpuCodegen::Llvm,
                        fallback: None,
                        entry,
                        owner: Some(CodeOwner::Llvm { _code: code }),
                        persisted: Some(crate::persist::Persisted::Llvm(object).encode()),
                    });
                }
                crate::llvm::Outcome::Refused(why) => why,
            };
            if let Ok(mut f) = self.fallbacks.lock() {
                f.push((k.name.clone(), why.clone()));
            }
            let mut c = self.build_cranelift(k)?;
            c.fallback = Some(why);
            return Ok(c);
        }
        self.build_cranelift(k)
    }

    fn build_cranelift(&self, k: &Kernel) -> Result<CompiledKernel, RenderError> {
        let internal = |e: String| RenderError::Internal(e);
        let (mut module, mut ctx, id) = self.rendered(k)?;
        module
            .define_function(id, &mut ctx)
            .map_err(|e| internal(format!("{e:?}")))?;
        let persisted =
            clif_code(&module, &ctx).map(|c| crate::persist::Persisted::Cranelift(c).encode());
        module.clear_context(&mut ctx);
        module
            .finalize_definitions()
            .map_err(|e| internal(e.to_string()))?;
        let code = module.get_finalized_function(id);
        // SAFETY: `code` is the finalized machine code of the function declared above, whose
        // Cranelift signature (two pointers in, an i32 out, the host's default C calling
        // convention) is exactly `KernelFn`; the module that owns it moves into the result.
        let entry = unsafe { std::mem::transmute::<*const u8, KernelFn>(code) };
        Ok(CompiledKernel {
            name: k.name.clone(),
            param_bytes: param_bytes(k),
            codegen: CpuCodegen::Cranelift,
            fallback: None,
            entry,
            owner: Some(CodeOwner::Cranelift(Box::new(module))),
            persisted,
        })
    }
}

impl Target for CpuTarget {
    fn desc(&self) -> &TargetDesc {
        &self.desc
    }

    /// The code generator, the math mode and the host CPU: artifacts of different code
    /// generators, math modes or CPUs (a cache directory shared between machines) are never
    /// shared through the cache.
    fn fingerprint(&self) -> String {
        format!(
            "codegen={} math={} host={}",
            self.codegen.name(),
            self.math.name(),
            host_id(self.codegen)
        )
    }

    fn compile(&self, kernel: &Kernel, info: &KernelInfo) -> Result<Artifact, TargetError> {
        self.check_info(kernel, info)?;
        let compiled = self.build(kernel).map_err(|e| self.error(kernel, e))?;
        Ok(Artifact::Native(Arc::new(compiled)))
    }

    /// The kernel's machine code in [`crate::persist`]'s layout.
    fn persist(&self, artifact: &Artifact) -> Option<Vec<u8>> {
        let Artifact::Native(a) = artifact else {
            return None;
        };
        a.downcast_ref::<CompiledKernel>()?.persisted.clone()
    }

    /// Loads machine code [`Target::persist`] made (in this or an earlier process); `None`
    /// for bytes that are damaged, of another layout, or name a symbol this process lacks.
    fn restore(&self, kernel: &Kernel, bytes: &[u8]) -> Option<Artifact> {
        use crate::persist::{LoadedCode, Persisted};
        let compiled = match Persisted::decode(bytes)? {
            Persisted::Cranelift(code) => {
                let loaded = LoadedCode::load(&code)?;
                // SAFETY: the code is a function Cranelift compiled with `KernelFn`'s signature
                // (see `build_cranelift`), copied whole with its relocations written; the
                // pages holding it move into the result and live as long as the entry.
                let entry = unsafe { std::mem::transmute::<*const u8, KernelFn>(loaded.entry()) };
                CompiledKernel {
                    name: kernel.name.clone(),
                    param_bytes: param_bytes(kernel),
                    codegen: CpuCodegen::Cranelift,
                    fallback: (self.codegen != CpuCodegen::Cranelift).then(|| {
                        "compiled by Cranelift (read back from the on-disk cache)".to_string()
                    }),
                    entry,
                    owner: Some(CodeOwner::Loaded { _code: loaded }),
                    persisted: Some(bytes.to_vec()),
                }
            }
            #[cfg(feature = "llvm")]
            Persisted::Llvm(object) => {
                let (entry, code) = crate::llvm::load_object(&object, &kernel.name).ok()?;
                CompiledKernel {
                    name: kernel.name.clone(),
                    param_bytes: param_bytes(kernel),
                    codegen: CpuCodegen::Llvm,
                    fallback: None,
                    entry,
                    owner: Some(CodeOwner::Llvm { _code: code }),
                    persisted: Some(bytes.to_vec()),
                }
            }
        };
        Some(Artifact::Native(Arc::new(compiled)))
    }
}

/// The host CPU as the code generators see it: the instruction-set extensions compiled code
/// may use (and, for LLVM, its CPU name and feature string, hashed).
fn host_id(codegen: CpuCodegen) -> String {
    #[cfg(target_arch = "x86_64")]
    let id = {
        let mut f = vec!["x86_64"];
        macro_rules! detect {
            ($($name:tt),*) => {
                $(if std::arch::is_x86_feature_detected!($name) { f.push($name); })*
            };
        }
        detect!(
            "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "avx", "avx2", "fma", "bmi1", "bmi2",
            "lzcnt", "f16c", "avx512f", "avx512vl", "avx512dq", "avx512bw"
        );
        f.join("+")
    };
    #[cfg(not(target_arch = "x86_64"))]
    let id = std::env::consts::ARCH.to_string();
    #[cfg(feature = "llvm")]
    if codegen == CpuCodegen::Llvm {
        let (cpu, features) = crate::llvm::host();
        return format!(
            "{id} llvm={cpu}/{:016x}",
            tessera_runtime::cache::fnv1a(features.as_bytes())
        );
    }
    let _ = codegen;
    id
}

/// The compiled function in `ctx` as [`crate::persist`] keeps it, or `None` when it has a
/// relocation other than an absolute address of a named function.
fn clif_code(module: &JITModule, ctx: &Context) -> Option<crate::persist::ClifCode> {
    use cranelift_codegen::FinalizedRelocTarget;
    use cranelift_codegen::binemit::Reloc;
    use cranelift_codegen::ir::ExternalName;
    let compiled = ctx.compiled_code()?;
    let libcall_name = cranelift_module::default_libcall_names();
    let mut relocs = Vec::new();
    for r in compiled.buffer.relocs() {
        let FinalizedRelocTarget::ExternalName(name) = &r.target else {
            return None;
        };
        if r.kind != Reloc::Abs8 {
            return None;
        }
        let symbol = match name {
            ExternalName::User(user) => {
                let user = ctx.func.params.user_named_funcs().get(*user)?;
                if user.namespace != 0 {
                    return None;
                }
                let decl = module
                    .declarations()
                    .get_function_decl(FuncId::from_u32(user.index));
                decl.name.clone()?
            }
            ExternalName::LibCall(call) => libcall_name(*call),
            _ => return None,
        };
        relocs.push(crate::persist::Abs8 {
            offset: r.offset,
            addend: r.addend,
            symbol,
        });
    }
    Some(crate::persist::ClifCode {
        code: compiled.code_buffer().to_vec(),
        relocs,
    })
}

/// Bytes each parameter of `k` needs.
fn param_bytes(k: &Kernel) -> Vec<usize> {
    k.params
        .iter()
        .map(|p| p.len.saturating_mul(p.dtype.size_bytes()))
        .collect()
}

fn has_barrier(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        Stmt::Barrier => true,
        Stmt::Loop { body, .. } => has_barrier(body),
        Stmt::If { then, els, .. } => has_barrier(then) || has_barrier(els),
        _ => false,
    })
}

/// True when the host has fused multiply-add instructions (what `cranelift_native` enables
/// as `has_fma`).
fn host_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}
