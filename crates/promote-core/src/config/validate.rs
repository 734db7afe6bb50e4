//! From the raw file to [`Config`]: every check names the key and the fix.

use std::collections::BTreeSet;

use super::common::{policy_ref, problem};

use super::raw::{RawApproverKeys, RawConfig, RawEnv, RawPolicy};
use super::{
    API_VERSION, ApproverKeys, Config, ConfigError, Environment, GitSettings, KIND, Mode,
    PolicyRef, RESERVED_NAMES,
};

fn parse_mode(
    file: &str,
    key: &str,
    value: Option<&str>,
    default: Mode,
) -> Result<Mode, ConfigError> {
    match value {
        None => Ok(default),
        Some("pr") => Ok(Mode::Pr),
        Some("direct") => Ok(Mode::Direct),
        Some(other) => Err(ConfigError {
            file: file.to_owned(),
            key: key.to_owned(),
            problem: format!("unknown mode `{other}`"),
            fix: "use `pr` (open a pull request) or `direct` (push to the base branch)".into(),
        }),
    }
}

/// The rule [`valid_env_name`] checks, for messages.
pub const ENV_NAME_RULE: &str = "lower-case letters, digits and `-`, starting with a letter, not ending with `-`, at most 63 characters";

/// Is `name` a valid environment name ([`ENV_NAME_RULE`])?
pub fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && !name.ends_with('-')
}

pub(super) fn validate(file: &str, raw: RawConfig) -> Result<Config, ConfigError> {
    check_header(file, raw.api_version.as_deref(), raw.kind.as_deref())?;
    let git = GitSettings {
        remote: raw.git.remote.unwrap_or_else(|| "origin".into()),
        base_branch: raw.git.base_branch.unwrap_or_else(|| "main".into()),
        mode: parse_mode(file, "git.mode", raw.git.mode.as_deref(), Mode::Pr)?,
        approvals_branch: raw
            .git
            .approvals_branch
            .unwrap_or_else(|| "promote/approvals".into()),
    };
    for (role, people) in &raw.approvers {
        if people.is_empty() {
            return Err(problem(
                file,
                format!("approvers.{role}"),
                "empty list",
                "name at least one email or `github:org/team`, or remove the role",
            ));
        }
    }
    let approver_keys = match raw.approver_keys {
        None => ApproverKeys::default(),
        Some(k) => approver_keys(file, k)?,
    };
    if raw.environments.is_empty() {
        return Err(problem(
            file,
            "environments",
            "no environments",
            "list at least one: `- {name: staging, overlay: kustomize/staging}`",
        ));
    }
    let mut names = BTreeSet::new();
    let mut environments = Vec::new();
    let with_apps = raw.apps.is_some();
    for (i, e) in raw.environments.into_iter().enumerate() {
        environments.push(environment(file, i, e, (git.mode, with_apps), &mut names)?);
    }
    let apps = super::apps::apps(file, raw.apps, &names)?;
    for (i, e) in environments.iter().enumerate() {
        check_from(file, i, e, &environments, &names)?;
    }
    let waves = super::verify::waves(file, raw.waves, &environments)?;
    Ok(Config {
        file: file.to_owned(),
        git,
        forge: raw.forge,
        approvers: raw.approvers,
        approver_keys,
        environments,
        waves,
        apps,
    })
}

fn check_header(
    file: &str,
    api_version: Option<&str>,
    kind: Option<&str>,
) -> Result<(), ConfigError> {
    match api_version {
        Some(API_VERSION) => {}
        other => {
            return Err(problem(
                file,
                "apiVersion",
                match other {
                    Some(v) => format!("`{v}` is not a version this kubectl-promote reads"),
                    None => "missing".into(),
                },
                format!("set `apiVersion: {API_VERSION}`"),
            ));
        }
    }
    if kind != Some(KIND) {
        return Err(problem(
            file,
            "kind",
            format!("expected `{KIND}`, found {:?}", kind.unwrap_or_default()),
            format!("set `kind: {KIND}`"),
        ));
    }
    Ok(())
}

fn approver_keys(file: &str, k: RawApproverKeys) -> Result<ApproverKeys, ConfigError> {
    let path = |key: &str, value: Option<String>| -> Result<Option<String>, ConfigError> {
        let Some(v) = value else { return Ok(None) };
        let p = v.trim_start_matches("./").to_owned();
        if !is_repo_path(&p) || p.ends_with('/') {
            return Err(problem(
                file,
                format!("approverKeys.{key}"),
                format!("`{v}` is not a file path inside the repository"),
                format!(
                    "name a file on the base branch relative to the repo root, e.g. `{}`",
                    if key == "ssh" {
                        ".promote/allowed_signers"
                    } else {
                        ".promote/approvers.asc"
                    }
                ),
            ));
        }
        Ok(Some(p))
    };
    let keys = ApproverKeys {
        ssh: path("ssh", k.ssh)?,
        gpg: path("gpg", k.gpg)?,
    };
    if keys.is_empty() {
        return Err(problem(
            file,
            "approverKeys",
            "names no key file",
            "set `ssh: .promote/allowed_signers` (git's allowed-signers format) and/or `gpg: .promote/approvers.asc` (armored public keys), or remove approverKeys",
        ));
    }
    Ok(keys)
}

/// `environments[i]`, checked; `names` collects the names seen so far.
fn environment(
    file: &str,
    i: usize,
    e: RawEnv,
    (default_mode, with_apps): (Mode, bool),
    names: &mut BTreeSet<String>,
) -> Result<Environment, ConfigError> {
    let key = |k: &str| format!("environments[{i}].{k}");
    check_env_name(file, &key("name"), &e.name, names)?;
    let (overlay, pins) = if with_apps {
        // With `apps:`, each app says where its images are in this environment.
        if e.overlay.is_some() || e.targets.is_some() || e.argocd.is_some() {
            return Err(problem(
                file,
                key(if e.overlay.is_some() {
                    "overlay"
                } else if e.targets.is_some() {
                    "targets"
                } else {
                    "argocd"
                }),
                "promote.yaml declares `apps:`, so each app names its own target and Argo CD Application",
                format!(
                    "move it under the app: `apps: [{{name: APP, environments: {{{}: {{overlay: DIR, argocd: {{app: NAME}}}}}}}}]`",
                    e.name
                ),
            ));
        }
        (String::new(), super::Pins::Kustomize)
    } else {
        super::targets::pins(file, &key, e.overlay, e.targets)?
    };
    let argocd = e.argocd.map(super::common::argo_target);
    let policies = |list: Vec<RawPolicy>, op: &str| -> Result<Vec<PolicyRef>, ConfigError> {
        list.into_iter()
            .enumerate()
            .map(|(j, p)| policy_ref(file, &format!("environments[{i}].policies.{op}[{j}]"), p))
            .collect()
    };
    Ok(Environment {
        mode: parse_mode(file, &key("mode"), e.mode.as_deref(), default_mode)?,
        promote_policies: policies(e.policies.promote, "promote")?,
        rollback_policies: policies(e.policies.rollback, "rollback")?,
        verify: match e.verify {
            Some(v) => super::verify::verify(file, &key("verify"), v)?,
            None => Default::default(),
        },
        trust: match e.trust {
            Some(t) => super::trust::trust(file, &key("trust"), t)?,
            None => Default::default(),
        },
        name: e.name,
        overlay,
        pins,
        from: e.from,
        protected: e.protected,
        reviewers: e.reviewers,
        labels: e.labels,
        allow_override: e.allow_override,
        stable: e.stable,
        argocd,
        app: None,
    })
}

fn check_env_name(
    file: &str,
    key: &str,
    name: &str,
    names: &mut BTreeSet<String>,
) -> Result<(), ConfigError> {
    if !valid_env_name(name) {
        return Err(problem(
            file,
            key,
            format!("`{name}` is not a valid environment name"),
            format!("use {ENV_NAME_RULE}"),
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(problem(
            file,
            key,
            format!(
                "`{name}` is a kubectl promote subcommand, so `kubectl promote {name}` would be ambiguous"
            ),
            format!("rename the environment, e.g. `{name}-env`"),
        ));
    }
    if !names.insert(name.to_owned()) {
        return Err(problem(
            file,
            key,
            format!("environment `{name}` is defined twice"),
            "keep one definition",
        ));
    }
    Ok(())
}

/// `environments[i].from` names an environment, and following `from` never comes back to `e`.
fn check_from(
    file: &str,
    i: usize,
    e: &Environment,
    environments: &[Environment],
    names: &BTreeSet<String>,
) -> Result<(), ConfigError> {
    let Some(from) = &e.from else { return Ok(()) };
    let key = format!("environments[{i}].from");
    if !names.contains(from) {
        return Err(problem(
            file,
            key,
            format!("`{from}` is not an environment"),
            format!(
                "use one of: {}",
                names.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut seen = vec![e.name.as_str()];
    let mut cur = from.as_str();
    loop {
        if seen.contains(&cur) {
            seen.push(cur);
            return Err(problem(
                file,
                key,
                format!("`from` makes a cycle: {}", seen.join(" <- ")),
                "promotions must flow one way; remove one `from`",
            ));
        }
        seen.push(cur);
        match environments
            .iter()
            .find(|x| x.name == cur)
            .and_then(|x| x.from.as_deref())
        {
            Some(next) => cur = next,
            None => return Ok(()),
        }
    }
}

/// A relative path that stays inside the repository: no `..`, no empty or absolute parts.
fn is_repo_path(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == ".." || c.is_empty())
}
