//! The raw shape of `promote.yaml`: dumb, `deny_unknown_fields`; only `validate` reads it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ForgeSettings;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawConfig {
    pub(super) api_version: Option<String>,
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) git: RawGit,
    pub(super) forge: Option<ForgeSettings>,
    #[serde(default)]
    pub(super) approvers: BTreeMap<String, Vec<String>>,
    pub(super) approver_keys: Option<RawApproverKeys>,
    #[serde(default)]
    pub(super) environments: Vec<RawEnv>,
    #[serde(default)]
    pub(super) waves: Vec<RawWave>,
    pub(super) apps: Option<RawApps>,
}

/// `apps:`: a list of apps, or a pattern that finds them in the repository.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawApps {
    Listed(Vec<RawApp>),
    Discover(RawDiscover),
}

/// `apps: [{name: cart, environments: {staging: {overlay: …}, prod: {targets: […]}}}]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    pub(super) name: String,
    pub(super) environments: BTreeMap<String, RawAppEnv>,
}

/// Where one app pins its images in one environment, and its Argo CD Application there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAppEnv {
    pub(super) overlay: Option<String>,
    pub(super) targets: Option<Vec<RawTarget>>,
    pub(super) argocd: Option<RawArgo>,
}

/// `apps: {discover: "apps/*/overlays/{env}", argocd: {app: "{app}-{env}"}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscover {
    pub(super) discover: String,
    pub(super) argocd: Option<RawArgo>,
}

/// `waves: [{name: prod, environments: [prod-eu, prod-us]}]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWave {
    pub(super) name: String,
    pub(super) environments: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApproverKeys {
    pub(super) ssh: Option<String>,
    pub(super) gpg: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawGit {
    pub(super) remote: Option<String>,
    pub(super) base_branch: Option<String>,
    pub(super) mode: Option<String>,
    pub(super) approvals_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawEnv {
    pub(super) name: String,
    pub(super) overlay: Option<String>,
    pub(super) targets: Option<Vec<RawTarget>>,
    pub(super) from: Option<String>,
    pub(super) mode: Option<String>,
    #[serde(default)]
    pub(super) protected: bool,
    #[serde(default)]
    pub(super) reviewers: Vec<String>,
    #[serde(default)]
    pub(super) labels: Vec<String>,
    #[serde(default)]
    pub(super) allow_override: bool,
    #[serde(default)]
    pub(super) stable: bool,
    pub(super) argocd: Option<RawArgo>,
    #[serde(default)]
    pub(super) policies: RawPolicies,
    pub(super) verify: Option<RawVerify>,
    pub(super) trust: Option<RawTrust>,
}

/// `trust:` of an environment: who must have signed what it runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrust {
    #[serde(default)]
    pub(super) signatures: Vec<RawSigner>,
    #[serde(default)]
    pub(super) attestations: Vec<String>,
}

/// One trusted signer: `key: PATH` or `keyless: {issuer, subject, trustedRoot}` (see `trust.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigner {
    pub(super) key: Option<String>,
    pub(super) keyless: Option<RawKeyless>,
}

/// `keyless:` of a signer: the OIDC identity and the Sigstore trusted root it chains to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawKeyless {
    pub(super) issuer: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) trusted_root: Option<String>,
}

/// One entry of `targets:`: exactly one kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawTarget {
    pub(super) kustomize: Option<RawKustomize>,
    pub(super) helm_values: Option<RawHelmValues>,
    pub(super) yaml: Option<RawYamlTarget>,
    pub(super) argocd_helm: Option<RawArgocdHelm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKustomize {
    pub(super) dir: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHelmValues {
    pub(super) file: String,
    pub(super) chart: Option<String>,
    pub(super) images: BTreeMap<String, RawImageFields>,
}

/// Where one image's pins are in a values file: field paths, or `image` for a fixed repository.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImageFields {
    pub(super) tag: String,
    pub(super) repository: Option<String>,
    pub(super) image: Option<String>,
    pub(super) digest: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawYamlTarget {
    pub(super) file: String,
    pub(super) field: String,
    pub(super) image: String,
    pub(super) name: Option<String>,
    pub(super) digest: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawArgocdHelm {
    pub(super) application: String,
    pub(super) parameter: String,
    pub(super) image: String,
    pub(super) name: Option<String>,
    pub(super) digest_parameter: Option<String>,
}

/// `verify:` of an environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawVerify {
    pub(super) soak: Option<String>,
    #[serde(default)]
    pub(super) checks: Vec<RawCheck>,
    #[serde(default)]
    pub(super) policies: Vec<RawPolicy>,
    pub(super) on_failure: Option<String>,
}

/// One check: exactly one of `http` and `prometheus`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub(super) name: Option<String>,
    pub(super) http: Option<RawHttpCheck>,
    pub(super) prometheus: Option<RawPrometheusCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttpCheck {
    pub(super) url: String,
    pub(super) expect: Option<RawExpect>,
    pub(super) every: Option<String>,
    pub(super) timeout: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub(super) status: Option<u16>,
    pub(super) body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrometheusCheck {
    pub(super) url: String,
    pub(super) query: String,
    pub(super) below: Option<f64>,
    pub(super) above: Option<f64>,
    pub(super) every: Option<String>,
    pub(super) timeout: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawArgo {
    pub(super) app: String,
    pub(super) namespace: Option<String>,
    pub(super) context: Option<String>,
    pub(super) server: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicies {
    #[serde(default)]
    pub(super) promote: Vec<RawPolicy>,
    #[serde(default)]
    pub(super) rollback: Vec<RawPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawPolicy {
    pub(super) module: String,
    pub(super) sha256: Option<String>,
    pub(super) settings: Option<serde_json::Value>,
    pub(super) failure_policy: Option<String>,
}
