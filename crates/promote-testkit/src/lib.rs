//! Test support for `kubectl promote`: git repositories and bare remotes built from a small DSL,
//! Go policy modules built with the real toolchain (`go`),
//! and the stand-ins for the only parts we do not run for real (the Kubernetes API with an Argo CD
//! controller, and the forge APIs), and Rego bundles built with the real `opa`. Stand-ins follow the vendors' documented behaviour
//! (`shared/specs/argocd.md`, the forge API docs), not our client's convenience.

pub mod argocd;
pub mod forge;
pub mod go;
pub mod opa;
pub mod repo;
