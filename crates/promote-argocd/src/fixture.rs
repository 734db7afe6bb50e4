//! Test support: an Application document as Argo CD stores it, with two history entries.

use serde_json::{Value, json};

pub(crate) const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub(crate) const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The Application with `extra` merged in (JSON merge patch: `null` removes a key).
pub(crate) fn app(extra: Value) -> Value {
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
