//! Why a forge operation could not be done.

use super::kind::ForgeKind;

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
    #[error(
        "`{revision}` is not a revision name kubectl promote asks a forge about (4 to 64 of 0-9, a-z, A-Z, `.`, `_`, `-`)"
    )]
    InvalidRevision { revision: String },
}
