//! Auto-sync after a refresh (`specs/argocd.md` §2.6), its checks in Argo CD's order: enabled,
//! not blocked by a sync window, no operation running, not being deleted, out of sync, not only
//! pruning without `prune`, not already attempted at this revision and source (unless
//! self-healing, with its back-off), not wiping everything out without `allowEmpty`.

use std::time::Duration;

use serde_json::{Value, json};

use super::{AppState, Live, go_reencode, present, str_of};
use crate::argocd::render::Manifests;
use crate::argocd::{ArgoVersion, Shared};

/// What a refresh does about auto-sync.
pub(super) enum AutoSync {
    /// Nothing, with the reason for the log when there is one.
    Skip(Option<String>),
    /// Nothing, and a `SyncError` condition says why.
    Condition(String),
    /// Start this operation.
    Sync(Value),
}

/// What the refresh found.
pub(super) struct Comparison<'a> {
    pub(super) sha: &'a str,
    pub(super) synced: bool,
    pub(super) resources: &'a [Value],
    pub(super) desired: &'a Manifests,
    pub(super) live: Option<&'a Live>,
}

/// `spec.syncPolicy.automated`'s switches.
struct Automated {
    prune: bool,
    self_heal: bool,
    allow_empty: bool,
}

impl Automated {
    fn of(obj: &Value) -> Self {
        let flag = |name: &str| {
            obj.pointer(&format!("/spec/syncPolicy/automated/{name}"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        Automated {
            prune: flag("prune"),
            self_heal: flag("selfHeal"),
            allow_empty: flag("allowEmpty"),
        }
    }
}

/// Whether auto-sync is on: any `automated` on 3.0, one not `enabled: false` on 3.5.
pub(crate) fn enabled(version: ArgoVersion, obj: &Value) -> bool {
    match present(obj.pointer("/spec/syncPolicy/automated")) {
        None => false,
        Some(a) => match version {
            ArgoVersion::V3_0 => true,
            ArgoVersion::V3_5 => a.get("enabled").and_then(Value::as_bool) != Some(false),
        },
    }
}

pub(super) fn decide(
    shared: &Shared,
    app: &mut AppState,
    obj: &Value,
    c: &Comparison<'_>,
) -> AutoSync {
    if let Some(skip) = precondition(shared, obj, c.synced) {
        return skip;
    }
    let automated = Automated::of(obj);
    let out_of_sync: Vec<&Value> = c
        .resources
        .iter()
        .filter(|r| str_of(r, "/status") != "Synced")
        .collect();
    if !automated.prune
        && out_of_sync
            .iter()
            .all(|r| r.get("requiresPruning") == Some(&json!(true)))
    {
        return AutoSync::Skip(Some(
            "need to prune extra resources only but automated prune is disabled".into(),
        ));
    }
    let heal = match previous_attempt(shared, app, obj, c.sha, &automated) {
        Ok(heal) => heal,
        Err(decision) => return decision,
    };
    let live_empty = c.live.is_none_or(|l| l.manifests.is_empty());
    if automated.prune && !automated.allow_empty && c.desired.is_empty() && !live_empty {
        return AutoSync::Condition(format!(
            "Skipping sync attempt to [{}]: auto-sync will wipe out all resources",
            c.sha
        ));
    }
    let heal_resources = heal.then(|| {
        out_of_sync
            .iter()
            .filter(|r| r.get("requiresPruning").is_none())
            .map(|r| json!({"group": r["group"], "kind": r["kind"], "name": r["name"]}))
            .collect::<Vec<_>>()
    });
    AutoSync::Sync(operation(obj, c.sha, &automated, heal_resources, app))
}

/// The checks before any comparison detail: enabled, window, operation, deletion, in sync.
fn precondition(shared: &Shared, obj: &Value, synced: bool) -> Option<AutoSync> {
    if !enabled(shared.options.version, obj) {
        return Some(AutoSync::Skip(None));
    }
    if shared.sync_window_blocks(obj, false) {
        return Some(AutoSync::Skip(Some("blocked by sync window".into())));
    }
    if present(obj.get("operation")).is_some() {
        return Some(AutoSync::Skip(Some(
            "another operation is in progress".into(),
        )));
    }
    if present(obj.pointer("/metadata/deletionTimestamp")).is_some() {
        return Some(AutoSync::Skip(Some("deletion in progress".into())));
    }
    synced.then_some(AutoSync::Skip(None))
}

/// `alreadyAttemptedSync`: whether the last operation already synced this revision and source.
/// If it did and failed, or succeeded without self-heal, or self-heal is backing off: the
/// decision (`Err`). Else whether this sync heals (`Ok(true)`, one more self-heal attempt).
fn previous_attempt(
    shared: &Shared,
    app: &mut AppState,
    obj: &Value,
    sha: &str,
    automated: &Automated,
) -> Result<bool, AutoSync> {
    // Argo CD compares Go values: both sides without empty strings.
    let spec_source_go = obj.pointer("/spec/source").cloned().map(go_reencode);
    let state = present(obj.pointer("/status/operationState"));
    let phase = state.map(|s| str_of(s, "/phase")).unwrap_or_default();
    let completed = matches!(phase, "Succeeded" | "Failed" | "Error");
    let attempted = match state {
        None => false,
        Some(s) => match present(s.get("syncResult")) {
            None => completed,
            Some(r) => {
                str_of(r, "/revision") == sha
                    && r.get("source").cloned().map(go_reencode) == spec_source_go
            }
        },
    };
    if !attempted {
        app.self_heal_attempts = 0;
        return Ok(false);
    }
    if phase != "Succeeded" {
        let msg = state.map(|s| str_of(s, "/message")).unwrap_or_default();
        return Err(AutoSync::Condition(format!(
            "Failed last sync attempt to [{sha}]: {msg}"
        )));
    }
    if !automated.self_heal {
        return Err(AutoSync::Skip(Some(format!(
            "Skipping auto-sync: most recent sync already to {sha}"
        ))));
    }
    let factor = 3u32.saturating_pow(app.self_heal_attempts);
    let wait = (shared.options.self_heal_backoff * factor).min(Duration::from_secs(300));
    let finished = state
        .and_then(|s| s.pointer("/finishedAt"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    if let Some(f) = finished
        && jiff::Timestamp::now().duration_since(f).as_secs_f64() < wait.as_secs_f64()
    {
        return Err(AutoSync::Skip(Some("self-heal back-off".into())));
    }
    app.self_heal_attempts += 1;
    Ok(true)
}

/// The automated sync operation (`initiatedBy.automated`), partial when it heals.
fn operation(
    obj: &Value,
    sha: &str,
    automated: &Automated,
    heal_resources: Option<Vec<Value>>,
    app: &AppState,
) -> Value {
    let mut sync = json!({"revision": sha, "source": obj.pointer("/spec/source")});
    if automated.prune {
        sync["prune"] = json!(true);
    }
    if let Some(o) = obj
        .pointer("/spec/syncPolicy/syncOptions")
        .filter(|o| o.as_array().is_some_and(|a| !a.is_empty()))
    {
        sync["syncOptions"] = o.clone();
    }
    if let Some(r) = heal_resources {
        sync["resources"] = json!(r);
        sync["autoHealAttemptsCount"] = json!(app.self_heal_attempts);
    }
    let retry = present(obj.pointer("/spec/syncPolicy/retry"))
        .cloned()
        .unwrap_or(json!({"limit": 5}));
    json!({"sync": sync, "initiatedBy": {"automated": true}, "retry": retry})
}
