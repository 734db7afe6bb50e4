//! ENV's Application and the transport that reaches it, and the checks made before relying on
//! it: the source check (DESIGN step 7) and the rollback marker.

use promote_core::argocd::{
    self as core, AppRef, Application, ArgoCd, ArgoCdError, ExpectedSource, SourceMismatch,
    SourceWarning,
};
use promote_core::config::Environment;

use super::error::ArgoError;
use crate::{Interaction, Session};

/// ENV's Application and the transport that reaches it.
pub struct Target<'a> {
    pub argo: &'a dyn ArgoCd,
    pub app: AppRef,
    /// How it is reached, for messages: `context kind-prod`, `argocd-server https://…`.
    pub via: String,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("app", &self.app)
            .field("via", &self.via)
            .finish_non_exhaustive()
    }
}

/// One line from an [`ArgoCdError`], with the fix where the kind of failure tells it.
pub fn classify(env: &str, t: &Target<'_>, e: ArgoCdError) -> ArgoError {
    let app = t.app.to_string();
    let via = t.via.clone();
    match e {
        ArgoCdError::NotFound { .. } => ArgoError::NotFound {
            env: env.to_owned(),
            app,
            via,
        },
        ArgoCdError::NotFoundOrForbidden { message, .. } => ArgoError::NotFoundOrForbidden {
            env: env.to_owned(),
            app,
            via,
            message,
        },
        ArgoCdError::Forbidden {
            action, message, ..
        } => ArgoError::Forbidden {
            app,
            via,
            action,
            message,
        },
        ArgoCdError::Transport { ref cause, .. } if is_unreachable(cause.as_ref()) => {
            ArgoError::Unreachable {
                app,
                via,
                cause: root_cause(cause.as_ref()),
            }
        }
        other => {
            let mut message = other.to_string();
            let mut src = std::error::Error::source(&other);
            while let Some(s) = src {
                let m = s.to_string();
                if !message.contains(&m) {
                    message.push_str(": ");
                    message.push_str(&m);
                }
                src = s.source();
            }
            ArgoError::Failed { app, via, message }
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}

fn is_unreachable(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
                    | AddrNotAvailable
            ) {
                return true;
            }
        }
        let text = c.to_string().to_ascii_lowercase();
        if text.contains("connect")
            || text.contains("dns error")
            || text.contains("timed out")
            || text.contains("connection")
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// The Application as it is now.
pub fn read_app(env: &Environment, t: &Target<'_>) -> Result<Application, ArgoError> {
    t.argo
        .application(&t.app)
        .map_err(|e| classify(&env.name, t, e))
}

/// What `promote.yaml` and the remote say the app must deploy.
pub fn expected_source(session: &Session, env: &Environment) -> ExpectedSource {
    ExpectedSource {
        repo_url: session.repo.remote_url(&session.remote).unwrap_or_default(),
        path: env.source_dir(),
        target_revision: session.base_branch.clone(),
    }
}

/// The consistency check before relying on an app (DESIGN step 7): a mismatch is an error,
/// Argo-side image overrides and multi-source apps are warnings.
pub fn check_app(
    session: &Session,
    env: &Environment,
    app: &Application,
    progress: &dyn Interaction,
) -> Result<(), ArgoError> {
    let check = core::check_source(app, &expected_source(session, env));
    for w in &check.warnings {
        match w {
            SourceWarning::KustomizeImages(images) => progress.warn(&format!(
                "Argo CD application {} overrides images in spec.source.kustomize.images ({}): those win over {}'s overlay, so a promotion may not change what runs; remove them from the Application",
                app.qualified_name(),
                images.join(", "),
                env.name
            )),
            SourceWarning::MultiSource { count } => progress.warn(&format!(
                "Argo CD application {} has {count} sources; only the one with path {} is checked against promote.yaml",
                app.qualified_name(),
                env.overlay
            )),
        }
    }
    if check.mismatches.is_empty() {
        return Ok(());
    }
    let problems: Vec<String> = check
        .mismatches
        .iter()
        .map(|m| match m {
            SourceMismatch::RepoUrl { expected, actual } => format!(
                "repoURL is {actual}, the remote {} is {expected}",
                session.remote
            ),
            SourceMismatch::Path { expected, actual } => {
                format!("path is {actual}, the overlay is {expected}")
            }
            SourceMismatch::TargetRevision { expected, actual } => format!(
                "targetRevision is {}, the base branch is {expected}",
                if actual.is_empty() { "HEAD" } else { actual }
            ),
            SourceMismatch::NoSource => {
                "it has no single source (none, or a source hydrator)".to_owned()
            }
        })
        .collect();
    Err(ArgoError::Mismatch {
        env: env.name.clone(),
        app: app.qualified_name(),
        problems: problems.join("; "),
    })
}

/// Refuses a promotion into an env whose rollback marker is set (unless `--resume`).
pub fn check_marker(env: &Environment, app: &Application) -> Result<(), ArgoError> {
    match &app.rollback_marker {
        None => Ok(()),
        Some(m) => Err(ArgoError::RolledBack {
            env: env.name.clone(),
            by: m.by.clone(),
            at: m.at.map(|t| format!(" at {t}")).unwrap_or_default(),
            reason: if m.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", m.reason)
            },
        }),
    }
}

/// After a push to the base branch: check the app and ask for a refresh, as a webhook would.
pub fn after_push(
    session: &Session,
    env: &Environment,
    t: &Target<'_>,
    progress: &dyn Interaction,
) -> Result<Application, ArgoError> {
    let app = read_app(env, t)?;
    check_app(session, env, &app, progress)?;
    progress.step(&format!("asking Argo CD to refresh {}", t.app));
    t.argo
        .refresh(&t.app, false)
        .map_err(|e| classify(&env.name, t, e))
}
