//! Argo CD Applications as the use cases see them, and every decision about them that needs no I/O.
//!
//! This module owns: the facts read from an `argoproj.io/v1alpha1` Application (sync status,
//! health, the *deployed* revision = `status.history[-1]`, auto-sync as Argo CD evaluates it,
//! the operation in progress and the last operation's state, our rollback marker); the pure
//! builders of the sync and rollback operations, shaped exactly as Argo CD's API server builds them
//! (`specs/argocd.md` §2.2, §2.3, §7 checklist) together with the API server's refusals, word for
//! word; the "is our operation done" predicate the waits evaluate on every observed version; the
//! consistency check of an Application's source against `promote.yaml`; the AppProject's sync
//! windows (5-field cron, matching, Argo CD's `CanSync`); and the small synchronous
//! [`ArgoCd`] trait the use cases call. Transports (kube, argocd-server REST) live in
//! `promote-argocd` and only move JSON documents; every rule about their content lives here.
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
mod wait;
mod windows;
mod wire;

pub use facts::{
    Application, ApplicationError, AutoSync, Condition, HealthStatus, HistoryEntry, InitiatedBy,
    ManagedBy, OperationPhase, OperationState, REFRESH_ANNOTATION, Source, Sources, SyncStatus,
};
pub use marker::{
    AUTO_SYNC_DISABLED_BY, AutoSyncDisabledBy, ROLLBACK_REASON, ROLLBACK_TO_ID,
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
pub use wait::{Progress, evaluate, operation_completed, reconcile_is_ambiguous, same_operation};
pub use windows::{
    SyncWindow, WindowError, WindowKind, WindowVerdict, app_project, manual_sync_window,
    parse_sync_windows, sync_window_verdict,
};
pub use wire::{
    PROMOTE_ID_INFO, PrepareError, REFRESH_TIMESTAMP_ANNOTATION, RollbackContext,
    annotations_patch, apply_annotations, prepare_auto_sync_off, prepare_resume, prepare_rollback,
    refresh_patch, rollback_operation, set_operation, sync_operation, terminate_operation,
};

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn app(extra: Value) -> Value {
        let mut base = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd", "resourceVersion": "7"},
            "spec": {
                "project": "default",
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"},
                "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"},
                "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
                "someFutureField": {"x": 1}
            },
            "status": {
                "sync": {"status": "OutOfSync", "revision": B},
                "health": {"status": "Healthy"},
                "history": [
                    {"id": 0, "revision": A, "deployedAt": "2026-08-22T10:00:00Z", "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"}, "initiatedBy": {"username": "admin"}},
                    {"id": 1, "revision": B, "deployedAt": "2026-08-22T11:00:00Z", "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"}, "initiatedBy": {"automated": true}}
                ]
            }
        });
        merge(&mut base, &extra);
        base
    }

    fn merge(a: &mut Value, b: &Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    if v.is_null() {
                        a.remove(k);
                    } else {
                        merge(a.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            (a, b) => *a = b.clone(),
        }
    }

    #[test]
    fn timestamps_round_trip_and_order() {
        let t = Timestamp::parse("2026-08-22T10:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-08-22T10:00:00Z");
        assert_eq!(Timestamp::parse("2026-08-22T12:00:00+02:00"), Some(t));
        assert!(Timestamp::parse("2026-08-22T10:00:00.5Z").unwrap() > t);
        assert_eq!(Timestamp::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse("2000-02-29T00:00:00Z")
                .unwrap()
                .unix_seconds(),
            951_782_400
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
        let n = Timestamp::from_unix_nanos(0, 120_000_000);
        assert_eq!(n.to_rfc3339_nanos(), "1970-01-01T00:00:00.12Z");
        assert_eq!(Timestamp::parse(&n.to_rfc3339_nanos()), Some(n));
        assert_eq!(
            Timestamp::from_unix(0).to_rfc3339_nanos(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn facts_deployed_revision_is_last_history_entry_not_sync_revision() {
        let a = Application::from_json(app(json!({}))).unwrap();
        assert_eq!(a.deployed_revision(), Some(B));
        let rolled = Application::from_json(app(json!({"status": {"history": [
            {"id": 0, "revision": A, "deployedAt": "2026-08-22T10:00:00Z"},
            {"id": 1, "revision": B, "deployedAt": "2026-08-22T11:00:00Z"},
            {"id": 2, "revision": A, "deployedAt": "2026-08-22T12:00:00Z"}]}})))
        .unwrap();
        assert_eq!(rolled.deployed_revision(), Some(A));
        assert_eq!(rolled.sync_revision.as_deref(), Some(B));
        assert_eq!(rolled.previous_deployment().unwrap().id, 1);
    }

    #[test]
    fn auto_sync_follows_enabled_nil_means_on() {
        let on = Application::from_json(app(
            json!({"spec": {"syncPolicy": {"automated": {"prune": true}}}}),
        ))
        .unwrap();
        assert_eq!(
            on.auto_sync,
            AutoSync::Enabled {
                prune: true,
                self_heal: false
            }
        );
        let empty = Application::from_json(app(json!({"spec": {"syncPolicy": {"automated": {}}}})))
            .unwrap();
        assert!(empty.auto_sync.is_enabled());
        let off = Application::from_json(app(
            json!({"spec": {"syncPolicy": {"automated": {"selfHeal": true, "enabled": false}}}}),
        ))
        .unwrap();
        assert_eq!(
            off.auto_sync,
            AutoSync::Disabled {
                prune: false,
                self_heal: true
            }
        );
        assert_eq!(
            Application::from_json(app(json!({}))).unwrap().auto_sync,
            AutoSync::Off
        );
    }

    #[test]
    fn parents_that_would_turn_auto_sync_back_on_are_named() {
        let a = Application::from_json(app(json!({"metadata": {
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "shops", "uid": "u"}],
            "annotations": {"argocd.argoproj.io/tracking-id": "root:argoproj.io/Application:argocd/shop"}
        }})))
        .unwrap();
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
        assert!(a.managed_by[1].to_string().contains("/spec/syncPolicy"));
        assert!(
            Application::from_json(app(json!({})))
                .unwrap()
                .managed_by
                .is_empty()
        );
    }

    #[test]
    fn sync_operation_is_shaped_like_the_api_servers() {
        let a = Application::from_json(app(
            json!({"spec": {"syncPolicy": {"retry": {"limit": 2}}}}),
        ))
        .unwrap();
        let req = SyncRequest {
            revision: Some(B.into()),
            prune: false,
            user: "alice".into(),
            promote_id: "u-1".into(),
        };
        let op = sync_operation(&a, &req).unwrap();
        assert_eq!(
            op,
            json!({
                "sync": {
                    "revision": B,
                    "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"},
                    "syncOptions": ["CreateNamespace=true"],
                    "syncStrategy": {"hook": {}}
                },
                "initiatedBy": {"username": "alice"},
                "info": [{"name": "promote-id", "value": "u-1"}],
                "retry": {"limit": 2}
            })
        );
    }

    #[test]
    fn sync_to_a_commit_is_refused_while_auto_sync_pins_the_branch() {
        let a = Application::from_json(app(json!({"spec": {"syncPolicy": {"automated": {}}}})))
            .unwrap();
        let req = SyncRequest {
            revision: Some(B.into()),
            prune: false,
            user: "a".into(),
            promote_id: "x".into(),
        };
        let err = sync_operation(&a, &req).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Cannot sync to {B}: auto-sync currently set to main")
        );
        let bad = SyncRequest {
            revision: Some("main".into()),
            ..req
        };
        assert!(matches!(
            sync_operation(&a, &bad),
            Err(OperationRefused::NotACommitSha { .. })
        ));
    }

    #[test]
    fn rollback_operation_matches_the_worked_example() {
        let a = Application::from_json(app(json!({}))).unwrap();
        let op = rollback_operation(
            &a,
            &RollbackRequest {
                id: 0,
                prune: false,
                dry_run: false,
                user: "admin".into(),
                reason: String::new(),
            },
        )
        .unwrap();
        assert_eq!(
            op,
            json!({
                "sync": {
                    "revision": A,
                    "syncOptions": ["CreateNamespace=true"],
                    "syncStrategy": {"apply": {}},
                    "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"}
                },
                "initiatedBy": {"username": "admin"},
                "retry": {}
            })
        );
    }

    #[test]
    fn rollback_refusals_use_argo_cds_words_in_its_order() {
        let req = RollbackRequest {
            id: 9,
            prune: false,
            dry_run: false,
            user: "u".into(),
            reason: String::new(),
        };
        let auto = Application::from_json(app(json!({"spec": {"syncPolicy": {"automated": {}}}})))
            .unwrap();
        assert_eq!(
            rollback_operation(&auto, &req).unwrap_err().to_string(),
            "rollback cannot be initiated when auto-sync is enabled"
        );
        let plain = Application::from_json(app(json!({}))).unwrap();
        assert_eq!(
            rollback_operation(&plain, &req).unwrap_err().to_string(),
            "application argocd/shop does not have deployment with id 9"
        );
        let old = Application::from_json(app(json!({"status": {"history": [{"id": 9, "revision": A, "deployedAt": "2026-08-22T10:00:00Z"}]}}))).unwrap();
        assert_eq!(
            rollback_operation(&old, &req).unwrap_err(),
            OperationRefused::NoSourceInHistory
        );
        let deleting = Application::from_json(app(json!({"metadata": {"deletionTimestamp": "2026-08-22T10:00:00Z"}, "spec": {"syncPolicy": {"automated": {}}}}))).unwrap();
        assert_eq!(
            rollback_operation(&deleting, &req).unwrap_err(),
            OperationRefused::Deleting
        );
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
    fn set_operation_refuses_when_busy_and_wipes_the_old_state() {
        let mut doc = app(json!({"status": {"operationState": {"phase": "Succeeded"}}}));
        set_operation(&mut doc, json!({"sync": {}})).unwrap();
        assert_eq!(doc["status"]["operationState"], Value::Null);
        assert_eq!(
            set_operation(&mut doc, json!({"sync": {}}))
                .unwrap_err()
                .to_string(),
            "another operation is already in progress"
        );
    }

    #[test]
    fn prepare_rollback_disables_auto_sync_keeping_settings_and_records_the_marker() {
        let doc =
            app(json!({"spec": {"syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}}));
        let req = RollbackRequest {
            id: 0,
            prune: false,
            dry_run: false,
            user: "alice".into(),
            reason: "v1.0.2 crashes".into(),
        };
        let ctx = RollbackContext {
            user: "alice".into(),
            reason: "v1.0.2 crashes".into(),
            now: Timestamp::from_unix(1_790_000_000),
        };
        let out = prepare_rollback(&doc, &req, &ctx, AutoSyncDisabledBy::EnabledFalse).unwrap();
        assert_eq!(
            out["spec"]["syncPolicy"]["automated"],
            json!({"prune": true, "selfHeal": true, "enabled": false})
        );
        assert_eq!(
            out["spec"]["someFutureField"],
            json!({"x": 1}),
            "unknown fields are kept"
        );
        assert_eq!(out["operation"]["sync"]["revision"], json!(A));
        let read = Application::from_json(out.clone()).unwrap();
        let marker = read.rollback_marker.unwrap();
        assert_eq!(
            marker.sync_policy_before,
            Some(json!({"prune": true, "selfHeal": true}))
        );
        assert_eq!(marker.disabled_by, AutoSyncDisabledBy::EnabledFalse);
        assert_eq!(marker.to_revision.as_deref(), Some(A));

        let removed = prepare_rollback(&doc, &req, &ctx, AutoSyncDisabledBy::Removed).unwrap();
        assert_eq!(
            removed["spec"]["syncPolicy"],
            json!({"syncOptions": ["CreateNamespace=true"]})
        );
        let resumed = prepare_resume(&removed).unwrap();
        assert_eq!(
            resumed["spec"]["syncPolicy"]["automated"],
            json!({"prune": true, "selfHeal": true})
        );
        assert!(
            Application::from_json(resumed)
                .unwrap()
                .rollback_marker
                .is_none()
        );
    }

    #[test]
    fn evaluate_waits_for_our_operation_and_a_reconcile_after_it() {
        let op = json!({"sync": {"revision": B}, "info": [{"name": "promote-id", "value": "u"}]});
        let goal = WaitGoal::Operation {
            operation: op.clone(),
            revision: Some(B.into()),
            expect: Expect::SyncedAndHealthy,
        };
        let state = |phase: &str, reconciled: &str| {
            app(json!({"status": {
                "sync": {"status": "Synced", "revision": B},
                "reconciledAt": reconciled,
                "operationState": {"operation": op, "phase": phase, "message": "m", "startedAt": "2026-08-22T10:59:00Z", "finishedAt": "2026-08-22T11:00:00Z", "syncResult": {"revision": B}}
            }}))
        };
        let check = |doc: Value| evaluate(&Application::from_json(doc).unwrap(), &goal);
        assert!(matches!(
            check(state("Succeeded", "2026-08-22T10:59:59Z")),
            Progress::Waiting(_)
        ));
        assert_eq!(
            check(state("Succeeded", "2026-08-22T11:00:00Z")),
            Progress::Done(WaitOutcome::Ready)
        );
        assert!(matches!(
            check(state("Failed", "2026-08-22T11:00:01Z")),
            Progress::Done(WaitOutcome::OperationFailed { .. })
        ));
        let mut busy = state("Succeeded", "2026-08-22T11:00:00Z");
        busy["operation"] = json!({"sync": {}});
        assert!(matches!(check(busy), Progress::Waiting(_)));
        let mut other = state("Succeeded", "2026-08-22T11:00:00Z");
        other["status"]["operationState"]["operation"] = json!({"sync": {"revision": A}});
        assert!(matches!(check(other), Progress::Waiting(_)));
        let mut degraded = state("Succeeded", "2026-08-22T11:00:00Z");
        degraded["status"]["health"] = json!({"status": "Degraded", "message": "crash"});
        assert_eq!(
            check(degraded),
            Progress::Done(WaitOutcome::Degraded {
                message: "crash".into()
            })
        );
        let mut stale = state("Succeeded", "2026-08-22T11:00:00Z");
        stale["status"]["history"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": 2, "revision": A, "deployedAt": "2026-08-22T11:00:00Z"}));
        assert!(matches!(check(stale), Progress::Waiting(_)));
    }

    #[test]
    fn our_operation_is_recognised_after_the_controller_re_encodes_it() {
        let ours = json!({"sync": {"revision": A, "source": {"repoURL": "r", "path": "", "kustomize": {}}, "syncStrategy": {"hook": {}}},
                          "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u1"}], "retry": {}});
        let copy = json!({"sync": {"revision": A, "source": {"repoURL": "r"}, "syncStrategy": {"hook": {}}},
                          "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u1"}], "retry": {}});
        assert!(same_operation(&ours, &copy));
        let other_id = json!({"sync": {"revision": A}, "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u2"}]});
        assert!(!same_operation(&ours, &other_id));
        let rollback = json!({"sync": {"revision": A, "syncStrategy": {"apply": {}}}, "initiatedBy": {"username": "alice"}, "retry": {}});
        assert!(!same_operation(&ours, &rollback));
        assert!(same_operation(
            &rollback,
            &json!({"sync": {"revision": A, "syncStrategy": {"apply": {"force": false}}}, "initiatedBy": {"username": "alice"}})
        ));
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
        let a = Application::from_json(app(
            json!({"spec": {"source": {"kustomize": {"images": ["shop=reg/shop:1"]}}}}),
        ))
        .unwrap();
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
