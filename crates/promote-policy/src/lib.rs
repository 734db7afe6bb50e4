//! The wasmtime host of `kubectl promote`: the only crate that links wasmtime.
//!
//! It owns the policy contract's host side (`specs/policy-abi.md`): resolving a module
//! ([`ModuleSource`]: `builtin:NAME`, a path with an optional sha256 pin, or a package krew
//! installed, found by [`krew`]), checking it before
//! compiling (imports only from `wasi_snapshot_preview1`, exports `_start` and `memory`), reading
//! its metadata without running it, compiling through a private on-disk cache, running
//! `evaluate` and `validate-settings` in a fresh sandboxed store per call under fuel, an epoch
//! deadline and memory limits, and [`combine`]-ing the decisions of an operation's policies.
//! It also writes a module's krew package ([`package`]).
//!
//! Rego policies (`promote.opa/v1`, built by `opa build -t wasm`) run on the same engine, cache
//! and limits through `opa-wasm` (see the `opa` module).
//!
//! The API is synchronous (wasmtime's sync API); async callers go through `spawn_blocking`.

mod builtins;
mod cache;
pub mod cases;
mod clock;
mod combine;
mod error;
mod host;
mod inspect;
pub mod krew;
mod limits;
mod opa;
pub mod package;
mod printable;
mod source;
mod sprintf;

pub use builtins::{BUILTIN_NAMES, builtin_bytes};
pub use cache::{CacheMode, CacheStatus, Heal};
pub use combine::{
    AttributedReason, BreakGlass, Combined, ConfiguredPolicy, FailurePolicy, OverrideOutcome,
    PolicyOutcome, PolicyReport, combine,
};
pub use error::{HostError, LIMITS_DOC, LoadError, PolicyError, Printed, QUOTED_STDOUT};
pub use host::{
    Allocation, Evaluation, Host, HostConfig, Policy, ReadModule, SIDECAR, STDERR_LIMIT,
    STDOUT_LIMIT, SidecarText,
};
pub use limits::Limits;
pub use opa::{ABI_OPA_V1, DECISION_ENTRYPOINT, SETTINGS_ENTRYPOINT, SUPPORTED_BUILTINS};
pub use source::{ModuleSource, Origin, Sha256};

pub use promote_policy_sdk as sdk;
