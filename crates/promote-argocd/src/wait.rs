//! Waiting for an operation: the verdict on each observed version of the app (`specs/argocd.md`
//! §7 checklist 3) and what a wait has seen so far, for both transports.

use std::time::{Duration, Instant};

use serde_json::Value;

use promote_core::argocd::{
    Application, ArgoCdError, Expect, HealthStatus, InitiatedBy, OperationPhase, OperationState,
    SyncStatus, WaitGoal, WaitOutcome, WaitReport, short_revision,
};

use crate::operation::non_null;

/// The verdict on one observed version of the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Done(WaitOutcome),
    /// Not yet; says what is missing.
    Waiting(String),
}

/// Our operation's state, once `.operation` is null and `operationState` is ours (any phase).
fn our_operation<'a>(
    app: &'a Application,
    goal: &'a WaitGoal,
) -> Result<(&'a OperationState, Expect, Vec<&'a str>), String> {
    if app.operation.is_some() {
        return Err("an operation is pending or running".into());
    }
    let Some(state) = &app.operation_state else {
        return Err("no operation has started yet".into());
    };
    match goal {
        WaitGoal::Operation {
            operation,
            revision,
            expect,
            ..
        } => {
            if !same_operation(operation, &state.operation) {
                return Err("the last operation is not ours".into());
            }
            Ok((
                state,
                *expect,
                revision.iter().map(String::as_str).collect(),
            ))
        }
        WaitGoal::AutoSync { revisions, .. } => {
            let automated = InitiatedBy::from_json(state.operation.get("initiatedBy"))
                == InitiatedBy::Automated;
            let ours = state
                .sync_revision
                .as_deref()
                .is_some_and(|r| revisions.iter().any(|x| x == r));
            if !(automated && ours) {
                return Err("auto-sync has not synced the commit yet".into());
            }
            Ok((
                state,
                Expect::SyncedAndHealthy,
                revisions.iter().map(String::as_str).collect(),
            ))
        }
    }
}

/// Whether the controller's copy of an operation (`operationState.operation`) is the one we
/// wrote. Compared on what identifies an operation, not byte for byte: Argo CD's controller
/// re-encodes the copy through its Go types, which drops empty and unknown fields (in `source`,
/// for one). A sync carries our promote id in `info`; a rollback is told by its revision, its
/// `apply` strategy and its user. No older operation can be mistaken for ours: writing ours wiped
/// `operationState`, and nobody else can set `.operation` until ours completes.
pub(crate) fn same_operation(ours: &Value, theirs: &Value) -> bool {
    fn flag(v: &Value, p: &str) -> bool {
        v.pointer(p).and_then(Value::as_bool).unwrap_or(false)
    }
    fn text<'a>(v: &'a Value, p: &str) -> &'a str {
        v.pointer(p).and_then(Value::as_str).unwrap_or_default()
    }
    fn strategy(v: &Value) -> &'static str {
        if non_null(v.pointer("/sync/syncStrategy/apply")).is_some() {
            "apply"
        } else {
            "hook"
        }
    }
    fn list(v: &Value, p: &str) -> Vec<String> {
        let mut l: Vec<String> = v
            .pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| format!("{}={}", text(x, "/name"), text(x, "/value")))
                    .collect()
            })
            .unwrap_or_default();
        l.sort();
        l
    }
    fn revisions(v: &Value) -> Vec<&str> {
        v.pointer("/sync/revisions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
    text(ours, "/sync/revision") == text(theirs, "/sync/revision")
        && revisions(ours) == revisions(theirs)
        && strategy(ours) == strategy(theirs)
        && flag(ours, "/sync/dryRun") == flag(theirs, "/sync/dryRun")
        && flag(ours, "/sync/prune") == flag(theirs, "/sync/prune")
        && text(ours, "/initiatedBy/username") == text(theirs, "/initiatedBy/username")
        && flag(ours, "/initiatedBy/automated") == flag(theirs, "/initiatedBy/automated")
        && list(ours, "/info") == list(theirs, "/info")
}

/// Whether the operation `goal` waits for has completed (`.operation` null, phase completed),
/// whatever the app's sync and health: waits count the versions seen after it.
pub(crate) fn operation_completed(app: &Application, goal: &WaitGoal) -> bool {
    our_operation(app, goal).is_ok_and(|(s, _, _)| s.phase.is_completed())
}

/// Evaluates `goal` on one observed version of the app (§7 checklist 3): `.operation == null`;
/// `operationState` is our operation and completed; `reconciledAt >= finishedAt` (one
/// reconcile after the operation); the deployed revision is the one asked for; then health and
/// sync. A Degraded app is an answer, not something to wait out.
pub(crate) fn evaluate(app: &Application, goal: &WaitGoal) -> Verdict {
    let (state, expect, revisions) = match our_operation(app, goal) {
        Ok(x) => x,
        Err(why) => return Verdict::Waiting(why),
    };
    if !state.phase.is_completed() {
        return Verdict::Waiting(format!("the operation is {}", state.phase));
    }
    let dry_run = state
        .operation
        .pointer("/sync/dryRun")
        .and_then(Value::as_bool)
        == Some(true);
    if !dry_run {
        match (app.reconciled_at, state.finished_at) {
            (Some(r), Some(f)) if r >= f => {}
            _ => {
                return Verdict::Waiting(
                    "Argo CD has not compared the app since the operation".into(),
                );
            }
        }
    }
    if state.phase != OperationPhase::Succeeded {
        return Verdict::Done(WaitOutcome::OperationFailed {
            phase: state.phase.clone(),
            message: state.message.clone(),
        });
    }
    if !dry_run && !revisions.is_empty() {
        let deployed = app.deployed_revision();
        if !deployed.is_some_and(|d| revisions.contains(&d)) {
            return Verdict::Waiting(format!(
                "the deployed revision is {}, not the one asked for",
                deployed.map(short_revision).unwrap_or("nothing")
            ));
        }
    }
    match app.health {
        HealthStatus::Degraded => {
            return Verdict::Done(WaitOutcome::Degraded {
                message: app.health_message.clone().unwrap_or_default(),
            });
        }
        HealthStatus::Healthy => {}
        ref other => return Verdict::Waiting(format!("health is {other}")),
    }
    if expect == Expect::SyncedAndHealthy && app.sync_status != SyncStatus::Synced {
        return Verdict::Waiting(format!("sync status is {}", app.sync_status));
    }
    Verdict::Done(WaitOutcome::Ready)
}

/// Whether a Degraded seen after our operation is the operation's doing, as far as the app can
/// tell (testbed finding P2, `specs/argocd.md` §4): Argo CD's health comes from its cluster cache,
/// and right after an operation that cache may not have seen the new Deployment generation yet,
/// so an app that was Degraded before may still show that old Degraded on the comparisons after
/// the operation (D1 in docs/testbed-findings.md). It is news when the app was not Degraded when
/// the operation was asked for, when this wait saw another health since (`argocd app wait
/// --health` fails only on such a transition), or when the health changed (its
/// `lastTransitionTime`, Argo CD 3.x) after the operation started.
fn degraded_is_news(app: &Application, goal: &WaitGoal, seen_other_health: bool) -> bool {
    let changed_since_start = match (app.health_since, &app.operation_state) {
        (Some(since), Some(state)) => state.started_at.is_some_and(|start| since > start),
        _ => false,
    };
    !matches!(
        goal.health_before(),
        HealthStatus::Degraded | HealthStatus::Unknown
    ) || seen_other_health
        || changed_since_start
}

/// A health that ends a run of Degraded for [`degraded_is_news`]: not Degraded, and a real
/// assessment (Argo CD counts no transition from Unknown).
fn other_health(health: &HealthStatus) -> bool {
    !matches!(
        health,
        HealthStatus::Degraded | HealthStatus::Unknown | HealthStatus::NotReported
    )
}

/// `reconciledAt == finishedAt`: with second precision, the comparison may be the one made just
/// *before* the operation finished, in the same second, so the sync and health seen may predate
/// the operation. The post-operation refresh follows immediately; a wait that sees this should
/// give the app a short grace for one more version before trusting the answer.
pub(crate) fn reconcile_is_ambiguous(app: &Application) -> bool {
    match (&app.operation_state, app.reconciled_at) {
        (Some(state), Some(r)) => state.finished_at == Some(r),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Consistency with promote.yaml

/// How long an answer seen on an ambiguous comparison (`reconciledAt == finishedAt`, see
/// [`reconcile_is_ambiguous`]) waits for a newer version before it is trusted.
const AMBIGUITY_GRACE: Duration = Duration::from_secs(2);

/// What a wait has seen so far (both transports).
#[derive(Default)]
pub(crate) struct Seen {
    last: Option<Application>,
    why: String,
    /// An answer on an ambiguous comparison, and until when a newer version may replace it.
    tentative: Option<(WaitOutcome, tokio::time::Instant)>,
    /// Versions seen with our operation completed. From the second one on, the comparison is at
    /// least the one written after the completion, so an equal-second `reconciledAt` is no
    /// longer ambiguous.
    completed_versions: u32,
    /// A version with another health than Degraded was seen (see [`degraded_is_news`]).
    seen_other_health: bool,
    /// The last version was a Degraded that may predate the operation: its message, answered
    /// as [`WaitOutcome::StillDegraded`] if nothing newer comes before the wait's time is up.
    still_degraded: Option<String>,
}

impl Seen {
    /// Evaluates one observed version; `Some` when the wait is over.
    pub(crate) fn observe(
        &mut self,
        app: Application,
        goal: &WaitGoal,
        started: Instant,
    ) -> Option<WaitReport> {
        let progress = match evaluate(&app, goal) {
            Verdict::Done(WaitOutcome::Degraded { message })
                if !degraded_is_news(&app, goal, self.seen_other_health) =>
            {
                self.still_degraded = Some(message);
                Verdict::Waiting(
                    "it is Degraded as it was before the operation, and Argo CD may not have seen the new state yet".into(),
                )
            }
            other => {
                self.still_degraded = None;
                other
            }
        };
        self.seen_other_health |= other_health(&app.health);
        if operation_completed(&app, goal) {
            self.completed_versions += 1;
        } else {
            self.completed_versions = 0;
        }
        let ambiguous = reconcile_is_ambiguous(&app) && self.completed_versions < 2;
        self.last = Some(app);
        match progress {
            Verdict::Done(outcome) if !ambiguous => {
                let app = self.last.take().expect("just set");
                Some(WaitReport {
                    outcome,
                    app,
                    waited: started.elapsed(),
                })
            }
            Verdict::Done(outcome) => {
                let until = self
                    .tentative
                    .take()
                    .map_or_else(|| tokio::time::Instant::now() + AMBIGUITY_GRACE, |(_, u)| u);
                self.why = "the last comparison may predate the operation (same second)".to_owned();
                self.tentative = Some((outcome, until));
                None
            }
            Verdict::Waiting(why) => {
                self.why = why;
                self.tentative = None;
                None
            }
        }
    }

    /// The deadline for the next step: the grace of a tentative answer, else the wait's.
    pub(crate) fn until(&self, deadline: tokio::time::Instant) -> tokio::time::Instant {
        self.tentative
            .as_ref()
            .map_or(deadline, |(_, u)| (*u).min(deadline))
    }

    /// The tentative answer, once its grace is over without a newer version.
    pub(crate) fn timed_out(&self, app: &str, goal: &WaitGoal, after: Duration) -> ArgoCdError {
        ArgoCdError::WaitTimedOut {
            app: app.to_owned(),
            waited_for: goal.to_string(),
            last_seen: match &self.last {
                Some(a) => format!("{}; still waiting because {}", a.summary(), self.why),
                None => "nothing".to_owned(),
            },
            after,
        }
    }

    /// The answer when the time is up: the tentative one, or a Degraded that may predate the
    /// operation ([`WaitOutcome::StillDegraded`]); `None` when there is none.
    pub(crate) fn settled(&mut self, started: Instant) -> Option<WaitReport> {
        let outcome = match self.tentative.take() {
            Some((outcome, _)) => outcome,
            None => WaitOutcome::StillDegraded {
                message: self.still_degraded.take()?,
            },
        };
        let app = self.last.clone()?;
        Some(WaitReport {
            outcome,
            app,
            waited: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use promote_core::argocd::{Application, Expect, WaitGoal, WaitOutcome};
    use serde_json::{Value, json};

    use super::*;
    use crate::fixture::{A, B, app};

    #[test]
    fn evaluate_waits_for_our_operation_and_a_reconcile_after_it() {
        let op = json!({"sync": {"revision": B}, "info": [{"name": "promote-id", "value": "u"}]});
        let goal = WaitGoal::Operation {
            operation: op.clone(),
            revision: Some(B.into()),
            expect: Expect::SyncedAndHealthy,
            health_before: HealthStatus::Healthy,
        };
        let state = |phase: &str, reconciled: &str| {
            app(json!({"status": {
                "sync": {"status": "Synced", "revision": B},
                "reconciledAt": reconciled,
                "operationState": {"operation": op, "phase": phase, "message": "m", "startedAt": "2026-08-22T10:59:00Z", "finishedAt": "2026-08-22T11:00:00Z", "syncResult": {"revision": B}}
            }}))
        };
        let check = |doc: Value| evaluate(&Application::from_json(doc).unwrap(), &goal);
        assert!(matches!(
            check(state("Succeeded", "2026-08-22T10:59:59Z")),
            Verdict::Waiting(_)
        ));
        assert_eq!(
            check(state("Succeeded", "2026-08-22T11:00:00Z")),
            Verdict::Done(WaitOutcome::Ready)
        );
        assert!(matches!(
            check(state("Failed", "2026-08-22T11:00:01Z")),
            Verdict::Done(WaitOutcome::OperationFailed { .. })
        ));
        let mut busy = state("Succeeded", "2026-08-22T11:00:00Z");
        busy["operation"] = json!({"sync": {}});
        assert!(matches!(check(busy), Verdict::Waiting(_)));
        let mut other = state("Succeeded", "2026-08-22T11:00:00Z");
        other["status"]["operationState"]["operation"] = json!({"sync": {"revision": A}});
        assert!(matches!(check(other), Verdict::Waiting(_)));
        let mut degraded = state("Succeeded", "2026-08-22T11:00:00Z");
        degraded["status"]["health"] = json!({"status": "Degraded", "message": "crash"});
        assert_eq!(
            check(degraded),
            Verdict::Done(WaitOutcome::Degraded {
                message: "crash".into()
            })
        );
        let mut stale = state("Succeeded", "2026-08-22T11:00:00Z");
        stale["status"]["history"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": 2, "revision": A, "deployedAt": "2026-08-22T11:00:00Z"}));
        assert!(matches!(check(stale), Verdict::Waiting(_)));
    }

    /// P2: on an app that was Degraded before the operation, a Degraded after it is believed
    /// only once it is news: another health was seen, or the health changed after the
    /// operation started. Otherwise the wait goes on and, when its time is up, says the app
    /// is still Degraded.
    #[test]
    fn a_degraded_from_before_the_operation_is_not_an_answer_until_it_is_news() {
        let op = json!({"sync": {"revision": B}, "info": [{"name": "promote-id", "value": "u"}]});
        let goal = |before: HealthStatus| WaitGoal::Operation {
            operation: op.clone(),
            revision: Some(B.into()),
            expect: Expect::Healthy,
            health_before: before,
        };
        let version = |health: &str, since: &str| {
            Application::from_json(app(json!({"status": {
                "sync": {"status": "Synced", "revision": B},
                "health": {"status": health, "lastTransitionTime": since},
                "reconciledAt": "2026-08-22T11:00:05Z",
                "operationState": {"operation": op, "phase": "Succeeded", "message": "m", "startedAt": "2026-08-22T11:00:00Z", "finishedAt": "2026-08-22T11:00:04Z", "syncResult": {"revision": B}}
            }})))
            .unwrap()
        };
        let stale = || version("Degraded", "2026-08-22T10:59:00Z");
        let started = Instant::now();

        // It was Healthy before: a Degraded is news at once.
        let mut seen = Seen::default();
        let report = seen.observe(stale(), &goal(HealthStatus::Healthy), started);
        assert!(matches!(
            report.map(|r| r.outcome),
            Some(WaitOutcome::Degraded { .. })
        ));

        // It was Degraded before, and the health has not changed since: not an answer, until
        // the time is up.
        let degraded_before = goal(HealthStatus::Degraded);
        let mut seen = Seen::default();
        assert!(seen.observe(stale(), &degraded_before, started).is_none());
        assert!(
            seen.why.contains("as it was before the operation"),
            "{}",
            seen.why
        );
        assert_eq!(
            seen.settled(started).map(|r| r.outcome),
            Some(WaitOutcome::StillDegraded {
                message: String::new()
            })
        );

        // The health changed after the operation started: news.
        let mut seen = Seen::default();
        let fresh = version("Degraded", "2026-08-22T11:00:03Z");
        assert!(matches!(
            seen.observe(fresh, &degraded_before, started)
                .map(|r| r.outcome),
            Some(WaitOutcome::Degraded { .. })
        ));

        // This wait saw it Progressing, then Degraded: a transition, news.
        let mut seen = Seen::default();
        assert!(
            seen.observe(
                version("Progressing", "2026-08-22T10:59:00Z"),
                &degraded_before,
                started
            )
            .is_none()
        );
        assert!(matches!(
            seen.observe(stale(), &degraded_before, started)
                .map(|r| r.outcome),
            Some(WaitOutcome::Degraded { .. })
        ));

        // Healthy after all: the stale Degraded is forgotten.
        let mut seen = Seen::default();
        assert!(seen.observe(stale(), &degraded_before, started).is_none());
        let healthy = version("Healthy", "2026-08-22T11:00:06Z");
        assert_eq!(
            seen.observe(healthy, &degraded_before, started)
                .map(|r| r.outcome),
            Some(WaitOutcome::Ready)
        );
    }

    #[test]
    fn our_operation_is_recognised_after_the_controller_re_encodes_it() {
        let ours = json!({"sync": {"revision": A, "source": {"repoURL": "r", "path": "", "kustomize": {}}, "syncStrategy": {"hook": {}}},
                          "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u1"}], "retry": {}});
        let copy = json!({"sync": {"revision": A, "source": {"repoURL": "r"}, "syncStrategy": {"hook": {}}},
                          "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u1"}], "retry": {}});
        assert!(same_operation(&ours, &copy));
        let other_id = json!({"sync": {"revision": A}, "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u2"}]});
        assert!(!same_operation(&ours, &other_id));
        let rollback = json!({"sync": {"revision": A, "syncStrategy": {"apply": {}}}, "initiatedBy": {"username": "alice"}, "retry": {}});
        assert!(!same_operation(&ours, &rollback));
        assert!(same_operation(
            &rollback,
            &json!({"sync": {"revision": A, "syncStrategy": {"apply": {"force": false}}}, "initiatedBy": {"username": "alice"}})
        ));
    }
}
