//! Loading an operation's policy modules: repo paths from the base tip (never the working tree)
//! checked against their pin, `krew:` modules from the krew store checked against their
//! package's pin (and a `sha256:` beside them), built-ins, and `--policy` one-offs; then each
//! module's settings checked by the module itself.

use std::sync::Arc;

use promote_core::config::{FailurePolicy as ConfigFailure, ModuleRef, PolicyRef};
use promote_policy::krew::{self, KrewRef};
use promote_policy::{
    CacheStatus, ConfiguredPolicy, FailurePolicy, Host, ModuleSource, SIDECAR, Sha256, SidecarText,
};

use crate::ports::PolicySettings;
use crate::{Interaction, PromoteError, Session};

/// Load the modules: configured ones (for the operation) plus one-offs. Repo modules are read
/// from the base tip and must match their pin before anything is compiled.
///
/// A module whose `validate-settings` could not decide (a trap, a limit, bad output) is kept
/// with the error as its result, which its `failurePolicy` governs when the operation is
/// evaluated; settings it refuses (`valid: false`) are a configuration error. `ui` gets a detail
/// line when the compiled-module cache had to be repaired.
pub(crate) fn load(
    host: &Host,
    settings: &PolicySettings,
    session: &Session,
    refs: &[PolicyRef],
    ui: &dyn Interaction,
) -> Result<Vec<ConfiguredPolicy>, PromoteError> {
    let mut out = Vec::new();
    for r in refs {
        let (source, sidecar) = source_of(settings, session, r)?;
        let policy = host
            .load_with_sidecar(&source, sidecar.as_ref())
            .map_err(|e| PromoteError::Policy(format!("{}: {e}", r.key)))?;
        note_cache(host, &policy, ui);
        out.push(configured(host, session, r, policy)?);
    }
    for path in &settings.one_offs {
        let policy = host
            .load(&ModuleSource::File {
                path: path.clone(),
                sha256: None,
            })
            .map_err(|e| PromoteError::Policy(format!("--policy {}: {e}", path.display())))?;
        note_cache(host, &policy, ui);
        out.push(ConfiguredPolicy {
            policy: Arc::new(policy),
            settings: serde_json::json!({}),
            failure_policy: FailurePolicy::Fail,
            settings_error: None,
        });
    }
    Ok(out)
}

/// Where a configured module comes from, and the metadata sidecar beside a repo module.
fn source_of(
    settings: &PolicySettings,
    session: &Session,
    r: &PolicyRef,
) -> Result<(ModuleSource, Option<SidecarText>), PromoteError> {
    Ok(match &r.module {
        ModuleRef::Builtin(name) => (ModuleSource::Builtin(name.clone()), None),
        ModuleRef::RepoPath(path) => (repo_source(session, r, path)?, repo_sidecar(session, path)?),
        ModuleRef::Krew(name) => (krew_source(settings, session, r, name)?, None),
    })
}

/// A repo module at the base tip, which must be pinned.
fn repo_source(session: &Session, r: &PolicyRef, path: &str) -> Result<ModuleSource, PromoteError> {
    let bytes = session.repo.read_file(session.base, path)?.ok_or_else(|| {
        PromoteError::Config(session.config.error(
            format!("{}.module", r.key),
            format!("no file `{path}` at {}", session.base_name()),
            "commit the module to the base branch, or fix the path",
        ))
    })?;
    let Some(pin) = &r.sha256 else {
        return Err(PromoteError::Config(session.config.error(
            format!("{}.sha256", r.key),
            format!("repo module `{path}` is not pinned"),
            format!(
                "add `sha256: {}` (the digest of the module at {}) so a changed module is refused",
                Sha256::of(&bytes),
                session.base_name()
            ),
        )));
    };
    let pin: Sha256 = pin.parse().map_err(PromoteError::Policy)?;
    Ok(ModuleSource::Bytes {
        label: format!("{path}@{}", session.base_name()),
        bytes,
        sha256: Some(pin),
    })
}

/// A `krew:` module as krew installed it; a `sha256:` beside it pins it further (e.g. to what
/// was reviewed).
fn krew_source(
    settings: &PolicySettings,
    session: &Session,
    r: &PolicyRef,
    name: &str,
) -> Result<ModuleSource, PromoteError> {
    let key = format!("{}.module", r.key);
    let config_error = |key: String, problem: String, fix: String| {
        PromoteError::Config(session.config.error(key, problem, fix))
    };
    let reference = KrewRef::parse(name).map_err(|e| {
        config_error(
            key.clone(),
            e,
            "name the plugin as `kubectl krew list` shows it, without `promote-policy-`".into(),
        )
    })?;
    let Some(root) = &settings.krew_root else {
        return Err(config_error(
            key,
            format!("{reference}: no krew root (neither KREW_ROOT nor HOME is set)"),
            "set KREW_ROOT to krew's directory (default ~/.krew)".into(),
        ));
    };
    let installed = krew::find(root, &reference).map_err(|e| {
        let (problem, fix) = match &e {
            krew::KrewError::NotInstalled { plugin, receipt, install, .. } => (
                format!("{reference}: the krew plugin {plugin} is not installed (no {receipt})"),
                format!(
                    "install it: `{install}` (the index once: `kubectl krew index add {} <index git URL>`), or from files: `kubectl krew install --manifest=FILE --archive=FILE`",
                    reference.index.as_deref().unwrap_or(krew::SUGGESTED_INDEX)
                ),
            ),
            other => (
                other.to_string(),
                "`kubectl krew list` shows what krew installed".to_owned(),
            ),
        };
        config_error(key.clone(), problem, fix)
    })?;
    if let Some(pin) = &r.sha256 {
        let pin: Sha256 = pin.parse().map_err(PromoteError::Policy)?;
        if pin != installed.sha256 {
            return Err(config_error(
                format!("{}.sha256", r.key),
                format!(
                    "{} is installed with module sha256 {}, but the configuration pins {pin}",
                    installed.label(),
                    installed.sha256
                ),
                pin_fix(&installed, &pin, &r.key),
            ));
        }
    }
    Ok(ModuleSource::Krew(installed))
}

/// What to do about a krew module whose digest is not the pin: the pin was reviewed in git, the
/// installed bytes were not, so the pin wins unless the module was upgraded on purpose.
fn pin_fix(installed: &krew::Installed, pin: &Sha256, key: &str) -> String {
    let from = if installed.index == "detached" {
        format!(
            "kubectl krew install --manifest=FILE --archive=FILE (the reviewed package of {})",
            installed.plugin
        )
    } else {
        format!(
            "kubectl krew install {}/{}",
            installed.index, installed.plugin
        )
    };
    format!(
        "trust the pin, which was reviewed in git: put the reviewed module back with `kubectl krew uninstall {plugin} && {from}` and check that `kubectl promote policy inspect krew:{name}` shows sha256 {pin}. Only if you upgraded the plugin on purpose and reviewed the new module, re-pin it: `sha256: \"{actual}\"` at {key}.sha256",
        plugin = installed.plugin,
        name = installed.name(),
        actual = installed.sha256,
    )
}

/// The module with its settings. Settings the module refuses are the configuration's fault: an
/// error naming the key. A module that cannot decide on them (a trap, a limit, bad output) is a
/// policy error like any other, kept for its failure policy to judge when the operation runs.
fn configured(
    host: &Host,
    session: &Session,
    r: &PolicyRef,
    policy: promote_policy::Policy,
) -> Result<ConfiguredPolicy, PromoteError> {
    let settings_error = match host.validate_settings(&policy, &r.settings) {
        Ok(v) if !v.valid => {
            return Err(PromoteError::Config(session.config.error(
                format!("{}.settings", r.key),
                format!(
                    "{} refuses its settings: {}",
                    r.module,
                    v.message.unwrap_or_default()
                ),
                format!(
                    "see `kubectl promote policy inspect {}` for the settings it takes",
                    r.module
                ),
            )));
        }
        Ok(_) => None,
        Err(e) => Some(e),
    };
    Ok(ConfiguredPolicy {
        policy: Arc::new(policy),
        settings: r.settings.clone(),
        failure_policy: match r.failure_policy {
            ConfigFailure::Fail => FailurePolicy::Fail,
            ConfigFailure::Ignore => FailurePolicy::Ignore,
        },
        settings_error,
    })
}

/// Says (as a detail, shown with `-v`) when a module's compiled artifact in the cache could
/// not be used and was rebuilt: a corrupted cache heals itself, but not silently.
pub fn note_cache(host: &Host, policy: &promote_policy::Policy, ui: &dyn Interaction) {
    if let CacheStatus::Healed(why) = policy.cache_status() {
        let path = host
            .cache_path(&policy.sha256())
            .map_or_else(String::new, |p| format!(" {}", p.display()));
        ui.detail(&format!(
            "{}: the compiled-module cache entry{path} was not used ({why}); recompiled and replaced it",
            policy.origin()
        ));
    }
}

/// The `promote-policy.yaml` beside a repo-path module at the base tip, if there is one: the
/// metadata of modules without a metadata custom section (Go, and anything not built with the
/// Rust SDK). It comes from the same revision as `promote.yaml`, so it is as trusted.
pub fn repo_sidecar(
    session: &Session,
    module_path: &str,
) -> Result<Option<SidecarText>, PromoteError> {
    let dir = module_path.rsplit_once('/').map_or("", |(d, _)| d);
    let path = if dir.is_empty() {
        SIDECAR.to_owned()
    } else {
        format!("{dir}/{SIDECAR}")
    };
    let Some(bytes) = session.repo.read_file(session.base, &path)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        PromoteError::Policy(format!("{path}@{}: not UTF-8 text", session.base_name()))
    })?;
    Ok(Some(SidecarText {
        place: format!("{path}@{}", session.base_name()),
        text,
    }))
}
