//! Fuzz target: arbitrary bytes through the ONNX importer (protobuf decoding, tensor decoding,
//! op mapping, shape inference). Errors are fine; a panic, abort or hang is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(graph) = tessera_frontends::onnx::import_model(data, None) {
        // Whatever imports must verify or be rejected with a typed error, never panic.
        let _ = tessera_ir::verify::verify(&graph);
    }
});
