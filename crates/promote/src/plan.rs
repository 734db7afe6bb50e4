//! What a use case shows before it writes, and what it wrote: a commit's [`Plan`] (a promotion or
//! a revert), an Argo CD history [`RollbackPlan`], how a plan [`Landed`], and the [`Proposal`] a
//! person confirms on a terminal. Plain types, shared by the use cases and the binary.

use serde::Serialize;

use promote_core::manifests::Manifests;
use promote_core::render_diff::{ObjectDiff, diff_objects};

use promote_core::Person;
use promote_core::config::Mode;
use promote_core::image::ImageChange;
use promote_core::registry::ImageCheckReport;
use promote_git::CommitId;

use crate::approval::decide::ApprovalCheck;
use crate::deploy::state::AutoSyncState;
use crate::gate::verdict::PolicyVerdict;
use crate::rendered::PlanComparison;

/// A checked promotion (or revert), ready to commit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub environment: String,
    /// The upstream environment (from `--from` or the env's `from:`).
    pub from: Option<String>,
    /// The version being promoted (`mixed` when the upstream runs several tags).
    pub version: Option<String>,
    pub previous_version: Option<String>,
    pub mode: Mode,
    pub overlay_file: String,
    pub images: Vec<ImageChange>,
    pub diff: String,
    pub render: RenderReport,
    /// The render's container images against those of the tree the environment last had (its
    /// last promotion): every change, each marked as explained by this edit or not.
    pub rendered_images: PlanComparison,
    /// What the change does to the rendered manifests against the base tip, object by object.
    pub render_diff: RenderDiff,
    /// The release behind each image change, in the order of `images` (empty when the
    /// registry was not asked).
    pub sources: Vec<crate::release::ImageSource>,
    pub commit_message: String,
    pub author: Person,
    /// Every policy's verdict (`None`: no policies configured for this operation).
    pub policy: Option<PolicyVerdict>,
    /// What the registries said about every image reference the plan writes, or who skipped it.
    pub image_check: ImageCheckReport,
    /// Signatures and provenance of what the plan makes run (issue 18).
    pub supply_chain: promote_core::supply_chain::SupplyChainReport,
    /// The remote tip the plan was made from.
    pub base: String,
    /// The app this plan promotes (`apps:` in promote.yaml); absent without apps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// A promotion of several apps in one commit (`--app a,b`, `--all-apps`): each app's own
    /// plan. This plan sums them; its commit writes every app's file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<Plan>,
    #[serde(skip)]
    pub(crate) new_text: String,
    /// Where the environment's pins are (the overlay directory, or the file of its fields).
    #[serde(skip)]
    pub(crate) overlay_dir: String,
    #[serde(skip)]
    pub(crate) render_target: crate::render::RenderTarget,
    #[serde(skip)]
    pub(crate) base_id: Option<CommitId>,
}

/// One file a plan's commit writes.
pub(crate) struct FileEdit<'p> {
    pub file: &'p str,
    pub new_text: &'p str,
    /// The overlay directory (or the fields' file) whose change by someone else is a race.
    pub dir: &'p str,
    pub render_target: &'p crate::render::RenderTarget,
}

impl Plan {
    /// What names the promotion's branch and pull-request label (see
    /// [`promote_core::config::Environment::slot`]); several apps: `ENV/apps-HASH` of their
    /// names.
    pub fn slot(&self) -> String {
        if !self.apps.is_empty() {
            let names: Vec<&str> = self.apps.iter().filter_map(|p| p.app.as_deref()).collect();
            return format!("{}/{}", self.environment, apps_slot(&names));
        }
        match &self.app {
            Some(app) => format!("{}/{app}", self.environment),
            None => self.environment.clone(),
        }
    }

    /// The files the plan's commit writes: its own, or each app's.
    pub(crate) fn edits(&self) -> Vec<FileEdit<'_>> {
        if !self.apps.is_empty() {
            return self.apps.iter().flat_map(Plan::edits).collect();
        }
        vec![FileEdit {
            file: &self.overlay_file,
            new_text: &self.new_text,
            dir: &self.overlay_dir,
            render_target: &self.render_target,
        }]
    }
}

/// `apps-` and 8 hex digits of the sha256 of the sorted app names: a short, stable name for a
/// set of apps (a branch name has to stay short whatever the number of apps).
pub fn apps_slot(names: &[&str]) -> String {
    use sha2::Digest;
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let digest = sha2::Sha256::digest(sorted.join("\n").as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("apps-{hex}")
}

/// The rendered diff of a plan: the base tip's render against the change's, object by object
/// (`-o json`: the list, or `{"unavailable": why}`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RenderDiff {
    Objects(Vec<ObjectDiff>),
    /// The base tip did not render, or a render is not readable YAML.
    Unavailable {
        unavailable: String,
    },
}

impl RenderDiff {
    /// Diff the base tip's render (or why it failed) with the change's.
    pub fn between(base: Result<&str, &str>, changed: &str) -> RenderDiff {
        let base = match base {
            Ok(b) => b,
            Err(e) => {
                return RenderDiff::Unavailable {
                    unavailable: format!("the base tip does not render: {e}"),
                };
            }
        };
        if base == changed {
            return RenderDiff::Objects(Vec::new());
        }
        let parse = |what: &str, text: &str| Manifests::parse(what, text);
        match (
            parse("the base tip's render", base),
            parse("the render", changed),
        ) {
            (Ok(a), Ok(b)) => RenderDiff::Objects(diff_objects(&a, &b)),
            (Err(e), _) | (_, Err(e)) => RenderDiff::Unavailable {
                unavailable: e.to_string(),
            },
        }
    }

    /// The objects, none when unavailable.
    pub fn objects(&self) -> &[ObjectDiff] {
        match self {
            RenderDiff::Objects(o) => o,
            RenderDiff::Unavailable { .. } => &[],
        }
    }
}

/// The render check of a plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderReport {
    pub program: String,
    pub resources: usize,
    pub cached: bool,
}

/// A planned commit, or nothing to do.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Every selected image already runs what was asked: nothing to do.
    AlreadyAt {
        environment: String,
        version: Option<String>,
        overlay_file: String,
    },
    Ready(Box<Plan>),
}

/// How a plan landed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "landed")]
pub enum Landed {
    /// Pushed to the base branch.
    Pushed {
        commit: String,
        branch: String,
        attempts: usize,
    },
    /// PR mode without a forge token: the branch is pushed; open the PR at the URL. Required
    /// approvals are judged from the approval records alone (reviews cannot be read without a
    /// token); any missing means exit 4, as with a token (testbed finding G3).
    BranchPushed {
        commit: String,
        branch: String,
        compare_url: Option<String>,
        approvals: ApprovalCheck,
    },
    /// PR mode: the pull request is open and every required approval is there.
    PrOpen(OpenedPr),
    /// PR mode: the pull request is open, reviewers are requested, approvals are missing (exit 4).
    PrAwaitingApproval(OpenedPr),
    /// PR mode with `--wait`: the pull request was merged.
    PrMerged(OpenedPr),
    /// PR mode with `--wait`: the pull request was closed without being merged (exit 1).
    PrClosedUnmerged(OpenedPr),
}

impl Landed {
    /// The pull request, in PR mode with a forge.
    pub fn pull_request(&self) -> Option<&OpenedPr> {
        match self {
            Landed::PrOpen(pr)
            | Landed::PrAwaitingApproval(pr)
            | Landed::PrMerged(pr)
            | Landed::PrClosedUnmerged(pr) => Some(pr),
            Landed::Pushed { .. } | Landed::BranchPushed { .. } => None,
        }
    }

    /// The commit and the branch it went to.
    pub fn commit_and_branch(&self) -> (&str, &str) {
        match self {
            Landed::Pushed { commit, branch, .. } | Landed::BranchPushed { commit, branch, .. } => {
                (commit, branch)
            }
            Landed::PrOpen(pr)
            | Landed::PrAwaitingApproval(pr)
            | Landed::PrMerged(pr)
            | Landed::PrClosedUnmerged(pr) => (&pr.commit, &pr.branch),
        }
    }
}

/// A pull request as the result shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrRef {
    pub number: u64,
    pub url: String,
}

/// The promotion's pull request, opened or reused.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenedPr {
    pub commit: String,
    pub branch: String,
    pub number: u64,
    pub url: String,
    pub title: String,
    /// Opened by this run, or the open pull request of the same environment and version
    /// reused (updated or unchanged). The result document says `created: true|false`.
    #[serde(rename = "created", serialize_with = "opened")]
    pub action: PrAction,
    /// Open pull requests of the environment for other versions, closed with a comment.
    pub superseded: Vec<PrRef>,
    pub approvals: ApprovalCheck,
}

/// What a run did to the promotion's pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrAction {
    Opened,
    /// Reused, its title or body brought up to date.
    Updated,
    /// Reused as it was.
    Unchanged,
}

impl PrAction {
    /// The verb results print: `opened`, `updated`, `reused`.
    pub fn verb(self) -> &'static str {
        match self {
            PrAction::Opened => "opened",
            PrAction::Updated => "updated",
            PrAction::Unchanged => "reused",
        }
    }
}

/// `created` in the result document: whether this run opened the pull request.
fn opened<S: serde::Serializer>(action: &PrAction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*action == PrAction::Opened)
}

/// The head branch of an environment's promotion to a version.
pub fn branch_name(env: &str, version: Option<&str>) -> String {
    format!("promote/{env}/{}", version.unwrap_or("mixed"))
}

/// One Argo CD history entry with what we know about it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub id: i64,
    pub revision: Option<String>,
    /// The version ENV's overlay held at that revision (`mixed` when its images differ).
    pub version: Option<String>,
    pub deployed_at: Option<String>,
    /// `automated` for auto-sync, else the user Argo CD recorded.
    pub initiated_by: Option<String>,
    /// Recorded by one of our waits; null when unknown.
    pub was_healthy: Option<bool>,
    /// The entry that runs now (`history[-1]`).
    pub running: bool,
}

/// A rollback picked from the Argo CD history: what runs, and what it goes back to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackPlan {
    pub environment: String,
    pub app: String,
    pub from_version: Option<String>,
    pub from_revision: Option<String>,
    pub to: HistoryItem,
    /// Now; a rollback turns it off (keeping prune/selfHeal).
    pub auto_sync: AutoSyncState,
    pub managed_by: Vec<String>,
}

/// A part of a use case's result that is final while the use case goes on (a push landed, a
/// rollback was written, then a wait for Argo CD): shown when it is reached, so a person
/// watching sees it before the wait.
#[derive(Debug, Clone, Copy)]
pub enum Milestone<'a> {
    /// A promotion's or revert's commit landed (pushed, or its pull request opened).
    Landed {
        plan: &'a Plan,
        landed: &'a Landed,
        /// `origin`: where it was pushed.
        remote: &'a str,
        /// `main`: the base branch a pull request targets.
        base_branch: &'a str,
    },
    /// An Argo CD history rollback was judged by its policies (before anything is written).
    RollbackJudged {
        plan: &'a RollbackPlan,
        verdict: &'a PolicyVerdict,
    },
    /// An Argo CD history rollback was written (auto-sync off, the marker, the operation).
    RolledBack {
        plan: &'a RollbackPlan,
        auto_sync_disabled_by: &'a promote_core::argocd::AutoSyncDisabledBy,
    },
}

/// What a person is asked to confirm before a protected environment changes.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    /// `Promote prod to v1.0.1?`
    pub question: &'a str,
    pub change: Change<'a>,
}

/// The change a [`Proposal`] is about.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A commit: a promotion or a revert.
    Commit(&'a Plan),
    /// An Argo CD history rollback.
    ArgoRollback(&'a RollbackPlan),
}
