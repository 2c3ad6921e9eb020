//! The operator catalogue: size, unique and reproducible cases, and coverage of every graph
//! operator.

use std::collections::{BTreeSet, HashSet};
use tessera_conformance::catalogue::catalogue;
use tessera_conformance::ops::{OpsOptions, select};
use tessera_ir::Op;

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
        .filter(|n| !ops.contains(n))
        .collect();
    assert!(missing.is_empty(), "operators without cases: {missing:?}");
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

/// The structured operators' cases are well formed: on the reference each computes a
/// non-trivial result (suppression keeps some boxes, n-grams are found, regions and deformed
/// taps sample the image, the filters are not all zero).
#[test]
fn structured_cases_compute_something() {
    use tessera_runtime::{Backend, ReferenceBackend};
    let cases = catalogue();
    for name in [
        "mel_weight_matrix/f32/8bins_dft64/ordinary",
        "non_max_suppression/f32/corners_2x3x8_score/ordinary",
        "col2im/f32/2d_dil_pad_stride/ordinary",
        "roi_align/f64/avg_2x3_s2/ordinary",
        "deform_conv/f32/2d_bias_mask/ordinary",
        "tf_idf_vectorizer/i64/tfidf_skip2_2x10/ordinary",
    ] {
        let c = cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name}"));
        let exe = ReferenceBackend.compile(&c.graph().unwrap()).unwrap();
        let out = exe.run(&c.inputs()).unwrap();
        let y = &out[0].1;
        let nonzero = (0..y.len()).filter(|&i| y.get_f64(i) != 0.0).count();
        assert!(nonzero > 0, "{name}: all zero, shape {:?}", y.shape());
        if c.op == "non_max_suppression" {
            // Some boxes kept, not all of the 2 x 3 classes' 8 boxes.
            assert!(
                y.shape()[0] >= 2 && y.shape()[0] < 48,
                "{name}: {:?}",
                y.shape()
            );
        }
    }
}
