//! The pure decisions about a promotion's pull request: the environment's label, which open
//! pull requests to reuse and which to supersede, and the comment left on a superseded one. The
//! use case that drives the [`Forge`](super::Forge) port with them lives in the `promote` crate
//! (`promotion::pr::ensure_pull_request`).

use super::kind::ForgeKind;
use super::pull::{PrState, PullRequest};

/// The label that marks a promotion's pull request for one environment: how an open PR "for the
/// same env" is found again.
pub fn env_label(env: &str) -> String {
    format!("promote:{env}")
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
