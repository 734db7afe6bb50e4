//! `kubectl promote completion SHELL|kubectl-hook` and `kubectl promote version`.

use std::io::Write;

use serde::Serialize;

use super::Ctx;
use crate::Exit;
use crate::cli::{CompletionArgs, CompletionShell};

pub fn completion(args: &CompletionArgs) -> anyhow::Result<Exit> {
    use clap::CommandFactory;
    let shell = match args.shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
        CompletionShell::Powershell => clap_complete::Shell::PowerShell,
        CompletionShell::Elvish => clap_complete::Shell::Elvish,
        CompletionShell::KubectlHook => {
            let mut out = std::io::stdout();
            out.write_all(super::complete::KUBECTL_HOOK.as_bytes())?;
            out.flush()?;
            return Ok(Exit::Ok);
        }
    };
    let mut cmd = crate::cli::Cli::command();
    let mut out = std::io::stdout();
    clap_complete::generate(shell, &mut cmd, "kubectl-promote", &mut out);
    out.flush()?;
    Ok(Exit::Ok)
}

pub fn version(ctx: &Ctx<'_>) -> anyhow::Result<Exit> {
    #[derive(Serialize)]
    struct VersionDoc {
        version: &'static str,
        commit: Option<&'static str>,
    }
    let doc = VersionDoc {
        version: env!("CARGO_PKG_VERSION"),
        commit: option_env!("KUBECTL_PROMOTE_COMMIT"),
    };
    if ctx.shell.is_text() {
        ctx.shell.out(format!("kubectl-promote {}", doc.version))?;
    }
    ctx.shell.document("Version", &doc)?;
    Ok(Exit::Ok)
}
