//! The operator catalogue: size, unique and reproducible cases, and coverage of every graph
//! operator (but those listed in `NOT_GENERATED`, with the reason).

use std::collections::{BTreeSet, HashSet};
use tessera_conformance::catalogue::catalogue;
use tessera_conformance::ops::{OpsOptions, select};
use tessera_ir::Op;

/// Operators without generated cases: their operands are structured data (boxes, n-gram
/// pools, offsets, window parameters) that no shape family describes. The ONNX node tests
/// cover them (`tessera conformance --suite onnx`).
const NOT_GENERATED: [&str; 6] = [
    "mel_weight_matrix",
    "non_max_suppression",
    "col2im",
    "roi_align",
    "deform_conv",
    "tf_idf_vectorizer",
];

#[test]
fn catalogue_is_large_unique_and_covers_every_operator() {
    let cases = catalogue();
    assert!(cases.len() >= 2000, "{} cases", cases.len());
    let mut names = HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "duplicate case {}", c.name);
    }
    let ops: BTreeSet<&str> = cases.iter().map(|c| c.op.as_str()).collect();
    let missing: Vec<&str> = Op::all_names()
        .into_iter()
        .filter(|n| !ops.contains(n) && !NOT_GENERATED.contains(n))
        .collect();
    assert!(missing.is_empty(), "operators without cases: {missing:?}");
    for n in NOT_GENERATED {
        assert!(
            !ops.contains(n),
            "{n} now has cases: drop it from NOT_GENERATED"
        );
    }
    // Shape and value families.
    for family in [
        "/scalar/",
        "/empty/",
        "/one/",
        "/n33/",
        "/bcast_left/",
        "/bcast_right/",
        "/bcast_both/",
        "/special",
        "/denormal",
        "/large",
        "/extremes",
        "_axis0/",
        "_all/",
    ] {
        assert!(
            cases.iter().any(|c| c.name.contains(family)),
            "no case of family {family}"
        );
    }
    let big: Vec<&str> = cases
        .iter()
        .filter(|c| c.input_elements() >= 16 << 20)
        .map(|c| c.op.as_str())
        .collect();
    for op in ["exp", "add", "reduce_sum", "transpose", "softmax", "cast"] {
        assert!(big.contains(&op), "no ≥16M-element case for {op}: {big:?}");
    }
}

#[test]
fn inputs_are_reproducible_from_the_name() {
    let cases = catalogue();
    let c = cases
        .iter()
        .find(|c| c.name == "add/f32/bcast_both/ordinary")
        .expect("case exists");
    assert_eq!(c.inputs(), c.inputs());
    let other = cases
        .iter()
        .find(|c| c.name == "sub/f32/bcast_both/ordinary")
        .unwrap();
    assert_ne!(c.inputs()["x0"], other.inputs()["x0"]);
    let special = cases
        .iter()
        .find(|c| c.name == "exp/f32/n33/special")
        .unwrap();
    let x = &special.inputs()["x0"];
    assert!((0..x.len()).any(|i| x.get_f64(i).is_nan()));
    assert!((0..x.len()).any(|i| x.get_f64(i).is_infinite()));
}

#[test]
fn quick_subset_keeps_every_operator() {
    let all = catalogue();
    let ops: BTreeSet<String> = all.iter().map(|c| c.op.clone()).collect();
    let quick = select(
        all,
        &OpsOptions {
            quick: true,
            ..OpsOptions::default()
        },
    );
    let quick_ops: BTreeSet<String> = quick.iter().map(|c| c.op.clone()).collect();
    assert_eq!(ops, quick_ops);
    assert!(quick.iter().all(|c| c.input_elements() < 1 << 20));
}
