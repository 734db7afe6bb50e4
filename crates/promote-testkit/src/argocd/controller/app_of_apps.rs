//! App of apps (argo-cd #5351, docs/testbed-findings.md D6): a parent Application whose
//! manifests hold Applications. A sync of the parent writes each child as `kubectl apply` does:
//! the fields its manifest states are set and every other field of the live child is kept (so a
//! manifest that does not state `automated.enabled` leaves a rollback's `enabled: false` alone),
//! with the parent's tracking annotation. With `RespectIgnoreDifferences=true` among the sync's
//! options, the fields the parent's `ignoreDifferences` names are left as they are live.
//! Between syncs the parent watches its children, as the events of its managed resources make
//! Argo CD compare again: a child that lacks what its manifest states (outside
//! `ignoreDifferences`) makes the parent OutOfSync, and a parent with self-heal writes it back.
//! Not modelled: the three-way part of apply (a field dropped from the manifest stays live),
//! `jqPathExpressions` and `managedFieldsManagers`.

use serde_json::{Value, json};

use super::{AppState, State, str_of};
use crate::argocd::Shared;
use crate::argocd::render::{Manifests, Object};
use crate::argocd::store::Key;

/// Argo CD's resource tracking annotation (the default tracking method since 3.0).
const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";

/// Appended to a child's manifest text in the parent's live model while the live child lacks
/// what the manifest states: the texts differ, so the comparison finds it OutOfSync. A YAML
/// comment, so the text still reads as the manifest.
const CHANGED_LIVE: &str = "\n# the live Application lacks what this manifest states\n";

fn is_application(o: &Object) -> bool {
    o.kind == "Application" && o.api_version.starts_with("argoproj.io/")
}

/// The manifest as the parent rendered it.
fn manifest(o: &Object) -> Option<Value> {
    let text = o.text.strip_suffix(CHANGED_LIVE).unwrap_or(&o.text);
    promote_core::yaml::from_str(&o.name, text).ok()
}

/// Where the child lives: only the stand-in's own namespace is served.
fn child_key(shared: &Shared, o: &Object) -> Option<Key> {
    let ns = o.namespace.as_deref().unwrap_or(&shared.options.namespace);
    (ns == shared.options.namespace).then(|| (ns.to_owned(), o.name.clone()))
}

/// The JSON pointers of the parent's `ignoreDifferences` that apply to the child `key`.
fn ignored(parent: &Value, key: &Key) -> Vec<String> {
    let matches = |d: &Value, field: &str, value: &str| {
        let f = str_of(d, field);
        f.is_empty() || f == value
    };
    parent
        .pointer("/spec/ignoreDifferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| {
            str_of(d, "/group") == "argoproj.io"
                && str_of(d, "/kind") == "Application"
                && matches(d, "/name", &key.1)
                && matches(d, "/namespace", &key.0)
        })
        .flat_map(|d| d.get("jsonPointers").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// Removes what `pointer` names from `doc`, if anything.
fn remove_at(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(m)) = doc.pointer_mut(parent) {
        m.remove(&last);
    }
}

/// Whether `live` lacks something `manifest` states: objects by their keys, anything else
/// whole (an apply replaces lists).
fn lacks(live: &Value, manifest: &Value) -> bool {
    match manifest {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| lacks(live.get(k).unwrap_or(&Value::Null), v)),
        other => live != other,
    }
}

/// Reads the children the parent applied back from the store: a child that is gone leaves the
/// parent's live model, one that lacks what its manifest states is marked changed. Whether the
/// parent should compare again: its live model changed, or a child still differs (Argo CD
/// compares again on every event of a managed resource, and requeues a self-heal held back).
pub(super) fn observe(shared: &Shared, parent: &Value, app: &mut AppState) -> bool {
    let Some(live) = app.live.as_mut() else {
        return false;
    };
    let children: Vec<_> = live
        .manifests
        .iter()
        .filter(|(_, o)| is_application(o))
        .map(|(k, _)| k.clone())
        .collect();
    let mut changed = false;
    let mut differs = false;
    for k in children {
        let o = &live.manifests[&k];
        let (Some(key), Some(mut want)) = (child_key(shared, o), manifest(o)) else {
            continue;
        };
        let Some(child) = shared.store().get(&key).cloned() else {
            live.manifests.remove(&k);
            changed = true;
            continue;
        };
        for p in ignored(parent, &key) {
            remove_at(&mut want, &p);
        }
        let base = o.text.strip_suffix(CHANGED_LIVE).unwrap_or(&o.text);
        let text = if lacks(&child, &want) {
            differs = true;
            format!("{base}{CHANGED_LIVE}")
        } else {
            base.to_owned()
        };
        if text != o.text
            && let Some(o) = live.manifests.get_mut(&k)
        {
            o.text = text;
            changed = true;
        }
    }
    changed || (differs && compared_over_a_second_ago(parent))
}

fn compared_over_a_second_ago(parent: &Value) -> bool {
    parent
        .pointer("/status/reconciledAt")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_none_or(|t| jiff::Timestamp::now().duration_since(t).as_secs_f64() >= 1.0)
}

/// A sync of the parent `key` applied `desired` (only `partial`'s objects, when given): each
/// Application among them is written to the store as `kubectl apply` would write it, and one
/// whose spec changed is compared again (Argo CD refreshes an app whose spec changed).
pub(super) fn apply(
    shared: &Shared,
    st: &mut State,
    (key, parent): (&Key, &Value),
    sync: &Value,
    (desired, partial): (&Manifests, Option<&[(String, String)]>),
) {
    let respect = sync
        .get("syncOptions")
        .and_then(Value::as_array)
        .is_some_and(|o| {
            o.iter()
                .any(|o| o.as_str() == Some("RespectIgnoreDifferences=true"))
        });
    for (k, o) in desired {
        if !is_application(o) || partial.is_some_and(|p| !p.contains(k)) {
            continue;
        }
        let (Some(child), Some(mut want)) = (child_key(shared, o), manifest(o)) else {
            continue;
        };
        want["metadata"]["annotations"][TRACKING_ID] = json!(format!(
            "{}:argoproj.io/Application:{}/{}",
            key.1, child.0, child.1
        ));
        let mut store = shared.store();
        let Some(before) = store.get(&child).map(|c| c["spec"].clone()) else {
            let _ = store.create(&child.0, want);
            continue;
        };
        if respect {
            // Argo CD applies the live values of the ignored fields; leaving them out of the
            // merge keeps them the same.
            for p in ignored(parent, &child) {
                remove_at(&mut want, &p);
            }
        }
        let after = store.merge_patch(&child, &want, false).ok();
        drop(store);
        if after.is_some_and(|a| a["spec"] != before) {
            st.log
                .push(format!("{}: spec rewritten by {}", child.1, key.1));
            st.apps.entry(child).or_default().refresh_queued = true;
        }
    }
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_lacks_only_what_its_manifest_states() {
        let live = json!({"spec": {"syncPolicy": {"automated": {"prune": true, "enabled": false}}}, "status": {}});
        let silent = json!({"spec": {"syncPolicy": {"automated": {"prune": true}}}});
        let stated =
            json!({"spec": {"syncPolicy": {"automated": {"prune": true, "enabled": true}}}});
        assert!(!lacks(&live, &silent), "D6: `enabled` not stated, no diff");
        assert!(lacks(&live, &stated));
        let mut ignoring = stated.clone();
        remove_at(&mut ignoring, "/spec/syncPolicy");
        assert!(!lacks(&live, &ignoring));
    }

    #[test]
    fn ignore_differences_for_applications_apply_by_name() {
        let parent = json!({"spec": {"ignoreDifferences": [
            {"group": "argoproj.io", "kind": "Application", "jsonPointers": ["/spec/syncPolicy"]},
            {"group": "argoproj.io", "kind": "Application", "name": "other", "jsonPointers": ["/spec/source"]},
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]}});
        let key = ("argocd".to_owned(), "shop".to_owned());
        assert_eq!(ignored(&parent, &key), vec!["/spec/syncPolicy"]);
    }
}
