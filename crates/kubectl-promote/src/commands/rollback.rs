//! `kubectl promote rollback ENV [--strategy argocd|revert]`: go back through Argo CD's history
//! (fast: `commands::argo`) or by reverting in git (reviewed). Without `--strategy`: `argocd`
//! where Argo CD's history holds the target, else `revert`.

use promote::rollback::{RevertRequest, RollbackTarget};

use super::argo::{Picked, pick_strategy};
use super::promote::{Landing, land_with};
use super::{Ctx, check_env, check_version, usage};
use crate::Exit;
use crate::cli::{RollbackArgs, Strategy};

pub fn rollback(ctx: &Ctx<'_>, args: &RollbackArgs) -> anyhow::Result<Exit> {
    if args.to_id.is_some() && args.strategy == Some(Strategy::Revert) {
        return Err(usage(
            "--to-id names an Argo CD history entry: it needs --strategy argocd (or no --strategy)",
        ));
    }
    check_env("ENV", &args.env)?;
    if let Some(v) = &args.to {
        check_version("--to", v)?;
    }
    let author = args.land.author().map_err(usage)?;
    let pick = args.strategy != Some(Strategy::Revert);
    // The Argo CD reads do not depend on the fetch: start them from promote.yaml as last
    // fetched, and keep those the fetched promote.yaml agrees with (`EarlyReads`).
    let (session, early) = std::thread::scope(|scope| {
        let early = super::argo::start_early_reads(scope, ctx, &args.env, true, pick);
        let session = ctx
            .open_options(args.dry_run, args.land.override_reason())
            .and_then(|opts| {
                let opts = promote::OpenOptions {
                    warm_policies: true,
                    ..opts
                };
                Ok(promote::Session::open(&opts, ctx.shell)?)
            });
        let early = early.map(|h| h.join().expect("the Argo CD read thread panicked"));
        (session, early)
    });
    let mut session = session?;
    let reads = super::argo::gather_policy_facts(ctx, &mut session, &args.env, true, pick, early);
    if pick {
        let asked = args.strategy == Some(Strategy::Argocd) || args.to_id.is_some();
        if let Picked::Argocd { conn, plan, app } =
            pick_strategy(ctx, &session, args, asked, reads)?
        {
            return super::argo::rollback(ctx, &session, args, &conn, *plan, &app);
        }
    }
    let target = match (&args.to, &args.to_revision) {
        (Some(v), None) => RollbackTarget::Version(v.clone()),
        (None, Some(r)) => RollbackTarget::Revision(r.clone()),
        (None, None) => RollbackTarget::Previous,
        (Some(_), Some(_)) => return Err(usage("give at most one of --to and --to-revision")),
    };
    let mode = args.land.mode();
    let req = RevertRequest {
        env: args.env.clone(),
        target,
        mode,
        message: args.land.message.clone(),
        author,
    };
    session.images = ctx.image_check(args.land.skip_image_check, false)?;
    let renderer = ctx.renderer();
    let prepared = promote::rollback::prepare_revert(&session, &req, &renderer, ctx.shell)?;
    land_with(
        ctx,
        &session,
        &renderer,
        prepared,
        &Landing {
            dry_run: args.dry_run,
            yes: args.land.yes,
            verb: "Roll back",
            resume: false,
        },
        args.wait,
    )
}
