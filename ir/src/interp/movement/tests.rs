//! Tests of the movement operators: hand-computed (or NumPy-derived) values per op, including
//! negative axes, empty tensors, rank 0, extreme slice bounds and every error path.

use super::eval;
use crate::attr::{PadMode, ScatterReduction};
use crate::error::{At, IrError};
use crate::op::Op;
use crate::tensor::{Element, Tensor};

fn at() -> At {
    At {
        node: "n".into(),
        op: "test",
    }
}

fn t<T: Element>(shape: &[usize], v: &[T]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}

fn i64s(v: &[i64]) -> Tensor {
    t(&[v.len()], v)
}

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    t(shape, v)
}

/// `0, 1, 2, ...` as f32 in `shape`.
fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
    t(shape, &v)
}

fn run_n(op: &Op, inputs: &[Option<&Tensor>], n: usize) -> Vec<Tensor> {
    eval(op, &at(), inputs, n).unwrap()
}

fn run(op: &Op, inputs: &[Option<&Tensor>]) -> Tensor {
    run_n(op, inputs, 1).remove(0)
}

fn err(op: &Op, inputs: &[Option<&Tensor>]) -> IrError {
    eval(op, &at(), inputs, 1).unwrap_err()
}

/// Shape and f32 values of a result.
fn sv(x: &Tensor) -> (Vec<usize>, Vec<f32>) {
    (x.shape().to_vec(), x.to_vec::<f32>().unwrap())
}

fn is_shape_err(e: &IrError) -> bool {
    matches!(e, IrError::InputShape { .. })
}

fn is_eval_err(e: &IrError) -> bool {
    matches!(e, IrError::Eval { .. })
}

#[test]
fn reshape_copies_zero_and_infers_minus_one() {
    let op = Op::Reshape { allowzero: false };
    let x = iota(&[2, 3, 4]);
    let y = run(&op, &[Some(&x), Some(&i64s(&[0, -1]))]);
    assert_eq!(y.shape(), &[2, 12]);
    assert_eq!(y.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    assert_eq!(
        run(&op, &[Some(&x), Some(&i64s(&[-1, 2]))]).shape(),
        &[12, 2]
    );
    // Rank 0 <-> [1].
    let s = Tensor::scalar(7i32);
    let y = run(&op, &[Some(&s), Some(&i64s(&[1, -1]))]);
    assert_eq!(
        (y.shape(), y.to_vec::<i32>().unwrap()),
        (&[1, 1][..], vec![7])
    );
    let back = run(&op, &[Some(&y), Some(&i64s(&[]))]);
    assert_eq!(back, s);
    // Empty input: 0 copies the input dim at its position, -1 infers 0.
    let e = iota(&[0, 3]);
    assert_eq!(
        run(&op, &[Some(&e), Some(&i64s(&[3, -1]))]).shape(),
        &[3, 0]
    );
    assert_eq!(
        run(&op, &[Some(&e), Some(&i64s(&[-1, 0]))]).shape(),
        &[0, 3]
    );
    assert!(is_shape_err(&err(&op, &[Some(&e), Some(&i64s(&[3, 0]))])));
    // allowzero keeps a literal 0.
    let az = Op::Reshape { allowzero: true };
    assert_eq!(run(&az, &[Some(&e), Some(&i64s(&[0, 5]))]).shape(), &[0, 5]);
    // Extreme integer values move exactly.
    let u = t(&[2], &[u64::MAX, 1]);
    let y = run(&op, &[Some(&u), Some(&i64s(&[2, 1]))]);
    assert_eq!(y.to_vec::<u64>().unwrap(), vec![u64::MAX, 1]);
}

#[test]
fn reshape_errors() {
    let op = Op::Reshape { allowzero: false };
    let x = iota(&[2, 3]);
    assert!(is_shape_err(&err(&op, &[Some(&x), Some(&i64s(&[-1, -1]))])));
    assert!(is_shape_err(&err(&op, &[Some(&x), Some(&i64s(&[4, 2]))])));
    assert!(is_shape_err(&err(&op, &[Some(&x), Some(&i64s(&[-1, 4]))])));
    assert!(is_shape_err(&err(
        &op,
        &[Some(&x), Some(&i64s(&[6, 1, 0]))]
    )));
    assert!(is_eval_err(&err(&op, &[Some(&x), Some(&i64s(&[-2, -3]))])));
    let az = Op::Reshape { allowzero: true };
    let e = iota(&[0, 3]);
    assert!(is_shape_err(&err(&az, &[Some(&e), Some(&i64s(&[0, -1]))])));
    // A float shape operand is refused with a message.
    let bad = f32s(&[2], &[3.0, 2.0]);
    assert!(is_eval_err(&err(&op, &[Some(&x), Some(&bad)])));
}

#[test]
fn transpose_permutes_and_reverses() {
    let x = iota(&[2, 3]);
    let y = run(&Op::Transpose { perm: vec![] }, &[Some(&x)]);
    assert_eq!(sv(&y), (vec![3, 2], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
    let x = iota(&[2, 1, 3]);
    let y = run(
        &Op::Transpose {
            perm: vec![2, 0, 1],
        },
        &[Some(&x)],
    );
    assert_eq!(sv(&y), (vec![3, 2, 1], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
    // Bool, rank 0 and empty tensors.
    let b = t(&[2, 2], &[true, false, false, false]);
    let y = run(&Op::Transpose { perm: vec![] }, &[Some(&b)]);
    assert_eq!(y.to_vec::<bool>().unwrap(), vec![true, false, false, false]);
    let s = Tensor::scalar(1.5f64);
    assert_eq!(run(&Op::Transpose { perm: vec![] }, &[Some(&s)]), s);
    let e = iota(&[0, 2]);
    assert_eq!(
        run(&Op::Transpose { perm: vec![] }, &[Some(&e)]).shape(),
        &[2, 0]
    );
    for perm in [vec![0, 0], vec![0], vec![0, 2], vec![-1, 0]] {
        let e = err(
            &Op::Transpose { perm },
            &[Some(&x.clone().reshaped(&[2, 3]).unwrap())],
        );
        assert!(matches!(e, IrError::Attribute { attr: "perm", .. }));
    }
}

#[test]
fn expand_broadcasts_both_ways() {
    let x = f32s(&[3, 1], &[1.0, 2.0, 3.0]);
    let y = run(&Op::Expand {}, &[Some(&x), Some(&i64s(&[2, 1, 2]))]);
    assert_eq!(
        sv(&y),
        (
            vec![2, 3, 2],
            vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
        )
    );
    // The output may be larger than `shape` (bidirectional).
    let y = run(&Op::Expand {}, &[Some(&x), Some(&i64s(&[1]))]);
    assert_eq!(y.shape(), &[3, 1]);
    let y = run(&Op::Expand {}, &[Some(&x), Some(&i64s(&[0, 1, 1]))]);
    assert_eq!(y.shape(), &[0, 3, 1]);
    assert!(is_shape_err(&err(
        &Op::Expand {},
        &[Some(&x), Some(&i64s(&[0, 1]))]
    )));
    let e = err(&Op::Expand {}, &[Some(&x), Some(&i64s(&[2, 2]))]);
    assert!(is_shape_err(&e));
    assert!(is_eval_err(&err(
        &Op::Expand {},
        &[Some(&x), Some(&i64s(&[-1]))]
    )));
}

#[test]
fn squeeze_and_unsqueeze() {
    let x = iota(&[1, 3, 1]);
    assert_eq!(run(&Op::Squeeze {}, &[Some(&x)]).shape(), &[3]);
    assert_eq!(
        run(&Op::Squeeze {}, &[Some(&x), Some(&i64s(&[-1]))]).shape(),
        &[1, 3]
    );
    // An empty axes list squeezes nothing (as the reference does).
    assert_eq!(
        run(&Op::Squeeze {}, &[Some(&x), Some(&i64s(&[]))]).shape(),
        &[1, 3, 1]
    );
    assert!(is_shape_err(&err(
        &Op::Squeeze {},
        &[Some(&x), Some(&i64s(&[1]))]
    )));
    assert!(is_eval_err(&err(
        &Op::Squeeze {},
        &[Some(&x), Some(&i64s(&[3]))]
    )));
    assert!(is_eval_err(&err(
        &Op::Squeeze {},
        &[Some(&x), Some(&i64s(&[0, -3]))]
    )));
    let y = iota(&[3]);
    let u = run(&Op::Unsqueeze {}, &[Some(&y), Some(&i64s(&[0, -1]))]);
    assert_eq!(sv(&u), (vec![1, 3, 1], vec![0.0, 1.0, 2.0]));
    let u = run(&Op::Unsqueeze {}, &[Some(&y), Some(&i64s(&[2, 0]))]);
    assert_eq!(u.shape(), &[1, 3, 1]);
    let s = Tensor::scalar(4i8);
    assert_eq!(
        run(&Op::Unsqueeze {}, &[Some(&s), Some(&i64s(&[0]))]).shape(),
        &[1]
    );
    assert!(is_eval_err(&err(
        &Op::Unsqueeze {},
        &[Some(&y), Some(&i64s(&[0, 0]))]
    )));
    assert!(is_eval_err(&err(
        &Op::Unsqueeze {},
        &[Some(&y), Some(&i64s(&[2]))]
    )));
    assert!(is_eval_err(&err(&Op::Unsqueeze {}, &[Some(&y)])));
}

#[test]
fn flatten_axes() {
    let x = iota(&[2, 3, 4]);
    let shape = |axis| run(&Op::Flatten { axis }, &[Some(&x)]).shape().to_vec();
    assert_eq!(shape(0), vec![1, 24]);
    assert_eq!(shape(1), vec![2, 12]);
    assert_eq!(shape(3), vec![24, 1]);
    assert_eq!(shape(-1), vec![6, 4]);
    assert_eq!(shape(-3), vec![1, 24]);
    let e = err(&Op::Flatten { axis: 4 }, &[Some(&x)]);
    assert!(matches!(e, IrError::Attribute { attr: "axis", .. }));
    assert!(matches!(
        err(&Op::Flatten { axis: -4 }, &[Some(&x)]),
        IrError::Attribute { .. }
    ));
    let s = Tensor::scalar(2u16);
    assert_eq!(run(&Op::Flatten { axis: 0 }, &[Some(&s)]).shape(), &[1, 1]);
}

#[test]
fn concat_joins_with_empty_parts() {
    let a = t(&[2, 1], &[1i32, 2]);
    let b = t(&[2, 2], &[3i32, 4, 5, 6]);
    let e = t::<i32>(&[2, 0], &[]);
    let y = run(&Op::Concat { axis: -1 }, &[Some(&a), Some(&e), Some(&b)]);
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 3, 4, 2, 5, 6]);
    let y = run(&Op::Concat { axis: 0 }, &[Some(&b), Some(&b)]);
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![3, 4, 5, 6, 3, 4, 5, 6]);
    let only = run(&Op::Concat { axis: 1 }, &[Some(&e)]);
    assert_eq!(only.shape(), &[2, 0]);
    // Errors: dtype, other dims, rank 0, bad axis, no inputs.
    let f = f32s(&[2, 1], &[1.0, 2.0]);
    let d = err(&Op::Concat { axis: 1 }, &[Some(&a), Some(&f)]);
    assert!(matches!(d, IrError::InputDType { input: 1, .. }));
    assert!(is_shape_err(&err(
        &Op::Concat { axis: 0 },
        &[Some(&a), Some(&b)]
    )));
    let s = Tensor::scalar(1i32);
    assert!(matches!(
        err(&Op::Concat { axis: 0 }, &[Some(&s), Some(&s)]),
        IrError::Attribute { .. }
    ));
    assert!(matches!(
        err(&Op::Concat { axis: 2 }, &[Some(&a)]),
        IrError::Attribute { .. }
    ));
    assert!(is_eval_err(&err(&Op::Concat { axis: 0 }, &[])));
}

#[test]
fn split_by_sizes_and_by_count() {
    let x = iota(&[7]);
    let op = Op::Split {
        axis: 0,
        num_outputs: Some(3),
    };
    let parts = run_n(&op, &[Some(&x)], 3);
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    assert_eq!(lens, vec![3, 3, 1]);
    assert_eq!(parts[2].to_vec::<f32>().unwrap(), vec![6.0]);
    // Without the attribute, the node's output count decides.
    let op = Op::Split {
        axis: -1,
        num_outputs: None,
    };
    let x2 = iota(&[2, 4]);
    let parts = run_n(&op, &[Some(&x2)], 2);
    assert_eq!(sv(&parts[1]), (vec![2, 2], vec![2.0, 3.0, 6.0, 7.0]));
    let parts = run_n(&op, &[Some(&x2), Some(&i64s(&[1, 0, 3]))], 3);
    assert_eq!(sv(&parts[0]), (vec![2, 1], vec![0.0, 4.0]));
    assert_eq!(parts[1].shape(), &[2, 0]);
    assert_eq!(
        sv(&parts[2]),
        (vec![2, 3], vec![1.0, 2.0, 3.0, 5.0, 6.0, 7.0])
    );
    // Errors: sizes not summing to the dim, too many chunks, output count mismatch.
    let e = eval(&op, &at(), &[Some(&x2), Some(&i64s(&[1, 2]))], 2).unwrap_err();
    assert!(is_shape_err(&e));
    let five = iota(&[5]);
    let op4 = Op::Split {
        axis: 0,
        num_outputs: Some(4),
    };
    assert!(is_shape_err(
        &eval(&op4, &at(), &[Some(&five)], 4).unwrap_err()
    ));
    let op2 = Op::Split {
        axis: 0,
        num_outputs: Some(2),
    };
    assert!(is_eval_err(
        &eval(&op2, &at(), &[Some(&five)], 3).unwrap_err()
    ));
    let op0 = Op::Split {
        axis: 0,
        num_outputs: Some(0),
    };
    assert!(matches!(
        eval(&op0, &at(), &[Some(&five)], 1).unwrap_err(),
        IrError::Attribute { .. }
    ));
}

/// Runs Slice with all five operands.
fn slice(x: &Tensor, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Tensor {
    let (s, e, a, st) = (i64s(starts), i64s(ends), i64s(axes), i64s(steps));
    run(
        &Op::Slice {},
        &[Some(x), Some(&s), Some(&e), Some(&a), Some(&st)],
    )
}

#[test]
fn slice_clamps_like_onnx() {
    let x = iota(&[2, 5]);
    let y = slice(&x, &[1, 3], &[2, 100], &[0, 1], &[1, 1]);
    assert_eq!(sv(&y), (vec![1, 2], vec![8.0, 9.0]));
    // Full reverse with INT64 bounds.
    let y = slice(&x, &[i64::MAX], &[i64::MIN], &[-1], &[-1]);
    assert_eq!(y.to_vec::<f32>().unwrap()[..5], [4.0, 3.0, 2.0, 1.0, 0.0]);
    // Forward with INT64 bounds and step 2.
    let y = slice(&x, &[i64::MIN], &[i64::MAX], &[1], &[2]);
    assert_eq!(sv(&y), (vec![2, 3], vec![0.0, 2.0, 4.0, 5.0, 7.0, 9.0]));
    // Negative start and end with a negative step: 4, 2 (end -5 -> 0 exclusive).
    let y = slice(&x, &[-1], &[-5], &[1], &[-2]);
    assert_eq!(sv(&y), (vec![2, 2], vec![4.0, 2.0, 9.0, 7.0]));
    // A start below -dim with a negative step clamps to 0 (ONNX rule).
    let y = slice(&x, &[-100], &[-100], &[1], &[-1]);
    assert_eq!(sv(&y), (vec![2, 1], vec![0.0, 5.0]));
    // Empty windows.
    let y = slice(&x, &[3], &[1], &[1], &[1]);
    assert_eq!(y.shape(), &[2, 0]);
    let y = slice(&x, &[5], &[10], &[1], &[1]);
    assert_eq!(y.shape(), &[2, 0]);
    // Defaults: axes 0.., steps 1.
    let (s, e) = (i64s(&[1]), i64s(&[2]));
    let y = run(&Op::Slice {}, &[Some(&x), Some(&s), Some(&e)]);
    assert_eq!(sv(&y), (vec![1, 5], vec![5.0, 6.0, 7.0, 8.0, 9.0]));
    // Empty input.
    let z = iota(&[0, 3]);
    assert_eq!(slice(&z, &[-1], &[i64::MIN], &[1], &[-1]).shape(), &[0, 3]);
    assert_eq!(slice(&z, &[0], &[-1], &[1], &[-1]).shape(), &[0, 0]);
}

#[test]
fn slice_errors() {
    let x = iota(&[2, 5]);
    let (s, e) = (i64s(&[0]), i64s(&[1]));
    let step0 = i64s(&[0]);
    let ax = i64s(&[0]);
    let r = err(
        &Op::Slice {},
        &[Some(&x), Some(&s), Some(&e), Some(&ax), Some(&step0)],
    );
    assert!(r.to_string().contains("step"));
    let (s2, e2, rep) = (i64s(&[0, 0]), i64s(&[1, 1]), i64s(&[1, -1]));
    assert!(is_eval_err(&err(
        &Op::Slice {},
        &[Some(&x), Some(&s2), Some(&e2), Some(&rep)]
    )));
    assert!(is_shape_err(&err(
        &Op::Slice {},
        &[Some(&x), Some(&s2), Some(&e)]
    )));
    let far = i64s(&[2]);
    assert!(is_eval_err(&err(
        &Op::Slice {},
        &[Some(&x), Some(&s), Some(&e), Some(&far)]
    )));
}

/// Runs Pad over all axes.
fn pad(mode: PadMode, x: &Tensor, pads: &[i64]) -> Result<Tensor, IrError> {
    eval(&Op::Pad { mode }, &at(), &[Some(x), Some(&i64s(pads))], 1).map(|mut v| v.remove(0))
}

#[test]
fn pad_modes() {
    let x = f32s(&[3], &[1.0, 2.0, 3.0]);
    let v = |m, p: &[i64]| pad(m, &x, p).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(
        v(PadMode::Constant, &[2, 1]),
        vec![0.0, 0.0, 1.0, 2.0, 3.0, 0.0]
    );
    assert_eq!(
        v(PadMode::Edge, &[2, 1]),
        vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0]
    );
    assert_eq!(
        v(PadMode::Wrap, &[2, 4]),
        vec![2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]
    );
    assert_eq!(
        v(PadMode::Reflect, &[2, 1]),
        vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0]
    );
    // Reflect beyond the axis repeats the mirror (numpy: [1 2 1 0 1 2 1 0 1 2 ...]).
    let r = f32s(&[3], &[0.0, 1.0, 2.0]);
    let y = pad(PadMode::Reflect, &r, &[5, 5])
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let want = [
        1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0,
    ];
    assert_eq!(y, want);
    // Negative pads crop.
    assert_eq!(v(PadMode::Constant, &[-1, 1]), vec![2.0, 3.0, 0.0]);
    assert_eq!(v(PadMode::Edge, &[0, -3]), Vec::<f32>::new());
}

#[test]
fn pad_constant_value_and_axes() {
    let x = t(&[2, 2], &[1i32, 2, 3, 4]);
    let c = Tensor::scalar(9i32);
    let axes = i64s(&[-1]);
    let pads = i64s(&[1, 0]);
    let op = Op::Pad {
        mode: PadMode::Constant,
    };
    let y = run(&op, &[Some(&x), Some(&pads), Some(&c), Some(&axes)]);
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![9, 1, 2, 9, 3, 4]);
    // Both axes, reflect on 2x2: rows [2 1 2] from row [1 2].
    let y = pad(PadMode::Reflect, &x, &[1, 1, 0, 0]).unwrap();
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![4, 3, 4, 2, 1, 2, 4, 3, 4]);
    // Padding an empty axis with a constant is fine.
    let e = iota(&[0, 2]);
    let y = pad(PadMode::Constant, &e, &[1, 0, 0, 0]).unwrap();
    assert_eq!(sv(&y), (vec![1, 2], vec![0.0, 0.0]));
    // A wrong-dtype constant is refused.
    let f = Tensor::scalar(1.0f32);
    let d = err(&op, &[Some(&x), Some(&pads), Some(&f), Some(&axes)]);
    assert!(matches!(d, IrError::InputDType { input: 2, .. }));
}

#[test]
fn pad_errors() {
    let one = f32s(&[1], &[5.0]);
    assert!(is_shape_err(
        &pad(PadMode::Reflect, &one, &[1, 0]).unwrap_err()
    ));
    let e = iota(&[0]);
    for m in [PadMode::Edge, PadMode::Wrap, PadMode::Reflect] {
        assert!(is_shape_err(&pad(m, &e, &[0, 1]).unwrap_err()));
    }
    let x = iota(&[3]);
    assert!(is_shape_err(&pad(PadMode::Constant, &x, &[1]).unwrap_err()));
    assert!(is_shape_err(
        &pad(PadMode::Constant, &x, &[-2, -2]).unwrap_err()
    ));
    let op = Op::Pad {
        mode: PadMode::Constant,
    };
    let (p, ax) = (i64s(&[1, 1, 1, 1]), i64s(&[0, 0]));
    assert!(is_eval_err(&err(
        &op,
        &[Some(&x), Some(&p), None, Some(&ax)]
    )));
}

#[test]
fn tile_shape_size() {
    let x = t(&[2], &[1i64, 2]);
    let y = run(&Op::Tile {}, &[Some(&x), Some(&i64s(&[3]))]);
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![1, 2, 1, 2, 1, 2]);
    let m = iota(&[2, 1]);
    let y = run(&Op::Tile {}, &[Some(&m), Some(&i64s(&[2, 2]))]);
    assert_eq!(
        sv(&y),
        (vec![4, 2], vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    );
    assert_eq!(
        run(&Op::Tile {}, &[Some(&m), Some(&i64s(&[1, 0]))]).shape(),
        &[2, 0]
    );
    assert!(is_shape_err(&err(
        &Op::Tile {},
        &[Some(&m), Some(&i64s(&[2]))]
    )));
    assert!(is_eval_err(&err(
        &Op::Tile {},
        &[Some(&m), Some(&i64s(&[2, -1]))]
    )));

    let x = iota(&[2, 3, 4]);
    let shape = |start, end| {
        let y = run(&Op::Shape { start, end }, &[Some(&x)]);
        y.to_vec::<i64>().unwrap()
    };
    assert_eq!(shape(0, None), vec![2, 3, 4]);
    assert_eq!(shape(1, Some(-1)), vec![3]);
    assert_eq!(shape(-1, None), vec![4]);
    assert_eq!(shape(-10, Some(10)), vec![2, 3, 4]);
    assert_eq!(shape(2, Some(1)), Vec::<i64>::new());
    assert_eq!(shape(-3, Some(-3)), Vec::<i64>::new());
    let s = run(
        &Op::Shape {
            start: 0,
            end: None,
        },
        &[Some(&Tensor::scalar(1u8))],
    );
    assert_eq!(s.shape(), &[0]);
    let n = run(&Op::Size {}, &[Some(&x)]);
    assert_eq!((n.shape(), n.to_vec::<i64>().unwrap()), (&[][..], vec![24]));
    let n = run(&Op::Size {}, &[Some(&iota(&[3, 0]))]);
    assert_eq!(n.to_vec::<i64>().unwrap(), vec![0]);
}

#[test]
fn range_values() {
    let r = |s: Tensor, l: Tensor, d: Tensor| {
        eval(&Op::Range {}, &at(), &[Some(&s), Some(&l), Some(&d)], 1)
    };
    let y = r(
        Tensor::scalar(10i32),
        Tensor::scalar(4i32),
        Tensor::scalar(-3i32),
    )
    .unwrap();
    assert_eq!(y[0].to_vec::<i32>().unwrap(), vec![10, 7]);
    let y = r(
        Tensor::scalar(1.0f32),
        Tensor::scalar(2.0f32),
        Tensor::scalar(0.3f32),
    )
    .unwrap();
    let v = y[0].to_vec::<f32>().unwrap();
    assert_eq!(v.len(), 4);
    assert_eq!(v[3], (1.0f64 + 3.0 * 0.3f32 as f64) as f32);
    let y = r(
        Tensor::scalar(5i64),
        Tensor::scalar(1i64),
        Tensor::scalar(2i64),
    )
    .unwrap();
    assert_eq!(y[0].shape(), &[0]);
    // Extreme i64 bounds stay exact.
    let y = r(
        Tensor::scalar(i64::MAX - 2),
        Tensor::scalar(i64::MAX),
        Tensor::scalar(1i64),
    )
    .unwrap();
    assert_eq!(
        y[0].to_vec::<i64>().unwrap(),
        vec![i64::MAX - 2, i64::MAX - 1]
    );
    let e = r(
        Tensor::scalar(0i64),
        Tensor::scalar(3i64),
        Tensor::scalar(0i64),
    )
    .unwrap_err();
    assert!(e.to_string().contains("delta is 0"));
    let e = r(
        Tensor::scalar(0.0f32),
        Tensor::scalar(3.0f32),
        Tensor::scalar(0.0f32),
    )
    .unwrap_err();
    assert!(is_eval_err(&e));
    let e = r(
        Tensor::scalar(0i64),
        Tensor::scalar(3i32),
        Tensor::scalar(1i64),
    )
    .unwrap_err();
    assert!(is_shape_err(&e));
    let e = r(i64s(&[0, 1]), Tensor::scalar(3i64), Tensor::scalar(1i64)).unwrap_err();
    assert!(is_eval_err(&e));
    let e = r(
        Tensor::scalar(0.0f64),
        Tensor::scalar(f64::INFINITY),
        Tensor::scalar(1.0f64),
    );
    assert!(is_eval_err(&e.unwrap_err()));
}

#[test]
fn constant_of_shape_fills() {
    let op = Op::ConstantOfShape {
        value: t(&[1], &[7i32]),
    };
    let y = run(&op, &[Some(&i64s(&[2, 3]))]);
    assert_eq!(
        (y.shape(), y.to_vec::<i32>().unwrap()),
        (&[2, 3][..], vec![7; 6])
    );
    let y = run(&op, &[Some(&i64s(&[]))]);
    assert_eq!((y.shape(), y.to_vec::<i32>().unwrap()), (&[][..], vec![7]));
    let y = run(&op, &[Some(&i64s(&[0, 4]))]);
    assert_eq!(y.shape(), &[0, 4]);
    assert!(is_eval_err(&err(&op, &[Some(&i64s(&[2, -1]))])));
    let zero = Op::from_parts("constant_of_shape", vec![]).unwrap();
    let y = run(&zero, &[Some(&i64s(&[2]))]);
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
    let two = Op::ConstantOfShape {
        value: t(&[2], &[1i32, 2]),
    };
    assert!(is_eval_err(&err(&two, &[Some(&i64s(&[2]))])));
}

#[test]
fn trilu_keeps_triangles() {
    let x = t(&[3, 3], &[1i64, 2, 3, 4, 5, 6, 7, 8, 9]);
    let k = |v: i64| Tensor::scalar(v);
    let y = run(&Op::Trilu { upper: true }, &[Some(&x), Some(&k(1))]);
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 2, 3, 0, 0, 6, 0, 0, 0]);
    let y = run(&Op::Trilu { upper: false }, &[Some(&x), Some(&k(-1))]);
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 0, 0, 4, 0, 0, 7, 8, 0]);
    let y = run(&Op::Trilu { upper: true }, &[Some(&x)]);
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![1, 2, 3, 0, 5, 6, 0, 0, 9]);
    // Batched, non-square, huge k.
    let b = iota(&[2, 2, 3]);
    let y = run(&Op::Trilu { upper: false }, &[Some(&b), None]);
    let want = [0.0, 0.0, 0.0, 3.0, 4.0, 0.0, 6.0, 0.0, 0.0, 9.0, 10.0, 0.0];
    assert_eq!(sv(&y).1, want);
    let y = run(&Op::Trilu { upper: true }, &[Some(&b), Some(&k(i64::MIN))]);
    assert_eq!(y, b);
    assert!(is_shape_err(&err(
        &Op::Trilu { upper: true },
        &[Some(&iota(&[3]))]
    )));
}

#[test]
fn dropout_is_identity_in_inference() {
    let op = Op::Dropout { seed: None };
    let x = f32s(&[2], &[1.0, f32::NAN]);
    let out = run_n(&op, &[Some(&x)], 2);
    assert_eq!(out[0].bytes(), x.bytes());
    assert_eq!(out[1].to_vec::<bool>().unwrap(), vec![true, true]);
    let ratio = Tensor::scalar(0.0f32);
    let train = Tensor::scalar(true);
    let out = run_n(&op, &[Some(&x), Some(&ratio), Some(&train)], 1);
    assert_eq!(out[0].bytes(), x.bytes());
    let off = Tensor::scalar(false);
    let half = Tensor::scalar(0.5f32);
    assert_eq!(run_n(&op, &[Some(&x), Some(&half), Some(&off)], 2).len(), 2);
    let e = err(&op, &[Some(&x), Some(&half), Some(&train)]);
    assert!(e.to_string().contains("random"));
    assert!(matches!(e, crate::error::IrError::Nondeterministic { .. }));
}

#[test]
fn nonzero_coordinates() {
    let x = f32s(&[2, 3], &[0.0, 1.0, 0.0, f32::NAN, -0.0, 2.0]);
    let y = run(&Op::NonZero {}, &[Some(&x)]);
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 1, 1, 1, 0, 2]);
    let s = run(&Op::NonZero {}, &[Some(&Tensor::scalar(3i8))]);
    assert_eq!(s.shape(), &[0, 1]);
    let e = run(&Op::NonZero {}, &[Some(&iota(&[0, 2]))]);
    assert_eq!(e.shape(), &[2, 0]);
}

#[test]
fn gather_along_axes() {
    let x = iota(&[3, 2]);
    let idx = t(&[2, 2], &[0i32, 1, -1, 0]);
    let y = run(&Op::Gather { axis: 0 }, &[Some(&x), Some(&idx)]);
    assert_eq!(
        sv(&y),
        (vec![2, 2, 2], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 1.0])
    );
    let y = run(
        &Op::Gather { axis: -1 },
        &[Some(&x), Some(&t(&[1], &[-1i8]))],
    );
    assert_eq!(sv(&y), (vec![3, 1], vec![1.0, 3.0, 5.0]));
    // A scalar index drops the axis; empty indices give an empty result.
    let y = run(
        &Op::Gather { axis: 1 },
        &[Some(&x), Some(&Tensor::scalar(1u8))],
    );
    assert_eq!(sv(&y), (vec![3], vec![1.0, 3.0, 5.0]));
    let y = run(
        &Op::Gather { axis: 1 },
        &[Some(&x), Some(&t::<i64>(&[0], &[]))],
    );
    assert_eq!(y.shape(), &[3, 0]);
    let e = err(&Op::Gather { axis: 0 }, &[Some(&x), Some(&i64s(&[3]))]);
    assert!(is_eval_err(&e));
    assert!(e.to_string().contains("index 3") && e.to_string().contains("extent 3"));
    assert!(is_eval_err(&err(
        &Op::Gather { axis: 0 },
        &[Some(&x), Some(&i64s(&[-4]))]
    )));
    let fl = f32s(&[1], &[0.0]);
    assert!(is_eval_err(&err(
        &Op::Gather { axis: 0 },
        &[Some(&x), Some(&fl)]
    )));
    assert!(matches!(
        err(&Op::Gather { axis: 2 }, &[Some(&x), Some(&i64s(&[0]))]),
        IrError::Attribute { .. }
    ));
}

#[test]
fn gather_elements_and_nd() {
    let x = t(&[2, 2], &[1i32, 2, 3, 4]);
    let idx = t(&[2, 2], &[0i64, 0, 1, 0]);
    let y = run(&Op::GatherElements { axis: 1 }, &[Some(&x), Some(&idx)]);
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 1, 4, 3]);
    let neg = t(&[1, 2], &[-1i64, 0]);
    let y = run(&Op::GatherElements { axis: 0 }, &[Some(&x), Some(&neg)]);
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![3, 2]);
    let bad = t(&[1, 1], &[2i64]);
    assert!(is_eval_err(&err(
        &Op::GatherElements { axis: 0 },
        &[Some(&x), Some(&bad)]
    )));
    let wide = t(&[1, 3], &[0i64, 0, 0]);
    assert!(is_shape_err(&err(
        &Op::GatherElements { axis: 0 },
        &[Some(&x), Some(&wide)]
    )));

    // ONNX GatherND examples.
    let nd = Op::GatherND { batch_dims: 0 };
    let idx = t(&[2, 1], &[1i64, 0]);
    assert_eq!(
        run(&nd, &[Some(&x), Some(&idx)]).to_vec::<i32>().unwrap(),
        vec![3, 4, 1, 2]
    );
    let idx = t(&[2, 2], &[0i64, 0, -1, -1]);
    assert_eq!(
        run(&nd, &[Some(&x), Some(&idx)]).to_vec::<i32>().unwrap(),
        vec![1, 4]
    );
    let x3 = t(&[2, 2, 2], &[0i32, 1, 2, 3, 4, 5, 6, 7]);
    let b1 = Op::GatherND { batch_dims: 1 };
    let idx = t(&[2, 1], &[1i64, 0]);
    let y = run(&b1, &[Some(&x3), Some(&idx)]);
    assert_eq!(
        (y.shape(), y.to_vec::<i32>().unwrap()),
        (&[2, 2][..], vec![2, 3, 4, 5])
    );
    let long = t(&[1, 3], &[0i64, 0, 0]);
    assert!(is_shape_err(&err(&nd, &[Some(&x), Some(&long)])));
    assert!(is_eval_err(&err(
        &nd,
        &[Some(&x), Some(&t(&[1, 1], &[5i64]))]
    )));
    let neg = Op::GatherND { batch_dims: -1 };
    assert!(matches!(
        err(&neg, &[Some(&x), Some(&idx)]),
        IrError::Attribute { .. }
    ));
}

#[test]
fn scatter_nd_reductions() {
    // ONNX ScatterND example 1.
    let data = t(&[8], &[1i64, 2, 3, 4, 5, 6, 7, 8]);
    let idx = t(&[4, 1], &[4i64, 3, 1, 7]);
    let upd = t(&[4], &[9i64, 10, 11, 12]);
    let op = |reduction| Op::ScatterND { reduction };
    let y = run(
        &op(ScatterReduction::None),
        &[Some(&data), Some(&idx), Some(&upd)],
    );
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![1, 11, 3, 10, 9, 6, 7, 12]);
    // Duplicates accumulate in order; negative indices count back.
    let idx = t(&[2, 1], &[0i64, -8]);
    let upd = t(&[2], &[5i64, 6]);
    let y = run(
        &op(ScatterReduction::Add),
        &[Some(&data), Some(&idx), Some(&upd)],
    );
    assert_eq!(y.to_vec::<i64>().unwrap()[0], 12);
    let y = run(
        &op(ScatterReduction::Mul),
        &[Some(&data), Some(&idx), Some(&upd)],
    );
    assert_eq!(y.to_vec::<i64>().unwrap()[0], 30);
    // i8 products wrap at every step.
    let d8 = t(&[1], &[100i8]);
    let i1 = t(&[1, 1], &[0i64]);
    let u8_ = t(&[1], &[3i8]);
    let y = run(
        &op(ScatterReduction::Mul),
        &[Some(&d8), Some(&i1), Some(&u8_)],
    );
    assert_eq!(y.to_vec::<i8>().unwrap(), vec![44]);
    // Max/min propagate NaN; slices of a 2-D data.
    let f = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let u = f32s(&[1, 2], &[f32::NAN, 0.5]);
    let y = run(&op(ScatterReduction::Max), &[Some(&f), Some(&i1), Some(&u)]);
    let v = y.to_vec::<f32>().unwrap();
    assert!(v[0].is_nan());
    assert_eq!(&v[1..], &[2.0, 3.0, 4.0]);
    let y = run(&op(ScatterReduction::Min), &[Some(&f), Some(&i1), Some(&u)]);
    assert_eq!(y.to_vec::<f32>().unwrap()[1], 0.5);
    // Errors: update shape, dtype, index range.
    let bad = f32s(&[2], &[0.0, 0.0]);
    assert!(is_shape_err(&err(
        &op(ScatterReduction::None),
        &[Some(&f), Some(&i1), Some(&bad)]
    )));
    let wrong = t(&[1, 2], &[1i32, 2]);
    let e = err(
        &op(ScatterReduction::None),
        &[Some(&f), Some(&i1), Some(&wrong)],
    );
    assert!(matches!(e, IrError::InputDType { input: 2, .. }));
    let far = t(&[1, 1], &[2i64]);
    assert!(is_eval_err(&err(
        &op(ScatterReduction::None),
        &[Some(&f), Some(&far), Some(&u)]
    )));
}

#[test]
fn scatter_elements_along_axis() {
    // ONNX ScatterElements example with axis 1 and a negative index.
    let data = f32s(&[1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
    let idx = t(&[1, 2], &[1i64, -2]);
    let upd = f32s(&[1, 2], &[1.1, 2.1]);
    let op = |axis, reduction| Op::ScatterElements { axis, reduction };
    let y = run(
        &op(1, ScatterReduction::None),
        &[Some(&data), Some(&idx), Some(&upd)],
    );
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 1.1, 3.0, 2.1, 5.0]);
    let dup = t(&[1, 2], &[1i64, 1]);
    let y = run(
        &op(-1, ScatterReduction::Add),
        &[Some(&data), Some(&dup), Some(&upd)],
    );
    assert_eq!(y.to_vec::<f32>().unwrap()[1], (2.0f32 + 1.1) + 2.1);
    let y = run(
        &op(-1, ScatterReduction::Max),
        &[Some(&data), Some(&dup), Some(&upd)],
    );
    assert_eq!(y.to_vec::<f32>().unwrap()[1], 2.1);
    // axis 0 on 3x3 (ONNX example).
    let d = iota(&[3, 3]);
    let i = t(&[2, 3], &[1i64, 0, 2, 0, 2, 1]);
    let u = f32s(&[2, 3], &[1.0, 1.1, 1.2, 2.0, 2.1, 2.2]);
    let y = run(
        &op(0, ScatterReduction::None),
        &[Some(&d), Some(&i), Some(&u)],
    );
    let want = [2.0, 1.1, 2.0, 1.0, 4.0, 2.2, 6.0, 2.1, 1.2];
    assert_eq!(y.to_vec::<f32>().unwrap(), want);
    let far = t(&[1, 1], &[3i64]);
    let one = f32s(&[1, 1], &[0.0]);
    assert!(is_eval_err(&err(
        &op(0, ScatterReduction::None),
        &[Some(&d), Some(&far), Some(&one)]
    )));
    assert!(is_shape_err(&err(
        &op(0, ScatterReduction::None),
        &[Some(&d), Some(&i), Some(&one)]
    )));
}

#[test]
fn non_movement_op_is_refused() {
    let x = iota(&[1]);
    assert!(is_eval_err(&err(&Op::MatMul {}, &[Some(&x), Some(&x)])));
}

#[test]
fn absurd_sizes_are_refused_not_allocated() {
    let big = i64s(&[1 << 30, 1 << 30]);
    let op = Op::from_parts("constant_of_shape", vec![]).unwrap();
    assert!(is_eval_err(&err(&op, &[Some(&big)])));
    let x = iota(&[2]);
    assert!(is_eval_err(
        &pad(PadMode::Edge, &x, &[i64::MAX / 2, 0]).unwrap_err()
    ));
    // Huge pads on an axis of an otherwise empty output are fine: nothing to build.
    let e = iota(&[0, 2]);
    let y = pad(PadMode::Constant, &e, &[0, i64::MAX / 2, 0, 0]).unwrap();
    assert_eq!(y.shape(), &[0, (i64::MAX / 2 + 2) as usize]);
    assert!(is_eval_err(&err(
        &Op::Tile {},
        &[Some(&x), Some(&i64s(&[1 << 40]))]
    )));
    let r = [
        Tensor::scalar(0i64),
        Tensor::scalar(i64::MAX),
        Tensor::scalar(1i64),
    ];
    assert!(is_eval_err(&err(
        &Op::Range {},
        &[Some(&r[0]), Some(&r[1]), Some(&r[2])]
    )));
}

#[test]
fn as_strided_views() {
    use crate::op::Op;
    let at = crate::error::At {
        node: "v".into(),
        op: "as_strided",
    };
    let x = Tensor::from_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
    let run = |shape: &[i64], strides: &[i64], offset: i64| {
        super::eval(
            &Op::AsStrided {
                shape: shape.to_vec(),
                strides: strides.to_vec(),
                offset,
            },
            &at,
            &[Some(&x)],
            1,
        )
    };
    // Transpose.
    let t = run(&[3, 2], &[1, 3], 0).unwrap();
    assert_eq!(t[0].to_vec::<i32>().unwrap(), vec![1, 4, 2, 5, 3, 6]);
    // Sliding windows of 2 along the rows, reversed, and a broadcast axis.
    let w = run(&[2, 2, 2], &[3, 1, 0], 0).unwrap();
    assert_eq!(w[0].to_vec::<i32>().unwrap(), vec![1, 1, 2, 2, 4, 4, 5, 5]);
    let r = run(&[3], &[-1], 5).unwrap();
    assert_eq!(r[0].to_vec::<i32>().unwrap(), vec![6, 5, 4]);
    // Empty views read nothing.
    assert!(run(&[0, 7], &[100, 100], 0).unwrap()[0].is_empty());
    // Out of range and malformed views are errors, not panics.
    assert!(run(&[7], &[1], 0).is_err());
    assert!(run(&[2], &[-1], 0).is_err());
    assert!(run(&[2, 2], &[1], 0).is_err());
    assert!(run(&[-1], &[1], 0).is_err());
}
