//! Committed PTX snapshots of a fixed set of kernels: the kernel filetests of `tessera-ir`
//! (`ir/tests/kernel_filetests/*.kir`, those that verify) rendered for sm_90, compared with
//! `tests/snapshots/<name>.ptx`. `TESSERA_BLESS=1` rewrites the snapshots. Every snapshot is
//! also assembled by `ptxas` for sm_80 and sm_90 (skipped, with the reason, without ptxas).

use std::path::PathBuf;
use tessera_cuda::{Arch, CudaTarget};
use tessera_ir::kernel::{parse_kernel, verify_kernel};

fn kernels() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ir/tests/kernel_filetests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("kernel filetests")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "kir"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let name = p.file_stem()?.to_string_lossy().into_owned();
            Some((name, text))
        })
        .collect()
}

#[test]
fn filetest_kernels_match_their_ptx_snapshots() {
    let snap_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let bless = std::env::var_os("TESSERA_BLESS").is_some();
    let ptxas = tessera_cuda::ptxas::ptxas_for_tests();
    let mut checked = 0;
    let mut mismatched = Vec::new();
    for (name, text) in kernels() {
        let Ok(k) = parse_kernel(&text) else { continue };
        let Ok(info) = verify_kernel(&k) else {
            continue;
        };
        let ptx = CudaTarget::new(Arch::Sm90)
            .ptx(&k, &info)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let path = snap_dir.join(format!("{name}.ptx"));
        if bless {
            std::fs::create_dir_all(&snap_dir).expect("snapshot dir");
            std::fs::write(&path, &ptx).expect("write snapshot");
        } else {
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run with TESSERA_BLESS=1)", path.display()));
            if want != ptx {
                mismatched.push(name.clone());
            }
        }
        if let Some(p) = &ptxas {
            for arch in [Arch::Sm80, Arch::Sm90] {
                let ptx = CudaTarget::new(arch).ptx(&k, &info).expect("renders");
                if let Err(e) = tessera_cuda::ptxas::check_ptx(p, arch, &ptx) {
                    panic!("{name} rejected by ptxas for {arch}:\n{e}");
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} filetest kernels verified");
    assert!(
        mismatched.is_empty(),
        "PTX differs from the snapshots of {mismatched:?} (TESSERA_BLESS=1 rewrites them)"
    );
}

#[test]
fn shared_memory_barriers_and_vector_access_are_printed() {
    let text = "kernel @v(%a: f32[10] read, %out: f32[10] write) grid [1] group [2] {
  shared %t: f32[2]
  let %l: u32 = local_id(0)
  store %t[%l] = load %a[%l]
  barrier
  loop %i: i32 = 0:i32 to 8:i32 step 4 vectorize(4) {
    store %out[%i] = fma(load<4> %a[%i], 2.0:f32x4, 1.0:f32x4)
  }
}";
    let k = parse_kernel(text).expect("parses");
    let info = verify_kernel(&k).expect("verifies");
    let ptx = CudaTarget::new(Arch::Sm80).ptx(&k, &info).expect("renders");
    for needle in [
        ".target sm_80",
        ".reqntid 2, 1, 1",
        ".shared .align 16 .b8 shared_0",
        "bar.sync 0",
        "ld.global.v4.f32",
        "st.global.v4.f32",
        "fma.rn.f32",
        "st.shared.f32",
        "red.global.or.b32",
    ] {
        assert!(ptx.contains(needle), "missing `{needle}`:\n{ptx}");
    }
}
