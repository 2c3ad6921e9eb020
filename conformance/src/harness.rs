//! The vendor harness: a backend crate gets the whole operator suite as ordinary `cargo test`
//! tests with one line, [`testgen_all!`](crate::testgen_all), and the `conformance` command
//! with its backend registered through [`main_with`].
//!
//! ```ignore
//! // tests/conformance.rs of a backend crate
//! tessera_conformance::testgen_all!(my_backend::backend(), expectations = "conformance/expectations");
//! ```
//!
//! Each generated test runs one family of operators (elementwise, reductions, contractions,
//! movement, others) on the reference and on the backend, and fails on any failure or error
//! that the backend's expectations file (`<dir>/<backend>.toml`) does not list, and on a listed
//! failure that now passes. `TESSERA_CONFORMANCE` picks how many cases: unset (or `smoke`), the
//! first case of every operator, fit for a debug `cargo test`; `quick`, the quick subset (every
//! operator, about a third of the cases); `full`, every case.

use crate::catalogue::{CaseSpec, catalogue};
use crate::expectations::{Expectations, check};
use crate::ops::{OpsOptions, run_ops, select};
use crate::report::CaseStatus;
use crate::tolerance::{OpClass, op_class};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tessera_runtime::Registry;

/// The backend trait, re-exported for [`testgen_all!`](crate::testgen_all).
pub use tessera_runtime::Backend;

/// A family of operators: one generated test each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Elementwise operators (unary, binary, variadic, activations, casts, selection).
    Elementwise,
    /// Reductions, scans, softmaxes and normalizations.
    Reduction,
    /// Matmul, gemm, einsum, convolutions and pooling.
    Contraction,
    /// Movement, gathers and scatters, shape queries.
    Movement,
}

const CONTRACTION: [&str; 12] = [
    "matmul",
    "gemm",
    "einsum",
    "conv",
    "conv_transpose",
    "deform_conv",
    "col2im",
    "max_pool",
    "average_pool",
    "global_average_pool",
    "global_max_pool",
    "det",
];

const MOVEMENT: [&str; 27] = [
    "identity",
    "reshape",
    "transpose",
    "expand",
    "squeeze",
    "unsqueeze",
    "flatten",
    "concat",
    "split",
    "slice",
    "pad",
    "tile",
    "trilu",
    "as_strided",
    "dropout",
    "gather",
    "gather_elements",
    "gather_nd",
    "scatter_nd",
    "scatter_elements",
    "shape",
    "size",
    "non_zero",
    "range",
    "constant_of_shape",
    "unique",
    "bit_cast",
];

impl Family {
    /// Every family.
    pub const ALL: [Family; 4] = [
        Family::Elementwise,
        Family::Reduction,
        Family::Contraction,
        Family::Movement,
    ];

    /// The family of an operator (by text-form name).
    pub fn of(op: &str) -> Family {
        if CONTRACTION.contains(&op) {
            Family::Contraction
        } else if MOVEMENT.contains(&op) {
            Family::Movement
        } else if op.starts_with("reduce_")
            || matches!(op, "argmax" | "argmin" | "top_k" | "hardmax")
            || matches!(op_class(op), OpClass::Accumulation | OpClass::Product)
        {
            Family::Reduction
        } else {
            Family::Elementwise
        }
    }

    /// Whether a case belongs to the family.
    pub fn contains(self, case: &CaseSpec) -> bool {
        Family::of(&case.op) == self
    }
}

/// Runs one family of the operator suite on `backend` and checks it against the expectations
/// in `expectations_dir` (none: every failure is new). `Err` carries a readable account of new
/// failures and known failures that now pass; unsupported and skipped cases are fine.
pub fn check_family(
    backend: Arc<dyn Backend>,
    family: Family,
    expectations_dir: Option<&Path>,
) -> Result<String, String> {
    let tier = std::env::var("TESSERA_CONFORMANCE").unwrap_or_default();
    let options = OpsOptions {
        quick: tier != "full",
        ..OpsOptions::default()
    };
    let mut seen_ops = std::collections::HashSet::new();
    let cases: Vec<CaseSpec> = select(catalogue(), &options)
        .into_iter()
        .filter(|c| family.contains(c))
        .filter(|c| matches!(tier.as_str(), "quick" | "full") || seen_ops.insert(c.op.clone()))
        .collect();
    let name = backend.name().to_string();
    let report = run_ops(&cases, &[backend], &options)
        .pop()
        .ok_or_else(|| "no report".to_string())?;
    let t = report.totals();
    let summary = format!(
        "{family:?} on {name}: {} cases, {} passed, {} failed, {} errors, {} unsupported, {} skipped",
        t.total, t.passed, t.failed, t.errors, t.unsupported, t.skipped
    );
    if t.skipped == t.total && t.total > 0 {
        // No device here: say why, do not fail.
        let why = report
            .cases
            .iter()
            .find(|c| c.status == CaseStatus::Skipped)
            .map_or(String::new(), |c| c.message.clone());
        return Ok(format!("{summary} (skipped: {why})"));
    }
    let expectations = match expectations_dir {
        Some(dir) => Expectations::load(dir, &name).map_err(|e| e.to_string())?,
        None => Expectations::default(),
    };
    let c = check(&report, &expectations);
    if c.ok() {
        Ok(summary)
    } else {
        Err(format!("{summary}\n{}", c.summary(&name)))
    }
}

/// The `conformance` command for a binary that adds backends: parses
/// `<bin> [conformance] ARGS` (the arguments of `tessera conformance`) and runs it against
/// `registry`, so every backend registered there answers to `--backend NAME`.
pub fn main_with(registry: Registry) -> ExitCode {
    use clap::Parser;
    #[derive(Parser)]
    #[command(about = "Tessera conformance suites, with this build's backends")]
    struct Cli {
        #[command(flatten)]
        args: crate::cli::ConformanceArgs,
    }
    let mut argv: Vec<String> = std::env::args().collect();
    if argv.get(1).is_some_and(|a| a == "conformance") {
        argv.remove(1);
    }
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match crate::cli::run(cli.args, &registry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Stamps out the operator suite as tests of a backend crate: one `#[test]` per operator
/// family, each running that family on the given backend (an expression whose value
/// implements [`tessera_runtime::Backend`]) against the reference, checked against the
/// backend's expectations file in the optional folder.
///
/// ```ignore
/// tessera_conformance::testgen_all!(MyBackend::new());
/// tessera_conformance::testgen_all!(MyBackend::new(), expectations = "conformance/expectations");
/// ```
#[macro_export]
macro_rules! testgen_all {
    ($backend:expr) => {
        $crate::testgen_all!(@gen $backend, ::core::option::Option::None::<&str>);
    };
    ($backend:expr, expectations = $dir:expr) => {
        $crate::testgen_all!(@gen $backend, ::core::option::Option::Some($dir));
    };
    (@gen $backend:expr, $dir:expr) => {
        #[cfg(test)]
        mod tessera_conformance_suite {
            #[allow(unused_imports)]
            use super::*;

            fn run(family: $crate::harness::Family) {
                let backend: ::std::sync::Arc<dyn $crate::harness::Backend> =
                    ::std::sync::Arc::new($backend);
                let dir = $dir.map(::std::path::Path::new);
                match $crate::harness::check_family(backend, family, dir) {
                    Ok(summary) => println!("{summary}"),
                    Err(report) => panic!("{report}"),
                }
            }

            #[test]
            fn elementwise() {
                run($crate::harness::Family::Elementwise);
            }

            #[test]
            fn reductions() {
                run($crate::harness::Family::Reduction);
            }

            #[test]
            fn contractions() {
                run($crate::harness::Family::Contraction);
            }

            #[test]
            fn movement() {
                run($crate::harness::Family::Movement);
            }
        }
    };
}
