//! The GitLab REST API v4 as far as merge requests go: `/user`, `/users?username=`,
//! `/projects/:id/merge_requests[/:iid[/notes|/approvals]]`, where `:id` is the numeric project
//! id or the URL-encoded path (`group%2Fsub%2Frepo`). Errors are `{"message": …}` (`"401
//! Unauthorized"`, `"404 Project Not Found"`); a duplicate merge request is 409 with the message in
//! an array; labels are comma-separated strings; reviewers are user ids.

use serde_json::{Value, json};

use super::{At, FakePrState, FakeReview, Model, NewPull, Recorded, Reply, paginate, str_field};
use crate::query::percent_decode;

fn message(status: u16, text: &str) -> Reply {
    Reply::json(status, json!({"message": text}))
}

pub(super) fn authenticate(m: &Model, req: &Recorded) -> Result<String, Reply> {
    let user = req
        .header("PRIVATE-TOKEN")
        .and_then(|token| m.user_by_token(token));
    user.map(|u| u.login.clone())
        .ok_or_else(|| message(401, "401 Unauthorized"))
}

/// Routes a request of the account `login`.
pub(super) fn route(m: &mut Model, req: &Recorded, login: &str) -> Reply {
    let Some(path) = req.path.strip_prefix("/api/v4/") else {
        return message(404, "404 Not Found");
    };
    // Split the raw path: an unencoded `group/sub/repo` id falls apart here, as on GitLab.
    let segments: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["user"]) => {
            let mut user = m.user_json(login);
            user["email"] = json!(format!("{login}@example.com"));
            Reply::json(200, user)
        }
        ("GET", ["users"]) => {
            let wanted = req.query_value("username").unwrap_or_default();
            let found: Vec<Value> = m
                .user_by_login(wanted)
                .map(|u| m.user_json(&u.login.clone()))
                .into_iter()
                .collect();
            Reply::json(200, Value::Array(found))
        }
        (method, ["projects", id, rest @ ..]) => {
            let decoded = percent_decode(id);
            let repo = m
                .repos
                .iter()
                .find(|(path, r)| **path == decoded || r.id.to_string() == decoded)
                .map(|(path, _)| path.clone());
            let Some(repo) = repo else {
                return message(404, "404 Project Not Found");
            };
            let at = At {
                req,
                login,
                repo: &repo,
            };
            project_route(m, &at, method, rest)
        }
        _ => message(404, "404 Not Found"),
    }
}

fn project_route(m: &mut Model, at: &At<'_>, method: &str, rest: &[&str]) -> Reply {
    let (iid, route) = match (method, rest) {
        ("GET", ["merge_requests"]) => return list_mrs(m, at),
        ("POST", ["merge_requests"]) => return create_mr(m, at),
        (_, ["merge_requests", iid, route @ ..]) => (*iid, route),
        _ => return message(404, "404 Not Found"),
    };
    let handler: fn(&mut Model, &At<'_>, usize) -> Reply = match (method, route) {
        ("GET", []) => |m, at, i| Reply::json(200, mr_json(m, at.repo, i)),
        ("PUT", []) => edit_mr,
        ("POST", ["notes"]) => add_note,
        ("GET", ["approvals"]) => approvals,
        _ => return message(404, "404 Not Found"),
    };
    match m.pull_index(at.repo, iid) {
        Some(i) => handler(m, at, i),
        None => message(404, "404 Not found"),
    }
}

fn list_mrs(m: &Model, at: &At<'_>) -> Reply {
    let (req, repo) = (at.req, at.repo);
    let state = req.query_value("state").unwrap_or("all");
    let source = req.query_value("source_branch");
    let target = req.query_value("target_branch");
    let labels: Vec<&str> = req
        .query_value("labels")
        .map(|l| l.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    // GitLab lists newest first by default (order_by=created_at, sort=desc).
    let items: Vec<Value> = (0..m.repos[repo].pulls.len())
        .rev()
        .filter(|i| {
            let p = &m.repos[repo].pulls[*i];
            let state_ok = match state {
                "opened" => p.state == FakePrState::Open,
                "closed" => p.state == FakePrState::Closed,
                "merged" => p.state == FakePrState::Merged,
                _ => true,
            };
            state_ok
                && source.is_none_or(|s| s == p.head)
                && target.is_none_or(|t| t == p.base)
                && labels.iter().all(|l| p.labels.iter().any(|have| have == l))
        })
        .map(|i| mr_json(m, repo, i))
        .collect();
    let total = items.len();
    let (page, mut headers, current, last) = paginate(m, req, items, "per_page", 20);
    let next = if current < last {
        (current + 1).to_string()
    } else {
        String::new()
    };
    headers.push(("X-Page".into(), current.to_string()));
    headers.push(("X-Next-Page".into(), next));
    headers.push(("X-Total".into(), total.to_string()));
    headers.push(("X-Total-Pages".into(), last.to_string()));
    Reply {
        status: 200,
        body: Value::Array(page),
        headers,
    }
}

fn create_mr(m: &mut Model, at: &At<'_>) -> Reply {
    let (body, repo) = (&at.req.body, at.repo);
    for field in ["source_branch", "target_branch", "title"] {
        if str_field(body, field).is_none() {
            return Reply::json(400, json!({"error": format!("{field} is missing")}));
        }
    }
    let source = str_field(body, "source_branch").unwrap_or_default();
    let existing = m.repos[repo]
        .pulls
        .iter()
        .find(|p| p.state == FakePrState::Open && p.head == source)
        .map(|p| p.number);
    if let Some(iid) = existing {
        return Reply::json(
            409,
            json!({"message": [format!("Another open merge request already exists for this source branch: !{iid}")]}),
        );
    }
    let pr = NewPull {
        title: str_field(body, "title").unwrap_or_default(),
        body: str_field(body, "description").unwrap_or_default(),
        head: source,
        base: str_field(body, "target_branch").unwrap_or_default(),
    };
    let i = m.push_pull(repo, pr, at.login);
    if let Some(labels) = str_field(body, "labels") {
        m.add_labels(repo, i, label_list(labels));
    }
    Reply::json(201, mr_json(m, repo, i))
}

fn edit_mr(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
    let (body, repo) = (&at.req.body, at.repo);
    if let Some(ids) = body.get("reviewer_ids") {
        let Some(ids) = ids
            .as_array()
            .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        else {
            return Reply::json(400, json!({"error": "reviewer_ids is invalid"}));
        };
        let mut logins = Vec::new();
        for id in ids {
            match m.users.iter().find(|u| u.id == id) {
                Some(u) => logins.push(u.login.clone()),
                None => return message(404, "404 User Not Found"),
            }
        }
        m.pull_at(repo, i).requested_reviewers = logins;
    }
    if let Some(labels) = str_field(body, "add_labels") {
        m.add_labels(repo, i, label_list(labels));
    }
    let pull = m.pull_at(repo, i);
    if let Some(title) = str_field(body, "title") {
        pull.title = title.to_owned();
    }
    if let Some(description) = str_field(body, "description") {
        pull.body = description.to_owned();
    }
    match (str_field(body, "state_event"), pull.state) {
        (Some("close"), FakePrState::Open) => pull.state = FakePrState::Closed,
        (Some("reopen"), FakePrState::Closed) => pull.state = FakePrState::Open,
        (Some("close" | "reopen") | None, _) => {}
        (Some(_), _) => {
            return Reply::json(
                400,
                json!({"error": "state_event does not have a valid value"}),
            );
        }
    }
    Reply::json(200, mr_json(m, repo, i))
}

fn add_note(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
    let Some(text) = str_field(&at.req.body, "body") else {
        return Reply::json(400, json!({"error": "body is missing"}));
    };
    let id = m.comment(at.repo, i, at.login, text);
    let iid = m.repos[at.repo].pulls[i].number;
    Reply::json(
        201,
        json!({"id": id, "type": null, "body": text, "author": m.user_json(at.login), "system": false,
               "noteable_type": "MergeRequest", "noteable_iid": iid}),
    )
}

/// An approval stands until taken back; "changes requested" takes it back here.
fn approvals(m: &mut Model, at: &At<'_>, i: usize) -> Reply {
    let repo = at.repo;
    let p = &m.repos[repo].pulls[i];
    let mut approved: Vec<&str> = Vec::new();
    for r in &p.reviews {
        match r.state {
            FakeReview::Approved if !r.dismissed => {
                if !approved.contains(&r.login.as_str()) {
                    approved.push(&r.login);
                }
            }
            FakeReview::Approved | FakeReview::ChangesRequested => {
                approved.retain(|l| *l != r.login)
            }
            FakeReview::Commented => {}
        }
    }
    Reply::json(
        200,
        json!({
            "id": 1000 + p.number, "iid": p.number, "project_id": m.repos[repo].id,
            "title": p.title, "description": p.body, "state": state_name(p.state),
            "merge_status": "can_be_merged",
            "approved": !approved.is_empty(),
            "approved_by": approved.iter().map(|l| json!({"user": m.user_json(l)})).collect::<Vec<_>>(),
        }),
    )
}

/// `add_labels` and `labels` are comma-separated lists.
fn label_list(labels: &str) -> impl Iterator<Item = &str> {
    labels.split(',').map(str::trim).filter(|l| !l.is_empty())
}

fn state_name(state: FakePrState) -> &'static str {
    match state {
        FakePrState::Open => "opened",
        FakePrState::Closed => "closed",
        FakePrState::Merged => "merged",
    }
}

fn mr_json(m: &Model, repo: &str, i: usize) -> Value {
    let r = &m.repos[repo];
    let p = &r.pulls[i];
    let merged = p.state == FakePrState::Merged;
    json!({
        "id": 1000 + p.number,
        "iid": p.number,
        "project_id": r.id,
        "title": p.title,
        "description": p.body,
        "state": state_name(p.state),
        "source_branch": p.head,
        "target_branch": p.base,
        "source_project_id": r.id,
        "target_project_id": r.id,
        "author": m.user_json(&p.author),
        "reviewers": p.requested_reviewers.iter().map(|l| m.user_json(l)).collect::<Vec<_>>(),
        "labels": p.labels,
        "draft": false,
        "work_in_progress": false,
        "sha": p.head_sha,
        "merge_commit_sha": if merged { json!("f".repeat(40)) } else { Value::Null },
        "merged_at": if merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "detailed_merge_status": "mergeable",
        "web_url": format!("{}/{repo}/-/merge_requests/{}", m.base, p.number),
        "references": {"short": format!("!{}", p.number), "full": format!("{repo}!{}", p.number)},
    })
}
