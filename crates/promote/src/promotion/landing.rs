//! What a promotion and a revert share once planned: the policies' say, a dry run, the
//! confirmation a person gives on a terminal for a protected environment, the landing (a push,
//! or a pull request: the forge connected first), and after a push to the base branch, Argo CD.

use std::time::Duration;

use promote_core::config::Mode;

use super::direct::apply_with;
use super::outcome::{AlreadyAt, Delivered, Outcome, Verdict};
use super::pr::{MergeWait, PrOptions};
use super::reviews::KnownPr;
use crate::deploy::{self, Deployment, Landing};
use crate::plan::{Change, Landed, Milestone, Plan, Prepared, Proposal};
use crate::ports::Ports;
use crate::render::Renderer;
use crate::{Interaction, PromoteError, Session, forge};

/// How the landing behaves.
#[derive(Debug, Clone)]
pub struct LandOptions {
    /// `--dry-run`: show the plan, change nothing.
    pub dry_run: bool,
    /// `--yes`: skip the confirmation.
    pub yes: bool,
    /// "Promote" or "Roll back", for the confirmation question.
    pub verb: &'static str,
    /// `--wait`: PR mode waits for the merge, then Argo CD runs the commit.
    pub wait: Option<Duration>,
    /// `--resume`: after the push, turn the env's Argo CD auto-sync back on.
    pub resume: bool,
}

/// What PR mode already has when landing starts: the forge connection (connected when the
/// plan's pull request was read) and what was read of the pull request.
#[derive(Debug, Default)]
pub struct PrLanding {
    pub connection: Option<forge::Connection>,
    pub known: KnownPr,
}

/// Decide, confirm, apply and deploy a prepared plan.
pub fn land(
    ports: &Ports,
    session: &Session,
    renderer: &Renderer,
    prepared: Prepared,
    how: &LandOptions,
    ui: &dyn Interaction,
) -> Result<Outcome, PromoteError> {
    land_with(
        ports,
        (session, renderer),
        prepared,
        how,
        PrLanding::default(),
        ui,
    )
}

/// [`land`] with what PR mode read before the plan was judged.
pub fn land_with(
    ports: &Ports,
    (session, renderer): (&Session, &Renderer),
    prepared: Prepared,
    how: &LandOptions,
    pr: PrLanding,
    ui: &dyn Interaction,
) -> Result<Outcome, PromoteError> {
    let plan = match prepared {
        Prepared::AlreadyAt {
            environment,
            version,
            overlay_file,
        } => {
            return Ok(Outcome::AlreadyAt(AlreadyAt {
                environment,
                version,
                overlay_file,
                at: session.base_name(),
            }));
        }
        Prepared::Ready(plan) => plan,
    };
    // The policies' say: a denial stops here (exit 3) unless an override set it aside (where
    // the env allows one and the policy does not refuse it); unmet approvals, which no
    // override covers, stop a direct promotion (exit 4) and make a PR wait for them.
    let verdict = Verdict::of(&plan);
    if how.dry_run {
        return Ok(Outcome::DryRun(plan));
    }
    match verdict {
        Verdict::Denied => return Ok(Outcome::Denied(plan)),
        Verdict::AwaitingApproval if plan.mode == Mode::Direct => {
            return Ok(Outcome::AwaitingApproval(plan));
        }
        _ => {}
    }
    if !confirmed(session, &plan, how, ui)? {
        ui.warn("not confirmed; nothing was committed or pushed");
        return Ok(Outcome::NotConfirmed(plan));
    }
    let landed = apply(ports, (session, renderer), &plan, how, pr, ui)?;
    ui.reached(&Milestone::Landed {
        plan: &plan,
        landed: &landed,
        remote: &session.remote,
        base_branch: &session.base_branch,
    });
    let deployment = deploy_landed(ports, session, &plan, &landed, how, ui);
    Ok(Outcome::Landed(Box::new(Delivered {
        plan: *plan,
        landed,
        deployment,
        after: None,
        verification: None,
        auto_rollback: None,
    })))
}

/// A protected environment asks a person at a terminal (unless `--yes`).
fn confirmed(
    session: &Session,
    plan: &Plan,
    how: &LandOptions,
    ui: &dyn Interaction,
) -> Result<bool, PromoteError> {
    let env = session.config.env(&plan.environment)?;
    if !env.protected || how.yes || !ui.can_confirm() {
        return Ok(true);
    }
    let question = format!(
        "{} {} to {}?",
        how.verb,
        plan.environment,
        plan.version.as_deref().unwrap_or("mixed")
    );
    Ok(ui.confirm(&Proposal {
        question: &question,
        change: Change::Commit(plan),
    }))
}

/// Commit and push (or open the pull request). PR mode talks to the forge when there is a
/// token; without one the branch is pushed and the compare URL returned. `--wait` needs the
/// forge, so that is checked before any push.
fn apply(
    ports: &Ports,
    (session, renderer): (&Session, &Renderer),
    plan: &Plan,
    how: &LandOptions,
    pr: PrLanding,
    ui: &dyn Interaction,
) -> Result<Landed, PromoteError> {
    let connection = match (plan.mode, pr.connection) {
        (Mode::Pr, Some(connected)) => Some(connected),
        (Mode::Pr, None) => Some(forge::connect(ports, session, ui)?),
        (Mode::Direct, _) => None,
    };
    if let Some(why) = connection.as_ref().and_then(forge::Connection::why_not) {
        if how.wait.is_some() {
            return Err(PromoteError::NoForgeToWait { why });
        }
        ui.step(&format!("pushing the branch only: {why}"));
    }
    let pr_options = PrOptions {
        forge: connection.as_ref().and_then(forge::Connection::forge),
        // Every approval the policies require: the pull request's checklist shows each, met
        // (by a record or one of its reviews) or missing.
        required: plan
            .policy
            .as_ref()
            .filter(|v| v.approvals.is_some())
            .map(|v| v.required_approvals.clone())
            .unwrap_or_default(),
        known: pr.known,
        wait: how.wait.map(MergeWait::polite),
        policy_report: plan.policy.as_ref().map(|v| v.markdown()),
    };
    apply_with(session, plan, renderer, &pr_options, ui)
}

/// After every push to the base branch: Argo CD refreshes; with `--wait` it runs the commit.
fn deploy_landed(
    ports: &Ports,
    session: &Session,
    plan: &Plan,
    landed: &Landed,
    how: &LandOptions,
    ui: &dyn Interaction,
) -> Option<Result<Deployment, PromoteError>> {
    let on_base = match landed {
        Landed::Pushed { commit, .. } => Ok(commit.clone()),
        Landed::PrMerged(_) => merged_tip(session).transpose()?,
        _ => return None,
    };
    if !plan.apps.is_empty() {
        return Some(on_base.map(|commit| deploy_apps(ports, session, plan, &commit, how, ui)));
    }
    Some(on_base.and_then(|commit| {
        ui.checkpoint("after-push-before-refresh");
        let env = session.config.env(&plan.environment)?;
        deploy::after::after_landing(
            ports,
            session,
            &Landing {
                env,
                commit: &commit,
                wait: how.wait,
                resume: how.resume,
            },
            ui,
        )
    }))
}

/// The base tip after a merge, fetched.
fn merged_tip(session: &Session) -> Result<Option<String>, PromoteError> {
    session.repo.fetch(&session.remote)?;
    Ok(session
        .repo
        .remote_tip(&session.remote, &session.base_branch)?
        .map(|c| c.to_string()))
}

/// A promotion of several apps landed: each app's Application is refreshed, or with `--wait`
/// synced and waited for ([`deploy::after::after_landing_apps`]).
fn deploy_apps(
    ports: &Ports,
    session: &Session,
    plan: &Plan,
    commit: &str,
    how: &LandOptions,
    ui: &dyn Interaction,
) -> Deployment {
    ui.checkpoint("after-push-before-refresh");
    let mut envs = Vec::new();
    let mut failed = Vec::new();
    for app in plan.apps.iter().filter_map(|p| p.app.clone()) {
        match session
            .config
            .for_app(&app)
            .map_err(PromoteError::from)
            .and_then(|cfg| Ok(cfg.env(&plan.environment)?.clone()))
        {
            Ok(env) => envs.push((app, env)),
            Err(e) => failed.push(deploy::AppDeployment {
                app,
                deployment: None,
                error: Some(e.to_string()),
            }),
        }
    }
    let mut apps = deploy::after::after_landing_apps(
        ports,
        session,
        &envs,
        (commit, how.wait, how.resume),
        ui,
    );
    apps.extend(failed);
    Deployment::Apps { apps }
}
