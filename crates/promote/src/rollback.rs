//! `kubectl promote rollback ENV --strategy revert`: go back in git, reviewed like a promotion.
//!
//! The promotion to undo is found by a path-limited, first-parent walk of ENV's overlay file
//! (merge commits compare against parent 1, so a merged PR counts as one change) that looks at
//! the *image values* each commit left behind, not at trailers alone: that also finds promotions
//! that were squash-merged or written by hand. The revert is then an ordinary byte-minimal edit of
//! today's overlay back to the images of the target, committed without a working tree, pushed or
//! opened as a pull request exactly like a promotion.

use serde::Serialize;

use promote_core::Person;
use promote_core::config::Mode;
use promote_core::image::{EnvVersion, ImageMap};
use promote_core::overlay::{Overlay, PlanOptions, Target};
use promote_core::trailers::{self, Trailers};
use promote_git::CommitId;

use crate::policy::{self, PolicyVerdict};
use crate::promote::{Draft, Prepared, finish};
use crate::render::Renderer;
use crate::{Interaction, PromoteError, Session};
use promote_policy::sdk;

/// How far back a revert looks: overlay changes considered, and commits walked to find them.
pub const MAX_CHANGES: usize = 200;
pub const MAX_WALK: usize = 100_000;

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

#[derive(Debug, Clone)]
pub struct RevertRequest {
    pub env: String,
    pub target: RollbackTarget,
    pub mode: Option<Mode>,
    pub message: Option<String>,
    pub author: Option<Person>,
}

/// One change of the overlay, as the walk saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverlayChange {
    pub commit: String,
    pub subject: String,
    /// The version after this commit (`mixed`, or null when no tag is pinned).
    pub version: Option<String>,
    pub promoted_by: Option<String>,
    #[serde(skip)]
    pub(crate) id: Option<CommitId>,
    #[serde(skip)]
    pub(crate) images: ImageMap,
}

/// The newest `limit` overlay changes of ENV (at most [`MAX_CHANGES`], walking at most
/// [`MAX_WALK`] commits).
pub fn overlay_history(
    session: &Session,
    env_name: &str,
    limit: usize,
) -> Result<Vec<OverlayChange>, PromoteError> {
    overlay_changes(session, env_name)?
        .take(limit.min(MAX_CHANGES))
        .collect()
}

/// The overlay changes of ENV, newest first, read lazily: the revert lookup stops at the
/// change it needs instead of reading [`MAX_CHANGES`] of them from a deep history.
fn overlay_changes<'s>(
    session: &'s Session,
    env_name: &str,
) -> Result<impl Iterator<Item = Result<OverlayChange, PromoteError>> + 's, PromoteError> {
    let env = session.config.env(env_name)?;
    let file = session.overlay_at(env, session.base)?.file().to_owned();
    let log = session.repo.path_log(session.base, &file, MAX_WALK);
    Ok(log.map(move |c| {
        let c = c?;
        let images = match session.repo.read_file(c.id, &file)? {
            Some(bytes) => Overlay::parse(&file, &String::from_utf8_lossy(&bytes))
                .map(|o| o.image_map())
                .unwrap_or_default(),
            None => ImageMap::new(),
        };
        let t = Trailers::parse(&c.message);
        Ok(OverlayChange {
            commit: c.id.to_string(),
            subject: c.message.lines().next().unwrap_or("").to_owned(),
            version: EnvVersion::of(images.values()).as_str().map(str::to_owned),
            promoted_by: t.get(trailers::PROMOTED_BY).map(str::to_owned),
            id: Some(c.id),
            images,
        })
    }))
}

/// Plan the revert. Writes nothing; [`crate::promote::apply`] lands the plan.
pub fn prepare_revert(
    session: &Session,
    req: &RevertRequest,
    renderer: &Renderer,
    progress: &dyn Interaction,
) -> Result<Prepared, PromoteError> {
    let env = session.config.env(&req.env)?.clone();
    let current = session.overlay_at(&env, session.base)?;
    let running = EnvVersion::of(current.image_map().values());
    progress.step(&format!("walking the history of {}", current.file()));
    let mut changes = overlay_changes(session, &env.name)?.take(MAX_CHANGES);
    let file = current.file().to_owned();

    // (the commit whose images we go back to, the promotion being undone)
    let (target_at, undone): (CommitId, Option<OverlayChange>) = match &req.target {
        RollbackTarget::Previous => {
            let running_s = running.as_str().map(str::to_owned);
            // The oldest commit of the newest run of changes that already showed today's images
            // is the promotion that brought them; its parent holds what ran before.
            let today = current.image_map();
            let mut promotion = None;
            for change in changes.by_ref() {
                let change = change?;
                if change.images == today {
                    promotion = Some(change);
                } else {
                    break;
                }
            }
            let promotion = promotion.ok_or_else(|| {
                PromoteError::NoRevertTarget(format!(
                    "found no change of {file} that brought {}",
                    running
                ))
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
                    running_s.as_deref().unwrap_or("?")
                ))
            })?;
            (parent, Some(promotion))
        }
        RollbackTarget::Version(v) => {
            let mut walked: Vec<OverlayChange> = Vec::new();
            let mut hit = None;
            for change in changes.by_ref() {
                let change = change?;
                if change.version.as_deref() == Some(v.as_str()) {
                    hit = change.id;
                    break;
                }
                walked.push(change);
            }
            let Some(hit) = hit else {
                let seen: Vec<String> = walked.iter().filter_map(|c| c.version.clone()).fold(
                    Vec::new(),
                    |mut acc, v| {
                        if !acc.contains(&v) {
                            acc.push(v);
                        }
                        acc
                    },
                );
                return Err(PromoteError::NoRevertTarget(format!(
                    "--to {v}: {} never ran {v} in the last {} changes of {file} (it ran: {})",
                    env.name,
                    walked.len(),
                    seen.join(", ")
                )));
            };
            // The newest change is what is being undone (the hit itself when it is the newest).
            let newest = match walked.into_iter().next() {
                Some(c) => c,
                None => overlay_changes(session, &env.name)?
                    .next()
                    .transpose()?
                    .expect("the hit is a change"),
            };
            (hit, Some(newest))
        }
        RollbackTarget::Revision(rev) => (session.repo.resolve(rev)?, changes.next().transpose()?),
    };
    let target_text = session.repo.read_file(target_at, &file)?.ok_or_else(|| {
        PromoteError::NoRevertTarget(format!("{file} does not exist at {}", target_at.short()))
    })?;
    let target_overlay = Overlay::parse(
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
    let undone_commit = undone.map(|u| (u.commit.clone(), u.subject.clone()));
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
    crate::promote::check_override(session, &env)?;
    let running_version = running.as_str().unwrap_or("").to_owned();
    let gate = |d: &Draft<'_>, author: &Person| -> Result<Option<PolicyVerdict>, PromoteError> {
        if d.env.rollback_policies.is_empty() && session.policy.one_offs.is_empty() {
            return Ok(None);
        }
        let policies = policy::load(session, &d.env.rollback_policies, progress)?;
        let actor = policy::actor(session, author);
        let override_ = session
            .policy
            .override_reason
            .as_ref()
            .map(|r| sdk::Override {
                by: actor.clone(),
                reason: r.clone(),
            });
        let to_version = d.version.clone().unwrap_or_else(|| "mixed".into());
        let op = sdk::Operation::Rollback(sdk::Rollback {
            environment: d.env.name.clone(),
            strategy: sdk::RollbackStrategy::Revert,
            from: sdk::RollbackFrom {
                version: running_version.clone(),
                revision: Some(session.base.to_string()),
                deployed_at: None,
            },
            to: revert_target(session, &d.env.name, &to_version, target_at),
            requested_by: actor,
            override_,
        });
        let promoted = d
            .changes
            .iter()
            .map(|c| (c.name.clone(), c.to.clone()))
            .collect();
        policy::evaluate(
            session,
            d.env,
            &policies,
            op,
            author,
            &to_version,
            &promoted,
            progress,
        )
        .map(Some)
    };
    // The revert target's images must still exist: a registry's retention may have deleted them.
    let plan = finish(
        session,
        draft,
        &[],
        renderer,
        progress,
        &gate,
        &|d, author, verdict, images| {
            let v = d.version.as_deref().unwrap_or("mixed");
            let subject = match &undone_commit {
                Some((sha, subj)) if req.target == RollbackTarget::Previous => format!(
                    "rollback {} to {v} (revert {} \"{subj}\")",
                    d.env.name,
                    &sha[..7]
                ),
                _ => format!("rollback {} to {v}", d.env.name),
            };
            let mut body = Vec::new();
            if let Some(m) = &req.message {
                body.push(m.clone());
            }
            let width = d.changes.iter().map(|c| c.name.len()).max().unwrap_or(0);
            let mut table = format!("{}:\n", d.overlay.file());
            for c in &d.changes {
                table.push_str(&format!("  {:width$}  {} -> {}\n", c.name, c.from, c.to));
            }
            body.push(table);
            let mut t = Trailers::default();
            t.push(trailers::PROMOTED_BY, author.to_string());
            t.push(trailers::ENVIRONMENT, &d.env.name);
            t.push(trailers::VERSION, v);
            t.push(trailers::ROLLBACK, "revert");
            if let Some((sha, _)) = &undone_commit {
                t.push(trailers::REVERTS, sha.clone());
            }
            match verdict {
                Some(v) => v.add_trailers(&mut t),
                None => {
                    t.push(trailers::POLICY_DECISION, "allow (no policies configured)");
                }
            }
            images.add_trailers(&mut t);
            trailers::message(&subject, &body, &t)
        },
    )?;
    Ok(Prepared::Ready(Box::new(plan)))
}

/// The revert's target as the policies see it: where Argo CD's history shows that version ran
/// (the newest such entry), its id, time and recorded health; else the git commit alone.
fn revert_target(session: &Session, env: &str, version: &str, at: CommitId) -> sdk::RollbackTo {
    let at = at.to_string();
    let entry = session.policy.argocd_facts.get(env).and_then(|f| {
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
