//! The one wait on Argo CD, for a sync (ours or auto-sync's) and for a rollback: watch the
//! Application in slices until its goal is reached, the app goes Degraded, the operation fails
//! or the deadline passes, saying what it waits for between slices. What a wait saw is recorded
//! on the Application: the revisions seen Healthy or Degraded, in the annotations
//! [`HEALTHY_REVISIONS`] and [`UNHEALTHY_REVISIONS`] (the last [`KEEP_REVISIONS`] each). That
//! is `wasHealthy` for later rollbacks and policies; nothing is installed in the cluster, and
//! every user sees them.

use std::time::{Duration, Instant};

use serde::Serialize;

use promote_core::argocd::{Application, ArgoCdError, WaitGoal, WaitOutcome, WaitReport};

use super::error::ArgoError;
use super::target::{Target, classify};
use crate::Interaction;

/// Revisions one of our waits saw Healthy (comma-separated SHAs, newest last).
pub const HEALTHY_REVISIONS: &str = "promote.kubectl.io/healthy-revisions";
/// Revisions one of our waits saw Degraded (comma-separated SHAs, newest last).
pub const UNHEALTHY_REVISIONS: &str = "promote.kubectl.io/unhealthy-revisions";
/// How many revisions each of those annotations keeps (Argo CD keeps 10 history entries).
pub const KEEP_REVISIONS: usize = 20;

/// How long one watch of a long wait lasts before progress is reported and the goal revisited.
pub(crate) const WAIT_SLICE: Duration = Duration::from_secs(10);

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

/// What one wait watches for, and what it does between watches.
pub(crate) trait Watch {
    /// The goal of the next watch.
    fn goal(&self) -> WaitGoal;

    /// How long the watch of `round` (0, 1, …) lasts at most.
    fn slice(&self, _round: u32) -> Duration {
        WAIT_SLICE
    }

    /// Whether a Ready app deploying `deployed` is what was waited for; an error otherwise.
    fn accept(&self, _deployed: &str) -> Result<(), ArgoError> {
        Ok(())
    }

    /// After a watch that did not end the wait: `Some` ends it with that result.
    fn between(
        &mut self,
        _t: &Target<'_>,
        _begin: Instant,
        _ui: &dyn Interaction,
    ) -> Result<Option<Waited>, ArgoError> {
        Ok(None)
    }
}

/// Watch ENV's app until `watch`'s goal is reached or `deadline` passes; `begin` is when the
/// wait started (the seconds waited count from there).
pub(crate) fn wait(
    env: &str,
    t: &Target<'_>,
    watch: &mut dyn Watch,
    (begin, deadline): (Instant, Instant),
    ui: &dyn Interaction,
) -> Result<Waited, ArgoError> {
    let mut round = 0u32;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let slice = remaining
            .min(watch.slice(round))
            .max(Duration::from_millis(1));
        round += 1;
        let goal = watch.goal();
        match t.argo.wait(&t.app, &goal, slice) {
            // A Degraded that may predate the operation (testbed finding P2) is waited out: the
            // wait ends on it only at its deadline, as Degraded (exit 5) but not recorded.
            Ok(WaitReport {
                outcome: WaitOutcome::StillDegraded { message },
                app,
                ..
            }) => {
                let waited_seconds = begin.elapsed().as_secs();
                if Instant::now() >= deadline {
                    return Ok(still_degraded(&app, message, waited_seconds));
                }
                ui.step(&format!(
                    "waiting for {goal} on {} ({waited_seconds}s): {}; Degraded as before the operation, Argo CD may not have seen the new state yet",
                    t.app,
                    app.summary()
                ));
                if let Some(done) = watch.between(t, begin, ui)? {
                    return Ok(done);
                }
            }
            Ok(report) => {
                let app = report.app;
                let deployed = app.deployed_revision().map(str::to_owned);
                let waited_seconds = begin.elapsed().as_secs();
                return Ok(match report.outcome {
                    WaitOutcome::Ready => {
                        if let Some(d) = &deployed {
                            watch.accept(d)?;
                        }
                        ready(t, &app, deployed, waited_seconds, ui)
                    }
                    WaitOutcome::Degraded { message } => {
                        degraded(t, &app, deployed, message, waited_seconds, ui)
                    }
                    WaitOutcome::StillDegraded { message } => {
                        still_degraded(&app, message, waited_seconds)
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
                ui.step(&format!(
                    "waiting for {waited_for} on {} ({}s): {last_seen}",
                    t.app,
                    begin.elapsed().as_secs()
                ));
                if let Some(done) = watch.between(t, begin, ui)? {
                    return Ok(done);
                }
            }
            Err(e) => return Err(classify(env, t, e)),
        }
    }
}

/// `revision` runs, Healthy: recorded, and the wait's result.
pub(crate) fn ready(
    t: &Target<'_>,
    app: &Application,
    revision: Option<String>,
    waited_seconds: u64,
    ui: &dyn Interaction,
) -> Waited {
    record(t, app, revision.as_deref(), true, ui);
    Waited::Ready {
        revision,
        sync: app.sync_status.to_string(),
        health: app.health.to_string(),
        waited_seconds,
    }
}

/// `revision` runs, Degraded: recorded, and the wait's result.
pub(crate) fn degraded(
    t: &Target<'_>,
    app: &Application,
    revision: Option<String>,
    message: String,
    waited_seconds: u64,
    ui: &dyn Interaction,
) -> Waited {
    record(t, app, revision.as_deref(), false, ui);
    Waited::Degraded {
        revision,
        message,
        waited_seconds,
    }
}

/// Degraded at the deadline with nothing to show the Degraded is the operation's (it was
/// Degraded before, and no change of health was seen): exit 5 all the same, saying so, and not
/// recorded in [`UNHEALTHY_REVISIONS`], which holds only what a wait saw for certain.
fn still_degraded(app: &Application, message: String, waited_seconds: u64) -> Waited {
    let note = "no change of health since before the operation";
    Waited::Degraded {
        revision: app.deployed_revision().map(str::to_owned),
        message: if message.is_empty() {
            note.to_owned()
        } else {
            format!("{message}; {note}")
        },
        waited_seconds,
    }
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
    let healthy = annotation_list(app, HEALTHY_REVISIONS);
    let unhealthy = annotation_list(app, UNHEALTHY_REVISIONS);
    match (
        healthy.iter().rposition(|r| r == revision),
        unhealthy.iter().rposition(|r| r == revision),
    ) {
        (None, None) => None,
        (Some(_), None) => Some(true),
        (None, Some(_)) => Some(false),
        // Both lists hold it: the one where it is newest relative to its list's end wins.
        (Some(h), Some(u)) => Some(healthy.len() - h <= unhealthy.len() - u),
    }
}

/// Adds `revision` to the healthy (or unhealthy) list and takes it off the other one.
fn record(
    t: &Target<'_>,
    app: &Application,
    revision: Option<&str>,
    healthy: bool,
    ui: &dyn Interaction,
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
        ui.warn(&format!(
            "could not record on {} that {} was {}: {e}",
            t.app,
            short(revision),
            if healthy { "Healthy" } else { "Degraded" }
        ));
    }
}

/// A 40-hex revision as its first seven, for messages.
pub fn short(rev: &str) -> &str {
    if rev.len() == 40 { &rev[..7] } else { rev }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    pub(crate) const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    pub(crate) const C: &str = "cccccccccccccccccccccccccccccccccccccccc";

    pub(crate) fn app(annotations: serde_json::Value, history: &[(i64, &str)]) -> Application {
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
}
