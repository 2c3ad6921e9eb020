//! Expectations files: `conformance/expectations/<backend>.toml` lists a backend's known
//! failures and why. Checked against a report, they make CI green on known gaps, red on a new
//! failure, and red on a known failure that now passes (so the file stays true).
//!
//! ```toml
//! [[known]]
//! case = "sin/f32/n33/large"   # a case name, or a glob with * and ?
//! suite = "ops"                # optional: only cases of this suite (ops, onnx/node, ...)
//! reason = "argument reduction of huge arguments is not exact"
//! ```

use crate::error::ConformanceError;
use crate::onnx_node::matches_filter;
use crate::report::{CaseStatus, SuiteReport};
use serde::Deserialize;
use std::path::Path;

/// One known failure.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Known {
    /// A case name, or a glob (`*`, `?`) over case names.
    pub case: String,
    /// Only cases of this suite, when given.
    #[serde(default)]
    pub suite: Option<String>,
    /// Why it fails (shown in reports).
    pub reason: String,
}

/// A backend's expectations file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Expectations {
    /// Known failures.
    #[serde(default)]
    pub known: Vec<Known>,
}

impl Expectations {
    /// Parses an expectations file's text.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConformanceError> {
        toml::from_str(text).map_err(|e| ConformanceError::Io {
            path: path.to_path_buf(),
            message: format!("bad expectations file: {e}"),
        })
    }

    /// Loads `dir/<backend>.toml`; no file means no known failures.
    pub fn load(dir: &Path, backend: &str) -> Result<Self, ConformanceError> {
        let path = dir.join(format!("{backend}.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ConformanceError::Io {
                path,
                message: e.to_string(),
            }),
        }
    }

    fn entry_for(&self, suite: &str, case: &str) -> Option<&Known> {
        self.known.iter().find(|k| {
            k.suite.as_deref().is_none_or(|s| s == suite) && matches_filter(case, &k.case)
        })
    }
}

/// What checking a report against expectations found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpectationCheck {
    /// Failed or errored cases listed as known, with the reason.
    pub known_failures: Vec<(String, String)>,
    /// Failed or errored cases that no entry lists.
    pub new_failures: Vec<String>,
    /// Entries whose every matching case passed: the gap is closed, remove the entry.
    pub now_passing: Vec<String>,
}

impl ExpectationCheck {
    /// True when CI should be green: no new failures and no stale entries.
    pub fn ok(&self) -> bool {
        self.new_failures.is_empty() && self.now_passing.is_empty()
    }

    /// A short human-readable summary.
    pub fn summary(&self, backend: &str) -> String {
        let mut s = format!(
            "expectations for {backend}: {} known failures, {} new failures, {} known failures now passing\n",
            self.known_failures.len(),
            self.new_failures.len(),
            self.now_passing.len()
        );
        for c in &self.new_failures {
            s.push_str(&format!("  NEW FAILURE: {c}\n"));
        }
        for c in &self.now_passing {
            s.push_str(&format!(
                "  NOW PASSES (remove it from the expectations file): {c}\n"
            ));
        }
        s
    }
}

/// Checks a report against expectations: a failing (failed / error) case must be listed; an
/// entry whose matching cases all passed is stale. Unsupported and skipped cases are neither.
pub fn check(report: &SuiteReport, expectations: &Expectations) -> ExpectationCheck {
    let mut out = ExpectationCheck::default();
    let mut matched = vec![(0usize, 0usize); expectations.known.len()];
    for c in &report.cases {
        let idx = expectations.known.iter().position(|k| {
            k.suite.as_deref().is_none_or(|s| s == report.suite) && matches_filter(&c.name, &k.case)
        });
        let failing = matches!(c.status, CaseStatus::Failed | CaseStatus::Error);
        if let Some(i) = idx {
            matched[i].0 += 1;
            if c.status == CaseStatus::Passed {
                matched[i].1 += 1;
            }
        }
        if failing {
            match expectations.entry_for(&report.suite, &c.name) {
                Some(k) => out.known_failures.push((c.name.clone(), k.reason.clone())),
                None => out
                    .new_failures
                    .push(format!("{} ({}): {}", c.name, c.status, c.message)),
            }
        }
    }
    for (k, (seen, passed)) in expectations.known.iter().zip(matched) {
        let suite_applies = k.suite.as_deref().is_none_or(|s| s == report.suite);
        if suite_applies && seen > 0 && seen == passed {
            out.now_passing.push(k.case.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CaseResult;
    use std::time::Duration;

    fn case(name: &str, status: CaseStatus) -> CaseResult {
        CaseResult {
            name: name.into(),
            op: "x".into(),
            status,
            message: String::new(),
            max_abs_err: None,
            max_rel_err: None,
            max_ulp_err: None,
            first_index: None,
            placement: None,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn known_new_and_stale() {
        let e = Expectations::parse(
            "[[known]]\ncase = \"sin/*\"\nreason = \"range\"\n\n[[known]]\ncase = \"exp/f16\"\nsuite = \"ops\"\nreason = \"fixed\"\n",
            Path::new("cpu.toml"),
        )
        .unwrap();
        let report = SuiteReport {
            backend: "cpu".into(),
            suite: "ops".into(),
            cases: vec![
                case("sin/f32", CaseStatus::Failed),
                case("sin/f16", CaseStatus::Passed),
                case("exp/f16", CaseStatus::Passed),
                case("log/f32", CaseStatus::Error),
                case("cos/f32", CaseStatus::Unsupported),
            ],
            elapsed: Duration::ZERO,
        };
        let c = check(&report, &e);
        assert_eq!(c.known_failures, vec![("sin/f32".into(), "range".into())]);
        assert_eq!(c.new_failures.len(), 1);
        assert!(c.new_failures[0].starts_with("log/f32"));
        assert_eq!(c.now_passing, vec!["exp/f16".to_string()]);
        assert!(!c.ok());
        assert!(Expectations::parse("known = 3", Path::new("x.toml")).is_err());
    }
}
