//! End-to-end tests of the signal and vision mappings in `compose_vision.rs`: one-node models
//! imported with real inference and run on the reference interpreter, against hand-computed or
//! NumPy-derived values.

use super::error::OnnxError;
use super::import_model;
use super::proto::*;
use prost::Message;
use std::collections::HashMap;
use tessera_ir::{Graph, Tensor};

fn vi(name: &str, code: DataType, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(DimensionValue::DimValue(d)),
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

fn attr_i(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn attr_s(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// Imports a one-node model at `opset` with the given inputs (name, ONNX type, dims).
fn import_one(
    opset: i64,
    op: &str,
    inputs: &[(&str, DataType, &[i64])],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> Result<Graph, OnnxError> {
    let node = NodeProto {
        input: inputs.iter().map(|(n, _, _)| n.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some("n".into()),
        op_type: Some(op.into()),
        attribute: attrs,
        ..Default::default()
    };
    let m = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(GraphProto {
            node: vec![node],
            name: Some("g".into()),
            input: inputs.iter().map(|(n, c, d)| vi(n, *c, d)).collect(),
            output: outputs
                .iter()
                .map(|o| ValueInfoProto {
                    name: Some(o.to_string()),
                    r#type: None,
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    import_model(&m.encode_to_vec(), None)
}

/// Runs `g` on named inputs; returns every output as f64s.
fn run(g: &Graph, inputs: Vec<(&str, Tensor)>) -> Vec<Vec<f64>> {
    let map: HashMap<String, Tensor> = inputs
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    let outs = tessera_ir::interp::evaluate(g, &map).unwrap();
    outs.iter()
        .map(|t| (0..t.len()).map(|i| t.get_f64(i)).collect())
        .collect()
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
    }
}

fn window(op: &str, size: i32, periodic: i64) -> Vec<f64> {
    let g = import_one(
        17,
        op,
        &[("size", DataType::Int32, &[])],
        &["w"],
        vec![attr_i("periodic", periodic), attr_i("output_datatype", 11)],
    )
    .unwrap();
    run(&g, vec![("size", Tensor::scalar(size))]).remove(0)
}

#[test]
fn windows() {
    close(&window("HannWindow", 4, 1), &[0.0, 0.5, 1.0, 0.5]);
    close(&window("HannWindow", 5, 0), &[0.0, 0.5, 1.0, 0.5, 0.0]);
    let h = [4.0 / 46.0, 25.0 / 46.0, 1.0, 25.0 / 46.0];
    close(&window("HammingWindow", 4, 1), &h);
    close(&window("BlackmanWindow", 4, 1), &[0.0, 0.34, 1.0, 0.34]);
    assert!(window("HannWindow", 0, 1).is_empty());
    let bad = import_one(
        17,
        "HannWindow",
        &[("size", DataType::Int32, &[2])],
        &["w"],
        vec![],
    );
    assert!(
        matches!(bad, Err(OnnxError::BadAttribute { .. })),
        "{bad:?}"
    );
}

#[test]
fn affine_grid_2d() {
    let theta = Tensor::from_vec(&[1, 2, 3], vec![1.0f32, 0., 0., 0., 1., 0.]).unwrap();
    let size = Tensor::from_vec(&[4], vec![1i64, 1, 2, 3]).unwrap();
    let ins: [(&str, DataType, &[i64]); 2] = [
        ("theta", DataType::Float, &[1, 2, 3]),
        ("size", DataType::Int64, &[4]),
    ];
    let g = import_one(20, "AffineGrid", &ins, &["grid"], vec![]).unwrap();
    let out = run(&g, vec![("theta", theta.clone()), ("size", size.clone())]).remove(0);
    let (a, b) = (2.0 / 3.0, 0.5);
    close(&out, &[-a, -b, 0., -b, a, -b, -a, b, 0., b, a, b]);
    let g = import_one(
        20,
        "AffineGrid",
        &ins,
        &["grid"],
        vec![attr_i("align_corners", 1)],
    )
    .unwrap();
    let out = run(&g, vec![("theta", theta), ("size", size)]).remove(0);
    close(&out, &[-1., -1., 0., -1., 1., -1., -1., 1., 0., 1., 1., 1.]);
}

#[test]
fn reverse_sequence() {
    let x: Vec<f32> = (0..16).map(|i| ((i % 4) * 4 + i / 4) as f32).collect();
    let lens = Tensor::from_vec(&[4], vec![4i64, 3, 2, 1]).unwrap();
    let ins: [(&str, DataType, &[i64]); 2] = [
        ("x", DataType::Float, &[4, 4]),
        ("lens", DataType::Int64, &[4]),
    ];
    let g = import_one(10, "ReverseSequence", &ins, &["y"], vec![]).unwrap();
    let out = run(
        &g,
        vec![("x", Tensor::from_vec(&[4, 4], x).unwrap()), ("lens", lens)],
    );
    let want = [
        3., 6., 9., 12., 2., 5., 8., 13., 1., 4., 10., 14., 0., 7., 11., 15.,
    ];
    close(&out[0], &want);
    let bad = import_one(
        10,
        "ReverseSequence",
        &ins,
        &["y"],
        vec![attr_i("time_axis", 1)],
    );
    assert!(
        matches!(bad, Err(OnnxError::BadAttribute { .. })),
        "{bad:?}"
    );
}

#[test]
fn tensor_scatter_linear_and_circular() {
    let ins: [(&str, DataType, &[i64]); 3] = [
        ("past", DataType::Float, &[1, 4, 2]),
        ("update", DataType::Float, &[1, 2, 2]),
        ("w", DataType::Int64, &[1]),
    ];
    let feed = |w: i64| {
        vec![
            (
                "past",
                Tensor::from_vec(&[1, 4, 2], vec![0.0f32; 8]).unwrap(),
            ),
            (
                "update",
                Tensor::from_vec(&[1, 2, 2], vec![1.0f32, 2., 3., 4.]).unwrap(),
            ),
            ("w", Tensor::from_vec(&[1], vec![w]).unwrap()),
        ]
    };
    let g = import_one(24, "TensorScatter", &ins, &["y"], vec![]).unwrap();
    close(&run(&g, feed(1))[0], &[0., 0., 1., 2., 3., 4., 0., 0.]);
    let g = import_one(
        24,
        "TensorScatter",
        &ins,
        &["y"],
        vec![attr_s("mode", "circular")],
    )
    .unwrap();
    close(&run(&g, feed(3))[0], &[3., 4., 0., 0., 0., 0., 1., 2.]);
    let bad = import_one(24, "TensorScatter", &ins, &["y"], vec![attr_i("axis", 0)]);
    assert!(
        matches!(bad, Err(OnnxError::BadAttribute { .. })),
        "{bad:?}"
    );
}

#[test]
fn max_unpool_default_and_output_shape() {
    let x = Tensor::from_vec(&[1, 1, 2, 2], vec![1.0f32, 2., 3., 4.]).unwrap();
    let i = Tensor::from_vec(&[1, 1, 2, 2], vec![5i64, 7, 13, 15]).unwrap();
    let attrs = || {
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
        ]
    };
    let ins: [(&str, DataType, &[i64]); 2] = [
        ("x", DataType::Float, &[1, 1, 2, 2]),
        ("i", DataType::Int64, &[1, 1, 2, 2]),
    ];
    let g = import_one(22, "MaxUnpool", &ins, &["y"], attrs()).unwrap();
    let out = run(&g, vec![("x", x.clone()), ("i", i.clone())]).remove(0);
    let mut want = vec![0.0; 16];
    for (p, v) in [(5, 1.0), (7, 2.0), (13, 3.0), (15, 4.0)] {
        want[p] = v;
    }
    close(&out, &want);
    let ins3: [(&str, DataType, &[i64]); 3] = [ins[0], ins[1], ("s", DataType::Int64, &[4])];
    let g = import_one(22, "MaxUnpool", &ins3, &["y"], attrs()).unwrap();
    let s = Tensor::from_vec(&[4], vec![1i64, 1, 5, 5]).unwrap();
    let out = run(&g, vec![("x", x), ("i", i), ("s", s)]).remove(0);
    let mut want = vec![0.0; 25];
    for (p, v) in [(6, 1.0), (8, 2.0), (16, 3.0), (18, 4.0)] {
        want[p] = v;
    }
    close(&out, &want);
    let bad = import_one(22, "MaxUnpool", &ins, &["y"], vec![]);
    assert!(
        matches!(bad, Err(OnnxError::BadAttribute { .. })),
        "{bad:?}"
    );
}

#[test]
fn mapped_ops_and_their_errors() {
    // CumProd along a runtime axis, BitCast, Det and DFT (opset 19 attribute axis).
    let ins: [(&str, DataType, &[i64]); 2] =
        [("x", DataType::Float, &[3]), ("a", DataType::Int32, &[])];
    let g = import_one(26, "CumProd", &ins, &["y"], vec![attr_i("reverse", 1)]).unwrap();
    let x = Tensor::from_vec(&[3], vec![2.0f32, 3., 4.]).unwrap();
    close(
        &run(&g, vec![("x", x.clone()), ("a", Tensor::scalar(0i32))])[0],
        &[24., 12., 4.],
    );
    let g = import_one(26, "BitCast", &ins[..1], &["y"], vec![attr_i("to", 6)]).unwrap();
    let out = tessera_ir::interp::evaluate(&g, &HashMap::from([("x".to_string(), x)])).unwrap();
    assert_eq!(out[0].to_i64_vec().unwrap()[0], 0x4000_0000);
    let strings = import_one(26, "BitCast", &ins[..1], &["y"], vec![attr_i("to", 8)]);
    assert!(
        matches!(strings, Err(OnnxError::UnsupportedDType { .. })),
        "{strings:?}"
    );
    let narrow = import_one(26, "BitCast", &ins[..1], &["y"], vec![attr_i("to", 10)]);
    assert!(matches!(narrow, Err(OnnxError::Ir { .. })), "{narrow:?}");
    let g = import_one(
        22,
        "Det",
        &[("m", DataType::Float, &[2, 2])],
        &["d"],
        vec![],
    )
    .unwrap();
    let m = Tensor::from_vec(&[2, 2], vec![1.0f32, 2., 3., 4.]).unwrap();
    close(&run(&g, vec![("m", m)])[0], &[-2.0]);
    let sig = [("s", DataType::Float, &[4i64, 1][..])];
    let g = import_one(19, "DFT", &sig, &["f"], vec![attr_i("axis", 0)]).unwrap();
    let s = Tensor::from_vec(&[4, 1], vec![1.0f32, 2., 3., 4.]).unwrap();
    close(
        &run(&g, vec![("s", s)])[0],
        &[10., 0., -2., 2., -2., 0., -2., -2.],
    );
    let gs = import_one(
        16,
        "GridSample",
        &[
            ("x", DataType::Float, &[1, 1, 2, 2]),
            ("g", DataType::Float, &[1, 1, 1, 2]),
        ],
        &["y"],
        vec![attr_s("mode", "linear")],
    );
    assert!(matches!(gs, Err(OnnxError::BadAttribute { .. })), "{gs:?}");
}

#[test]
fn ml_binarizer_and_array_feature_extractor() {
    let m = |op: &str, inputs: Vec<ValueInfoProto>, attrs: Vec<AttributeProto>| {
        let node = NodeProto {
            input: inputs.iter().filter_map(|i| i.name.clone()).collect(),
            output: vec!["y".into()],
            name: Some("n".into()),
            op_type: Some(op.into()),
            domain: Some("ai.onnx.ml".into()),
            attribute: attrs,
            ..Default::default()
        };
        let model = ModelProto {
            ir_version: Some(8),
            opset_import: vec![
                OperatorSetIdProto {
                    domain: Some(String::new()),
                    version: Some(17),
                },
                OperatorSetIdProto {
                    domain: Some("ai.onnx.ml".into()),
                    version: Some(1),
                },
            ],
            graph: Some(GraphProto {
                node: vec![node],
                name: Some("g".into()),
                input: inputs,
                output: vec![ValueInfoProto {
                    name: Some("y".into()),
                    r#type: None,
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        import_model(&model.encode_to_vec(), None)
    };
    let thr = AttributeProto {
        name: Some("threshold".into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(0.5),
        ..Default::default()
    };
    let g = m("Binarizer", vec![vi("x", DataType::Float, &[4])], vec![thr]).unwrap();
    let x = Tensor::from_vec(&[4], vec![0.2f32, 0.5, 0.7, f32::NAN]).unwrap();
    close(&run(&g, vec![("x", x)])[0], &[0., 0., 1., 0.]);
    let ins = vec![
        vi("x", DataType::Float, &[3]),
        vi("i", DataType::Int64, &[2]),
    ];
    let g = m("ArrayFeatureExtractor", ins, vec![]).unwrap();
    let out = tessera_ir::interp::evaluate(
        &g,
        &HashMap::from([
            (
                "x".to_string(),
                Tensor::from_vec(&[3], vec![1.0f32, 2., 3.]).unwrap(),
            ),
            (
                "i".to_string(),
                Tensor::from_vec(&[2], vec![2i64, 0]).unwrap(),
            ),
        ]),
    )
    .unwrap();
    assert_eq!(out[0].shape(), &[1, 2]);
    assert_eq!(out[0].get_f64(0), 3.0);
    let other = m("Scaler", vec![vi("x", DataType::Float, &[3])], vec![]);
    assert!(
        matches!(other, Err(OnnxError::UnsupportedOp { .. })),
        "{other:?}"
    );
}
