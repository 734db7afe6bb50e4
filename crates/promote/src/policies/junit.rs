//! `policy test --junit FILE`: the report as JUnit XML, the format CI systems (GitLab, Jenkins,
//! GitHub test reporters) read. One `<testsuite>` per directory of cases, one `<testcase>` per
//! file; a failed case carries its first problem as the message and every problem as text.

use std::fmt::Write as _;
use std::path::Path;

use super::error::PoliciesError;
use super::suite::{CaseResult, TestReport};
use crate::PromoteError;

/// Writes [`xml`] to `path`.
pub fn write(report: &TestReport, path: &Path) -> Result<(), PromoteError> {
    std::fs::write(path, xml(report)).map_err(|source| {
        PoliciesError::Write {
            path: path.to_path_buf(),
            source,
        }
        .into()
    })
}

/// The XML document.
pub fn xml(report: &TestReport) -> String {
    let mut suites: Vec<(String, Vec<&CaseResult>)> = Vec::new();
    for case in &report.cases {
        let suite = match case.file.rsplit_once('/') {
            Some((dir, _)) => dir.to_owned(),
            None => Path::new(&report.dir)
                .file_name()
                .map_or_else(|| report.dir.clone(), |n| n.to_string_lossy().into_owned()),
        };
        match suites.iter_mut().find(|(name, _)| *name == suite) {
            Some((_, cases)) => cases.push(case),
            None => suites.push((suite, vec![case])),
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kubectl promote policy test\" tests=\"{}\" failures=\"{}\">",
        report.passed + report.failed,
        report.failed
    );
    for (name, cases) in &suites {
        let failures = cases.iter().filter(|c| !c.passed).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
            escape(name),
            cases.len()
        );
        for c in cases {
            let file = c.file.rsplit('/').next().unwrap_or(&c.file);
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\">",
                escape(file),
                escape(c.module.as_deref().unwrap_or("-"))
            );
            if !c.passed {
                let first = c.problems.first().map_or("failed", String::as_str);
                let _ = write!(
                    out,
                    "<failure message=\"{}\">{}</failure>",
                    escape(first),
                    escape(&c.problems.join("\n"))
                );
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text for an XML attribute or element; control characters XML 1.0 cannot hold are dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn text_from_modules_cannot_break_the_document() {
        assert_eq!(
            escape("a<b>&\"c\"\u{1b}[31m"),
            "a&lt;b&gt;&amp;&quot;c&quot;[31m"
        );
    }
}
