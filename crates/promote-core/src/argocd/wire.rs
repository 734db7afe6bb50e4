//! The documents an adapter writes: operations built exactly as Argo CD's API server builds them
//! (`specs/argocd.md` §2.2, §2.3), its `SetAppOperation` and `TerminateOperation` writes, the
//! refresh and annotation patches, and a rollback's (and resume's) whole document.

use serde_json::{Map, Value, json};

use super::facts::{Application, REFRESH_ANNOTATION};
use super::facts::{ApplicationError, Sources};
use super::json::non_null;
use super::marker::{
    AUTO_SYNC_DISABLED_BY, AutoSyncDisabledBy, MARKER_ANNOTATIONS, ROLLBACK_REASON, ROLLBACK_TO_ID,
    ROLLBACK_TO_REVISION, ROLLED_BACK_AT, ROLLED_BACK_BY, SYNC_POLICY_BEFORE,
};
use super::port::{RollbackRequest, SyncRequest};
use super::refused::OperationRefused;
use super::time::Timestamp;

/// Name of the `operation.info` entry carrying the id of the promotion that started a sync.
pub const PROMOTE_ID_INFO: &str = "promote-id";

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
pub fn sync_operation(app: &Application, request: &SyncRequest) -> Result<Value, OperationRefused> {
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
pub fn rollback_operation(
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
pub fn set_operation(doc: &mut Value, operation: Value) -> Result<(), OperationRefused> {
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
pub fn terminate_operation(doc: &mut Value) -> Result<(), OperationRefused> {
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
/// both only if this value did not change while it refreshed.
pub const REFRESH_TIMESTAMP_ANNOTATION: &str = "argocd.argoproj.io/refresh-timestamp";

/// The JSON merge patch that asks the controller for a refresh (§3), as a webhook would:
/// `refresh` plus `refresh-timestamp` (RFC 3339 with nanoseconds; older controllers ignore it).
pub fn refresh_patch(hard: bool, now: Timestamp) -> Value {
    json!({"metadata": {"annotations": {
        REFRESH_ANNOTATION: if hard { "hard" } else { "normal" },
        REFRESH_TIMESTAMP_ANNOTATION: now.to_rfc3339_nanos(),
    }}})
}

/// The JSON merge patch of [`ArgoCd::annotate`]: `null` removes an annotation.
pub fn annotations_patch(annotations: &[(String, Option<String>)]) -> Value {
    let map: Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect();
    json!({"metadata": {"annotations": map}})
}

/// [`annotations_patch`] applied to a whole document, for transports that can only replace.
pub fn apply_annotations(doc: &mut Value, annotations: &[(String, Option<String>)]) {
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

/// Who, when and why, for the marker a rollback leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackContext {
    pub user: String,
    pub reason: String,
    pub now: Timestamp,
}

/// Everything a rollback writes, in one document: auto-sync off (`how`), the marker, the rollback
/// operation, `status.operationState` wiped. `doc` is the fetched Application; the caller
/// replaces it with the fetched `resourceVersion`, so no half-done state can exist.
///
/// `how` is [`AutoSyncDisabledBy::EnabledFalse`] first; when the server prunes `enabled` (its CRD
/// predates 3.1), call again with [`AutoSyncDisabledBy::Removed`]. Ignored when auto-sync is
/// already off.
pub fn prepare_rollback(
    doc: &Value,
    request: &RollbackRequest,
    ctx: &RollbackContext,
    how: AutoSyncDisabledBy,
) -> Result<Value, PrepareError> {
    let app = Application::from_json(doc.clone()).map_err(PrepareError::Unreadable)?;
    if app.operation.is_some() {
        return Err(PrepareError::Refused(
            OperationRefused::AnotherOperationInProgress,
        ));
    }
    let mut out = prepare_auto_sync_off(doc, request, ctx, how)?;
    let modified = Application::from_json(out.clone()).map_err(PrepareError::Unreadable)?;
    let operation = rollback_operation(&modified, request).map_err(PrepareError::Refused)?;
    set_operation(&mut out, operation).map_err(PrepareError::Refused)?;
    Ok(out)
}

/// The first half of [`prepare_rollback`], for transports that cannot write the operation in the
/// same request (argocd-server's REST API, as its UI does): auto-sync off as `how` says and the
/// marker, nothing else. Checks the target entry exists first, so nothing is written for a
/// rollback Argo CD would refuse.
pub fn prepare_auto_sync_off(
    doc: &Value,
    request: &RollbackRequest,
    ctx: &RollbackContext,
    how: AutoSyncDisabledBy,
) -> Result<Value, PrepareError> {
    let app = Application::from_json(doc.clone()).map_err(PrepareError::Unreadable)?;
    if app.deleting {
        return Err(PrepareError::Refused(OperationRefused::Deleting));
    }
    if app.history_entry(request.id).is_none() {
        return Err(PrepareError::Refused(OperationRefused::NoSuchDeployment {
            qualified_name: app.qualified_name(),
            id: request.id,
        }));
    }
    let mut out = doc.clone();
    let before = non_null(doc.pointer("/spec/syncPolicy/automated")).cloned();
    let how = if app.auto_sync.is_enabled() {
        how
    } else {
        AutoSyncDisabledBy::AlreadyOff
    };
    match how {
        AutoSyncDisabledBy::EnabledFalse => {
            if let Some(a) = out
                .pointer_mut("/spec/syncPolicy/automated")
                .and_then(Value::as_object_mut)
            {
                a.insert("enabled".into(), Value::Bool(false));
            }
        }
        AutoSyncDisabledBy::Removed => {
            if let Some(p) = out
                .pointer_mut("/spec/syncPolicy")
                .and_then(Value::as_object_mut)
            {
                p.remove("automated");
            }
        }
        AutoSyncDisabledBy::AlreadyOff => {}
    }
    let entry_revision = app
        .history_entry(request.id)
        .and_then(|h| h.revision.clone());
    let meta = out
        .as_object_mut()
        .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let annotations = meta
        .as_object_mut()
        .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?
        .entry("annotations")
        .or_insert_with(|| json!({}));
    if annotations.is_null() {
        *annotations = json!({});
    }
    let a = annotations
        .as_object_mut()
        .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?;
    a.insert(ROLLED_BACK_BY.into(), json!(ctx.user));
    a.insert(ROLLED_BACK_AT.into(), json!(ctx.now.to_string()));
    a.insert(ROLLBACK_REASON.into(), json!(ctx.reason));
    a.insert(ROLLBACK_TO_ID.into(), json!(request.id.to_string()));
    a.insert(
        ROLLBACK_TO_REVISION.into(),
        json!(entry_revision.unwrap_or_default()),
    );
    a.insert(
        SYNC_POLICY_BEFORE.into(),
        json!(before.unwrap_or(Value::Null).to_string()),
    );
    a.insert(AUTO_SYNC_DISABLED_BY.into(), json!(how.as_str()));
    Ok(out)
}

/// The document that ends a rollback: auto-sync restored as [`SYNC_POLICY_BEFORE`] recorded it,
/// the marker removed. Refusing while git still holds the rolled-back version is the use case's
/// call, not this function's.
pub fn prepare_resume(doc: &Value) -> Result<Value, PrepareError> {
    let app = Application::from_json(doc.clone()).map_err(PrepareError::Unreadable)?;
    let marker = app
        .rollback_marker
        .ok_or(PrepareError::Refused(OperationRefused::NoRollbackMarker))?;
    let mut out = doc.clone();
    if let Some(before) = marker.sync_policy_before {
        let spec = out
            .as_object_mut()
            .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?
            .entry("spec")
            .or_insert_with(|| json!({}));
        let policy = spec
            .as_object_mut()
            .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?
            .entry("syncPolicy")
            .or_insert_with(|| json!({}));
        if policy.is_null() {
            *policy = json!({});
        }
        if let Some(p) = policy.as_object_mut() {
            p.insert("automated".into(), before);
        }
    }
    if let Some(a) = out
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        for k in MARKER_ANNOTATIONS {
            a.remove(k);
        }
    }
    Ok(out)
}

/// A write this crate prepares could not be prepared.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PrepareError {
    #[error(transparent)]
    Refused(OperationRefused),
    #[error("the Application could not be read")]
    Unreadable(#[source] ApplicationError),
}
