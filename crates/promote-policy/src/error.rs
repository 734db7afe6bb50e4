//! Errors of the host. A denial is not an error ([`crate::Combined`] carries it); these say why
//! a module could not be loaded ([`LoadError`]) or could not decide ([`PolicyError`]).

use std::path::PathBuf;

/// The engine or cache could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// wasmtime refused the engine configuration.
    #[error("configuring the wasmtime engine: {0}")]
    Engine(String),
    /// The epoch ticker thread could not start.
    #[error("starting the policy deadline ticker thread")]
    Ticker(#[source] std::io::Error),
}

/// A module could not be loaded; nothing of it ran.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `builtin:NAME` with an unknown name.
    #[error("unknown built-in policy `builtin:{name}` (built-ins: {known})")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The names that exist, comma-separated.
        known: String,
    },
    /// The module file could not be read.
    #[error("reading policy module {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes do not match the pinned digest.
    #[error(
        "{origin}: sha256 is {actual} but the configuration pins {expected}; refusing to load it. Trust the pin (it is what was reviewed): put the reviewed module back. Only if you changed the module on purpose and reviewed it, re-pin it: `sha256: \"{actual}\"` for this module in promote.yaml (`kubectl promote policy inspect MODULE` prints a module's sha256)"
    )]
    PinMismatch {
        /// The module.
        origin: String,
        /// The pinned digest.
        expected: String,
        /// The digest of the bytes found.
        actual: String,
    },
    /// A krew-installed module whose bytes no longer match the sha256 its package recorded.
    #[error(
        "{origin}: the installed module {} has sha256 {actual}, but its package recorded {expected}: it changed after krew installed it; refusing to load it. Reinstall it: {reinstall}",
        path.display()
    )]
    KrewModuleChanged {
        /// `krew:<index>/<name>@<version>`.
        origin: String,
        /// The module file in the krew store.
        path: PathBuf,
        /// The digest in the package's `promote-policy.yaml`.
        expected: String,
        /// The digest of the bytes found.
        actual: String,
        /// The command that puts the packaged module back.
        reinstall: String,
    },
    /// Not a WebAssembly module (or not valid WAT).
    #[error("{origin} is not a valid WebAssembly module: {message}")]
    Malformed {
        /// The module.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// Imports from somewhere other than `wasi_snapshot_preview1`.
    #[error("{origin} imports {}; policy modules may import only from wasi_snapshot_preview1", imports.join(", "))]
    RefusedImport {
        /// The module.
        origin: String,
        /// Each refused import as `module::name`.
        imports: Vec<String>,
    },
    /// A required export is missing or has the wrong kind.
    #[error(
        "{origin} does not export {name} as a {kind}; WASI command modules export `_start` (func) and `memory` (memory)"
    )]
    MissingExport {
        /// The module.
        origin: String,
        /// `_start` or `memory`.
        name: &'static str,
        /// `func` or `memory`.
        kind: &'static str,
    },
    /// No metadata in a custom section nor in a sidecar file.
    #[error(
        "{origin} has no metadata: neither a `kubectl-promote.policy.v1` custom section nor a promote-policy.yaml beside it"
    )]
    NoMetadata {
        /// The module.
        origin: String,
    },
    /// Metadata that does not parse.
    #[error("{origin}: invalid metadata in {place}: {message}")]
    Metadata {
        /// The module.
        origin: String,
        /// The custom section or the sidecar path.
        place: String,
        /// The parser's message.
        message: String,
    },
    /// Metadata names an ABI this host does not run.
    #[error(
        "{origin} declares abi {abi:?}; this host runs promote.wasi-command/v1 and promote.opa/v1 modules"
    )]
    UnsupportedAbi {
        /// The module.
        origin: String,
        /// The declared ABI.
        abi: String,
    },
    /// The metadata's ABI does not match what the bytes are.
    #[error("{origin} declares abi {declared:?} but is {found}")]
    AbiMismatch {
        /// The module.
        origin: String,
        /// The declared ABI.
        declared: String,
        /// What the bytes are, e.g. "an `opa build -t wasm` module (abi promote.opa/v1)".
        found: &'static str,
    },
    /// An `opa build` output that cannot be used.
    #[error("{origin}: not a usable `opa build -t wasm` output: {message}")]
    Opa {
        /// The module.
        origin: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A Rego module needs builtins the host cannot run.
    #[error(
        "{origin} needs the Rego builtin(s) {} which this host does not provide (opa-wasm only stubs them, or they would break the sandbox); rewrite the policy without them (see `Writing a policy in Rego` in docs/policies.md for what is supported)",
        builtins.join(", ")
    )]
    UnsupportedBuiltins {
        /// The module.
        origin: String,
        /// The refused builtins.
        builtins: Vec<String>,
    },
    /// A Rego module whose `sprintf` formats use a verb the sandbox's `sprintf` cannot run.
    #[error(
        "{origin}: sprintf cannot format {} in the sandbox (only {}), used in {}; `opa test` accepts them but the evaluation would fail. Use %s for strings and %d for integers, or concat (docs/policy-authoring/rego.md)",
        verbs.join(", "),
        crate::sprintf::SUPPORTED_VERBS.iter().map(|v| format!("%{v}")).collect::<Vec<_>>().join(" "),
        formats.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ")
    )]
    UnsupportedSprintf {
        /// The module.
        origin: String,
        /// The verbs, e.g. `%v`.
        verbs: Vec<String>,
        /// The format strings that use them.
        formats: Vec<String>,
    },
    /// Cranelift or validation failed.
    #[error("compiling {origin}: {message}")]
    Compile {
        /// The module.
        origin: String,
        /// wasmtime's message.
        message: String,
    },
    /// A WASI import that does not exist or has the wrong signature.
    #[error("linking {origin} against WASI preview1: {message}")]
    Link {
        /// The module.
        origin: String,
        /// wasmtime's message.
        message: String,
    },
}

/// Where a limit error sends the reader: the section of the policy author's guide.
pub const LIMITS_DOC: &str = "\"Limits\" in docs/policies.md";

/// How much of a policy's stdout an invalid-output error quotes.
pub const QUOTED_STDOUT: usize = 200;

/// A policy could not decide. Under `failurePolicy: Fail` this becomes a deny with code
/// `PolicyError`.
///
/// The limit errors name the metadata key that raises the limit (`resources.fuel`,
/// `resources.timeoutMs`, `resources.memoryMiB`), since that is the fix when a policy
/// legitimately needs more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Fuel exhausted.
    #[error(
        "ran out of fuel ({limit} units); a module that needs more asks for it with `resources: {{fuel: N}}` in its metadata, up to the host maximum (see {})",
        LIMITS_DOC
    )]
    OutOfFuel {
        /// The fuel it had.
        limit: u64,
    },
    /// The epoch deadline passed.
    #[error(
        "timed out after {ms} ms; a module that needs longer asks for it with `resources: {{timeoutMs: N}}` in its metadata, up to the host maximum (see {})",
        LIMITS_DOC
    )]
    TimedOut {
        /// The wall-time limit.
        ms: u64,
    },
    /// Linear memory would have grown past the limit.
    #[error(
        "exceeded its memory limit of {limit_mib} MiB (asked for {wanted} bytes); a module that needs more asks for it with `resources: {{memoryMiB: N}}` in its metadata, up to the host maximum (see {})",
        LIMITS_DOC
    )]
    MemoryLimit {
        /// The limit.
        limit_mib: u64,
        /// The size the module asked for.
        wanted: u64,
    },
    /// `proc_exit` with a non-zero code.
    #[error("exited with code {code}{}", if stderr_tail.is_empty() { String::new() } else { format!(": {stderr_tail}") })]
    Exit {
        /// The exit code.
        code: i32,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// A trap (unreachable, out-of-bounds access, a panic with `panic = "abort"`, ...).
    #[error("trapped: {message}{}", if stderr_tail.is_empty() { String::new() } else { format!(" (stderr: {stderr_tail})") })]
    Trap {
        /// wasmtime's description.
        message: String,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// stdout or stderr over its cap.
    #[error("wrote more than {limit} bytes to {stream}")]
    OutputTooLarge {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The cap.
        limit: usize,
    },
    /// stdout is not the document the operation answers with.
    #[error("wrote an invalid {expected}: {message}{}", stdout.as_ref().map(quote_stdout).unwrap_or_default())]
    InvalidOutput {
        /// `Decision` or `SettingsValidation`.
        expected: &'static str,
        /// serde's message.
        message: String,
        /// For a WASI module: the start of what it wrote on stdout (at most
        /// [`QUOTED_STDOUT`] bytes) and its full length. `None` for Rego, which has no stdout.
        stdout: Option<Printed>,
    },
    /// A Rego entrypoint produced no value (an empty result set).
    #[error(
        "left {entrypoint} undefined for this input; a Rego policy must always produce a value (add a `default` rule or an `else` branch)"
    )]
    Undefined {
        /// The entrypoint, e.g. `promote/decision`.
        entrypoint: String,
    },
    /// The policy is configured for an operation its metadata does not list.
    #[error("does not decide {operation} (its metadata lists: {declared})")]
    UnsupportedOperation {
        /// The request's operation.
        operation: String,
        /// The operations the metadata declares, comma-separated.
        declared: String,
    },
    /// The host could not build the call's input (a bug in the caller, not in the policy).
    #[error("could not be called: {message}")]
    Request {
        /// What was wrong with the request.
        message: String,
    },
    /// `validate-settings` could not decide on the configured settings.
    #[error("in validate-settings: {0}")]
    ValidateSettings(Box<PolicyError>),
    /// Instantiation failed for another reason than memory.
    #[error("could not be instantiated: {message}")]
    Instantiate {
        /// wasmtime's message.
        message: String,
    },
}

/// The start of a policy's stdout, for an invalid-output error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// Its first bytes (at most [`QUOTED_STDOUT`], cut on a char boundary, lossily decoded).
    pub head: String,
    /// How many bytes `head` shows.
    pub shown: usize,
    /// How many bytes it wrote in all.
    pub len: usize,
}

impl Printed {
    /// The start of `stdout`.
    pub fn of(stdout: &[u8]) -> Self {
        let mut shown = stdout.len().min(QUOTED_STDOUT);
        // Do not cut a UTF-8 character in two: end before the one the limit falls into.
        for _ in 0..3 {
            if shown < stdout.len() && shown > 0 && stdout[shown] & 0xc0 == 0x80 {
                shown -= 1;
            }
        }
        Self {
            head: String::from_utf8_lossy(&stdout[..shown]).into_owned(),
            shown,
            len: stdout.len(),
        }
    }
}

fn quote_stdout(p: &Printed) -> String {
    if p.len == 0 {
        return "; it printed nothing on stdout, where the answer goes (exactly one JSON document; logs go to stderr)".to_owned();
    }
    let which = if p.len > p.shown {
        format!("the first {} of {} bytes", p.shown, p.len)
    } else {
        format!("all {} bytes", p.len)
    };
    format!(
        "; stdout must hold exactly one JSON document and nothing else (logs go to stderr), and it printed ({which}): {:?}",
        p.head
    )
}
