//! Argo CD in the use cases: what happens to ENV's Application around a push (refresh; with
//! `--wait`, sync when auto-sync is off and wait until the *deployed* revision is ours and the app
//! is Synced and Healthy), the facts `status`, `history` and policies read, the `argocd` rollback
//! and `resume`. Everything goes through the core [`ArgoCd`] trait, never through kube or HTTP,
//! so the transport (Kubernetes API or argocd-server) is the binary's choice.
//!
//! What this module keeps on the Application besides Argo CD's own fields: the revisions one of
//! our waits saw Healthy or Degraded, in the annotations [`HEALTHY_REVISIONS`] and
//! [`UNHEALTHY_REVISIONS`] (the last [`KEEP_REVISIONS`] each). That is `wasHealthy` for later
//! rollbacks and policies; nothing is installed in the cluster, and every user sees them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use promote_core::argocd::{
    self as core, AppRef, Application, ArgoCd, ArgoCdError, AutoSync, AutoSyncDisabledBy,
    ExpectedSource, InitiatedBy, ManagedBy, RollbackRequest, SourceMismatch, SourceWarning,
    SyncRequest, Timestamp, WaitGoal, WaitOutcome,
};
use promote_core::config::Environment;
use promote_core::image::{EnvVersion, ImageMap};
use promote_git::CommitId;

use crate::render::Renderer;

use crate::{Interaction, Session};
/// The policy request's `environments.<env>.argocd`, as [`policy_facts`] fills it.
pub use promote_policy_sdk::ArgoCdState as PolicyArgoCdState;

/// Revisions one of our waits saw Healthy (comma-separated SHAs, newest last).
pub const HEALTHY_REVISIONS: &str = "promote.kubectl.io/healthy-revisions";
/// Revisions one of our waits saw Degraded (comma-separated SHAs, newest last).
pub const UNHEALTHY_REVISIONS: &str = "promote.kubectl.io/unhealthy-revisions";
/// How many revisions each of those annotations keeps (Argo CD keeps 10 history entries).
pub const KEEP_REVISIONS: usize = 20;

/// How long one watch of a long wait lasts before progress is reported and the goal revisited.
const WAIT_SLICE: Duration = Duration::from_secs(10);

/// ENV's Application and the transport that reaches it.
pub struct Target<'a> {
    pub argo: &'a dyn ArgoCd,
    pub app: AppRef,
    /// How it is reached, for messages: `context kind-prod`, `argocd-server https://…`.
    pub via: String,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("app", &self.app)
            .field("via", &self.via)
            .finish_non_exhaustive()
    }
}

/// Argo CD could not be used for an environment. Each variant is one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ArgoError {
    #[error(
        "environment {env} has no Argo CD application; add `argocd: {{app: NAME, namespace: argocd}}` to it in promote.yaml"
    )]
    NoApp { env: String },
    #[error(
        "Argo CD application {app} not found ({via}); check environments[].argocd of {env} in promote.yaml (app, namespace), or pass -n/--context"
    )]
    NotFound {
        env: String,
        app: String,
        via: String,
    },
    #[error(
        "not allowed to {action} Argo CD application {app} ({via}): {message}; ask for access to argoproj.io applications, or use another --context/--user"
    )]
    Forbidden {
        app: String,
        via: String,
        action: &'static str,
        message: String,
    },
    #[error(
        "cannot reach Argo CD for {app} ({via}): {cause}; check --kubeconfig/--context (or --argocd-server) and that the server is up"
    )]
    Unreachable {
        app: String,
        via: String,
        cause: String,
    },
    #[error("Argo CD application {app} ({via}): {message}")]
    Failed {
        app: String,
        via: String,
        message: String,
    },
    #[error(
        "Argo CD application {app} does not deploy {env}'s overlay: {problems}. Fix the Application's spec.source, or environments[].argocd of {env} in promote.yaml"
    )]
    Mismatch {
        env: String,
        app: String,
        problems: String,
    },
    #[error(
        "{env} was rolled back with Argo CD by {by}{at}{reason}, so promotions are refused while its rollback marker is set: fix git first, then promote with --resume (turns auto-sync back on), or run `kubectl promote resume {env}`"
    )]
    RolledBack {
        env: String,
        by: String,
        at: String,
        reason: String,
    },
    #[error(
        "{env} has a rollback marker (by {by}): syncing would deploy what git holds again; run `kubectl promote resume {env}` once git holds a good version"
    )]
    SyncWhileRolledBack { env: String, by: String },
    #[error(
        "Argo CD application {app} ({via}) was still running another operation ({operation}) after {waited_seconds}s, so ours could not start: wait for it (`kubectl promote status {env}`), or give --wait more time"
    )]
    Busy {
        env: String,
        app: String,
        via: String,
        operation: String,
        waited_seconds: u64,
    },
    #[error("no rollback by kubectl promote is recorded on {app}: there is nothing to resume")]
    NothingToResume { app: String },
    #[error(
        "{env}: git still holds {version} at {base}, the version rolled back from ({revision}); turning auto-sync back on would deploy it again. Revert it (`kubectl promote rollback {env} --strategy revert`) or promote a fix first; --force resumes anyway"
    )]
    StillRolledBackVersion {
        env: String,
        version: String,
        base: String,
        revision: String,
    },
    #[error(
        "{env}: cannot tell what was rolled back from (the history of {app} no longer shows it); check `kubectl promote history {env}` and pass --force to resume anyway"
    )]
    UnknownRolledBackFrom { env: String, app: String },
    #[error("{0}")]
    NoTarget(String),
    #[error(
        "Argo CD deployed {deployed} for {env}, a later commit that renders {env} differently from ours ({ours}): someone changed {env} after us; see `kubectl promote status {env}`"
    )]
    Superseded {
        env: String,
        deployed: String,
        ours: String,
    },
}

/// One line from an [`ArgoCdError`], with the fix where the kind of failure tells it.
pub fn classify(env: &str, t: &Target<'_>, e: ArgoCdError) -> ArgoError {
    let app = t.app.to_string();
    let via = t.via.clone();
    match e {
        ArgoCdError::NotFound { .. } => ArgoError::NotFound {
            env: env.to_owned(),
            app,
            via,
        },
        ArgoCdError::Forbidden {
            action, message, ..
        } => ArgoError::Forbidden {
            app,
            via,
            action,
            message,
        },
        ArgoCdError::Transport { ref cause, .. } if is_unreachable(cause.as_ref()) => {
            ArgoError::Unreachable {
                app,
                via,
                cause: root_cause(cause.as_ref()),
            }
        }
        other => {
            let mut message = other.to_string();
            let mut src = std::error::Error::source(&other);
            while let Some(s) = src {
                let m = s.to_string();
                if !message.contains(&m) {
                    message.push_str(": ");
                    message.push_str(&m);
                }
                src = s.source();
            }
            ArgoError::Failed { app, via, message }
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}

fn is_unreachable(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
                    | AddrNotAvailable
            ) {
                return true;
            }
        }
        let text = c.to_string().to_ascii_lowercase();
        if text.contains("connect")
            || text.contains("dns error")
            || text.contains("timed out")
            || text.contains("connection")
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// The Application as it is now.
pub fn read_app(env: &Environment, t: &Target<'_>) -> Result<Application, ArgoError> {
    t.argo
        .application(&t.app)
        .map_err(|e| classify(&env.name, t, e))
}

/// What `promote.yaml` and the remote say the app must deploy.
pub fn expected_source(session: &Session, env: &Environment) -> ExpectedSource {
    ExpectedSource {
        repo_url: session.repo.remote_url(&session.remote).unwrap_or_default(),
        path: env.overlay.clone(),
        target_revision: session.base_branch.clone(),
    }
}

/// The consistency check before relying on an app (DESIGN step 7): a mismatch is an error,
/// Argo-side image overrides and multi-source apps are warnings.
pub fn check_app(
    session: &Session,
    env: &Environment,
    app: &Application,
    progress: &dyn Interaction,
) -> Result<(), ArgoError> {
    let check = core::check_source(app, &expected_source(session, env));
    for w in &check.warnings {
        match w {
            SourceWarning::KustomizeImages(images) => progress.warn(&format!(
                "Argo CD application {} overrides images in spec.source.kustomize.images ({}): those win over {}'s overlay, so a promotion may not change what runs; remove them from the Application",
                app.qualified_name(),
                images.join(", "),
                env.name
            )),
            SourceWarning::MultiSource { count } => progress.warn(&format!(
                "Argo CD application {} has {count} sources; only the one with path {} is checked against promote.yaml",
                app.qualified_name(),
                env.overlay
            )),
        }
    }
    if check.mismatches.is_empty() {
        return Ok(());
    }
    let problems: Vec<String> = check
        .mismatches
        .iter()
        .map(|m| match m {
            SourceMismatch::RepoUrl { expected, actual } => format!(
                "repoURL is {actual}, the remote {} is {expected}",
                session.remote
            ),
            SourceMismatch::Path { expected, actual } => {
                format!("path is {actual}, the overlay is {expected}")
            }
            SourceMismatch::TargetRevision { expected, actual } => format!(
                "targetRevision is {}, the base branch is {expected}",
                if actual.is_empty() { "HEAD" } else { actual }
            ),
            SourceMismatch::NoSource => {
                "it has no single source (none, or a source hydrator)".to_owned()
            }
        })
        .collect();
    Err(ArgoError::Mismatch {
        env: env.name.clone(),
        app: app.qualified_name(),
        problems: problems.join("; "),
    })
}

/// Refuses a promotion into an env whose rollback marker is set (unless `--resume`).
pub fn check_marker(env: &Environment, app: &Application) -> Result<(), ArgoError> {
    match &app.rollback_marker {
        None => Ok(()),
        Some(m) => Err(ArgoError::RolledBack {
            env: env.name.clone(),
            by: m.by.clone(),
            at: m.at.map(|t| format!(" at {t}")).unwrap_or_default(),
            reason: if m.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", m.reason)
            },
        }),
    }
}

/// After a push to the base branch: check the app and ask for a refresh, as a webhook would.
pub fn after_push(
    session: &Session,
    env: &Environment,
    t: &Target<'_>,
    progress: &dyn Interaction,
) -> Result<Application, ArgoError> {
    let app = read_app(env, t)?;
    check_app(session, env, &app, progress)?;
    progress.step(&format!("asking Argo CD to refresh {}", t.app));
    t.argo
        .refresh(&t.app, false)
        .map_err(|e| classify(&env.name, t, e))
}

// ---------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------

/// How a sync or wait is done.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub timeout: Duration,
    /// Recorded as `initiatedBy.username` of the operations we start.
    pub user: String,
    /// Recorded in `operation.info`, so the wait knows the operation is ours.
    pub promote_id: String,
}

/// How a wait on Argo CD ended. Every variant but `Ready` is exit 5.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum Waited {
    /// Synced and Healthy (after a promotion or sync), Healthy (after a rollback).
    #[serde(rename_all = "camelCase")]
    Ready {
        revision: Option<String>,
        sync: String,
        health: String,
        waited_seconds: u64,
    },
    /// The operation succeeded and the app went Degraded.
    #[serde(rename_all = "camelCase")]
    Degraded {
        revision: Option<String>,
        message: String,
        waited_seconds: u64,
    },
    /// The operation completed without succeeding.
    #[serde(rename_all = "camelCase")]
    OperationFailed {
        phase: String,
        message: String,
        waited_seconds: u64,
    },
    /// The deadline passed.
    #[serde(rename_all = "camelCase")]
    TimedOut {
        waited_for: String,
        last_seen: String,
        waited_seconds: u64,
    },
}

impl Waited {
    pub fn is_ready(&self) -> bool {
        matches!(self, Waited::Ready { .. })
    }
}

/// What ends a sync's wait: ours, or auto-sync's.
enum Goal {
    Ours(WaitGoal),
    /// Auto-sync of our commit, or of a later commit whose render of ENV equals ours.
    Auto(Vec<String>),
}

/// `--wait` after a push (or `kubectl promote sync ENV --wait`): refresh, sync when auto-sync is
/// off, wait until the deployed revision is `ours` (or a descendant rendering ENV the same) and
/// the app is Synced and Healthy. Records what it saw in the healthy/unhealthy annotations.
pub fn sync_and_wait(
    session: &Session,
    env: &Environment,
    t: &Target<'_>,
    ours: CommitId,
    renderer: &Renderer,
    opts: &WaitOptions,
    progress: &dyn Interaction,
) -> Result<Waited, ArgoError> {
    let started = start_sync(session, env, t, ours, opts, progress)?;
    wait_for_sync(session, env, t, ours, started, renderer, opts, progress)
}

/// The started half of [`sync_and_wait`], for `sync` without `--wait`.
pub struct StartedSync {
    goal: Goal,
    /// `auto-sync` (Argo CD syncs by itself) or `operation` (we started one).
    pub how: &'static str,
    /// Spent waiting for another operation to finish before ours could start.
    busy_for: Duration,
}

/// Checks the app, refreshes it and starts a sync unless auto-sync will.
pub fn start_sync(
    session: &Session,
    env: &Environment,
    t: &Target<'_>,
    ours: CommitId,
    opts: &WaitOptions,
    progress: &dyn Interaction,
) -> Result<StartedSync, ArgoError> {
    let fail = |e| classify(&env.name, t, e);
    let app = read_app(env, t)?;
    check_app(session, env, &app, progress)?;
    // With auto-sync on, Argo CD syncs by itself: its windows are auto-sync's (`CanSync(false)`).
    let manual = !app.auto_sync.is_enabled();
    if let Some(w) = sync_window_warning(t, &app, session_now(session), manual) {
        progress.warn(&w);
    }
    progress.step(&format!("asking Argo CD to refresh {}", t.app));
    let app = t.argo.refresh(&t.app, false).map_err(fail)?;
    if app.auto_sync.is_enabled() {
        progress.step(&format!(
            "auto-sync is on: Argo CD deploys {} by itself",
            ours.short()
        ));
        return Ok(StartedSync {
            goal: Goal::Auto(vec![ours.to_string()]),
            how: "auto-sync",
            busy_for: Duration::ZERO,
        });
    }
    progress.step(&format!(
        "auto-sync is off: starting a sync of {} to {}",
        t.app, session.base_branch
    ));
    // The branch, not our SHA: a later commit on it wins, as it would for auto-sync; the wait
    // then checks the deployed revision renders ENV as ours does.
    let request = SyncRequest {
        revision: None,
        prune: false,
        user: opts.user.clone(),
        promote_id: opts.promote_id.clone(),
    };
    let (started, busy_for) = sync_when_idle(env, t, &request, opts.timeout, progress)?;
    Ok(StartedSync {
        goal: Goal::Ours(started.goal),
        how: "operation",
        busy_for,
    })
}

/// How often [`sync_when_idle`] looks whether the operation in the way has finished.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Starts our sync. Argo CD refuses one while another operation runs (specs/argocd.md §2.7):
/// a rollback started without `--wait` a moment ago, an auto-sync, a colleague's sync. With a
/// wait budget (`--wait`), wait for that operation to finish, within the budget, then start
/// ours: the user asked to wait until their commit runs, and the operation in the way ends by
/// itself. Without one (`sync` without `--wait`), refuse at once, as Argo CD does. Returns
/// the time spent waiting, which the caller's wait deducts from its own budget.
fn sync_when_idle(
    env: &Environment,
    t: &Target<'_>,
    request: &SyncRequest,
    budget: Duration,
    progress: &dyn Interaction,
) -> Result<(core::Started, Duration), ArgoError> {
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
                        progress.step(&format!(
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

/// The waiting half of [`sync_and_wait`].
#[expect(
    clippy::too_many_arguments,
    reason = "the use case's collaborators, passed as they are"
)]
pub fn wait_for_sync(
    session: &Session,
    env: &Environment,
    t: &Target<'_>,
    ours: CommitId,
    started: StartedSync,
    renderer: &Renderer,
    opts: &WaitOptions,
    progress: &dyn Interaction,
) -> Result<Waited, ArgoError> {
    let fail = |e| classify(&env.name, t, e);
    let begin = Instant::now();
    // The budget is the user's `--wait`: time spent waiting for an operation in the way counts.
    let deadline = begin + opts.timeout.saturating_sub(started.busy_for);
    let mut goal = started.goal;
    let mut round = 0u32;
    loop {
        let core_goal = match &goal {
            Goal::Ours(g) => g.clone(),
            Goal::Auto(revisions) => WaitGoal::AutoSync {
                revisions: revisions.clone(),
            },
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Short first watches: with auto-sync, an app that already runs our render is answered
        // between watches (below), and that is the common case of `sync ENV --wait`.
        let first = [
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(4),
        ];
        let slice = remaining
            .min(*first.get(round as usize).unwrap_or(&WAIT_SLICE))
            .max(Duration::from_millis(1));
        round += 1;
        match t.argo.wait(&t.app, &core_goal, slice) {
            Ok(report) => {
                let app = report.app;
                let deployed = app.deployed_revision().map(str::to_owned);
                let waited_seconds = begin.elapsed().as_secs();
                return match report.outcome {
                    WaitOutcome::Ready => {
                        if let (Goal::Ours(_), Some(d)) = (&goal, &deployed)
                            && !acceptable(session, env, ours, d, renderer)
                        {
                            return Err(ArgoError::Superseded {
                                env: env.name.clone(),
                                deployed: short(d).to_owned(),
                                ours: ours.short(),
                            });
                        }
                        record(t, &app, deployed.as_deref(), true, progress);
                        Ok(Waited::Ready {
                            revision: deployed,
                            sync: app.sync_status.to_string(),
                            health: app.health.to_string(),
                            waited_seconds,
                        })
                    }
                    WaitOutcome::Degraded { message } => {
                        record(t, &app, deployed.as_deref(), false, progress);
                        Ok(Waited::Degraded {
                            revision: deployed,
                            message,
                            waited_seconds,
                        })
                    }
                    WaitOutcome::OperationFailed { phase, message } => {
                        Ok(Waited::OperationFailed {
                            phase: phase.to_string(),
                            message,
                            waited_seconds,
                        })
                    }
                };
            }
            Err(ArgoCdError::WaitTimedOut {
                waited_for,
                last_seen,
                ..
            }) => {
                if Instant::now() >= deadline {
                    return Ok(Waited::TimedOut {
                        waited_for,
                        last_seen,
                        waited_seconds: begin.elapsed().as_secs(),
                    });
                }
                progress.step(&format!(
                    "waiting for {waited_for} on {} ({}s): {last_seen}",
                    t.app,
                    begin.elapsed().as_secs()
                ));
                // Auto-sync may have deployed a later commit (someone pushed after us): if it
                // renders ENV as ours does, it is as good as ours.
                if let Goal::Auto(revisions) = &mut goal {
                    let app = t.argo.application(&t.app).map_err(fail)?;
                    let candidates = [
                        app.operation_state
                            .as_ref()
                            .and_then(|s| s.sync_revision.clone()),
                        app.sync_revision.clone(),
                    ];
                    for c in candidates.into_iter().flatten() {
                        if !revisions.contains(&c) && acceptable(session, env, ours, &c, renderer) {
                            progress.step(&format!("{} is a later commit that renders {} as {} does: waiting for either", short(&c), env.name, ours.short()));
                            revisions.push(c);
                        }
                    }
                    if let Some(done) = already_running(t, &app, revisions, begin, progress) {
                        return Ok(done);
                    }
                }
            }
            Err(e) => return Err(fail(e)),
        }
    }
}

/// Auto-sync only syncs an OutOfSync app: when the live state already equals our commit's render
/// (a revert back to what runs, `sync` of what is deployed), Argo CD compares, finds it Synced and
/// writes no history. Argo CD compares manifests, so Synced at `sync.revision` = ours, after our
/// refresh was processed and with no operation pending, means our render runs.
fn already_running(
    t: &Target<'_>,
    app: &Application,
    revisions: &[String],
    begin: Instant,
    progress: &dyn Interaction,
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
    match app.health {
        core::HealthStatus::Healthy => {
            progress.step(&format!(
                "{} already runs the render of {} (Synced, no sync needed)",
                t.app,
                short(compared)
            ));
            record(t, app, Some(compared), true, progress);
            Some(Waited::Ready {
                revision: Some(compared.to_owned()),
                sync: app.sync_status.to_string(),
                health: app.health.to_string(),
                waited_seconds,
            })
        }
        core::HealthStatus::Degraded => {
            record(t, app, Some(compared), false, progress);
            Some(Waited::Degraded {
                revision: Some(compared.to_owned()),
                message: app.health_message.clone().unwrap_or_default(),
                waited_seconds,
            })
        }
        _ => None,
    }
}

/// `theirs` is `ours`, or a descendant whose render of ENV equals ours.
fn acceptable(
    session: &Session,
    env: &Environment,
    ours: CommitId,
    theirs: &str,
    renderer: &Renderer,
) -> bool {
    if theirs == ours.to_string() {
        return true;
    }
    let Some(theirs) = resolve_fetching(session, theirs) else {
        return false;
    };
    if !session.repo.is_ancestor(ours, theirs) {
        return false;
    }
    let none = BTreeMap::new();
    match (
        renderer.render(&session.repo, ours, &none, &env.overlay),
        renderer.render(&session.repo, theirs, &none, &env.overlay),
    ) {
        (Ok(a), Ok(b)) => a.manifests == b.manifests,
        _ => false,
    }
}

/// A commit named by Argo CD, fetching the remote once when it is not here yet.
fn resolve_fetching(session: &Session, sha: &str) -> Option<CommitId> {
    if let Ok(c) = session.repo.resolve(sha) {
        return Some(c);
    }
    session.repo.fetch(&session.remote).ok()?;
    session.repo.resolve(sha).ok()
}

fn annotation_list(app: &Application, key: &str) -> Vec<String> {
    app.raw
        .pointer(&format!(
            "/metadata/annotations/{}",
            key.replace('~', "~0").replace('/', "~1")
        ))
        .and_then(|v| v.as_str())
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What our waits recorded about `revision`: `Some(true)` seen Healthy, `Some(false)` seen
/// Degraded (the later observation wins when both were), `None` unknown.
pub fn was_healthy(app: &Application, revision: &str) -> Option<bool> {
    let healthy = annotation_list(app, HEALTHY_REVISIONS)
        .iter()
        .rposition(|r| r == revision);
    let unhealthy = annotation_list(app, UNHEALTHY_REVISIONS)
        .iter()
        .rposition(|r| r == revision);
    match (healthy, unhealthy) {
        (None, None) => None,
        (Some(_), None) => Some(true),
        (None, Some(_)) => Some(false),
        // Both lists hold it: the one where it is newest relative to its list's end wins.
        (Some(h), Some(u)) => {
            let hl = annotation_list(app, HEALTHY_REVISIONS).len() - h;
            let ul = annotation_list(app, UNHEALTHY_REVISIONS).len() - u;
            Some(hl <= ul)
        }
    }
}

/// Adds `revision` to the healthy (or unhealthy) list and takes it off the other one.
fn record(
    t: &Target<'_>,
    app: &Application,
    revision: Option<&str>,
    healthy: bool,
    progress: &dyn Interaction,
) {
    let Some(revision) = revision else { return };
    let (into, out_of) = if healthy {
        (HEALTHY_REVISIONS, UNHEALTHY_REVISIONS)
    } else {
        (UNHEALTHY_REVISIONS, HEALTHY_REVISIONS)
    };
    let mut list = annotation_list(app, into);
    list.retain(|r| r != revision);
    list.push(revision.to_owned());
    let skip = list.len().saturating_sub(KEEP_REVISIONS);
    let list: Vec<String> = list.into_iter().skip(skip).collect();
    let mut other = annotation_list(app, out_of);
    let had = other.len();
    other.retain(|r| r != revision);
    let mut changes = vec![(into.to_owned(), Some(list.join(",")))];
    if other.len() != had {
        changes.push((
            out_of.to_owned(),
            if other.is_empty() {
                None
            } else {
                Some(other.join(","))
            },
        ));
    }
    if let Err(e) = t.argo.annotate(&t.app, &changes) {
        progress.warn(&format!(
            "could not record on {} that {} was {}: {e}",
            t.app,
            short(revision),
            if healthy { "Healthy" } else { "Degraded" }
        ));
    }
}

fn short(rev: &str) -> &str {
    if rev.len() == 40 { &rev[..7] } else { rev }
}

// ---------------------------------------------------------------------------------------------
// Facts: status, history, policies
// ---------------------------------------------------------------------------------------------

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
    /// `on`, `off` or `disabled` (`automated.enabled: false`).
    pub auto_sync: &'static str,
    pub prune: bool,
    pub self_heal: bool,
    /// The current or last operation.
    pub operation: Option<OperationFacts>,
    pub rollback_marker: Option<MarkerFacts>,
    /// ApplicationSets and parent apps that write this app (and may turn auto-sync back on).
    pub managed_by: Vec<String>,
    /// Why a manual sync would be held now by the project's sync windows (or why that is
    /// unknown); null when nothing blocks it. Filled by [`sync_window_warning`].
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

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkerFacts {
    pub by: String,
    pub at: Option<String>,
    pub reason: String,
    pub to_id: Option<i64>,
    pub to_revision: Option<String>,
    /// `enabled-false`, `removed` or `already-off`.
    pub auto_sync_disabled_by: &'static str,
}

fn auto_sync_facts(a: &AutoSync) -> (&'static str, bool, bool) {
    match a {
        AutoSync::Off => ("off", false, false),
        AutoSync::Enabled { prune, self_heal } => ("on", *prune, *self_heal),
        AutoSync::Disabled { prune, self_heal } => ("disabled", *prune, *self_heal),
    }
}

fn marker_facts(app: &Application) -> Option<MarkerFacts> {
    app.rollback_marker.as_ref().map(|m| MarkerFacts {
        by: m.by.clone(),
        at: m.at.map(|t| t.to_string()),
        reason: m.reason.clone(),
        to_id: m.to_id,
        to_revision: m.to_revision.clone(),
        auto_sync_disabled_by: match m.disabled_by {
            AutoSyncDisabledBy::EnabledFalse => "enabled-false",
            AutoSyncDisabledBy::Removed => "removed",
            AutoSyncDisabledBy::AlreadyOff => "already-off",
        },
    })
}

fn managed_by(app: &Application) -> Vec<String> {
    app.managed_by
        .iter()
        .map(|m| match m {
            ManagedBy::ApplicationSet { name } => format!("ApplicationSet {name}"),
            ManagedBy::ParentApplication { name } => format!("Application {name}"),
        })
        .collect()
}

/// The facts `status` shows for ENV.
pub fn status_facts(session: &Session, env: &Environment, app: &Application) -> ArgoStatus {
    let (auto_sync, prune, self_heal) = auto_sync_facts(&app.auto_sync);
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

/// Now, for window decisions: the session's clock (`context.now` when tests pin it).
pub fn session_now(session: &Session) -> Timestamp {
    Timestamp::parse(&session.now())
        .unwrap_or_else(|| Timestamp::from_unix(jiff::Timestamp::now().as_second()))
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

/// The version ENV's overlay held at a revision, read once per revision.
struct Versions<'a> {
    session: &'a Session,
    env: &'a Environment,
    cache: BTreeMap<String, Option<(String, ImageMap)>>,
}

impl<'a> Versions<'a> {
    fn new(session: &'a Session, env: &'a Environment) -> Self {
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
        let v = resolve_fetching(self.session, revision)
            .and_then(|c| self.session.overlay_at(self.env, c).ok())
            .map(|o| {
                let images = o.image_map();
                (EnvVersion::of(images.values()).to_string(), images)
            });
        self.cache.insert(revision.to_owned(), v.clone());
        v
    }

    fn at(&mut self, revision: &str) -> Option<String> {
        self.read(revision).map(|(v, _)| v)
    }

    fn images(&mut self, revision: &str) -> Option<ImageMap> {
        self.read(revision).map(|(_, i)| i)
    }
}

/// One Argo CD history entry with what we know about it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub id: i64,
    pub revision: Option<String>,
    /// The version ENV's overlay held at that revision (`mixed` when its images differ).
    pub version: Option<String>,
    pub deployed_at: Option<String>,
    /// `automated` for auto-sync, else the user Argo CD recorded.
    pub initiated_by: Option<String>,
    /// Recorded by one of our waits; null when unknown.
    pub was_healthy: Option<bool>,
    /// The entry that runs now (`history[-1]`).
    pub running: bool,
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
pub fn policy_facts(
    session: &Session,
    env: &Environment,
    app: &Application,
) -> promote_policy_sdk::ArgoCdState {
    let mut items = history(session, env, app, None);
    items.reverse(); // the request lists history oldest first, as Argo CD does
    promote_policy_sdk::ArgoCdState {
        sync: Some(app.sync_status.to_string()),
        health: Some(app.health.to_string()),
        deployed_revision: app.deployed_revision().map(str::to_owned),
        auto_sync: Some(app.auto_sync.is_enabled()),
        rollback_marker: marker_facts(app).and_then(|m| serde_json::to_value(m).ok()),
        history: items
            .into_iter()
            .filter_map(|h| {
                Some(promote_policy_sdk::HistoryEntry {
                    id: h.id,
                    revision: h.revision?,
                    version: h.version,
                    deployed_at: h.deployed_at,
                    initiated_by: h.initiated_by.map(|u| match u.as_str() {
                        "automated" => promote_policy_sdk::InitiatedBy {
                            automated: true,
                            username: None,
                        },
                        _ => promote_policy_sdk::InitiatedBy {
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

// ---------------------------------------------------------------------------------------------
// Rollback through Argo CD's history, and resume
// ---------------------------------------------------------------------------------------------

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

/// A rollback picked from the history: what runs, and what it goes back to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackPlan {
    pub environment: String,
    pub app: String,
    pub from_version: Option<String>,
    pub from_revision: Option<String>,
    pub to: HistoryItem,
    /// `on`, `off` or `disabled` now; a rollback turns it off (keeping prune/selfHeal).
    pub auto_sync: &'static str,
    pub managed_by: Vec<String>,
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
    let (auto_sync, _, _) = auto_sync_facts(&app.auto_sync);
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
    pub auto_sync_disabled_by: &'static str,
    #[serde(skip)]
    goal: Option<WaitGoal>,
}

/// Auto-sync off, the marker and Argo CD's rollback operation (one replace on the Kubernetes
/// transport), as Argo CD's Rollback does. `app` is the Application the plan was made from
/// and `windows` its project's sync windows as read (a caller may read them while it does
/// something else, e.g. runs the policies).
#[expect(
    clippy::too_many_arguments,
    reason = "the use case's collaborators, passed as they are"
)]
pub fn rollback(
    env: &Environment,
    t: &Target<'_>,
    plan: RollbackPlan,
    app: &Application,
    windows: Result<Vec<core::SyncWindow>, ArgoCdError>,
    user: &str,
    reason: &str,
    now: Timestamp,
    progress: &dyn Interaction,
) -> Result<RolledBack, ArgoError> {
    let request = RollbackRequest {
        id: plan.to.id,
        prune: false,
        dry_run: false,
        user: user.to_owned(),
        reason: reason.to_owned(),
    };
    // Argo CD's Rollback API does not check windows, its controller does (§2.3, §2.4).
    if let Some(w) = window_warning(app, windows, now, true) {
        progress.warn(&w);
    }
    progress.step(&format!(
        "turning auto-sync of {} off and rolling back to history id {} ({})",
        t.app,
        plan.to.id,
        plan.to.revision.as_deref().map(short).unwrap_or("?")
    ));
    let started = t
        .argo
        .rollback_from(&t.app, app, &request, now)
        .map_err(|e| classify(&env.name, t, e))?;
    let disabled_by = match started.disabled_by {
        AutoSyncDisabledBy::EnabledFalse => "enabled-false",
        AutoSyncDisabledBy::Removed => "removed",
        AutoSyncDisabledBy::AlreadyOff => "already-off",
    };
    for m in &started.started.app.managed_by {
        progress.warn(&m.to_string());
    }
    Ok(RolledBack {
        plan,
        auto_sync_disabled_by: disabled_by,
        goal: Some(started.started.goal),
    })
}

/// `rollback --wait`: the operation Succeeded and the app is Healthy (OutOfSync is expected:
/// the branch still holds the version rolled back from).
pub fn wait_rollback(
    env: &Environment,
    t: &Target<'_>,
    rolled: &RolledBack,
    timeout: Duration,
    progress: &dyn Interaction,
) -> Result<Waited, ArgoError> {
    let Some(goal) = &rolled.goal else {
        return Err(ArgoError::NoTarget("nothing to wait for".into()));
    };
    let begin = Instant::now();
    let deadline = begin + timeout;
    loop {
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(WAIT_SLICE)
            .max(Duration::from_millis(1));
        match t.argo.wait(&t.app, goal, slice) {
            Ok(report) => {
                let app = report.app;
                let deployed = app.deployed_revision().map(str::to_owned);
                let waited_seconds = begin.elapsed().as_secs();
                return Ok(match report.outcome {
                    WaitOutcome::Ready => {
                        record(t, &app, deployed.as_deref(), true, progress);
                        Waited::Ready {
                            revision: deployed,
                            sync: app.sync_status.to_string(),
                            health: app.health.to_string(),
                            waited_seconds,
                        }
                    }
                    WaitOutcome::Degraded { message } => {
                        record(t, &app, deployed.as_deref(), false, progress);
                        Waited::Degraded {
                            revision: deployed,
                            message,
                            waited_seconds,
                        }
                    }
                    WaitOutcome::OperationFailed { phase, message } => Waited::OperationFailed {
                        phase: phase.to_string(),
                        message,
                        waited_seconds,
                    },
                });
            }
            Err(ArgoCdError::WaitTimedOut {
                waited_for,
                last_seen,
                ..
            }) => {
                if Instant::now() >= deadline {
                    return Ok(Waited::TimedOut {
                        waited_for,
                        last_seen,
                        waited_seconds: begin.elapsed().as_secs(),
                    });
                }
                progress.step(&format!(
                    "waiting for {waited_for} on {} ({}s): {last_seen}",
                    t.app,
                    begin.elapsed().as_secs()
                ));
            }
            Err(e) => return Err(classify(&env.name, t, e)),
        }
    }
}

/// What `resume` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resumed {
    pub environment: String,
    pub app: String,
    /// `on`, `off` or `disabled` after the resume.
    pub auto_sync: &'static str,
    pub prune: bool,
    pub self_heal: bool,
    /// The marker that was removed.
    pub marker: MarkerFacts,
    /// Resumed with --force while git still held the version rolled back from.
    pub forced: bool,
}

/// `resume ENV [--force]`: restore the recorded sync policy and remove the marker, refusing while
/// git still holds the rolled-back version (the overlay's images at the base tip equal those of
/// the revision rolled back from).
pub fn resume(
    session: &Session,
    env: &Environment,
    t: &Target<'_>,
    force: bool,
    progress: &dyn Interaction,
) -> Result<Resumed, ArgoError> {
    let app = read_app(env, t)?;
    let marker = marker_facts(&app).ok_or_else(|| ArgoError::NothingToResume {
        app: t.app.to_string(),
    })?;
    let mut forced = false;
    match rolled_back_from(&app) {
        Some(from) => {
            let mut versions = Versions::new(session, env);
            let base_images = session
                .overlay_at(env, session.base)
                .map_err(|e| ArgoError::NoTarget(e.to_string()))?
                .image_map();
            let from_images = versions.images(&from);
            let still = match &from_images {
                Some(images) => *images == base_images,
                None => true, // cannot read it: refuse rather than redeploy a bad version
            };
            if still {
                if !force {
                    return Err(match from_images {
                        Some(images) => ArgoError::StillRolledBackVersion {
                            env: env.name.clone(),
                            version: EnvVersion::of(images.values()).to_string(),
                            base: format!("{} {}", session.base_name(), session.base.short()),
                            revision: short(&from).to_owned(),
                        },
                        None => ArgoError::UnknownRolledBackFrom {
                            env: env.name.clone(),
                            app: t.app.to_string(),
                        },
                    });
                }
                progress.warn(&format!("--force: git still holds what {} was rolled back from ({}); Argo CD will deploy it again", env.name, short(&from)));
                forced = true;
            }
        }
        None if !force => {
            return Err(ArgoError::UnknownRolledBackFrom {
                env: env.name.clone(),
                app: t.app.to_string(),
            });
        }
        None => forced = true,
    }
    resume_now(env, t, marker, forced, progress)
}

/// Restores the sync policy and refreshes (used by `resume` and by `promote --resume` after
/// its push).
pub fn resume_now(
    env: &Environment,
    t: &Target<'_>,
    marker: MarkerFacts,
    forced: bool,
    progress: &dyn Interaction,
) -> Result<Resumed, ArgoError> {
    let fail = |e| classify(&env.name, t, e);
    progress.step(&format!(
        "restoring the sync policy of {} and removing the rollback marker",
        t.app
    ));
    t.argo.resume(&t.app).map_err(fail)?;
    let app = t.argo.refresh(&t.app, false).map_err(fail)?;
    let (auto_sync, prune, self_heal) = auto_sync_facts(&app.auto_sync);
    Ok(Resumed {
        environment: env.name.clone(),
        app: t.app.to_string(),
        auto_sync,
        prune,
        self_heal,
        marker,
        forced,
    })
}

/// The marker of ENV's app, for `promote --resume`.
pub fn marker(app: &Application) -> Option<MarkerFacts> {
    marker_facts(app)
}

/// The revision running before our rollback: the entry before the one the rollback appended
/// (the newest entry of the rolled-back-to revision after the target id), or, while the
/// rollback has not completed, the one running now.
fn rolled_back_from(app: &Application) -> Option<String> {
    let marker = app.rollback_marker.as_ref()?;
    let to = marker.to_revision.as_deref()?;
    let appended = app.history.iter().rposition(|h| {
        marker.to_id.is_none_or(|id| h.id > id) && h.revision.as_deref() == Some(to)
    });
    match appended {
        Some(i) => app.history[..i]
            .iter()
            .rev()
            .find_map(|h| h.revision.clone().filter(|r| r != to)),
        None => app
            .history
            .last()
            .and_then(|h| h.revision.clone())
            .filter(|r| r != to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";

    fn app(annotations: serde_json::Value, history: &[(i64, &str)]) -> Application {
        let history: Vec<_> = history
            .iter()
            .map(|(id, rev)| json!({"id": id, "revision": rev, "deployedAt": "2026-08-22T10:00:00Z"}))
            .collect();
        Application::from_json(json!({
            "metadata": {"name": "shop", "namespace": "argocd", "annotations": annotations},
            "spec": {"source": {"repoURL": "r", "path": "p", "targetRevision": "main"}},
            "status": {"history": history}
        }))
        .unwrap()
    }

    #[test]
    fn was_healthy_is_unknown_unless_recorded_and_the_later_record_wins() {
        let a = app(
            json!({HEALTHY_REVISIONS: format!("{A},{B}"), UNHEALTHY_REVISIONS: C}),
            &[],
        );
        assert_eq!(was_healthy(&a, A), Some(true));
        assert_eq!(was_healthy(&a, C), Some(false));
        assert_eq!(
            was_healthy(&a, "dddddddddddddddddddddddddddddddddddddddd"),
            None
        );
        // B is last in the unhealthy list but second to last in the healthy one.
        let both = app(
            json!({HEALTHY_REVISIONS: format!("{B},{A}"), UNHEALTHY_REVISIONS: B}),
            &[],
        );
        assert_eq!(was_healthy(&both, B), Some(false));
    }

    #[test]
    fn the_version_rolled_back_from_is_the_entry_before_the_rollbacks_own() {
        let marker = json!({
            core::ROLLED_BACK_BY: "alice", core::ROLLBACK_TO_ID: "1", core::ROLLBACK_TO_REVISION: B,
        });
        // Rolled back from C (id 2) to B (id 1); the rollback appended id 3.
        let done = app(marker.clone(), &[(0, A), (1, B), (2, C), (3, B)]);
        assert_eq!(rolled_back_from(&done).as_deref(), Some(C));
        // The rollback has not completed: what runs now is what it rolls back from.
        let pending = app(marker, &[(0, A), (1, B), (2, C)]);
        assert_eq!(rolled_back_from(&pending).as_deref(), Some(C));
        assert_eq!(rolled_back_from(&app(json!({}), &[(0, A)])), None);
    }
}
