//! `kubectl promote sync ENV [--wait]`: flags to a [`sync::Request`], the use case, and its
//! outcome as text or a `SyncResult` document and an exit code.

use promote::deploy::SyncBy;
use promote::sync::{self, SyncResult};

use super::wait::{Followed, report_wait, short};
use super::{Ctx, check_env};
use crate::Exit;
use crate::cli::SyncArgs;
use crate::output::GREEN;

pub fn sync(ctx: &Ctx<'_>, args: &SyncArgs) -> anyhow::Result<Exit> {
    check_env("ENV", &args.env)?;
    let ports = ctx.ports()?;
    let req = sync::Request {
        env: args.env.clone(),
        wait: args.wait,
    };
    let result = sync::run(&ports, req, ctx)?;
    let exit = match &result.wait {
        None => {
            if ctx.shell.is_text() {
                ctx.shell.out(started(&result))?;
            }
            Exit::Ok
        }
        Some(waited) => report_wait(
            ctx.shell,
            &result.environment,
            &result.app,
            waited,
            Followed::Deploy,
        )?,
    };
    ctx.shell.document("SyncResult", &result)?;
    Ok(exit)
}

/// The line of a sync that was not waited for.
fn started(r: &SyncResult) -> String {
    let (app, rev, base) = (&r.app, short(&r.revision), &r.base_name);
    match r.how {
        SyncBy::AutoSync => format!("refreshed {app}: auto-sync deploys {rev} ({base})"),
        SyncBy::Operation => format!("{GREEN}started{GREEN:#} a sync of {app} to {rev} ({base})"),
    }
}
