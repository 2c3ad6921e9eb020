//! The whole operator suite on the example backend: one line.

tessera_conformance::testgen_all!(
    tessera_example_backend::backend(),
    expectations = concat!(env!("CARGO_MANIFEST_DIR"), "/expectations")
);
