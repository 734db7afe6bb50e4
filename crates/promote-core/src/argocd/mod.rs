//! Argo CD Applications as the use cases see them, and every decision about them that needs no I/O.
//!
//! This module owns the facts read from an `argoproj.io/v1alpha1` Application ([`facts`]: sync
//! status, health, the *deployed* revision = `status.history[-1]`, auto-sync as Argo CD
//! evaluates it, the operation in progress and the last operation's state, who else writes the
//! app), our rollback marker ([`marker`]), Argo CD's refusals in its own words ([`refused`]), the
//! consistency check of an Application's source against `promote.yaml` ([`source`]), the
//! AppProject's sync windows on any IANA time zone ([`windows`]), and the small synchronous
//! [`ArgoCd`] trait the use cases call with what it is asked and answers ([`port`]).
//!
//! The transports (kube, argocd-server REST) live in `promote-argocd`, with what only they need:
//! the `.operation` documents shaped as Argo CD's API server builds them, a rollback's whole
//! write, and the predicate a wait evaluates on every observed version of the app.
//!
//! Documents stay `serde_json::Value`s end to end, so a write never drops a field this crate does
//! not know (a user's `spec` is theirs; Argo CD adds fields every release).

mod facts;
mod json;
mod marker;
mod port;
mod refused;
mod source;
mod time;
mod windows;

pub use facts::{
    Application, ApplicationError, AutoSync, Condition, HealthStatus, HistoryEntry, InitiatedBy,
    ManagedBy, OperationPhase, OperationState, REFRESH_ANNOTATION, Source, Sources, SyncStatus,
    short_revision,
};
pub use marker::{
    AUTO_SYNC_DISABLED_BY, AutoSyncDisabledBy, MARKER_ANNOTATIONS, ROLLBACK_REASON, ROLLBACK_TO_ID,
    ROLLBACK_TO_REVISION, ROLLED_BACK_AT, ROLLED_BACK_BY, RollbackMarker, SYNC_POLICY_BEFORE,
};
pub use port::{
    AppRef, ArgoCd, ArgoCdError, Expect, RollbackRequest, Started, StartedRollback, SyncRequest,
    WaitGoal, WaitOutcome, WaitReport,
};
pub use refused::OperationRefused;
pub use source::{
    ExpectedSource, SourceCheck, SourceMismatch, SourceWarning, check_source, normalize_repo_url,
};
pub use time::Timestamp;
pub use windows::{
    SyncWindow, WindowError, WindowKind, WindowVerdict, app_project, manual_sync_window,
    parse_sync_windows, sync_window_verdict,
};

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    /// An Application read after `edits`, each a JSON pointer and the value put there.
    fn read(edits: &[(&str, Value)]) -> Application {
        let mut doc = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"}},
            "status": {"sync": {"status": "OutOfSync", "revision": B}, "history": [
                {"id": 0, "revision": A, "deployedAt": "2026-08-22T10:00:00Z"},
                {"id": 1, "revision": B, "deployedAt": "2026-08-22T11:00:00Z"}]}
        });
        for (pointer, value) in edits {
            let mut at = &mut doc;
            for key in pointer.split('/').skip(1) {
                at = match at {
                    Value::Array(items) => {
                        let i: usize = key.parse().unwrap();
                        if i == items.len() {
                            items.push(Value::Null);
                        }
                        &mut items[i]
                    }
                    other => &mut other[key],
                };
            }
            *at = value.clone();
        }
        Application::from_json(doc).unwrap()
    }

    #[test]
    fn facts_deployed_revision_is_last_history_entry_not_sync_revision() {
        let a = read(&[]);
        assert_eq!(a.deployed_revision(), Some(B));
        let rolled = read(&[(
            "/status/history/2",
            json!({"id": 2, "revision": A, "deployedAt": "2026-08-22T12:00:00Z"}),
        )]);
        assert_eq!(rolled.deployed_revision(), Some(A));
        assert_eq!(rolled.sync_revision.as_deref(), Some(B));
        assert_eq!(rolled.previous_deployment().unwrap().id, 1);
    }

    #[test]
    fn auto_sync_follows_enabled_nil_means_on() {
        let on = read(&[("/spec/syncPolicy/automated", json!({"prune": true}))]);
        assert_eq!(
            on.auto_sync,
            AutoSync::Enabled {
                prune: true,
                self_heal: false
            }
        );
        let empty = read(&[("/spec/syncPolicy/automated", json!({}))]);
        assert!(empty.auto_sync.is_enabled());
        let off = read(&[(
            "/spec/syncPolicy/automated",
            json!({"selfHeal": true, "enabled": false}),
        )]);
        assert_eq!(
            off.auto_sync,
            AutoSync::Disabled {
                prune: false,
                self_heal: true
            }
        );
        assert_eq!(read(&[]).auto_sync, AutoSync::Off);
    }

    #[test]
    fn parents_that_would_turn_auto_sync_back_on_are_named() {
        let a = read(&[
            (
                "/metadata/ownerReferences",
                json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "shops", "uid": "u"}]),
            ),
            (
                "/metadata/annotations",
                json!({"argocd.argoproj.io/tracking-id": "root:argoproj.io/Application:argocd/shop"}),
            ),
        ]);
        assert_eq!(
            a.managed_by,
            vec![
                ManagedBy::ApplicationSet {
                    name: "shops".into()
                },
                ManagedBy::ParentApplication {
                    name: "root".into()
                }
            ]
        );
        let advice = a.managed_by[1].to_string();
        assert!(advice.contains("/spec/syncPolicy"), "{advice}");
        assert!(advice.contains("RespectIgnoreDifferences=true"), "{advice}");
        assert!(read(&[]).managed_by.is_empty());
    }

    #[test]
    fn a_rollback_is_undone_when_auto_sync_is_on_again_beside_the_marker() {
        let marker = (
            "/metadata/annotations",
            json!({"promote.kubectl.io/rolled-back-by": "Ann <ann@example.com>",
                   "promote.kubectl.io/auto-sync-disabled-by": "enabled-false"}),
        );
        let policy = |enabled| {
            (
                "/spec/syncPolicy",
                json!({"automated": {"prune": true, "selfHeal": true, "enabled": enabled}}),
            )
        };
        assert!(!read(&[marker.clone(), policy(false)]).rollback_undone());
        assert!(read(&[marker.clone(), policy(true)]).rollback_undone());
        assert!(!read(&[policy(true)]).rollback_undone(), "no marker");
        assert!(!read(&[marker]).rollback_undone(), "auto-sync off");
    }

    #[test]
    fn argo_cd_messages_map_back_to_refusals() {
        let all = [
            OperationRefused::AnotherOperationInProgress,
            OperationRefused::AutoSyncEnabled,
            OperationRefused::Deleting,
            OperationRefused::NoSuchDeployment {
                qualified_name: "argocd/shop".into(),
                id: 3,
            },
            OperationRefused::NoSourceInHistory,
            OperationRefused::AutoSyncPinsRevision {
                revision: B.into(),
                target_revision: "main".into(),
            },
            OperationRefused::NoOperationInProgress,
            OperationRefused::BlockedBySyncWindow,
            OperationRefused::InvalidSyncWindow {
                problem: "invalid sync windows: cannot parse schedule '@daily'".into(),
            },
        ];
        for r in all {
            assert_eq!(OperationRefused::from_argo_message(&r.to_string()), Some(r));
        }
        assert_eq!(
            OperationRefused::from_argo_message("permission denied"),
            None
        );
    }

    #[test]
    fn repo_urls_compare_without_scheme_user_suffix() {
        let n = normalize_repo_url;
        assert_eq!(
            n("https://GitHub.com/acme/gitops.git/"),
            "github.com/acme/gitops"
        );
        assert_eq!(
            n("git@github.com:acme/gitops.git"),
            n("https://github.com/acme/gitops")
        );
        assert_eq!(
            n("ssh://git@github.com/acme/gitops"),
            "github.com/acme/gitops"
        );
        assert_eq!(n("/tmp/x/remote.git"), "/tmp/x/remote");
        let a = read(&[(
            "/spec/source/kustomize",
            json!({"images": ["shop=reg/shop:1"]}),
        )]);
        let check = check_source(
            &a,
            &ExpectedSource {
                repo_url: "git@git.example.com:org/gitops".into(),
                path: "overlays/prod/".into(),
                target_revision: "main".into(),
            },
        );
        assert!(check.mismatches.is_empty(), "{check:?}");
        assert_eq!(
            check.warnings,
            vec![SourceWarning::KustomizeImages(vec![
                "shop=reg/shop:1".into()
            ])]
        );
        let wrong = check_source(
            &a,
            &ExpectedSource {
                repo_url: "https://git.example.com/org/other".into(),
                path: "overlays/staging".into(),
                target_revision: "release".into(),
            },
        );
        assert_eq!(wrong.mismatches.len(), 3);
    }
}
