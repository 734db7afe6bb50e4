//! The promotion's open pull request as it stands before this run lands anything: found by its
//! head branch, with the role approvals its reviews give. A promotion in PR mode reads it before
//! the policies judge the plan, so the plan, the commit's trailers, the pull request's body and
//! the outcome all carry one verdict (testbed finding G4).
//!
//! An approval binds to what is merged: a review of another commit than the pull request's head
//! counts only when git shows that the head changes nothing since (the reviewed commit is an
//! ancestor of the head, with the same tree), as after this tool adds a commit that only brings
//! the trailers up to date ([`super::pr`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use promote_core::forge::{
    self, Forge, ForgeError, ForgeKind, PrQuery, PullRequest, Review, ReviewState, RoleApproval,
};
use promote_git::CommitId;

use crate::approval::PrApprovals;
use crate::{PromoteError, Session};

/// An open pull request for the promotion's head branch, and what its reviews approve.
#[derive(Debug, Clone)]
pub struct ExistingPr {
    pub pr: PullRequest,
    pub forge: ForgeKind,
    /// The roles its reviews approve, as [`forge::role_approvals`] counts them.
    pub approvals: Vec<RoleApproval>,
}

impl ExistingPr {
    /// Its approvals, for requirements on `environment` (the one the pull request promotes).
    pub fn for_env<'a>(&'a self, environment: &'a str) -> PrApprovals<'a> {
        PrApprovals {
            environment,
            forge: self.forge,
            approvals: &self.approvals,
        }
    }
}

/// What is known of the promotion's pull request when landing starts.
#[derive(Debug, Clone, Default)]
pub enum KnownPr {
    /// Not read yet: landing reads it before it pushes anything.
    #[default]
    Unread,
    /// Read: no pull request is open for the head branch.
    NoneOpen,
    /// Read: this one is open.
    Open(Box<ExistingPr>),
}

impl From<Option<ExistingPr>> for KnownPr {
    fn from(found: Option<ExistingPr>) -> Self {
        found.map_or(KnownPr::NoneOpen, |e| KnownPr::Open(Box::new(e)))
    }
}

/// The open pull request from `branch`, with its reviews counted for the roles of
/// `promote.yaml`'s `approvers`; `None` when there is none. Also the first thing asked of the
/// forge in a run: a wrong token, a missing repository or no access fail here, before anything
/// is pushed.
pub fn read(
    forge: &dyn Forge,
    session: &Session,
    branch: &str,
) -> Result<Option<ExistingPr>, PromoteError> {
    let open = find_open(forge, &PrQuery::Head(branch.to_owned()))?;
    let Some(pr) = forge::plan_pull_request(&open, branch).reuse else {
        return Ok(None);
    };
    let kind = forge.target().kind;
    let mut reviews = forge.reviews(pr.number)?;
    if let Some(head) = pr.head_sha.as_deref() {
        for review in &mut reviews {
            if still_holds(session, review, head) {
                review.commit = Some(head.to_owned());
            }
        }
    }
    let approvers = &session.config.approvers;
    if approvers.values().flatten().any(|e| is_email_entry(e)) {
        shown_emails(forge, &mut reviews);
    }
    let approvals = forge::role_approvals(
        kind,
        &reviews,
        pr.head_sha.as_deref(),
        &session.config.approvers,
    );
    Ok(Some(ExistingPr {
        pr,
        forge: kind,
        approvals,
    }))
}

/// How long a Gitea 404 on the pull-request listing is retried ([`find_open`]), and how often.
const EMPTY_REPO_SETTLE: Duration = Duration::from_secs(3);
const EMPTY_REPO_RETRY: Duration = Duration::from_millis(500);

/// [`Forge::find_open`], for a promotion's listings (the first before its branch push, those
/// after it). Gitea 1.27 answers the listing with 404 for a second or two after the first push
/// into a new, empty repository, while it processes that push in the background (testbed finding
/// G7): a user who creates the repository, pushes and promotes at once, or our own branch push,
/// meets that 404. So on Gitea a 404 here is asked again for up to [`EMPTY_REPO_SETTLE`] before
/// it is reported as "no repository"; a repository that really is missing (or hidden from the
/// token) costs those 3 s once. Bounded, and only for this listing in a promotion.
pub(super) fn find_open(
    forge: &dyn Forge,
    query: &PrQuery,
) -> Result<Vec<PullRequest>, ForgeError> {
    let give_up = Instant::now() + EMPTY_REPO_SETTLE;
    loop {
        match forge.find_open(query) {
            Err(ForgeError::RepoNotFound { .. })
                if forge.target().kind == ForgeKind::Gitea && Instant::now() < give_up =>
            {
                std::thread::sleep(EMPTY_REPO_RETRY);
            }
            listed => return listed,
        }
    }
}

/// An `approvers` entry that names an e-mail (as `approve` reads the list).
fn is_email_entry(entry: &str) -> bool {
    entry.contains('@') && !entry.contains(':')
}

/// Fills in, for approving reviews whose account the review shows without an e-mail (or with
/// a placeholder), the e-mail the forge shows on the account (testbed finding G1); once per
/// account. An account it cannot read stays without one: its approval then counts only through
/// an entry naming the account.
fn shown_emails(forge: &dyn Forge, reviews: &mut [Review]) {
    let mut looked_up: BTreeMap<String, Option<String>> = BTreeMap::new();
    for review in reviews
        .iter_mut()
        .filter(|r| r.state == ReviewState::Approved)
    {
        if review
            .email
            .as_deref()
            .is_some_and(|e| !forge::is_placeholder_email(e))
        {
            continue;
        }
        let key = review.reviewer.to_ascii_lowercase();
        let email = looked_up
            .entry(key)
            .or_insert_with(|| forge.user_email(&review.reviewer).ok().flatten());
        if email.is_some() {
            review.email.clone_from(email);
        }
    }
}

/// Whether a review of another commit than `head` holds for `head`: git has both, the reviewed
/// commit is an ancestor of the head and has the same tree. The commit ids come from the forge:
/// only full hex ids are looked up (never a ref name or an abbreviation).
fn still_holds(session: &Session, review: &Review, head: &str) -> bool {
    let Some(reviewed) = review.commit.as_deref().filter(|c| *c != head) else {
        return false;
    };
    let (Some(reviewed), Some(head)) = (full_id(reviewed), full_id(head)) else {
        return false;
    };
    let repo = &session.repo;
    let tree = |c: CommitId| repo.path_id(c, "").ok().flatten();
    repo.is_ancestor(reviewed, head) && tree(reviewed).is_some_and(|t| Some(t) == tree(head))
}

fn full_id(text: &str) -> Option<CommitId> {
    (text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.parse().ok())
        .flatten()
}
