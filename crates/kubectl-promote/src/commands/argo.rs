//! `kubectl promote sync | history | resume ENV`: Argo CD through the use cases' ports, and how
//! a wait for Argo CD ended (shared with promote and rollback).

use std::time::Duration;

use serde::Serialize;

use promote::Session;
use promote::deploy::{self, SyncBy, SyncJob, Waited, one_line};
use promote::plan::HistoryItem;
use promote::ports::Purpose;

use super::Ctx;
use crate::Exit;
use crate::cli::{HistoryArgs, ResumeArgs, SyncArgs};
use crate::output::{BOLD, DIM, GREEN, RED, Shell, YELLOW};

/// The outcome of a wait: a line on stdout when ready, the state seen and what to do otherwise.
pub(super) fn report_wait(
    shell: &Shell,
    env_name: &str,
    app: &str,
    waited: &Waited,
    after_rollback: bool,
) -> anyhow::Result<Exit> {
    let rollback = format!("kubectl promote rollback {env_name}");
    match waited {
        Waited::Ready {
            revision,
            sync,
            health,
            waited_seconds,
        } => {
            if shell.is_text() {
                let rev = revision.as_deref().map(short).unwrap_or("?");
                shell.out(format!("{GREEN}deployed{GREEN:#} {rev} on {env_name} ({}): {sync}, {health} after {waited_seconds}s", app))?;
                if after_rollback && sync != "Synced" {
                    shell.out(format!("{DIM}{sync} is expected: the branch still holds the version rolled back from; fix git, then `kubectl promote resume {env_name}`{DIM:#}"))?;
                }
            }
            Ok(Exit::Ok)
        }
        Waited::Degraded {
            revision,
            message,
            waited_seconds,
        } => {
            let rev = revision.as_deref().map(short).unwrap_or("?");
            let msg = if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            };
            let hint = if after_rollback {
                format!("check the app; `kubectl promote history {env_name}` lists other entries")
            } else {
                format!("roll back with `{rollback}`")
            };
            shell.err_text(&format!("{RED}error:{RED:#} {env_name} is Degraded{msg} running {rev} on {} after {waited_seconds}s; {hint}\n", app));
            Ok(Exit::Unhealthy)
        }
        Waited::OperationFailed {
            phase,
            message,
            waited_seconds,
        } => {
            shell.err_text(&format!("{RED}error:{RED:#} the Argo CD operation on {} ended {phase} after {waited_seconds}s: {message}; see `kubectl promote status {env_name}`\n", app));
            Ok(Exit::Unhealthy)
        }
        Waited::TimedOut {
            waited_for,
            last_seen,
            waited_seconds,
        } => {
            let hint = if after_rollback {
                String::new()
            } else {
                format!("; if it is broken, roll back with `{rollback}`")
            };
            shell.err_text(&format!("{RED}error:{RED:#} timed out after {waited_seconds}s waiting for {waited_for} on {}; last seen: {last_seen}{hint}\n", app));
            Ok(Exit::Unhealthy)
        }
    }
}

pub(super) fn short(rev: &str) -> &str {
    if rev.len() == 40 { &rev[..7] } else { rev }
}

/// `kubectl promote sync ENV [--wait]`.
pub fn sync(ctx: &Ctx<'_>, args: &SyncArgs) -> anyhow::Result<Exit> {
    super::check_env("ENV", &args.env)?;
    let ports = ctx.ports()?;
    let session = Session::open(&ports.workspace, ctx)?;
    let env = session.config.env(&args.env)?.clone();
    let conn = deploy::connect(
        ports.argocd.as_ref(),
        &env,
        if args.wait.is_some() {
            Purpose::Wait
        } else {
            Purpose::Read
        },
    )?;
    let t = conn.target();
    let app = deploy::target::read_app(&env, &t)?;
    if let Some(m) = &app.rollback_marker {
        return Err(deploy::ArgoError::SyncWhileRolledBack {
            env: env.name.clone(),
            by: m.by.clone(),
        }
        .into());
    }
    let opts = deploy::after::wait_options(&session, args.wait.unwrap_or(Duration::ZERO));
    let job = SyncJob {
        session: &session,
        env: &env,
        target: &t,
        renderer: &ports.renderer,
        now: deploy::windows::decision_time(ports.clock.as_ref()),
        opts: &opts,
    };
    let started = job.start(session.base, ctx)?;
    let how = started.how;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct SyncDoc<'a> {
        environment: &'a str,
        app: String,
        /// The base tip synced to.
        revision: String,
        /// `auto-sync` or `operation`.
        how: SyncBy,
        wait: Option<&'a Waited>,
    }
    let (exit, waited) = match args.wait {
        None => {
            if ctx.shell.is_text() {
                match how {
                    SyncBy::AutoSync => ctx.shell.out(format!(
                        "refreshed {}: auto-sync deploys {} ({})",
                        t.app,
                        session.base.short(),
                        session.base_name()
                    ))?,
                    SyncBy::Operation => ctx.shell.out(format!(
                        "{GREEN}started{GREEN:#} a sync of {} to {} ({})",
                        t.app,
                        session.base.short(),
                        session.base_name()
                    ))?,
                }
            }
            (Exit::Ok, None)
        }
        Some(_) => {
            let waited = job.wait(session.base, started, ctx)?;
            (
                report_wait(ctx.shell, &env.name, &t.app.to_string(), &waited, false)?,
                Some(waited),
            )
        }
    };
    ctx.shell.document(
        "SyncResult",
        &SyncDoc {
            environment: &env.name,
            app: t.app.to_string(),
            revision: session.base.to_string(),
            how,
            wait: waited.as_ref(),
        },
    )?;
    Ok(exit)
}

/// `kubectl promote history ENV [--limit N]`: Argo CD's history (when ENV has an app) with the
/// version each entry ran, then the overlay's git changes (promotions, reverts, hand edits).
pub fn history(ctx: &Ctx<'_>, args: &HistoryArgs) -> anyhow::Result<Exit> {
    super::check_env("ENV", &args.env)?;
    let ports = ctx.ports()?;
    let session = Session::open(&ports.workspace, ctx)?;
    let env = session.config.env(&args.env)?.clone();
    // Argo CD's half, when it can be read; the git half stands on its own, so an unreachable
    // Argo CD is a warning here, not a failure.
    let mut argo_error = None;
    let argo = match &env.argocd {
        Some(target) => {
            let read =
                deploy::connect(ports.argocd.as_ref(), &env, Purpose::Read).and_then(|conn| {
                    let t = conn.target();
                    let app = deploy::target::read_app(&env, &t)?;
                    Ok((
                        t.app.to_string(),
                        deploy::facts::history(&session, &env, &app, args.limit),
                    ))
                });
            match read {
                Ok(got) => Some(got),
                Err(e) => {
                    let e = one_line(&e);
                    ctx.shell.warn(&format!(
                        "{}: Argo CD history not shown, only git's: {e}",
                        env.name
                    ));
                    let namespace = ctx.global.namespace.as_deref().unwrap_or(&target.namespace);
                    argo_error = Some(e);
                    Some((format!("{namespace}/{}", target.app), Vec::new()))
                }
            }
        }
        None => None,
    };
    let git =
        promote::rollback::overlay_history(&session, &env.name, args.limit.unwrap_or(usize::MAX))?;
    let shell = ctx.shell;
    if shell.is_text() {
        if let (Some((app, _)), Some(_)) = (&argo, &argo_error) {
            shell.out(format!(
                "{DIM}Argo CD history of {app} ({}) not shown: it could not be read (see the warning){DIM:#}",
                env.name
            ))?;
            shell.out("")?;
        } else if let Some((app, items)) = &argo {
            shell.out(format!(
                "{DIM}Argo CD history of {app} ({}), newest first{DIM:#}",
                env.name
            ))?;
            shell.out(format!(
                "{BOLD}{:>4}  {:8}  {:10}  {:20}  {:8}  BY{BOLD:#}",
                "ID", "REVISION", "VERSION", "DEPLOYED", "HEALTHY"
            ))?;
            for h in items {
                let healthy = match h.was_healthy {
                    Some(true) => format!("{GREEN}yes{GREEN:#}     "),
                    Some(false) => format!("{RED}no{RED:#}      "),
                    None => "unknown ".to_owned(),
                };
                shell.out(format!(
                    "{:>4}  {:8}  {:10}  {:20}  {healthy}  {}{}",
                    h.id,
                    h.revision.as_deref().map(short).unwrap_or("-"),
                    h.version.as_deref().unwrap_or("?"),
                    h.deployed_at.as_deref().unwrap_or("-"),
                    h.initiated_by.as_deref().unwrap_or("?"),
                    if h.running {
                        format!("  {YELLOW}(running){YELLOW:#}")
                    } else {
                        String::new()
                    }
                ))?;
            }
            if items.is_empty() {
                shell.out("(no deployments recorded)")?;
            }
            shell.out("")?;
        }
        shell.out(format!(
            "{DIM}git changes of {} ({}), newest first{DIM:#}",
            env.overlay, env.name
        ))?;
        shell.out(format!(
            "{BOLD}{:8}  {:10}  {:24}  SUBJECT{BOLD:#}",
            "COMMIT", "VERSION", "PROMOTED-BY"
        ))?;
        for c in &git {
            shell.out(format!(
                "{:8}  {:10}  {:24}  {}",
                short(&c.commit),
                c.version.as_deref().unwrap_or("-"),
                c.promoted_by.as_deref().unwrap_or("-"),
                c.subject
            ))?;
        }
        if git.is_empty() {
            shell.out("(no changes found)")?;
        }
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct HistoryDoc<'a> {
        environment: &'a str,
        /// Null when ENV has no Argo CD application.
        app: Option<&'a str>,
        /// Argo CD's history, newest first (empty without an app, or when it could not be
        /// read).
        entries: &'a [HistoryItem],
        /// Why Argo CD's history could not be read (the git half is shown all the same).
        #[serde(skip_serializing_if = "Option::is_none")]
        argocd_error: Option<&'a str>,
        /// The overlay's git changes, newest first.
        git: &'a [promote::rollback::OverlayChange],
    }
    shell.document(
        "History",
        &HistoryDoc {
            environment: &env.name,
            app: argo.as_ref().map(|(a, _)| a.as_str()),
            entries: argo.as_ref().map(|(_, i)| i.as_slice()).unwrap_or_default(),
            argocd_error: argo_error.as_deref(),
            git: &git,
        },
    )?;
    Ok(Exit::Ok)
}

/// `kubectl promote resume ENV [--force]`.
pub fn resume(ctx: &Ctx<'_>, args: &ResumeArgs) -> anyhow::Result<Exit> {
    super::check_env("ENV", &args.env)?;
    let ports = ctx.ports()?;
    let session = Session::open(&ports.workspace, ctx)?;
    let env = session.config.env(&args.env)?.clone();
    let conn = deploy::connect(ports.argocd.as_ref(), &env, Purpose::Read)?;
    let t = conn.target();
    let resumed = deploy::resume::resume(&session, &env, &t, args.force, ctx)?;
    if ctx.shell.is_text() {
        ctx.shell.out(format!(
            "{GREEN}resumed{GREEN:#} {} ({}): auto-sync {} (prune {}, selfHeal {}); rollback marker by {} removed",
            env.name, resumed.app, resumed.auto_sync, resumed.prune, resumed.self_heal, resumed.marker.by
        ))?;
    }
    ctx.shell.document("ResumeResult", &resumed)?;
    Ok(Exit::Ok)
}
