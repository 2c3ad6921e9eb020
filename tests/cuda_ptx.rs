//! The CUDA backend without a GPU: every ONNX node-test model (the data shipped in the
//! `onnx` Python package) is imported, lowered for the CUDA target and rendered to PTX, and
//! every module is assembled by `ptxas` for sm_80 and sm_90 — a rejected module fails the
//! test. Skipped, with the reason printed, when the data or `ptxas` is missing. With a GPU
//! (a loadable CUDA driver), small graphs also run on the `cuda` backend against the
//! reference interpreter; without one that part is skipped with the driver's reason.

use std::path::PathBuf;
use std::process::Command;
use tessera::runtime::{Lowered, Target, TargetError, lower_graph};
use tessera::{DType, GraphBuilder, Tensor};
use tessera_cuda::{Arch, CudaTarget};
use tessera_ir::plan::Step;

fn node_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("TESSERA_ONNX_NODE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import onnx, os; print(os.path.dirname(onnx.__file__))",
        ])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err("the onnx Python package is not installed".into());
    }
    let dir =
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("backend/test/data/node");
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("`{}` does not exist", dir.display()))
    }
}

#[derive(Default)]
struct Rendered {
    models: usize,
    lowered: usize,
    /// Per architecture (in `ARCHS` order): labelled modules.
    modules: [Vec<(String, String)>; 2],
    refused: Vec<String>,
}

const ARCHS: [Arch; 2] = [Arch::Sm80, Arch::Sm90];

/// Lowers the node-test models of `cases` for the CUDA target once and renders every kernel
/// for each architecture of `ARCHS`.
fn render_models(cases: &[PathBuf]) -> Rendered {
    let targets = ARCHS.map(CudaTarget::new);
    let mut r = Rendered::default();
    for case in cases {
        r.models += 1;
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(graph) = tessera_frontends::onnx::load_model(&case.join("model.onnx")) else {
            continue;
        };
        let Ok(Lowered::Planned { plan, .. }) = lower_graph(&graph, targets[0].desc()) else {
            continue;
        };
        r.lowered += 1;
        for step in &plan.steps {
            let Step::Kernel(k) = step else { continue };
            let label = format!("{name}/{}", k.kernel.name);
            for (i, t) in targets.iter().enumerate() {
                match t.ptx(&k.kernel, &k.info) {
                    Ok(p) => r.modules[i].push((label.clone(), p)),
                    Err(TargetError::Unsupported { what, .. }) => {
                        if i == 0 {
                            r.refused.push(format!("{label}: {what}"));
                        }
                    }
                    Err(e) => panic!("{label}: {e}"),
                }
            }
        }
    }
    r
}

#[test]
fn onnx_node_models_render_to_ptx_that_ptxas_accepts() {
    let dir = match node_dir() {
        Ok(d) => d,
        Err(reason) => {
            eprintln!("SKIP: no ONNX node-test data ({reason})");
            return;
        }
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("node dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    cases.sort();
    // The target description is the same for every architecture: lower once, on every core.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = cases.len().div_ceil(threads).max(1);
    let parts: Vec<Rendered> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(per)
            .map(|c| s.spawn(move || render_models(c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("render thread"))
            .collect()
    });
    let mut r = Rendered::default();
    for p in parts {
        r.models += p.models;
        r.lowered += p.lowered;
        r.refused.extend(p.refused);
        for (all, part) in r.modules.iter_mut().zip(p.modules) {
            all.extend(part);
        }
    }
    assert!(
        r.modules[0].len() > 500,
        "only {} kernels",
        r.modules[0].len()
    );
    for f in &r.refused {
        assert!(f.contains("f64"), "unexpected refusal {f}");
    }
    let Some(p) = tessera_cuda::ptxas::ptxas_for_tests() else {
        return;
    };
    for (arch, modules) in ARCHS.iter().zip(&r.modules) {
        let rejected = tessera_cuda::ptxas::check_many(&p, *arch, modules, 128);
        println!(
            "{arch}: {} node models, {} lowered to kernels, {} PTX modules: ptxas accepted {}, rejected {}; {} kernels refused as unsupported (f64 functions)",
            r.models,
            r.lowered,
            modules.len(),
            modules.len() - rejected.len(),
            rejected.len(),
            r.refused.len()
        );
        let shown: Vec<String> = rejected
            .iter()
            .take(5)
            .map(|(n, e)| format!("{n}:\n{e}"))
            .collect();
        assert!(
            rejected.is_empty(),
            "{} modules rejected for {arch}:\n{}",
            rejected.len(),
            shown.join("\n")
        );
    }
}

/// Small graphs on the `cuda` backend, compared with the reference interpreter.
#[test]
fn graphs_on_a_gpu_match_the_reference() {
    let cuda = tessera::registry().get("cuda");
    let cuda = match cuda {
        Ok(b) => b,
        Err(e) => {
            eprintln!("SKIP GPU checks: {e}");
            return;
        }
    };
    let reference = tessera::registry().get("reference").expect("reference");
    let mut b = GraphBuilder::new("mix");
    let x = b.input("x", DType::F32, &[37, 29]);
    let w = b.input("w", DType::F32, &[29, 13]);
    let m = b.matmul(x, w).expect("matmul");
    let s = b.softmax(m, 1).expect("softmax");
    b.output(s, "y").expect("output");
    let g = b.finish().expect("graph");
    let xs: Vec<f32> = (0..37 * 29)
        .map(|i| ((i % 17) as f32 - 8.0) / 40.0)
        .collect();
    let ws: Vec<f32> = (0..29 * 13)
        .map(|i| ((i % 11) as f32 - 5.0) / 30.0)
        .collect();
    let inputs = [
        ("x".to_string(), Tensor::from_vec(&[37, 29], xs).expect("x")),
        ("w".to_string(), Tensor::from_vec(&[29, 13], ws).expect("w")),
    ]
    .into();
    let want = reference
        .compile(&g)
        .expect("ref")
        .run(&inputs)
        .expect("ref run");
    let got = cuda
        .compile(&g)
        .expect("cuda")
        .run(&inputs)
        .expect("cuda run");
    let (w, a) = (
        want[0].1.to_vec::<f32>().expect("f32"),
        got[0].1.to_vec::<f32>().expect("f32"),
    );
    for (x, y) in w.iter().zip(&a) {
        assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "{x} vs {y}");
    }
}
