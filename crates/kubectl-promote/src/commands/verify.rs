//! `kubectl promote verify [REV|--pr N]`: the report of [`promote::verify`] per environment, and
//! its exit code (0 allowed or nothing changed, 3 denied, 4 approvals missing, 1 error).

use promote::verify::{EnvReport, Range, RenderCheck, Verdict as Outcome, VerifyReport};
use promote_core::image::ImageRef;

use super::Ctx;
use crate::Exit;
use crate::cli::VerifyArgs;
use crate::output::{BOLD, CYAN, DIM, GREEN, RED, YELLOW};

pub fn verify(ctx: &Ctx<'_>, args: &VerifyArgs) -> anyhow::Result<Exit> {
    let range = match (&args.rev, args.pr) {
        (_, Some(n)) => Range::Pr(n),
        (Some(rev), None) => Range::Rev(rev.clone()),
        (None, None) => Range::Head,
    };
    let ports = ctx.judging_ports(args.save_requests.as_deref())?;
    let images = ctx.image_mode(args.skip_image_check, false);
    let report = promote::verify::run(&ports, &range, images, ctx)?;
    if ctx.shell.is_text() {
        print(ctx, &report)?;
    }
    ctx.shell.document("VerifyResult", &report)?;
    Ok(match report.result {
        Outcome::Unchanged | Outcome::Allowed => Exit::Ok,
        Outcome::Denied => Exit::Denied,
        Outcome::AwaitingApproval => Exit::WaitingForApproval,
        Outcome::Error => Exit::Error,
    })
}

fn print(ctx: &Ctx<'_>, r: &VerifyReport) -> anyhow::Result<()> {
    let shell = ctx.shell;
    shell.out(format!(
        "{BOLD}verify{BOLD:#} {} ({}), compared with {}",
        r.range, r.source, r.compared_with
    ))?;
    shell.out(format!(
        "config: {} — a change's own promote.yaml and policy modules are never used",
        r.config
    ))?;
    if r.config_changed {
        shell.out(format!("{YELLOW}note:{YELLOW:#} this change edits promote.yaml; it was not used here and takes effect once merged"))?;
    }
    if r.environments.is_empty() {
        shell.out("no environment changed: nothing to verify")?;
        return Ok(());
    }
    for e in &r.environments {
        shell.out("")?;
        env_text(ctx, e)?;
    }
    shell.out("")?;
    let (style, text) = outcome_text(r.result);
    shell.out(format!("result: {style}{text}{style:#}"))?;
    Ok(())
}

fn env_text(ctx: &Ctx<'_>, e: &EnvReport) -> anyhow::Result<()> {
    let shell = ctx.shell;
    let from = super::promote::from_note(e.from.as_deref());
    match &e.version {
        Some(v) => shell.out(format!(
            "{BOLD}{}{BOLD:#}: {} → {BOLD}{v}{BOLD:#}{from}, {}",
            e.environment,
            e.previous_version.as_deref().unwrap_or("mixed"),
            e.overlay_file
        ))?,
        None => shell.out(format!(
            "{BOLD}{}{BOLD:#}: no image changes, {}{from}",
            e.environment, e.overlay_file
        ))?,
    }
    if !e.images.is_empty() {
        // An image the overlay did not pin before is new here.
        let from = |r: &ImageRef| {
            if r.tag.is_none() && r.digest.is_none() {
                "(added)".to_owned()
            } else {
                r.to_string()
            }
        };
        let table = super::promote::image_table(&e.images, from);
        shell.out(table.strip_suffix('\n').unwrap_or(&table))?;
    }
    for name in &e.removed_images {
        shell.out(format!("  {YELLOW}removed{YELLOW:#} {name}"))?;
    }
    if let Some(r) = &e.rendered {
        for line in super::promote::rendered_text(r, "images:").lines() {
            shell.out(line)?;
        }
    }
    match &e.render {
        RenderCheck::Ok(r) => shell.out(format!(
            "render: {GREEN}ok{GREEN:#} ({}, {} resources{})",
            r.program,
            r.resources,
            if r.cached { ", cached" } else { "" }
        ))?,
        RenderCheck::Failed { message } => {
            shell.out(format!("render: {RED}failed{RED:#}\n{message}"))?
        }
    }
    if let Some(diff) = &e.render_diff {
        super::render_diff::print(shell, "rendered diff", diff, crate::cli::DiffLevel::Summary)?;
    }
    if let Some(chain) = &e.supply_chain {
        let text = super::promote::supply_chain_text(chain);
        for line in text.lines() {
            shell.out(line)?;
        }
    }
    match &e.policy {
        Some(v) => {
            for line in super::promote::policy_text(v).lines() {
                shell.out(line)?;
            }
        }
        None if e.images.is_empty() && e.error.is_none() => shell
            .out("policies: not run (no image changes, in images: or in the rendered workloads)")?,
        None if e.error.is_none() => shell.out("policies: none configured for this environment")?,
        None => {}
    }
    // A render failure was printed with the render line; other errors (policies that could
    // not be loaded) get their own.
    if let Some(err) = &e.error
        && !matches!(&e.render, RenderCheck::Failed { message } if message == err)
    {
        shell.out(format!("{RED}error:{RED:#} {err}"))?;
    }
    let (style, text) = outcome_text(e.result);
    shell.out(format!("{}: {style}{text}{style:#}", e.environment))?;
    Ok(())
}

fn outcome_text(o: Outcome) -> (anstyle::Style, &'static str) {
    match o {
        Outcome::Unchanged => (DIM, "no environment changed"),
        Outcome::Allowed => (GREEN, "allowed"),
        Outcome::AwaitingApproval => (CYAN, "approvals missing"),
        Outcome::Denied => (RED, "denied by policy"),
        Outcome::Error => (RED, "error"),
    }
}
