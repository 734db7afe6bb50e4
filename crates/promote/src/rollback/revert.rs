//! `rollback --strategy revert`: go back in git, reviewed like a promotion. The promotion to
//! undo is found by [`super::walk`]; the revert is then an ordinary byte-minimal edit of today's
//! overlay back to the images of the target, committed without a working tree, pushed or
//! opened as a pull request exactly like a promotion.

use promote_core::Person;
use promote_core::config::{Environment, Mode};
use promote_core::image::EnvVersion;
use promote_core::overlay::{Overlay, PlanOptions, Target};
use promote_git::CommitId;
use promote_policy::sdk;

use super::walk::{MAX_CHANGES, OverlayChange, overlay_changes};
use crate::gate::{Judged, Operation, PolicyContext};
use crate::plan::Prepared;
use crate::promotion::draft::{Draft, Planner, finish};
use crate::promotion::message::{self, Subject};
use crate::{Interaction, PromoteError, Session};

/// Which state to go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The state before the promotion that brought the running version.
    Previous,
    /// The newest state in which the environment ran this version.
    Version(String),
    /// The overlay as it was at this commit.
    Revision(String),
}

/// What to revert.
#[derive(Debug, Clone)]
pub struct RevertRequest {
    pub env: String,
    pub target: RollbackTarget,
    pub mode: Option<Mode>,
    pub message: Option<String>,
    pub author: Option<Person>,
}

/// Plan the revert. Writes nothing; [`crate::promotion::apply`] lands the plan.
pub fn prepare_revert(
    planner: &Planner<'_>,
    req: &RevertRequest,
    ui: &dyn Interaction,
) -> Result<Prepared, PromoteError> {
    let session = planner.gate.session;
    let env = session.config.env(&req.env)?.clone();
    let current = session.overlay_at(&env, session.base)?;
    let running = EnvVersion::of(current.image_map().values());
    ui.step(&format!("walking the history of {}", current.file()));
    let file = current.file().to_owned();
    let (target_at, undone) = find_target(session, &env, &req.target, &current)?;
    let target_text = session.repo.read_file(target_at, &file)?.ok_or_else(|| {
        PromoteError::NoRevertTarget(format!("{file} does not exist at {}", target_at.short()))
    })?;
    let target_overlay = current.reparse(
        &format!("{file}@{}", target_at.short()),
        &String::from_utf8_lossy(&target_text),
    )?;
    let (edits, changes) = current.plan(
        &Target::Upstream(&target_overlay),
        &PlanOptions {
            drop_digests: false,
            ..Default::default()
        },
    )?;
    let version = EnvVersion::of(target_overlay.image_map().values())
        .as_str()
        .map(str::to_owned);
    if changes.is_empty() {
        return Ok(Prepared::AlreadyAt {
            environment: env.name.clone(),
            version,
            overlay_file: file,
        });
    }
    let draft = Draft {
        env: &env,
        overlay: &current,
        edits: &edits,
        changes,
        version,
        previous_version: running.as_str().map(str::to_owned),
        from: None,
        mode: req.mode.unwrap_or(env.mode),
        author: req.author.clone(),
    };
    planner.gate.check_override(&env)?;
    let running_version = running.as_str().unwrap_or("").to_owned();
    let subject = Subject::Revert {
        reverts: undone
            .as_ref()
            .map(|u| (u.commit.as_str(), u.subject.as_str())),
        name_it: req.target == RollbackTarget::Previous,
    };
    // The revert target's images must still exist: a registry's retention may have deleted them.
    let plan = finish(
        planner,
        draft,
        &[],
        &|d, author, _render_diff| {
            let to_version = d.version.as_deref().unwrap_or("mixed");
            planner.gate.judge(
                &Judged {
                    env: d.env,
                    operation: Operation::Rollback {
                        strategy: sdk::RollbackStrategy::Revert,
                        from: sdk::RollbackFrom {
                            version: running_version.clone(),
                            revision: Some(session.base.to_string()),
                            deployed_at: None,
                        },
                        to: revert_target(planner.gate.context, &d.env.name, to_version, target_at),
                    },
                    version: to_version,
                    promoted: &d.promoted(),
                    author,
                },
                ui,
            )
        },
        &message::builder(session, &subject, req.message.as_deref()),
        ui,
    )?;
    Ok(Prepared::Ready(Box::new(plan)))
}

/// The commit whose images the revert goes back to, and the change being undone.
fn find_target(
    session: &Session,
    env: &Environment,
    target: &RollbackTarget,
    current: &Overlay,
) -> Result<(CommitId, Option<OverlayChange>), PromoteError> {
    let mut changes = overlay_changes(session, &env.name)?.take(MAX_CHANGES);
    match target {
        RollbackTarget::Previous => before_running(session, current, &mut changes),
        RollbackTarget::Version(v) => newest_running(session, env, current.file(), v, changes),
        RollbackTarget::Revision(rev) => {
            Ok((session.repo.resolve(rev)?, changes.next().transpose()?))
        }
    }
}

/// The oldest commit of the newest run of changes that already showed today's images is the
/// promotion that brought them; its parent holds what ran before.
fn before_running(
    session: &Session,
    current: &Overlay,
    changes: &mut dyn Iterator<Item = Result<OverlayChange, PromoteError>>,
) -> Result<(CommitId, Option<OverlayChange>), PromoteError> {
    let file = current.file();
    let today = current.image_map();
    let running = EnvVersion::of(today.values());
    let mut promotion = None;
    for change in changes {
        let change = change?;
        if change.images == today {
            promotion = Some(change);
        } else {
            break;
        }
    }
    let promotion = promotion.ok_or_else(|| {
        PromoteError::NoRevertTarget(format!("found no change of {file} that brought {running}"))
    })?;
    let parent = session
        .repo
        .commit_info(promotion.id.expect("walked commits have ids"))?
        .parents
        .first()
        .copied();
    let parent = parent.ok_or_else(|| {
        PromoteError::NoRevertTarget(format!(
            "{} ({}) is the first commit of {file}: there is nothing before it",
            &promotion.commit[..7],
            running.as_str().unwrap_or("?")
        ))
    })?;
    Ok((parent, Some(promotion)))
}

/// The newest change that ran `version`; the newest change of all is what is undone (the hit
/// itself when it is the newest).
fn newest_running(
    session: &Session,
    env: &Environment,
    file: &str,
    version: &str,
    changes: impl Iterator<Item = Result<OverlayChange, PromoteError>>,
) -> Result<(CommitId, Option<OverlayChange>), PromoteError> {
    let mut walked: Vec<OverlayChange> = Vec::new();
    let mut hit = None;
    for change in changes {
        let change = change?;
        if change.version.as_deref() == Some(version) {
            hit = change.id;
            break;
        }
        walked.push(change);
    }
    let Some(hit) = hit else {
        let mut seen: Vec<String> = Vec::new();
        for v in walked.iter().filter_map(|c| c.version.clone()) {
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        return Err(PromoteError::NoRevertTarget(format!(
            "--to {version}: {} never ran {version} in the last {} changes of {file} (it ran: {})",
            env.name,
            walked.len(),
            seen.join(", ")
        )));
    };
    let newest = match walked.into_iter().next() {
        Some(c) => c,
        None => overlay_changes(session, &env.name)?
            .next()
            .transpose()?
            .expect("the hit is a change"),
    };
    Ok((hit, Some(newest)))
}

/// The revert's target as the policies see it: where Argo CD's history shows that version ran
/// (the newest such entry), its id, time and recorded health; else the git commit alone.
fn revert_target(
    context: &PolicyContext,
    env: &str,
    version: &str,
    at: CommitId,
) -> sdk::RollbackTo {
    let at = at.to_string();
    let entry = context.argocd.get(env).and_then(|f| {
        f.history
            .iter()
            .rev()
            .find(|h| h.revision == at || h.version.as_deref() == Some(version))
    });
    sdk::RollbackTo {
        version: version.to_owned(),
        revision: entry.map_or(at, |h| h.revision.clone()),
        history_id: entry.map(|h| h.id),
        deployed_at: entry.and_then(|h| h.deployed_at.clone()),
        was_healthy: entry.and_then(|h| h.was_healthy),
    }
}
