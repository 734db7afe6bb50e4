//! Operations (`specs/argocd.md` §7): a state machine over `status.operationState`. A new
//! operation is copied into a `Running` state; after the sync duration an attempt renders the
//! revision and "applies" it to the live model (or fails as the test programmed); a failed
//! attempt is retried with back-off within the retry limit; `Terminating` ends as "Operation
//! terminated". A completed sync is recorded in `status.history`, and the final write nulls
//! `.operation`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Live, State, go_reencode, patch, present, str_of, write_state};
use crate::argocd::render::{Manifests, Source};
use crate::argocd::store::Key;
use crate::argocd::{Shared, now_string};

/// How the repo-server's errors read in an operation's message.
const LOAD_FAILED: &str = "ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc =";

pub(super) fn process(shared: &Shared, st: &mut State, key: &Key, obj: &Value) {
    let now = Instant::now();
    let state = present(obj.pointer("/status/operationState")).cloned();
    let phase = state
        .as_ref()
        .map(|s| str_of(s, "/phase").to_owned())
        .unwrap_or_default();
    let completed = matches!(phase.as_str(), "Succeeded" | "Failed" | "Error");
    let Some(mut state) = state.filter(|_| !completed) else {
        // NewOperationState: a deep copy of `.operation`, Running, startedAt now.
        let new = json!({"operation": go_reencode(obj["operation"].clone()), "phase": "Running", "startedAt": now_string()});
        let app = st.apps.entry(key.clone()).or_default();
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
            retry_when_due(shared, st, key, &state, now);
        }
        "Running" if attempt_due(shared, st, key, obj, &state, now) => {
            attempt(shared, st, key, obj, state);
        }
        _ => {}
    }
}

/// A failed attempt waits out its back-off, then runs again.
fn retry_when_due(shared: &Shared, st: &mut State, key: &Key, state: &Value, now: Instant) {
    let app = st.apps.entry(key.clone()).or_default();
    if app.retry_at.is_some_and(|t| now < t) {
        return;
    }
    let count = state.get("retryCount").and_then(Value::as_i64).unwrap_or(0);
    if app.retry_at.is_none() {
        // Resumed after a restart: wait out the back-off from now.
        app.retry_at = Some(now + retry_delay(&state["operation"]["retry"], count));
        return;
    }
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

/// Whether a running operation's attempt is due: not blocked by a sync window (§2.4
/// `syncWindowPreventsSync`), and the sync duration passed since it started.
fn attempt_due(
    shared: &Shared,
    st: &mut State,
    key: &Key,
    obj: &Value,
    state: &Value,
    now: Instant,
) -> bool {
    let app = st.apps.entry(key.clone()).or_default();
    // Manual = not initiated by auto-sync.
    let manual = obj
        .pointer("/operation/initiatedBy/automated")
        .and_then(Value::as_bool)
        != Some(true);
    if shared.sync_window_blocks(obj, manual) {
        app.attempt_started = Some(now);
        if str_of(state, "/message") != "Sync operation blocked by sync window" {
            patch(
                shared,
                key,
                &json!({"status": {"operationState": {"message": "Sync operation blocked by sync window"}}}),
            );
            st.log
                .push(format!("{}: operation blocked by sync window", key.1));
        }
        return false;
    }
    let started = *app.attempt_started.get_or_insert(now);
    now.duration_since(started) >= shared.options.sync_duration
}

/// What a sync operation asks for.
struct Sync {
    source: Value,
    repo: String,
    revision: String,
    dry_run: bool,
    prune: bool,
    /// `(kind, name)` of a partial sync's resources.
    partial: Option<Vec<(String, String)>>,
}

impl Sync {
    fn of(sync: &Value, obj: &Value) -> Self {
        let op_source = present(sync.get("source")).filter(|s| !str_of(s, "/repoURL").is_empty());
        let source = op_source
            .or(obj.pointer("/spec/source"))
            .cloned()
            .unwrap_or(Value::Null);
        let revision = match str_of(sync, "/revision") {
            "" => str_of(&source, "/targetRevision").to_owned(),
            r => r.to_owned(),
        };
        let partial = sync
            .get("resources")
            .and_then(Value::as_array)
            .filter(|r| !r.is_empty())
            .map(|r| {
                r.iter()
                    .map(|x| (str_of(x, "/kind").to_owned(), str_of(x, "/name").to_owned()))
                    .collect()
            });
        Sync {
            repo: str_of(&source, "/repoURL").to_owned(),
            dry_run: sync.get("dryRun").and_then(Value::as_bool) == Some(true),
            prune: sync.get("prune").and_then(Value::as_bool) == Some(true),
            source,
            revision,
            partial,
        }
    }
}

fn attempt(shared: &Shared, st: &mut State, key: &Key, obj: &Value, mut state: Value) {
    let Some(sync) = present(state.pointer("/operation/sync")).map(|s| Sync::of(s, obj)) else {
        state["phase"] = json!("Error");
        state["message"] = json!("Invalid operation request: no operation specified");
        return finish(shared, st, key, obj, state, true);
    };
    let rendered = st
        .renderer
        .resolve(&sync.repo, &sync.revision)
        .and_then(|sha| {
            st.renderer
                .render(
                    &sync.repo,
                    &sha,
                    &Source::of(&sync.source, str_of(obj, "/metadata/name")),
                )
                .map(|m| (sha, m))
        });
    let (sha, desired) = match rendered {
        Ok(x) => x,
        Err(e) => {
            state["phase"] = json!("Error");
            state["message"] = json!(format!("{LOAD_FAILED} {e}"));
            return finish(shared, st, key, obj, state, true);
        }
    };
    let app = st.apps.entry(key.clone()).or_default();
    let mut live = app
        .live
        .as_ref()
        .map(|l| l.manifests.clone())
        .unwrap_or_default();
    let apply_failure = shared.controls().apply_failure.clone();
    let mut results = apply(&desired, &sync, apply_failure.as_deref(), &mut live);
    if sync.partial.is_none() {
        results.extend(extras(&desired, sync.prune, &mut live));
    }
    state["syncResult"] = json!({"revision": sha, "source": sync.source, "resources": results});
    if let Some(reason) = apply_failure {
        state["phase"] = json!("Failed");
        state["message"] = json!(format!(
            "one or more objects failed to apply, reason: {reason}"
        ));
    } else {
        if !sync.dry_run {
            let before = app.live.take().map(|l| l.manifests);
            app.live = Some(Live {
                manifests: live,
                applied_at: Instant::now(),
                before,
                health_lag: shared.controls().health_lag,
            });
        }
        state["phase"] = json!("Succeeded");
        state["message"] = json!("successfully synced (all tasks run)");
    }
    if str_of(&state, "/phase") == "Succeeded" && !sync.dry_run {
        let applied = (&desired, sync.partial.as_deref());
        super::app_of_apps::apply(shared, st, (key, obj), &state["operation"]["sync"], applied);
    }
    st.log.push(format!(
        "{}: synced to {} ({})",
        key.1,
        &sha[..7],
        str_of(&state, "/phase")
    ));
    finish(shared, st, key, obj, state, true)
}

/// Applies the desired objects (those of a partial sync only) to `live`; their results.
fn apply(
    desired: &Manifests,
    sync: &Sync,
    apply_failure: Option<&str>,
    live: &mut Manifests,
) -> Vec<Value> {
    let mut results = Vec::new();
    for (k, o) in desired {
        if sync.partial.as_ref().is_some_and(|p| !p.contains(k)) {
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
        let (status, message) = match apply_failure {
            Some(reason) => ("SyncFailed", reason.to_owned()),
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
        live.insert(k.clone(), o.clone());
    }
    results
}

/// Live objects no longer desired: pruned with `prune`, else left and reported.
fn extras(desired: &Manifests, prune: bool, live: &mut Manifests) -> Vec<Value> {
    let extras: Vec<_> = live
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    let (status, message) = if prune {
        ("Pruned", "pruned")
    } else {
        ("PruneSkipped", "ignored (requires pruning)")
    };
    extras
        .into_iter()
        .map(|k| {
            if prune {
                live.remove(&k);
            }
            json!({"kind": k.0, "name": k.1, "status": status, "message": message, "syncPhase": "Sync"})
        })
        .collect()
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
    if may_retry && matches!(phase.as_str(), "Failed" | "Error") && (count < limit || limit < 0) {
        return schedule_retry(shared, st, key, state, count + 1);
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
        record_history(shared, key, obj, &state);
    }
    state["finishedAt"] = json!(now_string());
    write_state(shared, key, state.clone(), true);
    st.log.push(format!(
        "{}: operation {phase}: {}",
        key.1,
        str_of(&state, "/message")
    ));
    if !dry_run {
        st.apps.entry(key.clone()).or_default().refresh_queued = true;
    }
}

/// A failed attempt stays `Running`, with its retry `count` and when it runs again.
fn schedule_retry(shared: &Shared, st: &mut State, key: &Key, mut state: Value, count: i64) {
    state["phase"] = json!("Running");
    state["finishedAt"] = json!(now_string());
    state["retryCount"] = json!(count);
    state["message"] = json!(format!(
        "{}. Retrying attempt #{count} at {}.",
        str_of(&state, "/message"),
        clock_3_04pm()
    ));
    st.apps.entry(key.clone()).or_default().retry_at =
        Some(Instant::now() + retry_delay(&state["operation"]["retry"], count));
    write_state(shared, key, state, false);
    st.log.push(format!(
        "{}: attempt failed, retry #{count} scheduled",
        key.1
    ));
}

/// Appends the completed sync to `status.history`, keeping `revisionHistoryLimit` entries.
fn record_history(shared: &Shared, key: &Key, obj: &Value, state: &Value) {
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

/// Go's `3:04PM`, the time format Argo CD's retry message uses.
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
