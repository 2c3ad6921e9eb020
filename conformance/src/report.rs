//! Results of a conformance run and their renderings: per-case results, totals, per-operator
//! aggregates, the JSON report, a plain-text summary, the Markdown coverage page, and the check
//! of a committed floor of passing cases.

use crate::error::ConformanceError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// How one case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaseStatus {
    /// Every output matched.
    Passed,
    /// The case ran but an output differs (count, dtype, shape or values).
    Failed,
    /// Something that should have worked broke: an importer or backend error that is not a
    /// declared limitation, unreadable test data, or a panic.
    Error,
    /// A declared limitation: an operator, element type or value kind Tessera does not have.
    Unsupported,
    /// Not run: the backend's device is missing here (the message says why).
    Skipped,
}

impl CaseStatus {
    /// Every status, in report order.
    pub const ALL: [CaseStatus; 5] = [
        CaseStatus::Passed,
        CaseStatus::Failed,
        CaseStatus::Error,
        CaseStatus::Unsupported,
        CaseStatus::Skipped,
    ];

    /// The lowercase name used in reports: `passed`, `failed`, `error`, `unsupported`,
    /// `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Passed => "passed",
            CaseStatus::Failed => "failed",
            CaseStatus::Error => "error",
            CaseStatus::Unsupported => "unsupported",
            CaseStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one test case.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseResult {
    /// The case's folder name (e.g. `test_abs`).
    pub name: String,
    /// The ONNX operator the case tests (see [`crate::onnx_node::case_op`]).
    pub op: String,
    /// How it ended.
    pub status: CaseStatus,
    /// Why it did not pass (empty when it passed).
    pub message: String,
    /// The largest absolute error over compared elements, when values were compared.
    pub max_abs_err: Option<f64>,
    /// The largest relative error, when the operator suite compared values.
    pub max_rel_err: Option<f64>,
    /// The largest error in units in the last place, when the operator suite compared floats.
    pub max_ulp_err: Option<f64>,
    /// The row-major index of the first element out of tolerance (failed cases).
    pub first_index: Option<usize>,
    /// `native` when every step ran as the backend's own kernels, `fallback` when some ran on
    /// the host interpreter; `None` when the case did not get as far as running.
    pub placement: Option<&'static str>,
    /// Wall time of the case (import, compile, run and compare).
    pub elapsed: Duration,
}

/// Case counts by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Cases run.
    pub total: usize,
    /// Cases that passed.
    pub passed: usize,
    /// Cases with wrong outputs.
    pub failed: usize,
    /// Cases that errored.
    pub errors: usize,
    /// Cases that hit a declared limitation.
    pub unsupported: usize,
    /// Cases not run (no device).
    pub skipped: usize,
    /// Cases that ran entirely as native kernels.
    pub native: usize,
    /// Cases with some step on the host fallback.
    pub fallback: usize,
}

impl Totals {
    /// Counts one more case with `status`.
    pub fn add(&mut self, status: CaseStatus) {
        self.total += 1;
        match status {
            CaseStatus::Passed => self.passed += 1,
            CaseStatus::Failed => self.failed += 1,
            CaseStatus::Error => self.errors += 1,
            CaseStatus::Unsupported => self.unsupported += 1,
            CaseStatus::Skipped => self.skipped += 1,
        }
    }

    /// Counts one more case with `status` and `placement`.
    pub fn add_case(&mut self, c: &CaseResult) {
        self.add(c.status);
        match c.placement {
            Some("native") => self.native += 1,
            Some(_) => self.fallback += 1,
            None => {}
        }
    }
}

/// The results of running a suite on one backend.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteReport {
    /// The backend's name.
    pub backend: String,
    /// The suite's name (e.g. `onnx/node`).
    pub suite: String,
    /// Every case run, sorted by name.
    pub cases: Vec<CaseResult>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

/// The JSON form of a report; field names are part of the CLI's contract.
#[derive(Serialize)]
struct JsonReport<'a> {
    backend: &'a str,
    suite: &'a str,
    total: usize,
    passed: usize,
    failed: usize,
    errors: usize,
    unsupported: usize,
    skipped: usize,
    native: usize,
    fallback: usize,
    cases: Vec<JsonCase<'a>>,
}

#[derive(Serialize)]
struct JsonCase<'a> {
    name: &'a str,
    op: &'a str,
    status: &'static str,
    message: &'a str,
    max_abs_err: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_rel_err: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_ulp_err: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_index: Option<usize>,
    placement: Option<&'static str>,
    elapsed_ms: f64,
}

impl SuiteReport {
    /// Counts by status.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for c in &self.cases {
            t.add_case(c);
        }
        t
    }

    /// Counts by status for each operator, sorted by operator name.
    pub fn per_op(&self) -> BTreeMap<&str, Totals> {
        let mut m: BTreeMap<&str, Totals> = BTreeMap::new();
        for c in &self.cases {
            m.entry(c.op.as_str()).or_default().add_case(c);
        }
        m
    }

    /// The report as JSON: `{"backend","suite","total","passed","failed","errors",
    /// "unsupported","skipped","native","fallback","cases":[{"name","op","status","message",
    /// "max_abs_err","max_rel_err"?,"max_ulp_err"?,"first_index"?,"placement","elapsed_ms"}]}`,
    /// with status strings `passed`/`failed`/`error`/`unsupported`/`skipped`, `max_abs_err`
    /// null when no values were compared, and `placement` `native`/`fallback` (null when the
    /// case did not run).
    pub fn to_json(&self) -> String {
        let t = self.totals();
        let report = JsonReport {
            backend: &self.backend,
            suite: &self.suite,
            total: t.total,
            passed: t.passed,
            failed: t.failed,
            errors: t.errors,
            unsupported: t.unsupported,
            skipped: t.skipped,
            native: t.native,
            fallback: t.fallback,
            cases: self
                .cases
                .iter()
                .map(|c| JsonCase {
                    name: &c.name,
                    op: &c.op,
                    status: c.status.as_str(),
                    message: &c.message,
                    max_abs_err: c.max_abs_err.filter(|e| e.is_finite()),
                    max_rel_err: c.max_rel_err.filter(|e| e.is_finite()),
                    max_ulp_err: c.max_ulp_err.filter(|e| e.is_finite()),
                    first_index: c.first_index,
                    placement: c.placement,
                    elapsed_ms: c.elapsed.as_secs_f64() * 1e3,
                })
                .collect(),
        };
        // Serializing plain strings, integers and finite floats cannot fail.
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }

    /// Totals followed by a per-operator table (op, total, passed, failed, error,
    /// unsupported), sorted by operator.
    pub fn summary_text(&self) -> String {
        let t = self.totals();
        let mut s = format!(
            "suite {} on backend {}: {} cases, {} passed, {} failed, {} errors, {} unsupported, {} skipped; placement {} native, {} fallback ({:.1}s)\n\n",
            self.suite,
            self.backend,
            t.total,
            t.passed,
            t.failed,
            t.errors,
            t.unsupported,
            t.skipped,
            t.native,
            t.fallback,
            self.elapsed.as_secs_f64()
        );
        let per_op = self.per_op();
        let width = per_op.keys().map(|k| k.len()).max().unwrap_or(2).max(2);
        let _ = writeln!(
            s,
            "{:<width$}  {:>5}  {:>6}  {:>6}  {:>5}  {:>11}",
            "op", "total", "passed", "failed", "error", "unsupported"
        );
        for (op, t) in per_op {
            let _ = writeln!(
                s,
                "{op:<width$}  {:>5}  {:>6}  {:>6}  {:>5}  {:>11}",
                t.total, t.passed, t.failed, t.errors, t.unsupported
            );
        }
        s
    }

    /// A Markdown page listing every case that does not pass, grouped by status and then by
    /// operator, each with its message; it starts with the totals and a per-operator table of
    /// the operators that have such cases.
    pub fn markdown_coverage(&self) -> String {
        let t = self.totals();
        let mut s = format!(
            "# ONNX conformance: `{}` on the `{}` backend\n\n\
             Generated by `tessera conformance`; do not edit by hand.\n\n\
             | total | passed | failed | error | unsupported |\n\
             |---:|---:|---:|---:|---:|\n\
             | {} | {} | {} | {} | {} |\n",
            self.suite, self.backend, t.total, t.passed, t.failed, t.errors, t.unsupported
        );
        let incomplete: Vec<_> = self
            .per_op()
            .into_iter()
            .filter(|(_, t)| t.passed < t.total)
            .collect();
        if !incomplete.is_empty() {
            s.push_str(
                "\n## Operators with cases that do not pass\n\n\
                 | op | total | passed | failed | error | unsupported |\n\
                 |---|---:|---:|---:|---:|---:|\n",
            );
            for (op, t) in incomplete {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    md_cell(op),
                    t.total,
                    t.passed,
                    t.failed,
                    t.errors,
                    t.unsupported
                );
            }
        }
        for status in [
            CaseStatus::Failed,
            CaseStatus::Error,
            CaseStatus::Unsupported,
        ] {
            let mut by_op: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
            for c in self.cases.iter().filter(|c| c.status == status) {
                by_op.entry(c.op.as_str()).or_default().push(c);
            }
            let count: usize = by_op.values().map(Vec::len).sum();
            let _ = write!(s, "\n## {} ({count})\n", heading(status));
            if count == 0 {
                s.push_str("\nNone.\n");
            }
            for (op, cases) in by_op {
                let _ = write!(s, "\n### {}\n\n", md_cell(op));
                for c in cases {
                    let _ = writeln!(s, "- `{}`: {}", c.name, md_cell(&c.message));
                }
            }
        }
        s
    }

    /// The most common causes among cases with `status`, most frequent first (ties by text):
    /// messages with their numbers and bracketed lists replaced by placeholders, so that one
    /// bug seen in many cases counts once, with its case count.
    pub fn top_causes(&self, status: CaseStatus, limit: usize) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for c in self.cases.iter().filter(|c| c.status == status) {
            *counts.entry(cause_of(&c.message)).or_default() += 1;
        }
        let mut causes: Vec<_> = counts.into_iter().collect();
        causes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        causes.truncate(limit);
        causes
    }
}

/// A message with the details that vary between cases replaced: bracketed lists (shapes,
/// indices) → `[_]`, and numbers → `N` (digits inside words, as in `FLOAT8E4M3FN`, are kept).
/// Names stay, so an unsupported operator or a failing node's operator is still visible.
fn cause_of(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut depth = 0usize;
    let mut last_digit = false;
    for c in message.chars() {
        if depth > 0 {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push_str("_]");
                    }
                }
                _ => {}
            }
            continue;
        }
        let in_word = out
            .chars()
            .next_back()
            .is_some_and(|p| p.is_ascii_alphanumeric());
        match c {
            '[' => {
                out.push('[');
                depth = 1;
                last_digit = false;
            }
            d if d.is_ascii_digit() && (last_digit || !in_word) => {
                if !last_digit {
                    out.push('N');
                }
                last_digit = true;
            }
            _ => {
                out.push(c);
                last_digit = false;
            }
        }
    }
    if depth > 0 {
        out.push_str("_]");
    }
    out
}

fn heading(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Passed => "Passed",
        CaseStatus::Failed => "Failed (wrong outputs)",
        CaseStatus::Error => "Errors",
        CaseStatus::Unsupported => "Unsupported",
        CaseStatus::Skipped => "Skipped (no device)",
    }
}

/// Text made safe for one Markdown line or table cell: no line breaks, escaped pipes, and
/// `<` as an entity so that it is never read as HTML.
fn md_cell(text: &str) -> String {
    text.replace('\n', " ")
        .replace('|', "\\|")
        .replace('<', "&lt;")
}

/// Checks a report against a committed floor of passing cases.
///
/// The floor file is plain text: one `<backend> <minimum passed>` pair per line; blank lines
/// and lines starting with `#` are ignored. A backend without a line has no floor. Returns the
/// floor that applied, or [`ConformanceError::BelowFloor`] when fewer cases passed.
pub fn check_floor(
    report: &SuiteReport,
    floor_file: &Path,
) -> Result<Option<usize>, ConformanceError> {
    let text = std::fs::read_to_string(floor_file).map_err(|e| ConformanceError::Io {
        path: floor_file.to_path_buf(),
        message: e.to_string(),
    })?;
    let floors = parse_floors(&text).map_err(|(line, message)| ConformanceError::FloorFile {
        path: floor_file.to_path_buf(),
        line,
        message,
    })?;
    let Some(&floor) = floors.get(report.backend.as_str()) else {
        return Ok(None);
    };
    let passed = report.totals().passed;
    if passed < floor {
        return Err(ConformanceError::BelowFloor {
            backend: report.backend.clone(),
            passed,
            floor,
        });
    }
    Ok(Some(floor))
}

/// Parses the floor file's `<backend> <count>` lines; errors carry a 1-based line number.
fn parse_floors(text: &str) -> Result<BTreeMap<&str, usize>, (usize, String)> {
    let mut floors = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(backend), Some(count), None) = (words.next(), words.next(), words.next()) else {
            return Err((i + 1, format!("expected `<backend> <count>`, got `{line}`")));
        };
        let count = count
            .parse()
            .map_err(|_| (i + 1, format!("`{count}` is not a case count")))?;
        if floors.insert(backend, count).is_some() {
            return Err((i + 1, format!("backend `{backend}` appears twice")));
        }
    }
    Ok(floors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, op: &str, status: CaseStatus, err: Option<f64>) -> CaseResult {
        CaseResult {
            name: name.into(),
            op: op.into(),
            status,
            message: if status == CaseStatus::Passed {
                String::new()
            } else {
                format!("{name} | broke")
            },
            max_abs_err: err,
            max_rel_err: None,
            max_ulp_err: None,
            first_index: None,
            placement: None,
            elapsed: Duration::from_millis(1),
        }
    }

    fn report() -> SuiteReport {
        SuiteReport {
            backend: "reference".into(),
            suite: "onnx/node".into(),
            cases: vec![
                case("test_abs", "Abs", CaseStatus::Passed, Some(0.0)),
                case("test_add", "Add", CaseStatus::Failed, Some(0.5)),
                case("test_add_bcast", "Add", CaseStatus::Passed, Some(0.0)),
                case("test_bitshift", "BitShift", CaseStatus::Error, None),
                case("test_stft", "STFT", CaseStatus::Unsupported, None),
            ],
            elapsed: Duration::from_secs(2),
        }
    }

    #[test]
    fn totals_and_per_op() {
        let r = report();
        assert_eq!(
            r.totals(),
            Totals {
                total: 5,
                passed: 2,
                failed: 1,
                errors: 1,
                unsupported: 1,
                skipped: 0,
                native: 0,
                fallback: 0,
            }
        );
        let per_op = r.per_op();
        assert_eq!(
            per_op.keys().copied().collect::<Vec<_>>(),
            ["Abs", "Add", "BitShift", "STFT"]
        );
        assert_eq!(per_op["Add"].total, 2);
        assert_eq!(per_op["Add"].failed, 1);
    }

    #[test]
    fn json_has_exactly_the_contract_fields() {
        let v: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "backend",
                "cases",
                "errors",
                "failed",
                "fallback",
                "native",
                "passed",
                "skipped",
                "suite",
                "total",
                "unsupported"
            ]
        );
        assert_eq!(obj["backend"], "reference");
        assert_eq!(obj["suite"], "onnx/node");
        assert_eq!(obj["total"], 5);
        assert_eq!(obj["passed"], 2);
        assert_eq!(obj["failed"], 1);
        assert_eq!(obj["errors"], 1);
        assert_eq!(obj["unsupported"], 1);
        let cases = obj["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 5);
        for c in cases {
            let mut keys: Vec<_> = c.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "elapsed_ms",
                    "max_abs_err",
                    "message",
                    "name",
                    "op",
                    "placement",
                    "status"
                ]
            );
        }
        assert_eq!(cases[1]["status"], "failed");
        assert_eq!(cases[1]["max_abs_err"], 0.5);
        assert_eq!(cases[3]["status"], "error");
        assert!(cases[3]["max_abs_err"].is_null());
        assert_eq!(cases[4]["status"], "unsupported");
        assert_eq!(cases[0]["status"], "passed");
        assert_eq!(cases[0]["message"], "");
    }

    #[test]
    fn summary_lists_every_op_sorted() {
        let s = report().summary_text();
        assert!(
            s.contains("5 cases, 2 passed, 1 failed, 1 errors, 1 unsupported"),
            "{s}"
        );
        let abs = s.find("\nAbs ").unwrap();
        let add = s.find("\nAdd ").unwrap();
        let stft = s.find("\nSTFT ").unwrap();
        assert!(abs < add && add < stft, "{s}");
        let add_line = s[add + 1..].lines().next().unwrap();
        let cols: Vec<_> = add_line.split_whitespace().collect();
        assert_eq!(cols, ["Add", "2", "1", "1", "0", "0"]);
    }

    #[test]
    fn markdown_lists_only_cases_that_do_not_pass() {
        let md = report().markdown_coverage();
        assert!(!md.contains("test_abs"), "{md}");
        assert!(!md.contains("`test_add_bcast`"), "{md}");
        let failed = md.find("## Failed (wrong outputs) (1)").unwrap();
        let errors = md.find("## Errors (1)").unwrap();
        let unsupported = md.find("## Unsupported (1)").unwrap();
        assert!(failed < errors && errors < unsupported);
        let add = md.find("- `test_add`: test_add \\| broke").unwrap();
        assert!(failed < add && add < errors, "{md}");
        assert!(md.contains("### STFT"));
        assert_eq!(md_cell("a|b\nc<d>"), "a\\|b c&lt;d>");
        assert!(md.contains("| Add | 2 | 1 | 1 | 0 | 0 |"), "{md}");
        assert!(!md.contains("| Abs |"), "{md}");
    }

    #[test]
    fn causes_group_messages_that_differ_in_details() {
        assert_eq!(
            cause_of("import: node `Conv#0` (conv): pads [1, 2] (shapes: [1], [2]) wrong 12 times"),
            "import: node `Conv#N` (conv): pads [_] (shapes: [_], [_]) wrong N times"
        );
        assert_eq!(cause_of("a [x [y] z] b [1"), "a [_] b [_]");
        assert_eq!(
            cause_of("type FLOAT8E4M3FN in set_0: 2.5"),
            "type FLOAT8E4M3FN in set_N: N.N"
        );
        let mut r = report();
        r.cases[0].status = CaseStatus::Error;
        r.cases[0].message = "node `Abs#0`: bad [2, 3]".into();
        r.cases[3].message = "node `Abs#1`: bad [4]".into();
        assert_eq!(
            r.top_causes(CaseStatus::Error, 5),
            [("node `Abs#N`: bad [_]".to_string(), 2)]
        );
        assert!(r.top_causes(CaseStatus::Error, 0).is_empty());
    }

    #[test]
    fn committed_floor_file_parses() {
        let floors = parse_floors(include_str!("../onnx-floor.txt")).unwrap();
        assert!(
            floors.get("reference").is_some_and(|&n| n > 0),
            "{floors:?}"
        );
    }

    #[test]
    fn floor_file() {
        let dir = std::env::temp_dir().join(format!("tessera-floor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("floor.txt");
        let r = report();

        std::fs::write(&path, "# minimum passing cases\nreference 2\ncpu 100\n").unwrap();
        assert_eq!(check_floor(&r, &path).unwrap(), Some(2));
        std::fs::write(&path, "reference 3\n").unwrap();
        let err = check_floor(&r, &path).unwrap_err();
        assert!(
            matches!(
                err,
                ConformanceError::BelowFloor {
                    passed: 2,
                    floor: 3,
                    ..
                }
            ),
            "{err}"
        );
        std::fs::write(&path, "cpu 3\n").unwrap();
        assert_eq!(check_floor(&r, &path).unwrap(), None);
        std::fs::write(&path, "\nreference many\n").unwrap();
        let err = check_floor(&r, &path).unwrap_err();
        assert!(
            matches!(err, ConformanceError::FloorFile { line: 2, .. }),
            "{err}"
        );
        std::fs::write(&path, "reference 1 2\n").unwrap();
        assert!(check_floor(&r, &path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            check_floor(&r, &path),
            Err(ConformanceError::Io { .. })
        ));
    }
}
