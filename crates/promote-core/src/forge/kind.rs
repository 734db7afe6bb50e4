//! Which forge software a repository lives on, and what follows from it.

use std::fmt;

use serde::{Deserialize, Serialize};

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
    pub(super) fn api_suffix(self) -> &'static str {
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
