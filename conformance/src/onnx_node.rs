//! The ONNX node-test runner: finds the cases of an ONNX backend-test data folder (each a
//! `model.onnx` plus `test_data_set_N/{input,output}_K.pb`), imports each model, compiles and
//! runs it on a backend, and compares the outputs like ONNX's own runner (see
//! [`crate::compare`]).
//!
//! Every case ends in a [`CaseStatus`]; nothing a case does (an importer error, a backend
//! error, a panic) stops the suite.

use crate::compare::{Tolerance, compare_outputs};
use crate::error::ConformanceError;
use crate::op_names::{NAME_ALIASES, ONNX_OPS};
use crate::pb;
use crate::report::{CaseResult, CaseStatus, SuiteReport};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::Instant;
use tessera_frontends::onnx::{self, OnnxError};
use tessera_ir::{Graph, IrError, Tensor};
use tessera_runtime::{Backend, NamedTensors, RuntimeError};

/// One test case: a case folder (`node`, `simple`, `pytorch-*`), or a model file with
/// expected outputs beside it (`light`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseDir {
    /// The case's name (the folder's name, e.g. `test_abs`, or the model file's stem).
    pub name: String,
    /// The case folder, or the model file of a `light` case.
    pub path: PathBuf,
    /// The operator it tests (see [`case_op`]); `model` for whole-model cases.
    pub op: String,
    /// How the case's data is laid out.
    pub layout: Layout,
}

/// Where a case keeps its model and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `<case>/model.onnx` with `test_data_set_N/{input,output}_K.pb`.
    Folder,
    /// `<name>.onnx` with `<name>_output_K.pb` beside it and no inputs: like ONNX's runner,
    /// each float input is `arange(n) / n` in its shape (unknown dims taken as 1).
    Light,
}

/// Every subfolder of `dir` that holds a `model.onnx`, sorted by name, with its operator.
///
/// `dir` is a folder of case folders, such as `onnx/backend/test/data/node`.
pub fn discover_cases(dir: &Path) -> Result<Vec<CaseDir>, ConformanceError> {
    let io = |e: std::io::Error| ConformanceError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if let Some(case) = light_case(&path) {
            cases.push(case);
            continue;
        }
        let model = path.join("model.onnx");
        if !model.is_file() {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A model that cannot be decoded still gets an operator from its name; running it
        // reports the decoding error.
        let node_ops = pb::model_op_types(&model).unwrap_or_default();
        let op = case_op(&name, &node_ops);
        cases.push(CaseDir {
            name,
            path,
            op,
            layout: Layout::Folder,
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

/// A `light` case: a model file `<name>.onnx` with `<name>_output_0.pb` beside it.
fn light_case(path: &Path) -> Option<CaseDir> {
    if !path.is_file() || path.extension()? != "onnx" {
        return None;
    }
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    path.with_file_name(format!("{stem}_output_0.pb"))
        .is_file()
        .then(|| CaseDir {
            name: stem,
            path: path.to_path_buf(),
            op: "model".into(),
            layout: Layout::Light,
        })
}

/// The operator a case tests, from its folder name and its model's node `op_type`s:
///
/// 1. A case whose name does not contain `_expanded` and whose model has exactly one node
///    tests that node's operator.
/// 2. Otherwise (function-expanded cases, multi-node models) the name decides: after the
///    `test_` prefix, the longest known spelling of an ONNX operator that is followed by the
///    end, `_` or a digit. Known spellings are each operator's snake_case form
///    (`ReduceLogSumExp` → `reduce_log_sum_exp`), its lowercase form (`averagepool`), and a few
///    abbreviations ([`NAME_ALIASES`]: `nllloss`, `sce`, `mvn`, ...).
/// 3. Failing that, the first node that is not a `Constant`, or `unknown`.
pub fn case_op(name: &str, node_ops: &[String]) -> String {
    if let [only] = node_ops
        && !name.contains("_expanded")
    {
        return only.clone();
    }
    if let Some(op) = op_from_name(name) {
        return op.to_string();
    }
    node_ops
        .iter()
        .find(|op| op.as_str() != "Constant")
        .or(node_ops.first())
        .cloned()
        .unwrap_or_else(|| "unknown".to_string())
}

/// The operator whose longest spelling starts the test name (rule 2 of [`case_op`]).
fn op_from_name(name: &str) -> Option<&'static str> {
    let rest = name.strip_prefix("test_").unwrap_or(name);
    let fits = |form: &str| {
        rest.strip_prefix(form).is_some_and(|tail| {
            tail.is_empty()
                || tail.starts_with('_')
                || tail.starts_with(|c: char| c.is_ascii_digit())
        })
    };
    let mut best: Option<(usize, &'static str)> = None;
    let mut consider = |form: &str, op: &'static str| {
        if fits(form) && best.is_none_or(|(len, _)| form.len() > len) {
            best = Some((form.len(), op));
        }
    };
    for &op in ONNX_OPS {
        consider(&snake_case(op), op);
        consider(&op.to_ascii_lowercase(), op);
    }
    for &(form, op) in NAME_ALIASES {
        consider(form, op);
    }
    best.map(|(_, op)| op)
}

/// `ReduceLogSumExp` → `reduce_log_sum_exp`, `GatherND` → `gather_nd`, `LRN` → `lrn`.
pub fn snake_case(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Runs one case on `backend`: import, compile once, run every `test_data_set_N`, compare.
///
/// Never panics and never returns early with an error: a panic anywhere in the case becomes an
/// [`CaseStatus::Error`] result with the panic's message and location.
pub fn run_case(case: &CaseDir, backend: &dyn Backend) -> CaseResult {
    let start = Instant::now();
    PLACEMENT.with(|p| p.set(None));
    let outcome = catch_panic(|| execute(case, backend)).unwrap_or_else(|panic| Outcome {
        status: CaseStatus::Error,
        message: format!("panic: {panic}"),
        max_abs_err: None,
    });
    CaseResult {
        name: case.name.clone(),
        op: case.op.clone(),
        status: outcome.status,
        message: outcome.message,
        max_abs_err: outcome.max_abs_err,
        max_rel_err: None,
        max_ulp_err: None,
        first_index: None,
        placement: PLACEMENT.with(|p| p.get()),
        elapsed: start.elapsed(),
    }
}

thread_local! {
    /// Where the case's last run placed its steps (`native` / `fallback`), set by `check_run`.
    static PLACEMENT: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// What a case came to, before timing and naming.
struct Outcome {
    status: CaseStatus,
    message: String,
    max_abs_err: Option<f64>,
}

impl Outcome {
    fn stopped(status: CaseStatus, message: String) -> Self {
        Outcome {
            status,
            message,
            max_abs_err: None,
        }
    }
}

fn execute(case: &CaseDir, backend: &dyn Backend) -> Outcome {
    let model = match case.layout {
        Layout::Folder => case.path.join("model.onnx"),
        Layout::Light => case.path.clone(),
    };
    let graph = match onnx::load_model(&model) {
        Ok(g) => g,
        Err(e) if needs_bound_inputs(&e) && case.layout == Layout::Folder => {
            return execute_specialized(case, backend, &model);
        }
        Err(e) => return Outcome::stopped(import_status(&e), format!("import: {e}")),
    };
    let exe = match backend.compile(&graph) {
        Ok(exe) => exe,
        Err(e) => return Outcome::stopped(runtime_status(&e), format!("compile: {e}")),
    };
    if case.layout == Layout::Light {
        return match light_data(&case.path, &graph) {
            Ok((inputs, expected)) => check_run(exe.as_ref(), &inputs, &expected, "light", None),
            Err((status, message)) => Outcome::stopped(status, message),
        };
    }
    let sets = match data_sets(&case.path) {
        Ok(sets) if !sets.is_empty() => sets,
        Ok(_) => return Outcome::stopped(CaseStatus::Error, "no test_data_set_N folder".into()),
        Err(message) => return Outcome::stopped(CaseStatus::Error, message),
    };
    let mut max_abs_err: Option<f64> = None;
    for set in &sets {
        let set_name = set
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (inputs, expected) = match load_data_set(set, &graph) {
            Ok(data) => data,
            Err((status, message)) => {
                return Outcome::stopped(status, format!("{set_name}: {message}"));
            }
        };
        let outcome = check_run(exe.as_ref(), &inputs, &expected, &set_name, max_abs_err);
        if outcome.status != CaseStatus::Passed {
            return outcome;
        }
        max_abs_err = outcome.max_abs_err;
    }
    Outcome {
        status: CaseStatus::Passed,
        message: String::new(),
        max_abs_err,
    }
}

/// True when an import failed only because an operand that fixes an output's rank (e.g.
/// Unsqueeze's axes) is a graph input rather than a constant.
fn needs_bound_inputs(err: &OnnxError) -> bool {
    matches!(err, OnnxError::Ir { source, .. } if matches!(**source, IrError::NonConstant { .. }))
}

/// Runs a case whose shapes depend on integer graph inputs: for each data set, those inputs are
/// bound to the set's values (they become initializers, as a user specializing the model to
/// its shape operands would do), the model is imported and compiled for them, and the other
/// inputs are fed as usual.
fn execute_specialized(case: &CaseDir, backend: &dyn Backend, model: &Path) -> Outcome {
    let sets = match data_sets(&case.path) {
        Ok(sets) if !sets.is_empty() => sets,
        Ok(_) => return Outcome::stopped(CaseStatus::Error, "no test_data_set_N folder".into()),
        Err(message) => return Outcome::stopped(CaseStatus::Error, message),
    };
    let mut max_abs_err = None;
    for set in &sets {
        let set_name = set
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (graph, inputs, expected) = match specialize_to_set(model, set) {
            Ok(x) => x,
            Err((status, message)) => {
                return Outcome::stopped(status, format!("{set_name}: {message}"));
            }
        };
        let exe = match backend.compile(&graph) {
            Ok(exe) => exe,
            Err(e) => return Outcome::stopped(runtime_status(&e), format!("compile: {e}")),
        };
        let outcome = check_run(exe.as_ref(), &inputs, &expected, &set_name, max_abs_err);
        if outcome.status != CaseStatus::Passed {
            return outcome;
        }
        max_abs_err = outcome.max_abs_err;
    }
    Outcome {
        status: CaseStatus::Passed,
        message: String::new(),
        max_abs_err,
    }
}

/// The model with its integer graph inputs bound to the data set's values, the remaining
/// inputs by name, and the expected outputs.
fn specialize_to_set(
    model: &Path,
    set: &Path,
) -> Result<(Graph, NamedTensors, Vec<Tensor>), (CaseStatus, String)> {
    use prost::Message;
    let err = |m: String| (CaseStatus::Error, m);
    let bytes = std::fs::read(model).map_err(|e| err(format!("cannot read model: {e}")))?;
    let mut proto = tessera_frontends::onnx::proto::ModelProto::decode(bytes.as_slice())
        .map_err(|e| err(format!("model: {e}")))?;
    let g = proto
        .graph
        .as_mut()
        .ok_or_else(|| err("model has no graph".into()))?;
    let inits: std::collections::HashSet<String> = g
        .initializer
        .iter()
        .filter_map(|t| t.name.clone())
        .collect();
    let names: Vec<String> = g
        .input
        .iter()
        .filter_map(|v| v.name.clone())
        .filter(|n| !inits.contains(n))
        .collect();
    let files = numbered_entries(set, "input_", ".pb").map_err(err)?;
    if files.len() != names.len() {
        return Err(err(format!(
            "{} input files for {} graph inputs",
            files.len(),
            names.len()
        )));
    }
    let mut bound = std::collections::HashSet::new();
    let mut inputs = NamedTensors::new();
    for (name, file) in names.iter().zip(&files) {
        let raw = std::fs::read(file).map_err(|e| err(format!("{}: {e}", file.display())))?;
        let mut t =
            pb::decode_tensor_proto(&raw, name).map_err(|e| (import_status(&e), e.to_string()))?;
        let dtype = tessera_frontends::onnx::onnx_dtype(t.data_type.unwrap_or(0));
        if dtype.is_some_and(|d| d.is_int()) {
            t.name = Some(name.clone());
            g.initializer.push(t);
            bound.insert(name.clone());
        } else {
            let tensor = tessera_frontends::onnx::tensor_from_proto(&t, name, None)
                .map_err(|e| (import_status(&e), e.to_string()))?;
            inputs.insert(name.clone(), tensor);
        }
    }
    g.input
        .retain(|v| v.name.as_ref().is_none_or(|n| !bound.contains(n)));
    let dir = model.parent();
    let graph = onnx::import_model(&proto.encode_to_vec(), dir)
        .map_err(|e| (import_status(&e), format!("import (inputs bound): {e}")))?;
    let expected = numbered_entries(set, "output_", ".pb")
        .map_err(err)?
        .iter()
        .map(|p| pb::read_tensor(p).map_err(|e| (import_status(&e), e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((graph, inputs, expected))
}

/// Runs one data set and compares; `max_abs_err` carries the largest error seen so far.
fn check_run(
    exe: &dyn tessera_runtime::Executable,
    inputs: &NamedTensors,
    expected: &[Tensor],
    set_name: &str,
    max_abs_err: Option<f64>,
) -> Outcome {
    let actual = match exe.run(inputs) {
        Ok(outs) => outs,
        Err(e) => return Outcome::stopped(runtime_status(&e), format!("{set_name}: run: {e}")),
    };
    let placement = exe.placement().map_or("native", |p| p.summary());
    PLACEMENT.with(|p| p.set(Some(placement)));
    let cmp = compare_outputs(expected, &actual, Tolerance::ONNX);
    let max_abs_err = match (max_abs_err, cmp.max_abs_err) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    match cmp.mismatch {
        Some(m) => Outcome {
            status: CaseStatus::Failed,
            message: format!("{set_name}: {m}"),
            max_abs_err,
        },
        None => Outcome {
            status: CaseStatus::Passed,
            message: String::new(),
            max_abs_err,
        },
    }
}

/// Inputs and expected outputs of a `light` case: each graph input (all must be f32) is
/// `arange(n) / n` in its shape, symbolic dims taken as 1, as ONNX's backend runner makes them.
fn light_data(
    model: &Path,
    graph: &Graph,
) -> Result<(NamedTensors, Vec<Tensor>), (CaseStatus, String)> {
    let mut inputs = NamedTensors::new();
    for &v in &graph.inputs {
        let val = graph.value(v);
        if val.ty.dtype != tessera_ir::DType::F32 {
            return Err((
                CaseStatus::Error,
                format!(
                    "light input `{}` is {}, only f32 inputs can be generated",
                    graph.value_label(v),
                    val.ty
                ),
            ));
        }
        let dims: Vec<usize> = val
            .ty
            .shape
            .0
            .iter()
            .map(|d| d.as_static().unwrap_or(1))
            .collect();
        let n: usize = dims.iter().product();
        let data: Vec<f32> = (0..n).map(|i| (i as f64 / n as f64) as f32).collect();
        let t = Tensor::from_vec(&dims, data).map_err(|e| (CaseStatus::Error, e.to_string()))?;
        inputs.insert(graph.value_label(v), t);
    }
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut expected = Vec::new();
    for k in 0..graph.outputs.len() {
        let p = model.with_file_name(format!("{stem}_output_{k}.pb"));
        expected.push(pb::read_tensor(&p).map_err(|e| (import_status(&e), e.to_string()))?);
    }
    Ok((inputs, expected))
}

/// Whether an importer error is a declared limitation or a bug.
///
/// Unsupported: operators, opsets, element types and non-tensor value kinds (sequences, maps,
/// optionals) the importer declares it does not handle, and IR `Unsupported` (dtype) errors.
/// Everything else (malformed or "invalid" models, bad attributes, shape errors on the valid
/// ONNX test models) is an error.
pub fn import_status(err: &OnnxError) -> CaseStatus {
    match err {
        OnnxError::UnsupportedOp { .. }
        | OnnxError::UnsupportedOpset { .. }
        | OnnxError::UnsupportedDType { .. }
        | OnnxError::UnsupportedType { .. } => CaseStatus::Unsupported,
        OnnxError::Ir { source, .. } if matches!(**source, IrError::Unsupported { .. }) => {
            CaseStatus::Unsupported
        }
        _ => CaseStatus::Error,
    }
}

/// Whether a backend error is a declared limitation (`Unsupported`) or an error.
pub fn runtime_status(err: &RuntimeError) -> CaseStatus {
    match err {
        RuntimeError::Ir(IrError::Unsupported { .. } | IrError::Nondeterministic { .. }) => {
            CaseStatus::Unsupported
        }
        RuntimeError::Target {
            source: tessera_runtime::TargetError::Unsupported { .. },
            ..
        } => CaseStatus::Unsupported,
        _ => CaseStatus::Error,
    }
}

/// The `test_data_set_N` folders of a case, by `N`.
fn data_sets(case: &Path) -> Result<Vec<PathBuf>, String> {
    numbered_entries(case, "test_data_set_", "")
}

/// The entries of `dir` named `<prefix><N><suffix>`, sorted by `N`.
fn numbered_entries(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>, String> {
    let read =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    let mut found = Vec::new();
    for entry in read {
        let path = entry
            .map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?
            .path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let number = name
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(n) = number {
            found.push((n, path));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// The inputs (bound by position to the graph's inputs) and expected outputs of a data set.
fn load_data_set(
    set: &Path,
    graph: &Graph,
) -> Result<(NamedTensors, Vec<Tensor>), (CaseStatus, String)> {
    let err = |m: String| (CaseStatus::Error, m);
    let read_all = |prefix: &str| -> Result<Vec<Tensor>, (CaseStatus, String)> {
        numbered_entries(set, prefix, ".pb")
            .map_err(err)?
            .iter()
            .map(|p| pb::read_tensor(p).map_err(|e| (import_status(&e), e.to_string())))
            .collect()
    };
    let inputs = read_all("input_")?;
    let expected = read_all("output_")?;
    if inputs.len() != graph.inputs.len() {
        return Err(err(format!(
            "{} input files for {} graph inputs",
            inputs.len(),
            graph.inputs.len()
        )));
    }
    let named = graph
        .inputs
        .iter()
        .map(|&v| graph.value_label(v))
        .zip(inputs)
        .collect();
    Ok((named, expected))
}

/// Called after each case with the number of cases done, the total, and the case's result.
pub type ProgressFn = dyn Fn(usize, usize, &CaseResult) + Send + Sync;

/// How [`run_suite`] runs.
#[derive(Default)]
pub struct SuiteOptions {
    /// Only cases whose name matches: a glob (`*` any run of characters, `?` one character)
    /// when it contains `*` or `?`, which must then match the whole name; otherwise a
    /// substring.
    pub filter: Option<String>,
    /// Worker threads; 0 means one per available core.
    pub jobs: usize,
    /// Called after each case (from the worker threads).
    pub progress: Option<Box<ProgressFn>>,
}

/// A progress callback that prints each case that does not pass, and a count every 100 cases,
/// to stderr.
pub fn stderr_progress() -> Box<ProgressFn> {
    Box::new(|done, total, case| {
        if case.status != CaseStatus::Passed {
            let first_line = case.message.lines().next().unwrap_or("");
            eprintln!(
                "[{done}/{total}] {} {}: {first_line}",
                case.status, case.name
            );
        } else if done % 100 == 0 || done == total {
            eprintln!("[{done}/{total}]");
        }
    })
}

/// Whether a case name matches a [`SuiteOptions::filter`].
pub fn matches_filter(name: &str, filter: &str) -> bool {
    if filter.contains(['*', '?']) {
        glob_match(filter.as_bytes(), name.as_bytes())
    } else {
        name.contains(filter)
    }
}

/// Whole-string glob match with `*` and `?` (iterative, backtracking to the last `*`).
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Discovers the cases of `dir`, keeps those matching the filter, runs them on `backend` with
/// `options.jobs` threads, and reports them sorted by name. The suite is named
/// `onnx/<folder name>`.
pub fn run_suite(
    dir: &Path,
    backend: &dyn Backend,
    options: &SuiteOptions,
) -> Result<SuiteReport, ConformanceError> {
    let start = Instant::now();
    let mut cases = discover_cases(dir)?;
    if let Some(f) = &options.filter {
        cases.retain(|c| matches_filter(&c.name, f));
    }
    let results = run_cases(&cases, backend, options);
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(SuiteReport {
        backend: backend.name().to_string(),
        suite: format!("onnx/{folder}"),
        cases: results,
        elapsed: start.elapsed(),
    })
}

/// Stack size of worker threads: deep graphs and recursive kernels get room.
const WORKER_STACK: usize = 64 << 20;

/// Runs `cases` on worker threads that take the next case from a shared counter; results keep
/// the order of `cases`.
fn run_cases(cases: &[CaseDir], backend: &dyn Backend, options: &SuiteOptions) -> Vec<CaseResult> {
    let jobs = match options.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, cases.len().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<CaseResult>>> = Mutex::new(vec![None; cases.len()]);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(case) = cases.get(i) else { break };
            let result = run_case(case, backend);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(progress) = &options.progress {
                progress(n, cases.len(), &result);
            }
            if let Ok(mut slots) = slots.lock()
                && let Some(slot) = slots.get_mut(i)
            {
                *slot = Some(result);
            }
        }
    };
    std::thread::scope(|s| {
        let mut spawned = 0;
        for k in 0..jobs {
            let worker = std::thread::Builder::new()
                .name(format!("conformance-{k}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(s, work);
            spawned += usize::from(worker.is_ok());
        }
        if spawned == 0 {
            work();
        }
    });
    let slots = slots
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Every case ran (a worker cannot die: run_case catches panics), so every slot is filled.
    slots.into_iter().flatten().collect()
}

thread_local! {
    /// Set while this thread runs a case: the panic hook then records instead of printing.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// The last panic recorded on this thread (message and location).
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs (once per process) a panic hook that, on threads inside [`catch_panic`], records
/// the panic's message and location for the case result instead of printing it; panics on
/// every other thread go to the hook that was installed before.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string payload)".to_string());
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{location}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into `Err` with its message and location.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_panic_hook();
    let was_capturing = CAPTURING.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(was_capturing));
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "unknown panic".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::fs;
    use tessera_frontends::onnx::proto::{
        DataType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
        TensorShapeProto, TypeProto, ValueInfoProto,
    };
    use tessera_frontends::onnx::proto::{Dimension, DimensionValue, TensorTypeProto, TypeValue};
    use tessera_runtime::{Availability, Executable, ReferenceBackend};

    fn temp_dir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("tessera-onnx-node-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(TypeValue::TensorType(TensorTypeProto {
                    elem_type: Some(DataType::Float as i32),
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(DimensionValue::DimValue(d)),
                            })
                            .collect(),
                    }),
                })),
            }),
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            op_type: Some(op.into()),
            ..Default::default()
        }
    }

    /// A model computing `y = op(x)` (or `y = op(x, b)`) on f32 vectors of length 3.
    fn model(nodes: Vec<NodeProto>, inputs: &[&str]) -> Vec<u8> {
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                version: Some(21),
                ..Default::default()
            }],
            graph: Some(GraphProto {
                name: Some("g".into()),
                node: nodes,
                input: inputs.iter().map(|n| value_info(n, &[3])).collect(),
                output: vec![value_info("y", &[3])],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn tensor_pb(values: &[f32]) -> Vec<u8> {
        TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(DataType::Float as i32),
            float_data: values.to_vec(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// Writes a case folder with one data set.
    fn write_case(root: &Path, name: &str, model: &[u8], inputs: &[&[f32]], outputs: &[&[f32]]) {
        let set = root.join(name).join("test_data_set_0");
        fs::create_dir_all(&set).unwrap();
        fs::write(root.join(name).join("model.onnx"), model).unwrap();
        for (k, v) in inputs.iter().enumerate() {
            fs::write(set.join(format!("input_{k}.pb")), tensor_pb(v)).unwrap();
        }
        for (k, v) in outputs.iter().enumerate() {
            fs::write(set.join(format!("output_{k}.pb")), tensor_pb(v)).unwrap();
        }
    }

    #[test]
    fn snake_case_forms() {
        assert_eq!(snake_case("ReduceLogSumExp"), "reduce_log_sum_exp");
        assert_eq!(snake_case("GatherND"), "gather_nd");
        assert_eq!(snake_case("LRN"), "lrn");
        assert_eq!(snake_case("QLinearConv"), "q_linear_conv");
        assert_eq!(snake_case("Abs"), "abs");
    }

    #[test]
    fn op_of_a_case() {
        let ops = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Single node: the node's op, whatever the name says.
        assert_eq!(
            case_op("test_basic_conv_with_padding", &ops(&["Conv"])),
            "Conv"
        );
        assert_eq!(case_op("test_tril_neg", &ops(&["Trilu"])), "Trilu");
        // Expanded and multi-node cases: the longest spelling in the name.
        assert_eq!(
            case_op("test_castlike_FLOAT_to_DOUBLE_expanded", &ops(&["Cast"])),
            "CastLike"
        );
        assert_eq!(
            case_op(
                "test_reduce_log_sum_exp_do_not_keepdims_expanded",
                &ops(&["Exp", "ReduceSum", "Log"])
            ),
            "ReduceLogSumExp"
        );
        assert_eq!(
            case_op("test_layer_normalization_2d_axis0", &ops(&["A", "B"])),
            "LayerNormalization"
        );
        assert_eq!(
            case_op("test_logsoftmax_axis_0_expanded", &ops(&["A", "B"])),
            "LogSoftmax"
        );
        assert_eq!(
            case_op("test_greater_equal_bcast_expanded", &ops(&["A", "B"])),
            "GreaterOrEqual"
        );
        assert_eq!(
            case_op("test_sce_mean_expanded", &ops(&["A", "B"])),
            "SoftmaxCrossEntropyLoss"
        );
        assert_eq!(case_op("test_loop11", &ops(&["Loop", "Identity"])), "Loop");
        // Nothing in the name: the first non-Constant node, else `unknown`.
        assert_eq!(case_op("test_zzz", &ops(&["Constant", "Mul"])), "Mul");
        assert_eq!(case_op("test_zzz", &[]), "unknown");
    }

    #[test]
    fn filters() {
        assert!(matches_filter("test_abs", "abs"));
        assert!(!matches_filter("test_abs", "acos"));
        assert!(matches_filter("test_add_bcast", "test_add*"));
        assert!(!matches_filter("test_abs", "test_add*"));
        assert!(matches_filter("test_add_bcast", "*_b?ast"));
        assert!(!matches_filter("test_add_bcast", "*_b?as"));
        assert!(matches_filter("test_a", "*a*"));
        assert!(matches_filter("", "*"));
    }

    #[test]
    fn discovery_finds_case_folders_sorted() {
        let root = temp_dir("discover");
        write_case(
            &root,
            "test_neg",
            &model(vec![node("Neg", &["x"], "y")], &["x"]),
            &[],
            &[],
        );
        write_case(
            &root,
            "test_abs",
            &model(vec![node("Abs", &["x"], "y")], &["x"]),
            &[],
            &[],
        );
        fs::create_dir_all(root.join("not_a_case")).unwrap();
        fs::write(root.join("stray.txt"), "x").unwrap();
        fs::create_dir_all(root.join("test_broken")).unwrap();
        fs::write(root.join("test_broken/model.onnx"), [0xff, 0xff, 0xff]).unwrap();
        let cases = discover_cases(&root).unwrap();
        let names: Vec<_> = cases
            .iter()
            .map(|c| (c.name.as_str(), c.op.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("test_abs", "Abs"),
                ("test_broken", "unknown"),
                ("test_neg", "Neg")
            ]
        );
        assert_eq!(cases[0].path, root.join("test_abs"));
        assert!(matches!(
            discover_cases(&root.join("missing")),
            Err(ConformanceError::Io { .. })
        ));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn statuses_of_cases() {
        let root = temp_dir("statuses");
        let abs = model(vec![node("Abs", &["x"], "y")], &["x"]);
        write_case(
            &root,
            "test_abs",
            &abs,
            &[&[-1.0, 2.0, -3.5]],
            &[&[1.0, 2.0, 3.5]],
        );
        write_case(
            &root,
            "test_abs_wrong",
            &abs,
            &[&[-1.0, 2.0, -3.5]],
            &[&[1.0, 2.0, 3.0]],
        );
        write_case(&root, "test_abs_no_data", &abs, &[], &[]);
        fs::remove_dir_all(root.join("test_abs_no_data/test_data_set_0")).unwrap();
        let odd = model(vec![node("NoSuchOp", &["x"], "y")], &["x"]);
        write_case(
            &root,
            "test_odd",
            &odd,
            &[&[1.0, 2.0, 3.0]],
            &[&[1.0, 2.0, 3.0]],
        );
        write_case(&root, "test_abs_garbled", &[1, 2, 3], &[], &[]);

        let report = run_suite(
            &root,
            &ReferenceBackend,
            &SuiteOptions {
                jobs: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            report.suite,
            format!("onnx/{}", root.file_name().unwrap().to_string_lossy())
        );
        assert_eq!(report.backend, "reference");
        let by_name = |n: &str| report.cases.iter().find(|c| c.name == n).unwrap();
        let ok = by_name("test_abs");
        assert_eq!(ok.status, CaseStatus::Passed, "{}", ok.message);
        assert_eq!(ok.max_abs_err, Some(0.0));
        let wrong = by_name("test_abs_wrong");
        assert_eq!(wrong.status, CaseStatus::Failed);
        assert!(
            wrong.message.contains("test_data_set_0") && wrong.message.contains("index [2]"),
            "{}",
            wrong.message
        );
        assert_eq!(wrong.max_abs_err, Some(0.5));
        assert_eq!(by_name("test_abs_no_data").status, CaseStatus::Error);
        let odd = by_name("test_odd");
        assert_eq!(odd.status, CaseStatus::Unsupported, "{}", odd.message);
        assert_eq!(odd.op, "NoSuchOp");
        assert_eq!(by_name("test_abs_garbled").status, CaseStatus::Error);
        assert_eq!(report.totals().total, 5);

        let filtered = run_suite(
            &root,
            &ReferenceBackend,
            &SuiteOptions {
                filter: Some("test_abs_*".into()),
                jobs: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let names: Vec<_> = filtered.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["test_abs_garbled", "test_abs_no_data", "test_abs_wrong"]
        );
        fs::remove_dir_all(&root).unwrap();
    }

    /// A backend whose executables panic, or report an unsupported dtype.
    struct Faulty {
        panic: bool,
    }

    struct FaultyExe {
        panic: bool,
    }

    impl Backend for Faulty {
        fn name(&self) -> &str {
            "faulty"
        }
        fn availability(&self) -> Availability {
            Availability::Available("test".into())
        }
        fn op_support(
            &self,
            _: &tessera_ir::Op,
            _: &[tessera_ir::DType],
        ) -> tessera_runtime::OpSupport {
            tessera_runtime::OpSupport::Native
        }
        fn compile(&self, _: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
            Ok(Box::new(FaultyExe { panic: self.panic }))
        }
    }

    impl Executable for FaultyExe {
        fn run(&self, _: &NamedTensors) -> Result<Vec<(String, Tensor)>, RuntimeError> {
            if self.panic {
                panic!("kernel exploded");
            }
            Err(RuntimeError::Ir(IrError::Unsupported {
                at: tessera_ir::error::At {
                    node: "n".into(),
                    op: "abs",
                },
                dtype: tessera_ir::DType::F32,
                detail: None,
            }))
        }
    }

    #[test]
    fn panics_and_backend_limits() {
        let root = temp_dir("faulty");
        let abs = model(vec![node("Abs", &["x"], "y")], &["x"]);
        write_case(
            &root,
            "test_abs",
            &abs,
            &[&[1.0, 2.0, 3.0]],
            &[&[1.0, 2.0, 3.0]],
        );
        let report = run_suite(&root, &Faulty { panic: true }, &SuiteOptions::default()).unwrap();
        let c = &report.cases[0];
        assert_eq!(c.status, CaseStatus::Error);
        assert!(
            c.message.contains("kernel exploded") && c.message.contains("onnx_node.rs"),
            "{}",
            c.message
        );
        let report = run_suite(&root, &Faulty { panic: false }, &SuiteOptions::default()).unwrap();
        assert_eq!(
            report.cases[0].status,
            CaseStatus::Unsupported,
            "{}",
            report.cases[0].message
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn input_count_mismatch_is_an_error() {
        let root = temp_dir("inputs");
        let add = model(vec![node("Add", &["x", "b"], "y")], &["x", "b"]);
        write_case(
            &root,
            "test_add",
            &add,
            &[&[1.0, 2.0, 3.0]],
            &[&[1.0, 2.0, 3.0]],
        );
        let case = &discover_cases(&root).unwrap()[0];
        let r = run_case(case, &ReferenceBackend);
        assert_eq!(r.status, CaseStatus::Error);
        assert!(
            r.message.contains("1 input files for 2 graph inputs"),
            "{}",
            r.message
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn classification_of_importer_errors() {
        let unsupported = OnnxError::UnsupportedOp {
            node: "n".into(),
            op_type: "STFT".into(),
            domain: String::new(),
            opset: 21,
        };
        assert_eq!(import_status(&unsupported), CaseStatus::Unsupported);
        let seq = OnnxError::UnsupportedType {
            value: "s".into(),
            kind: "sequence",
        };
        assert_eq!(import_status(&seq), CaseStatus::Unsupported);
        let bad = OnnxError::BadAttribute {
            node: "n".into(),
            op_type: "Conv".into(),
            attribute: "pads".into(),
            reason: "odd".into(),
        };
        assert_eq!(import_status(&bad), CaseStatus::Error);
        assert_eq!(
            import_status(&OnnxError::InvalidModel("x".into())),
            CaseStatus::Error
        );
        let unknown = RuntimeError::UnknownBackend {
            name: "x".into(),
            known: String::new(),
        };
        assert_eq!(runtime_status(&unknown), CaseStatus::Error);
    }
}
