//! The GitHub REST API (`X-GitHub-Api-Version: 2022-11-28`), served under `/api/v3` as GitHub
//! Enterprise Server does (api.github.com serves the same paths at its root), as far as pull
//! requests go: `/user`, `/users/{login}`,
//! `/repos/{owner}/{repo}/pulls[/{n}[/requested_reviewers|/reviews]]`,
//! `/repos/{owner}/{repo}/issues/{n}/comments|labels`. Errors are `{message, documentation_url,
//! status}`; a duplicate pull request is 422 "Validation Failed" with a custom error.

use serde_json::{Value, json};

use super::github_like::{self, GithubLike};
use super::{
    At, FakePrState, FakeReview, Model, NewPull, Recorded, Reply, comment_reply, paginate,
    str_field, string_list,
};

const DOCS: &str = "https://docs.github.com/rest";

fn error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

fn not_found() -> Reply {
    error(404, "Not Found")
}

pub(super) fn authenticate(m: &Model, req: &Recorded) -> Result<String, Reply> {
    let Some(value) = req.header("Authorization") else {
        return Err(error(401, "Requires authentication"));
    };
    // The fake accepts only the documented form, `Bearer <token>`.
    let user = value
        .strip_prefix("Bearer ")
        .and_then(|token| m.user_by_token(token));
    user.map(|u| u.login.clone())
        .ok_or_else(|| error(401, "Bad credentials"))
}

/// Routes a request of the account `login`.
pub(super) fn route(m: &mut Model, req: &Recorded, login: &str) -> Reply {
    let Some(path) = req.path.strip_prefix("/api/v3/") else {
        return not_found();
    };
    let segments: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["user"]) => {
            let mut user = m.user_json(login);
            user["name"] = json!(format!("{login} (fake)"));
            user["email"] = json!(format!("{login}@users.noreply.github.com"));
            Reply::json(200, user)
        }
        ("GET", ["users", who]) => m.user_reply(who, not_found()),
        (method, ["repos", owner, name, rest @ ..]) => {
            let repo = format!("{owner}/{name}");
            if let Some(new) = m.renamed.get(&repo) {
                return moved(m, new, rest);
            }
            if !m.repos.contains_key(&repo) {
                return not_found();
            }
            let at = At {
                req,
                login,
                repo: &repo,
            };
            repo_route(m, &at, method, rest)
        }
        _ => not_found(),
    }
}

/// A renamed repository: 301 to its new home by id, as GitHub answers.
fn moved(m: &Model, new: &str, rest: &[&str]) -> Reply {
    let location = format!(
        "{}/api/v3/repositories/{}{}",
        m.base,
        m.repos[new].id,
        tail(rest)
    );
    Reply::json(
        301,
        json!({"message": "Moved Permanently", "url": location, "documentation_url": DOCS}),
    )
    .with_header("Location", location)
}

fn repo_route(m: &mut Model, at: &At<'_>, method: &str, rest: &[&str]) -> Reply {
    if let ["pulls"] = rest {
        return match method {
            "GET" => list_pulls(m, at.req, at.repo),
            "POST" => create_pull(m, at.req, at.login, at.repo),
            _ => not_found(),
        };
    }
    github_like::route::<GitHub>(m, at, method, rest)
}

struct GitHub;

impl GithubLike for GitHub {
    fn get(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        Reply::json(200, pull_json(m, at.repo, i))
    }

    fn edit(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let body = &at.req.body;
        let pull = m.pull_at(at.repo, i);
        if let Some(title) = str_field(body, "title") {
            pull.title = title.to_owned();
        }
        if let Some(text) = str_field(body, "body") {
            pull.body = text.to_owned();
        }
        match (str_field(body, "state"), pull.state) {
            (Some("closed"), FakePrState::Open) => pull.state = FakePrState::Closed,
            (Some("open"), FakePrState::Closed) => pull.state = FakePrState::Open,
            (Some("open" | "closed") | None, _) => {}
            (Some(_), _) => return validation_failed("Issue", "state", "invalid"),
        }
        Reply::json(200, pull_json(m, at.repo, i))
    }

    fn request_reviewers(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let reviewers = string_list(&at.req.body, "reviewers").unwrap_or_default();
        let teams = string_list(&at.req.body, "team_reviewers").unwrap_or_default();
        if reviewers.is_empty() && teams.is_empty() {
            return error(
                422,
                "Invalid request.\n\nNo subschema in \"anyOf\" matched.",
            );
        }
        let repo = at.repo;
        let owner = repo.split('/').next().unwrap_or_default();
        let unknown_user = reviewers.iter().any(|r| m.user_by_login(r).is_none());
        let unknown_team = teams
            .iter()
            .any(|t| !m.teams.iter().any(|known| *known == format!("{owner}/{t}")));
        if unknown_user || unknown_team {
            return error(
                422,
                &format!(
                    "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {repo} repository."
                ),
            );
        }
        let author = &m.repos[repo].pulls[i].author;
        if reviewers.iter().any(|r| r.eq_ignore_ascii_case(author)) {
            return error(422, "Review cannot be requested from pull request author.");
        }
        m.request_reviews(repo, i, reviewers, teams);
        Reply::json(201, pull_json(m, repo, i))
    }

    fn reviews(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let repo = at.repo;
        let pull = &m.repos[repo].pulls[i];
        let reviews: Vec<Value> = pull
            .reviews
            .iter()
            .map(|r| {
                let state = match (r.dismissed, r.state) {
                    (true, _) => "DISMISSED",
                    (false, FakeReview::Approved) => "APPROVED",
                    (false, FakeReview::ChangesRequested) => "CHANGES_REQUESTED",
                    (false, FakeReview::Commented) => "COMMENTED",
                };
                json!({
                    "id": r.id, "user": m.user_json(&r.login), "body": "", "state": state,
                    "commit_id": r.commit, "submitted_at": "2026-01-01T00:00:00Z",
                    "html_url": format!("{}/{repo}/pull/{}#pullrequestreview-{}", m.base, pull.number, r.id),
                    "author_association": "COLLABORATOR",
                })
            })
            .collect();
        let (page, headers, ..) = paginate(m, at.req, reviews, "per_page", 30);
        Reply {
            status: 200,
            body: Value::Array(page),
            headers,
        }
    }

    fn comment(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let Some(text) = str_field(&at.req.body, "body") else {
            return validation_failed("IssueComment", "body", "missing_field");
        };
        comment_reply(m, at.repo, i, at.login, text, "pull")
    }

    fn add_labels(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let Some(labels) = string_list(&at.req.body, "labels") else {
            return error(
                422,
                "Invalid request.\n\nFor 'links/0/schema', nil is not an array.",
            );
        };
        Reply::json(
            200,
            m.add_labels(at.repo, i, labels.iter().map(String::as_str)),
        )
    }

    fn not_found(m: &Model) -> Reply {
        let _ = m;
        not_found()
    }
}

fn tail(rest: &[&str]) -> String {
    rest.iter().map(|s| format!("/{s}")).collect()
}

fn validation_failed(resource: &str, field: &str, code: &str) -> Reply {
    Reply::json(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "field": field, "code": code}],
            "documentation_url": DOCS, "status": "422",
        }),
    )
}

fn list_pulls(m: &Model, req: &Recorded, repo: &str) -> Reply {
    let state = req.query_value("state").unwrap_or("open");
    let owner = repo.split('/').next().unwrap_or_default();
    let head = req.query_value("head");
    let base = req.query_value("base");
    let items: Vec<Value> = m.repos[repo]
        .pulls
        .iter()
        .enumerate()
        .filter(|(_, p)| match state {
            "open" => p.state == FakePrState::Open,
            "closed" => p.state != FakePrState::Open,
            _ => true,
        })
        // `head` filters by `user:ref-name`.
        .filter(|(_, p)| head.is_none_or(|h| h == format!("{owner}:{}", p.head)))
        .filter(|(_, p)| base.is_none_or(|b| b == p.base))
        .map(|(i, _)| {
            let mut v = pull_json(m, repo, i);
            // The list omits `merged` (only `merged_at`), as GitHub's does.
            if let Some(obj) = v.as_object_mut() {
                obj.remove("merged");
            }
            v
        })
        .collect();
    let (page, headers, ..) = paginate(m, req, items, "per_page", 30);
    Reply {
        status: 200,
        body: Value::Array(page),
        headers,
    }
}

fn create_pull(m: &mut Model, req: &Recorded, login: &str, repo: &str) -> Reply {
    let body = &req.body;
    let (Some(head), Some(base)) = (str_field(body, "head"), str_field(body, "base")) else {
        return validation_failed("PullRequest", "head", "missing_field");
    };
    let Some(title) = str_field(body, "title") else {
        return validation_failed("PullRequest", "title", "missing_field");
    };
    let owner = repo.split('/').next().unwrap_or_default();
    // `head` is `branch` or `owner:branch`.
    let head_branch = match head.split_once(':') {
        Some((o, b)) if o == owner => b,
        Some(_) => return validation_failed("PullRequest", "head", "invalid"),
        None => head,
    };
    let pulls = &m.repos[repo].pulls;
    if pulls
        .iter()
        .any(|p| p.state == FakePrState::Open && p.head == head_branch && p.base == base)
    {
        return Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "code": "custom",
                            "message": format!("A pull request already exists for {owner}:{head_branch}.")}],
                "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                "status": "422",
            }),
        );
    }
    let pr = NewPull {
        title,
        body: str_field(body, "body").unwrap_or(""),
        head: head_branch,
        base,
    };
    let i = m.push_pull(repo, pr, login);
    let number = m.repos[repo].pulls[i].number;
    let url = format!("{}/api/v3/repos/{repo}/pulls/{number}", m.base);
    Reply::json(201, pull_json(m, repo, i)).with_header("Location", url)
}

fn pull_json(m: &Model, repo: &str, i: usize) -> Value {
    let p = &m.repos[repo].pulls[i];
    let owner = repo.split('/').next().unwrap_or_default();
    let merged = p.state == FakePrState::Merged;
    json!({
        "url": format!("{}/api/v3/repos/{repo}/pulls/{}", m.base, p.number),
        "id": 1000 + p.number,
        "html_url": format!("{}/{repo}/pull/{}", m.base, p.number),
        "number": p.number,
        "state": if p.state == FakePrState::Open { "open" } else { "closed" },
        "locked": false,
        "title": p.title,
        "body": p.body,
        "user": m.user_json(&p.author),
        "labels": p.labels.iter().map(|l| m.label_json(repo, l)).collect::<Vec<_>>(),
        "requested_reviewers": p.requested_reviewers.iter().map(|r| m.user_json(r)).collect::<Vec<_>>(),
        "requested_teams": p.requested_teams.iter().map(|t| json!({"slug": t, "name": t})).collect::<Vec<_>>(),
        "head": {"label": format!("{owner}:{}", p.head), "ref": p.head, "sha": p.head_sha, "repo": {"full_name": repo}},
        "base": {"label": format!("{owner}:{}", p.base), "ref": p.base, "sha": "0".repeat(40), "repo": {"full_name": repo}},
        "draft": false,
        "merged": merged,
        "merged_at": if merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "merge_commit_sha": if merged { json!("f".repeat(40)) } else { Value::Null },
        "closed_at": if p.state == FakePrState::Open { Value::Null } else { json!("2026-01-01T00:00:00Z") },
    })
}
