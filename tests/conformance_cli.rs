//! End-to-end tests of `tessera conformance --suite ops` and `tessera diff`: reports written in
//! every format, expectations gating, and the diff of a clean model.

use std::path::Path;
use std::process::{Command, Output};

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the tessera binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn ops_suite_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let o = tessera(&[
        "conformance",
        "--suite",
        "ops",
        "--backend",
        "kernel-interp",
        "--quick",
        "--filter",
        "add/*",
        "--json",
        &p("r.json"),
        "--junit",
        &p("r.xml"),
        "--markdown",
        &p("r.md"),
        "--html",
        &p("r.html"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("add") && out.contains("TOTAL"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(json["suite"], "ops");
    assert_eq!(json["backend"], "kernel-interp");
    let n = json["total"].as_u64().unwrap();
    assert!(n >= 10, "{json}");
    assert_eq!(json["failed"], 0, "{json}");
    assert_eq!(json["errors"], 0, "{json}");
    let ran = json["passed"].as_u64().unwrap();
    assert!(
        ran >= 10 && ran + json["unsupported"].as_u64().unwrap() == n,
        "{json}"
    );
    assert_eq!(
        json["native"].as_u64().unwrap() + json["fallback"].as_u64().unwrap(),
        ran
    );
    for c in json["cases"].as_array().unwrap() {
        if c["status"] == "passed" {
            assert!(
                c["placement"] == "native" || c["placement"] == "fallback",
                "{c}"
            );
        } else {
            assert_eq!(c["status"], "unsupported", "{c}");
            assert!(c["placement"].is_null(), "{c}");
        }
    }
    let xml = std::fs::read_to_string(dir.path().join("r.xml")).unwrap();
    assert_eq!(xml.matches("<testcase").count() as u64, n);
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("add/f32/n33/ordinary"));
    assert!(!html.contains("<script src") && !html.contains("<link"));
    let md = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    assert!(md.contains("| add |"), "{md}");
}

#[test]
fn stale_expectations_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kernel-interp.toml"),
        "[[known]]\ncase = \"neg/f32/*\"\nreason = \"pretend it fails\"\n",
    )
    .unwrap();
    let exp = dir.path().to_string_lossy().into_owned();
    let args = |filter: &'static str| {
        vec![
            "conformance",
            "--backend",
            "kernel-interp",
            "--quiet",
            "--filter",
            filter,
            "--expectations",
        ]
    };
    let mut a = args("neg/f32/*");
    a.push(&exp);
    let o = tessera(&a);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("NOW PASSES"), "{}", text(&o));
    let mut a = args("abs/f32/*");
    a.push(&exp);
    let o = tessera(&a);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn list_and_unknown_backend() {
    let o = tessera(&["conformance", "--list", "--quick"]);
    assert!(o.status.success());
    let out = text(&o);
    assert!(out.lines().count() > 1000, "{}", out.lines().count());
    let o = tessera(&[
        "conformance",
        "--backend",
        "tpu",
        "--filter",
        "abs/f32/n7/*",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("tpu"), "{}", text(&o));
}

#[test]
fn diff_of_a_clean_model() {
    let model = Path::new("examples/mlp.tir");
    let o = tessera(&[
        "diff",
        &model.to_string_lossy(),
        "--backend",
        "kernel-interp",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no kernel diverges"), "{}", text(&o));
    let o = tessera(&["diff", "examples/mlp.tir", "--backend", "reference"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("interpreter"), "{}", text(&o));
}

/// The vulkan backend's kernels are compared too (lavapipe where no GPU is present). Skips
/// with a printed reason where no Vulkan adapter opens, and fails instead when
/// `TESSERA_REQUIRE_VULKAN` is set (CI installs lavapipe).
#[test]
fn diff_on_vulkan_compares_its_kernels() {
    let o = tessera(&["diff", "examples/mlp.tir", "--backend", "vulkan"]);
    let t = text(&o);
    if t.contains("unavailable") {
        assert!(
            std::env::var_os("TESSERA_REQUIRE_VULKAN").is_none(),
            "TESSERA_REQUIRE_VULKAN is set but vulkan is unavailable: {t}"
        );
        eprintln!("skipped: {t}");
        return;
    }
    assert!(o.status.success(), "{t}");
    assert!(t.contains("no kernel diverges"), "{t}");
}
