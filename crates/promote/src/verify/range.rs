//! Which change `verify` judges: a range, one commit, HEAD since it left the base branch, or a
//! pull request's head fetched from the remote.

use promote_core::forge::ForgeKind;
use promote_git::CommitId;

use crate::{Interaction, PromoteError, Session};

/// Which change to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// `merge-base(HEAD, base tip)..HEAD`.
    Head,
    /// `A..B`, `A...B` (from their merge base) or one commit `C` (`C^..C`).
    Rev(String),
    /// The head of pull request / merge request N, fetched from the remote, from its merge base
    /// with the base tip.
    Pr(u64),
}

/// (start, end, description) of the range.
pub(super) fn resolve(
    session: &Session,
    range: &Range,
    ui: &dyn Interaction,
) -> Result<(CommitId, CommitId, String), PromoteError> {
    match range {
        Range::Head => {
            let head = session.repo.resolve("HEAD").map_err(|_| PromoteError::Usage("verify: this repository has no HEAD commit; give a range (`kubectl promote verify A..B`) or --pr N".into()))?;
            Ok((
                since_merge_base(session, head, "HEAD")?,
                head,
                "HEAD".into(),
            ))
        }
        Range::Rev(rev) => revision(session, rev),
        Range::Pr(n) => pull_request(session, *n, ui),
    }
}

/// Where `tip` left the base branch.
fn since_merge_base(
    session: &Session,
    tip: CommitId,
    what: &str,
) -> Result<CommitId, PromoteError> {
    session
        .repo
        .merge_base(tip, session.base)?
        .ok_or_else(|| PromoteError::NoCommonHistory {
            what: what.to_owned(),
            base: session.base_name(),
        })
}

/// `A...B`, `A..B` or one commit.
fn revision(session: &Session, rev: &str) -> Result<(CommitId, CommitId, String), PromoteError> {
    let repo = &session.repo;
    let or_head = |r: &str| {
        if r.is_empty() {
            "HEAD".to_owned()
        } else {
            r.to_owned()
        }
    };
    if let Some((a, b)) = rev.split_once("...") {
        let b_id = repo.resolve(&or_head(b))?;
        let a_id = repo.resolve(&or_head(a))?;
        let mb = repo.merge_base(a_id, b_id)?.ok_or_else(|| {
            PromoteError::Usage(format!("verify {rev}: the two sides share no history"))
        })?;
        Ok((mb, b_id, rev.to_owned()))
    } else if let Some((a, b)) = rev.split_once("..") {
        let a_id = repo.resolve(&or_head(a))?;
        let b_id = repo.resolve(&or_head(b))?;
        Ok((a_id, b_id, rev.to_owned()))
    } else {
        let c = repo.resolve(rev)?;
        let parent = repo.commit_info(c)?.parents.first().copied().ok_or_else(|| {
            PromoteError::Usage(format!("verify {rev}: {} is a root commit with no parent to compare with; give a range A..B", c.short()))
        })?;
        Ok((parent, c, rev.to_owned()))
    }
}

/// The head of pull request `n`, fetched into a remote-tracking ref (the next `git fetch
/// --prune` removes it again), from where it left the base branch.
fn pull_request(
    session: &Session,
    n: u64,
    ui: &dyn Interaction,
) -> Result<(CommitId, CommitId, String), PromoteError> {
    // Which ref namespace the forge uses; unknown forges (a plain git server) get the
    // GitHub/Gitea name first, then GitLab's.
    let kind = crate::forge::target(session).ok().map(|t| t.kind);
    let candidates: Vec<String> = match kind {
        Some(ForgeKind::GitLab) => vec![format!("refs/merge-requests/{n}/head")],
        Some(_) => vec![format!("refs/pull/{n}/head")],
        None => vec![
            format!("refs/pull/{n}/head"),
            format!("refs/merge-requests/{n}/head"),
        ],
    };
    let into = format!("refs/remotes/{}/pull/{n}", session.remote);
    for src in &candidates {
        ui.step(&format!("fetching {src} from {}", session.remote));
        if let Some(head) = session.repo.fetch_ref(&session.remote, src, &into)? {
            let start = since_merge_base(session, head, &format!("pull request #{n}"))?;
            return Ok((start, head, format!("pull request #{n} ({src})")));
        }
    }
    Err(PromoteError::NoPullRequestHead {
        number: n,
        remote: session.remote.clone(),
        refs: candidates.join(" or "),
    })
}
