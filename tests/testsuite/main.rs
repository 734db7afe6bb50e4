//! The binary's end-to-end scenarios: `kubectl promote` itself, driven as a user drives it,
//! against real git, `kubectl`, wasmtime, OPA, krew and crane's registry, with the stand-ins only
//! where nothing real can run here (the Argo CD stand-in and the fake forges). One test binary
//! with a module per area (cargo's testsuite habit): one link instead of fourteen.
//!
//! The kill and race modules need the binary built with its named pause points:
//! `cargo test -p kubectl-promote --features test-hooks --test testsuite`.

mod approvals;
mod apps;
mod argocd;
mod argocd_kill;
mod argocd_windows;
mod cli;
mod deploy_checks;
mod faults;
mod images;
mod keyless;
mod krew;
mod policies;
mod policy_cmd;
mod policy_new;
mod pr;
mod races;
mod release;
mod secrets;
mod supply_chain;
mod targets;
mod trees;
mod walkthrough;
