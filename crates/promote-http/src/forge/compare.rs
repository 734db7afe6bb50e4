//! A source repository's commits between two revisions, for the release behind a promotion's
//! tags: GitHub's and Gitea's `GET /repos/O/R/compare/FROM...TO` (`total_commits`, `commits`
//! oldest first), GitLab's `GET /projects/ID/repository/compare?from=&to=` (`commits`).
//!
//! Revisions come from image labels, i.e. from whoever built the image: they are checked by
//! `promote_core::source::valid_revision` before they reach a URL, and encoded all the same.

use serde::Deserialize;

use promote_core::forge::{ForgeError, ForgeKind, encode_component};
use promote_core::source::{Commits, SourceCommit, SourceHistory, subject_of, valid_revision};

use super::HttpForge;
use super::client::Subject;

#[derive(Deserialize)]
struct Compare {
    #[serde(default)]
    total_commits: Option<usize>,
    #[serde(default)]
    commits: Vec<CommitDoc>,
}

/// GitHub and Gitea: `{sha, commit: {message}}`; GitLab: `{id, message}` (and `title`).
#[derive(Deserialize)]
struct CommitDoc {
    #[serde(alias = "id")]
    sha: String,
    #[serde(default)]
    commit: Option<Message>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    message: String,
}

impl SourceHistory for HttpForge {
    fn commits_between(&self, from: &str, to: &str, limit: usize) -> Result<Commits, ForgeError> {
        let c = &self.client;
        for r in [from, to] {
            if !valid_revision(r) {
                return Err(ForgeError::InvalidRevision {
                    revision: r.chars().take(80).collect(),
                });
            }
        }
        let (from_enc, to_enc) = (encode_component(from), encode_component(to));
        let path = match c.kind() {
            ForgeKind::GitHub | ForgeKind::Gitea => format!(
                "{}/compare/{from_enc}...{to_enc}",
                super::github_like::repo(c)
            ),
            ForgeKind::GitLab => format!(
                "/projects/{}/repository/compare?from={from_enc}&to={to_enc}&straight=false",
                encode_component(c.target.repo.as_str())
            ),
        };
        let compare: Compare = c
            .on(Subject::Repo)
            .get(&path, "compare the source's revisions")?;
        let total = compare.total_commits.unwrap_or(compare.commits.len());
        let commits = compare
            .commits
            .into_iter()
            .take(limit)
            .map(|d| SourceCommit {
                subject: subject_of(
                    d.commit
                        .map(|m| m.message)
                        .or(d.message)
                        .as_deref()
                        .unwrap_or_default(),
                ),
                sha: d
                    .sha
                    .chars()
                    .filter(char::is_ascii_hexdigit)
                    .take(40)
                    .collect(),
            })
            .collect();
        Ok(Commits { commits, total })
    }
}
