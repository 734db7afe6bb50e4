//! Syncing ENV's Application to what git holds (DESIGN step 7, `sync ENV`): refresh, sync when
//! auto-sync is off (waiting for an operation in the way when there is a wait budget), and wait
//! until the *deployed* revision is ours, or a later commit that renders ENV as ours does, and
//! the app is Synced and Healthy.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use promote_core::argocd::{
    self as core, Application, ArgoCdError, SyncRequest, Timestamp, WaitGoal,
};
use promote_core::config::Environment;
use promote_git::CommitId;

use super::error::ArgoError;
use super::target::{Target, check_app, classify, read_app};
use super::wait::{self, WaitOptions, Waited, Watch, degraded, ready, short};
use super::windows::{manual_sync_refusal, window_warning};
use crate::render::{RenderTarget, Renderer};
use crate::{Interaction, Session};

/// One sync of ENV's app: what it is checked against, how it is reached, how long it may take.
#[derive(Clone, Copy)]
pub struct SyncJob<'a> {
    pub session: &'a Session,
    pub env: &'a Environment,
    pub target: &'a Target<'a>,
    /// Renders ENV at a later deployed commit, to tell whether it runs what ours would.
    pub renderer: &'a Renderer,
    /// The time sync windows are judged at.
    pub now: Timestamp,
    pub opts: &'a WaitOptions,
}

/// Who deploys the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncBy {
    /// Auto-sync is on: Argo CD syncs by itself.
    AutoSync,
    /// We started a sync operation.
    Operation,
}

/// What ends a sync's wait: ours, or auto-sync's.
enum Goal {
    Ours(WaitGoal),
    /// Auto-sync of our commit, or of a later commit whose render of ENV equals ours; and the
    /// app's health before (see [`WaitGoal`]).
    Auto(Vec<String>, core::HealthStatus),
}

/// A started sync, for `sync` without `--wait` and for the wait that follows.
pub struct StartedSync {
    goal: Goal,
    pub how: SyncBy,
    /// Spent waiting for another operation to finish before ours could start.
    busy_for: Duration,
}

impl SyncJob<'_> {
    /// `--wait` after a push (or `kubectl promote sync ENV --wait`): [`SyncJob::start`], then
    /// [`SyncJob::wait`]. Records what it saw in the healthy/unhealthy annotations.
    pub fn sync_and_wait(&self, ours: CommitId, ui: &dyn Interaction) -> Result<Waited, ArgoError> {
        let started = self.start(ours, ui)?;
        self.wait(ours, started, ui)
    }

    /// Checks the app, refreshes it and starts a sync unless auto-sync will.
    pub fn start(&self, ours: CommitId, ui: &dyn Interaction) -> Result<StartedSync, ArgoError> {
        let (env, t) = (self.env, self.target);
        let app = read_app(env, t)?;
        check_app(self.session, env, &app, ui)?;
        // With auto-sync on, Argo CD syncs by itself: its windows are auto-sync's
        // (`CanSync(false)`).
        let manual = !app.auto_sync.is_enabled();
        let windows = t.argo.project_sync_windows(&app);
        let refusal = match &windows {
            Ok(w) if manual => manual_sync_refusal(&app, w, self.now),
            _ => None,
        };
        if let Some(w) = window_warning(&app, windows, self.now, manual) {
            ui.warn(&w);
        }
        if let Some(reason) = refusal {
            // Refused before anything is written, on both transports (finding P3).
            return Err(classify(
                &env.name,
                t,
                ArgoCdError::Refused {
                    app: t.app.to_string(),
                    action: "sync",
                    reason,
                },
            ));
        }
        ui.step(&format!("asking Argo CD to refresh {}", t.app));
        let app = t
            .argo
            .refresh(&t.app, false)
            .map_err(|e| classify(&env.name, t, e))?;
        if app.auto_sync.is_enabled() {
            ui.step(&format!(
                "auto-sync is on: Argo CD deploys {} by itself",
                ours.short()
            ));
            return Ok(StartedSync {
                goal: Goal::Auto(vec![ours.to_string()], app.health.clone()),
                how: SyncBy::AutoSync,
                busy_for: Duration::ZERO,
            });
        }
        ui.step(&format!(
            "auto-sync is off: starting a sync of {} to {}",
            t.app, self.session.base_branch
        ));
        // The branch, not our SHA: a later commit on it wins, as it would for auto-sync; the
        // wait then checks the deployed revision renders ENV as ours does.
        let request = SyncRequest {
            revision: None,
            prune: false,
            user: self.opts.user.clone(),
            promote_id: self.opts.promote_id.clone(),
        };
        let (started, busy_for) = self.sync_when_idle(&request, ui)?;
        Ok(StartedSync {
            goal: Goal::Ours(started.goal),
            how: SyncBy::Operation,
            busy_for,
        })
    }

    /// Starts our sync. Argo CD refuses one while another operation runs (specs/argocd.md
    /// §2.7): a rollback started without `--wait` a moment ago, an auto-sync, a colleague's
    /// sync. With a wait budget (`--wait`), wait for that operation to finish, within the
    /// budget, then start ours: the user asked to wait until their commit runs, and the
    /// operation in the way ends by itself. Without one (`sync` without `--wait`), refuse at
    /// once, as Argo CD does. Returns the time spent waiting, which the caller's wait deducts
    /// from its own budget.
    fn sync_when_idle(
        &self,
        request: &SyncRequest,
        ui: &dyn Interaction,
    ) -> Result<(core::Started, Duration), ArgoError> {
        let (env, t) = (self.env, self.target);
        let budget = self.opts.timeout;
        let fail = |e| classify(&env.name, t, e);
        let begin = Instant::now();
        let deadline = begin + budget;
        let mut said = false;
        loop {
            match t.argo.sync(&t.app, request) {
                Ok(started) => return Ok((started, begin.elapsed())),
                Err(ArgoCdError::Refused {
                    reason: core::OperationRefused::AnotherOperationInProgress,
                    ..
                }) if !budget.is_zero() => {
                    let mut app = t.argo.application(&t.app).map_err(fail)?;
                    while app.operation.is_some() {
                        if Instant::now() >= deadline {
                            return Err(ArgoError::Busy {
                                env: env.name.clone(),
                                app: t.app.to_string(),
                                via: t.via.clone(),
                                operation: describe_operation(&app),
                                waited_seconds: begin.elapsed().as_secs(),
                            });
                        }
                        if !said {
                            ui.step(&format!(
                                "{} is running another operation ({}): waiting for it to finish before syncing",
                                t.app,
                                describe_operation(&app)
                            ));
                            said = true;
                        }
                        std::thread::sleep(
                            IDLE_POLL.min(deadline.saturating_duration_since(Instant::now())),
                        );
                        app = t.argo.application(&t.app).map_err(fail)?;
                    }
                }
                Err(e) => return Err(fail(e)),
            }
        }
    }

    /// The waiting half of [`SyncJob::sync_and_wait`].
    pub fn wait(
        &self,
        ours: CommitId,
        started: StartedSync,
        ui: &dyn Interaction,
    ) -> Result<Waited, ArgoError> {
        let begin = Instant::now();
        // The budget is the user's `--wait`: time spent waiting for an operation in the way
        // counts.
        let deadline = begin + self.opts.timeout.saturating_sub(started.busy_for);
        let mut watch = SyncWatch {
            job: *self,
            ours,
            goal: started.goal,
        };
        wait::wait(
            &self.env.name,
            self.target,
            &mut watch,
            (begin, deadline),
            ui,
        )
    }

    /// `theirs` is `ours`, or a descendant whose render of ENV equals ours.
    fn acceptable(&self, ours: CommitId, theirs: &str) -> bool {
        if theirs == ours.to_string() {
            return true;
        }
        let Some(theirs) = self.session.resolve_fetching(theirs) else {
            return false;
        };
        let repo = &self.session.repo;
        if !repo.is_ancestor(ours, theirs) {
            return false;
        }
        let (none, target) = (BTreeMap::new(), &RenderTarget::of(self.env));
        match (
            self.renderer.render(repo, ours, &none, target),
            self.renderer.render(repo, theirs, &none, target),
        ) {
            (Ok(a), Ok(b)) => a.manifests == b.manifests,
            _ => false,
        }
    }
}

/// How often [`SyncJob::sync_when_idle`] looks whether the operation in the way has finished.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// The operation in `.operation`, for messages: who started it, and its phase.
fn describe_operation(app: &Application) -> String {
    let by = app.operation.as_ref().and_then(|op| {
        let i = op.get("initiatedBy")?;
        if i.get("automated").and_then(serde_json::Value::as_bool) == Some(true) {
            Some("auto-sync".to_owned())
        } else {
            i.get("username")
                .and_then(serde_json::Value::as_str)
                .map(|u| format!("started by {u}"))
        }
    });
    let phase = app
        .operation_state
        .as_ref()
        .map(|s| s.phase.to_string())
        .unwrap_or_else(|| "pending".to_owned());
    match by {
        Some(by) => format!("{by}, {phase}"),
        None => phase,
    }
}

/// The wait of a sync: ours (the operation we started) or auto-sync's (any revision in the
/// list, which grows by later commits that render ENV as ours does).
struct SyncWatch<'a> {
    job: SyncJob<'a>,
    ours: CommitId,
    goal: Goal,
}

impl Watch for SyncWatch<'_> {
    fn goal(&self) -> WaitGoal {
        match &self.goal {
            Goal::Ours(g) => g.clone(),
            Goal::Auto(revisions, health) => WaitGoal::AutoSync {
                revisions: revisions.clone(),
                health_before: health.clone(),
            },
        }
    }

    /// Short first watches: with auto-sync, an app that already runs our render is answered
    /// between watches, and that is the common case of `sync ENV --wait`.
    fn slice(&self, round: u32) -> Duration {
        match round {
            0 => Duration::from_secs(1),
            1 => Duration::from_secs(2),
            2 => Duration::from_secs(4),
            _ => wait::WAIT_SLICE,
        }
    }

    fn accept(&self, deployed: &str) -> Result<(), ArgoError> {
        if matches!(self.goal, Goal::Ours(_)) && !self.job.acceptable(self.ours, deployed) {
            return Err(ArgoError::Superseded {
                env: self.job.env.name.clone(),
                deployed: short(deployed).to_owned(),
                ours: self.ours.short(),
            });
        }
        Ok(())
    }

    /// Auto-sync may have deployed a later commit (someone pushed after us): if it renders ENV
    /// as ours does, it is as good as ours.
    fn between(
        &mut self,
        t: &Target<'_>,
        begin: Instant,
        ui: &dyn Interaction,
    ) -> Result<Option<Waited>, ArgoError> {
        let Goal::Auto(revisions, _) = &mut self.goal else {
            return Ok(None);
        };
        let env = self.job.env;
        let app = t
            .argo
            .application(&t.app)
            .map_err(|e| classify(&env.name, t, e))?;
        let candidates = [
            app.operation_state
                .as_ref()
                .and_then(|s| s.sync_revision.clone()),
            app.sync_revision.clone(),
        ];
        for c in candidates.into_iter().flatten() {
            if !revisions.contains(&c) && self.job.acceptable(self.ours, &c) {
                ui.step(&format!(
                    "{} is a later commit that renders {} as {} does: waiting for either",
                    short(&c),
                    env.name,
                    self.ours.short()
                ));
                revisions.push(c);
            }
        }
        Ok(already_running(t, &app, revisions, begin, ui))
    }
}

/// Auto-sync only syncs an OutOfSync app: when the live state already equals our commit's
/// render (a revert back to what runs, `sync` of what is deployed), Argo CD compares, finds it
/// Synced and writes no history. Argo CD compares manifests, so Synced at `sync.revision` =
/// ours, after our refresh was processed and with no operation pending, means our render runs.
fn already_running(
    t: &Target<'_>,
    app: &Application,
    revisions: &[String],
    begin: Instant,
    ui: &dyn Interaction,
) -> Option<Waited> {
    let refreshed = app
        .raw
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(core::REFRESH_ANNOTATION))
        .is_none();
    let compared = app
        .sync_revision
        .as_deref()
        .filter(|r| revisions.iter().any(|x| x == r))?;
    if !refreshed || app.operation.is_some() || app.sync_status != core::SyncStatus::Synced {
        return None;
    }
    let waited_seconds = begin.elapsed().as_secs();
    let revision = Some(compared.to_owned());
    match app.health {
        core::HealthStatus::Healthy => {
            ui.step(&format!(
                "{} already runs the render of {} (Synced, no sync needed)",
                t.app,
                short(compared)
            ));
            Some(ready(t, app, revision, waited_seconds, ui))
        }
        // Unless auto-sync ran one of them just now: then the Degraded may be the one from
        // before that sync (testbed finding P2), and the wait judges it.
        core::HealthStatus::Degraded if !synced_one_of(app, revisions) => {
            let message = app.health_message.clone().unwrap_or_default();
            Some(degraded(t, app, revision, message, waited_seconds, ui))
        }
        _ => None,
    }
}

/// Whether the app's last operation synced one of `revisions`.
fn synced_one_of(app: &Application, revisions: &[String]) -> bool {
    app.operation_state
        .as_ref()
        .and_then(|s| s.sync_revision.as_deref())
        .is_some_and(|r| revisions.iter().any(|x| x == r))
}
