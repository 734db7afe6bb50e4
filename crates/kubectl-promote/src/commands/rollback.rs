//! `kubectl promote rollback ENV --strategy revert`: go back by reverting in git.

use promote::rollback::{RevertRequest, RollbackTarget};
use promote_core::config::Mode;
use promote_core::Person;

use super::promote::{land, Landing};
use super::{usage, Ctx};
use crate::cli::{RollbackArgs, Strategy};
use crate::Exit;

pub fn rollback(ctx: &Ctx<'_>, args: &RollbackArgs) -> anyhow::Result<Exit> {
    let target = match (&args.to, &args.to_revision) {
        (Some(v), None) => RollbackTarget::Version(v.clone()),
        (None, Some(r)) => RollbackTarget::Revision(r.clone()),
        (None, None) => RollbackTarget::Previous,
        (Some(_), Some(_)) => return Err(usage("give at most one of --to and --to-revision")),
    };
    match args.strategy {
        Strategy::Revert => {}
    }
    let author = args.author.as_deref().map(str::parse::<Person>).transpose().map_err(|e| usage(format!("--author: {e}")))?;
    let mode = if args.pr { Some(Mode::Pr) } else if args.direct { Some(Mode::Direct) } else { None };
    let req = RevertRequest { env: args.env.clone(), target, mode, message: args.message.clone(), author };
    let session = ctx.open()?;
    let renderer = ctx.renderer();
    let prepared = promote::rollback::prepare_revert(&session, &req, &renderer, ctx.shell)?;
    land(ctx, &session, &renderer, prepared, &Landing { dry_run: args.dry_run, yes: args.yes, verb: "Roll back" })
}
