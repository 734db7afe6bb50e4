//! `apps:`: many apps side by side in one GitOps repository (`apps/<app>/overlays/<env>`), each
//! with its own target and Argo CD Application per environment. The environments stay the one
//! place for everything else (mode, `from`, policies, approvals, trust, checks): an app's view of
//! the configuration ([`Config::for_app`]) is the environments with the app's targets put in.

use std::collections::{BTreeMap, BTreeSet};

use super::common::{problem, repo_path};
use super::raw::{RawApp, RawApps, RawDiscover};
use super::targets::Pins;
use super::{ArgoTarget, Config, ConfigError, Environment};

/// The apps of `promote.yaml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Apps {
    /// No `apps:`: each environment says where its images are.
    #[default]
    None,
    /// Listed, or found in the repository by a [`Discover`] pattern.
    Listed(Vec<App>),
    /// A pattern, resolved against the base tip by the session ([`Config::discovered`]).
    Discover(Discover),
}

/// One app: where it pins its images in each environment it runs in.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub name: String,
    pub environments: BTreeMap<String, AppEnv>,
}

/// One app in one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct AppEnv {
    /// As [`Environment::overlay`]: the overlay directory or the file of the image fields.
    pub overlay: String,
    pub pins: Pins,
    pub argocd: Option<ArgoTarget>,
}

/// `apps: {discover: "apps/*/overlays/{env}", argocd: {app: "{app}-{env}"}}`: every directory
/// the pattern matches (with `*` an app's name) holding a kustomization is that app's overlay.
#[derive(Debug, Clone, PartialEq)]
pub struct Discover {
    pub pattern: String,
    /// The Application of each app in each environment, `{app}` and `{env}` filled in.
    pub argocd: Option<ArgoTarget>,
}

/// The rule app names follow (they appear in branch names, trailers and `--app`).
pub const APP_NAME_RULE: &str =
    "letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most 63 characters";

/// Is `name` a valid app name ([`APP_NAME_RULE`])?
pub fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

impl Discover {
    /// For ENV: the directory to list (the part of the pattern before `*`) and the path below
    /// each entry that must be the overlay (after `*`, `{env}` filled in).
    pub fn split(&self, env: &str) -> (String, String) {
        let filled = self.pattern.replace("{env}", env);
        let (before, after) = filled.split_once('*').unwrap_or((&filled, ""));
        (
            before.trim_end_matches('/').to_owned(),
            after.trim_start_matches('/').to_owned(),
        )
    }

    /// App `app` found in ENV's directory: its overlay and its Application.
    pub fn app_env(&self, app: &str, env: &str) -> AppEnv {
        let (dir, rest) = self.split(env);
        let overlay = [dir.as_str(), app, rest.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        let fill = |s: &str| s.replace("{app}", app).replace("{env}", env);
        AppEnv {
            overlay,
            pins: Pins::Kustomize,
            argocd: self.argocd.as_ref().map(|a| ArgoTarget {
                app: fill(&a.app),
                namespace: fill(&a.namespace),
                context: a.context.as_deref().map(fill),
                server: a.server.as_deref().map(fill),
            }),
        }
    }
}

/// Does `name` match the `--app` pattern `pattern` (`*` any run of characters, `?` one)?
pub fn app_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    go(&p, &n)
}

impl Config {
    /// Does `promote.yaml` declare apps?
    pub fn has_apps(&self) -> bool {
        !matches!(self.apps, Apps::None)
    }

    /// The apps, listed or discovered (empty before discovery and without `apps:`).
    pub fn apps(&self) -> &[App] {
        match &self.apps {
            Apps::Listed(apps) => apps,
            Apps::None | Apps::Discover(_) => &[],
        }
    }

    /// The configuration with the apps a [`Discover`] pattern found (sorted by name).
    pub fn discovered(mut self, mut found: Vec<App>) -> Config {
        found.sort_by(|a, b| a.name.cmp(&b.name));
        self.apps = Apps::Listed(found);
        self
    }

    /// The apps `patterns` select (`--app cart,'shop-*'`; empty: every app), in declaration
    /// order. A pattern that selects nothing is an error naming the apps there are.
    pub fn select_apps(&self, patterns: &[String]) -> Result<Vec<&App>, ConfigError> {
        let apps = self.apps();
        if !self.has_apps() {
            return Err(problem(
                &self.file,
                "apps",
                "`--app`/`--all-apps` select apps, and promote.yaml declares none",
                "declare them: `apps: [{name: cart, environments: {prod: {overlay: apps/cart/overlays/prod}}}]` or `apps: {discover: \"apps/*/overlays/{env}\"}`; or drop the flag",
            ));
        }
        for p in patterns {
            if !apps.iter().any(|a| app_matches(p, &a.name)) {
                return Err(problem(
                    &self.file,
                    "apps",
                    format!("--app {p}: no app matches"),
                    format!("use one of: {}", names(apps)),
                ));
            }
        }
        Ok(apps
            .iter()
            .filter(|a| patterns.is_empty() || patterns.iter().any(|p| app_matches(p, &a.name)))
            .collect())
    }

    /// The configuration as app `name` sees it: each environment with the app's target and
    /// Application in place of its own, and marked with the app. An environment the app does
    /// not run in keeps no target (reading it is an error that says so).
    pub fn for_app(&self, name: &str) -> Result<Config, ConfigError> {
        let app = self.apps().iter().find(|a| a.name == name).ok_or_else(|| {
            problem(
                &self.file,
                "apps",
                format!("no app named `{name}`"),
                if self.has_apps() {
                    format!("use one of: {}", names(self.apps()))
                } else {
                    "promote.yaml declares no apps: drop `--app`".to_owned()
                },
            )
        })?;
        let mut scoped = self.clone();
        for env in &mut scoped.environments {
            scope(env, app);
        }
        Ok(scoped)
    }
}

/// Put `app`'s target for `env` in place of the environment's own.
fn scope(env: &mut Environment, app: &App) {
    env.app = Some(app.name.clone());
    match app.environments.get(&env.name) {
        Some(a) => {
            env.overlay = a.overlay.clone();
            env.pins = a.pins.clone();
            env.argocd = a.argocd.clone();
        }
        None => {
            env.overlay = String::new();
            env.pins = Pins::Kustomize;
            env.argocd = None;
        }
    }
}

fn names(apps: &[App]) -> String {
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    if names.is_empty() {
        "(none found)".to_owned()
    } else {
        names.join(", ")
    }
}

/// `apps:`, checked against the environments' names.
pub(super) fn apps(
    file: &str,
    raw: Option<RawApps>,
    envs: &BTreeSet<String>,
) -> Result<Apps, ConfigError> {
    match raw {
        None => Ok(Apps::None),
        Some(RawApps::Discover(d)) => discover(file, d),
        Some(RawApps::Listed(list)) => {
            if list.is_empty() {
                return Err(problem(
                    file,
                    "apps",
                    "an empty list",
                    "list at least one app, or remove `apps`",
                ));
            }
            let mut seen = BTreeSet::new();
            let apps = list
                .into_iter()
                .enumerate()
                .map(|(i, a)| app(file, i, a, envs, &mut seen))
                .collect::<Result<_, _>>()?;
            Ok(Apps::Listed(apps))
        }
    }
}

fn app(
    file: &str,
    i: usize,
    a: RawApp,
    envs: &BTreeSet<String>,
    seen: &mut BTreeSet<String>,
) -> Result<App, ConfigError> {
    let key = |k: &str| format!("apps[{i}].{k}");
    if !valid_app_name(&a.name) {
        return Err(problem(
            file,
            key("name"),
            format!("`{}` is not a valid app name", a.name),
            format!("use {APP_NAME_RULE}"),
        ));
    }
    if !seen.insert(a.name.clone()) {
        return Err(problem(
            file,
            key("name"),
            format!("app `{}` is listed twice", a.name),
            "keep one entry per app",
        ));
    }
    if a.environments.is_empty() {
        return Err(problem(
            file,
            key("environments"),
            "the app runs in no environment",
            "add one: `environments: {staging: {overlay: apps/NAME/overlays/staging}}`",
        ));
    }
    let mut environments = BTreeMap::new();
    for (env, e) in a.environments {
        let key = |k: &str| key(&format!("environments.{env}.{k}"));
        if !envs.contains(&env) {
            return Err(problem(
                file,
                key("").trim_end_matches('.').to_owned(),
                format!("`{env}` is not an environment of `environments:`"),
                format!(
                    "use one of: {} (an app's environments take their settings from there)",
                    envs.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let (overlay, pins) = super::targets::pins(file, &key, e.overlay, e.targets)?;
        environments.insert(
            env,
            AppEnv {
                overlay,
                pins,
                argocd: e.argocd.map(super::common::argo_target),
            },
        );
    }
    Ok(App {
        name: a.name,
        environments,
    })
}

fn discover(file: &str, d: RawDiscover) -> Result<Apps, ConfigError> {
    let fix = "write the overlays' path with `*` for the app's directory and `{env}` for the environment's, e.g. `apps/*/overlays/{env}`";
    let pattern = repo_path(file, "apps.discover", d.discover.trim_end_matches('/'), fix)?;
    let parts: Vec<&str> = pattern.split('/').collect();
    let count = |p: &str| parts.iter().filter(|x| **x == p).count();
    let stray = parts
        .iter()
        .any(|p| (p.contains('*') && *p != "*") || (p.contains("{env}") && *p != "{env}"));
    if count("*") != 1 || count("{env}") != 1 || stray {
        return Err(problem(
            file,
            "apps.discover",
            format!(
                "`{pattern}` needs exactly one `*` and one `{{env}}`, each a whole path segment"
            ),
            fix,
        ));
    }
    Ok(Apps::Discover(Discover {
        pattern,
        argocd: d.argocd.map(super::common::argo_target),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names() {
        assert!(app_matches("shop-*", "shop-cart"));
        assert!(app_matches("*", "cart"));
        assert!(app_matches("c?rt", "cart"));
        assert!(!app_matches("shop-*", "cart"));
        assert!(!app_matches("cart", "cart2"));
        assert!(app_matches("*-api", "orders-api"));
    }

    #[test]
    fn discover_splits_around_the_app() {
        let d = Discover {
            pattern: "apps/*/overlays/{env}".into(),
            argocd: Some(ArgoTarget {
                app: "{app}-{env}".into(),
                namespace: "argocd".into(),
                context: None,
                server: None,
            }),
        };
        assert_eq!(
            d.split("prod"),
            ("apps".to_owned(), "overlays/prod".to_owned())
        );
        let e = d.app_env("cart", "prod");
        assert_eq!(e.overlay, "apps/cart/overlays/prod");
        assert_eq!(e.argocd.unwrap().app, "cart-prod");
        let d = Discover {
            pattern: "clusters/{env}/*".into(),
            argocd: None,
        };
        assert_eq!(d.app_env("cart", "eu").overlay, "clusters/eu/cart");
    }

    #[test]
    fn app_names() {
        assert!(valid_app_name("cart"));
        assert!(valid_app_name("shop_v2.api"));
        assert!(!valid_app_name("-cart"));
        assert!(!valid_app_name("a/b"));
        assert!(!valid_app_name(""));
    }
}
