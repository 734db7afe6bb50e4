//! Policy test cases: `cases/*.json` files holding settings, a request and the expected
//! decision. `kubectl promote policy test DIR` and the built-ins' own tests run them.
//!
//! ```json
//! {"description": "a Friday afternoon is frozen",
//!  "settings": {"timezone": "Europe/Berlin", "deny": [...]},
//!  "request": {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "EvaluationRequest", ...},
//!  "expect": {"decision": "deny", "reasons": ["ChangeWindow"]}}
//! ```
//! `expect.reasons` (reason codes) and `expect.requiredApprovals` (ids) are compared as sets
//! when given; `expect.overridable` checks whether a denial lets `--override-policy` set it
//! aside; `expect.settingsValid` runs `validate-settings` instead of (or as well as)
//! `evaluate`.

use std::path::{Path, PathBuf};

use promote_policy_sdk::{Decision, EvaluationRequest, Verdict};
use serde::Deserialize;
use serde_json::Value;

use crate::{Host, Policy};

/// One case file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    #[serde(default)]
    pub description: String,
    /// The policy's settings; put into the request's `settings`.
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// The request (needed when `expect.decision` is given).
    #[serde(default)]
    pub request: Option<EvaluationRequest>,
    /// What must come out.
    pub expect: Expectation,
}

/// The expected outcome.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    /// The verdict of `evaluate`.
    #[serde(default)]
    pub decision: Option<Verdict>,
    /// The reason codes, as a set.
    #[serde(default)]
    pub reasons: Option<Vec<String>>,
    /// The required approval ids, as a set.
    #[serde(default)]
    pub required_approvals: Option<Vec<String>>,
    /// Substrings that must appear in some warning.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// The `valid` of `validate-settings`.
    #[serde(default)]
    pub settings_valid: Option<bool>,
    /// The decision's `overridable` (whether `--override-policy` may set a denial aside).
    #[serde(default)]
    pub overridable: Option<bool>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A case file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// I/O.
    #[error("reading test cases in {}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not a case document.
    #[error("{}: not a policy test case: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde's message.
        message: String,
    },
}

/// Reads every `*.json` in `dir`, sorted by file name.
///
/// # Errors
/// The first file that cannot be read or parsed.
pub fn load_cases(dir: &Path) -> Result<Vec<(PathBuf, Case)>, CaseError> {
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |source| CaseError::Read { path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read(&path).map_err(read_err(&path))?;
            let case = serde_json::from_slice(&text).map_err(|e| CaseError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
            Ok((path, case))
        })
        .collect()
}

/// Runs one case; `Err` says every way the outcome differs from the expectation.
///
/// # Errors
/// A description of the mismatch, or of the policy error.
pub fn run_case(host: &Host, policy: &Policy, case: &Case) -> Result<(), String> {
    let checked = check_case(host, policy, case);
    if checked.problems.is_empty() {
        Ok(())
    } else {
        Err(checked.problems.join("\n"))
    }
}

/// How one case went: every way the outcome differs from the expectation (empty: passed), and
/// the decision `evaluate` gave, for showing beside the expectation.
#[derive(Debug, Clone, Default)]
pub struct CaseCheck {
    /// The mismatches, or the policy error.
    pub problems: Vec<String>,
    /// What `evaluate` answered, when it ran and answered.
    pub actual: Option<Decision>,
}

/// Runs one case and keeps the decision.
pub fn check_case(host: &Host, policy: &Policy, case: &Case) -> CaseCheck {
    let mut checked = CaseCheck::default();
    let problems = &mut checked.problems;
    let e = &case.expect;
    if e.decision.is_none() && e.settings_valid.is_none() {
        problems.push("expect names neither `decision` nor `settingsValid`".into());
        return checked;
    }
    if let Some(valid) = e.settings_valid {
        match host.validate_settings(policy, &case.settings) {
            Ok(v) if v.valid == valid => {}
            Ok(v) => problems.push(format!(
                "validate-settings said valid={} ({}), expected {valid}",
                v.valid,
                v.message.unwrap_or_default()
            )),
            Err(err) => problems.push(format!("validate-settings failed: {err}")),
        }
    }
    if let Some(want) = e.decision {
        let Some(request) = &case.request else {
            problems.push("expect.decision needs a `request`".into());
            return checked;
        };
        let mut request = request.clone();
        request.settings = case.settings.clone();
        match host.evaluate(policy, &request) {
            Err(err) => problems.push(format!("evaluate failed: {err}")),
            Ok(ev) => {
                let d = ev.decision;
                compare(e, want, &d, problems);
                checked.actual = Some(d);
            }
        }
    }
    checked
}

/// Every way decision `d` differs from `e` (whose decision is `want`).
fn compare(e: &Expectation, want: Verdict, d: &Decision, problems: &mut Vec<String>) {
    let said = || {
        d.reasons
            .iter()
            .map(|r| format!("{}: {}", r.code, r.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if d.decision != want {
        problems.push(format!(
            "decision is {} ({}), expected {want}",
            d.decision,
            said()
        ));
    }
    if let Some(codes) = &e.reasons {
        let mut got: Vec<&str> = d.reasons.iter().map(|r| r.code.as_str()).collect();
        let mut want: Vec<&str> = codes.iter().map(String::as_str).collect();
        got.sort_unstable();
        got.dedup();
        want.sort_unstable();
        want.dedup();
        if got != want {
            problems.push(format!(
                "reason codes are {got:?} ({}), expected {want:?}",
                said()
            ));
        }
    }
    if let Some(ids) = &e.required_approvals {
        let mut got: Vec<&str> = d.required_approvals.iter().map(|r| r.id.as_str()).collect();
        let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
        got.sort_unstable();
        want.sort_unstable();
        if got != want {
            problems.push(format!("required approvals are {got:?}, expected {want:?}"));
        }
    }
    if let Some(want) = e.overridable
        && d.overridable != want
    {
        problems.push(format!("overridable is {}, expected {want}", d.overridable));
    }
    for w in e.warnings.iter().flatten() {
        if !d.warnings.iter().any(|x| x.contains(w.as_str())) {
            problems.push(format!(
                "no warning contains {w:?} (warnings: {:?})",
                d.warnings
            ));
        }
    }
}
