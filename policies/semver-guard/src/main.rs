//! `builtin:semver-guard`: versions only move forward through `promote` (going back is
//! `rollback`'s job), no major version is skipped unless allowed, and no pre-release reaches an
//! environment marked stable.
//!
//! Comparisons are per image (`from.tag` → `to.tag`), so mixed environments are checked too.

use std::process::ExitCode;

use policy_common::Version;
use promote_policy_sdk::{
    Decision, EvaluationRequest, PolicyFailure, Reason, SettingsValidation, Verdict,
};
use serde::Deserialize;
use serde_json::Value;

promote_policy_sdk::embed_metadata!("../policy.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// Allow 1.x → 3.x.
    #[serde(default)]
    allow_major_skip: bool,
    /// Environments that only take releases (no `-rc.1` and the like).
    #[serde(default = "default_stable")]
    stable_environments: Vec<String>,
    /// Deny tags that are not semantic versions (else: warn and skip them).
    #[serde(default)]
    require_semver: bool,
}

fn default_stable() -> Vec<String> {
    vec!["prod".to_owned()]
}

fn main() -> ExitCode {
    promote_policy_sdk::run(evaluate, validate_settings)
}

fn validate_settings(settings: &Value) -> SettingsValidation {
    match Settings::deserialize(settings) {
        Ok(_) => SettingsValidation::valid(),
        Err(e) => SettingsValidation::invalid(e.to_string()),
    }
}

fn evaluate(req: &EvaluationRequest) -> Result<Decision, PolicyFailure> {
    let s: Settings = req.settings()?;
    let Some(p) = req.promotion() else {
        return Ok(Decision::allow().with_warning("semver-guard only decides promotions"));
    };
    let env = &p.environment;
    let stable = s.stable_environments.iter().any(|e| e == env);
    let mut d = Decision::allow();
    let mut deny = |code: &str, msg: String| d.reasons.push(Reason::new(code, msg));
    let mut warnings = Vec::new();
    for image in &p.images {
        let Some(to_tag) = image.to.tag.as_deref() else {
            continue;
        };
        let Some(to) = Version::parse(to_tag) else {
            if s.require_semver {
                deny(
                    "NotSemver",
                    format!("{}: {to_tag:?} is not a semantic version", image.name),
                );
            } else {
                warnings.push(format!(
                    "{}: {to_tag:?} is not a semantic version; not checked",
                    image.name
                ));
            }
            continue;
        };
        if stable && to.is_prerelease() {
            deny(
                "PreReleaseToStable",
                format!(
                    "{}: {to_tag} is a pre-release and {env} is marked stable",
                    image.name
                ),
            );
        }
        let Some(from_tag) = image.from.tag.as_deref() else {
            continue;
        };
        let Some(from) = Version::parse(from_tag) else {
            warnings.push(format!(
                "{}: running tag {from_tag:?} is not a semantic version",
                image.name
            ));
            continue;
        };
        if to < from {
            deny(
                "Downgrade",
                format!(
                    "{}: {to_tag} is older than {from_tag} running in {env}; use `kubectl promote rollback {env}` to go back",
                    image.name
                ),
            );
        } else if to.major > from.major + 1 && !s.allow_major_skip {
            deny(
                "MajorVersionSkipped",
                format!(
                    "{}: {from_tag} → {to_tag} skips major version {}; promote through it or set allowMajorSkip",
                    image.name,
                    from.major + 1
                ),
            );
        }
    }
    d.warnings = warnings;
    if !d.reasons.is_empty() {
        d.decision = Verdict::Deny;
    }
    Ok(d)
}
