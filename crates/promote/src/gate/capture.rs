//! `--save-requests DIR`: each policy's exact request (its settings included) and the decision
//! it got, written as a case file `kubectl promote policy test` runs, so a real situation
//! becomes a regression case in one command.
//!
//! Nothing is added to what the request already holds (no tokens, no environment). File names
//! come from the environment and the policy's name, which a module's metadata sets: they are
//! cut to a safe alphabet and length, so a hostile name cannot leave DIR or overwrite a file
//! (files are created new; a taken name gets a `-2`, `-3`, … suffix).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use promote_policy::sdk::{EvaluationRequest, Verdict};
use promote_policy::{Combined, ConfiguredPolicy, OverrideOutcome, PolicyReport};

use crate::policies::error::PoliciesError;
use crate::{Interaction, PromoteError};

/// The longest file-name part taken from a name.
const MAX_PART: usize = 48;

/// Writes one case per policy that decided; a policy that failed is named in a warning (its
/// error is not a decision a case can expect). Returns the files written.
pub fn save(
    dir: &Path,
    policies: &[ConfiguredPolicy],
    request: &EvaluationRequest,
    combined: &Combined,
    ui: &dyn Interaction,
) -> Result<Vec<PathBuf>, PromoteError> {
    let write_error = |path: &Path, source| PoliciesError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let mut written = Vec::new();
    for (configured, report) in policies.iter().zip(&combined.policies) {
        if let Some(error) = &report.error {
            ui.warn(&format!(
                "--save-requests: no case for {} ({}): it could not decide: {error}",
                report.name, report.origin
            ));
            continue;
        }
        let case = case_of(configured, report, request);
        let stem = format!(
            "{}-{}-{}",
            safe(request.target_environment()),
            request.kind(),
            safe(&report.name)
        );
        let text = serde_json::to_string_pretty(&case).unwrap_or_default() + "\n";
        let path = create_new(dir, &stem, text.as_bytes()).map_err(|e| write_error(dir, e))?;
        written.push(path);
    }
    if !written.is_empty() {
        ui.step(&format!(
            "saved {} policy request{} as test cases in {} (kubectl promote policy test {})",
            written.len(),
            if written.len() == 1 { "" } else { "s" },
            dir.display(),
            dir.display()
        ));
    }
    Ok(written)
}

/// The case: the module when it can be named from anywhere (`builtin:`, `krew:`), the settings,
/// the request as the policy got it (settings apart, as the case format keeps them), and the
/// policy's own decision.
fn case_of(c: &ConfiguredPolicy, r: &PolicyReport, request: &EvaluationRequest) -> Value {
    let mut request = serde_json::to_value(request).unwrap_or(Value::Null);
    request["settings"] = json!({});
    // The host adds `OverrideRefused` to a denial that refused --override-policy: not the
    // module's own reason.
    let codes: Vec<&str> = r
        .reasons
        .iter()
        .filter(|x| {
            !(r.override_outcome == Some(OverrideOutcome::Refused) && x.code == "OverrideRefused")
        })
        .map(|x| x.code.as_str())
        .collect();
    let mut expect = json!({"decision": r.decision});
    if r.decision == Verdict::Deny {
        expect["reasons"] = json!(codes);
    }
    if r.decision == Verdict::RequireApproval {
        expect["requiredApprovals"] = json!(
            r.required_approvals
                .iter()
                .map(|a| &a.id)
                .collect::<Vec<_>>()
        );
    }
    let description = format!(
        "saved by --save-requests: {} of {} to {} at {}: {} said {} (module {} sha256:{})",
        request["operation"].as_str().unwrap_or("?"),
        request_env(&request),
        request_version(&request),
        request["context"]["now"].as_str().unwrap_or("?"),
        r.name,
        r.decision,
        r.origin,
        r.sha256,
    );
    let mut case = json!({
        "description": description,
        "settings": c.settings,
        "request": request,
        "expect": expect,
    });
    if r.origin.starts_with("builtin:") {
        case["module"] = json!(r.origin);
    } else if let Some(name) = r.origin.strip_prefix("krew:") {
        // `krew:<index>/<name>@<version>`: the installed plugin, whatever its version.
        let name = name.split('@').next().unwrap_or(name);
        case["module"] = json!(format!("krew:{name}"));
    }
    case
}

fn request_env(request: &Value) -> String {
    ["promotion", "rollback", "verify"]
        .iter()
        .find_map(|k| request[k]["environment"].as_str())
        .unwrap_or("?")
        .to_owned()
}

fn request_version(request: &Value) -> String {
    request["promotion"]["version"]
        .as_str()
        .or_else(|| request["rollback"]["to"]["version"].as_str())
        .or_else(|| request["verify"]["version"].as_str())
        .unwrap_or("?")
        .to_owned()
}

/// A name cut to `[a-z0-9._-]`, at most [`MAX_PART`] characters, never starting with a dot.
fn safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .take(MAX_PART)
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() {
        "policy".to_owned()
    } else {
        s.to_owned()
    }
}

/// Creates `dir/stem.json`, or `stem-2.json`, … when taken; never overwrites.
fn create_new(dir: &Path, stem: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.json")
        } else {
            format!("{stem}-{n}.json")
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(bytes)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "{stem}.json and 999 numbered names are taken in {}",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::{create_new, safe};

    #[test]
    fn names_from_modules_cannot_leave_the_directory() {
        assert_eq!(safe("../../etc/passwd"), "etc-passwd");
        assert_eq!(safe("..."), "policy");
        assert_eq!(safe("Cost Guard/ü"), "cost-guard");
        assert_eq!(safe(&"a".repeat(500)).len(), super::MAX_PART);
        assert_eq!(safe("qa-approved"), "qa-approved");
    }

    #[test]
    fn a_taken_name_gets_a_number_and_nothing_is_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let a = create_new(d.path(), "prod-promote-x", b"1").unwrap();
        let b = create_new(d.path(), "prod-promote-x", b"2").unwrap();
        assert_eq!(a.file_name().unwrap(), "prod-promote-x.json");
        assert_eq!(b.file_name().unwrap(), "prod-promote-x-2.json");
        assert_eq!(std::fs::read(&a).unwrap(), b"1");
    }
}
