//! A promotion's pull request over the port: reuse, supersede or open one.
//!
//! [`ensure_pull_request`] is a use case and moves to the `promote` crate (issue 13, engineer B).

use std::collections::BTreeSet;

use super::error::ForgeError;
use super::kind::ForgeKind;
use super::port::Forge;
use super::pull::{NewPullRequest, PrEdit, PrQuery, PrState, PullRequest};

/// The label that marks a promotion's pull request for one environment: how an open PR "for the
/// same env" is found again.
pub fn env_label(env: &str) -> String {
    format!("promote:{env}")
}

/// A promotion's pull request as the use case wants it to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionPullRequest {
    /// `promote:ENV` ([`env_label`]): finds the open PRs of the same environment.
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
    /// `false` when an open PR for the same head (same environment and version) was reused.
    pub created: bool,
    /// Open PRs for the same environment and another version, now closed with a comment.
    pub superseded: Vec<PullRequest>,
}

/// Which open PRs of an environment to reuse and which to supersede for a promotion from `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrPlan {
    pub reuse: Option<PullRequest>,
    pub supersede: Vec<PullRequest>,
}

/// Same head branch → reuse (the oldest, if a race opened two); any other head → supersede.
pub fn plan_pull_request(open: &[PullRequest], head: &str) -> PrPlan {
    let mut open: Vec<&PullRequest> = open.iter().filter(|pr| pr.state == PrState::Open).collect();
    open.sort_by_key(|pr| pr.number);
    open.dedup_by_key(|pr| pr.number);
    let reuse = open
        .iter()
        .find(|pr| pr.head == head)
        .map(|pr| (*pr).clone());
    let supersede = open
        .iter()
        .filter(|pr| reuse.as_ref().is_none_or(|r| r.number != pr.number))
        .map(|pr| (*pr).clone())
        .collect();
    PrPlan { reuse, supersede }
}

/// The comment left on a superseded pull request.
pub fn supersede_comment(kind: ForgeKind, new: &PullRequest) -> String {
    let reference = match kind {
        ForgeKind::GitLab => format!("!{}", new.number),
        ForgeKind::GitHub | ForgeKind::Gitea => format!("#{}", new.number),
    };
    format!(
        "Superseded by {reference} ({}): {}.\n\nClosed by `kubectl promote`; the environment is now promoted there.",
        new.url, new.title
    )
}

/// Opens the promotion's pull request, or reuses the open one for the same head (updating title
/// and body), then supersedes the environment's other open ones (closed with a comment pointing
/// at this one), and makes sure of the labels and reviewers.
///
/// A create that loses a race to another run (the forge's duplicate answer) reuses the PR the
/// other run opened.
pub fn ensure_pull_request<F: Forge + ?Sized>(
    forge: &F,
    request: &PromotionPullRequest,
) -> Result<PrOutcome, ForgeError> {
    let mut open = forge.find_open(&PrQuery::Label(request.env_label.clone()))?;
    open.extend(forge.find_open(&PrQuery::Head(request.pr.head.clone()))?);
    let plan = plan_pull_request(&open, &request.pr.head);

    let edit = PrEdit {
        title: Some(request.pr.title.clone()),
        body: Some(request.pr.body.clone()),
    };
    let (pr, created) = match plan.reuse {
        Some(existing) => (refresh(forge, existing, &edit)?, false),
        None => match forge.create(&request.pr) {
            Ok(pr) => (pr, true),
            Err(ForgeError::AlreadyExists { .. }) => {
                let raced = forge.find_open(&PrQuery::Head(request.pr.head.clone()))?;
                let Some(existing) = plan_pull_request(&raced, &request.pr.head).reuse else {
                    return Err(ForgeError::DuplicateNotFound {
                        forge: forge.target().kind,
                        repo: forge.target().repo.to_string(),
                        head: request.pr.head.clone(),
                    });
                };
                (refresh(forge, existing, &edit)?, false)
            }
            Err(e) => return Err(e),
        },
    };

    let mut superseded = Vec::new();
    for old in plan
        .supersede
        .into_iter()
        .filter(|old| old.number != pr.number)
    {
        forge.close_with_comment(old.number, &supersede_comment(forge.target().kind, &pr))?;
        superseded.push(PullRequest {
            state: PrState::Closed,
            ..old
        });
    }

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
    // The author is left out: GitHub refuses (422) to request a review from a PR's author, and
    // an author's approval of their own PR counts on no forge.
    let author = pr.author.as_deref();
    let reviewers: Vec<String> = request
        .reviewers
        .iter()
        .filter(|r| {
            let login = match r.split_once(':') {
                Some((prefix, login)) if ForgeKind::from_config(prefix).is_ok() => login,
                _ => r.as_str(),
            };
            author.is_none_or(|a| !a.eq_ignore_ascii_case(login))
        })
        .cloned()
        .collect();
    if !reviewers.is_empty() {
        forge.request_reviewers(pr.number, &reviewers)?;
    }
    let mut labels = pr.labels.clone();
    labels.extend(wanted);
    Ok(PrOutcome {
        pr: PullRequest { labels, ..pr },
        created,
        superseded,
    })
}

fn refresh<F: Forge + ?Sized>(
    forge: &F,
    existing: PullRequest,
    edit: &PrEdit,
) -> Result<PullRequest, ForgeError> {
    let unchanged = edit.title.as_deref() == Some(existing.title.as_str())
        && edit.body.as_deref() == Some(existing.body.as_str());
    if unchanged {
        Ok(existing)
    } else {
        forge.update(existing.number, edit)
    }
}
