//! Pull requests on GitHub, GitLab and Gitea/Forgejo over their REST APIs: the HTTP
//! implementation of `promote_core::forge::Forge`.
//!
//! Every list is read to the end by following `Link: <…>; rel="next"`, but only within the
//! configured API base, so the token is never sent to another origin. The token travels in the
//! header each vendor documents (GitHub `Authorization: Bearer`, Gitea `Authorization: token`,
//! GitLab `PRIVATE-TOKEN`) and nowhere else; vendor messages passed on in errors are scrubbed of
//! it. GitHub and Gitea share their pull-request shapes ([`github_like`]); GitLab has its own.

mod client;
mod compare;
mod gitea;
mod github;
mod github_like;
mod gitlab;

use std::time::{Duration, Instant};

use promote_core::forge::{
    Forge, ForgeError, ForgeKind, ForgeTarget, ForgeUser, NewPullRequest, PrEdit, PrQuery,
    PrResolution, PrState, PullRequest, Review, Token,
};

/// How the client reaches the forge.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Deadline for each request, connect to last byte.
    pub timeout: Duration,
    /// An `http://` proxy (the caller reads `HTTPS_PROXY`; this crate reads no environment).
    pub proxy: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            proxy: None,
        }
    }
}

/// A forge reached over HTTP for one repository.
pub struct HttpForge {
    client: client::Client,
}

impl std::fmt::Debug for HttpForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out: `Token`'s own Debug hides it, and it is not listed here at all.
        f.debug_struct("HttpForge")
            .field("target", &self.client.target)
            .finish_non_exhaustive()
    }
}

impl HttpForge {
    pub fn new(target: ForgeTarget, token: Token) -> Result<Self, ForgeError> {
        Self::with_options(target, token, &ClientOptions::default())
    }

    pub fn with_options(
        target: ForgeTarget,
        token: Token,
        options: &ClientOptions,
    ) -> Result<Self, ForgeError> {
        Ok(HttpForge {
            client: client::Client::new(target, token, options)?,
        })
    }
}

impl Forge for HttpForge {
    fn target(&self) -> &ForgeTarget {
        &self.client.target
    }

    fn whoami(&self) -> Result<ForgeUser, ForgeError> {
        match self.client.target.kind {
            ForgeKind::GitHub | ForgeKind::Gitea => github_like::whoami(&self.client),
            ForgeKind::GitLab => gitlab::whoami(&self.client),
        }
    }

    fn find_open(&self, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError> {
        let listed = match self.client.target.kind {
            ForgeKind::GitHub => github::find_open(&self.client, query),
            ForgeKind::GitLab => gitlab::find_open(&self.client, query),
            ForgeKind::Gitea => gitea::find_open(&self.client, query),
        }?;
        // The vendors filter where they can; the answer is checked here all the same, since not
        // every vendor filters by each field (Gitea by none).
        let mut found: Vec<PullRequest> = listed
            .into_iter()
            .filter(|pr| match query {
                PrQuery::Head(branch) => pr.head == *branch,
                PrQuery::Label(label) => pr.labels.contains(label),
            })
            .collect();
        // Whatever order the forge lists in (GitLab: newest first), callers get oldest first.
        found.sort_by_key(|pr| pr.number);
        found.dedup_by_key(|pr| pr.number);
        Ok(found)
    }

    fn create(&self, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
        match self.client.target.kind {
            ForgeKind::GitHub => github::create(&self.client, pr),
            ForgeKind::GitLab => gitlab::create(&self.client, pr),
            ForgeKind::Gitea => gitea::create(&self.client, pr),
        }
    }

    fn update(&self, number: u64, edit: &PrEdit) -> Result<PullRequest, ForgeError> {
        match self.client.target.kind {
            ForgeKind::GitHub | ForgeKind::Gitea => github_like::update(&self.client, number, edit),
            ForgeKind::GitLab => gitlab::update(&self.client, number, edit),
        }
    }

    fn comment(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        match self.client.target.kind {
            ForgeKind::GitHub | ForgeKind::Gitea => {
                github_like::comment(&self.client, number, comment)
            }
            ForgeKind::GitLab => gitlab::comment(&self.client, number, comment),
        }
    }

    fn close_with_comment(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        match self.client.target.kind {
            ForgeKind::GitHub | ForgeKind::Gitea => {
                github_like::close_with_comment(&self.client, number, comment)
            }
            ForgeKind::GitLab => gitlab::close_with_comment(&self.client, number, comment),
        }
    }

    fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError> {
        let reviewers = Reviewers::of(self.client.target.kind, reviewers);
        if reviewers.users.is_empty() && reviewers.teams.is_empty() {
            return Ok(());
        }
        match self.client.target.kind {
            ForgeKind::GitHub | ForgeKind::Gitea => {
                github_like::request_reviewers(&self.client, number, &reviewers)
            }
            ForgeKind::GitLab => gitlab::request_reviewers(&self.client, number, &reviewers),
        }
    }

    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        if labels.is_empty() {
            return Ok(());
        }
        match self.client.target.kind {
            ForgeKind::GitHub => github::add_labels(&self.client, number, labels),
            ForgeKind::GitLab => gitlab::add_labels(&self.client, number, labels),
            ForgeKind::Gitea => gitea::add_labels(&self.client, number, labels),
        }
    }

    fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        match self.client.target.kind {
            ForgeKind::GitHub | ForgeKind::Gitea => github_like::get(&self.client, number),
            ForgeKind::GitLab => gitlab::get(&self.client, number),
        }
    }

    fn reviews(&self, number: u64) -> Result<Vec<Review>, ForgeError> {
        match self.client.target.kind {
            ForgeKind::GitHub => github_like::reviews::<github::GitHub>(&self.client, number),
            ForgeKind::GitLab => gitlab::reviews(&self.client, number),
            ForgeKind::Gitea => github_like::reviews::<gitea::Gitea>(&self.client, number),
        }
    }

    /// GitHub and Gitea show an account's e-mail on `GET /users/{login}`; GitLab shows none
    /// this tool reads (`public_email` needs the user's id, and is as unverified).
    fn user_email(&self, login: &str) -> Result<Option<String>, ForgeError> {
        match self.client.target.kind {
            ForgeKind::GitHub | ForgeKind::Gitea => github_like::user_email(&self.client, login),
            ForgeKind::GitLab => Ok(None),
        }
    }
}

/// Whom a review is asked of: accounts, and teams (`org/team` in config, `team` here).
pub(crate) struct Reviewers {
    users: Vec<String>,
    teams: Vec<String>,
}

impl Reviewers {
    /// `github:alice` in config means `alice` on GitHub: the prefix only says which forge.
    fn of(kind: ForgeKind, entries: &[String]) -> Self {
        let mut users = Vec::new();
        let mut teams = Vec::new();
        for entry in entries {
            let name = match entry.split_once(':') {
                Some((prefix, login))
                    if ForgeKind::from_config(prefix).is_ok_and(|k| k == kind) =>
                {
                    login
                }
                _ => entry.as_str(),
            };
            match name.rsplit_once('/') {
                Some((_, team)) => teams.push(team.to_owned()),
                None => users.push(name.to_owned()),
            }
        }
        Reviewers { users, teams }
    }
}

/// The fields `edit` changes, the description under `body_key` (GitLab calls it `description`).
fn edit_document(edit: &PrEdit, body_key: &str) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    if let Some(title) = &edit.title {
        doc.insert("title".into(), title.clone().into());
    }
    if let Some(text) = &edit.body {
        doc.insert(body_key.into(), text.clone().into());
    }
    serde_json::Value::Object(doc)
}

/// Polls a pull request until it is merged or closed unmerged (`--wait` in PR mode), every
/// `interval`, giving up after `timeout` with an error that names the pull request.
///
/// Polling rather than webhooks: the tool runs on a laptop or in CI, with nothing listening.
pub fn wait_for_merge<F: Forge + ?Sized>(
    forge: &F,
    number: u64,
    timeout: Duration,
    interval: Duration,
) -> Result<PrResolution, ForgeError> {
    let started = Instant::now();
    loop {
        let pr = forge.get(number)?;
        match pr.state {
            PrState::Merged => return Ok(PrResolution::Merged(pr)),
            PrState::Closed => return Ok(PrResolution::ClosedUnmerged(pr)),
            PrState::Open => {}
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(ForgeError::MergeWaitTimedOut {
                noun: forge.target().kind.pr_noun(),
                number,
                url: pr.url,
                waited_secs: waited.as_secs(),
            });
        }
        std::thread::sleep(interval.min(timeout - waited));
    }
}
