//! Kernel IR filetests: every `tests/kernel_filetests/*.kir` file holds one kernel in text
//! form plus comment directives saying what must hold about it:
//!
//! - `; error: <substring>` — parsing or verification fails with a message containing it;
//! - `; print` followed by `; | <line>` lines — the kernel prints exactly so (re-blessed in
//!   place when `TESSERA_BLESS=1`); every kernel that verifies must also print → parse → print
//!   to the same text;
//! - `; run:` starts an interpreter case, followed by `; in %buf = [v, ...]` (params not given
//!   start as zeros), `; expect %buf = [v, ...]` (exact, NaN equal to NaN) and/or
//!   `; expect-error: <substring>`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tessera_ir::DType;
use tessera_ir::interp::values::{Arr, Data};
use tessera_ir::kernel::{Kernel, parse_kernel, print_kernel, run_kernel, verify_kernel};
use tessera_ir::tensor::Tensor;

/// One `; run:` case.
#[derive(Default)]
struct RunCase {
    inputs: Vec<(String, Vec<String>)>,
    expects: Vec<(String, Vec<String>)>,
    expect_error: Option<String>,
}

/// The directives of one file.
#[derive(Default)]
struct Directives {
    error: Option<String>,
    print: Option<String>,
    runs: Vec<RunCase>,
}

fn directives(text: &str) -> Result<Directives, String> {
    let mut d = Directives::default();
    for line in text.lines() {
        let Some(c) = line.trim_start().strip_prefix(';') else {
            continue;
        };
        let c = c.trim_start();
        if let Some(rest) = c.strip_prefix('|') {
            let p = d
                .print
                .as_mut()
                .ok_or("`; |` line outside a `; print` block")?;
            p.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            p.push('\n');
        } else if let Some(rest) = c.strip_prefix("error:") {
            d.error = Some(rest.trim().to_string());
        } else if c.trim_end() == "print" {
            d.print = Some(String::new());
        } else if c.trim_end() == "run:" {
            d.runs.push(RunCase::default());
        } else if let Some(rest) = c.strip_prefix("in ") {
            let case = d.runs.last_mut().ok_or("`; in` before `; run:`")?;
            case.inputs.push(assignment(rest)?);
        } else if let Some(rest) = c.strip_prefix("expect-error:") {
            let case = d
                .runs
                .last_mut()
                .ok_or("`; expect-error` before `; run:`")?;
            case.expect_error = Some(rest.trim().to_string());
        } else if let Some(rest) = c.strip_prefix("expect ") {
            let case = d.runs.last_mut().ok_or("`; expect` before `; run:`")?;
            case.expects.push(assignment(rest)?);
        }
    }
    Ok(d)
}

/// `%name = [v, v, ...]`.
fn assignment(s: &str) -> Result<(String, Vec<String>), String> {
    let (name, values) = s
        .split_once('=')
        .ok_or(format!("expected `%name = [...]`: {s}"))?;
    let name = name
        .trim()
        .strip_prefix('%')
        .ok_or(format!("expected `%name`: {s}"))?;
    let list = values
        .trim()
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or(format!("expected `[...]`: {s}"))?;
    let items = list
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    Ok((name.to_string(), items))
}

fn encode(dtype: DType, values: &[String]) -> Result<Vec<u8>, String> {
    let n = vec![values.len()];
    let arr = if dtype.is_float() {
        let v = values
            .iter()
            .map(|s| s.parse::<f64>().map_err(|e| format!("`{s}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Arr::floats(dtype, n, v)
    } else {
        let v = values
            .iter()
            .map(|s| match s.as_str() {
                "true" => Ok(1),
                "false" => Ok(0),
                _ => s.parse::<i128>().map_err(|e| format!("`{s}`: {e}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Arr::ints(dtype, n, v)
    };
    Ok(arr.to_tensor().into_bytes())
}

fn decode(dtype: DType, bytes: &[u8]) -> Result<Vec<String>, String> {
    let n = bytes.len() / dtype.size_bytes();
    let t = Tensor::from_bytes(dtype, &[n], bytes.to_vec()).map_err(|e| e.to_string())?;
    Ok(match Arr::from_tensor(&t).data {
        Data::F(v) => v.iter().map(|x| format!("{x:?}")).collect(),
        Data::I(v) if dtype == DType::Bool => v.iter().map(|x| (*x != 0).to_string()).collect(),
        Data::I(v) => v.iter().map(i128::to_string).collect(),
    })
}

/// Normalizes an expected value so `1` and `1.0` (or `nan` and `NaN`) compare equal.
fn normalize(dtype: DType, s: &str) -> String {
    if dtype.is_float() {
        s.parse::<f64>()
            .map(|x| format!("{x:?}"))
            .unwrap_or(s.into())
    } else {
        s.to_string()
    }
}

fn run_case(k: &Kernel, case: &RunCase) -> Result<(), String> {
    let info = verify_kernel(k).map_err(|e| e.to_string())?;
    let mut bufs = Vec::new();
    for p in &k.params {
        let given = case.inputs.iter().find(|(n, _)| *n == p.name);
        bufs.push(match given {
            Some((_, v)) => encode(p.dtype, v)?,
            None => vec![0; p.len * p.dtype.size_bytes()],
        });
    }
    let result = run_kernel(k, &info, &mut bufs);
    match (&case.expect_error, result) {
        (Some(want), Err(e)) if e.to_string().contains(want.as_str()) => return Ok(()),
        (Some(want), Err(e)) => return Err(format!("expected error `{want}`, got `{e}`")),
        (Some(want), Ok(())) => return Err(format!("expected error `{want}`, but it ran")),
        (None, Err(e)) => return Err(format!("run failed: {e}")),
        (None, Ok(())) => {}
    }
    for (name, want) in &case.expects {
        let i = k
            .params
            .iter()
            .position(|p| p.name == *name)
            .ok_or(format!("no param `%{name}`"))?;
        let dtype = k.params[i].dtype;
        let got = decode(dtype, &bufs[i])?;
        let want: Vec<String> = want.iter().map(|s| normalize(dtype, s)).collect();
        if got != want {
            return Err(format!(
                "%{name}: expected [{}], got [{}]",
                want.join(", "),
                got.join(", ")
            ));
        }
    }
    Ok(())
}

/// The file with its `; |` block replaced by `printed`.
fn blessed(text: &str, printed: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let c = line.trim_start().strip_prefix(';').map(str::trim_start);
        if skipping && c.is_some_and(|c| c.starts_with('|')) {
            continue;
        }
        skipping = false;
        out.push_str(line);
        out.push('\n');
        if c.is_some_and(|c| c.trim_end() == "print") {
            for p in printed.lines() {
                let _ = writeln!(out, "; | {p}");
            }
            skipping = true;
        }
    }
    out
}

fn check_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let d = directives(&text)?;
    let parsed = parse_kernel(&text).map_err(|e| e.to_string());
    let verified = parsed
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|k| verify_kernel(k).map_err(|e| e.to_string()));
    if let Some(want) = &d.error {
        return match verified {
            Err(e) if e.contains(want.as_str()) => Ok(()),
            Err(e) => Err(format!("expected error `{want}`, got `{e}`")),
            Ok(_) => Err(format!("expected error `{want}`, but the kernel verifies")),
        };
    }
    verified?;
    let k = parsed?;
    let printed = print_kernel(&k);
    let again = parse_kernel(&printed).map_err(|e| format!("reparse: {e}\n{printed}"))?;
    if print_kernel(&again) != printed {
        return Err(format!(
            "print → parse → print changed the text:\n{printed}"
        ));
    }
    if let Some(want) = &d.print
        && *want != printed
    {
        if std::env::var("TESSERA_BLESS").is_ok_and(|v| v == "1") {
            std::fs::write(path, blessed(&text, &printed)).map_err(|e| e.to_string())?;
        } else {
            return Err(format!(
                "printed form differs (TESSERA_BLESS=1 to update):\n--- expected\n{want}--- actual\n{printed}"
            ));
        }
    }
    for (i, case) in d.runs.iter().enumerate() {
        run_case(&k, case).map_err(|e| format!("run case {}: {e}", i + 1))?;
    }
    Ok(())
}

#[test]
fn kernel_filetests() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kernel_filetests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the filetest folder exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "kir"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "expected at least 8 filetests in {dir:?}");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| check_file(f).err().map(|e| format!("{}: {e}", f.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} filetests failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
