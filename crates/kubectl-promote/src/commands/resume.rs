//! `kubectl promote resume ENV [--force]`: flags to a [`resume::Request`], the use case, and
//! what it did as text or a `ResumeResult` document.

use promote::resume;

use super::{Ctx, check_env};
use crate::Exit;
use crate::cli::ResumeArgs;
use crate::output::GREEN;

pub fn resume(ctx: &Ctx<'_>, args: &ResumeArgs) -> anyhow::Result<Exit> {
    check_env("ENV", &args.env)?;
    let ports = ctx.ports()?;
    let req = resume::Request {
        env: args.env.clone(),
        force: args.force,
    };
    let r = resume::run(&ports, req, ctx)?;
    if ctx.shell.is_text() {
        ctx.shell.out(format!(
            "{GREEN}resumed{GREEN:#} {} ({}): auto-sync {} (prune {}, selfHeal {}); rollback marker by {} removed",
            r.environment, r.app, r.auto_sync, r.prune, r.self_heal, r.marker.by
        ))?;
    }
    ctx.shell.document("ResumeResult", &r)?;
    Ok(Exit::Ok)
}
