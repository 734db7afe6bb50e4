//! Who promoted an overlay change, for `history` and `status`: the trailers of the commit that
//! changed the overlay, or, when a forge merged the pull request, those of the promotion commit
//! the merge brought in (testbed finding G5). A merge commit carries no trailers of ours: the
//! promotion commit is the newest change of the overlay on its second parent's side. A squash
//! commit carries none either (Gitea's message is the pull request's title): the promotion
//! branch `promote/ENV/VERSION`, as last fetched, holds it.
//!
//! Trailers are claims that anyone who can push may write, and a merged branch is pushed by
//! whoever opened the pull request. So a promotion commit found through a merge or a squash is
//! believed only when its trailers parse as a promotion of this environment and it wrote exactly
//! the overlay file the merge left (the same blob); otherwise the change keeps its own trailers
//! (none). The result says where the promoter was read ([`PromotedVia`]).

use serde::Serialize;

use promote_core::config::Environment;
use promote_core::image::EnvVersion;
use promote_core::trailers::{self, Trailers};
use promote_git::{CommitId, CommitInfo};

use crate::plan::branch_name;
use crate::{PromoteError, Session};

/// How far the merged side of a merge commit is walked for the promotion it brings in: a
/// promotion branch is one commit on the base; a long walk means there is none.
const MERGED_WALK: usize = 1_000;

/// The trailers that say who promoted a change, and where they were read.
#[derive(Debug, Clone, Default)]
pub struct Promotion {
    pub trailers: Trailers,
    /// `None`: the change's own commit.
    pub via: Option<PromotedVia>,
}

impl Promotion {
    /// `Promoted-By`, when the trailers name one.
    pub fn promoted_by(&self) -> Option<&str> {
        self.trailers.get(trailers::PROMOTED_BY)
    }
}

/// The promotion commit a forge's merge or squash brought in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotedVia {
    pub how: Merged,
    /// The promotion commit the trailers were read from.
    pub commit: String,
}

/// How the forge brought the promotion in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Merged {
    /// A merge commit: the promotion is on its second parent's side.
    Merge,
    /// A squash: one new commit with the promotion branch's change.
    Squash,
}

impl std::fmt::Display for PromotedVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.how {
            Merged::Merge => "merged",
            Merged::Squash => "squashed",
        };
        let short = self.commit.get(..7).unwrap_or(&self.commit);
        write!(f, "from {how} {short}")
    }
}

/// Who promoted `c`, a commit that changed ENV's overlay `file`: see the module docs.
/// `version` is the overlay's version after `c`.
pub fn promotion(
    session: &Session,
    env: &Environment,
    file: &str,
    c: &CommitInfo,
    version: &EnvVersion,
) -> Result<Promotion, PromoteError> {
    let own = Promotion {
        trailers: Trailers::parse(&c.message),
        via: None,
    };
    if own.promoted_by().is_some() {
        return Ok(own);
    }
    let found = match c.parents.as_slice() {
        [first, second] => merged_in(session, file, *first, *second)?.map(|p| (Merged::Merge, p)),
        [parent] => {
            squashed_from(session, env, c.id, *parent, version)?.map(|p| (Merged::Squash, p))
        }
        _ => None,
    };
    let Some((how, promoted)) = found else {
        return Ok(own);
    };
    let repo = &session.repo;
    let t = Trailers::parse(&repo.commit_info(promoted)?.message);
    let ours = t.get(trailers::PROMOTED_BY).is_some()
        && t.get(trailers::ENVIRONMENT) == Some(env.name.as_str());
    if !ours || repo.path_id(promoted, file)? != repo.path_id(c.id, file)? {
        return Ok(own);
    }
    Ok(Promotion {
        trailers: t,
        via: Some(PromotedVia {
            how,
            commit: promoted.to_string(),
        }),
    })
}

/// The newest change of `file` on a merge's second side that its first parent did not have.
fn merged_in(
    session: &Session,
    file: &str,
    first: CommitId,
    second: CommitId,
) -> Result<Option<CommitId>, PromoteError> {
    let repo = &session.repo;
    let Some(change) = repo
        .path_log(second, file, MERGED_WALK)
        .next()
        .transpose()?
    else {
        return Ok(None);
    };
    Ok((!repo.is_ancestor(change.id, first)).then_some(change.id))
}

/// The tip of the promotion branch of ENV at `version` (as last fetched), when it is another
/// commit, of one parent, cut from the history the squash `c` landed on.
fn squashed_from(
    session: &Session,
    env: &Environment,
    c: CommitId,
    parent: CommitId,
    version: &EnvVersion,
) -> Result<Option<CommitId>, PromoteError> {
    // A promotion's branch is named after the version it writes; a mixed overlay's name is
    // not known from the overlay alone.
    let EnvVersion::Uniform(version) = version else {
        return Ok(None);
    };
    let repo = &session.repo;
    let branch = branch_name(&env.slot(), Some(version));
    let Some(tip) = repo.remote_tip(&session.remote, &branch)? else {
        return Ok(None);
    };
    if tip == c {
        return Ok(None);
    }
    let cut_from = match repo.commit_info(tip)?.parents.as_slice() {
        [p] => *p,
        _ => return Ok(None),
    };
    Ok(repo.is_ancestor(cut_from, parent).then_some(tip))
}
