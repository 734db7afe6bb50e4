//! `builtin:qa-approved`: a promotion needs QA's approval of this version in the upstream
//! environment, bound to the same images, and the upstream overlay must run those images.
//!
//! The record in force is the latest for (upstream, version, role): a rejection denies with its
//! note, a revocation or no record at all waits for approval (exit 4), an approval must cover
//! every promoted image with the same tag (and digest, where QA recorded one).

use std::process::ExitCode;

use policy_common::{same_image, show_image};
use promote_policy_sdk::{
    ApprovalVerdict, Decision, EvaluationRequest, PolicyFailure, RequiredApproval,
    SettingsValidation, latest_approval,
};
use serde::Deserialize;
use serde_json::Value;

promote_policy_sdk::embed_metadata!("../policy.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// The approver role whose verdict counts.
    #[serde(default = "default_role")]
    role: String,
    /// Where QA tests; defaults to the promotion's `from`.
    #[serde(default)]
    environment: Option<String>,
}

fn default_role() -> String {
    "qa".to_owned()
}

fn main() -> ExitCode {
    promote_policy_sdk::run(evaluate, validate_settings)
}

fn validate_settings(settings: &Value) -> SettingsValidation {
    match Settings::deserialize(settings) {
        Ok(s) if s.role.is_empty() => SettingsValidation::invalid("role must not be empty"),
        Ok(_) => SettingsValidation::valid(),
        Err(e) => SettingsValidation::invalid(e.to_string()),
    }
}

fn evaluate(req: &EvaluationRequest) -> Result<Decision, PolicyFailure> {
    let settings: Settings = req.settings()?;
    let Some(p) = req.promotion() else {
        return Ok(Decision::allow().with_warning("qa-approved only decides promotions"));
    };
    let Some(upstream) = settings.environment.as_deref().or(p.from.as_deref()) else {
        return Ok(Decision::deny(
            "NoUpstream",
            format!(
                "{} has no upstream environment to look for a {} approval in; promote with --from ENV or set `environment` in the policy settings",
                p.environment, settings.role
            ),
        ));
    };
    let role = settings.role.as_str();
    let wait = |why: String| {
        Decision::require_approval(RequiredApproval {
            id: format!("{role}@{upstream}"),
            environment: upstream.to_owned(),
            count: 1,
            reason: why,
        })
    };
    let Some(record) = latest_approval(&req.approvals, upstream, &p.version, role) else {
        return Ok(wait(format!(
            "{} has no {role} approval on {upstream} yet (kubectl promote approve {upstream} {} --role {role})",
            p.version, p.version
        )));
    };
    let who = record
        .by
        .name
        .as_deref()
        .or(record.by.email.as_deref())
        .unwrap_or("someone");
    match record.verdict {
        ApprovalVerdict::Rejected => {
            return Ok(Decision::deny(
                "QaRejected",
                format!(
                    "{} was rejected by {role} on {upstream} ({who}, {}): {}",
                    p.version,
                    record.at,
                    record.note.as_deref().unwrap_or("no reason given")
                ),
            ));
        }
        ApprovalVerdict::Revoked => {
            return Ok(wait(format!(
                "{who} revoked the {role} approval of {} on {upstream} at {}",
                p.version, record.at
            )));
        }
        ApprovalVerdict::Approved => {}
    }

    let mut decision = Decision::allow();
    let upstream_env = req.environments.get(upstream);
    for image in &p.images {
        match record.images.get(&image.name) {
            None => decision.reasons.push(reason(
                "QaApprovalImagesDiffer",
                format!(
                    "the {role} approval of {} does not cover image {}",
                    p.version, image.name
                ),
            )),
            Some(approved) if approved.tag != image.to.tag => decision.reasons.push(reason(
                "QaApprovalImagesDiffer",
                format!(
                    "{}: {role} approved {}, the promotion sets {}",
                    image.name,
                    show_image(approved),
                    show_image(&image.to)
                ),
            )),
            Some(approved) => match (&approved.digest, &image.to.digest) {
                (Some(a), Some(b)) if a != b => decision.reasons.push(reason(
                    "QaApprovalImagesDiffer",
                    format!(
                        "{}: {role} approved digest {a}, the promotion sets {b}",
                        image.name
                    ),
                )),
                (Some(a), None) => decision.warnings.push(format!(
                    "{}: {role} approved digest {a}; the promotion pins the tag only",
                    image.name
                )),
                _ => {}
            },
        }
        let running = upstream_env.and_then(|e| e.images.get(&image.name));
        match running {
            Some(r) if same_image(&image.to, r) => {}
            Some(r) => decision.reasons.push(reason(
                "UpstreamDiffers",
                format!(
                    "{upstream} runs {} {}, not {}",
                    image.name,
                    show_image(r),
                    show_image(&image.to)
                ),
            )),
            None => decision.reasons.push(reason(
                "UpstreamDiffers",
                format!("{upstream}'s overlay does not run image {}", image.name),
            )),
        }
    }
    if decision.reasons.is_empty() {
        Ok(decision.with_reason(
            "QaApproved",
            format!(
                "{who} approved {} on {upstream} at {}",
                p.version, record.at
            ),
        ))
    } else {
        decision.decision = promote_policy_sdk::Verdict::Deny;
        Ok(decision)
    }
}

fn reason(code: &str, message: String) -> promote_policy_sdk::Reason {
    promote_policy_sdk::Reason::new(code, message)
}
