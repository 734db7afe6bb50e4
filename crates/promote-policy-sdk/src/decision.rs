//! The `Decision` a policy writes on stdout, and the `validate-settings` answer.
//!
//! A decision is checked when it is read: `deny` must say why (at least one reason) and
//! `require-approval` must say which approvals (at least one, each with `count >= 1`), so the
//! host never has to guess what an empty denial means.
//!
//! Break-glass (`--override-policy`, where the environment allows it) sets a denial aside
//! unless the denying policy says it may not be: `"overridable": false` in its Decision (see
//! [`Decision::not_overridable`]). The field is optional and defaults to `true`, so decisions
//! written before it existed keep their meaning. An override never covers missing approvals.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::API_VERSION;

const KIND: &str = "Decision";

/// A policy's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse (exit 3).
    Deny,
    /// Go ahead once the listed approvals exist (exit 4 until then).
    RequireApproval,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::RequireApproval => "require-approval",
        })
    }
}

/// A machine-readable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// `UpperCamelCase` code, e.g. `ChangeFreeze`.
    pub code: String,
    /// What happened and what to do.
    pub message: String,
}

impl Reason {
    /// A reason from a code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// An approval the operation still needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredApproval {
    /// Identifies the requirement across policies (combining takes the highest count per id).
    pub id: String,
    /// The environment the approval is for.
    pub environment: String,
    /// How many approvals are needed in total.
    pub count: u32,
    /// Why.
    pub reason: String,
    /// Only verified approvals count towards it: approval records whose `by.verified` is true,
    /// and pull-request reviews (the forge says who reviewed). Combining ORs it per id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
}

/// A policy's answer to `evaluate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDecision", into = "RawDecision")]
pub struct Decision {
    /// The verdict.
    pub decision: Verdict,
    /// Why (required for `deny`).
    pub reasons: Vec<Reason>,
    /// What is missing (required for `require-approval`).
    pub required_approvals: Vec<RequiredApproval>,
    /// Things worth saying that do not change the verdict.
    pub warnings: Vec<String>,
    /// Whether `--override-policy` may set this denial aside (`true` unless the policy says
    /// otherwise; meaningless on anything but a `deny`).
    pub overridable: bool,
}

impl Decision {
    /// Allow, with nothing to add.
    pub fn allow() -> Self {
        Self {
            decision: Verdict::Allow,
            reasons: Vec::new(),
            required_approvals: Vec::new(),
            warnings: Vec::new(),
            overridable: true,
        }
    }

    /// Deny with one reason.
    pub fn deny(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            decision: Verdict::Deny,
            reasons: vec![Reason::new(code, message)],
            ..Self::allow()
        }
    }

    /// Require one approval.
    pub fn require_approval(approval: RequiredApproval) -> Self {
        Self {
            decision: Verdict::RequireApproval,
            required_approvals: vec![approval],
            ..Self::allow()
        }
    }

    /// Adds a reason (also fine on `allow`, as an explanation).
    #[must_use]
    pub fn with_reason(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.reasons.push(Reason::new(code, message));
        self
    }

    /// Adds a warning.
    #[must_use]
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// Refuses break-glass: `--override-policy` does not set this denial aside (it stays a
    /// denial, and the report says this policy refused the override).
    #[must_use]
    pub fn not_overridable(mut self) -> Self {
        self.overridable = false;
        self
    }

    /// Checks the invariants a decision must hold to be acted on.
    ///
    /// # Errors
    /// What is wrong: a `deny` without reasons, a `require-approval` without approvals, an
    /// approval with `count: 0` or an empty id.
    pub fn validate(&self) -> Result<(), DecisionError> {
        match self.decision {
            Verdict::Deny if self.reasons.is_empty() => {
                return Err(DecisionError::DenyWithoutReason);
            }
            Verdict::RequireApproval if self.required_approvals.is_empty() => {
                return Err(DecisionError::NoRequiredApprovals);
            }
            _ => {}
        }
        if let Some(a) = self
            .required_approvals
            .iter()
            .find(|a| a.count == 0 || a.id.is_empty())
        {
            return Err(DecisionError::BadRequiredApproval(a.id.clone()));
        }
        Ok(())
    }
}

/// A decision document that parses but breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionError {
    /// `apiVersion` is not [`API_VERSION`].
    ApiVersion(String),
    /// `kind` is not `Decision`.
    Kind(String),
    /// `deny` with an empty `reasons` list.
    DenyWithoutReason,
    /// `require-approval` with an empty `requiredApprovals` list.
    NoRequiredApprovals,
    /// A required approval with `count: 0` or an empty `id`.
    BadRequiredApproval(String),
}

impl fmt::Display for DecisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiVersion(v) => write!(f, "apiVersion is {v:?}, expected {API_VERSION:?}"),
            Self::Kind(k) => write!(f, "kind is {k:?}, expected {KIND:?}"),
            Self::DenyWithoutReason => f.write_str("decision is \"deny\" but `reasons` is empty"),
            Self::NoRequiredApprovals => {
                f.write_str("decision is \"require-approval\" but `requiredApprovals` is empty")
            }
            Self::BadRequiredApproval(id) => {
                write!(
                    f,
                    "required approval {id:?} needs a non-empty id and a count of at least 1"
                )
            }
        }
    }
}

impl std::error::Error for DecisionError {}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDecision {
    api_version: String,
    kind: String,
    decision: Verdict,
    #[serde(default)]
    reasons: Vec<Reason>,
    #[serde(default)]
    required_approvals: Vec<RequiredApproval>,
    #[serde(default)]
    warnings: Vec<String>,
    /// Absent means `true`; written only when `false`, so decisions that do not use it read
    /// as they did before it existed.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    overridable: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl TryFrom<RawDecision> for Decision {
    type Error = DecisionError;

    fn try_from(raw: RawDecision) -> Result<Self, DecisionError> {
        if raw.api_version != API_VERSION {
            return Err(DecisionError::ApiVersion(raw.api_version));
        }
        if raw.kind != KIND {
            return Err(DecisionError::Kind(raw.kind));
        }
        let decision = Self {
            decision: raw.decision,
            reasons: raw.reasons,
            required_approvals: raw.required_approvals,
            warnings: raw.warnings,
            overridable: raw.overridable,
        };
        decision.validate()?;
        Ok(decision)
    }
}

impl From<Decision> for RawDecision {
    fn from(d: Decision) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            decision: d.decision,
            reasons: d.reasons,
            required_approvals: d.required_approvals,
            warnings: d.warnings,
            overridable: d.overridable,
        }
    }
}

/// The answer to `validate-settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsValidation {
    /// Whether the settings are usable.
    pub valid: bool,
    /// Why not (or a note when valid).
    #[serde(default)]
    pub message: Option<String>,
}

impl SettingsValidation {
    /// Valid settings.
    pub fn valid() -> Self {
        Self {
            valid: true,
            message: None,
        }
    }

    /// Invalid settings, with the reason.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            valid: false,
            message: Some(message.into()),
        }
    }
}
