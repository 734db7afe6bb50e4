//! `builtin:rollback-guard`: a rollback target must have run in this environment before, within
//! a maximum age and history depth, without crossing a version marked irreversible (a schema
//! migration, say). A target recorded unhealthy (`wasHealthy: false`) is denied; an unknown
//! health (`null`) is a warning.
//!
//! Age is measured from when the target stopped running (the next history entry's deployedAt),
//! else from its own deployedAt.

use std::process::ExitCode;

use jiff::SignedDuration;
use policy_common::{Version, human, now, parse_time};
use promote_policy_sdk::{
    Decision, EvaluationRequest, PolicyFailure, Reason, SettingsValidation, Verdict,
};
use serde::Deserialize;
use serde_json::Value;

promote_policy_sdk::embed_metadata!("../policy.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// Oldest acceptable target, in days.
    #[serde(default = "default_age")]
    max_age_days: u32,
    /// How many deployments back a target may be.
    #[serde(default = "default_depth")]
    max_history_depth: u32,
    /// Versions a rollback must not cross (going back past them loses data, say).
    #[serde(default)]
    irreversible: Vec<String>,
}

fn default_age() -> u32 {
    30
}

fn default_depth() -> u32 {
    10
}

fn main() -> ExitCode {
    promote_policy_sdk::run(evaluate, validate_settings)
}

fn validate_settings(settings: &Value) -> SettingsValidation {
    match Settings::deserialize(settings) {
        Ok(s) if s.max_history_depth == 0 => {
            SettingsValidation::invalid("maxHistoryDepth must be at least 1")
        }
        Ok(_) => SettingsValidation::valid(),
        Err(e) => SettingsValidation::invalid(e.to_string()),
    }
}

fn evaluate(req: &EvaluationRequest) -> Result<Decision, PolicyFailure> {
    let s: Settings = req.settings()?;
    let Some(r) = req.rollback() else {
        return Ok(Decision::allow().with_warning("rollback-guard only decides rollbacks"));
    };
    let env = &r.environment;
    let target = &r.to.version;
    let mut d = Decision::allow();
    let mut deny = |code: &str, msg: String| d.reasons.push(Reason::new(code, msg));
    let mut warnings = Vec::new();

    let history = req
        .environments
        .get(env)
        .and_then(|e| e.argocd.as_ref())
        .map(|a| a.history.as_slice())
        .unwrap_or_default();
    // Newest matching entry: by history id when we have one, else by revision.
    let found = history.iter().rposition(|h| match r.to.history_id {
        Some(id) => h.id == id,
        None => h.revision == r.to.revision,
    });
    let (stopped_at, newer): (Option<&str>, Vec<&str>) = match found {
        Some(i) => {
            let depth = history.len() - 1 - i;
            if depth > s.max_history_depth as usize {
                deny(
                    "RollbackTooDeep",
                    format!(
                        "{target} is {depth} deployments back in {env}; at most {} allowed",
                        s.max_history_depth
                    ),
                );
            }
            let stopped = history.get(i + 1).and_then(|h| h.deployed_at.as_deref());
            let stopped = stopped.or(history[i].deployed_at.as_deref());
            (
                stopped,
                history[i + 1..]
                    .iter()
                    .filter_map(|h| h.version.as_deref())
                    .collect(),
            )
        }
        None if !history.is_empty() => {
            deny(
                "NotInHistory",
                format!(
                    "{target} ({}) never ran in {env} according to its Argo CD history",
                    short(&r.to.revision)
                ),
            );
            (None, Vec::new())
        }
        None => match r.to.deployed_at.as_deref() {
            Some(at) => {
                warnings.push(format!(
                    "{env} has no Argo CD history; trusting the recorded deployment of {target} at {at}"
                ));
                (Some(at), Vec::new())
            }
            None => {
                deny(
                    "UnknownTarget",
                    format!("cannot tell whether {target} ever ran in {env}"),
                );
                (None, Vec::new())
            }
        },
    };
    if let Some(at) = stopped_at {
        let age = now(req)?.duration_since(parse_time("deployedAt", at)?);
        if age > SignedDuration::from_hours(24 * i64::from(s.max_age_days)) {
            deny(
                "RollbackTooOld",
                format!(
                    "{target} last ran in {env} {} ago; at most {} days allowed",
                    human(age),
                    s.max_age_days
                ),
            );
        }
    }

    // Versions between the target and now: what history shows after it, plus what runs.
    let from_v = Version::parse(&r.from.version);
    let to_v = Version::parse(target);
    for bad in &s.irreversible {
        let by_history = newer.iter().any(|v| v == bad) || r.from.version == *bad;
        let by_order = match (&to_v, &from_v, Version::parse(bad)) {
            (Some(t), Some(f), Some(b)) => *t < b && b <= *f,
            _ => false,
        };
        if (by_history || by_order) && *bad != *target {
            deny(
                "IrreversibleVersion",
                format!(
                    "rolling {env} back from {} to {target} crosses {bad}, marked irreversible",
                    r.from.version
                ),
            );
        }
    }

    match r.to.was_healthy {
        Some(false) => deny(
            "TargetWasUnhealthy",
            format!("{target} was recorded unhealthy in {env}"),
        ),
        None => warnings.push(format!("{env}: whether {target} was healthy is unknown")),
        Some(true) => {}
    }
    d.warnings = warnings;
    if !d.reasons.is_empty() {
        d.decision = Verdict::Deny;
    }
    Ok(d)
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}
