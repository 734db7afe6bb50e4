//! Argo CD through argocd-server's REST API (`specs/argocd.md` §4), for users who reach Argo CD
//! but not its cluster. Same `ArgoCd` trait as the kube transport; the differences are Argo CD's:
//!
//! * Sync and rollback are `POST .../sync` and `POST .../rollback`: the API server builds the
//!   operation and does `SetAppOperation` itself; its refusals come back as
//!   `{"error","code","message"}` and are mapped back to [`OperationRefused`].
//! * `initiatedBy.username` is the session's user (the token's account), not ours.
//! * A rollback cannot be one write: like Argo CD's UI, it first `PUT`s the app with auto-sync off
//!   and our marker (`?validate=false`), reads it back (a server before 3.2 drops `enabled`, so
//!   it falls back to removing `automated`), then `POST`s the rollback. If that POST fails,
//!   auto-sync stays off and the marker stays, and the error says so.
//! * Every non-GET request carries `Content-Type: application/json` (argocd-server answers 415
//!   otherwise, DELETE included); auth is `Authorization: Bearer <token>`.
//!
//! HTTP, TLS and timeouts come from kube's client, pointed at argocd-server instead of a cluster.

use std::time::{Duration, Instant};

use futures_util::{AsyncBufReadExt, StreamExt};
use http::{HeaderName, HeaderValue, Method, Request};
use serde_json::{Value, json};

use promote_core::argocd::{
    AppRef, Application, ArgoCd, ArgoCdError, AutoSyncDisabledBy, OperationRefused,
    RollbackRequest, Started, StartedRollback, SyncRequest, SyncWindow, Timestamp, WaitGoal,
    WaitReport, app_project, parse_sync_windows,
};

use crate::connect::ConnectError;
use crate::operation::{PROMOTE_ID_INFO, apply_annotations};
use crate::prepare::{RollbackContext, prepare_auto_sync_off, prepare_resume, refused};
use crate::wait::Seen;

/// How to reach argocd-server (`--argocd-server`, `ARGOCD_SERVER`, `ARGOCD_AUTH_TOKEN`).
#[derive(Clone, PartialEq, Eq)]
pub struct RestOptions {
    /// `https://argocd.example.com` (with a `--rootpath` prefix if the server has one).
    pub server: String,
    /// A session or account token.
    pub token: String,
    /// Accept a self-signed certificate (`argocd --insecure`).
    pub insecure: bool,
    /// `appNamespace` for apps outside the control-plane namespace (`None`: the server's).
    pub app_namespace: Option<String>,
    pub request_timeout: Option<Duration>,
}

impl std::fmt::Debug for RestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestOptions")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .field("insecure", &self.insecure)
            .field("app_namespace", &self.app_namespace)
            .finish()
    }
}

/// Argo CD through argocd-server.
pub struct RestArgoCd {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    app_namespace: Option<String>,
}

impl std::fmt::Debug for RestArgoCd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestArgoCd")
            .field("app_namespace", &self.app_namespace)
            .finish_non_exhaustive()
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// argocd-server's error answer mapped to ours: its refusals in its own words first (a window
/// that blocks a sync is a 403 too, and no RBAC problem), then by status.
fn api_error(app: &str, action: &'static str, http_status: u16, body: &[u8]) -> ArgoCdError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let grpc = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_i64);
    if let Some(reason) = OperationRefused::from_argo_message(&message) {
        return ArgoCdError::Refused {
            app: app.to_owned(),
            action,
            reason,
        };
    }
    match (http_status, grpc) {
        (404, _) | (_, Some(5)) => ArgoCdError::NotFound {
            app: app.to_owned(),
        },
        // argocd-server answers a missing app with the 403 it gives a token without access.
        (403, _) | (_, Some(7)) if action == "get" => ArgoCdError::NotFoundOrForbidden {
            app: app.to_owned(),
            message,
        },
        (403, _) | (_, Some(7)) => ArgoCdError::Forbidden {
            app: app.to_owned(),
            action,
            message,
        },
        (409, _) | (_, Some(10)) => ArgoCdError::Conflict {
            app: app.to_owned(),
            action,
            attempts: 1,
        },
        (code, _) => ArgoCdError::Api {
            app: app.to_owned(),
            action,
            code,
            message,
        },
    }
}

fn transport(
    app: &str,
    action: &'static str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> ArgoCdError {
    ArgoCdError::Transport {
        app: app.to_owned(),
        action,
        cause: Box::new(e),
    }
}

impl RestArgoCd {
    pub fn connect(options: &RestOptions) -> Result<Self, ConnectError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ConnectError::Runtime)?;
        let uri: http::Uri = options
            .server
            .parse()
            .map_err(|cause| ConnectError::ServerUrl {
                url: options.server.clone(),
                cause,
            })?;
        let mut config = kube::Config::new(uri);
        config.accept_invalid_certs = options.insecure;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", options.token))
            .map_err(|_| ConnectError::Token)?;
        let mut bearer = bearer;
        bearer.set_sensitive(true);
        config
            .headers
            .push((HeaderName::from_static("authorization"), bearer));
        if let Some(t) = options.request_timeout {
            config.connect_timeout = Some(t);
            config.write_timeout = Some(t);
            config.read_timeout = Some(t);
        } else {
            // The stream endpoint is long-lived; waits bound it with their own deadline.
            config.read_timeout = None;
        }
        let client = runtime
            .block_on(async { kube::Client::try_from(config) })
            .map_err(ConnectError::Client)?;
        Ok(RestArgoCd {
            runtime,
            client,
            app_namespace: options.app_namespace.clone(),
        })
    }

    fn namespace<'a>(&'a self, app: &'a AppRef) -> Option<&'a str> {
        app.namespace.as_deref().or(self.app_namespace.as_deref())
    }

    fn label(&self, app: &AppRef) -> String {
        match self.namespace(app) {
            Some(ns) => format!("{ns}/{}", app.name),
            None => app.name.clone(),
        }
    }

    fn path(&self, app: &AppRef, suffix: &str, query: &[(&str, &str)]) -> String {
        let mut p = format!("/api/v1/applications/{}{suffix}", encode(&app.name));
        let mut q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        if let Some(ns) = self.namespace(app) {
            q.push(format!("appNamespace={}", encode(ns)));
        }
        if !q.is_empty() {
            p.push('?');
            p.push_str(&q.join("&"));
        }
        p
    }

    async fn call(
        &self,
        app: &AppRef,
        action: &'static str,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, ArgoCdError> {
        let label = self.label(app);
        let mut req = Request::builder().method(method.clone()).uri(path);
        if method != Method::GET {
            req = req.header("content-type", "application/json");
        }
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap_or_default())
            .unwrap_or_default();
        let req = req
            .body(kube::client::Body::from(bytes))
            .map_err(|e| transport(&label, action, e))?;
        let res = self
            .client
            .send(req)
            .await
            .map_err(|e| transport(&label, action, e))?;
        let status = res.status();
        let body = res
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| transport(&label, action, e))?;
        if !status.is_success() {
            return Err(api_error(&label, action, status.as_u16(), &body));
        }
        serde_json::from_slice(&body).map_err(|e| transport(&label, action, e))
    }

    async fn get(&self, app: &AppRef, query: &[(&str, &str)]) -> Result<Application, ArgoCdError> {
        let v = self
            .call(app, "get", Method::GET, self.path(app, "", query), None)
            .await?;
        self.read(app, v)
    }

    fn read(&self, app: &AppRef, v: Value) -> Result<Application, ArgoCdError> {
        Application::from_json(v).map_err(|cause| ArgoCdError::Unreadable {
            app: self.label(app),
            cause,
        })
    }

    /// `PUT ?validate=false` with the whole app, as Argo CD's UI does before a rollback.
    async fn update(
        &self,
        app: &AppRef,
        action: &'static str,
        doc: Value,
    ) -> Result<Application, ArgoCdError> {
        let v = self
            .call(
                app,
                action,
                Method::PUT,
                self.path(app, "", &[("validate", "false")]),
                Some(doc),
            )
            .await?;
        self.read(app, v)
    }

    async fn wait_async(
        &self,
        app: &AppRef,
        goal: &WaitGoal,
        timeout: Duration,
    ) -> Result<WaitReport, ArgoCdError> {
        let label = self.label(app);
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = Seen::default();
        let timed_out = |seen: &Seen| seen.timed_out(&label, goal, timeout);
        loop {
            let mut query = vec![format!("name={}", encode(&app.name))];
            if let Some(ns) = self.namespace(app) {
                query.push(format!("appNamespace={}", encode(ns)));
            }
            let req = Request::builder()
                .method(Method::GET)
                .uri(format!("/api/v1/stream/applications?{}", query.join("&")))
                .body(Vec::new())
                .map_err(|e| transport(&label, "watch", e))?;
            let stream = match tokio::time::timeout_at(
                seen.until(deadline),
                self.client.request_stream(req),
            )
            .await
            {
                Err(_) => return seen.settled(started).ok_or_else(|| timed_out(&seen)),
                Ok(Ok(s)) => s,
                Ok(Err(kube::Error::Api(status))) => {
                    return Err(api_error(
                        &label,
                        "watch",
                        status.code,
                        status.message.as_bytes(),
                    ));
                }
                Ok(Err(e)) => return Err(transport(&label, "watch", e)),
            };
            let mut lines = Box::pin(stream.lines());
            loop {
                let line = match tokio::time::timeout_at(seen.until(deadline), lines.next()).await {
                    Err(_) => return seen.settled(started).ok_or_else(|| timed_out(&seen)),
                    Ok(None) => break,
                    Ok(Some(l)) => l.map_err(|e| transport(&label, "watch", e))?,
                };
                if line.trim().is_empty() {
                    continue;
                }
                let event: Value =
                    serde_json::from_str(&line).map_err(|e| transport(&label, "watch", e))?;
                if let Some(err) = event.get("error") {
                    let code = err
                        .get("http_code")
                        .and_then(Value::as_u64)
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(500);
                    return Err(api_error(&label, "watch", code, err.to_string().as_bytes()));
                }
                let kind = event
                    .pointer("/result/type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if kind == "DELETED" {
                    return Err(ArgoCdError::NotFound { app: label.clone() });
                }
                let Some(obj) = event.pointer("/result/application").cloned() else {
                    continue;
                };
                let current = self.read(app, obj)?;
                if let Some(report) = seen.observe(current, goal, started) {
                    return Ok(report);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return seen.settled(started).ok_or_else(|| timed_out(&seen));
            }
        }
    }
}

impl ArgoCd for RestArgoCd {
    fn application(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        self.runtime.block_on(self.get(app, &[]))
    }

    /// The GETs at once, on this client's connection pool.
    fn applications(&self, apps: &[AppRef]) -> Vec<Result<Application, ArgoCdError>> {
        self.runtime.block_on(futures_util::future::join_all(
            apps.iter().map(|a| self.get(a, &[])),
        ))
    }

    /// `GET ?refresh=normal|hard`: argocd-server blocks until the controller has refreshed.
    fn refresh(&self, app: &AppRef, hard: bool) -> Result<Application, ArgoCdError> {
        self.runtime
            .block_on(self.get(app, &[("refresh", if hard { "hard" } else { "normal" })]))
    }

    fn sync(&self, app: &AppRef, request: &SyncRequest) -> Result<Started, ArgoCdError> {
        let mut body = json!({
            "name": app.name,
            "revision": request.revision.clone().unwrap_or_default(),
            "prune": request.prune,
            "strategy": {"hook": {}},
            "infos": [{"name": PROMOTE_ID_INFO, "value": request.promote_id}],
        });
        if let Some(ns) = self.namespace(app) {
            body["appNamespace"] = json!(ns);
        }
        let v = self.runtime.block_on(self.call(
            app,
            "sync",
            Method::POST,
            self.path(app, "/sync", &[]),
            Some(body),
        ))?;
        let written = self.read(app, v)?;
        Ok(Started::sync(written, request))
    }

    fn rollback(
        &self,
        app: &AppRef,
        request: &RollbackRequest,
        now: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError> {
        let label = self.label(app);
        let ctx = RollbackContext {
            user: request.user.clone(),
            reason: request.reason.clone(),
            now,
        };
        self.runtime.block_on(async {
            let current = self.get(app, &[]).await?;
            if current.operation.is_some() {
                return Err(ArgoCdError::Refused { app: label.clone(), action: "roll back", reason: OperationRefused::AnotherOperationInProgress });
            }
            let doc = prepare_auto_sync_off(&current.raw, request, &ctx, AutoSyncDisabledBy::EnabledFalse)
                .map_err(|e| refused(&label, "roll back", e))?;
            let mut disabled_by = if current.auto_sync.is_enabled() { AutoSyncDisabledBy::EnabledFalse } else { AutoSyncDisabledBy::AlreadyOff };
            let mut written = self.update(app, "turn off auto-sync of", doc).await?;
            if written.auto_sync.is_enabled() {
                // `enabled` did not stick (server before 3.2): remove `automated`, keep its copy.
                let doc = prepare_auto_sync_off(&current.raw, request, &ctx, AutoSyncDisabledBy::Removed)
                    .map_err(|e| refused(&label, "roll back", e))?;
                written = self.update(app, "turn off auto-sync of", doc).await?;
                disabled_by = AutoSyncDisabledBy::Removed;
            }
            if written.auto_sync.is_enabled() {
                return Err(ArgoCdError::AutoSyncStillOn { app: label.clone() });
            }
            let mut body = json!({"name": app.name, "id": request.id, "prune": request.prune, "dryRun": request.dry_run});
            if let Some(ns) = self.namespace(app) {
                body["appNamespace"] = json!(ns);
            }
            let v = self.call(app, "roll back", Method::POST, self.path(app, "/rollback", &[]), Some(body)).await?;
            let written = self.read(app, v)?;
            Ok(StartedRollback { started: Started::rollback(written, request.id), disabled_by })
        })
    }

    fn resume(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        let label = self.label(app);
        self.runtime.block_on(async {
            let current = self.get(app, &[]).await?;
            let doc = prepare_resume(&current.raw).map_err(|e| refused(&label, "resume", e))?;
            self.update(app, "resume", doc).await
        })
    }

    fn terminate_operation(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        self.runtime.block_on(async {
            self.call(
                app,
                "terminate the operation of",
                Method::DELETE,
                self.path(app, "/operation", &[]),
                None,
            )
            .await?;
            self.get(app, &[]).await
        })
    }

    /// `GET /api/v1/projects/{name}` (ProjectService.Get) answers the AppProject itself.
    fn project_sync_windows(&self, app: &Application) -> Result<Vec<SyncWindow>, ArgoCdError> {
        let project = app_project(app);
        let at = AppRef {
            namespace: Some(app.namespace.clone()).filter(|n| !n.is_empty()),
            name: app.name.clone(),
        };
        let path = format!("/api/v1/projects/{}", encode(&project));
        let doc =
            self.runtime
                .block_on(self.call(&at, "get the project of", Method::GET, path, None))?;
        Ok(parse_sync_windows(&doc))
    }

    fn wait(
        &self,
        app: &AppRef,
        goal: &WaitGoal,
        timeout: Duration,
    ) -> Result<WaitReport, ArgoCdError> {
        self.runtime.block_on(self.wait_async(app, goal, timeout))
    }

    /// GET, change the annotations, `PUT ?validate=false`: argocd-server's update carries the
    /// body's annotations over, as it does for the UI's edits.
    fn annotate(
        &self,
        app: &AppRef,
        annotations: &[(String, Option<String>)],
    ) -> Result<Application, ArgoCdError> {
        self.runtime.block_on(async {
            let current = self.get(app, &[]).await?;
            let mut doc = current.raw;
            apply_annotations(&mut doc, annotations);
            self.update(app, "annotate", doc).await
        })
    }
}
