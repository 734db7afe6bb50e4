//! The `EvaluationRequest` a policy reads on stdin, exactly as `specs/policy-abi.md` shows it.
//!
//! On the wire the request carries `operation` plus a `promotion` and a `rollback` object of
//! which exactly one is non-null. In Rust that is one enum, [`Operation`], so a policy cannot
//! see a promotion request without a promotion; the raw shape is converted at the serde edge.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::API_VERSION;

/// `kind` of a request document.
const KIND: &str = "EvaluationRequest";

/// Everything a policy learns about one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRequest", into = "RawRequest")]
pub struct EvaluationRequest {
    /// The operation being decided, with its details.
    pub operation: Operation,
    /// This policy's settings from `promote.yaml` (`{}` when none were given).
    pub settings: Value,
    /// Every configured environment by name.
    pub environments: BTreeMap<String, Environment>,
    /// Approvals, rejections and revocations, in time order.
    pub approvals: Vec<ApprovalRecord>,
    /// Clock, dry-run flag and host version.
    pub context: Context,
}

impl EvaluationRequest {
    /// Which operation this request is about.
    pub fn kind(&self) -> OperationKind {
        match self.operation {
            Operation::Promote(_) => OperationKind::Promote,
            Operation::Rollback(_) => OperationKind::Rollback,
            Operation::Verify(_) => OperationKind::Verify,
        }
    }

    /// The promotion, when this is a promote request.
    pub fn promotion(&self) -> Option<&Promotion> {
        match &self.operation {
            Operation::Promote(p) => Some(p),
            _ => None,
        }
    }

    /// The rollback, when this is a rollback request.
    pub fn rollback(&self) -> Option<&Rollback> {
        match &self.operation {
            Operation::Rollback(r) => Some(r),
            _ => None,
        }
    }

    /// The deploy being verified, when this is a verify request.
    pub fn verification(&self) -> Option<&Verification> {
        match &self.operation {
            Operation::Verify(v) => Some(v),
            _ => None,
        }
    }

    /// The break-glass details (`--override-policy`) of the promotion or rollback, if given.
    pub fn override_(&self) -> Option<&Override> {
        match &self.operation {
            Operation::Promote(p) => p.override_.as_ref(),
            Operation::Rollback(r) => r.override_.as_ref(),
            Operation::Verify(_) => None,
        }
    }

    /// The environment the operation changes.
    pub fn target_environment(&self) -> &str {
        match &self.operation {
            Operation::Promote(p) => &p.environment,
            Operation::Rollback(r) => &r.environment,
            Operation::Verify(v) => &v.environment,
        }
    }

    /// Deserializes this policy's settings into `T`.
    ///
    /// # Errors
    /// The serde message when the settings do not have `T`'s shape.
    pub fn settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.settings)
    }
}

/// The operation with its details: the wire's `operation` + `promotion` | `rollback` |
/// `verify`.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `kubectl promote ENV ...`
    Promote(Promotion),
    /// `kubectl promote rollback ...`
    Rollback(Rollback),
    /// The checks after a deploy (`verify:` in promote.yaml): is the deploy good?
    Verify(Verification),
}

/// The operation names used on the wire and in metadata `operations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationKind {
    /// A promotion.
    Promote,
    /// A rollback.
    Rollback,
    /// The checks after a deploy.
    Verify,
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Promote => "promote",
            Self::Rollback => "rollback",
            Self::Verify => "verify",
        })
    }
}

/// A request document that is well-formed JSON but breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// `apiVersion` is not [`API_VERSION`].
    ApiVersion(String),
    /// `kind` is not `EvaluationRequest`.
    Kind(String),
    /// The object named by `operation` is null or missing.
    MissingDetails(OperationKind),
    /// More than one of `promotion`, `rollback` and `verify` is set.
    BothDetails,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiVersion(v) => {
                write!(
                    f,
                    "apiVersion is {v:?}, this policy understands {API_VERSION:?}"
                )
            }
            Self::Kind(k) => write!(f, "kind is {k:?}, expected {KIND:?}"),
            Self::MissingDetails(op) => {
                let field = match op {
                    OperationKind::Promote => "promotion",
                    OperationKind::Rollback => "rollback",
                    OperationKind::Verify => "verify",
                };
                write!(f, "operation is \"{op}\" but `{field}` is null or missing")
            }
            Self::BothDetails => {
                f.write_str("more than one of `promotion`, `rollback` and `verify` is set")
            }
        }
    }
}

impl std::error::Error for RequestError {}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    api_version: String,
    kind: String,
    operation: OperationKind,
    #[serde(default = "empty_object")]
    settings: Value,
    #[serde(default)]
    promotion: Option<Promotion>,
    #[serde(default)]
    rollback: Option<Rollback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verify: Option<Verification>,
    #[serde(default)]
    environments: BTreeMap<String, Environment>,
    #[serde(default)]
    approvals: Vec<ApprovalRecord>,
    context: Context,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl TryFrom<RawRequest> for EvaluationRequest {
    type Error = RequestError;

    fn try_from(raw: RawRequest) -> Result<Self, RequestError> {
        if raw.api_version != API_VERSION {
            return Err(RequestError::ApiVersion(raw.api_version));
        }
        if raw.kind != KIND {
            return Err(RequestError::Kind(raw.kind));
        }
        let set = [
            raw.promotion.is_some(),
            raw.rollback.is_some(),
            raw.verify.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(RequestError::BothDetails);
        }
        let operation = match (raw.operation, raw.promotion, raw.rollback, raw.verify) {
            (OperationKind::Promote, Some(p), _, _) => Operation::Promote(p),
            (OperationKind::Rollback, _, Some(r), _) => Operation::Rollback(r),
            (OperationKind::Verify, _, _, Some(v)) => Operation::Verify(v),
            (kind, ..) => return Err(RequestError::MissingDetails(kind)),
        };
        Ok(Self {
            operation,
            settings: raw.settings,
            environments: raw.environments,
            approvals: raw.approvals,
            context: raw.context,
        })
    }
}

impl From<EvaluationRequest> for RawRequest {
    fn from(req: EvaluationRequest) -> Self {
        let (operation, promotion, rollback, verify) = match req.operation {
            Operation::Promote(p) => (OperationKind::Promote, Some(p), None, None),
            Operation::Rollback(r) => (OperationKind::Rollback, None, Some(r), None),
            Operation::Verify(v) => (OperationKind::Verify, None, None, Some(v)),
        };
        Self {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            operation,
            settings: req.settings,
            promotion,
            rollback,
            verify,
            environments: req.environments,
            approvals: req.approvals,
            context: req.context,
        }
    }
}

/// The promotion being decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    /// Target environment.
    pub environment: String,
    /// Upstream environment (`--from` or the env's configured `from`); null for `promote ENV VERSION`
    /// without an upstream.
    pub from: Option<String>,
    /// The version being promoted (`"mixed"` when the upstream's images disagree).
    pub version: String,
    /// What the target ran before; null when unknown.
    pub previous_version: Option<String>,
    /// Per-image changes.
    pub images: Vec<ImageChange>,
    /// How the change lands.
    pub mode: PromotionMode,
    /// Break-glass details when `--override-policy` was given.
    #[serde(rename = "override")]
    pub override_: Option<Override>,
    /// Who asked.
    pub requested_by: Actor,
    /// What the change does to the rendered manifests, object by object (empty when the
    /// render is the same). A Secret's data keys appear in `fields`, never its values.
    #[serde(default)]
    pub render_diff: Vec<RenderedObject>,
    /// When the promotion is one wave of several (`waves:` in promote.yaml, or
    /// `kubectl promote eu,us VERSION`): which one, and the waves before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<Wave>,
    /// The app being promoted when promote.yaml declares `apps:` (a promotion of several apps
    /// asks each app's policies once, with its own images); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// One wave of a promotion in waves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    /// The wave group's name (`prod`), or the environments joined by `,` when given so.
    pub name: String,
    /// 1-based position of this wave.
    pub index: u32,
    /// How many waves there are.
    pub of: u32,
    /// The environments promoted (and verified) before this one, in order.
    pub previous: Vec<String>,
}

/// The deploy being verified (`operation: verify`): what landed, how the app is, and every
/// sample of every check so far. The host asks after each round of samples (`complete:
/// false`: a deny stops the deploy now) and once the soak is over (`complete: true`: an allow
/// passes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub environment: String,
    /// The version deployed (`"mixed"` when the images' tags differ).
    pub version: String,
    pub previous_version: Option<String>,
    /// The commit Argo CD deployed.
    pub revision: String,
    /// How long the deploy must stay good, in seconds.
    pub soak_seconds: u64,
    /// Seconds since the soak began.
    pub elapsed_seconds: u64,
    /// The soak is over: this is the final verdict.
    pub complete: bool,
    /// The Application's state at the last look (null: no Argo CD application).
    #[serde(default)]
    pub argocd: Option<VerifyApp>,
    pub checks: Vec<CheckResults>,
    #[serde(default)]
    pub wave: Option<Wave>,
}

/// The Application during the soak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyApp {
    pub sync: String,
    pub health: String,
    pub deployed_revision: Option<String>,
}

/// One check and its samples, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResults {
    /// `http shop.example.com/healthz`, or the configured name.
    pub name: String,
    /// `http` or `prometheus`.
    pub kind: String,
    /// Seconds between samples.
    pub every_seconds: f64,
    pub samples: Vec<CheckSample>,
}

/// One sample of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckSample {
    /// RFC 3339, UTC.
    pub at: String,
    pub elapsed_seconds: f64,
    /// Whether the sample met the check's expectation.
    pub ok: bool,
    #[serde(default)]
    pub status: Option<u16>,
    /// A Prometheus check's value (the worst series).
    #[serde(default)]
    pub value: Option<f64>,
    pub message: String,
}

/// One rendered object a promotion adds, removes or changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedObject {
    /// `apps/Deployment shop/cart` (no group for the core group).
    pub id: String,
    /// API group; empty for the core group.
    pub group: String,
    pub kind: String,
    /// Null for cluster-scoped objects.
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    pub change: ObjectChange,
    /// Field paths that differ (`spec.template.spec.containers[server].image`); empty for an
    /// added or removed object.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// How a rendered object differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectChange {
    Added,
    Removed,
    Changed,
}

/// Where an image was built from, as its OCI labels say (unverified: the image's builder
/// wrote them; a signature-checking policy is what makes them trustworthy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSource {
    /// The source repository URL (`org.opencontainers.image.source`).
    pub repo: String,
    /// The revision the environment's current image was built from, when it says.
    #[serde(default)]
    pub from_revision: Option<String>,
    /// The revision the promoted image was built from (`org.opencontainers.image.revision`).
    #[serde(default)]
    pub to_revision: Option<String>,
    /// The first commits of the range, oldest first, when the source's forge was asked (a
    /// token for it was set); see `totalCommits` for how many there are.
    #[serde(default)]
    pub commits: Vec<SourceCommit>,
    /// How many commits the range holds; null when the forge was not asked.
    #[serde(default)]
    pub total_commits: Option<u64>,
}

/// One commit of a source range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceCommit {
    pub sha: String,
    /// The first line of the message.
    pub subject: String,
}

/// One image's change in a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageChange {
    /// The `name` key of the overlay's `images` entry.
    pub name: String,
    /// The `newName` key, when the entry has one.
    pub new_name: Option<String>,
    /// What the target runs now.
    pub from: ImageRef,
    /// What it will run.
    pub to: ImageRef,
    /// The release behind the change, when the new image names its source; null otherwise
    /// (no label, no registry lookup, `--skip-image-check`).
    #[serde(default)]
    pub source: Option<ImageSource>,
    /// The cosign signatures and SLSA provenance of the digest the change writes, verified
    /// against the environment's `trust:` keys; null when the environment has no `trust:` or
    /// with `--skip-image-check`.
    #[serde(default)]
    pub supply_chain: Option<SupplyChain>,
}

/// What the registry holds about one digest, verified by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupplyChain {
    /// `registry/repo@sha256:…`: what was checked.
    pub reference: String,
    /// Every signature found (`.sig`), verified or not.
    #[serde(default)]
    pub signatures: Vec<SignatureFact>,
    /// From the newest SLSA provenance attestation a trusted key signed; null when none.
    #[serde(default)]
    pub provenance: Option<Provenance>,
    /// What else the host saw (no signature tag, an attestation that does not count and why).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One signature of a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureFact {
    /// A trusted key verified it over a payload naming this digest.
    pub verified: bool,
    /// The repo path of the trusted key that verified the signature (null: none did, and for
    /// keyless signatures).
    #[serde(default)]
    pub key: Option<String>,
    /// A keyless signature's identity, as its Fulcio certificate names it (absent for
    /// key-based signatures). On a verified signature it is one of the environment's trusted
    /// `keyless` identities; on an unverified one, the identity a trusted CA certified (absent
    /// when no trusted CA issued the certificate: anyone can write any name into their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// Why it does not count, when not verified.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An OIDC identity as a Fulcio certificate names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The OIDC token's issuer (`https://token.actions.githubusercontent.com`).
    pub issuer: String,
    /// The certificate's SAN: a workflow URI or an email.
    pub subject: String,
}

/// How a digest was built, from a verified SLSA provenance (v0.2 or v1) attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// `https://slsa.dev/provenance/v0.2` or `https://slsa.dev/provenance/v1`.
    pub predicate_type: String,
    /// `builder.id`.
    #[serde(default)]
    pub builder: Option<String>,
    /// The source repository URL (without `git+` and `@ref`).
    #[serde(default)]
    pub source_repo: Option<String>,
    /// The source commit.
    #[serde(default)]
    pub source_revision: Option<String>,
    /// The ref the build ran for, e.g. `refs/heads/main`.
    #[serde(default)]
    pub source_ref: Option<String>,
    /// `buildType`.
    #[serde(default)]
    pub build_type: Option<String>,
    /// The repo path of the key that signed the attestation.
    pub key: String,
}

/// A tag and digest; either may be unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    /// Image tag.
    pub tag: Option<String>,
    /// Image digest (`sha256:...`).
    pub digest: Option<String>,
}

/// How a promotion lands in git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromotionMode {
    /// Through a pull request.
    Pr,
    /// Pushed to the base branch.
    Direct,
}

/// Break-glass: `--override-policy --reason TEXT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Override {
    /// Who overrode.
    pub by: Actor,
    /// The `--reason` text.
    pub reason: String,
}

/// The person (or CI job) that runs the command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// Display name.
    pub name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// The Kubernetes user of the current context, when known.
    pub kube_user: Option<String>,
    /// True when the identity comes from the forge account behind a token.
    pub verified: bool,
}

/// The rollback being decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Environment rolled back.
    pub environment: String,
    /// How.
    pub strategy: RollbackStrategy,
    /// What runs now.
    pub from: RollbackFrom,
    /// What will run.
    pub to: RollbackTo,
    /// Who asked.
    pub requested_by: Actor,
    /// Break-glass details when `--override-policy` was given.
    #[serde(rename = "override")]
    pub override_: Option<Override>,
}

/// Rollback strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackStrategy {
    /// Argo CD history rollback.
    Argocd,
    /// A git revert of the promotion.
    Revert,
}

/// The running state a rollback leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackFrom {
    /// Version running now.
    pub version: String,
    /// Revision running now, when known.
    pub revision: Option<String>,
    /// When it was deployed (RFC 3339), when known.
    pub deployed_at: Option<String>,
}

/// The state a rollback goes back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackTo {
    /// Target version.
    pub version: String,
    /// Target revision.
    pub revision: String,
    /// Argo CD history id (null for `revert`, or when the target is not in the history).
    pub history_id: Option<i64>,
    /// When the target was deployed (RFC 3339), when known.
    pub deployed_at: Option<String>,
    /// True/false when a `--wait` of ours recorded it; null when unknown.
    pub was_healthy: Option<bool>,
}

/// What the host knows about one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// The tag all images share, else `"mixed"`.
    pub version: String,
    /// `protected: true` in `promote.yaml` (confirmation on a terminal; the built-in approval
    /// policies require verified approvals there by default). False when absent.
    #[serde(default)]
    pub protected: bool,
    /// Per-image truth, by image name.
    #[serde(default)]
    pub images: BTreeMap<String, ImageRef>,
    /// The overlay's last change on the base branch.
    #[serde(default)]
    pub git: Option<GitState>,
    /// Argo CD's view, null when the env has no Argo CD app or it could not be read.
    #[serde(default)]
    pub argocd: Option<ArgoCdState>,
}

impl Environment {
    /// True when the env's images run different tags.
    pub fn is_mixed(&self) -> bool {
        self.version == "mixed"
    }
}

/// Git facts about an environment's overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitState {
    /// The base-branch commit that last changed the overlay.
    pub revision: String,
    /// That commit's committer time (RFC 3339), when known.
    #[serde(default)]
    pub committed_at: Option<String>,
}

/// Argo CD facts about an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoCdState {
    /// `status.sync.status` (`Synced`, `OutOfSync`, `Unknown`).
    #[serde(default)]
    pub sync: Option<String>,
    /// `status.health.status` (`Healthy`, `Progressing`, `Degraded`, ...).
    #[serde(default)]
    pub health: Option<String>,
    /// What runs: `status.history[-1].revision`.
    #[serde(default)]
    pub deployed_revision: Option<String>,
    /// Whether automated sync is on.
    #[serde(default)]
    pub auto_sync: Option<bool>,
    /// The annotations an `argocd` rollback leaves (who, why, old sync policy); null when none.
    /// Kept as raw JSON: the host owns its shape.
    #[serde(default)]
    pub rollback_marker: Option<Value>,
    /// Deployment history, oldest first.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// One `status.history` entry with what the host learned about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Argo CD history id.
    pub id: i64,
    /// Deployed revision.
    pub revision: String,
    /// The version that revision ran, when the host could tell.
    #[serde(default)]
    pub version: Option<String>,
    /// `deployedAt` (RFC 3339).
    #[serde(default)]
    pub deployed_at: Option<String>,
    /// `initiatedBy`, when Argo CD recorded it.
    #[serde(default)]
    pub initiated_by: Option<InitiatedBy>,
    /// True/false when a `--wait` of ours recorded it; null when unknown.
    #[serde(default)]
    pub was_healthy: Option<bool>,
}

/// Argo CD's `initiatedBy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitiatedBy {
    /// True for auto-sync.
    #[serde(default)]
    pub automated: bool,
    /// The user, for manual operations.
    #[serde(default)]
    pub username: Option<String>,
}

/// An approval, rejection or revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// The environment the version was tested in (QA) or is going to (PM).
    pub environment: String,
    /// The version.
    pub version: String,
    /// The approver role (`qa`, `pm`, ...).
    pub role: String,
    /// What was said.
    pub verdict: ApprovalVerdict,
    /// The images (tags and digests) the verdict is about.
    #[serde(default)]
    pub images: BTreeMap<String, ImageRef>,
    /// Who said it.
    pub by: Approver,
    /// When (RFC 3339).
    pub at: String,
    /// Free text (`-m`); for a rejection, the reason.
    #[serde(default)]
    pub note: Option<String>,
}

/// What an approval record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalVerdict {
    /// `kubectl promote approve`.
    Approved,
    /// `kubectl promote reject`.
    Rejected,
    /// `kubectl promote approve --revoke`.
    Revoked,
}

/// The identity behind an approval record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approver {
    /// Display name.
    pub name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Computed by the host when it read the record, never taken from it: true when the
    /// record's commit is signed by a key the repository allows for this approver
    /// (`approverKeys` in `promote.yaml`). Only records by someone `approvers` lists for the
    /// role reach a policy at all.
    pub verified: bool,
}

/// Facts about the invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The time the decision is made at (RFC 3339); the guest's wall clock is fixed to it.
    pub now: String,
    /// `--dry-run`.
    pub dry_run: bool,
    /// The host's version.
    pub promote_version: String,
}
