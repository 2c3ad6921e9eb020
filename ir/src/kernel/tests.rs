//! Unit tests of the kernel IR: one per verifier error, interpreter semantics (wrapping,
//! rounding, bounds, barriers) and parser errors.

use super::*;
use crate::tensor::{Element, Tensor};
use half::f16;

fn parse_ok(text: &str) -> Kernel {
    match parse_kernel(text) {
        Ok(k) => k,
        Err(e) => panic!("parse failed: {e}\n{text}"),
    }
}

fn verify_text(text: &str) -> Result<KernelInfo, KernelError> {
    verify_kernel(&parse_ok(text))
}

/// The verifier error of a kernel given as its header line and body lines.
fn verify_err(text: &str) -> KernelError {
    match verify_text(text) {
        Ok(_) => panic!("expected a verifier error:\n{text}"),
        Err(e) => e,
    }
}

fn bytes<T: Element>(v: &[T]) -> Vec<u8> {
    Tensor::from_slice(&[v.len()], v)
        .map(Tensor::into_bytes)
        .unwrap_or_default()
}

fn values<T: Element>(b: &[u8]) -> Vec<T> {
    let n = b.len() / T::DTYPE.size_bytes();
    Tensor::from_bytes(T::DTYPE, &[n], b.to_vec())
        .and_then(|t| t.to_vec::<T>())
        .unwrap_or_default()
}

/// Parses, verifies and runs a kernel; returns the buffers afterwards.
fn run(text: &str, mut bufs: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, KernelError> {
    let k = parse_ok(text);
    let info = verify_kernel(&k)?;
    run_kernel(&k, &info, &mut bufs)?;
    Ok(bufs)
}

const ONE: &str = "grid [1] group [1]";

// ---------------------------------------------------------------- verifier

#[test]
fn verifies_a_kernel_and_records_uses() {
    let info = verify_text(
        "kernel @k(%a: f32[8] read, %o: f32[8] write) grid [2] group [1] {
           loop %i: i32 = 0:i32 to 8:i32 step 4 vectorize(4) {
             store %o[%i] = fma(load<4> %a[%i], load<4> %a[%i], 1.0:f32x4)
           }
         }",
    )
    .unwrap();
    assert_eq!(info.params[0].loads, 2);
    assert_eq!(info.params[0].max_lanes, 4);
    assert_eq!(info.params[1].stores, 1);
    assert_eq!(info.var_kinds, vec![Some(VarKind::LoopIndex)]);
    assert!(info.uses_fma && !info.uses_barrier);
    assert_eq!(info.max_lanes, 4);
    assert_eq!(info.dtypes, vec![DType::I32, DType::F32]);
}

#[test]
fn expr_ty_follows_the_operands() {
    let k = parse_ok(&format!(
        "kernel @k(%a: f16[8] read) {ONE} {{ let %c: boolx4 = less(load<4> %a[0:i32], 0.0:f16x4) }}"
    ));
    let info = verify_kernel(&k).unwrap();
    let Stmt::Let { value, .. } = &k.body[0] else {
        panic!("expected a let");
    };
    assert_eq!(info.expr_ty(&k, value), Ty::vector(DType::Bool, 4));
    assert_eq!(info.expr_ty(&k, &Expr::LocalId(0)), Ty::scalar(DType::U32));
}

#[test]
fn rejects_bad_launches() {
    for launch in [
        "grid [] group []",
        "grid [1, 1] group [1]",
        "grid [1, 1, 1, 1] group [1, 1, 1, 1]",
        "grid [4] group [0]",
        "grid [4294967296] group [1]",
    ] {
        let e = verify_err(&format!("kernel @k() {launch} {{ }}"));
        assert!(matches!(e, KernelError::Launch { .. }), "{launch}: {e}");
    }
    // An empty grid is a launch with no invocations.
    assert!(verify_text("kernel @k() grid [0] group [1] { }").is_ok());
}

#[test]
fn rejects_duplicate_and_malformed_names() {
    assert!(
        verify_text(&format!(
            "kernel @k(%a: f32[1] read) {ONE} {{ let %b: f32 = load %a[0:i32] }}"
        ))
        .is_ok()
    );
    let mut k = parse_ok(&format!(
        "kernel @k(%a: f32[1] read) {ONE} {{ let %b: f32 = load %a[0:i32] }}"
    ));
    k.vars[VarId::from_index(0)].name = "a".into();
    let e = verify_kernel(&k).unwrap_err();
    assert!(
        matches!(&e, KernelError::Name { name, problem: "used twice", .. } if name == "a"),
        "{e}"
    );
    k.vars[VarId::from_index(0)].name = "has space".into();
    let e = verify_kernel(&k).unwrap_err();
    assert!(matches!(e, KernelError::Name { .. }), "{e}");
}

#[test]
fn rejects_dangling_variables_and_buffers() {
    let mut k = Kernel::new("k");
    k.body.push(Stmt::Let {
        var: VarId::from_index(3),
        value: Expr::int(DType::I32, 1),
    });
    let e = verify_kernel(&k).unwrap_err();
    assert!(matches!(e, KernelError::NoSuchVar { index: 3, .. }), "{e}");
    let mut k = Kernel::new("k");
    k.body.push(Stmt::Store {
        buf: BufRef::Param(0),
        index: Expr::int(DType::I32, 0),
        value: Expr::int(DType::I32, 1),
    });
    let e = verify_kernel(&k).unwrap_err();
    assert!(matches!(e, KernelError::NoSuchBuffer { .. }), "{e}");
    assert!(e.to_string().contains("store %?param0[0:i32]"), "{e}");
}

#[test]
fn rejects_uses_out_of_scope_and_before_definition() {
    let e = verify_err(&format!(
        "kernel @k(%o: i32[1] write) {ONE} {{
           if true:bool {{ let %x: i32 = 1:i32 }}
           store %o[0:i32] = %x
         }}"
    ));
    assert!(
        matches!(&e, KernelError::Undefined { var, .. } if var == "x"),
        "{e}"
    );
    // Built directly: a use that precedes the definition.
    let mut k = Kernel::new("k");
    let x = k.var("x", Ty::scalar(DType::I32));
    let y = k.var("y", Ty::scalar(DType::I32));
    k.body.push(Stmt::Let {
        var: y,
        value: Expr::Var(x),
    });
    k.body.push(Stmt::Let {
        var: x,
        value: Expr::int(DType::I32, 0),
    });
    let e = verify_kernel(&k).unwrap_err();
    assert!(matches!(e, KernelError::Undefined { .. }), "{e}");
}

#[test]
fn rejects_a_second_definition() {
    let e = verify_err(&format!(
        "kernel @k() {ONE} {{ let %x: i32 = 1:i32 let %x: i32 = 2:i32 }}"
    ));
    assert!(
        matches!(&e, KernelError::Redefined { var, .. } if var == "x"),
        "{e}"
    );
}

#[test]
fn only_locals_are_assignable() {
    let e = verify_err(&format!(
        "kernel @k() {ONE} {{ let %x: i32 = 1:i32 set %x = 2:i32 }}"
    ));
    assert!(matches!(e, KernelError::NotAssignable { .. }), "{e}");
    let e = verify_err(&format!(
        "kernel @k() {ONE} {{ local %x: i32 = 1:i32 set %x = 2:i64 }}"
    ));
    assert!(matches!(e, KernelError::Type { .. }), "{e}");
}

#[test]
fn rejects_ill_typed_expressions() {
    let cases = [
        // Let type differs from the value.
        "let %x: f32 = 1:i32",
        // Index of a float type.
        "let %x: f32 = load %a[0.0:f32]",
        // Vector index.
        "let %x: f32 = load %a[0:i32x4]",
        // Fma on integers.
        "let %x: i32 = fma(1:i32, 1:i32, 1:i32)",
        // Select with a non-bool condition.
        "let %x: f32 = select(1:i32, 1.0:f32, 2.0:f32)",
        // Select with a condition of other lanes.
        "let %x: f32x4 = select(true:boolx2, 1.0:f32x4, 2.0:f32x4)",
        // Splat of a vector.
        "let %x: f32x4 = splat<4>(1.0:f32x2)",
        // Lane past the end.
        "let %x: f32 = lane<4>(1.0:f32x4)",
        // Lane reduction of a scalar.
        "let %x: f32 = reduce_add(1.0:f32)",
        // A non-bool if condition.
        "if 1:i32 { }",
        // Loop bounds of another type than the variable.
        "loop %i: i32 = 0:i64 to 4:i64 step 1 serial { }",
        // A float loop variable.
        "loop %i: f32 = 0.0:f32 to 4.0:f32 step 1 serial { }",
        // Store of another dtype than the buffer's.
        "store %o[0:i32] = 1:i32",
    ];
    for body in cases {
        let text = format!("kernel @k(%a: f32[4] read, %o: f32[4] write) {ONE} {{ {body} }}");
        let e = verify_err(&text);
        assert!(matches!(e, KernelError::Type { .. }), "{body}: {e}");
    }
}

#[test]
fn rejects_invalid_expressions() {
    let cases = [
        ("let %x: f32x3 = 1.0:f32x3", "3 lanes"),
        ("let %x: u32 = group_id(1)", "axis 1 of a rank-1 launch"),
        ("let %x: i8 = 300:i8", "does not fit i8"),
        ("let %x: u8 = -1:u8", "does not fit u8"),
        ("let %x: i32 = sqrt(4:i32)", "`sqrt` does not take i32"),
        (
            "let %x: f32 = bitwise_not(1.0:f32)",
            "`bitwise_not` does not take f32",
        ),
        (
            "let %x: i32 = bit_shift_left(1:i32, 2:i32)",
            "unsigned integer",
        ),
        (
            "let %x: f32 = prelu(1.0:f32, 2.0:f32)",
            "prelu is not a kernel operator",
        ),
        ("let %x: bool = and(1:i32, 1:i32)", "bool operands"),
    ];
    for (body, msg) in cases {
        let e = verify_err(&format!("kernel @k() {ONE} {{ {body} }}"));
        assert!(
            matches!(e, KernelError::Invalid { .. }) && e.to_string().contains(msg),
            "{body}: {e}"
        );
    }
}

#[test]
fn enforces_access_modes() {
    let e = verify_err(&format!(
        "kernel @k(%a: f32[4] read) {ONE} {{ store %a[0:i32] = 1.0:f32 }}"
    ));
    assert!(
        matches!(
            e,
            KernelError::Access {
                access: Access::Read,
                action: "stored",
                ..
            }
        ),
        "{e}"
    );
    let e = verify_err(&format!(
        "kernel @k(%a: f32[4] write) {ONE} {{ let %x: f32 = load %a[0:i32] }}"
    ));
    assert!(
        matches!(
            e,
            KernelError::Access {
                access: Access::Write,
                action: "loaded",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        verify_text(&format!(
            "kernel @k(%a: f32[4] read_write) {ONE} {{ store %a[0:i32] = load %a[1:i32] }}"
        ))
        .is_ok()
    );
}

#[test]
fn places_barriers_and_shared_memory_conservatively() {
    let cases = [
        ("grid [1] group [1]", "barrier", "one invocation"),
        (
            "grid [1] group [4]",
            "if less(local_id(0), 1:u32) { barrier }",
            "may differ",
        ),
        (
            "grid [1] group [4]",
            "let %l: u32 = local_id(0) loop %i: u32 = 0:u32 to %l step 1 serial { barrier }",
            "may differ",
        ),
        (
            "grid [1] group [4]",
            "loop %i: u32 = 0:u32 to 4:u32 step 1 parallel { barrier }",
            "parallel loop",
        ),
    ];
    for (launch, body, msg) in cases {
        let e = verify_err(&format!("kernel @k() {launch} {{ {body} }}"));
        assert!(
            matches!(e, KernelError::Barrier { .. }) && e.to_string().contains(msg),
            "{body}: {e}"
        );
    }
    // Uniform control flow may hold barriers.
    assert!(
        verify_text(
            "kernel @k() grid [2] group [4] {
           if less(group_id(0), 1:u32) { loop %i: u32 = 0:u32 to 2:u32 step 1 serial { barrier } }
         }"
        )
        .is_ok()
    );
    // A shared buffer of a one-invocation group is that invocation's scratch array.
    assert!(verify_text(&format!("kernel @k() {ONE} {{ shared %s: f32[4] }}")).is_ok());
}

#[test]
fn checks_loop_kinds() {
    let cases = [
        (
            "loop %i: i32 = 0:i32 to 4:i32 step 0 serial { }",
            "at least 1",
        ),
        (
            "loop %i: i32 = 0:i32 to 4:i32 step 2 vectorize(4) { }",
            "step 4",
        ),
        (
            "loop %i: i32 = 0:i32 to 4:i32 step 3 vectorize(3) { }",
            "2, 4, 8 or 16",
        ),
    ];
    for (body, msg) in cases {
        let e = verify_err(&format!("kernel @k() {ONE} {{ {body} }}"));
        assert!(
            matches!(e, KernelError::Loop { .. }) && e.to_string().contains(msg),
            "{body}: {e}"
        );
    }
    let e = verify_err(&format!(
        "kernel @k(%a: f32[16] read) {ONE} {{
           loop %i: i32 = 0:i32 to 16:i32 step 4 vectorize(4) {{ let %x: f32x8 = load<8> %a[%i] }}
         }}"
    ));
    assert!(
        e.to_string().contains("8-lane value inside a vectorize(4)"),
        "{e}"
    );
    let e = verify_err(&format!(
        "kernel @k() {ONE} {{
           local %acc: i32 = 0:i32
           loop %i: i32 = 0:i32 to 4:i32 step 1 parallel {{ set %acc = add(%acc, %i) }}
         }}"
    ));
    assert!(e.to_string().contains("iterations would race"), "{e}");
    // An accumulator declared inside the parallel body is private to the iteration.
    assert!(
        verify_text(&format!(
            "kernel @k() {ONE} {{
           loop %i: i32 = 0:i32 to 4:i32 step 1 parallel {{
             local %acc: i32 = 0:i32
             set %acc = add(%acc, %i)
           }}
         }}"
        ))
        .is_ok()
    );
}

// ---------------------------------------------------------------- interpreter

#[test]
fn integers_wrap_to_their_dtype() {
    let out = run(
        &format!(
            "kernel @k(%o: u8[3] write, %p: i64[2] write) {ONE} {{
               store %o[0:i32] = add(250:u8, 10:u8)
               store %o[1:i32] = sub(0:u8, 1:u8)
               store %o[2:i32] = cast<u8>(-1:i32)
               store %p[0:i32] = mul(9223372036854775807:i64, 2:i64)
               store %p[1:i32] = neg(-9223372036854775808:i64)
             }}"
        ),
        vec![vec![0; 3], vec![0; 16]],
    )
    .unwrap();
    assert_eq!(out[0], vec![4, 255, 255]);
    assert_eq!(values::<i64>(&out[1]), vec![-2, i64::MIN]);
}

#[test]
fn floats_round_to_their_dtype_after_every_operation() {
    let out = run(
        &format!(
            "kernel @k(%h: f16[3] write, %f: f32[2] write) {ONE} {{
               store %h[0:i32] = add(2048.0:f16, 1.0:f16)
               store %h[1:i32] = cast<f16>(add(2048.0:f32, 1.5:f32))
               store %h[2:i32] = mul(300.0:f16, 300.0:f16)
               store %f[0:i32] = add(add(16777216.0:f32, 1.0:f32), 1.0:f32)
               store %f[1:i32] = 0.1:f32
             }}"
        ),
        vec![vec![0; 6], vec![0; 8]],
    )
    .unwrap();
    let h: Vec<f64> = values::<f16>(&out[0]).iter().map(|x| x.to_f64()).collect();
    // 2049 ties to even in f16; 2049.5 rounds up; 90000 overflows f16.
    assert_eq!(h, vec![2048.0, 2050.0, f64::INFINITY]);
    // Each f32 add rounds: 2^24 + 1 is 2^24 again, twice.
    assert_eq!(values::<f32>(&out[1]), vec![16777216.0, 0.1]);
}

#[test]
fn fma_rounds_once() {
    // (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24: exact in one rounding, lost when squared in f32
    // first (the square rounds to 1 + 2^-11).
    let x = 1.0 + 2f32.powi(-12);
    let out = run(
        &format!(
            "kernel @k(%x: f32[1] read, %o: f32[2] write) {ONE} {{
               let %v: f32 = load %x[0:i32]
               store %o[0:i32] = fma(%v, %v, -1.0:f32)
               store %o[1:i32] = add(mul(%v, %v), -1.0:f32)
             }}"
        ),
        vec![bytes(&[x]), vec![0; 8]],
    )
    .unwrap();
    assert_eq!(
        values::<f32>(&out[1]),
        vec![2f32.powi(-11) + 2f32.powi(-24), 2f32.powi(-11)]
    );
}

#[test]
fn vector_ops_select_splat_lane_and_reduce() {
    let out = run(
        &format!(
            "kernel @k(%a: f32[4] read, %o: f32[8] write) {ONE} {{
               let %v: f32x4 = load<4> %a[0:i32]
               let %m: boolx4 = greater(%v, splat<4>(2.0:f32))
               store %o[0:i32] = select(%m, %v, 0.0:f32x4)
               store %o[4:i32] = reduce_add(%v)
               store %o[5:i32] = reduce_max(%v)
               store %o[6:i32] = lane<3>(%v)
               store %o[7:i32] = select(lane<0>(%m), 1.0:f32, reduce_min(%v))
             }}"
        ),
        vec![bytes(&[1.0f32, 3.0, f32::NAN, 4.0]), vec![0; 32]],
    )
    .unwrap();
    let o = values::<f32>(&out[1]);
    assert_eq!(o[..2], [0.0, 3.0]);
    // NaN > 2 is false; reduce_add and reduce_max propagate NaN.
    assert_eq!(o[2], 0.0);
    assert_eq!(o[3], 4.0);
    assert!(o[4].is_nan() && o[5].is_nan() && o[7].is_nan());
    assert_eq!(o[6], 4.0);
}

#[test]
fn out_of_bounds_loads_and_stores_are_errors() {
    let k = |body: &str| format!("kernel @k(%a: f32[4] read, %o: f32[4] write) {ONE} {{ {body} }}");
    let bufs = || vec![vec![0; 16], vec![0; 16]];
    let e = run(&k("store %o[0:i32] = load %a[-1:i32]"), bufs()).unwrap_err();
    assert_eq!(
        e,
        KernelError::OutOfBounds {
            kernel: "k".into(),
            buffer: "a".into(),
            index: -1,
            lanes: 1,
            len: 4,
        }
    );
    let e = run(&k("store %o[1:i32] = load<4> %a[0:i32]"), bufs()).unwrap_err();
    assert!(
        matches!(&e, KernelError::OutOfBounds { buffer, index: 1, lanes: 4, len: 4, .. } if buffer == "o"),
        "{e}"
    );
    let e = run(
        &k("store %o[0:u64] = load %a[18446744073709551615:u64]"),
        bufs(),
    )
    .unwrap_err();
    assert!(matches!(e, KernelError::OutOfBounds { .. }), "{e}");
    // A failed launch leaves the buffers untouched.
    let mut b = bufs();
    let kernel = parse_ok(&k("store %o[0:i32] = 1.0:f32 store %o[4:i32] = 2.0:f32"));
    let info = verify_kernel(&kernel).unwrap();
    assert!(run_kernel(&kernel, &info, &mut b).is_err());
    assert_eq!(b, bufs());
}

#[test]
fn integer_division_by_zero_is_an_error() {
    for op in ["div", "mod", "fmod"] {
        let e = run(
            &format!(
                "kernel @k(%o: i32[1] write) {ONE} {{ store %o[0:i32] = {op}(1:i32, 0:i32) }}"
            ),
            vec![vec![0; 4]],
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                KernelError::DivisionByZero {
                    dtype: DType::I32,
                    ..
                }
            ),
            "{op}: {e}"
        );
    }
    // Float division by zero is IEEE.
    let out = run(
        &format!(
            "kernel @k(%o: f32[1] write) {ONE} {{ store %o[0:i32] = div(1.0:f32, -0.0:f32) }}"
        ),
        vec![vec![0; 4]],
    )
    .unwrap();
    assert_eq!(values::<f32>(&out[0]), vec![f32::NEG_INFINITY]);
}

#[test]
fn checks_buffer_count_and_sizes() {
    let text = format!("kernel @k(%a: f32[4] read) {ONE} {{ }}");
    let e = run(&text, vec![]).unwrap_err();
    assert!(
        matches!(
            e,
            KernelError::BufferCount {
                expected: 1,
                actual: 0,
                ..
            }
        ),
        "{e}"
    );
    let e = run(&text, vec![vec![0; 15]]).unwrap_err();
    assert!(
        matches!(
            e,
            KernelError::BufferSize {
                expected: 16,
                actual: 15,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn runs_every_group_and_local_id() {
    // out[g * 3 + l] = 10 * g + l over grid [2, 1] x group [3, 1].
    let out = run(
        "kernel @k(%o: u32[6] write) grid [2, 1] group [3, 1] {
           let %g: u32 = group_id(0)
           let %l: u32 = local_id(0)
           store %o[add(mul(%g, 3:u32), %l)] = add(mul(%g, 10:u32), add(%l, local_id(1)))
         }",
        vec![vec![0; 24]],
    )
    .unwrap();
    assert_eq!(values::<u32>(&out[0]), vec![0, 1, 2, 10, 11, 12]);
}

#[test]
fn barriers_separate_phases() {
    let text = "kernel @k(%x: i32[4] read, %y: i32[4] write) grid [1] group [4] {
                  shared %t: i32[4]
                  let %l: u32 = local_id(0)
                  store %t[%l] = load %x[%l]
                  barrier
                  store %y[%l] = load %t[bitwise_and(add(%l, 1:u32), 3:u32)]
                }";
    let out = run(text, vec![bytes(&[1i32, 2, 3, 4]), vec![0; 16]]).unwrap();
    assert_eq!(values::<i32>(&out[1]), vec![2, 3, 4, 1]);
    // Without the barrier, invocation 0 reads element 1 before invocation 1 stores it.
    let e = run(
        &text.replace("barrier", ""),
        vec![bytes(&[1i32, 2, 3, 4]), vec![0; 16]],
    )
    .unwrap_err();
    assert!(
        matches!(&e, KernelError::Uninitialized { buffer, index: 1, .. } if buffer == "t"),
        "{e}"
    );
}

#[test]
fn shared_races_within_a_phase_are_caught() {
    let text = |between: &str, last: &str| {
        format!(
            "kernel @k(%y: i32[2] write) grid [1] group [2] {{
               shared %t: i32[2]
               let %l: u32 = local_id(0)
               store %t[%l] = add(cast<i32>(%l), 10:i32)
               {between}
               {last}
             }}"
        )
    };
    // Invocation 1 loads the element invocation 0 stored in the same phase.
    let e = run(&text("", "store %y[%l] = load %t[0:u32]"), vec![vec![0; 8]]).unwrap_err();
    assert_eq!(
        e,
        KernelError::SharedRace {
            kernel: "k".into(),
            buffer: "t".into(),
            index: 0,
            stored_by: 0,
            then: 1,
            action: "loaded",
        }
    );
    // Both invocations store element 0 in one phase.
    let e = run(&text("", "store %t[0:u32] = 1:i32"), vec![vec![0; 8]]).unwrap_err();
    assert!(
        matches!(
            e,
            KernelError::SharedRace {
                action: "stored",
                stored_by: 0,
                then: 1,
                ..
            }
        ),
        "{e}"
    );
    // A barrier in between makes both correct.
    let out = run(
        &text("barrier", "store %y[%l] = load %t[0:u32]"),
        vec![vec![0; 8]],
    )
    .unwrap();
    assert_eq!(values::<i32>(&out[0]), vec![10, 10]);
}

#[test]
fn divergent_barriers_are_caught_at_run_time() {
    // The verifier rejects this kernel; run it anyway with the info of a valid one.
    let bad = parse_ok(
        "kernel @k() grid [1] group [2] {
           if equal(local_id(0), 0:u32) { barrier }
         }",
    );
    let info = verify_text("kernel @k() grid [1] group [2] { }").unwrap();
    let e = run_kernel(&bad, &info, &mut []).unwrap_err();
    assert!(matches!(e, KernelError::BarrierDivergence { .. }), "{e}");
    let bad = parse_ok(
        "kernel @k() grid [1] group [2] {
           if equal(local_id(0), 0:u32) { barrier } else { barrier }
         }",
    );
    let e = run_kernel(&bad, &info, &mut []).unwrap_err();
    assert!(matches!(e, KernelError::BarrierDivergence { .. }), "{e}");
}

#[test]
fn read_write_buffers_and_empty_loops() {
    let out = run(
        &format!(
            "kernel @k(%a: i16[3] read_write) {ONE} {{
               loop %i: i32 = 0:i32 to 3:i32 step 2 serial {{
                 store %a[%i] = mul(load %a[%i], -2:i16)
               }}
               loop %j: i32 = 5:i32 to 3:i32 step 1 serial {{ store %a[%j] = 0:i16 }}
             }}"
        ),
        vec![bytes(&[7i16, 8, 20000])],
    )
    .unwrap();
    assert_eq!(values::<i16>(&out[0]), vec![-14, 8, 25536]);
}

#[test]
fn only_stored_elements_are_written_back() {
    let nan_payload = f32::from_bits(0x7fc0_0123);
    let text = format!(
        "kernel @k(%a: f32[2] read_write) {ONE} {{ store %a[0:i32] = add(load %a[1:i32], 1.0:f32) }}"
    );
    let before = bytes(&[5.0f32, nan_payload]);
    let out = run(&text, vec![before.clone()]).unwrap();
    assert_eq!(out[0][4..], before[4..]);
    assert!(values::<f32>(&out[0])[0].is_nan());
    // The info of another kernel is refused.
    let k = parse_ok(&text);
    let other = verify_text(&format!("kernel @k() {ONE} {{ }}")).unwrap();
    let e = run_kernel(&k, &other, &mut [before]).unwrap_err();
    assert!(
        e.to_string().contains("not made by verifying this kernel"),
        "{e}"
    );
}

// ---------------------------------------------------------------- text form

/// The `kernel ...` examples of the module docs, without their `//! ` prefixes.
fn doc_examples() -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in include_str!("mod.rs").lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        match &mut current {
            None if doc.starts_with("kernel @") => current = Some(format!("{doc}\n")),
            Some(_) if doc == "```" => out.extend(current.take()),
            Some(text) => {
                text.push_str(doc);
                text.push('\n');
            }
            None => {}
        }
    }
    out
}

#[test]
fn module_doc_examples_parse_verify_run_and_print_verbatim() {
    let examples = doc_examples();
    assert_eq!(examples.len(), 2);
    for text in &examples {
        let k = parse_ok(text);
        let info = verify_kernel(&k).unwrap();
        assert_eq!(print_kernel(&k), *text);
        let mut bufs: Vec<Vec<u8>> = k
            .params
            .iter()
            .map(|p| vec![1; p.len * p.dtype.size_bytes()])
            .collect();
        run_kernel(&k, &info, &mut bufs).unwrap();
    }
    let k = parse_ok(&examples[1]);
    let info = verify_kernel(&k).unwrap();
    let mut bufs = vec![bytes(&[5i32, 6, 7, 8]), vec![0; 16]];
    run_kernel(&k, &info, &mut bufs).unwrap();
    assert_eq!(values::<i32>(&bufs[1]), vec![8, 7, 6, 5]);
}

#[test]
fn parse_errors_have_positions() {
    let cases = [
        (
            "kernel @k() grid [1] group [1] {\n  frob\n}",
            2,
            3,
            "unknown statement `frob`",
        ),
        (
            "kernel @k() grid [1] group [1] {\n  let %x: f33 = 1:i32\n}",
            2,
            11,
            "`f33` is not a type",
        ),
        (
            "kernel @k() grid [1] group [1] {\n  let %x: i32 = %y\n}",
            2,
            17,
            "unknown name `%y`",
        ),
        (
            "kernel @k() grid [1] group [1] {\n  let %x: i32 = 1.5:i32\n}",
            2,
            17,
            "not a i32 value",
        ),
        (
            "kernel @k(%a: f32[2] read) grid [1] group [1] {\n  let %x: f32 = %a\n}",
            2,
            17,
            "found a buffer",
        ),
        (
            "kernel @k() grid [1] group [1] {\n  let %x: i32 = frob(1:i32)\n}",
            2,
            17,
            "unknown operator `frob`",
        ),
        (
            "kernel @k(%a: f32[2] rw) grid [1] group [1] { }",
            1,
            22,
            "unknown access `rw`",
        ),
        (
            "kernel @k() grid [1] group [1] { } extra",
            1,
            36,
            "expected end of input",
        ),
        (
            "kernel @k() grid [1] group [1] {\n  let %x: i32 = 1:i32 $\n}",
            2,
            23,
            "unexpected character",
        ),
        (
            "kernel @k(%a: f32[1] read, %a: f32[1] read) grid [1] group [1] { }",
            1,
            28,
            "already defined",
        ),
    ];
    for (text, line, col, msg) in cases {
        let e = parse_kernel(text).unwrap_err();
        assert!(
            e.line == line && e.col == col && e.message.contains(msg),
            "{text}: {e}"
        );
    }
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_stack_overflow() {
    let deep = format!(
        "kernel @k() {ONE} {{ let %x: f32 = {}1.0:f32{} }}",
        "neg(".repeat(5000),
        ")".repeat(5000)
    );
    let e = parse_kernel(&deep).unwrap_err();
    assert!(e.message.contains("nesting deeper than"), "{e}");
    let fine = deep.replace(&"neg(".repeat(5000), &"neg(".repeat(50));
    let fine = fine.replace(&")".repeat(5000), &")".repeat(50));
    assert!(verify_text(&fine).is_ok());
}

#[test]
fn launches_beyond_the_interpreter_limits_are_errors() {
    let e = run("kernel @k() grid [1] group [65536, 2] { }", vec![]).unwrap_err();
    assert!(matches!(e, KernelError::Launch { .. }), "{e}");
    let e = run(
        "kernel @k() grid [1] group [2] { shared %s: f64[1000000000] }",
        vec![],
    )
    .unwrap_err();
    assert!(e.to_string().contains("bytes of shared memory"), "{e}");
    // A grid with an empty axis runs nothing.
    let out = run(
        "kernel @k(%o: i32[1] write) grid [3, 0] group [1, 1] { store %o[0:i32] = 7:i32 }",
        vec![vec![0; 4]],
    )
    .unwrap();
    assert_eq!(values::<i32>(&out[0]), vec![0]);
}

#[test]
fn constants_print_exactly() {
    let text = format!(
        "kernel @k(%o: f64[1] write) {ONE} {{
           store %o[0:i32] = add(0.1:f64, add(-0.0:f64, add(5e-324:f64, add(-inf:f64, nan:f64))))
           let %b: i128x2 = 1:i64x2
         }}"
    );
    // i128 is not a dtype: the parser says so.
    assert!(parse_kernel(&text).is_err());
    let text = text.replace("i128x2", "i64x2");
    let k = parse_ok(&text);
    let printed = print_kernel(&k);
    assert!(
        printed.contains("add(0.1:f64, add(-0.0:f64, add(5e-324:f64, add(-inf:f64, nan:f64))))"),
        "{printed}"
    );
    assert!(printed.contains("let %b: i64x2 = 1:i64x2"), "{printed}");
}

mod round_trip {
    //! print → parse → print is the identity on random kernels, and verification and
    //! interpretation never panic on them.
    use super::*;
    use crate::op::{BinaryOp, UnaryOp};
    use proptest::prelude::*;

    /// Builds a kernel from a stream of choices (shrinks with the stream).
    struct Gen<'a> {
        seeds: &'a [u64],
        pos: usize,
        k: Kernel,
        scope: Vec<VarId>,
    }

    impl Gen<'_> {
        fn pick(&mut self, n: usize) -> usize {
            let v = self.seeds.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            (v % n.max(1) as u64) as usize
        }

        fn in_scope(&mut self) -> VarId {
            let i = self.pick(self.scope.len());
            self.scope[i]
        }

        fn raw(&mut self) -> u64 {
            let v = self.seeds.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            v
        }

        fn dtype(&mut self) -> DType {
            DType::ALL[self.pick(DType::ALL.len())]
        }

        fn ty(&mut self) -> Ty {
            let lanes = [1, 1, 2, 4, 8, 16][self.pick(6)];
            Ty::vector(self.dtype(), lanes)
        }

        fn buf(&mut self) -> BufRef {
            let (np, ns) = (self.k.params.len(), self.k.shared.len());
            let i = self.pick(np + ns);
            if i < np {
                BufRef::Param(i)
            } else {
                BufRef::Shared(i - np)
            }
        }

        fn constant(&mut self) -> Expr {
            let ty = self.ty();
            let value = if ty.dtype == DType::Bool {
                Scalar::Bool(self.pick(2) == 1)
            } else if ty.dtype.is_float() {
                let specials = [0.1, -0.0, f64::NAN, f64::INFINITY, -1e300, 5e-324, 1.5];
                match self.pick(2) {
                    0 => Scalar::Float(specials[self.pick(specials.len())]),
                    _ => Scalar::Float(f64::from_bits(self.raw())),
                }
            } else {
                let hi = self.raw() as i128;
                Scalar::Int((hi << 64 | self.raw() as i128) >> self.pick(128))
            };
            Expr::Const { ty, value }
        }

        fn expr(&mut self, depth: usize) -> Expr {
            let leaf = depth == 0 || self.pick(3) == 0;
            let bx = |g: &mut Self| Box::new(g.expr(depth.saturating_sub(1)));
            if leaf {
                return match self.pick(4) {
                    0 if !self.scope.is_empty() => Expr::Var(self.in_scope()),
                    1 => Expr::GroupId(self.pick(3) as u8),
                    2 => Expr::LocalId(self.pick(3) as u8),
                    _ => self.constant(),
                };
            }
            match self.pick(11) {
                0 if !self.k.params.is_empty() || !self.k.shared.is_empty() => Expr::Load {
                    buf: self.buf(),
                    index: bx(self),
                    lanes: [1, 4, 16][self.pick(3)],
                },
                1 => Expr::Unary {
                    op: UnaryOp::ALL[self.pick(UnaryOp::ALL.len())],
                    x: bx(self),
                },
                2 => {
                    let op = match self.pick(BinaryOp::ALL.len() + 2) {
                        0 => BinOp::Min,
                        1 => BinOp::Max,
                        i => BinOp::Op(BinaryOp::ALL[i - 2]),
                    };
                    Expr::Binary {
                        op,
                        a: bx(self),
                        b: bx(self),
                    }
                }
                3 => Expr::Fma {
                    a: bx(self),
                    b: bx(self),
                    c: bx(self),
                },
                4 => Expr::Select {
                    cond: bx(self),
                    a: bx(self),
                    b: bx(self),
                },
                5 => Expr::Cast {
                    to: self.dtype(),
                    x: bx(self),
                },
                6 => Expr::Splat {
                    x: bx(self),
                    lanes: [2, 4, 8][self.pick(3)],
                },
                7 => Expr::Lane {
                    x: bx(self),
                    lane: self.pick(16) as u8,
                },
                8 => Expr::ReduceLanes {
                    op: LaneReduce::ALL[self.pick(4)],
                    x: bx(self),
                },
                _ => self.constant(),
            }
        }

        fn new_var(&mut self) -> VarId {
            let prefixes = ["v", "acc", "t.", "_x", ""];
            let name = format!("{}{}", prefixes[self.pick(5)], self.k.vars.len());
            let ty = self.ty();
            self.k.var(name, ty)
        }

        fn block(&mut self, depth: usize) -> Vec<Stmt> {
            let n = self.pick(4);
            let outer = self.scope.len();
            let mut out = Vec::new();
            for _ in 0..n {
                out.push(self.stmt(depth));
            }
            self.scope.truncate(outer);
            out
        }

        fn stmt(&mut self, depth: usize) -> Stmt {
            match self.pick(8) {
                0 | 1 => {
                    let value = self.expr(3);
                    let var = self.new_var();
                    self.scope.push(var);
                    if self.pick(2) == 0 {
                        Stmt::Let { var, value }
                    } else {
                        Stmt::Local { var, init: value }
                    }
                }
                2 if !self.scope.is_empty() => Stmt::Assign {
                    var: self.in_scope(),
                    value: self.expr(2),
                },
                3 if !self.k.params.is_empty() || !self.k.shared.is_empty() => Stmt::Store {
                    buf: self.buf(),
                    index: self.expr(2),
                    value: self.expr(2),
                },
                4 if depth > 0 => {
                    let start = self.expr(1);
                    let end = self.expr(1);
                    let var = self.new_var();
                    self.scope.push(var);
                    let kinds = [
                        LoopKind::Serial,
                        LoopKind::Unroll,
                        LoopKind::Parallel,
                        LoopKind::Vectorize(4),
                    ];
                    let kind = kinds[self.pick(4)];
                    let step = self.pick(5) as u32;
                    let body = self.block(depth - 1);
                    self.scope.pop();
                    Stmt::Loop {
                        var,
                        start,
                        end,
                        step,
                        kind,
                        body,
                    }
                }
                5 if depth > 0 => Stmt::If {
                    cond: self.expr(2),
                    then: self.block(depth - 1),
                    els: self.block(depth - 1),
                },
                6 => Stmt::Barrier,
                _ => Stmt::Let {
                    var: {
                        let v = self.new_var();
                        self.scope.push(v);
                        v
                    },
                    value: Expr::int(DType::I32, 0),
                },
            }
        }
    }

    fn kernel(seeds: &[u64]) -> Kernel {
        let mut g = Gen {
            seeds,
            pos: 0,
            k: Kernel::new(format!("k{}", seeds.first().copied().unwrap_or(0) % 100)),
            scope: Vec::new(),
        };
        let rank = 1 + g.pick(3);
        g.k.launch.grid = (0..rank).map(|_| g.pick(3)).collect();
        g.k.launch.group = (0..rank).map(|_| 1 + g.pick(2)).collect();
        let accesses = [Access::Read, Access::Write, Access::ReadWrite];
        for i in 0..g.pick(4) {
            let dtype = g.dtype();
            let len = g.pick(20);
            let access = accesses[g.pick(3)];
            g.k.param(format!("p{i}"), dtype, len, access);
        }
        for i in 0..g.pick(2) {
            let dtype = g.dtype();
            let len = g.pick(20);
            g.k.shared_buf(format!("s{i}"), dtype, len);
        }
        g.k.body = g.block(2);
        g.k
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn print_parse_print_is_identity(seeds in prop::collection::vec(any::<u64>(), 0..400)) {
            let k = kernel(&seeds);
            let printed = print_kernel(&k);
            let parsed = parse_kernel(&printed)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
            prop_assert_eq!(print_kernel(&parsed), printed);
        }

        #[test]
        fn verify_and_run_never_panic(seeds in prop::collection::vec(any::<u64>(), 0..400)) {
            let k = kernel(&seeds);
            if let Ok(info) = verify_kernel(&k) {
                let mut bufs: Vec<Vec<u8>> = k
                    .params
                    .iter()
                    .map(|p| vec![0; p.len * p.dtype.size_bytes()])
                    .collect();
                // Loops have random bounds; only loop-free kernels are run.
                if !print_kernel(&k).contains("loop ") {
                    let _ = run_kernel(&k, &info, &mut bufs);
                }
            }
        }
    }
}

mod against_graph {
    //! A vectorized elementwise kernel with a scalar tail computes, byte for byte, what the
    //! graph interpreter computes for the same operator over the whole tensor.
    use super::*;
    use crate::error::At;
    use crate::interp::eval_op;
    use crate::interp::values::Arr;
    use crate::op::{BinaryOp, Op, VariadicOp};
    use proptest::prelude::*;

    const OPS: [&str; 12] = [
        "add",
        "sub",
        "mul",
        "div",
        "mod",
        "fmod",
        "pow",
        "min",
        "max",
        "less",
        "equal",
        "bitwise_xor",
    ];

    fn graph_op(name: &str) -> Op {
        match name {
            "min" => Op::Variadic(VariadicOp::Min),
            "max" => Op::Variadic(VariadicOp::Max),
            _ => BinaryOp::ALL
                .iter()
                .find(|b| b.name() == name)
                .map(|b| Op::Binary(*b))
                .unwrap_or(Op::Binary(BinaryOp::Add)),
        }
    }

    fn input(dtype: DType, raw: &[u64]) -> Tensor {
        let specials = [
            0.0,
            -0.0,
            1.5,
            -2.25,
            f64::NAN,
            f64::INFINITY,
            1e-30,
            65504.0,
        ];
        let n = vec![raw.len()];
        if dtype.is_float() {
            let v = raw
                .iter()
                .map(|&r| match r % 3 {
                    0 => specials[(r / 3 % 8) as usize],
                    _ => (r as i64 % 2000) as f64 / 8.0,
                })
                .collect();
            Arr::floats(dtype, n, v).to_tensor()
        } else {
            Arr::ints(dtype, n, raw.iter().map(|&r| r as i64 as i128).collect()).to_tensor()
        }
    }

    fn kernel_text(op: &str, dtype: DType, out: DType, n: usize, lanes: usize) -> String {
        let m = n - n % lanes;
        let (kind, vty) = if lanes == 1 {
            ("serial".to_string(), String::new())
        } else {
            (format!("vectorize({lanes})"), format!("<{lanes}>"))
        };
        format!(
            "kernel @ew(%a: {dtype}[{n}] read, %b: {dtype}[{n}] read, %o: {out}[{n}] write) grid [1] group [1] {{
               loop %i: i32 = 0:i32 to {m}:i32 step {lanes} {kind} {{
                 store %o[%i] = {op}(load{vty} %a[%i], load{vty} %b[%i])
               }}
               loop %j: i32 = {m}:i32 to {n}:i32 step 1 serial {{
                 store %o[%j] = {op}(load %a[%j], load %b[%j])
               }}
             }}"
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn elementwise_kernels_match_the_graph_interpreter(
            op in 0..OPS.len(),
            d in 0..DType::ALL.len(),
            lanes in prop::sample::select(vec![1usize, 2, 4, 8]),
            a in prop::collection::vec(any::<u64>(), 0..20),
            b_seed in any::<u64>(),
        ) {
            let (op, dtype) = (OPS[op], DType::ALL[d]);
            let n = a.len();
            let b: Vec<u64> = (0..n as u64).map(|i| b_seed.rotate_left(i as u32 * 7) ^ i).collect();
            let out = if op == "less" || op == "equal" { DType::Bool } else { dtype };
            let k = parse_ok(&kernel_text(op, dtype, out, n, lanes));
            let Ok(info) = verify_kernel(&k) else {
                // The operator does not take this dtype.
                return Ok(());
            };
            let (ta, tb) = (input(dtype, &a), input(dtype, &b));
            let mut bufs = vec![ta.bytes().to_vec(), tb.bytes().to_vec(), vec![0; n * out.size_bytes()]];
            let at = At { node: "n".into(), op: "op" };
            let graph = eval_op(&graph_op(op), &at, &[Some(&ta), Some(&tb)], 1);
            match (run_kernel(&k, &info, &mut bufs), graph) {
                (Ok(()), Ok(g)) => prop_assert_eq!(&bufs[2], g[0].bytes()),
                (Err(KernelError::DivisionByZero { .. }), Err(_)) => {}
                (kr, gr) => prop_assert!(false, "kernel {:?} vs graph {:?}", kr, gr.map(|_| ())),
            }
        }
    }
}

/// A one-warp kernel around one `mma` statement (`{acc}` declares the accumulator, `{stmt}`
/// is the statement, `{group}` the launch's group).
fn mma_kernel(group: &str, acc: &str, stmt: &str) -> String {
    let grid = if group.contains(',') { "1, 1" } else { "1" };
    format!(
        "kernel @m(%x: f16[512] read, %o: f32[4] write) grid [{grid}] group [{group}] {{
  shared %sa: f16[512]
  shared %sb: f16[512]
  shared %sf: f32[512]
  let %l: u32 = local_id(0)
  store %sa[%l] = load %x[%l]
  store %sb[%l] = load %x[%l]
  barrier
  {acc}
  {stmt}
}}"
    )
}

#[test]
fn mma_statements_are_verified() {
    let acc = "local %acc: f32x4 = 0.0:f32x4";
    let ok = "mma m16n8k16 %acc, %sa[0:u32] stride 24, %sb[0:u32] stride 24";
    verify_text(&mma_kernel("32", acc, ok)).expect("a valid mma verifies");
    let bad = [
        // Not whole warps, or more than one axis.
        mma_kernel("16", acc, ok),
        mma_kernel("32, 2", acc, ok),
        // The accumulator must be an f32x4 local.
        mma_kernel("32", "local %acc: f32x2 = 0.0:f32x2", ok),
        mma_kernel("32", "let %acc: f32x4 = 0.0:f32x4", ok),
        // Shared operands of a dtype the shape takes, of one dtype.
        mma_kernel(
            "32",
            acc,
            "mma m16n8k16 %acc, %x[0:u32] stride 24, %sb[0:u32] stride 24",
        ),
        mma_kernel(
            "32",
            acc,
            "mma m16n8k16 %acc, %sf[0:u32] stride 24, %sb[0:u32] stride 24",
        ),
        mma_kernel(
            "32",
            acc,
            "mma m16n8k8.tf32 %acc, %sa[0:u32] stride 24, %sb[0:u32] stride 24",
        ),
        // Strides: at least k, even for 16-bit operands.
        mma_kernel(
            "32",
            acc,
            "mma m16n8k16 %acc, %sa[0:u32] stride 8, %sb[0:u32] stride 24",
        ),
        mma_kernel(
            "32",
            acc,
            "mma m16n8k16 %acc, %sa[0:u32] stride 25, %sb[0:u32] stride 24",
        ),
        // Under control flow that depends on the invocation.
        mma_kernel("32", acc, &format!("if less(%l, 4:u32) {{\n    {ok}\n  }}")),
    ];
    for text in bad {
        let e = verify_err(&text);
        assert!(
            matches!(
                e,
                KernelError::Invalid { .. }
                    | KernelError::Type { .. }
                    | KernelError::NotAssignable { .. }
            ),
            "{e}\n{text}"
        );
    }
    // An odd operand index is a run-time error of the interpreter.
    let text = mma_kernel(
        "32",
        acc,
        "mma m16n8k16 %acc, %sa[1:u32] stride 24, %sb[0:u32] stride 24",
    );
    let k = parse_ok(&text);
    let info = verify_kernel(&k).expect("verifies");
    let mut bufs = vec![vec![0u8; 1024], vec![0u8; 16]];
    let e = run_kernel(&k, &info, &mut bufs).expect_err("odd index");
    assert!(e.to_string().contains("multiple of 2"), "{e}");
    // Text round trip.
    let printed = print_kernel(&parse_ok(&mma_kernel("32", acc, ok)));
    assert!(printed.contains(ok), "{printed}");
    assert_eq!(print_kernel(&parse_ok(&printed)), printed);
}
