//! One test's world on the shared real cluster: a fresh GitOps repo (the example's nine services,
//! images on the suite's registry) in a bare `file://` origin, its own Applications
//! (`ID-staging` with auto-sync, `ID-prod` manual) deploying into its own namespaces, and one
//! kubelet stand-in per namespace, so tests never see each other's Deployments. Dropping it
//! deletes the Applications (their namespaces stay: without kube-controller-manager nothing
//! would finalise a namespace deletion).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use promote_testkit::kubelet::{ApiServer, Kubelet, KubeletOptions};
use promote_testkit::repo::{GitOps, workspace_root};
use serde_json::{Value, json};

use super::servers::{self, Cluster};
use super::{BIN, Run, pinned_now, unique, wait_for};

/// How the binary reaches Argo CD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The Kubernetes API (KUBECONFIG of the real apiserver).
    Kube,
    /// argocd-server's REST API (ARGOCD_SERVER, ARGOCD_AUTH_TOKEN: an admin session), with no
    /// kubeconfig at all, so nothing can go the other way.
    Rest,
}

/// Tags the kubelet turns Degraded in every test.
pub const BAD: [&str; 2] = ["v1.0.3", "v1.0.5"];

/// The annotation the product writes on an argocd rollback.
pub const ROLLED_BACK_BY: &str = "promote.kubectl.io/rolled-back-by";

pub struct Bed {
    pub id: String,
    pub kit: GitOps,
    pub transport: Transport,
    pub cluster: &'static Cluster,
    kubelets: Vec<Kubelet>,
    apps: Vec<String>,
    projects: Vec<String>,
}

/// What a test's Applications look like.
#[derive(Clone, Debug)]
pub struct Options {
    /// The AppProject both apps use (default: `default`); see [`Bed::project`].
    pub project: Option<Value>,
    /// Create the Applications (off for the app-of-apps test, whose parent creates staging).
    pub apps: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            project: None,
            apps: true,
        }
    }
}

impl Bed {
    pub fn new(slug: &str, transport: Transport) -> Bed {
        Bed::with(slug, transport, Options::default())
    }

    pub fn with(slug: &str, transport: Transport, options: Options) -> Bed {
        let cluster = servers::cluster();
        let registry = servers::registry();
        let id = unique(slug);
        let kit = seed(&id, &registry.host);
        let api =
            ApiServer::from_env_file(&PathBuf::from(cluster.var("REAL_CLUSTER_DIR")).join("env"))
                .expect("the cluster's env file");
        let kubelets = ["staging", "prod"]
            .iter()
            .map(|env| {
                let mut o = KubeletOptions::default().namespace(&format!("{id}-{env}"));
                for tag in BAD {
                    o = o.bad_tag(tag);
                }
                Kubelet::start(api.clone(), o).expect("starting the kubelet stand-in")
            })
            .collect();
        let mut bed = Bed {
            id,
            kit,
            transport,
            cluster,
            kubelets,
            apps: Vec::new(),
            projects: Vec::new(),
        };
        let project = match options.project {
            Some(mut p) => {
                let name = bed.id.clone();
                p["metadata"] = json!({"name": name, "namespace": "argocd"});
                bed.apply(&p);
                bed.projects.push(name.clone());
                name
            }
            None => "default".to_owned(),
        };
        if options.apps {
            bed.create_app("staging", &project, true);
            bed.create_app("prod", &project, false);
            // Staging auto-syncs v1.0.0 and the kubelet makes it Healthy.
            bed.wait_app(
                "staging",
                Duration::from_secs(90),
                "Synced and Healthy at v1.0.0",
                |a| {
                    a["status"]["sync"]["status"] == "Synced"
                        && a["status"]["health"]["status"] == "Healthy"
                        && !history(a).is_empty()
                },
            );
        }
        bed
    }

    pub fn app_name(&self, env: &str) -> String {
        format!("{}-{env}", self.id)
    }

    /// The Application manifest of ENV: this test's origin, its own namespace, the two sync
    /// options the real Argo CD needs here (testbed finding D3: the namespace must exist;
    /// background prune: no garbage collector runs without kube-controller-manager).
    pub fn app_manifest(&self, env: &str, project: &str, auto: bool) -> Value {
        let mut policy = json!({
            "syncOptions": ["CreateNamespace=true", "PrunePropagationPolicy=background"]
        });
        if auto {
            policy["automated"] = json!({"prune": true, "selfHeal": true});
        }
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": self.app_name(env), "namespace": "argocd"},
            "spec": {
                "project": project,
                "source": {
                    "repoURL": self.repo_url(),
                    "path": format!("kustomize/{env}"),
                    "targetRevision": "main",
                },
                "destination": {
                    "server": "https://kubernetes.default.svc",
                    "namespace": format!("{}-{env}", self.id),
                },
                "syncPolicy": policy,
            }
        })
    }

    pub fn repo_url(&self) -> String {
        format!("file://{}", self.kit.origin.display())
    }

    pub fn create_app(&mut self, env: &str, project: &str, auto: bool) {
        let app = self.app_manifest(env, project, auto);
        self.apply(&app);
        self.apps.push(self.app_name(env));
    }

    /// Remember an Application some other object created (a parent), to delete it at the end.
    pub fn owns_app(&mut self, name: &str) {
        self.apps.push(name.to_owned());
    }

    /// `kubectl apply` of one object on the real cluster.
    pub fn apply(&self, object: &Value) {
        let mut child = self
            .kubectl(&["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        std::io::Write::write_all(
            child.stdin.as_mut().expect("stdin"),
            object.to_string().as_bytes(),
        )
        .expect("writing to kubectl");
        let out = child.wait_with_output().expect("kubectl");
        assert!(
            out.status.success(),
            "kubectl apply {}: {}",
            object["metadata"]["name"],
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn kubectl(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(self.cluster.kubeconfig())
            .args(args);
        c
    }

    /// `kubectl ARGS` that must succeed; its stdout.
    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).output().expect("kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The Application of ENV (`staging`, `prod`, or a full name) as the apiserver has it.
    pub fn app(&self, env: &str) -> Value {
        let name = if env.starts_with(&self.id) {
            env.to_owned()
        } else {
            self.app_name(env)
        };
        let out = self.kubectl_ok(&["-n", "argocd", "get", "application", &name, "-o", "json"]);
        serde_json::from_str(&out).expect("application JSON")
    }

    /// Polls the Application until `ok` holds (or panics after `within`, printing its status).
    #[track_caller]
    pub fn wait_app(
        &self,
        env: &str,
        within: Duration,
        what: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_for(
            &format!("{} to be {what}", self.app_name(env)),
            within,
            || {
                let a = self.app(env);
                ok(&a).then_some(a)
            },
            || summary(&self.app(env)),
        )
    }

    /// Runs the binary in the user's clone over this bed's transport.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let out = self
            .command(args, extra)
            .output()
            .unwrap_or_else(|e| panic!("running {BIN}: {e}"));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The binary as a hermetic command (only PATH from outside), for tests that start it
    /// themselves (the kill test).
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let nowhere = self.kit.root().join("no-kubeconfig");
        let nowhere = nowhere.to_str().expect("utf-8");
        let mut env: Vec<(&str, &str)> = vec![("KUBECTL_PROMOTE_NOW", pinned_now())];
        match self.transport {
            Transport::Kube => env.push(("KUBECONFIG", self.cluster.kubeconfig())),
            Transport::Rest => env.extend([
                ("KUBECONFIG", nowhere),
                ("ARGOCD_SERVER", self.cluster.var("ARGOCD_SERVER")),
                ("ARGOCD_AUTH_TOKEN", self.cluster.var("ARGOCD_AUTH_TOKEN")),
            ]),
        }
        env.extend(extra.iter().copied());
        self.kit.bin_command(BIN, &self.kit.clone, &env, args)
    }

    /// The commit `main` points at on origin.
    pub fn head(&self) -> String {
        self.kit.origin_head()
    }

    pub fn kubelet_writes(&self) -> usize {
        self.kubelets.iter().map(|k| k.writes().len()).sum()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        // Stop the kubelets first: their threads end within a second.
        self.kubelets.clear();
        for app in &self.apps {
            let _ = self
                .kubectl(&[
                    "-n",
                    "argocd",
                    "delete",
                    "application",
                    app,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for p in &self.projects {
            let _ = self
                .kubectl(&[
                    "-n",
                    "argocd",
                    "delete",
                    "appproject",
                    p,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The example GitOps repo with this test's namespaces, images on `registry`, and a promote.yaml
/// naming this test's Applications. Prod keeps the example's change window (so the pinned time
/// matters) and both keep rollback-guard; the approval policies are the Gitea tests' business.
fn seed(id: &str, registry: &str) -> GitOps {
    let mut kit = GitOps::new().check_images();
    let example = workspace_root().join("examples/gitops");
    for (rel, text) in files(&example) {
        if rel == "promote.yaml" || rel.starts_with("argocd/") {
            continue;
        }
        let text = text.replace("registry.example.com", registry).replace(
            "namespace: microservices-demo-",
            &format!("namespace: {id}-"),
        );
        kit.put(&rel, &text);
    }
    kit.put("promote.yaml", &config(id));
    kit.commit("online boutique at v1.0.0");
    kit
}

pub fn config(id: &str) -> String {
    format!(
        "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {{remote: origin, baseBranch: main, mode: direct}}
environments:
  - name: staging
    overlay: kustomize/staging
    argocd: {{app: {id}-staging, namespace: argocd}}
    policies:
      rollback:
        - module: builtin:rollback-guard
  - name: prod
    overlay: kustomize/prod
    from: staging
    argocd: {{app: {id}-prod, namespace: argocd}}
    policies:
      promote:
        - module: builtin:change-window
          settings:
            timezone: Europe/Berlin
            deny: [{{days: [Fri], from: \"15:00\", to: \"24:00\"}}]
            freezes: [{{from: \"2026-12-21\", to: \"2027-01-03\", reason: year-end freeze}}]
      rollback:
        - module: builtin:rollback-guard
"
    )
}

/// Every file under `dir` (relative path, text), sorted.
pub fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let p = entry.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read_to_string(&p).expect("utf-8 file")));
            }
        }
    }
    out.sort();
    out
}

pub fn history(app: &Value) -> Vec<Value> {
    app["status"]["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The revision Argo CD last deployed (`history[-1]`).
pub fn deployed(app: &Value) -> Option<String> {
    history(app)
        .last()
        .and_then(|h| h["revision"].as_str())
        .map(str::to_owned)
}

pub fn annotation<'a>(app: &'a Value, key: &str) -> Option<&'a str> {
    app["metadata"]["annotations"][key].as_str()
}

/// One line on an Application's state, for failure messages.
pub fn summary(app: &Value) -> String {
    format!(
        "sync {} health {} deployed {:?} op {} automated {} operation {}",
        app["status"]["sync"]["status"],
        app["status"]["health"]["status"],
        deployed(app),
        app["status"]["operationState"]["phase"],
        app["spec"]["syncPolicy"]["automated"],
        app["operation"],
    )
}
