//! The port the use cases call: the [`ArgoCd`] trait, what it is asked ([`SyncRequest`],
//! [`RollbackRequest`], [`WaitGoal`]) and what it answers ([`Started`], [`WaitReport`],
//! [`ArgoCdError`]).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::facts::{Application, ApplicationError, HealthStatus, OperationPhase, short_revision};
use super::marker::AutoSyncDisabledBy;
use super::refused::OperationRefused;
use super::time::Timestamp;
use super::windows::SyncWindow;

/// A sync we ask for (checklist §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRequest {
    /// The commit to sync to; `None` syncs to the app's own `targetRevision`.
    pub revision: Option<String>,
    pub prune: bool,
    /// Recorded as `initiatedBy.username`.
    pub user: String,
    /// Recorded as `operation.info[promote-id]`, so the wait knows the operation is ours.
    pub promote_id: String,
}

/// A rollback we ask for (§2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackRequest {
    /// The `status.history` id to go back to.
    pub id: i64,
    pub prune: bool,
    pub dry_run: bool,
    /// Recorded as `initiatedBy.username` and in the marker.
    pub user: String,
    /// Why; recorded in the marker.
    pub reason: String,
}

/// What must be true at the end besides "our operation completed and was reconciled".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// After a promotion or sync: Synced and Healthy.
    SyncedAndHealthy,
    /// After a rollback: Healthy (OutOfSync is expected, the branch still holds HEAD).
    Healthy,
}

/// Which operation a wait waits for.
///
/// Each goal carries the app's health when the operation was asked for: Argo CD may show the
/// health it had before an operation for a while after it (its cache has not seen the new
/// Deployment generation yet; testbed finding P2), so a Degraded seen after an operation on an
/// app that was Degraded before is only believed once it is news (see `promote-argocd`'s wait).
#[derive(Clone, Debug, PartialEq)]
pub enum WaitGoal {
    /// An operation we wrote (or argocd-server wrote for us): it is ours when
    /// [`same_operation`] says so of `operationState.operation`.
    Operation {
        operation: Value,
        revision: Option<String>,
        expect: Expect,
        health_before: HealthStatus,
    },
    /// Auto-sync of one of these commits: `initiatedBy.automated` and `syncResult.revision`.
    AutoSync {
        revisions: Vec<String>,
        health_before: HealthStatus,
    },
}

impl WaitGoal {
    /// The app's health when the operation was asked for.
    pub fn health_before(&self) -> &HealthStatus {
        match self {
            WaitGoal::Operation { health_before, .. }
            | WaitGoal::AutoSync { health_before, .. } => health_before,
        }
    }
}

impl fmt::Display for WaitGoal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expect = |e: &Expect| match e {
            Expect::SyncedAndHealthy => "Synced and Healthy",
            Expect::Healthy => "Healthy",
        };
        match self {
            WaitGoal::Operation {
                revision,
                expect: e,
                ..
            } => match revision {
                Some(r) => write!(
                    f,
                    "our operation to {} to complete and the app to be {}",
                    short_revision(r),
                    expect(e)
                ),
                None => write!(
                    f,
                    "our operation to complete and the app to be {}",
                    expect(e)
                ),
            },
            WaitGoal::AutoSync { revisions, .. } => {
                let r: Vec<&str> = revisions.iter().map(|r| short_revision(r)).collect();
                write!(
                    f,
                    "Argo CD's auto-sync to {} to complete and the app to be Synced and Healthy",
                    r.join(" or ")
                )
            }
        }
    }
}

/// How a finished wait ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The operation succeeded and the app is as expected.
    Ready,
    /// The operation completed but did not succeed.
    OperationFailed {
        phase: OperationPhase,
        message: String,
    },
    /// The operation succeeded, and the app went Degraded.
    Degraded { message: String },
    /// The operation succeeded and the revision asked for is deployed, but the app is Degraded
    /// as it was before the operation, and nothing shows the Degraded is the operation's (no
    /// change of health seen): it may be Argo CD's view from before the operation. A wait
    /// answers this only when its time is up.
    StillDegraded { message: String },
}

/// One Application, addressed as kubectl would: namespace (`None`: the context's) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppRef {
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for AppRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A started operation and the goal that waits for it.
#[derive(Clone, Debug)]
pub struct Started {
    /// The app as written.
    pub app: Application,
    pub goal: WaitGoal,
}

impl Started {
    /// The goal of a sync we just wrote: our operation done, the app Synced and Healthy.
    pub fn sync(app: Application, request: &SyncRequest) -> Started {
        let operation = app.operation.clone().unwrap_or(Value::Null);
        let goal = WaitGoal::Operation {
            operation,
            revision: request.revision.clone(),
            expect: Expect::SyncedAndHealthy,
            health_before: app.health.clone(),
        };
        Started { app, goal }
    }

    /// The goal of a rollback to history entry `id`: our operation done, the app Healthy
    /// (OutOfSync is expected after a rollback).
    pub fn rollback(app: Application, id: i64) -> Started {
        let revision = app.history_entry(id).and_then(|h| h.revision.clone());
        let operation = app.operation.clone().unwrap_or(Value::Null);
        let goal = WaitGoal::Operation {
            operation,
            revision,
            expect: Expect::Healthy,
            health_before: app.health.clone(),
        };
        Started { app, goal }
    }
}

/// A started rollback.
#[derive(Clone, Debug)]
pub struct StartedRollback {
    pub started: Started,
    /// How auto-sync was turned off (the 3.0 fallback shows here as `Removed`).
    pub disabled_by: AutoSyncDisabledBy,
}

/// A wait that reached an answer.
#[derive(Clone, Debug)]
pub struct WaitReport {
    pub outcome: WaitOutcome,
    pub app: Application,
    pub waited: Duration,
}

/// What an Argo CD transport could not do. Display says what was being done; the cause is in
/// `source()` or in the fields.
#[derive(Debug, thiserror::Error)]
pub enum ArgoCdError {
    #[error("Argo CD application {app} not found")]
    NotFound { app: String },
    /// argocd-server answers the same 403 for an app that does not exist and for one the token
    /// may not read, so a transport that cannot tell says both.
    #[error(
        "Argo CD application {app} not found or not allowed to read it (argocd-server answers {message:?} to both): check environments[].argocd.app and namespace in promote.yaml, or that the token may get it"
    )]
    NotFoundOrForbidden { app: String, message: String },
    #[error("not allowed to {action} Argo CD application {app}: {message}")]
    Forbidden {
        app: String,
        action: &'static str,
        message: String,
    },
    #[error("Argo CD refused to {action} application {app}")]
    Refused {
        app: String,
        action: &'static str,
        #[source]
        reason: OperationRefused,
    },
    #[error("gave up on {action} for {app} after {attempts} conflicting concurrent writes")]
    Conflict {
        app: String,
        action: &'static str,
        attempts: u32,
    },
    #[error("timed out after {}s waiting for {waited_for} on {app}; last seen: {last_seen}", after.as_secs())]
    WaitTimedOut {
        app: String,
        waited_for: String,
        last_seen: String,
        after: Duration,
    },
    #[error(
        "auto-sync of {app} is still on after the write that turned it off, with the rollback operation written: Argo CD will sync HEAD again; turn auto-sync off by hand"
    )]
    AutoSyncStillOn { app: String },
    #[error("Argo CD application {app} could not be read")]
    Unreadable {
        app: String,
        #[source]
        cause: ApplicationError,
    },
    #[error("the server answered {code} to {action} on {app}: {message}")]
    Api {
        app: String,
        action: &'static str,
        code: u16,
        message: String,
    },
    #[error("could not {action} Argo CD application {app}")]
    Transport {
        app: String,
        action: &'static str,
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The Argo CD operations the use cases need. Synchronous: transports keep their runtime inside.
pub trait ArgoCd {
    /// The Application as it is now.
    fn application(&self, app: &AppRef) -> Result<Application, ArgoCdError>;
    /// Several Applications as they are now, one answer per [`AppRef`] in order. Transports
    /// that can send the requests at once override this (policy facts read every env's app).
    fn applications(&self, apps: &[AppRef]) -> Vec<Result<Application, ArgoCdError>> {
        apps.iter().map(|a| self.application(a)).collect()
    }
    /// Ask the controller to refresh (`argocd.argoproj.io/refresh`), as a webhook would.
    fn refresh(&self, app: &AppRef, hard: bool) -> Result<Application, ArgoCdError>;
    /// Start a sync as Argo CD's Sync API does, refusing while another operation runs.
    fn sync(&self, app: &AppRef, request: &SyncRequest) -> Result<Started, ArgoCdError>;
    /// Turn auto-sync off keeping its settings, record the marker and start Argo CD's rollback
    /// operation, all in one write.
    fn rollback(
        &self,
        app: &AppRef,
        request: &RollbackRequest,
        now: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError>;
    /// [`ArgoCd::rollback`] from `current`, the app as the caller last read it: a transport
    /// that writes under optimistic concurrency may make its first write against `current`'s
    /// `resourceVersion` instead of reading the app again; a conflict (the app moved since)
    /// makes it read again, so the outcome is the same. Default: [`ArgoCd::rollback`].
    fn rollback_from(
        &self,
        app: &AppRef,
        current: &Application,
        request: &RollbackRequest,
        now: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError> {
        let _ = current;
        self.rollback(app, request, now)
    }
    /// Restore the sync policy a rollback recorded and remove the marker.
    fn resume(&self, app: &AppRef) -> Result<Application, ArgoCdError>;
    /// Ask the controller to terminate the running operation.
    fn terminate_operation(&self, app: &AppRef) -> Result<Application, ArgoCdError>;
    /// Set (`Some`) or remove (`None`) these annotations, leaving every other field alone: this
    /// tool's own bookkeeping on the app (the revisions a wait saw healthy), visible to every
    /// user and needing nothing installed in the cluster.
    fn annotate(
        &self,
        app: &AppRef,
        annotations: &[(String, Option<String>)],
    ) -> Result<Application, ArgoCdError>;
    /// The sync windows of the app's AppProject (`spec.project`), as [`parse_sync_windows`]
    /// reads them; decide with [`manual_sync_window`].
    fn project_sync_windows(&self, app: &Application) -> Result<Vec<SyncWindow>, ArgoCdError>;
    /// Wait, at most `timeout`, until [`evaluate`] answers for `goal`.
    fn wait(
        &self,
        app: &AppRef,
        goal: &WaitGoal,
        timeout: Duration,
    ) -> Result<WaitReport, ArgoCdError>;
}
