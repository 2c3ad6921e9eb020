//! Tessera: a cross-accelerator tensor compiler. This facade re-exports the library crates.
pub use tessera_ir as ir;
