//! Random-graph differential testing of fusion: proptest generates small graphs of elementwise
//! ops, broadcasts, reductions and softmaxes; each runs on the reference and on `cpu` and
//! `kernel-interp`. A failing graph is shrunk by proptest and saved in text form under
//! `conformance/regressions/`, where `regressions_replay` runs it on every later test run.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tessera::conformance::fault::PerturbDevice;
use tessera::conformance::random_graph::{
    Recipe, build, differential, inputs_for, regression_name, replay_dir, save_regression,
};
use tessera::runtime::{Backend, CompiledBackend, InterpDevice, InterpTarget};

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/regressions")
}

fn recipes() -> impl Strategy<Value = Recipe> {
    (
        0u8..4,
        prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..10),
    )
        .prop_map(|(shape, steps)| Recipe { shape, steps })
}

/// Runs random graphs on `backend`; on a failure, saves the shrunk graph under `dir` and
/// returns the file with the failure.
fn search(backend: &dyn Backend, cases: u32, dir: &Path) -> Option<(PathBuf, String)> {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&recipes(), |r| {
        let g = build(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let inputs = inputs_for(&g, &regression_name(&g));
        differential(&g, &inputs, backend).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => None,
        Err(TestError::Fail(why, recipe)) => {
            let g = build(&recipe).expect("a failing recipe builds");
            let path = save_regression(dir, &g, backend.name(), &why.to_string())
                .expect("the regression folder is writable");
            Some((path, why.to_string()))
        }
        Err(TestError::Abort(why)) => Some((PathBuf::new(), why.to_string())),
    }
}

/// Graphs per backend: `TESSERA_RANDOM_GRAPHS`, default 40 (a longer search finds rarer bugs).
fn cases() -> u32 {
    std::env::var("TESSERA_RANDOM_GRAPHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

#[test]
fn random_graphs_match_the_reference() {
    let registry = tessera::registry();
    for name in ["cpu", "kernel-interp"] {
        let backend = registry.get(name).expect("built-in backend");
        if let Some((path, why)) = search(backend.as_ref(), cases(), &regressions_dir()) {
            panic!(
                "{name} diverges from the reference on a random graph, saved as {}: {why}",
                path.display()
            );
        }
    }
}

#[test]
fn regressions_replay() {
    let dir = regressions_dir();
    let registry = tessera::registry();
    let count = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(count > 0, "no regression cases in {}", dir.display());
    for name in ["cpu", "kernel-interp"] {
        let backend = registry.get(name).expect("built-in backend");
        let failures = replay_dir(&dir, backend.as_ref()).unwrap();
        assert!(failures.is_empty(), "{name}: {failures:?}");
    }
}

/// A backend with a broken kernel is caught, its graph shrunk, saved, and the saved case
/// fails on the broken backend and passes on a sound one.
#[test]
fn a_broken_kernel_is_caught_shrunk_and_saved() {
    let dir = tempfile::tempdir().unwrap();
    let broken = CompiledBackend::new(
        "broken",
        Arc::new(InterpTarget::new()),
        Arc::new(PerturbDevice::new(Arc::new(InterpDevice::new()), |_| true)),
    );
    let (path, why) = search(&broken, 40, dir.path()).expect("the broken kernel is found");
    assert!(why.contains("out of bounds"), "{why}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# backend broken: "), "{text}");
    // Shrunk: a perturbed first kernel needs a single node.
    let nodes = text
        .lines()
        .filter(|l| l.trim_start().starts_with('%'))
        .count();
    assert!(nodes <= 3, "not shrunk:\n{text}");
    assert_eq!(replay_dir(dir.path(), &broken).unwrap().len(), 1);
    let sound = tessera::registry().get("kernel-interp").unwrap();
    assert!(replay_dir(dir.path(), sound.as_ref()).unwrap().is_empty());
}
