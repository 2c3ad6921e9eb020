//! Validation of generated PTX with NVIDIA's `ptxas` (the assembler that the driver's JIT
//! also runs), for machines without a GPU: [`find_ptxas`] locates it and [`check_ptx`]
//! assembles one module for one architecture, discarding the output.
//!
//! `ptxas` ships in the `nvidia-cuda-nvcc-cu12` Python wheel
//! (`pip install nvidia-cuda-nvcc-cu12`); set `TESSERA_PTXAS` to use another one.

use crate::target::Arch;
use std::path::PathBuf;
use std::process::Command;

/// The `ptxas` to use: `$TESSERA_PTXAS`, else `ptxas` on `PATH`, else the one in the
/// `nvidia-cuda-nvcc-cu12` wheel of `python3`; `None` when none runs.
pub fn find_ptxas() -> Option<PathBuf> {
    let runs = |p: &PathBuf| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if let Some(p) = std::env::var_os("TESSERA_PTXAS").map(PathBuf::from) {
        return runs(&p).then_some(p);
    }
    let on_path = PathBuf::from("ptxas");
    if runs(&on_path) {
        return Some(on_path);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import nvidia.cuda_nvcc as m; print(list(m.__path__)[0])",
        ])
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let p = PathBuf::from(dir.trim()).join("bin").join("ptxas");
    runs(&p).then_some(p)
}

/// [`find_ptxas`] for tests: when there is none, prints why the checks are skipped — or,
/// when `TESSERA_REQUIRE_PTXAS` is set (as CI sets it), panics.
pub fn ptxas_for_tests() -> Option<PathBuf> {
    let found = find_ptxas();
    if found.is_none() {
        let why = "ptxas not found (pip install nvidia-cuda-nvcc-cu12, or set TESSERA_PTXAS)";
        assert!(
            std::env::var_os("TESSERA_REQUIRE_PTXAS").is_none(),
            "TESSERA_REQUIRE_PTXAS is set but {why}"
        );
        eprintln!("SKIP ptxas checks: {why}");
    }
    found
}

/// Assembles `ptx` for `arch` with `ptxas`; `Err` holds ptxas's messages when it rejects
/// the module (or why it could not run).
pub fn check_ptx(ptxas: &PathBuf, arch: Arch, ptx: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!(
        "tessera-ptxas-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let src = dir.join("k.ptx");
    std::fs::write(&src, ptx).map_err(|e| format!("{}: {e}", src.display()))?;
    let out = Command::new(ptxas)
        .args(["--gpu-name", arch.name(), "-o", "/dev/null"])
        .arg(&src)
        .output()
        .map_err(|e| format!("running {}: {e}", ptxas.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Checks many modules for one architecture, assembling them in batches of up to `batch`
/// entries (one `ptxas` run per batch; a rejected batch is rechecked module by module).
/// Returns the label and ptxas's message of every rejected module.
pub fn check_many(
    ptxas: &PathBuf,
    arch: Arch,
    modules: &[(String, String)],
    batch: usize,
) -> Vec<(String, String)> {
    let mut rejected = Vec::new();
    for chunk in modules.chunks(batch.max(1)) {
        let combined = combine(chunk);
        if let Some(text) = combined
            && check_ptx(ptxas, arch, &text).is_ok()
        {
            continue;
        }
        for (label, ptx) in chunk {
            if let Err(e) = check_ptx(ptxas, arch, ptx) {
                rejected.push((label.clone(), e));
            }
        }
    }
    rejected
}

/// One module holding the entries of several (the first one's header, each entry renamed
/// by its position so names never clash); `None` when a module has no header.
fn combine(modules: &[(String, String)]) -> Option<String> {
    const END: &str = ".address_size 64\n";
    let mut out = String::new();
    for (i, (_, ptx)) in modules.iter().enumerate() {
        let at = ptx.find(END)? + END.len();
        if i == 0 {
            out.push_str(&ptx[..at]);
        }
        out.push_str(&ptx[at..].replace(".entry ", &format!(".entry b{i}_")));
    }
    Some(out)
}
