//! End-to-end tests of the `tessera` binary: running graphs on .npy inputs, and the errors a
//! user gets for bad input (a message that says what and where, and a non-zero exit).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tessera_ir::{Tensor, npy};

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the tessera binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must fail; returns its stderr.
fn fails(args: &[&str]) -> String {
    let o = tessera(args);
    assert!(
        !o.status.success(),
        "expected failure for {args:?}, got success"
    );
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn npy_file(dir: &Path, name: &str, t: &Tensor) -> String {
    let p = dir.join(name);
    npy::save_npy(&p, t).unwrap();
    p.to_string_lossy().into_owned()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn devices_lists_the_reference_backend() {
    let o = tessera(&["devices"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("reference") && l.contains("available")),
        "{out}"
    );
}

#[test]
fn help_explains_each_command() {
    let o = tessera(&["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("devices") && out.contains("run"), "{out}");
    let o = tessera(&["run", "--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("--input") && out.contains("--output-dir") && out.contains("--backend"),
        "{out}"
    );
}

#[test]
fn runs_the_example_mlp() {
    let d = tmp();
    let out = d.path().join("out");
    let o = tessera(&[
        "run",
        "examples/mlp.tir",
        "--backend",
        "reference",
        "--input",
        "x=examples/mlp_x.npy",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let y = npy::load_npy(&out.join("y.npy")).unwrap();
    assert_eq!(y.shape(), &[2, 2]);
    // numpy: relu(x @ w1 + b1) @ w2 + b2
    let expected = [6.1375f32, 5.625, 1.05, 4.75];
    for (a, e) in y.to_vec::<f32>().unwrap().iter().zip(expected) {
        assert!((a - e).abs() <= 1e-5, "{a} vs {e}");
    }
}

const TWO_OUTPUTS: &str = r#"
graph g(%x: i32[3]) -> (%"a/b:0", %x) {
  %"a/b:0" = neg(%x) : i32[3]
  return %"a/b:0", %x
}
"#;

#[test]
fn output_files_are_named_after_outputs_with_odd_characters_replaced() {
    let d = tmp();
    let g = write(d.path(), "g.tir", TWO_OUTPUTS);
    let x = npy_file(
        d.path(),
        "x.npy",
        &Tensor::from_vec(&[3], vec![1i32, -2, i32::MIN]).unwrap(),
    );
    let out: PathBuf = d.path().join("o");
    let o = tessera(&[
        "run",
        &g,
        "--input",
        &format!("x={x}"),
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = npy::load_npy(&out.join("a_b_0.npy")).unwrap();
    assert_eq!(a.to_vec::<i32>().unwrap(), vec![-1, 2, i32::MIN]);
    let x = npy::load_npy(&out.join("x.npy")).unwrap();
    assert_eq!(x.to_vec::<i32>().unwrap(), vec![1, -2, i32::MIN]);
}

#[test]
fn malformed_text_reports_file_line_and_column() {
    let d = tmp();
    let g = write(
        d.path(),
        "bad.tir",
        "graph g(%x: f32[2]) -> (%x) {\n  %y = relu(%x : f32[2]\n  return %x\n}\n",
    );
    let err = fails(&["run", &g]);
    assert!(err.contains("bad.tir:2:"), "{err}");
}

#[test]
fn unknown_operator_is_named() {
    let d = tmp();
    let g = write(
        d.path(),
        "op.tir",
        "graph g(%x: f32[2]) -> (%y) {\n  %y = frobnicate(%x) : f32[2]\n  return %y\n}\n",
    );
    let err = fails(&["run", &g]);
    assert!(
        err.contains("frobnicate") && err.contains("op.tir:2:"),
        "{err}"
    );
}

#[test]
fn ill_typed_graph_is_rejected_with_node_and_op() {
    let d = tmp();
    let g = write(
        d.path(),
        "t.tir",
        "graph g(%x: f32[2], %y: f32[3]) -> (%z) {\n  %z = add(%x, %y) : f32[2]\n  return %z\n}\n",
    );
    let err = fails(&["run", &g]);
    assert!(
        err.contains("add") && err.contains("[2]") && err.contains("[3]"),
        "{err}"
    );
}

#[test]
fn input_problems_list_the_expected_inputs() {
    let d = tmp();
    let f64x = npy_file(
        d.path(),
        "f64.npy",
        &Tensor::from_vec(&[2, 3], vec![0f64; 6]).unwrap(),
    );
    let f32x = npy_file(
        d.path(),
        "short.npy",
        &Tensor::from_vec(&[3], vec![0f32; 3]).unwrap(),
    );
    let mlp = "examples/mlp.tir";

    let err = fails(&["run", mlp, "--output-dir", d.path().to_str().unwrap()]);
    assert!(
        err.contains("missing input `x`") && err.contains("f32[2, 3]"),
        "{err}"
    );

    let err = fails(&["run", mlp, "--input", &format!("x={f64x}")]);
    assert!(
        err.contains("input `x`") && err.contains("f64[2, 3]") && err.contains("f32[2, 3]"),
        "{err}"
    );

    let err = fails(&["run", mlp, "--input", &format!("x={f32x}")]);
    assert!(err.contains("f32[3]") && err.contains("f32[2, 3]"), "{err}");

    let err = fails(&[
        "run",
        mlp,
        "--input",
        "x=examples/mlp_x.npy",
        "--input",
        &format!("q={f32x}"),
    ]);
    assert!(
        err.contains("unknown input `q`") && err.contains("x: f32[2, 3]"),
        "{err}"
    );

    let err = fails(&["run", mlp, "--input", "x"]);
    assert!(err.contains("NAME=FILE.npy"), "{err}");

    let err = fails(&["run", mlp, "--input", "x=does/not/exist.npy"]);
    assert!(err.contains("does/not/exist.npy"), "{err}");

    let garbage = write(d.path(), "garbage.npy", "not numpy");
    let err = fails(&["run", mlp, "--input", &format!("x={garbage}")]);
    assert!(
        err.contains("garbage.npy") && err.contains("magic"),
        "{err}"
    );
}

#[test]
fn backend_problems_are_explained() {
    let err = fails(&[
        "run",
        "examples/mlp.tir",
        "--backend",
        "tpu",
        "--input",
        "x=examples/mlp_x.npy",
    ]);
    assert!(
        err.contains("unknown backend `tpu`") && err.contains("reference"),
        "{err}"
    );
    let err = fails(&["run", "missing.tir"]);
    assert!(err.contains("missing.tir"), "{err}");
    let err = fails(&["run", "README.md"]);
    assert!(err.contains("unknown graph format"), "{err}");
}

/// A one-node ONNX model `y = x + x` over `f32[2]` (built with the importer's own protobuf
/// types, so this test needs no Python).
fn tiny_onnx_model() -> Vec<u8> {
    use prost::Message;
    use tessera::frontends::onnx::proto::*;
    let value = |name: &str| ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorTypeProto {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: vec![Dimension {
                        value: Some(DimensionValue::DimValue(2)),
                    }],
                }),
            })),
        }),
    };
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            name: Some("double".into()),
            node: vec![NodeProto {
                input: vec!["x".into(), "x".into()],
                output: vec!["y:0".into()],
                op_type: Some("Add".into()),
                name: Some("add".into()),
                ..Default::default()
            }],
            input: vec![value("x")],
            output: vec![value("y:0")],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

#[test]
fn runs_and_inspects_an_onnx_model() {
    let d = tmp();
    let model = d.path().join("m.onnx");
    std::fs::write(&model, tiny_onnx_model()).unwrap();
    let m = model.to_str().unwrap();
    let x = npy_file(
        d.path(),
        "x.npy",
        &Tensor::from_vec(&[2], vec![1.5f32, -2.0]).unwrap(),
    );
    let out = d.path().join("out");
    let o = tessera(&[
        "run",
        m,
        "--input",
        &format!("x={x}"),
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let y = npy::load_npy(&out.join("y_0.npy")).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0, -4.0]);

    let o = tessera(&["inspect", m]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("opset ai.onnx 17") && text.contains("Add") && text.contains("x: f32[2]"),
        "{text}"
    );
    assert!(
        text.contains("reference") && text.contains("1 native"),
        "{text}"
    );

    // A wrong input names the expected inputs with their types.
    let bad = npy_file(
        d.path(),
        "bad.npy",
        &Tensor::from_vec(&[3], vec![0f32; 3]).unwrap(),
    );
    let err = fails(&["run", m, "--input", &format!("x={bad}")]);
    assert!(
        err.contains("input `x` is f32[3], expected f32[2]"),
        "{err}"
    );

    // Truncated protobuf: a typed error naming the file, not a panic.
    std::fs::write(&model, &tiny_onnx_model()[..20]).unwrap();
    let err = fails(&["run", m, "--input", &format!("x={x}")]);
    assert!(err.contains("m.onnx"), "{err}");
}

#[test]
fn compile_emits_kernel_ir_cranelift_and_fusion_graph() {
    let d = tmp();
    let out = d.path().to_str().unwrap();
    let o = tessera(&[
        "compile",
        "examples/mlp.tir",
        "--target",
        "cpu",
        "--emit",
        "kir",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = std::fs::read_to_string(d.path().join("plan.txt")).unwrap();
    assert!(plan.contains("kernel"), "{plan}");
    let kir: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "kir"))
        .collect();
    assert!(!kir.is_empty());
    // Every written kernel parses and verifies as kernel IR.
    for k in &kir {
        let text = std::fs::read_to_string(k.path()).unwrap();
        let kernel = tessera_ir::kernel::parse_kernel(&text).unwrap();
        tessera_ir::kernel::verify_kernel(&kernel).unwrap();
    }
    let o = tessera(&[
        "compile",
        "examples/mlp.tir",
        "--emit",
        "clif",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tessera(&[
        "compile",
        "examples/mlp.tir",
        "--emit",
        "fusion-dot",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dot = std::fs::read_to_string(d.path().join("fusion.dot")).unwrap();
    assert!(
        dot.starts_with("digraph") && dot.contains("matmul"),
        "{dot}"
    );
    let err = fails(&[
        "compile",
        "examples/mlp.tir",
        "--target",
        "tpu",
        "--out",
        out,
    ]);
    assert!(err.contains("unknown target `tpu`"), "{err}");
}

#[test]
fn compile_emits_wgsl_and_spirv_without_a_gpu() {
    let d = tmp();
    let out = d.path().to_str().unwrap();
    let files = |ext: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect()
    };
    for emit in ["wgsl", "spirv"] {
        let o = tessera(&[
            "compile",
            "examples/mlp.tir",
            "--target",
            "vulkan",
            "--emit",
            emit,
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let wgsl = files("wgsl");
    assert!(!wgsl.is_empty());
    for w in &wgsl {
        let text = std::fs::read_to_string(w).unwrap();
        assert!(
            text.contains("@compute") && text.contains("fn main"),
            "{text}"
        );
    }
    let spv = files("spv");
    assert_eq!(spv.len(), wgsl.len());
    for s in &spv {
        let bytes = std::fs::read(s).unwrap();
        assert_eq!(bytes[..4], 0x0723_0203u32.to_le_bytes(), "SPIR-V magic");
    }
    let err = fails(&[
        "compile",
        "examples/mlp.tir",
        "--target",
        "cpu",
        "--emit",
        "wgsl",
        "--out",
        out,
    ]);
    assert!(err.contains("--target vulkan"), "{err}");
}

#[test]
fn dump_env_writes_kernels_during_run() {
    let d = tmp();
    let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "run",
            "examples/mlp.tir",
            "--backend",
            "cpu",
            "--input",
            "x=examples/mlp_x.npy",
            "--output-dir",
        ])
        .arg(d.path().join("out"))
        .env("TESSERA_DUMP", d.path().join("dump"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.path().join("dump/fusion.dot").is_file());
    assert!(d.path().join("dump/plan.txt").is_file());
}

#[test]
fn bench_reports_compile_time_and_median_latency() {
    let o = tessera(&[
        "bench",
        "examples/mlp.tir",
        "--backend",
        "reference",
        "--iters",
        "3",
        "--warmup",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("compile") && out.contains("median"), "{out}");
}

#[test]
fn bench_profile_times_each_kernel_with_its_graph_nodes() {
    let d = tmp();
    let json = d.path().join("bench.json");
    let o = tessera(&[
        "bench",
        "examples/mlp.tir",
        "--backend",
        "cpu",
        "--iters",
        "2",
        "--warmup",
        "0",
        "--profile",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("cache-warm start") && out.contains("steps (median"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let steps = v["results"][0]["steps"].as_array().expect("steps").clone();
    assert!(!steps.is_empty());
    for s in &steps {
        let kernel = s["kernel"].as_str().unwrap();
        assert!(out.contains(kernel), "{kernel} not printed: {out}");
        assert!(!s["nodes"].as_array().unwrap().is_empty(), "{s}");
        assert!(s["median_ms"].as_f64().unwrap() >= 0.0);
    }
}

#[test]
fn conformance_without_data_says_where_to_get_it() {
    let d = tmp();
    let err = fails(&[
        "conformance",
        "--suite",
        "onnx",
        "--onnx-data",
        d.path().join("nothing").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(err.contains("nothing"), "{err}");
}

#[test]
fn compile_emits_ptx_for_a_cuda_architecture_without_a_gpu() {
    let d = tmp();
    let out = d.path().to_str().unwrap();
    let o = tessera(&[
        "compile",
        "examples/mlp.tir",
        "--target",
        "cuda",
        "--emit",
        "ptx",
        "--arch",
        "sm_90",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ptx: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "ptx"))
        .collect();
    assert!(!ptx.is_empty());
    for p in &ptx {
        let text = std::fs::read_to_string(p.path()).unwrap();
        assert!(
            text.contains(".target sm_90") && text.contains(".entry"),
            "{text}"
        );
        if let Some(ptxas) = tessera_cuda::ptxas::ptxas_for_tests() {
            tessera_cuda::ptxas::check_ptx(&ptxas, tessera_cuda::Arch::Sm90, &text).unwrap();
        }
    }
    let e = fails(&[
        "compile",
        "examples/mlp.tir",
        "--target",
        "cuda",
        "--emit",
        "ptx",
        "--arch",
        "sm_70",
        "--out",
        out,
    ]);
    assert!(e.contains("sm_70") && e.contains("sm_90"), "{e}");
    let e = fails(&[
        "compile",
        "examples/mlp.tir",
        "--target",
        "cpu",
        "--emit",
        "ptx",
        "--out",
        out,
    ]);
    assert!(e.contains("--target cuda"), "{e}");
}

#[test]
fn bench_writes_json_and_refuses_unknown_workloads_and_codegens() {
    let d = tmp();
    let json = d.path().join("bench.json");
    let o = tessera(&[
        "bench",
        "examples/mlp.tir",
        "--backend",
        "cpu",
        "--iters",
        "2",
        "--warmup",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&json).unwrap();
    for key in [
        "\"workload\"",
        "\"backend\"",
        "\"threads\"",
        "\"median_ms\"",
        "\"gflops\"",
        "\"gbps\"",
        "\"pct_of_peak\"",
        "\"compile_cold_ms\"",
        "\"compile_warm_ms\"",
        "\"flops\"",
        "\"bytes\"",
    ] {
        assert!(text.contains(key), "{key} missing: {text}");
    }
    let err = fails(&["bench", "--workload", "matmul-7"]);
    assert!(
        err.contains("matmul-7") && err.contains("matmul-1024"),
        "{err}"
    );
    let err = fails(&["bench", "examples/mlp.tir", "--cpu-codegen", "gcc"]);
    assert!(err.contains("gcc"), "{err}");
}
