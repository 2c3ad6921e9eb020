//! What the generated PTX computes, without a GPU: kernels are rendered to PTX and executed by
//! a small PTX simulator (`tests/ptxsim/ptxsim.py`, IEEE arithmetic through numpy), and every
//! output is compared with the kernel interpreter — integers and bools exactly, floats within
//! the crate's stated bounds (0 ULP for correctly rounded operations, 1 ULP for the math
//! functions and for f16/bf16 results). Skipped, with the reason printed, where python3 with
//! numpy is missing.

use std::path::PathBuf;
use std::process::Command;
use tessera_cuda::{Arch, CudaTarget};
use tessera_ir::DType;
use tessera_ir::interp::values::Arr;
use tessera_ir::kernel::{KernelError, parse_kernel, run_kernel, verify_kernel};

const FLOATS: [f64; 32] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -2.5,
    3.7,
    100.25,
    -1.0e4,
    1.0e-3,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.9,
    -0.9,
    65504.0,
    1.0e30,
    7.0,
    -3.3e-6,
    2.0,
    1.5,
    -0.75,
    6.0e-8,
    12345.678,
    0.1,
    -0.3,
    1.0e-30,
    20.0,
    -20.0,
    88.0,
    -100.0,
    0.7,
];

const INTS: [i128; 20] = [
    0,
    1,
    -1,
    2,
    -7,
    127,
    -128,
    100,
    255,
    32767,
    -32768,
    65535,
    2147483647,
    -2147483648,
    4294967295,
    9223372036854775807,
    -9223372036854775808,
    3,
    -100,
    64,
];

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

fn data(d: DType, n: usize, offset: usize) -> Vec<u8> {
    let t = if d.is_float() {
        let v: Vec<f64> = (0..n)
            .map(|i| FLOATS[(i + offset) % FLOATS.len()])
            .collect();
        Arr::floats(d, vec![n], v).to_tensor()
    } else {
        let v: Vec<i128> = (0..n).map(|i| INTS[(i + offset) % INTS.len()]).collect();
        Arr::ints(d, vec![n], v).to_tensor()
    };
    t.bytes().to_vec()
}

fn ty(d: DType, lanes: u8) -> String {
    if lanes == 1 {
        d.to_string()
    } else {
        format!("{d}x{lanes}")
    }
}

struct Case {
    name: String,
    text: String,
    ulps: u64,
    /// Inputs of magnitude 2^20 or more are replaced by 0 (the trigonometric functions'
    /// bound holds below that).
    small_args: bool,
}

fn elementwise(
    name: &str,
    inputs: &[(DType, u8)],
    out: DType,
    body: &str,
    ulps: u64,
) -> Option<Case> {
    let n = if name.starts_with("w_") { 256 } else { 32 };
    let lanes = inputs.first().map_or(1, |i| i.1);
    let group = n / usize::from(lanes);
    let mut params: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, (d, _))| format!("%x{i}: {d}[{n}] read"))
        .collect();
    params.push(format!("%y: {out}[{n}] write"));
    let mut text = format!(
        "kernel @{name}({}) grid [1] group [{group}] {{\n  let %i: u32 = mul(local_id(0), {lanes}:u32)\n",
        params.join(", "),
    );
    for (i, (d, l)) in inputs.iter().enumerate() {
        text += &format!("  let %a{i}: {} = load<{l}> %x{i}[%i]\n", ty(*d, *l));
    }
    text += &format!("  store %y[%i] = {body}\n}}\n");
    let k = parse_kernel(&text).ok()?;
    verify_kernel(&k).ok()?;
    Some(Case {
        name: name.into(),
        text,
        ulps,
        small_args: ["sin(", "cos(", "tan("].iter().any(|f| body.starts_with(f)),
    })
}

fn cases() -> Vec<Case> {
    use tessera_ir::op::UnaryOp as U;
    let mut v = Vec::new();
    let floats = [DType::F16, DType::BF16, DType::F32, DType::F64];
    let exact_unary = [
        U::Identity,
        U::Neg,
        U::Abs,
        U::Sign,
        U::Floor,
        U::Ceil,
        U::Round,
        U::Relu,
        U::IsNaN,
        U::BitwiseNot,
        U::Not,
    ];
    for d in floats
        .iter()
        .copied()
        .chain([DType::I8, DType::U64, DType::Bool])
    {
        for &op in U::ALL.iter() {
            let o = if op == U::IsNaN { DType::Bool } else { d };
            let exact = exact_unary.contains(&op)
                || (matches!(op, U::Sqrt | U::Reciprocal) && d != DType::BF16);
            let ulps = if exact { 0 } else { 1 };
            let lanes = if op == U::Exp || op == U::Abs { 4 } else { 1 };
            let name = format!("u_{}_{d}", op.name());
            v.extend(elementwise(
                &name,
                &[(d, lanes)],
                o,
                &format!("{}(%a0)", op.name()),
                ulps,
            ));
        }
        let names = [
            "add",
            "sub",
            "mul",
            "div",
            "pow",
            "mod",
            "fmod",
            "min",
            "max",
            "bit_shift_left",
            "bit_shift_right",
            "bitwise_and",
            "bitwise_xor",
            "and",
            "or",
            "xor",
            "equal",
            "less",
            "greater_or_equal",
        ];
        for bn in names {
            let cmp = ["equal", "less", "greater_or_equal"].contains(&bn);
            let o = if cmp { DType::Bool } else { d };
            let exact = !matches!(d, DType::F16 | DType::BF16) && bn != "pow";
            let name = format!("b_{bn}_{d}");
            v.extend(elementwise(
                &name,
                &[(d, 1), (d, 1)],
                o,
                &format!("{bn}(%a0, %a1)"),
                if exact { 0 } else { 1 },
            ));
        }
        let name = format!("f_{d}");
        v.extend(elementwise(
            &name,
            &[(d, 2), (d, 2), (d, 2)],
            d,
            "fma(%a0, %a1, %a2)",
            1,
        ));
    }
    // Packed f16x2 (and, on sm_90, bf16x2) arithmetic: correctly rounded like the
    // interpreter, so exact — f16 `fma` included (the f32 route could be 1 ULP off). A chain
    // of packed operations through `let`s, stored from the packed registers.
    for d in [DType::F16, DType::BF16] {
        for lanes in [2u8, 4, 8] {
            for bn in ["add", "sub", "mul"] {
                let name = format!("p_{bn}_{d}x{lanes}");
                v.extend(elementwise(
                    &name,
                    &[(d, lanes), (d, lanes)],
                    d,
                    &format!("{bn}(%a0, %a1)"),
                    0,
                ));
            }
            let name = format!("p_chain_{d}x{lanes}");
            v.extend(elementwise(
                &name,
                &[(d, lanes), (d, lanes), (d, lanes)],
                d,
                "sub(mul(add(%a0, %a1), %a2), %a0)",
                0,
            ));
        }
        let name = format!("p_fma_{d}");
        v.extend(elementwise(
            &name,
            &[(d, 4), (d, 4), (d, 4)],
            d,
            "fma(%a0, %a1, %a2)",
            if d == DType::F16 { 0 } else { 1 },
        ));
    }
    // fma(3, 1 + 2^-10, -2^-24) in f16: the exact result lies just below a rounding
    // midpoint; correctly rounded it is 3 + 2^-9 (rounding an f32 result gives 3 + 2^-8).
    v.extend(elementwise(
        "p_fma_midpoint_f16",
        &[(DType::F16, 2)],
        DType::F16,
        "fma(3.0:f16x2, 1.0009765625:f16x2, -0.000000059604644775390625:f16x2)",
        0,
    ));
    assert!(
        v.iter().any(|c| c.name == "p_fma_midpoint_f16"),
        "the packed fma case parses"
    );
    // The math functions on f32 over 256 inputs spread from 1e-6 to 1e6 in magnitude.
    for &op in U::ALL.iter() {
        let name = format!("w_{}", op.name());
        if !exact_unary.contains(&op) {
            v.extend(elementwise(
                &name,
                &[(DType::F32, 1)],
                DType::F32,
                &format!("{}(%a0)", op.name()),
                1,
            ));
        }
    }
    for bn in ["pow", "mod", "fmod"] {
        let name = format!("w_{bn}");
        v.extend(elementwise(
            &name,
            &[(DType::F32, 1), (DType::F32, 1)],
            DType::F32,
            &format!("{bn}(%a0, %a1)"),
            1,
        ));
    }
    let all = [
        DType::Bool,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];
    for from in all {
        for to in all {
            let name = format!("c_{from}_{to}");
            v.extend(elementwise(
                &name,
                &[(from, 1)],
                to,
                &format!("cast<{to}>(%a0)"),
                0,
            ));
        }
    }
    v
}

/// `n` f32 values: ± 10^e for e spread over [-6, 6] (operand `which` shifts the pattern).
fn wide(n: usize, which: usize) -> Vec<u8> {
    let v: Vec<f64> = (0..n)
        .map(|i| {
            let e = -6.0 + 12.0 * ((i * 37 + which * 11) % n) as f64 / n as f64;
            let m = 10f64.powf(e) * (1.0 + 0.37 * (i % 3) as f64);
            if (i + which).is_multiple_of(2) { m } else { -m }
        })
        .collect();
    Arr::floats(DType::F32, vec![n], v)
        .to_tensor()
        .bytes()
        .to_vec()
}

/// Float elements of magnitude 2^20 or more (not NaN or infinite) replaced by 0.
fn small(d: DType, bytes: Vec<u8>) -> Vec<u8> {
    let v = values(d, &bytes);
    let v: Vec<f64> = v
        .into_iter()
        .map(|x| {
            if x.is_finite() && x.abs() >= 1_048_576.0 {
                0.0
            } else {
                x
            }
        })
        .collect();
    let n = v.len();
    Arr::floats(d, vec![n], v).to_tensor().bytes().to_vec()
}

enum Expect {
    Buffers(Vec<Vec<u8>>),
    ErrorStatus,
}

/// The kernel filetests of tessera-ir that verify (shared memory, barriers, loops, ...).
fn filetest_cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ir/tests/kernel_filetests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "kir"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let k = parse_kernel(&text).ok()?;
            verify_kernel(&k).ok()?;
            Some(Case {
                name: format!("kir_{}", p.file_stem()?.to_string_lossy()),
                text,
                ulps: 0,
                small_args: false,
            })
        })
        .collect()
}

/// Kernels the shared scheduler makes for the CUDA target from small graphs: tiled matmul
/// with shared memory and barriers, tree reductions, fused elementwise epilogues.
fn scheduled_cases() -> Vec<Case> {
    let graphs = [
        "graph mm(%x: f32[37, 29], %w: f32[29, 13], %b: f32[13]) -> (%y) {
  %m = matmul(%x, %w) : f32[37, 13]
  %a = add(%m, %b) : f32[37, 13]
  %y = relu(%a) : f32[37, 13]
  return %y
}",
        "graph sm(%x: f32[5, 70]) -> (%y) {
  %y = softmax(%x) {axis = 1} : f32[5, 70]
  return %y
}",
        "graph hm(%x: f16[3, 40]) -> (%y) {
  %e = exp(%x) : f16[3, 40]
  %y = softmax(%e) {axis = 0} : f16[3, 40]
  return %y
}",
    ];
    let desc = tessera_runtime::Target::desc(&CudaTarget::new(Arch::Sm90)).clone();
    let mut out = Vec::new();
    for (gi, text) in graphs.iter().enumerate() {
        let g = tessera_ir::text::parse_graph(text).expect("graph parses");
        let Ok(tessera_runtime::Lowered::Planned { plan, .. }) =
            tessera_runtime::lower_graph(&g, &desc)
        else {
            panic!("graph {gi} does not lower");
        };
        for step in &plan.steps {
            if let tessera_ir::plan::Step::Kernel(k) = step {
                out.push(Case {
                    name: format!("g{gi}_{}", k.kernel.name),
                    text: tessera_ir::kernel::print_kernel(&k.kernel),
                    // Reductions in another order than the interpreter's: a few ULP.
                    ulps: 8,
                    small_args: false,
                });
            }
        }
    }
    out
}

/// Distance in units in the last place between two floats of dtype `d` given as f64.
fn ulps(d: DType, a: f64, b: f64) -> u64 {
    if a.is_nan() && b.is_nan() {
        return 0;
    }
    if a == b {
        return 0;
    }
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    let key = |x: f64| -> i64 {
        let bits: i64 = match d {
            DType::F64 => x.to_bits() as i64,
            DType::F32 => i64::from((x as f32).to_bits() as i32),
            DType::F16 => i64::from(half::f16::from_f64(x).to_bits() as i16),
            _ => i64::from(half::bf16::from_f64(x).to_bits() as i16),
        };
        if bits < 0 { i64::MIN - bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

fn values(d: DType, bytes: &[u8]) -> Vec<f64> {
    let n = bytes.len() / d.size_bytes();
    let t = tessera_ir::Tensor::from_bytes(d, &[n], bytes.to_vec()).expect("output");
    (0..n).map(|i| t.get_f64(i)).collect()
}

#[test]
fn simulated_ptx_matches_the_kernel_interpreter() {
    if let Err(why) = python_ok() {
        eprintln!("SKIP PTX simulation: {why}");
        return;
    }
    let sim = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ptxsim/ptxsim.py");
    let dir = std::env::temp_dir().join(format!("tessera-ptxsim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let target = CudaTarget::new(Arch::Sm90);
    let mut cases = cases();
    cases.extend(filetest_cases());
    cases.extend(scheduled_cases());
    let mut manifest = String::new();
    let mut runs = Vec::new();
    for (ci, c) in cases.iter().enumerate() {
        let k = parse_kernel(&c.text).expect("parses");
        let info = verify_kernel(&k).expect("verifies");
        let Ok(ptx) = target.ptx(&k, &info) else {
            continue; // refused (f64 functions): covered by ptx_ops
        };
        let mut bufs: Vec<Vec<u8>> = k
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if p.access.can_load() {
                    let d = if c.name.starts_with("w_") {
                        wide(p.len, i)
                    } else {
                        data(p.dtype, p.len, 3 * i + ci % 5)
                    };
                    if c.small_args { small(p.dtype, d) } else { d }
                } else {
                    vec![0; p.len * p.dtype.size_bytes()]
                }
            })
            .collect();
        let inputs = bufs.clone();
        let expected = match run_kernel(&k, &info, &mut bufs) {
            Ok(()) => Expect::Buffers(bufs),
            Err(KernelError::OutOfBounds { .. } | KernelError::DivisionByZero { .. }) => {
                Expect::ErrorStatus
            }
            // Races, uninitialized shared reads: the interpreter's own checks.
            Err(_) => continue,
        };
        let ptx_path = dir.join(format!("{}.ptx", c.name));
        std::fs::write(&ptx_path, ptx).expect("write ptx");
        let mut grid = k.launch.grid.clone();
        grid.resize(3, 1);
        let mut line = format!("{} {},{},{}", ptx_path.display(), grid[0], grid[1], grid[2]);
        for (i, b) in inputs.iter().enumerate() {
            let p = dir.join(format!("{}.{i}.bin", c.name));
            std::fs::write(&p, b).expect("write buffer");
            line += &format!(" {}", p.display());
        }
        manifest += &line;
        manifest.push('\n');
        let outs: Vec<(usize, DType)> = k
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.access.can_store())
            .map(|(i, p)| (i, p.dtype))
            .collect();
        runs.push((c, expected, outs));
    }
    let mpath = dir.join("manifest.txt");
    std::fs::write(&mpath, manifest).expect("manifest");
    let out = Command::new("python3")
        .arg(&sim)
        .arg("--batch")
        .arg(&mpath)
        .output()
        .expect("runs the simulator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        lines.len(),
        runs.len(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut failures = Vec::new();
    let mut compared = 0;
    for ((c, expected, outs), line) in runs.iter().zip(&lines) {
        if let Some(err) = line.strip_prefix("error") {
            failures.push(format!("{}: simulator: {err}", c.name));
            continue;
        }
        let status: u32 = line
            .trim_start_matches("ok ")
            .trim()
            .parse()
            .unwrap_or(u32::MAX);
        let want = match expected {
            Expect::ErrorStatus => {
                // The interpreter refused (division by zero, out of bounds): so must the PTX.
                if status == 0 {
                    failures.push(format!("{}: no error status", c.name));
                }
                continue;
            }
            Expect::Buffers(b) => b,
        };
        if status != 0 {
            failures.push(format!("{}: status {status}", c.name));
        }
        compared += 1;
        for &(i, d) in outs {
            let got = std::fs::read(dir.join(format!("{}.{i}.bin", c.name))).expect("out");
            let want = &want[i];
            if d.is_float() {
                let (g, w) = (values(d, &got), values(d, want));
                let worst = g
                    .iter()
                    .zip(&w)
                    .enumerate()
                    .map(|(i, (a, b))| (ulps(d, *a, *b), i))
                    .max()
                    .unwrap_or((0, 0));
                if worst.0 > c.ulps {
                    let i = worst.1;
                    failures.push(format!(
                        "{}: {} ULP at element {i}: got {} want {} (bound {})",
                        c.name, worst.0, g[i], w[i], c.ulps
                    ));
                }
            } else if &got != want {
                failures.push(format!("{}: got {got:?} want {want:?}", c.name));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{compared} kernels compared with the interpreter, {} failures",
        failures.len()
    );
    assert!(compared > 200, "only {compared} compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
