//! GitLab REST v4: merge requests addressed as `/projects/<url-encoded path>/merge_requests/<iid>`,
//! notes, approvals (`approved_by`), reviewers by user id, labels as comma-separated strings.
//! A duplicate is 409 "Another open merge request already exists for this source branch: !N".

use promote_core::forge::{
    ForgeError, ForgeUser, NewPullRequest, PrEdit, PrQuery, PrState, PullRequest, Review,
    ReviewState, encode_component,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Reviewers;
use super::client::{Client, Subject};
use crate::http::Method;

#[derive(Deserialize)]
struct User {
    id: u64,
    username: String,
    name: Option<String>,
    email: Option<String>,
}

impl From<User> for ForgeUser {
    fn from(u: User) -> Self {
        ForgeUser {
            login: u.username,
            id: Some(u.id),
            name: u.name,
            email: u.email,
        }
    }
}

#[derive(Deserialize)]
struct Mr {
    iid: u64,
    web_url: String,
    title: String,
    description: Option<String>,
    state: String,
    source_branch: String,
    target_branch: String,
    sha: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    author: Option<User>,
    #[serde(default)]
    reviewers: Vec<User>,
}

impl From<Mr> for PullRequest {
    fn from(m: Mr) -> Self {
        let state = match m.state.as_str() {
            "merged" => PrState::Merged,
            "closed" => PrState::Closed,
            // `opened`, and `locked` (open, briefly frozen while merging).
            _ => PrState::Open,
        };
        PullRequest {
            number: m.iid,
            url: m.web_url,
            title: m.title,
            body: m.description.unwrap_or_default(),
            head: m.source_branch,
            head_sha: m.sha,
            base: m.target_branch,
            state,
            labels: m.labels,
            author: m.author.map(|a| a.username),
        }
    }
}

#[derive(Deserialize)]
struct Approvals {
    #[serde(default)]
    approved_by: Vec<Approval>,
}

#[derive(Deserialize)]
struct Approval {
    user: User,
}

/// `/projects/group%2Fsub%2Frepo`: GitLab takes the path as the id, URL-encoded.
fn project(c: &Client) -> String {
    format!("/projects/{}", encode_component(c.target.repo.as_str()))
}

pub(crate) fn whoami(c: &Client) -> Result<ForgeUser, ForgeError> {
    c.whoami::<User>()
}

pub(crate) fn find_open(c: &Client, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError> {
    let filter = match query {
        PrQuery::Head(branch) => format!("source_branch={}", encode_component(branch)),
        PrQuery::Label(label) => format!("labels={}", encode_component(label)),
    };
    let path = format!(
        "{}/merge_requests?state=opened&{filter}&per_page=100",
        project(c)
    );
    let mrs: Vec<Mr> = c.all_pages(&path, "list open merge requests")?;
    Ok(mrs.into_iter().map(PullRequest::from).collect())
}

pub(crate) fn create(c: &Client, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
    let body = json!({
        "source_branch": pr.head, "target_branch": pr.base, "title": pr.title, "description": pr.body,
    });
    let path = format!("{}/merge_requests", project(c));
    c.create::<Mr>(&path, &body, pr, |answer| answer.status == 409)
}

/// The merge request as GitLab holds it now.
fn mr(c: &Client, number: u64) -> Result<Mr, ForgeError> {
    let path = format!("{}/merge_requests/{number}", project(c));
    c.on(Subject::Pull(number))
        .get(&path, "read the merge request")
}

fn put(c: &Client, number: u64, body: &Value, action: &str) -> Result<Mr, ForgeError> {
    let path = format!("{}/merge_requests/{number}", project(c));
    c.on(Subject::Pull(number))
        .write(Method::Put, &path, body, action)?
        .json()
}

pub(crate) fn update(c: &Client, number: u64, edit: &PrEdit) -> Result<PullRequest, ForgeError> {
    let body = super::edit_document(edit, "description");
    Ok(put(c, number, &body, "update the merge request")?.into())
}

pub(crate) fn comment(c: &Client, number: u64, comment: &str) -> Result<(), ForgeError> {
    let path = format!("{}/merge_requests/{number}/notes", project(c));
    let (body, action) = (json!({"body": comment}), "comment on the merge request");
    c.on(Subject::Pull(number))
        .write(Method::Post, &path, &body, action)?;
    Ok(())
}

pub(crate) fn close_with_comment(c: &Client, number: u64, comment: &str) -> Result<(), ForgeError> {
    self::comment(c, number, comment)?;
    let close = json!({"state_event": "close"});
    put(c, number, &close, "close the merge request")?;
    Ok(())
}

pub(crate) fn request_reviewers(c: &Client, n: u64, who: &Reviewers) -> Result<(), ForgeError> {
    if let Some(team) = who.teams.first() {
        return Err(ForgeError::TeamReviewersUnsupported {
            forge: c.kind(),
            team: team.clone(),
        });
    }
    // `reviewer_ids` replaces the set: keep whoever is already asked.
    let current = mr(c, n)?;
    let mut ids: Vec<u64> = current.reviewers.iter().map(|u| u.id).collect();
    for login in &who.users {
        let path = format!("/users?username={}", encode_component(login));
        let found: Vec<User> = c.on(Subject::Repo).get(&path, "look up a reviewer")?;
        let Some(user) = found
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(login))
        else {
            return Err(ForgeError::UnknownUser {
                forge: c.kind(),
                login: login.clone(),
            });
        };
        if !ids.contains(&user.id) {
            ids.push(user.id);
        }
    }
    let body = json!({"reviewer_ids": ids});
    put(c, n, &body, "request reviewers")?;
    Ok(())
}

pub(crate) fn add_labels(c: &Client, number: u64, labels: &[String]) -> Result<(), ForgeError> {
    if let Some(bad) = labels.iter().find(|l| l.contains(',')) {
        // `add_labels` is a comma-separated list: a comma would split the label in two.
        return Err(ForgeError::InvalidLabel {
            forge: c.kind(),
            label: bad.clone(),
            reason: "GitLab label lists are comma-separated, so a label name cannot hold a comma",
        });
    }
    let body = json!({"add_labels": labels.join(",")});
    put(c, number, &body, "label the merge request")?;
    Ok(())
}

pub(crate) fn get(c: &Client, number: u64) -> Result<PullRequest, ForgeError> {
    Ok(mr(c, number)?.into())
}

/// GitLab has approvals rather than reviews: each approval is an `Approved` review of no stated
/// commit (GitLab resets approvals on push where the project says so).
pub(crate) fn reviews(c: &Client, number: u64) -> Result<Vec<Review>, ForgeError> {
    let path = format!("{}/merge_requests/{number}/approvals", project(c));
    let action = "read the merge request's approvals";
    let approvals: Approvals = c.on(Subject::Pull(number)).get(&path, action)?;
    Ok(approvals
        .approved_by
        .into_iter()
        .map(|a| Review {
            reviewer: a.user.username,
            state: ReviewState::Approved,
            commit: None,
            submitted_at: None,
            // An approval's user carries no e-mail on GitLab.
            email: None,
        })
        .collect())
}
