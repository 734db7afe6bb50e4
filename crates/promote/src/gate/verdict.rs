//! What the gate says: every module's verdict and the combined decision, as the plan, the
//! result documents, the commit trailers and the pull request's body show them.

use serde::Serialize;

use promote_core::trailers::{self, Trailers};
use promote_policy::sdk;

use crate::approval::decide::{ApprovalCheck, RequiredApproval};

/// The combined decision of an operation's policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Allow,
    Deny,
    RequireApproval,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::RequireApproval => "require-approval",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One module's decision: a [`Decision`], or a policy error that its `failurePolicy` judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleDecision {
    Allow,
    Deny,
    RequireApproval,
    /// A policy error that denies (`failurePolicy: Fail`).
    Error,
    /// A policy error let pass (`failurePolicy: Ignore`).
    Ignored,
}

impl ModuleDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleDecision::Allow => "allow",
            ModuleDecision::Deny => "deny",
            ModuleDecision::RequireApproval => "require-approval",
            ModuleDecision::Error => "error",
            ModuleDecision::Ignored => "ignored",
        }
    }
}

impl std::fmt::Display for ModuleDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `--override-policy` did to a module's denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OverrideMark {
    /// Set aside.
    #[serde(rename = "overridden")]
    Overridden,
    /// The policy does not let it be overridden.
    #[serde(rename = "override refused")]
    Refused,
}

impl std::fmt::Display for OverrideMark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OverrideMark::Overridden => "overridden",
            OverrideMark::Refused => "override refused",
        })
    }
}

/// One module's verdict, for reports, JSON, trailers and PR bodies.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleVerdict {
    pub name: String,
    pub origin: String,
    pub sha256: String,
    pub decision: ModuleDecision,
    pub reasons: Vec<sdk::Reason>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub fuel_used: Option<u64>,
    pub elapsed_ms: f64,
    /// Under `--override-policy`, for a denial.
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<OverrideMark>,
}

impl ModuleVerdict {
    /// The verdict as the `Policy-Module` trailer and the PR body show it.
    pub fn outcome(&self) -> String {
        match self.override_ {
            Some(o) => format!("{} ({o})", self.decision),
            None => self.decision.to_string(),
        }
    }
}

/// Every module's verdict and the combined decision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVerdict {
    /// After any override (which sets denials aside, never approvals) and after the approvals
    /// on record were counted (an `allow` means they are met).
    pub decision: Decision,
    /// The reasons of the denials that stand.
    pub reasons: Vec<promote_policy::AttributedReason>,
    /// The reasons of the denials `--override-policy` set aside.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<promote_policy::AttributedReason>,
    pub required_approvals: Vec<RequiredApproval>,
    /// How each required approval stands (approvals on record and, in PR mode, reviews).
    pub approvals: Option<ApprovalCheck>,
    pub warnings: Vec<String>,
    pub policies: Vec<ModuleVerdict>,
    /// Set when `--override-policy` was given (only where the env allows it).
    #[serde(rename = "override")]
    pub override_: Option<OverrideDoc>,
}

/// Who overrode, and why.
#[derive(Debug, Clone, Serialize)]
pub struct OverrideDoc {
    pub by: String,
    pub reason: String,
}

impl PolicyVerdict {
    pub fn denied(&self) -> bool {
        self.decision == Decision::Deny
    }

    pub fn awaiting_approval(&self) -> bool {
        self.decision == Decision::RequireApproval
    }

    /// Several apps' verdicts as one (a promotion of several apps in one commit): the strictest
    /// decision, and every module's verdict named after its app (`cart/semver-guard`).
    pub fn merged(verdicts: &[(&str, &PolicyVerdict)]) -> PolicyVerdict {
        let decision = if verdicts.iter().any(|(_, v)| v.denied()) {
            Decision::Deny
        } else if verdicts.iter().any(|(_, v)| v.awaiting_approval()) {
            Decision::RequireApproval
        } else {
            Decision::Allow
        };
        let named = |app: &str, reasons: &[promote_policy::AttributedReason]| {
            reasons
                .iter()
                .map(|r| promote_policy::AttributedReason {
                    policy: format!("{app}/{}", r.policy),
                    ..r.clone()
                })
                .collect::<Vec<_>>()
        };
        let mut merged = PolicyVerdict {
            decision,
            reasons: Vec::new(),
            overridden: Vec::new(),
            required_approvals: Vec::new(),
            approvals: None,
            warnings: Vec::new(),
            policies: Vec::new(),
            override_: None,
        };
        for (app, v) in verdicts {
            merged.reasons.extend(named(app, &v.reasons));
            merged.overridden.extend(named(app, &v.overridden));
            merged
                .required_approvals
                .extend(v.required_approvals.iter().cloned());
            if let Some(check) = &v.approvals {
                let all = merged.approvals.get_or_insert_with(ApprovalCheck::default);
                all.met.extend(check.met.iter().cloned());
                all.missing.extend(check.missing.iter().cloned());
            }
            merged
                .warnings
                .extend(v.warnings.iter().map(|w| format!("{app}: {w}")));
            merged
                .policies
                .extend(v.policies.iter().map(|p| ModuleVerdict {
                    name: format!("{app}/{}", p.name),
                    // The trailer names the module by its origin: say whose app it judged.
                    origin: format!("{app}: {}", p.origin),
                    ..p.clone()
                }));
            if merged.override_.is_none() {
                merged.override_.clone_from(&v.override_);
            }
        }
        merged
    }

    /// The required approvals the records on file do not meet (a pull request collects them).
    pub fn missing_approvals(&self) -> Vec<RequiredApproval> {
        self.approvals
            .as_ref()
            .map(|c| c.missing.iter().map(|m| m.requirement.clone()).collect())
            .unwrap_or_default()
    }

    /// `Policy-Decision` and `Policy-Module` trailers (and `Policy-Override`).
    pub fn add_trailers(&self, t: &mut Trailers) {
        let decision = if self.overridden.is_empty() {
            self.decision.to_string()
        } else {
            "deny (overridden)".to_owned()
        };
        t.push(trailers::POLICY_DECISION, decision);
        for p in &self.policies {
            t.push(
                trailers::POLICY_MODULE,
                format!("{} sha256:{} {}", p.origin, p.sha256, p.outcome()),
            );
        }
        if let Some(o) = &self.override_ {
            t.push(trailers::OVERRIDE, format!("{} by {}", o.reason, o.by));
        }
    }

    /// Markdown for a PR body.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "**Policy decision: {}**\n\n| policy | decision | reasons |\n|---|---|---|\n",
            self.decision
        );
        for p in &self.policies {
            // A policy error is said once: the error itself, not also the reason it became.
            let reasons: Vec<String> = match &p.error {
                Some(e) => vec![format!("policy error: {e}")],
                None => p
                    .reasons
                    .iter()
                    .map(|r| format!("{}: {}", r.code, r.message))
                    .collect(),
            };
            // An empty cell reads as a broken table in a rendered body: say there is nothing.
            let reasons = if reasons.is_empty() {
                "-".to_owned()
            } else {
                reasons.join("<br>").replace('|', "\\|")
            };
            s.push_str(&format!(
                "| `{}` | {} | {reasons} |\n",
                p.origin,
                p.outcome()
            ));
        }
        for w in &self.warnings {
            s.push_str(&format!("\n> warning: {w}"));
        }
        if let Some(o) = &self.override_ {
            s.push_str(&format!(
                "\n\n**Policy override** by {}: {}",
                o.by, o.reason
            ));
        }
        s
    }
}

/// A commit's policy trailers: the verdict's, or that no policy was configured.
pub fn add_trailers(verdict: Option<&PolicyVerdict>, t: &mut Trailers) {
    match verdict {
        Some(v) => v.add_trailers(t),
        None => {
            t.push(trailers::POLICY_DECISION, "allow (no policies configured)");
        }
    }
}
