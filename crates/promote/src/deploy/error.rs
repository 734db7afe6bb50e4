//! Argo CD could not be used for an environment: one line each that says what to do.

/// Argo CD could not be used for an environment. Each variant is one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ArgoError {
    /// The caller set up no way to reach Argo CD (a library caller's mistake).
    #[error("{env}: no way to reach Argo CD was set up for this command")]
    NotWired { env: String },
    /// argocd-server was chosen, but there is no token for it.
    #[error(
        "argocd-server {server} (from {from}) needs a token: set ARGOCD_AUTH_TOKEN (e.g. `argocd account generate-token`), or drop the server to use the Kubernetes API"
    )]
    NoToken { server: String, from: &'static str },
    /// argocd-server's REST client could not be set up.
    #[error("cannot use argocd-server {server} (from {from}): {cause}")]
    RestUnusable {
        server: String,
        from: &'static str,
        cause: String,
    },
    /// The Kubernetes client could not be set up (kubeconfig, context, credentials).
    #[error(
        "cannot reach Argo CD for {app} ({via}): {cause}; check --kubeconfig/KUBECONFIG and --context (or set --argocd-server)"
    )]
    KubeUnusable {
        app: String,
        via: String,
        cause: String,
    },
    #[error(
        "environment {env} has no Argo CD application; add `argocd: {{app: NAME, namespace: argocd}}` to it in promote.yaml"
    )]
    NoApp { env: String },
    #[error(
        "Argo CD application {app} not found ({via}); check environments[].argocd of {env} in promote.yaml (app, namespace), or pass -n/--context"
    )]
    NotFound {
        env: String,
        app: String,
        via: String,
    },
    #[error(
        "Argo CD application {app} not found or not allowed to read it ({via}; argocd-server answers {message:?} to both): check environments[].argocd.app and namespace of {env} in promote.yaml, or that your token may get argoproj.io applications"
    )]
    NotFoundOrForbidden {
        env: String,
        app: String,
        via: String,
        message: String,
    },
    #[error(
        "not allowed to {action} Argo CD application {app} ({via}): {message}; ask for access to argoproj.io applications, or use another --context/--user"
    )]
    Forbidden {
        app: String,
        via: String,
        action: &'static str,
        message: String,
    },
    #[error(
        "cannot reach Argo CD for {app} ({via}): {cause}; check --kubeconfig/--context (or --argocd-server) and that the server is up"
    )]
    Unreachable {
        app: String,
        via: String,
        cause: String,
    },
    #[error("Argo CD application {app} ({via}): {message}")]
    Failed {
        app: String,
        via: String,
        message: String,
    },
    #[error(
        "Argo CD application {app} does not deploy {env}'s overlay: {problems}. Fix the Application's spec.source, or environments[].argocd of {env} in promote.yaml"
    )]
    Mismatch {
        env: String,
        app: String,
        problems: String,
    },
    #[error(
        "{env} was rolled back with Argo CD by {by}{at}{reason}, so promotions are refused while its rollback marker is set: fix git first, then promote with --resume (turns auto-sync back on), or run `kubectl promote resume {env}`"
    )]
    RolledBack {
        env: String,
        by: String,
        at: String,
        reason: String,
    },
    #[error(
        "{env} has a rollback marker (by {by}): syncing would deploy what git holds again; run `kubectl promote resume {env}` once git holds a good version"
    )]
    SyncWhileRolledBack { env: String, by: String },
    #[error(
        "Argo CD application {app} ({via}) was still running another operation ({operation}) after {waited_seconds}s, so ours could not start: wait for it (`kubectl promote status {env}`), or give --wait more time"
    )]
    Busy {
        env: String,
        app: String,
        via: String,
        operation: String,
        waited_seconds: u64,
    },
    #[error("no rollback by kubectl promote is recorded on {app}: there is nothing to resume")]
    NothingToResume { app: String },
    #[error(
        "{env}: git still holds {version} at {base}, the version rolled back from ({revision}); turning auto-sync back on would deploy it again. Revert it (`kubectl promote rollback {env} --strategy revert`) or promote a fix first; --force resumes anyway"
    )]
    StillRolledBackVersion {
        env: String,
        version: String,
        base: String,
        revision: String,
    },
    #[error(
        "{env}: cannot tell what was rolled back from (the history of {app} no longer shows it); check `kubectl promote history {env}` and pass --force to resume anyway"
    )]
    UnknownRolledBackFrom { env: String, app: String },
    #[error("{0}")]
    NoTarget(String),
    #[error(
        "Argo CD deployed {deployed} for {env}, a later commit that renders {env} differently from ours ({ours}): someone changed {env} after us; see `kubectl promote status {env}`"
    )]
    Superseded {
        env: String,
        deployed: String,
        ours: String,
    },
}

impl ArgoError {
    /// Why the transport of `at` could not be opened (`cause`, on one line), said for its app.
    pub fn unopened(at: &crate::ports::Location, cause: String) -> ArgoError {
        match &at.transport {
            crate::ports::Transport::Rest { server, from, .. } => ArgoError::RestUnusable {
                server: server.clone(),
                from,
                cause,
            },
            crate::ports::Transport::Kube { .. } => ArgoError::KubeUnusable {
                app: at.app.to_string(),
                via: at.via.clone(),
                cause,
            },
        }
    }
}
