//! PTX for every kernel-IR operator on every dtype it accepts, and for random expressions,
//! checked by `ptxas` for sm_80 and sm_90 (skipped, with the reason printed, when `ptxas` is
//! not installed). A kernel the target refuses must be a typed `Unsupported` error, and the
//! refusals are limited to the f64 functions the crate docs list.

use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;
use tessera_cuda::{Arch, CudaTarget};
use tessera_ir::DType;
use tessera_ir::kernel::{parse_kernel, verify_kernel};
use tessera_runtime::TargetError;

const ALL: [DType; 12] = [
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
];

fn all_dtypes() -> Vec<DType> {
    let mut v = ALL.to_vec();
    v.push(DType::F64);
    v
}

fn ptxas() -> Option<&'static PathBuf> {
    static P: OnceLock<Option<PathBuf>> = OnceLock::new();
    P.get_or_init(tessera_cuda::ptxas::ptxas_for_tests).as_ref()
}

fn ty(d: DType, lanes: u8) -> String {
    if lanes == 1 {
        d.to_string()
    } else {
        format!("{d}x{lanes}")
    }
}

/// `store %y[i] = body` over 24 elements with inputs `%a0..`, as kernel text; `None` when it
/// does not verify (the operator does not take the dtype).
fn elementwise(name: &str, inputs: &[(DType, u8)], out: DType, body: &str) -> Option<String> {
    let n = 48;
    let lanes = inputs.first().map_or(1, |i| i.1);
    let mut params: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, (d, _))| format!("%x{i}: {d}[{n}] read"))
        .collect();
    params.push(format!("%y: {out}[{n}] write"));
    let mut text = format!(
        "kernel @{name}({}) grid [{}] group [32] {{\n  let %i: u32 = mul(add(mul(group_id(0), 32:u32), local_id(0)), {lanes}:u32)\n",
        params.join(", "),
        n / usize::from(lanes) / 32 + 1
    );
    for (i, (d, l)) in inputs.iter().enumerate() {
        text += &format!("  let %a{i}: {} = load<{l}> %x{i}[%i]\n", ty(*d, *l));
    }
    text += &format!("  store %y[%i] = {body}\n}}\n");
    let k = parse_kernel(&text).ok()?;
    verify_kernel(&k).ok()?;
    Some(text)
}

/// Every operator × dtype × lane count kernel that verifies.
fn op_kernels() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |name: String, text: Option<String>| {
        if let Some(t) = text {
            out.push((name, t));
        }
    };
    for d in all_dtypes() {
        let dn = d.to_string();
        for &op in tessera_ir::op::UnaryOp::ALL.iter() {
            let o = if op == tessera_ir::op::UnaryOp::IsNaN {
                DType::Bool
            } else {
                d
            };
            for lanes in [1u8, 4] {
                let name = format!("u_{}_{dn}_{lanes}", op.name());
                let body = format!("{}(%a0)", op.name());
                add(name.clone(), elementwise(&name, &[(d, lanes)], o, &body));
            }
        }
        let names: Vec<&str> = tessera_ir::op::BinaryOp::ALL
            .iter()
            .map(|o| o.name())
            .chain(["min", "max"])
            .filter(|n| *n != "prelu")
            .collect();
        for bn in names {
            let cmp = [
                "equal",
                "less",
                "less_or_equal",
                "greater",
                "greater_or_equal",
            ]
            .contains(&bn);
            let o = if cmp { DType::Bool } else { d };
            for lanes in [1u8, 2, 4, 8] {
                let name = format!("b_{bn}_{dn}_{lanes}");
                let body = format!("{bn}(%a0, %a1)");
                add(
                    name.clone(),
                    elementwise(&name, &[(d, lanes), (d, lanes)], o, &body),
                );
            }
        }
        for to in all_dtypes() {
            for lanes in [1u8, 4] {
                let name = format!("c_{dn}_{to}_{lanes}");
                let body = format!("cast<{to}>(%a0)");
                add(name.clone(), elementwise(&name, &[(d, lanes)], to, &body));
            }
        }
        for lanes in [1u8, 2, 4, 8, 16] {
            let t = ty(d, lanes);
            let inputs = [(d, lanes), (d, lanes), (d, lanes)];
            let mut bodies = vec![
                ("fma", "fma(%a0, %a1, %a2)".to_string()),
                ("sel", "select(less(%a0, %a1), %a2, %a1)".to_string()),
                ("selc", "select(true:bool, %a0, %a1)".to_string()),
                ("konst", format!("add(mul(%a0, %a1), 1:{t})")),
            ];
            if lanes > 1 {
                for red in ["reduce_add", "reduce_mul", "reduce_min", "reduce_max"] {
                    bodies.push((
                        red,
                        format!("splat<{lanes}>(max({red}(%a0), lane<1>(%a1)))"),
                    ));
                }
            }
            for (tag, body) in bodies {
                let name = format!("m_{tag}_{dn}_{lanes}");
                add(name.clone(), elementwise(&name, &inputs, d, &body));
            }
        }
    }
    out
}

/// Renders every kernel for `arch`: the modules, and the refusals (which must be typed).
fn render_all(kernels: &[(String, String)], arch: Arch) -> (Vec<(String, String)>, Vec<String>) {
    let target = CudaTarget::new(arch);
    let mut modules = Vec::new();
    let mut refused = Vec::new();
    for (name, text) in kernels {
        let k = parse_kernel(text).expect("parses");
        let info = verify_kernel(&k).expect("verifies");
        match target.ptx(&k, &info) {
            Ok(p) => modules.push((name.clone(), p)),
            Err(TargetError::Unsupported { what, .. }) => refused.push(format!("{name}: {what}")),
            Err(e) => panic!("{name}: internal error {e}\n{text}"),
        }
    }
    (modules, refused)
}

#[test]
fn every_operator_and_dtype_renders_and_passes_ptxas() {
    let kernels = op_kernels();
    assert!(kernels.len() > 1200, "{} kernels", kernels.len());
    for arch in [Arch::Sm80, Arch::Sm90] {
        let (modules, refused) = render_all(&kernels, arch);
        // Only f64 transcendentals, pow, mod and fmod are refused.
        for r in &refused {
            assert!(r.contains("f64"), "unexpected refusal {r}");
        }
        assert!(
            refused.len() < 60,
            "{} refusals: {refused:?}",
            refused.len()
        );
        let Some(p) = ptxas() else { return };
        let rejected = tessera_cuda::ptxas::check_many(p, arch, &modules, 64);
        println!(
            "{arch}: {} kernels, {} rendered, {} refused (unsupported), ptxas accepted {}, rejected {}",
            kernels.len(),
            modules.len(),
            refused.len(),
            modules.len() - rejected.len(),
            rejected.len()
        );
        if let Some(dir) = std::env::var_os("TESSERA_PTX_DUMP") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).expect("dump dir");
            for (n, e) in &rejected {
                let ptx = &modules.iter().find(|m| &m.0 == n).expect("module").1;
                std::fs::write(dir.join(format!("{n}.{arch}.ptx")), ptx).expect("write");
                std::fs::write(dir.join(format!("{n}.{arch}.err")), e).expect("write");
            }
        }
        let shown: Vec<String> = rejected
            .iter()
            .take(5)
            .map(|(n, e)| format!("{n}:\n{e}"))
            .collect();
        assert!(
            rejected.is_empty(),
            "{} rejected for {arch}:\n{}",
            rejected.len(),
            shown.join("\n")
        );
    }
}

/// A random expression over two inputs of dtype `d` and `lanes` lanes.
fn expr(t: String, depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("%a0".to_string()),
        Just("%a1".to_string()),
        Just(format!("1:{t}")),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let sub = expr(t.clone(), depth - 1);
    let un = prop::sample::select(
        tessera_ir::op::UnaryOp::ALL
            .iter()
            .map(|o| o.name())
            .filter(|n| *n != "is_nan")
            .collect::<Vec<_>>(),
    );
    let bin = prop::sample::select(vec![
        "add",
        "sub",
        "mul",
        "div",
        "min",
        "max",
        "pow",
        "mod",
        "bitwise_and",
        "bit_shift_left",
    ]);
    prop_oneof![
        leaf,
        (un, sub.clone()).prop_map(|(o, x)| format!("{o}({x})")),
        (bin, sub.clone(), sub.clone()).prop_map(|(o, a, b)| format!("{o}({a}, {b})")),
        (sub.clone(), sub.clone(), sub)
            .prop_map(|(a, b, c)| format!("select(less({a}, {b}), {c}, {a})")),
    ]
    .boxed()
}

fn typed_expr() -> impl Strategy<Value = (DType, u8, String)> {
    (
        prop::sample::select(all_dtypes()),
        prop::sample::select(vec![1u8, 4]),
    )
        .prop_flat_map(|(d, lanes)| (Just(d), Just(lanes), expr(ty(d, lanes), 3)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_expressions_pass_ptxas((d, lanes, e) in typed_expr()) {
        let text = elementwise("r", &[(d, lanes), (d, lanes)], d, &e);
        prop_assume!(text.is_some());
        let text = text.unwrap_or_default();
        let k = parse_kernel(&text).expect("parses");
        let info = verify_kernel(&k).expect("verifies");
        for arch in [Arch::Sm80, Arch::Sm90] {
            match CudaTarget::new(arch).ptx(&k, &info) {
                Ok(p) => {
                    if let Some(x) = ptxas() {
                        let r = tessera_cuda::ptxas::check_ptx(x, arch, &p);
                        prop_assert!(r.is_ok(), "{arch} {text}\n{r:?}");
                    }
                }
                Err(TargetError::Unsupported { what, .. }) => prop_assert!(what.contains("f64"), "{what}"),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
