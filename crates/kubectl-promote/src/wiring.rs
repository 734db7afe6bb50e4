//! The use cases' [`Ports`], built from the global flags and the process environment: where the
//! repository is, the policy settings, the renderer, the clock, and the adapters that reach
//! Argo CD (the Kubernetes API or argocd-server), the forges and the registries. Secrets (the
//! Argo CD and forge tokens) are read here, when a transport is opened, and never handed to the
//! use cases as text.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use promote::clock::SystemClock;
use promote::deploy::ArgoError;
use promote::ports::{
    ArgoCdClient, ArgoCdConnector, ForgeConnector, Location, PolicyRuntime, PolicySettings, Ports,
    Purpose, RegistryConnector, Transport,
};
use promote::render::{RenderProgram, Renderer};
use promote::{PromoteError, Workspace};
use promote_argocd::{ConnectOptions, KubeArgoCd, RestArgoCd, RestOptions};
use promote_core::argocd::AppRef;
use promote_core::config::{ArgoTarget, Environment};
use promote_core::forge::{Forge, ForgeError, ForgeTarget, Token};
use promote_core::registry::ImageResolver;
use promote_core::source::SourceHistory;
use promote_policy::Allocation;

use crate::cli::Global;
use crate::env::Env;

/// A usage error (exit 2).
fn usage(msg: String) -> anyhow::Error {
    PromoteError::Usage(msg).into()
}

/// Reads that do not wait get this request timeout unless `--request-timeout` says otherwise, so
/// `status` on an unreachable cluster does not hang; waits keep their own deadline.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// The ports of one command.
pub fn ports(global: &Global, env: &Env) -> anyhow::Result<Ports> {
    let request_timeout = request_timeout(global)?;
    Ok(Ports {
        workspace: workspace(global, env)?,
        policies: policy_runtime(global, env),
        renderer: renderer(global, env),
        clock: Box::new(SystemClock {
            pinned: env.now.clone(),
        }),
        argocd: Box::new(KubectlArgoCd {
            global: global.clone(),
            env: env.clone(),
            request_timeout,
        }),
        forges: Box::new(EnvForges { env: env.clone() }),
        registry: Box::new(HttpRegistries { env: env.clone() }),
        checks: Box::new(HttpChecks { env: env.clone() }),
    })
}

/// The checks after a deploy: HTTP through `HTTPS_PROXY`/`HTTP_PROXY` when set (an `http://`
/// proxy), header variables from the environment.
struct HttpChecks {
    env: Env,
}

impl promote::ports::CheckConnector for HttpChecks {
    fn probe(&self) -> Result<Arc<dyn promote_core::checks::Probe>, PromoteError> {
        let proxy = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]
            .iter()
            .find_map(|k| self.env.var(k))
            .filter(|p| p.starts_with("http://"))
            .map(str::to_owned);
        Ok(Arc::new(promote_http::HttpProbe { proxy }))
    }

    fn variable(&self, name: &str) -> Option<String> {
        self.env.var(name).map(str::to_owned)
    }
}

/// The policy port alone, for the commands that need no repository (`policy …`): the
/// compiled-module cache, `--policy` one-offs and the krew root.
pub fn policy_runtime(global: &Global, env: &Env) -> PolicyRuntime {
    PolicyRuntime::new(PolicySettings {
        // The host puts `kubectl-promote/compiled/…` below this root.
        cache: (!global.no_cache)
            .then(|| env.cache_dir.parent().map(Path::to_path_buf))
            .flatten(),
        one_offs: global.policy.clone(),
        krew_root: env.krew_root.clone(),
        kube_user: None,
        save_requests: None,
        allocation: Allocation::Pooling,
    })
}

/// Where the repository is and how to open it.
fn workspace(global: &Global, env: &Env) -> anyhow::Result<Workspace> {
    let config_override = match &global.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --config {}", path.display()))?;
            Some((path.display().to_string(), text))
        }
        None => None,
    };
    Ok(Workspace {
        repo: global.repo.clone(),
        cwd: std::env::current_dir().context("reading the working directory")?,
        cache_dir: env.cache_dir.clone(),
        no_cache: global.no_cache,
        config_override,
        interactive: env.interactive,
        // One app scopes every command; a list or a pattern is a promotion's selection.
        app: global
            .app
            .clone()
            .filter(|a| !crate::commands::is_app_pattern(a)),
    })
}

/// `kubectl kustomize`, or `kustomize build` when it is installed.
fn renderer(global: &Global, env: &Env) -> Renderer {
    let tools = env.render_tools();
    let program = match &tools.kustomize {
        Some(k) => RenderProgram::Kustomize(k.clone()),
        None => RenderProgram::Kubectl(tools.kubectl.clone()),
    };
    Renderer {
        program,
        helm: tools.helm.clone(),
        cache: (!global.no_cache).then(|| env.cache_dir.join("renders")),
        speculation: None,
    }
}

/// `--request-timeout` as kubectl reads it: `0` is none, a bare number is seconds.
fn request_timeout(global: &Global) -> anyhow::Result<Option<Duration>> {
    match global.request_timeout.as_deref().map(str::trim) {
        None | Some("0") => Ok(None),
        Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(Duration::from_secs(t.parse().map_err(|_| {
                usage(format!("--request-timeout {t}: not a number of seconds"))
            })?)))
        }
        Some(t) => crate::cli::parse_duration(t)
            .map(Some)
            .map_err(|e| usage(format!("--request-timeout: {e}"))),
    }
}

/// Argo CD as kubectl users reach it: flags, then `promote.yaml`, then defaults; argocd-server's
/// REST API when a server is named (`--argocd-server`, `$ARGOCD_SERVER`, `argocd.server`), else
/// the Kubernetes API.
struct KubectlArgoCd {
    global: Global,
    env: Env,
    request_timeout: Option<Duration>,
}

impl ArgoCdConnector for KubectlArgoCd {
    fn app(&self, target: &ArgoTarget) -> AppRef {
        AppRef {
            namespace: Some(
                self.global
                    .namespace
                    .clone()
                    .unwrap_or_else(|| target.namespace.clone()),
            ),
            name: target.app.clone(),
        }
    }

    fn locate(&self, env: &Environment, purpose: Purpose) -> Result<Location, ArgoError> {
        let target = env.argocd.as_ref().ok_or_else(|| ArgoError::NoApp {
            env: env.name.clone(),
        })?;
        let app = self.app(target);
        let request_timeout = match (self.request_timeout, purpose) {
            (Some(t), _) => Some(t),
            (None, Purpose::Read) => Some(READ_TIMEOUT),
            (None, Purpose::Wait) => None,
        };
        let server = self
            .global
            .argocd_server
            .clone()
            .map(|s| (s, "--argocd-server"))
            .or_else(|| {
                self.env
                    .var("ARGOCD_SERVER")
                    .map(|s| (s.to_owned(), "ARGOCD_SERVER"))
            })
            .or_else(|| {
                target
                    .server
                    .clone()
                    .map(|s| (s, "argocd.server in promote.yaml"))
            });
        if let Some((server, from)) = server {
            if self.env.var("ARGOCD_AUTH_TOKEN").is_none() {
                return Err(ArgoError::NoToken { server, from });
            }
            let insecure = self
                .env
                .var("ARGOCD_INSECURE")
                .is_some_and(|v| v == "true" || v == "1");
            return Ok(Location {
                app,
                via: format!("argocd-server {server}"),
                transport: Transport::Rest {
                    server,
                    from,
                    insecure,
                    request_timeout,
                },
            });
        }
        let context = self
            .global
            .context
            .clone()
            .or_else(|| target.context.clone());
        let via = match &context {
            Some(c) => format!("context {c}"),
            None => "current context".to_owned(),
        };
        Ok(Location {
            app,
            via,
            transport: Transport::Kube {
                kubeconfig: self.global.kubeconfig.clone(),
                context,
                cluster: self.global.cluster.clone(),
                user: self.global.user.clone(),
                request_timeout,
            },
        })
    }

    fn open(&self, transport: &Transport) -> Result<ArgoCdClient, String> {
        let opened: Result<ArgoCdClient, promote_argocd::ConnectError> = match transport {
            Transport::Rest {
                server,
                insecure,
                request_timeout,
                from,
            } => {
                let token = self.env.var("ARGOCD_AUTH_TOKEN").ok_or_else(|| {
                    ArgoError::NoToken {
                        server: server.clone(),
                        from,
                    }
                    .to_string()
                })?;
                RestArgoCd::connect(&RestOptions {
                    server: server.clone(),
                    token: token.to_owned(),
                    insecure: *insecure,
                    app_namespace: None,
                    request_timeout: *request_timeout,
                })
                .map(|c| Arc::new(c) as ArgoCdClient)
            }
            Transport::Kube { .. } => {
                KubeArgoCd::connect(&kube_options(transport)).map(|c| Arc::new(c) as ArgoCdClient)
            }
        };
        opened.map_err(|e| promote::deploy::one_line(&e))
    }

    fn describe(&self, at: &Location) -> String {
        match &at.transport {
            Transport::Kube { .. } => {
                promote_argocd::describe_cluster(&kube_options(&at.transport))
                    .unwrap_or_else(|| at.via.clone())
            }
            Transport::Rest { server, from, .. } => format!("argocd-server {server} (from {from})"),
        }
    }
}

/// The kube client's options of a [`Transport::Kube`] (defaults for any other).
fn kube_options(transport: &Transport) -> ConnectOptions {
    match transport {
        Transport::Kube {
            kubeconfig,
            context,
            cluster,
            user,
            request_timeout,
        } => ConnectOptions {
            kubeconfig: kubeconfig.clone(),
            context: context.clone(),
            cluster: cluster.clone(),
            user: user.clone(),
            namespace: None,
            request_timeout: *request_timeout,
        },
        Transport::Rest { .. } => ConnectOptions::default(),
    }
}

/// Forges through promote-http, with the token from the variable `forge.tokenEnv` names.
struct EnvForges {
    env: Env,
}

impl EnvForges {
    fn client(&self, target: &ForgeTarget) -> Result<Option<promote_http::HttpForge>, ForgeError> {
        match self.env.var(&target.token_env).and_then(Token::new) {
            Some(token) => Ok(Some(promote_http::HttpForge::new(target.clone(), token)?)),
            None => Ok(None),
        }
    }
}

impl ForgeConnector for EnvForges {
    fn connect(&self, target: &ForgeTarget) -> Result<Option<Box<dyn Forge>>, ForgeError> {
        Ok(self.client(target)?.map(|f| Box::new(f) as Box<dyn Forge>))
    }
    fn source_history(
        &self,
        target: &ForgeTarget,
    ) -> Result<Option<Box<dyn SourceHistory>>, ForgeError> {
        Ok(self
            .client(target)?
            .map(|f| Box::new(f) as Box<dyn SourceHistory>))
    }
}

/// Registries through promote-http, with `~/.docker/config.json` credentials.
struct HttpRegistries {
    env: Env,
}

impl RegistryConnector for HttpRegistries {
    fn resolver(&self) -> Result<Arc<dyn ImageResolver>, PromoteError> {
        let options = promote_http::registry::RegistryOptions {
            docker_config: self.env.registries.docker_config.clone(),
            insecure: self.env.registries.insecure.clone(),
            ..Default::default()
        };
        let registry =
            promote_http::registry::HttpRegistry::new(&options).map_err(PromoteError::from)?;
        Ok(Arc::new(registry))
    }
}
