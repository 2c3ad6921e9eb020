//! Tests of the decomposition pass: for every composite, the decomposed graph evaluates (on
//! seeded random inputs) to what the composite evaluates to, and only primitives remain.

use super::emit::{int_tensor, tensor_of};
use super::*;
use crate::attr::{
    AutoPad, CoordTransform, GeluApprox, KeepAspectRatio, NearestMode, PadMode, ResizeMode,
};
use crate::dtype::DType;
use crate::graph::TensorType;
use crate::interp::evaluate;
use crate::op::{BinaryOp, VariadicOp};
use crate::tensor::Tensor;
use proptest::prelude::*;

/// A node operand in a test graph.
#[derive(Clone)]
enum In {
    /// A graph input of this type (filled with random values).
    Data(DType, Vec<usize>),
    /// A constant.
    Const(Tensor),
    /// An absent optional operand.
    Absent,
}

use In::{Absent, Const, Data};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[-r, r)`.
    fn float(&mut self, r: f64) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 * r - r
    }

    /// Random values of a dtype: floats in [-3, 3), signed ints in [-6, 6), unsigned in
    /// [0, 12), bools.
    fn tensor(&mut self, dtype: DType, dims: &[usize]) -> Tensor {
        let n: usize = dims.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|_| {
                if dtype.is_float() {
                    self.float(3.0)
                } else if dtype == DType::Bool {
                    (self.next() % 2) as f64
                } else if dtype.is_unsigned_int() {
                    (self.next() % 12) as f64
                } else {
                    (self.next() % 12) as f64 - 6.0
                }
            })
            .collect();
        tensor_of(dtype, dims, v)
    }
}

/// A graph of one `op` node over `ins`, with `n_out` outputs named `y0`, `y1`, ...
fn single(op: &Op, ins: &[In], n_out: usize) -> Graph {
    let mut g = Graph::new("t");
    let mut vals = Vec::new();
    for (k, i) in ins.iter().enumerate() {
        vals.push(match i {
            Data(d, s) => Some(g.add_input(format!("x{k}"), TensorType::new(*d, s))),
            Const(t) => Some(g.add_constant(t.clone())),
            Absent => None,
        });
    }
    let v = append(&mut g, op, &vals, n_out).unwrap();
    for (k, o) in v.into_iter().enumerate() {
        g.values[o].name = Some(format!("y{k}"));
        g.add_output(o);
    }
    g
}

/// Appends `op` to `g` with inferred output types; returns its outputs.
fn append(g: &mut Graph, op: &Op, ins: &[Option<ValueId>], n_out: usize) -> Result<Vec<ValueId>> {
    let operands: Vec<Option<Operand<'_>>> = ins
        .iter()
        .map(|i| {
            i.map(|v| Operand {
                ty: &g.value(v).ty,
                value: g.constant_of(v),
            })
        })
        .collect();
    let at = At {
        node: "n".into(),
        op: op.name(),
    };
    let tys = infer_op(op, &at, &operands, n_out)?;
    let id = g.push_node(op.clone(), ins.to_vec(), tys, None);
    Ok(g.node(id).outputs.clone())
}

/// Random inputs for every graph input of `g`.
fn random_inputs(g: &Graph, seed: u64) -> HashMap<String, Tensor> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    g.inputs
        .iter()
        .map(|&i| {
            let v = g.value(i);
            let dims = v.ty.shape.as_static().unwrap();
            (g.value_label(i), rng.tensor(v.ty.dtype, &dims))
        })
        .collect()
}

/// Tolerance for comparing two results of `dtype`.
fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        DType::F32 => 2e-5,
        DType::F16 | DType::BF16 => 2e-2,
        _ => 0.0,
    }
}

/// Asserts two result tensors agree: exactly for non-floats, within `tolerance` relative to
/// `max(1, |a|, |b|)` for floats (NaN matches NaN, infinities match exactly).
fn assert_agree(want: &Tensor, got: &Tensor, what: &str) {
    assert_eq!(want.dtype(), got.dtype(), "{what}: dtype");
    assert_eq!(want.shape(), got.shape(), "{what}: shape");
    if !want.dtype().is_float() {
        assert_eq!(want.bytes(), got.bytes(), "{what}: values");
        return;
    }
    let tol = tolerance(want.dtype());
    for i in 0..want.len() {
        let (a, b) = (want.get_f64(i), got.get_f64(i));
        let ok = (a.is_nan() && b.is_nan())
            || a == b
            || (a.is_finite()
                && b.is_finite()
                && (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0));
        assert!(ok, "{what}: element {i}: want {a}, got {b}");
    }
}

/// Decomposes `g`, checks only primitives remain, and compares both graphs' results on a few
/// seeded random inputs.
fn check_graph(g: &Graph, what: &str) {
    let d = decompose(g).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(d.host_nodes.is_empty(), "{what}: host nodes remain");
    for (_, n) in d.graph.nodes.iter() {
        assert!(
            is_primitive(&n.op),
            "{what}: {} is not primitive",
            n.op.name()
        );
    }
    crate::verify::verify(&d.graph).unwrap_or_else(|e| panic!("{what}: verify: {e}"));
    for (k, o) in g.outputs.iter().enumerate() {
        assert_eq!(
            d.graph.value_label(d.graph.outputs[k]),
            g.value_label(*o),
            "{what}: output names"
        );
    }
    for seed in 0..3 {
        let inputs = random_inputs(g, seed);
        let want = evaluate(g, &inputs).unwrap_or_else(|e| panic!("{what}: original: {e}"));
        let got = evaluate(&d.graph, &inputs).unwrap_or_else(|e| panic!("{what}: decomposed: {e}"));
        for (w, o) in want.iter().zip(&got) {
            assert_agree(w, o, what);
        }
    }
}

/// [`check_graph`] on a single-node graph.
fn check(op: Op, ins: &[In], n_out: usize) {
    let what = format!("{op:?}");
    check_graph(&single(&op, ins, n_out), &what);
}

fn f64d(s: &[usize]) -> In {
    Data(DType::F64, s.to_vec())
}

fn f32d(s: &[usize]) -> In {
    Data(DType::F32, s.to_vec())
}

fn i64c(v: &[i64]) -> In {
    Const(Tensor::from_vec(&[v.len()], v.to_vec()).unwrap())
}

fn i64s(v: i64) -> In {
    Const(Tensor::scalar(v))
}

#[test]
fn primitive_set() {
    assert!(is_primitive(&Op::Binary(BinaryOp::Add)));
    assert!(is_primitive(&Op::AsStrided {
        shape: vec![],
        strides: vec![],
        offset: 0
    }));
    assert!(is_primitive(&Op::Pad {
        mode: PadMode::Constant
    }));
    assert!(!is_primitive(&Op::Pad {
        mode: PadMode::Reflect
    }));
    assert!(!is_primitive(&Op::Reduce {
        kind: ReduceOp::Mean,
        keepdims: true,
        noop_with_empty_axes: false
    }));
    assert!(!is_primitive(&Op::Softmax { axis: -1 }));
    assert!(!is_primitive(&Op::TopK {
        axis: -1,
        largest: true,
        sorted: true
    }));
}

#[test]
fn variadic_and_clip() {
    for &kind in VariadicOp::ALL.iter() {
        check(
            Op::Variadic(kind),
            &[f64d(&[2, 3]), f64d(&[3]), f64d(&[1, 1])],
            1,
        );
        check(Op::Variadic(kind), &[f32d(&[4])], 1);
    }
    for kind in [VariadicOp::Min, VariadicOp::Max] {
        check(
            Op::Variadic(kind),
            &[Data(DType::I32, vec![2, 3]), Data(DType::I32, vec![3])],
            1,
        );
    }
    let nan = Const(Tensor::from_vec(&[3], vec![f64::NAN, 1.0, -1.0]).unwrap());
    check(
        Op::Variadic(VariadicOp::Max),
        &[f64d(&[2, 3]), nan.clone()],
        1,
    );
    check(Op::Variadic(VariadicOp::Min), &[nan, f64d(&[2, 3])], 1);
    let s = |v: f64| Const(Tensor::scalar(v));
    check(Op::Clip {}, &[f64d(&[2, 5]), s(-1.0), s(1.0)], 1);
    check(Op::Clip {}, &[f64d(&[2, 5]), Absent, s(0.5)], 1);
    check(Op::Clip {}, &[f64d(&[2, 5]), s(0.5)], 1);
    check(Op::Clip {}, &[f64d(&[0, 5]), s(2.0), s(1.0)], 1);
    check(Op::Clip {}, &[f64d(&[3])], 1);
    check(
        Op::Clip {},
        &[
            Data(DType::I16, vec![7]),
            Const(Tensor::scalar(-2i16)),
            Const(Tensor::scalar(3i16)),
        ],
        1,
    );
}

#[test]
fn activations() {
    let ops = [
        Op::LeakyRelu { alpha: 0.1 },
        Op::Elu { alpha: 1.5 },
        Op::Selu {
            alpha: 1.673_263_2,
            gamma: 1.050_701,
        },
        Op::Celu { alpha: 0.7 },
        Op::HardSigmoid {
            alpha: 0.3,
            beta: 0.4,
        },
        Op::ThresholdedRelu { alpha: 0.5 },
        Op::Gelu {
            approximate: GeluApprox::None,
        },
        Op::Gelu {
            approximate: GeluApprox::Tanh,
        },
        Op::Shrink {
            bias: 0.5,
            lambd: 1.0,
        },
    ];
    for op in ops {
        check(op.clone(), &[f64d(&[3, 4])], 1);
        check(op.clone(), &[f32d(&[5])], 1);
        check(op.clone(), &[f64d(&[])], 1);
        check(op, &[f64d(&[0, 2])], 1);
    }
    for (bias, lambd) in [(2.0, 1.5), (0.5, 2.0)] {
        check(Op::Shrink { bias, lambd }, &[Data(DType::I32, vec![9])], 1);
    }
    let special = Const(
        Tensor::from_vec(
            &[5],
            vec![f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1.0, -0.0],
        )
        .unwrap(),
    );
    for (n, p) in [(true, true), (true, false), (false, true), (false, false)] {
        let op = Op::IsInf {
            detect_negative: n,
            detect_positive: p,
        };
        check(op.clone(), std::slice::from_ref(&special), 1);
        check(op, &[f32d(&[2, 2])], 1);
    }
    for op in [
        Op::LeakyRelu { alpha: 0.1 },
        Op::Elu { alpha: 1.5 },
        Op::Celu { alpha: 0.7 },
        Op::HardSigmoid {
            alpha: 0.3,
            beta: 0.4,
        },
        Op::Shrink {
            bias: 0.5,
            lambd: 1.0,
        },
    ] {
        check(op, std::slice::from_ref(&special), 1);
    }
}

fn reduce_op(kind: ReduceOp, keepdims: bool, noop: bool) -> Op {
    Op::Reduce {
        kind,
        keepdims,
        noop_with_empty_axes: noop,
    }
}

#[test]
fn reductions() {
    let kinds = [
        ReduceOp::Mean,
        ReduceOp::L1,
        ReduceOp::L2,
        ReduceOp::LogSum,
        ReduceOp::LogSumExp,
        ReduceOp::SumSquare,
    ];
    for kind in kinds {
        for keep in [true, false] {
            check(
                reduce_op(kind, keep, false),
                &[f64d(&[2, 3, 4]), i64c(&[1])],
                1,
            );
            check(
                reduce_op(kind, keep, false),
                &[f64d(&[2, 3, 4]), i64c(&[-1, 0])],
                1,
            );
            check(reduce_op(kind, keep, false), &[f64d(&[2, 3, 4])], 1);
            check(reduce_op(kind, keep, true), &[f64d(&[2, 3]), i64c(&[])], 1);
            check(
                reduce_op(kind, keep, false),
                &[f32d(&[5, 2]), i64c(&[0])],
                1,
            );
            // Reducing an empty axis, and an empty tensor over a non-empty axis.
            check(
                reduce_op(kind, keep, false),
                &[f64d(&[2, 0, 3]), i64c(&[1])],
                1,
            );
            check(
                reduce_op(kind, keep, false),
                &[f64d(&[0, 3]), i64c(&[1])],
                1,
            );
        }
    }
    for kind in [ReduceOp::Mean, ReduceOp::L1, ReduceOp::SumSquare] {
        for dt in [DType::I32, DType::U8, DType::I64] {
            check(
                reduce_op(kind, true, false),
                &[Data(dt, vec![3, 4]), i64c(&[1])],
                1,
            );
        }
    }
    for kind in [ReduceOp::L2, ReduceOp::LogSum, ReduceOp::LogSumExp] {
        for keep in [true, false] {
            check(
                reduce_op(kind, keep, false),
                &[Data(DType::U8, vec![3, 4]), i64c(&[1])],
                1,
            );
            check(
                reduce_op(kind, keep, false),
                &[Data(DType::U16, vec![2, 5])],
                1,
            );
        }
    }
    check(
        reduce_op(ReduceOp::Mean, false, false),
        &[Data(DType::F16, vec![4, 6]), i64c(&[-1])],
        1,
    );
    // LogSumExp with infinities and NaN in a lane.
    let v = vec![
        f64::INFINITY,
        1.0,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        2.0,
        1000.0,
        999.0,
    ];
    let t = Const(Tensor::from_vec(&[4, 2], v).unwrap());
    check(
        reduce_op(ReduceOp::LogSumExp, false, false),
        &[t, i64c(&[1])],
        1,
    );
}

#[test]
fn softmax_family() {
    for axis in [-1, 0, 1] {
        check(Op::Softmax { axis }, &[f64d(&[3, 4])], 1);
        check(Op::LogSoftmax { axis }, &[f64d(&[3, 4])], 1);
        check(Op::Hardmax { axis }, &[f64d(&[3, 4])], 1);
        check(Op::Softmax { axis }, &[f32d(&[2, 0])], 1);
    }
    check(Op::Hardmax { axis: 1 }, &[f32d(&[2, 3, 2])], 1);
    let t = Const(
        Tensor::from_vec(
            &[3, 2],
            vec![
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
                1.0,
                1.0,
                f64::NAN,
                1.0,
            ],
        )
        .unwrap(),
    );
    check(Op::Softmax { axis: 1 }, std::slice::from_ref(&t), 1);
    check(Op::LogSoftmax { axis: 1 }, std::slice::from_ref(&t), 1);
    check(Op::Hardmax { axis: 1 }, &[t], 1);
}

#[test]
fn normalizations() {
    let bn = |training| Op::BatchNormalization {
        epsilon: 1e-3,
        momentum: 0.8,
        training_mode: training,
    };
    let pos = |c: usize| {
        Const(tensor_of(
            DType::F64,
            &[c],
            (0..c).map(|i| 0.5 + i as f64).collect(),
        ))
    };
    check(
        bn(false),
        &[f64d(&[2, 3, 4]), f64d(&[3]), f64d(&[3]), f64d(&[3]), pos(3)],
        1,
    );
    for n in [1, 3] {
        check(
            bn(true),
            &[
                f64d(&[2, 3, 2, 2]),
                f64d(&[3]),
                f64d(&[3]),
                f64d(&[3]),
                pos(3),
            ],
            n,
        );
    }
    check(
        Op::InstanceNormalization { epsilon: 1e-4 },
        &[f64d(&[2, 3, 5]), f64d(&[3]), f64d(&[3])],
        1,
    );
    check(
        Op::InstanceNormalization { epsilon: 1e-4 },
        &[f32d(&[1, 2, 2, 3]), f32d(&[2]), f32d(&[2])],
        1,
    );
    for (axis, stash) in [(-1, 1), (1, 16), (0, 1)] {
        for n in [1, 3] {
            check(
                Op::LayerNormalization {
                    axis,
                    epsilon: 1e-5,
                    stash_type: stash,
                },
                &[f64d(&[2, 3, 4]), f64d(&[4]), f64d(&[4])],
                n,
            );
        }
    }
    check(
        Op::LayerNormalization {
            axis: 1,
            epsilon: 1e-5,
            stash_type: 1,
        },
        &[f32d(&[2, 3, 4]), f32d(&[3, 4]), Absent],
        3,
    );
}

#[test]
fn gemm() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { f64d(&[4, 3]) } else { f64d(&[3, 4]) };
        let b = if tb { f64d(&[5, 4]) } else { f64d(&[4, 5]) };
        for (alpha, beta) in [(1.0, 1.0), (0.5, 2.0), (2.0, 0.0)] {
            let op = Op::Gemm {
                alpha,
                beta,
                trans_a: ta,
                trans_b: tb,
            };
            check(op.clone(), &[a.clone(), b.clone(), f64d(&[5])], 1);
            check(op, &[a.clone(), b.clone()], 1);
        }
    }
    let op = Op::Gemm {
        alpha: 2.0,
        beta: 3.0,
        trans_a: false,
        trans_b: true,
    };
    check(
        op,
        &[
            Data(DType::I32, vec![2, 3]),
            Data(DType::I32, vec![4, 3]),
            Data(DType::I32, vec![2, 1]),
        ],
        1,
    );
}

fn conv(auto_pad: AutoPad, dil: &[i64], group: i64, pads: &[i64], strides: &[i64]) -> Op {
    Op::Conv {
        auto_pad,
        dilations: dil.to_vec(),
        group,
        kernel_shape: vec![],
        pads: pads.to_vec(),
        strides: strides.to_vec(),
    }
}

#[test]
fn convolution() {
    let n = AutoPad::NotSet;
    check(
        conv(n, &[], 1, &[], &[]),
        &[f64d(&[1, 2, 5]), f64d(&[3, 2, 3])],
        1,
    );
    check(
        conv(n, &[2, 1], 1, &[1, 0, 2, 1], &[2, 1]),
        &[f64d(&[2, 3, 7, 6]), f64d(&[4, 3, 3, 2]), f64d(&[4])],
        1,
    );
    check(
        conv(n, &[], 2, &[1, 1, 1, 1], &[1, 2]),
        &[f64d(&[1, 4, 5, 5]), f64d(&[6, 2, 3, 3]), f64d(&[6])],
        1,
    );
    for ap in [AutoPad::SameUpper, AutoPad::SameLower, AutoPad::Valid] {
        check(
            conv(ap, &[], 1, &[], &[2, 2]),
            &[f64d(&[1, 2, 6, 5]), f64d(&[3, 2, 2, 3])],
            1,
        );
    }
    check(
        conv(n, &[1, 1, 2], 3, &[], &[]),
        &[f32d(&[1, 3, 4, 3, 5]), f32d(&[3, 1, 2, 2, 2])],
        1,
    );
    // A stride far beyond the input: one window, whose stride the view never uses.
    check(
        conv(n, &[], 1, &[], &[1 << 40]),
        &[f64d(&[1, 2, 5]), f64d(&[3, 2, 3])],
        1,
    );
    check(
        max_pool(&[2], &[], &[1 << 40], true, &[], 0),
        &[f64d(&[1, 2, 5])],
        2,
    );
    // Empty batch.
    check(
        conv(n, &[], 1, &[], &[]),
        &[f64d(&[0, 2, 5]), f64d(&[3, 2, 3])],
        1,
    );
}

fn conv_t(
    auto_pad: AutoPad,
    dil: &[i64],
    group: i64,
    out_pad: &[i64],
    out_shape: &[i64],
    pads: &[i64],
    strides: &[i64],
) -> Op {
    Op::ConvTranspose {
        auto_pad,
        dilations: dil.to_vec(),
        group,
        kernel_shape: vec![],
        output_padding: out_pad.to_vec(),
        output_shape: out_shape.to_vec(),
        pads: pads.to_vec(),
        strides: strides.to_vec(),
    }
}

#[test]
fn transposed_convolution() {
    let n = AutoPad::NotSet;
    check(
        conv_t(n, &[], 1, &[], &[], &[], &[]),
        &[f64d(&[1, 2, 4]), f64d(&[2, 3, 3])],
        1,
    );
    check(
        conv_t(n, &[], 1, &[], &[], &[], &[3]),
        &[f64d(&[1, 1, 3]), f64d(&[1, 2, 3]), f64d(&[2])],
        1,
    );
    check(
        conv_t(n, &[2, 1], 2, &[1, 0], &[], &[1, 0, 2, 1], &[2, 3]),
        &[f64d(&[2, 4, 3, 4]), f64d(&[4, 3, 3, 2]), f64d(&[6])],
        1,
    );
    check(
        conv_t(n, &[], 1, &[], &[10], &[], &[3]),
        &[f64d(&[1, 1, 3]), f64d(&[1, 1, 3])],
        1,
    );
    for ap in [AutoPad::SameUpper, AutoPad::SameLower, AutoPad::Valid] {
        check(
            conv_t(ap, &[], 1, &[], &[], &[], &[2, 2]),
            &[f64d(&[1, 2, 3, 3]), f64d(&[2, 2, 3, 3])],
            1,
        );
    }
    // Pads larger than the kernel reach crop the dilated input.
    check(
        conv_t(n, &[], 1, &[], &[], &[3, 2], &[2]),
        &[f32d(&[1, 1, 5]), f32d(&[1, 1, 2])],
        1,
    );
}

fn max_pool(
    kernel: &[i64],
    pads: &[i64],
    strides: &[i64],
    ceil: bool,
    dil: &[i64],
    order: i64,
) -> Op {
    Op::MaxPool {
        auto_pad: AutoPad::NotSet,
        ceil_mode: ceil,
        dilations: dil.to_vec(),
        kernel_shape: kernel.to_vec(),
        pads: pads.to_vec(),
        storage_order: order,
        strides: strides.to_vec(),
    }
}

fn avg_pool(kernel: &[i64], pads: &[i64], strides: &[i64], ceil: bool, cip: bool) -> Op {
    Op::AveragePool {
        auto_pad: AutoPad::NotSet,
        ceil_mode: ceil,
        count_include_pad: cip,
        dilations: vec![],
        kernel_shape: kernel.to_vec(),
        pads: pads.to_vec(),
        strides: strides.to_vec(),
    }
}

#[test]
fn pooling() {
    for n_out in [1, 2] {
        for order in [0, 1] {
            check(
                max_pool(&[2, 2], &[], &[], false, &[], order),
                &[f64d(&[1, 2, 4, 5])],
                n_out,
            );
            check(
                max_pool(&[3, 2], &[1, 0, 1, 1], &[2, 1], true, &[], order),
                &[f64d(&[2, 1, 6, 5])],
                n_out,
            );
            check(
                max_pool(&[2, 2], &[], &[1, 2], false, &[2, 1], order),
                &[f32d(&[1, 3, 5, 5])],
                n_out,
            );
        }
        check(
            max_pool(&[3], &[1, 1], &[2], true, &[], 0),
            &[Data(DType::I8, vec![2, 2, 7])],
            n_out,
        );
    }
    for cip in [false, true] {
        for ceil in [false, true] {
            check(
                avg_pool(&[3, 2], &[1, 0, 2, 1], &[2, 2], ceil, cip),
                &[f64d(&[1, 2, 6, 5])],
                1,
            );
            check(avg_pool(&[3], &[], &[2], ceil, cip), &[f32d(&[2, 3, 8])], 1);
        }
    }
    let same = Op::AveragePool {
        auto_pad: AutoPad::SameUpper,
        ceil_mode: false,
        count_include_pad: false,
        dilations: vec![2],
        kernel_shape: vec![2],
        pads: vec![],
        strides: vec![2],
    };
    check(same, &[f64d(&[1, 1, 7])], 1);
    check(Op::GlobalAveragePool {}, &[f64d(&[2, 3, 4, 5])], 1);
    check(Op::GlobalMaxPool {}, &[f64d(&[2, 3, 4])], 1);
    check(Op::GlobalAveragePool {}, &[f32d(&[2, 3, 0])], 1);
}

#[test]
fn cumsum() {
    for exclusive in [false, true] {
        for reverse in [false, true] {
            let op = Op::CumSum { exclusive, reverse };
            check(op.clone(), &[f64d(&[3, 7]), i64s(1)], 1);
            check(op.clone(), &[f64d(&[5, 2]), i64s(-2)], 1);
            check(op.clone(), &[Data(DType::I8, vec![4, 9]), i64s(1)], 1);
            check(op.clone(), &[f64d(&[3, 0]), i64s(1)], 1);
            check(op, &[f64d(&[1]), i64s(0)], 1);
        }
    }
    let t = Const(Tensor::from_vec(&[4], vec![1.0, f64::INFINITY, 2.0, f64::NAN]).unwrap());
    check(
        Op::CumSum {
            exclusive: false,
            reverse: false,
        },
        &[t, i64s(0)],
        1,
    );
}

#[test]
fn reshapes_and_splits() {
    check(Op::Squeeze {}, &[f64d(&[1, 3, 1, 2]), i64c(&[-2])], 1);
    check(Op::Squeeze {}, &[f64d(&[1, 3, 1])], 1);
    check(Op::Unsqueeze {}, &[f64d(&[3, 2]), i64c(&[0, -1])], 1);
    check(Op::Flatten { axis: 2 }, &[f64d(&[2, 3, 4, 5])], 1);
    check(Op::Flatten { axis: 0 }, &[Data(DType::Bool, vec![2, 3])], 1);
    check(
        Op::Split {
            axis: 1,
            num_outputs: Some(3),
        },
        &[f64d(&[2, 7])],
        3,
    );
    check(
        Op::Split {
            axis: -1,
            num_outputs: None,
        },
        &[Data(DType::I32, vec![2, 6]), i64c(&[1, 0, 5])],
        3,
    );
    check(Op::Tile {}, &[f64d(&[2, 3]), i64c(&[2, 3])], 1);
    check(Op::Tile {}, &[Data(DType::U8, vec![3]), i64c(&[0])], 1);
    check(Op::Tile {}, &[f64d(&[2, 1, 2]), i64c(&[1, 1, 1])], 1);
}

#[test]
fn pads_trilu_gather_nd() {
    for mode in [PadMode::Edge, PadMode::Reflect, PadMode::Wrap] {
        check(Op::Pad { mode }, &[f64d(&[3, 4]), i64c(&[1, 2, 2, 3])], 1);
        check(
            Op::Pad { mode },
            &[
                Data(DType::I32, vec![2, 3, 4]),
                i64c(&[1, 0, 0, 1]),
                Absent,
                i64c(&[-1, 0]),
            ],
            1,
        );
        check(Op::Pad { mode }, &[f64d(&[4]), i64c(&[0, 0])], 1);
        // Pads longer than the axis (periodic), and one end cropping while the other pads.
        check(Op::Pad { mode }, &[f64d(&[2, 3]), i64c(&[0, 7, 1, 5])], 1);
        check(Op::Pad { mode }, &[f64d(&[5, 3]), i64c(&[-2, 1, 3, -1])], 1);
        check(Op::Pad { mode }, &[f64d(&[4, 3]), i64c(&[-1, 0, -2, 0])], 1);
        check(Op::Pad { mode }, &[f64d(&[3, 1]), i64c(&[-1, 0, 0, 0])], 1);
    }
    for upper in [true, false] {
        for k in [None, Some(-1), Some(2), Some(100)] {
            let mut ins = vec![f64d(&[2, 3, 4])];
            if let Some(k) = k {
                ins.push(i64s(k));
            }
            check(Op::Trilu { upper }, &ins, 1);
        }
        check(Op::Trilu { upper }, &[Data(DType::Bool, vec![4, 2])], 1);
    }
    let idx = |shape: &[usize], v: Vec<i64>| Const(Tensor::from_vec(shape, v).unwrap());
    check(
        Op::GatherND { batch_dims: 0 },
        &[f64d(&[3, 4, 2]), idx(&[2, 2], vec![0, 1, -1, -4])],
        1,
    );
    check(
        Op::GatherND { batch_dims: 0 },
        &[f64d(&[3, 4]), idx(&[3, 1], vec![2, 0, -2])],
        1,
    );
    check(
        Op::GatherND { batch_dims: 1 },
        &[f64d(&[2, 3, 4]), idx(&[2, 2, 1], vec![0, 2, 1, 1])],
        1,
    );
    check(
        Op::GatherND { batch_dims: 1 },
        &[
            Data(DType::I32, vec![2, 3, 4]),
            idx(&[2, 2], vec![1, 3, 2, -1]),
        ],
        1,
    );
}

#[test]
fn folds_and_dropout() {
    let g = single(
        &Op::Shape {
            start: 1,
            end: None,
        },
        &[f64d(&[2, 3, 4])],
        1,
    );
    check_graph(&g, "shape");
    let d = decompose(&g).unwrap();
    assert!(
        d.graph
            .nodes
            .iter()
            .all(|(_, n)| n.op == Op::Unary(UnaryOp::Identity))
    );
    check(Op::Size {}, &[f64d(&[2, 3])], 1);
    check(Op::Range {}, &[i64s(1), i64s(10), i64s(3)], 1);
    check(
        Op::ConstantOfShape {
            value: Tensor::from_vec(&[1], vec![7i32]).unwrap(),
        },
        &[i64c(&[2, 3])],
        1,
    );
    let big = single(
        &Op::ConstantOfShape {
            value: Tensor::from_vec(&[1], vec![1.5f32]).unwrap(),
        },
        &[i64c(&[1 << 10, 1 << 7])],
        1,
    );
    let d = decompose(&big).unwrap().graph;
    let ops: Vec<&str> = d.nodes.iter().map(|(_, n)| n.op.name()).collect();
    assert_eq!(ops, ["reshape", "expand"]);
    check(Op::Dropout { seed: None }, &[f64d(&[2, 3])], 2);
    check(
        Op::Dropout { seed: None },
        &[
            f64d(&[2, 3]),
            Const(Tensor::scalar(0.5f64)),
            Const(Tensor::scalar(false)),
        ],
        1,
    );
}

#[test]
fn host_nodes_are_reported() {
    // TopK stays; so does a Reshape whose shape is a graph input, and Range over inputs.
    let mut g = Graph::new("h");
    let x = g.add_input("x", TensorType::new(DType::F64, &[2, 5]));
    let k = g.add_constant(Tensor::from_vec(&[1], vec![2i64]).unwrap());
    let top = append(
        &mut g,
        &Op::TopK {
            axis: -1,
            largest: true,
            sorted: true,
        },
        &[Some(x), Some(k)],
        2,
    )
    .unwrap();
    let sm = append(&mut g, &Op::Softmax { axis: -1 }, &[Some(top[0])], 1).unwrap();
    let s = g.add_input("s", TensorType::new(DType::I64, &[1]));
    let r = append(
        &mut g,
        &Op::Reshape { allowzero: false },
        &[Some(sm[0]), Some(s)],
        1,
    )
    .unwrap();
    g.values[r[0]].name = Some("y".into());
    g.add_output(r[0]);
    let d = decompose(&g).unwrap();
    let ops: Vec<&str> = d
        .host_nodes
        .iter()
        .map(|&n| d.graph.node(n).op.name())
        .collect();
    assert_eq!(ops, ["top_k", "reshape"]);
    assert_eq!(d.graph.value_label(d.graph.outputs[0]), "y");
    let inputs = HashMap::from([
        ("x".to_string(), Rng(7).tensor(DType::F64, &[2, 5])),
        ("s".to_string(), Tensor::from_vec(&[1], vec![4i64]).unwrap()),
    ]);
    let (a, b) = (
        evaluate(&g, &inputs).unwrap(),
        evaluate(&d.graph, &inputs).unwrap(),
    );
    assert_agree(&a[0], &b[0], "host graph");
}

#[test]
fn outputs_keep_their_names() {
    // Two outputs that are the same value, one of them a graph input passed through Dropout.
    let mut g = Graph::new("n");
    let x = g.add_input("x", TensorType::new(DType::F32, &[3]));
    let d = append(&mut g, &Op::Dropout { seed: None }, &[Some(x)], 1).unwrap();
    let axes = g.add_constant(Tensor::from_vec(&[1], vec![0i64]).unwrap());
    let sq = append(&mut g, &Op::Unsqueeze {}, &[Some(d[0]), Some(axes)], 1).unwrap();
    g.values[d[0]].name = Some("a".into());
    g.add_output(d[0]);
    g.values[sq[0]].name = Some("b".into());
    g.add_output(sq[0]);
    g.add_output(sq[0]);
    let h = decompose(&g).unwrap().graph;
    let names: Vec<String> = h.outputs.iter().map(|&o| h.value_label(o)).collect();
    assert_eq!(names, ["a", "b", "b"]);
    assert_eq!(h.value_label(h.inputs[0]), "x");
}

#[test]
fn errors_name_the_node() {
    // Softmax of an integer tensor is a typed inference error, not a panic.
    let mut g = Graph::new("e");
    let x = g.add_input("x", TensorType::new(DType::I32, &[3]));
    let n = g.push_node(
        Op::Softmax { axis: 0 },
        vec![Some(x)],
        vec![TensorType::new(DType::I32, &[3])],
        Some("bad".into()),
    );
    let y = g.node(n).outputs[0];
    g.add_output(y);
    match decompose(&g) {
        Err(IrError::InputDType { at, .. }) => assert_eq!(at.node, "bad"),
        other => panic!("expected an input dtype error, got {other:?}"),
    }
}

/// Composite ops for the random chains: each maps `[2, 3, 4]` f64 to `[2, 3, 4]` f64.
fn chain_op(k: u8) -> (Op, Vec<In>) {
    match k % 10 {
        0 => (Op::Softmax { axis: -1 }, vec![]),
        1 => (Op::LogSoftmax { axis: 1 }, vec![]),
        2 => (Op::Elu { alpha: 0.5 }, vec![]),
        3 => (
            Op::LayerNormalization {
                axis: -1,
                epsilon: 1e-5,
                stash_type: 1,
            },
            vec![Const(tensor_of(
                DType::F64,
                &[4],
                vec![1.0, 2.0, -1.0, 0.5],
            ))],
        ),
        4 => (
            Op::CumSum {
                exclusive: true,
                reverse: false,
            },
            vec![i64s(2)],
        ),
        5 => (
            Op::Pad {
                mode: PadMode::Reflect,
            },
            vec![i64c(&[0, 1, 0, 0, 1, 0])],
        ),
        6 => (
            Op::Clip {},
            vec![
                Const(Tensor::scalar(-0.5f64)),
                Const(Tensor::scalar(0.75f64)),
            ],
        ),
        7 => (Op::Hardmax { axis: 0 }, vec![]),
        8 => (
            Op::InstanceNormalization { epsilon: 1e-3 },
            vec![
                Const(tensor_of(DType::F64, &[3], vec![1.0, 0.5, 2.0])),
                Const(tensor_of(DType::F64, &[3], vec![0.0, 1.0, -1.0])),
            ],
        ),
        _ => (
            Op::Gelu {
                approximate: GeluApprox::Tanh,
            },
            vec![],
        ),
    }
}

/// Pad(reflect) above grows axis 1 by 2; the chain slices it back with a primitive.
fn chain(ops: &[u8]) -> Graph {
    let mut g = Graph::new("chain");
    let mut v = g.add_input("x", TensorType::new(DType::F64, &[2, 3, 4]));
    for &k in ops {
        let (op, extra) = chain_op(k);
        let mut ins = vec![Some(v)];
        for e in extra {
            ins.push(match e {
                Const(t) => Some(g.add_constant(t)),
                _ => None,
            });
        }
        v = append(&mut g, &op, &ins, 1).unwrap()[0];
        if matches!(op, Op::Pad { .. }) {
            let s =
                |g: &mut Graph, x: i64| g.add_constant(Tensor::from_vec(&[1], vec![x]).unwrap());
            let (st, en, ax) = (s(&mut g, 1), s(&mut g, 4), s(&mut g, 1));
            v = append(
                &mut g,
                &Op::Slice {},
                &[Some(v), Some(st), Some(en), Some(ax)],
                1,
            )
            .unwrap()[0];
        }
    }
    g.values[v].name = Some("y".into());
    g.add_output(v);
    g
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_chains_agree(ops in proptest::collection::vec(any::<u8>(), 1..5)) {
        check_graph(&chain(&ops), &format!("chain {ops:?}"));
    }
}

#[test]
fn int_tensor_helper_wraps() {
    let t = int_tensor(DType::U8, &[2], vec![256, -1]);
    assert_eq!(t.to_vec::<u8>().unwrap(), vec![0, 255]);
}

#[test]
fn einsum() {
    let e = |eq: &str| Op::Einsum {
        equation: eq.to_string(),
    };
    check(e("ij,jk->ik"), &[f64d(&[3, 4]), f64d(&[4, 5])], 1);
    check(e("bij,bjk->bik"), &[f64d(&[2, 3, 4]), f64d(&[2, 4, 5])], 1);
    check(e("ij,jk"), &[f64d(&[3, 4]), f64d(&[4, 2])], 1);
    check(e("ii->i"), &[f64d(&[4, 4])], 1);
    check(e("ii"), &[f64d(&[3, 3])], 1);
    check(e("iij->j"), &[f64d(&[3, 3, 2])], 1);
    check(e("ij->ji"), &[f64d(&[2, 3])], 1);
    check(e("ij->"), &[f32d(&[2, 3])], 1);
    check(e("i,i"), &[f64d(&[5]), f64d(&[5])], 1);
    check(e("i,j->ij"), &[f64d(&[3]), f64d(&[2])], 1);
    check(
        e("...ij,...jk->...ik"),
        &[f64d(&[2, 1, 3, 4]), f64d(&[5, 4, 2])],
        1,
    );
    check(
        e("ab,bc,cd->ad"),
        &[f64d(&[2, 3]), f64d(&[3, 4]), f64d(&[4, 2])],
        1,
    );
    check(
        e("ab,ab,ab->a"),
        &[f64d(&[2, 3]), f64d(&[1, 3]), f64d(&[2, 1])],
        1,
    );
    check(
        e("ij,jk->ik"),
        &[Data(DType::I32, vec![2, 0]), Data(DType::I32, vec![0, 3])],
        1,
    );
    check(
        e("Ab,bA->A"),
        &[Data(DType::I64, vec![3, 2]), Data(DType::I64, vec![2, 3])],
        1,
    );
    check(e("ij->i"), &[f64d(&[0, 3])], 1);
}

/// A Resize op with the given mode, transform and a few options.
fn resize_op(mode: ResizeMode, ct: CoordTransform, nearest: NearestMode, antialias: bool) -> Op {
    Op::Resize {
        antialias,
        axes: vec![],
        coordinate_transformation_mode: ct,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        keep_aspect_ratio_policy: KeepAspectRatio::Stretch,
        mode,
        nearest_mode: nearest,
    }
}

#[test]
fn resize() {
    let f32s = |v: &[f32]| Const(Tensor::from_vec(&[v.len()], v.to_vec()).unwrap());
    let transforms = [
        CoordTransform::HalfPixel,
        CoordTransform::HalfPixelSymmetric,
        CoordTransform::PytorchHalfPixel,
        CoordTransform::AlignCorners,
        CoordTransform::Asymmetric,
    ];
    for mode in [ResizeMode::Nearest, ResizeMode::Linear, ResizeMode::Cubic] {
        for ct in transforms {
            let op = resize_op(mode, ct, NearestMode::RoundPreferFloor, false);
            check(
                op.clone(),
                &[f64d(&[1, 2, 4, 5]), Absent, f32s(&[1.0, 1.0, 1.5, 0.6])],
                1,
            );
            check(op, &[f32d(&[2, 3, 4]), Absent, Absent, i64c(&[2, 5, 7])], 1);
        }
    }
    for nm in [
        NearestMode::Floor,
        NearestMode::Ceil,
        NearestMode::RoundPreferCeil,
    ] {
        let op = resize_op(ResizeMode::Nearest, CoordTransform::Asymmetric, nm, false);
        check(
            op,
            &[Data(DType::I32, vec![3, 4]), Absent, f32s(&[2.5, 0.5])],
            1,
        );
    }
    for mode in [ResizeMode::Linear, ResizeMode::Cubic] {
        let op = resize_op(mode, CoordTransform::HalfPixel, NearestMode::Floor, true);
        check(op, &[f64d(&[2, 9, 8]), Absent, f32s(&[1.0, 0.4, 0.5])], 1);
    }
    let mut crop = resize_op(
        ResizeMode::Linear,
        CoordTransform::TfCropAndResize,
        NearestMode::Floor,
        false,
    );
    if let Op::Resize {
        extrapolation_value,
        axes,
        ..
    } = &mut crop
    {
        *extrapolation_value = 7.5;
        *axes = vec![-1, 1];
    }
    check(
        crop,
        &[
            f64d(&[2, 4, 5]),
            f32s(&[-0.2, 0.1, 1.3, 0.9]),
            Absent,
            i64c(&[6, 3]),
        ],
        1,
    );
}

#[test]
fn half_precision() {
    check(Op::Softmax { axis: -1 }, &[Data(DType::F16, vec![3, 4])], 1);
    check(
        Op::LeakyRelu { alpha: 0.2 },
        &[Data(DType::BF16, vec![7])],
        1,
    );
    check(
        Op::LayerNormalization {
            axis: -1,
            epsilon: 1e-5,
            stash_type: 1,
        },
        &[Data(DType::F16, vec![2, 8]), Data(DType::F16, vec![8])],
        3,
    );
}

#[test]
fn symbolic_shapes() {
    use crate::shape::{Dim, Shape};
    // x: f32[?n, 4]. Elementwise composites need no static shape; Softmax needs none either
    // (its reductions are over a constant axis); Hardmax (an iota of the axis extent) and
    // Flatten (a static target shape) stay on the host until the graph is specialized.
    let mut g = Graph::new("s");
    let xt = TensorType {
        dtype: DType::F32,
        shape: Shape(vec![Dim::Symbolic("n".into()), Dim::Static(4)]),
    };
    let x = g.add_input("x", xt);
    let a = append(&mut g, &Op::Elu { alpha: 1.0 }, &[Some(x)], 1).unwrap();
    let b = append(&mut g, &Op::Softmax { axis: -1 }, &[Some(a[0])], 1).unwrap();
    let c = append(&mut g, &Op::Hardmax { axis: 0 }, &[Some(b[0])], 1).unwrap();
    let d = append(&mut g, &Op::Flatten { axis: 0 }, &[Some(c[0])], 1).unwrap();
    g.values[d[0]].name = Some("y".into());
    g.add_output(d[0]);
    let dec = decompose(&g).unwrap();
    let host: Vec<&str> = dec
        .host_nodes
        .iter()
        .map(|&n| dec.graph.node(n).op.name())
        .collect();
    assert_eq!(host, ["hardmax", "flatten"]);
    let inputs = HashMap::from([("x".to_string(), Rng(3).tensor(DType::F32, &[3, 4]))]);
    let (want, got) = (
        evaluate(&g, &inputs).unwrap(),
        evaluate(&dec.graph, &inputs).unwrap(),
    );
    assert_agree(&want[0], &got[0], "symbolic");
    // Specialized to a static batch, everything decomposes.
    let h = crate::passes::specialize::specialize(
        &g,
        &[("x".into(), TensorType::new(DType::F32, &[3, 4]))],
        &HashMap::new(),
    )
    .unwrap();
    check_graph(&h, "specialized");
}

#[test]
fn decomposing_twice_changes_nothing() {
    let g = single(
        &conv(AutoPad::SameUpper, &[], 1, &[], &[2]),
        &[f64d(&[1, 2, 7]), f64d(&[3, 2, 3]), f64d(&[3])],
        1,
    );
    let once = decompose(&g).unwrap().graph;
    let twice = decompose(&once).unwrap();
    assert!(twice.host_nodes.is_empty());
    assert_eq!(twice.graph.nodes.len(), once.nodes.len());
    let ops = |h: &Graph| {
        h.nodes
            .iter()
            .map(|(_, n)| n.op.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ops(&twice.graph), ops(&once));
}

#[test]
fn inputs_and_constants_as_outputs_stay() {
    let mut g = Graph::new("io");
    let x = g.add_input("x", TensorType::new(DType::F32, &[2]));
    let c = g.add_constant(Tensor::from_vec(&[1], vec![1i64]).unwrap());
    g.add_output(x);
    g.add_output(c);
    let h = decompose(&g).unwrap().graph;
    assert_eq!(h.nodes.len(), 0);
    assert_eq!(h.outputs[0], h.inputs[0]);
    assert_eq!(h.constant_of(h.outputs[1]), g.constant_of(c));
}

#[test]
fn more_window_cases() {
    let n = AutoPad::NotSet;
    check(
        conv_t(AutoPad::SameUpper, &[], 1, &[1], &[], &[], &[2]),
        &[f64d(&[1, 2, 4]), f64d(&[2, 1, 3])],
        1,
    );
    check(
        conv_t(n, &[1, 2, 1], 1, &[], &[], &[], &[1, 2, 2]),
        &[f64d(&[1, 1, 2, 3, 2]), f64d(&[1, 2, 2, 2, 2])],
        1,
    );
    check(
        conv_t(n, &[], 1, &[], &[], &[], &[]),
        &[f64d(&[0, 2, 4]), f64d(&[2, 3, 3])],
        1,
    );
    let same = Op::MaxPool {
        auto_pad: AutoPad::SameLower,
        ceil_mode: false,
        dilations: vec![],
        kernel_shape: vec![2, 3],
        pads: vec![],
        storage_order: 0,
        strides: vec![2, 1],
    };
    check(same, &[f64d(&[1, 2, 5, 4])], 2);
    check(
        max_pool(&[2, 2, 2], &[], &[], true, &[], 0),
        &[f64d(&[1, 1, 3, 3, 3])],
        2,
    );
}

#[test]
fn cumsum_wraps_integers() {
    let t = Const(Tensor::from_vec(&[4], vec![100i8, 100, 100, -128]).unwrap());
    for exclusive in [false, true] {
        check(
            Op::CumSum {
                exclusive,
                reverse: true,
            },
            &[t.clone(), i64s(0)],
            1,
        );
    }
}

#[test]
fn operands_that_must_be_constant_keep_the_node() {
    let cases: Vec<(Op, Vec<In>)> = vec![
        (
            Op::CumSum {
                exclusive: false,
                reverse: false,
            },
            vec![f64d(&[3]), Data(DType::I64, vec![])],
        ),
        (
            resize_op(
                ResizeMode::Linear,
                CoordTransform::HalfPixel,
                NearestMode::Floor,
                false,
            ),
            vec![f64d(&[1, 4]), Absent, Data(DType::F32, vec![2])],
        ),
        (
            reduce_op(ReduceOp::Mean, true, false),
            vec![f64d(&[2, 3]), Data(DType::I64, vec![1])],
        ),
        (Op::Tile {}, vec![f64d(&[2]), Data(DType::I64, vec![1])]),
    ];
    for (op, ins) in cases {
        let g = single(&op, &ins, 1);
        let d = decompose(&g).unwrap();
        let host: Vec<&str> = d
            .host_nodes
            .iter()
            .map(|&n| d.graph.node(n).op.name())
            .collect();
        assert_eq!(host, [op.name()], "{op:?}");
    }
}

/// A valid-looking conv configuration from proptest values.
fn conv_case(v: &[usize; 8]) -> (Op, Vec<In>) {
    let [len, k, s, d, pb, pe, g, ap] = *v;
    let auto_pad = [
        AutoPad::NotSet,
        AutoPad::SameUpper,
        AutoPad::SameLower,
        AutoPad::Valid,
    ][ap % 4];
    let pads = if auto_pad == AutoPad::NotSet {
        vec![pb as i64, pe as i64]
    } else {
        vec![]
    };
    let op = conv(auto_pad, &[d as i64], g as i64, &pads, &[s as i64]);
    (
        op,
        vec![f64d(&[2, 2 * g, len]), f64d(&[2 * g, 2, k]), f64d(&[2 * g])],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_windows_agree(
        v in (1usize..8, 1usize..4, 1usize..4, 1usize..3, 0usize..3, 0usize..3, 1usize..3, 0usize..4),
        ceil in any::<bool>(),
        cip in any::<bool>(),
    ) {
        let arr = [v.0, v.1, v.2, v.3, v.4, v.5, v.6, v.7];
        let (op, ins) = conv_case(&arr);
        let [len, k, s, d, pb, pe, g, _] = arr;
        // Only configurations that inference accepts and the reference evaluates (it refuses
        // a max-pool window that lies entirely in the padding).
        let fits = |op: &Op, ins: &[In]| {
            let mut g = Graph::new("p");
            let vals: Vec<Option<ValueId>> = ins.iter().enumerate().map(|(i, x)| match x {
                Data(dt, sh) => Some(g.add_input(format!("x{i}"), TensorType::new(*dt, sh))),
                _ => None,
            }).collect();
            append(&mut g, op, &vals, 1).is_ok() && evaluate(&g, &random_inputs(&g, 0)).is_ok()
        };
        if fits(&op, &ins) {
            check(op, &ins, 1);
        }
        let ct = conv_t(AutoPad::NotSet, &[d as i64], g as i64, &[(pe % s) as i64], &[], &[pb as i64, pe as i64], &[s as i64]);
        let ct_ins = vec![f64d(&[1, 2 * g, len]), f64d(&[2 * g, 2, k]), f64d(&[2])];
        if fits(&ct, &ct_ins) {
            check(ct, &ct_ins, 1);
        }
        let pads = [pb.min(k - 1) as i64, pe.min(k - 1) as i64];
        let mp = max_pool(&[k as i64], &pads, &[s as i64], ceil, &[d as i64], 0);
        if fits(&mp, &[f64d(&[1, 2, len])]) {
            check(mp, &[f64d(&[1, 2, len])], 2);
        }
        let ap = Op::AveragePool {
            auto_pad: AutoPad::NotSet,
            ceil_mode: ceil,
            count_include_pad: cip,
            dilations: vec![d as i64],
            kernel_shape: vec![k as i64],
            pads: pads.to_vec(),
            strides: vec![s as i64],
        };
        if fits(&ap, &[f64d(&[1, 2, len])]) {
            check(ap, &[f64d(&[1, 2, len])], 1);
        }
    }
}

#[test]
fn max_pool_indices_skip_padding_ties() {
    // Windows whose inside values are all -inf (or the integer minimum) equal the padding:
    // the index names the first inside position, as the reference does.
    let ninf = f64::NEG_INFINITY;
    let t = Const(Tensor::from_vec(&[1, 1, 5], vec![ninf, ninf, 1.0, ninf, ninf]).unwrap());
    check(max_pool(&[3], &[2, 2], &[1], false, &[], 0), &[t], 2);
    let t =
        Const(Tensor::from_vec(&[1, 1, 2, 3], vec![-128i8, -128, 5, -128, -128, -128]).unwrap());
    for order in [0, 1] {
        check(
            max_pool(&[2, 2], &[1, 1, 1, 1], &[1, 1], false, &[], order),
            std::slice::from_ref(&t),
            2,
        );
    }
}

#[test]
fn pow_with_mixed_dtypes() {
    use crate::op::BinaryOp;
    let pow = Op::Binary(BinaryOp::Pow);
    // Float base, float exponent of another width; float base, integer exponent.
    check(pow.clone(), &[f32d(&[2, 3]), f64d(&[3])], 1);
    check(
        pow.clone(),
        &[
            f32d(&[4]),
            Const(Tensor::from_vec(&[4], vec![0i64, 1, 2, -3]).unwrap()),
        ],
        1,
    );
    // Integer base with a float exponent, and two integer dtypes (wrapping powers).
    check(
        pow.clone(),
        &[
            Const(Tensor::from_vec(&[3], vec![2i64, -3, 7]).unwrap()),
            Const(Tensor::from_vec(&[3], vec![0.5f32, 2.0, 3.0]).unwrap()),
        ],
        1,
    );
    check(
        pow.clone(),
        &[
            Const(Tensor::from_vec(&[3], vec![3i32, -3, 100_000]).unwrap()),
            Const(Tensor::from_vec(&[3], vec![5u32, 3, 2]).unwrap()),
        ],
        1,
    );
    // Every pow left has operands of one dtype.
    let g = single(&pow, &[f32d(&[2, 3]), f64d(&[3])], 1);
    let d = decompose(&g).unwrap();
    for (_, n) in d.graph.nodes.iter() {
        if n.op == pow {
            let dt: Vec<_> = n
                .inputs
                .iter()
                .flatten()
                .map(|&v| d.graph.value(v).ty.dtype)
                .collect();
            assert_eq!(dt[0], dt[1], "{dt:?}");
        }
    }
    assert!(d.graph.nodes.len() > 1);
    // Equal dtypes stay one primitive node.
    let g = single(&pow, &[f32d(&[2]), f32d(&[2])], 1);
    let d = decompose(&g).unwrap();
    assert_eq!(d.graph.nodes.len(), 1);
}

/// Integer extremes through the exact integer paths: Shrink of 64-bit values (no rounding
/// through f64), the mean of 64-bit values (the exact sum, truncated), and integer L2 norms
/// that do not fit the dtype (wrapping, as the reference converts).
#[test]
fn integer_extremes_match_the_reference() {
    let i64v = Const(
        Tensor::from_vec(
            &[2, 4],
            vec![
                i64::MAX,
                i64::MAX - 1,
                i64::MIN,
                3,
                i64::MIN,
                i64::MIN + 1,
                -7,
                5,
            ],
        )
        .unwrap(),
    );
    let u64v = Const(
        Tensor::from_vec(
            &[2, 4],
            vec![u64::MAX, u64::MAX - 1, 0, 3, 1, u64::MAX, 8, 9],
        )
        .unwrap(),
    );
    let i8v = Const(Tensor::from_vec(&[2, 3], vec![i8::MIN, i8::MIN, 100i8, -3, 4, 5]).unwrap());
    for (bias, lambd) in [
        (0.5, 1.0),
        (-0.5, 1.0),
        (2.0, 0.0),
        (1.5, -3.0),
        (3e19, 1.0),
        (-3e30, 1.0),
        (-1e19, 0.0),
    ] {
        for x in [&i64v, &u64v, &i8v] {
            check(Op::Shrink { bias, lambd }, std::slice::from_ref(x), 1);
        }
    }
    for kind in [ReduceOp::Mean, ReduceOp::L2, ReduceOp::Sum] {
        for x in [&i64v, &u64v, &i8v] {
            for axes in [&[1i64][..], &[0], &[0, 1]] {
                check(reduce_op(kind, false, false), &[x.clone(), i64c(axes)], 1);
                check(reduce_op(kind, true, false), &[x.clone(), i64c(axes)], 1);
            }
        }
    }
}

/// ReduceL2 of floats near the top of the range: scaled by the largest magnitude, the squares
/// do not overflow where the norm is finite; infinities, NaN and zeros keep their meaning.
#[test]
fn l2_of_large_and_special_floats() {
    let big = Const(Tensor::from_vec(&[2, 3], vec![3e38f32, -2e38, 1e38, 0.0, 0.0, 0.0]).unwrap());
    let special = Const(
        Tensor::from_vec(
            &[3, 2],
            vec![f32::INFINITY, 1.0, f32::NAN, 2.0, -0.0, 1e-40],
        )
        .unwrap(),
    );
    for x in [&big, &special] {
        for keep in [true, false] {
            check(
                reduce_op(ReduceOp::L2, keep, false),
                &[x.clone(), i64c(&[1])],
                1,
            );
        }
    }
}
