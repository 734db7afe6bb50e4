//! The pull-request calls GitHub and Gitea/Forgejo answer alike. Gitea's API v1 copies GitHub's
//! paths and bodies for reading, editing, commenting on, closing and requesting reviewers for a
//! pull request, so those live here once; each vendor module keeps its own document shapes (`P`),
//! and what really differs (listing, creating, labels, review states).

use promote_core::forge::{ForgeError, PrEdit, PullRequest, encode_component};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::http::{Client, Method, Subject};

/// `/repos/OWNER/NAME`, with both segments encoded.
pub(crate) fn repo(c: &Client) -> String {
    format!(
        "/repos/{}/{}",
        encode_component(c.target.repo.owner()),
        encode_component(c.target.repo.name())
    )
}

pub(crate) fn get<P>(c: &Client, number: u64) -> Result<PullRequest, ForgeError>
where
    P: DeserializeOwned + Into<PullRequest>,
{
    let path = format!("{}/pulls/{number}", repo(c));
    let p: P = c.json(
        Method::Get,
        &path,
        None,
        "read the pull request",
        Subject::Pull(number),
    )?;
    Ok(p.into())
}

pub(crate) fn update<P>(c: &Client, number: u64, edit: &PrEdit) -> Result<PullRequest, ForgeError>
where
    P: DeserializeOwned + Into<PullRequest>,
{
    let mut body = serde_json::Map::new();
    if let Some(title) = &edit.title {
        body.insert("title".into(), json!(title));
    }
    if let Some(text) = &edit.body {
        body.insert("body".into(), json!(text));
    }
    let path = format!("{}/pulls/{number}", repo(c));
    let p: P = c.json(
        Method::Patch,
        &path,
        Some(&Value::Object(body)),
        "update the pull request",
        Subject::Pull(number),
    )?;
    Ok(p.into())
}

pub(crate) fn close_with_comment(c: &Client, number: u64, comment: &str) -> Result<(), ForgeError> {
    // Pull requests take comments through the issues API on both.
    let path = format!("{}/issues/{number}/comments", repo(c));
    c.call(
        Method::Post,
        &path,
        Some(&json!({"body": comment})),
        "comment on the pull request",
        Subject::Pull(number),
    )?;
    let path = format!("{}/pulls/{number}", repo(c));
    c.call(
        Method::Patch,
        &path,
        Some(&json!({"state": "closed"})),
        "close the pull request",
        Subject::Pull(number),
    )?;
    Ok(())
}

pub(crate) fn request_reviewers(
    c: &Client,
    number: u64,
    reviewers: &[String],
) -> Result<(), ForgeError> {
    let (users, teams) = crate::split_teams(reviewers);
    let path = format!("{}/pulls/{number}/requested_reviewers", repo(c));
    let body = json!({"reviewers": users, "team_reviewers": teams});
    c.call(
        Method::Post,
        &path,
        Some(&body),
        "request reviewers",
        Subject::Pull(number),
    )?;
    Ok(())
}
