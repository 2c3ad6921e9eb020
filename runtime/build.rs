//! Computes the plugin ABI tag's ingredients (`src/plugin.rs`): the rustc that compiles this
//! crate, the target triple, and a hash of the source of `tessera-runtime` and `tessera-ir`
//! (the crates whose types cross a plugin's boundary), as `TESSERA_PLUGIN_*` variables.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(&rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|text| {
            let field = |key: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .unwrap_or("?")
                    .trim()
                    .to_string()
            };
            format!("rustc {} ({})", field("release:"), field("commit-hash:"))
        })
        .unwrap_or_else(|| "rustc ?".to_string());
    let target = std::env::var("TARGET").unwrap_or_default();
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    let dirs = [manifest.join("src"), manifest.join("../ir/src")];
    for dir in &dirs {
        if dir.is_dir() {
            println!("cargo:rerun-if-changed={}", dir.display());
            let mut files = Vec::new();
            walk(dir, &mut files);
            files.sort();
            for f in files {
                let rel = f.strip_prefix(dir).unwrap_or(&f);
                hash.feed(rel.to_string_lossy().as_bytes());
                hash.feed(&std::fs::read(&f).unwrap_or_default());
            }
        }
    }
    println!("cargo:rerun-if-env-changed=RUSTC");
    println!("cargo:rustc-env=TESSERA_PLUGIN_RUSTC={version}");
    println!("cargo:rustc-env=TESSERA_PLUGIN_TARGET={target}");
    println!("cargo:rustc-env=TESSERA_PLUGIN_SOURCE={:016x}", hash.0);
}

/// Every `.rs` file under `dir`.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// FNV-1a, 64 bits: stable across Rust releases (unlike `DefaultHasher`).
struct Fnv(u64);

impl Fnv {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x100_0000_01b3);
    }
}
