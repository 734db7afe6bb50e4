//! Our rollback marker: the annotations an `argocd` rollback leaves on the Application (who,
//! when, why, where to, and the sync policy it turned off), read back by `status`, `resume` and
//! every promotion, which refuses while it is set.

use serde_json::Value;

use super::time::Timestamp;

/// Our rollback marker: who rolled back.
pub const ROLLED_BACK_BY: &str = "promote.kubectl.io/rolled-back-by";
/// Our rollback marker: when (RFC 3339, UTC).
pub const ROLLED_BACK_AT: &str = "promote.kubectl.io/rolled-back-at";
/// Our rollback marker: why (the `--reason`, may be empty).
pub const ROLLBACK_REASON: &str = "promote.kubectl.io/rollback-reason";
/// Our rollback marker: the history id rolled back to.
pub const ROLLBACK_TO_ID: &str = "promote.kubectl.io/rollback-to-id";
/// Our rollback marker: the revision rolled back to.
pub const ROLLBACK_TO_REVISION: &str = "promote.kubectl.io/rollback-to-revision";
/// Our rollback marker: `spec.syncPolicy.automated` as it was before, as JSON (`null` when off).
pub const SYNC_POLICY_BEFORE: &str = "promote.kubectl.io/sync-policy-before";
/// Our rollback marker: how auto-sync was turned off (`enabled-false`, `removed` or `already-off`).
pub const AUTO_SYNC_DISABLED_BY: &str = "promote.kubectl.io/auto-sync-disabled-by";

/// Every annotation of the marker (what a resume removes).
pub const MARKER_ANNOTATIONS: [&str; 7] = [
    ROLLED_BACK_BY,
    ROLLED_BACK_AT,
    ROLLBACK_REASON,
    ROLLBACK_TO_ID,
    ROLLBACK_TO_REVISION,
    SYNC_POLICY_BEFORE,
    AUTO_SYNC_DISABLED_BY,
];

/// How auto-sync was turned off for a rollback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoSyncDisabledBy {
    /// `automated.enabled: false` stuck (Argo CD 3.1+): prune/selfHeal kept in place.
    EnabledFalse,
    /// The server pruned `enabled` (CRD before 3.1): `automated` removed, its copy in
    /// [`SYNC_POLICY_BEFORE`].
    Removed,
    /// Auto-sync was already off.
    AlreadyOff,
}

impl AutoSyncDisabledBy {
    /// The annotation value ([`AUTO_SYNC_DISABLED_BY`]).
    pub fn as_str(&self) -> &'static str {
        match self {
            AutoSyncDisabledBy::EnabledFalse => "enabled-false",
            AutoSyncDisabledBy::Removed => "removed",
            AutoSyncDisabledBy::AlreadyOff => "already-off",
        }
    }
}

/// Our rollback marker, read from (and written to) the Application's annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct RollbackMarker {
    pub by: String,
    pub at: Option<Timestamp>,
    pub reason: String,
    pub to_id: Option<i64>,
    pub to_revision: Option<String>,
    /// `spec.syncPolicy.automated` before the rollback (`None` when it was absent).
    pub sync_policy_before: Option<Value>,
    pub disabled_by: AutoSyncDisabledBy,
}
