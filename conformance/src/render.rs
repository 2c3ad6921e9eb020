//! Renderings of one or more suite reports side by side: the terminal matrix (operator ×
//! backend, colored on a terminal), JUnit XML for CI, a Markdown page, and one self-contained
//! HTML page with the matrix and per-case details.

use crate::report::{CaseResult, CaseStatus, SuiteReport, Totals};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The column title of a report: the backend, prefixed by the suite when several suites are
/// shown.
fn column(r: &SuiteReport, many_suites: bool) -> String {
    if many_suites {
        format!("{}:{}", r.suite, r.backend)
    } else {
        r.backend.clone()
    }
}

fn many_suites(reports: &[SuiteReport]) -> bool {
    reports
        .iter()
        .map(|r| r.suite.as_str())
        .collect::<BTreeSet<_>>()
        .len()
        > 1
}

/// Per-operator totals of each report, with every operator seen in any report.
fn matrix(reports: &[SuiteReport]) -> (Vec<String>, Vec<BTreeMap<&str, Totals>>) {
    let per: Vec<_> = reports.iter().map(|r| r.per_op()).collect();
    let ops: BTreeSet<String> = per
        .iter()
        .flat_map(|m| m.keys().map(|k| k.to_string()))
        .collect();
    (ops.into_iter().collect(), per)
}

/// The cell of one operator on one backend: `passed/total`, then `!N` for failed + errors,
/// `uN` unsupported and `sN` skipped.
fn cell(t: &Totals) -> String {
    let mut s = format!("{}/{}", t.passed, t.total);
    if t.failed + t.errors > 0 {
        let _ = write!(s, " !{}", t.failed + t.errors);
    }
    if t.unsupported > 0 {
        let _ = write!(s, " u{}", t.unsupported);
    }
    if t.skipped > 0 {
        let _ = write!(s, " s{}", t.skipped);
    }
    s
}

/// What a cell's color says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Good,
    Bad,
    Partial,
    None,
}

fn tone(t: &Totals) -> Tone {
    if t.failed + t.errors > 0 {
        Tone::Bad
    } else if t.passed == t.total && t.total > 0 {
        Tone::Good
    } else if t.passed > 0 || t.unsupported > 0 {
        Tone::Partial
    } else {
        Tone::None
    }
}

/// The terminal matrix: one row per operator, one column per report, and a totals row. With
/// `color`, cells are green (all pass), red (failures or errors), yellow (some unsupported).
pub fn terminal_matrix(reports: &[SuiteReport], color: bool) -> String {
    let many = many_suites(reports);
    let (ops, per) = matrix(reports);
    let cols: Vec<String> = reports.iter().map(|r| column(r, many)).collect();
    let w0 = ops.iter().map(|o| o.len()).max().unwrap_or(2).max(5);
    let mut widths: Vec<usize> = cols.iter().map(|c| c.len().max(12)).collect();
    for (j, m) in per.iter().enumerate() {
        for t in m.values() {
            widths[j] = widths[j].max(cell(t).len());
        }
    }
    let mut s = format!("{:<w0$}", "op");
    for (c, w) in cols.iter().zip(&widths) {
        let _ = write!(s, "  {c:<w$}");
    }
    s.push('\n');
    let paint = |text: String, tone: Tone| -> String {
        if !color {
            return text;
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Partial => "33",
            Tone::None => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    for op in &ops {
        let _ = write!(s, "{op:<w0$}");
        for (m, w) in per.iter().zip(&widths) {
            let (text, tn) = match m.get(op.as_str()) {
                Some(t) => (cell(t), tone(t)),
                None => ("-".to_string(), Tone::None),
            };
            let _ = write!(s, "  {}", paint(format!("{text:<w$}"), tn));
        }
        s.push('\n');
    }
    let _ = write!(s, "{:<w0$}", "TOTAL");
    for (r, w) in reports.iter().zip(&widths) {
        let t = r.totals();
        let _ = write!(s, "  {}", paint(format!("{:<w$}", cell(&t)), tone(&t)));
    }
    s.push('\n');
    for r in reports {
        let t = r.totals();
        let _ = writeln!(
            s,
            "{}: {} cases: {} passed, {} failed, {} errors, {} unsupported, {} skipped; \
             placement {} native, {} fallback ({:.1}s)",
            column(r, true),
            t.total,
            t.passed,
            t.failed,
            t.errors,
            t.unsupported,
            t.skipped,
            t.native,
            t.fallback,
            r.elapsed.as_secs_f64()
        );
    }
    s
}

/// Text escaped for XML attributes and content.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn case_details(c: &CaseResult) -> String {
    let mut d = c.message.clone();
    if let Some(p) = c.placement {
        let _ = write!(d, " [placement: {p}]");
    }
    d
}

/// JUnit XML: one `<testsuite>` per report (named `suite/backend`), one `<testcase>` per case
/// with the operator as its class; failed cases have `<failure>`, errors `<error>`, and
/// unsupported and skipped cases `<skipped>` with the reason.
pub fn junit(reports: &[SuiteReport]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for r in reports {
        let t = r.totals();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            xml(&format!("{}/{}", r.suite, r.backend)),
            t.total,
            t.failed,
            t.errors,
            t.unsupported + t.skipped,
            r.elapsed.as_secs_f64()
        );
        for c in &r.cases {
            let _ = write!(
                s,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.4}\"",
                xml(&format!("{}.{}.{}", r.suite, r.backend, c.op)),
                xml(&c.name),
                c.elapsed.as_secs_f64()
            );
            let body = match c.status {
                CaseStatus::Passed => None,
                CaseStatus::Failed => Some("failure"),
                CaseStatus::Error => Some("error"),
                CaseStatus::Unsupported | CaseStatus::Skipped => Some("skipped"),
            };
            match body {
                None => s.push_str("/>\n"),
                Some(tag) => {
                    let _ = writeln!(
                        s,
                        ">\n      <{tag} message=\"{}: {}\"/>\n    </testcase>",
                        c.status,
                        xml(&case_details(c))
                    );
                }
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

fn md(text: &str) -> String {
    text.replace('\n', " ")
        .replace('|', "\\|")
        .replace('<', "&lt;")
}

/// A Markdown page: totals per report, the operator × backend matrix, and every case that did
/// not pass with its message.
pub fn markdown(reports: &[SuiteReport]) -> String {
    let many = many_suites(reports);
    let mut s = String::from(
        "# Tessera conformance\n\nGenerated by `tessera conformance`.\n\n\
         | suite | backend | total | passed | failed | error | unsupported | skipped | native | fallback |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let t = r.totals();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.suite,
            r.backend,
            t.total,
            t.passed,
            t.failed,
            t.errors,
            t.unsupported,
            t.skipped,
            t.native,
            t.fallback
        );
    }
    let (ops, per) = matrix(reports);
    s.push_str("\n## Operators\n\n| op |");
    for r in reports {
        let _ = write!(s, " {} |", md(&column(r, many)));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(reports.len()));
    s.push('\n');
    for op in &ops {
        let _ = write!(s, "| {} |", md(op));
        for m in &per {
            let _ = write!(s, " {} |", m.get(op.as_str()).map_or("-".into(), cell));
        }
        s.push('\n');
    }
    for r in reports {
        let bad: Vec<_> = r
            .cases
            .iter()
            .filter(|c| c.status != CaseStatus::Passed)
            .collect();
        let _ = write!(
            s,
            "\n## {} — cases that did not pass ({})\n\n",
            md(&column(r, true)),
            bad.len()
        );
        for c in bad {
            let _ = writeln!(
                s,
                "- `{}` **{}**: {}",
                c.name,
                c.status,
                md(&case_details(c))
            );
        }
    }
    s
}

/// One self-contained HTML page: totals, the colored matrix, and a table of every case of
/// every report (status, errors, placement, message), failing cases first.
pub fn html(reports: &[SuiteReport]) -> String {
    let many = many_suites(reports);
    let mut s = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Tessera conformance</title>\n<style>\n\
         body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}\n\
         td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}th{background:#eee}\n\
         .good{background:#c8f0c8}.bad{background:#f4b8b8}.partial{background:#f8eab0}.none{color:#888}\n\
         .passed{color:#170}.failed,.error{color:#b00;font-weight:bold}.unsupported,.skipped{color:#960}\n\
         details{margin:.5em 0}code{font-size:12px}\n</style></head><body>\n<h1>Tessera conformance</h1>\n",
    );
    s.push_str("<table><tr><th>suite</th><th>backend</th><th>total</th><th>passed</th><th>failed</th><th>error</th><th>unsupported</th><th>skipped</th><th>native</th><th>fallback</th><th>time</th></tr>\n");
    for r in reports {
        let t = r.totals();
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}s</td></tr>",
            xml(&r.suite),
            xml(&r.backend),
            t.total,
            t.passed,
            t.failed,
            t.errors,
            t.unsupported,
            t.skipped,
            t.native,
            t.fallback,
            r.elapsed.as_secs_f64()
        );
    }
    s.push_str("</table>\n<h2>Operator × backend</h2>\n<table><tr><th>op</th>");
    for r in reports {
        let _ = write!(s, "<th>{}</th>", xml(&column(r, many)));
    }
    s.push_str("</tr>\n");
    let (ops, per) = matrix(reports);
    for op in &ops {
        let _ = write!(s, "<tr><td><a href=\"#op-{0}\">{0}</a></td>", xml(op));
        for m in &per {
            match m.get(op.as_str()) {
                Some(t) => {
                    let class = match tone(t) {
                        Tone::Good => "good",
                        Tone::Bad => "bad",
                        Tone::Partial => "partial",
                        Tone::None => "none",
                    };
                    let _ = write!(s, "<td class=\"{class}\">{}</td>", xml(&cell(t)));
                }
                None => s.push_str("<td class=\"none\">-</td>"),
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n<h2>Cases</h2>\n");
    for op in &ops {
        let _ = writeln!(
            s,
            "<details id=\"op-{0}\"><summary>{0}</summary>\n<table><tr><th>backend</th><th>case</th><th>status</th><th>max abs</th><th>max rel</th><th>max ulp</th><th>first index</th><th>placement</th><th>ms</th><th>message</th></tr>",
            xml(op)
        );
        for r in reports {
            let mut cases: Vec<&CaseResult> = r.cases.iter().filter(|c| &c.op == op).collect();
            cases.sort_by_key(|c| (c.status == CaseStatus::Passed, c.name.clone()));
            for c in cases {
                let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3e}"));
                let _ = writeln!(
                    s,
                    "<tr><td>{}</td><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
                    xml(&column(r, many)),
                    xml(&c.name),
                    c.status,
                    c.status,
                    num(c.max_abs_err),
                    num(c.max_rel_err),
                    c.max_ulp_err.map_or(String::new(), |v| format!("{v}")),
                    c.first_index.map_or(String::new(), |i| i.to_string()),
                    c.placement.unwrap_or(""),
                    c.elapsed.as_secs_f64() * 1e3,
                    xml(&c.message)
                );
            }
        }
        s.push_str("</table></details>\n");
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(backend: &str, statuses: &[(&str, CaseStatus)]) -> SuiteReport {
        SuiteReport {
            backend: backend.into(),
            suite: "ops".into(),
            cases: statuses
                .iter()
                .enumerate()
                .map(|(i, (op, st))| CaseResult {
                    name: format!("{op}/f32/c{i}/ordinary"),
                    op: op.to_string(),
                    status: *st,
                    message: if *st == CaseStatus::Passed {
                        String::new()
                    } else {
                        "x < y & \"z\"".into()
                    },
                    max_abs_err: Some(0.5),
                    max_rel_err: None,
                    max_ulp_err: Some(3.0),
                    first_index: None,
                    placement: Some("native"),
                    elapsed: Duration::from_millis(2),
                })
                .collect(),
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn renderings_escape_and_count() {
        let a = report(
            "cpu",
            &[("add", CaseStatus::Passed), ("exp", CaseStatus::Failed)],
        );
        let b = report(
            "vk",
            &[("add", CaseStatus::Skipped), ("exp", CaseStatus::Error)],
        );
        let reports = [a, b];
        let m = terminal_matrix(&reports, false);
        assert!(
            m.contains("add") && m.contains("1/1") && m.contains("0/1 !1"),
            "{m}"
        );
        assert!(terminal_matrix(&reports, true).contains("\x1b[31m"));
        let j = junit(&reports);
        assert!(
            j.contains("<failure message=\"failed: x &lt; y &amp; &quot;z&quot;"),
            "{j}"
        );
        assert!(j.contains("<error ") && j.contains("<skipped "));
        assert_eq!(j.matches("<testcase").count(), 4);
        let h = html(&reports);
        assert!(h.contains("class=\"bad\"") && h.contains("x &lt; y"));
        assert!(!h.contains("x < y"));
        let md = markdown(&reports);
        assert!(md.contains("| add | 1/1 | 0/1 s1 |"), "{md}");
    }
}
