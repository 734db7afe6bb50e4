//! `rollback --strategy argocd`: the entry picked from Argo CD's history, then the rollback
//! policies, the confirmation, the write (auto-sync off, the marker, the operation) and the
//! wait.

use std::thread::ScopedJoinHandle;

use serde::Serialize;

use promote_core::Person;
use promote_core::argocd::{Application, ArgoCdError, SyncWindow};
use promote_core::config::Environment;
use promote_core::image::ImageMap;
use promote_policy::sdk;

use super::{Request, Target as RollbackTo};
use crate::deploy::rollback::{HistoryTarget, RollbackBy, RolledBack, plan_rollback};
use crate::deploy::{self, ArgoReads, Conn, ReadFailure, Waited, connect};
use crate::document::Document;
use crate::gate::{Gate, Judged, Operation, PolicyVerdict};
use crate::plan::{Change, Milestone, Proposal, RollbackPlan};
use crate::ports::{Ports, Purpose};
use crate::{Interaction, PromoteError, Session};

/// How a history rollback ended.
#[derive(Debug)]
pub enum HistoryOutcome {
    /// ENV already runs the target: nothing to do.
    AlreadyRuns(RollbackPlan),
    /// A rollback policy denied: nothing was changed.
    Denied {
        plan: RollbackPlan,
        verdict: PolicyVerdict,
    },
    /// Approvals the policies require are missing: nothing was changed.
    AwaitingApproval {
        plan: RollbackPlan,
        verdict: PolicyVerdict,
    },
    /// `--dry-run`: nothing was changed.
    DryRun(RollbackPlan),
    /// The person at the terminal said no: nothing was changed.
    NotConfirmed(RollbackPlan),
    /// Written; with `--wait`, how the wait ended.
    RolledBack {
        rolled: RolledBack,
        app: String,
        waited: Option<Waited>,
    },
}

/// The `-o json|yaml` document of a history rollback (`kind: RollbackResult`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRollbackResult<'a> {
    /// `denied`, `awaiting-approval`, `dry-run` or `rolled-back`.
    pub result: &'static str,
    /// `argocd`.
    pub strategy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<&'a RollbackPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'a PolicyVerdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<&'a RolledBack>,
    /// With `rolled-back`: the wait, or null without `--wait`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<Option<&'a Waited>>,
}

impl Document for HistoryRollbackResult<'_> {
    fn kind(&self) -> &'static str {
        "RollbackResult"
    }
}

impl HistoryOutcome {
    /// The result document (none when nothing was decided).
    pub fn document(&self) -> Option<HistoryRollbackResult<'_>> {
        let doc = |result, plan, policy| HistoryRollbackResult {
            result,
            strategy: "argocd",
            plan,
            policy,
            rollback: None,
            wait: None,
        };
        Some(match self {
            HistoryOutcome::AlreadyRuns(_) | HistoryOutcome::NotConfirmed(_) => return None,
            HistoryOutcome::Denied { plan, verdict } => doc("denied", Some(plan), Some(verdict)),
            HistoryOutcome::AwaitingApproval { plan, verdict } => {
                doc("awaiting-approval", Some(plan), Some(verdict))
            }
            HistoryOutcome::DryRun(plan) => doc("dry-run", Some(plan), None),
            HistoryOutcome::RolledBack { rolled, waited, .. } => HistoryRollbackResult {
                rollback: Some(rolled),
                wait: Some(waited.as_ref()),
                ..doc("rolled-back", None, None)
            },
        })
    }
}

/// What `rollback` decided about the strategy.
pub(super) enum Picked {
    /// Argo CD's history holds the target: the plan, and the app it was made from.
    History {
        conn: Box<Conn>,
        plan: Box<RollbackPlan>,
        app: Box<Application>,
    },
    /// Revert in git (asked for, or the history does not hold the target).
    Revert,
}

/// With no strategy asked for: `argocd` where the history holds the target, else `revert` (and
/// say why). `reads`: the apps the policy facts read a moment ago, reused rather than read
/// again (and their transport, unless `--wait` needs one without a request timeout).
pub(super) fn pick_strategy(
    ports: &Ports,
    session: &Session,
    req: &Request,
    mut reads: ArgoReads,
    ui: &dyn Interaction,
) -> Result<Picked, PromoteError> {
    let env = session.config.env(&req.env)?;
    let asked = req.strategy == Some(super::Strategy::Argocd)
        || matches!(req.target, RollbackTo::HistoryId(_));
    let target = match &req.target {
        RollbackTo::Version(v) => HistoryTarget::Version(v.clone()),
        RollbackTo::Revision(r) => HistoryTarget::Revision(r.clone()),
        RollbackTo::HistoryId(id) => HistoryTarget::Id(*id),
        RollbackTo::Previous => HistoryTarget::Previous,
    };
    let purpose = if req.wait.is_some() {
        Purpose::Wait
    } else {
        Purpose::Read
    };
    if !asked && env.argocd.is_none() {
        return Ok(Picked::Revert);
    }
    let argocd = ports.argocd.as_ref();
    // ENV's app as read a moment ago (with its transport, unless --wait needs one without a
    // request timeout), else read now.
    let got = match reads.apps.remove(&env.name) {
        Some(Ok((conn, app))) if purpose == Purpose::Read => Ok((conn, app)),
        Some(Ok((_, app))) => connect(argocd, env, purpose)
            .map(|c| (c, app))
            .map_err(ReadFailure::Connect),
        Some(Err(failure)) => Err(failure),
        None => match connect(argocd, env, purpose) {
            Ok(c) => match deploy::target::read_app(env, &c.target()) {
                Ok(app) => Ok((c, app)),
                Err(e) => Err(ReadFailure::Read(e)),
            },
            Err(e) => Err(ReadFailure::Connect(e)),
        },
    };
    let (conn, app) = match got {
        Ok(got) => got,
        Err(failure) if asked => return Err(failure.into_error().into()),
        // The default: fall back to a revert when Argo CD cannot be used.
        Err(ReadFailure::Connect(e)) => {
            ui.step(&format!("reverting in git: Argo CD is not reachable ({e})"));
            return Ok(Picked::Revert);
        }
        Err(ReadFailure::Read(e)) => {
            ui.step(&format!("reverting in git: {e}"));
            return Ok(Picked::Revert);
        }
    };
    match plan_rollback(session, env, &app, &target)? {
        Some(plan) => Ok(Picked::History {
            conn: Box::new(conn),
            plan: Box::new(plan),
            app: Box::new(app),
        }),
        None if asked => Err(deploy::rollback::no_target(env, &app, &target).into()),
        None => {
            ui.step(&format!(
                "reverting in git: the Argo CD history of {} does not hold the target",
                conn.location.app
            ));
            Ok(Picked::Revert)
        }
    }
}

/// The state of one history rollback once the entry is picked.
pub(super) struct Rollback<'a> {
    pub gate: Gate<'a>,
    pub req: &'a Request,
    pub env: &'a Environment,
    pub conn: &'a Conn,
    pub app: &'a Application,
}

/// The project's sync windows, read beside the policies.
type Windows<'s> = ScopedJoinHandle<'s, Result<Vec<SyncWindow>, ArgoCdError>>;

impl Rollback<'_> {
    /// `rollback --strategy argocd` once the entry is picked.
    pub(super) fn run(
        &self,
        plan: RollbackPlan,
        ui: &dyn Interaction,
    ) -> Result<HistoryOutcome, PromoteError> {
        if plan.from_revision == plan.to.revision {
            return Ok(HistoryOutcome::AlreadyRuns(plan));
        }
        // The project's sync windows, for the warning before the write, are read meanwhile (a
        // dry run writes nothing, so it needs none).
        std::thread::scope(|scope| {
            let (argo, app) = (&self.conn.argo, self.app);
            let windows =
                (!self.req.dry_run).then(|| scope.spawn(move || argo.project_sync_windows(app)));
            self.decide_and_roll_back(plan, windows, ui)
        })
    }

    /// The policies, the confirmation, the write and the wait.
    fn decide_and_roll_back(
        &self,
        plan: RollbackPlan,
        windows: Option<Windows<'_>>,
        ui: &dyn Interaction,
    ) -> Result<HistoryOutcome, PromoteError> {
        let (env, session) = (self.env, self.gate.session);
        // The rollback policies decide first (with wasHealthy from our waits).
        let author = match &self.req.author {
            Some(a) => a.clone(),
            None => session
                .repo
                .config_person()
                .ok_or(PromoteError::NoIdentity)?,
        };
        if let Some(verdict) = self.judge(&plan, &author, ui)? {
            ui.reached(&Milestone::RollbackJudged {
                plan: &plan,
                verdict: &verdict,
            });
            if verdict.denied() {
                return Ok(HistoryOutcome::Denied { plan, verdict });
            }
            if verdict.awaiting_approval() {
                return Ok(HistoryOutcome::AwaitingApproval { plan, verdict });
            }
        }
        // The one place the advice is printed: before the confirmation (and in a dry run), so
        // the person can fix the parent first; the text is the core's (`ManagedBy`'s Display).
        for m in &self.app.managed_by {
            ui.warn(&format!("{}: {m} (argo-cd #5351, #9570)", plan.app));
        }
        if self.req.dry_run {
            return Ok(HistoryOutcome::DryRun(plan));
        }
        if env.protected && !self.req.yes && ui.can_confirm() {
            let to_version = plan.to.version.as_deref().unwrap_or("?");
            let question = format!("Roll back {} to {to_version} with Argo CD?", env.name);
            let proposal = Proposal {
                question: &question,
                change: Change::ArgoRollback(&plan),
            };
            if !ui.confirm(&proposal) {
                ui.warn("not confirmed; nothing was changed");
                return Ok(HistoryOutcome::NotConfirmed(plan));
            }
        }
        let by = RollbackBy {
            user: match &self.req.author {
                Some(a) => a.to_string(),
                None => deploy::after::operation_user(session),
            },
            reason: self.req.message.clone().unwrap_or_default(),
            at: promote_core::argocd::Timestamp::from_unix(self.gate.ports.clock.now().as_second()),
        };
        ui.checkpoint("before-rollback-write");
        let t = self.conn.target();
        let windows = match windows {
            Some(read) => read.join().expect("the sync window read panicked"),
            None => t.argo.project_sync_windows(self.app),
        };
        let rolled =
            deploy::rollback::write_rollback((env, &t), (plan, self.app), windows, &by, ui)?;
        ui.checkpoint("after-rollback-write");
        ui.reached(&Milestone::RolledBack {
            plan: &rolled.plan,
            auto_sync_disabled_by: &rolled.auto_sync_disabled_by,
        });
        let waited = match self.req.wait {
            None => None,
            Some(timeout) => Some(deploy::rollback::wait_rollback(
                env, &t, &rolled, timeout, ui,
            )?),
        };
        Ok(HistoryOutcome::RolledBack {
            rolled,
            app: t.app.to_string(),
            waited,
        })
    }

    /// The rollback policies' verdict (`None`: none configured).
    fn judge(
        &self,
        plan: &RollbackPlan,
        author: &Person,
        ui: &dyn Interaction,
    ) -> Result<Option<PolicyVerdict>, PromoteError> {
        let (env, session) = (self.env, self.gate.session);
        self.gate.check_override(env)?;
        let to_version = plan.to.version.clone().unwrap_or_else(|| "mixed".into());
        // What the target revision's overlay pins: the images the rollback brings back.
        let promoted: ImageMap = match plan.to.revision.as_deref().map(|r| session.repo.resolve(r))
        {
            Some(Ok(at)) => session
                .overlay_at(env, at)
                .map(|o| o.image_map())
                .unwrap_or_default(),
            _ => ImageMap::new(),
        };
        let operation = Operation::Rollback {
            strategy: sdk::RollbackStrategy::Argocd,
            from: sdk::RollbackFrom {
                version: plan.from_version.clone().unwrap_or_default(),
                revision: plan.from_revision.clone(),
                deployed_at: None,
            },
            to: sdk::RollbackTo {
                version: to_version.clone(),
                revision: plan.to.revision.clone().unwrap_or_default(),
                history_id: Some(plan.to.id),
                deployed_at: plan.to.deployed_at.clone(),
                was_healthy: plan.to.was_healthy,
            },
        };
        self.gate.judge(
            &Judged {
                env,
                operation,
                version: &to_version,
                promoted: &promoted,
                author,
            },
            ui,
        )
    }
}
