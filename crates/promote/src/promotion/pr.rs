//! PR mode of a promotion (DESIGN step 6): the branch `promote/ENV/VERSION`, the pull request
//! on the forge (title, body with the image table, the render check, the policy report and the
//! approvals checklist; the environment's reviewers and labels), the approvals check against the
//! records and the pull request's reviews, and `--wait` for the merge.
//!
//! The forge comes in through the [`ForgeConnector`](crate::ports::ForgeConnector) port, built
//! by the binary with the token it read from the variable `ForgeTarget::token_env` names; this
//! crate never reads the environment and never sees a token (the body is built from the plan
//! alone). Without a forge the branch is pushed and the compare URL is returned, so a person
//! opens the pull request.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use promote_core::forge::{
    self, Forge, ForgeError, NewPullRequest, PrEdit, PrQuery, PrState, PullRequest, Review,
    ReviewState,
};
use promote_core::image::ImageMap;
use promote_git::{CommitId, PushOutcome};

use super::commit::commit_on;
use super::reviews::{self, ExistingPr, KnownPr};
use crate::approval::{self, ApprovalCheck, RequiredApproval};
use crate::plan::{Landed, OpenedPr, Plan, PrAction, PrRef, RenderDiff, branch_name};
use crate::{Interaction, PromoteError, Session};
use promote_core::render_diff;

/// What PR mode needs besides the plan.
#[derive(Default)]
pub struct PrOptions<'a> {
    /// The forge, when there is a token; `None`: push the branch and return the compare URL.
    pub forge: Option<&'a dyn Forge>,
    /// Approvals the promotion needs (from policies); unmet ones make the outcome
    /// [`Landed::PrAwaitingApproval`] (exit 4) unless waiting for the merge.
    pub required: Vec<RequiredApproval>,
    /// The promotion's open pull request, when it was read before the plan was judged (its
    /// reviews then count here exactly as they did in the verdict); else it is read here.
    pub known: KnownPr,
    /// `--wait`: wait for the merge.
    pub wait: Option<MergeWait>,
    /// The policy report for the body (Markdown); `None` when no policy was evaluated.
    pub policy_report: Option<String>,
}

impl std::fmt::Debug for PrOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrOptions")
            .field("forge", &self.forge.map(|x| x.target().clone()))
            .field("required", &self.required)
            .field("known", &self.known)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// How long to wait for the merge, and how often to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeWait {
    pub timeout: Duration,
    pub interval: Duration,
}

impl MergeWait {
    /// Asks about 30 times over the deadline, but not more than every 2 seconds nor less than
    /// every 15: polite to the forge's rate limits (GitHub: 5000 requests an hour per token)
    /// and still prompt for a person watching.
    pub fn polite(timeout: Duration) -> MergeWait {
        let interval = (timeout / 30).clamp(Duration::from_secs(2), Duration::from_secs(15));
        MergeWait {
            timeout,
            interval: interval.min(timeout.max(Duration::from_millis(100))),
        }
    }
}

/// Pushes the promotion's branch and opens (or reuses) its pull request; see the module docs.
pub(crate) fn land(
    session: &Session,
    plan: &Plan,
    opts: &PrOptions<'_>,
    ui: &dyn Interaction,
) -> Result<Landed, PromoteError> {
    let branch = branch_name(&plan.slot(), plan.version.as_deref());
    // The pull request as it stands, read before anything is pushed (a wrong token, a missing
    // repository or no access fail here); without a token its reviews cannot be read, and a
    // missing approval must not pass as met.
    let existing = match (opts.forge, &opts.known) {
        (None, _) | (Some(_), KnownPr::NoneOpen) => None,
        (Some(forge), KnownPr::Unread) => reviews::read(forge, session, &branch)?,
        (Some(_), KnownPr::Open(existing)) => Some(existing.as_ref().clone()),
    };
    let check = approvals_check(session, plan, opts, existing.as_ref(), ui)?;
    let commit = push_branch(session, plan, &branch, ui)?;
    ui.checkpoint("after-branch-push");
    let Some(forge) = opts.forge else {
        let compare_url = crate::forge::target(session)
            .ok()
            .map(|t| t.compare_url(&session.base_branch, &branch));
        return Ok(Landed::BranchPushed {
            commit: commit.to_string(),
            branch,
            compare_url,
            approvals: check,
        });
    };
    let opening = Opening {
        session,
        plan,
        forge,
        opts,
        commit,
    };
    let opened = open_pull_request(&opening, branch, existing.as_ref(), check, ui)?;
    match opts.wait {
        None if !opened.approvals.is_met() => Ok(Landed::PrAwaitingApproval(opened)),
        None => Ok(Landed::PrOpen(opened)),
        Some(wait) => match wait_for_merge(forge, &opened, wait, ui)? {
            PrState::Merged => Ok(Landed::PrMerged(opened)),
            PrState::Closed => Ok(Landed::PrClosedUnmerged(opened)),
            PrState::Open => {
                unreachable!("wait_for_merge returns only when the pull request is no longer open")
            }
        },
    }
}

/// How the required approvals stand: the approval records and the approvals of the open pull
/// request's reviews (read before the plan was judged, so this is the verdict's count).
fn approvals_check(
    session: &Session,
    plan: &Plan,
    opts: &PrOptions<'_>,
    existing: Option<&ExistingPr>,
    ui: &dyn Interaction,
) -> Result<ApprovalCheck, PromoteError> {
    if opts.required.is_empty() {
        return Ok(ApprovalCheck::default());
    }
    if !plan.apps.is_empty() {
        return apps_approvals_check(session, plan, existing, ui);
    }
    let records = approval::list(session, ui)?.counted;
    let promoted: ImageMap = plan
        .images
        .iter()
        .map(|c| (c.name.clone(), c.to.clone()))
        .collect();
    Ok(approval::check_required(
        &opts.required,
        plan.version.as_deref().unwrap_or("mixed"),
        &promoted,
        &records,
        existing.map(|e| e.for_env(&plan.environment)),
    ))
}

/// [`approvals_check`] of several apps: each app's required approvals against its own records
/// (a record counts for its app only) and the pull request's reviews.
fn apps_approvals_check(
    session: &Session,
    plan: &Plan,
    existing: Option<&ExistingPr>,
    ui: &dyn Interaction,
) -> Result<ApprovalCheck, PromoteError> {
    let mut check = ApprovalCheck::default();
    for p in &plan.apps {
        let required = p
            .policy
            .as_ref()
            .map(|v| v.required_approvals.clone())
            .unwrap_or_default();
        if required.is_empty() {
            continue;
        }
        let records = approval::list_for(session, p.app.as_deref(), ui)?.counted;
        let promoted: ImageMap = p
            .images
            .iter()
            .map(|c| (c.name.clone(), c.to.clone()))
            .collect();
        let one = approval::check_required(
            &required,
            p.version.as_deref().unwrap_or("mixed"),
            &promoted,
            &records,
            existing.map(|e| e.for_env(&plan.environment)),
        );
        check.met.extend(one.met);
        check.missing.extend(one.missing);
    }
    Ok(check)
}

/// A pull request being opened for a pushed promotion branch.
struct Opening<'a> {
    session: &'a Session,
    plan: &'a Plan,
    forge: &'a dyn Forge,
    opts: &'a PrOptions<'a>,
    commit: CommitId,
}

impl Opening<'_> {
    fn version(&self) -> &str {
        self.plan.version.as_deref().unwrap_or("mixed")
    }
}

/// Opens (or reuses) the pull request of a pushed promotion branch, its body's approvals
/// checklist showing `check` (the records and the reviews read before the plan was judged).
fn open_pull_request(
    o: &Opening<'_>,
    branch: String,
    existing: Option<&ExistingPr>,
    check: ApprovalCheck,
    ui: &dyn Interaction,
) -> Result<OpenedPr, PromoteError> {
    let (session, plan, forge) = (o.session, o.plan, o.forge);
    let env = session.config.env(&plan.environment)?;
    let kind = forge.target().kind;
    let title = match &plan.from {
        Some(up) => format!("Promote {} to {} (from {up})", env.name, o.version()),
        None => format!("Promote {} to {}", env.name, o.version()),
    };
    let (body_text, overflow) = body(o, &check);
    let request = PromotionPullRequest {
        env_label: forge::env_label(&plan.slot()),
        pr: NewPullRequest {
            title,
            body: body_text,
            head: branch.clone(),
            base: session.base_branch.clone(),
        },
        labels: env.labels.clone(),
        reviewers: env.reviewers.clone(),
    };
    match existing {
        Some(e) => ui.step(&format!(
            "{} #{} is open for {branch} on {kind} {}: reusing it",
            kind.pr_noun(),
            e.pr.number,
            forge.target().repo
        )),
        None => ui.step(&format!(
            "opening the {} on {} {}",
            kind.pr_noun(),
            kind,
            forge.target().repo
        )),
    }
    let outcome = ensure_pull_request(forge, &request)?;
    let pr = outcome.pr;
    // The patches the body had no room for, once per body: not again on a rerun that changed
    // nothing.
    if outcome.action != PrAction::Unchanged && !overflow.is_empty() {
        for c in &overflow {
            forge.comment(pr.number, c)?;
        }
        ui.step(&format!(
            "added {} comment{} to #{} with the rendered diff's patches that did not fit its description",
            overflow.len(),
            if overflow.len() == 1 { "" } else { "s" },
            pr.number
        ));
    }
    for old in &outcome.superseded {
        ui.step(&format!(
            "closed {} #{} ({}): superseded by #{}",
            kind.pr_noun(),
            old.number,
            old.head,
            pr.number
        ));
    }
    Ok(OpenedPr {
        commit: o.commit.to_string(),
        branch,
        number: pr.number,
        url: pr.url.clone(),
        title: pr.title.clone(),
        action: outcome.action,
        superseded: outcome
            .superseded
            .iter()
            .map(|p| PrRef {
                number: p.number,
                url: p.url.clone(),
            })
            .collect(),
        approvals: check,
    })
}

/// A promotion's pull request as the use case wants it to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionPullRequest {
    /// `promote:ENV` ([`forge::env_label`]): finds the open PRs of the same environment.
    pub env_label: String,
    /// Title, body, head branch (one per environment and version) and base branch.
    pub pr: NewPullRequest,
    /// Labels besides the environment's.
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
}

/// What [`ensure_pull_request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrOutcome {
    pub pr: PullRequest,
    /// Opened, or the open PR for the same head (same environment and version) reused: its
    /// title and body brought up to date, or already so.
    pub action: PrAction,
    /// Open PRs for the same environment and another version, now closed with a comment.
    pub superseded: Vec<PullRequest>,
}

/// Opens the promotion's pull request, or reuses the open one for the same head (updating title
/// and body), then supersedes the environment's other open ones (closed with a comment pointing
/// at this one), and makes sure of the labels and reviewers.
///
/// A create that loses a race to another run (the forge's duplicate answer) reuses the PR the
/// other run opened.
pub fn ensure_pull_request(
    forge: &dyn Forge,
    request: &PromotionPullRequest,
) -> Result<PrOutcome, ForgeError> {
    let head = &request.pr.head;
    let mut open = reviews::find_open(forge, &PrQuery::Label(request.env_label.clone()))?;
    open.extend(reviews::find_open(forge, &PrQuery::Head(head.clone()))?);
    let plan = forge::plan_pull_request(&open, head);
    let (pr, action) = open_or_reuse(forge, request, plan.reuse)?;
    let mut superseded = Vec::new();
    for old in plan.supersede.into_iter().filter(|o| o.number != pr.number) {
        let comment = forge::supersede_comment(forge.target().kind, &pr);
        forge.close_with_comment(old.number, &comment)?;
        superseded.push(PullRequest {
            state: PrState::Closed,
            ..old
        });
    }
    let pr = labels_and_reviewers(forge, request, pr, action == PrAction::Opened)?;
    Ok(PrOutcome {
        pr,
        action,
        superseded,
    })
}

/// The pull request to use, and what was done to it: the open one for the head (its title and
/// body brought up to date where they differ; compared first, so an unchanged pull request is
/// not edited), else a new one.
fn open_or_reuse(
    forge: &dyn Forge,
    request: &PromotionPullRequest,
    reuse: Option<PullRequest>,
) -> Result<(PullRequest, PrAction), ForgeError> {
    let edit = PrEdit {
        title: Some(request.pr.title.clone()),
        body: Some(request.pr.body.clone()),
    };
    let up_to_date = |existing: PullRequest| -> Result<(PullRequest, PrAction), ForgeError> {
        // Forges may normalise line ends in what they store: compare without them.
        let same = |a: &str, b: &str| a.replace("\r\n", "\n").trim_end() == b.trim_end();
        if same(&existing.title, &request.pr.title) && same(&existing.body, &request.pr.body) {
            Ok((existing, PrAction::Unchanged))
        } else {
            Ok((forge.update(existing.number, &edit)?, PrAction::Updated))
        }
    };
    if let Some(existing) = reuse {
        return up_to_date(existing);
    }
    match forge.create(&request.pr) {
        Ok(pr) => Ok((pr, PrAction::Opened)),
        Err(ForgeError::AlreadyExists { .. }) => {
            let raced = reviews::find_open(forge, &PrQuery::Head(request.pr.head.clone()))?;
            match forge::plan_pull_request(&raced, &request.pr.head).reuse {
                Some(existing) => up_to_date(existing),
                None => Err(ForgeError::DuplicateNotFound {
                    forge: forge.target().kind,
                    repo: forge.target().repo.to_string(),
                    head: request.pr.head.clone(),
                }),
            }
        }
        Err(e) => Err(e),
    }
}

/// A reviewer entry without its forge prefix (`github:ana` → `ana`).
fn bare_login(reviewer: &str) -> &str {
    match reviewer.split_once(':') {
        Some((prefix, login)) if forge::ForgeKind::from_config(prefix).is_ok() => login,
        _ => reviewer,
    }
}

/// The logins (lowercased) whose latest deciding review (not a comment) approves.
fn approved_by(reviews: &[Review]) -> BTreeSet<String> {
    let mut latest: std::collections::BTreeMap<String, ReviewState> = Default::default();
    for r in reviews {
        if !matches!(r.state, ReviewState::Commented | ReviewState::Pending) {
            latest.insert(r.reviewer.to_ascii_lowercase(), r.state);
        }
    }
    latest
        .into_iter()
        .filter(|(_, s)| *s == ReviewState::Approved)
        .map(|(login, _)| login)
        .collect()
}

/// Adds the labels the pull request lacks and requests the reviewers (never its author: GitHub
/// refuses (422) to request a review from a PR's author, and an author's approval of their own
/// PR counts on no forge; on a reused PR, never someone whose latest review approved it: a new
/// request resets them to pending on Gitea, testbed finding G2). Returns it with its labels.
fn labels_and_reviewers(
    forge: &dyn Forge,
    request: &PromotionPullRequest,
    pr: PullRequest,
    created: bool,
) -> Result<PullRequest, ForgeError> {
    let have: BTreeSet<&str> = pr.labels.iter().map(String::as_str).collect();
    let mut wanted: Vec<String> = Vec::new();
    for label in std::iter::once(&request.env_label).chain(&request.labels) {
        if !have.contains(label.as_str()) && !wanted.contains(label) {
            wanted.push(label.clone());
        }
    }
    if !wanted.is_empty() {
        forge.add_labels(pr.number, &wanted)?;
    }
    let author = pr.author.as_deref();
    let reviewers: Vec<String> = request
        .reviewers
        .iter()
        .filter(|r| author.is_none_or(|a| !a.eq_ignore_ascii_case(bare_login(r))))
        .cloned()
        .collect();
    let approved = if created || reviewers.is_empty() {
        BTreeSet::new()
    } else {
        approved_by(&forge.reviews(pr.number)?)
    };
    let reviewers: Vec<String> = reviewers
        .into_iter()
        .filter(|r| !approved.contains(&bare_login(r).to_ascii_lowercase()))
        .collect();
    if !reviewers.is_empty() {
        forge.request_reviewers(pr.number, &reviewers)?;
    }
    let mut labels = pr.labels.clone();
    labels.extend(wanted);
    Ok(PullRequest { labels, ..pr })
}

/// Builds the promotion commit on the base tip and pushes it as `branch`.
///
/// The branch is ours (one per environment and version): when it already holds commits the base
/// lacks, it is reused if its tip makes the very same change (an earlier run of this promotion),
/// and refused otherwise. A reused tip whose message is not this run's (another verdict now
/// that reviews approve it, a `Policy-Config` trailer it lacks: testbed findings G4 and G6) gets
/// a commit on top with this run's message and the same tree, so the branch's tip carries this
/// run's trailers and the reviews of the tip still hold ([`super::reviews`]). A branch whose
/// commits all reached the base (an earlier promotion that was merged) is fast-forwarded. Never
/// forced.
fn push_branch(
    session: &Session,
    plan: &Plan,
    branch: &str,
    ui: &dyn Interaction,
) -> Result<CommitId, PromoteError> {
    let repo = &session.repo;
    let mut base = plan.base_id.unwrap_or(session.base);
    let same_change = |tip: CommitId| -> Result<bool, PromoteError> {
        for e in plan.edits() {
            if repo.read_file(tip, e.file)?.as_deref() != Some(e.new_text.as_bytes()) {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let taken = || PromoteError::BranchTaken {
        branch: branch.to_owned(),
        remote: session.remote.clone(),
    };
    if let Some(tip) = repo.remote_tip(&session.remote, branch)?
        && !repo.is_ancestor(tip, base)
    {
        if !same_change(tip)? {
            return Err(taken());
        }
        if repo.commit_info(tip)?.message == plan.commit_message {
            ui.step(&format!(
                "branch {branch} already makes this change; reusing {}",
                tip.short()
            ));
            return Ok(tip);
        }
        ui.step(&format!(
            "branch {branch} already makes this change in {}, with other trailers: adding this run's on top",
            tip.short()
        ));
        base = tip;
    }
    let (commit, sign) = commit_on(session, plan, base)?;
    ui.step(&format!(
        "pushing branch {branch} ({}, {})",
        commit.short(),
        if sign { "signed" } else { "unsigned" }
    ));
    match repo.push(&session.remote, commit, branch)? {
        PushOutcome::Pushed => Ok(commit),
        PushOutcome::Behind => match repo.fetch_branch(&session.remote, branch)? {
            // Someone pushed the same promotion a moment ago.
            Some(tip) if same_change(tip)? => Ok(tip),
            _ => Err(taken()),
        },
    }
}

/// Polls the pull request until it is merged or closed, with a progress line now and then.
fn wait_for_merge(
    forge: &dyn Forge,
    pr: &OpenedPr,
    wait: MergeWait,
    ui: &dyn Interaction,
) -> Result<PrState, PromoteError> {
    let noun = forge.target().kind.pr_noun();
    let check = &pr.approvals;
    let missing = if check.is_met() {
        String::new()
    } else {
        format!(
            "; still missing: {}",
            check
                .missing
                .iter()
                .map(|m| m.describe())
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    ui.step(&format!(
        "waiting up to {} for {noun} #{} to be merged: {}{missing}",
        human(wait.timeout),
        pr.number,
        pr.url
    ));
    let started = Instant::now();
    let mut last_line = started;
    loop {
        let now = forge.get(pr.number)?;
        match now.state {
            PrState::Merged | PrState::Closed => {
                ui.step(&format!("{noun} #{} is {}", pr.number, now.state));
                return Ok(now.state);
            }
            PrState::Open => {}
        }
        let waited = started.elapsed();
        if waited >= wait.timeout {
            return Err(ForgeError::MergeWaitTimedOut {
                noun,
                number: pr.number,
                url: pr.url.clone(),
                waited_secs: waited.as_secs(),
            }
            .into());
        }
        if last_line.elapsed() >= Duration::from_secs(60) {
            ui.step(&format!(
                "still waiting for {noun} #{} to be merged ({} left)",
                pr.number,
                human(wait.timeout - waited)
            ));
            last_line = Instant::now();
        }
        std::thread::sleep(wait.interval.min(wait.timeout - waited));
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// The pull request's body: what changes, the render check, the policies, the approvals.
/// Built from the plan only (no secrets can reach it), and stable for the same promotion so a
/// reused pull request is not edited for nothing.
/// The most a pull request body may hold: GitHub's limit, the smallest of the forges'.
const BODY_LIMIT: usize = 65_536;

/// The body, and the comments that carry the rendered diff's patches that did not fit it.
fn body(o: &Opening<'_>, check: &ApprovalCheck) -> (String, Vec<String>) {
    let (session, plan) = (o.session, o.plan);
    let version = o.version();
    let mut s = String::new();
    let from = plan
        .from
        .as_deref()
        .map(|f| format!(" (from {f})"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "Promotes **{}** from `{}` to `{version}`{from}, in `{}`.\n",
        plan.environment,
        plan.previous_version.as_deref().unwrap_or("(no tag)"),
        plan.overlay_file
    );
    if plan.apps.is_empty() {
        s.push_str("| Image | From | To |\n| --- | --- | --- |\n");
        for c in &plan.images {
            let _ = writeln!(s, "| `{}` | `{}` | `{}` |", c.name, c.from, c.to);
        }
    } else {
        // Several apps in one pull request: whose each image is.
        s.push_str("| App | Image | From | To |\n| --- | --- | --- | --- |\n");
        for p in &plan.apps {
            for c in &p.images {
                let app = p.app.as_deref().unwrap_or("");
                let _ = writeln!(s, "| {app} | `{}` | `{}` | `{}` |", c.name, c.from, c.to);
            }
        }
    }
    let built = if plan.apps.is_empty() {
        format!("`{}`", plan.overlay_dir)
    } else {
        plan.apps
            .iter()
            .map(|p| format!("`{}`", p.overlay_dir))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        s,
        "\n**Render check:** passed: `{}` built {built} ({} resources).\n",
        plan.render.program, plan.render.resources
    );
    let env_has_policies = session
        .config
        .env(&plan.environment)
        .is_ok_and(|e| !e.promote_policies.is_empty());
    let policies = match (&o.opts.policy_report, env_has_policies) {
        (Some(report), _) => report.clone(),
        (None, false) => "none configured for this environment.".to_owned(),
        (None, true) => "not evaluated by this version of kubectl promote.".to_owned(),
    };
    let _ = writeln!(s, "**Policies:** {policies}\n");
    let mut tail = String::new();
    approvals_checklist(&mut tail, plan, version, check);
    let _ = write!(
        tail,
        "\n---\nOpened by `kubectl promote` from `{}` at {} (commit {}). A promotion of {} to another version closes this pull request.\n",
        session.base_name(),
        plan.base.get(..7).unwrap_or(&plan.base),
        o.commit.short(),
        plan.environment
    );
    let how_to_see = format!(
        "kubectl promote diff {} --between {} {}/{}",
        plan.environment,
        plan.base.get(..7).unwrap_or(&plan.base),
        session.remote,
        branch_name(&plan.slot(), plan.version.as_deref())
    );
    release_section(&mut s, plan);
    supply_chain_section(&mut s, plan);
    let budget = BODY_LIMIT.saturating_sub(s.len() + tail.len());
    let comments = render_diff_section(&mut s, plan, budget, &how_to_see);
    s.push_str(&tail);
    (s, comments)
}

/// The supply chain: the summary, then one line per image (its signatures, its provenance).
/// Registry text (reasons, builder ids) is shown as inline code, so none of it becomes Markdown.
fn supply_chain_section(s: &mut String, plan: &Plan) {
    let Some(summary) = plan.supply_chain.summary() else {
        return;
    };
    let _ = writeln!(s, "**Supply chain:** {summary}.");
    for i in plan.supply_chain.images().unwrap_or_default() {
        let _ = writeln!(s, "- `{}`", i.line().replace('`', "'"));
    }
    s.push('\n');
}

/// The release behind the tags: per image the source range (a compare link on the forges we
/// know) and the first commit subjects. Subjects come from the source's forge: shown as inline
/// code, so no text of theirs becomes Markdown.
fn release_section(s: &mut String, plan: &Plan) {
    if plan.sources.is_empty() {
        return;
    }
    s.push_str("**Release behind the tags:**\n");
    let code = |t: &str| format!("`{}`", t.replace('`', "'"));
    for src in &plan.sources {
        let Some(r) = &src.range else {
            let _ = writeln!(
                s,
                "- {}: source unknown ({})",
                code(&src.image),
                src.note
                    .as_deref()
                    .unwrap_or("no source label")
                    .replace('`', "'")
            );
            continue;
        };
        let range = r.short_range();
        let range = match &r.compare_url {
            Some(url) => format!("[{range}]({url})"),
            None => code(&range),
        };
        let count = src
            .total_commits
            .map(|n| format!(", {n} commit{}", if n == 1 { "" } else { "s" }))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "- {}: {} {range}{count}",
            code(&src.image),
            code(&r.repo)
        );
        for c in &src.commits {
            let _ = writeln!(
                s,
                "  - {} {}",
                code(&c.sha[..c.sha.len().min(7)]),
                code(&c.subject)
            );
        }
        let more = src
            .total_commits
            .unwrap_or(0)
            .saturating_sub(src.commits.len());
        if more > 0 {
            let _ = writeln!(s, "  - … and {more} more");
        }
    }
    s.push('\n');
}

/// The rendered diff: summary lines and the patches that fit `budget` in the body, the rest
/// in follow-up comments.
fn render_diff_section(
    s: &mut String,
    plan: &Plan,
    budget: usize,
    how_to_see: &str,
) -> Vec<String> {
    let objects = match &plan.render_diff {
        RenderDiff::Objects(o) => o,
        RenderDiff::Unavailable { unavailable } => {
            let _ = writeln!(
                s,
                "**Rendered changes:** not available: {}\n",
                unavailable.replace('`', "'")
            );
            return Vec::new();
        }
    };
    // Leave room for the line that says where the rest went.
    let md = render_diff::markdown(
        &plan.environment,
        objects,
        budget.saturating_sub(512),
        BODY_LIMIT - 512,
        how_to_see,
    );
    s.push_str(&md.body);
    s.push('\n');
    md.comments
}

/// The body's approvals: each met one ticked, each missing one with how to give it.
fn approvals_checklist(s: &mut String, plan: &Plan, version: &str, check: &ApprovalCheck) {
    if check.met.is_empty() && check.missing.is_empty() {
        s.push_str("**Approvals:** none required.\n");
        return;
    }
    s.push_str("**Approvals:**\n");
    for m in &check.met {
        let _ = writeln!(s, "- [x] {}", m.describe());
    }
    for m in &check.missing {
        let r = &m.requirement;
        let signed = if r.verified {
            " with signed commits (a key in `approverKeys`)"
        } else {
            ""
        };
        let how = if r.environment == plan.environment {
            format!(
                "approve this pull request as one of `approvers.{}`, or run `kubectl promote approve {} {version} --role {}`{signed}",
                r.id, r.environment, r.id
            )
        } else {
            format!(
                "run `kubectl promote approve {} {version} --role {}`{signed}",
                r.environment, r.id
            )
        };
        let _ = writeln!(s, "- [ ] {}: {how}", m.describe());
    }
}
