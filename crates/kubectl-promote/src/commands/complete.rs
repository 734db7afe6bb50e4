//! Shell completion through kubectl: the hidden `kubectl promote __complete WORD…` and the
//! `kubectl_complete-promote` script that `kubectl promote completion kubectl-hook` prints.
//!
//! kubectl (>= 1.26) completes a plugin's words by running an executable named
//! `kubectl_complete-<plugin>` from PATH with the words after `kubectl <plugin>`, the last one
//! being the word under the cursor (empty for a new word); it reads one candidate per line
//! (`candidate<TAB>description`), and a last line `:<directive>` in cobra's `__complete` format
//! (kubectl `pkg/cmd/plugin/plugin_completion.go`). The candidates come from the clap command
//! tree (subcommands, flags, enumerated values), from `promote.yaml` as last fetched
//! (environment names; no network, see `promote::peek`), and from the policy modules (built-ins
//! and those krew installed).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory as _;

use crate::Exit;
use crate::env::Env;

/// cobra's `ShellCompDirectiveDefault`: the shell may fall back to file names.
const FILES: u8 = 0;
/// cobra's `ShellCompDirectiveNoFileComp`.
const NO_FILES: u8 = 4;

/// The `kubectl_complete-promote` executable (POSIX sh), for a directory on PATH.
pub const KUBECTL_HOOK: &str = "#!/bin/sh\n\
# kubectl shell completion for kubectl promote: kubectl (>= 1.26) runs kubectl_complete-promote\n\
# with the words after `kubectl promote`, the last being the one to complete.\n\
# Written by `kubectl promote completion kubectl-hook`.\n\
exec kubectl-promote __complete \"$@\"\n";

/// Subcommands whose first positional argument is an environment name.
const ENV_FIRST: &[&str] = &[
    "approve", "reject", "status", "rollback", "sync", "history", "resume",
];

/// Answers one completion request on `out`; never fails (no candidates is an answer).
pub fn complete(env: &Env, words: &[String], out: &mut dyn Write) -> Exit {
    let cwd = std::env::current_dir().unwrap_or_default();
    let (candidates, directive) = candidates(env, &cwd, words);
    let mut text = String::new();
    for (c, d) in candidates {
        match d {
            Some(d) if !d.is_empty() => {
                text.push_str(&format!("{c}\t{}\n", d.lines().next().unwrap_or("")))
            }
            _ => text.push_str(&format!("{c}\n")),
        }
    }
    text.push_str(&format!(":{directive}\n"));
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Exit::Ok
}

type Candidates = Vec<(String, Option<String>)>;

fn candidates(env: &Env, cwd: &Path, words: &[String]) -> (Candidates, u8) {
    let mut root = crate::cli::Cli::command();
    root.build();
    let (done, cur) = match words.split_last() {
        Some((cur, done)) => (done, cur.as_str()),
        None => (&[][..], ""),
    };
    let at = walk(&root, done);
    if let Some(arg) = at.pending_value {
        return value_candidates(cwd, arg, cur);
    }
    if let Some(inline) = inline_value(cwd, at.cmd, cur) {
        return inline;
    }
    if cur.starts_with('-') {
        return (starting_with(&flags(at.cmd), cur), NO_FILES);
    }
    positional_candidates(env, cwd, &at, cur)
}

/// Where the finished words lead in the command tree.
struct Walk<'a> {
    /// The (sub)command the word under the cursor belongs to.
    cmd: &'a clap::Command,
    /// The subcommands on the way there (`["policy", "inspect"]`).
    path: Vec<&'a str>,
    /// How many positional arguments were given to `cmd`.
    positionals: usize,
    /// A flag that takes a value and has none yet: the word under the cursor is its value.
    pending_value: Option<&'a clap::Arg>,
}

/// Walk the finished words: subcommands go down the tree, flags that take a value skip it.
fn walk<'a>(root: &'a clap::Command, done: &[String]) -> Walk<'a> {
    let mut at = Walk {
        cmd: root,
        path: Vec::new(),
        positionals: 0,
        pending_value: None,
    };
    for w in done {
        if at.pending_value.take().is_some() || w == "--" {
            continue;
        }
        if let Some(flag) = w.strip_prefix('-') {
            if w.contains('=') {
                continue;
            }
            let arg = match flag.strip_prefix('-') {
                Some(long) => at.cmd.get_arguments().find(|a| a.get_long() == Some(long)),
                None => flag
                    .chars()
                    .last()
                    .and_then(|c| at.cmd.get_arguments().find(|a| a.get_short() == Some(c))),
            };
            at.pending_value = arg.filter(|a| takes_value(a) && !a.is_require_equals_set());
            continue;
        }
        if at.positionals == 0
            && let Some(sub) = at.cmd.find_subcommand(w)
        {
            at.path.push(sub.get_name());
            at.cmd = sub;
            continue;
        }
        at.positionals += 1;
    }
    at
}

/// The candidates that start with `prefix`.
fn starting_with(c: &Candidates, prefix: &str) -> Candidates {
    c.iter()
        .filter(|(v, _)| v.starts_with(prefix))
        .cloned()
        .collect()
}

/// `--flag=VALUE` under the cursor: the values of the flag, each with `--flag=` in front.
fn inline_value(cwd: &Path, cmd: &clap::Command, cur: &str) -> Option<(Candidates, u8)> {
    let (flag, value) = cur.split_once('=')?;
    let long = flag.strip_prefix("--")?;
    let arg = cmd.get_arguments().find(|a| a.get_long() == Some(long))?;
    let (c, d) = value_candidates(cwd, arg, value);
    Some((
        c.into_iter()
            .map(|(v, h)| (format!("{flag}={v}"), h))
            .collect(),
        d,
    ))
}

/// The visible flags of `cmd`, long and short, with their help.
fn flags(cmd: &clap::Command) -> Candidates {
    let mut flags: Candidates = Vec::new();
    for a in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
    {
        let help = a.get_help().map(ToString::to_string);
        if let Some(l) = a.get_long() {
            flags.push((format!("--{l}"), help.clone()));
        }
        if let Some(s) = a.get_short() {
            flags.push((format!("-{s}"), help));
        }
    }
    flags
}

/// A new word that is not a flag: subcommands (before any positional), and what the command's
/// first positional argument takes (an environment, a module, a shell).
fn positional_candidates(env: &Env, cwd: &Path, at: &Walk<'_>, cur: &str) -> (Candidates, u8) {
    let mut out: Candidates = Vec::new();
    if at.positionals == 0 {
        out.extend(
            at.cmd
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| {
                    (
                        s.get_name().to_owned(),
                        s.get_about().map(ToString::to_string),
                    )
                }),
        );
    }
    match (at.path.as_slice(), at.positionals) {
        ([], 0) => out.extend(environments(cwd, "promote into this environment")),
        ([one], 0) if ENV_FIRST.contains(one) => out.extend(environments(cwd, "environment")),
        (["policy", "inspect" | "eval"], 0) => {
            out.extend(modules(env));
            return (starting_with(&out, cur), FILES);
        }
        (["policy", "test" | "package"], 0) => return (Vec::new(), FILES),
        (["completion"], 0) => {
            let shell = at.cmd.get_arguments().find(|a| a.is_positional());
            if let Some(a) = shell {
                out.extend(possible_values(a));
            }
        }
        _ => {}
    }
    (starting_with(&out, cur), NO_FILES)
}

fn takes_value(a: &clap::Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.takes_values())
}

fn possible_values(a: &clap::Arg) -> Candidates {
    a.get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| {
            (
                v.get_name().to_owned(),
                v.get_help().map(ToString::to_string),
            )
        })
        .collect()
}

/// The value of `arg` that starts with `prefix`: its enumerated values, environments for
/// `--from`, file names for paths.
fn value_candidates(cwd: &Path, arg: &clap::Arg, prefix: &str) -> (Candidates, u8) {
    let values = possible_values(arg);
    if !values.is_empty() {
        return (starting_with(&values, prefix), NO_FILES);
    }
    match arg.get_id().as_str() {
        "from" => (
            starting_with(&environments(cwd, "upstream environment"), prefix),
            NO_FILES,
        ),
        // Paths and URLs: let the shell complete file names.
        "repo" | "config" | "policy" | "kubeconfig" | "input" | "settings" | "out_dir"
        | "license" => (Vec::new(), FILES),
        _ => (Vec::new(), NO_FILES),
    }
}

fn environments(cwd: &Path, what: &str) -> Candidates {
    promote::peek::environment_names(cwd)
        .into_iter()
        .map(|n| (n, Some(what.to_owned())))
        .collect()
}

/// `builtin:NAME` and the `krew:NAME` modules krew installed.
fn modules(env: &Env) -> Candidates {
    let mut out: Candidates = promote_policy::BUILTIN_NAMES
        .iter()
        .map(|n| (format!("builtin:{n}"), Some("built-in policy".to_owned())))
        .collect();
    if let Some(Ok(installed)) = env
        .krew_root
        .as_deref()
        .map(promote_policy::krew::installed)
    {
        for i in installed.into_iter().flatten() {
            let label = i.label();
            out.push((
                format!("krew:{}", i.name()),
                Some(format!("installed by krew ({label})")),
            ));
        }
    }
    out
}
