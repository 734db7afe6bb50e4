//! `kubectl promote status [ENV]`: flags to a [`status::Request`], the use case, and each
//! environment's state as text or a `Status` document.

use promote::approval::{ApprovalState, IgnoredRecord, Verdict};
use promote::deploy::{ArgoStatus, MarkerFacts};
use promote::status::{self, EnvStatus};

use super::{Ctx, check_env};
use crate::Exit;
use crate::cli::StatusArgs;
use crate::output::{BOLD, DIM, GREEN, RED, Shell, YELLOW};

pub fn status(ctx: &Ctx<'_>, args: &StatusArgs) -> anyhow::Result<Exit> {
    if let Some(env) = &args.env {
        check_env("ENV", env)?;
    }
    let ports = ctx.ports()?;
    let req = status::Request {
        env: args.env.clone(),
    };
    let status = status::run(&ports, req, ctx)?;
    let shell = ctx.shell;
    if shell.is_text() {
        shell.out(format!(
            "{DIM}as of {} {}{DIM:#}",
            status.base_name,
            &status.base[..7]
        ))?;
        for e in &status.environments {
            print_env(shell, e)?;
        }
        for a in &status.apps {
            shell.out(format!("{BOLD}app {}{BOLD:#}", a.name))?;
            for e in &a.environments {
                print_env(shell, e)?;
            }
        }
    }
    shell.document("Status", &status)?;
    Ok(Exit::Ok)
}

/// One environment: what git holds, what Argo CD says, the last change, the approvals.
fn print_env(shell: &Shell, e: &EnvStatus) -> anyhow::Result<()> {
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
        print_argocd(shell, &e.name, a)?;
    }
    if let Some(c) = &e.last_change {
        let via = c
            .promoted_via
            .as_ref()
            .map(|v| format!(" ({v})"))
            .unwrap_or_default();
        shell.out(format!(
            "    last change: {} by {}{via} at {} — {}",
            &c.commit[..7],
            c.by,
            c.at,
            c.subject
        ))?;
    }
    for a in &e.approvals {
        print_approval(shell, a)?;
    }
    for i in &e.ignored_approvals {
        print_ignored(shell, i)?;
    }
    Ok(())
}

/// Argo CD's view of ENV: sync, health, what is deployed, and what holds it back.
fn print_argocd(shell: &Shell, env: &str, a: &ArgoStatus) -> anyhow::Result<()> {
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
        print_marker(shell, env, m)?;
    }
    Ok(())
}

/// The rollback marker, and whether the rollback still holds.
fn print_marker(shell: &Shell, env: &str, m: &MarkerFacts) -> anyhow::Result<()> {
    let why = if m.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", m.reason)
    };
    let rolled_back = format!(
        "{RED}rolled back{RED:#} by {} at {}{why}",
        m.by,
        m.at.as_deref().unwrap_or("?")
    );
    let Some(undone) = &m.undone else {
        shell.out(format!(
            "      {rolled_back}; `kubectl promote resume {env}` ends it"
        ))?;
        return Ok(());
    };
    // The marker stays, but auto-sync is on again: Argo CD deploys what git holds, so the
    // marker alone would tell a reader the wrong thing (argo-cd #5351).
    let names: Vec<&str> = undone.by.iter().map(|w| w.name.as_str()).collect();
    let who = if names.is_empty() {
        "someone turned it back on".to_owned()
    } else {
        format!("{} rewrote the app", names.join(" or "))
    };
    shell.out(format!(
        "      {rolled_back}; the marker is still set, {YELLOW}but auto-sync is on again{YELLOW:#}: {who}, so Argo CD deploys what git holds"
    ))?;
    shell.out(format!(
        "      fix git, then `kubectl promote resume {env}` ends the rollback; or roll back again once nothing turns auto-sync back on"
    ))?;
    for w in &undone.by {
        shell.out(format!("      {}", w.advice))?;
    }
    Ok(())
}

/// The record in force for a version and role, and everyone who approved it.
fn print_approval(shell: &Shell, a: &ApprovalState) -> anyhow::Result<()> {
    let r = &a.in_force;
    let mark = match r.verdict {
        Verdict::Approved => format!("{GREEN}approved{GREEN:#}"),
        Verdict::Rejected => format!("{RED}rejected{RED:#}"),
        Verdict::Revoked => format!("{YELLOW}revoked{YELLOW:#}"),
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
    Ok(())
}

/// A record that does not count, and why.
fn print_ignored(shell: &Shell, i: &IgnoredRecord) -> anyhow::Result<()> {
    let r = &i.record;
    shell.out(format!(
        "    {} {}: {} by {} at {} — {YELLOW}ignored{YELLOW:#}: {}",
        r.version, r.role, r.verdict, r.by, r.at, i.reason
    ))?;
    Ok(())
}
