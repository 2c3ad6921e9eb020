//! Tensor-core contractions: matmuls in f16, bf16 and (opted in) tf32 are scheduled with the
//! kernel IR's `mma` statement and printed as fragment loads plus `mma.sync`. Checked here:
//! `ptxas` accepts the PTX for sm_80 and sm_90 over many shapes (ragged ones, batches,
//! transposed operands, fused epilogues), and the PTX simulator — whose `mma.sync` follows
//! the PTX ISA's per-lane fragment layout — computes exactly what the kernel interpreter
//! computes (same f32 `fma` order), so any fragment-layout mistake in the renderer shows up.
//! Skipped, with the reason printed, without ptxas or python3 with numpy.

use std::path::PathBuf;
use std::process::Command;
use tessera_cuda::{Arch, CudaTarget};
use tessera_ir::DType;
use tessera_ir::interp::values::Arr;
use tessera_ir::kernel::{Kernel, run_kernel, verify_kernel};
use tessera_runtime::Target;

/// A matmul graph `a × b` (`b` transposed from `[n, k]` when `transposed`), with a bias and
/// relu epilogue when `bias`, in the text form.
fn graph(dtype: DType, a: &[usize], b: &[usize], transposed: bool, bias: bool) -> String {
    let dims = |d: &[usize]| {
        d.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (m, n) = (
        a[a.len() - 2],
        if transposed { b[0] } else { b[b.len() - 1] },
    );
    let mut batch: Vec<usize> = Vec::new();
    let (ab, bb) = (&a[..a.len() - 2], &b[..b.len() - 2]);
    for i in 0..ab.len().max(bb.len()) {
        let x = ab.len().checked_sub(i + 1).map_or(1, |j| ab[j]);
        let y = bb.len().checked_sub(i + 1).map_or(1, |j| bb[j]);
        batch.insert(0, x.max(y));
    }
    let mut out = batch.clone();
    out.extend([m, n]);
    let o = dims(&out);
    let mut text = format!(
        "graph tc(%a: {dtype}[{}], %b: {dtype}[{}]{}) -> (%y) {{\n",
        dims(a),
        dims(b),
        if bias {
            format!(", %c: {dtype}[{n}]")
        } else {
            String::new()
        }
    );
    let w = if transposed {
        text += &format!(
            "  %bt = transpose(%b) {{perm = [1, 0]}} : {dtype}[{}, {}]\n",
            b[1], b[0]
        );
        "%bt"
    } else {
        "%b"
    };
    if bias {
        text += &format!("  %m = matmul(%a, {w}) : {dtype}[{o}]\n");
        text += &format!("  %s = add(%m, %c) : {dtype}[{o}]\n");
        text += &format!("  %y = relu(%s) : {dtype}[{o}]\n");
    } else {
        text += &format!("  %y = matmul(%a, {w}) : {dtype}[{o}]\n");
    }
    text + "  return %y\n}"
}

/// The kernels of a graph lowered for `target`.
fn kernels(target: &CudaTarget, text: &str) -> Vec<Kernel> {
    let g = tessera_ir::text::parse_graph(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let Ok(tessera_runtime::Lowered::Planned { plan, .. }) =
        tessera_runtime::lower_graph(&g, target.desc())
    else {
        panic!("does not lower:\n{text}");
    };
    plan.steps
        .iter()
        .filter_map(|s| match s {
            tessera_ir::plan::Step::Kernel(k) => Some(k.kernel.clone()),
            _ => None,
        })
        .collect()
}

type Shape = (&'static [usize], &'static [usize], bool, bool);

/// Shapes: exact tiles, ragged m / n / k, tiny, several blocks, batches, transposed B.
const SHAPES: [Shape; 12] = [
    (&[16, 16], &[16, 8], false, false),
    (&[64, 32], &[32, 64], false, false),
    (&[37, 29], &[29, 13], false, true),
    (&[1, 1], &[1, 1], false, false),
    (&[1, 5], &[5, 1], false, false),
    (&[130, 70], &[70, 129], false, true),
    (&[17, 100], &[100, 9], false, false),
    (&[2, 9, 17], &[17, 24], false, false),
    (&[3, 1, 5, 40], &[2, 40, 7], false, false),
    (&[20, 18], &[11, 18], true, true),
    (&[256, 256], &[256, 256], false, false),
    (&[7, 3], &[3, 200], false, true),
];

fn targets(arch: Arch) -> Vec<(DType, CudaTarget)> {
    vec![
        (DType::F16, CudaTarget::new(arch)),
        (DType::BF16, CudaTarget::new(arch)),
        (DType::F32, CudaTarget::new(arch).with_tf32(true)),
    ]
}

#[test]
fn tensor_core_matmuls_render_and_pass_ptxas() {
    let ptxas = tessera_cuda::ptxas::ptxas_for_tests();
    for arch in [Arch::Sm80, Arch::Sm90] {
        let mut modules = Vec::new();
        for (dtype, target) in targets(arch) {
            for (si, &(a, b, t, bias)) in SHAPES.iter().enumerate() {
                let text = graph(dtype, a, b, t, bias);
                let ks = kernels(&target, &text);
                assert_eq!(ks.len(), 1, "{text}");
                let info = verify_kernel(&ks[0]).expect("verifies");
                let ptx = target.ptx(&ks[0], &info).expect("renders");
                let want = match dtype {
                    DType::F16 => "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
                    DType::BF16 => "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
                    _ => "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32",
                };
                // 2 × 4 tiles per warp, two k steps per staged block.
                assert_eq!(ptx.matches(want).count(), 16, "{dtype} shape {si}");
                modules.push((format!("{dtype}_{si}"), ptx));
            }
        }
        // f32 without the tf32 opt-in keeps full precision: no tensor cores.
        let f32_ptx = {
            let target = CudaTarget::new(arch);
            assert!(!target.tf32());
            let ks = kernels(
                &target,
                &graph(DType::F32, &[37, 29], &[29, 13], false, false),
            );
            let info = verify_kernel(&ks[0]).expect("verifies");
            target.ptx(&ks[0], &info).expect("renders")
        };
        assert!(!f32_ptx.contains("mma.sync"));
        let Some(p) = &ptxas else {
            eprintln!("SKIP ptxas for {arch}: not installed");
            continue;
        };
        let rejected = tessera_cuda::ptxas::check_many(p, arch, &modules, 12);
        println!(
            "{arch}: {} tensor-core kernels, ptxas rejected {}",
            modules.len(),
            rejected.len()
        );
        assert!(rejected.is_empty(), "{arch}: {rejected:?}");
    }
}

fn python_ok() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err("python3 has no numpy".into())
    }
}

/// Test data: values with up to 10 significant bits of several magnitudes (and the odd tf32
/// rounding case), so products and sums round in f32 and the summation order matters.
fn data(d: DType, n: usize, seed: usize) -> Vec<u8> {
    let v: Vec<f64> = (0..n)
        .map(|i| {
            let h = (i * 2654435761 + seed * 40503) % 1021;
            let m = (h as f64 - 510.0) / 64.0;
            match i % 11 {
                3 => m * 1.0e-3,
                7 => m * 37.0,
                9 if d == DType::F32 => 1.0 + (h as f64) * 2f64.powi(-20),
                _ => m,
            }
        })
        .collect();
    Arr::floats(d, vec![n], v).to_tensor().bytes().to_vec()
}

/// The simulator runs each kernel's PTX; every output must equal the interpreter's bit for
/// bit (both accumulate with f32 `fma` in `k` order, the simulator from the registers the
/// renderer's fragment loads filled).
#[test]
fn simulated_mma_matches_the_kernel_interpreter() {
    if let Err(why) = python_ok() {
        eprintln!("SKIP PTX simulation: {why}");
        return;
    }
    let sim = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ptxsim/ptxsim.py");
    let dir = std::env::temp_dir().join(format!("tessera-mma-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    // Ragged, batched and transposed shapes small enough for the simulator (one or two
    // workgroups each), spread over the three operand kinds.
    let cases: [(DType, Shape); 5] = [
        (DType::F16, (&[37, 29], &[29, 13], false, true)),
        (DType::F16, (&[2, 9, 17], &[17, 70], false, false)),
        (DType::BF16, (&[20, 40], &[11, 40], true, false)),
        (DType::F32, (&[37, 29], &[29, 13], false, true)),
        (DType::F32, (&[1, 5], &[5, 1], false, false)),
    ];
    let mut manifest = String::new();
    let mut runs = Vec::new();
    for (si, &(dtype, (a, b, t, bias))) in cases.iter().enumerate() {
        {
            let target = match dtype {
                DType::F32 => CudaTarget::new(Arch::Sm90).with_tf32(true),
                _ => CudaTarget::new(Arch::Sm90),
            };
            let k = kernels(&target, &graph(dtype, a, b, t, bias)).remove(0);
            let info = verify_kernel(&k).expect("verifies");
            let ptx = target.ptx(&k, &info).expect("renders");
            let name = format!("{dtype}_{si}");
            let mut bufs: Vec<Vec<u8>> = k
                .params
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if p.access.can_load() {
                        data(p.dtype, p.len, i + 3 * si)
                    } else {
                        vec![0; p.len * p.dtype.size_bytes()]
                    }
                })
                .collect();
            let inputs = bufs.clone();
            run_kernel(&k, &info, &mut bufs).expect("the interpreter runs it");
            let ptx_path = dir.join(format!("{name}.ptx"));
            std::fs::write(&ptx_path, ptx).expect("write ptx");
            let mut grid = k.launch.grid.clone();
            grid.resize(3, 1);
            let mut line = format!("{} {},{},{}", ptx_path.display(), grid[0], grid[1], grid[2]);
            for (i, b) in inputs.iter().enumerate() {
                let p = dir.join(format!("{name}.{i}.bin"));
                std::fs::write(&p, b).expect("write buffer");
                line += &format!(" {}", p.display());
            }
            manifest += &line;
            manifest.push('\n');
            let out = k.params.len() - 1;
            runs.push((name, bufs.swap_remove(out), out));
        }
    }
    let mpath = dir.join("manifest.txt");
    std::fs::write(&mpath, manifest).expect("manifest");
    let out = Command::new("python3")
        .arg(&sim)
        .arg("--batch")
        .arg(&mpath)
        .output()
        .expect("runs the simulator");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        runs.len(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut failures = Vec::new();
    for ((name, want, out), line) in runs.iter().zip(&lines) {
        if *line != "ok 0" {
            failures.push(format!("{name}: {line}"));
            continue;
        }
        let got = std::fs::read(dir.join(format!("{name}.{out}.bin"))).expect("output");
        if &got != want {
            let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
            failures.push(format!("{name}: outputs differ from byte {at}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{} tensor-core kernels simulated", runs.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
