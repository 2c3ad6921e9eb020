//! The plugin hook end to end: the example vendor backend (examples/vendor-backend), built as a
//! shared library, loaded by the real `tessera` binary with `--plugin` / `TESSERA_PLUGINS`,
//! listed by `tessera devices`, run by `tessera run` and by the operator suite; a library that
//! is not a plugin is refused with a clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example backend's cdylib: cargo builds it (a dev-dependency of this crate with
/// `crate-type = ["rlib", "cdylib"]`) into the folder of this test binary.
fn plugin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's folder");
    let file = format!(
        "{}tessera_example_backend{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = deps.join(&file);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

fn tessera(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("TESSERA_PLUGINS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the tessera binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn devices_lists_a_plugin_backend() {
    let p = plugin();
    let o = tessera(&["devices", "--plugin", p.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let line = out
        .lines()
        .find(|l| l.starts_with("example "))
        .unwrap_or_else(|| panic!("no `example` backend listed:\n{out}"));
    assert!(line.contains("available"), "{line}");
    // Without the plugin it is not there.
    let o = tessera(&["devices"], &[]);
    assert!(!text(&o).lines().any(|l| l.starts_with("example ")));
    // The environment variable loads it too.
    let o = tessera(&["devices"], &[("TESSERA_PLUGINS", &p)]);
    assert!(
        text(&o).lines().any(|l| l.starts_with("example ")),
        "{}",
        text(&o)
    );
}

#[test]
fn run_and_conformance_go_through_a_plugin_backend() {
    let p = plugin();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let o = tessera(
        &[
            "run",
            "examples/mlp.tir",
            "--input",
            "x=examples/mlp_x.npy",
            "--backend",
            "example",
            "--output-dir",
            out_dir.to_str().unwrap(),
        ],
        &[("TESSERA_PLUGINS", &p)],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_dir(&out_dir).unwrap().count() > 0);

    let json = dir.path().join("r.json");
    let o = tessera(
        &[
            "conformance",
            "--suite",
            "ops",
            "--quick",
            "--backend",
            "example",
            "--plugin",
            p.to_str().unwrap(),
            "--filter",
            "*/n33/ordinary",
            "--expectations",
            "examples/vendor-backend/expectations",
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["backend"], "example", "{report}");
    let passed = report["passed"].as_u64().unwrap();
    let unsupported = report["unsupported"].as_u64().unwrap();
    assert!(passed >= 50, "{report}");
    // The example declares no f64: those cases are unsupported, not passed.
    assert!(unsupported > 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
}

#[test]
fn a_library_that_is_not_a_plugin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let o = tessera(&["devices", "--plugin", fake.to_str().unwrap()], &[]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("backend plugin") && out.contains("libfake.so"),
        "{out}"
    );
}
