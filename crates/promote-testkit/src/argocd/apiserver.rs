//! The fake Kubernetes API server: plain HTTP/1.1 on 127.0.0.1, one thread per connection,
//! serving what a kube client needs for `argoproj.io/v1alpha1` Applications: discovery
//! (`/version`, `/api`, `/apis`, the group version), get, list, watch (chunked, from a
//! resourceVersion, `410 Gone` when it is too old), create, replace (`409` on a stale
//! resourceVersion, `?dryRun=All`), JSON merge patch and JSON patch, delete. Errors are
//! `metav1.Status` bodies with the apiserver's wording. Bearer auth with the kubeconfig's token.
//! AppProjects (`appprojects`: get and create) are served too, for their `spec.syncWindows`,
//! which the controller and the REST API's sync honour.

use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Shared;
use super::store::{Key, Patch, WriteError};
use super::wire::{Request, chunk, end_stream, next_events, read_request, respond, start_stream};

const GROUP: &str = "argoproj.io";
const PREFIX: &str = "/apis/argoproj.io/v1alpha1";

pub(crate) fn serve(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            let _ = handle(conn, &shared);
        });
    }
}

fn status(code: u16, reason: &str, message: String, name: Option<&str>) -> Value {
    let mut details = json!({"group": GROUP, "kind": "applications"});
    if let Some(n) = name {
        details["name"] = json!(n);
    }
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code,
    })
}

/// A `400` for a body that is not JSON.
fn not_json(name: Option<&str>) -> (u16, Value) {
    (
        400,
        status(400, "BadRequest", "the body is not JSON".into(), name),
    )
}

/// The `401` for a request without the kubeconfig's token.
fn unauthorized() -> (u16, Value) {
    (
        401,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
    )
}

fn authorized(shared: &Shared, req: &Request) -> bool {
    req.headers.get("authorization").map(String::as_str)
        == Some(&format!("Bearer {}", shared.token))
}

fn write_error(e: WriteError, name: &str) -> (u16, Value) {
    match e {
        WriteError::NotFound => (
            404,
            status(
                404,
                "NotFound",
                format!("applications.argoproj.io \"{name}\" not found"),
                Some(name),
            ),
        ),
        WriteError::Conflict => (
            409,
            status(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on applications.argoproj.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                ),
                Some(name),
            ),
        ),
        WriteError::AlreadyExists => (
            409,
            status(
                409,
                "AlreadyExists",
                format!("applications.argoproj.io \"{name}\" already exists"),
                Some(name),
            ),
        ),
        WriteError::Invalid(m) => (
            422,
            status(
                422,
                "Invalid",
                format!("Application.argoproj.io \"{name}\" is invalid: {m}"),
                Some(name),
            ),
        ),
    }
}

fn handle(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(req) = read_request(&mut reader)? else {
        return Ok(());
    };
    if req.path.starts_with("/api/v1/applications/")
        || req.path.starts_with("/api/v1/projects/")
        || req.path == "/api/v1/stream/applications"
    {
        return super::rest::handle(stream, shared, &req);
    }
    if let Some(segs) = req
        .path
        .strip_prefix(PREFIX)
        .map(|r| r.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>())
        .filter(|s| s.get(2) == Some(&"appprojects"))
    {
        let (code, body) = appprojects(shared, &req, &segs);
        shared.log(format!("{} {} -> {code}", req.method, req.path));
        return respond(&mut stream, code, &body);
    }
    let target = Target::of(&req);
    let (code, body) = 'answer: {
        if !authorized(shared, &req) {
            break 'answer unauthorized();
        }
        if !target.is_resource {
            break 'answer discovery(&req.path);
        }
        if let Some(refused) = forbidden(shared, &target) {
            break 'answer refused;
        }
        if target.verb == "watch" {
            shared.log(format!("{} {} watch", req.method, req.path));
            return serve_watch(stream, shared, target.namespace.as_deref(), &req);
        }
        route(shared, &req, target)
    };
    let dry = if req.query.get("dryRun").is_some_and(|d| d == "All") {
        " (dry run)"
    } else {
        ""
    };
    shared.log(format!("{} {}{dry} -> {code}", req.method, req.path));
    respond(&mut stream, code, &body)
}

/// Which verb on which Applications a request is, for RBAC, routing and the log.
struct Target {
    verb: &'static str,
    namespace: Option<String>,
    name: Option<String>,
    /// Whether it is about Applications at all (else discovery).
    is_resource: bool,
}

impl Target {
    fn of(req: &Request) -> Self {
        let rest = req.path.strip_prefix(PREFIX);
        let segs: Vec<&str> = rest
            .map(|r| r.split('/').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let (namespace, name) = match segs.as_slice() {
            ["namespaces", ns, "applications"] => (Some((*ns).to_owned()), None),
            ["namespaces", ns, "applications", n] => {
                (Some((*ns).to_owned()), Some((*n).to_owned()))
            }
            _ => (None, None),
        };
        let watch = req
            .query
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1");
        let verb = match (req.method.as_str(), name.is_some()) {
            ("GET", _) if watch => "watch",
            ("GET", true) => "get",
            ("GET", false) => "list",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("POST", _) => "create",
            ("DELETE", _) => "delete",
            _ => "unknown",
        };
        Target {
            verb,
            namespace,
            name,
            is_resource: rest.is_some_and(|r| r.contains("applications")),
        }
    }
}

/// The `403` the test programmed for this verb (all verbs when its list is empty), worded as
/// the apiserver's RBAC denial.
fn forbidden(shared: &Shared, target: &Target) -> Option<(u16, Value)> {
    let verb = target.verb;
    let refused = shared
        .controls()
        .forbidden
        .as_ref()
        .is_some_and(|f| f.is_empty() || f.iter().any(|v| v == verb));
    if !refused {
        return None;
    }
    let what = match &target.name {
        Some(n) => format!("applications.argoproj.io \"{n}\" is forbidden"),
        None => "applications.argoproj.io is forbidden".to_owned(),
    };
    let scope = match target.namespace.as_deref().unwrap_or_default() {
        "" => "at the cluster scope".to_owned(),
        ns => format!("in the namespace \"{ns}\""),
    };
    let msg = format!(
        "{what}: User \"system:serviceaccount:ci:promote\" cannot {verb} resource \"applications\" in API group \"argoproj.io\" {scope}"
    );
    Some((403, status(403, "Forbidden", msg, target.name.as_deref())))
}

/// AppProjects: get and create, namespaced (`namespaces/NS/appprojects[/NAME]`).
fn appprojects(shared: &Shared, req: &Request, segs: &[&str]) -> (u16, Value) {
    if !authorized(shared, req) {
        return unauthorized();
    }
    let project_status = |code: u16, reason: &str, message: String, name: &str| {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason,
               "details": {"name": name, "group": GROUP, "kind": "appprojects"}, "code": code})
    };
    match (req.method.as_str(), segs) {
        ("GET", ["namespaces", ns, "appprojects", name]) => {
            match shared
                .projects()
                .get(&((*ns).to_owned(), (*name).to_owned()))
            {
                Some(p) => (200, p.clone()),
                None => (
                    404,
                    project_status(
                        404,
                        "NotFound",
                        format!("appprojects.argoproj.io \"{name}\" not found"),
                        name,
                    ),
                ),
            }
        }
        ("POST", ["namespaces", ns, "appprojects"]) => {
            let Ok(mut doc) = serde_json::from_slice::<Value>(&req.body) else {
                return not_json(None);
            };
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let key = ((*ns).to_owned(), name.clone());
            let mut projects = shared.projects();
            if projects.contains_key(&key) {
                return (
                    409,
                    project_status(
                        409,
                        "AlreadyExists",
                        format!("appprojects.argoproj.io \"{name}\" already exists"),
                        &name,
                    ),
                );
            }
            doc["metadata"]["namespace"] = Value::from(*ns);
            projects.insert(key, doc.clone());
            (201, doc)
        }
        _ => (
            405,
            status(
                405,
                "MethodNotAllowed",
                "the stand-in serves get and create of appprojects".into(),
                None,
            ),
        ),
    }
}

fn discovery(path: &str) -> (u16, Value) {
    match path.trim_end_matches('/') {
        "/version" => (
            200,
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-stand-in", "platform": "linux/amd64"}),
        ),
        "/api" => (
            200,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        "/apis" => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": GROUP,
                "versions": [{"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"}],
                "preferredVersion": {"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"}
            }]}),
        ),
        PREFIX => (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "argoproj.io/v1alpha1", "resources": [{
                "name": "applications", "singularName": "application", "namespaced": true, "kind": "Application",
                "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                "shortNames": ["app", "apps"]
            }, {
                "name": "appprojects", "singularName": "appproject", "namespaced": true, "kind": "AppProject",
                "verbs": ["get", "create"], "shortNames": ["appproj", "appprojs"]
            }]}),
        ),
        other => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": format!("the server could not find the requested resource ({other})"), "reason": "NotFound", "code": 404}),
        ),
    }
}

fn name_selector(req: &Request) -> Option<String> {
    req.query.get("fieldSelector").and_then(|f| {
        f.split(',')
            .find_map(|t| t.strip_prefix("metadata.name=").map(str::to_owned))
    })
}

/// The verbs on Applications, each answered as the apiserver does.
fn route(shared: &Shared, req: &Request, target: Target) -> (u16, Value) {
    match (target.verb, target.namespace, target.name) {
        ("list", ns, None) => list(shared, req, ns.as_deref()),
        ("get", Some(ns), Some(name)) => match shared.store().get(&(ns, name.clone())) {
            Some(o) => (200, o.clone()),
            None => write_error(WriteError::NotFound, &name),
        },
        ("create", Some(ns), None) => create(shared, req, &ns),
        ("update", Some(ns), Some(name)) => update(shared, req, (ns, name)),
        ("patch", Some(ns), Some(name)) => patch(shared, req, (ns, name)),
        ("delete", Some(ns), Some(name)) => {
            let result = shared.store().delete(&(ns, name.clone()));
            written(shared, result, 200, &name)
        }
        _ => (
            405,
            status(
                405,
                "MethodNotAllowed",
                format!("{} is not supported on {}", req.method, req.path),
                None,
            ),
        ),
    }
}

/// After a write: watchers woken, and the object (with `ok`) or the apiserver's error.
fn written(
    shared: &Shared,
    result: Result<Value, WriteError>,
    ok: u16,
    name: &str,
) -> (u16, Value) {
    shared.changed.notify_all();
    match result {
        Ok(o) => (ok, o),
        Err(e) => write_error(e, name),
    }
}

fn dry_run(req: &Request) -> bool {
    req.query.get("dryRun").is_some_and(|d| d == "All")
}

fn list(shared: &Shared, req: &Request, ns: Option<&str>) -> (u16, Value) {
    let store = shared.store();
    let wanted = name_selector(req);
    let items: Vec<Value> = store
        .list(ns)
        .into_iter()
        .filter(|o| {
            wanted
                .as_deref()
                .is_none_or(|w| o.pointer("/metadata/name").and_then(Value::as_str) == Some(w))
        })
        .collect();
    (
        200,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationList", "metadata": {"resourceVersion": store.current_rv().to_string()}, "items": items}),
    )
}

fn create(shared: &Shared, req: &Request, ns: &str) -> (u16, Value) {
    let Ok(obj) = serde_json::from_slice::<Value>(&req.body) else {
        return not_json(None);
    };
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let result = shared.store().create(ns, obj);
    written(shared, result, 201, &name)
}

fn update(shared: &Shared, req: &Request, key: Key) -> (u16, Value) {
    let Ok(obj) = serde_json::from_slice::<Value>(&req.body) else {
        return not_json(Some(&key.1));
    };
    // A concurrent writer (armed by the test) touches the object first: a real conflict.
    if let Some(n) = shared.take_interference() {
        let mut store = shared.store();
        let _ = store.merge_patch(
            &key,
            &json!({"metadata": {"labels": {"stand-in/concurrent-writer": n.to_string()}}}),
            false,
        );
    }
    let result = shared.store().replace(&key, obj, dry_run(req));
    written(shared, result, 200, &key.1)
}

fn patch(shared: &Shared, req: &Request, key: Key) -> (u16, Value) {
    let Ok(patch) = serde_json::from_slice::<Value>(&req.body) else {
        return not_json(Some(&key.1));
    };
    let ct = req
        .headers
        .get("content-type")
        .map(String::as_str)
        .unwrap_or_default();
    let dry_run = dry_run(req);
    let patch = match ct.split(';').next().unwrap_or_default().trim() {
        "application/merge-patch+json" => Patch::Merge(&patch),
        "application/json-patch+json" => Patch::Json(&patch),
        other => {
            // CRDs support neither strategic merge patch nor (here) server-side apply.
            let message = format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got {other})"
            );
            let body = status(415, "UnsupportedMediaType", message, Some(&key.1));
            return (415, body);
        }
    };
    let result = shared.store().patch(&key, patch, dry_run);
    written(shared, result, 200, &key.1)
}

/// A watch: the initial state (from `resourceVersion` 0 or none), then every change, as chunked
/// JSON lines until `timeoutSeconds`; a version too old is a `410 Expired` ERROR event.
fn serve_watch(
    mut stream: TcpStream,
    shared: &Shared,
    namespace: Option<&str>,
    req: &Request,
) -> std::io::Result<()> {
    let wanted = name_selector(req);
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(290);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let matches = |o: &Value| {
        namespace
            .is_none_or(|ns| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
            && wanted
                .as_deref()
                .is_none_or(|w| o.pointer("/metadata/name").and_then(Value::as_str) == Some(w))
    };
    let requested = req
        .query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or("");
    let mut initial = Vec::new();
    let mut last = {
        let store = shared.store();
        match requested {
            "" | "0" => {
                for o in store.list(namespace).into_iter().filter(|o| matches(o)) {
                    initial.push(json!({"type": "ADDED", "object": o}));
                }
                store.current_rv()
            }
            rv => match rv.parse::<u64>() {
                Ok(rv) if rv >= shared.oldest_watchable_rv() => rv,
                _ => {
                    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": format!("too old resource version: {rv} ({})", store.current_rv()), "reason": "Expired", "code": 410});
                    drop(store);
                    // The apiserver answers 200 and sends the expiry as an ERROR event.
                    start_stream(&mut stream)?;
                    chunk(&mut stream, &json!({"type": "ERROR", "object": body}))?;
                    return end_stream(&mut stream);
                }
            },
        }
    };
    start_stream(&mut stream)?;
    for e in &initial {
        chunk(&mut stream, e)?;
    }
    std::io::Write::flush(&mut stream)?;
    while !shared.stopping.load(Ordering::SeqCst) && Instant::now() < deadline {
        for e in next_events(shared, last) {
            last = e.rv;
            if matches(&e.object) {
                chunk(&mut stream, &json!({"type": e.kind, "object": e.object}))?;
            }
        }
        std::io::Write::flush(&mut stream)?;
    }
    end_stream(&mut stream)
}
