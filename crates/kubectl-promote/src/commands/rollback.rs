//! `kubectl promote rollback ENV [--strategy argocd|revert]`: flags to a [`rollback::Request`],
//! the use case, and its outcome as text or a `RollbackResult` document (whatever the strategy)
//! and an exit code.

use promote::deploy::state::disabled_by_str;
use promote::gate::PolicyVerdict;
use promote::plan::RollbackPlan;
use promote::rollback::{self, HistoryOutcome, Outcome, Strategy, Target};
use promote_core::argocd::AutoSyncDisabledBy;

use super::wait::{Followed, report_wait, short};
use super::{Ctx, check_env, check_version, usage};
use crate::Exit;
use crate::cli::{self, RollbackArgs};
use crate::output::{BOLD, CYAN, DIM, GREEN, RED, Shell};

pub fn rollback(ctx: &Ctx<'_>, args: &RollbackArgs) -> anyhow::Result<Exit> {
    let req = request(ctx, args)?;
    let ports = ctx.judging_ports(args.save_requests.as_deref())?;
    match rollback::run(&ports, req, ctx)? {
        Outcome::Revert(outcome) => super::promote::show(ctx, outcome, "RollbackResult"),
        Outcome::History(outcome) => show_history(ctx, &args.env, *outcome),
    }
}

/// The rollback the flags ask for, checked before anything is fetched.
fn request(ctx: &Ctx<'_>, args: &RollbackArgs) -> anyhow::Result<rollback::Request> {
    let strategy = args.strategy.map(|s| match s {
        cli::Strategy::Argocd => Strategy::Argocd,
        cli::Strategy::Revert => Strategy::Revert,
    });
    if args.to_id.is_some() && strategy == Some(Strategy::Revert) {
        return Err(usage(
            "--to-id names an Argo CD history entry: it needs --strategy argocd (or no --strategy)",
        ));
    }
    check_env("ENV", &args.env)?;
    if let Some(v) = &args.to {
        check_version("--to", v)?;
    }
    let author = args.land.author().map_err(usage)?;
    let target = match (&args.to, &args.to_revision, args.to_id) {
        (Some(v), None, None) => Target::Version(v.clone()),
        (None, Some(r), None) => Target::Revision(r.clone()),
        (None, None, Some(id)) => Target::HistoryId(id),
        (None, None, None) => Target::Previous,
        _ => return Err(usage("give at most one of --to, --to-id and --to-revision")),
    };
    Ok(rollback::Request {
        env: args.env.clone(),
        target,
        strategy,
        mode: args.land.mode(),
        message: args.land.message.clone(),
        author,
        images: ctx.image_mode(args.land.skip_image_check, false),
        dry_run: args.dry_run,
        yes: args.land.yes,
        wait: args.wait,
        override_reason: args.land.override_reason(),
    })
}

/// A history rollback's outcome: its text, the wait, the document; and the exit code.
fn show_history(ctx: &Ctx<'_>, env: &str, outcome: HistoryOutcome) -> anyhow::Result<Exit> {
    let shell = ctx.shell;
    let text = shell.is_text();
    let exit = match &outcome {
        HistoryOutcome::AlreadyRuns(plan) => {
            if text {
                let (to_rev, to_version) = target_labels(plan);
                shell.out(format!(
                    "{env} already runs {to_version} ({to_rev}): nothing to do"
                ))?;
            }
            Exit::Ok
        }
        HistoryOutcome::Denied { .. } => {
            if text {
                shell.out(format!("{RED}denied by policy{RED:#}: nothing was changed"))?;
            }
            Exit::Denied
        }
        HistoryOutcome::AwaitingApproval { .. } => {
            if text {
                shell.out(format!(
                    "{CYAN}waiting for approval{CYAN:#}: nothing was changed"
                ))?;
            }
            Exit::WaitingForApproval
        }
        HistoryOutcome::DryRun(plan) => {
            if text {
                shell.out(summary(plan))?;
                shell.out(format!("{DIM}dry run: nothing was changed{DIM:#}"))?;
            }
            Exit::Ok
        }
        HistoryOutcome::NotConfirmed(_) => Exit::Error,
        HistoryOutcome::RolledBack { app, waited, .. } => match waited {
            None => Exit::Ok,
            Some(waited) => report_wait(shell, env, app, waited, Followed::Rollback)?,
        },
    };
    if let Some(doc) = outcome.document() {
        shell.document("RollbackResult", &doc)?;
    }
    Ok(exit)
}

/// What a history rollback does, on one line.
pub(super) fn summary(plan: &RollbackPlan) -> String {
    let (to_rev, to_version) = target_labels(plan);
    format!(
        "{BOLD}{}{BOLD:#}: {} ({}) → {BOLD}{to_version}{BOLD:#} ({to_rev}, Argo CD history id {}) on {}; auto-sync {} → off{}, rollback marker set",
        plan.environment,
        plan.from_version.as_deref().unwrap_or("?"),
        plan.from_revision.as_deref().map(short).unwrap_or("?"),
        plan.to.id,
        plan.app,
        plan.auto_sync,
        if plan.auto_sync == promote::deploy::AutoSyncState::On {
            " (prune/selfHeal kept)"
        } else {
            ""
        }
    )
}

/// The summary and the policies' verdict, when the rollback policies have judged.
pub(super) fn print_judged(
    shell: &Shell,
    plan: &RollbackPlan,
    verdict: &PolicyVerdict,
) -> anyhow::Result<()> {
    shell.out(summary(plan))?;
    shell.out(super::promote::policy_text(verdict).trim_end())?;
    Ok(())
}

/// The rollback is written (before any wait).
pub(super) fn print_rolled_back(
    shell: &Shell,
    plan: &RollbackPlan,
    disabled_by: &AutoSyncDisabledBy,
) -> anyhow::Result<()> {
    let (to_rev, to_version) = target_labels(plan);
    let env = &plan.environment;
    shell.out(format!(
        "{GREEN}rolled back{GREEN:#} {env} to {to_version} ({to_rev}) with Argo CD; auto-sync {}",
        match disabled_by_str(disabled_by) {
            "enabled-false" => "disabled (automated.enabled=false, prune/selfHeal kept)",
            "removed" => {
                "removed (this Argo CD predates automated.enabled; the old policy is kept in an annotation)"
            }
            _ => "was already off",
        }
    ))?;
    shell.out(format!("{DIM}promotions into {env} are refused until `kubectl promote resume {env}` (or a promotion with --resume); fix git first{DIM:#}"))?;
    Ok(())
}

/// The rollback target's short revision and version, `?` where unknown, for messages.
fn target_labels(plan: &RollbackPlan) -> (String, String) {
    let rev = plan.to.revision.as_deref().map(short).unwrap_or("?");
    let version = plan.to.version.clone().unwrap_or_else(|| "?".into());
    (rev.to_owned(), version)
}
