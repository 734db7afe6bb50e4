//! argocd-server's REST API, emulated on the stand-in's address (`specs/argocd.md` §4 and the
//! API-server checks of §2.2–§2.4 and §7): get (with the blocking `?refresh=`), the stream watch,
//! update (`PUT ?validate=false`), sync, rollback, terminate. Bearer auth with the stand-in's
//! Argo CD token (session user `admin`); `Content-Type: application/json` enforced on every
//! non-GET (415 `Invalid content type`); errors as grpc-gateway v1.16 writes them,
//! `{"error","code","message","details"}` with its HTTP status mapping.
//!
//! **[UNVERIFIED]** as the spec notes: the exact 401 body, and the username recorded for a token.
//! Update follows Argo CD's server in spirit (spec, labels and annotations of the body applied to
//! the stored app) without claiming every detail of its merge.

use std::net::TcpStream;
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::store::{Key, Store};
use super::wire::{Request, chunk, end_stream, next_events, respond, start_stream};
use super::{Shared, controller};

const USER: &str = "admin";

/// gRPC code → (HTTP status, code).
fn grpc(code: i64, message: impl Into<String>) -> (u16, Value) {
    let message = message.into();
    let http = match code {
        3 | 9 => 400, // InvalidArgument, FailedPrecondition (400, not 412, in grpc-gateway v1.16)
        4 => 504,
        5 => 404,
        7 => 403,
        10 => 409,
        16 => 401,
        _ => 500,
    };
    (
        http,
        json!({"error": message, "code": code, "message": message, "details": []}),
    )
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn handle(mut stream: TcpStream, shared: &Shared, req: &Request) -> std::io::Result<()> {
    let (code, body) = 'answer: {
        if req.headers.get("authorization").map(String::as_str)
            != Some(&format!("Bearer {}", shared.argocd_token))
        {
            break 'answer grpc(16, "no session information");
        }
        if req.method != "GET"
            && !req
                .headers
                .get("content-type")
                .is_some_and(|c| c.eq_ignore_ascii_case("application/json"))
        {
            shared.log(format!("{} {} -> 415", req.method, req.path));
            let text = "Invalid content type\n";
            return std::io::Write::write_all(
                &mut stream,
                format!("HTTP/1.1 415 Unsupported Media Type\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len()).as_bytes(),
            );
        }
        let ns = req
            .query
            .get("appNamespace")
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| shared.options.namespace.clone());
        if req.path == "/api/v1/stream/applications" {
            let Some(name) = req.query.get("name").cloned() else {
                break 'answer grpc(3, "name is required");
            };
            shared.log(format!("GET {} stream", req.path));
            return stream_app(stream, shared, (ns, name));
        }
        if let Some(name) = req.path.strip_prefix("/api/v1/projects/") {
            // ProjectService.Get answers the AppProject itself.
            break 'answer match (req.method.as_str(), name.contains('/')) {
                ("GET", false) => {
                    let key: Key = (shared.options.namespace.clone(), name.to_owned());
                    match shared.projects().get(&key) {
                        Some(p) => (200, p.clone()),
                        None => grpc(5, format!("appprojects.argoproj.io \"{name}\" not found")),
                    }
                }
                _ => grpc(12, "method not implemented by the stand-in"),
            };
        }
        let rest = req.path.trim_start_matches("/api/v1/applications/");
        let (name, action) = rest.split_once('/').unwrap_or((rest, ""));
        let key: Key = (ns, name.to_owned());
        let body: Value = if req.body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(e) => break 'answer grpc(3, format!("invalid JSON body: {e}")),
            }
        };
        match (req.method.as_str(), action) {
            ("GET", "") => get(shared, &key, req.query.get("refresh").map(String::as_str)),
            ("PUT", "") => update(shared, &key, &body),
            ("POST", "sync") => sync(shared, &key, &body),
            ("POST", "rollback") => rollback(shared, &key, &body),
            ("DELETE", "operation") => terminate(shared, &key),
            _ => (
                404,
                json!({"error": "Not Found", "code": 5, "message": "Not Found", "details": []}),
            ),
        }
    };
    shared.log(format!("{} {} -> {code}", req.method, req.path));
    respond(&mut stream, code, &body)
}

fn load(shared: &Shared, key: &Key) -> Result<Value, (u16, Value)> {
    // Argo CD answers a missing app like a forbidden one, so names do not leak.
    shared
        .store()
        .get(key)
        .cloned()
        .ok_or_else(|| grpc(7, "permission denied"))
}

fn get(shared: &Shared, key: &Key, refresh: Option<&str>) -> (u16, Value) {
    let app = match load(shared, key) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let Some(kind) = refresh.filter(|r| !r.is_empty()) else {
        return (200, app);
    };
    let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": kind}}});
    let _ = shared.store().merge_patch(key, &patch, false);
    shared.changed.notify_all();
    // Blocks until the controller has refreshed (the annotation is gone).
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !shared.stopping.load(Ordering::SeqCst) {
        let store = shared.store();
        if let Some(a) = store.get(key)
            && a.pointer("/metadata/annotations/argocd.argoproj.io~1refresh")
                .is_none()
        {
            return (200, a.clone());
        }
        let _ = shared
            .changed
            .wait_timeout(store, Duration::from_millis(100));
    }
    grpc(4, "application refresh deadline exceeded")
}

fn update(shared: &Shared, key: &Key, body: &Value) -> (u16, Value) {
    let store = shared.store();
    let Some(mut cur) = store.get(key).cloned() else {
        return grpc(7, "permission denied");
    };
    cur["spec"] = body.get("spec").cloned().unwrap_or(json!({}));
    for k in ["labels", "annotations"] {
        match body.pointer(&format!("/metadata/{k}")) {
            Some(v) => cur["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = cur["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    stored(shared, store, key, cur)
}

/// Writes `app` under the lock `store` holds, wakes the watchers, answers the app as stored.
fn stored(
    shared: &Shared,
    mut store: MutexGuard<'_, Store>,
    key: &Key,
    app: Value,
) -> (u16, Value) {
    let out = store.store(key, app, false);
    drop(store);
    shared.changed.notify_all();
    match out {
        Ok(a) => (200, a),
        Err(e) => grpc(13, format!("{e:?}")),
    }
}

/// `SetAppOperation` (§2.1), under the store lock.
fn set_operation(shared: &Shared, key: &Key, op: Value) -> (u16, Value) {
    let store = shared.store();
    let Some(mut cur) = store.get(key).cloned() else {
        return grpc(7, "permission denied");
    };
    if present(cur.get("operation")).is_some() {
        return grpc(9, "another operation is already in progress");
    }
    cur["operation"] = op;
    if !cur["status"].is_object() {
        cur["status"] = json!({});
    }
    cur["status"]["operationState"] = Value::Null;
    stored(shared, store, key, cur)
}

fn sync(shared: &Shared, key: &Key, req: &Value) -> (u16, Value) {
    let app = match load(shared, key) {
        Ok(a) => a,
        Err(e) => return e,
    };
    match shared.sync_window(&app, true) {
        super::windows::Window::Open => {}
        super::windows::Window::Blocked => {
            return grpc(7, "cannot sync: blocked by sync window");
        }
        super::windows::Window::Invalid(e) => {
            return grpc(7, format!("cannot sync: invalid sync window: {e}"));
        }
    }
    if present(app.pointer("/metadata/deletionTimestamp")).is_some() {
        return grpc(9, "application is deleting");
    }
    let dry_run = req.get("dryRun").and_then(Value::as_bool) == Some(true);
    let source = app.pointer("/spec/source").cloned().unwrap_or(Value::Null);
    let target = source
        .get("targetRevision")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let requested = req
        .get("revision")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let head_or_target = if target.is_empty() {
        "HEAD"
    } else {
        target.as_str()
    };
    if !requested.is_empty()
        && requested != head_or_target
        && controller::auto_sync_enabled(shared.options.version, &app)
        && !dry_run
    {
        return grpc(
            9,
            format!("Cannot sync to {requested}: auto-sync currently set to {target}"),
        );
    }
    let ambiguous = if requested.is_empty() {
        target.clone()
    } else {
        requested
    };
    let revision = if is_sha(&ambiguous) {
        ambiguous
    } else {
        let repo = source
            .get("repoURL")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match controller::resolve(shared, repo, &ambiguous) {
            Ok(sha) => sha,
            Err(e) => return grpc(9, e),
        }
    };
    let mut sync = json!({"source": source, "revision": revision});
    if req.get("prune").and_then(Value::as_bool) == Some(true) {
        sync["prune"] = json!(true);
    }
    if dry_run {
        sync["dryRun"] = json!(true);
    }
    let options = present(req.pointer("/syncOptions/items"))
        .or(present(app.pointer("/spec/syncPolicy/syncOptions")));
    if let Some(o) = options.filter(|o| o.as_array().is_some_and(|a| !a.is_empty())) {
        sync["syncOptions"] = o.clone();
    }
    if let Some(s) = present(req.get("strategy")) {
        sync["syncStrategy"] = s.clone();
    }
    if let Some(r) =
        present(req.get("resources")).filter(|r| r.as_array().is_some_and(|a| !a.is_empty()))
    {
        sync["resources"] = r.clone();
    }
    let retry = present(req.get("retryStrategy"))
        .or(present(app.pointer("/spec/syncPolicy/retry")))
        .cloned()
        .unwrap_or(json!({}));
    let mut op = json!({"sync": sync, "initiatedBy": {"username": USER}, "retry": retry});
    if let Some(infos) =
        present(req.get("infos")).filter(|i| i.as_array().is_some_and(|a| !a.is_empty()))
    {
        op["info"] = infos.clone();
    }
    set_operation(shared, key, op)
}

fn rollback(shared: &Shared, key: &Key, req: &Value) -> (u16, Value) {
    let app = match load(shared, key) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if present(app.pointer("/metadata/deletionTimestamp")).is_some() {
        return grpc(9, "application is deleting");
    }
    if controller::auto_sync_enabled(shared.options.version, &app) {
        return grpc(9, "rollback cannot be initiated when auto-sync is enabled");
    }
    let id = req
        .get("id")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0);
    let history = app
        .pointer("/status/history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(entry) = history
        .iter()
        .find(|h| h.get("id").and_then(Value::as_i64) == Some(id))
    else {
        return grpc(
            3,
            format!(
                "application {}/{} does not have deployment with id {id}",
                key.0, key.1
            ),
        );
    };
    let source = present(entry.get("source")).filter(|s| {
        s.get("repoURL")
            .and_then(Value::as_str)
            .is_some_and(|r| !r.is_empty())
    });
    let sources =
        present(entry.get("sources")).filter(|s| s.as_array().is_some_and(|a| !a.is_empty()));
    if source.is_none() && sources.is_none() {
        return grpc(
            9,
            "cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision instead.",
        );
    }
    let mut sync = json!({
        "revision": entry.get("revision").cloned().unwrap_or(json!("")),
        "syncStrategy": {"apply": {}},
        "source": source.cloned().unwrap_or(json!({"repoURL": ""})),
    });
    if let Some(r) = present(entry.get("revisions")) {
        sync["revisions"] = r.clone();
    }
    if let Some(s) = sources {
        sync["sources"] = s.clone();
    }
    if req.get("dryRun").and_then(Value::as_bool) == Some(true) {
        sync["dryRun"] = json!(true);
    }
    if req.get("prune").and_then(Value::as_bool) == Some(true) {
        sync["prune"] = json!(true);
    }
    if let Some(o) = present(app.pointer("/spec/syncPolicy/syncOptions"))
        .filter(|o| o.as_array().is_some_and(|a| !a.is_empty()))
    {
        sync["syncOptions"] = o.clone();
    }
    set_operation(
        shared,
        key,
        json!({"sync": sync, "initiatedBy": {"username": USER}, "retry": {}}),
    )
}

fn terminate(shared: &Shared, key: &Key) -> (u16, Value) {
    let mut store = shared.store();
    let Some(mut cur) = store.get(key).cloned() else {
        return grpc(7, "permission denied");
    };
    if present(cur.get("operation")).is_none()
        || present(cur.pointer("/status/operationState")).is_none()
    {
        return grpc(
            3,
            "Unable to terminate operation. No operation is in progress",
        );
    }
    cur["status"]["operationState"]["phase"] = json!("Terminating");
    let _ = store.store(key, cur, false);
    drop(store);
    shared.changed.notify_all();
    (200, json!({}))
}

/// `GET /api/v1/stream/applications?name=`: an initial ADDED, then every change, until the
/// client goes away.
fn stream_app(mut stream: TcpStream, shared: &Shared, key: Key) -> std::io::Result<()> {
    let (initial, mut last) = {
        let store = shared.store();
        (store.get(&key).cloned(), store.current_rv())
    };
    start_stream(&mut stream)?;
    if let Some(app) = initial {
        chunk(
            &mut stream,
            &json!({"result": {"type": "ADDED", "application": app}}),
        )?;
    }
    while !shared.stopping.load(Ordering::SeqCst) {
        for e in next_events(shared, last) {
            last = e.rv;
            let same = e
                .object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                == Some(key.0.as_str())
                && e.object.pointer("/metadata/name").and_then(Value::as_str)
                    == Some(key.1.as_str());
            if same {
                chunk(
                    &mut stream,
                    &json!({"result": {"type": e.kind, "application": e.object}}),
                )?;
            }
        }
        std::io::Write::flush(&mut stream)?;
    }
    end_stream(&mut stream)
}
