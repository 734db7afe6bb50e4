//! The policy gate of promotions and rollbacks: load ENV's modules (repo paths from the base
//! tip, never the working tree, and checked against their pin; `krew:` modules from the krew
//! store, checked against their package's pin), gather the facts into the
//! request of `specs/policy-abi.md`, evaluate every module and report each verdict.
//!
//! A denial is a result, not an error: the plan carries a [`PolicyVerdict`] and the binary turns
//! `deny` into exit 3 and unmet required approvals into exit 4.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use promote_core::Person;
use promote_core::config::{Environment, FailurePolicy as ConfigFailure, ModuleRef, PolicyRef};
use promote_core::image::{EnvVersion, ImageChange, ImageRef};
use promote_core::trailers::{self, Trailers};
use promote_policy::krew::{self, KrewRef};
use promote_policy::sdk::{self, EvaluationRequest, Operation, Verdict};
use promote_policy::{
    CacheMode, CacheStatus, ConfiguredPolicy, FailurePolicy, Host, HostConfig, ModuleSource,
    OverrideOutcome, SIDECAR, Sha256, SidecarText,
};

use crate::approvals::{self, ApprovalCheck, ApprovalRecord, RequiredApproval};
use crate::{Interaction, PromoteError, Session};

/// The wasmtime host, created once per command that evaluates policies.
pub struct PolicyRuntime {
    pub host: Host,
}

impl std::fmt::Debug for PolicyRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyRuntime")
    }
}

impl PolicyRuntime {
    /// `cache`: `<cache>/kubectl-promote` root for compiled modules, or `None` (`--no-cache`).
    pub fn new(cache: Option<PathBuf>) -> Result<PolicyRuntime, PromoteError> {
        let mode = match cache {
            Some(dir) => CacheMode::Dir(dir),
            None => CacheMode::Disabled,
        };
        let host =
            Host::new(HostConfig::new(mode)).map_err(|e| PromoteError::Policy(e.to_string()))?;
        Ok(PolicyRuntime { host })
    }
}

/// One module's verdict, for reports, JSON, trailers and PR bodies.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleVerdict {
    pub name: String,
    pub origin: String,
    pub sha256: String,
    /// `allow`, `deny`, `require-approval`, `error` (a policy error that denies:
    /// `failurePolicy: Fail`) or `ignored` (a policy error under `failurePolicy: Ignore`).
    pub decision: String,
    pub reasons: Vec<sdk::Reason>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub fuel_used: Option<u64>,
    pub elapsed_ms: f64,
    /// Under `--override-policy`, for a denial: `overridden`, or `refused` when the policy
    /// does not let it be overridden.
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<&'static str>,
}

impl ModuleVerdict {
    /// The verdict as the `Policy-Module` trailer and the PR body show it.
    pub fn outcome(&self) -> String {
        match self.override_ {
            Some(o) => format!("{} ({o})", self.decision),
            None => self.decision.clone(),
        }
    }
}

/// Every module's verdict and the combined decision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVerdict {
    /// `allow`, `deny` or `require-approval`, after any override (which sets denials aside,
    /// never approvals) and after the approvals on record were counted (an `allow` means they
    /// are met).
    pub decision: String,
    /// The reasons of the denials that stand.
    pub reasons: Vec<promote_policy::AttributedReason>,
    /// The reasons of the denials `--override-policy` set aside.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<promote_policy::AttributedReason>,
    pub required_approvals: Vec<RequiredApproval>,
    /// How each required approval stands (approvals on record and, in PR mode, reviews).
    pub approvals: Option<ApprovalCheck>,
    pub warnings: Vec<String>,
    pub policies: Vec<ModuleVerdict>,
    /// Set when `--override-policy` was given (only where the env allows it).
    #[serde(rename = "override")]
    pub override_: Option<OverrideDoc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverrideDoc {
    pub by: String,
    pub reason: String,
}

impl PolicyVerdict {
    pub fn denied(&self) -> bool {
        self.decision == "deny"
    }

    pub fn awaiting_approval(&self) -> bool {
        self.decision == "require-approval"
    }

    /// `Policy-Decision` and `Policy-Module` trailers (and `Policy-Override`).
    pub fn add_trailers(&self, t: &mut Trailers) {
        let decision = if self.overridden.is_empty() {
            self.decision.clone()
        } else {
            "deny (overridden)".to_owned()
        };
        t.push(trailers::POLICY_DECISION, decision);
        for p in &self.policies {
            t.push(
                trailers::POLICY_MODULE,
                format!("{} sha256:{} {}", p.origin, p.sha256, p.outcome()),
            );
        }
        if let Some(o) = &self.override_ {
            t.push(trailers::OVERRIDE, format!("{} by {}", o.reason, o.by));
        }
    }

    /// Markdown for a PR body.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "**Policy decision: {}**\n\n| policy | decision | reasons |\n|---|---|---|\n",
            self.decision
        );
        for p in &self.policies {
            // A policy error is said once: the error itself, not also the reason it became.
            let reasons: Vec<String> = match &p.error {
                Some(e) => vec![format!("policy error: {e}")],
                None => p
                    .reasons
                    .iter()
                    .map(|r| format!("{}: {}", r.code, r.message))
                    .collect(),
            };
            s.push_str(&format!(
                "| `{}` | {} | {} |\n",
                p.origin,
                p.outcome(),
                reasons.join("<br>").replace('|', "\\|")
            ));
        }
        for w in &self.warnings {
            s.push_str(&format!("\n> warning: {w}"));
        }
        if let Some(o) = &self.override_ {
            s.push_str(&format!(
                "\n\n**Policy override** by {}: {}",
                o.by, o.reason
            ));
        }
        s
    }
}

/// Load the modules: configured ones (for `op`) plus one-offs. Repo modules are read from the
/// base tip and must match their pin before anything is compiled.
///
/// A module whose `validate-settings` could not decide (a trap, a limit, bad output) is kept
/// with the error as its result, which its `failurePolicy` governs when the operation is
/// evaluated; settings it refuses (`valid: false`) are a configuration error. `progress` gets
/// a detail line when the compiled-module cache had to be repaired.
pub fn load(
    session: &Session,
    refs: &[PolicyRef],
    progress: &dyn Interaction,
) -> Result<Vec<ConfiguredPolicy>, PromoteError> {
    let runtime = session.policy_runtime()?;
    let mut out = Vec::new();
    for r in refs {
        let mut sidecar = None;
        let source = match &r.module {
            ModuleRef::Builtin(name) => ModuleSource::Builtin(name.clone()),
            ModuleRef::RepoPath(path) => {
                let bytes = session.repo.read_file(session.base, path)?.ok_or_else(|| {
                    PromoteError::Config(session.config.error(
                        format!("{}.module", r.key),
                        format!("no file `{path}` at {}", session.base_name()),
                        "commit the module to the base branch, or fix the path",
                    ))
                })?;
                let Some(pin) = &r.sha256 else {
                    return Err(PromoteError::Config(session.config.error(
                        format!("{}.sha256", r.key),
                        format!("repo module `{path}` is not pinned"),
                        format!("add `sha256: {}` (the digest of the module at {}) so a changed module is refused", Sha256::of(&bytes), session.base_name()),
                    )));
                };
                let pin: Sha256 = pin.parse().map_err(PromoteError::Policy)?;
                sidecar = repo_sidecar(session, path)?;
                ModuleSource::Bytes {
                    label: format!("{path}@{}", session.base_name()),
                    bytes,
                    sha256: Some(pin),
                }
            }
            ModuleRef::Krew(name) => {
                let key = format!("{}.module", r.key);
                let reference = KrewRef::parse(name).map_err(|e| PromoteError::Config(session.config.error(key.clone(), e, "name the plugin as `kubectl krew list` shows it, without `promote-policy-`")))?;
                let Some(root) = &session.policy.krew_root else {
                    return Err(PromoteError::Config(session.config.error(
                        key,
                        format!("{reference}: no krew root (neither KREW_ROOT nor HOME is set)"),
                        "set KREW_ROOT to krew's directory (default ~/.krew)",
                    )));
                };
                let installed = krew::find(root, &reference).map_err(|e| {
                    let (problem, fix) = match &e {
                        krew::KrewError::NotInstalled { plugin, receipt, install, .. } => (
                            format!("{reference}: the krew plugin {plugin} is not installed (no {receipt})"),
                            format!("install it: `{install}` (the index once: `kubectl krew index add {} <index git URL>`), or from files: `kubectl krew install --manifest=FILE --archive=FILE`", reference.index.as_deref().unwrap_or(krew::SUGGESTED_INDEX)),
                        ),
                        other => (other.to_string(), "`kubectl krew list` shows what krew installed".to_owned()),
                    };
                    PromoteError::Config(session.config.error(key, problem, fix))
                })?;
                // A `sha256:` next to a krew module pins it further (e.g. to what was reviewed).
                if let Some(pin) = &r.sha256 {
                    let pin: Sha256 = pin.parse().map_err(PromoteError::Policy)?;
                    if pin != installed.sha256 {
                        return Err(PromoteError::Config(session.config.error(
                            format!("{}.sha256", r.key),
                            format!("{} is installed with module sha256 {}, but the configuration pins {pin}", installed.label(), installed.sha256),
                            "install the reviewed version of the plugin, or update the pin if you trust the installed one",
                        )));
                    }
                }
                ModuleSource::Krew(installed)
            }
        };
        let policy = runtime
            .host
            .load_with_sidecar(&source, sidecar.as_ref())
            .map_err(|e| PromoteError::Policy(format!("{}: {e}", r.key)))?;
        note_cache(&runtime.host, &policy, progress);
        // Settings the module refuses are the configuration's fault: an error naming the key.
        // A module that cannot decide on them (a trap, a limit, bad output) is a policy error
        // like any other, kept for its failure policy to judge when the operation runs.
        let settings_error = match runtime.host.validate_settings(&policy, &r.settings) {
            Ok(v) if !v.valid => {
                return Err(PromoteError::Config(session.config.error(
                    format!("{}.settings", r.key),
                    format!(
                        "{} refuses its settings: {}",
                        r.module,
                        v.message.unwrap_or_default()
                    ),
                    format!(
                        "see `kubectl promote policy inspect {}` for the settings it takes",
                        r.module
                    ),
                )));
            }
            Ok(_) => None,
            Err(e) => Some(e),
        };
        out.push(ConfiguredPolicy {
            policy: Arc::new(policy),
            settings: r.settings.clone(),
            failure_policy: match r.failure_policy {
                ConfigFailure::Fail => FailurePolicy::Fail,
                ConfigFailure::Ignore => FailurePolicy::Ignore,
            },
            settings_error,
        });
    }
    for path in &session.policy.one_offs {
        let policy = runtime
            .host
            .load(&ModuleSource::File {
                path: path.clone(),
                sha256: None,
            })
            .map_err(|e| PromoteError::Policy(format!("--policy {}: {e}", path.display())))?;
        note_cache(&runtime.host, &policy, progress);
        out.push(ConfiguredPolicy {
            policy: Arc::new(policy),
            settings: serde_json::json!({}),
            failure_policy: FailurePolicy::Fail,
            settings_error: None,
        });
    }
    Ok(out)
}

/// Says (as a detail, shown with `-v`) when a module's compiled artifact in the cache could
/// not be used and was rebuilt: a corrupted cache heals itself, but not silently.
pub fn note_cache(host: &Host, policy: &promote_policy::Policy, progress: &dyn Interaction) {
    if let CacheStatus::Healed(why) = policy.cache_status() {
        let path = host
            .cache_path(&policy.sha256())
            .map_or_else(String::new, |p| format!(" {}", p.display()));
        progress.detail(&format!(
            "{}: the compiled-module cache entry{path} was not used ({why}); recompiled and replaced it",
            policy.origin()
        ));
    }
}

/// The `promote-policy.yaml` beside a repo-path module at the base tip, if there is one: the
/// metadata of modules without a metadata custom section (Go, and anything not built with the
/// Rust SDK). It comes from the same revision as `promote.yaml`, so it is as trusted.
pub fn repo_sidecar(
    session: &Session,
    module_path: &str,
) -> Result<Option<SidecarText>, PromoteError> {
    let dir = module_path.rsplit_once('/').map_or("", |(d, _)| d);
    let path = if dir.is_empty() {
        SIDECAR.to_owned()
    } else {
        format!("{dir}/{SIDECAR}")
    };
    let Some(bytes) = session.repo.read_file(session.base, &path)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        PromoteError::Policy(format!("{path}@{}: not UTF-8 text", session.base_name()))
    })?;
    Ok(Some(SidecarText {
        place: format!("{path}@{}", session.base_name()),
        text,
    }))
}

/// What every environment runs in git (and, when known, in Argo CD).
pub fn environments(session: &Session) -> Result<BTreeMap<String, sdk::Environment>, PromoteError> {
    let mut out = BTreeMap::new();
    for env in &session.config.environments {
        let overlay = session.overlay_at(env, session.base)?;
        let images = overlay.image_map();
        let last = session
            .repo
            .log_path(session.base, overlay.file(), 1, crate::rollback::MAX_WALK)?
            .into_iter()
            .next();
        out.insert(
            env.name.clone(),
            sdk::Environment {
                version: EnvVersion::of(images.values())
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                protected: env.protected,
                images: images
                    .iter()
                    .map(|(k, v)| (k.clone(), to_sdk_ref(v)))
                    .collect(),
                git: last.map(|c| sdk::GitState {
                    revision: c.id.to_string(),
                    committed_at: Some(crate::status::rfc3339(c.time)),
                }),
                argocd: session.policy.argocd_facts.get(&env.name).cloned(),
            },
        );
    }
    Ok(out)
}

pub(crate) fn to_sdk_ref(r: &ImageRef) -> sdk::ImageRef {
    sdk::ImageRef {
        tag: r.tag.clone(),
        digest: r.digest.clone(),
    }
}

/// The records as policies see them: ours carry more (the account, how the identity was
/// verified, the commit); the request's shape keeps `name`, `email` and the computed `verified`.
fn to_sdk_records(records: &[ApprovalRecord]) -> Vec<sdk::ApprovalRecord> {
    records
        .iter()
        .filter_map(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())
        })
        .collect()
}

/// The actor, as the request names it.
pub fn actor(session: &Session, person: &Person) -> sdk::Actor {
    sdk::Actor {
        name: Some(person.name.clone()),
        email: Some(person.email.clone()),
        kube_user: session.policy.kube_user.clone(),
        verified: false,
    }
}

/// Evaluate and combine; count approvals on record against required ones.
#[expect(
    clippy::too_many_arguments,
    reason = "the request's parts come from several places"
)]
pub fn evaluate(
    session: &Session,
    env: &Environment,
    policies: &[ConfiguredPolicy],
    operation: Operation,
    requested_by: &Person,
    version: &str,
    promoted: &BTreeMap<String, ImageRef>,
    progress: &dyn Interaction,
) -> Result<PolicyVerdict, PromoteError> {
    // Only records by approvers reach policies; who counts, and whether they were verified, is
    // decided here, when the records are read. A promotion stops on records it cannot read (a
    // broken approverKeys file is an error naming the fix); a rollback, which approvals do not
    // gate, goes on without them, saying why.
    let records = match approvals::list(session, progress) {
        Ok(records) => records.counted,
        Err(e) if matches!(operation, Operation::Rollback(_)) => {
            progress.warn(&format!(
                "approval records not given to the rollback policies: {e}"
            ));
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let request = EvaluationRequest {
        operation,
        settings: serde_json::json!({}),
        environments: environments(session)?,
        approvals: to_sdk_records(&records),
        context: sdk::Context {
            now: session.now(),
            dry_run: session.policy.dry_run,
            promote_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
    };
    progress.step(&format!(
        "evaluating {} polic{} for {}",
        policies.len(),
        if policies.len() == 1 { "y" } else { "ies" },
        env.name
    ));
    let combined = session
        .policy_runtime()?
        .host
        .evaluate_all(policies, &request);
    let override_ = session
        .policy
        .override_reason
        .as_ref()
        .map(|reason| OverrideDoc {
            by: requested_by.to_string(),
            reason: reason.clone(),
        });
    let required: Vec<RequiredApproval> = combined
        .required_approvals
        .iter()
        .map(|a| RequiredApproval {
            // A requirement's id is `role` or `role@env` (e.g. `qa@staging`); records and
            // reviews are counted by role.
            id: a.id.split('@').next().unwrap_or(&a.id).to_owned(),
            environment: if a.environment.is_empty() {
                env.name.clone()
            } else {
                a.environment.clone()
            },
            count: a.count,
            reason: a.reason.clone(),
            verified: a.verified,
        })
        .collect();
    let mut decision = match combined.decision {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
        Verdict::RequireApproval => "require-approval",
    }
    .to_owned();
    let approvals = (!required.is_empty())
        .then(|| approvals::check_required(&required, version, promoted, &records, None));
    if decision == "require-approval" && approvals.as_ref().is_some_and(ApprovalCheck::is_met) {
        decision = "allow".into();
    }
    let policies = combined
        .policies
        .iter()
        .map(|p| ModuleVerdict {
            name: p.name.clone(),
            origin: p.origin.clone(),
            sha256: p.sha256.clone(),
            decision: match (&p.error, p.failure_policy, p.decision) {
                (Some(_), FailurePolicy::Fail, _) => "error".into(),
                (Some(_), FailurePolicy::Ignore, _) => "ignored".into(),
                (None, _, Verdict::Allow) => "allow".into(),
                (None, _, Verdict::Deny) => "deny".into(),
                (None, _, Verdict::RequireApproval) => "require-approval".into(),
            },
            reasons: p.reasons.clone(),
            warnings: p.warnings.clone(),
            error: p.error.as_ref().map(ToString::to_string),
            fuel_used: p.fuel_used,
            elapsed_ms: p.elapsed.as_secs_f64() * 1000.0,
            override_: p.override_outcome.map(|o| match o {
                OverrideOutcome::Overridden => "overridden",
                OverrideOutcome::Refused => "override refused",
            }),
        })
        .collect();
    Ok(PolicyVerdict {
        decision,
        reasons: combined.reasons,
        overridden: combined.overridden,
        required_approvals: required,
        approvals,
        warnings: combined.warnings,
        policies,
        override_,
    })
}

/// The promotion half of the request.
#[expect(
    clippy::too_many_arguments,
    reason = "the promotion's parts come from the draft, the config and the flags"
)]
pub fn promotion_operation(
    env: &Environment,
    from: Option<&str>,
    version: &str,
    previous: Option<&str>,
    changes: &[ImageChange],
    mode: promote_core::config::Mode,
    actor: sdk::Actor,
    override_: Option<&OverrideDoc>,
) -> Operation {
    Operation::Promote(sdk::Promotion {
        environment: env.name.clone(),
        from: from.map(str::to_owned),
        version: version.to_owned(),
        previous_version: previous.map(str::to_owned),
        images: changes
            .iter()
            .map(|c| sdk::ImageChange {
                name: c.name.clone(),
                new_name: c.new_name.clone(),
                from: to_sdk_ref(&c.from),
                to: to_sdk_ref(&c.to),
            })
            .collect(),
        mode: match mode {
            promote_core::config::Mode::Pr => sdk::PromotionMode::Pr,
            promote_core::config::Mode::Direct => sdk::PromotionMode::Direct,
        },
        override_: override_.map(|o| sdk::Override {
            by: actor.clone(),
            reason: o.reason.clone(),
        }),
        requested_by: actor,
    })
}

/// The rollback policies' verdict on an Argo CD history rollback (None: none configured).
pub fn argocd_rollback_verdict(
    session: &Session,
    env: &Environment,
    plan: &crate::argo::RollbackPlan,
    author: &Person,
    progress: &dyn Interaction,
) -> Result<Option<PolicyVerdict>, PromoteError> {
    crate::promote::check_override(session, env)?;
    if env.rollback_policies.is_empty() && session.policy.one_offs.is_empty() {
        return Ok(None);
    }
    let policies = load(session, &env.rollback_policies, progress)?;
    let actor = actor(session, author);
    let to_version = plan.to.version.clone().unwrap_or_else(|| "mixed".into());
    let op = Operation::Rollback(sdk::Rollback {
        environment: env.name.clone(),
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
        override_: session
            .policy
            .override_reason
            .as_ref()
            .map(|r| sdk::Override {
                by: actor.clone(),
                reason: r.clone(),
            }),
        requested_by: actor,
    });
    // What the target revision's overlay pins: the images the rollback brings back.
    let promoted = match plan.to.revision.as_deref().map(|r| session.repo.resolve(r)) {
        Some(Ok(at)) => session
            .overlay_at(env, at)
            .map(|o| o.image_map())
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    evaluate(
        session,
        env,
        &policies,
        op,
        author,
        &to_version,
        &promoted,
        progress,
    )
    .map(Some)
}
