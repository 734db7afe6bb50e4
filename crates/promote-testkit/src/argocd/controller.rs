//! The Argo CD application controller stand-in (`specs/argocd.md` §7): per app, on every tick,
//! process `.operation` (a state machine over `status.operationState`: Running → attempt →
//! Succeeded / Failed / Error, retries with back-off, Terminating → "Operation terminated"),
//! then refresh when asked (annotation), expired, or when the spec's source moved away from
//! `comparedTo`, running auto-sync with `alreadyAttemptedSync` exactly as §2.6 orders its checks.
//! Between full refreshes, health changes are persisted without touching `reconciledAt`, as
//! Argo CD's resource-event refreshes (`CompareWithRecent`) do. All writes are JSON merge patches
//! on the main resource (no status subresource), like Argo CD ≤ 3.5.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::render::{Manifests, Renderer, image_tag};
use super::store::Key;
use super::{ArgoVersion, Shared, now_string};

#[derive(Debug, Default)]
pub(crate) struct State {
    apps: HashMap<Key, AppState>,
    renderer: Renderer,
    log: Vec<String>,
}

#[derive(Debug, Default)]
struct AppState {
    live: Option<Live>,
    attempt_started: Option<Instant>,
    retry_at: Option<Instant>,
    refresh_queued: bool,
    self_heal_attempts: u32,
}

#[derive(Debug, Clone)]
struct Live {
    manifests: Manifests,
    applied_at: Instant,
}

pub(crate) fn run(shared: std::sync::Arc<Shared>) {
    while !shared.stopping.load(Ordering::SeqCst) {
        std::thread::sleep(shared.options.tick);
        let keys = shared.store().keys();
        let mut st = shared.controller.lock().expect("controller lock");
        st.apps.retain(|k, _| keys.contains(k));
        for key in keys {
            reconcile(&shared, &mut st, &key);
        }
    }
}

pub(crate) fn live_images(shared: &Shared, name: &str) -> Vec<String> {
    let st = shared.controller.lock().expect("controller lock");
    let key = (shared.options.namespace.clone(), name.to_owned());
    images_of(st.apps.get(&key).and_then(|a| a.live.as_ref()))
}

/// The repo-server's revision resolution, for the API server emulation.
pub(crate) fn resolve(shared: &Shared, repo_url: &str, revision: &str) -> Result<String, String> {
    shared
        .controller
        .lock()
        .expect("controller lock")
        .renderer
        .resolve(repo_url, revision)
}

pub(crate) fn log(shared: &Shared) -> Vec<String> {
    shared
        .controller
        .lock()
        .expect("controller lock")
        .log
        .clone()
}

fn images_of(live: Option<&Live>) -> Vec<String> {
    let mut v: Vec<String> = live
        .map(|l| {
            l.manifests
                .values()
                .flat_map(|o| o.images.clone())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

fn get(shared: &Shared, key: &Key) -> Option<Value> {
    shared.store().get(key).cloned()
}

fn patch(shared: &Shared, key: &Key, p: &Value) -> Option<Value> {
    let out = shared.store().merge_patch(key, p, false).ok();
    shared.changed.notify_all();
    out
}

/// Replaces `status.operationState` wholesale (and nulls `.operation` when asked), reading and
/// writing under one lock so no concurrent write is lost.
fn write_state(shared: &Shared, key: &Key, state: Value, clear_operation: bool) {
    let mut store = shared.store();
    if let Some(mut cur) = store.get(key).cloned() {
        if !cur["status"].is_object() {
            cur["status"] = json!({});
        }
        cur["status"]["operationState"] = state;
        if clear_operation {
            cur["operation"] = Value::Null;
        }
        let _ = store.store(key, cur, false);
    }
    drop(store);
    shared.changed.notify_all();
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn str_of<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn reconcile(shared: &Shared, st: &mut State, key: &Key) {
    let Some(obj) = get(shared, key) else { return };
    if present(obj.get("operation")).is_some() {
        process_operation(shared, st, key, &obj);
    }
    let Some(obj) = get(shared, key) else { return };
    let app = st.apps.entry(key.clone()).or_default();
    let annotation =
        present(obj.pointer("/metadata/annotations/argocd.argoproj.io~1refresh")).is_some();
    let expired = match obj
        .pointer("/status/reconciledAt")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    {
        None => true,
        Some(t) => {
            let age = jiff::Timestamp::now().duration_since(t);
            age.as_secs_f64() >= shared.options.reconcile_period.as_secs_f64()
        }
    };
    let source_moved = obj.pointer("/spec/source") != obj.pointer("/status/sync/comparedTo/source")
        || obj.pointer("/spec/destination") != obj.pointer("/status/sync/comparedTo/destination");
    if annotation || expired || source_moved || app.refresh_queued {
        refresh(shared, st, key, &obj);
    } else {
        update_health(shared, st, key, &obj);
    }
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

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

/// The app's health from the live model. Only the status: in Argo CD 3.x the app-level
/// `status.health` carries no message (`resourceHealthSource: appTree`); the reason lives in the
/// resource tree, which the Application does not hold.
fn health(shared: &Shared, live: Option<&Live>) -> String {
    let Some(live) = live.filter(|l| !l.manifests.is_empty()) else {
        return "Missing".into();
    };
    let controls = shared.controls();
    let mut worst = "Healthy".to_owned();
    for o in live.manifests.values() {
        for img in &o.images {
            if let Some(h) = image_tag(img).and_then(|t| controls.health_by_tag.get(t))
                && severity(h) > severity(&worst)
            {
                worst = h.clone();
            }
        }
    }
    if worst == "Healthy" && live.applied_at.elapsed() < shared.options.rollout_delay {
        return "Progressing".into();
    }
    worst
}

fn health_json(obj: &Value, status: &str) -> Value {
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

fn update_health(shared: &Shared, st: &mut State, key: &Key, obj: &Value) {
    let app = st.apps.entry(key.clone()).or_default();
    if app.live.is_none() && obj.pointer("/status/health").is_none() {
        return;
    }
    let status = health(shared, app.live.as_ref());
    if str_of(obj, "/status/health/status") != status {
        let h = health_json(obj, &status);
        // Only the `health` object is replaced (a merge patch would keep what else it held);
        // read and write under one lock so no concurrent write is lost.
        let mut store = shared.store();
        if let Some(mut full) = store.get(key).cloned() {
            if !full["status"].is_object() {
                full["status"] = json!({});
            }
            full["status"]["health"] = h;
            let _ = store.store(key, full, false);
        }
        drop(store);
        shared.changed.notify_all();
        st.log.push(format!("{}: health {status}", key.1));
    }
}

// ---------------------------------------------------------------------------------------------
// Refresh and auto-sync
// ---------------------------------------------------------------------------------------------

fn comparison_error(shared: &Shared, st: &mut State, key: &Key, obj: &Value, message: String) {
    let mut conditions: Vec<Value> = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|c| str_of(c, "/type") != "ComparisonError")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.push(
        json!({"type": "ComparisonError", "message": message, "lastTransitionTime": now_string()}),
    );
    let mut sync = json!({"status": "Unknown", "comparedTo": {"source": obj.pointer("/spec/source"), "destination": obj.pointer("/spec/destination")}});
    if let Some(r) = obj.pointer("/status/sync/revision") {
        sync["revision"] = r.clone();
    }
    patch(
        shared,
        key,
        &json!({
            "metadata": {"annotations": {"argocd.argoproj.io/refresh": null}},
            "status": {"sync": sync, "conditions": conditions, "reconciledAt": now_string()}
        }),
    );
    st.log.push(format!("{}: refresh failed: {message}", key.1));
    if let Some(a) = st.apps.get_mut(key) {
        a.refresh_queued = false;
    }
}

fn auto_sync_enabled(version: ArgoVersion, obj: &Value) -> bool {
    match present(obj.pointer("/spec/syncPolicy/automated")) {
        None => false,
        Some(a) => match version {
            ArgoVersion::V3_0 => true,
            ArgoVersion::V3_5 => a.get("enabled").and_then(Value::as_bool) != Some(false),
        },
    }
}

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

fn refresh(shared: &Shared, st: &mut State, key: &Key, obj: &Value) {
    if obj
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return comparison_error(
            shared,
            st,
            key,
            obj,
            "the Argo CD stand-in supports single-source applications only".into(),
        );
    }
    let Some(source) = present(obj.pointer("/spec/source")).cloned() else {
        return comparison_error(shared, st, key, obj, "spec.source is missing".into());
    };
    let repo = str_of(&source, "/repoURL").to_owned();
    let sha = match st
        .renderer
        .resolve(&repo, str_of(&source, "/targetRevision"))
    {
        Ok(s) => s,
        Err(e) => {
            return comparison_error(
                shared,
                st,
                key,
                obj,
                format!(
                    "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = {e}"
                ),
            );
        }
    };
    let desired = match st.renderer.render(&repo, &sha, str_of(&source, "/path")) {
        Ok(m) => m,
        Err(e) => {
            return comparison_error(
                shared,
                st,
                key,
                obj,
                format!(
                    "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = {e}"
                ),
            );
        }
    };
    let app = st.apps.entry(key.clone()).or_default();
    app.refresh_queued = false;
    let live = app.live.clone();
    let synced = live.as_ref().is_some_and(|l| l.manifests == desired);
    let sync_status = if synced { "Synced" } else { "OutOfSync" };
    let resources = resource_entries(&desired, live.as_ref().map(|l| &l.manifests));
    let h = health(shared, live.as_ref());

    let mut conditions: Vec<Value> = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|c| !matches!(str_of(c, "/type"), "ComparisonError" | "SyncError"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let decision = auto_sync(
        shared,
        app,
        obj,
        &sha,
        synced,
        &resources,
        &desired,
        live.as_ref(),
    );
    let operation = match decision {
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
        "sync": {"status": sync_status, "revision": sha, "comparedTo": {"source": source, "destination": obj.pointer("/spec/destination")}},
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
    patch(
        shared,
        key,
        &json!({
            "metadata": {"annotations": {"argocd.argoproj.io/refresh": null}},
            "status": status
        }),
    );
    st.log.push(format!(
        "{}: refreshed: {sync_status} at {}, health {h}",
        key.1,
        &sha[..7]
    ));

    if let Some(op) = operation {
        // SetAppOperation: check-and-set under the store lock; a busy app is skipped silently.
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
}

enum AutoSync {
    Skip(Option<String>),
    Condition(String),
    Sync(Value),
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, the inputs of one decision"
)]
fn auto_sync(
    shared: &Shared,
    app: &mut AppState,
    obj: &Value,
    sha: &str,
    synced: bool,
    resources: &[Value],
    desired: &Manifests,
    live: Option<&Live>,
) -> AutoSync {
    // §2.6, in Argo CD's order.
    if !auto_sync_enabled(shared.options.version, obj) {
        return AutoSync::Skip(None);
    }
    if shared.sync_window_blocks(obj, false) {
        return AutoSync::Skip(Some("blocked by sync window".into()));
    }
    if present(obj.get("operation")).is_some() {
        return AutoSync::Skip(Some("another operation is in progress".into()));
    }
    if present(obj.pointer("/metadata/deletionTimestamp")).is_some() {
        return AutoSync::Skip(Some("deletion in progress".into()));
    }
    if synced {
        return AutoSync::Skip(None);
    }
    let automated = obj
        .pointer("/spec/syncPolicy/automated")
        .cloned()
        .unwrap_or(json!({}));
    let prune = automated
        .get("prune")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let self_heal = automated
        .get("selfHeal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let allow_empty = automated
        .get("allowEmpty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let out_of_sync: Vec<&Value> = resources
        .iter()
        .filter(|r| str_of(r, "/status") != "Synced")
        .collect();
    if !prune
        && out_of_sync
            .iter()
            .all(|r| r.get("requiresPruning") == Some(&json!(true)))
    {
        return AutoSync::Skip(Some(
            "need to prune extra resources only but automated prune is disabled".into(),
        ));
    }
    let spec_source = obj.pointer("/spec/source");
    // Argo CD compares Go values: both sides without empty strings.
    let spec_source_go = spec_source.cloned().map(go_reencode);
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
    let mut heal_resources = None;
    if attempted {
        if phase != "Succeeded" {
            let msg = state.map(|s| str_of(s, "/message")).unwrap_or_default();
            return AutoSync::Condition(format!("Failed last sync attempt to [{sha}]: {msg}"));
        }
        if !self_heal {
            return AutoSync::Skip(Some(format!(
                "Skipping auto-sync: most recent sync already to {sha}"
            )));
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
            return AutoSync::Skip(Some("self-heal back-off".into()));
        }
        app.self_heal_attempts += 1;
        heal_resources = Some(
            out_of_sync
                .iter()
                .filter(|r| r.get("requiresPruning").is_none())
                .map(|r| json!({"group": r["group"], "kind": r["kind"], "name": r["name"]}))
                .collect::<Vec<_>>(),
        );
    } else {
        app.self_heal_attempts = 0;
    }
    if prune && !allow_empty && desired.is_empty() && live.is_some_and(|l| !l.manifests.is_empty())
    {
        return AutoSync::Condition(format!(
            "Skipping sync attempt to [{sha}]: auto-sync will wipe out all resources"
        ));
    }
    let mut sync = json!({"revision": sha, "source": spec_source});
    if prune {
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
    AutoSync::Sync(json!({"sync": sync, "initiatedBy": {"automated": true}, "retry": retry}))
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

fn retry_delay(retry: &Value, retry_count: i64) -> Duration {
    let base = retry
        .pointer("/backoff/duration")
        .and_then(Value::as_str)
        .and_then(parse_go_duration)
        .unwrap_or(Duration::from_secs(5));
    let factor = retry
        .pointer("/backoff/factor")
        .and_then(Value::as_i64)
        .unwrap_or(2)
        .max(1);
    let max = retry
        .pointer("/backoff/maxDuration")
        .and_then(Value::as_str)
        .and_then(parse_go_duration)
        .unwrap_or(Duration::from_secs(180));
    let mult = u32::try_from(factor)
        .unwrap_or(2)
        .saturating_pow(u32::try_from(retry_count).unwrap_or(0));
    (base.saturating_mul(mult)).min(max)
}

fn clock_3_04pm() -> String {
    let now = jiff::ZonedDateTime::now();
    let h = now.hour();
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{h12}:{:02}{ampm}", now.minute())
}

/// The controller's copy goes through Argo CD's Go types: `omitempty` strings disappear.
fn go_reencode(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, x| x.as_str() != Some(""));
                m.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

fn process_operation(shared: &Shared, st: &mut State, key: &Key, obj: &Value) {
    let now = Instant::now();
    let state = present(obj.pointer("/status/operationState")).cloned();
    let phase = state
        .as_ref()
        .map(|s| str_of(s, "/phase").to_owned())
        .unwrap_or_default();
    let completed = matches!(phase.as_str(), "Succeeded" | "Failed" | "Error");
    let app = st.apps.entry(key.clone()).or_default();

    let Some(mut state) = state.filter(|_| !completed) else {
        // NewOperationState: a deep copy of `.operation`, Running, startedAt now.
        let new = json!({"operation": go_reencode(obj["operation"].clone()), "phase": "Running", "startedAt": now_string()});
        app.attempt_started = Some(now);
        app.retry_at = None;
        write_state(shared, key, new, false);
        st.log.push(format!("{}: operation Running", key.1));
        return;
    };

    match phase.as_str() {
        "Terminating" => {
            // §2.4: the window check comes first, so a terminated operation a window holds
            // stays Terminating (and `.operation` set) until the window lets it through.
            let manual = state
                .pointer("/operation/initiatedBy/automated")
                .and_then(Value::as_bool)
                != Some(true);
            if shared.sync_window_blocks(obj, manual) {
                return;
            }
            state["phase"] = json!("Failed");
            state["message"] = json!("Operation terminated");
            finish(shared, st, key, obj, state, false);
        }
        "Running" if present(state.get("finishedAt")).is_some() => {
            if app.retry_at.is_some_and(|t| now < t) {
                return;
            }
            if app.retry_at.is_none() {
                // Resumed after a restart: wait out the back-off from now.
                let count = state.get("retryCount").and_then(Value::as_i64).unwrap_or(0);
                app.retry_at = Some(now + retry_delay(&state["operation"]["retry"], count));
                return;
            }
            let count = state.get("retryCount").and_then(Value::as_i64).unwrap_or(0);
            let mut p = json!({"message": format!("Retrying operation. Attempt #{count}"), "finishedAt": null, "syncResult": null});
            if state
                .pointer("/operation/retry/refresh")
                .and_then(Value::as_bool)
                == Some(true)
            {
                p["message"] = json!(format!(
                    "Retrying operation with latest revisions. Attempt #{count}"
                ));
                p["operation"] = json!({"sync": {"revision": null, "revisions": null}});
            }
            app.attempt_started = Some(now);
            app.retry_at = None;
            patch(shared, key, &json!({"status": {"operationState": p}}));
            st.log
                .push(format!("{}: retrying, attempt #{count}", key.1));
        }
        "Running" => {
            // §2.4 `syncWindowPreventsSync`: manual = not initiated by auto-sync.
            let manual = obj
                .pointer("/operation/initiatedBy/automated")
                .and_then(Value::as_bool)
                != Some(true);
            if shared.sync_window_blocks(obj, manual) {
                app.attempt_started = Some(now);
                if str_of(&state, "/message") != "Sync operation blocked by sync window" {
                    patch(
                        shared,
                        key,
                        &json!({"status": {"operationState": {"message": "Sync operation blocked by sync window"}}}),
                    );
                    st.log
                        .push(format!("{}: operation blocked by sync window", key.1));
                }
                return;
            }
            let started = *app.attempt_started.get_or_insert(now);
            if now.duration_since(started) < shared.options.sync_duration {
                return;
            }
            attempt(shared, st, key, obj, state);
        }
        _ => {}
    }
}

fn attempt(shared: &Shared, st: &mut State, key: &Key, obj: &Value, mut state: Value) {
    let op = state["operation"].clone();
    let Some(sync) = present(op.get("sync")) else {
        state["phase"] = json!("Error");
        state["message"] = json!("Invalid operation request: no operation specified");
        return finish(shared, st, key, obj, state, true);
    };
    let op_source = present(sync.get("source")).filter(|s| !str_of(s, "/repoURL").is_empty());
    let source = op_source
        .or(obj.pointer("/spec/source"))
        .cloned()
        .unwrap_or(Value::Null);
    let revision = match str_of(sync, "/revision") {
        "" => str_of(&source, "/targetRevision").to_owned(),
        r => r.to_owned(),
    };
    let repo = str_of(&source, "/repoURL").to_owned();
    let dry_run = sync.get("dryRun").and_then(Value::as_bool) == Some(true);
    let prune = sync.get("prune").and_then(Value::as_bool) == Some(true);
    let partial: Option<Vec<(String, String)>> = sync
        .get("resources")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.iter()
                .map(|x| (str_of(x, "/kind").to_owned(), str_of(x, "/name").to_owned()))
                .collect()
        });

    let rendered = st.renderer.resolve(&repo, &revision).and_then(|sha| {
        st.renderer
            .render(&repo, &sha, str_of(&source, "/path"))
            .map(|m| (sha, m))
    });
    let (sha, desired) = match rendered {
        Ok(x) => x,
        Err(e) => {
            state["phase"] = json!("Error");
            state["message"] = json!(format!(
                "ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = {e}"
            ));
            return finish(shared, st, key, obj, state, true);
        }
    };
    let app = st.apps.entry(key.clone()).or_default();
    let mut results = Vec::new();
    let mut new_live = app
        .live
        .as_ref()
        .map(|l| l.manifests.clone())
        .unwrap_or_default();
    let apply_failure = shared.controls().apply_failure.clone();
    for (k, o) in &desired {
        if partial.as_ref().is_some_and(|p| !p.contains(k)) {
            continue;
        }
        let group = o
            .api_version
            .split_once('/')
            .map(|(g, _)| g)
            .unwrap_or_default();
        let kind_group = if group.is_empty() {
            o.kind.to_lowercase()
        } else {
            format!("{}.{group}", o.kind.to_lowercase())
        };
        let (status, message) = match &apply_failure {
            Some(reason) => ("SyncFailed", reason.clone()),
            None => ("Synced", format!("{kind_group}/{} configured", o.name)),
        };
        let mut r = json!({"group": group, "version": o.api_version.rsplit('/').next(), "kind": o.kind, "name": o.name,
            "status": status, "message": message, "syncPhase": "Sync", "hookPhase": "Running"});
        if let Some(ns) = &o.namespace {
            r["namespace"] = json!(ns);
        }
        if !o.images.is_empty() {
            r["images"] = json!(o.images);
        }
        results.push(r);
        new_live.insert(k.clone(), o.clone());
    }
    if partial.is_none() {
        let extras: Vec<_> = new_live
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .cloned()
            .collect();
        for k in extras {
            let (status, message) = if prune {
                ("Pruned", "pruned")
            } else {
                ("PruneSkipped", "ignored (requires pruning)")
            };
            results.push(json!({"kind": k.0, "name": k.1, "status": status, "message": message, "syncPhase": "Sync"}));
            if prune {
                new_live.remove(&k);
            }
        }
    }
    state["syncResult"] = json!({"revision": sha, "source": source, "resources": results});
    if let Some(reason) = apply_failure {
        state["phase"] = json!("Failed");
        state["message"] = json!(format!(
            "one or more objects failed to apply, reason: {reason}"
        ));
    } else {
        if !dry_run {
            app.live = Some(Live {
                manifests: new_live,
                applied_at: Instant::now(),
            });
        }
        state["phase"] = json!("Succeeded");
        state["message"] = json!("successfully synced (all tasks run)");
    }
    st.log.push(format!(
        "{}: synced to {} ({})",
        key.1,
        &sha[..7],
        str_of(&state, "/phase")
    ));
    finish(shared, st, key, obj, state, true)
}

/// Retry or complete; history before the final write; the final write nulls `.operation`.
fn finish(
    shared: &Shared,
    st: &mut State,
    key: &Key,
    obj: &Value,
    mut state: Value,
    may_retry: bool,
) {
    let phase = str_of(&state, "/phase").to_owned();
    let count = state.get("retryCount").and_then(Value::as_i64).unwrap_or(0);
    let limit = state
        .pointer("/operation/retry/limit")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let app = st.apps.entry(key.clone()).or_default();
    if may_retry && matches!(phase.as_str(), "Failed" | "Error") && (count < limit || limit < 0) {
        let count = count + 1;
        state["phase"] = json!("Running");
        state["finishedAt"] = json!(now_string());
        state["retryCount"] = json!(count);
        state["message"] = json!(format!(
            "{}. Retrying attempt #{count} at {}.",
            str_of(&state, "/message"),
            clock_3_04pm()
        ));
        app.retry_at = Some(Instant::now() + retry_delay(&state["operation"]["retry"], count));
        write_state(shared, key, state, false);
        st.log.push(format!(
            "{}: attempt failed, retry #{count} scheduled",
            key.1
        ));
        return;
    }
    if count > 0 {
        state["message"] = json!(format!(
            "{} (retried {count} times).",
            str_of(&state, "/message")
        ));
    }
    let dry_run = state
        .pointer("/operation/sync/dryRun")
        .and_then(Value::as_bool)
        == Some(true);
    let partial = state
        .pointer("/operation/sync/resources")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    if phase == "Succeeded" && !dry_run && !partial {
        let mut history: Vec<Value> = obj
            .pointer("/status/history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let id = history
            .last()
            .and_then(|h| h.get("id"))
            .and_then(Value::as_i64)
            .map_or(0, |i| i + 1);
        history.push(json!({
            "revision": state["syncResult"]["revision"],
            "source": state["syncResult"]["source"],
            "deployedAt": now_string(),
            "deployStartedAt": state["startedAt"],
            "id": id,
            "initiatedBy": state["operation"]["initiatedBy"],
        }));
        let limit = obj
            .pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(10)
            .max(0);
        let limit = usize::try_from(limit).unwrap_or(10);
        if history.len() > limit {
            history.drain(..history.len() - limit);
        }
        patch(shared, key, &json!({"status": {"history": history}}));
    }
    state["finishedAt"] = json!(now_string());
    write_state(shared, key, state.clone(), true);
    st.log.push(format!(
        "{}: operation {phase}: {}",
        key.1,
        str_of(&state, "/message")
    ));
    if !dry_run {
        app.refresh_queued = true;
    }
}
