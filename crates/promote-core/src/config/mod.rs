//! `promote.yaml`: the raw file shape (dumb, `deny_unknown_fields`) and the validated
//! [`Config`] that the rest of the program uses. Only [`Config`] leaves this module; every error
//! names the file, the key and the fix.

use std::collections::BTreeMap;
use std::fmt;

pub use crate::forge::ForgeSettings;
use crate::yaml;

mod apps;
mod common;
mod init;
mod raw;
mod targets;
mod trust;
mod validate;
mod verify;

pub use apps::{APP_NAME_RULE, App, AppEnv, Apps, Discover, app_matches, valid_app_name};
use common::strip_file_prefix;
pub use init::{InitEnv, InitImage, InitTarget, render_init};
use raw::RawConfig;
pub use targets::{FieldKind, FieldTarget, Pins};
use validate::validate;
pub use validate::{ENV_NAME_RULE, valid_env_name};
pub use verify::{DEFAULT_EVERY, VerifySpec, Wave, parse_check};

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
    /// `waves:`: groups of environments promoted one after the other.
    pub waves: Vec<Wave>,
    /// `apps:`: many apps, each with its targets per environment.
    pub apps: Apps,
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
    /// Where its images are pinned: the overlay's directory (without trailing slash), or the
    /// YAML file whose fields [`Environment::pins`] names; repo-relative.
    pub overlay: String,
    pub pins: Pins,
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
    /// `verify:`: the checks after a deploy (empty: none).
    pub verify: VerifySpec,
    /// `trust:`: the keys that must have signed what the environment runs (empty: no check).
    pub trust: crate::supply_chain::TrustSpec,
    /// The app this environment is seen by ([`Config::for_app`]); `None` without `apps:`.
    pub app: Option<String>,
}

impl Environment {
    /// Whether the environment says where its images are: always without `apps:`; with them,
    /// only as an app that runs there sees it ([`Config::for_app`]).
    pub fn has_target(&self) -> bool {
        !self.overlay.is_empty()
    }

    /// What names a promotion's branch (`promote/SLOT/VERSION`) and pull-request label
    /// (`promote:SLOT`): the environment, and the app when promote.yaml declares apps (so two
    /// apps' promotions to one environment neither share a branch nor supersede each other).
    pub fn slot(&self) -> String {
        match &self.app {
            Some(app) => format!("{}/{app}", self.name),
            None => self.name.clone(),
        }
    }

    /// The directory Argo CD's Application is expected to deploy from: the overlay; for image
    /// fields, the Helm chart when given, else the directory of the file.
    pub fn source_dir(&self) -> String {
        match &self.pins {
            Pins::Kustomize => self.overlay.clone(),
            Pins::Fields(FieldTarget {
                chart: Some(chart), ..
            }) => chart.clone(),
            Pins::Fields(_) => self
                .overlay
                .rsplit_once('/')
                .map_or(String::new(), |(dir, _)| dir.to_owned()),
        }
    }

    /// Parse the file this environment pins its images in (`file`, as read at some commit).
    pub fn parse_pins(
        &self,
        file: &str,
        text: &str,
    ) -> Result<crate::overlay::Overlay, crate::overlay::OverlayError> {
        match &self.pins {
            Pins::Kustomize => crate::overlay::Overlay::parse(file, text),
            Pins::Fields(t) => crate::overlay::Overlay::parse_fields(file, text, &t.images),
        }
    }
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
        let raw: RawConfig = yaml::from_str(file, text).map_err(|e| {
            let problem = strip_file_prefix(&e.to_string(), file);
            // serde says only that no shape matched: say which two shapes there are.
            match problem.split_once("data did not match any variant of untagged enum RawApps") {
                Some((at, _)) => ConfigError {
                    file: file.to_owned(),
                    key: "apps".into(),
                    problem: format!(
                        "{}neither a list of apps nor a discover pattern",
                        at.trim_start_matches("error: ")
                    ),
                    fix: "write `apps: [{name: cart, environments: {prod: {overlay: apps/cart/overlays/prod, argocd: {app: cart-prod}}}}]` (each app: name and environments; each environment: overlay or targets, and argocd) or `apps: {discover: \"apps/*/overlays/{env}\", argocd: {app: \"{app}-{env}\"}}`".into(),
                },
                None => ConfigError {
                    file: file.to_owned(),
                    key: "(document)".into(),
                    problem,
                    fix: "see the promote.yaml reference in the README; unknown keys are refused so that typos do not pass silently".into(),
                },
            }
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

    /// The wave named `name`, if promote.yaml declares one.
    pub fn wave(&self, name: &str) -> Option<&Wave> {
        self.waves.iter().find(|w| w.name == name)
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
    fn apps_are_listed_or_discovered_and_scope_the_environments() {
        let c = parse("environments:\n  - {name: staging, mode: direct}\n  - {name: prod, from: staging, protected: true}\napps:\n  - name: cart\n    environments:\n      staging: {overlay: apps/cart/overlays/staging, argocd: {app: cart-staging}}\n      prod: {overlay: apps/cart/overlays/prod/}\n  - name: shop\n    environments:\n      prod: {targets: [{helmValues: {file: charts/shop/values-prod.yaml, chart: charts/shop, images: {shop: {image: ghcr.io/acme/shop, tag: image.tag}}}}]}\n").unwrap();
        assert!(c.has_apps());
        assert_eq!(c.apps().len(), 2);
        let cart = c.for_app("cart").unwrap();
        let staging = cart.env("staging").unwrap();
        assert_eq!(staging.overlay, "apps/cart/overlays/staging");
        assert_eq!(staging.app.as_deref(), Some("cart"));
        assert_eq!(staging.mode, Mode::Direct);
        assert_eq!(staging.argocd.as_ref().unwrap().app, "cart-staging");
        assert!(cart.env("prod").unwrap().protected);
        let shop = c.for_app("shop").unwrap();
        assert_eq!(
            shop.env("prod").unwrap().overlay,
            "charts/shop/values-prod.yaml"
        );
        // shop does not run in staging: no target there.
        assert_eq!(shop.env("staging").unwrap().overlay, "");
        let all: Vec<&str> = c
            .select_apps(&[])
            .unwrap()
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(all, ["cart", "shop"]);
        let some = c.select_apps(&["s*".into()]).unwrap();
        assert_eq!(some[0].name, "shop");
        let e = c.select_apps(&["nope".into()]).unwrap_err();
        assert!(
            e.problem.contains("--app nope") && e.fix.contains("cart, shop"),
            "{e}"
        );
        assert!(c.for_app("nope").unwrap_err().fix.contains("cart, shop"));

        let d = parse("environments: [{name: staging}, {name: prod}]\napps: {discover: \"apps/*/overlays/{env}\", argocd: {app: \"{app}-{env}\"}}\n").unwrap();
        let Apps::Discover(pattern) = &d.apps else {
            panic!("{:?}", d.apps)
        };
        assert_eq!(
            pattern.app_env("cart", "prod").argocd.unwrap().namespace,
            "argocd"
        );
    }

    #[test]
    fn apps_errors_name_the_key() {
        let err = |body: &str| parse(body).unwrap_err();
        let e = err(
            "environments: [{name: prod, overlay: k/prod}]\napps: [{name: cart, environments: {prod: {overlay: a/prod}}}]\n",
        );
        assert_eq!(e.key, "environments[0].overlay");
        let e = err(
            "environments: [{name: prod}]\napps: [{name: cart, environments: {qa: {overlay: a/qa}}}]\n",
        );
        assert_eq!(e.key, "apps[0].environments.qa");
        assert!(e.fix.contains("prod"), "{e}");
        let e =
            err("environments: [{name: prod}]\napps: [{name: cart, environments: {prod: {}}}]\n");
        assert_eq!(e.key, "apps[0].environments.prod.overlay");
        let e = err(
            "environments: [{name: prod}]\napps: [{name: cart, environments: {prod: {overlay: a}}}, {name: cart, environments: {prod: {overlay: b}}}]\n",
        );
        assert_eq!(e.key, "apps[1].name");
        let e = err(
            "environments: [{name: prod}]\napps: [{name: \"a/b\", environments: {prod: {overlay: a}}}]\n",
        );
        assert_eq!(e.key, "apps[0].name");
        let e = err(
            "environments: [{name: prod}]\napps: [{name: cart, environments: {prod: {overlai: a}}}]\n",
        );
        assert_eq!(e.key, "apps");
        assert!(
            e.problem.starts_with("line 4 column 7: neither") && e.fix.contains("discover"),
            "{e}"
        );
        let e = err("environments: [{name: prod}]\napps: {discover: \"apps/overlays/{env}\"}\n");
        assert_eq!(e.key, "apps.discover");
        let e = err("environments: [{name: prod}]\napps: {discover: \"apps/x*/{env}\"}\n");
        assert_eq!(e.key, "apps.discover");
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
    fn targets_name_image_fields_and_errors_name_their_key() {
        let c = parse("environments:\n  - name: staging\n    targets: [{kustomize: {dir: k/staging/}}]\n  - name: prod\n    targets:\n      - helmValues:\n          file: charts/shop/values-prod.yaml\n          chart: charts/shop\n          images:\n            cart: {repository: cart.image.repository, tag: cart.image.tag, digest: cart.image.digest}\n            checkout: {image: ghcr.io/acme/checkout, tag: checkout.tag}\n  - name: eu\n    targets: [{yaml: {file: clusters/eu/release.yaml, field: spec.values.image.tag, image: ghcr.io/acme/cart}}]\n  - name: us\n    targets: [{argocdHelm: {application: argocd/us.yaml, parameter: image.tag, image: ghcr.io/acme/cart}}]\n").unwrap();
        let staging = c.env("staging").unwrap();
        assert_eq!(
            (staging.overlay.as_str(), &staging.pins),
            ("k/staging", &Pins::Kustomize)
        );
        let prod = c.env("prod").unwrap();
        assert_eq!(prod.overlay, "charts/shop/values-prod.yaml");
        let Pins::Fields(t) = &prod.pins else {
            panic!("{:?}", prod.pins)
        };
        assert_eq!(
            (t.kind, t.chart.as_deref(), t.images.len()),
            (FieldKind::HelmValues, Some("charts/shop"), 2)
        );
        let Pins::Fields(t) = &c.env("us").unwrap().pins else {
            panic!()
        };
        assert_eq!(
            t.images[0].tag.as_str(),
            "spec.source.helm.parameters[name=image.tag].value"
        );
        assert_eq!(t.images[0].name, "ghcr.io/acme/cart");
        for (body, key, says) in [
            (
                "{name: a, overlay: k, targets: [{kustomize: {dir: k}}]}",
                "environments[0].targets",
                "both",
            ),
            ("{name: a}", "environments[0].overlay", "nowhere"),
            (
                "{name: a, targets: [{kustomize: {dir: k}}, {kustomize: {dir: l}}]}",
                "environments[0].targets",
                "2 targets",
            ),
            (
                "{name: a, targets: [{}]}",
                "environments[0].targets[0]",
                "exactly one kind",
            ),
            (
                "{name: a, targets: [{yaml: {file: r.json, field: a, image: i}}]}",
                "environments[0].targets[0].yaml.file",
                "not a YAML file",
            ),
            (
                "{name: a, targets: [{yaml: {file: ../r.yaml, field: a, image: i}}]}",
                "environments[0].targets[0].yaml.file",
                "not a path inside",
            ),
            (
                "{name: a, targets: [{yaml: {file: r.yaml, field: 'a..b', image: i}}]}",
                "environments[0].targets[0].yaml.field",
                "empty key",
            ),
            (
                "{name: a, targets: [{helmValues: {file: v.yaml, images: {cart: {tag: t}}}}]}",
                "environments[0].targets[0].helmValues.images.cart.repository",
                "exactly one of",
            ),
            (
                "{name: a, targets: [{helmValues: {file: v.yaml, images: {}}}]}",
                "environments[0].targets[0].helmValues.images",
                "no images",
            ),
        ] {
            let e = parse(&format!("environments:\n  - {body}\n")).unwrap_err();
            assert_eq!(e.key, key, "{body}: {e}");
            assert!(e.problem.contains(says), "{body}: {e}");
        }
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
                    target: InitTarget::Kustomize,
                    from: None,
                    argocd: Some(("s".into(), "argocd".into())),
                },
                InitEnv {
                    name: "prod".into(),
                    overlay: "charts/shop/values-prod.yaml".into(),
                    target: InitTarget::HelmValues {
                        chart: Some("charts/shop".into()),
                        images: vec![InitImage {
                            name: "cart".into(),
                            repository: "cart.image.repository".into(),
                            tag: "cart.image.tag".into(),
                        }],
                    },
                    from: Some("staging".into()),
                    argocd: None,
                },
                InitEnv {
                    name: "us".into(),
                    overlay: "argocd/us-shop.yaml".into(),
                    target: InitTarget::ArgocdHelm {
                        parameter: "image.tag".into(),
                        image: "ghcr.io/acme/cart".into(),
                    },
                    from: Some("prod".into()),
                    argocd: None,
                },
            ],
            "main",
        );
        let c = Config::parse("promote.yaml", &text).unwrap();
        assert_eq!(c.environments.len(), 3, "{text}");
        assert!(c.env("prod").unwrap().protected);
        assert_eq!(
            c.env("prod").unwrap().overlay,
            "charts/shop/values-prod.yaml"
        );
        assert_eq!(c.env("us").unwrap().overlay, "argocd/us-shop.yaml");
    }
}
