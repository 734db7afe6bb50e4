//! GitHub REST (`X-GitHub-Api-Version: 2022-11-28`): pulls, issue comments and labels, requested
//! reviewers, reviews. A duplicate pull request is 422 with the custom error "A pull request
//! already exists for owner:branch.".

use promote_core::forge::{
    ForgeError, ForgeUser, NewPullRequest, PrQuery, PrState, PullRequest, Review, ReviewState,
    encode_component,
};
use serde::Deserialize;
use serde_json::json;

use crate::github_like::{get, repo};
use crate::http::{Client, Method, Subject, vendor_message};

#[derive(Deserialize)]
struct User {
    login: String,
    id: Option<u64>,
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct Label {
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
    merged_at: Option<String>,
    head: Branch,
    base: Branch,
    #[serde(default)]
    labels: Vec<Label>,
    user: Option<User>,
}

impl From<Pull> for PullRequest {
    fn from(p: Pull) -> Self {
        let state = match (p.state.as_str(), p.merged || p.merged_at.is_some()) {
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
        name: u.name,
        email: u.email,
    })
}

pub(crate) fn find_open(c: &Client, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError> {
    let action = "list open pull requests";
    let pulls: Vec<Pull> = match query {
        PrQuery::Head(branch) => {
            // `head` takes `owner:branch`; same-repository branches are all we open.
            let head = format!("{}:{branch}", c.target.repo.owner());
            c.all_pages(
                &format!(
                    "{}/pulls?state=open&head={}&per_page=100",
                    repo(c),
                    encode_component(&head)
                ),
                action,
            )?
        }
        PrQuery::Label(_) => c.all_pages(
            &format!("{}/pulls?state=open&per_page=100", repo(c)),
            action,
        )?,
    };
    let pulls = pulls.into_iter().map(PullRequest::from);
    Ok(match query {
        PrQuery::Head(branch) => pulls.filter(|p| p.head == *branch).collect(),
        PrQuery::Label(label) => pulls.filter(|p| p.labels.contains(label)).collect(),
    })
}

pub(crate) fn create(c: &Client, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
    let action = "open a pull request";
    let body = json!({"title": pr.title, "head": pr.head, "base": pr.base, "body": pr.body});
    let answer = c.send(
        Method::Post,
        &c.url(&format!("{}/pulls", repo(c))),
        Some(&body),
        action,
    )?;
    if answer.status == 422
        && vendor_message(&answer.body).contains("A pull request already exists")
    {
        return Err(ForgeError::AlreadyExists {
            forge: c.kind(),
            noun: "pull request",
            repo: c.target.repo.to_string(),
            head: pr.head.clone(),
            base: pr.base.clone(),
        });
    }
    if answer.status != 201 && answer.status != 200 {
        return Err(c.error(&answer, action, Subject::Repo));
    }
    c.decode::<Pull>(&answer.body, action)
        .map(PullRequest::from)
}

pub(crate) fn add_labels(c: &Client, number: u64, labels: &[String]) -> Result<(), ForgeError> {
    let path = format!("{}/issues/{number}/labels", repo(c));
    c.call(
        Method::Post,
        &path,
        Some(&json!({"labels": labels})),
        "label the pull request",
        Subject::Pull(number),
    )?;
    Ok(())
}

pub(crate) fn reviews(c: &Client, number: u64) -> Result<Vec<Review>, ForgeError> {
    // Check the pull request first, so a wrong number reads as such rather than as a wrong repo.
    get::<Pull>(c, number)?;
    let path = format!("{}/pulls/{number}/reviews?per_page=100", repo(c));
    let docs: Vec<ReviewDoc> = c.all_pages(&path, "read the pull request's reviews")?;
    Ok(docs
        .into_iter()
        .filter_map(|r| {
            let state = match r.state.as_str() {
                "APPROVED" => ReviewState::Approved,
                "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
                "COMMENTED" => ReviewState::Commented,
                "DISMISSED" => ReviewState::Dismissed,
                "PENDING" => ReviewState::Pending,
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
