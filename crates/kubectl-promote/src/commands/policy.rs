//! `kubectl promote policy list | inspect MODULE | eval MODULE --input FILE | test [DIR] |
//! package DIR | new NAME | sdk`: flags to a request for [`promote::policies`], its report printed as text or
//! written as a document, and the exit code (eval: 0 allow, 3 deny, 4 approval required, 1 a
//! policy error; the others: 1 when something could not be used or a case failed).

use std::io::Read as _;

use anyhow::Context as _;

use promote::document::Document as _;
use promote::policies::scaffold;
use promote::policies::{
    self, CaseResult, ConfigSource, EvalReport, EvalRequest, Input, InspectReport, ListReport,
    PackageReport, PackageRequest, TestRequest,
};
use promote::ports::PolicyRuntime;
use promote_policy::Allocation;
use promote_policy::sdk::{OperationKind, Verdict};

use super::Ctx;
use crate::Exit;
use crate::cli::{
    DecidedOperation, PolicyBenchArgs, PolicyCommand, PolicyEvalArgs, PolicyInspectArgs,
    PolicyLang, PolicyNewArgs, PolicyPackageArgs, PolicySdkArgs, PolicyTestArgs, SdkLang,
};
use crate::output::{BOLD, CYAN, DIM, GREEN, RED};

pub fn policy(ctx: &Ctx<'_>, cmd: &PolicyCommand) -> anyhow::Result<Exit> {
    let mut runtime = crate::wiring::policy_runtime(ctx.global, ctx.env);
    if let PolicyCommand::Eval(_) = cmd {
        // One module, at most three instantiations, then the process exits: the pool's set-up
        // would cost more than it saves (docs/performance.md, policy eval).
        runtime.settings.allocation = Allocation::OnDemand;
    }
    match cmd {
        PolicyCommand::List => list(ctx, &runtime),
        PolicyCommand::Inspect(a) => inspect(ctx, &runtime, a),
        PolicyCommand::Eval(a) => {
            let exit = eval(ctx, &runtime, a);
            // The process exits right after this: tearing the wasmtime host down (the engine,
            // joining its epoch ticker thread) is work the kernel's exit does anyway. Nothing
            // the host holds needs its drop: a cache entry is complete (written to a temp file
            // and renamed) before a load returns, and an evaluation makes no scratch files.
            std::mem::forget(runtime);
            exit
        }
        PolicyCommand::Test(a) => test(ctx, &runtime, a),
        PolicyCommand::Package(a) => package(ctx, &runtime, a),
        PolicyCommand::Bench(a) => bench(ctx, &runtime, a),
        PolicyCommand::New(a) => new(ctx, a),
        PolicyCommand::Sdk(a) => sdk(ctx, a),
    }
}

/// 1 when the report says something could not be used, else 0.
fn ok_unless(failed: bool) -> Exit {
    if failed { Exit::Error } else { Exit::Ok }
}

// ---------------------------------------------------------------------------------------------
// list

fn list(ctx: &Ctx<'_>, runtime: &PolicyRuntime) -> anyhow::Result<Exit> {
    // The workspace is only where promote.yaml's modules come from: without --repo, a
    // workspace that cannot be set up leaves the built-ins, krew and one-offs to list.
    let config = match ctx.ports() {
        Ok(ports) => ConfigSource::Workspace(ports.workspace),
        Err(e) if ctx.global.repo.is_none() => ConfigSource::Unavailable(format!("{e:#}")),
        Err(e) => return Err(e),
    };
    let report = policies::list::run(runtime, config, ctx)?;
    if ctx.shell.is_text() {
        print_list(ctx, &report)?;
    }
    ctx.shell.document(report.kind(), &report)?;
    Ok(ok_unless(report.has_errors()))
}

fn print_list(ctx: &Ctx<'_>, doc: &ListReport) -> anyhow::Result<()> {
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

fn inspect(
    ctx: &Ctx<'_>,
    runtime: &PolicyRuntime,
    args: &PolicyInspectArgs,
) -> anyhow::Result<Exit> {
    let cwd = std::env::current_dir()?;
    let report = policies::inspect::run(runtime, &args.module, &cwd)?;
    if ctx.shell.is_text() {
        print_inspect(ctx, &report)?;
    }
    ctx.shell.document(report.kind(), &report)?;
    Ok(ok_unless(report.error.is_some()))
}

fn print_inspect(ctx: &Ctx<'_>, d: &InspectReport) -> anyhow::Result<()> {
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

/// `--input FILE`, or what stdin holds for `--input -`.
fn input(path: &std::path::Path) -> anyhow::Result<Input> {
    Ok(if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading --input - (stdin)")?;
        Input::Stdin(buf)
    } else {
        Input::File(path.to_path_buf())
    })
}

fn eval(ctx: &Ctx<'_>, runtime: &PolicyRuntime, args: &PolicyEvalArgs) -> anyhow::Result<Exit> {
    let input = input(&args.input)?;
    let request = EvalRequest {
        module: args.module.clone(),
        input,
        settings: args.settings.clone(),
        cwd: std::env::current_dir()?,
    };
    let report = policies::eval::run(runtime, &request, ctx)?;
    if ctx.shell.verbose > 0 && !report.log.is_empty() {
        ctx.shell.err_text(&format!(
            "{DIM}policy log ({}):{DIM:#}\n{}\n",
            report.policy,
            report.log.trim_end()
        ));
    }
    if ctx.shell.is_text() {
        print_eval(ctx, &report)?;
    }
    ctx.shell.document(report.kind(), &report)?;
    Ok(match report.verdict() {
        Some(Verdict::Allow) => Exit::Ok,
        Some(Verdict::Deny) => Exit::Denied,
        Some(Verdict::RequireApproval) => Exit::WaitingForApproval,
        None => Exit::Error,
    })
}

fn print_eval(ctx: &Ctx<'_>, d: &EvalReport) -> anyhow::Result<()> {
    let shell = ctx.shell;
    let who = format!(
        "{} {} ({}, sha256:{})",
        d.policy,
        d.version,
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
        d.fuel_limit
    ))?;
    shell.out(format!("time:     {:.1} ms", d.elapsed_ms.unwrap_or(0.0)))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// bench

fn bench(ctx: &Ctx<'_>, runtime: &PolicyRuntime, args: &PolicyBenchArgs) -> anyhow::Result<Exit> {
    let request = policies::bench::BenchRequest {
        eval: EvalRequest {
            module: args.module.clone(),
            input: input(&args.input)?,
            settings: args.settings.clone(),
            cwd: std::env::current_dir()?,
        },
        iterations: args.iterations,
    };
    let report = policies::bench::run(runtime, &request, ctx)?;
    if ctx.shell.is_text() {
        let shell = ctx.shell;
        shell.out(format!(
            "{BOLD}{}{BOLD:#} ({}, sha256:{}): {} evaluation{}, {}",
            report.policy,
            report.origin,
            &report.sha256[..12],
            report.iterations,
            if report.iterations == 1 { "" } else { "s" },
            report
                .decision
                .map_or_else(|| "no decision".to_owned(), |d| d.to_string())
        ))?;
        if let (Some(t), Some(f)) = (&report.time_ms, &report.fuel) {
            shell.out(format!(
                "{DIM}           min        p50        p99        max      limit{DIM:#}"
            ))?;
            shell.out(format!(
                "time ms  {:>9.2}  {:>9.2}  {:>9.2}  {:>9.2}  {:>9}",
                t.min, t.p50, t.p99, t.max, report.timeout_ms
            ))?;
            shell.out(format!(
                "fuel     {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                f.min, f.p50, f.p99, f.max, report.fuel_limit
            ))?;
        }
        if let Some(e) = &report.error {
            shell.out(format!(
                "{RED}policy error ({}){RED:#}: {}",
                e.kind, e.message
            ))?;
        }
    }
    ctx.shell.document(report.kind(), &report)?;
    Ok(ok_unless(report.error.is_some()))
}

// ---------------------------------------------------------------------------------------------
// test

fn test(ctx: &Ctx<'_>, runtime: &PolicyRuntime, args: &PolicyTestArgs) -> anyhow::Result<Exit> {
    let request = TestRequest {
        dir: args.dir.clone(),
        cwd: std::env::current_dir()?,
    };
    let report = policies::suite::run(runtime, &request, ctx)?;
    if let Some(file) = &args.junit {
        policies::junit::write(&report, &request.cwd.join(file))?;
    }
    if ctx.shell.is_text() {
        for case in &report.cases {
            print_case(ctx, case)?;
        }
        let style = if report.failed == 0 { GREEN } else { RED };
        ctx.shell.out(format!(
            "{style}{} passed, {} failed{style:#}",
            report.passed, report.failed
        ))?;
    }
    ctx.shell.document(report.kind(), &report)?;
    Ok(ok_unless(report.failed > 0))
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
        if let (Some(expected), Some(actual)) = (&r.expected, &r.actual) {
            for line in side_by_side(expected, actual) {
                ctx.shell.out(format!("      {line}"))?;
            }
        }
    }
    Ok(())
}

/// The case's expectation and the module's Decision in two columns, field by field.
fn side_by_side(
    expected: &serde_json::Value,
    actual: &promote_policy::sdk::Decision,
) -> Vec<String> {
    let mut left = vec![format!("{DIM}expected{DIM:#}")];
    for key in [
        "decision",
        "reasons",
        "requiredApprovals",
        "warnings",
        "overridable",
    ] {
        if let Some(v) = expected.get(key) {
            left.push(format!("{key}: {}", compact(v)));
        }
    }
    let mut right = vec![
        format!("{DIM}actual{DIM:#}"),
        format!("decision: {}", actual.decision),
    ];
    for r in &actual.reasons {
        right.push(format!("reason {}: {}", r.code, r.message));
    }
    for a in &actual.required_approvals {
        right.push(format!(
            "requiredApproval {} ×{} in {}",
            a.id, a.count, a.environment
        ));
    }
    for w in &actual.warnings {
        right.push(format!("warning: {w}"));
    }
    if !actual.overridable {
        right.push("overridable: false".to_owned());
    }
    let width = left.iter().map(|l| visible_len(l)).max().unwrap_or(0) + 2;
    (0..left.len().max(right.len()))
        .map(|i| {
            let l = left.get(i).map_or("", String::as_str);
            let pad = width - visible_len(l);
            format!(
                "{l}{}{}",
                " ".repeat(pad),
                right.get(i).map_or("", String::as_str)
            )
            .trim_end()
            .to_owned()
        })
        .collect()
}

/// A JSON value on one line: strings bare, lists comma-separated.
fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().map(compact).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Characters a terminal shows: the style escapes do not count.
fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// package

fn package(
    ctx: &Ctx<'_>,
    runtime: &PolicyRuntime,
    args: &PolicyPackageArgs,
) -> anyhow::Result<Exit> {
    let request = PackageRequest {
        dir: args.dir.clone(),
        version: args.version.clone(),
        out_dir: args.out_dir.clone(),
        uri: args.uri.clone(),
        license: args.license.clone(),
        homepage: args.homepage.clone(),
        cwd: std::env::current_dir()?,
    };
    let report = policies::package::run(runtime, &request)?;
    for w in &report.warnings {
        ctx.shell.warn(w);
    }
    if ctx.shell.is_text() {
        print_package(ctx, &report)?;
    }
    ctx.shell.document(report.kind(), &report)?;
    Ok(Exit::Ok)
}

fn print_package(ctx: &Ctx<'_>, doc: &PackageReport) -> anyhow::Result<()> {
    let shell = ctx.shell;
    shell.out(format!("{BOLD}{}{BOLD:#} {}", doc.plugin, doc.version))?;
    shell.out(format!(
        "archive:   {} (sha256 {})",
        doc.archive, doc.sha256
    ))?;
    shell.out(format!("manifest:  {}", doc.manifest))?;
    shell.out(format!("uri:       {}", doc.uri))?;
    shell.out(format!(
        "module:    {} (sha256 {})",
        doc.module_file, doc.module_sha256
    ))?;
    shell.out(format!(
        "install:   kubectl krew install --manifest={} --archive={}",
        doc.manifest, doc.archive
    ))?;
    shell.out(format!("use:       module: krew:{}", doc.name))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// new, sdk

fn new(ctx: &Ctx<'_>, args: &PolicyNewArgs) -> anyhow::Result<Exit> {
    let request = scaffold::NewRequest {
        name: args.name.clone(),
        lang: match args.lang {
            PolicyLang::Rust => scaffold::Lang::Rust,
            PolicyLang::Go => scaffold::Lang::Go,
            PolicyLang::Rego => scaffold::Lang::Rego,
        },
        decides: args
            .decides
            .iter()
            .map(|d| match d {
                DecidedOperation::Promote => OperationKind::Promote,
                DecidedOperation::Rollback => OperationKind::Rollback,
            })
            .collect(),
        dir: args.dir.clone(),
        cwd: std::env::current_dir()?,
    };
    let report = scaffold::new_project(&request)?;
    if ctx.shell.is_text() {
        ctx.shell.out(format!(
            "{BOLD}{}{BOLD:#}: a {} policy deciding {} in {}",
            report.name,
            report.lang,
            report
                .operations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            report.dir
        ))?;
        ctx.shell.out("next:")?;
        for step in &report.next {
            ctx.shell.out(format!("  {step}"))?;
        }
    }
    ctx.shell.document(report.kind(), &report)?;
    Ok(Exit::Ok)
}

fn sdk(ctx: &Ctx<'_>, args: &PolicySdkArgs) -> anyhow::Result<Exit> {
    let request = scaffold::SdkRequest {
        lang: match args.lang {
            SdkLang::Go => scaffold::SdkLang::Go,
            SdkLang::Rust => scaffold::SdkLang::Rust,
        },
        out: args.out.clone(),
        cwd: std::env::current_dir()?,
    };
    let report = scaffold::write_sdk(&request)?;
    if ctx.shell.is_text() {
        ctx.shell.out(format!(
            "{BOLD}{} SDK {}{BOLD:#} written to {} ({} files)",
            report.lang,
            report.version,
            report.dir,
            report.files.len()
        ))?;
        ctx.shell.out(format!("use:  {}", report.usage))?;
    }
    ctx.shell.document(report.kind(), &report)?;
    Ok(Exit::Ok)
}
