//! `kubectl promote history ENV [--limit N]`: flags to a [`history::Request`], the use case,
//! and its two halves (Argo CD's, then git's) as text or a `History` document.

use promote::history::{self, History};
use promote::plan::HistoryItem;

use super::wait::short;
use super::{Ctx, check_env};
use crate::Exit;
use crate::cli::HistoryArgs;
use crate::output::{BOLD, DIM, GREEN, RED, Shell, YELLOW};

pub fn history(ctx: &Ctx<'_>, args: &HistoryArgs) -> anyhow::Result<Exit> {
    check_env("ENV", &args.env)?;
    let ports = ctx.ports()?;
    let req = history::Request {
        env: args.env.clone(),
        limit: args.limit,
    };
    let h = history::run(&ports, req, ctx)?;
    let shell = ctx.shell;
    if shell.is_text() {
        print_argocd(shell, &h)?;
        print_git(shell, &h)?;
    }
    shell.document("History", &h)?;
    Ok(Exit::Ok)
}

/// Argo CD's half: a table of entries, or a line saying it could not be read.
fn print_argocd(shell: &Shell, h: &History) -> anyhow::Result<()> {
    let Some(app) = &h.app else {
        return Ok(());
    };
    let env = &h.environment;
    if h.argocd_error.is_some() {
        shell.out(format!(
            "{DIM}Argo CD history of {app} ({env}) not shown: it could not be read (see the warning){DIM:#}"
        ))?;
        shell.out("")?;
        return Ok(());
    }
    shell.out(format!(
        "{DIM}Argo CD history of {app} ({env}), newest first{DIM:#}"
    ))?;
    shell.out(format!(
        "{BOLD}{:>4}  {:8}  {:10}  {:20}  {:8}  BY{BOLD:#}",
        "ID", "REVISION", "VERSION", "DEPLOYED", "HEALTHY"
    ))?;
    for item in &h.entries {
        shell.out(entry(item))?;
    }
    if h.entries.is_empty() {
        shell.out("(no deployments recorded)")?;
    }
    shell.out("")?;
    Ok(())
}

/// One row of Argo CD's history.
fn entry(h: &HistoryItem) -> String {
    let healthy = match h.was_healthy {
        Some(true) => format!("{GREEN}yes{GREEN:#}     "),
        Some(false) => format!("{RED}no{RED:#}      "),
        None => "unknown ".to_owned(),
    };
    format!(
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
    )
}

/// Git's half: the overlay's changes.
fn print_git(shell: &Shell, h: &History) -> anyhow::Result<()> {
    shell.out(format!(
        "{DIM}git changes of {} ({}), newest first{DIM:#}",
        h.overlay, h.environment
    ))?;
    shell.out(format!(
        "{BOLD}{:8}  {:10}  {:24}  SUBJECT{BOLD:#}",
        "COMMIT", "VERSION", "PROMOTED-BY"
    ))?;
    for c in &h.git {
        // Said where the promoter was read from a merged or squashed branch, not the change.
        let by = match (&c.promoted_by, &c.promoted_via) {
            (Some(by), Some(via)) => format!("{by} ({via})"),
            (Some(by), None) => by.clone(),
            (None, _) => "-".to_owned(),
        };
        shell.out(format!(
            "{:8}  {:10}  {by:24}  {}",
            short(&c.commit),
            c.version.as_deref().unwrap_or("-"),
            c.subject
        ))?;
    }
    if h.git.is_empty() {
        shell.out("(no changes found)")?;
    }
    Ok(())
}
