//! What Argo CD says about an environment, joined with what git says about each revision: the
//! facts `status` shows, ENV's history (with the version each entry ran and whether one of our
//! waits saw it healthy) and the policy request's `environments.<env>.argocd`.

use std::collections::BTreeMap;

use serde::Serialize;

use promote_core::argocd::{Application, AutoSyncDisabledBy, InitiatedBy, ManagedBy};
use promote_core::config::Environment;
use promote_core::image::{EnvVersion, ImageMap};
use promote_policy::sdk;

use super::state::{AutoSyncState, serialize_disabled_by};
use super::wait::was_healthy;
use crate::Session;
use crate::plan::HistoryItem;

/// Argo CD's view of one environment, for `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoStatus {
    /// `namespace/name`.
    pub app: String,
    pub sync: String,
    pub health: String,
    pub health_message: Option<String>,
    /// What runs: `status.history[-1].revision` (not `status.sync.revision`).
    pub deployed_revision: Option<String>,
    /// The version the overlay held at the deployed revision.
    pub deployed_version: Option<String>,
    pub auto_sync: AutoSyncState,
    pub prune: bool,
    pub self_heal: bool,
    /// The current or last operation.
    pub operation: Option<OperationFacts>,
    pub rollback_marker: Option<MarkerFacts>,
    /// ApplicationSets and parent apps that write this app (and may turn auto-sync back on).
    pub managed_by: Vec<String>,
    /// Why a manual sync would be held now by the project's sync windows (or why that is
    /// unknown); null when nothing blocks it.
    pub sync_window: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationFacts {
    /// `.operation` is set: an operation is pending or running.
    pub in_progress: bool,
    pub phase: Option<String>,
    pub message: Option<String>,
    pub revision: Option<String>,
}

/// The rollback marker of an app rolled back by `kubectl promote rollback --strategy argocd`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkerFacts {
    pub by: String,
    pub at: Option<String>,
    pub reason: String,
    pub to_id: Option<i64>,
    pub to_revision: Option<String>,
    #[serde(serialize_with = "serialize_disabled_by")]
    pub auto_sync_disabled_by: AutoSyncDisabledBy,
    /// Set when auto-sync is on again although the marker is: someone else undid the rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undone: Option<Undone>,
}

/// Auto-sync is on again beside the rollback marker ([`Application::rollback_undone`]), so Argo
/// CD deploys what git holds, the version rolled back from.
#[derive(Debug, Clone, Serialize)]
pub struct Undone {
    /// Who writes the app and so most likely turned auto-sync back on (argo-cd #5351); empty
    /// when nothing on the app names one.
    pub by: Vec<Writer>,
}

/// An ApplicationSet or parent Application that writes an app's spec.
#[derive(Debug, Clone, Serialize)]
pub struct Writer {
    /// `Application root`, `ApplicationSet shops`.
    pub name: String,
    /// What makes it leave the next rollback alone (the advice a rollback prints).
    pub advice: String,
}

/// The marker of ENV's app, if it was rolled back by us.
pub fn marker_facts(app: &Application) -> Option<MarkerFacts> {
    app.rollback_marker.as_ref().map(|m| MarkerFacts {
        by: m.by.clone(),
        at: m.at.map(|t| t.to_string()),
        reason: m.reason.clone(),
        to_id: m.to_id,
        to_revision: m.to_revision.clone(),
        auto_sync_disabled_by: m.disabled_by.clone(),
        undone: app.rollback_undone().then(|| Undone {
            by: app
                .managed_by
                .iter()
                .map(|m| Writer {
                    name: writer_name(m),
                    advice: m.to_string(),
                })
                .collect(),
        }),
    })
}

/// ApplicationSets and parent apps that write `app`, for messages.
pub fn managed_by(app: &Application) -> Vec<String> {
    app.managed_by.iter().map(writer_name).collect()
}

/// `ApplicationSet NAME` or `Application NAME`.
fn writer_name(m: &ManagedBy) -> String {
    match m {
        ManagedBy::ApplicationSet { name } => format!("ApplicationSet {name}"),
        ManagedBy::ParentApplication { name } => format!("Application {name}"),
    }
}

/// The facts `status` shows for ENV (the sync window is the caller's to fill).
pub fn status_facts(session: &Session, env: &Environment, app: &Application) -> ArgoStatus {
    let (auto_sync, prune, self_heal) = AutoSyncState::of(&app.auto_sync);
    let deployed = app.deployed_revision().map(str::to_owned);
    let mut versions = Versions::new(session, env);
    ArgoStatus {
        app: app.qualified_name(),
        sync: app.sync_status.to_string(),
        health: app.health.to_string(),
        health_message: app.health_message.clone().filter(|m| !m.is_empty()),
        deployed_version: deployed.as_deref().and_then(|d| versions.at(d)),
        deployed_revision: deployed,
        auto_sync,
        prune,
        self_heal,
        operation: match (&app.operation, &app.operation_state) {
            (None, None) => None,
            (op, state) => Some(OperationFacts {
                in_progress: op.is_some(),
                phase: state.as_ref().map(|s| s.phase.to_string()),
                message: state
                    .as_ref()
                    .map(|s| s.message.clone())
                    .filter(|m| !m.is_empty()),
                revision: state.as_ref().and_then(|s| s.sync_revision.clone()),
            }),
        },
        rollback_marker: marker_facts(app),
        managed_by: managed_by(app),
        sync_window: None,
    }
}

/// The version ENV's overlay held at a revision, read once per revision.
pub(crate) struct Versions<'a> {
    session: &'a Session,
    env: &'a Environment,
    cache: BTreeMap<String, Option<(String, ImageMap)>>,
}

impl<'a> Versions<'a> {
    pub(crate) fn new(session: &'a Session, env: &'a Environment) -> Self {
        Versions {
            session,
            env,
            cache: BTreeMap::new(),
        }
    }

    fn read(&mut self, revision: &str) -> Option<(String, ImageMap)> {
        if let Some(v) = self.cache.get(revision) {
            return v.clone();
        }
        let v = self
            .session
            .resolve_fetching(revision)
            .and_then(|c| self.session.overlay_at(self.env, c).ok())
            .map(|o| {
                let images = o.image_map();
                (EnvVersion::of(images.values()).to_string(), images)
            });
        self.cache.insert(revision.to_owned(), v.clone());
        v
    }

    pub(crate) fn at(&mut self, revision: &str) -> Option<String> {
        self.read(revision).map(|(v, _)| v)
    }

    pub(crate) fn images(&mut self, revision: &str) -> Option<ImageMap> {
        self.read(revision).map(|(_, i)| i)
    }
}

/// ENV's Argo CD history, newest first, at most `limit` entries.
pub fn history(
    session: &Session,
    env: &Environment,
    app: &Application,
    limit: Option<usize>,
) -> Vec<HistoryItem> {
    let mut versions = Versions::new(session, env);
    let last = app.history.last().map(|h| h.id);
    app.history
        .iter()
        .rev()
        .take(limit.unwrap_or(usize::MAX))
        .map(|h| {
            let revision = h.revision.clone().or_else(|| h.revisions.first().cloned());
            HistoryItem {
                id: h.id,
                version: revision.as_deref().and_then(|r| versions.at(r)),
                was_healthy: revision.as_deref().and_then(|r| was_healthy(app, r)),
                revision,
                deployed_at: h.deployed_at.map(|t| t.to_string()),
                initiated_by: match &h.initiated_by {
                    InitiatedBy::Automated => Some("automated".to_owned()),
                    InitiatedBy::User(u) => Some(u.clone()),
                    InitiatedBy::Unknown => None,
                },
                running: Some(h.id) == last,
            }
        })
        .collect()
}

/// ENV's Argo CD facts in the shape of the policy request's `environments.<env>.argocd`.
pub fn policy_facts(session: &Session, env: &Environment, app: &Application) -> sdk::ArgoCdState {
    let mut items = history(session, env, app, None);
    items.reverse(); // the request lists history oldest first, as Argo CD does
    sdk::ArgoCdState {
        sync: Some(app.sync_status.to_string()),
        health: Some(app.health.to_string()),
        deployed_revision: app.deployed_revision().map(str::to_owned),
        auto_sync: Some(app.auto_sync.is_enabled()),
        rollback_marker: marker_facts(app).and_then(|m| serde_json::to_value(m).ok()),
        history: items
            .into_iter()
            .filter_map(|h| {
                Some(sdk::HistoryEntry {
                    id: h.id,
                    revision: h.revision?,
                    version: h.version,
                    deployed_at: h.deployed_at,
                    initiated_by: h.initiated_by.map(|u| match u.as_str() {
                        "automated" => sdk::InitiatedBy {
                            automated: true,
                            username: None,
                        },
                        _ => sdk::InitiatedBy {
                            automated: false,
                            username: Some(u),
                        },
                    }),
                    was_healthy: h.was_healthy,
                })
            })
            .collect(),
    }
}
