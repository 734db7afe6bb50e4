//! Argo CD in the use cases: what happens to ENV's Application around a push (the rollback
//! marker check before it; a refresh after it, or with `--wait` a sync when auto-sync is off and
//! the wait until the *deployed* revision is ours and the app is Synced and Healthy), the facts
//! `status`, `history` and policies read, the history rollback and `resume`. Everything goes
//! through the core [`ArgoCd`](promote_core::argocd::ArgoCd) trait, reached through the
//! [`ArgoCdConnector`](crate::ports::ArgoCdConnector) port, never through kube or HTTP: the
//! transport (Kubernetes API or argocd-server) is the binary's choice.

pub mod after;
pub mod connect;
pub mod error;
pub mod facts;
pub mod resume;
pub mod rollback;
pub mod state;
pub mod sync;
pub mod target;
pub mod wait;
pub mod windows;

pub use after::{AppDeployment, Deployment, Landing};
pub use connect::{ArgoReads, Conn, EarlyReads, Read, ReadFailure, Reads, connect, one_line};
pub use error::ArgoError;
pub use facts::{ArgoStatus, MarkerFacts, OperationFacts, Undone, Writer};
pub use resume::Resumed;
pub use rollback::{HistoryTarget, RollbackBy, RolledBack};
pub use state::AutoSyncState;
pub use sync::{StartedSync, SyncBy, SyncJob};
pub use target::Target;
pub use wait::{HEALTHY_REVISIONS, KEEP_REVISIONS, UNHEALTHY_REVISIONS, WaitOptions, Waited};
