//! The Gitea (and Forgejo) API v1 as far as pull requests go: `/user`,
//! `/repos/{owner}/{repo}/pulls[/{index}[/requested_reviewers|/reviews]]`,
//! `/repos/{owner}/{repo}/labels`, `/repos/{owner}/{repo}/issues/{index}/comments|labels`.
//! Pages are `page` and `limit` with a `Link` header and `X-Total-Count`; editing a pull request
//! answers 201; a duplicate is 409 "pull request already exists for these targets [...]";
//! errors are `{"message", "url"}`; labels are given by id.

use serde_json::{Value, json};

use super::{
    FakePrState, FakeReview, Model, Recorded, Reply, new_pull, paginate, str_field, string_list,
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

fn authenticate(m: &Model, req: &Recorded) -> Result<String, Reply> {
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

pub(super) fn route(m: &mut Model, req: &Recorded) -> Reply {
    let login = match authenticate(m, req) {
        Ok(login) => login,
        Err(reply) => return reply,
    };
    let Some(path) = req.path.strip_prefix("/api/v1/") else {
        return not_found(m);
    };
    let segments: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["user"]) => Reply::json(200, m.user_json(&login)),
        (method, ["repos", owner, name, rest @ ..]) => {
            let repo = format!("{owner}/{name}");
            if !m.repos.contains_key(&repo) {
                return not_found(m);
            }
            repo_route(m, req, &login, &repo, method, rest)
        }
        _ => not_found(m),
    }
}

fn repo_route(
    m: &mut Model,
    req: &Recorded,
    login: &str,
    repo: &str,
    method: &str,
    rest: &[&str],
) -> Reply {
    let find = |m: &Model, n: &str| {
        let n = n.parse::<u64>().ok()?;
        m.repos[repo].pulls.iter().position(|p| p.number == n)
    };
    match (method, rest) {
        ("GET", ["pulls"]) => {
            let state = req.query_value("state").unwrap_or("open");
            let items: Vec<Value> = (0..m.repos[repo].pulls.len())
                .filter(|i| {
                    let p = &m.repos[repo].pulls[*i];
                    match state {
                        "open" => p.state == FakePrState::Open,
                        "closed" => p.state != FakePrState::Open,
                        _ => true,
                    }
                })
                .map(|i| pull_json(m, repo, i))
                .collect();
            list(m, req, items)
        }
        ("POST", ["pulls"]) => {
            let body = &req.body;
            let (Some(head), Some(base)) = (str_field(body, "head"), str_field(body, "base"))
            else {
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
            let title = str_field(body, "title").unwrap_or_default();
            let text = str_field(body, "body").unwrap_or_default();
            let r = m.repos.get_mut(repo).expect("checked");
            let number = r.pulls.len() as u64 + 1;
            r.pulls
                .push(new_pull(number, title, text, head, base, login));
            let i = r.pulls.len() - 1;
            Reply::json(201, pull_json(m, repo, i))
        }
        ("GET", ["pulls", n]) => match find(m, n) {
            Some(i) => Reply::json(200, pull_json(m, repo, i)),
            None => not_found(m),
        },
        ("PATCH", ["pulls", n]) => {
            let Some(i) = find(m, n) else {
                return not_found(m);
            };
            let body = &req.body;
            let pull = &mut m.repos.get_mut(repo).expect("checked").pulls[i];
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
            Reply::json(201, pull_json(m, repo, i))
        }
        ("POST", ["pulls", n, "requested_reviewers"]) => {
            let Some(i) = find(m, n) else {
                return not_found(m);
            };
            let reviewers = string_list(&req.body, "reviewers").unwrap_or_default();
            let teams = string_list(&req.body, "team_reviewers").unwrap_or_default();
            if let Some(unknown) = reviewers.iter().find(|r| m.user_by_login(r).is_none()) {
                return error(
                    m,
                    422,
                    &format!("user does not exist [uid: 0, name: {unknown}]"),
                );
            }
            let owner = repo.split('/').next().unwrap_or_default();
            if let Some(unknown) = teams
                .iter()
                .find(|t| !m.teams.contains(&format!("{owner}/{t}")))
            {
                return error(m, 404, &format!("team does not exist [name: {unknown}]"));
            }
            let mut out = Vec::new();
            for r in &reviewers {
                let id = m.id();
                out.push(json!({"id": id, "user": m.user_json(r), "state": "REQUEST_REVIEW", "body": "",
                                "commit_id": "", "stale": false, "official": false, "dismissed": false}));
            }
            let pull = &mut m.repos.get_mut(repo).expect("checked").pulls[i];
            for r in reviewers {
                if !pull.requested_reviewers.contains(&r) {
                    pull.requested_reviewers.push(r);
                }
            }
            for t in teams {
                if !pull.requested_teams.contains(&t) {
                    pull.requested_teams.push(t);
                }
            }
            Reply::json(201, Value::Array(out))
        }
        ("GET", ["pulls", n, "reviews"]) => {
            let Some(i) = find(m, n) else {
                return not_found(m);
            };
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
            list(m, req, items)
        }
        ("GET", ["labels"]) => {
            let items: Vec<Value> = m.repos[repo]
                .labels
                .iter()
                .map(|l| json!({"id": l.id, "name": l.name, "color": l.color, "description": "", "exclusive": false}))
                .collect();
            list(m, req, items)
        }
        ("POST", ["labels"]) => {
            let (Some(name), Some(color)) =
                (str_field(&req.body, "name"), str_field(&req.body, "color"))
            else {
                return error(m, 422, "[Name]: Required; [Color]: Required");
            };
            let hex = color.trim_start_matches('#');
            if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return error(m, 422, &format!("invalid color '{color}'"));
            }
            if m.repos[repo].labels.iter().any(|l| l.name == name) {
                return error(m, 422, "label already exists");
            }
            let id = m.id();
            m.repos
                .get_mut(repo)
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
        ("POST", ["issues", n, "comments"]) => {
            let Some(i) = find(m, n) else {
                return not_found(m);
            };
            let Some(text) = str_field(&req.body, "body") else {
                return error(m, 422, "[Body]: Required");
            };
            let id = m.id();
            let pull = &mut m.repos.get_mut(repo).expect("checked").pulls[i];
            pull.comments.push(super::FakeComment {
                author: login.to_owned(),
                body: text.to_owned(),
            });
            let url = format!("{}/{repo}/pulls/{}#issuecomment-{id}", m.base, pull.number);
            Reply::json(
                201,
                json!({"id": id, "body": text, "user": m.user_json(login), "html_url": url}),
            )
        }
        ("POST", ["issues", n, "labels"]) => {
            let Some(i) = find(m, n) else {
                return not_found(m);
            };
            let Some(ids) = req
                .body
                .get("labels")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
            else {
                return error(m, 422, "[Labels]: must be a list of label ids");
            };
            let names: Vec<String> = m.repos[repo]
                .labels
                .iter()
                .filter(|l| ids.contains(&l.id))
                .map(|l| l.name.clone())
                .collect();
            let pull = &mut m.repos.get_mut(repo).expect("checked").pulls[i];
            for name in names {
                if !pull.labels.contains(&name) {
                    pull.labels.push(name);
                }
            }
            let all = m.repos[repo].pulls[i].labels.clone();
            Reply::json(
                200,
                Value::Array(all.iter().map(|l| m.label_json(repo, l)).collect()),
            )
        }
        _ => not_found(m),
    }
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
