//! Landing a plan (DESIGN steps 5–6): commit with trailers and push, directly to the base branch
//! or through a pull request ([`super::pr`]). A direct push that loses a race is rebuilt on the
//! new tip only when that tip did not touch this environment's overlay; never forced.

use std::collections::BTreeMap;
use std::thread;

use promote_core::config::Mode;
use promote_core::image::EnvVersion;
use promote_core::trailers::{self, Trailers};
use promote_git::{CommitId, PushOutcome};

use super::commit::commit_on;
use super::pr::{self, PrOptions};
use crate::plan::{Landed, Plan};
use crate::render::Renderer;
use crate::{Interaction, PromoteError, Session};

/// How often a direct push is rebuilt on a moved tip before giving up. Every lost push means
/// another push landed first, so this bounds how many others may land meanwhile: ten CI jobs
/// promoting ten environments at once all land (`tests/testsuite/races.rs`).
const DIRECT_ATTEMPTS: usize = 20;

/// Commit and push a prepared plan (PR mode without a forge: push the branch).
pub fn apply(
    session: &Session,
    plan: &Plan,
    renderer: &Renderer,
    ui: &dyn Interaction,
) -> Result<Landed, PromoteError> {
    apply_with(session, plan, renderer, &PrOptions::default(), ui)
}

/// [`apply`] with what PR mode needs: the forge, the required approvals and `--wait`
/// ([`super::pr`]). Without a forge, PR mode pushes the branch and returns the compare URL.
pub fn apply_with(
    session: &Session,
    plan: &Plan,
    renderer: &Renderer,
    pr: &PrOptions<'_>,
    ui: &dyn Interaction,
) -> Result<Landed, PromoteError> {
    match plan.mode {
        Mode::Direct => push_direct(session, plan, renderer, ui),
        Mode::Pr => pr::land(session, plan, pr, ui),
    }
}

fn signed(sign: bool) -> &'static str {
    if sign { "signed" } else { "unsigned" }
}

/// Push to the base branch, rebuilding on a moved tip that left ENV's overlay alone.
fn push_direct(
    session: &Session,
    plan: &Plan,
    renderer: &Renderer,
    ui: &dyn Interaction,
) -> Result<Landed, PromoteError> {
    let repo = &session.repo;
    let mut base = plan.base_id.unwrap_or(session.base);
    let edits = plan.edits();
    let overlay_ids = edits
        .iter()
        .map(|e| repo.path_id(base, e.dir))
        .collect::<Result<Vec<_>, _>>()?;
    for attempt in 1..=DIRECT_ATTEMPTS {
        let (commit, sign) = commit_on(session, plan, base)?;
        ui.checkpoint("before-push");
        ui.step(&format!(
            "pushing {} to {} ({})",
            commit.short(),
            session.base_name(),
            signed(sign)
        ));
        match repo.push(&session.remote, commit, &session.base_branch)? {
            PushOutcome::Pushed => {
                return Ok(Landed::Pushed {
                    commit: commit.to_string(),
                    branch: session.base_branch.clone(),
                    attempts: attempt,
                });
            }
            PushOutcome::Behind => {
                ui.step(&format!(
                    "{} moved while promoting; checking whether {} was touched",
                    session.base_name(),
                    plan.environment
                ));
                thread::sleep(backoff(attempt));
                repo.fetch(&session.remote)?;
                let tip = repo
                    .remote_tip(&session.remote, &session.base_branch)?
                    .ok_or_else(|| promote_git::GitError::NoBranch {
                        remote: session.remote.clone(),
                        branch: session.base_branch.clone(),
                    })?;
                for (e, id) in edits.iter().zip(&overlay_ids) {
                    if repo.path_id(tip, e.dir)? != *id {
                        return Err(raced(session, plan, e.dir, tip));
                    }
                }
                // Someone else changed other files: our edits still apply as they are. The
                // base they changed may affect the renders, so check them again.
                for e in &edits {
                    let rerender: BTreeMap<String, Vec<u8>> =
                        [(e.file.to_owned(), e.new_text.as_bytes().to_vec())].into();
                    renderer.render(repo, tip, &rerender, e.render_target)?;
                }
                base = tip;
            }
        }
    }
    Err(PromoteError::TooManyRetries {
        attempts: DIRECT_ATTEMPTS,
    })
}

/// A short, growing, jittered pause before rebuilding on a moved tip, so that processes that
/// lost the same race do not all push again in lockstep.
fn backoff(attempt: usize) -> std::time::Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    let base = u64::try_from(attempt.min(10)).unwrap_or(10) * 20;
    std::time::Duration::from_millis(base + u64::from(jitter % 50))
}

fn raced(session: &Session, plan: &Plan, dir: &str, tip: CommitId) -> PromoteError {
    let repo = &session.repo;
    // With several apps, the one whose overlay moved.
    let raced_plan = plan
        .apps
        .iter()
        .find(|p| p.overlay_dir == dir)
        .unwrap_or(plan);
    let env = session
        .config
        .env(&plan.environment)
        .ok()
        .filter(|e| e.overlay == dir);
    let now = env
        .and_then(|e| session.overlay_at(e, tip).ok())
        .map(|o| EnvVersion::of(o.image_map().values()).to_string())
        .unwrap_or_else(|| "(unreadable)".into());
    let who = repo
        .log_path(tip, dir, 1, 10_000)
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|c| {
            (
                c.id.short(),
                Trailers::parse(&c.message)
                    .get(trailers::PROMOTED_BY)
                    .map(str::to_owned)
                    .unwrap_or_else(|| c.author.to_string()),
            )
        })
        .unwrap_or_else(|| (tip.short(), "someone".into()));
    PromoteError::Raced {
        env: match &raced_plan.app {
            Some(app) => format!("{} (app {app})", plan.environment),
            None => plan.environment.clone(),
        },
        from: raced_plan
            .previous_version
            .clone()
            .unwrap_or_else(|| "(no tag)".into()),
        to: now,
        commit: who.0,
        by: who.1,
    }
}
