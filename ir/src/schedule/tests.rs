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
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
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
                let outs =
                    eval_op(&h.op, &at, &refs, h.outputs.len()).map_err(|e| e.to_string())?;
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

fn targets() -> [TargetDesc; 3] {
    [
        TargetDesc::generic_cpu(2),
        TargetDesc::generic_gpu(),
        subgroup_gpu(8),
    ]
}

/// A GPU with subgroup shuffles of width `size`.
fn subgroup_gpu(size: usize) -> TargetDesc {
    let mut t = TargetDesc::generic_gpu();
    t.name = format!("gpu-subgroup{size}");
    t.subgroup_size = size;
    t.subgroup_ops = true;
    t
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
    check_with(g, &inputs_for(g, 1, special))
}

/// Generated data for every graph input (input `i` from seed `seed + i`).
fn inputs_for(g: &Graph, seed: u64, special: bool) -> HashMap<String, Tensor> {
    g.inputs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ty = &g.value(v).ty;
            let dims = ty.shape.as_static().unwrap();
            let data = data(ty.dtype, &dims, i as u64 + seed, special);
            (g.value_label(v), data)
        })
        .collect()
}

fn kernels(p: &Plan) -> usize {
    p.steps
        .iter()
        .filter(|s| matches!(s, Step::Kernel(_)))
        .count()
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
        let cast = op1(
            &mut g,
            Op::Cast {
                to: DType::F64,
                saturate: true,
            },
            r,
        );
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

fn reduce(g: &mut Graph, kind: ReduceOp, x: ValueId, axes: &[i64], keepdims: bool) -> ValueId {
    let a = (!axes.is_empty()).then(|| ints(g, axes));
    node(
        g,
        Op::Reduce {
            kind,
            keepdims,
            noop_with_empty_axes: false,
        },
        &[Some(x), a],
    )
}

/// Builds a view of a value.
type ViewFn = dyn Fn(&mut Graph, ValueId) -> ValueId;

#[test]
fn every_view_kind_and_their_composition() {
    // transpose ∘ reshape ∘ slice ∘ pad ∘ concat ∘ as_strided, on integers (exact).
    let mut g = Graph::new("views");
    let x = input(&mut g, "x", DType::I32, &[2, 3, 4]);
    let w = input(&mut g, "w", DType::I32, &[3, 5]);
    let t = node(
        &mut g,
        Op::Transpose {
            perm: vec![2, 0, 1],
        },
        &[Some(x)],
    );
    let shape = ints(&mut g, &[4, 6]);
    let r = op2(&mut g, Op::Reshape { allowzero: false }, t, shape);
    let (st, en, ax, sp) = (
        ints(&mut g, &[1, 5]),
        ints(&mut g, &[4, -7]),
        ints(&mut g, &[0, 1]),
        ints(&mut g, &[2, -2]),
    );
    let sl = node(
        &mut g,
        Op::Slice {},
        &[Some(r), Some(st), Some(en), Some(ax), Some(sp)],
    );
    let pads = ints(&mut g, &[1, 0, 0, 2]);
    let fill = g.add_constant(Tensor::scalar(-7i32));
    let pd = node(
        &mut g,
        Op::Pad {
            mode: crate::attr::PadMode::Constant,
        },
        &[Some(sl), Some(pads), Some(fill)],
    );
    let cc = node(&mut g, Op::Concat { axis: 0 }, &[Some(pd), Some(w)]);
    let asd = op1(
        &mut g,
        Op::AsStrided {
            shape: vec![3, 4],
            strides: vec![4, -1],
            offset: 3,
        },
        cc,
    );
    let one = g.add_constant(Tensor::scalar(1i32));
    let y = op2(&mut g, Op::Binary(BinaryOp::Add), asd, one);
    output(&mut g, y, "y");
    let p = check(&g);
    assert_eq!(kernels(&p), 1, "views compose into the consumer");
    // Each view alone, as a graph output (a copy kernel).
    let views: Vec<Box<ViewFn>> = vec![
        Box::new(|g, x| node(g, Op::Transpose { perm: vec![] }, &[Some(x)])),
        Box::new(|g, x| {
            let s = ints(g, &[6, -1]);
            op2(g, Op::Reshape { allowzero: false }, x, s)
        }),
        Box::new(|g, x| {
            let s = ints(g, &[0, 2]);
            op2(g, Op::Unsqueeze {}, x, s)
        }),
        Box::new(|g, x| op1(g, Op::Flatten { axis: 2 }, x)),
        Box::new(|g, x| {
            let s = ints(g, &[2, 2, 3, 4]);
            op2(g, Op::Expand {}, x, s)
        }),
        Box::new(|g, x| {
            let (a, b) = (ints(g, &[-1, 0]), ints(g, &[-100, 10]));
            let ax = ints(g, &[2, 1]);
            let st = ints(g, &[-1, 2]);
            node(
                g,
                Op::Slice {},
                &[Some(x), Some(a), Some(b), Some(ax), Some(st)],
            )
        }),
        Box::new(|g, x| {
            let p = ints(g, &[0, -1, 2, 1, 2, -1]);
            node(
                g,
                Op::Pad {
                    mode: crate::attr::PadMode::Constant,
                },
                &[Some(x), Some(p)],
            )
        }),
        Box::new(|g, x| node(g, Op::Concat { axis: -1 }, &[Some(x), Some(x)])),
        Box::new(|g, x| {
            op1(
                g,
                Op::AsStrided {
                    shape: vec![2, 2, 2],
                    strides: vec![0, 5, 7],
                    offset: 2,
                },
                x,
            )
        }),
    ];
    for (i, f) in views.iter().enumerate() {
        let mut g = Graph::new(format!("view{i}"));
        let x = input(&mut g, "x", DType::I32, &[2, 3, 4]);
        let y = f(&mut g, x);
        output(&mut g, y, "y");
        check(&g);
    }
}

#[test]
fn views_of_floats_keep_vectorized_loads_where_contiguous() {
    let mut g = Graph::new("bias");
    let x = input(&mut g, "x", DType::F32, &[3, 9]);
    let b = input(&mut g, "b", DType::F32, &[9]);
    let s = op2(&mut g, Op::Binary(BinaryOp::Add), x, b);
    let e = op1(&mut g, Op::Unary(UnaryOp::Exp), s);
    output(&mut g, e, "y");
    let p = check(&g);
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    let text = print_kernel(&k.kernel);
    assert!(
        text.contains("vectorize(4)") && text.contains("load<4>"),
        "{text}"
    );
}

#[test]
fn reductions_over_each_axis_all_axes_and_keepdims() {
    for dtype in [DType::F32, DType::I32] {
        for kind in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod] {
            let axes_list: [&[i64]; 7] = [&[0], &[1], &[-1], &[0, 2], &[1, 2], &[], &[0, 1, 2]];
            for axes in axes_list {
                for keepdims in [false, true] {
                    let mut g = Graph::new("red");
                    let x = input(&mut g, "x", dtype, &[3, 4, 5]);
                    let y = reduce(&mut g, kind, x, axes, keepdims);
                    output(&mut g, y, "y");
                    let p = check(&g);
                    assert_eq!(kernels(&p), 1);
                }
            }
        }
    }
}

#[test]
fn long_contiguous_reduction_uses_vector_accumulators() {
    let mut g = Graph::new("rowsum");
    let x = input(&mut g, "x", DType::F32, &[3, 37]);
    let sq = op2(&mut g, Op::Binary(BinaryOp::Mul), x, x);
    let y = reduce(&mut g, ReduceOp::Sum, sq, &[1], true);
    let r = op1(&mut g, Op::Unary(UnaryOp::Sqrt), y);
    output(&mut g, r, "y");
    let p = check(&g);
    assert_eq!(
        kernels(&p),
        1,
        "prologue and epilogue fuse into the reduction"
    );
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    let text = print_kernel(&k.kernel);
    assert!(text.contains("reduce_add"), "{text}");
    // The GPU kernel reduces in shared memory.
    let gp = plan(&g, &fuse(&g).unwrap(), &TargetDesc::generic_gpu()).unwrap();
    let Step::Kernel(k) = &gp.steps[0] else {
        panic!()
    };
    let text = print_kernel(&k.kernel);
    assert!(
        text.contains("shared %partial") && text.contains("barrier"),
        "{text}"
    );
}

#[test]
fn subgroup_targets_finish_reductions_with_shuffles() {
    let mut g = Graph::new("rowsum");
    let x = input(&mut g, "x", DType::F32, &[3, 1000]);
    let y = reduce(&mut g, ReduceOp::Sum, x, &[1], true);
    output(&mut g, y, "y");
    check(&g);
    let fused = fuse(&g).unwrap();
    let kernel = |t: &TargetDesc| {
        let p = plan(&g, &fused, t).unwrap();
        let Step::Kernel(k) = &p.steps[0] else {
            panic!()
        };
        k.kernel.clone()
    };
    // 256 invocations in subgroups of 8: a butterfly of 3 shuffles, then 32 partials.
    let k = kernel(&subgroup_gpu(8));
    let text = print_kernel(&k);
    assert_eq!(text.matches("shuffle_xor<").count(), 3, "{text}");
    assert!(text.contains("shared %partial: f32[32]"), "{text}");
    // Without the capability (or with a subgroup wider than the group): shared memory only.
    for t in [TargetDesc::generic_gpu(), subgroup_gpu(512)] {
        let text = print_kernel(&kernel(&t));
        assert!(!text.contains("shuffle_xor"), "{text}");
        assert!(text.contains("shared %partial: f32[256]"), "{text}");
    }
    // A group that is one subgroup: no shared memory and no barrier.
    let mut warp = subgroup_gpu(32);
    warp.max_group_size = 32;
    let text = print_kernel(&kernel(&warp));
    assert!(
        !text.contains("shared") && !text.contains("barrier"),
        "{text}"
    );
    assert_eq!(text.matches("shuffle_xor<").count(), 5, "{text}");
    // i64 argmax indices stay in shared memory.
    let mut g = Graph::new("arg");
    let x = input(&mut g, "x", DType::F32, &[2, 300]);
    let op = Op::ArgMax {
        axis: 1,
        keepdims: false,
        select_last_index: false,
    };
    let y = op1(&mut g, op, x);
    output(&mut g, y, "y");
    let p = plan(&g, &fuse(&g).unwrap(), &subgroup_gpu(8)).unwrap();
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    assert!(!print_kernel(&k.kernel).contains("shuffle_xor"));
}

#[test]
fn reductions_propagate_nan_and_inf() {
    for kind in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
        for axes in [&[0i64][..], &[1]] {
            let mut g = Graph::new("nan");
            let x = input(&mut g, "x", DType::F32, &[6, 7]);
            let y = reduce(&mut g, kind, x, axes, false);
            output(&mut g, y, "y");
            check_special(&g, true);
        }
    }
}

#[test]
fn argmax_and_argmin_with_ties_nan_and_last_index() {
    for dtype in [DType::F32, DType::I32] {
        for axis in [0i64, 1, -1] {
            for keepdims in [false, true] {
                for last in [false, true] {
                    for max in [true, false] {
                        let mut g = Graph::new("arg");
                        let x = input(&mut g, "x", dtype, &[4, 6]);
                        let op = if max {
                            Op::ArgMax {
                                axis,
                                keepdims,
                                select_last_index: last,
                            }
                        } else {
                            Op::ArgMin {
                                axis,
                                keepdims,
                                select_last_index: last,
                            }
                        };
                        let y = op1(&mut g, op, x);
                        output(&mut g, y, "y");
                        check_special(&g, dtype.is_float());
                        let gp = plan(&g, &fuse(&g).unwrap(), &TargetDesc::generic_gpu()).unwrap();
                        let Step::Kernel(k) = &gp.steps[0] else {
                            panic!()
                        };
                        assert_eq!(k.kernel.shared.len(), 2, "value and index partials");
                    }
                }
            }
        }
    }
}

fn softmax_graph(dims: &[usize]) -> Graph {
    let mut g = Graph::new("softmax");
    let x = input(&mut g, "x", DType::F32, dims);
    let m = reduce(&mut g, ReduceOp::Max, x, &[-1], true);
    let d = op2(&mut g, Op::Binary(BinaryOp::Sub), x, m);
    let e = op1(&mut g, Op::Unary(UnaryOp::Exp), d);
    let s = reduce(&mut g, ReduceOp::Sum, e, &[-1], true);
    let y = op2(&mut g, Op::Binary(BinaryOp::Div), e, s);
    output(&mut g, y, "y");
    g
}

#[test]
fn softmax_is_one_row_kernel() {
    for dims in [
        &[3usize, 7][..],
        &[2, 3, 9],
        &[5],
        &[4, 1],
        &[1, 1],
        &[3, 17],
        &[2, 33],
    ] {
        let g = softmax_graph(dims);
        let fused = fuse(&g).unwrap();
        let kinds: Vec<GroupKind> = fused.groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [GroupKind::Rows], "{dims:?}");
        let p = check(&g);
        assert_eq!(kernels(&p), 1, "max, exp-sum and divide per row: {dims:?}");
    }
}

/// On CPU targets the softmax row kernel reduces the next row's max inside the exp-sum pass
/// of the row before (one sweep over each row from memory less); rows of several chunks,
/// row lengths with vector tails and NaN/Inf rows agree with the graph interpreter.
#[test]
fn softmax_reduces_the_next_rows_max_in_the_exp_pass() {
    for dims in [&[9usize, 37][..], &[6, 16], &[3, 4, 21], &[40, 300]] {
        for special in [false, true] {
            let g = softmax_graph(dims);
            let p = check_special(&g, special);
            let Step::Kernel(k) = &p.steps[0] else {
                panic!("softmax is one kernel")
            };
            let text = print_kernel(&k.kernel);
            assert!(
                text.contains("%ahead"),
                "{dims:?}: no look-ahead in\n{text}"
            );
            // The first reduction of each chunk's first row is the only max loop outside
            // the row loop; inside, the look-ahead reads row `min(row + 1, rows - 1)`.
            let rows: usize = dims[..dims.len() - 1].iter().product();
            assert!(
                text.contains(&format!("min(add(%row4, 1:i32), {}:i32)", rows - 1)),
                "{dims:?}: next row clamped to the last\n{text}"
            );
        }
    }
}

/// `x - max - log(sum(exp(x - max)))` along the last axis, in `dtype`.
fn log_softmax_graph(dtype: DType, dims: &[usize]) -> Graph {
    let mut g = Graph::new("log_softmax");
    let x = input(&mut g, "x", dtype, dims);
    let m = reduce(&mut g, ReduceOp::Max, x, &[-1], true);
    let d = op2(&mut g, Op::Binary(BinaryOp::Sub), x, m);
    let e = op1(&mut g, Op::Unary(UnaryOp::Exp), d);
    let s = reduce(&mut g, ReduceOp::Sum, e, &[-1], true);
    let l = op1(&mut g, Op::Unary(UnaryOp::Log), s);
    let y = op2(&mut g, Op::Binary(BinaryOp::Sub), d, l);
    output(&mut g, y, "y");
    g
}

#[test]
fn log_softmax_is_one_row_kernel_for_f32_and_f64_with_nan_and_inf() {
    for dtype in [DType::F32, DType::F64] {
        for dims in [&[3usize, 8][..], &[2, 19], &[1, 1], &[6, 1], &[2, 2, 31]] {
            let g = log_softmax_graph(dtype, dims);
            assert_eq!(kernels(&check(&g)), 1, "{dtype} {dims:?}");
            assert_eq!(kernels(&check_special(&g, true)), 1, "{dtype} {dims:?}");
        }
    }
}

#[test]
fn row_reductions_over_outer_axes_or_without_keepdims_keep_separate_kernels() {
    // Softmax over axis 0: the rows are not contiguous, the old path stays.
    let mut g = Graph::new("softmax0");
    let x = input(&mut g, "x", DType::F32, &[5, 6]);
    let m = reduce(&mut g, ReduceOp::Max, x, &[0], true);
    let d = op2(&mut g, Op::Binary(BinaryOp::Sub), x, m);
    let e = op1(&mut g, Op::Unary(UnaryOp::Exp), d);
    let s = reduce(&mut g, ReduceOp::Sum, e, &[0], true);
    let y = op2(&mut g, Op::Binary(BinaryOp::Div), e, s);
    output(&mut g, y, "y");
    assert_eq!(kernels(&check(&g)), 3);
    // keepdims = false with the result reshaped back: not row-aligned by shape, left alone.
    let mut g = Graph::new("flat_mean");
    let x = input(&mut g, "x", DType::F32, &[4, 6]);
    let s = reduce(&mut g, ReduceOp::Sum, x, &[1], false);
    let shape = ints(&mut g, &[4, 1]);
    let r = op2(&mut g, Op::Reshape { allowzero: false }, s, shape);
    let y = op2(&mut g, Op::Binary(BinaryOp::Sub), x, r);
    output(&mut g, y, "y");
    assert_eq!(kernels(&check(&g)), 2);
    // A reduction result read through a transpose of the rows reads other rows: not merged.
    let mut g = Graph::new("transposed");
    let x = input(&mut g, "x", DType::F32, &[4, 4]);
    let s = reduce(&mut g, ReduceOp::Sum, x, &[1], true);
    let to = ints(&mut g, &[4, 4]);
    let b = node(&mut g, Op::Expand {}, &[Some(s), Some(to)]);
    let t = node(&mut g, Op::Transpose { perm: vec![1, 0] }, &[Some(b)]);
    let y = op2(&mut g, Op::Binary(BinaryOp::Sub), x, t);
    output(&mut g, y, "y");
    assert_eq!(kernels(&check(&g)), 2);
    // A reduction result that is also a graph output stays its own kernel.
    let mut g = Graph::new("stat_out");
    let x = input(&mut g, "x", DType::F32, &[3, 5]);
    let s = reduce(&mut g, ReduceOp::Sum, x, &[1], true);
    let y = op2(&mut g, Op::Binary(BinaryOp::Sub), x, s);
    output(&mut g, y, "y");
    output(&mut g, s, "s");
    assert_eq!(kernels(&check(&g)), 2);
}

#[test]
fn rms_norm_and_logsumexp_and_integer_rows() {
    // RMS norm over the last two axes: x / sqrt(mean(x^2) + eps) * gamma.
    for dims in [&[3usize, 4, 5][..], &[2, 1, 9], &[1, 3, 1]] {
        let mut g = Graph::new("rms");
        let x = input(&mut g, "x", DType::F32, dims);
        let gamma = input(&mut g, "gamma", DType::F32, &dims[1..]);
        let sq = op2(&mut g, Op::Binary(BinaryOp::Mul), x, x);
        let s = reduce(&mut g, ReduceOp::Sum, sq, &[-2, -1], true);
        let n = (dims[1] * dims[2]) as f32;
        let inv_n = g.add_constant(Tensor::scalar(1.0 / n));
        let eps = g.add_constant(Tensor::scalar(1e-5f32));
        let mean = op2(&mut g, Op::Binary(BinaryOp::Mul), s, inv_n);
        let ve = op2(&mut g, Op::Binary(BinaryOp::Add), mean, eps);
        let r = op1(&mut g, Op::Unary(UnaryOp::Sqrt), ve);
        let y = op2(&mut g, Op::Binary(BinaryOp::Div), x, r);
        let z = op2(&mut g, Op::Binary(BinaryOp::Mul), y, gamma);
        output(&mut g, z, "z");
        // The reduction's result is broadcast back over its rows: one row kernel, not two.
        assert_eq!(kernels(&check(&g)), 1, "{dims:?}");
    }
    // Log-sum-exp: the root has the reductions' shape (stored once per row).
    let mut g = Graph::new("lse");
    let x = input(&mut g, "x", DType::F32, &[5, 11]);
    let m = reduce(&mut g, ReduceOp::Max, x, &[-1], true);
    let d = op2(&mut g, Op::Binary(BinaryOp::Sub), x, m);
    let e = op1(&mut g, Op::Unary(UnaryOp::Exp), d);
    let s = reduce(&mut g, ReduceOp::Sum, e, &[-1], true);
    let l = op1(&mut g, Op::Unary(UnaryOp::Log), s);
    let y = op2(&mut g, Op::Binary(BinaryOp::Add), l, m);
    output(&mut g, y, "y");
    assert_eq!(kernels(&check_special(&g, true)), 1);
    // Integers: x - max(x) + min(x) per row, exact.
    for dtype in [DType::I32, DType::I64, DType::U8] {
        let mut g = Graph::new("int_rows");
        let x = input(&mut g, "x", dtype, &[4, 13]);
        let hi = reduce(&mut g, ReduceOp::Max, x, &[-1], true);
        let lo = reduce(&mut g, ReduceOp::Min, x, &[-1], true);
        let d = op2(&mut g, Op::Binary(BinaryOp::Sub), x, lo);
        let y = op2(&mut g, Op::Binary(BinaryOp::Sub), hi, d);
        output(&mut g, y, "y");
        assert_eq!(kernels(&check(&g)), 1, "{dtype}");
    }
}

fn matmul_graph(a: &[usize], b: &[usize], bias: bool) -> Graph {
    let mut g = Graph::new("mm");
    let x = input(&mut g, "a", DType::F32, a);
    let w = input(&mut g, "b", DType::F32, b);
    let mut y = op2(&mut g, Op::MatMul {}, x, w);
    if bias {
        let n = *g.value(y).ty.shape.as_static().unwrap().last().unwrap();
        let c = input(&mut g, "c", DType::F32, &[n]);
        y = op2(&mut g, Op::Binary(BinaryOp::Add), y, c);
        y = op1(&mut g, Op::Unary(UnaryOp::Relu), y);
    }
    output(&mut g, y, "y");
    g
}

#[test]
fn matmul_with_bias_and_relu_is_one_kernel() {
    let g = matmul_graph(&[5, 7], &[7, 9], true);
    let p = check(&g);
    assert_eq!(kernels(&p), 1);
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    let text = print_kernel(&k.kernel);
    // The packed schedule: all 5 rows (fewer than the 6 of a whole block) in one register
    // block of 5 rows × 2 vectors of accumulators, B read from the scratch panel.
    assert_eq!(text.matches(": f32x4 = 0.0:f32x4").count(), 10, "{text}");
    assert!(text.contains("shared %bpanel"), "{text}");
    let gp = plan(&g, &fuse(&g).unwrap(), &TargetDesc::generic_gpu()).unwrap();
    let Step::Kernel(k) = &gp.steps[0] else {
        panic!()
    };
    let text = print_kernel(&k.kernel);
    assert!(
        text.contains("shared %tile_a") && text.contains("barrier"),
        "{text}"
    );
    check(&matmul_graph(&[6, 3], &[3, 12], false));
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    assert!(
        print_kernel(&k.kernel).contains("fma("),
        "{}",
        print_kernel(&k.kernel)
    );
}

#[test]
fn matmul_batch_broadcasting_and_vectors() {
    let cases: [(&[usize], &[usize]); 10] = [
        (&[2, 1, 3, 4], &[3, 4, 5]),
        (&[2, 1, 6, 3], &[3, 3, 17]),
        (&[9, 5], &[5, 8]),
        (&[5, 0], &[0, 9]),
        (&[4], &[4, 3]),
        (&[2, 3, 4], &[4]),
        (&[4], &[4]),
        (&[1, 3], &[3, 1]),
        (&[2, 0, 3], &[3, 4]),
        (&[3, 0], &[0, 5]),
    ];
    for (a, b) in cases {
        check(&matmul_graph(a, b, false));
    }
    // Integer matmul is exact; a transposed operand is a prologue view.
    let mut g = Graph::new("imm");
    let x = input(&mut g, "a", DType::I32, &[6, 4]);
    let w = input(&mut g, "b", DType::I32, &[9, 4]);
    let wt = node(&mut g, Op::Transpose { perm: vec![1, 0] }, &[Some(w)]);
    let y = op2(&mut g, Op::MatMul {}, x, wt);
    output(&mut g, y, "y");
    assert_eq!(kernels(&check(&g)), 1);
}

#[test]
fn gather_gather_elements_and_scatter() {
    let mut g = Graph::new("gather");
    let x = input(&mut g, "x", DType::F32, &[4, 5]);
    let idx = g.add_constant(Tensor::from_vec(&[2, 3], vec![0i64, -1, 2, 3, 1, -4]).unwrap());
    let e = op1(&mut g, Op::Unary(UnaryOp::Exp), x);
    let y = op2(&mut g, Op::Gather { axis: 1 }, e, idx);
    output(&mut g, y, "y");
    let p = check(&g);
    assert_eq!(
        kernels(&p),
        2,
        "gather data is materialized, not recomputed"
    );

    let mut g = Graph::new("gather_el");
    let x = input(&mut g, "x", DType::I32, &[3, 4]);
    let idx = g.add_constant(Tensor::from_vec(&[3, 2], vec![0i64, -1, 2, 3, 1, 0]).unwrap());
    let y = op2(&mut g, Op::GatherElements { axis: 1 }, x, idx);
    let i2 = g.add_constant(Tensor::from_vec(&[2], vec![2i32, 0]).unwrap());
    let z = op2(&mut g, Op::Gather { axis: 0 }, y, i2);
    output(&mut g, z, "z");
    assert_eq!(kernels(&check(&g)), 1);

    let mut g = Graph::new("scatter");
    let x = input(&mut g, "x", DType::F32, &[4, 3]);
    let idx = g.add_constant(Tensor::from_vec(&[2, 1], vec![3i64, 1]).unwrap());
    let up = input(&mut g, "u", DType::F32, &[2, 3]);
    let xr = op1(&mut g, Op::Unary(UnaryOp::Neg), x);
    let s = node(
        &mut g,
        Op::ScatterND {
            reduction: crate::attr::ScatterReduction::None,
        },
        &[Some(xr), Some(idx), Some(up)],
    );
    let y = op1(&mut g, Op::Unary(UnaryOp::Abs), s);
    output(&mut g, y, "y");
    let p = check(&g);
    assert!(p.steps.iter().any(|s| matches!(s, Step::Host(_))));
}

#[test]
fn host_nodes_are_their_own_steps_with_materialized_operands() {
    let mut g = Graph::new("host");
    let x = input(&mut g, "x", DType::F32, &[3, 6]);
    let t = node(&mut g, Op::Transpose { perm: vec![1, 0] }, &[Some(x)]);
    let k = g.add_constant(Tensor::from_vec(&[1], vec![2i64]).unwrap());
    let outs = nodes(
        &mut g,
        Op::TopK {
            axis: 0,
            largest: true,
            sorted: true,
        },
        &[Some(t), Some(k)],
        2,
    );
    let y = op1(&mut g, Op::Unary(UnaryOp::Neg), outs[0]);
    output(&mut g, y, "y");
    output(&mut g, outs[1], "i");
    let p = check(&g);
    assert_eq!(kernels(&p), 2, "the transpose copy and the neg");
    let fused = fuse(&g).unwrap();
    assert_eq!(
        fused
            .groups
            .iter()
            .filter(|g| g.kind == GroupKind::Host)
            .count(),
        1
    );
    let dot = to_dot(&g, &fused);
    assert!(
        dot.contains("cluster_1") && dot.contains("top_k") && dot.contains("->"),
        "{dot}"
    );
}

#[test]
fn empty_and_rank0_tensors() {
    let mut g = Graph::new("empty");
    let x = input(&mut g, "x", DType::F32, &[0, 3]);
    let y = op1(&mut g, Op::Unary(UnaryOp::Exp), x);
    let s = reduce(&mut g, ReduceOp::Sum, x, &[0], false);
    let m = reduce(&mut g, ReduceOp::Max, x, &[0], true);
    let pads = ints(&mut g, &[1, 0, 0, 0]);
    let pd = node(
        &mut g,
        Op::Pad {
            mode: crate::attr::PadMode::Constant,
        },
        &[Some(x), Some(pads)],
    );
    let w = input(&mut g, "w", DType::F32, &[2, 3]);
    let cc = node(&mut g, Op::Concat { axis: 0 }, &[Some(x), Some(w)]);
    for (v, n) in [(y, "y"), (s, "s"), (m, "m"), (pd, "p"), (cc, "c")] {
        output(&mut g, v, n);
    }
    check(&g);

    let mut g = Graph::new("scalar");
    let x = input(&mut g, "x", DType::F32, &[]);
    let b = input(&mut g, "b", DType::F32, &[2]);
    let e = op1(&mut g, Op::Unary(UnaryOp::Tanh), x);
    let y = op2(&mut g, Op::Binary(BinaryOp::Mul), e, b);
    let s = reduce(&mut g, ReduceOp::Sum, x, &[], false);
    let a = op1(
        &mut g,
        Op::ArgMax {
            axis: 0,
            keepdims: false,
            select_last_index: false,
        },
        b,
    );
    for (v, n) in [(y, "y"), (s, "s"), (a, "a"), (x, "x_again")] {
        output(&mut g, v, n);
    }
    let p = check(&g);
    assert_eq!(
        p.outputs[3].1, p.inputs[0].1,
        "an output that is an input is that buffer"
    );
}

#[test]
fn wide_buffers_use_i64_indices() {
    let mut g = Graph::new("wide");
    let x = input(&mut g, "x", DType::U8, &[]);
    let shape = ints(&mut g, &[1 << 31]);
    let y = op2(&mut g, Op::Expand {}, x, shape);
    output(&mut g, y, "y");
    let fused = fuse(&g).unwrap();
    for t in targets() {
        let p = plan(&g, &fused, &t).unwrap();
        let Step::Kernel(k) = &p.steps[0] else {
            panic!()
        };
        let text = print_kernel(&k.kernel);
        assert!(
            text.contains(": i64 =") && !text.contains(": i32 ="),
            "{text}"
        );
    }
    let small = softmax_graph(&[2, 3]);
    let p = plan(&small, &fuse(&small).unwrap(), &TargetDesc::generic_cpu(1)).unwrap();
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    assert!(print_kernel(&k.kernel).contains(": i32 ="));
}

#[test]
fn unsupported_dtypes_and_dynamic_shapes_are_typed_errors() {
    let g = softmax_graph(&[2, 3]);
    let mut t = TargetDesc::generic_gpu();
    t.dtypes[DType::ALL.iter().position(|&d| d == DType::F32).unwrap()] = DTypeSupport::Unsupported;
    let err = plan(&g, &fuse(&g).unwrap(), &t).unwrap_err();
    assert!(
        matches!(
            err,
            IrError::Unsupported {
                dtype: DType::F32,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("reduce_max"), "{err}");

    let mut g = Graph::new("dyn");
    let x = g.add_input(
        "x",
        TensorType {
            dtype: DType::F32,
            shape: crate::shape::Shape(vec![crate::shape::Dim::Symbolic("n".into())]),
        },
    );
    let y = g.push_node(
        Op::Unary(UnaryOp::Neg),
        vec![Some(x)],
        vec![g.value(x).ty.clone()],
        None,
    );
    let yv = g.node(y).outputs[0];
    output(&mut g, yv, "y");
    let err = plan(&g, &fuse(&g).unwrap(), &TargetDesc::generic_cpu(1)).unwrap_err();
    assert!(matches!(err, IrError::InputShape { .. }), "{err}");
}

#[test]
fn multi_chunk_cpu_schedules_split_the_output() {
    let mut g = Graph::new("big");
    let x = input(&mut g, "x", DType::F32, &[3, 1500]);
    let b = input(&mut g, "b", DType::F32, &[3, 1]);
    let y = op2(&mut g, Op::Binary(BinaryOp::Mul), x, b);
    output(&mut g, y, "y");
    let p = check(&g);
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    assert!(k.kernel.launch.grid[0] > 1, "{}", print_kernel(&k.kernel));
}

/// A tiny deterministic generator for random graphs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }
}

fn try_node(g: &mut Graph, op: Op, ins: &[Option<ValueId>]) -> Option<ValueId> {
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
            node: "rand".into(),
            op: op.name(),
        };
        infer_op(&op, &at, &operands, 1).ok()?
    };
    if tys.iter().any(|t| !t.shape.is_static()) {
        return None;
    }
    let n = g.push_node(op, ins.to_vec(), tys, None);
    Some(g.node(n).outputs[0])
}

fn dims_of(g: &Graph, v: ValueId) -> Vec<usize> {
    g.value(v).ty.shape.as_static().unwrap()
}

fn random_dims(r: &mut Rng, rank: usize) -> Vec<usize> {
    (0..rank)
        .map(|_| {
            let choices = if r.below(10) == 0 { 8 } else { 7 };
            [1usize, 2, 3, 5, 7, 1, 3, 0][r.below(choices)]
        })
        .collect()
}

/// One random primitive applied to a random value of the pool (None when it does not apply).
fn random_step(g: &mut Graph, r: &mut Rng, pool: &[ValueId], dtype: DType) -> Option<ValueId> {
    let v = pool[r.below(pool.len())];
    let d = dims_of(g, v);
    let rank = d.len();
    let pick_axis = |r: &mut Rng| r.int(-(rank as i64), rank as i64 - 1);
    match r.below(17) {
        16 if rank > 0 => {
            // A host node in the middle of the graph.
            let axis = g.add_constant(Tensor::scalar(r.below(rank) as i64));
            try_node(
                g,
                Op::CumSum {
                    exclusive: false,
                    reverse: r.below(2) == 0,
                },
                &[Some(v), Some(axis)],
            )
        }
        0 => {
            let ops: &[UnaryOp] = if dtype.is_float() {
                &[
                    UnaryOp::Neg,
                    UnaryOp::Abs,
                    UnaryOp::Relu,
                    UnaryOp::Tanh,
                    UnaryOp::Sigmoid,
                    UnaryOp::Floor,
                ]
            } else {
                &[UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Relu]
            };
            try_node(g, Op::Unary(ops[r.below(ops.len())]), &[Some(v)])
        }
        1 | 2 => {
            let w = pool[r.below(pool.len())];
            let other = if r.below(2) == 0 {
                w
            } else {
                let bd: Vec<usize> = d
                    .iter()
                    .skip(r.below(rank + 1))
                    .map(|&x| if r.below(3) == 0 { 1 } else { x })
                    .collect();
                let name = format!("b{}", g.inputs.len());
                input(g, &name, dtype, &bd)
            };
            let ops = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Add];
            let op = if r.below(5) == 0 {
                Op::Variadic(crate::op::VariadicOp::Max)
            } else {
                Op::Binary(ops[r.below(4)])
            };
            try_node(g, op, &[Some(v), Some(other)])
        }
        3 => {
            let mut perm: Vec<i64> = (0..rank as i64).collect();
            for i in (1..rank).rev() {
                perm.swap(i, r.below(i + 1));
            }
            try_node(g, Op::Transpose { perm }, &[Some(v)])
        }
        4 => {
            let n: usize = d.iter().product();
            let shape = match r.below(3) {
                0 => vec![n as i64],
                1 => d.iter().rev().map(|&x| x as i64).collect(),
                _ => vec![-1, d.last().copied().unwrap_or(1) as i64],
            };
            let s = ints(g, &shape);
            try_node(g, Op::Reshape { allowzero: false }, &[Some(v), Some(s)])
        }
        5 => {
            let (mut st, mut en, mut sp) = (vec![], vec![], vec![]);
            for &x in &d {
                let x = x as i64;
                st.push(r.int(-x - 1, x + 1));
                en.push(r.int(-x - 1, x + 1));
                sp.push([1, 2, -1, -2, 1][r.below(5)]);
            }
            let (a, b, c) = (ints(g, &st), ints(g, &en), ints(g, &sp));
            try_node(g, Op::Slice {}, &[Some(v), Some(a), Some(b), None, Some(c)])
        }
        6 => {
            let pads: Vec<i64> = (0..2 * rank)
                .map(|i| r.int(if d[i % rank.max(1)] > 1 { -1 } else { 0 }, 2))
                .collect();
            let p = ints(g, &pads);
            let fill = if dtype.is_float() {
                g.add_constant(Tensor::scalar(1.5f32))
            } else {
                g.add_constant(Tensor::scalar(-3i32))
            };
            try_node(
                g,
                Op::Pad {
                    mode: crate::attr::PadMode::Constant,
                },
                &[Some(v), Some(p), Some(fill)],
            )
        }
        7 => {
            let w = pool[r.below(pool.len())];
            try_node(
                g,
                Op::Concat { axis: pick_axis(r) },
                &[Some(v), Some(w), Some(v)],
            )
        }
        8 => {
            let n: usize = d.iter().product();
            let srank = 1 + r.below(3);
            let shape: Vec<i64> = random_dims(r, srank).iter().map(|&x| x as i64).collect();
            let strides: Vec<i64> = shape.iter().map(|_| r.int(-2, 3)).collect();
            let (lo, hi) = crate::shape::strided_extent(&shape, &strides, 0)
                .ok()?
                .unwrap_or((0, 0));
            if hi - lo >= n as i128 {
                return None;
            }
            let offset = (-lo) as i64 + r.int(0, (n as i128 - 1 - (hi - lo)) as i64);
            try_node(
                g,
                Op::AsStrided {
                    shape,
                    strides,
                    offset,
                },
                &[Some(v)],
            )
        }
        9 | 10 => {
            let kinds = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum];
            let axes: Vec<i64> = (0..rank as i64).filter(|_| r.below(2) == 0).collect();
            let keep = r.below(2) == 0;
            let a = (!axes.is_empty()).then(|| ints(g, &axes));
            try_node(
                g,
                Op::Reduce {
                    kind: kinds[r.below(4)],
                    keepdims: keep,
                    noop_with_empty_axes: false,
                },
                &[Some(v), a],
            )
        }
        11 => {
            let op = if r.below(2) == 0 {
                Op::ArgMax {
                    axis: pick_axis(r),
                    keepdims: r.below(2) == 0,
                    select_last_index: r.below(2) == 0,
                }
            } else {
                Op::ArgMin {
                    axis: pick_axis(r),
                    keepdims: r.below(2) == 0,
                    select_last_index: r.below(2) == 0,
                }
            };
            let a = try_node(g, op, &[Some(v)])?;
            try_node(
                g,
                Op::Cast {
                    to: dtype,
                    saturate: true,
                },
                &[Some(a)],
            )
        }
        12 => {
            let k = d.last().copied().unwrap_or(1);
            let n = 1 + r.below(4);
            let name = format!("m{}", g.inputs.len());
            let w = input(g, &name, dtype, &[k, n]);
            let y = try_node(g, Op::MatMul {}, &[Some(v), Some(w)])?;
            if r.below(2) == 0 {
                let b = input(g, &format!("mb{}", g.inputs.len()), dtype, &[n]);
                let s = try_node(g, Op::Binary(BinaryOp::Add), &[Some(y), Some(b)])?;
                try_node(g, Op::Unary(UnaryOp::Relu), &[Some(s)])
            } else {
                Some(y)
            }
        }
        13 => {
            let mut shape: Vec<i64> = d
                .iter()
                .map(|&x| if x == 1 { 3 } else { x as i64 })
                .collect();
            shape.insert(0, 2);
            let s = ints(g, &shape);
            try_node(g, Op::Expand {}, &[Some(v), Some(s)])
        }
        14 => {
            if rank == 0 || d.contains(&0) {
                return None;
            }
            let a = r.below(rank);
            let idx: Vec<i64> = (0..r.int(0, 4))
                .map(|_| r.int(-(d[a] as i64), d[a] as i64 - 1))
                .collect();
            let t = g.add_constant(Tensor::from_vec(&[idx.len()], idx).unwrap());
            try_node(g, Op::Gather { axis: a as i64 }, &[Some(v), Some(t)])
        }
        _ => {
            let zero = if dtype.is_float() {
                g.add_constant(Tensor::scalar(0f32))
            } else {
                g.add_constant(Tensor::scalar(0i32))
            };
            let c = try_node(g, Op::Binary(BinaryOp::Greater), &[Some(v), Some(zero)])?;
            let n = try_node(g, Op::Unary(UnaryOp::Neg), &[Some(v)])?;
            let w = pool[r.below(pool.len())];
            try_node(g, Op::Where {}, &[Some(c), Some(w), Some(n)])
        }
    }
}

fn random_graph(seed: u64, steps: usize, dtype: DType) -> Graph {
    let mut r = Rng(seed);
    let mut g = Graph::new("random");
    let rank = r.below(4);
    let dims = random_dims(&mut r, rank);
    let x = input(&mut g, "x", dtype, &dims);
    let mut pool = vec![x];
    for _ in 0..steps {
        if let Some(v) = random_step(&mut g, &mut r, &pool, dtype) {
            pool.push(v);
        }
    }
    let last = *pool.last().unwrap();
    output(&mut g, last, "y");
    let extra = pool[r.below(pool.len())];
    if extra != last {
        output(&mut g, extra, "z");
    }
    g
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

    /// Random primitive graphs: the plan through the kernel interpreter (which reports any
    /// out-of-bounds access as an error) equals the graph interpreter.
    #[test]
    fn random_graphs_match_the_graph_interpreter(seed in 0u64..u64::MAX, steps in 1usize..9, float in proptest::bool::ANY) {
        let dtype = if float { DType::F32 } else { DType::I32 };
        let g = random_graph(seed, steps, dtype);
        let inputs: HashMap<String, Tensor> = g.inputs.iter().enumerate().map(|(i, &v)| {
            let dims = dims_of(&g, v);
            (g.value_label(v), data(dtype, &dims, seed ^ i as u64, false))
        }).collect();
        // Graphs the interpreter rejects (e.g. huge values) are not what this checks.
        let Ok(want) = evaluate(&g, &inputs) else { return Ok(()); };
        let fused = fuse(&g).unwrap();
        let mut all = targets().to_vec();
        all.push(odd_targets()[(seed % 4) as usize].clone());
        for t in all {
            let p = plan(&g, &fused, &t).unwrap_or_else(|e| panic!("{}: {e}\n{}", t.name, crate::text::print_graph(&g)));
            let got = run_plan(&p, &inputs).unwrap_or_else(|e| panic!("{}: {e}\n{}", t.name, crate::text::print_graph(&g)));
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                if a.dtype().is_float() {
                    for k in 0..a.len() {
                        let (x, y) = (a.get_f64(k), b.get_f64(k));
                        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-3 * (1.0 + y.abs());
                        proptest::prop_assert!(ok, "{} output {i}[{k}]: {x} vs {y}\n{}", t.name, crate::text::print_graph(&g));
                    }
                } else {
                    proptest::prop_assert_eq!(a.bytes(), b.bytes(), "{} output {}\n{}", t.name, i, crate::text::print_graph(&g));
                }
            }
        }
    }
}

/// The graphs whose printed kernels are snapshot-tested.
fn snapshot_graphs() -> Vec<(&'static str, Graph)> {
    let mut ew = Graph::new("bias_tanh");
    let x = input(&mut ew, "x", DType::F32, &[4, 10]);
    let b = input(&mut ew, "b", DType::F32, &[10]);
    let a = op2(&mut ew, Op::Binary(BinaryOp::Add), x, b);
    let t = op1(&mut ew, Op::Unary(UnaryOp::Tanh), a);
    output(&mut ew, t, "y");

    let mut views = Graph::new("views");
    let x = input(&mut views, "x", DType::F32, &[3, 4]);
    let t = node(&mut views, Op::Transpose { perm: vec![1, 0] }, &[Some(x)]);
    let pads = ints(&mut views, &[1, 0, 0, 1]);
    let p = node(
        &mut views,
        Op::Pad {
            mode: crate::attr::PadMode::Constant,
        },
        &[Some(t), Some(pads)],
    );
    let c = node(&mut views, Op::Concat { axis: 1 }, &[Some(p), Some(p)]);
    output(&mut views, c, "y");

    let mut colsum = Graph::new("colsum");
    let x = input(&mut colsum, "x", DType::F32, &[6, 9]);
    let s = reduce(&mut colsum, ReduceOp::Sum, x, &[0], false);
    output(&mut colsum, s, "y");

    vec![
        ("bias_tanh", ew),
        ("views", views),
        ("colsum", colsum),
        ("softmax", softmax_graph(&[4, 10])),
        ("matmul_bias_relu", matmul_graph(&[4, 6], &[6, 10], true)),
    ]
}

/// Printed kernels of fixed graphs for both test targets, compared with the files under
/// `ir/tests/snapshots/`; `TESSERA_BLESS=1` rewrites them.
#[test]
fn printed_kernels_match_snapshots() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let bless = std::env::var("TESSERA_BLESS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, g) in snapshot_graphs() {
        let fused = fuse(&g).unwrap();
        let mut text = String::new();
        for t in targets() {
            let p = plan(&g, &fused, &t).unwrap();
            for step in &p.steps {
                if let Step::Kernel(k) = step {
                    text.push_str(&format!("; target {}, nodes {:?}\n", t.name, k.nodes));
                    text.push_str(&print_kernel(&k.kernel));
                    text.push('\n');
                }
            }
        }
        let path = dir.join(format!("schedule_{name}.txt"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "snapshots differ (TESSERA_BLESS=1 to rewrite): {stale:?}"
    );
}

/// Targets at the edges of what `TargetDesc` describes.
fn odd_targets() -> Vec<TargetDesc> {
    let mut wide = TargetDesc::generic_cpu(8);
    wide.vector_lanes_f32 = 16;
    wide.l2_bytes = 0;
    let mut scalar = TargetDesc::generic_cpu(1);
    scalar.vector_lanes_f32 = 1;
    scalar.has_fma = false;
    let mut small_gpu = TargetDesc::generic_gpu();
    small_gpu.max_group_size = 32;
    small_gpu.max_group_dims = [32, 32, 1];
    small_gpu.shared_bytes = 256;
    small_gpu.max_grid_dims = [3, 2, 4];
    let mut one_gpu = TargetDesc::generic_gpu();
    one_gpu.max_group_size = 1;
    one_gpu.shared_bytes = 0;
    // Workgroups of one subgroup: reductions need no shared memory at all.
    let mut warp_gpu = subgroup_gpu(32);
    warp_gpu.max_group_size = 32;
    warp_gpu.max_group_dims = [32, 32, 1];
    warp_gpu.shared_bytes = 256;
    vec![wide, scalar, small_gpu, one_gpu, warp_gpu]
}

#[test]
fn odd_targets_get_valid_schedules() {
    let graphs = vec![
        softmax_graph(&[3, 21]),
        matmul_graph(&[2, 9, 5], &[5, 19], true),
        snapshot_graphs().remove(1).1,
        snapshot_graphs().remove(2).1,
    ];
    for g in graphs {
        let inputs = inputs_for(&g, 0, false);
        let want = evaluate(&g, &inputs).unwrap();
        let fused = fuse(&g).unwrap();
        for t in odd_targets() {
            let p = plan(&g, &fused, &t).unwrap_or_else(|e| panic!("{}: {e}", g.name));
            for s in &p.steps {
                if let Step::Kernel(k) = s {
                    assert!(k.kernel.launch.group_size() <= t.max_group_size.max(1));
                    for (gd, lim) in k.kernel.launch.grid.iter().zip(&t.max_grid_dims) {
                        assert!(gd <= lim, "{}", print_kernel(&k.kernel));
                    }
                    let shared: usize = k
                        .kernel
                        .shared
                        .iter()
                        .map(|b| b.len * b.dtype.size_bytes())
                        .sum();
                    assert!(shared <= t.shared_bytes, "{}", print_kernel(&k.kernel));
                }
            }
            let got = run_plan(&p, &inputs).unwrap_or_else(|e| panic!("{}: {e}", g.name));
            for (a, b) in got.iter().zip(&want) {
                assert_same(a, b, &g.name);
            }
        }
    }
}

#[test]
fn narrow_and_wide_dtypes() {
    for dtype in [DType::F64, DType::U8, DType::I64] {
        let mut g = Graph::new("dtypes");
        let x = input(&mut g, "x", dtype, &[3, 6]);
        let b = input(&mut g, "b", dtype, &[6]);
        let s = op2(&mut g, Op::Binary(BinaryOp::Mul), x, b);
        let r = reduce(&mut g, ReduceOp::Sum, s, &[1], false);
        let m = reduce(&mut g, ReduceOp::Max, s, &[0], false);
        output(&mut g, r, "r");
        output(&mut g, m, "m");
        check(&g);
    }
    // f16: every op rounds to f16, in the kernel as in the graph.
    let mut g = Graph::new("half");
    let x = input(&mut g, "x", DType::F32, &[2, 7]);
    let h = op1(
        &mut g,
        Op::Cast {
            to: DType::F16,
            saturate: true,
        },
        x,
    );
    let e = op1(&mut g, Op::Unary(UnaryOp::Exp), h);
    let c = op1(
        &mut g,
        Op::Cast {
            to: DType::F32,
            saturate: true,
        },
        e,
    );
    output(&mut g, c, "y");
    check(&g);
    // bool: comparisons, where, not.
    let mut g = Graph::new("bools");
    let x = input(&mut g, "x", DType::I32, &[9]);
    let zero = g.add_constant(Tensor::scalar(0i32));
    let gt = op2(&mut g, Op::Binary(BinaryOp::Greater), x, zero);
    let n = op1(&mut g, Op::Unary(UnaryOp::Not), gt);
    let neg = op1(&mut g, Op::Unary(UnaryOp::Neg), x);
    let w = node(&mut g, Op::Where {}, &[Some(n), Some(neg), Some(x)]);
    output(&mut g, w, "w");
    output(&mut g, n, "n");
    check(&g);
}

#[test]
fn gpu_outer_reductions_with_many_outputs_use_one_invocation_per_output() {
    let mut g = Graph::new("colsum_wide");
    let x = input(&mut g, "x", DType::F32, &[3, 300]);
    let s = reduce(&mut g, ReduceOp::Sum, x, &[0], false);
    output(&mut g, s, "y");
    let p = check(&g);
    assert_eq!(kernels(&p), 1);
    let gp = plan(&g, &fuse(&g).unwrap(), &TargetDesc::generic_gpu()).unwrap();
    let Step::Kernel(k) = &gp.steps[0] else {
        panic!()
    };
    assert!(k.kernel.shared.is_empty(), "{}", print_kernel(&k.kernel));
}

#[test]
fn as_strided_reads_out_of_range_are_refused() {
    let mut g = Graph::new("strided");
    let x = input(&mut g, "x", DType::F32, &[6]);
    let n = g.push_node(
        Op::AsStrided {
            shape: vec![2, 2],
            strides: vec![3, 2],
            offset: 1,
        },
        vec![Some(x)],
        vec![TensorType::new(DType::F32, &[2, 2])],
        None,
    );
    let y = g.node(n).outputs[0];
    output(&mut g, y, "y");
    let err = plan(&g, &fuse(&g).unwrap(), &TargetDesc::generic_cpu(1)).unwrap_err();
    assert!(
        matches!(err, IrError::Attribute { attr: "offset", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("1..=6"), "{err}");
}

#[test]
fn layer_norm_shaped_graph_is_one_row_kernel() {
    for cols in [10usize, 1, 8, 17, 33] {
        let mut g = Graph::new("layer_norm");
        let x = input(&mut g, "x", DType::F32, &[3, cols]);
        let gamma = input(&mut g, "gamma", DType::F32, &[cols]);
        let inv_n = g.add_constant(Tensor::scalar(1.0 / cols as f32));
        let eps = g.add_constant(Tensor::scalar(1e-5f32));
        let s = reduce(&mut g, ReduceOp::Sum, x, &[-1], true);
        let mean = op2(&mut g, Op::Binary(BinaryOp::Mul), s, inv_n);
        let d = op2(&mut g, Op::Binary(BinaryOp::Sub), x, mean);
        let sq = op2(&mut g, Op::Binary(BinaryOp::Mul), d, d);
        let v = reduce(&mut g, ReduceOp::Sum, sq, &[-1], true);
        let var = op2(&mut g, Op::Binary(BinaryOp::Mul), v, inv_n);
        let ve = op2(&mut g, Op::Binary(BinaryOp::Add), var, eps);
        let sd = op1(&mut g, Op::Unary(UnaryOp::Sqrt), ve);
        let y = op2(&mut g, Op::Binary(BinaryOp::Div), d, sd);
        let z = op2(&mut g, Op::Binary(BinaryOp::Mul), y, gamma);
        output(&mut g, z, "z");
        let p = check(&g);
        assert_eq!(
            kernels(&p),
            1,
            "mean, variance (+eps, sqrt), normalize per row"
        );
    }
}

/// PRelu is `x > 0 ? x : slope * x`: a NaN operand, and a zero or negative `x` against a NaN or
/// infinite slope, give NaN as in the reference (a `x < 0` select would give `x` there).
#[test]
fn prelu_propagates_nan_from_either_operand() {
    let xs = [
        0.0f32,
        -0.0,
        1.0,
        -2.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3.0,
    ];
    let slopes = [
        f32::NAN,
        f32::INFINITY,
        0.5,
        f32::NEG_INFINITY,
        2.0,
        0.0,
        0.0,
        f32::NAN,
    ];
    let mut g = Graph::new("prelu");
    let x = input(&mut g, "x", DType::F32, &[8]);
    let s = input(&mut g, "s", DType::F32, &[8]);
    let y = op2(&mut g, Op::Binary(BinaryOp::PRelu), x, s);
    output(&mut g, y, "y");
    let inputs: HashMap<String, Tensor> = [
        (
            "x".to_string(),
            Tensor::from_vec(&[8], xs.to_vec()).unwrap(),
        ),
        (
            "s".to_string(),
            Tensor::from_vec(&[8], slopes.to_vec()).unwrap(),
        ),
    ]
    .into_iter()
    .collect();
    check_with(&g, &inputs);
    // The reference itself: slope * x wherever x is not positive.
    let want = evaluate(&g, &inputs).unwrap();
    let v: Vec<f32> = want[0].to_vec().unwrap();
    assert!(v[0].is_nan() && v[1].is_nan() && v[4].is_nan() && v[6].is_nan());
    assert_eq!(
        (v[2], v[3], v[5], v[7]),
        (1.0, f32::INFINITY, f32::INFINITY, 3.0)
    );
}

/// A GPU target with every warp-level matrix-multiply-accumulate.
fn mma_gpu() -> TargetDesc {
    let mut t = TargetDesc::generic_gpu();
    t.name = "mma-gpu".into();
    t.mma = Some(crate::target::MmaDesc {
        f16: true,
        bf16: true,
        tf32: true,
    });
    for d in [DType::F16, DType::BF16] {
        t.dtypes[d.index()] = DTypeSupport::Widened;
    }
    t
}

/// Quarter-integer test data of any float dtype (exact in f16, bf16 and tf32).
fn quarters(dtype: DType, dims: &[usize], seed: u64) -> Tensor {
    let t = data(DType::F32, dims, seed, false);
    let v: Vec<f64> = (0..t.len()).map(|i| t.get_f64(i)).collect();
    crate::interp::values::Arr::floats(dtype, dims.to_vec(), v).to_tensor()
}

#[test]
fn tensor_core_matmul_handles_ragged_shapes_batches_views_and_epilogues() {
    // (A dims, B dims, transposed B, bias): shapes that are not multiples of the 64 × 64
    // block, the 16 × 8 tile or the k step, batches with broadcasting, a transposed operand.
    let cases: [(&[usize], &[usize], bool, bool); 7] = [
        (&[16, 16], &[16, 8], false, false),
        (&[37, 29], &[29, 13], false, true),
        (&[1, 5], &[5, 1], false, false),
        (&[40, 33], &[33, 66], false, true),
        (&[2, 9, 17], &[17, 24], false, false),
        (&[3, 1, 5, 40], &[2, 40, 7], false, false),
        (&[20, 18], &[11, 18], true, true),
    ];
    let t = mma_gpu();
    for dtype in [DType::F16, DType::BF16, DType::F32] {
        for (ci, &(a, b, transposed, bias)) in cases.iter().enumerate() {
            // Every case in f16; the ragged and the transposed one in bf16 and tf32 (the
            // interpreter is slow on four-warp workgroups).
            if dtype != DType::F16 && ![1, 6].contains(&ci) {
                continue;
            }
            let mut g = Graph::new("tc");
            let x = input(&mut g, "a", dtype, a);
            let w = input(&mut g, "b", dtype, b);
            let w = if transposed {
                node(&mut g, Op::Transpose { perm: vec![1, 0] }, &[Some(w)])
            } else {
                w
            };
            let mut y = op2(&mut g, Op::MatMul {}, x, w);
            if bias {
                let n = *g.value(y).ty.shape.as_static().unwrap().last().unwrap();
                let c = input(&mut g, "c", dtype, &[n]);
                y = op2(&mut g, Op::Binary(BinaryOp::Add), y, c);
                y = op1(&mut g, Op::Unary(UnaryOp::Relu), y);
            }
            output(&mut g, y, "y");
            let inputs: HashMap<String, Tensor> = g
                .inputs
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let dims = g.value(v).ty.shape.as_static().unwrap();
                    (g.value_label(v), quarters(dtype, &dims, i as u64 + 7))
                })
                .collect();
            let want = evaluate(&g, &inputs).unwrap();
            let p = plan(&g, &fuse(&g).unwrap(), &t).unwrap();
            let Step::Kernel(k) = &p.steps[0] else {
                panic!("case {ci}: the matmul is not a kernel")
            };
            let text = print_kernel(&k.kernel);
            let shape = if dtype == DType::F32 {
                "mma m16n8k8.tf32"
            } else {
                "mma m16n8k16"
            };
            assert!(text.contains(shape), "{dtype} case {ci}:\n{text}");
            assert_eq!(k.kernel.launch.group, vec![128, 1, 1]);
            // Quarter-integer data: every product and partial sum is exact, so the f32
            // accumulation (and tf32 rounding of quarters) equals the graph interpreter.
            let got = run_plan(&p, &inputs).unwrap_or_else(|e| panic!("{dtype} case {ci}: {e}"));
            assert_eq!(got[0].bytes(), want[0].bytes(), "{dtype} case {ci}");
        }
    }
    // Without the capability (or for f32 without tf32) the shared-memory fma tiles run.
    let mut no_tf32 = mma_gpu();
    no_tf32.mma = no_tf32
        .mma
        .map(|m| crate::target::MmaDesc { tf32: false, ..m });
    let g = matmul_graph(&[20, 20], &[20, 20], false);
    let p = plan(&g, &fuse(&g).unwrap(), &no_tf32).unwrap();
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    let text = print_kernel(&k.kernel);
    assert!(!text.contains("mma ") && text.contains("tile_a"), "{text}");
}

/// CPU targets with 4-, 8- and 16-lane vectors, and one whose scratch bytes are too few for
/// any B panel (the in-place schedule).
fn matmul_cpu_targets() -> Vec<TargetDesc> {
    let mut out = Vec::new();
    for lanes in [4u8, 8, 16] {
        let mut t = TargetDesc::generic_cpu(2);
        t.vector_lanes_f32 = lanes;
        out.push(t);
    }
    let mut tight = TargetDesc::generic_cpu(3);
    tight.vector_lanes_f32 = 8;
    tight.shared_bytes = 32;
    out.push(tight);
    out
}

/// Plans `g` for every [`matmul_cpu_targets`] target, runs it on the kernel interpreter
/// (which checks every access against its buffer) and compares with the graph interpreter.
/// Returns, per target, whether the kernel packed B into a scratch panel.
fn check_cpu_matmul(g: &Graph) -> Vec<bool> {
    let inputs = inputs_for(g, 7, false);
    let want = evaluate(g, &inputs).unwrap();
    let fused = fuse(g).unwrap();
    let mut packed = Vec::new();
    for t in matmul_cpu_targets() {
        let what = format!("{} with {} lanes", g.name, t.vector_lanes_f32);
        let p = plan(g, &fused, &t).unwrap_or_else(|e| panic!("{what}: {e}"));
        let got = run_plan(&p, &inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
        for (a, b) in got.iter().zip(&want) {
            assert_same(a, b, &what);
        }
        packed.push(p.steps.iter().any(|s| {
            matches!(s, Step::Kernel(k) if k.kernel.shared.iter().any(|b| b.name.starts_with("bpanel")))
        }));
        for s in &p.steps {
            if let Step::Kernel(k) = s {
                let bytes: usize = k.kernel.shared.iter().map(|b| b.len * 4).sum();
                assert!(bytes <= t.shared_bytes, "{what}: {bytes} scratch bytes");
            }
        }
    }
    packed
}

#[test]
fn packed_cpu_matmul_handles_ragged_shapes_batches_and_epilogues() {
    // (A dims, B dims, bias + relu epilogue): rows and columns that are and are not
    // multiples of the register block and of the strip, one strip, fewer rows than the
    // block, k = 1, k = 0, batches with broadcasting on either side.
    let cases: [(&[usize], &[usize], bool); 16] = [
        (&[13, 7], &[7, 37], true),
        (&[9, 6], &[6, 45], true),
        (&[7, 3], &[3, 51], false),
        (&[6, 5], &[5, 8], false),
        (&[9, 5], &[5, 8], true),
        (&[1, 3], &[3, 16], false),
        (&[5, 1], &[1, 33], true),
        (&[7, 11], &[11, 64], false),
        (&[16, 9], &[9, 48], true),
        (&[2, 1, 6, 3], &[3, 3, 17], false),
        (&[3, 7, 4], &[4, 20], true),
        (&[7, 4], &[2, 4, 19], false),
        (&[1, 1], &[1, 1], false),
        (&[5, 0], &[0, 40], false),
        (&[2, 3, 0], &[2, 0, 33], true),
        (&[8, 2], &[2, 7], true),
    ];
    for (a, b, bias) in cases {
        let packed = check_cpu_matmul(&matmul_graph(a, b, bias));
        let n = *b.last().unwrap();
        let k = *a.last().unwrap();
        // 4 lanes: strips of 8 columns; 8 lanes: 16; 16 lanes: 32; never with 32 bytes.
        let want = [8, 16, 32, usize::MAX].map(|nr| k > 0 && n >= nr);
        assert_eq!(packed, want, "{a:?} x {b:?}");
    }
    // 13 rows × 37 columns with 4 lanes: strips of 8 columns in blocks of 6 + 6 + 1 rows
    // (12 + 2 accumulators), then 4 of the 5 leftover columns as a strip of one vector
    // (6 + 1 accumulators) and the last column one element at a time.
    let g = matmul_graph(&[13, 7], &[7, 37], true);
    let p = plan(&g, &fuse(&g).unwrap(), &TargetDesc::generic_cpu(2)).unwrap();
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    let text = print_kernel(&k.kernel);
    assert_eq!(
        text.matches(": f32x4 = 0.0:f32x4").count(),
        12 + 2 + 6 + 1,
        "{text}"
    );
    // A transposed B (a prologue view) is packed through the view.
    let mut g = Graph::new("mm_t");
    let x = input(&mut g, "a", DType::F32, &[7, 5]);
    let w = input(&mut g, "b", DType::F32, &[35, 5]);
    let wt = node(&mut g, Op::Transpose { perm: vec![1, 0] }, &[Some(w)]);
    let y = op2(&mut g, Op::MatMul {}, x, wt);
    output(&mut g, y, "y");
    assert_eq!(check_cpu_matmul(&g), [true, true, true, false]);
}

#[test]
fn packed_cpu_matmul_register_block_follows_the_vector_width() {
    let g = matmul_graph(&[12, 4], &[4, 64], false);
    let fused = fuse(&g).unwrap();
    for (lanes, rows) in [(4u8, 6), (8, 6), (16, 8)] {
        let mut t = TargetDesc::generic_cpu(2);
        t.vector_lanes_f32 = lanes;
        let p = plan(&g, &fused, &t).unwrap();
        let Step::Kernel(k) = &p.steps[0] else {
            panic!()
        };
        let text = print_kernel(&k.kernel);
        let zero = format!(": f32x{lanes} = 0.0:f32x{lanes}");
        // One block of `rows × 2` accumulators (12 rows: 6 + 6, or 8 + a block of 4).
        let blocks = if rows == 6 { 1 } else { 2 };
        let accs = if rows == 6 { 12 } else { 16 + 8 };
        assert_eq!(text.matches(zero.as_str()).count(), accs, "{text}");
        assert_eq!(text.matches("shared %bpanel").count(), 1, "{text}");
        assert_eq!(
            text.matches(&format!("load<{lanes}> %bpanel")).count(),
            2 * blocks,
            "{text}"
        );
    }
}

#[test]
fn packed_cpu_matmul_groups_strips_when_units_are_plenty() {
    // One core wants 4 units: 8 whole strips of 8 columns per batch make groups of 4 strips
    // (2 batches × 2 groups), plus each batch's 6 leftover columns, rows not a multiple of 6.
    let g = matmul_graph(&[2, 7, 5], &[5, 70], true);
    let inputs = inputs_for(&g, 3, false);
    let want = evaluate(&g, &inputs).unwrap();
    let fused = fuse(&g).unwrap();
    for (cores, group) in [(1, 4), (2, 2), (8, 1)] {
        let t = TargetDesc::generic_cpu(cores);
        let p = plan(&g, &fused, &t).unwrap();
        let Step::Kernel(k) = &p.steps[0] else {
            panic!()
        };
        let panel = k.kernel.shared.iter().map(|b| b.len).sum::<usize>();
        assert_eq!(panel, group * 5 * 8, "{}", print_kernel(&k.kernel));
        let got = run_plan(&p, &inputs).unwrap();
        assert_same(&got[0], &want[0], &format!("{cores} cores"));
    }
}

/// A 4-lane CPU target (strips of 8 columns, 32 bytes per panel row) whose scratch holds 100
/// panel rows: a whole-`k` panel fits up to `k = 100`, beyond that `k` is blocked (blocks of
/// at most 64 rows, from the L1 budget's floor [`super::matmul::MIN_K_BLOCK`]).
fn k_blocking_target(cores: usize) -> TargetDesc {
    let mut t = TargetDesc::generic_cpu(cores);
    t.vector_lanes_f32 = 4;
    t.l1_bytes = 1024;
    t.shared_bytes = 100 * 32;
    t
}

#[test]
fn packed_cpu_matmul_blocks_k_when_a_whole_panel_does_not_fit() {
    assert_eq!(super::matmul::k_block(1024, 32, 100, 3200), None);
    // 150 = 3 blocks of 50; 131 = 44 + 44 + 43; 129 = 43 × 3; 64 rows at most per block.
    assert_eq!(super::matmul::k_block(1024, 32, 150, 3200), Some(50));
    assert_eq!(super::matmul::k_block(1024, 32, 131, 3200), Some(44));
    assert_eq!(super::matmul::k_block(1024, 32, 129, 3200), Some(43));
    assert_eq!(super::matmul::k_block(0, 64, 8192, 256 << 10), Some(256));
    // (A dims, B dims, bias + relu epilogue — relu of a partial sum would be wrong, so the
    // epilogue must run once, after the last block): uneven blocks, leftover rows and
    // columns, batches with broadcasting, one strip.
    let cases: [(&[usize], &[usize], bool); 7] = [
        (&[13, 150], &[150, 37], true),
        (&[9, 131], &[131, 45], true),
        (&[7, 129], &[129, 8], false),
        (&[2, 5, 101], &[101, 19], true),
        (&[6, 200], &[2, 200, 16], false),
        (&[1, 300], &[300, 12], true),
        (&[16, 128], &[128, 64], true),
    ];
    for (a, b, bias) in cases {
        let g = matmul_graph(a, b, bias);
        let inputs = inputs_for(&g, 11, false);
        let want = evaluate(&g, &inputs).unwrap();
        let fused = fuse(&g).unwrap();
        for cores in [1, 3] {
            let t = k_blocking_target(cores);
            let what = format!("{a:?} x {b:?} on {cores} cores");
            let p = plan(&g, &fused, &t).unwrap_or_else(|e| panic!("{what}: {e}"));
            let Step::Kernel(k) = &p.steps[0] else {
                panic!("{what}")
            };
            let text = print_kernel(&k.kernel);
            let kk = *a.last().unwrap();
            let kc = super::matmul::k_block(t.l1_bytes, 32, kk, t.shared_bytes).unwrap();
            // Panels of `kc` rows, and the output is read back (partial sums).
            let panel: usize = k.kernel.shared.iter().map(|b| b.len).sum();
            assert_eq!(panel % (kc * 8), 0, "{what}: {text}");
            assert!(text.contains("read_write"), "{what}: {text}");
            let got = run_plan(&p, &inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_same(&got[0], &want[0], &what);
        }
    }
    // An f16 output cannot hold f32 partial sums: no blocking, the in-place schedule.
    let mut g = Graph::new("mm_f16");
    let x = input(&mut g, "a", DType::F16, &[5, 150]);
    let w = input(&mut g, "b", DType::F16, &[150, 16]);
    let y = op2(&mut g, Op::MatMul {}, x, w);
    output(&mut g, y, "y");
    let p = plan(&g, &fuse(&g).unwrap(), &k_blocking_target(2)).unwrap();
    let Step::Kernel(k) = &p.steps[0] else {
        panic!()
    };
    assert!(k.kernel.shared.is_empty(), "{}", print_kernel(&k.kernel));
}

/// Softmax, LogSoftmax and LayerNormalization operators, decomposed and simplified as the
/// runtime does, fuse into one row kernel each (layer normalization's optional statistics
/// outputs are graph outputs, so asking for them keeps their reductions apart).
#[test]
fn decomposed_softmax_log_softmax_and_layer_norm_are_one_kernel() {
    for dtype in [DType::F32, DType::F64] {
        for dims in [&[3usize, 10][..], &[2, 3, 17], &[4, 1], &[1, 33]] {
            for which in ["softmax", "log_softmax", "layer_norm"] {
                let mut g = Graph::new(which);
                let x = input(&mut g, "x", dtype, dims);
                let y = match which {
                    "softmax" => op1(&mut g, Op::Softmax { axis: -1 }, x),
                    "log_softmax" => op1(&mut g, Op::LogSoftmax { axis: -1 }, x),
                    _ => {
                        let last = &dims[dims.len() - 1..];
                        let scale = input(&mut g, "scale", dtype, last);
                        let bias = input(&mut g, "bias", dtype, last);
                        node(
                            &mut g,
                            Op::LayerNormalization {
                                axis: -1,
                                epsilon: 1e-5,
                                stash_type: 1,
                            },
                            &[Some(x), Some(scale), Some(bias)],
                        )
                    }
                };
                output(&mut g, y, "y");
                let low = lowered(&g);
                let fused = fuse(&low).unwrap();
                let kinds: Vec<GroupKind> = fused.groups.iter().map(|g| g.kind).collect();
                assert_eq!(kinds, [GroupKind::Rows], "{which} {dtype} {dims:?}");
                assert_eq!(kernels(&check(&low)), 1, "{which} {dtype} {dims:?}");
            }
        }
    }
}

/// Row kernels in half precision (the input cast from f32 first): sums accumulate in f32,
/// max and the normalize step stay in the narrow dtype, on every test target.
#[test]
fn half_precision_softmax_and_layer_norm_rows() {
    for dtype in [DType::F16, DType::BF16] {
        for which in ["softmax", "layer_norm"] {
            let mut g = Graph::new(which);
            let x = input(&mut g, "x", DType::F32, &[3, 21]);
            let h = op1(
                &mut g,
                Op::Cast {
                    to: dtype,
                    saturate: true,
                },
                x,
            );
            let y = if which == "softmax" {
                op1(&mut g, Op::Softmax { axis: -1 }, h)
            } else {
                let s = input(&mut g, "s", DType::F32, &[21]);
                let one = op1(
                    &mut g,
                    Op::Cast {
                        to: dtype,
                        saturate: true,
                    },
                    s,
                );
                node(
                    &mut g,
                    Op::LayerNormalization {
                        axis: -1,
                        epsilon: 1e-5,
                        stash_type: 1,
                    },
                    &[Some(h), Some(one)],
                )
            };
            let back = op1(
                &mut g,
                Op::Cast {
                    to: DType::F32,
                    saturate: true,
                },
                y,
            );
            output(&mut g, back, "y");
            let low = lowered(&g);
            let mut inputs: HashMap<String, Tensor> =
                [("x".to_string(), data(DType::F32, &[3, 21], 7, false))].into();
            if which == "layer_norm" {
                inputs.insert("s".to_string(), data(DType::F32, &[21], 8, false));
            }
            let want = evaluate(&low, &inputs).unwrap();
            let fused = fuse(&low).unwrap();
            let rows = fused.groups.iter().filter(|g| g.kind == GroupKind::Rows);
            assert_eq!(rows.count(), 1, "{which} {dtype}");
            for t in targets() {
                let p = plan(&low, &fused, &t).unwrap();
                let got = run_plan(&p, &inputs).unwrap();
                let (a, b) = (
                    got[0].to_vec::<f32>().unwrap(),
                    want[0].to_vec::<f32>().unwrap(),
                );
                for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                    // One or two half-precision ULPs: accumulation order differs.
                    assert!(
                        (a - b).abs() <= 2e-2 * (1.0 + b.abs()),
                        "{which} {dtype} {} element {i}: {a} vs {b}",
                        t.name
                    );
                }
            }
        }
    }
}

/// Attention's shapes: `A` of a matmul read through a head transpose (and a reshape that
/// merges the permuted axes) is copied once, so the matmul reads a row-major `A`; a transposed
/// `B` is not copied (the packed schedule copies its panels through the view). Results match
/// the interpreter on every target.
#[test]
fn a_transposed_left_operand_is_copied_once_and_a_transposed_right_one_is_not() {
    let mut g = Graph::new("attn_out");
    // [heads, seq, d] -> [seq, heads, d] -> [seq, heads * d] @ [heads * d, n]
    let x = input(&mut g, "x", DType::F32, &[4, 6, 8]);
    let w = input(&mut g, "w", DType::F32, &[32, 20]);
    let t = node(
        &mut g,
        Op::Transpose {
            perm: vec![1, 0, 2],
        },
        &[Some(x)],
    );
    let shape = ints(&mut g, &[6, 32]);
    let a = op2(&mut g, Op::Reshape { allowzero: false }, t, shape);
    let y = op2(&mut g, Op::MatMul {}, a, w);
    output(&mut g, y, "y");
    // A plain operand and a transposed right operand: [6, 32] @ transpose([20, 32]).
    let p = input(&mut g, "p", DType::F32, &[6, 32]);
    let v = input(&mut g, "v", DType::F32, &[20, 32]);
    let vt = node(&mut g, Op::Transpose { perm: vec![1, 0] }, &[Some(v)]);
    let z = op2(&mut g, Op::MatMul {}, p, vt);
    output(&mut g, z, "z");
    let fused = fuse(&g).unwrap();
    let x_t = fused
        .groups
        .iter()
        .filter(|gr| matches!(g.node(gr.root).op, Op::Transpose { .. }))
        .count();
    assert_eq!(x_t, 1, "only A's transpose is a kernel of its own");
    let plan = check(&g);
    assert_eq!(kernels(&plan), 3, "the copy of A and two matmuls");
}

/// CPU targets with 4-, 8- and 16-lane vectors (padded copies vectorize under guards).
fn lane_cpu_targets() -> Vec<TargetDesc> {
    [4u8, 8, 16]
        .into_iter()
        .map(|lanes| {
            let mut t = TargetDesc::generic_cpu(2);
            t.vector_lanes_f32 = lanes;
            t
        })
        .collect()
}

/// Fuses (for the target) and plans `g` for every [`lane_cpu_targets`] target, runs it on
/// the kernel interpreter (which checks every access) and compares with the graph
/// interpreter. Returns how many of the plans hold a guarded vector load (`if` around a
/// `load<n>`).
fn check_lane_targets(g: &Graph, what: &str) -> usize {
    let inputs: HashMap<String, Tensor> = g
        .inputs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ty = &g.value(v).ty;
            let dims = ty.shape.as_static().unwrap();
            (g.value_label(v), data(ty.dtype, &dims, i as u64 + 3, false))
        })
        .collect();
    let want = evaluate(g, &inputs).unwrap();
    let mut guarded = 0;
    for t in lane_cpu_targets() {
        let what = format!("{what} with {} lanes", t.vector_lanes_f32);
        let fused = crate::fusion::fuse_for(g, &t).unwrap();
        let p = plan(g, &fused, &t).unwrap_or_else(|e| panic!("{what}: {e}"));
        let got = run_plan(&p, &inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
        for (a, b) in got.iter().zip(&want) {
            assert_same(a, b, &what);
        }
        guarded += usize::from(p.steps.iter().any(|s| {
            matches!(s, Step::Kernel(k) if {
                let text = print_kernel(&k.kernel);
                text.contains("  if ") && text.contains(" load<")
            })
        }));
    }
    guarded
}

/// `g` decomposed and simplified as the runtime does before fusion.
fn lowered(g: &Graph) -> Graph {
    use crate::passes::{decompose::decompose, simplify};
    simplify(&decompose(&simplify(g).unwrap()).unwrap().graph).unwrap()
}

/// A 3×3 f32 convolution of input `x` with filters `w`, `(pad, stride, dilation)` on both
/// spatial axes.
fn conv_graph(x: &[usize], w: &[usize], (pad, stride, dil): (i64, i64, i64)) -> Graph {
    let mut g = Graph::new("conv");
    let xv = input(&mut g, "x", DType::F32, x);
    let f = input(&mut g, "w", DType::F32, w);
    let y = node(
        &mut g,
        Op::Conv {
            auto_pad: crate::attr::AutoPad::NotSet,
            dilations: vec![dil, dil],
            group: 1,
            kernel_shape: vec![3, 3],
            pads: vec![pad; 4],
            strides: vec![stride, stride],
        },
        &[Some(xv), Some(f)],
    );
    output(&mut g, y, "y");
    g
}

/// How many kernels of `fused` copy an `as_strided` window (convolution's im2col).
fn im2col_copies(low: &Graph, fused: &crate::fusion::Fused) -> usize {
    fused
        .groups
        .iter()
        .filter(|gr| matches!(low.node(gr.root).op, Op::AsStrided { .. }))
        .count()
}

/// Convolutions lowered through pad + as_strided for every width from 1 to 17 with pads 0
/// to 3, strides 1 and 2 and dilations 1 and 2, against the graph interpreter on 4-, 8- and
/// 16-lane CPU targets: the packed matmul copies its B panels straight from the padded
/// input (vector loads under a guard where the padding and the rows allow), or, where the
/// window is strided along its last axis, an im2col copy kernel does.
#[test]
fn padded_windowed_copies_of_odd_widths_match_the_interpreter() {
    let mut guarded = 0;
    for w in 1..=17usize {
        // Two of the (pad, stride, dilation) kinds per width, in turn, so every kind meets
        // widths of every residue modulo the vector widths while the test stays short.
        let kinds = [(1i64, 1i64, 1i64), (2, 2, 1), (3, 1, 2), (0, 2, 2)];
        for k in 0..2 {
            let (pad, stride, dil) = kinds[(w + k) % kinds.len()];
            let pad = (pad + (w / 4) as i64) % 4;
            if (w as i64) + 2 * pad < 2 * dil + 1 {
                continue;
            }
            let g = conv_graph(&[1, 2, 5, w], &[2, 2, 3, 3], (pad, stride, dil));
            let what = format!("width {w}, pad {pad}, stride {stride}, dilation {dil}");
            guarded += check_lane_targets(&lowered(&g), &what);
        }
    }
    assert!(guarded > 0, "no im2col copy vectorized under a guard");
}

/// Constant pads (and crops) as kernels of their own, of rank 1 (the flat schedule) and 2
/// (the row schedule), with every width from 1 to 17 and pads -1 to 3 on each side.
#[test]
fn padded_copies_vectorize_under_guards_and_match_the_interpreter() {
    let mut guarded = 0;
    for w in 1..=17usize {
        for (before, after) in [(1i64, 2i64), (3, 0), (0, 3), (-1, 2), (2, -1)] {
            for rank in [1usize, 2] {
                if w as i64 + before.min(0) + after.min(0) < 1 {
                    continue;
                }
                let mut g = Graph::new("pad");
                let dims: Vec<usize> = if rank == 1 { vec![w] } else { vec![3, w] };
                let x = input(&mut g, "x", DType::F32, &dims);
                let pads: Vec<i64> = if rank == 1 {
                    vec![before, after]
                } else {
                    vec![1, before, 0, after]
                };
                let p = ints(&mut g, &pads);
                let fill = g.add_constant(Tensor::scalar(1.5f32));
                let y = node(
                    &mut g,
                    Op::Pad {
                        mode: crate::attr::PadMode::Constant,
                    },
                    &[Some(x), Some(p), Some(fill)],
                );
                // Through an elementwise op, so the guarded element carries more than a load.
                let z = op1(&mut g, Op::Unary(UnaryOp::Neg), y);
                output(&mut g, z, "y");
                let what = format!("rank {rank}, width {w}, pads ({before}, {after})");
                guarded += check_lane_targets(&g, &what);
            }
        }
    }
    assert!(guarded > 0, "no padded copy vectorized under a guard");
}

/// On CPU targets the im2col view of a stride-1 convolution is not copied: the packed
/// matmul reads it; a target-independent fusion (and a GPU target) keeps the copy kernel.
#[test]
fn cpu_fusion_leaves_the_im2col_view_to_the_packed_matmul() {
    let low = lowered(&conv_graph(&[1, 4, 9, 9], &[8, 4, 3, 3], (1, 1, 1)));
    let copies = |fused: &crate::fusion::Fused| im2col_copies(&low, fused);
    let mut cpu = TargetDesc::generic_cpu(2);
    cpu.vector_lanes_f32 = 8;
    assert_eq!(copies(&crate::fusion::fuse_for(&low, &cpu).unwrap()), 0);
    assert_eq!(copies(&fuse(&low).unwrap()), 1);
    let gpu = TargetDesc::generic_gpu();
    assert_eq!(copies(&crate::fusion::fuse_for(&low, &gpu).unwrap()), 1);
    assert!(check_lane_targets(&low, "3x3 conv") > 0);
    // 16 input channels (k = 144) on a target whose scratch holds no whole-k panel (64
    // bytes per row): k is blocked (3 blocks of 48), and the pack still reads the window.
    let low = lowered(&conv_graph(&[1, 16, 7, 9], &[5, 16, 3, 3], (1, 1, 1)));
    cpu.shared_bytes = 8192;
    cpu.l1_bytes = 1024;
    assert_eq!(super::matmul::k_block(1024, 64, 144, 8192), Some(48));
    let fused = crate::fusion::fuse_for(&low, &cpu).unwrap();
    assert_eq!(im2col_copies(&low, &fused), 0);
    let inputs = inputs_for(&low, 5, false);
    let want = evaluate(&low, &inputs).unwrap();
    let p = plan(&low, &fused, &cpu).unwrap();
    let got = run_plan(&p, &inputs).unwrap();
    assert_same(&got[0], &want[0], "conv16 with k blocks");
    assert!(p.steps.iter().any(|s| matches!(s, Step::Kernel(k)
        if k.kernel.params.iter().any(|p| p.access == crate::kernel::Access::ReadWrite))));
}
