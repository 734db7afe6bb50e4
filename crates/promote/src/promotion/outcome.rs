//! What a promotion (or a revert, which lands the same way) came to, and its result document.

use serde::Serialize;

use promote_core::config::Mode;
use promote_core::image::ImageChange;
use promote_core::registry::ImageCheckReport;

use crate::PromoteError;
use crate::deploy::Deployment;
use crate::document::Document;
use crate::gate::PolicyVerdict;
use crate::plan::{Landed, OpenedPr, Plan, RenderDiff, RenderReport};
use crate::release::ImageSource;
use crate::rendered::PlanComparison;

/// How a promotion ended (a denial is an outcome, not an error).
#[derive(Debug)]
pub enum Outcome {
    /// Every selected image already runs what was asked: nothing was committed.
    AlreadyAt(AlreadyAt),
    /// `--dry-run`: the plan, and its verdict says what the real run would do.
    DryRun(Box<Plan>),
    /// A policy denied: nothing was committed or pushed.
    Denied(Box<Plan>),
    /// Direct mode with required approvals unmet: nothing was pushed.
    AwaitingApproval(Box<Plan>),
    /// The person at the terminal said no: nothing was committed or pushed.
    NotConfirmed(Box<Plan>),
    /// The commit landed (pushed, or its pull request opened), and what Argo CD did after.
    Landed(Box<Delivered>),
}

/// ENV already runs what was asked.
#[derive(Debug, Clone)]
pub struct AlreadyAt {
    pub environment: String,
    pub version: Option<String>,
    pub overlay_file: String,
    /// `origin/main`: where that was read.
    pub at: String,
}

/// A landed commit.
#[derive(Debug)]
pub struct Delivered {
    pub plan: Plan,
    pub landed: Landed,
    /// After a push to (or a merge into) the base branch: the Argo CD step, or why it failed
    /// (the commit landed all the same). `None` when nothing reached the base branch.
    pub deployment: Option<Result<Deployment, PromoteError>>,
    /// What the deploy's checks need, prepared before the landing (set by `promotion::run`).
    pub after: Option<crate::after_deploy::Prepared>,
    /// The checks after the deploy (`verify:`, `--check`, `--soak`), when they ran.
    pub verification: Option<crate::after_deploy::Verification>,
    /// The rollback a failed deploy triggered (`--rollback-on-failure`).
    pub auto_rollback: Option<crate::after_deploy::AutoRollback>,
}

/// What the plan's verdict says of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    AwaitingApproval,
}

impl Verdict {
    pub fn of(plan: &Plan) -> Verdict {
        match &plan.policy {
            Some(v) if v.denied() => Verdict::Denied,
            Some(v) if v.awaiting_approval() => Verdict::AwaitingApproval,
            _ => Verdict::Allowed,
        }
    }
}

/// The `-o json|yaml` document of a promotion (`kind: PromotionResult`; a revert's says
/// `RollbackResult`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionResult<'a> {
    #[serde(skip)]
    kind: &'static str,
    /// `dry-run`, `already-at`, `pushed`, `branch-pushed`, `pr-open`, `awaiting-approval`,
    /// `pr-merged`, `pr-closed`, `denied`.
    pub result: &'static str,
    pub environment: &'a str,
    pub from: Option<&'a str>,
    pub version: Option<&'a str>,
    pub previous_version: Option<&'a str>,
    pub mode: Option<Mode>,
    pub overlay: &'a str,
    /// Each image change, with the release behind it (`source`) when the registry was asked.
    pub images: Vec<ImageView<'a>>,
    pub diff: Option<&'a str>,
    pub render: Option<&'a RenderReport>,
    /// The render's container images against the tree the environment last had (`status`:
    /// `compared`, each change marked as explained by the edit or not; `only-this-edit`;
    /// `unreadable`).
    pub rendered_images: Option<&'a PlanComparison>,
    /// What the change does to the rendered manifests, object by object, against the base
    /// tip: `[{id, group, kind, namespace, name, change, fields, patch, secret}]`, or
    /// `{"unavailable": why}` (null when nothing was planned).
    pub render_diff: Option<&'a RenderDiff>,
    pub commit_message: Option<&'a str>,
    pub commit: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub compare_url: Option<&'a str>,
    /// PR mode with a forge: the pull request, what it superseded, the approvals.
    pub pull_request: Option<&'a OpenedPr>,
    /// Every policy's verdict and the combined decision (null: no policies configured).
    pub policy: Option<&'a PolicyVerdict>,
    /// What the registries said about each written image reference, or who skipped the check.
    pub image_check: Option<&'a ImageCheckReport>,
    /// Signatures and provenance of each written digest (`status: checked | skipped`); absent
    /// when the environment has no `trust:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supply_chain: Option<&'a promote_core::supply_chain::SupplyChainReport>,
    /// After the landing: what Argo CD did (with `--wait`, how the wait ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<&'a Deployment>,
    /// The checks after the deploy: every sample and the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<&'a crate::after_deploy::Verification>,
    /// The rollback a failed deploy triggered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<&'a crate::after_deploy::AutoRollback>,
    /// The app promoted (promote.yaml `apps:`), when one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<&'a str>,
    /// A promotion of several apps: each app's own plan (this document sums them).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub apps: &'a [Plan],
}

/// An image change and, where known, its source.
#[derive(Debug, Serialize)]
pub struct ImageView<'a> {
    #[serde(flatten)]
    pub change: &'a ImageChange,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a ImageSource>,
}

impl Document for PromotionResult<'_> {
    fn kind(&self) -> &'static str {
        self.kind
    }
}

impl Outcome {
    /// The result document, as `kind` (none when nothing was decided: not confirmed).
    pub fn document(&self, kind: &'static str) -> Option<PromotionResult<'_>> {
        let plan = match self {
            Outcome::AlreadyAt(a) => return Some(already_at(kind, a)),
            Outcome::NotConfirmed(_) => return None,
            Outcome::DryRun(plan) => {
                let result = match Verdict::of(plan) {
                    Verdict::Denied => "denied",
                    Verdict::AwaitingApproval => "awaiting-approval",
                    Verdict::Allowed => "dry-run",
                };
                return Some(of_plan(kind, result, plan, None));
            }
            Outcome::Denied(plan) => return Some(of_plan(kind, "denied", plan, None)),
            Outcome::AwaitingApproval(plan) => {
                return Some(of_plan(kind, "awaiting-approval", plan, None));
            }
            Outcome::Landed(d) => d,
        };
        let result = match &plan.landed {
            Landed::Pushed { .. } => "pushed",
            Landed::BranchPushed { .. } => "branch-pushed",
            Landed::PrOpen(_) => "pr-open",
            Landed::PrAwaitingApproval(_) => "awaiting-approval",
            Landed::PrMerged(_) => "pr-merged",
            Landed::PrClosedUnmerged(_) => "pr-closed",
        };
        let mut doc = of_plan(kind, result, &plan.plan, Some(&plan.landed));
        doc.deployment = plan.deployment.as_ref().and_then(|d| d.as_ref().ok());
        doc.verification = plan.verification.as_ref();
        doc.auto_rollback = plan.auto_rollback.as_ref();
        Some(doc)
    }
}

fn already_at<'a>(kind: &'static str, a: &'a AlreadyAt) -> PromotionResult<'a> {
    PromotionResult {
        kind,
        result: "already-at",
        environment: &a.environment,
        from: None,
        version: a.version.as_deref(),
        previous_version: a.version.as_deref(),
        mode: None,
        overlay: &a.overlay_file,
        images: Vec::new(),
        diff: None,
        render: None,
        rendered_images: None,
        render_diff: None,
        commit_message: None,
        commit: None,
        branch: None,
        compare_url: None,
        pull_request: None,
        policy: None,
        image_check: None,
        supply_chain: None,
        deployment: None,
        verification: None,
        auto_rollback: None,
        app: None,
        apps: &[],
    }
}

fn of_plan<'a>(
    kind: &'static str,
    result: &'static str,
    plan: &'a Plan,
    landed: Option<&'a Landed>,
) -> PromotionResult<'a> {
    let (commit, branch) = match landed.map(Landed::commit_and_branch) {
        Some((c, b)) => (Some(c), Some(b)),
        None => (None, None),
    };
    let compare_url = match landed {
        Some(Landed::BranchPushed { compare_url, .. }) => compare_url.as_deref(),
        _ => None,
    };
    PromotionResult {
        kind,
        result,
        environment: &plan.environment,
        from: plan.from.as_deref(),
        version: plan.version.as_deref(),
        previous_version: plan.previous_version.as_deref(),
        mode: Some(plan.mode),
        overlay: &plan.overlay_file,
        images: plan
            .images
            .iter()
            .map(|change| ImageView {
                change,
                source: plan.sources.iter().find(|s| s.image == change.name),
            })
            .collect(),
        diff: Some(&plan.diff),
        render: Some(&plan.render),
        rendered_images: Some(&plan.rendered_images),
        render_diff: Some(&plan.render_diff),
        commit_message: Some(&plan.commit_message),
        commit,
        branch,
        compare_url,
        pull_request: landed.and_then(Landed::pull_request),
        policy: plan.policy.as_ref(),
        image_check: Some(&plan.image_check),
        supply_chain: Some(&plan.supply_chain).filter(|r| {
            !matches!(
                r,
                promote_core::supply_chain::SupplyChainReport::NotConfigured
            )
        }),
        deployment: None,
        verification: None,
        auto_rollback: None,
        app: plan.app.as_deref(),
        apps: &plan.apps,
    }
}
