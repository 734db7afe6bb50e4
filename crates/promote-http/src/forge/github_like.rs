//! What GitHub and Gitea/Forgejo answer alike. Gitea's API v1 copies GitHub's paths and documents
//! for pull requests: the account, the pull request and review documents, and reading, opening,
//! editing, commenting on, closing and requesting reviewers for a pull request, so those live here
//! once. Each vendor module keeps what really differs ([`Dialect`]: page sizes, review states) and
//! its own listing, duplicate answer and labels.

use promote_core::forge::{
    ForgeError, ForgeUser, NewPullRequest, PrEdit, PrState, PullRequest, Review, ReviewState,
    encode_component,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Reviewers;
use super::client::{Answer, Client, Subject};
use crate::http::Method;

/// What differs between GitHub and Gitea in the calls they share.
pub(crate) trait Dialect {
    /// The page-size query of a list (each vendor's maximum).
    const PAGE: &'static str;
    /// A review's state as the vendor writes it, or `None` for an entry that is not a review.
    fn review_state(review: &ReviewDoc) -> Option<ReviewState>;
}

/// An account: GitHub calls its display name `name`, Gitea `full_name`.
#[derive(Deserialize)]
pub(crate) struct User {
    login: String,
    id: Option<u64>,
    name: Option<String>,
    full_name: Option<String>,
    email: Option<String>,
}

impl From<User> for ForgeUser {
    fn from(u: User) -> Self {
        ForgeUser {
            login: u.login,
            id: u.id,
            // Gitea sends an empty `full_name` for an account that has none.
            name: u.name.or(u.full_name.filter(|n| !n.is_empty())),
            email: u.email,
        }
    }
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

/// A pull request. GitHub's lists leave `merged` out and give `merged_at` only.
#[derive(Deserialize)]
struct Pull {
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

/// A review. Gitea marks a dismissed one with `dismissed`; GitHub with its state.
#[derive(Deserialize)]
pub(crate) struct ReviewDoc {
    user: Option<User>,
    pub(crate) state: String,
    commit_id: Option<String>,
    submitted_at: Option<String>,
    #[serde(default)]
    pub(crate) dismissed: bool,
}

/// `/repos/OWNER/NAME`, with both segments encoded.
pub(crate) fn repo(c: &Client) -> String {
    format!(
        "/repos/{}/{}",
        encode_component(c.target.repo.owner()),
        encode_component(c.target.repo.name())
    )
}

pub(crate) fn whoami(c: &Client) -> Result<ForgeUser, ForgeError> {
    c.whoami::<User>()
}

/// Every pull request a list answers (`query` filters it where the vendor can), oldest first.
pub(crate) fn list<D: Dialect>(c: &Client, query: &str) -> Result<Vec<PullRequest>, ForgeError> {
    let path = format!("{}/pulls?{query}&{}", repo(c), D::PAGE);
    let pulls: Vec<Pull> = c.all_pages(&path, "list open pull requests")?;
    Ok(pulls.into_iter().map(PullRequest::from).collect())
}

/// Opens a pull request; `is_duplicate` recognises the vendor's "already exists" answer.
pub(crate) fn create(
    c: &Client,
    pr: &NewPullRequest,
    is_duplicate: impl Fn(&Answer) -> bool,
) -> Result<PullRequest, ForgeError> {
    let body = json!({"title": pr.title, "head": pr.head, "base": pr.base, "body": pr.body});
    c.create::<Pull>(&format!("{}/pulls", repo(c)), &body, pr, is_duplicate)
}

pub(crate) fn get(c: &Client, number: u64) -> Result<PullRequest, ForgeError> {
    let path = format!("{}/pulls/{number}", repo(c));
    let pull: Pull = c
        .on(Subject::Pull(number))
        .get(&path, "read the pull request")?;
    Ok(pull.into())
}

pub(crate) fn update(c: &Client, number: u64, edit: &PrEdit) -> Result<PullRequest, ForgeError> {
    let path = format!("{}/pulls/{number}", repo(c));
    let (body, action) = (
        super::edit_document(edit, "body"),
        "update the pull request",
    );
    let answer = c
        .on(Subject::Pull(number))
        .write(Method::Patch, &path, &body, action)?;
    Ok(answer.json::<Pull>()?.into())
}

pub(crate) fn close_with_comment(c: &Client, number: u64, comment: &str) -> Result<(), ForgeError> {
    let pull = c.on(Subject::Pull(number));
    // Pull requests take comments through the issues API on both.
    let path = format!("{}/issues/{number}/comments", repo(c));
    let (body, action) = (json!({"body": comment}), "comment on the pull request");
    pull.write(Method::Post, &path, &body, action)?;
    let path = format!("{}/pulls/{number}", repo(c));
    let (body, action) = (json!({"state": "closed"}), "close the pull request");
    pull.write(Method::Patch, &path, &body, action)?;
    Ok(())
}

pub(crate) fn request_reviewers(c: &Client, n: u64, who: &Reviewers) -> Result<(), ForgeError> {
    let path = format!("{}/pulls/{n}/requested_reviewers", repo(c));
    let body = json!({"reviewers": who.users, "team_reviewers": who.teams});
    c.on(Subject::Pull(n))
        .write(Method::Post, &path, &body, "request reviewers")?;
    Ok(())
}

/// Adds labels to a pull request (through the issues API): names on GitHub, ids on Gitea.
pub(crate) fn add_labels(c: &Client, number: u64, labels: Value) -> Result<(), ForgeError> {
    let path = format!("{}/issues/{number}/labels", repo(c));
    let body = json!({"labels": labels});
    c.on(Subject::Pull(number))
        .write(Method::Post, &path, &body, "label the pull request")?;
    Ok(())
}

pub(crate) fn reviews<D: Dialect>(c: &Client, number: u64) -> Result<Vec<Review>, ForgeError> {
    // Check the pull request first, so a wrong number reads as such rather than as a wrong repo.
    get(c, number)?;
    let path = format!("{}/pulls/{number}/reviews?{}", repo(c), D::PAGE);
    let docs: Vec<ReviewDoc> = c.all_pages(&path, "read the pull request's reviews")?;
    Ok(docs
        .into_iter()
        .filter_map(|r| {
            let state = D::review_state(&r)?;
            let user = r.user?;
            Some(Review {
                state,
                reviewer: user.login,
                commit: r.commit_id,
                submitted_at: r.submitted_at,
                email: user.email.filter(|e| !e.trim().is_empty()),
            })
        })
        .collect())
}

/// The e-mail the forge shows for account `login` (`GET /users/{login}`): GitHub's public
/// e-mail, Gitea's primary one unless the account keeps it private; `None` when it shows none.
pub(crate) fn user_email(c: &Client, login: &str) -> Result<Option<String>, ForgeError> {
    let path = format!("/users/{}", encode_component(login));
    let user: User = c
        .on(Subject::Repo)
        .get(&path, "read a reviewer's account")?;
    Ok(user.email.filter(|e| !e.trim().is_empty()))
}
