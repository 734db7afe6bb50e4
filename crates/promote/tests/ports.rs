//! A whole promotion through [`Ports`] built from in-memory fakes: `promotion::run` as the
//! binary calls it, with an Argo CD that lives in a `Mutex` instead of a cluster. What is real:
//! git (a bare remote in a temp dir), `kubectl kustomize` and the built-in policies; what is
//! fake: the Argo CD port only. This is the seam STYLE.md promises: a use case tested without
//! any adapter crate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use promote::deploy::{Deployment, Waited};
use promote::images::ImageMode;
use promote::ports::{ArgoCdClient, ArgoCdConnector, Location, Purpose, Transport};
use promote::promotion::{self, Outcome, PromoteRequest, Request, TargetSpec};
use promote::render::{RenderProgram, Renderer};
use promote::{Ports, Quiet, Workspace};
use promote_core::argocd::{
    AppRef, Application, ArgoCd, ArgoCdError, HealthStatus, RollbackRequest, Started,
    StartedRollback, SyncRequest, SyncWindow, Timestamp, WaitGoal, WaitOutcome, WaitReport,
};
use promote_core::config::Environment;
use promote_testkit::repo::{GitOps, workspace_root};

/// An Argo CD of one Application whose controller acts at once: a sync deploys the revision
/// asked for and the app comes out with the health the test chose.
struct MemArgo {
    app: Mutex<Value>,
    /// The health the app reports after a sync.
    health_after_sync: &'static str,
    /// Every sync asked for, in order.
    syncs: Mutex<Vec<SyncRequest>>,
    /// The bare remote the app's `repoURL` names: a sync to the branch deploys its tip.
    origin: std::path::PathBuf,
}

impl MemArgo {
    fn new(kit: &GitOps, name: &str, health_after_sync: &'static str) -> Arc<MemArgo> {
        Arc::new(MemArgo {
            app: Mutex::new(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": name, "namespace": "argocd", "resourceVersion": "1"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": kit.origin.to_str().unwrap(), "path": "kustomize/staging", "targetRevision": "main"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "staging"},
                },
                "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}, "history": []},
            })),
            health_after_sync,
            syncs: Mutex::new(Vec::new()),
            origin: kit.origin.clone(),
        })
    }

    fn branch_tip(&self) -> String {
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&self.origin)
            .args(["rev-parse", "refs/heads/main"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn current(&self) -> Application {
        Application::from_json(self.app.lock().unwrap().clone()).unwrap()
    }
}

impl ArgoCd for MemArgo {
    fn application(&self, _: &AppRef) -> Result<Application, ArgoCdError> {
        Ok(self.current())
    }
    fn refresh(&self, _: &AppRef, _: bool) -> Result<Application, ArgoCdError> {
        Ok(self.current())
    }
    fn sync(&self, _: &AppRef, request: &SyncRequest) -> Result<Started, ArgoCdError> {
        self.syncs.lock().unwrap().push(request.clone());
        let mut app = self.app.lock().unwrap();
        let operation = json!({
            "sync": {"revision": request.revision, "prune": request.prune},
            "initiatedBy": {"username": request.user},
            "info": [{"name": "promote-id", "value": request.promote_id}],
        });
        app["operation"] = operation.clone();
        let written = Application::from_json(app.clone()).unwrap();
        // The controller: the operation ran, the revision asked for (else the branch's tip, as
        // Argo CD resolves `targetRevision`) is deployed.
        let revision = request
            .revision
            .clone()
            .unwrap_or_else(|| self.branch_tip());
        app.as_object_mut().unwrap().remove("operation");
        app["status"]["operationState"] = json!({
            "operation": operation, "phase": "Succeeded", "message": "successfully synced",
            "startedAt": "2026-12-01T10:00:00Z", "finishedAt": "2026-12-01T10:00:01Z",
            "syncResult": {"revision": revision},
        });
        let source = app["spec"]["source"].clone();
        let history = app["status"]["history"].as_array_mut().unwrap();
        let id = history.len();
        history.push(json!({
            "id": id, "revision": revision, "deployedAt": "2026-12-01T10:00:01Z",
            "source": source, "initiatedBy": {"username": request.user},
        }));
        app["status"]["sync"] = json!({"status": "Synced", "revision": revision});
        app["status"]["health"] = json!({"status": self.health_after_sync});
        app["status"]["reconciledAt"] = json!("2026-12-01T10:00:02Z");
        Ok(Started::sync(written, request))
    }
    fn rollback(
        &self,
        app: &AppRef,
        _: &RollbackRequest,
        _: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError> {
        Err(refused(app))
    }
    fn resume(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        Err(refused(app))
    }
    fn terminate_operation(&self, app: &AppRef) -> Result<Application, ArgoCdError> {
        Err(refused(app))
    }
    fn annotate(
        &self,
        _: &AppRef,
        annotations: &[(String, Option<String>)],
    ) -> Result<Application, ArgoCdError> {
        let mut app = self.app.lock().unwrap();
        for (key, value) in annotations {
            let meta = app["metadata"].as_object_mut().unwrap();
            let notes = meta.entry("annotations").or_insert_with(|| json!({}));
            match value {
                Some(v) => notes[key] = json!(v),
                None => {
                    notes.as_object_mut().unwrap().remove(key);
                }
            }
        }
        Ok(Application::from_json(app.clone()).unwrap())
    }
    fn project_sync_windows(&self, _: &Application) -> Result<Vec<SyncWindow>, ArgoCdError> {
        Ok(Vec::new())
    }
    fn wait(&self, _: &AppRef, goal: &WaitGoal, _: Duration) -> Result<WaitReport, ArgoCdError> {
        let app = self.current();
        let _ = goal;
        let outcome = match app.health {
            HealthStatus::Degraded => WaitOutcome::Degraded {
                message: "Deployment checkout has timed out progressing".into(),
            },
            _ => WaitOutcome::Ready,
        };
        Ok(WaitReport {
            outcome,
            app,
            waited: Duration::from_secs(1),
        })
    }
}

fn refused(app: &AppRef) -> ArgoCdError {
    ArgoCdError::Api {
        app: app.name.clone(),
        action: "this test",
        code: 501,
        message: "not part of the in-memory Argo CD".into(),
    }
}

/// The Argo CD port: every environment's app is the one in memory.
struct MemConnector(Arc<MemArgo>);

impl ArgoCdConnector for MemConnector {
    fn locate(
        &self,
        env: &Environment,
        _: Purpose,
    ) -> Result<Location, promote::deploy::ArgoError> {
        let target = env.argocd.as_ref().expect("an env with an app");
        Ok(Location {
            app: AppRef {
                namespace: Some(target.namespace.clone()),
                name: target.app.clone(),
            },
            via: "memory".into(),
            transport: Transport::Rest {
                server: "memory".into(),
                from: "the test",
                insecure: false,
                request_timeout: None,
            },
        })
    }
    fn open(&self, _: &Transport) -> Result<ArgoCdClient, String> {
        Ok(self.0.clone())
    }
    fn describe(&self, _: &Location) -> String {
        "the in-memory Argo CD".into()
    }
}

fn ports(kit: &GitOps, argo: &Arc<MemArgo>) -> Ports {
    let workspace = Workspace {
        cwd: kit.clone.clone(),
        cache_dir: kit.home.join(".cache/kubectl-promote"),
        ..Default::default()
    };
    let renderer = Renderer {
        program: RenderProgram::Kubectl("kubectl".into()),
        helm: "helm".into(),
        cache: None,
        speculation: None,
    };
    let mut ports = Ports::new(workspace, renderer);
    ports.argocd = Box::new(MemConnector(argo.clone()));
    ports
}

fn promote_staging(ports: &Ports) -> Outcome {
    let req = Request {
        change: PromoteRequest {
            env: "staging".into(),
            target: TargetSpec::Version("v1.0.1".into()),
            only: vec![],
            digests: Default::default(),
            drop_digests: false,
            mode: None,
            message: None,
            author: Some("Ana <ana@example.com>".parse().unwrap()),
        },
        images: ImageMode::Skip,
        dry_run: false,
        yes: true,
        wait: Some(Duration::from_secs(30)),
        resume: false,
        override_reason: None,
        after: Default::default(),
        wave: None,
        apps: None,
    };
    promotion::run(ports, req, &Quiet).unwrap()
}

fn waited(outcome: &Outcome) -> &Waited {
    let Outcome::Landed(delivered) = outcome else {
        panic!("expected a landed promotion, got {outcome:?}");
    };
    match delivered
        .deployment
        .as_ref()
        .expect("a push reaches Argo CD")
    {
        Ok(Deployment::Waited { waited, .. }) => waited,
        other => panic!("expected a wait, got {other:?}"),
    }
}

#[test]
fn a_promotion_through_in_memory_ports_syncs_and_waits_until_the_pushed_commit_runs() {
    let kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    let argo = MemArgo::new(&kit, "staging-microservices-demo", "Healthy");
    let outcome = promote_staging(&ports(&kit, &argo));

    let head = kit.origin_head();
    assert!(
        matches!(waited(&outcome), Waited::Ready { revision: Some(r), .. } if *r == head),
        "{outcome:?}"
    );
    let syncs = argo.syncs.lock().unwrap();
    assert_eq!(syncs.len(), 1, "one sync: {syncs:?}");
    // The branch, not the SHA (a later commit on it wins, as with auto-sync); the wait then
    // checked that what runs is the pushed commit.
    assert_eq!(syncs[0].revision, None);
    assert!(
        !syncs[0].promote_id.is_empty(),
        "the wait knows its operation"
    );
    assert!(
        kit.origin_file("kustomize/staging/kustomization.yaml")
            .unwrap()
            .contains("newTag: v1.0.1")
    );
}

#[test]
fn a_degraded_deploy_through_in_memory_ports_is_an_outcome_and_the_commit_stays() {
    let kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    let before = kit.origin_head();
    let argo = MemArgo::new(&kit, "staging-microservices-demo", "Degraded");
    let outcome = promote_staging(&ports(&kit, &argo));

    assert!(
        matches!(waited(&outcome), Waited::Degraded { message, .. } if message.contains("timed out progressing")),
        "{outcome:?}"
    );
    // The push is not undone (DESIGN: a bad deploy is rolled back, not un-pushed).
    assert_ne!(kit.origin_head(), before);
}
