//! The "kubelet": **a stand-in, the one left in the real-server test bed.** The real
//! kube-apiserver runs no pods (no scheduler, no kubelet, no container engine), so a Deployment
//! never gets a status and Argo CD reports it `Progressing` forever. This module watches
//! Deployments on a real kube-apiserver and writes their `status` subresource the way the
//! deployment controller would once a rollout ends:
//!
//! * every image tag is good unless a test marks it bad: `observedGeneration` = `generation`,
//!   `replicas`/`updatedReplicas`/`readyReplicas`/`availableReplicas` = `spec.replicas`,
//!   `Available=True` and `Progressing=True (NewReplicaSetAvailable)`, which Argo CD's health
//!   check (gitops-engine `getAppsv1DeploymentHealth`) reads as **Healthy**;
//! * a Deployment with a container (or init container) whose image tag, or digest, is marked bad
//!   gets `Available=False` and `Progressing=False (ProgressDeadlineExceeded)` with no replica
//!   available, which Argo CD reads as **Degraded** ("exceeded its progress deadline").
//!
//! It watches `GET /apis/apps/v1/deployments?watch=1` with short server-side timeouts (so it
//! stops within about a second of being dropped), re-lists when the watch expires, and patches
//! `.../deployments/NAME/status` with a JSON merge patch only when the status differs from what
//! it would write. HTTP is ureq (the workspace's HTTP client), verifying the apiserver's
//! certificate with the CA the real apiserver made for itself; auth is the static bearer token.
//!
//! ```no_run
//! use promote_testkit::kubelet::{ApiServer, Kubelet, KubeletOptions};
//! let api = ApiServer::from_env_file("/tmp/promote-real-cluster.X/env".as_ref()).unwrap();
//! let kubelet = Kubelet::start(api, KubeletOptions::default().bad_tag("v1.0.3")).unwrap();
//! kubelet.mark_bad("v1.0.5").unwrap(); // re-evaluates every Deployment now
//! ```
//! As a process: `cargo run -p promote-testkit --bin kubelet -- --bad-tag v1.0.3`.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How to reach a real kube-apiserver: its URL, a bearer token, and the CA that signed its
/// serving certificate (PEM).
#[derive(Clone)]
pub struct ApiServer {
    pub url: String,
    pub token: String,
    pub ca_pem: Vec<u8>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What went wrong talking to the apiserver.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("reading {what} from {path}")]
    Read {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{name} is not set: give the apiserver's URL, token and CA (APISERVER, APISERVER_TOKEN, APISERVER_CA; `scripts/real-cluster.sh env` prints them)"
    )]
    Missing { name: &'static str },
    #[error("the CA certificate in {path} is not PEM")]
    BadCa {
        path: String,
        #[source]
        source: ureq::Error,
    },
    #[error("{method} {url}")]
    Http {
        method: &'static str,
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{method} {url} answered HTTP {status}: {body}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{method} {url} answered something that is not the JSON expected")]
    Json {
        method: &'static str,
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ApiServer {
    /// From `APISERVER`, `APISERVER_TOKEN` and `APISERVER_CA` (a file), as
    /// `scripts/real-cluster.sh env` prints them.
    pub fn from_env() -> Result<ApiServer, KubeletError> {
        let get = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(KubeletError::Missing { name })
        };
        Self::from_parts(
            get("APISERVER")?,
            get("APISERVER_TOKEN")?,
            get("APISERVER_CA")?,
        )
    }

    /// From the `KEY=VALUE` lines of the env file `scripts/real-cluster.sh start` writes.
    pub fn from_env_file(path: &Path) -> Result<ApiServer, KubeletError> {
        let text = std::fs::read_to_string(path).map_err(|source| KubeletError::Read {
            what: "the real cluster's env file",
            path: path.display().to_string(),
            source,
        })?;
        let vars: HashMap<&str, &str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .collect();
        let get = |name: &'static str| {
            vars.get(name)
                .filter(|v| !v.is_empty())
                .map(|v| (*v).to_owned())
                .ok_or(KubeletError::Missing { name })
        };
        Self::from_parts(
            get("APISERVER")?,
            get("APISERVER_TOKEN")?,
            get("APISERVER_CA")?,
        )
    }

    fn from_parts(url: String, token: String, ca_path: String) -> Result<ApiServer, KubeletError> {
        let ca_pem = std::fs::read(&ca_path).map_err(|source| KubeletError::Read {
            what: "the apiserver's CA certificate",
            path: ca_path,
            source,
        })?;
        Ok(ApiServer {
            url: url.trim_end_matches('/').to_owned(),
            token,
            ca_pem,
        })
    }
}

/// What the kubelet starts with.
#[derive(Clone, Debug, Default)]
pub struct KubeletOptions {
    /// Image tags (or digests, `sha256:…`) whose Deployments go Degraded.
    pub bad: BTreeSet<String>,
    /// How long a new generation stays without a status (Argo CD: `Progressing`) before the
    /// kubelet writes one, like a rollout that takes time. Zero: at once.
    pub rollout: Duration,
    /// Print each status written to stderr (the binary does).
    pub log: bool,
    /// Only Deployments in this namespace (default: all). Two kubelets on one apiserver must
    /// not look at the same Deployments: each would undo the other's verdicts.
    pub namespace: Option<String>,
}

impl KubeletOptions {
    pub fn bad_tag(mut self, tag: &str) -> Self {
        self.bad.insert(tag.to_owned());
        self
    }
    pub fn rollout(mut self, rollout: Duration) -> Self {
        self.rollout = rollout;
        self
    }
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }
}

/// The health a Deployment was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Degraded,
}

/// One status write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusWrite {
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub verdict: Verdict,
    /// The images of the pod template at that generation.
    pub images: Vec<String>,
}

/// A running kubelet stand-in (a thread). Dropping it stops the thread.
pub struct Kubelet {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet")
            .field("api", &self.shared.api.url)
            .finish_non_exhaustive()
    }
}

struct Shared {
    api: Client,
    /// `/apis/apps/v1/deployments`, or `/apis/apps/v1/namespaces/NS/deployments`.
    collection: String,
    bad: Mutex<BTreeSet<String>>,
    rollout: Duration,
    log: bool,
    stop: AtomicBool,
    /// First time each (namespace/name, generation) was seen, for `rollout`.
    seen: Mutex<HashMap<(String, i64), Instant>>,
    /// Generations seen but not yet given a status because their rollout time has not passed.
    pending: Mutex<BTreeSet<(String, i64)>>,
    /// Per Deployment, the status last written: (resourceVersion after the write, generation,
    /// verdict). Watch events queued before our write carry the old status; they must not
    /// make us write the same status again.
    written: Mutex<HashMap<String, (u64, i64, Verdict)>>,
    /// One reconcile at a time (the watch thread, and `mark_bad`/`mark_good` on the caller's).
    reconciling: Mutex<()>,
    writes: Mutex<Vec<StatusWrite>>,
}

impl Kubelet {
    /// Check that the apiserver answers (listing Deployments), write the status of every
    /// Deployment already there, then keep watching on a thread.
    pub fn start(api: ApiServer, options: KubeletOptions) -> Result<Kubelet, KubeletError> {
        let collection = match &options.namespace {
            Some(ns) => format!("/apis/apps/v1/namespaces/{ns}/deployments"),
            None => "/apis/apps/v1/deployments".to_owned(),
        };
        let shared = Arc::new(Shared {
            api: Client::new(api)?,
            collection,
            bad: Mutex::new(options.bad),
            rollout: options.rollout,
            log: options.log,
            stop: AtomicBool::new(false),
            seen: Mutex::new(HashMap::new()),
            pending: Mutex::new(BTreeSet::new()),
            written: Mutex::new(HashMap::new()),
            reconciling: Mutex::new(()),
            writes: Mutex::new(Vec::new()),
        });
        let resource_version = shared.sync_all()?;
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("kubelet-stand-in".to_owned())
            .spawn(move || thread_shared.run(resource_version))
            .expect("spawning the kubelet thread");
        Ok(Kubelet {
            shared,
            thread: Some(thread),
        })
    }

    /// Mark an image tag (or digest) bad and re-evaluate every Deployment now.
    pub fn mark_bad(&self, tag: &str) -> Result<(), KubeletError> {
        self.shared.bad.lock().unwrap().insert(tag.to_owned());
        self.shared.sync_all().map(|_| ())
    }

    /// Mark an image tag (or digest) good again and re-evaluate every Deployment now.
    pub fn mark_good(&self, tag: &str) -> Result<(), KubeletError> {
        self.shared.bad.lock().unwrap().remove(tag);
        self.shared.sync_all().map(|_| ())
    }

    /// Every status written so far, oldest first.
    pub fn writes(&self) -> Vec<StatusWrite> {
        self.shared.writes.lock().unwrap().clone()
    }

    /// Block until SIGTERM/SIGINT would end the process (for the binary): the watch thread
    /// never returns on its own.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Seconds the apiserver keeps one watch open: the thread notices `stop` this often.
const WATCH_SECONDS: u32 = 1;

impl Shared {
    fn run(&self, mut resource_version: String) {
        let mut failures = 0u32;
        while !self.stop.load(Ordering::SeqCst) {
            let round = self.watch(&resource_version).and_then(|rv| {
                // Deployments whose rollout time passed since their generation was seen.
                if self.due_pending() {
                    self.sync_all()
                } else {
                    Ok(rv)
                }
            });
            match round {
                Ok(rv) => {
                    resource_version = rv;
                    failures = 0;
                }
                Err(e) => {
                    // A watch too old (410 Gone) or an apiserver restart: re-list.
                    failures += 1;
                    if self.log || failures > 3 {
                        eprintln!("kubelet stand-in: {}", chain(&e));
                    }
                    std::thread::sleep(Duration::from_millis(200 * u64::from(failures.min(10))));
                    match self.sync_all() {
                        Ok(rv) => resource_version = rv,
                        Err(e) if self.log => eprintln!("kubelet stand-in: {}", chain(&e)),
                        Err(_) => {}
                    }
                }
            }
        }
    }

    /// One watch from `resource_version` until the apiserver closes it; returns where to go on.
    fn watch(&self, resource_version: &str) -> Result<String, KubeletError> {
        let path = format!(
            "{}?watch=1&allowWatchBookmarks=true&timeoutSeconds={WATCH_SECONDS}&resourceVersion={resource_version}",
            self.collection
        );
        let mut rv = resource_version.to_owned();
        let reader = self.api.stream(&path)?;
        for line in reader.lines() {
            let line = line.map_err(|source| KubeletError::Read {
                what: "the Deployment watch",
                path: path.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let event: Value =
                serde_json::from_str(&line).map_err(|source| KubeletError::Json {
                    method: "GET",
                    url: path.clone(),
                    source,
                })?;
            let object = &event["object"];
            match event["type"].as_str() {
                Some("ERROR") => {
                    return Err(KubeletError::Status {
                        method: "GET",
                        url: path,
                        status: object["code"].as_u64().unwrap_or(0) as u16,
                        body: object["message"].as_str().unwrap_or_default().to_owned(),
                    });
                }
                Some("ADDED" | "MODIFIED") => {
                    let _one = self.reconciling.lock().unwrap();
                    self.reconcile(object)?;
                }
                _ => {}
            }
            if let Some(v) = object["metadata"]["resourceVersion"].as_str() {
                rv = v.to_owned();
            }
        }
        Ok(rv)
    }

    /// List every Deployment and write the statuses due; returns the list's resourceVersion.
    fn sync_all(&self) -> Result<String, KubeletError> {
        let _one = self.reconciling.lock().unwrap();
        let list = self.api.get(&self.collection)?;
        for item in list["items"].as_array().into_iter().flatten() {
            self.reconcile(item)?;
        }
        Ok(list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    fn due_pending(&self) -> bool {
        if self.rollout.is_zero() {
            return false;
        }
        let seen = self.seen.lock().unwrap();
        self.pending
            .lock()
            .unwrap()
            .iter()
            .any(|key| seen.get(key).is_some_and(|t| t.elapsed() >= self.rollout))
    }

    fn reconcile(&self, deployment: &Value) -> Result<(), KubeletError> {
        let namespace = deployment["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default();
        let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
        let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(0);
        if name.is_empty() || deployment["metadata"]["deletionTimestamp"].is_string() {
            return Ok(());
        }
        if !self.rollout.is_zero() {
            let key = (format!("{namespace}/{name}"), generation);
            let first = *self
                .seen
                .lock()
                .unwrap()
                .entry(key.clone())
                .or_insert_with(Instant::now);
            let mut pending = self.pending.lock().unwrap();
            if first.elapsed() < self.rollout {
                pending.insert(key);
                return Ok(());
            }
            pending.remove(&key);
        }
        let bad = self.bad.lock().unwrap().clone();
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let Some((verdict, status)) = desired_status(deployment, &bad, &now) else {
            return Ok(());
        };
        let key = format!("{namespace}/{name}");
        let seen_rv = resource_version(deployment);
        if let (Some(rv), Some(&(written_rv, g, v))) =
            (seen_rv, self.written.lock().unwrap().get(&key))
            && rv <= written_rv
            && (g, v) == (generation, verdict)
        {
            // An event from before our own write: that write already says this.
            return Ok(());
        }
        let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status");
        let answer = match self.api.merge_patch(&path, &json!({ "status": status })) {
            Ok(answer) => answer,
            // Deleted between the event and the patch: nothing to do.
            Err(KubeletError::Status { status: 404, .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Some(rv) = resource_version(&answer) {
            self.written
                .lock()
                .unwrap()
                .insert(key, (rv, generation, verdict));
        }
        let images = images(deployment).into_iter().map(str::to_owned).collect();
        let write = StatusWrite {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            generation,
            verdict,
            images,
        };
        if self.log {
            eprintln!(
                "kubelet stand-in: {}/{} generation {} {:?} -> {:?}",
                write.namespace, write.name, write.generation, write.images, write.verdict
            );
        }
        self.writes.lock().unwrap().push(write);
        Ok(())
    }
}

/// An object's resourceVersion as a number. It is opaque by contract; the real apiserver's is
/// etcd's revision, so a number compares, and anything else is not compared at all.
fn resource_version(object: &Value) -> Option<u64> {
    object["metadata"]["resourceVersion"].as_str()?.parse().ok()
}

/// The images of a Deployment's pod template (containers, then init containers).
fn images(deployment: &Value) -> Vec<&str> {
    let spec = &deployment["spec"]["template"]["spec"];
    ["containers", "initContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten())
        .filter_map(|c| c["image"].as_str())
        .collect()
}

/// The tag of an image reference (`latest` when it has none and no digest), and its digest.
fn tag_and_digest(image: &str) -> (Option<&str>, Option<&str>) {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    // A registry's `host:port` comes before the last `/`; a tag after it.
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = match last.split_once(':') {
        Some((_, t)) => Some(t),
        None if digest.is_none() => Some("latest"),
        None => None,
    };
    (tag, digest)
}

/// The status the kubelet would write, or `None` when the Deployment already has it.
fn desired_status(
    deployment: &Value,
    bad: &BTreeSet<String>,
    now: &str,
) -> Option<(Verdict, Value)> {
    let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(0);
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    let is_bad = images(deployment).iter().any(|image| {
        let (tag, digest) = tag_and_digest(image);
        tag.is_some_and(|t| bad.contains(t)) || digest.is_some_and(|d| bad.contains(d))
    });
    let verdict = if is_bad {
        Verdict::Degraded
    } else {
        Verdict::Healthy
    };
    let current = &deployment["status"];
    let conditions: Vec<(&str, &str, &str, &str)> = match verdict {
        Verdict::Healthy => vec![
            (
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            ),
            (
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                "has successfully progressed.",
            ),
        ],
        Verdict::Degraded => vec![
            (
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            ),
            (
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                "has timed out progressing.",
            ),
        ],
    };
    let available = if is_bad { 0 } else { replicas };
    let same_counts = current["observedGeneration"].as_i64() == Some(generation)
        && current["replicas"].as_i64().unwrap_or(0) == replicas
        && current["updatedReplicas"].as_i64().unwrap_or(0) == replicas
        && current["readyReplicas"].as_i64().unwrap_or(0) == available
        && current["availableReplicas"].as_i64().unwrap_or(0) == available;
    let current_conditions = current["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let condition = |kind: &str| current_conditions.iter().find(|c| c["type"] == kind);
    let same_conditions = conditions.iter().all(|(kind, status, reason, _)| {
        condition(kind).is_some_and(|c| c["status"] == *status && c["reason"] == *reason)
    });
    if same_counts && same_conditions {
        return None;
    }
    // The ReplicaSet name the deployment controller would print: ours is made up, and says so.
    let replica_set = format!("ReplicaSet \"{name}-kubelet-stand-in\"");
    let conditions: Vec<Value> = conditions
        .iter()
        .map(|(kind, status, reason, message)| {
            // Keep the transition time while the condition's status does not change.
            let since = condition(kind)
                .filter(|c| c["status"] == *status)
                .and_then(|c| c["lastTransitionTime"].as_str())
                .unwrap_or(now);
            let message = if *kind == "Progressing" {
                format!("{replica_set} {message}")
            } else {
                (*message).to_owned()
            };
            json!({
                "type": kind, "status": status, "reason": reason, "message": message,
                "lastUpdateTime": now, "lastTransitionTime": since,
            })
        })
        .collect();
    let zero_is_null = |n: i64| if n == 0 { Value::Null } else { json!(n) };
    Some((
        verdict,
        json!({
            "observedGeneration": generation,
            "replicas": zero_is_null(replicas),
            "updatedReplicas": zero_is_null(replicas),
            "readyReplicas": zero_is_null(available),
            "availableReplicas": zero_is_null(available),
            "unavailableReplicas": zero_is_null(replicas - available),
            "conditions": conditions,
        }),
    ))
}

/// The error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The few apiserver calls the kubelet makes.
struct Client {
    url: String,
    auth: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(api: ApiServer) -> Result<Client, KubeletError> {
        let ca = ureq::tls::Certificate::from_pem(&api.ca_pem).map_err(|source| {
            KubeletError::BadCa {
                path: api.url.clone(),
                source,
            }
        })?;
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Ok(Client {
            url: api.url,
            auth: format!("Bearer {}", api.token),
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// A GET, or a PATCH with a JSON merge patch; an answer other than 200 is an error that
    /// quotes its body.
    fn call(
        &self,
        path: &str,
        patch: Option<&Value>,
    ) -> Result<(String, ureq::http::Response<ureq::Body>), KubeletError> {
        let url = format!("{}{path}", self.url);
        let method = if patch.is_some() { "PATCH" } else { "GET" };
        let sent = match patch {
            None => self
                .agent
                .get(&url)
                .header("Authorization", &self.auth)
                .header("Accept", "application/json")
                .call(),
            Some(patch) => self
                .agent
                .patch(&url)
                .header("Authorization", &self.auth)
                .header("Content-Type", "application/merge-patch+json")
                .send(patch.to_string().as_bytes()),
        };
        let mut answer = sent.map_err(|source| KubeletError::Http {
            method,
            url: url.clone(),
            source: Box::new(source),
        })?;
        let status = answer.status().as_u16();
        if status != 200 {
            let body = answer.body_mut().read_to_string().unwrap_or_default();
            return Err(KubeletError::Status {
                method,
                url,
                status,
                body,
            });
        }
        Ok((url, answer))
    }

    /// The JSON document a 200 answered, read up to `limit` bytes.
    fn json(
        method: &'static str,
        url: String,
        mut answer: ureq::http::Response<ureq::Body>,
        limit: u64,
    ) -> Result<Value, KubeletError> {
        let body = answer
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_string()
            .map_err(|source| KubeletError::Http {
                method,
                url: url.clone(),
                source: Box::new(source),
            })?;
        serde_json::from_str(&body).map_err(|source| KubeletError::Json {
            method,
            url,
            source,
        })
    }

    fn get(&self, path: &str) -> Result<Value, KubeletError> {
        let (url, answer) = self.call(path, None)?;
        Self::json("GET", url, answer, 64 << 20)
    }

    fn stream(&self, path: &str) -> Result<impl BufRead + use<>, KubeletError> {
        let (_, answer) = self.call(path, None)?;
        Ok(BufReader::new(answer.into_body().into_reader()))
    }

    /// PATCH with a JSON merge patch; the object as written.
    fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, KubeletError> {
        let (url, answer) = self.call(path, Some(patch))?;
        Self::json("PATCH", url, answer, 10 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(images: &[&str], generation: i64, status: Value) -> Value {
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect();
        json!({
            "metadata": {"name": "cartservice", "namespace": "prod", "generation": generation},
            "spec": {"replicas": 2, "template": {"spec": {"containers": containers}}},
            "status": status,
        })
    }

    fn bad(tags: &[&str]) -> BTreeSet<String> {
        tags.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn tags_and_digests_are_read_after_the_last_slash() {
        assert_eq!(
            tag_and_digest("reg:5000/shop/cart:v1.0.3"),
            (Some("v1.0.3"), None)
        );
        assert_eq!(tag_and_digest("reg:5000/shop/cart"), (Some("latest"), None));
        assert_eq!(
            tag_and_digest("reg/cart:v1@sha256:ab"),
            (Some("v1"), Some("sha256:ab"))
        );
        assert_eq!(
            tag_and_digest("reg:5000/cart@sha256:ab"),
            (None, Some("sha256:ab"))
        );
    }

    #[test]
    fn a_good_tag_gets_an_available_rollout_of_every_replica() {
        let d = deployment(&["reg/cart:v1.0.1"], 3, json!({}));
        let (verdict, status) = desired_status(&d, &bad(&["v1.0.3"]), "T").unwrap();
        assert_eq!(verdict, Verdict::Healthy);
        assert_eq!(status["observedGeneration"], 3);
        assert_eq!(status["availableReplicas"], 2);
        assert_eq!(status["conditions"][0]["type"], "Available");
        assert_eq!(status["conditions"][0]["status"], "True");
        assert_eq!(status["conditions"][1]["reason"], "NewReplicaSetAvailable");
    }

    #[test]
    fn a_bad_tag_in_any_container_exceeds_the_progress_deadline() {
        let d = deployment(&["reg/cart:v1.0.1", "reg/sidecar:v1.0.3"], 4, json!({}));
        let (verdict, status) = desired_status(&d, &bad(&["v1.0.3"]), "T").unwrap();
        assert_eq!(verdict, Verdict::Degraded);
        assert_eq!(status["availableReplicas"], Value::Null);
        assert_eq!(status["unavailableReplicas"], 2);
        assert_eq!(status["conditions"][1]["status"], "False");
        assert_eq!(
            status["conditions"][1]["reason"],
            "ProgressDeadlineExceeded"
        );
    }

    #[test]
    fn a_bad_digest_counts_like_a_bad_tag() {
        let d = deployment(&["reg/cart:v1.0.1@sha256:ab"], 1, json!({}));
        let (verdict, _) = desired_status(&d, &bad(&["sha256:ab"]), "T").unwrap();
        assert_eq!(verdict, Verdict::Degraded);
    }

    #[test]
    fn a_status_already_written_is_not_written_again_until_the_generation_moves() {
        let d = deployment(&["reg/cart:v1.0.1"], 3, json!({}));
        let (_, status) = desired_status(&d, &bad(&[]), "T").unwrap();
        let written = deployment(&["reg/cart:v1.0.1"], 3, status.clone());
        assert_eq!(desired_status(&written, &bad(&[]), "T2"), None);
        let next = deployment(&["reg/cart:v1.0.3"], 4, status);
        let (verdict, again) = desired_status(&next, &bad(&["v1.0.3"]), "T2").unwrap();
        assert_eq!(verdict, Verdict::Degraded);
        assert_eq!(again["observedGeneration"], 4);
        // Marked bad after the fact: the same generation is re-written.
        assert!(desired_status(&written, &bad(&["v1.0.1"]), "T3").is_some());
    }
}
