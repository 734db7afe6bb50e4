//! Domain types and pure decisions of `kubectl promote`.
//!
//! This crate does no I/O: no filesystem, no network, no processes, no async. The adapters
//! (`promote-git`, `promote-policy`, `promote-argocd`, `promote-forge`) turn the world into the
//! types defined here, and the use cases in `promote` combine them through the small traits this
//! crate defines, so every decision can be tested with in-memory fakes.

pub mod argocd;
pub mod config;
pub mod forge;
pub mod image;
pub mod overlay;
pub mod trailers;
pub mod yaml;
