//! What validate.rs and verify.rs share: the error builder and a policy entry's checks.

use super::raw::RawPolicy;
use super::{ConfigError, FailurePolicy, ModuleRef, PolicyRef};

pub(super) fn strip_file_prefix(msg: &str, file: &str) -> String {
    msg.strip_prefix(file)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(msg)
        .to_owned()
}

/// A problem in `file` at `key`.
pub(super) fn problem(
    file: &str,
    key: impl Into<String>,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        key: key.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// A repo-relative path (`./` dropped): not empty, not absolute, no `..` or empty segment.
pub(super) fn repo_path(
    file: &str,
    key: &str,
    value: &str,
    fix: &str,
) -> Result<String, ConfigError> {
    let path = value.trim_start_matches("./");
    if path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|p| p == ".." || p.is_empty())
    {
        return Err(problem(
            file,
            key,
            format!("`{value}` is not a path inside the repository"),
            fix,
        ));
    }
    Ok(path.to_owned())
}

pub(super) fn policy_ref(file: &str, key: &str, p: RawPolicy) -> Result<PolicyRef, ConfigError> {
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

/// `argocd:` of an environment or an app (namespace `argocd` unless given).
pub(super) fn argo_target(a: super::raw::RawArgo) -> super::ArgoTarget {
    super::ArgoTarget {
        app: a.app,
        namespace: a.namespace.unwrap_or_else(|| "argocd".into()),
        context: a.context,
        server: a.server,
    }
}
