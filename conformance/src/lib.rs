//! tessera-conformance: conformance suites run against any backend, with their reports.
//!
//! Today it holds the ONNX node-test runner ([`onnx_node`]): it discovers the cases of ONNX's
//! backend-test data (`model.onnx` + `test_data_set_N/*.pb`), runs them through the ONNX
//! importer and a [`tessera_runtime::Backend`], compares outputs like ONNX's runner
//! ([`compare`]), and reports totals, per-operator tables, JSON and a Markdown coverage page
//! ([`report`]), with a committed floor of passing cases ([`report::check_floor`]).

pub mod catalogue;
pub mod cli;
pub mod compare;
pub mod diff;
pub mod error;
pub mod expectations;
pub mod fault;
pub mod harness;
pub mod onnx_node;
pub mod op_names;
pub mod ops;
pub mod pb;
pub mod random_graph;
pub mod render;
pub mod report;
pub mod tolerance;

pub use compare::{Comparison, Tolerance, compare_outputs, compare_tensor};
pub use error::ConformanceError;
pub use onnx_node::{
    CaseDir, Layout, ProgressFn, SuiteOptions, case_op, discover_cases, run_case, run_suite,
    stderr_progress,
};
pub use report::{CaseResult, CaseStatus, SuiteReport, Totals, check_floor};
