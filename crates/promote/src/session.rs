//! Opening the GitOps repository for one command: find or clone it, fetch the remote, and read
//! `promote.yaml` from the remote tip of the base branch (never from the working tree).

use std::path::{Path, PathBuf};

use promote_core::config::{self, App, Apps, Config, Environment, Pins};
use promote_core::overlay::{KUSTOMIZATION_FILES, Overlay};
use promote_git::{CommitId, Repo};

use crate::{Interaction, PromoteError};

/// Where the GitOps repository is and how to open it; filled from flags and the environment by
/// the binary.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// `--repo PATH|URL`; `None` = the repository around `cwd`.
    pub repo: Option<String>,
    pub cwd: PathBuf,
    /// `~/.cache/kubectl-promote` (clones of `--repo URL`, checked approval signatures).
    pub cache_dir: PathBuf,
    /// `--no-cache`: results are neither read from nor kept in `cache_dir` (the clones of
    /// `--repo URL` still live there).
    pub no_cache: bool,
    /// `--config FILE`: (file name, text). Shown in plans and recorded in a trailer.
    pub config_override: Option<(String, String)>,
    /// A person at a terminal (git may prompt for credentials).
    pub interactive: bool,
    /// `--app NAME`: every command sees promote.yaml as this app does ([`Config::for_app`]).
    pub app: Option<String>,
}

/// How far back a walk of an overlay's history goes (`status`, the plan's last change, the
/// policy facts, a revert's lookup) before it gives up.
pub const MAX_WALK: usize = 100_000;

/// An opened repository with its configuration, as of the fetched remote tip: a plain snapshot
/// that use cases read, owning nothing but the repository handle.
#[derive(Debug)]
pub struct Session {
    pub repo: Repo,
    pub config: Config,
    pub remote: String,
    pub base_branch: String,
    /// The remote tip of the base branch that everything is read from.
    pub base: CommitId,
    /// Set when `--config` replaced the remote's `promote.yaml`.
    pub config_override: Option<String>,
    /// Where results that cannot change are kept (checked signatures); `None` = `--no-cache`.
    pub cache_dir: Option<PathBuf>,
}

fn looks_like_url(s: &str) -> bool {
    s.contains("://")
        || (s.contains('@') && s.contains(':') && !Path::new(s).exists())
        || s.starts_with("file:")
}

impl Session {
    pub fn open(opts: &Workspace, progress: &dyn Interaction) -> Result<Session, PromoteError> {
        Self::open_inner(opts, progress, true)
    }

    /// The session as of the last fetch: the same as [`Session::open`] without fetching (the
    /// remote-tracking refs as they are). Only for guesses that are checked against a real
    /// session later ([`crate::promote::speculate`]); `None` for `--repo URL` clones.
    pub fn open_at_last_fetch(opts: &Workspace) -> Option<Session> {
        if opts.repo.as_deref().is_some_and(looks_like_url) {
            return None;
        }
        Self::open_inner(opts, &crate::Quiet, false).ok()
    }

    fn open_inner(
        opts: &Workspace,
        progress: &dyn Interaction,
        fetch: bool,
    ) -> Result<Session, PromoteError> {
        let mut repo = match &opts.repo {
            Some(url) if looks_like_url(url) => {
                progress.step(&format!("using a cached clone of {url}"));
                Repo::cached_clone(url, &opts.cache_dir)?
            }
            Some(path) => Repo::discover(&opts.cwd.join(path))?,
            None => Repo::discover(&opts.cwd)?,
        };
        repo.set_interactive(opts.interactive);
        // The remote and base branch come from promote.yaml, which lives on the remote: start
        // from `origin` and its default branch, then follow what the file says.
        let (override_label, override_text) = match &opts.config_override {
            Some((label, text)) => (Some(label.clone()), Some(text.clone())),
            None => (None, None),
        };
        let mut remote = "origin".to_owned();
        let mut branch: Option<String> = None;
        if let Some(text) = &override_text {
            let cfg = Config::parse(override_label.as_deref().unwrap_or("--config"), text)?;
            remote = cfg.git.remote.clone();
            branch = Some(cfg.git.base_branch.clone());
        }
        if fetch {
            progress.step(&format!("fetching {remote}"));
            repo.fetch(&remote)?;
        }
        let branch = match branch {
            Some(b) => b,
            None => default_branch(&repo, &remote)?,
        };
        let mut base = repo.remote_tip(&remote, &branch)?.ok_or_else(|| {
            PromoteError::Git(promote_git::GitError::NoBranch {
                remote: remote.clone(),
                branch: branch.clone(),
            })
        })?;
        let config = match &override_text {
            Some(text) => Config::parse(override_label.as_deref().unwrap_or("--config"), text)?,
            None => {
                let cfg = read_config(&repo, &remote, &branch, base)?;
                if cfg.git.remote != remote || cfg.git.base_branch != branch {
                    // The file names another remote or branch: that one is the truth.
                    let (r, b) = (cfg.git.remote.clone(), cfg.git.base_branch.clone());
                    if r != remote && fetch {
                        repo.fetch(&r)?;
                    }
                    base = repo.remote_tip(&r, &b)?.ok_or_else(|| {
                        PromoteError::Git(promote_git::GitError::NoBranch {
                            remote: r.clone(),
                            branch: b.clone(),
                        })
                    })?;
                    remote = r;
                    read_config(&repo, &remote, &b, base)?
                } else {
                    cfg
                }
            }
        };
        let config = discover_apps(&repo, base, config)?;
        let config = match &opts.app {
            Some(app) => config.for_app(app)?,
            None => config,
        };
        let base_branch = config.git.base_branch.clone();
        Ok(Session {
            repo,
            config,
            remote,
            base_branch,
            base,
            config_override: override_label,
            cache_dir: (!opts.no_cache).then(|| opts.cache_dir.clone()),
        })
    }

    /// A commit named by someone else (Argo CD), fetching the remote once when it is not here
    /// yet.
    pub fn resolve_fetching(&self, sha: &str) -> Option<CommitId> {
        if let Ok(c) = self.repo.resolve(sha) {
            return Some(c);
        }
        self.repo.fetch(&self.remote).ok()?;
        self.repo.resolve(sha).ok()
    }

    /// `origin/main`-style name of the base tip, for messages.
    pub fn base_name(&self) -> String {
        format!("{}/{}", self.remote, self.base_branch)
    }

    /// Find and parse the file ENV pins its images in (its kustomization, or the YAML file of
    /// its image fields) at `at`.
    pub fn overlay_at(&self, env: &Environment, at: CommitId) -> Result<Overlay, PromoteError> {
        self.has_target(env)?;
        let (file, text) = self
            .pins_at(env, at)?
            .ok_or_else(|| PromoteError::MissingOverlay {
                env: env.name.clone(),
                dir: env.overlay.clone(),
                at: self.base_name(),
            })?;
        Ok(env.parse_pins(&file, &text)?)
    }

    /// With `apps:`, an environment has a target only as an app sees it, and only where the app
    /// runs: say which app to name otherwise.
    pub fn has_target(&self, env: &Environment) -> Result<(), PromoteError> {
        if env.has_target() {
            return Ok(());
        }
        Err(PromoteError::NoTarget {
            env: env.name.clone(),
            app: env.app.clone(),
            apps: self
                .config
                .apps()
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The configuration as app `name` sees it ([`Config::for_app`]), for a use case that
    /// goes through several apps in one session.
    pub fn scope_to_app(&mut self, unscoped: &Config, name: &str) -> Result<(), PromoteError> {
        self.config = unscoped.for_app(name)?;
        Ok(())
    }

    /// The file ENV pins its images in at `at`: (path, text), or `None` when it is not there.
    pub fn pins_at(
        &self,
        env: &Environment,
        at: CommitId,
    ) -> Result<Option<(String, String)>, PromoteError> {
        self.has_target(env)?;
        match env.pins {
            Pins::Kustomize => self.kustomization_at(&env.overlay, at),
            Pins::Fields(_) => match self.repo.read_file(at, &env.overlay)? {
                Some(bytes) => String::from_utf8(bytes)
                    .map(|text| Some((env.overlay.clone(), text)))
                    .map_err(|_| PromoteError::NotUtf8 {
                        path: env.overlay.clone(),
                    }),
                None => Ok(None),
            },
        }
    }

    /// The kustomization file in `dir` at `at`: (path, text), trying Kustomize's three names.
    pub fn kustomization_at(
        &self,
        dir: &str,
        at: CommitId,
    ) -> Result<Option<(String, String)>, PromoteError> {
        match kustomization_in(&self.repo, dir, at)? {
            Some((path, bytes)) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| PromoteError::NotUtf8 { path: path.clone() })?;
                Ok(Some((path, text)))
            }
            None => Ok(None),
        }
    }

    /// Check that every environment's overlay exists and has `images:` (a config error otherwise).
    pub fn check_overlays(&self) -> Result<(), PromoteError> {
        for (i, env) in self.config.environments.iter().enumerate() {
            if !env.has_target() {
                continue;
            }
            match self.pins_at(env, self.base)? {
                None if env.pins != Pins::Kustomize => {
                    return Err(self
                        .config
                        .error(format!("environments[{i}].targets"), format!("no `{}` at {}", env.overlay, self.base_name()), "point the target at the YAML file that holds the environment's image fields")
                        .into());
                }
                None => {
                    return Err(self
                        .config
                        .error(format!("environments[{i}].overlay"), format!("no kustomization.yaml in `{}` at {}", env.overlay, self.base_name()), "point `overlay` at the directory that holds the environment's kustomization.yaml")
                        .into());
                }
                Some((file, text)) => {
                    let o = env.parse_pins(&file, &text)?;
                    if !o.has_images() {
                        return Err(self
                            .config
                            .error(format!("environments[{i}].overlay"), format!("{file} has no `images:` list, so there is nothing to promote"), "add `images:` entries (name + newTag) for the images this environment runs")
                            .into());
                    }
                }
            }
        }
        Ok(())
    }

    /// Images set in the kustomizations ENV's overlay builds on, for "edit it there" hints.
    pub fn images_elsewhere(&self, overlay_dir: &str, at: CommitId) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        let mut queue = vec![(overlay_dir.to_owned(), 0)];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((dir, depth)) = queue.pop() {
            if depth > 16 || !seen.insert(dir.clone()) {
                continue;
            }
            let Ok(Some((file, text))) = self.kustomization_at(&dir, at) else {
                continue;
            };
            let Ok(o) = Overlay::parse(&file, &text) else {
                continue;
            };
            if depth > 0 {
                let names: Vec<String> = o.image_map().into_keys().collect();
                if !names.is_empty() {
                    out.push((file.clone(), names));
                }
            }
            for r in o.local_refs() {
                queue.push((normalize(&format!("{dir}/{r}")), depth + 1));
            }
        }
        out
    }
}

/// The kustomization file in `dir` at `at` (Kustomize's three names, in its order): its repo
/// path and bytes.
pub(crate) fn kustomization_in(
    repo: &Repo,
    dir: &str,
    at: CommitId,
) -> Result<Option<(String, Vec<u8>)>, promote_git::GitError> {
    for name in KUSTOMIZATION_FILES {
        let path = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        if let Some(bytes) = repo.read_file(at, &path)? {
            return Ok(Some((path, bytes)));
        }
    }
    Ok(None)
}

/// Resolve `a/b/../c` → `a/c` (repo paths only; never escapes the root).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn default_branch(repo: &Repo, remote: &str) -> Result<String, PromoteError> {
    for b in ["main", "master"] {
        if repo.remote_tip(remote, b)?.is_some() {
            return Ok(b.to_owned());
        }
    }
    Err(PromoteError::Git(promote_git::GitError::NoBranch {
        remote: remote.to_owned(),
        branch: "main".into(),
    }))
}

fn read_config(
    repo: &Repo,
    remote: &str,
    branch: &str,
    at: CommitId,
) -> Result<Config, PromoteError> {
    let label = format!("{} ({remote}/{branch} {})", config::FILE_NAME, at.short());
    let bytes = repo
        .read_file(at, config::FILE_NAME)?
        .ok_or_else(|| PromoteError::NoConfig {
            at: format!("{remote}/{branch}"),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| PromoteError::NotUtf8 {
        path: config::FILE_NAME.into(),
    })?;
    Ok(Config::parse(&label, &text)?)
}

/// `apps: {discover: PATTERN}`: the apps are the directories the pattern matches at the base
/// tip that hold a kustomization, per environment. A directory whose name is not a valid app
/// name is passed over (it could not be named on the command line or in a trailer).
fn discover_apps(repo: &Repo, base: CommitId, config: Config) -> Result<Config, PromoteError> {
    let Apps::Discover(pattern) = &config.apps else {
        return Ok(config);
    };
    let mut found: std::collections::BTreeMap<String, App> = Default::default();
    for env in &config.environments {
        let (dir, _) = pattern.split(&env.name);
        for (name, is_dir) in repo.list_dir(base, &dir)? {
            if !is_dir || !config::valid_app_name(&name) {
                continue;
            }
            let app_env = pattern.app_env(&name, &env.name);
            if kustomization_in(repo, &app_env.overlay, base)?.is_none() {
                continue;
            }
            found
                .entry(name.clone())
                .or_insert_with(|| App {
                    name,
                    environments: Default::default(),
                })
                .environments
                .insert(env.name.clone(), app_env);
        }
    }
    Ok(config.discovered(found.into_values().collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalize_paths() {
        assert_eq!(super::normalize("kustomize/prod/../base"), "kustomize/base");
        assert_eq!(super::normalize("./a//b/."), "a/b");
    }
}
