//! Health of the live model: the worst health the test programmed for any image tag in it,
//! `Progressing` for a while after an apply, `Missing` with nothing applied.

use serde_json::{Value, json};

use super::{Live, State, str_of, write_status};
use crate::argocd::render::image_tag;
use crate::argocd::store::Key;
use crate::argocd::{Shared, now_string};

fn severity(h: &str) -> u8 {
    match h {
        "Healthy" => 0,
        "Suspended" => 1,
        "Progressing" => 2,
        "Missing" => 3,
        "Degraded" => 4,
        _ => 5,
    }
}

/// The app's health from the live model and the tags the test programmed.
pub(super) fn health(shared: &Shared, live: Option<&Live>) -> (String, Option<String>) {
    let Some(live) = live.filter(|l| !l.manifests.is_empty()) else {
        return ("Missing".into(), None);
    };
    let controls = shared.controls();
    let mut worst: (String, Option<String>) = ("Healthy".into(), None);
    for o in live.manifests.values() {
        for img in &o.images {
            if let Some(h) = image_tag(img).and_then(|t| controls.health_by_tag.get(t))
                && severity(h) > severity(&worst.0)
            {
                let msg = match h.as_str() {
                    "Degraded" => {
                        format!("{} \"{}\" exceeded its progress deadline", o.kind, o.name)
                    }
                    other => format!("{} \"{}\" is {other}", o.kind, o.name),
                };
                worst = (h.clone(), Some(msg));
            }
        }
    }
    if worst.0 == "Healthy" && live.applied_at.elapsed() < shared.options.rollout_delay {
        let o = live.manifests.values().next().expect("non-empty");
        return (
            "Progressing".into(),
            Some(format!(
                "Waiting for rollout to finish: {} \"{}\" is updating",
                o.kind, o.name
            )),
        );
    }
    worst
}

/// `status.health`, keeping `lastTransitionTime` while the status stays.
pub(super) fn health_json(obj: &Value, status: &str, message: Option<String>) -> Value {
    let old = str_of(obj, "/status/health/status");
    let transition = if old == status {
        obj.pointer("/status/health/lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(now_string()))
    } else {
        json!(now_string())
    };
    let mut h = json!({"status": status, "lastTransitionTime": transition});
    if let Some(m) = message {
        h["message"] = json!(m);
    }
    h
}

/// Persists a health change between full refreshes (`CompareWithRecent`).
pub(super) fn update(shared: &Shared, st: &mut State, key: &Key, obj: &Value) {
    let app = st.apps.entry(key.clone()).or_default();
    if app.live.is_none() && obj.pointer("/status/health").is_none() {
        return;
    }
    let (status, message) = health(shared, app.live.as_ref());
    if str_of(obj, "/status/health/status") != status
        || obj
            .pointer("/status/health/message")
            .and_then(Value::as_str)
            != message.as_deref()
    {
        let h = health_json(obj, &status, message);
        // Only the `health` object is replaced: a merge patch would keep a stale message.
        write_status(shared, key, "health", h, false);
        st.log.push(format!("{}: health {status}", key.1));
    }
}
