//! The operator suite runner: each catalogue case runs on the reference backend and on every
//! backend under test, and the results are judged by the tolerance policy.
//!
//! Statuses: `passed`; `failed` (max abs / rel / ULP error and the first differing index);
//! `error` (an internal error, or a panic caught at the boundary); `unsupported` (declared by
//! the backend's capabilities, or a typed unsupported error); `skipped` (the backend's device
//! is missing here, with the reason). Each result also says where it ran: `native` kernels or
//! the host `fallback`.

use crate::catalogue::{CaseSpec, Operand};
use crate::onnx_node::{catch_panic, matches_filter, runtime_status};
use crate::report::{CaseResult, CaseStatus, SuiteReport};
use crate::tolerance::{self, CaseScale};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_ir::{DType, Tensor};
use tessera_runtime::{Availability, Backend, NamedTensors, OpSupport, ReferenceBackend};

/// How [`run_ops`] runs.
#[derive(Clone, Debug, Default)]
pub struct OpsOptions {
    /// Only cases whose name matches (substring, or a glob with `*` and `?`).
    pub filter: Option<String>,
    /// Worker threads; 0 means one per core.
    pub jobs: usize,
    /// The quick subset: no ≥16M-element cases, and one case in four (chosen by name).
    pub quick: bool,
    /// Show a progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

/// The cases of the catalogue that `options` selects. The quick subset keeps every operator's
/// first small case, every `n33/ordinary` case, and about one in four of the others (chosen by
/// a hash of the name); no case of 1M or more input elements.
pub fn select(cases: Vec<CaseSpec>, options: &OpsOptions) -> Vec<CaseSpec> {
    let mut seen_ops = std::collections::HashSet::new();
    cases
        .into_iter()
        .filter(|c| {
            options
                .filter
                .as_ref()
                .is_none_or(|f| matches_filter(&c.name, f))
        })
        .filter(|c| {
            if !options.quick {
                return true;
            }
            if c.input_elements() >= 1 << 20 {
                return false;
            }
            let first_of_op = seen_ops.insert(c.op.clone());
            let h = crate::catalogue::Rng::from_name(&c.name).next_u64();
            first_of_op || h.is_multiple_of(4) || c.name.contains("/n33/ordinary")
        })
        .collect()
}

/// What the reference made of a case: its outputs, or the status and message every backend
/// gets when the reference itself cannot run it.
enum Expected {
    Outputs(Vec<(String, Tensor)>),
    Stopped(CaseStatus, String),
}

/// Runs the selected cases on each backend (the reference runs each case once, first), with a
/// report per backend, each named suite `ops`.
pub fn run_ops(
    cases: &[CaseSpec],
    backends: &[Arc<dyn Backend>],
    options: &OpsOptions,
) -> Vec<SuiteReport> {
    let start = Instant::now();
    let jobs = match options.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, cases.len().max(1));
    let bar = if options.progress {
        let bar = ProgressBar::new(cases.len() as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {wide_msg}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let availability: Vec<Availability> = backends.iter().map(|b| b.availability()).collect();
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Vec<CaseResult>>>> = Mutex::new(vec![None; cases.len()]);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(case) = cases.get(i) else { break };
            bar.set_message(case.name.clone());
            let results = run_case(case, backends, &availability);
            bar.inc(1);
            if let Ok(mut s) = slots.lock()
                && let Some(slot) = s.get_mut(i)
            {
                *slot = Some(results);
            }
        }
    };
    std::thread::scope(|s| {
        let mut spawned = 0;
        for k in 0..jobs {
            let w = std::thread::Builder::new()
                .name(format!("ops-{k}"))
                .stack_size(64 << 20)
                .spawn_scoped(s, work);
            spawned += usize::from(w.is_ok());
        }
        if spawned == 0 {
            work();
        }
    });
    bar.finish_and_clear();
    let slots = slots.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut reports: Vec<SuiteReport> = backends
        .iter()
        .map(|b| SuiteReport {
            backend: b.name().to_string(),
            suite: "ops".into(),
            cases: Vec::with_capacity(cases.len()),
            elapsed: Duration::ZERO,
        })
        .collect();
    for per_case in slots.into_iter().flatten() {
        for (r, result) in reports.iter_mut().zip(per_case) {
            r.cases.push(result);
        }
    }
    let elapsed = start.elapsed();
    for r in &mut reports {
        r.elapsed = elapsed;
    }
    reports
}

/// Runs one case on the reference, then on each backend. Never panics.
pub fn run_case(
    case: &CaseSpec,
    backends: &[Arc<dyn Backend>],
    availability: &[Availability],
) -> Vec<CaseResult> {
    let blank = |status, message: String| CaseResult {
        name: case.name.clone(),
        op: case.op.clone(),
        status,
        message,
        max_abs_err: None,
        max_rel_err: None,
        max_ulp_err: None,
        first_index: None,
        placement: None,
        elapsed: Duration::ZERO,
    };
    let prepared = catch_panic(|| case.graph().map(|g| (g, case.inputs())));
    let (graph, inputs) = match prepared {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            let r = blank(CaseStatus::Error, format!("building the case: {e}"));
            return vec![r; backends.len()];
        }
        Err(p) => {
            let r = blank(CaseStatus::Error, format!("panic building the case: {p}"));
            return vec![r; backends.len()];
        }
    };
    let expected = run_on(&ReferenceBackend, &graph, &inputs);
    let expected = match expected {
        Ok((outs, _)) => Expected::Outputs(outs),
        Err((status, m)) => Expected::Stopped(status, format!("reference: {m}")),
    };
    let dtypes: Vec<DType> = case
        .operands
        .iter()
        .filter_map(|o| match o {
            Operand::Input { dtype, .. } => Some(*dtype),
            Operand::Const(t) => Some(t.dtype()),
            Operand::Absent => None,
        })
        .collect();
    let scale = case_scale(case, &inputs);
    backends
        .iter()
        .zip(availability)
        .map(|(backend, avail)| {
            let start = Instant::now();
            let mut r = match (avail, &expected) {
                (Availability::Unavailable(why), _) => blank(CaseStatus::Skipped, why.clone()),
                (_, Expected::Stopped(status, m)) => blank(*status, m.clone()),
                (_, Expected::Outputs(want)) => match backend.op_support(&case.node, &dtypes) {
                    OpSupport::Unsupported(why) => {
                        blank(CaseStatus::Unsupported, format!("declared: {why}"))
                    }
                    _ => match run_on(backend.as_ref(), &graph, &inputs) {
                        Err((status, m)) => blank(status, m),
                        Ok((got, placement)) => {
                            let mut r = judge(case, want, &got, scale, &blank);
                            r.placement = Some(placement);
                            r
                        }
                    },
                },
            };
            r.elapsed = start.elapsed();
            r
        })
        .collect()
}

/// Compiles and runs a graph, with panics caught: the outputs and where they ran, or a status
/// and message.
#[allow(clippy::type_complexity)]
fn run_on(
    backend: &dyn Backend,
    graph: &tessera_ir::Graph,
    inputs: &NamedTensors,
) -> Result<(Vec<(String, Tensor)>, &'static str), (CaseStatus, String)> {
    let outcome = catch_panic(|| {
        let exe = backend
            .compile(graph)
            .map_err(|e| (runtime_status(&e), format!("compile: {e}")))?;
        let outs = exe
            .run(inputs)
            .map_err(|e| (runtime_status(&e), format!("run: {e}")))?;
        Ok((outs, exe.placement().map_or("native", |p| p.summary())))
    });
    outcome.unwrap_or_else(|p| Err((CaseStatus::Error, format!("panic: {p}"))))
}

/// The magnitude and length a case's bound scales with.
fn case_scale(case: &CaseSpec, inputs: &NamedTensors) -> CaseScale {
    let max_abs = |t: &Tensor| {
        if !t.dtype().is_float() {
            return 0.0;
        }
        (0..t.len())
            .map(|i| t.get_f64(i).abs())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
    };
    let mut mags: Vec<f64> = (0..inputs.len())
        .filter_map(|k| inputs.get(&format!("x{k}")))
        .map(max_abs)
        .collect();
    let contraction = matches!(
        tolerance::op_class(&case.op),
        tolerance::OpClass::Accumulation
    ) && mags.len() >= 2
        && matches!(
            case.op.as_str(),
            "matmul" | "gemm" | "einsum" | "conv" | "conv_transpose" | "deform_conv"
        );
    let magnitude = if contraction {
        mags.truncate(2);
        mags.iter().map(|m| m.max(1.0)).product::<f64>() * 4.0
    } else {
        mags.into_iter().fold(0.0, f64::max)
    };
    CaseScale {
        terms: case.terms,
        magnitude,
    }
}

/// Compares every output with the tolerance policy.
fn judge(
    case: &CaseSpec,
    want: &[(String, Tensor)],
    got: &[(String, Tensor)],
    scale: CaseScale,
    blank: &dyn Fn(CaseStatus, String) -> CaseResult,
) -> CaseResult {
    if want.len() != got.len() {
        return blank(
            CaseStatus::Failed,
            format!(
                "expected {} outputs, the backend returned {}",
                want.len(),
                got.len()
            ),
        );
    }
    let mut r = blank(CaseStatus::Passed, String::new());
    let (mut abs, mut rel, mut ulp) = (0f64, 0f64, 0f64);
    for (k, ((name, e), (_, a))) in want.iter().zip(got).enumerate() {
        let bound = tolerance::bound(&case.op, e.dtype(), scale);
        let v = tolerance::check(e, a, bound);
        abs = abs.max(v.max_abs);
        rel = rel.max(v.max_rel);
        ulp = ulp.max(v.max_ulp);
        if let Some(m) = v.mismatch
            && r.status == CaseStatus::Passed
        {
            r.status = CaseStatus::Failed;
            r.message = format!("output {k} (`{name}`): {m}");
            r.first_index = v.first_index;
        }
    }
    r.max_abs_err = Some(abs);
    r.max_rel_err = Some(rel);
    r.max_ulp_err = Some(ulp);
    r
}
