//! How result documents name Argo CD's auto-sync state: the core's enums, with the words the
//! documents have always used (`on`/`off`/`disabled`; `enabled-false`/`removed`/`already-off`).

use serde::{Serialize, Serializer};

use promote_core::argocd::{AutoSync, AutoSyncDisabledBy};

/// Whether Argo CD syncs the app by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoSyncState {
    On,
    Off,
    /// `automated.enabled: false` (prune and selfHeal kept for when it is turned back on).
    Disabled,
}

impl AutoSyncState {
    /// The state, and the prune and selfHeal flags it holds.
    pub fn of(a: &AutoSync) -> (AutoSyncState, bool, bool) {
        match a {
            AutoSync::Off => (AutoSyncState::Off, false, false),
            AutoSync::Enabled { prune, self_heal } => (AutoSyncState::On, *prune, *self_heal),
            AutoSync::Disabled { prune, self_heal } => {
                (AutoSyncState::Disabled, *prune, *self_heal)
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AutoSyncState::On => "on",
            AutoSyncState::Off => "off",
            AutoSyncState::Disabled => "disabled",
        }
    }
}

impl std::fmt::Display for AutoSyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `enabled-false`, `removed` or `already-off`.
pub fn disabled_by_str(d: &AutoSyncDisabledBy) -> &'static str {
    match d {
        AutoSyncDisabledBy::EnabledFalse => "enabled-false",
        AutoSyncDisabledBy::Removed => "removed",
        AutoSyncDisabledBy::AlreadyOff => "already-off",
    }
}

/// Serializes [`AutoSyncDisabledBy`] as [`disabled_by_str`] names it.
pub(crate) fn serialize_disabled_by<S: Serializer>(
    d: &AutoSyncDisabledBy,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(disabled_by_str(d))
}
