//! Combining the decisions of an operation's policies (`specs/policy-abi.md`, "Combining"):
//! any deny → denied, with every denying policy's reasons; otherwise the union of required
//! approvals by id, keeping the highest count; otherwise allowed. A policy error becomes a
//! deny with code `PolicyError` under `failurePolicy: Fail` (the default) and a warning under
//! `Ignore`.
//!
//! Break-glass (`--override-policy`) covers policy denials only: each denial is set aside
//! unless its policy's Decision says `"overridable": false`, which keeps it a denial with a
//! reason naming the policy that refused. Required approvals stay required: the promoter
//! cannot waive somebody else's sign-off (a policy may drop its own requirement when it sees
//! the request's `override`). A policy error under `Fail` is overridable: the module did not
//! decide, so it did not refuse either.

use std::sync::Arc;
use std::time::Duration;

use promote_policy_sdk::{Reason, RequiredApproval, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Evaluation, Policy, PolicyError};

/// What a policy error means for the operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailurePolicy {
    /// The error denies (code `PolicyError`).
    #[default]
    Fail,
    /// The error is a warning.
    Ignore,
}

/// A loaded policy with its settings from `promote.yaml`.
#[derive(Clone)]
pub struct ConfiguredPolicy {
    /// The module.
    pub policy: Arc<Policy>,
    /// Its settings (`{}` when none).
    pub settings: Value,
    /// What an error means.
    pub failure_policy: FailurePolicy,
    /// Why `validate-settings` could not decide on the settings (a trap, a limit, bad output);
    /// `None` when it accepted them. Such a policy is not evaluated: the error is its result,
    /// governed by `failure_policy` like any policy error.
    pub settings_error: Option<PolicyError>,
}

/// Whether `--override-policy` was given for the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakGlass {
    /// No override: every denial denies.
    No,
    /// Set aside the denials whose policies allow it.
    Requested,
}

/// What an override did to one policy's denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideOutcome {
    /// The denial was set aside.
    Overridden,
    /// The policy refused (`"overridable": false`): the denial stands.
    Refused,
}

/// One policy's raw result, as input to [`combine`].
#[derive(Debug, Clone)]
pub struct PolicyOutcome {
    /// Policy name.
    pub name: String,
    /// `builtin:NAME` or the path.
    pub origin: String,
    /// Module digest (hex).
    pub sha256: String,
    /// What an error means.
    pub failure_policy: FailurePolicy,
    /// The evaluation or why there is none.
    pub result: Result<Evaluation, PolicyError>,
    /// Wall time spent on it.
    pub elapsed: Duration,
}

/// One policy's line in the report: its effective verdict after the failure policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyReport {
    /// Policy name.
    pub name: String,
    /// `builtin:NAME` or the path.
    pub origin: String,
    /// Module digest (hex).
    pub sha256: String,
    /// Effective verdict.
    pub decision: Verdict,
    /// Its reasons (a `PolicyError` reason for a failed policy under `Fail`).
    pub reasons: Vec<Reason>,
    /// Approvals it asks for.
    pub required_approvals: Vec<RequiredApproval>,
    /// Its warnings (the error under `Ignore`).
    pub warnings: Vec<String>,
    /// Fuel used, when it ran to completion.
    pub fuel_used: Option<u64>,
    /// Wall time.
    pub elapsed: Duration,
    /// The error, when it could not decide.
    pub error: Option<PolicyError>,
    /// What the failure policy made of the error (meaningful when `error` is set).
    pub failure_policy: FailurePolicy,
    /// For a denial under `--override-policy`: whether it was set aside.
    pub override_outcome: Option<OverrideOutcome>,
    /// Its stderr.
    pub log: String,
}

/// A reason with the policy that gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributedReason {
    /// Policy name.
    pub policy: String,
    /// Reason code.
    pub code: String,
    /// Reason message.
    pub message: String,
}

/// The operation's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combined {
    /// Allow, deny (exit 3) or require-approval (exit 4 while unmet), after any override.
    pub decision: Verdict,
    /// Every standing denial's reasons (empty unless denied).
    pub reasons: Vec<AttributedReason>,
    /// The reasons of the denials an override set aside.
    pub overridden: Vec<AttributedReason>,
    /// Union by id, highest count.
    pub required_approvals: Vec<RequiredApproval>,
    /// Every policy's warnings, prefixed with its name.
    pub warnings: Vec<String>,
    /// Per-policy lines, in configuration order.
    pub policies: Vec<PolicyReport>,
}

/// Combines per-policy outcomes (in configuration order), setting overridable denials aside
/// under [`BreakGlass::Requested`].
pub fn combine(outcomes: Vec<PolicyOutcome>, break_glass: BreakGlass) -> Combined {
    let mut policies: Vec<PolicyReport> = outcomes
        .into_iter()
        .map(|o| report(o, break_glass))
        .collect();
    let mut reasons = Vec::new();
    let mut overridden = Vec::new();
    let mut required: Vec<RequiredApproval> = Vec::new();
    let mut warnings = Vec::new();
    for p in &mut policies {
        if p.decision == Verdict::Deny {
            let attributed = p.reasons.iter().map(|r| AttributedReason {
                policy: p.name.clone(),
                code: r.code.clone(),
                message: r.message.clone(),
            });
            match p.override_outcome {
                Some(OverrideOutcome::Overridden) => overridden.extend(attributed),
                _ => reasons.extend(attributed),
            }
        }
        for a in &p.required_approvals {
            match required.iter_mut().find(|x| x.id == a.id) {
                // The highest count wins; one policy wanting verified approvals is enough.
                Some(x) => {
                    let verified = x.verified || a.verified;
                    if a.count > x.count {
                        *x = a.clone();
                    }
                    x.verified = verified;
                }
                None => required.push(a.clone()),
            }
        }
        warnings.extend(p.warnings.iter().map(|w| format!("{}: {w}", p.name)));
        if let (Some(err), FailurePolicy::Ignore) = (&p.error, p.failure_policy) {
            warnings.push(format!(
                "{}: could not decide (failurePolicy: Ignore): {err}",
                p.name
            ));
        }
    }
    let decision = if !reasons.is_empty() {
        Verdict::Deny
    } else if !required.is_empty() {
        Verdict::RequireApproval
    } else {
        Verdict::Allow
    };
    Combined {
        decision,
        reasons,
        overridden,
        required_approvals: required,
        warnings,
        policies,
    }
}

fn report(o: PolicyOutcome, break_glass: BreakGlass) -> PolicyReport {
    let base = |decision| PolicyReport {
        name: o.name.clone(),
        origin: o.origin.clone(),
        sha256: o.sha256.clone(),
        decision,
        reasons: Vec::new(),
        required_approvals: Vec::new(),
        warnings: Vec::new(),
        fuel_used: None,
        elapsed: o.elapsed,
        error: None,
        failure_policy: o.failure_policy,
        override_outcome: None,
        log: String::new(),
    };
    let overriding = break_glass == BreakGlass::Requested;
    match o.result {
        Ok(ref e) => {
            let d = &e.decision;
            let mut reasons = d.reasons.clone();
            let override_outcome = match (d.decision, overriding, d.overridable) {
                (Verdict::Deny, true, true) => Some(OverrideOutcome::Overridden),
                (Verdict::Deny, true, false) => {
                    reasons.push(Reason::new(
                        "OverrideRefused",
                        format!(
                            "--override-policy does not apply: policy {} ({}) does not let this denial be overridden",
                            o.name, o.origin
                        ),
                    ));
                    Some(OverrideOutcome::Refused)
                }
                _ => None,
            };
            PolicyReport {
                reasons,
                required_approvals: if d.decision == Verdict::RequireApproval {
                    d.required_approvals.clone()
                } else {
                    Vec::new()
                },
                warnings: d.warnings.clone(),
                fuel_used: Some(e.fuel_used),
                log: e.log.clone(),
                override_outcome,
                ..base(d.decision)
            }
        }
        Err(ref err) => match o.failure_policy {
            FailurePolicy::Fail => PolicyReport {
                reasons: vec![Reason::new(
                    "PolicyError",
                    format!("policy {} ({}) could not decide: {err}", o.name, o.origin),
                )],
                error: Some(err.clone()),
                override_outcome: overriding.then_some(OverrideOutcome::Overridden),
                ..base(Verdict::Deny)
            },
            // The error becomes one warning of the operation (see `combine`), not a verdict.
            FailurePolicy::Ignore => PolicyReport {
                error: Some(err.clone()),
                ..base(Verdict::Allow)
            },
        },
    }
}
