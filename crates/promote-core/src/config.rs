//! `promote.yaml`: the raw file shape (dumb, `deny_unknown_fields`) and the validated
//! [`Config`] that the rest of the program uses. Only [`Config`] leaves this module; every error
//! names the file, the key and the fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

pub use crate::forge::ForgeSettings;
use crate::yaml;

pub const API_VERSION: &str = "promote.kubectl.io/v1alpha1";
pub const KIND: &str = "PromotionConfig";
pub const FILE_NAME: &str = "promote.yaml";

/// Subcommands: an environment may not be named like one, or `kubectl promote status` would be
/// ambiguous.
pub const RESERVED_NAMES: [&str; 13] = [
    "approve",
    "reject",
    "verify",
    "status",
    "history",
    "sync",
    "rollback",
    "resume",
    "policy",
    "init",
    "completion",
    "version",
    "help",
];

/// A problem in `promote.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {problem}\n  fix: {fix}")]
pub struct ConfigError {
    /// Where the file was read from, e.g. `promote.yaml (origin/main 1a2b3c4)`.
    pub file: String,
    /// The key path, e.g. `environments[1].from`.
    pub key: String,
    pub problem: String,
    pub fix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    git: RawGit,
    forge: Option<ForgeSettings>,
    #[serde(default)]
    approvers: BTreeMap<String, Vec<String>>,
    approver_keys: Option<RawApproverKeys>,
    #[serde(default)]
    environments: Vec<RawEnv>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproverKeys {
    ssh: Option<String>,
    gpg: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawGit {
    remote: Option<String>,
    base_branch: Option<String>,
    mode: Option<String>,
    approvals_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEnv {
    name: String,
    overlay: String,
    from: Option<String>,
    mode: Option<String>,
    #[serde(default)]
    protected: bool,
    #[serde(default)]
    reviewers: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    allow_override: bool,
    #[serde(default)]
    stable: bool,
    argocd: Option<RawArgo>,
    #[serde(default)]
    policies: RawPolicies,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawArgo {
    app: String,
    namespace: Option<String>,
    context: Option<String>,
    server: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicies {
    #[serde(default)]
    promote: Vec<RawPolicy>,
    #[serde(default)]
    rollback: Vec<RawPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    module: String,
    sha256: Option<String>,
    settings: Option<serde_json::Value>,
    failure_policy: Option<String>,
}

/// How a promotion lands: a pull request, or a push to the base branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Pr,
    Direct,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Pr => "pr",
            Mode::Direct => "direct",
        })
    }
}

/// Validated `promote.yaml`.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: String,
    pub git: GitSettings,
    pub forge: Option<ForgeSettings>,
    pub approvers: BTreeMap<String, Vec<String>>,
    /// Where the keys that verify approval records are kept on the base branch.
    pub approver_keys: ApproverKeys,
    pub environments: Vec<Environment>,
}

/// `approverKeys`: repo paths, read from the base tip, of the public keys whose signatures make
/// an approval record verified. Neither set: no record is verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApproverKeys {
    /// An allowed-signers file in git's `gpg.ssh.allowedSignersFile` format
    /// (`qa@example.com ssh-ed25519 AAAA…`): each line allows a key for its principals.
    pub ssh: Option<String>,
    /// ASCII-armored OpenPGP public keys; a key is allowed for the e-mails of its user IDs.
    pub gpg: Option<String>,
}

impl ApproverKeys {
    pub fn is_empty(&self) -> bool {
        self.ssh.is_none() && self.gpg.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSettings {
    pub remote: String,
    pub base_branch: String,
    pub mode: Mode,
    pub approvals_branch: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    /// Repo-relative directory of the overlay, without trailing slash.
    pub overlay: String,
    pub from: Option<String>,
    pub mode: Mode,
    pub protected: bool,
    pub reviewers: Vec<String>,
    pub labels: Vec<String>,
    pub allow_override: bool,
    /// Marked stable: pre-releases are kept out by `semver-guard`.
    pub stable: bool,
    pub argocd: Option<ArgoTarget>,
    pub promote_policies: Vec<PolicyRef>,
    pub rollback_policies: Vec<PolicyRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgoTarget {
    pub app: String,
    pub namespace: String,
    pub context: Option<String>,
    pub server: Option<String>,
}

/// Where a policy module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleRef {
    /// Embedded in the binary, `builtin:<name>`.
    Builtin(String),
    /// Installed by krew as `promote-policy-<name>`, `krew:<name>`.
    Krew(String),
    /// A repo-relative path, read from the base branch tip and pinned by sha256.
    RepoPath(String),
}

impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleRef::Builtin(n) => write!(f, "builtin:{n}"),
            ModuleRef::Krew(n) => write!(f, "krew:{n}"),
            ModuleRef::RepoPath(p) => f.write_str(p),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    #[default]
    Fail,
    Ignore,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRef {
    pub module: ModuleRef,
    pub sha256: Option<String>,
    pub settings: serde_json::Value,
    pub failure_policy: FailurePolicy,
    /// The key path in `promote.yaml`, for messages.
    pub key: String,
}

impl Config {
    /// Parse and validate. `file` says where the text came from (used in every error).
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = yaml::from_str(file, text).map_err(|e| ConfigError {
            file: file.to_owned(),
            key: "(document)".into(),
            problem: strip_file_prefix(&e.to_string(), file),
            fix: "see the promote.yaml reference in the README; unknown keys are refused so that typos do not pass silently".into(),
        })?;
        validate(file, raw)
    }

    pub fn env(&self, name: &str) -> Result<&Environment, ConfigError> {
        self.environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| ConfigError {
                file: self.file.clone(),
                key: "environments".into(),
                problem: format!("no environment named `{name}`"),
                fix: format!(
                    "use one of: {}",
                    self.environments
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// Environments whose `from` is `name`.
    pub fn downstream_of<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Environment> + 'a {
        self.environments
            .iter()
            .filter(move |e| e.from.as_deref() == Some(name))
    }

    pub fn error(
        &self,
        key: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

fn strip_file_prefix(msg: &str, file: &str) -> String {
    msg.strip_prefix(file)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(msg)
        .to_owned()
}

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

fn validate(file: &str, raw: RawConfig) -> Result<Config, ConfigError> {
    let err = |key: String, problem: String, fix: String| ConfigError {
        file: file.to_owned(),
        key,
        problem,
        fix,
    };
    match raw.api_version.as_deref() {
        Some(API_VERSION) => {}
        other => {
            return Err(err(
                "apiVersion".into(),
                match other {
                    Some(v) => format!("`{v}` is not a version this kubectl-promote reads"),
                    None => "missing".into(),
                },
                format!("set `apiVersion: {API_VERSION}`"),
            ));
        }
    }
    if raw.kind.as_deref() != Some(KIND) {
        return Err(err(
            "kind".into(),
            format!(
                "expected `{KIND}`, found {:?}",
                raw.kind.unwrap_or_default()
            ),
            format!("set `kind: {KIND}`"),
        ));
    }
    let git = GitSettings {
        remote: raw.git.remote.unwrap_or_else(|| "origin".into()),
        base_branch: raw.git.base_branch.unwrap_or_else(|| "main".into()),
        mode: parse_mode(file, "git.mode", raw.git.mode.as_deref(), Mode::Pr)?,
        approvals_branch: raw
            .git
            .approvals_branch
            .unwrap_or_else(|| "promote/approvals".into()),
    };
    let forge = raw.forge;
    for (role, people) in &raw.approvers {
        if people.is_empty() {
            return Err(err(
                format!("approvers.{role}"),
                "empty list".into(),
                "name at least one email or `github:org/team`, or remove the role".into(),
            ));
        }
    }
    let approver_keys = match raw.approver_keys {
        None => ApproverKeys::default(),
        Some(k) => {
            let path = |key: &str, value: Option<String>| -> Result<Option<String>, ConfigError> {
                let Some(v) = value else { return Ok(None) };
                let p = v.trim_start_matches("./").to_owned();
                if !is_repo_path(&p) || p.ends_with('/') {
                    return Err(err(
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
                return Err(err(
                    "approverKeys".into(),
                    "names no key file".into(),
                    "set `ssh: .promote/allowed_signers` (git's allowed-signers format) and/or `gpg: .promote/approvers.asc` (armored public keys), or remove approverKeys".into(),
                ));
            }
            keys
        }
    };
    if raw.environments.is_empty() {
        return Err(err(
            "environments".into(),
            "no environments".into(),
            "list at least one: `- {name: staging, overlay: kustomize/staging}`".into(),
        ));
    }
    let mut names = BTreeSet::new();
    let mut environments = Vec::new();
    for (i, e) in raw.environments.into_iter().enumerate() {
        let key = |k: &str| format!("environments[{i}].{k}");
        if !valid_env_name(&e.name) {
            return Err(err(
                key("name"),
                format!("`{}` is not a valid environment name", e.name),
                format!("use {ENV_NAME_RULE}"),
            ));
        }
        if RESERVED_NAMES.contains(&e.name.as_str()) {
            return Err(err(
                key("name"),
                format!(
                    "`{}` is a kubectl promote subcommand, so `kubectl promote {}` would be ambiguous",
                    e.name, e.name
                ),
                format!("rename the environment, e.g. `{}-env`", e.name),
            ));
        }
        if !names.insert(e.name.clone()) {
            return Err(err(
                key("name"),
                format!("environment `{}` is defined twice", e.name),
                "keep one definition".into(),
            ));
        }
        let overlay = e
            .overlay
            .trim_end_matches('/')
            .trim_start_matches("./")
            .to_owned();
        if overlay.is_empty()
            || overlay.starts_with('/')
            || overlay.split('/').any(|p| p == ".." || p.is_empty())
        {
            return Err(err(
                key("overlay"),
                format!("`{}` is not a path inside the repository", e.overlay),
                "give the overlay directory relative to the repo root, e.g. `kustomize/prod`"
                    .into(),
            ));
        }
        let argocd = e.argocd.map(|a| ArgoTarget {
            app: a.app,
            namespace: a.namespace.unwrap_or_else(|| "argocd".into()),
            context: a.context,
            server: a.server,
        });
        let policies = |list: Vec<RawPolicy>, op: &str| -> Result<Vec<PolicyRef>, ConfigError> {
            list.into_iter()
                .enumerate()
                .map(|(j, p)| {
                    let pkey = format!("environments[{i}].policies.{op}[{j}]");
                    policy_ref(file, &pkey, p)
                })
                .collect()
        };
        environments.push(Environment {
            mode: parse_mode(file, &key("mode"), e.mode.as_deref(), git.mode)?,
            promote_policies: policies(e.policies.promote, "promote")?,
            rollback_policies: policies(e.policies.rollback, "rollback")?,
            name: e.name,
            overlay,
            from: e.from,
            protected: e.protected,
            reviewers: e.reviewers,
            labels: e.labels,
            allow_override: e.allow_override,
            stable: e.stable,
            argocd,
        });
    }
    for (i, e) in environments.iter().enumerate() {
        if let Some(from) = &e.from {
            if !names.contains(from) {
                return Err(err(
                    format!("environments[{i}].from"),
                    format!("`{from}` is not an environment"),
                    format!(
                        "use one of: {}",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            // Follow the chain; coming back to `e` is a cycle.
            let mut seen = vec![e.name.as_str()];
            let mut cur = from.as_str();
            loop {
                if seen.contains(&cur) {
                    seen.push(cur);
                    return Err(err(
                        format!("environments[{i}].from"),
                        format!("`from` makes a cycle: {}", seen.join(" <- ")),
                        "promotions must flow one way; remove one `from`".into(),
                    ));
                }
                seen.push(cur);
                match environments
                    .iter()
                    .find(|x| x.name == cur)
                    .and_then(|x| x.from.as_deref())
                {
                    Some(next) => cur = next,
                    None => break,
                }
            }
        }
    }
    Ok(Config {
        file: file.to_owned(),
        git,
        forge,
        approvers: raw.approvers,
        approver_keys,
        environments,
    })
}

/// A relative path that stays inside the repository: no `..`, no empty or absolute parts.
fn is_repo_path(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == ".." || c.is_empty())
}

fn policy_ref(file: &str, key: &str, p: RawPolicy) -> Result<PolicyRef, ConfigError> {
    let err = |k: &str, problem: String, fix: String| ConfigError {
        file: file.to_owned(),
        key: format!("{key}.{k}"),
        problem,
        fix,
    };
    let module = if let Some(name) = p.module.strip_prefix("builtin:") {
        ModuleRef::Builtin(name.to_owned())
    } else if let Some(name) = p.module.strip_prefix("krew:") {
        ModuleRef::Krew(name.trim_start_matches("promote-policy-").to_owned())
    } else if p.module.contains("://")
        || p.module.starts_with('/')
        || p.module.split('/').any(|s| s == "..")
    {
        return Err(err("module", format!("`{}` is not a repo path, `builtin:` or `krew:` module", p.module), "keep modules in the repo (and pin them with sha256), or install them with krew; use --policy PATH for a one-off".into()));
    } else {
        ModuleRef::RepoPath(p.module.trim_start_matches("./").to_owned())
    };
    if let Some(sha) = &p.sha256
        && (sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(err(
            "sha256",
            format!("`{sha}` is not a sha256 (64 hex digits)"),
            "run `sha256sum` on the module and paste the digest".into(),
        ));
    }
    let failure_policy = match p.failure_policy.as_deref() {
        None | Some("Fail") => FailurePolicy::Fail,
        Some("Ignore") => FailurePolicy::Ignore,
        Some(other) => {
            return Err(err(
                "failurePolicy",
                format!("unknown failure policy `{other}`"),
                "use `Fail` (a policy error denies) or `Ignore` (a policy error is a warning)"
                    .into(),
            ));
        }
    };
    Ok(PolicyRef {
        module,
        sha256: p.sha256.map(|s| s.to_ascii_lowercase()),
        settings: p
            .settings
            .unwrap_or(serde_json::Value::Object(Default::default())),
        failure_policy,
        key: key.to_owned(),
    })
}

/// What `kubectl promote init` found, to write a first `promote.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitEnv {
    pub name: String,
    pub overlay: String,
    pub from: Option<String>,
    pub argocd: Option<(String, String)>,
}

/// The text of a first `promote.yaml` (commented, so that it reads as documentation).
pub fn render_init(envs: &[InitEnv], base_branch: &str) -> String {
    let mut out = String::new();
    out.push_str("# kubectl promote configuration (written by `kubectl promote init`).\n");
    out.push_str("# Read from the tip of the base branch on the remote; commit it there.\n");
    out.push_str(&format!("apiVersion: {API_VERSION}\nkind: {KIND}\n"));
    out.push_str(&format!(
        "git: {{remote: origin, baseBranch: {base_branch}, mode: pr}}\n"
    ));
    out.push_str("environments:\n");
    for e in envs {
        out.push_str(&format!(
            "  - name: {}\n    overlay: {}\n",
            e.name, e.overlay
        ));
        match &e.from {
            Some(from) => out.push_str(&format!("    from: {from}\n    protected: true\n")),
            None => out.push_str("    mode: direct\n"),
        }
        if let Some((app, ns)) = &e.argocd {
            out.push_str(&format!("    argocd: {{app: {app}, namespace: {ns}}}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &str = "promote.yaml (origin/main)";

    fn parse(body: &str) -> Result<Config, ConfigError> {
        Config::parse(
            F,
            &format!("apiVersion: {API_VERSION}\nkind: {KIND}\n{body}"),
        )
    }

    #[test]
    fn the_design_example_parses() {
        let c = parse(
            "git: {remote: origin, baseBranch: main, mode: pr}\napprovers: {qa: [qa@example.com]}\nenvironments:\n  - name: staging\n    overlay: kustomize/staging/\n    mode: direct\n    argocd: {app: s, namespace: argocd}\n  - name: prod\n    overlay: kustomize/prod\n    from: staging\n    protected: true\n    policies:\n      promote:\n        - module: builtin:change-window\n          settings: {deny: [{days: [Fri], from: \"15:00\", to: \"24:00\"}]}\n        - {module: policies/cost.wasm, sha256: \"0000000000000000000000000000000000000000000000000000000000000000\", failurePolicy: Ignore}\n",
        )
        .unwrap();
        assert_eq!(c.env("staging").unwrap().mode, Mode::Direct);
        assert_eq!(c.env("staging").unwrap().overlay, "kustomize/staging");
        let prod = c.env("prod").unwrap();
        assert_eq!(prod.mode, Mode::Pr);
        assert_eq!(
            prod.promote_policies[0].module,
            ModuleRef::Builtin("change-window".into())
        );
        assert_eq!(
            prod.promote_policies[0].settings["deny"][0]["from"],
            "15:00"
        );
        assert_eq!(
            prod.promote_policies[1].failure_policy,
            FailurePolicy::Ignore
        );
    }

    #[test]
    fn errors_name_file_key_and_fix() {
        let e = parse("environments:\n  - name: status\n    overlay: k\n").unwrap_err();
        assert_eq!(e.key, "environments[0].name");
        assert!(
            e.to_string()
                .starts_with("promote.yaml (origin/main): environments[0].name:"),
            "{e}"
        );
        let e = parse("environments:\n  - {name: a, overlay: k, from: b}\n  - {name: b, overlay: l, from: a}\n").unwrap_err();
        assert!(e.problem.contains("cycle"), "{e}");
        let e = parse("environments:\n  - {name: a, overlay: k, from: nope}\n").unwrap_err();
        assert_eq!(e.key, "environments[0].from");
        let e = parse("environments:\n  - {name: a, overlay: k, colour: red}\n").unwrap_err();
        assert!(e.problem.contains("colour"), "{e}");
        let e = parse("environments:\n  - {name: a, overlay: ../k}\n").unwrap_err();
        assert_eq!(e.key, "environments[0].overlay");
        let e = parse("environments:\n  - {name: a, overlay: k, mode: yolo}\n").unwrap_err();
        assert_eq!(e.key, "environments[0].mode");
        let e = Config::parse(F, "kind: PromotionConfig\nenvironments: []\n").unwrap_err();
        assert_eq!(e.key, "apiVersion");
    }

    #[test]
    fn approver_keys_are_repo_paths() {
        let envs = "environments:\n  - {name: a, overlay: k}\n";
        let c = parse(&format!(
            "approverKeys: {{ssh: ./.promote/allowed_signers, gpg: keys/qa.asc}}\n{envs}"
        ))
        .unwrap();
        assert_eq!(
            c.approver_keys,
            ApproverKeys {
                ssh: Some(".promote/allowed_signers".into()),
                gpg: Some("keys/qa.asc".into())
            }
        );
        assert!(parse(envs).unwrap().approver_keys.is_empty());
        for bad in ["../signers", "/etc/ssh/allowed", "keys/", "a//b"] {
            let e = parse(&format!("approverKeys: {{ssh: \"{bad}\"}}\n{envs}")).unwrap_err();
            assert_eq!(e.key, "approverKeys.ssh", "{bad}: {e}");
            assert!(e.fix.contains(".promote/allowed_signers"), "{e}");
        }
        let e = parse(&format!("approverKeys: {{}}\n{envs}")).unwrap_err();
        assert_eq!(e.key, "approverKeys");
        let e = parse(&format!("approverKeys: {{x509: f}}\n{envs}")).unwrap_err();
        assert!(e.problem.contains("x509"), "{e}");
    }

    #[test]
    fn init_output_parses() {
        let text = render_init(
            &[
                InitEnv {
                    name: "staging".into(),
                    overlay: "kustomize/staging".into(),
                    from: None,
                    argocd: Some(("s".into(), "argocd".into())),
                },
                InitEnv {
                    name: "prod".into(),
                    overlay: "kustomize/prod".into(),
                    from: Some("staging".into()),
                    argocd: None,
                },
            ],
            "main",
        );
        let c = Config::parse("promote.yaml", &text).unwrap();
        assert_eq!(c.environments.len(), 2);
        assert!(c.env("prod").unwrap().protected);
    }
}
