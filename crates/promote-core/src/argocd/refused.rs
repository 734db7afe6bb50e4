//! Why Argo CD (or this tool on its behalf) will not start or stop an operation, in Argo CD's
//! own words.

use super::marker::ROLLED_BACK_BY;

/// Why Argo CD (or this tool on its behalf) will not start or stop an operation. The texts of
/// the variants Argo CD has are Argo CD's own, verbatim (`specs/argocd.md` §2).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OperationRefused {
    #[error("another operation is already in progress")]
    AnotherOperationInProgress,
    #[error("rollback cannot be initiated when auto-sync is enabled")]
    AutoSyncEnabled,
    #[error("application is deleting")]
    Deleting,
    #[error("application {qualified_name} does not have deployment with id {id}")]
    NoSuchDeployment { qualified_name: String, id: i64 },
    #[error(
        "cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision instead."
    )]
    NoSourceInHistory,
    #[error("Cannot sync to {revision}: auto-sync currently set to {target_revision}")]
    AutoSyncPinsRevision {
        revision: String,
        target_revision: String,
    },
    #[error("Unable to terminate operation. No operation is in progress")]
    NoOperationInProgress,
    /// argocd-server's Sync refuses while the AppProject's windows block a manual sync (§2.2
    /// step 2); it answers 403 (PermissionDenied) for this, which is not missing RBAC.
    #[error("cannot sync: blocked by sync window")]
    BlockedBySyncWindow,
    /// argocd-server's Sync refuses when a matching window cannot be read.
    #[error("cannot sync: invalid sync window: {problem}")]
    InvalidSyncWindow { problem: String },
    // The variants below are this tool's own checks, made before anything is written.
    #[error(
        "{revision:?} is not a commit SHA (40 hex digits); sync to a commit, or to the app's own target"
    )]
    NotACommitSha { revision: String },
    #[error("the app has {count} sources; a sync to one commit needs a single-source app")]
    MultiSourceRevision { count: usize },
    #[error("the app has no source (or uses a source hydrator), so there is nothing to sync")]
    NoSource,
    #[error("no rollback by kubectl promote is recorded on the app (annotation {ROLLED_BACK_BY})")]
    NoRollbackMarker,
}

impl OperationRefused {
    /// Recognises Argo CD's own refusal texts (the REST API's `message`), the inverse of Display.
    pub fn from_argo_message(message: &str) -> Option<Self> {
        let m = message.trim();
        Some(match m {
            "another operation is already in progress" => {
                OperationRefused::AnotherOperationInProgress
            }
            "rollback cannot be initiated when auto-sync is enabled" => {
                OperationRefused::AutoSyncEnabled
            }
            "application is deleting" => OperationRefused::Deleting,
            "cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision instead." => {
                OperationRefused::NoSourceInHistory
            }
            "Unable to terminate operation. No operation is in progress" => {
                OperationRefused::NoOperationInProgress
            }
            "cannot sync: blocked by sync window" => OperationRefused::BlockedBySyncWindow,
            _ => {
                if let Some(problem) = m.strip_prefix("cannot sync: invalid sync window: ") {
                    return Some(OperationRefused::InvalidSyncWindow {
                        problem: problem.to_owned(),
                    });
                }
                if let Some(rest) = m.strip_prefix("application ")
                    && let Some((qualified_name, id)) =
                        rest.split_once(" does not have deployment with id ")
                {
                    return Some(OperationRefused::NoSuchDeployment {
                        qualified_name: qualified_name.to_owned(),
                        id: id.parse().ok()?,
                    });
                }
                let rest = m.strip_prefix("Cannot sync to ")?;
                let (revision, target) = rest.split_once(": auto-sync currently set to ")?;
                OperationRefused::AutoSyncPinsRevision {
                    revision: revision.to_owned(),
                    target_revision: target.to_owned(),
                }
            }
        })
    }
}
