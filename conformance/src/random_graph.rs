//! Random graphs for differential testing of fusion: a [`Recipe`] (a few small integers per
//! node, easy for proptest to generate and shrink) becomes a graph of elementwise ops,
//! broadcasts, keepdims reductions and movement over two `f32` inputs. The graph runs on the
//! reference and on a backend; any divergence beyond [`RANDOM_GRAPH_BOUND`] is a failure, and
//! its shrunk graph is saved in text form under `conformance/regressions/` ([`save_regression`])
//! where a test replays it ([`replay_dir`]).

use crate::catalogue::{Domain, Rng, Values, generate};
use crate::tolerance::{self, Bound};
use std::path::{Path, PathBuf};
use tessera_frontends::GraphBuilder;
use tessera_ir::{BinaryOp, DType, Graph, IrError, Op, ReduceOp, UnaryOp};
use tessera_runtime::{Backend, NamedTensors, ReferenceBackend};

/// One node: `(kind, first operand, second operand)`, each taken modulo what is available.
pub type Step = (u8, u8, u8);

/// A random graph's description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipe {
    /// Index into the input shapes.
    pub shape: u8,
    /// The nodes, in order.
    pub steps: Vec<Step>,
}

const SHAPES: [&[usize]; 4] = [&[3, 5], &[7], &[2, 3, 4], &[1, 9]];
const UNARY: [UnaryOp; 8] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Exp,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Relu,
    UnaryOp::Floor,
    UnaryOp::Sin,
];
const BINARY: [BinaryOp; 5] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::PRelu,
];

/// Results of random graphs pass within this bound of the reference (several ops compound
/// their rounding; exp can magnify an input's error).
pub const RANDOM_GRAPH_BOUND: Bound = Bound {
    exact: false,
    ulp: 256.0,
    abs: 1e-4,
    rel: 1e-4,
};

/// Builds the graph of a recipe: inputs `x0`, `x1` of one shape; every step adds one node;
/// the last value is output `y0` and the first step's value (when different) `y1`.
pub fn build(recipe: &Recipe) -> Result<Graph, IrError> {
    let shape = SHAPES[recipe.shape as usize % SHAPES.len()];
    let rank = shape.len() as i64;
    let mut b = GraphBuilder::new("random");
    let mut vals = vec![
        b.input("x0", DType::F32, shape),
        b.input("x1", DType::F32, shape),
    ];
    for &(kind, p, q) in &recipe.steps {
        let a = vals[p as usize % vals.len()];
        let c = vals[q as usize % vals.len()];
        let op_and_args: (Op, Vec<Option<tessera_ir::ValueId>>) = match kind % 6 {
            0 | 1 => (
                Op::Unary(UNARY[(p as usize / 3 + q as usize) % UNARY.len()]),
                vec![Some(a)],
            ),
            2 | 3 => (
                Op::Binary(BINARY[(q as usize / 3 + p as usize) % BINARY.len()]),
                vec![Some(a), Some(c)],
            ),
            4 => {
                let axis = b.ints(&[(q as i64) % rank]);
                (
                    Op::Reduce {
                        kind: [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Mean][p as usize % 3],
                        keepdims: true,
                        noop_with_empty_axes: false,
                    },
                    vec![Some(a), Some(axis)],
                )
            }
            _ => {
                // A reduced value broadcast back to the full shape, or a softmax.
                if q % 2 == 0 {
                    (Op::Softmax { axis: -1 }, vec![Some(a)])
                } else {
                    let to = b.ints(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>());
                    (Op::Expand {}, vec![Some(a), Some(to)])
                }
            }
        };
        // Shapes may not broadcast (a reduced value against another reduced one): such a
        // step is skipped, so every recipe builds.
        if let Ok(out) = b.node(op_and_args.0, &op_and_args.1, 1) {
            vals.push(out[0]);
        }
    }
    let last = *vals.last().unwrap_or(&vals[0]);
    b.output(last, "y0")?;
    if vals.len() > 3 && vals[2] != last {
        b.output(vals[2], "y1")?;
    }
    b.finish()
}

/// Seeded inputs for a graph with `f32` inputs, from a name.
pub fn inputs_for(graph: &Graph, seed: &str) -> NamedTensors {
    let mut rng = Rng::from_name(seed);
    graph
        .inputs
        .iter()
        .map(|&v| {
            let ty = &graph.value(v).ty;
            let dims: Vec<usize> = ty.shape.as_static().unwrap_or_default();
            (
                graph.value_label(v),
                generate(ty.dtype, &dims, Domain::Any, Values::Ordinary, &mut rng),
            )
        })
        .collect()
}

/// Runs `graph` on the reference and on `backend`; `Err` says how they differ (or what failed).
pub fn differential(
    graph: &Graph,
    inputs: &NamedTensors,
    backend: &dyn Backend,
) -> Result<(), String> {
    let run = |b: &dyn Backend| {
        crate::onnx_node::catch_panic(|| {
            b.compile(graph)
                .and_then(|e| e.run(inputs))
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|p| Err(format!("panic: {p}")))
    };
    let want = run(&ReferenceBackend).map_err(|e| format!("reference: {e}"))?;
    let got = run(backend).map_err(|e| format!("{}: {e}", backend.name()))?;
    if want.len() != got.len() {
        return Err(format!("{} outputs, expected {}", got.len(), want.len()));
    }
    for ((name, e), (_, a)) in want.iter().zip(&got) {
        let bound = if e.dtype().is_float() {
            RANDOM_GRAPH_BOUND
        } else {
            Bound::EXACT
        };
        if let Some(m) = tolerance::check(e, a, bound).mismatch {
            return Err(format!("output `{name}`: {m}"));
        }
    }
    Ok(())
}

/// The file name a graph is saved under (`random-<hash of its text>.tir`); its inputs are
/// seeded by this name, so a saved case replays with the inputs that failed.
pub fn regression_name(graph: &Graph) -> String {
    let text = tessera_ir::text::print_graph(graph);
    format!("random-{:016x}.tir", Rng::from_name(&text).next_u64())
}

/// Saves a failing graph in text form under `dir` ([`regression_name`]), with the backend and
/// the failure in a comment; returns the file.
pub fn save_regression(
    dir: &Path,
    graph: &Graph,
    backend: &str,
    failure: &str,
) -> std::io::Result<PathBuf> {
    let text = tessera_ir::text::print_graph(graph);
    std::fs::create_dir_all(dir)?;
    let path = dir.join(regression_name(graph));
    let header: String = format!("backend {backend}: {failure}")
        .lines()
        .map(|l| format!("# {l}\n"))
        .collect();
    std::fs::write(&path, format!("{header}{text}"))?;
    Ok(path)
}

/// Replays every `.tir` regression case of `dir` on `backend` (inputs seeded by the file name);
/// returns the failures as `(file, message)`.
pub fn replay_dir(dir: &Path, backend: &dyn Backend) -> Result<Vec<(String, String)>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tir"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{name}: {e}"))?;
        let graph = tessera_ir::text::parse_graph(&text).map_err(|e| format!("{name}: {e}"))?;
        let inputs = inputs_for(&graph, &name);
        if let Err(m) = differential(&graph, &inputs, backend) {
            failures.push((name, m));
        }
    }
    Ok(failures)
}
