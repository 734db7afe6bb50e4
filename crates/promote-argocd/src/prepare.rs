//! The whole documents a rollback and a resume write: auto-sync off (keeping its settings where
//! the server allows), our marker and Argo CD's rollback operation; and back again. Both
//! transports write these: the kube one in one replace, argocd-server's in two steps.

use serde_json::{Value, json};

use promote_core::argocd::{
    AUTO_SYNC_DISABLED_BY, Application, ApplicationError, ArgoCdError, AutoSyncDisabledBy,
    MARKER_ANNOTATIONS, OperationRefused, ROLLBACK_REASON, ROLLBACK_TO_ID, ROLLBACK_TO_REVISION,
    ROLLED_BACK_AT, ROLLED_BACK_BY, RollbackRequest, SYNC_POLICY_BEFORE, Timestamp,
};

use crate::operation::{apply_annotations, non_null, rollback_operation, set_operation};

/// Who, when and why, for the marker a rollback leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RollbackContext {
    pub user: String,
    pub reason: String,
    pub now: Timestamp,
}

/// A write this crate prepares could not be prepared.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub(crate) enum PrepareError {
    #[error(transparent)]
    Refused(OperationRefused),
    #[error("the Application could not be read")]
    Unreadable(#[source] ApplicationError),
}

/// A [`PrepareError`] as the transport reports it for `app`.
pub(crate) fn refused(app: &str, action: &'static str, e: PrepareError) -> ArgoCdError {
    match e {
        PrepareError::Refused(reason) => ArgoCdError::Refused {
            app: app.to_owned(),
            action,
            reason,
        },
        PrepareError::Unreadable(cause) => ArgoCdError::Unreadable {
            app: app.to_owned(),
            cause,
        },
    }
}

fn read(doc: &Value) -> Result<Application, PrepareError> {
    Application::from_json(doc.clone()).map_err(PrepareError::Unreadable)
}

/// Everything a rollback writes, in one document: auto-sync off (`how`), the marker, the rollback
/// operation, `status.operationState` wiped. `doc` is the fetched Application; the caller
/// replaces it with the fetched `resourceVersion`, so no half-done state can exist.
///
/// `how` is [`AutoSyncDisabledBy::EnabledFalse`] first; when the server prunes `enabled` (its CRD
/// predates 3.1), call again with [`AutoSyncDisabledBy::Removed`]. Ignored when auto-sync is
/// already off.
pub(crate) fn prepare_rollback(
    doc: &Value,
    request: &RollbackRequest,
    ctx: &RollbackContext,
    how: AutoSyncDisabledBy,
) -> Result<Value, PrepareError> {
    if read(doc)?.operation.is_some() {
        return Err(PrepareError::Refused(
            OperationRefused::AnotherOperationInProgress,
        ));
    }
    let mut out = prepare_auto_sync_off(doc, request, ctx, how)?;
    let operation = rollback_operation(&read(&out)?, request).map_err(PrepareError::Refused)?;
    set_operation(&mut out, operation).map_err(PrepareError::Refused)?;
    Ok(out)
}

/// The first half of [`prepare_rollback`], for transports that cannot write the operation in the
/// same request (argocd-server's REST API, as its UI does): auto-sync off as `how` says and the
/// marker, nothing else. Checks the target entry exists first, so nothing is written for a
/// rollback Argo CD would refuse.
pub(crate) fn prepare_auto_sync_off(
    doc: &Value,
    request: &RollbackRequest,
    ctx: &RollbackContext,
    how: AutoSyncDisabledBy,
) -> Result<Value, PrepareError> {
    let app = read(doc)?;
    if app.deleting {
        return Err(PrepareError::Refused(OperationRefused::Deleting));
    }
    let Some(entry) = app.history_entry(request.id) else {
        return Err(PrepareError::Refused(OperationRefused::NoSuchDeployment {
            qualified_name: app.qualified_name(),
            id: request.id,
        }));
    };
    if !doc.is_object() {
        return Err(PrepareError::Unreadable(ApplicationError::NotAnObject));
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
    let marker = [
        (ROLLED_BACK_BY, ctx.user.clone()),
        (ROLLED_BACK_AT, ctx.now.to_string()),
        (ROLLBACK_REASON, ctx.reason.clone()),
        (ROLLBACK_TO_ID, request.id.to_string()),
        (
            ROLLBACK_TO_REVISION,
            entry.revision.clone().unwrap_or_default(),
        ),
        (
            SYNC_POLICY_BEFORE,
            before.unwrap_or(Value::Null).to_string(),
        ),
        (AUTO_SYNC_DISABLED_BY, how.as_str().to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), Some(v)));
    apply_annotations(&mut out, &marker);
    Ok(out)
}

/// The document that ends a rollback: auto-sync restored as [`SYNC_POLICY_BEFORE`] recorded it,
/// the marker removed. Refusing while git still holds the rolled-back version is the use case's
/// call, not this function's.
pub(crate) fn prepare_resume(doc: &Value) -> Result<Value, PrepareError> {
    let marker = read(doc)?
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
    let removed = MARKER_ANNOTATIONS.map(|k| (k.to_owned(), None));
    apply_annotations(&mut out, &removed);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use promote_core::argocd::{Application, AutoSyncDisabledBy, RollbackRequest, Timestamp};
    use serde_json::json;

    use super::*;
    use crate::fixture::{A, app};

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
}
