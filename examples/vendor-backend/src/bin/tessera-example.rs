//! `tessera-example conformance --backend example`: Tessera's conformance command with the
//! example backend registered.

fn main() -> std::process::ExitCode {
    tessera_conformance::harness::main_with(tessera_example_backend::registry())
}
