//! The ops runner's statuses: passed on a sound backend, skipped (with the reason) on an
//! unavailable one, error on a backend that panics (caught at the boundary), unsupported when
//! the backend declares it, and failed (with the first differing index) on a broken kernel.

use std::sync::Arc;
use tessera_conformance::catalogue::{CaseSpec, catalogue};
use tessera_conformance::fault::PerturbDevice;
use tessera_conformance::ops::{OpsOptions, run_ops};
use tessera_conformance::report::CaseStatus;
use tessera_ir::{DType, Graph, Op};
use tessera_runtime::{
    Availability, Backend, CompiledBackend, Executable, InterpDevice, InterpTarget, OpSupport,
    RuntimeError, UnavailableBackend, kernel_interp_backend,
};

fn cases(pattern: &str) -> Vec<CaseSpec> {
    catalogue()
        .into_iter()
        .filter(|c| tessera_conformance::onnx_node::matches_filter(&c.name, pattern))
        .collect()
}

struct Panics;
impl Backend for Panics {
    fn name(&self) -> &str {
        "panics"
    }
    fn availability(&self) -> Availability {
        Availability::Available("test".into())
    }
    fn op_support(&self, op: &Op, _: &[DType]) -> OpSupport {
        if op.name() == "exp" {
            OpSupport::Unsupported("no exp here".into())
        } else {
            OpSupport::Native
        }
    }
    fn compile(&self, _: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        panic!("backend bug")
    }
}

#[test]
fn statuses() {
    let picked: Vec<CaseSpec> = cases("neg/f32/n33/*")
        .into_iter()
        .chain(cases("exp/f32/n7/ordinary"))
        .collect();
    assert!(picked.len() >= 4);
    let broken = CompiledBackend::new(
        "broken",
        Arc::new(InterpTarget::new()),
        Arc::new(PerturbDevice::new(Arc::new(InterpDevice::new()), |_| true)),
    );
    let backends: Vec<Arc<dyn Backend>> = vec![
        Arc::new(kernel_interp_backend()),
        Arc::new(UnavailableBackend {
            name: "gpu".into(),
            reason: "no driver here".into(),
        }),
        Arc::new(Panics),
        Arc::new(broken),
    ];
    let reports = run_ops(&picked, &backends, &OpsOptions::default());
    assert_eq!(reports.len(), 4);
    let sound = &reports[0];
    assert!(
        sound.cases.iter().all(|c| c.status == CaseStatus::Passed),
        "{:?}",
        sound.cases
    );
    assert!(sound.cases.iter().all(|c| c.placement == Some("native")));
    let gpu = &reports[1];
    assert!(
        gpu.cases
            .iter()
            .all(|c| c.status == CaseStatus::Skipped && c.message == "no driver here")
    );
    let panics = &reports[2];
    for c in &panics.cases {
        if c.op == "exp" {
            assert_eq!(c.status, CaseStatus::Unsupported, "{c:?}");
            assert!(c.message.contains("no exp here"));
        } else {
            assert_eq!(c.status, CaseStatus::Error, "{c:?}");
            assert!(
                c.message.contains("panic") && c.message.contains("backend bug"),
                "{c:?}"
            );
        }
    }
    let broken = &reports[3];
    let failed: Vec<_> = broken
        .cases
        .iter()
        .filter(|c| c.status == CaseStatus::Failed)
        .collect();
    assert!(!failed.is_empty(), "{:?}", broken.cases);
    for c in failed {
        assert_eq!(c.first_index, Some(0), "{c:?}");
        assert!(c.max_abs_err.is_some() && c.max_ulp_err.is_some());
    }
}
