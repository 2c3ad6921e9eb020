//! The `conformance` command, shared by the `tessera` binary and by any binary that registers
//! more backends (a vendor's): [`ConformanceArgs`] are its arguments, [`run`] runs it against a
//! [`Registry`], so a backend registered there appears under `--backend NAME`.

use crate::catalogue::catalogue;
use crate::error::ConformanceError;
use crate::expectations::{Expectations, check};
use crate::onnx_node::{SuiteOptions, run_suite, stderr_progress};
use crate::ops::{OpsOptions, run_ops, select};
use crate::render;
use crate::report::{SuiteReport, check_floor};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tessera_runtime::{Backend, Registry};

/// Which suite to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// The generated operator catalogue.
    Ops,
    /// ONNX's backend test data.
    Onnx,
    /// Both.
    All,
}

/// The arguments of `conformance`.
#[derive(Clone, Debug, clap::Args)]
pub struct ConformanceArgs {
    /// Which suite: `ops` (the generated operator catalogue), `onnx` (ONNX's backend test
    /// cases), or `all`.
    #[arg(long, value_enum, default_value = "ops")]
    pub suite: Suite,
    /// A folder of ONNX test cases (e.g. .../onnx/backend/test/data/node). Default:
    /// $TESSERA_ONNX_DATA, else the `node` folder of the installed `onnx` Python package.
    #[arg(long, value_name = "DIR")]
    pub onnx_data: Option<PathBuf>,
    /// Backend to test, or `all` for every registered backend (an unavailable one reports its
    /// cases as skipped, with the reason).
    #[arg(long, short, default_value = "reference")]
    pub backend: String,
    /// Only cases whose name contains this text (or matches it as a glob with * and ?).
    #[arg(long)]
    pub filter: Option<String>,
    /// The quick subset of the operator suite (no ≥16M-element cases, about one case in four).
    #[arg(long)]
    pub quick: bool,
    /// List the selected operator-suite cases instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Write the JSON report here (with several reports: one file each, suffixed with
    /// `-<suite>-<backend>`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report (one testsuite per suite and backend).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown page (for `--suite onnx`: the ONNX coverage page of each backend).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write one self-contained HTML page with the matrix and per-case details.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// A folder of expectations files (`<backend>.toml`: known failures and why): exit 1 on a
    /// failure not listed there, or on a listed failure that now passes.
    #[arg(long, value_name = "DIR")]
    pub expectations: Option<PathBuf>,
    /// Fail (exit 1) when fewer ONNX cases pass than the floor file requires.
    #[arg(long, value_name = "FILE")]
    pub floor: Option<PathBuf>,
    /// No progress and no matrix: totals only.
    #[arg(long)]
    pub quiet: bool,
}

/// Errors of the command: it could not run, or it ran and the gate failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Setting up or writing failed.
    #[error(transparent)]
    Conformance(#[from] ConformanceError),
    /// Backend selection failed.
    #[error(transparent)]
    Runtime(#[from] tessera_runtime::RuntimeError),
    /// The run finished but a gate (expectations, floor) failed.
    #[error("{0}")]
    Gate(String),
}

fn write(path: &Path, text: &str) -> Result<(), ConformanceError> {
    std::fs::write(path, text).map_err(|e| ConformanceError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn suffixed(path: &Path, tag: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{}{ext}", tag.replace('/', "_")))
}

/// The ONNX test-data folder: the argument, `$TESSERA_ONNX_DATA`, or the `node` folder of the
/// installed `onnx` Python package.
fn onnx_dir(arg: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(d) = arg.or_else(|| std::env::var_os("TESSERA_ONNX_DATA").map(PathBuf::from)) {
        return Ok(d);
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnx, os; print(os.path.dirname(onnx.__file__))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let root = String::from_utf8_lossy(&o.stdout).trim().to_string();
            Ok(Path::new(&root).join("backend/test/data/node"))
        }
        _ => Err(CliError::Gate(
            "no ONNX test data: pass --onnx-data DIR, set TESSERA_ONNX_DATA, or `pip install onnx==1.22.0`".into(),
        )),
    }
}

/// The backends `--backend` names: one, or `all` of them. An unavailable backend is kept (its
/// cases are reported as skipped, with the reason); an unknown name is an error.
fn backends(registry: &Registry, name: &str) -> Result<Vec<Arc<dyn Backend>>, CliError> {
    if name == "all" {
        return Ok(registry.all());
    }
    match registry.all().into_iter().find(|b| b.name() == name) {
        Some(b) => Ok(vec![b]),
        None => Ok(vec![registry.get(name)?]),
    }
}

/// Runs the command against `registry`; prints the matrix (or totals) to stdout.
pub fn run(args: ConformanceArgs, registry: &Registry) -> Result<(), CliError> {
    let mut reports: Vec<SuiteReport> = Vec::new();
    if matches!(args.suite, Suite::Ops | Suite::All) {
        let options = OpsOptions {
            filter: args.filter.clone(),
            jobs: args.jobs,
            quick: args.quick,
            progress: !args.quiet,
        };
        let cases = select(catalogue(), &options);
        if args.list {
            for c in &cases {
                println!("{}", c.name);
            }
            println!("{} cases", cases.len());
            return Ok(());
        }
        let bs = backends(registry, &args.backend)?;
        reports.extend(run_ops(&cases, &bs, &options));
    }
    let mut gate = Vec::new();
    if matches!(args.suite, Suite::Onnx | Suite::All) {
        let dir = onnx_dir(args.onnx_data.clone())?;
        for backend in backends(registry, &args.backend)? {
            if !backend.availability().is_available() {
                continue;
            }
            let options = SuiteOptions {
                filter: args.filter.clone(),
                jobs: args.jobs,
                progress: (!args.quiet).then(stderr_progress),
            };
            let report = run_suite(&dir, backend.as_ref(), &options)?;
            if let Some(floor) = &args.floor
                && let Err(e) = check_floor(&report, floor)
            {
                gate.push(e.to_string());
            }
            reports.push(report);
        }
    }
    if args.quiet {
        for r in &reports {
            let t = r.totals();
            println!(
                "suite {} on backend {}: {} cases, {} passed, {} failed, {} errors, {} unsupported, {} skipped; placement {} native, {} fallback ({:.1}s)",
                r.suite,
                r.backend,
                t.total,
                t.passed,
                t.failed,
                t.errors,
                t.unsupported,
                t.skipped,
                t.native,
                t.fallback,
                r.elapsed.as_secs_f64()
            );
        }
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", render::terminal_matrix(&reports, color));
    }
    write_reports(&args, &reports)?;
    if let Some(dir) = &args.expectations {
        for r in &reports {
            let e = Expectations::load(dir, &r.backend)?;
            let c = check(r, &e);
            print!("{}", c.summary(&format!("{}/{}", r.suite, r.backend)));
            if !c.ok() {
                gate.push(format!(
                    "{} on {}: {} new failures, {} known failures now pass",
                    r.suite,
                    r.backend,
                    c.new_failures.len(),
                    c.now_passing.len()
                ));
            }
        }
    }
    if gate.is_empty() {
        Ok(())
    } else {
        Err(CliError::Gate(gate.join("; ")))
    }
}

fn write_reports(args: &ConformanceArgs, reports: &[SuiteReport]) -> Result<(), CliError> {
    let many = reports.len() > 1;
    if let Some(p) = &args.json {
        for r in reports {
            let tag = format!("{}-{}", r.suite, r.backend);
            write(
                &if many { suffixed(p, &tag) } else { p.clone() },
                &r.to_json(),
            )?;
        }
    }
    if let Some(p) = &args.junit {
        write(p, &render::junit(reports))?;
    }
    if let Some(p) = &args.markdown {
        if args.suite == Suite::Onnx {
            for r in reports {
                write(
                    &if many {
                        suffixed(p, &r.backend)
                    } else {
                        p.clone()
                    },
                    &r.markdown_coverage(),
                )?;
            }
        } else {
            write(p, &render::markdown(reports))?;
        }
    }
    if let Some(p) = &args.html {
        write(p, &render::html(reports))?;
    }
    Ok(())
}
