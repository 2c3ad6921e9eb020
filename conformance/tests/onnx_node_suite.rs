//! Runs ONNX's node tests (the data shipped in the `onnx` Python package) on the `reference`
//! backend and prints the totals, the per-operator table and the commonest causes of cases
//! that do not pass. No count is asserted yet; skipped, with the reason, when the data is
//! absent.
//!
//! The data folder is `$TESSERA_ONNX_NODE_DIR`, or else `backend/test/data/node` of the
//! `onnx` package that `python3` imports. `TESSERA_ONNX_FILTER` narrows the cases (substring
//! or glob). With `TESSERA_ONNX_REPORT_DIR` set, the JSON report and the Markdown coverage
//! page are written there (`onnx-node-reference.json`, `onnx-coverage.md`).

use std::path::PathBuf;
use std::process::Command;
use tessera_conformance::{CaseStatus, SuiteOptions, run_suite};
use tessera_runtime::Registry;

/// The node-test folder, or why there is none.
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
    let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = PathBuf::from(root).join("backend/test/data/node");
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("`{}` does not exist", dir.display()))
    }
}

#[test]
fn onnx_node_suite_on_reference() {
    let dir = match node_dir() {
        Ok(dir) => dir,
        Err(reason) => {
            eprintln!("skipped: no ONNX node-test data ({reason})");
            return;
        }
    };
    let backend = Registry::with_reference()
        .get("reference")
        .expect("the reference backend is always available");
    let options = SuiteOptions {
        filter: std::env::var("TESSERA_ONNX_FILTER").ok(),
        jobs: 0,
        progress: None,
    };
    let report = run_suite(&dir, backend.as_ref(), &options).expect("the data folder is readable");
    println!("{}", report.summary_text());
    for status in [
        CaseStatus::Error,
        CaseStatus::Failed,
        CaseStatus::Unsupported,
    ] {
        println!("commonest {status} causes:");
        for (cause, count) in report.top_causes(status, 15) {
            println!("{count:>5}  {cause}");
        }
    }
    let mut slowest: Vec<_> = report.cases.iter().collect();
    slowest.sort_by_key(|c| std::cmp::Reverse(c.elapsed));
    println!("slowest cases:");
    for c in slowest.iter().take(10) {
        println!("{:>8.2}s  {}", c.elapsed.as_secs_f64(), c.name);
    }
    if let Some(out) = std::env::var_os("TESSERA_ONNX_REPORT_DIR") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out).expect("report folder");
        std::fs::write(out.join("onnx-node-reference.json"), report.to_json()).expect("json");
        std::fs::write(out.join("onnx-coverage.md"), report.markdown_coverage()).expect("md");
    }
    let totals = report.totals();
    assert_eq!(
        totals.total,
        totals.passed + totals.failed + totals.errors + totals.unsupported
    );
    assert!(totals.total > 0, "no cases found in {}", dir.display());
}
