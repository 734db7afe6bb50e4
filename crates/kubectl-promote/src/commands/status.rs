//! `kubectl promote status [ENV]`.

use serde::Serialize;

use super::Ctx;
use crate::cli::StatusArgs;
use crate::output::{BOLD, DIM, GREEN, RED, YELLOW};
use crate::Exit;

pub fn status(ctx: &Ctx<'_>, args: &StatusArgs) -> anyhow::Result<Exit> {
    let session = ctx.open()?;
    let envs = promote::status::status(&session, args.env.as_deref())?;
    let shell = ctx.shell;
    if shell.is_text() {
        shell.out(format!("{DIM}as of {} {}{DIM:#}", session.base_name(), session.base.short()))?;
        for e in &envs {
            let version = e.version.as_deref().unwrap_or("(no tag)");
            let from = e.from.as_deref().map(|f| format!("  from {f}")).unwrap_or_default();
            shell.out(format!("{BOLD}{}{BOLD:#}  {version}{from}  ({} mode, {})", e.name, e.mode, e.overlay))?;
            if e.version.as_deref() == Some("mixed") || shell.verbose > 0 {
                for (name, r) in &e.images {
                    shell.out(format!("    {name}  {r}"))?;
                }
            }
            if let Some(c) = &e.last_change {
                shell.out(format!("    last change: {} by {} at {} — {}", &c.commit[..7], c.by, c.at, c.subject))?;
            }
            for a in &e.approvals {
                let r = &a.in_force;
                let mark = match r.verdict {
                    promote::approvals::Verdict::Approved => format!("{GREEN}approved{GREEN:#}"),
                    promote::approvals::Verdict::Rejected => format!("{RED}rejected{RED:#}"),
                    promote::approvals::Verdict::Revoked => format!("{YELLOW}revoked{YELLOW:#}"),
                };
                let note = r.note.as_deref().map(|n| format!(": {}", n.split_whitespace().collect::<Vec<_>>().join(" "))).unwrap_or_default();
                shell.out(format!("    {} {}: {mark} by {} at {}{note}", a.version, a.role, r.by, r.at))?;
                if a.approved_by.len() > 1 {
                    let all: Vec<String> = a.approved_by.iter().map(ToString::to_string).collect();
                    shell.out(format!("      approved by {}", all.join(", ")))?;
                }
            }
        }
    }
    #[derive(Serialize)]
    struct StatusDoc<'a> {
        base: String,
        environments: &'a [promote::status::EnvStatus],
    }
    shell.document("Status", &StatusDoc { base: session.base.to_string(), environments: &envs })?;
    Ok(Exit::Ok)
}

