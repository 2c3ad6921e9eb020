//! tessera-cpu: will lower kernel IR to machine code (Cranelift by default, LLVM behind the
//! `llvm` feature) and spread work over cores with rayon. Empty until the compiler-proper work
//! lands; the crate exists so the workspace layout is fixed.
