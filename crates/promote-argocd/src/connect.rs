//! Choosing the cluster as kubectl does: `--kubeconfig FILE`, else `$KUBECONFIG` (a list of
//! files, merged) or `~/.kube/config`; `--context`, `--cluster`, `--user` override the current
//! context; `-n/--namespace` overrides the context's namespace (default `argocd` here, where
//! Argo CD's Applications usually live, rather than kubectl's `default`). Exec and token auth are
//! whatever kube's config loader supports. This is the one module that reads `KUBECONFIG`
//! (through kube's loader).

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

/// kubectl's connection flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `--kubeconfig`: this file only (kubectl does not merge it with `$KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `-n/--namespace`: where the Applications live when an [`AppRef`] names none.
    ///
    /// [`AppRef`]: promote_core::argocd::AppRef
    pub namespace: Option<String>,
    /// `--request-timeout`: for each request (a watch is bounded by its wait's deadline).
    pub request_timeout: Option<Duration>,
}

/// Could not set up a client for the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("could not read the kubeconfig {}", path.display())]
    ReadKubeconfig {
        path: PathBuf,
        #[source]
        cause: KubeconfigError,
    },
    #[error("could not read the kubeconfig from $KUBECONFIG or ~/.kube/config")]
    FindKubeconfig(#[source] KubeconfigError),
    #[error("could not use {} from the kubeconfig", match .context { Some(c) => format!("context {c:?}"), None => "the current context".to_owned() })]
    Context {
        context: Option<String>,
        #[source]
        cause: KubeconfigError,
    },
    #[error("could not create a Kubernetes client")]
    Client(#[source] kube::Error),
    #[error("{url:?} is not a valid argocd-server URL")]
    ServerUrl {
        url: String,
        #[source]
        cause: http::uri::InvalidUri,
    },
    #[error("the Argo CD token cannot be sent in an HTTP header (it contains control characters)")]
    Token,
    #[error("could not start the I/O runtime")]
    Runtime(#[source] std::io::Error),
}

/// The namespace used when neither `-n` nor the context names one.
pub const DEFAULT_NAMESPACE: &str = "argocd";

pub(crate) async fn client(
    options: &ConnectOptions,
) -> Result<(kube::Client, String), ConnectError> {
    let kubeconfig = match &options.kubeconfig {
        Some(path) => {
            Kubeconfig::read_from(path).map_err(|cause| ConnectError::ReadKubeconfig {
                path: path.clone(),
                cause,
            })?
        }
        None => Kubeconfig::read().map_err(ConnectError::FindKubeconfig)?,
    };
    let kc_options = KubeConfigOptions {
        context: options.context.clone(),
        cluster: options.cluster.clone(),
        user: options.user.clone(),
    };
    let context_namespace = {
        let name = options
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone());
        kubeconfig
            .contexts
            .iter()
            .find(|c| Some(&c.name) == name.as_ref())
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.namespace.clone())
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &kc_options)
        .await
        .map_err(|cause| ConnectError::Context {
            context: options.context.clone(),
            cause,
        })?;
    if let Some(t) = options.request_timeout {
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
        config.connect_timeout = Some(t);
    }
    let namespace = options
        .namespace
        .clone()
        .or(context_namespace)
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let client = kube::Client::try_from(config).map_err(ConnectError::Client)?;
    Ok((client, namespace))
}

/// The cluster `options` select, as kubectl would (context, cluster name, server), for a
/// message that tells the user where we looked: `context "prod" (cluster "prod-eu", server
/// https://…)`. `None` when no kubeconfig can be read or it names no such context.
pub fn describe_cluster(options: &ConnectOptions) -> Option<String> {
    let kubeconfig = match &options.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let context_name = options
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())?;
    let context = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)?;
    let cluster_name = options
        .cluster
        .clone()
        .or_else(|| context.context.as_ref().map(|c| c.cluster.clone()))?;
    let server = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone());
    Some(match server {
        Some(server) => {
            format!("context {context_name:?} (cluster {cluster_name:?}, server {server})")
        }
        None => format!("context {context_name:?} (cluster {cluster_name:?})"),
    })
}
