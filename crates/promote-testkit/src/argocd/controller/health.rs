//! Health of the live model: the worst health the test programmed for any image tag in it,
//! `Progressing` for a while after an apply, `Missing` with nothing applied.

use serde_json::{Value, json};

use super::{Live, State, str_of, write_status};
use crate::argocd::render::{Manifests, image_tag};
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

/// The app's health from the live model and the tags the test programmed. Only the status: in
/// Argo CD 3.x the app-level `status.health` carries no message (`resourceHealthSource: appTree`);
/// the reason lives in the resource tree, which the Application does not hold. For the health
/// lag after an apply (`ArgoCdStandIn::set_health_lag`), the health is what was live before it
/// (a stale cache).
pub(super) fn health(shared: &Shared, live: Option<&Live>) -> String {
    let Some(live) = live.filter(|l| !l.manifests.is_empty()) else {
        return "Missing".into();
    };
    let since = live.applied_at.elapsed();
    let lag = live.health_lag;
    if since < lag
        && let Some(before) = live.before.as_ref().filter(|b| !b.is_empty())
    {
        return worst(shared, before);
    }
    let worst = worst(shared, &live.manifests);
    if worst == "Healthy" && since < lag + shared.options.rollout_delay {
        return "Progressing".into();
    }
    worst
}

/// The worst health the test programmed for any image tag in `manifests`.
fn worst(shared: &Shared, manifests: &Manifests) -> String {
    let controls = shared.controls();
    let mut worst = "Healthy".to_owned();
    for o in manifests.values() {
        for img in &o.images {
            if let Some(h) = image_tag(img).and_then(|t| controls.health_by_tag.get(t))
                && severity(h) > severity(&worst)
            {
                worst = h.clone();
            }
        }
    }
    worst
}

/// `status.health`, keeping `lastTransitionTime` while the status stays.
pub(super) fn health_json(obj: &Value, status: &str) -> Value {
    let old = str_of(obj, "/status/health/status");
    let transition = if old == status {
        obj.pointer("/status/health/lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(now_string()))
    } else {
        json!(now_string())
    };
    json!({"status": status, "lastTransitionTime": transition})
}

/// Persists a health change between full refreshes (`CompareWithRecent`).
pub(super) fn update(shared: &Shared, st: &mut State, key: &Key, obj: &Value) {
    let app = st.apps.entry(key.clone()).or_default();
    if app.live.is_none() && obj.pointer("/status/health").is_none() {
        return;
    }
    let status = health(shared, app.live.as_ref());
    if str_of(obj, "/status/health/status") != status {
        let h = health_json(obj, &status);
        // Only the `health` object is replaced: a merge patch would keep what else it held.
        write_status(shared, key, "health", h, false);
        st.log.push(format!("{}: health {status}", key.1));
    }
}
