//! Gitea and Forgejo API v1: pulls (an edit answers 201), issue comments, labels by id (created
//! when missing), requested reviewers, reviews. Lists page with `page`/`limit` and `Link`.
//! A duplicate is 409 "pull request already exists for these targets [...]".

use promote_core::forge::{ForgeError, NewPullRequest, PrQuery, PullRequest, ReviewState};
use serde::Deserialize;
use serde_json::json;

use super::client::{Client, Subject};
use super::github_like::{self, Dialect, ReviewDoc, repo};
use crate::http::Method;

/// The color given to labels created on the fly: a neutral grey.
const LABEL_COLOR: &str = "#ededed";

pub(crate) struct Gitea;

impl Dialect for Gitea {
    /// Gitea caps pages at 50 by default (`MAX_RESPONSE_ITEMS`); asking for more gets 50 anyway.
    const PAGE: &'static str = "limit=50";

    fn review_state(review: &ReviewDoc) -> Option<ReviewState> {
        Some(match (review.dismissed, review.state.as_str()) {
            (true, _) => ReviewState::Dismissed,
            (false, "APPROVED") => ReviewState::Approved,
            (false, "REQUEST_CHANGES") => ReviewState::ChangesRequested,
            (false, "COMMENT") => ReviewState::Commented,
            // A review request is not a review yet.
            (false, "PENDING" | "REQUEST_REVIEW") => ReviewState::Pending,
            _ => return None,
        })
    }
}

/// A repository's label, which Gitea addresses by id.
#[derive(Deserialize)]
struct RepoLabel {
    id: u64,
    name: String,
}

pub(crate) fn find_open(c: &Client, _query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError> {
    // Gitea's list filters neither by head branch nor by label name: read all open ones.
    github_like::list::<Gitea>(c, "state=open")
}

pub(crate) fn create(c: &Client, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
    github_like::create(c, pr, |answer| answer.status == 409)
}

/// Gitea adds labels by id: look the names up, create the missing ones, then add.
pub(crate) fn add_labels(c: &Client, number: u64, labels: &[String]) -> Result<(), ForgeError> {
    let existing: Vec<RepoLabel> = c.all_pages(
        &format!("{}/labels?{}", repo(c), Gitea::PAGE),
        "list the repository's labels",
    )?;
    let mut ids = Vec::new();
    for name in labels {
        let id = match existing.iter().find(|l| l.name == *name) {
            Some(label) => label.id,
            None => create_label(c, name)?.id,
        };
        ids.push(id);
    }
    github_like::add_labels(c, number, json!(ids))
}

fn create_label(c: &Client, name: &str) -> Result<RepoLabel, ForgeError> {
    let body =
        json!({"name": name, "color": LABEL_COLOR, "description": "Added by kubectl promote"});
    let path = format!("{}/labels", repo(c));
    c.on(Subject::Repo)
        .write(Method::Post, &path, &body, "create a label")?
        .json()
}
