//! The Gitea (and Forgejo) API v1 as far as pull requests go: `/user`, `/users/{login}`,
//! `/repos/{owner}/{repo}/pulls[/{index}[/requested_reviewers|/reviews]]`,
//! `/repos/{owner}/{repo}/labels`, `/repos/{owner}/{repo}/issues/{index}/comments|labels`.
//! Pages are `page` and `limit` with a `Link` header and `X-Total-Count`; editing a pull request
//! answers 201; a duplicate is 409 "pull request already exists for these targets [...]";
//! errors are `{"message", "url"}`; labels are given by id.

use serde_json::{Value, json};

use super::github_like::{self, GithubLike};
use super::{
    At, FakePrState, FakeReview, Model, NewPull, Recorded, Reply, comment_reply, paginate,
    str_field, string_list,
};

fn error(m: &Model, status: u16, text: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": text, "url": format!("{}/api/swagger", m.base)}),
    )
}

fn not_found(m: &Model) -> Reply {
    Reply::json(
        404,
        json!({"errors": [], "message": "The target couldn't be found.", "url": format!("{}/api/swagger", m.base)}),
    )
}

pub(super) fn authenticate(m: &Model, req: &Recorded) -> Result<String, Reply> {
    let Some(value) = req.header("Authorization") else {
        return Err(error(m, 401, "token is required"));
    };
    // The fake accepts only the documented form, `token <token>`.
    let user = value
        .strip_prefix("token ")
        .and_then(|token| m.user_by_token(token));
    user.map(|u| u.login.clone())
        .ok_or_else(|| error(m, 401, "user does not exist [uid: 0, name: ]"))
}

/// Routes a request of the account `login`.
pub(super) fn route(m: &mut Model, req: &Recorded, login: &str) -> Reply {
    let Some(path) = req.path.strip_prefix("/api/v1/") else {
        return not_found(m);
    };
    let segments: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["user"]) => Reply::json(200, m.user_json(login)),
        ("GET", ["users", who]) => m.user_reply(who, not_found(m)),
        (method, ["repos", owner, name, rest @ ..]) => {
            let repo = format!("{owner}/{name}");
            if !m.repos.contains_key(&repo) {
                return not_found(m);
            }
            let at = At {
                req,
                login,
                repo: &repo,
            };
            repo_route(m, &at, method, rest)
        }
        _ => not_found(m),
    }
}

fn repo_route(m: &mut Model, at: &At<'_>, method: &str, rest: &[&str]) -> Reply {
    match (method, rest) {
        ("GET", ["pulls"]) if m.pulls_not_found > 0 => {
            m.pulls_not_found -= 1;
            return not_found(m);
        }
        ("GET", ["pulls"]) => return list_pulls(m, at),
        ("POST", ["pulls"]) => return create_pull(m, at),
        ("GET", ["labels"]) => return list_labels(m, at),
        ("POST", ["labels"]) => return create_label(m, at),
        _ => {}
    }
    github_like::route::<Gitea>(m, at, method, rest)
}

struct Gitea;

impl GithubLike for Gitea {
    fn get(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        Reply::json(200, pull_json(m, at.repo, i))
    }

    fn edit(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let body = &at.req.body;
        let pull = m.pull_at(at.repo, i);
        if let Some(state) = str_field(body, "state") {
            if pull.state == FakePrState::Merged {
                return error(
                    m,
                    412,
                    "cannot change state of this pull request, it was already merged",
                );
            }
            pull.state = if state == "closed" {
                FakePrState::Closed
            } else {
                FakePrState::Open
            };
        }
        if let Some(title) = str_field(body, "title").filter(|t| !t.is_empty()) {
            pull.title = title.to_owned();
        }
        if let Some(text) = str_field(body, "body") {
            pull.body = text.to_owned();
        }
        // Gitea answers an edit with 201 Created.
        Reply::json(201, pull_json(m, at.repo, i))
    }

    fn request_reviewers(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let reviewers = string_list(&at.req.body, "reviewers").unwrap_or_default();
        let teams = string_list(&at.req.body, "team_reviewers").unwrap_or_default();
        if let Some(unknown) = reviewers.iter().find(|r| m.user_by_login(r).is_none()) {
            return error(
                m,
                422,
                &format!("user does not exist [uid: 0, name: {unknown}]"),
            );
        }
        let owner = at.repo.split('/').next().unwrap_or_default();
        if let Some(unknown) = teams
            .iter()
            .find(|t| !m.teams.contains(&format!("{owner}/{t}")))
        {
            return error(m, 404, &format!("team does not exist [name: {unknown}]"));
        }
        let mut out = Vec::new();
        for r in &reviewers {
            let id = m.id();
            out.push(
                json!({"id": id, "user": m.user_json(r), "state": "REQUEST_REVIEW", "body": "",
                            "commit_id": "", "stale": false, "official": false, "dismissed": false}),
            );
        }
        m.request_reviews(at.repo, i, reviewers, teams);
        Reply::json(201, Value::Array(out))
    }

    fn reviews(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let repo = at.repo;
        let p = &m.repos[repo].pulls[i];
        let items: Vec<Value> = p
            .reviews
            .iter()
            .map(|r| {
                let state = match r.state {
                    FakeReview::Approved => "APPROVED",
                    FakeReview::ChangesRequested => "REQUEST_CHANGES",
                    FakeReview::Commented => "COMMENT",
                };
                json!({
                    "id": r.id, "user": m.user_json(&r.login), "state": state, "body": "",
                    "commit_id": r.commit, "stale": r.commit != p.head_sha, "official": true,
                    "dismissed": r.dismissed, "submitted_at": "2026-01-01T00:00:00Z",
                    "pull_request_url": format!("{}/{repo}/pulls/{}", m.base, p.number),
                })
            })
            .collect();
        list(m, at.req, items)
    }

    fn comment(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let Some(text) = str_field(&at.req.body, "body") else {
            return error(m, 422, "[Body]: Required");
        };
        comment_reply(m, at.repo, i, at.login, text, "pulls")
    }

    /// Labels are given by id: names of the repository's labels with those ids are added.
    fn add_labels(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
        let Some(ids) = at
            .req
            .body
            .get("labels")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        else {
            return error(m, 422, "[Labels]: must be a list of label ids");
        };
        let names: Vec<String> = m.repos[at.repo]
            .labels
            .iter()
            .filter(|l| ids.contains(&l.id))
            .map(|l| l.name.clone())
            .collect();
        Reply::json(
            200,
            m.add_labels(at.repo, i, names.iter().map(String::as_str)),
        )
    }

    fn not_found(m: &Model) -> Reply {
        not_found(m)
    }
}

fn list_pulls(m: &Model, at: &At<'_>) -> Reply {
    let state = at.req.query_value("state").unwrap_or("open");
    let items: Vec<Value> = (0..m.repos[at.repo].pulls.len())
        .filter(|i| {
            let p = &m.repos[at.repo].pulls[*i];
            match state {
                "open" => p.state == FakePrState::Open,
                "closed" => p.state != FakePrState::Open,
                _ => true,
            }
        })
        .map(|i| pull_json(m, at.repo, i))
        .collect();
    list(m, at.req, items)
}

fn create_pull(m: &mut Model, at: &At<'_>) -> Reply {
    let (body, repo) = (&at.req.body, at.repo);
    let (Some(head), Some(base)) = (str_field(body, "head"), str_field(body, "base")) else {
        return Reply::json(
            422,
            json!({"message": "[Head]: Required; [Base]: Required", "url": format!("{}/api/swagger", m.base)}),
        );
    };
    if head == base {
        return error(
            m,
            422,
            "Invalid PullRequest: There are no changes between the head and the base",
        );
    }
    let existing = m.repos[repo]
        .pulls
        .iter()
        .find(|p| p.state == FakePrState::Open && p.head == head && p.base == base);
    if let Some(p) = existing {
        let id = m.repos[repo].id;
        let text = format!(
            "pull request already exists for these targets [id: {}, issue_id: {}, head_repo_id: {id}, base_repo_id: {id}, head_branch: {head}, base_branch: {base}]",
            1000 + p.number,
            p.number
        );
        return error(m, 409, &text);
    }
    let pr = NewPull {
        title: str_field(body, "title").unwrap_or_default(),
        body: str_field(body, "body").unwrap_or_default(),
        head,
        base,
    };
    let i = m.push_pull(repo, pr, at.login);
    Reply::json(201, pull_json(m, repo, i))
}

fn list_labels(m: &Model, at: &At<'_>) -> Reply {
    let items: Vec<Value> = m.repos[at.repo]
        .labels
        .iter()
        .map(|l| json!({"id": l.id, "name": l.name, "color": l.color, "description": "", "exclusive": false}))
        .collect();
    list(m, at.req, items)
}

fn create_label(m: &mut Model, at: &At<'_>) -> Reply {
    let body = &at.req.body;
    let (Some(name), Some(color)) = (str_field(body, "name"), str_field(body, "color")) else {
        return error(m, 422, "[Name]: Required; [Color]: Required");
    };
    let hex = color.trim_start_matches('#');
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return error(m, 422, &format!("invalid color '{color}'"));
    }
    if m.repos[at.repo].labels.iter().any(|l| l.name == name) {
        return error(m, 422, "label already exists");
    }
    let id = m.id();
    m.repos
        .get_mut(at.repo)
        .expect("checked")
        .labels
        .push(super::Label {
            id,
            name: name.to_owned(),
            color: hex.to_owned(),
        });
    Reply::json(
        201,
        json!({"id": id, "name": name, "color": hex, "description": "", "exclusive": false}),
    )
}

fn list(m: &Model, req: &Recorded, items: Vec<Value>) -> Reply {
    let total = items.len();
    let (page, mut headers, ..) = paginate(m, req, items, "limit", 30);
    headers.push(("X-Total-Count".into(), total.to_string()));
    Reply {
        status: 200,
        body: Value::Array(page),
        headers,
    }
}

fn pull_json(m: &Model, repo: &str, i: usize) -> Value {
    let p = &m.repos[repo].pulls[i];
    let owner = repo.split('/').next().unwrap_or_default();
    let merged = p.state == FakePrState::Merged;
    json!({
        "id": 1000 + p.number,
        "url": format!("{}/{repo}/pulls/{}", m.base, p.number),
        "number": p.number,
        "user": m.user_json(&p.author),
        "title": p.title,
        "body": p.body,
        "labels": p.labels.iter().map(|l| m.label_json(repo, l)).collect::<Vec<_>>(),
        "state": if p.state == FakePrState::Open { "open" } else { "closed" },
        "is_locked": false,
        "html_url": format!("{}/{repo}/pulls/{}", m.base, p.number),
        "diff_url": format!("{}/{repo}/pulls/{}.diff", m.base, p.number),
        "mergeable": true,
        "merged": merged,
        "merged_at": if merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "merge_commit_sha": if merged { json!("f".repeat(40)) } else { Value::Null },
        "requested_reviewers": p.requested_reviewers.iter().map(|r| m.user_json(r)).collect::<Vec<_>>(),
        "head": {"label": p.head, "ref": p.head, "sha": p.head_sha, "repo": {"full_name": repo, "owner": {"login": owner}}},
        "base": {"label": p.base, "ref": p.base, "sha": "0".repeat(40), "repo": {"full_name": repo, "owner": {"login": owner}}},
        "closed_at": if p.state == FakePrState::Open { Value::Null } else { json!("2026-01-01T00:00:00Z") },
    })
}
