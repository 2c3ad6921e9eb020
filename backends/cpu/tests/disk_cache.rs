//! The CPU backend's machine code through the on-disk kernel cache: a "second process" (a
//! fresh in-memory cache over the same directory) compiles nothing, and the code it reads back
//! computes bit for bit what freshly compiled code computes — for both code generators, both
//! math modes, kernels that call math helpers (relocations), vector loops, reductions and
//! kernels LLVM leaves to Cranelift (f16). Entries the target cannot use are rebuilt.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tessera_cpu::{CpuCodegen, CpuDevice, CpuMath, CpuTarget};
use tessera_ir::DType;
use tessera_ir::kernel::{Kernel, KernelInfo, parse_kernel, verify_kernel};
use tessera_ir::op::UnaryOp;
use tessera_runtime::{Artifact, CacheKey, Device, DiskCache, DiskEntry, KernelCache};

/// Kernels of every kind the cache must keep.
fn kernels() -> Vec<(Kernel, KernelInfo)> {
    let mut texts = Vec::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ir/tests/kernel_filetests");
    for name in [
        "add_relu.kir",
        "int_semantics.kir",
        "matmul_tile.kir",
        "parallel_rows.kir",
        "sum_reduce.kir",
    ] {
        texts.push(std::fs::read_to_string(dir.join(name)).unwrap());
    }
    for (dtype, lanes) in [
        (DType::F32, 1u8),
        (DType::F32, 8),
        (DType::F64, 2),
        (DType::F16, 4),
    ] {
        for op in [
            UnaryOp::Exp,
            UnaryOp::Sin,
            UnaryOp::Log,
            UnaryOp::Tanh,
            UnaryOp::Erf,
        ] {
            let n = 40;
            texts.push(format!(
                "kernel @{op}_{dtype}x{lanes}(%x: {dtype}[{n}] read, %y: {dtype}[{n}] write) grid [{}] group [1] {{\n  \
                 let %i: u32 = mul(group_id(0), {lanes}:u32)\n  \
                 let %a: {ty} = load<{lanes}> %x[%i]\n  \
                 store %y[%i] = {op}(%a)\n}}\n",
                n / usize::from(lanes),
                op = op.name(),
                ty = if lanes == 1 { dtype.to_string() } else { format!("{dtype}x{lanes}") },
            ));
        }
    }
    texts
        .iter()
        .map(|t| {
            let k = parse_kernel(t).unwrap_or_else(|e| panic!("parse: {e}\n{t}"));
            let info = verify_kernel(&k).unwrap_or_else(|e| panic!("verify: {e}\n{t}"));
            (k, info)
        })
        .collect()
}

/// Deterministic bytes for a parameter: small floats or integers, never a division by zero.
fn input(k: &Kernel, p: usize) -> Vec<u8> {
    let param = &k.params[p];
    let n = param.len;
    let mut out = Vec::with_capacity(n * param.dtype.size_bytes());
    for i in 0..n {
        let x = ((i * 37 + p * 11) % 23) as f64 * 0.173 + 0.25;
        match param.dtype {
            DType::F32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
            DType::F64 => out.extend_from_slice(&x.to_le_bytes()),
            DType::F16 => out.extend_from_slice(&half::f16::from_f64(x).to_le_bytes()),
            d => {
                let v = (i % 7 + 1) as u64;
                out.extend_from_slice(&v.to_le_bytes()[..d.size_bytes()]);
            }
        }
    }
    out
}

/// Runs `artifact` on the kernel's deterministic inputs; every buffer afterwards.
fn run(k: &Kernel, artifact: &Artifact) -> Vec<Vec<u8>> {
    let dev = CpuDevice::new();
    let loaded = dev.load(k, artifact).unwrap();
    let handles: Vec<_> = (0..k.params.len())
        .map(|p| {
            let bytes = input(k, p);
            let h = dev.alloc(bytes.len()).unwrap();
            dev.write(&h, &bytes).unwrap();
            h
        })
        .collect();
    dev.launch(&loaded, &k.launch, &handles).unwrap();
    dev.synchronize().unwrap();
    handles
        .iter()
        .enumerate()
        .map(|(p, h)| {
            let mut v = vec![0; input(k, p).len()];
            dev.read(h, &mut v).unwrap();
            v
        })
        .collect()
}

fn codegens() -> Vec<CpuCodegen> {
    [CpuCodegen::Cranelift, CpuCodegen::Llvm]
        .into_iter()
        .filter(|c| c.is_built())
        .collect()
}

/// A fresh in-memory cache over `dir`: what a new process sees.
fn process(dir: &Path) -> (KernelCache, Arc<DiskCache>) {
    let disk = Arc::new(DiskCache::new(dir));
    (KernelCache::with_disk(Arc::clone(&disk)), disk)
}

#[test]
fn a_second_process_runs_the_same_machine_code_without_compiling() {
    let kernels = kernels();
    for codegen in codegens() {
        for math in [CpuMath::Fast, CpuMath::Precise] {
            let tmp = tempfile::tempdir().unwrap();
            let target = CpuTarget::with_codegen(codegen).unwrap().with_math(math);
            let (first, disk1) = process(tmp.path());
            let mut fresh = Vec::new();
            for (k, info) in &kernels {
                let (a, hit) = first.get_or_compile(&target, k, info).unwrap();
                assert!(!hit);
                fresh.push(run(k, &a));
            }
            assert_eq!(
                disk1.stats().writes,
                kernels.len() as u64,
                "{codegen:?}/{math:?}: every kernel's code is kept"
            );
            let (second, disk2) = process(tmp.path());
            for ((k, info), want) in kernels.iter().zip(&fresh) {
                let (a, hit) = second.get_or_compile(&target, k, info).unwrap();
                assert!(hit, "{codegen:?}/{math:?} {}: compiled again", k.name);
                assert_eq!(&run(k, &a), want, "{codegen:?}/{math:?} {}", k.name);
            }
            let s = disk2.stats();
            assert_eq!((s.hits, s.misses, s.corrupt), (kernels.len() as u64, 0, 0));
            assert_eq!(second.stats().misses, 0);
        }
    }
}

#[test]
fn entries_the_target_cannot_use_are_rebuilt_and_other_codegens_do_not_share() {
    let (k, info) = kernels().swap_remove(0);
    let tmp = tempfile::tempdir().unwrap();
    let target = CpuTarget::new();
    let key = CacheKey::for_target(&k, &target);
    // A whole entry (its checksum holds) whose machine-code layout is not ours.
    let disk = DiskCache::new(tmp.path());
    assert!(disk.store(&key, &DiskEntry::Native(b"TESSCPU\x01\x00garbage".to_vec())));
    let (cache, disk) = process(tmp.path());
    let (a, hit) = cache.get_or_compile(&target, &k, &info).unwrap();
    assert!(!hit, "an unusable entry is compiled again");
    assert_eq!(disk.stats().corrupt, 1);
    let want = run(&k, &a);
    let (again, _) = process(tmp.path());
    let (b, hit) = again.get_or_compile(&target, &k, &info).unwrap();
    assert!(hit, "the rebuilt entry replaced it");
    assert_eq!(run(&k, &b), want);
    // Targets with other settings have other keys.
    let precise = CpuTarget::new().with_math(CpuMath::Precise);
    assert_ne!(CacheKey::for_target(&k, &precise), key);
    if CpuCodegen::Llvm.is_built() {
        let llvm = CpuTarget::with_codegen(CpuCodegen::Llvm).unwrap();
        assert_ne!(CacheKey::for_target(&k, &llvm), key);
    }
}
