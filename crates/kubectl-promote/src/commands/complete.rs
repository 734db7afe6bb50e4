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
    // Walk the finished words: subcommands go down the tree, flags that take a value skip it.
    let mut cmd = &root;
    let mut path: Vec<String> = Vec::new();
    let mut positionals = 0usize;
    let mut pending_value: Option<clap::Arg> = None;
    for w in done {
        if pending_value.take().is_some() {
            continue;
        }
        if w == "--" {
            continue;
        }
        if let Some(flag) = w.strip_prefix('-') {
            if w.contains('=') {
                continue;
            }
            let arg = match flag.strip_prefix('-') {
                Some(long) => cmd.get_arguments().find(|a| a.get_long() == Some(long)),
                None => flag
                    .chars()
                    .last()
                    .and_then(|c| cmd.get_arguments().find(|a| a.get_short() == Some(c))),
            };
            if let Some(a) = arg
                && takes_value(a)
                && !a.is_require_equals_set()
            {
                pending_value = Some(a.clone());
            }
            continue;
        }
        if positionals == 0
            && let Some(sub) = cmd.find_subcommand(w)
        {
            path.push(sub.get_name().to_owned());
            cmd = sub;
            continue;
        }
        positionals += 1;
    }
    let keep = |c: &Candidates| {
        c.iter()
            .filter(|(v, _)| v.starts_with(cur))
            .cloned()
            .collect::<Candidates>()
    };
    // The value of a flag.
    if let Some(arg) = pending_value {
        return value_candidates(cwd, &arg, keep);
    }
    if let Some((flag, value)) = cur.split_once('=')
        && let Some(long) = flag.strip_prefix("--")
        && let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(long))
    {
        let (c, d) = value_candidates(cwd, arg, |c: &Candidates| {
            c.iter()
                .filter(|(v, _)| v.starts_with(value))
                .cloned()
                .collect()
        });
        return (
            c.into_iter()
                .map(|(v, h)| (format!("{flag}={v}"), h))
                .collect(),
            d,
        );
    }
    if cur.starts_with('-') {
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
        return (keep(&flags), NO_FILES);
    }
    let mut out: Candidates = Vec::new();
    if positionals == 0 {
        out.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).map(|s| {
            (
                s.get_name().to_owned(),
                s.get_about().map(ToString::to_string),
            )
        }));
    }
    let sub = path.iter().map(String::as_str).collect::<Vec<_>>();
    match (sub.as_slice(), positionals) {
        ([], 0) => out.extend(environments(cwd, "promote into this environment")),
        ([one], 0) if ENV_FIRST.contains(one) => out.extend(environments(cwd, "environment")),
        (["policy", "inspect" | "eval"], 0) => {
            out.extend(modules(env));
            return (keep(&out), FILES);
        }
        (["policy", "test" | "package"], 0) => return (Vec::new(), FILES),
        (["completion"], 0) => {
            let shell = cmd.get_arguments().find(|a| a.is_positional());
            if let Some(a) = shell {
                out.extend(possible_values(a));
            }
        }
        _ => {}
    }
    (keep(&out), NO_FILES)
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

fn value_candidates(
    cwd: &Path,
    arg: &clap::Arg,
    keep: impl Fn(&Candidates) -> Candidates,
) -> (Candidates, u8) {
    let values = possible_values(arg);
    if !values.is_empty() {
        return (keep(&values), NO_FILES);
    }
    match arg.get_id().as_str() {
        "from" => (keep(&environments(cwd, "upstream environment")), NO_FILES),
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
