//! `kubectl-promote`, run by kubectl as `kubectl promote`. `main` is tiny: parse, run, turn the
//! outcome into an exit code, print the error chain to stderr; a closed stdout (`| head`) is not
//! an error.

mod cli;
mod commands;
mod env;
mod interrupt;
mod output;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, ColorWhen, Command};
use crate::commands::Ctx;
use crate::output::Shell;

/// Exit codes (DESIGN "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Error = 1,
    Usage = 2,
    Denied = 3,
    WaitingForApproval = 4,
    Unhealthy = 5,
}

fn main() -> ExitCode {
    // kubectl's plugin completion (`kubectl_complete-promote`) and cobra-style `__complete`:
    // the words are not a command line to parse, so this comes before clap.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "__complete") {
        let code = commands::complete::complete(
            &env::Env::from_process(),
            &args[1..],
            &mut std::io::stdout(),
        );
        return ExitCode::from(code as u8);
    }
    let cli = Cli::parse();
    ::promote::scratch::on_first_use(interrupt::install);
    match cli.global.color {
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
        ColorWhen::Auto => {}
    }
    let env = env::Env::from_process();
    let shell = Shell::new(
        Box::new(anstream::stdout()),
        Box::new(anstream::stderr()),
        cli.global.output,
        cli.global.quiet,
        cli.global.verbose,
    );
    let ctx = Ctx {
        global: &cli.global,
        env: &env,
        shell: &shell,
        diff: Default::default(),
    };
    let result = match &cli.command {
        Some(cmd) if cli.promote.env.is_some() => Err(commands::usage(format!(
            "`{}` before a subcommand: subcommands come first, e.g. `kubectl promote {} …`",
            cli.promote.env.as_deref().unwrap_or(""),
            cmd.name()
        ))),
        Some(cmd)
            if cli
                .global
                .app
                .as_deref()
                .is_some_and(commands::is_app_pattern) =>
        {
            Err(commands::usage(format!(
                "--app {}: `{}` works on one app; a list or a pattern selects apps for a promotion (`kubectl promote ENV VERSION --app 'shop-*'`)",
                cli.global.app.as_deref().unwrap_or(""),
                cmd.name()
            )))
        }
        None => commands::promote(&ctx, &cli.promote),
        Some(Command::Status(a)) => commands::status(&ctx, a),
        Some(Command::Approve(a)) => commands::approve(&ctx, a),
        Some(Command::Reject(a)) => commands::reject(&ctx, a),
        Some(Command::Init(a)) => commands::init(&ctx, a),
        Some(Command::Rollback(a)) => commands::rollback(&ctx, a),
        Some(Command::Sync(a)) => commands::sync(&ctx, a),
        Some(Command::History(a)) => commands::history(&ctx, a),
        Some(Command::Resume(a)) => commands::resume(&ctx, a),
        Some(Command::Completion(a)) => commands::completion(a),
        Some(Command::Version) => commands::version(&ctx),
        Some(Command::Policy(a)) => commands::policy(&ctx, a),
        Some(Command::Verify(a)) => commands::verify(&ctx, a),
        Some(Command::Diff(a)) => commands::diff(&ctx, a),
    };
    shell.flush();
    let code = match result {
        Ok(exit) => exit,
        Err(err) if is_broken_pipe(&err) => Exit::Ok,
        Err(err) => {
            let code = match err.downcast_ref::<::promote::PromoteError>() {
                Some(::promote::PromoteError::Usage(_)) => Exit::Usage,
                _ => Exit::Error,
            };
            let mut msg = format!(
                "{}error:{} {err}",
                anstyle::AnsiColor::Red.on_default().render(),
                anstyle::Reset.render()
            );
            for cause in err.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            anstream::eprintln!("{msg}");
            code
        }
    };
    ExitCode::from(code as u8)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
