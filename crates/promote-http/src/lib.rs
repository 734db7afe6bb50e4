//! The one HTTP layer of kubectl-promote (the private `http` module: agent, deadline, proxy,
//! redirect policy, bounded answers) and the two clients on it: pull requests on GitHub, GitLab
//! and Gitea/Forgejo ([`HttpForge`], the HTTP implementation of `promote_core::forge::Forge`) and
//! image lookups in OCI registries ([`registry`]).
//!
//! Blocking on purpose (ureq with rustls, no async runtime): the use cases call the forge and the
//! registry a handful of times per promotion, and the rest of the pipeline (git2, wasmtime) is
//! sync too. This crate reads no environment: the caller passes the proxy, the deadline and the
//! docker config.

mod forge;
mod http;
mod probe;
pub mod registry;

pub use forge::{ClientOptions, HttpForge, wait_for_merge};
pub use http::parse_next_link;
pub use probe::HttpProbe;
