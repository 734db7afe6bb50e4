//! The one policy gate, used by promotions, both rollback strategies and `verify`: load ENV's
//! modules for the operation ([`load`]), gather the facts into the request of
//! `specs/policy-abi.md` ([`request`]), evaluate every module, count the approvals on record
//! against the ones required, and report each verdict ([`verdict`]).
//!
//! A denial is a result, not an error: the plan carries a [`PolicyVerdict`] and the caller
//! decides what a `deny` or an unmet required approval means for its operation.

pub mod capture;
pub mod load;
pub mod request;
pub mod verdict;

pub use load::{note_cache, repo_sidecar};
pub use request::Operation;
pub use verdict::{
    Decision, ModuleDecision, ModuleVerdict, OverrideDoc, OverrideMark, PolicyVerdict,
};

use std::collections::BTreeMap;

use promote_core::Person;
use promote_core::config::{Environment, PolicyRef};
use promote_core::image::ImageMap;
use promote_policy::sdk::{self, EvaluationRequest, Verdict};
use promote_policy::{Combined, FailurePolicy, OverrideOutcome};

use crate::approval::{self, ApprovalCheck, ApprovalRecord, PrApprovals, RequiredApproval};
use crate::ports::Ports;
use crate::{Interaction, PromoteError, Session};

/// What this run adds to the facts that come from git: the flags that touch policies and what
/// was read from Argo CD.
#[derive(Debug, Clone, Default)]
pub struct PolicyContext {
    /// `--override-policy --reason TEXT`.
    pub override_reason: Option<String>,
    /// The operation changes nothing (`--dry-run`, `verify`).
    pub dry_run: bool,
    /// Argo CD facts per environment (`environments.<env>.argocd` of the request).
    pub argocd: BTreeMap<String, sdk::ArgoCdState>,
    /// A promotion in waves: which wave this is (`promotion.wave`).
    pub wave: Option<sdk::Wave>,
}

/// The gate of one operation: the ports (policy host, clock), the session it reads git from,
/// and this run's policy context.
#[derive(Clone, Copy)]
pub struct Gate<'a> {
    pub ports: &'a Ports,
    pub session: &'a Session,
    pub context: &'a PolicyContext,
}

/// One operation for the gate to judge.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    pub env: &'a Environment,
    pub operation: Operation<'a>,
    /// The version it brings (`mixed` when the images' tags differ).
    pub version: &'a str,
    /// The images it makes run (name → tag and digest), which approvals must cover.
    pub promoted: &'a ImageMap,
    pub author: &'a Person,
}

impl Gate<'_> {
    /// `--override-policy` is break-glass: only where the environment allows it.
    pub fn check_override(&self, env: &Environment) -> Result<(), PromoteError> {
        if self.context.override_reason.is_some() && !env.allow_override {
            return Err(PromoteError::OverrideNotAllowed {
                env: env.name.clone(),
            });
        }
        Ok(())
    }

    /// ENV's policies for the operation (and `--policy` one-offs) on `j`; `None` when there are
    /// none to ask.
    pub fn judge(
        &self,
        j: &Judged<'_>,
        ui: &dyn Interaction,
    ) -> Result<Option<PolicyVerdict>, PromoteError> {
        self.judge_with(j, None, ui)
    }

    /// [`Gate::judge`], with the approvals of the promotion's open pull request counted beside
    /// the records: a promotion in PR mode reads its pull request's reviews before it is judged,
    /// so the plan, the commit's trailers and the pull request's body all carry one verdict
    /// (testbed finding G4).
    pub fn judge_with(
        &self,
        j: &Judged<'_>,
        pr: Option<PrApprovals<'_>>,
        ui: &dyn Interaction,
    ) -> Result<Option<PolicyVerdict>, PromoteError> {
        let refs: &[PolicyRef] = match j.operation {
            Operation::Promotion { .. } => &j.env.promote_policies,
            Operation::Rollback { .. } => &j.env.rollback_policies,
            Operation::Verify(_) => &j.env.verify.policies,
        };
        let settings = &self.ports.policies.settings;
        if refs.is_empty() && settings.one_offs.is_empty() {
            return Ok(None);
        }
        let host = self.ports.policies.host()?;
        let policies = load::load(host, settings, self.session, refs, ui)?;
        let actor = request::actor(j.author, settings.kube_user.as_deref());
        let mut operation = j.operation.to_sdk(
            &j.env.name,
            j.version,
            actor,
            self.context.override_reason.as_deref(),
        );
        if let sdk::Operation::Promote(p) = &mut operation {
            p.wave.clone_from(&self.context.wave);
            p.app.clone_from(&j.env.app);
        }
        let records = self.records(&operation, ui)?;
        let request = EvaluationRequest {
            operation,
            settings: serde_json::json!({}),
            environments: request::environments(self.session, &self.context.argocd)?,
            approvals: request::to_sdk_records(&records),
            context: sdk::Context {
                now: self.ports.clock.decision_time(),
                dry_run: self.context.dry_run,
                promote_version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        };
        ui.step(&format!(
            "evaluating {} polic{} for {}",
            policies.len(),
            if policies.len() == 1 { "y" } else { "ies" },
            j.env.name
        ));
        let combined = host.evaluate_all(&policies, &request);
        if let Some(dir) = &settings.save_requests {
            capture::save(dir, &policies, &request, &combined, ui)?;
        }
        Ok(Some(self.verdict(j, combined, &records, pr)))
    }

    /// The approval records policies see. Only records by approvers reach them; who counts,
    /// and whether they were verified, is decided when the records are read. A promotion stops
    /// on records it cannot read (a broken approverKeys file is an error naming the fix); a
    /// rollback, which approvals do not gate, goes on without them, saying why.
    fn records(
        &self,
        operation: &sdk::Operation,
        ui: &dyn Interaction,
    ) -> Result<Vec<ApprovalRecord>, PromoteError> {
        match approval::list(self.session, ui) {
            Ok(records) => Ok(records.counted),
            Err(e) if !matches!(operation, sdk::Operation::Promote(_)) => {
                ui.warn(&format!(
                    "approval records not given to the {} policies: {e}",
                    operation_kind(operation)
                ));
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }
}

fn operation_kind(op: &sdk::Operation) -> sdk::OperationKind {
    match op {
        sdk::Operation::Promote(_) => sdk::OperationKind::Promote,
        sdk::Operation::Rollback(_) => sdk::OperationKind::Rollback,
        sdk::Operation::Verify(_) => sdk::OperationKind::Verify,
    }
}

impl Gate<'_> {
    /// The combined decision, with the required approvals counted against the records (and the
    /// pull request's approvals, when there are some).
    fn verdict(
        &self,
        j: &Judged<'_>,
        combined: Combined,
        records: &[ApprovalRecord],
        pr: Option<PrApprovals<'_>>,
    ) -> PolicyVerdict {
        let required: Vec<RequiredApproval> = combined
            .required_approvals
            .iter()
            .map(|a| RequiredApproval {
                // A requirement's id is `role` or `role@env` (e.g. `qa@staging`); records and
                // reviews are counted by role.
                id: a.id.split('@').next().unwrap_or(&a.id).to_owned(),
                environment: if a.environment.is_empty() {
                    j.env.name.clone()
                } else {
                    a.environment.clone()
                },
                count: a.count,
                reason: a.reason.clone(),
                verified: a.verified,
            })
            .collect();
        let approvals = (!required.is_empty())
            .then(|| approval::check_required(&required, j.version, j.promoted, records, pr));
        let decision = match combined.decision {
            Verdict::Allow => Decision::Allow,
            Verdict::Deny => Decision::Deny,
            Verdict::RequireApproval if approvals.as_ref().is_some_and(ApprovalCheck::is_met) => {
                Decision::Allow
            }
            Verdict::RequireApproval => Decision::RequireApproval,
        };
        PolicyVerdict {
            decision,
            reasons: combined.reasons,
            overridden: combined.overridden,
            required_approvals: required,
            approvals,
            warnings: combined.warnings,
            policies: combined.policies.iter().map(module_verdict).collect(),
            override_: self
                .context
                .override_reason
                .as_ref()
                .map(|reason| OverrideDoc {
                    by: j.author.to_string(),
                    reason: reason.clone(),
                }),
        }
    }
}

/// One module's part of the combined result, as reports show it.
fn module_verdict(p: &promote_policy::PolicyReport) -> ModuleVerdict {
    ModuleVerdict {
        name: p.name.clone(),
        origin: p.origin.clone(),
        sha256: p.sha256.clone(),
        decision: match (&p.error, p.failure_policy, p.decision) {
            (Some(_), FailurePolicy::Fail, _) => ModuleDecision::Error,
            (Some(_), FailurePolicy::Ignore, _) => ModuleDecision::Ignored,
            (None, _, Verdict::Allow) => ModuleDecision::Allow,
            (None, _, Verdict::Deny) => ModuleDecision::Deny,
            (None, _, Verdict::RequireApproval) => ModuleDecision::RequireApproval,
        },
        reasons: p.reasons.clone(),
        warnings: p.warnings.clone(),
        error: p.error.as_ref().map(ToString::to_string),
        fuel_used: p.fuel_used,
        elapsed_ms: p.elapsed.as_secs_f64() * 1000.0,
        override_: p.override_outcome.map(|o| match o {
            OverrideOutcome::Overridden => OverrideMark::Overridden,
            OverrideOutcome::Refused => OverrideMark::Refused,
        }),
    }
}
