//! The object store behind the fake API server: Applications by namespace and name, one global
//! `resourceVersion` counter, and the event log watches replay from. Writes go through here both
//! from HTTP requests and from the controller thread, so both see the apiserver's rules (new
//! resourceVersion and generation on every change, nulls pruned, the 3.0 CRD pruning
//! `automated.enabled`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::ArgoVersion;

/// `(namespace, name)`.
pub(crate) type Key = (String, String);

/// One watch event as the log keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub kind: &'static str,
    pub object: Value,
}

/// A patch as the apiserver takes it for a CRD.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Patch<'a> {
    /// `application/merge-patch+json` (RFC 7386).
    Merge(&'a Value),
    /// `application/json-patch+json` (RFC 6902).
    Json(&'a Value),
}

/// Why a write was rejected, as the apiserver would say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    NotFound,
    Conflict,
    AlreadyExists,
    Invalid(String),
}

#[derive(Debug)]
pub(crate) struct Store {
    version: ArgoVersion,
    objects: BTreeMap<Key, Value>,
    rv: u64,
    uid: u64,
    events: Vec<Event>,
}

impl Store {
    pub fn new(version: ArgoVersion) -> Self {
        // Start well above 0 so "0" (any version) and real versions never mix up.
        Store {
            version,
            objects: BTreeMap::new(),
            rv: 1000,
            uid: 0,
            events: Vec::new(),
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    pub fn keys(&self) -> Vec<Key> {
        self.objects.keys().cloned().collect()
    }

    pub fn list(&self, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn events_after(&self, rv: u64) -> Vec<Event> {
        self.events.iter().filter(|e| e.rv > rv).cloned().collect()
    }

    /// What the apiserver does to any object it stores: prune per the CRD, drop nulls.
    fn admit(&self, mut obj: Value) -> Value {
        prune_nulls(&mut obj);
        if self.version == ArgoVersion::V3_0 {
            // The 3.0 CRD has no `enabled` under `automated`: structural pruning drops it.
            if let Some(a) = obj
                .pointer_mut("/spec/syncPolicy/automated")
                .and_then(Value::as_object_mut)
            {
                a.remove("enabled");
            }
        }
        obj
    }

    pub fn create(&mut self, namespace: &str, mut obj: Value) -> Result<Value, WriteError> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                WriteError::Invalid("metadata.name: Required value: name is required".into())
            })?
            .to_owned();
        let key = (namespace.to_owned(), name);
        if self.objects.contains_key(&key) {
            return Err(WriteError::AlreadyExists);
        }
        self.uid += 1;
        self.rv += 1;
        let meta = ensure_object(&mut obj, "metadata");
        meta.insert("namespace".into(), json!(namespace));
        meta.insert(
            "uid".into(),
            json!(format!("00000000-0000-4000-8000-{:012}", self.uid)),
        );
        meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!(super::now_string()));
        let obj = self.admit(obj);
        self.objects.insert(key, obj.clone());
        self.events.push(Event {
            rv: self.rv,
            kind: "ADDED",
            object: obj.clone(),
        });
        Ok(obj)
    }

    /// PUT: `resourceVersion` in the body must be the stored one. `dry_run` admits without storing.
    pub fn replace(&mut self, key: &Key, obj: Value, dry_run: bool) -> Result<Value, WriteError> {
        let current = self.objects.get(key).ok_or(WriteError::NotFound)?;
        match obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            None | Some("") => {
                return Err(WriteError::Invalid(
                    "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
                        .into(),
                ));
            }
            Some(rv)
                if Some(rv)
                    != current
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str) =>
            {
                return Err(WriteError::Conflict);
            }
            Some(_) => {}
        }
        self.store(key, obj, dry_run)
    }

    /// Any write after its checks: keeps the server-owned metadata, bumps versions, logs an event.
    pub fn store(&mut self, key: &Key, mut obj: Value, dry_run: bool) -> Result<Value, WriteError> {
        let current = self.objects.get(key).ok_or(WriteError::NotFound)?.clone();
        {
            let meta = ensure_object(&mut obj, "metadata");
            for k in ["name", "namespace", "uid", "creationTimestamp"] {
                if let Some(v) = current.pointer(&format!("/metadata/{k}")) {
                    meta.insert(k.into(), v.clone());
                }
            }
            meta.insert(
                "resourceVersion".into(),
                current["metadata"]["resourceVersion"].clone(),
            );
            meta.insert(
                "generation".into(),
                current["metadata"]["generation"].clone(),
            );
        }
        let obj = self.admit(obj);
        if obj == current {
            // No-op writes do not bump the resourceVersion (apiserver behaviour).
            return Ok(current);
        }
        if dry_run {
            return Ok(obj);
        }
        self.rv += 1;
        let mut obj = obj;
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            + 1;
        let meta = ensure_object(&mut obj, "metadata");
        meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
        meta.insert("generation".into(), json!(generation));
        self.objects.insert(key.clone(), obj.clone());
        self.events.push(Event {
            rv: self.rv,
            kind: "MODIFIED",
            object: obj.clone(),
        });
        Ok(obj)
    }

    pub fn merge_patch(
        &mut self,
        key: &Key,
        patch: &Value,
        dry_run: bool,
    ) -> Result<Value, WriteError> {
        self.patch(key, Patch::Merge(patch), dry_run)
    }

    /// Stores the object at `key` as `patch` changes it; a merge patch that names a
    /// `resourceVersion` other than the stored one is a conflict.
    pub fn patch(
        &mut self,
        key: &Key,
        patch: Patch<'_>,
        dry_run: bool,
    ) -> Result<Value, WriteError> {
        let mut obj = self.objects.get(key).ok_or(WriteError::NotFound)?.clone();
        match patch {
            Patch::Merge(patch) => {
                let asked = patch
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str);
                let stored = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str);
                if asked.is_some() && asked != stored {
                    return Err(WriteError::Conflict);
                }
                merge(&mut obj, patch);
            }
            Patch::Json(ops) => apply_json_patch(&mut obj, ops).map_err(WriteError::Invalid)?,
        }
        self.store(key, obj, dry_run)
    }

    pub fn delete(&mut self, key: &Key) -> Result<Value, WriteError> {
        let obj = self.objects.remove(key).ok_or(WriteError::NotFound)?;
        self.rv += 1;
        self.events.push(Event {
            rv: self.rv,
            kind: "DELETED",
            object: obj.clone(),
        });
        Ok(obj)
    }
}

fn ensure_object<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("made an object above");
    let entry = map.entry(key.to_owned()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("made an object above")
}

/// Structural-schema pruning of nulls: a key set to null disappears.
pub(crate) fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The value holding what `path` points at, its pointer, and the last segment of `path`.
fn container<'d>(
    doc: &'d mut Value,
    path: &str,
) -> Result<(&'d mut Value, String, String), String> {
    let (parent, last) = split_pointer(path)?;
    let p = doc
        .pointer_mut(&parent)
        .ok_or_else(|| format!("path {parent:?} not found"))?;
    Ok((p, parent, last))
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let idx = path
        .rfind('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok((path[..idx].to_owned(), unescape(&path[idx + 1..])))
}

/// RFC 6902 JSON patch: add, remove, replace, test (what Argo CD's controller sends).
pub(crate) fn apply_json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch is an array of operations")?;
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation without `op`")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation without `path`")?;
        match kind {
            "test" => {
                let want = op.get("value").ok_or("test without value")?;
                if doc.pointer(path) != Some(want) {
                    return Err(format!("the test operation for path {path:?} failed"));
                }
            }
            "remove" => {
                let (p, parent, last) = container(doc, path)?;
                match p {
                    Value::Object(m) => {
                        m.remove(&last)
                            .ok_or_else(|| format!("path {path:?} not found"))?;
                    }
                    Value::Array(a) => {
                        let i: usize =
                            last.parse().map_err(|_| format!("bad index in {path:?}"))?;
                        if i >= a.len() {
                            return Err(format!("index out of range in {path:?}"));
                        }
                        a.remove(i);
                    }
                    _ => return Err(format!("path {parent:?} is not a container")),
                }
            }
            "add" | "replace" => {
                let value = op.get("value").ok_or("add/replace without value")?.clone();
                if path.is_empty() {
                    *doc = value;
                    continue;
                }
                let (p, parent, last) = container(doc, path)?;
                match p {
                    Value::Object(m) => {
                        if kind == "replace" && !m.contains_key(&last) {
                            return Err(format!("path {path:?} not found"));
                        }
                        m.insert(last, value);
                    }
                    Value::Array(a) => {
                        if last == "-" {
                            a.push(value);
                        } else {
                            let i: usize =
                                last.parse().map_err(|_| format!("bad index in {path:?}"))?;
                            if kind == "replace" {
                                *a.get_mut(i)
                                    .ok_or_else(|| format!("index out of range in {path:?}"))? =
                                    value;
                            } else if i <= a.len() {
                                a.insert(i, value);
                            } else {
                                return Err(format!("index out of range in {path:?}"));
                            }
                        }
                    }
                    _ => return Err(format!("path {parent:?} is not a container")),
                }
            }
            other => return Err(format!("unsupported JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Value {
        json!({"metadata": {"name": "shop"}, "spec": {"syncPolicy": {"automated": {"prune": true, "enabled": false}}}})
    }

    #[test]
    fn the_3_0_crd_prunes_enabled_and_3_5_keeps_it() {
        let mut old = Store::new(ArgoVersion::V3_0);
        assert_eq!(
            old.create("argocd", app()).unwrap()["spec"]["syncPolicy"]["automated"],
            json!({"prune": true})
        );
        let mut new = Store::new(ArgoVersion::V3_5);
        assert_eq!(
            new.create("argocd", app()).unwrap()["spec"]["syncPolicy"]["automated"],
            json!({"prune": true, "enabled": false})
        );
    }

    #[test]
    fn replace_needs_the_current_resource_version_and_dry_run_stores_nothing() {
        let mut s = Store::new(ArgoVersion::V3_5);
        let created = s.create("argocd", app()).unwrap();
        let key = ("argocd".to_owned(), "shop".to_owned());
        let mut changed = created.clone();
        changed["spec"]["project"] = json!("default");
        let dry = s.replace(&key, changed.clone(), true).unwrap();
        assert_eq!(dry["spec"]["project"], json!("default"));
        assert_eq!(s.get(&key).unwrap(), &created);
        let stored = s.replace(&key, changed.clone(), false).unwrap();
        assert_ne!(
            stored["metadata"]["resourceVersion"],
            created["metadata"]["resourceVersion"]
        );
        assert_eq!(stored["metadata"]["generation"], json!(2));
        assert_eq!(s.replace(&key, changed, false), Err(WriteError::Conflict));
        let mut no_rv = created;
        no_rv["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert!(matches!(
            s.replace(&key, no_rv, false),
            Err(WriteError::Invalid(_))
        ));
        assert_eq!(s.events_after(0).len(), 2);
    }

    #[test]
    fn merge_patch_nulls_remove_and_json_patch_tests_first() {
        let mut s = Store::new(ArgoVersion::V3_5);
        s.create("argocd", app()).unwrap();
        let key = ("argocd".to_owned(), "shop".to_owned());
        let out = s
            .merge_patch(
                &key,
                &json!({"operation": {"sync": {}}, "spec": {"syncPolicy": null}}),
                false,
            )
            .unwrap();
        assert_eq!(out["spec"], json!({}));
        assert_eq!(out["operation"], json!({"sync": {}}));
        let failing = json!([{"op": "test", "path": "/operation/sync", "value": 1}, {"op": "remove", "path": "/operation"}]);
        assert!(matches!(
            s.patch(&key, Patch::Json(&failing), false),
            Err(WriteError::Invalid(_))
        ));
        let ok = json!([{"op": "test", "path": "/operation/sync", "value": {}}, {"op": "add", "path": "/operation", "value": null}]);
        let out = s.patch(&key, Patch::Json(&ok), false).unwrap();
        assert!(
            out.get("operation").is_none(),
            "nulls are pruned on admission"
        );
        let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"x": 1}});
        assert_eq!(
            s.merge_patch(&key, &stale, false),
            Err(WriteError::Conflict)
        );
    }
}
