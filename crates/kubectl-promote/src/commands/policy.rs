//! `kubectl promote policy list | inspect MODULE | eval MODULE --input FILE | test [DIR] |
//! package DIR`: flags to a request for [`promote::policies`], its report printed as text or
//! written as a document, and the exit code (eval: 0 allow, 3 deny, 4 approval required, 1 a
//! policy error; the others: 1 when something could not be used or a case failed).

use std::io::Read as _;

use anyhow::Context as _;

use promote::document::Document as _;
use promote::policies::{
    self, CaseResult, ConfigSource, EvalReport, EvalRequest, Input, InspectReport, ListReport,
    PackageReport, PackageRequest, TestRequest,
};
use promote::ports::PolicyRuntime;
use promote_policy::sdk::Verdict;

use super::Ctx;
use crate::Exit;
use crate::cli::{
    PolicyCommand, PolicyEvalArgs, PolicyInspectArgs, PolicyPackageArgs, PolicyTestArgs,
};
use crate::output::{BOLD, CYAN, DIM, GREEN, RED};

pub fn policy(ctx: &Ctx<'_>, cmd: &PolicyCommand) -> anyhow::Result<Exit> {
    let runtime = crate::wiring::policy_runtime(ctx.global, ctx.env);
    match cmd {
        PolicyCommand::List => list(ctx, &runtime),
        PolicyCommand::Inspect(a) => inspect(ctx, &runtime, a),
        PolicyCommand::Eval(a) => eval(ctx, &runtime, a),
        PolicyCommand::Test(a) => test(ctx, &runtime, a),
        PolicyCommand::Package(a) => package(ctx, &runtime, a),
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

fn eval(ctx: &Ctx<'_>, runtime: &PolicyRuntime, args: &PolicyEvalArgs) -> anyhow::Result<Exit> {
    let input = if args.input.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading --input - (stdin)")?;
        Input::Stdin(buf)
    } else {
        Input::File(args.input.clone())
    };
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
// test

fn test(ctx: &Ctx<'_>, runtime: &PolicyRuntime, args: &PolicyTestArgs) -> anyhow::Result<Exit> {
    let request = TestRequest {
        dir: args.dir.clone(),
        cwd: std::env::current_dir()?,
    };
    let report = policies::suite::run(runtime, &request, ctx)?;
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
    }
    Ok(())
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
