//! Going back through Argo CD's history (`rollback --strategy argocd`): pick the entry, then
//! turn auto-sync off without losing prune/selfHeal, set the rollback marker and start Argo CD's
//! rollback operation (one replace on the Kubernetes transport), as Argo CD's Rollback does;
//! `--wait` waits until the operation Succeeded and the app is Healthy.

use std::time::{Duration, Instant};

use serde::Serialize;

use promote_core::argocd::{
    self as core, Application, ArgoCdError, AutoSyncDisabledBy, RollbackRequest, Timestamp,
    WaitGoal,
};
use promote_core::config::Environment;

use super::error::ArgoError;
use super::facts::{history, managed_by};
use super::state::{AutoSyncState, serialize_disabled_by};
use super::target::{Target, classify};
use super::wait::{self, Waited, Watch, short};
use super::windows::window_warning;
use crate::plan::{HistoryItem, RollbackPlan};
use crate::{Interaction, Session};

/// Which history entry to go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryTarget {
    /// The newest entry whose version differs from the running one, preferring one recorded
    /// healthy, never one recorded Degraded.
    Previous,
    /// The newest entry that ran this version.
    Version(String),
    /// This history id.
    Id(i64),
    /// The newest entry of this revision (a SHA or a prefix of at least 7 hex digits).
    Revision(String),
}

/// Picks the entry. `Ok(None)`: the history does not hold the target (the default strategy
/// then reverts in git instead).
pub fn plan_rollback(
    session: &Session,
    env: &Environment,
    app: &Application,
    target: &HistoryTarget,
) -> Result<Option<RollbackPlan>, ArgoError> {
    let items = history(session, env, app, None);
    let running = items.first();
    let from_version = running.and_then(|r| r.version.clone());
    let older = || items.iter().skip(1);
    let pick = match target {
        HistoryTarget::Id(id) => items.iter().find(|h| h.id == *id),
        HistoryTarget::Version(v) => older().find(|h| h.version.as_deref() == Some(v.as_str())),
        HistoryTarget::Revision(r) => {
            if r.len() < 7 || !r.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ArgoError::NoTarget(format!(
                    "--to-revision {r}: give a commit SHA (at least 7 hex digits)"
                )));
            }
            older().find(|h| {
                h.revision
                    .as_deref()
                    .is_some_and(|x| x.starts_with(r.as_str()))
            })
        }
        HistoryTarget::Previous => {
            let differs = |h: &&HistoryItem| h.version.is_some() && h.version != from_version;
            older()
                .filter(differs)
                .find(|h| h.was_healthy == Some(true))
                .or_else(|| older().filter(differs).find(|h| h.was_healthy.is_none()))
        }
    };
    let Some(to) = pick.cloned() else {
        return Ok(None);
    };
    let (auto_sync, _, _) = AutoSyncState::of(&app.auto_sync);
    Ok(Some(RollbackPlan {
        environment: env.name.clone(),
        app: app.qualified_name(),
        from_version,
        from_revision: running.and_then(|r| r.revision.clone()),
        to,
        auto_sync,
        managed_by: managed_by(app),
    }))
}

/// Why [`plan_rollback`] found nothing, for the error when `--strategy argocd` was asked for.
pub fn no_target(env: &Environment, app: &Application, target: &HistoryTarget) -> ArgoError {
    let what = match target {
        HistoryTarget::Previous => {
            "an entry running another version that was not seen Degraded".to_owned()
        }
        HistoryTarget::Version(v) => format!("an earlier entry running {v}"),
        HistoryTarget::Id(id) => format!("the id {id}"),
        HistoryTarget::Revision(r) => format!("an earlier entry of revision {r}"),
    };
    ArgoError::NoTarget(format!(
        "the Argo CD history of {} ({} entries) holds no {what}; see `kubectl promote history {}`, or roll back in git with --strategy revert",
        app.qualified_name(),
        app.history.len(),
        env.name
    ))
}

/// A started `argocd` rollback.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolledBack {
    #[serde(flatten)]
    pub plan: RollbackPlan,
    /// `enabled-false` (prune/selfHeal kept in place), `removed` (Argo CD before 3.1: the old
    /// `automated` is kept in an annotation) or `already-off`.
    #[serde(serialize_with = "serialize_disabled_by")]
    pub auto_sync_disabled_by: AutoSyncDisabledBy,
    #[serde(skip)]
    goal: Option<WaitGoal>,
}

/// Who rolls back, and why (the marker's annotations).
#[derive(Debug, Clone)]
pub struct RollbackBy {
    pub user: String,
    pub reason: String,
    /// When, as the marker records it.
    pub at: Timestamp,
}

/// Auto-sync off, the marker and Argo CD's rollback operation (one replace on the Kubernetes
/// transport), as Argo CD's Rollback does. `app` is the Application the plan was made from
/// and `windows` its project's sync windows as read (a caller may read them while it does
/// something else, e.g. runs the policies).
pub fn write_rollback(
    (env, t): (&Environment, &Target<'_>),
    (plan, app): (RollbackPlan, &Application),
    windows: Result<Vec<core::SyncWindow>, ArgoCdError>,
    by: &RollbackBy,
    ui: &dyn Interaction,
) -> Result<RolledBack, ArgoError> {
    let request = RollbackRequest {
        id: plan.to.id,
        prune: false,
        dry_run: false,
        user: by.user.clone(),
        reason: by.reason.clone(),
    };
    // Argo CD's Rollback API does not check windows, its controller does (§2.3, §2.4).
    if let Some(w) = window_warning(app, windows, by.at, true) {
        ui.warn(&w);
    }
    ui.step(&format!(
        "turning auto-sync of {} off and rolling back to history id {} ({})",
        t.app,
        plan.to.id,
        plan.to.revision.as_deref().map(short).unwrap_or("?")
    ));
    let started = match t.argo.rollback_from(&t.app, app, &request, by.at) {
        Err(ArgoCdError::Refused {
            reason: core::OperationRefused::AnotherOperationInProgress,
            ..
        }) if auto_sync_busy(t, ui) => t.argo.rollback(&t.app, &request, by.at),
        other => other,
    }
    .map_err(|e| classify(&env.name, t, e))?;
    Ok(RolledBack {
        plan,
        auto_sync_disabled_by: started.disabled_by,
        goal: Some(started.started.goal),
    })
}

/// How long a rollback waits for an auto-sync operation in its way.
const AUTO_SYNC_GRACE: Duration = Duration::from_secs(30);

/// Whether the operation in the way of a rollback is one auto-sync started (on a Degraded app
/// it retries the bad revision) and it ended within [`AUTO_SYNC_GRACE`]: the rollback turns
/// auto-sync off, so that operation is what it stops, and waiting for it beats refusing.
/// Anyone else's operation is refused at once, as Argo CD does.
fn auto_sync_busy(t: &Target<'_>, ui: &dyn Interaction) -> bool {
    let automated = |a: &Application| {
        a.operation
            .as_ref()
            .and_then(|op| op.get("initiatedBy")?.get("automated")?.as_bool())
            == Some(true)
    };
    let deadline = Instant::now() + AUTO_SYNC_GRACE;
    let mut said = false;
    loop {
        let Ok(app) = t.argo.application(&t.app) else {
            return false;
        };
        if app.operation.is_none() {
            return true;
        }
        if !automated(&app) || Instant::now() >= deadline {
            return false;
        }
        if !said {
            ui.step(&format!(
                "{} is running an auto-sync operation: waiting for it to end before rolling back",
                t.app
            ));
            said = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The wait of a rollback: its operation.
struct RollbackWatch<'a>(&'a WaitGoal);

impl Watch for RollbackWatch<'_> {
    fn goal(&self) -> WaitGoal {
        self.0.clone()
    }
}

/// `rollback --wait`: the operation Succeeded and the app is Healthy (OutOfSync is expected:
/// the branch still holds the version rolled back from).
pub fn wait_rollback(
    env: &Environment,
    t: &Target<'_>,
    rolled: &RolledBack,
    timeout: Duration,
    ui: &dyn Interaction,
) -> Result<Waited, ArgoError> {
    let Some(goal) = &rolled.goal else {
        return Err(ArgoError::NoTarget("nothing to wait for".into()));
    };
    let begin = Instant::now();
    wait::wait(
        &env.name,
        t,
        &mut RollbackWatch(goal),
        (begin, begin + timeout),
        ui,
    )
}
