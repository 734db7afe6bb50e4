//! A refresh: resolve and render the target (a failure is a `ComparisonError` condition),
//! compare it with the live model resource by resource, let [`super::auto_sync`] decide, write
//! the comparison to `status`, and start the automated sync it asked for.

use serde_json::{Value, json};

use super::auto_sync::{self, AutoSync, Comparison};
use super::health::{health, health_json};
use super::{State, images_of, patch, present, str_of};
use crate::argocd::render::{Manifests, Source};
use crate::argocd::store::Key;
use crate::argocd::{Shared, now_string};

/// How the repo-server's errors read in a `ComparisonError`.
const LOAD_FAILED: &str = "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc =";

/// What to compare against: the source, the revision it resolves to, and its manifests.
struct Target {
    source: Value,
    sha: String,
    desired: Manifests,
}

pub(super) fn refresh(shared: &Shared, st: &mut State, key: &Key, obj: &Value) {
    let target = match target(st, obj) {
        Ok(t) => t,
        Err(message) => return comparison_error(shared, st, key, obj, message),
    };
    let sha = target.sha.clone();
    let app = st.apps.entry(key.clone()).or_default();
    app.refresh_queued = false;
    let live = app.live.clone();
    let synced = live.as_ref().is_some_and(|l| l.manifests == target.desired);
    let resources = resource_entries(&target.desired, live.as_ref().map(|l| &l.manifests));
    let h = health(shared, live.as_ref());
    let mut conditions = conditions_without(obj, &["ComparisonError", "SyncError"]);
    let comparison = Comparison {
        sha: &sha,
        synced,
        resources: &resources,
        desired: &target.desired,
        live: live.as_ref(),
    };
    let operation = match auto_sync::decide(shared, app, obj, &comparison) {
        AutoSync::Skip(why) => {
            if let Some(w) = why {
                st.log.push(format!("{}: auto-sync skipped: {w}", key.1));
            }
            None
        }
        AutoSync::Condition(message) => {
            st.log.push(format!("{}: auto-sync: {message}", key.1));
            conditions.push(json!({"type": "SyncError", "message": message, "lastTransitionTime": now_string()}));
            None
        }
        AutoSync::Sync(op) => Some(op),
    };
    let mut status = json!({
        "sync": {"status": if synced { "Synced" } else { "OutOfSync" }, "revision": sha,
                 "comparedTo": {"source": target.source, "destination": obj.pointer("/spec/destination")}},
        "health": health_json(obj, &h),
        "reconciledAt": now_string(),
        "resources": resources,
        "summary": {"images": images_of(live.as_ref())},
        "sourceType": "Kustomize",
        "resourceHealthSource": "appTree",
        "controllerNamespace": shared.options.namespace,
        "conditions": conditions,
    });
    // A merge patch cannot drop a key by omission: no app-level health message in 3.x.
    status["health"]["message"] = Value::Null;
    write_refreshed(shared, key, status);
    st.log.push(format!(
        "{}: refreshed: {} at {}, health {h}",
        key.1,
        if synced { "Synced" } else { "OutOfSync" },
        &sha[..7]
    ));
    if let Some(op) = operation {
        initiate(shared, st, key, &sha, op);
    }
}

/// The source to compare against, resolved and rendered; the `ComparisonError` message if not.
fn target(st: &mut State, obj: &Value) -> Result<Target, String> {
    if obj
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err("the Argo CD stand-in supports single-source applications only".into());
    }
    let Some(source) = present(obj.pointer("/spec/source")).cloned() else {
        return Err("spec.source is missing".into());
    };
    let repo = str_of(&source, "/repoURL").to_owned();
    let sha = st
        .renderer
        .resolve(&repo, str_of(&source, "/targetRevision"))
        .map_err(|e| format!("{LOAD_FAILED} {e}"))?;
    let desired = st
        .renderer
        .render(
            &repo,
            &sha,
            &Source::of(&source, str_of(obj, "/metadata/name")),
        )
        .map_err(|e| format!("{LOAD_FAILED} {e}"))?;
    Ok(Target {
        source,
        sha,
        desired,
    })
}

/// The refresh's result: the comparison in `status`, the refresh annotations gone.
fn write_refreshed(shared: &Shared, key: &Key, status: Value) {
    patch(
        shared,
        key,
        &json!({
            "metadata": {"annotations": {"argocd.argoproj.io/refresh": null}},
            "status": status
        }),
    );
}

/// SetAppOperation for an automated sync: check-and-set under the store lock; a busy app is
/// skipped silently.
fn initiate(shared: &Shared, st: &mut State, key: &Key, sha: &str, op: Value) {
    let mut store = shared.store();
    if let Some(mut cur) = store.get(key).cloned()
        && present(cur.get("operation")).is_none()
    {
        cur["operation"] = op;
        cur["status"]["operationState"] = Value::Null;
        let _ = store.store(key, cur, false);
        drop(store);
        shared.changed.notify_all();
        st.log
            .push(format!("{}: Initiated automated sync to '{sha}'", key.1));
    }
}

/// `status.conditions` without those of the given types.
fn conditions_without(obj: &Value, types: &[&str]) -> Vec<Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|c| !types.contains(&str_of(c, "/type")))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A refresh that could not compare: sync `Unknown` and a `ComparisonError` condition.
fn comparison_error(shared: &Shared, st: &mut State, key: &Key, obj: &Value, message: String) {
    let mut conditions = conditions_without(obj, &["ComparisonError"]);
    conditions.push(
        json!({"type": "ComparisonError", "message": message, "lastTransitionTime": now_string()}),
    );
    let mut sync = json!({"status": "Unknown", "comparedTo": {"source": obj.pointer("/spec/source"), "destination": obj.pointer("/spec/destination")}});
    if let Some(r) = obj.pointer("/status/sync/revision") {
        sync["revision"] = r.clone();
    }
    write_refreshed(
        shared,
        key,
        json!({"sync": sync, "conditions": conditions, "reconciledAt": now_string()}),
    );
    st.log.push(format!("{}: refresh failed: {message}", key.1));
    if let Some(a) = st.apps.get_mut(key) {
        a.refresh_queued = false;
    }
}

/// `status.resources`: every object desired or live, `Synced` where both agree.
fn resource_entries(desired: &Manifests, live: Option<&Manifests>) -> Vec<Value> {
    let empty = Manifests::new();
    let live = live.unwrap_or(&empty);
    let mut keys: Vec<&(String, String)> = desired.keys().chain(live.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let o = desired
                .get(k)
                .or_else(|| live.get(k))
                .expect("key from one of them");
            let (group, version) = match o.api_version.split_once('/') {
                Some((g, v)) => (g.to_owned(), v.to_owned()),
                None => (String::new(), o.api_version.clone()),
            };
            let synced = desired.get(k).map(|d| &d.text) == live.get(k).map(|l| &l.text);
            let mut e = json!({"group": group, "version": version, "kind": o.kind, "name": o.name,
                "status": if synced { "Synced" } else { "OutOfSync" }});
            if let Some(ns) = &o.namespace {
                e["namespace"] = json!(ns);
            }
            if !desired.contains_key(k) {
                e["requiresPruning"] = json!(true);
            }
            e
        })
        .collect()
}
