//! `policy eval MODULE --input FILE [--settings FILE]`: one request through one module, as a
//! promotion would run it (the module must declare the operation and accept the settings),
//! with the fuel and the time it took. A policy error is part of the report, not an `Err`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use promote_policy::sdk::{Decision, EvaluationRequest, Verdict};
use promote_policy::{Evaluation, Host, Policy, PolicyError, ReadModule};

use super::error::PoliciesError;
use super::resolve::resolve_module;
use crate::document::Document;
use crate::gate::note_cache;
use crate::ports::PolicyRuntime;
use crate::{Interaction, PromoteError};

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// MODULE, as [`resolve_module`] reads it (relative paths from `cwd`).
    pub module: String,
    /// `--input`: an `EvaluationRequest`, or a test case holding one.
    pub input: Input,
    /// `--settings`: JSON or YAML that replaces the request's `settings`.
    pub settings: Option<PathBuf>,
    pub cwd: PathBuf,
}

/// Where the request comes from.
#[derive(Debug, Clone)]
pub enum Input {
    /// A file (relative to the request's `cwd`).
    File(PathBuf),
    /// `--input -`: what the caller read from stdin (no use case reads stdin).
    Stdin(Vec<u8>),
}

impl Input {
    /// As the user wrote it after `--input`.
    fn shown(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin(_) => "-".to_owned(),
        }
    }
}

/// The evaluation (`kind: PolicyEvaluation`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvalReport {
    pub policy: String,
    pub origin: String,
    pub sha256: String,
    /// The Decision, when the policy decided.
    pub decision: Option<Decision>,
    pub fuel_used: Option<u64>,
    pub elapsed_ms: Option<f64>,
    /// A policy error: `{kind, message}`.
    pub error: Option<EvalError>,
    /// The module's metadata version (for the text view).
    #[serde(skip)]
    pub version: String,
    /// The fuel a call may use (for the text view).
    #[serde(skip)]
    pub fuel_limit: u64,
    /// What the module wrote to stderr (shown with `-v`).
    #[serde(skip)]
    pub log: String,
}

impl Document for EvalReport {
    fn kind(&self) -> &'static str {
        "PolicyEvaluation"
    }
}

impl EvalReport {
    /// The verdict, when the policy decided.
    pub fn verdict(&self) -> Option<Verdict> {
        self.decision.as_ref().map(|d| d.decision)
    }
}

/// A policy error.
#[derive(Debug, Serialize)]
pub struct EvalError {
    /// A short name: `out-of-fuel`, `trap`, `invalid-settings`, …
    pub kind: &'static str,
    pub message: String,
}

impl From<&PolicyError> for EvalError {
    fn from(e: &PolicyError) -> Self {
        EvalError {
            kind: error_kind(e),
            message: e.to_string(),
        }
    }
}

/// A short name for each kind of policy error (`out-of-fuel`, `trap`, …).
pub fn error_kind(e: &PolicyError) -> &'static str {
    match e {
        PolicyError::OutOfFuel { .. } => "out-of-fuel",
        PolicyError::TimedOut { .. } => "timeout",
        PolicyError::MemoryLimit { .. } => "memory-limit",
        PolicyError::Exit { .. } => "exit",
        PolicyError::Trap { .. } => "trap",
        PolicyError::OutputTooLarge { .. } => "output-too-large",
        PolicyError::InvalidOutput { .. } => "invalid-output",
        PolicyError::Undefined { .. } => "undefined",
        PolicyError::UnsupportedOperation { .. } => "unsupported-operation",
        PolicyError::Request { .. } => "bad-request",
        PolicyError::Instantiate { .. } => "instantiate",
        PolicyError::ValidateSettings(inner) => error_kind(inner),
    }
}

/// Evaluate. `Err` when the module cannot be found or loaded, or the input or settings cannot
/// be read; a policy error is the report's `error`.
pub fn run(
    policies: &PolicyRuntime,
    req: &EvalRequest,
    ui: &dyn Interaction,
) -> Result<EvalReport, PromoteError> {
    let (host, policy, request) = load_with_request(policies, req, ui)?;
    let mut report = EvalReport {
        policy: policy.name().to_owned(),
        origin: policy.origin().to_string(),
        sha256: policy.sha256().to_hex(),
        decision: None,
        fuel_used: None,
        elapsed_ms: None,
        error: None,
        version: policy.metadata().version.clone(),
        fuel_limit: policy.limits().fuel,
        log: String::new(),
    };
    match evaluate_checked(host, &policy, &request, req.settings.as_deref()) {
        Ok(ev) => {
            report.fuel_used = Some(ev.fuel_used);
            report.elapsed_ms = Some(ev.elapsed.as_secs_f64() * 1000.0);
            report.decision = Some(ev.decision);
            report.log = ev.log;
        }
        Err(e) => report.error = Some(e),
    }
    Ok(report)
}

/// The module MODULE names, loaded, and the request `--input` holds with `--settings` put in:
/// what `policy eval` and `policy bench` start from.
pub(super) fn load_with_request<'a>(
    policies: &'a PolicyRuntime,
    req: &EvalRequest,
    ui: &dyn Interaction,
) -> Result<(&'a Host, Policy, EvaluationRequest), PromoteError> {
    // The engine does not depend on the module: it is created on another thread while this
    // one reads, pins, unpacks and hashes the module (docs/performance.md, policy eval).
    policies.warm();
    let source = resolve_module(
        &req.module,
        &req.cwd,
        policies.settings.krew_root.as_deref(),
    )?;
    let read = ReadModule::new(&source, None).map_err(PoliciesError::from)?;
    // Read while the engine may still be on its way; a module that cannot be loaded is still
    // the error reported first.
    let request = read_request(&req.input, &req.cwd);
    let settings = req.settings.as_ref().map(|p| read_settings(p, &req.cwd));
    let host = policies.host()?;
    let policy = host.load_read(read).map_err(PoliciesError::from)?;
    note_cache(host, &policy, ui);
    let mut request = request?;
    if let Some(settings) = settings {
        request.settings = settings?;
    }
    Ok((host, policy, request))
}

/// The request `--input` holds; a test case file works too: its request, with its settings.
fn read_request(input: &Input, cwd: &Path) -> Result<EvaluationRequest, PromoteError> {
    let read;
    let bytes = match input {
        Input::Stdin(b) => b,
        Input::File(p) => {
            read = std::fs::read(cwd.join(p)).map_err(|source| PoliciesError::Read {
                what: format!("--input {}", p.display()),
                source,
            })?;
            &read
        }
    };
    let bad = |e: &dyn std::fmt::Display| {
        PromoteError::Usage(format!(
            "--input {}: not an EvaluationRequest (nor a test case holding one): {e}; the format is in docs/policies.md, \"evaluate\"",
            input.shown()
        ))
    };
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| bad(&e))?;
    match (doc.get("request"), doc.get("expect")) {
        (Some(req), Some(_)) => {
            let mut r: EvaluationRequest =
                serde_json::from_value(req.clone()).map_err(|e| bad(&e))?;
            if let Some(settings) = doc.get("settings") {
                r.settings = settings.clone();
            }
            Ok(r)
        }
        _ => serde_json::from_value(doc).map_err(|e| bad(&e)),
    }
}

/// Settings as JSON, else YAML.
fn read_settings(path: &Path, cwd: &Path) -> Result<Value, PromoteError> {
    let place = path.display().to_string();
    let text = std::fs::read_to_string(cwd.join(path)).map_err(|source| PoliciesError::Read {
        what: format!("--settings {place}"),
        source,
    })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(v),
        Err(json) => promote_core::yaml::from_str::<Value>(&place, &text).map_err(|yaml| {
            PromoteError::Usage(format!(
                "--settings {place}: neither JSON ({json}) nor YAML ({})",
                yaml.message()
            ))
        }),
    }
}

/// Evaluate as a promotion would: the module must declare the operation and accept the
/// settings. `Err` is a policy error.
pub(super) fn evaluate_checked(
    host: &Host,
    policy: &Policy,
    request: &EvaluationRequest,
    settings_file: Option<&Path>,
) -> Result<Evaluation, EvalError> {
    let op = request.kind();
    if !policy.metadata().operations.contains(&op) {
        let e = PolicyError::UnsupportedOperation {
            operation: op.to_string(),
            declared: policy
                .metadata()
                .operations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        return Err(EvalError::from(&e));
    }
    match host.validate_settings(policy, &request.settings) {
        Ok(v) if !v.valid => {
            let from = settings_file.map_or_else(
                || "the request's settings".to_owned(),
                |p| format!("--settings {}", p.display()),
            );
            return Err(EvalError {
                kind: "invalid-settings",
                message: format!("refuses {from}: {}", v.message.unwrap_or_default()),
            });
        }
        Ok(_) => {}
        Err(e) => {
            return Err(EvalError {
                kind: error_kind(&e),
                message: format!("validate-settings: {e}"),
            });
        }
    }
    host.evaluate(policy, request)
        .map_err(|e| EvalError::from(&e))
}
