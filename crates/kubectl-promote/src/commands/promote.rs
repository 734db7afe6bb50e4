//! `kubectl promote ENV VERSION | ENV --from UPSTREAM`.

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::Context as _;
use serde::Serialize;

use promote::promote::{Landed, Plan, Prepared, PromoteRequest, TargetSpec};
use promote_core::config::Mode;
use promote_core::image::{ImageChange, ImageRef};
use promote_core::Person;

use super::{usage, Ctx};
use crate::cli::PromoteArgs;
use crate::output::{color_diff, Shell, BOLD, CYAN, DIM, GREEN, RED};
use crate::Exit;

/// The JSON/YAML shape of a promotion's result (`kind: PromotionResult`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PromotionResult<'a> {
    /// `dry-run`, `already-at`, `pushed`, `branch-pushed`.
    result: &'static str,
    environment: &'a str,
    from: Option<&'a str>,
    version: Option<&'a str>,
    previous_version: Option<&'a str>,
    mode: Option<Mode>,
    overlay: &'a str,
    images: &'a [ImageChange],
    diff: Option<&'a str>,
    render: Option<&'a promote::promote::RenderReport>,
    commit_message: Option<&'a str>,
    commit: Option<&'a str>,
    branch: Option<&'a str>,
    compare_url: Option<&'a str>,
}

pub fn promote(ctx: &Ctx<'_>, args: &PromoteArgs) -> anyhow::Result<Exit> {
    let env_name = args.env.clone().context("ENV is required")?;
    let target = match (&args.version, &args.from) {
        (Some(v), None) => TargetSpec::Version(v.clone()),
        (None, Some(f)) => TargetSpec::From(f.clone()),
        _ => return Err(usage("give either VERSION or --from UPSTREAM")),
    };
    let mut digests = BTreeMap::new();
    for d in &args.digest {
        let (name, digest) = d.split_once('=').ok_or_else(|| usage(format!("--digest {d}: expected IMAGE=sha256:…")))?;
        digests.insert(name.to_owned(), digest.to_owned());
    }
    let author = args.author.as_deref().map(str::parse::<Person>).transpose().map_err(|e| usage(format!("--author: {e}")))?;
    let mode = if args.pr { Some(Mode::Pr) } else if args.direct { Some(Mode::Direct) } else { None };
    let req = PromoteRequest { env: env_name.clone(), target, only: args.only.clone(), digests, drop_digests: args.drop_digest, mode, message: args.message.clone(), author };

    let session = ctx.open()?;
    let renderer = ctx.renderer();
    let shell = ctx.shell;
    let prepared = promote::promote::prepare(&session, &req, &renderer, shell)?;
    let plan = match prepared {
        Prepared::AlreadyAt { environment, version, overlay_file } => {
            let v = version.as_deref().unwrap_or("the requested images");
            if shell.is_text() {
                shell.out(format!("{environment} already runs {v}: nothing to do ({overlay_file} at {})", session.base_name()))?;
            }
            shell.document("PromotionResult", &PromotionResult {
                result: "already-at",
                environment: &environment,
                from: None,
                version: version.as_deref(),
                previous_version: version.as_deref(),
                mode: None,
                overlay: &overlay_file,
                images: &[],
                diff: None,
                render: None,
                commit_message: None,
                commit: None,
                branch: None,
                compare_url: None,
            })?;
            return Ok(Exit::Ok);
        }
        Prepared::Ready(plan) => plan,
    };
    if args.dry_run {
        if shell.is_text() {
            print_plan(shell, &plan, true)?;
            shell.out(format!("{DIM}dry run: nothing was committed or pushed{DIM:#}"))?;
        }
        shell.document("PromotionResult", &result_doc("dry-run", &plan, None))?;
        return Ok(Exit::Ok);
    }
    let env_cfg = session.config.env(&env_name)?;
    if env_cfg.protected && ctx.env.interactive && !args.yes {
        shell.err_text(&plan_text(&plan));
        if !confirm(shell, &format!("Promote {} to {}?", plan.environment, plan.version.as_deref().unwrap_or("mixed")))? {
            shell.warn("not confirmed; nothing was committed or pushed");
            return Ok(Exit::Error);
        }
    }
    let landed = promote::promote::apply(&session, &plan, &renderer, shell)?;
    if shell.is_text() {
        print_plan(shell, &plan, false)?;
        match &landed {
            Landed::Pushed { commit, branch, .. } => {
                shell.out(format!("{GREEN}pushed{GREEN:#} {} to {}/{branch}", &commit[..7], session.remote))?;
            }
            Landed::BranchPushed { commit, branch, compare_url } => {
                shell.out(format!("{GREEN}pushed branch{GREEN:#} {branch} ({})", &commit[..7]))?;
                match compare_url {
                    Some(url) => shell.out(format!("open the pull request: {url}"))?,
                    None => shell.out(format!("open a pull request from {branch} into {}", session.base_branch))?,
                }
            }
        }
    }
    shell.document("PromotionResult", &result_doc(match landed { Landed::Pushed { .. } => "pushed", Landed::BranchPushed { .. } => "branch-pushed" }, &plan, Some(&landed)))?;
    Ok(Exit::Ok)
}

fn result_doc<'a>(result: &'static str, plan: &'a Plan, landed: Option<&'a Landed>) -> PromotionResult<'a> {
    let (commit, branch, compare_url) = match landed {
        Some(Landed::Pushed { commit, branch, .. }) => (Some(commit.as_str()), Some(branch.as_str()), None),
        Some(Landed::BranchPushed { commit, branch, compare_url }) => (Some(commit.as_str()), Some(branch.as_str()), compare_url.as_deref()),
        None => (None, None, None),
    };
    PromotionResult {
        result,
        environment: &plan.environment,
        from: plan.from.as_deref(),
        version: plan.version.as_deref(),
        previous_version: plan.previous_version.as_deref(),
        mode: Some(plan.mode),
        overlay: &plan.overlay_file,
        images: &plan.images,
        diff: Some(&plan.diff),
        render: Some(&plan.render),
        commit_message: Some(&plan.commit_message),
        commit,
        branch,
        compare_url,
    }
}

fn plan_text(plan: &Plan) -> String {
    let mut s = String::new();
    let from = plan.from.as_deref().map(|f| format!(" (from {f})")).unwrap_or_default();
    s.push_str(&format!(
        "{BOLD}{}{BOLD:#}: {} → {BOLD}{}{BOLD:#}{from}, {} mode\n",
        plan.environment,
        plan.previous_version.as_deref().unwrap_or("(no tag)"),
        plan.version.as_deref().unwrap_or("mixed"),
        plan.mode
    ));
    let width = plan.images.iter().map(|c| c.name.len()).max().unwrap_or(5).max(5);
    s.push_str(&format!("  {DIM}{:width$}  {:20}  {}{DIM:#}\n", "IMAGE", "FROM", "TO"));
    for c in &plan.images {
        s.push_str(&format!("  {:width$}  {RED}{:20}{RED:#}  {GREEN}{}{GREEN:#}\n", c.name, fmt_ref(&c.from), fmt_ref(&c.to)));
    }
    s.push_str(&format!(
        "render: {GREEN}ok{GREEN:#} ({}, {} resources{})\n",
        plan.render.program,
        plan.render.resources,
        if plan.render.cached { ", cached" } else { "" }
    ));
    s.push_str("policies: none configured for this environment\n");
    s
}

fn fmt_ref(r: &ImageRef) -> String {
    r.to_string()
}

fn print_plan(shell: &Shell, plan: &Plan, with_diff: bool) -> anyhow::Result<()> {
    for line in plan_text(plan).lines() {
        shell.out(line)?;
    }
    if with_diff {
        shell.out("")?;
        for line in color_diff(&plan.diff).lines() {
            shell.out(line)?;
        }
        shell.out("")?;
        shell.out(format!("{CYAN}commit message:{CYAN:#}"))?;
        for line in plan.commit_message.lines() {
            shell.out(format!("  {line}"))?;
        }
    }
    Ok(())
}

fn confirm(shell: &Shell, question: &str) -> anyhow::Result<bool> {
    shell.err_text(&format!("{question} [y/N] "));
    shell.flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

