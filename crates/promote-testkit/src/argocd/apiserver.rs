//! The fake Kubernetes API server: plain HTTP/1.1 on 127.0.0.1, one thread per connection,
//! serving what a kube client needs for `argoproj.io/v1alpha1` Applications: discovery
//! (`/version`, `/api`, `/apis`, the group version), get, list, watch (chunked, from a
//! resourceVersion, `410 Gone` when it is too old), create, replace (`409` on a stale
//! resourceVersion, `?dryRun=All`), JSON merge patch and JSON patch, delete. Errors are
//! `metav1.Status` bodies with the apiserver's wording. Bearer auth with the kubeconfig's token.
//! AppProjects (`appprojects`: get and create) are served too, for their `spec.syncWindows`,
//! which the controller and the REST API's sync honour.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Shared;
use super::store::{Key, WriteError};

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

pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Ok(Some(Request {
        method,
        path: path.to_owned(),
        query,
        headers,
        body,
    }))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn respond(stream: &mut TcpStream, code: u16, body: &Value) -> std::io::Result<()> {
    let text = serde_json::to_vec(body).unwrap_or_default();
    let reason = match code {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        504 => "Gateway Timeout",
        _ => "Status",
    };
    write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    )?;
    stream.write_all(&text)?;
    stream.flush()
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

    // Which verb and object, for RBAC and the log.
    let rest = req.path.strip_prefix(PREFIX);
    let (namespace, name): (Option<String>, Option<String>) = match rest {
        Some(r) => {
            let segs: Vec<&str> = r.split('/').filter(|s| !s.is_empty()).collect();
            match segs.as_slice() {
                ["namespaces", ns, "applications"] => (Some((*ns).to_owned()), None),
                ["namespaces", ns, "applications", n] => {
                    (Some((*ns).to_owned()), Some((*n).to_owned()))
                }
                ["applications"] => (None, None),
                _ => (None, None),
            }
        }
        None => (None, None),
    };
    let is_resource = rest.is_some_and(|r| r.contains("applications"));
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

    let (code, body) = 'answer: {
        let token = shared.token.as_str();
        if req.headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {token}"))
        {
            break 'answer (
                401,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
            );
        }
        if !is_resource {
            break 'answer discovery(&req.path);
        }
        let ns_label = namespace.clone().unwrap_or_default();
        if shared
            .controls()
            .forbidden
            .as_ref()
            .is_some_and(|f| f.is_empty() || f.iter().any(|v| v == verb))
        {
            let what = match &name {
                Some(n) => format!("applications.argoproj.io \"{n}\" is forbidden"),
                None => "applications.argoproj.io is forbidden".to_owned(),
            };
            let scope = if ns_label.is_empty() {
                "at the cluster scope".to_owned()
            } else {
                format!("in the namespace \"{ns_label}\"")
            };
            let msg = format!(
                "{what}: User \"system:serviceaccount:ci:promote\" cannot {verb} resource \"applications\" in API group \"argoproj.io\" {scope}"
            );
            break 'answer (403, status(403, "Forbidden", msg, name.as_deref()));
        }
        if watch {
            shared.log(format!("{} {} watch", req.method, req.path));
            return serve_watch(stream, shared, namespace.as_deref(), &req);
        }
        route(shared, &req, verb, namespace, name)
    };
    let dry = if req.query.get("dryRun").is_some_and(|d| d == "All") {
        " (dry run)"
    } else {
        ""
    };
    shared.log(format!("{} {}{dry} -> {code}", req.method, req.path));
    respond(&mut stream, code, &body)
}

/// AppProjects: get and create, namespaced (`namespaces/NS/appprojects[/NAME]`).
fn appprojects(shared: &Shared, req: &Request, segs: &[&str]) -> (u16, Value) {
    if req.headers.get("authorization").map(String::as_str)
        != Some(&format!("Bearer {}", shared.token))
    {
        return (
            401,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
        );
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
                return (
                    400,
                    status(400, "BadRequest", "the body is not JSON".into(), None),
                );
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

fn route(
    shared: &Shared,
    req: &Request,
    verb: &str,
    namespace: Option<String>,
    name: Option<String>,
) -> (u16, Value) {
    let dry_run = req.query.get("dryRun").is_some_and(|d| d == "All");
    let body = || serde_json::from_slice::<Value>(&req.body);
    match (verb, namespace, name) {
        ("list", ns, None) => {
            let store = shared.store();
            let wanted = name_selector(req);
            let items: Vec<Value> = store
                .list(ns.as_deref())
                .into_iter()
                .filter(|o| {
                    wanted.as_deref().is_none_or(|w| {
                        o.pointer("/metadata/name").and_then(Value::as_str) == Some(w)
                    })
                })
                .collect();
            (
                200,
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationList", "metadata": {"resourceVersion": store.current_rv().to_string()}, "items": items}),
            )
        }
        ("get", Some(ns), Some(name)) => match shared.store().get(&(ns, name.clone())) {
            Some(o) => (200, o.clone()),
            None => write_error(WriteError::NotFound, &name),
        },
        ("create", Some(ns), None) => {
            let Ok(obj) = body() else {
                return (
                    400,
                    status(400, "BadRequest", "the body is not JSON".into(), None),
                );
            };
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let result = shared.store().create(&ns, obj);
            shared.changed.notify_all();
            match result {
                Ok(o) => (201, o),
                Err(e) => write_error(e, &name),
            }
        }
        ("update", Some(ns), Some(name)) => {
            let Ok(obj) = body() else {
                return (
                    400,
                    status(
                        400,
                        "BadRequest",
                        "the body is not JSON".into(),
                        Some(&name),
                    ),
                );
            };
            let key: Key = (ns, name.clone());
            // A concurrent writer (armed by the test) touches the object first: a real conflict.
            if let Some(n) = shared.take_interference() {
                let mut store = shared.store();
                let _ = store.merge_patch(
                    &key,
                    &json!({"metadata": {"labels": {"stand-in/concurrent-writer": n.to_string()}}}),
                    false,
                );
            }
            let result = shared.store().replace(&key, obj, dry_run);
            shared.changed.notify_all();
            match result {
                Ok(o) => (200, o),
                Err(e) => write_error(e, &name),
            }
        }
        ("patch", Some(ns), Some(name)) => {
            let Ok(patch) = body() else {
                return (
                    400,
                    status(
                        400,
                        "BadRequest",
                        "the body is not JSON".into(),
                        Some(&name),
                    ),
                );
            };
            let key: Key = (ns, name.clone());
            let ct = req
                .headers
                .get("content-type")
                .map(String::as_str)
                .unwrap_or_default();
            let ct = ct.split(';').next().unwrap_or_default().trim();
            let result = match ct {
                "application/merge-patch+json" => shared.store().merge_patch(&key, &patch, dry_run),
                "application/json-patch+json" => shared.store().json_patch(&key, &patch, dry_run),
                other => {
                    // CRDs support neither strategic merge patch nor (here) server-side apply.
                    return (
                        415,
                        status(
                            415,
                            "UnsupportedMediaType",
                            format!(
                                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got {other})"
                            ),
                            Some(&name),
                        ),
                    );
                }
            };
            shared.changed.notify_all();
            match result {
                Ok(o) => (200, o),
                Err(e) => write_error(e, &name),
            }
        }
        ("delete", Some(ns), Some(name)) => {
            let result = shared.store().delete(&(ns, name.clone()));
            shared.changed.notify_all();
            match result {
                Ok(o) => (200, o),
                Err(e) => write_error(e, &name),
            }
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
                    write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    )?;
                    chunk(&mut stream, &json!({"type": "ERROR", "object": body}))?;
                    return stream.write_all(b"0\r\n\r\n");
                }
            },
        }
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )?;
    for e in &initial {
        chunk(&mut stream, e)?;
    }
    stream.flush()?;
    loop {
        if shared.stopping.load(Ordering::SeqCst) || Instant::now() >= deadline {
            break;
        }
        let events = {
            let store = shared.store();
            let events = store.events_after(last);
            if events.is_empty() {
                let (store, _) = shared
                    .changed
                    .wait_timeout(store, Duration::from_millis(100))
                    .expect("store lock");
                store.events_after(last)
            } else {
                events
            }
        };
        for e in events {
            last = e.rv;
            if matches(&e.object) {
                chunk(&mut stream, &json!({"type": e.kind, "object": e.object}))?;
            }
        }
        stream.flush()?;
    }
    stream.write_all(b"0\r\n\r\n")?;
    stream.flush()
}

pub(crate) fn chunk(stream: &mut TcpStream, event: &Value) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    write!(stream, "{:x}\r\n", line.len())?;
    stream.write_all(&line)?;
    stream.write_all(b"\r\n")
}
