//! Tests of shape and dtype inference: a table of (op, operands) → output types for every
//! operator, plus one test per error kind. Expected shapes were computed by hand and checked
//! against NumPy / the ONNX reference implementation.

use super::{Operand, infer_op};
use crate::attr::Attr;
use crate::dtype::DType::{self, *};
use crate::error::{At, IrError, Result};
use crate::graph::TensorType;
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp, VariadicOp};
use crate::shape::{Dim, Shape};
use crate::tensor::Tensor;

/// One operand of a test case: a type and maybe a value.
struct In {
    ty: TensorType,
    value: Option<Tensor>,
}

fn t(d: DType, dims: &[usize]) -> TensorType {
    TensorType::new(d, dims)
}

/// A non-constant operand.
fn x(d: DType, dims: &[usize]) -> Option<In> {
    Some(In {
        ty: t(d, dims),
        value: None,
    })
}

/// A non-constant operand with symbolic dims (`None` = symbol named after its position).
fn xs(d: DType, dims: &[Option<usize>]) -> Option<In> {
    Some(In {
        ty: TensorType {
            dtype: d,
            shape: sh(dims),
        },
        value: None,
    })
}

fn sh(dims: &[Option<usize>]) -> Shape {
    Shape(
        dims.iter()
            .enumerate()
            .map(|(i, d)| d.map_or(Dim::Symbolic(format!("s{i}")), Dim::Static))
            .collect(),
    )
}

/// A constant operand.
fn c(tensor: Tensor) -> Option<In> {
    Some(In {
        ty: TensorType::of(&tensor),
        value: Some(tensor),
    })
}

/// A 1-D i64 constant.
fn ints(v: &[i64]) -> Option<In> {
    c(Tensor::from_vec(&[v.len()], v.to_vec()).unwrap())
}

fn op(name: &str, attrs: &[(&str, Attr)]) -> Op {
    Op::from_parts(
        name,
        attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
    .unwrap()
}

fn run(o: &Op, ins: &[Option<In>], n: usize) -> Result<Vec<TensorType>> {
    let at = At {
        node: "n7".into(),
        op: o.name(),
    };
    let operands: Vec<Option<Operand<'_>>> = ins
        .iter()
        .map(|i| {
            i.as_ref().map(|i| Operand {
                ty: &i.ty,
                value: i.value.as_ref(),
            })
        })
        .collect();
    infer_op(o, &at, &operands, n)
}

/// Asserts the single output of `o` is `expected`.
fn one(o: &Op, ins: &[Option<In>], expected: TensorType) {
    let got = run(o, ins, 1).unwrap_or_else(|e| panic!("{}: {e}", o.name()));
    assert_eq!(got, vec![expected], "{}", o.name());
}

/// Asserts all outputs of `o` (with `expected.len()` outputs).
fn many(o: &Op, ins: &[Option<In>], expected: Vec<TensorType>) {
    let got = run(o, ins, expected.len()).unwrap_or_else(|e| panic!("{}: {e}", o.name()));
    assert_eq!(got, expected, "{}", o.name());
}

fn err(o: &Op, ins: &[Option<In>], n: usize) -> IrError {
    let e = run(o, ins, n).expect_err(o.name());
    let msg = e.to_string();
    assert!(
        msg.contains("n7") && msg.contains(o.name()),
        "message must name node and op: {msg}"
    );
    e
}

fn shape_err(o: &Op, ins: &[Option<In>]) {
    let e = err(o, ins, 1);
    assert!(matches!(e, IrError::InputShape { .. }), "{e:?}");
}

fn sym(name: &str) -> Dim {
    Dim::Symbolic(name.into())
}

#[test]
fn unary_ops() {
    let neg = Op::Unary(UnaryOp::Neg);
    one(&neg, &[x(I32, &[2, 0])], t(I32, &[2, 0]));
    one(&Op::Unary(UnaryOp::Exp), &[x(F16, &[])], t(F16, &[]));
    one(&Op::Unary(UnaryOp::IsNaN), &[x(F32, &[3])], t(Bool, &[3]));
    one(&Op::Unary(UnaryOp::Not), &[x(Bool, &[3])], t(Bool, &[3]));
    one(&Op::Unary(UnaryOp::BitwiseNot), &[x(U8, &[3])], t(U8, &[3]));
    one(&Op::Unary(UnaryOp::Abs), &[x(U16, &[1])], t(U16, &[1]));
    one(
        &Op::Unary(UnaryOp::Identity),
        &[x(Bool, &[2])],
        t(Bool, &[2]),
    );
    one(
        &Op::Unary(UnaryOp::Relu),
        &[xs(F32, &[None, Some(2)])],
        TensorType {
            dtype: F32,
            shape: sh(&[None, Some(2)]),
        },
    );
    for (o, d) in [
        (UnaryOp::Sqrt, I32),
        (UnaryOp::Neg, U8),
        (UnaryOp::Not, F32),
        (UnaryOp::BitwiseNot, F32),
        (UnaryOp::Abs, Bool),
    ] {
        assert!(matches!(
            err(&Op::Unary(o), &[x(d, &[2])], 1),
            IrError::InputDType { input: 0, .. }
        ));
    }
}

#[test]
fn activations_cast_isinf() {
    for name in [
        "leaky_relu",
        "elu",
        "selu",
        "celu",
        "hard_sigmoid",
        "thresholded_relu",
        "gelu",
        "shrink",
    ] {
        one(&op(name, &[]), &[x(BF16, &[2, 3])], t(BF16, &[2, 3]));
    }
    one(&op("shrink", &[]), &[x(I8, &[4])], t(I8, &[4]));
    assert!(matches!(
        err(&op("gelu", &[]), &[x(I64, &[4])], 1),
        IrError::InputDType { .. }
    ));
    one(&op("is_inf", &[]), &[x(F64, &[0])], t(Bool, &[0]));
    one(
        &op("cast", &[("to", Attr::DType(U8))]),
        &[x(F32, &[2, 2])],
        t(U8, &[2, 2]),
    );
}

#[test]
fn binary_ops() {
    let add = Op::Binary(BinaryOp::Add);
    one(
        &add,
        &[x(F32, &[2, 1, 3]), x(F32, &[4, 1])],
        t(F32, &[2, 4, 3]),
    );
    one(&add, &[x(I64, &[]), x(I64, &[5])], t(I64, &[5]));
    one(&add, &[x(F32, &[0, 3]), x(F32, &[1, 3])], t(F32, &[0, 3]));
    // Symbols: equal symbols stay, a symbol against a static dim takes the static extent, two
    // different symbols give a fresh one.
    let a = xs(F32, &[None, Some(1), None]);
    let b = Some(In {
        ty: TensorType {
            dtype: F32,
            shape: Shape(vec![sym("s0"), Dim::Static(4), sym("other")]),
        },
        value: None,
    });
    let got = run(&add, &[a, b], 1).unwrap();
    assert_eq!(
        got[0].shape,
        Shape(vec![sym("s0"), Dim::Static(4), sym("n7.0.2")])
    );
    one(
        &Op::Binary(BinaryOp::Less),
        &[x(I32, &[3]), x(I32, &[3])],
        t(Bool, &[3]),
    );
    one(
        &Op::Binary(BinaryOp::Equal),
        &[x(Bool, &[3]), x(Bool, &[1])],
        t(Bool, &[3]),
    );
    one(
        &Op::Binary(BinaryOp::Pow),
        &[x(F32, &[3]), x(I64, &[])],
        t(F32, &[3]),
    );
    one(
        &Op::Binary(BinaryOp::BitShiftLeft),
        &[x(U32, &[3]), x(U32, &[3])],
        t(U32, &[3]),
    );
    one(
        &Op::Binary(BinaryOp::And),
        &[x(Bool, &[2, 1]), x(Bool, &[3])],
        t(Bool, &[2, 3]),
    );
    one(
        &Op::Binary(BinaryOp::PRelu),
        &[x(F32, &[2, 3]), x(F32, &[3])],
        t(F32, &[2, 3]),
    );
    shape_err(
        &Op::Binary(BinaryOp::PRelu),
        &[x(F32, &[3]), x(F32, &[2, 3])],
    );
    shape_err(&add, &[x(F32, &[2]), x(F32, &[3])]);
    for (o, a, b) in [
        (BinaryOp::Add, F32, F64),
        (BinaryOp::And, I32, I32),
        (BinaryOp::BitShiftRight, I32, I32),
        (BinaryOp::BitwiseAnd, F32, F32),
        (BinaryOp::Less, Bool, Bool),
        (BinaryOp::Pow, U8, F32),
    ] {
        assert!(matches!(
            err(&Op::Binary(o), &[x(a, &[2]), x(b, &[2])], 1),
            IrError::InputDType { .. }
        ));
    }
}

#[test]
fn variadic_clip_where() {
    let max = Op::Variadic(VariadicOp::Max);
    one(&max, &[x(I32, &[3])], t(I32, &[3]));
    one(
        &max,
        &[x(I32, &[3]), x(I32, &[2, 1]), x(I32, &[])],
        t(I32, &[2, 3]),
    );
    one(
        &Op::Variadic(VariadicOp::Mean),
        &[x(F32, &[1, 4]), x(F32, &[4])],
        t(F32, &[1, 4]),
    );
    let e = err(&max, &[], 1);
    assert!(matches!(&e, IrError::Arity { expected, .. } if expected == "1 or more"));
    let clip = op("clip", &[]);
    one(&clip, &[x(F32, &[2, 3])], t(F32, &[2, 3]));
    one(&clip, &[x(I8, &[2]), None, x(I8, &[])], t(I8, &[2]));
    shape_err(&clip, &[x(F32, &[2]), x(F32, &[2])]);
    let w = op("where", &[]);
    one(
        &w,
        &[x(Bool, &[2, 1]), x(F32, &[3]), x(F32, &[])],
        t(F32, &[2, 3]),
    );
    assert!(matches!(
        err(&w, &[x(I32, &[2]), x(F32, &[2]), x(F32, &[2])], 1),
        IrError::InputDType { input: 0, .. }
    ));
    assert!(matches!(
        err(&w, &[x(Bool, &[2]), x(F32, &[2]), x(F64, &[2])], 1),
        IrError::InputDType { input: 2, .. }
    ));
}

#[test]
fn reductions() {
    let r = |keep: bool, noop: bool| Op::Reduce {
        kind: ReduceOp::Sum,
        keepdims: keep,
        noop_with_empty_axes: noop,
    };
    one(&r(true, false), &[x(F32, &[2, 3, 4])], t(F32, &[1, 1, 1]));
    one(&r(false, false), &[x(F32, &[2, 3, 4])], t(F32, &[]));
    one(&r(false, true), &[x(F32, &[2, 3, 4])], t(F32, &[2, 3, 4]));
    one(
        &r(false, false),
        &[x(F32, &[2, 3, 4]), ints(&[-1, 0])],
        t(F32, &[3]),
    );
    one(
        &r(true, false),
        &[x(I32, &[2, 0, 4]), ints(&[1])],
        t(I32, &[2, 1, 4]),
    );
    one(
        &r(false, true),
        &[x(F32, &[2, 3]), ints(&[])],
        t(F32, &[2, 3]),
    );
    // Unknown axes of known length.
    let got = run(&r(false, false), &[x(F32, &[2, 3, 4]), x(I64, &[2])], 1).unwrap();
    assert_eq!(got[0].shape, Shape(vec![sym("n7.0.0")]));
    let got = run(&r(true, false), &[x(F32, &[2, 3]), x(I64, &[1])], 1).unwrap();
    assert_eq!(got[0].shape.rank(), 2);
    shape_err(&r(true, false), &[x(F32, &[2, 3]), ints(&[2])]);
    shape_err(&r(true, false), &[x(F32, &[2, 3]), ints(&[1, -1])]);
    let mx = Op::Reduce {
        kind: ReduceOp::Max,
        keepdims: false,
        noop_with_empty_axes: false,
    };
    one(&mx, &[x(Bool, &[2]), ints(&[0])], t(Bool, &[]));
    one(
        &op("argmax", &[("axis", Attr::Int(-1))]),
        &[x(F32, &[2, 3])],
        t(I64, &[2, 1]),
    );
    one(
        &op("argmin", &[("keepdims", Attr::Bool(false))]),
        &[x(U8, &[2, 3])],
        t(I64, &[3]),
    );
    for name in ["softmax", "log_softmax", "hardmax"] {
        one(
            &op(name, &[("axis", Attr::Int(-2))]),
            &[x(F32, &[2, 3])],
            t(F32, &[2, 3]),
        );
    }
    let cs = op("cumsum", &[]);
    one(
        &cs,
        &[x(I64, &[2, 3]), c(Tensor::scalar(-1i32))],
        t(I64, &[2, 3]),
    );
    one(&cs, &[x(F32, &[5]), x(I64, &[])], t(F32, &[5]));
    shape_err(&cs, &[x(F32, &[5]), c(Tensor::scalar(1i64))]);
}

#[test]
fn top_k() {
    let tk = op("top_k", &[]);
    many(
        &tk,
        &[x(F32, &[3, 4]), ints(&[2])],
        vec![t(F32, &[3, 2]), t(I64, &[3, 2])],
    );
    many(
        &op("top_k", &[("axis", Attr::Int(0))]),
        &[x(I32, &[3, 4]), ints(&[0])],
        vec![t(I32, &[0, 4]), t(I64, &[0, 4])],
    );
    let got = run(&tk, &[x(F32, &[3, 4]), x(I64, &[1])], 2).unwrap();
    assert_eq!(got[1].shape, Shape(vec![Dim::Static(3), sym("n7.0.1")]));
    shape_err(&tk, &[x(F32, &[3, 4]), ints(&[5])]);
}

#[test]
fn normalizations() {
    let bn = op("batch_normalization", &[]);
    let v = || x(F32, &[3]);
    one(
        &bn,
        &[x(F32, &[2, 3, 4, 4]), v(), v(), v(), v()],
        t(F32, &[2, 3, 4, 4]),
    );
    shape_err(&bn, &[x(F32, &[2, 4, 4, 4]), v(), v(), v(), v()]);
    many(
        &op(
            "batch_normalization",
            &[("training_mode", Attr::Bool(true))],
        ),
        &[x(F16, &[2, 3]), x(F16, &[3]), x(F16, &[3]), v(), v()],
        vec![t(F16, &[2, 3]), t(F32, &[3]), t(F32, &[3])],
    );
    assert!(matches!(
        err(&bn, &[x(F32, &[2, 3]), v(), v(), v(), v()], 3),
        IrError::Arity {
            what: "outputs",
            ..
        }
    ));
    one(
        &op("instance_normalization", &[]),
        &[x(F32, &[2, 3, 5]), v(), v()],
        t(F32, &[2, 3, 5]),
    );
    let ln = op("layer_normalization", &[("axis", Attr::Int(1))]);
    many(
        &ln,
        &[x(F16, &[2, 3, 4]), x(F16, &[3, 4]), x(F16, &[4])],
        vec![t(F16, &[2, 3, 4]), t(F32, &[2, 1, 1]), t(F32, &[2, 1, 1])],
    );
    one(
        &op("layer_normalization", &[]),
        &[x(F32, &[2, 3]), x(F32, &[3])],
        t(F32, &[2, 3]),
    );
    shape_err(&ln, &[x(F32, &[2, 3, 4]), x(F32, &[2, 3, 4])]);
    assert!(matches!(
        err(
            &op("layer_normalization", &[("stash_type", Attr::Int(7))]),
            &[x(F32, &[2, 3]), x(F32, &[3])],
            1
        ),
        IrError::Attribute {
            attr: "stash_type",
            ..
        }
    ));
}

#[test]
fn matmul_gemm() {
    let mm = op("matmul", &[]);
    one(&mm, &[x(F32, &[2, 3]), x(F32, &[3, 4])], t(F32, &[2, 4]));
    one(&mm, &[x(F32, &[3]), x(F32, &[3])], t(F32, &[]));
    one(&mm, &[x(F32, &[3]), x(F32, &[2, 3, 4])], t(F32, &[2, 4]));
    one(&mm, &[x(F32, &[2, 5, 3]), x(F32, &[3])], t(F32, &[2, 5]));
    one(
        &mm,
        &[x(I32, &[2, 1, 5, 3]), x(I32, &[4, 3, 6])],
        t(I32, &[2, 4, 5, 6]),
    );
    one(&mm, &[x(F32, &[0, 3]), x(F32, &[3, 2])], t(F32, &[0, 2]));
    shape_err(&mm, &[x(F32, &[2, 3]), x(F32, &[4, 5])]);
    shape_err(&mm, &[x(F32, &[]), x(F32, &[3])]);
    let g = op(
        "gemm",
        &[("trans_a", Attr::Bool(true)), ("trans_b", Attr::Bool(true))],
    );
    one(
        &g,
        &[x(F32, &[3, 2]), x(F32, &[4, 3]), x(F32, &[4])],
        t(F32, &[2, 4]),
    );
    one(
        &op("gemm", &[]),
        &[x(F32, &[2, 3]), x(F32, &[3, 4])],
        t(F32, &[2, 4]),
    );
    shape_err(
        &op("gemm", &[]),
        &[x(F32, &[2, 3]), x(F32, &[3, 4]), x(F32, &[3, 4])],
    );
}

#[test]
fn einsum() {
    let e = |eq: &str| op("einsum", &[("equation", Attr::Str(eq.into()))]);
    one(
        &e("bij,bjk->bik"),
        &[x(F32, &[2, 3, 4]), x(F32, &[2, 4, 5])],
        t(F32, &[2, 3, 5]),
    );
    one(
        &e("ij,jk"),
        &[x(F32, &[2, 3]), x(F32, &[3, 4])],
        t(F32, &[2, 4]),
    );
    one(
        &e("Ba,aB"),
        &[x(F32, &[2, 3]), x(F32, &[3, 2])],
        t(F32, &[]),
    );
    one(
        &e("...ij,...jk"),
        &[x(F32, &[2, 1, 3, 4]), x(F32, &[5, 4, 6])],
        t(F32, &[2, 5, 3, 6]),
    );
    one(
        &e("i...,...j"),
        &[x(F32, &[2, 5, 1]), x(F32, &[4, 3])],
        t(F32, &[5, 4, 2, 3]),
    );
    one(&e("bij->ji"), &[x(F32, &[2, 3, 4])], t(F32, &[4, 3]));
    one(&e("ii->i"), &[x(F32, &[3, 3])], t(F32, &[3]));
    one(
        &e("i j , j k -> i k"),
        &[x(F32, &[2, 1]), x(F32, &[3, 4])],
        t(F32, &[2, 4]),
    );
    shape_err(&e("ij,jk->ik"), &[x(F32, &[2, 3]), x(F32, &[4, 5])]);
    shape_err(&e("ijk"), &[x(F32, &[2, 3])]);
    // A repeated label within one operand does not broadcast (NumPy rejects it).
    shape_err(&e("bb"), &[x(F32, &[4, 1])]);
    one(
        &e("ab,bb->a"),
        &[x(F32, &[2, 1]), x(F32, &[3, 3])],
        t(F32, &[2]),
    );
    for (bad, dims) in [
        ("...i->i", &[2, 3][..]),
        ("ij->iz", &[2, 3]),
        ("ij->ii", &[2, 3]),
        ("i1", &[2]),
        ("ij,jk", &[2, 3]),
    ] {
        let r = run(&e(bad), &[x(F32, dims)], 1);
        assert!(
            matches!(
                r,
                Err(IrError::Attribute {
                    attr: "equation",
                    ..
                })
            ),
            "{bad}: {r:?}"
        );
    }
}

#[test]
fn convolution() {
    let conv = op(
        "conv",
        &[
            ("strides", Attr::Ints(vec![2, 2])),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ("dilations", Attr::Ints(vec![2, 1])),
            ("group", Attr::Int(2)),
        ],
    );
    one(
        &conv,
        &[x(F32, &[2, 4, 7, 8]), x(F32, &[6, 2, 3, 3]), x(F32, &[6])],
        t(F32, &[2, 6, 3, 4]),
    );
    one(
        &op("conv", &[("auto_pad", Attr::Ident("same_upper".into()))]),
        &[x(F32, &[1, 1, 5]), x(F32, &[4, 1, 2])],
        t(F32, &[1, 4, 5]),
    );
    one(
        &op("conv", &[("auto_pad", Attr::Ident("valid".into()))]),
        &[x(F32, &[1, 1, 32, 32]), x(F32, &[8, 1, 5, 5])],
        t(F32, &[1, 8, 28, 28]),
    );
    // Symbolic batch and spatial dims.
    let got = run(
        &op("conv", &[]),
        &[xs(F32, &[None, Some(3), None]), x(F32, &[2, 3, 3])],
        1,
    )
    .unwrap();
    assert_eq!(
        got[0].shape,
        Shape(vec![sym("s0"), Dim::Static(2), sym("n7.0.2")])
    );
    shape_err(&op("conv", &[]), &[x(F32, &[1, 3, 5]), x(F32, &[2, 2, 3])]);
    shape_err(&op("conv", &[]), &[x(F32, &[1, 3, 2]), x(F32, &[2, 3, 3])]);
    shape_err(
        &op("conv", &[("kernel_shape", Attr::Ints(vec![2]))]),
        &[x(F32, &[1, 3, 5]), x(F32, &[2, 3, 3])],
    );
    let ct = op(
        "conv_transpose",
        &[
            ("strides", Attr::Ints(vec![3, 2])),
            ("output_padding", Attr::Ints(vec![1, 1])),
            ("pads", Attr::Ints(vec![1, 2, 1, 2])),
        ],
    );
    one(
        &ct,
        &[x(F32, &[1, 1, 3, 3]), x(F32, &[1, 2, 3, 3])],
        t(F32, &[1, 2, 8, 4]),
    );
    one(
        &op(
            "conv_transpose",
            &[
                ("strides", Attr::Ints(vec![2, 2])),
                ("auto_pad", Attr::Ident("same_upper".into())),
            ],
        ),
        &[x(F32, &[1, 1, 3, 3]), x(F32, &[1, 2, 3, 3])],
        t(F32, &[1, 2, 6, 6]),
    );
    one(
        &op(
            "conv_transpose",
            &[
                ("output_shape", Attr::Ints(vec![10, 8])),
                ("group", Attr::Int(2)),
            ],
        ),
        &[x(F32, &[1, 2, 3, 3]), x(F32, &[2, 3, 3, 3]), x(F32, &[6])],
        t(F32, &[1, 6, 10, 8]),
    );
}

#[test]
fn pooling() {
    let mp = op(
        "max_pool",
        &[
            ("kernel_shape", Attr::Ints(vec![3, 3])),
            ("strides", Attr::Ints(vec![2, 2])),
            ("ceil_mode", Attr::Bool(true)),
        ],
    );
    many(
        &mp,
        &[x(F32, &[1, 1, 4, 4])],
        vec![t(F32, &[1, 1, 2, 2]), t(I64, &[1, 1, 2, 2])],
    );
    one(
        &op(
            "max_pool",
            &[
                ("kernel_shape", Attr::Ints(vec![3, 3])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        ),
        &[x(U8, &[1, 1, 4, 4])],
        t(U8, &[1, 1, 1, 1]),
    );
    one(
        &op(
            "average_pool",
            &[
                ("kernel_shape", Attr::Ints(vec![3])),
                ("strides", Attr::Ints(vec![2])),
                ("auto_pad", Attr::Ident("same_lower".into())),
            ],
        ),
        &[x(F32, &[1, 1, 5])],
        t(F32, &[1, 1, 3]),
    );
    one(
        &op(
            "average_pool",
            &[
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![1, 0, 1, 0])),
            ],
        ),
        &[x(F32, &[2, 3, 4, 4])],
        t(F32, &[2, 3, 5, 3]),
    );
    assert!(matches!(
        err(
            &op("average_pool", &[("kernel_shape", Attr::Ints(vec![2]))]),
            &[x(I32, &[1, 1, 4])],
            1
        ),
        IrError::InputDType { .. }
    ));
    one(
        &op("global_average_pool", &[]),
        &[x(F32, &[2, 3, 4, 5])],
        t(F32, &[2, 3, 1, 1]),
    );
    one(
        &op("global_max_pool", &[]),
        &[x(F64, &[2, 3, 7])],
        t(F64, &[2, 3, 1]),
    );
}

#[test]
fn reshape_family() {
    let rs = op("reshape", &[]);
    one(&rs, &[x(F32, &[2, 3, 4]), ints(&[0, -1])], t(F32, &[2, 12]));
    one(&rs, &[x(F32, &[2, 3, 4]), ints(&[-1])], t(F32, &[24]));
    one(&rs, &[x(F32, &[0, 3]), ints(&[0, 3])], t(F32, &[0, 3]));
    shape_err(&rs, &[x(F32, &[0, 3]), ints(&[3, 0])]);
    shape_err(&rs, &[x(F32, &[0, 3]), ints(&[0, -1])]);
    one(
        &op("reshape", &[("allowzero", Attr::Bool(true))]),
        &[x(F32, &[0, 3]), ints(&[3, 0])],
        t(F32, &[3, 0]),
    );
    let got = run(&rs, &[x(F32, &[6]), x(I64, &[2])], 1).unwrap();
    assert_eq!(got[0].shape, Shape(vec![sym("n7.0.0"), sym("n7.0.1")]));
    shape_err(&rs, &[x(F32, &[2, 3]), ints(&[4, -1])]);
    shape_err(&rs, &[x(F32, &[2, 3]), ints(&[-1, -1])]);
    one(
        &op("transpose", &[]),
        &[x(F32, &[2, 3, 4])],
        t(F32, &[4, 3, 2]),
    );
    one(
        &op("transpose", &[("perm", Attr::Ints(vec![0, 2, 1]))]),
        &[x(F32, &[2, 3, 4])],
        t(F32, &[2, 4, 3]),
    );
    let ex = op("expand", &[]);
    one(
        &ex,
        &[x(F32, &[3, 1]), ints(&[2, 1, 6])],
        t(F32, &[2, 3, 6]),
    );
    one(&ex, &[x(F32, &[3, 4]), ints(&[4])], t(F32, &[3, 4]));
    let got = run(&ex, &[x(F32, &[3, 1]), x(I64, &[3])], 1).unwrap();
    assert_eq!(
        got[0].shape,
        Shape(vec![sym("n7.0.0"), Dim::Static(3), sym("n7.0.2")])
    );
    shape_err(&ex, &[x(F32, &[3]), ints(&[4])]);
    let sq = op("squeeze", &[]);
    one(&sq, &[x(F32, &[1, 3, 1])], t(F32, &[3]));
    one(&sq, &[x(F32, &[1, 3, 1]), ints(&[-1])], t(F32, &[1, 3]));
    shape_err(&sq, &[x(F32, &[1, 3]), ints(&[1])]);
    let us = op("unsqueeze", &[]);
    one(
        &us,
        &[x(F32, &[3, 4]), ints(&[0, -1])],
        t(F32, &[1, 3, 4, 1]),
    );
    one(&us, &[x(F32, &[]), ints(&[0])], t(F32, &[1]));
    one(&us, &[x(F32, &[3, 4]), ints(&[1])], t(F32, &[3, 1, 4]));
    one(&op("flatten", &[]), &[x(F32, &[2, 3, 4])], t(F32, &[2, 12]));
    one(
        &op("flatten", &[("axis", Attr::Int(0))]),
        &[x(F32, &[2, 3, 4])],
        t(F32, &[1, 24]),
    );
    one(
        &op("flatten", &[("axis", Attr::Int(-1))]),
        &[x(F32, &[2, 0, 4])],
        t(F32, &[0, 4]),
    );
    one(
        &op("flatten", &[("axis", Attr::Int(3))]),
        &[x(F32, &[2, 3, 4])],
        t(F32, &[24, 1]),
    );
}

#[test]
fn concat_split() {
    let cc = op("concat", &[("axis", Attr::Int(-1))]);
    one(
        &cc,
        &[x(F32, &[2, 3]), x(F32, &[2, 0]), x(F32, &[2, 5])],
        t(F32, &[2, 8]),
    );
    shape_err(&cc, &[x(F32, &[2, 3]), x(F32, &[3, 3])]);
    shape_err(&cc, &[x(F32, &[2, 3]), x(F32, &[3])]);
    assert!(matches!(
        err(&cc, &[x(F32, &[2, 3]), x(I32, &[2, 3])], 1),
        IrError::InputDType { input: 1, .. }
    ));
    let sp = op("split", &[("axis", Attr::Int(1))]);
    many(
        &sp,
        &[x(F32, &[2, 6])],
        vec![t(F32, &[2, 2]), t(F32, &[2, 2]), t(F32, &[2, 2])],
    );
    many(
        &sp,
        &[x(F32, &[2, 6]), ints(&[1, 5])],
        vec![t(F32, &[2, 1]), t(F32, &[2, 5])],
    );
    many(
        &op("split", &[("num_outputs", Attr::Int(3))]),
        &[x(F32, &[7])],
        vec![t(F32, &[3]), t(F32, &[3]), t(F32, &[1])],
    );
    assert!(run(&op("split", &[]), &[x(F32, &[7])], 3).is_err());
    assert!(run(&sp, &[x(F32, &[2, 6]), ints(&[1, 4])], 2).is_err());
    assert!(
        run(
            &op("split", &[("num_outputs", Attr::Int(4))]),
            &[x(F32, &[7])],
            3
        )
        .is_err()
    );
}

#[test]
fn slice() {
    let sl = op("slice", &[]);
    // x[8:1:-3, -100:100, ::-1] on [10, 5, 4].
    one(
        &sl,
        &[
            x(F32, &[10, 5, 4]),
            ints(&[8, -100, -1]),
            ints(&[1, 100, i64::MIN]),
            ints(&[0, 1, 2]),
            ints(&[-3, 1, -1]),
        ],
        t(F32, &[3, 5, 4]),
    );
    one(
        &sl,
        &[
            x(F32, &[10, 5]),
            ints(&[100]),
            ints(&[0]),
            ints(&[0]),
            ints(&[-1]),
        ],
        t(F32, &[9, 5]),
    );
    one(
        &sl,
        &[
            x(F32, &[10, 5]),
            ints(&[-1]),
            ints(&[-12]),
            ints(&[0]),
            ints(&[-1]),
        ],
        t(F32, &[10, 5]),
    );
    one(&sl, &[x(F32, &[5]), ints(&[3]), ints(&[3])], t(F32, &[0]));
    // Negative steps over an empty axis give nothing (checked with ONNX shape inference).
    one(
        &sl,
        &[
            x(F32, &[0, 3]),
            ints(&[i64::MIN, -4]),
            ints(&[8, -2]),
            ints(&[-1, 0]),
            ints(&[3, -1]),
        ],
        t(F32, &[0, 1]),
    );
    one(
        &sl,
        &[
            x(F32, &[0, 3]),
            ints(&[i64::MAX]),
            ints(&[i64::MIN]),
            ints(&[0]),
            ints(&[-2]),
        ],
        t(F32, &[0, 3]),
    );
    // x[4:0:-2] and x[-1::-4] on [10].
    one(
        &sl,
        &[x(F32, &[10]), ints(&[4]), ints(&[0]), None, ints(&[-2])],
        t(F32, &[2]),
    );
    one(
        &sl,
        &[
            x(F32, &[10]),
            ints(&[-1]),
            ints(&[i64::MIN]),
            None,
            ints(&[-4]),
        ],
        t(F32, &[3]),
    );
    one(
        &sl,
        &[
            x(F32, &[4, 6]),
            ints(&[1]),
            ints(&[i64::MAX]),
            ints(&[-1]),
            ints(&[2]),
        ],
        t(F32, &[4, 3]),
    );
    let i32s = c(Tensor::from_vec(&[1], vec![1i32]).unwrap());
    let i32e = c(Tensor::from_vec(&[1], vec![3i32]).unwrap());
    one(&sl, &[x(U8, &[5]), i32s, i32e], t(U8, &[2]));
    let got = run(
        &sl,
        &[x(F32, &[4, 6]), x(I64, &[1]), x(I64, &[1]), ints(&[1])],
        1,
    )
    .unwrap();
    assert_eq!(got[0].shape, Shape(vec![Dim::Static(4), sym("n7.0.1")]));
    shape_err(
        &sl,
        &[x(F32, &[5]), ints(&[0]), ints(&[3]), ints(&[0]), ints(&[0])],
    );
    shape_err(&sl, &[x(F32, &[5]), ints(&[0, 1]), ints(&[3])]);
}

#[test]
fn gathers_and_scatters() {
    let g = op("gather", &[("axis", Attr::Int(1))]);
    one(
        &g,
        &[x(F32, &[2, 3, 4]), x(I64, &[5, 6])],
        t(F32, &[2, 5, 6, 4]),
    );
    one(
        &op("gather", &[]),
        &[x(F32, &[3, 4]), c(Tensor::scalar(-3i32))],
        t(F32, &[4]),
    );
    shape_err(
        &op("gather", &[]),
        &[x(F32, &[3, 4]), c(Tensor::scalar(3i64))],
    );
    one(
        &op("gather_elements", &[("axis", Attr::Int(-1))]),
        &[x(F32, &[2, 3]), x(I32, &[2, 5])],
        t(F32, &[2, 5]),
    );
    let gnd = op("gather_nd", &[]);
    one(
        &gnd,
        &[x(F32, &[2, 3, 4]), x(I64, &[5, 2])],
        t(F32, &[5, 4]),
    );
    one(&gnd, &[x(F32, &[2, 3]), x(I64, &[2, 2])], t(F32, &[2]));
    one(
        &op("gather_nd", &[("batch_dims", Attr::Int(1))]),
        &[x(F32, &[2, 3, 4]), x(I64, &[2, 1])],
        t(F32, &[2, 4]),
    );
    shape_err(&gnd, &[x(F32, &[2, 3]), x(I64, &[2, 3])]);
    let snd = op("scatter_nd", &[]);
    one(
        &snd,
        &[x(F32, &[4, 5]), x(I64, &[3, 1]), x(F32, &[3, 5])],
        t(F32, &[4, 5]),
    );
    shape_err(&snd, &[x(F32, &[4, 5]), x(I64, &[3, 1]), x(F32, &[3, 4])]);
    let se = op("scatter_elements", &[("axis", Attr::Int(1))]);
    one(
        &se,
        &[x(F32, &[3, 3]), x(I64, &[1, 2]), x(F32, &[1, 2])],
        t(F32, &[3, 3]),
    );
    shape_err(&se, &[x(F32, &[3, 3]), x(I64, &[1, 2]), x(F32, &[2, 1])]);
}

#[test]
fn pad_tile() {
    let p = op("pad", &[]);
    one(
        &p,
        &[x(F32, &[2, 3]), ints(&[1, 0, 2, -1])],
        t(F32, &[5, 2]),
    );
    one(
        &p,
        &[
            x(F32, &[2, 3]),
            ints(&[1, 1]),
            c(Tensor::scalar(0f32)),
            ints(&[-1]),
        ],
        t(F32, &[2, 5]),
    );
    let got = run(&p, &[x(F32, &[2, 3]), x(I64, &[2]), None, ints(&[1])], 1).unwrap();
    assert_eq!(got[0].shape, Shape(vec![Dim::Static(2), sym("n7.0.1")]));
    shape_err(&p, &[x(F32, &[2, 3]), ints(&[1, 1])]);
    shape_err(&p, &[x(F32, &[2, 3]), ints(&[0, -4, 0, 0])]);
    let tl = op("tile", &[]);
    one(&tl, &[x(F32, &[2, 3]), ints(&[3, 0])], t(F32, &[6, 0]));
    shape_err(&tl, &[x(F32, &[2, 3]), ints(&[3])]);
    shape_err(&tl, &[x(F32, &[2, 3]), ints(&[3, -1])]);
}

#[test]
fn shape_size_range_constant_of_shape() {
    one(&op("shape", &[]), &[x(F32, &[2, 3, 4])], t(I64, &[3]));
    one(
        &op("shape", &[("start", Attr::Int(-2))]),
        &[x(F32, &[2, 3, 4])],
        t(I64, &[2]),
    );
    one(
        &op("shape", &[("start", Attr::Int(2)), ("end", Attr::Int(1))]),
        &[x(F32, &[2, 3, 4])],
        t(I64, &[0]),
    );
    one(
        &op(
            "shape",
            &[("start", Attr::Int(-10)), ("end", Attr::Int(10))],
        ),
        &[x(F32, &[2, 3])],
        t(I64, &[2]),
    );
    one(&op("size", &[]), &[x(Bool, &[2, 3])], t(I64, &[]));
    let r = op("range", &[]);
    let s = |v: f32| c(Tensor::scalar(v));
    one(&r, &[s(1.0), s(2.05), s(0.1)], t(F32, &[11]));
    let i = |v: i32| c(Tensor::scalar(v));
    one(&r, &[i(10), i(1), i(-3)], t(I32, &[3]));
    one(&r, &[i(1), i(10), i(-3)], t(I32, &[0]));
    one(&r, &[i(-10), i(0), i(3)], t(I32, &[4]));
    one(&r, &[i(0), i(-10), i(-3)], t(I32, &[4]));
    let got = run(&r, &[i(1), x(I32, &[]), i(1)], 1).unwrap();
    assert_eq!(got[0].shape, Shape(vec![sym("n7.0.0")]));
    shape_err(&r, &[i(1), i(10), i(0)]);
    assert!(matches!(
        err(&r, &[i(1), s(10.0), i(1)], 1),
        IrError::InputDType { input: 1, .. }
    ));
    let cos = op(
        "constant_of_shape",
        &[("value", Attr::Tensor(Tensor::scalar(7i8)))],
    );
    one(&cos, &[ints(&[2, 0, 3])], t(I8, &[2, 0, 3]));
    one(&op("constant_of_shape", &[]), &[ints(&[])], t(F32, &[]));
    let got = run(&cos, &[x(I64, &[2])], 1).unwrap();
    assert_eq!(
        got[0],
        TensorType {
            dtype: I8,
            shape: Shape(vec![sym("n7.0.0"), sym("n7.0.1")]),
        }
    );
    shape_err(&cos, &[ints(&[2, -1])]);
}

#[test]
fn trilu_resize_dropout_nonzero() {
    let tr = op("trilu", &[]);
    one(
        &tr,
        &[x(I32, &[2, 3, 4]), c(Tensor::scalar(-1i64))],
        t(I32, &[2, 3, 4]),
    );
    shape_err(&tr, &[x(I32, &[4])]);
    let rz = op("resize", &[]);
    one(
        &rz,
        &[
            x(F32, &[1, 1, 3, 5]),
            None,
            c(Tensor::from_vec(&[4], vec![1f32, 1.0, 1.5, 0.6]).unwrap()),
        ],
        t(F32, &[1, 1, 4, 3]),
    );
    // An empty roi and scales are placeholders.
    let empty_f = c(Tensor::from_vec(&[0], Vec::<f32>::new()).unwrap());
    let empty_s = c(Tensor::from_vec(&[0], Vec::<f32>::new()).unwrap());
    one(
        &rz,
        &[x(U8, &[1, 2, 3, 5]), empty_f, empty_s, ints(&[1, 2, 6, 10])],
        t(U8, &[1, 2, 6, 10]),
    );
    for (policy, out) in [("not_larger", [5, 8]), ("not_smaller", [7, 12])] {
        one(
            &op(
                "resize",
                &[
                    ("keep_aspect_ratio_policy", Attr::Ident(policy.into())),
                    ("axes", Attr::Ints(vec![2, 3])),
                ],
            ),
            &[x(F32, &[1, 1, 3, 5]), None, None, ints(&[7, 8])],
            t(F32, &[1, 1, out[0], out[1]]),
        );
    }
    let got = run(
        &op("resize", &[("axes", Attr::Ints(vec![-1]))]),
        &[x(F32, &[2, 3]), None, x(F32, &[1])],
        1,
    )
    .unwrap();
    assert_eq!(got[0].shape, Shape(vec![Dim::Static(2), sym("n7.0.1")]));
    shape_err(&rz, &[x(F32, &[2, 3])]);
    shape_err(&rz, &[x(F32, &[2, 3]), None, x(F32, &[2]), ints(&[2, 3])]);
    shape_err(&rz, &[x(F32, &[2, 3]), None, x(F32, &[3])]);
    let dr = op("dropout", &[]);
    many(
        &dr,
        &[
            x(F32, &[2, 3]),
            c(Tensor::scalar(0.5f32)),
            c(Tensor::scalar(true)),
        ],
        vec![t(F32, &[2, 3]), t(Bool, &[2, 3])],
    );
    one(&dr, &[x(F16, &[4])], t(F16, &[4]));
    let nz = op("non_zero", &[]);
    one(
        &nz,
        &[c(
            Tensor::from_vec(&[2, 3], vec![0i32, 1, 0, 2, -3, 0]).unwrap()
        )],
        t(I64, &[2, 3]),
    );
    one(
        &nz,
        &[c(Tensor::from_vec(&[2], vec![f32::NAN, 0.0]).unwrap())],
        t(I64, &[1, 1]),
    );
    let got = run(&nz, &[x(Bool, &[4, 5])], 1).unwrap();
    assert_eq!(got[0].shape, Shape(vec![Dim::Static(2), sym("n7.0.1")]));
}

// ---- One test per error kind, each checking the node and op are named. ----

#[test]
fn error_arity() {
    let e = err(&Op::Binary(BinaryOp::Add), &[x(F32, &[2])], 1);
    assert!(
        matches!(&e, IrError::Arity { what: "inputs", expected, actual: 1, .. } if expected == "2"),
        "{e:?}"
    );
    let e = err(&op("clip", &[]), &[x(F32, &[2]), None, None, None], 1);
    assert!(matches!(&e, IrError::Arity { expected, actual: 4, .. } if expected == "1 to 3"));
    let e = err(&op("relu", &[]), &[x(F32, &[2])], 2);
    assert!(matches!(
        e,
        IrError::Arity {
            what: "outputs",
            ..
        }
    ));
    let e = err(&op("where", &[]), &[x(Bool, &[2]), None, x(F32, &[2])], 1);
    assert!(matches!(e, IrError::Arity { what: "inputs", .. }));
}

#[test]
fn error_input_dtype() {
    let e = err(&op("sigmoid", &[]), &[x(I32, &[2])], 1);
    assert!(
        matches!(&e, IrError::InputDType { input: 0, dtype: I32, expected, .. } if expected.contains("float"))
    );
    let e = err(&op("reshape", &[]), &[x(F32, &[2]), x(I32, &[1])], 1);
    assert!(matches!(
        e,
        IrError::InputDType {
            input: 1,
            dtype: I32,
            ..
        }
    ));
    let e = err(&op("matmul", &[]), &[x(F32, &[2, 2]), x(F16, &[2, 2])], 1);
    assert!(
        matches!(&e, IrError::InputDType { input: 1, expected, .. } if expected.contains("f32"))
    );
}

#[test]
fn error_input_shape() {
    let e = err(
        &Op::Binary(BinaryOp::Sub),
        &[x(F32, &[2, 3]), x(F32, &[4])],
        1,
    );
    match e {
        IrError::InputShape { shapes, .. } => {
            assert_eq!(shapes, vec![Shape::new(&[2, 3]), Shape::new(&[4])]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_attribute() {
    let cases: Vec<(Op, Vec<Option<In>>, &str)> = vec![
        (
            op("softmax", &[("axis", Attr::Int(2))]),
            vec![x(F32, &[2, 3])],
            "axis",
        ),
        (
            op("argmax", &[("axis", Attr::Int(-3))]),
            vec![x(F32, &[2, 3])],
            "axis",
        ),
        (
            op("concat", &[("axis", Attr::Int(1))]),
            vec![x(F32, &[2])],
            "axis",
        ),
        (
            op("flatten", &[("axis", Attr::Int(4))]),
            vec![x(F32, &[2, 3, 4])],
            "axis",
        ),
        (
            op("transpose", &[("perm", Attr::Ints(vec![0, 0]))]),
            vec![x(F32, &[2, 3])],
            "perm",
        ),
        (
            op("transpose", &[("perm", Attr::Ints(vec![1]))]),
            vec![x(F32, &[2, 3])],
            "perm",
        ),
        (
            op("conv", &[("group", Attr::Int(0))]),
            vec![x(F32, &[1, 2, 5]), x(F32, &[2, 2, 3])],
            "group",
        ),
        (
            op("conv", &[("pads", Attr::Ints(vec![1, 1, 1]))]),
            vec![x(F32, &[1, 2, 5]), x(F32, &[2, 2, 3])],
            "pads",
        ),
        (
            op("conv", &[("strides", Attr::Ints(vec![0]))]),
            vec![x(F32, &[1, 2, 5]), x(F32, &[2, 2, 3])],
            "strides",
        ),
        (
            op("max_pool", &[("kernel_shape", Attr::Ints(vec![2, 2]))]),
            vec![x(F32, &[1, 2, 5])],
            "kernel_shape",
        ),
        (
            op("gather_nd", &[("batch_dims", Attr::Int(2))]),
            vec![x(F32, &[2, 3]), x(I64, &[2, 1])],
            "batch_dims",
        ),
        (
            op("resize", &[("axes", Attr::Ints(vec![0, 0]))]),
            vec![x(F32, &[2, 3]), None, x(F32, &[2])],
            "axes",
        ),
        (
            op(
                "constant_of_shape",
                &[(
                    "value",
                    Attr::Tensor(Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap()),
                )],
            ),
            vec![ints(&[2])],
            "value",
        ),
    ];
    for (o, ins, attr_name) in cases {
        let e = err(&o, &ins, 1);
        assert!(
            matches!(&e, IrError::Attribute { attr, .. } if *attr == attr_name),
            "{}: {e:?}",
            o.name()
        );
    }
}

#[test]
fn error_non_constant() {
    let e = err(&op("unsqueeze", &[]), &[x(F32, &[3]), x(I64, &[1])], 1);
    assert!(matches!(
        e,
        IrError::NonConstant {
            input: 1,
            what: "axes",
            ..
        }
    ));
    let e = err(&op("squeeze", &[]), &[xs(F32, &[None, Some(3)])], 1);
    assert!(matches!(e, IrError::NonConstant { .. }));
    let e = err(&op("reshape", &[]), &[x(F32, &[3]), xs(I64, &[None])], 1);
    assert!(matches!(
        e,
        IrError::NonConstant {
            input: 1,
            what: "shape",
            ..
        }
    ));
    let e = err(
        &Op::Reduce {
            kind: ReduceOp::Mean,
            keepdims: false,
            noop_with_empty_axes: false,
        },
        &[x(F32, &[3]), xs(I64, &[None])],
        1,
    );
    assert!(matches!(e, IrError::NonConstant { .. }));
}

#[test]
fn as_strided_view() {
    let o = Op::AsStrided {
        shape: vec![2, 2, 2],
        strides: vec![3, 1, 0],
        offset: 0,
    };
    one(&o, &[x(DType::F16, &[2, 3])], t(DType::F16, &[2, 2, 2]));
    let o = Op::AsStrided {
        shape: vec![4],
        strides: vec![2],
        offset: 0,
    };
    assert!(matches!(
        err(&o, &[x(DType::F32, &[6])], 1),
        IrError::Attribute {
            attr: "strides",
            ..
        }
    ));
    let o = Op::AsStrided {
        shape: vec![3],
        strides: vec![1, 1],
        offset: 0,
    };
    assert!(matches!(
        err(&o, &[x(DType::F32, &[6])], 1),
        IrError::Attribute { .. }
    ));
}

#[test]
fn low_precision_dtypes_only_move_and_convert() {
    // Cast to and from them, and movement, accept them.
    one(
        &Op::Cast {
            to: F8E4M3FN,
            saturate: false,
        },
        &[x(F32, &[2, 2])],
        t(F8E4M3FN, &[2, 2]),
    );
    one(
        &op("cast", &[("to", Attr::DType(F32))]),
        &[x(I4, &[3])],
        t(F32, &[3]),
    );
    one(&op("identity", &[]), &[x(U2, &[3])], t(U2, &[3]));
    one(
        &op("transpose", &[("perm", Attr::Ints(vec![1, 0]))]),
        &[x(F8E5M2, &[2, 3])],
        t(F8E5M2, &[3, 2]),
    );
    one(
        &op("reshape", &[]),
        &[x(I4, &[2, 3]), ints(&[6])],
        t(I4, &[6]),
    );
    // Arithmetic, comparisons, reductions and interpolation refuse them.
    for (o, ins) in [
        (op("add", &[]), vec![x(F8E4M3FN, &[2]), x(F8E4M3FN, &[2])]),
        (op("equal", &[]), vec![x(I4, &[2]), x(I4, &[2])]),
        (op("neg", &[]), vec![x(I4, &[2])]),
        (op("sqrt", &[]), vec![x(F8E5M2, &[2])]),
        (op("bitwise_not", &[]), vec![x(U2, &[2])]),
        (op("reduce_max", &[]), vec![x(F8E4M3FN, &[2])]),
    ] {
        let e = err(&o, &ins, 1);
        assert!(
            matches!(e, IrError::InputDType { input: 0, .. }),
            "{}: {e:?}",
            o.name()
        );
    }
}
