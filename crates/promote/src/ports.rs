//! Ports: what a use case needs from outside that is not git (called directly, through
//! `promote-git`): where the repository is, the policy host, the renderer, the clock, and the
//! adapters for Argo CD, the forges and the registries. The binary builds them from flags and
//! the environment (`wiring.rs`); tests build them with in-memory fakes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use promote_core::argocd::{AppRef, ArgoCd};
use promote_core::checks::Probe;
use promote_core::config::{ArgoTarget, Environment};
use promote_core::forge::{Forge, ForgeError, ForgeTarget};
use promote_core::registry::ImageResolver;
use promote_core::source::SourceHistory;
use promote_policy::{Allocation, CacheMode, Host, HostConfig};

use crate::PromoteError;
use crate::clock::{Clock, SystemClock};
use crate::deploy::ArgoError;
use crate::render::Renderer;
use crate::session::Workspace;

/// Everything a use case reaches through, bundled once per command.
pub struct Ports {
    /// Where the GitOps repository is and how to open it.
    pub workspace: Workspace,
    /// The wasmtime host, created on first use.
    pub policies: PolicyRuntime,
    /// `kubectl kustomize` or `kustomize build`, with the render cache.
    pub renderer: Renderer,
    pub clock: Box<dyn Clock>,
    /// How each environment's Argo CD is reached.
    pub argocd: Box<dyn ArgoCdConnector>,
    /// The forge client of a repository, when there is a token for it.
    pub forges: Box<dyn ForgeConnector>,
    /// The registry client the image check asks.
    pub registry: Box<dyn RegistryConnector>,
    /// How the checks after a deploy reach their endpoints and read their credentials.
    pub checks: Box<dyn CheckConnector>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports")
            .field("workspace", &self.workspace)
            .field("renderer", &self.renderer)
            .finish_non_exhaustive()
    }
}

impl Ports {
    /// Ports for `workspace` and `renderer` that reach nothing else: policies without a cache,
    /// the system clock. Callers replace what they have.
    pub fn new(workspace: Workspace, renderer: Renderer) -> Ports {
        Ports {
            workspace,
            policies: PolicyRuntime::new(PolicySettings::default()),
            renderer,
            clock: Box::new(SystemClock::default()),
            argocd: Box::new(Unwired),
            forges: Box::new(Unwired),
            registry: Box::new(Unwired),
            checks: Box::new(Unwired),
        }
    }
}

/// Whether a connection to Argo CD will watch: a read gets a request timeout, a wait none (its
/// deadline is its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Read,
    Wait,
}

/// Where ENV's Application is and the way to it, before anything is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub app: AppRef,
    /// How it is reached, for messages: `context kind-prod`, `argocd-server https://…`.
    pub via: String,
    pub transport: Transport,
}

/// A way to reach Argo CD. Environments reached the same way share one transport (one client,
/// one connection pool). Holds no secret: the connector adds the token when it opens one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// argocd-server's REST API; `from` names the flag, variable or key that chose the server.
    Rest {
        server: String,
        from: &'static str,
        insecure: bool,
        request_timeout: Option<Duration>,
    },
    /// The Kubernetes API, as kubectl would reach it.
    Kube {
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        cluster: Option<String>,
        user: Option<String>,
        request_timeout: Option<Duration>,
    },
}

/// An opened transport, shareable across threads.
pub type ArgoCdClient = Arc<dyn ArgoCd + Send + Sync>;

/// The Argo CD port: where each environment's Application is (flags, then `promote.yaml`, then
/// defaults) and the transport that reaches it.
pub trait ArgoCdConnector: Send + Sync {
    /// Which Application `target` names (a namespace flag wins over promote.yaml's); reads
    /// nothing and cannot fail, so it can name the app when Argo CD cannot be reached.
    fn app(&self, target: &ArgoTarget) -> AppRef {
        AppRef {
            namespace: Some(target.namespace.clone()),
            name: target.app.clone(),
        }
    }
    /// Where ENV's Application is and how it is reached; reads nothing.
    fn locate(&self, env: &Environment, purpose: Purpose) -> Result<Location, ArgoError>;
    /// Opens a transport; `Err` holds why not, on one line.
    fn open(&self, transport: &Transport) -> Result<ArgoCdClient, String>;
    /// Where `at` looks, for people: the kubeconfig context and its cluster, or the
    /// argocd-server and what chose it.
    fn describe(&self, at: &Location) -> String;
}

/// The forge port.
pub trait ForgeConnector {
    /// The client of `target` when there is a token for it; `None` when the variable
    /// `target.token_env` names is unset or empty.
    fn connect(&self, target: &ForgeTarget) -> Result<Option<Box<dyn Forge>>, ForgeError>;
    /// A client of a source repository's history (`target` names it) when there is a token for
    /// it, for the commits behind a promotion's tags; `None` without one.
    fn source_history(
        &self,
        target: &ForgeTarget,
    ) -> Result<Option<Box<dyn SourceHistory>>, ForgeError>;
}

/// The registry port.
pub trait RegistryConnector {
    /// The client the image check asks (one connection pool, one token cache).
    fn resolver(&self) -> Result<Arc<dyn ImageResolver>, PromoteError>;
}

/// The checks' port: an HTTP client, and the variables header templates (`${TOKEN}`) name.
pub trait CheckConnector: Send + Sync {
    /// The client the checks ask.
    fn probe(&self) -> Result<Arc<dyn Probe>, PromoteError>;
    /// An environment variable's value, for a check's header.
    fn variable(&self, name: &str) -> Option<String>;
}

/// The connectors of [`Ports::new`]: nothing is reachable (no forge token, no Argo CD, no
/// registry client).
#[derive(Debug, Clone, Copy)]
pub struct Unwired;

impl ArgoCdConnector for Unwired {
    fn locate(&self, env: &Environment, _: Purpose) -> Result<Location, ArgoError> {
        Err(ArgoError::NotWired {
            env: env.name.clone(),
        })
    }

    fn open(&self, _: &Transport) -> Result<ArgoCdClient, String> {
        Err("no way to reach Argo CD was set up".to_owned())
    }

    fn describe(&self, _: &Location) -> String {
        "nowhere".to_owned()
    }
}

impl ForgeConnector for Unwired {
    fn connect(&self, _: &ForgeTarget) -> Result<Option<Box<dyn Forge>>, ForgeError> {
        Ok(None)
    }
    fn source_history(
        &self,
        _: &ForgeTarget,
    ) -> Result<Option<Box<dyn SourceHistory>>, ForgeError> {
        Ok(None)
    }
}

impl CheckConnector for Unwired {
    fn probe(&self) -> Result<Arc<dyn Probe>, PromoteError> {
        Err(PromoteError::NotWired {
            what: "HTTP client for checks",
        })
    }
    fn variable(&self, _: &str) -> Option<String> {
        None
    }
}

impl RegistryConnector for Unwired {
    fn resolver(&self) -> Result<Arc<dyn ImageResolver>, PromoteError> {
        Err(PromoteError::NotWired { what: "registry" })
    }
}

/// How policies run for this command, besides what `promote.yaml` says.
#[derive(Debug, Clone, Default)]
pub struct PolicySettings {
    /// Root for compiled modules (`$XDG_CACHE_HOME`); `None` = `--no-cache`.
    pub cache: Option<PathBuf>,
    /// `--policy PATH` modules, added to the operation's policies.
    pub one_offs: Vec<PathBuf>,
    /// `$KREW_ROOT` (default `~/.krew`), where `krew:` modules are installed; `None` = unknown
    /// (no home directory), and `krew:` modules are refused.
    pub krew_root: Option<PathBuf>,
    /// The Kubernetes user of the current context, when known (the actor's `kubeUser`).
    pub kube_user: Option<String>,
    /// `--save-requests DIR`: every policy's request and decision saved there as a test case.
    pub save_requests: Option<PathBuf>,
    /// How the host allocates instances: the pool (default) for commands that make many
    /// calls, on demand for one that makes a few and exits (`policy eval`).
    pub allocation: Allocation,
}

/// The policy port: the wasmtime host, created on first use (only commands that evaluate
/// policies pay), or beforehand on another thread while a fetch runs ([`PolicyRuntime::warm`]).
pub struct PolicyRuntime {
    pub settings: PolicySettings,
    host: OnceLock<Host>,
    /// The host being created on another thread.
    warming: Mutex<Option<JoinHandle<Option<Host>>>>,
}

impl std::fmt::Debug for PolicyRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyRuntime")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PolicyRuntime {
    pub fn new(settings: PolicySettings) -> PolicyRuntime {
        PolicyRuntime {
            settings,
            host: OnceLock::new(),
            warming: Mutex::new(None),
        }
    }

    /// Start creating the host on another thread (the engine does not depend on the fetch that
    /// runs meanwhile). A failure is reported by [`PolicyRuntime::host`], which tries again.
    pub fn warm(&self) {
        let mut warming = self.warming.lock().unwrap_or_else(|p| p.into_inner());
        if self.host.get().is_none() && warming.is_none() {
            let (cache, allocation) = (self.settings.cache.clone(), self.settings.allocation);
            *warming = Some(std::thread::spawn(move || new_host(cache, allocation).ok()));
        }
    }

    /// The host, created now unless [`PolicyRuntime::warm`] made it already.
    pub fn host(&self) -> Result<&Host, PromoteError> {
        if let Some(h) = self.host.get() {
            return Ok(h);
        }
        let warmed = self
            .warming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .and_then(|h| h.join().ok().flatten());
        let host = match warmed {
            Some(h) => h,
            None => new_host(self.settings.cache.clone(), self.settings.allocation)?,
        };
        Ok(self.host.get_or_init(|| host))
    }
}

/// `cache`: the `<cache>/kubectl-promote` root for compiled modules, or `None` (`--no-cache`).
fn new_host(cache: Option<PathBuf>, allocation: Allocation) -> Result<Host, PromoteError> {
    let mode = match cache {
        Some(dir) => CacheMode::Dir(dir),
        None => CacheMode::Disabled,
    };
    let config = HostConfig {
        allocation,
        ..HostConfig::new(mode)
    };
    Host::new(config).map_err(|e| PromoteError::Policy(e.to_string()))
}
