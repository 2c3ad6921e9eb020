//! Tests of the text form: a golden print, the documented example, one test per parse error
//! (with its line and column), and property tests (print -> parse -> print is the identity on
//! random graphs; the parser never panics).

use super::{parse_graph, print_graph};
use crate::attr::{
    Attr, AutoPad, CoordTransform, GeluApprox, KeepAspectRatio, NearestMode, PadMode, ResizeMode,
    ScatterReduction,
};
use crate::dtype::DType;
use crate::graph::{Graph, TensorType, ValueDef};
use crate::op::{AttrError, Op, UnaryOp};
use crate::shape::{Dim, Shape};
use crate::tensor::Tensor;
use half::{bf16, f16};
use proptest::prelude::*;

fn ty(dtype: DType, dims: &[usize]) -> TensorType {
    TensorType::new(dtype, dims)
}

fn golden_graph() -> Graph {
    let mut g = Graph::new("mlp");
    let x = g.add_input("x", ty(DType::F32, &[2, 3]));
    g.add_input(
        "mask",
        TensorType {
            dtype: DType::Bool,
            shape: Shape(vec![Dim::Symbolic("batch".into()), Dim::Static(3)]),
        },
    );
    let w = g.add_named_constant(
        Some("w".into()),
        Tensor::from_vec(
            &[3, 2],
            vec![
                1.0f32,
                -0.0,
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                2.5,
            ],
        )
        .unwrap(),
    );
    let k = g.add_constant(Tensor::from_vec(&[2], vec![1i64, -1]).unwrap());
    let mm = g.push_node(
        Op::MatMul {},
        vec![Some(x), Some(w)],
        vec![ty(DType::F32, &[2, 2])],
        None,
    );
    let p = g.nodes[mm].outputs[0];
    let split = g.push_node(
        Op::Split {
            axis: 1,
            num_outputs: Some(2),
        },
        vec![Some(p), None],
        vec![ty(DType::F32, &[2, 1]), ty(DType::F32, &[2, 1])],
        Some("/split".into()),
    );
    let (a, b) = (g.nodes[split].outputs[0], g.nodes[split].outputs[1]);
    g.values[b].name = Some("1".into());
    let r = g.push_node(
        Op::Reshape { allowzero: false },
        vec![Some(a), Some(k)],
        vec![ty(DType::F32, &[2])],
        None,
    );
    let y = g.nodes[r].outputs[0];
    g.values[y].name = Some("y".into());
    let relu = g.push_node(
        Op::Unary(UnaryOp::Relu),
        vec![Some(y)],
        vec![ty(DType::F32, &[2])],
        None,
    );
    let ab = g.nodes[relu].outputs[0];
    g.values[ab].name = Some("a b".into());
    let neg = g.push_node(
        Op::Unary(UnaryOp::Neg),
        vec![Some(ab)],
        vec![ty(DType::F32, &[2])],
        None,
    );
    let n = g.nodes[neg].outputs[0];
    g.values[n].name = Some("x".into());
    g.add_output(y);
    g.add_output(x);
    g
}

const GOLDEN: &str = r#"graph mlp(%x: f32[2, 3], %mask: bool[?batch, 3]) -> (%y, %x) {
  %w = const f32[3, 2] [1.0, -0.0, nan, inf, -inf, 2.5]
  %0 = const i64[2] [1, -1]
  %2 = matmul(%x, %w) : f32[2, 2]
  %3, %1 = split(%2, _) {axis = 1, num_outputs = 2} @"/split" : f32[2, 1], f32[2, 1]
  %y = reshape(%3, %0) {allowzero = false} : f32[2]
  %"a b" = relu(%y) : f32[2]
  %x.1 = neg(%"a b") : f32[2]
  return %y, %x
}
"#;

#[test]
fn golden_print() {
    assert_eq!(print_graph(&golden_graph()), GOLDEN);
    let back = parse_graph(GOLDEN).unwrap();
    assert_eq!(print_graph(&back), GOLDEN);
}

const EXAMPLE: &str = r#"# comment to end of line
graph mlp(%x: f32[2, 3], %mask: bool[?batch, 3]) -> (%y, %x) {
  %w = const f32[3, 2] [1.0, -0.0, nan, inf, -inf, 2.5]
  %big = const f32[2] hex"0000803f000000c0"          # raw little-endian bytes
  %0 = matmul(%x, %w) : f32[2, 2]
  %a, %b = split(%0, _) {axis = 1, num_outputs = 2} : f32[2, 1], f32[2, 1]   # _ = absent operand
  %y = conv(%a, %w, _) {auto_pad = notset, dilations = [1, 1], group = 1, pads = [], strides = [1, 1], kernel_shape = []} @"/layer1/Conv" : f32[2, 1]
  return %y, %x
}
"#;

#[test]
fn parse_documented_example() {
    let g = parse_graph(EXAMPLE).unwrap();
    assert_eq!(g.name, "mlp");
    assert_eq!(g.inputs.len(), 2);
    let mask = g.value(g.inputs[1]);
    assert_eq!(mask.name.as_deref(), Some("mask"));
    assert_eq!(
        mask.ty.shape,
        Shape(vec![Dim::Symbolic("batch".into()), Dim::Static(3)])
    );
    let consts: Vec<_> = g
        .values
        .iter()
        .filter(|(_, v)| matches!(v.def, ValueDef::Constant(_)))
        .map(|(h, v)| (v.name.clone().unwrap(), g.constant_of(h).unwrap().clone()))
        .collect();
    assert_eq!(consts.len(), 2);
    let w = consts[0].1.to_vec::<f32>().unwrap();
    assert_eq!(consts[0].0, "w");
    assert_eq!(w[0], 1.0);
    assert!(w[1] == 0.0 && w[1].is_sign_negative());
    assert!(w[2].is_nan());
    assert_eq!(&w[3..], &[f32::INFINITY, f32::NEG_INFINITY, 2.5]);
    assert_eq!(consts[1].1.to_vec::<f32>().unwrap(), vec![1.0, -2.0]);

    assert_eq!(g.nodes.len(), 3);
    let nodes: Vec<_> = g.nodes.iter().map(|(_, n)| n.clone()).collect();
    assert_eq!(nodes[0].op, Op::MatMul {});
    assert_eq!(
        nodes[1].op,
        Op::Split {
            axis: 1,
            num_outputs: Some(2)
        }
    );
    assert_eq!(nodes[1].inputs[1], None);
    assert_eq!(nodes[1].outputs.len(), 2);
    assert_eq!(
        nodes[2].op,
        Op::Conv {
            auto_pad: AutoPad::NotSet,
            dilations: vec![1, 1],
            group: 1,
            kernel_shape: vec![],
            pads: vec![],
            strides: vec![1, 1],
        }
    );
    assert_eq!(nodes[2].name.as_deref(), Some("/layer1/Conv"));
    assert_eq!(nodes[2].inputs[0], Some(nodes[1].outputs[0]));
    let outs: Vec<_> = g.outputs.iter().map(|&v| g.value_label(v)).collect();
    assert_eq!(outs, ["y", "x"]);

    // Printed back in canonical form: attributes in declaration order, one line per statement.
    let printed = print_graph(&g);
    let expected = r#"graph mlp(%x: f32[2, 3], %mask: bool[?batch, 3]) -> (%y, %x) {
  %w = const f32[3, 2] [1.0, -0.0, nan, inf, -inf, 2.5]
  %big = const f32[2] [1.0, -2.0]
  %0 = matmul(%x, %w) : f32[2, 2]
  %a, %b = split(%0, _) {axis = 1, num_outputs = 2} : f32[2, 1], f32[2, 1]
  %y = conv(%a, %w, _) {auto_pad = notset, dilations = [1, 1], group = 1, kernel_shape = [], pads = [], strides = [1, 1]} @"/layer1/Conv" : f32[2, 1]
  return %y, %x
}
"#;
    assert_eq!(printed, expected);
}

/// The first ```text block of the module docs: the documented example must stay valid.
fn doc_example() -> String {
    let docs: Vec<&str> = include_str!("mod.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = docs.iter().position(|l| *l == "```text").unwrap() + 1;
    let len = docs[start..].iter().position(|l| *l == "```").unwrap();
    docs[start..start + len].join("\n")
}

#[test]
fn module_doc_example_parses_and_round_trips() {
    let g = parse_graph(&doc_example()).unwrap();
    assert_eq!(g.nodes.len(), 4);
    let odd = g.nodes.iter().last().unwrap().1.outputs[0];
    assert_eq!(g.value(odd).name.as_deref(), Some("odd name\n"));
    let printed = print_graph(&g);
    assert!(printed.contains("  %b2 = const f32[2] [1.0, -2.0]\n"));
    assert!(printed.contains("  %\"odd name\\n\" = relu(%y) : f32[2, 1]\n"));
    assert_eq!(print_graph(&parse_graph(&printed).unwrap()), printed);
}

#[test]
fn attribute_kinds_round_trip() {
    let text = r#"graph "my graph"(%x: f16[], %s: i64[1]) {
  %t = constant_of_shape(%s) {value = bf16[] [-0.0]} : bf16[?"n m"]
  %c = cast(%x) {to = u64} : u64[]
  %r = resize(%x, _, _, _) {antialias = false, axes = [], coordinate_transformation_mode = half_pixel, cubic_coeff_a = -0.75, exclude_outside = false, extrapolation_value = 1e-20, keep_aspect_ratio_policy = stretch, mode = linear, nearest_mode = floor} : f16[]
  %e = einsum(%x) {equation = "i,\"j\"\u{e9}"} : f16[]
  %l = leaky_relu(%x) {alpha = nan} : f16[]
  %h = hard_sigmoid(%x) {alpha = -inf, beta = 3} : f16[]
  %g = gelu(%x) {approximate = tanh} : f16[]
  %d = dropout(%x) {seed = -9223372036854775808} : f16[]
  %u = shape(%x) {end = none} : i64[0]
  is_nan(%x)
  return
}
"#;
    let g = parse_graph(text).unwrap();
    assert_eq!(g.name, "my graph");
    let ops: Vec<Op> = g.nodes.iter().map(|(_, n)| n.op.clone()).collect();
    assert_eq!(
        ops[0],
        Op::ConstantOfShape {
            value: Tensor::scalar(bf16::from_f32(-0.0))
        }
    );
    assert_eq!(
        ops[1],
        Op::Cast {
            to: DType::U64,
            saturate: true
        }
    );
    assert!(
        matches!(ops[2], Op::Resize { mode: ResizeMode::Linear, nearest_mode: NearestMode::Floor, extrapolation_value, .. } if extrapolation_value == 1e-20)
    );
    assert_eq!(
        ops[3],
        Op::Einsum {
            equation: "i,\"j\"é".into()
        }
    );
    assert!(matches!(ops[4], Op::LeakyRelu { alpha } if alpha.is_nan()));
    assert_eq!(
        ops[5],
        Op::HardSigmoid {
            alpha: f32::NEG_INFINITY,
            beta: 3.0
        }
    );
    assert_eq!(
        ops[6],
        Op::Gelu {
            approximate: GeluApprox::Tanh
        }
    );
    assert_eq!(
        ops[7],
        Op::Dropout {
            seed: Some(i64::MIN)
        }
    );
    assert_eq!(
        ops[8],
        Op::Shape {
            start: 0,
            end: None
        }
    );
    assert!(g.nodes.iter().last().unwrap().1.outputs.is_empty());
    let printed = print_graph(&g);
    assert!(printed.starts_with("graph \"my graph\"(%x: f16[], %s: i64[1]) -> () {\n"));
    assert!(printed.contains("{value = bf16[] [-0.0]} : bf16[?\"n m\"]\n"));
    assert!(printed.contains("{alpha = -inf, beta = 3.0}"));
    assert!(printed.contains("extrapolation_value = 1e-20,"));
    assert!(printed.contains("  is_nan(%x)\n  return\n}\n"));
    assert_eq!(print_graph(&parse_graph(&printed).unwrap()), printed);
}

#[test]
fn float_literals_keep_their_dtype() {
    let text = "graph g() {\n  %h = const f16[4] [0.1, 65504, 6e-8, -nan]\n  %b = const bf16[1] [3.14159]\n  %d = const f64[2] [0.1, 5e-324]\n  return\n}\n";
    let g = parse_graph(text).unwrap();
    let h = g
        .constants
        .iter()
        .next()
        .unwrap()
        .1
        .to_vec::<f16>()
        .unwrap();
    assert_eq!(h[0], f16::from_f32(0.1));
    assert_eq!(h[1], f16::MAX);
    assert_eq!(h[2].to_bits(), 1);
    assert!(h[3].is_nan() && h[3].is_sign_negative());
    let printed = print_graph(&g);
    // -nan is kept bit for bit, so that constant is printed as bytes.
    assert!(
        printed.contains("%h = const f16[4] hex\"662eff7b0100"),
        "{printed}"
    );
    assert!(printed.contains("%b = const bf16[1] [3.14]\n"));
    assert!(printed.contains("%d = const f64[2] [0.1, 5e-324]\n"));
}

/// Parses `text` and returns the error's line, column and message.
fn err(text: &str) -> (usize, usize, String) {
    match parse_graph(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => (e.line, e.col, e.message),
    }
}

/// A one-statement graph with input `%x: f32[2]`; `stmt` is on line 2.
fn with_stmt(stmt: &str) -> String {
    format!("graph g(%x: f32[2]) {{\n{stmt}\n  return %x\n}}\n")
}

fn check_err(text: &str, line: usize, col: usize, needle: &str) {
    let (l, c, m) = err(text);
    assert_eq!((l, c), (line, col), "position of `{m}` in:\n{text}");
    assert!(m.contains(needle), "message `{m}` lacks `{needle}`");
}

#[test]
fn lexical_errors() {
    check_err(
        &with_stmt("  %y = relu(%x) $ : f32[2]"),
        2,
        17,
        "unexpected character '$'",
    );
    check_err(
        &with_stmt("  %y = relu(%x) @\"abc"),
        2,
        18,
        "unterminated string",
    );
    check_err(
        &with_stmt("  %c = const u8[1] hex\"0g\""),
        2,
        20,
        "in hex literal",
    );
    check_err(
        &with_stmt("  %y = relu(%x) @\"a\\q\""),
        2,
        18,
        "unknown escape",
    );
}

#[test]
fn unexpected_token_says_what_was_expected() {
    check_err(
        &with_stmt("  %y = relu(%x, ) : f32[2]"),
        2,
        17,
        "expected an operand",
    );
    check_err(&with_stmt("  %y relu(%x) : f32[2]"), 2, 6, "expected `=`");
    check_err(
        &with_stmt("  %y = elu(%x) {alpha = } : f32[2]"),
        2,
        25,
        "expected an attribute value",
    );
    check_err(
        &with_stmt("  %y = elu(%x) {alpha = -x} : f32[2]"),
        2,
        26,
        "expected a literal",
    );
    check_err("graph g(", 1, 9, "found end of input");
    check_err(
        "graph g(%x:f32[2]) {\n  return\n}",
        1,
        15,
        "put a space between",
    );
    check_err("grph g() {}", 1, 1, "expected `graph`");
    check_err(
        &with_stmt("  %y = relu(%x) : f32[2.5]"),
        2,
        23,
        "`2.5` is not a valid dim size",
    );
    check_err(
        &with_stmt("  %y = relu(%x) : f32[2 3]"),
        2,
        25,
        "expected `,` or `]`",
    );
    check_err(
        &with_stmt("  %y = relu(%x)"),
        3,
        3,
        "expected `:` and the output types",
    );
}

#[test]
fn unknown_dtype() {
    check_err(
        &with_stmt("  %y = relu(%x) : float[2]"),
        2,
        19,
        "unknown dtype `float`",
    );
    check_err(
        &with_stmt("  %y = cast(%x) {to = c64} : f32[2]"),
        2,
        18,
        "must be dtype",
    );
}

#[test]
fn unknown_op_and_attribute_errors() {
    check_err(
        &with_stmt("  %y = frobnicate(%x) : f32[2]"),
        2,
        8,
        "unknown operator `frobnicate`",
    );
    check_err(
        &with_stmt("  %y = relu(%x) {alpha = 1.0} : f32[2]"),
        2,
        18,
        "has no attribute `alpha`",
    );
    check_err(
        &with_stmt("  %y = softmax(%x) {axis = \"a\"} : f32[2]"),
        2,
        21,
        "must be int",
    );
    check_err(
        &with_stmt("  %y = cast(%x) : f32[2]"),
        2,
        8,
        "needs attribute `to`",
    );
    check_err(
        &with_stmt("  %y = softmax(%x) {axis = 1, axis = 2} : f32[2]"),
        2,
        31,
        "given twice",
    );
    check_err(
        &with_stmt("  %y = softmax(%x) {axis = 9223372036854775808} : f32[2]"),
        2,
        28,
        "out of range for i64",
    );
    check_err(
        &with_stmt("  %y = elu(%x) {alpha = 1e39} : f32[2]"),
        2,
        25,
        "too large for f32",
    );
}

#[test]
fn value_definition_errors() {
    check_err(
        &with_stmt("  %y = relu(%z) : f32[2]"),
        2,
        13,
        "`%z` is used before it is defined",
    );
    check_err(
        &with_stmt("  %x = relu(%x) : f32[2]"),
        2,
        3,
        "`%x` is defined twice",
    );
    check_err(
        &with_stmt("  %a, %a = split(%x) : f32[1], f32[1]"),
        2,
        7,
        "defined twice",
    );
    check_err(
        "graph g(%x: f32[2], %x: f32[2]) {\n  return\n}",
        1,
        21,
        "defined twice",
    );
    check_err(
        "graph g(%x: f32[2]) {\n  return %y\n}",
        2,
        10,
        "used before it is defined",
    );
}

#[test]
fn wrong_number_of_output_types() {
    check_err(
        &with_stmt("  %a, %b = relu(%x) : f32[2]"),
        2,
        21,
        "defines 2 value(s) but gives 1",
    );
    check_err(
        &with_stmt("  relu(%x) : f32[2]"),
        2,
        12,
        "defines 0 value(s) but gives 1",
    );
}

#[test]
fn constant_errors() {
    check_err(
        &with_stmt("  %c = const f32[2, 2] [1.0, 2.0, 3.0]"),
        2,
        24,
        "has 4 elements, but 3 literals",
    );
    check_err(
        &with_stmt("  %c = const f32[2] hex\"00\""),
        2,
        21,
        "hex data has 1 bytes",
    );
    check_err(
        &with_stmt("  %c = const f32[?n] []"),
        2,
        14,
        "must be static",
    );
    check_err(
        &with_stmt("  %c = const i32[1] [1.5]"),
        2,
        22,
        "expected an integer literal",
    );
    check_err(
        &with_stmt("  %c = const bool[1] [2]"),
        2,
        23,
        "expected `true` or `false`",
    );
    check_err(
        &with_stmt("  %c = const f16[1] [70000.0]"),
        2,
        22,
        "too large for f16",
    );
    check_err(
        &with_stmt("  %c, %d = const f32[] [1.0]"),
        2,
        7,
        "exactly one value",
    );
}

#[test]
fn out_of_range_int_literal() {
    check_err(
        &with_stmt("  %c = const u8[2] [1, 256]"),
        2,
        24,
        "out of range for u8",
    );
    check_err(
        &with_stmt("  %c = const i64[1] [-9223372036854775809]"),
        2,
        22,
        "out of range for i64",
    );
    check_err(
        &with_stmt("  %c = const u64[1] [-1]"),
        2,
        22,
        "out of range for u64",
    );
    let ok = with_stmt("  %c = const u64[1] [18446744073709551615]");
    assert!(parse_graph(&ok).is_ok());
}

#[test]
fn missing_return_and_trailing_garbage() {
    check_err(
        "graph g(%x: f32[2]) {\n  %y = relu(%x) : f32[2]\n}\n",
        3,
        1,
        "missing `return`",
    );
    check_err(
        "graph g() {\n  return\n} extra",
        3,
        3,
        "expected end of input",
    );
    check_err(
        "graph g(%x: f32[2]) -> (%x) {\n  return\n}",
        3,
        1,
        "signature lists 1",
    );
    check_err(
        "graph g(%x: f32[2]) -> (%x) {\n  %y = relu(%x) : f32[2]\n  return %y\n}",
        3,
        10,
        "where the signature names `%x`",
    );
}

#[test]
fn fresh_names_skip_taken_ones_and_duplicates_are_renamed() {
    let mut g = Graph::new("g");
    let a = g.add_input("0", ty(DType::F32, &[1]));
    let b = g.add_input("0", ty(DType::F32, &[1]));
    let n = g.push_node(
        Op::Binary(crate::op::BinaryOp::Add),
        vec![Some(a), Some(b)],
        vec![ty(DType::F32, &[1])],
        None,
    );
    let out = g.nodes[n].outputs[0];
    g.add_output(out);
    let text = print_graph(&g);
    assert_eq!(
        text,
        "graph g(%0: f32[1], %0.1: f32[1]) -> (%1) {\n  %1 = add(%0, %0.1) : f32[1]\n  return %1\n}\n"
    );
}

// ----- property tests -----

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,4}",
        2 => "[0-9]{1,2}",
        2 => Just("x".to_string()),
        2 => "[a-z:./-]{1,4}",
        1 => "\\PC{0,5}",
        1 => "[\"\\\\\n\t %#?]{0,3}",
    ]
}

fn dtype_strategy() -> impl Strategy<Value = DType> {
    prop::sample::select(DType::ALL.to_vec())
}

fn type_strategy() -> impl Strategy<Value = TensorType> {
    let dim = prop_oneof![
        4 => (0usize..4).prop_map(Dim::Static),
        1 => name_strategy().prop_map(Dim::Symbolic),
    ];
    (dtype_strategy(), prop::collection::vec(dim, 0..4)).prop_map(|(dtype, dims)| TensorType {
        dtype,
        shape: Shape(dims),
    })
}

/// Bytes of special values of a dtype: NaN, infinities, -0, extremes, the smallest subnormal.
fn special_bytes(dtype: DType, which: u8) -> Vec<u8> {
    macro_rules! pick {
        ($t:ty, $nan:expr, $inf:expr, $max:expr, $tiny:expr, $zero:expr) => {{
            let vals: [$t; 7] = [$nan, $inf, -$inf, -$zero, $max, -$max, $tiny];
            vals[which as usize % 7].to_le_bytes().to_vec()
        }};
    }
    match dtype {
        DType::F16 => pick!(
            f16,
            f16::NAN,
            f16::INFINITY,
            f16::MAX,
            f16::from_bits(1),
            f16::ZERO
        ),
        DType::BF16 => pick!(
            bf16,
            bf16::NAN,
            bf16::INFINITY,
            bf16::MAX,
            bf16::from_bits(1),
            bf16::ZERO
        ),
        DType::F32 => pick!(
            f32,
            f32::NAN,
            f32::INFINITY,
            f32::MAX,
            f32::from_bits(1),
            0.0
        ),
        DType::F64 => pick!(
            f64,
            f64::NAN,
            f64::INFINITY,
            f64::MAX,
            f64::from_bits(1),
            0.0
        ),
        d if d.is_float() => {
            use crate::dtype::lowbit::encode;
            let vals = [
                encode(f64::NAN, d, false),
                encode(f64::INFINITY, d, false),
                encode(f64::NEG_INFINITY, d, false),
                encode(-0.0, d, false),
                encode(f64::MAX, d, true),
                encode(-f64::MAX, d, true),
                1,
            ];
            vec![vals[which as usize % 7]]
        }
        _ => {
            let (lo, hi) = dtype.int_range().unwrap();
            let v: i128 = [lo, hi, 0, 1, hi - 1, lo + 1, -1.max(lo)][which as usize % 7];
            v.to_le_bytes()[..dtype.size_bytes()].to_vec()
        }
    }
}

/// Random bits as one element; NaNs become the canonical NaN unless `keep_nan`.
fn random_bytes(dtype: DType, bits: u64, keep_nan: bool) -> Vec<u8> {
    let b = bits.to_le_bytes()[..dtype.size_bytes()].to_vec();
    let t = Tensor::from_bytes(dtype, &[], b.clone()).unwrap();
    if !keep_nan && dtype.is_float() && t.get_f64(0).is_nan() {
        return special_bytes(dtype, 0);
    }
    b
}

fn tensor_strategy() -> impl Strategy<Value = Tensor> {
    let dims = prop_oneof![
        6 => prop::collection::vec(0usize..4, 0..4),
        1 => (65usize..70).prop_map(|n| vec![n]),
    ];
    (dtype_strategy(), dims).prop_flat_map(|(dtype, dims)| {
        let n: usize = dims.iter().product();
        prop::collection::vec((0u8..12, any::<u64>()), n).prop_map(move |elems| {
            let mut bytes = Vec::new();
            for (sel, bits) in elems {
                if sel < 7 {
                    bytes.extend(special_bytes(dtype, sel));
                } else {
                    bytes.extend(random_bytes(dtype, bits, sel == 11));
                }
            }
            Tensor::from_bytes(dtype, &dims, bytes).unwrap()
        })
    })
}

/// Random material for one attribute; the field matching the attribute's kind is used.
#[derive(Clone, Debug)]
struct AttrSeed {
    int: i64,
    float: f32,
    flag: bool,
    ints: Vec<i64>,
    floats: Vec<f32>,
    text: String,
    pick: usize,
    dtype: DType,
    tensor: Tensor,
}

fn attr_seed_strategy() -> impl Strategy<Value = AttrSeed> {
    let int = prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -3i64..4];
    let float = prop_oneof![
        any::<f32>(),
        Just(f32::NAN),
        Just(-0.0f32),
        Just(f32::NEG_INFINITY),
        Just(f32::MAX),
        -2.0f32..2.0,
    ];
    (
        int,
        float,
        any::<bool>(),
        prop::collection::vec(any::<i64>(), 0..4),
        prop::collection::vec(any::<f32>(), 0..3),
        "\\PC{0,6}",
        any::<usize>(),
        dtype_strategy(),
        tensor_strategy(),
    )
        .prop_map(
            |(int, float, flag, ints, floats, text, pick, dtype, tensor)| AttrSeed {
                int,
                float,
                flag,
                ints,
                floats,
                text,
                pick,
                dtype,
                tensor,
            },
        )
}

#[derive(Clone, Debug)]
struct NodeSpec {
    op: usize,
    attrs: Vec<AttrSeed>,
    operands: Vec<Option<usize>>,
    outs: Vec<(TensorType, Option<String>)>,
    name: Option<String>,
}

#[derive(Clone, Debug)]
struct GraphSpec {
    name: String,
    inputs: Vec<(String, TensorType)>,
    consts: Vec<(Option<String>, Tensor)>,
    nodes: Vec<NodeSpec>,
    outputs: Vec<usize>,
}

fn graph_strategy() -> impl Strategy<Value = GraphSpec> {
    let node = (
        any::<usize>(),
        prop::collection::vec(attr_seed_strategy(), 10),
        prop::collection::vec(prop::option::weighted(0.8, any::<usize>()), 0..4),
        prop::collection::vec(
            (
                type_strategy(),
                prop::option::weighted(0.5, name_strategy()),
            ),
            0..3,
        ),
        prop::option::weighted(0.3, name_strategy()),
    )
        .prop_map(|(op, attrs, operands, outs, name)| NodeSpec {
            op,
            attrs,
            operands,
            outs,
            name,
        });
    (
        name_strategy(),
        prop::collection::vec((name_strategy(), type_strategy()), 0..3),
        prop::collection::vec(
            (
                prop::option::weighted(0.5, name_strategy()),
                tensor_strategy(),
            ),
            0..3,
        ),
        prop::collection::vec(node, 0..5),
        prop::collection::vec(any::<usize>(), 0..3),
    )
        .prop_map(|(name, inputs, consts, nodes, outputs)| GraphSpec {
            name,
            inputs,
            consts,
            nodes,
            outputs,
        })
}

/// An op of this name with every attribute present (required ones filled with a value of a
/// kind they accept), or `None` if none is found.
fn template_op(name: &str) -> Option<Op> {
    let candidates = [
        Attr::Int(0),
        Attr::Ints(vec![1]),
        Attr::DType(DType::F32),
        Attr::Str("i->i".into()),
        Attr::Float(0.0),
    ];
    let mut attrs = Vec::new();
    for _ in 0..8 {
        match Op::from_parts(name, attrs.clone()) {
            Ok(op) => return Some(op),
            Err(AttrError::Missing { attr, .. }) => {
                let fits = candidates.iter().find(|c| {
                    let mut trial = attrs.clone();
                    trial.push((attr.to_string(), (*c).clone()));
                    !matches!(
                        Op::from_parts(name, trial),
                        Err(AttrError::WrongKind { .. })
                    )
                })?;
                attrs.push((attr.to_string(), fits.clone()));
            }
            Err(_) => return None,
        }
    }
    None
}

fn enum_words() -> Vec<&'static str> {
    let mut w: Vec<&'static str> = Vec::new();
    w.extend(AutoPad::ALL.iter().map(|v| v.name()));
    w.extend(PadMode::ALL.iter().map(|v| v.name()));
    w.extend(ResizeMode::ALL.iter().map(|v| v.name()));
    w.extend(CoordTransform::ALL.iter().map(|v| v.name()));
    w.extend(NearestMode::ALL.iter().map(|v| v.name()));
    w.extend(KeepAspectRatio::ALL.iter().map(|v| v.name()));
    w.extend(GeluApprox::ALL.iter().map(|v| v.name()));
    w.extend(ScatterReduction::ALL.iter().map(|v| v.name()));
    w
}

/// A random value of the same kind as `template`.
fn random_attr(template: &Attr, s: &AttrSeed, words: &[&'static str]) -> Attr {
    match template {
        Attr::Int(_) => Attr::Int(s.int),
        Attr::Float(_) => Attr::Float(s.float),
        Attr::Bool(_) => Attr::Bool(s.flag),
        Attr::Ints(_) => Attr::Ints(s.ints.clone()),
        Attr::Floats(_) => Attr::Floats(s.floats.clone()),
        Attr::Str(_) => Attr::Str(s.text.clone()),
        // Enum values and optional ints (`none` or a number).
        Attr::Ident(_) if s.flag => Attr::Int(s.int),
        Attr::Ident(_) => Attr::Ident(words[s.pick % words.len()].to_string()),
        Attr::DType(_) => Attr::DType(s.dtype),
        Attr::Tensor(_) => Attr::Tensor(s.tensor.clone()),
    }
}

/// The op of a node spec: a sampled operator with random attribute values (each kept only
/// when `Op::from_parts` accepts it).
fn random_op(spec: &NodeSpec) -> Op {
    let names = Op::all_names();
    let words = enum_words();
    let name = names[spec.op % names.len()];
    let Some(template) = template_op(name) else {
        return Op::Unary(UnaryOp::Identity);
    };
    let mut attrs: Vec<(String, Attr)> = template
        .attributes()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for i in 0..attrs.len() {
        let Some(seed) = spec.attrs.get(i) else { break };
        let mut trial = attrs.clone();
        trial[i].1 = random_attr(&attrs[i].1, seed, &words);
        if Op::from_parts(name, trial.clone()).is_ok() {
            attrs = trial;
        }
    }
    Op::from_parts(name, attrs).unwrap_or(template)
}

fn build(spec: &GraphSpec) -> Graph {
    let mut g = Graph::new(spec.name.clone());
    let mut defined = Vec::new();
    for (name, t) in &spec.inputs {
        defined.push(g.add_input(name.clone(), t.clone()));
    }
    for (name, t) in &spec.consts {
        defined.push(match name {
            Some(n) => g.add_named_constant(Some(n.clone()), t.clone()),
            None => g.add_constant(t.clone()),
        });
    }
    for n in &spec.nodes {
        let inputs = n
            .operands
            .iter()
            .map(|o| {
                o.filter(|_| !defined.is_empty())
                    .map(|i| defined[i % defined.len()])
            })
            .collect();
        let tys = n.outs.iter().map(|(t, _)| t.clone()).collect();
        let id = g.push_node(random_op(n), inputs, tys, n.name.clone());
        for (k, (_, name)) in n.outs.iter().enumerate() {
            let v = g.nodes[id].outputs[k];
            g.values[v].name = name.clone();
            defined.push(v);
        }
    }
    if !defined.is_empty() {
        for &o in &spec.outputs {
            g.add_output(defined[o % defined.len()]);
        }
    }
    g
}

fn constant_bytes(g: &Graph) -> Vec<(DType, Vec<usize>, Vec<u8>)> {
    g.values
        .iter()
        .filter_map(|(h, _)| g.constant_of(h))
        .map(|t| (t.dtype(), t.shape().to_vec(), t.bytes().to_vec()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn print_parse_print_is_identity(spec in graph_strategy()) {
        let g = build(&spec);
        let t1 = print_graph(&g);
        let g2 = parse_graph(&t1)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{t1}")))?;
        let t2 = print_graph(&g2);
        if std::env::var_os("TESSERA_SHOW_TEXT").is_some() {
            println!("{t1}");
        }
        prop_assert_eq!(&t1, &t2);
        // The parsed graph has the same structure and bit-identical constants.
        prop_assert_eq!(constant_bytes(&g), constant_bytes(&g2));
        prop_assert_eq!(g.nodes.len(), g2.nodes.len());
        prop_assert_eq!(g.inputs.len(), g2.inputs.len());
        prop_assert_eq!(g.outputs.len(), g2.outputs.len());
        for ((_, a), (_, b)) in g.nodes.iter().zip(g2.nodes.iter()) {
            // Ops compare equal unless a NaN attribute makes `==` false.
            let has_nan = format!("{:?}", a.op).contains("NaN");
            prop_assert!(a.op == b.op || has_nan, "op changed: {:?} vs {:?}", a.op, b.op);
            prop_assert_eq!(&a.name, &b.name);
            prop_assert_eq!(a.inputs.len(), b.inputs.len());
            for (x, y) in a.outputs.iter().zip(&b.outputs) {
                prop_assert_eq!(&g.value(*x).ty, &g2.value(*y).ty);
            }
        }
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(
        text in prop_oneof![
            "\\PC{0,200}",
            "graph g\\([%?@#:=,(){}\\[\\]a-z0-9_ \n\"-.]{0,120}",
        ]
    ) {
        let _ = parse_graph(&text);
    }

    #[test]
    fn parser_never_panics_on_mutated_text(
        spec in graph_strategy(),
        edits in prop::collection::vec((any::<usize>(), 0u8..3, "[\\PC\n]"), 1..6),
    ) {
        let mut chars: Vec<char> = print_graph(&build(&spec)).chars().collect();
        for (pos, kind, s) in edits {
            let at = pos % (chars.len() + 1);
            let c = s.chars().next().unwrap_or(' ');
            match kind {
                0 if at < chars.len() => { chars.remove(at); }
                1 => chars.insert(at, c),
                _ => chars.truncate(at),
            }
        }
        let text: String = chars.into_iter().collect();
        let _ = parse_graph(&text);
    }
}
