//! Pull requests on a forge (GitHub, GitLab, Gitea/Forgejo), as the use cases see them.
//!
//! This module owns the pure half of "PR mode": which forge and repository a git remote points at
//! (with the `forge:` settings of `promote.yaml` winning over detection), the API and web base
//! URLs, the compare URL printed when there is no token, the types a forge answers with, the small
//! sync [`Forge`] trait the adapters (`promote-http`) implement, and the decisions made over it:
//! reuse the open pull request of an environment for the same version, supersede it for another
//! ([`ensure_pull_request`]), and count a forge approval as a role's approval ([`role_approvals`]).
//! Nothing here does I/O; tokens are carried in [`Token`], which never prints its value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Forges, repositories and where their APIs live
// ---------------------------------------------------------------------------------------------

/// The forge software behind a repository. Forgejo speaks Gitea's API, so it is [`Gitea`].
///
/// [`Gitea`]: ForgeKind::Gitea
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    #[serde(rename = "github")]
    GitHub,
    #[serde(rename = "gitlab")]
    GitLab,
    #[serde(alias = "forgejo")]
    Gitea,
}

impl ForgeKind {
    /// The `forge.type` value of `promote.yaml`: `github`, `gitlab`, `gitea` or `forgejo`.
    pub fn from_config(value: &str) -> Result<Self, ForgeError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "github" => Ok(ForgeKind::GitHub),
            "gitlab" => Ok(ForgeKind::GitLab),
            "gitea" | "forgejo" => Ok(ForgeKind::Gitea),
            _ => Err(ForgeError::UnknownForgeType {
                value: value.to_owned(),
            }),
        }
    }

    /// The environment variable the token is read from when `forge.tokenEnv` is not set.
    pub fn default_token_env(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "GITHUB_TOKEN",
            ForgeKind::GitLab => "GITLAB_TOKEN",
            ForgeKind::Gitea => "GITEA_TOKEN",
        }
    }

    /// The prefix approvers use to name an account on this forge (`github:alice`).
    pub fn config_prefix(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
            ForgeKind::Gitea => "gitea",
        }
    }

    /// What users call a pull request there ("merge request" on GitLab).
    pub fn pr_noun(self) -> &'static str {
        match self {
            ForgeKind::GitLab => "merge request",
            ForgeKind::GitHub | ForgeKind::Gitea => "pull request",
        }
    }

    /// The path of the REST API under a self-hosted instance's web root.
    fn api_suffix(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "/api/v3",
            ForgeKind::GitLab => "/api/v4",
            ForgeKind::Gitea => "/api/v1",
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForgeKind::GitHub => "GitHub",
            ForgeKind::GitLab => "GitLab",
            ForgeKind::Gitea => "Gitea",
        })
    }
}

/// A repository's path on its forge: `owner/name`, or `group/subgroup/…/name` on GitLab.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoPath(String);

impl RepoPath {
    /// Parses `owner/name` (more segments are GitLab subgroups); a `.git` suffix is dropped.
    pub fn parse(value: &str) -> Result<Self, ForgeError> {
        let trimmed = value.trim().trim_matches('/');
        let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
        let segments: Vec<&str> = trimmed.split('/').collect();
        let valid = segments.len() >= 2
            && segments.iter().all(|s| {
                !s.is_empty()
                    && *s != "."
                    && *s != ".."
                    && s.chars()
                        .all(|c| !c.is_whitespace() && !c.is_control() && c != '?' && c != '#')
            });
        if valid {
            Ok(RepoPath(segments.join("/")))
        } else {
            Err(ForgeError::InvalidRepo {
                repo: value.to_owned(),
            })
        }
    }

    /// Everything before the last segment: the owner, or the group path on GitLab.
    pub fn owner(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(owner, _)| owner)
    }

    /// The last segment: the repository's own name.
    pub fn name(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, name)| name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many segments (2 for `owner/name`).
    fn depth(&self) -> usize {
        self.0.split('/').count()
    }
}

impl TryFrom<String> for RepoPath {
    type Error = ForgeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RepoPath::parse(&value)
    }
}

impl From<RepoPath> for String {
    fn from(value: RepoPath) -> Self {
        value.0
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A git remote URL taken apart: https, ssh (`ssh://` and scp-like `git@host:owner/repo.git`).
/// User info (`x-access-token:…@`) is dropped on parsing and never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    /// Lower-cased host name, without port.
    pub host: String,
    /// `Some("https://host[:port]")` for http(s) remotes: the web root as the user reaches it.
    /// `None` for ssh remotes, whose port is the ssh daemon's.
    pub web_root: Option<String>,
    pub repo: RepoPath,
}

impl RemoteUrl {
    pub fn parse(url: &str) -> Result<Self, ForgeError> {
        let url = url.trim();
        let unrecognized = |reason: &'static str| ForgeError::UnrecognizedRemote {
            url: redact_userinfo(url),
            reason,
        };
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, url),
        };
        let (host_port, path, web) = match scheme.as_deref() {
            Some(s @ ("http" | "https")) => {
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
                (host_port, path, Some(s.to_owned()))
            }
            Some("ssh" | "git+ssh" | "ssh+git" | "git") => {
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
                (host_port, path, None)
            }
            Some(_) => return Err(unrecognized("not an http(s) or ssh URL")),
            None => {
                // scp-like syntax: `[user@]host:path`. A colon after a slash is a local path.
                let Some((before, path)) = rest.split_once(':') else {
                    return Err(unrecognized("a local path, not a URL"));
                };
                if before.contains('/') || before.is_empty() {
                    return Err(unrecognized("a local path, not a URL"));
                }
                let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
                (host, path, None)
            }
        };
        let host = split_host_port(host_port).0.to_ascii_lowercase();
        if host.is_empty() {
            return Err(unrecognized("no host"));
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        let repo = RepoPath::parse(path).map_err(|_| unrecognized("no owner/name path"))?;
        let web_root = web.map(|scheme| format!("{scheme}://{}", host_port.to_ascii_lowercase()));
        Ok(RemoteUrl {
            host,
            web_root,
            repo,
        })
    }

    /// Which forge this host runs, from well-known names; `None` for an unknown self-hosted host.
    pub fn detect_kind(&self) -> Option<ForgeKind> {
        let host = self.host.as_str();
        let labels: Vec<&str> = host.split('.').collect();
        if host == "github.com" || host.ends_with(".github.com") || host.ends_with(".ghe.com") {
            Some(ForgeKind::GitHub)
        } else if host == "gitlab.com" || labels.contains(&"gitlab") {
            Some(ForgeKind::GitLab)
        } else if host == "codeberg.org" || labels.iter().any(|l| *l == "gitea" || *l == "forgejo")
        {
            Some(ForgeKind::Gitea)
        } else {
            None
        }
    }
}

fn split_host_port(host_port: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host_port.strip_prefix('[') {
        // IPv6 literal: `[::1]:8080`.
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (rest, None),
        };
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => (host, Some(port)),
        _ => (host_port, None),
    }
}

/// Removes `user:password@` from a URL so it can be shown: CI remotes often carry a token there.
pub fn redact_userinfo(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            return format!("{scheme}://***@{}", &rest[at + 1..]);
        }
    }
    url.to_owned()
}

/// The `forge:` block of `promote.yaml`, each key optional; resolved against the remote URL by
/// [`ForgeTarget::resolve`]. The config module parses it; this type only carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForgeSettings {
    #[serde(rename = "type")]
    pub kind: Option<ForgeKind>,
    /// The REST API base (`https://git.example.com/api/v4`), or the instance's web root
    /// (`https://git.example.com`), to which the vendor's API path is added.
    pub url: Option<String>,
    pub repo: Option<RepoPath>,
    pub token_env: Option<String>,
}

/// Where the pull requests of this GitOps repository go: the resolved forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeTarget {
    pub kind: ForgeKind,
    /// REST API base without a trailing slash: `https://api.github.com`, `https://host/api/v4`.
    pub api_url: String,
    /// Web root without a trailing slash: `https://github.com`, `https://host`.
    pub web_url: String,
    pub repo: RepoPath,
    /// The environment variable holding the token (`GITHUB_TOKEN` unless `forge.tokenEnv`).
    pub token_env: String,
}

impl ForgeTarget {
    /// Resolves the forge from the remote URL, with each `forge:` setting winning over detection.
    ///
    /// `remote` may be `None` or a local path (tests push to bare repositories): then the
    /// settings must name the type, the URL and the repository.
    pub fn resolve(remote: Option<&str>, settings: &ForgeSettings) -> Result<Self, ForgeError> {
        let (remote, mut remote_error) = match remote.map(RemoteUrl::parse) {
            Some(Ok(parsed)) => (Some(parsed), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        // Why the remote cannot fill in what the settings leave open.
        let mut missing = || remote_error.take().unwrap_or(ForgeError::NoRemote);

        let kind = match (settings.kind, &remote) {
            (Some(kind), _) => kind,
            (None, Some(remote)) => {
                remote
                    .detect_kind()
                    .ok_or_else(|| ForgeError::UnknownForge {
                        host: remote.host.clone(),
                    })?
            }
            (None, None) => return Err(missing()),
        };
        let repo = match (&settings.repo, &remote) {
            (Some(repo), _) => repo.clone(),
            (None, Some(remote)) => remote.repo.clone(),
            (None, None) => return Err(missing()),
        };
        if kind != ForgeKind::GitLab && repo.depth() != 2 {
            return Err(ForgeError::InvalidRepo {
                repo: repo.to_string(),
            });
        }

        let (api_url, web_url) = match &settings.url {
            Some(url) => api_and_web_from_setting(kind, url)?,
            None => match &remote {
                Some(remote) => api_and_web_from_remote(kind, remote),
                None => return Err(missing()),
            },
        };
        let token_env = settings
            .token_env
            .clone()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| kind.default_token_env().to_owned());
        Ok(ForgeTarget {
            kind,
            api_url,
            web_url,
            repo,
            token_env,
        })
    }

    /// The page where a person opens the pull request by hand: printed when there is no token.
    pub fn compare_url(&self, base: &str, head: &str) -> String {
        let repo_web = format!("{}/{}", self.web_url, self.repo);
        match self.kind {
            ForgeKind::GitHub => {
                format!(
                    "{repo_web}/compare/{}...{}?expand=1",
                    encode_path(base),
                    encode_path(head)
                )
            }
            ForgeKind::Gitea => format!(
                "{repo_web}/compare/{}...{}",
                encode_path(base),
                encode_path(head)
            ),
            ForgeKind::GitLab => format!(
                "{repo_web}/-/merge_requests/new?merge_request%5Bsource_branch%5D={}&merge_request%5Btarget_branch%5D={}",
                encode_component(head),
                encode_component(base)
            ),
        }
    }
}

fn api_and_web_from_remote(kind: ForgeKind, remote: &RemoteUrl) -> (String, String) {
    let host = remote.host.as_str();
    // ssh remotes say nothing about the web port; the forge's web root is https on the host.
    let web = remote
        .web_root
        .clone()
        .unwrap_or_else(|| format!("https://{host}"));
    match kind {
        ForgeKind::GitHub if host == "github.com" || host.ends_with(".github.com") => {
            // `ssh.github.com` (ssh over 443) and `www.github.com` are github.com.
            (
                "https://api.github.com".to_owned(),
                "https://github.com".to_owned(),
            )
        }
        ForgeKind::GitHub if host.ends_with(".ghe.com") && !host.starts_with("api.") => {
            // GitHub Enterprise Cloud with data residency: the API is on `api.` + host.
            (format!("https://api.{host}"), format!("https://{host}"))
        }
        _ => (format!("{web}{}", kind.api_suffix()), web),
    }
}

fn api_and_web_from_setting(kind: ForgeKind, url: &str) -> Result<(String, String), ForgeError> {
    let invalid = |reason: &'static str| ForgeError::InvalidApiUrl {
        url: redact_userinfo(url),
        reason,
    };
    let trimmed = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(invalid("not an http(s) URL"));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(invalid("not an http(s) URL"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(invalid(
            "it carries credentials; put the token in the variable named by forge.tokenEnv",
        ));
    }
    if authority.is_empty() || path.contains(['?', '#']) {
        return Err(invalid("not an http(s) URL"));
    }
    let origin = format!("{scheme}://{}", authority.to_ascii_lowercase());
    let host = split_host_port(authority).0.to_ascii_lowercase();
    if kind == ForgeKind::GitHub
        && (host == "api.github.com" || host.starts_with("api.") && host.ends_with(".ghe.com"))
    {
        let web_host = host.trim_start_matches("api.");
        return Ok((format!("{origin}{path}"), format!("{scheme}://{web_host}")));
    }
    if path.is_empty() {
        // The instance's web root: the API lives under the vendor's path.
        return Ok((format!("{origin}{}", kind.api_suffix()), origin));
    }
    let web_path = path.strip_suffix(kind.api_suffix()).unwrap_or(path);
    Ok((format!("{origin}{path}"), format!("{origin}{web_path}")))
}

/// Percent-encodes everything but RFC 3986's unreserved characters: a path segment or a query
/// value (`group/sub/repo` → `group%2Fsub%2Frepo`, GitLab's project id form).
pub fn encode_component(value: &str) -> String {
    encode(value, false)
}

/// Like [`encode_component`] but keeps `/`: a branch name inside a URL path.
pub fn encode_path(value: &str) -> String {
    encode(value, true)
}

fn encode(value: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// An API token. It has no `Display` and no `Serialize`, and its `Debug` hides the value, so it
/// cannot end up in output, logs, errors or PR bodies by accident; only the HTTP layer reads it
/// through [`Token::expose_secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// `None` for an empty or blank value, which counts as "no token".
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(Token(trimmed.to_owned()))
        }
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the token in `text`: for vendor messages we pass on.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

// ---------------------------------------------------------------------------------------------
// What a forge answers with
// ---------------------------------------------------------------------------------------------

/// The account behind a token: the verified identity of approvals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgeUser {
    pub login: String,
    pub id: Option<u64>,
    pub name: Option<String>,
    /// Only when the forge shows it to the token (public or own email).
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrState {
    Open,
    Merged,
    /// Closed without being merged.
    Closed,
}

impl fmt::Display for PrState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrState::Open => "open",
            PrState::Merged => "merged",
            PrState::Closed => "closed unmerged",
        })
    }
}

/// A pull request (a merge request on GitLab; `number` is its `iid` there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    /// The page people open (`html_url` / `web_url`).
    pub url: String,
    pub title: String,
    pub body: String,
    /// Source branch.
    pub head: String,
    /// The commit the head branch points at, where the forge says.
    pub head_sha: Option<String>,
    /// Target branch.
    pub base: String,
    pub state: PrState,
    pub labels: Vec<String>,
    pub author: Option<String>,
}

/// How an open pull request ended, for `--wait` in PR mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrResolution {
    Merged(PullRequest),
    /// Closed without being merged: the promotion did not land (exit 1).
    ClosedUnmerged(PullRequest),
}

/// What [`Forge::create`] opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPullRequest {
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
}

/// What [`Forge::update`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrEdit {
    pub title: Option<String>,
    pub body: Option<String>,
}

/// How [`Forge::find_open`] selects open pull requests of this repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrQuery {
    /// From this source branch of this repository.
    Head(String),
    /// Carrying this label.
    Label(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
}

/// One review of a pull request (on GitLab: one approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer: String,
    pub state: ReviewState,
    /// The commit reviewed, where the forge says (not GitLab).
    pub commit: Option<String>,
    pub submitted_at: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------------------------

/// A forge's pull requests, for one repository, as the use cases need them. Sync on purpose: the
/// HTTP implementation blocks (`promote-http`), and so do the fakes in tests.
pub trait Forge {
    /// The resolved target (kind, repository, URLs, token variable name).
    fn target(&self) -> &ForgeTarget;
    /// The account behind the token.
    fn whoami(&self) -> Result<ForgeUser, ForgeError>;
    /// Open pull requests selected by `query`, all pages, oldest first.
    fn find_open(&self, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError>;
    /// Opens a pull request. A duplicate (same head and base) is [`ForgeError::AlreadyExists`].
    fn create(&self, pr: &NewPullRequest) -> Result<PullRequest, ForgeError>;
    fn update(&self, number: u64, edit: &PrEdit) -> Result<PullRequest, ForgeError>;
    /// Comments, then closes without merging.
    fn close_with_comment(&self, number: u64, comment: &str) -> Result<(), ForgeError>;
    /// Requests reviews from accounts (`alice`) or teams (`org/team`, not on GitLab).
    fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError>;
    /// Adds labels, creating those the repository lacks where the forge needs that.
    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError>;
    fn get(&self, number: u64) -> Result<PullRequest, ForgeError>;
    /// Reviews in the order they were submitted.
    fn reviews(&self, number: u64) -> Result<Vec<Review>, ForgeError>;
}

// ---------------------------------------------------------------------------------------------
// Decisions over the port
// ---------------------------------------------------------------------------------------------

/// The label that marks a promotion's pull request for one environment: how an open PR "for the
/// same env" is found again.
pub fn env_label(env: &str) -> String {
    format!("promote:{env}")
}

/// A promotion's pull request as the use case wants it to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionPullRequest {
    /// `promote:ENV` ([`env_label`]): finds the open PRs of the same environment.
    pub env_label: String,
    /// Title, body, head branch (one per environment and version) and base branch.
    pub pr: NewPullRequest,
    /// Labels besides the environment's.
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
}

/// What [`ensure_pull_request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrOutcome {
    pub pr: PullRequest,
    /// `false` when an open PR for the same head (same environment and version) was reused.
    pub created: bool,
    /// Open PRs for the same environment and another version, now closed with a comment.
    pub superseded: Vec<PullRequest>,
}

/// Which open PRs of an environment to reuse and which to supersede for a promotion from `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrPlan {
    pub reuse: Option<PullRequest>,
    pub supersede: Vec<PullRequest>,
}

/// Same head branch → reuse (the oldest, if a race opened two); any other head → supersede.
pub fn plan_pull_request(open: &[PullRequest], head: &str) -> PrPlan {
    let mut open: Vec<&PullRequest> = open.iter().filter(|pr| pr.state == PrState::Open).collect();
    open.sort_by_key(|pr| pr.number);
    open.dedup_by_key(|pr| pr.number);
    let reuse = open
        .iter()
        .find(|pr| pr.head == head)
        .map(|pr| (*pr).clone());
    let supersede = open
        .iter()
        .filter(|pr| reuse.as_ref().is_none_or(|r| r.number != pr.number))
        .map(|pr| (*pr).clone())
        .collect();
    PrPlan { reuse, supersede }
}

/// The comment left on a superseded pull request.
pub fn supersede_comment(kind: ForgeKind, new: &PullRequest) -> String {
    let reference = match kind {
        ForgeKind::GitLab => format!("!{}", new.number),
        ForgeKind::GitHub | ForgeKind::Gitea => format!("#{}", new.number),
    };
    format!(
        "Superseded by {reference} ({}): {}.\n\nClosed by `kubectl promote`; the environment is now promoted there.",
        new.url, new.title
    )
}

/// Opens the promotion's pull request, or reuses the open one for the same head (updating title
/// and body), then supersedes the environment's other open ones (closed with a comment pointing
/// at this one), and makes sure of the labels and reviewers.
///
/// A create that loses a race to another run (the forge's duplicate answer) reuses the PR the
/// other run opened.
pub fn ensure_pull_request<F: Forge + ?Sized>(
    forge: &F,
    request: &PromotionPullRequest,
) -> Result<PrOutcome, ForgeError> {
    let mut open = forge.find_open(&PrQuery::Label(request.env_label.clone()))?;
    open.extend(forge.find_open(&PrQuery::Head(request.pr.head.clone()))?);
    let plan = plan_pull_request(&open, &request.pr.head);

    let edit = PrEdit {
        title: Some(request.pr.title.clone()),
        body: Some(request.pr.body.clone()),
    };
    let (pr, created) = match plan.reuse {
        Some(existing) => (refresh(forge, existing, &edit)?, false),
        None => match forge.create(&request.pr) {
            Ok(pr) => (pr, true),
            Err(ForgeError::AlreadyExists { .. }) => {
                let raced = forge.find_open(&PrQuery::Head(request.pr.head.clone()))?;
                let Some(existing) = plan_pull_request(&raced, &request.pr.head).reuse else {
                    return Err(ForgeError::DuplicateNotFound {
                        forge: forge.target().kind,
                        repo: forge.target().repo.to_string(),
                        head: request.pr.head.clone(),
                    });
                };
                (refresh(forge, existing, &edit)?, false)
            }
            Err(e) => return Err(e),
        },
    };

    let mut superseded = Vec::new();
    for old in plan
        .supersede
        .into_iter()
        .filter(|old| old.number != pr.number)
    {
        forge.close_with_comment(old.number, &supersede_comment(forge.target().kind, &pr))?;
        superseded.push(PullRequest {
            state: PrState::Closed,
            ..old
        });
    }

    let have: BTreeSet<&str> = pr.labels.iter().map(String::as_str).collect();
    let mut wanted: Vec<String> = Vec::new();
    for label in std::iter::once(&request.env_label).chain(&request.labels) {
        if !have.contains(label.as_str()) && !wanted.contains(label) {
            wanted.push(label.clone());
        }
    }
    if !wanted.is_empty() {
        forge.add_labels(pr.number, &wanted)?;
    }
    // The author is left out: GitHub refuses (422) to request a review from a PR's author, and
    // an author's approval of their own PR counts on no forge.
    let author = pr.author.as_deref();
    let reviewers: Vec<String> = request
        .reviewers
        .iter()
        .filter(|r| {
            let login = match r.split_once(':') {
                Some((prefix, login)) if ForgeKind::from_config(prefix).is_ok() => login,
                _ => r.as_str(),
            };
            author.is_none_or(|a| !a.eq_ignore_ascii_case(login))
        })
        .cloned()
        .collect();
    if !reviewers.is_empty() {
        forge.request_reviewers(pr.number, &reviewers)?;
    }
    let mut labels = pr.labels.clone();
    labels.extend(wanted);
    Ok(PrOutcome {
        pr: PullRequest { labels, ..pr },
        created,
        superseded,
    })
}

fn refresh<F: Forge + ?Sized>(
    forge: &F,
    existing: PullRequest,
    edit: &PrEdit,
) -> Result<PullRequest, ForgeError> {
    let unchanged = edit.title.as_deref() == Some(existing.title.as_str())
        && edit.body.as_deref() == Some(existing.body.as_str());
    if unchanged {
        Ok(existing)
    } else {
        forge.update(existing.number, edit)
    }
}

/// A forge approval that counts for a role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleApproval {
    pub role: String,
    pub login: String,
}

/// Which roles the reviews of a pull request approve.
///
/// A reviewer's latest deciding review counts (approved, changes requested or dismissed; comments
/// and pending reviews decide nothing), as the forges show it. An approval of another commit than
/// `head_sha` (when both are known) does not count: approvals bind to what is being merged.
///
/// `approvers` maps a role to its entries in `promote.yaml`: `github:alice` (an account on that
/// forge; `gitlab:`, `gitea:` and `forgejo:` likewise) or a bare `alice` (an account on any forge)
/// match a reviewer's login, case-insensitively. E-mail entries and teams (`github:org/team`) do
/// not match here: reviews carry neither.
pub fn role_approvals(
    kind: ForgeKind,
    reviews: &[Review],
    head_sha: Option<&str>,
    approvers: &BTreeMap<String, Vec<String>>,
) -> Vec<RoleApproval> {
    let mut latest: BTreeMap<String, &Review> = BTreeMap::new();
    for review in reviews {
        if matches!(review.state, ReviewState::Commented | ReviewState::Pending) {
            continue;
        }
        latest.insert(review.reviewer.to_lowercase(), review);
    }
    let approved: Vec<&Review> = latest
        .values()
        .copied()
        .filter(|r| r.state == ReviewState::Approved)
        .filter(|r| match (head_sha, r.commit.as_deref()) {
            (Some(head), Some(commit)) => head == commit,
            _ => true,
        })
        .collect();

    let mut out = BTreeSet::new();
    for (role, entries) in approvers {
        for entry in entries {
            let Some(login) = approver_login(kind, entry) else {
                continue;
            };
            for review in approved
                .iter()
                .filter(|r| r.reviewer.eq_ignore_ascii_case(login))
            {
                out.insert(RoleApproval {
                    role: role.clone(),
                    login: review.reviewer.clone(),
                });
            }
        }
    }
    out.into_iter().collect()
}

/// The login an approver entry names on forge `kind`, if it names one account there.
fn approver_login(kind: ForgeKind, entry: &str) -> Option<&str> {
    let entry = entry.trim();
    let login = match entry.split_once(':') {
        Some((prefix, login)) => {
            let prefix_kind = ForgeKind::from_config(prefix).ok()?;
            (prefix_kind == kind).then_some(login)?
        }
        None => entry,
    };
    let is_account =
        !login.is_empty() && !login.contains(['@', '/']) && !login.contains(char::is_whitespace);
    is_account.then_some(login)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a forge operation could not be done. Display names the forge, the repository and, for
/// authentication, the *name* of the token's environment variable; never a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForgeError {
    #[error(
        "cannot read the git remote {url} as a forge repository ({reason}); set forge.type, forge.url and forge.repo in promote.yaml"
    )]
    UnrecognizedRemote { url: String, reason: &'static str },
    #[error(
        "no git remote to tell the forge from; set forge.type, forge.url and forge.repo in promote.yaml"
    )]
    NoRemote,
    #[error(
        "cannot tell which forge runs on {host}; set forge.type (github, gitlab or gitea) in promote.yaml"
    )]
    UnknownForge { host: String },
    #[error(
        "forge.type `{value}` is not a forge kubectl promote knows; use github, gitlab, gitea or forgejo"
    )]
    UnknownForgeType { value: String },
    #[error("forge.url `{url}`: {reason}")]
    InvalidApiUrl { url: String, reason: &'static str },
    #[error("`{repo}` is not a repository path; expected owner/name (GitLab: group/subgroup/name)")]
    InvalidRepo { repo: String },
    #[error(
        "{forge} rejected the token in ${token_env} (HTTP 401): it is wrong, expired or revoked"
    )]
    BadToken { forge: ForgeKind, token_env: String },
    #[error(
        "the token in ${token_env} may not {action} in {repo} on {forge} (HTTP 403): {message}"
    )]
    Forbidden {
        forge: ForgeKind,
        repo: String,
        action: String,
        token_env: String,
        message: String,
    },
    #[error(
        "{forge} has no repository {repo} at {api_url}, or the token in ${token_env} cannot see it (HTTP 404)"
    )]
    RepoNotFound {
        forge: ForgeKind,
        repo: String,
        api_url: String,
        token_env: String,
    },
    #[error("{forge} has no {noun} {number} in {repo} (HTTP 404)")]
    PullRequestNotFound {
        forge: ForgeKind,
        noun: &'static str,
        repo: String,
        number: u64,
    },
    #[error("{forge} already has an open {noun} from {head} into {base} in {repo}")]
    AlreadyExists {
        forge: ForgeKind,
        noun: &'static str,
        repo: String,
        head: String,
        base: String,
    },
    #[error("{forge} reported an open pull request from {head} in {repo}, but none is listed")]
    DuplicateNotFound {
        forge: ForgeKind,
        repo: String,
        head: String,
    },
    #[error("{forge} has no user `{login}` to request a review from")]
    UnknownUser { forge: ForgeKind, login: String },
    #[error("{forge} cannot request a review from team `{team}`; name its members instead")]
    TeamReviewersUnsupported { forge: ForgeKind, team: String },
    #[error(
        "{forge} says {repo} moved to {location}; update forge.url or forge.repo in promote.yaml (kubectl promote follows no redirect with a token)"
    )]
    Moved {
        forge: ForgeKind,
        repo: String,
        location: String,
    },
    #[error("label `{label}` cannot be added on {forge}: {reason}")]
    InvalidLabel {
        forge: ForgeKind,
        label: String,
        reason: &'static str,
    },
    #[error("{forge} refused to {action} in {repo} (HTTP {status}): {message}")]
    Rejected {
        forge: ForgeKind,
        repo: String,
        action: String,
        status: u16,
        message: String,
    },
    #[error("could not reach {forge} at {api_url} to {action}")]
    Transport {
        forge: ForgeKind,
        api_url: String,
        action: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{forge} answered the request to {action} with a response kubectl promote cannot read")]
    InvalidResponse {
        forge: ForgeKind,
        action: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "{noun} {url} was still open after {waited_secs}s; merge it, then run kubectl promote sync, or wait longer with --wait=DURATION"
    )]
    MergeWaitTimedOut {
        noun: &'static str,
        number: u64,
        url: String,
        waited_secs: u64,
    },
    #[error("{forge} sent a next-page link outside {api_url}; not following it with the token")]
    ForeignLink { forge: ForgeKind, api_url: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str) -> RemoteUrl {
        RemoteUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn target(url: &str) -> ForgeTarget {
        ForgeTarget::resolve(Some(url), &ForgeSettings::default())
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn https_ssh_and_scp_like_remotes_name_the_same_repository() {
        for url in [
            "https://github.com/acme/gitops.git",
            "https://github.com/acme/gitops",
            "https://github.com/acme/gitops/",
            "git@github.com:acme/gitops.git",
            "git@github.com:/acme/gitops.git",
            "ssh://git@github.com/acme/gitops.git",
            "ssh://git@ssh.github.com:443/acme/gitops.git",
            "https://x-access-token:secret@github.com/acme/gitops.git",
        ] {
            let t = target(url);
            assert_eq!(t.kind, ForgeKind::GitHub, "{url}");
            assert_eq!(t.repo.as_str(), "acme/gitops", "{url}");
            assert_eq!(t.api_url, "https://api.github.com", "{url}");
            assert_eq!(t.web_url, "https://github.com", "{url}");
            assert_eq!(t.token_env, "GITHUB_TOKEN", "{url}");
        }
    }

    #[test]
    fn self_hosted_gitlab_keeps_subgroups_and_the_https_port() {
        let t = target("https://gitlab.example.com:8443/platform/deploy/gitops.git");
        assert_eq!(t.kind, ForgeKind::GitLab);
        assert_eq!(t.repo.as_str(), "platform/deploy/gitops");
        assert_eq!(t.repo.owner(), "platform/deploy");
        assert_eq!(t.repo.name(), "gitops");
        assert_eq!(t.api_url, "https://gitlab.example.com:8443/api/v4");
        assert_eq!(t.web_url, "https://gitlab.example.com:8443");
        assert_eq!(t.token_env, "GITLAB_TOKEN");
    }

    #[test]
    fn an_ssh_port_is_not_the_web_port() {
        let t = target("ssh://git@gitlab.example.com:2222/group/sub/repo.git");
        assert_eq!(t.api_url, "https://gitlab.example.com/api/v4");
        assert_eq!(t.repo.as_str(), "group/sub/repo");
    }

    #[test]
    fn gitea_and_forgejo_hosts_are_detected() {
        for (url, api) in [
            (
                "https://codeberg.org/acme/gitops.git",
                "https://codeberg.org/api/v1",
            ),
            (
                "git@gitea.example.com:acme/gitops.git",
                "https://gitea.example.com/api/v1",
            ),
            (
                "https://forgejo.internal/acme/gitops",
                "https://forgejo.internal/api/v1",
            ),
        ] {
            let t = target(url);
            assert_eq!(t.kind, ForgeKind::Gitea, "{url}");
            assert_eq!(t.api_url, api, "{url}");
            assert_eq!(t.token_env, "GITEA_TOKEN");
        }
    }

    #[test]
    fn github_enterprise_cloud_api_is_on_the_api_subdomain() {
        let t = target("https://acme.ghe.com/platform/gitops.git");
        assert_eq!(t.api_url, "https://api.acme.ghe.com");
        assert_eq!(t.web_url, "https://acme.ghe.com");
    }

    #[test]
    fn an_unknown_host_asks_for_forge_type() {
        let err = ForgeTarget::resolve(
            Some("git@git.example.com:acme/gitops.git"),
            &ForgeSettings::default(),
        )
        .unwrap_err();
        assert!(matches!(&err, ForgeError::UnknownForge { host } if host == "git.example.com"));
        assert!(err.to_string().contains("forge.type"), "{err}");
    }

    #[test]
    fn settings_win_over_detection() {
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitHub),
            url: Some("https://git.example.com/api/v3/".into()),
            repo: Some(RepoPath::parse("platform/gitops").unwrap()),
            token_env: Some("GHE_TOKEN".into()),
        };
        let t =
            ForgeTarget::resolve(Some("git@git.example.com:acme/other.git"), &settings).unwrap();
        assert_eq!(t.kind, ForgeKind::GitHub);
        assert_eq!(t.api_url, "https://git.example.com/api/v3");
        assert_eq!(t.web_url, "https://git.example.com");
        assert_eq!(t.repo.as_str(), "platform/gitops");
        assert_eq!(t.token_env, "GHE_TOKEN");
    }

    #[test]
    fn the_api_github_com_setting_keeps_github_com_as_the_web_root() {
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitHub),
            url: Some("https://api.github.com".into()),
            repo: Some(RepoPath::parse("acme/gitops").unwrap()),
            token_env: Some("GITHUB_TOKEN".into()),
        };
        let t = ForgeTarget::resolve(None, &settings).unwrap();
        assert_eq!(
            (t.api_url.as_str(), t.web_url.as_str()),
            ("https://api.github.com", "https://github.com")
        );
        let err = ForgeTarget::resolve(None, &ForgeSettings::default()).unwrap_err();
        assert!(matches!(err, ForgeError::NoRemote), "{err}");
    }

    #[test]
    fn a_web_root_setting_gets_the_vendors_api_path() {
        let settings = ForgeSettings {
            kind: Some(ForgeKind::Gitea),
            url: Some("http://127.0.0.1:3000".into()),
            ..ForgeSettings::default()
        };
        let t =
            ForgeTarget::resolve(Some("http://127.0.0.1:3000/acme/gitops.git"), &settings).unwrap();
        assert_eq!(t.api_url, "http://127.0.0.1:3000/api/v1");
        assert_eq!(t.web_url, "http://127.0.0.1:3000");
    }

    #[test]
    fn a_local_remote_needs_every_setting() {
        let err =
            ForgeTarget::resolve(Some("/tmp/remote.git"), &ForgeSettings::default()).unwrap_err();
        assert!(
            matches!(err, ForgeError::UnrecognizedRemote { .. }),
            "{err}"
        );
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitLab),
            url: Some("http://127.0.0.1:1234/api/v4".into()),
            repo: Some(RepoPath::parse("group/sub/repo").unwrap()),
            token_env: None,
        };
        let t = ForgeTarget::resolve(Some("/tmp/remote.git"), &settings).unwrap();
        assert_eq!(t.api_url, "http://127.0.0.1:1234/api/v4");
        assert_eq!(t.web_url, "http://127.0.0.1:1234");
    }

    #[test]
    fn credentials_in_urls_are_never_shown() {
        let err = RemoteUrl::parse("https://oauth2:glpat-SECRET@gitlab.com/").unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!format!("{err:?}").contains("SECRET"));
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitLab),
            url: Some("https://u:SECRET@gitlab.example.com".into()),
            ..Default::default()
        };
        let err =
            ForgeTarget::resolve(Some("git@gitlab.example.com:a/b.git"), &settings).unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(err.to_string().contains("tokenEnv"), "{err}");
    }

    #[test]
    fn github_and_gitea_repositories_have_exactly_two_segments() {
        let err = ForgeTarget::resolve(
            Some("https://github.com/acme/gitops/tree/main"),
            &ForgeSettings::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ForgeError::InvalidRepo { .. }), "{err}");
    }

    #[test]
    fn not_a_repository() {
        assert!(RemoteUrl::parse("https://github.com/acme").is_err());
        assert!(RemoteUrl::parse("file:///srv/git/gitops.git").is_err());
        assert!(RepoPath::parse("acme//gitops").is_err());
        assert_eq!(remote("git@github.com:acme/gitops.git").web_root, None);
        assert_eq!(
            remote("http://127.0.0.1:8080/a/b").web_root.as_deref(),
            Some("http://127.0.0.1:8080")
        );
    }

    #[test]
    fn compare_urls_follow_each_vendor() {
        let gh = target("git@github.com:acme/gitops.git");
        assert_eq!(
            gh.compare_url("main", "promote/prod/v1.0.1"),
            "https://github.com/acme/gitops/compare/main...promote/prod/v1.0.1?expand=1"
        );
        let gl = target("https://gitlab.com/group/sub/gitops.git");
        assert_eq!(
            gl.compare_url("main", "promote/prod/v1.0.1"),
            "https://gitlab.com/group/sub/gitops/-/merge_requests/new?merge_request%5Bsource_branch%5D=promote%2Fprod%2Fv1.0.1&merge_request%5Btarget_branch%5D=main"
        );
        let gt = target("https://codeberg.org/acme/gitops.git");
        assert_eq!(
            gt.compare_url("main", "release #1"),
            "https://codeberg.org/acme/gitops/compare/main...release%20%231"
        );
    }

    #[test]
    fn gitlab_project_ids_are_url_encoded() {
        assert_eq!(encode_component("group/sub/repo"), "group%2Fsub%2Frepo");
        assert_eq!(encode_component("a b+c"), "a%20b%2Bc");
        assert_eq!(encode_path("promote/prod/v1.0.1"), "promote/prod/v1.0.1");
    }

    #[test]
    fn forge_type_values() {
        assert_eq!(ForgeKind::from_config("Forgejo").unwrap(), ForgeKind::Gitea);
        assert!(
            ForgeKind::from_config("bitbucket")
                .unwrap_err()
                .to_string()
                .contains("bitbucket")
        );
    }

    #[test]
    fn tokens_never_print() {
        let token = Token::new("ghp_SECRET").unwrap();
        assert_eq!(format!("{token:?}"), "Token(***)");
        assert_eq!(token.scrub("bad ghp_SECRET here"), "bad *** here");
        assert!(Token::new("  ").is_none());
    }

    fn pr(number: u64, head: &str) -> PullRequest {
        PullRequest {
            number,
            url: format!("https://example/pr/{number}"),
            title: format!("Promote {head}"),
            body: String::new(),
            head: head.into(),
            head_sha: None,
            base: "main".into(),
            state: PrState::Open,
            labels: vec![],
            author: None,
        }
    }

    #[test]
    fn same_head_is_reused_and_others_are_superseded() {
        let open = [
            pr(3, "promote/prod/v1"),
            pr(5, "promote/prod/v2"),
            pr(5, "promote/prod/v2"),
        ];
        let plan = plan_pull_request(&open, "promote/prod/v2");
        assert_eq!(plan.reuse.map(|p| p.number), Some(5));
        assert_eq!(
            plan.supersede.iter().map(|p| p.number).collect::<Vec<_>>(),
            [3]
        );
        let plan = plan_pull_request(&open, "promote/prod/v3");
        assert_eq!(plan.reuse, None);
        assert_eq!(plan.supersede.len(), 2);
    }

    fn review(who: &str, state: ReviewState, commit: Option<&str>) -> Review {
        Review {
            reviewer: who.into(),
            state,
            commit: commit.map(Into::into),
            submitted_at: None,
        }
    }

    #[test]
    fn a_listed_reviewers_latest_approval_counts_for_the_role() {
        let approvers = BTreeMap::from([
            (
                "pm".to_owned(),
                vec!["github:PM-Lead".to_owned(), "pm@example.com".to_owned()],
            ),
            (
                "qa".to_owned(),
                vec!["qa-bot".to_owned(), "gitlab:carol".to_owned()],
            ),
        ]);
        let reviews = [
            review("pm-lead", ReviewState::Approved, Some("abc")),
            review("pm-lead", ReviewState::Commented, Some("abc")),
            review("qa-bot", ReviewState::Approved, Some("abc")),
            review("qa-bot", ReviewState::ChangesRequested, Some("abc")),
            review("carol", ReviewState::Approved, Some("abc")),
            review("mallory", ReviewState::Approved, Some("abc")),
        ];
        let got = role_approvals(ForgeKind::GitHub, &reviews, Some("abc"), &approvers);
        assert_eq!(
            got,
            [RoleApproval {
                role: "pm".into(),
                login: "pm-lead".into()
            }]
        );
    }

    #[test]
    fn an_approval_of_an_older_commit_does_not_count() {
        let approvers = BTreeMap::from([("pm".to_owned(), vec!["alice".to_owned()])]);
        let reviews = [review("alice", ReviewState::Approved, Some("old"))];
        assert!(role_approvals(ForgeKind::Gitea, &reviews, Some("new"), &approvers).is_empty());
        assert_eq!(
            role_approvals(ForgeKind::Gitea, &reviews, None, &approvers).len(),
            1
        );
        let dismissed = [
            review("alice", ReviewState::Approved, None),
            review("alice", ReviewState::Dismissed, None),
        ];
        assert!(role_approvals(ForgeKind::Gitea, &dismissed, None, &approvers).is_empty());
    }
}
