//! The use cases of `kubectl promote` (promote, status, init, …): the one place where the
//! adapters (git, render, policies, forges, Argo CD) meet. Each use case returns a plain result
//! type that the binary renders as text, JSON or YAML; progress goes through [`Interaction`] so
//! that stdout stays the result alone.

pub mod approvals;
pub mod argo;
pub mod images;
pub mod init;
pub mod interaction;
pub mod peek;
pub mod policy;
pub mod pr;
pub mod promote;
pub mod render;
pub mod rendered;
pub mod rollback;
pub mod scratch;
pub mod session;
pub mod status;
pub mod verify;

pub use images::ImageCheck;
pub use interaction::{Interaction, Quiet};
pub use session::{OpenOptions, PolicyOptions, Session};

use promote_core::config::ConfigError;
use promote_core::overlay::OverlayError;
use promote_git::GitError;

/// A use case could not do its job. (A policy denial is not an error: it is an outcome.)
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error(
        "no promote.yaml at the tip of {at}; write one with `kubectl promote init` and push it"
    )]
    NoConfig { at: String },
    #[error(
        "environment {env}: no kustomization.yaml, kustomization.yml or Kustomization in `{dir}` at {at}; fix `overlay:` in promote.yaml"
    )]
    MissingOverlay {
        env: String,
        dir: String,
        at: String,
    },
    #[error("{path} is not UTF-8 text")]
    NotUtf8 { path: String },
    #[error(
        "{env} changed from {from} to {to} while you promoted (commit {commit} by {by}); nothing was pushed. Check the new state with `kubectl promote status {env}` and promote again"
    )]
    Raced {
        env: String,
        from: String,
        to: String,
        commit: String,
        by: String,
    },
    #[error(
        "gave up after {attempts} attempts: the base branch kept moving while pushing; nothing of ours was pushed. Try again"
    )]
    TooManyRetries { attempts: usize },
    #[error(
        "no git identity: set `git config user.name` and `user.email`, or pass --author \"Name <email>\""
    )]
    NoIdentity,
    #[error(
        "the edit of {file} did not hold: {detail}. This is a bug in kubectl-promote; nothing was written"
    )]
    EditCheck { file: String, detail: String },
    #[error("{0}")]
    Usage(String),
    /// A policy module could not be loaded or run (not a denial: that is an outcome).
    #[error("policy: {0}")]
    Policy(String),
    #[error(transparent)]
    Forge(#[from] promote_core::forge::ForgeError),
    #[error(transparent)]
    Argo(#[from] argo::ArgoError),
    #[error(
        "{file}: approvers: no role `{role}` (roles: {roles}); add `approvers: {{{role}: [you@example.com]}}` to promote.yaml, or pass another --role"
    )]
    UnknownRole {
        role: String,
        file: String,
        roles: String,
    },
    #[error(
        "{who} may not record for role `{role}`: approvers.{role} lists {listed}; nothing was recorded. To allow it, {fix}"
    )]
    NotAnApprover {
        who: String,
        role: String,
        listed: String,
        fix: String,
    },
    #[error(
        "{env} runs {running} at {at}, not {version}, and no pull request branch or upstream environment proposes {version} for it; approvals bind to images, so approve {version} once {env} runs it or a promotion of it is open (see `kubectl promote status {env}`)"
    )]
    NotRunning {
        env: String,
        version: String,
        running: String,
        at: String,
    },
    #[error(
        "nothing to revoke: no {role} approval of {env} {version} is in force (see `kubectl promote status {env}`)"
    )]
    NothingToRevoke {
        env: String,
        version: String,
        role: String,
    },
    #[error(
        "gave up after {attempts} attempts: others kept recording on {branch}; nothing of ours was pushed. Try again"
    )]
    ApprovalsRace { branch: String, attempts: usize },
    /// A signature tool could not run while checking approval records (not an unverified
    /// record: that is a result).
    #[error("checking the signatures of the approval records on {branch}")]
    Signatures {
        branch: String,
        #[source]
        source: promote_git::signature::SignerError,
    },
    /// Image references the registries do not have (the message lists each, and the way out).
    #[error("{0}")]
    ImagesNotFound(String),
    #[error(transparent)]
    Registry(#[from] promote_core::registry::RegistryError),
    #[error(
        "branch {branch} already exists on {remote} with another change for this environment and version; nothing was pushed. Close its pull request and delete the branch (`git push {remote} --delete {branch}`), then promote again"
    )]
    BranchTaken { branch: String, remote: String },
}
