//! The CPU backend against the kernel interpreter: kernels in kernel IR text form are compiled
//! by `CpuTarget`, run on `CpuDevice`, and every buffer is compared with what
//! `tessera_ir::kernel::run_kernel` leaves in it — exactly (NaN equal to NaN), since the
//! backend computes what the interpreter computes with the same rounding and the same math
//! functions. Errors (integer division by zero, out-of-bounds access) must be errors on both.
//!
//! Every check runs once per code generator of the build: Cranelift, and LLVM when the crate
//! is built with `--features llvm`.

use proptest::prelude::*;
use std::path::PathBuf;
use tessera_cpu::vmath::Model;
use tessera_cpu::{CpuCodegen, CpuDevice, CpuMath, CpuTarget};
use tessera_ir::DType;
use tessera_ir::interp::values::Arr;
use tessera_ir::kernel::{Kernel, parse_kernel, run_kernel, verify_kernel};
use tessera_runtime::{Device, DeviceError, Target, TargetError};

// ---- harness ------------------------------------------------------------------------------

/// Values the tests feed to float buffers (cycled to the buffer's length).
const FLOATS: [f64; 24] = [
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
];

/// Values the tests feed to integer buffers (wrapped to the dtype).
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

/// `n` little-endian elements of `dtype` from the test values, starting at `offset`.
fn data(dtype: DType, n: usize, offset: usize) -> Vec<u8> {
    let arr = if dtype.is_float() {
        let v = (0..n)
            .map(|i| FLOATS[(i + offset) % FLOATS.len()])
            .collect();
        Arr::floats(dtype, vec![n], v)
    } else {
        let v = (0..n).map(|i| INTS[(i + offset) % INTS.len()]).collect();
        Arr::ints(dtype, vec![n], v)
    };
    arr.to_tensor().into_bytes()
}

/// What a run left: every buffer, or the error's message.
type Outcome = Result<Vec<Vec<u8>>, String>;

fn parse(text: &str) -> (Kernel, tessera_ir::kernel::KernelInfo) {
    let k = parse_kernel(text).unwrap_or_else(|e| panic!("parse: {e}\n{text}"));
    let info = verify_kernel(&k).unwrap_or_else(|e| panic!("verify: {e}\n{text}"));
    (k, info)
}

fn interpret(k: &Kernel, info: &tessera_ir::kernel::KernelInfo, bufs: &[Vec<u8>]) -> Outcome {
    let mut bufs = bufs.to_vec();
    run_kernel(k, info, &mut bufs).map_err(|e| e.to_string())?;
    Ok(bufs)
}

/// The code generators of this build.
fn codegens() -> Vec<CpuCodegen> {
    [CpuCodegen::Cranelift, CpuCodegen::Llvm]
        .into_iter()
        .filter(|c| c.is_built())
        .collect()
}

/// Runs on the CPU with every code generator of the build; they must agree (an error on one
/// is an error on all), and the first one's outcome is returned.
fn on_cpu(k: &Kernel, info: &tessera_ir::kernel::KernelInfo, bufs: &[Vec<u8>]) -> Outcome {
    let mut first: Option<(CpuCodegen, Outcome)> = None;
    for c in codegens() {
        let got = on_cpu_with(c, CpuMath::Precise, k, info, bufs);
        match &first {
            None => first = Some((c, got)),
            Some((c0, want)) => match (&got, want) {
                (Ok(g), Ok(w)) => {
                    for (p, (gb, wb)) in k.params.iter().zip(g.iter().zip(w)) {
                        let d = differences(p.dtype, gb, wb, false);
                        assert!(
                            d.is_empty(),
                            "%{} ({}) differs between {} and {}:\n{}",
                            p.name,
                            p.dtype,
                            c.name(),
                            c0.name(),
                            d.join("\n")
                        );
                    }
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{}: {got:?}\n{}: {want:?}", c.name(), c0.name()),
            },
        }
    }
    first.map_or_else(|| Err("no code generator".into()), |(_, o)| o)
}

fn on_cpu_with(
    codegen: CpuCodegen,
    math: CpuMath,
    k: &Kernel,
    info: &tessera_ir::kernel::KernelInfo,
    bufs: &[Vec<u8>],
) -> Outcome {
    let target = CpuTarget::with_codegen(codegen)
        .map_err(|e| e.to_string())?
        .with_math(math);
    let artifact = target.compile(k, info).map_err(|e| e.to_string())?;
    let dev = CpuDevice::new();
    let loaded = dev.load(k, &artifact).map_err(|e| e.to_string())?;
    let mut handles = Vec::new();
    for b in bufs {
        let h = dev.alloc(b.len()).map_err(|e| e.to_string())?;
        dev.write(&h, b).map_err(|e| e.to_string())?;
        handles.push(h);
    }
    dev.launch(&loaded, &k.launch, &handles)
        .map_err(|e| e.to_string())?;
    dev.synchronize().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (h, b) in handles.iter().zip(bufs) {
        let mut v = vec![0; b.len()];
        dev.read(h, &mut v).map_err(|e| e.to_string())?;
        out.push(v);
    }
    Ok(out)
}

/// The elements of two buffers of `dtype` that differ (NaN equals NaN; with `any_zero`,
/// +0 equals -0), as `(index, cpu, interpreter)` texts.
fn differences(dtype: DType, cpu: &[u8], want: &[u8], any_zero: bool) -> Vec<String> {
    let size = dtype.size_bytes();
    let as_f64 = |b: &[u8]| -> f64 {
        match dtype {
            DType::F64 => f64::from_le_bytes(b.try_into().unwrap()),
            DType::F32 => f64::from(f32::from_le_bytes(b.try_into().unwrap())),
            DType::F16 => half::f16::from_le_bytes(b.try_into().unwrap()).to_f64(),
            _ => half::bf16::from_le_bytes(b.try_into().unwrap()).to_f64(),
        }
    };
    let mut out = Vec::new();
    for (i, (c, w)) in cpu.chunks(size).zip(want.chunks(size)).enumerate() {
        let same = if dtype.is_float() {
            let (x, y) = (as_f64(c), as_f64(w));
            (x.is_nan() && y.is_nan()) || c == w || (any_zero && x == 0.0 && y == 0.0)
        } else {
            c == w
        };
        if !same {
            out.push(format!("[{i}] cpu {c:?} interpreter {w:?}"));
        }
    }
    out
}

/// Runs `text` on both with `bufs` (or generated data when `None`) and asserts the same
/// outcome. Returns the interpreter's outcome.
fn check_with(text: &str, bufs: Option<Vec<Vec<u8>>>, any_zero: bool) -> Outcome {
    let (k, info) = parse(text);
    let bufs = bufs.unwrap_or_else(|| {
        k.params
            .iter()
            .enumerate()
            .map(|(i, p)| data(p.dtype, p.len, 3 * i))
            .collect()
    });
    let want = interpret(&k, &info, &bufs);
    let got = on_cpu(&k, &info, &bufs);
    match (&got, &want) {
        (Ok(g), Ok(w)) => {
            for (p, (gb, wb)) in k.params.iter().zip(g.iter().zip(w)) {
                let d = differences(p.dtype, gb, wb, any_zero);
                assert!(
                    d.is_empty(),
                    "%{} ({}) differs:\n{}\n{text}",
                    p.name,
                    p.dtype,
                    d.join("\n")
                );
            }
        }
        (Err(_), Err(_)) => {}
        _ => panic!("cpu {got:?}\ninterpreter {want:?}\n{text}"),
    }
    want
}

fn check(text: &str) -> Outcome {
    check_with(text, None, false)
}

/// Builds and checks `store %y[i] = body` over `n` elements (grid `[n / lanes]`).
fn elementwise(inputs: &[(DType, u8)], out: (DType, u8), body: &str, n: usize) -> Option<Outcome> {
    let lanes = out.1;
    let mut params: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, (d, _))| format!("%x{i}: {d}[{n}] read"))
        .collect();
    params.push(format!("%y: {}[{n}] write", out.0));
    let mut text = format!(
        "kernel @e({}) grid [{}] group [1] {{\n  let %i: u32 = mul(group_id(0), {lanes}:u32)\n",
        params.join(", "),
        n / usize::from(lanes)
    );
    for (i, (_, l)) in inputs.iter().enumerate() {
        text += &format!("  let %a{i} = load<{l}> %x{i}[%i]\n");
    }
    text += &format!("  store %y[%i] = {body}\n}}\n");
    let text = typed_lets(&text, inputs);
    let k = parse_kernel(&text).ok()?;
    verify_kernel(&k).ok()?;
    Some(check(&text))
}

/// Fills in the types of `let %aI = ...` lines.
fn typed_lets(text: &str, inputs: &[(DType, u8)]) -> String {
    let mut t = text.to_string();
    for (i, (d, l)) in inputs.iter().enumerate() {
        let ty = if *l == 1 {
            d.to_string()
        } else {
            format!("{d}x{l}")
        };
        t = t.replace(&format!("let %a{i} = "), &format!("let %a{i}: {ty} = "));
    }
    t
}

fn ty(d: DType, lanes: u8) -> String {
    if lanes == 1 {
        d.to_string()
    } else {
        format!("{d}x{lanes}")
    }
}

// ---- filetests ----------------------------------------------------------------------------

/// `; in %name = [...]` values encoded for a parameter.
fn encode(dtype: DType, values: &str) -> Vec<u8> {
    let items: Vec<&str> = values
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let n = vec![items.len()];
    let arr = if dtype.is_float() {
        Arr::floats(dtype, n, items.iter().map(|s| s.parse().unwrap()).collect())
    } else {
        let v = items
            .iter()
            .map(|s| match *s {
                "true" => 1,
                "false" => 0,
                s => s.parse().unwrap(),
            })
            .collect();
        Arr::ints(dtype, n, v)
    };
    arr.to_tensor().into_bytes()
}

#[test]
fn kernel_filetests_match_the_interpreter() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ir/tests/kernel_filetests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kir"))
        .collect();
    files.sort();
    let (mut ran, mut skipped) = (0, Vec::new());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(k) = parse_kernel(&text) else { continue };
        let Ok(info) = verify_kernel(&k) else {
            continue;
        };
        // Each `; run:` case: its `; in` lines.
        let mut cases: Vec<Vec<(String, String)>> = Vec::new();
        for line in text.lines() {
            let c = line.trim_start().trim_start_matches(';').trim();
            if c == "run:" {
                cases.push(Vec::new());
            } else if let (Some(rest), Some(case)) = (c.strip_prefix("in %"), cases.last_mut()) {
                let (name, values) = rest.split_once('=').unwrap();
                case.push((name.trim().to_string(), values.to_string()));
            }
        }
        if let Err(e) = CpuTarget::new().compile(&k, &info) {
            assert!(matches!(e, TargetError::Unsupported { .. }), "{e}");
            skipped.push(path.display().to_string());
            continue;
        }
        for case in cases {
            let bufs = k
                .params
                .iter()
                .map(|p| match case.iter().find(|(n, _)| *n == p.name) {
                    Some((_, v)) => encode(p.dtype, v),
                    None => vec![0; p.len * p.dtype.size_bytes()],
                })
                .collect();
            let _ = check_with(&text, Some(bufs), true);
            ran += 1;
        }
    }
    eprintln!("{ran} filetest cases ran; skipped (GPU-only): {skipped:?}");
    assert!(ran >= 8, "only {ran} cases ran");
}

// ---- every dtype, every operator ----------------------------------------------------------

/// The standard dtypes: kernels refuse the low-precision storage dtypes (float8, float4,
/// int4, int2).
const ALL: [DType; 13] = [
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

#[test]
fn unary_ops_on_every_dtype_match() {
    let (mut verified, mut ran) = (0, 0);
    for &d in &ALL {
        for &op in tessera_ir::op::UnaryOp::ALL.iter() {
            let out = if op == tessera_ir::op::UnaryOp::IsNaN {
                DType::Bool
            } else {
                d
            };
            for lanes in [1u8, 4] {
                let body = format!("{}(%a0)", op.name());
                if let Some(r) = elementwise(&[(d, lanes)], (out, lanes), &body, 24) {
                    verified += 1;
                    ran += usize::from(r.is_ok());
                }
            }
        }
    }
    assert!(verified > 250, "{verified} unary kernels verified");
    assert_eq!(ran, verified, "every unary kernel runs without error");
}

#[test]
fn binary_ops_on_every_dtype_match() {
    let mut verified = 0;
    let names: Vec<&str> = tessera_ir::op::BinaryOp::ALL
        .iter()
        .map(|o| o.name())
        .chain(["min", "max"])
        .filter(|n| *n != "prelu")
        .collect();
    for &d in &ALL {
        for name in &names {
            let cmp = [
                "equal",
                "less",
                "less_or_equal",
                "greater",
                "greater_or_equal",
            ]
            .contains(name);
            let out = if cmp { DType::Bool } else { d };
            for lanes in [1u8, 2, 4, 8, 16] {
                if lanes > 1 && 24 % usize::from(lanes) != 0 {
                    continue;
                }
                let body = format!("{name}(%a0, %a1)");
                let n = if lanes == 16 { 32 } else { 24 };
                // Division by zero (the test data holds zeros) must fail on both.
                if let Some(r) = elementwise(&[(d, lanes), (d, lanes)], (out, lanes), &body, n) {
                    verified += 1;
                    let divides = ["div", "mod", "fmod"].contains(name) && !d.is_float();
                    assert_eq!(r.is_ok(), !divides, "{name} {d}x{lanes}: {r:?}");
                }
            }
        }
    }
    assert!(verified > 500, "{verified} binary kernels verified");
}

#[test]
fn integer_division_without_zero_divisors_matches() {
    for d in [
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
    ] {
        for op in ["div", "mod", "fmod", "pow"] {
            for lanes in [1u8, 4] {
                let t = ty(d, lanes);
                // Divisor: x1 with zeros replaced by -1 (3 for unsigned).
                let m = if d.is_signed_int() { -1 } else { 3 };
                let text = format!(
                    "kernel @d(%x0: {d}[20] read, %x1: {d}[20] read, %y: {d}[20] write) grid [5] group [1] {{
  let %i: u32 = mul(group_id(0), {lanes}:u32)
  let %b: {t} = load<{lanes}> %x1[%i]
  let %nz: {t} = select(equal(%b, 0:{t}), {m}:{t}, %b)
  store %y[%i] = {op}(load<{lanes}> %x0[%i], %nz)
}}"
                );
                let x0 = data(d, 20, 0);
                let x1 = data(d, 20, 5);
                let r = check_with(
                    &text,
                    Some(vec![x0, x1, vec![0; 20 * d.size_bytes()]]),
                    false,
                );
                assert!(r.is_ok(), "{d} {op}: {r:?}");
            }
        }
    }
}

#[test]
fn integer_division_by_zero_is_an_error_not_a_crash() {
    for d in [DType::I8, DType::U32, DType::I64] {
        for op in ["div", "mod", "fmod"] {
            let text = format!(
                "kernel @z(%a: {d}[4] read, %b: {d}[4] read, %y: {d}[4] write) grid [4] group [1] {{
  let %i: u32 = group_id(0)
  store %y[%i] = {op}(load %a[%i], load %b[%i])
}}"
            );
            let (k, info) = parse(&text);
            let a = encode(d, "[-128, 5, 7, 9]");
            let b = encode(d, "[1, 0, 2, 3]");
            let bufs = vec![a, b, vec![0; 4 * d.size_bytes()]];
            let want = interpret(&k, &info, &bufs);
            assert!(want.unwrap_err().contains("by zero"));
            let got = on_cpu(&k, &info, &bufs).unwrap_err();
            assert!(
                got.contains("division by zero") && got.contains("`z`"),
                "{got}"
            );
        }
    }
    // MIN / -1 wraps instead of trapping.
    let text = "kernel @w(%a: i32[1] read, %y: i32[2] write) grid [1] group [1] {
  store %y[0:i32] = div(load %a[0:i32], -1:i32)
  store %y[1:i32] = mod(load %a[0:i32], -1:i32)
}";
    let out = check_with(
        text,
        Some(vec![encode(DType::I32, "[-2147483648]"), vec![0; 8]]),
        false,
    )
    .unwrap();
    assert_eq!(out[1], encode(DType::I32, "[-2147483648, 0]"));
}

#[test]
fn out_of_bounds_is_an_error_on_both() {
    let text = "kernel @oob(%a: f32[10] read, %out: f32[10] write) grid [1] group [1] {
  loop %i: i32 = 0:i32 to 10:i32 step 4 vectorize(4) {
    store %out[%i] = neg(load<4> %a[%i])
  }
}";
    let (k, info) = parse(text);
    let bufs = vec![data(DType::F32, 10, 0), vec![0; 40]];
    let got = on_cpu(&k, &info, &bufs).unwrap_err();
    assert!(got.contains("out-of-bounds"), "{got}");
    assert!(interpret(&k, &info, &bufs).is_err());
    // A negative index, and a buffer shorter than the access.
    let text = "kernel @neg(%a: f32[2] read, %out: f32[2] write) grid [1] group [1] {
  store %out[0:i32] = load %a[-1:i32]
  store %out[1:i32] = lane<0>(load<4> %a[0:i32])
}";
    let (k, info) = parse(text);
    let got = on_cpu(&k, &info, &[vec![0; 8], vec![0; 8]]).unwrap_err();
    assert!(got.contains("out-of-bounds"), "{got}");
}

#[test]
fn casts_between_every_pair_of_dtypes_match() {
    for &from in &ALL {
        for &to in &ALL {
            for lanes in [1u8, 4] {
                let body = format!("cast<{to}>(%a0)");
                let r = elementwise(&[(from, lanes)], (to, lanes), &body, 24);
                assert!(matches!(r, Some(Ok(_))), "{from} -> {to} x{lanes}: {r:?}");
            }
        }
    }
    // Saturation, truncation and NaN to 0; float to bool is `!= 0`.
    let text = "kernel @c(%x: f32[6] read, %i: i8[6] write, %u: u16[6] write, %b: bool[6] write, %l: u64[6] write) grid [6] group [1] {
  let %k: u32 = group_id(0)
  let %v: f32 = load %x[%k]
  store %i[%k] = cast<i8>(%v)
  store %u[%k] = cast<u16>(%v)
  store %b[%k] = cast<bool>(%v)
  store %l[%k] = cast<u64>(%v)
}";
    let x = encode(DType::F32, "[-1000.5, 1000.9, nan, -0.7, 2.9, 1e30]");
    let out = check_with(
        text,
        Some(vec![x, vec![0; 6], vec![0; 12], vec![0; 6], vec![0; 48]]),
        false,
    )
    .unwrap();
    assert_eq!(out[1], encode(DType::I8, "[-128, 127, 0, 0, 2, 127]"));
    assert_eq!(out[2], encode(DType::U16, "[0, 1000, 0, 0, 2, 65535]"));
    assert_eq!(out[3], encode(DType::Bool, "[1, 1, 1, 1, 1, 1]"));
}

#[test]
fn fma_select_and_lane_ops_on_float_dtypes_match() {
    for d in [DType::F16, DType::BF16, DType::F32, DType::F64] {
        for lanes in [1u8, 2, 4, 8] {
            let t = ty(d, lanes);
            let inputs = [(d, lanes), (d, lanes), (d, lanes)];
            for body in [
                "fma(%a0, %a1, %a2)".to_string(),
                "select(less(%a0, %a1), %a2, %a1)".to_string(),
                "select(true:bool, %a0, %a1)".to_string(),
                format!("add(mul(%a0, %a1), 0.1:{t})"),
            ] {
                let r = elementwise(&inputs, (d, lanes), &body, 24);
                assert!(matches!(r, Some(Ok(_))), "{t} {body}: {r:?}");
            }
            if lanes > 1 {
                for red in ["reduce_add", "reduce_mul", "reduce_min", "reduce_max"] {
                    let body = format!("splat<{lanes}>(add({red}(%a0), lane<1>(%a1)))");
                    let r = elementwise(&inputs, (d, lanes), &body, 24);
                    assert!(matches!(r, Some(Ok(_))), "{t} {body}: {r:?}");
                }
            }
        }
    }
}

// ---- loops, accumulators, control flow ----------------------------------------------------

#[test]
fn vector_loops_with_scalar_tails_and_accumulators_match() {
    for (d, lanes) in [
        (DType::F32, 4u8),
        (DType::I32, 4),
        (DType::F64, 2),
        (DType::I8, 16),
        (DType::U16, 8),
        (DType::I64, 2),
        (DType::F32, 8),
        (DType::F16, 4),
        (DType::BF16, 8),
        (DType::U64, 4),
    ] {
        let n = 4 * usize::from(lanes) + 3;
        let main = n / usize::from(lanes) * usize::from(lanes);
        let t = ty(d, lanes);
        let text = format!(
            "kernel @v(%x: {d}[{n}] read, %y: {d}[{n}] read, %out: {d}[{n}] write, %sum: {d}[1] write) grid [1] group [1] {{
  local %acc: {t} = 0:{t}
  loop %i: i64 = 0:i64 to {main}:i64 step {lanes} vectorize({lanes}) {{
    let %p: {t} = mul(load<{lanes}> %x[%i], load<{lanes}> %y[%i])
    store %out[%i] = add(%p, load<{lanes}> %x[%i])
    set %acc = add(%acc, %p)
  }}
  local %total: {d} = reduce_add(%acc)
  loop %j: i64 = {main}:i64 to {n}:i64 step 1 serial {{
    let %q: {d} = mul(load %x[%j], load %y[%j])
    store %out[%j] = add(%q, load %x[%j])
    set %total = add(%total, %q)
  }}
  store %sum[0:i64] = %total
}}"
        )
        .replace(&format!("0:{t}"), &if d.is_float() { format!("0.0:{t}") } else { format!("0:{t}") });
        let r = check(&text);
        assert!(r.is_ok(), "{t}: {r:?}");
    }
}

#[test]
fn nested_loops_if_and_parallel_grid_match() {
    // A 5x7 by 7x3 f32 matmul, one output row per grid point, with a guarded epilogue.
    let text = "kernel @mm(%a: f32[35] read, %b: f32[21] read, %c: f32[15] write, %neg: i32[5] read_write) grid [5] group [1] {
  let %r: i32 = cast<i32>(group_id(0))
  local %count: i32 = 0:i32
  loop %j: i32 = 0:i32 to 3:i32 step 1 unroll {
    local %acc: f32 = 0.0:f32
    loop %k: i32 = 0:i32 to 7:i32 step 1 serial {
      set %acc = fma(load %a[add(mul(%r, 7:i32), %k)], load %b[add(mul(%k, 3:i32), %j)], %acc)
    }
    if less(%acc, 0.0:f32) {
      set %count = add(%count, 1:i32)
      store %c[add(mul(%r, 3:i32), %j)] = neg(%acc)
    } else {
      store %c[add(mul(%r, 3:i32), %j)] = %acc
    }
  }
  store %neg[%r] = add(load %neg[%r], %count)
}";
    let a = encode(
        DType::F32,
        &format!(
            "[{}]",
            (0..35)
                .map(|i| format!("{}", (i * 7 % 11) as f32 - 5.5))
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    let b = encode(
        DType::F32,
        &format!(
            "[{}]",
            (0..21)
                .map(|i| format!("{}", (i * 5 % 9) as f32 * 0.37 - 1.0))
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    check_with(
        text,
        Some(vec![a, b, vec![0; 60], encode(DType::I32, "[1,2,3,4,5]")]),
        false,
    )
    .unwrap();
    // Loops near the end of their counter's range do not overflow; empty loops run 0 times.
    let text = "kernel @edge(%y: u8[4] write) grid [1] group [1] {
  local %n: u8 = 0:u8
  loop %i: u8 = 250:u8 to 255:u8 step 2 serial {
    set %n = add(%n, 1:u8)
  }
  loop %k: i8 = 5:i8 to -3:i8 step 1 serial {
    set %n = add(%n, 100:u8)
  }
  loop %m: i8 = -128:i8 to 127:i8 step 200 serial {
    set %n = add(%n, 10:u8)
  }
  store %y[0:i32] = %n
}";
    let out = check_with(text, Some(vec![vec![0; 4]]), false).unwrap();
    assert_eq!(out[0][0], 23);
    // A 3-D grid.
    let text = "kernel @g(%y: u32[24] write) grid [2, 3, 4] group [1, 1, 1] {
  let %i: u32 = add(mul(add(mul(group_id(0), 3:u32), group_id(1)), 4:u32), group_id(2))
  store %y[%i] = add(mul(group_id(0), 100:u32), add(mul(group_id(1), 10:u32), group_id(2)))
}";
    check(text).unwrap();
}

#[test]
fn target_desc_and_refusals() {
    let t = CpuTarget::new();
    let d = t.desc();
    assert_eq!(d.vector_lanes_f32, 4);
    assert!(d.cores >= 1);
    let text = "kernel @reverse(%x: i32[4] read, %y: i32[4] write) grid [1] group [4] {
  shared %tile: i32[4]
  let %l: u32 = local_id(0)
  store %tile[%l] = load %x[%l]
  barrier
  store %y[%l] = load %tile[sub(3:u32, %l)]
}";
    let (k, info) = parse(text);
    let e = t.compile(&k, &info).unwrap_err();
    assert!(matches!(e, TargetError::Unsupported { .. }), "{e}");
    // A launch with too few buffers, or too small a buffer, is refused.
    let (k, info) = parse(
        "kernel @one(%y: f32[4] write) grid [4] group [1] {\n  store %y[group_id(0)] = 1.0:f32\n}",
    );
    let dev = CpuDevice::new();
    let loaded = dev.load(&k, &t.compile(&k, &info).unwrap()).unwrap();
    let small = dev.alloc(8).unwrap();
    let e = dev.launch(&loaded, &k.launch, &[small]).unwrap_err();
    assert!(matches!(e, DeviceError::Failed { .. }), "{e}");
    assert!(dev.launch(&loaded, &k.launch, &[]).is_err());
    assert!(dev.memory_bytes().is_none_or(|m| m > 0));
}

#[test]
fn scratch_arrays_of_one_invocation_groups_match() {
    // Each invocation fills its own scratch array (a shared buffer of a group of one), then
    // reads it back reversed, vectors and scalars; invocations run concurrently.
    let text = "kernel @scratch(%x: f32[64] read, %y: f32[64] write) grid [8] group [1] {
  shared %tmp: f32[8]
  let %base: u32 = mul(group_id(0), 8:u32)
  store %tmp[0:u32] = load<4> %x[%base]
  store %tmp[4:u32] = load<4> %x[add(%base, 4:u32)]
  loop %i: u32 = 0:u32 to 8:u32 step 1 serial {
    store %y[add(%base, %i)] = mul(load %tmp[sub(7:u32, %i)], 2.0:f32)
  }
}";
    let out = check(text).unwrap();
    assert_ne!(out[1], vec![0u8; 256]);
    // Reading past the end of the scratch array is the out-of-bounds error on both.
    let bad = "kernel @scratch_oob(%y: f32[4] write) grid [2] group [1] {
  shared %tmp: f32[4]
  store %tmp[0:u32] = 1.0:f32x4
  store %y[0:u32] = load<4> %tmp[group_id(0)]
}";
    assert!(check(bad).is_err());
    // More scratch bytes than the target allows are refused.
    let t = CpuTarget::new();
    let big = t.desc().shared_bytes / 4 + 1;
    let (k, info) = parse(&format!(
        "kernel @huge(%y: f32[1] write) grid [1] group [1] {{\n  shared %tmp: f32[{big}]\n  store %tmp[0:u32] = 1.0:f32\n  store %y[0:u32] = load %tmp[0:u32]\n}}"
    ));
    let e = t.compile(&k, &info).unwrap_err();
    assert!(matches!(e, TargetError::Unsupported { .. }), "{e}");
}

#[test]
fn aliased_buffers_and_concurrent_launches() {
    // The same buffer bound twice (read and read_write) is locked once.
    let text = "kernel @inc(%x: i32[64] read, %y: i32[64] read_write) grid [64] group [1] {
  let %i: u32 = group_id(0)
  store %y[%i] = add(load %y[%i], 1:i32)
}";
    let (k, info) = parse(text);
    let t = CpuTarget::new();
    let dev = std::sync::Arc::new(CpuDevice::new());
    let loaded = dev.load(&k, &t.compile(&k, &info).unwrap()).unwrap();
    let buf = dev.alloc(256).unwrap();
    dev.launch(&loaded, &k.launch, &[buf.clone(), buf.clone()])
        .unwrap();
    // Launches from several threads on one buffer serialize on its lock.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    dev.launch(&loaded, &k.launch, &[buf.clone(), buf.clone()])
                        .unwrap();
                }
            });
        }
    });
    let mut out = vec![0u8; 256];
    dev.read(&buf, &mut out).unwrap();
    assert!(
        out.chunks(4)
            .all(|c| i32::from_le_bytes(c.try_into().unwrap()) == 21)
    );
}

// ---- random elementwise kernels ------------------------------------------------------------

/// A random expression over `%a0`, `%a1` of type `t` (dtype `d`).
fn expr(d: DType, t: String) -> impl Strategy<Value = String> {
    let float = d.is_float();
    let tc = t.clone();
    let leaf = prop_oneof![
        Just("%a0".to_string()),
        Just("%a1".to_string()),
        (-40i32..40).prop_map(move |v| if float {
            format!("{:?}:{tc}", f64::from(v) / 8.0)
        } else if d.is_unsigned_int() {
            format!("{}:{tc}", v.unsigned_abs())
        } else {
            format!("{v}:{tc}")
        }),
    ];
    let unary: &'static [&'static str] = if float {
        &[
            "neg",
            "abs",
            "sqrt",
            "exp",
            "tanh",
            "floor",
            "sigmoid",
            "relu",
            "sin",
            "reciprocal",
        ]
    } else {
        &["neg", "abs", "sign", "relu", "bitwise_not"]
    };
    let binary: &'static [&'static str] = if float {
        &[
            "add", "sub", "mul", "div", "min", "max", "pow", "mod", "fmod",
        ]
    } else {
        &[
            "add",
            "sub",
            "mul",
            "min",
            "max",
            "bitwise_and",
            "bitwise_xor",
            "pow",
        ]
    };
    leaf.prop_recursive(4, 24, 2, move |inner| {
        prop_oneof![
            (proptest::sample::select(unary), inner.clone())
                .prop_map(|(op, x)| format!("{op}({x})")),
            (
                proptest::sample::select(binary),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| format!("{op}({a}, {b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("select(less({a}, {b}), {c}, {a})")),
            (inner.clone(), inner).prop_map(move |(a, b)| if float {
                format!("fma({a}, {b}, {a})")
            } else {
                format!("add({a}, cast<{d}>(greater({a}, {b})))")
            }),
        ]
    })
}

/// A dtype and lane count, with a random expression of that type.
fn typed_expr() -> impl Strategy<Value = (DType, u8, String)> {
    proptest::sample::select(vec![
        (DType::F32, 4u8),
        (DType::F32, 1),
        (DType::F64, 2),
        (DType::F16, 1),
        (DType::BF16, 4),
        (DType::I32, 4),
        (DType::U8, 16),
        (DType::I64, 1),
        (DType::I16, 8),
        (DType::U32, 2),
    ])
    .prop_flat_map(|(d, lanes)| (Just(d), Just(lanes), expr(d, ty(d, lanes))))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_elementwise_kernels_match((d, lanes, e) in typed_expr(), seed in 0usize..24) {
        let t = ty(d, lanes);
        let n = 48;
        let text = format!(
            "kernel @r(%x0: {d}[{n}] read, %x1: {d}[{n}] read, %y: {d}[{n}] write) grid [{g}] group [1] {{
  let %i: u32 = mul(group_id(0), {lanes}:u32)
  let %a0: {t} = load<{lanes}> %x0[%i]
  let %a1: {t} = load<{lanes}> %x1[%i]
  store %y[%i] = {e}
}}",
            g = n / usize::from(lanes)
        );
        let k = parse_kernel(&text);
        prop_assume!(k.as_ref().is_ok_and(|k| verify_kernel(k).is_ok()));
        let bufs = vec![data(d, n, seed), data(d, n, seed + 7), vec![0; n * d.size_bytes()]];
        let outcome = check_with(&text, Some(bufs), true);
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
    }
}

// ---- what the renderer emits ----------------------------------------------------------------

#[test]
fn vector_values_render_as_128_bit_vectors() {
    let t = CpuTarget::new();
    let clif = |text: &str| {
        let (k, info) = parse(text);
        t.clif(&k, &info).unwrap()
    };
    let add_relu = clif(
        "kernel @add_relu(%a: f32[8] read, %b: f32[8] read, %out: f32[8] write) grid [1] group [1] {
  loop %i: i32 = 0:i32 to 8:i32 step 4 vectorize(4) {
    store %out[%i] = max(add(load<4> %a[%i], load<4> %b[%i]), 0.0:f32x4)
  }
}",
    );
    assert_eq!(add_relu.matches("load.f32x4").count(), 2, "{add_relu}");
    assert!(
        add_relu.contains("fadd") && add_relu.contains("fmax"),
        "{add_relu}"
    );
    assert!(add_relu.contains("splat.f32x4"), "{add_relu}");
    // Eight f32 lanes are two f32x4 halves; an i32x4 add is one vector add.
    let wide = clif(
        "kernel @w(%a: f32[8] read, %b: i32[4] read, %out: f32[8] write, %o: i32[4] write) grid [1] group [1] {
  store %out[0:i32] = mul(load<8> %a[0:i32], load<8> %a[0:i32])
  store %o[0:i32] = add(load<4> %b[0:i32], 1:i32x4)
}",
    );
    assert_eq!(wide.matches("load.f32x4").count(), 4, "{wide}");
    assert_eq!(wide.matches("load.i32x4").count(), 1, "{wide}");
    assert!(!wide.contains("extractlane"), "{wide}");
    // f16 is computed in f32 and rounded back after every operation; exp is a helper call.
    let half = clif(
        "kernel @h(%a: f16[1] read, %out: f16[1] write) grid [1] group [1] {
  store %out[0:i32] = exp(add(load %a[0:i32], 1.0:f16))
}",
    );
    assert!(half.contains("call"), "{half}");
    assert!(half.contains("fadd.f32") || half.contains("fadd"), "{half}");
}

// ---- the LLVM code generator ------------------------------------------------------------------

/// The code generator that compiled `text` with `target`, and the fallback reason.
#[cfg(feature = "llvm")]
fn compiled_by(target: &CpuTarget, text: &str) -> (CpuCodegen, Option<String>) {
    let (k, info) = parse(text);
    let artifact = target.compile(&k, &info).unwrap();
    let tessera_runtime::Artifact::Native(code) = artifact else {
        panic!("not a native artifact");
    };
    let c = code
        .downcast::<tessera_cpu::CompiledKernel>()
        .unwrap_or_else(|_| panic!("not a CompiledKernel"));
    (c.codegen, c.fallback.clone())
}

#[cfg(feature = "llvm")]
#[test]
fn llvm_compiles_wide_vectors_and_leaves_f16_to_cranelift() {
    let t = CpuTarget::with_codegen(CpuCodegen::Llvm).unwrap();
    assert!(t.desc().vector_lanes_f32 >= 4);
    let f32_kernel = "kernel @fma16(%a: f32[32] read, %out: f32[32] write) grid [2] group [1] {
  let %i: u32 = mul(group_id(0), 16:u32)
  let %x: f32x16 = load<16> %a[%i]
  store %out[%i] = fma(%x, %x, 1.0:f32x16)
}";
    assert_eq!(compiled_by(&t, f32_kernel), (CpuCodegen::Llvm, None));
    let (k, info) = parse(f32_kernel);
    let ir = t.llvm_ir(&k, &info).unwrap();
    assert!(
        ir.contains("<16 x float>") && ir.contains("llvm.fma"),
        "{ir}"
    );
    assert!(ir.contains("\"target-cpu\""), "{ir}");
    check(f32_kernel).unwrap();
    let half = "kernel @h(%a: f16[1] read, %out: f16[1] write) grid [1] group [1] {
  store %out[0:i32] = exp(add(load %a[0:i32], 1.0:f16))
}";
    let (by, why) = compiled_by(&t, half);
    assert_eq!(by, CpuCodegen::Cranelift);
    assert!(why.is_some_and(|w| w.contains("f16")));
    assert!(t.llvm_fallbacks().iter().any(|(k, _)| k == "h"));
}

#[cfg(not(feature = "llvm"))]
#[test]
fn llvm_is_refused_without_the_feature() {
    assert!(CpuTarget::with_codegen(CpuCodegen::Llvm).is_err());
    assert!("llvm".parse::<CpuCodegen>().is_ok());
    assert!("gcc".parse::<CpuCodegen>().is_err());
}

/// With `CpuMath::Fast`, f32 exp/erf/tanh/sigmoid compile to the inline recipes of
/// `tessera_cpu::vmath`: on every code generator and lane count (vector parts and scalar
/// tails) the results are exactly what `vmath::Model` computes, special values included.
#[test]
fn fast_math_matches_the_vmath_model_exactly() {
    let mut xs: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5625,
        3.92,
        4.0,
        88.72,
        89.5,
        -103.9,
        -150.0,
        1e-30,
        -1e-30,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    let mut s = 0x9e37_79b9u32;
    while xs.len() < 4096 {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        // Magnitudes from 2^-20 to 2^7, both signs.
        let m = f32::from_bits(0x3580_0000 + (s % 0x0d80_0000));
        xs.push(if s & 1 == 0 { m } else { -m });
    }
    let n = xs.len() + 3;
    xs.resize(n, 0.25);
    let input: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut checked = 0;
    for op in ["exp", "erf", "tanh", "sigmoid"] {
        let uop = tessera_ir::op::UnaryOp::ALL
            .iter()
            .copied()
            .find(|u| u.name() == op)
            .expect("a unary op");
        for lanes in [1u8, 4, 8, 16] {
            let groups = n / usize::from(lanes);
            let text = format!(
                "kernel @e(%x: f32[{n}] read, %y: f32[{n}] write) grid [{groups}] group [1] {{\n  \
                 let %i: u32 = mul(group_id(0), {lanes}:u32)\n  \
                 let %a: {} = load<{lanes}> %x[%i]\n  store %y[%i] = {op}(%a)\n}}\n",
                if lanes == 1 {
                    "f32".to_string()
                } else {
                    format!("f32x{lanes}")
                }
            );
            let (k, info) = parse(&text);
            for c in codegens() {
                let bufs = vec![input.clone(), vec![0u8; 4 * n]];
                let out = on_cpu_with(c, CpuMath::Fast, &k, &info, &bufs)
                    .unwrap_or_else(|e| panic!("{op} x{lanes} on {}: {e}", c.name()));
                for (i, ch) in out[1]
                    .chunks(4)
                    .take(groups * usize::from(lanes))
                    .enumerate()
                {
                    let got = f32::from_le_bytes(ch.try_into().unwrap());
                    let want = Model::eval(uop, xs[i]).expect("a recipe");
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "{op}({:e}) x{lanes} on {}: {got:e}, model {want:e}",
                        xs[i],
                        c.name()
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 60_000, "{checked} results checked");
}
