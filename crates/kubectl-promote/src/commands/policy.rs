//! `kubectl promote policy list | inspect MODULE | eval MODULE --input FILE | test [DIR] |
//! package DIR`: the policy author's and the operator's view of modules, straight on the wasmtime
//! host (`promote-policy`), with the same limits and cache as promotions.
//!
//! A MODULE is `builtin:NAME`, `krew:NAME` (a `promote-policy-NAME` plugin krew installed under
//! `$KREW_ROOT`), a `.wasm` file (its metadata may sit beside it in
//! `promote-policy.yaml`), or a directory holding one: the module a `promote-policy.yaml` there
//! names, else its only `.wasm` or `bundle.tar.gz` (a Rego module from `opa build`), else the only one cargo built under
//! `target/wasm32-wasip1/release/`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

use promote_core::config::ModuleRef;
use promote_policy::cases::{Case, run_case};
use promote_policy::krew::{self, KrewRef};
use promote_policy::sdk::{EvaluationRequest, PolicyMetadata, Verdict};
use promote_policy::{
    BUILTIN_NAMES, CacheMode, Host, HostConfig, LoadError, ModuleSource, Policy, PolicyError,
    Sha256, SidecarText, builtin_bytes,
};

use super::{Ctx, usage};
use crate::Exit;
use crate::cli::{
    PolicyCommand, PolicyEvalArgs, PolicyInspectArgs, PolicyPackageArgs, PolicyTestArgs,
};
use crate::output::{BOLD, CYAN, DIM, GREEN, RED};

pub fn policy(ctx: &Ctx<'_>, cmd: &PolicyCommand) -> anyhow::Result<Exit> {
    match cmd {
        PolicyCommand::List => list(ctx),
        PolicyCommand::Inspect(a) => inspect(ctx, a),
        PolicyCommand::Eval(a) => eval(ctx, a),
        PolicyCommand::Test(a) => test(ctx, a),
        PolicyCommand::Package(a) => package(ctx, a),
    }
}

/// The host with the user's compiled-module cache (or none with `--no-cache`).
fn host(ctx: &Ctx<'_>) -> anyhow::Result<Host> {
    // The host puts `kubectl-promote/compiled/…` below this root, as promotions do.
    let mode = match ctx.env.cache_dir.parent() {
        Some(root) if !ctx.global.no_cache => CacheMode::Dir(root.to_path_buf()),
        _ => CacheMode::Disabled,
    };
    Ok(Host::new(HostConfig::new(mode))?)
}

/// `builtin:NAME`, `krew:NAME` (installed by krew), a file, or a directory holding a module.
fn resolve_module(
    arg: &str,
    base: &Path,
    krew_root: Option<&Path>,
) -> anyhow::Result<ModuleSource> {
    if let Some(name) = arg.strip_prefix("krew:") {
        let reference = KrewRef::parse(name).map_err(usage)?;
        let root = krew_root.ok_or_else(|| {
            anyhow::anyhow!(
                "{reference}: no krew root (neither KREW_ROOT nor HOME is set); set KREW_ROOT"
            )
        })?;
        return Ok(ModuleSource::Krew(krew::find(root, &reference)?));
    }
    if let Some(name) = arg.strip_prefix("builtin:") {
        if builtin_bytes(name).is_none() {
            return Err(usage(format!(
                "unknown built-in policy `{arg}`; the built-ins are {}",
                BUILTIN_NAMES
                    .iter()
                    .map(|n| format!("builtin:{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok(ModuleSource::Builtin(name.to_owned()));
    }
    let path = base.join(arg);
    if path.is_file() {
        return Ok(ModuleSource::File { path, sha256: None });
    }
    if path.is_dir() {
        return module_in_dir(&path)?.ok_or_else(|| {
            usage(format!(
                "{}: no policy module here: expected a promote-policy.yaml naming `module:`, one .wasm file or bundle.tar.gz (`opa build -t wasm -e promote/decision -b .`), or one built under target/wasm32-wasip1/release/ (build it with `cargo build --release --target wasm32-wasip1`)",
                path.display()
            ))
        });
    }
    Err(usage(format!(
        "{arg}: no such module file or directory; give builtin:NAME ({}) or a path to a .wasm",
        BUILTIN_NAMES.join(", ")
    )))
}

/// The module a directory holds, if it holds exactly one.
fn module_in_dir(dir: &Path) -> anyhow::Result<Option<ModuleSource>> {
    let sidecar = dir.join("promote-policy.yaml");
    if sidecar.is_file() {
        let text = std::fs::read_to_string(&sidecar)
            .with_context(|| format!("reading {}", sidecar.display()))?;
        let place = sidecar.display().to_string();
        let doc: Value = promote_core::yaml::from_str(&place, &text)
            .map_err(|e| anyhow::anyhow!("{place}: {}", e.message()))?;
        if let Some(m) = doc.get("module").and_then(Value::as_str) {
            return Ok(Some(ModuleSource::File {
                path: dir.join(m),
                sha256: None,
            }));
        }
    }
    for place in [dir.to_path_buf(), dir.join("target/wasm32-wasip1/release")] {
        let wasm = wasm_files(&place);
        match wasm.len() {
            0 => continue,
            1 => {
                return Ok(Some(ModuleSource::File {
                    path: wasm[0].clone(),
                    sha256: None,
                }));
            }
            _ => {
                return Err(usage(format!(
                    "{}: several .wasm files ({}); name one (`kubectl promote policy … PATH`, or --policy PATH for `policy test`)",
                    place.display(),
                    wasm.iter()
                        .filter_map(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(None)
}

fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && (p.extension().is_some_and(|e| e == "wasm")
                    // `opa build -t wasm` output: a Rego module (promote.opa/v1).
                    || p.file_name().is_some_and(|n| n == "bundle.tar.gz"))
        })
        .collect();
    v.sort();
    v
}

/// The bytes' digest and whether the cache held a compiled copy before this command ran.
fn digest_and_cached(host: &Host, source: &ModuleSource) -> (Option<Sha256>, Option<bool>) {
    let bytes: Option<std::borrow::Cow<'_, [u8]>> = match source {
        ModuleSource::Builtin(n) => builtin_bytes(n).map(Into::into),
        ModuleSource::File { path, .. } => std::fs::read(path).ok().map(Into::into),
        ModuleSource::Bytes { bytes, .. } => Some(bytes.as_slice().into()),
        ModuleSource::Krew(i) => std::fs::read(&i.module).ok().map(Into::into),
    };
    let sha = bytes.as_deref().map(Sha256::of);
    // A Rego bundle's compiled artifact is that of the policy.wasm inside it.
    let cached = bytes
        .as_deref()
        .and_then(|b| host.cache_path_of(b))
        .map(|p| p.exists());
    (sha, cached)
}

// ---------------------------------------------------------------------------------------------
// list

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListDoc {
    /// Where configured modules were read from (`origin/main abc1234`), if from a repo.
    config: Option<String>,
    items: Vec<ListRow>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListRow {
    name: Option<String>,
    version: Option<String>,
    abi: Option<String>,
    operations: Vec<String>,
    origin: String,
    sha256: Option<String>,
    /// The compiled-module cache held it when the command started (`null` with --no-cache).
    cached: Option<bool>,
    /// `ENV/OPERATION` (from promote.yaml) or `--policy`.
    used_by: Vec<String>,
    /// Why it could not be loaded.
    error: Option<String>,
}

fn row(
    host: &Host,
    source: &ModuleSource,
    sidecar: Option<&SidecarText>,
    origin: String,
    used_by: Vec<String>,
) -> ListRow {
    let (sha, cached) = digest_and_cached(host, source);
    let mut r = ListRow {
        name: None,
        version: None,
        abi: None,
        operations: Vec::new(),
        origin,
        sha256: sha.map(|s| s.to_hex()),
        cached,
        used_by,
        error: None,
    };
    match host.load_with_sidecar(source, sidecar) {
        Ok(p) => {
            let m = p.metadata();
            r.name = Some(m.name.clone());
            r.version = Some(m.version.clone());
            r.abi = Some(m.abi.clone());
            r.operations = m.operations.iter().map(ToString::to_string).collect();
            r.sha256 = Some(p.sha256().to_hex());
        }
        Err(e) => r.error = Some(e.to_string()),
    }
    r
}

fn list(ctx: &Ctx<'_>) -> anyhow::Result<Exit> {
    let host = host(ctx)?;
    // The modules promote.yaml configures, at the remote tip; outside a repository only the
    // built-ins and one-offs.
    let session = match ctx
        .ports()
        .and_then(|p| Ok(promote::Session::open(&p.workspace, ctx)?))
    {
        Ok(s) => Some(s),
        Err(e) if ctx.global.repo.is_none() && is_not_a_repo(&e) => None,
        Err(e) if ctx.global.repo.is_none() => {
            ctx.shell
                .warn(&format!("not listing promote.yaml's modules: {e:#}"));
            None
        }
        Err(e) => return Err(e),
    };
    let mut builtin_users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // (what `krew:` names, its config key, ENV/OPERATION)
    let mut krew_users: Vec<(String, String, String)> = Vec::new();
    let mut repo_rows: Vec<ListRow> = Vec::new();
    if let Some(s) = &session {
        for env in &s.config.environments {
            for (op, refs) in [
                ("promote", &env.promote_policies),
                ("rollback", &env.rollback_policies),
            ] {
                for r in refs {
                    let used = format!("{}/{op}", env.name);
                    match &r.module {
                        ModuleRef::Builtin(n) => {
                            builtin_users.entry(n.clone()).or_default().push(used)
                        }
                        ModuleRef::RepoPath(path) => {
                            let origin = format!("{path}@{}", s.base_name());
                            if let Some(existing) =
                                repo_rows.iter_mut().find(|x| x.origin == origin)
                            {
                                existing.used_by.push(used);
                                continue;
                            }
                            let row = match s.repo.read_file(s.base, path)? {
                                None => ListRow {
                                    name: None,
                                    version: None,
                                    abi: None,
                                    operations: Vec::new(),
                                    origin,
                                    sha256: None,
                                    cached: None,
                                    used_by: vec![used],
                                    error: Some(format!(
                                        "{}: no file `{path}` at {}",
                                        r.key,
                                        s.base_name()
                                    )),
                                },
                                Some(bytes) => {
                                    let pin = match r.sha256.as_deref().map(str::parse::<Sha256>) {
                                        Some(Ok(p)) => Some(p),
                                        Some(Err(e)) => {
                                            repo_rows.push(ListRow {
                                                name: None,
                                                version: None,
                                                abi: None,
                                                operations: Vec::new(),
                                                origin,
                                                sha256: Some(Sha256::of(&bytes).to_hex()),
                                                cached: None,
                                                used_by: vec![used],
                                                error: Some(format!("{}.sha256: {e}", r.key)),
                                            });
                                            continue;
                                        }
                                        None => None,
                                    };
                                    let sidecar = promote::gate::repo_sidecar(s, path)?;
                                    let mut row = row(
                                        &host,
                                        &ModuleSource::Bytes {
                                            label: origin.clone(),
                                            bytes,
                                            sha256: pin,
                                        },
                                        sidecar.as_ref(),
                                        origin,
                                        vec![used],
                                    );
                                    if pin.is_none() && row.error.is_none() {
                                        row.error = Some(format!(
                                            "{}: not pinned: add `sha256: {}`; promotions refuse unpinned repo modules",
                                            r.key,
                                            row.sha256.clone().unwrap_or_default()
                                        ));
                                    }
                                    row
                                }
                            };
                            repo_rows.push(row);
                        }
                        ModuleRef::Krew(name) => {
                            krew_users.push((name.clone(), r.key.clone(), used))
                        }
                    }
                }
            }
        }
    }
    let mut items: Vec<ListRow> = BUILTIN_NAMES
        .iter()
        .map(|n| {
            row(
                &host,
                &ModuleSource::Builtin((*n).to_owned()),
                None,
                format!("builtin:{n}"),
                builtin_users.remove(*n).unwrap_or_default(),
            )
        })
        .collect();
    items.extend(repo_rows);
    items.extend(krew_rows(ctx, &host, krew_users));
    for path in &ctx.global.policy {
        items.push(row(
            &host,
            &ModuleSource::File {
                path: path.clone(),
                sha256: None,
            },
            None,
            path.display().to_string(),
            vec!["--policy".into()],
        ));
    }
    let doc = ListDoc {
        config: session
            .as_ref()
            .map(|s| format!("{} {}", s.base_name(), s.base.short())),
        items,
    };
    if ctx.shell.is_text() {
        print_list(ctx, &doc)?;
    }
    ctx.shell.document("PolicyList", &doc)?;
    Ok(if doc.items.iter().any(|r| r.error.is_some()) {
        Exit::Error
    } else {
        Exit::Ok
    })
}

/// Every `promote-policy-*` plugin krew installed, with the configured `krew:` modules that use
/// it; a configured one that is not installed is an error row naming the install command.
fn krew_rows(ctx: &Ctx<'_>, host: &Host, users: Vec<(String, String, String)>) -> Vec<ListRow> {
    let mut rows = Vec::new();
    let error_row = |origin: String, used_by: Vec<String>, error: String| ListRow {
        name: None,
        version: None,
        abi: None,
        operations: Vec::new(),
        origin,
        sha256: None,
        cached: None,
        used_by,
        error: Some(error),
    };
    let installed = match ctx.env.krew_root.as_deref().map(krew::installed) {
        Some(Ok(list)) => list,
        Some(Err(e)) => {
            rows.push(error_row("krew".into(), Vec::new(), e.to_string()));
            Vec::new()
        }
        None => Vec::new(),
    };
    let mut users: Vec<(Result<KrewRef, String>, String, String)> = users
        .into_iter()
        .map(|(name, key, used)| (KrewRef::parse(&name), key, used))
        .collect();
    for found in installed {
        match found {
            Ok(i) => {
                let used_by = users
                    .iter()
                    .filter(|(r, ..)| r.as_ref().is_ok_and(|r| r.plugin() == i.plugin))
                    .map(|(.., used)| used.clone())
                    .collect();
                users.retain(|(r, ..)| !r.as_ref().is_ok_and(|r| r.plugin() == i.plugin));
                rows.push(row(
                    host,
                    &ModuleSource::Krew(i.clone()),
                    None,
                    i.label(),
                    used_by,
                ));
            }
            Err(e) => rows.push(error_row("krew".into(), Vec::new(), e.to_string())),
        }
    }
    // Configured but not installed (or not parseable).
    for (r, key, used) in users {
        let (origin, error) = match r {
            Ok(r) => {
                let error = match ctx
                    .env
                    .krew_root
                    .as_deref()
                    .map(|root| krew::find(root, &r))
                {
                    Some(Err(e)) => e.to_string(),
                    _ => format!("{r}: not installed; install it: {}", r.install_command()),
                };
                (r.to_string(), error)
            }
            Err(e) => ("krew".to_owned(), e),
        };
        rows.push(error_row(origin, vec![used], format!("{key}: {error}")));
    }
    rows
}

fn is_not_a_repo(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<promote::PromoteError>(),
        Some(promote::PromoteError::Git(
            promote_git::GitError::NotARepo { .. }
        ))
    )
}

fn print_list(ctx: &Ctx<'_>, doc: &ListDoc) -> anyhow::Result<()> {
    let shell = ctx.shell;
    let cells: Vec<[String; 8]> = doc
        .items
        .iter()
        .map(|r| {
            [
                r.name.clone().unwrap_or_else(|| "?".into()),
                r.version.clone().unwrap_or_else(|| "-".into()),
                r.abi.clone().unwrap_or_else(|| "-".into()),
                if r.operations.is_empty() {
                    "-".into()
                } else {
                    r.operations.join(",")
                },
                r.origin.clone(),
                r.sha256
                    .as_deref()
                    .map(|s| s[..12].to_owned())
                    .unwrap_or_else(|| "-".into()),
                match r.cached {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "-".into(),
                },
                if r.used_by.is_empty() {
                    "-".into()
                } else {
                    r.used_by.join(",")
                },
            ]
        })
        .collect();
    let head = [
        "NAME",
        "VERSION",
        "ABI",
        "OPERATIONS",
        "ORIGIN",
        "SHA256",
        "CACHED",
        "USED BY",
    ];
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, v) in width.iter_mut().zip(c) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |c: &[String; 8]| {
        c.iter()
            .zip(width)
            .map(|(v, w)| format!("{v:w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    shell.out(format!("{DIM}{}{DIM:#}", line(&head.map(str::to_owned))))?;
    for (c, r) in cells.iter().zip(&doc.items) {
        shell.out(line(c))?;
        if let Some(e) = &r.error {
            shell.out(format!("  {RED}error:{RED:#} {e}"))?;
        }
    }
    if let Some(at) = &doc.config {
        shell.out(format!(
            "{DIM}configured modules read from promote.yaml at {at}{DIM:#}"
        ))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// inspect

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InspectDoc {
    origin: String,
    sha256: Option<String>,
    /// Imports only from wasi_snapshot_preview1, exports `_start` and `memory`.
    check: CheckDoc,
    metadata: Option<PolicyMetadata>,
    /// The limits its calls run under (defaults, raised by `resources` up to the host maximum).
    limits: Option<LimitsDoc>,
    cached: Option<bool>,
    /// Why it cannot be used, when it cannot.
    error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckDoc {
    passed: Option<bool>,
    message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LimitsDoc {
    fuel: u64,
    timeout_ms: u128,
    #[serde(rename = "memoryMiB")]
    memory_mib: u64,
}

fn inspect(ctx: &Ctx<'_>, args: &PolicyInspectArgs) -> anyhow::Result<Exit> {
    let host = host(ctx)?;
    let source = resolve_module(
        &args.module,
        &std::env::current_dir()?,
        ctx.env.krew_root.as_deref(),
    )?;
    let (sha, cached) = digest_and_cached(&host, &source);
    let origin = source.origin().to_string();
    let doc = match host.load(&source) {
        Ok(p) => InspectDoc {
            origin,
            sha256: Some(p.sha256().to_hex()),
            check: CheckDoc {
                passed: Some(true),
                message: match p.opa_builtins() {
                    // A Rego module (promote.opa/v1): what the load-time check looked at.
                    Some(b) => format!(
                        "an `opa build -t wasm` module with entrypoint promote/decision; host builtins it calls: {}",
                        if b.is_empty() { "none".to_owned() } else { b.join(", ") }
                    ),
                    None => "imports only from wasi_snapshot_preview1; exports _start (func) and memory (memory)".into(),
                },
            },
            metadata: Some(p.metadata().clone()),
            limits: Some(LimitsDoc { fuel: p.limits().fuel, timeout_ms: p.limits().timeout.as_millis(), memory_mib: p.limits().memory_bytes >> 20 }),
            cached,
            error: None,
        },
        Err(e @ LoadError::Read { .. }) => return Err(e.into()),
        Err(e) => {
            // The shape is checked before the metadata is read and before compiling: errors
            // from those later steps mean the check passed.
            let passed = match &e {
                LoadError::Malformed { .. } | LoadError::RefusedImport { .. } | LoadError::MissingExport { .. } => Some(false),
                LoadError::Opa { .. } | LoadError::UnsupportedBuiltins { .. } | LoadError::AbiMismatch { .. } => Some(false),
                LoadError::UnknownBuiltin { .. } | LoadError::PinMismatch { .. } | LoadError::KrewModuleChanged { .. } => None,
                _ => Some(true),
            };
            let message = match passed {
                Some(false) => e.to_string(),
                Some(true) => "imports only from wasi_snapshot_preview1; exports _start (func) and memory (memory)".into(),
                None => "not checked".into(),
            };
            InspectDoc { origin, sha256: sha.map(|s| s.to_hex()), check: CheckDoc { passed, message }, metadata: None, limits: None, cached, error: Some(e.to_string()) }
        }
    };
    if ctx.shell.is_text() {
        print_inspect(ctx, &doc)?;
    }
    ctx.shell.document("PolicyInspection", &doc)?;
    Ok(if doc.error.is_some() {
        Exit::Error
    } else {
        Exit::Ok
    })
}

fn print_inspect(ctx: &Ctx<'_>, d: &InspectDoc) -> anyhow::Result<()> {
    let shell = ctx.shell;
    if let Some(m) = &d.metadata {
        shell.out(format!("{BOLD}{}{BOLD:#} {}", m.name, m.version))?;
        shell.out(format!("abi:         {}", m.abi))?;
        shell.out(format!(
            "operations:  {}",
            m.operations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
    }
    shell.out(format!("origin:      {}", d.origin))?;
    shell.out(format!(
        "sha256:      {}",
        d.sha256.as_deref().unwrap_or("-")
    ))?;
    let (style, mark) = match d.check.passed {
        Some(true) => (GREEN, "passed"),
        Some(false) => (RED, "FAILED"),
        None => (DIM, "not run"),
    };
    shell.out(format!(
        "check:       {style}{mark}{style:#}: {}",
        d.check.message
    ))?;
    if let Some(l) = &d.limits {
        shell.out(format!(
            "limits:      fuel {}, time {} ms, memory {} MiB",
            l.fuel, l.timeout_ms, l.memory_mib
        ))?;
    }
    if let Some(m) = &d.metadata {
        match &m.resources {
            Some(r) => shell.out(format!("resources:   {}", serde_json::to_string(r)?))?,
            None => shell.out("resources:   (none asked; defaults apply)")?,
        }
        match &m.settings_schema {
            Some(s) => {
                shell.out("settingsSchema:")?;
                for line in serde_json::to_string_pretty(s)?.lines() {
                    shell.out(format!("  {line}"))?;
                }
            }
            None => shell.out("settingsSchema: (none)")?,
        }
    }
    shell.out(format!(
        "cached:      {}",
        match d.cached {
            Some(true) => "yes",
            Some(false) => "no",
            None => "- (no cache)",
        }
    ))?;
    if let Some(e) = &d.error {
        shell.out(format!("{RED}error:{RED:#} {e}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// eval

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EvalDoc {
    policy: String,
    origin: String,
    sha256: String,
    /// The Decision, when the policy decided.
    decision: Option<promote_policy::sdk::Decision>,
    fuel_used: Option<u64>,
    elapsed_ms: Option<f64>,
    /// A policy error: `{kind, message}`.
    error: Option<ErrorDoc>,
}

#[derive(Debug, Serialize)]
struct ErrorDoc {
    kind: &'static str,
    message: String,
}

/// A short name for each kind of policy error (`out-of-fuel`, `trap`, …).
fn error_kind(e: &PolicyError) -> &'static str {
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

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading --input - (stdin)")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("reading --input {}", path.display()))
}

/// Settings as JSON, else YAML.
fn read_settings(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --settings {}", path.display()))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(v),
        Err(json) => {
            let place = path.display().to_string();
            promote_core::yaml::from_str::<Value>(&place, &text).map_err(|yaml| {
                usage(format!(
                    "--settings {place}: neither JSON ({json}) nor YAML ({})",
                    yaml.message()
                ))
            })
        }
    }
}

fn eval(ctx: &Ctx<'_>, args: &PolicyEvalArgs) -> anyhow::Result<Exit> {
    let host = host(ctx)?;
    let source = resolve_module(
        &args.module,
        &std::env::current_dir()?,
        ctx.env.krew_root.as_deref(),
    )?;
    let policy = host.load(&source)?;
    promote::gate::note_cache(&host, &policy, ctx);
    let bytes = read_input(&args.input)?;
    let bad = |e: &dyn std::fmt::Display| {
        usage(format!(
            "--input {}: not an EvaluationRequest (nor a test case holding one): {e}; the format is in docs/policies.md, \"evaluate\"",
            args.input.display()
        ))
    };
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| bad(&e))?;
    // A test case file works too: its request, with its settings.
    let mut request: EvaluationRequest = match (doc.get("request"), doc.get("expect")) {
        (Some(req), Some(_)) => {
            let mut r: EvaluationRequest =
                serde_json::from_value(req.clone()).map_err(|e| bad(&e))?;
            if let Some(settings) = doc.get("settings") {
                r.settings = settings.clone();
            }
            r
        }
        _ => serde_json::from_value(doc).map_err(|e| bad(&e))?,
    };
    if let Some(path) = &args.settings {
        request.settings = read_settings(path)?;
    }
    let mut doc = EvalDoc {
        policy: policy.name().to_owned(),
        origin: policy.origin().to_string(),
        sha256: policy.sha256().to_hex(),
        decision: None,
        fuel_used: None,
        elapsed_ms: None,
        error: None,
    };
    let result = evaluate_checked(&host, &policy, &request, args.settings.as_deref());
    let exit = match result {
        Ok(ev) => {
            if ctx.shell.verbose > 0 && !ev.log.is_empty() {
                ctx.shell.err_text(&format!(
                    "{DIM}policy log ({}):{DIM:#}\n{}\n",
                    policy.name(),
                    ev.log.trim_end()
                ));
            }
            let exit = match ev.decision.decision {
                Verdict::Allow => Exit::Ok,
                Verdict::Deny => Exit::Denied,
                Verdict::RequireApproval => Exit::WaitingForApproval,
            };
            doc.fuel_used = Some(ev.fuel_used);
            doc.elapsed_ms = Some(ev.elapsed.as_secs_f64() * 1000.0);
            doc.decision = Some(ev.decision);
            exit
        }
        Err(e) => {
            doc.error = Some(ErrorDoc {
                kind: e.0,
                message: e.1,
            });
            Exit::Error
        }
    };
    if ctx.shell.is_text() {
        print_eval(ctx, &doc, &policy)?;
    }
    ctx.shell.document("PolicyEvaluation", &doc)?;
    Ok(exit)
}

/// Evaluate as a promotion would: the module must declare the operation and accept the
/// settings. `Err((kind, message))` is a policy error.
fn evaluate_checked(
    host: &Host,
    policy: &Policy,
    request: &EvaluationRequest,
    settings_file: Option<&Path>,
) -> Result<promote_policy::Evaluation, (&'static str, String)> {
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
        return Err((error_kind(&e), e.to_string()));
    }
    match host.validate_settings(policy, &request.settings) {
        Ok(v) if !v.valid => {
            let from = settings_file.map_or_else(
                || "the request's settings".to_owned(),
                |p| format!("--settings {}", p.display()),
            );
            return Err((
                "invalid-settings",
                format!("refuses {from}: {}", v.message.unwrap_or_default()),
            ));
        }
        Ok(_) => {}
        Err(e) => return Err((error_kind(&e), format!("validate-settings: {e}"))),
    }
    host.evaluate(policy, request)
        .map_err(|e| (error_kind(&e), e.to_string()))
}

fn print_eval(ctx: &Ctx<'_>, d: &EvalDoc, policy: &Policy) -> anyhow::Result<()> {
    let shell = ctx.shell;
    let who = format!(
        "{} {} ({}, sha256:{})",
        policy.name(),
        policy.metadata().version,
        d.origin,
        &d.sha256[..12]
    );
    if let Some(e) = &d.error {
        shell.out(format!(
            "{RED}policy error ({}){RED:#}: {who} {}",
            e.kind, e.message
        ))?;
        return Ok(());
    }
    let Some(dec) = &d.decision else {
        return Ok(());
    };
    let style = match dec.decision {
        Verdict::Allow => GREEN,
        Verdict::Deny => RED,
        Verdict::RequireApproval => CYAN,
    };
    shell.out(format!("decision: {style}{}{style:#}", dec.decision))?;
    for r in &dec.reasons {
        shell.out(format!("  {}: {}", r.code, r.message))?;
    }
    for a in &dec.required_approvals {
        shell.out(format!(
            "  requires approval {} ×{} in {}: {}",
            a.id, a.count, a.environment, a.reason
        ))?;
    }
    for w in &dec.warnings {
        shell.out(format!("  warning: {w}"))?;
    }
    shell.out(format!("policy:   {who}"))?;
    shell.out(format!(
        "fuel:     {} of {}",
        d.fuel_used.unwrap_or(0),
        policy.limits().fuel
    ))?;
    shell.out(format!("time:     {:.1} ms", d.elapsed_ms.unwrap_or(0.0)))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// test

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TestDoc {
    dir: String,
    cases: Vec<CaseResult>,
    passed: usize,
    failed: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CaseResult {
    file: String,
    module: Option<String>,
    description: String,
    passed: bool,
    problems: Vec<String>,
}

/// A directory of case files and the module they test unless a case names its own.
struct Suite {
    dir: PathBuf,
    module: Result<ModuleSource, String>,
}

/// `DIR` default: `./cases` (a policy project), else `./policies/cases` (this layout's
/// built-in cases, one subdirectory per built-in).
fn default_test_dir(cwd: &Path) -> anyhow::Result<PathBuf> {
    for d in ["cases", "policies/cases"] {
        if cwd.join(d).is_dir() {
            return Ok(cwd.join(d));
        }
    }
    Err(usage(format!(
        "no ./cases or ./policies/cases in {}; pass the directory: `kubectl promote policy test DIR`",
        cwd.display()
    )))
}

fn has_json(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "json"))
}

/// The module a suite tests: `--policy`, else one beside the cases (in the directory, or in
/// the policy directory above a `cases/`), else `builtin:NAME` for a directory named NAME.
fn suite_module(ctx: &Ctx<'_>, dir: &Path) -> Result<ModuleSource, String> {
    match ctx.global.policy.as_slice() {
        [one] => return Ok(ModuleSource::File { path: one.clone(), sha256: None }),
        [] => {}
        _ => return Err("several --policy modules given; `policy test` takes one (or name the module in each case)".into()),
    }
    let mut places = vec![dir.to_path_buf()];
    if dir.file_name().is_some_and(|n| n == "cases")
        && let Some(parent) = dir.parent()
    {
        places.push(parent.to_path_buf());
    }
    for p in &places {
        match module_in_dir(p) {
            Ok(Some(m)) => return Ok(m),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    match dir.file_name().and_then(|n| n.to_str()) {
        Some(name) if builtin_bytes(name).is_some() => Ok(ModuleSource::Builtin(name.to_owned())),
        _ => Err(format!(
            "no module for the cases in {}: put the module (or a promote-policy.yaml naming it) beside them, name it in each case (\"module\": \"builtin:NAME\" or a path), or pass --policy PATH",
            dir.display()
        )),
    }
}

fn test(ctx: &Ctx<'_>, args: &PolicyTestArgs) -> anyhow::Result<Exit> {
    let cwd = std::env::current_dir()?;
    let root = match &args.dir {
        Some(d) => cwd.join(d),
        None => default_test_dir(&cwd)?,
    };
    if !root.is_dir() {
        return Err(usage(format!(
            "{}: not a directory of policy test cases",
            root.display()
        )));
    }
    // A policy project (module + cases/), a directory of cases, and/or one subdirectory of
    // cases per module.
    let cases_dir = if root.join("cases").is_dir() {
        root.join("cases")
    } else {
        root.clone()
    };
    let mut suites = Vec::new();
    if has_json(&cases_dir) {
        suites.push(Suite {
            module: suite_module(ctx, &cases_dir),
            dir: cases_dir.clone(),
        });
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .with_context(|| format!("reading {}", cases_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && has_json(p))
        .collect();
    subdirs.sort();
    for d in subdirs {
        suites.push(Suite {
            module: suite_module(ctx, &d),
            dir: d,
        });
    }
    if suites.is_empty() {
        return Err(usage(format!(
            "no test cases (*.json) in {} or its subdirectories; see docs/policies.md, \"Testing\"",
            cases_dir.display()
        )));
    }
    let host = host(ctx)?;
    let mut loaded: BTreeMap<String, Result<Policy, String>> = BTreeMap::new();
    let mut results = Vec::new();
    for suite in &suites {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&suite.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let shown = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            let mut result = CaseResult {
                file: shown,
                module: None,
                description: String::new(),
                passed: false,
                problems: Vec::new(),
            };
            match parse_case(&file) {
                Err(e) => result.problems.push(e),
                Ok((named, case)) => {
                    result.description = case.description.clone();
                    let module = match named {
                        Some(m) => resolve_module(&m, &suite.dir, ctx.env.krew_root.as_deref())
                            .map_err(|e| format!("\"module\": {e}")),
                        None => suite.module.clone(),
                    };
                    match module {
                        Err(e) => result.problems.push(e),
                        Ok(source) => {
                            let key = source.origin().to_string();
                            result.module = Some(key.clone());
                            let policy = loaded.entry(key).or_insert_with(|| {
                                let p = host.load(&source).map_err(|e| e.to_string());
                                if let Ok(p) = &p {
                                    promote::gate::note_cache(&host, p, ctx);
                                }
                                p
                            });
                            match policy {
                                Err(e) => result.problems.push(e.clone()),
                                Ok(p) => match run_case(&host, p, &case) {
                                    Ok(()) => result.passed = true,
                                    Err(problems) => {
                                        result.problems.extend(problems.lines().map(str::to_owned))
                                    }
                                },
                            }
                        }
                    }
                }
            }
            if ctx.shell.is_text() {
                print_case(ctx, &result)?;
            }
            results.push(result);
        }
    }
    let passed = results.iter().filter(|r| r.passed).count();
    let failed = results.len() - passed;
    if ctx.shell.is_text() {
        let style = if failed == 0 { GREEN } else { RED };
        ctx.shell
            .out(format!("{style}{passed} passed, {failed} failed{style:#}"))?;
    }
    ctx.shell.document(
        "PolicyTestResult",
        &TestDoc {
            dir: root.display().to_string(),
            cases: results,
            passed,
            failed,
        },
    )?;
    Ok(if failed == 0 { Exit::Ok } else { Exit::Error })
}

/// A case file, with an optional `"module"` naming what it tests (beside the format of
/// `promote_policy::cases`).
fn parse_case(path: &Path) -> Result<(Option<String>, Case), String> {
    let text = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut v: Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let module = match v.as_object_mut().and_then(|o| o.remove("module")) {
        None => None,
        Some(Value::String(m)) => Some(m),
        Some(other) => {
            return Err(format!(
                "{}: \"module\" must be a string (builtin:NAME or a path), not {other}",
                path.display()
            ));
        }
    };
    let case = serde_json::from_value::<Case>(v)
        .map_err(|e| format!("{}: not a policy test case: {e}", path.display()))?;
    Ok((module, case))
}

fn print_case(ctx: &Ctx<'_>, r: &CaseResult) -> anyhow::Result<()> {
    let module = r
        .module
        .as_deref()
        .map(|m| format!(" {DIM}({m}){DIM:#}"))
        .unwrap_or_default();
    if r.passed {
        ctx.shell.out(format!(
            "{GREEN}ok{GREEN:#}    {}{module} {}",
            r.file, r.description
        ))?;
    } else {
        ctx.shell.out(format!(
            "{RED}FAIL{RED:#}  {}{module} {}",
            r.file, r.description
        ))?;
        for p in &r.problems {
            ctx.shell.out(format!("      {p}"))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// package

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PackageDoc {
    plugin: String,
    version: String,
    archive: String,
    sha256: String,
    manifest: String,
    uri: String,
    module_file: &'static str,
    module_sha256: String,
}

fn package(ctx: &Ctx<'_>, args: &PolicyPackageArgs) -> anyhow::Result<Exit> {
    let cwd = std::env::current_dir()?;
    let given = cwd.join(&args.dir);
    let (dir, source) = if given.is_file() {
        let dir = given
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.clone());
        (
            dir,
            ModuleSource::File {
                path: given.clone(),
                sha256: None,
            },
        )
    } else if given.is_dir() {
        let source = module_in_dir(&given)?.ok_or_else(|| {
            usage(format!(
                "{}: no policy module here: expected a promote-policy.yaml naming `module:`, one .wasm file, or one built under target/wasm32-wasip1/release/",
                given.display()
            ))
        })?;
        (given.clone(), source)
    } else {
        return Err(usage(format!(
            "{}: no such policy directory or module file",
            args.dir.display()
        )));
    };
    let license_path = args
        .license
        .as_ref()
        .map_or_else(|| dir.join("LICENSE"), |l| cwd.join(l));
    let license = match std::fs::read(&license_path) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(usage(format!(
                "{}: missing; a krew package ships its licence: put the licence text there (e.g. copy your project's LICENSE) or pass --license FILE",
                license_path.display()
            )));
        }
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("reading {}", license_path.display()))
            );
        }
    };
    let ModuleSource::File {
        path: module_path, ..
    } = &source
    else {
        unreachable!("module_in_dir returns files");
    };
    let host = host(ctx)?;
    // Load it as promotions would: a module that would be refused is not packaged.
    let policy = host
        .load(&source)
        .with_context(|| format!("{}: not packaged", module_path.display()))?;
    let module =
        std::fs::read(module_path).with_context(|| format!("reading {}", module_path.display()))?;
    let out_dir = cwd.join(&args.out_dir);
    let p = promote_policy::package::package(
        &promote_policy::package::PackageInput {
            metadata: policy.metadata(),
            module: &module,
            license: &license,
            version: args.version.as_deref(),
            uri: args.uri.as_deref(),
            homepage: args.homepage.as_deref(),
        },
        &out_dir,
    )
    .map_err(|e| match e {
        promote_policy::package::PackageError::Write { .. } => anyhow::Error::new(e),
        other => usage(other.to_string()),
    })?;
    let shown = |p: &Path| p.strip_prefix(&cwd).unwrap_or(p).display().to_string();
    let doc = PackageDoc {
        plugin: p.plugin.clone(),
        version: p.version.clone(),
        archive: shown(&p.archive),
        sha256: p.sha256.to_hex(),
        manifest: shown(&p.manifest),
        uri: p.uri.clone(),
        module_file: p.module_file,
        module_sha256: p.module_sha256.to_hex(),
    };
    if ctx.shell.is_text() {
        ctx.shell
            .out(format!("{BOLD}{}{BOLD:#} {}", doc.plugin, doc.version))?;
        ctx.shell.out(format!(
            "archive:   {} (sha256 {})",
            doc.archive, doc.sha256
        ))?;
        ctx.shell.out(format!("manifest:  {}", doc.manifest))?;
        ctx.shell.out(format!("uri:       {}", doc.uri))?;
        ctx.shell.out(format!(
            "module:    {} (sha256 {})",
            doc.module_file, doc.module_sha256
        ))?;
        ctx.shell.out(format!(
            "install:   kubectl krew install --manifest={} --archive={}",
            doc.manifest, doc.archive
        ))?;
        ctx.shell.out(format!(
            "use:       module: krew:{}",
            policy.metadata().name
        ))?;
    }
    ctx.shell.document("PolicyPackageResult", &doc)?;
    Ok(Exit::Ok)
}
