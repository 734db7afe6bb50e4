//! Gitea and Forgejo API v1: pulls (an edit answers 201), issue comments, labels by id (created
//! when missing), requested reviewers, reviews. Lists page with `page`/`limit` and `Link`.
//! A duplicate is 409 "pull request already exists for these targets [...]".

use promote_core::forge::{
    ForgeError, ForgeUser, NewPullRequest, PrQuery, PrState, PullRequest, Review, ReviewState,
};
use serde::Deserialize;
use serde_json::json;

use crate::github_like::{get, repo};
use crate::http::{Client, Method, Subject};

/// Gitea caps pages at 50 by default (`MAX_RESPONSE_ITEMS`); asking for more gets 50 anyway.
const PAGE: u32 = 50;

/// The color given to labels created on the fly: a neutral grey.
const LABEL_COLOR: &str = "#ededed";

#[derive(Deserialize)]
struct User {
    login: String,
    id: Option<u64>,
    full_name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct Label {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    sha: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Pull {
    number: u64,
    html_url: String,
    title: String,
    body: Option<String>,
    state: String,
    #[serde(default)]
    merged: bool,
    head: Branch,
    base: Branch,
    #[serde(default)]
    labels: Vec<Label>,
    user: Option<User>,
}

impl From<Pull> for PullRequest {
    fn from(p: Pull) -> Self {
        let state = match (p.state.as_str(), p.merged) {
            (_, true) => PrState::Merged,
            ("open", false) => PrState::Open,
            (_, false) => PrState::Closed,
        };
        PullRequest {
            number: p.number,
            url: p.html_url,
            title: p.title,
            body: p.body.unwrap_or_default(),
            head: p.head.name,
            head_sha: p.head.sha,
            base: p.base.name,
            state,
            labels: p.labels.into_iter().map(|l| l.name).collect(),
            author: p.user.map(|u| u.login),
        }
    }
}

#[derive(Deserialize)]
struct ReviewDoc {
    user: Option<User>,
    state: String,
    commit_id: Option<String>,
    submitted_at: Option<String>,
    #[serde(default)]
    dismissed: bool,
}

pub(crate) fn whoami(c: &Client) -> Result<ForgeUser, ForgeError> {
    let u: User = c.json(
        Method::Get,
        "/user",
        None,
        "identify the token's account",
        Subject::Repo,
    )?;
    Ok(ForgeUser {
        login: u.login,
        id: u.id,
        name: u.full_name.filter(|n| !n.is_empty()),
        email: u.email,
    })
}

pub(crate) fn find_open(c: &Client, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError> {
    // Gitea's list filters neither by head branch nor by label name: read all open ones.
    let path = format!("{}/pulls?state=open&limit={PAGE}", repo(c));
    let pulls: Vec<Pull> = c.all_pages(&path, "list open pull requests")?;
    let pulls = pulls.into_iter().map(PullRequest::from);
    Ok(match query {
        PrQuery::Head(branch) => pulls.filter(|p| p.head == *branch).collect(),
        PrQuery::Label(label) => pulls.filter(|p| p.labels.contains(label)).collect(),
    })
}

pub(crate) fn create(c: &Client, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
    let action = "open a pull request";
    let body = json!({"head": pr.head, "base": pr.base, "title": pr.title, "body": pr.body});
    let answer = c.send(
        Method::Post,
        &c.url(&format!("{}/pulls", repo(c))),
        Some(&body),
        action,
    )?;
    if answer.status == 409 {
        return Err(ForgeError::AlreadyExists {
            forge: c.kind(),
            noun: "pull request",
            repo: c.target.repo.to_string(),
            head: pr.head.clone(),
            base: pr.base.clone(),
        });
    }
    if !(200..300).contains(&answer.status) {
        return Err(c.error(&answer, action, Subject::Repo));
    }
    c.decode::<Pull>(&answer.body, action)
        .map(PullRequest::from)
}

/// Gitea adds labels by id: look the names up, create the missing ones, then add.
pub(crate) fn add_labels(c: &Client, number: u64, labels: &[String]) -> Result<(), ForgeError> {
    let existing: Vec<Label> = c.all_pages(
        &format!("{}/labels?limit={PAGE}", repo(c)),
        "list the repository's labels",
    )?;
    let mut ids = Vec::new();
    for name in labels {
        let id = match existing.iter().find(|l| l.name == *name) {
            Some(label) => label.id,
            None => {
                let body = json!({"name": name, "color": LABEL_COLOR, "description": "Added by kubectl promote"});
                let created: Label = c.json(
                    Method::Post,
                    &format!("{}/labels", repo(c)),
                    Some(&body),
                    "create a label",
                    Subject::Repo,
                )?;
                created.id
            }
        };
        ids.push(id);
    }
    let path = format!("{}/issues/{number}/labels", repo(c));
    c.call(
        Method::Post,
        &path,
        Some(&json!({"labels": ids})),
        "label the pull request",
        Subject::Pull(number),
    )?;
    Ok(())
}

pub(crate) fn reviews(c: &Client, number: u64) -> Result<Vec<Review>, ForgeError> {
    get::<Pull>(c, number)?;
    let path = format!("{}/pulls/{number}/reviews?limit={PAGE}", repo(c));
    let docs: Vec<ReviewDoc> = c.all_pages(&path, "read the pull request's reviews")?;
    Ok(docs
        .into_iter()
        .filter_map(|r| {
            let state = match (r.dismissed, r.state.as_str()) {
                (true, _) => ReviewState::Dismissed,
                (false, "APPROVED") => ReviewState::Approved,
                (false, "REQUEST_CHANGES") => ReviewState::ChangesRequested,
                (false, "COMMENT") => ReviewState::Commented,
                // A review request is not a review yet.
                (false, "PENDING" | "REQUEST_REVIEW") => ReviewState::Pending,
                _ => return None,
            };
            Some(Review {
                reviewer: r.user?.login,
                state,
                commit: r.commit_id,
                submitted_at: r.submitted_at,
            })
        })
        .collect())
}
