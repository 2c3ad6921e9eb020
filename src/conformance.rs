//! `tessera conformance`: runs a conformance suite on one or every backend and writes reports.

use std::path::{Path, PathBuf};
use tessera::Error;
use tessera::conformance::{SuiteOptions, check_floor, run_suite, stderr_progress};

/// The command's arguments.
pub struct OnnxArgs {
    pub onnx_data: Option<PathBuf>,
    pub backend: String,
    pub cpu_codegen: tessera::CpuCodegen,
    pub filter: Option<String>,
    pub jobs: usize,
    pub json: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub floor: Option<PathBuf>,
    pub quiet: bool,
}

/// The ONNX test-data folder: the argument, `$TESSERA_ONNX_DATA`, or the `node` folder of the
/// installed `onnx` Python package.
fn data_dir(arg: Option<PathBuf>) -> Result<PathBuf, Error> {
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
        _ => Err(Error::Usage(
            "no ONNX test data: pass --onnx-data DIR, set TESSERA_ONNX_DATA, or `pip install onnx==1.22.0`".into(),
        )),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `path` with `-<backend>` before its extension (for `--backend all`).
fn suffixed(path: &Path, backend: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{backend}{ext}"))
}

/// Runs the ONNX suite and writes the reports; fails when a floor is not met.
pub fn run_onnx(args: OnnxArgs) -> Result<(), Error> {
    let dir = data_dir(args.onnx_data)?;
    let registry = tessera::registry_with_cpu(args.cpu_codegen)?;
    let backends: Vec<_> = if args.backend == "all" {
        registry
            .list()
            .into_iter()
            .filter(|(_, a)| a.is_available())
            .map(|(n, _)| registry.get(&n))
            .collect::<Result<_, _>>()?
    } else {
        vec![registry.get(&args.backend)?]
    };
    let many = backends.len() > 1;
    let mut below_floor = Vec::new();
    for backend in backends {
        let options = SuiteOptions {
            filter: args.filter.clone(),
            jobs: args.jobs,
            progress: (!args.quiet).then(stderr_progress),
        };
        let report = run_suite(&dir, backend.as_ref(), &options)?;
        println!("{}", report.summary_text());
        let name = backend.name().to_string();
        if let Some(p) = &args.json {
            write(
                &if many { suffixed(p, &name) } else { p.clone() },
                &report.to_json(),
            )?;
        }
        if let Some(p) = &args.markdown {
            write(
                &if many { suffixed(p, &name) } else { p.clone() },
                &report.markdown_coverage(),
            )?;
        }
        if let Some(floor) = &args.floor
            && let Err(e) = check_floor(&report, floor)
        {
            below_floor.push(e.to_string());
        }
    }
    if below_floor.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage(below_floor.join("; ")))
    }
}
