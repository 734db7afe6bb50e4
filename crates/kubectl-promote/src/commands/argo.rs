//! Argo CD from the command line: connecting a transport for an environment (flags, then
//! `promote.yaml`, then defaults), the `sync`, `history` and `resume` subcommands, the
//! `rollback --strategy argocd` branch, and the steps `promote` runs around a push (the rollback
//! marker check before, refresh or `--wait` after). The decisions are `promote::argo`'s.
//!
//! Reads for policy facts and a rollback's strategy pick are made at once, one transport per
//! way of reaching Argo CD ([`read_all`]), and a rollback starts them during the session's fetch
//! ([`EarlyReads`]), keeping only those the fetched `promote.yaml` agrees with.
//!
//! Which transport: argocd-server's REST API when `--argocd-server` (or `ARGOCD_SERVER`, or the
//! env's `argocd.server`) names one, with the token from `ARGOCD_AUTH_TOKEN`; otherwise the
//! Kubernetes API as kubectl would reach it (`--kubeconfig`, `--context` over the env's
//! `argocd.context`, `-n` over its `argocd.namespace`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use promote::Session;
use promote::argo::{
    self as uc, ArgoError, HistoryTarget, RollbackPlan, Target, WaitOptions, Waited,
};
use promote::render::Renderer;
use promote_argocd::{ConnectOptions, KubeArgoCd, RestArgoCd, RestOptions};
use promote_core::argocd::{AppRef, Application, ArgoCd};
use promote_core::config::Environment;

use super::{Ctx, usage};
use crate::Exit;
use crate::cli::{Global, HistoryArgs, ResumeArgs, RollbackArgs, SyncArgs};
use crate::env::Env;
use crate::output::{BOLD, CYAN, DIM, GREEN, RED, Shell, YELLOW};

/// Reads that do not wait get this request timeout unless `--request-timeout` says otherwise, so
/// `status` on an unreachable cluster does not hang; waits keep their own deadline.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// An environment's Application and the transport that reaches it. Environments reached the
/// same way share one transport (one client, one connection pool).
pub(crate) struct Conn {
    argo: Arc<dyn ArgoCd + Send + Sync>,
    app: AppRef,
    via: String,
}

impl Conn {
    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            argo: self.argo.as_ref(),
            app: self.app.clone(),
            via: self.via.clone(),
        }
    }
}

/// Whether the connection will watch (no per-request read timeout then).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Read,
    Wait,
}

/// What [`connect`] reads besides the environment: the global flags and the process
/// environment. Unlike [`Ctx`] (whose shell is not `Sync`), these can go to other threads.
#[derive(Clone, Copy)]
struct Reach<'a> {
    global: &'a Global,
    env: &'a Env,
}

impl<'a> From<&Ctx<'a>> for Reach<'a> {
    fn from(ctx: &Ctx<'a>) -> Self {
        Reach {
            global: ctx.global,
            env: ctx.env,
        }
    }
}

/// `--request-timeout` as kubectl reads it: `0` is none, a bare number is seconds.
fn request_timeout(reach: Reach<'_>) -> anyhow::Result<Option<Duration>> {
    match reach.global.request_timeout.as_deref().map(str::trim) {
        None | Some("0") => Ok(None),
        Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(Duration::from_secs(t.parse().map_err(|_| {
                usage(format!("--request-timeout {t}: not a number of seconds"))
            })?)))
        }
        Some(t) => crate::cli::parse_duration(t)
            .map(Some)
            .map_err(|e| usage(format!("--request-timeout: {e}"))),
    }
}

/// How a transport is opened; two environments with equal ways share one.
#[derive(Clone, PartialEq, Eq)]
enum Way {
    /// argocd-server's REST API; `from` names the flag, variable or key that chose the server.
    Rest {
        options: RestOptions,
        from: &'static str,
    },
    Kube(ConnectOptions),
}

/// ENV's Application and how to reach it, before anything is opened.
#[derive(PartialEq, Eq)]
struct Planned {
    way: Way,
    app: AppRef,
    via: String,
}

/// Flags, then `promote.yaml`, then defaults: which transport reaches ENV's Application.
fn plan(reach: Reach<'_>, env: &Environment, purpose: Purpose) -> anyhow::Result<Planned> {
    let target = env.argocd.as_ref().ok_or_else(|| ArgoError::NoApp {
        env: env.name.clone(),
    })?;
    let namespace = reach
        .global
        .namespace
        .clone()
        .unwrap_or_else(|| target.namespace.clone());
    let app = AppRef {
        namespace: Some(namespace),
        name: target.app.clone(),
    };
    let timeout = match (request_timeout(reach)?, purpose) {
        (Some(t), _) => Some(t),
        (None, Purpose::Read) => Some(READ_TIMEOUT),
        (None, Purpose::Wait) => None,
    };
    let server = reach
        .global
        .argocd_server
        .clone()
        .map(|s| (s, "--argocd-server"))
        .or_else(|| {
            reach
                .env
                .var("ARGOCD_SERVER")
                .map(|s| (s.to_owned(), "ARGOCD_SERVER"))
        })
        .or_else(|| {
            target
                .server
                .clone()
                .map(|s| (s, "argocd.server in promote.yaml"))
        });
    if let Some((server, from)) = server {
        let token = reach.env.var("ARGOCD_AUTH_TOKEN").ok_or_else(|| {
            anyhow::anyhow!("argocd-server {server} (from {from}) needs a token: set ARGOCD_AUTH_TOKEN (e.g. `argocd account generate-token`), or drop the server to use the Kubernetes API")
        })?;
        let insecure = reach
            .env
            .var("ARGOCD_INSECURE")
            .is_some_and(|v| v == "true" || v == "1");
        let via = format!("argocd-server {server}");
        let options = RestOptions {
            server,
            token: token.to_owned(),
            insecure,
            app_namespace: None,
            request_timeout: timeout,
        };
        return Ok(Planned {
            way: Way::Rest { options, from },
            app,
            via,
        });
    }
    let context = reach
        .global
        .context
        .clone()
        .or_else(|| target.context.clone());
    let via = match &context {
        Some(c) => format!("context {c}"),
        None => "current context".to_owned(),
    };
    let options = ConnectOptions {
        kubeconfig: reach.global.kubeconfig.clone(),
        context,
        cluster: reach.global.cluster.clone(),
        user: reach.global.user.clone(),
        namespace: None,
        request_timeout: timeout,
    };
    Ok(Planned {
        way: Way::Kube(options),
        app,
        via,
    })
}

/// Opens the transport of a [`Way`].
fn open(way: &Way) -> Result<Arc<dyn ArgoCd + Send + Sync>, promote_argocd::ConnectError> {
    Ok(match way {
        Way::Rest { options, .. } => Arc::new(RestArgoCd::connect(options)?),
        Way::Kube(options) => Arc::new(KubeArgoCd::connect(options)?),
    })
}

/// Why [`open`] failed, said for one environment's Application.
fn open_error(planned: &Planned, e: &promote_argocd::ConnectError) -> anyhow::Error {
    let (app, via) = (&planned.app, &planned.via);
    match &planned.way {
        Way::Rest { options, from } => anyhow::anyhow!(
            "cannot use argocd-server {} (from {from}): {}",
            options.server,
            one_line(e)
        ),
        Way::Kube(_) => anyhow::anyhow!(
            "cannot reach Argo CD for {app} ({via}): {}; check --kubeconfig/KUBECONFIG and --context (or set --argocd-server)",
            one_line(e)
        ),
    }
}

/// Connects the transport for ENV's Application.
pub(crate) fn connect(ctx: &Ctx<'_>, env: &Environment, purpose: Purpose) -> anyhow::Result<Conn> {
    let planned = plan(ctx.into(), env, purpose)?;
    let argo = open(&planned.way).map_err(|e| open_error(&planned, &e))?;
    Ok(Conn {
        argo,
        app: planned.app,
        via: planned.via,
    })
}

/// An error and its causes on one line.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

/// Who starts our operations: the git identity, as in a commit's trailers.
fn user(session: &Session) -> String {
    session
        .repo
        .config_person()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "kubectl-promote".to_owned())
}

fn wait_options(session: &Session, timeout: Duration) -> WaitOptions {
    WaitOptions {
        timeout,
        user: user(session),
        promote_id: promote_argocd::new_promote_id(),
    }
}

/// Before a promotion plans anything: an env rolled back with Argo CD refuses promotions unless
/// `--resume`. When Argo CD cannot be read, the marker cannot be checked: a `protected`
/// environment refuses then (fail closed: naming where we looked and how to point elsewhere),
/// any other says so and goes on (the push itself is safe, and the refresh after it warns).
pub(crate) fn check_before_promote(
    ctx: &Ctx<'_>,
    session: &Session,
    env_name: &str,
    resume: bool,
) -> anyhow::Result<()> {
    let env = session.config.env(env_name)?;
    if env.argocd.is_none() {
        return Ok(());
    }
    let read = connect(ctx, env, Purpose::Read).and_then(|c| Ok(uc::read_app(env, &c.target())?));
    match read {
        Ok(app) if !resume => Ok(uc::check_marker(env, &app)?),
        Ok(_) => Ok(()),
        Err(e) if env.protected => Err(e.context(unchecked_marker(ctx, env))),
        Err(e) => {
            ctx.shell.warn(&format!(
                "could not check {env_name}'s Argo CD application for a rollback marker: {}",
                one_line(e.as_ref())
            ));
            Ok(())
        }
    }
}

/// Why a protected env's promotion stops when its rollback marker cannot be read: where we
/// looked (the kubeconfig context and its cluster, or the argocd-server) and the flags that
/// point elsewhere.
fn unchecked_marker(ctx: &Ctx<'_>, env: &Environment) -> String {
    let reach = Reach::from(ctx);
    let (app, looked) = match plan(reach, env, Purpose::Read) {
        Ok(Planned {
            way: Way::Kube(options),
            app,
            via,
        }) => (
            app.to_string(),
            promote_argocd::describe_cluster(&options).unwrap_or(via),
        ),
        Ok(Planned {
            way: Way::Rest { options, from },
            app,
            ..
        }) => (
            app.to_string(),
            format!("argocd-server {} (from {from})", options.server),
        ),
        Err(_) => (
            env.argocd
                .as_ref()
                .map(|a| format!("{}/{}", a.namespace, a.app))
                .unwrap_or_default(),
            "no way to reach it".to_owned(),
        ),
    };
    format!(
        "refusing to promote {env}: it is protected, and its Argo CD application {app} could not be read ({looked}) to check for a rollback marker; nothing was changed. Point at the cluster that runs Argo CD for {env} with --context NAME (or --kubeconfig FILE, or --argocd-server URL with ARGOCD_AUTH_TOKEN), or set argocd.context of {env} in promote.yaml",
        env = env.name
    )
}

/// After a push to (or a merge into) the base branch: `--resume` turns auto-sync back on, then a
/// refresh, or with `--wait` a sync and the wait. `commit` is ours on the base branch.
pub(crate) fn after_landing(
    ctx: &Ctx<'_>,
    session: &Session,
    renderer: &Renderer,
    env_name: &str,
    commit: &str,
    wait: Option<Duration>,
    resume: bool,
) -> anyhow::Result<Exit> {
    let shell = ctx.shell;
    let env = session.config.env(env_name)?;
    if env.argocd.is_none() {
        if wait.is_some() {
            shell.warn(&format!(
                "{env_name} has no Argo CD application in promote.yaml: nothing to wait for"
            ));
        }
        return Ok(Exit::Ok);
    }
    let conn = match connect(
        ctx,
        env,
        if wait.is_some() {
            Purpose::Wait
        } else {
            Purpose::Read
        },
    ) {
        Ok(c) => c,
        Err(e) if wait.is_none() && !resume => {
            shell.warn(&format!("pushed, but Argo CD was not asked to refresh (it will notice at its next poll): {e}"));
            return Ok(Exit::Ok);
        }
        Err(e) => return Err(e.context("pushed, but could not reach Argo CD")),
    };
    let t = conn.target();
    if resume {
        let app = uc::read_app(env, &t)?;
        match uc::marker(&app) {
            Some(marker) => {
                let resumed = uc::resume_now(env, &t, marker, false, shell)?;
                shell.status(&format!(
                    "resumed {}: auto-sync {} (prune {}, selfHeal {}), rollback marker removed",
                    resumed.app, resumed.auto_sync, resumed.prune, resumed.self_heal
                ));
            }
            None => shell.status(&format!(
                "--resume: {} has no rollback marker; nothing to resume",
                t.app
            )),
        }
    }
    let ours = session.repo.resolve(commit)?;
    let Some(timeout) = wait else {
        if let Err(e) = uc::after_push(session, env, &t, shell) {
            shell.warn(&format!("pushed, but Argo CD was not asked to refresh (it will notice at its next poll): {e}"));
        }
        return Ok(Exit::Ok);
    };
    let waited = uc::sync_and_wait(
        session,
        env,
        &t,
        ours,
        renderer,
        &wait_options(session, timeout),
        shell,
    )?;
    report_wait(shell, env_name, &t, &waited, false)
}

/// The outcome of a wait: a line on stdout when ready, the state seen and what to do otherwise.
fn report_wait(
    shell: &Shell,
    env_name: &str,
    t: &Target<'_>,
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
                shell.out(format!("{GREEN}deployed{GREEN:#} {rev} on {env_name} ({}): {sync}, {health} after {waited_seconds}s", t.app))?;
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
            shell.err_text(&format!("{RED}error:{RED:#} {env_name} is Degraded{msg} running {rev} on {} after {waited_seconds}s; {hint}\n", t.app));
            Ok(Exit::Unhealthy)
        }
        Waited::OperationFailed {
            phase,
            message,
            waited_seconds,
        } => {
            shell.err_text(&format!("{RED}error:{RED:#} the Argo CD operation on {} ended {phase} after {waited_seconds}s: {message}; see `kubectl promote status {env_name}`\n", t.app));
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
            shell.err_text(&format!("{RED}error:{RED:#} timed out after {waited_seconds}s waiting for {waited_for} on {}; last seen: {last_seen}{hint}\n", t.app));
            Ok(Exit::Unhealthy)
        }
    }
}

fn short(rev: &str) -> &str {
    if rev.len() == 40 { &rev[..7] } else { rev }
}

/// `kubectl promote sync ENV [--wait]`.
pub fn sync(ctx: &Ctx<'_>, args: &SyncArgs) -> anyhow::Result<Exit> {
    super::check_env("ENV", &args.env)?;
    let session = ctx.open()?;
    let env = session.config.env(&args.env)?.clone();
    let conn = connect(
        ctx,
        &env,
        if args.wait.is_some() {
            Purpose::Wait
        } else {
            Purpose::Read
        },
    )?;
    let t = conn.target();
    let app = uc::read_app(&env, &t)?;
    if let Some(m) = &app.rollback_marker {
        return Err(ArgoError::SyncWhileRolledBack {
            env: env.name.clone(),
            by: m.by.clone(),
        }
        .into());
    }
    let renderer = ctx.renderer();
    let opts = wait_options(&session, args.wait.unwrap_or(Duration::ZERO));
    let started = uc::start_sync(&session, &env, &t, session.base, &opts, ctx.shell)?;
    let how = started.how;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct SyncDoc<'a> {
        environment: &'a str,
        app: String,
        /// The base tip synced to.
        revision: String,
        /// `auto-sync` or `operation`.
        how: &'static str,
        wait: Option<&'a Waited>,
    }
    let (exit, waited) = match args.wait {
        None => {
            if ctx.shell.is_text() {
                match how {
                    "auto-sync" => ctx.shell.out(format!(
                        "refreshed {}: auto-sync deploys {} ({})",
                        t.app,
                        session.base.short(),
                        session.base_name()
                    ))?,
                    _ => ctx.shell.out(format!(
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
            let waited = uc::wait_for_sync(
                &session,
                &env,
                &t,
                session.base,
                started,
                &renderer,
                &opts,
                ctx.shell,
            )?;
            (
                report_wait(ctx.shell, &env.name, &t, &waited, false)?,
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
    let session = ctx.open()?;
    let env = session.config.env(&args.env)?.clone();
    // Argo CD's half, when it can be read; the git half stands on its own, so an unreachable
    // Argo CD is a warning here, not a failure.
    let mut argo_error = None;
    let argo = match &env.argocd {
        Some(target) => {
            let read = connect(ctx, &env, Purpose::Read).and_then(|conn| {
                let t = conn.target();
                let app = uc::read_app(&env, &t)?;
                Ok((
                    t.app.to_string(),
                    uc::history(&session, &env, &app, args.limit),
                ))
            });
            match read {
                Ok(got) => Some(got),
                Err(e) => {
                    let e = one_line(e.as_ref());
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
        entries: &'a [uc::HistoryItem],
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
    let session = ctx.open()?;
    let env = session.config.env(&args.env)?.clone();
    let conn = connect(ctx, &env, Purpose::Read)?;
    let t = conn.target();
    let resumed = uc::resume(&session, &env, &t, args.force, ctx.shell)?;
    if ctx.shell.is_text() {
        ctx.shell.out(format!(
            "{GREEN}resumed{GREEN:#} {} ({}): auto-sync {} (prune {}, selfHeal {}); rollback marker by {} removed",
            env.name, resumed.app, resumed.auto_sync, resumed.prune, resumed.self_heal, resumed.marker.by
        ))?;
    }
    ctx.shell.document("ResumeResult", &resumed)?;
    Ok(Exit::Ok)
}

/// What `rollback` decided about the strategy.
pub(crate) enum Picked {
    /// Argo CD's history holds the target: the plan, and the app it was made from.
    Argocd {
        conn: Box<Conn>,
        plan: Box<RollbackPlan>,
        app: Box<Application>,
    },
    /// Revert in git (asked for, or the history does not hold the target).
    Revert,
}

/// `--strategy` given or not: pick. With no strategy, `argocd` where the history holds the
/// target, else `revert` (and say why). `reads`: the apps the policy facts read a moment ago,
/// reused rather than read again (and their transport, unless `--wait` needs one without a
/// request timeout).
pub(crate) fn pick_strategy(
    ctx: &Ctx<'_>,
    session: &Session,
    args: &RollbackArgs,
    argocd_asked: bool,
    mut reads: ArgoReads,
) -> anyhow::Result<Picked> {
    let env = session.config.env(&args.env)?;
    let target = match (&args.to, &args.to_revision, args.to_id) {
        (Some(v), None, None) => HistoryTarget::Version(v.clone()),
        (None, Some(r), None) => HistoryTarget::Revision(r.clone()),
        (None, None, Some(id)) => HistoryTarget::Id(id),
        (None, None, None) => HistoryTarget::Previous,
        _ => return Err(usage("give at most one of --to, --to-id and --to-revision")),
    };
    let purpose = if args.wait.is_some() {
        Purpose::Wait
    } else {
        Purpose::Read
    };
    if !argocd_asked && env.argocd.is_none() {
        return Ok(Picked::Revert);
    }
    // ENV's app as read a moment ago (with its transport, unless --wait needs one without a
    // request timeout), else read now.
    let got = match reads.apps.remove(&env.name) {
        Some(Ok((conn, app))) if purpose == Purpose::Read => Ok((conn, app)),
        Some(Ok((_, app))) => connect(ctx, env, purpose)
            .map(|c| (c, app))
            .map_err(ReadFailure::Connect),
        Some(Err(failure)) => Err(failure),
        None => match connect(ctx, env, purpose) {
            Ok(c) => match uc::read_app(env, &c.target()) {
                Ok(app) => Ok((c, app)),
                Err(e) => Err(ReadFailure::Read(e)),
            },
            Err(e) => Err(ReadFailure::Connect(e)),
        },
    };
    let (conn, app) = match got {
        Ok(got) => got,
        Err(failure) if argocd_asked => return Err(failure.into_anyhow()),
        // The default: fall back to a revert when Argo CD cannot be used.
        Err(ReadFailure::Connect(e)) => {
            ctx.shell
                .status(&format!("reverting in git: Argo CD is not reachable ({e})"));
            return Ok(Picked::Revert);
        }
        Err(ReadFailure::Read(e)) => {
            ctx.shell.status(&format!("reverting in git: {e}"));
            return Ok(Picked::Revert);
        }
    };
    match uc::plan_rollback(session, env, &app, &target)? {
        Some(plan) => Ok(Picked::Argocd {
            conn: Box::new(conn),
            plan: Box::new(plan),
            app: Box::new(app),
        }),
        None if argocd_asked => Err(uc::no_target(env, &app, &target).into()),
        None => {
            ctx.shell.status(&format!(
                "reverting in git: the Argo CD history of {} does not hold the target",
                conn.app
            ));
            Ok(Picked::Revert)
        }
    }
}

/// `rollback --strategy argocd` once the entry is picked.
pub(crate) fn rollback(
    ctx: &Ctx<'_>,
    session: &Session,
    args: &RollbackArgs,
    conn: &Conn,
    plan: RollbackPlan,
    app: &Application,
) -> anyhow::Result<Exit> {
    let shell = ctx.shell;
    let env = session.config.env(&args.env)?.clone();
    let t = conn.target();
    let (to_rev, to_version) = target_labels(&plan);
    let summary = format!(
        "{BOLD}{}{BOLD:#}: {} ({}) → {BOLD}{to_version}{BOLD:#} ({to_rev}, Argo CD history id {}) on {}; auto-sync {} → off{}, rollback marker set",
        env.name,
        plan.from_version.as_deref().unwrap_or("?"),
        plan.from_revision.as_deref().map(short).unwrap_or("?"),
        plan.to.id,
        plan.app,
        plan.auto_sync,
        if plan.auto_sync == "on" {
            " (prune/selfHeal kept)"
        } else {
            ""
        }
    );
    if plan.from_revision == plan.to.revision {
        if shell.is_text() {
            shell.out(format!(
                "{} already runs {to_version} ({to_rev}): nothing to do",
                env.name
            ))?;
        }
        return Ok(Exit::Ok);
    }
    // The project's sync windows, for the warning before the write, are read meanwhile (a dry
    // run writes nothing, so it needs none).
    std::thread::scope(|scope| {
        let argo = &conn.argo;
        let windows = (!args.dry_run).then(|| scope.spawn(move || argo.project_sync_windows(app)));
        decide_and_roll_back(ctx, session, args, &env, &t, plan, app, summary, windows)
    })
}

/// The rest of [`rollback`]: the policies, the confirmation, the write and the wait.
#[expect(
    clippy::too_many_arguments,
    reason = "the state of one rollback, passed down one level"
)]
fn decide_and_roll_back(
    ctx: &Ctx<'_>,
    session: &Session,
    args: &RollbackArgs,
    env: &Environment,
    t: &Target<'_>,
    plan: RollbackPlan,
    app: &Application,
    summary: String,
    windows: Option<
        std::thread::ScopedJoinHandle<
            '_,
            Result<Vec<promote_core::argocd::SyncWindow>, promote_core::argocd::ArgoCdError>,
        >,
    >,
) -> anyhow::Result<Exit> {
    let shell = ctx.shell;
    let (to_rev, to_version) = target_labels(&plan);
    // The rollback policies decide first (with wasHealthy from our waits).
    let author = match &args.land.author {
        Some(a) => a
            .parse::<promote_core::Person>()
            .map_err(|e| usage(format!("--author: {e}")))?,
        None => session
            .repo
            .config_person()
            .ok_or(promote::PromoteError::NoIdentity)?,
    };
    let verdict = promote::policy::argocd_rollback_verdict(session, env, &plan, &author, shell)?;
    if let Some(v) = &verdict {
        if shell.is_text() {
            shell.out(summary.clone())?;
            shell.out(super::promote::policy_text(v).trim_end())?;
        }
        if v.denied() {
            if shell.is_text() {
                shell.out(format!("{RED}denied by policy{RED:#}: nothing was changed"))?;
            }
            shell.document("RollbackResult", &serde_json::json!({"result": "denied", "strategy": "argocd", "plan": &plan, "policy": v}))?;
            return Ok(Exit::Denied);
        }
        if v.awaiting_approval() {
            if shell.is_text() {
                shell.out(format!(
                    "{CYAN}waiting for approval{CYAN:#}: nothing was changed"
                ))?;
            }
            shell.document("RollbackResult", &serde_json::json!({"result": "awaiting-approval", "strategy": "argocd", "plan": &plan, "policy": v}))?;
            return Ok(Exit::WaitingForApproval);
        }
    }
    for m in &plan.managed_by {
        shell.warn(&format!("{} is written by {m}, which may turn auto-sync back on after the rollback; add `ignoreDifferences: [{{group: argoproj.io, kind: Application, jsonPointers: [/spec/syncPolicy]}}]` to it (argo-cd #5351, #9570)", plan.app));
    }
    if args.dry_run {
        if shell.is_text() {
            shell.out(summary)?;
            shell.out(format!("{DIM}dry run: nothing was changed{DIM:#}"))?;
        }
        shell.document(
            "RollbackResult",
            &serde_json::json!({"result": "dry-run", "strategy": "argocd", "plan": &plan}),
        )?;
        return Ok(Exit::Ok);
    }
    if env.protected && ctx.env.interactive && !args.land.yes {
        shell.err_text(&format!("{summary}\n"));
        if !super::promote::confirm(
            shell,
            &format!("Roll back {} to {to_version} with Argo CD?", env.name),
        )? {
            shell.warn("not confirmed; nothing was changed");
            return Ok(Exit::Error);
        }
    }
    let reason = args.land.message.clone().unwrap_or_default();
    let who = match args.land.author.as_deref() {
        Some(a) => a.to_owned(),
        None => user(session),
    };
    ctx.env.pause_at("before-rollback-write");
    let windows = match windows {
        Some(read) => read.join().expect("the sync window read panicked"),
        None => t.argo.project_sync_windows(app),
    };
    let rolled = uc::rollback(
        env,
        t,
        plan,
        app,
        windows,
        &who,
        &reason,
        promote_argocd::now(),
        shell,
    )?;
    ctx.env.pause_at("after-rollback-write");
    if shell.is_text() {
        shell.out(format!(
            "{GREEN}rolled back{GREEN:#} {} to {to_version} ({to_rev}) with Argo CD; auto-sync {}",
            env.name,
            match rolled.auto_sync_disabled_by {
                "enabled-false" => "disabled (automated.enabled=false, prune/selfHeal kept)",
                "removed" => "removed (this Argo CD predates automated.enabled; the old policy is kept in an annotation)",
                _ => "was already off",
            }
        ))?;
        shell.out(format!("{DIM}promotions into {} are refused until `kubectl promote resume {}` (or a promotion with --resume); fix git first{DIM:#}", env.name, env.name))?;
    }
    let (exit, waited) = match args.wait {
        None => (Exit::Ok, None),
        Some(timeout) => {
            let waited = uc::wait_rollback(env, t, &rolled, timeout, shell)?;
            (
                report_wait(shell, &env.name, t, &waited, true)?,
                Some(waited),
            )
        }
    };
    shell.document("RollbackResult", &serde_json::json!({"result": "rolled-back", "strategy": "argocd", "rollback": &rolled, "wait": waited}))?;
    Ok(exit)
}

/// Argo CD's view of ENV for `status`; unreachable or missing is a warning, not a failure.
pub(crate) fn status_facts(
    ctx: &Ctx<'_>,
    session: &Session,
    env: &Environment,
) -> Option<uc::ArgoStatus> {
    env.argocd.as_ref()?;
    let read = connect(ctx, env, Purpose::Read)
        .and_then(|c| {
            let t = c.target();
            let app = uc::read_app(env, &t)?;
            // `status` answers for a manual sync: what `sync` or a rollback would meet.
            let window = uc::sync_window_warning(&t, &app, uc::session_now(session), true);
            Ok((app, window))
        })
        .with_context(|| format!("{}: Argo CD state not shown", env.name));
    match read {
        Ok((app, window)) => Some(uc::ArgoStatus {
            sync_window: window,
            ..uc::status_facts(session, env, &app)
        }),
        Err(e) => {
            ctx.shell.warn(&one_line(e.as_ref()));
            None
        }
    }
}

/// Why an env's app could not be read: opening its transport failed, or the read did.
pub(crate) enum ReadFailure {
    Connect(anyhow::Error),
    Read(ArgoError),
}

impl ReadFailure {
    fn into_anyhow(self) -> anyhow::Error {
        match self {
            ReadFailure::Connect(e) => e,
            ReadFailure::Read(e) => e.into(),
        }
    }
}

type Read = Result<(Conn, Application), ReadFailure>;

/// The Applications an operation read (for the policy facts, and ENV's own for a rollback's
/// strategy pick), kept so that nothing reads them twice.
#[derive(Default)]
pub(crate) struct ArgoReads {
    /// By environment name: its connection (opened for [`Purpose::Read`]) and the app, or why
    /// not.
    apps: BTreeMap<String, Read>,
}

/// Argo CD reads started during the session's fetch, from `promote.yaml` as the last fetch left
/// it ([`promote::peek`]). After the fetch, [`gather_policy_facts`] uses an env's read only when
/// the fetched `promote.yaml` reaches that env's app the same way (same app, namespace and
/// transport); what Argo CD holds does not depend on our fetch, so such a read is the one that
/// would have been made a few milliseconds later. Anything else is read again.
pub(crate) struct EarlyReads {
    apps: BTreeMap<String, (Planned, Read)>,
}

/// Starts [`EarlyReads`] on a thread of `scope` while the caller fetches: for an operation on
/// `env_name` (`pick`: a rollback that may pick the argocd strategy). `None` when there is
/// nothing to guess from (`--repo URL`: the clone is fetched first; no readable file).
pub(crate) fn start_early_reads<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    ctx: &Ctx<'scope>,
    env_name: &'scope str,
    rollback: bool,
    pick: bool,
) -> Option<std::thread::ScopedJoinHandle<'scope, EarlyReads>> {
    let reach = Reach::from(ctx);
    let config = match (&reach.global.config, &reach.global.repo) {
        // A --config file is read again by the session; a parse error is reported there.
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).ok()?;
            promote_core::config::Config::parse(&path.display().to_string(), &text).ok()?
        }
        (None, Some(repo))
            if repo.contains("://") || repo.contains('@') || repo.starts_with("file:") =>
        {
            return None;
        }
        (None, repo) => {
            let cwd = std::env::current_dir().ok()?;
            promote::peek::config(&repo.as_ref().map_or(cwd.clone(), |r| cwd.join(r)))?
        }
    };
    Some(scope.spawn(move || {
        let policies = !reach.global.policy.is_empty();
        let envs = wanted(&config, env_name, rollback, policies, pick);
        let plans: Vec<Option<Planned>> = envs
            .iter()
            .map(|e| plan(reach, e, Purpose::Read).ok())
            .collect();
        let reads = read_all(reach, &envs);
        EarlyReads {
            apps: envs
                .into_iter()
                .zip(plans)
                .zip(reads)
                .filter_map(|((e, p), r)| Some((e.name, (p?, r))))
                .collect(),
        }
    }))
}

/// The envs whose apps an operation on `env_name` reads: every env with an app when policies
/// ask (`policies`: one-off modules were given), and with `pick` ENV's own.
fn wanted(
    config: &promote_core::config::Config,
    env_name: &str,
    rollback: bool,
    policies: bool,
    pick: bool,
) -> Vec<Environment> {
    let Ok(env) = config.env(env_name) else {
        return Vec::new();
    };
    let configured = if rollback {
        &env.rollback_policies
    } else {
        &env.promote_policies
    };
    let facts = policies || !configured.is_empty();
    config
        .environments
        .iter()
        .filter(|e| e.argocd.is_some() && (facts || (pick && e.name == env_name)))
        .cloned()
        .collect()
}

/// Give policies every environment's Argo CD facts, when the operation has policies to ask;
/// with `pick` (a rollback that may use Argo CD), read ENV's app too, for [`pick_strategy`].
/// The apps come from `early` where it holds an equivalent read, else are read at once
/// ([`read_all`]); the facts are computed here, in environment order, with a warning for each
/// app that could not be read.
pub(crate) fn gather_policy_facts(
    ctx: &Ctx<'_>,
    session: &mut Session,
    env_name: &str,
    rollback: bool,
    pick: bool,
    early: Option<EarlyReads>,
) -> ArgoReads {
    let reach = Reach::from(ctx);
    let mut reads = ArgoReads::default();
    let Ok(env) = session.config.env(env_name) else {
        return reads;
    };
    let configured = if rollback {
        &env.rollback_policies
    } else {
        &env.promote_policies
    };
    let facts = !configured.is_empty() || !session.policy.one_offs.is_empty();
    let envs = wanted(
        &session.config,
        env_name,
        rollback,
        !session.policy.one_offs.is_empty(),
        pick,
    );
    let mut early = early.map(|e| e.apps).unwrap_or_default();
    let mut got: Vec<Option<Read>> = envs
        .iter()
        .map(|e| {
            let (planned, read) = early.remove(&e.name)?;
            let now = plan(reach, e, Purpose::Read).ok()?;
            (now == planned).then_some(read)
        })
        .collect();
    let missing: Vec<Environment> = envs
        .iter()
        .zip(&got)
        .filter(|(_, g)| g.is_none())
        .map(|(e, _)| e.clone())
        .collect();
    let mut fresh = read_all(reach, &missing).into_iter();
    for g in &mut got {
        if g.is_none() {
            *g = fresh.next();
        }
    }
    for (env, read) in envs.iter().zip(got) {
        let read = read.expect("every env read");
        if facts {
            match &read {
                Ok((_, app)) => {
                    let f = uc::policy_facts(session, env, app);
                    session.policy.argocd_facts.insert(env.name.clone(), f);
                }
                Err(ReadFailure::Connect(e)) => ctx.shell.warn(&format!(
                    "{}: Argo CD facts not given to policies: {}",
                    env.name,
                    one_line(e.as_ref())
                )),
                Err(ReadFailure::Read(e)) => ctx.shell.warn(&format!(
                    "{}: Argo CD facts not given to policies: {}",
                    env.name,
                    one_line(e)
                )),
            }
        }
        reads.apps.insert(env.name.clone(), read);
    }
    reads
}

/// Reads the Application of every env (each has `argocd`) for [`Purpose::Read`], at once: one
/// transport per distinct way of reaching Argo CD, opened on its own thread, each sending its
/// GETs together. One answer per env, in order; the same answers as reading one after another.
fn read_all(reach: Reach<'_>, envs: &[Environment]) -> Vec<Read> {
    let mut out: Vec<Option<Read>> = Vec::new();
    // Environments by the way they are reached, in order of first appearance.
    let mut groups: Vec<(Way, Vec<(usize, Planned)>)> = Vec::new();
    for (i, env) in envs.iter().enumerate() {
        match plan(reach, env, Purpose::Read) {
            Ok(p) => {
                out.push(None);
                match groups.iter_mut().find(|(w, _)| *w == p.way) {
                    Some((_, members)) => members.push((i, p)),
                    None => groups.push((p.way.clone(), vec![(i, p)])),
                }
            }
            Err(e) => out.push(Some(Err(ReadFailure::Connect(e)))),
        }
    }
    let read_group = |(way, members): (Way, Vec<(usize, Planned)>)| {
        let answers: Vec<(usize, Read)> = match open(&way) {
            Err(e) => members
                .into_iter()
                .map(|(i, p)| (i, Err(ReadFailure::Connect(open_error(&p, &e)))))
                .collect(),
            Ok(argo) => {
                let refs: Vec<AppRef> = members.iter().map(|(_, p)| p.app.clone()).collect();
                let apps = argo.applications(&refs);
                members
                    .into_iter()
                    .zip(apps)
                    .map(|((i, p), app)| {
                        let conn = Conn {
                            argo: Arc::clone(&argo),
                            app: p.app,
                            via: p.via,
                        };
                        let read = app.map_err(|e| {
                            ReadFailure::Read(uc::classify(&envs[i].name, &conn.target(), e))
                        });
                        (i, read.map(|app| (conn, app)))
                    })
                    .collect()
            }
        };
        answers
    };
    let answers: Vec<_> = match groups.len() {
        0 => Vec::new(),
        // One transport: no thread to start.
        1 => groups.into_iter().flat_map(read_group).collect(),
        _ => std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|g| scope.spawn(|| read_group(g)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("an Argo CD read thread panicked"))
                .collect()
        }),
    };
    for (i, answer) in answers {
        out[i] = Some(answer);
    }
    out.into_iter()
        .map(|o| o.expect("every env answered"))
        .collect()
}

/// The rollback target's short revision and version, `?` where unknown, for messages.
fn target_labels(plan: &RollbackPlan) -> (String, String) {
    let rev = plan.to.revision.as_deref().map(short).unwrap_or("?");
    let version = plan.to.version.clone().unwrap_or_else(|| "?".into());
    (rev.to_owned(), version)
}
