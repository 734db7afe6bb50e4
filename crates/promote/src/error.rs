//! What can stop a use case. A policy denial is not here: it is an outcome, not an error.
//! [`PromoteError::Usage`] is the command line's fault (exit 2); every other variant is exit 1.

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
    Render(#[from] crate::render::RenderError),
    /// A render of one side of a diff failed or did not read as YAML.
    #[error("{overlay} at {rev}: {detail}")]
    RenderAt {
        overlay: String,
        rev: String,
        detail: String,
    },
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
    /// promote.yaml declares `apps:` and the command named none, or the app does not run in
    /// the environment.
    #[error("{}", no_target(env, app.as_deref(), apps))]
    NoTarget {
        env: String,
        app: Option<String>,
        apps: String,
    },
    /// A promotion of several apps: the apps that could not be promoted (the others were not
    /// either: all or nothing).
    #[error("{}", apps_failed(env, *of, failures))]
    Apps {
        env: String,
        of: usize,
        failures: Vec<(String, String)>,
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
    /// The command line asks for something it cannot mean (exit 2): the message names the
    /// argument or flag and what to give instead.
    #[error("{0}")]
    Usage(String),
    /// `--override-policy` where the environment does not allow break-glass.
    #[error(
        "--override-policy: {env} does not allow overrides (set `allowOverride: true` on the environment in promote.yaml to allow break-glass)"
    )]
    OverrideNotAllowed { env: String },
    /// A revert found nothing to go back to (the message says what it looked for and where).
    #[error("{0}")]
    NoRevertTarget(String),
    /// `verify` of a change that shares no history with the base tip (a shallow clone).
    #[error(
        "{what} shares no history with {base}; fetch with full history (`git fetch --unshallow`, or `fetch-depth: 0` in CI)"
    )]
    NoCommonHistory { what: String, base: String },
    /// `verify --pr N` of a pull request the remote has no head for.
    #[error(
        "--pr {number}: {remote} has no {refs}; check the number (and that the remote is the forge the pull request was opened on)"
    )]
    NoPullRequestHead {
        number: u64,
        remote: String,
        refs: String,
    },
    /// `init` will not write where it was asked to (the message says why and what to do).
    #[error("{0}")]
    InitRefused(String),
    /// A protected environment's rollback marker could not be checked: fail closed.
    #[error(
        "refusing to promote {env}: it is protected, and its Argo CD application {app} could not be read ({looked}) to check for a rollback marker; nothing was changed. Point at the cluster that runs Argo CD for {env} with --context NAME (or --kubeconfig FILE, or --argocd-server URL with ARGOCD_AUTH_TOKEN), or set argocd.context of {env} in promote.yaml"
    )]
    MarkerUnchecked {
        env: String,
        app: String,
        looked: String,
        #[source]
        source: Box<crate::deploy::ArgoError>,
    },
    /// The push landed, and Argo CD could not be reached to deploy it (`--wait`, `--resume`).
    #[error("pushed, but could not reach Argo CD")]
    AfterPush {
        #[source]
        source: Box<crate::deploy::ArgoError>,
    },
    /// PR mode with `--wait` and no forge to wait on (checked before anything is pushed).
    #[error(
        "--wait in PR mode waits for the merge on the forge, and there is none: {why}. Set the token (forge.tokenEnv in promote.yaml names the variable) or drop --wait; nothing was pushed"
    )]
    NoForgeToWait { why: String },
    /// A use case needs an adapter its caller did not provide (a library caller's mistake).
    #[error("no {what} client was set up for this command")]
    NotWired { what: &'static str },
    /// `init` could not write the file.
    #[error("writing {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A policy module could not be loaded or run (not a denial: that is an outcome).
    #[error("policy: {0}")]
    Policy(String),
    #[error(transparent)]
    Forge(#[from] promote_core::forge::ForgeError),
    #[error(transparent)]
    Argo(#[from] crate::deploy::ArgoError),
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
        "{env}'s trusted key {path} (promote.yaml trust.signatures) is not on {base}; commit the cosign public key there (keys are read from the base branch, never the working tree)"
    )]
    TrustKeyMissing {
        env: String,
        path: String,
        base: String,
    },
    #[error(
        "{env}'s trusted root {path} (promote.yaml trust.signatures[].keyless.trustedRoot) is not on {base}; commit the Sigstore trusted_root.json there (it is read from the base branch, never the working tree)"
    )]
    TrustedRootMissing {
        env: String,
        path: String,
        base: String,
    },
    #[error(
        "branch {branch} already exists on {remote} with another change for this environment and version; nothing was pushed. Close its pull request and delete the branch (`git push {remote} --delete {branch}`), then promote again"
    )]
    BranchTaken { branch: String, remote: String },
    /// A policy command (`policy list | inspect | eval | test | package`) could not do its job
    /// (boxed: a load error is large, and every `Result` here would carry its size).
    #[error(transparent)]
    Policies(Box<crate::policies::PoliciesError>),
}

fn no_target(env: &str, app: Option<&str>, apps: &str) -> String {
    match app {
        Some(app) => format!(
            "app {app} does not run in {env}: promote.yaml's apps[name={app}].environments has no `{env}`; add it there, or pick another app (apps: {apps})"
        ),
        None => format!(
            "{env}: promote.yaml declares apps, so name one: --app NAME (apps: {apps}); a promotion also takes --app 'PATTERN,...' or --all-apps"
        ),
    }
}

fn apps_failed(env: &str, of: usize, failures: &[(String, String)]) -> String {
    let mut s = format!(
        "{} of {of} apps cannot be promoted in {env}; nothing was committed or pushed (a promotion of several apps is all or nothing):",
        failures.len()
    );
    for (app, why) in failures {
        s.push_str(&format!("\n  {app}: {}", why.replace('\n', "\n    ")));
    }
    s
}
