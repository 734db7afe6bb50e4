//! Forge approvals that count as a role's approval.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::kind::ForgeKind;
use super::pull::{Review, ReviewState};

/// A forge approval that counts for a role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleApproval {
    pub role: String,
    pub login: String,
}

/// Which roles the reviews of a pull request approve.
///
/// A reviewer's latest deciding review counts (approved, changes requested or dismissed; comments
/// and pending reviews decide nothing), as the forges show it. An approval of another commit than
/// `head_sha` (when both are known) does not count: approvals bind to what is being merged.
///
/// `approvers` maps a role to its entries in `promote.yaml`: `github:alice` (an account on that
/// forge; `gitlab:`, `gitea:` and `forgejo:` likewise) or a bare `alice` (an account on any forge)
/// match a reviewer's login, case-insensitively. E-mail entries and teams (`github:org/team`) do
/// not match here: reviews carry neither.
pub fn role_approvals(
    kind: ForgeKind,
    reviews: &[Review],
    head_sha: Option<&str>,
    approvers: &BTreeMap<String, Vec<String>>,
) -> Vec<RoleApproval> {
    let mut latest: BTreeMap<String, &Review> = BTreeMap::new();
    for review in reviews {
        if matches!(review.state, ReviewState::Commented | ReviewState::Pending) {
            continue;
        }
        latest.insert(review.reviewer.to_lowercase(), review);
    }
    let approved: Vec<&Review> = latest
        .values()
        .copied()
        .filter(|r| r.state == ReviewState::Approved)
        .filter(|r| match (head_sha, r.commit.as_deref()) {
            (Some(head), Some(commit)) => head == commit,
            _ => true,
        })
        .collect();

    let mut out = BTreeSet::new();
    for (role, entries) in approvers {
        for entry in entries {
            let Some(login) = approver_login(kind, entry) else {
                continue;
            };
            for review in approved
                .iter()
                .filter(|r| r.reviewer.eq_ignore_ascii_case(login))
            {
                out.insert(RoleApproval {
                    role: role.clone(),
                    login: review.reviewer.clone(),
                });
            }
        }
    }
    out.into_iter().collect()
}

/// The login an approver entry names on forge `kind`, if it names one account there.
fn approver_login(kind: ForgeKind, entry: &str) -> Option<&str> {
    let entry = entry.trim();
    let login = match entry.split_once(':') {
        Some((prefix, login)) => {
            let prefix_kind = ForgeKind::from_config(prefix).ok()?;
            (prefix_kind == kind).then_some(login)?
        }
        None => entry,
    };
    let is_account =
        !login.is_empty() && !login.contains(['@', '/']) && !login.contains(char::is_whitespace);
    is_account.then_some(login)
}
