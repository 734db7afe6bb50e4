//! Test support for `kubectl promote`: git repositories and bare remotes built from a small DSL,
//! Go and Rego policy modules built with the real `go` and `opa`, a real OCI registry (`crane
//! registry serve`), and the stand-ins for the only parts we do not run for real (the Kubernetes
//! API with an Argo CD controller, the forge APIs, and registry token authentication). Beside the
//! real kube-apiserver and Argo CD (`scripts/real-cluster.sh`) one stand-in is left: the
//! [`kubelet`] that writes Deployment status. Stand-ins
//! follow the vendors' documented behaviour (`shared/specs/argocd.md`, the forge API docs), not our
//! client's convenience.

pub mod argocd;
pub mod cosign;
pub mod flags;
pub mod forge;
pub mod go;
pub mod hooks;
pub mod keyless;
pub mod kubelet;
pub mod opa;
mod query;
pub mod registry;
pub mod repo;
pub mod shop;
