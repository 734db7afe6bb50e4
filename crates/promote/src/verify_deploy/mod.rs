//! After a promotion's deploy (DESIGN "checks after deploy"): the checks of the environment's
//! `verify:` block (and `--check`/`--soak`) once Argo CD reports Synced and Healthy, and with
//! `--rollback-on-failure` (or `verify.onFailure: rollback`) a rollback when the deploy goes
//! Degraded, misses its deadline or fails a check: the environment's rollback policies decide,
//! the default strategy rolls back (Argo CD's history where it holds the previous version, else
//! a revert), and the wait follows it. A rollback is never itself rolled back. The outcome is
//! noted on the promotion's commit (`refs/notes/promote`, `Promote-Verify: …`), so `git log
//! --notes=promote` tells the story.

pub mod soak;

pub use soak::Soak;

use std::time::Duration;

use promote_core::config::Environment;

use crate::after_deploy::{AutoRollback, NOTE_KEY, NOTES_REF, Prepared, Verification};
use crate::deploy::connect::one_line;
use crate::deploy::wait::short;
use crate::deploy::{Deployment, Waited};
use crate::gate::{Gate, PolicyContext};
use crate::images::ImageMode;
use crate::ports::Ports;
use crate::rollback::{self, HistoryOutcome};
use crate::{Interaction, PromoteError, Session};

/// A deploy to follow: what landed and how the wait on it ended.
#[derive(Debug, Clone, Copy)]
pub struct Deployed<'a> {
    pub env: &'a str,
    /// Our commit on the base branch (where the note goes).
    pub commit: &'a str,
    pub version: Option<&'a str>,
    /// What ran before (the rollback's target; `None`: the previous state).
    pub previous_version: Option<&'a str>,
    pub author: &'a promote_core::Person,
    /// How the wait ended; `None`: ENV has no Argo CD application (the checks run alone).
    pub waited: Option<&'a Waited>,
}

/// What [`follow`] did.
#[derive(Debug, Default)]
pub struct Followed {
    pub verification: Option<Verification>,
    pub auto_rollback: Option<AutoRollback>,
}

impl Followed {
    /// The deploy failed: its checks, or its wait.
    pub fn failed(&self, waited: Option<&Waited>) -> bool {
        self.verification.as_ref().is_some_and(|v| !v.passed())
            || waited.is_some_and(|w| !w.is_ready())
    }
}

/// After a landing whose wait ended (or an env without Argo CD): the soak when the deploy is
/// Ready, the rollback when it failed and the spec asks for it, and the note on the commit.
pub fn follow(
    ports: &Ports,
    session: &Session,
    prepared: &Prepared,
    d: &Deployed<'_>,
    ui: &dyn Interaction,
) -> Result<Followed, PromoteError> {
    let env = session.config.env(d.env)?.clone();
    let spec = &prepared.spec;
    let mut out = Followed::default();
    let revision = match d.waited {
        Some(Waited::Ready { revision, .. }) => revision.clone(),
        Some(_) => None,
        None => Some(d.commit.to_owned()),
    };
    let failure = match (d.waited, revision) {
        (Some(w), _) if !w.is_ready() => Some(not_ready(w)),
        (_, Some(revision)) if !spec.is_empty() => {
            let v = run_soak(ports, session, &env, prepared, d, &revision, ui)?;
            let failure = v.failure.clone();
            out.verification = Some(v);
            failure
        }
        _ => None,
    };
    let note = match (&failure, spec.rollback_on_failure) {
        (None, _) => out
            .verification
            .as_ref()
            .map(|v| format!("passed ({})", v.summary())),
        (Some(why), false) => Some(format!("failed ({why})")),
        (Some(why), true) => {
            let rb = roll_back(ports, &env, d, (why, prepared.images), ui);
            let text = format!("failed ({why}); {}", rb.message);
            out.auto_rollback = Some(rb);
            Some(text)
        }
    };
    if let Some(text) = note {
        write_note(session, d.commit, &text, ui);
    }
    Ok(out)
}

/// Why a wait that did not end Ready failed the deploy.
pub fn not_ready(w: &Waited) -> String {
    match w {
        Waited::Degraded { message, .. } if message.is_empty() => "Degraded".to_owned(),
        Waited::Degraded { message, .. } => format!("Degraded: {message}"),
        Waited::OperationFailed { phase, message, .. } => {
            format!("the sync ended {phase}: {message}")
        }
        Waited::TimedOut { waited_for, .. } => format!("timed out waiting for {waited_for}"),
        Waited::Ready { .. } => "ready".to_owned(),
    }
}

fn run_soak(
    ports: &Ports,
    session: &Session,
    env: &Environment,
    prepared: &Prepared,
    d: &Deployed<'_>,
    revision: &str,
    ui: &dyn Interaction,
) -> Result<Verification, PromoteError> {
    let context = PolicyContext {
        wave: prepared.wave.clone(),
        ..PolicyContext::default()
    };
    let probe = if prepared.spec.checks.is_empty() {
        None
    } else {
        Some(ports.checks.probe()?)
    };
    let soak = Soak {
        gate: Gate {
            ports,
            session,
            context: &context,
        },
        env,
        spec: &prepared.spec,
        requests: prepared.requests.clone(),
        probe,
        revision,
        version: d.version.unwrap_or("mixed"),
        previous_version: d.previous_version,
        wave: prepared.wave.as_ref(),
        author: d.author,
    };
    let v = soak.run(ui)?;
    match &v.failure {
        None => ui.step(&format!("verified {}: {}", env.name, v.summary())),
        Some(why) => ui.warn(&format!("{} failed its checks: {why}", env.name)),
    }
    Ok(v)
}

/// The automatic rollback: ENV's rollback policies, the default strategy, back to the version
/// before the promotion (or the previous state when that is not one version), with a wait.
fn roll_back(
    ports: &Ports,
    env: &Environment,
    d: &Deployed<'_>,
    (why, images): (&str, ImageMode),
    ui: &dyn Interaction,
) -> AutoRollback {
    let target = match d.previous_version {
        Some(v) if v != "mixed" => rollback::Target::Version(v.to_owned()),
        _ => rollback::Target::Previous,
    };
    ui.step(&format!(
        "rolling {} back ({why}): asking its rollback policies",
        env.name
    ));
    let req = rollback::Request {
        env: env.name.clone(),
        target,
        strategy: None,
        // The environment's own mode: in PR mode the revert is a pull request the wait follows.
        mode: None,
        message: Some(format!(
            "Automatic rollback: the deploy of {} failed ({why}).",
            d.version.unwrap_or("mixed")
        )),
        author: None,
        images,
        dry_run: false,
        yes: true,
        wait: Some(Duration::from_secs(600)),
        override_reason: None,
    };
    let outcome = rollback::run(ports, req, ui);
    describe(outcome, d.previous_version.map(str::to_owned))
}

/// How a rollback ended, whichever strategy ran it.
enum Ended {
    RolledBack(Option<Waited>),
    Denied(String),
    AwaitingApproval,
    /// It already runs (or git already holds) the target.
    AlreadyThere,
    /// Neither written nor refused (a dry run or an unconfirmed one: not asked for here).
    NotRun,
}

fn ended_history(h: HistoryOutcome) -> Ended {
    match h {
        HistoryOutcome::RolledBack { waited, .. } => Ended::RolledBack(waited),
        HistoryOutcome::Denied { verdict, .. } => Ended::Denied(policy_reasons(Some(&verdict))),
        HistoryOutcome::AwaitingApproval { .. } => Ended::AwaitingApproval,
        HistoryOutcome::AlreadyRuns(_) => Ended::AlreadyThere,
        HistoryOutcome::DryRun(_) | HistoryOutcome::NotConfirmed(_) => Ended::NotRun,
    }
}

fn ended_revert(o: crate::promotion::Outcome) -> Ended {
    use crate::promotion::Outcome as O;
    match o {
        O::Landed(d) => Ended::RolledBack(match d.deployment {
            Some(Ok(Deployment::Waited { waited, .. })) => Some(waited),
            _ => None,
        }),
        O::Denied(plan) => Ended::Denied(policy_reasons(plan.policy.as_ref())),
        O::AwaitingApproval(_) => Ended::AwaitingApproval,
        O::AlreadyAt(_) => Ended::AlreadyThere,
        O::DryRun(_) | O::NotConfirmed(_) => Ended::NotRun,
    }
}

/// What a rollback's outcome means for the note and the document.
fn describe(
    outcome: Result<rollback::Outcome, PromoteError>,
    previous: Option<String>,
) -> AutoRollback {
    let to = previous
        .clone()
        .unwrap_or_else(|| "the previous state".to_owned());
    let (strategy, ended) = match outcome {
        Err(e) => {
            return AutoRollback {
                result: "failed",
                strategy: None,
                to_version: previous,
                message: format!("the rollback failed: {}", one_line(&e)),
                waited: None,
            };
        }
        Ok(rollback::Outcome::History(h)) => ("argocd", ended_history(*h)),
        Ok(rollback::Outcome::Revert(o)) => ("revert", ended_revert(o)),
    };
    let (result, message, waited) = match ended {
        Ended::RolledBack(waited) => (
            "rolled-back",
            format!("rolled back to {to} by {strategy}"),
            waited,
        ),
        Ended::Denied(why) => (
            "denied",
            format!("not rolled back: the rollback policies denied ({why})"),
            None,
        ),
        Ended::AwaitingApproval => (
            "awaiting-approval",
            "not rolled back: the rollback policies require an approval".to_owned(),
            None,
        ),
        Ended::AlreadyThere if strategy == "argocd" => (
            "nothing-to-do",
            format!("not rolled back: Argo CD already runs {to}"),
            None,
        ),
        Ended::AlreadyThere => (
            "nothing-to-do",
            format!("not rolled back: git already holds {to}"),
            None,
        ),
        Ended::NotRun => ("failed", "not rolled back".to_owned(), None),
    };
    AutoRollback {
        result,
        strategy: Some(strategy),
        to_version: previous,
        message,
        waited,
    }
}

/// Who writes the note (and is the actor of a re-verification): the git identity, else the
/// tool, as [`crate::deploy::after::operation_user`] names it.
pub(crate) fn acting_person(session: &Session) -> promote_core::Person {
    session
        .repo
        .config_person()
        .unwrap_or_else(|| promote_core::Person {
            name: "kubectl-promote".into(),
            email: "kubectl-promote@localhost".into(),
        })
}

/// `Promote-Verify: …` on the promotion's commit; a failure to write it is a warning (the
/// deploy's outcome stands either way).
fn write_note(session: &Session, commit: &str, text: &str, ui: &dyn Interaction) {
    let line = format!("{NOTE_KEY}: {}", text.replace(['\n', '\r'], " "));
    let who = acting_person(session);
    let written = session
        .repo
        .resolve(commit)
        .map_err(PromoteError::from)
        .and_then(|id| {
            session
                .repo
                .add_note(&session.remote, NOTES_REF, id, &line, &who)
                .map_err(PromoteError::from)
        });
    match written {
        Ok(()) => ui.step(&format!("noted on {}: {line}", short(commit))),
        Err(e) => ui.warn(&format!(
            "the outcome was not noted on {}: {}",
            short(commit),
            one_line(&e)
        )),
    }
}

fn policy_reasons(v: Option<&crate::gate::PolicyVerdict>) -> String {
    v.map(|v| {
        v.reasons
            .iter()
            .map(|r| r.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })
    .unwrap_or_default()
}
