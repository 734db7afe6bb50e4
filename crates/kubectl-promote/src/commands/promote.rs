//! `kubectl promote ENV VERSION | ENV --from UPSTREAM`.

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::Context as _;
use serde::Serialize;

use promote::promote::{Landed, Plan, Prepared, PromoteRequest, TargetSpec};
use promote::rendered::PlanComparison;
use promote_core::config::Mode;
use promote_core::image::{ImageChange, ImageRef};

use super::{Ctx, check_env, check_version, usage};
use crate::Exit;
use crate::cli::PromoteArgs;
use crate::output::{BOLD, CYAN, DIM, GREEN, RED, Shell, YELLOW, color_diff};

/// The JSON/YAML shape of a promotion's result (`kind: PromotionResult`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PromotionResult<'a> {
    /// `dry-run`, `already-at`, `pushed`, `branch-pushed`, `pr-open`, `awaiting-approval`,
    /// `pr-merged`, `pr-closed`.
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
    /// The render's container images against the tree the environment last had (`status`:
    /// `compared`, each change marked as explained by the edit or not; `only-this-edit`;
    /// `unreadable`).
    rendered_images: Option<&'a PlanComparison>,
    commit_message: Option<&'a str>,
    commit: Option<&'a str>,
    branch: Option<&'a str>,
    compare_url: Option<&'a str>,
    /// PR mode with a forge: the pull request, what it superseded, the approvals.
    pull_request: Option<&'a promote::pr::OpenedPr>,
    /// Every policy's verdict and the combined decision (null: no policies configured).
    policy: Option<&'a promote::policy::PolicyVerdict>,
    /// What the registries said about each written image reference, or who skipped the check.
    image_check: Option<&'a promote_core::registry::ImageCheckReport>,
}

pub fn promote(ctx: &Ctx<'_>, args: &PromoteArgs) -> anyhow::Result<Exit> {
    let env_name = args.env.clone().context("ENV is required")?;
    // Checked before the fetch (and the render started meanwhile).
    check_env("ENV", &env_name)?;
    let target = match (&args.version, &args.from) {
        (Some(v), None) => {
            check_version("VERSION", v)?;
            TargetSpec::Version(v.clone())
        }
        (None, Some(f)) => {
            check_env("--from", f)?;
            TargetSpec::From(f.clone())
        }
        _ => return Err(usage("give either VERSION or --from UPSTREAM")),
    };
    let mut digests = BTreeMap::new();
    for d in &args.digest {
        let (name, digest) = d
            .split_once('=')
            .ok_or_else(|| usage(format!("--digest {d}: expected IMAGE=sha256:…")))?;
        digests.insert(name.to_owned(), digest.to_owned());
    }
    let author = args.land.author().map_err(usage)?;
    let req = PromoteRequest {
        env: env_name.clone(),
        target,
        only: args.only.clone(),
        digests,
        drop_digests: args.drop_digest,
        mode: args.land.mode(),
        message: args.land.message.clone(),
        author,
    };

    let mut opts = ctx.open_options(args.dry_run, args.land.override_reason())?;
    opts.images = ctx.image_check(args.land.skip_image_check, args.pin_digests)?;
    opts.warm_policies = true;
    // The render is the slow part and needs only git objects: start it from the last-fetched
    // remote tip while the fetch runs; it is used only if the fetch changed nothing it reads.
    let mut renderer = ctx.renderer();
    renderer.speculation = Some({
        let (opts, req) = (opts.clone(), req.clone());
        promote::render::Speculation::start(renderer.clone(), move || {
            promote::promote::speculate(&opts, &req)
        })
    });
    let mut session = promote::Session::open(&opts, ctx.shell)?;
    // An env rolled back with Argo CD refuses promotions unless --resume (DESIGN step 4).
    super::argo::check_before_promote(ctx, &session, &env_name, args.resume)?;
    super::argo::gather_policy_facts(ctx, &mut session, &env_name, false, false, None);
    let prepared = promote::promote::prepare(&session, &req, &renderer, ctx.shell)?;
    land_with(
        ctx,
        &session,
        &renderer,
        prepared,
        &Landing {
            dry_run: args.dry_run,
            yes: args.land.yes,
            verb: "Promote",
            resume: args.resume,
        },
        args.wait,
    )
}

/// How the shared tail of promote and rollback behaves.
pub(super) struct Landing {
    pub dry_run: bool,
    pub yes: bool,
    /// "Promote" or "Roll back", for the confirmation question.
    pub verb: &'static str,
    /// `--resume`: after the push, turn the env's Argo CD auto-sync back on.
    pub resume: bool,
}

/// Show the plan, confirm on a terminal for protected envs, apply, and report: the part that a
/// promotion and a revert share. `wait`: PR mode waits for the merge, then Argo CD runs the commit.
pub(super) fn land_with(
    ctx: &Ctx<'_>,
    session: &promote::Session,
    renderer: &promote::render::Renderer,
    prepared: Prepared,
    how: &Landing,
    wait: Option<std::time::Duration>,
) -> anyhow::Result<Exit> {
    let shell = ctx.shell;
    let plan = match prepared {
        Prepared::AlreadyAt {
            environment,
            version,
            overlay_file,
        } => {
            let v = version.as_deref().unwrap_or("the requested images");
            if shell.is_text() {
                shell.out(format!(
                    "{environment} already runs {v}: nothing to do ({overlay_file} at {})",
                    session.base_name()
                ))?;
            }
            shell.document(
                "PromotionResult",
                &PromotionResult {
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
                    rendered_images: None,
                    commit_message: None,
                    commit: None,
                    branch: None,
                    compare_url: None,
                    pull_request: None,
                    policy: None,
                    image_check: None,
                },
            )?;
            return Ok(Exit::Ok);
        }
        Prepared::Ready(plan) => plan,
    };
    // The policies' say: a denial stops here (exit 3) unless an override set it aside (where
    // the env allows one and the policy does not refuse it); unmet approvals, which no
    // override covers, stop a direct promotion (exit 4) and make a PR wait for them.
    let verdict = plan.policy.as_ref();
    let denied = verdict.is_some_and(promote::policy::PolicyVerdict::denied);
    let missing: Vec<promote::approvals::RequiredApproval> = verdict
        .and_then(|v| v.approvals.as_ref())
        .map(|c| c.missing.iter().map(|m| m.requirement.clone()).collect())
        .unwrap_or_default();
    let waiting = verdict.is_some_and(promote::policy::PolicyVerdict::awaiting_approval);
    if how.dry_run {
        if shell.is_text() {
            print_plan(shell, &plan, true)?;
            shell.out(format!(
                "{DIM}dry run: nothing was committed or pushed{DIM:#}"
            ))?;
        }
        shell.document(
            "PromotionResult",
            &result_doc(
                if denied {
                    "denied"
                } else if waiting {
                    "awaiting-approval"
                } else {
                    "dry-run"
                },
                &plan,
                None,
            ),
        )?;
        return Ok(if denied {
            Exit::Denied
        } else if waiting {
            Exit::WaitingForApproval
        } else {
            Exit::Ok
        });
    }
    if denied {
        if shell.is_text() {
            print_plan(shell, &plan, false)?;
            shell.out(format!(
                "{RED}denied by policy{RED:#}: nothing was committed or pushed"
            ))?;
        }
        shell.document("PromotionResult", &result_doc("denied", &plan, None))?;
        return Ok(Exit::Denied);
    }
    if waiting && plan.mode == Mode::Direct {
        if shell.is_text() {
            print_plan(shell, &plan, false)?;
            shell.out(format!("{CYAN}waiting for approval{CYAN:#}: nothing was pushed. Record it with `kubectl promote approve ENV VERSION --role ROLE`, or promote with --pr to collect it in a pull request"))?;
        }
        shell.document(
            "PromotionResult",
            &result_doc("awaiting-approval", &plan, None),
        )?;
        return Ok(Exit::WaitingForApproval);
    }
    let env_cfg = session.config.env(&plan.environment)?;
    if env_cfg.protected && ctx.env.interactive && !how.yes {
        shell.err_text(&plan_text(&plan));
        if !confirm(
            shell,
            &format!(
                "{} {} to {}?",
                how.verb,
                plan.environment,
                plan.version.as_deref().unwrap_or("mixed")
            ),
        )? {
            shell.warn("not confirmed; nothing was committed or pushed");
            return Ok(Exit::Error);
        }
    }
    // PR mode talks to the forge when there is a token; without one the branch is pushed and
    // the compare URL printed. `--wait` needs the forge, so that is checked before any push.
    let connection = match plan.mode {
        Mode::Pr => Some(super::approve::connect(ctx, session)?),
        Mode::Direct => None,
    };
    if let Some(why) = connection.as_ref().and_then(|c| c.why_not()) {
        if wait.is_some() {
            anyhow::bail!(
                "--wait in PR mode waits for the merge on the forge, and there is none: {why}. Set the token (forge.tokenEnv in promote.yaml names the variable) or drop --wait; nothing was pushed"
            );
        }
        shell.status(&format!("pushing the branch only: {why}"));
    }
    let pr_options = promote::pr::PrOptions {
        forge: connection.as_ref().and_then(|c| c.forge()),
        // Required approvals the records on file do not meet: the PR collects them.
        required: if waiting { missing } else { Vec::new() },
        wait: wait.map(promote::pr::MergeWait::polite),
        policy_report: plan
            .policy
            .as_ref()
            .map(promote::policy::PolicyVerdict::markdown),
    };
    let landed = promote::promote::apply_with(session, &plan, renderer, &pr_options, ctx)?;
    if shell.is_text() {
        print_plan(shell, &plan, false)?;
        match &landed {
            Landed::Pushed { commit, branch, .. } => {
                shell.out(format!(
                    "{GREEN}pushed{GREEN:#} {} to {}/{branch}",
                    &commit[..7],
                    session.remote
                ))?;
            }
            Landed::BranchPushed {
                commit,
                branch,
                compare_url,
            } => {
                shell.out(format!(
                    "{GREEN}pushed branch{GREEN:#} {branch} ({})",
                    &commit[..7]
                ))?;
                match compare_url {
                    Some(url) => shell.out(format!("open the pull request: {url}"))?,
                    None => shell.out(format!(
                        "open a pull request from {branch} into {}",
                        session.base_branch
                    ))?,
                }
            }
            Landed::PrOpen(pr)
            | Landed::PrAwaitingApproval(pr)
            | Landed::PrMerged(pr)
            | Landed::PrClosedUnmerged(pr) => print_pr(shell, &landed, pr)?,
        }
    }
    let (result, exit) = match &landed {
        Landed::Pushed { .. } => ("pushed", Exit::Ok),
        Landed::BranchPushed { .. } => ("branch-pushed", Exit::Ok),
        Landed::PrOpen(_) => ("pr-open", Exit::Ok),
        Landed::PrAwaitingApproval(_) => ("awaiting-approval", Exit::WaitingForApproval),
        Landed::PrMerged(_) => ("pr-merged", Exit::Ok),
        Landed::PrClosedUnmerged(_) => ("pr-closed", Exit::Error),
    };
    shell.document("PromotionResult", &result_doc(result, &plan, Some(&landed)))?;
    // After every push to the base branch: Argo CD refreshes; with --wait it runs the commit.
    let on_base = match &landed {
        Landed::Pushed { commit, .. } => Some(commit.clone()),
        Landed::PrMerged(_) => {
            session.repo.fetch(&session.remote)?;
            session
                .repo
                .remote_tip(&session.remote, &session.base_branch)?
                .map(|c| c.to_string())
        }
        _ => None,
    };
    if let Some(commit) = on_base {
        ctx.env.pause_at("after-push-before-refresh");
        let argo = super::argo::after_landing(
            ctx,
            session,
            renderer,
            &plan.environment,
            &commit,
            wait,
            how.resume,
        )?;
        if exit == Exit::Ok {
            return Ok(argo);
        }
    }
    if let Landed::PrClosedUnmerged(pr) = &landed {
        shell.err_text(&format!("{RED}error:{RED:#} pull request #{} was closed without being merged: the promotion did not land ({})\n", pr.number, pr.url));
    }
    Ok(exit)
}

fn print_pr(shell: &Shell, landed: &Landed, pr: &promote::pr::OpenedPr) -> anyhow::Result<()> {
    let verb = if pr.created { "opened" } else { "updated" };
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

fn result_doc<'a>(
    result: &'static str,
    plan: &'a Plan,
    landed: Option<&'a Landed>,
) -> PromotionResult<'a> {
    let (commit, branch, compare_url) = match landed {
        Some(Landed::Pushed { commit, branch, .. }) => {
            (Some(commit.as_str()), Some(branch.as_str()), None)
        }
        Some(Landed::BranchPushed {
            commit,
            branch,
            compare_url,
        }) => (
            Some(commit.as_str()),
            Some(branch.as_str()),
            compare_url.as_deref(),
        ),
        Some(
            Landed::PrOpen(pr)
            | Landed::PrAwaitingApproval(pr)
            | Landed::PrMerged(pr)
            | Landed::PrClosedUnmerged(pr),
        ) => (Some(pr.commit.as_str()), Some(pr.branch.as_str()), None),
        None => (None, None, None),
    };
    let pull_request = match landed {
        Some(
            Landed::PrOpen(pr)
            | Landed::PrAwaitingApproval(pr)
            | Landed::PrMerged(pr)
            | Landed::PrClosedUnmerged(pr),
        ) => Some(pr),
        _ => None,
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
        rendered_images: Some(&plan.rendered_images),
        commit_message: Some(&plan.commit_message),
        commit,
        branch,
        compare_url,
        pull_request,
        policy: plan.policy.as_ref(),
        image_check: Some(&plan.image_check),
    }
}

fn plan_text(plan: &Plan) -> String {
    let mut s = String::new();
    let from = plan
        .from
        .as_deref()
        .map(|f| format!(" (from {f})"))
        .unwrap_or_default();
    s.push_str(&format!(
        "{BOLD}{}{BOLD:#}: {} → {BOLD}{}{BOLD:#}{from}, {} mode\n",
        plan.environment,
        plan.previous_version.as_deref().unwrap_or("(no tag)"),
        plan.version.as_deref().unwrap_or("mixed"),
        plan.mode
    ));
    let width = plan
        .images
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    s.push_str(&format!(
        "  {DIM}{:width$}  {:20}  {}{DIM:#}\n",
        "IMAGE", "FROM", "TO"
    ));
    for c in &plan.images {
        s.push_str(&format!(
            "  {:width$}  {RED}{:20}{RED:#}  {GREEN}{}{GREEN:#}\n",
            c.name,
            fmt_ref(&c.from),
            fmt_ref(&c.to)
        ));
    }
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
        PlanComparison::Unreadable { message } => s.push_str(&format!(
            "{YELLOW}rendered images not compared: the render's output could not be read:{YELLOW:#} {message}\n"
        )),
    }
    s.push_str(&image_check_text(&plan.image_check));
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
pub(super) fn policy_text(v: &promote::policy::PolicyVerdict) -> String {
    let style = match v.decision.as_str() {
        "allow" => GREEN,
        "deny" => RED,
        _ => CYAN,
    };
    let overridden = if v.overridden.is_empty() {
        String::new()
    } else {
        " (a denial was overridden)".to_owned()
    };
    let mut s = format!("policies: {style}{}{style:#}{overridden}\n", v.decision);
    for p in &v.policies {
        let (mark, style) = match (p.decision.as_str(), p.override_) {
            (_, Some("overridden")) => ("!", YELLOW),
            ("allow", _) => ("✓", GREEN),
            ("deny" | "error", _) => ("✗", RED),
            ("ignored", _) => ("-", YELLOW),
            _ => ("…", CYAN),
        };
        let label = p.outcome();
        let width = 7.max(label.len());
        s.push_str(&format!(
            "  {style}{mark} {label:<width$}{style:#} {} {DIM}(sha256:{}, {:.1} ms){DIM:#}\n",
            p.origin,
            &p.sha256[..12],
            p.elapsed_ms
        ));
        match (&p.error, p.decision.as_str()) {
            (Some(e), "ignored") => s.push_str(&format!(
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

pub(super) fn confirm(shell: &Shell, question: &str) -> anyhow::Result<bool> {
    shell.err_text(&format!("{question} [y/N] "));
    shell.flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}
