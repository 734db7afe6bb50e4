//! PR mode of a promotion (DESIGN step 6): the branch `promote/ENV/VERSION`, the pull request
//! on the forge (title, body with the image table, the render check, the policy report and the
//! approvals checklist; the environment's reviewers and labels), the approvals check against the
//! records and the pull request's reviews, and `--wait` for the merge.
//!
//! The forge comes in as a [`Forge`] built by the binary with the token it read from the variable
//! `ForgeTarget::token_env` names; this crate never reads the environment and never sees a token
//! (the body is built from the plan alone). Without a forge the branch is pushed and the compare
//! URL is returned, so a person opens the pull request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use promote_core::forge::{
    self, Forge, ForgeError, ForgeTarget, NewPullRequest, PrEdit, PrQuery, PrState,
    PromotionPullRequest, PullRequest,
};
use promote_core::image::ImageMap;
use promote_git::{CommitId, PushOutcome};

use crate::approvals::{self, ApprovalCheck, PrApprovals, RequiredApproval};
use crate::promote::{Landed, Plan};
use crate::{Interaction, PromoteError, Session};

/// What PR mode needs besides the plan.
#[derive(Default)]
pub struct PrOptions<'a> {
    /// The forge, when there is a token; `None`: push the branch and return the compare URL.
    pub forge: Option<&'a dyn Forge>,
    /// Approvals the promotion needs (from policies); unmet ones make the outcome
    /// [`Landed::PrAwaitingApproval`] (exit 4) unless waiting for the merge.
    pub required: Vec<RequiredApproval>,
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

/// A pull request as the result shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrRef {
    pub number: u64,
    pub url: String,
}

/// The promotion's pull request, opened or reused.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenedPr {
    pub commit: String,
    pub branch: String,
    pub number: u64,
    pub url: String,
    pub title: String,
    /// False when the open pull request of the same environment and version was reused.
    pub created: bool,
    /// Open pull requests of the environment for other versions, closed with a comment.
    pub superseded: Vec<PrRef>,
    pub approvals: ApprovalCheck,
}

/// The resolved forge of this repository: the remote URL, with `forge:` settings winning.
pub fn forge_target(session: &Session) -> Result<ForgeTarget, ForgeError> {
    let url = session.repo.remote_url(&session.remote).ok();
    let settings = session.config.forge.clone().unwrap_or_default();
    ForgeTarget::resolve(url.as_deref(), &settings)
}

/// The head branch of an environment's promotion to a version.
pub fn branch_name(env: &str, version: Option<&str>) -> String {
    format!("promote/{env}/{}", version.unwrap_or("mixed"))
}

/// Pushes the promotion's branch and opens (or reuses) its pull request; see the module docs.
pub(crate) fn land(
    session: &Session,
    plan: &Plan,
    opts: &PrOptions<'_>,
    progress: &dyn Interaction,
) -> Result<Landed, PromoteError> {
    let env = session.config.env(&plan.environment)?.clone();
    let version = plan.version.as_deref().unwrap_or("mixed");
    let branch = branch_name(&plan.environment, plan.version.as_deref());
    if let Some(forge) = opts.forge {
        // Ask the forge something harmless first: a wrong token, a missing repository or no
        // access fails here, before the branch is pushed.
        forge.find_open(&PrQuery::Label(forge::env_label(&env.name)))?;
    }
    let commit = push_branch(session, plan, &branch, progress)?;
    progress.checkpoint("after-branch-push");

    let Some(forge) = opts.forge else {
        let compare_url = forge_target(session)
            .ok()
            .map(|t| t.compare_url(&session.base_branch, &branch));
        return Ok(Landed::BranchPushed {
            commit: commit.to_string(),
            branch,
            compare_url,
        });
    };
    let kind = forge.target().kind;

    let records = if opts.required.is_empty() {
        Vec::new()
    } else {
        approvals::list(session, progress)?.counted
    };
    let promoted: ImageMap = plan
        .images
        .iter()
        .map(|c| (c.name.clone(), c.to.clone()))
        .collect();
    let first_check = approvals::check_required(&opts.required, version, &promoted, &records, None);
    let title = match &plan.from {
        Some(up) => format!("Promote {} to {version} (from {up})", env.name),
        None => format!("Promote {} to {version}", env.name),
    };
    let request = PromotionPullRequest {
        env_label: forge::env_label(&env.name),
        pr: NewPullRequest {
            title: title.clone(),
            body: body(session, plan, commit, &first_check, opts),
            head: branch.clone(),
            base: session.base_branch.clone(),
        },
        labels: env.labels.clone(),
        reviewers: env.reviewers.clone(),
    };
    progress.step(&format!(
        "opening the {} on {} {}",
        kind.pr_noun(),
        kind,
        forge.target().repo
    ));
    let outcome = forge::ensure_pull_request(forge, &request)?;
    let pr = outcome.pr;
    for old in &outcome.superseded {
        progress.step(&format!(
            "closed {} #{} ({}): superseded by #{}",
            kind.pr_noun(),
            old.number,
            old.head,
            pr.number
        ));
    }

    // The pull request's reviews count for its environment's roles; re-check with them and keep
    // the checklist in the body true.
    let check = if opts.required.is_empty() {
        first_check
    } else {
        let reviews = forge.reviews(pr.number)?;
        let role_approvals = forge::role_approvals(
            kind,
            &reviews,
            pr.head_sha.as_deref(),
            &session.config.approvers,
        );
        let check = approvals::check_required(
            &opts.required,
            version,
            &promoted,
            &records,
            Some(PrApprovals {
                environment: &env.name,
                forge: kind,
                approvals: &role_approvals,
            }),
        );
        if check != first_check {
            forge.update(
                pr.number,
                &PrEdit {
                    title: None,
                    body: Some(body(session, plan, commit, &check, opts)),
                },
            )?;
        }
        check
    };

    let opened = OpenedPr {
        commit: commit.to_string(),
        branch,
        number: pr.number,
        url: pr.url.clone(),
        title: pr.title.clone(),
        created: outcome.created,
        superseded: outcome
            .superseded
            .iter()
            .map(|p| PrRef {
                number: p.number,
                url: p.url.clone(),
            })
            .collect(),
        approvals: check,
    };
    match opts.wait {
        None if !opened.approvals.is_met() => Ok(Landed::PrAwaitingApproval(opened)),
        None => Ok(Landed::PrOpen(opened)),
        Some(wait) => match wait_for_merge(forge, &pr, &opened.approvals, wait, progress)? {
            PrState::Merged => Ok(Landed::PrMerged(opened)),
            PrState::Closed => Ok(Landed::PrClosedUnmerged(opened)),
            PrState::Open => {
                unreachable!("wait_for_merge returns only when the pull request is no longer open")
            }
        },
    }
}

/// Builds the promotion commit on the base tip and pushes it as `branch`.
///
/// The branch is ours (one per environment and version): when it already holds commits the base
/// lacks, it is reused if its tip makes the very same change (an earlier run of this promotion),
/// and refused otherwise. A branch whose commits all reached the base (an earlier promotion that
/// was merged) is fast-forwarded. Never forced.
fn push_branch(
    session: &Session,
    plan: &Plan,
    branch: &str,
    progress: &dyn Interaction,
) -> Result<CommitId, PromoteError> {
    let repo = &session.repo;
    let base = plan.base_id.unwrap_or(session.base);
    let same_change = |tip: CommitId| -> Result<bool, PromoteError> {
        Ok(repo.read_file(tip, &plan.overlay_file)?.as_deref() == Some(plan.new_text.as_bytes()))
    };
    let taken = || PromoteError::BranchTaken {
        branch: branch.to_owned(),
        remote: session.remote.clone(),
    };
    if let Some(tip) = repo.remote_tip(&session.remote, branch)?
        && !repo.is_ancestor(tip, base)
    {
        if same_change(tip)? {
            progress.step(&format!(
                "branch {branch} already makes this change; reusing {}",
                tip.short()
            ));
            return Ok(tip);
        }
        return Err(taken());
    }
    let changes: BTreeMap<String, Option<Vec<u8>>> = [(
        plan.overlay_file.clone(),
        Some(plan.new_text.clone().into_bytes()),
    )]
    .into();
    let sign = repo.config_bool("commit.gpgsign");
    let committer = repo.config_person().unwrap_or_else(|| plan.author.clone());
    let tree = repo.tree_with(base, &changes)?;
    let commit = repo.commit(
        &tree,
        &[base],
        &plan.author,
        &committer,
        &plan.commit_message,
        sign,
    )?;
    progress.step(&format!(
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
    pr: &PullRequest,
    check: &ApprovalCheck,
    wait: MergeWait,
    progress: &dyn Interaction,
) -> Result<PrState, PromoteError> {
    let noun = forge.target().kind.pr_noun();
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
    progress.step(&format!(
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
                progress.step(&format!("{noun} #{} is {}", pr.number, now.state));
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
            progress.step(&format!(
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
fn body(
    session: &Session,
    plan: &Plan,
    commit: CommitId,
    check: &ApprovalCheck,
    opts: &PrOptions<'_>,
) -> String {
    let version = plan.version.as_deref().unwrap_or("mixed");
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
    s.push_str("| Image | From | To |\n| --- | --- | --- |\n");
    for c in &plan.images {
        let _ = writeln!(s, "| `{}` | `{}` | `{}` |", c.name, c.from, c.to);
    }
    let _ = writeln!(
        s,
        "\n**Render check:** passed: `{}` built `{}` ({} resources).\n",
        plan.render.program, plan.overlay_dir, plan.render.resources
    );
    let env_has_policies = session
        .config
        .env(&plan.environment)
        .is_ok_and(|e| !e.promote_policies.is_empty());
    let policies = match (&opts.policy_report, env_has_policies) {
        (Some(report), _) => report.clone(),
        (None, false) => "none configured for this environment.".to_owned(),
        (None, true) => "not evaluated by this version of kubectl promote.".to_owned(),
    };
    let _ = writeln!(s, "**Policies:** {policies}\n");
    if check.met.is_empty() && check.missing.is_empty() {
        s.push_str("**Approvals:** none required.\n");
    } else {
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
    let _ = write!(
        s,
        "\n---\nOpened by `kubectl promote` from `{}` at {} (commit {}). A promotion of {} to another version closes this pull request.\n",
        session.base_name(),
        plan.base.get(..7).unwrap_or(&plan.base),
        commit.short(),
        plan.environment
    );
    s
}
