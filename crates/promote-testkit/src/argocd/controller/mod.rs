//! The Argo CD application controller stand-in (`specs/argocd.md` §7): per app, on every tick,
//! process `.operation` (a state machine over `status.operationState`: Running → attempt →
//! Succeeded / Failed / Error, retries with back-off, Terminating → "Operation terminated"),
//! then refresh when asked (annotation), expired, or when the spec's source moved away from
//! `comparedTo`, running auto-sync with `alreadyAttemptedSync` exactly as §2.6 orders its checks.
//! Between full refreshes, health changes are persisted without touching `reconciledAt`, as
//! Argo CD's resource-event refreshes (`CompareWithRecent`) do. All writes are JSON merge patches
//! on the main resource (no status subresource), like Argo CD ≤ 3.5.
//!
//! The tick and the shared helpers are here; [`operation`] runs operations, [`refresh`] compares
//! and [`auto_sync`] decides, [`health`] judges the live model, [`app_of_apps`] writes and
//! watches the Applications a parent app deploys.

mod app_of_apps;
mod auto_sync;
mod health;
mod operation;
mod refresh;

pub(crate) use auto_sync::enabled as auto_sync_enabled;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Value, json};

use super::Shared;
use super::render::{Manifests, Renderer};
use super::store::Key;

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
    /// What was live before this apply, and for how long after it the health is still judged
    /// on that (`ArgoCdStandIn::set_health_lag`, as set when this apply ran).
    before: Option<Manifests>,
    health_lag: std::time::Duration,
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

/// Replaces `status.operationState` wholesale (and nulls `.operation` when asked).
fn write_state(shared: &Shared, key: &Key, state: Value, clear_operation: bool) {
    write_status(shared, key, "operationState", state, clear_operation);
}

/// Replaces `status.FIELD` wholesale (a merge patch would keep stale keys inside it), and nulls
/// `.operation` when asked, reading and writing under one lock so no concurrent write is lost.
fn write_status(shared: &Shared, key: &Key, field: &str, value: Value, clear_operation: bool) {
    let mut store = shared.store();
    if let Some(mut cur) = store.get(key).cloned() {
        if !cur["status"].is_object() {
            cur["status"] = json!({});
        }
        cur["status"][field] = value;
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
        operation::process(shared, st, key, &obj);
    }
    let Some(obj) = get(shared, key) else { return };
    let app = st.apps.entry(key.clone()).or_default();
    let children_changed = app_of_apps::observe(shared, &obj, app);
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
    if annotation || expired || source_moved || app.refresh_queued || children_changed {
        refresh::refresh(shared, st, key, &obj);
    } else {
        health::update(shared, st, key, &obj);
    }
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
