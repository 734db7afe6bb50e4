//! `builtin:soak-time`: the version must have run upstream for at least N minutes.
//!
//! The start is the oldest entry of the newest unbroken run of this version in the upstream's
//! Argo CD history when Argo CD is known; otherwise the commit time of the upstream overlay.
//! The decision says which source it used.

use std::process::ExitCode;

use jiff::SignedDuration;
use policy_common::{human, now, parse_time};
use promote_policy_sdk::{Decision, EvaluationRequest, PolicyFailure, SettingsValidation, Verdict};
use serde::Deserialize;
use serde_json::Value;

promote_policy_sdk::embed_metadata!("../policy.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// Minimum soak in minutes.
    minutes: u64,
    /// Where to soak; defaults to the promotion's `from`.
    #[serde(default)]
    environment: Option<String>,
    /// Let `--override-policy` through (with a warning). Without it, every denial says it may
    /// not be overridden (`overridable: false`).
    #[serde(default)]
    honor_override: bool,
}

fn main() -> ExitCode {
    promote_policy_sdk::run(evaluate, validate_settings)
}

fn validate_settings(settings: &Value) -> SettingsValidation {
    match Settings::deserialize(settings) {
        Ok(s) if s.minutes > 525_600 => SettingsValidation::invalid("minutes: more than a year"),
        Ok(_) => SettingsValidation::valid(),
        Err(e) => SettingsValidation::invalid(e.to_string()),
    }
}

/// Without `honorOverride`, no denial of this policy may be set aside by break-glass: the host
/// keeps it under `--override-policy` and says this policy refused the override.
fn evaluate(req: &EvaluationRequest) -> Result<Decision, PolicyFailure> {
    let s: Settings = req.settings()?;
    let d = decide(req, &s)?;
    Ok(if d.decision == Verdict::Deny && !s.honor_override {
        d.not_overridable()
    } else {
        d
    })
}

fn decide(req: &EvaluationRequest, s: &Settings) -> Result<Decision, PolicyFailure> {
    let Some(p) = req.promotion() else {
        return Ok(Decision::allow().with_warning("soak-time only decides promotions"));
    };
    let Some(upstream) = s.environment.as_deref().or(p.from.as_deref()) else {
        return Ok(Decision::deny(
            "NoUpstream",
            format!(
                "{} has no upstream environment to measure a soak in",
                p.environment
            ),
        ));
    };
    let Some(env) = req.environments.get(upstream) else {
        return Ok(Decision::deny(
            "NoUpstream",
            format!("environment {upstream} is unknown"),
        ));
    };
    let version = &p.version;
    if env.version != *version {
        return Ok(Decision::deny(
            "NotDeployedUpstream",
            format!("{upstream}'s overlay has {}, not {version}", env.version),
        ));
    }
    let (since, source) = match env.argocd.as_ref().filter(|a| !a.history.is_empty()) {
        Some(argo) => {
            let run: Vec<_> = argo
                .history
                .iter()
                .rev()
                .take_while(|h| h.version.as_deref() == Some(version.as_str()))
                .collect();
            let Some(first) = run.last() else {
                return Ok(Decision::deny(
                    "NotDeployedUpstream",
                    format!("Argo CD history shows {upstream} does not run {version}"),
                ));
            };
            match &first.deployed_at {
                Some(at) => (
                    parse_time("deployedAt", at)?,
                    format!("Argo CD history entry {}", first.id),
                ),
                None => {
                    return Ok(Decision::deny(
                        "SoakUnknown",
                        format!(
                            "Argo CD history entry {} of {upstream} has no deployedAt",
                            first.id
                        ),
                    ));
                }
            }
        }
        None => match env.git.as_ref().and_then(|g| g.committed_at.as_deref()) {
            Some(at) => (
                parse_time("git.committedAt", at)?,
                "the commit time (Argo CD history unknown)".to_owned(),
            ),
            None => {
                return Ok(Decision::deny(
                    "SoakUnknown",
                    format!("neither Argo CD history nor the commit time of {upstream} is known"),
                ));
            }
        },
    };
    let now = now(req)?;
    let soaked = now.duration_since(since);
    let needed = SignedDuration::from_mins(i64::try_from(s.minutes).unwrap_or(i64::MAX));
    if soaked >= needed {
        return Ok(Decision::allow().with_reason(
            "Soaked",
            format!(
                "{version} has run in {upstream} for {} (since {since}, from {source})",
                human(soaked)
            ),
        ));
    }
    let ready = since
        .checked_add(needed)
        .map_or_else(|_| "never".to_owned(), |t| t.to_string());
    let msg = format!(
        "{version} has run in {upstream} for {} (since {since}, from {source}); {} required, ready at {ready}",
        human(soaked),
        human(needed)
    );
    match p.override_.as_ref().filter(|_| s.honor_override) {
        Some(o) => {
            Ok(Decision::allow()
                .with_warning(format!("soak-time overridden ({}): {msg}", o.reason)))
        }
        None => Ok(Decision::deny("SoakTime", msg)),
    }
}
