//! The command-module protocol for a guest's `main`: argv\[1\] names the operation, stdin holds
//! the input, stdout gets exactly one JSON document, stderr gets the log, the exit code says
//! whether stdout is an answer.
//!
//! The same binary runs natively (`cargo run -- evaluate < request.json`), which is how policy
//! authors test without a WASM runtime.

use std::fmt;
use std::io::{Read, Write};
use std::process::ExitCode;

use serde_json::Value;

use crate::{Decision, EvaluationRequest, SettingsValidation};

/// The policy could not decide (bad settings, an unexpected request); stdout stays empty.
pub const EXIT_FAILED: u8 = 1;
/// argv\[1\] is missing or not an operation.
pub const EXIT_USAGE: u8 = 2;
/// stdin is not a valid request (or settings document).
pub const EXIT_BAD_INPUT: u8 = 3;

/// Why a policy could not decide. Returned from `evaluate`; printed to stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFailure(pub String);

impl fmt::Display for PolicyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyFailure {}

impl From<String> for PolicyFailure {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for PolicyFailure {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<serde_json::Error> for PolicyFailure {
    fn from(e: serde_json::Error) -> Self {
        Self(format!("invalid settings: {e}"))
    }
}

/// Runs the guest protocol on the process's argv, stdin, stdout and stderr.
///
/// ```ignore
/// fn main() -> std::process::ExitCode {
///     promote_policy_sdk::run(evaluate, validate_settings)
/// }
/// ```
pub fn run<E, V>(evaluate: E, validate_settings: V) -> ExitCode
where
    E: FnOnce(&EvaluationRequest) -> Result<Decision, PolicyFailure>,
    V: FnOnce(&Value) -> SettingsValidation,
{
    let args: Vec<String> = std::env::args().collect();
    let code = run_with(
        &args,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        evaluate,
        validate_settings,
    );
    ExitCode::from(code)
}

/// [`run`] with explicit argv and streams; returns the exit code.
pub fn run_with<E, V>(
    args: &[String],
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    evaluate: E,
    validate_settings: V,
) -> u8
where
    E: FnOnce(&EvaluationRequest) -> Result<Decision, PolicyFailure>,
    V: FnOnce(&Value) -> SettingsValidation,
{
    // A failed write to stderr has nowhere better to go; the exit code still tells.
    let mut log = |msg: &str| {
        let _ = writeln!(stderr, "{msg}");
    };
    let op = args.get(1).map(String::as_str);
    let mut input = Vec::new();
    if let Err(e) = stdin.read_to_end(&mut input) {
        log(&format!("reading stdin: {e}"));
        return EXIT_BAD_INPUT;
    }
    let answer = match op {
        Some("evaluate") => {
            let request: EvaluationRequest = match serde_json::from_slice(&input) {
                Ok(r) => r,
                Err(e) => {
                    log(&format!("stdin is not a valid EvaluationRequest: {e}"));
                    return EXIT_BAD_INPUT;
                }
            };
            match evaluate(&request) {
                Ok(decision) => {
                    if let Err(e) = decision.validate() {
                        log(&format!("policy produced an invalid decision: {e}"));
                        return EXIT_FAILED;
                    }
                    serde_json::to_vec(&decision)
                }
                Err(failure) => {
                    log(&failure.0);
                    return EXIT_FAILED;
                }
            }
        }
        Some("validate-settings") => {
            let settings: Value = match serde_json::from_slice(&input) {
                Ok(v) => v,
                Err(e) => {
                    log(&format!("stdin is not JSON settings: {e}"));
                    return EXIT_BAD_INPUT;
                }
            };
            serde_json::to_vec(&validate_settings(&settings))
        }
        other => {
            log(&format!(
                "usage: {} evaluate|validate-settings < input.json (got {})",
                args.first().map_or("policy", String::as_str),
                other.map_or_else(|| "no operation".to_owned(), |o| format!("{o:?}")),
            ));
            return EXIT_USAGE;
        }
    };
    let written = answer
        .map_err(std::io::Error::from)
        .and_then(|mut bytes| {
            bytes.push(b'\n');
            stdout.write_all(&bytes)
        })
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => 0,
        Err(e) => {
            log(&format!("writing stdout: {e}"));
            EXIT_FAILED
        }
    }
}
