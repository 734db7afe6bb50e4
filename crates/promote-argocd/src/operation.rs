//! The documents the transports write for an operation: the `.operation` Argo CD's API server
//! builds for a sync and a rollback (`specs/argocd.md` §2.2, §2.3, §7 checklist) together with its
//! refusals, its `SetAppOperation` and `TerminateOperation` writes, and the refresh and annotation
//! patches. Only the transports need these; the use cases see the [`ArgoCd`] trait.
//!
//! [`ArgoCd`]: promote_core::argocd::ArgoCd

use serde_json::{Map, Value, json};

use promote_core::argocd::{
    Application, OperationRefused, REFRESH_ANNOTATION, RollbackRequest, Sources, SyncRequest,
    Timestamp,
};

/// Name of the `operation.info` entry carrying the id of the promotion that started a sync.
pub(crate) const PROMOTE_ID_INFO: &str = "promote-id";

/// `v` unless it is JSON `null`.
pub(crate) fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn is_commit_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sync_options(app: &Application) -> Option<Value> {
    app.raw
        .pointer("/spec/syncPolicy/syncOptions")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
}

/// The `.operation` Argo CD's `Sync` API would write for `request` (§2.2 step 10), after its
/// checks (§2.2 steps 5 and 6). Strategy `{hook: {}}` as the CLI sends it.
pub(crate) fn sync_operation(
    app: &Application,
    request: &SyncRequest,
) -> Result<Value, OperationRefused> {
    if app.deleting {
        return Err(OperationRefused::Deleting);
    }
    let mut sync = Map::new();
    match &app.sources {
        Sources::Single(src) => {
            let revision = request.revision.clone().unwrap_or_default();
            if !revision.is_empty() {
                if !is_commit_sha(&revision) {
                    return Err(OperationRefused::NotACommitSha { revision });
                }
                let target = if src.target_revision.is_empty() {
                    "HEAD"
                } else {
                    &src.target_revision
                };
                if revision != target && app.auto_sync.is_enabled() {
                    return Err(OperationRefused::AutoSyncPinsRevision {
                        revision,
                        target_revision: src.target_revision.clone(),
                    });
                }
            }
            sync.insert("revision".into(), Value::String(revision));
            sync.insert(
                "source".into(),
                app.raw
                    .pointer("/spec/source")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        Sources::Multi(list) => {
            if request.revision.is_some() {
                return Err(OperationRefused::MultiSourceRevision { count: list.len() });
            }
            sync.insert(
                "sources".into(),
                app.raw
                    .pointer("/spec/sources")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        Sources::Hydrator | Sources::None => return Err(OperationRefused::NoSource),
    }
    if request.prune {
        sync.insert("prune".into(), Value::Bool(true));
    }
    if let Some(opts) = sync_options(app) {
        sync.insert("syncOptions".into(), opts);
    }
    sync.insert("syncStrategy".into(), json!({"hook": {}}));
    let retry = app
        .raw
        .pointer("/spec/syncPolicy/retry")
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or(json!({}));
    Ok(json!({
        "sync": Value::Object(sync),
        "initiatedBy": {"username": request.user},
        "info": [{"name": PROMOTE_ID_INFO, "value": request.promote_id}],
        "retry": retry,
    }))
}

/// The `.operation` Argo CD's `Rollback` API would write (§2.3), after its checks in its order:
/// deleting, the auto-sync guard, the history lookup by id, the pre-v0.11 entry.
pub(crate) fn rollback_operation(
    app: &Application,
    request: &RollbackRequest,
) -> Result<Value, OperationRefused> {
    if app.deleting {
        return Err(OperationRefused::Deleting);
    }
    if app.auto_sync.is_enabled() {
        return Err(OperationRefused::AutoSyncEnabled);
    }
    let entry = app
        .raw
        .pointer("/status/history")
        .and_then(Value::as_array)
        .and_then(|h| {
            h.iter()
                .find(|e| e.get("id").and_then(Value::as_i64) == Some(request.id))
        })
        .ok_or_else(|| OperationRefused::NoSuchDeployment {
            qualified_name: app.qualified_name(),
            id: request.id,
        })?;
    let source = non_null(entry.get("source")).filter(|s| {
        s.as_object()
            .is_some_and(|o| o.values().any(|v| !is_zero(v)))
    });
    let sources = entry
        .get("sources")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()));
    if source.is_none() && sources.is_none() {
        return Err(OperationRefused::NoSourceInHistory);
    }
    let mut sync = Map::new();
    sync.insert(
        "revision".into(),
        entry.get("revision").cloned().unwrap_or(json!("")),
    );
    if let Some(revs) = entry
        .get("revisions")
        .filter(|r| r.as_array().is_some_and(|a| !a.is_empty()))
    {
        sync.insert("revisions".into(), revs.clone());
    }
    if request.dry_run {
        sync.insert("dryRun".into(), Value::Bool(true));
    }
    if request.prune {
        sync.insert("prune".into(), Value::Bool(true));
    }
    if let Some(opts) = sync_options(app) {
        sync.insert("syncOptions".into(), opts);
    }
    // apply, not hook: Argo CD's rollback does not run hooks (argo-cd #1927).
    sync.insert("syncStrategy".into(), json!({"apply": {}}));
    // `source` is a non-pointer struct in the history entry: always present, `{"repoURL": ""}`
    // for a multi-source entry.
    sync.insert(
        "source".into(),
        source.cloned().unwrap_or(json!({"repoURL": ""})),
    );
    if let Some(s) = sources {
        sync.insert("sources".into(), s.clone());
    }
    Ok(json!({
        "sync": Value::Object(sync),
        "initiatedBy": {"username": request.user},
        "retry": {},
    }))
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// `SetAppOperation`'s write on a fetched document (§2.1): refuse when `.operation` is set,
/// else set it and wipe `status.operationState`. The caller replaces with the fetched
/// `resourceVersion` and starts over on a conflict.
pub(crate) fn set_operation(doc: &mut Value, operation: Value) -> Result<(), OperationRefused> {
    if non_null(doc.get("operation")).is_some() {
        return Err(OperationRefused::AnotherOperationInProgress);
    }
    let obj = doc.as_object_mut().ok_or(OperationRefused::NoSource)?;
    obj.insert("operation".into(), operation);
    let status = obj.entry("status").or_insert_with(|| json!({}));
    if let Some(s) = status.as_object_mut() {
        s.insert("operationState".into(), Value::Null);
    }
    Ok(())
}

/// `TerminateOperation`'s write (§2.4): phase `Terminating`, or Argo CD's refusal.
pub(crate) fn terminate_operation(doc: &mut Value) -> Result<(), OperationRefused> {
    let busy = non_null(doc.get("operation")).is_some();
    match doc.pointer_mut("/status/operationState") {
        Some(state) if busy && state.is_object() => {
            state["phase"] = json!("Terminating");
            Ok(())
        }
        _ => Err(OperationRefused::NoOperationInProgress),
    }
}

/// The companion of [`REFRESH_ANNOTATION`] on Argo CD master (after 3.5): the controller removes
/// both only if this value did not change while it refreshed, so a refresh asked for during a
/// running one is not lost. Argo CD up to 3.5 neither reads nor removes it: it stays on the app,
/// overwritten by the next refresh (measured on 3.2, `docs/testbed-findings.md` D4). Written
/// anyway: it closes that race where it is understood and costs one inert annotation elsewhere.
pub(crate) const REFRESH_TIMESTAMP_ANNOTATION: &str = "argocd.argoproj.io/refresh-timestamp";

/// The JSON merge patch that asks the controller for a refresh (§3), as a webhook would:
/// `refresh` plus `refresh-timestamp` (RFC 3339 with nanoseconds; older controllers ignore it).
pub(crate) fn refresh_patch(hard: bool, now: Timestamp) -> Value {
    json!({"metadata": {"annotations": {
        REFRESH_ANNOTATION: if hard { "hard" } else { "normal" },
        REFRESH_TIMESTAMP_ANNOTATION: now.to_rfc3339_nanos(),
    }}})
}

/// The JSON merge patch of `ArgoCd::annotate`: `null` removes an annotation.
pub(crate) fn annotations_patch(annotations: &[(String, Option<String>)]) -> Value {
    let map: Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect();
    json!({"metadata": {"annotations": map}})
}

/// [`annotations_patch`] applied to a whole document, for transports that can only replace.
pub(crate) fn apply_annotations(doc: &mut Value, annotations: &[(String, Option<String>)]) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let current = meta.entry("annotations").or_insert_with(|| json!({}));
    if !current.is_object() {
        *current = json!({});
    }
    if let Some(a) = current.as_object_mut() {
        for (k, v) in annotations {
            match v {
                Some(v) => {
                    a.insert(k.clone(), Value::String(v.clone()));
                }
                None => {
                    a.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use promote_core::argocd::{Application, OperationRefused, RollbackRequest, SyncRequest};
    use serde_json::{Value, json};

    use super::*;
    use crate::fixture::{A, B, app};

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
}
