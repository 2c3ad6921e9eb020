//! Tests of fusion and scheduling: every plan runs through the kernel interpreter (host steps
//! through the graph interpreter) and must match `interp::evaluate` of the graph — exactly for
//! integers and movement, closely for float reductions — with no access out of bounds.

use super::plan;
use crate::dtype::DType;
use crate::error::{At, IrError};
use crate::fusion::{GroupKind, fuse, to_dot};
use crate::graph::{Graph, TensorType, ValueId};
use crate::infer::{Operand, infer_op};
use crate::interp::{eval_op, evaluate};
use crate::kernel::{print_kernel, run_kernel};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::plan::{BufferKind, Plan, Step};
use crate::target::{DTypeSupport, TargetDesc};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// Appends a node whose output type shape inference computes; returns its first output.
fn node(g: &mut Graph, op: Op, ins: &[Option<ValueId>]) -> ValueId {
    nodes(g, op, ins, 1)[0]
}

fn nodes(g: &mut Graph, op: Op, ins: &[Option<ValueId>], outs: usize) -> Vec<ValueId> {
    let tys = {
        let operands: Vec<Option<Operand<'_>>> = ins
            .iter()
            .map(|v| {
                v.map(|v| Operand {
                    ty: &g.value(v).ty,
                    value: g.constant_of(v),
                })
            })
            .collect();
        let at = At {
            node: "test".into(),
            op: op.name(),
        };
        infer_op(&op, &at, &operands, outs).unwrap()
    };
    let n = g.push_node(op, ins.to_vec(), tys, None);
    g.node(n).outputs.clone()
}

fn op1(g: &mut Graph, op: Op, x: ValueId) -> ValueId {
    node(g, op, &[Some(x)])
}

fn op2(g: &mut Graph, op: Op, a: ValueId, b: ValueId) -> ValueId {
    node(g, op, &[Some(a), Some(b)])
}

fn ints(g: &mut Graph, v: &[i64]) -> ValueId {
    g.add_constant(Tensor::from_vec(&[v.len()], v.to_vec()).unwrap())
}

fn output(g: &mut Graph, v: ValueId, name: &str) {
    g.values[v].name = Some(name.into());
    g.add_output(v);
}

/// Deterministic test data: small integers (exact in every dtype) and, for floats, a few
/// fractions; `special` adds NaN, infinities and -0.
fn data(dtype: DType, dims: &[usize], seed: u64, special: bool) -> Tensor {
    let n: usize = dims.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let vals: Vec<f64> = (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = ((s >> 33) % 17) as f64 - 8.0;
            if special && i % 7 == 3 {
                [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0][(s >> 40) as usize % 4]
            } else if dtype.is_float() {
                r / 4.0
            } else {
                r
            }
        })
        .collect();
    match dtype {
        DType::F32 => Tensor::from_vec(dims, vals.iter().map(|&v| v as f32).collect()).unwrap(),
        DType::F64 => Tensor::from_vec(dims, vals).unwrap(),
        DType::I32 => Tensor::from_vec(dims, vals.iter().map(|&v| v as i32).collect()).unwrap(),
        DType::I64 => Tensor::from_vec(dims, vals.iter().map(|&v| v as i64).collect()).unwrap(),
        DType::U8 => Tensor::from_vec(dims, vals.iter().map(|&v| v.abs() as u8).collect()).unwrap(),
        DType::Bool => Tensor::from_vec(dims, vals.iter().map(|&v| v > 0.0).collect()).unwrap(),
        other => panic!("no test data for {other}"),
    }
}

/// Runs a plan: kernels through the kernel interpreter, host steps through the graph one.
fn run_plan(plan: &Plan, inputs: &HashMap<String, Tensor>) -> Result<Vec<Tensor>, String> {
    let by_id: HashMap<usize, &str> = plan.inputs.iter().map(|(n, b)| (*b, n.as_str())).collect();
    let mut bufs: Vec<Vec<u8>> = plan
        .buffers
        .iter()
        .enumerate()
        .map(|(i, b)| match &b.kind {
            BufferKind::Input(_) => inputs[by_id[&i]].bytes().to_vec(),
            BufferKind::Constant(t) => t.bytes().to_vec(),
            // Poison, so an element no kernel writes shows up.
            BufferKind::Temp => vec![0xA5; b.len() * b.dtype.size_bytes()],
        })
        .collect();
    for step in &plan.steps {
        match step {
            Step::Kernel(k) => {
                let mut args: Vec<Vec<u8>> = k.args.iter().map(|&b| bufs[b].clone()).collect();
                run_kernel(&k.kernel, &k.info, &mut args)
                    .map_err(|e| format!("{e}\n{}", print_kernel(&k.kernel)))?;
                for (&b, bytes) in k.args.iter().zip(args) {
                    bufs[b] = bytes;
                }
            }
            Step::Host(h) => {
                let ts: Vec<Option<Tensor>> = h
                    .inputs
                    .iter()
                    .map(|i| {
                        i.map(|b| {
                            let pb = &plan.buffers[b];
                            Tensor::from_bytes(pb.dtype, &pb.shape, bufs[b].clone()).unwrap()
                        })
                    })
                    .collect();
                let refs: Vec<Option<&Tensor>> = ts.iter().map(|t| t.as_ref()).collect();
                let at = At {
                    node: h.node.clone(),
                    op: h.op.name(),
                };
                let outs = eval_op(&h.op, &at, &refs, h.outputs.len()).map_err(|e| e.to_string())?;
                for (&b, t) in h.outputs.iter().zip(outs) {
                    bufs[b] = t.into_bytes();
                }
            }
        }
    }
    Ok(plan
        .outputs
        .iter()
        .map(|(_, b)| {
            let pb = &plan.buffers[*b];
            Tensor::from_bytes(pb.dtype, &pb.shape, bufs[*b].clone()).unwrap()
        })
        .collect())
}

/// Compares: bytes for ints and bool, a relative tolerance for floats (NaN equals NaN).
fn assert_same(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    if !got.dtype().is_float() {
        assert_eq!(got.bytes(), want.bytes(), "{what}: values");
        return;
    }
    for i in 0..got.len() {
        let (a, b) = (got.get_f64(i), want.get_f64(i));
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-4 * (1.0 + b.abs());
        assert!(ok, "{what}: element {i}: got {a}, want {b}");
    }
}

fn targets() -> [TargetDesc; 2] {
    [TargetDesc::generic_cpu(2), TargetDesc::generic_gpu()]
}

/// Fuses, plans for both test targets, runs and compares with the graph interpreter;
/// returns the CPU plan.
fn check_with(g: &Graph, inputs: &HashMap<String, Tensor>) -> Plan {
    let want = evaluate(g, inputs).unwrap();
    let fused = fuse(g).unwrap();
    let mut first = None;
    for t in targets() {
        let p = plan(g, &fused, &t).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        let got = run_plan(&p, inputs).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_same(a, b, &format!("{} output {i}", t.name));
        }
        first.get_or_insert(p);
    }
    first.unwrap()
}

/// Checks with generated data for every graph input.
fn check(g: &Graph) -> Plan {
    check_special(g, false)
}

fn check_special(g: &Graph, special: bool) -> Plan {
    let inputs: HashMap<String, Tensor> = g
        .inputs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ty = &g.value(v).ty;
            let dims = ty.shape.as_static().unwrap();
            (g.value_label(v), data(ty.dtype, &dims, i as u64 + 1, special))
        })
        .collect();
    check_with(g, &inputs)
}

fn kernels(p: &Plan) -> usize {
    p.steps.iter().filter(|s| matches!(s, Step::Kernel(_))).count()
}

fn input(g: &mut Graph, name: &str, dtype: DType, dims: &[usize]) -> ValueId {
    g.add_input(name, TensorType::new(dtype, dims))
}

#[test]
fn elementwise_chain_with_broadcasting_is_one_kernel() {
    for dtype in [DType::F32, DType::I32] {
        let mut g = Graph::new("ew");
        let x = input(&mut g, "x", dtype, &[3, 5]);
        let b = input(&mut g, "b", dtype, &[5]);
        let c = input(&mut g, "c", dtype, &[3, 1]);
        let m = op2(&mut g, Op::Binary(BinaryOp::Mul), x, b);
        let a = op2(&mut g, Op::Binary(BinaryOp::Add), m, c);
        let r = op1(&mut g, Op::Unary(UnaryOp::Relu), a);
        let cast = op1(&mut g, Op::Cast { to: DType::F64 }, r);
        output(&mut g, cast, "y");
        let p = check(&g);
        assert_eq!(kernels(&p), 1);
    }
}

#[test]
fn sizes_not_divisible_by_the_vector_width() {
    for n in [1usize, 3, 4, 5, 7, 9, 4099] {
        let mut g = Graph::new("odd");
        let x = input(&mut g, "x", DType::F32, &[n]);
        let y = input(&mut g, "y", DType::F32, &[n]);
        let s = op2(&mut g, Op::Binary(BinaryOp::Sub), x, y);
        let e = op1(&mut g, Op::Unary(UnaryOp::Neg), s);
        output(&mut g, e, "z");
        check_special(&g, true);
    }
}

#[test]
fn debug_print() {
    let mut g = Graph::new("odd");
    let x = input(&mut g, "x", DType::F32, &[5]);
    let y = input(&mut g, "y", DType::F32, &[5]);
    let s = op2(&mut g, Op::Binary(BinaryOp::Sub), x, y);
    output(&mut g, s, "z");
    let f = fuse(&g).unwrap();
    eprintln!("{f:?}");
    let p = plan(&g, &f, &TargetDesc::generic_cpu(2)).unwrap();
    for s in &p.steps {
        if let Step::Kernel(k) = s {
            eprintln!("{}\n{:?}", print_kernel(&k.kernel), k.args);
        }
    }
    eprintln!("{:?}", p.buffers);
}
