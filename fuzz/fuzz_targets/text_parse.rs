//! Fuzz target: arbitrary text through the graph text-form parser and, when it parses, the
//! verifier and the printer. Errors are fine; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(graph) = tessera_ir::text::parse_graph(text)
    {
        let _ = tessera_ir::verify::verify(&graph);
        let _ = tessera_ir::text::print_graph(&graph);
    }
});
