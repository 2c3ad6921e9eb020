//! `diff` finds a deliberately broken kernel: a device that perturbs one kernel's results
//! makes it the first divergent kernel, reported with its fused nodes and kernel IR; without
//! the fault no kernel diverges.

use std::sync::Arc;
use tessera_conformance::diff::diff;
use tessera_conformance::fault::PerturbDevice;
use tessera_frontends::GraphBuilder;
use tessera_ir::plan::Step;
use tessera_ir::{DType, Graph, Tensor};
use tessera_runtime::compiled::{Lowered, lower_graph};
use tessera_runtime::{CompiledBackend, InterpDevice, InterpTarget, NamedTensors, Target};

/// softmax-like chain with several kernels: exp, a row sum, a division, a final scale.
fn graph() -> Graph {
    let mut b = GraphBuilder::new("chain");
    let x = b.input("x", DType::F32, &[4, 9]);
    let e = b.exp(x).unwrap();
    let s = b.reduce_sum(e, &[1], true).unwrap();
    let d = b.div(e, s).unwrap();
    let m = b.reduce_max(d, &[0], true).unwrap();
    let y = b.mul(d, m).unwrap();
    b.output(y, "y").unwrap();
    b.finish().unwrap()
}

fn inputs() -> NamedTensors {
    let v: Vec<f32> = (0..36).map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.5).collect();
    [("x".to_string(), Tensor::from_vec(&[4, 9], v).unwrap())].into()
}

fn kernel_names(g: &Graph) -> Vec<String> {
    let target = InterpTarget::new();
    match lower_graph(g, target.desc()).unwrap() {
        Lowered::Planned { plan, .. } => plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Kernel(k) => Some(k.kernel.name.clone()),
                Step::Host(_) => None,
            })
            .collect(),
        Lowered::Interpreted(_) => panic!("static graph must be planned"),
    }
}

#[test]
fn clean_backend_has_no_divergence() {
    let backend = CompiledBackend::new(
        "kernel-interp",
        Arc::new(InterpTarget::new()),
        Arc::new(InterpDevice::new()),
    );
    let r = diff(&graph(), &inputs(), &backend).unwrap();
    assert!(r.first.is_none(), "{}", r.to_text());
    assert!(r.kernels >= 2, "{}", r.to_text());
    assert_eq!(r.compared, r.kernels, "{}", r.to_text());
    assert!(r.to_text().contains("no kernel diverges"));
}

#[test]
fn finds_the_perturbed_kernel() {
    let g = graph();
    let names = kernel_names(&g);
    assert!(names.len() >= 2, "{names:?}");
    for (i, victim) in names.iter().enumerate() {
        let v = victim.clone();
        let device = PerturbDevice::new(Arc::new(InterpDevice::new()), move |n| n == v);
        let backend =
            CompiledBackend::new("broken", Arc::new(InterpTarget::new()), Arc::new(device));
        let r = diff(&g, &inputs(), &backend).unwrap();
        let d = r
            .first
            .as_ref()
            .unwrap_or_else(|| panic!("kernel {i} `{victim}` not found: {}", r.to_text()));
        assert_eq!(&d.kernel, victim, "{}", r.to_text());
        assert!(!d.nodes.is_empty());
        assert!(d.verdict.first_index == Some(0), "{:?}", d.verdict);
        let text = r.to_text();
        assert!(
            text.contains("first divergent kernel") && text.contains(victim),
            "{text}"
        );
        assert!(text.contains("kernel IR:"), "{text}");
        assert!(d.kernel_ir.contains(victim.as_str()), "{}", d.kernel_ir);
    }
}
