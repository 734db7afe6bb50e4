//! Promotions in waves: `kubectl promote prod v1.0.1` where promote.yaml declares `waves: [{name:
//! prod, environments: [prod-eu, prod-us]}]`, or `kubectl promote prod-eu,prod-us v1.0.1`.
//! Each wave is a whole promotion (policies see `promotion.wave`), waited for and verified
//! before the next starts; the first wave that does not end deployed and verified stops the
//! run, later waves stay untouched, and the outcome says where it stopped. `--resume-waves`
//! continues: a wave whose overlay already has the version is not promoted again but synced,
//! waited for and verified again (a note on a commit is not proof it was verified).

use std::time::Duration;

use serde::Serialize;

use promote_policy::sdk;

use crate::after_deploy;
use crate::deploy::{Deployment, Waited};
use crate::plan::Landed;
use crate::ports::Ports;
use crate::promotion::{self, Delivered, Outcome};
use crate::verify_deploy::{self, Followed};
use crate::{Interaction, PromoteError, Session, sync};

/// `kubectl promote ENV …` for one environment: the promotion, then (when its deploy was
/// waited for) the checks after it and the rollback they may call for.
pub fn run_one(
    ports: &Ports,
    req: promotion::Request,
    ui: &dyn Interaction,
) -> Result<Outcome, PromoteError> {
    let mut outcome = promotion::run(ports, req, ui)?;
    if let Outcome::Landed(d) = &mut outcome {
        follow_deploy(ports, d, ui)?;
    }
    Ok(outcome)
}

/// The checks (and the rollback) after a landing whose deploy was waited for.
fn follow_deploy(
    ports: &Ports,
    d: &mut Delivered,
    ui: &dyn Interaction,
) -> Result<(), PromoteError> {
    let Some(after) = d.after.take() else {
        return Ok(());
    };
    let waited = match &d.deployment {
        Some(Ok(Deployment::Waited { waited, .. })) => Some(waited),
        Some(Ok(Deployment::NoApp)) => None,
        Some(Ok(Deployment::Refreshed)) => {
            if !after.spec.is_empty() {
                ui.warn(&format!(
                    "{}'s checks after the deploy run with --wait; they were not run",
                    d.plan.environment
                ));
            }
            return Ok(());
        }
        Some(Err(_) | Ok(Deployment::Apps { .. })) | None => return Ok(()),
    };
    let failed_wait = waited.is_some_and(|w| !w.is_ready());
    if after.spec.is_empty() && !(failed_wait && after.spec.rollback_on_failure) {
        return Ok(());
    }
    let session = Session::open(&ports.workspace, ui)?;
    let deployed = verify_deploy::Deployed {
        env: &d.plan.environment,
        commit: d.landed.commit_and_branch().0,
        version: d.plan.version.as_deref(),
        previous_version: d.plan.previous_version.as_deref(),
        author: &d.plan.author,
        waited,
    };
    let followed = verify_deploy::follow(ports, &session, &after, &deployed, ui)?;
    d.verification = followed.verification;
    d.auto_rollback = followed.auto_rollback;
    Ok(())
}

/// A wave waits this long for its deploy unless `--wait` says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30 * 60);

/// What `kubectl promote ENV|WAVE …` came to.
#[derive(Debug)]
pub enum Promoted {
    One(Box<Outcome>),
    Waves(WavesOutcome),
}

/// `kubectl promote ENV|WAVE|ENV,ENV …`: one promotion (and the checks after its deploy), or
/// waves one after the other; `--resume-waves` only where ENV names waves.
pub fn promote(
    ports: &Ports,
    req: promotion::Request,
    resume_waves: bool,
    ui: &dyn Interaction,
) -> Result<Promoted, PromoteError> {
    match target(ports, &req.change.env, ui)? {
        Target::One if resume_waves => Err(PromoteError::Usage(format!(
            "--resume-waves: {} is one environment, not waves; name a wave of promote.yaml or a list such as prod-eu,prod-us",
            req.change.env
        ))),
        Target::One => run_one(ports, req, ui).map(|o| Promoted::One(Box::new(o))),
        Target::Waves { name, environments } => {
            run(ports, &req, (&name, &environments), resume_waves, ui).map(Promoted::Waves)
        }
    }
}

/// What ENV (as given) names: one environment, or waves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    One,
    Waves {
        name: String,
        environments: Vec<String>,
    },
}

/// Reads whether `env` is a comma list or a wave of promote.yaml (as last fetched; with no
/// local copy, as fetched now).
fn target(ports: &Ports, env: &str, ui: &dyn Interaction) -> Result<Target, PromoteError> {
    if env.contains(',') {
        let environments: Vec<String> = env.split(',').map(str::to_owned).collect();
        return Ok(Target::Waves {
            name: env.to_owned(),
            environments,
        });
    }
    // The last fetch's promote.yaml answers without a network round trip when it knows the
    // name; a name it does not know is looked up again after a fetch (a wave added upstream).
    let known = crate::rollback::last_fetched_config(ports)
        .filter(|c| c.wave(env).is_some() || c.env(env).is_ok());
    let config = match known {
        Some(c) => c,
        None => Session::open(&ports.workspace, ui)?.config,
    };
    Ok(match config.wave(env) {
        Some(w) => Target::Waves {
            name: w.name.clone(),
            environments: w.environments.clone(),
        },
        None => Target::One,
    })
}

/// How one wave went.
#[derive(Debug)]
pub enum Step {
    /// Promoted (or planned, denied, …) like any promotion.
    Promoted(Box<Outcome>),
    /// `--resume-waves`: the overlay already had the version; synced, waited for and checked
    /// again.
    Rechecked {
        /// `None`: the environment has no Argo CD application.
        sync: Option<Box<sync::SyncResult>>,
        followed: Box<Followed>,
    },
    /// It failed before it could be judged.
    Failed(PromoteError),
}

/// A run of waves.
#[derive(Debug)]
pub struct WavesOutcome {
    pub name: String,
    pub environments: Vec<String>,
    /// One per wave run, in order; waves after the stop are not here.
    pub steps: Vec<(String, Step)>,
    /// Where and why the run stopped before the last wave was done; `None`: every wave done
    /// (or planned, with `--dry-run`).
    pub stopped: Option<Stopped>,
}

/// Where a run of waves stopped.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stopped {
    pub environment: String,
    /// 1-based.
    pub index: u32,
    pub reason: String,
    /// The waves left untouched.
    pub untouched: Vec<String>,
}

/// Promote `req` wave by wave.
pub fn run(
    ports: &Ports,
    req: &promotion::Request,
    (name, environments): (&str, &[String]),
    resume_waves: bool,
    ui: &dyn Interaction,
) -> Result<WavesOutcome, PromoteError> {
    let of = environments.len() as u32;
    let mut out = WavesOutcome {
        name: name.to_owned(),
        environments: environments.to_vec(),
        steps: Vec::new(),
        stopped: None,
    };
    for (i, env) in environments.iter().enumerate() {
        let wave = sdk::Wave {
            name: name.to_owned(),
            index: i as u32 + 1,
            of,
            previous: environments[..i].to_vec(),
        };
        ui.step(&format!("wave {}/{of}: {env}", wave.index));
        let mut r = req.clone();
        r.change.env = env.clone();
        r.wave = Some(wave.clone());
        if !r.dry_run {
            r.wait = Some(req.wait.unwrap_or(DEFAULT_WAIT));
        }
        let step = match run_one(ports, r.clone(), ui) {
            Ok(Outcome::AlreadyAt(a)) if resume_waves && !req.dry_run => {
                recheck(ports, &r, a.version.as_deref(), ui)
            }
            Ok(o) => Step::Promoted(Box::new(o)),
            Err(e) => Step::Failed(e),
        };
        let stop = why_stop(&step, resume_waves, req.dry_run);
        out.steps.push((env.clone(), step));
        if let Some(reason) = stop {
            out.stopped = Some(Stopped {
                environment: env.clone(),
                index: wave.index,
                reason,
                untouched: environments[i + 1..].to_vec(),
            });
            break;
        }
    }
    Ok(out)
}

/// A wave already at the version, under `--resume-waves`: sync and wait, then the checks.
fn recheck(
    ports: &Ports,
    r: &promotion::Request,
    version: Option<&str>,
    ui: &dyn Interaction,
) -> Step {
    let env = r.change.env.clone();
    ui.step(&format!(
        "{env} already has {}: syncing and verifying it again",
        version.unwrap_or("the version")
    ));
    let done = (|| -> Result<Step, PromoteError> {
        let session = Session::open(&ports.workspace, ui)?;
        let cfg_env = session.config.env(&env)?.clone();
        let prepared = after_deploy::prepare(ports, &cfg_env, &r.after, r.wave.clone(), r.images)?;
        let synced = if cfg_env.argocd.is_some() {
            Some(sync::run(
                ports,
                sync::Request {
                    env: env.clone(),
                    wait: r.wait,
                },
                ui,
            )?)
        } else {
            None
        };
        let commit = session.base.to_string();
        let author = verify_deploy::acting_person(&session);
        let deployed = verify_deploy::Deployed {
            env: &env,
            commit: synced
                .as_ref()
                .map_or(commit.as_str(), |s| s.revision.as_str()),
            version,
            previous_version: None,
            author: &author,
            waited: synced.as_ref().and_then(|s| s.wait.as_ref()),
        };
        let followed = verify_deploy::follow(ports, &session, &prepared, &deployed, ui)?;
        Ok(Step::Rechecked {
            sync: synced.map(Box::new),
            followed: Box::new(followed),
        })
    })();
    done.unwrap_or_else(Step::Failed)
}

/// Why the run stops after `step`; `None`: go on to the next wave.
fn why_stop(step: &Step, resume_waves: bool, dry_run: bool) -> Option<String> {
    match step {
        Step::Failed(e) => Some(crate::deploy::connect::one_line(e)),
        Step::Rechecked { sync, followed } => {
            let waited = sync.as_ref().and_then(|s| s.wait.as_ref());
            followed.failed(waited).then(|| failure(waited, followed))
        }
        Step::Promoted(o) => match o.as_ref() {
            Outcome::DryRun(_) if dry_run => None,
            Outcome::DryRun(_) => Some("planned only".into()),
            Outcome::AlreadyAt(_) if resume_waves || dry_run => None,
            Outcome::AlreadyAt(a) => Some(format!(
                "{} already has {}: an earlier run may have stopped after it; pass --resume-waves to verify it again and go on",
                a.environment,
                a.version.as_deref().unwrap_or("the version")
            )),
            Outcome::Denied(_) => Some("the policies denied it".into()),
            Outcome::AwaitingApproval(_) => Some("it awaits approvals".into()),
            Outcome::NotConfirmed(_) => Some("not confirmed".into()),
            Outcome::Landed(d) => {
                let waited = match &d.deployment {
                    Some(Ok(Deployment::Waited { waited, .. })) => Some(waited),
                    Some(Err(e)) => return Some(crate::deploy::connect::one_line(e)),
                    _ => None,
                };
                match &d.landed {
                    Landed::Pushed { .. } | Landed::PrMerged(_) => {}
                    Landed::PrOpen(pr) | Landed::PrAwaitingApproval(pr) => {
                        return Some(format!(
                            "its pull request #{} is not merged yet; after it merges and deploys, run again with --resume-waves",
                            pr.number
                        ));
                    }
                    Landed::BranchPushed { branch, .. } => {
                        return Some(format!(
                            "its branch {branch} awaits a pull request; after it merges, run again with --resume-waves"
                        ));
                    }
                    Landed::PrClosedUnmerged(pr) => {
                        return Some(format!(
                            "its pull request #{} was closed unmerged",
                            pr.number
                        ));
                    }
                }
                let followed = Followed {
                    verification: d.verification.clone(),
                    auto_rollback: d.auto_rollback.clone(),
                };
                followed.failed(waited).then(|| failure(waited, &followed))
            }
        },
    }
}

fn failure(waited: Option<&Waited>, f: &Followed) -> String {
    let mut why = match (waited, &f.verification) {
        (Some(w), _) if !w.is_ready() => verify_deploy::not_ready(w),
        (_, Some(v)) => v.failure.clone().unwrap_or_default(),
        _ => "the deploy failed".into(),
    };
    if let Some(rb) = &f.auto_rollback {
        why.push_str("; ");
        why.push_str(&rb.message);
    }
    why
}
