//! `builtin:qa-approved`: a promotion needs QA's approval of this version in the upstream
//! environment, bound to the same images, and the upstream overlay must run those images.
//!
//! First the upstream: when it does not run the promoted images, the promotion is denied ("staging
//! runs v1.0.1, not v1.0.2: promote staging first"); asking QA to approve there would be asking
//! for something the tool refuses to record. Then the record in force, the latest for (upstream,
//! version, role): a rejection denies with its note, a revocation or no record at all waits for
//! approval (exit 4), an approval must cover every promoted image with the same tag (and
//! digest, where QA recorded one).
//!
//! `requireVerified` (default: true when the target environment is `protected`) counts only
//! approvals whose `by.verified` the host computed as true (a commit signed by a key the repo
//! allows); an unverified approval is then as if it was not given, and the wait says how to
//! sign. Rejections and revocations count either way.

use std::process::ExitCode;

use policy_common::{same_image, show_image};
use promote_policy_sdk::{
    ApprovalVerdict, Decision, EvaluationRequest, PolicyFailure, RequiredApproval,
    SettingsValidation,
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
    /// Only verified approvals count; defaults to the target environment's `protected`.
    #[serde(default)]
    require_verified: Option<bool>,
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
    if let Some(denied) = upstream_differs(req, p, upstream) {
        return Ok(denied);
    }
    let role = settings.role.as_str();
    let require_verified = settings.require_verified.unwrap_or_else(|| {
        req.environments
            .get(&p.environment)
            .is_some_and(|e| e.protected)
    });
    // Where only verified approvals count, an unverified one is as if it was not given; the
    // first such (most recent) is named in the wait.
    let mut unverified = None;
    let record = req
        .approvals
        .iter()
        .rev()
        .filter(|r| r.environment == upstream && r.version == p.version && r.role == role)
        .find(|r| {
            let skip = require_verified && r.verdict == ApprovalVerdict::Approved && !r.by.verified;
            if skip && unverified.is_none() {
                unverified = Some(*r);
            }
            !skip
        });
    let wait = |why: String| {
        Decision::require_approval(RequiredApproval {
            id: format!("{role}@{upstream}"),
            environment: upstream.to_owned(),
            count: 1,
            reason: why,
            verified: require_verified,
        })
    };
    let name = |r: &promote_policy_sdk::ApprovalRecord| {
        r.by.name
            .as_deref()
            .or(r.by.email.as_deref())
            .unwrap_or("someone")
            .to_owned()
    };
    let not_verified = |r: &promote_policy_sdk::ApprovalRecord| {
        format!(
            "the {role} approval of {} on {upstream} by {} is not verified, and {} counts verified approvals only: {SIGN_FIX}",
            p.version,
            name(r),
            p.environment
        )
    };
    let Some(record) = record else {
        return Ok(wait(match unverified {
            Some(r) => not_verified(r),
            None => format!(
                "{} has no {role} approval on {upstream} yet (kubectl promote approve {upstream} {} --role {role})",
                p.version, p.version
            ),
        }));
    };
    let who = name(record);
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
            return Ok(wait(match unverified {
                Some(r) => not_verified(r),
                None => format!(
                    "{who} revoked the {role} approval of {} on {upstream} at {}",
                    p.version, record.at
                ),
            }));
        }
        ApprovalVerdict::Approved => {}
    }

    let mut decision = Decision::allow();
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
    }
    if decision.reasons.is_empty() {
        let how = if record.by.verified {
            ""
        } else {
            " (unverified)"
        };
        Ok(decision.with_reason(
            "QaApproved",
            format!(
                "{who}{how} approved {} on {upstream} at {}",
                p.version, record.at
            ),
        ))
    } else {
        decision.decision = promote_policy_sdk::Verdict::Deny;
        Ok(decision)
    }
}

/// How to make an approval verified, for the wait's reason.
const SIGN_FIX: &str = "sign approvals with a key listed in promote.yaml's approverKeys (ssh: `git config gpg.format ssh`, `git config user.signingkey ~/.ssh/id_ed25519`, `git config commit.gpgsign true`, and add `EMAIL ssh-ed25519 AAAA…` to the approverKeys.ssh file on the base branch), then approve again; or set requireVerified: false for this policy";

/// A denial when the upstream does not run the promoted images: "staging runs v1.0.1, not
/// v1.0.2: promote staging first" when the tags differ and the upstream runs one version, one
/// reason per image otherwise (another digest under the same tag, a mixed upstream, an image
/// it does not run).
fn upstream_differs(
    req: &EvaluationRequest,
    p: &promote_policy_sdk::Promotion,
    upstream: &str,
) -> Option<Decision> {
    let Some(env) = req.environments.get(upstream) else {
        return Some(Decision::deny(
            "UpstreamDiffers",
            format!(
                "{upstream} is not an environment of this repository's configuration, so nothing there can be approved"
            ),
        ));
    };
    let mut reasons = Vec::new();
    let mut tags_differ = false;
    for image in &p.images {
        match env.images.get(&image.name) {
            Some(r) if same_image(&image.to, r) => {}
            Some(r) => {
                tags_differ |= r.tag != image.to.tag;
                reasons.push(reason(
                    "UpstreamDiffers",
                    format!(
                        "{upstream} runs {} {}, not {}",
                        image.name,
                        show_image(r),
                        show_image(&image.to)
                    ),
                ));
            }
            None => reasons.push(reason(
                "UpstreamDiffers",
                format!("{upstream}'s overlay does not run image {}", image.name),
            )),
        }
    }
    if reasons.is_empty() {
        return None;
    }
    if tags_differ && !env.is_mixed() && !env.version.is_empty() && env.version != p.version {
        return Some(Decision::deny(
            "UpstreamDiffers",
            format!(
                "{upstream} runs {}, not {}: promote {upstream} first",
                env.version, p.version
            ),
        ));
    }
    let mut d = Decision::allow();
    d.decision = promote_policy_sdk::Verdict::Deny;
    d.reasons = reasons;
    Some(d)
}

fn reason(code: &str, message: String) -> promote_policy_sdk::Reason {
    promote_policy_sdk::Reason::new(code, message)
}
