//! Test support for `kubectl promote`: git repositories and bare remotes built from a small DSL,
//! and the stand-ins for the only parts we do not run for real (the Kubernetes API with an Argo CD
//! controller, the forge APIs, and registry authentication; registries themselves run for real). Stand-ins follow the vendors' documented behaviour
//! (`shared/specs/argocd.md`, the forge API docs), not our client's convenience.

pub mod argocd;
pub mod forge;
pub mod registry;
pub mod repo;
