//! Tests of the compiled-backend machinery through the `kernel-interp` device: hand-built
//! plans (kernels, buffer reuse, host steps, outputs that are inputs or constants, empty
//! tensors, plan errors), whole graphs against the reference backend, concurrency, the kernel
//! cache and graphs with symbolic input dims.

use crate::backend::{Backend, Executable, NamedTensors};
use crate::cache::KernelCache;
use crate::compiled::{CompileOptions, CompiledBackend};
use crate::error::RuntimeError;
use crate::interp_device::{InterpDevice, InterpTarget};
use crate::memory::plan_memory;
use crate::placement::{Placement, Where};
use crate::prepared::Prepared;
use crate::reference::ReferenceBackend;
use crate::target::{Artifact, Target, TargetError};
use std::sync::Arc;
use tessera_ir::kernel::{Kernel, KernelInfo, parse_kernel, verify_kernel};
use tessera_ir::op::{Op, UnaryOp};
use tessera_ir::plan::{BufferKind, HostStep, KernelStep, Plan, PlanBuffer, Step};
use tessera_ir::target::TargetDesc;
use tessera_ir::text::parse_graph;
use tessera_ir::{DType, Tensor};

// ------------------------------------------------------------------ helpers

/// A one-invocation-per-element kernel `y[i] = expr` over `n` elements of `f32`, reading the
/// params named in `reads`.
fn ew_kernel(name: &str, n: usize, reads: &[&str], expr: &str) -> KernelStep {
    let params: Vec<String> = reads
        .iter()
        .map(|r| format!("%{r}: f32[{n}] read"))
        .chain([format!("%y: f32[{n}] write")])
        .collect();
    let text = format!(
        "kernel @{name}({}) grid [{n}] group [1] {{\n  let %i: u32 = group_id(0)\n  store %y[%i] = {expr}\n}}",
        params.join(", ")
    );
    let kernel = parse_kernel(&text).unwrap();
    let info = verify_kernel(&kernel).unwrap();
    KernelStep {
        kernel,
        info,
        args: Vec::new(),
        nodes: vec![format!("{name}_node")],
    }
}

fn with_args(mut k: KernelStep, args: &[usize]) -> Step {
    k.args = args.to_vec();
    Step::Kernel(k)
}

fn f32_buf(shape: &[usize], kind: BufferKind) -> PlanBuffer {
    PlanBuffer {
        dtype: DType::F32,
        shape: shape.to_vec(),
        kind,
    }
}

fn t32(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape, v.to_vec()).unwrap()
}

struct Rig {
    device: Arc<InterpDevice>,
    target: InterpTarget,
    cache: KernelCache,
}

fn rig() -> Rig {
    Rig {
        device: Arc::new(InterpDevice::new()),
        target: InterpTarget::new(),
        cache: KernelCache::new(),
    }
}

impl Rig {
    fn prepare(&self, plan: Plan) -> Result<Prepared, RuntimeError> {
        Prepared::new(plan, &self.target, self.device.clone(), &self.cache)
    }

    fn run(&self, p: &Prepared, inputs: &[&Tensor]) -> Vec<Tensor> {
        p.run(inputs).unwrap()
    }
}

/// x -> (x + 1) -> (*2) -> (+1): three kernels, temporaries t1, t2, t3.
fn chain_plan() -> Plan {
    Plan {
        buffers: vec![
            f32_buf(&[4], BufferKind::Input(0)),
            f32_buf(&[4], BufferKind::Temp),
            f32_buf(&[4], BufferKind::Temp),
            f32_buf(&[4], BufferKind::Temp),
        ],
        steps: vec![
            with_args(
                ew_kernel("inc", 4, &["x"], "add(load %x[%i], 1.0:f32)"),
                &[0, 1],
            ),
            with_args(
                ew_kernel("dbl", 4, &["x"], "mul(load %x[%i], 2.0:f32)"),
                &[1, 2],
            ),
            with_args(
                ew_kernel("inc2", 4, &["x"], "add(load %x[%i], 1.0:f32)"),
                &[2, 3],
            ),
        ],
        inputs: vec![("x".into(), 0)],
        outputs: vec![("y".into(), 3)],
    }
}

// ------------------------------------------------------------------ hand-built plans

#[test]
fn kernel_chain_reuses_dead_temporaries() {
    let r = rig();
    let p = r.prepare(chain_plan()).unwrap();
    // t1 dies after step 1; t3 (born at step 2) takes its slot; t2 is still live then.
    assert_eq!(p.memory().slot_of, vec![None, Some(0), Some(1), Some(0)]);
    assert_eq!((p.memory().peak_bytes, p.memory().no_reuse_bytes), (32, 48));
    let x = t32(&[4], &[0.0, -1.0, 2.5, f32::NAN]);
    let out = r.run(&p, &[&x]);
    let y: Vec<f32> = out[0].to_vec().unwrap();
    assert_eq!(&y[..3], &[3.0, 1.0, 8.0]);
    assert!(y[3].is_nan());
    assert_eq!(r.device.launches(), 3);
    assert_eq!(r.device.syncs(), 1, "one synchronization per run");
    // A second run reuses the pooled workspace: no new allocations.
    let allocs = r.device.allocs();
    r.run(&p, &[&x]);
    assert_eq!(r.device.allocs(), allocs);
    assert_eq!(r.device.syncs(), 2);
    assert_eq!(p.placement().summary(), "native");
    assert_eq!(p.placement().steps(Where::Native), 3);
    assert!(p.placement().copies.is_empty());
}

#[test]
fn reuse_needs_a_slot_big_enough_and_outputs_stay_live() {
    // t1 (4 floats) dies at step 1; t3 needs 8 floats, so it cannot take t1's slot; t2 is a
    // graph output read by nobody, so it keeps its slot to the end; t4 (2 floats) fits in t1's.
    let mut plan = chain_plan();
    plan.buffers[3] = f32_buf(&[8], BufferKind::Temp);
    plan.buffers.push(f32_buf(&[2], BufferKind::Temp));
    plan.steps[2] = with_args(ew_kernel("wide", 8, &[], "1.0:f32"), &[3]);
    plan.steps
        .push(with_args(ew_kernel("two", 2, &[], "2.0:f32"), &[4]));
    plan.outputs = vec![("t2".into(), 2), ("t3".into(), 3), ("t4".into(), 4)];
    let m = plan_memory(&plan);
    assert_eq!(m.slot_of, vec![None, Some(0), Some(1), Some(2), Some(0)]);
    assert_eq!(m.slot_bytes, vec![16, 16, 32]);
    assert_eq!((m.peak_bytes, m.no_reuse_bytes), (64, 72));
    let r = rig();
    let p = r.prepare(plan).unwrap();
    let out = r.run(&p, &[&t32(&[4], &[1.0, 2.0, 3.0, 4.0])]);
    assert_eq!(out[0], t32(&[4], &[4.0, 6.0, 8.0, 10.0]));
    assert_eq!(out[1], t32(&[8], &[1.0; 8]));
    assert_eq!(out[2], t32(&[2], &[2.0; 2]));
}

#[test]
fn host_steps_between_kernels_are_fallback_partitions_with_copies() {
    let mut plan = chain_plan();
    plan.steps[1] = Step::Host(HostStep {
        node: "neg_on_host".into(),
        op: Op::Unary(UnaryOp::Neg),
        inputs: vec![Some(1)],
        outputs: vec![2],
    });
    // The last kernel reads t1 (still on the device) and t2 (uploaded by the host step).
    let mul = ew_kernel("mul", 4, &["a", "b"], "mul(load %a[%i], load %b[%i])");
    plan.steps[2] = with_args(mul, &[1, 2, 3]);
    let r = rig();
    let p = r.prepare(plan).unwrap();
    let out = r.run(&p, &[&t32(&[4], &[1.0, -2.0, 0.5, 0.0])]);
    assert_eq!(out[0], t32(&[4], &[-4.0, -1.0, -2.25, -1.0]));
    // One synchronization before the host step reads t1, one at the end.
    assert_eq!(r.device.syncs(), 2);
    let pl = p.placement();
    assert_eq!(pl.summary(), "fallback");
    let places: Vec<Where> = pl.partitions.iter().map(|p| p.place).collect();
    assert_eq!(places, [Where::Native, Where::Fallback, Where::Native]);
    assert_eq!(pl.partitions[1].nodes, ["neg_on_host"]);
    let copies: Vec<(usize, usize, usize, usize)> = pl
        .copies
        .iter()
        .map(|c| (c.buffer, c.from, c.to, c.bytes))
        .collect();
    assert_eq!(copies, [(1, 0, 1, 16), (2, 1, 2, 16)]);
    assert_eq!((pl.nodes(Where::Native), pl.nodes(Where::Fallback)), (2, 1));
    let text = pl.to_string();
    assert!(
        text.contains("partition 1 (fallback)") && text.contains("neg_on_host"),
        "{text}"
    );
}

#[test]
fn outputs_may_be_inputs_or_constants_and_tensors_may_be_empty() {
    let c = t32(&[2], &[7.0, -7.0]);
    let plan = Plan {
        buffers: vec![
            f32_buf(&[0], BufferKind::Input(0)),
            f32_buf(&[2], BufferKind::Constant(c.clone())),
            f32_buf(&[0], BufferKind::Temp),
            f32_buf(&[2], BufferKind::Temp),
        ],
        steps: vec![
            with_args(ew_kernel("empty", 0, &["x"], "load %x[%i]"), &[0, 2]),
            with_args(
                ew_kernel("cst", 2, &["x"], "mul(load %x[%i], 3.0:f32)"),
                &[1, 3],
            ),
        ],
        inputs: vec![("x".into(), 0)],
        outputs: vec![
            ("x".into(), 0),
            ("c".into(), 1),
            ("e".into(), 2),
            ("c3".into(), 3),
        ],
    };
    let r = rig();
    let p = r.prepare(plan).unwrap();
    let allocs_after_load = r.device.allocs();
    assert_eq!(
        allocs_after_load, 1,
        "the constant is uploaded once, at load"
    );
    let x = t32(&[0], &[]);
    for _ in 0..2 {
        let out = r.run(&p, &[&x]);
        assert_eq!(
            out,
            vec![x.clone(), c.clone(), x.clone(), t32(&[2], &[21.0, -21.0])]
        );
    }
    // Input buffer + two slots, allocated once for both runs.
    assert_eq!(r.device.allocs(), allocs_after_load + 3);
}

#[test]
fn plan_errors_name_the_step_and_its_nodes() {
    let r = rig();
    let check = |plan: Plan, want: &str| {
        let err = r.prepare(plan).err().expect("plan must be refused");
        assert!(matches!(err, RuntimeError::Plan { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(want), "`{msg}` lacks `{want}`");
    };
    let mut p = chain_plan();
    p.buffers[2] = PlanBuffer {
        dtype: DType::F16,
        shape: vec![4],
        kind: BufferKind::Temp,
    };
    check(p, "step 1 (graph nodes: dbl_node)");
    let mut p = chain_plan();
    if let Step::Kernel(k) = &mut p.steps[0] {
        k.args = vec![1, 0];
    }
    check(p, "buffer 1 is read before any step writes it");
    let mut p = chain_plan();
    p.steps[2] = with_args(ew_kernel("inc2", 4, &["x"], "load %x[%i]"), &[2, 0]);
    check(p, "graph input or a constant and may not be written");
    let mut p = chain_plan();
    p.steps.pop();
    check(p, "graph output `y` (buffer 3) is never written");
    let mut p = chain_plan();
    if let Step::Kernel(k) = &mut p.steps[1] {
        k.args.push(3);
    }
    check(p, "has 2 parameters but 3 arguments");
    let mut p = chain_plan();
    p.steps[1] = Step::Host(HostStep {
        node: "h".into(),
        op: Op::Unary(UnaryOp::Neg),
        inputs: vec![Some(9)],
        outputs: vec![2],
    });
    check(p, "buffer 9 does not exist");
    let mut p = chain_plan();
    p.buffers[1] = f32_buf(&[usize::MAX, 4], BufferKind::Temp);
    check(p, "too large");
}

#[test]
fn host_step_results_must_fit_their_buffers() {
    let mut plan = chain_plan();
    plan.steps[1] = Step::Host(HostStep {
        node: "to_bool".into(),
        op: Op::Unary(UnaryOp::IsNaN),
        inputs: vec![Some(1)],
        outputs: vec![2],
    });
    let r = rig();
    let p = r.prepare(plan).unwrap();
    let err = p.run(&[&t32(&[4], &[0.0; 4])]).err().unwrap().to_string();
    assert!(err.contains("host node `to_bool` produced bool"), "{err}");
}

/// A target that refuses every kernel.
struct NoF32;

impl Target for NoF32 {
    fn desc(&self) -> &TargetDesc {
        static DESC: std::sync::OnceLock<TargetDesc> = std::sync::OnceLock::new();
        DESC.get_or_init(TargetDesc::generic_gpu)
    }
    fn compile(&self, kernel: &Kernel, _: &KernelInfo) -> Result<Artifact, TargetError> {
        Err(TargetError::Unsupported {
            target: "gpu".into(),
            kernel: kernel.name.clone(),
            what: "dtype f32".into(),
        })
    }
}

#[test]
fn target_and_device_errors_are_typed_and_name_the_nodes() {
    let r = rig();
    let err = Prepared::new(chain_plan(), &NoF32, r.device.clone(), &r.cache)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        RuntimeError::Target {
            source: TargetError::Unsupported { .. },
            ..
        }
    ));
    assert!(err.to_string().contains("inc_node") && err.to_string().contains("dtype f32"));
    // An out-of-bounds store is caught by the interpreting device at launch.
    let mut plan = chain_plan();
    let text = "kernel @oob(%x: f32[4] read, %y: f32[4] write) grid [5] group [1] {\n  \
        let %i: u32 = group_id(0)\n  store %y[%i] = 0.0:f32\n}";
    let kernel = parse_kernel(text).unwrap();
    let info = verify_kernel(&kernel).unwrap();
    plan.steps[1] = Step::Kernel(KernelStep {
        kernel,
        info,
        args: vec![1, 2],
        nodes: vec!["bad_store".into()],
    });
    let p = r.prepare(plan).unwrap();
    let err = p.run(&[&t32(&[4], &[0.0; 4])]).err().unwrap();
    assert!(matches!(err, RuntimeError::Device { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("launching kernel `oob` (graph nodes: bad_store)"),
        "{msg}"
    );
}

#[test]
fn kernel_cache_hits_on_a_second_load() {
    let r = rig();
    let first = r.prepare(chain_plan()).unwrap().stats();
    // `inc` and `inc2` differ only by name, and names are part of the kernel: three misses.
    assert_eq!(
        (first.kernels, first.cache_hits, first.cache_misses),
        (3, 0, 3)
    );
    let second = r.prepare(chain_plan()).unwrap().stats();
    assert_eq!(
        (second.kernels, second.cache_hits, second.cache_misses),
        (3, 3, 0)
    );
    assert_eq!(r.cache.stats().misses, 3);
}

// ------------------------------------------------------------------ whole graphs

fn backend(cache: &Arc<KernelCache>) -> CompiledBackend {
    let mut b = crate::interp_device::kernel_interp_backend();
    b.options = CompileOptions {
        cache: Some(Arc::clone(cache)),
    };
    b
}

fn inputs(list: &[(&str, Tensor)]) -> NamedTensors {
    list.iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect()
}

/// Deterministic values in [-2, 2).
fn arange(shape: &[usize], seed: u32) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 4000) as f32 / 1000.0 - 2.0
        })
        .collect();
    Tensor::from_vec(shape, v).unwrap()
}

/// Runs `text` on kernel-interp and on the reference; the outputs agree within `tol`
/// (relative to max(1, |reference|)).
fn agrees(text: &str, given: &NamedTensors, tol: f64) -> Box<dyn Executable> {
    agrees_on(&backend(&Arc::new(KernelCache::new())), text, given, tol)
}

/// [`agrees`] on a given backend.
fn agrees_on(
    b: &CompiledBackend,
    text: &str,
    given: &NamedTensors,
    tol: f64,
) -> Box<dyn Executable> {
    let g = parse_graph(text).unwrap();
    let exe = b.compile(&g).unwrap();
    let got = exe.run(given).unwrap();
    let pl = exe
        .placement()
        .expect("a compiled graph reports its placement");
    assert!(pl.steps(Where::Native) >= 1, "some kernel runs: {pl}");
    eprintln!("TMP {}: {pl}", g.name);
    let want = ReferenceBackend.compile(&g).unwrap().run(given).unwrap();
    assert_eq!(got.len(), want.len());
    for ((gn, gt), (wn, wt)) in got.iter().zip(&want) {
        assert_eq!(gn, wn);
        assert_eq!((gt.dtype(), gt.shape()), (wt.dtype(), wt.shape()), "{gn}");
        for i in 0..wt.len() {
            let (a, b) = (gt.get_f64(i), wt.get_f64(i));
            let close = (a - b).abs() <= tol * b.abs().max(1.0) || (a.is_nan() && b.is_nan());
            assert!(close, "{gn}[{i}]: kernel-interp {a}, reference {b}");
        }
    }
    exe
}

#[test]
fn mlp_matches_the_reference() {
    let text = "graph mlp(%x: f32[3, 4]) {
        %w1 = const f32[4, 2] [0.5, -1.0, 0.25, 2.0, -0.75, 1.5, 1.0, 0.0]
        %b1 = const f32[2] [0.1, -0.2]
        %w2 = const f32[2, 1] [1.5, -0.5]
        %h = matmul(%x, %w1) : f32[3, 2]
        %hb = add(%h, %b1) : f32[3, 2]
        %r = relu(%hb) : f32[3, 2]
        %y = matmul(%r, %w2) : f32[3, 1]
        return %y
    }";
    let exe = agrees(text, &inputs(&[("x", arange(&[3, 4], 1))]), 1e-6);
    let pl = exe
        .placement()
        .expect("a compiled graph reports its placement");
    assert_eq!(pl.summary(), "native", "{pl}");
    // Two matmuls; the bias and relu fuse into the first one's epilogue (or one kernel).
    let native = pl.steps(Where::Native);
    assert!((1..4).contains(&native), "{pl}");
    assert_eq!(pl.nodes(Where::Native), 4, "{pl}");
}

#[test]
fn conv_softmax_layernorm_gather_match_the_reference() {
    let conv = "graph conv(%x: f32[1, 2, 5, 5], %w: f32[3, 2, 3, 3]) {
        %y = conv(%x, %w, _) {pads = [1, 1, 1, 1], strides = [2, 2]} : f32[1, 3, 3, 3]
        return %y
    }";
    agrees(
        conv,
        &inputs(&[
            ("x", arange(&[1, 2, 5, 5], 3)),
            ("w", arange(&[3, 2, 3, 3], 7)),
        ]),
        1e-5,
    );
    let softmax = "graph sm(%x: f32[2, 5]) {
        %y = softmax(%x) {axis = -1} : f32[2, 5]
        return %y
    }";
    agrees(softmax, &inputs(&[("x", arange(&[2, 5], 11))]), 1e-6);
    let ln = "graph ln(%x: f32[3, 4], %s: f32[4], %b: f32[4]) {
        %y = layer_normalization(%x, %s, %b) {axis = -1, epsilon = 0.00001} : f32[3, 4]
        return %y
    }";
    let given = inputs(&[
        ("x", arange(&[3, 4], 5)),
        ("s", arange(&[4], 9)),
        ("b", arange(&[4], 13)),
    ]);
    agrees(ln, &given, 1e-5);
    let gather = "graph g(%x: f32[4, 3], %i: i64[2, 2]) {
        %y = gather(%x, %i) {axis = 0} : f32[2, 2, 3]
        return %y, %x
    }";
    let idx = Tensor::from_vec(&[2, 2], vec![3i64, -4, 0, 2]).unwrap();
    agrees(
        gather,
        &inputs(&[("x", arange(&[4, 3], 2)), ("i", idx)]),
        0.0,
    );
}

#[test]
fn run_checks_inputs_like_the_reference() {
    let g = parse_graph("graph g(%x: f32[2]) { %y = relu(%x) : f32[2]\n return %y }").unwrap();
    let cache = Arc::new(KernelCache::new());
    let exe = backend(&cache).compile(&g).unwrap();
    let reference = ReferenceBackend.compile(&g).unwrap();
    let cases = [
        inputs(&[]),
        inputs(&[("x", t32(&[3], &[1.0, 2.0, 3.0]))]),
        inputs(&[("x", t32(&[2], &[1.0, 2.0])), ("z", t32(&[1], &[0.0]))]),
    ];
    for given in &cases {
        let a = exe.run(given).err().unwrap().to_string();
        let b = reference.run(given).err().unwrap().to_string();
        assert_eq!(a, b);
    }
}

#[test]
fn runs_from_four_threads_at_once() {
    let text = "graph g(%x: f32[64]) {
        %a = exp(%x) : f32[64]
        %b = mul(%a, %x) : f32[64]
        %y = tanh(%b) : f32[64]
        return %y
    }";
    let g = parse_graph(text).unwrap();
    let cache = Arc::new(KernelCache::new());
    let exe: Arc<dyn Executable> = Arc::from(backend(&cache).compile(&g).unwrap());
    let reference = ReferenceBackend.compile(&g).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let exe = Arc::clone(&exe);
            std::thread::spawn(move || {
                (0..5)
                    .map(|k| {
                        let given = inputs(&[("x", arange(&[64], t * 100 + k))]);
                        (given.clone(), exe.run(&given).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in threads {
        for (given, out) in h.join().unwrap() {
            assert_eq!(out, reference.run(&given).unwrap());
        }
    }
}

#[test]
fn same_graph_twice_compiles_no_kernel_the_second_time() {
    let text = "graph g(%x: f32[8]) { %y = sigmoid(%x) : f32[8]\n return %y }";
    let g = parse_graph(text).unwrap();
    let cache = Arc::new(KernelCache::new());
    let b = backend(&cache);
    let first = b.compile_graph(&g).unwrap().stats().unwrap();
    assert!(first.kernels >= 1 && first.cache_misses >= 1, "{first:?}");
    let second = b.compile_graph(&g).unwrap().stats().unwrap();
    assert_eq!(second.cache_misses, 0);
    assert_eq!(second.cache_hits, first.kernels);
    assert_eq!(cache.stats().misses as usize, first.cache_misses);
}

#[test]
fn symbolic_dims_compile_once_per_shape() {
    let text = "graph g(%x: f32[?n, 3]) {
        %y = softmax(%x) {axis = 1} : f32[?n, 3]
        %s = reduce_sum(%x, _) {keepdims = false} : f32[]
        return %y, %s
    }";
    let g = parse_graph(text).unwrap();
    let cache = Arc::new(KernelCache::new());
    let cg = backend(&cache).compile_graph(&g).unwrap();
    assert!(cg.is_lazy() && cg.placement().is_none() && cg.signatures() == 0);
    let reference = ReferenceBackend.compile(&g).unwrap();
    for n in [2, 5, 2, 0] {
        let given = inputs(&[("x", arange(&[n, 3], n as u32))]);
        let got = cg.run(&given).unwrap();
        let want = reference.run(&given).unwrap();
        assert_eq!(got[0].1.shape(), [n, 3]);
        for ((_, a), (_, b)) in got.iter().zip(&want) {
            for i in 0..b.len() {
                assert!((a.get_f64(i) - b.get_f64(i)).abs() < 1e-5);
            }
        }
    }
    assert_eq!(cg.signatures(), 3, "n = 2, 5 and 0");
    assert!(cg.placement().is_some());
    let err = cg
        .run(&inputs(&[("x", arange(&[2, 4], 0))]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("input `x` is f32[2, 4], expected f32[?n, 3]"),
        "{err}"
    );
}

#[test]
fn kernel_interp_is_always_available_in_the_builtin_registry() {
    let r = crate::registry::Registry::with_builtin();
    let b = r.get(crate::KERNEL_INTERP).unwrap();
    assert!(b.availability().is_available());
    assert_eq!(r.get("auto").unwrap().name(), "reference");
    let u = crate::compiled::UnavailableBackend {
        name: "vulkan".into(),
        reason: "no Vulkan loader".into(),
    };
    assert!(!u.availability().is_available());
    let g = parse_graph("graph g(%x: f32[1]) { return %x }").unwrap();
    let err = u.compile(&g).err().unwrap().to_string();
    assert!(err.contains("no Vulkan loader"), "{err}");
}

#[test]
fn gpu_style_workgroup_kernels_run_on_the_interpreter() {
    let text = "kernel @rev(%x: f32[4] read, %y: f32[4] write) grid [1] group [4] {
        shared %tile: f32[4]
        let %l: u32 = local_id(0)
        store %tile[%l] = load %x[%l]
        barrier
        store %y[%l] = load %tile[sub(3:u32, %l)]
    }";
    let kernel = parse_kernel(text).unwrap();
    let info = verify_kernel(&kernel).unwrap();
    let plan = Plan {
        buffers: vec![
            f32_buf(&[4], BufferKind::Input(0)),
            f32_buf(&[4], BufferKind::Temp),
        ],
        steps: vec![Step::Kernel(KernelStep {
            kernel,
            info,
            args: vec![0, 1],
            nodes: vec!["reverse".into()],
        })],
        inputs: vec![("x".into(), 0)],
        outputs: vec![("y".into(), 1)],
    };
    let device = Arc::new(InterpDevice::new());
    let target = InterpTarget::with_desc(TargetDesc::generic_gpu());
    assert_eq!(target.desc().name, "kernel-interp/gpu");
    let p = Prepared::new(plan, &target, device, &KernelCache::new()).unwrap();
    let out = p.run(&[&t32(&[4], &[1.0, 2.0, 3.0, 4.0])]).unwrap();
    assert_eq!(out[0], t32(&[4], &[4.0, 3.0, 2.0, 1.0]));
    // Placement of an empty plan is native with nothing in it.
    assert_eq!(Placement::of(&Plan::default()).summary(), "native");
}

#[test]
fn host_only_plans_touch_no_device_memory() {
    let g = parse_graph(
        "graph g(%x: f32[3]) { %a = neg(%x) : f32[3]\n %y = relu(%a) : f32[3]\n return %y, %a }",
    )
    .unwrap();
    let plan = crate::lower::host_plan(&g).unwrap();
    let r = rig();
    let p = r.prepare(plan).unwrap();
    assert_eq!((p.memory().peak_bytes, p.memory().no_reuse_bytes), (0, 0));
    let out = r.run(&p, &[&t32(&[3], &[1.0, -2.0, 3.0])]);
    assert_eq!(
        out,
        vec![t32(&[3], &[0.0, 2.0, 0.0]), t32(&[3], &[-1.0, 2.0, -3.0])]
    );
    assert_eq!((r.device.allocs(), r.device.syncs()), (0, 0));
    assert_eq!(p.placement().summary(), "fallback");
    assert_eq!(p.placement().partitions.len(), 1);
}

#[test]
fn host_plan_refuses_symbolic_shapes() {
    let g = parse_graph("graph g(%x: f32[?n]) { %y = relu(%x) : f32[?n]\n return %y }").unwrap();
    let err = crate::lower::host_plan(&g).err().unwrap().to_string();
    assert!(
        err.contains("value `x` has the non-static type f32[?n]"),
        "{err}"
    );
}

#[test]
fn data_dependent_shapes_run_on_the_host_as_one_fallback_partition() {
    let text = "graph g(%x: f32[5]) {
        %i = non_zero(%x) @nz : i64[1, ?nz.0.1]
        %y = neg(%i) @negate : i64[1, ?nz.0.1]
        return %y
    }";
    let g = parse_graph(text).unwrap();
    let cache = Arc::new(KernelCache::new());
    let cg = backend(&cache).compile_graph(&g).unwrap();
    let pl = cg.placement().unwrap();
    assert_eq!(pl.summary(), "fallback");
    assert_eq!(pl.partitions[0].nodes, ["nz", "negate"]);
    let given = inputs(&[("x", t32(&[5], &[0.0, 1.0, 0.0, -2.0, 3.0]))]);
    let out = cg.run(&given).unwrap();
    let want = Tensor::from_vec(&[1, 3], vec![-1i64, -3, -4]).unwrap();
    assert_eq!(out, vec![("y".to_string(), want)]);
}

#[test]
fn op_support_by_operator_and_dtype() {
    use crate::backend::OpSupport;
    let b = crate::interp_device::kernel_interp_backend();
    assert_eq!(
        b.op_support(&Op::Unary(UnaryOp::Relu), &[DType::F32]),
        OpSupport::Native
    );
    let softmax = Op::Softmax { axis: -1 };
    assert_eq!(b.op_support(&softmax, &[DType::F16]), OpSupport::Native);
    assert!(matches!(
        b.op_support(&Op::NonZero {}, &[DType::F32]),
        OpSupport::Fallback(why) if why.contains("depends on the data")
    ));
    let mut desc = TargetDesc::generic_gpu();
    let f64_at = DType::ALL.iter().position(|&d| d == DType::F64).unwrap();
    desc.dtypes[f64_at] = tessera_ir::target::DTypeSupport::Unsupported;
    let gpu = CompiledBackend::new(
        "gpu-interp",
        Arc::new(InterpTarget::with_desc(desc)),
        Arc::new(InterpDevice::new()),
    );
    assert_eq!(
        gpu.op_support(&Op::Unary(UnaryOp::Relu), &[DType::F64]),
        OpSupport::Unsupported("target `kernel-interp/gpu` has no f64".into())
    );
    let u = crate::compiled::UnavailableBackend {
        name: "cuda".into(),
        reason: "no driver".into(),
    };
    assert!(matches!(
        u.op_support(&softmax, &[DType::F32]),
        OpSupport::Unsupported(why) if why.contains("no driver")
    ));
}

/// The scheduler's GPU schedules (workgroups, shared-memory tiles, barriers) checked on the
/// kernel interpreter, which detects shared-memory races and out-of-bounds accesses.
#[test]
fn gpu_schedules_match_the_reference_on_the_interpreter() {
    let gpu = CompiledBackend::new(
        "kernel-interp-gpu",
        Arc::new(InterpTarget::with_desc(TargetDesc::generic_gpu())),
        Arc::new(InterpDevice::new()),
    );
    let matmul = "graph mm(%a: f32[5, 19], %b: f32[19, 3]) {
        %c = matmul(%a, %b) : f32[5, 3]
        %y = relu(%c) : f32[5, 3]
        return %y
    }";
    let given = inputs(&[("a", arange(&[5, 19], 1)), ("b", arange(&[19, 3], 2))]);
    agrees_on(&gpu, matmul, &given, 1e-5);
    let plan_groups = |text: &str| -> Vec<usize> {
        let cg = gpu.compile_graph(&parse_graph(text).unwrap()).unwrap();
        let p = cg.prepared().unwrap();
        p.plan()
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Kernel(k) => Some(k.kernel.launch.group_size()),
                Step::Host(_) => None,
            })
            .collect()
    };
    let groups = plan_groups(matmul);
    assert!(groups.iter().any(|&g| g > 1), "workgroups of {groups:?}");
    let reduce = "graph r(%x: f32[3, 300]) {
        %s = reduce_sum(%x, _) {keepdims = false} : f32[]
        %m = exp(%x) : f32[3, 300]
        return %s, %m
    }";
    agrees_on(&gpu, reduce, &inputs(&[("x", arange(&[3, 300], 4))]), 1e-5);
}

#[test]
fn bound_runs_match_ordinary_runs_and_copy_nothing_until_read() {
    let text = "graph mlp(%x: f32[3, 4]) {
        %w1 = const f32[4, 2] [0.5, -1.0, 0.25, 2.0, -0.75, 1.5, 1.0, 0.0]
        %h = matmul(%x, %w1) : f32[3, 2]
        %r = relu(%h) : f32[3, 2]
        %y = add(%r, %x) : f32[3, 4]
        return %y, %h
    }";
    let text = text.replace("%y = add(%r, %x) : f32[3, 4]", "%y = neg(%r) : f32[3, 2]");
    let g = parse_graph(&text).unwrap();
    let given = inputs(&[("x", arange(&[3, 4], 7))]);
    let compiled = backend(&Arc::new(KernelCache::new()));
    for exe in [
        compiled.compile(&g).unwrap(),
        ReferenceBackend.compile(&g).unwrap(),
    ] {
        let want = exe.run(&given).unwrap();
        let mut bound = exe.bind(&given).unwrap();
        let early = bound.outputs().map(|_| ()).unwrap_err().to_string();
        assert!(early.contains("no run has finished"), "{early}");
        for _ in 0..3 {
            bound.run().unwrap();
            assert_eq!(bound.outputs().unwrap(), want);
        }
        // Inputs are checked as `run` checks them (at the latest by the first run).
        let wrong = inputs(&[("x", arange(&[4, 3], 7))]);
        assert!(exe.bind(&wrong).and_then(|mut b| b.run()).is_err());
    }
}

#[test]
fn profiles_time_every_step_of_the_plan_and_interpreters_as_one() {
    let text = "graph g(%x: f32[3, 4]) {
        %w = const f32[4, 2] [0.5, -1.0, 0.25, 2.0, -0.75, 1.5, 1.0, 0.0]
        %h = matmul(%x, %w) : f32[3, 2]
        %s = reduce_sum(%h, _) {keepdims = false} : f32[]
        %y = exp(%s) : f32[]
        return %y, %h
    }";
    let g = parse_graph(text).unwrap();
    let given = inputs(&[("x", arange(&[3, 4], 7))]);
    let compiled = backend(&Arc::new(KernelCache::new()))
        .compile_graph(&g)
        .unwrap();
    let steps = compiled.profile(&given).unwrap();
    let plan_steps: Vec<String> = compiled
        .prepared()
        .map(|p| {
            p.plan()
                .steps
                .iter()
                .map(|s| match s {
                    Step::Kernel(k) => k.kernel.name.clone(),
                    Step::Host(h) => format!("host: {}", h.op.name()),
                })
                .collect()
        })
        .unwrap();
    assert!(plan_steps.len() >= 2, "{plan_steps:?}");
    let names: Vec<String> = steps.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, plan_steps);
    assert_eq!(
        steps.iter().map(|s| s.step).collect::<Vec<_>>(),
        (0..plan_steps.len()).collect::<Vec<_>>()
    );
    assert!(steps.iter().all(|s| !s.nodes.is_empty()));
    // A profiled run computes what an ordinary run does (the workspace is returned).
    assert_eq!(compiled.run(&given).unwrap().len(), 2);
    let whole = ReferenceBackend
        .compile(&g)
        .unwrap()
        .profile(&given)
        .unwrap();
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].name, "(whole run)");
    // Inputs are checked as `run` checks them.
    let wrong = inputs(&[("x", arange(&[4, 3], 7))]);
    assert!(compiled.profile(&wrong).is_err());
}
