//! `policy list`: every module a promotion could run, one row each: the built-ins, the repo
//! modules `promote.yaml` configures (read at the remote tip of the base branch, as promotions
//! read them), the `promote-policy-*` plugins krew installed, and the `--policy` one-offs; with
//! where each is used and why it cannot be loaded when it cannot.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use promote_core::config::{ModuleRef, PolicyRef};
use promote_git::GitError;
use promote_policy::krew::{self, KrewRef};
use promote_policy::{BUILTIN_NAMES, Host, ModuleSource, Sha256, SidecarText};

use super::resolve::{digest_and_cached, file};
use crate::deploy::one_line;
use crate::document::Document;
use crate::gate::repo_sidecar;
use crate::ports::PolicyRuntime;
use crate::{Interaction, PromoteError, Session, Workspace};

/// The modules (`kind: PolicyList`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListReport {
    /// Where configured modules were read from (`origin/main abc1234`), if from a repo.
    pub config: Option<String>,
    pub items: Vec<ListRow>,
}

impl Document for ListReport {
    fn kind(&self) -> &'static str {
        "PolicyList"
    }
}

impl ListReport {
    /// Some module could not be loaded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|r| r.error.is_some())
    }
}

/// One module.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRow {
    pub name: Option<String>,
    pub version: Option<String>,
    pub abi: Option<String>,
    pub operations: Vec<String>,
    pub origin: String,
    pub sha256: Option<String>,
    /// The compiled-module cache held it when the command started (`null` with --no-cache).
    pub cached: Option<bool>,
    /// `ENV/OPERATION` (from promote.yaml) or `--policy`.
    pub used_by: Vec<String>,
    /// Why it could not be loaded.
    pub error: Option<String>,
}

impl ListRow {
    /// A module that could not be read: what is known of it and why.
    fn failed(origin: String, sha256: Option<String>, used_by: Vec<String>, error: String) -> Self {
        ListRow {
            name: None,
            version: None,
            abi: None,
            operations: Vec::new(),
            origin,
            sha256,
            cached: None,
            used_by,
            error: Some(error),
        }
    }
}

/// Where `policy list` finds the modules `promote.yaml` configures.
#[derive(Debug)]
pub enum ConfigSource {
    /// The workspace: the repository `--repo` names (an error when it cannot be opened), else
    /// the one around the working directory (none outside a repository; a warning when it
    /// cannot be opened).
    Workspace(Workspace),
    /// No workspace could be set up (the text says why): a warning, and the list without
    /// configured modules.
    Unavailable(String),
}

/// Who uses what, from `promote.yaml`.
#[derive(Default)]
struct Uses {
    /// Built-in name → `ENV/OPERATION`s.
    builtins: BTreeMap<String, Vec<String>>,
    /// (what `krew:` names, its config key, `ENV/OPERATION`)
    krew: Vec<(String, String, String)>,
    /// One row per repo module, with every use of it.
    repo_rows: Vec<ListRow>,
}

/// List the modules. Rows of modules that cannot be loaded carry the reason; `Err` only when
/// the repository `--repo` names cannot be read.
pub fn run(
    policies: &PolicyRuntime,
    config: ConfigSource,
    ui: &dyn Interaction,
) -> Result<ListReport, PromoteError> {
    let host = policies.host()?;
    let session = open(config, ui)?;
    let mut uses = match &session {
        Some(s) => configured(host, s)?,
        None => Uses::default(),
    };
    let mut items: Vec<ListRow> = BUILTIN_NAMES
        .iter()
        .map(|n| {
            row(
                host,
                &ModuleSource::Builtin((*n).to_owned()),
                None,
                format!("builtin:{n}"),
                uses.builtins.remove(*n).unwrap_or_default(),
            )
        })
        .collect();
    items.append(&mut uses.repo_rows);
    items.extend(krew_rows(
        host,
        policies.settings.krew_root.as_deref(),
        uses.krew,
    ));
    for path in &policies.settings.one_offs {
        items.push(row(
            host,
            &file(path.clone()),
            None,
            path.display().to_string(),
            vec!["--policy".into()],
        ));
    }
    Ok(ListReport {
        config: session
            .as_ref()
            .map(|s| format!("{} {}", s.base_name(), s.base.short())),
        items,
    })
}

/// The session whose `promote.yaml` configures modules; outside a repository (and without
/// `--repo`) there is none, and only the built-ins, krew and one-offs are listed.
fn open(config: ConfigSource, ui: &dyn Interaction) -> Result<Option<Session>, PromoteError> {
    let warn = |why: &str| ui.warn(&format!("not listing promote.yaml's modules: {why}"));
    let workspace = match config {
        ConfigSource::Workspace(w) => w,
        ConfigSource::Unavailable(why) => {
            warn(&why);
            return Ok(None);
        }
    };
    match Session::open(&workspace, ui) {
        Ok(s) => Ok(Some(s)),
        Err(e) if workspace.repo.is_some() => Err(e),
        Err(PromoteError::Git(GitError::NotARepo { .. })) => Ok(None),
        Err(e) => {
            warn(&one_line(&e));
            Ok(None)
        }
    }
}

/// The modules `promote.yaml` configures, by kind, with who uses each.
fn configured(host: &Host, s: &Session) -> Result<Uses, PromoteError> {
    let mut uses = Uses::default();
    for env in &s.config.environments {
        for (op, refs) in [
            ("promote", &env.promote_policies),
            ("rollback", &env.rollback_policies),
        ] {
            for r in refs {
                let used = format!("{}/{op}", env.name);
                match &r.module {
                    ModuleRef::Builtin(n) => uses.builtins.entry(n.clone()).or_default().push(used),
                    ModuleRef::Krew(name) => uses.krew.push((name.clone(), r.key.clone(), used)),
                    ModuleRef::RepoPath(path) => {
                        let origin = format!("{path}@{}", s.base_name());
                        match uses.repo_rows.iter_mut().find(|x| x.origin == origin) {
                            Some(existing) => existing.used_by.push(used),
                            None => uses
                                .repo_rows
                                .push(repo_row(host, s, r, path, origin, used)?),
                        }
                    }
                }
            }
        }
    }
    Ok(uses)
}

/// A repo module at the base tip: loaded as promotions load it, and an error row when it is
/// missing, its pin does not parse, or it is not pinned.
fn repo_row(
    host: &Host,
    s: &Session,
    r: &PolicyRef,
    path: &str,
    origin: String,
    used: String,
) -> Result<ListRow, PromoteError> {
    let Some(bytes) = s.repo.read_file(s.base, path)? else {
        let error = format!("{}: no file `{path}` at {}", r.key, s.base_name());
        return Ok(ListRow::failed(origin, None, vec![used], error));
    };
    let pin = match r.sha256.as_deref().map(str::parse::<Sha256>).transpose() {
        Ok(pin) => pin,
        Err(e) => {
            let sha = Some(Sha256::of(&bytes).to_hex());
            let error = format!("{}.sha256: {e}", r.key);
            return Ok(ListRow::failed(origin, sha, vec![used], error));
        }
    };
    let sidecar = repo_sidecar(s, path)?;
    let source = ModuleSource::Bytes {
        label: origin.clone(),
        bytes,
        sha256: pin,
    };
    let mut row = row(host, &source, sidecar.as_ref(), origin, vec![used]);
    if pin.is_none() && row.error.is_none() {
        row.error = Some(format!(
            "{}: not pinned: add `sha256: {}`; promotions refuse unpinned repo modules",
            r.key,
            row.sha256.clone().unwrap_or_default()
        ));
    }
    Ok(row)
}

/// A module's row: its metadata when it loads, else why not.
fn row(
    host: &Host,
    source: &ModuleSource,
    sidecar: Option<&SidecarText>,
    origin: String,
    used_by: Vec<String>,
) -> ListRow {
    let (sha, cached) = digest_and_cached(host, source);
    let mut r = ListRow {
        name: None,
        version: None,
        abi: None,
        operations: Vec::new(),
        origin,
        sha256: sha.map(|s| s.to_hex()),
        cached,
        used_by,
        error: None,
    };
    match host.load_with_sidecar(source, sidecar) {
        Ok(p) => {
            let m = p.metadata();
            r.name = Some(m.name.clone());
            r.version = Some(m.version.clone());
            r.abi = Some(m.abi.clone());
            r.operations = m.operations.iter().map(ToString::to_string).collect();
            r.sha256 = Some(p.sha256().to_hex());
        }
        Err(e) => r.error = Some(e.to_string()),
    }
    r
}

/// Every `promote-policy-*` plugin krew installed, with the configured `krew:` modules that use
/// it; a configured one that is not installed is an error row naming the install command.
fn krew_rows(
    host: &Host,
    krew_root: Option<&Path>,
    users: Vec<(String, String, String)>,
) -> Vec<ListRow> {
    let mut rows = Vec::new();
    let installed = match krew_root.map(krew::installed) {
        Some(Ok(list)) => list,
        Some(Err(e)) => {
            rows.push(ListRow::failed(
                "krew".into(),
                None,
                Vec::new(),
                e.to_string(),
            ));
            Vec::new()
        }
        None => Vec::new(),
    };
    let mut users: Vec<(Result<KrewRef, String>, String, String)> = users
        .into_iter()
        .map(|(name, key, used)| (KrewRef::parse(&name), key, used))
        .collect();
    for found in installed {
        let i = match found {
            Ok(i) => i,
            Err(e) => {
                rows.push(ListRow::failed(
                    "krew".into(),
                    None,
                    Vec::new(),
                    e.to_string(),
                ));
                continue;
            }
        };
        let uses = |r: &Result<KrewRef, String>| r.as_ref().is_ok_and(|r| r.plugin() == i.plugin);
        let used_by = users
            .iter()
            .filter(|(r, ..)| uses(r))
            .map(|(.., used)| used.clone())
            .collect();
        users.retain(|(r, ..)| !uses(r));
        let label = i.label();
        rows.push(row(host, &ModuleSource::Krew(i), None, label, used_by));
    }
    // Configured but not installed (or not parseable).
    for (r, key, used) in users {
        let (origin, error) = match r {
            Ok(r) => {
                let error = match krew_root.map(|root| krew::find(root, &r)) {
                    Some(Err(e)) => e.to_string(),
                    _ => format!("{r}: not installed; install it: {}", r.install_command()),
                };
                (r.to_string(), error)
            }
            Err(e) => ("krew".to_owned(), e),
        };
        rows.push(ListRow::failed(
            origin,
            None,
            vec![used],
            format!("{key}: {error}"),
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::{BUILTIN_NAMES, ConfigSource, run};
    use crate::ports::{PolicyRuntime, PolicySettings};
    use crate::{Interaction, PromoteError, Workspace};

    #[derive(Default)]
    struct Warnings(RefCell<Vec<String>>);

    impl Interaction for Warnings {
        fn step(&self, _: &str) {}
        fn warn(&self, message: &str) {
            self.0.borrow_mut().push(message.to_owned());
        }
    }

    #[test]
    fn outside_a_repository_the_builtins_and_one_offs_are_listed_without_a_warning() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope.wasm");
        let runtime = PolicyRuntime::new(PolicySettings {
            one_offs: vec![missing.clone()],
            ..PolicySettings::default()
        });
        let workspace = Workspace {
            cwd: d.path().to_path_buf(),
            cache_dir: d.path().join("cache"),
            ..Workspace::default()
        };
        let ui = Warnings::default();
        let report = run(&runtime, ConfigSource::Workspace(workspace.clone()), &ui).unwrap();
        assert_eq!(report.config, None);
        let origins: Vec<&str> = report.items.iter().map(|r| r.origin.as_str()).collect();
        let n = BUILTIN_NAMES.len();
        assert_eq!(origins.len(), n + 1, "{origins:?}");
        assert_eq!(origins[0], "builtin:qa-approved");
        assert_eq!(origins[n], missing.display().to_string());
        assert!(
            report.items[..n]
                .iter()
                .all(|r| r.error.is_none() && r.sha256.is_some())
        );
        assert_eq!(report.items[n].used_by, ["--policy"]);
        assert!(report.has_errors() && ui.0.borrow().is_empty());

        // `--repo` that is not a repository is an error, not an empty list.
        let named = Workspace {
            repo: Some(d.path().display().to_string()),
            ..workspace
        };
        assert!(matches!(
            run(&runtime, ConfigSource::Workspace(named), &ui),
            Err(PromoteError::Git(_))
        ));
        // A workspace that could not be set up is said, and the rest is listed.
        let report = run(&runtime, ConfigSource::Unavailable("why".into()), &ui).unwrap();
        assert_eq!(report.items.len(), BUILTIN_NAMES.len() + 1);
        assert_eq!(
            ui.0.borrow().as_slice(),
            ["not listing promote.yaml's modules: why"]
        );
    }
}
