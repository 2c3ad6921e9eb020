//! Packed half-precision arithmetic: f16 vectors (and bf16 vectors on sm_90) use
//! `add/sub/mul/fma.rn.f16x2` (`.bf16x2`) per pair of lanes, accepted by `ptxas`; the values
//! are checked against the interpreter by the simulator in `semantics.rs` (`p_*` cases).

use tessera_cuda::{Arch, CudaTarget};
use tessera_ir::interp::values::Arr;
use tessera_ir::kernel::{parse_kernel, run_kernel, verify_kernel};

fn kernel(d: &str, lanes: u8, body: &str) -> String {
    format!(
        "kernel @pk(%x: {d}[8] read, %y: {d}[8] read, %z: {d}[8] read, %o: {d}[8] write) grid [1] group [1] {{
  let %a: {d}x{lanes} = load<{lanes}> %x[0:u32]
  let %b: {d}x{lanes} = load<{lanes}> %y[0:u32]
  let %c: {d}x{lanes} = load<{lanes}> %z[0:u32]
  store %o[0:u32] = {body}
}}"
    )
}

fn ptx(arch: Arch, text: &str) -> String {
    let k = parse_kernel(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let info = verify_kernel(&k).expect("verifies");
    CudaTarget::new(arch).ptx(&k, &info).expect("renders")
}

#[test]
fn half_vectors_use_packed_instructions_that_ptxas_accepts() {
    let ptxas = tessera_cuda::ptxas::ptxas_for_tests();
    for arch in [Arch::Sm80, Arch::Sm90] {
        let mut modules = Vec::new();
        for (d, lanes) in [("f16", 2u8), ("f16", 8), ("bf16", 4)] {
            for (op, body) in [
                ("add", "add(%a, %b)"),
                ("sub", "sub(%a, %b)"),
                ("mul", "mul(%a, %b)"),
                ("fma", "fma(%a, %b, %c)"),
            ] {
                let p = ptx(arch, &kernel(d, lanes, body));
                let packed = format!("{op}.rn.{d}x2");
                // bf16x2 add/sub/mul need sm_90; bf16 fma keeps the f32 route (see packed.rs).
                let want = d == "f16" || (arch == Arch::Sm90 && op != "fma");
                assert_eq!(p.contains(&packed), want, "{arch} {d}x{lanes} {op}");
                if want {
                    assert_eq!(p.matches(&packed).count(), usize::from(lanes / 2));
                }
                modules.push((format!("{d}x{lanes}_{op}"), p));
            }
        }
        // Odd lane counts and scalars are not packed.
        assert!(!ptx(arch, &kernel("f16", 1, "add(%a, %b)")).contains("f16x2"));
        if let Some(p) = &ptxas {
            let rejected = tessera_cuda::ptxas::check_many(p, arch, &modules, 16);
            assert!(rejected.is_empty(), "{arch}: {rejected:?}");
        }
    }
}

#[test]
fn f16_fma_is_rounded_once() {
    // fma(3, 1 + 2^-10, -2^-24): just below a midpoint of f16, so 3 + 2^-9 — what the
    // interpreter and `fma.rn.f16x2` give (rounding an f32 fma result would give 3 + 2^-8).
    let text = kernel("f16", 2, "fma(%a, %b, %c)");
    let k = parse_kernel(&text).expect("parses");
    let info = verify_kernel(&k).expect("verifies");
    let col = |v: f64| {
        Arr::floats(tessera_ir::DType::F16, vec![8], vec![v; 8])
            .to_tensor()
            .bytes()
            .to_vec()
    };
    let mut bufs = vec![
        col(3.0),
        col(1.0 + 2f64.powi(-10)),
        col(-(2f64.powi(-24))),
        col(0.0),
    ];
    run_kernel(&k, &info, &mut bufs).expect("runs");
    let out = tessera_ir::Tensor::from_bytes(tessera_ir::DType::F16, &[8], bufs[3].clone())
        .expect("output");
    assert_eq!(out.get_f64(0), 3.0 + 2f64.powi(-9));
    assert!(ptx(Arch::Sm80, &text).contains("fma.rn.f16x2"));
}
