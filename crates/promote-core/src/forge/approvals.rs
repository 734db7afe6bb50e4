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
    /// Set when the reviewer counted through an e-mail entry of `approvers`: the e-mail the
    /// forge shows for the account (unverified data, said wherever the approval is shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Which roles the reviews of a pull request approve.
///
/// A reviewer's latest deciding review counts (approved, changes requested or dismissed; comments
/// and pending reviews decide nothing), as the forges show it. An approval of another commit than
/// `head_sha` (when both are known) does not count: approvals bind to what is being merged.
///
/// `approvers` maps a role to its entries in `promote.yaml`: `github:alice` (an account on that
/// forge; `gitlab:`, `gitea:` and `forgejo:` likewise) or a bare `alice` (an account on any forge)
/// match a reviewer's login, case-insensitively. An e-mail entry (`pm@example.com`) matches a
/// reviewer whose account the forge shows with that e-mail ([`Review::email`], testbed finding
/// G1), never a placeholder address ([`is_placeholder_email`]): the forge vouches for who
/// reviewed, but the e-mail is what the account holder set, so such an approval carries the
/// e-mail ([`RoleApproval::email`]) for the caller to say so. Teams (`github:org/team`) do not
/// match here: reviews do not say them.
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
            for review in &approved {
                let email = match approver(kind, entry) {
                    Some(Approver::Login(login)) if review.reviewer.eq_ignore_ascii_case(login) => {
                        None
                    }
                    Some(Approver::Email(email)) => match shown_email(review) {
                        Some(shown) if shown.eq_ignore_ascii_case(email) => Some(shown.to_owned()),
                        _ => continue,
                    },
                    _ => continue,
                };
                out.insert(RoleApproval {
                    role: role.clone(),
                    login: review.reviewer.clone(),
                    email,
                });
            }
        }
    }
    out.into_iter().collect()
}

/// Whether an e-mail a forge shows is a placeholder rather than someone's address: a forge
/// shows `ID+login@users.noreply.github.com` (GitHub), `login@noreply.DOMAIN` (Gitea, for a
/// private e-mail or an anonymous reader) or `…@users.noreply.gitlab.com` (GitLab) in place of
/// the real one, and anyone could be behind those. Also anything that is not `local@domain`.
pub fn is_placeholder_email(email: &str) -> bool {
    let Some((local, domain)) = email.trim().rsplit_once('@') else {
        return true;
    };
    local.is_empty()
        || domain.is_empty()
        || domain.split('.').any(|label| {
            label.eq_ignore_ascii_case("noreply") || label.eq_ignore_ascii_case("no-reply")
        })
}

/// The e-mail a review's account shows, unless it is a placeholder.
fn shown_email(review: &Review) -> Option<&str> {
    review
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !is_placeholder_email(e))
}

/// What an `approvers` entry names on one forge.
enum Approver<'a> {
    Login(&'a str),
    Email(&'a str),
}

/// What an approver entry names on forge `kind`: one account there, or an e-mail address.
fn approver(kind: ForgeKind, entry: &str) -> Option<Approver<'_>> {
    let entry = entry.trim();
    // As `approve` reads the list: an entry with `@` and no forge prefix is an e-mail.
    if entry.contains('@') && !entry.contains(':') {
        return Some(Approver::Email(entry));
    }
    approver_login(kind, entry).map(Approver::Login)
}

/// The login an approver entry names on forge `kind`, if it names one account there.
fn approver_login(kind: ForgeKind, entry: &str) -> Option<&str> {
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
