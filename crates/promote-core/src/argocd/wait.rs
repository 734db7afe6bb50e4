//! The predicates a wait evaluates on every observed version of the app.

use serde_json::Value;

use super::facts::{
    Application, HealthStatus, InitiatedBy, OperationPhase, OperationState, SyncStatus, short,
};
use super::json::non_null;
use super::port::{Expect, WaitGoal, WaitOutcome};

/// The verdict on one observed version of the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
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
        WaitGoal::AutoSync { revisions } => {
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
pub fn same_operation(ours: &Value, theirs: &Value) -> bool {
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
pub fn operation_completed(app: &Application, goal: &WaitGoal) -> bool {
    our_operation(app, goal).is_ok_and(|(s, _, _)| s.phase.is_completed())
}

/// Evaluates `goal` on one observed version of the app (§7 checklist 3): `.operation == null`;
/// `operationState` is our operation and completed; `reconciledAt >= finishedAt` (one
/// reconcile after the operation); the deployed revision is the one asked for; then health and
/// sync. A Degraded app is an answer, not something to wait out.
pub fn evaluate(app: &Application, goal: &WaitGoal) -> Progress {
    let (state, expect, revisions) = match our_operation(app, goal) {
        Ok(x) => x,
        Err(why) => return Progress::Waiting(why),
    };
    if !state.phase.is_completed() {
        return Progress::Waiting(format!("the operation is {}", state.phase));
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
                return Progress::Waiting(
                    "Argo CD has not compared the app since the operation".into(),
                );
            }
        }
    }
    if state.phase != OperationPhase::Succeeded {
        return Progress::Done(WaitOutcome::OperationFailed {
            phase: state.phase.clone(),
            message: state.message.clone(),
        });
    }
    if !dry_run && !revisions.is_empty() {
        let deployed = app.deployed_revision();
        if !deployed.is_some_and(|d| revisions.contains(&d)) {
            return Progress::Waiting(format!(
                "the deployed revision is {}, not the one asked for",
                deployed.map(short).unwrap_or("nothing")
            ));
        }
    }
    match app.health {
        HealthStatus::Degraded => {
            return Progress::Done(WaitOutcome::Degraded {
                message: app.health_message.clone().unwrap_or_default(),
            });
        }
        HealthStatus::Healthy => {}
        ref other => return Progress::Waiting(format!("health is {other}")),
    }
    if expect == Expect::SyncedAndHealthy && app.sync_status != SyncStatus::Synced {
        return Progress::Waiting(format!("sync status is {}", app.sync_status));
    }
    Progress::Done(WaitOutcome::Ready)
}

/// `reconciledAt == finishedAt`: with second precision, the comparison may be the one made just
/// *before* the operation finished, in the same second, so the sync and health seen may predate
/// the operation. The post-operation refresh follows immediately; a wait that sees this should
/// give the app a short grace for one more version before trusting the answer.
pub fn reconcile_is_ambiguous(app: &Application) -> bool {
    match (&app.operation_state, app.reconciled_at) {
        (Some(state), Some(r)) => state.finished_at == Some(r),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Consistency with promote.yaml
