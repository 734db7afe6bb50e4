//! `kubectl promote ENV VERSION | ENV --from UPSTREAM`: flags to a [`promotion::Request`], the
//! use case, and its outcome as text or a `PromotionResult` document and an exit code. A revert
//! (`rollback --strategy revert`) lands the same way and is shown by the same functions.

use std::collections::BTreeMap;

use anyhow::Context as _;

use promote::after_deploy::AfterDeploy;
use promote::deploy::Deployment;
use promote::plan::{Landed, OpenedPr, Plan};
use promote::promotion::{self, Outcome, PromoteRequest, TargetSpec, Verdict};
use promote::rendered::PlanComparison;
use promote::waves;
use promote_core::image::{ImageChange, ImageRef};

use super::wait::{Followed, short};
use super::{Ctx, check_env, check_version, usage};
use crate::Exit;
use crate::cli::{DiffLevel, PromoteArgs};
use crate::output::{BOLD, CYAN, DIM, GREEN, RED, Shell, YELLOW, color_diff};

pub fn promote(ctx: &Ctx<'_>, args: &PromoteArgs) -> anyhow::Result<Exit> {
    let req = request(ctx, args)?;
    ctx.diff.set(args.diff.unwrap_or(if args.dry_run {
        DiffLevel::Full
    } else {
        DiffLevel::Summary
    }));
    let ports = ctx.judging_ports(args.save_requests.as_deref())?;
    match waves::promote(&ports, req, args.resume_waves, ctx)? {
        waves::Promoted::One(outcome) => show(ctx, *outcome, "PromotionResult"),
        waves::Promoted::Waves(out) => super::waves::show(ctx, out, &|o| show_text(ctx, o)),
    }
}

/// The promotion the flags ask for, checked before anything is fetched.
fn request(ctx: &Ctx<'_>, args: &PromoteArgs) -> anyhow::Result<promotion::Request> {
    let env_name = args.env.clone().context("ENV is required")?;
    for name in env_name.split(',') {
        check_env("ENV", name)?;
    }
    let mut checks = Vec::new();
    for c in &args.check {
        checks.push(promote_core::config::parse_check(c).map_err(|e| usage(e.to_string()))?);
    }
    let after = AfterDeploy {
        checks,
        soak: args.soak,
        rollback_on_failure: args.rollback_on_failure,
    };
    // The checks and the rollback on failure follow the deploy: they need the wait.
    let wait = args
        .wait
        .or_else(|| after.needs_wait().then_some(waves::DEFAULT_WAIT));
    let target = target_spec(args.version.as_deref(), args.from.as_deref())
        .ok_or_else(|| usage("give either VERSION or --from UPSTREAM"))??;
    let mut digests = BTreeMap::new();
    for d in &args.digest {
        let (name, digest) = d
            .split_once('=')
            .ok_or_else(|| usage(format!("--digest {d}: expected IMAGE=sha256:…")))?;
        digests.insert(name.to_owned(), digest.to_owned());
    }
    let author = args.land.author().map_err(usage)?;
    Ok(promotion::Request {
        change: PromoteRequest {
            env: env_name,
            target,
            only: args.only.clone(),
            digests,
            drop_digests: args.drop_digest,
            mode: args.land.mode(),
            message: args.land.message.clone(),
            author,
        },
        images: ctx.image_mode(args.land.skip_image_check, args.pin_digests),
        dry_run: args.dry_run,
        yes: args.land.yes,
        wait,
        resume: args.resume,
        override_reason: args.land.override_reason(),
        after,
        wave: None,
        apps: apps_selection(ctx.global.app.as_deref(), args.all_apps)?,
    })
}

/// `--all-apps` (every app) or `--app a,'b-*'` (a list or a pattern): several apps in one
/// commit. One plain name is not a selection: it scopes the session like any command's.
fn apps_selection(app: Option<&str>, all: bool) -> anyhow::Result<Option<Vec<String>>> {
    if all {
        return Ok(Some(Vec::new()));
    }
    let Some(app) = app.filter(|a| super::is_app_pattern(a)) else {
        return Ok(None);
    };
    let patterns: Vec<String> = app.split(',').map(|p| p.trim().to_owned()).collect();
    if let Some(bad) = patterns.iter().find(|p| {
        p.is_empty() || !promote_core::config::valid_app_name(&p.replace(['*', '?'], "x"))
    }) {
        return Err(usage(format!(
            "--app {app}: `{bad}` is not an app name or pattern; use {} with `*` and `?` as wildcards, separated by commas",
            promote_core::config::APP_NAME_RULE
        )));
    }
    Ok(Some(patterns))
}

/// VERSION or `--from UPSTREAM`, checked; `None` when neither (or both) is given.
pub(super) fn target_spec(
    version: Option<&str>,
    from: Option<&str>,
) -> Option<anyhow::Result<TargetSpec>> {
    Some(match (version, from) {
        (Some(v), None) => check_version("VERSION", v).map(|()| TargetSpec::Version(v.to_owned())),
        (None, Some(f)) => check_env("--from", f).map(|()| TargetSpec::From(f.to_owned())),
        _ => return None,
    })
}

/// A promotion's (or a revert's) outcome: the text the landing did not print already, the
/// document as `kind`, then what Argo CD did; and the exit code.
pub(super) fn show(ctx: &Ctx<'_>, outcome: Outcome, kind: &'static str) -> anyhow::Result<Exit> {
    if let Some(doc) = outcome.document(kind) {
        ctx.shell.document(kind, &doc)?;
    }
    show_text(ctx, outcome)
}

/// [`show`] without the document: the text and the exit code.
pub(super) fn show_text(ctx: &Ctx<'_>, outcome: Outcome) -> anyhow::Result<Exit> {
    let shell = ctx.shell;
    if shell.is_text() {
        print_outcome(shell, &outcome, ctx.diff.get())?;
    }
    let exit = match outcome {
        Outcome::AlreadyAt(_) => Exit::Ok,
        Outcome::NotConfirmed(_) => Exit::Error,
        Outcome::DryRun(plan) => match Verdict::of(&plan) {
            Verdict::Denied => Exit::Denied,
            Verdict::AwaitingApproval => Exit::WaitingForApproval,
            Verdict::Allowed => Exit::Ok,
        },
        Outcome::Denied(_) => Exit::Denied,
        Outcome::AwaitingApproval(_) => Exit::WaitingForApproval,
        Outcome::Landed(d) => {
            let exit = match &d.landed {
                Landed::PrAwaitingApproval(_) => Exit::WaitingForApproval,
                Landed::BranchPushed { approvals, .. } if !approvals.is_met() => {
                    Exit::WaitingForApproval
                }
                Landed::PrClosedUnmerged(_) => Exit::Error,
                _ => Exit::Ok,
            };
            let followed = if d.auto_rollback.is_some() {
                Followed::DeployRolledBack
            } else {
                Followed::Deploy
            };
            // The wait's line first, then the checks and the rollback that followed it.
            let argo = match &d.deployment {
                Some(Ok(deployment)) => Some(deployment_exit(
                    shell,
                    &d.plan.environment,
                    deployment,
                    followed,
                )?),
                _ => None,
            };
            let after = super::verify_deploy::report(shell, &d)?;
            if let Some(deployment) = d.deployment {
                // An error after the push (the Argo CD step failed) is the command's error.
                deployment?;
                let argo = argo.unwrap_or(Exit::Ok);
                if exit == Exit::Ok {
                    return Ok(if argo == Exit::Ok { after } else { argo });
                }
            }
            if let Landed::PrClosedUnmerged(pr) = &d.landed {
                shell.err_text(&format!("{RED}error:{RED:#} pull request #{} was closed without being merged: the promotion did not land ({})\n", pr.number, pr.url));
            }
            exit
        }
    };
    Ok(exit)
}

/// What Argo CD did after the landing, as an exit code (and the wait's lines).
fn deployment_exit(
    shell: &Shell,
    env: &str,
    deployment: &Deployment,
    followed: Followed,
) -> anyhow::Result<Exit> {
    match deployment {
        Deployment::NoApp | Deployment::Refreshed => Ok(Exit::Ok),
        Deployment::Waited { app, waited } => {
            super::wait::report_wait(shell, env, app, waited, followed)
        }
        // Several apps: each app's line; the exit code is the worst app's.
        Deployment::Apps { apps } => {
            let mut worst = Exit::Ok;
            for a in apps {
                let exit = match (&a.deployment, &a.error) {
                    (Some(d), _) => deployment_exit(shell, env, d, followed)?,
                    (None, Some(e)) => {
                        shell.warn(&format!("{}: the Argo CD step failed: {e}", a.app));
                        Exit::Error
                    }
                    (None, None) => Exit::Ok,
                };
                if exit as i32 > worst as i32 {
                    worst = exit;
                }
            }
            Ok(worst)
        }
    }
}

/// The text of an outcome that the landing milestone did not print.
fn print_outcome(shell: &Shell, outcome: &Outcome, level: DiffLevel) -> anyhow::Result<()> {
    match outcome {
        Outcome::AlreadyAt(a) => {
            let v = a.version.as_deref().unwrap_or("the requested images");
            shell.out(format!(
                "{} already runs {v}: nothing to do ({} at {})",
                a.environment, a.overlay_file, a.at
            ))?;
        }
        Outcome::DryRun(plan) => {
            print_plan(shell, plan, (true, level))?;
            shell.out(format!(
                "{DIM}dry run: nothing was committed or pushed{DIM:#}"
            ))?;
        }
        Outcome::Denied(plan) => {
            print_plan(shell, plan, (false, level))?;
            shell.out(format!(
                "{RED}denied by policy{RED:#}: nothing was committed or pushed"
            ))?;
        }
        Outcome::AwaitingApproval(plan) => {
            print_plan(shell, plan, (false, level))?;
            shell.out(format!("{CYAN}waiting for approval{CYAN:#}: nothing was pushed. Record it with `kubectl promote approve ENV VERSION --role ROLE`, or promote with --pr to collect it in a pull request"))?;
        }
        Outcome::NotConfirmed(_) | Outcome::Landed(_) => {}
    }
    Ok(())
}

/// The plan and how it landed, printed when the commit lands (before any wait for Argo CD).
pub(super) fn print_landed(
    (shell, level): (&Shell, DiffLevel),
    plan: &Plan,
    landed: &Landed,
    remote: &str,
    base_branch: &str,
) -> anyhow::Result<()> {
    print_plan(shell, plan, (false, level))?;
    match landed {
        Landed::Pushed { commit, branch, .. } => {
            shell.out(format!(
                "{GREEN}pushed{GREEN:#} {} to {remote}/{branch}",
                &commit[..7],
            ))?;
        }
        Landed::BranchPushed {
            commit,
            branch,
            compare_url,
            approvals,
        } => {
            shell.out(format!(
                "{GREEN}pushed branch{GREEN:#} {branch} ({})",
                &commit[..7]
            ))?;
            match compare_url {
                Some(url) => shell.out(format!("open the pull request: {url}"))?,
                None => shell.out(format!(
                    "open a pull request from {branch} into {base_branch}"
                ))?,
            }
            for m in &approvals.met {
                shell.out(format!("  {GREEN}✓{GREEN:#} {}", m.describe()))?;
            }
            for m in &approvals.missing {
                shell.out(format!("  {RED}✗{RED:#} {}", m.describe()))?;
            }
            if !approvals.is_met() {
                shell.out(
                    "waiting for approvals: approval records are missing (without a forge token the pull request's reviews cannot be counted)",
                )?;
            }
        }
        Landed::PrOpen(pr)
        | Landed::PrAwaitingApproval(pr)
        | Landed::PrMerged(pr)
        | Landed::PrClosedUnmerged(pr) => print_pr(shell, landed, pr)?,
    }
    Ok(())
}

fn print_pr(shell: &Shell, landed: &Landed, pr: &OpenedPr) -> anyhow::Result<()> {
    let verb = pr.action.verb();
    shell.out(format!(
        "{GREEN}{verb}{GREEN:#} pull request #{} from {} ({}): {}",
        pr.number,
        pr.branch,
        &pr.commit[..7],
        pr.url
    ))?;
    for old in &pr.superseded {
        shell.out(format!(
            "  closed #{} (superseded): {}",
            old.number, old.url
        ))?;
    }
    for m in &pr.approvals.met {
        shell.out(format!("  {GREEN}✓{GREEN:#} {}", m.describe()))?;
    }
    for m in &pr.approvals.missing {
        shell.out(format!("  {RED}✗{RED:#} {}", m.describe()))?;
    }
    match landed {
        Landed::PrAwaitingApproval(_) => {
            shell.out("waiting for approvals: the pull request is open with reviewers requested")?
        }
        Landed::PrMerged(_) => shell.out(format!(
            "{GREEN}merged{GREEN:#} pull request #{}",
            pr.number
        ))?,
        Landed::PrClosedUnmerged(_) => shell.out(format!(
            "{RED}closed unmerged{RED:#}: pull request #{}",
            pr.number
        ))?,
        _ => {}
    }
    Ok(())
}

pub(super) fn plan_text(plan: &Plan) -> String {
    let mut s = format!(
        "{BOLD}{}{BOLD:#}: {} → {BOLD}{}{BOLD:#}{}, {} mode\n",
        plan.environment,
        plan.previous_version.as_deref().unwrap_or("(no tag)"),
        plan.version.as_deref().unwrap_or("mixed"),
        from_note(plan.from.as_deref()),
        plan.mode
    );
    s.push_str(&image_table(&plan.images, ToString::to_string));
    s.push_str(&format!(
        "render: {GREEN}ok{GREEN:#} ({}, {} resources{})\n",
        plan.render.program,
        plan.render.resources,
        if plan.render.cached { ", cached" } else { "" }
    ));
    match &plan.rendered_images {
        PlanComparison::Compared(r) => s.push_str(&rendered_text(r, "this edit")),
        PlanComparison::OnlyThisEdit { compared_with, .. } => s.push_str(&format!(
            "rendered: only this edit changes what {} renders since {compared_with}\n",
            plan.environment
        )),
        PlanComparison::PerApp => s.push_str("rendered: each app's render compared on its own\n"),
        PlanComparison::Unreadable { message } => s.push_str(&format!(
            "{YELLOW}rendered images not compared: the render's output could not be read:{YELLOW:#} {message}\n"
        )),
    }
    s.push_str(&image_check_text(&plan.image_check));
    s.push_str(&supply_chain_text(&plan.supply_chain));
    match &plan.policy {
        None => s.push_str("policies: none configured for this environment\n"),
        Some(v) => s.push_str(&policy_text(v)),
    }
    s
}

/// The rendered-image comparison: a summary line, then every container change that `by` (the
/// `images:` edit) does not explain, flagged (`-o json|yaml` lists them all, each marked).
pub(super) fn rendered_text(r: &promote::rendered::RenderedImages, by: &str) -> String {
    let objects = match r.objects_changed {
        1 => "1 object changes".to_owned(),
        n => format!("{n} objects change"),
    };
    let unexplained: Vec<_> = r.unexplained().collect();
    let images = match (r.containers.len(), unexplained.len()) {
        (0, _) => "no container image changes".to_owned(),
        (n, 0) => format!("{n} container image{} change, all from {by}", plural(n)),
        (n, u) if u == n => format!(
            "{YELLOW}{n} container image{} change, none from {by}{YELLOW:#}",
            plural(n)
        ),
        (n, u) => format!(
            "{n} container image{} change, {YELLOW}{u} not from {by}{YELLOW:#}",
            plural(n)
        ),
    };
    let mut s = format!(
        "rendered: {objects}; {images} (compared with {})\n",
        r.compared_with
    );
    if let Some(e) = &r.baseline_error {
        let first = e.lines().next().unwrap_or_default();
        s.push_str(&format!(
            "  {YELLOW}that tree did not render, so every container counts as new:{YELLOW:#} {first}\n"
        ));
    }
    for c in &unexplained {
        s.push_str(&format!(
            "  {YELLOW}!{YELLOW:#} {} {}: {} → {}\n",
            c.object,
            c.container,
            c.from.as_deref().unwrap_or("(new)"),
            c.to.as_deref().unwrap_or("(removed)")
        ));
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Each policy's verdict, then what is missing or overridden. A policy error is said once,
/// as the error; one that `failurePolicy: Ignore` let pass is marked as ignored, not failed.
pub(super) fn policy_text(v: &promote::gate::PolicyVerdict) -> String {
    use promote::gate::verdict::{Decision, ModuleDecision, OverrideMark};
    let style = match v.decision {
        Decision::Allow => GREEN,
        Decision::Deny => RED,
        Decision::RequireApproval => CYAN,
    };
    let overridden = if v.overridden.is_empty() {
        String::new()
    } else {
        " (a denial was overridden)".to_owned()
    };
    let mut s = format!("policies: {style}{}{style:#}{overridden}\n", v.decision);
    for p in &v.policies {
        let (mark, style) = match (p.decision, p.override_) {
            (_, Some(OverrideMark::Overridden)) => ("!", YELLOW),
            (ModuleDecision::Allow, _) => ("✓", GREEN),
            (ModuleDecision::Deny | ModuleDecision::Error, _) => ("✗", RED),
            (ModuleDecision::Ignored, _) => ("-", YELLOW),
            (ModuleDecision::RequireApproval, _) => ("…", CYAN),
        };
        let label = p.outcome();
        let width = 7.max(label.len());
        s.push_str(&format!(
            "  {style}{mark} {label:<width$}{style:#} {} {DIM}(sha256:{}, {:.1} ms){DIM:#}\n",
            p.origin,
            &p.sha256[..12],
            p.elapsed_ms
        ));
        match (&p.error, p.decision) {
            (Some(e), ModuleDecision::Ignored) => s.push_str(&format!(
                "      {YELLOW}policy error, ignored (failurePolicy: Ignore):{YELLOW:#} {e}\n"
            )),
            (Some(e), _) => s.push_str(&format!("      {RED}policy error:{RED:#} {e}\n")),
            (None, _) => {
                for r in &p.reasons {
                    s.push_str(&format!("      {}: {}\n", r.code, r.message));
                }
            }
        }
        for w in &p.warnings {
            s.push_str(&format!("      warning: {w}\n"));
        }
    }
    if let Some(check) = &v.approvals {
        for m in &check.met {
            s.push_str(&format!(
                "  approval {GREEN}met{GREEN:#}: {}\n",
                m.describe()
            ));
        }
        for m in &check.missing {
            s.push_str(&format!(
                "  approval {CYAN}missing{CYAN:#}: {}\n",
                m.describe()
            ));
        }
    }
    if let Some(o) = &v.override_ {
        let what = if v.overridden.is_empty() {
            "nothing to override"
        } else {
            "denials set aside"
        };
        s.push_str(&format!(
            "  {RED}policy override{RED:#} by {}: {} ({what}; an override never covers missing approvals)\n",
            o.by, o.reason
        ));
    }
    s
}

/// `images: ok (verified …)` with each reference and digest, or who skipped the check.
fn image_check_text(r: &promote_core::registry::ImageCheckReport) -> String {
    use promote_core::registry::ImageCheckReport;
    match r {
        ImageCheckReport::Verified { images, .. } => {
            let mut s = format!("images: {GREEN}ok{GREEN:#} ({})\n", r.summary());
            for i in images {
                let pinned = if i.pinned { " (pinned)" } else { "" };
                s.push_str(&format!(
                    "  {DIM}{} → {}{pinned}{DIM:#}\n",
                    i.reference, i.digest
                ));
            }
            s
        }
        ImageCheckReport::Skipped { .. } => {
            format!("images: {CYAN}not checked{CYAN:#} ({})\n", r.summary())
        }
    }
}

/// `supply chain: verified N signatures (key …)` with a line per image, who skipped it, or
/// nothing when the environment has no `trust:`.
pub(super) fn supply_chain_text(r: &promote_core::supply_chain::SupplyChainReport) -> String {
    use promote_core::supply_chain::SupplyChainReport;
    let Some(summary) = r.summary() else {
        return String::new();
    };
    match r {
        SupplyChainReport::Checked { images, .. } => {
            let mut s = format!("supply chain: {summary}\n");
            for i in images {
                let (on, off) = if i.verified() > 0 {
                    (GREEN, GREEN)
                } else {
                    (YELLOW, YELLOW)
                };
                s.push_str(&format!("  {on}{}{off:#}\n", i.line()));
                for n in &i.notes {
                    s.push_str(&format!("    {DIM}{n}{DIM:#}\n"));
                }
            }
            s
        }
        _ => format!("supply chain: {CYAN}not checked{CYAN:#} ({summary})\n"),
    }
}

/// ` (from UPSTREAM)` after a plan's title, or nothing.
pub(super) fn from_note(from: Option<&str>) -> String {
    from.map(|f| format!(" (from {f})")).unwrap_or_default()
}

/// The IMAGE / FROM / TO table of image changes, a line each; `from` writes the old reference.
pub(super) fn image_table(images: &[ImageChange], from: impl Fn(&ImageRef) -> String) -> String {
    let width = images
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut s = format!(
        "  {DIM}{:width$}  {:20}  {}{DIM:#}\n",
        "IMAGE", "FROM", "TO"
    );
    for c in images {
        s.push_str(&format!(
            "  {:width$}  {RED}{:20}{RED:#}  {GREEN}{}{GREEN:#}\n",
            c.name,
            from(&c.from),
            c.to
        ));
    }
    s
}

/// The release behind the tags: each source range once (images built from one repository and
/// revision share it), its compare link and first commit subjects; then the images whose source
/// is unknown.
fn print_sources(shell: &Shell, plan: &Plan) -> anyhow::Result<()> {
    if plan.sources.is_empty() {
        return Ok(());
    }
    shell.out("release behind the tags:")?;
    let mut groups: Vec<(&promote::release::ImageSource, Vec<&str>)> = Vec::new();
    for s in plan.sources.iter().filter(|s| s.range.is_some()) {
        match groups.iter_mut().find(|(g, _)| g.range == s.range) {
            Some((_, images)) => images.push(&s.image),
            None => groups.push((s, vec![&s.image])),
        }
    }
    for (s, images) in groups {
        let Some(r) = &s.range else { continue };
        shell.out(format!(
            "  {} {}{}: {}",
            r.repo,
            r.short_range(),
            promote_core::source::commit_count(s.total_commits),
            images.join(", ")
        ))?;
        if let Some(url) = &r.compare_url {
            shell.out(format!("    {DIM}{url}{DIM:#}"))?;
        }
        const SHOWN: usize = 5;
        for c in s.commits.iter().take(SHOWN) {
            shell.out(format!(
                "    {} {}",
                &c.sha[..c.sha.len().min(7)],
                c.subject
            ))?;
        }
        let more = s
            .total_commits
            .unwrap_or(0)
            .saturating_sub(SHOWN.min(s.commits.len()));
        if more > 0 {
            shell.out(format!("    {DIM}… and {more} more{DIM:#}"))?;
        }
        if let Some(note) = &s.note {
            shell.out(format!("    {DIM}{note}{DIM:#}"))?;
        }
    }
    for s in plan.sources.iter().filter(|s| s.range.is_none()) {
        shell.out(format!("  {}", s.line()))?;
    }
    Ok(())
}

fn print_plan(
    shell: &Shell,
    plan: &Plan,
    (with_diff, level): (bool, DiffLevel),
) -> anyhow::Result<()> {
    for line in plan_text(plan).lines() {
        shell.out(line)?;
    }
    print_sources(shell, plan)?;
    super::render_diff::print(
        shell,
        &format!("rendered diff against {}", short(&plan.base)),
        &plan.render_diff,
        level,
    )?;
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
