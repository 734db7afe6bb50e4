//! The routes GitHub and Gitea share for one pull request, under `/repos/{owner}/{repo}`:
//! `pulls/{n}` (GET, PATCH), `pulls/{n}/requested_reviewers` (POST), `pulls/{n}/reviews` (GET),
//! and the issues API's `issues/{n}/comments` and `issues/{n}/labels` (POST). Each vendor
//! answers them in its own words ([`GithubLike`]).

use super::{At, Model, Reply};

/// A vendor's handlers for the shared routes; `i` is the pull request's index.
pub(super) trait GithubLike {
    fn get(m: &mut Model, at: &At<'_>, i: usize) -> Reply;
    fn edit(m: &mut Model, at: &At<'_>, i: usize) -> Reply;
    fn request_reviewers(m: &mut Model, at: &At<'_>, i: usize) -> Reply;
    fn reviews(m: &mut Model, at: &At<'_>, i: usize) -> Reply;
    fn comment(m: &mut Model, at: &At<'_>, i: usize) -> Reply;
    fn add_labels(m: &mut Model, at: &At<'_>, i: usize) -> Reply;
    /// The vendor's 404.
    fn not_found(m: &Model) -> Reply;
}

/// Routes `method` `rest` (the path after the repository) to `V`'s handler for the pull
/// request it names; a 404 for an unknown route or pull request.
pub(super) fn route<V: GithubLike>(
    m: &mut Model,
    at: &At<'_>,
    method: &str,
    rest: &[&str],
) -> Reply {
    let (number, route) = match rest {
        ["compare", basehead] if method == "GET" => return compare(m, at, basehead),
        ["pulls", n, route @ ..] => (*n, route),
        ["issues", n, route @ ..] if !route.is_empty() => (*n, route),
        _ => return V::not_found(m),
    };
    let handler: fn(&mut Model, &At<'_>, usize) -> Reply = match (method, rest[0], route) {
        ("GET", "pulls", []) => V::get,
        ("PATCH", "pulls", []) => V::edit,
        ("POST", "pulls", ["requested_reviewers"]) => V::request_reviewers,
        ("GET", "pulls", ["reviews"]) => V::reviews,
        ("POST", "issues", ["comments"]) => V::comment,
        ("POST", "issues", ["labels"]) => V::add_labels,
        _ => return V::not_found(m),
    };
    match m.pull_index(at.repo, number) {
        Some(i) => handler(m, at, i),
        None => V::not_found(m),
    }
}

/// `GET compare/A...B` as GitHub and Gitea answer it: the commits after A up to B in the
/// history the test gave ([`super::FakeForge::add_commits`]), oldest first, and their count.
fn compare(m: &Model, at: &At<'_>, basehead: &str) -> Reply {
    let Some((from, to)) = basehead.split_once("...") else {
        return Reply::json(404, serde_json::json!({"message": "Not Found"}));
    };
    let commits = &m.repos[at.repo].commits;
    let index = |rev: &str| commits.iter().position(|(sha, _)| sha.starts_with(rev));
    let (Some(a), Some(b)) = (index(from), index(to)) else {
        return Reply::json(404, serde_json::json!({"message": "Not Found"}));
    };
    let listed: Vec<_> = commits[(a + 1).min(b + 1)..=b]
        .iter()
        .map(|(sha, message)| serde_json::json!({"sha": sha, "commit": {"message": message}}))
        .collect();
    Reply::json(
        200,
        serde_json::json!({"total_commits": listed.len(), "commits": listed}),
    )
}
