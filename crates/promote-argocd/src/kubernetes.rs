//! [`KubeArgoCd`]: Argo CD's Applications through the Kubernetes API of the cluster it runs in,
//! with kube's dynamic client (every field this crate does not know is kept on write).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use promote_core::argocd::{
    AppRef, Application, ArgoCd, ArgoCdError, AutoSyncDisabledBy, OperationRefused,
    RollbackRequest, Started, StartedRollback, SyncRequest, SyncWindow, Timestamp, WaitGoal,
    WaitReport, app_project, parse_sync_windows,
};

use crate::clock::now_precise;
use crate::connect::{self, ConnectError, ConnectOptions};
use crate::operation::{
    annotations_patch, refresh_patch, set_operation, sync_operation, terminate_operation,
};
use crate::prepare::{RollbackContext, prepare_resume, prepare_rollback, refused};
use crate::wait::Seen;

/// How many conflicting writes an operation tolerates before giving up (Argo CD's terminate
/// uses 10).
const CONFLICT_ATTEMPTS: u32 = 10;

/// Argo CD through the Kubernetes API of the cluster it runs in.
pub struct KubeArgoCd {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    namespace: String,
    resource: ApiResource,
}

impl std::fmt::Debug for KubeArgoCd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeArgoCd")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Kubernetes' answer to one request, sorted by what we do about it.
enum Failure {
    Conflict,
    Other(ArgoCdError),
}

fn classify(app: &str, action: &'static str, e: kube::Error) -> Failure {
    match e {
        kube::Error::Api(status) => match status.code {
            409 if status.reason == "Conflict" => Failure::Conflict,
            404 => Failure::Other(ArgoCdError::NotFound {
                app: app.to_owned(),
            }),
            403 => Failure::Other(ArgoCdError::Forbidden {
                app: app.to_owned(),
                action,
                message: status.message.clone(),
            }),
            code => Failure::Other(ArgoCdError::Api {
                app: app.to_owned(),
                action,
                code,
                message: status.message.clone(),
            }),
        },
        other => Failure::Other(ArgoCdError::Transport {
            app: app.to_owned(),
            action,
            cause: Box::new(other),
        }),
    }
}

fn fail(app: &str, action: &'static str, e: kube::Error) -> ArgoCdError {
    match classify(app, action, e) {
        Failure::Conflict => ArgoCdError::Conflict {
            app: app.to_owned(),
            action,
            attempts: 1,
        },
        Failure::Other(e) => e,
    }
}

fn to_json(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

fn read(app: &str, obj: &DynamicObject) -> Result<Application, ArgoCdError> {
    Application::from_json(to_json(obj)).map_err(|cause| ArgoCdError::Unreadable {
        app: app.to_owned(),
        cause,
    })
}

fn to_object(app: &str, doc: Value) -> Result<DynamicObject, ArgoCdError> {
    serde_json::from_value(doc).map_err(|e| ArgoCdError::Transport {
        app: app.to_owned(),
        action: "encode",
        cause: Box::new(e),
    })
}

impl KubeArgoCd {
    /// Connects as kubectl would with these flags.
    pub fn connect(options: &ConnectOptions) -> Result<Self, ConnectError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ConnectError::Runtime)?;
        let (client, namespace) = runtime.block_on(connect::client(options))?;
        let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
        Ok(KubeArgoCd {
            runtime,
            client,
            namespace,
            resource: ApiResource::from_gvk_with_plural(&gvk, "applications"),
        })
    }

    /// The namespace used for an [`AppRef`] without one.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api(&self, app: &AppRef) -> Api<DynamicObject> {
        let ns = app.namespace.as_deref().unwrap_or(&self.namespace);
        Api::namespaced_with(self.client.clone(), ns, &self.resource)
    }

    fn label(&self, app: &AppRef) -> String {
        format!(
            "{}/{}",
            app.namespace.as_deref().unwrap_or(&self.namespace),
            app.name
        )
    }

    /// A JSON merge patch of the Application (refresh, annotations): no resourceVersion, so no
    /// conflict to retry.
    fn merge_patch(
        &self,
        app: &AppRef,
        action: &'static str,
        patch: &Value,
    ) -> Result<Application, ArgoCdError> {
        let label = self.label(app);
        let obj = self
            .runtime
            .block_on(
                self.api(app)
                    .patch(&app.name, &PatchParams::default(), &Patch::Merge(patch)),
            )
            .map_err(|e| fail(&label, action, e))?;
        read(&label, &obj)
    }

    /// GET, change, replace with the fetched resourceVersion; again on 409. `change` returns
    /// the document to write and a value to hand back. `first`: the app as the caller last read
    /// it, changed and written without a GET on the first attempt (a 409 reads it again).
    async fn read_modify_write<T>(
        &self,
        app: &AppRef,
        action: &'static str,
        mut first: Option<Value>,
        mut change: impl AsyncChange<T>,
    ) -> Result<(Application, T), ArgoCdError> {
        let api = self.api(app);
        let label = self.label(app);
        for _ in 0..CONFLICT_ATTEMPTS {
            let current = match first.take() {
                Some(doc) => doc,
                None => to_json(
                    &api.get(&app.name)
                        .await
                        .map_err(|e| fail(&label, action, e))?,
                ),
            };
            let (doc, out) = change.change(&api, &label, current).await?;
            let obj = to_object(&label, doc)?;
            match api.replace(&app.name, &PostParams::default(), &obj).await {
                Ok(written) => return Ok((read(&label, &written)?, out)),
                Err(e) => match classify(&label, action, e) {
                    Failure::Conflict => continue,
                    Failure::Other(e) => return Err(e),
                },
            }
        }
        Err(ArgoCdError::Conflict {
            app: label,
            action,
            attempts: CONFLICT_ATTEMPTS,
        })
    }

    async fn wait_async(
        &self,
        app: &AppRef,
        goal: &WaitGoal,
        timeout: Duration,
    ) -> Result<WaitReport, ArgoCdError> {
        let api = self.api(app);
        let label = self.label(app);
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = Seen::default();
        let timed_out = |seen: &Seen| seen.timed_out(&label, goal, timeout);
        let mut resource_version = String::new();
        loop {
            if resource_version.is_empty() {
                let current =
                    match tokio::time::timeout_at(seen.until(deadline), api.get(&app.name)).await {
                        Err(_) => return seen.settled(started).ok_or_else(|| timed_out(&seen)),
                        Ok(r) => r.map_err(|e| fail(&label, "watch", e))?,
                    };
                let app = read(&label, &current)?;
                resource_version = app.resource_version.clone();
                if let Some(report) = seen.observe(app, goal, started) {
                    return Ok(report);
                }
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return seen.settled(started).ok_or_else(|| timed_out(&seen));
            }
            let secs = u32::try_from(remaining.as_secs().clamp(1, 290)).unwrap_or(290);
            let params = WatchParams::default()
                .fields(&format!("metadata.name={}", app.name))
                .timeout(secs);
            let stream = match tokio::time::timeout_at(
                seen.until(deadline),
                api.watch(&params, &resource_version),
            )
            .await
            {
                Err(_) => return seen.settled(started).ok_or_else(|| timed_out(&seen)),
                Ok(r) => r.map_err(|e| fail(&label, "watch", e))?,
            };
            let mut stream = Box::pin(stream);
            loop {
                let event = match tokio::time::timeout_at(seen.until(deadline), stream.next()).await
                {
                    Err(_) => return seen.settled(started).ok_or_else(|| timed_out(&seen)),
                    Ok(None) => break, // the server ended the watch: watch again from where we are
                    Ok(Some(e)) => e.map_err(|e| fail(&label, "watch", e))?,
                };
                match event {
                    WatchEvent::Added(obj) | WatchEvent::Modified(obj) => {
                        let app = read(&label, &obj)?;
                        resource_version = app.resource_version.clone();
                        if let Some(report) = seen.observe(app, goal, started) {
                            return Ok(report);
                        }
                    }
                    WatchEvent::Deleted(_) => {
                        return Err(ArgoCdError::NotFound { app: label.clone() });
                    }
                    WatchEvent::Bookmark(b) => resource_version = b.metadata.resource_version,
                    WatchEvent::Error(status) if status.code == 410 => {
                        // Too old: start again from a fresh GET.
                        resource_version.clear();
                        break;
                    }
                    WatchEvent::Error(status) => {
                        return Err(ArgoCdError::Api {
                            app: label.clone(),
                            action: "watch",
                            code: status.code,
                            message: status.message,
                        });
                    }
                }
            }
        }
    }
}

/// A step of [`KubeArgoCd::read_modify_write`]: from the fetched document to the one to write.
trait AsyncChange<T> {
    async fn change(
        &mut self,
        api: &Api<DynamicObject>,
        label: &str,
        current: Value,
    ) -> Result<(Value, T), ArgoCdError>;
}

/// A pure change.
struct Pure<F>(F);

impl<T, F: FnMut(Value) -> Result<(Value, T), ArgoCdError>> AsyncChange<T> for Pure<F> {
    async fn change(
        &mut self,
        _: &Api<DynamicObject>,
        _: &str,
        current: Value,
    ) -> Result<(Value, T), ArgoCdError> {
        (self.0)(current)
    }
}

/// The rollback write: probe with a server-side dry run whether `automated.enabled=false`
/// survives admission, fall back to removing `automated` when it does not.
struct RollbackChange<'a> {
    request: &'a RollbackRequest,
    context: RollbackContext,
}

impl AsyncChange<AutoSyncDisabledBy> for RollbackChange<'_> {
    async fn change(
        &mut self,
        api: &Api<DynamicObject>,
        label: &str,
        current: Value,
    ) -> Result<(Value, AutoSyncDisabledBy), ArgoCdError> {
        let before =
            Application::from_json(current.clone()).map_err(|cause| ArgoCdError::Unreadable {
                app: label.to_owned(),
                cause,
            })?;
        let doc = prepare_rollback(
            &current,
            self.request,
            &self.context,
            AutoSyncDisabledBy::EnabledFalse,
        )
        .map_err(|e| refused(label, "roll back", e))?;
        if !before.auto_sync.is_enabled() {
            return Ok((doc, AutoSyncDisabledBy::AlreadyOff));
        }
        let name = before.name.clone();
        let probe = to_object(label, doc.clone())?;
        let admitted = match api
            .replace(
                &name,
                &PostParams {
                    dry_run: true,
                    field_manager: None,
                },
                &probe,
            )
            .await
        {
            Ok(o) => read(label, &o)?,
            // A conflict here means the app moved: the real replace will conflict too and the
            // loop starts over; anything else is the answer.
            Err(e) => match classify(label, "roll back", e) {
                Failure::Conflict => return Ok((doc, AutoSyncDisabledBy::EnabledFalse)),
                Failure::Other(e) => return Err(e),
            },
        };
        if !admitted.auto_sync.is_enabled() {
            return Ok((doc, AutoSyncDisabledBy::EnabledFalse));
        }
        // The CRD pruned `enabled` (Argo CD before 3.1): remove `automated`, keep its copy.
        let doc = prepare_rollback(
            &current,
            self.request,
            &self.context,
            AutoSyncDisabledBy::Removed,
        )
        .map_err(|e| refused(label, "roll back", e))?;
        Ok((doc, AutoSyncDisabledBy::Removed))
    }
}

impl KubeArgoCd {
    async fn get(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        let label = self.label(app);
        let obj = self
            .api(app)
            .get(&app.name)
            .await
            .map_err(|e| fail(&label, "get", e))?;
        read(&label, &obj)
    }
}

impl KubeArgoCd {
    fn roll_back(
        &self,
        app: &AppRef,
        first: Option<Value>,
        request: &RollbackRequest,
        now: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError> {
        let label = self.label(app);
        let context = RollbackContext {
            user: request.user.clone(),
            reason: request.reason.clone(),
            now,
        };
        let change = RollbackChange { request, context };
        let (written, disabled_by) =
            self.runtime
                .block_on(self.read_modify_write(app, "roll back", first, change))?;
        if written.auto_sync.is_enabled() {
            return Err(ArgoCdError::AutoSyncStillOn { app: label });
        }
        Ok(StartedRollback {
            started: Started::rollback(written, request.id),
            disabled_by,
        })
    }
}

impl ArgoCd for KubeArgoCd {
    fn application(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        self.runtime.block_on(self.get(app))
    }

    /// The GETs at once, on this client's connection pool.
    fn applications(&self, apps: &[AppRef]) -> Vec<Result<Application, ArgoCdError>> {
        self.runtime.block_on(futures_util::future::join_all(
            apps.iter().map(|a| self.get(a)),
        ))
    }

    fn refresh(&self, app: &AppRef, hard: bool) -> Result<Application, ArgoCdError> {
        self.merge_patch(app, "refresh", &refresh_patch(hard, now_precise()))
    }

    fn sync(&self, app: &AppRef, request: &SyncRequest) -> Result<Started, ArgoCdError> {
        let change = Pure(|mut doc: Value| {
            let label = self.label(app);
            let current =
                Application::from_json(doc.clone()).map_err(|cause| ArgoCdError::Unreadable {
                    app: label.clone(),
                    cause,
                })?;
            let refuse = |reason: OperationRefused| ArgoCdError::Refused {
                app: label.clone(),
                action: "sync",
                reason,
            };
            let operation = sync_operation(&current, request).map_err(refuse)?;
            set_operation(&mut doc, operation).map_err(refuse)?;
            Ok((doc, ()))
        });
        let (written, ()) = self
            .runtime
            .block_on(self.read_modify_write(app, "sync", None, change))?;
        Ok(Started::sync(written, request))
    }

    fn rollback(
        &self,
        app: &AppRef,
        request: &RollbackRequest,
        now: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError> {
        self.roll_back(app, None, request, now)
    }

    /// The first replace goes against `current` (one GET fewer); a 409 reads again.
    fn rollback_from(
        &self,
        app: &AppRef,
        current: &Application,
        request: &RollbackRequest,
        now: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError> {
        let same = current.name == app.name
            && current.namespace == app.namespace.as_deref().unwrap_or(&self.namespace);
        let first = (same && !current.resource_version.is_empty()).then(|| current.raw.clone());
        self.roll_back(app, first, request, now)
    }

    fn resume(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        let label = self.label(app);
        let change = Pure(|doc: Value| {
            Ok((
                prepare_resume(&doc).map_err(|e| refused(&label, "resume", e))?,
                (),
            ))
        });
        Ok(self
            .runtime
            .block_on(self.read_modify_write(app, "resume", None, change))?
            .0)
    }

    fn terminate_operation(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        let label = self.label(app);
        let change = Pure(|mut doc: Value| {
            terminate_operation(&mut doc).map_err(|reason| ArgoCdError::Refused {
                app: label.clone(),
                action: "terminate the operation of",
                reason,
            })?;
            Ok((doc, ()))
        });
        Ok(self
            .runtime
            .block_on(self.read_modify_write(app, "terminate the operation of", None, change))?
            .0)
    }

    /// The AppProject lives in Argo CD's own namespace (the default one here), wherever the
    /// Application is.
    fn project_sync_windows(&self, app: &Application) -> Result<Vec<SyncWindow>, ArgoCdError> {
        let project = app_project(app);
        let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "appprojects");
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
        let label = format!("{}/{} (AppProject {project})", app.namespace, app.name);
        let obj = self
            .runtime
            .block_on(api.get(&project))
            .map_err(|e| fail(&label, "get the project of", e))?;
        Ok(parse_sync_windows(&to_json(&obj)))
    }

    fn wait(
        &self,
        app: &AppRef,
        goal: &WaitGoal,
        timeout: Duration,
    ) -> Result<WaitReport, ArgoCdError> {
        self.runtime.block_on(self.wait_async(app, goal, timeout))
    }

    fn annotate(
        &self,
        app: &AppRef,
        annotations: &[(String, Option<String>)],
    ) -> Result<Application, ArgoCdError> {
        self.merge_patch(app, "annotate", &annotations_patch(annotations))
    }
}
