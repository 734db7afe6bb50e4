//! `kubectl promote completion SHELL` and `kubectl promote version`.

use std::io::Write;

use serde::Serialize;

use super::Ctx;
use crate::cli::CompletionArgs;
use crate::Exit;

pub fn completion(args: &CompletionArgs) -> anyhow::Result<Exit> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    let mut out = std::io::stdout();
    clap_complete::generate(args.shell, &mut cmd, "kubectl-promote", &mut out);
    out.flush()?;
    Ok(Exit::Ok)
}

pub fn version(ctx: &Ctx<'_>) -> anyhow::Result<Exit> {
    #[derive(Serialize)]
    struct VersionDoc {
        version: &'static str,
        commit: Option<&'static str>,
    }
    let doc = VersionDoc { version: env!("CARGO_PKG_VERSION"), commit: option_env!("KUBECTL_PROMOTE_COMMIT") };
    if ctx.shell.is_text() {
        ctx.shell.out(format!("kubectl-promote {}", doc.version))?;
    }
    ctx.shell.document("Version", &doc)?;
    Ok(Exit::Ok)
}

