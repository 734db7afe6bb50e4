//! GitHub REST (`X-GitHub-Api-Version: 2022-11-28`): pulls, issue comments and labels, requested
//! reviewers, reviews. A duplicate pull request is 422 with the custom error "A pull request
//! already exists for owner:branch.".

use promote_core::forge::{
    ForgeError, NewPullRequest, PrQuery, PullRequest, ReviewState, encode_component,
};
use serde_json::json;

use super::client::{Client, vendor_message};
use super::github_like::{self, Dialect, ReviewDoc};

pub(crate) struct GitHub;

impl Dialect for GitHub {
    const PAGE: &'static str = "per_page=100";

    fn review_state(review: &ReviewDoc) -> Option<ReviewState> {
        Some(match review.state.as_str() {
            "APPROVED" => ReviewState::Approved,
            "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
            "COMMENTED" => ReviewState::Commented,
            "DISMISSED" => ReviewState::Dismissed,
            "PENDING" => ReviewState::Pending,
            _ => return None,
        })
    }
}

pub(crate) fn find_open(c: &Client, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError> {
    match query {
        PrQuery::Head(branch) => {
            // `head` takes `owner:branch`; same-repository branches are all we open.
            let head = format!("{}:{branch}", c.target.repo.owner());
            let filter = format!("state=open&head={}", encode_component(&head));
            github_like::list::<GitHub>(c, &filter)
        }
        PrQuery::Label(_) => github_like::list::<GitHub>(c, "state=open"),
    }
}

pub(crate) fn create(c: &Client, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
    github_like::create(c, pr, |answer| {
        answer.status == 422
            && vendor_message(&answer.body).contains("A pull request already exists")
    })
}

pub(crate) fn add_labels(c: &Client, number: u64, labels: &[String]) -> Result<(), ForgeError> {
    github_like::add_labels(c, number, json!(labels))
}
