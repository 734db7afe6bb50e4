//! `kubectl promote status [ENV]`.

use super::Ctx;
use crate::Exit;
use crate::cli::StatusArgs;
use crate::output::{BOLD, DIM, GREEN, RED, YELLOW};

pub fn status(ctx: &Ctx<'_>, args: &StatusArgs) -> anyhow::Result<Exit> {
    if let Some(env) = &args.env {
        super::check_env("ENV", env)?;
    }
    let ports = ctx.ports()?;
    let status = promote::status::run(&ports, args.env.as_deref(), ctx)?;
    let envs = &status.environments;
    let shell = ctx.shell;
    if shell.is_text() {
        shell.out(format!(
            "{DIM}as of {} {}{DIM:#}",
            status.base_name,
            &status.base[..7]
        ))?;
        for e in envs {
            let version = e.version.as_deref().unwrap_or("(no tag)");
            let from = e
                .from
                .as_deref()
                .map(|f| format!("  from {f}"))
                .unwrap_or_default();
            shell.out(format!(
                "{BOLD}{}{BOLD:#}  {version}{from}  ({} mode, {})",
                e.name, e.mode, e.overlay
            ))?;
            if e.version.as_deref() == Some("mixed") || shell.verbose > 0 {
                for (name, r) in &e.images {
                    shell.out(format!("    {name}  {r}"))?;
                }
            }
            if let Some(a) = &e.argocd {
                let rev = a
                    .deployed_revision
                    .as_deref()
                    .map(|r| &r[..r.len().min(7)])
                    .unwrap_or("nothing");
                let version = a
                    .deployed_version
                    .as_deref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                shell.out(format!(
                    "    argocd {}: {}, {}, deployed {rev}{version}, auto-sync {}",
                    a.app, a.sync, a.health, a.auto_sync
                ))?;
                if let Some(op) = a.operation.as_ref().filter(|o| o.in_progress) {
                    shell.out(format!(
                        "      {YELLOW}operation in progress{YELLOW:#}: {}",
                        op.phase.as_deref().unwrap_or("pending")
                    ))?;
                }
                if let Some(w) = &a.sync_window {
                    shell.out(format!("      {YELLOW}sync window{YELLOW:#}: {w}"))?;
                }
                if let Some(m) = &a.rollback_marker {
                    let why = if m.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", m.reason)
                    };
                    shell.out(format!("      {RED}rolled back{RED:#} by {} at {}{why}; `kubectl promote resume {}` ends it", m.by, m.at.as_deref().unwrap_or("?"), e.name))?;
                }
            }
            if let Some(c) = &e.last_change {
                shell.out(format!(
                    "    last change: {} by {} at {} — {}",
                    &c.commit[..7],
                    c.by,
                    c.at,
                    c.subject
                ))?;
            }
            for a in &e.approvals {
                let r = &a.in_force;
                let mark = match r.verdict {
                    promote::approval::Verdict::Approved => format!("{GREEN}approved{GREEN:#}"),
                    promote::approval::Verdict::Rejected => format!("{RED}rejected{RED:#}"),
                    promote::approval::Verdict::Revoked => format!("{YELLOW}revoked{YELLOW:#}"),
                };
                let note = r
                    .note
                    .as_deref()
                    .map(|n| format!(": {}", n.split_whitespace().collect::<Vec<_>>().join(" ")))
                    .unwrap_or_default();
                shell.out(format!(
                    "    {} {}: {mark} by {} at {}{note}",
                    a.version, a.role, r.by, r.at
                ))?;
                if a.approved_by.len() > 1 {
                    let all: Vec<String> = a.approved_by.iter().map(ToString::to_string).collect();
                    shell.out(format!("      approved by {}", all.join(", ")))?;
                }
            }
            for i in &e.ignored_approvals {
                let r = &i.record;
                shell.out(format!(
                    "    {} {}: {} by {} at {} — {YELLOW}ignored{YELLOW:#}: {}",
                    r.version, r.role, r.verdict, r.by, r.at, i.reason
                ))?;
            }
        }
    }
    shell.document("Status", &status)?;
    Ok(Exit::Ok)
}
