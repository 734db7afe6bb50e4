//! Combining the decisions of an operation's policies (`specs/policy-abi.md`, "Combining"):
//! any deny → denied, with every denying policy's reasons; otherwise the union of required
//! approvals by id, keeping the highest count; otherwise allowed. A policy error becomes a
//! deny with code `PolicyError` under `failurePolicy: Fail` (the default) and a warning under
//! `Ignore`.

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
    /// Allow, deny (exit 3) or require-approval (exit 4 while unmet).
    pub decision: Verdict,
    /// Every denying policy's reasons (empty unless denied).
    pub reasons: Vec<AttributedReason>,
    /// Union by id, highest count.
    pub required_approvals: Vec<RequiredApproval>,
    /// Every policy's warnings, prefixed with its name.
    pub warnings: Vec<String>,
    /// Per-policy lines, in configuration order.
    pub policies: Vec<PolicyReport>,
}

/// Combines per-policy outcomes (in configuration order).
pub fn combine(outcomes: Vec<PolicyOutcome>) -> Combined {
    let policies: Vec<PolicyReport> = outcomes.into_iter().map(report).collect();
    let mut reasons = Vec::new();
    let mut required: Vec<RequiredApproval> = Vec::new();
    let mut warnings = Vec::new();
    for p in &policies {
        if p.decision == Verdict::Deny {
            reasons.extend(p.reasons.iter().map(|r| AttributedReason {
                policy: p.name.clone(),
                code: r.code.clone(),
                message: r.message.clone(),
            }));
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
        required_approvals: required,
        warnings,
        policies,
    }
}

fn report(o: PolicyOutcome) -> PolicyReport {
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
        log: String::new(),
    };
    match o.result {
        Ok(ref e) => {
            let d = &e.decision;
            PolicyReport {
                reasons: d.reasons.clone(),
                required_approvals: if d.decision == Verdict::RequireApproval {
                    d.required_approvals.clone()
                } else {
                    Vec::new()
                },
                warnings: d.warnings.clone(),
                fuel_used: Some(e.fuel_used),
                log: e.log.clone(),
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
                ..base(Verdict::Deny)
            },
            FailurePolicy::Ignore => PolicyReport {
                warnings: vec![format!("could not decide (failurePolicy: Ignore): {err}")],
                error: Some(err.clone()),
                ..base(Verdict::Allow)
            },
        },
    }
}
