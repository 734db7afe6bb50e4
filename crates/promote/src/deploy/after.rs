//! The Argo CD steps of a promotion: before it plans anything, the rollback marker check; after
//! its push to (or merge into) the base branch, `--resume`, then a refresh, or with `--wait` a
//! sync and the wait.

use std::time::Duration;

use serde::Serialize;

use promote_core::config::Environment;

use super::connect::{connect, one_line};
use super::resume::{marker, resume_now};
use super::sync::SyncJob;
use super::target::{after_push, check_marker, read_app};
use super::wait::{WaitOptions, Waited};
use super::windows::decision_time;
use crate::ports::{Ports, Purpose};
use crate::{Interaction, PromoteError, Session};

/// Before a promotion plans anything: an env rolled back with Argo CD refuses promotions unless
/// `--resume`. When Argo CD cannot be read, the marker cannot be checked: a `protected`
/// environment refuses then (fail closed: naming where we looked and how to point elsewhere),
/// any other says so and goes on (the push itself is safe, and the refresh after it warns).
pub fn check_before_promote(
    ports: &Ports,
    env: &Environment,
    resume: bool,
    ui: &dyn Interaction,
) -> Result<(), PromoteError> {
    if env.argocd.is_none() {
        return Ok(());
    }
    let read =
        connect(ports.argocd.as_ref(), env, Purpose::Read).and_then(|c| read_app(env, &c.target()));
    match read {
        Ok(app) if !resume => Ok(check_marker(env, &app)?),
        Ok(_) => Ok(()),
        Err(source) if env.protected => {
            let (app, looked) = match ports.argocd.locate(env, Purpose::Read) {
                Ok(at) => (at.app.to_string(), ports.argocd.describe(&at)),
                Err(_) => (
                    env.argocd
                        .as_ref()
                        .map(|a| format!("{}/{}", a.namespace, a.app))
                        .unwrap_or_default(),
                    "no way to reach it".to_owned(),
                ),
            };
            Err(PromoteError::MarkerUnchecked {
                env: env.name.clone(),
                app,
                looked,
                source: Box::new(source),
            })
        }
        Err(e) => {
            ui.warn(&format!(
                "could not check {}'s Argo CD application for a rollback marker: {}",
                env.name,
                one_line(&e)
            ));
            Ok(())
        }
    }
}

/// What a landed promotion asks of Argo CD.
#[derive(Debug, Clone)]
pub struct Landing<'a> {
    pub env: &'a Environment,
    /// Ours, on the base branch.
    pub commit: &'a str,
    /// `--wait`: until Argo CD runs it.
    pub wait: Option<Duration>,
    /// `--resume`: turn auto-sync back on first.
    pub resume: bool,
}

/// What happened on Argo CD after a landing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "argocd")]
pub enum Deployment {
    /// ENV has no Argo CD application.
    NoApp,
    /// Argo CD was asked to refresh (or told to notice at its next poll, with a warning).
    Refreshed,
    /// `--wait`: how the wait ended.
    Waited { app: String, waited: Waited },
    /// A promotion of several apps: what Argo CD did for each (`error`: that app's step failed;
    /// the commit landed all the same).
    Apps { apps: Vec<AppDeployment> },
}

/// One app's Argo CD step after a promotion of several apps.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDeployment {
    pub app: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// After a push to (or a merge into) the base branch: `--resume` turns auto-sync back on, then a
/// refresh, or with `--wait` a sync and the wait.
pub fn after_landing(
    ports: &Ports,
    session: &Session,
    landing: &Landing<'_>,
    ui: &dyn Interaction,
) -> Result<Deployment, PromoteError> {
    let env = landing.env;
    if env.argocd.is_none() {
        if landing.wait.is_some() {
            ui.warn(&format!(
                "{} has no Argo CD application in promote.yaml: nothing to wait for",
                env.name
            ));
        }
        return Ok(Deployment::NoApp);
    }
    let purpose = if landing.wait.is_some() {
        Purpose::Wait
    } else {
        Purpose::Read
    };
    let conn = match connect(ports.argocd.as_ref(), env, purpose) {
        Ok(c) => c,
        Err(e) if landing.wait.is_none() && !landing.resume => {
            ui.warn(&format!("pushed, but Argo CD was not asked to refresh (it will notice at its next poll): {e}"));
            return Ok(Deployment::Refreshed);
        }
        Err(source) => {
            return Err(PromoteError::AfterPush {
                source: Box::new(source),
            });
        }
    };
    let t = conn.target();
    if landing.resume {
        let app = read_app(env, &t)?;
        match marker(&app) {
            Some(marker) => {
                let resumed = resume_now(env, &t, marker, false, ui)?;
                ui.step(&format!(
                    "resumed {}: auto-sync {} (prune {}, selfHeal {}), rollback marker removed",
                    resumed.app, resumed.auto_sync, resumed.prune, resumed.self_heal
                ));
            }
            None => ui.step(&format!(
                "--resume: {} has no rollback marker; nothing to resume",
                t.app
            )),
        }
    }
    let ours = session.repo.resolve(landing.commit)?;
    let Some(timeout) = landing.wait else {
        if let Err(e) = after_push(session, env, &t, ui) {
            ui.warn(&format!("pushed, but Argo CD was not asked to refresh (it will notice at its next poll): {e}"));
        }
        return Ok(Deployment::Refreshed);
    };
    let opts = wait_options(session, timeout);
    let job = SyncJob {
        session,
        env,
        target: &t,
        renderer: &ports.renderer,
        now: decision_time(ports.clock.as_ref()),
        opts: &opts,
    };
    let waited = job.sync_and_wait(ours, ui)?;
    Ok(Deployment::Waited {
        app: t.app.to_string(),
        waited,
    })
}

/// Who starts our operations: the git identity, as in a commit's trailers.
pub fn operation_user(session: &Session) -> String {
    session
        .repo
        .config_person()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "kubectl-promote".to_owned())
}

/// How a sync started by us is recorded and how long it may take.
pub fn wait_options(session: &Session, timeout: Duration) -> WaitOptions {
    WaitOptions {
        timeout,
        user: operation_user(session),
        promote_id: uuid::Uuid::new_v4().to_string(),
    }
}

/// After a promotion of several apps landed: each app as [`after_landing`] does it, except
/// that with `--wait` every app's sync is started before the first wait, so the apps deploy
/// side by side and the waits together take about as long as the slowest app. One app's
/// failure is that app's (the commit landed for all).
pub fn after_landing_apps(
    ports: &Ports,
    session: &Session,
    apps: &[(String, Environment)],
    (commit, wait, resume): (&str, Option<Duration>, bool),
    ui: &dyn Interaction,
) -> Vec<AppDeployment> {
    let done = AppDeployment::of;
    // Without --wait there is nothing to overlap; --resume turns each app's auto-sync back on
    // before its sync, as for one app.
    let (Some(timeout), false) = (wait, resume) else {
        return apps
            .iter()
            .map(|(app, env)| {
                let landing = Landing {
                    env,
                    commit,
                    wait,
                    resume,
                };
                done(
                    app,
                    after_landing(ports, session, &landing, ui).map_err(|e| e.to_string()),
                )
            })
            .collect();
    };
    let ours = match session.repo.resolve(commit) {
        Ok(c) => c,
        Err(e) => {
            return apps
                .iter()
                .map(|(a, _)| done(a, Err(e.to_string())))
                .collect();
        }
    };
    let opts = wait_options(session, timeout);
    let now = decision_time(ports.clock.as_ref());
    let conns: Vec<Option<Result<super::Conn, String>>> = apps
        .iter()
        .map(|(_, env)| {
            env.argocd.as_ref().map(|_| {
                connect(ports.argocd.as_ref(), env, Purpose::Wait).map_err(|e| e.to_string())
            })
        })
        .collect();
    let targets: Vec<Option<Result<super::Target<'_>, String>>> = conns
        .iter()
        .map(|c| {
            c.as_ref()
                .map(|r| r.as_ref().map(|c| c.target()).map_err(Clone::clone))
        })
        .collect();
    let started: Vec<_> = apps
        .iter()
        .zip(&targets)
        .map(|((_, env), t)| match t {
            None => Ok(None),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(target)) => {
                let job = SyncJob {
                    session,
                    env,
                    target,
                    renderer: &ports.renderer,
                    now,
                    opts: &opts,
                };
                job.start(ours, ui)
                    .map(|s| Some((job, s)))
                    .map_err(|e| e.to_string())
            }
        })
        .collect();
    apps.iter()
        .zip(started)
        .map(|((app, env), s)| {
            let r = match s {
                Ok(None) => {
                    ui.warn(&format!(
                        "{app} has no Argo CD application in {}: nothing to wait for",
                        env.name
                    ));
                    Ok(Deployment::NoApp)
                }
                Err(e) => Err(e),
                Ok(Some((job, started))) => job
                    .wait(ours, started, ui)
                    .map(|waited| Deployment::Waited {
                        app: job.target.app.to_string(),
                        waited,
                    })
                    .map_err(|e| e.to_string()),
            };
            done(app, r)
        })
        .collect()
}

impl AppDeployment {
    /// App `app`'s step: what Argo CD did, or why that failed.
    fn of(app: &str, r: Result<Deployment, String>) -> AppDeployment {
        let (deployment, error) = match r {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(e)),
        };
        AppDeployment {
            app: app.to_owned(),
            deployment,
            error,
        }
    }
}
