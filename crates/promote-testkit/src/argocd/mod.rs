//! A stand-in for a Kubernetes API server with Argo CD's application controller, for tests.
//!
//! **This is a stand-in, not Argo CD.** It implements the behaviour `shared/specs/argocd.md` §7
//! describes, read from Argo CD's source, and nothing more: single-source Kustomize apps only, no
//! hooks, no sync waves, no real cluster. Resources are "applied" to an in-memory live model;
//! health comes from that model and from what the test programs (per image tag), except that
//! Applications a parent app renders are written to the store as real children (app of apps,
//! finding D6 of docs/testbed-findings.md). What it does do
//! for real: it reads the actual git repository named by `repoURL` (a local path) with the `git`
//! CLI, renders the overlay at a commit with the real `kubectl kustomize`, and speaks the real
//! Kubernetes API over HTTP so the real kube client talks to it through a real kubeconfig.
//!
//! Pieces: [`store`] (objects, resourceVersions, the watch log), [`apiserver`] (HTTP),
//! [`controller`] (refresh, auto-sync, operations), [`render`] (git + kustomize), [`rest`]
//! (argocd-server's REST API with its API-server checks, on the same address).
//!
//! ```no_run
//! use promote_testkit::argocd::{ArgoCdStandIn, ArgoVersion, Options};
//! let argo = ArgoCdStandIn::start(Options::new(ArgoVersion::V3_5));
//! argo.create_application(serde_json::json!({"metadata": {"name": "shop"}, "spec": {}}));
//! let kubeconfig = argo.kubeconfig_path(); // context "stand-in", namespace "argocd"
//! ```

mod apiserver;
mod controller;
mod render;
mod rest;
mod store;
pub mod windows;
mod wire;

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use store::Store;

/// Which Argo CD the stand-in behaves as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgoVersion {
    /// Argo CD 3.0: the CRD has no `automated.enabled` (the apiserver prunes it) and any
    /// non-nil `automated` means auto-sync is on.
    V3_0,
    /// Argo CD 3.5: `automated.enabled: false` turns auto-sync off.
    V3_5,
}

/// Timing knobs. Real Argo CD reconciles every 120s + jitter; tests want less.
#[derive(Clone, Debug)]
pub struct Options {
    pub version: ArgoVersion,
    /// How often the controller looks at every app (its work queue, compressed).
    pub tick: Duration,
    /// `timeout.reconciliation`: a comparison older than this is refreshed.
    pub reconcile_period: Duration,
    /// How long one sync attempt takes between `Running` and its result.
    pub sync_duration: Duration,
    /// How long a freshly applied app reports `Progressing`.
    pub rollout_delay: Duration,
    /// The controller's self-heal back-off base (`--self-heal-backoff-timeout-seconds`).
    pub self_heal_backoff: Duration,
    /// The namespace Applications live in and the kubeconfig's default namespace.
    pub namespace: String,
}

impl Options {
    pub fn new(version: ArgoVersion) -> Self {
        Options {
            version,
            tick: Duration::from_millis(20),
            reconcile_period: Duration::from_secs(120),
            sync_duration: Duration::from_millis(300),
            rollout_delay: Duration::from_millis(300),
            self_heal_backoff: Duration::from_secs(2),
            namespace: "argocd".to_owned(),
        }
    }
}

/// What tests program: failures, health, windows, interference.
#[derive(Debug, Default)]
pub(crate) struct Controls {
    /// Health per image tag (e.g. `v1.0.2` → `Degraded`).
    pub health_by_tag: HashMap<String, String>,
    pub sync_window_blocked: bool,
    /// See [`ArgoCdStandIn::set_health_lag`].
    pub health_lag: Duration,
    pub apply_failure: Option<String>,
    /// `Some([])`: every verb is forbidden; `Some(verbs)`: those.
    pub forbidden: Option<Vec<String>>,
    pub interfere_with_replaces: u32,
    pub interference_count: u64,
}

pub(crate) struct Shared {
    store: Mutex<Store>,
    pub changed: Condvar,
    controls: Mutex<Controls>,
    pub stopping: AtomicBool,
    pub token: String,
    /// The argocd-server token (account `admin`).
    pub argocd_token: String,
    pub options: Options,
    log: Mutex<Vec<String>>,
    pub controller: Mutex<controller::State>,
    /// AppProjects by (namespace, name), served by both APIs and read by the controller.
    projects: Mutex<HashMap<store::Key, Value>>,
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().expect("store lock")
    }

    pub fn controls(&self) -> MutexGuard<'_, Controls> {
        self.controls.lock().expect("controls lock")
    }

    pub fn projects(&self) -> MutexGuard<'_, HashMap<store::Key, Value>> {
        self.projects.lock().expect("projects lock")
    }

    /// Whether the sync windows of `app`'s AppProject (in the stand-in's namespace) block a
    /// sync now: the test switch, or the stand-in's own [`windows::check`] (a window that cannot
    /// be read blocks, as Argo CD refuses syncs on an invalid window).
    pub fn sync_window_blocks(&self, app: &Value, manual: bool) -> bool {
        self.sync_window(app, manual) != windows::Window::Open
    }

    /// What the sync windows of `app`'s AppProject say about a sync now.
    pub fn sync_window(&self, app: &Value, manual: bool) -> windows::Window {
        if self.controls().sync_window_blocked {
            return windows::Window::Blocked;
        }
        let project = match app.pointer("/spec/project").and_then(Value::as_str) {
            Some(p) if !p.is_empty() => p,
            _ => "default",
        };
        let key = (self.options.namespace.clone(), project.to_owned());
        let Some(project) = self.projects().get(&key).cloned() else {
            return windows::Window::Open;
        };
        windows::check(&project, app, jiff::Timestamp::now(), manual)
    }

    pub fn log(&self, line: String) {
        self.log.lock().expect("log lock").push(line);
    }

    /// Whether the next replace meets a concurrent writer; returns its sequence number.
    pub fn take_interference(&self) -> Option<u64> {
        let mut c = self.controls();
        if c.interfere_with_replaces == 0 {
            return None;
        }
        c.interfere_with_replaces -= 1;
        c.interference_count += 1;
        Some(c.interference_count)
    }

    /// The event log is kept whole, so every version this server handed out can be watched from.
    pub fn oldest_watchable_rv(&self) -> u64 {
        0
    }
}

/// `metav1.Time` now: RFC 3339, UTC, seconds.
pub(crate) fn now_string() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A running fake API server with the Argo CD controller stand-in. Stops when dropped.
pub struct ArgoCdStandIn {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ArgoCdStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoCdStandIn")
            .field("url", &self.url())
            .field("version", &self.shared.options.version)
            .finish()
    }
}

/// Name of the kubeconfig context (and cluster and user) the stand-in writes.
pub const CONTEXT: &str = "stand-in";

impl ArgoCdStandIn {
    /// Binds 127.0.0.1:0, starts the server and the controller, writes a kubeconfig.
    pub fn start(options: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let token = format!("stand-in-token-{}", addr.port());
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(options.version)),
            changed: Condvar::new(),
            controls: Mutex::new(Controls::default()),
            stopping: AtomicBool::new(false),
            token: token.clone(),
            argocd_token: format!("argocd-token-{}", addr.port()),
            options: options.clone(),
            log: Mutex::new(Vec::new()),
            controller: Mutex::new(controller::State::default()),
            // Argo CD creates the `default` AppProject itself, allowing everything.
            projects: Mutex::new(HashMap::from([(
                (options.namespace.clone(), "default".to_owned()),
                serde_json::json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                    "metadata": {"name": "default", "namespace": options.namespace},
                    "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                             "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}
                }),
            )])),
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {CONTEXT}\n    namespace: {ns}\ncurrent-context: {CONTEXT}\nusers:\n- name: {CONTEXT}\n  user:\n    token: {token}\n",
                ns = options.namespace
            ),
        )
        .expect("write kubeconfig");
        let server = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("stand-in-apiserver".into())
                .spawn(move || apiserver::serve(listener, shared))
                .expect("spawn server")
        };
        let ctl = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("stand-in-controller".into())
                .spawn(move || controller::run(shared))
                .expect("spawn controller")
        };
        ArgoCdStandIn {
            shared,
            addr,
            dir,
            kubeconfig,
            threads: vec![server, ctl],
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// argocd-server's REST API is served on the same address (`/api/v1/applications/...`,
    /// `/api/v1/stream/applications`); use [`Self::argocd_token`] as its bearer token.
    pub fn argocd_token(&self) -> &str {
        &self.shared.argocd_token
    }

    /// A kubeconfig with one context, [`CONTEXT`], pointing here with a bearer token.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A scratch directory that lives as long as the stand-in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn namespace(&self) -> &str {
        &self.shared.options.namespace
    }

    /// Creates an Application in the stand-in's namespace, as `kubectl create` would.
    pub fn create_application(&self, mut doc: Value) -> Value {
        if doc.get("apiVersion").is_none() {
            doc["apiVersion"] = Value::from("argoproj.io/v1alpha1");
            doc["kind"] = Value::from("Application");
        }
        let ns = self.shared.options.namespace.clone();
        let out = self
            .shared
            .store()
            .create(&ns, doc)
            .expect("create application");
        self.shared.changed.notify_all();
        out
    }

    /// Creates or replaces an AppProject in the stand-in's namespace (e.g. with
    /// `spec.syncWindows`), as `kubectl apply` would.
    pub fn put_project(&self, mut doc: Value) {
        if doc.get("apiVersion").is_none() {
            doc["apiVersion"] = Value::from("argoproj.io/v1alpha1");
            doc["kind"] = Value::from("AppProject");
        }
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .expect("AppProject metadata.name")
            .to_owned();
        let ns = self.shared.options.namespace.clone();
        doc["metadata"]["namespace"] = Value::from(ns.clone());
        self.shared.projects().insert((ns, name), doc);
        self.shared.changed.notify_all();
    }

    /// The Application as stored.
    pub fn application(&self, name: &str) -> Option<Value> {
        self.shared
            .store()
            .get(&(self.shared.options.namespace.clone(), name.to_owned()))
            .cloned()
    }

    /// Merge-patches an Application as another actor (a user, a parent app) would.
    pub fn patch_application(&self, name: &str, patch: &Value) -> Value {
        let key = (self.shared.options.namespace.clone(), name.to_owned());
        let out = self
            .shared
            .store()
            .merge_patch(&key, patch, false)
            .expect("patch application");
        self.shared.changed.notify_all();
        out
    }

    /// The images running for the app in the live model (sorted), empty before the first sync.
    pub fn live_images(&self, name: &str) -> Vec<String> {
        controller::live_images(&self.shared, name)
    }

    /// [`ArgoCdStandIn::live_images`] as a function another thread may call (a shop stand-in
    /// that turns unhealthy for a release).
    pub fn live_images_fn(&self) -> impl Fn(&str) -> Vec<String> + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move |name| controller::live_images(&shared, name)
    }

    /// Health reported for apps whose live images carry `tag` (`Degraded`, `Progressing`, …).
    pub fn set_health_for_tag(&self, tag: &str, health: &str) {
        self.shared
            .controls()
            .health_by_tag
            .insert(tag.to_owned(), health.to_owned());
    }

    /// For this long after each apply, the app's health is still judged on what was live before
    /// it (then the rollout delay starts): real Argo CD's health comes from its cluster cache,
    /// which may not have seen the new Deployment generation on the comparisons right after an
    /// operation (docs/testbed-findings.md D1, finding P2). Zero by default.
    pub fn set_health_lag(&self, lag: Duration) {
        self.shared.controls().health_lag = lag;
    }

    /// A project sync window that blocks syncs (manual and automated) while on.
    pub fn set_sync_window_blocked(&self, blocked: bool) {
        self.shared.controls().sync_window_blocked = blocked;
    }

    /// Make every apply fail with this reason (`None`: applies succeed).
    pub fn set_apply_failure(&self, reason: Option<&str>) {
        self.shared.controls().apply_failure = reason.map(str::to_owned);
    }

    /// RBAC: answer 403 to these verbs (`get`, `list`, `watch`, `update`, `patch`, …); an empty
    /// slice forbids everything; `None` allows everything again.
    pub fn forbid(&self, verbs: Option<&[&str]>) {
        self.shared.controls().forbidden =
            verbs.map(|v| v.iter().map(|s| (*s).to_owned()).collect());
    }

    /// The next `n` replaces (PUT) meet a concurrent writer that changes the object just before,
    /// so their resourceVersion is stale and they get a real 409.
    pub fn interfere_with_next_replaces(&self, n: u32) {
        self.shared.controls().interfere_with_replaces = n;
    }

    /// Every HTTP request served, as `METHOD PATH -> CODE` (`METHOD PATH (dry run) -> CODE` for
    /// `?dryRun=All`).
    pub fn request_log(&self) -> Vec<String> {
        self.shared.log.lock().expect("log lock").clone()
    }

    /// What the controller did, one line per decision (auto-sync, operation phases, refreshes).
    pub fn controller_log(&self) -> Vec<String> {
        controller::log(&self.shared)
    }
}

impl Drop for ArgoCdStandIn {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // Unblock accept().
        let _ = TcpStream::connect(self.addr);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
