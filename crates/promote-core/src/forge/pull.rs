//! What a forge answers with: users, pull requests, reviews.

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// What [`Forge::create`](super::Forge::create) opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPullRequest {
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
}

/// What [`Forge::update`](super::Forge::update) changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrEdit {
    pub title: Option<String>,
    pub body: Option<String>,
}

/// How [`Forge::find_open`](super::Forge::find_open) selects open pull requests of this repository.
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
    /// The e-mail the forge shows for the reviewer's account, if it shows one: what the account
    /// holder set, not something this tool can verify; see [`super::role_approvals`].
    pub email: Option<String>,
}
