//! Argo CD Applications for `kubectl promote`: the one crate that links `kube`, with the two
//! transports behind `promote_core::argocd::ArgoCd` — [`KubeArgoCd`] (the Kubernetes API of the
//! cluster Argo CD runs in) and [`RestArgoCd`] (argocd-server's REST API). Both are synchronous:
//! each owns a small tokio runtime and blocks on it, so async stays inside this crate.
//!
//! The use cases see Argo CD's facts and the trait (in `promote_core::argocd`); what only a
//! transport needs lives here:
//!
//! * [`operation`]: the `.operation` documents, built exactly as Argo CD's API server builds them
//!   and refused as it refuses them, `SetAppOperation`'s and `TerminateOperation`'s writes, the
//!   refresh and annotation patches.
//! * [`prepare`]: a rollback's whole document (auto-sync off keeping prune/selfHeal, our marker,
//!   the operation) and a resume's.
//! * [`wait`]: the verdict on each observed version of the app, and what a wait has seen.
//!
//! On the Kubernetes API, starting an operation is Argo CD's `SetAppOperation`
//! (`specs/argocd.md` §2.1): GET, refuse when `.operation` is set, set `.operation`, null
//! `status.operationState`, replace with the fetched `resourceVersion`, start over on 409. A
//! rollback is ONE replace (auto-sync off, marker, operation), so no half-done state exists;
//! whether the server keeps `automated.enabled` (its CRD predates 3.1 if not) is learnt first
//! from a server-side dry run of that same replace. Waits watch the one Application from the
//! resourceVersion last seen and give up at their deadline saying what they waited for and saw.

mod clock;
mod connect;
#[cfg(test)]
mod fixture;
mod kubernetes;
mod operation;
mod prepare;
mod rest;
mod wait;

pub use clock::now;
pub use connect::{ConnectError, ConnectOptions, DEFAULT_NAMESPACE, describe_cluster};
pub use kubernetes::KubeArgoCd;
pub use rest::{RestArgoCd, RestOptions};

/// A fresh id for `operation.info[promote-id]`.
pub fn new_promote_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
