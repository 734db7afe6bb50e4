//! Repository paths and git remote URLs, taken apart without keeping credentials.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::ForgeError;
use super::kind::ForgeKind;

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
    pub(super) fn depth(&self) -> usize {
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

pub(super) fn split_host_port(host_port: &str) -> (&str, Option<&str>) {
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
