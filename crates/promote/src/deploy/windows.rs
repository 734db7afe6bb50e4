//! Sync windows (DESIGN step 7): whether the app's AppProject windows block a sync now, said
//! as a warning naming the windows. A sync operation we would write into a window that blocks
//! manual syncs is refused before it is written, as argocd-server refuses it (testbed finding
//! P3: over the Kubernetes API the controller would hold it, stuck, until the window closes).

use promote_core::argocd::{self as core, Application, ArgoCdError, OperationRefused, Timestamp};

use super::target::Target;
use crate::clock::Clock;

/// The time windows are judged at: the clock's decision time (pinned by tests), as a core
/// timestamp; the time it is when that does not parse.
pub fn decision_time(clock: &dyn Clock) -> Timestamp {
    Timestamp::parse(&clock.decision_time())
        .unwrap_or_else(|| Timestamp::from_unix(clock.now().as_second()))
}

/// DESIGN step 7: whether the app's AppProject sync windows block a sync now, as one line
/// naming the windows; `None` when nothing blocks it. `manual`: a sync we start (or a
/// rollback's operation), where `manualSync` windows let it through; else auto-sync's.
/// The project not being readable is said too: a warning, never a failure.
pub fn sync_window_warning(
    t: &Target<'_>,
    app: &Application,
    now: Timestamp,
    manual: bool,
) -> Option<String> {
    window_warning(app, t.argo.project_sync_windows(app), now, manual)
}

/// [`sync_window_warning`] from the project's windows as read (or not) already.
pub fn window_warning(
    app: &Application,
    windows: Result<Vec<core::SyncWindow>, ArgoCdError>,
    now: Timestamp,
    manual: bool,
) -> Option<String> {
    let project = core::app_project(app);
    let name = app.qualified_name();
    let windows = match windows {
        Ok(w) => w,
        Err(e) => {
            return Some(format!(
                "could not read the sync windows of {name}'s Argo CD project {project}: {e}"
            ));
        }
    };
    let list = |ws: &[core::SyncWindow]| {
        ws.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kind = if manual { "manual syncs" } else { "auto-sync" };
    match core::sync_window_verdict(&windows, app, now, manual) {
        core::WindowVerdict::Allowed => None,
        core::WindowVerdict::DeniedBy(ws) => Some(format!(
            "Argo CD project {project} blocks {kind} of {name} now: {} is active{}; Argo CD refuses or holds a sync until it closes",
            list(&ws),
            if manual { " without manualSync" } else { "" }
        )),
        core::WindowVerdict::OutsideAllow(ws) => Some(format!(
            "Argo CD project {project} blocks {kind} of {name} now: no allow window is open ({}); Argo CD refuses or holds a sync until one opens",
            list(&ws)
        )),
        core::WindowVerdict::Unknown(e) => Some(format!(
            "cannot tell whether Argo CD project {project}'s sync windows allow a sync of {name} (Argo CD refuses syncs on an invalid window): {e}"
        )),
    }
}

/// argocd-server's Sync check (`CanSync(true)`, specs/argocd.md §1 step 2) on the project's
/// windows as read: the refusal it answers, if any. Unreadable projects refuse nothing here
/// (the warning says so, and argocd-server still judges a REST sync itself).
pub fn manual_sync_refusal(
    app: &Application,
    windows: &[core::SyncWindow],
    now: Timestamp,
) -> Option<OperationRefused> {
    match core::sync_window_verdict(windows, app, now, true) {
        core::WindowVerdict::Allowed => None,
        core::WindowVerdict::DeniedBy(_) | core::WindowVerdict::OutsideAllow(_) => {
            Some(OperationRefused::BlockedBySyncWindow)
        }
        core::WindowVerdict::Unknown(e) => Some(OperationRefused::InvalidSyncWindow {
            problem: e.to_string(),
        }),
    }
}
