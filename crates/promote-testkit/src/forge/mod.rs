//! Fake GitHub, GitLab and Gitea/Forgejo REST servers on `127.0.0.1:0`, for testing the forge
//! client and the PR-mode use cases without a network.
//!
//! Each fake answers with the vendor's documented paths, field names, status codes and error
//! bodies (GitHub REST, GitLab REST v4, Gitea API v1), keeps its repositories, pull requests,
//! labels and reviews in memory, and records every request for assertions. Tests play the humans
//! through the controls: [`FakeForge::merge`], [`FakeForge::close`], [`FakeForge::add_review`],
//! [`FakeForge::add_user`] (the token → account mapping).
//!
//! Deliberate strictness, so the client cannot get away with less than the vendors document:
//! only the documented auth header form is accepted (GitHub `Authorization: Bearer <t>`, Gitea
//! `Authorization: token <t>`, GitLab `PRIVATE-TOKEN: <t>`; the real servers take more forms), a
//! GitLab project must be addressed by its id or its URL-encoded path, Gitea labels must be given
//! by id, and reviews may only be requested from known accounts.

mod gitea;
mod github;
mod github_like;
mod gitlab;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use promote_core::forge::{ForgeKind, ForgeSettings, ForgeTarget, NewPullRequest, RepoPath};
use serde_json::{Value, json};

use crate::query::encode;

/// Which vendor a fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    GitHub,
    GitLab,
    /// Gitea and Forgejo (same API).
    Gitea,
}

/// A promotion's pull request as the forge tests open it: prod to the version `head` ends in.
pub fn new_pull_request(head: &str) -> NewPullRequest {
    NewPullRequest {
        title: format!(
            "Promote prod to {}",
            head.rsplit('/').next().unwrap_or(head)
        ),
        body: format!("| image | tag |\n|---|---|\n| shop/cart | {head} |"),
        head: head.to_owned(),
        base: "main".to_owned(),
    }
}

impl Vendor {
    pub const ALL: [Vendor; 3] = [Vendor::GitHub, Vendor::GitLab, Vendor::Gitea];

    /// The forge kind `promote.yaml` names for it.
    pub fn kind(self) -> ForgeKind {
        match self {
            Vendor::GitHub => ForgeKind::GitHub,
            Vendor::GitLab => ForgeKind::GitLab,
            Vendor::Gitea => ForgeKind::Gitea,
        }
    }

    /// The repository tests of this vendor use: GitLab's sits in a subgroup.
    pub fn test_repo(self) -> &'static str {
        match self {
            Vendor::GitLab => "group/sub/gitops",
            Vendor::GitHub | Vendor::Gitea => "acme/gitops",
        }
    }
}

/// A review a test submits as a person would; each fake stores it in its vendor's terms
/// (on GitLab, `Approved` approves and `ChangesRequested` takes an approval back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeReview {
    Approved,
    ChangesRequested,
    Commented,
}

/// A pull request's state in the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakePrState {
    Open,
    Closed,
    Merged,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The raw path, still percent-encoded (`/api/v4/projects/group%2Fsub%2Frepo/…`).
    pub path: String,
    /// Decoded query pairs in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// The JSON body, if there was one (`Value::Null` when absent).
    pub body: Value,
    /// The body as sent, for bodies that are not JSON.
    pub raw_body: String,
}

impl Recorded {
    /// A header by name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `"POST /repos/acme/gitops/pulls"`: handy in assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A comment on a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    pub author: String,
    pub body: String,
}

/// A pull request as the fake holds it: what tests assert on.
#[derive(Debug, Clone)]
pub struct FakePull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub head_sha: String,
    pub state: FakePrState,
    pub author: String,
    pub labels: Vec<String>,
    pub requested_reviewers: Vec<String>,
    pub requested_teams: Vec<String>,
    pub comments: Vec<FakeComment>,
    reviews: Vec<StoredReview>,
}

#[derive(Debug, Clone)]
struct StoredReview {
    id: u64,
    login: String,
    state: FakeReview,
    commit: String,
    dismissed: bool,
}

#[derive(Debug, Clone)]
struct User {
    id: u64,
    login: String,
    token: Option<String>,
    /// The e-mail the account shows to others ([`FakeForge::set_email`]).
    email: Option<String>,
}

#[derive(Debug, Clone)]
struct Label {
    id: u64,
    name: String,
    color: String,
}

#[derive(Debug, Default)]
struct Repo {
    id: u64,
    pulls: Vec<FakePull>,
    labels: Vec<Label>,
    /// The default branch's history, oldest first: (sha, message), for the compare API.
    commits: Vec<(String, String)>,
}

struct Model {
    vendor: Vendor,
    base: String,
    users: Vec<User>,
    teams: Vec<String>,
    repos: BTreeMap<String, Repo>,
    /// Old path → new path, for repositories renamed or transferred.
    renamed: BTreeMap<String, String>,
    requests: Vec<Recorded>,
    max_page_size: usize,
    /// How many more pull-request listings answer 404 ([`FakeForge::pulls_not_found_for`]).
    pulls_not_found: u32,
    next_id: u64,
}

impl Model {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn user_by_token(&self, token: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.token.as_deref() == Some(token))
    }

    fn user_by_login(&self, login: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }

    /// An account as the vendor shows it to others: GitHub with its public e-mail (`null` when
    /// none), Gitea with its e-mail or, for one kept private, the placeholder Gitea shows.
    fn user_json(&self, login: &str) -> Value {
        let user = self.user_by_login(login);
        let id = user.map_or(0, |u| u.id);
        let email = user.and_then(|u| u.email.clone());
        match self.vendor {
            Vendor::GitHub => json!({
                "login": login, "id": id, "type": "User", "site_admin": false,
                "html_url": format!("{}/{login}", self.base), "email": email,
            }),
            Vendor::GitLab => json!({
                "id": id, "username": login, "name": login, "state": "active",
                "web_url": format!("{}/{login}", self.base),
            }),
            Vendor::Gitea => json!({
                "id": id, "login": login, "login_name": "", "full_name": login,
                "email": email.unwrap_or_else(|| format!("{login}@noreply.localhost")),
            }),
        }
    }

    /// `GET /users/{login}` (GitHub, Gitea): the account as others see it, or the vendor's 404.
    fn user_reply(&self, login: &str, not_found: Reply) -> Reply {
        match self.user_by_login(login) {
            Some(u) => Reply::json(200, self.user_json(&u.login.clone())),
            None => not_found,
        }
    }

    fn label_id(&mut self, repo: &str, name: &str) -> u64 {
        if let Some(label) = self
            .repos
            .get(repo)
            .and_then(|r| r.labels.iter().find(|l| l.name == name))
        {
            return label.id;
        }
        let id = self.id();
        if let Some(r) = self.repos.get_mut(repo) {
            r.labels.push(Label {
                id,
                name: name.to_owned(),
                color: "ededed".to_owned(),
            });
        }
        id
    }

    /// The index of pull request `number` (as a path segment) in `repo`.
    fn pull_index(&self, repo: &str, number: &str) -> Option<usize> {
        let number = number.parse::<u64>().ok()?;
        self.repos[repo]
            .pulls
            .iter()
            .position(|p| p.number == number)
    }

    fn pull_at(&mut self, repo: &str, i: usize) -> &mut FakePull {
        &mut self.repos.get_mut(repo).expect("checked").pulls[i]
    }

    /// Opens a pull request as `author` through the API; its index.
    fn push_pull(&mut self, repo: &str, pr: NewPull<'_>, author: &str) -> usize {
        let r = self.repos.get_mut(repo).expect("checked");
        let number = r.pulls.len() as u64 + 1;
        r.pulls.push(new_pull(
            number, pr.title, pr.body, pr.head, pr.base, author,
        ));
        r.pulls.len() - 1
    }

    /// `author` comments on the pull request at `i`; the comment's id.
    fn comment(&mut self, repo: &str, i: usize, author: &str, text: &str) -> u64 {
        let id = self.id();
        self.pull_at(repo, i).comments.push(FakeComment {
            author: author.to_owned(),
            body: text.to_owned(),
        });
        id
    }

    /// Asks `users` and `teams` to review the pull request at `i` (each once).
    fn request_reviews(&mut self, repo: &str, i: usize, users: Vec<String>, teams: Vec<String>) {
        let pull = self.pull_at(repo, i);
        for r in users {
            if !pull.requested_reviewers.contains(&r) {
                pull.requested_reviewers.push(r);
            }
        }
        for t in teams {
            if !pull.requested_teams.contains(&t) {
                pull.requested_teams.push(t);
            }
        }
    }

    /// Labels the pull request at `i` (each label once, created in the repository if new);
    /// the JSON of all its labels.
    fn add_labels<'l>(
        &mut self,
        repo: &str,
        i: usize,
        labels: impl IntoIterator<Item = &'l str>,
    ) -> Value {
        for label in labels {
            // GitHub and GitLab create labels the repository does not have yet.
            self.label_id(repo, label);
            let pull = self.pull_at(repo, i);
            if !pull.labels.iter().any(|l| l == label) {
                pull.labels.push(label.to_owned());
            }
        }
        let all = self.repos[repo].pulls[i].labels.clone();
        Value::Array(all.iter().map(|l| self.label_json(repo, l)).collect())
    }

    fn label_json(&self, repo: &str, name: &str) -> Value {
        let label = self
            .repos
            .get(repo)
            .and_then(|r| r.labels.iter().find(|l| l.name == name));
        let (id, color) = label.map_or((0, "ededed".to_owned()), |l| (l.id, l.color.clone()));
        json!({"id": id, "name": name, "color": color, "description": "", "default": false})
    }
}

/// A running fake forge. Dropping it stops the server.
pub struct FakeForge {
    vendor: Vendor,
    addr: String,
    model: Arc<Mutex<Model>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl FakeForge {
    pub fn github() -> Self {
        Self::start(Vendor::GitHub)
    }

    pub fn gitlab() -> Self {
        Self::start(Vendor::GitLab)
    }

    pub fn gitea() -> Self {
        Self::start(Vendor::Gitea)
    }

    pub fn start(vendor: Vendor) -> Self {
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0").expect("bind a fake forge on 127.0.0.1:0"),
        );
        let addr = server
            .server_addr()
            .to_ip()
            .expect("an IP listener")
            .to_string();
        let base = format!("http://{addr}");
        let model = Arc::new(Mutex::new(Model {
            vendor,
            base: base.clone(),
            users: Vec::new(),
            teams: Vec::new(),
            repos: BTreeMap::new(),
            renamed: BTreeMap::new(),
            requests: Vec::new(),
            // The vendors' caps: GitHub and GitLab 100 per page, Gitea 50 (MAX_RESPONSE_ITEMS).
            max_page_size: if vendor == Vendor::Gitea { 50 } else { 100 },
            pulls_not_found: 0,
            next_id: 100,
        }));
        let thread = {
            let server = Arc::clone(&server);
            let model = Arc::clone(&model);
            std::thread::spawn(move || serve(&server, &model))
        };
        FakeForge {
            vendor,
            addr,
            model,
            server,
            thread: Some(thread),
        }
    }

    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// The forge target of `repo` on this fake, as `forge:` settings pointing here resolve it
    /// (type, API URL, repository, token variable): the remote is a local bare repository, as
    /// in the end-to-end tests, so the settings say it all.
    pub fn target(&self, repo: &str, token_env: &str) -> ForgeTarget {
        let settings = ForgeSettings {
            kind: Some(self.vendor.kind()),
            url: Some(self.api_url()),
            repo: Some(RepoPath::parse(repo).expect("a repository path")),
            token_env: Some(token_env.to_owned()),
        };
        ForgeTarget::resolve(Some("/tmp/remotes/gitops.git"), &settings)
            .expect("settings that name everything resolve")
    }

    /// The web root, `http://127.0.0.1:PORT`.
    pub fn web_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The REST API base: `/api/v3` (GitHub Enterprise Server's layout), `/api/v4` or `/api/v1`.
    pub fn api_url(&self) -> String {
        match self.vendor {
            Vendor::GitHub => format!("{}/api/v3", self.web_url()),
            Vendor::GitLab => format!("{}/api/v4", self.web_url()),
            Vendor::Gitea => format!("{}/api/v1", self.web_url()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        self.model
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an account; with a token, that token authenticates as it.
    pub fn add_user(&self, login: &str, token: Option<&str>) -> &Self {
        let mut m = self.lock();
        let id = m.id();
        m.users.push(User {
            id,
            login: login.to_owned(),
            token: token.map(str::to_owned),
            email: None,
        });
        self
    }

    /// The e-mail account `login` shows to others (in reviews and on `GET /users/{login}`);
    /// without one, GitHub shows none and Gitea a `noreply` placeholder.
    pub fn set_email(&self, login: &str, email: &str) -> &Self {
        let mut m = self.lock();
        if let Some(u) = m
            .users
            .iter_mut()
            .find(|u| u.login.eq_ignore_ascii_case(login))
        {
            u.email = Some(email.to_owned());
        }
        drop(m);
        self
    }

    /// Adds a team (`org/slug`) reviews may be requested from (GitHub, Gitea).
    pub fn add_team(&self, team: &str) -> &Self {
        self.lock().teams.push(team.to_owned());
        self
    }

    /// Adds a repository (`owner/name`, or `group/sub/name` on GitLab).
    pub fn add_repo(&self, path: &str) -> &Self {
        let mut m = self.lock();
        let id = m.id();
        m.repos.insert(
            path.to_owned(),
            Repo {
                id,
                ..Repo::default()
            },
        );
        self
    }

    /// Appends commits (sha, message) to `repo`'s history, oldest first: what the compare API
    /// (GitHub, Gitea: `GET …/compare/A...B`) lists between two of them.
    pub fn add_commits(&self, repo: &str, commits: &[(&str, &str)]) -> &Self {
        let mut m = self.lock();
        let r = m
            .repos
            .get_mut(repo)
            .expect("a repository added with add_repo");
        r.commits.extend(
            commits
                .iter()
                .map(|(s, msg)| (s.to_string(), msg.to_string())),
        );
        self
    }

    /// Renames a repository (GitHub answers the old path with 301 and a `Location`).
    pub fn rename_repo(&self, old: &str, new: &str) {
        let mut m = self.lock();
        let repo = m
            .repos
            .remove(old)
            .expect("a repository added with add_repo");
        m.repos.insert(new.to_owned(), repo);
        m.renamed.insert(old.to_owned(), new.to_owned());
    }

    /// The numeric id of a repository (GitLab's project id).
    pub fn repo_id(&self, path: &str) -> u64 {
        self.lock()
            .repos
            .get(path)
            .map(|r| r.id)
            .expect("a repository added with add_repo")
    }

    /// Adds a label to a repository, as someone did in the web UI.
    pub fn add_label(&self, repo: &str, name: &str) -> &Self {
        self.lock().label_id(repo, name);
        self
    }

    /// Opens a pull request as `author` would in the web UI; returns its number (iid).
    pub fn open_pull(&self, repo: &str, head: &str, base: &str, title: &str, author: &str) -> u64 {
        let mut m = self.lock();
        let r = m
            .repos
            .get_mut(repo)
            .expect("a repository added with add_repo");
        let number = r.pulls.len() as u64 + 1;
        r.pulls
            .push(new_pull(number, title, "", head, base, author));
        number
    }

    /// The next `n` pull-request listings of a repository answer 404 (Gitea): what Gitea 1.27
    /// answers while it processes the first push into a new, empty repository in the
    /// background (docs/testbed-findings.md, G7).
    pub fn pulls_not_found_for(&self, n: u32) {
        self.lock().pulls_not_found = n;
    }

    /// Caps the page size (as a server's configuration does): for pagination tests.
    pub fn set_max_page_size(&self, size: usize) {
        self.lock().max_page_size = size.max(1);
    }

    /// Points the head branch at another commit, as a push would.
    pub fn push_head(&self, repo: &str, number: u64, sha: &str) {
        self.with_pull(repo, number, |p| p.head_sha = sha.to_owned());
    }

    pub fn merge(&self, repo: &str, number: u64) {
        self.with_pull(repo, number, |p| p.state = FakePrState::Merged);
    }

    /// Closes without merging.
    pub fn close(&self, repo: &str, number: u64) {
        self.with_pull(repo, number, |p| p.state = FakePrState::Closed);
    }

    /// `login` reviews the pull request at its current head.
    pub fn add_review(&self, repo: &str, number: u64, login: &str, review: FakeReview) {
        let mut m = self.lock();
        let id = m.id();
        let pull = pull_mut(&mut m, repo, number);
        let commit = pull.head_sha.clone();
        pull.reviews.push(StoredReview {
            id,
            login: login.to_owned(),
            state: review,
            commit,
            dismissed: false,
        });
    }

    /// Dismisses every review `login` gave (GitHub, Gitea).
    pub fn dismiss_reviews(&self, repo: &str, number: u64, login: &str) {
        self.with_pull(repo, number, |p| {
            p.reviews
                .iter_mut()
                .filter(|r| r.login == login)
                .for_each(|r| r.dismissed = true);
        });
    }

    /// The pull request as the fake holds it.
    pub fn pull(&self, repo: &str, number: u64) -> FakePull {
        pull_mut(&mut self.lock(), repo, number).clone()
    }

    pub fn pulls(&self, repo: &str) -> Vec<FakePull> {
        self.lock()
            .repos
            .get(repo)
            .map(|r| r.pulls.clone())
            .unwrap_or_default()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests whose method and raw path are these.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    fn with_pull(&self, repo: &str, number: u64, f: impl FnOnce(&mut FakePull)) {
        f(pull_mut(&mut self.lock(), repo, number));
    }
}

impl Drop for FakeForge {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for FakeForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeForge")
            .field("vendor", &self.vendor)
            .field("addr", &self.addr)
            .finish()
    }
}

/// The answer to a comment on a pull request: `pulls_path` is where the web UI shows pull
/// requests (GitHub `pull`, Gitea `pulls`).
fn comment_reply(
    m: &mut Model,
    repo: &str,
    i: usize,
    login: &str,
    text: &str,
    pulls_path: &str,
) -> Reply {
    let id = m.comment(repo, i, login, text);
    let number = m.repos[repo].pulls[i].number;
    let url = format!("{}/{repo}/{pulls_path}/{number}#issuecomment-{id}", m.base);
    Reply::json(
        201,
        json!({"id": id, "body": text, "user": m.user_json(login), "html_url": url}),
    )
}

/// A request to one repository (GitLab: project), and by whom.
struct At<'a> {
    req: &'a Recorded,
    login: &'a str,
    repo: &'a str,
}

/// What an API request to open a pull request gave.
struct NewPull<'a> {
    title: &'a str,
    body: &'a str,
    head: &'a str,
    base: &'a str,
}

fn pull_mut<'m>(m: &'m mut Model, repo: &str, number: u64) -> &'m mut FakePull {
    m.repos
        .get_mut(repo)
        .and_then(|r| r.pulls.iter_mut().find(|p| p.number == number))
        .unwrap_or_else(|| panic!("no pull request {number} in {repo}"))
}

fn new_pull(
    number: u64,
    title: &str,
    body: &str,
    head: &str,
    base: &str,
    author: &str,
) -> FakePull {
    FakePull {
        number,
        title: title.to_owned(),
        body: body.to_owned(),
        head: head.to_owned(),
        base: base.to_owned(),
        head_sha: format!("{:040x}", 0xc0ffee_u64 * number),
        state: FakePrState::Open,
        author: author.to_owned(),
        labels: Vec::new(),
        requested_reviewers: Vec::new(),
        requested_teams: Vec::new(),
        comments: Vec::new(),
        reviews: Vec::new(),
    }
}

/// A response: status, JSON body, extra headers.
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }
}

fn serve(server: &tiny_http::Server, model: &Mutex<Model>) {
    for mut request in server.incoming_requests() {
        let recorded = record(&mut request);
        let reply = {
            let mut m = model
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            m.requests.push(recorded.clone());
            if !recorded.raw_body.is_empty() && recorded.body.is_null() {
                Reply::json(400, json!({"message": "Problems parsing JSON"}))
            } else {
                type Authenticate = fn(&Model, &Recorded) -> Result<String, Reply>;
                type Route = fn(&mut Model, &Recorded, &str) -> Reply;
                let (authenticate, route): (Authenticate, Route) = match m.vendor {
                    Vendor::GitHub => (github::authenticate, github::route),
                    Vendor::GitLab => (gitlab::authenticate, gitlab::route),
                    Vendor::Gitea => (gitea::authenticate, gitea::route),
                };
                match authenticate(&m, &recorded) {
                    Ok(login) => route(&mut m, &recorded, &login),
                    Err(reply) => reply,
                }
            }
        };
        let body = serde_json::to_vec(&reply.body).unwrap_or_default();
        let mut response = tiny_http::Response::from_data(body).with_status_code(reply.status);
        let content_type =
            tiny_http::Header::from_bytes("Content-Type", "application/json; charset=utf-8");
        response.add_header(content_type.expect("a valid header"));
        for (name, value) in reply.headers {
            if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        let _ = request.respond(response);
    }
}

fn record(request: &mut tiny_http::Request) -> Recorded {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let query = crate::query::pairs(query);
    let headers = request
        .headers()
        .iter()
        .map(|h| (h.field.to_string(), h.value.to_string()))
        .collect();
    let mut raw_body = String::new();
    let _ = request.as_reader().read_to_string(&mut raw_body);
    let body = if raw_body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&raw_body).unwrap_or(Value::Null)
    };
    Recorded {
        method: request.method().to_string(),
        path: path.to_owned(),
        query,
        headers,
        body,
        raw_body,
    }
}

/// One page of `items`, with the `Link` header (`rel="next"`, `"prev"`, `"first"`, `"last"`) the
/// three vendors send, built on the request's own URL with only the page number changed.
fn paginate(
    m: &Model,
    req: &Recorded,
    items: Vec<Value>,
    page_param: &str,
    default_size: usize,
) -> (Vec<Value>, Vec<(String, String)>, usize, usize) {
    let requested = req
        .query_value(page_param)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(default_size);
    let size = requested.clamp(1, m.max_page_size);
    let page = req
        .query_value("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let last = total.div_ceil(size).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    let link_to = |p: usize| {
        let mut pairs: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        pairs.push(format!("page={p}"));
        format!("<{}{}?{}>", m.base, req.path, pairs.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    if page < last {
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    let mut headers = Vec::new();
    if !links.is_empty() {
        headers.push(("Link".to_owned(), links.join(", ")));
    }
    (slice, headers, page, last)
}

fn str_field<'v>(body: &'v Value, name: &str) -> Option<&'v str> {
    body.get(name).and_then(Value::as_str)
}

fn string_list(body: &Value, name: &str) -> Option<Vec<String>> {
    let list = body.get(name)?.as_array()?;
    list.iter().map(|v| v.as_str().map(str::to_owned)).collect()
}
