//! Tests of the recurrent, attention, training and dynamic-quantization compositions
//! (compose_rnn.rs, compose_attention.rs, compose_training.rs): one-node models imported with
//! the real type inference and evaluated with the reference interpreter against values from
//! ONNX's reference implementation (numpy where it has none: bidirectional, lengths, clip).

use super::error::OnnxError;
use super::import_model;
use super::proto::*;
use prost::Message;
use std::collections::HashMap;
use tessera_ir::{DType, Graph, Op, Tensor, UnaryOp};

// ---------------------------------------------------------------------------------------------
// Builders.

fn attr(name: &str, ty: AttributeType) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(ty as i32),
        ..Default::default()
    }
}
fn ai(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        i: Some(v),
        ..attr(name, AttributeType::Int)
    }
}
fn af(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        f: Some(v),
        ..attr(name, AttributeType::Float)
    }
}
fn afloats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto {
        floats: v.to_vec(),
        ..attr(name, AttributeType::Floats)
    }
}
fn astr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        s: Some(v.as_bytes().to_vec()),
        ..attr(name, AttributeType::String)
    }
}
fn astrs(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..attr(name, AttributeType::Strings)
    }
}
fn agraph(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        g: Some(Box::new(g)),
        ..attr(name, AttributeType::Graph)
    }
}

fn node(
    op: &str,
    domain: &str,
    ins: &[&str],
    outs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        name: Some(format!("n_{op}")),
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        attribute: attrs,
        ..Default::default()
    }
}

fn vi(name: &str, code: DataType, dims: &[usize]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(DimensionValue::DimValue(d as i64)),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorTypeProto {
                elem_type: Some(code as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
    }
}

fn graph(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    inits: Vec<TensorProto>,
    outputs: &[&str],
) -> GraphProto {
    GraphProto {
        node: nodes,
        name: Some("g".into()),
        initializer: inits,
        input: inputs,
        output: outputs
            .iter()
            .map(|o| ValueInfoProto {
                name: Some(o.to_string()),
                r#type: None,
            })
            .collect(),
        value_info: Vec::new(),
    }
}

/// Imports a one-graph model with real type inference.
fn import(opsets: &[(&str, i64)], g: GraphProto) -> Result<Graph, OnnxError> {
    let m = ModelProto {
        ir_version: Some(10),
        opset_import: opsets
            .iter()
            .map(|(d, v)| OperatorSetIdProto {
                domain: Some(d.to_string()),
                version: Some(*v),
            })
            .collect(),
        producer_name: Some("tessera-tests".into()),
        graph: Some(g),
        functions: Vec::new(),
    };
    import_model(&m.encode_to_vec(), None)
}

/// A float input (name, dims, values): its value info and its tensor.
struct Feed<'a>(&'a str, &'a [usize], &'a [f32]);

/// Imports `n` over float inputs `feeds` (plus `extra` inputs), evaluates it.
fn run(
    opsets: &[(&str, i64)],
    n: NodeProto,
    feeds: &[Feed<'_>],
    extra: Vec<(ValueInfoProto, Tensor)>,
) -> Vec<Tensor> {
    let outs: Vec<String> = n.output.iter().filter(|o| !o.is_empty()).cloned().collect();
    let outs: Vec<&str> = outs.iter().map(String::as_str).collect();
    let mut infos: Vec<ValueInfoProto> = feeds
        .iter()
        .map(|Feed(name, dims, _)| vi(name, DataType::Float, dims))
        .collect();
    let mut values: HashMap<String, Tensor> = feeds
        .iter()
        .map(|Feed(name, dims, v)| (name.to_string(), Tensor::from_slice(dims, v).unwrap()))
        .collect();
    for (info, t) in extra {
        values.insert(info.name.clone().unwrap_or_default(), t);
        infos.push(info);
    }
    let g = import(opsets, graph(vec![n], infos, vec![], &outs)).unwrap();
    tessera_ir::interp::evaluate(&g, &values).unwrap()
}

/// Asserts `t` has `dims` and values within 1e-5 (relative) of `expected`.
fn close(t: &Tensor, dims: &[usize], expected: &[f64]) {
    assert_eq!(t.shape(), dims);
    assert_eq!(t.len(), expected.len());
    for (i, &e) in expected.iter().enumerate() {
        let a = t.get_f64(i);
        assert!(
            (a - e).abs() <= 1e-5 * e.abs().max(1.0),
            "element {i}: got {a}, expected {e}"
        );
    }
}

fn ops(g: &Graph) -> Vec<Op> {
    g.nodes.iter().map(|(_, n)| n.op.clone()).collect()
}

fn count(g: &Graph, op: &Op) -> usize {
    ops(g).iter().filter(|o| *o == op).count()
}

/// The attribute a `BadAttribute` error names.
fn bad_attr<T: std::fmt::Debug>(r: Result<T, OnnxError>) -> String {
    match r {
        Err(OnnxError::BadAttribute { attribute, .. }) => attribute,
        other => panic!("expected BadAttribute, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// RNN, GRU, LSTM.

/// 3 steps, 2 batch rows, 2 inputs, hidden 2, both directions, in layout 1.
const LSTM_X: [f32; 12] = [
    0.27, -0.46, -0.92, -0.97, 0.63, 0.83, 0.21, 0.46, 0.09, 0.87, 0.63, -0.99,
];
const LSTM_W: [f32; 32] = [
    0.71, -0.93, 0.46, -0.65, 0.73, 0.08, -0.4, -0.15, -0.94, -0.75, 0.34, 0.29, 0.23, -0.23, 0.99,
    0.96, 0.37, 0.3, 0.38, -0.22, -0.73, 0.44, 0.05, -0.38, -0.03, 0.78, 0.87, -0.28, 0.14, -0.36,
    0.19, -0.32,
];
const LSTM_R: [f32; 32] = [
    -0.22, 0.78, -0.55, 0.25, -0.83, 0.67, 0.57, -0.52, 0.75, -0.88, -0.33, -0.7, -0.1, 0.59,
    -0.54, -0.9, -0.19, -0.6, -0.82, 0.16, -0.4, 0.34, -0.6, 0.88, -0.27, -0.79, 0.26, 0.85, -0.12,
    0.91, 0.0, -0.15,
];
const LSTM_B: [f32; 32] = [
    0.24, 0.99, 0.9, -0.08, 0.52, -0.01, 0.06, 0.57, -0.17, 0.47, 0.42, 0.86, -0.77, 0.46, 0.85,
    0.94, -0.97, 0.73, 0.96, 0.91, -0.7, 0.95, 0.78, 0.64, -0.04, -0.54, 0.6, 0.85, -0.47, 0.08,
    -0.11, 0.86,
];
const LSTM_P: [f32; 12] = [
    -0.92, 0.46, 0.23, -0.94, 0.44, -0.97, 0.52, 0.03, 0.86, -0.87, 0.68, -0.87,
];
const LSTM_H0: [f32; 8] = [-0.31, -0.14, 0.93, 0.12, -0.48, -0.52, 0.78, -0.55];
const LSTM_C0: [f32; 8] = [-0.75, -0.42, 0.17, 0.11, 0.62, 0.12, -0.42, -0.17];

#[test]
fn lstm_bidirectional_with_everything() {
    let n = node(
        "LSTM",
        "",
        &["x", "w", "r", "b", "lens", "h0", "c0", "p"],
        &["y", "y_h", "y_c"],
        vec![
            astr("direction", "bidirectional"),
            ai("hidden_size", 2),
            ai("layout", 1),
        ],
    );
    let lens = (
        vi("lens", DataType::Int32, &[2]),
        Tensor::from_slice(&[2], &[3i32, 2]).unwrap(),
    );
    let out = run(
        &[("", 22)],
        n,
        &[
            Feed("x", &[2, 3, 2], &LSTM_X),
            Feed("w", &[2, 8, 2], &LSTM_W),
            Feed("r", &[2, 8, 2], &LSTM_R),
            Feed("b", &[2, 16], &LSTM_B),
            Feed("h0", &[2, 2, 2], &LSTM_H0),
            Feed("c0", &[2, 2, 2], &LSTM_C0),
            Feed("p", &[2, 6], &LSTM_P),
        ],
        vec![lens],
    );
    close(
        &out[0],
        &[2, 3, 2, 2],
        &[
            0.28231535,
            0.24679448,
            0.16381241,
            0.63770773,
            0.39718118,
            -0.30523715,
            0.12596706,
            0.5078757,
            0.28908272,
            0.21647036,
            0.15275721,
            0.26226108,
            0.30462219,
            0.31819075,
            0.085171145,
            0.43552153,
            0.25692314,
            0.31901715,
            -0.16867626,
            0.099363692,
            0.0,
            0.0,
            0.0,
            0.0,
        ],
    );
    close(
        &out[1],
        &[2, 2, 2],
        &[
            0.28908272,
            0.21647036,
            0.16381241,
            0.63770773,
            0.25692314,
            0.31901715,
            0.085171145,
            0.43552153,
        ],
    );
    close(
        &out[2],
        &[2, 2, 2],
        &[
            0.37739817,
            0.37239569,
            0.20471211,
            1.1020791,
            0.32585561,
            1.096326,
            0.099634093,
            0.63690913,
        ],
    );
}

#[test]
fn gru_reverse_linear_before_reset_with_clip() {
    let n = node(
        "GRU",
        "",
        &["x", "w", "r", "b"],
        &["y", "y_h"],
        vec![
            astr("direction", "reverse"),
            ai("linear_before_reset", 1),
            af("clip", 0.5),
        ],
    );
    let out = run(
        &[("", 22)],
        n,
        &[
            Feed("x", &[3, 1, 2], &[0.64, 0.25, 0.92, -0.26, 0.11, 0.19]),
            Feed(
                "w",
                &[1, 6, 2],
                &[
                    0.7, -0.71, -0.19, 0.82, -0.91, 0.65, -0.17, 0.66, -0.98, -0.27, -0.84, 0.31,
                ],
            ),
            Feed(
                "r",
                &[1, 6, 2],
                &[
                    -0.45, 0.41, 0.89, -0.75, 0.73, -0.88, -0.24, -0.14, -0.02, 0.95, 0.55, -0.38,
                ],
            ),
            Feed(
                "b",
                &[1, 12],
                &[
                    -0.46, 0.73, 0.76, 0.02, -0.31, 0.99, -0.37, -0.63, 0.76, 0.62, 0.34, 0.92,
                ],
            ),
        ],
        vec![],
    );
    close(
        &out[0],
        &[3, 1, 1, 2],
        &[
            -0.39123302,
            0.42196237,
            -0.2978223,
            0.36468436,
            -0.1568111,
            0.20404485,
        ],
    );
    close(&out[1], &[1, 1, 2], &[-0.39123302, 0.42196237]);
}

#[test]
fn rnn_activations_take_alpha_beta_in_order() {
    // Forward LeakyRelu(0.1), reverse Affine(2, 0.5): alphas [0.1, 2], betas [0.5].
    let n = node(
        "RNN",
        "",
        &["x", "w", "r"],
        &["y", "y_h"],
        vec![
            astr("direction", "bidirectional"),
            astrs("activations", &["LeakyRelu", "Affine"]),
            afloats("activation_alpha", &[0.1, 2.0]),
            afloats("activation_beta", &[0.5]),
        ],
    );
    let out = run(
        &[("", 14)],
        n,
        &[
            Feed("x", &[2, 1, 1], &[1.0, 2.0]),
            Feed("w", &[2, 1, 1], &[0.5, -1.0]),
            Feed("r", &[2, 1, 1], &[0.25, 0.5]),
        ],
        vec![],
    );
    // forward: 0.5, 1.0 + 0.125; reverse from t=1: 2 * -2 + 0.5 = -3.5, 2 * (-1 - 1.75) + 0.5.
    close(&out[0], &[2, 2, 1, 1], &[0.5, -5.0, 1.125, -3.5]);
    close(&out[1], &[2, 1, 1], &[1.125, -5.0]);
}

#[test]
fn lstm_input_forget_and_parameterized_activations() {
    // f = 1 - i; f/g/h = HardSigmoid(0.3, 0.4), Tanh, ScaledTanh(1.5, 0.5).
    let n = node(
        "LSTM",
        "",
        &["x", "w", "r", "", "", "h0", "c0"],
        &["y", "", "y_c"],
        vec![
            ai("input_forget", 1),
            astrs("activations", &["HardSigmoid", "Tanh", "ScaledTanh"]),
            afloats("activation_alpha", &[0.3, 1.5]),
            afloats("activation_beta", &[0.4, 0.5]),
        ],
    );
    let out = run(
        &[("", 22)],
        n,
        &[
            Feed("x", &[2, 1, 1], &[0.5, -1.0]),
            Feed("w", &[1, 4, 1], &[0.4, -0.3, 0.8, 0.6]),
            Feed("r", &[1, 4, 1], &[0.2, 0.1, -0.5, 0.7]),
            Feed("h0", &[1, 1, 1], &[0.1]),
            Feed("c0", &[1, 1, 1], &[-0.2]),
        ],
        vec![],
    );
    close(&out[0], &[2, 1, 1, 1], &[0.015611597, -0.039270738]);
    close(&out[1], &[1, 1, 1], &[-0.10685868]);
}

#[test]
fn gru_forward_with_lengths_keeps_finished_state() {
    let n = node(
        "GRU",
        "",
        &["x", "w", "r", "b", "lens", "h0"],
        &["y", "y_h"],
        vec![],
    );
    let lens = (
        vi("lens", DataType::Int32, &[2]),
        Tensor::from_slice(&[2], &[1i32, 2]).unwrap(),
    );
    let out = run(
        &[("", 22)],
        n,
        &[
            Feed("x", &[2, 2, 1], &[0.3, -0.6, 0.9, 0.2]),
            Feed("w", &[1, 3, 1], &[0.5, -0.4, 0.7]),
            Feed("r", &[1, 3, 1], &[0.3, 0.6, -0.2]),
            Feed("b", &[1, 6], &[0.1, -0.1, 0.2, 0.05, 0.0, -0.3]),
            Feed("h0", &[1, 2, 1], &[0.2, -0.5]),
        ],
        vec![lens],
    );
    // Row 0 ends after one step: its output is 0 after that and its state is kept.
    close(
        &out[0],
        &[2, 1, 2, 1],
        &[0.15510218, -0.46634842, 0.0, -0.21010949],
    );
    close(&out[1], &[1, 2, 1], &[0.15510218, -0.21010949]);
}

#[test]
fn recurrent_structure_and_errors() {
    let g = import(
        &[("", 14)],
        graph(
            vec![node("RNN", "", &["x", "w", "r"], &["", "y_h"], vec![])],
            vec![
                vi("x", DataType::Float, &[4, 1, 3]),
                vi("w", DataType::Float, &[1, 2, 3]),
                vi("r", DataType::Float, &[1, 2, 2]),
            ],
            vec![],
            &["y_h"],
        ),
    )
    .unwrap();
    // One input projection for all steps plus one recurrent product per step.
    assert_eq!(count(&g, &Op::MatMul {}), 5);
    assert_eq!(count(&g, &Op::Unary(UnaryOp::Tanh)), 4);
    let bad = |attrs: Vec<AttributeProto>, r_dims: &[usize]| {
        import(
            &[("", 14)],
            graph(
                vec![node("RNN", "", &["x", "w", "r"], &["y"], attrs)],
                vec![
                    vi("x", DataType::Float, &[4, 1, 3]),
                    vi("w", DataType::Float, &[1, 2, 3]),
                    vi("r", DataType::Float, r_dims),
                ],
                vec![],
                &["y"],
            ),
        )
    };
    assert_eq!(
        bad_attr(bad(vec![astr("direction", "sideways")], &[1, 2, 2])),
        "direction"
    );
    assert_eq!(
        bad_attr(bad(vec![astrs("activations", &["Gelu"])], &[1, 2, 2])),
        "activations"
    );
    assert_eq!(
        bad_attr(bad(vec![ai("hidden_size", 3)], &[1, 2, 2])),
        "hidden_size"
    );
    assert_eq!(bad_attr(bad(vec![ai("layout", 2)], &[1, 2, 2])), "layout");
    assert_eq!(bad_attr(bad(vec![], &[2, 2, 2])), "input 1");
    assert_eq!(bad_attr(bad(vec![af("clip", -1.0)], &[1, 2, 2])), "clip");
    // A dynamic sequence length cannot be unrolled: a typed unsupported.
    let mut x = vi("x", DataType::Float, &[4, 1, 3]);
    if let Some(TypeValue::TensorType(t)) = x.r#type.as_mut().and_then(|t| t.value.as_mut())
        && let Some(d) = t.shape.as_mut().and_then(|s| s.dim.first_mut())
    {
        d.value = Some(DimensionValue::DimParam("S".into()));
    }
    let dynamic = import(
        &[("", 14)],
        graph(
            vec![node("RNN", "", &["x", "w", "r"], &["y"], vec![])],
            vec![
                x,
                vi("w", DataType::Float, &[1, 2, 3]),
                vi("r", DataType::Float, &[1, 2, 2]),
            ],
            vec![],
            &["y"],
        ),
    );
    assert!(
        matches!(dynamic, Err(OnnxError::UnsupportedType { .. })),
        "{dynamic:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// LinearAttention, CausalConvWithState, FlexAttention.

#[test]
fn linear_attention_gated_delta_grouped_with_past() {
    let n = node(
        "LinearAttention",
        "",
        &["q", "k", "v", "past", "decay", "beta"],
        &["y", "state"],
        vec![ai("q_num_heads", 2), ai("kv_num_heads", 1)],
    );
    let out = run(
        &[("", 27)],
        n,
        &[
            Feed(
                "q",
                &[1, 2, 4],
                &[0.02, 0.9, -0.71, 0.9, -0.38, -0.15, 0.66, -0.18],
            ),
            Feed("k", &[1, 2, 2], &[0.1, -0.94, 0.51, 0.08]),
            Feed("v", &[1, 2, 2], &[-0.34, 0.58, -0.39, -0.09]),
            Feed("past", &[1, 1, 2, 2], &[0.5, -0.44, -0.03, 0.96]),
            Feed("decay", &[1, 2, 1], &[-0.365, -0.095]),
            Feed("beta", &[1, 2, 1], &[0.59, 0.48]),
        ],
        vec![],
    );
    close(
        &out[0],
        &[1, 2, 4],
        &[
            0.13048765,
            -0.015763771,
            -0.03667229,
            0.10423148,
            -0.059473772,
            0.057349518,
            0.053886823,
            -0.094283827,
        ],
    );
    close(
        &out[1],
        &[1, 1, 2, 2],
        &[0.15872563, -0.20668712, 0.15861917, -0.017089047],
    );
}

#[test]
fn linear_attention_linear_rule_by_hand_and_errors() {
    // One head, d_k = d_v = 1, scale 2: S_t = S_{t-1} + k_t v_t, o_t = 2 q_t S_t.
    let n = node(
        "LinearAttention",
        "",
        &["q", "k", "v"],
        &["y", "state"],
        vec![
            ai("q_num_heads", 1),
            ai("kv_num_heads", 1),
            af("scale", 2.0),
            astr("update_rule", "linear"),
        ],
    );
    let out = run(
        &[("", 27)],
        n,
        &[
            Feed("q", &[1, 3, 1], &[1.0, 0.5, -1.0]),
            Feed("k", &[1, 3, 1], &[2.0, 1.0, 1.0]),
            Feed("v", &[1, 3, 1], &[3.0, -2.0, 4.0]),
        ],
        vec![],
    );
    // S = 6, 4, 8; o = 12, 4, -16.
    close(&out[0], &[1, 3, 1], &[12.0, 4.0, -16.0]);
    close(&out[1], &[1, 1, 1, 1], &[8.0]);
    let bad = |attrs: Vec<AttributeProto>, ins: &[&str]| {
        bad_attr(import(
            &[("", 27)],
            graph(
                vec![node("LinearAttention", "", ins, &["y"], attrs)],
                vec![
                    vi("q", DataType::Float, &[1, 3, 4]),
                    vi("g", DataType::Float, &[1, 3, 2]),
                ],
                vec![],
                &["y"],
            ),
        ))
    };
    let heads = || vec![ai("q_num_heads", 2), ai("kv_num_heads", 2)];
    let lin = || astr("update_rule", "linear");
    assert_eq!(
        bad(vec![ai("q_num_heads", 2), lin()], &["q", "q", "q"]),
        "kv_num_heads"
    );
    assert_eq!(
        bad(
            vec![ai("q_num_heads", 3), ai("kv_num_heads", 2), lin()],
            &["q", "q", "q"]
        ),
        "q_num_heads"
    );
    // The default gated_delta rule needs decay and beta; linear forbids them.
    assert_eq!(bad(heads(), &["q", "q", "q"]), "decay");
    let mut linear = heads();
    linear.push(astr("update_rule", "linear"));
    assert_eq!(bad(linear, &["q", "q", "q", "", "g"]), "decay");
    let mut unknown = heads();
    unknown.push(astr("update_rule", "sideways"));
    assert_eq!(bad(unknown, &["q", "q", "q"]), "update_rule");
}

#[test]
fn causal_conv_with_state_values_and_structure() {
    let x = [0.92, 0.45, 0.08, -0.45, -0.68, 0.94];
    let w = [0.03, -0.77, 0.25, 0.55, 0.23, 0.83];
    let out = run(
        &[("", 27)],
        node(
            "CausalConvWithState",
            "",
            &["x", "w", "b", "ps"],
            &["y", "state"],
            vec![astr("activation", "silu")],
        ),
        &[
            Feed("x", &[1, 2, 3], &x),
            Feed("w", &[2, 1, 3], &w),
            Feed("b", &[2], &[-0.92, 0.06]),
            Feed("ps", &[1, 2, 2], &[-0.08, -0.88, 0.28, 0.71]),
        ],
        vec![],
    );
    close(
        &out[0],
        &[1, 2, 3],
        &[
            -0.0073452764,
            -0.27175507,
            -0.27806777,
            0.0019036104,
            -0.096930631,
            0.26499858,
        ],
    );
    close(&out[1], &[1, 2, 2], &[0.45, 0.08, -0.68, 0.94]);
    // No past state: zeros on the left; no activation.
    let out = run(
        &[("", 27)],
        node(
            "CausalConvWithState",
            "",
            &["x", "w"],
            &["y", "state"],
            vec![],
        ),
        &[Feed("x", &[1, 2, 3], &x), Feed("w", &[2, 1, 3], &w)],
        vec![],
    );
    close(
        &out[0],
        &[1, 2, 3],
        &[0.23, -0.5959, -0.2989, -0.3735, -0.6679, 0.3763],
    );
    close(&out[1], &[1, 2, 2], &[0.45, 0.08, -0.68, 0.94]);
    // Kernel size 1 carries no state.
    let out = run(
        &[("", 27)],
        node(
            "CausalConvWithState",
            "",
            &["x", "w"],
            &["y", "state"],
            vec![],
        ),
        &[
            Feed("x", &[1, 2, 3], &x),
            Feed("w", &[2, 1, 1], &[2.0, -1.0]),
        ],
        vec![],
    );
    close(&out[0], &[1, 2, 3], &[1.84, 0.9, 0.16, 0.45, 0.68, -0.94]);
    assert_eq!(out[1].shape(), &[1, 2, 0]);
    let bad = import(
        &[("", 27)],
        graph(
            vec![node(
                "CausalConvWithState",
                "",
                &["x", "w"],
                &["y"],
                vec![astr("activation", "gelu")],
            )],
            vec![
                vi("x", DataType::Float, &[1, 2, 3]),
                vi("w", DataType::Float, &[2, 1, 3]),
            ],
            vec![],
            &["y"],
        ),
    );
    assert_eq!(bad_attr(bad), "activation");
}

#[test]
fn flex_attention_grouped_with_score_mod_subgraph() {
    let bias = TensorProto {
        name: Some("bias".into()),
        data_type: Some(DataType::Float as i32),
        dims: vec![3],
        float_data: vec![0.0, -1.0, 0.5],
        ..Default::default()
    };
    let sub = graph(
        vec![node("Add", "", &["s", "bias"], &["o"], vec![])],
        vec![ValueInfoProto {
            name: Some("s".into()),
            r#type: None,
        }],
        vec![bias],
        &["o"],
    );
    let n = node(
        "FlexAttention",
        "ai.onnx.preview",
        &["q", "k", "v"],
        &["y"],
        vec![agraph("score_mod", sub), af("scale", 0.5)],
    );
    let out = run(
        &[("", 26), ("ai.onnx.preview", 1)],
        n,
        &[
            Feed(
                "q",
                &[1, 2, 2, 2],
                &[-0.48, -0.4, 0.63, -0.82, 0.2, 0.46, -0.62, -0.89],
            ),
            Feed("k", &[1, 1, 3, 2], &[-0.45, 0.31, 0.12, -0.7, -0.13, 0.34]),
            Feed("v", &[1, 1, 3, 2], &[-0.15, 0.27, 0.93, 0.37, -0.22, -0.63]),
        ],
        vec![],
    );
    close(
        &out[0],
        &[1, 2, 2, 2],
        &[
            -0.04079118,
            -0.18584198,
            0.02110222,
            -0.17833753,
            -0.079392374,
            -0.23013638,
            -0.0083541581,
            -0.16213022,
        ],
    );
}

#[test]
fn flex_attention_prob_mod_by_hand_and_errors() {
    // One key: softmax is 1, prob_mod doubles it, so Y = 2 V.
    let sub = graph(
        vec![node("Add", "", &["p", "p"], &["o"], vec![])],
        vec![ValueInfoProto {
            name: Some("p".into()),
            r#type: None,
        }],
        vec![],
        &["o"],
    );
    let n = node(
        "FlexAttention",
        "ai.onnx.preview",
        &["q", "k", "v"],
        &["y"],
        vec![agraph("prob_mod", sub)],
    );
    let out = run(
        &[("", 26), ("ai.onnx.preview", 1)],
        n,
        &[
            Feed("q", &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]),
            Feed("k", &[1, 1, 1, 2], &[0.5, 0.5]),
            Feed("v", &[1, 1, 1, 3], &[1.0, -2.0, 0.25]),
        ],
        vec![],
    );
    close(&out[0], &[1, 1, 2, 3], &[2.0, -4.0, 0.5, 2.0, -4.0, 0.5]);
    let bad = import(
        &[("", 26), ("ai.onnx.preview", 1)],
        graph(
            vec![node(
                "FlexAttention",
                "ai.onnx.preview",
                &["q", "k", "q"],
                &["y"],
                vec![],
            )],
            vec![
                vi("q", DataType::Float, &[1, 3, 2, 2]),
                vi("k", DataType::Float, &[1, 2, 2, 2]),
            ],
            vec![],
            &["y"],
        ),
    );
    assert_eq!(bad_attr(bad), "input 1");
}

// ---------------------------------------------------------------------------------------------
// DynamicQuantizeLinear and the training optimizers.

#[test]
fn dynamic_quantize_linear_values() {
    let dql = |x: &[f32], dims: &[usize]| {
        run(
            &[("", 11)],
            node(
                "DynamicQuantizeLinear",
                "",
                &["x"],
                &["y", "s", "z"],
                vec![],
            ),
            &[Feed("x", dims, x)],
            vec![],
        )
    };
    let out = dql(&[-1.0, 0.3, 2.5, 0.0, -0.2, 1.7], &[2, 3]);
    assert_eq!(out[0].dtype(), DType::U8);
    assert_eq!(
        out[0].to_vec::<u8>().unwrap(),
        vec![0, 95, 255, 73, 58, 197]
    );
    close(&out[1], &[], &[0.013725490]);
    assert_eq!(out[2].to_vec::<u8>().unwrap(), vec![73]);
    // All positive: the range starts at 0, the zero point is 0.
    let out = dql(&[1.0, 2.0, 3.0], &[3]);
    assert_eq!(out[0].to_vec::<u8>().unwrap(), vec![85, 170, 255]);
    close(&out[1], &[], &[0.011764706]);
    assert_eq!(out[2].to_vec::<u8>().unwrap(), vec![0]);
    // All zero: scale 1/255, everything 0.
    let out = dql(&[0.0, 0.0], &[2]);
    assert_eq!(out[0].to_vec::<u8>().unwrap(), vec![0, 0]);
    close(&out[1], &[], &[1.0 / 255.0]);
}

const TRAINING: &str = "ai.onnx.preview.training";

fn scalars(t: i64) -> Vec<(ValueInfoProto, Tensor)> {
    vec![
        (vi("R", DataType::Float, &[]), Tensor::scalar(0.1f32)),
        (vi("T", DataType::Int64, &[]), Tensor::scalar(t)),
    ]
}

#[test]
fn adam_over_two_tensors() {
    let n = node(
        "Adam",
        TRAINING,
        &["R", "T", "x1", "x2", "g1", "g2", "v1", "v2", "h1", "h2"],
        &["nx1", "nx2", "nv1", "nv2", "nh1", "nh2"],
        vec![
            af("alpha", 0.9),
            af("beta", 0.99),
            af("epsilon", 1e-3),
            af("norm_coefficient", 0.01),
            af("norm_coefficient_post", 0.02),
        ],
    );
    let out = run(
        &[("", 17), (TRAINING, 1)],
        n,
        &[
            Feed("x1", &[2], &[0.19, -0.48]),
            Feed("x2", &[1, 2], &[0.37, 0.57]),
            Feed("g1", &[2], &[0.68, 0.02]),
            Feed("g2", &[1, 2], &[-0.62, 0.6]),
            Feed("v1", &[2], &[0.02, 0.51]),
            Feed("v2", &[1, 2], &[-0.62, -0.84]),
            Feed("h1", &[2], &[0.7, 0.64]),
            Feed("h2", &[1, 2], &[0.71, 0.72]),
        ],
        scalars(2),
    );
    close(&out[0], &[2], &[0.17870076, -0.51244301]);
    close(&out[1], &[1, 2], &[0.41616708, 0.61830914]);
    close(&out[2], &[2], &[0.086190015, 0.46052]);
    close(&out[3], &[1, 2], &[-0.61962998, -0.69542998]);
    close(&out[4], &[2], &[0.6976499, 0.63360232]);
    close(&out[5], &[1, 2], &[0.70669824, 0.71646875]);
}

#[test]
fn momentum_and_adagrad() {
    let feeds = [
        Feed("x", &[2], &[0.19, -0.48]),
        Feed("g", &[2], &[0.68, 0.02]),
        Feed("v", &[2], &[0.02, 0.51]),
    ];
    let momentum = |mode: &str, t: i64| {
        let n = node(
            "Momentum",
            TRAINING,
            &["R", "T", "x", "g", "v"],
            &["nx", "nv"],
            vec![
                af("alpha", 0.9),
                af("beta", 0.5),
                astr("mode", mode),
                af("norm_coefficient", 0.01),
            ],
        );
        run(&[("", 17), (TRAINING, 1)], n, &feeds, scalars(t))
    };
    let out = momentum("nesterov", 2);
    close(&out[0], &[2], &[0.089504488, -0.52351397]);
    close(&out[1], &[2], &[0.35895002, 0.4666]);
    // At T = 0 the gradient's coefficient is 1, not beta.
    let out = momentum("standard", 0);
    close(&out[0], &[2], &[0.12001, -0.52741998]);
    close(&out[1], &[2], &[0.69990003, 0.47419998]);
    let n = node(
        "Adagrad",
        TRAINING,
        &["R", "T", "x", "g", "h"],
        &["nx", "nh"],
        vec![
            af("decay_factor", 0.1),
            af("epsilon", 1e-5),
            af("norm_coefficient", 0.01),
        ],
    );
    let feeds = [
        Feed("x", &[2], &[0.19, -0.48]),
        Feed("g", &[2], &[0.68, 0.02]),
        Feed("h", &[2], &[0.7, 0.64]),
    ];
    let out = run(&[("", 17), (TRAINING, 1)], n, &feeds, scalars(2));
    close(&out[0], &[2], &[0.13735285, -0.48158303]);
    close(&out[1], &[2], &[1.1649876, 0.64023101]);
}

#[test]
fn preview_domain_errors_are_typed() {
    let model = |op: &str, domain: &str, attrs: Vec<AttributeProto>| {
        import(
            &[("", 17), (domain, 1)],
            graph(
                vec![node(op, domain, &["R", "T", "x", "x", "x"], &["y"], attrs)],
                vec![
                    vi("R", DataType::Float, &[]),
                    vi("T", DataType::Int64, &[]),
                    vi("x", DataType::Float, &[2]),
                ],
                vec![],
                &["y"],
            ),
        )
    };
    match model("Gradient", TRAINING, vec![]) {
        Err(OnnxError::UnsupportedOp {
            op_type, domain, ..
        }) => {
            assert_eq!((op_type.as_str(), domain.as_str()), ("Gradient", TRAINING));
        }
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
    assert!(matches!(
        model("Momentum", "com.example", vec![]),
        Err(OnnxError::UnsupportedOp { .. })
    ));
    assert_eq!(
        bad_attr(model("Momentum", TRAINING, vec![af("beta", 1.0)])),
        "alpha"
    );
    let wrong_mode = vec![af("alpha", 1.0), af("beta", 1.0), astr("mode", "fast")];
    assert_eq!(bad_attr(model("Momentum", TRAINING, wrong_mode)), "mode");
    // Four tensors do not split into Adam's four groups of equal size... they do (n = 1):
    // three do not.
    assert_eq!(bad_attr(model("Adam", TRAINING, vec![])), "inputs");
}

// ---------------------------------------------------------------------------------------------
// Scan.

/// A Scan over `x` ([3, 2]) with state `s0` ([2]): `s = s + x_t * k`, scanned output `s`;
/// `k` is an outer value the body reads.
fn scan_sum(attrs: Vec<AttributeProto>) -> (Graph, Vec<Tensor>) {
    let untyped = |n: &str| ValueInfoProto {
        name: Some(n.into()),
        r#type: None,
    };
    let body = graph(
        vec![
            node("Mul", "", &["x_t", "k"], &["xk"], vec![]),
            node("Add", "", &["s_in", "xk"], &["s_out"], vec![]),
            node("Identity", "", &["s_out"], &["y_t"], vec![]),
        ],
        vec![untyped("s_in"), untyped("x_t")],
        vec![],
        &["s_out", "y_t"],
    );
    let mut all = vec![agraph("body", body), ai("num_scan_inputs", 1)];
    all.extend(attrs);
    let n = node("Scan", "", &["s0", "x"], &["s", "y"], all);
    let g = import(
        &[("", 16)],
        graph(
            vec![n],
            vec![
                vi("s0", DataType::Float, &[2]),
                vi("x", DataType::Float, &[3, 2]),
                vi("k", DataType::Float, &[]),
            ],
            vec![],
            &["s", "y"],
        ),
    )
    .unwrap();
    let feeds: HashMap<String, Tensor> = [
        ("s0", Tensor::from_slice(&[2], &[0f32, 0.0]).unwrap()),
        (
            "x",
            Tensor::from_slice(&[3, 2], &[1f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap(),
        ),
        ("k", Tensor::scalar(1f32)),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    let out = tessera_ir::interp::evaluate(&g, &feeds).unwrap();
    (g, out)
}

#[test]
fn scan_is_unrolled() {
    let (g, out) = scan_sum(vec![]);
    assert_eq!(count(&g, &Op::Binary(tessera_ir::BinaryOp::Add)), 3);
    close(&out[0], &[2], &[9.0, 12.0]);
    close(&out[1], &[3, 2], &[1.0, 2.0, 4.0, 6.0, 9.0, 12.0]);
    // Reversed input and output directions.
    let (_, out) = scan_sum(vec![
        AttributeProto {
            ints: vec![1],
            ..attr("scan_input_directions", AttributeType::Ints)
        },
        AttributeProto {
            ints: vec![1],
            ..attr("scan_output_directions", AttributeType::Ints)
        },
    ]);
    close(&out[0], &[2], &[9.0, 12.0]);
    close(&out[1], &[3, 2], &[9.0, 12.0, 8.0, 10.0, 5.0, 6.0]);
    // Outputs stacked along axis 1 (given as -1).
    let (_, out) = scan_sum(vec![AttributeProto {
        ints: vec![-1],
        ..attr("scan_output_axes", AttributeType::Ints)
    }]);
    close(&out[1], &[2, 3], &[1.0, 4.0, 9.0, 2.0, 6.0, 12.0]);
}

#[test]
fn scan_errors() {
    let scan = |opset: i64, attrs: Vec<AttributeProto>| {
        import(
            &[("", opset)],
            graph(
                vec![node("Scan", "", &["s0", "x"], &["s"], attrs)],
                vec![
                    vi("s0", DataType::Float, &[2]),
                    vi("x", DataType::Float, &[3, 2]),
                ],
                vec![],
                &["s"],
            ),
        )
    };
    let body = || {
        agraph(
            "body",
            graph(
                vec![node("Add", "", &["a", "b"], &["c"], vec![])],
                vec![],
                vec![],
                &["c"],
            ),
        )
    };
    assert!(matches!(
        scan(8, vec![body(), ai("num_scan_inputs", 1)]),
        Err(OnnxError::UnsupportedOp { .. })
    ));
    assert_eq!(bad_attr(scan(16, vec![ai("num_scan_inputs", 1)])), "body");
    assert_eq!(bad_attr(scan(16, vec![body()])), "num_scan_inputs");
    assert_eq!(
        bad_attr(scan(16, vec![body(), ai("num_scan_inputs", 3)])),
        "num_scan_inputs"
    );
    // The body declares no inputs but is bound two.
    assert_eq!(
        bad_attr(scan(16, vec![body(), ai("num_scan_inputs", 1)])),
        "iter0"
    );
}
