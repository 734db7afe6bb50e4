//! `builtin:require-approval`: N approvals by role X for this version in the target environment
//! (the PM sign-off). Approval records count, and so do pull-request reviews, which the host
//! passes as approval records too.
//!
//! Each approver counts once, with their latest record; a record bound to other images than
//! the promotion's does not count; a rejection in force denies.
//!
//! `requireVerified` (default: true when the environment is `protected`) counts only approvals
//! whose `by.verified` the host computed as true (a commit signed by a key the repo allows), and
//! tells the host to count only verified pull-request reviews and records too; an unverified
//! approval is as if it was not given. Rejections and revocations count either way.

use std::process::ExitCode;

use policy_common::same_image;
use promote_policy_sdk::{
    ApprovalVerdict, Decision, EvaluationRequest, PolicyFailure, RequiredApproval,
    SettingsValidation, Verdict, latest_per_approver,
};
use serde::Deserialize;
use serde_json::Value;

promote_policy_sdk::embed_metadata!("../policy.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// The approver role, e.g. `pm`.
    role: String,
    /// How many distinct approvers.
    #[serde(default = "one")]
    count: u32,
    /// Requirement id (combining takes the highest count per id); defaults to the role.
    #[serde(default)]
    id: Option<String>,
    /// Only verified approvals count; defaults to the environment's `protected`.
    #[serde(default)]
    require_verified: Option<bool>,
}

fn one() -> u32 {
    1
}

fn main() -> ExitCode {
    promote_policy_sdk::run(evaluate, validate_settings)
}

fn validate_settings(settings: &Value) -> SettingsValidation {
    match Settings::deserialize(settings) {
        Ok(s) if s.role.is_empty() => SettingsValidation::invalid("role must not be empty"),
        Ok(s) if s.count == 0 => SettingsValidation::invalid("count must be at least 1"),
        Ok(_) => SettingsValidation::valid(),
        Err(e) => SettingsValidation::invalid(e.to_string()),
    }
}

fn evaluate(req: &EvaluationRequest) -> Result<Decision, PolicyFailure> {
    let s: Settings = req.settings()?;
    let Some(p) = req.promotion() else {
        return Ok(Decision::allow().with_warning("require-approval only decides promotions"));
    };
    let env = p.environment.as_str();
    let require_verified = s
        .require_verified
        .unwrap_or_else(|| req.environments.get(env).is_some_and(|e| e.protected));
    let mut decision = Decision::allow();
    let mut approvers = Vec::new();
    // Where only verified approvals count, an unverified one is as if it was not given.
    let (records, unverified): (Vec<_>, Vec<_>) = req.approvals.iter().cloned().partition(|r| {
        !(require_verified && r.verdict == ApprovalVerdict::Approved && !r.by.verified)
    });
    let mut not_counted: Vec<String> = Vec::new();
    for r in latest_per_approver(&unverified, env, &p.version, &s.role) {
        let who =
            r.by.name
                .clone()
                .or_else(|| r.by.email.clone())
                .unwrap_or_default();
        if !not_counted.contains(&who) {
            not_counted.push(who);
        }
    }
    for record in latest_per_approver(&records, env, &p.version, &s.role) {
        let who = record
            .by
            .name
            .clone()
            .or_else(|| record.by.email.clone())
            .unwrap_or_default();
        match record.verdict {
            ApprovalVerdict::Rejected => decision.reasons.push(promote_policy_sdk::Reason::new(
                "ApprovalRejected",
                format!(
                    "{who} ({}) rejected {} for {env}: {}",
                    s.role,
                    p.version,
                    record.note.as_deref().unwrap_or("no reason given")
                ),
            )),
            ApprovalVerdict::Revoked => {}
            ApprovalVerdict::Approved => {
                let covers = record.images.is_empty()
                    || p.images.iter().all(|i| {
                        record
                            .images
                            .get(&i.name)
                            .is_some_and(|a| same_image(a, &i.to))
                    });
                if covers {
                    approvers.push(who);
                } else {
                    decision.warnings.push(format!(
                        "the {} approval by {who} is for other images than this promotion's; it does not count",
                        s.role
                    ));
                }
            }
        }
    }
    if !decision.reasons.is_empty() {
        decision.decision = Verdict::Deny;
        return Ok(decision);
    }
    let have = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
    if have >= s.count {
        return Ok(decision.with_reason(
            "Approved",
            format!(
                "{} approved by {} ({})",
                p.version,
                approvers.join(", "),
                s.role
            ),
        ));
    }
    let mut reason = format!(
        "{env} needs {} {} approval(s) of {}; {have} so far",
        s.count, s.role, p.version
    );
    not_counted.retain(|w| !approvers.contains(w));
    if !not_counted.is_empty() {
        reason.push_str(&format!(
            "; not counted, because {env} counts verified approvals only: {} (approve the pull request on the forge, or sign approvals with a key listed in promote.yaml's approverKeys: `git config gpg.format ssh`, `git config user.signingkey ~/.ssh/id_ed25519`, `git config commit.gpgsign true`, and add `EMAIL ssh-ed25519 AAAA…` to the approverKeys.ssh file on the base branch; or set requireVerified: false)",
            not_counted.join(", ")
        ));
    }
    decision.decision = Verdict::RequireApproval;
    decision.required_approvals.push(RequiredApproval {
        id: s.id.clone().unwrap_or_else(|| s.role.clone()),
        environment: env.to_owned(),
        count: s.count,
        reason,
        verified: require_verified,
    });
    Ok(decision)
}
