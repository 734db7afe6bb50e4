//! The commit object of a plan, shared by the direct push and the pull request's branch.

use std::collections::BTreeMap;

use promote_git::CommitId;

use crate::plan::Plan;
use crate::{PromoteError, Session};

/// The plan's commit on `base`: its edit, its message, signed when `commit.gpgsign` says so.
/// Returns the commit and whether it was signed.
pub(super) fn commit_on(
    session: &Session,
    plan: &Plan,
    base: CommitId,
) -> Result<(CommitId, bool), PromoteError> {
    let repo = &session.repo;
    let sign = repo.config_bool("commit.gpgsign");
    let committer = repo.config_person().unwrap_or_else(|| plan.author.clone());
    let changes: BTreeMap<String, Option<Vec<u8>>> = plan
        .edits()
        .iter()
        .map(|e| (e.file.to_owned(), Some(e.new_text.as_bytes().to_vec())))
        .collect();
    let tree = repo.tree_with(base, &changes)?;
    let commit = repo.commit(
        &tree,
        &[base],
        &plan.author,
        &committer,
        &plan.commit_message,
        sign,
    )?;
    Ok((commit, sign))
}
