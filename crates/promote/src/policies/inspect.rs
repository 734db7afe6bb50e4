//! `policy inspect MODULE`: what the host makes of one module before anything runs it: its
//! digest, the load-time shape check (imports, exports; for Rego, the host builtins it calls),
//! its metadata, the limits its calls would run under, and whether the cache holds it.

use std::path::Path;

use serde::Serialize;

use promote_policy::sdk::PolicyMetadata;
use promote_policy::{LoadError, Policy};

use super::error::PoliciesError;
use super::resolve::{digest_and_cached, resolve_module};
use crate::PromoteError;
use crate::document::Document;
use crate::ports::PolicyRuntime;

/// What the check says of a module that passed it (a WASI one).
const WASI_SHAPE: &str =
    "imports only from wasi_snapshot_preview1; exports _start (func) and memory (memory)";

/// One module (`kind: PolicyInspection`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectReport {
    pub origin: String,
    pub sha256: Option<String>,
    /// Imports only from wasi_snapshot_preview1, exports `_start` and `memory`.
    pub check: ShapeCheck,
    pub metadata: Option<PolicyMetadata>,
    /// The limits its calls run under (defaults, raised by `resources` up to the host maximum).
    pub limits: Option<LimitsReport>,
    pub cached: Option<bool>,
    /// Why it cannot be used, when it cannot.
    pub error: Option<String>,
}

impl Document for InspectReport {
    fn kind(&self) -> &'static str {
        "PolicyInspection"
    }
}

/// The load-time shape check.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeCheck {
    /// `None`: not run (the module failed before it, e.g. an unknown built-in or a pin).
    pub passed: Option<bool>,
    pub message: String,
}

/// The limits of one call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitsReport {
    pub fuel: u64,
    pub timeout_ms: u128,
    #[serde(rename = "memoryMiB")]
    pub memory_mib: u64,
}

/// Inspect MODULE (resolved from `cwd`). A module that cannot be used is a report with its
/// `error`; `Err` when MODULE names nothing or its file cannot be read.
pub fn run(
    policies: &PolicyRuntime,
    module: &str,
    cwd: &Path,
) -> Result<InspectReport, PromoteError> {
    let host = policies.host()?;
    let source = resolve_module(module, cwd, policies.settings.krew_root.as_deref())?;
    let (sha, cached) = digest_and_cached(host, &source);
    let origin = source.origin().to_string();
    match host.load(&source) {
        Ok(p) => Ok(loaded(origin, &p, cached)),
        Err(e @ LoadError::Read { .. }) => Err(PoliciesError::from(e).into()),
        Err(e) => {
            let passed = check_passed(&e);
            let message = match passed {
                Some(false) => e.to_string(),
                Some(true) => WASI_SHAPE.into(),
                None => "not checked".into(),
            };
            Ok(InspectReport {
                origin,
                sha256: sha.map(|s| s.to_hex()),
                check: ShapeCheck { passed, message },
                metadata: None,
                limits: None,
                cached,
                error: Some(e.to_string()),
            })
        }
    }
}

fn loaded(origin: String, p: &Policy, cached: Option<bool>) -> InspectReport {
    let message = match p.opa_builtins() {
        // A Rego module (promote.opa/v1): what the load-time check looked at.
        Some(b) => format!(
            "an `opa build -t wasm` module with entrypoint promote/decision; host builtins it calls: {}",
            if b.is_empty() {
                "none".to_owned()
            } else {
                b.join(", ")
            }
        ),
        None => WASI_SHAPE.into(),
    };
    let limits = p.limits();
    InspectReport {
        origin,
        sha256: Some(p.sha256().to_hex()),
        check: ShapeCheck {
            passed: Some(true),
            message,
        },
        metadata: Some(p.metadata().clone()),
        limits: Some(LimitsReport {
            fuel: limits.fuel,
            timeout_ms: limits.timeout.as_millis(),
            memory_mib: limits.memory_bytes >> 20,
        }),
        cached,
        error: None,
    }
}

/// Whether the shape check passed, judged from a load error. The shape is checked before the
/// metadata is read and before compiling: errors from those later steps mean it passed.
fn check_passed(e: &LoadError) -> Option<bool> {
    match e {
        LoadError::Malformed { .. }
        | LoadError::RefusedImport { .. }
        | LoadError::MissingExport { .. }
        | LoadError::Opa { .. }
        | LoadError::UnsupportedBuiltins { .. }
        | LoadError::UnsupportedSprintf { .. }
        | LoadError::AbiMismatch { .. } => Some(false),
        LoadError::UnknownBuiltin { .. }
        | LoadError::PinMismatch { .. }
        | LoadError::KrewModuleChanged { .. } => None,
        _ => Some(true),
    }
}
